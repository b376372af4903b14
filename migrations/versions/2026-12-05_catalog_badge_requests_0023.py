"""catalog: the agents' badge requests approved by their manager (CCTP CPAM 5-5-5-3; issue 14 §4)

``badge_requests`` is tenant-owned, with row-level security; its site is a composite foreign key to a site
of the same tenant; its people are users.

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("badge_requests",)

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "badge_requests",
        *tenant_keys("badge_requests"),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("requested_at", UTC, nullable=False),
        sa.Column("decided_at", UTC, nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("refusal_reason", sa.String(length=500), nullable=False),
        sa.Column("shipped_at", UTC, nullable=True),
        sa.Column("shipped_by", sa.Uuid(), nullable=True),
        sa.Column("id_tag", sa.String(length=36), nullable=False),
        sa.Column("shipment_reference", sa.String(length=100), nullable=False),
        sa.Column("activated_at", UTC, nullable=True),
        sa.Column("badge_id", sa.Uuid(), nullable=True),
        sa.Column("cancelled_at", UTC, nullable=True),
        sa.Column("decision_reminded", sa.Boolean(), nullable=False),
        sa.Column("shipment_reminded", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"],
                                name=op.f("fk_badge_requests_tenant_id_site_id_sites")),
        sa.ForeignKeyConstraint(["requested_by"], ["users.id"], name=op.f("fk_badge_requests_requested_by_users")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_badge_requests_decided_by_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["shipped_by"], ["users.id"], name=op.f("fk_badge_requests_shipped_by_users"),
                                ondelete="SET NULL"),
    )
    with op.batch_alter_table("badge_requests", schema=None) as batch_op:
        batch_op.create_index("ix_badge_requests_state", ["tenant_id", "state", "requested_at"], unique=False)
        batch_op.create_index("ix_badge_requests_requester", ["tenant_id", "requested_by", "requested_at"],
                              unique=False)
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
