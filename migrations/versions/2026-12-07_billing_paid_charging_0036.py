"""billing: paid charging (tariffs by badge population, agents' accounts, their entries, top-ups, repayments to
the buyer; CCTP CPAM 5-5-5-2, 5-5-6-1) and the ADVENIR subsidy deducted from an invoice (5-7) (issue 15 §5)

Every new table is tenant-owned, with row-level security and composite foreign keys inside the tenant; the
supervision's transactions and catalog's orders are named by id with no foreign key across components.
``invoice_allowances.penalty_id`` becomes nullable: an allowance is a penalty or an ADVENIR subsidy.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("charging_settings", "charging_tariffs", "charging_accounts", "charging_entries",
                                  "charging_payments", "charging_repayments", "advenir_subsidies")

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)
MONEY = sa.Numeric(precision=14, scale=2)
RATE = sa.Numeric(precision=10, scale=4)


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id", "account_id"], ["charging_accounts.tenant_id", "charging_accounts.id"],
                                   name=op.f(f"fk_{table}_tenant_id_account_id_charging_accounts"))


def upgrade() -> None:
    op.create_table(
        "charging_settings",
        *tenant_keys("charging_settings"),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_charging_settings_tenant_id")),
    )
    op.create_table(
        "charging_tariffs",
        *tenant_keys("charging_tariffs"),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("population", sa.String(length=10), nullable=False),
        sa.Column("per_kwh", RATE, nullable=False),
        sa.Column("per_minute", RATE, nullable=False),
        sa.Column("per_session", RATE, nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
    )
    op.create_index("ix_charging_tariffs_population", "charging_tariffs", ["tenant_id", "population", "valid_from"])
    op.create_table(
        "charging_accounts",
        *tenant_keys("charging_accounts"),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("holder_label", sa.String(length=200), nullable=False),
        sa.Column("balance", MONEY, nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.UniqueConstraint("tenant_id", "user_id", name=op.f("uq_charging_accounts_tenant_id_user_id")),
    )
    op.create_table(
        "charging_entries",
        *tenant_keys("charging_entries"),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("booked_at", UTC, nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("stopped_at", UTC, nullable=True),
        sa.Column("station_name", sa.String(length=200), nullable=False),
        sa.Column("station_address", sa.String(length=300), nullable=False),
        sa.Column("point_id", sa.String(length=40), nullable=False),
        sa.Column("id_tag", sa.String(length=36), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("energy_wh", sa.Integer(), nullable=True),
        sa.Column("tariff_id", sa.Uuid(), nullable=True),
        sa.Column("computation", sa.String(length=500), nullable=False),
        _account_fk("charging_entries"),
        sa.UniqueConstraint("tenant_id", "transaction_id", name=op.f("uq_charging_entries_tenant_id_transaction_id")),
    )
    op.create_index("ix_charging_entries_account", "charging_entries", ["tenant_id", "account_id", "booked_at"])
    op.create_index("ix_charging_entries_booked", "charging_entries", ["tenant_id", "kind", "booked_at"])
    op.create_table(
        "charging_payments",
        *tenant_keys("charging_payments"),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("provider_reference", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("completed_at", UTC, nullable=True),
        _account_fk("charging_payments"),
    )
    op.create_table(
        "charging_repayments",
        *tenant_keys("charging_repayments"),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("collected", MONEY, nullable=False),
        sa.Column("repaid", MONEY, nullable=False),
        sa.Column("repaid_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.UniqueConstraint("tenant_id", "period_start", name=op.f("uq_charging_repayments_tenant_id_period_start")),
    )
    op.create_table(
        "advenir_subsidies",
        *tenant_keys("advenir_subsidies"),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("order_number", sa.String(length=20), nullable=False),
        sa.Column("programme_reference", sa.String(length=120), nullable=False),
        sa.Column("attestation_number", sa.String(length=60), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("amount_per_point", MONEY, nullable=False),
        sa.Column("cap", MONEY, nullable=False),
        sa.Column("amount_ht", MONEY, nullable=False),
        sa.Column("computation", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("deducted_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"],
                                name=op.f("fk_advenir_subsidies_tenant_id_invoice_id_invoices")),
    )
    op.create_index("ix_advenir_subsidies_order", "advenir_subsidies", ["tenant_id", "order_id"])
    with op.batch_alter_table("invoice_allowances", schema=None) as batch_op:
        batch_op.alter_column("penalty_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.add_column(sa.Column("advenir_subsidy_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key("fk_invoice_allowances_advenir_subsidy", "advenir_subsidies",
                                    ["tenant_id", "advenir_subsidy_id"], ["tenant_id", "id"])
        batch_op.create_unique_constraint(op.f("uq_invoice_allowances_tenant_id_advenir_subsidy_id"),
                                          ["tenant_id", "advenir_subsidy_id"])
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    with op.batch_alter_table("invoice_allowances", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_invoice_allowances_tenant_id_advenir_subsidy_id"), type_="unique")
        batch_op.drop_constraint("fk_invoice_allowances_advenir_subsidy", type_="foreignkey")
        batch_op.drop_column("advenir_subsidy_id")
        batch_op.alter_column("penalty_id", existing_type=sa.Uuid(), nullable=False)
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
