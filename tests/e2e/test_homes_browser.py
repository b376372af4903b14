"""Every role's home in a real browser, on a desktop (1280 px) and a phone (390 × 844), with
axe-core on every page visited (issue 12 §1 and §2; RGAA / WCAG 2.1 AA). Data: the demo's
(``centrale demo load``): five charge points « Hors ligne » at the CPAM de la Sarthe, one charger
at Villeurbanne, each cut since last night with its alert open, and the agent's three sessions.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.test_portal_browser import ADMIN, assert_accessible, assert_fits_the_screen, log_in, open_menu

pytestmark = pytest.mark.browser

SIZES = [pytest.param((1280, 900), id="desktop"), pytest.param((390, 844), id="phone")]


async def sized_page(new_page: Any, size: tuple[int, int]) -> Any:
    width, height = size
    if width < 600:
        return await new_page(width, height, is_mobile=True, has_touch=True, device_scale_factor=2)
    return await new_page(width, height)


def figure(page: Any, card: str, name: str) -> Any:
    return page.locator(f'[data-card="{card}"] [data-figure="{name}"] .value')


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("email", [ADMIN, "visu@cpam72.demo"])
async def test_a_beneficiary_home_shows_what_needs_attention(new_page: Any, live_server: Any, size: Any, email: str) -> None:
    cpam = live_server.tenant_ids["cpam"]
    page = await sized_page(new_page, size)
    await log_in(page, email)
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}"))
    # CCTP CPAM 5-5-4: the states of the charge points, each a link to the filtered list.
    for state, count in (("disponible", "0"), ("en_charge", "0"), ("hors_service", "0"), ("hors_ligne", "5")):
        await expect(figure(page, "stations", state)).to_have_text(count)
    await expect(figure(page, "alerts", "alertes ouvertes")).to_have_text("3")
    await expect(figure(page, "sessions", "recharge commencée")).to_have_text("0")
    await expect(figure(page, "badges", "badges pas encore chargés sur toutes les bornes")).to_have_text("2")
    await expect(page.locator('[data-card="alerts"]')).to_contain_text("À traiter")
    await assert_fits_the_screen(page, size[0], "the tenant home")
    await assert_accessible(page, f"the tenant home of {email}")

    await page.locator('[data-card="stations"] [data-figure="hors_ligne"] a').click()
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}/bornes?etat=hors_ligne"))
    await expect(page.get_by_label("État du point de charge")).to_have_value("hors_ligne")
    await expect(page.locator("#borne-CPAM-LM-01")).to_contain_text("Hors ligne")
    # The state column stays in view next to the point's name, even with the table scrolled to its end.
    state_cell = page.locator("#borne-CPAM-LM-01 .col-state")
    await state_cell.scroll_into_view_if_needed()
    await page.locator("#borne-CPAM-LM-01").locator("xpath=ancestor::div[contains(@class, 'table-wrap')]").evaluate(
        "wrap => { wrap.scrollLeft = wrap.scrollWidth; }")
    box = await state_cell.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= size[0], box
    await assert_accessible(page, "the station list filtered by state")


def _luminance(rgb: tuple[int, ...]) -> float:
    def channel(c: int) -> float:
        c8 = c / 255
        return c8 / 12.92 if c8 <= 0.03928 else ((c8 + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(float(v)) for v in re.findall(r"[\d.]+", css)[:3])


async def test_the_four_states_have_distinct_colours_a_label_and_an_icon(new_page: Any, live_server: Any) -> None:
    """RGAA 3.1: information never by colour alone; WCAG 1.4.3: text contrast at least 4.5:1."""
    page = await new_page()
    await log_in(page, ADMIN)
    colours = {}
    for state, label in (("disponible", "Disponible"), ("en_charge", "En charge"), ("hors_service", "Hors service"),
                         ("hors_ligne", "Hors ligne")):
        badge = page.locator(f'[data-card="stations"] .badge[data-state="{state}"]')
        await expect(badge).to_have_text(label)
        style = await badge.evaluate("""b => { const s = getComputedStyle(b), i = getComputedStyle(b, '::before');
            return {bg: s.backgroundColor, fg: s.color, icon: i.content, weight: s.fontWeight}; }""")
        assert style["icon"] not in ("none", "normal", '""'), f"{label} has no icon"
        bg, fg = _luminance(_rgb(style["bg"])), _luminance(_rgb(style["fg"]))
        ratio = (max(bg, fg) + 0.05) / (min(bg, fg) + 0.05)
        assert ratio >= 4.5, f"{label}: contrast {ratio:.2f}"
        colours[state] = style
    assert len({s["bg"] for s in colours.values()}) == 4, colours
    # « Hors service » stands out: the darkest background, bold.
    assert min(colours, key=lambda s: _luminance(_rgb(colours[s]["bg"]))) == "hors_service"
    assert int(colours["hors_service"]["weight"]) >= 700


async def test_the_phone_menu_folds_behind_a_button_and_the_header_fits(new_page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    page = await new_page(390, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    await log_in(page, ADMIN)
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}"))
    header = await page.locator("header.site-header").bounding_box()
    assert header is not None and header["height"] <= 844 / 5, header
    nav = page.get_by_role("navigation", name="Navigation principale")
    await expect(nav.get_by_role("link", name="Bornes", exact=True)).to_be_hidden()
    await assert_accessible(page, "the home with the menu folded")
    # Keyboard only: the button is reached with Tab and opens with Enter (no JavaScript involved).
    summary = nav.locator("summary")
    await expect(summary).to_have_text(re.compile("Menu"))
    await summary.focus()
    await page.keyboard.press("Enter")
    await expect(nav.get_by_role("link", name="Bornes", exact=True)).to_be_visible()
    for group in ("Supervision", "Badges et réservations", "Administration"):
        await expect(nav.get_by_role("list", name=group)).to_be_visible()
    await expect(nav.get_by_role("link", name="Accueil", exact=True)).to_have_attribute("aria-current", "page")
    await assert_accessible(page, "the home with the menu open")
    await nav.get_by_role("link", name="Alertes", exact=True).tap()
    await expect(page.get_by_role("heading", level=1, name="Alertes")).to_be_visible()
    nav = await open_menu(page)
    await expect(nav.get_by_role("link", name="Alertes", exact=True)).to_have_attribute("aria-current", "page")
    await expect(nav.locator('[aria-current="page"]')).to_have_count(1)


async def test_the_desktop_menu_is_grouped_and_unfolded(page: Any, live_server: Any) -> None:
    await log_in(page, ADMIN)
    nav = page.get_by_role("navigation", name="Navigation principale")
    await expect(nav.locator("summary")).to_be_hidden()
    for group, entry in (("Supervision", "Bornes"), ("Badges et réservations", "Badges"), ("Administration", "Journal")):
        await expect(nav.get_by_role("list", name=group).get_by_role("link", name=entry, exact=True)).to_be_visible()
    header = await page.locator("header.site-header").bounding_box()
    assert header is not None and header["height"] <= 180, header


@pytest.mark.parametrize("size", SIZES)
async def test_the_operator_lands_on_one_queue_with_alerts_of_two_tenants(new_page: Any, live_server: Any, size: Any) -> None:
    page = await sized_page(new_page, size)
    await log_in(page, "technicien@titulaire.demo")
    await expect(page).to_have_url(live_server.url("/operateur"))
    await expect(page.get_by_role("heading", level=1, name="File de travail")).to_be_visible()
    alerts = page.locator('tr[data-kind="Alerte"]')
    await expect(alerts).to_have_count(4)
    await expect(alerts.filter(has_text="CPAM de la Sarthe")).to_have_count(3)
    await expect(alerts.filter(has_text="Commune de Villeurbanne")).to_have_count(1)
    # Sorted by urgency: the alerts come before the badges to load (a ticket due within the day may
    # come first: the tickets' lines are tested in tests/e2e/test_incidents_browser.py).
    await expect(page.locator('tbody tr:not([data-kind="Ticket"])').first).to_have_attribute("data-kind", "Alerte")
    await expect(page.locator('tr[data-kind="Badges"]').first).to_contain_text("à charger sur les bornes")
    await assert_fits_the_screen(page, size[0], "the operator's queue")
    await assert_accessible(page, "the operator's queue")
    # No tenant switch: the line leads straight to the charger of its tenant.
    await page.locator('tr[data-kind="Alerte"]').filter(has_text="VLB-HDV-01").get_by_role("link").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Borne VLB-HDV-01")
    await assert_accessible(page, "a charger reached from the queue")


@pytest.mark.parametrize("size", SIZES)
async def test_the_agent_sees_only_its_own_sessions(new_page: Any, live_server: Any, size: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    page = await sized_page(new_page, size)
    await log_in(page, "agent@cpam72.demo")
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}/agent"))
    sessions = page.locator("table.my-sessions tbody tr")
    await expect(sessions).to_have_count(3)  # its badge's; the service vehicle's six are not shown
    await expect(page.locator("ul.my-badges")).to_contain_text("04B1C2D3E4F5A6")
    await expect(page.get_by_text("04A2B3C4D5E6F7")).to_have_count(0)
    await assert_fits_the_screen(page, size[0], "the agent home")
    await assert_accessible(page, "the agent home")
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Télécharger mon relevé (CSV)").click()
    download = await info.value
    content = Path(await download.path()).read_bytes().decode("utf-8-sig")  # noqa: ASYNC240 - a small local file
    rows = list(csv.reader(io.StringIO(content), delimiter=";"))
    assert len(rows) == 4 and {r[5] for r in rows[1:]} == {"04B1C2D3E4F5A6"}, rows


@pytest.mark.parametrize("size", SIZES)
async def test_the_coordinator_home_ranks_its_beneficiaries(new_page: Any, live_server: Any, size: Any) -> None:
    page = await sized_page(new_page, size)
    await log_in(page, "coordination@canut.demo")
    await expect(page).to_have_url(live_server.url("/c/CANUT"))
    row = page.locator("table.beneficiaries tbody tr")
    await expect(row).to_have_count(1)
    await expect(row.locator('[data-column="stations"]')).to_have_text("1")
    await expect(row.locator('[data-column="alerts"]')).to_have_text("1")
    await expect(row.locator('[data-column="availability"]')).to_have_text(re.compile(r"^\d+,\d %$"))
    chart = page.get_by_role("img", name="Recharges par jour sur les 30 derniers jours, tous bénéficiaires")
    await expect(chart).to_be_visible()
    await expect(page.locator('[data-card="activity"]')).to_contain_text("3 recharges en 30 jours")
    await assert_fits_the_screen(page, size[0], "the coordinator home")
    await assert_accessible(page, "the coordinator home")
    await page.get_by_role("link", name=re.compile("^Alertes ouvertes")).click()
    await expect(page.locator('th[aria-sort="descending"]')).to_contain_text("Alertes ouvertes")
    await page.get_by_role("searchbox", name="Rechercher un bénéficiaire").fill("introuvable")
    await page.get_by_role("button", name="Rechercher").click()
    await expect(page.get_by_text("Aucun bénéficiaire ne correspond à cette recherche.")).to_be_visible()
    await assert_accessible(page, "the coordinator home after a search")


@pytest.mark.parametrize("size", SIZES)
async def test_an_unknown_page_is_a_french_404_in_the_portal(new_page: Any, live_server: Any, size: Any) -> None:
    page = await sized_page(new_page, size)
    await log_in(page, ADMIN)
    response = await page.goto("/ceci-n-existe-pas")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", level=1, name="Page introuvable")).to_be_visible()
    await expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    await expect(page.get_by_text("Not Found")).to_have_count(0)
    await assert_accessible(page, "the 404 page")
    await page.get_by_role("link", name="Retour à l'accueil").click()
    await expect(page).to_have_url(live_server.url(f"/t/{live_server.tenant_ids['cpam']}"))
