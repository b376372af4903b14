"""The API of acomptes (issue 15 §3; CCP TGD IX.5), tag « Factures », under ``/api/v1/tenants/{tenant_id}/``:

* ``GET orders/{order_id}/progress-statements``: the order's « constats d'avancement », each with its acompte and,
  validated and not invoiced yet, the ceiling of its acompte;
* ``POST orders/{order_id}/progress-statements`` ``{value_ht, description, stated_on?}`` → 201 (the titulaire's
  operator, ``state_progress``);
* ``GET progress-statements/{id}``; ``POST progress-statements/{id}/validate``, ``…/refuse`` ``{reason}`` (the
  buyer's administrator, ``validate_progress``);
* ``POST progress-statements/{id}/acompte`` ``{amount_ht?}`` → 201, the draft acompte invoice (``invoice``), issued
  with ``POST invoices/{id}/issue``.

Another tenant's ids answer 404; refusals 422 with French messages by field. Amounts are strings.
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
from billing import acomptes, api
from billing.acompte_models import ProgressStatement
from catalog import services as catalog
from tenants.context import TenantContext

__all__ = ["api_handlers"]

Amount = (Annotated[str, msgspec.Meta(max_length=20)] | Annotated[float, msgspec.Meta(ge=0, le=1e8)]
          | Annotated[int, msgspec.Meta(ge=0, le=10**8)])


class StatementIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    value_ht: Amount
    description: Annotated[str, msgspec.Meta(max_length=acomptes.DESCRIPTION_LIMIT)]
    stated_on: dt.date | None = None


class RefusalIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=acomptes.DESCRIPTION_LIMIT)]


class AcompteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    amount_ht: Amount | None = None


class StatementOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    order_id: uuid.UUID
    order_number: str
    sequence: int
    stated_on: dt.date
    value_ht: str
    description: str
    status: str
    refusal_reason: str
    submitted_by: str
    decided_by: str
    decided_at: dt.datetime | None
    #: The acompte invoice of the statement (draft or issued), if any.
    acompte_invoice_id: uuid.UUID | None = None
    #: Validated, not invoiced yet: the largest acompte it allows (``billing.rules.acompte_ceiling``).
    ceiling_ht: str | None = None


async def _out(session: AsyncSession, s: ProgressStatement, order: catalog.BillableOrder | None = None,
               drafts: bool = False) -> StatementOut:
    invoice = await acomptes.acompte_of_statement(session, s)
    if invoice is not None and invoice.status == "draft" and not drafts:
        invoice = None
    ceiling = None
    if s.status == "validated" and invoice is None:
        order = order or await catalog.billable_order(session, s.tenant_id, s.order_id)
        ceiling = str((await acomptes.room_of(session, s, order)).ceiling)
    return StatementOut(id=s.id, order_id=s.order_id, order_number=s.order_number, sequence=s.sequence,
                        stated_on=s.stated_on, value_ht=str(s.value_ht), description=s.description, status=s.status,
                        refusal_reason=s.refusal_reason, submitted_by=s.submitted_by, decided_by=s.decided_by,
                        decided_at=s.decided_at, acompte_invoice_id=invoice.id if invoice else None,
                        ceiling_ht=ceiling)


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


@get("/tenants/{tenant_id:uuid}/orders/{order_id:uuid}/progress-statements", tags=[api.TAG],
     responses=error_responses(403, 404), summary="Les constats d'avancement d'un bon de commande (CCP TGD IX.5)")
async def api_statements(tenant_ctx: TenantContext, db_session: AsyncSession,
                         order_id: uuid.UUID) -> list[StatementOut]:
    tenant_ctx.require("read")
    order = await catalog.billable_order(db_session, tenant_ctx.tenant_id, order_id)
    return [await _out(db_session, s, order, tenant_ctx.can("invoice"))
            for s in await acomptes.statements_of_order(db_session, tenant_ctx.tenant_id, order.id)]


@post("/tenants/{tenant_id:uuid}/orders/{order_id:uuid}/progress-statements", tags=[api.TAG], status_code=201,
      responses=error_responses(403, 404, 422),
      summary="Remettre un constat d'avancement (le titulaire)",
      description="CCP TGD IX.5 : « un constat d'avancement reprenant les prestations exécutées en application de la "
                  "commande » ; `value_ht` est la valeur HT de toutes les prestations exécutées à ce jour. Trois mois "
                  "au moins après l'émission du bon de commande, avant sa vérification. Les administrateurs de "
                  "l'acheteur sont avertis par courriel.")
async def api_submit(tenant_ctx: TenantContext, db_session: AsyncSession, order_id: uuid.UUID,
                     data: StatementIn) -> StatementOut:
    tenant_ctx.require("read")
    await catalog.billable_order(db_session, tenant_ctx.tenant_id, order_id)
    tenant_ctx.require("state_progress")
    statement = await acomptes.submit_statement(db_session, tenant_ctx.tenant_id, order_id, {
        "value_ht": _text(data.value_ht), "description": data.description, "stated_on": data.stated_on},
        now=utcnow())
    return await _out(db_session, statement)


@get("/tenants/{tenant_id:uuid}/progress-statements/{statement_id:uuid}", tags=[api.TAG],
     responses=error_responses(403, 404), summary="Un constat d'avancement")
async def api_statement(tenant_ctx: TenantContext, db_session: AsyncSession, statement_id: uuid.UUID) -> StatementOut:
    tenant_ctx.require("read")
    statement = await acomptes.get_statement_in_tenant(db_session, tenant_ctx.tenant_id, statement_id)
    return await _out(db_session, statement, drafts=tenant_ctx.can("invoice"))


@post("/tenants/{tenant_id:uuid}/progress-statements/{statement_id:uuid}/validate", tags=[api.TAG], status_code=200,
      responses=error_responses(403, 404, 422),
      summary="Valider un constat d'avancement (l'administrateur de l'acheteur : procès-verbal, CCP TGD IX.5)")
async def api_validate(tenant_ctx: TenantContext, db_session: AsyncSession, statement_id: uuid.UUID) -> StatementOut:
    tenant_ctx.require("read")
    await acomptes.get_statement_in_tenant(db_session, tenant_ctx.tenant_id, statement_id)
    tenant_ctx.require("validate_progress")
    statement = await acomptes.validate_statement(db_session, tenant_ctx.tenant_id, statement_id, now=utcnow())
    return await _out(db_session, statement)


@post("/tenants/{tenant_id:uuid}/progress-statements/{statement_id:uuid}/refuse", tags=[api.TAG], status_code=200,
      responses=error_responses(403, 404, 422), summary="Refuser un constat d'avancement, avec le motif")
async def api_refuse(tenant_ctx: TenantContext, db_session: AsyncSession, statement_id: uuid.UUID,
                     data: RefusalIn) -> StatementOut:
    tenant_ctx.require("read")
    await acomptes.get_statement_in_tenant(db_session, tenant_ctx.tenant_id, statement_id)
    tenant_ctx.require("validate_progress")
    statement = await acomptes.refuse_statement(db_session, tenant_ctx.tenant_id, statement_id,
                                                {"reason": data.reason}, now=utcnow())
    return await _out(db_session, statement)


@post("/tenants/{tenant_id:uuid}/progress-statements/{statement_id:uuid}/acompte", tags=[api.TAG], status_code=201,
      responses=error_responses(403, 404, 422),
      summary="Préparer la facture d'acompte (brouillon, type 386) d'un constat validé",
      description="CCP TGD IX.5 : « la valeur de chaque acompte ne peut dépasser la valeur des prestations auxquelles "
                  "il se rapporte. Le cumul des acomptes ne peut être supérieur à 70 % du montant total du bon de "
                  "commande. » `amount_ht` vaut le plafond par défaut ; au-delà, 422 avec le calcul.")
async def api_acompte(tenant_ctx: TenantContext, db_session: AsyncSession, statement_id: uuid.UUID,
                      data: AcompteIn | None = None) -> api.InvoiceOut:
    tenant_ctx.require("read")
    await acomptes.get_statement_in_tenant(db_session, tenant_ctx.tenant_id, statement_id)
    tenant_ctx.require("invoice")
    invoice = await acomptes.draft_acompte(db_session, tenant_ctx.tenant_id, statement_id,
                                           {"amount_ht": _text(data.amount_ht) if data else None}, now=utcnow())
    return await api._detail(db_session, invoice)  # noqa: SLF001 (the same component)


api_handlers: list[Any] = [api_statements, api_submit, api_statement, api_validate, api_refuse, api_acompte]
