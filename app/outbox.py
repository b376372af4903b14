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

Subscribers are ``Subscriber(EventType, name, handler)`` objects, listed by each component
(``X/subscribers.py``: ``SUBSCRIBERS``) and installed by the composition root with
``install_subscribers``. The name is the delivery's key: handlers must be idempotent for
effects outside the delivery's transaction (a bus notice, a station command); the event
id (``Delivery.event_id``) is the key to deduplicate them.

Events that may be lost (a live screen's notice) go on the bus instead (``app.bus``):
each ``X/events.py`` says which of its topics are which, and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import decimal
import enum
import logging
import random
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import msgspec
from sqlalchemy import ForeignKey, Index, String, Text, event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from app.db import Base, Database, TenantScopeError, new_id, tenant_ids_of, utcnow

if TYPE_CHECKING:
    from app.bus import Bus
    from app.settings import Settings

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
    "Event",
    "OutboxDelivery",
    "OutboxEvent",
    "Relay",
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

log = logging.getLogger(__name__)

#: Bus topic: events were committed to the outbox (no payload); relays in other processes wake up.
WAKE_TOPIC = "outbox.wake"
#: Delivery states.
PENDING, DELIVERED, FAILED, IGNORED = "pending", "delivered", "failed", "ignored"
#: Attempts of a delivery before it is left ``failed`` (a subscriber may set its own).
MAX_ATTEMPTS = 10
#: Backoff between attempts, in seconds: ``base`` × 2^(attempt - 1), at most ``ceiling``, ±20 %:
#: 2 s, 4 s, 8 s … 512 s, about 17 minutes over ten attempts.
BACKOFF = (2.0, 600.0)
#: Seconds a handler may run (a subscriber may set its own); its lease is this plus ``LEASE_MARGIN``.
HANDLER_TIMEOUT = 60.0
LEASE_MARGIN = 30.0
#: The periodic sweep: events committed by another process without a wake, retries due, leases ended.
SWEEP_EVERY = 5.0
#: Events fanned out per statement; delivered events are purged after ``RETENTION``.
DISPATCH_BATCH = 500
RETENTION = dt.timedelta(days=7)
PURGE_EVERY = 3600.0


# --------------------------------------------------------------------------- events


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


# --------------------------------------------------------------------------- tables


class OutboxEvent(Base):
    """An event committed with the change it reports; ``dispatched_at`` once fanned out to its deliveries.

    Platform-level (no row-level security): the relay reads it across tenants before it
    enters each event's tenant scope. Only the relay and the operator's commands read it.
    """

    __tablename__ = "outbox_events"
    __audited__ = False
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID | None]
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    dispatched_at: Mapped[dt.datetime | None]

    __table_args__ = (
        Index("ix_outbox_events_undispatched", "created_at", postgresql_where=text("dispatched_at IS NULL"),
              sqlite_where=text("dispatched_at IS NULL")),
    )


class OutboxDelivery(Base):
    """One event for one durable subscriber: its state, attempts and last error.

    ``next_attempt_at``: when it is due; while a relay holds it, the end of that relay's
    lease (``claim`` names the attempt, so only its holder may mark it done).
    """

    __tablename__ = "outbox_deliveries"
    __audited__ = False
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"), primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(100), primary_key=True)
    topic: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int]
    next_attempt_at: Mapped[dt.datetime]
    claim: Mapped[uuid.UUID | None]
    last_error: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime]
    delivered_at: Mapped[dt.datetime | None]

    __table_args__ = (
        # The claim (status, subscriber, due first), the counts by status, a subscriber's next due time.
        Index("ix_outbox_deliveries_due", "status", "subscriber", "next_attempt_at"),
    )


_EVENTS = OutboxEvent.__table__
_DELIVERIES = OutboxDelivery.__table__


# --------------------------------------------------------------------------- publishing

#: ``session.info`` keys: the events waiting for the commit [(transaction, row)], and whether
#: the open transaction wrote some (the relays are woken once it commits).
_PENDING_KEY = "outbox.pending"
_WROTE_KEY = "outbox.wrote"
_last_stamp = dt.datetime.min.replace(tzinfo=dt.UTC)


