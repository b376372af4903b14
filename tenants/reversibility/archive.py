"""Writing a tenant's reversibility archive (issue 16 §1; CCTP CPAM 6-1 « l'ensemble des données […] dans un
format standard lisible »; CCTP CANUT 5.7 « formats portables »; CCP TGD V.4).

The archive is walked, not listed: every table of ``app.db.TENANT_TABLES`` (rows of the tenant, ordered by primary
key), the tenant's own row, the platform rows that carry its ``tenant_id`` (its subscriptions, its building codes,
its charge-box routes, its OIDC provider) and, transitively, every platform row those rows point at through a
foreign key (the users of its memberships, its central, its framework agreements, the price schedules its orders
name…). A table added later is exported without touching this module. Each table is written twice: CSV (RFC 4180,
UTF-8, comma, header row; raw data, **not** formula-escaped: it is a data export, not a spreadsheet) and JSON Lines
(lossless: ``null`` is not ``""``). Then the components' files (``app.component.ExportFile``: attachments,
documents, the stations in schema-irve), ``LISEZMOI.md`` and ``manifest.json`` (row counts and SHA-256 of every
file).

Secrets never leave in clear: a column whose name says it is a secret (password, token, secret, TOTP) is left out
and named in the manifest, except the stations' password hashes (argon2id: the stations keep connecting to the next
instance with the password they hold) and, when the operator asks for it, the users' password hashes. Platform
tables of sessions, API and reset tokens, mails and outboxes are never walked.

Memory stays constant whatever the volume: rows are read with a server-side cursor in batches, written straight
into the ZIP entry (CSV) and into a temporary file (JSON Lines, copied in after), hashed on the way. On PostgreSQL
the whole export reads one ``REPEATABLE READ`` snapshot, so the files agree with each other.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import dataclasses
import datetime as dt
import decimal
import hashlib
import io
import json
import re
import tempfile
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from importlib import metadata as package_metadata
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Column, MetaData, Table, func, or_, select, text
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator

from app.component import ExportFiles
from app.db import TENANT_TABLES, Database

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "NEVER_EXPORTED",
    "ArchiveResult",
    "TablePlan",
    "app_version",
    "exported_columns",
    "file_sha256",
    "plan_tables",
    "schema_revision",
    "write_archive",
]

FORMAT = "centrale-reversibilite"
#: Bumped when a file's layout changes in a way an importer must know.
FORMAT_VERSION = 1
#: Rows per batch read from the cursor and written at once.
BATCH = 5_000
#: Every entry's date in the ZIP: two exports of the same data give the same entries.
ENTRY_DATE = (1980, 1, 1, 0, 0, 0)
#: Deflate level: 1 is ~4× faster than the default 6 for ~15 % more bytes on CSV.
COMPRESS_LEVEL = 1
COPY_CHUNK = 1024 * 1024

#: Platform tables never walked, even when a row points at them, and why (docs/reversibility.md).
NEVER_EXPORTED: dict[str, str] = {
    "api_tokens": "jetons d'API (secrets)",
    "password_reset_tokens": "jetons de réinitialisation de mot de passe (secrets)",
    "mail_outbox": "courriels envoyés (ils peuvent contenir des liens de connexion)",
    "outbox_events": "file technique des événements",
    "outbox_deliveries": "file technique des événements",
    "platform_audit_events": "journal de la plateforme (hors bénéficiaire)",
    "scheduled_jobs": "planification technique",
}
#: A column named like a secret is left out of the export…
SECRET_NAME = re.compile(r"password|passwd|token|secret|totp|otp_|private_key", re.IGNORECASE)
#: …except these hashes: a station's Basic-auth password hash (argon2id), so that it connects to the next
#: instance with the password it holds (issue 16 §1).
KEPT_HASHES = frozenset({"chargers.password_hash"})
#: Exported only when the operator asks for it (``--with-password-hashes``): the users then keep their passwords.
OPERATOR_HASHES = frozenset({"users.password_hash"})


# --------------------------------------------------------------------------- plan


@dataclasses.dataclass
class TablePlan:
    """One table of the archive: which rows (``where``), which columns, and why it is there."""

    table: Table
    #: ``tenant`` (a tenant-owned table), ``tenant_row`` (the tenant itself), ``attached`` (a platform table's
    #: rows carrying the tenant's id), ``referenced`` (platform rows an exported row points at).
    scope: str
    columns: list[Column[Any]]
    omitted: dict[str, str]
    where: Any = None
    #: ``referenced``: the primary keys to read (sorted, read in chunks).
    ids: list[Any] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return self.table.name


def exported_columns(table: Table, *, password_hashes: bool = False) -> tuple[list[Column[Any]], dict[str, str]]:
    """The columns of ``table`` the archive holds, and the ones left out with the reason."""
    kept: list[Column[Any]] = []
    omitted: dict[str, str] = {}
    for column in table.columns:
        key = f"{table.name}.{column.name}"
        if not SECRET_NAME.search(column.name) or key in KEPT_HASHES or (password_hashes and key in OPERATOR_HASHES):
            kept.append(column)
        elif key in OPERATOR_HASHES:
            omitted[column.name] = "empreinte de mot de passe d'un compte (incluse seulement à la demande de l'exploitant)"
        else:
            omitted[column.name] = "secret"
    return kept, omitted


def _single_fks(table: Table) -> list[tuple[Column[Any], Table]]:
    """The one-column foreign keys of ``table`` to the single-column primary key of a platform table."""
    found = []
    for fk in table.foreign_key_constraints:
        if len(fk.columns) != 1:
            continue
        target = fk.referred_table
        pk = list(target.primary_key.columns)
        element = fk.elements[0]
        if target.name in TENANT_TABLES or target.name in NEVER_EXPORTED or target.name == "tenants":
            continue
        if len(pk) == 1 and element.column is pk[0]:
            found.append((next(iter(fk.columns)), target))
    return found


def _attached(table: Table) -> bool:
    column = table.columns.get("tenant_id")
    return column is not None and any(fk.column.table.name == "tenants" for fk in column.foreign_keys)


async def plan_tables(session: AsyncSession, metadata: MetaData, tenant_id: uuid.UUID, *,
                      password_hashes: bool = False) -> list[TablePlan]:
    """Every table of the archive with the rows it takes, in name order within each scope."""
    tables = metadata.tables
    plans: list[TablePlan] = []

    def add(table: Table, scope: str, where: Any) -> None:
        columns, omitted = exported_columns(table, password_hashes=password_hashes)
        plans.append(TablePlan(table, scope, columns, omitted, where))

    tenants = tables["tenants"]
    add(tenants, "tenant_row", tenants.c.id == tenant_id)
    for name in sorted(TENANT_TABLES):
        add(tables[name], "tenant", tables[name].c.tenant_id == tenant_id)
    for name in sorted(tables):
        table = tables[name]
        if name not in TENANT_TABLES and name != "tenants" and name not in NEVER_EXPORTED and _attached(table):
            add(table, "attached", table.c.tenant_id == tenant_id)

    # The platform rows the exported rows point at, transitively.
    wanted: dict[str, set[Any]] = {}
    pending: list[tuple[Table, Any]] = [(p.table, p.where) for p in plans]
    while pending:
        table, where = pending.pop()
        for column, target in _single_fks(table):
            found = set(await session.scalars(select(column).where(where, column.is_not(None)).distinct()))
            new = found - wanted.setdefault(target.name, set())
            if new:
                wanted[target.name] |= new
                pk = next(iter(target.primary_key.columns))
                for chunk in _chunks(sorted(new), 500):
                    pending.append((target, pk.in_(chunk)))
    by_name = {p.name: p for p in plans}
    for name in sorted(wanted):
        table = tables[name]
        pk = next(iter(table.primary_key.columns))
        if name in by_name:  # an attached table some row also points into: both sets of rows
            by_name[name].where = or_(by_name[name].where, pk.in_(sorted(wanted[name])))
            continue
        columns, omitted = exported_columns(table, password_hashes=password_hashes)
        plans.append(TablePlan(table, "referenced", columns, omitted, ids=sorted(wanted[name])))
    return plans


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


async def _batches(session: AsyncSession, plan: TablePlan) -> AsyncIterator[Sequence[Any]]:
    """The plan's rows in primary-key order, ``BATCH`` at a time, from a server-side cursor."""
    order = list(plan.table.primary_key.columns)
    if plan.scope == "referenced":
        pk = order[0]
        for chunk in _chunks(plan.ids, 1_000):
            rows = (await session.execute(select(*plan.columns).where(pk.in_(chunk)).order_by(*order))).all()
            if rows:
                yield rows
        return
    stream = await session.stream(select(*plan.columns).where(plan.where).order_by(*order)
                                  .execution_options(yield_per=BATCH))
    async for part in stream.partitions(BATCH):
        yield part


