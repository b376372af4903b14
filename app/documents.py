"""One document, two writers (CCP TGD X.7: « au format PDF avec sa version OpenDocument »): a ``Layout`` of
blocks, written as PDF (``app.pdf``, the product's look) by ``layout_pdf`` and as OpenDocument text (``odfpy``) by
``layout_odt``, so that the two never differ in what they say. Catalog's orders, slips and quotes and reporting's
COPIL pack are each one."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.pdf import dated_moment, document, pdf_bytes

__all__ = ["Layout", "layout_odt", "layout_pdf", "redated"]


@dataclass
class Layout:
    """A document as both writers see it: a title, a subtitle, then blocks in order, each ``(kind, content)``:
    ``pairs`` (labels and values), ``totals`` (the same, a table in the ODT), ``heading``, ``paragraph``,
    ``table`` (``(name, columns, rows, widths)``). The order, the delivery slip and the quote
    (``catalog.documents``) are each one; PDF and ODT never differ in what they say (CCP TGD X.7: « au format PDF
    avec sa version OpenDocument »)."""

    title: str
    subtitle: str = ""
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, kind: str, content: Any) -> Layout:
        self.blocks.append((kind, content))
        return self

    def table(self, name: str, columns: Sequence[str], rows: list[tuple[str, ...]],
              widths: Sequence[float] | None = None) -> Layout:
        return self.add("table", (name, tuple(columns), rows, widths))


def layout_pdf(layout: Layout) -> bytes:
    doc = document(layout.title, layout.subtitle, landscape=True)
    for kind, content in layout.blocks:
        if kind in ("pairs", "totals"):
            doc.key_values(content)
        elif kind == "heading":
            doc.heading(content)
        elif kind == "paragraph":
            doc.paragraph(content)
        else:
            _, columns, rows, widths = content
            doc.table_of(columns, rows, widths=widths)
    return pdf_bytes(doc)


def layout_odt(layout: Layout) -> bytes:
    from odf.dc import Title
    from odf.opendocument import OpenDocumentText
    from odf.style import ParagraphProperties, Style, TableColumnProperties, TextProperties
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, P, Span

    doc = OpenDocumentText()
    bold = Style(name="Gras", family="text")
    bold.addElement(TextProperties(fontweight="bold"))
    small = Style(name="Cellule", family="paragraph")
    small.addElement(TextProperties(fontsize="8pt"))
    small.addElement(ParagraphProperties(marginleft="0.05cm"))
    column = Style(name="Colonne", family="table-column")
    column.addElement(TableColumnProperties(columnwidth="2.4cm"))
    for style in (bold, small, column):
        doc.automaticstyles.addElement(style)
    doc.meta.addElement(Title(text=layout.title))
    if (moment := dated_moment()) is not None:
        from odf.meta import CreationDate

        doc.meta.addElement(CreationDate(text=moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")))

    def table(name: str, rows: list[tuple[str, ...]]) -> Any:
        t = Table(name=name)
        t.addElement(TableColumn(numbercolumnsrepeated=len(rows[0]), stylename=column))
        for values in rows:
            row = TableRow()
            for value in values:
                cell = TableCell(valuetype="string")
                cell.addElement(P(stylename=small, text=value))
                row.addElement(cell)
            t.addElement(row)
        return t

    doc.text.addElement(H(outlinelevel=1, text=layout.title))
    if layout.subtitle:
        doc.text.addElement(P(text=layout.subtitle))
    totals = 0
    for kind, content in layout.blocks:
        if kind == "pairs":
            for label, value in content:
                p = P()
                p.addElement(Span(stylename=bold, text=f"{label} : "))
                p.addText(value)
                doc.text.addElement(p)
        elif kind == "heading":
            doc.text.addElement(H(outlinelevel=2, text=content))
        elif kind == "paragraph":
            doc.text.addElement(P(text=content))
        elif kind == "totals":  # a table's name is unique in the document
            totals += 1
            doc.text.addElement(table("Totaux" if totals == 1 else f"Totaux{totals}", content))
        else:
            name, columns, rows, _ = content
            doc.text.addElement(table(name, [columns, *rows]))
    out = io.BytesIO()
    doc.write(out)
    return out.getvalue() if moment is None else redated(out.getvalue(), moment)


def redated(odf: bytes, moment: dt.datetime) -> bytes:
    """An OpenDocument file (ODT, ODS) with its ZIP entries dated ``moment`` (UTC) instead of the time they were
    written and its XML parts declaring a fixed set of namespaces: under ``app.pdf.dated`` the same document gives
    the same bytes (the reversibility archive), as its PDF does. The entries keep their order and compression
    (``mimetype`` first, stored)."""
    stamp = moment.astimezone(dt.UTC).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(odf)) as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=stamp)
            info.compress_type, info.external_attr = entry.compress_type, entry.external_attr
            content = source.read(entry)
            if entry.filename.endswith(".xml"):
                content = _ROOT_NAMESPACES.sub(lambda m: m.group(1) + _every_namespace(), content, count=1)
            target.writestr(info, content)
    return out.getvalue()


#: The namespace declarations of an XML part's root element. odfpy declares there every namespace any element of
#: the process has used so far (``odf.element.Element.namespaces`` is shared by all documents), so the same document
#: would differ from one process to the next; ``redated`` declares all the namespaces odfpy knows instead.
_ROOT_NAMESPACES = re.compile(rb'(<[\w:-]+)(?:\s+xmlns:[\w-]+="[^"]*")+')


def _every_namespace() -> bytes:
    from odf.namespaces import nsdict

    return "".join(f' xmlns:{prefix}="{uri}"' for uri, prefix in sorted(nsdict.items(), key=lambda p: p[1])).encode()
