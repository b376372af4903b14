"""Restoring a tenant's reversibility archive into another instance (issue 16 §2; CCTP CPAM 6-1: the data
returned « pour l'acheteur ou le prochain titulaire »; CCTP CANUT 5.7; CCP TGD V.4).

Two phases, one transaction:

1. **Check** (``check_archive``, a pure core: the ZIP and the target's metadata and schema revision, no
   database): the manifest's format and version, every file's SHA-256, size and row count, the schema revision
   (an archive of a newer schema is refused), every table and column known to this instance, every value
   readable as its column's type, every foreign key resolvable within the archive (the ones that are not are
   looked up in the target by ``import_archive`` before anything is written).
2. **Write** (``import_archive``): the tenant must not exist on the target; its platform rows (users, centrals,
   agreements, price schedules…) already present with the same id are merged when their content is the same and
   refused when it differs; unique values already taken by another row are refused; then the rows are inserted
   in foreign-key order (the metadata's, a cycle or a self-reference broken by inserting its nullable column
   empty and setting it once every row is in), ids and timestamps as they are, and the components restore
   their files (``Component.import_files``: the tickets' attachments). A bad archive is refused with every
   problem found, in French, and nothing is written.

Secrets: the stations' password hashes are in the archive and restored (the stations connect with the password
they hold); the users' password hashes only when the archive has them *and* the operator asks for them,
otherwise the accounts have no usable password and their owners use « Mot de passe oublié ». A secret column the
archive leaves out and the schema requires (an invitation's token hash) gets a random value that matches no
token: the invitation has to be sent again. A foreign key to another tenant that the target does not hold
(``users.managed_by_tenant_id``) is set to null (docs/reversibility.md).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import hashlib
import json
import secrets
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData, Table, and_, bindparam, select, text, tuple_
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import ForeignKeyConstraint, UniqueConstraint, sort_tables_and_constraints
from sqlalchemy.types import TypeDecorator

from app.component import ImportFiles
from app.db import Database
from tenants.reversibility.archive import FORMAT, FORMAT_VERSION, OPERATOR_HASHES, SECRET_NAME, file_sha256

__all__ = [
    "ArchiveRefused",
    "CheckedArchive",
    "ImportResult",
    "SchemaHistory",
    "check_archive",
    "import_archive",
]

#: Problems listed at most in a report (the count of the others is given).
MAX_PROBLEMS = 100
#: Rows per INSERT batch and keys per lookup.
BATCH = 1_000
LOOKUP = 500
ACTOR = {"user_id": None, "label": "import de réversibilité"}


class ArchiveRefused(Exception):  # noqa: N818 (a refusal with its report, not a crash)
    """The archive cannot be imported; ``problems`` says why, in French. Nothing was written."""

    def __init__(self, problems: Sequence[str]) -> None:
        shown = list(problems[:MAX_PROBLEMS])
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"… et {len(problems) - MAX_PROBLEMS} autres problèmes")
        self.problems = shown
        super().__init__("archive refusée : " + " ; ".join(shown))


@dataclasses.dataclass(frozen=True)
class SchemaHistory:
    """What the target knows of schema revisions: its own, and which ones it knows and precede it."""

    current: str
    known: frozenset[str]
    ancestors: frozenset[str]


@dataclasses.dataclass
class _ForeignKey:
    constraint: ForeignKeyConstraint
    columns: list[str]
    target: str
    referred: list[str]
    values: set[tuple[Any, ...]] = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class CheckedArchive:
    """An archive that passed the checks that need no database, and what the target still has to answer."""

    manifest: dict[str, Any]
    tenant_id: uuid.UUID
    #: The archive's tables, in the target's metadata, in the order rows are inserted.
    tables: list[Table]
    #: Per table: the archive's columns (names) and its scope.
    columns: dict[str, list[str]]
    scopes: dict[str, str]
    #: Per table: primary keys of the archive's rows (for the tables other rows point at, and the platform ones).
    keys: dict[str, set[tuple[Any, ...]]]
    #: Foreign-key values the archive does not hold: the target must.
    unresolved: list[_ForeignKey]
    #: Per table: the columns inserted empty and set afterwards (cycles, self-references).
    deferred: dict[str, list[str]]
    #: Values of unique constraints without ``tenant_id`` (they could collide with the target's rows).
    uniques: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], tuple[Any, ...]]]
    password_hashes: bool


@dataclasses.dataclass
class ImportResult:
    tenant_id: uuid.UUID
    tenant_name: str
    inserted: dict[str, int]
    merged: dict[str, int]
    nullified: dict[str, int]
    files: int
    password_hashes: bool

    def summary(self) -> dict[str, Any]:
        return {"tenant_id": str(self.tenant_id), "tenant": self.tenant_name,
                "rows": sum(self.inserted.values()), "tables": len(self.inserted),
                "merged": sum(self.merged.values()), "nullified": sum(self.nullified.values()),
                "files": self.files, "password_hashes": self.password_hashes}


# --------------------------------------------------------------------------- values


def _kind(column: Column[Any]) -> type:
    impl = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    try:
        return impl.python_type
    except NotImplementedError:
        return object


def _reader(column: Column[Any]) -> Callable[[Any], Any]:
    """How a JSON Lines value of ``column`` (never ``None``) becomes the value to insert: the inverse of
    ``archive._converters``' JSON side. Raises ``ValueError`` on a value of the wrong form."""
    kind = _kind(column)

    def expect(types: type | tuple[type, ...], convert: Callable[[Any], Any] = lambda v: v) -> Callable[[Any], Any]:
        def read(value: Any) -> Any:
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
                raise ValueError(f"{type(value).__name__} au lieu de {kind.__name__}")
            return convert(value)
        return read

    if kind is str:
        return expect(str)
    if kind is bool:
        return expect(bool)
    if kind is int:
        return expect(int)
    if kind is float:
        return expect((int, float), float)
    if kind is decimal.Decimal:
        return expect(str, _decimal)
    if kind is dt.datetime:
        return expect(str, _instant)
    if kind is dt.date:
        return expect(str, dt.date.fromisoformat)
    if kind is dt.time:
        return expect(str, dt.time.fromisoformat)
    if kind is uuid.UUID:
        return expect(str, uuid.UUID)
    if kind is bytes:
        return expect(str, lambda v: base64.b64decode(v, validate=True))
    return lambda value: value  # JSON: the object itself


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _decimal(value: str) -> decimal.Decimal:
    try:
        number = decimal.Decimal(value)
    except decimal.InvalidOperation:
        raise ValueError(f"« {value[:40]} » n'est pas un nombre décimal") from None
    if not number.is_finite():
        raise ValueError(f"« {value[:40]} » n'est pas un nombre décimal")
    return number


