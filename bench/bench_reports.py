"""The coordinator's semester report at scale on PostgreSQL (issue 15 « Speed »: « 500 beneficiaries and 1,000,000
order lines in PostgreSQL: the semester XLSX in ≤ 45 s with ≤ 150 MB peak memory for the whole process, the ODS in
≤ 90 s »).

    .venv/bin/python bench/bench_reports.py [--tenants 500] [--orders 200] [--db NAME] [--keep-db]
                                            [--profile] [--baseline DIR] [--check]

1. builds the orders of ``bench_orders.py`` (500 beneficiaries of the CPAM central, 100,000 orders of 10 lines:
   1,000,018 order lines with the demo's) in a fresh PostgreSQL database, or reuses ``--db`` (one a previous run
   kept with ``--keep-db``);
2. reads the source lines alone (``catalog.services.ordered_lines_of_central``, the query and the rows' building:
   the floor under any writer);
3. makes the semester report through the job's path (``reporting.services.request_report`` then
   ``generate_report``: the XLSX, the ODS and the CSV in one pass, as the job does), in a child process so that
   its peak RSS (``VmHWM``) is the whole process's and no one else's; the writer logs the time of each
   format (``reporting.workbook``'s timings: the source sheet's XLSX, ODS and CSV rows, the aggregates, the
   files' assembly);
4. ``--profile``: the same under cProfile (its 25 most expensive functions by own time; cProfile slows it down);
   ``--baseline DIR``: the same report made by the code in ``DIR`` first (a ``git archive`` of an older commit),
   so the ratio is measured at the same load.

With ``--check`` the exit status is 1 when the whole report takes more than 90 s (the ODS's target; the XLSX's 45 s
is the part the timings attribute to it), or the peak RSS is over 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The code the report is made with: this tree, or ``--baseline``'s (the child process is given it; it imports
#: nothing from ``bench_ocpp``, which puts this tree first on the path).
ROOT = Path(os.environ.get("BENCH_CODE") or HERE.parent)
sys.path.insert(0, str(ROOT))

XLSX_TARGET_S = 45.0
ODS_TARGET_S = 90.0
RSS_TARGET_MB = 150.0


def _bench() -> object:
    """``bench_ocpp`` and ``bench_orders`` (the parent process only)."""
    sys.path.insert(1, str(HERE))
    import bench_ocpp
    import bench_orders

    return bench_ocpp, bench_orders


def settings_of(name: str, var_dir: Path) -> object:
    from app.settings import Settings

    url = os.environ.get("BENCH_DATABASE_URL") or _bench()[0].pg_url(name, _bench()[0].APP_ROLE)
    return Settings(database_url=url, database_admin_url=url, secret_key="bench-" + "x" * 40, var_dir=var_dir)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)  # noqa: T201


def psql(sql: str, db: str) -> str:
    return _bench()[0].psql(sql, db)


def build(name: str, tenants: int, orders: int) -> None:
    bench_ocpp, bench_orders = _bench()
    clone_sql, populate = bench_orders.clone_sql, bench_orders.populate
    settings = bench_ocpp.create_database(name)
    started = time.perf_counter()
    asyncio.run(populate(settings, tenants, orders))
    for statement in clone_sql(orders):
        psql(statement, name)
    log(f"built {name} in {time.perf_counter() - started:.0f} s")


async def _central(db: object) -> tuple[object, object]:
    from sqlalchemy import select

    from tenants.models import Central, FrameworkAgreement

    async with db.transaction(actor={"user_id": None, "label": "banc"}) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(
            FrameworkAgreement.reference == "2025-CPAM72-IRVE"))
        return await session.get(Central, agreement.central_id), agreement


async def read_only(name: str) -> dict[str, float]:
    """The source lines read and built, nothing written."""
    import datetime as dt

    from app.db import Database
    from catalog import services as catalog
    from tenants.services import tenant_ids_of_central

    settings = settings_of(name, Path("var"))
    db = Database(settings.database_url, pool_size=2)
    try:
        central, _agreement = await _central(db)
        async with db.transaction(actor={"user_id": None, "label": "banc"}) as session:
            tenant_ids = await tenant_ids_of_central(session, central.id)
        started, count = time.perf_counter(), 0
        async with db.transaction(tenant_ids, actor={"user_id": None, "label": "banc"}) as session:
            async for _line in catalog.ordered_lines_of_central(session, central.id, up_to=dt.date.today().replace(month=12, day=31)):
                count += 1
        return {"lines": count, "seconds": time.perf_counter() - started}
    finally:
        await db.dispose()


async def report(name: str, var_dir: Path) -> dict[str, object]:
    import datetime as dt
    import logging

    from app.db import Database
    from reporting import services

    timings: dict[str, object] = {}

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            timings.update(getattr(record, "timings", {}) or {})

    logging.getLogger("reporting").addHandler(Capture())
    logging.getLogger("reporting").setLevel(logging.INFO)
    settings = settings_of(name, var_dir)
    db = Database(settings.database_url, pool_size=2)
    now = dt.datetime.now(dt.UTC)
    try:
        central, _agreement = await _central(db)
        async with db.transaction(actor={"user_id": None, "label": "banc"}) as session:
            made = await services.request_report(session, central, {"year": now.year, "half": 1 + (now.month > 6)},
                                                 created_by="banc", now=now)
        started = time.perf_counter()
        done = await services.generate_report(db, settings, made.id)
        seconds = time.perf_counter() - started
        assert done is not None and done.status == "done", done and done.error
        return {"seconds": seconds, "lines": done.line_count,
                "sizes": {fmt: info["size"] for fmt, info in done.files.items()}, "timings": timings}
    finally:
        await db.dispose()


def peak_rss_mb() -> float:
    """This process's peak RSS: ``VmHWM``, not ``getrusage``'s ``ru_maxrss``, which Linux carries over from the
    parent across the fork and the exec (a parent larger than the child would be its peak)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def child(args: argparse.Namespace) -> None:
    """One report in this process; prints its figures as JSON."""
    import resource
    import tempfile

    import odf.opendocument  # noqa: F401  (what the job has imported before it starts)
    import xlsxwriter  # noqa: F401

    import reporting.services  # noqa: F401

    imported = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            figures = profiler.runcall(asyncio.run, report(args.db, Path(tmp)))
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("tottime").print_stats(25)
        else:
            figures = asyncio.run(report(args.db, Path(tmp)))
    import reporting

    figures["code"] = str(Path(reporting.__file__).resolve().parent.parent)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["peak_rss_mb"] = peak_rss_mb()
    figures["imports_rss_mb"] = imported
    figures["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(figures))  # noqa: T201


def run_child(db: str, *, code: Path | None = None, profile: bool = False) -> dict[str, object]:
    bench_ocpp = _bench()[0]
    env = dict(os.environ, BENCH_CODE=str(code or ROOT), PYTHONPATH=str(code or ROOT),
               BENCH_DATABASE_URL=bench_ocpp.pg_url(db, bench_ocpp.APP_ROLE))
    command = [sys.executable, __file__, "--child", "--db", db, *(["--profile"] if profile else [])]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    if profile:
        sys.stderr.write(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def show(label: str, figures: dict[str, object]) -> None:
    lines, seconds = figures["lines"], figures["seconds"]
    sizes = ", ".join(f"{fmt} {size / 1e6:.1f} MB" for fmt, size in figures["sizes"].items())
    print(f"  {label} ({figures['code']}):")  # noqa: T201
    print(f"  {'':<9} {seconds:6.1f} s  {lines / seconds:8,.0f} lines/s  CPU {figures['cpu_seconds']:6.1f} s  "  # noqa: T201
          f"peak RSS {figures['peak_rss_mb']:5.0f} MB, {figures.get('imports_rss_mb', 0):.0f} MB of it once the job's "
          f"modules are imported  ({sizes})")
    parts = figures.get("timings") or {}
    if parts:
        print("            " + ", ".join(f"{k} {v:.1f} s" for k, v in parts.items()  # noqa: T201
                                          if isinstance(v, float)))


def xlsx_alone(timings: dict[str, float]) -> float | None:
    """The XLSX's part of the job: everything but the ODS's and the CSV's rows and the ODS's ZIP (an estimate:
    the two ZIPs are deflated at once, on the two cores)."""
    if "read_and_write" not in timings:
        return None
    return (timings["read_and_write"] - timings.get("ods_rows", 0) - timings.get("csv_rows", 0)
            + timings.get("aggregated_sheets", 0) + timings.get("xlsx_zip", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--db", help="a database a previous run kept (--keep-db): not built again, not dropped")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--baseline", type=Path, help="a tree of older code to make the same report with first")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    name, built = args.db or f"centrale_bench_reports_{os.getpid()}", not args.db
    if built:
        build(name, args.tenants, args.orders)
    try:
        counts = psql("SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM purchase_orders), "
                      "(SELECT count(*) FROM purchase_order_lines)", name).split("|")
        read = asyncio.run(read_only(name))
        before = run_child(name, code=args.baseline) if args.baseline else None
        after = run_child(name, profile=args.profile)
    finally:
        if built and not args.keep_db:
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', "postgres")
        elif built:
            log(f"kept {name}: --db {name}")
    load = os.getloadavg()
    print(f"Semester report ({counts[0]} tenants, {counts[1]} orders, {counts[2]} lines); "  # noqa: T201
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"  source lines read alone: {read['lines']:,} in {read['seconds']:.1f} s "  # noqa: T201
          f"({read['lines'] / read['seconds']:,.0f} lines/s)")
    if before:
        show("before", before)
    show("report", after)
    if before:
        print(f"  ratio: {before['seconds'] / after['seconds']:.2f}× faster "  # noqa: T201
              f"({before['cpu_seconds'] / after['cpu_seconds']:.2f}× less CPU time), peak RSS "
              f"{before['peak_rss_mb']:.0f} → {after['peak_rss_mb']:.0f} MB")
    xlsx = xlsx_alone(after.get("timings") or {})
    print(f"  targets: XLSX ≤ {XLSX_TARGET_S:.0f} s" + (f" (its part, estimated: {xlsx:.1f} s)" if xlsx else "")  # noqa: T201
          + f", ODS ≤ {ODS_TARGET_S:.0f} s (the whole report: {after['seconds']:.1f} s), "
          f"peak RSS ≤ {RSS_TARGET_MB:.0f} MB ({after['peak_rss_mb']:.0f} MB)")
    failed = after["seconds"] > ODS_TARGET_S or after["peak_rss_mb"] > RSS_TARGET_MB or (
        xlsx is not None and xlsx > XLSX_TARGET_S)
    sys.exit(1 if args.check and failed else 0)


if __name__ == "__main__":
    main()
