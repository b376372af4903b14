"""billing: invoices and credit notes of verified purchase orders, their gap-free numbering per issuer, the buyer's
billing profile and the titulaire's identity as issuer (issue 15 §3; CCP TGD IX.4–IX.7, Chorus Pro, EN 16931)

``billing_issuers`` (per framework agreement) and ``invoice_counters`` (per issuer SIRET, series and year) are not
tenant-owned (like ``framework_agreements``); ``billing_profiles``, ``invoices`` and ``invoice_lines`` are, with
row-level security and composite foreign keys inside the tenant. ``invoices.order_id`` names catalog's order with no
foreign key across components.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("billing_profiles", "invoices", "invoice_lines")

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)
MONEY = sa.Numeric(precision=14, scale=2)


def upgrade() -> None:
    op.create_table(
        "billing_issuers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("siret", sa.String(length=14), nullable=False),
        sa.Column("vat_number", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("postal_code", sa.String(length=10), nullable=False),
        sa.Column("city", sa.String(length=120), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_billing_issuers_agreement_id_framework_agreements")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_issuers")),
        sa.UniqueConstraint("agreement_id", name=op.f("uq_billing_issuers_agreement_id")),
    )
    op.create_table(
        "invoice_counters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("issuer_siret", sa.String(length=14), nullable=False),
        sa.Column("series", sa.String(length=2), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_counters")),
        sa.UniqueConstraint("issuer_siret", "series", "year", name=op.f("uq_invoice_counters_issuer_siret_series_year")),
    )
    op.create_table(
        "billing_profiles",
        *tenant_keys("billing_profiles"),
        sa.Column("requires_service_code", sa.Boolean(), nullable=False),
        sa.Column("requires_engagement", sa.Boolean(), nullable=False),
        sa.Column("service_code", sa.String(length=100), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_billing_profiles_tenant_id")),
    )
    op.create_table(
        "invoices",
        *tenant_keys("invoices"),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("agreement_reference", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("order_number", sa.String(length=20), nullable=False),
        sa.Column("engagement_number", sa.String(length=50), nullable=False),
        sa.Column("service_code", sa.String(length=100), nullable=False),
        sa.Column("buyer_name", sa.String(length=200), nullable=False),
        sa.Column("buyer_siret", sa.String(length=14), nullable=False),
        sa.Column("buyer_address", sa.String(length=300), nullable=False),
        sa.Column("buyer_postal_code", sa.String(length=10), nullable=False),
        sa.Column("buyer_city", sa.String(length=120), nullable=False),
        sa.Column("seller_name", sa.String(length=200), nullable=False),
        sa.Column("seller_siret", sa.String(length=14), nullable=False),
        sa.Column("seller_vat_number", sa.String(length=20), nullable=False),
        sa.Column("seller_address", sa.String(length=300), nullable=False),
        sa.Column("seller_postal_code", sa.String(length=10), nullable=False),
        sa.Column("seller_city", sa.String(length=120), nullable=False),
        sa.Column("seller_country_code", sa.String(length=2), nullable=False),
        sa.Column("verified_on", sa.Date(), nullable=True),
        sa.Column("issue_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_ht", MONEY, nullable=False),
        sa.Column("total_vat", MONEY, nullable=False),
        sa.Column("total_ttc", MONEY, nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("credited_invoice_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("issued_at", UTC, nullable=True),
        sa.Column("issued_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_invoices_agreement_id_framework_agreements")),
        sa.ForeignKeyConstraint(["tenant_id", "credited_invoice_id"], ["invoices.tenant_id", "invoices.id"],
                                name=op.f("fk_invoices_tenant_id_credited_invoice_id_invoices")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_invoices_tenant_id_number")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index("ix_invoices_order", ["tenant_id", "order_id"], unique=False)
        batch_op.create_index("ix_invoices_status", ["tenant_id", "status", "issue_date"], unique=False)
    op.create_table(
        "invoice_lines",
        *tenant_keys("invoice_lines"),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("order_position", sa.Integer(), nullable=False),
        sa.Column("article_code", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit_price_ht", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("discount_percent", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("gross_ht", MONEY, nullable=False),
        sa.Column("refaction_ht", MONEY, nullable=False),
        sa.Column("total_ht", MONEY, nullable=False),
        sa.Column("vat_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("total_vat", MONEY, nullable=False),
        sa.Column("total_ttc", MONEY, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"],
                                name=op.f("fk_invoice_lines_tenant_id_invoice_id_invoices"), ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "invoice_id", "position",
                            name=op.f("uq_invoice_lines_tenant_id_invoice_id_position")),
    )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
    op.drop_table("invoice_counters")
    op.drop_table("billing_issuers")
