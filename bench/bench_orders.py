"""Purchase orders at scale on PostgreSQL (issue 14 §3: « with 500 tenants and 1,000,000 order lines in PostgreSQL,
a tenant's order list and an order page in ≤ 150 ms p95 »).

    .venv/bin/python bench/bench_orders.py [--tenants 500] [--orders 200] [--requests 200] [--keep-db] [--check]

1. creates a fresh PostgreSQL database (migrated; the app connects as the role that owns no table, as in
   production) and loads the demo;
2. adds ``--tenants`` − 1 beneficiaries subscribed to the CPAM central, gives each one order of 10 lines made by
   ``catalog.orders.create_order`` and issued, then copies it in SQL into ``--orders`` orders per tenant (the
   numbers, dates and ids of their own): 500 × 200 × 10 = 1,000,000 order lines, 100,000 orders, and their
   history; ``ANALYZE``;
3. through the real application (Litestar, sessions, CSRF, tenant scoping and row-level security) logged in as
   the CPAM admin, times ``--requests`` requests of each: the order list (page 1, a last page, filtered by
   state), an order page (a random order of the tenant), the API's list; and ``/healthz`` as the baseline of the
   same stack, so the figures are also given as ratios (this machine is shared and noisy).

With ``--check`` the exit status is 1 when a p95 is over 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_ocpp import create_database, log, psql  # noqa: E402
from http_bench import TARGET_MS, Timing, quiet_http_logs, report_lines, time_requests  # noqa: E402


def siret(number: int) -> str:
    """A SIRET whose SIREN and SIRET Luhn keys are both valid (``stdnum.fr.siret``, as the tenants' form checks)."""
    from stdnum import luhn

    siren = f"8{number:07d}" + luhn.calc_check_digit(f"8{number:07d}")
    return siren + "0001" + luhn.calc_check_digit(siren + "0001")

LINES_PER_ORDER = 10


def _columns(table: str, **override: str) -> tuple[str, str]:
    """``(column list, select list)`` copying ``table``'s row ``t`` except the overridden columns."""
    from app.db import Base

    names = [c.name for c in Base.metadata.tables[table].columns]
    return ", ".join(names), ", ".join(override.get(n, f"t.{n}") for n in names)


def clone_sql(orders: int) -> list[str]:
    """Each tenant's template order copied into ``orders`` orders, with their lines and history."""
    cols, values = _columns(
        "purchase_orders", id="gen_random_uuid()", number="'BC-2025-' || lpad(g::text, 6, '0')",
        order_date="t.order_date - (g % 300)", created_at="t.created_at - make_interval(hours => g)",
        issued_at="t.issued_at - make_interval(hours => g)", updated_at="t.updated_at - make_interval(hours => g)",
        status="(ARRAY['issued', 'in_progress', 'delivered', 'verified', 'closed'])[1 + g % 5]")
    line_cols, line_values = _columns("purchase_order_lines", id="gen_random_uuid()", order_id="o.id")
    event_cols, event_values = _columns("purchase_order_events", id="gen_random_uuid()", order_id="o.id",
                                        at="o.created_at")
    return [
        # the bench's own template orders only (the demo's orders stay as they are)
        "CREATE TABLE bench_templates AS SELECT tenant_id, id FROM purchase_orders WHERE representative = 'Banc'",
        f"INSERT INTO purchase_orders ({cols}) SELECT {values} FROM purchase_orders t "
        f"JOIN bench_templates b ON b.id = t.id, generate_series(2, {orders}) g",
        f"INSERT INTO purchase_order_lines ({line_cols}) SELECT {line_values} FROM purchase_order_lines t "
        "JOIN bench_templates b ON b.id = t.order_id JOIN purchase_orders o ON o.tenant_id = b.tenant_id "
        "AND o.id <> b.id AND o.representative = 'Banc'",
        f"INSERT INTO purchase_order_events ({event_cols}) SELECT {event_values} FROM purchase_order_events t "
        "JOIN bench_templates b ON b.id = t.order_id JOIN purchase_orders o ON o.tenant_id = b.tenant_id "
        "AND o.id <> b.id AND o.representative = 'Banc'",
        "DROP TABLE bench_templates",
        "ANALYZE",
    ]


async def populate(settings: object, tenants: int, orders: int) -> str:
    """The demo, the extra tenants and their template orders; returns the CPAM tenant's id."""
    from sqlalchemy import select

    from app.composition import load_demo
    from app.db import Database
    from catalog import orders as svc
    from catalog import services
    from tenants import services as tenant_services
    from tenants.models import Central, FrameworkAgreement

    demo = await load_demo(settings)
    cpam = demo["tenant_ids"]["cpam"]
    db = Database(settings.database_url, pool_size=2)
    actor = {"user_id": None, "label": "banc"}
    try:
        async with db.transaction(actor=actor) as session:
            agreement = await session.scalar(select(FrameworkAgreement).where(
                FrameworkAgreement.reference == "2025-CPAM72-IRVE"))
            central = await session.get(Central, agreement.central_id)
        ids = [cpam]
        for start in range(1, tenants, 50):
            async with db.transaction(actor=actor) as session:
                for n in range(start, min(start + 50, tenants)):
                    tenant = await tenant_services.create_tenant(
                        session, {"name": f"Bénéficiaire du banc {n:03d}", "siret": siret(n)}, central=central)
                    ids.append(str(tenant.id))
        log(f"{len(ids)} tenants")
        today = dt.date.today()
        async with db.session(actor=actor) as session:
            version = await services.version_in_force(session, agreement.id, today)
            codes = [item.article_code for item in await services.items_of_version(session, version.id)]
        lines = [{"article_code": codes[n % len(codes)], "quantity": str(1 + n % 4)} for n in range(LINES_PER_ORDER)]
        now = dt.datetime.now(dt.UTC)
        for tenant_id in map(uuid.UUID, ids):
            async with db.transaction([tenant_id], actor=actor) as session:
                order = await svc.create_order(session, tenant_id, {
                    "agreement_id": str(agreement.id), "lines": lines, "delivery_place": "Siège",
                    "representative": "Banc"}, order_date=today, now=now)
                await svc.issue_order(session, tenant_id, order.id, now=now)
        log(f"{len(ids)} template orders of {LINES_PER_ORDER} lines")
    finally:
        await db.dispose()
    return cpam


async def measure(settings: object, cpam: str, requests: int, database: str) -> dict[str, Timing]:
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
        order_ids = [str(r[0]) for r in await conn.execute(text(
            "SELECT id FROM purchase_orders WHERE tenant_id = :t ORDER BY random() LIMIT 500"), {"t": cpam})]
        total = (await conn.execute(text("SELECT count(*) FROM purchase_orders WHERE tenant_id = :t"),
                                    {"t": cpam})).scalar()
    await admin.dispose()
    last_page = max(1, -(-total // 50))
    rng = random.Random(14)
    quiet_http_logs()
    try:
        async with AsyncTestClient(app=app, base_url="http://bench.local") as client:
            response = await login(client, "admin@cpam72.demo")
            assert response.status_code in (302, 303), response.status_code
            return await time_requests(client, {
                "healthz (baseline)": lambda: "/healthz",
                "order list, page 1": lambda: f"/t/{cpam}/commandes",
                f"order list, page {last_page}": lambda: f"/t/{cpam}/commandes?page={last_page}",
                "order list, state « en cours »": lambda: f"/t/{cpam}/commandes?etat=in_progress",
                "order page": lambda: f"/t/{cpam}/commandes/{rng.choice(order_ids)}",
            }, lambda _name: requests, database=database)
    finally:
        await app_db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    name = f"centrale_bench_orders_{os.getpid()}"
    settings = create_database(name)  # Alembic runs its own event loop: before ours
    try:
        started = time.perf_counter()
        cpam = asyncio.run(populate(settings, args.tenants, args.orders))
        for statement in clone_sql(args.orders):
            psql(statement, name)
        counts = psql("SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM purchase_orders), "
                      "(SELECT count(*) FROM purchase_order_lines)", name)
        log(f"tenants|orders|lines: {counts} in {time.perf_counter() - started:.0f} s")
        timings = asyncio.run(measure(settings, cpam, args.requests, name))
    finally:
        if not args.keep_db:
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    load = os.getloadavg()
    lines, worst = report_lines(timings, baseline="healthz (baseline)", width=34)
    print(f"Orders at scale ({counts.replace('|', ' tenants, ', 1).replace('|', ' orders, ')} lines), "  # noqa: T201
          f"{args.requests} requests each; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("\n".join(lines))  # noqa: T201
    print(f"  target: p95 ≤ {TARGET_MS:.0f} ms — worst p95 {worst:.1f} ms")  # noqa: T201
    sys.exit(1 if args.check and worst > TARGET_MS else 0)


if __name__ == "__main__":
    main()
