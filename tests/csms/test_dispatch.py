"""The ingress's own dispatch of Calls (csms.ingress.link.StationLink._dispatch) against the library's.

The ingress answers our handlers without the library's ``_handle_call`` (which parses
every frame twice and converts keys with regular expressions at every message): these
tests hold it to the library's conversions and to the handler shapes it relies on.
"""

from __future__ import annotations

import inspect
import json

from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call
from ocpp.v16 import call_result as result16
from ocpp.v201 import call_result as result201

from csms.domain.protocol import call_result_frame, snake_keys
from csms.ingress.server import ChargeBox16, ChargeBox201

PAYLOADS = [
    {"connectorId": 1, "transactionId": 7, "meterValue": [{"timestamp": "2026-11-30T10:00:00Z", "sampledValue": [
        {"value": "12.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh", "phase": "L1-N"}]}]},
    {"chargePointVendor": "ACME", "chargePointModel": "X", "chargeBoxSerialNumber": "1", "iccid": "", "meterType": "m"},
    {"chargingStation": {"vendorName": "ACME", "model": "X", "modem": {"iccid": "1"}}, "reason": "PowerUp"},
    {"evse": {"id": 1}, "meterValue": [{"timestamp": "2026-11-30T10:00:00Z", "sampledValue": [
        {"value": 3.5, "unitOfMeasure": {"unit": "kWh", "multiplier": 3}, "signedMeterValue": {"signedMeterData": "x"}}]}],
     "customData": {"vendorId": "acme", "maxSoCLimit": 80, "V2XMode": "on", "ocppCSMSURL": "wss://x"}},
]


def test_snake_keys_are_the_library_conversion() -> None:
    for payload in PAYLOADS:
        assert snake_keys(payload) == camel_to_snake_case(payload)
        assert snake_keys(payload) == camel_to_snake_case(payload)  # second time: from the remembered keys


def test_call_result_frames_are_the_library_frames() -> None:
    answers = [
        result16.BootNotification(current_time="2026-11-30T10:00:00.000Z", interval=300, status="Accepted"),
        result16.Heartbeat(current_time="2026-11-30T10:00:00.000Z"),
        result16.StatusNotification(),
        result16.StartTransaction(transaction_id=4, id_tag_info={"status": "Accepted", "parent_id_tag": None}),
        result16.StopTransaction(),
        result201.Authorize(id_token_info={"status": "Accepted", "charging_priority": 2}),
        result201.TransactionEvent(total_cost=1.5, id_token_info={"status": "Blocked"}),
    ]
    for answer in answers:
        library = Call("42", "X", {}).create_call_result(
            snake_to_camel_case(remove_nones(serialize_as_dict(answer)))).to_json()
        assert json.loads(call_result_frame("42", answer)) == json.loads(library)
        assert call_result_frame("42", answer) == library  # byte for byte: tests assert frames on the wire


def test_handlers_take_no_unique_id_and_have_no_after_hook() -> None:
    # _dispatch calls handler(**payload) and sends the answer: nothing else of the library's routing.
    for cls in (ChargeBox16, ChargeBox201):
        handlers = [member for member in vars(cls).values() if hasattr(member, "_on_action")]
        assert len(handlers) >= 7
        for handler in handlers:
            assert "call_unique_id" not in inspect.signature(handler).parameters
        assert not [member for member in vars(cls).values() if hasattr(member, "_after_action")]


def test_our_route_table_is_the_librarys_for_the_pinned_version():
    """The ingress dispatches with its own table (``handled_actions``), read from the library's
    ``@on`` marker: for the installed ``ocpp`` (pinned in requirements.lock), the library's own
    route map names the same actions and the same handlers, with no ``@after`` hook."""
    from importlib.metadata import version

    from ocpp.routing import create_route_map

    from csms.ingress.server import handled_actions

    assert version("ocpp") == "2.1.0", "a new ocpp release: check that @on still marks handlers with _on_action"
    for cls in (ChargeBox16, ChargeBox201):
        ours = handled_actions(cls)
        assert ours == cls.ROUTES and len(ours) >= 7
        library = create_route_map(cls)  # reads the class attributes, like an instance would
        assert set(library) == set(ours)
        for action, name in ours.items():
            assert library[action]["_on_action"] is vars(cls)[name]
            assert "_after_action" not in library[action]
