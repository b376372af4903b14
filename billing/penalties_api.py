"""The penalties' API (issue 15 §4, §6), under ``/api/v1/tenants/{tenant_id}/``, tag « Pénalités »:

* ``GET penalties`` (``status``, ``page``) and ``GET penalties/{id}``: every reader of the tenant (amounts as strings,
  the computation in French);
* ``POST penalties``: the buyer's admin proposes one (CCP TGD VIII.3 / VIII.4, from a ticket or an order's delay) → 201;
* ``POST penalties/{id}/notify`` (the buyer: VIII.1, thirty days for observations), ``POST penalties/{id}/observations``
  (the titulaire's operator: observations, a VIII.5 exemption and its justification), ``POST penalties/{id}/decision``
  (the buyer: ``maintain`` or ``exempt``), ``POST penalties/{id}/cancel`` (the buyer, with a reason).

Another tenant's ids answer 404, like unknown ones; a refused step is a 422 with its French message by field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import ValidationFailed
from app.shell import error_responses
from billing import penalties
from billing.models import Penalty
from tenants.context import TenantContext

__all__ = ["api_handlers"]

TAG = "Pénalités"
PER_PAGE = 50
PageNumber = Annotated[int, Parameter(ge=1, le=10_000)]
StatusFilter = Annotated[str, Parameter(max_length=20, description=f"Un de : {', '.join(penalties.STATUSES)}")]
Text = Annotated[str, msgspec.Meta(max_length=penalties.TEXT_LIMIT)]


class ProposeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    article: Annotated[str, msgspec.Meta(max_length=8)]
    order_id: uuid.UUID
    source: Annotated[str, msgspec.Meta(max_length=8)]
    ticket_id: uuid.UUID | None = None
    lateness: (Annotated[str, msgspec.Meta(max_length=20)] | Annotated[float, msgspec.Meta(ge=0, le=10**9)]
               | Annotated[int, msgspec.Meta(ge=0, le=10**9)] | None) = None
    lateness_unit: Annotated[str, msgspec.Meta(max_length=8)] | None = None
    facts: Text | None = None


class PenaltyObservationsIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    observations: Text
    exemption: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    justification: Text | None = None


class PenaltyDecisionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    decision: Annotated[str, msgspec.Meta(max_length=10)]


class CancelIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Text


class PenaltyOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: str
    status_label: str
    article: str
    agreement_reference: str
    order_id: uuid.UUID
    order_number: str
    value_ht: str
    lateness: str
    lateness_unit: str
    source: str
    ticket_id: uuid.UUID | None
    ticket_number: str
    facts: str
    computed_ht: str
    amount_ht: str
    computation: str
    notified_at: dt.datetime | None
    observations_until: dt.date | None
    observations: str
    exemption: str
    justification: str
    deemed_accepted: bool
    invoice_id: uuid.UUID | None
    cancel_reason: str
    created_at: dt.datetime

    @classmethod
    def of(cls, p: Penalty) -> PenaltyOut:
        return cls(id=p.id, status=p.status, status_label=penalties.STATUSES[p.status], article=p.article,
                   agreement_reference=p.agreement_reference, order_id=p.order_id, order_number=p.order_number,
                   value_ht=f"{p.value_ht:.2f}", lateness=f"{p.lateness:f}", lateness_unit=p.lateness_unit,
                   source=p.source, ticket_id=p.ticket_id, ticket_number=p.ticket_number, facts=p.facts,
                   computed_ht=f"{p.computed_ht:.2f}", amount_ht=f"{p.amount_ht:.2f}", computation=p.computation,
                   notified_at=p.notified_at, observations_until=p.observations_until, observations=p.observations,
                   exemption=p.exemption, justification=p.justification, deemed_accepted=bool(p.deemed_accepted),
                   invoice_id=p.invoice_id, cancel_reason=p.cancel_reason, created_at=p.created_at)


class PenaltyPage(msgspec.Struct, kw_only=True):
    total: int
    page: int
    per_page: int
    items: list[PenaltyOut]


def _body(data: msgspec.Struct | None) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in msgspec.to_builtins(data).items()
            if v is not None} if data is not None else {}


@get("/tenants/{tenant_id:uuid}/penalties", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Les pénalités du bénéficiaire (CCP TGD VIII), les plus récentes d'abord")
async def api_penalties(tenant_ctx: TenantContext, db_session: AsyncSession, status: StatusFilter = "",
                        page: PageNumber = 1) -> PenaltyPage:
    tenant_ctx.require("read")
    if status and status not in penalties.STATUSES:
        raise ValidationFailed({"status": f"État inconnu (attendu : {', '.join(penalties.STATUSES)})."})
    found, total = await penalties.penalties_of_tenant(db_session, tenant_ctx.tenant_id, status=status, page=page,
                                                       per_page=PER_PAGE)
    return PenaltyPage(total=total, page=page, per_page=PER_PAGE, items=[PenaltyOut.of(p) for p in found])


@get("/tenants/{tenant_id:uuid}/penalties/{penalty_id:uuid}", tags=[TAG], responses=error_responses(403, 404),
     summary="Une pénalité, avec son calcul")
async def api_penalty(tenant_ctx: TenantContext, db_session: AsyncSession, penalty_id: uuid.UUID) -> PenaltyOut:
    tenant_ctx.require("read")
    return PenaltyOut.of(await penalties.get_penalty_in_tenant(db_session, tenant_ctx.tenant_id, penalty_id))


@post("/tenants/{tenant_id:uuid}/penalties", tags=[TAG], status_code=201, responses=error_responses(403, 404, 422),
      summary="Proposer une pénalité (l'acheteur)",
      description="VIII.3 P = V × R / 100 (R le dépassement en %) ou VIII.4 P = V × R / 500 (R les jours ou heures de "
                  "retard), V le montant HT du bon de commande ; `source` `ticket` (R lu sur le délai dépassé du "
                  "ticket) ou `order` (`lateness`, `lateness_unit` `days` / `hours` / `percent`). Plafonnée au montant "
                  "HT commandé au titre du marché (VIII.1).")
async def api_propose(tenant_ctx: TenantContext, db_session: AsyncSession, data: ProposeIn) -> PenaltyOut:
    tenant_ctx.require("penalize")
    return PenaltyOut.of(await penalties.propose_penalty(db_session, tenant_ctx.tenant_id, _body(data), now=utcnow()))


async def _readable(session: AsyncSession, ctx: TenantContext, penalty_id: uuid.UUID, permission: str) -> None:
    ctx.require("read")
    await penalties.get_penalty_in_tenant(session, ctx.tenant_id, penalty_id)  # another tenant's: 404 first
    ctx.require(permission)


@post("/tenants/{tenant_id:uuid}/penalties/{penalty_id:uuid}/notify", tags=[TAG], status_code=200,
      responses=error_responses(403, 404, 422),
      summary="Notifier la pénalité au titulaire : trente jours pour ses observations (VIII.1)")
async def api_notify(tenant_ctx: TenantContext, db_session: AsyncSession, penalty_id: uuid.UUID) -> PenaltyOut:
    await _readable(db_session, tenant_ctx, penalty_id, "penalize")
    return PenaltyOut.of(await penalties.notify_penalty(db_session, tenant_ctx.tenant_id, penalty_id, now=utcnow()))


@post("/tenants/{tenant_id:uuid}/penalties/{penalty_id:uuid}/observations", tags=[TAG], status_code=200,
      responses=error_responses(403, 404, 422),
      summary="Les observations du titulaire, et la cause d'exonération de l'article VIII.5 avec sa justification")
async def api_observations(tenant_ctx: TenantContext, db_session: AsyncSession, penalty_id: uuid.UUID,
                           data: PenaltyObservationsIn) -> PenaltyOut:
    await _readable(db_session, tenant_ctx, penalty_id, "observe_penalty")
    return PenaltyOut.of(await penalties.record_observations(db_session, tenant_ctx.tenant_id, penalty_id,
                                                             _body(data), now=utcnow()))


@post("/tenants/{tenant_id:uuid}/penalties/{penalty_id:uuid}/decision", tags=[TAG], status_code=200,
      responses=error_responses(403, 404, 422),
      summary="La décision de l'acheteur sur les observations : `maintain` ou `exempt` (VIII.5)")
async def api_decision(tenant_ctx: TenantContext, db_session: AsyncSession, penalty_id: uuid.UUID,
                       data: PenaltyDecisionIn) -> PenaltyOut:
    await _readable(db_session, tenant_ctx, penalty_id, "penalize")
    return PenaltyOut.of(await penalties.decide_penalty(db_session, tenant_ctx.tenant_id, penalty_id, _body(data),
                                                        now=utcnow()))


@post("/tenants/{tenant_id:uuid}/penalties/{penalty_id:uuid}/cancel", tags=[TAG], status_code=200,
      responses=error_responses(403, 404, 422), summary="Annuler une pénalité non encore déduite (motif)")
async def api_cancel(tenant_ctx: TenantContext, db_session: AsyncSession, penalty_id: uuid.UUID,
                     data: CancelIn) -> PenaltyOut:
    await _readable(db_session, tenant_ctx, penalty_id, "penalize")
    return PenaltyOut.of(await penalties.cancel_penalty(db_session, tenant_ctx.tenant_id, penalty_id, _body(data),
                                                        now=utcnow()))


api_handlers: list[Any] = [api_penalties, api_penalty, api_propose, api_notify, api_observations, api_decision,
                           api_cancel]
