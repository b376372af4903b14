"""Tickets, their events, attachments and interventions; SLA policy versions and incident settings.

Every table is tenant-owned (primary key ``(tenant_id, id)``), references inside a tenant are
composite foreign keys, and migration 0014 puts row-level security on each. The clocks are never
stored as counters: ``incidents.tickets`` rebuilds them from the events with ``incidents.sla`` at
each event and stores the resulting due dates here, indexed, so that lists sort by deadline.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, TenantOwned, utcnow
from tenants.models import site_fk

__all__ = [
    "CHANNELS",
    "STATUSES",
    "Attachment",
    "IncidentNotice",
    "IncidentSettings",
    "Intervention",
    "MaintenanceReport",
    "MaintenanceRun",
    "MaintenanceVisit",
    "SlaPolicyVersion",
    "Ticket",
    "TicketCounter",
    "TicketEventRow",
]

#: Where a ticket came from (CANUT 6.6 and CPAM 5-5-6-2: the channel of the first information is recorded).
CHANNELS = {
    "portal": "portail",
    "phone": "téléphone",
    "email": "courriel",
    "api": "API",
    "supervision": "supervision",
    "maintenance": "maintenance préventive",
}

#: Ticket statuses, in workflow order, with their French names.
STATUSES = {
    "new": "nouveau",
    "acknowledged": "pris en compte",
    "in_progress": "en cours",
    "waiting": "en attente du bénéficiaire",
    "resolved": "résolu",
    "closed": "clos",
}

#: Statuses whose clocks still run (the operator's queue, the deadline badges).
OPEN_STATUSES = ("new", "acknowledged", "in_progress", "waiting")


def _fk(table: str, column: str, *, ondelete: str | None = None) -> ForeignKeyConstraint:
    """Composite foreign key to a row of the same tenant (DESIGN.md tenancy rule 1)."""
    return ForeignKeyConstraint(["tenant_id", column], [f"{table}.tenant_id", f"{table}.id"], ondelete=ondelete)


class SlaPolicyVersion(TenantOwned, Base):
    """One version of a tenant's SLA policy (``incidents.sla.SlaPolicy.to_dict``). Never updated: an edit
    is a new version; the highest is the tenant's current policy, a ticket keeps the one it was opened under."""

    __tablename__ = "incident_sla_policies"
    __table_args__ = (UniqueConstraint("tenant_id", "version"),)
    version: Mapped[int] = mapped_column(Integer)
    #: The template it was made from (``cpam-irve``, ``canut-iot`` …).
    template: Mapped[str] = mapped_column(String(40))
    policy: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[uuid.UUID | None]
    created_by: Mapped[str] = mapped_column(String(200), default="")


