"""Input bounds (issue 10; OWASP ASVS 4.0 V5.1): what comes from outside is bounded where
it enters, with a clear 400 / 422 and nothing written, never a 500 (app/bounds.py)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import msgspec
import pytest
from litestar.routes import HTTPRoute
from sqlalchemy import func, select

from app.bounds import MAX_BODY_BYTES
from app.db import unscoped as unscoped_session
from tenants import services
from tenants.models import Site
from tests.conftest import csrf_from, form_post, login
from tests.test_tenant_walls import snapshot

HUGE = ["9" * 40, str(2**63 - 1), str(2**63), "-" + "9" * 30]


def int_query_parameters(app: Any) -> list[tuple[str, str, list[str]]]:
    """(path format, method, int query parameter names) of every GET route."""
    out = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if method != "GET":
                continue
            names = [name for name, field in handler.parsed_fn_signature.parameters.items()
                     if name not in route.path_parameters and field.annotation is int]
            if names:
                out.append((route.path_format, method, names))
    return out


async def test_every_integer_query_parameter_is_bounded(app, client, demo, api_token):
    """``page=`` followed by forty 9s, or 2^63: a 400 that names the parameter, not a 500."""
    cpam = demo["tenant_ids"]["cpam"]
    routes = int_query_parameters(app)
    paths = {p for p, _, _ in routes}
    assert "/t/{tenant_id}/journal" in paths and "/api/v1/stations" in paths
    fills = {"tenant_id": cpam, "central_code": "CANUT", "charge_box_id": "CPAM-LM-01"}
    problems = []
    def who(path: str) -> int:
        return 2 if path.startswith("/operateur") else 1 if "/c/" in path or "/centrals/" in path else 0

    for path_format, _method, names in sorted(routes, key=lambda r: who(r[0])):
        url = path_format.format(**fills)
        if who(url) == 2 and fills.get("as") != "operator":
            # The operator's pages across its tenants.
            client.cookies.clear()
            await login(client, "technicien@titulaire.demo")
            bearer, fills["as"] = {}, "operator"
        elif who(url) == 1 and fills.get("as") != "coordinator":
            # The central's pages are the coordinator's.
            client.cookies.clear()
            await login(client, "coordination@canut.demo")
            bearer, fills["as"] = await api_token("coordination@canut.demo"), "coordinator"
        elif "as" not in fills:
            await login(client, "admin@cpam72.demo")
            bearer, fills["as"] = await api_token("admin@cpam72.demo"), "admin"
        for name in names:
            for value in HUGE:
                response = await client.get(url, params={name: value},
                                            headers=bearer if url.startswith("/api/") else {})
                if response.status_code != 400 or name not in response.text:
                    problems.append(f"GET {url}?{name}={value[:12]}… -> {response.status_code}")
    assert problems == [], "\n".join(problems)
    client.cookies.clear()
    await login(client, "admin@cpam72.demo")
    page = await client.get(f"/t/{cpam}/journal", params={"page": "9" * 40})
    assert "Paramètre invalide ou hors limites : « page »." in page.text


def _unbounded_ints(type_info: Any, path: str) -> list[str]:
    t = type_info
    if isinstance(t, msgspec.inspect.Metadata):
        t = t.type
    if isinstance(t, msgspec.inspect.IntType):
        return [] if t.ge is not None and t.le is not None else [path]
    if isinstance(t, msgspec.inspect.UnionType):
        return [p for x in t.types for p in _unbounded_ints(x, path)]
    if isinstance(t, msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.FrozenSetType):
        return _unbounded_ints(t.item_type, path + "[]")
    if isinstance(t, msgspec.inspect.StructType):
        return [p for f in t.fields for p in _unbounded_ints(f.type, f"{path}.{f.name}")]
    return []


def test_every_integer_of_an_api_body_is_bounded(app):
    """A new API field of type ``int`` without bounds fails here: use app.bounds.Int32,
    NonNegative32 or a narrower ``Meta(ge=…, le=…)``."""
    unbounded = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler, _ in route.route_handler_map.values():
            field = handler.parsed_data_field
            struct = field.annotation if field is not None else None
            if isinstance(struct, type) and issubclass(struct, msgspec.Struct):
                unbounded += _unbounded_ints(msgspec.inspect.type_info(struct), struct.__name__)
    assert sorted(set(unbounded)) == []


async def test_a_reservation_on_connector_two_to_the_63_is_a_field_error(client, db, admin_db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    bearer = await api_token("admin@cpam72.demo")
    await login(client, "admin@cpam72.demo")
    # The page creates the tenant's reservation policy on first sight: before the snapshot.
    assert (await client.get(f"/t/{cpam}/reservations")).status_code == 200
    before = await snapshot(admin_db)
    monday = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
    body = {"charge_box_id": "CPAM-LM-01", "connector_id": 2**63, "id_tag": "CPAM-AGENT-01",
            "starts_at": monday.isoformat(), "ends_at": (monday + dt.timedelta(hours=1)).isoformat()}
    api = await client.post(f"/api/v1/tenants/{cpam}/reservations", headers=bearer, json=body)
    assert api.status_code in (400, 422) and "connector_id" in api.text, api.text
    form = {"charge_box_id": "CPAM-LM-01", "connector_id": str(2**63), "id_tag": "CPAM-AGENT-01",
            "starts_at": "2026-12-07T10:00", "ends_at": "2026-12-07T11:00"}
    portal = await form_post(client, f"/t/{cpam}/reservations", f"/t/{cpam}/reservations", form)
    assert portal.status_code == 422 and "Connecteur : de 0 à" in portal.text
    assert await snapshot(admin_db) == before


@pytest.mark.parametrize("body", [
    b'{"name": "\xff\xfe Site"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"name": "Site", "notes": ' + b"[" * 990 + b"]" * 990 + b"}",
], ids=["invalid-utf8", "nested-100000", "nested-990"])
async def test_a_json_body_in_bad_utf8_or_nested_deep_is_a_400(client, admin_db, demo, api_token, body):
    cpam = demo["tenant_ids"]["cpam"]
    bearer = await api_token("admin@cpam72.demo")
    before = await snapshot(admin_db)
    response = await client.post(f"/api/v1/tenants/{cpam}/sites", content=body,
                                 headers={**bearer, "content-type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["title"].startswith("Corps de la requête")
    assert await snapshot(admin_db) == before


async def test_a_body_over_the_limit_is_a_413(client, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    body = json.dumps({"name": "Site", "notes": "x" * (MAX_BODY_BYTES + 10)})
    response = await client.post(f"/api/v1/tenants/{cpam}/sites", content=body,
                                 headers={**await api_token("admin@cpam72.demo"), "content-type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize(("field", "size", "message"), [
    ("name", 10_000, "Nom : 200 caractères au plus (10\u202f000 saisis)."),
    ("notes", 5_000_00, "Notes : 1\u202f000 caractères au plus (500\u202f000 saisis)."),
    ("address", 301, "Adresse : 300 caractères au plus (301 saisis)."),
])
async def test_free_text_longer_than_its_column_is_a_french_field_error(client, db, admin_db, demo, api_token,
                                                                        field, size, message):
    cpam = demo["tenant_ids"]["cpam"]
    bearer = await api_token("admin@cpam72.demo")
    await login(client, "admin@cpam72.demo")
    before = await snapshot(admin_db)
    data = {"name": "Site borné", "insee_code": "72181", field: "é" * size}
    api = await client.post(f"/api/v1/tenants/{cpam}/sites", headers=bearer, json=data)
    assert api.status_code == 422 and api.json()["errors"][field] == message
    portal = await form_post(client, f"/t/{cpam}/sites/nouveau", f"/t/{cpam}/sites/nouveau", data)
    assert portal.status_code == 422 and message.replace("\u202f", "&#8239;") in portal.text or message in portal.text
    assert await snapshot(admin_db) == before


async def test_a_csv_field_over_its_limit_is_a_line_error_of_the_import(client, db, admin_db, demo):
    cpam = demo["tenant_ids"]["cpam"]
    await login(client, "admin@cpam72.demo")
    page = await client.get(f"/t/{cpam}/bornes/import")
    header = "charge_box_id;password;site;canonical_id;station;station_name;points;power_kw;socket_types;usage_name;lenient"
    line = f"LONG-01;Borne-secret-2026-long;Siège — parking des véhicules de service;;;{'N' * 5000};1;22;T2;;non"
    before = await snapshot(admin_db)
    response = await client.post(f"/t/{cpam}/bornes/import", data={"_csrf_token": csrf_from(page.text)},
                                 files={"file": ("bornes.csv", (header + "\r\n" + line + "\r\n").encode(), "text/csv")})
    assert response.status_code == 422, response.text[:500]
    assert "Nom de la station : 200 caractères au plus" in response.text and '<th scope="row">2</th>' in response.text
    assert await snapshot(admin_db) == before


async def test_charge_box_ids_are_unique_regardless_of_case(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    commune = demo["tenant_ids"]["commune"]
    async with db.session([uuid.UUID(commune)]) as session:
        site = (await services.list_sites(session, uuid.UUID(commune)))[0]
    first = await client.post("/api/v1/stations", headers=await api_token("admin@villeurbanne.demo"),
                              json={"tenant_id": commune, "charge_box_id": "IMP-OK-01", "password": "Borne-secret-2026-casse",
                                    "site": str(site.id), "points": 1})
    assert first.status_code == 201, first.text
    async with db.session([uuid.UUID(cpam)]) as session:
        cpam_site = (await services.list_sites(session, uuid.UUID(cpam)))[0]
    second = await client.post("/api/v1/stations", headers=await api_token("admin@cpam72.demo"),
                               json={"tenant_id": cpam, "charge_box_id": "imp-ok-01", "password": "Borne-secret-2026-casse",
                                     "site": str(cpam_site.id), "points": 1})
    assert second.status_code == 422 and "déjà enregistré" in second.json()["errors"]["charge_box_id"]


async def test_two_tenants_sites_in_one_commune_never_share_a_building_code(client, db, admin_db, demo, api_token):
    """CCTP CPAM 5-5-1: FR + INSEE + B + building code + station/charger/point. The Villeurbanne
    town hall holds 69266/0001; the CPAM opening a site in Villeurbanne gets 0002."""
    cpam = demo["tenant_ids"]["cpam"]
    bearer = await api_token("admin@cpam72.demo")
    taken = await client.post(f"/api/v1/tenants/{cpam}/sites", headers=bearer,
                              json={"name": "Agence de Villeurbanne", "insee_code": "69266", "building_code": "0001"})
    assert taken.status_code == 422 and "déjà attribué" in taken.json()["errors"]["building_code"]
    given = await client.post(f"/api/v1/tenants/{cpam}/sites", headers=bearer,
                              json={"name": "Agence de Villeurbanne", "insee_code": "69266"})
    assert given.status_code == 201 and given.json()["building_code"] == "0002", given.text
    async with admin_db.session() as session:
        with unscoped_session(session):
            codes = (await session.execute(select(Site.insee_code, Site.building_code, func.count())
                                           .group_by(Site.insee_code, Site.building_code))).all()
    assert all(count == 1 for _, _, count in codes)
