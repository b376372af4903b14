"""The semester report's ODS (CCP TGD X.7: OpenDocument; issue 15 §1 « The same workbook as ODS ») and its « Engagements
de service » sheet (CCTP CAIH 2.1.26 « pourcentage du nombre d'incidents clôturés dans les temps définis sur le
nombre d'incidents total clôturés par le titulaire pour un même établissement », 90 %, reopened at most 5 %; 2.1.27
the same « pour la totalité des adhérents », 98 % and 2 %; 6.1 « le taux de respect du GTR » at the COPIL), against
a known set of tickets opened, worked and closed through incidents' services, with 6.1's « temps de rétablissement »
(the mean time to restore); LibreOffice reads the ODS back."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import zipfile
from pathlib import Path

from openpyxl import load_workbook

from incidents import tickets as incident_services
from reporting import services
from reporting.workbook import SHEETS, SLA_SHEET
from tests.app.test_exports import soffice_path
from tests.incidents.test_indicators import at, closed_ticket
from tests.reporting.conftest import ACTOR, EVIL_MAKER
from tests.reporting.test_workbook import make_report

LOT = "Lot — tous les bénéficiaires (CAIH 2.1.27)"


async def known_tickets(dataset, db) -> None:
    """H1 2026: Alpha closes 3 (March on time, April late — GTR 4 h exceeded —, May on time but reopened), Bêta 2
    on time in June. Outside the semester: Alpha's ticket of July, and the other central's (never shown)."""
    for tid in (dataset.tenant_a, dataset.tenant_b, dataset.other_tenant):
        async with db.transaction([tid], actor=ACTOR) as session:
            await incident_services.set_policy_from_template(session, tid, "caih-maintenance-24x7", ACTOR)
    await closed_ticket(db, dataset.tenant_a, at(2026, 3, 10, 9))
    await closed_ticket(db, dataset.tenant_a, at(2026, 4, 14, 9), late=True)
    await closed_ticket(db, dataset.tenant_a, at(2026, 5, 12, 9), reopened=True)
    await closed_ticket(db, dataset.tenant_b, at(2026, 6, 2, 9))
    await closed_ticket(db, dataset.tenant_b, at(2026, 6, 3, 9), channel="phone")
    await closed_ticket(db, dataset.tenant_a, at(2026, 7, 2, 9), late=True)
    await closed_ticket(db, dataset.other_tenant, at(2026, 5, 5, 9), late=True)


def _values(sheet):
    return [[c.value for c in row] for row in sheet.iter_rows()]


def _sla_rows(sheet) -> dict[str, list]:
    return {r[0]: r[1:11] for r in _values(sheet) if r[0] and isinstance(r[1], int | float)}


def _restoration(sheet) -> dict[str, tuple]:
    """CAIH 6.1: each row's mean time to restore (a duration read as a timedelta) and how many tickets it is over."""
    return {r[0]: (r[11], r[12]) for r in _values(sheet) if r[0] and isinstance(r[1], int | float)}


def _hm(hours: int, minutes: int) -> dt.timedelta:
    return dt.timedelta(hours=hours, minutes=minutes)


RESTORATION = {LOT: (_hm(3, 24), 5), "Centre hospitalier Alpha": (_hm(4, 20), 3), "Hôpital Bêta": (_hm(2, 0), 2),
               "janvier 2026": (None, 0), "février 2026": (None, 0), "mars 2026": (_hm(2, 0), 1),
               "avril 2026": (_hm(8, 30), 1), "mai 2026": (_hm(2, 30), 1), "juin 2026": (_hm(2, 0), 2)}


