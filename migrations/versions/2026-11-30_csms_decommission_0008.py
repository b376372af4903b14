"""csms: decommissioned chargers

A charger retired for good (CCTP CPAM article 1: « le retrait le cas échéant ») keeps
its row and its history; ``decommissioned_at`` says when, ``decommission_reason`` why.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chargers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decommissioned_at", app.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decommission_reason", sa.String(length=200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("chargers", schema=None) as batch_op:
        batch_op.drop_column("decommission_reason")
        batch_op.drop_column("decommissioned_at")
