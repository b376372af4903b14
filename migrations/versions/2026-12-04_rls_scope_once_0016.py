"""rls scope parsed once per statement: every tenant_isolation policy rewritten

The policies compared ``tenant_id`` with ``string_to_array(current_setting(...))::uuid[]``,
which PostgreSQL evaluates for every row it filters: under an operator's or a coordinator's
200 tenants, 100,000 rows cost 6 s of parsing. The scalar sub-select of
``migrations.helpers.SCOPE`` is an InitPlan, evaluated once (70 ms). Same rows, same checks.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.helpers import OWN_ROWS, SCOPE, SCOPE_PER_ROW, is_postgres

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _rewrite(scope: str) -> None:
    if not is_postgres():
        return
    rows = op.get_bind().execute(sa.text(
        "SELECT tablename, qual FROM pg_policies WHERE schemaname = current_schema() "
        "AND policyname = 'tenant_isolation' ORDER BY tablename")).all()
    for table, qual in rows:
        using = f"({scope}) OR ({OWN_ROWS})" if "app.user_id" in (qual or "") else scope
        op.execute(f'ALTER POLICY tenant_isolation ON "{table}" USING ({using}) WITH CHECK ({scope})')


def upgrade() -> None:
    _rewrite(SCOPE)


def downgrade() -> None:
    _rewrite(SCOPE_PER_ROW)
