"""The CAIH recurring maintenance API (issue 14 §3, CCTP CAIH 2.1.32), under ``/api/v1/tenants/{tenant_id}/``
(listed in ``catalog.api``):

* ``POST maintenance-contracts`` (``{"agreement_id", "first_order_id"?}`` or ``{"agreement_id", "lines":
  [{"article_code", "quantity"}], "delivery_place", "representative"}``): the contract and its first order (the
  existing one, or a draft made from the park) → 201; 422 with an error per field, nothing stored;
* ``GET maintenance-contracts``, ``GET maintenance-contracts/{id}``: with the first order's 30-day execution
  deadline, the next anniversary and its declaration deadline, the park, the declarations, the changes and the
  orders;
* ``POST maintenance-contracts/{id}/park`` (``{"lines"}``): the annual declaration of the park → 201, with the
  anniversary it is for;
* ``POST maintenance-contracts/{id}/changes`` (``{"lines": [{"article_code", "quantity", "direction": entree |
  sortie}], "note"?}``): a change during the year → 201, its percent of the annual order and its outcome
  (``complementary``: the draft order in ``complementary_order_id``; ``renewal``: regularised at the renewal).

Reading needs ``read``, the rest ``order`` (the buyer). Another tenant's contract answers 404.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import get, post
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.shell import error_responses
from catalog import maintenance as m
from catalog.models import MaintenanceChange, MaintenanceContract, MaintenanceDeclaration
from catalog.order_rules import MAX_LINES
from catalog.orders_api import Number
from tenants.context import TenantContext

__all__ = ["maintenance_api_handlers"]

TAG = "Maintenance récurrente"
PATH = "/tenants/{tenant_id:uuid}/maintenance-contracts"


class ParkLineIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    article_code: Annotated[str, msgspec.Meta(max_length=64)]
    quantity: Annotated[Number, msgspec.Meta(description="Quantité > 0, 3 décimales au plus (nombre ou chaîne)")]


class ChangeLineIn(ParkLineIn, kw_only=True, forbid_unknown_fields=True):
    direction: Annotated[str, msgspec.Meta(max_length=10, description="entree (entrée) ou sortie du parc")] = "entree"


class ContractIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    agreement_id: uuid.UUID
    first_order_id: uuid.UUID | None = None
    lines: Annotated[list[ParkLineIn], msgspec.Meta(max_length=MAX_LINES)] | None = None
    delivery_place: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    representative: Annotated[str, msgspec.Meta(max_length=500)] = ""


# ``lines`` default to none so that another tenant's contract is a 404 whatever the body (the service reports the
# missing lines as a 422 after the tenant check).
class ParkIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    lines: Annotated[list[ParkLineIn], msgspec.Meta(max_length=MAX_LINES)] = msgspec.field(default_factory=list)


class ChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    lines: Annotated[list[ChangeLineIn], msgspec.Meta(max_length=MAX_LINES)] = msgspec.field(default_factory=list)
    note: Annotated[str, msgspec.Meta(max_length=m.NOTE_MAX)] = ""


class ParkLineOut(msgspec.Struct, kw_only=True):
    article_code: str
    quantity: str


class DeclarationOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    declared_at: dt.datetime
    declared_on: dt.date
    anniversary: dt.date
    late: bool
    amount_ht: str
    lines: list[ParkLineOut]

    @classmethod
    def of(cls, d: MaintenanceDeclaration) -> DeclarationOut:
        return cls(id=d.id, declared_at=_utc(d.declared_at), declared_on=d.declared_on, anniversary=d.anniversary,
                   late=d.late, amount_ht=str(d.amount_ht), lines=[ParkLineOut(**x) for x in d.lines])


class ChangeLineOut(msgspec.Struct, kw_only=True):
    article_code: str
    label: str
    direction: str
    quantity: str
    total_ht: str


class ChangeOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    declared_at: dt.datetime
    note: str
    annual_amount_ht: str
    change_amount_ht: str
    percent: str
    outcome: str
    outcome_label: str
    complementary_order_id: uuid.UUID | None
    renewal_order_id: uuid.UUID | None
    lines: list[ChangeLineOut]

    @classmethod
    def of(cls, c: MaintenanceChange) -> ChangeOut:
        return cls(id=c.id, declared_at=_utc(c.declared_at), note=c.note, annual_amount_ht=str(c.annual_amount_ht),
                   change_amount_ht=str(c.change_amount_ht), percent=str(c.percent), outcome=c.outcome,
                   outcome_label=m.OUTCOMES[c.outcome], complementary_order_id=c.complementary_order_id,
                   renewal_order_id=c.renewal_order_id, lines=[ChangeLineOut(**x) for x in c.lines])


class ContractOrderOut(msgspec.Struct, kw_only=True):
    kind: str
    anniversary: dt.date | None
    order_id: uuid.UUID
    number: str
    status: str
    total_ht: str


class ContractOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    agreement_id: uuid.UUID
    agreement_reference: str
    starts_on: dt.date
    first_order_id: uuid.UUID
    first_order_number: str
    first_order_status: str
    annual_amount_ht: str
    #: CCTP CAIH 2.1.32: the last day of the first order's execution (30 days); None until it is notified.
    execution_last_day: dt.date | None
    execution_overdue: bool
    next_anniversary: dt.date | None
    declaration_deadline: dt.date | None
    declaration_past: bool
    park: list[ParkLineOut]
    declarations: list[DeclarationOut] | None = None
    changes: list[ChangeOut] | None = None
    orders: list[ContractOrderOut] | None = None


def _utc(moment: Any) -> Any:
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


async def _out(session: AsyncSession, c: MaintenanceContract, *, detail: bool) -> ContractOut:
    view = await m.contract_view(session, c, utcnow())
    out = ContractOut(
        id=c.id, agreement_id=c.agreement_id, agreement_reference=c.agreement_reference, starts_on=c.starts_on,
        first_order_id=c.first_order_id, first_order_number=view.first_order.number,
        first_order_status=view.first_order.status, annual_amount_ht=str(c.annual_amount_ht),
        execution_last_day=view.execution.last_day if view.execution else None,
        execution_overdue=view.execution_overdue, next_anniversary=view.next_anniversary,
        declaration_deadline=view.declaration_deadline, declaration_past=view.declaration_past,
        park=[ParkLineOut(**x) for x in c.park])
    if detail:
        out.declarations = [DeclarationOut.of(d) for d in await m.declarations_of(session, c)]
        out.changes = [ChangeOut.of(x) for x in await m.changes_of(session, c)]
        out.orders = [ContractOrderOut(kind=link.kind, anniversary=link.anniversary, order_id=o.id, number=o.number,
                                       status=o.status, total_ht=str(o.total_ht))
                      for link, o in await m.orders_of_contract(session, c)]
    return out


@post(PATH, tags=[TAG], status_code=201, responses=error_responses(403, 404, 422),
      summary="Créer un contrat de maintenance récurrente et son premier bon de commande (CCTP CAIH 2.1.32)",
      description="Avec `first_order_id`, un bon de commande existant de l'accord ; sinon `lines` (le parc), "
                  "`delivery_place` et `representative` : un bon de commande brouillon est créé à émettre. Son "
                  "exécution est due dans les 30 jours de sa notification.")
async def api_create_contract(tenant_ctx: TenantContext, db_session: AsyncSession, data: ContractIn) -> ContractOut:
    tenant_ctx.require("order")
    payload = {k: v for k, v in msgspec.to_builtins(data).items() if v is not None}
    contract = await m.create_contract(db_session, tenant_ctx.tenant_id, payload, now=utcnow())
    return await _out(db_session, contract, detail=True)


@get(PATH, tags=[TAG], responses=error_responses(403, 404), summary="Les contrats de maintenance récurrente")
async def api_contracts(tenant_ctx: TenantContext, db_session: AsyncSession) -> list[ContractOut]:
    tenant_ctx.require("read")
    return [await _out(db_session, c, detail=False)
            for c in await m.contracts_of_tenant(db_session, tenant_ctx.tenant_id)]


@get(f"{PATH}/{{contract_id:uuid}}", tags=[TAG], responses=error_responses(403, 404),
     summary="Un contrat : premier bon de commande, échéances, parc, déclarations, évolutions et commandes")
async def api_contract(tenant_ctx: TenantContext, db_session: AsyncSession, contract_id: uuid.UUID) -> ContractOut:
    tenant_ctx.require("read")
    return await _out(db_session, await m.get_contract_in_tenant(db_session, tenant_ctx.tenant_id, contract_id),
                      detail=True)


@post(f"{PATH}/{{contract_id:uuid}}/park", tags=[TAG], status_code=201, responses=error_responses(403, 404, 422),
      summary="Déclarer l'actualisation annuelle du parc (au plus tard un mois avant la date anniversaire)")
async def api_declare_park(tenant_ctx: TenantContext, db_session: AsyncSession, contract_id: uuid.UUID,
                           data: ParkIn) -> DeclarationOut:
    await m.get_contract_in_tenant(db_session, tenant_ctx.tenant_id, contract_id)  # 404 before 403
    tenant_ctx.require("order")
    return DeclarationOut.of(await m.declare_park(db_session, tenant_ctx.tenant_id, contract_id,
                                                  msgspec.to_builtins(data)["lines"], now=utcnow()))


@post(f"{PATH}/{{contract_id:uuid}}/changes", tags=[TAG], status_code=201, responses=error_responses(403, 404, 422),
      summary="Déclarer une évolution du parc en cours d'année (plus de 10 % : commande complémentaire)")
async def api_declare_change(tenant_ctx: TenantContext, db_session: AsyncSession, contract_id: uuid.UUID,
                             data: ChangeIn) -> ChangeOut:
    await m.get_contract_in_tenant(db_session, tenant_ctx.tenant_id, contract_id)
    tenant_ctx.require("order")
    return ChangeOut.of(await m.declare_change(db_session, tenant_ctx.tenant_id, contract_id,
                                               msgspec.to_builtins(data), now=utcnow()))


maintenance_api_handlers: list[Any] = [api_create_contract, api_contracts, api_contract, api_declare_park,
                                       api_declare_change]
