"""OCPP-J frame checks and payload validation with compiled schemas.

The ``ocpp`` library validates payloads with ``jsonschema`` (about 1,100
MeterValues per second per core, measured by ``bench/bench_ocpp_validation.py``).
Here the library's own bundled JSON schemas are compiled once with
``fastjsonschema`` into plain Python functions; the ingress handlers are registered
with ``skip_schema_validation=True`` and every incoming Call goes through
``check_call`` first. A failure becomes the CallError the OCPP-J specification
names for it, with the version's own spelling of the code (1.6 keeps
``FormationViolation`` and ``OccurenceConstraintViolation``).

Lenient mode (per charger) repairs known firmware deviations before giving up:
over-long strings are truncated and naive timestamps read as UTC, each repair
reported as a warning to be recorded with the message.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp
from ocpp.charge_point import camel_to_snake_case as _camel_to_snake_case
from ocpp.charge_point import serialize_as_dict as _serialize_as_dict
from ocpp.charge_point import snake_to_camel_case as _snake_to_camel_case
from ocpp.messages import _DecimalEncoder  # noqa: PLC2701 - the library's own frame encoder, so that our frames match its

from app.bounds import INT32_MAX, MAX_JSON_DEPTH, json_depth_ok

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "CALL_ID",
    "FrameError",
    "bound_integers",
    "Repair",
    "call_result_frame",
    "camel_keys",
    "check_call",
    "compile_validator",
    "error_code",
    "has_schema",
    "is_uri",
    "parse_frame",
    "parse_timestamp",
    "snake_keys",
    "too_deep",
]

SCHEMA_DIRS = {"1.6": "v16", "2.0.1": "v201"}
#: Error codes whose spelling changed between OCPP-J 1.6 and 2.0.1.
SPELLING = {
    "1.6": {"FormatViolation": "FormationViolation", "OccurrenceConstraintViolation": "OccurenceConstraintViolation"},
    "2.0.1": {},
}
DESCRIPTIONS = {
    "FormatViolation": "Payload for Action is syntactically incorrect or not conform the PDU structure for Action",
    "ProtocolError": "Payload for Action is incomplete",
    "PropertyConstraintViolation": "Payload is syntactically correct but at least one field contains an invalid value",
    "OccurrenceConstraintViolation": "Payload for Action is syntactically correct but at least one of the fields violates occurrence constraints",
    "TypeConstraintViolation": "Payload for Action is syntactically correct but at least one of the fields violates data type constraints",
    "NotImplemented": "Requested Action is not known by receiver",
    "NotSupported": "Requested Action is recognized but not supported by the receiver",
    "RpcFrameworkError": "Content of the call is not a valid RPC Request",
    "MessageTypeNotSupported": "A message with a Message Type Number received that is not supported by this "
                               "implementation",
}


def error_code(version: str, code: str) -> str:
    """The wire spelling of ``code`` (2.0.1 names) in OCPP-J ``version``."""
    return SPELLING.get(version, {}).get(code, code)


class FrameError(Exception):
    """A frame or payload to answer with a CallError (``unique_id`` is "-1" when unreadable)."""

    def __init__(self, code: str, cause: str, unique_id: str = "-1") -> None:
        super().__init__(f"{code}: {cause}")
        self.code = code  # 2.0.1 spelling; see error_code()
        self.cause = cause
        self.unique_id = unique_id

    def frame(self, version: str) -> str:
        code = error_code(version, self.code)
        description = DESCRIPTIONS.get(self.code, "")
        return json.dumps([4, self.unique_id, code, description, {"cause": self.cause}], separators=(",", ":"))


@dataclass
class Repair:
    """What lenient mode changed in a payload (recorded as warnings)."""

    path: str
    message: str


@dataclass
class ParsedFrame:
    message_type: int
    unique_id: str
    action: str = ""
    payload: Any = field(default=None)


MAX_UNIQUE_ID = 36
#: Deepest nesting of arrays and objects accepted in a frame. The deepest OCPP payloads
#: (2.0.1 NotifyReport, SetChargingProfile, with customData) stay under 10 levels; a bound
#: keeps the parser and every walk of the payload far from Python's recursion limit.
MAX_DEPTH = MAX_JSON_DEPTH
#: The MessageId of a frame that starts as an OCPP-J Call, read without parsing it.
CALL_ID = re.compile(r'\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')


def too_deep(raw: str, limit: int = MAX_DEPTH) -> bool:
    """Whether ``raw`` nests arrays / objects deeper than ``limit`` (the kernel's check, app/bounds.py)."""
    return not json_depth_ok(raw, limit)


def parse_frame(raw: str | bytes, version: str) -> ParsedFrame | None:
    """Check the OCPP-J envelope; ``None`` for a frame to ignore (1.6: an unknown message type).

    OCPP-J: a Call is ``[2, id, action, {payload}]``, a CallResult ``[3, id, {payload}]``,
    a CallError ``[4, id, code, description, {details}]``.
    """
    if isinstance(raw, bytes):
        # OCPP-J runs over text frames only.
        raise FrameError("RpcFrameworkError" if version != "1.6" else "FormatViolation", "binary frame")
    unreadable = "RpcFrameworkError" if version != "1.6" else "FormatViolation"
    # Nested ~1,000 deep, a frame would overflow the parser (RecursionError, the socket closed with 1011):
    # refused before parsing, with the Call's MessageId when it can be read (OCPP-J: "-1" otherwise).
    if too_deep(raw):
        call_id = CALL_ID.match(raw)
        raise FrameError("FormatViolation" if call_id else unreadable, f"nested deeper than {MAX_DEPTH} levels",
                         call_id.group(1) if call_id else "-1")
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError):
        raise FrameError(unreadable, "not valid JSON") from None
    if not isinstance(msg, list) or len(msg) < 3:
        raise FrameError(unreadable, "not an OCPP-J array [MessageTypeId, MessageId, ...]")
    unique_id = msg[1]
    if not isinstance(unique_id, str) or not unique_id or len(unique_id) > MAX_UNIQUE_ID:
        raise FrameError(unreadable, "MessageId must be a string of 1 to 36 characters")
    type_id = msg[0]
    if type(type_id) is not int:
        raise FrameError(unreadable, "MessageTypeId must be an integer", unique_id)
    if type_id == 2:
        if len(msg) != 4 or not isinstance(msg[2], str) or not isinstance(msg[3], dict):
            raise FrameError("FormatViolation", "a Call is [2, MessageId, Action, {payload}]", unique_id)
        return ParsedFrame(2, unique_id, msg[2], msg[3])
    if type_id == 3:
        return ParsedFrame(3, unique_id, payload=msg[2] if len(msg) > 2 else None)
    if type_id == 4:
        return ParsedFrame(4, unique_id)
    if version != "1.6":
        # OCPP-J 2.0.1 §4.4 (CallError codes): « MessageTypeNotSupported: A message with an Message Type
        # Number received that is not supported by this implementation ». 1.6 has no such code: ignored.
        raise FrameError("MessageTypeNotSupported", f"MessageTypeId {type_id} is not supported", unique_id)
    return None


