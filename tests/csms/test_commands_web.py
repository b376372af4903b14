"""Remote commands from the API and the portal (CCTP CPAM 5-4-2-1), in embedded mode.

The web app is served for real (uvicorn, on a socket) in the same event loop as
the OCPP ingress, sharing ONE bus as ``centrale serve`` does; the stations are
the ``ocpp`` library's ChargePoint. Callers are the demo accounts, over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from litestar.stores.memory import MemoryStore
from sqlalchemy import select

from app.bus import LocalBus
from app.db import Database
from app.settings import Settings
from tenants.models import Site
from tests.csms.conftest import PASSWORD, Events
from tests.csms.test_commands import answering_station, calls_received, command_log

CPAM_BOX, COMMUNE_BOX = "CPAM-CMD-01", "VLB-CMD-01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def register_demo_stations(db: Database, demo: dict[str, Any], password_hash: str) -> dict[str, uuid.UUID]:
    """One station in the CPAM demo tenant, one in the commune's (the other tenant)."""
    from csms.domain import registry

    tenants = {}
    for key, charge_box_id in (("cpam", CPAM_BOX), ("commune", COMMUNE_BOX)):
        tenant_id = uuid.UUID(demo["tenant_ids"][key])
        async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
            site = await session.scalar(select(Site).where(Site.tenant_id == tenant_id).order_by(Site.name).limit(1))
            assert site is not None
            await registry.register_charger(session, tenant_id, {
                "charge_box_id": charge_box_id, "password": PASSWORD, "site": str(site.id), "points": 2,
            }, password_hash=password_hash)
        tenants[charge_box_id] = tenant_id
    return tenants


@contextlib.asynccontextmanager
async def serve_web(app: Any) -> AsyncIterator[str]:
    """The app on a real socket, in this event loop; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclasses.dataclass
class Live:
    url: str
    ingress: Any
    db: Database
    tenants: dict[str, uuid.UUID]


@pytest.fixture
async def live(settings: Settings, db: Database, demo: dict[str, Any], password_hash: str) -> AsyncIterator[Live]:
    """Embedded mode: web app and ingress in one loop on one LocalBus (what ``serve_all`` wires)."""
    from app.web import create_app
    from csms.ingress.server import Ingress

    tenants = await register_demo_stations(db, demo, password_hash)
    bus = LocalBus()
    events = Events()
    await bus.subscribe("station.connected", events.handler)
    ingress = Ingress(dataclasses.replace(settings, ocpp_port=0), db=db, bus=bus)
    ingress.events = events  # type: ignore[attr-defined]
    await ingress.start()
    web_db = Database(settings.database_url, pool_size=2)
    app = create_app(settings, db=web_db, stores={"sessions": MemoryStore(), "throttle": MemoryStore()}, bus=bus)
    try:
        async with serve_web(app) as url:
            yield Live(url, ingress, db, tenants)
    finally:
        await ingress.stop()
        await bus.close()


# --------------------------------------------------------------------------- API


async def test_api_sends_the_command_and_answers_with_the_station_s_reply(live, api_token):
    """CCTP CPAM 5-4-2-1 through the API: the station's answer, then the log entry with who sent it."""
    headers = await api_token("admin@cpam72.demo")
    async with answering_station(live.ingress.port, CPAM_BOX) as (_cp, wire), httpx.AsyncClient(base_url=live.url) as http:
        await live.ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == CPAM_BOX)
        response = await http.post(f"/api/v1/stations/{CPAM_BOX}/commands", headers=headers,
                                   json={"action": "UnlockConnector", "payload": {"connectorId": 2}, "timeout": 10})
        assert response.status_code == 200, response.text
        body = response.json()
        log = await http.get(f"/api/v1/stations/{CPAM_BOX}/commands", headers=headers)
    assert calls_received(wire) == [("UnlockConnector", {"connectorId": 2})]
    assert {k: body[k] for k in ("charge_box_id", "action", "protocol", "status", "answer")} == {
        "charge_box_id": CPAM_BOX, "action": "UnlockConnector", "protocol": "1.6", "status": "accepted",
        "answer": {"status": "Unlocked"}}
    assert log.status_code == 200
    [entry] = log.json()["items"]
    assert (entry["id"], entry["action"], entry["payload"], entry["answer"], entry["status"], entry["actor"]) == (
        body["command_id"], "UnlockConnector", {"connectorId": 2}, {"status": "Unlocked"}, "accepted",
        "admin@cpam72.demo (API)")


