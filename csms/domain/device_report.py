"""The OCPP 2.0.1 device model, read from what a station says: pure functions, no database.

OCPP 2.0.1 Part 1 §4 « Device model »: a station is a set of *components* (optionally
with an instance name, an EVSE and a connector), each with *variables* (optionally
with an instance name); a variable has up to four *attributes* (``Actual``, ``Target``,
``MinSet``, ``MaxSet``: a value, its mutability, persistence and constancy) and one set
of *characteristics* (data type, unit, limits, list of values, whether it can be
monitored). GetBaseReport / GetReport make the station send it in NotifyReport parts
(``seqNo`` from 0, ``tbc`` true until the last one); GetVariables / SetVariables read and
write single attributes; SetVariableMonitoring and NotifyMonitoringReport do the same
for monitors.

Every payload here is in snake_case (the ingress converts the wire's camelCase keys
with the library's own conversion; command answers go through the same conversion).
One attribute of one variable is one row, named by ``variable_key``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACCEPTED_SET",
    "AttributeRow",
    "MonitorRow",
    "ReportProgress",
    "place_of",
    "attribute_rows",
    "monitor_rows",
    "monitor_set_rows",
    "progress_after",
    "variable_key",
    "variable_results",
]

#: SetVariables statuses under which the station took the new value (OCPP 2.0.1
#: SetVariableStatusEnumType: « RebootRequired »: accepted, applied at the next reboot).
ACCEPTED_SET = frozenset({"Accepted", "RebootRequired"})
#: Bounds of the stored strings (the 2.0.1 schema's own: attributeValue 2500, valuesList 1000).
_VALUE_MAX = 2500
_VALUES_LIST_MAX = 1000
_NAME_MAX = 50
#: Items of one message looked at (a NotifyReport part is bounded by the 512 KiB frame anyway).
MAX_ITEMS = 2000


def _text(value: Any, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def _number(value: Any) -> str:
    """A limit or a monitor's value (JSON number) as written by the station, without float noise."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)[:40]


def place_of(component: dict[str, Any], variable: dict[str, Any]) -> dict[str, Any]:
    """Where an OCPP 2.0.1 component/variable pair sits, as the model stores it (names bounded to ``_NAME_MAX``)."""
    evse = component.get("evse") or {}
    return {
        "component": _text(component.get("name"), _NAME_MAX),
        "component_instance": _text(component.get("instance"), _NAME_MAX),
        "evse_id": evse.get("id") if isinstance(evse.get("id"), int) else None,
        "connector_id": evse.get("connector_id") if isinstance(evse.get("connector_id"), int) else None,
        "variable": _text(variable.get("name"), _NAME_MAX),
        "variable_instance": _text(variable.get("instance"), _NAME_MAX),
    }


def variable_key(component: dict[str, Any], variable: dict[str, Any], attribute_type: str | None = None) -> str:
    """``Component[instance]@evse.connector/Variable[instance]`` and ``:Type`` for an attribute.

    The identity of a variable in OCPP 2.0.1 is the pair (component, variable) with their
    instances and the component's EVSE and connector; the attribute type defaults to Actual.
    """
    place = place_of(component, variable)
    text = place["component"]
    if place["component_instance"]:
        text += f"[{place['component_instance']}]"
    if place["evse_id"] is not None:
        text += f"@{place['evse_id']}"
        if place["connector_id"] is not None:
            text += f".{place['connector_id']}"
    text += f"/{place['variable']}"
    if place["variable_instance"]:
        text += f"[{place['variable_instance']}]"
    if attribute_type is not None:
        text += f":{attribute_type or 'Actual'}"
    return text


@dataclass
class AttributeRow:
    """One attribute of one variable, as a station reported it (or answered about it)."""

    key: str
    place: dict[str, Any]
    attribute_type: str
    #: None when the report gave no value (write-only variables, or characteristics only).
    value: str | None
    mutability: str = ""
    persistent: bool | None = None
    constant: bool | None = None
    characteristics: dict[str, Any] | None = None


