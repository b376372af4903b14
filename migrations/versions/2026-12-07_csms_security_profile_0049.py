"""csms: the OCPP security profile each charger's handshake requires (issue 17 §4)

``chargers.security_profile``: 1 (password), 2 (password over TLS) or 3 (TLS client certificate whose CN is the
charge box's identity), checked by the ingress from its TLS proxy's headers (csms.domain.profiles). Existing
chargers keep profile 1: what they did before. The registry accepts 1, 2 or 3 only (csms.domain.registry).

Revision ID: 0049
Revises: 0045
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0049"
down_revision = "0045"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chargers") as batch:
        batch.add_column(sa.Column("security_profile", sa.SmallInteger(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("chargers") as batch:
        batch.drop_column("security_profile")
