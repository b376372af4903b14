"""Decommissioning a charger (« mise hors service définitive »): service, API, portal, CLI.

CCTP CPAM article 1: « Le déploiement des IRVE comprendra la fourniture, l'installation,
la mise en service et la maintenance des IRVE et le retrait le cas échéant. » A retired
charger can no longer connect, leaves the station lists, and keeps its history (CCTP
6-1: every datum is returned at reversibility). Stations are the ``ocpp`` library's own
ChargePoint over a real socket; the web app is served for real in the ingress's event
loop, on the ingress's bus, as ``centrale serve`` does (the socket is closed through it).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.stores.memory import MemoryStore
from ocpp.v16 import call
from sqlalchemy import func, select
from websockets.exceptions import InvalidStatus

from app.audit import AuditEvent, PlatformAuditEvent
from app.db import Database, utcnow
from app.errors import ValidationFailed
from csms.domain import alerts, registry, stats
from csms.domain.models import Alert, Badge, ChargeBoxRoute, Charger, ConnectionLog, Reservation
from csms.web import supervision as portal
from tests.csms.conftest import MEMBER_PASSWORD
from tests.csms.test_commands_web import serve_web

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ACTOR = {"user_id": None, "label": "test"}
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
async def web(settings, db, fleet, people, ingress) -> AsyncIterator[str]:
    """The web app on a real socket, sharing the ingress's bus (embedded mode); yields its base URL."""
    from app.web import create_app

    web_db = Database(settings.database_url, pool_size=2)
    app = create_app(settings, db=web_db, stores={"sessions": MemoryStore(), "throttle": MemoryStore()},
                     bus=ingress.bus)
    async with serve_web(app) as url:
        yield url


async def sign_in(http: httpx.AsyncClient, email: str) -> None:
    http.cookies.clear()
    page = await http.get("/connexion")
    response = await http.post("/connexion", data={"email": email, "password": MEMBER_PASSWORD,
                                                   "_csrf_token": CSRF.search(page.text).group(1)})
    assert response.status_code in (302, 303), response.text[:300]


async def charger_row(db, tenant_id, charge_box_id: str) -> Charger:
    async with db.session([tenant_id]) as session:
        return await registry.find_charger_in_tenant(session, tenant_id, charge_box_id)


async def route_of(db, charge_box_id: str) -> ChargeBoxRoute | None:
    async with db.session() as session:
        return await session.get(ChargeBoxRoute, charge_box_id)


async def charger_audit(db, tenant_id, charger_id) -> list[AuditEvent]:
    async with db.session([tenant_id]) as session:
        return list(await session.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.entity == "chargers",
                                     AuditEvent.entity_id == str(charger_id), AuditEvent.action == "update")
            .order_by(AuditEvent.at)))


async def disconnected(ingress, charge_box_id: str) -> dict[str, Any]:
    [event] = await ingress.events.wait("station.disconnected", lambda p: p["charge_box_id"] == charge_box_id)
    return event


async def connection_reasons(db, tenant_id, charger_id) -> list[tuple[str, int | None]]:
    async with db.session([tenant_id]) as session:
        rows = await session.scalars(select(ConnectionLog).where(
            ConnectionLog.tenant_id == tenant_id, ConnectionLog.charger_id == charger_id).order_by(ConnectionLog.connected_at))
        return [(row.reason, row.close_code) for row in rows]


# --------------------------------------------------------------------------- the service