class IncidentSettings(TenantOwned, Base):
    """A tenant's incident settings (one row per tenant)."""

    __tablename__ = "incident_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    #: Hours after the resolution at which it is deemed accepted without the admin's answer.
    acceptance_delay_hours: Mapped[int] = mapped_column(Integer, default=120)
    #: CAIH 2.1.7: infogérance tickets of 30 minutes ordered (set by the coordinator until the ordering issue).
    infogerance_units_ordered: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TicketCounter(TenantOwned, Base):
    """The last ticket number given per tenant and year (``INC-2026-000123``), taken with
    ``UPDATE … RETURNING`` in the opening transaction: gap-free, never twice."""

    __tablename__ = "incident_ticket_counters"
    __table_args__ = (UniqueConstraint("tenant_id", "year"),)
    __audited__ = False
    year: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(TenantOwned, Base):
    """An incident ticket. ``status`` and the ``*_due_at`` are derived from the events at each event."""

    __tablename__ = "incident_tickets"
    __table_args__ = (
        site_fk(),
        _fk("incident_sla_policies", "policy_version_id"),
        UniqueConstraint("tenant_id", "number"),
        # Idempotent openers (alerts, preventive checks): one ticket per origin.
        UniqueConstraint("tenant_id", "origin"),
        Index("ix_incident_tickets_due", "tenant_id", "status", "next_due_at"),
        Index("ix_incident_tickets_intervention_due", "tenant_id", "status", "intervention_due_at"),
        Index("ix_incident_tickets_restoration_due", "tenant_id", "status", "restoration_due_at"),
        Index("ix_incident_tickets_opened", "tenant_id", "opened_at"),
        # The notice job scans the due tickets of every tenant (incidents.sweeps.send_due_notices).
        Index("ix_incident_tickets_next_notice", "next_notice_at"),
    )
    number: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="new")
    channel: Mapped[str] = mapped_column(String(20))
    site_id: Mapped[uuid.UUID | None]
    charge_box_id: Mapped[str | None] = mapped_column(String(48))
    connector_id: Mapped[int | None] = mapped_column(Integer)
    #: An asset of ``assets`` (no foreign key across components).
    asset_id: Mapped[uuid.UUID | None]
    #: Classification in the ticket's policy (the last reclassification wins).
    level: Mapped[str] = mapped_column(String(30))
    restoration_level: Mapped[str | None] = mapped_column(String(30))
    incident_type: Mapped[str | None] = mapped_column(String(30))
    reporter_user_id: Mapped[uuid.UUID | None]
    reporter_name: Mapped[str] = mapped_column(String(200), default="")
    reporter_email: Mapped[str] = mapped_column(String(254), default="")
    origin: Mapped[str | None] = mapped_column(String(120))
    alert_id: Mapped[uuid.UUID | None]
    #: CPAM 5-4-5: charge points of the tenant and those affected, at opening (< 30 % or ≥ 30 %).
    fleet_points: Mapped[int] = mapped_column(Integer, default=0)
    affected_points: Mapped[int] = mapped_column(Integer, default=0)
    #: CPAM 5-4-4: the intervention clock starts at the purchase order's notification.
    purchase_order_required: Mapped[bool] = mapped_column(Boolean, default=False)
    policy_version_id: Mapped[uuid.UUID]
    #: The moment of the first information (the clocks start there).
    reported_at: Mapped[dt.datetime]
    #: When the ticket was recorded.
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None]
    intervention_due_at: Mapped[dt.datetime | None]
    restoration_due_at: Mapped[dt.datetime | None]
    #: The nearest due date of a target not reached yet (lists sort on it); None when none runs.
    next_due_at: Mapped[dt.datetime | None]
    intervention_reached_at: Mapped[dt.datetime | None]
    #: When the deadline notice job next has something to send for this ticket (``incidents.notices``:
    #: 75 % of a delay or its breach, in its notice window); None: nothing planned.
    next_notice_at: Mapped[dt.datetime | None]
    breached: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The restoration clock's open time once its target is reached, in seconds: business time in the policy's
    #: calendar, pauses excluded (``incidents.sla.DeadlineClock.consumed``), as the SLA engine counts it for the
    #: GTR; None while not restored (CCTP CAIH 6.1 « le temps de rétablissement »; migration 0043).
    restoration_seconds: Mapped[int | None] = mapped_column(Integer)
    resolved_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Events recorded so far (the next event's ``seq`` is this plus one).
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def affected_share(self) -> float | None:
        return self.affected_points / self.fleet_points if self.fleet_points else None


class TicketEventRow(TenantOwned, Base):
    """One entry of a ticket's timeline: who, when, what, from which channel (never updated)."""

    __tablename__ = "incident_ticket_events"
    __table_args__ = (
        _fk("incident_tickets", "ticket_id", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "ticket_id", "seq"),
    )
    ticket_id: Mapped[uuid.UUID]
    seq: Mapped[int] = mapped_column(Integer)
    #: The API kind (``open``, ``acknowledge`` … ``note``, ``intervention``, ``policy``, ``purchase_order``).
    kind: Mapped[str] = mapped_column(String(30))
    #: When it happened (may be earlier than ``recorded_at``: a phone call reported later).
    at: Mapped[dt.datetime]
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    channel: Mapped[str] = mapped_column(String(20), default="portal")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    reason: Mapped[str] = mapped_column(String(1000), default="")


class Attachment(TenantOwned, Base):
    """A photo or report attached to a ticket, stored on disk per tenant (``var/attachments/<tenant>/<sha256>``)."""

    __tablename__ = "incident_attachments"
    __table_args__ = (_fk("incident_tickets", "ticket_id", ondelete="CASCADE"),)
    ticket_id: Mapped[uuid.UUID] = mapped_column(index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    uploaded_by: Mapped[str] = mapped_column(String(200), default="")


class Intervention(TenantOwned, Base):
    """A remote or on-site intervention on a ticket, its parts and its report."""

    __tablename__ = "incident_interventions"
    __table_args__ = (_fk("incident_tickets", "ticket_id", ondelete="CASCADE"),)
    ticket_id: Mapped[uuid.UUID] = mapped_column(index=True)
    #: ``remote`` or ``on_site``.
    mode: Mapped[str] = mapped_column(String(10))
    technician: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    actions: Mapped[str] = mapped_column(Text, default="")
    #: Parts ordered: ``[{"label": …, "quantity": n, "expected_at": ISO date or null}]``.
    parts: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    report: Mapped[str] = mapped_column(Text, default="")
    report_at: Mapped[dt.datetime | None]
    #: 48 h after the visit (its end, else its start).
    report_due_at: Mapped[dt.datetime]
    #: CPAM 5-4-8: recorded within 2 working days of the action.
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    record_due_at: Mapped[dt.datetime]
    record_late: Mapped[bool] = mapped_column(Boolean, default=False)
    #: CAIH 2.1.7: 30-minute units consumed (a started unit is consumed).
    units: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class IncidentNotice(TenantOwned, Base):
    """A deadline notice recorded once per ticket, clock and threshold (``incidents.notices``): what the notice
    job sent (its e-mails and its ``incidents.sla.threshold_reached`` event), so that a second run or a restart
    sends nothing again. A 75 % warning overtaken by the breach before it went out is recorded ``superseded``."""

    __tablename__ = "incident_notices"
    #: Written by one ``INSERT … ON CONFLICT DO NOTHING`` (the race of two runs); the record is its own log.
    __audited__ = False
    __table_args__ = (
        _fk("incident_tickets", "ticket_id", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "ticket_id", "clock", "threshold"),
    )
    ticket_id: Mapped[uuid.UUID]
    #: ``intervention`` or ``restoration``.
    clock: Mapped[str] = mapped_column(String(20))
    #: 75 or 100 (per cent of the delay).
    threshold: Mapped[int] = mapped_column(Integer)
    #: The deadline of the clock when the notice went out.
    deadline: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The outbox event that carries it (None when superseded).
    event_id: Mapped[uuid.UUID | None]


class MaintenanceRun(TenantOwned, Base):
    """A month of monthly remote checks generated for a tenant (CCTP CPAM 5-4-2-1 « au moins une fois par mois »):
    the scheduled job's record that it did the month, so that a second run, or a restart, does not do it again."""

    __tablename__ = "incident_maintenance_runs"
    __table_args__ = (UniqueConstraint("tenant_id", "month"),)
    #: Written by the job with the reports it generated; the reports are their own log.
    __audited__ = False
    #: ``YYYY-MM`` in the tenant's zone.
    month: Mapped[str] = mapped_column(String(7))
    generated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    generated_by: Mapped[str] = mapped_column(String(200), default="")
    points: Mapped[int] = mapped_column(Integer, default=0)
    defects: Mapped[int] = mapped_column(Integer, default=0)
    #: Times generated (the operator may generate a month again, with data that came late).
    runs: Mapped[int] = mapped_column(Integer, default=1)


class MaintenanceReport(TenantOwned, Base):
    """One charge point's monthly remote check (CCTP CPAM 5-4-2-1 « Chaque contrôle donne lieu à la rédaction de
    rapport des défauts ou de dysfonctionnements »): one per tenant, charge point and month, the verdict of each
    check (``incidents.preventive.CHECKS``) and the figures read from the supervision. A defect's ticket has the
    origin ``maintenance:<report id>:<check>`` (one ticket per defect, whatever the reruns)."""

    __tablename__ = "incident_maintenance_reports"
    __table_args__ = (
        site_fk(),
        UniqueConstraint("tenant_id", "charge_point_id", "month"),
        Index("ix_incident_maintenance_reports_month", "tenant_id", "month", "status"),
    )
    #: Generated in bulk (10,000 a month for a large fleet) by one statement; what it says is derived, like the
    #: supervision's logs, and ``generated_at`` / ``generated_by`` say when and by whom.
    __audited__ = False
    #: A charge point of ``csms`` (no foreign key across components: ``csms.services.charge_point_brief``).
    charge_point_id: Mapped[uuid.UUID]
    point_label: Mapped[str] = mapped_column(String(18))
    charge_box_id: Mapped[str] = mapped_column(String(48))
    connector_id: Mapped[int] = mapped_column(Integer)
    site_id: Mapped[uuid.UUID | None]
    month: Mapped[str] = mapped_column(String(7))
    period_start: Mapped[dt.datetime]
    period_end: Mapped[dt.datetime]
    #: ``ok`` or ``defect`` (a check is).
    status: Mapped[str] = mapped_column(String(12))
    #: ``[{"code", "verdict", "detail"}]`` in the order of ``CHECKS``.
    checks: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    #: The figures the checks read (sessions, kWh, error codes, temperatures, signal…).
    facts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: ``{check code: ticket number}`` of the tickets its defects opened.
    tickets: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    generated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    generated_by: Mapped[str] = mapped_column(String(200), default="")


class MaintenanceVisit(TenantOwned, Base):
    """A yearly on-site visit of a charge point (CCTP CPAM 5-4-2-2), recorded item by item by the technician.
    Audited like every edit made by a person; CPAM 5-4-8: recorded within two working days of the visit."""

    __tablename__ = "incident_maintenance_visits"
    __table_args__ = (
        site_fk(),
        Index("ix_incident_maintenance_visits_point", "tenant_id", "charge_point_id", "visited_on"),
    )
    charge_point_id: Mapped[uuid.UUID]
    point_label: Mapped[str] = mapped_column(String(18))
    charge_box_id: Mapped[str] = mapped_column(String(48))
    site_id: Mapped[uuid.UUID | None]
    visited_on: Mapped[dt.date] = mapped_column(Date)
    technician: Mapped[str] = mapped_column(String(200))
    #: ``{item code: "ok" | "defect" | "na"}`` for every item of ``incidents.preventive.CHECKLIST``.
    items: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    comments: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    earth_resistance_ohm: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    remarks: Mapped[str] = mapped_column(Text, default="")
    #: The ticket its defects opened (CPAM 5-4-4 niveau 1 « Défaut identifié par un technicien présent sur site »).
    ticket_number: Mapped[str] = mapped_column(String(20), default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(200), default="")
    #: CPAM 5-4-8: « dans un délai de deux jours ouvrés ».
    record_due_at: Mapped[dt.datetime]
    record_late: Mapped[bool] = mapped_column(Boolean, default=False)
