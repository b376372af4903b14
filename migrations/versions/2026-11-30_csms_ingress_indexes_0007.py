"""csms: indexes for the ingress's set-based statements

The group commit updates chargers, charge points and open connection rows with one
``UPDATE ... FROM unnest(...)`` per batch (csms.domain.unnest), and finds the transactions of
a batch's meter values with one join. Their indexes all led with
``tenant_id``, which row-level security filters on: PostgreSQL then scanned every
row of the tenants in scope for each statement (~10 ms for 10,000 chargers, whatever
the batch size). These indexes let it probe the rows the batch names.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_chargers_id", "chargers", ["id"])
    op.create_index("ix_charge_points_charger_connector", "charge_points", ["charger_id", "connector_id"])
    op.create_index("ix_charger_connections_open", "charger_connections", ["charger_id"],
                    postgresql_where=sa.text("disconnected_at IS NULL"), sqlite_where=sa.text("disconnected_at IS NULL"))
    op.create_index("ix_charging_transactions_charger", "charging_transactions",
                    ["charger_id", "connector_id", "started_at"])
    op.create_index("ix_charging_transactions_charger_ocpp_id", "charging_transactions",
                    ["charger_id", "ocpp_transaction_id"])


def downgrade() -> None:
    op.drop_index("ix_charging_transactions_charger_ocpp_id", table_name="charging_transactions")
    op.drop_index("ix_charging_transactions_charger", table_name="charging_transactions")
    op.drop_index("ix_charger_connections_open", table_name="charger_connections")
    op.drop_index("ix_charge_points_charger_connector", table_name="charge_points")
    op.drop_index("ix_chargers_id", table_name="chargers")
