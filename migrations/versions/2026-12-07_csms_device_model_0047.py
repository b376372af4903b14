"""csms: the OCPP 2.0.1 device model of each station (issue 17 §2)

``device_variables`` (one attribute of one variable: value, mutability, characteristics, the last change, the
last SetVariables and its status), ``device_monitors`` (the variables' monitors, reported or set) and
``device_reports`` (a NotifyReport / NotifyMonitoringReport in parts: the seqNos received, complete or not).
Tenant-owned, with row-level security.

Revision ID: 0047
Revises: 0049
Create Date: 2026-12-07 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

revision = "0047"
down_revision = "0049"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)
TABLES = ("device_variables", "device_monitors", "device_reports")


def _charger(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id", "charger_id"], ["chargers.tenant_id", "chargers.id"],
                                   name=op.f(f"fk_{table}_tenant_id_charger_id_chargers"))


def _place() -> list[sa.Column]:
    return [
        sa.Column("component", sa.String(length=50), nullable=False),
        sa.Column("component_instance", sa.String(length=50), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("variable", sa.String(length=50), nullable=False),
        sa.Column("variable_instance", sa.String(length=50), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "device_variables",
        *tenant_keys("device_variables"),
        sa.Column("charger_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=240), nullable=False),
        *_place(),
        sa.Column("attribute_type", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=2500), nullable=True),
        sa.Column("mutability", sa.String(length=10), nullable=False),
        sa.Column("persistent", sa.Boolean(), nullable=True),
        sa.Column("constant", sa.Boolean(), nullable=True),
        sa.Column("characteristics", app.db.JSONType, nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("changed_at", UTC, nullable=False),
        sa.Column("seen_at", UTC, nullable=False),
        sa.Column("set_value", sa.String(length=2500), nullable=True),
        sa.Column("set_status", sa.String(length=30), nullable=False),
        sa.Column("set_reason", sa.String(length=20), nullable=False),
        sa.Column("set_at", UTC, nullable=True),
        sa.Column("get_status", sa.String(length=30), nullable=False),
        _charger("device_variables"),
        sa.UniqueConstraint("tenant_id", "charger_id", "key", name="uq_device_variables_key"),
    )
    op.create_table(
        "device_monitors",
        *tenant_keys("device_monitors"),
        sa.Column("charger_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=240), nullable=False),
        *_place(),
        sa.Column("monitor_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("value", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=True),
        sa.Column("transaction", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        _charger("device_monitors"),
        sa.UniqueConstraint("tenant_id", "charger_id", "key", name="uq_device_monitors_key"),
    )
    op.create_table(
        "device_reports",
        *tenant_keys("device_reports"),
        sa.Column("charger_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("generated_at", UTC, nullable=True),
        sa.Column("seq_nos", app.db.JSONType, nullable=False),
        sa.Column("last_seq_no", sa.Integer(), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        _charger("device_reports"),
        sa.UniqueConstraint("tenant_id", "charger_id", "kind", "request_id", name="uq_device_reports_request"),
    )
    op.create_index("ix_device_reports_charger", "device_reports", ["tenant_id", "charger_id", "received_at"])
    for table in TABLES:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in TABLES:
        disable_tenant_rls(table)
    op.drop_index("ix_device_reports_charger", table_name="device_reports")
    for table in reversed(TABLES):
        op.drop_table(table)
