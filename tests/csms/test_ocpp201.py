"""The ingress speaking OCPP 2.0.1 (``ocpp.v201.ChargePoint`` as the station)."""

from __future__ import annotations

import datetime as dt

import pytest
from ocpp.v201 import call
from sqlalchemy import select

from app.db import utcnow
from csms.domain import registry
from csms.domain.models import MeterValue

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def energy(at: dt.datetime, value: float, context: str, unit: str = "Wh") -> list[dict]:
    return [{"timestamp": ts(at), "sampled_value": [
        {"value": value, "context": context, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": unit}},
    ]}]


@pytest.mark.parametrize("backend", BOTH)
async def test_boot_status_and_a_transaction_event_sequence(db, fleet, ingress, stations):
    start = utcnow().replace(microsecond=0) - dt.timedelta(minutes=30)
    token = {"id_token": "badge-ok", "type": "ISO14443"}
    async with stations.connect("CPAM-LM-201", version="2.0.1") as (cp, wire):
        await cp.call(call.BootNotification(
            charging_station={"model": "Wallbox Commander 2", "vendor_name": "Wallbox", "firmware_version": "6.1.9",
                              "serial_number": "WB-0042", "modem": {"iccid": "8933000000000000001"}},
            reason="PowerUp"), unique_id="boot")
        assert wire.answer("boot")[2] == {"currentTime": wire.answer("boot")[2]["currentTime"], "interval": 300,
                                          "status": "Accepted"}
        await cp.call(call.StatusNotification(timestamp=ts(utcnow()), connector_status="Occupied", evse_id=1,
                                              connector_id=1), unique_id="status")
        await cp.call(call.Authorize(id_token=token), unique_id="auth")
        await cp.call(call.Authorize(id_token={"id_token": "NOBODY", "type": "ISO14443"}), unique_id="auth-unknown")
        started = call.TransactionEvent(
            event_type="Started", timestamp=ts(start), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "TX-201-0001", "charging_state": "Charging"},
            evse={"id": 1, "connector_id": 1}, id_token=token, meter_value=energy(start, 1200, "Transaction.Begin"))
        await cp.call(started, unique_id="te-0")
        await cp.call(call.TransactionEvent(
            event_type="Updated", timestamp=ts(start + dt.timedelta(minutes=15)), trigger_reason="MeterValuePeriodic",
            seq_no=1, transaction_info={"transaction_id": "TX-201-0001", "charging_state": "Charging"},
            meter_value=energy(start + dt.timedelta(minutes=15), 3.5, "Sample.Periodic", "kWh")), unique_id="te-1")
        ended = call.TransactionEvent(
            event_type="Ended", timestamp=ts(start + dt.timedelta(minutes=29)), trigger_reason="EVDeparted", seq_no=2,
            transaction_info={"transaction_id": "TX-201-0001", "stopped_reason": "EVDisconnected"},
            evse={"id": 1, "connector_id": 1}, meter_value=energy(start + dt.timedelta(minutes=29), 6200, "Transaction.End"))
        await cp.call(ended, unique_id="te-2")
        await cp.call(started, unique_id="te-0-replay")  # replays change nothing
        await cp.call(ended, unique_id="te-2-replay")
        assert [wire.answer(u) for u in ("status", "auth", "auth-unknown", "te-0", "te-1", "te-2", "te-0-replay",
                                         "te-2-replay")] == [
            [3, "status", {}],
            [3, "auth", {"idTokenInfo": {"status": "Accepted"}}],
            [3, "auth-unknown", {"idTokenInfo": {"status": "Unknown"}}],  # 2.0.1 has « Unknown »
            [3, "te-0", {"idTokenInfo": {"status": "Accepted"}}],
            [3, "te-1", {}],
            [3, "te-2", {}],
            [3, "te-0-replay", {"idTokenInfo": {"status": "Accepted"}}],
            [3, "te-2-replay", {}],
        ]
    async with db.session([fleet.cpam]) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-201")
        assert (charger.vendor, charger.model, charger.firmware_version, charger.protocol) == (
            "Wallbox", "Wallbox Commander 2", "6.1.9", "ocpp2.0.1")
        points = await registry.list_charge_points(session, fleet.cpam, charger.id)
        assert points[0].last_status == "Occupied"
        (row,) = await registry.list_transactions(session, fleet.cpam, charger.id)
        assert (row.ocpp_transaction_id, row.status, row.connector_id, row.id_tag, row.id_tag_status) == (
            "TX-201-0001", "completed", 1, "badge-ok", "Accepted")
        assert (row.meter_start, row.meter_stop, row.energy_wh, row.stop_reason) == (1200, 6200, 5000, "EVDisconnected")
        assert row.seq_no == 1 and row.offline is True  # started 30 minutes before it reached us
        values = list(await session.scalars(select(MeterValue.value).where(MeterValue.transaction_id == row.id)
                                            .order_by(MeterValue.sampled_at)))
        assert values == [1200.0, 3.5, 6200.0]
    assert len(await ingress.events.wait("transaction.started")) == 1
    stopped = await ingress.events.wait("transaction.stopped")
    assert [(e["transaction_id"], e["energy_wh"]) for e in stopped] == [("TX-201-0001", 5000)]
