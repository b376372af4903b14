"""catalog: quotes asked by a beneficiary and priced by the titulaire on the BPU (issue 14 §2; CCTP CANUT 9,
CAIH 2.1.17, CPAM 5-1-4 / 5-2 / 5-3-1)

``quote_counters``, ``quotes`` and ``quote_lines`` are tenant-owned, with row-level security; a quote's site is a
composite foreign key to a site of the same tenant, its lines one to their quote.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("quote_counters", "quotes", "quote_lines")

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)
MONEY = sa.Numeric(precision=14, scale=2)


def _user_fk(column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["users.id"], name=op.f(f"fk_quotes_{column}_users"), ondelete="SET NULL")


def upgrade() -> None:
    op.create_table(
        "quote_counters",
        *tenant_keys("quote_counters"),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.UniqueConstraint("tenant_id", "year", name=op.f("uq_quote_counters_tenant_id_year")),
    )
    op.create_table(
        "quotes",
        *tenant_keys("quotes"),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("agreement_reference", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("need", sa.Text(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("place", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("requested_at", UTC, nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("site_visit_on", sa.Date(), nullable=True),
        sa.Column("answered_at", UTC, nullable=True),
        sa.Column("answered_by", sa.Uuid(), nullable=True),
        sa.Column("priced_on", sa.Date(), nullable=True),
        sa.Column("answer_note", sa.Text(), nullable=False),
        sa.Column("gross_ht", MONEY, nullable=False),
        sa.Column("total_ht", MONEY, nullable=False),
        sa.Column("total_vat", MONEY, nullable=False),
        sa.Column("total_ttc", MONEY, nullable=False),
        sa.Column("parts_ht", MONEY, nullable=False),
        sa.Column("labour_ht", MONEY, nullable=False),
        sa.Column("decided_at", UTC, nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("refusal_reason", sa.Text(), nullable=False),
        sa.Column("cancelled_at", UTC, nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("works_started_on", sa.Date(), nullable=True),
        sa.Column("commissioned_on", sa.Date(), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_quotes_agreement_id_framework_agreements")),
        sa.ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"],
                                name=op.f("fk_quotes_tenant_id_site_id_sites")),
        _user_fk("requested_by"),
        _user_fk("answered_by"),
        _user_fk("decided_by"),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_quotes_tenant_id_number")),
    )
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.create_index("ix_quotes_state", ["tenant_id", "state", "requested_at"], unique=False)
    op.create_table(
        "quote_lines",
        *tenant_keys("quote_lines"),
        sa.Column("quote_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("article_code", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("family", sa.String(length=30), nullable=False),
        sa.Column("nature", sa.String(length=10), nullable=False),
        sa.Column("bpu_version_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit_price_ht", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("discount_percent", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("gross_ht", MONEY, nullable=False),
        sa.Column("total_ht", MONEY, nullable=False),
        sa.Column("vat_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("total_vat", MONEY, nullable=False),
        sa.Column("total_ttc", MONEY, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "quote_id"], ["quotes.tenant_id", "quotes.id"],
                                name=op.f("fk_quote_lines_tenant_id_quote_id_quotes"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["bpu_version_id"], ["bpu_versions.id"],
                                name=op.f("fk_quote_lines_bpu_version_id_bpu_versions")),
        sa.UniqueConstraint("tenant_id", "quote_id", "position", name=op.f("uq_quote_lines_tenant_id_quote_id_position")),
    )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
