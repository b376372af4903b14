"""The OCPP 1.6J handlers: what a connected charger reports, recorded and answered after the commit.

One ``@on`` method per action (``csms.ingress.link`` says what they share and the rules
they keep); the dispatch reads ``ChargeBox16.ROUTES``, built once from them.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from csms.domain import certificates, firmware, logs, reservations, security_events
from csms.domain import recording as supervision
from csms.domain.events import STATION_BOOTED, STATION_STATUS, TRANSACTION_STARTED, TRANSACTION_STOPPED
from csms.domain.recording import HEARTBEAT_INTERVAL
from csms.domain.writer import touch_later
from csms.ingress.link import StationLink, handled_actions, iso

__all__ = ["ChargeBox16"]


class ChargeBox16(StationLink, ChargePoint16):
    """A connected OCPP 1.6J charger."""

    @on(Action16.boot_notification, skip_schema_validation=True)
    async def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any) -> Any:
        now = self.received_at
        info = {
            "vendor": charge_point_vendor, "model": charge_point_model,
            "serial_number": kwargs.get("charge_point_serial_number"),
            "charge_box_serial_number": kwargs.get("charge_box_serial_number"),
            "firmware_version": kwargs.get("firmware_version"), "iccid": kwargs.get("iccid"),
            "imsi": kwargs.get("imsi"), "meter_type": kwargs.get("meter_type"),
            "meter_serial_number": kwargs.get("meter_serial_number"),
        }
        await self.submit(lambda s: supervision.record_boot(s, self.ref, info, received_at=now))
        self.emit(STATION_BOOTED, at=iso(now), firmware_version=info["firmware_version"] or "")
        return result16.BootNotification(current_time=iso(utcnow()), interval=HEARTBEAT_INTERVAL, status="Accepted")

    @on(Action16.heartbeat, skip_schema_validation=True)
    async def on_heartbeat(self, **kwargs: Any) -> Any:
        now = self.received_at
        # last_seen_at only: one UPDATE for all the heartbeats of a group commit (csms.domain.writer)
        await self.submit(lambda s: touch_later(s, self.ref.tenant_id, self.ref.charger_id, now), touch=False)
        self._touched_at = now
        return result16.Heartbeat(current_time=iso(utcnow()))

    @on(Action16.status_notification, skip_schema_validation=True)
    async def on_status_notification(self, connector_id: int, error_code: str, status: str, **kwargs: Any) -> Any:
        now, ts = self.received_at, self.ts(kwargs.get("timestamp"))
        result = await self.submit(lambda s: supervision.record_status(
            s, self.ref, connector_id=connector_id, status=status,
            error_code="" if error_code == "NoError" else error_code, info=kwargs.get("info") or "",
            vendor_id=kwargs.get("vendor_id") or "", vendor_error_code=kwargs.get("vendor_error_code") or "",
            timestamp=ts, received_at=now,
        ))
        self.emit(STATION_STATUS, connector_id=connector_id, point_canonical_id=result.canonical_id, status=status,
                  error_code=error_code, at=iso(ts or now), offline=result.offline, current=result.current)
        # Its alerts (csms.alert.opened / closed) are durable: in the outbox with this commit, sent by the relay.
        if result.cancelled_reservations:  # the point faulted: CancelReservation, after the commit
            reservations.cancel_later(self.ingress, self.ref, result.cancelled_reservations)
        return result16.StatusNotification()

    @on(Action16.authorize, skip_schema_validation=True)
    async def on_authorize(self, id_tag: str, **kwargs: Any) -> Any:
        now = self.received_at

        async def unit(session: AsyncSession) -> str:
            status, _ = await supervision.authorize_at_charger(session, self.ref, id_tag, now=now)
            return status

        status = await self.submit(unit)
        return result16.Authorize(id_tag_info={"status": status})

    @on(Action16.start_transaction, skip_schema_validation=True)
    async def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str,
                                   **kwargs: Any) -> Any:
        now, started_at = self.received_at, self.ts(timestamp)
        assert started_at is not None
        result = await self.submit(lambda s: supervision.start_transaction(
            s, self.ref, connector_id=connector_id, id_tag=id_tag, meter_start=meter_start, timestamp=started_at,
            reservation_id=kwargs.get("reservation_id"), received_at=now,
        ))
        if not result.replayed:
            self.emit(TRANSACTION_STARTED, transaction_id=result.transaction_id, connector_id=connector_id,
                      id_tag=id_tag, id_tag_status=result.id_tag_status, meter_start=meter_start,
                      started_at=iso(started_at), offline=result.offline)
        return result16.StartTransaction(transaction_id=result.transaction_id, id_tag_info={"status": result.id_tag_status})

    @on(Action16.stop_transaction, skip_schema_validation=True)
    async def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **kwargs: Any) -> Any:
        now, stopped_at = self.received_at, self.ts(timestamp)
        assert stopped_at is not None
        id_tag = kwargs.get("id_tag") or ""
        result = await self.submit(lambda s: supervision.stop_transaction(
            s, self.ref, transaction_id=str(transaction_id), meter_stop=meter_stop, timestamp=stopped_at,
            reason=kwargs.get("reason") or "", id_tag=id_tag, transaction_data=kwargs.get("transaction_data"),
            received_at=now,
        ))
        if result.counted:
            self.emit(TRANSACTION_STOPPED, transaction_id=transaction_id, connector_id=result.connector_id,
                      meter_stop=meter_stop, energy_wh=result.energy_wh, reason=kwargs.get("reason") or "Local",
                      stopped_at=iso(stopped_at), orphan=result.orphan, offline=result.offline)
        if result.id_tag_status is None:
            return result16.StopTransaction()
        return result16.StopTransaction(id_tag_info={"status": result.id_tag_status})

    @on(Action16.meter_values, skip_schema_validation=True)
    async def on_meter_values(self, connector_id: int, meter_value: list[dict[str, Any]], **kwargs: Any) -> Any:
        now = self.received_at
        tx = kwargs.get("transaction_id")
        await self.submit(lambda s: supervision.record_meter_values(
            s, self.ref, connector_id=connector_id, transaction_id=str(tx) if tx is not None else None,
            meter_values=meter_value, received_at=now,
        ))
        return result16.MeterValues()

    @on(Action16.data_transfer, skip_schema_validation=True)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
        now = self.received_at
        details = {"vendor_id": vendor_id, "message_id": kwargs.get("message_id") or "",
                   "data": str(kwargs.get("data") or "")[:2000]}
        await self.submit(lambda s: supervision.record_station_event(
            s, self.ref, "data_transfer", f"Données constructeur reçues ({vendor_id}).", details, received_at=now))
        # We interpret no vendor extension: say so, as OCPP 1.6 defines.
        return result16.DataTransfer(status="UnknownVendorId")

    @on(Action16.diagnostics_status_notification, skip_schema_validation=True)
    async def on_diagnostics_status_notification(self, status: str, **kwargs: Any) -> Any:
        now = self.received_at

        async def unit(session: AsyncSession) -> None:
            await supervision.record_station_event(
                session, self.ref, "diagnostics", f"Diagnostic : {status}.", {"status": status}, received_at=now,
                severity="warning" if status == "UploadFailed" else "info")
            await logs.record_log_status(session, self.ref, action="GetDiagnostics", status=status, request_id=None,
                                         received_at=now)

        await self.submit(unit)
        return result16.DiagnosticsStatusNotification()

    @on(Action16.firmware_status_notification, skip_schema_validation=True)
    async def on_firmware_status_notification(self, status: str, **kwargs: Any) -> Any:
        await firmware.receive_firmware_status(self, kind="firmware", status=status, request_id=None)
        return result16.FirmwareStatusNotification()

    # -- OCPP 1.6 Security Whitepaper ed. 3 (issue 17 §3): the domain's recorders shared with 2.0.1 --

    @on(Action16.signed_firmware_status_notification, skip_schema_validation=True)
    async def on_signed_firmware_status_notification(self, status: str, **kwargs: Any) -> Any:
        await firmware.receive_firmware_status(self, kind="signed_firmware", status=status,
                                               request_id=kwargs.get("request_id"))
        return result16.SignedFirmwareStatusNotification()

    @on(Action16.security_event_notification, skip_schema_validation=True)
    async def on_security_event_notification(self, type: str, timestamp: str, **kwargs: Any) -> Any:  # noqa: A002
        await security_events.receive_notification(self, event_type=type, timestamp=self.ts(timestamp),
                                                   tech_info=kwargs.get("tech_info"), protocol="1.6")
        return result16.SecurityEventNotification()

    @on(Action16.log_status_notification, skip_schema_validation=True)
    async def on_log_status_notification(self, status: str, **kwargs: Any) -> Any:
        await logs.receive_log_status(self, status=status, request_id=kwargs.get("request_id"))
        return result16.LogStatusNotification()

    @on(Action16.sign_certificate, skip_schema_validation=True)
    async def on_sign_certificate(self, csr: str, **kwargs: Any) -> Any:
        status = await certificates.receive_csr(self, csr, version="1.6", certificate_type=None)
        return result16.SignCertificate(status=status)


ChargeBox16.ROUTES = handled_actions(ChargeBox16)
