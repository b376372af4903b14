"""outbox: typed events delivered at least once (issue 11)

``outbox_events``: every event published with ``app.outbox.publish_on_commit``, written in
the transaction of the change it reports; ``dispatched_at`` once the relay has fanned it
out. ``outbox_deliveries``: one row per event and durable subscriber, with its state
(pending, delivered, failed, ignored), attempts, next attempt (or the end of the lease of
the relay running it) and last error.

Both are platform-level (no row-level security): the relay reads them across tenants, then
runs each delivery in its event's tenant scope. ``tenant_id`` is nullable (platform events)
and carries no foreign key, so that the hot path's insert checks nothing.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import grant_app_role

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("payload", app.db.JSONType, nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        # What the relay has not fanned out yet: small, oldest first.
        batch_op.create_index("ix_outbox_events_undispatched", ["created_at"], unique=False,
                              postgresql_where=sa.text("dispatched_at IS NULL"),
                              sqlite_where=sa.text("dispatched_at IS NULL"))
    op.create_table(
        "outbox_deliveries",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("subscriber", sa.String(length=100), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claim", sa.Uuid(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["outbox_events.id"],
                                name=op.f("fk_outbox_deliveries_event_id_outbox_events"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", "subscriber", name=op.f("pk_outbox_deliveries")),
    )
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_deliveries_due", ["status", "subscriber", "next_attempt_at"], unique=False)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    op.drop_table("outbox_deliveries")
    op.drop_table("outbox_events")
