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
- ``sessions_of_user``, ``badges_of_user``, ``reservations_of_user``: an agent's own;
- ``id_tag_problem``, ``issue_badge`` and ``announce_badges``: a badge made by another component (an
  agent's approved request, ``catalog.badge_requests``), put in the tenant's local list and pushed to its
  stations after the commit;
- ``issue_local_badge``: a badge attached to a service vehicle or a site (5-5-5-3 « en local »), e.g. the badges
  supplied at a charge point's commissioning (``catalog.commissioning_badges``); ``site_charge_point_count``: the
  charge points of a site's stations;
- ``badge_statistics``: the tenant's badges counted by state and by attachment (5-5-5-3 « suivi statistique »);
- ``ocpp_word``: the French of an OCPP value (an error code) for another component's pages;
- ``charge_points_in_service`` and ``charge_point_brief``: the tenant's charge points (the yearly
  visit plan of CCTP CPAM 5-4-2-2); ``point_month_facts``: per charge point, a month of what the
  stations reported, in a few aggregate statements for the whole tenant (the monthly remote check
  of 5-4-2-1, ``incidents.preventive``);
- ``charging_session``: one session by id, what paid charging prices (``billing.charging``, on the durable
  ``csms.transaction.stopped``);
- ``usage_sessions`` (streamed), ``status_changes`` (streamed), ``usage_by_point`` and ``station_communication``:
  what the beneficiary's usage report reads (CCTP CPAM 5-5-4 « Statistiques d'utilisation », article 7
  « Reporting »; ``reporting.usage``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ValidationFailed
from csms.domain import badges as _badges
from csms.domain.alerts import KIND_LABELS
from csms.domain.models import (
    Alert,
    Badge,
    ChargePoint,
    Charger,
    CommandLog,
    ConnectionLog,
    LocalAuthList,
    LocalListSync,
    MeterValue,
    Reservation,
    Station,
    StationEvent,
    StatusEvent,
    Transaction,
)
from csms.domain.recording import reports_of
from csms.domain.reservations import OPEN_STATUSES
from csms.domain.states import STATE_LABELS, point_state
from csms.domain.stats import PointUsage, usage_by_point
from csms.domain.vocabulary import ocpp_word