def _instant(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"« {value[:40]} » : horodatage sans fuseau (UTC attendu)")
    return moment.astimezone(dt.UTC)


# --------------------------------------------------------------------------- check (no database)


def _lines(archive: zipfile.ZipFile, path: str) -> Iterator[bytes]:
    with archive.open(path) as handle:
        yield from handle


def _file_problems(archive: zipfile.ZipFile, manifest: dict[str, Any]) -> list[str]:
    problems = []
    names = set(archive.namelist())
    listed = set()
    for facts in manifest.get("files") or []:
        path = str(facts.get("path", ""))
        listed.add(path)
        if path not in names:
            problems.append(f"fichier manquant : {path}")
            continue
        digest, size, lines = hashlib.sha256(), 0, 0
        with archive.open(path) as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
        if digest.hexdigest() != facts.get("sha256"):
            problems.append(f"{path} : empreinte SHA-256 différente de celle du manifeste (fichier modifié ou abîmé)")
        elif size != facts.get("bytes"):
            problems.append(f"{path} : {size} octets au lieu de {facts.get('bytes')}")
        if path.endswith(".jsonl") and lines != facts.get("rows"):
            problems.append(f"{path} : {lines} lignes au lieu de {facts.get('rows')} selon le manifeste")
    extra = sorted(names - listed - {"manifest.json"})
    problems += [f"fichier absent du manifeste : {path}" for path in extra]
    return problems


