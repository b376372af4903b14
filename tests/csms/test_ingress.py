"""The OCPP 1.6J ingress over a real socket, with the ``ocpp`` library's ChargePoint as the station.

DESIGN.md « OCPP ingress rules »; CCTP CPAM 5-5 (supervision, communication cuts,
offline data) and 5-5-5-3 (RFID badges). Tests assert the frames on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from typing import Any

import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Station16
from ocpp.v16 import call
from ocpp.v16 import call_result as station_result
from sqlalchemy import func, select
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.db import utcnow
from csms.domain import recording as supervision
from csms.domain import registry
from csms.domain.models import (
    ChargePoint,
    Charger,
    ConnectionLog,
    MeterValue,
    StationEvent,
    StatusEvent,
    Transaction,
)
from csms.ingress.server import StationNotConnected

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class Now:
    """Matches an OCPP timestamp (``...Z``) within a few seconds of now."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str) or not other.endswith("Z"):
            return False
        moment = dt.datetime.fromisoformat(other.replace("Z", "+00:00"))
        return abs((utcnow() - moment).total_seconds()) < 10

    def __repr__(self) -> str:
        return "<now>"


NOW = Now()


def ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def counts(db, tenant_id) -> dict[str, int]:
    async with db.session([tenant_id]) as session:
        out = {}
        for model in (StatusEvent, StationEvent, Transaction, MeterValue):
            out[model.__tablename__] = await session.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == tenant_id))
        return out


async def charger_row(db, fleet, charge_box_id) -> Charger:
    async with db.session([fleet.cpam]) as session:
        return await registry.find_charger_in_tenant(session, fleet.cpam, charge_box_id)


# --------------------------------------------------------------------------- handshake


async def test_handshake_refuses_unknown_ids_with_404_and_bad_passwords_with_401(ingress, stations):
    with pytest.raises(InvalidStatus) as caught:
        await stations.socket("NOT-REGISTERED")
    assert caught.value.response.status_code == 404
    assert caught.value.response.body.decode() == "Borne inconnue.\n"
    with pytest.raises(InvalidStatus) as caught:
        await stations.socket("CPAM-LM-01", password="Wrong-password-123456")
    assert caught.value.response.status_code == 401
    assert caught.value.response.headers["WWW-Authenticate"].startswith("Basic ")
    # Right password, but presented for another identity.
    with pytest.raises(InvalidStatus) as caught:
        from websockets.asyncio.client import connect

        await connect(f"ws://127.0.0.1:{stations.port}/ocpp/CPAM-LM-01", subprotocols=["ocpp1.6"],
                      additional_headers=stations.basic_auth("CPAM-LM-02", stations.password))
    assert caught.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as caught:
        await connect(f"ws://127.0.0.1:{stations.port}/ocpp/CPAM-LM-01", subprotocols=["ocpp1.6"])
    assert caught.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as caught:
        await connect(f"ws://127.0.0.1:{stations.port}/autre/CPAM-LM-01", subprotocols=["ocpp1.6"])
    assert caught.value.response.status_code == 404
    # A strict station must offer ocpp1.6 or ocpp2.0.1; a lenient one is spoken to in 1.6.
    with pytest.raises(InvalidStatus) as caught:
        await stations.socket("CPAM-LM-01", protocol="")
    assert caught.value.response.status_code == 400
    ws = await stations.socket("CPAM-LM-02", protocol="")
    assert ws.subprotocol is None
    await ws.send(json.dumps([2, "hb", "Heartbeat", {}]))
    assert json.loads(await ws.recv()) == [3, "hb", {"currentTime": NOW}]
    await ws.close()
    assert len(ingress.registry) in (0, 1)


# --------------------------------------------------------------------------- boot, heartbeat, status


