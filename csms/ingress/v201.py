"""The OCPP 2.0.1 handlers: what a connected charging station reports, recorded and answered
after the commit. Its EVSEs are our charge points (P).

One ``@on`` method per action (``csms.ingress.link`` says what they share and the rules
they keep); the dispatch reads ``ChargeBox201.ROUTES``, built once from them.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from csms.domain import recording as supervision
from csms.domain import reservations
from csms.domain.events import (
    STATION_BOOTED,
    STATION_STATUS,
    TRANSACTION_STARTED,
    TRANSACTION_STOPPED,
    TRANSACTION_UPDATED,
)
from csms.domain.recording import HEARTBEAT_INTERVAL
from csms.domain.writer import touch_later
from csms.ingress.link import StationLink, handled_actions, iso

__all__ = ["ChargeBox201"]


class ChargeBox201(StationLink, ChargePoint201):
    """A connected OCPP 2.0.1 charging station. Its EVSEs are our charge points (P)."""

    @on(Action201.boot_notification, skip_schema_validation=True)
    async def on_boot_notification(self, charging_station: dict[str, Any], reason: str, **kwargs: Any) -> Any:
        now = self.received_at
        modem = charging_station.get("modem") or {}
        info = {
            "vendor": charging_station.get("vendor_name"), "model": charging_station.get("model"),
            "serial_number": charging_station.get("serial_number"),
            "firmware_version": charging_station.get("firmware_version"),
            "iccid": modem.get("iccid"), "imsi": modem.get("imsi"),
        }
        await self.submit(lambda s: supervision.record_boot(s, self.ref, info, reason=reason, received_at=now))
        self.emit(STATION_BOOTED, at=iso(now), firmware_version=info["firmware_version"] or "")
        return result201.BootNotification(current_time=iso(utcnow()), interval=HEARTBEAT_INTERVAL, status="Accepted")

    @on(Action201.heartbeat, skip_schema_validation=True)
    async def on_heartbeat(self, **kwargs: Any) -> Any:
        now = self.received_at
        # last_seen_at only: one UPDATE for all the heartbeats of a group commit (csms.domain.writer)
        await self.submit(lambda s: touch_later(s, self.ref.tenant_id, self.ref.charger_id, now), touch=False)
        self._touched_at = now
        return result201.Heartbeat(current_time=iso(utcnow()))

    @on(Action201.status_notification, skip_schema_validation=True)
    async def on_status_notification(self, timestamp: str, connector_status: str, evse_id: int, connector_id: int,
                                     **kwargs: Any) -> Any:
        now, ts = self.received_at, self.ts(timestamp)
        result = await self.submit(lambda s: supervision.record_status(
            s, self.ref, connector_id=evse_id, status=connector_status,
            info=f"connecteur {connector_id}" if connector_id != 1 else "", timestamp=ts, received_at=now,
        ))
        self.emit(STATION_STATUS, connector_id=evse_id, point_canonical_id=result.canonical_id,
                  status=connector_status, error_code="", at=iso(ts or now), offline=result.offline,
                  current=result.current)
        # Its alerts (csms.alert.opened / closed) are durable: in the outbox with this commit, sent by the relay.
        if result.cancelled_reservations:  # the point faulted: CancelReservation, after the commit
            reservations.cancel_later(self.ingress, self.ref, result.cancelled_reservations)
        return result201.StatusNotification()

    @on(Action201.authorize, skip_schema_validation=True)
    async def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> Any:
        now = self.received_at

        async def unit(session: AsyncSession) -> str:
            status, _ = await supervision.authorize_at_charger(
                session, self.ref, id_token.get("id_token", ""), now=now, unknown="Unknown")
            return status

        status = await self.submit(unit)
        return result201.Authorize(id_token_info={"status": status})

    @on(Action201.transaction_event, skip_schema_validation=True)
    async def on_transaction_event(self, event_type: str, timestamp: str, trigger_reason: str, seq_no: int,
                                   transaction_info: dict[str, Any], **kwargs: Any) -> Any:
        now, at = self.received_at, self.ts(timestamp)
        assert at is not None
        result = await self.submit(lambda s: supervision.record_transaction_event(
            s, self.ref, event_type=event_type, timestamp=at, trigger_reason=trigger_reason, seq_no=seq_no,
            transaction_info=transaction_info, offline_flag=bool(kwargs.get("offline")), evse=kwargs.get("evse"),
            id_token=kwargs.get("id_token"), meter_value=kwargs.get("meter_value"), received_at=now,
            reservation_id=kwargs.get("reservation_id"),
        ))
        ocpp_id = transaction_info["transaction_id"]
        if result.started:
            self.emit(TRANSACTION_STARTED, transaction_id=ocpp_id, connector_id=result.connector_id,
                      id_tag=(kwargs.get("id_token") or {}).get("id_token", ""), id_tag_status=result.id_token_status,
                      started_at=iso(at), offline=result.offline, anomaly=result.anomaly)
        if result.changed:
            self.emit(TRANSACTION_UPDATED, transaction_id=ocpp_id, connector_id=result.connector_id,
                      id_tag_status=result.id_token_status)
        if result.stopped:
            self.emit(TRANSACTION_STOPPED, transaction_id=ocpp_id, connector_id=result.connector_id,
                      energy_wh=result.energy_wh, reason=transaction_info.get("stopped_reason") or "Local",
                      stopped_at=iso(at), offline=result.offline)
        if result.id_token_status is None:
            return result201.TransactionEvent()
        return result201.TransactionEvent(id_token_info={"status": result.id_token_status})

    @on(Action201.meter_values, skip_schema_validation=True)
    async def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]], **kwargs: Any) -> Any:
        now = self.received_at
        await self.submit(lambda s: supervision.record_meter_values(
            s, self.ref, connector_id=evse_id, transaction_id=None, meter_values=meter_value, received_at=now,
            protocol="2.0.1",
        ))
        return result201.MeterValues()

    @on(Action201.notify_event, skip_schema_validation=True)
    async def on_notify_event(self, generated_at: str, seq_no: int, event_data: list[dict[str, Any]],
                              **kwargs: Any) -> Any:
        now, at = self.received_at, self.ts(generated_at)

        async def unit(session: AsyncSession) -> None:
            for event in event_data[:50]:
                component = (event.get("component") or {}).get("name", "")
                variable = (event.get("variable") or {}).get("name", "")
                problem = bool(event.get("tech_code")) or event.get("trigger") == "Alerting"
                await supervision.record_station_event(
                    session, self.ref, "notify_event",
                    f"Événement {component}.{variable} = {event.get('actual_value', '')} ({event.get('trigger', '')}).",
                    {**event, "seq_no": seq_no}, received_at=now, occurred_at=self.ts(event.get("timestamp")) or at,
                    severity="warning" if problem else "info",
                )

        await self.submit(unit)
        return result201.NotifyEvent()


ChargeBox201.ROUTES = handled_actions(ChargeBox201)
