"""The maintained park (issue 13 §4): import checked line by line and whole or nothing, exports that
read back, the maintainability list and its yearly announcement once, the inventory days, the page and
the API."""

from __future__ import annotations

import datetime as dt
import io
import uuid

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.mail import OutboxMessage
from assets import services
from assets.models import Asset
from assets.tasks import run_announcements
from tests.conftest import csrf_from, login

ACTOR = {"user_id": None, "label": "test"}
HEADER = "type;constructeur;modele;numero_serie;site;mise_en_service;fin_garantie;cas_support;fin_maintenabilite;notes"
GOOD = "\n".join([
    HEADER,
    "server;Dell;R750;SRV-001;Hôpital de Mercy — salle serveurs;2022-01-10;2027-01-10;warranty;2030-12-31;",
    "Baie de stockage;NetApp;AFF A250;BAIE-01;;15/03/2020;15/03/2023;vendor;2027-06-30;contrat constructeur",
    "network;Cisco;C9300;SW-01;;;;none;;",
])


def chr_of(demo) -> uuid.UUID:
    return uuid.UUID(demo["tenant_ids"]["chr"])


async def _sites(session, tenant_id):
    from tenants.services import list_sites

    return {s.name: s.id for s in await list_sites(session, tenant_id)}


def test_inventory_days_follow_the_park_size():
    # CAIH 2.1.29: < 30 servers 1 day, 30–99 2 days, ≥ 100 3 days.
    assert [services.inventory_days(n) for n in (0, 29, 30, 99, 100, 400)] == [1, 1, 2, 2, 3, 3]


async def test_an_import_with_bad_lines_imports_nothing_and_reports_every_line(db, demo):
    tid = chr_of(demo)
    bad = "\n".join([HEADER, "server;Dell;R750;SRV-001;;;;;;", "grille-pain;;;X-1;;;;;;",
                     "server;HPE;DL380;SRV-001;;2022-13-01;;;;", "storage;;;;Salle inconnue;;;;;"])
    async with db.transaction([tid], actor=ACTOR) as session:
        with pytest.raises(services.ImportFailed) as failed:
            await services.import_assets(session, tid, bad.encode(), "parc.csv", await _sites(session, tid))
        count = await session.scalar(select(func.count()).select_from(Asset).where(Asset.tenant_id == tid))
    assert count == 0
    report = failed.value.report()
    assert report[0] == "Import refusé : 3 ligne(s) en erreur, aucun équipement importé."
    assert any(line.startswith("ligne 3 : type : type inconnu : « grille-pain »") for line in report)
    assert any(line.startswith("ligne 4 : numero_serie : « SRV-001 » figure déjà ligne 2") for line in report)
    assert any(line.startswith("ligne 4 : mise_en_service : date invalide") for line in report)
    assert any(line == "ligne 5 : numero_serie : obligatoire" for line in report)
    assert any(line == "ligne 5 : site_id : site inconnu" for line in report)
    unknown = "type;numero_serie;couleur\nserver;S1;rouge"
    with pytest.raises(services.ImportFailed, match="ligne"):
        async with db.transaction([tid], actor=ACTOR) as session:
            await services.import_assets(session, tid, unknown.encode(), "parc.csv")


async def test_csv_and_xlsx_imports_and_the_export_reads_back(db, demo):
    tid = chr_of(demo)
    async with db.transaction([tid], actor=ACTOR) as session:
        made = await services.import_assets(session, tid, ("\ufeff" + GOOD).encode(), "parc.csv",
                                            await _sites(session, tid))
    assert [(a.kind, a.serial_number, a.support_case) for a in made] == [
        ("server", "SRV-001", "warranty"), ("storage", "BAIE-01", "vendor"), ("network", "SW-01", "none")]
    assert made[1].commissioned_on == dt.date(2020, 3, 15) and made[0].site_id is not None
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.split(";"))
    sheet.append(["iot_gateway", "Kerlink", "iStation", "GW-01", "", dt.datetime(2024, 5, 2), None, "warranty",
                  None, "=HYPERLINK(\"x\")"])
    out = io.BytesIO()
    book.save(out)
    async with db.transaction([tid], actor=ACTOR) as session:
        [gateway] = await services.import_assets(session, tid, out.getvalue(), "parc.xlsx")
        brief = await services.asset_brief(session, tid, gateway.id, dt.date(2026, 12, 4))
        rows = services.export_rows(await services.assets_of_tenant(session, tid), {})
    assert gateway.commissioned_on == dt.date(2024, 5, 2)
    assert brief is not None and brief.kind_label == "Passerelle IoT" and brief.under_warranty is None
    assert [r[3] for r in rows] == ["GW-01", "SW-01", "SRV-001", "BAIE-01"]


async def test_the_maintainability_list_is_announced_once_a_year(db, demo, settings):
    tid = chr_of(demo)
    async with db.transaction([tid], actor=ACTOR) as session:
        await services.import_assets(session, tid, GOOD.encode(), "parc.csv", await _sites(session, tid))
        ending = await services.ending_maintainability(session, tid, dt.date(2026, 12, 4))
    # CAIH 2.1.30: the array ending 2027-06-30 is within 12 months; the server (2030) is not.
    assert [a.serial_number for a in ending] == ["BAIE-01"]
    first = await run_announcements(db, None, dt.date(2026, 12, 4))
    again = await run_announcements(db, None, dt.date(2026, 12, 5))
    assert str(tid) in first and str(tid) not in again
    async with db.transaction([tid], actor=ACTOR) as session:
        mails = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.tenant_id == tid)))
    assert [m.to for m in mails] == ["admin@chr-metz.demo"]
    assert "BAIE-01" in mails[0].body and "2.1.30" in mails[0].body


