"""tenants: session epoch, managed accounts and membership invitations (issue 10)

- ``users.session_epoch``: bumped by a password change or reset; a session started under
  an older epoch is no longer honoured (OWASP ASVS 4.0 V3.3.3).
- ``users.managed_by_tenant_id``: the tenant whose admin created the account and may edit
  its profile, cleared as soon as the account is a member anywhere else.
- ``membership_invitations``: an existing account joins a tenant only when its owner accepts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role

TENANT_TABLES_AT_THIS_REVISION = ("membership_invitations",)
#: The invitee reads its own invitations before it is a member of the tenant.
OWN_ROWS = "user_id::text = nullif(current_setting('app.user_id', true), '')"

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("managed_by_tenant_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_users_managed_by_tenant_id_tenants"), "tenants", ["managed_by_tenant_id"], ["id"],
            ondelete="SET NULL",
        )
    # Accounts that are members of exactly one tenant and coordinators of nothing stay editable
    # by that tenant's admins, as before; every other account is its owner's alone.
    op.execute(
        "UPDATE users SET managed_by_tenant_id = (SELECT m.tenant_id FROM memberships m WHERE m.user_id = users.id) "
        "WHERE (SELECT count(*) FROM memberships m WHERE m.user_id = users.id) = 1 "
        "AND NOT EXISTS (SELECT 1 FROM central_memberships c WHERE c.user_id = users.id)"
    )
    op.create_table(
        "membership_invitations",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.String(length=20), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_membership_invitations_tenant_id_tenants"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_membership_invitations_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_membership_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_membership_invitations_token_hash")),
    )
    with op.batch_alter_table("membership_invitations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_membership_invitations_user_id"), ["user_id"], unique=False)
        # At most one pending invitation per account and tenant.
        batch_op.create_index(
            "uq_membership_invitations_pending", ["tenant_id", "user_id"], unique=True,
            postgresql_where=sa.text("answered_at IS NULL"), sqlite_where=sa.text("answered_at IS NULL"),
        )
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table, extra_using=OWN_ROWS)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in TENANT_TABLES_AT_THIS_REVISION:
        disable_tenant_rls(table)
    with op.batch_alter_table("membership_invitations", schema=None) as batch_op:
        batch_op.drop_index("uq_membership_invitations_pending")
        batch_op.drop_index(batch_op.f("ix_membership_invitations_user_id"))
    op.drop_table("membership_invitations")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_managed_by_tenant_id_tenants"), type_="foreignkey")
        batch_op.drop_column("managed_by_tenant_id")
        batch_op.drop_column("session_epoch")
