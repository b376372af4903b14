"""The purchase orders' API (issue 14 §5), under ``/api/v1/tenants/{tenant_id}/`` (listed in ``catalog.api``):

* ``POST orders``: a draft (``{"agreement_id", "lines": [{"article_code", "quantity", "discount_percent"?}],
  "delivery_place", "representative", "delivery_conditions"?}``) → 201 with its number, its lines priced by the
  BPU in force today and its totals (amounts as strings); 422 with an error per field (``lines.N.field``);
* ``POST orders/{id}/issue`` (and ``start``, ``deliver``, ``verify``, ``close``, ``cancel``): one move of its
  state; 422 with the rule's French message when the move is not allowed;
* ``GET orders`` (``status``, ``page``), ``GET orders/{id}`` (with its history);
* ``GET orders/{id}/document?format=pdf|odt|orderx``.

Another tenant's order answers 404, like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from app.shell import error_responses
from catalog import order_documents, orders
from catalog.models import PurchaseOrder, PurchaseOrderEvent, PurchaseOrderLine
from catalog.order_rules import ACTION_PERMISSIONS, ACTIONS, MAX_LINES, STATUSES
from tenants.context import TenantContext

__all__ = ["order_api_handlers"]

TAG = "Bons de commande"
PER_PAGE = 50
PageNumber = Annotated[int, Parameter(ge=1, le=10_000)]
StatusFilter = Annotated[str, Parameter(max_length=20, description=f"Un de : {', '.join(STATUSES)}")]
#: A quantity or a percent as a number or a string ("2,5"); bounded here, checked exactly by the rules (a zero,
#: a negative or too many decimals get their French message there).
Number = (Annotated[str, msgspec.Meta(max_length=40)] | Annotated[int, msgspec.Meta(ge=-(10**9), le=10**9)]
          | float)


class OrderLineIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    article_code: Annotated[str, msgspec.Meta(max_length=64)]
    quantity: Annotated[Number, msgspec.Meta(description="Quantité > 0, 3 décimales au plus (nombre ou chaîne)")]
    discount_percent: Annotated[Number | None, msgspec.Meta(
        description="Remise complémentaire en % (CCTP CAIH 5), facultative")] = None


class OrderIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    agreement_id: uuid.UUID
    lines: Annotated[list[OrderLineIn], msgspec.Meta(max_length=MAX_LINES)]
    delivery_place: Annotated[str, msgspec.Meta(max_length=2000)]
    representative: Annotated[str, msgspec.Meta(max_length=500)]
    delivery_conditions: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    ticket_id: uuid.UUID | None = None
    quote_id: uuid.UUID | None = None


class ActionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class OrderLineOut(msgspec.Struct, kw_only=True):
    position: int
    article_code: str
    label: str
    unit: str
    quantity: str
    unit_price_ht: str
    discount_percent: str | None
    gross_ht: str
    total_ht: str
    vat_rate: str
    total_vat: str
    total_ttc: str

    @classmethod
    def of(cls, x: PurchaseOrderLine) -> OrderLineOut:
        return cls(position=x.position, article_code=x.article_code, label=x.label, unit=x.unit,
                   quantity=str(x.quantity), unit_price_ht=str(x.unit_price_ht),
                   discount_percent=None if x.discount_percent is None else str(x.discount_percent),
                   gross_ht=str(x.gross_ht), total_ht=str(x.total_ht), vat_rate=str(x.vat_rate),
                   total_vat=str(x.total_vat), total_ttc=str(x.total_ttc))


class OrderEventOut(msgspec.Struct, kw_only=True):
    at: dt.datetime
    actor: str
    from_status: str
    to_status: str
    note: str

    @classmethod
    def of(cls, e: PurchaseOrderEvent) -> OrderEventOut:
        return cls(at=e.at, actor=e.actor, from_status=e.from_status, to_status=e.to_status, note=e.note)


class OrderOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    number: str
    status: str
    agreement_id: uuid.UUID
    agreement_reference: str
    order_date: dt.date
    delivery_place: str
    representative: str
    delivery_conditions: str
    gross_ht: str
    total_ht: str
    total_vat: str
    total_ttc: str
    line_count: int
    issued_at: dt.datetime | None
    ticket_id: uuid.UUID | None
    quote_id: uuid.UUID | None
    lines: list[OrderLineOut] | None = None
    history: list[OrderEventOut] | None = None


class OrderPage(msgspec.Struct, kw_only=True):
    total: int
    page: int
    per_page: int
    items: list[OrderOut]


def _out(o: PurchaseOrder, lines: list[PurchaseOrderLine] | None = None,
         history: list[PurchaseOrderEvent] | None = None) -> OrderOut:
    return OrderOut(
        id=o.id, number=o.number, status=o.status, agreement_id=o.agreement_id,
        agreement_reference=o.agreement_reference, order_date=o.order_date, delivery_place=o.delivery_place,
        representative=o.representative, delivery_conditions=o.delivery_conditions, gross_ht=str(o.gross_ht),
        total_ht=str(o.total_ht), total_vat=str(o.total_vat), total_ttc=str(o.total_ttc), line_count=o.line_count,
        issued_at=o.issued_at, ticket_id=o.ticket_id, quote_id=o.quote_id,
        lines=None if lines is None else [OrderLineOut.of(x) for x in lines],
        history=None if history is None else [OrderEventOut.of(e) for e in history])


async def _detail(session: AsyncSession, order: PurchaseOrder) -> OrderOut:
    return _out(order, await orders.lines_of_order(session, order), await orders.events_of_order(session, order))


def _today(ctx: TenantContext) -> dt.date:
    return dt.datetime.now(ZoneInfo(ctx.tenant.timezone)).date()


@post("/tenants/{tenant_id:uuid}/orders", tags=[TAG], status_code=201, responses=error_responses(403, 404, 422),
      summary="Créer un bon de commande (brouillon) chiffré sur le BPU en vigueur (CCP TGD VI.1)",
      description="Chaque ligne prend le prix unitaire HT de la version du BPU en vigueur à la date de la commande ; "
                  "arrondi au centime (au demi supérieur) ligne par ligne, totaux = sommes des lignes. Un article "
                  "inconnu : 422 avec `errors` {\"lines.N.article_code\": …}, rien d'enregistré.")
async def api_create_order(tenant_ctx: TenantContext, db_session: AsyncSession, data: OrderIn) -> OrderOut:
    tenant_ctx.require("order")
    order = await orders.create_order(db_session, tenant_ctx.tenant_id, msgspec.to_builtins(data),
                                      order_date=_today(tenant_ctx), now=utcnow())
    return await _detail(db_session, order)


@get("/tenants/{tenant_id:uuid}/orders", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Les bons de commande du bénéficiaire, les plus récents d'abord")
async def api_orders(tenant_ctx: TenantContext, db_session: AsyncSession, status: StatusFilter = "",
                     page: PageNumber = 1) -> OrderPage:
    tenant_ctx.require("read")
    if status and status not in STATUSES:
        raise ValidationFailed({"status": f"État inconnu (attendu : {', '.join(STATUSES)})."})
    found, total = await orders.orders_of_tenant(db_session, tenant_ctx.tenant_id, status=status, page=page,
                                                 per_page=PER_PAGE)
    return OrderPage(total=total, page=page, per_page=PER_PAGE, items=[_out(o) for o in found])


@get("/tenants/{tenant_id:uuid}/orders/{order_id:uuid}", tags=[TAG], responses=error_responses(403, 404),
     summary="Un bon de commande, ses lignes et son historique")
async def api_order(tenant_ctx: TenantContext, db_session: AsyncSession, order_id: uuid.UUID) -> OrderOut:
    tenant_ctx.require("read")
    return await _detail(db_session, await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id))


@post("/tenants/{tenant_id:uuid}/orders/{order_id:uuid}/{action:str}", tags=[TAG], status_code=200,
      responses=error_responses(403, 404, 422),
      summary="Faire avancer un bon de commande : issue (émettre), start, close, cancel",
      description="brouillon → émis (notifié au titulaire par courriel) → en cours → livré → vérifié → clos, ou "
                  "annulé avant la livraison. `issue`, `close`, `cancel` : l'acheteur ; `start` : l'opérateur du "
                  "titulaire. « livré » et « vérifié » suivent les bordereaux (`POST …/deliveries`, CCP TGD VII.1) "
                  "et les décisions (`POST deliveries/{id}/decision`, VII.3) : `deliver` et `verify` répondent 422 "
                  "avec la règle, comme tout passage interdit.")
async def api_order_action(tenant_ctx: TenantContext, db_session: AsyncSession, order_id: uuid.UUID, action: str,
                           data: ActionIn | None = None) -> OrderOut:
    if action not in ACTIONS:
        raise NotFound("action")
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    tenant_ctx.require(ACTION_PERMISSIONS[action])
    order = await orders.act_on_order(db_session, tenant_ctx.tenant_id, order.id, action, now=utcnow(),
                                      note=data.note if data else "")
    return await _detail(db_session, order)


@get("/tenants/{tenant_id:uuid}/orders/{order_id:uuid}/document", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Le bon de commande en PDF, en OpenDocument (ODT) ou en Order-X (XML), dans sa version en vigueur ou "
             "une version antérieure (`version`)",
     media_type="application/octet-stream")
async def api_order_document(tenant_ctx: TenantContext, db_session: AsyncSession, order_id: uuid.UUID,
                             format: Annotated[str, Parameter(max_length=10)] = "pdf",  # noqa: A002
                             version: Annotated[int | None, Parameter(ge=1, le=10_000)] = None) -> Response[bytes]:
    tenant_ctx.require("read")
    sheet = await order_documents.load_sheet(db_session, tenant_ctx.tenant_id, order_id, version)
    return order_documents.document_response(sheet, format)


order_api_handlers: list[Any] = [api_create_order, api_orders, api_order, api_order_action, api_order_document]
