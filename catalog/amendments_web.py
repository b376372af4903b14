"""The amendments' pages (CCP TGD VI.3, issue 14 §3), under ``/t/{tenant}/commandes/{order_id}``:

* ``…/modificatif``: the buyer's form (``order``) — the order's current lines to change (quantity, extra discount;
  a quantity emptied removes the line, blank rows add articles), the date of effect (ten days after today at the
  earliest, said next to the field) and the amendment's object; every problem next to its field, status 422,
  nothing written;
* ``…/modificatifs/{amendment_id}/observations``: the titulaire's operator's observations (``execute_orders``),
  within the five days.

The order page (``catalog/orders_web.py``, with ``catalog/amendment_section.py``) shows the versions, what each amendment changed, its state and the end
of its five days, and the documents of every version.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Request, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import NotFound
from app.shell import flash, form_fields, render, see_other, tenant_page
from catalog import amendments as svc
from catalog import deadlines, orders
from catalog.order_rules import MAX_LINES
from catalog.orders_web import render_order_page
from catalog.quotes import tenant_calendar
from tenants.context import TenantContext

__all__ = ["amendment_handlers"]

PATH = "/t/{tenant_id:uuid}/commandes/{order_id:uuid}"
#: Blank rows for added articles.
BLANK_LINES = 3


def _lines_of_form(values: dict[str, str]) -> list[dict[str, str]]:
    rows = []
    for n in range(1, MAX_LINES + 1):
        row = {k: values.get(f"{k}_{n}", "")[:64] for k in ("code", "quantite", "remise")}
        if any(row.values()):
            rows.append(row)
    return rows


def _quantity(value: Any) -> str:
    return f"{value.normalize():f}".replace(".", ",")


async def _form(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, order: Any,
                values: dict[str, str], rows: list[dict[str, str]], errors: dict[str, str], status: int = 200) -> Any:
    calendar = await tenant_calendar(session, ctx.tenant_id)
    today = utcnow().astimezone(calendar.zone).date()
    earliest = today + dt.timedelta(days=deadlines.AMENDMENT_NOTICE_DAYS)
    blank = {"code": "", "quantite": "", "remise": ""}
    return render(request, "catalog/amendment_form.html", tenant_page(
        ctx, "orders", order=order, values=values, lines=(rows + [blank] * BLANK_LINES)[:MAX_LINES], errors=errors,
        earliest=earliest, url=f"/t/{ctx.tenant_id}/commandes/{order.id}"), status=status)


@get(f"{PATH}/modificatif")
async def amendment_form(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                         order_id: uuid.UUID) -> Any:
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    tenant_ctx.require("order")
    rows = [{"code": x.article_code, "quantite": _quantity(x.quantity),
             "remise": _quantity(x.discount_percent) if x.discount_percent is not None else ""}
            for x in await orders.lines_of_order(db_session, order)]
    return await _form(request, tenant_ctx, db_session, order, {}, rows, {})


@post(f"{PATH}/modificatif")
async def create_amendment(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                           order_id: uuid.UUID) -> Any:
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    tenant_ctx.require("order")
    values = {k: v[:2000] for k, v in form_fields(await request.form()).items()}
    # A row whose quantity was emptied (or set to 0) removes its article from the order.
    rows = [r for r in _lines_of_form(values) if r["quantite"].strip() not in ("", "0")]
    data = {"effective_on": values.get("effective_on", ""), "reason": values.get("reason", ""),
            "lines": [{"article_code": r["code"], "quantity": r["quantite"], "discount_percent": r["remise"] or None}
                      for r in rows]}
    try:
        amendment = await svc.amend_order(db_session, tenant_ctx.tenant_id, order.id, data, now=utcnow())
    except svc.AmendmentError as exc:  # raised before anything is written
        return await _form(request, tenant_ctx, db_session, order, values, rows, exc.errors, status=422)
    flash(request, f"Modificatif {amendment.number} notifié au titulaire : la commande passe en version "
                   f"{amendment.version}, prise d'effet le {amendment.effective_on:%d/%m/%Y}.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/commandes/{order.id}")


@post(f"{PATH}/modificatifs/{{amendment_id:uuid}}/observations")
async def amendment_observations(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                                 db_session: AsyncSession, order_id: uuid.UUID, amendment_id: uuid.UUID) -> Any:
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    amendment = await svc.get_amendment(db_session, tenant_ctx.tenant_id, amendment_id)
    if amendment.order_id != order.id:
        raise NotFound("modificatif")
    tenant_ctx.require("execute_orders")
    text = form_fields(await request.form()).get("observations", "")[:4001]
    try:
        await svc.send_observations(db_session, tenant_ctx.tenant_id, amendment.id, text, now=utcnow())
    except svc.AmendmentError as exc:  # nothing written
        return await render_order_page(request, tenant_ctx, db_session, order, error=exc.errors["observations"],
                                       status=422, observations=text)
    flash(request, f"Observations sur le modificatif {amendment.number} adressées à l'acheteur.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/commandes/{order.id}#modificatifs")


amendment_handlers: list[Any] = [amendment_form, create_amendment, amendment_observations]