__all__ = [
    "FAILED_COMMAND_STATUSES",
    "AgentSession",
    "FailedCommand",
    "OpenAlert",
    "PointBrief",
    "PointMonth",
    "PointsAffected",
    "PointUsage",
    "StationLink",
    "UsageSession",
    "availability",
    "BadgeStatistics",
    "alerts_in_period",
    "announce_badges",
    "badge_statistics",
    "badges_of_user",
    "badges_waiting",
    "charge_point_brief",
    "charge_points_in_service",
    "charger_choices",
    "charger_counts",
    "charging_session",
    "daily_sessions",
    "failed_commands",
    "id_tag_problem",
    "issue_badge",
    "issue_local_badge",
    "open_alert_counts",
    "ocpp_word",
    "open_alerts",
    "point_month_facts",
    "point_state_counts",
    "points_affected",
    "reservations_of_user",
    "sessions_of_user",
    "sessions_started",
    "site_charge_point_count",
    "station_communication",
    "status_changes",
    "usage_by_point",
    "usage_sessions",
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
    #: Set by ``alerts_in_period`` for an alert closed since.
    closed_at: dt.datetime | None = None

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


async def alerts_in_period(session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime,
                           end: dt.datetime) -> list[OpenAlert]:
    """The alerts that held at some time in ``[start, end)`` (opened before its end, not closed before its start),
    by opening (TGD IV.6's committee report: « ceux pour lesquels une alerte a été déclenchée »); ``closed_at``
    None while open."""
    rows = (await session.execute(
        select(Alert.tenant_id, Charger.charge_box_id, Alert.connector_id, Alert.kind, Alert.opened_at, Alert.error_code,
               Alert.closed_at)
        .join(Charger, and_(Charger.tenant_id == Alert.tenant_id, Charger.id == Alert.charger_id))
        .where(Alert.tenant_id == tenant_id, Alert.opened_at < end,
               or_(Alert.closed_at.is_(None), Alert.closed_at >= start))
        .order_by(Alert.opened_at, Alert.id))).all()
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


# --------------------------------------------------------------------------- preventive maintenance (5-4-2)


@dataclass(frozen=True)
class PointBrief:
    """A charge point in service, as the maintenance plan names it."""

    id: uuid.UUID
    canonical_id: str
    connector_id: int
    usage_name: str
    charger_id: uuid.UUID
    charge_box_id: str
    site_id: uuid.UUID | None
    #: When the supervision first knew it (registration, or the station declaring it): the
    #: commissioning date the first yearly visit counts from when none was recorded.
    created_at: dt.datetime


def _point_query() -> Any:
    return (select(ChargePoint.id, ChargePoint.canonical_id, ChargePoint.connector_id, ChargePoint.usage_name,
                   Charger.id, Charger.charge_box_id, Station.site_id, ChargePoint.created_at)
            .join(Charger, and_(Charger.tenant_id == ChargePoint.tenant_id, Charger.id == ChargePoint.charger_id))
            .join(Station, and_(Station.tenant_id == Charger.tenant_id, Station.id == Charger.station_id)))


def _brief(row: Any) -> PointBrief:
    return PointBrief(row[0], row[1], row[2], row[3], row[4], row[5], row[6], _aware(row[7]))


async def charge_points_in_service(session: AsyncSession, tenant_id: uuid.UUID) -> list[PointBrief]:
    """The tenant's charge points of chargers not retired, by identifier."""
    rows = (await session.execute(_point_query().where(ChargePoint.tenant_id == tenant_id,
                                                       Charger.decommissioned_at.is_(None))
                                  .order_by(ChargePoint.canonical_id))).all()
    return [_brief(row) for row in rows]


async def charge_point_brief(session: AsyncSession, tenant_id: uuid.UUID, charge_point_id: uuid.UUID) -> PointBrief | None:
    """One charge point of the tenant (retired ones included: their history stays); None if not the tenant's."""
    row = (await session.execute(_point_query().where(ChargePoint.tenant_id == tenant_id,
                                                      ChargePoint.id == charge_point_id))).first()
    return _brief(row) if row is not None else None


@dataclass(frozen=True)
class PointMonth:
    """What the supervision recorded of one charge point over a period (CCTP CPAM 5-4-2-1): its charging
    sessions (started in the period), the error codes of its StatusNotifications (its own and its
    charger's connector 0), power losses, the internal temperature and the GSM signal when the station
    reports them (``None``: « non remonté »), the event register's warnings, and whether the charger
    was heard from at all."""

    point: PointBrief
    #: The charger had a connection open in the period, or was seen in it.
    heard: bool = False
    sessions: int = 0
    completed: int = 0
    #: Orphan stops and transactions whose start was never seen (``Transaction.anomaly``).
    anomalies: int = 0
    energy_wh: int = 0
    #: Completed sessions whose meter went backwards.
    negative_energy: int = 0
    #: Completed sessions without a plug-in or unplug time, or unplugged before being plugged in.
    bad_times: int = 0
    #: Sessions still running 24 h after their start at the period's end.
    unfinished: int = 0
    first_plug_in: dt.datetime | None = None
    last_unplug: dt.datetime | None = None
    #: Sessions stopped for ``PowerLoss``.
    power_loss_stops: int = 0
    #: Error code → number of StatusNotifications (``NoError`` and empty left out).
    error_codes: dict[str, int] | None = None
    #: Temperature samples (°C): count, lowest, highest; 0 and None when the station reports none.
    temperature_samples: int = 0
    temperature_min: float | None = None
    temperature_max: float | None = None
    #: Signal strength reports (dBm, OCPP 2.0.1 NotifyEvent ``SignalStrength``); None: not reported.
    signal_samples: int = 0
    signal_min: float | None = None
    #: Warnings of the charger's event register (firmware failed, diagnostics failed, lenient-mode fixes…).
    register_warnings: int = 0


#: Error codes that say the charge point lost its charging power (CCTP CPAM 5-4-2-1 « perte de puissance »).
POWER_ERROR_CODES = ("UnderVoltage", "OverVoltage", "PowerSwitchFailure", "OverCurrentFailure")
#: A session unfinished after this long at the period's end is flagged.
UNFINISHED_AFTER = dt.timedelta(hours=24)


def _float(value: Any) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) < 1e6 else None  # NaN and absurd values left out


