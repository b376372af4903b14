"""Embedded mode (``make run``) under heartbeats from an independent OCPP client.

    .venv/bin/python bench/bench_embedded.py [--stations 1000] [--interval 1.0] [--duration 30] [--check]

What a newcomer meets first: one ``centrale serve`` process (web app, OCPP ingress
and job worker in one event loop, SQLite file database, in-process bus), as
``make run`` starts it (migrated, demo loaded). Issue 11 §9:

1. migrates a fresh SQLite database in a temporary folder and loads the demo
   (``centrale db upgrade``, ``centrale demo load``);
2. registers ``--stations`` chargers with the bulk path of ``bench_ocpp.py``;
3. starts ``centrale serve``;
4. runs ``bench/ocpp_rpc_heartbeats.mjs`` (Node, the npm package ``ocpp-rpc``: none
   of our code, nor the Python ``ocpp`` library): every station connects and boots,
   then sends a Heartbeat every ``--interval`` seconds for ``--duration`` seconds;
   meanwhile ``/readyz`` (a database round trip through the web app) is asked once a
   second;
5. stops the server and checks that every acknowledged heartbeat is committed (each
   station's ``last_seen_at`` against the send time of its last answered heartbeat).

Target: p99 ≤ 250 ms at 1,000 stations × 1 Heartbeat/s. The exit status is 1 when a
heartbeat was lost or a process failed; with ``--check``, also when the target is
missed. Skipped (exit 0) when Node or ocpp-rpc is missing (``make node``, or ``OCPP_RPC_DIR``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_ocpp import PASSWORD, PREFIX, Proc, drive, free_port, log, register_fleet  # noqa: E402
from sqlalchemy import text  # noqa: E402

from app.db import Database  # noqa: E402
from app.settings import Settings  # noqa: E402

TARGET_STATIONS, TARGET_INTERVAL_S, TARGET_P99_MS = 1000, 1.0, 250.0
CLIENT = ROOT / "bench" / "ocpp_rpc_heartbeats.mjs"
#: Where ocpp-rpc is installed: tests/node (``make node``), or the folder ``OCPP_RPC_DIR`` names.
OCPP_RPC = Path(os.environ.get("OCPP_RPC_DIR") or ROOT / "tests" / "node") / "node_modules" / "ocpp-rpc" / "package.json"


def centrale(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(Path(sys.executable).parent / "centrale"), *args], env=env, cwd=ROOT, check=True,
                   capture_output=True, text=True)


async def heartbeats_not_seen(settings: Settings, acked_ms: dict[str, float]) -> int:
    """Stations whose ``last_seen_at`` is older than the send time of their last answered heartbeat."""
    db = Database(settings.database_url)
    try:
        async with db.engine.connect() as conn:
            rows = await conn.execute(text("SELECT charge_box_id, last_seen_at FROM chargers"))
            seen = {cbid: at for cbid, at in rows}
    finally:
        await db.dispose()
    late = 0
    for cbid, sent_ms in acked_ms.items():
        at = seen.get(cbid)
        if isinstance(at, str):  # SQLite through Core text(): naive UTC as text
            at = dt.datetime.fromisoformat(at)
        # The client's clock is the server's (one machine); milliseconds on both sides.
        if at is None or at.replace(tzinfo=dt.UTC).timestamp() * 1000 < sent_ms - 1:
            late += 1
    return late


def poll_web(url: str, stop: threading.Event, out: list[float], failures: list[str]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - localhost
                response.read()
            out.append((time.perf_counter() - started) * 1000)
        except Exception as exc:  # noqa: BLE001
            failures.append(type(exc).__name__)
        stop.wait(max(0.0, 1.0 - (time.perf_counter() - started)))


def run_client(args: argparse.Namespace, port: int, server: Proc, web_url: str) -> dict[str, Any]:
    """bench/ocpp_rpc_heartbeats.mjs against the server, ``/readyz`` asked once a second meanwhile."""
    command = ["node", str(CLIENT), "--url", f"ws://127.0.0.1:{port}/ocpp", "--stations", str(args.stations),
               "--prefix", PREFIX, "--password", PASSWORD, "--interval", str(int(args.interval * 1000)),
               "--duration", str(int(args.duration * 1000))]
    web_ms: list[float] = []
    web_failures: list[str] = []
    stop = threading.Event()

    def on_mark(name: str) -> None:
        if name == "booted":
            threading.Thread(target=poll_web, args=(web_url, stop, web_ms, web_failures), daemon=True).start()
        elif name == "sustained":
            stop.set()

    try:
        result = drive(command, server, on_mark=on_mark, phases=(("start", "booted"), ("booted", "sustained")))
    finally:
        stop.set()
    ordered = sorted(web_ms)
    result["web_readyz_ms"] = ({"n": len(ordered), "p50": round(statistics.median(ordered), 1),
                                "max": round(ordered[-1], 1)} if ordered else {})
    result["web_failures"] = len(web_failures)
    return result


def report(result: dict[str, Any], late: int, args: argparse.Namespace, load: tuple[float, float, float]) -> bool:
    latency = result["latency_ms"]
    sustained = result["phases"].get("sustained", {})
    answered = result["heartbeats_answered"]
    cpu_ms = 1000 * sustained["server_cpu_seconds"] / answered if answered and sustained else None
    web = result["web_readyz_ms"]
    rows = [
        ("stations booted (Boot + Status, ocpp-rpc)", f"{result['stations_booted']:,} of {result['stations_requested']:,}"),
        ("boot (connect concurrency 50)", f"{result['boot_seconds']:.1f} s"),
        ("heartbeats sent / answered", f"{result['heartbeats_sent']:,} / {answered:,}"),
        ("answered", f"{result['answered_per_s']:,.1f} msg/s"),
        ("Heartbeat p50 / p95 / p99 / max", f"{latency['p50']} / {latency['p95']} / {latency['p99']} / {latency['max']} ms"),
        ("server CPU, boot / heartbeats", f"{result['phases'].get('booted', {}).get('server_cpu_percent', '–')} / "
                                          f"{sustained.get('server_cpu_percent', '–')} % of a core"),
        ("server CPU per heartbeat", f"{cpu_ms:.3f} ms" if cpu_ms is not None else "–"),
        ("machine busy, heartbeats", f"{sustained.get('machine_busy_percent', '–')} % of 2 cores"),
        ("server peak memory (VmHWM)", f"{result['server_hwm_kib'] / 1024:.1f} MiB"),
        ("web /readyz during the run, p50 / max", f"{web.get('p50', '–')} / {web.get('max', '–')} ms"
                                                    f" ({web.get('n', 0)} requests, {result['web_failures']} failed)"),
        ("errors", ", ".join(f"{k}: {v}" for k, v in result["errors"].items()) or "0"),
        ("acknowledged heartbeats not committed", f"{late}"),
    ]
    width = max(len(label) for label, _ in rows) + 2
    print(f"\nEmbedded mode (centrale serve: web + ingress + worker, SQLite) — {args.stations:,} stations, "  # noqa: T201
          f"a Heartbeat every {args.interval:g} s each for {args.duration:g} s; load average before: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)\n")
    for label, value in rows:
        print(f"{label:{width}}{value:>44}")  # noqa: T201
    met = latency["p99"] is not None and latency["p99"] <= TARGET_P99_MS
    print(f"\ntarget (issue 11 §9): Heartbeat p99 ≤ {TARGET_P99_MS:g} ms at {TARGET_STATIONS:,} stations × "  # noqa: T201
          f"1/{TARGET_INTERVAL_S:g} s: {latency['p99']} ms {'PASS' if met else 'FAIL'}"
          + ("" if args.stations == TARGET_STATIONS and args.interval == TARGET_INTERVAL_S else " (not the target's load)"))
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=TARGET_STATIONS)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--interval", type=float, default=TARGET_INTERVAL_S, help="seconds between a station's heartbeats")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of heartbeats")
    parser.add_argument("--json", metavar="FILE", help="also write the raw results to FILE")
    parser.add_argument("--check", action="store_true", help="exit status 1 when the target is missed")
    args = parser.parse_args(argv)
    if shutil.which("node") is None or not OCPP_RPC.exists():
        print("bench_embedded: skipped, Node or ocpp-rpc is not installed (make node)")  # noqa: T201
        return 0

    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="centrale-embedded-"))
    settings = Settings(database_url=f"sqlite+aiosqlite:///{work}/centrale.db", var_dir=work,
                        secret_key="bench-" + "x" * 40)
    ocpp_port, http_port = free_port(), free_port()
    env = {**os.environ, "CENTRALE_DATABASE_URL": settings.database_url, "CENTRALE_VAR_DIR": str(work),
           "CENTRALE_SECRET_KEY": settings.secret_key, "CENTRALE_REDIS_URL": "", "CENTRALE_OCPP_HOST": "127.0.0.1",
           "CENTRALE_OCPP_PORT": str(ocpp_port), "CENTRALE_HTTP_HOST": "127.0.0.1", "CENTRALE_HTTP_PORT": str(http_port)}
    env.pop("CENTRALE_DATABASE_ADMIN_URL", None)
    server = None
    try:
        log(f"load average {load[0]:.2f}; migrating a SQLite database in {work} and loading the demo")
        centrale("db", "upgrade", env=env)
        centrale("demo", "load", env=env)
        log(f"registering {args.stations:,} stations over {args.tenants} tenants (bulk)")
        asyncio.run(register_fleet(settings, args.stations, args.tenants))
        server = Proc([str(Path(sys.executable).parent / "centrale"), "serve", "--no-banner"], env=env,
                      log_path=work / "serve.log")
        server.wait_port(http_port)
        server.wait_log("ingress OCPP à l'écoute", 1)
        log(f"centrale serve pid {server.pid} (web :{http_port}, OCPP :{ocpp_port}); ocpp-rpc: {args.stations:,} stations")
        result = run_client(args, ocpp_port, server, f"http://127.0.0.1:{http_port}/readyz")
        acked = result.pop("heartbeat_acked_at")
        code = server.stop()
        log(f"server stopped ({code}); reading last_seen_at")
        late = asyncio.run(heartbeats_not_seen(settings, acked))
        met = report(result, late, args, load)
        if args.json:
            Path(args.json).write_text(json.dumps({"result": result, "heartbeats_not_seen": late,
                                                   "load_before": load, "args": vars(args)}, indent=2))
        if late or code not in (0, None) or result["stations_booted"] < args.stations:
            return 1
        if args.check and not met:
            return 1
        return 0
    finally:
        if server is not None:
            server.stop(10)
        log(f"logs in {work}")


if __name__ == "__main__":
    sys.exit(main())
