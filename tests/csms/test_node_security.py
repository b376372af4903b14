"""Issue 17's security, firmware and log messages with an independent strict station (npm ``ocpp-rpc``).

``tests/node/security.mjs`` sends SecurityEventNotification, SignCertificate, the firmware status
(1.6: SignedFirmwareStatusNotification; 2.0.1: FirmwareStatusNotification) and LogStatusNotification,
each answer checked by ocpp-rpc's own schemas; then it answers CertificateSigned (sent by us after the
SignCertificate) and the security commands we send, each command checked by its strict mode first.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from csms.domain.commands import send_command
from tests.csms.test_fleet_operations import make_csr
from tests.csms.test_node_ocpp_rpc import NODE_DIR, node_or_skip

COMMANDS = {
    "1.6": [
        ("ExtendedTriggerMessage", {"requestedMessage": "StatusNotification"}),
        ("GetLog", {"logType": "SecurityLog", "requestId": 5, "log": {"remoteLocation": "https://exemple.fr/j/"}}),
        ("SignedUpdateFirmware", {"requestId": 6, "firmware": {
            "location": "https://exemple.fr/fw.bin", "retrieveDateTime": "2026-12-07T10:00:00Z",
            "signingCertificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "signature": "c2lnbmF0dXJl"}}),
        ("InstallCertificate", {"certificateType": "CentralSystemRootCertificate",
                                "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}),
        ("DeleteCertificate", {"certificateHashData": {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64,
                                                       "issuerKeyHash": "b" * 64, "serialNumber": "01"}}),
        ("GetInstalledCertificateIds", {"certificateType": "ManufacturerRootCertificate"}),
    ],
    "2.0.1": [
        ("GetLog", {"logType": "SecurityLog", "requestId": 5, "log": {"remoteLocation": "https://exemple.fr/j/"}}),
        ("UpdateFirmware", {"requestId": 6, "firmware": {"location": "https://exemple.fr/fw.bin",
                                                         "retrieveDateTime": "2026-12-07T10:00:00Z"}}),
        ("InstallCertificate", {"certificateType": "CSMSRootCertificate",
                                "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}),
        ("DeleteCertificate", {"certificateHashData": {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64,
                                                       "issuerKeyHash": "b" * 64, "serialNumber": "01"}}),
        ("GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]}),
    ],
}


async def ready_and_certificate(process: asyncio.subprocess.Process) -> tuple[dict[str, Any], dict[str, Any]]:
    """The station's "ready" line and the CertificateSigned it received, in whichever order they come."""
    found: dict[str, dict[str, Any]] = {}
    assert process.stdout is not None
    while len(found) < 2:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if not line:
            stderr = await process.stderr.read() if process.stderr else b""
            raise AssertionError(f"node exited before ready and CertificateSigned: {stderr.decode()[-2000:]}")
        message = json.loads(line)
        assert message.get("phase") not in ("failed", "invalid"), message
        if message.get("phase") == "ready" or message.get("method") == "CertificateSigned":
            found[message["phase"]] = message
    return found["ready"], found["command"]


@pytest.mark.parametrize(("charge_box_id", "protocol"), [("CPAM-LM-01", "ocpp1.6"), ("CPAM-LM-201", "ocpp2.0.1")])
async def test_a_strict_ocpp_rpc_station_sends_and_answers_the_security_messages(
        db, fleet, ingress, stations, charge_box_id, protocol):
    node = node_or_skip()
    csr, _ = make_csr(charge_box_id)
    process = await asyncio.create_subprocess_exec(
        node, str(NODE_DIR / "security.mjs"), f"ws://127.0.0.1:{ingress.port}/ocpp", charge_box_id, stations.password,
        protocol, cwd=NODE_DIR, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "OCPP_CSR": csr})
    answers: dict[str, Any] = {}
    try:
        # CertificateSigned follows the SignCertificate answer at once (A02), so the station usually gets
        # it while its last steps are still running: before or after its "ready" line, both are read.
        ready, signed = await ready_and_certificate(process)
        version = protocol.removeprefix("ocpp")
        for action, payload in COMMANDS[version]:
            answers[action] = await send_command(db, ingress.bus, tenant_id=fleet.cpam, charge_box_id=charge_box_id,
                                                 action=action, payload=payload,
                                                 actor={"user_id": None, "label": "test ocpp-rpc"})
        assert process.stdin is not None
        process.stdin.write(b"stop\n")
        await process.stdin.drain()
        lines = []
        while True:
            assert process.stdout is not None
            message = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
            lines.append(message)
            if message.get("phase") in ("done", "failed"):
                break
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    steps = ready["steps"]
    assert all(steps[name]["ok"] for name in ("security", "sign", "firmware", "log")), steps
    assert [steps[name]["result"] for name in ("security", "firmware", "log")] == [{}, {}, {}]
    assert steps["sign"]["result"] == {"status": "Accepted"}
    assert signed["method"] == "CertificateSigned" and "BEGIN CERTIFICATE" in signed["params"]["certificateChain"]
    received = [m["method"] for m in lines if m.get("phase") == "command"]
    assert received == [action for action, _ in COMMANDS[version]]  # every command passed the strict schemas
    assert not [m for m in lines if m.get("phase") == "invalid"]
    assert answers["GetInstalledCertificateIds"] == {"status": "NotFound"}
    assert answers["InstallCertificate"] == {"status": "Accepted"}
