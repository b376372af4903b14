"""The beneficiary's charging usage report, the pure core (issue 15 §2; no database: rows and ``now`` in).

CCTP CPAM 5-5-4 « Services pour le gestionnaire de la CPAM »: « Identification du badge ayant servi à déclencher
la recharge » and « Statistiques d'utilisation des points de charge et des prises pour chaque borne : […] usages
(durée, horaires, puissances demandées, type de prise utilisée) »; article 7 « Reporting »: « Le Titulaire doit
prévoir la production et l'exploitation des données relatives à l'utilisation des IRVE. Il doit mettre en place un
système de reporting, auquel la CPAM a accès via portail internet exclusif. »

Over a period ``[start, end)`` (instants; the days are the tenant's), from the sessions started in it
(``csms.services.usage_sessions``):

* **connected time**: ``stopped_at - started_at`` (a session still running counts up to ``now``);
* **charging time**: the part of it during which the charge point reported « Charging »
  (``csms.services.status_changes``); ``None`` when the point reported no status in the session;
* **hours of use**: the connected time cut at the period's end (and at ``now``);
* **energy**: ``meter_stop - meter_start`` (kWh), for the sessions that have both;
* per charge point (with its power and socket types), per badge and per agent (the badge's holder);
* the **occupancy heat map**: the connected time of every session spread over the hours of the tenant's zone, by
  weekday × hour of day; a cell's rate is its occupied time over the time the charge points had in that cell
  (``points`` × the number of such hours in the period);
* per station, the uptime and communication cuts (``csms.services.station_communication``).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "MAX_DAYS",
    "WEEKDAYS",
    "Group",
    "HeatMap",
    "Period",
    "UsageReport",
    "build_report",
    "charging_intervals",
    "duration_label",
    "month_period",
    "parse_period",
    "year_period",
]

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
#: The longest period a report covers (a leap year).
MAX_DAYS = 366
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


@dataclass(frozen=True)
class Period:
    """Local days ``first``–``last`` (both included) of ``zone``, and the instants they span."""

    first: dt.date
    last: dt.date
    zone: str
    label: str

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time.min, ZoneInfo(self.zone)).astimezone(dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time.min, ZoneInfo(self.zone)).astimezone(dt.UTC)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def month_period(year: int, month: int, zone: str) -> Period:
    first = dt.date(year, month, 1)
    last = (dt.date(year + month // 12, month % 12 + 1, 1)) - dt.timedelta(days=1)
    return Period(first, last, zone, f"{MONTHS[month - 1]} {year}")


def year_period(year: int, zone: str) -> Period:
    return Period(dt.date(year, 1, 1), dt.date(year, 12, 31), zone, f"année {year}")


def _day(raw: str, key: str, errors: dict[str, str]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        errors[key] = "Date attendue au format AAAA-MM-JJ (par exemple 2026-11-01)."
        return None


def parse_period(values: dict[str, str], zone: str, now: dt.datetime) -> tuple[Period, dict[str, str]]:
    """The period asked for: ``mois`` (AAAA-MM), else ``annee`` (AAAA), else ``du``/``au`` (days, both included);
    nothing: the current month. Bad input gets its French error by field, and the current month."""
    today = now.astimezone(ZoneInfo(zone)).date()
    current = month_period(today.year, today.month, zone)
    errors: dict[str, str] = {}
    month, year = (values.get("mois") or "").strip(), (values.get("annee") or "").strip()
    du, au = (values.get("du") or "").strip(), (values.get("au") or "").strip()
    if month:
        try:
            y, m = (int(part) for part in month.split("-"))
            if not (1 <= m <= 12 and 2000 <= y <= 2999):
                raise ValueError
        except ValueError:
            errors["mois"] = "Mois attendu au format AAAA-MM (par exemple 2026-11)."
            return current, errors
        return month_period(y, m, zone), errors
    if year:
        if not (year.isdigit() and 2000 <= int(year) <= 2999):
            errors["annee"] = "Année attendue sur quatre chiffres (par exemple 2026)."
            return current, errors
        return year_period(int(year), zone), errors
    if not du and not au:
        return current, errors
    first = _day(du, "du", errors) if du else None
    last = _day(au, "au", errors) if au else None
    if not du:
        errors["du"] = "Indiquez la date de début."
    if not au:
        errors["au"] = "Indiquez la date de fin."
    if errors:
        return current, errors
    assert first is not None and last is not None
    if first > last:
        errors["au"] = "La date de fin précède la date de début."
    elif (last - first).days + 1 > MAX_DAYS:
        errors["au"] = f"La période ne peut dépasser {MAX_DAYS} jours."
    if errors:
        return current, errors
    return Period(first, last, zone, f"du {first:%d/%m/%Y} au {last:%d/%m/%Y}"), errors


# --------------------------------------------------------------------------- charging time


def charging_intervals(changes: Iterable[tuple[Any, int, str, dt.datetime]],
                       ) -> dict[tuple[Any, int], tuple[list[dt.datetime], list[dt.datetime], list[dt.datetime]]]:
    """Per (charger, connector), from its status changes in time order: the « Charging » intervals (starts, ends)
    and every report time (to know whether the point said anything during a session)."""
    out: dict[tuple[Any, int], tuple[list[dt.datetime], list[dt.datetime], list[dt.datetime]]] = {}
    open_at: dict[tuple[Any, int], dt.datetime] = {}
    for charger_id, connector_id, status, at in changes:
        key = (charger_id, connector_id)
        starts, ends, seen = out.setdefault(key, ([], [], []))
        seen.append(at)
        if key in open_at and status != "Charging":
            starts.append(open_at.pop(key))
            ends.append(at)
        elif status == "Charging" and key not in open_at:
            open_at[key] = at
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    for key, at in open_at.items():
        out[key][0].append(at)
        out[key][1].append(far)
    return out


def _charging_seconds(intervals: tuple[list[dt.datetime], list[dt.datetime], list[dt.datetime]] | None,
                      begin: dt.datetime, stop: dt.datetime) -> float | None:
    if intervals is None:
        return None
    starts, ends, seen = intervals
    # The point said nothing from the session's start to its end: the time is not known.
    if bisect.bisect_left(seen, begin) == bisect.bisect_right(seen, stop):
        return None
    total = 0.0
    for i in range(max(0, bisect.bisect_right(starts, begin) - 1), len(starts)):
        if starts[i] >= stop:
            break
        a, b = max(starts[i], begin), min(ends[i], stop)
        if b > a:
            total += (b - a).total_seconds()
    return total


# --------------------------------------------------------------------------- the report


@dataclass
class Group:
    """Totals of one charge point, badge or agent."""

    key: str
    label: str
    detail: str = ""
    power_kw: float | None = None
    socket_types: str = ""
    sessions: int = 0
    energy_wh: int = 0
    connected_seconds: float = 0.0
    charging_seconds: float = 0.0
    #: Sessions whose charging time is known (the point reported its status during them).
    charging_known: int = 0
    used_seconds: float = 0.0

    @property
    def energy_kwh(self) -> float:
        return round(self.energy_wh / 1000, 3)

    @property
    def mean_seconds(self) -> float | None:
        return self.connected_seconds / self.sessions if self.sessions else None

    def add(self, energy_wh: int | None, connected: float, charging: float | None, used: float) -> None:
        self.sessions += 1
        self.energy_wh += energy_wh or 0
        self.connected_seconds += connected
        self.used_seconds += used
        if charging is not None:
            self.charging_seconds += charging
            self.charging_known += 1


@dataclass
class HeatMap:
    """Occupied seconds by (weekday 0 = lundi, local hour) and the charge points' available seconds there."""

    occupied: list[list[float]] = field(default_factory=lambda: [[0.0] * 24 for _ in range(7)])
    hours: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    points: int = 0
    #: Sessions started in each cell (« horaires »).
    starts: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])

    def rate(self, day: int, hour: int) -> float | None:
        available = self.hours[day][hour] * 3600 * self.points
        return self.occupied[day][hour] / available if available else None

    def cells(self) -> list[list[dict[str, Any]]]:
        """Each cell's occupied hours, rate (0–1) and shade (0–5), row by weekday."""
        out = []
        for d in range(7):
            row = []
            for h in range(24):
                rate = self.rate(d, h)
                shade = 0 if not rate else min(5, 1 + int(rate * 5))
                row.append({"hours": round(self.occupied[d][h] / 3600, 2), "rate": rate, "shade": shade,
                            "starts": self.starts[d][h]})
            out.append(row)
        return out


