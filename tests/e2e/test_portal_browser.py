"""The portal in a real browser: login, the CPAM admin's site flow, phone size, accessibility.

Every page visited is checked with axe-core; a violation of impact "serious" or
"critical" fails the test (RGAA / WCAG 2.1 AA, DESIGN.md "Actors and portals").
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from tenants.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

ADMIN = "admin@cpam72.demo"
BLOCKING_IMPACTS = {"serious", "critical"}
_axe = Axe()


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    target {node['target']}: {node.get('failureSummary', '').strip()}")
    return "\n".join(lines)


async def assert_accessible(page: Any, what: str) -> None:
    """axe-core on the page as it is now: no serious or critical violation."""
    results = await _axe.run(page)
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"accessibility violations on {what} ({page.url}):\n{_describe(blocking)}"


def field(page: Any, label: str) -> Any:
    """The input labelled exactly ``label`` (a required field's label ends with an asterisk)."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}(\s*\*)?$"))


async def open_menu(page: Any) -> Any:
    """The main menu, unfolded first on a phone (« Menu », a <details> that needs no JavaScript)."""
    nav = page.get_by_role("navigation", name="Navigation principale")
    summary = nav.locator("summary")
    if await summary.is_visible() and await nav.locator("details").get_attribute("open") is None:
        await summary.click()
    return nav


async def log_in(page: Any, email: str, password: str = DEMO_PASSWORD) -> None:
    await page.goto("/connexion")
    await expect(page.get_by_role("heading", level=1, name="Connexion")).to_be_visible()
    await field(page, "Adresse électronique").fill(email)
    await field(page, "Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()


async def test_failed_login_shows_the_french_error(page: Any, live_server: Any) -> None:
    await page.goto("/connexion")
    await assert_accessible(page, "the login page")

    await log_in(page, "visu@cpam72.demo", "pas-le-bon-mot-de-passe")

    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text("Le formulaire contient 1 erreur")
    await expect(summary.get_by_role("link", name="Adresse électronique ou mot de passe incorrect.")).to_be_visible()
    email = field(page, "Adresse électronique")
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(email).to_have_value("visu@cpam72.demo")  # kept, the password is not
    await expect(field(page, "Mot de passe")).to_have_value("")
    await assert_accessible(page, "the login page with its error")

    # Still anonymous: a tenant page sends back to the login form.
    await page.goto(f"/t/{live_server.tenant_ids['cpam']}")
    await expect(page).to_have_url(re.compile(r"/connexion\?suivant="))
    await expect(page.get_by_role("heading", level=1, name="Connexion")).to_be_visible()


async def test_admin_logs_in_and_lands_on_the_tenant_home(page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    await log_in(page, ADMIN)
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("CPAM de la Sarthe")
    await expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    await assert_accessible(page, "the tenant home")


async def test_admin_creates_a_site_through_the_form_and_sees_it_listed(page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    site_name = f"Parking visiteurs {uuid.uuid4().hex[:6]}"
    await log_in(page, ADMIN)
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}"))
    nav = page.get_by_role("navigation", name="Navigation principale")

    await nav.get_by_role("link", name="Utilisateurs", exact=True).click()
    await expect(page.get_by_role("heading", level=1, name="Utilisateurs")).to_be_visible()
    await expect(page.get_by_role("cell", name=ADMIN, exact=True)).to_be_visible()
    await assert_accessible(page, "the users page")

    await nav.get_by_role("link", name="Sites", exact=True).click()
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}/sites"))
    await expect(page.get_by_role("heading", level=1, name="Sites")).to_be_visible()
    await expect(page.get_by_role("link", name="Siège — parking des véhicules de service")).to_be_visible()
    await expect(page.get_by_role("link", name=site_name)).to_have_count(0)
    await assert_accessible(page, "the sites list")

    await page.get_by_role("link", name="Ajouter un site").click()
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}/sites/nouveau"))
    await expect(page.get_by_role("heading", level=1, name="Nouveau site")).to_be_visible()
    await assert_accessible(page, "the site form")

    # The usual slip first: the postal code typed where the INSEE code is asked.
    await field(page, "Nom du site").fill(site_name)
    await field(page, "Adresse").fill("12 rue de la Paix")
    await field(page, "Code postal").fill("72000")
    await field(page, "Commune").fill("Le Mans")
    await field(page, "Code commune INSEE").fill("72000")
    await page.get_by_role("button", name="Créer le site").click()
    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text("Le formulaire contient 1 erreur")
    await expect(summary).to_contain_text("Code commune INSEE inconnu")
    insee = field(page, "Code commune INSEE")
    await expect(insee).to_have_attribute("aria-invalid", "true")
    await expect(field(page, "Nom du site")).to_have_value(site_name)  # what was typed is kept
    await assert_accessible(page, "the site form with its error")

    # CCTP CPAM 5-5-1: the INSEE code enters the charging identifiers.
    await insee.fill("72181")
    await page.get_by_role("button", name="Créer le site").click()
    await expect(page).to_have_url(re.compile(rf"/t/{cpam}/sites/[0-9a-f-]{{36}}$"))
    await expect(page.get_by_role("heading", level=1, name=site_name)).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text(f"Site « {site_name} » créé.")
    facts = page.locator("dl.facts")
    await expect(facts).to_contain_text("12 rue de la Paix")
    await expect(facts).to_contain_text("72181")
    # The head office holds building 0001 of Le Mans: the new site gets the next free code.
    await expect(facts).to_contain_text("0002")
    await assert_accessible(page, "the site detail")

    await nav.get_by_role("link", name="Sites", exact=True).click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=site_name))
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("12 rue de la Paix, 72000 Le Mans")
    await expect(row).to_contain_text("72181")

    await nav.get_by_role("link", name="Journal", exact=True).click()
    await expect(page.get_by_role("heading", level=1, name="Journal des modifications")).to_be_visible()
    created = page.locator("table.audit > tbody > tr").filter(has_text=site_name)
    await expect(created).to_have_count(1)
    await expect(created).to_contain_text(ADMIN)
    await assert_accessible(page, "the audit log")


