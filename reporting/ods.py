"""The semester workbook as OpenDocument spreadsheet (issue 15 §1; CCP TGD X.7, the State's interoperability
framework recommends ODF): the same sheets and tables as the XLSX, typed cells, and the XLSX's charts (``OdsChart``,
given to ``close``) as embedded OpenDocument chart objects over the same ranges.

odfpy builds a whole document in memory (one Python object per cell): fine for the aggregated tables (a few
thousand cells), not for a « source » sheet of 1,000,000 lines. So the source rows are written as XML text to a
side file as they come (``source_row``), and ``close`` has odfpy write the document's skeleton (styles, number
formats, meta, filter ranges, each table with a one-row placeholder), then copies its parts into the final ZIP,
streaming ``content.xml`` with each placeholder replaced by its rows: the side file for « source », the aggregated
grids (kept by the XLSX writer anyway) turned into XML row by row for the others. Memory stays flat; the side
file is removed. Each chart is an ``Object N/`` sub-document (ODF 1.2 part 1's chart content: ``content.xml`` with its
``chart:plot-area`` and ``chart:series`` over the sheet's cell ranges, ``styles.xml``), added to
``META-INF/manifest.xml`` and framed (``draw:frame``/``draw:object``) in its sheet's ``table:shapes``, written before
the sheet's rows.

Cells: text ``office:value-type="string"`` (always text, and every text goes through ``app.exports.safe_cell``
first, like the XLSX: ``=HYPERLINK(…)`` is written ``'=HYPERLINK(…)``), amounts ``currency`` (EUR, ``# ##0,00 €``),
quantities and percentages ``float``, fractions shown as percentages ``percentage`` (kind ``ratio``: 0.125 reads
12,5 %), dates ``date`` (``JJ/MM/AAAA``), durations ``time`` (kind ``duration``, a ``timedelta``: ``PT3H24M00S``
reads 3:24, hours past 24 kept). The filterable sheets get a database range
with filter buttons (``table:database-range``), as the XLSX's autofilter.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from app.exports import safe_cell

__all__ = ["KINDS", "OdsBook", "OdsChart"]

#: Cell kinds -> the automatic cell style that renders them.
KINDS = {"text": None, "header": "chead", "bold": "cbold", "title": "ctitle", "currency": "cmoney",
         "currency_bold": "cmoneyb", "price": "cprice", "float": "cfloat", "quantity": "cqty", "percent": "cpct",
         "date": "cdate", "ratio": "cratio", "duration": "cduration"}
_MARKER = "@@centrale-source-rows@@"
#: The deflate level of ``content.xml``: zlib's default. The rows' XML is so repetitive that it deflates at
#: 300 MB/s of CPU there (measured on a million rows), and level 1 would make the file 2.4 × larger.
ZIP_LEVEL = 6
#: Characters XML 1.0 does not allow (a control character in a maker's name would break the file).
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    return escape(_INVALID.sub("", value))


def _number(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    text = format(value if isinstance(value, Decimal) else Decimal(str(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def cell_xml(kind: str, value: Any) -> str:
    """One ``table:table-cell``: ``value`` None or « » is an empty cell."""
    style = KINDS.get(kind)
    attr = f' table:style-name="{style}"' if style else ""
    if value is None or value == "":
        return f"<table:table-cell{attr}/>"
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        style = ' table:style-name="cdate"' if kind in ("text", "date") else attr
        return (f'<table:table-cell{style} office:value-type="date" office:date-value="{value.isoformat()}">'
                f"<text:p>{value:%d/%m/%Y}</text:p></table:table-cell>")
    if isinstance(value, dt.timedelta):  # a duration (CAIH 6.1's mean time to restore), shown [h]:mm
        hours, rest = divmod(int(value.total_seconds()), 3600)
        minutes, seconds = divmod(rest, 60)
        return (f'<table:table-cell{attr} office:value-type="time" '
                f'office:time-value="PT{hours}H{minutes:02d}M{seconds:02d}S">'
                f"<text:p>{hours}:{minutes:02d}</text:p></table:table-cell>")
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        text = _text(str(safe_cell(value)))
        return f'<table:table-cell{attr} office:value-type="string"><text:p>{text}</text:p></table:table-cell>'
    number = _number(value)
    if kind == "ratio":  # a fraction (0.125) shown as a percentage (12,5 %)
        return (f'<table:table-cell{attr} office:value-type="percentage" office:value="{number}">'
                f"<text:p>{number}</text:p></table:table-cell>")
    if kind in ("currency", "currency_bold", "price"):
        return (f'<table:table-cell{attr} office:value-type="currency" office:currency="EUR" '
                f'office:value="{number}"><text:p>{number} €</text:p></table:table-cell>')
    return (f'<table:table-cell{attr} office:value-type="float" office:value="{number}">'
            f"<text:p>{number}</text:p></table:table-cell>")


def row_xml(cells: Iterable[tuple[str, Any]]) -> str:
    return "<table:table-row>" + "".join(cell_xml(kind, value) for kind, value in cells) + "</table:table-row>\n"


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


@dataclass
class OdsChart:
    """One of the workbook's charts, as the XLSX has it (``reporting.workbook``): its kind (xlsxwriter's
    ``column``, ``bar``, ``line``, ``pie``), its sheet, title, categories and series (a literal name and a range of
    values), each range ``(first_row, first_col, last_row, last_col)`` 0-based; the top left cell and the scale of
    xlsxwriter's 480 × 288 px where it is inserted."""

    kind: str
    sheet: str
    title: str
    categories: tuple[int, int, int, int]
    series: list[tuple[str, tuple[int, int, int, int]]]
    stacked: bool = False
    row: int = 0
    col: int = 0
    x_scale: float = 1
    y_scale: float = 1