@pytest.mark.parametrize("backend", BOTH)
async def test_decommission_closes_alerts_cancels_reservations_frees_the_route_and_is_audited(db, fleet):
    registered = fleet.chargers["CPAM-LM-01"]
    now = utcnow()
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        session.add(Alert(tenant_id=fleet.cpam, charger_id=registered.charger_id, connector_id=1, kind="faulted",
                          status="Faulted", error_code="GroundFailure", opened_at=now - dt.timedelta(hours=1),
                          detected_at=now - dt.timedelta(hours=1)))
        badge = await session.scalar(select(Badge).where(Badge.tenant_id == fleet.cpam, Badge.id_tag == "BADGE-OK"))
        [point, _] = await registry.list_charge_points(session, fleet.cpam, registered.charger_id)
        session.add(Reservation(tenant_id=fleet.cpam, charger_id=registered.charger_id, charge_point_id=point.id,
                                connector_id=1, badge_id=badge.id, id_tag="BADGE-OK", ocpp_reservation_id=1,
                                starts_at=now + dt.timedelta(hours=1), ends_at=now + dt.timedelta(hours=2),
                                status="scheduled"))

    # An empty reason is refused and changes nothing.
    for empty in ("", "   \n "):
        async with db.transaction([fleet.cpam], actor=ACTOR) as session:
            charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-01")
            with pytest.raises(ValidationFailed) as caught:
                await registry.decommission_charger(session, fleet.cpam, charger, empty)
        assert caught.value.errors == {"reason": "Indiquez le motif de la mise hors service définitive."}
    assert (await charger_row(db, fleet.cpam, "CPAM-LM-01")).decommissioned_at is None
    assert await route_of(db, "CPAM-LM-01") is not None
    assert await charger_audit(db, fleet.cpam, registered.charger_id) == []

    async with db.transaction([fleet.cpam], actor={"user_id": None, "label": "technicien du titulaire"}) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-01")
        done = await registry.decommission_charger(session, fleet.cpam, charger, "  Borne déposée,\n remplacée  ")
    assert [(c.topic, c.payload["kind"], c.payload["connector_id"]) for c in done.alert_changes] == [
        (alerts.TOPIC_CLOSED, "faulted", 1)]
    assert done.cancelled_reservations == 1

    charger = await charger_row(db, fleet.cpam, "CPAM-LM-01")  # the row and its history stay
    assert charger.decommissioned_at is not None and charger.decommission_reason == "Borne déposée, remplacée"
    assert await route_of(db, "CPAM-LM-01") is None  # the ingress no longer finds it: 404 at the handshake
    async with db.session([fleet.cpam]) as session:
        alert = await session.scalar(select(Alert).where(Alert.charger_id == registered.charger_id))
        assert alert.closed_at == charger.decommissioned_at and alert.close_reason == "decommissioned"
        reservation = await session.scalar(select(Reservation).where(Reservation.charger_id == registered.charger_id))
        assert reservation.status == "cancelled"
        assert "mise hors service définitivement" in reservation.cancel_reason
        cancelled_audit = await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.entity == "reservations", AuditEvent.action == "update"))
        assert cancelled_audit == 1
    # Audited like every registry edit: who, before / after.
    [audit] = await charger_audit(db, fleet.cpam, registered.charger_id)
    assert audit.actor_label == "technicien du titulaire"
    assert audit.before == {"decommissioned_at": None, "decommission_reason": ""}
    assert audit.after["decommission_reason"] == "Borne déposée, remplacée" and audit.after["decommissioned_at"]
    async with db.session() as session:
        [route_audit] = list(await session.scalars(select(PlatformAuditEvent).where(
            PlatformAuditEvent.entity == "charge_box_routes", PlatformAuditEvent.action == "delete")))
    assert route_audit.before["charge_box_id"] == "CPAM-LM-01" and route_audit.actor_label == "technicien du titulaire"

    # Twice: refused, nothing changes.
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-01")
        with pytest.raises(registry.AlreadyDecommissioned) as caught:
            await registry.decommission_charger(session, fleet.cpam, charger, "encore")
    assert "a déjà été mise hors service le" in caught.value.errors["charge_box_id"]
    assert len(await charger_audit(db, fleet.cpam, registered.charger_id)) == 1
    # No more edits, whatever form is posted: refused, nothing changes.
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-01")
        with pytest.raises(registry.AlreadyDecommissioned, match="ne peut plus être modifiée"):
            await registry.update_charger(session, fleet.cpam, charger, {"lenient": True})
        with pytest.raises(registry.AlreadyDecommissioned, match="ne peut plus être modifiée"):
            await registry.reset_station_password(session, charger)
    charger = await charger_row(db, fleet.cpam, "CPAM-LM-01")
    assert charger.lenient is False
    assert len(await charger_audit(db, fleet.cpam, registered.charger_id)) == 1


