"""A quote in a real browser (issue 14 §2): the buyer asks for one on its phone (a missing need is named and nothing
is sent), the titulaire's operator finds it in its cross-tenant queue, records the site visit and prices it on
the BPU, the buyer sees the CPAM 5-1-4 deadline and the priced lines and accepts, which issues the purchase order,
then notifies an amendment of it (CCP TGD VI.3). axe-core finds no serious or critical violation on any page state
visited; the buyer's phone pages fit their screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import LiveServer, serve_demo
from tests.e2e.test_portal_browser import assert_accessible, assert_fits_the_screen, field, log_in

pytestmark = pytest.mark.browser
BUYER = "admin@cpam72.demo"
OPERATOR = "technicien@titulaire.demo"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own: its quote and order would change the shared demo's cards and queues."""
    yield from serve_demo(tmp_path_factory)


async def test_buyer_asks_operator_prices_buyer_accepts_then_amends(new_page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    width = 390
    buyer = await new_page(width, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    await log_in(buyer, BUYER)
    await buyer.goto(f"/t/{cpam}/commandes")
    await buyer.get_by_role("link", name="demander un devis au titulaire").tap()
    await expect(buyer.get_by_role("heading", level=1, name="Demander un devis")).to_be_visible()
    await assert_fits_the_screen(buyer, width, "the quote request form")
    await assert_accessible(buyer, "the quote request form")
    await buyer.get_by_role("button", name="Envoyer la demande").tap()
    await expect(buyer.get_by_role("alert")).to_contain_text("Décrivez le besoin")
    await assert_accessible(buyer, "the quote request form with its errors")
    await buyer.get_by_label("Accord-cadre").select_option(index=1)
    await field(buyer, "Besoin (matériel, travaux ou panne, contraintes du site)").fill(
        "Deux bornes 22 kW au parking visiteurs")
    await field(buyer, "Lieu des travaux (par défaut : l'adresse du site)").fill("Parking visiteurs")
    await buyer.get_by_role("button", name="Envoyer la demande").tap()
    await expect(buyer.get_by_role("status")).to_contain_text("envoyée au titulaire")
    await expect(buyer.get_by_role("heading", level=1)).to_contain_text("Devis DEV-")
    quote_url = buyer.url
    await assert_fits_the_screen(buyer, width, "the requested quote")
    await assert_accessible(buyer, "the requested quote")

    operator = await new_page()
    await log_in(operator, OPERATOR)
    await operator.goto("/operateur")
    await operator.get_by_role("link", name=re.compile("Deux bornes 22 kW")).first.click()
    await operator.get_by_role("button", name="Enregistrer la visite de site").click()
    await expect(operator.get_by_role("status")).to_contain_text("visite de site enregistrée")
    await field(operator, "Ligne 1 : code article").fill("IRVE-BORNE-22")
    await operator.locator("#f-lines\\.1\\.quantity").fill("2")
    await field(operator, "Ligne 2 : code article").fill("IRVE-POSE")
    await operator.locator("#f-lines\\.2\\.quantity").fill("2")
    await operator.locator("#f-lines\\.2\\.discount_percent").fill("5")
    await operator.get_by_role("button", name="Envoyer le devis chiffré").click()
    await expect(operator.get_by_role("status")).to_contain_text(": chiffré")
    await assert_accessible(operator, "the priced quote, as the operator sees it")

    await buyer.goto(quote_url)
    await expect(buyer.get_by_text("9 085,00 €").first).to_be_visible()
    await assert_fits_the_screen(buyer, width, "the priced quote")
    await assert_accessible(buyer, "the priced quote, to accept")
    await buyer.get_by_role("button", name="Accepter le devis et émettre le bon de commande").tap()
    await expect(buyer.get_by_role("status")).to_contain_text("le bon de commande est émis")
    await buyer.get_by_role("link", name="Voir le bon de commande émis").tap()
    await expect(buyer.get_by_role("heading", level=1)).to_contain_text("Bon de commande BC-")
    await assert_accessible(buyer, "the order issued from the quote")

    await buyer.get_by_role("link", name="Notifier un modificatif").tap()
    await expect(buyer.get_by_role("heading", level=1)).to_contain_text("Modificatif du bon de commande")
    await assert_fits_the_screen(buyer, width, "the amendment form")
    await assert_accessible(buyer, "the amendment form")
    await buyer.locator("#f-lines\\.1\\.quantity").fill("3")
    await field(buyer, "Objet du modificatif (ce qui change et pourquoi)").fill("Une borne de plus")
    await buyer.get_by_role("button", name="Notifier le modificatif au titulaire").tap()
    await expect(buyer.get_by_role("status")).to_contain_text("la commande passe en version 2")
    await expect(buyer.get_by_text("quantité 2 → 3")).to_be_visible()
    await assert_accessible(buyer, "the order with its amendment")
