"""The pages issue 15 added last, in a real browser, each for its role: the annual maintenance report (CCTP CPAM
5-4-8), the committee report (CCP TGD IV.6), the coordinator's dashboard (CCTP CAIH 5, 6.1), paid charging (CCTP CPAM
5-5-5-2; the agent's account, 5-5-6-1; the ADVENIR subsidies, 5-7), the acomptes (CCP TGD IX.5) and the tenant's reversibility page (issue 16). Each loads for its role on a
phone-sized screen without sideways scrolling, its main content is reached with the keyboard (Tab from the top lands
on a visible, focused control of the page), and axe-core finds no serious or critical violation (RGAA / WCAG 2.1
AA)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.test_portal_browser import assert_accessible, assert_fits_the_screen, log_in

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 390, 844

#: (who, the page's path with {tenant} or the central's code, its heading)
PAGES = [
    ("admin@cpam72.demo", "/t/{cpam}/rapport-maintenance", "Rapport annuel de maintenance"),
    ("admin@cpam72.demo", "/t/{cpam}/comite-suivi", "Rapport du comité de suivi"),
    ("coordination@caih.demo", "/c/CAIH/tableau-de-bord", "Tableau de bord"),
    ("admin@cpam72.demo", "/t/{cpam}/recharge-payante", "Recharge payante"),
    ("agent@cpam72.demo", "/t/{cpam}/recharge-payante/compte", "Mon compte de recharge"),
    ("technicien@titulaire.demo", "/t/{cpam}/advenir", "Primes ADVENIR"),
    ("admin@cpam72.demo", "/t/{cpam}/acomptes", "Constats d'avancement et acomptes"),
    ("admin@cpam72.demo", "/t/{cpam}/reversibilite", "Réversibilité"),
]


async def _tab_into_main(page: Any, what: str) -> None:
    """Tab from the top of the page until the focus is inside <main> (at most 60 presses: past the skip link and
    the folded menu); the focused element is visible and on screen."""
    for _ in range(60):
        await page.keyboard.press("Tab")
        inside = await page.evaluate(
            "() => !!document.activeElement && !!document.activeElement.closest('main')")
        if inside:
            break
    else:
        raise AssertionError(f"the keyboard never reaches the content of {what}")
    focused = page.locator(":focus")
    await expect(focused).to_be_visible()
    box = await focused.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH + 1, f"{what}: focus at {box}"


@pytest.mark.parametrize(("email", "path", "heading"), PAGES, ids=[p[1].split("/", 3)[-1] for p in PAGES])
async def test_the_page_loads_for_its_role_on_a_phone_with_the_keyboard(new_page: Any, live_server: Any, email: str,
                                                                      path: str, heading: str) -> None:
    page = await new_page(WIDTH, HEIGHT, is_mobile=True, has_touch=True, device_scale_factor=2)
    await log_in(page, email)
    await expect(page.get_by_role("button", name="Se déconnecter")).to_be_attached()
    url = path.format(cpam=live_server.tenant_ids["cpam"])
    response = await page.goto(url)
    assert response is not None and response.status == 200, f"{url}: {response and response.status}"
    await expect(page.get_by_role("heading", level=1).first).to_contain_text(heading)
    await assert_fits_the_screen(page, WIDTH, url)
    await assert_accessible(page, url)
    await _tab_into_main(page, url)


async def test_another_role_does_not_see_the_coordinators_dashboard(new_page: Any, live_server: Any) -> None:
    page = await new_page(WIDTH, HEIGHT, is_mobile=True, has_touch=True)
    await log_in(page, "admin@cpam72.demo")
    await expect(page.get_by_role("button", name="Se déconnecter")).to_be_attached()
    response = await page.goto("/c/CAIH/tableau-de-bord")
    assert response is not None and response.status == 404
