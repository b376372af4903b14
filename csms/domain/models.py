"""Station registry and supervision data (CCTP CPAM 5-5).

The CPAM hierarchy (CCTP 5-5-1) maps onto OCPP as follows:

* ``Station`` (S): a group of chargers on a site, with its « nom d'usage courant »;
* ``Charger`` (B, « borne »): the OCPP *charge box*, one WebSocket, one
  ``charge_box_id``, one Basic-auth password;
* ``ChargePoint`` (P, « point de charge »): an OCPP connector (1.6) or EVSE (2.0.1).

Who writes what:

* registry rows (stations, chargers, points, badges) are edits made by people or
  imports: ORM writes, audited like every other edit;
* what a station reports (boot data, last seen, last status, the transaction-id
  counter) is a fact, not an edit: it is written with plain ``UPDATE`` statements
  that carry the tenant filter explicitly, and kept in the station's own logs
  below rather than in the audit trail;
* the logs (connections, status history, meter values, station events) are
  high-volume and not audited (``__audited__ = False``). Meter values and status
  history carry a natural unique key so that a replayed message inserts nothing.

``ChargeBoxRoute`` is the one platform (non-tenant) table here: see its docstring.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    inspect,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db import Base, TenantOwned, new_id, utcnow
from tenants.models import site_fk

__all__ = [
    "Alert",
    "Badge",
    "BadgeRemoval",
    "ChargeBoxRoute",
    "ChargePoint",
    "Charger",
    "CommandLog",
    "ConnectionLog",
    "CsmsTenantSettings",
    "FirmwareCampaign",
    "FirmwareCampaignStation",
    "LocalAuthList",
    "LocalListSync",
    "MeterValue",
    "SecurityEvent",
    "SentChargingProfile",
    "SitePowerBudget",
    "Reservation",
    "ReservationPolicy",
    "Station",
    "StationEvent",
    "StationLog",
    "StatusEvent",
    "Transaction",
]


def _fk(table: str, column: str, *, ondelete: str | None = None, name: str | None = None) -> ForeignKeyConstraint:
    """Composite foreign key to a row of the same tenant (DESIGN.md tenancy rule 1)."""
    return ForeignKeyConstraint(
        ["tenant_id", column], [f"{table}.tenant_id", f"{table}.id"], ondelete=ondelete, name=name
    )


class Station(TenantOwned, Base):
    """Station de recharge (S): chargers of one site grouped under one name."""

    __tablename__ = "stations"
    __table_args__ = (
        site_fk(),
        UniqueConstraint("tenant_id", "canonical_id"),
        UniqueConstraint("tenant_id", "site_id", "number"),
    )
    site_id: Mapped[uuid.UUID] = mapped_column(index=True)
    #: Order number of the station in its building (CCTP 5-5-1), 1 to 99.
    number: Mapped[int] = mapped_column(Integer)
    canonical_id: Mapped[str] = mapped_column(String(18))
    #: « Nom d'usage courant » (CCTP 5-5-1): the commune and a CPAM-approved attribute.
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Charger(TenantOwned, Base):
    """Borne (B): the OCPP charge box."""

    __tablename__ = "chargers"
    __audit_redact__ = frozenset({"password_hash"})
    __table_args__ = (
        _fk("stations", "station_id"),
        UniqueConstraint("tenant_id", "charge_box_id"),
        UniqueConstraint("tenant_id", "canonical_id"),
        UniqueConstraint("tenant_id", "station_id", "number"),
        # The ingress's set-based UPDATEs probe chargers by id (``c.id = ANY(:ids)``, csms.domain.writer /
        # csms.domain.recording): the primary key leads with tenant_id, which row-level security already
        # filters on, and PostgreSQL then scanned every charger of the scope for each statement.
        Index("ix_chargers_id", "id"),
    )
    station_id: Mapped[uuid.UUID] = mapped_column(index=True)
    number: Mapped[int] = mapped_column(Integer)
    canonical_id: Mapped[str] = mapped_column(String(18))
    #: OCPP identity, last segment of ``/ocpp/{charge_box_id}``; unique on the platform
    #: through ``charge_box_routes``. Hardware configured with another identity keeps it.
    charge_box_id: Mapped[str] = mapped_column(String(48))
    #: argon2id hash of the Basic-auth password (OCPP security profiles 1 and 2).
    password_hash: Mapped[str] = mapped_column(String(200))
    #: Tolerate known firmware deviations (over-long strings truncated, naive timestamps
    #: read as UTC), each recorded as a warning event.
    lenient: Mapped[bool] = mapped_column(Boolean, default=False)
    #: OCPP security profile the handshake requires (csms.domain.profiles): 1 password, 2 password over
    #: TLS, 3 TLS client certificate whose CN is ``charge_box_id``.
    security_profile: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    # --- reported by the station (BootNotification), written as facts
    vendor: Mapped[str] = mapped_column(String(50), default="")
    model: Mapped[str] = mapped_column(String(50), default="")
    serial_number: Mapped[str] = mapped_column(String(50), default="")
    charge_box_serial_number: Mapped[str] = mapped_column(String(50), default="")
    firmware_version: Mapped[str] = mapped_column(String(50), default="")
    iccid: Mapped[str] = mapped_column(String(20), default="")
    imsi: Mapped[str] = mapped_column(String(20), default="")
    meter_type: Mapped[str] = mapped_column(String(25), default="")
    meter_serial_number: Mapped[str] = mapped_column(String(25), default="")
    #: Subprotocol of the last connection: ``ocpp1.6`` or ``ocpp2.0.1``.
    protocol: Mapped[str] = mapped_column(String(16), default="")
    registration_status: Mapped[str] = mapped_column(String(16), default="")
    last_boot_at: Mapped[dt.datetime | None]
    last_seen_at: Mapped[dt.datetime | None]
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Status of connector 0 (the whole charger, OCPP 1.6).
    last_status: Mapped[str] = mapped_column(String(32), default="")
    last_error_code: Mapped[str] = mapped_column(String(50), default="")
    last_status_at: Mapped[dt.datetime | None]
    #: Last OCPP 1.6 transactionId handed to this charger (allocated by us, per charger).
    last_transaction_id: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # --- retired for good (« le retrait le cas échéant », CCTP CPAM article 1): set once by
    # ``csms.domain.registry.decommission_charger``, which also deletes its route. The row and its
    # history stay (transactions, logs, reports); the lists hide it.
    decommissioned_at: Mapped[dt.datetime | None]
    decommission_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")


class ChargePoint(TenantOwned, Base):
    """Point de charge (P): an OCPP connector (1.6) or EVSE (2.0.1)."""

    __tablename__ = "charge_points"
    __table_args__ = (
        _fk("chargers", "charger_id"),
        UniqueConstraint("tenant_id", "charger_id", "connector_id"),
        UniqueConstraint("tenant_id", "canonical_id"),
        # The ingress's set-based UPDATEs probe points by charger (csms.domain.recording._STATUS_SQL): with
        # only tenant-leading indexes, PostgreSQL scans every point of the scope for each statement.
        Index("ix_charge_points_charger_connector", "charger_id", "connector_id"),
    )
    charger_id: Mapped[uuid.UUID] = mapped_column(index=True)
    connector_id: Mapped[int] = mapped_column(Integer)
    canonical_id: Mapped[str] = mapped_column(String(18))
    #: kW (CCTP CPAM article 4: 7, 11 or 22 kW points).
    power_kw: Mapped[float | None] = mapped_column(Numeric(6, 1, asdecimal=False))
    #: Comma-separated socket types (T2, EF, T3, CCS, CHADEMO; article 4: one E/F per site).
    socket_types: Mapped[str] = mapped_column(String(60), default="T2")
    usage_name: Mapped[str] = mapped_column(String(200), default="")
    last_status: Mapped[str] = mapped_column(String(32), default="")
    last_error_code: Mapped[str] = mapped_column(String(50), default="")
    last_status_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


#: Who a badge is issued to (CCTP CPAM 5-5-5-3), with its French label.
BADGE_KINDS = {"vehicle": "Véhicule de service", "site": "Site de rattachement", "agent": "Agent"}


class Badge(TenantOwned, Base):
    """An RFID badge (CCTP CPAM 5-5-5-3); the badge-order workflow extends it.

    Every change of what a station needs to know (idTag, status, expiry) and every
    deletion bumps the tenant's local authorization list version (``csms.domain.badges``
    listens to the flush), whoever makes it.
    """

    __tablename__ = "badges"
    __table_args__ = (UniqueConstraint("tenant_id", "id_tag"), site_fk())
    #: OCPP idTag / idToken, stored upper-case: OCPP compares it case-insensitively.
    id_tag: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default="Accepted")  # Accepted | Blocked | Expired
    expires_at: Mapped[dt.datetime | None]
    holder_label: Mapped[str] = mapped_column(String(200), default="")
    #: vehicle | site | agent (« carte attachée au véhicule de service ou au site de
    #: rattachement », « délivrés aux agents », 5-5-5-3); empty: not attached yet.
    kind: Mapped[str] = mapped_column(String(10), default="")
    #: The service vehicle (registration or fleet name) of a vehicle badge.
    vehicle_label: Mapped[str] = mapped_column(String(60), default="")
    #: « carte attachée au véhicule de service ou au site de rattachement » (5-5-5-3).
    site_id: Mapped[uuid.UUID | None]
    #: The agent holding the badge, when it was issued to a person.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: Local authorization list version at which this badge last changed.
    list_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CsmsTenantSettings(TenantOwned, Base):
    """A tenant's choices for its charging stations; no row: the defaults. Set by people: audited."""

    __tablename__ = "csms_tenant_settings"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_csms_tenant_settings_tenant"),)
    #: OCPP 1.6 AuthorizationStatus ``ConcurrentTx`` (2.0.1 the same): a badge already in a charging
    #: session is refused a second one, unless this is set (csms.domain.badges.badge_in_another_session).
    allow_concurrent_badge_sessions: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LocalAuthList(TenantOwned, Base):
    """The tenant's local authorization list version (OCPP 1.6 SendLocalList ``listVersion``).

    One row per tenant, bumped with ``INSERT ... ON CONFLICT DO UPDATE`` in the
    flush that changes a badge: a counter, not an edit (not audited).
    """

    __tablename__ = "local_auth_lists"
    __audited__ = False
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_local_auth_lists_tenant"),)
    version: Mapped[int] = mapped_column(Integer, default=0)


