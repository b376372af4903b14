"""csms's durable subscribers (``app.outbox``), for its component manifest: ``SUBSCRIBERS``.

Each runs in the outbox relay (embedded: in ``centrale serve``; scaled: in the worker
processes), in the event's tenant scope, at least once per event; what each does twice
is harmless (said on each).
"""

from __future__ import annotations

from typing import Any

from app.outbox import Delivery, Subscriber, forward_to_bus
from csms.domain.commands import close_station
from csms.domain.events import AlertClosed, AlertOpened, ChargerDecommissioned, SiteBudgetChanged
from csms.domain.smart_charging import recompute_site

__all__ = ["SUBSCRIBERS"]


async def close_decommissioned_socket(delivery: Delivery, event: ChargerDecommissioned) -> None:
    """The retired charger's live socket, closed wherever it is held (the web or CLI that retired it
    tried at once; this covers its crash). Twice: the second finds no socket."""
    if delivery.bus is None:
        raise RuntimeError("no bus to reach the ingress processes")
    await close_station(delivery.db, delivery.bus, tenant_id=event.tenant_id, charge_box_id=event.charge_box_id,
                        reason="decommissioned", message="décommissionnée")


async def recompute_site_after_budget_change(delivery: Delivery, event: SiteBudgetChanged) -> None:
    """The site's sessions shared out again under its new budget (or their limits lifted). Twice: the
    second sends nothing, every limit being up to date."""
    await recompute_site(delivery.db, delivery.bus, event.tenant_id, event.site_id)


SUBSCRIBERS: list[Subscriber[Any]] = [
    # Live screens and the processes listening on the bus (at least once overall). The incidents component
    # will list its own durable subscriber to these, to open and close tickets (its manifest's subscribers).
    Subscriber(AlertOpened, "csms.domain.alerts.announce", forward_to_bus),
    Subscriber(AlertClosed, "csms.domain.alerts.announce", forward_to_bus),
    Subscriber(ChargerDecommissioned, "csms.decommission.close-socket", close_decommissioned_socket),
    # A station has SEND_TIMEOUT (15 s) to answer its profile; the sends run in parallel.
    Subscriber(SiteBudgetChanged, "csms.load.recompute", recompute_site_after_budget_change, timeout=120.0),
]
