"""The reversibility export at scale on PostgreSQL (issue 16 §1: « a tenant with 10,000,000 meter values exports
at ≥ 50 MB/s of ZIP output with ≤ 200 MB peak memory »).

    .venv/bin/python bench/bench_export.py [--meter-values 1000000] [--db NAME] [--keep-db] [--check]

1. builds, in a fresh PostgreSQL database, the demo (every component's objects in every tenant) and adds
   ``--meter-values`` meter values to the CPAM tenant's first charger (one ``INSERT … SELECT generate_series`` as
   the table owner), or reuses ``--db`` (a database an earlier run kept with ``--keep-db``);
2. writes the tenant's archive through the command line's path (``tenants.reversibility.service.build_archive``)
   in a child process, so that its peak RSS (``resource.getrusage``) is the whole process's;
3. prints the seconds, the ZIP's size, MB/s of ZIP output, the rows per second and the peak RSS.

With ``--check`` the exit status is 1 when the ZIP is written at less than 50 MB/s or the peak RSS is over 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

TARGET_MB_S = 50.0
RSS_TARGET_MB = 200.0


def _ocpp() -> object:
    sys.path.insert(1, str(HERE))
    import bench_ocpp

    return bench_ocpp


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)  # noqa: T201


def build(name: str, meter_values: int) -> None:
    bench_ocpp = _ocpp()
    settings = bench_ocpp.create_database(name)
    started = time.perf_counter()

    async def demo() -> None:
        from app.composition import load_demo
        from app.db import Database

        db = Database(settings.database_url, pool_size=2)
        try:
            await load_demo(settings, db)
        finally:
            await db.dispose()

    asyncio.run(demo())
    bench_ocpp.psql(f"""
        INSERT INTO meter_values (tenant_id, id, charger_id, connector_id, transaction_id, ocpp_transaction_id,
                                  sampled_at, measurand, value, raw, unit, phase, location, context, received_at,
                                  offline)
        SELECT c.tenant_id, gen_random_uuid(), c.id, 1, NULL, '',
               timestamptz '2020-01-01 00:00:00+00' + make_interval(secs => g), 'Energy.Active.Import.Register',
               g * 0.5, '', 'Wh', '', 'Outlet', 'Sample.Periodic',
               timestamptz '2020-01-01 00:00:01+00' + make_interval(secs => g), false
        FROM generate_series(1, {int(meter_values)}) AS g,
             (SELECT ch.tenant_id, ch.id FROM chargers ch JOIN tenants t ON t.id = ch.tenant_id
              WHERE t.name LIKE 'CPAM%' ORDER BY ch.charge_box_id LIMIT 1) AS c""", name)
    bench_ocpp.psql("VACUUM ANALYZE meter_values", name)
    log(f"built {name} with {meter_values:,} meter values in {time.perf_counter() - started:.0f} s")


async def export(name: str, out: Path) -> dict[str, object]:
    import uuid

    from sqlalchemy import text

    from app.db import Database, utcnow
    from app.settings import Settings
    from tenants.reversibility.service import build_archive

    url = os.environ["BENCH_DATABASE_URL"]
    settings = Settings(database_url=url, database_admin_url=url, secret_key="bench-" + "x" * 40,
                        var_dir=out.parent)
    db = Database(url, pool_size=2)
    try:
        async with db.session() as session:
            tenant_id = uuid.UUID(str(await session.scalar(text("SELECT id FROM tenants WHERE name LIKE 'CPAM%'"))))
        started = time.perf_counter()
        with out.open("wb") as handle:
            result = await build_archive(db, settings, tenant_id, handle, now=utcnow())
        seconds = time.perf_counter() - started
    finally:
        await db.dispose()
    tables = result.manifest["tables"]
    return {"seconds": seconds, "zip_bytes": out.stat().st_size,  # noqa: ASYNC240 (after the export)
            "rows": sum(t["rows"] for t in tables.values()),
            "meter_values": tables["meter_values"]["rows"],
            "uncompressed_bytes": sum(f["bytes"] for f in result.manifest["files"])}


def child(args: argparse.Namespace) -> None:
    import resource

    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        figures = asyncio.run(export(args.db, Path(tmp) / "export.zip"))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    figures["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(figures))  # noqa: T201


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meter-values", type=int, default=1_000_000)
    parser.add_argument("--db", default="")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    bench_ocpp = _ocpp()
    name = args.db or "bench_export"
    if not args.db:
        build(name, args.meter_values)
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT), BENCH_DATABASE_URL=bench_ocpp.pg_url(name, bench_ocpp.APP_ROLE))
        out = subprocess.run([sys.executable, __file__, "--child", "--db", name], env=env, check=True,
                             capture_output=True, text=True)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if not args.db and not args.keep_db:
            bench_ocpp.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    seconds = figures["seconds"]
    mb_s = figures["zip_bytes"] / 1e6 / seconds
    print(f"  export of {figures['meter_values']:,} meter values ({figures['rows']:,} rows in all):")  # noqa: T201
    print(f"  {seconds:7.1f} s  ZIP {figures['zip_bytes'] / 1e6:7.1f} MB ({mb_s:5.1f} MB/s; target ≥ {TARGET_MB_S:.0f})"  # noqa: T201
          f"  uncompressed {figures['uncompressed_bytes'] / 1e6:7.1f} MB"
          f" ({figures['uncompressed_bytes'] / 1e6 / seconds:5.1f} MB/s)  {figures['rows'] / seconds:9,.0f} rows/s"
          f"  CPU {figures['cpu_seconds']:6.1f} s  peak RSS {figures['peak_rss_mb']:5.0f} MB"
          f" (target ≤ {RSS_TARGET_MB:.0f})")
    if args.check and (mb_s < TARGET_MB_S or figures["peak_rss_mb"] > RSS_TARGET_MB):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
