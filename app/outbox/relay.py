"""Durable subscribers and the relay that delivers the committed events to them (see ``app.outbox``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import random
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, new_id, utcnow
from app.outbox.event import E, Event
from app.outbox.publish import WAKE_TOPIC, on_events_committed
from app.outbox.tables import _DELIVERIES, _EVENTS, DELIVERED, FAILED, PENDING

if TYPE_CHECKING:
    from app.bus import Bus
    from app.settings import Settings

__all__ = [
    "BACKOFF", "MAX_ATTEMPTS", "SUBSCRIBERS", "Delivery", "Relay", "RelayPass", "RelayThread", "Subscriber",
    "forward_to_bus", "install_subscribers",
]

log = logging.getLogger(__name__)

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
#: ``stop()`` lets the delivery in flight finish for this long before cancelling it (its claim is then
#: released, so that the next relay takes it at once instead of after its lease).
STOP_GRACE = 10.0
#: Events fanned out per statement; delivered events are purged after ``RETENTION``.
DISPATCH_BATCH = 500
RETENTION = dt.timedelta(days=7)
PURGE_EVERY = 3600.0


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
        self._stopping = False

    @property
    def subscriber_names(self) -> list[str]:
        return sorted(self._by_name)

    # -- running in the background ------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._dispatch_wake = asyncio.Event()
        self._wakes = {name: asyncio.Event() for name in self._by_name}
        self._cleanup.append(on_events_committed(self.wake))
        if self.bus is not None:
            self._cleanup.append(await self.bus.subscribe(WAKE_TOPIC, self._on_wake))
        self._tasks = [asyncio.create_task(self._dispatcher(), name="outbox-dispatch")]
        self._tasks += [asyncio.create_task(self._subscriber_loop(name), name=f"outbox-{name}")
                        for name in self._by_name]

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop taking work, let the deliveries in flight end (within ``grace`` seconds), then cancel what is
        left: a cancelled delivery rolls back and gives its claim back, so no lease outlives the relay."""
        for undo in reversed(self._cleanup):
            result = undo()
            if result is not None:
                await result
        self._cleanup = []
        self._stopping = True
        for wake in [self._dispatch_wake, *self._wakes.values()]:
            if wake is not None:
                wake.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)
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
        while not self._stopping:
            self._dispatch_wake.clear()
            try:
                for name in await self.dispatch():
                    self._wakes[name].set()
                if asyncio.get_running_loop().time() - purged_at >= PURGE_EVERY:
                    await self.purge()
                    purged_at = asyncio.get_running_loop().time()
            except Exception:
                log.exception("outbox: fanning out events failed")
            if self._stopping:
                return
            if not await self._wait(self._dispatch_wake, self.sweep_every):
                for wake in self._wakes.values():  # the sweep: retries due, leases of dead relays
                    wake.set()

    async def _subscriber_loop(self, name: str) -> None:
        wake = self._wakes[name]
        while not self._stopping:
            wake.clear()
            wait = self.sweep_every
            try:
                while not self._stopping and await self.deliver_next(name) is not None:
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
            # One statement: ``= (SELECT … FOR UPDATE SKIP LOCKED)`` never takes the row another relay is
            # claiming. ``=``, not ``IN``: PostgreSQL runs an uncorrelated scalar subquery once, where it may
            # run an IN-subquery again for each row it scans, claiming one row each time.
            target: Any = due.with_for_update(skip_locked=True).scalar_subquery()
        else:
            # SQLite: read first (no lock), so that an idle relay never takes the database's one write lock;
            # the UPDATE below re-checks that the delivery is still due, atomically under that lock.
            async with self.db.engine.connect() as conn:
                target = await conn.scalar(due)
            if target is None:
                return None
        async with self.db.engine.begin() as conn:
            claimed = (await conn.execute(
                update(_DELIVERIES)
                .where(_DELIVERIES.c.subscriber == name, _DELIVERIES.c.event_id == target,
                       _DELIVERIES.c.status == PENDING, _DELIVERIES.c.next_attempt_at <= now)
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
        except asyncio.CancelledError:
            # Stopped mid-delivery: the handler's transaction is rolled back; the claim is given back (this
            # attempt not counted) so that the next relay does not wait for the lease to end.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._release(name, event_id, claim, attempts)), 5.0)
            raise
        except Exception as exc:
            return await self._failed(subscriber, event_id, claim, attempts, exc, now)
        return DELIVERED

    async def _release(self, name: str, event_id: uuid.UUID, claim: uuid.UUID, attempts: int) -> None:
        try:
            async with self.db.engine.begin() as conn:
                await conn.execute(
                    update(_DELIVERIES)
                    .where(_DELIVERIES.c.event_id == event_id, _DELIVERIES.c.subscriber == name,
                           _DELIVERIES.c.claim == claim)
                    .values(claim=None, attempts=attempts - 1, next_attempt_at=utcnow(), updated_at=utcnow()))
        except Exception:  # the lease ends anyway: the delivery is taken again then
            log.exception("outbox: could not give back the claim of %s on %s", name, event_id)

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
        """Tests: until nothing waits to be fanned out and no delivery of ours is due or running (a
        ``TimeoutError`` naming what still waits otherwise)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + within
        while True:
            async with self.db.engine.connect() as conn:
                undispatched = (await conn.execute(
                    select(_EVENTS.c.topic).where(_EVENTS.c.dispatched_at.is_(None)))).scalars().all()
                busy = (await conn.execute(
                    select(_DELIVERIES.c.subscriber, _DELIVERIES.c.topic, _DELIVERIES.c.attempts,
                           _DELIVERIES.c.claim.is_not(None), _DELIVERIES.c.last_error)
                    .where(_DELIVERIES.c.status == PENDING, _DELIVERIES.c.subscriber.in_(self.subscriber_names),
                           (_DELIVERIES.c.next_attempt_at <= utcnow()) | _DELIVERIES.c.claim.is_not(None)))).all()
            if not undispatched and not busy:
                return
            if loop.time() >= until:
                raise TimeoutError(f"outbox not idle after {within} s: not fanned out {list(undispatched)}; "
                                   f"due or claimed (subscriber, topic, attempts, claimed, last error) "
                                   f"{[tuple(row) for row in busy]}")
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
            while not self._stop.is_set():
                try:
                    await relay.start()
                except Exception:  # Redis not up yet: the worker goes on, the relay tries again
                    log.exception("outbox relay could not start; trying again in %.0f s", SWEEP_EVERY)
                    await relay.stop()
                    self._ready.set()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(SWEEP_EVERY):
                            await self._stop.wait()
                    continue
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
