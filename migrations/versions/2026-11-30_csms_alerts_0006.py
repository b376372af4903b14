"""csms: supervision alerts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role

TENANT_TABLES_AT_THIS_REVISION = ("supervision_alerts",)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervision_alerts",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("charger_id", sa.Uuid(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=False),
        sa.Column("opened_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detected_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "charger_id"], ["chargers.tenant_id", "chargers.id"],
                                name=op.f("fk_supervision_alerts_tenant_id_charger_id_chargers")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_supervision_alerts_tenant_id_tenants"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_supervision_alerts")),
    )
    with op.batch_alter_table("supervision_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_supervision_alerts_opened", ["tenant_id", "opened_at"], unique=False)
        # One open alert per (charger, connector, kind): several processes may detect the same condition.
        batch_op.create_index(
            "uq_supervision_alerts_open", ["tenant_id", "charger_id", "connector_id", "kind"], unique=True,
            postgresql_where=sa.text("closed_at IS NULL"), sqlite_where=sa.text("closed_at IS NULL"),
        )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in TENANT_TABLES_AT_THIS_REVISION:
        disable_tenant_rls(table)
    with op.batch_alter_table("supervision_alerts", schema=None) as batch_op:
        batch_op.drop_index("uq_supervision_alerts_open")
        batch_op.drop_index("ix_supervision_alerts_opened")
    op.drop_table("supervision_alerts")