@dataclass
class UsageReport:
    period: Period
    now: dt.datetime
    totals: Group
    points: list[Group]
    badges: list[Group]
    agents: list[Group]
    heat: HeatMap
    stations: list[Any]
    #: The sessions read, as dictionaries (the CSV and the « Recharges » sheet).
    sessions: list[dict[str, Any]]
    #: Month by month (« AAAA-MM » of the tenant's zone, every month of the period, by the sessions' start): the
    #: yearly view; ``used_seconds`` of a month is its sessions' connected time cut at the period's end.
    months: list[Group] = field(default_factory=list)

    def month_occupancy(self, month: Group) -> float | None:
        """A month's hours of use over its time × the charge points (its days within the period, up to ``now``)."""
        y, m = (int(x) for x in month.key.split("-"))
        first = max(dt.date(y, m, 1), self.period.first)
        last = min(dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1), self.period.last)
        span = Period(first, last, self.period.zone, "")
        seconds = max(0.0, (min(span.end, self.now) - span.start).total_seconds()) * len(self.points)
        return month.used_seconds / seconds if seconds else None

    @property
    def occupancy(self) -> float | None:
        available = self.period_seconds * len(self.points)
        return self.totals.used_seconds / available if available else None

    @property
    def period_seconds(self) -> float:
        return max(0.0, (min(self.period.end, self.now) - self.period.start).total_seconds())


