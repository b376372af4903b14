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

__all__ = ["AmendmentMoved", "BadgeRequestMoved", "CommissioningBadgesOrdered", "DeliveryDecisionOverdue", "DeliveryMoved",
           "MaintenanceOrderMade", "OrderCancelled", "OrderIssued", "QuoteMoved"]


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
class OrderCancelled(Event):
    """A purchase order was cancelled (``catalog.orders.transition_order`` ``cancel``, in its transaction): its lines
    are no longer ordered. The coordinator's dashboard takes them out of its business volume
    (``reporting.order-volume``)."""

    topic: ClassVar[str] = "catalog.order.cancelled"
    tenant_id: uuid.UUID
    order_id: uuid.UUID
    number: str
    agreement_id: uuid.UUID
    cancelled_at: dt.datetime


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


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuoteMoved(Event):
    """A quote took ``step`` (issue 14 §2; ``catalog.quotes``, in the step's transaction): ``request``, ``visit``,
    ``answer``, ``accept`` (its purchase order issued, ``order_id``), ``refuse``, ``cancel``, ``start_works`` or
    ``commission``. The e-mail to the other side follows from it (``catalog.quote-mail``): the titulaire's
    operators for the beneficiary's steps, the requester and the tenant's buyers for the titulaire's."""

    topic: ClassVar[str] = "catalog.quote.moved"
    tenant_id: uuid.UUID
    quote_id: uuid.UUID
    step: str
    state: str
    at: dt.datetime
    order_id: uuid.UUID | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class AmendmentMoved(Event):
    """An amendment of a purchase order (CCP TGD VI.3; ``catalog.amendments``) took ``step``: ``notify`` (the
    order's new ``version``), ``observations`` (the titulaire's, within 5 days) or ``deemed_accepted`` (the 5 days
    passed without, recorded by the job). Its e-mail follows (``catalog.amendment-mail``): the notification to the
    titulaire's operators, the observations and the deemed acceptance to the tenant's buyers."""

    topic: ClassVar[str] = "catalog.amendment.moved"
    tenant_id: uuid.UUID
    order_id: uuid.UUID
    amendment_id: uuid.UUID
    version: int
    step: str
    at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeliveryMoved(Event):
    """A delivery slip took ``step`` (issue 14 §3; ``catalog.deliveries``, in the step's transaction): ``slip`` (the
    titulaire's « bordereau de mise à disposition », CCP TGD VII.1), ``decision`` (the buyer's decision on its
    lines, VII.3), ``reserves_declared`` (the titulaire declares the reserves of a « réception avec réserves »
    resolved) or ``reserves_lifted`` (the buyer's « décision de levée desdites réserves », VII.3); ``order_status`` is
    the order's status after it. The e-mail to the other side follows from it (``catalog.delivery-mail``): the
    tenant's buyers for a slip and a declaration, the titulaire's operators for a decision and a lifting."""

    topic: ClassVar[str] = "catalog.delivery.moved"
    tenant_id: uuid.UUID
    delivery_id: uuid.UUID
    order_id: uuid.UUID
    step: str
    order_status: str
    at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeliveryDecisionOverdue(Event):
    """The buyer's decision on a delivery slip is past its fifteen days (CCP TGD VII.3 « le délai pour prononcer une
    décision est de quinze jours calculés à compter de la fin des opérations définies à l'article VII.2 »), noticed
    once by the hourly job (``catalog.deliveries.remind_overdue_decisions``, which records it on the slip).
    ``last_day`` is the decision's last day (the tenant's). The reminder follows (``catalog.delivery-reminder-mail``):
    to the tenant's buyers (its admins) and to the titulaire's operators, unless the decision was taken since."""

    topic: ClassVar[str] = "catalog.delivery.decision_overdue"
    tenant_id: uuid.UUID
    delivery_id: uuid.UUID
    order_id: uuid.UUID
    last_day: dt.date
    at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class MaintenanceOrderMade(Event):
    """A recurring maintenance contract made an order (CCTP CAIH 2.1.32; ``catalog.maintenance``, in the same
    transaction): ``kind`` ``renewal`` (issued by the anniversary job; ``anniversary`` set) or ``complementary`` (a
    draft from a change above 10 %, for the buyer to issue). The e-mail to the tenant's admins follows from it
    (``catalog.maintenance-mail``)."""

    topic: ClassVar[str] = "catalog.maintenance.order_made"
    tenant_id: uuid.UUID
    contract_id: uuid.UUID
    order_id: uuid.UUID
    kind: str
    anniversary: dt.date | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class CommissioningBadgesOrdered(Event):
    """The badges due at the commissioning of a quote's works were ordered (CCTP CPAM 5-5-5-3 « 5 badges sont
    fournis à la mise en service de chaque point de charge »; ``catalog.badges``, in the step's transaction). Its
    subscriber (``catalog.commissioning-badges``) mails the tenant's admins once and, when idTags were given,
    announces the tenant's badges so that the ingress pushes its local list."""

    topic: ClassVar[str] = "catalog.commissioning_badges.ordered"
    tenant_id: uuid.UUID
    quote_id: uuid.UUID
    order_id: uuid.UUID
    badge_count: int
    id_tag_count: int
    at: dt.datetime