async def point_month_facts(session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime,
                            end: dt.datetime) -> list[PointMonth]:
    """Per charge point in service (known before ``end``), the facts of ``[start, end)``: six aggregate statements for the whole tenant
    (points, sessions, status errors, temperatures, signal, register and connections), never one per point, so
    that 10,000 charge points are read in seconds (``bench/bench_preventive.py``)."""
    # A point the supervision did not know yet at the period's end has no month to check.
    points = [p for p in await charge_points_in_service(session, tenant_id) if p.created_at < end]
    if not points:
        return []
    tx = Transaction
    energy = tx.meter_stop - tx.meter_start
    completed = tx.status == "completed"
    in_period = or_(and_(tx.started_at >= start, tx.started_at < end),
                    and_(tx.started_at.is_(None), tx.stopped_at >= start, tx.stopped_at < end))
    sessions = {(r[0], r[1]): r[2:] for r in (await session.execute(
        select(tx.charger_id, tx.connector_id, func.count(),
               func.sum(case((completed, 1), else_=0)),
               func.sum(case((or_(tx.status == "orphan", tx.anomaly != ""), 1), else_=0)),
               func.sum(case((and_(completed, energy >= 0), energy), else_=0)),
               func.sum(case((and_(completed, energy < 0), 1), else_=0)),
               func.sum(case((and_(completed, or_(tx.started_at.is_(None), tx.stopped_at.is_(None),
                                                  tx.stopped_at < tx.started_at)), 1), else_=0)),
               func.sum(case((and_(tx.status == "active", tx.started_at < end - UNFINISHED_AFTER), 1), else_=0)),
               func.min(tx.started_at), func.max(tx.stopped_at),
               func.sum(case((tx.stop_reason == "PowerLoss", 1), else_=0)))
        .where(tx.tenant_id == tenant_id, in_period).group_by(tx.charger_id, tx.connector_id))).all()}
    errors: dict[tuple[uuid.UUID, int], dict[str, int]] = {}
    for charger_id, connector_id, code, count in (await session.execute(
            select(StatusEvent.charger_id, StatusEvent.connector_id, StatusEvent.error_code, func.count())
            .where(StatusEvent.tenant_id == tenant_id, StatusEvent.reported_at >= start, StatusEvent.reported_at < end,
                   StatusEvent.error_code.not_in(("", "NoError")))
            .group_by(StatusEvent.charger_id, StatusEvent.connector_id, StatusEvent.error_code))).all():
        errors.setdefault((charger_id, connector_id), {})[code] = count
    temperatures = {(r[0], r[1]): r[2:] for r in (await session.execute(
        select(MeterValue.charger_id, MeterValue.connector_id, func.count(MeterValue.value), func.min(MeterValue.value),
               func.max(MeterValue.value))
        .where(MeterValue.tenant_id == tenant_id, MeterValue.measurand == "Temperature",
               MeterValue.sampled_at >= start, MeterValue.sampled_at < end, MeterValue.value.is_not(None))
        .group_by(MeterValue.charger_id, MeterValue.connector_id))).all()}
    # The register: warnings counted, and the 2.0.1 signal strength reports read (their value is text).
    variable = StationEvent.details["variable"]["name"].as_string()
    signal: dict[uuid.UUID, list[float]] = {}
    warnings: dict[uuid.UUID, int] = {}
    moment = func.coalesce(StationEvent.occurred_at, StationEvent.received_at)
    for charger_id, severity, name, value in (await session.execute(
            select(StationEvent.charger_id, StationEvent.severity, variable,
                   StationEvent.details["actual_value"].as_string())
            .where(StationEvent.tenant_id == tenant_id, moment >= start, moment < end,
                   or_(StationEvent.severity == "warning",
                       and_(StationEvent.kind == "notify_event", variable == "SignalStrength"))))).all():
        if severity == "warning":
            warnings[charger_id] = warnings.get(charger_id, 0) + 1
        if name == "SignalStrength" and (number := _float(value)) is not None:
            signal.setdefault(charger_id, []).append(number)
    heard = set((await session.scalars(
        select(ConnectionLog.charger_id).where(
            ConnectionLog.tenant_id == tenant_id, ConnectionLog.connected_at < end,
            or_(ConnectionLog.disconnected_at.is_(None), ConnectionLog.disconnected_at >= start)).distinct())).all())
    heard |= set((await session.scalars(select(Charger.id).where(
        Charger.tenant_id == tenant_id, Charger.last_seen_at >= start, Charger.last_seen_at < end))).all())
    heard |= {charger_id for charger_id, _ in sessions} | {charger_id for charger_id, _ in errors}
    out = []
    for point in points:
        key, whole = (point.charger_id, point.connector_id), (point.charger_id, 0)
        s = sessions.get(key)
        codes = dict(errors.get(key, {}))
        for code, count in errors.get(whole, {}).items():
            codes[code] = codes.get(code, 0) + count
        temps = [t for t in (temperatures.get(key), temperatures.get(whole)) if t and t[0]]
        strengths = signal.get(point.charger_id, [])
        out.append(PointMonth(
            point=point, heard=point.charger_id in heard,
            sessions=int(s[0]) if s else 0, completed=int(s[1] or 0) if s else 0,
            anomalies=int(s[2] or 0) if s else 0, energy_wh=int(s[3] or 0) if s else 0,
            negative_energy=int(s[4] or 0) if s else 0, bad_times=int(s[5] or 0) if s else 0,
            unfinished=int(s[6] or 0) if s else 0,
            first_plug_in=_aware(s[7]) if s and s[7] else None, last_unplug=_aware(s[8]) if s and s[8] else None,
            power_loss_stops=int(s[9] or 0) if s else 0, error_codes=codes,
            temperature_samples=sum(int(t[0]) for t in temps),
            temperature_min=min((float(t[1]) for t in temps), default=None),
            temperature_max=max((float(t[2]) for t in temps), default=None),
            signal_samples=len(strengths), signal_min=min(strengths, default=None),
            register_warnings=warnings.get(point.charger_id, 0),
        ))
    return out


