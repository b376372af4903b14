"""What other components may ask of ``csms``: figures of the fleet, per tenant, in bulk.

Plain async functions over an open session, for the home pages (``csms/web/home.py``,
through the manifest's home hooks) and the components to come (reporting): every
function takes the tenants it counts for (the caller's scope, already published on the
session) and answers for all of them with a few ``GROUP BY`` statements, never one query
per tenant. Times are UTC; ``now`` is passed in.

- ``point_state_counts``: charge points by state (CCTP CPAM article 4 and 5-5-4:
  Disponible, En charge, Hors service, and Hors ligne);
- ``charger_counts``: chargers in service (« bornes »);
- ``availability``: share of the period each tenant's chargers were connected to the
  supervision (CCTP CPAM 5-5, the uptime of the station pages);
- ``open_alert_counts`` and ``open_alerts``: supervision alerts not closed (5-5-4);
- ``sessions_started``: charging sessions started in a period; ``daily_sessions``: per day;
- ``badges_waiting``: badges not yet loaded on every station of the tenant (the local
  authorization list, 5-5-5-3: « paramétrage des données nécessaires pour chaque Utilisateur »);
- ``failed_commands``: remote commands refused, unanswered or not delivered (5-4-2-1);
- ``sessions_of_user``, ``badges_of_user``, ``reservations_of_user``: an agent's own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from csms.domain.alerts import KIND_LABELS
from csms.domain.models import (
    Alert,
    Badge,
    ChargePoint,
    Charger,
    CommandLog,
    LocalAuthList,
    LocalListSync,
    Reservation,
    Station,
    Transaction,
)
from csms.domain.recording import reports_of
from csms.domain.reservations import OPEN_STATUSES
from csms.domain.states import STATE_LABELS, point_state

__all__ = [
    "FAILED_COMMAND_STATUSES",
    "AgentSession",
    "FailedCommand",
    "OpenAlert",
    "PointsAffected",
    "availability",
    "badges_of_user",
    "badges_waiting",
    "charger_choices",
    "charger_counts",
    "daily_sessions",
    "failed_commands",
    "open_alert_counts",
    "open_alerts",
    "point_state_counts",
    "points_affected",
    "reservations_of_user",
    "sessions_of_user",
    "sessions_started",
]

#: ``CommandLog.status`` of a command that did not do what was asked.
FAILED_COMMAND_STATUSES = {"rejected": "refusée", "timeout": "sans réponse", "offline": "borne hors ligne",
                           "error": "en erreur"}


def _ids(tenant_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    return list(dict.fromkeys(tenant_ids))


async def point_state_counts(session: AsyncSession, tenant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """Charge points of the chargers in service, by state; every state is present (0 when none)."""
    ids = _ids(tenant_ids)
    counts = {tid: dict.fromkeys(STATE_LABELS, 0) for tid in ids}
    if not ids:
        return counts
    rows = (await session.execute(
        select(ChargePoint.tenant_id, ChargePoint.last_status, Charger.last_status, Charger.online)
        .join(Charger, and_(Charger.tenant_id == ChargePoint.tenant_id, Charger.id == ChargePoint.charger_id))
        .where(ChargePoint.tenant_id.in_(ids), Charger.decommissioned_at.is_(None))
    )).all()
    for tid, status, charger_status, online in rows:
        counts[tid][point_state(status, charger_status, online=online)] += 1
    return counts


async def charger_counts(session: AsyncSession, tenant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Chargers in service (retired ones are not counted)."""
    ids = _ids(tenant_ids)
    rows = (await session.execute(
        select(Charger.tenant_id, func.count()).where(Charger.tenant_id.in_(ids), Charger.decommissioned_at.is_(None))
        .group_by(Charger.tenant_id))).all() if ids else []
    return {tid: 0 for tid in ids} | dict(rows)  # type: ignore[arg-type]


async def charger_choices(session: AsyncSession, tenant_id: uuid.UUID) -> list[tuple[str, str]]:
    """The tenant's chargers in service as ``(charge_box_id, label)``, by site then identity (a form's list:
    what a ticket may concern, issue 13 §1)."""
    rows = await session.execute(
        select(Charger.charge_box_id, Station.name, Charger.vendor, Charger.model)
        .join(Station, and_(Station.tenant_id == Charger.tenant_id, Station.id == Charger.station_id))
        .where(Charger.tenant_id == tenant_id, Charger.decommissioned_at.is_(None))
        .order_by(Station.name, Charger.charge_box_id).limit(5000))
    return [(cb, f"{cb} — {station}" + (f" ({vendor} {model})".rstrip() if vendor or model else ""))
            for cb, station, vendor, model in rows]


