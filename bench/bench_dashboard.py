"""The coordinator's dashboard at scale on PostgreSQL (issue 15 « Speed »: « 500 beneficiaries and 1,000,000 order
lines in PostgreSQL: […] dashboard pages ≤ 150 ms p95 »).

    .venv/bin/python bench/bench_dashboard.py [--tenants 500] [--orders 200] [--requests 200] [--keep-db] [--check]
    .venv/bin/python bench/bench_dashboard.py --database centrale_bench_dashboard_NNN   # again, on a kept data set
    .venv/bin/python bench/bench_dashboard.py --database … --baseline DIR [--frozen-baseline]  # before / after

1. the data set of ``bench_orders.py`` (imported: its ``populate`` and ``clone_sql``): the demo, ``--tenants`` − 1
   beneficiaries subscribed to the CPAM central's agreement, each with ``--orders`` orders of 10 lines over the last
   300 days (500 × 200 × 10 = 1,000,000 order lines), and a coordinator of that central;
2. the dashboard's rollup filled as the nightly job does (``reporting.dashboard.refresh_all_volumes``; its time is
   printed), and, for comparison, one direct ``GROUP BY`` month of every line in SQL (what a dashboard without the
   rollup would run per chart);
3. through the real application (Litestar, sessions, tenant scoping and row-level security) logged in as the
   coordinator, ``--requests`` requests of each: the dashboard (default period: the last 12 months), filtered by a
   beneficiary, by a family, the API's JSON, the COPIL's PDF; and ``/healthz`` as the baseline of the same stack.

Each measurement runs in a child process that imports the code it measures: this tree, and first, with
``--baseline DIR`` (a ``git archive`` of an older commit, migrated to the same schema), the older code on the same
data set in the same run, so that the ratios are measured at the same load; ``--frozen-baseline`` also measures the
older code with its start-up heap frozen (``app.server.freeze_startup_heap``, which the newer server applies and the
child calls when the code has it). Each line gives the CPU per request of the application's process and of the
database's backends (from ``/proc``): the machine is shared, the CPU is less noisy than the times.

With ``--check`` the exit status is 1 when a page's p95 (the COPIL document aside) is over 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The code measured: this tree, or the child's ``BENCH_CODE`` (``--baseline``); the bench's helpers from here.
sys.path.insert(0, os.environ.get("BENCH_CODE") or str(ROOT))
sys.path.insert(1, str(HERE))

from http_bench import TARGET_MS, Timing, quiet_http_logs, report_lines, time_requests  # noqa: E402

COORDINATOR = "coordination@cpam72.bench"
PASSWORD = "Coordination-du-banc-2026"  # noqa: S105 - a throw-away bench account
DOCUMENTS = ("COPIL PDF",)
BASELINE = "healthz (baseline)"


def log(message: str) -> None:
    """As ``bench_ocpp.log``, which the child does not import (it would put this tree first on the path)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)  # noqa: T201


async def prepare(settings: object, *, fill: bool = True) -> tuple[float, float, str]:
    """The coordinator, the rollup (timed; ``fill=False``: a kept data set's) and one direct aggregate of the lines
    (timed)."""
    from sqlalchemy import select, text

    from app.db import Database
    from reporting.dashboard import refresh_all_volumes
    from tenants import services as tenant_services
    from tenants.models import Central

    db = Database(settings.database_url, pool_size=2)
    try:
        async with db.transaction(actor={"user_id": None, "label": "banc"}) as session:
            central = await session.scalar(select(Central).where(Central.code == "CPAM72"))
            user = await tenant_services.find_user_by_email(session, COORDINATOR) or await tenant_services.create_user(
                session, email=COORDINATOR, full_name="Coordination du banc", password=PASSWORD, role="coordinator",
                central=central)
            _row, token = await tenant_services.create_api_token(session, user, name="banc")
        started = time.perf_counter()
        rows = await refresh_all_volumes(db) if fill else 0
        rollup = time.perf_counter() - started
        log(f"rollup: {rows} rows in {rollup:.1f} s")
    finally:
        await db.dispose()
    admin = Database(settings.admin_url, pool_size=1)
    try:
        async with admin.engine.connect() as conn:
            started = time.perf_counter()
            await conn.execute(text(
                "SELECT date_trunc('month', o.order_date), sum(l.total_ht) FROM purchase_order_lines l "
                "JOIN purchase_orders o ON o.tenant_id = l.tenant_id AND o.id = l.order_id "
                "WHERE o.status NOT IN ('draft', 'cancelled') GROUP BY 1"))
            direct = time.perf_counter() - started
    finally:
        await admin.dispose()
    log(f"one direct GROUP BY month over the lines: {direct * 1000:.0f} ms")
    return rollup, direct, token


