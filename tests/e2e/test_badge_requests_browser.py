"""An agent's badge request in a real browser (issue 14 §4, CCTP CPAM 5-5-5-3): the agent asks on its phone (a bad
plate is named and nothing is sent), its manager finds the request on its home card and approves it in writing,
the titulaire's operator finds the badge in its cross-tenant queue and records the idTag, the agent confirms the
receipt, which activates the badge. axe-core finds no serious or critical violation on any page state visited;
the agent's phone pages fit their screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import LiveServer, serve_demo
from tests.e2e.test_portal_browser import assert_accessible, assert_fits_the_screen, field, log_in, open_menu

pytestmark = pytest.mark.browser
AGENT = "agent@cpam72.demo"
MANAGER = "responsable@cpam72.demo"
OPERATOR = "technicien@titulaire.demo"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own: its request would change the shared demo's cards and queues."""
    yield from serve_demo(tmp_path_factory)


async def test_agent_asks_manager_approves_operator_ships_agent_activates(new_page: Any, live_server: Any) -> None:
    cpam = live_server.tenant_ids["cpam"]
    width = 390
    agent = await new_page(width, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    await log_in(agent, AGENT)
    await expect(agent).to_have_url(live_server.url(f"/t/{cpam}/agent"))
    await (await open_menu(agent)).get_by_role("link", name="Demandes de badge", exact=True).tap()
    await expect(agent.get_by_role("heading", level=1, name="Mes demandes de badge")).to_be_visible()
    await assert_fits_the_screen(agent, width, "the agent's badge requests")
    await assert_accessible(agent, "the agent's badge requests")

    await field(agent, "Immatriculation du véhicule").fill("IO-123-UU")  # I, O and U are not in SIV plates
    await field(agent, "Motif (usage du véhicule, site de recharge)").fill("Trajets entre les sites de la caisse")
    await agent.get_by_role("button", name="Envoyer la demande").tap()
    await expect(agent.get_by_role("alert")).to_contain_text("Immatriculation invalide")
    await expect(field(agent, "Immatriculation du véhicule")).to_have_attribute("aria-invalid", "true")
    await expect(agent.get_by_text("Aucune demande de badge")).to_be_visible()  # nothing was stored
    await assert_accessible(agent, "the badge request form with its error")

    await field(agent, "Immatriculation du véhicule").fill("ab 123 cd")
    await agent.get_by_role("button", name="Envoyer la demande").tap()
    await expect(agent.get_by_role("status")).to_contain_text("votre responsable la valide sous 24 h")
    await expect(agent.get_by_role("heading", level=1)).to_contain_text("Demande de badge pour le véhicule AB-123-CD")
    request_url = agent.url
    await assert_fits_the_screen(agent, width, "the agent's badge request")
    await assert_accessible(agent, "the agent's badge request, waiting for its manager")

    manager = await new_page()
    await log_in(manager, MANAGER)
    await expect(manager).to_have_url(live_server.url(f"/t/{cpam}"))
    await manager.get_by_role("link", name=re.compile("à valider \\(sous 24 h\\)")).click()
    await expect(manager.get_by_role("heading", level=1, name="Demandes de badge")).to_be_visible()
    await assert_accessible(manager, "the manager's list of requests to approve")
    await manager.get_by_role("link", name="AB-123-CD").click()
    await expect(manager.get_by_text("Étape attendue : décision du responsable")).to_be_visible()
    await manager.get_by_role("button", name="Approuver la demande").click()
    await expect(manager.get_by_role("status")).to_contain_text("AB-123-CD : approuvée")
    await expect(manager.get_by_text("par Romain Responsable (CPAM)")).to_be_visible()
    await assert_accessible(manager, "the approved badge request")

    operator = await new_page()
    await log_in(operator, OPERATOR)
    await operator.goto("/operateur")
    await assert_accessible(operator, "the operator's home with a badge to ship")
    await operator.get_by_role("link", name=re.compile("Véhicule AB-123-CD")).first.click()
    await expect(operator.get_by_role("heading", level=1)).to_contain_text("AB-123-CD")
    await field(operator, "Identifiant du badge (idTag)").fill("CPAM-RFID-0078")
    await field(operator, "Référence de l'envoi").fill("LS-2026-0042")
    await operator.get_by_role("button", name="Enregistrer l'envoi du badge").click()
    await expect(operator.get_by_role("status")).to_contain_text("AB-123-CD : expédiée")
    await expect(operator.get_by_text("idTag CPAM-RFID-0078, envoi LS-2026-0042")).to_be_visible()
    await assert_accessible(operator, "the shipped badge request")

    await agent.goto(request_url)
    await agent.get_by_role("button", name="J'ai reçu le badge : l'activer").tap()
    await expect(agent.get_by_role("status")).to_contain_text("AB-123-CD : activée")
    await expect(agent.get_by_text("accepté par les bornes de CPAM de la Sarthe")).to_be_visible()
    await assert_fits_the_screen(agent, width, "the activated badge request")
    await assert_accessible(agent, "the activated badge request")
