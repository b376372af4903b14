"""Durability: ``kill -9`` of the ingress during traffic loses no acknowledged message.

DESIGN.md « OCPP ingress rules »: a station-initiated message is answered only
after what it reports is committed, so a station that got its CallResult never has
to send it again, and one that did not retries it. This test runs the real
``centrale ingress`` command as a subprocess on PostgreSQL, drives six OCPP 1.6
stations of two tenants with plain ``websockets`` clients (StartTransaction,
MeterValues, StatusNotification, StopTransaction in a loop), records every message
that got its CallResult, kills the process with SIGKILL in the middle of the
traffic, and checks in PostgreSQL that every acknowledged message's effect is
there. Then it restarts the ingress on the same address: the stations reconnect,
retry what was in flight, replay what was acknowledged (idempotent: same
transactionId, stop counted once, no duplicate sample), and the connection log
shows the cut (CCTP CPAM 5-5: « le nombre d'occurrence d'une telle coupure »).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.db import utcnow
from csms.domain import recording as supervision
from csms.domain import registry
from csms.domain.models import Charger, ConnectionLog, MeterValue, StatusEvent, Transaction

STATIONS = {  # charge_box_id -> a badge of its tenant
    "CPAM-LM-01": "BADGE-OK", "CPAM-LM-02": "BADGE-OK", "K9-01": "BADGE-OK", "K9-02": "BADGE-OK",
    "K9-03": "BADGE-OK", "VLB-01": "BADGE-VLB",
}
#: Acknowledged messages (all stations) before the kill; the kill lands while every station has one in flight.
KILL_AFTER = 90
READY_LINE = "ingress OCPP à l'écoute"
#: What these stations answer to calls the CSMS makes on its own (anything else: Accepted).
CSMS_CALL_ANSWERS: dict[str, dict[str, Any]] = {"GetLocalListVersion": {"listVersion": 0}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class IngressProcess:
    """``centrale ingress`` in its own process, on a fixed port (so that its node name survives a restart)."""

    def __init__(self, settings: Any, tmp_path: Path) -> None:
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CENTRALE_")}
        self.env.update({
            "CENTRALE_DATABASE_URL": settings.database_url, "CENTRALE_SECRET_KEY": settings.secret_key,
            "CENTRALE_OCPP_HOST": "127.0.0.1", "CENTRALE_OCPP_PORT": str(self.port), "CENTRALE_VAR_DIR": str(tmp_path),
        })
        self.process: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        #: ``centrale ingress --processes N``: N « listening » lines before it is ready.
        self.processes = 1

    async def start(self) -> None:
        """Start and wait for the « listening » line, logged once stale connection rows are closed."""
        self.process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("centrale")), "ingress", "--processes", str(self.processes),
            env=self.env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(ready))
        await asyncio.wait_for(ready, 60)

    async def _read(self, ready: asyncio.Future[None]) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for raw in self.process.stderr:  # drained to the end: a full pipe would stall the ingress
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            if READY_LINE in line and not ready.done() and sum(READY_LINE in seen for seen in self.log) >= self.processes:
                ready.set_result(None)
        if not ready.done():
            ready.set_exception(AssertionError("ingress exited:\n" + "\n".join(self.log[-30:])))

    async def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), 30)
        if self._reader is not None:
            await self._reader
        return code


@dataclasses.dataclass
class Sent:
    station: str
    unique_id: str
    action: str
    payload: dict[str, Any]
    answer: dict[str, Any] | None = None


class Station:
    """A plain websockets OCPP 1.6 client that records each call and its CallResult."""

    counter = itertools.count()

    def __init__(self, charge_box_id: str, id_tag: str, port: int, password: str, log: list[Sent]) -> None:
        self.id, self.id_tag, self.port, self.password, self.log = charge_box_id, id_tag, port, password, log
        self.ws: ClientConnection | None = None

    async def connect(self) -> None:
        from tests.csms.conftest import basic_auth

        self.ws = await connect(f"ws://127.0.0.1:{self.port}/ocpp/{self.id}", subprotocols=["ocpp1.6"],
                                additional_headers=basic_auth(self.id, self.password), open_timeout=30)

    async def call(self, action: str, payload: dict[str, Any], *, record: bool = True) -> dict[str, Any]:
        assert self.ws is not None
        sent = Sent(self.id, f"{self.id}-{next(self.counter)}", action, payload)
        if record:
            self.log.append(sent)
        await self.ws.send(json.dumps([2, sent.unique_id, action, payload]))
        while True:
            frame = json.loads(await self.ws.recv())
            if frame[0] == 2:  # the CSMS's own calls (local list version, charging profiles): answered
                await self.ws.send(json.dumps([3, frame[1], CSMS_CALL_ANSWERS.get(frame[2], {"status": "Accepted"})]))
                continue
            assert frame[:2] == [3, sent.unique_id], frame  # a CallResult, nothing else
            sent.answer = frame[2]
            return frame[2]

    async def traffic(self, base: dt.datetime, acked: asyncio.Event, log: list[Sent]) -> None:
        """Charge after charge until the socket dies; every sample and status at its own timestamp."""
        await self.call("BootNotification", {"chargePointVendor": "K9", "chargePointModel": "kill -9"})
        meter, tx = 0, None
        for k in itertools.count():
            at = iso(base + dt.timedelta(milliseconds=10 * k))
            if tx is None:
                tx = (await self.call("StartTransaction", {"connectorId": 1, "idTag": self.id_tag,
                                                           "meterStart": meter, "timestamp": at}))["transactionId"]
            meter += 100
            await self.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [
                {"timestamp": at, "sampledValue": [{"value": str(meter), "measurand": "Energy.Active.Import.Register"}]}]})
            await self.call("StatusNotification", {"connectorId": 1 + k % 2, "errorCode": "NoError",
                                                   "status": "Charging" if k % 2 == 0 else "Available", "timestamp": at})
            if k % 4 == 3:
                await self.call("StopTransaction", {"transactionId": tx, "meterStop": meter, "timestamp": at,
                                                    "reason": "Local"})
                tx = None
            if sum(1 for s in log if s.answer is not None) >= KILL_AFTER:
                acked.set()


async def stored_effects(db: Any, fleet: Any) -> dict[str, Any]:
    """Everything the stations' messages left in PostgreSQL, by charge_box_id."""
    out: dict[str, Any] = {}
    async with db.session([fleet.cpam, fleet.other]) as session:
        chargers = {c.id: c.charge_box_id for c in await session.scalars(select(Charger))}
        out["samples"] = {(chargers[r.charger_id], r.connector_id, r.sampled_at, r.value, r.ocpp_transaction_id)
                          for r in await session.scalars(select(MeterValue))}
        out["statuses"] = {(chargers[r.charger_id], r.connector_id, r.reported_at, r.status)
                           for r in await session.scalars(select(StatusEvent))}
        out["transactions"] = {(chargers[r.charger_id], r.ocpp_transaction_id): (r.connector_id, r.meter_start,
                                                                                   r.started_at, r.meter_stop, r.stopped_at, r.status)
                               for r in await session.scalars(select(Transaction))}
        out["connections"] = sorted(
            ((chargers[r.charger_id], r.connected_at, r.disconnected_at, r.reason)
             for r in await session.scalars(select(ConnectionLog))), key=lambda r: (r[0], r[1]))
        out["last_seen"] = {c.charge_box_id: c.last_seen_at for c in await session.scalars(select(Charger))}
        out["counts"] = {model.__tablename__: await session.scalar(select(func.count()).select_from(model))
                         for model in (MeterValue, StatusEvent, Transaction)}
    return out


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_effect_stored(sent: Sent, stored: dict[str, Any]) -> None:
    p = sent.payload
    if sent.action == "MeterValues":
        (mv,) = p["meterValue"]
        key = (sent.station, 1, ts(mv["timestamp"]), float(mv["sampledValue"][0]["value"]), str(p["transactionId"]))
        assert key in stored["samples"], f"acknowledged MeterValues lost: {sent}"
    elif sent.action == "StatusNotification":
        key = (sent.station, p["connectorId"], ts(p["timestamp"]), p["status"])
        assert key in stored["statuses"], f"acknowledged StatusNotification lost: {sent}"
    elif sent.action == "StartTransaction":
        assert sent.answer is not None
        row = stored["transactions"].get((sent.station, str(sent.answer["transactionId"])))
        assert row is not None and row[:3] == (1, p["meterStart"], ts(p["timestamp"])), f"acknowledged start lost: {sent}"
    elif sent.action == "StopTransaction":
        row = stored["transactions"].get((sent.station, str(p["transactionId"])))
        assert row is not None and row[3:] == (p["meterStop"], ts(p["timestamp"]), "completed"), \
            f"acknowledged stop lost: {sent}"