async def test_a_retired_charger_leaves_the_fleet_the_alert_sweep_and_later_reports(db, fleet):
    now = utcnow()
    long_ago = now - dt.timedelta(days=2)
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        for cbid in ("CPAM-LM-01", "CPAM-LM-02"):  # both went offline two days ago
            session.add(ConnectionLog(tenant_id=fleet.cpam, charger_id=fleet.chargers[cbid].charger_id,
                                      connected_at=long_ago - dt.timedelta(hours=1), disconnected_at=long_ago,
                                      reason="connection_lost", node="test"))
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-01")
        await registry.decommission_charger(session, fleet.cpam, charger, "Retirée", now=now)
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        changes = await alerts.sweep_tenant(session, fleet.cpam, now=now, threshold=dt.timedelta(minutes=15))
        fleet_view = await portal.load_fleet(session, fleet.cpam, now=now)
        in_service = await registry.list_chargers(session, fleet.cpam)
        retired = await registry.list_chargers(session, fleet.cpam, decommissioned=True)
        before = await stats.usage_by_point(session, fleet.cpam, now - dt.timedelta(days=1), now, now=now)
        after = await stats.usage_by_point(session, fleet.cpam, now + dt.timedelta(hours=1),
                                           now + dt.timedelta(days=1), now=now)
    # The sweep opens the offline alert of the charger in service, never the retired one's.
    assert [(c.topic, c.payload["charge_box_id"]) for c in changes] == [(alerts.TOPIC_OPENED, "CPAM-LM-02")]
    shown = [c.charger.charge_box_id for s in fleet_view for st in s.stations for c in st.chargers]
    assert shown == ["CPAM-LM-02", "CPAM-LM-201"]  # the portal lists and the agents' view
    assert [c.charge_box_id for c in in_service] == ["CPAM-LM-02", "CPAM-LM-201"]
    assert [c.charge_box_id for c in retired] == ["CPAM-LM-01"]
    # Reports of a period when it was in service keep its points; later periods leave them out.
    assert fleet.chargers["CPAM-LM-01"].points[0] in {u.canonical_id for u in before}
    assert fleet.chargers["CPAM-LM-01"].points[0] not in {u.canonical_id for u in after}
    assert fleet.chargers["CPAM-LM-02"].points[0] in {u.canonical_id for u in after}


@pytest.mark.parametrize("backend", BOTH)
async def test_a_retired_id_is_free_in_another_tenant_not_in_its_own(db, fleet, ingress, stations, password_hash):
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-02")
        await registry.decommission_charger(session, fleet.cpam, charger, "Déposée")
    # Same tenant: the row keeps (tenant_id, charge_box_id); a French message, not an IntegrityError.
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        with pytest.raises(ValidationFailed) as caught:
            await registry.register_charger(session, fleet.cpam, {"charge_box_id": "CPAM-LM-02",
                                                                  "password": stations.password})
    message = caught.value.errors["charge_box_id"]
    assert message.startswith(f"Cette borne a été mise hors service le {utcnow():%d/%m/%Y} (UTC) ; ")
    assert "identifiant non réutilisable dans ce locataire" in message
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        with pytest.raises(registry.ImportFailed) as imported:
            await registry.import_fleet(session, fleet.cpam, f"charge_box_id;mot_de_passe\nCPAM-LM-02;{stations.password}\n")
    assert "identifiant non réutilisable dans ce locataire" in imported.value.errors[2][0]
    with pytest.raises(InvalidStatus) as refused:
        await stations.socket("CPAM-LM-02")
    assert refused.value.response.status_code == 404

    # Another tenant takes the id (the route is free), and the station now connects there.
    async with db.transaction([fleet.other], actor=ACTOR) as session:
        taken = await registry.register_charger(session, fleet.other, {"charge_box_id": "CPAM-LM-02",
                                                                       "password": stations.password},
                                                password_hash=password_hash)
    assert (await route_of(db, "CPAM-LM-02")).tenant_id == fleet.other
    async with stations.connect("CPAM-LM-02") as (cp, wire):
        await cp.call(call.Heartbeat(), unique_id="hb")
        assert wire.answer("hb")[0] == 3
    async with db.session([fleet.other]) as session:
        assert await session.scalar(select(func.count()).select_from(ConnectionLog).where(
            ConnectionLog.charger_id == taken.charger_id)) == 1
    async with db.session([fleet.cpam]) as session:  # the retired one saw nothing of it
        retired = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-02")
        assert retired.decommissioned_at is not None
        assert await session.scalar(select(func.count()).select_from(ConnectionLog).where(
            ConnectionLog.charger_id == retired.id)) == 0


