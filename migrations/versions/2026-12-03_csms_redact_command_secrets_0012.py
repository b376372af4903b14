"""csms: secrets already in command logs and their audit rows are redacted (issue 10)

Before 0012 a ``ChangeConfiguration`` of ``AuthorizationKey`` (OCPP-J 1.6 §6.2) or a 2.0.1
``SetVariables`` of ``SecurityCtrlr.BasicAuthPassword`` was logged with its value in
clear in ``charger_commands`` (which is not audited: it is its own log). New rows are redacted when
written (``csms.domain.commands.redact_payload``); this rewrites the old ones with the same
function. Not reversible: the downgrade leaves them redacted.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db import JSONType

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_LOGS = sa.table("charger_commands", sa.column("tenant_id", sa.Uuid()), sa.column("id", sa.Uuid()),
                 sa.column("payload", JSONType), sa.column("answer", JSONType))


def upgrade() -> None:
    from csms.domain.commands import redact_payload

    bind = op.get_bind()
    for row in bind.execute(sa.select(_LOGS.c.tenant_id, _LOGS.c.id, _LOGS.c.payload, _LOGS.c.answer)).all():
        payload, answer = redact_payload(row.payload), redact_payload(row.answer)
        if (payload, answer) != (row.payload, row.answer):
            bind.execute(_LOGS.update().where(_LOGS.c.tenant_id == row.tenant_id, _LOGS.c.id == row.id)
                         .values(payload=payload, answer=answer))


def downgrade() -> None:
    pass
