"""The cross-tenant route walk (DESIGN.md tenancy rule 4: a wrong tenant gets 404).

Every registered route with path parameters is called with every method it accepts,
filled with another tenant's ids: first that tenant's id and its objects, then the
caller's own tenant id with the other tenant's objects. Each call must answer 404
and change nothing in the database. Portal routes are called with a session cookie
and a valid CSRF token (so CSRF is not what stops them), API routes with a bearer
token.

A new route is covered the day it is registered. A route whose parameter the walk
cannot fill fails the test: return its object from the component's ``wall_target`` (its manifest; an object of the other
tenant) or, for a route that holds no tenant data, add it to ``EXEMPT``.
"""

from __future__ import annotations

import typing
import uuid
from typing import Any

import msgspec
import pytest
from litestar.routes import HTTPRoute
from sqlalchemy import inspect, text

from app.composition import wall_targets
from app.db import Database
from tests.conftest import csrf_from, login

#: Parameterised routes that carry no tenant data, by path format, with the reason.
EXEMPT = {
    "/static/{file_path}": "static files",
    "/{unknown}": "any path no route serves: always a 404 (app.shell.unknown_page)",
    "/schema/{path}": "OpenAPI document renderers",
    "/reinitialiser/{token}": "password reset link: the token is the credential, tested in test_security",
    "/auth/oidc/{slug}/login": "OIDC provider login start (public, listed on the login page)",
    "/auth/oidc/{slug}/callback": "OIDC callback: state-bound, no tenant data",
    "/auth/oidc/{slug}/logout": "OIDC logout",
    "/api/v1/station-logs/{tenant_id}/{token}": "a station's log upload: the one-time token is the credential "
                                                 "(with its tenant), tested in tests/csms/test_fleet_operations.py",
    "/invitations/{token}": "invitation link: the token is the credential and only its invitee may open it, "
                            "tested in tests/tenants/test_accounts_security.py",
}

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
#: Columns that legitimately change when the caller merely authenticates.
VOLATILE = {"last_login_at", "last_used_at"}


#: The walk's objects in the victim tenant, by path parameter (``tenant_id``, ``site_id``,
#: ``badge_id``…), made by each component's manifest (``Component.wall_target``).
Target = dict[str, Any]


async def make_target(db: Database, tenant_key: str, demo: dict[str, Any]) -> Target:
    """Every component's objects in the victim tenant, in component order."""
    tenant_id = uuid.UUID(demo["tenant_ids"][tenant_key])
    target: Target = {"tenant_id": tenant_id}
    async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
        for make in wall_targets():
            target.update(await make(session, tenant_id, dict(target)))
    return target


def parameterised_routes(app: Any) -> list[tuple[str, list[str], list[tuple[str, Any]]]]:
    """(path format, parameter names, [(method, handler)]) of every HTTP route with path parameters."""
    out = []
    for route in app.routes:
        if not route.path_parameters:
            continue
        if not isinstance(route, HTTPRoute):
            assert route.path_format in EXEMPT, (
                f"{type(route).__name__} {route.path_format} has path parameters: teach the wall walk to call it "
                "or list it in EXEMPT with the reason it holds no tenant data"
            )
            continue
        handlers = [
            (method, route.route_handler_map[method][0])
            for method in sorted(route.methods) if method not in ("HEAD", "OPTIONS")
        ]
        out.append((route.path_format, list(route.path_parameters), handlers))
    return out


def _is_text(type_info: Any) -> bool:
    if isinstance(type_info, msgspec.inspect.Metadata):
        return _is_text(type_info.type)
    if isinstance(type_info, msgspec.inspect.UnionType):
        return any(_is_text(t) for t in type_info.types)
    return isinstance(type_info, msgspec.inspect.StrType)


def json_body(handler: Any) -> dict[str, Any]:
    """A body that fits the handler's schema (every text field says "Intrus"), so that schema
    validation is never what stops the call, and a leak would write."""
    field = handler.parsed_data_field
    struct = field.annotation if field is not None else None
    # An optional body (``Struct | None``): the struct it may be.
    struct = next((t for t in typing.get_args(struct) if t is not type(None)), struct)
    if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
        return {"name": "Intrus"}
    info = msgspec.inspect.type_info(struct)
    return {f.encode_name: "Intrus" for f in info.fields if _is_text(f.type)}


def fill(path_format: str, params: list[str], target: Target, **override: Any) -> str:
    unknown = [p for p in params if p not in target]
    assert not unknown, (
        f"route {path_format}: no filler for path parameter(s) {unknown}. Return an object of the other "
        f"tenant for it from the wall_target of the component's manifest (X/component.py), "
        f"or list the route in EXEMPT if it holds no tenant data."
    )
    values = {p: override.get(p, target[p]) for p in params}
    return path_format.format(**values)


