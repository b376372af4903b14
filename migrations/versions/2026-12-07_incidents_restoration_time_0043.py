"""incidents: ``incident_tickets.restoration_seconds``, the restoration clock's business time once restored (CCTP CAIH 6.1
« le temps de rétablissement », the mean time to restore of the indicators and the COPIL pack).

Set by the SLA engine's recomputation of a ticket's clocks (``incidents.tickets._recompute``) at each event; null
while the ticket is not restored. A ticket restored before this revision stays null until its next event and is
left out of the mean (the indicators give how many durations the mean is over); ``centrale sla
backfill-restoration`` computes them from the tickets' events (docs/incidents.md « Command line »).

Revision ID: 0043
Revises: 0041
Create Date: 2026-12-07 17:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0043"
down_revision = "0041"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incident_tickets") as batch:
        batch.add_column(sa.Column("restoration_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident_tickets") as batch:
        batch.drop_column("restoration_seconds")
