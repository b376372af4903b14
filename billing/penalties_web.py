"""The penalties' portal pages (issue 15 §4; CCP TGD VIII), menu « Pénalités » under « Commandes »:

* ``/t/{tenant}/penalites``: the tenant's penalties with their state and amount; for the buyer's admin the form
  that proposes one (VIII.3 / VIII.4, from a ticket whose deadline was missed or an order's delay);
* ``/t/{tenant}/penalites/{id}``: the penalty, its computation in French, its thirty days of observations, and the
  forms open to the reader: « Notifier », « Maintenir », « Admettre l'exonération », « Annuler » (the buyer), the
  observations and the VIII.5 exemption with its justification (the titulaire's operator).

Forms carry the CSRF token; a refusal shows its French message with status 422 and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page
from app.db import utcnow
from app.errors import NotFound
from app.shell import Paged, flash, form_fields, pager, render, see_other, tenant_page
from billing import penalties, rules
from billing.services import BillingError
from tenants.context import TenantContext

__all__ = ["nav", "portal_handlers"]

PATH = "/t/{tenant_id:uuid}/penalites"
PER_PAGE = 50
StatusFilter = Annotated[str, Parameter(max_length=20)]
ACTIONS = {"notifier": "penalize", "observations": "observe_penalty", "decision": "penalize", "annuler": "penalize"}


def _base(ctx: TenantContext) -> str:
    return f"/t/{ctx.tenant_id}/penalites"


def nav(ctx: Any) -> list[tuple[str, ...]]:
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        return [("penalties", _base(ctx), "Pénalités")]
    return []


def _page(ctx: TenantContext, **extra: Any) -> dict[str, Any]:
    return tenant_page(ctx, "penalties", statuses=penalties.STATUSES, units=penalties.UNITS,
                       exemptions=rules.EXEMPTIONS, can_penalize=ctx.can("penalize"),
                       can_observe=ctx.can("observe_penalty"), **extra)


async def _list(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *, etat: str = "",
                page: int = 1, errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                status: int = 200) -> Any:
    found, total = await penalties.penalties_of_tenant(session, ctx.tenant_id, status=etat, page=page,
                                                       per_page=PER_PAGE)
    query = {"etat": etat}
    return render(request, "billing/penalties.html", _page(
        ctx, penalties=found, total=total, query=query, url=_base(ctx), errors=errors or {}, values=values or {},
        paging=pager(_base(ctx), query, Paged(items=found, total=total, page=page, per_page=PER_PAGE))),
        status=status)


@get(PATH)
async def penalties_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                         etat: StatusFilter = "", page: Page = 1) -> Any:
    tenant_ctx.require("read")
    return await _list(request, tenant_ctx, db_session, etat=etat if etat in penalties.STATUSES else "", page=page)


@post(PATH)
async def propose(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("penalize")
    values = {k: v[:penalties.TEXT_LIMIT] for k, v in form_fields(await request.form()).items()}
    try:
        made = await penalties.propose_penalty(db_session, tenant_ctx.tenant_id, values, now=utcnow())
    except BillingError as exc:
        return await _list(request, tenant_ctx, db_session, errors=exc.errors, values=values, status=422)
    flash(request, f"Pénalité {made.article} proposée : vérifiez son calcul, puis notifiez-la au titulaire.")
    return see_other(f"{_base(tenant_ctx)}/{made.id}")


async def _detail(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, penalty: Any, *,
                  errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                  status: int = 200) -> Any:
    return render(request, "billing/penalty.html", _page(
        ctx, penalty=penalty, url=f"{_base(ctx)}/{penalty.id}", errors=errors or {}, values=values or {}),
        status=status)


@get(f"{PATH}/{{penalty_id:uuid}}")
async def penalty_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       penalty_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    penalty = await penalties.get_penalty_in_tenant(db_session, tenant_ctx.tenant_id, penalty_id)
    return await _detail(request, tenant_ctx, db_session, penalty)


@post(f"{PATH}/{{penalty_id:uuid}}/{{action:str}}")
async def penalty_action(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                         penalty_id: uuid.UUID, action: str) -> Any:
    if action not in ACTIONS:
        raise NotFound("action")
    tenant_ctx.require("read")
    penalty = await penalties.get_penalty_in_tenant(db_session, tenant_ctx.tenant_id, penalty_id)
    tenant_ctx.require(ACTIONS[action])
    values = {k: v[:penalties.TEXT_LIMIT] for k, v in form_fields(await request.form()).items()}
    tid, now = tenant_ctx.tenant_id, utcnow()
    try:
        if action == "notifier":
            penalty = await penalties.notify_penalty(db_session, tid, penalty_id, now=now)
            message = (f"Pénalité notifiée au titulaire : observations jusqu'au "
                       f"{penalty.observations_until:%d/%m/%Y} (CCP TGD VIII.1).")
        elif action == "observations":
            penalty = await penalties.record_observations(db_session, tid, penalty_id, values, now=now)
            message = "Observations enregistrées : l'acheteur statue sur la pénalité."
        elif action == "decision":
            penalty = await penalties.decide_penalty(db_session, tid, penalty_id, values, now=now)
            message = f"Pénalité {penalties.STATUSES[penalty.status]}."
        else:
            penalty = await penalties.cancel_penalty(db_session, tid, penalty_id, values, now=now)
            message = "Pénalité annulée."
    except BillingError as exc:
        penalty = await penalties.get_penalty_in_tenant(db_session, tid, penalty_id)
        return await _detail(request, tenant_ctx, db_session, penalty, errors=exc.errors, values=values, status=422)
    flash(request, message)
    return see_other(f"{_base(tenant_ctx)}/{penalty.id}")


portal_handlers: list[Any] = [penalties_page, propose, penalty_page, penalty_action]