async def test_api_another_tenants_station_is_404_and_nothing_is_sent(live, api_token):
    """A command for B's station from A's token → 404 (the issue's tenant wall), nothing on B's wire."""
    headers = await api_token("admin@cpam72.demo")
    async with answering_station(live.ingress.port, COMMUNE_BOX) as (_cp, wire), httpx.AsyncClient(base_url=live.url) as http:
        await live.ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == COMMUNE_BOX)
        for box in (COMMUNE_BOX, "NO-SUCH-BOX"):
            sent = await http.post(f"/api/v1/stations/{box}/commands", headers=headers,
                                   json={"action": "Reset", "payload": {"type": "Hard"}})
            listed = await http.get(f"/api/v1/stations/{box}/commands", headers=headers)
            assert (sent.status_code, listed.status_code) == (404, 404)
            assert sent.headers["content-type"].startswith("application/problem+json")
            assert sent.json()["title"] == "Introuvable"
    assert calls_received(wire) == []
    assert await command_log(live.db, live.tenants[COMMUNE_BOX]) == []


async def test_api_permissions_viewer_refused_operator_allowed(live, api_token):
    async with answering_station(live.ingress.port, CPAM_BOX) as (_cp, wire), httpx.AsyncClient(base_url=live.url) as http:
        await live.ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == CPAM_BOX)
        body = {"action": "ClearCache", "payload": {}}
        viewer = await http.post(f"/api/v1/stations/{CPAM_BOX}/commands", headers=await api_token("visu@cpam72.demo"), json=body)
        agent = await http.post(f"/api/v1/stations/{CPAM_BOX}/commands", headers=await api_token("agent@cpam72.demo"), json=body)
        operator = await http.post(f"/api/v1/stations/{CPAM_BOX}/commands",
                                   headers=await api_token("technicien@titulaire.demo"), json=body)
        viewer_log = await http.get(f"/api/v1/stations/{CPAM_BOX}/commands", headers=await api_token("visu@cpam72.demo"))
    assert viewer.status_code == 403 and "commandes" in viewer.json()["title"]
    assert agent.status_code == 403
    assert operator.status_code == 200 and operator.json()["answer"] == {"status": "Accepted"}
    assert [a for a, _ in calls_received(wire)] == ["ClearCache"]
    assert viewer_log.status_code == 200 and viewer_log.json()["total"] == 1


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"action": "Reset", "payload": {"type": "Brutal"}}, "payload", "valeurs possibles : Hard, Soft"),
    ({"action": "Reset", "payload": {}}, "payload", "Champ obligatoire manquant : type."),
    ({"action": "FormatDisk", "payload": {}}, "action", "Commande inconnue : FormatDisk."),
    ({"action": "Reset", "payload": {"type": "Soft"}, "timeout": 0}, "timeout", "Délai en secondes entre 1 et 300"),
    ({"action": "Reset"}, "payload", "Champ obligatoire manquant : type."),
])
async def test_api_bad_command_is_422_and_nothing_is_sent(live, api_token, body, field, message):
    headers = await api_token("admin@cpam72.demo")
    async with answering_station(live.ingress.port, CPAM_BOX) as (_cp, wire), httpx.AsyncClient(base_url=live.url) as http:
        await live.ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == CPAM_BOX)
        response = await http.post(f"/api/v1/stations/{CPAM_BOX}/commands", headers=headers, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["title"] == "Données invalides"
    assert message in problem["errors"][field]
    assert calls_received(wire) == []
    assert await command_log(live.db, live.tenants[CPAM_BOX]) == []


async def test_api_offline_timeout_and_call_error(live, api_token):
    headers = await api_token("admin@cpam72.demo")
    url = f"/api/v1/stations/{CPAM_BOX}/commands"
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        offline = await http.post(url, headers=headers, json={"action": "Reset", "payload": {"type": "Soft"}})
        async with answering_station(live.ingress.port, CPAM_BOX) as (cp, _wire):
            cp.silent = frozenset({"ClearCache"})
            cp.refuse = frozenset({"Reset"})
            await live.ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == CPAM_BOX)
            timeout = await http.post(url, headers=headers, json={"action": "ClearCache", "payload": {}, "timeout": 1})
            refused = await http.post(url, headers=headers, json={"action": "Reset", "payload": {"type": "Hard"}})
        log = (await http.get(url, headers=headers)).json()["items"]
    assert offline.status_code == 409
    assert offline.json()["title"] == "Borne hors ligne : la commande n'a pas été envoyée"
    assert timeout.status_code == 504
    assert timeout.json()["title"] == "Délai dépassé : la borne n'a pas répondu"
    assert refused.status_code == 502
    assert {k: refused.json()[k] for k in ("code", "description", "details")} == {
        "code": "GenericError", "description": "firmware busy", "details": {"retry": "later"}}
    for response in (offline, timeout, refused):
        assert response.headers["content-type"].startswith("application/problem+json")
    # Every attempt is logged, newest first, with the command id the problem named.
    assert [(e["action"], e["status"]) for e in log] == [("Reset", "rejected"), ("ClearCache", "timeout"),
                                                         ("Reset", "offline")]
    assert [e["id"] for e in log] == [r.json()["command_id"] for r in (refused, timeout, offline)]


