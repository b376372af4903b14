"""Preventive maintenance services (CCTP CPAM 5-4-2): the monthly remote checks generated for a whole tenant,
their tickets, the scheduled sweep, the yearly visits, and the PDF of a report.

The verdicts come from the pure core (``incidents.preventive``); the supervision's data only through
``csms.services`` (``point_month_facts``: a few aggregate statements for every charge point of the tenant).
The reports of a month are written by one ``INSERT … ON CONFLICT DO UPDATE`` per thousand points (unique per
tenant, charge point and month), so 10,000 charge points take seconds and a second generation updates them
instead of adding any; each defect opens a ticket through ``incidents.tickets.open_ticket`` with the origin
``maintenance:<report id>:<check>``: exactly one, whatever the reruns.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, new_id
from app.errors import NotFound, ValidationFailed
from csms.services import PointMonth, charge_point_brief, charge_points_in_service, point_month_facts
from incidents.indicator_data import tenant_zone
from incidents.indicators import Month
from incidents.models import MaintenanceReport, MaintenanceRun, MaintenanceVisit, SlaPolicyVersion, Ticket
from incidents.preventive import (
    CHECKLIST,
    CHECKS,
    Check,
    ChecklistError,
    assess,
    read_checklist,
    report_status,
    visit_due,
    visit_state,
)
from incidents.sla import SlaPolicy
from incidents.sweeps import SYSTEM
from incidents.tickets import RECORD_WORKING_DAYS, current_policy, open_ticket, tenant_calendar
from tenants.services import all_tenant_ids

__all__ = [
    "Generation",
    "VisitLine",
    "access_report",
    "access_visit",
    "generate_month",
    "generate_due_months",
    "month_reports",
    "month_summary",
    "record_visit",
    "report_pdf",
    "visit_plan",
    "visits_of_point",
]

log = logging.getLogger(__name__)

#: Reports written per statement (about 15 parameters each: asyncpg takes at most 32,767).
CHUNK = 1000
#: CPAM 5-4-4: « Télémaintenance — Lancement d'une maintenance à distance suite à la remontée d'un
#: dysfonctionnement » for a remote check's defect; « Niveau 1 — Défaut identifié par un technicien présent
#: sur site (au titre d'une opération de maintenance préventive) » for a visit's. Another policy: its default.
REMOTE_LEVEL, ON_SITE_LEVEL = "telemaintenance", "1"


def _actor_name(actor: Mapping[str, Any] | None) -> str:
    return str((actor or {}).get("label") or "")[:200]


def _figures(f: PointMonth) -> dict[str, Any]:
    """What the report keeps of the facts (JSON: instants as ISO 8601)."""
    return {"heard": f.heard, "sessions": f.sessions, "completed": f.completed, "anomalies": f.anomalies,
            "energy_kwh": round(f.energy_wh / 1000, 3), "negative_energy": f.negative_energy,
            "bad_times": f.bad_times, "unfinished": f.unfinished,
            "first_plug_in": f.first_plug_in.isoformat() if f.first_plug_in else None,
            "last_unplug": f.last_unplug.isoformat() if f.last_unplug else None,
            "power_loss_stops": f.power_loss_stops, "error_codes": dict(f.error_codes or {}),
            "temperature_samples": f.temperature_samples, "temperature_min": f.temperature_min,
            "temperature_max": f.temperature_max, "signal_samples": f.signal_samples, "signal_min": f.signal_min,
            "register_warnings": f.register_warnings}


def _level(policy: SlaPolicy, code: str) -> str | None:
    return code if code in policy.levels else None


@dataclass
class Generation:
    """What one generation of a tenant's month did."""

    month: Month
    points: int = 0
    defects: int = 0
    tickets_opened: list[str] = field(default_factory=list)


async def _policy(session: AsyncSession, tenant_id: uuid.UUID, actor: Mapping[str, Any] | None) -> SlaPolicy:
    version: SlaPolicyVersion = await current_policy(session, tenant_id, actor)
    return SlaPolicy.from_dict(version.policy)


