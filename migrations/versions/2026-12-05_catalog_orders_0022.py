"""catalog: purchase orders — their numbering per tenant and year, their lines priced from the BPU in force on
the order date, their status history (issue 14 §3, CCP TGD VI.1)

Every table tenant-owned, with row-level security; the lines and the events point at their order with a
composite foreign key.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 12:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("purchase_order_counters", "purchase_orders", "purchase_order_lines",
                                  "purchase_order_events")

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)
MONEY = sa.Numeric(precision=14, scale=2)


def _order_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id", "order_id"], ["purchase_orders.tenant_id", "purchase_orders.id"],
                                   name=op.f(f"fk_{table}_tenant_id_order_id_purchase_orders"), ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "purchase_order_counters",
        *tenant_keys("purchase_order_counters"),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.UniqueConstraint("tenant_id", "year", name=op.f("uq_purchase_order_counters_tenant_id_year")),
    )
    op.create_table(
        "purchase_orders",
        *tenant_keys("purchase_orders"),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("agreement_reference", sa.String(length=64), nullable=False),
        sa.Column("agreement_title", sa.String(length=300), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("delivery_place", sa.Text(), nullable=False),
        sa.Column("representative", sa.String(length=500), nullable=False),
        sa.Column("delivery_conditions", sa.Text(), nullable=False),
        sa.Column("gross_ht", MONEY, nullable=False),
        sa.Column("total_ht", MONEY, nullable=False),
        sa.Column("total_vat", MONEY, nullable=False),
        sa.Column("total_ttc", MONEY, nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.Column("quote_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("issued_at", UTC, nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_purchase_orders_agreement_id_framework_agreements")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_purchase_orders_tenant_id_number")),
    )
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.create_index("ix_purchase_orders_status", ["tenant_id", "status", "order_date"], unique=False)
        batch_op.create_index("ix_purchase_orders_created", ["tenant_id", "created_at"], unique=False)
    op.create_table(
        "purchase_order_lines",
        *tenant_keys("purchase_order_lines"),
        sa.Column("order_id", sa.Uuid(), nullable=False),
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
        _order_fk("purchase_order_lines"),
        sa.ForeignKeyConstraint(["bpu_version_id"], ["bpu_versions.id"],
                                name=op.f("fk_purchase_order_lines_bpu_version_id_bpu_versions")),
        sa.UniqueConstraint("tenant_id", "order_id", "position",
                            name=op.f("uq_purchase_order_lines_tenant_id_order_id_position")),
    )
    op.create_table(
        "purchase_order_events",
        *tenant_keys("purchase_order_events"),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("from_status", sa.String(length=12), nullable=False),
        sa.Column("to_status", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        _order_fk("purchase_order_events"),
    )
    with op.batch_alter_table("purchase_order_events", schema=None) as batch_op:
        batch_op.create_index("ix_purchase_order_events_order", ["tenant_id", "order_id", "at"], unique=False)
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
