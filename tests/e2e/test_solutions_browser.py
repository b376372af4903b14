"""The catalog solutions' pages in a real browser (issue 14 §1, CCTP CANUT 5.1.2, CPAM 8-1-2-2): a coordinator
records a proposed solution (a refusal first), approves it and opens its withdrawal, whose earliest date of
effect follows the notice date (HTMX); axe-core checks each page. On a server of its own (it adds a solution)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import LiveServer, serve_demo
from tests.e2e.test_portal_browser import assert_accessible, field, log_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve_demo(tmp_path_factory)


async def test_a_coordinator_proposes_approves_and_opens_a_withdrawal(page: Any, live_server: Any) -> None:
    await log_in(page, "coordination@canut.demo")
    await expect(page).to_have_url(live_server.url("/c/CANUT"))
    await page.goto("/c/CANUT/accords")
    await page.get_by_role("link", name="Solutions du catalogue de 2024_AOO_IOT : proposer, approuver, retirer").click()
    await expect(page.get_by_role("heading", level=1, name="Solutions du catalogue — 2024_AOO_IOT")).to_be_visible()
    await assert_accessible(page, "the solutions page")

    await page.get_by_role("link", name="Enregistrer une solution proposée").click()
    await field(page, "Prix HT (€)").fill("gratuit")
    await page.get_by_role("button", name="Enregistrer la solution").click()
    await expect(page.get_by_role("alert")).to_contain_text("prix HT attendu (nombre positif)")
    await expect(field(page, "Code de la solution")).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page, "the proposal form with its errors")

    await field(page, "Code de la solution").fill("SOL-NAV")
    await field(page, "Nom").fill("Passerelle de navigation")
    await field(page, "Prix HT (€)").fill("1 250,00")
    await page.get_by_label("Caractéristique 1 : nom").fill("Canaux")
    await page.get_by_label("Valeur").first.fill("8")
    await page.get_by_role("button", name="Enregistrer la solution").click()
    await expect(page.get_by_text("Solution « SOL-NAV » enregistrée : proposée, en attente d'approbation.")).to_be_visible()
    await page.get_by_role("button", name="Approuver SOL-NAV").click()
    await expect(page.get_by_role("heading", name="Approuvées, au catalogue (1)")).to_be_visible()
    await assert_accessible(page, "the solutions page with an approved solution")

    await page.get_by_role("link", name="Retirer SOL-NAV").click()
    await expect(page.get_by_role("heading", level=1, name="Retirer SOL-NAV — Passerelle de navigation")).to_be_visible()
    await field(page, "Date à laquelle le titulaire a informé l'acheteur").fill("2026-01-05")
    await expect(page.get_by_text("Au plus tôt le 16/02/2026, 6 semaines après l'information")).to_be_visible()
    await expect(field(page, "Retrait effectif le")).to_have_value("2026-02-16")
    await assert_accessible(page, "the withdrawal form")
