"""csms: ghost transactions and concurrent badge sessions

Issue 10 (security hardening): ``charging_transactions.anomaly`` flags a 2.0.1
transaction first heard of in an event other than Started (``unknown_start``): kept,
shown, given no share of a site's power budget while its EVSE is unknown.
``csms_tenant_settings.allow_concurrent_badge_sessions`` (default false): a badge
already in a charging session gets ``ConcurrentTx`` for a second one unless set;
``ix_charging_transactions_badge_active`` finds a badge's running sessions.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role

TENANT_TABLES_AT_THIS_REVISION = ("csms_tenant_settings",)

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("charging_transactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anomaly", sa.String(length=20), nullable=False, server_default=""))
    op.create_index("ix_charging_transactions_badge_active", "charging_transactions", ["tenant_id", "badge_id"],
                    postgresql_where=sa.text("status = 'active'"), sqlite_where=sa.text("status = 'active'"))
    op.create_table(
        "csms_tenant_settings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("allow_concurrent_badge_sessions", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_csms_tenant_settings_tenant_id_tenants"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_csms_tenant_settings")),
        sa.UniqueConstraint("tenant_id", name="uq_csms_tenant_settings_tenant"),
    )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in TENANT_TABLES_AT_THIS_REVISION:
        disable_tenant_rls(table)
    op.drop_table("csms_tenant_settings")
    op.drop_index("ix_charging_transactions_badge_active", table_name="charging_transactions")
    with op.batch_alter_table("charging_transactions", schema=None) as batch_op:
        batch_op.drop_column("anomaly")