#: ODF 1.2 part 1's ``chart:class`` of each xlsxwriter kind (a horizontal bar is ``chart:bar`` with
#: ``chart:vertical="true"``), as LibreOffice writes them when it converts the XLSX.
CHART_CLASSES = {"column": "chart:bar", "bar": "chart:bar", "line": "chart:line", "pie": "chart:circle"}
#: LibreOffice's default column width and row height (our ODS sets neither): where a chart's top left cell is.
_COLUMN_CM, _ROW_CM = 2.258, 0.452
_CHART_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
             'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
             'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
             'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
             'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
             'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
             'xmlns:xlink="http://www.w3.org/1999/xlink" '
             'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
             'xmlns:chart="urn:oasis:names:tc:opendocument:xmlns:chart:1.0" '
             'xmlns:loext="urn:org:documentfoundation:names:experimental:office:xmlns:loext:1.0" '
             'office:version="1.2"')


def _attr(value: str) -> str:
    return escape(_INVALID.sub("", value), {'"': "&quot;"})


def cell_range(sheet: str, area: tuple[int, int, int, int]) -> str:
    """An ODF cell range address (ODF 1.2 part 1, ``table:cell-range-address``): ``'Sheet'.A2:'Sheet'.A4``."""
    quoted = "'" + sheet.replace("'", "''") + "'"
    r0, c0, r1, c1 = area
    return f"{quoted}.{_column(c0)}{r0 + 1}:{quoted}.{_column(c1)}{r1 + 1}"


def chart_ranges(chart: OdsChart) -> list[str]:
    """The categories' range, then each series' values."""
    return [cell_range(chart.sheet, area) for area in (chart.categories, *(area for _, area in chart.series))]


