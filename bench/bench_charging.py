"""Paid charging's debit on PostgreSQL (issue 15 §5, CCTP CPAM 5-5-5-2): how fast the durable subscriber
``billing.charging-debit`` prices and debits stopped sessions.

    .venv/bin/python bench/bench_charging.py [--sessions 1000] [--keep-db]

1. creates a fresh PostgreSQL database (migrated; the app connects as the role that owns no table) and loads the
   demo; makes the CPAM's charging paid with an agents' tariff and issues a badge to its demo agent;
2. records ``--sessions`` sessions of that badge on one registered charger through csms's own recording
   (``start_transaction`` / ``stop_transaction``, 200 per transaction, as a group commit would), each stop writing
   its ``csms.transaction.stopped`` event to the outbox;
3. times the outbox relay (``Relay.run_once`` passes with billing's subscriber only) until every event is
   delivered, then checks the account's balance: every session debited exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_ocpp import create_database, log, psql  # noqa: E402

ACTOR = {"user_id": None, "label": "bench"}
BATCH = 200


async def prepare(settings, sessions: int) -> tuple:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from app.composition import load_demo
    from app.db import Database
    from billing import charging
    from csms import services as csms_services
    from csms.domain import recording, registry
    from csms.domain.ports import StationRef
    from tenants import services as tenants
    from tenants.models import Site

    demo = await load_demo(settings)
    cpam = __import__("uuid").UUID(demo["tenant_ids"]["cpam"])
    db = Database(settings.database_url, pool_size=2)
    t0 = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)
    async with db.transaction([cpam], actor=ACTOR) as session:
        site = await session.scalar(select(Site.id).where(Site.tenant_id == cpam).order_by(Site.name).limit(1))
        charger = await registry.register_charger(session, cpam, {
            "charge_box_id": "BENCH-PAID-01", "points": 2, "power_kw": 22, "site": str(site),
            "password": "Borne-secret-2026-bench"})
        agent = await tenants.find_user_by_email(session, "agent@cpam72.demo")
        await csms_services.issue_badge(session, cpam, id_tag="BENCH-AGENT", user_id=agent.id, holder_label="Agent")
        await charging.set_enabled(session, cpam, True, now=t0)
        await charging.add_tariff(session, cpam, {"population": "agent", "per_kwh": "0,30", "per_minute": "0,02",
                                                  "per_session": "0,50", "valid_from": "2026-01-01"}, now=t0)
    ref = StationRef(cpam, charger.charger_id, "BENCH-PAID-01", charger.canonical_id)
    started = time.perf_counter()
    for first in range(0, sessions, BATCH):
        async with db.transaction([cpam], actor=ACTOR) as session:
            for n in range(first, min(first + BATCH, sessions)):
                at = t0 + dt.timedelta(minutes=50 * n)
                start = await recording.start_transaction(session, ref, connector_id=1 + n % 2, id_tag="BENCH-AGENT",
                                                          meter_start=0, timestamp=at, received_at=at)
                await recording.stop_transaction(session, ref, transaction_id=str(start.transaction_id),
                                                 meter_stop=3200, timestamp=at + dt.timedelta(minutes=45),
                                                 received_at=at + dt.timedelta(minutes=45))
    log(f"{sessions} sessions recorded in {time.perf_counter() - started:.1f} s")
    return db, cpam, agent.id


async def run(settings, sessions: int) -> None:  # type: ignore[no-untyped-def]
    from app.outbox import Relay
    from billing import charging

    db, cpam, agent_id = await prepare(settings, sessions)
    relay = Relay(db, settings=settings, subscribers=charging.SUBSCRIBERS)
    delivered, passes = 0, 0
    started = time.perf_counter()
    while delivered < sessions and passes < 10_000:
        done = await relay.run_once()
        assert done.failed == 0, done
        delivered += done.delivered
        passes += 1
    elapsed = time.perf_counter() - started
    async with db.session([cpam]) as session:
        account = await charging.account_of_user(session, cpam, agent_id)
    # 3,2 kWh × 0,30 € + 45 min × 0,02 € + 0,50 € = 2,36 € a session.
    expected = -Decimal("2.36") * sessions
    assert account is not None and account.balance == expected, (account and account.balance, expected)
    print(f"billing.charging-debit: {sessions} sessions priced and debited in {elapsed:.2f} s "  # noqa: T201
          f"({sessions / elapsed:.0f} sessions/s, {passes} relay passes); balance {account.balance} € as expected")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    name = "centrale_bench_charging"
    settings = create_database(name)  # Alembic runs its own event loop: before ours
    try:
        asyncio.run(run(settings, args.sessions))
    finally:
        if not args.keep_db:
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
