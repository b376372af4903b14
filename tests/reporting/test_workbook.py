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


def _xlsx_range(formula: str) -> tuple[str, str]:
    """``'Sheet'!$B$2:$B$4`` -> (« Sheet », « B2:B4 »)."""
    sheet, cells = formula.rsplit("!", 1)
    cells = cells.replace("$", "")
    return sheet.strip("'").replace("''", "'"), cells if ":" in cells else f"{cells}:{cells}"


def _ods_range(address: str) -> tuple[str, str]:
    """``'Sheet'.B2:'Sheet'.B4`` -> (« Sheet », « B2:B4 »)."""
    start, end = address.split(":")
    sheet = start.rsplit(".", 1)[0].strip("'").replace("''", "'")
    return sheet, start.rsplit(".", 1)[1] + ":" + end.rsplit(".", 1)[1]


def _xlsx_charts(book) -> list[tuple]:
    """Each chart of an XLSX as openpyxl reads it: sheet, kind, title, categories, values of each series."""
    found = []
    for sheet in book.worksheets:
        for chart in sheet._charts:
            kind = {"BarChart": "col" if getattr(chart, "barDir", "col") == "col" else "bar",
                    "LineChart": "line", "PieChart": "pie"}[type(chart).__name__]
            title = "".join(r.t for p in chart.title.tx.rich.p for r in (p.r or ())) if chart.title else None
            refs = [(_xlsx_range((s.cat.numRef or s.cat.strRef).f), _xlsx_range(s.val.numRef.f)) for s in chart.series]
            found.append((sheet.title, kind, title, refs[0][0], tuple(v for _, v in refs)))
    return sorted(found)


async def test_the_ods_has_the_xlsx_charts_and_libreoffice_keeps_them(db, settings, dataset, tmp_path: Path):
    """CAIH 5 « sous formes de rapports (tableaux croisés, graphiques, …) », in the ODS too (CCP TGD X.7): each of
    the XLSX's 13 charts is an embedded OpenDocument chart (ODF 1.2 part 1 §10) of the same kind and title over the
    same ranges of the same sheet, and LibreOffice opens them (converted back to XLSX, they are still there)."""
    from lxml import etree

    report = await make_report(db, settings, dataset)
    xlsx = services.report_file(settings, report, "xlsx")[0]
    ods = services.report_file(settings, report, "ods")[0]
    expected = _xlsx_charts(load_workbook(xlsx))
    assert len(expected) == 13
    ns = {"chart": "urn:oasis:names:tc:opendocument:xmlns:chart:1.0",
          "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
          "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
          "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
          "xlink": "http://www.w3.org/1999/xlink", "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
          "manifest": "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"}
    with zipfile.ZipFile(ods) as archive:
        manifest = etree.fromstring(archive.read("META-INF/manifest.xml"))
        objects = [e.get(f"{{{ns['manifest']}}}full-path") for e in manifest.iterfind("manifest:file-entry", ns)
                   if e.get(f"{{{ns['manifest']}}}media-type") == "application/vnd.oasis.opendocument.chart"]
        content = etree.fromstring(archive.read("content.xml"))
        frames = {}
        for table in content.iterfind(".//table:table", ns):
            for link in table.iterfind("table:shapes/draw:frame/draw:object", ns):
                frames[link.get(f"{{{ns['xlink']}}}href").removeprefix("./")] = table.get(f"{{{ns['table']}}}name")
        ours = []
        for name in objects:
            chart = etree.fromstring(archive.read(f"{name}content.xml")).find(".//chart:chart", ns)
            archive.read(f"{name}styles.xml")
            plot = chart.find("chart:plot-area", ns)
            vertical = any(p.get(f"{{{ns['chart']}}}vertical") == "true"
                           for p in chart.getroottree().iterfind(".//style:chart-properties", ns))
            kind = {"chart:bar": "bar" if vertical else "col", "chart:line": "line",
                    "chart:circle": "pie"}[chart.get(f"{{{ns['chart']}}}class")]
            categories = _ods_range(plot.find(".//chart:categories", ns).get(f"{{{ns['table']}}}cell-range-address"))
            values = tuple(_ods_range(s.get(f"{{{ns['chart']}}}values-cell-range-address"))
                           for s in plot.iterfind("chart:series", ns))
            assert plot.get(f"{{{ns['table']}}}cell-range-address").count(":") == 1 + len(values)
            ours.append((frames[name.rstrip("/")], kind, "".join(chart.find("chart:title", ns).itertext()),
                         categories, values))
    assert len(objects) == 13 and sorted(ours) == expected
    assert {kind for _, kind, *_ in ours} == {"col", "bar", "line", "pie"}

    soffice = soffice_path()
    out = tmp_path / "office"
    await asyncio.to_thread(subprocess.run, [soffice, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless",
                                             "--convert-to", "xlsx", "--outdir", str(out), str(ods)],
                            check=True, capture_output=True, timeout=300)
    assert _xlsx_charts(load_workbook(out / ods.with_suffix(".xlsx").name)) == expected