async def snapshot(admin_db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the database, read with the table owner's connection (no RLS)."""
    out = {}
    async with admin_db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        for name in sorted(names):
            result = await conn.execute(text(f'SELECT * FROM "{name}"'))
            keep = [i for i, key in enumerate(result.keys()) if key not in VOLATILE]
            out[name] = sorted(tuple(repr(row[i]) for i in keep) for row in result.all())
    assert "sites" in out and "audit_events" in out
    return out


class Caller:
    """One account, seen as a browser (session cookie + CSRF) and as an API client (bearer token)."""

    def __init__(self, client: Any, bearer: dict[str, str], csrf: str) -> None:
        self.client = client
        self.bearer = bearer
        self.csrf = csrf

    @classmethod
    async def sign_in(cls, client: Any, api_token: Any, email: str) -> Caller:
        client.cookies.clear()
        response = await login(client, email)
        assert response.status_code in (302, 303), response.text[:300]
        # The CSRF token belongs to the session: any page of the logged-in session shows it.
        return cls(client, await api_token(email), csrf_from((await client.get("/compte")).text))

    async def call(self, method: str, url: str, handler: Any) -> Any:
        if url.startswith("/api/"):
            body = json_body(handler) if method in UNSAFE else None
            return await self.client.request(method, url, headers=self.bearer, json=body)
        if method in UNSAFE:
            token = self.csrf
            form = {"_csrf_token": token, "name": "Intrus", "email": "intrus@exemple.fr", "role": "admin", "insee_code": "69266"}
            return await self.client.request(method, url, headers={"x-csrftoken": token}, data=form)
        return await self.client.request(method, url)


async def walk(caller: Caller, app: Any, target: Target, *, own_tenant: uuid.UUID | None = None) -> list[str]:
    """Call every parameterised route at ``target``; the calls that did not answer 404."""
    leaks = []
    calls = 0
    for path_format, params, handlers in parameterised_routes(app):
        if path_format in EXEMPT:
            continue
        urls = [fill(path_format, params, target)]
        if own_tenant is not None and "tenant_id" in params and len(params) > 1:
            # The caller's own tenant with the other tenant's objects.
            urls.append(fill(path_format, params, target, tenant_id=own_tenant))
        for url in urls:
            for method, handler in handlers:
                response = await caller.call(method, url, handler)
                calls += 1
                if response.status_code != 404:
                    leaks.append(f"{method} {url} ({path_format}) -> {response.status_code}")
    assert calls, "the walk called nothing"
    return leaks


async def test_every_route_refuses_another_tenants_ids(app, client, db, admin_db, demo, api_token):
    target = await make_target(db, "commune", demo)
    own = uuid.UUID(demo["tenant_ids"]["cpam"])
    caller = await Caller.sign_in(client, api_token, "admin@cpam72.demo")
    before = await snapshot(admin_db)

    leaks = await walk(caller, app, target, own_tenant=own)

    assert leaks == [], "cross-tenant calls that did not answer 404:\n" + "\n".join(leaks)
    assert await snapshot(admin_db) == before
    # The walk's own calls are routed and authorised: the same caller reaches its own tenant.
    assert (await client.get(f"/t/{own}")).status_code == 200
    assert (await client.get(f"/api/v1/tenants/{own}/sites", headers=caller.bearer)).status_code == 200


async def test_walk_covers_the_tenant_routes_of_portal_and_api(app):
    covered = {path for path, params, _ in parameterised_routes(app) if "tenant_id" in params}
    assert "/api/v1/tenants/{tenant_id}/sites/{site_id}" in covered
    assert "/api/v1/tenants/{tenant_id}/users/{user_id}" in covered
    assert any(path.startswith("/t/{tenant_id}") for path in covered)


async def test_coordinator_cannot_reach_a_tenant_outside_its_central(app, client, db, admin_db, demo, api_token):
    # CPAM de la Sarthe is a direct buyer: no agreement of the CAIH.
    target = await make_target(db, "cpam", demo)
    caller = await Caller.sign_in(client, api_token, "coordination@caih.demo")
    before = await snapshot(admin_db)

    leaks = await walk(caller, app, target)

    assert leaks == [], "CAIH coordinator reached CPAM:\n" + "\n".join(leaks)
    assert await snapshot(admin_db) == before
    own = demo["tenant_ids"]["chr"]
    assert (await client.get(f"/api/v1/tenants/{own}", headers=caller.bearer)).status_code == 200


async def test_coordinator_cannot_open_another_central(app, client, db, admin_db, demo, api_token):
    target = await make_target(db, "chr", demo)
    assert target["central_code"] == "CAIH"
    caller = await Caller.sign_in(client, api_token, "coordination@canut.demo")
    before = await snapshot(admin_db)

    leaks = await walk(caller, app, target)

    assert leaks == [], "CANUT coordinator reached CAIH:\n" + "\n".join(leaks)
    assert await snapshot(admin_db) == before
    assert (await client.get("/c/CANUT")).status_code == 200
    assert (await client.get("/api/v1/centrals/CANUT/tenants", headers=caller.bearer)).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_unknown_parameter_fails_the_walk(app, db, demo):
    """The walk refuses to skip what it cannot fill, so a new route cannot slip past it."""
    target = await make_target(db, "commune", demo)
    with pytest.raises(AssertionError, match="no filler for path parameter"):
        fill("/t/{tenant_id}/stations/{station_id}", ["tenant_id", "station_id"], target)
