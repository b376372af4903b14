"""The quotes' portal pages (issue 14 §2), under ``/t/{tenant}/devis``:

* the list of the beneficiary's quotes, the most recent request first, filtered by state, each with its next
  contractual milestone (CCTP CPAM 5-1-4, 5-2, 5-3-1) and its deadline, in red once past;
* ``…/nouveau``: the beneficiary's request (``order``) — agreement, works or a repair on quote (CAIH 2.1.17), the
  need, the site and the place of the works; every problem next to its field, status 422, nothing written;
* ``…/{quote_id}``: the request, the titulaire's priced lines (parts and labour apart for a repair), the three
  milestones with their deadlines, and the forms open to the reader: the titulaire's operator
  (``answer_quotes``) records the site visit, prices the quote on the BPU in force (a line per article, an extra
  discount, parts or labour), then the start of the works and the commissioning; the beneficiary accepts —
  which issues the purchase order at the quote's prices — refuses with a reason, or withdraws its request;
  the operator orders the badges due at the commissioning (``…/{quote_id}/badges``, CCTP CPAM 5-5-5-3: 5 per
  charge point, ``catalog.badges``), listed on the page once ordered.
* ``…/{quote_id}/document?format=pdf|odt``: the priced quote as a document (``catalog.documents``), linked from
  its page once the titulaire has priced it.

The rules, the audit, the events and the e-mails are ``catalog.quotes``'; a form is read after the access
check, so another tenant's quote is a 404 whatever the body.
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
from app.errors import NotFound
from app.shell import flash, form_fields, render, see_other, tenant_page
from catalog import badges, documents, quotes, services
from catalog import quote_rules as rules
from catalog.order_rules import MAX_LINES
from catalog.order_rules import STATUSES as ORDER_STATES
from csms import services as csms
from tenants import services as tenants
from tenants.context import TenantContext

__all__ = ["nav", "quote_handlers"]

PATH = "/t/{tenant_id:uuid}/devis"
StateFilter = Annotated[str, Parameter(max_length=20)]
#: Line rows of a blank answer form; a re-shown form keeps the filled ones and two blank rows.
BLANK_LINES = 6
#: The forms' buttons, in the order of the page.
STEP_LABELS = {"visit": "Enregistrer la visite de site", "answer": "Envoyer le devis chiffré",
               "accept": "Accepter le devis et émettre le bon de commande", "refuse": "Refuser le devis",
               "start_works": "Enregistrer le début des travaux", "commission": "Enregistrer la mise en service",
               "badges": "Commander les badges de mise en service", "cancel": "Retirer la demande"}
RECORDED = {"visit": "visite de site enregistrée, le devis est dû dans les 14 jours ouvrables",
            "start_works": "début des travaux enregistré",
            "commission": "mise en service enregistrée, la réception est à prononcer dans les 14 jours"}
REQUEST_FIELDS = ("agreement_id", "kind", "need", "site_id", "place")
STEP_FIELDS = ("site_visit_on", "works_started_on", "commissioned_on", "note", "reason", "representative",
               "delivery_conditions", "order_badges", "charge_points", "attachment", "vehicle_label", "id_tags")


def _base(ctx: TenantContext) -> str:
    return f"/t/{ctx.tenant_id}/devis"


def _today(ctx: TenantContext) -> dt.date:
    return dt.datetime.now(ZoneInfo(ctx.tenant.timezone)).date()


def _permission(action: str) -> str:
    return quotes.BADGES_PERMISSION if action == "badges" else rules.ACTION_PERMISSIONS[action]


def _may_step(ctx: TenantContext, quote: Any, action: str, *, has_badges: bool = False) -> bool:
    """Whether the reader gets the form of ``action`` (the service checks again)."""
    if not ctx.can(_permission(action)):
        return False
    if action == "badges":  # CPAM 5-5-5-3: on a commissioned quote, once
        return quote.state == "accepted" and quote.commissioned_on is not None and not has_badges
    if not ctx.can(rules.ACTION_PERMISSIONS[action]):
        return False
    try:
        rules.check_transition(quote.state, action)
    except rules.QuoteRuleError:
        return False
    if action == "start_works":
        return quote.commissioned_on is None
    if action == "commission":
        return quote.works_started_on is not None and quote.commissioned_on is None
    return True


@get(PATH)
async def quotes_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                      etat: StateFilter = "") -> Any:
    tenant_ctx.require("read")
    etat = etat if etat in rules.STATES else ""
    now = utcnow()
    found = await quotes.quotes_of_tenant(db_session, tenant_ctx.tenant_id, state=etat)
    calendar = await quotes.tenant_calendar(db_session, tenant_ctx.tenant_id)
    received = await quotes.received_at_of(db_session, found)
    rows = [{"q": q, "next": rules.pending_milestone(quotes.milestones_at(q, now, calendar, received[q.id]))}
            for q in found]
    return render(request, "catalog/quotes.html", tenant_page(
        tenant_ctx, "quotes", rows=rows, states=rules.STATES, kinds=rules.KINDS, state=etat, url=_base(tenant_ctx),
        can_request=tenant_ctx.can("order")))


# --------------------------------------------------------------------------- the request


async def _request_form(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                        values: dict[str, str], errors: dict[str, str], status: int = 200) -> Any:
    return render(request, "catalog/quote_form.html", tenant_page(
        ctx, "quotes", values=values, errors=errors, url=_base(ctx), kinds=rules.KINDS,
        agreements=await services.agreements_of_tenant(session, ctx.tenant_id),
        sites=await tenants.list_sites(session, ctx.tenant_id)), status=status)


@get(f"{PATH}/nouveau")
async def new_quote_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                         db_session: AsyncSession) -> Any:
    tenant_ctx.require("order")
    agreements = await services.agreements_of_tenant(db_session, tenant_ctx.tenant_id)
    values = {"agreement_id": str(agreements[0].id) if len(agreements) == 1 else "", "kind": "works"}
    return await _request_form(request, tenant_ctx, db_session, values, {})


@post(f"{PATH}/nouveau")
async def create_quote(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("order")
    form = form_fields(await request.form())
    values = {k: form.get(k, "")[:rules.NEED_MAX + 1] for k in REQUEST_FIELDS}
    try:
        quote = await quotes.request_quote(db_session, tenant_ctx.tenant_id, tenant_ctx.identity.user_id, values,
                                           now=utcnow())
    except quotes.QuoteError as exc:  # raised before anything is written
        return await _request_form(request, tenant_ctx, db_session, values, exc.errors, status=422)
    flash(request, f"Demande de devis {quote.number} envoyée au titulaire : il vous propose une visite de site, "
                   "son devis est dû dans les 14 jours ouvrables qui la suivent.")
    return see_other(f"{_base(tenant_ctx)}/{quote.id}")


# --------------------------------------------------------------------------- one quote


def _form_lines(values: dict[str, str]) -> list[dict[str, str]]:
    """The answer's line rows (``code_1``, ``quantite_1``, ``remise_1``, ``nature_1``…), blank ones dropped."""
    lines = []
    for n in range(1, MAX_LINES + 1):
        line = {k: values.get(f"{k}_{n}", "")[:64] for k in ("code", "quantite", "remise", "nature")}
        if line["code"] or line["quantite"] or line["remise"]:
            lines.append(line)
    return lines