def chart_content(chart: OdsChart) -> str:
    """The chart object's ``content.xml`` (ODF 1.2 part 1's chart content, the structure LibreOffice writes, without the
    local table: the data are the sheet's ranges, ``table:cell-range-address`` of the plot area, each series'
    ``chart:values-cell-range-address`` and the axis' ``chart:categories``)."""
    width, height = 12.7 * chart.x_scale, 7.62 * chart.y_scale
    pie = chart.kind == "pie"
    categories = cell_range(chart.sheet, chart.categories)
    ranges = chart_ranges(chart)
    plot = ' chart:vertical="true"' if chart.kind == "bar" else ""
    plot += ' chart:stacked="true"' if chart.stacked else ""
    label = ' chart:data-label-number="percentage"' if pie else ""
    legend = ""
    if pie or len(chart.series) > 1:
        legend = f'<chart:legend chart:legend-position="{"end" if pie else "bottom"}" style:legend-expansion="wide"/>'
    series = "".join(
        f'<chart:series chart:style-name="s{i}" chart:class="{CHART_CLASSES[chart.kind]}" '
        f'chart:values-cell-range-address="{_attr(cell_range(chart.sheet, area))}" '
        f'loext:label-string="{_attr(chr(34) + name + chr(34))}"/>'
        for i, (name, area) in enumerate(chart.series))
    styles = "".join(f'<style:style style:name="s{i}" style:family="chart"><style:chart-properties{label}/>'
                     f"</style:style>" for i in range(len(chart.series)))
    # The categories on the x axis, for a pie too (where LibreOffice writes them).
    axes = (f'<chart:axis chart:dimension="x" chart:name="primary-x" chart:style-name="axis"><chart:categories '
            f'table:cell-range-address="{_attr(categories)}"/></chart:axis>'
            '<chart:axis chart:dimension="y" chart:name="primary-y" chart:style-name="axis">'
            + ("" if pie else '<chart:grid chart:class="major"/>') + "</chart:axis>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {_CHART_NS}>'
            f'<office:automatic-styles><style:style style:name="plot" style:family="chart"><style:chart-properties'
            f' chart:include-hidden-cells="false" chart:treat-empty-cells="leave-gap"{plot}/></style:style>'
            # The axes' labels shown (``chart:display-label``), their numbers in the cells' format (€).
            '<style:style style:name="axis" style:family="chart"><style:chart-properties chart:display-label="true"'
            ' chart:link-data-style-to-source="true"/></style:style>'
            f"{styles}</office:automatic-styles><office:body><office:chart>"
            f'<chart:chart svg:width="{width:.3f}cm" svg:height="{height:.3f}cm" xlink:href=".." xlink:type="simple" '
            f'chart:class="{CHART_CLASSES[chart.kind]}"><chart:title><text:p>{_text(chart.title)}</text:p>'
            f"</chart:title>{legend}"
            f'<chart:plot-area chart:style-name="plot" table:cell-range-address="{_attr(" ".join(ranges))}" '
            f'chart:data-source-has-labels="none">{axes}{series}</chart:plot-area>'
            "</chart:chart></office:chart></office:body></office:document-content>")


def chart_frame(chart: OdsChart, number: int) -> str:
    """The ``draw:frame`` of the sheet's ``table:shapes`` that embeds ``Object N`` (``draw:object``) where xlsxwriter inserts the chart."""
    width, height = 12.7 * chart.x_scale, 7.62 * chart.y_scale
    ranges = " ".join(chart_ranges(chart))
    return (f'<draw:frame draw:z-index="{number}" draw:name="Graphique {number}" svg:width="{width:.3f}cm" '
            f'svg:height="{height:.3f}cm" svg:x="{chart.col * _COLUMN_CM:.3f}cm" svg:y="{chart.row * _ROW_CM:.3f}cm">'
            f'<draw:object draw:notify-on-update-of-ranges="{_attr(ranges)}" xlink:href="./Object {number}" '
            'xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/></draw:frame>')


_FRAME_NS = (("draw", "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"),
             ("svg", "urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"),
             ("xlink", "http://www.w3.org/1999/xlink"))
_CHART_STYLES = (f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-styles {_CHART_NS}><office:styles/>'
                 "</office:document-styles>")


