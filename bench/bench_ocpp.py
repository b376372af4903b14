"""OCPP ingress end to end on PostgreSQL, against a bare websockets echo server in the same run.

    .venv/bin/python bench/bench_ocpp.py [--stations 10000] [--rate 2000] [--warmup 5] [--duration 20]
        [--saturation-rate 5000] [--saturation-duration 30] [--check]

Issue 3, section 6 « Speed, measured »:

1. creates a fresh PostgreSQL database (migrated; the ingress connects as the
   application role, under row-level security, as in production);
2. registers ``--stations`` chargers over ``--tenants`` tenants with a bulk path
   (Core inserts of sites, stations, chargers, points and routes; no audit rows:
   this is a fixture, not the registry workflow; the passwords are hashed with the
   registry's own scheme);
3. starts ``centrale ingress`` as a subprocess (Redis bus unless ``--no-redis``);
4. runs ``bench/ocpp_loadgen.py`` in its own process (plain websockets clients, none
   of the server's code): every station connects and boots (BootNotification +
   StatusNotification), then a mixed load (Heartbeat 20 %, StatusNotification 20 %,
   MeterValues 60 %) at ``--rate`` messages per second for ``--warmup`` seconds, not
   measured (the boot storm's tail: commits still queued, first touches), then for
   ``--duration`` seconds, measured (latencies, rates, the server's CPU), then the same mix at ``--saturation-rate`` (more than one process answers) for
   ``--saturation-duration`` seconds;
5. reads the ingress's peak memory (``VmHWM``) and CPU time, stops it, and checks
   that everything acknowledged is committed (rows in PostgreSQL against the
   CallResults the load generator received);
6. runs the same load against ``bench/echo_server.py`` and prints the ratios.

Targets (issue 11 §9), as ratios to the echo server measured in the same run, which
two shared cores can show (the load generator, PostgreSQL and Redis share them):
CPU per acknowledged message ≤ 4 × the echo server's at ``--rate`` (2,000 msg/s
offered), p99 ≤ 100 ms there, and an answered rate ≥ 0.6 × the echo server's at
saturation; and 10,000 stations held by one ingress, a boot storm of 10,000 answered
in ≤ 30 s. The machine is shared: the load average is printed first. The exit
status is 1 when a message was lost (acknowledged but not committed) or a
subprocess failed; with ``--check``, also when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from app.db import Database, utcnow  # noqa: E402
from app.settings import Settings  # noqa: E402

PG_HOST = os.environ.get("CENTRALE_BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CENTRALE_BENCH_PG_PORT", "5432"))
REDIS_URL = os.environ.get("CENTRALE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
APP_ROLE = "centrale_app"
PASSWORD = "Bench-station-secret-2026"  # noqa: S105 - a fixture
PREFIX = "BENCH"
CHARGERS_PER_STATION = 10
STATIONS_PER_SITE = 99
TARGET_STATIONS, TARGET_BOOT_S, TARGET_P99_MS = 10_000, 30.0, 100.0
#: CPU per acknowledged message against the echo server's at ``--rate``; answered rate at saturation.
TARGET_CPU_RATIO, TARGET_RATE_RATIO = 4.0, 0.6
MEASURED_RATE, SATURATION_RATE = 2_000, 5_000
PAYLOAD_SAMPLES = 2  # sampled values per MeterValues of the load generator


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)  # noqa: T201


def psql(sql: str, db: str = "postgres") -> str:
    out = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def pg_url(db: str, user: str) -> str:
    return f"postgresql+asyncpg://{user}@{PG_HOST}:{PG_PORT}/{db}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- database and fleet


def create_database(name: str) -> Settings:
    from app.migrate import upgrade

    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{name}"')
    settings = Settings(database_url=pg_url(name, APP_ROLE), database_admin_url=pg_url(name, "postgres"),
                        secret_key="bench-" + "x" * 40)
    upgrade(settings)
    return settings


def siret(number: int) -> str:
    """A SIRET with a valid Luhn key (tenants must be identified)."""
    base = f"9{number:012d}"
    for key in range(10):
        digits = [int(c) for c in base + str(key)]
        total = sum(d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
        if total % 10 == 0:
            return base + str(key)
    raise AssertionError("unreachable")


def charge_box_id(index: int) -> str:
    return f"{PREFIX}{index:05d}"  # the load generator's naming


async def register_fleet(settings: Settings, stations: int, tenants: int) -> None:
    """Bulk registration: Core ``INSERT``s as the table owner (column defaults applied, no audit)."""
    try:
        from csms.domain.identifiers import charger_id, point_id, station_id
        from csms.domain.models import ChargeBoxRoute, ChargePoint, Charger, Station
        from csms.domain.registry import hash_station_password
    except ImportError:  # csms before its split (issue 11 §5): to run this bench on an older commit
        from csms.identifiers import charger_id, point_id, station_id  # type: ignore[no-redef]
        from csms.models import ChargeBoxRoute, ChargePoint, Charger, Station  # type: ignore[no-redef]
        from csms.registry import hash_station_password  # type: ignore[no-redef]
    from tenants.models import Site, Tenant

    db = Database(settings.admin_url, pool_size=1)
    now = utcnow()
    rows: dict[Any, list[dict[str, Any]]] = {Tenant: [], Site: [], Station: [], Charger: [], ChargePoint: [],
                                            ChargeBoxRoute: []}
    tenant_ids = [uuid.uuid4() for _ in range(tenants)]
    for number, tenant_id in enumerate(tenant_ids, 1):
        rows[Tenant].append({"id": tenant_id, "name": f"Bénéficiaire du banc {number}", "siret": siret(number),
                             "insee_code": "72181",
                             "city": "Le Mans", "created_at": now})
    per_tenant: dict[uuid.UUID, int] = dict.fromkeys(tenant_ids, 0)
    sites: dict[tuple[uuid.UUID, int], uuid.UUID] = {}
    station_rows: dict[tuple[uuid.UUID, int, int], uuid.UUID] = {}
    for index in range(stations):
        tenant_id = tenant_ids[index % tenants]
        k = per_tenant[tenant_id]
        per_tenant[tenant_id] += 1
        site_no, rest = divmod(k, STATIONS_PER_SITE * CHARGERS_PER_STATION)
        station_no, charger_no = divmod(rest, CHARGERS_PER_STATION)
        station_no, charger_no = station_no + 1, charger_no + 1
        building = f"{site_no + 1:04d}"
        if (tenant_id, site_no) not in sites:
            sites[tenant_id, site_no] = site = uuid.uuid4()
            rows[Site].append({"tenant_id": tenant_id, "id": site, "name": f"Parking {site_no + 1}",
                               "insee_code": "72181", "building_code": building, "city": "Le Mans"})
        site = sites[tenant_id, site_no]
        if (tenant_id, site_no, station_no) not in station_rows:
            station_rows[tenant_id, site_no, station_no] = sid = uuid.uuid4()
            rows[Station].append({"tenant_id": tenant_id, "id": sid, "site_id": site, "number": station_no,
                                  "canonical_id": station_id("72181", building, station_no).canonical,
                                  "name": f"Le Mans – station {station_no:02d}"})
        cid = uuid.uuid4()
        cbid = charge_box_id(index)
        rows[Charger].append({
            "tenant_id": tenant_id, "id": cid, "station_id": station_rows[tenant_id, site_no, station_no],
            "number": charger_no, "canonical_id": charger_id("72181", building, station_no, charger_no).canonical,
            "charge_box_id": cbid, "password_hash": hash_station_password(PASSWORD), "lenient": False,
        })
        rows[ChargePoint].append({
            "tenant_id": tenant_id, "id": uuid.uuid4(), "charger_id": cid, "connector_id": 1,
            "canonical_id": point_id("72181", building, station_no, charger_no, 1).canonical, "power_kw": 22.0,
            "socket_types": "T2", "usage_name": f"Le Mans – point {charger_no:02d}.01",
        })
        rows[ChargeBoxRoute].append({"charge_box_id": cbid, "tenant_id": tenant_id, "charger_id": cid})
    try:
        async with db.engine.begin() as conn:
            for model, values in rows.items():
                for start in range(0, len(values), 2000):
                    await conn.execute(insert(model.__table__), values[start:start + 2000])
    finally:
        await db.dispose()


# --------------------------------------------------------------------------- processes


class Proc:
    """A subprocess whose CPU time and peak memory are read from /proc."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.popen = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def family(self) -> list[int]:
        """This process and its descendants (``centrale ingress --processes N`` forks its workers)."""
        pids, index = [self.pid], 0
        while index < len(pids):
            with contextlib.suppress(OSError):
                pids += [int(p) for p in Path(f"/proc/{pids[index]}/task/{pids[index]}/children").read_text().split()]
            index += 1
        return pids

    def cpu_times(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the process and its workers."""
        user = system = 0.0
        for pid in self.family():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            user += int(fields[11]) / os.sysconf("SC_CLK_TCK")  # utime
            system += int(fields[12]) / os.sysconf("SC_CLK_TCK")  # stime
        return user, system

    def cpu_seconds(self) -> float:
        return sum(self.cpu_times())

    def memory_kib(self, key: str) -> int:
        """Summed over the process and its workers (for VmHWM: the sum of each one's peak)."""
        total = 0
        for pid in self.family():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total

    def wait_log(self, text_: str, count: int, timeout: float = 90) -> None:
        """Until ``text_`` appears ``count`` times in the log (every worker listening)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_path.read_text(errors="replace").count(text_) >= count:
                return
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.popen.args[0]} exited ({self.popen.returncode}); see {self.log_path}")
            time.sleep(0.2)
        raise RuntimeError(f"{count} × « {text_} » not logged after {timeout} s; see {self.log_path}")

    def wait_port(self, port: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.popen.args[0]} exited ({self.popen.returncode}); see {self.log_path}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
            time.sleep(0.2)
        raise RuntimeError(f"port {port} not listening after {timeout} s; see {self.log_path}")

    def stop(self, timeout: float = 60) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode


def machine_busy() -> tuple[float, float]:
    """(busy jiffies, total jiffies) of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def drive(command: list[str], server: Proc, *, on_mark: Any = None,
          phases: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """Run a load generator in its own process; the server's CPU is sampled at each of the
    ``phase NAME`` lines it writes on stderr (``on_mark(NAME)`` is called there too). Returns the
    last JSON line it prints, with the server's CPU over each ``(begin, end)`` of ``phases``."""
    marks: dict[str, tuple[float, tuple[float, float], tuple[float, float]]] = {}

    def mark(name: str) -> None:
        marks[name] = (time.perf_counter(), server.cpu_times(), machine_busy())
        if on_mark is not None:
            on_mark(name)

    mark("start")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak_rss = [0]

    def watch_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("phase "):
                mark(line.split()[1])
            else:
                sys.stderr.write(line)

    def watch_memory() -> None:
        while proc.poll() is None:
            peak_rss[0] = max(peak_rss[0], server.memory_kib("VmRSS"))
            time.sleep(0.5)

    threads = [threading.Thread(target=watch_stderr, daemon=True), threading.Thread(target=watch_memory, daemon=True)]
    for thread in threads:
        thread.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait()
    threads[0].join(5)
    mark("end")
    if proc.returncode != 0:
        raise RuntimeError(f"load generator {Path(command[1]).name} failed ({proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    figures = {}
    for begin, end in phases:
        if begin in marks and end in marks:
            (t0, (u0, s0), (b0, a0)), (t1, (u1, s1), (b1, a1)) = marks[begin], marks[end]
            figures[end] = {"server_cpu_percent": round(100 * (u1 - u0 + s1 - s0) / (t1 - t0), 1),
                            "server_cpu_seconds": round(u1 - u0 + s1 - s0, 3),
                            "server_system_cpu_seconds": round(s1 - s0, 3),
                            "machine_busy_percent": round(100 * (b1 - b0) / max(1, a1 - a0), 1)}
    result["phases"] = figures
    result["server_rss_kib"] = peak_rss[0]
    result["server_hwm_kib"] = server.memory_kib("VmHWM")
    result["server_cpu_seconds"] = round(server.cpu_seconds(), 1)
    return result


def run_loadgen(url: str, args: argparse.Namespace, server: Proc, *, echo: bool) -> dict[str, Any]:
    """bench/ocpp_loadgen.py against ``url``: boot storm, sustained phase, saturation phase."""
    command = [sys.executable, str(ROOT / "bench" / "ocpp_loadgen.py"), "--url", url, "--stations", str(args.stations),
               "--prefix", PREFIX, "--rate", str(args.rate), "--duration", str(args.duration),
               "--warmup", str(args.warmup),
               "--connect-concurrency", str(args.connect_concurrency), "--json",
               "--saturation-rate", str(args.saturation_rate), "--saturation-duration", str(args.saturation_duration)]
    command += ["--echo"] if echo else ["--password", PASSWORD]
    measured_from = "warmed" if args.warmup > 0 else "booted"  # the server's CPU from the end of the warm-up
    return drive(command, server, phases=(("start", "booted"), (measured_from, "sustained"), ("sustained", "saturation")))


# --------------------------------------------------------------------------- checks


async def committed(settings: Settings, heartbeats: dict[str, float]) -> dict[str, int]:
    """What PostgreSQL holds after the run (read as the table owner, all tenants)."""
    db = Database(settings.admin_url, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            counts = {
                "BootNotification": await conn.scalar(text("SELECT count(*) FROM station_events WHERE kind = 'boot'")),
                "StatusNotification": await conn.scalar(text("SELECT count(*) FROM status_events")),
                "MeterValues": await conn.scalar(text("SELECT count(*) FROM meter_values")) // PAYLOAD_SAMPLES,
                "connections": await conn.scalar(text("SELECT count(*) FROM charger_connections")),
            }
            ids = list(heartbeats)
            stamps = [heartbeats[i] for i in ids]
            counts["heartbeats_not_seen"] = await conn.scalar(text(
                "SELECT count(*) FROM unnest(CAST(:ids AS text[]), CAST(:stamps AS float8[])) AS h(cbid, sent) "
                "JOIN chargers c ON c.charge_box_id = h.cbid "
                "WHERE c.last_seen_at IS NULL OR c.last_seen_at < to_timestamp(h.sent)"
            ), {"ids": ids, "stamps": stamps})
            counts["heartbeats_acknowledged"] = len(ids)
    finally:
        await db.dispose()
    return counts


def check_committed(result: dict[str, Any], counts: dict[str, int]) -> list[str]:
    """Problems: an acknowledged message that is not in the database."""
    problems = []
    acked = result["acknowledged"]
    lost_answers = bool(result["errors"])
    for action in ("BootNotification", "StatusNotification", "MeterValues"):
        rows, ok = counts[action], acked.get(action, 0)
        if rows < ok or (rows != ok and not lost_answers):
            problems.append(f"{action}: {ok} acknowledged, {rows} committed")
    if counts["heartbeats_not_seen"]:
        problems.append(f"Heartbeat: {counts['heartbeats_not_seen']} stations' last_seen_at older than an acknowledged heartbeat")
    return problems


# --------------------------------------------------------------------------- report


def _fmt(value: Any, unit: str = "") -> str:
    if isinstance(value, float):
        value = f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{unit}"


def cpu_per_message_ms(result: dict[str, Any], phase: str = "sustained") -> float | None:
    """Server CPU (user + system) per acknowledged message over a phase, in ms."""
    figures = result if phase == "sustained" else (result.get("saturation") or {})
    cpu = result.get("phases", {}).get(phase, {}).get("server_cpu_seconds")
    acked = figures.get("sustained_acknowledged")
    return 1000 * cpu / acked if cpu is not None and acked else None


def worst_p99(result: dict[str, Any]) -> float:
    return max((v.get("p99", 0) for v in result["latency_ms"].values()), default=float("inf"))


def ratio_targets(ingress: dict[str, Any], echo: dict[str, Any] | None,
                  args: argparse.Namespace) -> list[tuple[str, str, bool | None]]:
    """(what, measured, met) for the three ratios of issue 11 §9; met is None when not measured."""
    cpu, echo_cpu = cpu_per_message_ms(ingress), cpu_per_message_ms(echo) if echo else None
    p99 = worst_p99(ingress)
    rows: list[tuple[str, str, bool | None]] = []
    if cpu is not None and echo_cpu:
        rows.append((f"CPU per acknowledged message at {args.rate:,.0f} msg/s offered ≤ {TARGET_CPU_RATIO:g} × echo",
                     f"{cpu:.3f} / {echo_cpu:.3f} ms = {cpu / echo_cpu:.2f}×", cpu / echo_cpu <= TARGET_CPU_RATIO))
    else:
        rows.append((f"CPU per acknowledged message ≤ {TARGET_CPU_RATIO:g} × echo", "not measured (no echo run)", None))
    echo_p99 = f" (echo {worst_p99(echo):.1f} ms)" if echo else ""
    rows.append((f"p99 at {args.rate:,.0f} msg/s offered ≤ {TARGET_P99_MS:g} ms", f"{p99:.1f} ms{echo_p99}",
                 p99 <= TARGET_P99_MS))
    mine, theirs = ingress.get("saturation"), (echo or {}).get("saturation")
    if mine and theirs and theirs["sustained_msgs_per_s"]:
        value = mine["sustained_msgs_per_s"] / theirs["sustained_msgs_per_s"]
        rows.append((f"answered rate at saturation ({args.saturation_rate:,.0f} msg/s offered) ≥ {TARGET_RATE_RATIO:g} × echo",
                     f"{mine['sustained_msgs_per_s']:,.0f} / {theirs['sustained_msgs_per_s']:,.0f} msg/s"
                     f" = {value:.2f}×", value >= TARGET_RATE_RATIO))
    else:
        rows.append((f"answered rate at saturation ≥ {TARGET_RATE_RATIO:g} × echo",
                     "not measured (no saturation phase or no echo run)", None))
    return rows


def report(ingress: dict[str, Any], echo: dict[str, Any] | None, counts: dict[str, int], problems: list[str],
           args: argparse.Namespace, load: tuple[float, float, float]) -> list[tuple[str, bool]]:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}×" if b else "–"

    def cpu_ms(result: dict[str, Any], phase: str) -> str:
        value = cpu_per_message_ms(result, phase)
        if value is None:
            return "–"
        system = result["phases"][phase]["server_system_cpu_seconds"] / result["phases"][phase]["server_cpu_seconds"]
        return f"{value:.3f} ({100 * system:.0f} % kernel)"

    def pcts(result: dict[str, Any]) -> str:
        latency = result.get("latency_ms", {})
        mixed = [latency[action] for action in ("Heartbeat", "StatusNotification", "MeterValues") if action in latency]
        if not mixed:
            return "–"
        return f"{max(v['p50'] for v in mixed)} / {max(v['p99'] for v in mixed)}"

    e = echo or {}
    sat, esat = ingress.get("saturation") or {}, e.get("saturation") or {}
    rows = [
        ("stations connected (handshake)", ingress.get("stations_opened", "–"), e.get("stations_opened", "–"), ""),
        ("stations booted (both answered)", ingress["stations_connected"], e.get("stations_connected", "–"), ""),
        ("boot storm (Boot + Status each)", ingress["boot_storm_seconds"], e.get("boot_storm_seconds", "–"), " s"),
        ("sustained, offered", ingress["offered_msgs_per_s"], e.get("offered_msgs_per_s", "–"), " msg/s"),
        ("sustained, answered", ingress["sustained_msgs_per_s"], e.get("sustained_msgs_per_s", "–"), " msg/s"),
    ]
    for action in ("Heartbeat", "StatusNotification", "MeterValues"):
        mine, theirs = ingress["latency_ms"].get(action, {}), e.get("latency_ms", {}).get(action, {})
        rows.append((f"{action} p50 / p99", f"{mine.get('p50', '–')} / {mine.get('p99', '–')}",
                     f"{theirs.get('p50', '–')} / {theirs.get('p99', '–')}" if echo else "–", " ms"))
    rows.append(("sustained, CPU per acknowledged message", cpu_ms(ingress, "sustained"),
                 cpu_ms(e, "sustained") if echo else "–", " ms"))
    if sat:
        rows += [
            ("saturation, offered", sat["offered_msgs_per_s"], esat.get("offered_msgs_per_s", "–"), " msg/s"),
            ("saturation, answered", sat["sustained_msgs_per_s"], esat.get("sustained_msgs_per_s", "–"), " msg/s"),
            ("saturation, p50 / p99 (mixed)", pcts(sat), pcts(esat) if esat else "–", " ms"),
            ("saturation, CPU per acknowledged message", cpu_ms(ingress, "saturation"),
             cpu_ms(e, "saturation") if echo else "–", " ms"),
        ]
    for action in ("BootNotification", "StatusNotification"):
        mine = ingress["boot_latency_ms"].get(action, {})
        theirs = e.get("boot_latency_ms", {}).get(action, {})
        rows.append((f"boot {action} p50 / p99", f"{mine.get('p50', '–')} / {mine.get('p99', '–')}",
                     f"{theirs.get('p50', '–')} / {theirs.get('p99', '–')}" if echo else "–", " ms"))
    phases = ("booted", "sustained", "saturation") if sat else ("booted", "sustained")
    names = " / ".join(("boot", "sustained", "saturation")[:len(phases)])

    def per_phase(result: dict[str, Any], key: str) -> str:
        return " / ".join(f"{result.get('phases', {}).get(p, {}).get(key, '–')}" for p in phases)

    rows += [
        ("server peak memory (VmHWM)", ingress["server_hwm_kib"] / 1024, e.get("server_hwm_kib", 0) / 1024 if echo else "–", " MiB"),
        (f"server CPU, {names}", per_phase(ingress, "server_cpu_percent"),
         per_phase(e, "server_cpu_percent") if echo else "–", " % of a core"),
        (f"machine busy, {names}", per_phase(ingress, "machine_busy_percent"),
         per_phase(e, "machine_busy_percent") if echo else "–", " % of 2 cores"),
        ("load generator CPU, boot / sustained", " / ".join(str(v) for v in ingress["loadgen_cpu_seconds"].values()),
         " / ".join(str(v) for v in e.get("loadgen_cpu_seconds", {}).values()) if echo else "–", " s"),
        ("errors", sum(ingress["errors"].values()), sum(e["errors"].values()) if echo else "–", ""),
    ]
    width = max(len(r[0]) for r in rows) + 2
    processes = f" ({args.processes} ingress processes, SO_REUSEPORT)" if args.processes > 1 else ""
    saturation = f", then {args.saturation_rate:,.0f} msg/s for {args.saturation_duration:g} s" if sat else ""
    print(f"\nOCPP 1.6J ingress{processes} on PostgreSQL — {args.stations:,} stations, {args.tenants} tenants, "  # noqa: T201
          f"target {args.rate:,.0f} msg/s for {args.duration:g} s (after {args.warmup:g} s of warm-up){saturation}; "
          f"load average before: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)\n")
    print(f"{'':{width}}{'ingress':>30}{'echo server':>30}")  # noqa: T201
    print("-" * (width + 60))  # noqa: T201
    for label, mine, theirs, unit in rows:
        print(f"{label:{width}}{_fmt(mine, unit):>30}{_fmt(theirs, unit) if echo else '–':>30}")  # noqa: T201
    if echo:
        print(f"\nratio ingress / echo: sustained rate {ratio(ingress['sustained_msgs_per_s'], echo['sustained_msgs_per_s'])}, "  # noqa: T201
              f"boot storm time {ratio(ingress['boot_storm_seconds'], echo['boot_storm_seconds'])}, "
              f"MeterValues p99 {ratio(ingress['latency_ms'].get('MeterValues', {}).get('p99', 0), echo['latency_ms'].get('MeterValues', {}).get('p99', 0))}")
    if ingress["errors"]:
        print("ingress errors: " + ", ".join(f"{k}: {v}" for k, v in ingress["errors"].items()))  # noqa: T201
    acked = ingress["acknowledged"]
    print("\neverything committed: " + ("yes" if not problems else "NO"))  # noqa: T201
    for action in ("BootNotification", "StatusNotification", "MeterValues"):
        print(f"  {action:20} acknowledged {acked.get(action, 0):>9,}   in PostgreSQL {counts[action]:>9,}")  # noqa: T201
    print(f"  {'Heartbeat':20} acknowledged {acked.get('Heartbeat', 0):>9,}   stations whose last_seen_at is older "  # noqa: T201
          f"than their last acknowledged heartbeat: {counts['heartbeats_not_seen']}")
    print(f"  {'connections':20} opened       {ingress.get('stations_opened', 0):>9,}   rows {counts['connections']:>9,}")  # noqa: T201
    for problem in problems:
        print(f"  LOST: {problem}")  # noqa: T201
    ratios = ratio_targets(ingress, echo, args)
    print("\nratios to the echo server, this run (issue 11 §9 targets):")  # noqa: T201
    rwidth = max(len(name) for name, _, _ in ratios) + 2
    for name, measured, met in ratios:
        verdict = "–" if met is None else "PASS" if met else "FAIL"
        print(f"  {name:{rwidth}}{measured:>36}  {verdict}")  # noqa: T201
    targets = [
        (f"{TARGET_STATIONS:,} stations held by one ingress",
         args.processes == 1 and ingress.get("stations_opened", 0) >= TARGET_STATIONS),
        (f"boot storm ≤ {TARGET_BOOT_S:g} s", ingress["stations_connected"] >= TARGET_STATIONS
         and ingress["boot_storm_seconds"] <= TARGET_BOOT_S),
        *((name, bool(met)) for name, _, met in ratios),
        ("no errors, everything committed", not ingress["errors"] and not problems),
    ]
    print("\ntargets: " + "; ".join(f"{name} {'OK' if ok else 'MISSED'}" for name, ok in targets))  # noqa: T201
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=TARGET_STATIONS)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--rate", type=float, default=MEASURED_RATE,
                        help="sustained messages per second, all stations (CPU per message and p99 measured there)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sustained load, measured")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of sustained load before it is measured (the boot storm's tail)")
    parser.add_argument("--saturation-rate", type=float, default=SATURATION_RATE,
                        help="then this rate, more than one ingress process answers (0: no saturation phase)")
    parser.add_argument("--saturation-duration", type=float, default=30.0)
    parser.add_argument("--connect-concurrency", type=int, default=500)
    parser.add_argument("--no-redis", action="store_true", help="in-process bus instead of Redis")
    parser.add_argument("--no-echo", action="store_true", help="skip the echo server run")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="event loop of the ingress and of the echo server (uvloop: an experiment, docs/ocpp.md)")
    parser.add_argument("--processes", type=int, default=1,
                        help="centrale ingress --processes N (SO_REUSEPORT); the targets are for 1")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write the raw results to FILE")
    parser.add_argument("--check", action="store_true", help="exit status 1 when a target is missed")
    args = parser.parse_args(argv)

    load = os.getloadavg()
    name = f"centrale_bench_{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="centrale-bench-"))
    ingress = echo_server = None
    try:
        log(f"load average {load[0]:.2f}; creating database {name}")
        settings = create_database(name)
        log(f"registering {args.stations:,} stations over {args.tenants} tenants (bulk)")
        started = time.perf_counter()
        asyncio.run(register_fleet(settings, args.stations, args.tenants))
        log(f"registered in {time.perf_counter() - started:.1f} s; starting centrale ingress")
        port = free_port()
        env = {**os.environ, "CENTRALE_DATABASE_URL": settings.database_url, "CENTRALE_OCPP_HOST": "127.0.0.1",
               "CENTRALE_OCPP_PORT": str(port), "CENTRALE_SECRET_KEY": settings.secret_key,
               "CENTRALE_VAR_DIR": str(work), "CENTRALE_REDIS_URL": "" if args.no_redis else REDIS_URL,
               "CENTRALE_REDIS_NAMESPACE": f"centrale-bench-{os.getpid()}"}
        command = [str(Path(sys.executable).parent / "centrale"), "ingress", "--processes", str(args.processes)]
        if args.loop == "uvloop":  # `centrale ingress` runs on asyncio's own loop
            command = [sys.executable, "-c", "import sys, uvloop; uvloop.install(); from app.cli import main; "
                       f"sys.argv = ['centrale', 'ingress', '--processes', '{args.processes}']; main()"]
        ingress = Proc(command, env=env, log_path=work / "ingress.log")
        ingress.wait_port(port)
        ingress.wait_log("ingress OCPP à l'écoute", args.processes)
        log(f"ingress pid {ingress.pid} ({args.processes} process{'es' if args.processes > 1 else ''}) on port {port};"
            f" load generator: {args.stations:,} stations")
        result = run_loadgen(f"ws://127.0.0.1:{port}/ocpp", args, ingress, echo=False)
        heartbeats = result.pop("heartbeat_acked_at")
        code = ingress.stop()
        log(f"ingress stopped ({code}); counting rows")
        counts = asyncio.run(committed(settings, heartbeats))
        problems = check_committed(result, counts)
        echo = None
        if not args.no_echo:
            port = free_port()
            echo_server = Proc([sys.executable, str(ROOT / "bench" / "echo_server.py"), "--port", str(port),
                                "--loop", args.loop], log_path=work / "echo.log")
            echo_server.wait_port(port)
            log("echo server: same load")
            echo = run_loadgen(f"ws://127.0.0.1:{port}/ocpp", args, echo_server, echo=True)
            echo.pop("heartbeat_acked_at")
            echo_server.stop()
        targets = report(result, echo, counts, problems, args, load)
        if args.json:
            Path(args.json).write_text(json.dumps({"ingress": result, "echo": echo, "committed": counts,
                                                   "load_before": load, "args": vars(args)}, indent=2))
        if problems:
            return 1
        if args.check and not all(ok for _name, ok in targets):
            return 1
        return 0
    finally:
        for proc in (ingress, echo_server):
            if proc is not None:
                proc.stop(10)
        if not args.keep_db:
            with contextlib.suppress(subprocess.CalledProcessError):
                psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log(f"logs in {work}")


if __name__ == "__main__":
    sys.exit(main())