def _schema_problems(manifest: dict[str, Any], history: SchemaHistory) -> list[str]:
    revision = str((manifest.get("application") or {}).get("schema_revision") or "")
    if revision == history.current:
        return []
    if revision and revision not in history.known:
        return [f"l'archive vient d'un schéma plus récent (révision {revision}, inconnue de cette instance dont le"
                f" schéma est {history.current or 'vide'}) : installez sur l'instance cible une version de Centrale"
                " au moins aussi récente que celle de l'export, lancez « centrale db upgrade », puis relancez"
                " l'import"]
    if revision and revision not in history.ancestors:
        return [f"la base cible n'est pas à jour (révision {history.current or 'aucune'}, l'archive est en"
                f" {revision}) : lancez « centrale db upgrade » sur l'instance cible, puis relancez l'import"]
    if not revision:
        return ["l'archive ne dit pas la révision de son schéma (application.schema_revision)"]
    return []  # an older schema: its columns are a subset, checked table by table


def _deferred(tables: list[Table], problems: list[str]) -> tuple[list[Table], dict[str, list[str]]]:
    """The insertion order and, per table, the columns of the foreign keys that close a cycle (or point into
    their own table), inserted empty then set."""
    order: list[Table] = []
    breaking: list[ForeignKeyConstraint] = []
    for table, constraints in sort_tables_and_constraints(tables):
        if table is None:
            breaking += list(constraints)
        else:
            order.append(table)
            breaking += [fk for fk in table.foreign_key_constraints if fk.referred_table is table]
    deferred: dict[str, list[str]] = {}
    for fk in breaking:
        nullable = [c.name for c in fk.columns if c.nullable]
        if not nullable:
            problems.append(f"{fk.parent.name} : la clé étrangère ({', '.join(c.name for c in fk.columns)}) ferme"
                            " un cycle sans colonne facultative : ordre d'insertion impossible")
            continue
        names = deferred.setdefault(fk.parent.name, [])
        names += [n for n in nullable if n not in names]
    return order, deferred


