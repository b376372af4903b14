"""incidents: deadline notices sent (once per ticket, clock and threshold), the tickets' next notice, the
sites' local referent (issue 13 §1)

``incident_notices`` records each notice the notice job sent (75 % of a delay, its breach), unique per
``(tenant_id, ticket_id, clock, threshold)``: a second run or a restart sends nothing twice. Tenant-owned,
with row-level security. ``incident_tickets.next_notice_at`` (indexed) is when the job next has something
to send for a ticket. ``sites.referent_name`` / ``referent_email``: the local referent of the contract who
receives the closure summary (CCTP CAIH 2.1.5).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("referent_name", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("referent_email", sa.String(length=320), server_default="", nullable=False))
    with op.batch_alter_table("incident_tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_notice_at", UTC, nullable=True))
        batch_op.create_index("ix_incident_tickets_next_notice", ["next_notice_at"], unique=False)
    op.create_table(
        "incident_notices",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("clock", sa.String(length=20), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("deadline", UTC, nullable=False),
        sa.Column("sent_at", UTC, nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_incident_notices_tenant_id_tenants"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["tenant_id", "ticket_id"], ["incident_tickets.tenant_id", "incident_tickets.id"],
                                name=op.f("fk_incident_notices_tenant_id_ticket_id_incident_tickets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_incident_notices")),
        sa.UniqueConstraint("tenant_id", "ticket_id", "clock", "threshold",
                            name=op.f("uq_incident_notices_tenant_id_ticket_id_clock_threshold")),
    )
    enable_tenant_rls("incident_notices")
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    disable_tenant_rls("incident_notices")
    op.drop_table("incident_notices")
    with op.batch_alter_table("incident_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_tickets_next_notice")
        batch_op.drop_column("next_notice_at")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("referent_email")
        batch_op.drop_column("referent_name")
