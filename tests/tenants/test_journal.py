"""The « Journal » in words and its exports (issue 12 §4): labels from the manifests, values
formatted in the tenant's zone, names instead of ids, secrets never shown; CSV and XLSX of what
the filters show, formula-safe, read back by openpyxl and by LibreOffice."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
import subprocess
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import select

from app.audit import AuditEvent
from tenants import services
from tests.app.test_exports import EVIL, soffice_path
from tests.conftest import csrf_from, login

ADMIN = "admin@cpam72.demo"


def text_of(html: str) -> str:
    import html as html_mod

    return " ".join(html_mod.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _csv(response) -> list[list[str]]:
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())  # the byte order mark Excel needs
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


async def _evil_site(db, tenant_id: uuid.UUID) -> None:
    async with db.transaction([tenant_id], actor={"user_id": None, "label": "mallory@exemple.fr"}) as session:
        tenant = await services.get_tenant(session, tenant_id)
        await services.create_site(session, tenant_id, {"name": EVIL, "insee_code": tenant.insee_code, "latitude": "47.5"})


async def test_the_journal_names_objects_and_fields_in_french_and_formats_values(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    await login(client, ADMIN)
    page = await client.get(f"/t/{cpam}/journal", params={"entite": "memberships", "action": "create"})
    text = text_of(page.text)
    # A membership is named by its person's address, and its fields by their French labels and words.
    assert "Création Membre « visu@cpam72.demo »" in text
    assert "Utilisateur visu@cpam72.demo" in text and "Profil Visualisation" in text
    assert not re.search(r"Utilisateur [0-9a-f]{8}-", text)  # a name, never an id
    # csms contributes its own labels through its manifest: a charger is a « Borne », named by its identifier.
    chargers = text_of((await client.get(f"/t/{cpam}/journal", params={"entite": "chargers", "action": "create"})).text)
    assert "Création Borne « CPAM-LM-01 »" in chargers and "Identifiant OCPP CPAM-LM-01" in chargers
    # Its password is a hash: shown as changed, never as a value.
    assert "Mot de passe de la borne (modifié)" in chargers and "argon2" not in chargers
    # Dates to the second in the tenant's zone.
    async with db.session([cpam]) as session:
        first = await session.scalar(select(AuditEvent).where(AuditEvent.tenant_id == cpam, AuditEvent.entity == "chargers",
                                                                AuditEvent.action == "create")  # the page's filter
                                     .order_by(AuditEvent.at.desc()))
    assert first.at.astimezone(ZoneInfo("Europe/Paris")).strftime("%d/%m/%Y %H:%M:%S") in chargers


async def test_the_journal_filters_by_person_object_and_period(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    await _evil_site(db, cpam)
    await login(client, ADMIN)
    base = f"/t/{cpam}/journal"
    mine = text_of((await client.get(base, params={"auteur": "mallory"})).text)
    assert "1 événement." in mine and "mallory@exemple.fr" in mine
    # The people of the log are proposed.
    assert '<option value="mallory@exemple.fr">' in (await client.get(base)).text
    # One object's history, from the link of its line.
    sites = (await client.get(base, params={"entite": "sites"})).text
    link = re.search(r'href="(/t/[^"]+/journal\?entite=sites&amp;objet=[0-9a-f-]{36})"', sites).group(1).replace("&amp;", "&")
    history = text_of((await client.get(link)).text)
    assert "Historique d'un seul objet (Site)" in history and "1 événement." in history
    tomorrow = (dt.datetime.now(ZoneInfo("Europe/Paris")).date() + dt.timedelta(days=1)).isoformat()
    assert "0 événement." in text_of((await client.get(base, params={"du": tomorrow})).text)
    wrong = await client.get(base, params={"du": "2026-12-10", "au": "2026-12-01"})
    assert "La date de fin précède la date de début." in text_of(wrong.text)


async def test_the_audit_export_is_readable_formula_safe_and_honours_the_filters(client, db, demo, tmp_path: Path):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    await _evil_site(db, cpam)
    await login(client, ADMIN)
    page = await client.get(f"/t/{cpam}/journal", params={"entite": "sites"})
    assert f'href="/t/{cpam}/journal.csv?entite=sites"' in page.text and f'/t/{cpam}/journal.xlsx?entite=sites"' in page.text

    response = await client.get(f"/t/{cpam}/journal.csv", params={"entite": "sites", "auteur": "mallory"})
    assert response.status_code == 200
    assert 'filename="journal-' in response.headers["content-disposition"]
    rows = _csv(response)
    assert rows[0] == ["Date", "Auteur", "Action", "Objet", "Identifiant", "Champ", "Avant", "Après"]
    body = rows[1:]
    assert body and {r[1] for r in body} == {"mallory@exemple.fr"} and {r[2] for r in body} == {"Création"}
    name = next(r for r in body if r[5] == "Nom")
    assert name[7] == "'" + EVIL  # text, never a formula
    assert name[3] == f"Site « {EVIL} »"
    assert next(r for r in body if r[5] == "Latitude")[7] == "47,5"
    moment = dt.datetime.fromisoformat(name[0])  # local wall-clock time, to the second
    assert moment.microsecond == 0

    xlsx = await client.get(f"/t/{cpam}/journal.xlsx", params={"entite": "sites", "auteur": "mallory"})
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    source = tmp_path / "journal.xlsx"
    source.write_bytes(xlsx.content)
    sheet = load_workbook(source).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == rows[0] and len(values) == len(rows)
    assert isinstance(values[1][0], dt.datetime) and values[1][0] == moment  # a date cell, in the tenant's zone
    cell = next(row for row in sheet.iter_rows() if row[5].value == "Nom")[7]
    assert cell.data_type == "s" and cell.value == "'" + EVIL

    # LibreOffice reads the same file: text, not a formula; the same date.
    soffice = soffice_path()
    await asyncio.to_thread(subprocess.run, [soffice, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless",
                                             "--convert-to", "csv:Text - txt - csv (StarCalc):59,34,76,1",
                                             "--outdir", str(tmp_path / "out"), str(source)],
                            check=True, capture_output=True, timeout=180)
    office = list(csv.reader(io.StringIO((tmp_path / "out" / "journal.csv").read_text("utf-8")), delimiter=";"))
    evil = next(r for r in office if r[5] == "Nom")
    assert "HYPERLINK" in evil[7] and not evil[7].startswith("=")
    assert [r[1:] for r in office] == [r[1:] for r in rows]


async def test_audit_exports_stay_behind_the_tenant_wall_and_need_the_audit_right(client, demo):
    cpam, chr_ = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["chr"]
    await login(client, ADMIN)
    for suffix in ("csv", "xlsx"):
        assert (await client.get(f"/t/{chr_}/journal.{suffix}")).status_code == 404
        assert (await client.get(f"/t/{cpam}/journal.{suffix}")).status_code == 200
    await login(client, "visu@cpam72.demo")
    assert (await client.get(f"/t/{cpam}/journal.csv")).status_code == 403


async def test_a_wrong_period_exports_nothing_and_says_why(client, demo):
    cpam = demo["tenant_ids"]["cpam"]
    await login(client, ADMIN)
    refused = await client.get(f"/t/{cpam}/journal.csv", params={"du": "hier"}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == f"/t/{cpam}/journal"
    page = await client.get(refused.headers["location"])
    assert "Export impossible : Date invalide (format attendu : AAAA-MM-JJ)." in text_of(page.text)


async def test_logout_says_so(client, demo):
    await login(client, ADMIN)
    home = await client.get("/compte")
    out = await client.post("/deconnexion", data={"_csrf_token": csrf_from(home.text)}, follow_redirects=False)
    assert out.headers["location"] == "/connexion?deconnecte=1"
    assert "Vous êtes déconnecté." in text_of((await client.get(out.headers["location"])).text)
    assert "Vous êtes déconnecté." not in text_of((await client.get("/connexion")).text)


async def test_a_failed_form_puts_the_focus_on_its_error_summary(client, demo):
    cpam = demo["tenant_ids"]["cpam"]
    await login(client, ADMIN)
    page = await client.get(f"/t/{cpam}/sites/nouveau")
    bad = await client.post(f"/t/{cpam}/sites/nouveau", data={"name": "", "_csrf_token": csrf_from(page.text)})
    assert bad.status_code == 422
    assert re.search(r'<div class="error-summary" role="alert" tabindex="-1" autofocus>', bad.text)
    assert 'class="error-summary"' not in page.text