def check_archive(archive: zipfile.ZipFile, metadata: MetaData, history: SchemaHistory, *,
                  password_hashes: bool = False) -> CheckedArchive:
    """Every check that needs only the archive and the target's schema; ``ArchiveRefused`` lists what fails."""
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except KeyError:
        raise ArchiveRefused(["manifest.json absent : ce n'est pas une archive de réversibilité de Centrale"]) from None
    except ValueError:
        raise ArchiveRefused(["manifest.json illisible (JSON invalide)"]) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveRefused([f"format inconnu : « {str(manifest.get('format') if isinstance(manifest, dict) else '')[:60]} »"
                              f" (attendu « {FORMAT} »)"])
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArchiveRefused([f"version de format {version!r} non prise en charge (cette instance lit la version"
                              f" {FORMAT_VERSION}) : importez l'archive avec la version de Centrale qui l'a écrite"
                              " ou une plus récente"])
    problems = _schema_problems(manifest, history) + _file_problems(archive, manifest)
    try:
        tenant_id = uuid.UUID(str((manifest.get("tenant") or {}).get("id")))
    except ValueError:
        raise ArchiveRefused([*problems, "manifeste : identifiant du bénéficiaire invalide"]) from None
    if problems:  # a file that is not the one exported: reading it further would only add noise
        raise ArchiveRefused(problems)
    if password_hashes and not (manifest.get("options") or {}).get("password_hashes"):
        raise ArchiveRefused(["l'option des empreintes de mots de passe est demandée mais l'archive n'en contient"
                              " pas (exportée sans --with-password-hashes) : relancez sans l'option, les comptes"
                              " réinitialiseront leur mot de passe"])

    tables: list[Table] = []
    columns: dict[str, list[str]] = {}
    scopes: dict[str, str] = {}
    for name, facts in sorted((manifest.get("tables") or {}).items()):
        table = metadata.tables.get(name)
        if table is None:
            problems.append(f"table {name} inconnue de cette instance (schéma plus récent ?)")
            continue
        names = [str(c) for c in facts.get("columns") or []]
        unknown = [c for c in names if c not in table.columns]
        if unknown:
            problems.append(f"{name} : colonnes inconnues de cette instance : {', '.join(unknown)}")
        if [c.name for c in table.primary_key.columns] != facts.get("primary_key"):
            problems.append(f"{name} : clé primaire différente de celle de cette instance")
        missing = [c.name for c in table.columns if c.name not in names and not c.nullable and c.default is None
                   and c.server_default is None and not SECRET_NAME.search(c.name)]
        if missing:
            problems.append(f"{name} : colonnes obligatoires absentes de l'archive : {', '.join(missing)}")
        if "tenant_id" in table.columns and facts.get("scope") == "tenant" and "tenant_id" not in names:
            problems.append(f"{name} : colonne tenant_id absente")
        tables.append(table)
        columns[name] = [c for c in names if c in table.columns]
        scopes[name] = str(facts.get("scope"))
    if "tenants" not in columns:
        problems.append("la table tenants (le bénéficiaire lui-même) manque")
    order, deferred = _deferred(tables, problems)
    if problems:
        raise ArchiveRefused(problems)

    # Which keys the rows must offer: every (table, columns) a foreign key of an archive table refers to.
    present = {t.name for t in tables}
    fks: dict[str, list[_ForeignKey]] = {}
    wanted: dict[str, set[tuple[str, ...]]] = {}
    for table in tables:
        for fk in table.foreign_key_constraints:
            names = [c.name for c in fk.columns]
            if not all(n in columns[table.name] for n in names):
                continue
            item = _ForeignKey(fk, names, fk.referred_table.name, [e.column.name for e in fk.elements])
            fks.setdefault(table.name, []).append(item)
            if item.target in present:
                wanted.setdefault(item.target, set()).add(tuple(item.referred))
    key_sets: dict[tuple[str, tuple[str, ...]], set[tuple[Any, ...]]] = {}
    keys: dict[str, set[tuple[Any, ...]]] = {}
    uniques: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], tuple[Any, ...]]] = {}
    for table in tables:
        name = table.name
        names = columns[name]
        readers = [_reader(table.c[c]) for c in names]
        pk_index = [names.index(c.name) for c in table.primary_key.columns]
        wanted_index = {cols: [names.index(c) for c in cols] for cols in wanted.get(name, set())
                        if all(c in names for c in cols)}
        fk_index = [(fk, [names.index(c) for c in fk.columns]) for fk in fks.get(name, [])]
        unique_index = {cols: [names.index(c) for c in cols] for cols in _unique_columns(table)
                        if all(c in names for c in cols)}
        platform = scopes[name] != "tenant"
        table_keys: set[tuple[Any, ...]] = set()
        for number, line in enumerate(_lines(archive, f"tables/{name}.jsonl"), start=1):
            row = _parse_line(line, names, readers, f"tables/{name}.jsonl", number, problems)
            if row is None:
                continue
            if scopes[name] == "tenant" and row[names.index("tenant_id")] != tenant_id:
                problems.append(f"tables/{name}.jsonl ligne {number} : ligne d'un autre bénéficiaire")
                continue
            pk = tuple(row[i] for i in pk_index)
            if platform or name in wanted:
                table_keys.add(pk)
            for cols, index in wanted_index.items():
                key_sets.setdefault((name, cols), set()).add(tuple(row[i] for i in index))
            for fk, index in fk_index:
                value = tuple(row[i] for i in index)
                if None not in value:
                    fk.values.add(value)
            for cols, index in unique_index.items():
                value = tuple(row[i] for i in index)
                if None not in value:
                    taken = uniques.setdefault((name, cols), {})
                    if value in taken and taken[value] != pk:
                        problems.append(f"{name} : valeur unique en double dans l'archive ({', '.join(cols)})")
                    taken[value] = pk
            if len(problems) > MAX_PROBLEMS:
                raise ArchiveRefused(problems)
        keys[name] = table_keys
    unresolved = []
    for items in fks.values():
        for fk in items:
            inside = key_sets.get((fk.target, tuple(fk.referred)), set())
            fk.values -= inside
            if fk.values:
                unresolved.append(fk)
    if problems:
        raise ArchiveRefused(problems)
    return CheckedArchive(manifest, tenant_id, order, columns, scopes, keys, unresolved, deferred, uniques,
                          password_hashes)