class BadgeRemoval(TenantOwned, Base):
    """A badge deleted at some list version: a differential update tells stations to drop it."""

    __tablename__ = "local_auth_list_removals"
    __audited__ = False
    __table_args__ = (Index("ix_local_auth_list_removals_version", "tenant_id", "list_version"),)
    id_tag: Mapped[str] = mapped_column(String(36))
    list_version: Mapped[int] = mapped_column(Integer)
    removed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LocalListSync(TenantOwned, Base):
    """Per charger: the list version it confirmed and the last push attempt (facts, written
    with plain statements by the sync task)."""

    __tablename__ = "local_auth_list_syncs"
    __audited__ = False
    __table_args__ = (
        _fk("chargers", "charger_id", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "charger_id", name="uq_local_auth_list_syncs_charger"),
    )
    charger_id: Mapped[uuid.UUID]
    #: Version the station accepted last (``None``: unknown, the next push is Full).
    confirmed_version: Mapped[int | None] = mapped_column(Integer)
    confirmed_at: Mapped[dt.datetime | None]
    #: Version the station reported to GetLocalListVersion (-1: not supported).
    reported_version: Mapped[int | None] = mapped_column(Integer)
    last_attempt_at: Mapped[dt.datetime | None]
    #: Full | Differential
    last_update_type: Mapped[str] = mapped_column(String(12), default="")
    #: Accepted | Failed | NotSupported | VersionMismatch | Offline | Timeout | Error
    last_status: Mapped[str] = mapped_column(String(20), default="")
    last_error: Mapped[str] = mapped_column(String(300), default="")
    failures: Mapped[int] = mapped_column(Integer, default=0)