async def test_boot_heartbeat_and_status_are_answered_and_recorded(db, fleet, ingress, stations):
    async with stations.connect("CPAM-LM-01") as (cp, wire):
        await cp.call(call.BootNotification(
            charge_point_vendor="Schneider", charge_point_model="EVlink Pro AC", firmware_version="3.4.0.12",
            charge_point_serial_number="EVB1A22P4KI3N", iccid="89330123456789012345",
        ), unique_id="boot-1")
        assert wire.answer("boot-1") == [3, "boot-1", {"currentTime": NOW, "interval": 300, "status": "Accepted"}]
        await cp.call(call.Heartbeat(), unique_id="hb-1")
        assert wire.answer("hb-1") == [3, "hb-1", {"currentTime": NOW}]
        at = utcnow()
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging",
                                              timestamp=ts(at)), unique_id="st-1")
        await cp.call(call.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted",
                                              timestamp=ts(at), vendor_error_code="E42"), unique_id="st-2")
        await cp.call(call.StatusNotification(connector_id=0, error_code="NoError", status="Available"), unique_id="st-0")
        # An older status (offline data) goes to the history but does not overwrite the current state.
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available",
                                              timestamp=ts(at - dt.timedelta(hours=1))), unique_id="st-old")
        assert [wire.answer(u) for u in ("st-1", "st-2", "st-0", "st-old")] == [
            [3, "st-1", {}], [3, "st-2", {}], [3, "st-0", {}], [3, "st-old", {}]]
    charger = await charger_row(db, fleet, "CPAM-LM-01")
    assert (charger.vendor, charger.model, charger.firmware_version, charger.serial_number) == (
        "Schneider", "EVlink Pro AC", "3.4.0.12", "EVB1A22P4KI3N")
    assert charger.registration_status == "Accepted" and charger.protocol == "ocpp1.6"
    assert charger.last_status == "Available" and charger.last_seen_at is not None
    async with db.session([fleet.cpam]) as session:
        points = {p.connector_id: p for p in await registry.list_charge_points(session, fleet.cpam, charger.id)}
        assert (points[1].last_status, points[2].last_status, points[2].last_error_code) == (
            "Charging", "Faulted", "GroundFailure")
        history = list(await session.scalars(select(StatusEvent).where(StatusEvent.charger_id == charger.id)
                                             .order_by(StatusEvent.received_at)))
        assert [(h.connector_id, h.status, h.offline) for h in history] == [
            (1, "Charging", False), (2, "Faulted", False), (0, "Available", False), (1, "Available", True)]
        assert history[1].vendor_error_code == "E42"
        boot = await session.scalar(select(StationEvent).where(StationEvent.charger_id == charger.id,
                                                               StationEvent.kind == "boot"))
        assert "Schneider EVlink Pro AC" in boot.message
    statuses = await ingress.events.wait("station.status", count=4)
    assert [(e["connector_id"], e["status"], e["current"]) for e in statuses] == [
        (1, "Charging", True), (2, "Faulted", True), (0, "Available", True), (1, "Available", False)]
    assert statuses[0]["point_canonical_id"] == "FR72181P0001010101"
    assert statuses[0]["tenant_id"] == str(fleet.cpam)


# --------------------------------------------------------------------------- authorization


async def test_authorize_answers_from_the_tenants_badges(fleet, ingress, stations):
    # CCTP CPAM 5-5-5-3: « gestion d'accès à la charge par badge RFID ».
    async with stations.connect("CPAM-LM-01") as (cp, wire):
        expected = {"BADGE-OK": "Accepted", "badge-ok": "Accepted", "BADGE-BLOCKED": "Blocked",
                    "BADGE-OLD": "Expired", "UNKNOWN-TAG": "Invalid", "BADGE-VLB": "Invalid"}
        for index, id_tag in enumerate(expected):
            await cp.call(call.Authorize(id_tag=id_tag), unique_id=f"auth-{index}")
        assert [wire.answer(f"auth-{i}") for i in range(len(expected))] == [
            [3, f"auth-{i}", {"idTagInfo": {"status": status}}] for i, status in enumerate(expected.values())]


# --------------------------------------------------------------------------- transactions


def meter(at: dt.datetime, wh: int, context: str = "Sample.Periodic") -> dict[str, Any]:
    return {"timestamp": ts(at), "sampled_value": [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": context},
        {"value": "7200.5", "measurand": "Power.Active.Import", "unit": "W", "context": context},
    ]}


