"""SLA engine throughput: deadline computations per second and ticket-clock evaluations
per second (six events per ticket), on one core.

    .venv/bin/python bench/bench_sla.py [--seconds 2] [--check]

Targets (issue 4): >= 100,000 deadlines/s and >= 20,000 tickets/s. With ``--check``
the exit status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from incidents.sla import TicketEvent, caih_policy, canut_policy, cpam_irve_policy, evaluate_ticket  # noqa: E402
from tenants.calendars import BusinessCalendar  # noqa: E402
from tenants.territories import TERRITORIES  # noqa: E402

TARGET_DEADLINES, TARGET_TICKETS = 100_000, 20_000


def _rate(work, items: int, seconds: float) -> float:
    work()  # warm-up: builds the per-year interval tables
    done, started = 0, time.perf_counter()
    while True:
        work()
        done += items
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def bench_deadlines(seconds: float, rng: random.Random) -> float:
    calendars = [BusinessCalendar.preset(t, p) for t in TERRITORIES for p in ("ho-8-18", "ho-8-17", "24x7")]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    cases = [
        (rng.choice(calendars), base + timedelta(minutes=rng.randrange(365 * 1440)),
         timedelta(minutes=rng.choice((0, 60, 240, 600, 720, 2880, 3000))))
        for _ in range(10_000)
    ]

    def work() -> None:
        for calendar, start, duration in cases:
            calendar.add_business_time(start, duration)

    return _rate(work, len(cases), seconds)


def _ticket(rng: random.Random, start: datetime, level_key: str, level: str) -> list[TicketEvent]:
    t = start
    events = [TicketEvent("opened", t, {level_key: level})]
    for kind in ("acknowledged", "intervention_started", "waiting_for_buyer", "resumed", "solved"):
        t += timedelta(minutes=rng.randrange(5, 900))
        events.append(TicketEvent(kind, t, {}))
    return events


def bench_tickets(seconds: float, rng: random.Random) -> float:
    setups = [
        (caih_policy(), BusinessCalendar.preset("alsace-moselle", "ho-8-18"), "level", ("4h", "10h", "50h")),
        (caih_policy(window="24x7"), BusinessCalendar.preset("972", "ho-8-18"), "level", ("4h", "10h", "50h")),
        (canut_policy(), BusinessCalendar.preset("metropole", "ho-8-18"), "incident_type",
         ("bloquant", "majeur", "mineur")),
        (cpam_irve_policy(), BusinessCalendar.preset("metropole", "ho-8-17"), "level", ("telemaintenance", "2", "3")),
    ]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    cases = []
    for _ in range(5_000):
        policy, calendar, key, levels = rng.choice(setups)
        start = base + timedelta(minutes=rng.randrange(360 * 1440))
        cases.append((_ticket(rng, start, key, rng.choice(levels)), policy, calendar))

    def work() -> None:
        for events, policy, calendar in cases:
            evaluate_ticket(events, policy, calendar, now)

    return _rate(work, len(cases), seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per figure")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    rng = random.Random(4)
    deadlines = bench_deadlines(args.seconds, rng)
    tickets = bench_tickets(args.seconds, rng)
    print(f"deadlines/s: {deadlines:,.0f} (target >= {TARGET_DEADLINES:,})")
    print(f"tickets/s:   {tickets:,.0f} (target >= {TARGET_TICKETS:,}; six events per ticket)")
    missed = deadlines < TARGET_DEADLINES or tickets < TARGET_TICKETS
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