def _unique_columns(table: Table) -> list[tuple[str, ...]]:
    """The unique constraints and indexes of ``table`` that do not hold ``tenant_id`` (those may collide with
    another tenant's or the platform's rows of the target), the primary key aside."""
    found = []
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            found.append(tuple(c.name for c in constraint.columns))
    for index in table.indexes:
        if index.unique and all(isinstance(e, Column) for e in index.expressions):
            found.append(tuple(c.name for c in index.columns))
    return [cols for cols in dict.fromkeys(found) if cols and "tenant_id" not in cols]


def _parse_line(line: bytes, names: list[str], readers: list[Callable[[Any], Any]], path: str, number: int,
                problems: list[str]) -> list[Any] | None:
    try:
        data = json.loads(line)
    except ValueError:
        problems.append(f"{path} ligne {number} : JSON invalide")
        return None
    if not isinstance(data, dict) or list(data) != names:
        problems.append(f"{path} ligne {number} : colonnes différentes de celles du manifeste")
        return None
    row = []
    for name, read in zip(names, readers, strict=True):
        value = data[name]
        try:
            row.append(None if value is None else read(value))
        except (ValueError, TypeError) as exc:
            problems.append(f"{path} ligne {number}, colonne {name} : valeur invalide ({exc})")
            return None
    return row


# --------------------------------------------------------------------------- the target


async def _history(connection: AsyncConnection) -> SchemaHistory:
    from alembic.script import ScriptDirectory

    from app.migrate import MIGRATIONS

    try:
        current = str(await connection.scalar(text("SELECT version_num FROM alembic_version")) or "")
    except DBAPIError:
        current = ""
    script = ScriptDirectory(str(MIGRATIONS))
    known = frozenset(r.revision for r in script.walk_revisions())
    ancestors = frozenset(r.revision for r in script.walk_revisions("base", current)) if current in known else frozenset()
    return SchemaHistory(current, known, ancestors | {current})


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _match(columns: Sequence[Column[Any]], values: Sequence[tuple[Any, ...]]) -> Any:
    if len(columns) == 1:
        return columns[0].in_([v[0] for v in values])
    return tuple_(*columns).in_(values)


async def _existing(connection: AsyncConnection, table: Table, names: Sequence[str],
                    values: Iterable[tuple[Any, ...]], fetch: Sequence[str] | None = None) -> dict[tuple[Any, ...], Any]:
    """The target's rows of ``table`` whose ``names`` are among ``values``, by those values."""
    columns = [table.c[n] for n in names]
    selected = [table.c[n] for n in (fetch or names)]
    found: dict[tuple[Any, ...], Any] = {}
    for chunk in _chunks(sorted(values, key=repr), LOOKUP):
        for row in await connection.execute(select(*columns, *selected).where(_match(columns, chunk))):
            found[tuple(row[:len(columns)])] = row[len(columns):]
    return found


