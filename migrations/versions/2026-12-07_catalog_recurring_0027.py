"""catalog: CAIH recurring maintenance contracts, their declared park, changes and orders (issue 14 §3; CCTP CAIH
2.1.32)

``maintenance_contracts``, ``maintenance_declarations``, ``maintenance_changes`` and ``maintenance_contract_orders``
are tenant-owned, with row-level security; a contract's first order and a contract's orders are composite foreign
keys to orders of the same tenant, the other rows composite foreign keys to their contract. The unique key
``(tenant_id, contract_id, kind, anniversary)`` keeps one renewal order per anniversary.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("maintenance_contracts", "maintenance_declarations", "maintenance_changes",
                                  "maintenance_contract_orders")

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)
MONEY = sa.Numeric(precision=14, scale=2)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _contract_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id", "contract_id"],
                                   ["maintenance_contracts.tenant_id", "maintenance_contracts.id"],
                                   name=op.f(f"fk_{table}_contract"), ondelete="CASCADE")


def _order_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id", column], ["purchase_orders.tenant_id", "purchase_orders.id"],
                                   name=op.f(f"fk_{table}_{column.removesuffix('_id')}"))


def upgrade() -> None:
    op.create_table(
        "maintenance_contracts",
        *tenant_keys("maintenance_contracts"),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("agreement_reference", sa.String(length=64), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("first_order_id", sa.Uuid(), nullable=False),
        sa.Column("annual_amount_ht", MONEY, nullable=False),
        sa.Column("park", JSON, nullable=False),
        sa.Column("delivery_place", sa.Text(), nullable=False),
        sa.Column("representative", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_maintenance_contracts_agreement_id_framework_agreements")),
        _order_fk("maintenance_contracts", "first_order_id"),
        sa.UniqueConstraint("tenant_id", "first_order_id",
                            name=op.f("uq_maintenance_contracts_tenant_id_first_order_id")),
    )
    with op.batch_alter_table("maintenance_contracts", schema=None) as batch_op:
        batch_op.create_index("ix_maintenance_contracts_created", ["tenant_id", "created_at"], unique=False)
    op.create_table(
        "maintenance_declarations",
        *tenant_keys("maintenance_declarations"),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("declared_at", UTC, nullable=False),
        sa.Column("declared_on", sa.Date(), nullable=False),
        sa.Column("declared_by", sa.String(length=320), nullable=False),
        sa.Column("anniversary", sa.Date(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("lines", JSON, nullable=False),
        sa.Column("amount_ht", MONEY, nullable=False),
        _contract_fk("maintenance_declarations"),
    )
    with op.batch_alter_table("maintenance_declarations", schema=None) as batch_op:
        batch_op.create_index("ix_maintenance_declarations_contract",
                              ["tenant_id", "contract_id", "anniversary", "declared_at"], unique=False)
    op.create_table(
        "maintenance_changes",
        *tenant_keys("maintenance_changes"),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("declared_at", UTC, nullable=False),
        sa.Column("declared_on", sa.Date(), nullable=False),
        sa.Column("declared_by", sa.String(length=320), nullable=False),
        sa.Column("lines", JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("annual_amount_ht", MONEY, nullable=False),
        sa.Column("change_amount_ht", MONEY, nullable=False),
        sa.Column("percent", sa.Numeric(precision=9, scale=2), nullable=False),
        sa.Column("outcome", sa.String(length=14), nullable=False),
        sa.Column("complementary_order_id", sa.Uuid(), nullable=True),
        sa.Column("renewal_order_id", sa.Uuid(), nullable=True),
        _contract_fk("maintenance_changes"),
    )
    with op.batch_alter_table("maintenance_changes", schema=None) as batch_op:
        batch_op.create_index("ix_maintenance_changes_contract", ["tenant_id", "contract_id", "declared_at"],
                              unique=False)
    op.create_table(
        "maintenance_contract_orders",
        *tenant_keys("maintenance_contract_orders"),
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=14), nullable=False),
        sa.Column("anniversary", sa.Date(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        _contract_fk("maintenance_contract_orders"),
        _order_fk("maintenance_contract_orders", "order_id"),
        sa.UniqueConstraint("tenant_id", "order_id", name=op.f("uq_maintenance_contract_orders_tenant_id_order_id")),
        sa.UniqueConstraint("tenant_id", "contract_id", "kind", "anniversary",
                            name=op.f("uq_maintenance_contract_orders_renewal")),
    )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
