"""The supervision pages in a real browser on a phone (CCTP CPAM 5-5-4: « connaitre en temps
réel l'état des points de charge », « enregistrement des courbes de charge »; 5-5-5
« estimation du temps de charge »): reached from the menu, fitting the screen, and axe-core
finds no serious or critical violation (RGAA / WCAG 2.1 AA). Data: the demo stations."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.test_portal_browser import ADMIN, assert_accessible, assert_fits_the_screen, log_in, open_menu

pytestmark = pytest.mark.browser
WIDTH = 390


async def test_supervision_pages_on_a_phone(new_page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    page = await new_page(WIDTH, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    await log_in(page, ADMIN)
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}"))
    await (await open_menu(page)).get_by_role("link", name="Bornes", exact=True).tap()
    await expect(page.get_by_role("heading", level=1, name="Bornes et points de charge")).to_be_visible()
    await expect(page.get_by_role("link", name="Borne CPAM-LM-01")).to_be_visible()
    await expect(page.locator("#borne-CPAM-LM-01")).to_contain_text("Hors ligne")  # the demo stations are not connected
    await assert_fits_the_screen(page, WIDTH, "the station list")
    await assert_accessible(page, "the station list")
    # Filtering by state (HTMX swaps the results; the URL keeps the filter).
    await page.get_by_label("État du point de charge").select_option("disponible")
    await page.get_by_role("button", name="Filtrer").tap()
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}/bornes?site=&etat=disponible"))

    await page.goto(f"/t/{cpam}/bornes/CPAM-LM-01")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Borne CPAM-LM-01")
    await expect(page.get_by_text("Schneider Electric")).to_be_visible()
    await assert_fits_the_screen(page, WIDTH, "the station detail")
    await assert_accessible(page, "the station detail")

    await (await open_menu(page)).get_by_role("link", name="Recharges", exact=True).tap()
    await expect(page.get_by_role("heading", level=1, name="Recharges")).to_be_visible()
    await assert_accessible(page, "the transaction list")
    await page.locator("#resultats tbody th a").first.tap()
    chart = page.get_by_role("img", name="Courbe de charge : puissance (kW) et énergie délivrée (kWh) au cours du temps")
    await expect(chart).to_be_visible()
    await page.get_by_text("Données de la courbe (tableau)").tap()
    await expect(page.locator("table.curve-data tbody tr").first).to_be_visible()
    await assert_fits_the_screen(page, WIDTH, "the transaction detail")
    await assert_accessible(page, "the transaction detail with its charge curve")

    for label, heading in (("Alertes", "Alertes"), ("Statistiques", "Statistiques d'utilisation des points de charge")):
        await (await open_menu(page)).get_by_role("link", name=label, exact=True).tap()
        await expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
        await expect((await open_menu(page)).get_by_role("link", name=label, exact=True)).to_have_attribute(
            "aria-current", "page")
        await assert_accessible(page, f"the {label} page")

    await page.goto(f"/t/{cpam}/agent?km=100")
    await expect(page.get_by_role("heading", level=2, name="Bornes de recharge")).to_be_visible()
    # 100 km at 17 kWh/100 km = 17 kWh, at 22 kW x 90 %: 0.86 h.
    await expect(page.locator("td.estimate").first).to_have_text("51 min")
    await assert_fits_the_screen(page, WIDTH, "the agent view")
    await assert_accessible(page, "the agent view with the charge time estimate")
