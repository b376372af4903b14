"""The core OCPP 1.6J scenario again, with an independent implementation as the station.

``tests/node/scenario.mjs`` is a station written with the npm package ``ocpp-rpc``
(its own framing, its own schema validation in ``strictMode``: a malformed answer
from us fails its call), run by Node 20 against the ingress on PostgreSQL. It
boots, reports statuses, authorizes a known, an unknown and a blocked badge (CCTP
CPAM 5-5-5-3), charges once with meter values (5-5-4, « courbes de charge »),
replays its StartTransaction (same transactionId expected) and its
StopTransaction (counted once), sends offline data from a communication cut
(5-5), and sends two bad frames. Then it waits for one remote command from our
side (``csms.domain.commands.send_command``, GetConfiguration) and answers it. The test
asserts the answers the Node client got and what was stored.

``make test`` installs the package (``npm ci`` in tests/node). Without Node or the
installed package the test is skipped, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from csms.domain import registry
from csms.domain.commands import send_command
from csms.domain.models import CommandLog, ConnectionLog, MeterValue, StatusEvent

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
IN_CI = os.environ.get("CI", "").lower() == "true"

def node_or_skip() -> str:
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed (Node 20 expected)"
    elif not (NODE_DIR / "node_modules" / "ocpp-rpc" / "package.json").exists():
        problem = "ocpp-rpc is not installed: run `make node` (npm ci in tests/node)"
    if problem:
        if IN_CI:
            pytest.fail(f"{problem} (CI=true: a missing Node client is a failure)")
        pytest.skip(problem)
    assert node is not None
    return node


async def read_phase(process: asyncio.subprocess.Process, phase: str) -> dict[str, Any]:
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if not line:
            stderr = await process.stderr.read() if process.stderr else b""
            raise AssertionError(f"node exited before {phase!r}: {stderr.decode()[-2000:]}")
        message = json.loads(line)
        if message.get("phase") == "failed":
            raise AssertionError(f"node scenario failed: {message}")
        if message.get("phase") == phase:
            return message


async def get_configuration(db: Any, ingress: Any, fleet: Any, keys: list[str]) -> dict[str, Any]:
    """One remote command from our side, as the portal and the API send it (``csms.domain.commands``, over the bus)."""
    return await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id="CPAM-LM-01",
                              action="GetConfiguration", payload={"key": keys},
                              actor={"user_id": None, "label": "test ocpp-rpc"})


@pytest.mark.parametrize("backend", ["postgres"])
async def test_an_ocpp_rpc_station_runs_the_core_16_scenario(db, fleet, ingress, stations):
    node = node_or_skip()
    process = await asyncio.create_subprocess_exec(
        node, str(NODE_DIR / "scenario.mjs"), f"ws://127.0.0.1:{ingress.port}/ocpp", "CPAM-LM-01",
        cwd=NODE_DIR, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "OCPP_PASSWORD": stations.password, "OCPP_WAIT_COMMAND_MS": "20000"},
    )
    try:
        ready = await read_phase(process, "ready")
        steps = ready["steps"]
        command = await get_configuration(db, ingress, fleet, ["HeartbeatInterval", "NotAKey"])
        done = await read_phase(process, "done")
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    # What the Node station got (each answer also passed ocpp-rpc's own 1.6 schema check).
    def result(name: str) -> Any:
        assert steps[name]["ok"], steps[name]
        return steps[name]["result"]

    assert steps["protocol"] == "ocpp1.6"
    boot = result("boot")
    assert (boot["status"], boot["interval"]) == ("Accepted", 300)
    assert abs(dt.datetime.fromisoformat(boot["currentTime"].replace("Z", "+00:00")) - utcnow()) < dt.timedelta(minutes=1)
    assert set(result("heartbeat")) == {"currentTime"}
    assert [result(name) for name in ("status0", "status1", "charging", "available", "meters", "metersReplay")] == [{}] * 6
    assert [result(name)["idTagInfo"]["status"] for name in ("authKnown", "authUnknown", "authBlocked")] == [
        "Accepted", "Invalid", "Blocked"]
    start = result("start")
    assert start["idTagInfo"] == {"status": "Accepted"} and isinstance(start["transactionId"], int)
    assert result("startReplay") == start  # the same transactionId
    assert result("stop") == result("stopReplay") == {"idTagInfo": {"status": "Accepted"}}
    offline_start = result("offlineStart")
    assert offline_start["transactionId"] != start["transactionId"]
    assert [result(name) for name in ("offlineStatus", "offlineMeters")] == [{}, {}]
    assert steps["unknownAction"]["error"]["code"] == "NotImplemented"
    assert steps["badEnum"]["error"]["code"] == "PropertyConstraintViolation"
    assert [frame[2] for frame in ready["callErrors"]] == ["NotImplemented", "PropertyConstraintViolation"]  # ours

    # The remote command: received by the Node station as sent, and its answer back to us.
    (received,) = [c for c in done["commands"] if c["method"] == "GetConfiguration"]
    assert (received["method"], received["params"]) == ("GetConfiguration", {"key": ["HeartbeatInterval", "NotAKey"]})
    assert command == {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
                       "unknownKey": ["NotAKey"]}
    assert done["close"]["code"] == 1000

    # What was stored.
    async with db.session([fleet.cpam]) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-01")
        assert (charger.vendor, charger.model, charger.serial_number, charger.firmware_version) == (
            "ocpp-rpc", "Node station", "NODE-0001", "node-20")
        rows = {row.ocpp_transaction_id: row for row in await registry.list_transactions(session, fleet.cpam, charger.id)}
        assert set(rows) == {str(start["transactionId"]), str(offline_start["transactionId"])}  # the replay made none
        online, offline = rows[str(start["transactionId"])], rows[str(offline_start["transactionId"])]
        assert (online.status, online.connector_id, online.id_tag, online.id_tag_status, online.meter_start,
                online.meter_stop, online.energy_wh, online.stop_reason, online.offline) == (
            "completed", 1, "BADGE-OK", "Accepted", 10000, 11500, 1500, "EVDisconnected", False)
        assert (offline.status, offline.connector_id, offline.energy_wh, offline.offline) == ("completed", 2, 4000, True)
        samples = (await session.execute(
            select(MeterValue.measurand, MeterValue.context, MeterValue.value, MeterValue.offline)
            .where(MeterValue.tenant_id == fleet.cpam, MeterValue.transaction_id == online.id)
            .order_by(MeterValue.sampled_at, MeterValue.measurand)
        )).all()
        assert [tuple(s) for s in samples] == [
            ("Energy.Active.Import.Register", "Transaction.Begin", 10000.0, False),
            ("Power.Active.Import", "Transaction.Begin", 7200.0, False),
            ("Energy.Active.Import.Register", "Sample.Periodic", 10400.0, False),  # sent twice, stored once
            ("Power.Active.Import", "Sample.Periodic", 7200.0, False),
            ("Energy.Active.Import.Register", "Sample.Periodic", 10800.0, False),
            ("Power.Active.Import", "Sample.Periodic", 7200.0, False),
            ("Energy.Active.Import.Register", "Transaction.End", 11500.0, False),
            ("Power.Active.Import", "Transaction.End", 7200.0, False),
        ]
        assert await session.scalar(select(func.count()).select_from(MeterValue).where(
            MeterValue.tenant_id == fleet.cpam, MeterValue.transaction_id == offline.id, MeterValue.offline)) == 2
        statuses = (await session.execute(
            select(StatusEvent.connector_id, StatusEvent.status, StatusEvent.offline)
            .where(StatusEvent.tenant_id == fleet.cpam, StatusEvent.charger_id == charger.id)
            .order_by(StatusEvent.reported_at, StatusEvent.connector_id)
        )).all()
        assert [tuple(s) for s in statuses] == [
            (2, "Charging", True),  # from the cut, three hours ago
            (1, "Charging", False), (1, "Available", False), (0, "Available", False), (1, "Available", False),
        ]
        (connection,) = await session.scalars(select(ConnectionLog).where(
            ConnectionLog.tenant_id == fleet.cpam, ConnectionLog.charger_id == charger.id))
        assert (connection.subprotocol, connection.reason, connection.close_code) == ("ocpp1.6", "closed_by_station", 1000)
        (logged,) = await session.scalars(select(CommandLog).where(CommandLog.tenant_id == fleet.cpam))
        assert (logged.action, logged.status, logged.payload, logged.answer, logged.actor) == (
            "GetConfiguration", "accepted", {"key": ["HeartbeatInterval", "NotAKey"]}, command, "test ocpp-rpc")
        # The bad frames changed nothing: no status « Sleeping » anywhere.
        assert "Sleeping" not in {s[1] for s in statuses}
    stopped = await ingress.events.wait("transaction.stopped", count=2)
    assert sorted(e["transaction_id"] for e in stopped) == sorted([start["transactionId"], offline_start["transactionId"]])