async def _target_problems(connection: AsyncConnection, checked: CheckedArchive, archive: zipfile.ZipFile,
                           metadata: MetaData) -> tuple[dict[str, set[tuple[Any, ...]]], dict[str, set[tuple[Any, ...]]]]:
    """What the target says: the tenant absent, the platform rows merged or in conflict, unique values free, the
    foreign keys the archive does not hold present. Returns the rows to skip (merged) and the foreign-key values
    to set to null, per table."""
    problems: list[str] = []
    tenants = metadata.tables["tenants"]
    if await connection.scalar(select(tenants.c.id).where(tenants.c.id == checked.tenant_id)) is not None:
        raise ArchiveRefused([f"le bénéficiaire {checked.tenant_id} existe déjà sur cette instance : l'import se fait"
                              " dans une instance qui ne l'a pas (rien n'a été écrit)"])
    merged: dict[str, set[tuple[Any, ...]]] = {}
    for table in checked.tables:
        name = table.name
        if checked.scopes[name] == "tenant":
            continue
        names = checked.columns[name]
        pk = [c.name for c in table.primary_key.columns]
        comparable = [n for n in names if f"{name}.{n}" not in OPERATOR_HASHES]
        found = await _existing(connection, table, pk, checked.keys[name], comparable)
        if not found:
            continue
        readers = [_reader(table.c[c]) for c in names]
        index = [names.index(c) for c in pk]
        for number, line in enumerate(_lines(archive, f"tables/{name}.jsonl"), start=1):
            row = _parse_line(line, names, readers, name, number, problems)
            key = tuple(row[i] for i in index) if row is not None else None
            if key not in found:
                continue
            ours = dict(zip(names, row, strict=True))  # type: ignore[arg-type]
            differ = [n for n, theirs in zip(comparable, found[key], strict=True) if ours[n] != theirs]
            if differ:
                problems.append(f"{name} {', '.join(map(str, key))} : existe déjà sur cette instance avec un contenu"
                                f" différent (colonnes {', '.join(differ[:8])}) ; corrigez l'une des deux lignes"
                                " ou importez dans une instance sans elle")
            else:
                merged.setdefault(name, set()).add(key)
    for (name, cols), values in checked.uniques.items():
        table = metadata.tables[name]
        pk = [c.name for c in table.primary_key.columns]
        taken = await _existing(connection, table, cols, values, pk)
        for value, theirs in taken.items():
            if tuple(theirs) != values[value]:
                problems.append(f"{name} : {', '.join(cols)} = {', '.join(map(str, value))} est déjà pris par une"
                                " autre ligne de cette instance")
    nullified: dict[str, set[tuple[Any, ...]]] = {}
    for fk in checked.unresolved:
        target = metadata.tables[fk.target]
        found = await _existing(connection, target, fk.referred, fk.values)
        missing = fk.values - set(found)
        if not missing:
            continue
        if fk.target == "tenants" and all(fk.constraint.parent.c[c].nullable for c in fk.columns):
            nullified.setdefault(fk.constraint.parent.name, set()).update(missing)  # another tenant's id: null
            continue
        sample = ", ".join(str(v[-1]) for v in sorted(missing, key=repr)[:3])
        problems.append(f"{fk.constraint.parent.name}.{'+'.join(fk.columns)} : {len(missing)} référence(s) vers"
                        f" {fk.target} introuvable(s) dans l'archive comme dans cette instance ({sample})")
    if problems:
        raise ArchiveRefused(problems)
    return merged, nullified


def _fillers(table: Table, names: Sequence[str]) -> dict[str, Callable[[], Any]]:
    """Values for the required columns the archive leaves out (secrets): random, matching nothing."""
    fill = {}
    for column in table.columns:
        if column.name in names or column.nullable or column.default is not None or column.server_default is not None:
            continue
        length = getattr(column.type, "length", None) or 64
        fill[column.name] = lambda n=min(length, 64): secrets.token_hex(32)[:n]
    return fill


async def _insert(connection: AsyncConnection, archive: zipfile.ZipFile, checked: CheckedArchive, table: Table,
                  skip: set[tuple[Any, ...]], nullify: set[tuple[Any, ...]]) -> tuple[int, list[dict[str, Any]]]:
    """The table's rows inserted (deferred columns empty); the updates that set the deferred columns after."""
    name = table.name
    names = checked.columns[name]
    readers = [_reader(table.c[c]) for c in names]
    pk = [c.name for c in table.primary_key.columns]
    drop = {f"{name}.{n}" for n in names} & OPERATOR_HASHES if not checked.password_hashes else set()
    deferred = checked.deferred.get(name, [])
    to_null = [fk for fk in table.foreign_key_constraints if fk.referred_table.name == "tenants"
               and all(c.name in names and c.nullable for c in fk.columns)] if nullify else []
    fill = _fillers(table, names)
    later: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    count = 0
    problems: list[str] = []
    statement = table.insert()
    for number, line in enumerate(_lines(archive, f"tables/{name}.jsonl"), start=1):
        values = _parse_line(line, names, readers, name, number, problems)
        if values is None:
            raise ArchiveRefused(problems)
        row = dict(zip(names, values, strict=True))
        key = tuple(row[c] for c in pk)
        if key in skip:
            continue
        for column in drop:
            row[column.split(".", 1)[1]] = None
        for fk in to_null:
            if tuple(row[c.name] for c in fk.columns) in nullify:
                for c in fk.columns:
                    row[c.name] = None
        set_after = {c: row[c] for c in deferred if row[c] is not None}
        if set_after:
            later.append({**{f"k_{c}": row[c] for c in pk}, **{f"v_{c}": v for c, v in set_after.items()}})
            for c in set_after:
                row[c] = None
        for column, make in fill.items():
            row[column] = make()
        batch.append(row)
        if len(batch) >= BATCH:
            await connection.execute(statement, batch)
            count += len(batch)
            batch = []
    if batch:
        await connection.execute(statement, batch)
        count += len(batch)
    return count, later


