"""reporting: ``order_volumes`` and ``central_volumes``, the coordinator's dashboard's rollup of the ordered lines (issue 15 §1; CCTP CAIH
5, CANUT 7), per tenant × agreement × month × family × BPU / catalogue × purchase / rental × article.

``order_volumes`` is tenant-owned, with row-level security; ``central_volumes`` (the same without the tenant) is an
agreement's, like ``semester_reports``. Empty after the upgrade: the nightly job ``reporting.order_volumes`` (due at
once the first time the scheduler sees it) fills it from catalog's orders.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("order_volumes",)

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_volumes",
        *tenant_keys("order_volumes"),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("family", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("purchase_or_rental", sa.String(length=10), nullable=False),
        sa.Column("article_code", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("amount_ht", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_order_volumes_agreement_id_framework_agreements")),
        sa.UniqueConstraint("tenant_id", "agreement_id", "month", "family", "kind", "purchase_or_rental",
                            "article_code", name="uq_order_volumes_cell"),
    )
    op.create_index("ix_order_volumes_agreement_month", "order_volumes", ["agreement_id", "month"])
    op.create_table(
        "central_volumes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("family", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("purchase_or_rental", sa.String(length=10), nullable=False),
        sa.Column("article_code", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("amount_ht", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_central_volumes_agreement_id_framework_agreements")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_central_volumes")),
        sa.UniqueConstraint("agreement_id", "month", "family", "kind", "purchase_or_rental", "article_code",
                            name="uq_central_volumes_cell"),
    )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    op.drop_table("central_volumes")
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_index("ix_order_volumes_agreement_month", table_name=table)
        op.drop_table(table)