# --------------------------------------------------------------------------- API


@pytest.mark.parametrize("backend", BOTH)
async def test_api_decommission_closes_the_socket_hides_the_station_and_keeps_its_history(
    db, fleet, people, api_token, ingress, stations, web,
):
    admin, viewer = await api_token("admin@cpam-bornes.demo"), await api_token("visu@cpam-bornes.demo")
    vlb = await api_token("admin@vlb-bornes.demo")
    url = "/api/v1/stations/CPAM-LM-01/decommission"
    start = utcnow() - dt.timedelta(minutes=30)
    async with httpx.AsyncClient(base_url=web, timeout=30) as http:
        async with stations.connect("CPAM-LM-01") as (cp, wire):
            await cp.call(call.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=1000, timestamp=ts(start)))
            await cp.call(call.StopTransaction(meter_stop=8500, timestamp=ts(start + dt.timedelta(minutes=20)),
                                               transaction_id=1, reason="EVDisconnected"))
            # Tenant wall: another tenant's token gets 404, as for an id that does not exist.
            for headers, box in ((vlb, "CPAM-LM-01"), (admin, "VLB-01"), (admin, "NO-SUCH-BOX")):
                other = await http.post(f"/api/v1/stations/{box}/decommission", headers=headers, json={"reason": "x"})
                assert other.status_code == 404, (box, other.text)
                assert other.headers["content-type"].startswith("application/problem+json")
            # A viewer reads the station but may not retire it.
            assert (await http.post(url, headers=viewer, json={"reason": "x"})).status_code == 403
            # An empty reason: 422 with a French message, nothing changes.
            empty = await http.post(url, headers=admin, json={"reason": "  "})
            assert empty.status_code == 422
            assert empty.json()["errors"]["reason"] == "Indiquez le motif de la mise hors service définitive."
            assert "CPAM-LM-01" in ingress.registry and (await route_of(db, "CPAM-LM-01")) is not None

            done = await http.post(url, headers=admin, json={"reason": "Borne déposée : remplacée par LM-05"})
            assert done.status_code == 200, done.text
            body = done.json()
            assert (body["charge_box_id"], body["canonical_id"], body["decommission_reason"]) == (
                "CPAM-LM-01", "FR72181B0001010100", "Borne déposée : remplacée par LM-05")
            assert body["decommissioned_at"] is not None
            # The live socket is closed normally, with the reason, and the disconnection recorded as such.
            gone = await disconnected(ingress, "CPAM-LM-01")
            await wire.ws.wait_closed()
            assert (wire.ws.close_code, wire.ws.close_reason) == (1000, "décommissionnée")
        assert (gone["reason"], gone["close_code"]) == ("decommissioned", 1000)
        assert (await connection_reasons(db, fleet.cpam, fleet.chargers["CPAM-LM-01"].charger_id)) == [
            ("decommissioned", 1000)]
        # It can never connect again: refused at the handshake like an unknown id.
        with pytest.raises(InvalidStatus) as refused:
            await stations.socket("CPAM-LM-01")
        assert refused.value.response.status_code == 404

        listed = (await http.get("/api/v1/stations", headers=admin)).json()
        assert [s["charge_box_id"] for s in listed["items"]] == ["CPAM-LM-02", "CPAM-LM-201"]
        assert listed["total"] == 2
        retired = (await http.get("/api/v1/stations?decommissioned=true", headers=admin)).json()
        assert [(s["charge_box_id"], s["decommission_reason"]) for s in retired["items"]] == [
            ("CPAM-LM-01", "Borne déposée : remplacée par LM-05")]
        single = await http.get("/api/v1/stations/CPAM-LM-01", headers=admin)
        assert single.status_code == 200
        assert single.json()["decommissioned_at"] == body["decommissioned_at"]
        assert single.json()["uptime"]["connections"] == 1  # its connection log is kept
        txs = (await http.get("/api/v1/transactions?charge_box_id=CPAM-LM-01", headers=admin)).json()
        assert [(t["ocpp_transaction_id"], t["energy_wh"]) for t in txs["items"]] == [("1", 7500)]
        detail = await http.get(f"/api/v1/transactions/{txs['items'][0]['id']}", headers=admin)
        assert detail.status_code == 200

        again = await http.post(url, headers=admin, json={"reason": "encore"})
        assert again.status_code == 409
        assert again.json()["title"] == "Borne déjà mise hors service"
        assert "a déjà été mise hors service le" in again.json()["errors"]["charge_box_id"]
        assert (await http.get("/api/v1/stations/CPAM-LM-01", headers=vlb)).status_code == 404
        assert (await http.get("/api/v1/stations?decommissioned=true", headers=vlb)).json()["total"] == 0
    [audit] = await charger_audit(db, fleet.cpam, fleet.chargers["CPAM-LM-01"].charger_id)
    assert audit.actor_label == "admin@cpam-bornes.demo (API)"
    assert audit.after["decommission_reason"] == "Borne déposée : remplacée par LM-05"