def _characteristics(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    return {
        "data_type": _text(raw.get("data_type"), 20), "unit": _text(raw.get("unit"), 16),
        "min_limit": _number(raw.get("min_limit")), "max_limit": _number(raw.get("max_limit")),
        "values_list": _text(raw.get("values_list"), _VALUES_LIST_MAX),
        "supports_monitoring": bool(raw.get("supports_monitoring")),
    }


def attribute_rows(report_data: list[dict[str, Any]]) -> list[AttributeRow]:
    """The rows of one NotifyReport part's ``reportData`` (the last one wins for a repeated key)."""
    rows: dict[str, AttributeRow] = {}
    for item in report_data[:MAX_ITEMS]:
        component, variable = item.get("component") or {}, item.get("variable") or {}
        characteristics = _characteristics(item.get("variable_characteristics"))
        for attribute in (item.get("variable_attribute") or [])[:4]:
            kind = attribute.get("type") or "Actual"
            value = attribute.get("value")
            key = variable_key(component, variable, kind)
            rows[key] = AttributeRow(
                key=key, place=place_of(component, variable), attribute_type=kind,
                value=None if value is None else _text(value, _VALUE_MAX),
                mutability=_text(attribute.get("mutability") or "ReadWrite", 10),
                persistent=attribute.get("persistent"), constant=attribute.get("constant"),
                characteristics=characteristics,
            )
    return list(rows.values())


@dataclass
class VariableResult:
    """What a GetVariables or SetVariables answer says of one attribute."""

    key: str
    place: dict[str, Any]
    attribute_type: str
    status: str
    #: GetVariables: the value read (Accepted only); SetVariables: the value asked for.
    value: str | None
    reason: str = ""


def variable_results(action: str, payload: dict[str, Any], answer: dict[str, Any]) -> list[VariableResult]:
    """The per-attribute outcome of a GetVariables / SetVariables command (payload and answer in snake_case).

    SetVariablesResponse names each result's component and variable (and type): the value
    asked for is found in the request by that key (OCPP 2.0.1 B05: one result per request
    entry, in any order).
    """
    results: list[VariableResult] = []
    if action == "GetVariables":
        for item in (answer.get("get_variable_result") or [])[:MAX_ITEMS]:
            component, variable = item.get("component") or {}, item.get("variable") or {}
            kind = item.get("attribute_type") or "Actual"
            status = _text(item.get("attribute_status"), 30)
            value = item.get("attribute_value")
            results.append(VariableResult(
                variable_key(component, variable, kind), place_of(component, variable), kind, status,
                None if value is None or status != "Accepted" else _text(value, _VALUE_MAX),
                _text((item.get("attribute_status_info") or {}).get("reason_code"), 20)))
    elif action == "SetVariables":
        asked = {variable_key(d.get("component") or {}, d.get("variable") or {}, d.get("attribute_type") or "Actual"):
                 d.get("attribute_value") for d in (payload.get("set_variable_data") or [])}
        for item in (answer.get("set_variable_result") or [])[:MAX_ITEMS]:
            component, variable = item.get("component") or {}, item.get("variable") or {}
            kind = item.get("attribute_type") or "Actual"
            key = variable_key(component, variable, kind)
            value = asked.get(key)
            results.append(VariableResult(
                key, place_of(component, variable), kind, _text(item.get("attribute_status"), 30),
                None if value is None else _text(value, _VALUE_MAX),
                _text((item.get("attribute_status_info") or {}).get("reason_code"), 20)))
    return results


@dataclass
class MonitorRow:
    """One monitor of one variable: reported (NotifyMonitoringReport) or set (SetVariableMonitoring)."""

    key: str
    place: dict[str, Any]
    monitor_id: int | None
    type: str
    value: str
    severity: int | None
    transaction: bool
    #: SetVariableMonitoring's answer for this monitor ("" for a reported one).
    status: str = ""
    reason: str = ""


def _monitor_key(component: dict[str, Any], variable: dict[str, Any], monitor_id: int | None, kind: str) -> str:
    # A monitor is named by its id, unique per station; one the station refused has none.
    suffix = f"#{monitor_id}" if monitor_id is not None else f"#refus:{kind}"
    return variable_key(component, variable) + suffix


def monitor_rows(monitors: list[dict[str, Any]]) -> list[MonitorRow]:
    """The monitors of one NotifyMonitoringReport part's ``monitor`` list."""
    rows: list[MonitorRow] = []
    for item in monitors[:MAX_ITEMS]:
        component, variable = item.get("component") or {}, item.get("variable") or {}
        for monitor in (item.get("variable_monitoring") or [])[:MAX_ITEMS]:
            monitor_id = monitor.get("id")
            kind = _text(monitor.get("type"), 30)
            rows.append(MonitorRow(
                _monitor_key(component, variable, monitor_id, kind), place_of(component, variable), monitor_id, kind,
                _number(monitor.get("value")), monitor.get("severity"), bool(monitor.get("transaction"))))
    return rows


def monitor_set_rows(payload: dict[str, Any], answer: dict[str, Any]) -> list[MonitorRow]:
    """SetVariableMonitoring's outcome per monitor: the answer's ``setMonitoringResult`` with, for
    each, the value asked for (the request entry of the same variable, type and severity)."""
    asked: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for data in payload.get("set_monitoring_data") or []:
        asked[(variable_key(data.get("component") or {}, data.get("variable") or {}), data.get("type") or "",
               data.get("severity"))] = data
    rows: list[MonitorRow] = []
    for item in (answer.get("set_monitoring_result") or [])[:MAX_ITEMS]:
        component, variable = item.get("component") or {}, item.get("variable") or {}
        kind, severity = _text(item.get("type"), 30), item.get("severity")
        status = _text(item.get("status"), 30)
        request = asked.get((variable_key(component, variable), kind, severity), {})
        monitor_id = item.get("id") if status == "Accepted" else None
        rows.append(MonitorRow(
            _monitor_key(component, variable, monitor_id, kind), place_of(component, variable), monitor_id, kind,
            _number(request.get("value")), severity, bool(request.get("transaction")), status,
            _text((item.get("status_info") or {}).get("reason_code"), 20)))
    return rows


@dataclass
class ReportProgress:
    """Where a report in parts stands: the parts received, whether the last one came."""

    seq_nos: list[int]
    last_seq_no: int | None
    complete: bool


def progress_after(seq_nos: list[int], last_seq_no: int | None, seq_no: int, tbc: bool) -> ReportProgress:
    """The report's progress once part ``seq_no`` arrived (a replayed part changes nothing).

    OCPP 2.0.1 B07/B08: parts are numbered from 0; the one with ``tbc`` false is the last.
    The report is complete when the last part and every part before it arrived, in any order.
    """
    seen = sorted(set(seq_nos) | {seq_no})[:10_000]
    if not tbc:
        last_seq_no = seq_no
    complete = last_seq_no is not None and seen[: last_seq_no + 1] == list(range(last_seq_no + 1))
    return ReportProgress(seen, last_seq_no, complete)
