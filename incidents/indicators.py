"""The monthly service indicators, a pure core (no database, the facts and the month passed in).

CCTP CAIH 2.1.26 (per establishment, « vérification mensuelle ») and 2.1.27 (for the whole lot):

- « Taux d'incidents traités dans les temps … pourcentage du nombre d'incidents clôturés dans les
  temps définis sur le nombre d'incidents total clôturés par le titulaire » — target 90 % per
  establishment, 98 % for the lot;
- « Taux de réouverture des incidents … pourcentage du nombre de tickets ré ouverts dans l'outil par
  rappel d'un utilisateur sur nombre de tickets clôturés par le titulaire » — at most 5 % / 2 %.

CCTP CAIH 2.1.33, « les indicateurs de pilotage suivants » : incidents declared per establishment,
% of incidents per equipment, under / out of warranty, within / out of the delays, number and % solved
remotely « sans déplacement sur site », % within the contractual delays, support calls per week,
month and year.

CCTP CAIH 6.1 (the COPIL) « le reporting sur les incidents gérés, le temps de rétablissement, et le taux de respect du
GTR »: the mean time to restore of the tickets closed in the month, each its restoration clock's business time as the
SLA engine counts it for the GTR (the policy's calendar, pauses excluded: ``incidents.sla.evaluate_ticket``).

A ticket counts in the month of its closure for the rates (it is « clôturé » there: resolved and
accepted or deemed accepted), and in the month of its first information for the declared counts;
months are taken in the tenant's time zone. A reopened ticket is one reopened at least once before
the closure counted.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

__all__ = [
    "LOT_TARGETS",
    "LotIndicators",
    "SITE_TARGETS",
    "Month",
    "MonthIndicators",
    "PeriodIndicators",
    "TicketFacts",
    "Targets",
    "combine",
    "duration_label",
    "lot_indicators",
    "month_indicators",
    "parse_month",
    "period_indicators",
    "rate",
]

#: The channels that are a call to the support (« nombre d'appel au support »).
SUPPORT_CALL_CHANNELS = frozenset({"phone"})


@dataclass(frozen=True)
class Targets:
    """The service levels a rate is compared with (percent)."""

    on_time_min: Decimal
    reopen_max: Decimal


#: CAIH 2.1.26: per establishment, 90 % on time, at most 5 % reopened.
SITE_TARGETS = Targets(on_time_min=Decimal(90), reopen_max=Decimal(5))
#: CAIH 2.1.27: for the lot, 98 % on time, at most 2 % reopened.
LOT_TARGETS = Targets(on_time_min=Decimal(98), reopen_max=Decimal(2))


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def bounds(self, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """The month's first instant and the next month's, in ``zone``, as UTC."""
        start = dt.datetime(self.year, self.month, 1, tzinfo=zone)
        nxt = dt.datetime(self.year + self.month // 12, self.month % 12 + 1, 1, tzinfo=zone)
        return start.astimezone(dt.UTC), nxt.astimezone(dt.UTC)

    def year_bounds(self, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """From the 1st of January of the month's year to the end of the month (year to date)."""
        return dt.datetime(self.year, 1, 1, tzinfo=zone).astimezone(dt.UTC), self.bounds(zone)[1]

    def label(self) -> str:
        names = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
                 "octobre", "novembre", "décembre")
        return f"{names[self.month - 1]} {self.year}"


def parse_month(value: str | None, today: dt.date) -> Month:
    """``YYYY-MM`` (the API's and the pages' parameter); empty means the month before ``today``'s.
    Raises ``ValueError`` with a French message."""
    if not value:
        first = today.replace(day=1) - dt.timedelta(days=1)
        return Month(first.year, first.month)
    text = value.strip()
    try:
        year, month = (int(p) for p in text.split("-"))
    except ValueError:
        raise ValueError(f"mois invalide : {text[:20]!r} (attendu : AAAA-MM)") from None
    if len(text) != 7 or not (1 <= month <= 12) or not (2000 <= year <= 2100):
        raise ValueError(f"mois invalide : {text[:20]!r} (attendu : AAAA-MM)")
    return Month(year, month)


