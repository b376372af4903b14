"""The delivery slips' portal pages (issue 14 §3; CCP TGD VII.1–VII.3), under ``/t/{tenant}/commandes/{order_id}``:

* on the order's page, the « Livraisons » section (``order_section``, included by ``catalog/order.html``): what is
  ordered, delivered and left per line, the slips with their decision and its VII.3 deadline, red once past;
* ``…/livraisons/nouvelle``: the titulaire's operator's « bordereau de mise à disposition » (``execute_orders``) —
  its date and one quantity per order line, showing what is ordered and already delivered; every problem next
  to its field, status 422, nothing written;
* ``…/livraisons/{delivery_id}``: the slip, its lines, the decision's deadline, and for the buyer (``order``) the
  decision form: per line the kind (réception, avec réserves and their deadline, ajournement, avec réfaction and
  its amount HT, rejet) and the accepted and rejected quantities; the decision is final;
* the reserves of a « réception avec réserves » on that page (CCP TGD VII.3): their deadline, red once past
  without their lifting; ``…/{delivery_id}/reserves/declaration``, the titulaire's operator declares them resolved
  (a note of what it did); ``…/{delivery_id}/reserves/levee``, the buyer pronounces their lifting (its day, a note).

The rules, the audit, the order's moves and the e-mails are ``catalog.deliveries``'; a form is read after the
access check, so another tenant's order or slip is a 404 whatever the body. ``…/{delivery_id}/document?format=pdf|odt``
is the slip as a document (``catalog.documents``), for whoever reads its page.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.shell import flash, form_fields, render, see_other, tenant_page
from catalog import deliveries, documents, orders
from catalog.deadlines import DECISION_KINDS
from catalog.order_rules import STATUSES
from catalog.quotes import tenant_calendar
from tenants import services as tenants
from tenants.context import TenantContext

__all__ = ["delivery_handlers", "order_section"]

PATH = "/t/{tenant_id:uuid}/commandes/{order_id:uuid}/livraisons"
LINE_FIELDS = ("decision", "acceptee", "refusee", "montant", "reserves")


def _today(ctx: TenantContext) -> dt.date:
    return dt.datetime.now(ZoneInfo(ctx.tenant.timezone)).date()


def _url(ctx: TenantContext, order_id: uuid.UUID) -> str:
    return f"/t/{ctx.tenant_id}/commandes/{order_id}/livraisons"


async def order_section(session: AsyncSession, ctx: TenantContext, order: Any) -> dict[str, Any]:
    """What the order page's « Livraisons » section shows (``catalog/_order_deliveries.html``)."""
    progress = await deliveries.order_progress(session, order)
    calendar = await tenant_calendar(session, order.tenant_id)
    now = utcnow()
    today = _today(ctx)
    found = await deliveries.deliveries_of_order(session, order)
    lines = await deliveries.lines_of_deliveries(session, [x for x in found if x.decided_at is not None])
    slips = [{"d": x, "deadline": deliveries.decision_deadline(calendar, x),
              "overdue": deliveries.is_decision_overdue(calendar, x, now),
              "reserves": deliveries.reserves_status(x, lines[x.id], today) if x.decided_at is not None else None}
             for x in found]
    may_record = (ctx.can("execute_orders") and order.status in deliveries.SLIP_STATUSES
                  and any(p.remaining for p in progress))
    return {"progress": progress, "slips": slips, "may_record": may_record, "url": _url(ctx, order.id)}


# --------------------------------------------------------------------------- the titulaire's slip


async def _slip_form(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, order: Any,
                     values: dict[str, str], errors: dict[str, str], status: int = 200) -> Any:
    return render(request, "catalog/delivery_form.html", tenant_page(
        ctx, "orders", order=order, progress=await deliveries.order_progress(session, order), values=values,
        errors=errors, url=_url(ctx, order.id), order_url=f"/t/{ctx.tenant_id}/commandes/{order.id}",
        today=_today(ctx)), status=status)