@pytest.mark.parametrize("backend", BOTH)
async def test_a_whole_transaction_with_replays_counted_once(db, fleet, ingress, stations):
    start = utcnow().replace(microsecond=0) - dt.timedelta(minutes=2)
    async with stations.connect("CPAM-LM-01") as (cp, wire):
        started = call.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=1000, timestamp=ts(start))
        await cp.call(started, unique_id="start-1")
        assert wire.answer("start-1") == [3, "start-1", {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}]
        async with db.session([fleet.cpam]) as session:  # committed before the answer
            assert await session.scalar(select(func.count()).select_from(Transaction)) == 1
        await cp.call(call.MeterValues(connector_id=1, transaction_id=1, meter_value=[
            meter(start + dt.timedelta(minutes=1), 4000)]), unique_id="mv-1")
        assert wire.answer("mv-1") == [3, "mv-1", {}]
        # The station lost the answers and replays (same payloads, new message ids).
        await cp.call(started, unique_id="start-2")
        assert wire.answer("start-2") == [3, "start-2", {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}]
        await cp.call(call.MeterValues(connector_id=1, transaction_id=1, meter_value=[
            meter(start + dt.timedelta(minutes=1), 4000)]), unique_id="mv-2")
        stop = call.StopTransaction(meter_stop=8500, timestamp=ts(start + dt.timedelta(minutes=2)), transaction_id=1,
                                    reason="EVDisconnected", id_tag="BADGE-OK",
                                    transaction_data=[meter(start + dt.timedelta(minutes=2), 8500, "Transaction.End")])
        await cp.call(stop, unique_id="stop-1")
        assert wire.answer("stop-1") == [3, "stop-1", {"idTagInfo": {"status": "Accepted"}}]
        await cp.call(stop, unique_id="stop-2")
        assert wire.answer("stop-2") == [3, "stop-2", {"idTagInfo": {"status": "Accepted"}}]
        # A second transaction gets the next id.
        await cp.call(call.StartTransaction(connector_id=2, id_tag="BADGE-BLOCKED", meter_start=0,
                                            timestamp=ts(utcnow())), unique_id="start-3")
        assert wire.answer("start-3") == [3, "start-3", {"transactionId": 2, "idTagInfo": {"status": "Blocked"}}]
    async with db.session([fleet.cpam]) as session:
        rows = await registry.list_transactions(session, fleet.cpam)
        assert len(rows) == 2
        first = rows[0]
        assert (first.ocpp_transaction_id, first.status, first.connector_id, first.id_tag) == ("1", "completed", 1, "BADGE-OK")
        assert (first.meter_start, first.meter_stop, first.energy_wh, first.stop_reason) == (1000, 8500, 7500, "EVDisconnected")
        assert first.started_at == start and first.offline is False and first.badge_id is not None
        samples = list(await session.scalars(select(MeterValue).where(MeterValue.transaction_id == first.id)
                                             .order_by(MeterValue.sampled_at, MeterValue.measurand)))
        assert [(s.measurand, s.value, s.context) for s in samples] == [
            ("Energy.Active.Import.Register", 4000.0, "Sample.Periodic"), ("Power.Active.Import", 7200.5, "Sample.Periodic"),
            ("Energy.Active.Import.Register", 8500.0, "Transaction.End"), ("Power.Active.Import", 7200.5, "Transaction.End")]
        assert rows[1].ocpp_transaction_id == "2" and rows[1].id_tag_status == "Blocked"
    started_events = await ingress.events.wait("transaction.started", count=2)
    stopped_events = await ingress.events.wait("transaction.stopped")
    assert [e["transaction_id"] for e in started_events] == [1, 2]
    assert len(stopped_events) == 1 and stopped_events[0]["energy_wh"] == 7500