async def _count(session: AsyncSession, plan: TablePlan) -> int:
    if plan.scope == "referenced":
        return len(plan.ids)
    return int(await session.scalar(select(func.count()).select_from(plan.table).where(plan.where)) or 0)


# --------------------------------------------------------------------------- values


def _iso(value: Any) -> str:
    return value.isoformat()


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _converters(column: Column[Any]) -> tuple[Callable[[Any], Any], Callable[[Any], str]]:
    """How a value of ``column`` reads in CSV and in JSON (without the ``None`` case)."""
    try:
        kind = (column.type.impl if isinstance(column.type, TypeDecorator) else column.type).python_type
    except NotImplementedError:
        kind = object
    if kind is str:
        return (lambda v: v), (lambda v: json.dumps(v, ensure_ascii=False))
    if kind is bool:
        return (lambda v: "true" if v else "false"), (lambda v: "true" if v else "false")
    if kind is int:
        return (lambda v: v), str
    if kind is float:  # SQLite's NUMERIC affinity gives back 30 for 30.0: written 30.0 on both databases
        return _float, _float
    if kind is decimal.Decimal:  # a string in JSON too: exact (« 12.30 » stays 12.30)
        return str, (lambda v: f'"{v}"')
    if kind in (dt.datetime, dt.date, dt.time):
        return _iso, (lambda v: f'"{v.isoformat()}"')
    if kind is uuid.UUID:
        return str, (lambda v: f'"{v}"')
    if kind is bytes:
        return (lambda v: base64.b64encode(v).decode()), (lambda v: f'"{base64.b64encode(v).decode()}"')
    if kind in (dict, list):
        return _json_text, _json_text
    return _generic_csv, _generic_json