async def generate_month(session: AsyncSession, tenant_id: uuid.UUID, month: Month, *, now: dt.datetime,
                         actor: Mapping[str, Any] | None = None) -> Generation:
    """The month's remote check of every charge point of the tenant (CCTP CPAM 5-4-2-1 « au moins une fois par
    mois, pour chaque point de charge »), over the month in the tenant's zone; a month not over yet is refused.
    Generating it again updates the reports (data that came late, a station's offline queue) and opens a ticket
    only for a defect that has none."""
    zone = await tenant_zone(session, tenant_id)
    start, end = month.bounds(zone)
    if end > now:
        raise ValidationFailed({"mois": f"le mois {month.label()} n'est pas terminé : ses rapports sont établis "
                                        "à partir du 1er du mois suivant"})
    facts = await point_month_facts(session, tenant_id, start, end)
    who = _actor_name(actor)
    result = Generation(month)
    rows: list[dict[str, Any]] = []
    assessed: dict[uuid.UUID, tuple[PointMonth, list[Check]]] = {}
    for f in facts:
        checks = assess(f, zone)
        assessed[f.point.id] = (f, checks)
        rows.append({"id": new_id(), "tenant_id": tenant_id, "charge_point_id": f.point.id,
                     "point_label": f.point.canonical_id, "charge_box_id": f.point.charge_box_id,
                     "connector_id": f.point.connector_id, "site_id": f.point.site_id, "month": str(month),
                     "period_start": start, "period_end": end, "status": report_status(checks),
                     "checks": [c.as_dict() for c in checks], "facts": _figures(f), "tickets": {},
                     "generated_at": now, "generated_by": who})
    make = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    defective: list[tuple[uuid.UUID, uuid.UUID]] = []
    for first in range(0, len(rows), CHUNK):
        stmt = make(MaintenanceReport).values(rows[first:first + CHUNK])
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "charge_point_id", "month"],
            set_={name: stmt.excluded[name] for name in ("point_label", "charge_box_id", "connector_id", "site_id",
                                                          "period_start", "period_end", "status", "checks", "facts",
                                                          "generated_at", "generated_by")})
        returned = await session.execute(stmt.returning(MaintenanceReport.id, MaintenanceReport.charge_point_id,
                                                        MaintenanceReport.status))
        defective += [(report_id, point_id) for report_id, point_id, status in returned.all() if status == "defect"]
    result.points, result.defects = len(rows), len(defective)
    if defective:
        await _open_defect_tickets(session, tenant_id, month, defective, assessed, now=now, actor=actor,
                                   result=result)
    run = make(MaintenanceRun).values(id=new_id(), tenant_id=tenant_id, month=str(month), generated_at=now,
                                      generated_by=who, points=result.points, defects=result.defects, runs=1)
    await session.execute(run.on_conflict_do_update(
        index_elements=["tenant_id", "month"],
        set_={"generated_at": now, "generated_by": who, "points": result.points, "defects": result.defects,
              "runs": MaintenanceRun.runs + 1}))
    # The ORM's copies of the reports and the run (if any were loaded) are stale after the Core statements.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, MaintenanceReport | MaintenanceRun):
            session.expire(obj)
    return result


