"""incidents: preventive maintenance of the charge points — the monthly remote checks and their runs, the yearly
on-site visits (CCTP CPAM 5-4-2-1 and 5-4-2-2; issue 13 §3)

``incident_maintenance_runs`` records that a tenant's month was generated (unique per tenant and month: the
scheduled job does it once); ``incident_maintenance_reports`` holds one report per tenant, charge point and
month (unique: a rerun updates it, never adds one); ``incident_maintenance_visits`` the visits with their
checklist. Every table tenant-owned, with row-level security.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("incident_maintenance_runs", "incident_maintenance_reports",
                                  "incident_maintenance_visits")

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def _site_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"],
                                   name=op.f(f"fk_{table}_tenant_id_site_id_sites"))


def upgrade() -> None:
    op.create_table(
        "incident_maintenance_runs",
        *tenant_keys("incident_maintenance_runs"),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("generated_at", UTC, nullable=False),
        sa.Column("generated_by", sa.String(length=200), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("defects", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.UniqueConstraint("tenant_id", "month", name=op.f("uq_incident_maintenance_runs_tenant_id_month")),
    )
    op.create_table(
        "incident_maintenance_reports",
        *tenant_keys("incident_maintenance_reports"),
        sa.Column("charge_point_id", sa.Uuid(), nullable=False),
        sa.Column("point_label", sa.String(length=18), nullable=False),
        sa.Column("charge_box_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("period_start", UTC, nullable=False),
        sa.Column("period_end", UTC, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("checks", app.db.JSONType, nullable=False),
        sa.Column("facts", app.db.JSONType, nullable=False),
        sa.Column("tickets", app.db.JSONType, nullable=False),
        sa.Column("generated_at", UTC, nullable=False),
        sa.Column("generated_by", sa.String(length=200), nullable=False),
        _site_fk("incident_maintenance_reports"),
        sa.UniqueConstraint("tenant_id", "charge_point_id", "month",
                            name=op.f("uq_incident_maintenance_reports_tenant_id_charge_point_id_month")),
    )
    with op.batch_alter_table("incident_maintenance_reports", schema=None) as batch_op:
        batch_op.create_index("ix_incident_maintenance_reports_month", ["tenant_id", "month", "status"], unique=False)
    op.create_table(
        "incident_maintenance_visits",
        *tenant_keys("incident_maintenance_visits"),
        sa.Column("charge_point_id", sa.Uuid(), nullable=False),
        sa.Column("point_label", sa.String(length=18), nullable=False),
        sa.Column("charge_box_id", sa.String(length=48), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("technician", sa.String(length=200), nullable=False),
        sa.Column("items", app.db.JSONType, nullable=False),
        sa.Column("comments", app.db.JSONType, nullable=False),
        sa.Column("earth_resistance_ohm", sa.Numeric(precision=8, scale=2), nullable=True),
        sa.Column("remarks", sa.Text(), nullable=False),
        sa.Column("ticket_number", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("record_due_at", UTC, nullable=False),
        sa.Column("record_late", sa.Boolean(), nullable=False),
        _site_fk("incident_maintenance_visits"),
    )
    with op.batch_alter_table("incident_maintenance_visits", schema=None) as batch_op:
        batch_op.create_index("ix_incident_maintenance_visits_point", ["tenant_id", "charge_point_id", "visited_on"],
                              unique=False)
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
