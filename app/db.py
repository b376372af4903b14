"""Database engine, ORM base, tenant scoping and the automatic audit trail.

Two walls keep tenants apart (DESIGN.md, "Tenancy rules"):

1. The ORM session refuses any statement touching a tenant-owned table while no
   tenant scope is set (``TenantScopeError``), and adds ``tenant_id IN (scope)`` to
   every query it runs, relationship loads included.
2. On PostgreSQL, each transaction publishes the scope with
   ``set_config('app.tenant_ids', ..., true)`` (``SET LOCAL``) and row-level
   security policies (``FORCE ROW LEVEL SECURITY``) filter on it; the application
   role does not own the tables.

Every ORM mutation is written to the audit log in the same flush (``before_flush``),
so no route can forget it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import enum
import functools
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, ClassVar

import asyncpg
from sqlalchemy import JSON, DateTime, ForeignKey, MetaData, Table, Uuid, event, inspect, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    configure_mappers,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.sql import visitors
from sqlalchemy.types import TypeDecorator

from app.errors import NotFound

__all__ = [
    "REDACTED",
    "TENANT_TABLES",
    "Base",
    "Database",
    "JSONType",
    "TenantOwned",
    "TenantScopeError",
    "UTCDateTime",
    "actor_of",
    "install_audit_writer",
    "new_id",
    "one_in_tenant",
    "scope_session",
    "tenant_ids_of",
    "tenant_root",
    "unscoped",
    "utcnow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """``timestamptz`` on PostgreSQL; on SQLite, stored as naive UTC and read back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware UTC instants")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime,
        uuid.UUID: Uuid,
        dict[str, Any]: JSONType,
    }
    #: Columns never copied into the audit log (secrets).
    __audit_redact__: ClassVar[frozenset[str]] = frozenset()
    #: False for tables that are themselves logs (the audit log, the mail outbox).
    __audited__: ClassVar[bool] = True


#: Every tenant-owned table, by name. The reversibility export walks it; a test
#: checks that every table carrying ``tenant_id`` is here and protected by RLS.
TENANT_TABLES: dict[str, type[TenantOwned]] = {}


@functools.cache
def tenant_root() -> type[Base]:
    """The model of the tenants themselves (``__tenant_root__ = True``: ``tenants.models.Tenant``), which the kernel
    does not name; found once among the mapped models (once they are all mapped: a failed search is not kept)."""
    return next(m.class_ for m in Base.registry.mappers if getattr(m.class_, "__tenant_root__", False))


