"""The coordinator's dashboard at scale on PostgreSQL (issue 15 « Speed »: « 500 beneficiaries and 1,000,000 order
lines in PostgreSQL: […] dashboard pages ≤ 150 ms p95 »).

    .venv/bin/python bench/bench_dashboard.py [--tenants 500] [--orders 200] [--requests 200] [--keep-db] [--check]
    .venv/bin/python bench/bench_dashboard.py --database centrale_bench_dashboard_NNN   # again, on a kept data set

1. the data set of ``bench_orders.py`` (imported: its ``populate`` and ``clone_sql``): the demo, ``--tenants`` − 1
   beneficiaries subscribed to the CPAM central's agreement, each with ``--orders`` orders of 10 lines over the last
   300 days (500 × 200 × 10 = 1,000,000 order lines), and a coordinator of that central;
2. the dashboard's rollup filled as the nightly job does (``reporting.dashboard.refresh_all_volumes``; its time is
   printed), and, for comparison, one direct ``GROUP BY`` month of every line in SQL (what a dashboard without the
   rollup would run per chart);
3. through the real application (Litestar, sessions, tenant scoping and row-level security) logged in as the
   coordinator, ``--requests`` requests of each: the dashboard (default period: the last 12 months), filtered by a
   beneficiary, by a family, the API's JSON, the COPIL's PDF; and ``/healthz`` as the baseline of the same stack.

With ``--check`` the exit status is 1 when a page's p95 (the COPIL document aside) is over 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_ocpp import create_database, log, psql  # noqa: E402
from bench_orders import TARGET_MS, clone_sql, populate  # noqa: E402

COORDINATOR = "coordination@cpam72.bench"
PASSWORD = "Coordination-du-banc-2026"  # noqa: S105 - a throw-away bench account
DOCUMENTS = ("COPIL PDF",)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


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


async def measure(settings: object, requests: int, token: str) -> dict[str, list[float]]:
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
    timings: dict[str, list[float]] = {}
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with AsyncTestClient(app=app, base_url="http://bench.local") as client:
            response = await login(client, COORDINATOR, PASSWORD)
            assert response.status_code in (302, 303), response.status_code
            targets = {
                "healthz (baseline)": lambda: "/healthz",
                "dashboard, last 12 months": lambda: base,
                "dashboard, one beneficiary": lambda: f"{base}?beneficiaire={rng.choice(tenants)}",
                "dashboard, family « installation »": lambda: f"{base}?famille=installation",
                "API dashboard JSON": lambda: "/api/v1/centrals/CPAM72/dashboard",
                "COPIL PDF": lambda: f"{base}/copil.pdf",
            }
            for name, url in targets.items():
                count = requests if name not in DOCUMENTS else max(20, requests // 10)
                for _ in range(5):  # warm-up
                    await client.get(url(), headers=headers if "API" in name else None)
                found = []
                for _ in range(count):
                    started = time.perf_counter()
                    response = await client.get(url(), headers=headers if "API" in name else None)
                    found.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (name, response.status_code, response.text[:300])
                timings[name] = found
                log(f"{name}: p50 {statistics.median(found):.1f} ms, p95 {_p(found, 0.95):.1f} ms")
    finally:
        await app_db.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--database", help="a data set kept by --keep-db: measure again, without building it")
    args = parser.parse_args()
    name = args.database or f"centrale_bench_dashboard_{os.getpid()}"
    if args.database:
        from bench_ocpp import APP_ROLE, pg_url

        from app.settings import Settings

        settings = Settings(database_url=pg_url(name, APP_ROLE), database_admin_url=pg_url(name, "postgres"),
                            secret_key="bench-" + "x" * 40)
    else:
        settings = create_database(name)  # Alembic runs its own event loop: before ours
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
        volumes = psql("SELECT count(*) FROM order_volumes", name)
        timings = asyncio.run(measure(settings, args.requests, token))
    finally:
        if not args.keep_db and not args.database:
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    load = os.getloadavg()
    base = statistics.median(timings["healthz (baseline)"])
    worst = 0.0
    print(f"Coordinator's dashboard ({counts.replace('|', ' tenants, ', 1).replace('|', ' orders, ')} lines; "  # noqa: T201
          f"rollup {volumes} rows, filled in {rollup:.1f} s; one direct GROUP BY of the lines {direct * 1000:.0f} ms); "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for name_, found in timings.items():
        p50, p95 = statistics.median(found), _p(found, 0.95)
        if not name_.startswith("healthz") and name_ not in DOCUMENTS:
            worst = max(worst, p95)
        print(f"  {name_:<36} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({p50 / base:4.1f}× healthz's median, "  # noqa: T201
              f"{len(found)} requests)")
    print(f"  target: p95 ≤ {TARGET_MS:.0f} ms — worst page p95 {worst:.1f} ms")  # noqa: T201
    sys.exit(1 if args.check and worst > TARGET_MS else 0)


if __name__ == "__main__":
    main()
