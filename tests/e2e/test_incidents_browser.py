"""An incident from report to closure in a real browser (issue 13, « Tests that must exist »): the CPAM's
administrator reports it on a phone (CCTP CPAM 5-5-6-2 « toute demande … donne lieu à la création d'un
ticket »), the titulaire's operator finds it in its tickets by deadline, acknowledges and resolves it, and the
administrator accepts the resolution (CCTP CAIH 2.1.5: closing needs the beneficiary's consent). axe-core finds
no serious or critical violation on any page state visited; the phone page fits its screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import LiveServer, serve_demo
from tests.e2e.test_portal_browser import (
    ADMIN,
    assert_accessible,
    assert_fits_the_screen,
    field,
    log_in,
    open_menu,
)

pytestmark = pytest.mark.browser
OPERATOR = "technicien@titulaire.demo"
TITLE = "Borne du parking visiteurs sans affichage"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own: its tickets would change the shared demo's lists."""
    yield from serve_demo(tmp_path_factory)


async def test_admin_reports_operator_resolves_admin_accepts(new_page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    width = 390
    admin = await new_page(width, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    await log_in(admin, ADMIN)
    await expect(admin).to_have_url(live_server.url(f"/t/{cpam}"))
    await (await open_menu(admin)).get_by_role("link", name="Incidents", exact=True).tap()
    await expect(admin.get_by_role("heading", level=1, name="Incidents")).to_be_visible()
    await assert_accessible(admin, "the incidents list")
    await admin.get_by_role("link", name="Signaler un incident").first.tap()
    await expect(admin.get_by_role("heading", level=1, name="Signaler un incident")).to_be_visible()
    await assert_fits_the_screen(admin, width, "the new ticket form")
    await assert_accessible(admin, "the new ticket form")

    # Without a title: the error is announced and nothing is created.
    await admin.get_by_role("button", name="Enregistrer l'incident").tap()
    await expect(admin.get_by_role("alert")).to_contain_text("Le titre est obligatoire.")
    await assert_accessible(admin, "the new ticket form with an error")

    await field(admin, "Objet").fill(TITLE)
    await field(admin, "Description").fill("Écran noir, la borne ne répond pas au badge.")
    await admin.get_by_label("Borne de recharge").select_option("CPAM-LM-03")
    await admin.get_by_label("Niveau", exact=True).select_option("2")
    await admin.get_by_role("button", name="Enregistrer l'incident").tap()
    heading = admin.get_by_role("heading", level=1)
    await expect(heading).to_contain_text(TITLE)
    number = re.search(r"INC-\d{4}-\d{6}", await heading.inner_text())
    assert number, await heading.inner_text()
    await expect(admin.get_by_role("status")).to_contain_text(f"Incident {number.group(0)} enregistré.")
    await expect(admin.locator("[data-clock=intervention]")).to_be_visible()
    await assert_fits_the_screen(admin, width, "the ticket page")
    await assert_accessible(admin, "the ticket page")
    ticket_url = admin.url

    operator = await new_page()
    await log_in(operator, OPERATOR)
    await operator.goto("/operateur/incidents")
    await expect(operator.get_by_role("heading", level=1, name="Tickets par échéance")).to_be_visible()
    await assert_accessible(operator, "the operator's tickets")
    await operator.get_by_role("link", name=number.group(0)).click()
    await expect(operator.get_by_role("heading", level=1)).to_contain_text(number.group(0))
    await operator.get_by_role("button", name="Prendre en compte").click()
    await expect(operator.get_by_role("status")).to_contain_text("prise en compte")
    await expect(operator.locator("[data-status]").first).to_have_text("pris en compte")
    await assert_accessible(operator, "the acknowledged ticket")
    await operator.get_by_label("Commentaire").fill("Contrôleur redémarré à distance.")
    await operator.get_by_role("button", name="Déclarer résolu").click()
    await expect(operator.locator("[data-status]").first).to_have_text("résolu")
    # The operator may not accept on the beneficiary's behalf.
    await expect(operator.get_by_role("button", name="Accepter la résolution")).to_have_count(0)

    await admin.goto(ticket_url)
    await expect(admin.locator("[data-status]").first).to_have_text("résolu")
    await expect(admin.get_by_text("Contrôleur redémarré à distance.")).to_be_visible()
    await admin.get_by_role("button", name="Accepter la résolution").tap()
    await expect(admin.locator("[data-status]").first).to_have_text("clos")
    timeline = admin.locator("ol.timeline li")
    await expect(timeline).to_have_count(4)
    await expect(timeline.last).to_contain_text("acceptation de la résolution")
    await assert_fits_the_screen(admin, width, "the closed ticket")
    await assert_accessible(admin, "the closed ticket")
