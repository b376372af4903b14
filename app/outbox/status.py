"""The operator's view of the outbox: what waits or failed (``centrale outbox``, ``/readyz``), retry, ignore."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select, update

from app.db import Database, utcnow
from app.outbox.tables import _DELIVERIES, _EVENTS, FAILED, IGNORED, PENDING

__all__ = ["DeliveryRow", "OutboxReport", "ignore_deliveries", "outbox_counts", "outbox_report", "retry_deliveries"]


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
