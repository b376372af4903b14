"""The « source » sheet's rows as text (CCTP CAIH 5 « Un onglet « source » contiendra la totalité des lignes de
commandes passées depuis le début du marché »): one line becomes its XLSX ``<row>``, its ODS ``<table:table-row>``
and its CSV record, built from templates and from fragments kept per beneficiary, per article, per order date and
per order, since a million lines share a few thousand of them (issue 15 « Speed »: xlsxwriter's per-cell calls and
the ODS's per-cell XML were most of the report's time).

The text is the one the per-cell writers produced, byte for byte (``tests/reporting/test_source_rows.py`` compares
them): the XLSX cells as xlsxwriter writes them in ``constant_memory`` mode (inline strings, control characters as
``_xHHHH_``, ``xml:space="preserve"`` around outer blanks, numbers ``%.16G``, dates as serial days, an empty text
left out), the ODS cells from ``reporting.ods.cell_xml``, the CSV through the ``csv`` module; every text through
``app.exports.safe_cell`` first. One difference: a text shaped like xlsxwriter's rich string (``<r>…</r>``) is
escaped like any other (xlsxwriter would have copied it into the XML unescaped).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.exports import safe_cell
from reporting.ods import cell_xml
from reporting.semester import Semester, semester_of

__all__ = ["SourceRows", "xlsx_text_cell"]

_COLUMNS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: Where the row number goes in a fragment (a control character: text never keeps one, see ``_xlsx_text``).
ROW = "\x00"
_CONTROL_ESCAPE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"([\x00-\x08\x0b-\x1f])")
_OUTER_SPACE = re.compile(r"^\s|\s$")
#: Excel's limit, xlsxwriter's truncation.
_MAX_TEXT = 32767
_EPOCH = dt.date(1899, 12, 30)


def xlsx_text_cell(col: int, value: Any) -> str:
    """An inline-string cell of column ``col`` with ``ROW`` for its row number; « » (no cell) for an empty text."""
    value = safe_cell(value)
    if value == "":
        return ""
    text = str(value)[:_MAX_TEXT]
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", _CONTROL_ESCAPE.sub(r"_x005F\1", text))
    preserve = ' xml:space="preserve"' if _OUTER_SPACE.search(text) else ""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{_COLUMNS[col]}{ROW}" t="inlineStr"><is><t{preserve}>{text}</t></is></c>'


def _xlsx_number(col: int, style: int, value: Any) -> str:
    return f'<c r="{_COLUMNS[col]}{ROW}" s="{style}"><v>{float(value):.16G}</v></c>'


def _csv_fields(values: Sequence[Any]) -> str:
    """``values`` as the ``csv`` module writes them (``;``, minimal quoting), without the line's end."""
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerow([safe_cell(v) for v in values])
    return out.getvalue()[:-2]


@dataclass(frozen=True, slots=True)
class _Parts:
    """One entity's cells in the three formats."""

    xlsx: str
    ods: str
    csv: str


@dataclass(frozen=True, slots=True)
class _Who:
    """A beneficiary's cells, its index in the aggregates, and the object they were made for (kept alive, so that
    its ``id`` is not reused)."""

    cells: tuple[_Parts, _Parts]
    index: int
    beneficiary: Any


@dataclass(frozen=True, slots=True)
class _Day:
    semester: Semester
    month: tuple[int, int]
    in_report: bool
    date: _Parts
    label: _Parts


