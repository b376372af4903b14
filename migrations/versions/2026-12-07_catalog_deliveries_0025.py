"""catalog: delivery slips (« bordereaux de mise à disposition ») and the buyer's decisions on each line (issue 14
§3; CCP TGD VII.1–VII.3)

``deliveries`` and ``delivery_lines`` are tenant-owned, with row-level security; a slip is a composite foreign key to
an order of the same tenant, its lines one to their slip.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("deliveries", "delivery_lines")

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)
QUANTITY = sa.Numeric(precision=12, scale=3)


def _user_fk(column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["users.id"], name=op.f(f"fk_deliveries_{column}_users"),
                                   ondelete="SET NULL")


def upgrade() -> None:
    op.create_table(
        "deliveries",
        *tenant_keys("deliveries"),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("delivered_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("verification_ended_on", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decided_at", UTC, nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id", "order_id"], ["purchase_orders.tenant_id", "purchase_orders.id"],
                                name=op.f("fk_deliveries_tenant_id_order_id_purchase_orders"), ondelete="CASCADE"),
        _user_fk("recorded_by"),
        _user_fk("decided_by"),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_deliveries_tenant_id_number")),
        sa.UniqueConstraint("tenant_id", "order_id", "sequence", name=op.f("uq_deliveries_tenant_id_order_id_sequence")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_undecided", ["tenant_id", "decided_at", "delivered_on"], unique=False)
    op.create_table(
        "delivery_lines",
        *tenant_keys("delivery_lines"),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("article_code", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("quantity", QUANTITY, nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("accepted", QUANTITY, nullable=True),
        sa.Column("rejected", QUANTITY, nullable=True),
        sa.Column("refaction_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("reserves_deadline", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id", "delivery_id"], ["deliveries.tenant_id", "deliveries.id"],
                                name=op.f("fk_delivery_lines_tenant_id_delivery_id_deliveries"), ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "delivery_id", "position",
                            name=op.f("uq_delivery_lines_tenant_id_delivery_id_position")),
    )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