@pytest.mark.parametrize("backend", BOTH)
async def test_offline_data_is_accepted_and_flagged_and_unknown_stops_are_kept(db, fleet, ingress, stations):
    # CCTP CPAM 5-5: « faire remonter et traiter les informations qui auraient été stockées au niveau
    # d'une IRVE à l'occasion d'une coupure de la communication ».
    earlier = utcnow().replace(microsecond=0) - dt.timedelta(hours=3)
    async with stations.connect("CPAM-LM-01") as (cp, wire):
        await cp.call(call.StartTransaction(connector_id=2, id_tag="BADGE-OK", meter_start=500, timestamp=ts(earlier)),
                      unique_id="s")
        assert wire.answer("s") == [3, "s", {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}]
        await cp.call(call.MeterValues(connector_id=2, transaction_id=1, meter_value=[
            meter(earlier + dt.timedelta(minutes=5), 900)]), unique_id="m")
        await cp.call(call.StopTransaction(meter_stop=2500, timestamp=ts(earlier + dt.timedelta(hours=1)),
                                           transaction_id=1), unique_id="e")
        assert wire.answer("e") == [3, "e", {}]
        # A stop for a transactionId we never handed out: recorded as an orphan, not lost; counted once.
        orphan = call.StopTransaction(meter_stop=99000, timestamp=ts(earlier), transaction_id=4242, reason="PowerLoss")
        await cp.call(orphan, unique_id="o1")
        await cp.call(orphan, unique_id="o2")
        assert wire.answer("o1") == [3, "o1", {}] and wire.answer("o2") == [3, "o2", {}]
        # The counter skips ids already taken by orphans.
        charger = await charger_row(db, fleet, "CPAM-LM-01")
    async with db.session([fleet.cpam]) as session:
        rows = {t.ocpp_transaction_id: t for t in await registry.list_transactions(session, fleet.cpam)}
        assert set(rows) == {"1", "4242"}
        assert rows["1"].offline is True and rows["1"].status == "completed" and rows["1"].energy_wh == 2000
        assert rows["4242"].status == "orphan" and rows["4242"].meter_stop == 99000
        assert rows["4242"].stop_reason == "PowerLoss" and rows["4242"].started_at is None
        samples = list(await session.scalars(select(MeterValue).where(MeterValue.charger_id == charger.id)))
        assert samples and all(s.offline for s in samples)
    stopped = await ingress.events.wait("transaction.stopped", count=2)
    assert [(e["transaction_id"], e["orphan"], e["offline"]) for e in stopped] == [(1, False, True), (4242, True, True)]


@pytest.mark.parametrize("backend", BOTH)
async def test_nothing_is_acknowledged_before_it_is_committed(settings, db, admin_db, fleet, ingress, stations, backend):
    """A failed commit gives the station an error, not an answer; its retry then succeeds."""
    from sqlalchemy import text

    async with admin_db.engine.begin() as conn:
        if backend == "sqlite":
            await conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON charging_transactions "
                                    "BEGIN SELECT RAISE(ABORT, 'disque plein'); END"))
        else:
            await conn.execute(text(f"REVOKE INSERT ON charging_transactions FROM {settings.database_app_role}"))
    start = call.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=10, timestamp=ts(utcnow()))
    async with stations.connect("CPAM-LM-01") as (cp, wire):
        with pytest.raises(Exception):  # noqa: B017 - the library raises the CallError as an exception
            await cp.call(start, unique_id="try-1", suppress=False)
        assert wire.answer("try-1") == [4, "try-1", "InternalError", "An unexpected error occurred.", {}]
        assert (await counts(db, fleet.cpam))["charging_transactions"] == 0
        async with admin_db.engine.begin() as conn:
            if backend == "sqlite":
                await conn.execute(text("DROP TRIGGER refuse"))
            else:
                await conn.execute(text(f"GRANT INSERT ON charging_transactions TO {settings.database_app_role}"))
        await cp.call(start, unique_id="try-2")
        assert wire.answer("try-2") == [3, "try-2", {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}]
    assert (await counts(db, fleet.cpam))["charging_transactions"] == 1


# --------------------------------------------------------------------------- bad frames


async def _raw(ws, frame: str) -> Any:
    await ws.send(frame)
    return json.loads(await asyncio.wait_for(ws.recv(), 30))