async def assert_fits_the_screen(page: Any, width: int, what: str) -> None:
    """No sideways scrolling of the page itself (a wide table scrolls inside its own wrapper)."""
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{what} is {scroll_width} px wide on a {width} px screen"


async def test_phone_sized_navigation_is_usable(new_page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    width = 390
    page = await new_page(width, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    await log_in(page, ADMIN)
    await expect(page).to_have_url(live_server.url(f"/t/{cpam}"))
    await page.goto(f"/t/{cpam}/sites")
    await expect(page.get_by_role("heading", level=1, name="Sites")).to_be_visible()
    await assert_fits_the_screen(page, width, "the sites page")

    nav = page.get_by_role("navigation", name="Navigation principale")
    # Folded on a phone: only « Menu » shows, and the header stays under a fifth of the screen.
    await expect(nav.get_by_role("link", name="Utilisateurs", exact=True)).to_be_hidden()
    header = await page.locator("header.site-header").bounding_box()
    assert header is not None and header["height"] <= 844 / 5, f"the header is {header} on a 390 × 844 screen"
    nav = await open_menu(page)
    links = nav.get_by_role("link")
    labels = [label.strip() for label in await links.all_inner_texts()]
    assert {"Accueil", "Sites", "Utilisateurs", "Journal"} <= set(labels), labels
    for link in await links.all():
        await link.scroll_into_view_if_needed()
        box = await link.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{await link.inner_text()} is off screen: {box}"
        # WCAG 2.5.8: a target at least 24 px high.
        assert box["height"] >= 24, f"{await link.inner_text()} is a {box['height']} px high target"
    await expect(page.get_by_role("button", name="Se déconnecter")).to_be_in_viewport()
    await assert_accessible(page, "the sites list on a phone")
    await page.screenshot(path="/tmp/e2e-sites.png", full_page=True)

    # Every entry of the menu works with a finger and gives a page that fits the screen.
    for label, path, heading in [
        ("Utilisateurs", "/utilisateurs", "Utilisateurs"),
        ("Journal", "/journal", "Journal des modifications"),
        ("Accueil", "", "CPAM de la Sarthe"),
    ]:
        await (await open_menu(page)).get_by_role("link", name=label, exact=True).tap()
        await expect(page).to_have_url(live_server.url(f"/t/{cpam}{path}"))
        await expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
        await expect((await open_menu(page)).get_by_role("link", name=label, exact=True)).to_have_attribute(
            "aria-current", "page")
        await assert_fits_the_screen(page, width, f"the {label} page")
        await assert_accessible(page, f"the {label} page on a phone")


async def test_the_api_reference_renders_from_our_own_origin_under_the_csp(page: Any, live_server: Any) -> None:
    """Swagger UI is vendored (app/apidocs.py): it renders with no request leaving our origin
    and nothing blocked by the Content-Security-Policy (checked by the page fixture)."""
    foreign: list[str] = []
    page.on("request", lambda request: foreign.append(request.url)
            if not request.url.startswith(live_server.base_url) and not request.url.startswith("data:") else None)
    await page.goto("/schema")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Centrale API")
    await expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert foreign == []
