"""billing: penalties of CCP TGD VIII (notified, observations for thirty days, deemed accepted, deducted as a
document-level allowance of the next invoice), the price indexes of IX.2 and the BPU revisions made from them
(issue 15 §4)

``penalties`` and ``invoice_allowances`` are tenant-owned, with row-level security and composite foreign keys inside
the tenant; ``penalties.order_id`` and ``ticket_id`` name catalog's order and incidents' ticket with no foreign key
across components. ``price_indexes`` and ``price_revisions`` are central-level (like ``billing_issuers``).

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("penalties", "invoice_allowances")

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)
MONEY = sa.Numeric(precision=14, scale=2)


def upgrade() -> None:
    op.create_table(
        "penalties",
        *tenant_keys("penalties"),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("agreement_reference", sa.String(length=64), nullable=False),
        sa.Column("article", sa.String(length=8), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("order_number", sa.String(length=20), nullable=False),
        sa.Column("value_ht", MONEY, nullable=False),
        sa.Column("lateness", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("lateness_unit", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.Column("ticket_number", sa.String(length=20), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("computed_ht", MONEY, nullable=False),
        sa.Column("amount_ht", MONEY, nullable=False),
        sa.Column("computation", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("notified_at", UTC, nullable=True),
        sa.Column("notified_by", sa.String(length=320), nullable=False),
        sa.Column("observations_until", sa.Date(), nullable=True),
        sa.Column("observations", sa.Text(), nullable=False),
        sa.Column("observed_at", UTC, nullable=True),
        sa.Column("observed_by", sa.String(length=320), nullable=False),
        sa.Column("exemption", sa.String(length=20), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("decided_at", UTC, nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=False),
        sa.Column("deemed_accepted", sa.Boolean(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("deducted_at", UTC, nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_penalties_agreement_id_framework_agreements")),
        sa.ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"],
                                name=op.f("fk_penalties_tenant_id_invoice_id_invoices")),
    )
    with op.batch_alter_table("penalties", schema=None) as batch_op:
        batch_op.create_index("ix_penalties_status", ["tenant_id", "agreement_id", "status"], unique=False)
    op.create_table(
        "invoice_allowances",
        *tenant_keys("invoice_allowances"),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("penalty_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("amount_ht", MONEY, nullable=False),
        sa.Column("vat_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("total_vat", MONEY, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"],
                                name=op.f("fk_invoice_allowances_tenant_id_invoice_id_invoices"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id", "penalty_id"], ["penalties.tenant_id", "penalties.id"],
                                name=op.f("fk_invoice_allowances_tenant_id_penalty_id_penalties")),
        sa.UniqueConstraint("tenant_id", "penalty_id", name=op.f("uq_invoice_allowances_tenant_id_penalty_id")),
    )
    op.create_table(
        "price_indexes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column("value", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_indexes")),
        sa.UniqueConstraint("name", "month", name=op.f("uq_price_indexes_name_month")),
    )
    op.create_table(
        "price_revisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("from_version_id", sa.Uuid(), nullable=False),
        sa.Column("to_version_id", sa.Uuid(), nullable=False),
        sa.Column("index_name", sa.String(length=60), nullable=False),
        sa.Column("priced_on", sa.Date(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ing0", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("ing0_published_on", sa.Date(), nullable=False),
        sa.Column("ing", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("ing_published_on", sa.Date(), nullable=False),
        sa.Column("coefficient", sa.Numeric(precision=12, scale=8), nullable=False),
        sa.Column("computation", sa.Text(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_price_revisions_agreement_id_framework_agreements")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_revisions")),
    )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    op.drop_table("price_revisions")
    op.drop_table("price_indexes")
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
