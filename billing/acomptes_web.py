"""The pages of acomptes (issue 15 §3; CCP TGD IX.5), reached from « Factures » and from the order page's
« Acomptes » panel:

* ``/t/{tenant}/acomptes``: the tenant's « constats d'avancement », those awaiting the buyer's validation first;
* ``/t/{tenant}/acomptes/commande/{order_id}``: one order's statements and acompte invoices, the ceiling of the next
  acompte with its figures, and the forms open to the reader: « Remettre le constat » (the titulaire's operator),
  « Valider » / « Refuser » with its reason (the buyer's administrator), « Facturer l'acompte » (the operator);
* ``POST /t/{tenant}/acomptes/{statement_id}/{valider|refuser|facturer}``.

Forms are read after the access check (another tenant's ids are a 404 whatever the body); a refusal shows its
French message with status 422 and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import NotFound
from app.shell import flash, form_fields, render, see_other, tenant_page
from billing import acomptes
from billing.invoice_rules import STATUSES as INVOICE_STATUSES
from billing.rules import ACOMPTE_SHARE, money
from billing.services import BillingError
from catalog import services as catalog
from tenants.context import TenantContext

__all__ = ["order_panel", "portal_handlers"]

PATH = "/t/{tenant_id:uuid}/acomptes"
ACTIONS = ("valider", "refuser", "facturer")


def _base(ctx: TenantContext) -> str:
    return f"/t/{ctx.tenant_id}/acomptes"


async def order_panel(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                      order: Any) -> dict[str, Any]:
    """The order page's « Acomptes » panel (catalog's ``order_page`` hook): the link to the order's statements
    while its services run, or when it has some."""
    statements = await acomptes.statements_of_order(session, ctx.tenant_id, order.id)
    if not statements and not (order.status in acomptes.OPEN_STATUSES and ctx.can("state_progress")):
        return {}
    waiting = sum(1 for s in statements if s.status == "submitted")
    note = ("Acomptes (CCP TGD IX.5) : sur constat d'avancement validé par l'acheteur, chacun dans la valeur des "
            "prestations exécutées, leur cumul dans 70 % du bon de commande.")
    label = f"Constats d'avancement et acomptes ({len(statements)}" + (f", {waiting} à valider)" if waiting else ")")
    return {"order_panels": [{"id": "acomptes", "title": "Acomptes", "note": note,
                              "links": [(f"{_base(ctx)}/commande/{order.id}", label)], "buttons": []}]}


@get(PATH)
async def statements_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                          db_session: AsyncSession) -> Any:
    tenant_ctx.require("read")
    found = await acomptes.statements_of_tenant(db_session, tenant_ctx.tenant_id)
    return render(request, "billing/acomptes.html", tenant_page(
        tenant_ctx, "invoices", statements=found, statuses=acomptes.STATUSES, url=_base(tenant_ctx)))


async def _order_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                      order_id: uuid.UUID, *, errors: dict[str, str] | None = None,
                      values: dict[str, str] | None = None, failed: uuid.UUID | None = None, status: int = 200) -> Any:
    order = await catalog.billable_order(session, ctx.tenant_id, order_id)
    statements = await acomptes.statements_of_order(session, ctx.tenant_id, order.id)
    can_invoice = ctx.can("invoice")
    rows = []
    for s in statements:
        invoice = await acomptes.acompte_of_statement(session, s)
        room = await acomptes.room_of(session, s, order) if s.status == "validated" and invoice is None else None
        if invoice is not None and invoice.status == "draft" and not can_invoice:
            invoice = None
        rows.append({"statement": s, "invoice": invoice, "room": room})
    return render(request, "billing/acompte_order.html", tenant_page(
        ctx, "invoices", order=order, rows=rows, cap=money(order.total_ht * ACOMPTE_SHARE), statuses=acomptes.STATUSES, invoice_statuses=INVOICE_STATUSES,
        can_state=ctx.can("state_progress") and order.status in acomptes.OPEN_STATUSES,
        can_validate=ctx.can("validate_progress"), can_invoice=can_invoice,
        allowed_from=acomptes.acompte_allowed_from(order.issued_on) if order.issued_on else None,
        errors=errors or {}, values=values or {}, failed=failed, url=_base(ctx),
        order_url=f"{_base(ctx)}/commande/{order.id}"), status=status)


@get(f"{PATH}/commande/{{order_id:uuid}}")
async def order_statements_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                                db_session: AsyncSession, order_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    return await _order_page(request, tenant_ctx, db_session, order_id)


@post(f"{PATH}/commande/{{order_id:uuid}}")
async def submit(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                 order_id: uuid.UUID) -> Any:
    """« Remettre le constat d'avancement »."""
    tenant_ctx.require("read")
    await catalog.billable_order(db_session, tenant_ctx.tenant_id, order_id)
    tenant_ctx.require("state_progress")
    values = {k: v[:2000] for k, v in form_fields(await request.form()).items()
              if k in ("value_ht", "description", "stated_on")}
    try:
        statement = await acomptes.submit_statement(db_session, tenant_ctx.tenant_id, order_id, values, now=utcnow())
    except BillingError as exc:
        return await _order_page(request, tenant_ctx, db_session, order_id, errors=exc.errors, values=values,
                                 status=422)
    flash(request, f"Constat d'avancement n° {statement.sequence} remis : l'acheteur est averti par courriel pour le "
                   "valider.")
    return see_other(f"{_base(tenant_ctx)}/commande/{order_id}")


@post(f"{PATH}/{{statement_id:uuid}}/{{action:str}}")
async def statement_action(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                           statement_id: uuid.UUID, action: str) -> Any:
    if action not in ACTIONS:
        raise NotFound("action")
    tenant_ctx.require("read")
    statement = await acomptes.get_statement_in_tenant(db_session, tenant_ctx.tenant_id, statement_id)
    tenant_ctx.require("invoice" if action == "facturer" else "validate_progress")
    values = {k: v[:2000] for k, v in form_fields(await request.form()).items() if k in ("reason", "amount_ht")}
    now = utcnow()
    try:
        if action == "valider":
            await acomptes.validate_statement(db_session, tenant_ctx.tenant_id, statement.id, now=now)
            flash(request, f"Constat d'avancement n° {statement.sequence} validé : le titulaire peut facturer "
                           "l'acompte.")
        elif action == "refuser":
            await acomptes.refuse_statement(db_session, tenant_ctx.tenant_id, statement.id, values, now=now)
            flash(request, f"Constat d'avancement n° {statement.sequence} refusé.")
        else:
            invoice = await acomptes.draft_acompte(db_session, tenant_ctx.tenant_id, statement.id, values, now=now)
            flash(request, "Brouillon de facture d'acompte préparé : vérifiez-le, puis émettez-le.")
            return see_other(f"/t/{tenant_ctx.tenant_id}/factures/{invoice.id}")
    except BillingError as exc:  # raised before anything is written
        return await _order_page(request, tenant_ctx, db_session, statement.order_id, errors=exc.errors,
                                 values=values, failed=statement.id, status=422)
    return see_other(f"{_base(tenant_ctx)}/commande/{statement.order_id}")


portal_handlers: list[Any] = [statements_page, order_statements_page, submit, statement_action]
