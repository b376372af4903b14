"""tenants: the « responsable »'s scope, per site or service (CCTP CPAM 5-5-5-3; issue 14 §4)

``memberships.service`` is the member's service (free text, "" when none); ``manager_scopes`` is tenant-owned,
with row-level security: one row per site (a composite foreign key to a site of the same tenant) or per service
a responsable is granted. No row: the responsable decides for the whole tenant, as before.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("manager_scopes",)

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service", sa.String(length=120), server_default="", nullable=False))
    op.create_table(
        "manager_scopes",
        *tenant_keys("manager_scopes"),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("service", sa.String(length=120), server_default="", nullable=False),
        sa.CheckConstraint("(site_id IS NULL) <> (service = '')", name=op.f("ck_manager_scopes_site_or_service")),
        sa.ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"],
                                name=op.f("fk_manager_scopes_tenant_id_site_id_sites")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_manager_scopes_user_id_users"),
                                ondelete="CASCADE"),
    )
    with op.batch_alter_table("manager_scopes", schema=None) as batch_op:
        batch_op.create_index("ix_manager_scopes_user", ["tenant_id", "user_id"], unique=False)
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("service")