async def _quote_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, quote: Any, *,
                      values: dict[str, str] | None = None, lines: list[dict[str, str]] | None = None,
                      errors: dict[str, str] | None = None, status: int = 200) -> Any:
    names = await tenants.member_names(session, ctx.tenant_id)
    site = None
    if quote.site_id:
        site = next((s for s in await tenants.list_sites(session, ctx.tenant_id) if s.id == quote.site_id), None)
    blank = {"code": "", "quantite": "", "remise": "", "nature": ""}
    rows = (lines or []) + [blank] * (2 if lines else BLANK_LINES)
    commissioned = await badges.commissioning_badges_of(session, quote)
    site_points = await csms.site_charge_point_count(session, ctx.tenant_id, quote.site_id) if quote.site_id else 0
    return render(request, "catalog/quote.html", tenant_page(
        ctx, "quotes", quote=quote, lines=await quotes.lines_of_quote(session, quote),
        milestones=await quotes.milestones_of(session, quote, utcnow()), states=rules.STATES, kinds=rules.KINDS,
        natures=rules.NATURES, site=site, names=names, steps=[a for a in STEP_LABELS if _may_step(ctx, quote, a, has_badges=commissioned is not None)],
        step_labels=STEP_LABELS, answer_rows=rows[:MAX_LINES], url=f"{_base(ctx)}/{quote.id}", list_url=_base(ctx),
        values=values or {"representative": ctx.identity.full_name or ctx.identity.email}, errors=errors or {},
        today=_today(ctx), commissioned_badges=commissioned, site_points=site_points,
        attachments=list(badges.ATTACHMENTS.items()), attachments_labels=badges.ATTACHMENTS,
        order_states=ORDER_STATES), status=status)


