"""The committee report (« comité de suivi », CCP TGD IV.6), the pure core: facts, the period and ``now`` in.

IV.6: the titulaire provides « des tableaux renseignés par juridiction : un « reporting » retraçant pour chaque
terminal l'historique des événements traités et visant à pointer plus particulièrement les terminaux dont les tests
ne sont pas effectués dans les délais demandés et ceux pour lesquels une alerte a été déclenchée, cet état est
anonymisé ; […] un tableau de suivi des incidents rencontrés avec les réponses apportées à chacun des cas (et,
notamment, les délais de remplacement d'un terminal défectueux, ainsi que les causes de dysfonctionnement) ; un
tableau indiquant les taux d'utilisation des terminaux ».

One line per terminal of the tenant, of either kind it may have:

* an **alert terminal** (TGD line, ``assets.services.terminal_facts``): its tests are the user's test calls
  (annexe 2, II.2.2 « deux fois par mois »); a test is **late** when fifteen days passed after the assignment or the
  last test without one (the escalation of II.2.2) — each such lapse whose fifteenth day falls in the period counts
  once; its incidents are the faults and their exchange « dans un délai maximum de 24 heures » (annexe 2, I.4); its
  usage rate is the share of the period it was assigned to a user; the platform does not carry the users' alert
  calls (the téléassisteur's), so the alert column says « — »;
* a **charging station** (``csms``): its tests are the monthly remote checks and the yearly visit (CPAM 5-4-2),
  late when the visit plan says so; its alerts the supervision's (``csms.services.alerts_in_period``); its
  incidents the tickets with their delays (``reporting.maintenance.delay_state``); its usage rate the occupancy of
  its charge points over the period (``reporting.usage``).

Nothing about a person: the lines carry references, dates and counts (« cet état est anonymisé »).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reporting.maintenance import RUNNING, IncidentLine, delay_state
from reporting.usage import Period

__all__ = ["TEST_LAPSE", "CommitteeReport", "HistoryEvent", "TerminalLine", "build_committee", "late_tests"]

#: Annexe 2, II.2.2: « Si le téléassistant observe qu'au bout de quinze jours l'utilisateur n'a pas procédé auxdits
#: tests, il lui revient … ».
TEST_LAPSE = dt.timedelta(days=15)
ALERT_TERMINAL, STATION = "Terminal d'alerte", "Borne de recharge"


@dataclass(frozen=True)
class HistoryEvent:
    at: dt.datetime
    terminal: str
    kind: str
    detail: str


@dataclass
class TerminalLine:
    kind: str
    reference: str
    detail: str = ""
    interventions: int = 0
    tests: int = 0
    late_tests: int = 0
    #: None: the platform does not know this terminal's alerts.
    alerts: int | None = 0
    incidents: int = 0
    incidents_late: int = 0
    #: Hours from the report to the restoration (a station) or to the exchange (a terminal), of those done.
    delays_hours: list[float] = field(default_factory=list)
    usage_rate: float | None = None

    @property
    def flagged(self) -> bool:
        """IV.6 « pointer plus particulièrement les terminaux dont les tests ne sont pas effectués dans les délais
        demandés et ceux pour lesquels une alerte a été déclenchée »."""
        return self.late_tests > 0 or bool(self.alerts)

    @property
    def mean_delay_hours(self) -> float | None:
        return round(sum(self.delays_hours) / len(self.delays_hours), 2) if self.delays_hours else None


@dataclass
class CommitteeReport:
    period: Period
    now: dt.datetime
    terminals: list[TerminalLine]
    history: list[HistoryEvent]
    incidents: list[tuple[str, IncidentLine]]
    exchanges: list[tuple[str, Any]]

    @property
    def flagged(self) -> list[TerminalLine]:
        return [t for t in self.terminals if t.flagged]


def late_tests(assigned_at: dt.datetime, closed_at: dt.datetime | None, tests: Iterable[dt.datetime],
               start: dt.datetime, end: dt.datetime, now: dt.datetime) -> int:
    """The lapses of fifteen days without a test (from the assignment or the last test) whose fifteenth day falls in
    ``[start, min(end, now))`` while the terminal was assigned."""
    stop = min(end, now, closed_at) if closed_at else min(end, now)
    anchors = [assigned_at, *sorted(t for t in tests if t >= assigned_at)]
    count = 0
    for i, anchor in enumerate(anchors):
        due = anchor + TEST_LAPSE
        following = anchors[i + 1] if i + 1 < len(anchors) else None
        if (following is None or following > due) and start <= due < stop:
            count += 1
    return count


def _overlap(a: dt.datetime, b: dt.datetime, start: dt.datetime, end: dt.datetime) -> float:
    return max(0.0, (min(b, end) - max(a, start)).total_seconds())


def _local(moment: dt.datetime, zone: Any) -> str:
    return f"{moment.astimezone(zone):%d/%m/%Y %H:%M}"


def build_committee(period: Period, *, terminals: Iterable[Any], stations: Iterable[str], facts: Any,
                    alerts: Iterable[Any], late_visits: Mapping[str, int], usage: Any | None,
                    now: dt.datetime) -> CommitteeReport:
    """``terminals``: ``TerminalFacts``; ``stations``: the charge box ids; ``facts``: ``MaintenanceFacts`` of the
    period; ``alerts``: the supervision's alerts of the period; ``late_visits``: per charge box, its charge points
    whose yearly visit is late; ``usage``: the ``UsageReport`` of the period (None without stations)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(period.zone)
    start, end = period.start, period.end
    span = max(1.0, (min(end, now) - start).total_seconds())
    lines: list[TerminalLine] = []
    history: list[HistoryEvent] = []
    exchanges: list[tuple[str, Any]] = []
    for t in terminals:
        line = TerminalLine(ALERT_TERMINAL, t.line, f"ligne {t.phone_number}, terminal {t.device_serial}", alerts=None)
        assigned = 0.0
        for a in t.assignments:
            assigned += _overlap(a.assigned_at, a.closed_at or now, start, min(end, now))
            if start <= a.assigned_at < end:
                history.append(HistoryEvent(a.assigned_at, t.line, "Affectation", a.reference))
            if a.closed_at and start <= a.closed_at < end:
                history.append(HistoryEvent(a.closed_at, t.line, "Fin d'affectation", a.reference))
            done = [m for m in a.tests if start <= m < end]
            line.tests += len(done)
            history.extend(HistoryEvent(m, t.line, "Test", a.reference) for m in done)
            late = late_tests(a.assigned_at, a.closed_at, a.tests, start, end, now)
            line.late_tests += late
            if late:
                history.append(HistoryEvent(min(end, now) - dt.timedelta(seconds=1), t.line, "Tests en retard",
                                            f"{late} période(s) de 15 jours sans test ({a.reference})"))
        line.usage_rate = min(1.0, assigned / span)
        for e in t.exchanges:
            if start <= e.exchanged_at < end or start <= e.fault_reported_at < end:
                line.interventions += 1
                line.incidents += 1
                line.incidents_late += e.late
                line.delays_hours.append(round((e.exchanged_at - e.fault_reported_at).total_seconds() / 3600, 2))
                exchanges.append((t.line, e))
                history.append(HistoryEvent(e.exchanged_at, t.line, "Échange du terminal",
                                            f"{e.old_serial} → {e.new_serial}, "
                                            f"{'hors délai' if e.late else 'dans le délai'} de 24 h"))
        if t.fault_reported_at is not None and t.fault_reported_at < end:
            line.incidents += 1
            line.incidents_late += now > t.fault_reported_at + dt.timedelta(hours=24)
            history.append(HistoryEvent(t.fault_reported_at, t.line, "Panne signalée", "échange à faire"))
        lines.append(line)

    by_box = {box: TerminalLine(STATION, box) for box in sorted(set(stations))}

    def station(box: str | None) -> TerminalLine | None:
        return by_box.get(box) if box else None

    for a in alerts:
        row = station(a.charge_box_id)
        if row is not None:
            row.alerts = (row.alerts or 0) + 1
            history.append(HistoryEvent(a.opened_at, a.charge_box_id, "Alerte",
                                        f"{a.label}{f' ({a.error_code})' if a.error_code else ''}, point {a.connector_id}"
                                        + (f", close le {_local(a.closed_at, zone)}" if a.closed_at else ", ouverte")))
    for i in facts.interventions:
        row = station(i.charge_box_id)
        if row is not None:
            row.interventions += 1
            history.append(HistoryEvent(i.started_at, row.reference, "Intervention",
                                        f"{'sur site' if i.mode == 'on_site' else 'à distance'} ({i.ticket_number})"
                                        + (f" : {i.actions[:120]}" if i.actions else "")))
    for v in facts.visits:
        row = station(v.charge_box_id)
        if row is not None:
            row.tests += 1
            history.append(HistoryEvent(dt.datetime.combine(v.visited_on, dt.time(12), zone), row.reference,
                                        "Visite annuelle", f"{v.point_label} : "
                                        + (", ".join(label for label, _ in v.defects) or "conforme")))
    for c in facts.remote_checks:
        row = station(c.charge_box_id)
        if row is not None:
            row.tests += 1
    for box, late in late_visits.items():
        row = station(box)
        if row is not None:
            row.late_tests += late
    incidents: list[tuple[str, IncidentLine]] = []
    for t in facts.tickets:
        row = station(t.charge_box_id)
        if row is None or not (start <= t.reported_at < end):
            continue
        line = IncidentLine(t, delay_state(t.intervention_due_at, t.intervention_reached_at, now),
                            delay_state(t.restoration_due_at, t.resolved_at, now))
        row.incidents += 1
        row.incidents_late += line.on_time is False
        if t.resolved_at is not None:
            row.delays_hours.append(round((t.resolved_at - t.reported_at).total_seconds() / 3600, 2))
        incidents.append((row.reference, line))
        history.append(HistoryEvent(t.reported_at, row.reference, "Incident",
                                    f"{t.number} {t.title} — délais : "
                                    + ("dépassés" if line.on_time is False else
                                       "en cours" if RUNNING in (line.intervention, line.restoration) else "respectés")))
    if usage is not None:
        seconds: dict[str, float] = {}
        count: dict[str, int] = {}
        for p in usage.points:
            box = p.detail.rsplit(" — ", 1)[-1]
            seconds[box] = seconds.get(box, 0.0) + p.used_seconds
            count[box] = count.get(box, 0) + 1
        available = usage.period_seconds
        for box, row in by_box.items():
            if count.get(box) and available:
                row.usage_rate = seconds[box] / (available * count[box])
    lines.extend(by_box.values())
    return CommitteeReport(period, now, lines, sorted(history, key=lambda h: (h.at, h.terminal)), incidents, exchanges)