async def test_bad_frames_get_the_right_call_error_and_change_nothing(db, fleet, ingress, stations):
    ws = await stations.socket("CPAM-LM-01")
    await _raw(ws, json.dumps([2, "warm", "Heartbeat", {}]))
    before = await counts(db, fleet.cpam)
    seen_before = (await charger_row(db, fleet, "CPAM-LM-01")).last_seen_at
    formation = "Payload for Action is syntactically incorrect or not conform the PDU structure for Action"
    cases = [
        ('{"not": "ocpp"', [4, "-1", "FormationViolation", formation, {"cause": "not valid JSON"}]),
        ('{"a": 1}', [4, "-1", "FormationViolation", formation,
                      {"cause": "not an OCPP-J array [MessageTypeId, MessageId, ...]"}]),
        ('[2, "f1", "Heartbeat", []]', [4, "f1", "FormationViolation", formation,
                                         {"cause": "a Call is [2, MessageId, Action, {payload}]"}]),
        ('[2, "f2", "FooBar", {}]', [4, "f2", "NotImplemented", "Requested Action is not known by receiver",
                                      {"cause": "FooBar is not handled by this CSMS"}]),
        ('[2, "f3", "Reset", {"type": "Hard"}]', [
            4, "f3", "NotSupported", "Requested Action is recognized but not supported by the receiver",
            {"cause": "Reset is not handled by this CSMS"}]),
        ('[2, "f4", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Bogus"}]', [
            4, "f4", "PropertyConstraintViolation",
            "Payload is syntactically correct but at least one field contains an invalid value",
            {"cause": "data.status must be one of ['Available', 'Preparing', 'Charging', 'SuspendedEVSE', "
                      "'SuspendedEV', 'Finishing', 'Reserved', 'Unavailable', 'Faulted']"}]),
        ('[2, "f5", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", "status": "Available"}]', [
            4, "f5", "TypeConstraintViolation",
            "Payload for Action is syntactically correct but at least one of the fields violates data type constraints",
            {"cause": "data.connectorId must be integer"}]),
        ('[2, "f6", "BootNotification", {"chargePointVendor": "X"}]', [
            4, "f6", "ProtocolError", "Payload for Action is incomplete",
            {"cause": "data must contain ['chargePointModel'] properties"}]),
        ('[2, "f7", "Heartbeat", {"extra": true}]', [
            4, "f7", "FormationViolation", formation, {"cause": "data must not contain {'extra'} properties"}]),
        ('[2, "f8", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M", '
         '"chargePointSerialNumber": "SERIAL-NUMBER-FAR-TOO-LONG-123"}]', [
            4, "f8", "TypeConstraintViolation",
            "Payload for Action is syntactically correct but at least one of the fields violates data type constraints",
            {"cause": "data.chargePointSerialNumber must be shorter than or equal to 25 characters"}]),
        ('[2, "f9", "StartTransaction", {"connectorId": 1, "idTag": "BADGE-OK", "meterStart": 0, '
         '"timestamp": "2026-01-01T10:00:00"}]', [
            4, "f9", "TypeConstraintViolation",
            "Payload for Action is syntactically correct but at least one of the fields violates data type constraints",
            {"cause": "data.timestamp must be date-time"}]),
    ]
    for frame, expected in cases:
        assert await _raw(ws, frame) == expected, frame
    # An unknown MessageTypeId is ignored (OCPP-J); the connection keeps working.
    await ws.send('[7, "x", "Heartbeat", {}]')
    assert await _raw(ws, json.dumps([2, "after", "Heartbeat", {}])) == [3, "after", {"currentTime": NOW}]
    await ws.close()
    assert await counts(db, fleet.cpam) == before
    assert (await charger_row(db, fleet, "CPAM-LM-01")).last_seen_at >= seen_before


async def test_an_oversized_message_closes_the_socket_with_1009(db, fleet, ingress, stations):
    ws = await stations.socket("CPAM-LM-01", max_size=None)
    before = await counts(db, fleet.cpam)
    await ws.send(json.dumps([2, "big", "DataTransfer", {"vendorId": "X", "data": "x" * 20_000}]))
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 30)
    assert ws.close_code == 1009
    event = (await ingress.events.wait("station.disconnected"))[0]
    assert (event["reason"], event["close_code"]) == ("message_too_big", 1009)
    assert await counts(db, fleet.cpam) == before


async def test_lenient_mode_truncates_over_long_serials_and_records_a_warning(db, fleet, ingress, stations):
    async with stations.connect("CPAM-LM-02") as (cp, wire):
        boot = call.BootNotification(charge_point_vendor="Hager", charge_point_model="witty park",
                                     charge_point_serial_number="HAGER-WITTY-0000000000001234")
        # The library's own client validates before sending: bypass it, as a faulty firmware would.
        await wire.ws.send(json.dumps([2, "lb", "BootNotification", {
            "chargePointVendor": boot.charge_point_vendor, "chargePointModel": boot.charge_point_model,
            "chargePointSerialNumber": boot.charge_point_serial_number}]))
        answer = await ingress.events.wait("station.booted")
        assert answer
    charger = await charger_row(db, fleet, "CPAM-LM-02")
    assert charger.serial_number == "HAGER-WITTY-0000000000001"
    async with db.session([fleet.cpam]) as session:
        warning = await session.scalar(select(StationEvent).where(StationEvent.charger_id == charger.id,
                                                                  StationEvent.kind == "lenient_repair"))
    assert warning.severity == "warning"
    assert warning.message == ("« chargePointSerialNumber » tronqué à 25 caractères "
                               "(valeur reçue : « HAGER-WITTY-0000000000001234 »).")


