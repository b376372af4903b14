"""csms: site power budgets, charging profiles sent by load management

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role

# CCTP CPAM article 4: « gestion dynamique de l'appel de courant afin de s'adapter en
# temps réel à la puissance résiduelle disponible sur le site ».
TENANT_TABLES_AT_THIS_REVISION = ("site_power_budgets", "sent_charging_profiles")

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_power_budgets",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("budget_kw", sa.Numeric(precision=8, scale=1, asdecimal=False), nullable=False),
        sa.Column("min_current_a", sa.Numeric(precision=4, scale=1, asdecimal=False), nullable=False),
        sa.Column("phases", sa.Integer(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"],
                                name=op.f("fk_site_power_budgets_tenant_id_site_id_sites")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_site_power_budgets_tenant_id_tenants"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_site_power_budgets")),
        sa.UniqueConstraint("tenant_id", "site_id", name=op.f("uq_site_power_budgets_tenant_id_site_id")),
    )
    op.create_table(
        "sent_charging_profiles",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("charger_id", sa.Uuid(), nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("limit_w", sa.Double(), nullable=False),
        sa.Column("limit_a", sa.Double(), nullable=False),
        sa.Column("phases", sa.Integer(), nullable=False),
        sa.Column("budget_kw", sa.Double(), nullable=True),
        sa.Column("sent_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "charger_id"], ["chargers.tenant_id", "chargers.id"],
                                name=op.f("fk_sent_charging_profiles_tenant_id_charger_id_chargers")),
        sa.ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"],
                                name=op.f("fk_sent_charging_profiles_tenant_id_site_id_sites")),
        sa.ForeignKeyConstraint(["tenant_id", "transaction_id"],
                                ["charging_transactions.tenant_id", "charging_transactions.id"],
                                name="fk_sent_charging_profiles_transaction"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sent_charging_profiles_tenant_id_tenants"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_sent_charging_profiles")),
    )
    with op.batch_alter_table("sent_charging_profiles", schema=None) as batch_op:
        batch_op.create_index("ix_sent_charging_profiles_transaction", ["tenant_id", "transaction_id", "sent_at"],
                              unique=False)
        batch_op.create_index("ix_sent_charging_profiles_site", ["tenant_id", "site_id", "sent_at"], unique=False)
    # DESIGN.md tenancy rule 2: row-level security on every tenant-owned table.
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in TENANT_TABLES_AT_THIS_REVISION:
        disable_tenant_rls(table)
    with op.batch_alter_table("sent_charging_profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_sent_charging_profiles_site")
        batch_op.drop_index("ix_sent_charging_profiles_transaction")
    op.drop_table("sent_charging_profiles")
    op.drop_table("site_power_budgets")
