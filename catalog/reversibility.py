"""The catalog's documents in a tenant's reversibility export (issue 16 §1: « les documents : commandes […] au format
PDF / ODF / Factur-X » as the product makes them; CCP TGD X.7 « au format PDF avec sa version OpenDocument »), each
as its page offers it, generated from the tables when the archive is written (the product stores no copy):

* every version of every order past its draft, as PDF, ODT (``order_pdf``, ``odt_bytes``) and Order-X XML
  (``orderx_bytes``), under ``documents/catalog/commandes/<number>/``, dated by the order's date;
* every delivery slip (« bordereau de mise à disposition », CCP TGD VII.1) of those orders, as PDF and ODT
  (``catalog.documents.slip_layout``), under ``documents/catalog/bordereaux/<slip number>`` (the order's number and
  ``-L<n>``), as of its latest step (recorded, decided, reserves declared or lifted) and dated by it;
* every priced quote (CCTP CANUT 9, CAIH 2.1.17; an unpriced one has no document), as PDF and ODT
  (``quote_layout``), under ``documents/catalog/devis/``, its milestones as of its last change (or of its works'
  reception when later) and dated by it.

Each document carries its own date (``app.pdf.dated``: the PDF's creation date, the ODT's meta and ZIP entries), so
that two exports give the same bytes."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.component import ExportFile
from app.documents import layout_odt, layout_pdf
from app.pdf import dated
from catalog import quotes
from catalog.documents import load_quote, load_slip, quote_layout, slip_layout
from catalog.models import Delivery, PurchaseOrder, Quote
from catalog.order_documents import load_sheet, odt_bytes, order_pdf, orderx_bytes

__all__ = ["export_files"]

_UNSAFE = re.compile(r"[^\w.\-]+")


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("._") or "commande"


def _latest(*moments: dt.datetime | None) -> dt.datetime:
    return max(m for m in moments if m is not None)


async def export_files(session: AsyncSession, settings: Any, tenant_id: uuid.UUID) -> AsyncIterator[ExportFile]:
    orders = list(await session.scalars(select(PurchaseOrder).where(
        PurchaseOrder.tenant_id == tenant_id, PurchaseOrder.status != "draft").order_by(PurchaseOrder.number,
                                                                                        PurchaseOrder.id)))
    for order in orders:
        folder = f"documents/catalog/commandes/{_safe(order.number)}"
        moment = dt.datetime.combine(order.order_date, dt.time(), dt.UTC)
        for version in range(1, order.version + 1):
            sheet = await load_sheet(session, tenant_id, order.id, version)
            with dated(moment):
                pdf = order_pdf(sheet)
            yield ExportFile(f"{folder}/{_safe(sheet.filename('pdf'))}", pdf,
                             f"{sheet.title} (PDF), commande `{order.id}`")
            with dated(moment):
                odt = odt_bytes(sheet)
            yield ExportFile(f"{folder}/{_safe(sheet.filename('odt'))}", odt,
                             f"{sheet.title} (OpenDocument texte), commande `{order.id}`")
            yield ExportFile(f"{folder}/{_safe(sheet.filename('orderx'))}", orderx_bytes(sheet),
                             f"{sheet.title} (Order-X, XML), commande `{order.id}`")
        slips = list(await session.scalars(select(Delivery).where(
            Delivery.tenant_id == tenant_id, Delivery.order_id == order.id).order_by(Delivery.sequence, Delivery.id)))
        for slip in slips:
            step = _latest(slip.recorded_at, slip.decided_at, slip.reserves_declared_at, slip.reserves_lifted_at)
            layout = slip_layout(await load_slip(session, tenant_id, slip.id, order_id=order.id, now=step))
            with dated(step):
                pdf, odt = layout_pdf(layout), layout_odt(layout)
            what = f"bordereau de mise à disposition {slip.number} de la commande {order.number}"
            yield ExportFile(f"documents/catalog/bordereaux/{_safe(slip.number)}.pdf", pdf,
                             f"{what} (PDF), livraison `{slip.id}`")
            yield ExportFile(f"documents/catalog/bordereaux/{_safe(slip.number)}.odt", odt,
                             f"{what} (OpenDocument texte), livraison `{slip.id}`")
    priced = list(await session.scalars(select(Quote).where(
        Quote.tenant_id == tenant_id, Quote.answered_at.is_not(None)).order_by(Quote.number, Quote.id)))
    received = await quotes.received_at_of(session, priced)
    for quote in priced:
        step = _latest(quote.updated_at, quote.answered_at, received[quote.id])
        layout = quote_layout(await load_quote(session, tenant_id, quote.id, now=step))
        with dated(step):
            pdf, odt = layout_pdf(layout), layout_odt(layout)
        yield ExportFile(f"documents/catalog/devis/{_safe(quote.number)}.pdf", pdf,
                         f"devis {quote.number} (PDF), devis `{quote.id}`")
        yield ExportFile(f"documents/catalog/devis/{_safe(quote.number)}.odt", odt,
                         f"devis {quote.number} (OpenDocument texte), devis `{quote.id}`")