def _float(value: Any) -> str:
    return repr(float(value))


def _generic_csv(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return _json_text(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value if isinstance(value, str | int) else str(value)


def _generic_json(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return f'"{value.isoformat()}"'
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return f'"{value}"'
    if isinstance(value, bytes):
        return f'"{base64.b64encode(value).decode()}"'
    return _json_text(value)


class _TableWriter:
    """Turns batches of rows into CSV bytes and JSON Lines bytes."""

    def __init__(self, columns: Sequence[Column[Any]]) -> None:
        pairs = [_converters(c) for c in columns]
        self.to_csv = [p[0] for p in pairs]
        self.to_json = [p[1] for p in pairs]
        self.keys = [json.dumps(c.name) + ":" for c in columns]
        self.header = self._csv([[c.name for c in columns]])

    @staticmethod
    def _csv(rows: Iterable[Sequence[Any]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        return buffer.getvalue().encode()

    def batch(self, rows: Sequence[Sequence[Any]]) -> tuple[bytes, bytes]:
        to_csv, to_json, keys = self.to_csv, self.to_json, self.keys
        csv_rows = [["" if v is None else f(v) for f, v in zip(to_csv, row, strict=True)] for row in rows]
        lines = "".join(
            "{" + ",".join(k + ("null" if v is None else f(v)) for k, f, v in zip(keys, to_json, row, strict=True))
            + "}\n" for row in rows)
        return self._csv(csv_rows), lines.encode()


# --------------------------------------------------------------------------- PostgreSQL's COPY

#: The text a timestamp reads as, the same as Python's ``isoformat()`` of an aware UTC instant.
_PG_INSTANT = ("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_part('microseconds', {c})"
               "::int % 1000000 = 0 THEN '' ELSE to_char({c} AT TIME ZONE 'UTC', '.US') END || '+00:00'")
#: A float as Python's ``repr`` writes it (PostgreSQL writes ``22`` where Python writes ``22.0``).
_PG_FLOAT = "CASE WHEN ({c})::float8::text ~ '^-?[0-9]+$' THEN ({c})::float8::text || '.0' ELSE ({c})::float8::text END"
#: Never a value of a row: COPY quotes an empty string only when it equals the NULL marker.
_NULL_MARK = "\\N"


def _pg_text(column: Column[Any]) -> tuple[str, str] | None:
    """SQL rendering a column as ``_converters`` does, for CSV and for JSON; ``None`` when only Python can (JSON
    columns: PostgreSQL's JSON text orders keys and spaces them otherwise)."""
    name = '"' + column.name.replace('"', '""') + '"'
    impl = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    try:
        kind = impl.python_type
    except NotImplementedError:
        return None
    if kind is str and isinstance(impl, sqltypes.String):
        return name, f"to_json({name})::text"
    if kind is bool:
        text_ = f"CASE WHEN {name} THEN 'true' WHEN NOT {name} THEN 'false' END"
        return text_, text_
    if kind is int:
        return f"{name}::text", f"{name}::text"
    if kind is float:
        return _PG_FLOAT.format(c=name), _PG_FLOAT.format(c=name)
    if kind is decimal.Decimal:
        return f"{name}::text", f"'\"' || {name}::text || '\"'"
    if kind is dt.datetime and isinstance(impl, sqltypes.DateTime) and impl.timezone:
        instant = _PG_INSTANT.format(c=name)
        return instant, f"'\"' || {instant} || '\"'"
    if kind is dt.date:
        return f"to_char({name}, 'YYYY-MM-DD')", f"'\"' || to_char({name}, 'YYYY-MM-DD') || '\"'"
    if kind is uuid.UUID:
        return f"{name}::text", f"'\"' || {name}::text || '\"'"
    return None


def _copy_queries(plan: TablePlan) -> tuple[str, str] | None:
    """The two ``SELECT``s whose COPY gives the table's CSV rows and JSON lines, or ``None``."""
    if plan.scope == "referenced":
        return None
    rendered = [_pg_text(c) for c in plan.columns]
    if any(r is None for r in rendered):
        return None
    where = str(plan.where.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    order = ", ".join('"' + c.name + '"' for c in plan.table.primary_key.columns)
    source = f'FROM "{plan.table.name}" WHERE {where} ORDER BY {order}'
    csv_columns = ", ".join(f"COALESCE({r[0]}, '')" for r in rendered if r is not None)
    line = " || ',' || ".join(f"'{json.dumps(c.name)}:' || COALESCE({r[1]}, 'null')"
                              for c, r in zip(plan.columns, rendered, strict=True) if r is not None)
    return f"SELECT {csv_columns} {source}", f"SELECT '{{' || {line} || '}}' {source}"


class _RecordEnds:
    """PostgreSQL's COPY ends records with LF; RFC 4180 with CRLF. A LF outside quotes ends a record (a LF inside
    a quoted value is data and stays); the quotes' parity carries over from chunk to chunk."""

    def __init__(self) -> None:
        self.quoted = False
        self.rows = 0

    def __call__(self, chunk: bytes) -> bytes:
        parts = chunk.split(b'"')
        for index in range(int(self.quoted), len(parts), 2):
            self.rows += parts[index].count(b"\n")
            parts[index] = parts[index].replace(b"\n", b"\r\n")
        if len(parts) % 2 == 0:
            self.quoted = not self.quoted
        return b'"'.join(parts)


async def _copy_out(session: AsyncSession, query: str, entry: _Entry, record_ends: _RecordEnds | None) -> int:
    """COPY ``query`` into ``entry``, in the session's transaction (its tenant scope and snapshot); the rows."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    lines = [0]

    async def write(chunk: bytes) -> None:
        if record_ends is not None:
            chunk = record_ends(chunk)
        else:
            lines[0] += chunk.count(b"\n")
        entry.write(chunk)

    if record_ends is not None:
        await driver.copy_from_query(query, output=write, format="csv", null=_NULL_MARK)
        return record_ends.rows
    # One text column of JSON: CSV with a quote and a delimiter no JSON text holds raw, so nothing is quoted.
    await driver.copy_from_query(query, output=write, format="csv", null=_NULL_MARK, quote="\x01",
                                 delimiter="\x02")
    return lines[0]


# --------------------------------------------------------------------------- the ZIP


class _Entry:
    """A file being written into the ZIP: counted and hashed on the way (the manifest's SHA-256 is the file's,
    uncompressed)."""

    def __init__(self, archive: zipfile.ZipFile, path: str) -> None:
        info = zipfile.ZipInfo(path, ENTRY_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        # The level's attribute: ``_compresslevel`` up to 3.12, ``compress_level`` from 3.13.
        setattr(info, "compress_level" if hasattr(info, "compress_level") else "_compresslevel", COMPRESS_LEVEL)
        info.external_attr = 0o644 << 16
        self.path = path
        self.handle = archive.open(info, "w", force_zip64=True)
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.handle.write(data)

    def close(self, rows: int | None, **extra: Any) -> dict[str, Any]:
        self.handle.close()
        return {"path": self.path, "rows": rows, "bytes": self.size, "sha256": self.digest.hexdigest(), **extra}


@dataclasses.dataclass
class ArchiveResult:
    manifest: dict[str, Any]
    plans: list[TablePlan]


Progress = Callable[[int, int], Awaitable[None]]


def app_version() -> str:
    try:
        return package_metadata.version("centrale")
    except package_metadata.PackageNotFoundError:
        return "0"


async def schema_revision(session: AsyncSession) -> str:
    try:
        async with session.begin_nested():
            return str(await session.scalar(text("SELECT version_num FROM alembic_version")) or "")
    except Exception:  # noqa: BLE001 (a database made by create_all has no alembic table)
        return ""


async def write_archive(db: Database, tenant_id: uuid.UUID, out: IO[bytes], *, metadata: MetaData,
                        settings: Any = None, export_files: Sequence[ExportFiles] = (),
                        describe: Callable[[dict[str, Any], list[TablePlan]], str] | None = None,
                        password_hashes: bool = False, now: dt.datetime,
                        progress: Progress | None = None, work_dir: Path | None = None) -> ArchiveResult:
    """Write the tenant's archive to ``out`` (a seekable binary file) and return its manifest.

    ``describe(manifest, plans)`` writes ``LISEZMOI.md`` (``tenants.reversibility.readme``); ``progress(done,
    total)`` is awaited after each batch, with rows as the unit."""
    async with db.session([tenant_id], actor={"user_id": None, "label": "export de réversibilité"}) as session:
        if session.bind.dialect.name == "postgresql":  # one snapshot for every file
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        plans = await plan_tables(session, metadata, tenant_id, password_hashes=password_hashes)
        total = sum([await _count(session, p) for p in plans])
        done = 0
        files: list[dict[str, Any]] = []
        tables: dict[str, Any] = {}
        with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
            for plan in plans:
                base = f"tables/{plan.name}"
                copy = _copy_queries(plan) if session.bind.dialect.name == "postgresql" else None
                if copy is not None:  # PostgreSQL formats the rows itself (COPY), the same text as below
                    csv_entry = _Entry(archive, f"{base}.csv")
                    csv_entry.write(_TableWriter(plan.columns).header)
                    rows = await _copy_out(session, copy[0], csv_entry, _RecordEnds())
                    files.append(csv_entry.close(rows, table=plan.name, format="csv"))
                    entry = _Entry(archive, f"{base}.jsonl")
                    await _copy_out(session, copy[1], entry, None)
                    files.append(entry.close(rows, table=plan.name, format="jsonl"))
                    done += rows
                    if progress is not None:
                        await progress(done, total)
                    tables[plan.name] = _table_facts(plan, rows)
                    continue
                writer = _TableWriter(plan.columns)
                csv_entry = _Entry(archive, f"{base}.csv")
                csv_entry.write(writer.header)
                rows = 0
                with tempfile.TemporaryFile(dir=work_dir) as jsonl:
                    async for batch in _batches(session, plan):
                        csv_bytes, json_bytes = await asyncio.to_thread(writer.batch, batch)
                        await asyncio.to_thread(csv_entry.write, csv_bytes)
                        jsonl.write(json_bytes)
                        rows += len(batch)
                        done += len(batch)
                        if progress is not None:
                            await progress(done, total)
                    files.append(csv_entry.close(rows, table=plan.name, format="csv"))
                    jsonl.seek(0)
                    entry = _Entry(archive, f"{base}.jsonl")
                    await asyncio.to_thread(_copy, jsonl, entry)
                    files.append(entry.close(rows, table=plan.name, format="jsonl"))
                tables[plan.name] = _table_facts(plan, rows)
            documents: list[dict[str, Any]] = []
            seen = {f["path"] for f in files}
            for hook in export_files:
                async for item in hook(session, settings, tenant_id):
                    if item.path in seen or not item.path.startswith(("documents/", "formats/")):
                        raise ValueError(f"export file path refused: {item.path!r}")
                    seen.add(item.path)
                    entry = _Entry(archive, item.path)
                    if isinstance(item.content, Path):
                        with item.content.open("rb") as source:
                            await asyncio.to_thread(_copy, source, entry)
                    else:
                        entry.write(item.content)
                    documents.append({**entry.close(item.rows), "description": item.description})
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "tenant": await _tenant_facts(session, metadata, tenant_id),
                "generated_at": now.astimezone(dt.UTC).isoformat(),
                "application": {"name": "centrale", "version": app_version(),
                                "schema_revision": await schema_revision(session)},
                "options": {"password_hashes": password_hashes},
                "tables": tables,
                "files": sorted([*files, *documents], key=lambda f: f["path"]),
            }
            readme = describe(manifest, plans) if describe is not None else ""
            entry = _Entry(archive, "LISEZMOI.md")
            entry.write(readme.encode())
            manifest["files"] = sorted([*manifest["files"], entry.close(None)], key=lambda f: f["path"])
            entry = _Entry(archive, "manifest.json")
            entry.write((json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode())
            entry.handle.close()
        await session.rollback()
    return ArchiveResult(manifest, plans)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a stored file (an archive), read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy(source: IO[bytes], entry: _Entry) -> None:
    while chunk := source.read(COPY_CHUNK):
        entry.write(chunk)


def _table_facts(plan: TablePlan, rows: int) -> dict[str, Any]:
    """What an importer needs to check and load a table: its scope, columns, keys and references."""
    return {
        "scope": plan.scope,
        "rows": rows,
        "columns": [c.name for c in plan.columns],
        "primary_key": [c.name for c in plan.table.primary_key.columns],
        "omitted_columns": plan.omitted,
        "foreign_keys": [{"columns": [c.name for c in fk.columns], "table": fk.referred_table.name,
                          "referred": [e.column.name for e in fk.elements]}
                         for fk in sorted(plan.table.foreign_key_constraints,
                                          key=lambda f: [c.name for c in f.columns])],
    }


async def _tenant_facts(session: AsyncSession, metadata: MetaData, tenant_id: uuid.UUID) -> dict[str, Any]:
    tenants = metadata.tables["tenants"]
    row = (await session.execute(select(tenants.c.id, tenants.c.name, tenants.c.siret, tenants.c.finess)
                                 .where(tenants.c.id == tenant_id))).one()
    return {"id": str(row.id), "name": row.name, "siret": row.siret, "finess": row.finess}
