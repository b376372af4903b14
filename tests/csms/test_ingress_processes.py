"""``centrale ingress --processes N``: several ingress processes on one port (SO_REUSEPORT).

DESIGN.md « Scaled mode »: the kernel spreads new connections over the processes;
each is its own node on the bus (``host:port#i``), so the rules that hold across
machines hold here: one live socket per station (a connection landing on the other
process replaces the old one there), a command reaches the process that holds the
socket. Real processes, PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.bus import RedisBus
from app.db import Database
from app.settings import Settings
from csms.domain.commands import send_command
from csms.domain.models import ConnectionLog
from tests.csms.conftest import Events, open_socket
from tests.csms.test_commands import answering_station
from tests.csms.test_commands_redis import RedisIngress

pytestmark = pytest.mark.postgres

CONNECTIONS = 24  # all on one process by chance: 2 ** -23


async def answer_to(ws: Any, unique_id: str) -> dict[str, Any]:
    """The CallResult of our call; the ingress's own calls (local list checks) are left unanswered."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if frame[0] == 3 and frame[1] == unique_id:
            return frame[2]


@pytest.fixture
def backend() -> str:
    return "postgres"


async def test_two_processes_share_the_port_one_socket_per_station_and_commands_reach_the_holder(
        settings: Settings, db: Database, fleet: Any, redis_url: str, tmp_path: Any) -> None:
    namespace = f"centrale-test-{uuid.uuid4().hex[:12]}"
    ingress = RedisIngress(settings, tmp_path, redis_url, namespace)
    ingress.processes = 2
    bus = RedisBus(redis_url, namespace=namespace)
    events = Events()
    await bus.subscribe("station.connected", events.handler)
    await ingress.start()
    try:
        # The same station connects again and again: each connection lands on either process.
        sockets = []
        for number in range(CONNECTIONS):
            ws = await open_socket(ingress.port, "CPAM-LM-01")
            await ws.send(f'[2, "h{number}", "Heartbeat", {{}}]')
            assert "currentTime" in await answer_to(ws, f"h{number}")
            await events.wait("station.connected", lambda p: p["charge_box_id"] == "CPAM-LM-01", count=number + 1)
            sockets.append(ws)
        # Only the last one is live: every earlier socket was closed as replaced, on whichever process held it.
        for ws in sockets[:-1]:
            await asyncio.wait_for(ws.wait_closed(), 20)
            assert ws.close_code == 1000
        assert sockets[-1].close_code is None
        await sockets[-1].close()
        async with db.session([fleet.cpam]) as session:
            rows = list(await session.scalars(select(ConnectionLog).order_by(ConnectionLog.connected_at)))
        assert len(rows) == CONNECTIONS
        nodes = {row.node for row in rows}
        assert {node.rsplit("#", 1)[1] for node in nodes} == {"0", "1"}
        # A command reaches the station on whichever process holds it.
        for charge_box_id in ("CPAM-LM-01", "CPAM-LM-201"):
            version = "2.0.1" if charge_box_id.endswith("201") else "1.6"
            async with answering_station(ingress.port, charge_box_id, version):
                await events.wait("station.connected", lambda p, c=charge_box_id: p["charge_box_id"] == c,
                                  count=1 + (CONNECTIONS if charge_box_id == "CPAM-LM-01" else 0))
                answer = await send_command(
                    db, bus, tenant_id=fleet.cpam, charge_box_id=charge_box_id,
                    action="Reset",
                    payload={"type": "Soft"} if version == "1.6" else {"type": "Immediate"},
                    actor={"user_id": None, "label": "test"})
                assert answer == {"status": "Accepted"}
    finally:
        assert await ingress.kill(signal.SIGTERM) == 0
        await bus.close()


@pytest.mark.parametrize("processes", [1, 2])
async def test_sigterm_stops_gracefully_sockets_closed_1001_and_rows_closed(
        settings: Settings, db: Database, fleet: Any, redis_url: str, tmp_path: Any, processes: int) -> None:
    """What a container runtime or systemd sends: the stations are told (1001, going away) and each
    connection row gets its end and reason, instead of waiting for the next start to close them."""
    ingress = RedisIngress(settings, tmp_path, redis_url, f"centrale-test-{uuid.uuid4().hex[:12]}")
    ingress.processes = processes
    await ingress.start()
    sockets = []
    for charge_box_id in ("CPAM-LM-01", "CPAM-LM-02", "VLB-01"):
        ws = await open_socket(ingress.port, charge_box_id)
        await ws.send('[2, "h", "Heartbeat", {}]')
        await answer_to(ws, "h")
        sockets.append(ws)
    assert await ingress.kill(signal.SIGTERM) == 0
    for ws in sockets:
        await asyncio.wait_for(ws.wait_closed(), 20)
        assert ws.close_code == 1001
    for tenant in (fleet.cpam, fleet.other):
        async with db.session([tenant]) as session:
            rows = list(await session.scalars(select(ConnectionLog)))
        assert rows and all(row.disconnected_at is not None and row.reason == "server_shutdown" for row in rows)


async def test_a_worker_killed_is_restarted_and_workers_stop_when_the_supervisor_is_killed(
        settings: Settings, db: Database, fleet: Any, redis_url: str, tmp_path: Any) -> None:
    ingress = RedisIngress(settings, tmp_path, redis_url, f"centrale-test-{uuid.uuid4().hex[:12]}")
    ingress.processes = 2
    await ingress.start()
    assert ingress.process is not None
    supervisor = ingress.process.pid
    workers = children(supervisor)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    for _ in range(100):  # restarted under the same number (its node name: it closes what it left open)
        await asyncio.sleep(0.1)
        if len(children(supervisor)) == 2 and workers[0] not in children(supervisor):
            break
    restarted = children(supervisor)
    assert len(restarted) == 2 and workers[0] not in restarted
    ws = await open_socket(ingress.port, "CPAM-LM-01")  # still served
    await ws.send('[2, "h", "Heartbeat", {}]')
    await answer_to(ws, "h")
    await ws.close()
    # The supervisor killed outright: its workers notice and stop (the port is not held by orphans).
    await ingress.kill(signal.SIGKILL)
    for _ in range(100):
        await asyncio.sleep(0.1)
        if not any(alive(pid) for pid in restarted):
            break
    assert not any(alive(pid) for pid in restarted)


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