async def test_openapi_documents_the_decommission_route_in_french(client):
    schema = (await client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/api/v1/stations/{charge_box_id}/decommission"]["post"]
    assert operation["summary"] == "Mettre une borne hors service définitivement"
    assert operation["tags"] == ["Bornes"]
    assert {"200", "403", "404", "409", "422"} <= set(operation["responses"])
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/StationOut"}
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StationDecommission"}
    schemas = schema["components"]["schemas"]
    assert schemas["StationDecommission"]["required"] == ["reason"]
    assert {"decommissioned_at", "decommission_reason"} <= set(schemas["StationOut"]["properties"])
    listing = schema["paths"]["/api/v1/stations"]["get"]
    assert "decommissioned" in [p["name"] for p in listing["parameters"]]


# --------------------------------------------------------------------------- portal


async def test_portal_form_decommissions_with_reason_and_confirmation(db, fleet, people, ingress, stations, web):
    base = f"/t/{fleet.cpam}/bornes"
    edit, action = f"{base}/CPAM-LM-02/modifier", f"{base}/CPAM-LM-02/hors-service"
    form = {"reason": "Borne vandalisée, déposée", "confirm": "1"}
    charger_id = fleet.chargers["CPAM-LM-02"].charger_id

    async def unchanged() -> None:
        assert (await charger_row(db, fleet.cpam, "CPAM-LM-02")).decommissioned_at is None
        assert await route_of(db, "CPAM-LM-02") is not None

    async with httpx.AsyncClient(base_url=web, timeout=30) as http:
        # Another tenant's administrator: 404 on both paths, even with a valid CSRF token.
        await sign_in(http, "admin@vlb-bornes.demo")
        token = CSRF.search((await http.get(f"/t/{fleet.other}/bornes")).text).group(1)
        for url in (action, f"/t/{fleet.other}/bornes/CPAM-LM-02/hors-service"):
            assert (await http.post(url, data={**form, "_csrf_token": token})).status_code == 404, url
        await unchanged()
        # A viewer: 403.
        await sign_in(http, "visu@cpam-bornes.demo")
        token = CSRF.search((await http.get(base)).text).group(1)
        assert (await http.post(action, data={**form, "_csrf_token": token})).status_code == 403
        await unchanged()

        await sign_in(http, "admin@cpam-bornes.demo")
        page = await http.get(edit)
        assert page.status_code == 200
        assert "Mettre hors service définitivement" in page.text and f'action="{action}"' in page.text
        token = CSRF.search(page.text).group(1)
        # Without the CSRF token: refused.
        assert (await http.post(action, data=form)).status_code == 403
        await unchanged()
        # Without a reason, or without the confirmation: the form again, in French; nothing changes.
        no_reason = await http.post(action, data={"reason": " ", "confirm": "1", "_csrf_token": token})
        assert no_reason.status_code == 422
        assert 'id="e-reason">Indiquez le motif de la mise hors service définitive.' in no_reason.text
        no_confirm = await http.post(action, data={"reason": "Déposée", "_csrf_token": token})
        assert no_confirm.status_code == 422
        assert "Cochez la case pour confirmer la mise hors service définitive." in no_confirm.text
        assert 'value="Déposée"' in no_confirm.text  # what was typed is kept
        await unchanged()

        async with stations.connect("CPAM-LM-02") as (cp, wire):
            await cp.call(call.Heartbeat())
            done = await http.post(action, data={**form, "_csrf_token": token})
            assert done.status_code == 303
            assert done.headers["location"] == f"{base}/CPAM-LM-02"
            gone = await disconnected(ingress, "CPAM-LM-02")
            await wire.ws.wait_closed()
            assert wire.ws.close_code == 1000
        assert gone["reason"] == "decommissioned"
        assert await connection_reasons(db, fleet.cpam, charger_id) == [("decommissioned", 1000)]

        detail = await http.get(done.headers["location"])
        assert detail.status_code == 200
        assert "mise hors service définitivement : elle ne peut plus se connecter" in detail.text  # the flash
        assert "Borne vandalisée, déposée" in detail.text and "Commandes à distance" not in detail.text
        assert "borne mise hors service" in detail.text  # its connection log, kept, with the reason
        listed = await http.get(base)
        assert 'id="borne-CPAM-LM-02"' not in listed.text and 'id="borne-CPAM-LM-01"' in listed.text
        assert f'href="{base}?decommissionnees=1">Bornes mises hors service</a> (1)' in listed.text
        retired = await http.get(f"{base}?decommissionnees=1")
        assert retired.status_code == 200
        assert 'id="borne-CPAM-LM-02"' in retired.text and "Borne vandalisée, déposée" in retired.text
        assert 'id="borne-CPAM-LM-01"' not in retired.text
        # The edit page now only says so; posting again changes nothing.
        assert "Je confirme" not in (await http.get(edit)).text
        again = await http.post(action, data={**form, "_csrf_token": token})
        assert again.status_code == 422 and "a déjà été mise hors service le" in again.text
        # Another tenant never sees the list of retired chargers either.
        await sign_in(http, "admin@vlb-bornes.demo")
        assert (await http.get(f"{base}?decommissionnees=1")).status_code == 404
        assert "CPAM-LM-02" not in (await http.get(f"/t/{fleet.other}/bornes?decommissionnees=1")).text
    [audit] = await charger_audit(db, fleet.cpam, charger_id)
    assert audit.actor_label.startswith("admin@cpam-bornes.demo")
    assert audit.after["decommission_reason"] == "Borne vandalisée, déposée"


# --------------------------------------------------------------------------- CLI


async def test_cli_decommission(centrale, db, fleet):
    command = ("stations", "decommission", "--tenant", str(fleet.cpam), "--charge-box-id")
    empty = await centrale(*command, "CPAM-LM-201", "--reason", "  ", "--json")
    assert empty.exit_code == 2
    assert json.loads(empty.stderr)["errors"]["reason"] == "Indiquez le motif de la mise hors service définitive."
    assert await route_of(db, "CPAM-LM-201") is not None

    out = await centrale(*command, "CPAM-LM-201", "--reason", "Remplacée par une 22 kW", "--json")
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert (payload["charge_box_id"], payload["canonical_id"], payload["decommission_reason"]) == (
        "CPAM-LM-201", fleet.chargers["CPAM-LM-201"].canonical_id, "Remplacée par une 22 kW")
    assert payload["socket_closed"] is False  # it was not connected
    assert await route_of(db, "CPAM-LM-201") is None
    charger = await charger_row(db, fleet.cpam, "CPAM-LM-201")
    assert charger.decommissioned_at.isoformat() == payload["decommissioned_at"]
    [audit] = await charger_audit(db, fleet.cpam, charger.id)
    assert audit.actor_label == "cli"

    again = await centrale(*command, "CPAM-LM-201", "--reason", "encore")
    assert again.exit_code == 2 and "a déjà été mise hors service le" in again.stderr
    # Another tenant's charger is not found from this tenant.
    other = await centrale(*command, "VLB-01", "--reason", "intrus")
    assert other.exit_code == 1 and "introuvable" in other.output
    assert await route_of(db, "VLB-01") is not None