class ReservationPolicy(TenantOwned, Base):
    """« paramétrage standard de règles de réservation (population, priorité, horaires) »
    (CCTP CPAM 5-5-4), one per tenant, applied to all its charge points."""

    __tablename__ = "reservation_policies"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_reservation_policies_tenant"),)
    #: Populations allowed to reserve, highest priority first (vehicle, site, agent).
    populations: Mapped[str] = mapped_column(String(40), default="vehicle,site,agent")
    #: ISO weekdays on which reservations may be held (1 = Monday).
    weekdays: Mapped[str] = mapped_column(String(7), default="12345")
    #: Opening hours, minutes after local midnight (tenant's time zone).
    opens_minute: Mapped[int] = mapped_column(Integer, default=7 * 60)
    closes_minute: Mapped[int] = mapped_column(Integer, default=20 * 60)
    max_duration_minutes: Mapped[int] = mapped_column(Integer, default=240)
    max_advance_days: Mapped[int] = mapped_column(Integer, default=14)
    #: Last OCPP reservationId handed out (a counter, bumped with a plain statement).
    last_reservation_id: Mapped[int] = mapped_column(Integer, default=0)


class Reservation(TenantOwned, Base):
    """A charge point reserved for a badge over a time window (CCTP CPAM 5-5-5-1
    « Possibilité de réservation de point de charge »; rules of 5-5-4).

    ``scheduled`` until its window opens, ``active`` once the station accepted
    ReserveNow, then ``consumed`` (a StartTransaction carried its id),
    ``cancelled`` (by a user, by a higher-priority reservation or because the point
    faulted: ``cancel_reason`` says which), ``rejected`` (the station refused) or
    ``expired``.
    """

    __tablename__ = "reservations"
    __table_args__ = (
        _fk("chargers", "charger_id"),
        _fk("charge_points", "charge_point_id", name="fk_reservations_charge_point"),
        _fk("badges", "badge_id"),
        UniqueConstraint("tenant_id", "ocpp_reservation_id", name="uq_reservations_ocpp_id"),
        Index("ix_reservations_point_window", "tenant_id", "charge_point_id", "starts_at"),
    )
    charger_id: Mapped[uuid.UUID]
    charge_point_id: Mapped[uuid.UUID]
    connector_id: Mapped[int] = mapped_column(Integer)
    badge_id: Mapped[uuid.UUID]
    id_tag: Mapped[str] = mapped_column(String(36))
    #: The badge's population when reserved (vehicle | site | agent) and its rank (0 = first).
    population: Mapped[str] = mapped_column(String(10), default="")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    ocpp_reservation_id: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    #: The station's answer to ReserveNow (Accepted, Occupied, Faulted, Unavailable, Rejected).
    station_status: Mapped[str] = mapped_column(String(20), default="")
    cancel_reason: Mapped[str] = mapped_column(String(300), default="")
    cancelled_at: Mapped[dt.datetime | None]
    transaction_id: Mapped[uuid.UUID | None]
    consumed_at: Mapped[dt.datetime | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConnectionLog(TenantOwned, Base):
    """One WebSocket connection of a charger (CCTP CPAM 5-5: « identifier, pour chaque
    IRVE, le nombre d'occurrence d'une telle coupure »).

    Inserted at the handshake; ``disconnected_at`` is filled once, by a guarded
    ``UPDATE ... WHERE disconnected_at IS NULL``. Uptime and cuts are computed from
    these rows, never estimated.
    """

    __tablename__ = "charger_connections"
    __audited__ = False
    __table_args__ = (
        _fk("chargers", "charger_id"),
        Index("ix_charger_connections_charger", "tenant_id", "charger_id", "connected_at"),
        # The open connection of a charger (csms.domain.recording._OPEN_SQL closes it): small, by charger.
        Index("ix_charger_connections_open", "charger_id", postgresql_where=text("disconnected_at IS NULL"),
              sqlite_where=text("disconnected_at IS NULL")),
    )
    charger_id: Mapped[uuid.UUID]
    connected_at: Mapped[dt.datetime]
    disconnected_at: Mapped[dt.datetime | None]
    #: closed_by_station | connection_lost | replaced | server_shutdown | ingress_restart | decommissioned
    reason: Mapped[str] = mapped_column(String(40), default="")
    close_code: Mapped[int | None] = mapped_column(Integer)
    remote_address: Mapped[str] = mapped_column(String(64), default="")
    subprotocol: Mapped[str] = mapped_column(String(16), default="")
    #: Ingress process that held the socket (host:port).
    node: Mapped[str] = mapped_column(String(120), default="")


class Transaction(TenantOwned, Base):
    """A charging session.

    ``ocpp_transaction_id`` is the id on the wire: allocated by us in OCPP 1.6
    (an integer, per charger), chosen by the station in 2.0.1. ``start_key``
    (connector, idTag, timestamp, meterStart) makes a replayed 1.6
    StartTransaction find its row and get the same transactionId back. A
    StopTransaction for an id we never allocated is kept as an ``orphan`` row.

    ``anomaly`` flags what the station reported that does not add up, for the portal:
    ``unknown_start`` is a 2.0.1 TransactionEvent other than ``Started`` for a transaction
    id we never saw start. Its data is kept, but it takes no share of a site's power
    budget while its EVSE is unknown (``connector_id`` empty; csms.domain.smart_charging).
    """

    __tablename__ = "charging_transactions"
    __table_args__ = (
        _fk("chargers", "charger_id"),
        _fk("charge_points", "charge_point_id", name="fk_charging_transactions_charge_point"),
        _fk("badges", "badge_id"),
        UniqueConstraint("tenant_id", "charger_id", "ocpp_transaction_id", name="uq_charging_transactions_ocpp_id"),
        UniqueConstraint("tenant_id", "charger_id", "start_key"),
        Index("ix_charging_transactions_started", "tenant_id", "charger_id", "started_at"),
        # The ingress links a batch's meter values by charger (csms.domain.recording._NAMED_TX_SQL /
        # _ACTIVE_TX_SQL): without a charger-leading index PostgreSQL scans every transaction in scope.
        Index("ix_charging_transactions_charger", "charger_id", "connector_id", "started_at"),
        Index("ix_charging_transactions_charger_ocpp_id", "charger_id", "ocpp_transaction_id"),
        # A badge's running sessions, read at every Authorize and start (ConcurrentTx, csms.domain.badges).
        Index("ix_charging_transactions_badge_active", "tenant_id", "badge_id",
              postgresql_where=text("status = 'active'"), sqlite_where=text("status = 'active'")),
    )
    charger_id: Mapped[uuid.UUID]
    charge_point_id: Mapped[uuid.UUID | None]
    connector_id: Mapped[int | None] = mapped_column(Integer)
    ocpp_transaction_id: Mapped[str] = mapped_column(String(36))
    start_key: Mapped[str | None] = mapped_column(String(160))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | completed | orphan
    id_tag: Mapped[str] = mapped_column(String(36), default="")
    id_tag_status: Mapped[str] = mapped_column(String(20), default="")
    badge_id: Mapped[uuid.UUID | None]
    reservation_id: Mapped[int | None] = mapped_column(Integer)
    meter_start: Mapped[int | None] = mapped_column(Integer)  # Wh
    meter_stop: Mapped[int | None] = mapped_column(Integer)  # Wh
    started_at: Mapped[dt.datetime | None]
    stopped_at: Mapped[dt.datetime | None]
    stop_reason: Mapped[str] = mapped_column(String(32), default="")
    stop_id_tag: Mapped[str] = mapped_column(String(36), default="")
    #: Some message of this transaction was stored by the station while offline.
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    #: OCPP 2.0.1 TransactionEvent sequence number last seen.
    seq_no: Mapped[int | None] = mapped_column(Integer)
    #: Empty, or ``unknown_start`` (see the class docstring; ``csms.domain.recording.UNKNOWN_START``).
    anomaly: Mapped[str] = mapped_column(String(20), default="", server_default="")
    start_received_at: Mapped[dt.datetime | None]
    stop_received_at: Mapped[dt.datetime | None]

    @property
    def energy_wh(self) -> int | None:
        if self.meter_start is None or self.meter_stop is None:
            return None
        return self.meter_stop - self.meter_start


class MeterValue(TenantOwned, Base):
    """One sampled value (« enregistrement des courbes de charge », CCTP 5-5-4)."""

    __tablename__ = "meter_values"
    __audited__ = False
    __table_args__ = (
        _fk("chargers", "charger_id"),
        _fk("charging_transactions", "transaction_id", name="fk_meter_values_transaction"),
        # Natural key: a replayed MeterValues inserts nothing (empty strings, not NULLs,
        # so that the key compares equal).
        UniqueConstraint(
            "tenant_id", "charger_id", "connector_id", "sampled_at", "measurand", "phase", "location", "context",
            name="uq_meter_values_natural_key",
        ),
        Index("ix_meter_values_transaction", "tenant_id", "transaction_id"),
    )
    charger_id: Mapped[uuid.UUID]
    connector_id: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[uuid.UUID | None]
    ocpp_transaction_id: Mapped[str] = mapped_column(String(36), default="")
    sampled_at: Mapped[dt.datetime]
    measurand: Mapped[str] = mapped_column(String(40), default="Energy.Active.Import.Register")
    #: Numeric value as sent (``None`` for signed data, kept in ``raw``).
    value: Mapped[float | None]
    raw: Mapped[str] = mapped_column(Text, default="")
    unit: Mapped[str] = mapped_column(String(12), default="")
    phase: Mapped[str] = mapped_column(String(8), default="")
    location: Mapped[str] = mapped_column(String(8), default="")
    context: Mapped[str] = mapped_column(String(24), default="")
    received_at: Mapped[dt.datetime]
    offline: Mapped[bool] = mapped_column(Boolean, default=False)


class StatusEvent(TenantOwned, Base):
    """StatusNotification history (« état de chaque borne et point de charge », 5-5-4)."""

    __tablename__ = "status_events"
    __audited__ = False
    __table_args__ = (
        _fk("chargers", "charger_id"),
        UniqueConstraint(
            "tenant_id", "charger_id", "connector_id", "reported_at", "status", "error_code",
            name="uq_status_events_natural_key",
        ),
    )
    charger_id: Mapped[uuid.UUID]
    #: 0: the whole charger.
    connector_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str] = mapped_column(String(50), default="")
    info: Mapped[str] = mapped_column(String(50), default="")
    vendor_id: Mapped[str] = mapped_column(String(255), default="")
    vendor_error_code: Mapped[str] = mapped_column(String(50), default="")
    #: The station's timestamp (reception time when it sent none).
    reported_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime]
    offline: Mapped[bool] = mapped_column(Boolean, default=False)


