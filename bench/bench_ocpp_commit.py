"""The ingress's group commit alone, replayed: CPU and PostgreSQL round trips per commit and per message.

    .venv/bin/python bench/bench_ocpp_commit.py [--commits 3000] [--units 4] [--stations 200]

``bench_ocpp.py`` measures the ingress end to end, but its CPU per message depends on
the size of the group commits, which depends on what else runs on the machine (a
busy machine makes bigger batches, hence less CPU per message). This replay fixes
the batch: ``--commits`` group commits of ``--units`` messages each, from as many
stations of 10 tenants, in the load generator's mix (MeterValues 60 %, Heartbeat 20 %,
StatusNotification 20 %, the same payloads), through the ingress's own writer
(``csms.domain.writer.GroupCommitWriter`` on its answer pool: no pre-ping, three
workers) and the handlers' units (``csms.domain.recording``, ``touch_later``). No
websocket, no frame checks, no bus: what a group commit costs.

It prints the CPU seconds of this process (user + system: the socket sends to
PostgreSQL are kernel time) per commit and per message, and the statements sent per
commit (SQLAlchemy's ``before_cursor_execute``: the statements and any ``set_config``
sent on its own; a transaction's ``BEGIN`` and ``COMMIT`` are one round trip each on
top). Run two commits' versions alternately to compare them (docs/ocpp.md « Figures »).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_ocpp import PREFIX, create_database, psql, register_fleet  # noqa: E402
from sqlalchemy import event  # noqa: E402

from app.db import Database, utcnow  # noqa: E402

#: The load generator's mix (bench/ocpp_loadgen.py), as a fixed cycle: 3 MeterValues, 1 Heartbeat, 1 Status.
MIX = ("MeterValues", "Heartbeat", "MeterValues", "StatusNotification", "MeterValues")


async def replay(settings: Any, args: argparse.Namespace) -> dict[str, float]:
    from csms.domain import recording
    from csms.domain.writer import GroupCommitWriter, touch_later

    db = Database(settings.database_url, pool_size=4, reset_on_return=False)
    db.engine.sync_engine.pool._pre_ping = False  # as the ingress's answer pool  # noqa: SLF001
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    async with db.session() as session:
        refs = list((await recording.load_stations(session, [f"{PREFIX}{i:05d}" for i in range(args.stations)])).values())
    refs = [ref for ref, _hash in refs]
    writer = GroupCommitWriter(db, workers=3)
    await writer.start()
    meter: dict[Any, int] = {}
    sent = [0]

    def unit(ref: Any, kind: str, now: dt.datetime) -> Any:
        if kind == "Heartbeat":
            return lambda s: touch_later(s, ref.tenant_id, ref.charger_id, now)
        if kind == "StatusNotification":
            status = ("Available", "Preparing", "Charging")[sent[0] % 3]
            return lambda s: recording.record_status(s, ref, connector_id=1, status=status, error_code="",
                                                     timestamp=now, received_at=now)
        meter[ref.charger_id] = meter.get(ref.charger_id, 0) + 10
        stamp = now.isoformat().replace("+00:00", "Z")
        values = [{"timestamp": stamp, "sampled_value": [
            {"value": str(meter[ref.charger_id]), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "3000", "measurand": "Power.Active.Import", "unit": "W"}]}]
        return lambda s: recording.record_meter_values(s, ref, connector_id=1, transaction_id=None,
                                                       meter_values=values, received_at=now)

    async def commits(count_: int) -> None:
        for _ in range(count_):
            now = utcnow()
            futures = []
            for _u in range(args.units):
                ref = refs[sent[0] % len(refs)]
                kind = MIX[sent[0] % len(MIX)]
                sent[0] += 1
                futures.append(writer.enqueue(ref.tenant_id, unit(ref, kind, now), actor=ref.actor))
            await asyncio.gather(*futures)

    try:
        await commits(max(50, args.commits // 10))  # warm-up: prepared statements, caches
        statements[0] = 0
        batches = writer.stats.batches
        cpu, wall = time.process_time(), time.perf_counter()
        await commits(args.commits)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        batches = writer.stats.batches - batches
    finally:
        await writer.stop()
        await db.dispose()
    messages = args.commits * args.units
    return {"cpu_s": cpu, "wall_s": wall, "commits": batches, "messages": messages,
            "cpu_ms_per_commit": 1000 * cpu / batches, "cpu_ms_per_message": 1000 * cpu / messages,
            "statements_per_commit": statements[0] / batches}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--units", type=int, default=4, help="messages per group commit")
    parser.add_argument("--stations", type=int, default=200)
    args = parser.parse_args(argv)
    if args.units > args.stations:
        parser.error("--units must not exceed --stations (one message per station and commit)")
    load = os.getloadavg()
    name = f"centrale_bench_commit_{os.getpid()}"
    try:
        settings = create_database(name)
        asyncio.run(register_fleet(settings, args.stations, 10))
        figures = asyncio.run(replay(settings, args))
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"group commits of {args.units} messages (MeterValues 60 %, Heartbeat 20 %, StatusNotification 20 %), "  # noqa: T201
          f"{figures['commits']:,} commits, load average before {load[0]:.2f}")
    print(f"  CPU per commit    {figures['cpu_ms_per_commit']:.3f} ms")  # noqa: T201
    print(f"  CPU per message   {figures['cpu_ms_per_message']:.4f} ms")  # noqa: T201
    print(f"  statements sent per commit (+ BEGIN and COMMIT)  {figures['statements_per_commit']:.2f}")  # noqa: T201
    print(f"  wall {figures['wall_s']:.1f} s, CPU {figures['cpu_s']:.1f} s")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
