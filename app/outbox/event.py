"""The base of typed events (``Event``) and their JSON form: what every ``X/events.py`` derives from."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import msgspec

__all__ = ["EVENT_TYPES", "Event", "iso"]


#: Every event type, by topic (a topic names one type).
EVENT_TYPES: dict[str, type[Event]] = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """Base of typed events: subclasses are ``@dataclass(frozen=True, kw_only=True)`` with a ``topic``.

    ``tenant_id`` is the tenant the event belongs to (None: a platform event): it is
    delivered in that tenant's scope, and published only from a session that may see it.
    Fields are JSON-friendly types (str, int, float, bool, UUID, aware datetime, lists).
    """

    topic: ClassVar[str] = ""
    tenant_id: uuid.UUID | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        topic = cls.__dict__.get("topic")
        if topic:
            known = EVENT_TYPES.get(topic)
            if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
                raise TypeError(f"topic {topic!r} is already {known.__module__}.{known.__qualname__}'s")
            EVENT_TYPES[topic] = cls

    @property
    def payload(self) -> dict[str, Any]:
        """The JSON object the event travels as (outbox row, bus message)."""
        return {field.name: _encode(getattr(self, field.name)) for field in dataclasses.fields(self)}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Any:
        """The typed event back from its JSON object (unknown keys are ignored: newer publishers)."""
        return msgspec.convert(dict(payload), cls, strict=False)


def iso(moment: dt.datetime) -> str:
    """UTC, to the millisecond, with ``Z``: how every event writes its instants."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _encode(value: Any) -> Any:
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple | set | frozenset):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _encode(item) for key, item in value.items()}
    return value


E = TypeVar("E", bound=Event)