class TenantOwned:
    """Mixin for tenant-owned tables: primary key ``(tenant_id, id)``.

    The composite key lets other tenant rows point here with a composite foreign
    key ``(tenant_id, x_id)``, so a row can never reference another tenant's row,
    and it is the distribution column layout Citus needs.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805
        return mapped_column(
            ForeignKey("tenants.id", ondelete="RESTRICT"), primary_key=True, sort_order=-100
        )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id, sort_order=-99)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = cls.__dict__.get("__tablename__")
        if table:
            TENANT_TABLES[table] = cls


class TenantScopeError(RuntimeError):
    """A tenant-owned table was touched without a tenant scope (fail closed)."""


# --------------------------------------------------------------------------- scope


async def one_in_tenant(session: AsyncSession, model: Any, tenant_id: uuid.UUID, row_id: uuid.UUID, what: str, *,
                        for_update: bool = False) -> Any:
    """The row ``row_id`` of a tenant-owned ``model`` in ``tenant_id``; ``NotFound(what)`` otherwise, so that
    another tenant's id reads like an unknown one. ``for_update`` locks it on PostgreSQL (SQLite serialises
    writers anyway) and reads it again: a row loaded earlier in the session (the 404 check before the permission
    check) is refreshed with what the transaction that held the lock committed, so two concurrent steps never
    both pass a check on a stale state."""
    query = select(model).where(model.tenant_id == tenant_id, model.id == row_id)
    if for_update:
        query = query.execution_options(populate_existing=True)
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
    found = await session.scalar(query)
    if found is None:
        raise NotFound(what)
    return found


def tenant_ids_of(session: AsyncSession | Session) -> frozenset[uuid.UUID] | None:
    return session.info.get("tenant_ids")


def actor_of(session: AsyncSession | Session) -> dict[str, Any]:
    return session.info.get("actor") or {"user_id": None, "label": "système"}


def scope_session(
    session: AsyncSession | Session,
    tenant_ids: Iterable[uuid.UUID] | None,
    *,
    actor: dict[str, Any] | None = None,
) -> None:
    """Set which tenants this session may see; republished in the open transaction too."""
    session.info["tenant_ids"] = None if tenant_ids is None else frozenset(tenant_ids)
    if actor is not None:
        session.info["actor"] = actor
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    if not sync.in_transaction():
        return  # published by after_begin
    if isinstance(session, AsyncSession):
        # No IO outside the greenlet: published before the next statement or flush.
        session.info["scope_pending"] = True
        return
    for conn in _open_connections(sync):
        _publish_scope(sync, conn)


def _publish_pending(session: Session) -> None:
    if session.info.pop("scope_pending", False):
        for conn in _open_connections(session):
            _publish_scope(session, conn)


@contextlib.contextmanager
def unscoped(session: AsyncSession | Session) -> Iterator[None]:
    """Escape hatch: ORM queries in this block skip the tenant filter.

    Only for platform code that must read across tenants (login resolving the
    memberships of a user, the CLI, coordinator scope resolution). PostgreSQL RLS
    still applies to the application role.
    """
    previous = session.info.get("unscoped", False)
    session.info["unscoped"] = True
    try:
        yield
    finally:
        session.info["unscoped"] = previous


def _open_connections(sync: Session) -> list[Any]:
    """The connections of the open transaction, each once (SQLAlchemy files each one under its
    engine and under itself: publishing to both entries cost a second round trip per switch)."""
    txn = sync.get_transaction()
    if txn is None:
        return []
    connections: dict[int, Any] = {}
    for entry in txn._connections.values():  # noqa: SLF001
        if entry:
            connection = entry[0] if isinstance(entry, tuple) else entry
            connections.setdefault(id(connection), connection)
    return list(connections.values())


#: ``session.info`` key: {id(connection): (tenant ids, user id)} last sent in the open transaction.
_PUBLISHED = "scope_published"


def _publish_scope(session: Session, connection: Any, *, force: bool = False) -> None:
    if connection.dialect.name != "postgresql":
        return
    ids = session.info.get("tenant_ids") or ()
    actor = session.info.get("actor") or {}
    values = (",".join(str(i) for i in sorted(ids)), str(actor.get("user_id") or ""))
    published = session.info.setdefault(_PUBLISHED, {})
    if not force and published.get(id(connection)) == values:
        return  # the transaction holds this scope already: no round trip
    carrier = _begin_carrier(connection, values)
    if carrier is not None:  # BEGIN not sent yet: the scope goes with it (ScopedConnection)
        carrier.scope_with_begin = values
        published[id(connection)] = values
        return
    connection.exec_driver_sql(
        "SELECT set_config('app.tenant_ids', $1, true), set_config('app.user_id', $2, true)"
        if connection.dialect.driver == "asyncpg"
        else "SELECT set_config('app.tenant_ids', %s, true), set_config('app.user_id', %s, true)",
        values,
    )
    published[id(connection)] = values


#: What a scope may be made of to travel as literals in the BEGIN's query: UUIDs and commas.
_SCOPE_LITERAL = re.compile(r"[0-9a-f,-]*")


class ScopedConnection(asyncpg.Connection):
    """The asyncpg connection of ``Database`` engines: the tenant scope of a transaction goes in the
    same round trip as its ``BEGIN``.

    SQLAlchemy's asyncpg adapter sends ``BEGIN`` lazily, before the transaction's first
    statement; ``after_begin`` fires before that, so the scope used to cost a round trip
    of its own (``BEGIN``, then ``set_config``, then the statement). When ``BEGIN`` is
    still to be sent, ``_publish_scope`` leaves the scope here instead, and the
    ``BEGIN`` (a simple query, no parameters) carries it: ``BEGIN; SELECT
    set_config('app.tenant_ids', '…', true), set_config('app.user_id', '…', true);``,
    the same ``SET LOCAL`` in the same transaction, before any statement. The values
    are UUIDs (checked, ``_SCOPE_LITERAL``), so they can be literals. A scope left
    unsent is dropped when the connection goes back to the pool (``_forget_scope``).
    """

    scope_with_begin: tuple[str, str] | None = None

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109 - asyncpg's signature
        scope = self.scope_with_begin
        if scope is None or args or not query.startswith("BEGIN"):
            return await super().execute(query, *args, timeout=timeout)
        self.scope_with_begin = None
        tenants, user = scope
        try:
            return await super().execute(
                f"{query} SELECT set_config('app.tenant_ids', '{tenants}', true),"
                f" set_config('app.user_id', '{user}', true);", timeout=timeout)
        except Exception:
            # Which of the two failed is unknown: never hand out a connection that may hold an open,
            # unscoped or aborted transaction its owner does not know of.
            self.terminate()
            raise


def _begin_carrier(connection: Any, values: tuple[str, str]) -> ScopedConnection | None:
    """The connection's ``ScopedConnection`` when its transaction's ``BEGIN`` is still to be sent."""
    if not all(_SCOPE_LITERAL.fullmatch(value) for value in values):
        return None
    fairy = connection.connection
    driver = fairy.driver_connection
    if not isinstance(driver, ScopedConnection) or getattr(fairy.dbapi_connection, "autocommit", True):
        return None
    return None if driver.is_in_transaction() else driver


def _forget_scope(dbapi_connection: Any, record: Any) -> None:
    """Pool checkin: a scope published for a transaction that never sent a statement goes no further."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if isinstance(driver, ScopedConnection):
        driver.scope_with_begin = None


