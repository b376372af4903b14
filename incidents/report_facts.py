"""What the titulaire did for a tenant over a period, as plain facts for the reports above incidents (``reporting``:
the yearly maintenance report of CCTP CPAM 5-4-8, the committee report of CCP TGD IV.6).

CPAM 5-4-8: « un compte-rendu des actions du Titulaire, des types de défaut, et autres incidents pour l'année
écoulée est inclus dans un rapport annuel ». The actions are the curative interventions (remote or on site, on a
ticket), the yearly on-site visits (5-4-2-2) and the monthly remote checks (5-4-2-1); the incidents are the
tickets with their contractual delays. Four statements per call, in the caller's tenant scope; nothing is
computed here (whether a delay was met is the report's pure core's business, with its ``now``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from incidents.models import Intervention, MaintenanceReport, MaintenanceVisit, Ticket
from incidents.preventive import CHECKLIST, CHECKS
from incidents.tickets import level_labels

__all__ = ["InterventionFact", "MaintenanceFacts", "RemoteCheckFact", "TicketFact", "VisitFact", "maintenance_facts"]


@dataclass(frozen=True)
class TicketFact:
    """A ticket reported or closed in the period, with its stored deadlines (rebuilt from its events)."""

    number: str
    title: str
    channel: str
    #: ``alert`` (a supervision alert), ``maintenance`` (a remote check's defect), ``visit`` (a yearly visit's
    #: defects) or ``report`` (someone reported it).
    origin: str
    charge_box_id: str | None
    connector_id: int | None
    asset_id: uuid.UUID | None
    level: str
    level_label: str
    status: str
    reported_at: dt.datetime
    intervention_due_at: dt.datetime | None
    intervention_reached_at: dt.datetime | None
    restoration_due_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    breached: bool
    reopen_count: int


@dataclass(frozen=True)
class InterventionFact:
    ticket_number: str
    charge_box_id: str | None
    asset_id: uuid.UUID | None
    #: ``remote`` or ``on_site``.
    mode: str
    technician: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    actions: str
    parts: str
    #: CPAM 5-4-8: recorded more than two working days after it was done.
    record_late: bool


@dataclass(frozen=True)
class VisitFact:
    visited_on: dt.date
    point_label: str
    charge_box_id: str
    technician: str
    #: The checklist items found in defect (CPAM 5-4-2-2's words), with the technician's comment.
    defects: tuple[tuple[str, str], ...]
    record_late: bool
    ticket_number: str


@dataclass(frozen=True)
class RemoteCheckFact:
    month: str
    point_label: str
    charge_box_id: str
    #: ``ok`` or ``defect``.
    status: str
    #: The checks in defect (5-4-2-1's words).
    defects: tuple[str, ...]


@dataclass(frozen=True)
class MaintenanceFacts:
    tickets: list[TicketFact]
    interventions: list[InterventionFact]
    visits: list[VisitFact]
    remote_checks: list[RemoteCheckFact]


def _origin(origin: str | None, channel: str) -> str:
    head = (origin or "").split(":", 1)[0]
    if head in ("alert", "maintenance", "visit"):
        return head
    return "alert" if channel == "supervision" else "report"


def _months(start: dt.datetime, end: dt.datetime, zone: dt.tzinfo) -> list[str]:
    first, last = start.astimezone(zone), (end - dt.timedelta(microseconds=1)).astimezone(zone)
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


async def maintenance_facts(session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime, end: dt.datetime,
                            zone: dt.tzinfo) -> MaintenanceFacts:
    """The tickets reported or closed in ``[start, end)``, the interventions started in it, the yearly visits made
    in it (days of ``zone``) and the monthly remote checks of its months, by time."""
    rows = list(await session.scalars(select(Ticket).where(
        Ticket.tenant_id == tenant_id,
        or_(and_(Ticket.reported_at >= start, Ticket.reported_at < end),
            and_(Ticket.closed_at >= start, Ticket.closed_at < end))).order_by(Ticket.reported_at, Ticket.number)))
    labels = await level_labels(session, tenant_id, {t.policy_version_id for t in rows})
    tickets = [TicketFact(
        number=t.number, title=t.title, channel=t.channel, origin=_origin(t.origin, t.channel),
        charge_box_id=t.charge_box_id, connector_id=t.connector_id, asset_id=t.asset_id, level=t.level,
        level_label=labels.get(t.policy_version_id, {}).get(t.level, t.level), status=t.status,
        reported_at=t.reported_at, intervention_due_at=t.intervention_due_at,
        intervention_reached_at=t.intervention_reached_at, restoration_due_at=t.restoration_due_at,
        resolved_at=t.resolved_at, closed_at=t.closed_at, breached=t.breached, reopen_count=t.reopen_count)
        for t in rows]
    interventions = [InterventionFact(
        ticket_number=t.number, charge_box_id=t.charge_box_id, asset_id=t.asset_id, mode=i.mode,
        technician=i.technician, started_at=i.started_at, ended_at=i.ended_at, actions=i.actions,
        parts=", ".join(f"{p.get('quantity', 1)} × {p.get('label', '')}" for p in i.parts), record_late=i.record_late)
        for i, t in (await session.execute(
            select(Intervention, Ticket)
            .join(Ticket, and_(Ticket.tenant_id == Intervention.tenant_id, Ticket.id == Intervention.ticket_id))
            .where(Intervention.tenant_id == tenant_id, Intervention.started_at >= start,
                   Intervention.started_at < end)
            .order_by(Intervention.started_at))).all()]
    first_day, last_day = start.astimezone(zone).date(), (end - dt.timedelta(microseconds=1)).astimezone(zone).date()
    visits = [VisitFact(
        visited_on=v.visited_on, point_label=v.point_label, charge_box_id=v.charge_box_id, technician=v.technician,
        defects=tuple((CHECKLIST.get(code, code), str(v.comments.get(code, "")))
                      for code, result in v.items.items() if result == "defect"),
        record_late=v.record_late, ticket_number=v.ticket_number)
        for v in await session.scalars(select(MaintenanceVisit).where(
            MaintenanceVisit.tenant_id == tenant_id, MaintenanceVisit.visited_on >= first_day,
            MaintenanceVisit.visited_on <= last_day).order_by(MaintenanceVisit.visited_on, MaintenanceVisit.point_label))]
    checks = [RemoteCheckFact(
        month=r.month, point_label=r.point_label, charge_box_id=r.charge_box_id, status=r.status,
        defects=tuple(CHECKS[c["code"]][0] for c in r.checks if c.get("verdict") == "defect" and c.get("code") in CHECKS))
        for r in await session.scalars(select(MaintenanceReport).where(
            MaintenanceReport.tenant_id == tenant_id, MaintenanceReport.month.in_(_months(start, end, zone)))
            .order_by(MaintenanceReport.month, MaintenanceReport.point_label))]
    return MaintenanceFacts(tickets, interventions, visits, checks)
