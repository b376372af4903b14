"""A simulated OCPP 1.6 station (``centrale stations simulate``) for demos and manual checks.

It is the ``ocpp`` library's own ``ChargePoint`` over a ``websockets`` client, the
same station the tests use: boot, statuses, heartbeat, one charging session with
meter values, then it stays connected (heartbeats) until interrupted, answering
the remote commands of the portal (accepted, with plausible answers).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.client import connect

__all__ = ["SimulatedStation", "Scenario", "run_simulation"]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SimulatedStation(ChargePoint):
    """Answers the CSMS's calls like a compliant, cooperative station."""

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag: str, **_: Any) -> Any:
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        return call_result.RemoteStopTransaction(status="Accepted")

    @on("Reset")
    async def on_reset(self, type: str, **_: Any) -> Any:  # noqa: A002 - the OCPP field name
        return call_result.Reset(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock(self, connector_id: int, **_: Any) -> Any:
        return call_result.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    async def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:  # noqa: A002
        return call_result.ChangeAvailability(status="Accepted")

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        return call_result.ChangeConfiguration(status="Accepted")

    @on("GetConfiguration")
    async def on_get_configuration(self, **_: Any) -> Any:
        return call_result.GetConfiguration(configuration_key=[
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"},
        ])

    @on("TriggerMessage")
    async def on_trigger(self, requested_message: str, **_: Any) -> Any:
        return call_result.TriggerMessage(status="Accepted")

    @on("ClearCache")
    async def on_clear_cache(self, **_: Any) -> Any:
        return call_result.ClearCache(status="Accepted")

    @on("SendLocalList")
    async def on_send_local_list(self, list_version: int, update_type: str, **_: Any) -> Any:
        return call_result.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(list_version=0)

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any) -> Any:
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **_: Any) -> Any:
        return call_result.ClearChargingProfile(status="Accepted")

    @on("ReserveNow")
    async def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **_: Any) -> Any:
        return call_result.ReserveNow(status="Accepted")

    @on("CancelReservation")
    async def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        return call_result.CancelReservation(status="Accepted")

    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="Accepted")


@dataclass
class Scenario:
    url: str  # ws://host:port/ocpp/ (the charge_box_id is appended)
    charge_box_id: str
    password: str
    id_tag: str = "04A2B3C4D5E6F7"
    connector_id: int = 1
    connectors: int = 2
    power_w: float = 7400.0
    samples: int = 6
    sample_interval: float = 10.0
    heartbeat_interval: float = 60.0
    stay: bool = True


async def run_simulation(scenario: Scenario, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the scenario; returns what the CSMS answered (transaction id, badge status…)."""
    token = base64.b64encode(f"{scenario.charge_box_id}:{scenario.password}".encode()).decode()
    url = scenario.url.rstrip("/") + "/" + scenario.charge_box_id
    async with connect(url, subprotocols=["ocpp1.6"], additional_headers={"Authorization": f"Basic {token}"},
                       open_timeout=30) as ws:
        station = SimulatedStation(scenario.charge_box_id, ws, response_timeout=30)
        listener = asyncio.create_task(station.start())
        try:
            return await _drive(station, scenario, say)
        finally:
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener


async def _drive(station: SimulatedStation, scenario: Scenario, say: Callable[[str], None]) -> dict[str, Any]:
    boot = await station.call(call.BootNotification(
        charge_point_vendor="Centrale", charge_point_model="Simulateur", firmware_version="1.0.0",
        charge_point_serial_number=f"SIM-{scenario.charge_box_id}"[:25],
    ), suppress=False)
    say(f"BootNotification : {boot.status}, battement toutes les {boot.interval} s")
    for connector in range(0, scenario.connectors + 1):
        await station.call(call.StatusNotification(connector_id=connector, error_code="NoError", status="Available",
                                                   timestamp=_now()), suppress=False)
    await station.call(call.Heartbeat(), suppress=False)
    auth = await station.call(call.Authorize(id_tag=scenario.id_tag), suppress=False)
    say(f"Authorize {scenario.id_tag} : {auth.id_tag_info['status']}")
    meter = 1000
    started = await station.call(call.StartTransaction(
        connector_id=scenario.connector_id, id_tag=scenario.id_tag, meter_start=meter, timestamp=_now(),
    ), suppress=False)
    transaction_id = started.transaction_id
    say(f"StartTransaction : transaction {transaction_id}, badge {started.id_tag_info['status']}")
    await station.call(call.StatusNotification(connector_id=scenario.connector_id, error_code="NoError",
                                               status="Charging", timestamp=_now()), suppress=False)
    for _ in range(scenario.samples):
        await asyncio.sleep(scenario.sample_interval)
        meter += round(scenario.power_w * scenario.sample_interval / 3600)
        await station.call(call.MeterValues(connector_id=scenario.connector_id, transaction_id=transaction_id, meter_value=[{
            "timestamp": _now(), "sampled_value": [
                {"value": str(meter), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
                 "context": "Sample.Periodic"},
                {"value": f"{scenario.power_w:.1f}", "measurand": "Power.Active.Import", "unit": "W",
                 "context": "Sample.Periodic"},
            ],
        }]), suppress=False)
        say(f"MeterValues : {meter} Wh")
    await station.call(call.StopTransaction(meter_stop=meter, timestamp=_now(), transaction_id=transaction_id,
                                            id_tag=scenario.id_tag, reason="EVDisconnected"), suppress=False)
    await station.call(call.StatusNotification(connector_id=scenario.connector_id, error_code="NoError",
                                               status="Available", timestamp=_now()), suppress=False)
    say(f"StopTransaction : {meter - 1000} Wh livrés")
    while scenario.stay:
        await asyncio.sleep(scenario.heartbeat_interval)
        await station.call(call.Heartbeat(), suppress=False)
    return {"transaction_id": transaction_id, "id_tag_status": started.id_tag_info["status"], "energy_wh": meter - 1000}
