"""How the domain's workers reach the live stations of this process, without importing the ingress.

The ingress (``csms.ingress.server.Ingress``) satisfies ``IngressPort``; the workers it
starts (badge lists, reservations, load management, alerts, the command server) take
it as an ``IngressPort``. A structural protocol: nothing registers, a test may pass a
small fake of its own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from cryptography import x509
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.bus import Bus
    from app.db import Database

__all__ = ["CertificateAuthority", "CommandChannel", "IngressPort", "Reporting", "StationLink", "StationLinks", "StationRef"]

T = TypeVar("T")


class CertificateAuthority(Protocol):
    """Signs the stations' CSRs (``csms.domain.certificates``: a configured CA, or one in memory)."""

    def sign(self, csr: x509.CertificateSigningRequest, *, charge_box_id: str, now: dt.datetime) -> str:
        """The PEM chain (the station's certificate, then the authority's) for ``csr``."""
        ...


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
    #: Signs the stations' CSRs (csms.domain.certificates.authority_from_settings).
    certificate_authority: CertificateAuthority

    @property
    def bus(self) -> Bus: ...

    @property
    def registry(self) -> StationLinks: ...


class Reporting(Protocol):
    """A station's link while it handles one of the station's messages (``csms.ingress.link.StationLink``).

    The recorders of the messages both OCPP versions share (SecurityEventNotification, the
    firmware and log status notifications, SignCertificate) take it: the version's handler
    translates its field names and calls one recorder, which records in the message's unit of
    work (answered once committed) and schedules what follows the commit.
    """

    @property
    def ref(self) -> StationRef: ...

    @property
    def ingress(self) -> IngressPort: ...

    @property
    def received_at(self) -> dt.datetime: ...

    async def submit(self, fn: Callable[[AsyncSession], Awaitable[T]], *, touch: bool = True) -> T: ...
