"""The « Pilotage énergétique » page in a real browser (CCTP CPAM 5-5-4: « pilotage,
paramétrage et optimisation énergétique »): an administrator sets a site's power budget
with the keyboard-reachable form, on a phone-sized screen, and axe-core finds no serious
or critical violation (RGAA / WCAG 2.1 AA)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.test_portal_browser import ADMIN, assert_accessible, assert_fits_the_screen, log_in, open_menu

pytestmark = pytest.mark.browser


async def test_an_administrator_sets_a_power_budget_on_a_phone(new_page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    width = 390
    page = await new_page(width, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    await log_in(page, ADMIN)
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}"))
    await (await open_menu(page)).get_by_role("link", name="Pilotage énergétique", exact=True).tap()
    await expect(page.get_by_role("heading", level=1, name="Pilotage énergétique")).to_be_visible()
    await assert_fits_the_screen(page, width, "the pilotage page")
    await assert_accessible(page, "the pilotage page")

    settings = page.locator("main details").first
    await settings.locator("summary").tap()
    await settings.get_by_label(re.compile(r"^Puissance disponible pour la recharge \(kW\)")).fill("-4")
    await settings.get_by_role("button", name="Enregistrer").tap()
    await expect(page.get_by_text("La puissance disponible doit être strictement positive (en kW).").first).to_be_visible()
    await assert_accessible(page, "the pilotage page with an error")

    settings = page.locator("main details").first
    await settings.get_by_label(re.compile(r"^Puissance disponible pour la recharge \(kW\)")).fill("36,5")
    await settings.get_by_role("button", name="Enregistrer").tap()
    await expect(page.get_by_role("status")).to_contain_text("Puissance disponible enregistrée : 36,5 kW.")
    await expect(page.get_by_text("36,5 kW", exact=True).first).to_be_visible()
    await assert_fits_the_screen(page, width, "the pilotage page with a budget")
    await assert_accessible(page, "the pilotage page with a budget")
