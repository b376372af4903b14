"""assets: the TGD alert terminals — lines, device exchanges, successive assignments, beneficiary files and
their test calls (CCP TGD annexes 1 and 2; issue 13 §4)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

TENANT_TABLES_AT_THIS_REVISION = ("tgd_lines", "tgd_exchanges", "tgd_assignments", "tgd_files", "tgd_test_calls")

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id", column], [f"{target}.tenant_id", f"{target}.id"],
                                   name=op.f(f"fk_{table}_tenant_id_{column}_{target}"), ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "tgd_lines",
        *tenant_keys("tgd_lines"),
        sa.Column("phone_number", sa.String(length=20), nullable=False),
        sa.Column("insee_code", sa.String(length=5), nullable=False),
        sa.Column("order_number", sa.Integer(), nullable=False),
        sa.Column("assignment_index", sa.Integer(), nullable=False),
        sa.Column("device_serial", sa.String(length=100), nullable=False),
        sa.Column("fault_reported_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.UniqueConstraint("tenant_id", "phone_number", name=op.f("uq_tgd_lines_tenant_id_phone_number")),
        sa.UniqueConstraint("tenant_id", "insee_code", "order_number",
                            name=op.f("uq_tgd_lines_tenant_id_insee_code_order_number")),
    )
    op.create_table(
        "tgd_exchanges",
        *tenant_keys("tgd_exchanges"),
        sa.Column("line_id", sa.Uuid(), nullable=False),
        sa.Column("old_serial", sa.String(length=100), nullable=False),
        sa.Column("new_serial", sa.String(length=100), nullable=False),
        sa.Column("fault_reported_at", UTC, nullable=False),
        sa.Column("exchanged_at", UTC, nullable=False),
        sa.Column("due_at", UTC, nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        _fk("tgd_exchanges", "line_id", "tgd_lines"),
    )
    op.create_index("ix_tgd_exchanges_line", "tgd_exchanges", ["tenant_id", "line_id"], unique=False)
    op.create_table(
        "tgd_assignments",
        *tenant_keys("tgd_assignments"),
        sa.Column("line_id", sa.Uuid(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("assigned_at", UTC, nullable=False),
        sa.Column("closed_at", UTC, nullable=True),
        sa.Column("reassignable_at", UTC, nullable=True),
        sa.Column("file_destroyed_at", UTC, nullable=True),
        _fk("tgd_assignments", "line_id", "tgd_lines"),
        sa.UniqueConstraint("tenant_id", "line_id", "index", name=op.f("uq_tgd_assignments_tenant_id_line_id_index")),
    )
    op.create_table(
        "tgd_files",
        *tenant_keys("tgd_files"),
        sa.Column("assignment_id", sa.Uuid(), nullable=False),
        sa.Column("referred_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_late", sa.Boolean(), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("phones", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("workplace", sa.String(length=300), nullable=False),
        sa.Column("prosecutor", sa.String(length=300), nullable=False),
        sa.Column("victim_support", sa.String(length=300), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("terminated_on", sa.Date(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=200), nullable=False),
        sa.Column("closed_at", UTC, nullable=True),
        sa.Column("destroy_due_at", UTC, nullable=True),
        _fk("tgd_files", "assignment_id", "tgd_assignments"),
        sa.UniqueConstraint("tenant_id", "assignment_id", name=op.f("uq_tgd_files_tenant_id_assignment_id")),
    )
    op.create_index("ix_tgd_files_destroy_due", "tgd_files", ["tenant_id", "destroy_due_at"], unique=False)
    op.create_table(
        "tgd_test_calls",
        *tenant_keys("tgd_test_calls"),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("called_at", UTC, nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        _fk("tgd_test_calls", "file_id", "tgd_files", ondelete="CASCADE"),
    )
    op.create_index("ix_tgd_test_calls_file", "tgd_test_calls", ["tenant_id", "file_id", "called_at"], unique=False)
    for table in TENANT_TABLES_AT_THIS_REVISION:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TENANT_TABLES_AT_THIS_REVISION):
        disable_tenant_rls(table)
        op.drop_table(table)