# --------------------------------------------------------------------------- connections


async def test_a_second_connection_replaces_the_first(db, fleet, ingress, stations):
    first = await stations.socket("CPAM-LM-01")
    await _raw(first, json.dumps([2, "a", "Heartbeat", {}]))
    link = ingress.registry.get("CPAM-LM-01")
    second = await stations.socket("CPAM-LM-01")
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(first.recv(), 30)
    assert first.close_code == 1000
    assert await _raw(second, json.dumps([2, "b", "Heartbeat", {}])) == [3, "b", {"currentTime": NOW}]
    assert ingress.registry.get("CPAM-LM-01") is not link and "CPAM-LM-01" in ingress.registry
    await ingress.events.wait("station.disconnected")
    await second.close()
    await ingress.events.wait("station.disconnected", count=2)
    charger = await charger_row(db, fleet, "CPAM-LM-01")
    async with db.session([fleet.cpam]) as session:
        rows = list(await session.scalars(select(ConnectionLog).where(ConnectionLog.charger_id == charger.id)
                                          .order_by(ConnectionLog.connected_at)))
    assert [(r.reason, r.disconnected_at is not None) for r in rows] == [("replaced", True), ("closed_by_station", True)]
    assert rows[1].close_code == 1000 and charger.online is False


@pytest.mark.parametrize("backend", BOTH)
async def test_connections_and_cuts_are_counted(db, fleet, ingress, stations):
    # CCTP CPAM 5-5: « identifier, pour chaque IRVE, le nombre d'occurrence d'une telle coupure ».
    began = utcnow()
    for round_ in range(3):
        ws = await stations.socket("CPAM-LM-01")
        await _raw(ws, json.dumps([2, f"h{round_}", "Heartbeat", {}]))
        if round_ < 2:
            await ws.close()
            await ingress.events.wait("station.disconnected", count=round_ + 1)
    charger = await charger_row(db, fleet, "CPAM-LM-01")
    assert charger.online is True
    connected = await ingress.events.wait("station.connected", count=3)
    assert len({e["connection_id"] for e in connected}) == 3
    async with db.session([fleet.cpam]) as session:
        report = await supervision.communication_report(session, fleet.cpam, charger.id, began, utcnow())
    assert (report.connections, report.cuts, report.cuts_by_reason) == (3, 2, {"closed_by_station": 2})
    assert 0 < report.uptime_ratio <= 1
    await ws.close()
    await ingress.events.wait("station.disconnected", count=3)
    assert (await charger_row(db, fleet, "CPAM-LM-01")).online is False


async def test_a_station_gone_silent_is_disconnected_by_the_keepalive_and_counted_as_a_cut(settings, db, fleet):
    """CENTRALE_OCPP_PING_INTERVAL: a socket whose station stopped answering (power cut, lost 4G link:
    no TCP close ever comes) is closed once a ping goes unanswered, and recorded as a lost connection."""
    import dataclasses

    from app.bus import LocalBus
    from csms.ingress.server import Ingress
    from tests.csms.conftest import TOPICS, Events, open_socket

    bus, events = LocalBus(), Events()
    for topic in TOPICS:
        await bus.subscribe(topic, events.handler)
    server = Ingress(dataclasses.replace(settings, ocpp_port=0, ocpp_ping_interval=0.3), db=db, bus=bus)
    await server.start()
    try:
        ws = await open_socket(server.port, "CPAM-LM-01", ping_interval=None)
        await ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
        assert json.loads(await ws.recv())[0] == 3
        # Pings come and are answered: the ingress measures each round trip (a new latency per pong).
        # Two of them answered, then the socket still carries a Heartbeat: still connected.
        link = server.registry.get("CPAM-LM-01")
        latencies: set[float] = set()
        async with asyncio.timeout(10):
            while len(latencies - {0.0}) < 2:
                assert not events.by_topic["station.disconnected"]
                latencies.add(link.websocket.latency)
                await asyncio.sleep(0.02)
        await ws.send(json.dumps([2, "h2", "Heartbeat", {}]))
        assert json.loads(await ws.recv())[:2] == [3, "h2"]
        assert not events.by_topic["station.disconnected"]
        ws.transport.pause_reading()  # the station goes silent: pings unanswered, no close frame
        (gone,) = await events.wait("station.disconnected", within=30)
        assert gone["reason"] == "connection_lost"
        ws.transport.abort()
    finally:
        await server.stop()
    charger = await charger_row(db, fleet, "CPAM-LM-01")
    assert charger.online is False
    async with db.session([fleet.cpam]) as session:
        rows = (await session.scalars(select(ConnectionLog).where(ConnectionLog.charger_id == charger.id))).all()
    assert [(row.reason, row.disconnected_at is not None) for row in rows] == [("connection_lost", True)]