# --------------------------------------------------------------------------- portal


CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def portal_login(http: httpx.AsyncClient, email: str) -> None:
    from tenants.demo import DEMO_PASSWORD

    page = await http.get("/connexion")
    token = CSRF.search(page.text).group(1)
    response = await http.post("/connexion", data={"email": email, "password": DEMO_PASSWORD, "_csrf_token": token})
    assert response.status_code in (302, 303), response.text[:300]


async def test_portal_page_sends_a_typed_command_in_place_and_shows_the_log(live):
    """CCTP CPAM 5-4-2-1 from the portal: a typed form (point and badge chosen from lists), no JSON typed."""
    tenant = live.tenants[CPAM_BOX]
    page_url = f"/t/{tenant}/bornes/{CPAM_BOX}/commandes"
    async with answering_station(live.ingress.port, CPAM_BOX) as (_cp, wire), httpx.AsyncClient(base_url=live.url) as http:
        await live.ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == CPAM_BOX)
        await portal_login(http, "admin@cpam72.demo")
        page = await http.get(page_url)
        assert page.status_code == 200
        assert "Commandes à distance — CPAM-CMD-01" in page.text
        assert "Aucune commande n'a encore été envoyée" in page.text
        # The tenant's badges and the station's points are the choices.
        assert '<option value="04B1C2D3E4F5A6">04B1C2D3E4F5A6 — Alice Agent</option>' in page.text
        assert re.search(r'<option value="2">Point 2 \(FR\w+\)', page.text)
        token = CSRF.search(page.text).group(1)
        sent = await http.post(page_url, headers={"HX-Request": "true"}, data={
            "_csrf_token": token, "action": "RemoteStartTransaction", "mode": "champs",
            "point": "2", "badge": "04B1C2D3E4F5A6"})
    assert sent.status_code == 200
    assert sent.text.lstrip().startswith('<div id="resultat">')
    assert "RemoteStartTransaction : Acceptée — réponse de la borne : acceptée" in sent.text
    assert "admin@cpam72.demo" in sent.text  # the log, refreshed, says who sent it
    assert [c for c in calls_received(wire) if c[0] == "RemoteStartTransaction"] == [
        ("RemoteStartTransaction", {"idTag": "04B1C2D3E4F5A6", "connectorId": 2})]


