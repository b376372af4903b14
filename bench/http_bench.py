"""The request loop of the HTTP benches (``bench_orders.py``, ``bench_dashboard.py``): warm-up, timed requests through
the real application in this process (Litestar's test client: the app runs on its own thread and loop here), the
CPU spent per request, percentiles and the report's lines.

Imports nothing from the application at import time: ``bench_dashboard.py``'s child process puts the tree of the
code it measures first on the path before it imports anything.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Timing", "cpu_between", "percentile", "postgres_cpu_seconds", "quiet_http_logs", "report_lines", "time_requests"]

TARGET_MS = 150.0
_TICK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def quiet_http_logs() -> None:
    """httpx logs every request at INFO: 1,200 lines per run otherwise."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


def postgres_cpu_seconds(database: str, host: str = "127.0.0.1", port: int = 5432) -> dict[int, float]:
    """The CPU time (user + system) of each PostgreSQL backend connected to ``database``, from ``/proc`` (the server
    runs on this machine). ``cpu_between`` sums the difference of the backends alive at both ends: one that closed
    in between (a background job's connection) would otherwise be counted negative."""
    pids = subprocess.run(
        ["psql", "-h", host, "-p", str(port), "-U", "postgres", "-d", "postgres", "-Atc",
         f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"],
        check=True, capture_output=True, text=True).stdout.split()
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(pid)] = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15 of proc(5))
    return found


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before[pid] for pid in after.keys() & before.keys())


@dataclass
class Timing:
    """One target's requests: their times (ms) and the CPU per request (ms) of this process (the application and
    the test client) and of the database's backends."""

    ms: list[float] = field(default_factory=list)
    app_cpu_ms: float = 0.0
    db_cpu_ms: float | None = None

    @property
    def p50(self) -> float:
        return statistics.median(self.ms)

    @property
    def p95(self) -> float:
        return percentile(self.ms, 0.95)


async def time_requests(client: Any, targets: Mapping[str, Callable[[], str]], count: Callable[[str], int], *,
                        warmup: int = 10, headers: Callable[[str], Mapping[str, str] | None] = lambda _name: None,
                        database: str | None = None, log: Callable[[str], None] | None = None) -> dict[str, Timing]:
    """``count(name)`` GETs of each target's URL (``targets[name]()``, called per request) after ``warmup`` ones;
    every answer must be 200."""
    timings: dict[str, Timing] = {}
    for name, url in targets.items():
        extra = headers(name)
        for _ in range(warmup):
            await client.get(url(), headers=extra)
        found = Timing()
        n = count(name)
        cpu, db_cpu = time.process_time(), postgres_cpu_seconds(database) if database else None
        for _ in range(n):
            started = time.perf_counter()
            response = await client.get(url(), headers=extra)
            found.ms.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.status_code, response.text[:300])
        found.app_cpu_ms = (time.process_time() - cpu) * 1000 / n
        if database and db_cpu is not None:
            found.db_cpu_ms = cpu_between(db_cpu, postgres_cpu_seconds(database)) * 1000 / n
        timings[name] = found
        if log:
            log(f"{name}: p50 {found.p50:.1f} ms, p95 {found.p95:.1f} ms, CPU {found.app_cpu_ms:.1f} ms per request")
    return timings


def report_lines(timings: Mapping[str, Timing], *, baseline: str, exempt: tuple[str, ...] = (),
                 width: int = 36) -> tuple[list[str], float]:
    """One line per target (p50, p95, the ratio to the baseline's median, the CPU per request) and the worst p95
    of the targets held to ``TARGET_MS`` (not the baseline, not ``exempt``)."""
    base = timings[baseline].p50
    worst, lines = 0.0, []
    for name, t in timings.items():
        if name != baseline and name not in exempt:
            worst = max(worst, t.p95)
        db = f", database {t.db_cpu_ms:5.1f} ms" if t.db_cpu_ms is not None else ""
        lines.append(f"  {name:<{width}} p50 {t.p50:6.1f} ms  p95 {t.p95:6.1f} ms  ({t.p50 / base:4.1f}× "
                     f"{baseline.split()[0]}'s median; CPU per request: app {t.app_cpu_ms:5.1f} ms{db}; "
                     f"{len(t.ms)} requests)")
    return lines, worst