async def availability(
    session: AsyncSession, tenant_ids: Iterable[uuid.UUID], now: dt.datetime, *, days: int = 30,
) -> dict[uuid.UUID, float | None]:
    """Connected time of the chargers in service over the last ``days`` (each from its
    registration if later), divided by their period: ``None`` for a tenant without chargers."""
    ids = _ids(tenant_ids)
    since = now - dt.timedelta(days=days)
    chargers = {cid: (tid, max(since, created)) for cid, tid, created in (await session.execute(
        select(Charger.id, Charger.tenant_id, Charger.created_at)
        .where(Charger.tenant_id.in_(ids), Charger.decommissioned_at.is_(None)))).all()} if ids else {}
    reports = await reports_of(session, chargers, now, now=now)
    online: dict[uuid.UUID, float] = {}
    total: dict[uuid.UUID, float] = {}
    for cid, report in reports.items():
        tid = chargers[cid][0]
        online[tid] = online.get(tid, 0.0) + report.online_seconds
        total[tid] = total.get(tid, 0.0) + (report.end - report.start).total_seconds()
    return {tid: online[tid] / total[tid] if total.get(tid) else None for tid in ids}


async def open_alert_counts(session: AsyncSession, tenant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    ids = _ids(tenant_ids)
    rows = (await session.execute(
        select(Alert.tenant_id, func.count()).where(Alert.tenant_id.in_(ids), Alert.closed_at.is_(None))
        .group_by(Alert.tenant_id))).all() if ids else []
    return {tid: 0 for tid in ids} | dict(rows)  # type: ignore[arg-type]


@dataclass(frozen=True)
class OpenAlert:
    tenant_id: uuid.UUID
    charge_box_id: str
    connector_id: int
    kind: str
    opened_at: dt.datetime
    error_code: str

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


async def open_alerts(session: AsyncSession, tenant_ids: Iterable[uuid.UUID], *, limit: int = 200) -> list[OpenAlert]:
    """The open alerts, oldest first (the longest-standing fault is the most overdue)."""
    ids = _ids(tenant_ids)
    if not ids:
        return []
    rows = (await session.execute(
        select(Alert.tenant_id, Charger.charge_box_id, Alert.connector_id, Alert.kind, Alert.opened_at, Alert.error_code)
        .join(Charger, and_(Charger.tenant_id == Alert.tenant_id, Charger.id == Alert.charger_id))
        .where(Alert.tenant_id.in_(ids), Alert.closed_at.is_(None))
        .order_by(Alert.opened_at, Alert.id).limit(limit))).all()
    return [OpenAlert(*row) for row in rows]


async def sessions_started(
    session: AsyncSession, tenant_ids: Iterable[uuid.UUID], start: dt.datetime, end: dt.datetime,
) -> dict[uuid.UUID, int]:
    """Charging sessions started in ``[start, end)``."""
    ids = _ids(tenant_ids)
    rows = (await session.execute(
        select(Transaction.tenant_id, func.count())
        .where(Transaction.tenant_id.in_(ids), Transaction.started_at >= start, Transaction.started_at < end)
        .group_by(Transaction.tenant_id))).all() if ids else []
    return {tid: 0 for tid in ids} | dict(rows)  # type: ignore[arg-type]


async def daily_sessions(
    session: AsyncSession, tenant_ids: Iterable[uuid.UUID], first: dt.date, last: dt.date, zone: str,
) -> list[tuple[dt.date, int, float]]:
    """Sessions started and energy delivered (kWh, completed sessions) per day of ``zone``, ``first`` to ``last``."""
    ids = _ids(tenant_ids)
    tz = ZoneInfo(zone)
    days = {first + dt.timedelta(days=n): [0, 0.0] for n in range((last - first).days + 1)}
    if ids and days:
        start = dt.datetime.combine(first, dt.time.min, tz)
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tz)
        rows = (await session.execute(
            select(Transaction.started_at, Transaction.meter_start, Transaction.meter_stop)
            .where(Transaction.tenant_id.in_(ids), Transaction.started_at >= start, Transaction.started_at < end))).all()
        for started, meter_start, meter_stop in rows:
            day = days.get(_aware(started).astimezone(tz).date())
            if day is None:
                continue
            day[0] += 1
            if meter_start is not None and meter_stop is not None and meter_stop >= meter_start:
                day[1] += (meter_stop - meter_start) / 1000
    return [(day, int(count), round(energy, 1)) for day, (count, energy) in days.items()]


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite gives naive datetimes back; they are UTC (app.db stores UTC).
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


