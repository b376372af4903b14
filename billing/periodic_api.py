"""The API of quarterly invoicing and ECB rates (issue 15 §3), tag « Factures »:

* ``POST /tenants/{tenant_id}/orders/{order_id}/quarterly-invoices``: the titulaire's operator drafts the invoices of
  the ended quarters of the order's continuous services (CCP TGD IX.4) → 201 with the drafts; 422 ``period`` when
  every ended quarter is invoiced already;
* ``GET /centrals/{code}/ecb-rates`` and ``POST /centrals/{code}/ecb-rates`` (``{applies_from, rate}``): the ECB main
  refinancing rates late interest is computed on (IX.7), kept by the central's coordinators.

Another tenant's order answers 404; another central's code too.
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
from billing import api, late, periodic
from billing.periodic_models import EcbRate
from catalog import services as catalog
from tenants.context import CentralContext, TenantContext

__all__ = ["api_handlers"]


class EcbRateIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    applies_from: Annotated[str, msgspec.Meta(max_length=10)]
    rate: (Annotated[str, msgspec.Meta(max_length=12)] | Annotated[float, msgspec.Meta(ge=-100, le=100)]
           | Annotated[int, msgspec.Meta(ge=-100, le=100)])


class EcbRateOut(msgspec.Struct, kw_only=True):
    applies_from: dt.date
    rate: str
    created_by: str

    @classmethod
    def of(cls, r: EcbRate) -> EcbRateOut:
        return cls(applies_from=r.applies_from, rate=str(r.rate), created_by=r.created_by)


@post("/tenants/{tenant_id:uuid}/orders/{order_id:uuid}/quarterly-invoices", tags=[api.TAG], status_code=201,
      responses=error_responses(403, 404, 422),
      summary="Préparer les factures trimestrielles (brouillons) des prestations continues d'un bon de commande",
      description="CCP TGD IX.4 : « trimestriellement, à terme civil échu », prorata temporis sur des mois de trente "
                  "jours. Un brouillon par trimestre terminé et pas encore facturé ; le calcul figure sur chaque "
                  "ligne. L'opérateur du titulaire.")
async def api_quarterly_invoices(tenant_ctx: TenantContext, db_session: AsyncSession,
                                 order_id: uuid.UUID) -> list[api.InvoiceOut]:
    tenant_ctx.require("read")
    await catalog.billable_order(db_session, tenant_ctx.tenant_id, order_id)  # another tenant's order: 404
    tenant_ctx.require("invoice")
    made = await periodic.draft_quarter_invoices(db_session, tenant_ctx.tenant_id, order_id, now=utcnow())
    return [await api._detail(db_session, i) for i in made]  # noqa: SLF001 (the same component)


@get("/centrals/{central_code:str}/ecb-rates", tags=[api.TAG], responses=error_responses(404),
     summary="Les taux de refinancement de la BCE (intérêts moratoires, CCP TGD IX.7)")
async def api_ecb_rates(central_ctx: CentralContext, db_session: AsyncSession) -> list[EcbRateOut]:
    return [EcbRateOut.of(r) for r in await late.ecb_rates(db_session)]


@post("/centrals/{central_code:str}/ecb-rates", tags=[api.TAG], status_code=201, responses=error_responses(404, 422),
      summary="Ajouter un taux de la BCE à partir d'une date (le coordinateur)")
async def api_add_ecb_rate(central_ctx: CentralContext, db_session: AsyncSession, data: EcbRateIn) -> EcbRateOut:
    row = await late.add_rate(db_session, msgspec.to_builtins(data), created_by=central_ctx.identity.email,
                              now=utcnow())
    return EcbRateOut.of(row)


api_handlers: list[Any] = [api_quarterly_invoices, api_ecb_rates, api_add_ecb_rate]