# --------------------------------------------------------------------------- commands to stations


class ConfigurableStation(Station16):
    @on("GetConfiguration")
    async def on_get_configuration(self, **kwargs: Any) -> Any:
        return station_result.GetConfiguration(configuration_key=[
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"}])


async def test_the_registry_sends_calls_to_a_connected_station(ingress, stations):
    ws = await stations.socket("CPAM-LM-01")
    station = ConfigurableStation("CPAM-LM-01", stations.Wire(ws))
    task = asyncio.create_task(station.start())
    try:
        await station.call(call.Heartbeat())
        result = await ingress.registry.call("CPAM-LM-01", call.GetConfiguration(key=["HeartbeatInterval"]))
        assert result.configuration_key == [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        with pytest.raises(OcppNotImplemented):  # the station has no handler: a CallError raises
            await ingress.registry.get("CPAM-LM-01").call(call.ClearCache(), suppress=False)
        with pytest.raises(StationNotConnected):
            await ingress.registry.call("CPAM-LM-02", call.ClearCache())
    finally:
        task.cancel()
        await ws.close()


# --------------------------------------------------------------------------- the tenant wall


@pytest.mark.parametrize("backend", BOTH)
async def test_a_station_of_one_tenant_never_appears_in_another_tenants_queries(db, fleet, ingress, stations):
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        await cp.call(call.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=0, timestamp=ts(utcnow())))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
    cpam_charger = fleet.chargers["CPAM-LM-01"].charger_id
    async with db.session([fleet.other]) as session:
        assert [c.charge_box_id for c in await registry.list_chargers(session, fleet.other)] == ["VLB-01"]
        # Even asking for the other tenant's rows by id, from this scope, finds nothing.
        assert await registry.list_chargers(session, fleet.cpam) == []
        assert await session.get(Charger, (fleet.cpam, cpam_charger)) is None
        for model in (Charger, ChargePoint, Transaction, StatusEvent, ConnectionLog, StationEvent):
            assert list(await session.scalars(select(model).where(model.tenant_id == fleet.cpam))) == []
            assert await session.scalar(select(func.count(model.id))) == (1 if model in (Charger, ChargePoint) else 0)
        with pytest.raises(Exception):  # noqa: B017 - NotFound
            await registry.get_charger_in_tenant(session, fleet.other, cpam_charger)
    async with db.session([fleet.cpam]) as session:
        assert (await session.scalar(select(func.count()).select_from(Transaction))) == 1


async def test_units_of_several_stations_share_a_commit(db, fleet, ingress, stations, password_hash):
    ids = [f"LM-BATCH-{n:02d}" for n in range(8)]
    async with db.transaction([fleet.cpam], actor={"user_id": None, "label": "test"}) as session:
        for cbid in ids:
            await registry.register_charger(session, fleet.cpam, {"charge_box_id": cbid, "password": stations.password},
                                            password_hash=password_hash)

    async def statuses(cp) -> None:
        for n in range(5):
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                  status="Available" if n % 2 else "Preparing"))

    async with contextlib.AsyncExitStack() as stack:
        connected = [await stack.enter_async_context(stations.connect(cbid)) for cbid in ids]
        batches_before = ingress.writer.stats.batches
        await asyncio.gather(*(statuses(cp) for cp, _wire in connected))
    stats = ingress.writer.stats
    assert stats.largest_batch > 1
    assert stats.batches - batches_before < stats.units
    assert (await counts(db, fleet.cpam))["status_events"] == 8 * 5