@dataclass(frozen=True)
class TicketFacts:
    """What the indicators need of one ticket."""

    tenant_id: uuid.UUID
    reported_at: dt.datetime
    channel: str
    #: The closure (accepted or deemed accepted), if any.
    closed_at: dt.datetime | None
    #: A delay was exceeded (the ticket's stored ``breached``, rebuilt from its events).
    breached: bool
    reopened: bool
    #: No on-site intervention (« résolus à distance, sans déplacement sur site »).
    remote_only: bool
    #: « Borne de recharge », « Serveur »… (2.1.33 « % des incidents par matériel »).
    equipment: str = "Non précisé"
    #: True / False under / out of warranty; None when unknown (no asset).
    under_warranty: bool | None = None
    site: str = ""
    #: The restoration clock's business time once restored, in seconds (``Ticket.restoration_seconds``); None when
    #: not restored or not known (CAIH 6.1 « le temps de rétablissement »).
    restoration_seconds: int | None = None


def duration_label(seconds: int | None) -> str:
    """« 3 h 05 », « 2 j 4 h 30 » (days of 24 h of the clock's open time), « 12 min »; « — » when unknown."""
    if seconds is None:
        return "—"
    minutes = (seconds + 30) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} j {hours} h {mins:02d}"
    if hours:
        return f"{hours} h {mins:02d}"
    return f"{mins} min"


def rate(part: int, whole: int) -> Decimal | None:
    """A percentage with one decimal, rounded half up; None when there is nothing to divide."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class MonthIndicators:
    month: Month
    targets: Targets
    #: Declared in the month (first information in the month).
    declared: int
    #: Closed in the month, of which on time and reopened.
    closed: int
    closed_on_time: int
    closed_reopened: int
    #: Closed in the month without an on-site intervention.
    closed_remotely: int
    by_equipment: tuple[tuple[str, int], ...]
    under_warranty: int
    out_of_warranty: int
    warranty_unknown: int
    #: Support calls: each ISO week that starts in the month (``(label, n)``), the month, the year to date.
    calls_by_week: tuple[tuple[str, int], ...]
    calls_month: int
    calls_year: int
    by_site: tuple[tuple[str, int], ...] = field(default=())
    #: CAIH 6.1 « le temps de rétablissement »: of the tickets closed in the month, those with a restoration time
    #: and the sum of those times (business time of the contract's calendar, pauses excluded, in seconds).
    restored_timed: int = 0
    restoration_seconds: int = 0

    @property
    def mean_restoration_seconds(self) -> int | None:
        """The mean time to restore of the tickets closed, in seconds (rounded half up); None without any."""
        if not self.restored_timed:
            return None
        return int((Decimal(self.restoration_seconds) / self.restored_timed).quantize(Decimal(1), ROUND_HALF_UP))

    @property
    def on_time_rate(self) -> Decimal | None:
        return rate(self.closed_on_time, self.closed)

    @property
    def late_rate(self) -> Decimal | None:
        return rate(self.closed - self.closed_on_time, self.closed)

    @property
    def reopen_rate(self) -> Decimal | None:
        return rate(self.closed_reopened, self.closed)

    @property
    def remote_rate(self) -> Decimal | None:
        return rate(self.closed_remotely, self.closed)

    @property
    def on_time_met(self) -> bool | None:
        r = self.on_time_rate
        return None if r is None else r >= self.targets.on_time_min

    @property
    def reopen_met(self) -> bool | None:
        r = self.reopen_rate
        return None if r is None else r <= self.targets.reopen_max

    def equipment_shares(self) -> list[tuple[str, int, Decimal | None]]:
        return [(name, n, rate(n, self.declared)) for name, n in self.by_equipment]

    def warranty_shares(self) -> list[tuple[str, int, Decimal | None]]:
        return [("Sous garantie", self.under_warranty, rate(self.under_warranty, self.declared)),
                ("Hors garantie", self.out_of_warranty, rate(self.out_of_warranty, self.declared)),
                ("Non précisé", self.warranty_unknown, rate(self.warranty_unknown, self.declared))]

    def as_dict(self) -> dict[str, object]:
        """The API's body (rates as strings of a decimal, None as null)."""
        def s(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "month": str(self.month),
            "declared": self.declared,
            "closed": self.closed,
            "closed_on_time": self.closed_on_time,
            "on_time_rate": s(self.on_time_rate),
            "on_time_target": str(self.targets.on_time_min),
            "on_time_met": self.on_time_met,
            "reopened": self.closed_reopened,
            "reopen_rate": s(self.reopen_rate),
            "reopen_target": str(self.targets.reopen_max),
            "reopen_met": self.reopen_met,
            "solved_remotely": self.closed_remotely,
            "solved_remotely_rate": s(self.remote_rate),
            "by_equipment": [{"equipment": n, "count": c, "rate": s(r)} for n, c, r in self.equipment_shares()],
            "warranty": {"under": self.under_warranty, "out": self.out_of_warranty,
                         "unknown": self.warranty_unknown},
            "support_calls": {"by_week": [{"week": w, "count": c} for w, c in self.calls_by_week],
                              "month": self.calls_month, "year": self.calls_year},
            "by_site": [{"site": n, "count": c} for n, c in self.by_site],
            "restoration": {"timed": self.restored_timed, "mean_seconds": self.mean_restoration_seconds,
                            "mean": duration_label(self.mean_restoration_seconds)},
        }


