"""The invoices and credit notes in a tenant's reversibility export (issue 16 §1: « factures […] au format
Factur-X »): each issued one as the Factur-X PDF its page offers (``invoice_pdf``: PDF/A-3 with its CII XML
embedded), under ``documents/billing/factures/<number>.pdf``; a draft has none. Generated from the tables when the
archive is written (the product stores no copy). Every date in the file (the visible PDF's and the
PDF/A metadata the ``factur-x`` library adds) is the invoice's issue time (``app.pdf.dated``, ``restamped``), so two
exports give the same bytes."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.component import ExportFile
from app.pdf import dated
from billing.api import load_sheet
from billing.documents import invoice_pdf
from billing.models import Invoice

__all__ = ["export_files"]

_UNSAFE = re.compile(r"[^\w.\-]+")


async def export_files(session: AsyncSession, settings: Any, tenant_id: uuid.UUID) -> AsyncIterator[ExportFile]:
    invoices = list(await session.scalars(select(Invoice).where(
        Invoice.tenant_id == tenant_id, Invoice.status != "draft", Invoice.number.is_not(None))
        .order_by(Invoice.number, Invoice.id)))
    for invoice in invoices:
        sheet = await load_sheet(session, invoice)
        moment = invoice.issued_at or dt.datetime.combine(invoice.issue_date or dt.date(2000, 1, 1), dt.time(), dt.UTC)
        with dated(moment):
            pdf = invoice_pdf(sheet)
        name = _UNSAFE.sub("_", invoice.number or "").strip("._") or str(invoice.id)
        what = "avoir" if invoice.kind == "credit_note" else "facture"
        yield ExportFile(f"documents/billing/factures/{name}.pdf", pdf,
                         f"{what} {invoice.number} (Factur-X : PDF/A-3 avec son XML CII), facture `{invoice.id}`")
