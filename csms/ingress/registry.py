"""The stations connected to this ingress process, by charge_box_id: one live socket each.

A new connection replaces the old one, which is closed (1000); across ingress processes
the bus says so (``station.connected`` from another node, ``replaced_elsewhere``).
Commands reach a station through here: ``await ingress.registry.call("CPAM-LM-01",
payload)`` in this process, or ``csms.domain.commands.send_command`` from any process
(over the bus to the node holding the socket, served by ``csms.domain.commands.serve_commands``
on ``ocpp.node.<node>``), both one call in flight per station.
"""

from __future__ import annotations

import asyncio
from typing import Any

from csms.ingress.link import StationLink

__all__ = ["REPLACED", "ConnectionRegistry", "StationNotConnected"]

#: The close reason a replaced connection is given.
REPLACED = "remplacee par une nouvelle connexion"


class StationNotConnected(LookupError):
    """The station has no live socket on this ingress process."""


class ConnectionRegistry:
    """The live connections of this process, by charge_box_id (one per station)."""

    def __init__(self) -> None:
        self._live: dict[str, StationLink] = {}

    def get(self, charge_box_id: str) -> Any:
        """The station's ``ChargeBox16`` / ``ChargeBox201``, or None."""
        return self._live.get(charge_box_id)

    def ids(self) -> list[str]:
        return sorted(self._live)

    def __contains__(self, charge_box_id: object) -> bool:
        return charge_box_id in self._live

    def __len__(self) -> int:
        return len(self._live)

    def attach(self, link: StationLink) -> None:
        """One live socket per station: the new connection wins, the previous one is closed."""
        previous = self._live.get(link.ref.charge_box_id)
        self._live[link.ref.charge_box_id] = link
        if previous is not None:
            previous.replaced = True
            asyncio.create_task(previous.websocket.close(1000, REPLACED))  # noqa: RUF006

    def detach(self, link: StationLink) -> None:
        """The link's socket is gone (unless a newer connection of the station took its place)."""
        if self._live.get(link.ref.charge_box_id) is link:
            del self._live[link.ref.charge_box_id]

    async def replaced_elsewhere(self, charge_box_id: str, connection_id: str | None) -> None:
        """Scaled mode: the station reconnected to another ingress process; drop our stale socket."""
        link = self._live.get(charge_box_id)
        if link is not None and str(link.connection_id) != connection_id:
            link.replaced = True
            await link.websocket.close(1000, REPLACED)

    async def call(self, charge_box_id: str, payload: Any) -> Any:
        """Send a CSMS-initiated call; a CallError from the station raises (``suppress=False``)."""
        station = self.get(charge_box_id)
        if station is None:
            raise StationNotConnected(charge_box_id)
        async with station.commands.lock:  # one CSMS call in flight per station (csms.domain.commands)
            return await station.call(payload, suppress=False)