# --------------------------------------------------------------------------- schemas

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|z|[+-]\d{2}:?\d{2})?$"
)


@lru_cache(maxsize=8192)
def parse_timestamp(value: str) -> tuple[dt.datetime, bool]:
    """An ISO 8601 timestamp as an aware UTC datetime, and whether it was naive.

    Up to nanosecond fractions (some firmwares send 9 digits); ``ValueError`` when
    unreadable. Remembered: the schema check and then the handler read each timestamp.
    """
    match = _TIMESTAMP.match(value or "")
    if not match:
        raise ValueError(f"invalid timestamp {value!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz: dt.tzinfo = dt.UTC
    if zone and zone not in "Zz":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    parsed = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59), micro, tzinfo=tz)
    return parsed.astimezone(dt.UTC), zone is None


def _date_time_format(value: str) -> bool:
    try:
        _, naive = parse_timestamp(value)
    except ValueError:
        return False
    return not naive


#: An RFC 3986 URI (§3: scheme ":" hier-part [ "?" query ] [ "#" fragment ], every other character
#: percent-encoded, §2.1): the expression of ajv-formats, the validator of strict OCPP stations
#: written with ocpp-rpc, so that what we send as a ``uri`` they accept.
_URI = re.compile(
    r"(?:[a-z][a-z0-9+\-.]*:)(?:\/?\/(?:(?:[a-z0-9\-._~!$&'()*+,;=:]|%[0-9a-f]{2})*@)?(?:\[(?:(?:(?:(?:[0-"
    r"9a-f]{1,4}:){6}|::(?:[0-9a-f]{1,4}:){5}|(?:[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){4}|(?:(?:[0-9a-f]{1,4"
    r"}:){0,1}[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){3}|(?:(?:[0-9a-f]{1,4}:){0,2}[0-9a-f]{1,4})?::(?:[0-9a-f"
    r"]{1,4}:){2}|(?:(?:[0-9a-f]{1,4}:){0,3}[0-9a-f]{1,4})?::[0-9a-f]{1,4}:|(?:(?:[0-9a-f]{1,4}:){0,4}[0-9"
    r"a-f]{1,4})?::)(?:[0-9a-f]{1,4}:[0-9a-f]{1,4}|(?:(?:25[0-5]|2[0-4]\d|[01]?\d\d?)\.){3}(?:25[0-5]|2[0-"
    r"4]\d|[01]?\d\d?))|(?:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4})?::[0-9a-f]{1,4}|(?:(?:[0-9a-f]{1,4}:){0,6"
    r"}[0-9a-f]{1,4})?::)|[Vv][0-9a-f]+\.[a-z0-9\-._~!$&'()*+,;=:]+)\]|(?:(?:25[0-5]|2[0-4]\d|[01]?\d\d?)"
    r"\.){3}(?:25[0-5]|2[0-4]\d|[01]?\d\d?)|(?:[a-z0-9\-._~!$&'()*+,;=]|%[0-9a-f]{2})*)(?::\d*)?(?:\/(?:[a"
    r"-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*|\/(?:(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})+(?:\/(?:["
    r"a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*)?|(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})+(?:\/(?:[a-"
    r"z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*)(?:\?(?:[a-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*)?(?:#(?"
    r":[a-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*)?",
    re.IGNORECASE | re.ASCII,
)