class SourceRows:
    """The caches and templates of one report's « source » rows. ``styles``: the XLSX cell format index of
    ``date``, ``price``, ``quantity``, ``money``, ``percent``; ``report``: the report's semester; ``families``,
    ``modes``: their display names (``catalog.rules``); ``region``: a beneficiary's region text and index, asked
    once per beneficiary."""

    def __init__(self, styles: dict[str, int], report: Semester, families: dict[str, str], modes: dict[str, str],
                 region: Callable[[Any], tuple[str, int]]) -> None:
        self.styles, self.report, self.families, self.modes, self.region = styles, report, families, modes, region
        # By the object's id (a line's beneficiary is its tenant's one object: a UUID hashes slowly), then by id.
        self._beneficiaries: dict[int, _Who] = {}
        self._tenants: dict[Any, _Who] = {}
        self._articles: dict[tuple[str, ...], tuple[_Parts, _Parts, _Parts]] = {}
        self._days: dict[dt.date, _Day] = {}
        self._prices: dict[str, _Parts] = {}
        self._quantities: dict[str, _Parts] = {}
        self._discounts: dict[str, _Parts] = {}
        self._order: tuple[tuple[str, str], _Parts] | None = None
        self._money = styles["money"]

    def _parts(self, first: int, values: Sequence[str]) -> _Parts:
        return _Parts("".join(xlsx_text_cell(first + i, v) for i, v in enumerate(values)),
                      "".join(cell_xml("text", v) for v in values), _csv_fields(values))

    def beneficiary(self, b: Any) -> _Who:
        """Columns A–D (identifier, name, postal code, city) and S (region), and the index ``region`` gave."""
        found = self._beneficiaries.get(id(b))
        if found is None:
            found = self._tenants.get(b.tenant_id)
            if found is None:
                region, index = self.region(b)
                found = self._tenants[b.tenant_id] = _Who(
                    (self._parts(0, (b.identifier, b.name, b.postal_code, b.city)), self._parts(18, (region,))),
                    index, b)
            self._beneficiaries[id(b)] = found if found.beneficiary is b else _Who(found.cells, found.index, b)
        return found

    def article(self, line: Any) -> tuple[_Parts, _Parts, _Parts]:
        """Columns F–G (code, maker), K (BPU or CATALOGUE) and P–R (label, family, purchase or rental)."""
        key = (line.article_code, line.maker, line.kind, line.label, line.family, line.purchase_or_rental)
        found = self._articles.get(key)
        if found is None:
            family = self.families.get(line.family, line.family)
            mode = self.modes.get(line.purchase_or_rental, line.purchase_or_rental)
            found = self._articles[key] = (self._parts(5, (line.article_code, line.maker)),
                                           self._parts(10, (line.kind,)),
                                           self._parts(15, (line.label, family, mode)))
        return found

    def day(self, day: dt.date) -> _Day:
        """Column E (the order date) and M (its semester), with the aggregates' keys."""
        found = self._days.get(day)
        if found is None:
            semester = semester_of(day)
            date = _Parts(f'<c r="E{ROW}" s="{self.styles["date"]}"><v>{(day - _EPOCH).days}</v></c>',
                          cell_xml("date", day), day.isoformat())
            found = self._days[day] = _Day(semester, (day.year, day.month), self.report.contains(day), date,
                                           self._parts(12, (semester.slug,)))
        return found

    def order(self, number: str, agreement: str) -> _Parts:
        """Columns N–O (the order's number and agreement): the lines of an order come together."""
        key = (number, agreement)
        if self._order is None or self._order[0] != key:
            self._order = (key, self._parts(13, key))
        return self._order[1]

    def _number(self, cache: dict[str, _Parts], col: int, style: str, kind: str, value: Any) -> _Parts:
        text = str(value)
        found = cache.get(text)
        if found is None:
            found = cache[text] = _Parts(_xlsx_number(col, self.styles[style], value), cell_xml(kind, value), text)
        return found

    def price(self, value: Decimal) -> _Parts:
        return self._number(self._prices, 7, "price", "price", value)

    def quantity(self, value: Decimal) -> _Parts:
        return self._number(self._quantities, 8, "quantity", "quantity", value)

    def discount(self, value: Decimal | None) -> _Parts:
        if value is None:
            return _Parts("", cell_xml("percent", None), "")
        return self._number(self._discounts, 11, "percent", "percent", value)

    def amount(self, value: Decimal) -> _Parts:
        """Column J, the line's CA HT: one per line, not kept (``cell_xml("currency", value)``, inlined)."""
        text = str(value)
        number = format(value, "f")
        if "." in number:
            number = number.rstrip("0").rstrip(".")
        return _Parts(f'<c r="J{ROW}" s="{self._money}"><v>{float(value):.16G}</v></c>',
                      f'<table:table-cell table:style-name="cmoney" office:value-type="currency" office:currency="EUR" '
                      f'office:value="{number}"><text:p>{number} €</text:p></table:table-cell>', text)
