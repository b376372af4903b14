"""The PDF fonts parsed once per process (``app.pdf._add_font``, issue 16 §1: the reversibility export makes thousands
of documents) give the same bytes as fpdf2's ``add_font`` parsing them for every document: the orders, the Factur-X
invoices, the quotes and slips of a tenant's archive, a monthly maintenance report (CCTP CPAM 5-4-2-1), whatever
the order the documents are made in and when they are made in worker threads at once (the jobs' dramatiq worker
runs 8)."""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import app.pdf
from app.composition import load_demo
from app.db import Database, utcnow
from app.pdf import dated, document, pdf_bytes

PARIS = ZoneInfo("Europe/Paris")
MOMENT = dt.datetime(2026, 12, 1, 6, tzinfo=dt.UTC)

pytestmark = pytest.mark.skipif(app.pdf._font_dir() is None, reason="no DejaVu font: the core Helvetica is used")


def _parsed_per_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """fpdf2's own way, the one before the cache: every document parses its fonts."""
    monkeypatch.setattr(app.pdf, "_add_font", lambda doc, family, style, path: doc.add_font(family, style, str(path)))


def _maintenance_report(point: str, defect: bool) -> bytes:
    from incidents.maintenance import report_pdf
    from incidents.models import MaintenanceReport

    report = MaintenanceReport(
        tenant_id=uuid.UUID(int=1), charge_point_id=uuid.UUID(int=2), point_label=point, charge_box_id="CB-72001",
        connector_id=1, month="2026-11", period_start=dt.datetime(2026, 10, 31, 23, tzinfo=dt.UTC),
        period_end=dt.datetime(2026, 11, 30, 23, tzinfo=dt.UTC), status="defect" if defect else "ok",
        checks=[{"code": code, "verdict": "defect" if defect and code == "power" else "ok",
                 "detail": "Deux pertes de puissance le 12/11 à 14:05 — l’œuvre" if defect else "aucun"}
                for code in ("sessions", "errors", "register", "power", "temperature", "plug_times")],
        facts={"sessions": 42, "energy_kwh": 512.25}, tickets={"power": "INC-000123"} if defect else {},
        generated_at=MOMENT, generated_by="planificateur")
    with dated(MOMENT):
        return report_pdf(report, PARIS, "CPAM de la Sarthe")


def _free_text(i: int) -> bytes:
    """A document of its own glyphs (each thread's subset differs)."""
    with dated(MOMENT):
        doc = document(f"Document {i} — « essai »", "Œuvre ½ ≥ 12,50 € " + "ÀÉÎÕÜ"[: i % 5 + 1])
        doc.heading(f"Partie {i}")
        doc.paragraph(" ".join(chr(0x41 + (i * 7 + k) % 58) for k in range(40 + i)))
        doc.table_of(["Point", "Valeur"], [[f"P{i}-{k}", "ĀĂĄĆĈ"[k % 5] * (k % 4 + 1)] for k in range(10 + i)])
        return pdf_bytes(doc)


def test_a_maintenance_report_is_the_same_bytes_with_the_fonts_parsed_once(monkeypatch):
    # CCTP CPAM 5-4-2-1: « Chaque contrôle donne lieu à la rédaction de rapport des défauts ou de dysfonctionnements »
    with monkeypatch.context() as patched:
        _parsed_per_document(patched)
        reference = [_maintenance_report("FR*CPA*E72001*1", True), _maintenance_report("FR*CPA*E72002*1", False)]
    app.pdf._PARSED.clear()
    made = [_maintenance_report("FR*CPA*E72001*1", True), _maintenance_report("FR*CPA*E72002*1", False),
            _maintenance_report("FR*CPA*E72001*1", True)]  # a document after another with other glyphs
    assert made == [*reference, reference[0]]
    assert len(app.pdf._PARSED) == 2  # the regular and the bold, parsed by the first document only


def test_documents_made_in_worker_threads_at_once_are_the_same_bytes():
    sequential = {}
    with pytest.MonkeyPatch.context() as patched:
        _parsed_per_document(patched)
        for i in range(16):
            sequential[i] = _free_text(i)
    app.pdf._PARSED.clear()  # the threads race to parse the fonts too
    with ThreadPoolExecutor(8) as pool:
        for _round in range(3):
            threaded = dict(zip(range(16), pool.map(_free_text, range(16)), strict=True))
            assert threaded == sequential


async def _archive_pdfs(db: Database, settings: Any, tenant_id: uuid.UUID) -> dict[str, bytes]:
    from tenants.reversibility.service import build_archive

    buffer = io.BytesIO()
    await build_archive(db, settings, tenant_id, buffer, now=utcnow())
    archive = zipfile.ZipFile(buffer)
    return {name: archive.read(name) for name in archive.namelist() if name.endswith(".pdf")}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_archive_documents_are_the_same_bytes_with_the_fonts_parsed_once(settings, db, demo, monkeypatch):
    # Issue 16 §1 « les documents : commandes, factures, rapports […] au format PDF / ODF / Factur-X »; CCP TGD X.7.
    await load_demo(replace(settings, demo_ordering=True), db)
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    with monkeypatch.context() as patched:
        _parsed_per_document(patched)
        reference = await _archive_pdfs(db, settings, cpam)
    app.pdf._PARSED.clear()
    made = await _archive_pdfs(db, settings, cpam)
    kinds = {name.split("/")[2] for name in reference}
    assert {"commandes", "factures", "bordereaux", "devis", "etat-interventions-2026-T4.pdf"} <= kinds, sorted(kinds)
    assert made.keys() == reference.keys()
    assert [name for name in reference if made[name] != reference[name]] == []
