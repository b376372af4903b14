"""SetVariables from the portal (issue 17 §2): confirmed on the stored values, then the station's answer per variable.

The web app is served for real (uvicorn, in this event loop) on the ingress's bus, as ``centrale serve``
wires them; the station is the ``ocpp`` library's 2.0.1 ChargePoint, which validates every call it gets.
Its device model comes from a NotifyReport in parts. OCPP 2.0.1 B05 (Set Variables): one
SetVariableResult per SetVariableData, with attributeStatus Accepted, Rejected, UnknownComponent,
UnknownVariable, NotSupportedAttributeType or RebootRequired, and an optional reasonCode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.stores.memory import MemoryStore
from ocpp.routing import on
from ocpp.v201 import ChargePoint as Station201
from ocpp.v201 import call_result as result201

from app.db import Database
from tests.csms.conftest import MEMBER_PASSWORD, station
from tests.csms.test_commands import wait_connected
from tests.csms.test_commands_web import serve_web
from tests.csms.test_ocpp201_messages import BOTH, BOX, call, report_part, text_of

CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
DIGEST = re.compile(r'name="confirme(?:_variables)?" value="([0-9a-f]+)"')
ADMIN, OTHER = "admin@cpam-bornes.demo", "admin@vlb-bornes.demo"

#: What the station says per variable (attributeStatus, reasonCode).
ANSWERS = {"HeartbeatInterval": ("RebootRequired", None), "OfflineThreshold": ("Rejected", "OutOfRange")}


class SettableStation(Station201):
    """Answers SetVariables per variable (ANSWERS; any other variable is unknown to it); keeps what it got."""

    received: list[Any]

    @on("SetVariables")
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        self.received.append(set_variable_data)
        results = []
        for item in set_variable_data:
            status, reason = ANSWERS.get(item["variable"]["name"], ("UnknownVariable", "NotFound"))
            result = {"attribute_status": status, "component": item["component"], "variable": item["variable"]}
            if reason:
                result["attribute_status_info"] = {"reason_code": reason}
            results.append(result)
        return result201.SetVariables(set_variable_result=results)


@pytest.fixture
async def web(settings, ingress, people) -> AsyncIterator[str]:
    """The portal on a real socket, sharing the ingress's bus; the station's model reported first."""
    from app.web import create_app

    ws = await ingress_socket(ingress)
    try:
        for seq_no in range(3):
            await call(ws, f"p{seq_no}", "NotifyReport", report_part(60, seq_no))
    finally:
        await ws.close()
    app = create_app(dataclasses.replace(settings), db=Database(settings.database_url, pool_size=2),
                     stores={"sessions": MemoryStore(), "throttle": MemoryStore()}, bus=ingress.bus)
    async with serve_web(app) as url:
        yield url


async def ingress_socket(ingress: Any) -> Any:
    from tests.csms.conftest import open_socket

    return await open_socket(ingress.port, BOX, protocol="ocpp2.0.1")


@contextlib.asynccontextmanager
async def logged_in(url: str, email: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        page = await http.get("/connexion")
        done = await http.post("/connexion", data={"email": email, "password": MEMBER_PASSWORD,
                                                   "_csrf_token": CSRF.search(page.text).group(1)})
        assert done.status_code in (302, 303), done.text[:300]
        yield http


PAYLOAD = ('{"setVariableData": ['
           '{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "30"},'
           '{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}, "attributeValue": "5"},'
           '{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Inexistante"}, "attributeValue": "1"}]}')


@pytest.mark.parametrize("backend", BOTH)
async def test_the_commands_page_confirms_each_change_then_shows_each_answer(web, ingress, fleet):
    page_url = f"/t/{fleet.cpam}/bornes/{BOX}/commandes"
    async with logged_in(web, ADMIN) as http, station(ingress.port, BOX, version="2.0.1", cls=SettableStation) as (cp, _wire):
        cp.received = []
        await wait_connected(ingress, BOX)
        token = CSRF.search((await http.get(page_url, params={"action": "SetVariables"})).text).group(1)
        # The typed form asks too, in place (HTMX), its fields posted again by the confirmation.
        typed = await http.post(page_url, headers={"HX-Request": "true"}, data={
            "_csrf_token": token, "action": "SetVariables", "mode": "champs", "component": "OCPPCommCtrlr",
            "variable": "HeartbeatInterval", "value": "600"})
        assert typed.text.lstrip().startswith('<div id="resultat">')
        assert "Confirmer : Modifier des variables (SetVariables), une variable" in text_of(typed.text)
        assert "OCPPCommCtrlr — HeartbeatInterval (Actual) : 300 → devient 600" in text_of(typed.text)
        assert 'name="value" value="600"' in typed.text and 'name="mode" value="champs"' in typed.text
        form = {"_csrf_token": token, "action": "SetVariables", "mode": "json", "payload": PAYLOAD}
        first = await http.post(page_url, data=form)
        assert first.status_code == 200
        text = text_of(first.text)
        assert "Confirmer : Modifier des variables (SetVariables), 3 variables" in text
        assert "OCPPCommCtrlr — HeartbeatInterval (Actual) : 300 → devient 30" in text
        assert "OCPPCommCtrlr — OfflineThreshold (Actual) : 60 → devient 5" in text
        assert "OCPPCommCtrlr — Inexistante (Actual) : inconnue (absente du modèle de données) → devient 1" in text
        assert cp.received == []  # nothing sent before the confirmation
        digest = DIGEST.search(first.text).group(1)
        # A confirmation of other current values (the model changed meanwhile, or a forged one) asks again.
        again = await http.post(page_url, data={**form, "confirme_variables": "0" * 20})
        assert "Confirmer : Modifier des variables" in text_of(again.text) and cp.received == []
        # The confirmation names the new values too: given for 30, it does not send 3000.
        other = await http.post(page_url, data={**form, "payload": PAYLOAD.replace('"30"', '"3000"'),
                                                "confirme_variables": digest})
        assert "HeartbeatInterval (Actual) : 300 → devient 3000" in text_of(other.text) and cp.received == []
        sent = await http.post(page_url, data={**form, "confirme_variables": digest}, headers={"HX-Request": "true"})
    assert sent.status_code == 200 and sent.text.lstrip().startswith('<div id="resultat">')
    text = text_of(sent.text)
    assert "SetVariables : Acceptée" in text
    assert "OCPPCommCtrlr — HeartbeatInterval (Actual) = 30 : acceptée, appliquée au prochain redémarrage" in text
    assert "OCPPCommCtrlr — OfflineThreshold (Actual) = 5 : refusée par la borne (OutOfRange)" in text
    assert "OCPPCommCtrlr — Inexistante (Actual) = 1 : refusée : variable inconnue de la borne (NotFound)" in text
    assert [[(d["variable"]["name"], d["attribute_value"]) for d in call_] for call_ in cp.received] == [
        [("HeartbeatInterval", "30"), ("OfflineThreshold", "5"), ("Inexistante", "1")]]
    # The device-model page shows each last write as the station answered it.
    async with logged_in(web, ADMIN) as http:
        model = text_of((await http.get(f"/t/{fleet.cpam}/bornes/{BOX}/modele")).text)
    assert "acceptée, appliquée au prochain redémarrage : 30" in model
    assert "refusée par la borne : 5 (OutOfRange)" in model
    assert "refusée : variable inconnue de la borne : 1 (NotFound)" in model


async def test_the_device_model_page_confirms_the_change_then_shows_the_refusal(web, ingress, fleet):
    url = f"/t/{fleet.cpam}/bornes/{BOX}/modele"
    async with logged_in(web, ADMIN) as http, station(ingress.port, BOX, version="2.0.1", cls=SettableStation) as (cp, _wire):
        cp.received = []
        await wait_connected(ingress, BOX)
        token = CSRF.search((await http.get(url)).text).group(1)
        form = {"_csrf_token": token, "operation": "modifier", "composant": "OCPPCommCtrlr", "instance_composant": "",
                "evse": "", "connecteur": "", "variable": "OfflineThreshold", "instance_variable": "", "type": "Actual",
                "valeur": "10"}
        first = await http.post(url, data=form)
        assert first.status_code == 200
        text = text_of(first.text)
        assert "Confirmer : modifier une variable de la borne (SetVariables)" in text
        assert "OCPPCommCtrlr — OfflineThreshold (Actual) : 60 → devient 10" in text
        assert cp.received == []
        sent = await http.post(url, data={**form, "confirme": DIGEST.search(first.text).group(1)})
    text = text_of(sent.text)
    assert "SetVariables : Réponse de la borne reçue." in text
    assert "OCPPCommCtrlr — OfflineThreshold (Actual) = 10 : refusée par la borne (OutOfRange)" in text
    assert "refusée par la borne : 10 (OutOfRange)" in text  # the row's last write
    assert "OCPPCommCtrlr OfflineThreshold Actual 60" in text  # the value stays: refused
    assert len(cp.received) == 1


async def test_another_tenant_gets_404_on_the_confirmation_and_the_send(web, ingress, fleet):
    """DESIGN « Tenancy rules » 4: a wrong tenant gets 404, and nothing reaches the station."""
    async with logged_in(web, OTHER) as http, station(ingress.port, BOX, version="2.0.1",
                                                             cls=SettableStation) as (cp, _wire):
        cp.received = []
        await wait_connected(ingress, BOX)
        token = CSRF.search((await http.get(f"/t/{fleet.other}/bornes")).text).group(1)
        for tenant in (fleet.cpam, fleet.other):
            commands = await http.post(f"/t/{tenant}/bornes/{BOX}/commandes", data={
                "_csrf_token": token, "action": "SetVariables", "mode": "json", "payload": PAYLOAD,
                "confirme_variables": "0" * 20})
            model = await http.post(f"/t/{tenant}/bornes/{BOX}/modele", data={
                "_csrf_token": token, "operation": "modifier", "composant": "OCPPCommCtrlr",
                "variable": "OfflineThreshold", "valeur": "10"})
            assert (commands.status_code, model.status_code) == (404, 404), tenant
        assert cp.received == []
