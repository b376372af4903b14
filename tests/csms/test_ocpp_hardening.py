"""OCPP wire hardening (issue 10, « OCPP »): what a misbehaving station can no longer do.

Over real sockets: answers to calls never made are dropped at the edge (and memory
stays flat under 1,000 of 400 KB), a frame nested ~1,000 deep gets its CallError
and the socket stays open, integers beyond the OCPP ``integer`` range get a
CallError instead of an ``InternalError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Station16
from ocpp.v16 import call
from ocpp.v16 import call_result as station_result

from tests.csms.conftest import open_socket
from tests.csms.test_ingress import NOW, counts
from tests.csms.test_kill9 import IngressProcess

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def _raw(ws: Any, frame: str) -> Any:
    """Send a frame, return the answer to it (the CSMS's own calls, e.g. local list checks, are skipped)."""
    await ws.send(frame)
    while True:
        answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if answer[0] != 2:
            return answer


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# --------------------------------------------------------------------------- unsolicited answers


class _ConfigurableStation(Station16):
    @on("GetConfiguration")
    async def on_get_configuration(self, **kwargs: Any) -> Any:
        return station_result.GetConfiguration(configuration_key=[
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"}])


async def test_answers_to_calls_never_made_are_dropped_counted_and_logged_once(ingress, stations):
    """OCPP-J 1.6 §4.1.3 / 2.0.1 §4.2.2: a CallResult (3) or CallError (4) answers a Call of the
    receiver, matched by its MessageId. Those answering nothing never reach the library's queue."""
    records = _Records()
    logging.getLogger("csms.ingress").addHandler(records)
    ws = await stations.socket("CPAM-LM-01")
    try:
        assert await _raw(ws, json.dumps([2, "warm", "Heartbeat", {}])) == [3, "warm", {"currentTime": NOW}]
        link = ingress.registry.get("CPAM-LM-01")
        for number in range(40):
            await ws.send(json.dumps([3, f"never-sent-{number}", {"data": "x" * 1000}]))
            await ws.send(json.dumps([4, f"never-sent-e{number}", "GenericError", "", {}]))
        # Frames are handled in order: once this is answered, the 80 before it were.
        assert await _raw(ws, json.dumps([2, "after", "Heartbeat", {}])) == [3, "after", {"currentTime": NOW}]
        assert link.unsolicited_answers == 80
        assert ingress.unsolicited_answers == 80
        assert link._response_queue.qsize() == 0  # noqa: SLF001 - the library's queue holds none of them
        warnings = [r.getMessage() for r in records.records if "unsolicited" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].startswith("CPAM-LM-01: 1 unsolicited")
        # The library's own calls still get their answers (their ids are let through).
        station = _ConfigurableStation("CPAM-LM-01", stations.Wire(ws))
        task = asyncio.create_task(station.start())
        try:
            result = await ingress.registry.call("CPAM-LM-01", call.GetConfiguration(key=["HeartbeatInterval"]))
            assert result.configuration_key == [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
            assert link.unsolicited_answers == 80
        finally:
            task.cancel()
    finally:
        logging.getLogger("csms.ingress").removeHandler(records)
        await ws.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


UNSOLICITED_FRAMES = 1000
FRAME_BYTES = 400 * 1024


async def test_memory_stays_flat_under_1000_unsolicited_400kb_answers(settings, db, fleet, tmp_path):
    """The review's attack on a real ``centrale ingress`` process: 150 frames of 450 KB grew it by
    142 MiB, held. Now 1,000 frames of 400 KB (400 MB on the wire) leave its RSS where it was,
    and the station is still answered on the same socket."""
    ingress = IngressProcess(settings, tmp_path)
    await ingress.start()
    assert ingress.process is not None
    pid = ingress.process.pid
    try:
        ws = await open_socket(ingress.port, "CPAM-LM-01", max_size=None)
        filler = "x" * (FRAME_BYTES - 64)

        async def flood(count: int, start: int) -> None:
            for number in range(start, start + count):
                await ws.send(f'[3, "unsolicited-{number}", {{"data": "{filler}"}}]')
            assert await _raw(ws, json.dumps([2, f"hb-{start}", "Heartbeat", {}])) == [
                3, f"hb-{start}", {"currentTime": NOW}]

        await flood(20, 0)  # warm-up: the allocator's steady state for frames of this size
        before = rss_mib(pid)
        await flood(UNSOLICITED_FRAMES, 20)
        after = rss_mib(pid)
        print(f"ingress RSS: {before:.1f} MiB before, {after:.1f} MiB after {UNSOLICITED_FRAMES} unsolicited "
              f"CallResults of {FRAME_BYTES // 1024} KB")
        assert after - before < 40, (before, after)
        await ws.close()
    finally:
        await ingress.kill()


# --------------------------------------------------------------------------- nesting


FORMATION = "Payload for Action is syntactically incorrect or not conform the PDU structure for Action"


@pytest.mark.parametrize(("charge_box_id", "protocol", "code"), [
    ("CPAM-LM-01", "ocpp1.6", "FormationViolation"),
    ("CPAM-LM-201", "ocpp2.0.1", "RpcFrameworkError"),
])
async def test_a_frame_nested_1000_deep_gets_its_call_error_and_the_socket_stays_open(
        db, fleet, ingress, stations, charge_box_id, protocol, code):
    """OCPP-J 1.6 §4.2.3: FormationViolation « Payload for Action is syntactically incorrect »;
    2.0.1 §4.3: RpcFrameworkError « Content of the call is not a valid RPC Request » (its MessageId
    cannot be read: answered with "-1"). Once a RecursionError and a 1011 close."""
    ws = await stations.socket(charge_box_id, protocol=protocol)
    before = await counts(db, fleet.cpam)
    nested = "[" * 990 + "]" * 990
    answer = await _raw(ws, nested)
    assert answer[:3] == [4, "-1", code]
    assert answer[4] == {"cause": "nested deeper than 32 levels"}
    # Deep inside a readable Call: the CallError names the call.
    deep_call = '[2, "deep-1", "Heartbeat", {"a": ' + "[" * 990 + "]" * 990 + "}]"
    answer = await _raw(ws, deep_call)
    assert answer[:3] == [4, "deep-1", "FormationViolation" if protocol == "ocpp1.6" else "FormatViolation"]
    assert await _raw(ws, json.dumps([2, "after", "Heartbeat", {}])) == [3, "after", {"currentTime": NOW}]
    assert ws.close_code is None
    await ws.close()
    assert await counts(db, fleet.cpam) == before


# --------------------------------------------------------------------------- integer bounds


TYPE_CONSTRAINT = ("Payload for Action is syntactically correct but at least one of the fields violates data type "
                   "constraints")


@pytest.mark.parametrize("backend", BOTH)
async def test_integers_beyond_the_ocpp_integer_get_a_call_error_and_nothing_is_written(db, fleet, ingress, stations):
    """OCPP 2.0.1 Part 2 §2.1: an OCPP integer is 32 bits, signed. 2^63 once passed the schema and
    overflowed the column: the station got InternalError. Now TypeConstraintViolation (OCPP-J 1.6
    §4.2.3: « violates data type constraints »), and nothing is stored."""
    ws = await stations.socket("CPAM-LM-01")
    assert await _raw(ws, json.dumps([2, "warm", "Heartbeat", {}])) == [3, "warm", {"currentTime": NOW}]
    before = await counts(db, fleet.cpam)
    start = '{"connectorId": %s, "idTag": "BADGE-OK", "meterStart": 0, "timestamp": "2026-01-01T10:00:00Z"}'
    cases = [
        ("big-1", "StartTransaction", start % "9223372036854775808", "data.connectorId must be smaller than or equal to 2147483647"),
        ("big-2", "StartTransaction", start % "2147483648", "data.connectorId must be smaller than or equal to 2147483647"),
        ("big-3", "StartTransaction", start % "-9223372036854775809",
         "data.connectorId must be bigger than or equal to -2147483648"),
        ("big-4", "StopTransaction", '{"meterStop": 10, "timestamp": "2026-01-01T11:00:00Z", '
                                     '"transactionId": 9223372036854775808}',
         "data.transactionId must be smaller than or equal to 2147483647"),
        ("big-5", "MeterValues", '{"connectorId": 1, "transactionId": 4294967296, "meterValue": '
                                 '[{"timestamp": "2026-01-01T10:30:00Z", "sampledValue": [{"value": "10"}]}]}',
         "data.transactionId must be smaller than or equal to 2147483647"),
    ]
    for unique_id, action, payload, cause in cases:
        answer = await _raw(ws, f'[2, "{unique_id}", "{action}", {payload}]')
        assert answer == [4, unique_id, "TypeConstraintViolation", TYPE_CONSTRAINT, {"cause": cause}], answer
    assert await _raw(ws, json.dumps([2, "after", "Heartbeat", {}])) == [3, "after", {"currentTime": NOW}]
    await ws.close()
    assert await counts(db, fleet.cpam) == before


def test_a_command_with_an_integer_beyond_the_ocpp_integer_is_refused_before_sending():
    """The same bound checks our own commands (``csms.commands.validate_command``): a 422, nothing sent."""
    from app.errors import ValidationFailed
    from csms.commands import validate_command

    with pytest.raises(ValidationFailed) as caught:
        validate_command("1.6", "UnlockConnector", {"connectorId": 2**63})
    assert caught.value.errors == {"payload": "« connectorId » : valeur trop grande (maximum 2147483647)."}
    with pytest.raises(ValidationFailed):
        validate_command("2.0.1", "UnlockConnector", {"evseId": 1, "connectorId": -(2**31) - 1})
    assert validate_command("1.6", "UnlockConnector", {"connectorId": 2**31 - 1}) == "1.6"
