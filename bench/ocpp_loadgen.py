"""OCPP 1.6J load generator: plain ``websockets`` clients, none of the server's code.

Run in its own process against an ingress (or a bare echo server, for the ratio):

    python bench/ocpp_loadgen.py --url ws://127.0.0.1:9000/ocpp --stations 10000 \
        --password secret --prefix BENCH --rate 5000 --duration 30 --json

Phase 1 (boot storm): every station connects, sends BootNotification then
StatusNotification, and waits for both answers. Phase 2 (sustained): a mix of
Heartbeat, StatusNotification and MeterValues at ``--rate`` messages per second in
total, spread over the stations; each call's latency is the time from send to its
CallResult. Phase 3 (saturation, with ``--saturation-rate``): the same mix at a
higher rate, its figures under ``saturation``. Prints stations connected, boot-storm time, sustained rate, p50/p99 per
message type and errors (CallErrors, timeouts, refused connections).

``--warmup SECONDS`` (default 5): the sustained phase first runs that long at its rate
unmeasured (the boot storm's tail, queued commits, lenient first touches), then for
``--duration`` measured: its latencies, rates and acknowledged count are those of the
calls sent after the warm-up, and the ``phase warmed`` marker lets ``bench_ocpp.py``
measure the server's CPU from there. The saturation phase follows without one.

Against an echo server every frame comes back as is; the generator then counts the
echo as the answer (same unique id), which measures the client and network floor.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import itertools
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from typing import Any

import websockets
from websockets.asyncio.client import connect

#: What a station answers to the CSMS's own calls (local list checks, profiles, ...).
SERVER_CALL_ANSWERS: dict[str, dict[str, Any]] = {
    "GetLocalListVersion": {"listVersion": 0},
    "GetConfiguration": {"configurationKey": []},
    **{action: {"status": "Accepted"} for action in (
        "SendLocalList", "TriggerMessage", "SetChargingProfile", "ClearChargingProfile", "ChangeConfiguration",
        "ReserveNow", "CancelReservation", "ChangeAvailability", "RemoteStartTransaction", "RemoteStopTransaction",
        "Reset", "ClearCache", "UnlockConnector", "DataTransfer")},
}


def iso_ms(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Station:
    def __init__(self, gen: LoadGen, charge_box_id: str) -> None:
        self.gen = gen
        self.id = charge_box_id
        self.ws: Any = None
        self.pending: dict[str, tuple[str, float, float, asyncio.Future[Any] | None]] = {}
        self.counter = itertools.count(1)
        self.reader: asyncio.Task[None] | None = None
        self.last_ms = 0
        #: Wall-clock time a Heartbeat was sent, for the last one acknowledged (the server's
        #: ``last_seen_at`` must be at least that).
        self.heartbeat_acked_at = 0.0

    def stamp(self) -> str:
        """A timestamp unique for this station (natural keys of the history tables must not merge messages)."""
        self.last_ms = max(self.last_ms + 1, int(time.time() * 1000))
        return iso_ms(self.last_ms)

    async def open(self) -> None:
        headers = {}
        if self.gen.password:
            token = base64.b64encode(f"{self.id}:{self.gen.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        self.ws = await connect(
            f"{self.gen.url}/{self.id}", subprotocols=["ocpp1.6"], additional_headers=headers,
            open_timeout=self.gen.args.timeout, ping_interval=None, max_queue=None, compression=None,
        )
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        echo = self.gen.echo
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg[0] == 2 and not echo:  # a call from the server: the smallest valid answer
                    await self.ws.send(json.dumps([3, msg[1], SERVER_CALL_ANSWERS.get(msg[2], {})]))
                    self.gen.server_calls[msg[2]] += 1
                    continue
                entry = self.pending.pop(msg[1], None)
                if entry is None:
                    continue
                action, sent, wall, fut = entry
                ok = msg[0] == 3 or (echo and msg[0] == 2)  # an echo server returns the call itself
                self.gen.record(action, sent, ok=ok)
                if not ok:
                    self.gen.errors[f"CallError {action}: {msg[2] if len(msg) > 2 else msg}"] += 1
                elif action == "Heartbeat":
                    self.heartbeat_acked_at = max(self.heartbeat_acked_at, wall)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            for _action, _sent, _wall, fut in self.pending.values():
                if fut is not None and not fut.done():
                    fut.set_exception(ConnectionError("closed"))

    async def fire(self, action: str, payload: dict[str, Any]) -> None:
        """Send without waiting: the reader records the latency when the answer comes."""
        uid = f"{self.id}-{next(self.counter)}"
        self.pending[uid] = (action, time.perf_counter(), time.time(), None)
        await self.ws.send(json.dumps([2, uid, action, payload]))

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 30.0) -> Any:
        uid = f"{self.id}-{next(self.counter)}"
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[uid] = (action, time.perf_counter(), time.time(), fut)
        await self.ws.send(json.dumps([2, uid, action, payload]))
        try:
            return await asyncio.wait_for(fut, timeout)
        except (TimeoutError, ConnectionError) as exc:
            self.pending.pop(uid, None)
            self.gen.errors[f"{type(exc).__name__} {action}"] += 1
            return None


class LoadGen:
    def __init__(self, args: argparse.Namespace) -> None:
        self.url = args.url.rstrip("/")
        self.password = args.password
        self.echo = args.echo
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        #: Calls answered with a CallResult, per action, over the whole run.
        self.acknowledged: dict[str, int] = defaultdict(int)
        #: Calls the server made to the stations, per action (answered, not timed).
        self.server_calls: dict[str, int] = defaultdict(int)
        #: Calls sent before this ``perf_counter`` are acknowledged but not timed (a phase's warm-up).
        self.measure_from = 0.0
        #: Calls sent after ``measure_from`` answered with a CallResult.
        self.measured_acknowledged = 0
        self.args = args

    def record(self, action: str, sent: float, ok: bool) -> None:
        if ok:
            self.acknowledged[action] += 1
        if sent < self.measure_from:
            return
        self.latencies[action].append(time.perf_counter() - sent)
        if ok:
            self.measured_acknowledged += 1

    async def run(self) -> dict[str, Any]:
        args = self.args
        stations = [Station(self, f"{args.prefix}{i:05d}") for i in range(args.stations)]
        sem = asyncio.Semaphore(args.connect_concurrency)

        async def boot(st: Station) -> bool:
            async with sem:
                try:
                    await st.open()
                except Exception as exc:  # noqa: BLE001
                    self.errors[f"connect: {type(exc).__name__}"] += 1
                    return False
            res = await st.call("BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "LG-1",
                                                     "chargePointSerialNumber": st.id}, args.timeout)
            if res is None:
                return False
            res = await st.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available",
                                                       "timestamp": st.stamp()}, args.timeout)
            return res is not None

        t0 = time.perf_counter()
        booted = await asyncio.gather(*(boot(st) for st in stations))
        boot_seconds = time.perf_counter() - t0
        print("phase booted", file=sys.stderr, flush=True)  # noqa: T201 - a marker for bench_ocpp.py
        live = [st for st, ok in zip(stations, booted, strict=True) if ok]
        opened = sum(1 for st in stations if st.ws is not None)
        boot_latencies = {k: list(v) for k, v in self.latencies.items()}
        self.latencies.clear()
        cpu_boot = time.process_time()

        rnd = random.Random(7)
        meter: dict[str, int] = defaultdict(int)
        sustained = await self._sustain(live, args.rate, args.duration, rnd, meter, warmup=args.warmup)
        print("phase sustained", file=sys.stderr, flush=True)  # noqa: T201 - a marker for bench_ocpp.py
        cpu_sustained = time.process_time() - cpu_boot
        saturation = None
        if args.saturation_rate and live:
            saturation = await self._sustain(live, args.saturation_rate, args.saturation_duration, rnd, meter)
            print("phase saturation", file=sys.stderr, flush=True)  # noqa: T201
        for st in stations:
            if st.ws is not None:
                with contextlib.suppress(Exception):
                    await st.ws.close()
        return {
            "target": self.url,
            "stations_requested": args.stations,
            "stations_opened": opened,
            "stations_connected": len(live),
            "boot_storm_seconds": round(boot_seconds, 2),
            "boot_latency_ms": {k: _pcts(v) for k, v in boot_latencies.items()},
            **sustained,
            "saturation": saturation,
            "errors": dict(self.errors),
            "acknowledged": dict(self.acknowledged),
            "server_calls": dict(self.server_calls),
            "loadgen_cpu_seconds": {"boot": round(cpu_boot, 1), "sustained": round(cpu_sustained, 1)},
            "heartbeat_acked_at": {st.id: st.heartbeat_acked_at for st in live if st.heartbeat_acked_at},
        }

    async def _sustain(self, live: list[Station], rate: float, duration: float, rnd: random.Random,
                       meter: dict[str, int], warmup: float = 0.0) -> dict[str, Any]:
        """Mixed traffic: ticks of 10 ms, each sending rate/100 calls without waiting (the readers
        time the answers), then the answers drained; unanswered calls count as lost. The first
        ``warmup`` seconds run at the same rate but are not measured (``--warmup``)."""
        self.latencies.clear()
        self.measured_acknowledged = 0
        sent = index = 0
        t1 = time.perf_counter()
        self.measure_from = t1 + warmup
        deadline = self.measure_from + duration
        per_tick = rate / 100.0
        carry = 0.0
        warming = warmup > 0
        while live and time.perf_counter() < deadline:
            tick_start = time.perf_counter()
            if warming and tick_start >= self.measure_from:
                warming = False
                self.measure_from, t1 = tick_start, tick_start
                self.latencies.clear()
                self.measured_acknowledged = 0
                sent = 0
                print("phase warmed", file=sys.stderr, flush=True)  # noqa: T201 - a marker for bench_ocpp.py
            carry += per_tick
            n, carry = int(carry), carry - int(carry)
            for _ in range(n):
                st = live[index % len(live)]
                index += 1
                kind = rnd.random()
                try:
                    if kind < 0.2:
                        await st.fire("Heartbeat", {})
                    elif kind < 0.4:
                        await st.fire("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                      "status": rnd.choice(["Available", "Preparing", "Charging"]), "timestamp": st.stamp()})
                    else:
                        meter[st.id] += rnd.randint(10, 200)
                        await st.fire("MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": st.stamp(), "sampledValue": [
                            {"value": str(meter[st.id]), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                            {"value": str(rnd.randint(1000, 7000)), "measurand": "Power.Active.Import", "unit": "W"}]}]})
                except websockets.ConnectionClosed:
                    self.errors["send on closed connection"] += 1
                sent += 1
            await asyncio.sleep(max(0.0, 0.01 - (time.perf_counter() - tick_start)))
        send_seconds = time.perf_counter() - t1
        wait_until = time.perf_counter() + self.args.timeout
        while any(st.pending for st in live) and time.perf_counter() < wait_until:
            await asyncio.sleep(0.05)
        lost = sum(len(st.pending) for st in live)
        if lost:
            self.errors["unanswered"] = self.errors.get("unanswered", 0) + lost
            for st in live:  # not counted again by the next phase
                st.pending.clear()
        total_seconds = time.perf_counter() - t1
        answered = sum(len(v) for v in self.latencies.values())
        return {
            "sustained_sent": sent,
            "sustained_answered": answered,
            "sustained_acknowledged": self.measured_acknowledged,
            "warmup_seconds": warmup,
            "sustained_msgs_per_s": round(answered / total_seconds, 1) if total_seconds else 0,
            "offered_msgs_per_s": round(sent / send_seconds, 1) if send_seconds else 0,
            "latency_ms": {k: _pcts(v) for k, v in self.latencies.items()},
        }


def _pcts(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"n": len(values), "p50": round(p(0.5), 2), "p99": round(p(0.99), 2),
            "mean": round(statistics.fmean(values) * 1000, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="base URL, the station id is appended")
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--prefix", default="BENCH")
    parser.add_argument("--password", default="")
    parser.add_argument("--rate", type=float, default=1000.0, help="sustained messages per second, all stations")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of the sustained phase sent at its rate before it is measured")
    parser.add_argument("--saturation-rate", type=float, default=0.0,
                        help="then a second phase at this rate (beyond what the server answers), 0: none")
    parser.add_argument("--saturation-duration", type=float, default=30.0)
    parser.add_argument("--connect-concurrency", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds a handshake or an answer may take before it counts as an error")
    parser.add_argument("--echo", action="store_true", help="the target is an echo server")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    result = asyncio.run(LoadGen(args).run())
    print(json.dumps(result, indent=None if args.json else 2))  # noqa: T201
    sys.exit(0)


if __name__ == "__main__":
    main()
