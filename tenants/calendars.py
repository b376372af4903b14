"""Business-time calendars: opening windows, public holidays, closures, day counts.

Every deadline of the tenders is counted in one of these calendars: the GTI / GTR of
CAIH (2.1.21, 2.1.22) and CANUT (6.6) in "heures ouvrées" (Mon-Fri 8-18 without public
holidays) or 24/7 (holidays included), the CPAM IRVE delays (5-4-4, 5-4-5) in
"heures ouvrées" of 8-17, and the works delays in "jours ouvrés", "jours ouvrables"
or "jours calendaires" (CPAM 5-1-4, 5-2, 5-3-1; CANUT 6.6).

How time is counted (the invariants the tests check against a minute-by-minute walk):

- A window is a range of local wall-clock times on a local date, e.g. 08:00-18:00 on
  a Monday. Each window of each date is turned once into a UTC interval; all counting
  is then done on UTC instants, so the 23- and 25-hour days of daylight-saving changes
  count the hours that really elapse (aware-datetime arithmetic in one zone is
  wall-clock arithmetic and would not).
- A window boundary that falls in a skipped hour (spring forward) is the first instant
  the clock shows that time or later, i.e. the transition; one that falls in a repeated
  hour (fall back) is its first occurrence.
- Open intervals are half-open: 18:00 is closed in an 8-18 window. Adding a duration
  returns the earliest instant at which that much open time has elapsed (so 1 hour from
  17:00 is 18:00 the same day, not 08:00 the next); adding zero to a closed instant
  returns the next opening ("an instant inside a closed period starts counting at the
  next opening").
- Instants are handled internally as integer microseconds since the Unix epoch, and
  the open intervals of each local year are precomputed once (per calendar rules,
  shared by equal calendars) with cumulative open time, so an operation is a bisect.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tenants.territories import TERRITORIES, get_territory

if TYPE_CHECKING:
    import holidays

__all__ = [
    "DAY_KINDS",
    "PRESETS",
    "WEEKDAYS",
    "BusinessCalendar",
    "from_us",
    "territory_holidays",
    "to_us",
]

DAY_KINDS = ("ouvres", "ouvrables", "calendaires")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Jours ouvrés: Monday to Friday; jours ouvrables: Monday to Saturday (weekday() < n).
_COUNTED_WEEKDAYS = {"ouvres": 5, "ouvrables": 6, "calendaires": 7}

Window = tuple[int, int]  # minutes since local midnight, start < end <= 1440
WeekWindows = tuple[tuple[Window, ...], ...]  # 7 entries, Monday first

_DAY = 1440
_HO_8_18: tuple[Window, ...] = ((8 * 60, 18 * 60),)
_HO_8_17: tuple[Window, ...] = ((8 * 60, 17 * 60),)
_FULL: tuple[Window, ...] = ((0, _DAY),)

# Named presets: (windows, open on public holidays).
PRESETS: dict[str, tuple[WeekWindows, bool]] = {
    # CCTP CAIH 2.1.21 and CCTP CANUT 6.6: "Heures Ouvrées (HO) : du lundi au vendredi de
    # 8h00 à 18h00 hors jours fériés".
    "ho-8-18": ((_HO_8_18,) * 5 + ((), ()), False),
    # CCTP CPAM 5-4-4: "4 heures ouvrés (de 8 heures à 17 heures du lundi au vendredi)".
    "ho-8-17": ((_HO_8_17,) * 5 + ((), ()), False),
    # CCTP CAIH 2.1.21: "24/24 7/7 : du lundi au dimanche 24/24 y compris jours fériés".
    "24x7": ((_FULL,) * 7, True),
}

_US = 1_000_000
_US_PER_MIN = 60 * _US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_MIN_YEAR, _MAX_YEAR = 1971, 2199
_MAX_EMPTY_YEARS = 3  # a calendar with no open time for this long never opens


# --------------------------------------------------------------------------- instants


def to_us(instant: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact, unlike ``timestamp()``)."""
    try:
        return (instant - _EPOCH) // _ONE_US
    except TypeError:  # naive: "can't subtract offset-naive and offset-aware datetimes"
        raise ValueError(
            f"date sans fuseau horaire : {instant.isoformat()} (indiquer un décalage, ex. +01:00)"
        ) from None


