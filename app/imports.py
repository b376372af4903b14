"""Reading an imported table (CSV or XLSX), the reverse of ``app.exports``.

A component's import checks the lines itself; this module only turns the bytes into a header and
numbered rows, with the same French messages for every component: an unreadable workbook, a file
not in UTF-8, an empty file. ``error`` is the component's ``LinesRejected`` subclass, so that its
callers catch one exception whatever went wrong.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from app.errors import LinesRejected

__all__ = ["header_keys", "read_table"]

Rows = list[tuple[int, list[Any]]]


def header_keys(header: list[Any]) -> list[str]:
    """Column names as keys: « Numéro série » and ``numero-serie`` alike (lower case, ``_``)."""
    return [str(h).strip().lower().replace(" ", "_").replace("-", "_") for h in header]


def _xlsx(content: bytes, max_rows: int, error: type[LinesRejected]) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any unreadable workbook is the same answer
        raise error({0: ["Le classeur XLSX est illisible."]}) from None
    try:
        return [["" if v is None else v for v in row]
                for row in book.worksheets[0].iter_rows(values_only=True, max_row=max_rows)]
    finally:
        book.close()


def read_table(content: bytes | str, filename: str = "", *, error: type[LinesRejected] = LinesRejected,
               max_rows: int = 100_000) -> tuple[list[str], Rows]:
    """The header (as written: ``header_keys`` makes keys of it) and the rows below it, each with its line number in the file (a CSV's
    physical line, quoted line breaks counted), blank rows left out. CSV: UTF-8 with or without BOM,
    ``;`` or ``,`` (whichever the header has more of). At most ``max_rows`` rows are read from a
    workbook; the caller bounds a CSV's by the number it returns."""
    if isinstance(content, bytes) and (filename.lower().endswith(".xlsx") or content.startswith(b"PK\x03\x04")):
        table = _xlsx(content, max_rows + 1, error)
        if not table:
            raise error({0: ["Le fichier est vide."]})
        return [str(h) for h in table[0]], [(n, row) for n, row in enumerate(table[1:], start=2)
                                       if any(str(v).strip() for v in row)]
    if isinstance(content, bytes):
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise error({0: ["Le fichier doit être encodé en UTF-8."]}) from None
    else:
        text = content.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text), delimiter=";" if first.count(";") >= first.count(",") else ",")
    try:
        header = next(reader)
    except StopIteration:
        raise error({0: ["Le fichier est vide."]}) from None
    return header, [(reader.line_num, values) for values in reader if any(v.strip() for v in values)]
