"""The yearly maintenance report (CCTP CPAM 5-4-8) and the committee report (CCP TGD IV.6) at scale, the pure cores
and the files, no database:

    .venv/bin/python bench/bench_maintenance_report.py [--stations 1000] [--tickets 20000] [--lines 1000]

A year of ``--stations`` charge boxes (2 points each: 24 monthly remote checks and 2 visits per box, 2 % of the
checks in defect), ``--tickets`` tickets with an intervention each, and ``--lines`` TGD lines each assigned all
year with a test call every 10 days (one lapse of 15 days in four lines); times ``build_maintenance_year``, the
report's XLSX, ODS and PDF, and ``build_committee`` over November with its XLSX; prints the peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from pathlib import Path
from types import SimpleNamespace as NS
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reporting.committee import build_committee  # noqa: E402
from reporting.maintenance import build_maintenance_year  # noqa: E402
from reporting.maintenance_web import (  # noqa: E402
    committee_sheets,
    maintenance_sheets,
    ods_bytes,
    pdf_bytes_of,
    workbook_bytes,
)
from reporting.usage import month_period  # noqa: E402

PARIS = ZoneInfo("Europe/Paris")


def facts(stations: int, tickets: int) -> NS:
    start = dt.datetime(2026, 1, 1, tzinfo=PARIS)
    boxes = [f"CB-{i:05d}" for i in range(stations)]
    ts, its = [], []
    for i in range(tickets):
        at = start + dt.timedelta(minutes=26 * i)
        box = boxes[i % stations]
        late = i % 10 == 0
        ts.append(NS(number=f"INC-{i:06d}", title="Panne", channel="phone", origin="report", charge_box_id=box,
                     connector_id=1, asset_id=None, level="2", level_label="Niveau 2", status="closed",
                     reported_at=at, intervention_due_at=at + dt.timedelta(hours=4),
                     intervention_reached_at=at + dt.timedelta(hours=5 if late else 1),
                     restoration_due_at=at + dt.timedelta(hours=28), resolved_at=at + dt.timedelta(hours=3),
                     closed_at=at + dt.timedelta(days=1), breached=late, reopen_count=0))
        its.append(NS(ticket_number=f"INC-{i:06d}", charge_box_id=box, asset_id=None,
                      mode="on_site" if i % 3 == 0 else "remote", technician="T", started_at=at + dt.timedelta(hours=1),
                      ended_at=at + dt.timedelta(hours=2), actions="Remplacement", parts="1 × Prise", record_late=False))
    checks = [NS(month=f"2026-{m:02d}", point_label=f"{box}-{p}", charge_box_id=box,
                 status="defect" if (m + p) % 50 == 0 else "ok",
                 defects=("Pertes de puissance de charge",) if (m + p) % 50 == 0 else ())
              for box in boxes for p in (1, 2) for m in range(1, 13)]
    visits = [NS(visited_on=dt.date(2026, 6, 1), point_label=f"{box}-{p}", charge_box_id=box, technician="T",
                 defects=(), record_late=False, ticket_number="") for box in boxes for p in (1, 2)]
    return NS(tickets=ts, interventions=its, visits=visits, remote_checks=checks), boxes


def terminals(lines: int) -> list[NS]:
    assigned = dt.datetime(2026, 1, 2, 9, tzinfo=PARIS)
    out = []
    for i in range(lines):
        gap = 16 if i % 4 == 0 else 10
        tests = tuple(assigned + dt.timedelta(days=gap * k) for k in range(1, 365 // gap))
        out.append(NS(line=f"M97497411{i:04d}", phone_number="0692000000", device_serial=f"D{i}",
                      created_at=assigned, fault_reported_at=None,
                      assignments=[NS(reference=f"M97497411{i:04d}1", assigned_at=assigned, closed_at=None, tests=tests)],
                      exchanges=[]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--tickets", type=int, default=20000)
    parser.add_argument("--lines", type=int, default=1000)
    args = parser.parse_args()
    now = dt.datetime(2027, 1, 10, tzinfo=dt.UTC)
    year_facts, boxes = facts(args.stations, args.tickets)
    clock = time.perf_counter()
    report = build_maintenance_year(2026, "Europe/Paris", year_facts, boxes, now=now)
    built = time.perf_counter() - clock
    sheets = maintenance_sheets(report, "Bénéficiaire")
    clock = time.perf_counter()
    xlsx = workbook_bytes(sheets)
    t_xlsx = time.perf_counter() - clock
    clock = time.perf_counter()
    ods = ods_bytes(sheets, "Rapport annuel de maintenance")
    t_ods = time.perf_counter() - clock
    clock = time.perf_counter()
    pdf = pdf_bytes_of(report, "Bénéficiaire")
    t_pdf = time.perf_counter() - clock
    print(f"maintenance year: {args.stations} stations, {len(year_facts.remote_checks)} remote checks, "
          f"{args.tickets} tickets and interventions: built {built:.2f} s; XLSX {t_xlsx:.2f} s ({len(xlsx) >> 10} KiB), "
          f"ODS {t_ods:.2f} s ({len(ods) >> 10} KiB), PDF {t_pdf:.2f} s ({len(pdf) >> 10} KiB)")
    period = month_period(2026, 11, "Europe/Paris")
    month = NS(tickets=[t for t in year_facts.tickets if t.reported_at.month == 11],
               interventions=[i for i in year_facts.interventions if i.started_at.month == 11],
               visits=[], remote_checks=[c for c in year_facts.remote_checks if c.month == "2026-11"])
    clock = time.perf_counter()
    committee = build_committee(period, terminals=terminals(args.lines), stations=boxes, facts=month, alerts=[],
                                late_visits={}, usage=None, now=now)
    t_committee = time.perf_counter() - clock
    clock = time.perf_counter()
    cxlsx = workbook_bytes(committee_sheets(committee, "Bénéficiaire"))
    t_cxlsx = time.perf_counter() - clock
    print(f"committee, November: {len(committee.terminals)} terminals ({len(committee.flagged)} flagged), "
          f"{len(committee.history)} events: built {t_committee:.2f} s; XLSX {t_cxlsx:.2f} s ({len(cxlsx) >> 10} KiB)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10} MB")


if __name__ == "__main__":
    main()