# --------------------------------------------------------------------------- badges made elsewhere


async def id_tag_problem(session: AsyncSession, tenant_id: uuid.UUID, id_tag: str) -> tuple[str, str | None]:
    """(the idTag as stored, French error or None): its OCPP format, and not already one of the tenant's badges."""
    value, problem = _badges.check_id_tag(id_tag)
    if problem is None and await session.scalar(
            select(Badge.id).where(Badge.tenant_id == tenant_id, Badge.id_tag == value)):
        problem = f"Le badge {value} est déjà enregistré chez ce bénéficiaire."
    return value, problem


async def issue_badge(session: AsyncSession, tenant_id: uuid.UUID, *, id_tag: str, user_id: uuid.UUID,
                      holder_label: str, vehicle_label: str = "", site_id: uuid.UUID | None = None) -> uuid.UUID:
    """An agent's active badge (CCTP CPAM 5-5-5-3 « délivrés aux agents »): in the tenant's local authorization
    list from this flush (its version moves); ``announce_badges`` after the commit pushes it to the stations.
    ``ValidationFailed`` (by field) for a bad or taken idTag; nothing is written then."""
    badge = await _badges.create_badge(session, tenant_id, {
        "id_tag": id_tag, "status": "Accepted", "kind": "agent", "user_id": str(user_id),
        "holder_label": holder_label[:200], "vehicle_label": vehicle_label[:60],
        "site_id": str(site_id) if site_id else None})
    return badge.id


async def announce_badges(bus: Any, tenant_id: uuid.UUID) -> None:
    """After the commit of a badge change: the ingress processes push the tenant's list to its stations (the
    sweep catches up if the bus is down)."""
    await _badges.publish_badges_changed(bus, tenant_id)


async def issue_local_badge(session: AsyncSession, tenant_id: uuid.UUID, *, id_tag: str, kind: str,
                            vehicle_label: str = "", site_id: uuid.UUID | None = None,
                            holder_label: str = "") -> uuid.UUID:
    """A badge « en local » (CCTP CPAM 5-5-5-3: « carte attachée au véhicule de service ou au site de
    rattachement »): ``kind`` vehicle (with ``vehicle_label``) or site (with ``site_id``), active, in the tenant's
    local list from this flush; ``announce_badges`` after the commit. ``ValidationFailed`` by field otherwise."""
    if kind not in ("vehicle", "site"):
        raise ValidationFailed({"kind": "Rattachement : vehicle (véhicule de service) ou site."})
    badge = await _badges.create_badge(session, tenant_id, {
        "id_tag": id_tag, "status": "Accepted", "kind": kind, "holder_label": holder_label[:200],
        "vehicle_label": vehicle_label[:60] if kind == "vehicle" else "",
        "site_id": str(site_id) if site_id else None})
    return badge.id


