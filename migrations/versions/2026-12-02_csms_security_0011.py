"""csms: ghost transactions and concurrent badge sessions

Issue 10 (security hardening): ``charging_transactions.anomaly`` flags a 2.0.1
transaction first heard of in an event other than Started (``unknown_start``): kept,
shown, given no share of a site's power budget while its EVSE is unknown.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("charging_transactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anomaly", sa.String(length=20), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("charging_transactions", schema=None) as batch_op:
        batch_op.drop_column("anomaly")