async def _open_defect_tickets(session: AsyncSession, tenant_id: uuid.UUID, month: Month,
                               defective: Sequence[tuple[uuid.UUID, uuid.UUID]],
                               assessed: Mapping[uuid.UUID, tuple[PointMonth, list[Check]]], *, now: dt.datetime,
                               actor: Mapping[str, Any] | None, result: Generation) -> None:
    """One ticket per defect (« Chaque contrôle donne lieu à la rédaction de rapport des défauts »), linked to the
    report both ways: the ticket's origin names the report, the report lists the tickets' numbers."""
    policy = await _policy(session, tenant_id, actor)
    level = _level(policy, REMOTE_LEVEL)
    wanted = {f"maintenance:{report_id}:{c.code}": (report_id, point_id, c)
              for report_id, point_id in defective for c in assessed[point_id][1] if c.verdict == "defect"}
    existing = set((await session.scalars(select(Ticket.origin).where(
        Ticket.tenant_id == tenant_id, Ticket.origin.in_(list(wanted))))).all()) if wanted else set()
    numbers: dict[uuid.UUID, dict[str, str]] = {}
    for origin, (report_id, point_id, check) in wanted.items():
        point = assessed[point_id][0].point
        ticket = await open_ticket(
            session, tenant_id, now=now, channel="maintenance", actor=actor, origin=origin, level=level,
            title=f"Maintenance préventive {month.label()} : {check.label.lower()} — {point.canonical_id}"[:200],
            description=(f"Contrôle à distance mensuel (CCTP CPAM 5-4-2-1 « {CHECKS[check.code][1]} ») du point de "
                         f"charge {point.canonical_id} (borne {point.charge_box_id}, connecteur "
                         f"{point.connector_id}) : {check.detail}."),
            charge_box_id=point.charge_box_id, connector_id=point.connector_id, site_id=point.site_id)
        numbers.setdefault(report_id, {})[check.code] = ticket.number
        if origin not in existing:
            result.tickets_opened.append(ticket.number)
    # The reports are generated data (not audited, append-only through the ORM): a plain UPDATE with its tenant.
    for report_id, tickets in numbers.items():
        await session.execute(update(MaintenanceReport).where(
            MaintenanceReport.tenant_id == tenant_id, MaintenanceReport.id == report_id).values(tickets=tickets)
            .execution_options(synchronize_session=False))


async def generate_due_months(db: Database, now: dt.datetime) -> list[tuple[uuid.UUID, str, int]]:
    """The scheduled sweep: for every tenant with charge points, the month before ``now`` (in its zone) when it
    was not generated yet (``incident_maintenance_runs``). Each tenant in its own transaction: one tenant's
    failure holds no other, and the next run tries it again. Returns (tenant, month, tickets opened)."""
    async with db.session() as session:
        tenant_ids = await all_tenant_ids(session)
    done = []
    for tenant_id in tenant_ids:
        try:
            async with db.transaction([tenant_id], actor=SYSTEM) as session:
                zone = await tenant_zone(session, tenant_id)
                today = now.astimezone(zone).date()
                last = today.replace(day=1) - dt.timedelta(days=1)
                month = Month(last.year, last.month)
                if await session.scalar(select(MaintenanceRun.id).where(
                        MaintenanceRun.tenant_id == tenant_id, MaintenanceRun.month == str(month))) is not None:
                    continue
                if not await charge_points_in_service(session, tenant_id):
                    continue
                generated = await generate_month(session, tenant_id, month, now=now, actor=SYSTEM)
                done.append((tenant_id, str(month), len(generated.tickets_opened)))
        except Exception:  # the next run tries again
            log.exception("monthly preventive reports of tenant %s failed", tenant_id)
    return done


# --------------------------------------------------------------------------- reading the reports


async def month_summary(session: AsyncSession, tenant_id: uuid.UUID, month: Month) -> dict[str, Any]:
    """The month's run (None when not generated) and its reports counted by status and by check verdict."""
    run = await session.scalar(select(MaintenanceRun).where(MaintenanceRun.tenant_id == tenant_id,
                                                            MaintenanceRun.month == str(month)))
    by_status = dict((await session.execute(
        select(MaintenanceReport.status, func.count()).where(
            MaintenanceReport.tenant_id == tenant_id, MaintenanceReport.month == str(month))
        .group_by(MaintenanceReport.status))).all())
    return {"run": run, "ok": by_status.get("ok", 0), "defect": by_status.get("defect", 0),
            "total": sum(by_status.values())}


async def month_reports(session: AsyncSession, tenant_id: uuid.UUID, month: Month, *, status: str | None = None,
                        limit: int = 100, offset: int = 0) -> tuple[list[MaintenanceReport], int]:
    """A page of the month's reports, the defects first, by charge point; and how many there are."""
    where = [MaintenanceReport.tenant_id == tenant_id, MaintenanceReport.month == str(month)]
    if status:
        where.append(MaintenanceReport.status == status)
    total = await session.scalar(select(func.count()).select_from(MaintenanceReport).where(*where)) or 0
    rows = await session.scalars(select(MaintenanceReport).where(*where)
                                 .order_by(MaintenanceReport.status != "defect", MaintenanceReport.point_label)
                                 .limit(limit).offset(offset))
    return list(rows), total


