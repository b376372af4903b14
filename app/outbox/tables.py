"""The outbox's two tables (migration 0013): the events, and their deliveries to each durable subscriber."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

__all__ = ["DELIVERED", "FAILED", "IGNORED", "PENDING", "OutboxDelivery", "OutboxEvent"]

#: Delivery states.
PENDING, DELIVERED, FAILED, IGNORED = "pending", "delivered", "failed", "ignored"


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
