"""The catalog's API (issue 14 §5): the shapes of 201 and 422, nothing stored on a refused BPU, and the walls —
another central's coordinator and a beneficiary that does not subscribe get 404."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from catalog.models import BpuVersion

HEADER = "code_article;libelle;unite;prix_unitaire_ht;taux_tva;famille;complexite;constructeur;achat_location"
GOOD = f"{HEADER}\nIOT-CAP-TEMP;Capteur de température;unité;79,90;20;Fourniture;;Adeunis;achat\n"
BAD = f"{HEADER}\nA;Capteur;unité;1;20;Fourniture;;;\nB;Passerelle;unité;cher;20;Fourniture;;;\nC;;u;1;200;Fourniture;;;\n"


async def _agreement_id(client, headers, code="CANUT", reference="2024_AOO_IOT") -> str:
    response = await client.get(f"/api/v1/centrals/{code}/agreements", headers=headers)
    assert response.status_code == 200, response.text
    return next(a["id"] for a in response.json() if a["reference"] == reference)


async def _versions(db) -> int:
    async with db.session() as session:
        return await session.scalar(select(func.count()).select_from(BpuVersion))


async def test_import_201_and_the_version_in_force(client, db, demo, api_token):
    canut = await api_token("coordination@canut.demo")
    agreement = await _agreement_id(client, canut)
    response = await client.post(f"/api/v1/agreements/{agreement}/bpu?valid_from=2026-01-01", headers=canut,
                                 content=GOOD.encode(), )
    assert response.status_code == 201, response.text
    body = response.json()
    assert {k: body[k] for k in ("agreement_id", "version", "valid_from", "line_count", "imported_by")} == {
        "agreement_id": agreement, "version": 2, "valid_from": "2026-01-01", "line_count": 1,
        "imported_by": "coordination@canut.demo"}
    # The beneficiary that subscribes reads the version in force; the demo's on an earlier date.
    commune = await api_token("admin@villeurbanne.demo")
    in_force = (await client.get(f"/api/v1/agreements/{agreement}/bpu", headers=commune)).json()
    assert in_force["version"] == 2
    assert in_force["items"] == [{"article_code": "IOT-CAP-TEMP", "label": "Capteur de température", "unit": "unité",
                                  "unit_price_ht": "79.9000", "vat_rate": "20.00", "family": "supply",
                                  "complexity": None, "maker": "Adeunis", "purchase_or_rental": "achat"}]
    earlier = (await client.get(f"/api/v1/agreements/{agreement}/bpu?on=2025-06-01", headers=canut)).json()
    assert (earlier["version"], len(earlier["items"])) == (1, 7)
    assert (await client.get(f"/api/v1/agreements/{agreement}/bpu?on=2020-01-01", headers=canut)).status_code == 404
    assert (await client.get(f"/api/v1/agreements/{agreement}/bpu?on=demain", headers=canut)).status_code == 422


async def test_a_refused_import_is_422_with_every_line_and_stores_nothing(client, db, demo, api_token):
    canut = await api_token("coordination@canut.demo")
    agreement = await _agreement_id(client, canut)
    before = await _versions(db)
    response = await client.post(f"/api/v1/agreements/{agreement}/bpu", headers=canut, content=BAD.encode())
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["title"] == "Import refusé"
    assert body["lines"] == [
        {"line": 3, "messages": ["prix_unitaire_ht : nombre attendu (« cher »)"]},
        {"line": 4, "messages": ["libelle : obligatoire",
                                 "taux_tva : un pourcentage entre 0 et 100, deux décimales au plus (20 pour 20 %)"]}]
    assert await _versions(db) == before
    empty = await client.post(f"/api/v1/agreements/{agreement}/bpu", headers=canut, content=b"")
    assert empty.status_code == 422
    bad_day = await client.post(f"/api/v1/agreements/{agreement}/bpu?valid_from=01-01-2026", headers=canut,
                                content=GOOD.encode())
    assert bad_day.status_code == 422 and await _versions(db) == before


async def test_walls_of_agreements_and_catalog(client, db, demo, api_token):
    canut, caih = await api_token("coordination@canut.demo"), await api_token("coordination@caih.demo")
    cpam = await api_token("admin@cpam72.demo")
    agreement = await _agreement_id(client, canut)
    before = await _versions(db)
    # Another central's coordinator: 404 on the central, on the agreement's BPU, on the import.
    assert (await client.get("/api/v1/centrals/CANUT/agreements", headers=caih)).status_code == 404
    assert (await client.post(f"/api/v1/agreements/{agreement}/bpu", headers=caih, content=GOOD.encode())).status_code == 404
    assert (await client.get(f"/api/v1/agreements/{agreement}/bpu", headers=caih)).status_code == 404
    # A beneficiary that does not subscribe: 404; one that does may read but not import.
    assert (await client.get(f"/api/v1/agreements/{agreement}/bpu", headers=cpam)).status_code == 404
    commune = await api_token("admin@villeurbanne.demo")
    assert (await client.post(f"/api/v1/agreements/{agreement}/bpu", headers=commune, content=GOOD.encode())).status_code == 404
    assert (await client.get(f"/api/v1/agreements/{uuid.uuid4()}/bpu", headers=canut)).status_code == 404
    assert await _versions(db) == before
    # The catalog of another tenant
    commune_id = demo["tenant_ids"]["commune"]
    assert (await client.get(f"/api/v1/tenants/{commune_id}/catalog", headers=cpam)).status_code == 404
    assert (await client.get(f"/api/v1/tenants/{commune_id}/catalog", headers=caih)).status_code == 404


async def test_the_catalog_of_a_beneficiary(client, demo, api_token):
    commune = await api_token("admin@villeurbanne.demo")
    url = f"/api/v1/tenants/{demo['tenant_ids']['commune']}/catalog"
    body = (await client.get(url, headers=commune)).json()
    assert (body["total"], body["page"], body["per_page"]) == (7, 1, 50)
    found = (await client.get(url, params={"search": "passerelle", "maker": "Kerlink", "family": "supply"},
                              headers=commune)).json()
    assert [(x["item"]["article_code"], x["item"]["unit_price_ht"], x["unit_price_ttc"], x["agreement_reference"])
            for x in found["items"]] == [("IOT-GW-LOC", "39.0000", "46.80", "2024_AOO_IOT"),
                                         ("IOT-GW-OUT", "1250.0000", "1500.00", "2024_AOO_IOT")]
    assert (await client.get(url, params={"family": "grille-pain"}, headers=commune)).status_code == 422
    # The central's coordinator sees its beneficiary's catalog
    canut = await api_token("coordination@canut.demo")
    assert (await client.get(url, headers=canut)).json()["total"] == 7


async def test_solutions_lifecycle_through_the_api(client, demo, api_token):
    import datetime as dt

    canut, caih = await api_token("coordination@canut.demo"), await api_token("coordination@caih.demo")
    agreement = await _agreement_id(client, canut)
    base = f"/api/v1/agreements/{agreement}/solutions"
    power = {"name": "Portée", "unit": "km", "value": "10"}
    old = await client.post(base, headers=canut, json={"code": "GW-1", "name": "Passerelle", "price_ht": "1250,00",
                                                      "characteristics": [power]})
    assert old.status_code == 201, old.text
    old = old.json()
    assert (old["status"], old["price_ht"], old["characteristics"]) == ("proposed", "1250.00", [power])
    bad = await client.post(base, headers=canut, json={"code": "GW-1", "name": "", "price_ht": "cher"})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"code", "name", "price_ht"}
    approved = await client.post(f"{base}/{old['id']}/approve", headers=canut)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    new = (await client.post(base, headers=canut, json={
        "code": "GW-2", "name": "Passerelle V2", "price_ht": "1300",
        "characteristics": [{"name": "Portée", "unit": "km", "value": "15"}]})).json()
    today = dt.date.today()
    early = await client.post(f"{base}/{old['id']}/withdraw", headers=canut, json={
        "effective_on": (today + dt.timedelta(days=41)).isoformat()})
    assert early.status_code == 422 and "8-1-2-2" in early.json()["errors"]["effective_on"]  # CPAM 8-1-2-2
    dearer = await client.post(f"{base}/{old['id']}/withdraw", headers=canut, json={
        "effective_on": (today + dt.timedelta(weeks=6)).isoformat(), "substitute_id": new["id"]})
    assert dearer.status_code == 422 and "8-1-3-1" in dearer.json()["errors"]["substitute_id"]  # price ≤
    # Another central's coordinator: 404 on every solution route, nothing changed
    assert (await client.get(base, headers=caih)).status_code == 404
    assert (await client.post(f"{base}/{old['id']}/withdraw", headers=caih, json={
        "effective_on": (today + dt.timedelta(weeks=6)).isoformat()})).status_code == 404
    assert (await client.post(base, headers=caih, json={"code": "X", "name": "X", "price_ht": "1"})).status_code == 404
    done = await client.post(f"{base}/{old['id']}/withdraw", headers=canut, json={
        "effective_on": (today + dt.timedelta(weeks=6)).isoformat()})
    assert done.status_code == 200
    assert [(e["from_status"], e["to_status"]) for e in done.json()["history"]] == [
        ("", "proposed"), ("proposed", "approved"), ("approved", "withdrawn")]
    # The subscribing beneficiary reads them
    commune = await api_token("admin@villeurbanne.demo")
    assert {s["code"] for s in (await client.get(base, headers=commune)).json()} >= {"GW-1", "GW-2"}