@get(f"{PATH}/{{quote_id:uuid}}")
async def quote_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                     quote_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    quote = await quotes.get_quote_in_tenant(db_session, tenant_ctx.tenant_id, quote_id)
    return await _quote_page(request, tenant_ctx, db_session, quote)


@get(f"{PATH}/{{quote_id:uuid}}/document")
async def quote_document(tenant_ctx: TenantContext, db_session: AsyncSession, quote_id: uuid.UUID,
                         format: Annotated[str, Parameter(max_length=10)] = "pdf") -> Response[bytes]:  # noqa: A002
    """The priced quote as PDF or ODT (CCTP CAIH 2.1.17: parts and labour apart), for whoever reads its page; an
    unpriced one has none (422, the page says why)."""
    tenant_ctx.require("read")
    return documents.quote_response(await documents.load_quote(db_session, tenant_ctx.tenant_id, quote_id), format)


@post(f"{PATH}/{{quote_id:uuid}}/{{action:str}}")
async def quote_step(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                     quote_id: uuid.UUID, action: str) -> Any:
    if action not in STEP_LABELS:
        raise NotFound("action")
    quote = await quotes.get_quote_in_tenant(db_session, tenant_ctx.tenant_id, quote_id)
    tenant_ctx.require(_permission(action))
    form = form_fields(await request.form())
    values = {k: form.get(k, "")[:4000] for k in STEP_FIELDS}
    lines = _form_lines(form) if action == "answer" else []
    data: dict[str, Any] = dict(values)
    if action == "answer":
        data["lines"] = [{"article_code": x["code"], "quantity": x["quantite"], "discount_percent": x["remise"] or None,
                          "nature": x["nature"]} for x in lines]
    try:
        moved = await quotes.take_step(db_session, tenant_ctx, quote.id, action, data, now=utcnow())
    except quotes.QuoteError as exc:  # nothing written
        return await _quote_page(request, tenant_ctx, db_session, quote, values=values, lines=lines,
                                 errors=exc.errors, status=422)
    message = f"Devis {moved.number} : {rules.STATES[moved.state]}."
    if action == "accept":
        message = f"Devis {moved.number} accepté : le bon de commande est émis et notifié au titulaire."
    elif action == "badges":
        message = f"Devis {moved.number} : badges de mise en service commandés, le bon de commande est émis."
    elif action in rules.RECORDS:
        message = f"Devis {moved.number} : {RECORDED[action]}."
    flash(request, message)
    return see_other(f"{_base(tenant_ctx)}/{moved.id}")


def nav(ctx: Any) -> list[tuple[str, ...]]:
    """« Devis » under « Commandes » for the titulaire's operator, who answers them. The beneficiary's
    administrator reaches them from its orders list and its home card: one more entry would fold its desktop
    menu onto a third line (tests/e2e/test_homes_browser.py keeps the header within 180 px at 1280 px)."""
    if isinstance(ctx, TenantContext) and ctx.can("answer_quotes") and not ctx.can("manage_users"):
        return [("quotes", _base(ctx), "Devis")]
    return []


quote_handlers: list[Any] = [quotes_page, new_quote_page, create_quote, quote_page, quote_document, quote_step]