async def test_the_park_page_and_the_api(client, db, demo, api_token):
    tid = chr_of(demo)
    assert (await login(client, "admin@chr-metz.demo")).status_code in (302, 303)
    page = await client.get(f"/t/{tid}/parc")
    assert page.status_code == 200 and "Parc maintenu" in page.text and f'href="/t/{tid}/parc"' in page.text
    token = csrf_from(page.text)
    added = await client.post(f"/t/{tid}/parc", data={"_csrf_token": token, "kind": "server",
                                                      "serial_number": "SRV-WEB", "maker": "Dell",
                                                      "end_of_maintainability": "2027-03-31"},
                              follow_redirects=False)
    assert added.status_code == 303
    page = (await client.get(f"/t/{tid}/parc")).text
    assert "SRV-WEB" in page and "inventaire sur site de 1 jour" in page and "Fin de maintenabilité sous 12 mois" in page
    twice = await client.post(f"/t/{tid}/parc", data={"_csrf_token": token, "kind": "server",
                                                      "serial_number": "SRV-WEB"})
    assert twice.status_code == 422 and "est déjà au parc" in twice.text
    bad = await client.post(f"/t/{tid}/parc/import", data={"_csrf_token": token},
                            files={"file": ("parc.csv", b"type;numero_serie\nserver;\n", "text/csv")})
    assert bad.status_code == 422 and "aucun équipement importé" in bad.text
    xlsx = await client.get(f"/t/{tid}/parc.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [c.value for c in sheet[1]][:4] == ["type", "constructeur", "modele", "numero_serie"]

    headers = await api_token("admin@chr-metz.demo")
    created = await client.post(f"/api/v1/tenants/{tid}/assets", headers=headers,
                                json={"kind": "storage", "serial_number": "API-1", "warranty_end": "2028-01-01"})
    assert created.status_code == 201 and created.json()["under_warranty"] is True
    refused = await client.post(f"/api/v1/tenants/{tid}/assets", headers=headers, json={"kind": "x", "serial_number": "A"})
    assert refused.status_code == 422
    imported = await client.post(f"/api/v1/tenants/{tid}/assets/import", headers={**headers, "content-type": "text/csv"},
                                 content=b"type;numero_serie\nnetwork;SW-API\n")
    assert imported.status_code == 201 and imported.json()["imported"] == 1
    failed = await client.post(f"/api/v1/tenants/{tid}/assets/import", headers={**headers, "content-type": "text/csv"},
                               content=b"type;numero_serie\nnetwork;SW-API\n")
    assert failed.status_code == 422 and failed.json()["errors"]["2"][0].startswith("numero_serie")
    listed = (await client.get(f"/api/v1/tenants/{tid}/assets", headers=headers)).json()
    assert {a["serial_number"] for a in listed} == {"SRV-WEB", "API-1", "SW-API"}
    other = demo["tenant_ids"]["cpam"]
    assert (await client.get(f"/api/v1/tenants/{other}/assets", headers=headers)).status_code == 404
    assert (await client.get(f"/t/{other}/parc")).status_code == 404


async def test_a_ticket_on_the_park_counts_by_equipment_type_and_warranty(db, demo):
    """CAIH 2.1.27: the coordinator's lot indicators give « le pourcentage d'incidents par type
    d'équipement, sous garantie / hors garantie »; the ticket names the asset, the assets' service
    gives its type and warranty, and an asset of another establishment is refused."""
    from incidents import tickets as incidents
    from incidents.indicator_data import tenant_indicators
    from incidents.indicators import Month
    from incidents.tickets import TicketError

    tid = chr_of(demo)
    now = dt.datetime.now(dt.UTC)
    async with db.transaction([tid], actor=ACTOR) as session:
        made = await services.import_assets(session, tid, GOOD.encode(), "parc.csv", await _sites(session, tid))
        by_serial = {a.serial_number: a for a in made}
        for serial in ("SRV-001", "BAIE-01"):
            await incidents.open_ticket(session, tid, now=now, title=f"Panne {serial}", description="",
                                        channel="portal", asset_id=by_serial[serial].id, level="4h")
        server_site = by_serial["SRV-001"].site_id
        ticket = await incidents.open_ticket(session, tid, now=now, title="Encore", description="", channel="portal",
                                             asset_id=by_serial["SRV-001"].id, level="4h")
        assert ticket.site_id == server_site is not None
        with pytest.raises(TicketError, match="équipement inconnu au parc"):
            await incidents.open_ticket(session, tid, now=now, title="Inconnu", description="", channel="portal",
                                        asset_id=uuid.uuid4(), level="4h")
        month = Month(now.year, now.month)
        indicators = await tenant_indicators(session, tid, month)
    assert dict(indicators.by_equipment)["Serveur"] == 2 and dict(indicators.by_equipment)["Baie de stockage"] == 1
    # The server's warranty ends 2027-01-10, the array's ended in 2023.
    assert (indicators.under_warranty, indicators.out_of_warranty) == (2, 1)


async def test_the_park_downloads_as_a_csv_and_a_spreadsheet_file(client, demo):
    """The « Parc » page's export links give files, not JSON: the browser saves them under their name."""
    from tests.conftest import login

    tid = demo["tenant_ids"]["cpam"]
    assert (await login(client, "admin@cpam72.demo")).status_code in (302, 303)
    csv_file = await client.get(f"/t/{tid}/parc.csv")
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    assert 'filename="parc-' in csv_file.headers["content-disposition"]
    xlsx = await client.get(f"/t/{tid}/parc.xlsx")
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert xlsx.content[:2] == b"PK"
