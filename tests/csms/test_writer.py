"""The group-commit writer, ingress shutdown and restart bookkeeping.

DESIGN.md: « A station-initiated message is answered only after what it reports is
committed »; « Every connection and disconnection is recorded ».
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import json

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from app.bus import LocalBus
from app.db import TenantScopeError, utcnow
from csms.domain import recording as supervision
from csms.domain.models import (
    Alert,
    ChargePoint,
    Charger,
    ConnectionLog,
    MeterValue,
    StationEvent,
    StatusEvent,
)
from csms.domain.ports import StationRef
from csms.domain.writer import GroupCommitWriter, touch_later
from csms.ingress.server import current_ingress, run_ingress

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def ref_of(fleet, charge_box_id: str, tenant) -> StationRef:
    registered = fleet.chargers[charge_box_id]
    return StationRef(tenant, registered.charger_id, charge_box_id, registered.canonical_id)


@pytest.mark.parametrize("backend", BOTH)
async def test_one_batch_many_tenants_each_unit_in_its_own_scope_and_a_bad_unit_fails_alone(db, fleet):
    writer = GroupCommitWriter(db)
    await writer.start()
    cpam, other = ref_of(fleet, "CPAM-LM-01", fleet.cpam), ref_of(fleet, "VLB-01", fleet.other)
    now = utcnow()

    def record(ref: StationRef, text: str):
        async def unit(session):
            visible = [c.charge_box_id for c in await session.scalars(select(Charger).order_by(Charger.charge_box_id))]
            await supervision.record_station_event(session, ref, "test", text, received_at=now)
            return visible

        return unit

    async def broken(session):
        await supervision.record_station_event(session, cpam, "test", "never", received_at=now)
        raise ValueError("unit de travail défaillante")

    try:
        results = await asyncio.gather(
            writer.submit(fleet.cpam, record(cpam, "a"), actor="borne A"),
            writer.submit(fleet.cpam, broken, actor="borne A"),
            writer.submit(fleet.other, record(other, "b"), actor="borne B"),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    # Each unit saw only its own tenant, inside the same batch.
    assert results[0] == ["CPAM-LM-01", "CPAM-LM-02", "CPAM-LM-201"]
    assert isinstance(results[1], ValueError)
    assert results[2] == ["VLB-01"]
    assert (writer.stats.largest_batch, writer.stats.fallbacks) == (3, 1)
    for tenant, expected in ((fleet.cpam, ["a"]), (fleet.other, ["b"])):
        async with db.session([tenant]) as session:
            assert list(await session.scalars(select(StationEvent.message).where(StationEvent.kind == "test"))) == expected


async def test_stopping_the_ingress_records_every_disconnection(db, fleet, ingress, stations):
    ws = await stations.socket("CPAM-LM-01")
    await ws.send('[2, "h", "Heartbeat", {}]')
    await ws.recv()
    await ingress.stop()
    assert ws.close_code == 1001
    async with db.session([fleet.cpam]) as session:
        (row,) = await session.scalars(select(ConnectionLog))
        assert (row.reason, row.close_code) == ("server_shutdown", 1001) and row.disconnected_at is not None
        assert (await session.get(Charger, (fleet.cpam, fleet.chargers["CPAM-LM-01"].charger_id))).online is False


async def test_rows_left_open_by_a_crashed_ingress_are_closed_at_restart(db, fleet):
    ref = ref_of(fleet, "CPAM-LM-01", fleet.cpam)
    connected = utcnow() - dt.timedelta(hours=2)
    last_seen = connected + dt.timedelta(minutes=40)
    async with db.transaction([fleet.cpam]) as session:
        await supervision.open_connection(session, ref, remote_address="10.0.0.8:51000", subprotocol="ocpp1.6",
                                          node="ingress-a:9000", connected_at=connected)
        await supervision.record_heartbeat(session, ref, received_at=last_seen)
    async with db.transaction([fleet.cpam]) as session:
        assert await supervision.close_stale_connections(session, fleet.cpam, "ingress-b:9000", now=utcnow()) == 0
        assert await supervision.close_stale_connections(session, fleet.cpam, "ingress-a:9000", now=utcnow()) == 1
    async with db.session([fleet.cpam]) as session:
        (row,) = await session.scalars(select(ConnectionLog))
        assert (row.reason, row.disconnected_at) == ("ingress_restart", last_seen)
        report = await supervision.communication_report(session, fleet.cpam, ref.charger_id, connected, utcnow())
        assert report.online_seconds == 40 * 60 and report.cuts == 1


async def test_a_station_connected_once_the_restarted_ingress_listens_is_not_swept_as_stale(db, fleet):
    """After a restart every station retries at once: one may connect between the listening and the
    sweep of the previous run's rows. Its row is this run's and stays open (it was closed as
    « ingress_restart » and its commands answered 409 « hors ligne » while it was connected)."""
    ref = ref_of(fleet, "CPAM-LM-01", fleet.cpam)
    started = utcnow()
    async with db.transaction([fleet.cpam]) as session:
        await supervision.open_connection(session, ref, remote_address="10.0.0.8:51000", subprotocol="ocpp1.6",
                                          node="ingress-a:9000", connected_at=started + dt.timedelta(milliseconds=5))
    async with db.transaction([fleet.cpam]) as session:
        assert await supervision.close_stale_connections(session, fleet.cpam, "ingress-a:9000", now=started) == 0
    async with db.session([fleet.cpam]) as session:
        (row,) = await session.scalars(select(ConnectionLog))
        assert row.disconnected_at is None
        assert (await session.get(Charger, (fleet.cpam, ref.charger_id))).online is True


async def test_run_ingress_serves_until_cancelled(settings, db, fleet):

    task = asyncio.create_task(run_ingress(dataclasses.replace(settings, ocpp_port=0), db=db, bus=LocalBus()))
    async with asyncio.timeout(30):
        while current_ingress() is None:
            await asyncio.sleep(0.02)
    auth = base64.b64encode(b"CPAM-LM-01:Borne-secret-2026-xyz").decode()
    async with connect(f"ws://127.0.0.1:{current_ingress().port}/ocpp/CPAM-LM-01", subprotocols=["ocpp1.6"],
                       additional_headers={"Authorization": f"Basic {auth}"}) as ws:
        await ws.send('[2, "h", "Heartbeat", {}]')
        assert json.loads(await ws.recv())[:2] == [3, "h"]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert current_ingress() is None
    async with db.session([fleet.cpam]) as session:
        (row,) = await session.scalars(select(ConnectionLog))
        assert row.reason == "server_shutdown"


@pytest.mark.parametrize("backend", BOTH)
async def test_set_based_units_of_one_batch_apply_in_order_with_their_own_results(db, fleet):
    """Statuses, boots, meter values and heartbeats of one group commit run as one statement per kind
    (``csms.domain.writer.batch_later``); each message still gets its own outcome, and a point reported twice
    in the batch ends in its later state. CCTP CPAM 5-5-4 « alertes en cas de pannes »: the Faulted
    report opens the « Hors service » alert, the Available after it closes it, in the same commit."""
    from csms.domain.models import Alert, ChargePoint, MeterValue  # noqa: PLC0415

    writer = GroupCommitWriter(db)
    await writer.start()
    ref = ref_of(fleet, "CPAM-LM-01", fleet.cpam)
    now = utcnow()
    old = now - dt.timedelta(hours=1)

    def status(connector: int, state: str, at: dt.datetime):
        return lambda s: supervision.record_status(s, ref, connector_id=connector, status=state, timestamp=at,
                                                   error_code="GroundFailure" if state == "Faulted" else "",
                                                   received_at=now)

    def boot(firmware: str):
        return lambda s: supervision.record_boot(s, ref, {"vendor": "Hager", "model": "witty",
                                                          "firmware_version": firmware}, received_at=now)

    sample = [{"timestamp": now.isoformat(), "sampled_value": [{"value": "1200"}]}]
    try:
        results = await asyncio.gather(
            writer.submit(fleet.cpam, boot("1.0"), actor="borne A"),
            writer.submit(fleet.cpam, status(1, "Faulted", now - dt.timedelta(seconds=2)), actor="borne A"),
            writer.submit(fleet.cpam, status(1, "Available", now - dt.timedelta(seconds=1)), actor="borne A"),
            writer.submit(fleet.cpam, status(2, "Charging", now), actor="borne A"),
            writer.submit(fleet.cpam, status(2, "Available", old), actor="borne A"),  # older: history only
            writer.submit(fleet.cpam, boot("2.0"), actor="borne A"),
            writer.submit(fleet.cpam, lambda s: supervision.record_meter_values(
                s, ref, connector_id=1, transaction_id=None, meter_values=sample, received_at=now), actor="borne A"),
        )
    finally:
        await writer.stop()
    assert writer.stats.largest_batch == 7
    faulted, available, charging, older = results[1:5]
    assert (faulted.current, available.current, charging.current, older.current) == (True, True, True, False)
    assert [change.topic for change in faulted.alerts] == ["csms.alert.opened"]
    assert [change.topic for change in available.alerts] == ["csms.alert.closed"]
    assert (results[6].samples, results[6].transaction_known) == (1, False)
    async with db.session([fleet.cpam]) as session:
        points = {p.connector_id: p.last_status for p in await session.scalars(
            select(ChargePoint).where(ChargePoint.charger_id == ref.charger_id))}
        assert (points[1], points[2]) == ("Available", "Charging")
        (alert,) = await session.scalars(select(Alert).where(Alert.charger_id == ref.charger_id))
        assert alert.closed_at is not None and alert.close_reason == "status:Available"
        messages = list(await session.scalars(select(StationEvent.message).where(
            StationEvent.charger_id == ref.charger_id, StationEvent.kind == "boot")))
        assert len(messages) == 2 and sum("Micrologiciel précédent : 1.0." in m for m in messages) == 1
        assert (await session.get(Charger, (fleet.cpam, ref.charger_id))).firmware_version == "2.0"
        assert len(list(await session.scalars(select(MeterValue.id).where(MeterValue.charger_id == ref.charger_id)))) == 1


@pytest.mark.parametrize("backend", BOTH)
async def test_hot_messages_of_two_tenants_commit_in_one_batch_each_row_to_its_own_tenant(db, fleet):
    """Connections, boots, statuses, meter values and heartbeats of several tenants in one group
    commit: on PostgreSQL one statement per kind for every tenant (csms.domain.writer.across_tenants),
    each row under its own tenant; a unit that hands over another tenant's station fails alone.
    CPAM's station reports a fault: its alert is opened under CPAM's scope alone, and the runs after it
    (meter values, heartbeats) must still reach the other tenant's rows."""
    writer = GroupCommitWriter(db)
    await writer.start()
    cpam, other = ref_of(fleet, "CPAM-LM-01", fleet.cpam), ref_of(fleet, "VLB-01", fleet.other)
    now = utcnow().replace(microsecond=0)
    meter = [{"timestamp": (now - dt.timedelta(seconds=30)).isoformat(),
              "sampled_value": [{"value": "1234", "unit": "Wh"}]}]

    def hot(ref: StationRef, firmware: str, status: str):
        async def unit(session):
            connection_id = await supervision.open_connection(
                session, ref, remote_address="10.0.0.1:1", subprotocol="ocpp1.6", node="n:1", connected_at=now)
            await supervision.record_boot(session, ref, {"vendor": "ACME", "model": "X", "firmware_version": firmware},
                                          received_at=now)
            await supervision.record_status(session, ref, connector_id=1, status=status, timestamp=now,
                                            received_at=now, error_code="GroundFailure" if status == "Faulted" else "NoError")
            await supervision.record_meter_values(session, ref, connector_id=1, transaction_id=None,
                                                  meter_values=meter, received_at=now)
            await touch_later(session, ref.tenant_id, ref.charger_id, now + dt.timedelta(seconds=5))
            return connection_id

        return unit

    async def intruder(session):  # runs under CPAM's scope, hands over the other tenant's station
        await supervision.record_status(session, other, connector_id=1, status="Faulted", timestamp=now,
                                        received_at=now)

    try:
        results = await asyncio.gather(
            writer.submit(fleet.cpam, hot(cpam, "1.0", "Faulted"), actor="borne A"),
            writer.submit(fleet.other, hot(other, "2.0", "Charging"), actor="borne B"),
        )
        assert (writer.stats.batches, writer.stats.largest_batch, writer.stats.fallbacks) == (1, 2, 0)
        with pytest.raises(TenantScopeError):
            await writer.submit(fleet.cpam, intruder, actor="borne A")
    finally:
        await writer.stop()
    for tenant, ref, firmware, status, connection_id in ((fleet.cpam, cpam, "1.0", "Faulted", results[0]),
                                                         (fleet.other, other, "2.0", "Charging", results[1])):
        async with db.session([tenant]) as session:
            charger = await session.get(Charger, (tenant, ref.charger_id))
            assert (charger.online, charger.firmware_version, charger.registration_status) == (True, firmware, "Accepted")
            assert charger.last_seen_at == now + dt.timedelta(seconds=5)
            connections = list(await session.scalars(select(ConnectionLog).where(ConnectionLog.charger_id == ref.charger_id)))
            assert [c.id for c in connections] == [connection_id]
            assert (await session.scalar(select(ChargePoint.last_status).where(
                ChargePoint.charger_id == ref.charger_id, ChargePoint.connector_id == 1))) == status
            statuses = list(await session.scalars(select(StatusEvent.status).where(StatusEvent.charger_id == ref.charger_id)))
            assert statuses == [status]  # the intruder's « Faulted » was never written
            opened = list(await session.scalars(select(Alert.kind).where(Alert.charger_id == ref.charger_id)))
            assert opened == (["faulted"] if status == "Faulted" else [])
            values = list(await session.scalars(select(MeterValue.value).where(MeterValue.charger_id == ref.charger_id)))
            assert values == [1234.0]
            boots = list(await session.scalars(select(StationEvent.message).where(StationEvent.kind == "boot")))
            assert len(boots) == 1 and f"micrologiciel {firmware}" in boots[0]


