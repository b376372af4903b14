"""billing: the quarters invoiced of continuous services (CCP TGD IX.4) and the ECB rates of late interest (IX.7)
(issue 15 §3)

``invoice_periods`` is tenant-owned, with row-level security and a composite foreign key to its invoice; unique per
order line and quarter (``order_id`` names catalog's order, no foreign key across components). ``ecb_rates`` is
central-level (like ``price_indexes``).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("invoice_periods",)

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "invoice_periods",
        *tenant_keys("invoice_periods"),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("order_position", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("quarter", sa.Integer(), nullable=False),
        sa.Column("served_from", sa.Date(), nullable=False),
        sa.Column("served_to", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"],
                                name=op.f("fk_invoice_periods_tenant_id_invoice_id_invoices"), ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "order_id", "order_position", "year", "quarter",
                            name=op.f("uq_invoice_periods_tenant_id_order_id_order_position_year_quarter")),
    )
    op.create_table(
        "ecb_rates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("applies_from", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(precision=6, scale=3), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecb_rates")),
        sa.UniqueConstraint("applies_from", name=op.f("uq_ecb_rates_applies_from")),
    )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    op.drop_table("ecb_rates")
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