async def _one(session: AsyncSession, model: Any, tenant_id: uuid.UUID, row_id: uuid.UUID, what: str) -> Any:
    """The tenant's row, else ``NotFound`` (another tenant's looks absent: a 404)."""
    found = await session.scalar(select(model).where(model.tenant_id == tenant_id, model.id == row_id))
    if found is None:
        raise NotFound(what)
    return found


async def access_report(session: AsyncSession, tenant_id: uuid.UUID, report_id: uuid.UUID) -> MaintenanceReport:
    return await _one(session, MaintenanceReport, tenant_id, report_id, "rapport de maintenance")  # type: ignore[no-any-return]


def report_checks(report: MaintenanceReport) -> list[Check]:
    return [Check(c["code"], c["verdict"], c["detail"]) for c in report.checks if c.get("code") in CHECKS]


def report_pdf(report: MaintenanceReport, zone: ZoneInfo, tenant_name: str) -> bytes:
    """The report as a PDF (``app.pdf``, like the quarterly statement of interventions)."""
    from app.pdf import document, pdf_bytes

    month = Month(*(int(p) for p in report.month.split("-")))
    doc = document(f"Maintenance préventive à distance — {month.label()}",
                   f"{tenant_name} — point de charge {report.point_label} (CCTP CPAM 5-4-2-1)")
    facts = report.facts or {}
    doc.key_values([
        ("Point de charge", report.point_label), ("Borne", f"{report.charge_box_id}, connecteur {report.connector_id}"),
        ("Période", f"du {report.period_start.astimezone(zone):%d/%m/%Y} au "
                    f"{(report.period_end - dt.timedelta(seconds=1)).astimezone(zone):%d/%m/%Y} inclus"),
        ("Résultat", "défaut constaté" if report.status == "defect" else "aucun défaut"),
        ("Recharges", str(facts.get("sessions", 0))),
        ("Énergie", f"{facts.get('energy_kwh', 0):.1f} kWh".replace(".", ",")),
        ("Établi le", f"{report.generated_at.astimezone(zone):%d/%m/%Y %H:%M} par {report.generated_by or '—'}"),
    ])
    doc.heading("Contrôles")
    doc.table_of(("Contrôle", "Résultat", "Constat", "Ticket"),
                 [[c.label, c.verdict_label, c.detail, (report.tickets or {}).get(c.code, "")]
                  for c in report_checks(report)], widths=(50, 22, 78, 30))
    doc.paragraph("Les opérations qui demandent une commande ou une personne (ouverture de la porte à distance, "
                  "test des disjoncteurs différentiels, démarrage et arrêt de la charge) sont tracées par les "
                  "commandes à distance et les interventions.")
    return pdf_bytes(doc)


# --------------------------------------------------------------------------- the yearly visits (5-4-2-2)


@dataclass(frozen=True)
class VisitLine:
    """A charge point in the visit plan: its last visit, the next one's due day and whether it is late."""

    charge_point_id: uuid.UUID
    point_label: str
    charge_box_id: str
    site_id: uuid.UUID | None
    commissioned: dt.date
    last_visit: dt.date | None
    due: dt.date
    state: str


async def visit_plan(session: AsyncSession, tenant_id: uuid.UUID, today: dt.date, zone: ZoneInfo) -> list[VisitLine]:
    """Every charge point in service with its next yearly visit (« au moins une fois par an »), the latest first:
    two statements for the whole tenant."""
    points = await charge_points_in_service(session, tenant_id)
    last = dict((await session.execute(
        select(MaintenanceVisit.charge_point_id, func.max(MaintenanceVisit.visited_on))
        .where(MaintenanceVisit.tenant_id == tenant_id).group_by(MaintenanceVisit.charge_point_id))).all())
    lines = []
    for p in points:
        commissioned = p.created_at.astimezone(zone).date()
        due = visit_due(last.get(p.id), commissioned)
        lines.append(VisitLine(p.id, p.canonical_id, p.charge_box_id, p.site_id, commissioned, last.get(p.id), due,
                               visit_state(due, today)))
    return sorted(lines, key=lambda line: (line.due, line.point_label))