async def site_charge_point_count(session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID) -> int:
    """The charge points of the chargers in service of the site's stations (0 when the supervision knows none)."""
    return await session.scalar(
        select(func.count()).select_from(ChargePoint)
        .join(Charger, and_(Charger.tenant_id == ChargePoint.tenant_id, Charger.id == ChargePoint.charger_id))
        .join(Station, and_(Station.tenant_id == Charger.tenant_id, Station.id == Charger.station_id))
        .where(ChargePoint.tenant_id == tenant_id, Station.site_id == site_id,
               Charger.decommissioned_at.is_(None))) or 0


@dataclass(frozen=True)
class BadgeStatistics:
    """CCTP CPAM 5-5-5-3 « suivi statistique »: the tenant's badges by attachment (``kind``: vehicle, site, agent,
    "" not attached) and state (``status``: Accepted, Blocked, Expired; an active badge past its expiry counts
    as expired)."""

    counts: dict[tuple[str, str], int]

    def count(self, kind: str | None = None, status: str | None = None) -> int:
        return sum(n for (k, s), n in self.counts.items()
                   if (kind is None or k == kind) and (status is None or s == status))

    @property
    def total(self) -> int:
        return self.count()


async def badge_statistics(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime) -> BadgeStatistics:
    """One ``GROUP BY`` over the tenant's badges (never the rows themselves)."""
    status = case((and_(Badge.status == "Accepted", Badge.expires_at.is_not(None), Badge.expires_at <= now),
                   "Expired"), else_=Badge.status)
    rows = (await session.execute(
        select(Badge.kind, status, func.count()).where(Badge.tenant_id == tenant_id)
        .group_by(Badge.kind, status))).all()
    counts: dict[tuple[str, str], int] = {}
    for kind, state, n in rows:
        key = (kind or "", state)
        counts[key] = counts.get(key, 0) + int(n)
    return BadgeStatistics(counts)


# --------------------------------------------------------------------------- the beneficiary's usage report


@dataclass(frozen=True, slots=True)
class UsageSession:
    """One charging session as the usage report reads it (CCTP CPAM 5-5-4: « Identification du badge ayant servi
    à déclencher la recharge », « usages (durée, horaires, puissances demandées, type de prise utilisée) »)."""

    id: uuid.UUID
    started_at: dt.datetime
    stopped_at: dt.datetime | None
    status: str
    charger_id: uuid.UUID
    connector_id: int | None
    charge_box_id: str
    station_name: str
    point_id: str
    power_kw: float | None
    socket_types: str
    id_tag: str
    badge_kind: str
    holder_label: str
    user_id: uuid.UUID | None
    #: ``meter_stop - meter_start`` (Wh) when both are known and not negative.
    energy_wh: int | None
    #: The station's site (``tenants``' sites: its address).
    site_id: uuid.UUID | None = None


def _usage_query() -> Any:
    return (
        select(Transaction.id, Transaction.started_at, Transaction.stopped_at, Transaction.status, Transaction.charger_id,
               Transaction.connector_id, Charger.charge_box_id, Station.name, ChargePoint.canonical_id,
               ChargePoint.power_kw, ChargePoint.socket_types, Transaction.id_tag, Badge.kind, Badge.holder_label,
               Badge.user_id, Transaction.meter_start, Transaction.meter_stop, Station.site_id)
        .join(Charger, and_(Charger.tenant_id == Transaction.tenant_id, Charger.id == Transaction.charger_id))
        .join(Station, and_(Station.tenant_id == Charger.tenant_id, Station.id == Charger.station_id))
        .outerjoin(ChargePoint, and_(ChargePoint.tenant_id == Transaction.tenant_id,
                                     ChargePoint.id == Transaction.charge_point_id))
        .outerjoin(Badge, and_(Badge.tenant_id == Transaction.tenant_id, Badge.id == Transaction.badge_id)))


def _usage_row(row: Any) -> UsageSession:
    (tx_id, started, stopped, status, charger_id, connector_id, cbid, station, point, power, sockets, id_tag,
     kind, holder, user_id, meter_start, meter_stop, site_id) = row
    energy = meter_stop - meter_start if meter_start is not None and meter_stop is not None else None
    return UsageSession(tx_id, _aware(started), stopped and _aware(stopped), status, charger_id, connector_id,
                        cbid, station or "", point or "", power, sockets or "", id_tag or "", kind or "",
                        holder or "", user_id, energy if energy is None or energy >= 0 else None, site_id)


