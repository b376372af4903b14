"""The amendments' API (CCP TGD VI.3, issue 14 §3), under ``/api/v1/tenants/{tenant_id}/`` (listed in
``catalog.api``):

* ``POST orders/{order_id}/amendments`` (``{"effective_on", "reason", "lines": [{"article_code", "quantity",
  "discount_percent"?}]}``, the whole new content of the order): the buyer's → 201 with the amendment, its
  number, the order's new version and what changed; 422 with the rule when notified less than ten days before
  ``effective_on``, per field otherwise; nothing stored;
* ``GET orders/{order_id}/amendments``: the order's amendments with their state and the end of the five days of
  observations;
* ``POST orders/{order_id}/amendments/{amendment_id}/observations`` (``{"observations"}``): the titulaire's
  operator, within the five days.

A version's document: ``GET orders/{id}/document?format=pdf|odt|orderx&version=N``. Another tenant's order
answers 404, like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import get, post
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import NotFound
from app.shell import error_responses
from catalog import amendments as svc
from catalog import orders
from catalog.amendment_rules import STATES
from catalog.models import PurchaseOrderAmendment
from catalog.order_rules import MAX_LINES
from catalog.orders_api import OrderLineIn
from catalog.quotes import tenant_calendar
from tenants.context import TenantContext

__all__ = ["amendment_api_handlers"]

TAG = "Bons de commande"
PATH = "/tenants/{tenant_id:uuid}/orders/{order_id:uuid}/amendments"


class AmendmentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every field is required by the service (a missing one is its 422 per field, after the tenant check: another
    tenant's order is a 404 whatever the body)."""

    effective_on: Annotated[str, msgspec.Meta(max_length=10, description="Date de prise d'effet AAAA-MM-JJ, "
                                                                         "dix jours après la notification au moins")] = ""
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    lines: Annotated[list[OrderLineIn], msgspec.Meta(max_length=MAX_LINES,
                                                     description="Le contenu complet de la commande modifiée")] = []


class AmendmentObservationsIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    observations: Annotated[str, msgspec.Meta(max_length=4000)] = ""


class AmendmentOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    order_id: uuid.UUID
    number: str
    version: int
    state: str
    state_label: str
    effective_on: dt.date
    reason: str
    notified_at: dt.datetime
    notified_by: str
    changes: list[str]
    total_ht_before: str
    total_ht_after: str
    #: CCP TGD VI.3: the last day of the five days of observations (local) and the instant they end (UTC).
    observations_last_day: dt.date
    observations_until: dt.datetime
    observations: str
    observations_at: dt.datetime | None
    deemed_accepted_at: dt.datetime | None


def _utc(moment: Any) -> Any:
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


def _out(a: PurchaseOrderAmendment, calendar: Any) -> AmendmentOut:
    due = svc.observation_deadline(calendar, a)
    return AmendmentOut(
        id=a.id, order_id=a.order_id, number=a.number, version=a.version, state=a.state, state_label=STATES[a.state],
        effective_on=a.effective_on, reason=a.reason, notified_at=_utc(a.notified_at), notified_by=a.notified_by,
        changes=a.changes.splitlines(), total_ht_before=str(a.total_ht_before), total_ht_after=str(a.total_ht_after),
        observations_last_day=due.last_day, observations_until=due.expires_at.astimezone(dt.UTC),
        observations=a.observations, observations_at=_utc(a.observations_at),
        deemed_accepted_at=_utc(a.deemed_accepted_at))


@post(PATH, tags=[TAG], status_code=201, responses=error_responses(403, 404, 422),
      summary="Notifier un modificatif du bon de commande (CCP TGD VI.3)",
      description="Notifié dix jours au plus tard avant sa prise d'effet ; le titulaire a cinq jours pour ses "
                  "observations, après quoi il est réputé l'avoir accepté. `lines` : le contenu complet de la commande "
                  "modifiée (les prix du BPU en vigueur à la date de la commande).")
async def api_amend_order(tenant_ctx: TenantContext, db_session: AsyncSession, order_id: uuid.UUID,
                          data: AmendmentIn | None = None) -> AmendmentOut:
    await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)  # 404 before 403
    tenant_ctx.require("order")
    amendment = await svc.amend_order(db_session, tenant_ctx.tenant_id, order_id,
                                      msgspec.to_builtins(data or AmendmentIn()), now=utcnow())
    return _out(amendment, await tenant_calendar(db_session, tenant_ctx.tenant_id))


@get(PATH, tags=[TAG], responses=error_responses(403, 404),
     summary="Les modificatifs d'un bon de commande, le premier d'abord")
async def api_amendments(tenant_ctx: TenantContext, db_session: AsyncSession,
                         order_id: uuid.UUID) -> list[AmendmentOut]:
    tenant_ctx.require("read")
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    calendar = await tenant_calendar(db_session, tenant_ctx.tenant_id)
    return [_out(a, calendar) for a in await svc.amendments_of_order(db_session, order)]


@post(f"{PATH}/{{amendment_id:uuid}}/observations", tags=[TAG], status_code=200,
      responses=error_responses(403, 404, 422),
      summary="Adresser les observations du titulaire sur un modificatif, dans les cinq jours (CCP TGD VI.3)")
async def api_amendment_observations(tenant_ctx: TenantContext, db_session: AsyncSession, order_id: uuid.UUID,
                                     amendment_id: uuid.UUID, data: AmendmentObservationsIn | None = None) -> AmendmentOut:
    amendment = await svc.get_amendment(db_session, tenant_ctx.tenant_id, amendment_id)
    if amendment.order_id != order_id:
        raise NotFound("modificatif")
    tenant_ctx.require("execute_orders")
    amendment = await svc.send_observations(db_session, tenant_ctx.tenant_id, amendment_id,
                                            (data or AmendmentObservationsIn()).observations,
                                            now=utcnow())
    return _out(amendment, await tenant_calendar(db_session, tenant_ctx.tenant_id))


amendment_api_handlers: list[Any] = [api_amend_order, api_amendments, api_amendment_observations]
