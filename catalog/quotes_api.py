"""The quotes' API (issue 14 §2), under ``/api/v1/tenants/{tenant_id}/`` (listed in ``catalog.api``):

* ``POST quotes`` (``{"agreement_id", "kind"?: works | repair, "need", "site_id"?, "place"?}``): the beneficiary's
  request → 201, « demandé », numbered ``DEV-2026-000001``; 422 with an error per field, nothing stored;
* ``POST quotes/{id}/visit`` (``{"site_visit_on"}``), ``answer`` (``{"lines": [{"article_code", "quantity",
  "discount_percent"?, "nature"?}], "note"?}``), ``start_works`` (``{"works_started_on"}``), ``commission``
  (``{"commissioned_on"}``, with ``order_badges`` or ``charge_points`` the badges due), ``badges``
  (``{"charge_points"?, "attachment", "vehicle_label"?, "id_tags"?}``, CPAM 5-5-5-3): the titulaire's operator;
* ``POST quotes/{id}/accept`` (``{"representative"?, "delivery_conditions"?}``: the purchase order is issued and
  its id returned in ``order_id``), ``refuse`` (``{"reason"}``), ``cancel``: the beneficiary;
* ``GET quotes`` (``state``), ``GET quotes/{id}`` (its lines and its CPAM 5-1-4 / 5-2 / 5-3-1 milestones);
* ``GET quotes/{id}/document?format=pdf|odt``: the priced quote as a document (``catalog.documents``,
  ``DEV-2026-000001.pdf``); 422 on ``state`` while the titulaire has not priced it.

Another tenant's quote answers 404, like one that does not exist; a refused step is a 422 with the rule.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Response, get, post
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from app.shell import error_responses
from catalog import badges, documents, quotes
from catalog import quote_rules as rules
from catalog.models import Quote, QuoteLine
from catalog.order_rules import MAX_LINES
from catalog.orders_api import OrderLineIn
from tenants.context import TenantContext

__all__ = ["quote_api_handlers"]

TAG = "Devis"
PATH = "/tenants/{tenant_id:uuid}/quotes"
StateFilter = Annotated[str, QueryParameter(name="state", max_length=20, description=f"Un de : {', '.join(rules.STATES)}")]
Day = Annotated[str, msgspec.Meta(max_length=10, description="AAAA-MM-JJ")]


class QuoteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    agreement_id: uuid.UUID
    kind: Annotated[str, msgspec.Meta(max_length=10, description="works (travaux) ou repair (réparation)")] = "works"
    need: Annotated[str, msgspec.Meta(max_length=rules.NEED_MAX)]
    site_id: uuid.UUID | None = None
    place: Annotated[str, msgspec.Meta(max_length=rules.PLACE_MAX)] = ""


class QuoteLineIn(OrderLineIn, kw_only=True, forbid_unknown_fields=True):
    """An order's line, with its side of a repair (CCTP CAIH 2.1.17); empty: from the article's family."""

    nature: Annotated[str, msgspec.Meta(max_length=10, description="parts (pièces) ou labour (main-d'œuvre)")] = ""


class QuoteStepIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    site_visit_on: Day | None = None
    works_started_on: Day | None = None
    commissioned_on: Day | None = None
    lines: Annotated[list[QuoteLineIn], msgspec.Meta(max_length=MAX_LINES)] | None = None
    note: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    reason: Annotated[str, msgspec.Meta(max_length=rules.REASON_MAX)] = ""
    representative: Annotated[str, msgspec.Meta(max_length=500)] = ""
    delivery_conditions: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    #: CPAM 5-5-5-3, ``commission`` (with ``order_badges`` or a count) and ``badges``: the badges due at the
    #: commissioning (5 per charge point; no count: the supervision's charge points of the quote's site).
    order_badges: bool | None = None
    charge_points: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None
    attachment: Annotated[str, msgspec.Meta(max_length=10, description="vehicle ou site")] | None = None
    vehicle_label: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    id_tags: Annotated[list[Annotated[str, msgspec.Meta(max_length=40)]], msgspec.Meta(max_length=5000)] | None = None


class CommissioningBadgesOut(msgspec.Struct, kw_only=True):
    """CPAM 5-5-5-3: the badges due at the commissioning, their order line and the idTags put in the list."""

    charge_points: int
    points_source: str
    badge_count: int
    attachment: str
    vehicle_label: str
    id_tags: list[str]
    order_id: uuid.UUID
    order_number: str
    order_status: str
    article_code: str
    label: str
    created_at: dt.datetime

    @classmethod
    def of(cls, view: badges.CommissionedBadgesView) -> CommissioningBadgesOut:
        r = view.row
        return cls(charge_points=r.charge_points, points_source=r.points_source, badge_count=r.badge_count,
                   attachment=r.attachment, vehicle_label=r.vehicle_label, id_tags=list(r.id_tags),
                   order_id=r.order_id, order_number=view.order_number, order_status=view.order_status,
                   article_code=view.article_code, label=view.label, created_at=_utc(r.created_at))


class QuoteLineOut(msgspec.Struct, kw_only=True):
    position: int
    article_code: str
    label: str
    unit: str
    nature: str
    quantity: str
    unit_price_ht: str
    discount_percent: str | None
    total_ht: str
    vat_rate: str
    total_ttc: str

    @classmethod
    def of(cls, x: QuoteLine) -> QuoteLineOut:
        return cls(position=x.position, article_code=x.article_code, label=x.label, unit=x.unit, nature=x.nature,
                   quantity=str(x.quantity), unit_price_ht=str(x.unit_price_ht),
                   discount_percent=None if x.discount_percent is None else str(x.discount_percent),
                   total_ht=str(x.total_ht), vat_rate=str(x.vat_rate), total_ttc=str(x.total_ttc))


class MilestoneOut(msgspec.Struct, kw_only=True):
    key: str
    label: str
    article: str
    status: str
    #: The last day allowed (local), and the instant it expires (UTC); None until its clock starts.
    last_day: dt.date | None
    expires_at: dt.datetime | None
    done_at: dt.datetime | None

    @classmethod
    def of(cls, m: rules.Milestone) -> MilestoneOut:
        return cls(key=m.key, label=m.label, article=m.article, status=m.status,
                   last_day=m.deadline.last_day if m.deadline else None,
                   expires_at=m.deadline.expires_at.astimezone(dt.UTC) if m.deadline else None,
                   done_at=m.done_at.astimezone(dt.UTC) if m.done_at else None)


class QuoteOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    number: str
    state: str
    state_label: str
    kind: str
    agreement_id: uuid.UUID
    agreement_reference: str
    need: str
    site_id: uuid.UUID | None
    place: str
    requested_at: dt.datetime
    site_visit_on: dt.date | None
    answered_at: dt.datetime | None
    priced_on: dt.date | None
    answer_note: str
    total_ht: str
    total_vat: str
    total_ttc: str
    parts_ht: str
    labour_ht: str
    decided_at: dt.datetime | None
    refusal_reason: str
    order_id: uuid.UUID | None
    works_started_on: dt.date | None
    commissioned_on: dt.date | None
    lines: list[QuoteLineOut] | None = None
    milestones: list[MilestoneOut] | None = None
    commissioning_badges: CommissioningBadgesOut | None = None


def _utc(moment: Any) -> Any:
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


def _out(q: Quote, lines: list[QuoteLine] | None = None,
         milestones: list[rules.Milestone] | None = None) -> QuoteOut:
    return QuoteOut(
        id=q.id, number=q.number, state=q.state, state_label=rules.STATES[q.state], kind=q.kind,
        agreement_id=q.agreement_id, agreement_reference=q.agreement_reference, need=q.need, site_id=q.site_id,
        place=q.place, requested_at=_utc(q.requested_at), site_visit_on=q.site_visit_on,
        answered_at=_utc(q.answered_at), priced_on=q.priced_on, answer_note=q.answer_note, total_ht=str(q.total_ht),
        total_vat=str(q.total_vat), total_ttc=str(q.total_ttc), parts_ht=str(q.parts_ht), labour_ht=str(q.labour_ht),
        decided_at=_utc(q.decided_at), refusal_reason=q.refusal_reason, order_id=q.order_id,
        works_started_on=q.works_started_on, commissioned_on=q.commissioned_on,
        lines=None if lines is None else [QuoteLineOut.of(x) for x in lines],
        milestones=None if milestones is None else [MilestoneOut.of(m) for m in milestones])


async def _detail(session: AsyncSession, quote: Quote) -> QuoteOut:
    out = _out(quote, await quotes.lines_of_quote(session, quote),
               await quotes.milestones_of(session, quote, utcnow()))
    view = await badges.commissioning_badges_of(session, quote)
    if view is not None:
        out.commissioning_badges = CommissioningBadgesOut.of(view)
    return out


@post(PATH, tags=[TAG], status_code=201, responses=error_responses(403, 404, 422),
      summary="Demander un devis au titulaire (CCTP CANUT 9, CAIH 2.1.17)",
      description="Le titulaire est prévenu par courriel ; son devis est dû 14 jours ouvrables après la visite de "
                  "site (CCTP CPAM 5-1-4).")
async def api_request_quote(tenant_ctx: TenantContext, db_session: AsyncSession, data: QuoteIn) -> QuoteOut:
    tenant_ctx.require("order")
    quote = await quotes.request_quote(db_session, tenant_ctx.tenant_id, tenant_ctx.identity.user_id,
                                       msgspec.to_builtins(data), now=utcnow())
    return await _detail(db_session, quote)


@get(PATH, tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Les devis du bénéficiaire, les plus récents d'abord")
async def api_quotes(tenant_ctx: TenantContext, db_session: AsyncSession,
                     state_filter: StateFilter = "") -> list[QuoteOut]:
    tenant_ctx.require("read")
    if state_filter and state_filter not in rules.STATES:
        raise ValidationFailed({"state": f"État inconnu (attendu : {', '.join(rules.STATES)})."})
    return [_out(q) for q in await quotes.quotes_of_tenant(db_session, tenant_ctx.tenant_id, state=state_filter)]


@get(f"{PATH}/{{quote_id:uuid}}", tags=[TAG], responses=error_responses(403, 404),
     summary="Un devis, ses lignes et ses échéances (CCTP CPAM 5-1-4, 5-2, 5-3-1)")
async def api_quote(tenant_ctx: TenantContext, db_session: AsyncSession, quote_id: uuid.UUID) -> QuoteOut:
    tenant_ctx.require("read")
    return await _detail(db_session, await quotes.get_quote_in_tenant(db_session, tenant_ctx.tenant_id, quote_id))


@get(f"{PATH}/{{quote_id:uuid}}/document", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Le devis chiffré en PDF ou en OpenDocument (ODT) ; pièces et main-d'œuvre distinctes pour une "
             "réparation (CCTP CAIH 2.1.17)",
     description="422 (`state`) tant que le titulaire n'a pas chiffré le devis : il n'a pas encore de document.",
     media_type="application/octet-stream")
async def api_quote_document(tenant_ctx: TenantContext, db_session: AsyncSession, quote_id: uuid.UUID,
                             format: Annotated[str, Parameter(max_length=10)] = "pdf") -> Response[bytes]:  # noqa: A002
    tenant_ctx.require("read")
    return documents.quote_response(await documents.load_quote(db_session, tenant_ctx.tenant_id, quote_id), format)


@post(f"{PATH}/{{quote_id:uuid}}/{{action:str}}", tags=[TAG], status_code=200,
      responses=error_responses(403, 404, 422),
      summary="Faire avancer un devis : visit, answer, accept, refuse, cancel, start_works, commission, badges",
      description="`visit` (`site_visit_on`), `answer` (`lines`, `note`), `start_works` (`works_started_on`), "
                  "`commission` (`commissioned_on` ; avec `order_badges` ou `charge_points`, les badges dus à la mise en "
                  "service), `badges` (`charge_points`, `attachment` vehicle ou site, `vehicle_label`, `id_tags` : "
                  "5 badges par point de charge, CCTP CPAM 5-5-5-3, sur un devis mis en service) : l'opérateur du "
                  "titulaire ; `accept` (émet le bon de commande au "
                  "prix du devis), `refuse` (`reason` obligatoire), `cancel` : l'acheteur. Un passage interdit : 422 "
                  "avec la règle.")
async def api_quote_step(tenant_ctx: TenantContext, db_session: AsyncSession, quote_id: uuid.UUID, action: str,
                         data: QuoteStepIn | None = None) -> QuoteOut:
    if (action not in rules.ACTION_PERMISSIONS and action != "badges") or action == "request":
        raise NotFound("action")
    payload = {k: v for k, v in msgspec.to_builtins(data).items() if v is not None} if data else {}
    quote = await quotes.take_step(db_session, tenant_ctx, quote_id, action, payload, now=utcnow())
    return await _detail(db_session, quote)


quote_api_handlers: list[Any] = [api_request_quote, api_quotes, api_quote, api_quote_document, api_quote_step]
