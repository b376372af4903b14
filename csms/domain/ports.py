"""How the domain's workers reach the live stations of this process, without importing the ingress.

The ingress (``csms.ingress.server.Ingress``) satisfies ``IngressPort``; the workers it
starts (badge lists, reservations, load management, alerts, the command server) take
it as an ``IngressPort``. A structural protocol: nothing registers, a test may pass a
small fake of its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from app.bus import Bus
    from app.db import Database

__all__ = ["CommandChannel", "IngressPort", "StationLink", "StationLinks", "StationRef"]


@dataclass(frozen=True, slots=True)
class StationRef:
    """The charger behind one connection, as loaded at the handshake."""

    tenant_id: uuid.UUID
    charger_id: uuid.UUID
    charge_box_id: str
    canonical_id: str
    lenient: bool = False
    security_profile: int = 1

    @property
    def actor(self) -> str:
        return f"borne {self.charge_box_id}"


class CommandChannel(Protocol):
    """Sends one command at a time to a station and waits for its answer."""

    async def call(self, action: str, payload: dict[str, Any], timeout: float, guard: Any = None) -> dict[str, Any]: ...  # noqa: ASYNC109 (the channel's own API)


class StationLink(Protocol):
    """One connected station, as the domain sees it."""

    ref: StationRef
    close_reason: str
    websocket: Any  # closed by ``commands.serve_commands`` (``op: close``)
    commands: CommandChannel


class StationLinks(Protocol):
    """The stations connected to this process, by charge_box_id."""

    def get(self, charge_box_id: str) -> Any | None: ...

    def ids(self) -> list[str]: ...


class IngressPort(Protocol):
    """What the domain's workers use of the ingress process that runs them."""

    db: Database
    node: str

    @property
    def bus(self) -> Bus: ...

    @property
    def registry(self) -> StationLinks: ...