def from_us(us: int, zone: ZoneInfo | None = None) -> datetime:
    """The aware datetime of ``us`` in ``zone`` (UTC by default)."""
    # int / int is correctly rounded: exact to the microsecond for any year we support.
    return datetime.fromtimestamp(us / _US, zone or UTC)


# --------------------------------------------------------------------------- holidays


@functools.lru_cache(maxsize=4096)
def _holiday_dates(subdiv: str | None, year: int) -> frozenset[date]:
    import holidays  # here: its calendars cost 17 MB of peak memory to a process that never asks (a report job)

    return frozenset(holidays.France(subdiv=subdiv, years=year).keys())


def territory_holidays(code: str, years: int | Iterable[int]) -> holidays.HolidayBase:
    """The ``holidays`` object of a territory (France with the territory's subdivision)."""
    import holidays

    territory = get_territory(code)
    return holidays.France(subdiv=territory.holidays_subdiv, years=years)


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _wall_to_us(zone: ZoneInfo, day: date, offset_us: int) -> int:
    """First instant at which the wall clock of ``day`` shows ``offset_us`` after midnight.

    ``offset_us`` may be a full day (24:00 is the next day's midnight). A time in a
    skipped hour maps to the transition; a repeated time to its first occurrence.
    """
    naive = datetime(day.year, day.month, day.day) + timedelta(microseconds=offset_us)
    guess = to_us(naive.replace(tzinfo=zone))  # fold=0: earlier offset
    if datetime.fromtimestamp(guess / _US, zone).replace(tzinfo=None) == naive:
        return guess
    # In a gap: the transition is the first second whose wall time is >= naive
    # (transitions fall on whole seconds; wall(lo) is a day earlier, wall(hi) past it).
    lo, hi = guess // _US - 86_400, guess // _US
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi * _US


# --------------------------------------------------------------------------- engine


class _Year:
    """Open intervals of one local calendar year, in UTC microseconds."""

    __slots__ = ("year", "start", "end", "opens", "closes", "cum", "cum_end", "total")

    def __init__(self, year: int, start: int, end: int, intervals: list[tuple[int, int]]) -> None:
        self.year, self.start, self.end = year, start, end
        self.opens: list[int] = []
        self.closes: list[int] = []
        for a, b in intervals:
            if b <= a:
                continue
            if self.closes and a <= self.closes[-1]:  # touching or overlapping: merge
                self.closes[-1] = max(self.closes[-1], b)
            else:
                self.opens.append(a)
                self.closes.append(b)
        self.cum: list[int] = []  # open time before each interval
        self.cum_end: list[int] = []  # open time up to the end of each interval
        total = 0
        for a, b in zip(self.opens, self.closes, strict=True):
            self.cum.append(total)
            total += b - a
            self.cum_end.append(total)
        self.total = total

    def elapsed(self, t: int) -> int:
        """Open time between the start of the year and ``t`` (start <= t <= end)."""
        k = bisect_right(self.opens, t) - 1
        if k < 0:
            return 0
        close = self.closes[k]
        if t < close:
            return self.cum[k] + t - self.opens[k]
        return self.cum_end[k]