async def test_the_sla_sheet_gives_the_lot_and_each_establishment_against_caih_2_1_26_and_2_1_27(db, settings,
                                                                                                   dataset):
    await known_tickets(dataset, db)
    report = await make_report(db, settings, dataset)
    book = load_workbook(services.report_file(settings, report, "xlsx")[0])
    assert book.sheetnames == list(SHEETS) and SLA_SHEET == "Engagements de service"
    rows = _sla_rows(book[SLA_SHEET])
    # declared, closed, on time, GTR respect %, target, met, reopened, reopen %, max, met
    assert rows[LOT] == [5, 5, 4, 80, 98, "non", 1, 20, 2, "non"]
    assert rows["Centre hospitalier Alpha"] == [3, 3, 2, 66.7, 90, "non", 1, 33.3, 5, "non"]
    assert rows["Hôpital Bêta"] == [2, 2, 2, 100, 90, "oui", 0, 0, 5, "oui"]
    # The lot month by month: January and February closed nothing (no rate), then one, one, one and two.
    assert rows["mars 2026"][:4] == [1, 1, 1, 100] and rows["avril 2026"][:4] == [1, 1, 0, 0]
    assert rows["juin 2026"] == [2, 2, 2, 100, 98, "oui", 0, 0, 2, "oui"]
    january = next(r for r in _values(book[SLA_SHEET]) if r[0] == "janvier 2026")
    assert january[1:7] == [0, 0, 0, None, 98, "—"]
    # CAIH 6.1 « le temps de rétablissement »: the lot's mean 17 h / 5 = 3:24, Alpha 13 h / 3 = 4:20, Bêta 2:00;
    # March 2 h, April 8 h 30 (the dashboard's figures); January closed nothing: no mean, over 0 tickets.
    assert _restoration(book[SLA_SHEET]) == RESTORATION
    assert book[SLA_SHEET].cell(4, 12).value == "Temps moyen de rétablissement (h:mm)"
    assert book[SLA_SHEET].cell(5, 12).number_format == "[h]:mm"
    assert "Clinique" not in str(_values(book[SLA_SHEET]))
    with zipfile.ZipFile(services.report_file(settings, report, "xlsx")[0]) as archive:
        charts = "".join(archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/charts/chart"))
    assert "Taux de respect du GTR du semestre" in charts


async def test_the_ods_has_every_table_typed_cells_and_libreoffice_reads_the_same_numbers(db, settings, dataset,
                                                                                           tmp_path: Path):
    await known_tickets(dataset, db)
    report = await make_report(db, settings, dataset)
    ods, name = services.report_file(settings, report, "ods")
    assert name == f"reporting-{dataset.central_code.lower()}-2026-S1.ods"
    assert report.files["ods"]["size"] == ods.stat().st_size and len(report.files["ods"]["sha256"]) == 64
    assert not list(ods.parent.glob(f"{report.id}*.rows")) and not list(ods.parent.glob("*.skeleton"))
    with zipfile.ZipFile(ods) as archive:
        assert archive.namelist()[0] == "mimetype"
        assert archive.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
        content = archive.read("content.xml").decode("utf-8")
    # Typed cells: amounts in euros, dates, quantities; no formula anywhere; the maker stays text.
    assert 'office:value-type="currency" office:currency="EUR" office:value="676.35"' in content
    assert 'office:value-type="date" office:date-value="2025-11-20"' in content
    assert 'office:value-type="float" office:value="3"' in content
    assert "table:formula" not in content
    assert f'office:value-type="string"><text:p>\'{EVIL_MAKER.replace("&", "&amp;")}</text:p>' in content
    assert 'table:display-filter-buttons="true"' in content and "'source'.A1:'source'.S6" in content

    soffice = soffice_path()
    out = tmp_path / "office"
    await asyncio.to_thread(subprocess.run, [soffice, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless",
                                             "--convert-to", "xlsx", "--outdir", str(out), str(ods)],
                            check=True, capture_output=True, timeout=300)
    office = load_workbook(out / ods.with_suffix(".xlsx").name)
    ours = load_workbook(services.report_file(settings, report, "xlsx")[0])
    assert office.sheetnames == ours.sheetnames == list(SHEETS)
    for sheet in SHEETS:
        assert _values(office[sheet]) == _values(ours[sheet]), sheet
    source = office["source"]
    assert source["G4"].value == "'" + EVIL_MAKER and source["G4"].data_type == "s"
    assert source["E3"].is_date and source["E3"].value == dt.datetime(2025, 11, 20)
    assert "€" in source["J3"].number_format
    summary = {r[0]: r[1] for r in _values(office["Synthèse"]) if r[0]}
    assert summary["CA HT du semestre"] == 1600.99 and summary["CA HT depuis le début du marché"] == 4277.34
    assert _sla_rows(office[SLA_SHEET])[LOT] == [5, 5, 4, 80, 98, "non", 1, 20, 2, "non"]
    # CAIH 6.1's mean time to restore: a duration in the ODS, that LibreOffice reads as one (a time, [HH]:MM).
    assert 'office:value-type="time" office:time-value="PT3H24M00S"><text:p>3:24</text:p>' in content
    assert _restoration(office[SLA_SHEET]) == RESTORATION
    assert "[h" in office[SLA_SHEET].cell(5, 12).number_format.lower()


def test_an_ods_duration_keeps_its_hours_past_a_day():
    from reporting.ods import cell_xml

    assert cell_xml("duration", dt.timedelta(hours=30, minutes=36)) == (
        '<table:table-cell table:style-name="cduration" office:value-type="time" office:time-value="PT30H36M00S">'
        "<text:p>30:36</text:p></table:table-cell>")