def _in(moment: dt.datetime | None, bounds: tuple[dt.datetime, dt.datetime]) -> bool:
    return moment is not None and bounds[0] <= moment < bounds[1]


@functools.lru_cache(maxsize=1024)
def _weeks(month: Month, zone: ZoneInfo) -> tuple[tuple[str, dt.date, dt.date], ...]:
    """The ISO weeks that meet the month, as (« S49 (30/11–06/12) », first day, day after the last)."""
    first = dt.date(month.year, month.month, 1)
    last = (dt.datetime(month.year + month.month // 12, month.month % 12 + 1, 1) - dt.timedelta(days=1)).date()
    day = first - dt.timedelta(days=first.weekday())
    out = []
    while day <= last:
        end = day + dt.timedelta(days=7)
        out.append((f"S{day.isocalendar().week:02d} ({day:%d/%m}–{end - dt.timedelta(days=1):%d/%m})", day, end))
        day = end
    return tuple(out)


#: The figures of a month without any ticket, by ``id``: shared (frozen), so that ``combine`` skips them at once (a
#: lot of 500 establishments over a semester has mostly those). Kept for the process's life: a few per month, zone
#: and target, and never an ``id`` reused.
_QUIET: dict[int, MonthIndicators] = {}


@functools.cache
def _nothing(month: Month, zone: ZoneInfo, targets: Targets) -> MonthIndicators:
    quiet = MonthIndicators(
        month=month, targets=targets, declared=0, closed=0, closed_on_time=0, closed_reopened=0, closed_remotely=0,
        by_equipment=(), under_warranty=0, out_of_warranty=0, warranty_unknown=0,
        calls_by_week=tuple((label, 0) for label, _, _ in _weeks(month, zone)), calls_month=0, calls_year=0, by_site=())
    _QUIET[id(quiet)] = quiet
    return quiet


def month_indicators(facts: Iterable[TicketFacts], month: Month, zone: ZoneInfo,
                     targets: Targets = SITE_TARGETS) -> MonthIndicators:
    """The indicators of ``month`` over ``facts`` (one establishment, or the lot with ``LOT_TARGETS``).

    ``facts`` should hold every ticket declared since the 1st of January of the month's year or
    closed in the month; the others are ignored.
    """
    facts = list(facts)
    if not facts:  # most establishments, most months: the same empty figures (frozen, shared)
        return _nothing(month, zone, targets)
    bounds = month.bounds(zone)
    year = month.year_bounds(zone)
    weeks = _weeks(month, zone)
    declared = closed = on_time = reopened = remote = timed = restoring = 0
    under = out = unknown = calls_month = calls_year = 0
    equipment: Counter[str] = Counter()
    sites: Counter[str] = Counter()
    by_week: Counter[str] = Counter()
    for f in facts:
        call = f.channel in SUPPORT_CALL_CHANNELS
        if call and _in(f.reported_at, year):
            calls_year += 1
        if call:
            local = f.reported_at.astimezone(zone).date()
            for label, start, end in weeks:
                if start <= local < end:
                    by_week[label] += 1
        if _in(f.reported_at, bounds):
            declared += 1
            calls_month += call
            equipment[f.equipment] += 1
            sites[f.site or "Sans site"] += 1
            if f.under_warranty is None:
                unknown += 1
            elif f.under_warranty:
                under += 1
            else:
                out += 1
        if _in(f.closed_at, bounds):
            closed += 1
            on_time += not f.breached
            reopened += f.reopened
            remote += f.remote_only
            if f.restoration_seconds is not None:
                timed += 1
                restoring += f.restoration_seconds
    return MonthIndicators(
        month=month, targets=targets, declared=declared, closed=closed, closed_on_time=on_time,
        closed_reopened=reopened, closed_remotely=remote,
        by_equipment=tuple(sorted(equipment.items(), key=lambda kv: (-kv[1], kv[0]))),
        under_warranty=under, out_of_warranty=out, warranty_unknown=unknown,
        calls_by_week=tuple((label, by_week[label]) for label, _, _ in weeks), calls_month=calls_month,
        calls_year=calls_year, by_site=tuple(sorted(sites.items(), key=lambda kv: (-kv[1], kv[0]))),
        restored_timed=timed, restoration_seconds=restoring,
    )


@dataclass(frozen=True)
class LotIndicators:
    """The lot-wide indicators (CAIH 2.1.27) and each establishment's (2.1.26)."""

    lot: MonthIndicators
    establishments: tuple[tuple[str, MonthIndicators], ...]


def _merge(pairs: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    total: Counter[str] = Counter()
    for name, n in pairs:
        total[name] += n
    return tuple(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


@functools.cache
def _sum_of_nothing(month: Month, targets: Targets, weeks: tuple[str, ...]) -> MonthIndicators:
    return MonthIndicators(
        month=month, targets=targets, declared=0, closed=0, closed_on_time=0, closed_reopened=0, closed_remotely=0,
        by_equipment=(), under_warranty=0, out_of_warranty=0, warranty_unknown=0,
        calls_by_week=tuple((w, 0) for w in weeks), calls_month=0, calls_year=0, by_site=())


def combine(parts: Sequence[MonthIndicators], month: Month, targets: Targets = LOT_TARGETS) -> MonthIndicators:
    """The sum of several establishments' indicators (each counted in its own time zone)."""
    weeks = [label for label, _ in parts[0].calls_by_week] if parts else []
    parts = [p for p in parts if id(p) not in _QUIET]  # an establishment without a ticket adds nothing
    if not parts:
        return _sum_of_nothing(month, targets, tuple(weeks))
    week_total: Counter[str] = Counter()
    for part in parts:
        week_total.update(dict(part.calls_by_week))
    return MonthIndicators(
        month=month, targets=targets, declared=sum(p.declared for p in parts), closed=sum(p.closed for p in parts),
        closed_on_time=sum(p.closed_on_time for p in parts), closed_reopened=sum(p.closed_reopened for p in parts),
        closed_remotely=sum(p.closed_remotely for p in parts),
        by_equipment=_merge(kv for p in parts for kv in p.by_equipment),
        under_warranty=sum(p.under_warranty for p in parts), out_of_warranty=sum(p.out_of_warranty for p in parts),
        warranty_unknown=sum(p.warranty_unknown for p in parts),
        calls_by_week=tuple((w, week_total[w]) for w in weeks), calls_month=sum(p.calls_month for p in parts),
        calls_year=sum(p.calls_year for p in parts), by_site=(),
        restored_timed=sum(p.restored_timed for p in parts),
        restoration_seconds=sum(p.restoration_seconds for p in parts),
    )


def lot_indicators(establishments: Sequence[tuple[str, Sequence[TicketFacts], ZoneInfo]],
                   month: Month) -> LotIndicators:
    """Each establishment against 2.1.26's targets (in its own time zone), all of them together
    against 2.1.27's."""
    quiet: dict[ZoneInfo, MonthIndicators] = {}

    def one(facts: Sequence[TicketFacts], zone: ZoneInfo) -> MonthIndicators:
        if facts:
            return month_indicators(facts, month, zone, SITE_TARGETS)
        if zone not in quiet:
            quiet[zone] = _nothing(month, zone, SITE_TARGETS)
        return quiet[zone]

    per = tuple((name, one(facts, zone)) for name, facts, zone in establishments)
    return LotIndicators(lot=combine([m for _, m in per], month, LOT_TARGETS), establishments=per)


@dataclass(frozen=True)
class PeriodIndicators:
    """Several months together (a semester's report, CAIH 6.1 « le taux de respect du GTR » at the COPIL): the
    lot against 2.1.27's targets and each establishment against 2.1.26's over the whole period, and the lot month
    by month (« vérification mensuelle »). The counts and rates are the months' sums; the support calls by week
    and the year's calls mean nothing over a period and are not to be read."""

    first: Month
    last: Month
    lot: MonthIndicators
    establishments: tuple[tuple[str, MonthIndicators], ...]
    months: tuple[MonthIndicators, ...]


def period_indicators(months: Sequence[LotIndicators]) -> PeriodIndicators:
    """The period of ``months`` (consecutive, the same establishments each month, as ``lot_indicators`` gives)."""
    if not months:
        raise ValueError("aucun mois")
    first, last = months[0].lot.month, months[-1].lot.month
    per: dict[str, list[MonthIndicators]] = {}
    for lot in months:
        for name, m in lot.establishments:
            per.setdefault(name, []).append(m)
    return PeriodIndicators(
        first=first, last=last, lot=combine([lot.lot for lot in months], last, LOT_TARGETS),
        establishments=tuple((name, combine(parts, last, SITE_TARGETS)) for name, parts in per.items()),
        months=tuple(lot.lot for lot in months))