class _Engine:
    """The precomputed open intervals of a set of calendar rules, built a year at a time."""

    def __init__(self, zone: ZoneInfo, windows: WeekWindows, closed_days: frozenset[date],
                 subdiv: str | None, open_on_holidays: bool) -> None:
        self.zone = zone
        self.windows = windows
        self.closed_days = closed_days
        self.subdiv = subdiv
        self.open_on_holidays = open_on_holidays
        self.years: dict[int, _Year] = {}
        self.last: _Year | None = None
        self.always_open = (
            open_on_holidays and not closed_days and all(w == _FULL for w in windows)
        )

    def is_closed_day(self, day: date) -> bool:
        if day in self.closed_days:
            return True
        return not self.open_on_holidays and day in _holiday_dates(self.subdiv, day.year)

    def year(self, y: int) -> _Year:
        found = self.years.get(y)
        if found is not None:
            return found
        if not _MIN_YEAR <= y <= _MAX_YEAR:
            raise ValueError(f"date hors de la plage prise en charge ({_MIN_YEAR}-{_MAX_YEAR})")
        zone, windows = self.zone, self.windows
        intervals: list[tuple[int, int]] = []
        day = date(y, 1, 1)
        one = timedelta(days=1)
        while day.year == y:
            todays = windows[day.weekday()]
            if todays and not self.is_closed_day(day):
                for s, e in todays:
                    intervals.append((_wall_to_us(zone, day, s * _US_PER_MIN), _wall_to_us(zone, day, e * _US_PER_MIN)))
            day += one
        built = _Year(y, _wall_to_us(zone, date(y, 1, 1), 0), _wall_to_us(zone, date(y + 1, 1, 1), 0), intervals)
        self.years[y] = built
        return built

    def locate(self, t: int) -> _Year:
        last = self.last
        if last is not None and last.start <= t < last.end:
            return last
        y = datetime.fromtimestamp(t / _US, self.zone).year
        found = self.year(y)
        # Year tables start at local midnight, so the local year is the right one;
        # the neighbours are checked in case a zone changes offset at midnight.
        if t < found.start:
            found = self.year(y - 1)
        elif t >= found.end:
            found = self.year(y + 1)
        self.last = found
        return found

    # All operations below take and return microseconds since the epoch.

    def is_open(self, t: int) -> bool:
        if self.always_open:
            return True
        yr = self.locate(t)
        k = bisect_right(yr.opens, t) - 1
        return k >= 0 and t < yr.closes[k]

    def next_opening(self, t: int) -> int:
        if self.always_open:
            return t
        yr = self.locate(t)
        k = bisect_right(yr.opens, t) - 1
        if k >= 0 and t < yr.closes[k]:
            return t
        for _ in range(_MAX_EMPTY_YEARS + 1):
            if k + 1 < len(yr.opens):
                return yr.opens[k + 1]
            yr = self.year(yr.year + 1)
            k = -1
        raise ValueError("le calendrier n'a aucune plage ouverte")

    def add(self, t: int, d: int) -> int:
        if self.always_open:
            return t + d
        if d <= 0:
            return self.next_opening(t)
        yr = self.locate(t)
        target = yr.elapsed(t) + d
        empty = 0
        while target > yr.total:
            target -= yr.total
            empty = empty + 1 if yr.total == 0 else 0
            if empty > _MAX_EMPTY_YEARS:
                raise ValueError("le calendrier n'a aucune plage ouverte")
            yr = self.year(yr.year + 1)
        j = bisect_left(yr.cum_end, target)
        return yr.opens[j] + target - yr.cum[j]

    def between(self, a: int, b: int) -> int:
        if self.always_open:
            return b - a
        if b < a:
            return -self.between(b, a)
        ya = self.locate(a)
        if b < ya.end:
            return ya.elapsed(b) - ya.elapsed(a)
        yb = self.locate(b)
        total = ya.total - ya.elapsed(a) + yb.elapsed(b)
        for y in range(ya.year + 1, yb.year):
            total += self.year(y).total
        return total


_ENGINES: dict[tuple[Any, ...], _Engine] = {}
_MAX_ENGINES = 512


def _engine_for(key: tuple[Any, ...], factory: Any) -> _Engine:
    engine = _ENGINES.get(key)
    if engine is None:
        if len(_ENGINES) >= _MAX_ENGINES:
            _ENGINES.pop(next(iter(_ENGINES)))
        engine = _ENGINES[key] = factory()
    return engine


# --------------------------------------------------------------------------- windows


_HHMM = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def _fmt_minutes(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


def parse_window(text: str) -> Window:
    """``"08:00-12:30"`` → ``(480, 750)``; ``24:00`` is allowed as an end."""
    found = _HHMM.match(text.strip())
    if not found:
        raise ValueError(f"plage horaire invalide : {text!r} (attendu HH:MM-HH:MM)")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if m1 > 59 or m2 > 59 or h1 > 23 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"plage horaire invalide : {text!r}")
    return h1 * 60 + m1, h2 * 60 + m2


