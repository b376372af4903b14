"""``make bench``'s OCPP harnesses still run: a few stations for a few seconds, nothing lost.

No timing is asserted (the machine is shared; figures belong to the benchmark, not
to tests): only that each completes, every station boots, no message errs, and every
acknowledged message is committed (PostgreSQL for bench_ocpp.py, the embedded SQLite
database for bench_embedded.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_HOST, PG_PORT, require_service

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_bench_ocpp_runs_with_no_error_and_everything_committed(tmp_path):
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    require_service("Redis", "127.0.0.1", 6379)
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_ocpp.py"), "--stations", "50", "--tenants", "3",
         "--rate", "100", "--duration", "2", "--saturation-rate", "300", "--saturation-duration", "1",
         "--json", str(out)],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "everything committed: yes" in run.stdout
    result = json.loads(out.read_text())
    ingress, echo, committed = result["ingress"], result["echo"], result["committed"]
    assert ingress["stations_opened"] == ingress["stations_connected"] == 50
    assert echo["stations_connected"] == 50
    assert ingress["errors"] == {} and echo["errors"] == {}
    acked = ingress["acknowledged"]
    assert acked["BootNotification"] == committed["BootNotification"] == 50
    assert acked["StatusNotification"] == committed["StatusNotification"] >= 50
    assert acked.get("MeterValues", 0) == committed["MeterValues"]
    assert ingress["sustained_sent"] == ingress["sustained_answered"] > 0
    assert ingress["saturation"]["sustained_sent"] == ingress["saturation"]["sustained_answered"] > 0
    assert "ratios to the echo server, this run" in run.stdout
    assert committed["heartbeats_not_seen"] == 0
    assert committed["connections"] == 50


def test_bench_embedded_runs_with_every_heartbeat_committed(tmp_path):
    """``bench/bench_embedded.py``: ``centrale serve`` on SQLite, stations from the npm ocpp-rpc client."""
    node = shutil.which("node")
    ocpp_rpc = Path(os.environ.get("OCPP_RPC_DIR") or ROOT / "tests" / "node") / "node_modules" / "ocpp-rpc"
    if node is None or not (ocpp_rpc / "package.json").exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Node or ocpp-rpc missing (make node)")
        pytest.skip("Node or ocpp-rpc missing (make node)")
    out = tmp_path / "embedded.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_embedded.py"), "--stations", "10", "--tenants", "2",
         "--duration", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["result"]["stations_booted"] == 10
    assert result["result"]["errors"] == {}
    assert result["result"]["heartbeats_answered"] == result["result"]["heartbeats_sent"] >= 10
    assert result["heartbeats_not_seen"] == 0
