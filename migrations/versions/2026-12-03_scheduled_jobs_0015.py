"""scheduled_jobs: when each component's periodic job is next due (app.schedule)

One row per schedule of the manifests (``Component.schedules``), platform-level (no
row-level security): every process's scheduler claims a due schedule with one
conditional ``UPDATE``, so a schedule fires once per period across processes and
restarts.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import grant_app_role

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("next_run_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduled_jobs")),
    )
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    op.drop_table("scheduled_jobs")
