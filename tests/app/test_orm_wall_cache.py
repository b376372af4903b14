"""The ORM tenant wall remembers, per statement cache key, which tenant tables a statement
touches (``app.db._tenant_tables``) and builds the tenant filter once per scope
(``app.db._tenant_criteria``). Neither may carry a decision over to another statement
or another scope.

Run on SQLite too, where the ORM wall is the only filter (no row-level security):
a wrong cached decision shows there as another tenant's rows.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import exists, func, select

import app.db
from app.db import TenantScopeError
from tenants.models import Membership, Site, Tenant, User


def _ids(demo: dict[str, Any]) -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.UUID(demo["tenant_ids"]["cpam"]), uuid.UUID(demo["tenant_ids"]["chr"])


def _pairs() -> dict[str, tuple[Any, Any]]:
    """(platform statement, the same shape reaching a tenant table), built anew at each call."""
    return {
        "count from": (select(func.count()).select_from(Tenant), select(func.count()).select_from(Site)),
        "subquery": (
            select(User.email).where(User.id.in_(select(User.id))),
            select(User.email).where(User.id.in_(select(Membership.user_id))),
        ),
        "exists": (
            select(Tenant.id).where(exists().where(Tenant.id == Tenant.id)),
            select(Tenant.id).where(exists().where(Site.tenant_id == Tenant.id)),
        ),
    }


async def test_a_remembered_decision_never_passes_to_a_statement_touching_a_tenant_table(db, demo):
    a, _b = _ids(demo)
    app.db._TABLES_BY_KEY.clear()  # noqa: SLF001  (start from an empty cache: first a miss, then hits)
    async with db.session([a]) as session:
        members_a = await session.scalar(select(func.count()).select_from(Membership).where(Membership.tenant_id == a))
    for _round in ("miss", "hit"):
        for label, (platform, tenant) in _pairs().items():
            async with db.session() as session:
                await session.execute(platform)  # platform tables only: no scope needed
                with pytest.raises(TenantScopeError):
                    await session.execute(tenant)
                    pytest.fail(f"{label}: ran without a tenant scope")
        async with db.session([a]) as session:
            pairs = _pairs()
            # Platform statements stay unfiltered under a scope; tenant ones are filtered.
            assert await session.scalar(pairs["count from"][0]) == len(demo["tenant_ids"])
            assert await session.scalar(pairs["count from"][1]) == 1
            assert len((await session.execute(pairs["subquery"][1])).all()) == members_a
            assert set(await session.scalars(pairs["exists"][1])) == {a}
            assert len(set(await session.scalars(pairs["exists"][0]))) == len(demo["tenant_ids"])
    assert app.db._TABLES_BY_KEY  # noqa: SLF001  (the second round was answered from the cache)


async def test_the_tenant_filter_built_once_per_scope_never_leaks_to_another_scope(db, demo):
    a, b = _ids(demo)
    statement = select(Site)  # one statement object, run under four scopes
    seen = []
    for scope in ([a], [b], [a, b], [a], [b]):
        async with db.session(scope) as session:
            seen.append({site.tenant_id for site in await session.scalars(statement)})
    assert seen == [{a}, {b}, {a, b}, {a}, {b}]
    async with db.session() as session:
        with pytest.raises(TenantScopeError):
            await session.execute(statement)
