"""Every OCPP 2.0.1 station message of issue 17 §1–§2 from an independent strict station.

``tests/node/scenario201.mjs`` is a station written with the npm package ``ocpp-rpc`` in
``strictMode`` (its own 2.0.1 schemas: a malformed answer from us fails its call), run by
Node 20 against the ingress on PostgreSQL. It sends a base report in three parts (one
replayed), a monitoring report and every other message (charging profiles, reservation
update, data transfer, charging limits, EV needs and schedule, customer information,
display messages, ISO 15118 certificate and OCSP requests), then an unknown MessageTypeId
raw. The test asserts the answers the Node client got (each passed its schema check) and
the device model stored. Without Node the test is skipped, except in CI (``CI=true``).
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from sqlalchemy import select

from csms.domain import device_model, registry
from csms.domain.models import StationEvent
from tests.csms.test_node_ocpp_rpc import NODE_DIR, node_or_skip


@pytest.mark.parametrize("backend", ["postgres"])
async def test_an_ocpp_rpc_201_station_sends_every_other_message(db, fleet, ingress, stations):
    node = node_or_skip()
    process = await asyncio.create_subprocess_exec(
        node, str(NODE_DIR / "scenario201.mjs"), f"ws://127.0.0.1:{ingress.port}/ocpp", "CPAM-LM-201",
        stations.password, cwd=NODE_DIR, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ))
    try:
        out, err = await asyncio.wait_for(process.communicate(), 90)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    done = json.loads(out.decode().strip().splitlines()[-1])
    assert done["phase"] == "done", (done, err.decode()[-2000:])
    steps = done["steps"]
    failed = {name: step["error"] for name, step in steps.items() if not step["ok"]}
    assert failed == {}
    results = {name: step["result"] for name, step in steps.items()}
    assert {name: results[name] for name in results if name not in ("boot", "heartbeat")} == {
        "report0": {}, "report1": {}, "report1Replay": {}, "report2": {}, "monitoring": {}, "profiles": {},
        "reservation": {}, "dataTransfer": {"status": "UnknownVendorId"}, "limit": {}, "limitCleared": {},
        "needs": {"status": "Rejected"}, "schedule": {"status": "Accepted"}, "customer": {}, "display": {},
        "evCertificate": {"status": "Failed", "exiResponse": ""}, "certificateStatus": {"status": "Failed"},
    }
    assert done["rawAnswers"] == [[4, "node-mt-6", "MessageTypeNotSupported",
                                   "A message with a Message Type Number received that is not supported by this "
                                   "implementation", {"cause": "MessageTypeId 6 is not supported"}]]
    assert done["close"]["code"] == 1000

    async with db.session([fleet.cpam]) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-201")
        rows, total = await device_model.list_variables(session, fleet.cpam, charger.id)
        assert [(r.key, r.value) for r in rows] == [
            ("ChargingStation/Model:Actual", "Node station"), ("EVSE@1/Power:Actual", "11000"),
            ("OCPPCommCtrlr/HeartbeatInterval:Actual", "300"), ("OCPPCommCtrlr/OfflineThreshold:Actual", "60")]
        reports = {r.kind: r for r in await device_model.list_reports(session, fleet.cpam, charger.id)}
        assert (reports["variables"].seq_nos, reports["variables"].complete, reports["variables"].items) == (
            [0, 1, 2], True, 4)
        (monitor,) = await device_model.list_monitors(session, fleet.cpam, charger.id)
        assert (monitor.monitor_id, monitor.type, monitor.value) == (3, "UpperThreshold", "11000")
        kinds = sorted(set(await session.scalars(select(StationEvent.kind).where(
            StationEvent.tenant_id == fleet.cpam, StationEvent.charger_id == charger.id))))
        assert kinds == ["boot", "certificate_status", "charging_limit", "charging_profiles", "customer_information",
                         "data_transfer", "display_messages", "ev_certificate", "ev_charging_needs",
                         "ev_charging_schedule", "reservation"]