def _normalise_windows(windows: Sequence[Sequence[Sequence[int]]]) -> WeekWindows:
    if len(windows) != 7:
        raise ValueError("il faut les plages horaires des 7 jours de la semaine (lundi d'abord)")
    week: list[tuple[Window, ...]] = []
    for day_name, day in zip(WEEKDAYS, windows, strict=True):
        try:
            ranges = sorted((int(s), int(e)) for s, e in day)
        except (TypeError, ValueError):
            raise ValueError(f"plages horaires mal formées le {day_name} : {day!r}") from None
        for s, e in ranges:
            if not 0 <= s < e <= _DAY:
                raise ValueError(f"plage horaire invalide le {day_name} : {_fmt_minutes(s)}-{_fmt_minutes(e)}")
        for (_, e1), (s2, _) in zip(ranges, ranges[1:], strict=False):
            if s2 < e1:
                raise ValueError(f"plages horaires qui se chevauchent le {day_name}")
        week.append(tuple(ranges))
    return tuple(week)


# --------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class BusinessCalendar:
    """Where and when business time runs for one tenant (or one contract window).

    ``territory`` gives the time zone and the public holidays; ``windows`` the open
    ranges of each weekday (Monday first, minutes since local midnight);
    ``open_on_holidays`` whether public holidays count (CAIH 2.1.21: 24/7 includes
    them); ``closures`` the tenant's own closure days.
    """

    territory: str
    windows: WeekWindows
    open_on_holidays: bool = False
    closures: frozenset[date] = frozenset()
    name: str = "personnalise"
    _engine: _Engine = field(init=False, repr=False, compare=False, hash=False)
    _derived: dict[str, BusinessCalendar] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        try:
            territory = get_territory(self.territory)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        windows = _normalise_windows(self.windows)
        closures = frozenset(self.closures)
        object.__setattr__(self, "windows", windows)
        object.__setattr__(self, "closures", closures)
        object.__setattr__(self, "open_on_holidays", bool(self.open_on_holidays))
        if not any(windows):
            raise ValueError("le calendrier n'a aucune plage horaire")
        zone = _zone(territory.timezone)
        key = (territory.timezone, territory.holidays_subdiv, windows, self.open_on_holidays, closures)
        object.__setattr__(self, "_engine", _engine_for(
            key, lambda: _Engine(zone, windows, closures, territory.holidays_subdiv, self.open_on_holidays)
        ))
        object.__setattr__(self, "_derived", {})

    # ---- construction

    @classmethod
    def preset(cls, territory: str, name: str, *, closures: Iterable[date] = ()) -> BusinessCalendar:
        """A named contract window: ``ho-8-18``, ``ho-8-17`` or ``24x7``."""
        try:
            windows, open_on_holidays = PRESETS[name]
        except KeyError:
            raise ValueError(f"calendrier inconnu : {name!r} (attendu : {', '.join(PRESETS)})") from None
        return cls(territory, windows, open_on_holidays, frozenset(closures), name)

    def derive(self, name: str) -> BusinessCalendar:
        """This tenant's calendar with another window: a preset name, or ``business`` for itself.

        The territory is kept; the closure days too, except for ``24x7`` (a 24/7
        service runs on every day, CAIH 2.1.21).
        """
        if name == "business":
            return self
        found = self._derived.get(name)
        if found is None:
            found = BusinessCalendar.preset(self.territory, name, closures=() if name == "24x7" else self.closures)
            self._derived[name] = found
        return found

    def day_calendar(self, kind: str) -> BusinessCalendar:
        """Whole days of a kind as open time: counts day-based delays through pauses."""
        _check_kind(kind)
        name = f"jours-{kind}"
        found = self._derived.get(name)
        if found is None:
            if kind == "calendaires":
                found = BusinessCalendar(self.territory, (_FULL,) * 7, True, frozenset(), name)
            else:
                days = _COUNTED_WEEKDAYS[kind]
                found = BusinessCalendar(self.territory, (_FULL,) * days + ((),) * (7 - days), False,
                                         self.closures, name)
            self._derived[name] = found
        return found

    # ---- introspection

    @property
    def zone(self) -> ZoneInfo:
        return self._engine.zone

    @property
    def label(self) -> str:
        return TERRITORIES[self.territory].label

    def is_holiday(self, day: date) -> bool:
        return day in _holiday_dates(TERRITORIES[self.territory].holidays_subdiv, day.year)

    def is_day_of_kind(self, day: date, kind: str) -> bool:
        """Jours ouvrés: Mon-Fri; ouvrables: Mon-Sat; neither a public holiday nor a closure.
        Jours calendaires: every day."""
        if kind == "calendaires":
            return True
        limit = _COUNTED_WEEKDAYS[kind]
        return day.weekday() < limit and day not in self.closures and not self.is_holiday(day)

    # ---- business time

    def is_open(self, instant: datetime) -> bool:
        return self._engine.is_open(to_us(instant))

    def next_opening(self, instant: datetime) -> datetime:
        """``instant`` if open, else the start of the next open window."""
        return from_us(self._engine.next_opening(to_us(instant)), self._engine.zone)

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant at which ``duration`` of open time has elapsed since ``start``."""
        if duration < timedelta(0):
            raise ValueError("la durée doit être positive ou nulle")
        engine = self._engine
        return from_us(engine.add(to_us(start), duration // _ONE_US), engine.zone)

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Open time from ``start`` to ``end`` (negative if ``end`` is earlier)."""
        return timedelta(microseconds=self._engine.between(to_us(start), to_us(end)))

    def add_days(self, start: datetime, n: int, kind: str, *, end_of_day: bool = False) -> datetime:
        """``n`` days of a French kind after ``start``, in the territory's local time.

        From a start on a counted day, the deadline is the same wall-clock time on the
        n-th counted day after it (23- and 25-hour days keep the wall time). From a
        midnight or a day that does not count, counting starts with the next counted
        day and ends at the end of the n-th (midnight, the earliest instant after it).
        ``end_of_day`` always ends at the end of the last day (CCAG: a délai "expire à
        la fin du dernier jour").
        """
        _check_kind(kind)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError("le nombre de jours doit être un entier positif ou nul")
        zone = self._engine.zone
        local = start.astimezone(zone)
        day = local.date()
        time_of_day = (local.replace(tzinfo=None) - datetime(day.year, day.month, day.day)) // _ONE_US
        one = timedelta(days=1)
        if n == 0:
            if time_of_day and self.is_day_of_kind(day, kind):
                return local
            while not self.is_day_of_kind(day, kind):
                day += one
            return from_us(_wall_to_us(zone, day, 0), zone)
        if time_of_day and self.is_day_of_kind(day, kind):
            counted = 0
            while counted < n:
                day += one
                if self.is_day_of_kind(day, kind):
                    counted += 1
            if not end_of_day:
                return from_us(_wall_to_us(zone, day, time_of_day), zone)
        else:
            counted = 1 if self.is_day_of_kind(day, kind) else 0
            while counted < n:
                day += one
                if self.is_day_of_kind(day, kind):
                    counted += 1
        return from_us(_wall_to_us(zone, day + one, 0), zone)

    # ---- serialisation

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "territory": self.territory,
            "windows": {
                day: [f"{_fmt_minutes(s)}-{_fmt_minutes(e)}" for s, e in ranges]
                for day, ranges in zip(WEEKDAYS, self.windows, strict=True)
            },
            "open_on_holidays": self.open_on_holidays,
            "closures": sorted(d.isoformat() for d in self.closures),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BusinessCalendar:
        try:
            raw = data["windows"]
            windows = [[parse_window(w) for w in raw.get(day, ())] for day in WEEKDAYS]
            unknown = set(raw) - set(WEEKDAYS)
            if unknown:
                raise ValueError(f"jour inconnu : {', '.join(sorted(unknown))} (attendu : {', '.join(WEEKDAYS)})")
            closures = frozenset(date.fromisoformat(d) for d in data.get("closures", ()))
            return cls(
                str(data["territory"]),
                tuple(tuple(w) for w in windows),
                bool(data.get("open_on_holidays", False)),
                closures,
                str(data.get("name", "personnalise")),
            )
        except KeyError as exc:
            raise ValueError(f"champ manquant dans le calendrier : {exc.args[0]}") from None


def _check_kind(kind: str) -> None:
    if kind not in DAY_KINDS:
        raise ValueError(f"type de jours inconnu : {kind!r} (attendu : {', '.join(DAY_KINDS)})")
