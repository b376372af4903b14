"""The pages of quarterly invoicing and ECB rates (issue 15 §3):

* ``POST /t/{tenant}/factures/trimestres/{order_id}``: « Facturer les trimestres échus » of an order's continuous
  services (CCP TGD IX.4), from the order page's « Facturation » panel (the titulaire's operator);
* ``/c/{central}/taux-bce``: the ECB main refinancing rates late interest is computed on (IX.7), and the form to add
  one (the central's coordinators; CSRF).

A refusal shows its French message (422 on the rates' form) and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.shell import Form, central_page, flash, form_fields, render, see_other
from billing import late, periodic
from billing.services import BillingError
from catalog import services as catalog
from tenants.context import CentralContext, TenantContext

__all__ = ["nav", "portal_handlers"]


def nav(ctx: Any) -> list[tuple[str, ...]]:
    if isinstance(ctx, CentralContext):
        return [("ecb_rates", f"/c/{ctx.central.code}/taux-bce", "Taux de la BCE")]
    return []


@post("/t/{tenant_id:uuid}/factures/trimestres/{order_id:uuid}")
async def draft_quarters(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                         order_id: uuid.UUID) -> Any:
    """« Facturer les trimestres échus »: a draft per ended quarter not yet invoiced."""
    tenant_ctx.require("read")
    await catalog.billable_order(db_session, tenant_ctx.tenant_id, order_id)
    tenant_ctx.require("invoice")
    await request.form()
    base = f"/t/{tenant_ctx.tenant_id}/factures"
    try:
        made = await periodic.draft_quarter_invoices(db_session, tenant_ctx.tenant_id, order_id, now=utcnow())
    except BillingError as exc:
        flash(request, " ".join(exc.errors.values()))
        return see_other(f"/t/{tenant_ctx.tenant_id}/commandes/{order_id}")
    flash(request, f"{len(made)} brouillon{'s' if len(made) > 1 else ''} de facture trimestrielle préparé"
                   f"{'s' if len(made) > 1 else ''} : vérifiez, puis émettez.")
    return see_other(f"{base}/{made[0].id}" if len(made) == 1 else f"{base}?etat=draft")


async def _page(request: Request[Any, Any, Any], ctx: CentralContext, session: AsyncSession, *,
                values: dict[str, str] | None = None, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    return render(request, "billing/ecb_rates.html", central_page(
        ctx, "ecb_rates", rates=await late.ecb_rates(session), values=values or {}, errors=errors or {},
        url=f"/c/{ctx.central.code}/taux-bce"), status=status)


@get("/c/{central_code:str}/taux-bce")
async def rates_page(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession) -> Any:
    return await _page(request, central_ctx, db_session)


@post("/c/{central_code:str}/taux-bce")
async def add_rate(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                   data: Form) -> Any:
    values = {k: v for k, v in form_fields(data).items() if k in ("applies_from", "rate")}
    try:
        row = await late.add_rate(db_session, values, created_by=central_ctx.identity.email, now=utcnow())
    except BillingError as exc:
        return await _page(request, central_ctx, db_session, values=values, errors=exc.errors, status=422)
    flash(request, f"Taux de la BCE de {row.rate} % enregistré à partir du {row.applies_from:%d/%m/%Y}.")
    return see_other(f"/c/{central_ctx.central.code}/taux-bce")


portal_handlers: list[Any] = [draft_quarters, rates_page, add_rate]