class StationEvent(TenantOwned, Base):
    """The charger's event register (CCTP 5-4-2-1 « contrôle de tous les évènements du
    registre »): boots, firmware and diagnostics notifications, data transfers,
    2.0.1 NotifyEvent, and the warnings of lenient mode."""

    __tablename__ = "station_events"
    __audited__ = False
    __table_args__ = (
        _fk("chargers", "charger_id"),
        Index("ix_station_events_charger", "tenant_id", "charger_id", "received_at"),
    )
    charger_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10), default="info")  # info | warning
    message: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime]


class Alert(TenantOwned, Base):
    """A supervision alert (CCTP CPAM 5-5-4: « détecter via des alertes les défaillances
    matérielles », « alertes en cas de pannes avec remontée de l'élément en défaut (prise,
    alimentation, communication borne/supervision…) »).

    ``kind``: ``faulted`` (a point, or the whole charger for connector 0, reports
    Faulted or Unavailable) or ``offline`` (the charger's socket has been down longer
    than the threshold). Opened and closed by ``csms.domain.alerts``; at most one open alert
    per (charger, connector, kind), enforced by the partial unique index, so that
    several processes detecting the same condition open it once.
    """

    __tablename__ = "supervision_alerts"
    __audited__ = False  # derived from what stations report, like the status history
    __table_args__ = (
        _fk("chargers", "charger_id"),
        Index("uq_supervision_alerts_open", "tenant_id", "charger_id", "connector_id", "kind", unique=True,
              postgresql_where=text("closed_at IS NULL"), sqlite_where=text("closed_at IS NULL")),
        Index("ix_supervision_alerts_opened", "tenant_id", "opened_at"),
    )
    charger_id: Mapped[uuid.UUID]
    #: 0: the whole charger (offline, or connector 0 faulted).
    connector_id: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(16))
    #: OCPP status and error code that opened it (faulted), empty for offline.
    status: Mapped[str] = mapped_column(String(32), default="")
    error_code: Mapped[str] = mapped_column(String(50), default="")
    #: Since when the condition holds (the station's timestamp, or the disconnection).
    opened_at: Mapped[dt.datetime]
    detected_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    close_reason: Mapped[str] = mapped_column(String(40), default="")


