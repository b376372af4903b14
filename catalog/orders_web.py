"""The purchase orders' portal pages (issue 14 §3, §5), under ``/t/{tenant}/commandes``:

* the list of the beneficiary's orders, the most recent first, filtered by state, 50 a page;
* ``…/nouvelle``: a draft — agreement, lines (article code of the BPU in force, quantity, optional extra
  discount, CCTP CAIH 5), place(s) of delivery or execution, the buyer's representative(s) and special
  conditions (CCP TGD VI.1); every problem shown next to its field, status 422, nothing written;
* ``…/{order_id}``: the order with every element of TGD VI.1, its history, its documents (PDF, ODT, Order-X)
  and the buttons of the moves open to the reader: the buyer (``order``) issues, verifies, closes and cancels;
  the titulaire's operator (``execute_orders``) starts and delivers.

The rules, the numbering, the audit and the titulaire's e-mail are ``catalog.orders``'; forms are read after
the access check, so another tenant's order is a 404 whatever the body.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page
from app.db import utcnow
from app.errors import NotFound
from app.shell import Paged, flash, form_fields, pager, render, see_other, tenant_page
from catalog import deliveries_web, order_documents, orders, services
from catalog.amendment_section import amendments_panel
from catalog.order_rules import ACTION_PERMISSIONS, ACTIONS, MAX_LINES, STATUSES, user_actions
from tenants.context import TenantContext

__all__ = ["order_handlers"]

PATH = "/t/{tenant_id:uuid}/commandes"
PER_PAGE = 50
#: Line rows shown on a new form; a re-shown form keeps the filled ones and two blank rows.
BLANK_LINES = 8
#: Other components add panels to the order page through their manifest's page hooks (``Web.page_hooks``) under
#: this name: ``await hook(request, ctx, session, order)`` returns ``{"order_panels": [{"id", "title", "note",
#: "links": [(href, text)], "buttons": [(action, label)]}]}`` (billing: the order's invoices and « Facturer »).
ORDER_PAGE = "order_page"
#: Buttons' French labels, in the order of the page.
ACTION_LABELS = {"issue": "Émettre et notifier au titulaire", "start": "Démarrer l'exécution", "close": "Clore",
                 "cancel": "Annuler la commande"}
StatusFilter = Annotated[str, Parameter(max_length=20)]


def _base(ctx: TenantContext) -> str:
    return f"/t/{ctx.tenant_id}/commandes"


def _today(ctx: TenantContext) -> dt.date:
    return dt.datetime.now(ZoneInfo(ctx.tenant.timezone)).date()


@get(PATH)
async def orders_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                      etat: StatusFilter = "", page: Page = 1) -> Any:
    tenant_ctx.require("read")
    etat = etat if etat in STATUSES else ""
    found, total = await orders.orders_of_tenant(db_session, tenant_ctx.tenant_id, status=etat, page=page,
                                                 per_page=PER_PAGE)
    query = {"etat": etat}
    paged = Paged(items=found, total=total, page=page, per_page=PER_PAGE)
    return render(request, "catalog/orders.html", tenant_page(
        tenant_ctx, "orders", orders=found, total=total, statuses=STATUSES, query=query, url=_base(tenant_ctx),
        can_order=tenant_ctx.can("order"), paging=pager(_base(tenant_ctx), query, paged)))


# --------------------------------------------------------------------------- a new draft


def _form_lines(values: dict[str, str]) -> list[dict[str, str]]:
    """The line rows of the form (``code_1``, ``quantite_1``, ``remise_1``…), blank ones dropped."""
    lines = []
    for n in range(1, MAX_LINES + 1):
        line = {k: values.get(f"{k}_{n}", "")[:64] for k in ("code", "quantite", "remise")}
        if any(line.values()):
            lines.append(line)
    return lines


async def _form(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                values: dict[str, str], lines: list[dict[str, str]], errors: dict[str, str],
                status: int = 200, agreements: list[Any] | None = None) -> Any:
    blank = {"code": "", "quantite": "", "remise": ""}
    shown = lines + [blank] * (2 if lines else BLANK_LINES)
    # Errors of line N (``lines.N.article_code``…) are shown next to the Nth row.
    return render(request, "catalog/order_form.html", tenant_page(
        ctx, "orders", values=values, lines=shown[:MAX_LINES], errors=errors, url=_base(ctx),
        agreements=agreements if agreements is not None else await services.agreements_of_tenant(session, ctx.tenant_id),
        today=_today(ctx)), status=status)


@get(f"{PATH}/nouvelle")
async def new_order_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                         db_session: AsyncSession) -> Any:
    tenant_ctx.require("order")
    agreements = await services.agreements_of_tenant(db_session, tenant_ctx.tenant_id)
    values = {"agreement_id": str(agreements[0].id) if len(agreements) == 1 else "",
              "representative": tenant_ctx.identity.full_name or tenant_ctx.identity.email}
    return await _form(request, tenant_ctx, db_session, values, [], {}, agreements=agreements)


@post(f"{PATH}/nouvelle")
async def create_order(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("order")
    values = {k: v[:4000] for k, v in form_fields(await request.form()).items()}
    lines = _form_lines(values)
    data = {"agreement_id": values.get("agreement_id", ""), "delivery_place": values.get("delivery_place", ""),
            "representative": values.get("representative", ""),
            "delivery_conditions": values.get("delivery_conditions", ""),
            "lines": [{"article_code": x["code"], "quantity": x["quantite"], "discount_percent": x["remise"] or None}
                      for x in lines]}
    try:
        order = await orders.create_order(db_session, tenant_ctx.tenant_id, data, order_date=_today(tenant_ctx),
                                          now=utcnow())
    except orders.OrderError as exc:  # raised before anything is written
        return await _form(request, tenant_ctx, db_session, values, lines, exc.errors, status=422)
    flash(request, f"Bon de commande {order.number} enregistré en brouillon ({order.line_count} ligne(s)).")
    return see_other(f"{_base(tenant_ctx)}/{order.id}")


# --------------------------------------------------------------------------- one order


async def render_order_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                            order: Any, *, error: str = "", status: int = 200, observations: str = "") -> Any:
    """The order page; ``error`` shown at its top (a refused move or observations, status 422)."""
    actions = [a for a in user_actions(order.status) if ctx.can(ACTION_PERMISSIONS[a])]
    panels: list[dict[str, Any]] = []
    for hook in request.app.state.page_hooks.get(ORDER_PAGE, []):
        panels += (await hook(request, ctx, session, order)).get("order_panels", [])
    return render(request, "catalog/order.html", tenant_page(
        ctx, "orders", order=order, lines=await orders.lines_of_order(session, order),
        history=await orders.events_of_order(session, order), statuses=STATUSES, actions=actions,
        action_labels=ACTION_LABELS, error=error, url=f"{_base(ctx)}/{order.id}", observations=observations,
        panels=panels,
        deliveries=await deliveries_web.order_section(session, ctx, order),
        **await amendments_panel(session, ctx, order, utcnow())), status=status)


@get(f"{PATH}/{{order_id:uuid}}")
async def order_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                     order_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    return await render_order_page(request, tenant_ctx, db_session, order)


@post(f"{PATH}/{{order_id:uuid}}/{{action:str}}")
async def order_action(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       order_id: uuid.UUID, action: str) -> Any:
    if action not in ACTIONS:
        raise NotFound("action")
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    tenant_ctx.require(ACTION_PERMISSIONS[action])
    note = form_fields(await request.form()).get("note", "")[:2000]
    try:
        order = await orders.act_on_order(db_session, tenant_ctx.tenant_id, order.id, action, now=utcnow(), note=note)
    except orders.OrderError as exc:
        return await render_order_page(request, tenant_ctx, db_session, order, error=exc.errors.get("status", ""),
                                 status=422)
    flash(request, f"Bon de commande {order.number} : {STATUSES[order.status]}.")
    return see_other(f"{_base(tenant_ctx)}/{order.id}")


@get(f"{PATH}/{{order_id:uuid}}/document")
async def order_document(tenant_ctx: TenantContext, db_session: AsyncSession, order_id: uuid.UUID,
                         format: Annotated[str, Parameter(max_length=10)] = "pdf",  # noqa: A002
                         version: Annotated[int | None, Parameter(ge=1, le=10_000)] = None) -> Response[bytes]:
    tenant_ctx.require("read")
    sheet = await order_documents.load_sheet(db_session, tenant_ctx.tenant_id, order_id, version)
    return order_documents.document_response(sheet, format)


order_handlers: list[Any] = [orders_page, new_order_page, create_order, order_page, order_action, order_document]
