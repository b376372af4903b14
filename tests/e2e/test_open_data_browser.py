"""« Données ouvertes » in a real browser (issue 16 §3; CCTP CPAM 5-5-6-1: « ce portail web intègre l'ensemble
des informations inhérentes aux IRVE (localisation, état de fonctionnement et disponibilité…) »): the admin
publishes one point on a phone-sized screen, a wrong e-mail is refused in French, the public URL is shown and
serves the point under its AFIREV identifier, and axe-core finds no serious or critical violation."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.test_portal_browser import ADMIN, assert_accessible, assert_fits_the_screen, log_in, open_menu

pytestmark = pytest.mark.browser


async def test_the_admin_publishes_a_point_and_sees_its_public_url(new_page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    width = 390
    page = await new_page(width, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    await log_in(page, ADMIN)
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}"))
    await (await open_menu(page)).get_by_role("link", name="Données ouvertes", exact=True).tap()
    await expect(page.get_by_role("heading", level=1, name="Données ouvertes des bornes")).to_be_visible()
    await assert_fits_the_screen(page, width, "the open-data page")
    await assert_accessible(page, "the open-data page")

    form = page.locator("main form")
    await form.get_by_label("Publier les données ouvertes des points choisis ci-dessous").check()
    await form.get_by_label("Courriel de l'opérateur").fill("irve@")
    await form.get_by_label("Code opérateur AFIREV").fill("A68")
    await form.locator("input[name^='public-']").first.check()
    await form.get_by_role("button", name="Enregistrer").tap()
    await expect(page.get_by_text("Courriel de l'opérateur : adresse invalide (ex. contact@exemple.fr).").first).to_be_visible()
    await assert_accessible(page, "the open-data page with an error")

    form = page.locator("main form")
    await form.get_by_label("Courriel de l'opérateur").fill("irve@cpam72.fr")
    await form.get_by_role("button", name="Enregistrer").tap()
    await expect(page.get_by_role("status")).to_contain_text("Données ouvertes publiées : 1 point(s) de charge.")
    link = page.get_by_role("link", name=f"/open-data/{cpam}/irve-statique.csv")
    await expect(link).to_be_visible()
    await expect(page.get_by_text("Aucune anomalie.")).to_be_visible()
    await assert_accessible(page, "the open-data page once published")
    answer = await page.request.get(live_server.url(f"/open-data/{cpam}/irve-statique.csv"))
    assert answer.status == 200 and answer.headers["cache-control"] == "public, max-age=300"
    assert "FRA68E72181P" in await answer.text()
