"""Every topic ``catalog`` publishes, with its payload, in one place (docs/events.md has the catalogue).

Durable (``app.outbox``): written with ``publish_on_commit`` in the transaction of the change they report,
delivered at least once to the durable subscribers, after a crash too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import ClassVar

from app.outbox import Event

__all__ = ["BadgeRequestMoved", "OrderIssued"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrderIssued(Event):
    """A purchase order was issued (« émis »: notified to the titulaire; ``catalog.orders.issue_order``, in its
    transaction). The notification e-mail to the titulaire's operators follows from it
    (``catalog.order-issued-mail``); CCTP CPAM 5-4-4 « à compter de la notification du bon de commande »: the
    incidents component starts the intervention clock of ``ticket_id``'s ticket on it."""

    topic: ClassVar[str] = "catalog.order.issued"
    tenant_id: uuid.UUID
    order_id: uuid.UUID
    number: str
    agreement_id: uuid.UUID
    issued_at: dt.datetime
    #: The ticket the order is for (CPAM 5-4-4), the quote it comes from; None when none.
    ticket_id: uuid.UUID | None = None
    quote_id: uuid.UUID | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class BadgeRequestMoved(Event):
    """An agent's badge request reached ``state`` (CCTP CPAM 5-5-5-3; ``catalog.badge_requests``, in the step's
    transaction): requested, approved, refused, cancelled, shipped or activated. The e-mail to whom acts next
    follows from it (``catalog.badge-request-mail``): the tenant's managers for a new request, the titulaire's
    operators for an approved one, the agent for a decision, a shipment or its activation."""

    topic: ClassVar[str] = "catalog.badge_request.moved"
    tenant_id: uuid.UUID
    request_id: uuid.UUID
    state: str
    at: dt.datetime
