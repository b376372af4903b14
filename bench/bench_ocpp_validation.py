"""OCPP payload validation: the library's jsonschema path against our compiled schemas.

    python bench/bench_ocpp_validation.py [--seconds 2]

Validates the same OCPP 1.6 MeterValues request (one meterValue, three phases:
energy, power, current and voltage per phase, 10 sampled values) over and over,
on one core, three ways:

* ``ocpp`` library, jsonschema ``Draft4Validator`` (what ``ChargePoint`` does for
  every message unless ``skip_schema_validation=True``), called synchronously;
* the same through the library's ``validate_payload`` coroutine, which runs it in
  the default thread pool (the real per-message cost inside the library);
* ``csms.domain.protocol.check_call``: the library's own bundled schema compiled once
  with fastjsonschema (what the ingress does).

Prints messages per second for each and the speed-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocpp.messages import Call, _validate_payload, validate_payload  # noqa: E402, PLC2701 - the library's validator is what this bench compares against

from csms.domain.protocol import check_call, compile_validator  # noqa: E402

PAYLOAD = {
    "connectorId": 1,
    "transactionId": 1234,
    "meterValue": [{
        "timestamp": "2026-11-23T10:15:00.000Z",
        "sampledValue": [
            {"value": "12345.6", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "7360", "context": "Sample.Periodic", "measurand": "Power.Active.Import", "unit": "W"},
            *[{"value": "10.7", "context": "Sample.Periodic", "measurand": "Current.Import", "phase": phase, "unit": "A"}
              for phase in ("L1", "L2", "L3")],
            *[{"value": "229.8", "context": "Sample.Periodic", "measurand": "Voltage", "phase": f"{phase}-N", "unit": "V"}
              for phase in ("L1", "L2", "L3")],
            {"value": "31", "context": "Sample.Periodic", "measurand": "Temperature", "location": "Body", "unit": "Celsius"},
            {"value": "64", "context": "Sample.Periodic", "measurand": "SoC", "location": "EV", "unit": "Percent"},
        ],
    }],
}


def rate(fn: Callable[[], object], seconds: float) -> float:
    fn()  # warm-up (schema loading and compilation are not measured)
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            fn()
        count += 100
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


async def async_rate(seconds: float) -> float:
    message = Call("bench", "MeterValues", PAYLOAD)
    await validate_payload(message, "1.6")
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            await validate_payload(message, "1.6")
        count += 100
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    compile_validator("1.6", "MeterValues")
    message = Call("bench", "MeterValues", PAYLOAD)
    library = rate(lambda: _validate_payload(message, "1.6"), args.seconds)
    library_async = asyncio.run(async_rate(args.seconds))
    ours = rate(lambda: check_call("1.6", "MeterValues", PAYLOAD, "bench"), args.seconds)
    figures = {
        "payload_bytes": len(json.dumps(PAYLOAD)),
        "library_jsonschema_per_s": round(library),
        "library_validate_payload_executor_per_s": round(library_async),
        "fastjsonschema_per_s": round(ours),
        "speedup_vs_jsonschema": round(ours / library, 1),
    }
    if args.json:
        print(json.dumps(figures))  # noqa: T201
        return
    print(f"OCPP 1.6 MeterValues ({figures['payload_bytes']} bytes, 10 sampled values), one core:")  # noqa: T201
    print(f"  ocpp library, jsonschema (sync)          : {library:>10,.0f} messages/s")  # noqa: T201
    print(f"  ocpp library, validate_payload (executor): {library_async:>10,.0f} messages/s")  # noqa: T201
    print(f"  csms.domain.protocol, fastjsonschema          : {ours:>10,.0f} messages/s")  # noqa: T201
    print(f"  speed-up over jsonschema                 : {ours / library:>10.1f}x")  # noqa: T201


if __name__ == "__main__":
    main()
