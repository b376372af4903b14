"""csms: remote command log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role

# CCTP CPAM 5-4-2-1: remote operation of the stations; every command is logged with
# who sent it, when, the payload and the station's answer.
TENANT_TABLES_AT_THIS_REVISION = ("charger_commands",)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "charger_commands",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("charger_id", sa.Uuid(), nullable=False),
        sa.Column("charge_box_id", sa.String(length=48), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("protocol", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answer", JSON, nullable=True),
        sa.Column("error_code", sa.String(length=50), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("requested_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("node", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "charger_id"], ["chargers.tenant_id", "chargers.id"],
                                name=op.f("fk_charger_commands_tenant_id_charger_id_chargers")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_charger_commands_tenant_id_tenants"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_charger_commands_user_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_charger_commands")),
    )
    with op.batch_alter_table("charger_commands", schema=None) as batch_op:
        batch_op.create_index("ix_charger_commands_charger", ["tenant_id", "charger_id", "requested_at"], unique=False)
    # DESIGN.md tenancy rule 2: row-level security on every tenant-owned table.
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in TENANT_TABLES_AT_THIS_REVISION:
        disable_tenant_rls(table)
    with op.batch_alter_table("charger_commands", schema=None) as batch_op:
        batch_op.drop_index("ix_charger_commands_charger")
    op.drop_table("charger_commands")