@pytest.fixture
async def kill9_fleet(db, fleet, password_hash):
    for charge_box_id in ("K9-01", "K9-02", "K9-03"):
        async with db.transaction([fleet.cpam], actor={"user_id": None, "label": "test"}) as session:
            await registry.register_charger(session, fleet.cpam, {
                "charge_box_id": charge_box_id, "points": 2, "power_kw": 22, "password": "Borne-secret-2026-xyz"},
                password_hash=password_hash)
    return fleet


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_kill_9_during_traffic_loses_no_acknowledged_message(settings, db, kill9_fleet, tmp_path, backend):
    from tests.csms.conftest import PASSWORD

    fleet = kill9_fleet
    ingress = IngressProcess(settings, tmp_path)
    await ingress.start()
    log: list[Sent] = []
    stations = [Station(cb, tag, ingress.port, PASSWORD, log) for cb, tag in STATIONS.items()]
    try:
        await asyncio.gather(*(s.connect() for s in stations))
        base = utcnow() - dt.timedelta(minutes=2)
        acked = asyncio.Event()
        tasks = [asyncio.create_task(s.traffic(base, acked, log)) for s in stations]
        await asyncio.wait_for(acked.wait(), 60)
        assert await ingress.kill() == -signal.SIGKILL
        results = await asyncio.gather(*tasks, return_exceptions=True)
        # Every station lost its socket mid-traffic (no orderly close from a killed process).
        assert all(isinstance(r, ConnectionClosed) for r in results), results

        answered = [s for s in log if s.answer is not None]
        in_flight = [s for s in log if s.answer is None]
        assert len(answered) >= KILL_AFTER
        assert {s.station for s in in_flight} == set(STATIONS)  # the kill cut every station mid-call

        # Nothing acknowledged is lost.
        before = await stored_effects(db, fleet)
        for sent in answered:
            assert_effect_stored(sent, before)
        open_rows = [c for c in before["connections"] if c[2] is None]
        assert {c[0] for c in open_rows} == set(STATIONS)  # a killed process recorded no disconnection

        # Restart on the same address: rows left open by the dead process are closed as a cut.
        await ingress.start()
        after_restart = await stored_effects(db, fleet)
        for charge_box_id, connected_at, disconnected_at, reason in after_restart["connections"]:
            assert reason == "ingress_restart" and disconnected_at is not None
            assert connected_at <= disconnected_at <= after_restart["last_seen"][charge_box_id]

        # The stations reconnect, retry what got no answer, then replay what was acknowledged.
        replay_log: list[Sent] = []
        for station in stations:
            station.log = replay_log
            await station.connect()
        for sent in in_flight:
            station = next(s for s in stations if s.id == sent.station)
            sent.answer = await station.call(sent.action, sent.payload)
        retried = await stored_effects(db, fleet)
        for sent in answered + in_flight:
            assert_effect_stored(sent, retried)
        for sent in answered + in_flight:
            if sent.action == "BootNotification":
                continue  # its answer carries the current time
            station = next(s for s in stations if s.id == sent.station)
            again = await station.call(sent.action, sent.payload, record=False)
            assert again == sent.answer, (sent, again)  # same transactionId, same idTagInfo
        replayed = await stored_effects(db, fleet)
        assert replayed["counts"] == retried["counts"]  # no second sample, status, transaction
        assert replayed["transactions"] == retried["transactions"]  # stops counted once

        # The transactionId counter survived the crash: a new charge gets a new id.
        for station in stations:
            number = (await station.call("StartTransaction", {"connectorId": 2, "idTag": station.id_tag,
                                                              "meterStart": 0, "timestamp": iso(utcnow())}))["transactionId"]
            assert (station.id, str(number)) not in replayed["transactions"]

        async with db.session([fleet.cpam]) as session:
            charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-01")
            report = await supervision.communication_report(session, fleet.cpam, charger.id,
                                                            base - dt.timedelta(minutes=1), utcnow())
        assert (report.connections, report.cuts, report.cuts_by_reason) == (2, 1, {"ingress_restart": 1})
    finally:
        for station in stations:
            if station.ws is not None:
                with contextlib.suppress(Exception):
                    await station.ws.close()
        if ingress.process is not None and ingress.process.returncode is None:
            await ingress.kill(signal.SIGTERM)
