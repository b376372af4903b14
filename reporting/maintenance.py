"""The beneficiary's yearly maintenance report, the pure core (CCTP CPAM 5-4-8; no database: facts and ``now`` in).

CPAM 5-4-8 « Information à la CPAM »: « un compte-rendu des actions du Titulaire, des types de défaut, et autres
incidents pour l'année écoulée est inclus dans un rapport annuel. Ce compte-rendu inclut un rapport d'analyse, des
préconisations et des améliorations pour l'année à venir. »

From ``incidents.services.maintenance_facts`` over the year (days of the tenant's zone):

* **actions**: the preventive ones — the monthly remote checks (5-4-2-1, one report per charge point and month) and
  the yearly on-site visits (5-4-2-2) — and the curative interventions on tickets (5-4-3), remote or on site; an
  action recorded more than two working days after it was done is counted late (5-4-8 « dans un délai de deux
  jours ouvrés »);
* **defect types**: each remote check in defect (by check), each visit item in defect (by item), each ticket by its
  level of 5-4-4 (« Niveau 2 — défaut affectant un ou plusieurs IRVE… »);
* **incidents**: the tickets reported or closed in the year, each contractual delay (intervention 5-4-4,
  restoration 5-4-5) **met** (reached by its due date), **missed** (reached late, or not reached and past due),
  **running** (not due yet) or none; a ticket is on time when none is missed and its stored breach flag is off;
* the same per station (charge box), and for the year.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DELAY_LABELS", "IncidentLine", "MaintenanceYear", "StationYear", "build_maintenance_year", "delay_state"]

MET, MISSED, RUNNING = "met", "missed", "running"
DELAY_LABELS = {MET: "respecté", MISSED: "dépassé", RUNNING: "en cours", None: "—"}
ORIGINS = {"alert": "alerte de supervision", "maintenance": "contrôle à distance", "visit": "visite sur site",
           "report": "signalement"}
NO_STATION = "(sans borne)"


def delay_state(due: dt.datetime | None, reached: dt.datetime | None, now: dt.datetime) -> str | None:
    """A contractual delay's verdict: ``met``, ``missed``, ``running`` or None (the level has none)."""
    if due is None:
        return None
    if reached is not None:
        return MET if reached <= due else MISSED
    return MISSED if now > due else RUNNING


@dataclass
class StationYear:
    """One station's (or the year's) counts."""

    key: str
    remote_checks: int = 0
    remote_defects: int = 0
    visits: int = 0
    visit_defects: int = 0
    remote_interventions: int = 0
    onsite_interventions: int = 0
    late_records: int = 0
    incidents: int = 0
    closed: int = 0
    on_time: int = 0
    missed: int = 0

    @property
    def preventive(self) -> int:
        return self.remote_checks + self.visits

    @property
    def curative(self) -> int:
        return self.remote_interventions + self.onsite_interventions

    @property
    def on_time_rate(self) -> float | None:
        decided = self.on_time + self.missed
        return self.on_time / decided if decided else None


@dataclass(frozen=True)
class IncidentLine:
    fact: Any
    intervention: str | None
    restoration: str | None

    @property
    def on_time(self) -> bool | None:
        """True: every delay met (nothing breached); False: one missed; None: still running."""
        if MISSED in (self.intervention, self.restoration) or self.fact.breached:
            return False
        if RUNNING in (self.intervention, self.restoration):
            return None
        return True

    @property
    def origin_label(self) -> str:
        return ORIGINS.get(self.fact.origin, self.fact.origin)


@dataclass
class MaintenanceYear:
    year: int
    zone: str
    now: dt.datetime
    totals: StationYear
    stations: list[StationYear]
    #: (source, type, count), the most frequent first.
    defect_types: list[tuple[str, str, int]]
    incidents: list[IncidentLine]
    interventions: list[Any]
    visits: list[Any]
    remote_defects: list[Any]
    review: dict[str, Any] = field(default_factory=dict)


def build_maintenance_year(year: int, zone: str, facts: Any, stations: Iterable[str], *,
                           now: dt.datetime) -> MaintenanceYear:
    """The report from ``MaintenanceFacts``-like facts and the tenant's charge box ids (every station has its line,
    with or without actions)."""
    by_station: dict[str, StationYear] = {key: StationYear(key) for key in sorted(set(stations))}
    totals = StationYear("Total")

    def rows(key: str | None) -> tuple[StationYear, StationYear]:
        key = key or NO_STATION
        return totals, by_station.setdefault(key, StationYear(key))

    types: Counter[tuple[str, str]] = Counter()
    for check in facts.remote_checks:
        for row in rows(check.charge_box_id):
            row.remote_checks += 1
            row.remote_defects += check.status == "defect"
        types.update(("Contrôle à distance (5-4-2-1)", label) for label in check.defects)
    for visit in facts.visits:
        for row in rows(visit.charge_box_id):
            row.visits += 1
            row.visit_defects += bool(visit.defects)
            row.late_records += visit.record_late
        types.update(("Visite sur site (5-4-2-2)", label) for label, _ in visit.defects)
    for i in facts.interventions:
        for row in rows(i.charge_box_id):
            if i.mode == "on_site":
                row.onsite_interventions += 1
            else:
                row.remote_interventions += 1
            row.late_records += i.record_late
    incidents = []
    for t in facts.tickets:
        line = IncidentLine(t, delay_state(t.intervention_due_at, t.intervention_reached_at, now),
                            delay_state(t.restoration_due_at, t.resolved_at, now))
        incidents.append(line)
        types[("Incident (niveau 5-4-4)", t.level_label)] += 1
        for row in rows(t.charge_box_id):
            row.incidents += 1
            row.closed += t.closed_at is not None
            row.on_time += line.on_time is True
            row.missed += line.on_time is False
    ordered = sorted(by_station.values(), key=lambda s: (s.key == NO_STATION, s.key))
    return MaintenanceYear(
        year=year, zone=zone, now=now, totals=totals,
        stations=[s for s in ordered if s.key != NO_STATION or s.preventive or s.curative or s.incidents],
        defect_types=sorted(((src, label, n) for (src, label), n in types.items()), key=lambda x: (-x[2], x[0], x[1])),
        incidents=incidents, interventions=list(facts.interventions), visits=list(facts.visits),
        remote_defects=[c for c in facts.remote_checks if c.status == "defect"])
