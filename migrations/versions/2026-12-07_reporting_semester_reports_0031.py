"""reporting: the coordinator's semester reports (issue 15 §1; CCTP CAIH 5, CCTP CANUT 7)

``semester_reports``: one generation of a central's report — its central, year and half, one agreement or all
(``agreement_id`` null), status (queued, running, done, failed), progress, the lines written, the parameters used,
who asked and when, when it finished, its error, and its files (name, size, SHA-256 per format). A report belongs to
a central, not to a tenant: no ``tenant_id``, no row-level security (like ``framework_agreements``); the services
keep it behind the central's wall.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import grant_app_role

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "semester_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("central_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("half", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("parameters", app.db.JSONType, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("files", app.db.JSONType, nullable=False),
        sa.ForeignKeyConstraint(["central_id"], ["centrals.id"], name=op.f("fk_semester_reports_central_id_centrals")),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_semester_reports_agreement_id_framework_agreements")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_semester_reports")),
    )
    with op.batch_alter_table("semester_reports", schema=None) as batch_op:
        batch_op.create_index("ix_semester_reports_central", ["central_id", "created_at"], unique=False)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    with op.batch_alter_table("semester_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_semester_reports_central")
    op.drop_table("semester_reports")
