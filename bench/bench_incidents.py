"""Incidents at scale: the operator's queue, a tenant's incident list, on PostgreSQL.

    .venv/bin/python bench/bench_incidents.py [--tenants 200] [--tickets 100000] [--events-per-ticket 10]
                                              [--requests 20] [--keep-db] [--check]

1. creates a fresh PostgreSQL database (migrated; the app connects as the role that owns
   no table, under row-level security, as in production);
2. bulk-loads ``--tenants`` tenants (a site, an SLA policy version each, the templates of
   the three tenders in turn), ``--tickets`` tickets (a fifth still open, the rest
   closed) and ``--events-per-ticket`` timeline events each (1,000,000 by default);
3. times, as the server sees them (in-process ASGI calls: the application's time, no
   network), ``--requests`` successive requests of each page and reports p50 / p95 / max:
   the operator's work queue across every tenant (``/operateur``) and one tenant's
   « Incidents » list (``/t/{id}/incidents``), then the service calls under them.

Targets (issue 13): queue and list ≤ 150 ms p95. With ``--check`` the exit status is 1
when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_ocpp import create_database, log, psql, siret  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from app.db import Database  # noqa: E402

TARGET_LIST_MS = 150.0
#: Issue 13: « the monthly indicators of one establishment in ≤ 300 ms ».
TARGET_INDICATORS_MS = 300.0
TEMPLATES = (("cpam-irve", ("telemaintenance", "1", "2", "3")), ("canut-iot", ("P0", "P1", "P2")),
             ("caih-maintenance-ho", ("4h", "10h", "50h")))
OPEN = ("new", "acknowledged", "in_progress", "waiting")
#: The accounts the page timings sign in with: the titulaire's operator of every tenant, the first one's admin.
OPERATOR, ADMIN, PASSWORD = "technicien@banc.test", "admin@banc.test", "Banc-incidents-2026"
KINDS = ("acknowledge", "start", "note", "wait", "resume", "note", "resolve", "note", "accept", "note")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def load(settings: Any, tenants: int, tickets: int, events_per_ticket: int, seed: int = 7) -> list[uuid.UUID]:
    """Core ``INSERT``s as the table owner (Python column defaults applied, no audit)."""
    from incidents.models import SlaPolicyVersion, Ticket, TicketEventRow
    from incidents.sla import policy_template
    from tenants.models import Site, Tenant

    rng = random.Random(seed)
    db = Database(settings.admin_url, pool_size=1)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    tenant_ids = [uuid.uuid4() for _ in range(tenants)]
    sites, policies = {}, {}
    tenant_rows, site_rows, policy_rows = [], [], []
    for number, tenant_id in enumerate(tenant_ids, 1):
        tenant_rows.append({"id": tenant_id, "name": f"Bénéficiaire du banc {number}", "siret": siret(number),
                            "insee_code": "72181", "city": "Le Mans", "created_at": now})
        sites[tenant_id] = uuid.uuid4()
        site_rows.append({"tenant_id": tenant_id, "id": sites[tenant_id], "name": "Site principal",
                          "insee_code": "72181", "building_code": "0001", "city": "Le Mans"})
        code, _levels = TEMPLATES[number % len(TEMPLATES)]
        policies[tenant_id] = uuid.uuid4()
        policy_rows.append({"tenant_id": tenant_id, "id": policies[tenant_id], "version": 1, "template": code,
                            "policy": policy_template(code).to_dict(), "created_at": now})
    from app.security import hash_password
    from tenants.models import Membership, User

    secret = hash_password(PASSWORD)
    operator, admin = uuid.uuid4(), uuid.uuid4()
    user_rows = [{"id": operator, "email": OPERATOR, "full_name": "Technicien du banc", "password_hash": secret,
                  "is_active": True, "created_at": now, "session_epoch": 0},
                 {"id": admin, "email": ADMIN, "full_name": "Administrateur du banc", "password_hash": secret,
                  "is_active": True, "created_at": now, "session_epoch": 0}]
    member_rows = [{"tenant_id": t, "id": uuid.uuid4(), "user_id": operator, "role": "operator", "created_at": now}
                   for t in tenant_ids]
    member_rows.append({"tenant_id": tenant_ids[0], "id": uuid.uuid4(), "user_id": admin, "role": "admin",
                        "created_at": now})
    async with db.engine.begin() as conn:
        await conn.execute(insert(Tenant.__table__), tenant_rows)
        await conn.execute(insert(Site.__table__), site_rows)
        await conn.execute(insert(SlaPolicyVersion.__table__), policy_rows)
        await conn.execute(insert(User.__table__), user_rows)
        await conn.execute(insert(Membership.__table__), member_rows)
    per_tenant = max(1, tickets // tenants)
    ticket_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []

    async def flush(force: bool = False) -> None:
        if len(event_rows) < 50_000 and not force:
            return
        async with db.engine.begin() as conn:
            if ticket_rows:
                await conn.execute(insert(Ticket.__table__), ticket_rows)
            if event_rows:
                await conn.execute(insert(TicketEventRow.__table__), event_rows)
        ticket_rows.clear()
        event_rows.clear()

    started = time.perf_counter()
    for index, tenant_id in enumerate(tenant_ids, 1):
        _code, levels = TEMPLATES[index % len(TEMPLATES)]
        for n in range(1, per_tenant + 1):
            reported = now - dt.timedelta(minutes=rng.randrange(1, 365 * 1440))
            status = rng.choice(OPEN) if rng.random() < 0.2 else "closed"
            due = reported + dt.timedelta(hours=rng.choice((4, 10, 24, 50)))
            ticket_id = uuid.uuid4()
            ticket_rows.append({
                "tenant_id": tenant_id, "id": ticket_id, "number": f"INC-{reported.year}-{n:06d}",
                "title": f"Incident {n}", "description": "Banc d'essai", "status": status,
                "channel": rng.choice(("portal", "phone", "email", "supervision")), "site_id": sites[tenant_id],
                "level": rng.choice(levels), "policy_version_id": policies[tenant_id], "reported_at": reported,
                "opened_at": reported, "intervention_due_at": due, "restoration_due_at": due + dt.timedelta(hours=8),
                "next_due_at": due if status != "closed" else None, "breached": due < now and status != "closed",
                "closed_at": reported + dt.timedelta(days=2) if status == "closed" else None,
                "event_count": events_per_ticket, "updated_at": now,
            })
            at = reported
            for seq in range(1, events_per_ticket + 1):
                kind = "open" if seq == 1 else KINDS[(seq - 2) % len(KINDS)]
                event_rows.append({"tenant_id": tenant_id, "id": uuid.uuid4(), "ticket_id": ticket_id, "seq": seq,
                                   "kind": kind, "at": at, "recorded_at": at, "channel": "portal", "data": {},
                                   "actor_name": "Banc"})
                at += dt.timedelta(minutes=rng.randrange(5, 600))
            await flush()
    await flush(force=True)
    log(f"loaded {per_tenant * tenants:,} tickets and {per_tenant * tenants * events_per_ticket:,} events"
        f" in {time.perf_counter() - started:.1f} s")
    await db.dispose()
    psql("VACUUM ANALYZE", settings.database_url.rsplit("/", 1)[1])
    return tenant_ids


async def time_calls(call: Callable[[], Awaitable[Any]], requests: int) -> list[float]:
    await call()  # warm-up: compiled statements, templates
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def measure(settings: Any, tenant_ids: list[uuid.UUID], requests: int) -> dict[str, list[float]]:
    from app.db import scope_session
    from incidents.indicator_data import central_indicators, tenant_indicators
    from incidents.indicators import parse_month
    from incidents.tickets import open_tickets_across, tickets_of_tenant

    db = Database(settings.database_url, pool_size=2)
    results: dict[str, list[float]] = {}
    try:
        async with db.session(tenant_ids) as session:
            async def queue() -> None:
                assert await open_tickets_across(session, tenant_ids, limit=200)

            results["service: open_tickets_across (200 tenants)"] = await time_calls(queue, requests)
            scope_session(session, [tenant_ids[0]])

            async def listing() -> None:
                assert await tickets_of_tenant(session, tenant_ids[0], limit=50)

            results["service: tickets_of_tenant"] = await time_calls(listing, requests)

            today = dt.datetime.now(dt.UTC).date()
            month = parse_month("", today)

            async def indicators() -> None:
                assert (await tenant_indicators(session, tenant_ids[0], month)).declared >= 0

            results["service: tenant_indicators (one month)"] = await time_calls(indicators, requests)
            scope_session(session, tenant_ids)

            async def lot() -> None:
                assert (await central_indicators(session, tenant_ids, month)).lot.declared >= 0

            results["service: central_indicators (200 tenants, no target)"] = await time_calls(lot, max(3, requests // 4))
    finally:
        await db.dispose()
    return results


async def measure_pages(settings: Any, tenant_ids: list[uuid.UUID], requests: int) -> dict[str, list[float]]:
    """The pages as the server answers them: in-process ASGI calls of the real application (its
    middleware, sessions, templates), signed in through the login form."""
    import re

    from litestar.stores.memory import MemoryStore
    from litestar.testing import AsyncTestClient

    from app.web import create_app

    app = create_app(settings, stores={"sessions": MemoryStore(), "throttle": MemoryStore()})
    results: dict[str, list[float]] = {}
    async with AsyncTestClient(app=app, base_url="http://bench.local") as client:
        for email, label, path in ((OPERATOR, "page: /operateur (work queue, 200 tenants)", "/operateur"),
                                   (OPERATOR, "page: /operateur/incidents (tickets by deadline, 200 tenants)",
                                    "/operateur/incidents"),
                                   (ADMIN, "page: /t/{id}/incidents (a tenant's list)", f"/t/{tenant_ids[0]}/incidents"),
                                   (ADMIN, "page: indicators /t/{id}/incidents/indicateurs",
                                    f"/t/{tenant_ids[0]}/incidents/indicateurs")):
            client.cookies.clear()
            form = await client.get("/connexion")
            token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            signed = await client.post("/connexion", data={"email": email, "password": PASSWORD, "_csrf_token": token})
            assert signed.status_code in (200, 302, 303), signed.text[:200]

            async def page(path: str = path) -> None:
                response = await client.get(path)
                assert response.status_code == 200, (path, response.status_code)

            results[label] = await time_calls(page, requests)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--events-per-ticket", type=int, default=10)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    load_avg = os.getloadavg()[0]
    name = f"centrale_bench_incidents_{os.getpid()}"
    log(f"load average {load_avg:.2f}; creating database {name}")
    settings = create_database(name)
    missed = False
    try:
        tenant_ids = asyncio.run(load(settings, args.tenants, args.tickets, args.events_per_ticket))
        results = asyncio.run(measure(settings, tenant_ids, args.requests))
        results.update(asyncio.run(measure_pages(settings, tenant_ids, args.requests)))
        print(f"incidents: {args.tenants} tenants, {args.tickets:,} tickets, "  # noqa: T201
              f"{args.tickets * args.events_per_ticket:,} events; {args.requests} requests each; "
              f"load average {load_avg:.2f} → {os.getloadavg()[0]:.2f}")
        for label, timings in results.items():
            target = None if "no target" in label else TARGET_INDICATORS_MS if "indicators" in label else TARGET_LIST_MS
            ok = target is None or p95(timings) <= target
            missed |= not ok
            verdict = "" if target is None else f"  (target p95 ≤ {target:.0f} ms: {'PASS' if ok else 'MISS'})"
            print(f"  {label:<56} p50 {statistics.median(timings):7.1f} ms  p95 {p95(timings):7.1f} ms  "  # noqa: T201
                  f"max {max(timings):7.1f} ms{verdict}")
    finally:
        if not args.keep_db:
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
