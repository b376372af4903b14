"""reporting: ``tenant_month_volumes``, a tenant's ordered lines per agreement and month, every family and article
together (issue 15 « Speed »: the per-beneficiary split of the coordinator's dashboard reads one row per tenant and
month instead of one per article).

Tenant-owned, with row-level security. Derived from ``order_volumes``' recomputation (``reporting.dashboard``):
empty after the upgrade, so the nightly job ``reporting.order_volumes`` is made due at once (its schedule's
``next_run_at``), which fills it for every tenant.

Revision ID: 0041
Revises: 0047
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("tenant_month_volumes",)

revision = "0041"
down_revision = "0047"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_month_volumes",
        *tenant_keys("tenant_month_volumes"),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("amount_ht", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_tenant_month_volumes_agreement_id_framework_agreements")),
        sa.UniqueConstraint("tenant_id", "agreement_id", "month", name="uq_tenant_month_volumes_cell"),
    )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))
    # The first fill: the rollup's nightly recomputation, due at once (the scheduler claims it on its next tick).
    op.execute("UPDATE scheduled_jobs SET next_run_at = CURRENT_TIMESTAMP WHERE name = 'reporting.order-volumes'")


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
