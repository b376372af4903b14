"""What the reversibility archive holds besides the tables (issue 16 §1 « les documents : commandes, factures,
rapports […] au format PDF / ODF / Factur-X »; CCP TGD X.7), and what it must no longer hold (§4): the orders as PDF
and Order-X, the invoices as Factur-X, the annual maintenance reports, each listed in the manifest with its hash;
the TGD beneficiary files destroyed four months after their closure (CCP TGD annexe 2 II.2.4) absent from an export
made after that date."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import uuid
import zipfile
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.composition import load_demo
from app.db import Database, utcnow

ACTOR = {"user_id": None, "label": "test"}


async def _export(db: Database, settings: Any, tenant_id: uuid.UUID) -> zipfile.ZipFile:
    from tenants.reversibility.service import build_archive

    buffer = io.BytesIO()
    await build_archive(db, settings, tenant_id, buffer, now=utcnow())
    buffer.seek(0)
    return zipfile.ZipFile(buffer)


def _listed(archive: zipfile.ZipFile) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in json.loads(archive.read("manifest.json"))["files"]}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_orders_invoices_and_reports_are_in_the_archive_and_its_manifest(settings, db, demo):
    import facturx

    from billing.models import Invoice
    from catalog.models import PurchaseOrder
    from reporting.maintenance_models import MaintenanceReview

    await load_demo(replace(settings, demo_ordering=True), db)
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        orders = list(await session.scalars(select(PurchaseOrder).where(PurchaseOrder.tenant_id == cpam,
                                                                        PurchaseOrder.status != "draft")))
        drafts = list(await session.scalars(select(PurchaseOrder).where(PurchaseOrder.tenant_id == cpam,
                                                                        PurchaseOrder.status == "draft")))
        issued = list(await session.scalars(select(Invoice).where(Invoice.tenant_id == cpam,
                                                                  Invoice.status != "draft")))
        session.add(MaintenanceReview(tenant_id=cpam, year=2025, analysis="Analyse de l'année 2025",
                                      recommendations="", updated_by="test"))
    assert orders and issued, "the ordering demo has issued orders and an invoice for the CPAM"
    archive = await _export(db, settings, cpam)
    names, listed = set(archive.namelist()), _listed(archive)
    for order in orders:
        for version in range(1, order.version + 1):
            stem = order.number if version == 1 else None
            found = [n for n in names if n.startswith(f"documents/catalog/commandes/{order.number}/")]
            assert len([n for n in found if n.endswith(".pdf")]) == order.version, found
            assert len([n for n in found if n.endswith(".xml")]) == order.version, found
            if stem:
                pdf = archive.read(f"documents/catalog/commandes/{order.number}/{order.number}.pdf")
                assert pdf.startswith(b"%PDF")
                orderx = archive.read(f"documents/catalog/commandes/{order.number}/{order.number}-order-x.xml")
                assert b"SCRDMCCBDACIOMessageStructure" in orderx and order.number.encode() in orderx
    for order in drafts:  # a draft is no document yet
        assert not [n for n in names if n.startswith(f"documents/catalog/commandes/{order.number}/")]
    for invoice in issued:
        path = f"documents/billing/factures/{invoice.number}.pdf"
        content = archive.read(path)
        embedded, xml = facturx.get_xml_from_pdf(content, check_xsd=True)  # the CII XML embedded (Factur-X)
        assert content.startswith(b"%PDF") and embedded == "factur-x.xml" and invoice.number.encode() in xml
        assert "Factur-X" in listed[path]["description"]
    report = archive.read("documents/reporting/rapport-maintenance-2025.pdf")
    assert report.startswith(b"%PDF")
    # Every document is in the manifest with its size and SHA-256, and described in LISEZMOI.md.
    readme = archive.read("LISEZMOI.md").decode()
    for name in names:
        if name.startswith("documents/"):
            content = archive.read(name)
            assert listed[name]["sha256"] == hashlib.sha256(content).hexdigest() and listed[name]["bytes"] == len(content)
            assert name in readme, name
    # The orders' and reports' files are the same bytes from one export to the next.
    again = _listed(await _export(db, settings, cpam))
    for name, facts in listed.items():
        if name.startswith(("documents/catalog/", "documents/reporting/")):
            assert again[name]["sha256"] == facts["sha256"], name


async def test_no_tgd_file_survives_in_an_export_made_after_its_destruction(settings, db, demo):
    """CCP TGD annexe 2 II.2.4: « le titulaire […] s'assure de sa destruction définitive en interne quatre mois
    après la fermeture du dossier »: the hourly job ``assets.tgd_destruction`` erases it, and an export made
    after that date holds none of it — no row, no value, in any file; a file still open is there."""
    from assets import terminals
    from assets.tasks import run_destruction

    tid = uuid.UUID(demo["tenant_ids"]["tj"])
    now = dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC)
    tz = "Indian/Reunion"
    gone = {"full_name": "Mme Fiche Détruite", "phones": "0262 99 88 77", "address": "9 impasse Effacée, Saint-Denis",
            "workplace": "Le Port", "prosecutor": "Parquet de Saint-Denis", "victim_support": "AAV 974"}
    kept = {**gone, "full_name": "Mme Fiche Ouverte", "phones": "0262 55 44 33", "address": "1 rue Active"}
    async with db.transaction([tid], actor=ACTOR) as session:
        files = []
        for order, person in ((7, gone), (8, kept)):
            line = await terminals.create_line(session, tid, {"phone_number": f"069299990{order}", "insee_code": "97411",
                                                              "order_number": str(order), "device_serial": f"DEV-{order}"})
            files.append(await terminals.open_file(session, tid, {**person, "line_id": str(line.id),
                                                                  "referred_at": now - dt.timedelta(minutes=5)}, now, tz))
        await terminals.record_test_call(session, tid, files[0].id, {"called_at": now + dt.timedelta(days=1),
                                                                     "note": "Note confidentielle 7Q"}, now + dt.timedelta(days=2), tz)
        closed = await terminals.close_file(session, tid, files[0].id, {
            "terminated_on": (now + dt.timedelta(days=20)).date().isoformat(), "confirmed_by": "M. le Procureur",
            "terminal_returned": "1"}, now + dt.timedelta(days=20), tz)
    assert closed.destroy_due_at is not None
    # Before its date the closed file is still in the export (it is the beneficiary's data until then).
    before = await _export(db, settings, tid)
    assert gone["full_name"].encode() in before.read("tables/tgd_files.jsonl")
    done = await run_destruction(db, closed.destroy_due_at)
    assert list(done) == [str(tid)] and len(done[str(tid)]) == 1

    archive = await _export(db, settings, tid)
    everything = b"".join(archive.read(n) for n in archive.namelist())
    for value in (gone["full_name"], gone["phones"], gone["address"], "Note confidentielle 7Q"):
        assert value.encode() not in everything, value
    # Its id stays only where the log says « created, changed, deleted » (with no value of the person: redacted).
    naming = sorted(n for n in archive.namelist() if str(files[0].id).encode() in archive.read(n))
    assert naming == ["tables/audit_events.csv", "tables/audit_events.jsonl"], naming
    rows = [json.loads(line) for line in archive.read("tables/tgd_files.jsonl").splitlines()]
    ids = {r["id"]: r for r in rows}
    assert str(files[0].id) not in ids and ids[str(files[1].id)]["full_name"] == kept["full_name"]
    assert all(json.loads(line)["file_id"] != str(files[0].id)
               for line in archive.read("tables/tgd_test_calls.jsonl").splitlines())



@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_two_exports_give_the_same_factur_x_files_dated_by_their_invoice(settings, db, demo, monkeypatch):
    """CCTP CPAM 6-1 « restituer […] l'ensemble des données […] dans un format standard » and CANUT 5.7 « formats
    portables »: the same invoices give the same Factur-X files whenever they are exported. The ``factur-x`` library
    stamps its PDF/A-3 with its clock; here that clock reads two different days for the two exports."""
    import facturx
    import facturx.facturx as library

    from billing.models import Invoice

    def clock(day: int) -> type[dt.datetime]:
        class Clock(dt.datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return dt.datetime(2031, 1, day, 9, 30, tzinfo=dt.UTC).astimezone(tz)
        return Clock

    await load_demo(replace(settings, demo_ordering=True), db)
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        issued = list(await session.scalars(select(Invoice).where(Invoice.tenant_id == cpam,
                                                                  Invoice.status != "draft")))
    assert issued
    archives = []
    for day in (1, 2):
        monkeypatch.setattr(library, "datetime", clock(day))
        archives.append(await _export(db, settings, cpam))
    for invoice in issued:
        path = f"documents/billing/factures/{invoice.number}.pdf"
        first, second = archives[0].read(path), archives[1].read(path)
        assert first == second, path
        assert _listed(archives[0])[path]["sha256"] == _listed(archives[1])[path]["sha256"]
        stamp = (invoice.issued_at or dt.datetime.combine(invoice.issue_date, dt.time(), dt.UTC))
        assert stamp.astimezone(dt.UTC).strftime("D:%Y%m%d%H%M%S").encode() in first  # the invoice's own date
        assert b"D:2031" not in first and b"2031-01-0" not in first  # not the library's clock
        _, xml = facturx.get_xml_from_pdf(first, check_xsd=True)  # still a valid Factur-X
        assert invoice.number.encode() in xml


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_slips_quotes_maintenance_reports_statements_and_odt_versions_are_in_the_archive(settings, db, demo):
    """Issue 16 §1 « les documents : commandes, factures, rapports, rapports d'intervention, au format PDF / ODF »,
    as the product's pages offer them: each order's ODT beside its PDF (CCP TGD X.7 « au format PDF avec sa version
    OpenDocument »), the delivery slips (VII.1), the priced quotes (CANUT 9, CAIH 2.1.17), the monthly remote
    maintenance reports (CPAM 5-4-2-1), the quarterly statement of interventions (CAIH 2.1.33), the agents'
    charging statements (CPAM 5-5-6-1) and the annual maintenance report's spreadsheet (CPAM 5-4-8). Each opens, is in the manifest and LISEZMOI.md, and a second export (after
    another OpenDocument file was written in the process) gives the same bytes."""
    from odf.opendocument import OpenDocumentChart

    from billing import charging
    from catalog.models import Delivery, PurchaseOrder, Quote
    from csms.domain.models import Badge
    from incidents import maintenance
    from incidents.indicators import Month
    from incidents.models import Intervention, MaintenanceReport
    from reporting.maintenance_models import MaintenanceReview
    from tests.catalog.test_order_documents import odt_text, pdf_text

    await load_demo(replace(settings, demo_ordering=True), db)
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    now = utcnow()
    local = now.astimezone(ZoneInfo("Europe/Paris"))
    this_month = Month(local.year, local.month)  # the demo's charge points were commissioned this month
    async with db.transaction([cpam], actor=ACTOR) as session:
        await maintenance.generate_month(session, cpam, this_month, now=this_month.bounds(ZoneInfo("Europe/Paris"))[1])
        session.add(MaintenanceReview(tenant_id=cpam, year=local.year - 1, analysis="Analyse de l'année écoulée",
                                      recommendations="", updated_by="test"))
        await charging.set_enabled(session, cpam, True, now=now)
        holder = await session.scalar(select(Badge.user_id).where(Badge.tenant_id == cpam, Badge.user_id.is_not(None))
                                      .order_by(Badge.id_tag).limit(1))
        assert holder is not None, "the demo gives a CPAM agent a badge"
        await charging.top_up(session, cpam, holder, {"amount": "20"}, now=now - dt.timedelta(minutes=1))
        account = await charging.account_of_user(session, cpam, holder)
        orders = list(await session.scalars(select(PurchaseOrder).where(PurchaseOrder.tenant_id == cpam,
                                                                        PurchaseOrder.status != "draft")))
        slips = list(await session.scalars(select(Delivery).where(Delivery.tenant_id == cpam)))
        priced = list(await session.scalars(select(Quote).where(Quote.tenant_id == cpam, Quote.answered_at.is_not(None))))
        unpriced = list(await session.scalars(select(Quote).where(Quote.tenant_id == cpam, Quote.answered_at.is_(None))))
        reports = list(await session.scalars(select(MaintenanceReport).where(MaintenanceReport.tenant_id == cpam)))
        started = list(await session.scalars(select(Intervention.started_at).where(Intervention.tenant_id == cpam)))
    assert account is not None and orders and slips and priced and reports and started

    archive = await _export(db, settings, cpam)
    names, listed, readme = set(archive.namelist()), _listed(archive), archive.read("LISEZMOI.md").decode()
    expected: dict[str, str] = {}  # path -> a text the document shows
    for order in orders:
        expected[f"documents/catalog/commandes/{order.number}/{order.number}.odt"] = order.number
    for slip in slips:
        for ext in ("pdf", "odt"):
            expected[f"documents/catalog/bordereaux/{slip.number}.{ext}"] = slip.number
    for quote in priced:
        for ext in ("pdf", "odt"):
            expected[f"documents/catalog/devis/{quote.number}.{ext}"] = quote.number
    for report in reports:
        expected[f"documents/incidents/maintenance/{report.month}/{report.point_label}.pdf"] = report.point_label
    for when in started:
        day = when.astimezone(ZoneInfo("Europe/Paris"))
        expected[f"documents/incidents/etat-interventions-{day.year}-T{(day.month - 1) // 3 + 1}.pdf"] = \
            "État récapitulatif des interventions"
    expected[f"documents/reporting/rapport-maintenance-{local.year - 1}.ods"] = "Analyse de l'année écoulée"
    month = local.strftime("%Y-%m")
    expected[f"documents/billing/releves-recharge/{account.id}/releve-recharge-{month}.pdf"] = "Relevé de compte"
    assert not expected.keys() - names, sorted(expected.keys() - names)
    for quote in unpriced:  # an unpriced quote has no document (its page says so)
        assert not [n for n in names if n.startswith(f"documents/catalog/devis/{quote.number}.")]
    for path, shown in expected.items():
        content = archive.read(path)
        text = pdf_text(content) if path.endswith(".pdf") else odt_text(content)  # each opens
        assert shown in text, (path, text[:300])
        assert listed[path]["sha256"] == hashlib.sha256(content).hexdigest() and path in readme, path
    assert "20,00" in pdf_text(archive.read(f"documents/billing/releves-recharge/{account.id}/releve-recharge-{month}.pdf"))

    OpenDocumentChart().write(io.BytesIO())  # another OpenDocument made in the process meanwhile (a download)
    again = await _export(db, settings, cpam)
    for path in expected:
        assert again.read(path) == archive.read(path), path
