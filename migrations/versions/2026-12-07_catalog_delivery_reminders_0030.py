"""catalog: the overdue decision's reminder and the lifting of reserves on delivery slips (issue 14 §3; CCP TGD VII.3)

``deliveries.decision_reminded_at``: when the decision past its fifteen days was e-mailed to both sides (once, by the
hourly job). ``reserves_declared_*``: the titulaire's declaration that it resolved the reserves of a « réception avec
réserves »; ``reserves_lifted_*``: the buyer's « décision de levée desdites réserves ». Every column is nullable or
has a default: the existing slips keep their meaning (nothing reminded, no reserves lifted).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)
USER_COLUMNS = ("reserves_declared_by", "reserves_lifted_by")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decision_reminded_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("reserves_declared_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("reserves_declared_by", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("reserves_declared_note", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("reserves_lifted_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("reserves_lifted_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("reserves_lifted_by", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("reserves_lifted_note", sa.Text(), server_default="", nullable=False))
        for column in USER_COLUMNS:
            batch_op.create_foreign_key(op.f(f"fk_deliveries_{column}_users"), "users", [column], ["id"],
                                        ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        for column in reversed(USER_COLUMNS):
            batch_op.drop_constraint(op.f(f"fk_deliveries_{column}_users"), type_="foreignkey")
        for column in ("reserves_lifted_note", "reserves_lifted_by", "reserves_lifted_at", "reserves_lifted_on",
                       "reserves_declared_note", "reserves_declared_by", "reserves_declared_at",
                       "decision_reminded_at"):
            batch_op.drop_column(column)