class OdsBook:
    """An ODS of named sheets: the « source » rows streamed (``source_row``), the other sheets given whole to
    ``close`` as grids ``{row: {col: (kind, value)}}``."""

    def __init__(self, path: Path, sheets: Sequence[str], *, source: str = "source", title: str = "") -> None:
        self.path, self.sheets, self.source, self.title = path, list(sheets), source, title
        self.rows_path = path.with_name(path.name + ".rows")
        self.rows = self.rows_path.open("w", encoding="utf-8")
        self.source_rows = 0
        self.source_columns = 0

    def source_row(self, cells: Sequence[tuple[str, Any]]) -> None:
        self.rows.write(row_xml(cells))
        self.source_rows += 1
        self.source_columns = max(self.source_columns, len(cells))

    def source_xml(self, rows_xml: str, rows: int, columns: int) -> None:
        """Rows already written as ``table:table-row`` text (``reporting.source_rows``, the semester workbook)."""
        self.rows.write(rows_xml)
        self.source_rows += rows
        self.source_columns = max(self.source_columns, columns)

    def close(self, grids: dict[str, dict[int, dict[int, tuple[str, Any]]]],
              filters: dict[str, tuple[int, int]] | None = None, charts: Sequence[OdsChart] = ()) -> None:
        """Write the file. ``filters``: per sheet, its last row and column (0-based) under a header row;
        ``charts``: the XLSX's charts, each embedded as an ``Object N`` chart document."""
        self.rows.close()
        try:
            self._write(grids, filters or {}, list(charts))
        finally:
            self.rows_path.unlink(missing_ok=True)

    def _document(self, filters: dict[str, tuple[int, int]]) -> Any:
        from odf.dc import Title
        from odf.number import (
            CurrencyStyle,
            CurrencySymbol,
            DateStyle,
            Day,
            Hours,
            Minutes,
            Month,
            Number,
            NumberStyle,
            PercentageStyle,
            TimeStyle,
            Year,
        )
        from odf.number import Text as NumberText
        from odf.opendocument import OpenDocumentSpreadsheet
        from odf.style import Style, TableCellProperties, TextProperties
        from odf.table import DatabaseRange, DatabaseRanges, Table, TableCell, TableRow
        from odf.text import P

        doc = OpenDocumentSpreadsheet()
        if self.title:
            doc.meta.addElement(Title(text=self.title))
        auto = doc.automaticstyles
        money = CurrencyStyle(name="nmoney")
        money.addElement(Number(decimalplaces="2", minintegerdigits="1", grouping="true"))
        money.addElement(NumberText(text="\u00a0"))
        money.addElement(CurrencySymbol(language="fr", country="FR", text="€"))
        price = CurrencyStyle(name="nprice")
        price.addElement(Number(decimalplaces="4", minintegerdigits="1", grouping="true"))
        price.addElement(NumberText(text="\u00a0"))
        price.addElement(CurrencySymbol(language="fr", country="FR", text="€"))
        date = DateStyle(name="ndate")
        for part in (Day(style="long"), NumberText(text="/"), Month(style="long"), NumberText(text="/"),
                     Year(style="long")):
            date.addElement(part)
        qty = NumberStyle(name="nqty")
        qty.addElement(Number(decimalplaces="3", minintegerdigits="1", grouping="true"))
        pct = NumberStyle(name="npct")
        pct.addElement(Number(decimalplaces="2", minintegerdigits="1"))
        flt = NumberStyle(name="nfloat")
        flt.addElement(Number(decimalplaces="0", minintegerdigits="1", grouping="true"))
        ratio = PercentageStyle(name="nratio")
        ratio.addElement(Number(decimalplaces="1", minintegerdigits="1"))
        ratio.addElement(NumberText(text="\u00a0%"))
        # A duration past 24 h keeps its hours (« 30:36 », not « 06:36 »).
        duration = TimeStyle(name="nduration", truncateonoverflow="false")
        for part in (Hours(), NumberText(text=":"), Minutes(style="long")):
            duration.addElement(part)
        for style in (money, price, date, qty, pct, flt, ratio, duration):
            auto.addElement(style)

        def cell_style(name: str, data: str | None = None, bold: bool = False, head: bool = False,
                       size: str | None = None) -> None:
            style = Style(name=name, family="table-cell", **({"datastylename": data} if data else {}))
            if bold or head or size:
                style.addElement(TextProperties(fontweight="bold", **({"fontsize": size} if size else {})))
            if head:
                style.addElement(TableCellProperties(backgroundcolor="#dde4ee", border="0.5pt solid #000000",
                                                     wrapoption="wrap"))
            auto.addElement(style)

        cell_style("chead", head=True)
        cell_style("cbold", bold=True)
        cell_style("ctitle", bold=True, size="14pt")
        cell_style("cmoney", "nmoney")
        cell_style("cmoneyb", "nmoney", bold=True)
        cell_style("cprice", "nprice")
        cell_style("cfloat", "nfloat")
        cell_style("cqty", "nqty")
        cell_style("cpct", "npct")
        cell_style("cdate", "ndate")
        cell_style("cratio", "nratio")
        cell_style("cduration", "nduration")

        ranges = DatabaseRanges()
        for index, name in enumerate(self.sheets):
            # One placeholder row per table, replaced by its rows as content.xml is copied (``_write``); it uses
            # every style, so that odfpy keeps them all.
            table, row = Table(name=name), TableRow()
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=f"{_MARKER}{index}@@"))
            row.addElement(cell)
            for style in KINDS.values():
                if style:
                    row.addElement(TableCell(stylename=style))
            table.addElement(row)
            doc.spreadsheet.addElement(table)
            if name in filters:
                last_row, last_col = filters[name]
                quoted = "'" + name.replace("'", "''") + "'"
                ranges.addElement(DatabaseRange(
                    name=f"__Anonymous_Sheet_DB__{index}", displayfilterbuttons="true",
                    targetrangeaddress=f"{quoted}.A1:{quoted}.{_column(last_col)}{last_row + 1}"))
        if ranges.hasChildNodes():
            doc.spreadsheet.addElement(ranges)
        return doc

    @staticmethod
    def _grid_rows(out: Any, grid: dict[int, dict[int, tuple[str, Any]]]) -> None:
        """An aggregated sheet's rows, in order (an empty row for a gap)."""
        for r in range(max(grid, default=-1) + 1):
            cells = grid.get(r, {})
            out.write(row_xml(cells.get(c, ("text", None)) for c in range(max(cells, default=-1) + 1))
                      .encode("utf-8"))

    def _write(self, grids: dict[str, dict[int, dict[int, tuple[str, Any]]]],
               filters: dict[str, tuple[int, int]], charts: list[OdsChart]) -> None:
        doc = self._document(filters)
        skeleton = self.path.with_name(self.path.name + ".skeleton")
        try:
            doc.save(str(skeleton))
            with zipfile.ZipFile(skeleton) as source, zipfile.ZipFile(
                    self.path, "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as target:
                for info in source.infolist():
                    data = source.read(info.filename)
                    if info.filename == "META-INF/manifest.xml" and charts:
                        entries = "".join(
                            f' <manifest:file-entry manifest:full-path="Object {n}/{part}" '
                            f'manifest:media-type="{kind}"/>\n'
                            for n in range(1, len(charts) + 1)
                            for part, kind in (("", "application/vnd.oasis.opendocument.chart"),
                                               ("content.xml", "text/xml"), ("styles.xml", "text/xml")))
                        data = data.replace(b"</manifest:manifest>", entries.encode() + b"</manifest:manifest>")
                    if info.filename != "content.xml":
                        target.writestr(info, data)
                        continue
                    text = data.decode("utf-8")
                    if charts:  # odfpy declares only the namespaces its elements use: the frames' too
                        root = text.index("<office:document-content") + len("<office:document-content")
                        declare = "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in _FRAME_NS
                                          if f"xmlns:{prefix}=" not in text[:text.index(">", root)])
                        text = text[:root] + declare + text[root:]
                    with target.open("content.xml", "w", force_zip64=True) as out:
                        done = 0
                        for index, name in enumerate(self.sheets):
                            at = text.index(f"{_MARKER}{index}@@", done)
                            start = text.rindex("<table:table-row", 0, at)
                            out.write(text[done:start].encode("utf-8"))
                            shapes = "".join(chart_frame(chart, n) for n, chart in enumerate(charts, start=1)
                                             if chart.sheet == name)
                            if shapes:  # before the table's rows (``table:table``'s content model)
                                out.write(f"<table:shapes>{shapes}</table:shapes>".encode())
                            done = text.index("</table:table-row>", at) + len("</table:table-row>")
                            if name == self.source:
                                with self.rows_path.open("rb") as rows:
                                    shutil.copyfileobj(rows, out, 1 << 20)
                            else:
                                self._grid_rows(out, grids.get(name, {}))
                        out.write(text[done:].encode("utf-8"))
                for n, chart in enumerate(charts, start=1):
                    target.writestr(f"Object {n}/content.xml", chart_content(chart))
                    target.writestr(f"Object {n}/styles.xml", _CHART_STYLES)
        finally:
            skeleton.unlink(missing_ok=True)

