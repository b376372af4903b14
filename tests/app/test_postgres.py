"""The tenancy walls and the schema, checked on a real PostgreSQL (and SQLite where it applies).

DESIGN.md "Tenancy rules": every tenant-owned table has ``tenant_id NOT NULL`` and
composite foreign keys (rule 1); queries are scoped by the ORM session and by
PostgreSQL row-level security with ``FORCE ROW LEVEL SECURITY``, the application
role owning no table (rule 2); a coordinator's scope is an explicit list (rule 3).
STYLE.md "Tests": a model change without its migration fails here.

These tests read the registry (``app.db.TENANT_TABLES``) and the metadata rather
than a fixed list of tables, so a new tenant table is checked the day it is added.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    create_engine,
    delete,
    exists,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import aliased

from app.composition import metadata as all_tables
from app.db import TENANT_TABLES, Database, TenantScopeError
from app.migrate import downgrade, upgrade
from app.settings import Settings
from csms.domain.models import Badge
from tenants.models import Membership, Site, Tenant, User
from tests.conftest import APP_ROLE, PgServer, make_settings

metadata = all_tables()

POSTGRES = pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)

#: Tables with a ``tenant_id`` column that are platform-level on purpose (no RLS), with the reason.
PLATFORM_TABLES_WITH_TENANT_ID = {
    "subscriptions": "a beneficiary's adhesion to an agreement: read to compute a coordinator's scope, "
    "before any tenant scope exists",
    "mail_outbox": "every e-mail the platform sends, including mail to no tenant (password reset); "
    "tenant_id is nullable",
    "oidc_providers": "identity provider configuration read at login, before any tenant is known; "
    "tenant_id is nullable",
    "building_codes": "CCTP CPAM 5-5-1 building codes of each commune, claimed platform-wide so that two "
    "tenants' sites never share one; holds only the key (tenants/models.py BuildingCode)",
    "charge_box_routes": "OCPP handshake routing key charge_box_id -> tenant, read before any tenant is "
    "known; holds no business data",
    "outbox_events": "events committed with the change they report (app.outbox); the relay reads them across "
    "tenants, then delivers each in its event's tenant scope; tenant_id is nullable (platform events)",
    "tenant_destructions": "the destruction of a tenant's data and its signed certificate: kept outside the tenant, "
    "it outlives the tenant it certifies (no foreign key, no RLS; tenants/reversibility/destruction.py)",
}
APPEND_ONLY = ("audit_events", "platform_audit_events")


def _ids(demo: dict[str, Any]) -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.UUID(demo["tenant_ids"]["cpam"]), uuid.UUID(demo["tenant_ids"]["chr"])


async def _sql(
    database: Database, sql: str, params: dict[str, Any] | None = None, *,
    tenants: Iterable[uuid.UUID] | None = None, user_id: uuid.UUID | None = None,
) -> Any:
    """Run one statement in its own transaction, publishing a scope the way app.db does."""
    async with database.engine.begin() as conn:
        if tenants is not None:
            await conn.execute(
                text("SELECT set_config('app.tenant_ids', :v, true)"), {"v": ",".join(str(t) for t in tenants)}
            )
        if user_id is not None:
            await conn.execute(text("SELECT set_config('app.user_id', :v, true)"), {"v": str(user_id)})
        result = await conn.execute(text(sql), params or {})
        return result.all() if result.returns_rows else result.rowcount


async def _counts(database: Database, table: str, **scope: Any) -> dict[uuid.UUID, int]:
    rows = await _sql(database, f"SELECT tenant_id, count(*) FROM {table} GROUP BY tenant_id", **scope)
    return {uuid.UUID(str(tenant)): n for tenant, n in rows}


def _site_values(tenant_id: uuid.UUID, name: str) -> dict[str, Any]:
    return {"t": tenant_id, "id": uuid.uuid4(), "name": name}


INSERT_SITE = (
    "INSERT INTO sites (tenant_id, id, name, address, postal_code, city, insee_code, building_code, notes, created_at) "
    "VALUES (:t, :id, :name, '', '', '', '72181', '0001', '', now())"
)


# --------------------------------------------------------------------------- (a) RLS on raw SQL


@POSTGRES
async def test_rls_shows_nothing_without_scope_and_exactly_the_scope_with_one(db, admin_db, demo):
    a, b = _ids(demo)
    owner = {table: await _counts(admin_db, table) for table in TENANT_TABLES}
    # The rows exist (seen by the owner): the checks below are not vacuous.
    for table in ("sites", "memberships", "audit_events"):
        assert owner[table].get(a) and owner[table].get(b), (table, owner[table])
    for table in sorted(TENANT_TABLES):
        assert await _counts(db, table) == {}, f"{table}: rows visible to {APP_ROLE} without a tenant scope"
        expected_a = {a: owner[table][a]} if owner[table].get(a) else {}
        assert await _counts(db, table, tenants=[a]) == expected_a, table
        # A coordinator's scope is the explicit list of its beneficiaries (rule 3).
        expected_ab = {t: n for t, n in owner[table].items() if t in (a, b)}
        assert await _counts(db, table, tenants=[a, b]) == expected_ab, table


@POSTGRES
async def test_rls_refuses_writes_into_another_tenant(db, admin_db, demo):
    a, b = _ids(demo)
    with pytest.raises(DBAPIError, match="row-level security"):
        await _sql(db, INSERT_SITE, _site_values(b, "Intrus"), tenants=[a])
    with pytest.raises(DBAPIError, match="row-level security"):
        await _sql(db, "UPDATE sites SET tenant_id = :b WHERE tenant_id = :a", {"a": a, "b": b}, tenants=[a])
    # Another tenant's rows are invisible to UPDATE and DELETE: nothing happens.
    assert await _sql(db, "UPDATE sites SET notes = 'x' WHERE tenant_id = :b", {"b": b}, tenants=[a]) == 0
    assert await _sql(db, "DELETE FROM memberships WHERE tenant_id = :b", {"b": b}, tenants=[a]) == 0
    # Without any scope, nothing can be written at all.
    with pytest.raises(DBAPIError, match="row-level security"):
        await _sql(db, INSERT_SITE, _site_values(a, "Sans portée"))
    # Control: the same insert in the tenant's own scope passes.
    assert await _sql(db, INSERT_SITE, _site_values(a, "Parking C"), tenants=[a]) == 1
    names_b = await _sql(admin_db, "SELECT name, notes FROM sites WHERE tenant_id = :b", {"b": b})
    assert names_b and all(notes == "" for _name, notes in names_b)
    assert "Intrus" not in {n for n, _ in await _sql(admin_db, "SELECT name, notes FROM sites")}


@POSTGRES
async def test_a_user_reads_own_memberships_before_choosing_a_tenant(db, admin_db, demo):
    # The one exception in the policies (login): memberships of app.user_id, nothing else.
    [(operator_id,)] = await _sql(admin_db, "SELECT id FROM users WHERE email = 'technicien@titulaire.demo'")
    operator_id = uuid.UUID(str(operator_id))
    rows = await _sql(db, "SELECT user_id, tenant_id FROM memberships", user_id=operator_id)
    assert len(rows) == len(demo["tenant_ids"]) and {uuid.UUID(str(u)) for u, _t in rows} == {operator_id}
    assert await _sql(db, "SELECT id FROM sites", user_id=operator_id) == []
    with pytest.raises(DBAPIError, match="row-level security"):
        await _sql(
            db, "INSERT INTO memberships (tenant_id, id, user_id, role, created_at) VALUES (:t, :id, :u, 'admin', now())",
            {"t": _ids(demo)[1], "id": uuid.uuid4(), "u": operator_id}, user_id=operator_id,
        )


# --------------------------------------------------------------------------- (b) the registry and RLS


def test_every_table_with_tenant_id_is_tenant_owned_or_declared_platform_level():
    with_tenant_id = {name for name, table in metadata.tables.items() if "tenant_id" in table.c}
    undeclared = with_tenant_id - set(TENANT_TABLES) - set(PLATFORM_TABLES_WITH_TENANT_ID)
    assert not undeclared, (
        f"{sorted(undeclared)}: make the model TenantOwned (and enable RLS in its migration), "
        "or add it to PLATFORM_TABLES_WITH_TENANT_ID with the reason"
    )
    assert set(PLATFORM_TABLES_WITH_TENANT_ID) <= set(metadata.tables), "stale platform-level entry"
    assert not set(PLATFORM_TABLES_WITH_TENANT_ID) & set(TENANT_TABLES)
    for name in TENANT_TABLES:
        table = metadata.tables[name]
        assert not table.c.tenant_id.nullable, name
        # Citus distribution column first; what composite foreign keys point at.
        assert [c.name for c in table.primary_key.columns][0] == "tenant_id", name


def test_every_reference_to_a_tenant_row_is_a_composite_foreign_key():
    """Rule 1: a row can never point into another tenant."""
    offenders = []
    for name, table in metadata.tables.items():
        for fk in table.foreign_key_constraints:
            if fk.referred_table.name not in TENANT_TABLES:
                continue
            pairs = {(e.parent.name, e.column.name) for e in fk.elements}
            if ("tenant_id", "tenant_id") not in pairs:
                offenders.append(f"{name}.{[e.parent.name for e in fk.elements]} -> {fk.referred_table.name}")
    assert not offenders, offenders


async def _rls_problems(database: Database, tables: Iterable[str]) -> list[str]:
    problems = []
    for table in sorted(tables):
        [(rls, force)] = await _sql(
            database, "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE oid = to_regclass(:t)", {"t": f"public.{table}"},
        )
        if not rls:
            problems.append(f"{table}: row level security not enabled")
        if not force:
            problems.append(f"{table}: row level security not forced (the owner would bypass it)")
        policies = await _sql(
            database, "SELECT cmd, roles::text, qual, with_check FROM pg_policies "
            "WHERE schemaname = 'public' AND tablename = :t", {"t": table},
        )
        if not any(
            cmd == "ALL" and roles == "{public}" and "app.tenant_ids" in (qual or "") and "app.tenant_ids" in (check or "")
            for cmd, roles, qual, check in policies
        ):
            problems.append(f"{table}: no policy filtering reads and writes on app.tenant_ids")
    return problems


@POSTGRES
async def test_every_tenant_table_has_forced_rls_and_a_tenant_policy(admin_db):
    assert await _rls_problems(admin_db, TENANT_TABLES) == []
    with_rls = {name for (name,) in await _sql(
        admin_db, "SELECT relname FROM pg_class JOIN pg_namespace n ON n.oid = relnamespace "
        "WHERE n.nspname = 'public' AND relkind = 'r' AND relrowsecurity"
    )}
    assert with_rls == set(TENANT_TABLES)
    # The check itself catches a tenant table created without RLS.
    await _sql(admin_db, "CREATE TABLE scratch_tenant_rows (tenant_id uuid NOT NULL)")
    assert len(await _rls_problems(admin_db, ["scratch_tenant_rows"])) == 3


@POSTGRES
async def test_the_tenant_scope_is_parsed_once_per_statement_not_per_row(db):
    """Migration 0016: under an operator's 200 tenants, a policy that re-parsed the scope for each row
    cost seconds per 100,000 rows; its scalar sub-select is an InitPlan, evaluated once."""
    from sqlalchemy import text

    scope = [uuid.uuid4() for _ in range(200)]
    async with db.session(scope) as session:
        plan = "\n".join(r[0] for r in await session.execute(text("EXPLAIN SELECT * FROM sites")))
        memberships = "\n".join(r[0] for r in await session.execute(text("EXPLAIN SELECT * FROM memberships")))
    assert "InitPlan" in plan and "string_to_array" not in plan.split("InitPlan")[1].split("\n", 2)[-1], plan
    assert "InitPlan" in memberships, memberships


# --------------------------------------------------------------------------- (c) the application role


@POSTGRES
async def test_the_application_role_owns_nothing_and_cannot_rewrite_the_audit_log(db, admin_db, demo):
    owned = await _sql(
        admin_db, "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = :r", {"r": APP_ROLE},
    )
    assert owned == []
    [attrs] = await _sql(
        admin_db, "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = :r",
        {"r": APP_ROLE},
    )
    assert not any(attrs), "superuser or BYPASSRLS would switch row-level security off"

    async def may(table: str, privilege: str) -> bool:
        [(granted,)] = await _sql(
            admin_db, "SELECT has_table_privilege(:r, :t, :p)", {"r": APP_ROLE, "t": f"public.{table}", "p": privilege}
        )
        return bool(granted)

    for table in metadata.tables:  # a migration that forgets grant_app_role() fails here
        assert await may(table, "SELECT") and await may(table, "INSERT"), table
    for table in APPEND_ONLY:
        for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
            assert not await may(table, privilege), (table, privilege)
    for privilege in ("INSERT", "UPDATE", "DELETE"):
        assert not await may("alembic_version", privilege)

    a, _b = _ids(demo)
    with pytest.raises(DBAPIError, match="permission denied"):
        await _sql(db, "UPDATE audit_events SET actor_label = 'personne'", tenants=[a])
    with pytest.raises(DBAPIError, match="permission denied"):
        await _sql(db, "DELETE FROM audit_events", tenants=[a])
    with pytest.raises(DBAPIError, match="permission denied"):
        await _sql(db, "DELETE FROM platform_audit_events")
    assert await _counts(admin_db, "audit_events")  # still there


# --------------------------------------------------------------------------- (d) the ORM wall (both backends)


def _statements() -> dict[str, Any]:
    """Ways of reaching tenant rows through the ORM, including from a platform entity."""
    m = aliased(Membership)
    return {
        "entity": select(Site),
        "column": select(Site.name, Site.tenant_id),
        "count from": select(func.count()).select_from(Site),
        "join from a platform table": select(User.email, Membership.tenant_id).join(
            Membership, Membership.user_id == User.id
        ),
        "aliased join": select(User.email, m.tenant_id).join(m, m.user_id == User.id),
        "subquery": select(User.email).where(User.id.in_(select(Membership.user_id))),
        "exists": select(Tenant.id).where(exists().where(Site.tenant_id == Tenant.id)),
    }


@POSTGRES
async def test_raw_sql_sees_the_sessions_scope_after_each_switch_and_after_a_savepoint_rolls_back(db, demo):
    """RLS (raw SQL, no ORM filter) must see exactly the scope the session declares. The scope is sent
    once per change (not once per entry of SQLAlchemy's connection map, nor again when unchanged), and a
    savepoint rolled back restores the value PostgreSQL held before it: the session sends it again."""
    from sqlalchemy import event

    from app.db import scope_session

    a, b = _ids(demo)
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "set_config('app.tenant_ids'" in statement:
            sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    seen = "SELECT DISTINCT tenant_id FROM sites"
    try:
        async with db.session([a]) as session, session.begin():
            assert set(await session.scalars(text(seen))) == {a}
            assert sent == []  # the first scope went with the BEGIN (app.db.ScopedConnection): no statement of its own
            scope_session(session, [b])
            scope_session(session, [b])  # unchanged: nothing more to send
            assert set(await session.scalars(text(seen))) == {b}
            scope_session(session, [a, b])
            assert set(await session.scalars(text(seen))) == {a, b}
            assert len(sent) == 2, sent
            savepoint = await session.begin_nested()
            assert set(await session.scalars(text(seen))) == {a, b}  # SAVEPOINT sent (SQLAlchemy sends it lazily)
            scope_session(session, [a])
            assert set(await session.scalars(text(seen))) == {a}
            await savepoint.rollback()  # PostgreSQL is back to [a, b]; the session declares [a]
            assert set(await session.scalars(text(seen))) == {a}
            scope_session(session, [b])
            assert set(await session.scalars(text(seen))) == {b}
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


@POSTGRES
async def test_a_scope_never_sent_does_not_reach_the_connections_next_user(db, demo):
    """The scope waits for the transaction's BEGIN (app.db.ScopedConnection); a session that began but sent
    no statement gives its connection back to the pool, and a later use of that connection without a session
    (no scope declared) sees no tenant's rows, not the scope the session had declared."""
    from app.db import Database

    a, _b = _ids(demo)
    one = Database(db.url, pool_size=1)  # one connection, hence the same one next
    one.engine.sync_engine.pool._pre_ping = False  # as the ingress's answer pool (its BEGIN would take the scope)  # noqa: SLF001
    try:
        async with one.session([a]) as session, session.begin():
            await session.connection()  # after_begin ran: the scope is published, waiting for BEGIN
        async with one.engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM sites")) == 0
            assert not await conn.scalar(text("SELECT current_setting('app.tenant_ids', true)"))
        async with one.session([a]) as session:  # and a session still gets its own
            assert set(await session.scalars(text("SELECT DISTINCT tenant_id FROM sites"))) == {a}
    finally:
        await one.dispose()


async def test_orm_query_without_scope_raises(db, demo):
    async with db.session() as session:
        for label, statement in _statements().items():
            with pytest.raises(TenantScopeError):
                await session.execute(statement)
                pytest.fail(f"{label}: ran without a tenant scope")
        with pytest.raises(TenantScopeError):
            await session.get(Site, (uuid.uuid4(), uuid.uuid4()))
        with pytest.raises(TenantScopeError):
            await session.execute(update(Site).values(notes="x"))
        with pytest.raises(TenantScopeError):
            await session.execute(delete(Membership))
        # Platform tables need no scope.
        assert await session.scalar(select(func.count()).select_from(Tenant)) == len(demo["tenant_ids"])


async def test_orm_scoped_query_never_returns_another_tenants_rows(db, demo):
    a, b = _ids(demo)
    async with db.session([a, b]) as session:  # a coordinator's view of both
        site_b = await session.scalar(select(Site).where(Site.tenant_id == b))
        members_a = await session.scalar(select(func.count()).select_from(Membership).where(Membership.tenant_id == a))
    assert site_b is not None and members_a
    async with db.session([a]) as session:
        statements = _statements()
        assert {s.tenant_id for s in await session.scalars(statements["entity"])} == {a}
        assert {row.tenant_id for row in await session.execute(statements["column"])} == {a}
        assert await session.scalar(statements["count from"]) == 1
        joined = (await session.execute(statements["join from a platform table"])).all()
        assert len(joined) == members_a and {t for _email, t in joined} == {a}
        assert {t for _email, t in (await session.execute(statements["aliased join"])).all()} == {a}
        assert len((await session.execute(statements["subquery"])).all()) == members_a
        assert set(await session.scalars(statements["exists"])) == {a}
        assert await session.get(Site, (b, site_b.id)) is None
        assert (await session.scalars(select(Site).where(Site.tenant_id == b))).all() == []
        # Bulk statements get the filter too.
        await session.execute(update(Site).values(notes="touché"))
        await session.execute(delete(Site).where(Site.id == site_b.id))
        await session.commit()
    async with db.session([b]) as session:
        assert (await session.get(Site, (b, site_b.id))).notes == ""


async def test_orm_write_outside_the_scope_raises(db, demo):
    a, b = _ids(demo)
    async with db.session([b]) as session:
        site_b = await session.scalar(select(Site).where(Site.tenant_id == b))
    async with db.session([a]) as session:
        session.add(Site(tenant_id=b, name="Intrus", insee_code="57463"))
        with pytest.raises(TenantScopeError):
            await session.flush()
    async with db.session([a]) as session:
        foreign = await session.merge(site_b, load=False)
        foreign.notes = "modifié"
        with pytest.raises(TenantScopeError):
            await session.flush()
    async with db.session([a]) as session:
        await session.delete(await session.merge(site_b, load=False))
        with pytest.raises(TenantScopeError):
            await session.flush()
    async with db.session() as session:
        session.add(Site(tenant_id=a, name="Sans portée", insee_code="72181"))
        with pytest.raises(TenantScopeError):
            await session.flush()
    everyone = [uuid.UUID(t) for t in demo["tenant_ids"].values()]
    async with db.session(everyone) as session:
        site = await session.get(Site, (b, site_b.id))
        assert site.notes == "" and await session.scalar(select(func.count()).select_from(Site)) == len(everyone)


# --------------------------------------------------------------------------- (e) integrity


async def test_a_row_cannot_reference_a_site_of_another_tenant(db, demo):
    """Rule 1: ``site_fk()`` is ``(tenant_id, site_id) -> sites``; badges carry one."""
    a, b = _ids(demo)
    async with db.session([a, b]) as session:
        site_a = await session.scalar(select(Site.id).where(Site.tenant_id == a))
        site_b = await session.scalar(select(Site.id).where(Site.tenant_id == b))
    async with db.transaction([a]) as session:
        session.add(Badge(tenant_id=a, id_tag="AAAA0001", site_id=site_a))  # control
    async with db.session([a]) as session:
        session.add(Badge(tenant_id=a, id_tag="AAAA0002", site_id=site_b))
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_memberships_and_sites_integrity(db, admin_db, demo):
    a, _b = _ids(demo)
    ghost = uuid.uuid4()
    async with db.session([ghost]) as session:
        user_id = (await session.scalar(select(User.id).limit(1)))
        session.add(Membership(tenant_id=ghost, user_id=user_id, role="admin"))
        with pytest.raises(IntegrityError):  # no such tenant
            await session.flush()
    async with db.session([a]) as session:
        name = await session.scalar(select(Site.name))
        session.add(Site(tenant_id=a, name=name, insee_code="72181"))
        with pytest.raises(IntegrityError):  # site names are unique per tenant
            await session.flush()
    async with db.session([a]) as session:
        user_id = await session.scalar(select(Membership.user_id))
        session.add(Membership(tenant_id=a, user_id=user_id, role="viewer"))
        with pytest.raises(IntegrityError):  # one membership per user and tenant
            await session.flush()
    # A tenant with rows cannot be deleted from under them (ON DELETE RESTRICT).
    with pytest.raises(IntegrityError):
        async with admin_db.engine.begin() as conn:
            await conn.execute(delete(Tenant.__table__).where(Tenant.__table__.c.id == a))


# --------------------------------------------------------------------------- (f, g) migrations


def _sync_url(url: str) -> str:
    return url.replace("+asyncpg", "+psycopg").replace("+aiosqlite", "")


def _schema_diff(url: str, target: MetaData = metadata) -> list[Any]:
    engine = create_engine(_sync_url(url))
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), target)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(_sync_url(url))
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _roundtrip(settings: Settings) -> None:
    url = settings.admin_url
    expected = set(metadata.tables) | {"alembic_version"}
    upgrade(settings)
    assert _tables(url) == expected
    downgrade(settings, "base")
    assert _tables(url) == {"alembic_version"}
    upgrade(settings)
    assert _tables(url) == expected
    assert _schema_diff(url) == []


def test_migrations_down_to_base_and_up_again_on_sqlite(tmp_path: Path):
    _roundtrip(make_settings(tmp_path))


@pytest.mark.postgres
def test_migrations_down_to_base_and_up_again_on_postgres(pg_server: PgServer, tmp_path: Path):
    name = f"centrale_t_{uuid.uuid4().hex[:12]}"
    pg_server.psql(f'CREATE DATABASE "{name}"')
    try:
        _roundtrip(make_settings(
            tmp_path, database_url=pg_server.url(name, APP_ROLE), database_admin_url=pg_server.url(name, "postgres")
        ))
    finally:
        pg_server.drop_db(name)


def test_models_and_migrations_agree(settings: Settings):
    """A model change without its migration fails CI (autogenerate finds a difference)."""
    assert _schema_diff(settings.admin_url) == []
    # The comparison does see a difference when there is one.
    changed = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["sites"].append_column(Column("unmigrated", Integer))
    assert [d[0] for d in _schema_diff(settings.admin_url, changed)] == ["add_column"]
