"""The semester workbook's « Répartition par option » (CCTP CAIH 5 « La répartition des commandes annuelles sur
chacune des options »): the options are CAIH 2.1.21's windows (« Heures Ouvrées (HO) : Du lundi au Vendredi de 8h00 à
18h00 hors jours fériés », « 24/24 7/7 ») and 2.1.22's levels (« Les niveaux de service 4H, 10H00 et 50H00 sont
définis pour des délais de Garantie de Temps de Rétablissement (GTR) concernant la maintenance »), taken from the
beneficiary's service policy in force at the order date. Two beneficiaries under different policies, one of which
changes its policy between two orders; the figures read back from the XLSX and from the ODS through LibreOffice."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import zipfile
from pathlib import Path

from openpyxl import load_workbook

from incidents import sla
from incidents import tickets as incident_services
from reporting import services
from reporting.workbook import OPTIONS_SHEET, SHEETS
from tests.app.test_exports import soffice_path
from tests.reporting.conftest import ACTOR
from tests.reporting.test_workbook import make_report


def _values(sheet):
    return [[c.value for c in row] for row in sheet.iter_rows()]


def _at(year: int, month: int, day: int) -> dt.datetime:
    return dt.datetime(year, month, day, 8, tzinfo=dt.UTC)


async def _policies(db, dataset) -> None:
    """Alpha: maintenance HO (GTR 4 h) from 1 March 2025, 24/7 (GTR 4 h) from 1 December 2025. Bêta: maintenance
    24/7 with GTR 10 h ordered, recorded on 1 March 2026 only: its order of November 2025 takes it too (an order
    before the first version takes the first)."""
    async with db.transaction([dataset.tenant_a], actor=ACTOR) as session:
        await incident_services.set_policy_from_template(session, dataset.tenant_a, "caih-maintenance-ho", ACTOR,
                                                         now=_at(2025, 3, 1))
        await incident_services.set_policy_from_template(session, dataset.tenant_a, "caih-maintenance-24x7", ACTOR,
                                                         now=_at(2025, 12, 1))
    ten_hours = sla.caih_policy(window="24x7")
    ten_hours.default_level = "10h"
    async with db.transaction([dataset.tenant_b], actor=ACTOR) as session:
        await incident_services.save_policy(session, dataset.tenant_b, ten_hours, "caih-maintenance-24x7", ACTOR,
                                            now=_at(2026, 3, 1))


#: H1 2026 (conftest's orders up to 30 June 2026): Alpha's 2 000,00 of May 2025 under HO; its 99,99 of January 2026
#: under 24/7; Bêta's 676,35 (November 2025) and 1 000,00 + 501,00 (one order of two lines, June 2026) under 10 h.
#: Option, window, level, then orders, lines and CA HT of the semester, then since the start.
OPTIONS = [["HO — GTR 4 h", "HO", "GTR 4 h", 0, 0, 0, 1, 1, 2000],
           ["24/7 — GTR 4 h", "24/7", "GTR 4 h", 1, 1, 99.99, 1, 1, 99.99],
           ["24/7 — GTR 10 h", "24/7", "GTR 10 h", 1, 2, 1501, 2, 3, 2177.35]]
YEARS = [[2025, "HO", "GTR 4 h", 1, 1, 2000],
         [2025, "24/7", "GTR 10 h", 1, 1, 676.35],
         [2026, "24/7", "GTR 4 h", 1, 1, 99.99],
         [2026, "24/7", "GTR 10 h", 1, 2, 1501]]


def _tables(sheet) -> tuple[list, list]:
    rows = _values(sheet)
    options = [r[:9] for r in rows[1:] if isinstance(r[0], str) and r[1] in ("HO", "24/7")]
    years = [r[:6] for r in rows if isinstance(r[0], int | float) and r[0] > 2000]
    return options, years


async def test_the_orders_split_over_the_options_in_force_at_their_date_in_the_xlsx_and_the_ods(
        db, settings, dataset, tmp_path: Path):
    await _policies(db, dataset)
    report = await make_report(db, settings, dataset)
    xlsx = services.report_file(settings, report, "xlsx")[0]
    book = load_workbook(xlsx)
    assert book.sheetnames == list(SHEETS) and OPTIONS_SHEET in SHEETS
    sheet = book[OPTIONS_SHEET]
    assert _values(sheet)[0] == [
        "Option", "Plage horaire", "Niveau de service", "Commandes 1er semestre 2026", "Lignes 1er semestre 2026",
        "CA HT 1er semestre 2026", "Commandes depuis le début", "Lignes depuis le début",
        "CA HT depuis le début du marché"]
    options, years = _tables(sheet)
    assert options == OPTIONS and years == YEARS
    # The split adds up to the workbook's totals: 2 orders, 3 lines, 1 600,99 in the semester; 4, 5, 4 277,34.
    assert [round(sum(r[i] for r in options), 2) for i in range(3, 9)] == [2, 3, 1600.99, 4, 5, 4277.34]
    assert "€" in sheet["F3"].number_format and "€" in sheet["I2"].number_format
    with zipfile.ZipFile(xlsx) as archive:
        charts = "".join(archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/charts/chart"))
    assert "CA HT par option (plage horaire × niveau de service)" in charts
    assert f"'{OPTIONS_SHEET}'!$A$2:$A$4" in charts and f"'{OPTIONS_SHEET}'!$I$2:$I$4" in charts

    ods = services.report_file(settings, report, "ods")[0]
    out = tmp_path / "office"
    await asyncio.to_thread(subprocess.run, [soffice_path(), f"-env:UserInstallation=file://{tmp_path}/lo",
                                             "--headless", "--convert-to", "xlsx", "--outdir", str(out), str(ods)],
                            check=True, capture_output=True, timeout=300)
    office = load_workbook(out / ods.with_suffix(".xlsx").name)
    assert _values(office[OPTIONS_SHEET]) == _values(sheet)
    assert _tables(office[OPTIONS_SHEET]) == (OPTIONS, YEARS)


def test_each_template_names_its_window_and_its_ordered_level():
    """CAIH 2.1.21 / 2.1.22 (HO or 24/7, GTR for maintenance, GTI for infogérance); CANUT 6.6 (option 24h/7j, levels
    chosen per incident: none ordered)."""
    from incidents.services import service_option

    options = {code: (o.window, o.level) for code in sla.TEMPLATES
               for o in [service_option(sla.policy_template(code))]}
    assert options == {
        "cpam-irve": ("24/7", ""), "canut-iot": ("HO", ""), "canut-iot-24x7": ("24/7", ""),
        "caih-maintenance-ho": ("HO", "GTR 4 h"), "caih-maintenance-24x7": ("24/7", "GTR 4 h"),
        "caih-infogerance-ho": ("HO", "GTI 4 h"), "caih-infogerance-24x7": ("24/7", "GTI 4 h"),
        "tgd-terminaux": ("24/7", "GTR 24 h")}
    fifty = sla.caih_policy()
    fifty.default_level = "50h"
    assert service_option(fifty).level == "GTR 50 h" and service_option(fifty) > service_option(sla.caih_policy())