def _local_hours(begin: dt.datetime, stop: dt.datetime, zone: ZoneInfo) -> Iterable[tuple[int, int, float]]:
    """(weekday, local hour, seconds) of ``[begin, stop)`` cut at the local hour boundaries (a DST change too)."""
    cursor = begin
    while cursor < stop:
        local = cursor.astimezone(zone)
        # The next local hour boundary, in UTC: minutes and seconds to the hour's end in any zone whose offset is a
        # whole number of minutes.
        nxt = cursor + dt.timedelta(minutes=60 - local.minute, seconds=-local.second, microseconds=-local.microsecond)
        piece = min(nxt, stop)
        yield local.weekday(), local.hour, (piece - cursor).total_seconds()
        cursor = piece


def _hours_in_period(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> list[list[int]]:
    counts = [[0] * 24 for _ in range(7)]
    for day, hour, seconds in _local_hours(start, end, zone):
        if seconds >= 1800:  # a whole hour (or the longer half of one cut by the period's bounds)
            counts[day][hour] += 1
    return counts


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d}"


def build_report(period: Period, sessions: Iterable[Any], changes: Iterable[tuple[Any, int, str, dt.datetime]],
                 points: Iterable[Any], stations: Iterable[Any], *, now: dt.datetime) -> UsageReport:
    """The report from the rows (``UsageSession``-like sessions by start, status changes by charger, connector and
    time, the charge points with ``canonical_id``, ``charge_box_id``, ``station_name``, ``power_kw``,
    ``socket_types``, and the stations' links)."""
    zone = ZoneInfo(period.zone)
    start, end = period.start, period.end
    cut = min(end, now)
    intervals = charging_intervals(changes)
    by_point: dict[str, Group] = {}
    for p in points:
        by_point[p.canonical_id] = Group(p.canonical_id, p.canonical_id, f"{p.station_name} — {p.charge_box_id}",
                                         p.power_kw, p.socket_types)
    totals = Group("total", "Total")
    badges: dict[str, Group] = {}
    agents: dict[str, Group] = {}
    heat = HeatMap(hours=_hours_in_period(start, end, zone), points=len(by_point))
    months: dict[str, Group] = {}
    cursor = period.first.replace(day=1)
    while cursor <= period.last:
        key = f"{cursor:%Y-%m}"
        months[key] = Group(key, f"{MONTHS[cursor.month - 1]} {cursor.year}")
        cursor = dt.date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
    rows: list[dict[str, Any]] = []
    for s in sessions:
        stop = s.stopped_at or now
        connected = max(0.0, (stop - s.started_at).total_seconds())
        used = max(0.0, (min(stop, cut) - s.started_at).total_seconds())
        charging = _charging_seconds(intervals.get((s.charger_id, s.connector_id)), s.started_at, stop)
        if charging is not None:
            charging = min(charging, connected)
        point = by_point.get(s.point_id)
        if point is None:  # a point retired before the period's list was read: still its sessions
            point = by_point[s.point_id or "?"] = Group(s.point_id or "?", s.point_id or "(point inconnu)",
                                                        f"{s.station_name} — {s.charge_box_id}", s.power_kw,
                                                        s.socket_types)
        for group in (totals, point):
            group.add(s.energy_wh, connected, charging, used)
        tag = s.id_tag or "(sans badge)"
        badge = badges.setdefault(tag, Group(tag, tag, s.holder_label))
        badge.add(s.energy_wh, connected, charging, used)
        if s.user_id is not None:
            agent = agents.setdefault(str(s.user_id), Group(str(s.user_id), s.holder_label or tag))
            agent.add(s.energy_wh, connected, charging, used)
        local = s.started_at.astimezone(zone)
        month = months.get(f"{local:%Y-%m}")
        if month is not None:
            month.add(s.energy_wh, connected, charging, used)
        heat.starts[local.weekday()][local.hour] += 1
        for day, hour, seconds in _local_hours(s.started_at, min(stop, cut), zone):
            heat.occupied[day][hour] += seconds
        rows.append({"id": s.id, "started_at": s.started_at, "stopped_at": s.stopped_at, "status": s.status,
                     "station": s.station_name, "charge_box_id": s.charge_box_id, "point": s.point_id,
                     "power_kw": s.power_kw, "socket_types": s.socket_types, "id_tag": s.id_tag,
                     "holder": s.holder_label, "energy_kwh": None if s.energy_wh is None else s.energy_wh / 1000,
                     "connected_seconds": connected, "charging_seconds": charging})
    return UsageReport(period, now, totals, sorted(by_point.values(), key=lambda g: g.key),
                       sorted(badges.values(), key=lambda g: (-g.sessions, g.key)),
                       sorted(agents.values(), key=lambda g: (-g.sessions, g.label)), heat, list(stations), rows,
                       list(months.values()))


def duration_label(seconds: float | None) -> str:
    """« 3 h 05 » (empty when unknown)."""
    return "" if seconds is None else _minutes(seconds)