@get(f"{PATH}/nouvelle")
async def new_delivery_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                            order_id: uuid.UUID) -> Any:
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    tenant_ctx.require("execute_orders")
    return await _slip_form(request, tenant_ctx, db_session, order, {"delivered_on": _today(tenant_ctx).isoformat()},
                            {})


@post(f"{PATH}/nouvelle")
async def create_delivery(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                          order_id: uuid.UUID) -> Any:
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    tenant_ctx.require("execute_orders")
    form = form_fields(await request.form())
    values = {k: v[:deliveries.NOTE_MAX + 1] for k, v in form.items() if k != "_csrf_token"}
    lines = [{"position": x.position, "quantity": values.get(f"quantite_{x.position}", "").strip()}
             for x in await orders.lines_of_order(db_session, order)]
    data = {"delivered_on": values.get("delivered_on", ""), "note": values.get("note", ""),
            "lines": [x for x in lines if x["quantity"]]}
    try:
        slip = await deliveries.record_delivery(db_session, tenant_ctx.tenant_id, order.id, data,
                                                recorded_by=tenant_ctx.identity.user_id, now=utcnow())
    except deliveries.DeliveryError as exc:  # raised before anything is written
        return await _slip_form(request, tenant_ctx, db_session, order, values, exc.errors, status=422)
    flash(request, f"Bordereau {slip.number} enregistré : l'acheteur est prévenu, sa décision est due dans les quinze "
                   "jours de la fin des vérifications (CCP TGD VII.3).")
    return see_other(f"{_url(tenant_ctx, order.id)}/{slip.id}")


# --------------------------------------------------------------------------- one slip and the buyer's decision


async def _slip_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, order: Any,
                     slip: Any, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                     status: int = 200) -> Any:
    calendar = await tenant_calendar(session, ctx.tenant_id)
    lines = await deliveries.lines_of_delivery(session, slip)
    if values is None:  # the form's defaults: everything received
        values = {"decided_on": _today(ctx).isoformat(), "verification_ended_on": slip.delivered_on.isoformat()}
        for x in lines:
            values[f"decision_{x.position}"] = "reception"
    reserves = deliveries.reserves_status(slip, lines, _today(ctx))
    open_reserves = reserves is not None and not reserves.lifted
    values.setdefault("lifted_on", _today(ctx).isoformat())
    return render(request, "catalog/delivery.html", tenant_page(
        ctx, "orders", order=order, slip=slip, lines=lines, kinds=DECISION_KINDS, statuses=STATUSES,
        deadline=deliveries.decision_deadline(calendar, slip),
        overdue=deliveries.is_decision_overdue(calendar, slip, utcnow()),
        names=await tenants.member_names(session, ctx.tenant_id), reserves=reserves,
        may_declare=open_reserves and ctx.can("execute_orders"), may_lift=open_reserves and ctx.can("order"),
        may_decide=ctx.can("order") and slip.decided_at is None, values=values, errors=errors or {},
        url=f"{_url(ctx, order.id)}/{slip.id}", order_url=f"/t/{ctx.tenant_id}/commandes/{order.id}",
        today=_today(ctx)), status=status)


@get(f"{PATH}/{{delivery_id:uuid}}")
async def delivery_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                        order_id: uuid.UUID, delivery_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    slip = await deliveries.get_delivery_in_tenant(db_session, tenant_ctx.tenant_id, delivery_id, order_id=order.id)
    return await _slip_page(request, tenant_ctx, db_session, order, slip)


@get(f"{PATH}/{{delivery_id:uuid}}/document")
async def delivery_document(tenant_ctx: TenantContext, db_session: AsyncSession, order_id: uuid.UUID,
                            delivery_id: uuid.UUID,
                            format: Annotated[str, Parameter(max_length=10)] = "pdf") -> Response[bytes]:  # noqa: A002
    """The « bordereau de mise à disposition » (CCP TGD VII.1) as PDF or ODT: whoever reads the slip's page."""
    tenant_ctx.require("read")
    await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    sheet = await documents.load_slip(db_session, tenant_ctx.tenant_id, delivery_id, order_id=order_id)
    return documents.slip_response(sheet, format)