class SitePowerBudget(TenantOwned, Base):
    """The power a site may draw for charging (CCTP CPAM article 4: « gestion dynamique de
    l'appel de courant afin de s'adapter en temps réel à la puissance résiduelle disponible
    sur le site »). One row per site that has one; a site without a row is not managed.

    ``csms.domain.smart_charging`` shares ``budget_kw`` among the site's active transactions
    and pushes the result as charging profiles. Set by people: audited.
    """

    __tablename__ = "site_power_budgets"
    __table_args__ = (site_fk(), UniqueConstraint("tenant_id", "site_id"))
    site_id: Mapped[uuid.UUID]
    #: kW available to the site's charge points together.
    budget_kw: Mapped[float] = mapped_column(Numeric(8, 1, asdecimal=False))
    #: Lowest current per phase a session is given (A); IEC 61851-1: 6 A at least.
    min_current_a: Mapped[float] = mapped_column(Numeric(4, 1, asdecimal=False), default=6.0)
    #: The site's supply: 3 (three-phase) or 1 (single-phase: every point charges on one phase).
    phases: Mapped[int] = mapped_column(Integer, default=3)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SentChargingProfile(TenantOwned, Base):
    """One charging profile pushed to a transaction by load management, and the station's answer.

    Append-only: the latest row of a transaction is what the portal shows. ``outcome``
    is the station's status (``Accepted``, ``Rejected``, ``NotSupported``…), or
    ``offline`` / ``timeout`` / ``error`` when no answer came (retried at the next
    recomputation), or ``cleared`` when the limit was lifted (budget removed).
    """

    __tablename__ = "sent_charging_profiles"
    __audited__ = False  # machine traffic, like the station logs
    __table_args__ = (
        site_fk(),
        _fk("chargers", "charger_id"),
        _fk("charging_transactions", "transaction_id", name="fk_sent_charging_profiles_transaction"),
        Index("ix_sent_charging_profiles_transaction", "tenant_id", "transaction_id", "sent_at"),
        Index("ix_sent_charging_profiles_site", "tenant_id", "site_id", "sent_at"),
    )
    site_id: Mapped[uuid.UUID]
    charger_id: Mapped[uuid.UUID]
    transaction_id: Mapped[uuid.UUID]
    connector_id: Mapped[int | None] = mapped_column(Integer)
    #: chargingProfileId (1.6) / id (2.0.1): stable per transaction, so a new profile replaces the last.
    profile_id: Mapped[int] = mapped_column(Integer)
    limit_w: Mapped[float]
    #: The limit on the wire: amperes per phase.
    limit_a: Mapped[float]
    phases: Mapped[int] = mapped_column(Integer)
    budget_kw: Mapped[float | None]
    sent_at: Mapped[dt.datetime]
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(String(300), default="")


