"""reporting: the yearly maintenance report's analysis and recommendations (issue 15 §2; CCTP CPAM 5-4-8)

``maintenance_report_reviews``: per tenant and year (unique), the « rapport d'analyse » and the « préconisations et
améliorations pour l'année à venir » the titulaire's operator writes, who and when. Tenant-owned, with row-level
security.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "maintenance_report_reviews",
        *tenant_keys("maintenance_report_reviews"),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("analysis", sa.Text(), nullable=False),
        sa.Column("recommendations", sa.Text(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.UniqueConstraint("tenant_id", "year", name="uq_maintenance_report_reviews_year"),
    )
    enable_tenant_rls("maintenance_report_reviews")
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    disable_tenant_rls("maintenance_report_reviews")
    op.drop_table("maintenance_report_reviews")