async def badges_waiting(session: AsyncSession, tenant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Badges changed since the version of the local list the least up-to-date charger in
    service confirmed: created, blocked or changed, not yet on every station (0 without chargers)."""
    ids = _ids(tenant_ids)
    counts = {tid: 0 for tid in ids}
    if not ids:
        return counts
    lowest = (
        select(Charger.tenant_id.label("tenant_id"), func.min(func.coalesce(LocalListSync.confirmed_version, 0)).label("v"))
        .outerjoin(LocalListSync, and_(LocalListSync.tenant_id == Charger.tenant_id, LocalListSync.charger_id == Charger.id))
        .where(Charger.tenant_id.in_(ids), Charger.decommissioned_at.is_(None))
        .group_by(Charger.tenant_id)).subquery()
    # One statement for every tenant (never one per tenant): the badges above the lowest confirmed
    # version, where the tenant's list has moved past it.
    rows = await session.execute(
        select(Badge.tenant_id, func.count())
        .join(lowest, lowest.c.tenant_id == Badge.tenant_id)
        .join(LocalAuthList, LocalAuthList.tenant_id == Badge.tenant_id)
        .where(Badge.tenant_id.in_(ids), LocalAuthList.version > lowest.c.v, Badge.list_version > lowest.c.v)
        .group_by(Badge.tenant_id))
    counts.update({tid: count for tid, count in rows.all()})
    return counts


@dataclass(frozen=True)
class FailedCommand:
    tenant_id: uuid.UUID
    charge_box_id: str
    action: str
    status: str
    error: str
    requested_at: dt.datetime

    @property
    def outcome(self) -> str:
        return FAILED_COMMAND_STATUSES.get(self.status, self.status)


async def failed_commands(
    session: AsyncSession, tenant_ids: Iterable[uuid.UUID], since: dt.datetime, *, limit: int = 200,
) -> list[FailedCommand]:
    """Remote commands since ``since`` that were refused, got no answer or could not be
    delivered, when no later command of the same action on the same charger succeeded."""
    ids = _ids(tenant_ids)
    if not ids:
        return []
    rows = (await session.execute(
        select(CommandLog.tenant_id, CommandLog.charge_box_id, CommandLog.action, CommandLog.status, CommandLog.error,
               CommandLog.requested_at)
        .where(CommandLog.tenant_id.in_(ids), CommandLog.requested_at >= since)
        .order_by(CommandLog.requested_at.desc(), CommandLog.id).limit(limit * 5))).all()
    settled: set[tuple[uuid.UUID, str, str]] = set()
    found = []
    for tid, charge_box_id, action, status, error, requested_at in rows:  # latest first
        key = (tid, charge_box_id, action)
        if key in settled:
            continue
        settled.add(key)  # the latest of each action on each charger says whether it is still to do
        if status in FAILED_COMMAND_STATUSES:
            found.append(FailedCommand(tid, charge_box_id, action, status, error, requested_at))
    return found[:limit]


@dataclass(frozen=True)
class AgentSession:
    """One charging session of an agent's badge (the agent's statement)."""

    id: uuid.UUID
    started_at: dt.datetime | None
    stopped_at: dt.datetime | None
    charge_box_id: str
    point_id: str
    id_tag: str
    energy_wh: int | None
    status: str
    #: What the session cost the agent: ``None`` while charging is free (paid charging,
    #: CCTP CPAM 5-5-5-2, belongs to billing).
    amount: Decimal | None = None

    def seconds(self, now: dt.datetime) -> float | None:
        if self.started_at is None:
            return None
        return ((self.stopped_at or now) - self.started_at).total_seconds()


async def sessions_of_user(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, *, limit: int | None = 200,
) -> list[AgentSession]:
    """The sessions started with the badges issued to ``user_id`` in the tenant, latest first."""
    stmt = (
        select(Transaction.id, Transaction.started_at, Transaction.stopped_at, Charger.charge_box_id,
               ChargePoint.canonical_id, Transaction.id_tag, Transaction.meter_start, Transaction.meter_stop,
               Transaction.status)
        .join(Badge, and_(Badge.tenant_id == Transaction.tenant_id, Badge.id == Transaction.badge_id))
        .join(Charger, and_(Charger.tenant_id == Transaction.tenant_id, Charger.id == Transaction.charger_id))
        .outerjoin(ChargePoint, and_(ChargePoint.tenant_id == Transaction.tenant_id,
                                     ChargePoint.id == Transaction.charge_point_id))
        .where(Transaction.tenant_id == tenant_id, Badge.user_id == user_id)
        .order_by(func.coalesce(Transaction.started_at, Transaction.stopped_at).desc(), Transaction.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    out = []
    for tx_id, started, stopped, cbid, point, id_tag, meter_start, meter_stop, status in (await session.execute(stmt)).all():
        energy = meter_stop - meter_start if meter_start is not None and meter_stop is not None else None
        out.append(AgentSession(tx_id, started and _aware(started), stopped and _aware(stopped), cbid, point or "",
                                id_tag, energy, status))
    return out


async def badges_of_user(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[Badge]:
    return list(await session.scalars(
        select(Badge).where(Badge.tenant_id == tenant_id, Badge.user_id == user_id).order_by(Badge.created_at)))


async def reservations_of_user(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, now: dt.datetime,
) -> list[tuple[Reservation, str]]:
    """The user's reservations not yet over (on its badges), soonest first, with the charge point's id."""
    rows = (await session.execute(
        select(Reservation, ChargePoint.canonical_id)
        .join(Badge, and_(Badge.tenant_id == Reservation.tenant_id, Badge.id == Reservation.badge_id))
        .join(ChargePoint, and_(ChargePoint.tenant_id == Reservation.tenant_id,
                                ChargePoint.id == Reservation.charge_point_id))
        .where(Reservation.tenant_id == tenant_id, Badge.user_id == user_id, Reservation.status.in_(OPEN_STATUSES),
               Reservation.ends_at > now)
        .order_by(Reservation.starts_at))).all()
    return [(reservation, point) for reservation, point in rows]


@dataclass(frozen=True)
class PointsAffected:
    """A charger's (or one of its points') share of the tenant's charge points in service (CCTP CPAM 5-4-5:
    « 30 % des IRVE ou plus »), and the charger's site."""

    fleet: int
    affected: int
    site_id: uuid.UUID | None
    charger_id: uuid.UUID | None


