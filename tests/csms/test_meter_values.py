"""MeterValues without a transactionId: stored against the connector, linked to the
transaction active on that connector at the sample's time.

OCPP 1.6 makes ``transactionId`` optional in MeterValues (clock-aligned data, a
firmware that omits it); OCPP 2.0.1's MeterValues never carries one (it reports by
EVSE). CCTP CPAM 5-5-4: « enregistrement des courbes de charge » — a sample taken
during a charge belongs to that charge's curve whether or not the station named it.
The rule (``supervision.record_meter_values``): a sample at time t on connector c is
linked to the transaction of c with ``started_at <= t <= stopped_at`` (or not
stopped yet); connector / EVSE 0 (the main meter) is never linked; the
``ocpp_transaction_id`` column stays empty (the station did not name one).
"""

from __future__ import annotations

import datetime as dt

import pytest
from ocpp.v16 import call
from ocpp.v201 import call as call201
from sqlalchemy import select

from app.db import utcnow
from csms.domain.models import MeterValue, Transaction

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def energy16(at: dt.datetime, wh: float) -> list[dict]:
    return [{"timestamp": iso(at), "sampled_value": [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Clock"}]}]


def energy201(at: dt.datetime, wh: float) -> list[dict]:
    return [{"timestamp": iso(at), "sampled_value": [
        {"value": wh, "measurand": "Energy.Active.Import.Register", "context": "Sample.Clock",
         "unit_of_measure": {"unit": "Wh"}}]}]


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def samples(db, tenant_id) -> list[tuple[int, float, str | None, str]]:
    """(connector, value, OCPP transactionId of the linked transaction or None, transactionId as sent)."""
    async with db.session([tenant_id]) as session:
        rows = (await session.execute(
            select(MeterValue.connector_id, MeterValue.value, Transaction.ocpp_transaction_id,
                   MeterValue.ocpp_transaction_id)
            .outerjoin(Transaction, (Transaction.tenant_id == MeterValue.tenant_id)
                       & (Transaction.id == MeterValue.transaction_id))
            .where(MeterValue.tenant_id == tenant_id)
            .order_by(MeterValue.connector_id, MeterValue.sampled_at)
        )).all()
    return [tuple(row) for row in rows]


@pytest.mark.parametrize("backend", BOTH)
async def test_16_meter_values_without_transaction_id_join_the_transaction_active_on_their_connector(
        db, fleet, ingress, stations):
    t0 = utcnow().replace(microsecond=0) - dt.timedelta(minutes=2)  # recent: not offline data
    second = dt.timedelta(seconds=1)
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        await cp.call(call.MeterValues(connector_id=1, meter_value=energy16(t0 - second, 900)))  # before the start
        start = await cp.call(call.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=1000,
                                                    timestamp=iso(t0)))
        tx = str(start.transaction_id)
        await cp.call(call.MeterValues(connector_id=1, meter_value=energy16(t0 + 10 * second, 1100)))
        await cp.call(call.MeterValues(connector_id=2, meter_value=energy16(t0 + 10 * second, 50)))  # idle connector
        await cp.call(call.MeterValues(connector_id=0, meter_value=energy16(t0 + 10 * second, 77000)))  # main meter
        await cp.call(call.MeterValues(connector_id=1, meter_value=energy16(t0 + 20 * second, 1200),
                                       transaction_id=int(tx)))  # named: kept as before
        await cp.call(call.StopTransaction(transaction_id=int(tx), meter_stop=1400, timestamp=iso(t0 + 30 * second)))
        await cp.call(call.MeterValues(connector_id=1, meter_value=energy16(t0 + 40 * second, 1400)))  # after the stop
        # Sent late (the station's queue), taken during the charge: joins the completed transaction.
        await cp.call(call.MeterValues(connector_id=1, meter_value=energy16(t0 + 25 * second, 1300)))
        await cp.call(call.MeterValues(connector_id=1, meter_value=energy16(t0 + 10 * second, 1100)))  # replay
        await cp.call(call.MeterValues(connector_id=1, meter_value=energy16(t0 + 30 * second, 1400)))  # at the stop

    assert await samples(db, fleet.cpam) == [
        (0, 77000.0, None, ""),
        (1, 900.0, None, ""),
        (1, 1100.0, tx, ""),
        (1, 1200.0, tx, tx),
        (1, 1300.0, tx, ""),
        (1, 1400.0, tx, ""),  # t0 + 30 s: the stop's own instant belongs to the charge
        (1, 1400.0, None, ""),  # t0 + 40 s
        (2, 50.0, None, ""),
    ]


@pytest.mark.parametrize("backend", BOTH)
async def test_16_offline_meter_values_link_to_the_offline_transaction_and_flag_it(db, fleet, ingress, stations):
    t0 = utcnow().replace(microsecond=0) - dt.timedelta(hours=3)  # a communication cut (CCTP CPAM 5-5)
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        start = await cp.call(call.StartTransaction(connector_id=2, id_tag="BADGE-OK", meter_start=0,
                                                    timestamp=iso(t0)))
        await cp.call(call.MeterValues(connector_id=2, meter_value=energy16(t0 + dt.timedelta(minutes=30), 3000)))
    async with db.session([fleet.cpam]) as session:
        row = (await session.execute(
            select(MeterValue.offline, Transaction.ocpp_transaction_id, Transaction.offline)
            .join(Transaction, (Transaction.tenant_id == MeterValue.tenant_id)
                  & (Transaction.id == MeterValue.transaction_id))
            .where(MeterValue.tenant_id == fleet.cpam, MeterValue.connector_id == 2)
        )).one()
    assert tuple(row) == (True, str(start.transaction_id), True)


@pytest.mark.parametrize("backend", BOTH)
async def test_201_meter_values_by_evse_join_the_transaction_running_on_that_evse(db, fleet, ingress, stations):
    t0 = utcnow().replace(microsecond=0) - dt.timedelta(minutes=2)
    second = dt.timedelta(seconds=1)
    token = {"id_token": "BADGE-OK", "type": "ISO14443"}
    async with stations.connect("CPAM-LM-201", version="2.0.1") as (cp, _wire):
        await cp.call(call201.TransactionEvent(
            event_type="Started", timestamp=iso(t0), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "TX-EVSE-1"}, evse={"id": 1, "connector_id": 1}, id_token=token))
        await cp.call(call201.MeterValues(evse_id=1, meter_value=energy201(t0 + 5 * second, 250)))
        await cp.call(call201.MeterValues(evse_id=2, meter_value=energy201(t0 + 5 * second, 10)))
        await cp.call(call201.MeterValues(evse_id=0, meter_value=energy201(t0 + 5 * second, 99000)))
        await cp.call(call201.MeterValues(evse_id=1, meter_value=energy201(t0 + 5 * second, 250)))  # replay
        await cp.call(call201.TransactionEvent(
            event_type="Ended", timestamp=iso(t0 + 9 * second), trigger_reason="EVDeparted", seq_no=1,
            transaction_info={"transaction_id": "TX-EVSE-1", "stopped_reason": "EVDisconnected"}))
        await cp.call(call201.MeterValues(evse_id=1, meter_value=energy201(t0 + 12 * second, 400)))

    assert await samples(db, fleet.cpam) == [
        (0, 99000.0, None, ""),
        (1, 250.0, "TX-EVSE-1", ""),
        (1, 400.0, None, ""),
        (2, 10.0, None, ""),
    ]


@pytest.mark.parametrize("backend", BOTH)
async def test_offline_samples_flag_an_online_transaction_and_the_audit_names_the_station(db, fleet):
    """A transaction started while connected, then samples stored during a cut (CCTP CPAM 5-5):
    the transaction is flagged offline by the group commit that brings them, and the audit log
    names the station that sent them, not the last station of the batch."""
    import asyncio

    from app.audit import AuditEvent
    from csms.domain import recording as supervision
    from csms.domain.writer import GroupCommitWriter
    from tests.csms.test_writer import ref_of

    t0 = utcnow().replace(microsecond=0) - dt.timedelta(hours=1)
    ref, other = ref_of(fleet, "CPAM-LM-01", fleet.cpam), ref_of(fleet, "CPAM-LM-02", fleet.cpam)
    async with db.transaction([fleet.cpam], actor={"user_id": None, "label": "test"}) as session:
        started = await supervision.start_transaction(session, ref, connector_id=1, id_tag="BADGE-OK", meter_start=0,
                                                      timestamp=t0, received_at=t0)
    assert not started.offline

    def samples(station, transaction_id, at):
        return lambda session: supervision.record_meter_values(
            session, station, connector_id=1, transaction_id=transaction_id, received_at=utcnow(),
            meter_values=[{"timestamp": iso(at), "sampled_value": [{"value": "2000", "unit": "Wh"}]}])

    writer = GroupCommitWriter(db)
    await writer.start()
    try:
        await asyncio.gather(  # one batch: the flagging station first, another station last
            writer.submit(fleet.cpam, samples(ref, str(started.transaction_id), t0 + dt.timedelta(minutes=20)),
                          actor=ref.actor),
            writer.submit(fleet.cpam, samples(other, None, utcnow()), actor=other.actor),
        )
    finally:
        await writer.stop()
    assert writer.stats.batches == 1
    async with db.session([fleet.cpam]) as session:
        assert await session.scalar(select(Transaction.offline).where(Transaction.id == started.row_id))
        labels = list(await session.scalars(select(AuditEvent.actor_label).where(
            AuditEvent.entity_id.contains(str(started.row_id)), AuditEvent.action == "update")))
    assert labels == ["borne CPAM-LM-01"]