def is_uri(value: str) -> bool:
    """The JSON schemas' ``format: uri`` (OCPP 1.6 UpdateFirmware.req and GetDiagnostics.req ``location``,
    an ``anyURI``): a space, an accented letter, ``|`` or ``[`` in a path must be percent-encoded
    (``%20``). fastjsonschema's own check only refused white space, with a date-time message."""
    return isinstance(value, str) and _URI.fullmatch(value) is not None


def _schema_path(version: str, action: str, kind: int) -> Path:
    name = action
    if kind == 3:
        name += "Response"
    elif version != "1.6":
        name += "Request"
    return Path(ocpp.__file__).parent / SCHEMA_DIRS[version] / "schemas" / f"{name}.json"


def has_schema(version: str, action: str, kind: int = 2) -> bool:
    """Whether ``action`` is an OCPP ``version`` message (a schema exists for it)."""
    return version in SCHEMA_DIRS and action.isascii() and action.isalnum() and _schema_path(version, action, kind).exists()


#: The OCPP ``integer``: 32 bits, signed (OCPP 2.0.1 Part 2 §2.1 « Primitive Datatypes »: « integer:
#: 32 bit (31 bit resolution, 1 sign bit) »; OCPP 1.6 inherits ``xs:int`` from its SOAP schemas). The
#: JSON schemas leave it unbounded, so 2^63 passed them and overflowed a database column.
INT32_MIN = -INT32_MAX - 1