async def points_affected(session: AsyncSession, tenant_id: uuid.UUID, charge_box_id: str | None,
                          connector_id: int | None = None) -> PointsAffected:
    """The tenant's charge points in service and how many ``charge_box_id`` (connector 0 or None: all its
    points; else that one) takes out; an unknown charger affects none."""
    fleet = await session.scalar(
        select(func.count()).select_from(ChargePoint)
        .join(Charger, and_(Charger.tenant_id == ChargePoint.tenant_id, Charger.id == ChargePoint.charger_id))
        .where(ChargePoint.tenant_id == tenant_id, Charger.decommissioned_at.is_(None))) or 0
    if not charge_box_id:
        return PointsAffected(fleet, 0, None, None)
    row = (await session.execute(
        select(Charger.id, Station.site_id)
        .join(Station, and_(Station.tenant_id == Charger.tenant_id, Station.id == Charger.station_id))
        .where(Charger.tenant_id == tenant_id, Charger.charge_box_id == charge_box_id))).first()
    if row is None:
        return PointsAffected(fleet, 0, None, None)
    charger_id, site_id = row
    points = select(func.count()).select_from(ChargePoint).where(
        ChargePoint.tenant_id == tenant_id, ChargePoint.charger_id == charger_id)
    if connector_id:
        points = points.where(ChargePoint.connector_id == connector_id)
    affected = await session.scalar(points) or 0
    return PointsAffected(fleet, affected, site_id, charger_id)
