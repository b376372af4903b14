"""The billing documents in a tenant's reversibility export (issue 16 §1: « factures […] au format Factur-X » and the
documents the product makes), generated from the tables when the archive is written (the product stores no copy):

* each issued invoice, acompte invoice (EN 16931 type code 386) or credit note as the Factur-X PDF its page offers
  (``invoice_pdf``: PDF/A-3 with its CII XML embedded), under ``documents/billing/factures/<number>.pdf``; a draft
  has none. Every date in the file (the visible PDF's and the PDF/A metadata the ``factur-x`` library adds) is the
  invoice's issue time (``app.pdf.dated``, ``restamped``);
* each agent's monthly charging statement (CCTP CPAM 5-5-6-1 « état détaillé imprimable et téléchargeable ») as the
  PDF of its account's page (``charging_web.statement_pdf``), for every month (the tenant's calendar) with an
  entry, under ``documents/billing/releves-recharge/<account id>/releve-recharge-<month>.pdf``, dated by the
  month's end (by its latest entry while the month runs).

Each document carries its own date, so that two exports give the same bytes."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.component import ExportFile
from app.db import utcnow
from app.pdf import dated
from billing import charging
from billing.api import load_sheet
from billing.charging_models import ChargingAccount, ChargingEntry
from billing.charging_web import statement_pdf
from billing.documents import invoice_pdf
from billing.models import Invoice
from tenants import services as tenants

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
        what = KINDS.get(invoice.kind, "facture")
        yield ExportFile(f"documents/billing/factures/{name}.pdf", pdf,
                         f"{what} {invoice.number} (Factur-X : PDF/A-3 avec son XML CII), facture `{invoice.id}`")
    async for item in _charging_statements(session, tenant_id):
        yield item


KINDS = {"invoice": "facture", "prepayment": "facture d'acompte", "credit_note": "avoir"}


async def _charging_statements(session: AsyncSession, tenant_id: uuid.UUID) -> AsyncIterator[ExportFile]:
    """Per charging account, the statement of every month holding one of its entries."""
    tenant = await tenants.get_tenant(session, tenant_id)
    zone = ZoneInfo(tenant.timezone)
    months: dict[tuple[uuid.UUID, int, int], dt.datetime] = {}
    for account_id, booked in await session.execute(select(ChargingEntry.account_id, ChargingEntry.booked_at).where(
            ChargingEntry.tenant_id == tenant_id)):
        local = booked.astimezone(zone)
        key = (account_id, local.year, local.month)
        months[key] = max(months.get(key, booked), booked)
    accounts = {a.id: a for a in await session.scalars(select(ChargingAccount).where(
        ChargingAccount.tenant_id == tenant_id, ChargingAccount.id.in_({k[0] for k in months})))}
    now = utcnow()
    for (account_id, year, month), latest in sorted(months.items(), key=lambda m: (str(m[0][0]), m[0][1], m[0][2])):
        account = accounts[account_id]
        first, last = charging.month_bounds(year, month)
        opening, entries, closing = await charging.statement(session, tenant_id, account, first, last)
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
        with dated(latest if end > now else end):
            pdf = statement_pdf({"account": account, "first": first, "last": last, "opening": opening,
                                 "entries": entries, "closing": closing}, tenant.timezone, tenant.name)
        yield ExportFile(f"documents/billing/releves-recharge/{account_id}/releve-recharge-{year:04d}-{month:02d}.pdf",
                         pdf, f"relevé de compte de recharge de {account.holder_label or 'l’agent'}, "
                              f"{month:02d}/{year:04d} (PDF, {len(entries)} opération(s)), compte `{account_id}`")
