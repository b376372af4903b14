"""The usage report's yearly view month by month, and its ODS opened by a real office suite (issue 15 §2; CCTP CPAM
5-5-4 « Statistiques d'utilisation », article 7 « Reporting »; CCP TGD X.7: ODF): headless LibreOffice Calc converts
the ODS back to XLSX and every sheet's numbers equal those of our XLSX."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import subprocess
import uuid
from pathlib import Path

import pytest
from openpyxl import load_workbook

from reporting.usage import build_report, year_period
from reporting.usage_web import ods_bytes, sheets_of, workbook_bytes
from tests.app.test_exports import soffice_path
from tests.reporting.test_usage import Point, Row

UTC = dt.UTC
NOW = dt.datetime(2027, 1, 10, tzinfo=UTC)


def _year():
    """2026 in Paris: two sessions in January (2 h and 1 h, 7.5 + 2.5 kWh), one in March (30 min, 1 kWh), one on
    31 December at 23:30 local (= 22:30 UTC) counted in December; a badge named like a formula."""
    rows = [Row(uuid.uuid4(), dt.datetime(2026, 1, 5, 8, tzinfo=UTC), dt.datetime(2026, 1, 5, 10, tzinfo=UTC),
                energy_wh=7500),
            Row(uuid.uuid4(), dt.datetime(2026, 1, 20, 8, tzinfo=UTC), dt.datetime(2026, 1, 20, 9, tzinfo=UTC),
                energy_wh=2500, id_tag='=HYPERLINK("http://x")'),
            Row(uuid.uuid4(), dt.datetime(2026, 3, 2, 12, tzinfo=UTC), dt.datetime(2026, 3, 2, 12, 30, tzinfo=UTC),
                energy_wh=1000),
            Row(uuid.uuid4(), dt.datetime(2026, 12, 31, 22, 30, tzinfo=UTC), dt.datetime(2026, 12, 31, 22, 45, tzinfo=UTC),
                energy_wh=500)]
    return build_report(year_period(2026, "Europe/Paris"), rows, [], [Point(), Point(canonical_id="P2")], [], now=NOW)


def test_a_year_is_shown_month_by_month():
    report = _year()
    months = {g.key: g for g in report.months}
    assert list(months) == [f"2026-{m:02d}" for m in range(1, 13)]  # every month, used or not
    assert (months["2026-01"].sessions, months["2026-01"].energy_kwh, months["2026-01"].connected_seconds) == (
        2, 10.0, 3 * 3600)
    assert (months["2026-03"].sessions, months["2026-02"].sessions, months["2026-12"].sessions) == (1, 0, 1)
    # January: 3 h of use over 31 days × 24 h × 2 charge points.
    assert report.month_occupancy(months["2026-01"]) == pytest.approx(3 / (31 * 24 * 2))
    assert sum(g.sessions for g in report.months) == report.totals.sessions == 4
    names = [name for name, _ in sheets_of(report, "CPAM")]
    assert "Par mois" in names and names.index("Par mois") == names.index("Recharges") - 1


async def test_the_usage_ods_opened_by_libreoffice_has_the_xlsx_numbers(tmp_path: Path):
    report = _year()
    ods = tmp_path / "usage.ods"
    ods.write_bytes(ods_bytes(report, "CPAM de la Sarthe"))
    ours = load_workbook(io.BytesIO(workbook_bytes(report, "CPAM de la Sarthe")))
    soffice = soffice_path()
    out = tmp_path / "office"
    await asyncio.to_thread(subprocess.run, [soffice, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless",
                                             "--convert-to", "xlsx", "--outdir", str(out), str(ods)],
                            check=True, capture_output=True, timeout=300)
    office = load_workbook(out / "usage.xlsx")
    assert office.sheetnames == ours.sheetnames

    def values(sheet, *, times_as_text: bool = False):
        rows = []
        for row in sheet.iter_rows(values_only=True):
            # LibreOffice keeps 15 significant digits of a float: compared to 12.
            cells = [f"{v:%d/%m/%Y %H:%M}" if times_as_text and isinstance(v, dt.datetime) else
                     float(f"{v:.12g}") if isinstance(v, float) else v for v in row]
            while cells and cells[-1] in (None, ""):
                cells.pop()
            rows.append(cells)
        while rows and not rows[-1]:
            rows.pop()
        return rows

    for name in ours.sheetnames:
        # The ODS writes the sessions' times as text (« JJ/MM/AAAA hh:mm »): compare them as such.
        assert values(office[name]) == values(ours[name], times_as_text=name == "Recharges"), name
    months = {r[1]: r for r in values(office["Par mois"])[1:]}
    assert months["2026-01"][2] == 2 and months["2026-01"][3] == 10 and months["2026-12"][2] == 1
    summary = {r[0]: r[1] for r in values(office["Synthèse"]) if r}
    assert summary["Recharges"] == 4 and summary["Énergie (kWh)"] == 11.5
    # The badge named like a formula is still text for LibreOffice.
    badges = [r[0] for r in values(office["Badges"])[1:]]
    assert "'=HYPERLINK(\"http://x\")" in badges
    assert office["Par mois"]["I2"].number_format.endswith("%")
