"""The JSON API ``/api/v1``: the portals' operations under the same rules, with bearer tokens."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from stdnum import luhn

from app.db import unscoped
from tenants.models import ApiToken, Tenant

PROBLEM = "application/problem+json"


def siret(prefix: str) -> str:
    return prefix + luhn.calc_check_digit(prefix)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status
    return body


async def count(db, model, tenant_id=None) -> int:
    async with db.session([tenant_id] if tenant_id else None) as session, session.begin():
        with unscoped(session):
            return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_site_lifecycle_with_a_bearer_token(client, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    auth = await api_token("admin@cpam72.demo")
    base = f"/api/v1/tenants/{cpam}/sites"

    created = await client.post(base, headers=auth, json={"name": "Parking visiteurs", "insee_code": "72181", "latitude": 48.01})
    assert created.status_code == 201, created.text
    site = created.json()
    # The demo's head office holds 72181/0001: a site created without a code gets the next free one (CCTP 5-5-1).
    assert site["name"] == "Parking visiteurs" and site["building_code"] == "0002" and site["latitude"] == 48.01

    listed = await client.get(base, headers=auth)
    assert listed.status_code == 200
    assert "Parking visiteurs" in [s["name"] for s in listed.json()]

    changed = await client.patch(f"{base}/{site['id']}", headers=auth, json={"city": "Le Mans", "building_code": "b002"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["city"] == "Le Mans" and changed.json()["building_code"] == "B002"
    assert changed.json()["name"] == "Parking visiteurs"  # fields not sent are left alone

    assert (await client.get(f"{base}/{site['id']}", headers=auth)).json()["city"] == "Le Mans"
    assert (await client.delete(f"{base}/{site['id']}", headers=auth)).status_code == 204
    assert_problem(await client.get(f"{base}/{site['id']}", headers=auth), 404)

    # Every change went to the tenant's audit log, signed by the token's account.
    events = await client.get(f"/api/v1/tenants/{cpam}/audit-events", headers=auth, params={"entity": "sites"})
    assert events.status_code == 200
    mine = [e for e in events.json()["items"] if e["entity_id"] == site["id"]]
    assert [e["action"] for e in mine] == ["delete", "update", "create"]
    assert {e["actor_label"] for e in mine} == {"admin@cpam72.demo (API)"}


async def test_invalid_siret_is_a_422_problem_with_field_errors_and_writes_nothing(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    admin = await api_token("admin@cpam72.demo")
    before = await client.get(f"/api/v1/tenants/{cpam}", headers=admin)

    response = await client.patch(f"/api/v1/tenants/{cpam}", headers=admin, json={"siret": "12345678901234", "city": "Ailleurs"})
    body = assert_problem(response, 422)
    assert set(body["errors"]) == {"siret"}
    assert "SIRET" in body["errors"]["siret"]
    assert (await client.get(f"/api/v1/tenants/{cpam}", headers=admin)).json() == before.json()

    coordinator = await api_token("coordination@canut.demo")
    tenants_before = await count(db, Tenant)
    response = await client.post(
        "/api/v1/centrals/CANUT/tenants", headers=coordinator,
        json={"name": "Commune de Test", "siret": "2169002660001X", "postal_code": "6910"},
    )
    body = assert_problem(response, 422)
    assert set(body["errors"]) == {"siret", "postal_code"}
    assert await count(db, Tenant) == tenants_before


async def test_body_that_does_not_fit_the_schema(client, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    auth = await api_token("admin@cpam72.demo")
    base = f"/api/v1/tenants/{cpam}/sites"

    body = assert_problem(await client.post(base, headers=auth, json={"insee_code": "72181"}), 422)
    assert body["errors"] == {"name": "Champ obligatoire."}
    body = assert_problem(await client.post(base, headers=auth, json={"nmae": "X", "name": "X", "insee_code": "72181"}), 422)
    assert body["errors"] == {"nmae": "Champ inconnu."}
    body = assert_problem(await client.post(base, headers=auth, json={"name": "X", "insee_code": "72181", "latitude": "nord"}), 422)
    assert list(body["errors"]) == ["latitude"]

    broken = await client.post(base, headers={**auth, "content-type": "application/json"}, content=b'{"name": "X",')
    assert assert_problem(broken, 400)["title"].startswith("Corps de requête invalide")
    assert_problem(await client.get(f"/api/v1/tenants/{cpam}/audit-events", headers=auth, params={"page": "abc"}), 400)
    assert_problem(await client.get("/api/v1/tenants/not-a-uuid/sites", headers=auth), 404)
    assert_problem(await client.get(f"{base}/123", headers=auth), 404)
    # Nothing of the above created a site.
    assert [s["name"] for s in (await client.get(base, headers=auth)).json()] == ["Siège — parking des véhicules de service"]


async def test_viewer_token_reads_but_may_not_write(client, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    viewer = await api_token("visu@cpam72.demo")
    sites = await client.get(f"/api/v1/tenants/{cpam}/sites", headers=viewer)
    assert sites.status_code == 200
    site_id = sites.json()[0]["id"]
    users = (await client.get(f"/api/v1/tenants/{cpam}/users", headers=viewer)).json()
    admin_id = next(u["user_id"] for u in users if u["role"] == "admin")

    writes = [
        ("POST", f"/api/v1/tenants/{cpam}/sites", {"name": "Interdit", "insee_code": "72181"}),
        ("PATCH", f"/api/v1/tenants/{cpam}/sites/{site_id}", {"name": "Interdit"}),
        ("DELETE", f"/api/v1/tenants/{cpam}/sites/{site_id}", None),
        ("PATCH", f"/api/v1/tenants/{cpam}", {"name": "Interdit"}),
        ("POST", f"/api/v1/tenants/{cpam}/users", {"email": "x@exemple.fr", "role": "admin"}),
        ("PATCH", f"/api/v1/tenants/{cpam}/users/{admin_id}", {"role": "viewer"}),
        ("DELETE", f"/api/v1/tenants/{cpam}/users/{admin_id}", None),
    ]
    for method, url, payload in writes:
        response = await client.request(method, url, headers=viewer, json=payload)
        assert_problem(response, 403)
    assert_problem(await client.get(f"/api/v1/tenants/{cpam}/audit-events", headers=viewer), 403)
    assert (await client.get(f"/api/v1/tenants/{cpam}/sites", headers=viewer)).json() == sites.json()
    assert (await client.get(f"/api/v1/tenants/{cpam}/users", headers=viewer)).json() == users


async def test_members_are_added_changed_and_removed_and_one_admin_remains(client, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    auth = await api_token("admin@cpam72.demo")
    base = f"/api/v1/tenants/{cpam}/users"

    added = await client.post(base, headers=auth, json={"email": "Nouvelle@Exemple.fr", "role": "viewer", "full_name": "Nina"})
    assert added.status_code == 202, added.text
    assert added.json()["email"] == "nouvelle@exemple.fr" and added.json()["role_label"] == "Visualisation"
    member = next(u for u in (await client.get(base, headers=auth)).json() if u["email"] == "nouvelle@exemple.fr")
    assert member["role"] == "viewer" and member["full_name"] == "Nina"
    body = assert_problem(await client.post(base, headers=auth, json={"email": "nouvelle@exemple.fr", "role": "viewer"}), 422)
    assert "email" in body["errors"]
    body = assert_problem(await client.post(base, headers=auth, json={"email": "autre@exemple.fr", "role": "chef"}), 422)
    assert body["errors"]["role"].startswith("Profil inconnu")

    promoted = await client.patch(f"{base}/{member['user_id']}", headers=auth, json={"role": "admin"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    assert (await client.delete(f"{base}/{member['user_id']}", headers=auth)).status_code == 204
    assert_problem(await client.get(f"{base}/{member['user_id']}", headers=auth), 404)

    me = next(u for u in (await client.get(base, headers=auth)).json() if u["email"] == "admin@cpam72.demo")
    body = assert_problem(await client.patch(f"{base}/{me['user_id']}", headers=auth, json={"role": "viewer"}), 422)
    assert body["errors"]["role"] == "Le bénéficiaire doit garder au moins un administrateur."


async def test_coordinator_lists_searches_and_creates_beneficiaries(client, demo, api_token):
    auth = await api_token("coordination@caih.demo")
    visible = (await client.get("/api/v1/tenants", headers=auth)).json()
    assert [(t["id"], t["role"]) for t in visible] == [(demo["tenant_ids"]["chr"], "coordinator")]

    created = await client.post(
        "/api/v1/centrals/caih/tenants", headers=auth,
        json={"name": "Centre hospitalier de Test", "finess": siret("57000002"), "insee_code": "57463"},
    )
    assert created.status_code == 201, created.text
    found = await client.get("/api/v1/centrals/CAIH/tenants", headers=auth, params={"q": "test"})
    assert found.status_code == 200
    assert found.json()["total"] == 1 and found.json()["items"][0]["id"] == created.json()["id"]
    everything = (await client.get("/api/v1/centrals/CAIH/tenants", headers=auth)).json()
    assert everything["total"] == 2 and everything["pages"] == 1
    # The new beneficiary is in the coordinator's scope at once.
    tenant_id = created.json()["id"]
    assert (await client.get(f"/api/v1/tenants/{tenant_id}/sites", headers=auth)).json() == []
    assert_problem(await client.get("/api/v1/centrals/CANUT/tenants", headers=auth), 404)


async def test_tokens_are_shown_once_listed_without_secret_and_revocable(client, db, demo, api_token):
    auth = await api_token("admin@cpam72.demo")
    created = await client.post("/api/v1/tokens", headers=auth, json={"name": "supervision", "days": 30})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("ctr_") and created.json()["expires_at"]

    listed = await client.get("/api/v1/tokens", headers=auth)
    assert listed.status_code == 200
    assert token not in listed.text and "token_hash" not in listed.text
    assert {t["name"] for t in listed.json()} == {"test", "supervision"}

    assert [t["last_used_at"] for t in listed.json() if t["name"] == "supervision"] == [None]
    fresh = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=fresh)).json()["email"] == "admin@cpam72.demo"
    # The account page shows when each token was last used.
    used = {t["name"]: t["last_used_at"] for t in (await client.get("/api/v1/tokens", headers=auth)).json()}
    assert used["supervision"] is not None and used["test"] is not None
    # Another account's token cannot be revoked: it does not exist for this caller.
    other = await api_token("visu@cpam72.demo")
    other_id = (await client.get("/api/v1/tokens", headers=other)).json()[0]["id"]
    assert_problem(await client.delete(f"/api/v1/tokens/{other_id}", headers=auth), 404)
    assert (await client.get("/api/v1/me", headers=other)).status_code == 200

    assert (await client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=auth)).status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=fresh), 401)
    assert await count(db, ApiToken) == 3


async def test_openapi_documents_the_api_and_not_the_portals(client, demo):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    paths = doc["paths"]
    for path in (
        "/api/v1/tenants", "/api/v1/tenants/{tenant_id}", "/api/v1/centrals/{central_code}/tenants",
        "/api/v1/tenants/{tenant_id}/sites", "/api/v1/tenants/{tenant_id}/sites/{site_id}",
        "/api/v1/tenants/{tenant_id}/users", "/api/v1/tenants/{tenant_id}/users/{user_id}",
        "/api/v1/tenants/{tenant_id}/audit-events", "/api/v1/tokens", "/api/v1/tokens/{token_id}",
    ):
        assert path in paths, path
    assert [p for p in paths if not p.startswith("/api/v1/")] == []
    assert set(paths["/api/v1/tenants/{tenant_id}/sites/{site_id}"]) >= {"get", "patch", "delete"}
    create = paths["/api/v1/tenants/{tenant_id}/sites"]["post"]
    assert create["summary"] == "Créer un site" and create["tags"] == ["Sites"]
    schemas = doc["components"]["schemas"]
    assert set(schemas["SiteCreate"]["required"]) == {"name", "insee_code"}
    assert "token" in schemas["TokenCreated"]["properties"] and "token" not in schemas["TokenOut"]["properties"]
    # Errors are documented as they are sent, and the bearer scheme lets Swagger UI authorise.
    assert create["responses"]["422"]["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "errors" in schemas["Problem"]["properties"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"



async def test_a_site_that_still_carries_equipment_is_not_deleted(client, db, demo, api_token):
    csms_models = pytest.importorskip("csms.domain.models")
    cpam = demo["tenant_ids"]["cpam"]
    auth = await api_token("admin@cpam72.demo")
    site = (await client.get(f"/api/v1/tenants/{cpam}/sites", headers=auth)).json()[0]
    async with db.transaction([uuid.UUID(cpam)], actor={"user_id": None, "label": "test"}) as session:
        session.add(csms_models.Station(tenant_id=uuid.UUID(cpam), site_id=uuid.UUID(site["id"]), number=98,
                                        canonical_id="FR72181S0001980000", name="Le Mans"))

    body = assert_problem(await client.delete(f"/api/v1/tenants/{cpam}/sites/{site['id']}", headers=auth), 422)
    assert body["errors"]["site"].startswith("Ce site porte encore des équipements")
    assert (await client.get(f"/api/v1/tenants/{cpam}/sites/{site['id']}", headers=auth)).status_code == 200