@pytest.mark.parametrize("backend", BOTH)
async def test_units_spill_to_other_workers_under_load_and_each_actor_keeps_its_order(db, fleet):
    """The first worker takes everything while its backlog is small (bigger batches, less CPU at a
    moderate rate); beyond ``spill`` new actors go to the least loaded worker, and an actor with
    units in flight stays where they are: a station's messages commit in the order it sent them."""
    ran: list[tuple[str, int]] = []

    def unit(actor: str, number: int):
        async def run(session):
            ran.append((actor, number))
            return number

        return run

    async def load(writer: GroupCommitWriter) -> None:
        futures = [writer.enqueue(fleet.cpam, unit(actor, number), actor=actor)
                   for number in range(6) for actor in ("A", "B", "C", "D", "E", "F")]
        assert await asyncio.gather(*futures) == [number for number in range(6) for _ in range(6)]

    quiet = GroupCommitWriter(db, workers=3)  # default spill: nothing queued long enough to spill
    await quiet.start()
    try:
        await load(quiet)
    finally:
        await quiet.stop()
    assert (quiet.stats.spilled, quiet.stats.batches) == (0, 1)
    ran.clear()
    busy = GroupCommitWriter(db, workers=3, spill=2)
    await busy.start()
    try:
        await load(busy)
    finally:
        await busy.stop()
    assert busy.stats.spilled >= 2
    for actor in "ABCDEF":
        assert [number for who, number in ran if who == actor] == list(range(6))
    assert not busy._pinned  # noqa: SLF001 - every actor released once its units committed


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_the_batchs_last_seen_update_rides_on_its_meter_values_insert(db, fleet):
    """csms.domain.writer « Riders »: a group commit of heartbeats and MeterValues sends the
    last_seen_at update inside the meter values' INSERT (one statement for both), and both are
    committed; without a meter value row to ride on, the update still goes alone."""
    from sqlalchemy import event

    sent: list[str] = []

    def count(conn, cursor, statement, *args):
        if "set_config" not in statement:  # the tenant scope (app.db), whichever way it goes
            sent.append(statement)

    cpam, other = ref_of(fleet, "CPAM-LM-01", fleet.cpam), ref_of(fleet, "VLB-01", fleet.other)
    now = utcnow().replace(microsecond=0)

    def beat(ref: StationRef, at: dt.datetime):
        return lambda session: touch_later(session, ref.tenant_id, ref.charger_id, at)

    def meter(ref: StationRef, values: list) -> object:
        return lambda session: supervision.record_meter_values(session, ref, connector_id=1, transaction_id=None,
                                                               meter_values=values, received_at=now)

    sample = [{"timestamp": now.isoformat(), "sampled_value": [{"value": "42", "unit": "Wh"}]}]
    writer = GroupCommitWriter(db)
    await writer.start()
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await asyncio.gather(writer.submit(fleet.cpam, beat(cpam, now), actor="borne A"),
                             writer.submit(fleet.other, meter(other, sample), actor="borne B"))
        assert writer.stats.batches == 1
        assert len(sent) == 1 and "UPDATE chargers" in sent[0] and "INSERT INTO meter_values" in sent[0], sent
        sent.clear()
        later = now + dt.timedelta(seconds=10)
        await asyncio.gather(writer.submit(fleet.cpam, beat(cpam, later), actor="borne A"),
                             writer.submit(fleet.other, meter(other, []), actor="borne B"))  # no row to ride on
        assert writer.stats.batches == 2
        assert [s for s in sent if "UPDATE chargers" in s] and not [s for s in sent if "meter_values" in s], sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        await writer.stop()
    async with db.session([fleet.cpam, fleet.other]) as session:
        assert (await session.get(Charger, (fleet.cpam, cpam.charger_id))).last_seen_at == later
        values = list(await session.scalars(select(MeterValue.value).where(MeterValue.charger_id == other.charger_id)))
        assert values == [42.0]