class CommandLog(TenantOwned, Base):
    """One remote command sent to a charger and its outcome (CCTP CPAM 5-4-2-1, remote
    operation of the stations): who, when, the OCPP action and payload, the station's
    answer or why there was none. Written by ``csms.domain.commands`` before the call is sent
    (``pending``) and completed after it, even when it fails; this log is the trail of
    commands (not audited twice).

    ``status``: ``accepted`` (answered, and its ``status`` field, if any, says yes),
    ``rejected`` (a CallError, or an answer whose ``status`` refuses), ``timeout``,
    ``offline``, ``error``, or ``pending`` while in flight.
    """

    __tablename__ = "charger_commands"
    __audited__ = False
    __table_args__ = (
        _fk("chargers", "charger_id"),
        Index("ix_charger_commands_charger", "tenant_id", "charger_id", "requested_at"),
    )
    charger_id: Mapped[uuid.UUID]
    charge_box_id: Mapped[str] = mapped_column(String(48))
    action: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: OCPP version the payload was checked against: 1.6 or 2.0.1.
    protocol: Mapped[str] = mapped_column(String(8), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: The station's answer payload (or the CallError's description and details).
    answer: Mapped[dict[str, Any] | None]
    #: OCPP CallError code when the station answered with one.
    error_code: Mapped[str] = mapped_column(String(50), default="")
    error: Mapped[str] = mapped_column(String(500), default="")
    requested_at: Mapped[dt.datetime]
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    #: Who sent it: the account (kept when it is deleted, as a label) and its label.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(200), default="")
    #: Ingress process that held the socket.
    node: Mapped[str] = mapped_column(String(120), default="")


