"""The OCPP 2.0.1 handlers: what a connected charging station reports, recorded and answered
after the commit. Its EVSEs are our charge points (P).

One ``@on`` method per action (``csms.ingress.link`` says what they share and the rules
they keep); the dispatch reads ``ChargeBox201.ROUTES``, built once from them.
"""

from __future__ import annotations

import json
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from csms.domain import certificates, device_model, firmware, logs, reservations, security_events
from csms.domain import recording as supervision
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

#: Largest ``details`` kept in the register for one message (JSON characters): a 512 KiB frame
#: of charging profiles is summarised, not copied.
DETAILS_MAX = 16_000


def _bounded(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` as they are when small; else each list value replaced by its length."""
    if len(json.dumps(details, default=str)) <= DETAILS_MAX:
        return details
    return {key: {"items": len(value), "truncated": True} if isinstance(value, list | dict) else value
            for key, value in details.items()}


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


    # -- the device model (issue 17 §2): reports in parts, stored per station -------------

    @on(Action201.notify_report, skip_schema_validation=True)
    async def on_notify_report(self, request_id: int, generated_at: str, seq_no: int, **kwargs: Any) -> Any:
        now, at = self.received_at, self.ts(generated_at)
        await self.submit(lambda s: device_model.record_report_part(
            s, self.ref, request_id=request_id, seq_no=seq_no, tbc=bool(kwargs.get("tbc")), generated_at=at,
            report_data=kwargs.get("report_data") or [], received_at=now))
        return result201.NotifyReport()

    @on(Action201.notify_monitoring_report, skip_schema_validation=True)
    async def on_notify_monitoring_report(self, request_id: int, seq_no: int, generated_at: str,
                                          **kwargs: Any) -> Any:
        now, at = self.received_at, self.ts(generated_at)
        await self.submit(lambda s: device_model.record_monitoring_part(
            s, self.ref, request_id=request_id, seq_no=seq_no, tbc=bool(kwargs.get("tbc")), generated_at=at,
            monitors=kwargs.get("monitor") or [], received_at=now))
        return result201.NotifyMonitoringReport()

    # -- the other station messages: recorded in the station's register, answered per the spec --

    async def _register(self, kind: str, message: str, details: dict[str, Any], *, severity: str = "info",
                        occurred_at: str | None = None) -> None:
        now, at = self.received_at, self.ts(occurred_at)
        await self.submit(lambda s: supervision.record_station_event(
            s, self.ref, kind, message, _bounded(details), received_at=now, occurred_at=at, severity=severity))

    @on(Action201.report_charging_profiles, skip_schema_validation=True)
    async def on_report_charging_profiles(self, request_id: int, charging_limit_source: str, evse_id: int,
                                          charging_profile: list[dict[str, Any]], **kwargs: Any) -> Any:
        await self._register("charging_profiles", f"Profils de charge de l'EVSE {evse_id} : {len(charging_profile)} "
                             f"(source {charging_limit_source}, demande {request_id}).",
                             {"request_id": request_id, "evse_id": evse_id, "source": charging_limit_source,
                              "tbc": bool(kwargs.get("tbc")), "charging_profile": charging_profile})
        return result201.ReportChargingProfiles()

    @on(Action201.reservation_status_update, skip_schema_validation=True)
    async def on_reservation_status_update(self, reservation_id: int, reservation_update_status: str,
                                           **kwargs: Any) -> Any:
        now = self.received_at
        words = {"Expired": "expirée", "Removed": "retirée"}

        async def unit(session: AsyncSession) -> None:
            await reservations.record_station_update(session, self.ref, reservation_id=reservation_id,
                                                     status=reservation_update_status, at=now)
            await supervision.record_station_event(
                session, self.ref, "reservation",
                f"Réservation {reservation_id} {words.get(reservation_update_status, reservation_update_status)} "
                "par la borne.", {"reservation_id": reservation_id, "status": reservation_update_status},
                received_at=now)

        await self.submit(unit)
        return result201.ReservationStatusUpdate()

    @on(Action201.data_transfer, skip_schema_validation=True)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
        await self._register("data_transfer", f"Données constructeur reçues ({vendor_id}).",
                             {"vendor_id": vendor_id, "message_id": kwargs.get("message_id") or "",
                              "data": str(kwargs.get("data") or "")[:2000]})
        # We interpret no vendor extension: OCPP 2.0.1 P01 « UnknownVendorId », as in 1.6.
        return result201.DataTransfer(status="UnknownVendorId")

    @on(Action201.notify_charging_limit, skip_schema_validation=True)
    async def on_notify_charging_limit(self, charging_limit: dict[str, Any], **kwargs: Any) -> Any:
        source, evse = charging_limit.get("charging_limit_source", ""), kwargs.get("evse_id")
        critical = bool(charging_limit.get("is_grid_critical"))
        await self._register("charging_limit", f"Limite de charge externe ({source})"
                             f"{f' sur l’EVSE {evse}' if evse is not None else ''}"
                             f"{' — réseau critique' if critical else ''}.",
                             {"source": source, "evse_id": evse, "is_grid_critical": critical,
                              "charging_schedule": kwargs.get("charging_schedule") or []},
                             severity="warning" if critical else "info")
        return result201.NotifyChargingLimit()

    @on(Action201.cleared_charging_limit, skip_schema_validation=True)
    async def on_cleared_charging_limit(self, charging_limit_source: str, **kwargs: Any) -> Any:
        evse = kwargs.get("evse_id")
        await self._register("charging_limit", f"Limite de charge externe levée ({charging_limit_source})"
                             f"{f' sur l’EVSE {evse}' if evse is not None else ''}.",
                             {"source": charging_limit_source, "evse_id": evse, "cleared": True})
        return result201.ClearedChargingLimit()

    @on(Action201.notify_ev_charging_needs, skip_schema_validation=True)
    async def on_notify_ev_charging_needs(self, charging_needs: dict[str, Any], evse_id: int, **kwargs: Any) -> Any:
        await self._register("ev_charging_needs", f"Besoins de charge du véhicule sur l'EVSE {evse_id} "
                             f"({charging_needs.get('requested_energy_transfer', '')}).",
                             {"evse_id": evse_id, "charging_needs": charging_needs,
                              "max_schedule_tuples": kwargs.get("max_schedule_tuples")})
        # K15: « Rejected »: no charging profile will be computed from these needs (our smart charging
        # allocates the site's power, csms.domain.smart_charging, not ISO 15118 schedules).
        return result201.NotifyEVChargingNeeds(status="Rejected")

    @on(Action201.notify_ev_charging_schedule, skip_schema_validation=True)
    async def on_notify_ev_charging_schedule(self, time_base: str, charging_schedule: dict[str, Any], evse_id: int,
                                             **kwargs: Any) -> Any:
        await self._register("ev_charging_schedule", f"Programme de charge du véhicule sur l'EVSE {evse_id}.",
                             {"evse_id": evse_id, "time_base": time_base, "charging_schedule": charging_schedule},
                             occurred_at=time_base)
        # K17: the EV's schedule stays within the limits we set: taken as it is.
        return result201.NotifyEVChargingSchedule(status="Accepted")

    @on(Action201.notify_customer_information, skip_schema_validation=True)
    async def on_notify_customer_information(self, data: str, seq_no: int, generated_at: str, request_id: int,
                                             **kwargs: Any) -> Any:
        await self._register("customer_information", f"Informations client (demande {request_id}, partie {seq_no}"
                             f"{'' if kwargs.get('tbc') else ', dernière'}).",
                             {"request_id": request_id, "seq_no": seq_no, "tbc": bool(kwargs.get("tbc")),
                              "data": data[:512]}, occurred_at=generated_at)
        return result201.NotifyCustomerInformation()

    @on(Action201.notify_display_messages, skip_schema_validation=True)
    async def on_notify_display_messages(self, request_id: int, **kwargs: Any) -> Any:
        messages = kwargs.get("message_info") or []
        await self._register("display_messages", f"Messages affichés par la borne (demande {request_id}) : "
                             f"{len(messages)}.", {"request_id": request_id, "tbc": bool(kwargs.get("tbc")),
                                                   "message_info": messages})
        return result201.NotifyDisplayMessages()

    @on(Action201.get_15118_ev_certificate, skip_schema_validation=True)
    async def on_get_15118_ev_certificate(self, iso15118_schema_version: str, action: str, exi_request: str,
                                          **kwargs: Any) -> Any:
        # M02 / M03: the request goes to the contract certificate provider (a seam, contract_certificates).
        answer = await self.ingress.contract_authority.ev_certificate(iso15118_schema_version, action, exi_request)
        await self._register("ev_certificate", f"Certificat de contrat ISO 15118 ({action}) : {answer.status}.",
                             {"action": action, "schema_version": iso15118_schema_version, "status": answer.status},
                             severity="info" if answer.status == "Accepted" else "warning")
        return result201.Get15118EVCertificate(status=answer.status, exi_response=answer.data)

    @on(Action201.get_certificate_status, skip_schema_validation=True)
    async def on_get_certificate_status(self, ocsp_request_data: dict[str, Any], **kwargs: Any) -> Any:
        # M06: the OCSP request goes to the responder through the same seam.
        answer = await self.ingress.contract_authority.certificate_status(ocsp_request_data)
        await self._register("certificate_status", f"Statut OCSP d'un certificat : {answer.status}.",
                             {"serial_number": ocsp_request_data.get("serial_number", ""),
                              "responder_url": ocsp_request_data.get("responder_url", ""), "status": answer.status},
                             severity="info" if answer.status == "Accepted" else "warning")
        return result201.GetCertificateStatus(status=answer.status, ocsp_result=answer.data or None)


    # -- security events, firmware, logs, station certificates (issue 17 §3, §5): the domain's
    # recorders shared with 1.6, each handler translating its version's field names

    @on(Action201.security_event_notification, skip_schema_validation=True)
    async def on_security_event_notification(self, type: str, timestamp: str, **kwargs: Any) -> Any:  # noqa: A002
        await security_events.receive_notification(self, event_type=type, timestamp=self.ts(timestamp),
                                                   tech_info=kwargs.get("tech_info"), protocol="2.0.1")
        return result201.SecurityEventNotification()

    @on(Action201.firmware_status_notification, skip_schema_validation=True)
    async def on_firmware_status_notification(self, status: str, **kwargs: Any) -> Any:
        await firmware.receive_firmware_status(self, kind="firmware", status=status,
                                               request_id=kwargs.get("request_id"))
        return result201.FirmwareStatusNotification()

    @on(Action201.log_status_notification, skip_schema_validation=True)
    async def on_log_status_notification(self, status: str, **kwargs: Any) -> Any:
        await logs.receive_log_status(self, status=status, request_id=kwargs.get("request_id"))
        return result201.LogStatusNotification()

    @on(Action201.sign_certificate, skip_schema_validation=True)
    async def on_sign_certificate(self, csr: str, **kwargs: Any) -> Any:
        status = await certificates.receive_csr(self, csr, version="2.0.1",
                                                certificate_type=kwargs.get("certificate_type"))
        return result201.SignCertificate(status=status)


ChargeBox201.ROUTES = handled_actions(ChargeBox201)