async def test_portal_example_is_one_form_with_the_tenant_s_badges_and_its_json_sends(live):
    """Issue 12 §3: « Afficher l'exemple » swaps the command's forms only (one ``f-payload``, the log
    stays), the example names a real badge of the tenant, and « Envoyer » sends it."""
    tenant = live.tenants[CPAM_BOX]
    page_url = f"/t/{tenant}/bornes/{CPAM_BOX}/commandes"
    async with answering_station(live.ingress.port, CPAM_BOX) as (_cp, wire), httpx.AsyncClient(base_url=live.url) as http:
        await live.ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == CPAM_BOX)
        await portal_login(http, "admin@cpam72.demo")
        page = await http.get(page_url)
        assert page.text.count('id="f-action"') == 1 and page.text.count('id="f-payload"') == 1
        example = await http.get(page_url, params={"action": "RemoteStartTransaction", "avance": "1"},
                                 headers={"HX-Request": "true"})
        assert example.text.lstrip().startswith('<div id="commande">')
        assert example.text.count('id="f-payload"') == 1 and 'id="f-action"' not in example.text
        assert "<html" not in example.text and 'id="journal"' not in example.text
        assert "&#34;idTag&#34;: &#34;04A2B3C4D5E6F7&#34;" in example.text  # the tenant's first badge
        token = CSRF.search(page.text).group(1)
        sent = await http.post(page_url, headers={"HX-Request": "true"}, data={
            "_csrf_token": token, "action": "ChangeAvailability", "mode": "json",
            "payload": '{"connectorId": 1, "type": "Inoperative"}', "timeout": "10"})
    assert sent.status_code == 200
    assert sent.text.lstrip().startswith('<div id="resultat">')
    assert "ChangeAvailability : Acceptée — réponse de la borne : programmée" in sent.text
    assert calls_received(wire) == [("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})]


async def test_portal_disruptive_command_during_a_charge_asks_for_confirmation_first(live):
    """Issue 12 §3: a Reset while a charge runs names the charge and is sent only once confirmed
    (a plain form post: no JavaScript needed)."""
    from ocpp.v16 import call

    tenant = live.tenants[CPAM_BOX]
    page_url = f"/t/{tenant}/bornes/{CPAM_BOX}/commandes"
    async with answering_station(live.ingress.port, CPAM_BOX) as (cp, wire), httpx.AsyncClient(base_url=live.url) as http:
        await live.ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == CPAM_BOX)
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="04B1C2D3E4F5A6", meter_start=1000,
                                                      timestamp=dt.datetime.now(dt.UTC).isoformat()))
        tx = str(started.transaction_id)
        await portal_login(http, "admin@cpam72.demo")
        page = await http.get(page_url, params={"action": "Reset"})
        assert "1 recharge en cours" in page.text
        token = CSRF.search(page.text).group(1)
        first = await http.post(page_url, data={"_csrf_token": token, "action": "Reset", "mode": "champs",
                                                "type": "Hard"})
        assert [c for c in calls_received(wire) if c[0] == "Reset"] == []  # not sent: confirmation first
        assert first.status_code == 200
        text = re.sub(r"\s+", " ", first.text)
        assert "Confirmer : Redémarrer la borne (Reset) interrompt une recharge" in text
        assert f"Recharge n° {tx} — point 1, badge 04B1C2D3E4F5A6 (Alice Agent)" in text
        assert f'name="confirme" value="{tx}"' in first.text and 'name="type" value="Hard"' in first.text
        confirmed = await http.post(page_url, data={"_csrf_token": token, "action": "Reset", "mode": "champs",
                                                    "type": "Hard", "confirme": tx})
    assert confirmed.status_code == 200 and "Reset : Acceptée" in confirmed.text
    assert [c for c in calls_received(wire) if c[0] == "Reset"] == [("Reset", {"type": "Hard"})]


