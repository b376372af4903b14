"""PDF documents with one look for every component (preventive reports, statements, orders, invoices).

Built on ``fpdf2``. French text needs more than Latin-1 (« ’ », « œ », « € »), so a Unicode
TrueType font is embedded when one is found: DejaVu Sans, which Debian installs with
``fonts-dejavu-core`` (LibreOffice and Chromium depend on it), or ``CENTRALE_PDF_FONT_DIR``.
Without one, the PDF falls back to the core Helvetica and the few characters outside
Latin-1 are replaced by their nearest Latin-1 spelling (``’`` → ``'``, ``œ`` → ``oe``,
``€`` → ``EUR``), so a document is always produced and always readable.

``document(title, subtitle)`` gives a page with the title block and a footer numbering the
pages; ``heading``, ``paragraph``, ``key_values`` and ``table`` write the usual parts;
``pdf_bytes`` returns the file. Text is written as text (never interpreted), long cells wrap.

The fonts are parsed once per process (``_add_font``): fpdf2's ``add_font`` reads the whole TrueType file again for
every document (a quarter of a one-page maintenance report's time), the reversibility export makes thousands.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import io
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from fontTools import ttLib
from fpdf import FPDF
from fpdf.fonts import FontFace, SubsetMap, TTFFont

__all__ = ["Document", "dated", "dated_moment", "document", "pdf_bytes", "restamped"]

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts/dejavu")
_FALLBACK = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...",
                           "œ": "oe", "Œ": "OE", "€": "EUR", "\u202f": " ", "≥": ">=", "≤": "<=", "→": "->"})


_FILE_ID = re.compile(rb"/ID \[ <[0-9a-fA-F]{32}> <[0-9a-fA-F]{32}> \]")

#: The creation date the documents made in this context carry instead of the current time (``dated``).
_CREATION_DATE: ContextVar[dt.datetime | None] = ContextVar("pdf_creation_date", default=None)


@contextlib.contextmanager
def dated(moment: dt.datetime) -> Iterator[None]:
    """The PDFs made in this block carry ``moment`` as their creation date (the document's own date): the same
    document then gives the same bytes whenever it is made (the reversibility archive's documents)."""
    token = _CREATION_DATE.set(moment)
    try:
        yield
    finally:
        _CREATION_DATE.reset(token)


def dated_moment() -> dt.datetime | None:
    """The creation date set by ``dated`` for the PDFs made now, or None (they carry the current time)."""
    return _CREATION_DATE.get()


def restamped(pdf: bytes, since: dt.datetime, until: dt.datetime, moment: dt.datetime) -> bytes:
    """``pdf`` with every date a library wrote between ``since`` and ``until`` (its clock, UTC, to the second) in
    the Info dictionary, the embedded files' parameters or the XMP metadata replaced by ``moment``. The ``factur-x``
    library stamps its PDF/A-3 with the time it runs and takes no date; its timestamps are written as text
    (``D:20261207120000+00'00'`` and ``2026-12-07T12:00:00+00:00``, the XMP uncompressed) and the replacement has the same
    length, so the cross-reference offsets stay right and the same document gives the same bytes."""
    moment = moment.astimezone(dt.UTC) if moment.utcoffset() is not None else moment
    first = since.astimezone(dt.UTC).replace(microsecond=0)
    last = until.astimezone(dt.UTC)
    second = first
    while second <= last:
        # A PDF date string may be written escaped (``D\\07220261207…\\053``): the prefix is matched both ways.
        pdf = re.sub(rb"(D(?::|\\072))" + second.strftime("%Y%m%d%H%M%S").encode(),
                     lambda m: m.group(1) + moment.strftime("%Y%m%d%H%M%S").encode(), pdf)
        pdf = pdf.replace(second.strftime("%Y-%m-%dT%H:%M:%S+00:00").encode(),
                          moment.strftime("%Y-%m-%dT%H:%M:%S+00:00").encode())
        second += dt.timedelta(seconds=1)
    # The file identifier pypdf derives from the time it writes: an MD5 of the restamped file instead (same length).
    unnamed = _FILE_ID.sub(lambda m: b"/ID [ <" + b"0" * 32 + b"> <" + b"0" * 32 + b"> ]", pdf)
    digest = hashlib.md5(unnamed, usedforsecurity=False).hexdigest().encode()
    return _FILE_ID.sub(lambda m: b"/ID [ <" + digest + b"> <" + digest + b"> ]", pdf)


def _font_dir() -> Path | None:
    for candidate in (os.environ.get("CENTRALE_PDF_FONT_DIR"), *_FONT_DIRS):
        if candidate and (Path(candidate) / "DejaVuSans.ttf").is_file() \
                and (Path(candidate) / "DejaVuSans-Bold.ttf").is_file():
            return Path(candidate)
    return None


#: The fonts parsed by this process, by (file, fpdf2 font key): the parsed ``TTFFont`` (its ``ttfont`` closed), the
#: file's bytes and its decoded ``hmtx`` table, or None for a font left to ``add_font``. Filled under ``_PARSING``;
#: read-only after (documents are made in the jobs' worker threads).
_PARSED: dict[tuple[Path, str], tuple[TTFFont, bytes, Any] | None] = {}
_PARSING = threading.Lock()


def _add_font(doc: FPDF, family: str, style: str, path: Path) -> None:
    """``doc.add_font(family, style, path)`` with the font parsed once per process.

    fpdf2 has no font cache; what it shares between two documents is what its own ``TTFFont.__deepcopy__`` shares
    (for ``FPDFRecorder``): the cmap, the descriptor, the metrics, all read-only. What a document changes is its
    own: the widths (a ``defaultdict``, written on a miss), the subset map, the missing glyphs, the biggest size,
    and the fontTools ``TTFont``, which ``output()`` subsets *in place*; each document gets a fresh one, read
    lazily from the bytes kept here (it reads only what the subsetter asks, as the file did) but for the widths
    table (``hmtx``, the longest to decode): a copy of the decoded one, whose ``metrics`` dict the subsetter
    replaces and never changes (``fontTools.subset``: ``hmtx.subset_glyphs``). The bytes written
    are those of ``add_font`` (``tests/app/test_pdf_fonts.py``). A font fpdf2 amends while parsing (a missing
    ``.notdef`` drawn, a color font, a compressed file) goes through ``add_font``."""
    fontkey = f"{family.lower()}{style}"
    with _PARSING:
        if (path, fontkey) not in _PARSED:
            template = TTFFont(doc, path, fontkey, style)
            amended = template.color_font is not None or template.is_compressed or (
                "glyf" in template.ttfont and ".notdef" not in template.ttfont["glyf"])
            parsed = None if amended else (template, path.read_bytes(), template.ttfont["hmtx"])
            template.ttfont.close()
            _PARSED[(path, fontkey)] = parsed
        parsed = _PARSED[(path, fontkey)]
    if parsed is None:
        doc.add_font(family, style, str(path))
        return
    template, data, widths = parsed
    font = TTFFont.__new__(TTFFont)
    for name in TTFFont.__slots__:
        if hasattr(template, name):  # a few slots fpdf2 never sets (``unicode_range``)
            setattr(font, name, getattr(template, name))
    font.i = len(doc.fonts) + 1
    font.cw = copy.copy(template.cw)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font._hbfont = None
    font.ttfont = ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)
    font.ttfont.tables["hmtx"] = copy.copy(widths)
    font.subset = SubsetMap(font)
    doc.fonts[fontkey] = font


class Document(FPDF):
    """An A4 page with the product's title block and numbered pages."""

    def __init__(self, title: str, subtitle: str = "", *, landscape: bool = False) -> None:
        super().__init__(orientation="L" if landscape else "P", unit="mm", format="A4")
        self.doc_title = title
        self.doc_subtitle = subtitle
        fonts = _font_dir()
        if fonts is not None:
            _add_font(self, "Body", "", fonts / "DejaVuSans.ttf")
            _add_font(self, "Body", "B", fonts / "DejaVuSans-Bold.ttf")
            self.family = "Body"
            self.unicode = True
        else:
            self.family = "Helvetica"
            self.unicode = False
        self.set_title(self.text(title))
        self.set_creator("Centrale")
        if (moment := _CREATION_DATE.get()) is not None:
            self.set_creation_date(moment)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(15, 15, 15)
        self.alias_nb_pages()
        self.add_page()

    def text(self, value: Any) -> str:
        """The text as this document's font can write it."""
        value = "" if value is None else str(value)
        if self.unicode:
            return value
        return value.translate(_FALLBACK).encode("latin-1", "replace").decode("latin-1")

    def header(self) -> None:
        self.set_font(self.family, "B", 14)
        self.multi_cell(0, 7, self.text(self.doc_title), new_x="LMARGIN", new_y="NEXT")
        if self.doc_subtitle:
            self.set_font(self.family, "", 10)
            self.multi_cell(0, 5, self.text(self.doc_subtitle), new_x="LMARGIN", new_y="NEXT")
        self.ln(3)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family, "", 8)
        self.cell(0, 5, self.text(f"Centrale — page {self.page_no()}/{{nb}}"), align="C")

    def heading(self, value: str) -> None:
        self.ln(2)
        self.set_font(self.family, "B", 11)
        self.multi_cell(0, 6, self.text(value), new_x="LMARGIN", new_y="NEXT")
        self.set_font(self.family, "", 9)

    def paragraph(self, value: str) -> None:
        self.set_font(self.family, "", 9)
        self.multi_cell(0, 5, self.text(value), new_x="LMARGIN", new_y="NEXT")

    def key_values(self, pairs: Iterable[tuple[str, Any]]) -> None:
        """Label / value lines (a two-column table without borders)."""
        self.set_font(self.family, "", 9)
        with self.table(col_widths=(1, 2), first_row_as_headings=False, borders_layout="NONE",
                        line_height=5) as table:
            for label, value in pairs:
                row = table.row()
                row.cell(self.text(label), style=FontFace(emphasis="BOLD"))
                row.cell(self.text(value))

    def table_of(self, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                 widths: Sequence[float] | None = None) -> None:
        """A table with a heading row repeated on each page; cells wrap."""
        self.set_font(self.family, "", 8)
        with self.table(col_widths=tuple(widths) if widths else None, line_height=4.5,
                        headings_style=FontFace(emphasis="BOLD", fill_color=(230, 230, 230)),
                        repeat_headings=1) as table:
            head = table.row()
            for column in columns:
                head.cell(self.text(column))
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(self.text(value))


def document(title: str, subtitle: str = "", *, landscape: bool = False) -> Document:
    return Document(title, subtitle, landscape=landscape)


def pdf_bytes(doc: Document) -> bytes:
    return bytes(doc.output())