async def record_visit(session: AsyncSession, tenant_id: uuid.UUID, charge_point_id: uuid.UUID,
                       fields: Mapping[str, Any], *, now: dt.datetime,
                       actor: Mapping[str, Any] | None = None) -> MaintenanceVisit:
    """Record a yearly visit, item by item (CCTP CPAM 5-4-2-2). Bad input raises ``ValidationFailed`` (French,
    by field) and changes nothing; another tenant's charge point is ``NotFound``. CPAM 5-4-8: « renseigner […]
    toutes les actions menées en matière de maintenance préventive […] dans un délai de deux jours ouvrés » —
    a visit recorded later is flagged. Its defects open one ticket (CPAM 5-4-4 niveau 1)."""
    point = await charge_point_brief(session, tenant_id, charge_point_id)
    if point is None:
        raise NotFound("point de charge")
    zone = await tenant_zone(session, tenant_id)
    try:
        checklist = read_checklist(fields, now.astimezone(zone).date())
    except ChecklistError as exc:
        raise ValidationFailed(exc.errors) from None
    calendar = await tenant_calendar(session, tenant_id)
    done = dt.datetime.combine(checklist.visited_on, dt.time(12), zone)
    record_due = calendar.add_days(done, RECORD_WORKING_DAYS, "ouvres", end_of_day=True).astimezone(dt.UTC)
    visit = MaintenanceVisit(
        tenant_id=tenant_id, charge_point_id=point.id, point_label=point.canonical_id,
        charge_box_id=point.charge_box_id, site_id=point.site_id, visited_on=checklist.visited_on,
        technician=checklist.technician, items=checklist.items, comments=checklist.comments,
        earth_resistance_ohm=checklist.earth_resistance_ohm, remarks=checklist.remarks, ticket_number="",
        recorded_at=now, recorded_by=_actor_name(actor), record_due_at=record_due, record_late=now > record_due)
    session.add(visit)
    await session.flush()
    if checklist.defects:
        policy = await _policy(session, tenant_id, actor)
        found = "; ".join(f"{CHECKLIST[code]} : {checklist.comments.get(code, '')}" for code in checklist.defects)
        ticket = await open_ticket(
            session, tenant_id, now=now, channel="maintenance", actor=actor, origin=f"visit:{visit.id}",
            level=_level(policy, ON_SITE_LEVEL),
            title=f"Visite annuelle du {checklist.visited_on:%d/%m/%Y} : défaut — {point.canonical_id}"[:200],
            description=f"Visite de maintenance préventive sur site (CCTP CPAM 5-4-2-2) par {checklist.technician} : "
                        f"{found}"[:10_000],
            charge_box_id=point.charge_box_id, connector_id=point.connector_id, site_id=point.site_id)
        visit.ticket_number = ticket.number
        await session.flush()
    return visit


async def access_visit(session: AsyncSession, tenant_id: uuid.UUID, visit_id: uuid.UUID) -> MaintenanceVisit:
    return await _one(session, MaintenanceVisit, tenant_id, visit_id, "visite de maintenance")  # type: ignore[no-any-return]


async def visits_of_point(session: AsyncSession, tenant_id: uuid.UUID, charge_point_id: uuid.UUID,
                          limit: int = 20) -> list[MaintenanceVisit]:
    return list(await session.scalars(select(MaintenanceVisit).where(
        MaintenanceVisit.tenant_id == tenant_id, MaintenanceVisit.charge_point_id == charge_point_id)
        .order_by(MaintenanceVisit.visited_on.desc(), MaintenanceVisit.recorded_at.desc()).limit(limit)))