async def test_portal_typed_form_errors_come_back_on_the_form(live):
    tenant = live.tenants[CPAM_BOX]
    page_url = f"/t/{tenant}/bornes/{CPAM_BOX}/commandes"
    async with httpx.AsyncClient(base_url=live.url) as http:
        await portal_login(http, "admin@cpam72.demo")
        token = CSRF.search((await http.get(page_url)).text).group(1)
        data = {"_csrf_token": token, "action": "ReserveNow", "mode": "champs", "point": "9", "badge": "04B1C2D3E4F5A6",
                "minutes": "trente", "reservation": "1"}
        in_place = await http.post(page_url, headers={"HX-Request": "true"}, data=data)
        plain = await http.post(page_url, data=data)
    assert in_place.status_code == 200
    assert (in_place.headers["HX-Retarget"], in_place.headers["HX-Reswap"]) == ("#commande", "outerHTML")
    assert in_place.text.lstrip().startswith('<div id="commande">')
    assert "Point de charge : choisissez une valeur de la liste." in in_place.text
    assert "Durée de la réservation (minutes) : nombre entier attendu (minutes)." in in_place.text
    assert 'value="trente"' in in_place.text  # what was typed stays
    assert plain.status_code == 422 and "Le formulaire contient 2 erreurs" in plain.text
    assert await command_log(live.db, tenant) == []


async def test_portal_bad_json_and_offline_are_explained_in_french(live):
    tenant = live.tenants[CPAM_BOX]
    page_url = f"/t/{tenant}/bornes/{CPAM_BOX}/commandes"
    async with httpx.AsyncClient(base_url=live.url) as http:
        await portal_login(http, "admin@cpam72.demo")
        token = CSRF.search((await http.get(page_url)).text).group(1)
        bad = await http.post(page_url, data={"_csrf_token": token, "action": "Reset", "mode": "json",
                                              "payload": '{"type": Soft}'})
        offline = await http.post(page_url, data={"_csrf_token": token, "action": "Reset", "mode": "json",
                                                  "payload": '{"type": "Soft"}'})
    assert bad.status_code == 422
    assert "JSON invalide (ligne 1, colonne 10)" in bad.text
    assert 'aria-invalid="true" aria-describedby="e-payload"' in bad.text
    assert '<details id="avance" open>' in bad.text
    assert offline.status_code == 200
    assert "Reset : Borne hors ligne" in offline.text
    rows = await command_log(live.db, tenant)
    assert [(r.action, r.status) for r in rows] == [("Reset", "offline")]  # the bad JSON was never logged


async def test_portal_viewer_reads_the_log_but_cannot_send_and_other_tenant_is_404(live):
    cpam, commune = live.tenants[CPAM_BOX], live.tenants[COMMUNE_BOX]
    async with httpx.AsyncClient(base_url=live.url) as http:
        await portal_login(http, "visu@cpam72.demo")
        page = await http.get(f"/t/{cpam}/bornes/{CPAM_BOX}/commandes")
        assert page.status_code == 200 and "Journal des commandes" in page.text
        assert "Envoyer à la borne" not in page.text
        token = CSRF.search(page.text).group(1)  # the page's other form (log out) carries one
        refused = await http.post(f"/t/{cpam}/bornes/{CPAM_BOX}/commandes",
                                  data={"_csrf_token": token, "action": "ClearCache", "payload": "{}"})
        await portal_login(http, "admin@cpam72.demo")
        foreign = [await http.get(f"/t/{commune}/bornes/{COMMUNE_BOX}/commandes"),
                   await http.get(f"/t/{cpam}/bornes/{COMMUNE_BOX}/commandes")]
    assert refused.status_code == 403
    assert [r.status_code for r in foreign] == [404, 404]
    assert await command_log(live.db, cpam) == []


# --------------------------------------------------------------------------- centrale serve


