"""catalog: the badges due at the commissioning of a quote's works (issue 14 §4, CCTP CPAM 5-5-5-3 « 5 badges sont
fournis à la mise en service de chaque point de charge »)

``commissioning_badges`` is tenant-owned, with row-level security; its quote and its order are composite foreign
keys to rows of the same tenant. The infogérance ticket balance (CAIH 2.1.7) needs no table: it is read from the
order lines.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("commissioning_badges",)

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "commissioning_badges",
        *tenant_keys("commissioning_badges"),
        sa.Column("quote_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("charge_points", sa.Integer(), nullable=False),
        sa.Column("points_source", sa.String(length=10), nullable=False),
        sa.Column("badge_count", sa.Integer(), nullable=False),
        sa.Column("attachment", sa.String(length=10), nullable=False),
        sa.Column("vehicle_label", sa.String(length=60), nullable=False),
        sa.Column("id_tags", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "quote_id"], ["quotes.tenant_id", "quotes.id"],
                                name=op.f("fk_commissioning_badges_tenant_id_quote_id_quotes"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id", "order_id"], ["purchase_orders.tenant_id", "purchase_orders.id"],
                                name=op.f("fk_commissioning_badges_tenant_id_order_id_purchase_orders")),
        sa.UniqueConstraint("tenant_id", "quote_id", name=op.f("uq_commissioning_badges_tenant_id_quote_id")),
    )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
