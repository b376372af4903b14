"""The semester workbook (CCTP CAIH 5 « Un onglet « source » contiendra la totalité des lignes de commandes passées
depuis le début du marché », « sous formes de rapports (tableaux croisés, graphiques, …) »; CANUT 7) against a
known set of orders: the source sheet's columns and rows, the aggregated sheets and their charts, formula-safe text,
the semester's and the since-start totals, the CSV, and LibreOffice reading the same numbers."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from reporting import services
from reporting.workbook import SHEETS, SOURCE_COLUMNS
from tenants import services as tenant_services
from tests.app.test_exports import soffice_path
from tests.reporting.conftest import EVIL_MAKER, SEMESTER_HT, SINCE_START_HT

NOW = dt.datetime(2026, 8, 3, 9, 0, tzinfo=dt.UTC)
HEADER = ["FINESS juridique", *SOURCE_COLUMNS[1:], "Semestre", "N° de commande", "Accord-cadre", "Libellé", "Famille",
          "Achat ou location", "Région"]


async def make_report(db, settings, dataset, **data):
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        central = await tenant_services.get_central_by_code(session, dataset.central_code)
        report = await services.request_report(session, central, {"year": 2026, "half": 1, **data},
                                               created_by="coordination@test", now=NOW)
    done = await services.generate_report(db, settings, report.id, now=lambda: NOW)
    assert done is not None and done.status == "done", done and done.error
    return done


def _values(sheet):
    return [[c.value for c in row] for row in sheet.iter_rows()]


async def test_the_source_sheet_has_caih_5s_columns_and_every_line_since_the_start(db, settings, dataset):
    report = await make_report(db, settings, dataset)
    xlsx, name = services.report_file(settings, report, "xlsx")
    assert name == f"reporting-{dataset.central_code.lower()}-2026-S1.xlsx"
    assert report.line_count == 5 and report.progress == 100
    assert report.files["xlsx"]["size"] == xlsx.stat().st_size and len(report.files["xlsx"]["sha256"]) == 64
    book = load_workbook(xlsx)
    assert book.sheetnames == list(SHEETS)
    source = book["source"]
    rows = _values(source)
    assert rows[0] == HEADER
    # CAIH 5's twelve columns, in its order; the CA HT is the line's total HT after its discount.
    assert [r[:12] for r in rows[1:]] == [
        [dataset.finess_a, "Centre hospitalier Alpha", "57000", "Metz", dt.datetime(2025, 5, 10), "SRV-MAINT", "Dell",
         1000, 2, 2000, "BPU", None],
        [dataset.finess_b, "Hôpital Bêta", "69100", "Villeurbanne", dt.datetime(2025, 11, 20), "SRV-LOC", "NetApp",
         250.5, 3, 676.35, "BPU", 10],
        [dataset.finess_a, "Centre hospitalier Alpha", "57000", "Metz", dt.datetime(2026, 1, 1), "CAT-SOL",
         "'" + EVIL_MAKER, 99.99, 1, 99.99, "CATALOGUE", None],
        [dataset.finess_b, "Hôpital Bêta", "69100", "Villeurbanne", dt.datetime(2026, 6, 30), "SRV-MAINT", "Dell",
         1000, 1, 1000, "BPU", None],
        [dataset.finess_b, "Hôpital Bêta", "69100", "Villeurbanne", dt.datetime(2026, 6, 30), "SRV-LOC", "NetApp",
         250.5, 2, 501, "BPU", None],
    ]
    assert [r[12] for r in rows[1:]] == ["2025-S1", "2025-S2", "2026-S1", "2026-S1", "2026-S1"]
    assert [r[17] for r in rows[1:]] == ["Achat", "Location", "Achat", "Achat", "Location"]
    assert [r[18] for r in rows[1:]] == ["Grand Est", "Auvergne-Rhône-Alpes", "Grand Est", "Auvergne-Rhône-Alpes",
                                         "Auvergne-Rhône-Alpes"]
    # Typed cells: a date, money with a euro format, text never a formula; a filterable, frozen header.
    assert source["E2"].is_date and source["J2"].data_type == "n" and "€" in source["J2"].number_format
    assert source["G4"].data_type == "s" and not str(source["G4"].value).startswith("=")
    assert source.auto_filter.ref == "A1:S6" and source.freeze_panes == "A2"
    assert Decimal(str(round(sum(r[9] for r in rows[1:]), 2))) == SINCE_START_HT

    summary = {r[0]: r[1] for r in _values(book["Synthèse"]) if r[0]}
    assert summary["CA HT du semestre"] == float(SEMESTER_HT)
    assert summary["CA HT depuis le début du marché"] == float(SINCE_START_HT)
    assert summary["À fournir au coordinateur au plus tard le"] == dt.datetime(2026, 7, 31)
    assert summary["Depuis le début du marché"] == "du 01/03/2025 au 30/06/2026"
    # « Le volume d'affaire global réalisé chaque 6 mois ».
    assert _values(book["Volume par semestre"])[1:] == [
        ["1er semestre 2025", 2000], ["2e semestre 2025", 676.35], ["1er semestre 2026", 1600.99]]
    # « réalisé annuellement par chaque adhérent » (CANUT 7: monthly, quarterly, yearly).
    assert [r[:6] for r in _values(book["Par bénéficiaire"])] == [
        ["FINESS juridique", "Établissement", "Région", "2025", "2026", "Total"],
        [dataset.finess_a, "Centre hospitalier Alpha", "Grand Est", 2000, 99.99, 2099.99],
        [dataset.finess_b, "Hôpital Bêta", "Auvergne-Rhône-Alpes", 676.35, 1501, 2177.35]]
    periods = _values(book["Global par période"])
    assert [r[:2] for r in periods[1:5]] == [["2025-05", 2000], ["2025-11", 676.35], ["2026-01", 99.99],
                                            ["2026-06", 1501]]
    assert [r[3:5] for r in periods[1:5]] == [["2025-T2", 2000], ["2025-T4", 676.35], ["2026-T1", 99.99],
                                             ["2026-T2", 1501]]
    assert [r[6:8] for r in periods[1:3]] == [["2025", 2676.35], ["2026", 1600.99]]
    per = _values(book["Bénéficiaire par période"])
    assert [dataset.finess_b, "Hôpital Bêta", "Trimestre", "2026-T2", 1501] in per
    # BPU versus catalog, rental versus purchase: the semester, then since the start.
    assert _values(book["BPU et catalogue"])[1:] == [["BPU", 1501, 4177.35], ["CATALOGUE", 99.99, 99.99]]
    assert _values(book["Achat et location"])[1:] == [["Achat", 1099.99, 3099.99], ["Location", 501, 1177.35]]
    assert _values(book["Lignes du BPU"])[1:] == [
        [2025, "SRV-MAINT", "Maintenance d'un serveur", "BPU", 2, 2000],
        [2025, "SRV-LOC", "Location d'une baie de stockage", "BPU", 3, 676.35],
        [2026, "SRV-MAINT", "Maintenance d'un serveur", "BPU", 1, 1000],
        [2026, "SRV-LOC", "Location d'une baie de stockage", "BPU", 2, 501],
        [2026, "CAT-SOL", "Solution du catalogue", "CATALOGUE", 1, 99.99]]
    assert _values(book["Régions"])[1:] == [["Auvergne-Rhône-Alpes", 1, 1501, 2177.35],
                                           ["Grand Est", 1, 99.99, 2099.99]]
    # « sur chacune des options » (CAIH 2.1.21 / 2.1.22): no beneficiary has a policy of its own yet, so each has
    # its central's template (this central is none of the tenders': CANUT's, HO, its levels chosen per incident).
    assert _values(book["Répartition par option"])[1] == ["HO", "HO", "—", 2, 3, 1600.99, 4, 5, 4277.34]
    # Native charts: semesters, beneficiaries, month / quarter / year, BPU lines, options, regions, two pies per
    # split, and the GTR's respect (CAIH 6.1).
    with zipfile.ZipFile(xlsx) as archive:
        charts = [n for n in archive.namelist() if n.startswith("xl/charts/chart")]
        kinds = "".join(archive.read(n).decode() for n in charts)
    assert len(charts) == 13
    assert kinds.count("<c:pieChart>") == 5 and "<c:lineChart>" in kinds and "<c:barChart>" in kinds

    text = services.report_file(settings, report, "csv")[0].read_text("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert lines[0] == HEADER and len(lines) == 6
    assert lines[3][:12] == [dataset.finess_a, "Centre hospitalier Alpha", "57000", "Metz", "2026-01-01", "CAT-SOL",
                             "'" + EVIL_MAKER, "99.9900", "1.000", "99.99", "CATALOGUE", ""]
    assert sum(Decimal(r[9]) for r in lines[1:]) == SINCE_START_HT


async def test_one_agreement_and_a_semester_without_orders(db, settings, dataset):
    async with db.transaction() as session:
        central = await tenant_services.get_central_by_code(session, dataset.central_code)
        with pytest.raises(Exception, match="pas commencé"):
            await services.request_report(session, central, {"year": 2027, "half": 1}, created_by="x", now=NOW)
    report = await make_report(db, settings, dataset, agreement_id=str(dataset.agreement_id))
    assert report.parameters["agreements"] == [f"{dataset.central_code}-SRV"] and report.line_count == 5
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        central = await tenant_services.get_central_by_code(session, dataset.central_code)
        early = await services.request_report(session, central, {"year": 2024, "half": 2}, created_by="x", now=NOW)
    early = await services.generate_report(db, settings, early.id)
    # Before the agreement started: no line, the tables are empty but the workbook is whole.
    assert early.status == "done" and early.line_count == 0
    book = load_workbook(services.report_file(settings, early, "xlsx")[0])
    assert _values(book["source"]) == [HEADER]
    assert _values(book["Régions"])[1:] == [["Auvergne-Rhône-Alpes", 1, 0, 0], ["Grand Est", 1, 0, 0]]


async def test_libreoffice_reads_the_same_numbers_and_keeps_the_charts(db, settings, dataset, tmp_path: Path):
    report = await make_report(db, settings, dataset)
    xlsx = services.report_file(settings, report, "xlsx")[0]
    soffice = soffice_path()
    out = tmp_path / "office"
    await asyncio.to_thread(subprocess.run, [soffice, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless",
                                             "--convert-to", "xlsx", "--outdir", str(out), str(xlsx)],
                            check=True, capture_output=True, timeout=300)
    back = out / xlsx.name
    office, ours = load_workbook(back), load_workbook(xlsx)
    assert office.sheetnames == ours.sheetnames
    for name in ("source", "Volume par semestre", "Par bénéficiaire", "BPU et catalogue", "Répartition par option",
                 "Régions"):
        assert _values(office[name]) == _values(ours[name]), name
    assert office["source"]["G4"].value == "'" + EVIL_MAKER and office["source"]["G4"].data_type == "s"
    with zipfile.ZipFile(back) as archive:
        charts = [archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) == 13
    # The options' chart keeps its title, its kind (columns) and its two series over the sheet's ranges.
    options = next(c for c in charts if "CA HT par option" in c)
    assert '<c:barDir val="col"/>' in options and options.count("<c:ser>") == 2
    assert "Répartition par option&apos;!$I$2" in options
