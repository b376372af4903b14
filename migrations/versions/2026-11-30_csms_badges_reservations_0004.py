"""csms: badges, local authorization lists, reservations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role

TENANT_TABLES_AT_THIS_REVISION = (
    "local_auth_lists", "local_auth_list_removals", "local_auth_list_syncs", "reservation_policies", "reservations",
)

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("badges", schema=None) as batch_op:
        # Existing badges: not attached yet, changed at list version 0.
        batch_op.add_column(sa.Column("kind", sa.String(length=10), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("vehicle_label", sa.String(length=60), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("list_version", sa.Integer(), nullable=False, server_default="0"))

    op.create_table(
        "local_auth_lists",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_local_auth_lists_tenant_id_tenants"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_local_auth_lists")),
        sa.UniqueConstraint("tenant_id", name="uq_local_auth_lists_tenant"),
    )
    op.create_table(
        "local_auth_list_removals",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("id_tag", sa.String(length=36), nullable=False),
        sa.Column("list_version", sa.Integer(), nullable=False),
        sa.Column("removed_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_local_auth_list_removals_tenant_id_tenants"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_local_auth_list_removals")),
    )
    with op.batch_alter_table("local_auth_list_removals", schema=None) as batch_op:
        batch_op.create_index("ix_local_auth_list_removals_version", ["tenant_id", "list_version"], unique=False)

    op.create_table(
        "local_auth_list_syncs",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("charger_id", sa.Uuid(), nullable=False),
        sa.Column("confirmed_version", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reported_version", sa.Integer(), nullable=True),
        sa.Column("last_attempt_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_update_type", sa.String(length=12), nullable=False),
        sa.Column("last_status", sa.String(length=20), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "charger_id"], ["chargers.tenant_id", "chargers.id"],
                                name=op.f("fk_local_auth_list_syncs_tenant_id_charger_id_chargers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_local_auth_list_syncs_tenant_id_tenants"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_local_auth_list_syncs")),
        sa.UniqueConstraint("tenant_id", "charger_id", name="uq_local_auth_list_syncs_charger"),
    )
    op.create_table(
        "reservation_policies",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("populations", sa.String(length=40), nullable=False),
        sa.Column("weekdays", sa.String(length=7), nullable=False),
        sa.Column("opens_minute", sa.Integer(), nullable=False),
        sa.Column("closes_minute", sa.Integer(), nullable=False),
        sa.Column("max_duration_minutes", sa.Integer(), nullable=False),
        sa.Column("max_advance_days", sa.Integer(), nullable=False),
        sa.Column("last_reservation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_reservation_policies_tenant_id_tenants"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_reservation_policies")),
        sa.UniqueConstraint("tenant_id", name="uq_reservation_policies_tenant"),
    )
    op.create_table(
        "reservations",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("charger_id", sa.Uuid(), nullable=False),
        sa.Column("charge_point_id", sa.Uuid(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("badge_id", sa.Uuid(), nullable=False),
        sa.Column("id_tag", sa.String(length=36), nullable=False),
        sa.Column("population", sa.String(length=10), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("ocpp_reservation_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("station_status", sa.String(length=20), nullable=False),
        sa.Column("cancel_reason", sa.String(length=300), nullable=False),
        sa.Column("cancelled_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("transaction_id", sa.Uuid(), nullable=True),
        sa.Column("consumed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_reservations_created_by_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id", "badge_id"], ["badges.tenant_id", "badges.id"],
                                name=op.f("fk_reservations_tenant_id_badge_id_badges")),
        sa.ForeignKeyConstraint(["tenant_id", "charge_point_id"], ["charge_points.tenant_id", "charge_points.id"],
                                name="fk_reservations_charge_point"),
        sa.ForeignKeyConstraint(["tenant_id", "charger_id"], ["chargers.tenant_id", "chargers.id"],
                                name=op.f("fk_reservations_tenant_id_charger_id_chargers")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_reservations_tenant_id_tenants"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_reservations")),
        sa.UniqueConstraint("tenant_id", "ocpp_reservation_id", name="uq_reservations_ocpp_id"),
    )
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index("ix_reservations_point_window", ["tenant_id", "charge_point_id", "starts_at"], unique=False)

    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role()


def downgrade() -> None:
    for table in TENANT_TABLES_AT_THIS_REVISION:
        disable_tenant_rls(table)
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_reservations_point_window")
    op.drop_table("reservations")
    op.drop_table("reservation_policies")
    op.drop_table("local_auth_list_syncs")
    with op.batch_alter_table("local_auth_list_removals", schema=None) as batch_op:
        batch_op.drop_index("ix_local_auth_list_removals_version")
    op.drop_table("local_auth_list_removals")
    op.drop_table("local_auth_lists")
    with op.batch_alter_table("badges", schema=None) as batch_op:
        batch_op.drop_column("list_version")
        batch_op.drop_column("vehicle_label")
        batch_op.drop_column("kind")
