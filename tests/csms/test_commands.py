"""Remote commands (CCTP CPAM 5-4-2-1: remote operation of the stations) over a real socket.

The station is the ``ocpp`` library's own ChargePoint (1.6 and 2.0.1) answering
each command; the library validates our Call against its schemas on the station
side, and the tests assert the frames on the wire, the answer handed back, and
the command log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest
from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import GenericError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Station16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as Station201
from ocpp.v201 import call_result as result201
from sqlalchemy import func, select, text

from app.errors import ValidationFailed
from csms.domain import commands
from csms.domain.commands import (
    CommandRejected,
    CommandTimeout,
    StationNotFound,
    StationOffline,
    send_command,
)
from csms.domain.models import CommandLog
from tests.csms.conftest import Events, Wire, station

ACTOR = {"user_id": None, "label": "technicien@titulaire.demo"}
EXPIRY = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat(timespec="seconds").replace("+00:00", "Z")
ID_TOKEN = {"idToken": "BADGE-OK", "type": "ISO14443"}

#: Every OCPP 1.6 command the issue lists: (action, payload sent, the station's answer).
COMMANDS_16: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("RemoteStartTransaction", {"idTag": "BADGE-OK", "connectorId": 1}, {"status": "Accepted"}),
    ("RemoteStopTransaction", {"transactionId": 12}, {"status": "Accepted"}),
    ("UnlockConnector", {"connectorId": 1}, {"status": "Unlocked"}),
    ("Reset", {"type": "Soft"}, {"status": "Accepted"}),
    ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}, {"status": "Scheduled"}),
    ("GetConfiguration", {"key": ["HeartbeatInterval"]},
     {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "600"}, {"status": "RebootRequired"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}, {"status": "Accepted"}),
    ("ReserveNow", {"connectorId": 1, "expiryDate": EXPIRY, "idTag": "BADGE-OK", "reservationId": 7},
     {"status": "Occupied"}),
    ("CancelReservation", {"reservationId": 7}, {"status": "Accepted"}),
    ("SendLocalList", {"listVersion": 3, "updateType": "Full",
                       "localAuthorizationList": [{"idTag": "BADGE-OK", "idTagInfo": {"status": "Accepted"}}]},
     {"status": "Accepted"}),
    ("GetLocalListVersion", {}, {"listVersion": 3}),
    ("ClearCache", {}, {"status": "Accepted"}),
    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}}},
     {"status": "Accepted"}),
    ("ClearChargingProfile", {"id": 1}, {"status": "Unknown"}),
    ("GetCompositeSchedule", {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"},
     {"status": "Accepted", "connectorId": 1, "scheduleStart": EXPIRY,
      "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}}),
    ("UpdateFirmware", {"location": "https://firmware.example/borne-2.1.bin", "retrieveDate": EXPIRY}, {}),
    ("GetDiagnostics", {"location": "ftp://diagnostics.example/upload"}, {"fileName": "diagnostics.zip"}),
    ("DataTransfer", {"vendorId": "com.example", "messageId": "ping", "data": "bonjour"},
     {"status": "Accepted", "data": "pong"}),
]

#: The OCPP 2.0.1 equivalents.
COMMANDS_201: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("RequestStartTransaction", {"idToken": ID_TOKEN, "remoteStartId": 1, "evseId": 1}, {"status": "Accepted"}),
    ("RequestStopTransaction", {"transactionId": "tx-0001"}, {"status": "Accepted"}),
    ("Reset", {"type": "Immediate"}, {"status": "Accepted"}),
    ("UnlockConnector", {"evseId": 1, "connectorId": 1}, {"status": "Unlocked"}),
    ("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}, {"status": "Accepted"}),
    ("GetVariables", {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]},
     {"getVariableResult": [{"attributeStatus": "Accepted", "attributeValue": "300",
                             "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}),
    ("SetVariables", {"setVariableData": [{"attributeValue": "600", "component": {"name": "OCPPCommCtrlr"},
                                           "variable": {"name": "HeartbeatInterval"}}]},
     {"setVariableResult": [{"attributeStatus": "Accepted", "component": {"name": "OCPPCommCtrlr"},
                             "variable": {"name": "HeartbeatInterval"}}]}),
    ("GetBaseReport", {"requestId": 1, "reportBase": "ConfigurationInventory"}, {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
     {"status": "Accepted"}),
    ("ReserveNow", {"id": 7, "expiryDateTime": EXPIRY, "idToken": ID_TOKEN, "evseId": 1}, {"status": "Accepted"}),
    ("CancelReservation", {"reservationId": 7}, {"status": "Accepted"}),
    ("SendLocalList", {"versionNumber": 3, "updateType": "Full",
                       "localAuthorizationList": [{"idToken": ID_TOKEN, "idTokenInfo": {"status": "Accepted"}}]},
     {"status": "Accepted"}),
    ("GetLocalListVersion", {}, {"versionNumber": 3}),
    ("ClearCache", {}, {"status": "Accepted"}),
    ("SetChargingProfile", {"evseId": 1, "chargingProfile": {
        "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]}},
     {"status": "Accepted"}),
    ("ClearChargingProfile", {"chargingProfileId": 1}, {"status": "Accepted"}),
    ("GetChargingProfiles", {"requestId": 2, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}},
     {"status": "NoProfiles"}),
    ("GetCompositeSchedule", {"duration": 3600, "evseId": 1, "chargingRateUnit": "W"}, {"status": "Rejected"}),
    ("GetTransactionStatus", {"transactionId": "tx-0001"}, {"messagesInQueue": False, "ongoingIndicator": True}),
    ("UpdateFirmware", {"requestId": 3, "firmware": {"location": "https://firmware.example/borne-2.1.bin",
                                                    "retrieveDateTime": EXPIRY}}, {"status": "Accepted"}),
    ("GetLog", {"logType": "DiagnosticsLog", "requestId": 4, "log": {"remoteLocation": "https://logs.example/up"}},
     {"status": "Accepted", "filename": "diagnostics.zip"}),
    ("DataTransfer", {"vendorId": "com.example", "messageId": "ping", "data": "bonjour"},
     {"status": "Accepted", "data": "pong"}),
]


def answering(base: type, results: Any, answers: dict[str, dict[str, Any]]) -> type:
    """A station class of the library answering each action with its canned answer.

    ``gate`` (an Event), when set on the instance, holds every answer until it is set:
    the way to keep a call in flight.
    """

    def handler_for(action: str) -> Any:
        async def handler(self: Any, **kwargs: Any) -> Any:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if self.gate is not None:
                    await self.gate.wait()
                if action in self.refuse:
                    raise GenericError(description="firmware busy", details={"retry": "later"})
                return getattr(results, action)(**camel_to_snake_case(answers[action]))
            finally:
                self.in_flight -= 1

        handler.__name__ = f"on_{action}"  # the library finds routes by function name
        return on(action)(handler)

    async def route_message(self: Any, raw: str) -> None:
        # Each call is handled in its own task so that the station keeps reading its socket
        # (and the wire keeps recording) while an answer is held back.
        frame = json.loads(raw)
        if frame[0] == 2 and frame[2] in self.silent:
            return  # dropped: never answered
        task = asyncio.create_task(base.route_message(self, raw))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    namespace: dict[str, Any] = {f"on_{action}": handler_for(action) for action in answers}
    namespace["route_message"] = route_message
    namespace.update(tasks=set(), gate=None, in_flight=0, max_in_flight=0, refuse=frozenset(), silent=frozenset())
    return type(f"Answering{base.__name__}", (base,), namespace)


Answering16 = answering(Station16, result16, {a: answer for a, _, answer in COMMANDS_16})
Answering201 = answering(Station201, result201, {a: answer for a, _, answer in COMMANDS_201})


def answering_station(port: int, charge_box_id: str, version: str = "1.6") -> Any:
    return station(port, charge_box_id, version=version, cls=Answering16 if version == "1.6" else Answering201)


async def wait_connected(ingress: Any, charge_box_id: str, count: int = 1) -> None:
    await ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == charge_box_id, count=count)


async def command_log(db: Any, tenant_id: Any) -> list[CommandLog]:
    async with db.session([tenant_id]) as session:
        return list(await session.scalars(
            select(CommandLog).where(CommandLog.tenant_id == tenant_id).order_by(CommandLog.requested_at)))


def calls_received(wire: Wire) -> list[tuple[str, dict[str, Any]]]:
    return [(frame[2], frame[3]) for frame in wire.received if frame[0] == 2]


# --------------------------------------------------------------------------- every command


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_every_command_reaches_the_station_and_returns_its_answer(ingress, db, fleet, version):
    """CCTP CPAM 5-4-2-1: every remote command of the issue, 1.6 and 2.0.1; each logged with who, what, answer."""
    charge_box_id, table = ("CPAM-LM-01", COMMANDS_16) if version == "1.6" else ("CPAM-LM-201", COMMANDS_201)
    async with answering_station(ingress.port, charge_box_id, version) as (_cp, wire):
        await wait_connected(ingress, charge_box_id)
        answers = [
            await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id=charge_box_id, action=action,
                               payload=payload, actor=ACTOR, timeout=10)
            for action, payload, _answer in table
        ]
    # The station got exactly these calls, payloads as given (camelCase), one after the other.
    assert calls_received(wire) == [(action, payload) for action, payload, _ in table]
    # Each answer is the station's CallResult payload as it was on the wire.
    on_wire = [frame[2] for frame in wire.sent if frame[0] == 3]
    assert answers == on_wire
    assert answers == [answer for _, _, answer in table]
    rows = await command_log(db, fleet.cpam)
    assert [(r.action, r.payload, r.answer, r.actor, r.protocol) for r in rows] == [
        (action, payload, answer, ACTOR["label"], version) for action, payload, answer in table
    ]
    statuses = {r.action: r.status for r in rows}
    assert statuses["RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"] == "accepted"
    if version == "1.6":
        assert statuses["ReserveNow"] == "rejected"  # answered Occupied: the station did not do it
        assert statuses["ChangeConfiguration"] == "accepted"  # RebootRequired: done at the next reboot
    else:
        assert statuses["GetCompositeSchedule"] == "rejected"
    assert all(r.duration_ms is not None and r.node == ingress.node for r in rows)


# --------------------------------------------------------------------------- failures


async def test_a_call_error_from_the_station_is_rejected_and_logged(ingress, db, fleet):
    async with answering_station(ingress.port, "CPAM-LM-01") as (cp, _wire):
        cp.refuse = frozenset({"Reset"})
        await wait_connected(ingress, "CPAM-LM-01")
        with pytest.raises(CommandRejected) as caught:
            await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01", action="Reset",
                               payload={"type": "Hard"}, actor=ACTOR, timeout=10)
    assert caught.value.code == "GenericError"
    assert caught.value.description == "firmware busy"
    [row] = await command_log(db, fleet.cpam)
    assert (row.status, row.error_code, row.answer) == (
        "rejected", "GenericError", {"description": "firmware busy", "details": {"retry": "later"}})


async def test_a_station_that_does_not_answer_times_out_and_the_next_command_goes_through(ingress, db, fleet):
    async with answering_station(ingress.port, "CPAM-LM-01") as (cp, wire):
        cp.silent = frozenset({"ClearCache"})
        await wait_connected(ingress, "CPAM-LM-01")
        with pytest.raises(CommandTimeout):
            await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01",
                               action="ClearCache", payload={}, actor=ACTOR, timeout=1)
        answer = await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01",
                                    action="Reset", payload={"type": "Soft"}, actor=ACTOR, timeout=10)
    assert answer == {"status": "Accepted"}
    assert [a for a, _ in calls_received(wire)] == ["ClearCache", "Reset"]
    rows = await command_log(db, fleet.cpam)
    assert [(r.action, r.status) for r in rows] == [("ClearCache", "timeout"), ("Reset", "accepted")]


async def test_an_offline_station_fails_at_once_and_is_logged(ingress, db, fleet):
    with pytest.raises(StationOffline):
        await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01", action="Reset",
                           payload={"type": "Soft"}, actor=ACTOR, timeout=300)
    [row] = await command_log(db, fleet.cpam)
    assert (row.action, row.status, row.answer) == ("Reset", "offline", None)


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_command_sent_as_the_station_connects_waits_for_its_connection_row(ingress, db, admin_db, fleet):
    """The ingress reads a new socket's frames before its connection row is committed (the row goes with
    the next group commit): a command issued in that window must not answer « hors ligne ». Inserts into
    charger_connections are held by a table lock until the command is on its way."""
    async with admin_db.engine.begin() as holder:
        await holder.execute(text("LOCK TABLE charger_connections IN EXCLUSIVE MODE"))  # reads still pass
        async with answering_station(ingress.port, "CPAM-LM-01") as (_cp, wire):
            pending = asyncio.create_task(send_command(
                db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01", action="Reset",
                payload={"type": "Soft"}, actor=ACTOR, timeout=10))
            # Its log row is written once it has looked for the connection row and found none
            # (the row is held back): from there on, only waiting turns it into an answer.
            while not await command_log(db, fleet.cpam):
                assert not pending.done(), pending.exception()
                await asyncio.sleep(0.01)
            await holder.commit()  # the connection row commits
            assert await pending == {"status": "Accepted"}
            assert calls_received(wire) == [("Reset", {"type": "Soft"})]


async def test_a_disconnected_station_is_offline_again(ingress, db, fleet):
    async with answering_station(ingress.port, "CPAM-LM-01"):
        await wait_connected(ingress, "CPAM-LM-01")
    await ingress.events.wait("station.disconnected", lambda p: p["charge_box_id"] == "CPAM-LM-01")
    with pytest.raises(StationOffline):
        await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01", action="ClearCache",
                           payload={}, actor=ACTOR, timeout=300)


async def test_another_tenants_station_is_not_found_and_nothing_is_sent(ingress, db, fleet):
    async with answering_station(ingress.port, "VLB-01") as (_cp, wire):
        await wait_connected(ingress, "VLB-01")
        for charge_box_id in ("VLB-01", "NO-SUCH-BOX"):
            with pytest.raises(StationNotFound):
                await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id=charge_box_id,
                                   action="Reset", payload={"type": "Hard"}, actor=ACTOR)
    assert calls_received(wire) == []
    assert await command_log(db, fleet.cpam) == [] and await command_log(db, fleet.other) == []


@pytest.mark.parametrize(("charge_box_id", "action", "payload", "field", "message"), [
    ("CPAM-LM-01", "Reset", {"type": "Brutal"}, "payload", "« type » : valeur non autorisée ; valeurs possibles : Hard, Soft."),
    ("CPAM-LM-01", "RemoteStartTransaction", {}, "payload", "Champ obligatoire manquant : idTag."),
    ("CPAM-LM-01", "UnlockConnector", {"connectorId": "un"}, "payload", "« connectorId » : nombre entier attendu."),
    ("CPAM-LM-01", "Reset", {"type": "Soft", "force": True}, "payload", "champ inconnu"),
    ("CPAM-LM-01", "SelfDestruct", {}, "action", "Commande inconnue : SelfDestruct."),
    ("CPAM-LM-01", "RequestStartTransaction", {"idToken": ID_TOKEN, "remoteStartId": 1}, "action",
     "RequestStartTransaction est une commande OCPP 2.0.1 ; cette borne parle OCPP 1.6 ; utilisez RemoteStartTransaction."),
    ("CPAM-LM-201", "RemoteStartTransaction", {"idTag": "BADGE-OK"}, "action",
     "RemoteStartTransaction est une commande OCPP 1.6 ; cette borne parle OCPP 2.0.1 ; utilisez RequestStartTransaction."),
    ("CPAM-LM-201", "Reset", {"type": "Soft"}, "payload", "« type » : valeur non autorisée ; valeurs possibles : Immediate, OnIdle."),
])
async def test_a_bad_command_is_refused_before_anything_is_sent(ingress, db, fleet, charge_box_id, action, payload,
                                                              field, message):
    version = "2.0.1" if charge_box_id.endswith("201") else "1.6"
    async with answering_station(ingress.port, charge_box_id, version) as (_cp, wire):
        await wait_connected(ingress, charge_box_id)
        with pytest.raises(ValidationFailed) as caught:
            await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id=charge_box_id, action=action,
                               payload=payload, actor=ACTOR)
    assert list(caught.value.errors) == [field]
    assert message in caught.value.errors[field]
    assert calls_received(wire) == []
    assert await command_log(db, fleet.cpam) == []


# --------------------------------------------------------------------------- one call in flight


async def test_two_concurrent_commands_to_one_station_are_serialized(ingress, db, fleet):
    """OCPP-J: the CSMS sends no Call while a previous one awaits its result."""
    async with answering_station(ingress.port, "CPAM-LM-01") as (cp, wire):
        cp.gate = asyncio.Event()
        await wait_connected(ingress, "CPAM-LM-01")
        # Listening on the ingress's command topic after the ingress itself (the local bus calls its
        # subscribers in order): once a request is seen here, the ingress has started handling it.
        topic, handed = commands.node_topic(ingress.node), Events()
        await ingress.bus.subscribe(topic, handed.handler)
        send = [asyncio.create_task(send_command(
            db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01", action=action, payload=payload,
            actor=ACTOR, timeout=30)) for action, payload in (("ClearCache", {}), ("Reset", {"type": "Soft"}))]
        # The first call is on the wire and held by the station; the second waits in the ingress.
        while not calls_received(wire):
            await asyncio.sleep(0.01)
        await handed.wait(topic, count=2)
        # The ingress had both requests before it answers this Heartbeat, and the socket keeps the order
        # of frames: had it sent the second call, the station would have it before the Heartbeat's answer.
        await cp.call(call16.Heartbeat())
        assert len(calls_received(wire)) == 1
        cp.gate.set()
        answers = await asyncio.gather(*send)
    assert answers == [{"status": "Accepted"}, {"status": "Accepted"}]
    assert cp.max_in_flight == 1
    assert sorted(a for a, _ in calls_received(wire)) == ["ClearCache", "Reset"]


async def test_a_command_queued_behind_a_stuck_one_times_out(ingress, db, fleet):
    async with answering_station(ingress.port, "CPAM-LM-01") as (cp, wire):
        cp.silent = frozenset({"ClearCache"})
        await wait_connected(ingress, "CPAM-LM-01")
        stuck = asyncio.create_task(send_command(
            db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01", action="ClearCache", payload={},
            actor=ACTOR, timeout=5))
        while not calls_received(wire):
            await asyncio.sleep(0.01)
        with pytest.raises(CommandTimeout) as caught:
            await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01", action="Reset",
                               payload={"type": "Soft"}, actor=ACTOR, timeout=1)
        assert "Une autre commande était en cours" in caught.value.message
        with pytest.raises(CommandTimeout):
            await stuck
    assert [a for a, _ in calls_received(wire)] == ["ClearCache"]  # the queued Reset was never sent


async def test_the_log_lists_newest_first(ingress, db, fleet):
    async with answering_station(ingress.port, "CPAM-LM-01"):
        await wait_connected(ingress, "CPAM-LM-01")
        for action, payload in (("ClearCache", {}), ("GetLocalListVersion", {})):
            await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01", action=action,
                               payload=payload, actor=ACTOR)
    async with db.session([fleet.cpam]) as session:
        rows = await commands.list_commands(session, fleet.cpam, fleet.chargers["CPAM-LM-01"].charger_id)
        total = await session.scalar(select(func.count()).select_from(CommandLog))
    assert [r.action for r in rows] == ["GetLocalListVersion", "ClearCache"]
    assert total == 2


async def test_a_station_that_disconnects_during_a_command_ends_it_as_offline(ingress, db, fleet):
    async with answering_station(ingress.port, "CPAM-LM-01") as (cp, wire):
        cp.silent = frozenset({"ClearCache"})
        await wait_connected(ingress, "CPAM-LM-01")
        pending = asyncio.create_task(send_command(
            db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01", action="ClearCache", payload={},
            actor=ACTOR, timeout=300))
        while not calls_received(wire):
            await asyncio.sleep(0.01)
    with pytest.raises(StationOffline) as caught:
        await pending  # ended by the disconnection, not by its 300 s timeout
    assert "déconnectée" in caught.value.message
    [row] = await command_log(db, fleet.cpam)
    assert (row.action, row.status) == ("ClearCache", "offline")


async def test_a_command_sent_to_the_old_ingress_follows_the_station_to_the_new_one(settings, ingress, db, fleet):
    """The race the routing covers: the connection row read named ingress A, but the station has
    reconnected to ingress B meanwhile. A answers « not connected here », the row is read again
    and the request goes to B."""
    import dataclasses

    from csms.ingress.server import Ingress

    other = Ingress(dataclasses.replace(settings, ocpp_port=0), db=db, bus=ingress.bus)
    await other.start()
    try:
        async with answering_station(other.port, "CPAM-LM-01") as (_cp, wire):
            await wait_connected(ingress, "CPAM-LM-01")
            assert "CPAM-LM-01" in other.registry and "CPAM-LM-01" not in ingress.registry
            target = await commands._locate(db, fleet.cpam, "CPAM-LM-01")
            assert target.node == other.node
            stale = dataclasses.replace(target, node=ingress.node)  # what a reader saw a moment earlier
            request = {"tenant_id": str(fleet.cpam), "charge_box_id": "CPAM-LM-01", "action": "ClearCache",
                       "payload": {}, "timeout": 10}
            reply, node = await commands._route(ingress.bus, db, fleet.cpam, "CPAM-LM-01", stale, request, 10)
    finally:
        await other.stop()
    assert (reply["outcome"], reply["answer"], node) == ("result", {"status": "Accepted"}, other.node)
    assert calls_received(wire) == [("ClearCache", {})]
