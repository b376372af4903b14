"""The indicators' data: the facts of the tickets read from the database, the establishment's and the
lot's months (``incidents.indicators``), their CSV, and CAIH 2.1.33's statement of interventions.

Every function takes the tenants it reads (the caller's scope, already published on the session).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.exports import csv_bytes
from assets import services as assets
from incidents.indicators import (
    LotIndicators,
    Month,
    MonthIndicators,
    PeriodIndicators,
    TicketFacts,
    lot_indicators,
    month_indicators,
    period_indicators,
)
from incidents.models import Intervention, Ticket, TicketEventRow
from tenants.models import Site, Tenant
from tenants.territories import DEFAULT_ZONE, get_territory

__all__ = [
    "StatementLine",
    "central_indicators",
    "central_period_indicators",
    "indicators_csv",
    "intervention_statement",
    "quarter_bounds",
    "statement_csv",
    "statement_pdf",
    "tenant_indicators",
    "tenant_zone",
]

#: What a ticket is about when it names a charge point.
CHARGE_POINT = "Borne de recharge"


def _zone(territory: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(get_territory(territory or "metropole").timezone)
    except KeyError:
        return ZoneInfo(DEFAULT_ZONE)


async def tenant_zone(session: AsyncSession, tenant_id: uuid.UUID) -> ZoneInfo:
    return _zone(await session.scalar(select(Tenant.territory).where(Tenant.id == tenant_id)))


async def _facts(session: AsyncSession, tenant_ids: Sequence[uuid.UUID], month: Month,
                 zones: dict[uuid.UUID, ZoneInfo], last: Month | None = None) -> dict[uuid.UUID, list[TicketFacts]]:
    """The tickets declared since the 1st of January (any zone's: a day's margin) or closed in the month; with
    ``last``, from ``month`` to ``last`` (a superset for each of those months: ``month_indicators`` ignores what is
    not its month's, so that a period is read in one query)."""
    if not tenant_ids:
        return {}
    start = dt.datetime(month.year, 1, 1, tzinfo=dt.UTC) - dt.timedelta(days=1)
    end = (last or month).bounds(ZoneInfo("UTC"))[1] + dt.timedelta(days=1)
    first = month.bounds(ZoneInfo("UTC"))[0] - dt.timedelta(days=1)
    on_site = exists().where(Intervention.tenant_id == Ticket.tenant_id, Intervention.ticket_id == Ticket.id,
                             Intervention.mode == "on_site")
    rows = await session.execute(
        select(Ticket.tenant_id, Ticket.reported_at, Ticket.channel, Ticket.closed_at, Ticket.breached,
               Ticket.reopen_count, Ticket.charge_box_id, Ticket.asset_id, Ticket.restoration_seconds, Site.name,
               on_site.label("on_site"))
        .outerjoin(Site, and_(Site.tenant_id == Ticket.tenant_id, Site.id == Ticket.site_id))
        .where(Ticket.tenant_id.in_(list(tenant_ids)),
               or_(and_(Ticket.reported_at >= start, Ticket.reported_at < end),
                   and_(Ticket.closed_at >= first, Ticket.closed_at < end))))
    out: dict[uuid.UUID, list[TicketFacts]] = {t: [] for t in tenant_ids}
    rows = list(rows)
    # CAIH 2.1.27: « par type d'équipement, sous garantie / hors garantie » — from the assets' service.
    briefs = await assets.asset_briefs(session, list(tenant_ids), [r.asset_id for r in rows if r.asset_id])
    for r in rows:
        brief = briefs.get(r.asset_id) if r.asset_id else None
        equipment = (CHARGE_POINT if r.charge_box_id else brief.kind_label if brief
                     else "Équipement du parc" if r.asset_id else "Non précisé")
        out[r.tenant_id].append(TicketFacts(
            tenant_id=r.tenant_id, reported_at=r.reported_at, channel=r.channel,
            closed_at=r.closed_at, breached=bool(r.breached), reopened=r.reopen_count > 0,
            remote_only=not r.on_site, equipment=equipment,
            under_warranty=brief.under_warranty if brief else None, site=r.name or "",
            restoration_seconds=r.restoration_seconds))
    return out


async def tenant_indicators(session: AsyncSession, tenant_id: uuid.UUID, month: Month) -> MonthIndicators:
    """One establishment's month against CAIH 2.1.26's targets, in its own time zone."""
    zone = await tenant_zone(session, tenant_id)
    facts = await _facts(session, [tenant_id], month, {tenant_id: zone})
    return month_indicators(facts[tenant_id], month, zone)


async def central_indicators(session: AsyncSession, tenant_ids: Iterable[uuid.UUID], month: Month) -> LotIndicators:
    """The lot (CAIH 2.1.27) and each of its establishments (2.1.26), by establishment name."""
    ids = list(dict.fromkeys(tenant_ids))
    tenants = list(await session.execute(select(Tenant.id, Tenant.name, Tenant.territory)
                                         .where(Tenant.id.in_(ids)).order_by(Tenant.name)))
    zones = {t.id: _zone(t.territory) for t in tenants}
    facts = await _facts(session, ids, month, zones)
    return lot_indicators([(t.name, facts.get(t.id, []), zones[t.id]) for t in tenants], month)


async def central_period_indicators(session: AsyncSession, tenant_ids: Iterable[uuid.UUID], first: Month,
                                    last: Month) -> PeriodIndicators:
    """The lot and its establishments from ``first`` to ``last`` included (``central_indicators`` month by
    month, so that each establishment's months are its own time zone's)."""
    ids = list(dict.fromkeys(tenant_ids))
    tenants = list(await session.execute(select(Tenant.id, Tenant.name, Tenant.territory)
                                         .where(Tenant.id.in_(ids)).order_by(Tenant.name)))
    zones = {t.id: _zone(t.territory) for t in tenants}
    facts = await _facts(session, ids, first, zones, last)  # one read for the whole period
    months, month = [], first
    while month <= last:
        months.append(lot_indicators([(t.name, facts.get(t.id, []), zones[t.id]) for t in tenants], month))
        month = Month(month.year + month.month // 12, month.month % 12 + 1)
    return period_indicators(months)


def _pct(value: object) -> str:
    return "" if value is None else str(value).replace(".", ",")


INDICATOR_HEADER = ("Établissement", "Mois", "Incidents déclarés", "Incidents clôturés", "Clôturés dans les temps",
                    "Taux dans les temps (%)", "Objectif (%)", "Réouverts", "Taux de réouverture (%)",
                    "Plafond (%)", "Résolus à distance", "Taux résolus à distance (%)", "Sous garantie",
                    "Hors garantie", "Appels au support (mois)", "Appels au support (année)",
                    "Durées de rétablissement connues", "Temps moyen de rétablissement (min, heures ouvrées)")


def _indicator_row(name: str, m: MonthIndicators) -> list[object]:
    return [name, str(m.month), m.declared, m.closed, m.closed_on_time, _pct(m.on_time_rate),
            _pct(m.targets.on_time_min), m.closed_reopened, _pct(m.reopen_rate), _pct(m.targets.reopen_max),
            m.closed_remotely, _pct(m.remote_rate), m.under_warranty, m.out_of_warranty, m.calls_month, m.calls_year,
            m.restored_timed, "" if m.mean_restoration_seconds is None else (m.mean_restoration_seconds + 30) // 60]


def indicators_csv(rows: Sequence[tuple[str, MonthIndicators]]) -> bytes:
    """One line per establishment (and the lot), UTF-8 with BOM, ``;``, decimal comma, formula-safe."""
    return csv_bytes((_indicator_row(name, m) for name, m in rows), header=INDICATOR_HEADER)


# --------------------------------------------------------------------------- CAIH 2.1.33 statement


def quarter_bounds(year: int, quarter: int, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    if not (1 <= quarter <= 4):
        raise ValueError("trimestre invalide (1 à 4)")
    start = dt.datetime(year, 3 * quarter - 2, 1, tzinfo=zone)
    end = dt.datetime(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1, tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


@dataclass(frozen=True)
class StatementLine:
    """One intervention of CAIH 2.1.33's « état récapitulatif des interventions »."""

    establishment: str
    ticket_number: str
    nature: str
    opened_at: dt.datetime
    started_at: dt.datetime
    ended_at: dt.datetime | None
    place: str
    equipment: str
    details: str
    parts: str
    duration_minutes: int | None
    delay_met: bool
    delay_reason: str


async def intervention_statement(session: AsyncSession, tenant_ids: Iterable[uuid.UUID], start: dt.datetime,
                                 end: dt.datetime) -> list[StatementLine]:
    """CAIH 2.1.33: « la nature de l'intervention ; les dates, heures et lieux d'ouverture du ticket de
    l'intervention sur site (début, fin) ; les références des matériels concernés ; le détail de
    l'intervention ainsi que les éventuelles pièces remplacées ; la durée de l'intervention et du respect
    du délai de remise en ordre de marche ; les raisons d'un éventuel retard »."""
    ids = list(dict.fromkeys(tenant_ids))
    rows = list(await session.execute(
        select(Intervention, Ticket, Tenant.name.label("tenant_name"), Site.name.label("site_name"))
        .join(Ticket, and_(Ticket.tenant_id == Intervention.tenant_id, Ticket.id == Intervention.ticket_id))
        .join(Tenant, Tenant.id == Intervention.tenant_id)
        .outerjoin(Site, and_(Site.tenant_id == Ticket.tenant_id, Site.id == Ticket.site_id))
        .where(Intervention.tenant_id.in_(ids), Intervention.started_at >= start, Intervention.started_at < end)
        .order_by(Tenant.name, Intervention.started_at)))
    ticket_ids = {r.Ticket.id for r in rows}
    reasons: dict[uuid.UUID, list[str]] = {}
    if ticket_ids:
        for ticket_id, reason in await session.execute(
                select(TicketEventRow.ticket_id, TicketEventRow.reason).where(
                    TicketEventRow.tenant_id.in_(ids), TicketEventRow.ticket_id.in_(ticket_ids),
                    TicketEventRow.kind.in_(("wait", "reclassify", "policy")), TicketEventRow.reason != "")
                .order_by(TicketEventRow.seq)):
            reasons.setdefault(ticket_id, []).append(reason)
    out = []
    labels = await assets.asset_briefs(session, ids, [r.Ticket.asset_id for r in rows if r.Ticket.asset_id])
    for r in rows:
        i, t = r.Intervention, r.Ticket
        brief = labels.get(t.asset_id) if t.asset_id else None
        equipment = (f"{t.charge_box_id}" + (f" / PDC {t.connector_id}" if t.connector_id else "")) if t.charge_box_id \
            else (f"{brief.kind_label} {brief.label}" if brief else str(t.asset_id) if t.asset_id else "")
        minutes = int((i.ended_at - i.started_at).total_seconds() // 60) if i.ended_at else None
        out.append(StatementLine(
            establishment=r.tenant_name, ticket_number=t.number,
            nature=("Sur site" if i.mode == "on_site" else "À distance") + f" — {t.title}",
            opened_at=t.reported_at, started_at=i.started_at, ended_at=i.ended_at, place=r.site_name or "",
            equipment=equipment, details=i.actions,
            parts=", ".join(f"{p.get('quantity', 1)} × {p.get('label', '')}" for p in i.parts),
            duration_minutes=minutes, delay_met=not t.breached,
            delay_reason="; ".join(reasons.get(t.id, [])) if t.breached else ""))
    return out


STATEMENT_HEADER = ("Établissement", "Ticket", "Nature", "Ouverture du ticket", "Début", "Fin", "Lieu", "Matériel",
                    "Détail de l'intervention", "Pièces", "Durée (min)", "Délai respecté", "Raison du retard")


def _local(moment: dt.datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%d/%m/%Y %H:%M") if moment else ""


def _statement_row(line: StatementLine, zone: ZoneInfo) -> list[object]:
    return [line.establishment, line.ticket_number, line.nature, _local(line.opened_at, zone),
            _local(line.started_at, zone), _local(line.ended_at, zone), line.place, line.equipment, line.details,
            line.parts, "" if line.duration_minutes is None else line.duration_minutes,
            "oui" if line.delay_met else "non", line.delay_reason]


def statement_csv(lines: Sequence[StatementLine], zone: ZoneInfo) -> bytes:
    return csv_bytes((_statement_row(line, zone) for line in lines), header=STATEMENT_HEADER)


def statement_pdf(lines: Sequence[StatementLine], zone: ZoneInfo, *, title: str, subtitle: str) -> bytes:
    """The same statement as a landscape PDF (``app.pdf``)."""
    from app.pdf import document, pdf_bytes

    doc = document(title, subtitle, landscape=True)
    widths = (30, 24, 40, 22, 22, 22, 24, 24, 59)
    doc.table_of(
        ("Établissement", "Ticket", "Nature", "Ouverture", "Début", "Fin", "Lieu", "Matériel", "Détail, pièces, délai"),
        [[line.establishment, line.ticket_number, line.nature, _local(line.opened_at, zone),
          _local(line.started_at, zone), _local(line.ended_at, zone), line.place, line.equipment,
          "; ".join(x for x in (line.details, line.parts and f"pièces : {line.parts}",
                                f"durée {line.duration_minutes} min" if line.duration_minutes is not None else "",
                                "délai respecté" if line.delay_met else f"hors délai : {line.delay_reason or '—'}")
                    if x)] for line in lines],
        widths=widths)
    if not lines:
        doc.paragraph("Aucune intervention sur la période.")
    return pdf_bytes(doc)
