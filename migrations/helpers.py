"""Helpers shared by migrations: row-level security and grants for the app role.

A migration that creates a tenant-owned table calls ``enable_tenant_rls(name)``.
The policy reads the scope that ``app.db`` publishes per transaction with
``set_config('app.tenant_ids', ..., true)``: a comma-separated list of tenant ids
(one for a beneficiary, several for a coordinator, none outside a tenant).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

#: The tenant scope of a row. The array is parsed ONCE per statement: the scalar sub-select
#: becomes an InitPlan (``tenant_id = ANY ($0)``). Written without it, PostgreSQL re-parses the
#: comma-separated list for every row it filters — 6 s for 100,000 rows under a coordinator's or
#: operator's 200 tenants, 70 ms with it (migration 0016).
SCOPE = (
    "tenant_id = ANY ((SELECT string_to_array(nullif(current_setting('app.tenant_ids', true), ''), ',')::uuid[])"
    "::uuid[])"
)
#: The expression before migration 0016 (kept for its downgrade).
SCOPE_PER_ROW = (
    "tenant_id = ANY (string_to_array(nullif(current_setting('app.tenant_ids', true), ''), ',')::uuid[])"
)
#: The extra reading condition of the tables a user reads before choosing a tenant (memberships…).
OWN_ROWS = "user_id::text = nullif(current_setting('app.user_id', true), '')"


def is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def app_role() -> str:
    return context.config.attributes.get("app_role", "centrale_app")


def enable_tenant_rls(table: str, extra_using: str = "") -> None:
    if not is_postgres():
        return
    using = SCOPE if not extra_using else f"({SCOPE}) OR ({extra_using})"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({SCOPE})")


def disable_tenant_rls(table: str) -> None:
    if not is_postgres():
        return
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def grant_app_role(append_only: tuple[str, ...] = ()) -> None:
    """The application role reads and writes every table but owns none; logs are append-only."""
    if not is_postgres():
        return
    role = app_role()
    op.execute(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
        f"THEN CREATE ROLE {role} LOGIN; END IF; END $$"
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    for table in append_only:
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {role}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {role}")
    op.execute(f"GRANT SELECT ON alembic_version TO {role}")


def tenant_keys(table: str) -> list[sa.SchemaItem]:
    """The key of a tenant-owned table: ``(tenant_id, id)``, ``tenant_id`` referencing ``tenants``."""
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{table}")),
    ]