class SecurityEvent(TenantOwned, Base):
    """A security event a station reported (OCPP 1.6 Security Whitepaper ed. 3, SecurityEventNotification;
    OCPP 2.0.1 A04): the tenant's security feed (``csms.domain.security_events``). A replay (same charger,
    type and timestamp) inserts nothing; a critical one opens the charger's « Sécurité » alert."""

    __tablename__ = "security_events"
    __audited__ = False  # what stations report, like the station events
    __table_args__ = (
        _fk("chargers", "charger_id"),
        UniqueConstraint("tenant_id", "charger_id", "event_type", "occurred_at", name="uq_security_events_replay"),
        Index("ix_security_events_received", "tenant_id", "received_at"),
    )
    charger_id: Mapped[uuid.UUID]
    charge_box_id: Mapped[str] = mapped_column(String(48))
    event_type: Mapped[str] = mapped_column(String(50))
    tech_info: Mapped[str] = mapped_column(String(255), default="")
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    protocol: Mapped[str] = mapped_column(String(8), default="")
    occurred_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime]


class FirmwareCampaign(TenantOwned, Base):
    """A firmware update across some of the tenant's chargers (``csms.domain.firmware``): which ones
    (by model, by site), the firmware's URL (and signature, for signed updates), the window in which
    it is sent, in waves of at most ``concurrency`` chargers at a time, each retried ``max_attempts``
    times at most. Set up by people: audited."""

    __tablename__ = "firmware_campaigns"
    __table_args__ = (site_fk(),)
    name: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(String(512))
    #: PEM signing certificate and base64 signature (signed firmware: 1.6 SignedUpdateFirmware, 2.0.1).
    signing_certificate: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[str] = mapped_column(String(800), default="")
    model: Mapped[str] = mapped_column(String(50), default="")
    site_id: Mapped[uuid.UUID | None]
    window_start: Mapped[dt.datetime]
    window_end: Mapped[dt.datetime]
    concurrency: Mapped[int] = mapped_column(Integer, default=5)
    max_attempts: Mapped[int] = mapped_column(Integer, default=2)
    #: ``scheduled``, ``running``, ``done`` (every charger installed or failed), ``cancelled``.
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    finished_at: Mapped[dt.datetime | None]


class FirmwareCampaignStation(TenantOwned, Base):
    """One charger of a campaign and where it stands, from its answers and firmware status notifications."""

    __tablename__ = "firmware_campaign_stations"
    __table_args__ = (
        _fk("firmware_campaigns", "campaign_id", ondelete="CASCADE"),
        _fk("chargers", "charger_id"),
        UniqueConstraint("tenant_id", "campaign_id", "charger_id"),
        Index("ix_firmware_campaign_stations_charger", "tenant_id", "charger_id", "state"),
    )
    campaign_id: Mapped[uuid.UUID]
    charger_id: Mapped[uuid.UUID]
    charge_box_id: Mapped[str] = mapped_column(String(48))
    #: ``pending``, ``sent``, ``downloading``, ``downloaded``, ``installing``, ``installed``, ``failed``.
    state: Mapped[str] = mapped_column(String(16), default="pending")
    #: The last status the station reported (OCPP words) or the command's failure.
    last_status: Mapped[str] = mapped_column(String(50), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The requestId sent (1.6 SignedUpdateFirmware, 2.0.1 UpdateFirmware); matches its notifications.
    request_id: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]
    error: Mapped[str] = mapped_column(String(500), default="")


