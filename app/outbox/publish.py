"""``publish_on_commit``: events written with the transaction of the change they report, and the wake-up
of the relays once it commits (in this process, and over the bus for the others)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from app.db import TenantScopeError, new_id, tenant_ids_of, utcnow
from app.outbox.event import Event
from app.outbox.tables import _EVENTS

if TYPE_CHECKING:
    from app.bus import Bus

__all__ = ["WAKE_TOPIC", "announce_commits", "on_events_committed", "publish_on_commit"]

log = logging.getLogger(__name__)

#: Bus topic: events were committed to the outbox (no payload); relays in other processes wake up.
WAKE_TOPIC = "outbox.wake"
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