@post(f"{PATH}/{{delivery_id:uuid}}/decision")
async def decide_delivery(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                          order_id: uuid.UUID, delivery_id: uuid.UUID) -> Any:
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    slip = await deliveries.get_delivery_in_tenant(db_session, tenant_ctx.tenant_id, delivery_id, order_id=order.id)
    tenant_ctx.require("order")
    form = form_fields(await request.form())
    values = {k: v[:40] for k, v in form.items() if k != "_csrf_token"}
    lines = [{"position": x.position, "kind": values.get(f"decision_{x.position}", ""),
              "accepted": values.get(f"acceptee_{x.position}", ""), "rejected": values.get(f"refusee_{x.position}", ""),
              "refaction_amount": values.get(f"montant_{x.position}", ""),
              "reserves_deadline": values.get(f"reserves_{x.position}", "")}
             for x in await deliveries.lines_of_delivery(db_session, slip)]
    data = {"decided_on": values.get("decided_on", ""), "verification_ended_on": values.get("verification_ended_on", ""),
            "lines": lines}
    try:
        decided = await deliveries.decide_delivery(db_session, tenant_ctx.tenant_id, slip.id, data,
                                                   decided_by=tenant_ctx.identity.user_id, now=utcnow())
    except deliveries.DeliveryError as exc:  # nothing written
        return await _slip_page(request, tenant_ctx, db_session, order, slip, values=values, errors=exc.errors,
                                status=422)
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order.id)
    flash(request, f"Décision enregistrée sur le bordereau {decided.number} ; le bon de commande est "
                   f"« {STATUSES[order.status]} ».")
    return see_other(f"{_url(tenant_ctx, order.id)}/{decided.id}")


# --------------------------------------------------------------------------- the reserves (CCP TGD VII.3)


async def _reserves_step(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                         order_id: uuid.UUID, delivery_id: uuid.UUID, permission: str) -> Any:
    order = await orders.get_order_in_tenant(session, ctx.tenant_id, order_id)
    slip = await deliveries.get_delivery_in_tenant(session, ctx.tenant_id, delivery_id, order_id=order.id)
    ctx.require(permission)
    form = form_fields(await request.form())
    values = {k: v[:deliveries.NOTE_MAX + 1] for k, v in form.items() if k in ("note", "lifted_on")}
    try:
        if permission == "order":
            await deliveries.lift_reserves(session, ctx.tenant_id, slip.id, values, lifted_by=ctx.identity.user_id,
                                           now=utcnow())
            message = f"Levée des réserves prononcée sur le bordereau {slip.number} : le titulaire est prévenu."
        else:
            await deliveries.declare_reserves_resolved(session, ctx.tenant_id, slip.id, values,
                                                       declared_by=ctx.identity.user_id, now=utcnow())
            message = (f"Réserves du bordereau {slip.number} déclarées levées : l'acheteur est prévenu, il lui revient "
                       "d'en prononcer la levée.")
    except deliveries.DeliveryError as exc:  # nothing written
        return await _slip_page(request, ctx, session, order, slip, values=values, errors=exc.errors, status=422)
    flash(request, message)
    return see_other(f"{_url(ctx, order.id)}/{slip.id}")


@post(f"{PATH}/{{delivery_id:uuid}}/reserves/declaration")
async def declare_reserves(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                           order_id: uuid.UUID, delivery_id: uuid.UUID) -> Any:
    return await _reserves_step(request, tenant_ctx, db_session, order_id, delivery_id, "execute_orders")


@post(f"{PATH}/{{delivery_id:uuid}}/reserves/levee")
async def lift_reserves(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                        order_id: uuid.UUID, delivery_id: uuid.UUID) -> Any:
    return await _reserves_step(request, tenant_ctx, db_session, order_id, delivery_id, "order")


delivery_handlers: list[Any] = [new_delivery_page, create_delivery, delivery_page, delivery_document, decide_delivery,
                                declare_reserves, lift_reserves]