def _stamp() -> dt.datetime:
    """Now, strictly after the previous event of this process: deliveries go in publication order."""
    global _last_stamp
    now = utcnow()
    _last_stamp = now if now > _last_stamp else _last_stamp + dt.timedelta(microseconds=1)
    return _last_stamp


def _sync(session: AsyncSession | Session) -> Session:
    return session.sync_session if isinstance(session, AsyncSession) else session


def publish_on_commit(session: AsyncSession | Session, event_: Event) -> uuid.UUID:
    """Write ``event_`` to the outbox with this session's transaction; returns its id.

    Nothing is sent now: the row is inserted just before the commit (one ``INSERT`` for
    every event of the transaction), and dropped if the transaction, or the savepoint the
    event was published in, rolls back. Fails closed like the ORM: an event of a tenant
    outside the session's scope raises ``TenantScopeError``.
    """
    cls = type(event_)
    if not isinstance(event_, Event) or not cls.topic:
        raise TypeError(f"{cls.__name__} is not an Event with a topic")
    sync = _sync(session)
    tenant_id = event_.tenant_id
    if tenant_id is not None and not sync.info.get("unscoped") and tenant_id not in (tenant_ids_of(sync) or ()):
        raise TenantScopeError(f"{cls.topic}: an event of a tenant outside the session's scope")
    event_id = new_id()
    row = {"id": event_id, "tenant_id": tenant_id, "topic": cls.topic, "payload": event_.payload,
           "created_at": _stamp(), "dispatched_at": None}
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    sync.info.setdefault(_PENDING_KEY, []).append((transaction, row))
    return event_id


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    if not pending:
        return
    # Core, on the transaction's connection: no ORM flush, no audit row (the outbox is its own log).
    session.connection().execute(_EVENTS.insert(), [row for _transaction, row in pending])
    session.info[_WROTE_KEY] = True


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint released: the events are committed with the transaction around it
    if session.info.pop(_WROTE_KEY, False):
        for wake in list(_WAKERS):
            try:
                wake()
            except Exception:  # a waker must never fail a commit that happened
                log.exception("outbox waker failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    # What was rolled back on the database: the nearest savepoint or the transaction itself.
    boundary: SessionTransaction | None = previous
    while boundary is not None and not boundary.nested and boundary.parent is not None:
        boundary = boundary.parent
    if boundary is None or boundary.parent is None:
        session.info.pop(_PENDING_KEY, None)
        session.info.pop(_WROTE_KEY, None)
        return
    pending = session.info.get(_PENDING_KEY)
    if pending:
        session.info[_PENDING_KEY] = [(tx, row) for tx, row in pending if not _within(tx, boundary)]


def _within(transaction: SessionTransaction | None, boundary: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is boundary:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # committed (written by then) or ended without a commit (dropped)
        session.info.pop(_PENDING_KEY, None)
        session.info.pop(_WROTE_KEY, None)


#: Called (from any thread) after each commit that wrote events: the relays of this process.
_WAKERS: list[Callable[[], None]] = []


def on_events_committed(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` after every commit of this process that wrote events; returns the remover.

    It runs inside the commit, possibly on another thread than its own loop: it must only
    schedule (``loop.call_soon_threadsafe``), never block or raise.
    """
    _WAKERS.append(callback)

    def remove() -> None:
        with contextlib.suppress(ValueError):
            _WAKERS.remove(callback)

    return remove


class _Announcer:
    """Publishes ``outbox.wake`` on a bus after this process's commits, one message per burst."""

    def __init__(self, bus: Bus, loop: asyncio.AbstractEventLoop) -> None:
        self.bus, self.loop = bus, loop
        self.users = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.remove: Callable[[], None] = lambda: None

    def __call__(self) -> None:
        if self._scheduled:
            return
        self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell any more
            self.loop.call_soon_threadsafe(self._spawn)

    def _spawn(self) -> None:
        task = self.loop.create_task(self._publish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self) -> None:
        self._scheduled = False  # a commit from now on announces again
        try:
            await self.bus.publish(WAKE_TOPIC, {})
        except Exception:  # the relays' sweep catches up
            log.warning("outbox: could not announce committed events on the bus")


_ANNOUNCERS: dict[int, _Announcer] = {}


def announce_commits(bus: Bus) -> Callable[[], None]:
    """Wake the relays of other processes (on ``bus``) after this process commits events.

    Every process that has a bus calls it once per bus (web, ingress): the relays run in
    the worker processes in scaled mode. Returns a function that stops it.
    """
    announcer = _ANNOUNCERS.get(id(bus))
    if announcer is None:
        announcer = _ANNOUNCERS[id(bus)] = _Announcer(bus, asyncio.get_running_loop())
        announcer.remove = on_events_committed(announcer)
    announcer.users += 1

    def stop() -> None:
        announcer.users -= 1
        if announcer.users <= 0 and _ANNOUNCERS.get(id(bus)) is announcer:
            del _ANNOUNCERS[id(bus)]
            announcer.remove()

    return stop


# --------------------------------------------------------------------------- subscribers


@dataclasses.dataclass(frozen=True)
class Delivery:
    """What a handler gets with the event: its id (the idempotency key), and where to work.

    ``session`` is scoped to the event's tenant; what the handler writes with it commits
    together with the delivery's mark, once.
    """

    event_id: uuid.UUID
    subscriber: str
    attempt: int
    session: AsyncSession
    db: Database
    bus: Bus | None
    settings: Settings | None


Handler = Callable[[Delivery, Any], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class Subscriber(Generic[E]):
    """A durable subscriber: ``handler(delivery, event)`` for every event of type ``event``.

    ``name`` is stable and unique per topic (``component.purpose``): it keys the delivery
    records, so renaming a subscriber abandons its pending deliveries.
    """

    event: type[E]
    name: str
    handler: Callable[[Delivery, E], Awaitable[None]]
    max_attempts: int = MAX_ATTEMPTS
    timeout: float = HANDLER_TIMEOUT

    def __post_init__(self) -> None:
        if not (isinstance(self.event, type) and issubclass(self.event, Event) and self.event.topic):
            raise TypeError(f"{self.name}: {self.event!r} is not an Event type with a topic")
        if not self.name or len(self.name) > 100:
            raise ValueError(f"subscriber name {self.name!r}: 1 to 100 characters")

    @property
    def topic(self) -> str:
        return self.event.topic


#: The durable subscribers of this process, by (topic, name): what the composition root installed.
SUBSCRIBERS: dict[tuple[str, str], Subscriber[Any]] = {}


def install_subscribers(subscribers: Iterable[Subscriber[Any]],
                        into: dict[tuple[str, str], Subscriber[Any]] | None = None) -> None:
    """Register durable subscribers (a component manifest's list); installing one twice is harmless."""
    registry = SUBSCRIBERS if into is None else into
    for subscriber in subscribers:
        key = (subscriber.topic, subscriber.name)
        known = registry.get(key)
        if known is not None and known != subscriber:
            raise ValueError(f"two subscribers named {subscriber.name!r} on {subscriber.topic!r}")
        registry[key] = subscriber


async def forward_to_bus(delivery: Delivery, event_: Event) -> None:
    """A handler: publish the event on the bus (live screens, processes listening there).

    At least once overall, at most once per bus delivery: listeners that must not act
    twice register a durable subscriber instead.
    """
    if delivery.bus is None:
        raise RuntimeError("no bus to forward the event to")
    await delivery.bus.publish(event_.topic, event_.payload)


# --------------------------------------------------------------------------- the relay


def _insert_ignoring_conflicts(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(_DELIVERIES).on_conflict_do_nothing()


def _describe(exc: BaseException) -> str:
    text_ = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text_[:2000]


class _ClaimLost(RuntimeError):
    """The delivery's lease ended and another relay took it: this attempt rolls back."""


@dataclasses.dataclass
class RelayPass:
    """What ``Relay.run_once`` did."""

    dispatched: int = 0
    delivered: int = 0
    failed: int = 0


class Relay:
    """Fans committed events out to their durable subscribers and delivers them (see the module doc).

    ``start()`` runs it in the background (one task fanning out, one per subscriber name, so
    a slow subscriber never delays another); ``run_once()`` does one pass now (tests, the
    time given as ``now``).
    """

    def __init__(
        self, db: Database, *, bus: Bus | None = None, settings: Settings | None = None,
        subscribers: Iterable[Subscriber[Any]] | None = None, sweep_every: float = SWEEP_EVERY,
        backoff: tuple[float, float] = BACKOFF,
    ) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        self.sweep_every = sweep_every
        self.backoff = backoff
        registry: dict[tuple[str, str], Subscriber[Any]] = {}
        install_subscribers(SUBSCRIBERS.values() if subscribers is None else subscribers, into=registry)
        #: topic -> names; name -> {topic: subscriber}
        self._names_of: dict[str, list[str]] = {}
        self._by_name: dict[str, dict[str, Subscriber[Any]]] = {}
        for (topic, name), subscriber in sorted(registry.items()):
            self._names_of.setdefault(topic, []).append(name)
            self._by_name.setdefault(name, {})[topic] = subscriber
        self._pg = db.engine.dialect.name == "postgresql"
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dispatch_wake: asyncio.Event | None = None
        self._wakes: dict[str, asyncio.Event] = {}
        self._cleanup: list[Callable[[], Awaitable[None] | None]] = []

    @property
    def subscriber_names(self) -> list[str]:
        return sorted(self._by_name)

    # -- running in the background ------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._dispatch_wake = asyncio.Event()
        self._wakes = {name: asyncio.Event() for name in self._by_name}
        self._cleanup.append(on_events_committed(self.wake))
        if self.bus is not None:
            self._cleanup.append(await self.bus.subscribe(WAKE_TOPIC, self._on_wake))
        self._tasks = [asyncio.create_task(self._dispatcher(), name="outbox-dispatch")]
        self._tasks += [asyncio.create_task(self._subscriber_loop(name), name=f"outbox-{name}")
                        for name in self._by_name]

    async def stop(self) -> None:
        for undo in reversed(self._cleanup):
            result = undo()
            if result is not None:
                await result
        self._cleanup = []
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def wake(self) -> None:
        """Something was committed: fan out now (thread-safe; called by commits of this process)."""
        loop, wake = self._loop, self._dispatch_wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(wake.set)

    async def _on_wake(self, topic: str, payload: dict[str, Any]) -> None:
        self.wake()

    @staticmethod
    async def _wait(wake: asyncio.Event, seconds: float) -> bool:
        """True when woken, False when ``seconds`` passed."""
        try:
            async with asyncio.timeout(seconds):
                await wake.wait()
        except TimeoutError:
            return False
        return True

    async def _dispatcher(self) -> None:
        assert self._dispatch_wake is not None
        purged_at = 0.0
        while True:
            self._dispatch_wake.clear()
            try:
                for name in await self.dispatch():
                    self._wakes[name].set()
                if asyncio.get_running_loop().time() - purged_at >= PURGE_EVERY:
                    await self.purge()
                    purged_at = asyncio.get_running_loop().time()
            except Exception:
                log.exception("outbox: fanning out events failed")
            if not await self._wait(self._dispatch_wake, self.sweep_every):
                for wake in self._wakes.values():  # the sweep: retries due, leases of dead relays
                    wake.set()

    async def _subscriber_loop(self, name: str) -> None:
        wake = self._wakes[name]
        while True:
            wake.clear()
            wait = self.sweep_every
            try:
                while await self.deliver_next(name) is not None:
                    pass
                due = await self._next_due(name)
                if due is not None:
                    wait = min(wait, max(0.05, (due - utcnow()).total_seconds()))
            except Exception:
                log.exception("outbox: delivering to %s failed", name)
            await self._wait(wake, wait)

    # -- one pass ------------------------------------------------------------------

    async def run_once(self, *, now: dt.datetime | None = None) -> RelayPass:
        """Fan out what was committed and deliver everything due at ``now`` (default: now)."""
        result = RelayPass()
        while True:
            fanned = await self._dispatch_batch(now)
            result.dispatched += fanned
            if fanned < DISPATCH_BATCH:
                break
        for name in self._by_name:
            while (outcome := await self.deliver_next(name, now=now)) is not None:
                if outcome == DELIVERED:
                    result.delivered += 1
                elif outcome in (PENDING, FAILED):
                    result.failed += 1
        return result

    async def dispatch(self, *, now: dt.datetime | None = None) -> set[str]:
        """Fan out every event not yet fanned out; returns the subscriber names that got deliveries."""
        names: set[str] = set()
        while True:
            fanned = await self._dispatch_batch(now, names)
            if fanned < DISPATCH_BATCH:
                return names

    async def _dispatch_batch(self, now: dt.datetime | None, names: set[str] | None = None) -> int:
        now = now or utcnow()
        query = (select(_EVENTS.c.id, _EVENTS.c.topic, _EVENTS.c.created_at)
                 .where(_EVENTS.c.dispatched_at.is_(None)).order_by(_EVENTS.c.created_at).limit(DISPATCH_BATCH))
        if self._pg:
            query = query.with_for_update(skip_locked=True)  # another relay fans the others out
        async with self.db.engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            if not rows:
                return 0
            deliveries = [
                {"event_id": event_id, "subscriber": name, "topic": topic, "status": PENDING, "attempts": 0,
                 "next_attempt_at": created_at, "claim": None, "last_error": "", "updated_at": now,
                 "delivered_at": None}
                for event_id, topic, created_at in rows for name in self._names_of.get(topic, ())
            ]
            if deliveries:
                # Idempotent: two SQLite relays may fan the same event out.
                await conn.execute(_insert_ignoring_conflicts(conn.dialect.name), deliveries)
            await conn.execute(update(_EVENTS).where(_EVENTS.c.id.in_([row.id for row in rows]))
                               .values(dispatched_at=now))
        if names is not None:
            names.update(delivery["subscriber"] for delivery in deliveries)
        return len(rows)

    async def deliver_next(self, name: str, *, now: dt.datetime | None = None) -> str | None:
        """Claim the subscriber's next due delivery and run it: its new state (``lost``: another relay took
        it over meanwhile, this attempt rolled back), or None if none was due."""
        now = now or utcnow()
        subscribers = self._by_name[name]
        lease = max(subscriber.timeout for subscriber in subscribers.values()) + LEASE_MARGIN
        claim = new_id()
        due = (select(_DELIVERIES.c.event_id)
               .where(_DELIVERIES.c.status == PENDING, _DELIVERIES.c.subscriber == name,
                      _DELIVERIES.c.topic.in_(list(subscribers)), _DELIVERIES.c.next_attempt_at <= now)
               .order_by(_DELIVERIES.c.next_attempt_at).limit(1))
        if self._pg:
            due = due.with_for_update(skip_locked=True)  # never the one another relay is claiming
        async with self.db.engine.begin() as conn:
            claimed = (await conn.execute(
                update(_DELIVERIES)
                # ``= (SELECT … LIMIT 1)``, not ``IN``: PostgreSQL runs an uncorrelated scalar subquery once,
                # where it may run an IN-subquery again for each row it scans, claiming one row each time.
                .where(_DELIVERIES.c.subscriber == name, _DELIVERIES.c.event_id == due.scalar_subquery())
                .values(claim=claim, attempts=_DELIVERIES.c.attempts + 1, updated_at=now,
                        next_attempt_at=now + dt.timedelta(seconds=lease))
                .returning(_DELIVERIES.c.event_id, _DELIVERIES.c.attempts)
            )).first()
            if claimed is None:
                return None
            event_id, attempts = claimed
            row = (await conn.execute(select(_EVENTS.c.tenant_id, _EVENTS.c.topic, _EVENTS.c.payload)
                                      .where(_EVENTS.c.id == event_id))).one()
        subscriber = subscribers[row.topic]
        try:
            typed = subscriber.event.from_payload(row.payload)
        except (msgspec.ValidationError, TypeError, ValueError) as exc:
            return await self._failed(subscriber, event_id, claim, attempts, exc, now, give_up=True)
        tenant_ids = [row.tenant_id] if row.tenant_id is not None else None
        try:
            async with self.db.transaction(tenant_ids, actor={"user_id": None, "label": f"abonné {name}"}) as session:
                async with asyncio.timeout(subscriber.timeout):
                    await subscriber.handler(
                        Delivery(event_id, name, attempts, session, self.db, self.bus, self.settings), typed)
                marked = await session.execute(
                    update(_DELIVERIES)
                    .where(_DELIVERIES.c.event_id == event_id, _DELIVERIES.c.subscriber == name,
                           _DELIVERIES.c.claim == claim)
                    .values(status=DELIVERED, claim=None, last_error="", delivered_at=utcnow(), updated_at=utcnow())
                )
                if marked.rowcount != 1:
                    raise _ClaimLost(f"{name}: delivery of {event_id} taken over by another relay")
        except _ClaimLost as exc:
            log.warning("outbox: %s (its effects are rolled back)", exc)
            return "lost"
        except Exception as exc:
            return await self._failed(subscriber, event_id, claim, attempts, exc, now)
        return DELIVERED

    async def _failed(self, subscriber: Subscriber[Any], event_id: uuid.UUID, claim: uuid.UUID, attempts: int,
                      exc: BaseException, now: dt.datetime, *, give_up: bool = False) -> str:
        give_up = give_up or attempts >= subscriber.max_attempts
        base, ceiling = self.backoff
        delay = min(ceiling, base * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2)
        status = FAILED if give_up else PENDING
        async with self.db.engine.begin() as conn:
            recorded = await conn.execute(
                update(_DELIVERIES)
                .where(_DELIVERIES.c.event_id == event_id, _DELIVERIES.c.subscriber == subscriber.name,
                       _DELIVERIES.c.claim == claim)
                .values(status=status, claim=None, last_error=_describe(exc), updated_at=utcnow(),
                        next_attempt_at=now + dt.timedelta(seconds=delay))
            )
        if recorded.rowcount != 1:
            log.warning("outbox: %s failed on %s %s after another relay took it over: %s", subscriber.name,
                        subscriber.topic, event_id, _describe(exc))
            return "lost"
        if give_up:
            log.error("outbox: %s gave up on %s %s after %d attempts: %s (centrale outbox status)",
                      subscriber.name, subscriber.topic, event_id, attempts, _describe(exc), exc_info=exc)
        else:
            log.warning("outbox: %s failed on %s %s (attempt %d/%d, next in %.0f s): %s", subscriber.name,
                        subscriber.topic, event_id, attempts, subscriber.max_attempts, delay, _describe(exc),
                        exc_info=exc if attempts == 1 else None)
        return status

    async def _next_due(self, name: str) -> dt.datetime | None:
        async with self.db.engine.connect() as conn:
            return await conn.scalar(
                select(func.min(_DELIVERIES.c.next_attempt_at))
                .where(_DELIVERIES.c.status == PENDING, _DELIVERIES.c.subscriber == name,
                       _DELIVERIES.c.topic.in_(list(self._by_name[name])))
            )

    async def purge(self, *, now: dt.datetime | None = None) -> int:
        """Delete the events older than ``RETENTION`` that nobody waits for any more."""
        cutoff = (now or utcnow()) - RETENTION
        waiting = select(_DELIVERIES.c.event_id).where(_DELIVERIES.c.event_id == _EVENTS.c.id,
                                                       _DELIVERIES.c.status.in_((PENDING, FAILED)))
        async with self.db.engine.begin() as conn:  # their deliveries go with them (ON DELETE CASCADE)
            result = await conn.execute(_EVENTS.delete().where(_EVENTS.c.dispatched_at < cutoff, ~waiting.exists()))
        return result.rowcount or 0

    async def wait_idle(self, within: float = 20.0) -> None:
        """Tests: until nothing waits to be fanned out and no delivery of ours is due or running."""
        async with asyncio.timeout(within):
            while True:
                async with self.db.engine.connect() as conn:
                    undispatched = await conn.scalar(
                        select(func.count()).select_from(_EVENTS).where(_EVENTS.c.dispatched_at.is_(None)))
                    busy = await conn.scalar(
                        select(func.count()).select_from(_DELIVERIES)
                        .where(_DELIVERIES.c.status == PENDING, _DELIVERIES.c.subscriber.in_(self.subscriber_names),
                               (_DELIVERIES.c.next_attempt_at <= utcnow()) | _DELIVERIES.c.claim.is_not(None)))
                if not undispatched and not busy:
                    return
                await asyncio.sleep(0.02)


class RelayThread:
    """A relay on its own thread and event loop (``centrale worker``: dramatiq owns the main thread)."""

    def __init__(self, settings: Settings, subscribers: Iterable[Subscriber[Any]] | None = None) -> None:
        self.settings = settings
        self.subscribers = list(SUBSCRIBERS.values() if subscribers is None else subscribers)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="outbox-relay", daemon=True)
        self._thread.start()
        self._ready.wait(30)

    async def _main(self) -> None:
        from app.bus import create_bus

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        db = Database(self.settings.database_url, pool_size=4)
        bus = await create_bus(self.settings)
        relay = Relay(db, bus=bus, settings=self.settings, subscribers=self.subscribers)
        try:
            await relay.start()
            log.info("outbox relay started: %s", ", ".join(relay.subscriber_names) or "no subscriber")
            self._ready.set()
            await self._stop.wait()
        finally:
            self._ready.set()
            await relay.stop()
            await bus.close()
            await db.dispose()

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)


# --------------------------------------------------------------------------- the operator's view


@dataclasses.dataclass(frozen=True)
class DeliveryRow:
    event_id: uuid.UUID
    subscriber: str
    topic: str
    tenant_id: uuid.UUID | None
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class OutboxReport:
    #: deliveries by status, and the events not yet fanned out
    counts: dict[str, int]
    undispatched: int
    #: the deliveries still pending or failed (those of ``statuses``), oldest event first
    rows: list[DeliveryRow]


async def outbox_counts(db: Database) -> dict[str, int]:
    """Deliveries pending (retries included) and failed (given up): for ``/readyz`` and the status."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(
            select(_DELIVERIES.c.status, func.count()).where(_DELIVERIES.c.status.in_((PENDING, FAILED)))
            .group_by(_DELIVERIES.c.status))).all()
    counts = {PENDING: 0, FAILED: 0}
    counts.update({status: n for status, n in rows})
    return counts


async def outbox_report(db: Database, *, statuses: tuple[str, ...] = (PENDING, FAILED), limit: int = 100) -> OutboxReport:
    async with db.engine.connect() as conn:
        counts = {status: n for status, n in (await conn.execute(
            select(_DELIVERIES.c.status, func.count()).group_by(_DELIVERIES.c.status))).all()}
        undispatched = await conn.scalar(
            select(func.count()).select_from(_EVENTS).where(_EVENTS.c.dispatched_at.is_(None))) or 0
        rows = (await conn.execute(
            select(_DELIVERIES.c.event_id, _DELIVERIES.c.subscriber, _DELIVERIES.c.topic, _EVENTS.c.tenant_id,
                   _DELIVERIES.c.status, _DELIVERIES.c.attempts, _DELIVERIES.c.next_attempt_at,
                   _DELIVERIES.c.last_error, _EVENTS.c.created_at)
            .join(_EVENTS, _EVENTS.c.id == _DELIVERIES.c.event_id)
            .where(_DELIVERIES.c.status.in_(statuses))
            .order_by(_EVENTS.c.created_at, _DELIVERIES.c.subscriber).limit(limit))).all()
    return OutboxReport(counts, undispatched, [DeliveryRow(*row) for row in rows])


def _selected(event_id: uuid.UUID | None, subscriber: str | None, statuses: tuple[str, ...]) -> Any:
    condition = _DELIVERIES.c.status.in_(statuses)
    if event_id is not None:
        condition &= _DELIVERIES.c.event_id == event_id
    if subscriber is not None:
        condition &= _DELIVERIES.c.subscriber == subscriber
    return condition


async def retry_deliveries(db: Database, *, event_id: uuid.UUID | None = None, subscriber: str | None = None,
                           include_pending: bool = False) -> int:
    """Failed deliveries (and pending ones, waiting for their backoff) due now, with a fresh set of attempts."""
    statuses = (FAILED, PENDING) if include_pending else (FAILED,)
    now = utcnow()
    async with db.engine.begin() as conn:
        result = await conn.execute(
            update(_DELIVERIES)
            # a delivery being run (claimed, lease not over) is left to its relay
            .where(_selected(event_id, subscriber, statuses),
                   _DELIVERIES.c.claim.is_(None) | (_DELIVERIES.c.next_attempt_at <= now))
            .values(status=PENDING, attempts=0, claim=None, next_attempt_at=now, updated_at=now))
    return result.rowcount or 0


async def ignore_deliveries(db: Database, *, event_id: uuid.UUID, subscriber: str | None = None) -> int:
    """Give up on the event's pending or failed deliveries (to one subscriber, or all): ``ignored``."""
    now = utcnow()
    async with db.engine.begin() as conn:
        result = await conn.execute(
            update(_DELIVERIES).where(_selected(event_id, subscriber, (PENDING, FAILED)))
            .values(status=IGNORED, claim=None, updated_at=now))
    return result.rowcount or 0