class StationLog(TenantOwned, Base):
    """A diagnostics or log file asked of a charger (1.6 GetDiagnostics, 1.6 security and 2.0.1 GetLog)
    and the file it uploaded to the product (``csms.domain.logs``): a one-time upload token (its
    SHA-256 only), the station's LogStatusNotification / DiagnosticsStatusNotification, the stored
    file (``var/station_logs/<tenant>/<sha256>``)."""

    __tablename__ = "station_logs"
    __audit_redact__ = frozenset({"token_hash"})
    __table_args__ = (
        _fk("chargers", "charger_id"),
        UniqueConstraint("tenant_id", "token_hash", name="uq_station_logs_token"),
        Index("ix_station_logs_charger", "tenant_id", "charger_id", "requested_at"),
    )
    charger_id: Mapped[uuid.UUID]
    charge_box_id: Mapped[str] = mapped_column(String(48))
    #: ``GetDiagnostics`` or ``GetLog``; the log type asked (DiagnosticsLog, SecurityLog).
    action: Mapped[str] = mapped_column(String(20))
    log_type: Mapped[str] = mapped_column(String(20), default="")
    request_id: Mapped[int] = mapped_column(Integer, default=0)
    token_hash: Mapped[str] = mapped_column(String(64))
    token_expires_at: Mapped[dt.datetime]
    #: ``requested``, ``uploading``, ``uploaded`` (file received), ``failed``.
    status: Mapped[str] = mapped_column(String(16), default="requested")
    last_status: Mapped[str] = mapped_column(String(40), default="")
    requested_at: Mapped[dt.datetime]
    requested_by: Mapped[str] = mapped_column(String(200), default="")
    filename: Mapped[str] = mapped_column(String(200), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    uploaded_at: Mapped[dt.datetime | None]


class ChargeBoxRoute(Base):
    """Platform index ``charge_box_id`` → tenant, read at the WebSocket handshake.

    A station connects to ``/ocpp/{charge_box_id}`` before any tenant is known, and
    the charger rows are behind row-level security: this table is how the ingress
    finds the tenant (then it opens a tenant-scoped session to read the charger and
    check its password). It is deliberately not tenant-owned and holds nothing but
    the routing key: no password hash, no business data. Its primary key is also
    what makes a charge_box_id unique across the platform (a unique constraint on
    the distributed ``chargers`` table could only be per tenant).
    """

    __tablename__ = "charge_box_routes"
    __table_args__ = (
        _fk("chargers", "charger_id", ondelete="CASCADE"),
        # ``IMP-OK-01`` and ``imp-ok-01`` are one station to a person reading a list or a
        # technician typing the id into a charger: unique regardless of case (issue 10).
        Index("uq_charge_box_routes_lower_charge_box_id", func.lower(text("charge_box_id")), unique=True),
    )
    charge_box_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    charger_id: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- local list versions

#: What a station's local authorization list holds of a badge (OCPP 1.6 idTagInfo).
LOCAL_LIST_FIELDS = ("id_tag", "status", "expires_at")


def _bump_list_version(session: Session, tenant_id: uuid.UUID) -> int:
    """Next version of the tenant's local authorization list (one atomic upsert)."""
    table = LocalAuthList.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = (
        insert(table).values(tenant_id=tenant_id, id=new_id(), version=1)
        .on_conflict_do_update(index_elements=["tenant_id"], set_={"version": table.c.version + 1})
        .returning(table.c.version)
    )
    return int(session.execute(stmt).scalar_one())


@event.listens_for(Session, "before_flush")
def _version_badge_changes(session: Session, flush_context: Any, instances: Any) -> None:
    """Every badge creation, list-relevant change or deletion bumps its tenant's list version,
    whoever writes it (portal, API, import, another component): differential SendLocalList
    is only as right as this."""
    changed: dict[uuid.UUID, list[Badge]] = {}
    removed: dict[uuid.UUID, list[str]] = {}
    for obj in session.new:
        if isinstance(obj, Badge):
            changed.setdefault(obj.tenant_id, []).append(obj)
    for obj in session.dirty:
        if not isinstance(obj, Badge):
            continue
        state = inspect(obj)
        if any(state.attrs[name].history.has_changes() for name in LOCAL_LIST_FIELDS):
            changed.setdefault(obj.tenant_id, []).append(obj)
            old_tags = state.attrs["id_tag"].history.deleted
            if old_tags and old_tags[0] and old_tags[0] != obj.id_tag:
                removed.setdefault(obj.tenant_id, []).append(old_tags[0])
    for obj in session.deleted:
        if isinstance(obj, Badge):
            removed.setdefault(obj.tenant_id, []).append(obj.id_tag)
    for tenant_id in changed.keys() | removed.keys():
        version = _bump_list_version(session, tenant_id)
        for badge in changed.get(tenant_id, ()):
            badge.list_version = version
        for id_tag in removed.get(tenant_id, ()):
            session.add(BadgeRemoval(tenant_id=tenant_id, id_tag=id_tag, list_version=version))
