"""billing: acomptes (CCP TGD IX.5): the « constats d'avancement » of purchase orders, the acompte invoice of each
validated one, and what final invoices deduct of them (issue 15 §3)

All three tables are tenant-owned, with row-level security and composite foreign keys inside the tenant;
``order_id`` names catalog's order (no foreign key across components).

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("progress_statements", "acomptes", "acompte_deductions")

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)
MONEY = sa.Numeric(precision=14, scale=2)


def upgrade() -> None:
    op.create_table(
        "progress_statements",
        *tenant_keys("progress_statements"),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("order_number", sa.String(length=20), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("stated_on", sa.Date(), nullable=False),
        sa.Column("value_ht", MONEY, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("refusal_reason", sa.Text(), nullable=False),
        sa.Column("submitted_at", UTC, nullable=False),
        sa.Column("submitted_by", sa.String(length=320), nullable=False),
        sa.Column("decided_at", UTC, nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=False),
        sa.UniqueConstraint("tenant_id", "order_id", "sequence",
                            name=op.f("uq_progress_statements_tenant_id_order_id_sequence")),
    )
    op.create_index("ix_progress_statements_status", "progress_statements", ["tenant_id", "status"])
    op.create_table(
        "acomptes",
        *tenant_keys("acomptes"),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("statement_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("amount_ht", MONEY, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"],
                                name=op.f("fk_acomptes_tenant_id_invoice_id_invoices"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id", "statement_id"],
                                ["progress_statements.tenant_id", "progress_statements.id"],
                                name=op.f("fk_acomptes_tenant_id_statement_id_progress_statements")),
        sa.UniqueConstraint("tenant_id", "invoice_id", name=op.f("uq_acomptes_tenant_id_invoice_id")),
        sa.UniqueConstraint("tenant_id", "statement_id", name=op.f("uq_acomptes_tenant_id_statement_id")),
    )
    op.create_index("ix_acomptes_order", "acomptes", ["tenant_id", "order_id"])
    op.create_table(
        "acompte_deductions",
        *tenant_keys("acompte_deductions"),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("acompte_invoice_id", sa.Uuid(), nullable=False),
        sa.Column("line_position", sa.Integer(), nullable=False),
        sa.Column("vat_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("amount_ht", MONEY, nullable=False),
        sa.Column("total_vat", MONEY, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"],
                                name=op.f("fk_acompte_deductions_tenant_id_invoice_id_invoices"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id", "acompte_invoice_id"], ["invoices.tenant_id", "invoices.id"],
                                name=op.f("fk_acompte_deductions_tenant_id_acompte_invoice_id_invoices")),
    )
    op.create_index("ix_acompte_deductions_acompte", "acompte_deductions", ["tenant_id", "acompte_invoice_id"])
    op.create_index("ix_acompte_deductions_invoice", "acompte_deductions", ["tenant_id", "invoice_id"])
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
