"""A transaction the station never started takes no power (issue 10, security hardening).

OCPP 2.0.1 E01/E02: a transaction begins with a ``TransactionEvent`` of type
``Started``, and the first event that knows it carries its ``evse``. An ``Updated``
for a transaction id the CSMS never saw start, with no ``evse``, is kept (its meter
values are data) and flagged, but load management (CCTP CPAM article 4, « gestion
dynamique de l'appel de courant ») gives it no share of the site's budget until the
station names its EVSE; and a charging profile is never sent to a transaction that
has ended. Real sockets: the stations are the ``ocpp`` library's own ChargePoint.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201
from sqlalchemy import select

from csms.domain import commands, registry, smart_charging
from csms.domain.models import CommandLog, MeterValue, Transaction
from tests.conftest import login
from tests.csms.conftest import MEMBER_PASSWORD, PASSWORD, iso, station
from tests.csms.test_smart_charging import (
    NOW,
    Profiled16,
    amps,
    calls,
    limits,
    make_parking,
    profiled,
    set_budget,
    start,
)

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def energy(at: dt.datetime, wh: float, context: str = "Sample.Periodic") -> list[dict[str, Any]]:
    return [{"timestamp": iso(at), "sampled_value": [
        {"value": wh, "context": context, "measurand": "Energy.Active.Import.Register",
         "unit_of_measure": {"unit": "Wh"}}]}]


def tx_limits(wire: Any) -> dict[str, list[float]]:
    """The 2.0.1 profile limits each transaction received, in order, and on which EVSE."""
    out: dict[str, list[float]] = {}
    for payload in calls(wire):
        profile = payload["chargingProfile"]
        key = f"{profile['transactionId']}@{payload['evseId']}"
        out.setdefault(key, []).append(profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"])
    return out


async def ghost_row(db: Any, tenant_id: Any, ocpp_id: str) -> Transaction:
    async with db.session([tenant_id]) as session:
        row = await session.scalar(select(Transaction).where(Transaction.tenant_id == tenant_id,
                                                             Transaction.ocpp_transaction_id == ocpp_id))
        assert row is not None
        return row


@pytest.mark.parametrize("backend", BOTH)
async def test_an_updated_event_for_an_unknown_transaction_takes_no_share_until_it_names_its_evse(
        ingress, db, fleet, people, client, password_hash):
    """Three 11 kW EVSEs on a 22 kW site, two real sessions at 11 kW each. An Updated for « GHOST-1 »
    with no EVSE is recorded and flagged, gets no profile, and the real sessions keep their 11 kW
    (before the fix: a profile on evseId 1 for the ghost and the real sessions cut to 7.3 kW). When
    a later event names EVSE 3, the ghost joins: 7.3 kW each."""
    parking = await make_parking(db, fleet.cpam, password_hash, ids=())
    async with db.transaction([fleet.cpam], actor={"user_id": None, "label": "test"}) as session:
        await registry.register_charger(session, fleet.cpam, {
            "charge_box_id": "GHOST-201", "password": PASSWORD, "site": str(parking.site_id), "points": 3,
            "power_kw": 11, "socket_types": "T2"}, password_hash=password_hash)
        for id_tag in ("BADGE-R1", "BADGE-R2"):  # one session per badge (ConcurrentTx otherwise)
            await registry.create_badge(session, fleet.cpam, {"id_tag": id_tag, "holder_label": id_tag})
    await set_budget(db, fleet.cpam, parking.site_id, 22)
    async with profiled(ingress.port, "GHOST-201", "2.0.1") as (cp, wire):
        for seq, (tx_id, evse) in enumerate((("TX-REAL-1", 1), ("TX-REAL-2", 2))):
            answer = await cp.call(call201.TransactionEvent(
                event_type="Started", timestamp=iso(NOW + dt.timedelta(minutes=seq)), trigger_reason="Authorized",
                seq_no=0, transaction_info={"transaction_id": tx_id, "charging_state": "Charging"},
                evse={"id": evse, "connector_id": 1}, id_token={"id_token": f"BADGE-R{evse}", "type": "ISO14443"}))
            assert answer.id_token_info == {"status": "Accepted"}
            await ingress.load_manager.idle()
        before = {"TX-REAL-1@1": [amps(11)], "TX-REAL-2@2": [amps(11)]}
        assert tx_limits(wire) == before

        # The ghost: an Updated for an id never started, no evse, with meter values.
        answer = await cp.call(call201.TransactionEvent(
            event_type="Updated", timestamp=iso(NOW + dt.timedelta(minutes=5)), trigger_reason="MeterValuePeriodic",
            seq_no=3, transaction_info={"transaction_id": "GHOST-1", "charging_state": "Charging"},
            meter_value=energy(NOW + dt.timedelta(minutes=5), 4200)), suppress=False)
        assert answer is not None  # answered (kept as data), not a CallError
        await ingress.load_manager.idle()
        assert tx_limits(wire) == before  # no profile for the ghost, the real sessions keep 11 kW
        async with db.session([fleet.cpam]) as session:
            load = await smart_charging.site_load(session, fleet.cpam, parking.site_id)
        assert sorted((s.transaction.ocpp_transaction_id, s.allocated_kw) for s in load.sessions) == [
            ("TX-REAL-1", 11.0), ("TX-REAL-2", 11.0)]
        ghost = await ghost_row(db, fleet.cpam, "GHOST-1")
        assert (ghost.status, ghost.anomaly, ghost.connector_id) == ("active", "unknown_start", None)
        async with db.session([fleet.cpam]) as session:
            values = list(await session.scalars(select(MeterValue.value).where(MeterValue.transaction_id == ghost.id)))
        assert values == [4200.0]  # its data is kept

        # The portal shows it flagged, in the list and on its page.
        client.cookies.clear()
        assert (await login(client, "admin@cpam-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
        listing = await client.get(f"/t/{fleet.cpam}/recharges")
        assert listing.status_code == 200
        assert "Transaction inconnue : démarrage non reçu" in listing.text
        page = await client.get(f"/t/{fleet.cpam}/recharges/{ghost.id}")
        assert "Transaction inconnue : démarrage non reçu" in page.text
        assert "aucune part de la puissance du site" in page.text

        # The station names the ghost's EVSE: it joins the sharing (22 kW / 3 each).
        await cp.call(call201.TransactionEvent(
            event_type="Updated", timestamp=iso(NOW + dt.timedelta(minutes=6)), trigger_reason="MeterValuePeriodic",
            seq_no=4, transaction_info={"transaction_id": "GHOST-1", "charging_state": "Charging"},
            evse={"id": 3, "connector_id": 1}, meter_value=energy(NOW + dt.timedelta(minutes=6), 4300)),
            suppress=False)
        await ingress.load_manager.idle()
        share = amps(22 / 3)
        assert tx_limits(wire) == {"TX-REAL-1@1": [amps(11), share], "TX-REAL-2@2": [amps(11), share],
                                   "GHOST-1@3": [share]}
    ghost = await ghost_row(db, fleet.cpam, "GHOST-1")
    assert (ghost.connector_id, ghost.anomaly) == (3, "unknown_start")  # still flagged: its start never came
    assert ghost.charge_point_id is not None


class Busy16(Profiled16):
    """A 1.6 station slow to answer GetConfiguration: the next call to it waits for its turn."""

    release: asyncio.Event

    @on("GetConfiguration")
    async def on_get_configuration(self, **kwargs: Any) -> Any:
        await self.release.wait()
        return result16.GetConfiguration(configuration_key=[])


async def test_a_profile_is_never_sent_to_a_transaction_that_ended_while_it_waited(ingress, db, fleet,
                                                                                   password_hash):
    """PARK-B charges alone (22 kW); PARK-A starts, so PARK-B's share drops to 11 kW, but PARK-B is busy
    answering another command; meanwhile it stops. When its turn comes the profile is not sent: the
    station sees no SetChargingProfile for its finished transaction, and the command log says why."""
    parking = await make_parking(db, fleet.cpam, password_hash, ids=("PARK-A", "PARK-B"))
    await set_budget(db, parking.tenant_id, parking.site_id, 22)
    async with profiled(ingress.port, "PARK-A") as (a, wire_a), \
            station(ingress.port, "PARK-B", cls=Busy16) as (b, wire_b):
        b.release = asyncio.Event()
        tx_b = await start(b, 0)
        await ingress.load_manager.idle()
        assert limits(wire_b) == [amps(22)]

        busy = asyncio.create_task(commands.send_command(
            db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="PARK-B", action="GetConfiguration", payload={},
            actor={"user_id": None, "label": "test"}, timeout=20))

        async def waiting_profile() -> None:  # the recomputation's profile for PARK-B, queued behind it
            while True:
                async with db.session([fleet.cpam]) as session:
                    rows = list(await session.scalars(select(CommandLog.action).where(
                        CommandLog.tenant_id == fleet.cpam, CommandLog.charge_box_id == "PARK-B",
                        CommandLog.status == "pending")))
                if "GetConfiguration" in rows and "SetChargingProfile" in rows:
                    return
                await asyncio.sleep(0.05)

        await start(a, 1)
        await asyncio.wait_for(waiting_profile(), 20)
        assert limits(wire_a) == [amps(11)]
        # PARK-B stops while its profile waits (its answer reaches it after the slow command's).
        stopping = asyncio.create_task(b.call(call16.StopTransaction(
            meter_stop=9000, timestamp=iso(NOW + dt.timedelta(minutes=2)), transaction_id=tx_b,
            reason="EVDisconnected")))
        await ingress.events.wait("transaction.stopped", lambda e: e["charge_box_id"] == "PARK-B")
        b.release.set()
        await busy
        await stopping
        await ingress.load_manager.idle()
        assert limits(wire_b) == [amps(22)]  # nothing more after its stop
        assert limits(wire_a) == [amps(11), amps(22)]  # alone again
    async with db.session([fleet.cpam]) as session:
        skipped = list(await session.scalars(select(CommandLog).where(
            CommandLog.tenant_id == fleet.cpam, CommandLog.charge_box_id == "PARK-B",
            CommandLog.action == "SetChargingProfile").order_by(CommandLog.requested_at)))
    assert [row.status for row in skipped] == ["accepted", "skipped"]