@event.listens_for(Session, "after_begin")
def _after_begin(session: Session, transaction: Any, connection: Any) -> None:
    _publish_scope(session, connection, force=True)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: Any) -> None:
    """``set_config(..., true)`` lives in the transaction, and a savepoint rolled back restores the
    value held before it: after a savepoint, what was sent is forgotten and the scope is sent again
    before the next statement (tested in tests/app/test_postgres.py)."""
    session.info.pop(_PUBLISHED, None)
    if transaction.nested and session.in_transaction():
        session.info["scope_pending"] = True


#: Tenant tables a statement touches, by the statement's SQL cache key (``CacheKey.key``).
#: Two statements with the same key compile to the same SQL (it is SQLAlchemy's own
#: compiled-cache key: structure, tables and columns, not the bound values), so they
#: touch the same tables. Bounded: emptied when full.
_TABLES_BY_KEY: dict[Any, frozenset[str]] = {}
#: The tenant filter option, by scope (the exact set of tenant ids): built once per scope.
_CRITERIA_BY_SCOPE: dict[frozenset[uuid.UUID], Any] = {}
_CACHE_SIZE = 4096


def _walk_tenant_tables(statement: Any) -> frozenset[str]:
    """Every tenant table the statement touches, joins and subqueries included: ``all_mappers``
    lists only the top-level entities, so ``select(User).join(Membership)`` or a
    ``select_from(Site)`` count would slip through unfiltered."""
    return frozenset(
        t.name for t in visitors.iterate(statement) if isinstance(t, Table) and t.name in TENANT_TABLES
    )


def _tenant_tables(statement: Any) -> frozenset[str]:
    """``_walk_tenant_tables``, remembered per cache key. The key is memoized on the statement
    object and is the one SQLAlchemy's compiled cache reads next: computing it costs nothing extra."""
    key = statement._generate_cache_key()  # noqa: SLF001
    if key is None:  # an uncacheable construct: walk it every time
        return _walk_tenant_tables(statement)
    tables = _TABLES_BY_KEY.get(key.key)
    if tables is None:
        tables = _walk_tenant_tables(statement)
        if len(_TABLES_BY_KEY) >= _CACHE_SIZE:
            _TABLES_BY_KEY.clear()
        _TABLES_BY_KEY[key.key] = tables
    return tables


def _tenant_criteria(ids: frozenset[uuid.UUID]) -> Any:
    option = _CRITERIA_BY_SCOPE.get(ids)
    if option is None:
        scoped = tuple(ids)
        option = with_loader_criteria(TenantOwned, lambda cls: cls.tenant_id.in_(scoped), include_aliases=True)
        if len(_CRITERIA_BY_SCOPE) >= _CACHE_SIZE:
            _CRITERIA_BY_SCOPE.clear()
        _CRITERIA_BY_SCOPE[ids] = option
    return option


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_statement(state: ORMExecuteState) -> None:
    _publish_pending(state.session)
    if state.is_column_load or state.is_relationship_load:
        return  # inherits the criteria of the statement that loaded the parent
    if state.session.info.get("unscoped"):
        return
    ids = state.session.info.get("tenant_ids")
    if ids is None:
        tables = _tenant_tables(state.statement)
        if tables:
            raise TenantScopeError(f"no tenant scope set for a query on {', '.join(sorted(tables))}")
        return
    # The filtered statement's key is the original's plus the option's: the tables it
    # names are the original's. Keying on it means the one key computed is the one the
    # compiled cache reads (a tenant statement, the common case, costs no second key).
    filtered = state.statement.options(_tenant_criteria(ids))
    if _tenant_tables(filtered):
        state.statement = filtered


# --------------------------------------------------------------------------- audit


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | dt.date | dt.datetime | dt.time | decimal.Decimal):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


#: What the audit log stores instead of a secret column's value (``app.audit`` shows it as « (modifié) »).
REDACTED = "***"


