"""Typed events delivered at least once: the transactional outbox and its relay (docs/events.md).

A component declares its events in ``X/events.py`` as frozen dataclasses deriving from
``Event`` (a ``topic`` and typed fields, ``tenant_id`` first). What must not be lost is
published with ``publish_on_commit(session, event)``: the event is written to
``outbox_events`` in the same transaction as the change it reports (all the events of a
transaction in one ``INSERT``, just before the commit), so it exists exactly when the
change does.

The relay (``Relay``) fans every new event out to one delivery row per durable
subscriber of its topic (``outbox_deliveries``) and runs each subscriber's handler:

* in a transaction scoped to the event's tenant (``app.db``: the ORM filter and, on
  PostgreSQL, ``SET LOCAL app.tenant_ids``), which also marks the delivery done: what
  the handler writes there is committed once with that mark, or not at all;
* after the commit that wrote the event (woken at once in this process, through the bus
  ``outbox.wake`` from other processes, and by a periodic sweep as a backstop), and again
  after a crash: a delivery is claimed with a lease (``next_attempt_at`` moved past the
  handler's timeout), so one claimed by a relay that died is taken again when it ends;
* never twice at once to one subscriber: the claim is ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL (several relays, in the worker processes), one atomic ``UPDATE`` on SQLite
  (one process); the mark checks the claim is still ours, so a late duplicate rolls back;
* with retries: a handler that fails is tried again with exponential backoff, up to its
  ``max_attempts``, then left ``failed``; ``centrale outbox status`` lists what waits or
  failed (attempts, last error), ``retry`` and ``ignore`` act on it, ``/readyz`` counts it.

Subscribers are ``Subscriber(EventType, name, handler)`` objects, returned by each component's
manifest (``Component.subscribers``) and installed by the composition root
(``app.composition.subscribers``) with ``install_subscribers``. The name is the delivery's key: handlers must be idempotent for
effects outside the delivery's transaction (a bus notice, a station command); the event
id (``Delivery.event_id``) is the key to deduplicate them.

Events that may be lost (a live screen's notice) go on the bus instead (``app.bus``):
each ``X/events.py`` says which of its topics are which, and why.

The package: ``event`` (the ``Event`` base and its JSON form), ``tables``, ``publish``
(``publish_on_commit``, waking the relays), ``relay`` (subscribers and the relay),
``status`` (the operator's view); everything public is re-exported here.
"""

from app.outbox.event import EVENT_TYPES, Event, iso
from app.outbox.publish import WAKE_TOPIC, announce_commits, on_events_committed, publish_on_commit
from app.outbox.relay import (
    BACKOFF,
    MAX_ATTEMPTS,
    SUBSCRIBERS,
    Delivery,
    Relay,
    RelayPass,
    RelayThread,
    Subscriber,
    forward_to_bus,
    install_subscribers,
)
from app.outbox.status import (
    DeliveryRow,
    OutboxReport,
    ignore_deliveries,
    outbox_counts,
    outbox_report,
    retry_deliveries,
)
from app.outbox.tables import DELIVERED, FAILED, IGNORED, PENDING, OutboxDelivery, OutboxEvent

__all__ = [
    "BACKOFF",
    "DELIVERED",
    "EVENT_TYPES",
    "FAILED",
    "IGNORED",
    "MAX_ATTEMPTS",
    "PENDING",
    "SUBSCRIBERS",
    "WAKE_TOPIC",
    "Delivery",
    "DeliveryRow",
    "Event",
    "OutboxDelivery",
    "OutboxEvent",
    "OutboxReport",
    "Relay",
    "RelayPass",
    "RelayThread",
    "Subscriber",
    "announce_commits",
    "forward_to_bus",
    "ignore_deliveries",
    "install_subscribers",
    "iso",
    "on_events_committed",
    "outbox_counts",
    "outbox_report",
    "publish_on_commit",
    "retry_deliveries",
]