def bound_integers(schema: Any) -> Any:
    """Every ``"type": "integer"`` of ``schema`` bounded to the OCPP integer (in place; returned).

    One mechanism for every payload checked here, station Calls and our own commands alike:
    the bounds a schema already has are kept when they are narrower.
    """
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            schema["minimum"] = max(schema.get("minimum", INT32_MIN), INT32_MIN)
            schema["maximum"] = min(schema.get("maximum", INT32_MAX), INT32_MAX)
        for value in schema.values():
            bound_integers(value)
    elif isinstance(schema, list):
        for value in schema:
            bound_integers(value)
    return schema


@cache
def compile_validator(version: str, action: str, kind: int = 2) -> Callable[[Any], Any] | None:
    """The compiled validator of a Call (kind 2) or CallResult (kind 3) payload; None if unknown."""
    if not has_schema(version, action, kind):
        return None
    path = _schema_path(version, action, kind)
    schema = bound_integers(json.loads(path.read_text(encoding="utf-8-sig")))
    schema.pop("$id", None)  # 2.0.1 schemas carry URN ids that fastjsonschema would try to resolve
    return fastjsonschema.compile(schema, formats={"date-time": _date_time_format, "uri": is_uri}, use_default=False)


def _code_for(exc: fastjsonschema.JsonSchemaValueException) -> str:
    rule = exc.rule or ""
    if rule in ("type", "maxLength", "minLength", "format"):
        return "TypeConstraintViolation"
    if rule in ("minimum", "maximum") and exc.rule_definition in (INT32_MIN, INT32_MAX):
        # Beyond the OCPP integer (``bound_integers``): the value is not of the field's data type,
        # OCPP-J 1.6 §4.2.3 « TypeConstraintViolation: ... violates data type constraints ».
        return "TypeConstraintViolation"
    if rule in ("enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern", "multipleOf", "const"):
        return "PropertyConstraintViolation"
    if rule in ("minItems", "maxItems", "uniqueItems"):
        return "OccurrenceConstraintViolation"
    if rule == "required":
        return "ProtocolError"  # 1.6: « Payload for Action is incomplete »
    return "FormatViolation"  # additionalProperties and anything structural


def _locate(payload: Any, path: list[str]) -> tuple[Any, Any] | None:
    """(container, key) of the element at a fastjsonschema path (``['data', 'a', '0']``)."""
    node, parent, key = payload, None, None
    for part in path[1:]:
        parent = node
        key = int(part) if isinstance(node, list) else part
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return (parent, key) if parent is not None else None


MAX_REPAIRS = 20


def check_call(
    version: str, action: str, payload: dict[str, Any], unique_id: str, *, lenient: bool = False
) -> tuple[dict[str, Any], list[Repair]]:
    """Validate a Call's payload; in lenient mode repair known deviations first.

    Returns the (possibly repaired) payload and the repairs made; raises
    ``FrameError`` with the right CallError code otherwise.
    """
    validate = compile_validator(version, action, 2)
    if validate is None:
        raise FrameError("NotSupported", f"{action} is not an OCPP {version} action", unique_id)
    repairs: list[Repair] = []
    for _ in range(MAX_REPAIRS):
        try:
            validate(payload)
            return payload, repairs
        except fastjsonschema.JsonSchemaValueException as exc:
            code = _code_for(exc)
            if version == "2.0.1" and code == "ProtocolError":
                code = "OccurrenceConstraintViolation"  # 2.0.1: a missing field violates minOccurs
            repair = _repair(payload, exc) if lenient else None
            if repair is None:
                raise FrameError(code, exc.message, unique_id) from None
            repairs.append(repair)
    raise FrameError("FormatViolation", "too many deviations", unique_id)