def _row(obj: Any) -> dict[str, Any]:
    redact = type(obj).__audit_redact__
    out = {}
    for attr in inspect(obj).mapper.column_attrs:
        key = attr.key
        out[key] = REDACTED if key in redact else _jsonable(getattr(obj, key))
    return out


def _changes(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    redact = type(obj).__audit_redact__
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    state = inspect(obj)
    for attr in state.mapper.column_attrs:
        hist = state.attrs[attr.key].history
        if not hist.has_changes():
            continue
        old = hist.deleted[0] if hist.deleted else None
        new = hist.added[0] if hist.added else None
        if old == new:
            continue
        before[attr.key] = REDACTED if attr.key in redact else _jsonable(old)
        after[attr.key] = REDACTED if attr.key in redact else _jsonable(new)
    return before, after


@event.listens_for(Base, "init", propagate=True)
def _assign_id(target: Any, args: Any, kwargs: dict[str, Any]) -> None:
    # Ids are known before the flush so that the audit log can name new rows.
    mapper = inspect(type(target))
    if not mapper.configured:
        # This hook runs before SQLAlchemy's own lazy configuration: without it
        # the first model built in a process would have no attribute machinery.
        configure_mappers()
    col = mapper.columns.get("id")
    if kwargs.get("id") is None and col is not None and isinstance(col.type, Uuid):
        target.id = new_id()


#: Turns a flush's changes into audit rows: ``app.audit`` installs its ``make_audit_rows`` here
#: when it is imported (it builds on this module, so this module cannot import it).
AuditWriter = Callable[[list[tuple[str, Any, dict[str, Any] | None, dict[str, Any] | None]], dict[str, Any]], list[Any]]
_audit_writer: list[AuditWriter] = []


def install_audit_writer(writer: AuditWriter) -> None:
    _audit_writer[:] = [writer]


@event.listens_for(Session, "before_flush")
def _guard_and_audit(session: Session, flush_context: Any, instances: Any) -> None:
    _publish_pending(session)
    scope = session.info.get("tenant_ids")
    is_unscoped = session.info.get("unscoped", False)
    changes: list[tuple[str, Any, dict[str, Any] | None, dict[str, Any] | None]] = []
    for action, objs in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in list(objs):
            cls = type(obj)
            if not isinstance(obj, Base):
                continue
            if not cls.__audited__ and action != "create":
                raise TenantScopeError(f"{cls.__tablename__} is append-only")
            if isinstance(obj, TenantOwned) and not is_unscoped:
                if scope is None:
                    raise TenantScopeError(f"no tenant scope set to write {cls.__tablename__}")
                if obj.tenant_id not in scope:
                    raise TenantScopeError(f"{cls.__tablename__} row outside the tenant scope")
            if not cls.__audited__:
                continue
            if action == "create":
                changes.append((action, obj, None, _row(obj)))
            elif action == "update":
                if not session.is_modified(obj, include_collections=False):
                    continue
                before, after = _changes(obj)
                if before or after:
                    changes.append((action, obj, before, after))
            else:
                changes.append((action, obj, _row(obj), None))
    if not changes:
        return
    if not _audit_writer:  # never write an unaudited change
        raise RuntimeError("the audit log is not installed: import app.audit (app.composition does)")
    for row in _audit_writer[0](changes, actor_of(session)):
        session.add(row)


# --------------------------------------------------------------------------- engine


class Database:
    """Engine and session factory for one database URL."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10, reset_on_return: bool = True) -> None:
        """``reset_on_return=False``: the pool does not roll a returned connection back, for an
        engine used only through sessions, which end their transaction themselves (on SQLite
        each rollback is one more trip to aiosqlite's thread)."""
        kwargs: dict[str, Any] = {"echo": echo}
        if not reset_on_return:
            kwargs["pool_reset_on_return"] = None
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)
            if "+asyncpg" in url.split("://", 1)[0]:
                kwargs["connect_args"] = {"connection_class": ScopedConnection}
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        elif "connect_args" in kwargs:
            event.listen(self.engine.sync_engine, "checkin", _forget_scope)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    def session(
        self, tenant_ids: Iterable[uuid.UUID] | None = None, *, actor: dict[str, Any] | None = None
    ) -> AsyncSession:
        session = self.sessionmaker()
        scope_session(session, tenant_ids, actor=actor)
        return session

    @contextlib.asynccontextmanager
    async def transaction(
        self, tenant_ids: Iterable[uuid.UUID] | None = None, *, actor: dict[str, Any] | None = None
    ) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on success and rolled back on error."""
        async with self.session(tenant_ids, actor=actor) as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
