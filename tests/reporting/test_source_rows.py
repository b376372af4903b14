"""The « source » sheet's rows built from templates (``reporting.source_rows``, issue 15 « Speed ») are the ones the
per-cell writers give, byte for byte: xlsxwriter's cells (``constant_memory``: inline strings, control characters,
outer blanks, numbers, dates, empty texts left out), ``reporting.ods.cell_xml``'s cells and the ``csv`` module's
fields, every text through ``app.exports.safe_cell`` (CCTP CAIH 5's « source » tab, formula-safe)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
import zipfile
from decimal import Decimal

import xlsxwriter

from app.exports import safe_cell
from catalog.rules import FAMILIES, MODES
from catalog.services import Beneficiary, ReportedLine
from reporting.ods import row_xml
from reporting.semester import PARIS, Semester, semester_of
from reporting.workbook import NO_REGION, ReportMeta, SemesterWorkbook

ALPHA = Beneficiary(uuid.uuid4(), "570000014", "", "Hôpital « Alpha » & <Cie>", "57000", "Metz", "Grand Est")
BETA = Beneficiary(uuid.uuid4(), "", "80000000000014", " Centre Bêta ", "69100", "Villeurbanne", "")
#: Makers as a user could type them: a formula, a control character and a literal escape, a newline, a quote and
#: a semicolon, outer blanks, nothing.
MAKERS = ('=HYPERLINK("http://evil.example","clic")', "A\x01B_x0041_", 'x\ny;"q"', "  Dell ", "")


def _lines() -> list[ReportedLine]:
    out = []
    for n in range(40):
        price = Decimal("1234.5678") + n
        quantity = Decimal(n % 3 + 1) / (2 if n % 5 == 0 else 1)
        out.append(ReportedLine(
            beneficiary=(ALPHA, BETA)[n % 2], order_date=dt.date(2026, 1, 1) + dt.timedelta(days=11 * n),
            order_number=f"BC-2026-{n // 3:04d}", agreement_reference="2025-CAIH-SRV", article_code=f"ART-{n % 7}",
            label=f"Article {n % 7} <b>", maker=MAKERS[n % len(MAKERS)], unit_price_ht=price, quantity=quantity,
            ordered_ht=(price * quantity).quantize(Decimal("0.01")), kind=("BPU", "CATALOGUE")[n % 4 == 0],
            discount_percent=None if n % 3 else Decimal("7.50"), family="fourniture",
            purchase_or_rental=("achat", "location")[n % 6 == 0]))
    return out


def _values(line: ReportedLine) -> tuple:
    b = line.beneficiary
    return (b.identifier, b.name, b.postal_code, b.city, line.order_date, line.article_code, line.maker,
            line.unit_price_ht, line.quantity, line.ordered_ht, line.kind, line.discount_percent,
            semester_of(line.order_date).slug, line.order_number, line.agreement_reference, line.label,
            FAMILIES.get(line.family, line.family), MODES.get(line.purchase_or_rental, line.purchase_or_rental),
            b.region or NO_REGION)


def _sheet_data(path, member: str) -> str:
    with zipfile.ZipFile(path) as book:
        text = book.read(member).decode()
    return re.search(r"<sheetData>.*</sheetData>", text, re.S).group(0)


def test_the_source_rows_are_the_per_cell_writers_ones(tmp_path):
    lines = _lines()
    meta = ReportMeta("CAIH", "Centrale", Semester(2026, 1), ("2025-CAIH-SRV",), None,
                      dt.datetime(2026, 8, 1, tzinfo=dt.UTC), "test", PARIS)
    book = SemesterWorkbook(tmp_path / "r.xlsx", tmp_path / "r.csv", meta, [ALPHA, BETA], tmp_path / "r.ods")
    book.add(lines[:25])
    book.add(lines[25:])
    book.close()
    header = book.header

    # xlsxwriter, cell by cell, with the formats in the same order.
    reference = xlsxwriter.Workbook(str(tmp_path / "ref.xlsx"), {
        "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False})
    reference.add_worksheet("Synthèse")
    sheet = reference.add_worksheet("source")
    f = reference.add_format
    head = f({"bold": True, "bg_color": "#DDE4EE", "border": 1, "text_wrap": True, "valign": "top"})
    formats = {4: f({"num_format": "dd/mm/yyyy"}), 7: f({"num_format": '#,##0.00## "€"'}),
               8: f({"num_format": "#,##0.###"}), 9: f({"num_format": '#,##0.00 "€"'}), 11: f({"num_format": "0.00"})}
    for col, text in enumerate(header):
        sheet.write_string(0, col, text, head)
    for row, line in enumerate(lines, start=1):
        for col, value in enumerate(_values(line)):
            value = safe_cell(value)
            if isinstance(value, dt.date):
                sheet.write_datetime(row, col, dt.datetime.combine(value, dt.time()), formats[col])
            elif isinstance(value, Decimal):
                sheet.write_number(row, col, float(value), formats[col])
            elif value != "":
                sheet.write_string(row, col, value)
    reference.close()
    ours = _sheet_data(tmp_path / "r.xlsx", "xl/worksheets/sheet2.xml")
    assert ours == _sheet_data(tmp_path / "ref.xlsx", "xl/worksheets/sheet2.xml")
    assert "'=HYPERLINK" in ours and "_x0001_B_x005F_x0041_" in ours and 'xml:space="preserve"' in ours

    # The ODS's rows, cell by cell (``reporting.ods.row_xml``).
    kinds = ("text",) * 4 + ("date", "text", "text", "price", "quantity", "currency", "text", "percent") + (
        "text",) * 7
    expected = row_xml(("header", h) for h in header) + "".join(
        row_xml(zip(kinds, _values(line), strict=True)) for line in lines)
    with zipfile.ZipFile(tmp_path / "r.ods") as ods:
        content = ods.read("content.xml").decode()
    assert expected in content

    # The CSV, through the csv module.
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for line in lines:
        writer.writerow([safe_cell(v.isoformat() if isinstance(v, dt.date) else "" if v is None else v)
                         for v in _values(line)])
    assert (tmp_path / "r.csv").read_bytes().decode("utf-8-sig") == out.getvalue()