async def test_centrale_serve_shares_one_bus_between_web_and_ingress(settings, db, demo, password_hash, api_token):
    """Embedded mode (``serve_all``): a command from the API reaches a station held by the same process."""
    from app.server import serve_all

    await register_demo_stations(db, demo, password_hash)
    http_port, ocpp_port = free_port(), free_port()
    embedded = dataclasses.replace(settings, http_host="127.0.0.1", http_port=http_port, ocpp_host="127.0.0.1",
                                   ocpp_port=ocpp_port)
    server = asyncio.create_task(serve_all(embedded, web=True, ingress=True, worker=True, banner=False))
    headers = await api_token("admin@cpam72.demo")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as http:
            for _ in range(500):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
            station = None
            for _ in range(500):  # the ingress listens once its stale connections are closed
                with contextlib.suppress(OSError):
                    station = answering_station(ocpp_port, CPAM_BOX)
                    _cp, wire = await station.__aenter__()
                    break
                station = None
                await asyncio.sleep(0.05)
            assert station is not None, "the embedded ingress never listened"
            try:
                response = None
                deadline = time.monotonic() + 60  # until the connection row is committed (slow on a loaded machine)
                while response is None or (response.status_code == 409 and time.monotonic() < deadline):
                    if response is not None:
                        await asyncio.sleep(0.05)
                    response = await http.post(f"/api/v1/stations/{CPAM_BOX}/commands", headers=headers,
                                               json={"action": "GetLocalListVersion", "payload": {}, "timeout": 10})
            finally:
                await station.__aexit__(None, None, None)
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
    assert response is not None and response.status_code == 200, response.text if response else None
    assert response.json()["answer"] == {"listVersion": 3}
    assert ("GetLocalListVersion", {}) in calls_received(wire)


ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _moments_blurred(value: Any) -> Any:
    """A payload with its timestamps (expiry, start of a window, ids made of the time: computed from « now ») as one marker."""
    if isinstance(value, dict):  # requestId and remoteStartId are the time in seconds, too
        return {k: "<instant>" if k in ("requestId", "remoteStartId") else _moments_blurred(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_moments_blurred(v) for v in value]
    return "<instant>" if isinstance(value, str) and ISO_MOMENT.match(value) else value


async def test_every_typed_form_of_ocpp_16_sends_its_payload_to_a_real_station(live):
    """Issue 12 §3: each command's typed form, posted with what a person would choose (the first
    point, the agent's badge, the defaults), reaches the station as the OCPP call its builder makes;
    the station (the ``ocpp`` library, which validates every call it receives against the schemas)
    answers it. RemoteStopTransaction needs a running charge: the confirmation test covers it."""
    from csms.domain import command_forms

    tenant = live.tenants[CPAM_BOX]
    page_url = f"/t/{tenant}/bornes/{CPAM_BOX}/commandes"
    badge = "04B1C2D3E4F5A6"
    ctx = command_forms.FormContext(version="1.6", now=dt.datetime.now(dt.UTC),
                                    points=(command_forms.PointChoice(1, "1"), command_forms.PointChoice(2, "2")),
                                    badges=(command_forms.BadgeChoice(badge, badge),))
    sent_actions = []
    async with answering_station(live.ingress.port, CPAM_BOX) as (_cp, wire), httpx.AsyncClient(base_url=live.url) as http:
        await live.ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == CPAM_BOX)
        await portal_login(http, "admin@cpam72.demo")
        for action, form in command_forms.FORMS["1.6"].items():
            if any(f.kind == "session" for f in form.fields):
                continue
            values = command_forms.default_values(form, ctx)  # what the form shows first
            for f in form.fields:
                if f.kind == "badges":
                    values[f.name] = [badge]
                elif f.kind == "buttons":
                    values[f.name] = f.choices[0][0]
                elif not values.get(f.name):
                    values[f.name] = f.sample  # the URL, key or vendor a person types
            token = CSRF.search((await http.get(page_url, params={"action": action})).text).group(1)
            answer = await http.post(page_url, headers={"HX-Request": "true"},
                                     data={"_csrf_token": token, "action": action, "mode": "champs", **values})
            assert answer.status_code == 200, (action, answer.text[:300])
            assert answer.text.lstrip().startswith('<div id="resultat">'), (action, answer.text[:500])
            expected, errors = command_forms.build_payload("1.6", action, values, ctx)
            assert not errors, (action, errors)
            received = calls_received(wire)[-1]
            assert (received[0], _moments_blurred(received[1])) == (action, _moments_blurred(expected))
            sent_actions.append(action)
    assert len(sent_actions) == len(command_forms.FORMS["1.6"]) - 1
