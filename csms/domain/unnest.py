"""Set-based statements over ``unnest`` of arrays (PostgreSQL), for the ingress's group commits.

A ``VALUES`` list built with SQLAlchemy is new SQL text for every batch size: the
compiler renders every row (tens of microseconds each) and PostgreSQL plans it
again. Here a batch of any size is one fixed statement, ``... FROM unnest(:a, :b, ...)``,
with one array parameter per column: compiled once, prepared once per connection by
asyncpg, and its rows encoded in binary by the driver.

The statements name each row's tenant themselves (``tenant_id = v.tenant_id``):
they run under the scope of every tenant of the batch (``csms.domain.writer.across_tenants``)
and row-level security checks every row against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["array_type", "columns_of", "insert_parameters", "insert_rows", "insert_sql", "unnest_insert"]

_DIALECT = postgresql.dialect()


def array_type(table: Table, column: str) -> str:
    """The PostgreSQL array type of a column (``varchar(40)`` → ``text[]``: the column casts on insert)."""
    sql_type = table.c[column].type.compile(dialect=_DIALECT).lower()
    if sql_type.startswith(("varchar", "character varying", "text")):
        return "text[]"
    return f"{sql_type}[]"


def columns_of(rows: Sequence[dict[str, Any]], names: Iterable[str], json_columns: Iterable[str] = (),
               prefix: str = "") -> dict[str, list[Any]]:
    """The rows as one list per column, in the parameters' names (``prefix`` + column; JSON columns as text)."""
    json_set = set(json_columns)
    out: dict[str, list[Any]] = {}
    for name in names:
        if name in json_set:
            out[prefix + name] = [json.dumps(row[name], separators=(",", ":"), default=str) for row in rows]
        else:
            out[prefix + name] = [row[name] for row in rows]
    return out


@cache
def insert_sql(table: Table, names: tuple[str, ...], on_conflict_do_nothing: bool = False,
               generate_id: bool = False, prefix: str = "") -> str:
    """``INSERT INTO table (names) SELECT * FROM unnest(:name::type[], ...)``, built once per shape;
    ``generate_id``: the ``id`` column from ``gen_random_uuid()`` (no UUID built in Python per row);
    ``prefix``: of the parameters' names, for an insert inside another statement (a ``WITH``)."""
    arrays = ", ".join(f"CAST(:{prefix}{name} AS {array_type(table, name)})" for name in names)
    columns, selected = ", ".join(names), "*"
    if generate_id:
        columns, selected = f"id, {columns}", "gen_random_uuid(), *"
    sql = f"INSERT INTO {table.name} ({columns}) SELECT {selected} FROM unnest({arrays})"
    if on_conflict_do_nothing:
        sql += " ON CONFLICT DO NOTHING"
    return sql


@cache
def unnest_insert(table: Table, names: tuple[str, ...], on_conflict_do_nothing: bool = False,
                  generate_id: bool = False) -> TextClause:
    """``insert_sql`` as a statement."""
    return text(insert_sql(table, names, on_conflict_do_nothing, generate_id))


def insert_parameters(table: Table, rows: Sequence[dict[str, Any]], prefix: str = "") -> dict[str, list[Any]]:
    """The parameters of ``insert_sql`` for ``rows`` (every row has the first row's keys)."""
    names = tuple(rows[0])
    return columns_of(rows, names, _json_columns(table, names), prefix)


async def insert_rows(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]], *, on_conflict_do_nothing: bool = False,
    generate_id: bool = False,
) -> None:
    """One INSERT for ``rows`` (every row has the same keys: the first row's), whatever their number.
    ``generate_id``: rows carry no ``id``, PostgreSQL makes it."""
    if not rows:
        return
    await session.execute(unnest_insert(table, tuple(rows[0]), on_conflict_do_nothing, generate_id),
                          insert_parameters(table, rows))


@cache
def _json_columns(table: Table, names: tuple[str, ...]) -> tuple[str, ...]:
    """The JSON columns among ``names`` (sent as text), found once per shape, not per batch."""
    return tuple(name for name in names if table.c[name].type.compile(dialect=_DIALECT).lower() in ("json", "jsonb"))
