"""catalog: amendments of purchase orders (issue 14 §3; CCP TGD VI.3)

``purchase_order_amendments`` and ``purchase_order_amendment_lines`` are tenant-owned, with row-level security;
an amendment is a composite foreign key to its order, its lines (the version it replaced) one to it. Orders get
their ``version`` (1 as issued).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("purchase_order_amendments", "purchase_order_amendment_lines")

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)
MONEY = sa.Numeric(precision=14, scale=2)


def upgrade() -> None:
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "purchase_order_amendments",
        *tenant_keys("purchase_order_amendments"),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("notified_at", UTC, nullable=False),
        sa.Column("notified_by", sa.String(length=320), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("total_ht_before", MONEY, nullable=False),
        sa.Column("total_ht_after", MONEY, nullable=False),
        sa.Column("observations", sa.Text(), nullable=False),
        sa.Column("observations_at", UTC, nullable=True),
        sa.Column("observations_by", sa.String(length=320), nullable=False),
        sa.Column("deemed_accepted_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["tenant_id", "order_id"], ["purchase_orders.tenant_id", "purchase_orders.id"],
                                name=op.f("fk_purchase_order_amendments_tenant_id_order_id_purchase_orders"),
                                ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "order_id", "version",
                            name=op.f("uq_purchase_order_amendments_tenant_id_order_id_version")),
    )
    with op.batch_alter_table("purchase_order_amendments", schema=None) as batch_op:
        batch_op.create_index("ix_purchase_order_amendments_state", ["tenant_id", "state", "notified_at"],
                              unique=False)
    op.create_table(
        "purchase_order_amendment_lines",
        *tenant_keys("purchase_order_amendment_lines"),
        sa.Column("amendment_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("article_code", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("family", sa.String(length=30), nullable=False),
        sa.Column("bpu_version_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit_price_ht", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("discount_percent", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("gross_ht", MONEY, nullable=False),
        sa.Column("total_ht", MONEY, nullable=False),
        sa.Column("vat_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("total_vat", MONEY, nullable=False),
        sa.Column("total_ttc", MONEY, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "amendment_id"],
                                ["purchase_order_amendments.tenant_id", "purchase_order_amendments.id"],
                                name=op.f("fk_purchase_order_amendment_lines_tenant_id_amendment_id_purchase_order_amendments"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["bpu_version_id"], ["bpu_versions.id"],
                                name=op.f("fk_purchase_order_amendment_lines_bpu_version_id_bpu_versions")),
        sa.UniqueConstraint("tenant_id", "amendment_id", "position",
                            name=op.f("uq_purchase_order_amendment_lines_tenant_id_amendment_id_position")),
    )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.drop_column("version")