async def _set_deferred(connection: AsyncConnection, table: Table, updates: list[dict[str, Any]]) -> None:
    pk = [c.name for c in table.primary_key.columns]
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for update in updates:
        by_columns.setdefault(tuple(sorted(k[2:] for k in update if k.startswith("v_"))), []).append(update)
    for columns, params in by_columns.items():
        statement = (table.update().where(and_(*(table.c[c] == bindparam(f"k_{c}") for c in pk)))
                     .values({c: bindparam(f"v_{c}") for c in columns}))
        await connection.execute(statement, params)


async def import_archive(db: Database, settings: Any, path: Path, *, metadata: MetaData,
                         import_files: Sequence[ImportFiles] = (), password_hashes: bool = False) -> ImportResult:
    """Check the archive at ``path`` and restore its tenant into ``db``, in one transaction; ``ArchiveRefused``
    when anything is wrong, and then nothing is written (rows nor files)."""
    from app.audit import record_event

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveRefused([f"{path.name} n'est pas une archive ZIP lisible ({exc})"]) from None
    written: list[Path] = []
    with archive:
        async with db.session(actor=ACTOR) as probe:
            history = await _history(await probe.connection())
            await probe.rollback()
        checked = check_archive(archive, metadata, history, password_hashes=password_hashes)
        tenant_id = checked.tenant_id
        try:
            async with db.session([tenant_id], actor=ACTOR) as session, session.begin():
                connection = await session.connection()
                merged, nullified = await _target_problems(connection, checked, archive, metadata)
                inserted: dict[str, int] = {}
                later: dict[str, list[dict[str, Any]]] = {}
                try:
                    for table in checked.tables:
                        count, updates = await _insert(connection, archive, checked, table,
                                                       merged.get(table.name, set()), nullified.get(table.name, set()))
                        inserted[table.name] = count
                        if updates:
                            later[table.name] = updates
                    for table in checked.tables:
                        if table.name in later:
                            await _set_deferred(connection, table, later[table.name])
                except IntegrityError as exc:
                    raise ArchiveRefused([f"la base cible refuse une ligne : {str(exc.orig).splitlines()[0][:300]}"]) from None
                files = {info.filename: (lambda n=info.filename: archive.read(n)) for info in archive.infolist()
                         if info.filename.startswith(("documents/", "formats/"))}
                for hook in import_files:
                    try:
                        written += await hook(session, settings, tenant_id, files)
                    except ValueError as exc:
                        raise ArchiveRefused([str(exc)]) from None
                manifest = checked.manifest
                record_event(session, action="import", entity="tenants", entity_id=str(tenant_id), details={
                    "archive_sha256": file_sha256(path), "generated_at": manifest.get("generated_at"),
                    "rows": sum(inserted.values()), "merged": sum(len(v) for v in merged.values()),
                    "files": len(written), "password_hashes": password_hashes})
        except BaseException:
            for restored in written:
                restored.unlink(missing_ok=True)
            raise
    return ImportResult(tenant_id, str(checked.manifest["tenant"].get("name") or ""), inserted,
                        {k: len(v) for k, v in merged.items()}, {k: len(v) for k, v in nullified.items()},
                        len(written), password_hashes)
