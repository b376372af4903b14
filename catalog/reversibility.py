"""The purchase orders in a tenant's reversibility export (issue 16 §1: « les documents : commandes […] au format
PDF / ODF / Factur-X » as the product makes them; CCP TGD X.7): every version of every order past its draft, as the
PDF (``order_pdf``) and the Order-X XML (``orderx_bytes``) the order's page offers, under
``documents/catalog/commandes/<number>/``. Generated from the tables when the archive is written (the product
stores no copy); each PDF carries its order's date, so that two exports give the same bytes."""

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
from catalog.models import PurchaseOrder
from catalog.order_documents import load_sheet, order_pdf, orderx_bytes

__all__ = ["export_files"]

_UNSAFE = re.compile(r"[^\w.\-]+")


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("._") or "commande"


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
            yield ExportFile(f"{folder}/{_safe(sheet.filename('orderx'))}", orderx_bytes(sheet),
                             f"{sheet.title} (Order-X, XML), commande `{order.id}`")
