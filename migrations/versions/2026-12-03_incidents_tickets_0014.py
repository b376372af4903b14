"""incidents: tickets, their events, attachments and interventions; SLA policy versions, settings (issue 13)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = (
    "incident_sla_policies",
    "incident_settings",
    "incident_ticket_counters",
    "incident_tickets",
    "incident_ticket_events",
    "incident_attachments",
    "incident_interventions",
)

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def _ticket_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id", "ticket_id"], ["incident_tickets.tenant_id", "incident_tickets.id"],
                                   name=op.f(f"fk_{table}_tenant_id_ticket_id_incident_tickets"), ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "incident_sla_policies",
        *tenant_keys("incident_sla_policies"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=40), nullable=False),
        sa.Column("policy", app.db.JSONType, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.UniqueConstraint("tenant_id", "version", name=op.f("uq_incident_sla_policies_tenant_id_version")),
    )
    op.create_table(
        "incident_settings",
        *tenant_keys("incident_settings"),
        sa.Column("acceptance_delay_hours", sa.Integer(), nullable=False),
        sa.Column("infogerance_units_ordered", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_incident_settings_tenant_id")),
    )
    op.create_table(
        "incident_ticket_counters",
        *tenant_keys("incident_ticket_counters"),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.UniqueConstraint("tenant_id", "year", name=op.f("uq_incident_ticket_counters_tenant_id_year")),
    )
    op.create_table(
        "incident_tickets",
        *tenant_keys("incident_tickets"),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("charge_box_id", sa.String(length=48), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("asset_id", sa.Uuid(), nullable=True),
        sa.Column("level", sa.String(length=30), nullable=False),
        sa.Column("restoration_level", sa.String(length=30), nullable=True),
        sa.Column("incident_type", sa.String(length=30), nullable=True),
        sa.Column("reporter_user_id", sa.Uuid(), nullable=True),
        sa.Column("reporter_name", sa.String(length=200), nullable=False),
        sa.Column("reporter_email", sa.String(length=254), nullable=False),
        sa.Column("origin", sa.String(length=120), nullable=True),
        sa.Column("alert_id", sa.Uuid(), nullable=True),
        sa.Column("fleet_points", sa.Integer(), nullable=False),
        sa.Column("affected_points", sa.Integer(), nullable=False),
        sa.Column("purchase_order_required", sa.Boolean(), nullable=False),
        sa.Column("policy_version_id", sa.Uuid(), nullable=False),
        sa.Column("reported_at", UTC, nullable=False),
        sa.Column("opened_at", UTC, nullable=False),
        sa.Column("acknowledged_at", UTC, nullable=True),
        sa.Column("intervention_due_at", UTC, nullable=True),
        sa.Column("restoration_due_at", UTC, nullable=True),
        sa.Column("next_due_at", UTC, nullable=True),
        sa.Column("intervention_reached_at", UTC, nullable=True),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.Column("closed_at", UTC, nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"],
                                name=op.f("fk_incident_tickets_tenant_id_site_id_sites")),
        sa.ForeignKeyConstraint(["tenant_id", "policy_version_id"],
                                ["incident_sla_policies.tenant_id", "incident_sla_policies.id"],
                                name=op.f("fk_incident_tickets_tenant_id_policy_version_id_incident_sla_policies")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_incident_tickets_tenant_id_number")),
        sa.UniqueConstraint("tenant_id", "origin", name=op.f("uq_incident_tickets_tenant_id_origin")),
    )
    with op.batch_alter_table("incident_tickets", schema=None) as batch_op:
        batch_op.create_index("ix_incident_tickets_due", ["tenant_id", "status", "next_due_at"], unique=False)
        batch_op.create_index("ix_incident_tickets_intervention_due", ["tenant_id", "status", "intervention_due_at"],
                              unique=False)
        batch_op.create_index("ix_incident_tickets_restoration_due", ["tenant_id", "status", "restoration_due_at"],
                              unique=False)
        batch_op.create_index("ix_incident_tickets_opened", ["tenant_id", "opened_at"], unique=False)
    op.create_table(
        "incident_ticket_events",
        *tenant_keys("incident_ticket_events"),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("data", app.db.JSONType, nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        _ticket_fk("incident_ticket_events"),
        sa.UniqueConstraint("tenant_id", "ticket_id", "seq", name=op.f("uq_incident_ticket_events_tenant_id_ticket_id_seq")),
    )
    op.create_table(
        "incident_attachments",
        *tenant_keys("incident_attachments"),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", UTC, nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        _ticket_fk("incident_attachments"),
    )
    with op.batch_alter_table("incident_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_attachments_ticket_id"), ["ticket_id"], unique=False)
    op.create_table(
        "incident_interventions",
        *tenant_keys("incident_interventions"),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("technician", sa.String(length=200), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("ended_at", UTC, nullable=True),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.Column("parts", app.db.JSONType, nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("report_at", UTC, nullable=True),
        sa.Column("report_due_at", UTC, nullable=False),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.Column("record_due_at", UTC, nullable=False),
        sa.Column("record_late", sa.Boolean(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _ticket_fk("incident_interventions"),
    )
    with op.batch_alter_table("incident_interventions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_interventions_ticket_id"), ["ticket_id"], unique=False)
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