async def measure(settings: object, requests: int, token: str, database: str) -> dict[str, Timing]:
    """The requests of each target through the real application, in this process."""
    from litestar.stores.memory import MemoryStore
    from litestar.testing import AsyncTestClient
    from sqlalchemy import text

    from app.db import Database
    from app.web import create_app
    from tests.conftest import login

    app_db = Database(settings.database_url, pool_size=5)
    app = create_app(settings, db=app_db, stores={"sessions": MemoryStore(), "throttle": MemoryStore()})
    admin = Database(settings.admin_url, pool_size=1)
    async with admin.engine.connect() as conn:
        tenants = [str(r[0]) for r in await conn.execute(text(
            "SELECT s.tenant_id FROM subscriptions s JOIN framework_agreements a ON a.id = s.agreement_id "
            "JOIN centrals c ON c.id = a.central_id WHERE c.code = 'CPAM72' ORDER BY random() LIMIT 100"))]
    await admin.dispose()
    rng = random.Random(15)
    base = "/c/CPAM72/tableau-de-bord"
    quiet_http_logs()
    try:
        async with AsyncTestClient(app=app, base_url="http://bench.local") as client:
            response = await login(client, COORDINATOR, PASSWORD)
            assert response.status_code in (302, 303), response.status_code
            _freeze_as_the_server_does()
            return await time_requests(client, {
                BASELINE: lambda: "/healthz",
                "dashboard, last 12 months": lambda: base,
                "dashboard, last 12 months, page 5": lambda: f"{base}?page=5",
                "dashboard, one beneficiary": lambda: f"{base}?beneficiaire={rng.choice(tenants)}",
                "dashboard, family « installation »": lambda: f"{base}?famille=installation",
                "API dashboard JSON": lambda: "/api/v1/centrals/CPAM72/dashboard",
                "COPIL PDF": lambda: f"{base}/copil.pdf",
            }, lambda name: requests if name not in DOCUMENTS else max(20, requests // 10), warmup=5,
                headers=lambda name: {"Authorization": f"Bearer {token}"} if "API" in name else None,
                database=database, log=log)
    finally:
        await app_db.dispose()


def _freeze_as_the_server_does() -> None:
    """The start-up heap frozen as ``centrale serve`` / ``centrale web`` do once the app is up, when the measured
    code does it (``BENCH_FREEZE=1``: also for an older code that did not)."""
    try:
        from app.server import freeze_startup_heap
    except ImportError:
        if os.environ.get("BENCH_FREEZE") != "1":
            return
        import gc

        def freeze_startup_heap() -> None:
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)
    freeze_startup_heap()


def child() -> None:
    """One measurement of the code in ``BENCH_CODE`` (first on the path): the timings as JSON on stdout."""
    from app.settings import Settings

    settings = Settings(database_url=os.environ["BENCH_DATABASE_URL"], database_admin_url=os.environ["BENCH_ADMIN_URL"],
                        secret_key="bench-" + "x" * 40)
    timings = asyncio.run(measure(settings, int(os.environ["BENCH_REQUESTS"]), os.environ["BENCH_TOKEN"],
                                  os.environ["BENCH_DATABASE"]))
    print(json.dumps({name: {"ms": t.ms, "app_cpu_ms": t.app_cpu_ms, "db_cpu_ms": t.db_cpu_ms}  # noqa: T201
                      for name, t in timings.items()}))


