"""A purchase order in a real browser (issue 14 §3, §5): the CPAM's administrator drafts it on a phone (a line with
an unknown article is named and nothing is stored), reads it with every element of CCP TGD VI.1 and issues it; the
titulaire's operator finds it in its queue and starts it. axe-core finds no serious or critical violation on any
page state visited; the phone pages fit their screen."""

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


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own: its orders would change the shared demo's lists."""
    yield from serve_demo(tmp_path_factory)


async def test_admin_drafts_and_issues_an_order_the_operator_starts_it(new_page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    width = 390
    admin = await new_page(width, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    await log_in(admin, ADMIN)
    await expect(admin).to_have_url(live_server.url(f"/t/{cpam}"))
    await (await open_menu(admin)).get_by_role("link", name="Bons de commande", exact=True).tap()
    await expect(admin.get_by_role("heading", level=1, name="Bons de commande")).to_be_visible()
    await assert_accessible(admin, "the orders list")
    await admin.get_by_role("link", name="Nouveau bon de commande").first.tap()
    await expect(admin.get_by_role("heading", level=1, name="Nouveau bon de commande")).to_be_visible()
    await assert_fits_the_screen(admin, width, "the new order form")
    await assert_accessible(admin, "the new order form")

    agreement = await admin.locator("#f-agreement_id option", has_text="2025-CPAM72-IRVE").get_attribute("value")
    await admin.get_by_label("Accord-cadre").select_option(agreement)
    await field(admin, "Ligne 1 : code article").fill("IRVE-BORNE-22")
    await admin.locator("#f-lines\\.1\\.quantity").fill("2")
    await field(admin, "Ligne 2 : code article").fill("INCONNU")
    await admin.locator("#f-lines\\.2\\.quantity").fill("1")
    await admin.get_by_label("Lieu(x) de livraison ou d'exécution").fill("Siège, parking des véhicules de service")
    await admin.get_by_role("button", name="Enregistrer le brouillon").tap()
    await expect(admin.get_by_role("alert")).to_contain_text("Ligne 2 : article « INCONNU » inconnu du BPU")
    await assert_accessible(admin, "the new order form with an error")

    await field(admin, "Ligne 2 : code article").fill("IRVE-POSE")
    await admin.locator("#f-lines\\.2\\.discount_percent").fill("5")
    await admin.get_by_role("button", name="Enregistrer le brouillon").tap()
    heading = admin.get_by_role("heading", level=1)
    await expect(heading).to_contain_text("Bon de commande BC-")
    number = re.search(r"BC-\d{4}-\d{6}", await heading.inner_text())
    assert number, await heading.inner_text()
    await expect(admin.get_by_role("status")).to_contain_text("enregistré en brouillon (2 ligne(s))")
    await assert_fits_the_screen(admin, width, "the order page")
    await assert_accessible(admin, "the order page")
    await admin.get_by_role("button", name="Émettre et notifier au titulaire").tap()
    await expect(admin.get_by_role("status")).to_contain_text(f"{number.group(0)} : émis")

    operator = await new_page()
    await log_in(operator, OPERATOR)
    await operator.goto("/operateur")
    await assert_accessible(operator, "the operator's home with an order to execute")
    await operator.get_by_role("link", name=re.compile(number.group(0))).first.click()
    await expect(operator.get_by_role("heading", level=1)).to_contain_text(number.group(0))
    await operator.get_by_role("button", name="Démarrer l'exécution").click()
    await expect(operator.get_by_role("status")).to_contain_text(f"{number.group(0)} : en cours")
    await assert_accessible(operator, "the order page of the operator")
