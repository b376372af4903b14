"""What invoices put on the home pages: the buyer's card (invoices to pay, overdue ones: CCP TGD IX.7 « dans un délai
de trente jours maximum »), the titulaire's operator's card (verified orders to invoice, drafts to issue)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.shell import Figure, HomeCard
from billing import invoices, late
from billing.models import Invoice
from tenants.context import OperatorContext, TenantContext

__all__ = ["home_cards"]


async def home_cards(session: AsyncSession, ctx: Any, now: dt.datetime) -> list[HomeCard]:
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        today = now.astimezone(ZoneInfo(ctx.tenant.timezone)).date()
        base = f"/t/{ctx.tenant_id}/factures"
        unpaid, overdue = (await session.execute(select(
            func.count(), func.count().filter(Invoice.due_date < today)).where(
            Invoice.tenant_id == ctx.tenant_id, Invoice.kind != "credit_note", Invoice.status == "issued"))).one()
        figures = [Figure("émises, à payer", unpaid, f"{base}?etat=issued"),
                   Figure("échéance dépassée", overdue, f"{base}?etat=issued", severity="danger" if overdue else "ok")]
        if overdue:
            figures.append(Figure("dû avec intérêts (CCP TGD IX.7)", await late.overdue_amount(session, ctx.tenant_id,
                                                                                                 today),
                                  f"{base}?etat=issued", severity="danger"))
        if ctx.can("invoice"):
            drafts = await session.scalar(select(func.count()).select_from(Invoice).where(
                Invoice.tenant_id == ctx.tenant_id, Invoice.status == "draft")) or 0
            figures.insert(0, Figure("brouillons à émettre", drafts, f"{base}?etat=draft",
                                     severity="info" if drafts else "ok"))
            figures.insert(0, Figure("commandes vérifiées à facturer",
                                     len(await invoices.orders_to_invoice(session, [ctx.tenant_id])), base))
        if not unpaid and not ctx.can("invoice"):
            return []
        return [HomeCard("invoices", "Factures", figures=tuple(figures), links=((base, "Toutes les factures"),),
                         severity="danger" if overdue else "ok",
                         note="Une facture est payable dans les trente jours (CCP TGD IX.7) ; au-delà, des intérêts "
                              "moratoires et l'indemnité de 40 € sont dus." if overdue else "")]
    if isinstance(ctx, OperatorContext):
        waiting = await invoices.orders_to_invoice(session, ctx.tenant_ids)
        if not waiting:
            return []
        return [HomeCard("orders_to_invoice", "Commandes à facturer", figures=(
            Figure("vérifiées, sans facture", len(waiting), f"/t/{waiting[0][0]}/factures", severity="info"),),
            severity="info")]
    return []