def _repair(payload: dict[str, Any], exc: fastjsonschema.JsonSchemaValueException) -> Repair | None:
    located = _locate(payload, exc.path)
    if located is None:
        return None
    container, key = located
    value = container[key]
    field_name = exc.name.removeprefix("data.") if exc.name else ""
    if exc.rule == "maxLength" and isinstance(value, str):
        limit = int(exc.rule_definition)
        container[key] = value[:limit]
        return Repair(field_name, f"« {field_name} » tronqué à {limit} caractères (valeur reçue : « {value} »).")
    if exc.rule == "format" and isinstance(value, str):
        try:
            parsed, naive = parse_timestamp(value)
        except ValueError:
            return None
        if naive:
            container[key] = parsed.isoformat().replace("+00:00", "Z")
            return Repair(field_name, f"« {field_name} » sans fuseau horaire (« {value} ») lu comme UTC.")
    return None


# --------------------------------------------------------------------------- key conversions

#: camelCase → snake_case and back, per key, as the ``ocpp`` library converts them
#: (its own functions, asked once per distinct key instead of two regular expressions
#: per key per message). Bounded: payloads may carry free-form keys (customData).
_SNAKE: dict[str, str] = {}
_CAMEL: dict[str, str] = {}
_KEY_CACHE = 4096


def _remembered(cache: dict[str, str], convert: Callable[[Any], Any], key: str) -> str:
    converted = cache.get(key)
    if converted is None:
        (converted,) = convert({key: None})
        if len(cache) < _KEY_CACHE:
            cache[key] = converted
    return converted


def _snake_key(key: str) -> str:
    return _remembered(_SNAKE, _camel_to_snake_case, key)


def _camel_key(key: str) -> str:
    return _remembered(_CAMEL, _snake_to_camel_case, key)


def snake_keys(data: Any) -> Any:
    """``ocpp.charge_point.camel_to_snake_case``, same result, keys remembered."""
    if isinstance(data, dict):
        return {_snake_key(key): snake_keys(value) for key, value in data.items()}
    if isinstance(data, list):
        return [snake_keys(value) for value in data]
    return data


def camel_keys(data: Any) -> Any:
    """``snake_to_camel_case(remove_nones(data))`` of the library, same result, keys remembered."""
    if isinstance(data, dict):
        return {_camel_key(key): camel_keys(value) for key, value in data.items() if value is not None}
    if isinstance(data, list):
        return [camel_keys(value) for value in data if value is not None]
    return data


#: The library's frame encoder (``ocpp.messages``: compact separators, its Decimal rule), built once.
_FRAME_ENCODER = _DecimalEncoder(separators=(",", ":"))
#: Per answer class: its fields as (attribute, camelCase key), in declaration order.
_ANSWER_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}
#: Values written as they are (``str`` covers the library's string enums).
_SCALARS = (str, int, float)


def call_result_frame(unique_id: str, response: Any) -> str:
    """The CallResult frame of a handler's answer (a dataclass of ``ocpp.v16.call_result`` /
    ``ocpp.v201.call_result``), as the library would send it.

    The hot answers (Heartbeat, BootNotification, StatusNotification, MeterValues) hold only
    scalars or nothing: their payload is built from the fields directly, in the order
    ``serialize_as_dict`` gives, Nones left out as ``remove_nones`` does. Any other value
    (a nested dict, list or dataclass, a Decimal) takes the library's conversions.
    """
    fields = _ANSWER_FIELDS.get(type(response))
    if fields is None:
        fields = _ANSWER_FIELDS[type(response)] = tuple(
            (name, _camel_key(name)) for name in response.__dataclass_fields__)
    payload: dict[str, Any] = {}
    for name, key in fields:
        value = getattr(response, name)
        if value is None:
            continue
        if not isinstance(value, _SCALARS):
            payload = camel_keys(_serialize_as_dict(response))
            break
        payload[key] = value
    return _FRAME_ENCODER.encode([3, unique_id, payload])
