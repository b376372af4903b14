"""The semester reports' API and page (issue 15 §1 and §6; CCTP CAIH 5): asked for, generated in the background,
kept and downloaded; the due dates and the late flag on the coordinator's page; another central's coordinator gets
404 everywhere."""

from __future__ import annotations

import asyncio
import io
import uuid

from openpyxl import load_workbook

from app.db import utcnow
from reporting.semester import PARIS, STATE_LABELS, semester_of
from tests.conftest import form_post, login_as, page_text

COORDINATOR = "coordination@caih.demo"


async def _drain(client, app) -> None:
    await asyncio.to_thread(client.blocking_portal.call, app.state.jobs.drain)


async def test_the_api_generates_in_the_background_and_serves_the_files(app, client, db, demo, api_token):
    caih = await api_token(COORDINATOR)
    asked = await client.post("/api/v1/centrals/CAIH/reports/semester", json={"year": 2026, "half": 1}, headers=caih)
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert body["status"] == "queued" and body["due_on"] == "2026-07-31" and body["files"] == []
    await _drain(client, app)
    done = (await client.get(f"/api/v1/centrals/CAIH/reports/{body['id']}", headers=caih)).json()
    assert done["status"] == "done" and done["progress"] == 100, done
    assert {f["format"] for f in done["files"]} == {"xlsx", "ods", "csv"}
    ods = next(f for f in done["files"] if f["format"] == "ods")
    got = await client.get(ods["href"], headers=caih)
    assert got.status_code == 200 and len(got.content) == ods["size"] and got.content[:2] == b"PK"
    assert got.headers["content-type"].startswith("application/vnd.oasis.opendocument.spreadsheet")
    assert "reporting-caih-2026-S1.ods" in got.headers["content-disposition"]
    link = next(f for f in done["files"] if f["format"] == "xlsx")
    got = await client.get(link["href"], headers=caih)
    assert got.status_code == 200 and len(got.content) == link["size"]
    assert "attachment" in got.headers["content-disposition"] and "reporting-caih-2026-S1.xlsx" in got.headers[
        "content-disposition"]
    assert load_workbook(io.BytesIO(got.content)).sheetnames[:2] == ["Synthèse", "source"]
    # Bad bodies are 422 per field; a semester to come is refused with its reason.
    assert (await client.post("/api/v1/centrals/CAIH/reports/semester", json={"year": 2026, "half": 3},
                              headers=caih)).status_code == 422
    later = await client.post("/api/v1/centrals/CAIH/reports/semester", json={"year": 2999, "half": 1}, headers=caih)
    assert later.status_code == 422 and "pas commencé" in later.text
    # Another central's coordinator: its report, its files and its route are 404, like unknown ones.
    canut = await api_token("coordination@canut.demo")
    assert (await client.get(f"/api/v1/centrals/CAIH/reports/{body['id']}", headers=canut)).status_code == 404
    assert (await client.get(f"/api/v1/centrals/CANUT/reports/{body['id']}", headers=canut)).status_code == 404
    assert (await client.get(link["href"].replace("/CAIH/", "/CANUT/"), headers=canut)).status_code == 404
    assert (await client.post("/api/v1/centrals/CAIH/reports/semester", json={"year": 2026, "half": 1},
                              headers=canut)).status_code == 404
    assert (await client.get(f"/api/v1/centrals/CAIH/reports/{uuid.uuid4()}", headers=caih)).status_code == 404


async def test_the_coordinator_page_shows_the_due_dates_generates_and_lists(app, client, db, demo):
    await login_as(client, COORDINATOR)
    page = await client.get("/c/CAIH/rapports")
    assert page.status_code == 200
    text = page_text(page)
    assert "Rapports semestriels" in text and "À fournir au plus tard le" in text and "Générer" in text
    assert 'href="/c/CAIH/rapports"' in page.text  # the menu entry
    home = page_text(await client.get("/c/CAIH"))
    assert "Rapports semestriels" in home and "à fournir au plus tard le" in home
    refused = await form_post(client, "/c/CAIH/rapports", "/c/CAIH/rapports", {"year": "20x6", "half": "1"})
    assert refused.status_code == 422 and "Année (AAAA)" in page_text(refused)
    made = await form_post(client, "/c/CAIH/rapports", "/c/CAIH/rapports", {"year": "2026", "half": "1"})
    assert made.status_code == 303
    await _drain(client, app)
    listed = page_text(await client.get("/c/CAIH/rapports"))
    assert "1er semestre 2026" in listed and "Terminé" in listed and "?format=xlsx" in listed and "?format=ods" in listed
    await login_as(client, "coordination@canut.demo")
    assert (await client.get("/c/CAIH/rapports")).status_code == 404



async def test_the_titulaire_operator_sees_each_centrals_due_date_and_late_flag(app, client, db, demo):
    """CCTP CAIH 5: the titulaire provides the report « tous les 6 mois avant le 31 janvier et le 31 juillet »; « La
    non fourniture des éléments de reporting dans les délais entrainera l'application systématique des pénalités »:
    the operator's home names each central of its beneficiaries with the previous semester's last day and state."""
    previous = semester_of(utcnow().astimezone(PARIS).date()).previous()
    line = f"{previous.label}, à fournir au plus tard le {previous.due_on:%d/%m/%Y}"
    await login_as(client, "technicien@titulaire.demo")
    home = page_text(await client.get("/operateur"))
    assert "Rapports semestriels au coordinateur" in home
    caih = home[home.index("Centrale d'achat de l'informatique hospitalière"):][:200]
    assert line in caih and STATE_LABELS["late"] in caih
    # The coordinator makes it (after the semester's end, past its last day): provided late.
    await login_as(client, COORDINATOR)
    made = await form_post(client, "/c/CAIH/rapports", "/c/CAIH/rapports",
                           {"year": str(previous.year), "half": str(previous.half)})
    assert made.status_code == 303
    await _drain(client, app)
    await login_as(client, "technicien@titulaire.demo")
    home = page_text(await client.get("/operateur"))
    caih = home[home.index("Centrale d'achat de l'informatique hospitalière"):][:200]
    assert line in caih and STATE_LABELS["provided_late"] in caih
    # A beneficiary's admin is no operator: no such card on its home.
    await login_as(client, "admin@cpam72.demo")
    assert "Rapports semestriels au coordinateur" not in page_text(await client.get(f"/t/{demo['tenant_ids']['cpam']}"))