async def usage_sessions(session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime, end: dt.datetime, *,
                         batch: int = 2000) -> AsyncIterator[UsageSession]:
    """The tenant's sessions started in ``[start, end)`` (orphan stops, which have no start, left out), by start,
    with their charge point, station and badge; streamed ``batch`` rows per round trip (``yield_per``)."""
    query = (
        _usage_query()
        .where(Transaction.tenant_id == tenant_id, Transaction.status != "orphan",
               Transaction.started_at >= start, Transaction.started_at < end)
        .order_by(Transaction.started_at, Transaction.id)
        .execution_options(yield_per=batch))
    result = await session.stream(query)
    async for rows in result.partitions():
        for row in rows:
            yield _usage_row(row)


async def charging_session(session: AsyncSession, tenant_id: uuid.UUID,
                           transaction_id: uuid.UUID) -> UsageSession | None:
    """One session of the tenant by its id (the ``csms.transaction.stopped`` event's ``transaction_id``), with its
    charge point, station (and its site) and badge (its kind and holder): what paid charging prices (CCTP CPAM
    5-5-5-2); None for an unknown id or an orphan stop."""
    row = (await session.execute(_usage_query().where(
        Transaction.tenant_id == tenant_id, Transaction.id == transaction_id,
        Transaction.status != "orphan"))).first()
    return _usage_row(row) if row is not None else None


async def status_changes(session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime, end: dt.datetime, *,
                         batch: int = 5000) -> AsyncIterator[tuple[uuid.UUID, int, str, dt.datetime]]:
    """``(charger_id, connector_id, status, reported_at)`` of the tenant's StatusNotifications reported in
    ``[start, end)``, by charger, connector and time (how long a point was « Charging » during a session: the
    connected time minus the suspended time); streamed."""
    query = (select(StatusEvent.charger_id, StatusEvent.connector_id, StatusEvent.status, StatusEvent.reported_at)
             .where(StatusEvent.tenant_id == tenant_id, StatusEvent.reported_at >= start, StatusEvent.reported_at < end,
                    StatusEvent.connector_id > 0)
             .order_by(StatusEvent.charger_id, StatusEvent.connector_id, StatusEvent.reported_at, StatusEvent.id)
             .execution_options(yield_per=batch))
    result = await session.stream(query)
    async for rows in result.partitions():
        for charger_id, connector_id, status, reported_at in rows:
            yield charger_id, connector_id, status, _aware(reported_at)


@dataclass(frozen=True)
class StationLink:
    """A charger's link to the supervision over a period (CCTP CPAM 5-5: uptime and communication cuts, from the
    connection log: facts, not estimates)."""

    charge_box_id: str
    station_name: str
    #: The part of the period the charger was known (from its registration) up to ``now``.
    period_seconds: float
    online_seconds: float
    connections: int
    cuts: int

    @property
    def uptime(self) -> float | None:
        return self.online_seconds / self.period_seconds if self.period_seconds > 0 else None


async def station_communication(session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime, end: dt.datetime,
                                *, now: dt.datetime) -> list[StationLink]:
    """Every charger of the tenant in service during ``[start, end)``, by identifier: its connected time and its
    cuts (the computation of ``availability``, over any period)."""
    rows = (await session.execute(
        select(Charger.id, Charger.charge_box_id, Station.name, Charger.created_at)
        .join(Station, and_(Station.tenant_id == Charger.tenant_id, Station.id == Charger.station_id))
        .where(Charger.tenant_id == tenant_id, Charger.created_at < end,
               or_(Charger.decommissioned_at.is_(None), Charger.decommissioned_at > start))
        .order_by(Charger.charge_box_id))).all()
    stop = min(end, now)
    chargers = {cid: (tenant_id, min(max(start, _aware(created)), stop)) for cid, _, _, created in rows}
    reports = await reports_of(session, chargers, stop, now=now)
    out = []
    for cid, cbid, station, _ in rows:
        report = reports[cid]
        out.append(StationLink(cbid, station or "", max(0.0, (report.end - report.start).total_seconds()),
                               report.online_seconds, report.connections, report.cuts))
    return out