def run_child(settings: object, database: str, requests: int, token: str, code: Path, *, freeze: bool = False
              ) -> dict[str, Timing]:
    env = dict(os.environ, BENCH_CODE=str(code), PYTHONPATH=str(code), BENCH_DATABASE_URL=settings.database_url,
               BENCH_ADMIN_URL=settings.admin_url, BENCH_REQUESTS=str(requests), BENCH_TOKEN=token,
               BENCH_DATABASE=database, BENCH_FREEZE="1" if freeze else "0")
    out = subprocess.run([sys.executable, __file__, "--child"], env=env, check=False, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"the measurement of {code} failed:\n" + "\n".join(out.stderr.splitlines()[-20:]))
    sys.stderr.write("".join(line + "\n" for line in out.stderr.splitlines() if line.startswith("[")))
    return {name: Timing(**t) for name, t in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--database", help="a data set kept by --keep-db: measure again, without building it")
    parser.add_argument("--baseline", type=Path, help="a tree of older code to measure first, on the same data set")
    parser.add_argument("--frozen-baseline", action="store_true",
                        help="also measure the older code with its start-up heap frozen")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    from bench_ocpp import APP_ROLE, create_database, pg_url, psql
    from bench_orders import clone_sql, populate

    from app.settings import Settings

    name = args.database or f"centrale_bench_dashboard_{os.getpid()}"
    if args.database:
        settings = Settings(database_url=pg_url(name, APP_ROLE), database_admin_url=pg_url(name, "postgres"),
                            secret_key="bench-" + "x" * 40)
    else:
        settings = create_database(name)  # Alembic runs its own event loop: before ours
    runs: dict[str, dict[str, Timing]] = {}
    try:
        started = time.perf_counter()
        if not args.database:
            asyncio.run(populate(settings, args.tenants, args.orders))
            for statement in clone_sql(args.orders):
                psql(statement, name)
        counts = psql("SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM purchase_orders), "
                      "(SELECT count(*) FROM purchase_order_lines)", name)
        log(f"tenants|orders|lines: {counts} in {time.perf_counter() - started:.0f} s")
        rollup, direct, token = asyncio.run(prepare(settings, fill=not args.database))
        psql("ANALYZE order_volumes", name)
        psql("ANALYZE tenant_month_volumes", name)
        volumes = psql("SELECT (SELECT count(*) FROM order_volumes), (SELECT count(*) FROM tenant_month_volumes)",
                       name)
        before = os.getloadavg()
        if args.baseline:
            log(f"the baseline: {args.baseline}")
            runs[f"before ({args.baseline.name})"] = run_child(settings, name, args.requests, token, args.baseline)
            if args.frozen_baseline:
                runs[f"before ({args.baseline.name}), start-up heap frozen"] = run_child(
                    settings, name, args.requests, token, args.baseline, freeze=True)
        log(f"this tree: {ROOT}")
        runs["after (this tree)" if args.baseline else "this tree"] = run_child(
            settings, name, args.requests, token, ROOT)
    finally:
        if not args.keep_db and not args.database:
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    load = os.getloadavg()
    cells, months = volumes.split("|")
    print(f"Coordinator's dashboard ({counts.replace('|', ' tenants, ', 1).replace('|', ' orders, ')} lines; "  # noqa: T201
          f"rollup {cells} cells and {months} tenant-months, filled in {rollup:.1f} s; one direct GROUP BY of the "
          f"lines {direct * 1000:.0f} ms); load average {before[0]:.2f} {before[1]:.2f} {before[2]:.2f} before, "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} after")
    worst = 0.0
    for label, timings in runs.items():
        lines, worst = report_lines(timings, baseline=BASELINE, exempt=DOCUMENTS, width=36)
        print(f" {label}:")  # noqa: T201
        print("\n".join(lines))  # noqa: T201
    if len(runs) > 1:
        first, last = next(iter(runs.values())), runs[next(reversed(runs))]
        print(" after / before:")  # noqa: T201
        for target, t in last.items():
            if target in first:
                b = first[target]
                print(f"  {target:<36} p50 ×{t.p50 / b.p50:5.2f}  p95 ×{t.p95 / b.p95:5.2f}  CPU per request "  # noqa: T201
                      f"×{t.app_cpu_ms / b.app_cpu_ms:5.2f}")
    print(f"  target: p95 ≤ {TARGET_MS:.0f} ms — worst page p95 {worst:.1f} ms (this tree)")  # noqa: T201
    sys.exit(1 if args.check and worst > TARGET_MS else 0)


if __name__ == "__main__":
    main()
