"""Security events: what stations report of their own security, as a feed per tenant.

OCPP 1.6 Security Whitepaper ed. 3 (§8 « Security Events ») and OCPP 2.0.1 (A04, Part 2 Appendix 1
« Security Events », v1.3): a station sends SecurityEventNotification for each event of the list; the
list marks some as *critical* (pushed to the central system at once). The two lists differ: 2.0.1
(updated in its appendix v1.3) marks critical the firmware-signature, certificate, TLS and
maintenance-login events that the 1.6 whitepaper marks « No », so criticality is read from the list
of the station's version. Each event is stored once (a replay of the same charger, type and timestamp
inserts nothing) and shown on the tenant's « Sécurité » page.

A critical event opens the charger's « Alerte de sécurité » (``csms.domain.alerts.open_security``,
CCTP CPAM 5-5-4 « détecter via des alertes les défaillances matérielles »), which the incidents
component turns into a ticket (``csms.alert.opened``). Five of the lists' critical events are the
station's routine operations (its start-up, a reset, a firmware installed, its clock set, a
technician's successful local login): they are shown as critical in the feed but open no alert, or
every reboot and every maintenance visit would open a ticket.

``classify`` is the pure rule; ``record_security_event`` records one, in the message's unit of work;
``receive_notification`` is the message of either version, from its handler.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import new_id
from csms.domain import alerts
from csms.domain.models import SecurityEvent
from csms.domain.ports import Reporting, StationRef

__all__ = ["CRITICAL", "CRITICAL_16", "CRITICAL_201", "LABELS", "ROUTINE", "Classification", "classify",
           "list_security_events", "receive_notification", "record_security_event"]

#: The critical events of each version's list. OCPP 1.6 Security Whitepaper ed. 3, §8 « Security Events »
#: (« CRITICAL: Yes »); every other event of that list is « No ».
CRITICAL_16 = frozenset({
    "FirmwareUpdated", "SettingSystemTime", "StartupOfTheDevice", "ResetOrReboot", "SecurityLogWasCleared",
    "MemoryExhaustion", "TamperDetectionActivated",
})
#: OCPP 2.0.1 Part 2 Appendix 1 « Security Events » (« Updated in v1.3 », unchanged in Edition 3 v1.4): the
#: 1.6 ones, and the firmware-signature, certificate, TLS and maintenance-login events (« No » in 1.6).
CRITICAL_201 = CRITICAL_16 | frozenset({
    "InvalidFirmwareSignature", "InvalidFirmwareSigningCertificate", "InvalidCsmsCertificate",
    "InvalidChargingStationCertificate", "InvalidTLSVersion", "InvalidTLSCipherSuite",
    "MaintenanceLoginAccepted", "MaintenanceLoginFailed",
})
#: Per protocol version, as the handlers name it.
CRITICAL = {"1.6": CRITICAL_16, "2.0.1": CRITICAL_201}
#: Critical in a list, but what a station does in normal operation: no alert.
ROUTINE = frozenset({"FirmwareUpdated", "SettingSystemTime", "StartupOfTheDevice", "ResetOrReboot",
                     "MaintenanceLoginAccepted"})
#: French words of the listed events (an unlisted type is shown as sent).
LABELS = {
    "FirmwareUpdated": "Micrologiciel mis à jour",
    "FailedToAuthenticateAtCentralSystem": "Échec d'authentification de la borne auprès de la supervision",
    # The whitepaper ed. 3's own spelling of the two (§8), which some stations send.
    "FailedToAuthenticationAtCentralSystem": "Échec d'authentification de la borne auprès de la supervision",
    "CentralSystemFailedToAuthentication": "Échec d'authentification de la supervision auprès de la borne",
    "FailedToAuthenticateAtCsms": "Échec d'authentification de la borne auprès de la supervision",
    "CentralSystemFailedToAuthenticate": "Échec d'authentification de la supervision auprès de la borne",
    "CsmsFailedToAuthenticate": "Échec d'authentification de la supervision auprès de la borne",
    "SettingSystemTime": "Horloge de la borne réglée",
    "StartupOfTheDevice": "Démarrage de la borne",
    "ResetOrReboot": "Redémarrage de la borne",
    "SecurityLogWasCleared": "Journal de sécurité effacé",
    "ReconfigurationOfSecurityParameters": "Paramètres de sécurité modifiés",
    "MemoryExhaustion": "Mémoire saturée",
    "InvalidMessages": "Messages invalides reçus",
    "AttemptedReplayAttacks": "Tentative de rejeu",
    "TamperDetectionActivated": "Effraction détectée",
    "InvalidFirmwareSignature": "Signature du micrologiciel invalide",
    "InvalidFirmwareSigningCertificate": "Certificat de signature du micrologiciel invalide",
    "InvalidCentralSystemCertificate": "Certificat de la supervision invalide",
    "InvalidCsmsCertificate": "Certificat de la supervision invalide",
    "InvalidChargePointCertificate": "Certificat de la borne invalide",
    "InvalidChargingStationCertificate": "Certificat de la borne invalide",
    "InvalidTLSVersion": "Version TLS refusée",
    "InvalidTLSCipherSuite": "Suite de chiffrement TLS refusée",
    "MaintenanceLoginAccepted": "Connexion à l'interface de maintenance locale",
    "MaintenanceLoginFailed": "Échec de connexion à l'interface de maintenance locale",
}


@dataclass(frozen=True)
class Classification:
    critical: bool
    opens_alert: bool
    label: str


def classify(event_type: str, protocol: str) -> Classification:
    """Whether the event is critical (the flag of the list of the station's version, ``1.6`` or ``2.0.1``)
    and opens an alert (critical, not routine)."""
    critical = event_type in CRITICAL.get(protocol, CRITICAL_201)
    return Classification(critical, critical and event_type not in ROUTINE, LABELS.get(event_type, event_type))


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(SecurityEvent.__table__)


async def record_security_event(
    session: AsyncSession, ref: StationRef, *, event_type: str, timestamp: dt.datetime, tech_info: str,
    protocol: str, received_at: dt.datetime,
) -> bool:
    """Store the event (once); a critical, non-routine one opens the charger's security alert.
    True when it was new (a replay of the same event returns False and changes nothing)."""
    kind = classify(event_type, protocol)
    inserted = await session.scalar(
        _insert(session).values(
            tenant_id=ref.tenant_id, id=new_id(), charger_id=ref.charger_id, charge_box_id=ref.charge_box_id,
            event_type=event_type[:50], tech_info=(tech_info or "")[:255], critical=kind.critical,
            protocol=protocol, occurred_at=timestamp, received_at=received_at,
        ).on_conflict_do_nothing().returning(SecurityEvent.__table__.c.id)
    )
    if inserted is None:
        return False
    if kind.opens_alert:
        await alerts.open_security(session, tenant_id=ref.tenant_id, charger_id=ref.charger_id,
                                   charge_box_id=ref.charge_box_id, canonical_id=ref.canonical_id,
                                   event_type=event_type, at=min(timestamp, received_at), now=received_at)
    return True


async def receive_notification(link: Reporting, *, event_type: str, timestamp: dt.datetime | None,
                               tech_info: str | None, protocol: str) -> None:
    """SecurityEventNotification of either version, recorded before it is answered (a station's
    timestamp it could not give is the reception's)."""
    now = link.received_at
    await link.submit(lambda s: record_security_event(
        s, link.ref, event_type=event_type, timestamp=timestamp or now, tech_info=tech_info or "", protocol=protocol,
        received_at=now))


async def list_security_events(
    session: AsyncSession, tenant_id: uuid.UUID, *, page: int = 1, per_page: int = 50, critical_only: bool = False,
) -> tuple[list[SecurityEvent], int]:
    """The tenant's feed, newest first, and its size."""
    where = [SecurityEvent.tenant_id == tenant_id]
    if critical_only:
        where.append(SecurityEvent.critical.is_(True))
    total = await session.scalar(select(func.count()).select_from(SecurityEvent).where(*where)) or 0
    rows = await session.scalars(select(SecurityEvent).where(*where)
                                 .order_by(SecurityEvent.occurred_at.desc(), SecurityEvent.id)
                                 .offset((page - 1) * per_page).limit(per_page))
    return list(rows), total
