"""The calendar of the coordinator's semester report, pure: no database, no current time (``now`` is a parameter).

CCTP CAIH 5 « TABLEAUX DE BORD ET REPORTING »: « Le reporting devra sera fourni au niveau du coordinateur du
marché tous les 6 mois avant le 31 janvier et le 31 juillet en portant sur le semestre de l'année en cours, et sur
la totalité depuis le début du marché », and « La non fourniture des éléments de reporting dans les délais
entrainera l'application systématique des pénalités prévues à cet effet ». CCTP CANUT 7 « Un reporting devra être
transmis à la CANUT tous les 6 mois ».

- A semester is a half of the civil year: H1 from 1 January to 30 June, H2 from 1 July to 31 December.
- Its report is due on 31 July of the same year (H1) and on 31 January of the next year (H2).
- **Our reading of « avant le 31 juillet »**: « au plus tard le 31 juillet », the day included, until the end of
  that day in the central's time zone (Europe/Paris for CAIH and CANUT): the report is late from 1 August at
  00:00 (1 February for H2). Read strictly (« avant » excluding the day), the last day would be the 30th;
  ``DUE_DAY_INCLUDED`` is that choice, in one place.
- A report counts as provided for a semester only when it was produced after the semester ended (a report made
  on 15 June does not cover the whole first half) and at the latest on the due day.
- « la totalité depuis le début du marché »: from the start of the agreement (the earliest start of the
  agreements the report covers; all orders when no start is recorded) to the end of the semester.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = [
    "DUE_DAY_INCLUDED",
    "PARIS",
    "STATE_LABELS",
    "Semester",
    "SemesterDue",
    "due_state",
    "is_late",
    "reports_to_show",
    "semester_of",
    "since_start",
]

#: « avant le 31 juillet » read as « au plus tard le 31 juillet » (see the module's docstring).
DUE_DAY_INCLUDED = True
PARIS = ZoneInfo("Europe/Paris")

#: The states of a semester's report, in French (the coordinator's and the operator's pages).
STATE_LABELS = {
    "open": "Semestre en cours",
    "due": "À fournir",
    "late": "En retard",
    "provided": "Fourni",
    "provided_late": "Fourni en retard",
}


@dataclass(frozen=True, order=True)
class Semester:
    """One half of a civil year: ``half`` 1 (January–June) or 2 (July–December)."""

    year: int
    half: int

    def __post_init__(self) -> None:
        if self.half not in (1, 2):
            raise ValueError(f"a semester is half 1 or 2, not {self.half!r}")
        if not 1900 <= self.year <= 9998:
            raise ValueError(f"year out of range: {self.year!r}")

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 1 if self.half == 1 else 7, 1)

    @property
    def end(self) -> dt.date:
        """Its last day (30 June or 31 December)."""
        return dt.date(self.year, 6, 30) if self.half == 1 else dt.date(self.year, 12, 31)

    @property
    def due_on(self) -> dt.date:
        """CAIH 5: the last day to provide its report, 31 July (H1) or 31 January of the next year (H2)."""
        last = dt.date(self.year, 7, 31) if self.half == 1 else dt.date(self.year + 1, 1, 31)
        return last if DUE_DAY_INCLUDED else last - dt.timedelta(days=1)

    def deadline(self, zone: ZoneInfo = PARIS) -> dt.datetime:
        """The instant the report becomes late: the midnight after ``due_on`` in ``zone`` (UTC-aware)."""
        after = self.due_on + dt.timedelta(days=1)
        return dt.datetime.combine(after, dt.time(), zone).astimezone(dt.UTC)

    def ended_at(self, zone: ZoneInfo = PARIS) -> dt.datetime:
        """The instant the semester is over: the midnight after its last day in ``zone`` (UTC-aware)."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def previous(self) -> Semester:
        return Semester(self.year, 1) if self.half == 2 else Semester(self.year - 1, 2)

    def next(self) -> Semester:
        return Semester(self.year, 2) if self.half == 1 else Semester(self.year + 1, 1)

    @property
    def label(self) -> str:
        """« 1er semestre 2026 », « 2e semestre 2026 »."""
        return f"{'1er' if self.half == 1 else '2e'} semestre {self.year}"

    @property
    def slug(self) -> str:
        """``2026-S1``: file names."""
        return f"{self.year}-S{self.half}"


def semester_of(day: dt.date) -> Semester:
    """The semester ``day`` falls in."""
    return Semester(day.year, 1 if day.month <= 6 else 2)


def since_start(semester: Semester, agreement_starts: list[dt.date | None]) -> tuple[dt.date | None, dt.date]:
    """CAIH 5 « la totalité depuis le début du marché »: from the earliest start of the agreements (``None``: no
    start recorded, every order counts) to the semester's last day. A start after the semester gives an empty
    range (start > end), never an error."""
    starts = [d for d in agreement_starts if d is not None]
    return (min(starts) if starts else None), semester.end


def is_late(semester: Semester, now: dt.datetime, provided_at: dt.datetime | None = None, *,
            zone: ZoneInfo = PARIS) -> bool:
    """CAIH 5 « La non fourniture des éléments de reporting dans les délais entrainera l'application systématique
    des pénalités »: late when the deadline has passed and no report was provided in time, or when the one
    provided came after the deadline. ``provided_at``: when the first report produced after the semester's end
    was ready (``None``: none yet)."""
    return due_state(semester, now, provided_at, zone=zone) in ("late", "provided_late")


def due_state(semester: Semester, now: dt.datetime, provided_at: dt.datetime | None = None, *,
              zone: ZoneInfo = PARIS) -> str:
    """``open`` (the semester is not over), ``due`` (over, deadline not passed, nothing provided), ``late``,
    ``provided`` (in time) or ``provided_late`` (``STATE_LABELS``). A report produced before the semester ended
    does not count: pass only one produced after ``ended_at``."""
    if provided_at is not None and provided_at < semester.ended_at(zone):
        provided_at = None
    if provided_at is not None:
        return "provided" if provided_at < semester.deadline(zone) else "provided_late"
    if now < semester.ended_at(zone):
        return "open"
    return "due" if now < semester.deadline(zone) else "late"


@dataclass(frozen=True)
class SemesterDue:
    """A semester's report as the coordinator's page shows it."""

    semester: Semester
    state: str
    provided_at: dt.datetime | None

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def late(self) -> bool:
        return self.state in ("late", "provided_late")


def reports_to_show(now: dt.datetime, provided: dict[Semester, dt.datetime], *,
                    zone: ZoneInfo = PARIS) -> list[SemesterDue]:
    """The current semester and the previous one (whose report is due, or was provided), with their state;
    ``provided``: per semester, when its first report produced after the semester's end was ready."""
    current = semester_of(now.astimezone(zone).date())
    return [SemesterDue(s, due_state(s, now, provided.get(s), zone=zone), provided.get(s))
            for s in (current, current.previous())]
