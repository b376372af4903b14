"""assets: the maintained park other than charging stations, and its yearly announcements (issue 13 §4)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("assets", "asset_announcements")

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "assets",
        *tenant_keys("assets"),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("maker", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("serial_number", sa.String(length=100), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("commissioned_on", sa.Date(), nullable=True),
        sa.Column("warranty_end", sa.Date(), nullable=True),
        sa.Column("support_case", sa.String(length=20), nullable=False),
        sa.Column("end_of_maintainability", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"],
                                name=op.f("fk_assets_tenant_id_site_id_sites")),
        sa.UniqueConstraint("tenant_id", "serial_number", name=op.f("uq_assets_tenant_id_serial_number")),
    )
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.create_index("ix_assets_maintainability", ["tenant_id", "end_of_maintainability"], unique=False)
    op.create_table(
        "asset_announcements",
        *tenant_keys("asset_announcements"),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sent_at", UTC, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.UniqueConstraint("tenant_id", "year", name=op.f("uq_asset_announcements_tenant_id_year")),
    )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
