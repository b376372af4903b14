"""The delivery slips' API (issue 14 §3; CCP TGD VII.1–VII.3), under ``/api/v1/tenants/{tenant_id}/`` (listed in
``catalog.api``):

* ``POST orders/{order_id}/deliveries`` (``{"delivered_on", "lines": [{"position", "quantity"}], "note"?}``): the
  titulaire's operator's « bordereau de mise à disposition » → 201, numbered ``BC-2026-000001-L1``; 422 with an
  error per field (``lines.P.quantity`` for order line P), nothing stored;
* ``GET orders/{order_id}/deliveries``: the order's slips, in order; ``GET deliveries/{delivery_id}``: one;
  each with its lines, its decision and its VII.3 deadline (``decision_last_day``, ``decision_overdue``);
* ``GET deliveries/{delivery_id}/document?format=pdf|odt``: the « bordereau de mise à disposition » (VII.1) as a
  document (``catalog.documents``), ``BC-2026-000001-L1.pdf``;
* ``POST deliveries/{delivery_id}/decision`` (``{"decided_on"?, "verification_ended_on"?, "lines": [{"position",
  "kind", "accepted", "rejected", "refaction_amount"?, "reserves_deadline"?}]}``): the buyer's final decision;
* ``POST deliveries/{delivery_id}/reserves-lifted`` (``{"note"?, "lifted_on"?}``): the lifting of the reserves of a
  « réception avec réserves » (VII.3) — the titulaire's operator declares them resolved (``note`` required), the
  buyer pronounces their lifting (after the declaration or directly; final); 422 ``state`` for a slip without
  reserves or already lifted, nothing changed.

Another tenant's order or slip answers 404, like one that does not exist; the wrong side 403.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.shell import error_responses
from catalog import deliveries, documents, orders
from catalog.deadlines import DECISION_KINDS
from catalog.models import Delivery, DeliveryLine
from catalog.order_rules import MAX_LINES
from catalog.orders_api import Number
from catalog.quotes import tenant_calendar
from tenants.context import TenantContext

__all__ = ["delivery_api_handlers"]

TAG = "Livraisons et décisions"
ORDER_PATH = "/tenants/{tenant_id:uuid}/orders/{order_id:uuid}/deliveries"
PATH = "/tenants/{tenant_id:uuid}/deliveries/{delivery_id:uuid}"
Day = Annotated[str, msgspec.Meta(max_length=10, description="AAAA-MM-JJ")]
Position = Annotated[int, msgspec.Meta(ge=1, le=10_000, description="Position de la ligne du bon de commande")]


class SlipLineIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    position: Position
    quantity: Annotated[Number, msgspec.Meta(description="Quantité mise à disposition > 0, au plus le reste à livrer")]


class SlipIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    delivered_on: Day
    #: Optional for the schema so that a missing one is the service's French error (``lines``), after the tenant's
    #: 404 and the side's 403.
    lines: Annotated[list[SlipLineIn], msgspec.Meta(max_length=MAX_LINES)] | None = None
    note: Annotated[str, msgspec.Meta(max_length=deliveries.NOTE_MAX)] = ""


class DecisionLineIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    position: Position
    kind: Annotated[str, msgspec.Meta(max_length=20, description=f"Un de : {', '.join(DECISION_KINDS)}")]
    accepted: Number | None = None
    rejected: Number | None = None
    refaction_amount: Annotated[Number | None, msgspec.Meta(
        description="Montant HT de la réfaction (réception avec réfaction seulement)")] = None
    reserves_deadline: Annotated[Day | None, msgspec.Meta(
        description="Délai pour lever les réserves (réception avec réserves seulement)")] = None


class SlipDecisionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    decided_on: Day | None = None
    verification_ended_on: Day | None = None
    lines: Annotated[list[DecisionLineIn], msgspec.Meta(max_length=MAX_LINES)] | None = None


class ReservesIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=deliveries.NOTE_MAX, description=(
        "Ce qui a été fait (le titulaire, obligatoire) ou le constat de l'acheteur"))] = ""
    lifted_on: Annotated[Day | None, msgspec.Meta(
        description="Date de la levée (l'acheteur ; par défaut aujourd'hui)")] = None


class ReservesOut(msgspec.Struct, kw_only=True):
    """CCP TGD VII.3: the reserves of a « réception avec réserves », their deadline and their lifting."""

    positions: list[int]
    deadline: dt.date
    #: Not lifted and past the deadline, or lifted after it.
    overdue: bool
    declared_at: dt.datetime | None
    declared_by: uuid.UUID | None
    declared_note: str
    lifted: bool
    lifted_on: dt.date | None
    lifted_at: dt.datetime | None
    lifted_by: uuid.UUID | None
    lifted_note: str


class DeliveryLineOut(msgspec.Struct, kw_only=True):
    position: int
    article_code: str
    label: str
    unit: str
    quantity: str
    decision: str | None
    decision_label: str | None
    accepted: str | None
    rejected: str | None
    refaction_amount: str | None
    reserves_deadline: dt.date | None

    @classmethod
    def of(cls, x: DeliveryLine) -> DeliveryLineOut:
        def text(value: Any) -> str | None:
            return None if value is None else str(value)

        return cls(position=x.position, article_code=x.article_code, label=x.label, unit=x.unit,
                   quantity=str(x.quantity), decision=x.decision,
                   decision_label=DECISION_KINDS.get(x.decision) if x.decision else None, accepted=text(x.accepted),
                   rejected=text(x.rejected), refaction_amount=text(x.refaction_amount),
                   reserves_deadline=x.reserves_deadline)


class DeliveryOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    number: str
    order_id: uuid.UUID
    sequence: int
    delivered_on: dt.date
    note: str
    recorded_at: dt.datetime
    decided: bool
    verification_ended_on: dt.date | None
    decided_on: dt.date | None
    decided_at: dt.datetime | None
    #: CCP TGD VII.3: the last day of the decision (local) and the instant it expires (UTC); overdue: past it
    #: without a decision, or decided after it.
    decision_last_day: dt.date
    decision_expires_at: dt.datetime
    decision_overdue: bool
    lines: list[DeliveryLineOut]
    #: None when the decision has no reserves (or is not taken).
    reserves: ReservesOut | None = None


def _utc(moment: Any) -> Any:
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


async def _out(session: AsyncSession, delivery: Delivery, calendar: Any = None) -> DeliveryOut:
    calendar = calendar or await tenant_calendar(session, delivery.tenant_id)
    deadline = deliveries.decision_deadline(calendar, delivery)
    lines = await deliveries.lines_of_delivery(session, delivery)
    now = utcnow()
    status = deliveries.reserves_status(delivery, lines, now.astimezone(calendar.zone).date())
    reserves = None if status is None else ReservesOut(
        positions=list(status.positions), deadline=status.deadline, overdue=status.overdue,
        declared_at=_utc(delivery.reserves_declared_at), declared_by=delivery.reserves_declared_by,
        declared_note=delivery.reserves_declared_note, lifted=status.lifted, lifted_on=delivery.reserves_lifted_on,
        lifted_at=_utc(delivery.reserves_lifted_at), lifted_by=delivery.reserves_lifted_by,
        lifted_note=delivery.reserves_lifted_note)
    return DeliveryOut(
        id=delivery.id, number=delivery.number, order_id=delivery.order_id, sequence=delivery.sequence,
        delivered_on=delivery.delivered_on, note=delivery.note, recorded_at=_utc(delivery.recorded_at),
        decided=delivery.decided_at is not None, verification_ended_on=delivery.verification_ended_on,
        decided_on=delivery.decided_on, decided_at=_utc(delivery.decided_at), decision_last_day=deadline.last_day,
        decision_expires_at=deadline.expires_at.astimezone(dt.UTC),
        decision_overdue=deliveries.is_decision_overdue(calendar, delivery, now),
        lines=[DeliveryLineOut.of(x) for x in lines], reserves=reserves)


@post(ORDER_PATH, tags=[TAG], status_code=201, responses=error_responses(403, 404, 422),
      summary="Enregistrer un bordereau de mise à disposition (CCP TGD VII.1)",
      description="L'opérateur du titulaire : la date de mise à disposition (pas dans le futur) et, par ligne du bon "
                  "de commande, la quantité livrée (> 0, au plus le reste à livrer). Le premier bordereau passe la "
                  "commande « en cours », le dernier « livré ». L'acheteur est prévenu par courriel ; sa décision est "
                  "due dans les quinze jours de la fin des vérifications (CCP TGD VII.3).")
async def api_record_delivery(tenant_ctx: TenantContext, db_session: AsyncSession, order_id: uuid.UUID,
                              data: SlipIn) -> DeliveryOut:
    await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)  # another tenant's: 404 before 403
    tenant_ctx.require("execute_orders")
    delivery = await deliveries.record_delivery(db_session, tenant_ctx.tenant_id, order_id, msgspec.to_builtins(data),
                                                recorded_by=tenant_ctx.identity.user_id, now=utcnow())
    return await _out(db_session, delivery)


@get(ORDER_PATH, tags=[TAG], responses=error_responses(403, 404),
     summary="Les bordereaux de livraison d'un bon de commande, avec leurs décisions")
async def api_deliveries(tenant_ctx: TenantContext, db_session: AsyncSession, order_id: uuid.UUID) -> list[DeliveryOut]:
    tenant_ctx.require("read")
    order = await orders.get_order_in_tenant(db_session, tenant_ctx.tenant_id, order_id)
    calendar = await tenant_calendar(db_session, tenant_ctx.tenant_id)
    return [await _out(db_session, x, calendar) for x in await deliveries.deliveries_of_order(db_session, order)]


@get(PATH, tags=[TAG], responses=error_responses(403, 404),
     summary="Un bordereau de livraison, ses lignes, sa décision et son échéance (CCP TGD VII.3)")
async def api_delivery(tenant_ctx: TenantContext, db_session: AsyncSession, delivery_id: uuid.UUID) -> DeliveryOut:
    tenant_ctx.require("read")
    return await _out(db_session, await deliveries.get_delivery_in_tenant(db_session, tenant_ctx.tenant_id,
                                                                          delivery_id))


@get(f"{PATH}/document", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Le bordereau de mise à disposition en PDF ou en OpenDocument (ODT), avec la décision une fois prononcée "
             "(CCP TGD VII.1, X.7)",
     media_type="application/octet-stream")
async def api_delivery_document(tenant_ctx: TenantContext, db_session: AsyncSession, delivery_id: uuid.UUID,
                                format: Annotated[str, Parameter(max_length=10)] = "pdf") -> Response[bytes]:  # noqa: A002
    tenant_ctx.require("read")
    sheet = await documents.load_slip(db_session, tenant_ctx.tenant_id, delivery_id)
    return documents.slip_response(sheet, format)


@post(f"{PATH}/decision", tags=[TAG], status_code=200, responses=error_responses(403, 404, 422),
      summary="Prononcer la décision sur un bordereau, ligne par ligne (CCP TGD VII.3)",
      description="L'acheteur : réception, réception avec réserves (`reserves_deadline`), ajournement, réception avec "
                  "réfaction (`refaction_amount` HT) ou rejet, avec les quantités acceptée et refusée. Définitive : une "
                  "seconde décision est refusée (422). Les quantités rejetées ou ajournées restent à livrer ; quand tout "
                  "est reçu, la commande livrée passe « vérifié ».")
async def api_decide_delivery(tenant_ctx: TenantContext, db_session: AsyncSession, delivery_id: uuid.UUID,
                              data: SlipDecisionIn) -> DeliveryOut:
    await deliveries.get_delivery_in_tenant(db_session, tenant_ctx.tenant_id, delivery_id)  # 404 before 403
    tenant_ctx.require("order")
    payload = msgspec.to_builtins(data)
    delivery = await deliveries.decide_delivery(db_session, tenant_ctx.tenant_id, delivery_id, payload,
                                                decided_by=tenant_ctx.identity.user_id, now=utcnow())
    return await _out(db_session, delivery)


@post(f"{PATH}/reserves-lifted", tags=[TAG], status_code=200, responses=error_responses(403, 404, 422),
      summary="Lever les réserves d'une réception avec réserves (CCP TGD VII.3)",
      description="CCP TGD VII.3 : « l'administration peut par ailleurs assortir une décision de réception de réserves "
                  "[…] que le titulaire s'engage alors à résoudre dans un délai fixé par la décision ». L'opérateur du "
                  "titulaire déclare les réserves levées (`note` : ce qui a été fait, obligatoire) ; l'acheteur "
                  "prononce la levée (`lifted_on`, par défaut aujourd'hui, et une `note`), après la déclaration ou "
                  "directement ; elle est définitive. 422 (`state`) pour un bordereau sans réserves ou déjà levées.")
async def api_reserves_lifted(tenant_ctx: TenantContext, db_session: AsyncSession, delivery_id: uuid.UUID,
                              data: ReservesIn) -> DeliveryOut:
    await deliveries.get_delivery_in_tenant(db_session, tenant_ctx.tenant_id, delivery_id)  # 404 before 403
    payload = msgspec.to_builtins(data)
    if tenant_ctx.can("order"):
        delivery = await deliveries.lift_reserves(db_session, tenant_ctx.tenant_id, delivery_id, payload,
                                                  lifted_by=tenant_ctx.identity.user_id, now=utcnow())
    else:
        tenant_ctx.require("execute_orders")
        delivery = await deliveries.declare_reserves_resolved(db_session, tenant_ctx.tenant_id, delivery_id, payload,
                                                              declared_by=tenant_ctx.identity.user_id, now=utcnow())
    return await _out(db_session, delivery)


delivery_api_handlers: list[Any] = [api_record_delivery, api_deliveries, api_delivery, api_delivery_document,
                                    api_decide_delivery, api_reserves_lifted]
