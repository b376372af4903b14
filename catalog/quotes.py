"""Quotes (issue 14 §2), with a database: the rules and milestones are ``catalog.quote_rules``'; here each step is
stored with who and when, a refused step changes nothing, and every change is a row of the tenant's audit.

* ``request_quote``: the beneficiary asks (CCTP CANUT 9; CAIH 2.1.17 for a repair on quote) with its need, the
  agreement, the site and the place of the works; numbered ``DEV-2026-000001`` per tenant and year;
* ``record_visit``: the titulaire's operator records the site visit, which starts the 14 working days of the
  quote (CPAM 5-1-4);
* ``answer_quote``: the operator's lines priced on the BPU version in force that day, an extra discount per line
  allowed and recorded (CAIH 5), each line parts or labour (CAIH 2.1.17); « chiffré »;
* ``accept_quote``: the beneficiary accepts; the purchase order is created from the quote's lines at the quote's
  prices and issued (``catalog.orders``: numbered, notified to the titulaire); the 21 working days of the works
  start (CPAM 5-2);
* ``refuse_quote`` (a reason), ``cancel_quote`` (before the decision): the beneficiary's;
* ``record_works_start``, ``record_commissioning``: the operator's dates; the commissioning starts the 14 calendar
  days of the reception (CPAM 5-3-1), met when the order is verified; with it, or later by
  ``order_commissioning_badges``, the badges due (CPAM 5-5-5-3 « 5 badges sont fournis à la mise en service de
  chaque point de charge », ``catalog.badges``).

Each step publishes ``QuoteMoved`` through the outbox; its subscriber e-mails the other side (``notify_moved``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import one_in_tenant
from app.errors import NotFound, ValidationFailed
from app.mail import deliver_email
from app.outbox import Delivery, Subscriber, publish_on_commit
from catalog import badges, order_rules, orders, services
from catalog import quote_rules as rules
from catalog.events import QuoteMoved
from catalog.models import Delivery as Slip
from catalog.models import DeliveryLine as SlipLine
from catalog.models import Quote, QuoteCounter, QuoteLine
from tenants import services as tenants
from tenants.calendars import BusinessCalendar
from tenants.context import TenantContext

__all__ = [
    "BADGES_PERMISSION",
    "SUBSCRIBERS",
    "QuoteError",
    "accept_quote",
    "answer_quote",
    "cancel_quote",
    "get_quote_in_tenant",
    "lines_of_quote",
    "milestones_at",
    "milestones_of",
    "moved_mails",
    "notify_moved",
    "order_commissioning_badges",
    "quote_counts",
    "quotes_of_tenant",
    "quotes_to_answer",
    "received_at_of",
    "record_commissioning",
    "record_visit",
    "record_works_start",
    "refuse_quote",
    "request_quote",
    "take_step",
    "tenant_calendar",
]

#: The explicit order of the commissioning badges: the titulaire's operator, like the works' records.
BADGES_PERMISSION = "answer_quotes"
SIGNATURE = "\n-- \nCentrale — devis\nMerci de rappeler le numéro du devis dans tout échange.\n"

#: The decisions on a slip that receive what was delivered (CCP TGD VII.3; ``catalog.deliveries.ACCEPTING_KINDS``,
#: which imports this module).
ACCEPTING_DECISIONS = ("reception", "reception_reserves", "refaction")


class QuoteError(ValidationFailed):
    """Bad input or a refused step: French messages by field, nothing changed."""


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit + 1] if isinstance(value, str) else ""


async def tenant_calendar(session: AsyncSession, tenant_id: uuid.UUID) -> BusinessCalendar:
    """The tenant's territory's calendar: its public holidays and zone count the jours ouvrables."""
    tenant = await tenants.get_tenant(session, tenant_id)
    return BusinessCalendar.preset(tenant.territory or "metropole", "ho-8-18")


def _local_today(calendar: BusinessCalendar, now: dt.datetime) -> dt.date:
    return now.astimezone(calendar.zone).date()


def _moved(session: AsyncSession, quote: Quote, step: str, now: dt.datetime) -> None:
    quote.updated_at = now
    publish_on_commit(session, QuoteMoved(tenant_id=quote.tenant_id, quote_id=quote.id, step=step, state=quote.state,
                                          at=now, order_id=quote.order_id))


# --------------------------------------------------------------------------- the beneficiary's request


async def request_quote(session: AsyncSession, tenant_id: uuid.UUID, requested_by: uuid.UUID | None,
                        data: Mapping[str, Any], *, now: dt.datetime) -> Quote:
    """The beneficiary's request: ``agreement_id``, ``kind`` (works / repair), ``need``, ``site_id`` (optional),
    ``place`` (defaults to the site's name and address). Every problem reported, nothing written."""
    errors: dict[str, str] = {}
    agreement = None
    try:
        agreement = await services.agreement_of_tenant(session, tenant_id, uuid.UUID(str(data.get("agreement_id"))))
    except (ValueError, NotFound):
        errors["agreement_id"] = "Accord-cadre inconnu ou auquel le bénéficiaire n'adhère pas."
    kind = str(data.get("kind") or "works")
    if kind not in rules.KINDS:
        errors["kind"] = f"Nature de la demande inconnue (attendu : {', '.join(rules.KINDS)})."
    need = _text(data.get("need"), rules.NEED_MAX)
    if not need:
        errors["need"] = "Décrivez le besoin (matériel, travaux ou panne à réparer, contraintes du site)."
    elif len(need) > rules.NEED_MAX:
        errors["need"] = f"Le besoin comporte {rules.NEED_MAX} caractères au plus."
    site = None
    if data.get("site_id"):
        try:
            site_id = uuid.UUID(str(data["site_id"]))
        except ValueError:
            errors["site_id"] = "Site inconnu."
        else:
            site = (await tenants.sites_of(session, [tenant_id])).get((tenant_id, site_id))
            if site is None:
                errors["site_id"] = "Site inconnu."
    place = _text(data.get("place"), rules.PLACE_MAX)
    if not place and site is not None:
        place = ", ".join(p for p in (site.name, site.address, f"{site.postal_code} {site.city}".strip()) if p)
    if not place:
        errors["place"] = "Indiquez le lieu des travaux ou de la réparation (ou choisissez un site)."
    elif len(place) > rules.PLACE_MAX:
        errors["place"] = f"Le lieu comporte {rules.PLACE_MAX} caractères au plus."
    if errors:
        raise QuoteError(errors)
    assert agreement is not None
    year = now.year
    sequence = await orders.next_in_series(session, QuoteCounter, tenant_id, year)
    quote = Quote(tenant_id=tenant_id, number=f"DEV-{year}-{sequence:06d}", agreement_id=agreement.id,
                  agreement_reference=agreement.reference, kind=kind, need=need,
                  site_id=site.id if site is not None else None, place=place, state="requested", requested_at=now,
                  requested_by=requested_by, updated_at=now)
    session.add(quote)
    await session.flush()
    _moved(session, quote, "request", now)
    return quote


async def get_quote_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, quote_id: uuid.UUID, *,
                              for_update: bool = False) -> Quote:
    """The tenant's quote; ``NotFound`` for another tenant's as for one that does not exist."""
    quote: Quote = await one_in_tenant(session, Quote, tenant_id, quote_id, "devis", for_update=for_update)
    return quote


async def _step(session: AsyncSession, tenant_id: uuid.UUID, quote_id: uuid.UUID, action: str) -> Quote:
    """The quote, locked, checked for ``action`` (its new state set; the caller stores the rest and publishes)."""
    quote = await get_quote_in_tenant(session, tenant_id, quote_id, for_update=True)
    try:
        quote.state = rules.check_transition(quote.state, action)
    except rules.QuoteRuleError as exc:
        raise QuoteError({"state": str(exc)}) from None
    return quote


def _parse_day(value: Any, field: str, label: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise QuoteError({field: f"{label} : une date (AAAA-MM-JJ) est attendue."}) from None


def _check_past(day: dt.date, today: dt.date, field: str, label: str, *, not_before: dt.date | None = None,
                before_label: str = "") -> None:
    if day > today:
        raise QuoteError({field: f"{label} : la date ne peut pas être dans le futur ({day:%d/%m/%Y})."})
    if not_before is not None and day < not_before:
        raise QuoteError({field: f"{label} : la date ne peut pas précéder {before_label} ({not_before:%d/%m/%Y})."})


# --------------------------------------------------------------------------- the titulaire's steps


async def record_visit(session: AsyncSession, tenant_id: uuid.UUID, quote_id: uuid.UUID, visited_on: Any, *,
                       now: dt.datetime) -> Quote:
    """CPAM 5-1-4: the site visit (a past date, not before the request): the quote is due 14 jours ouvrables
    later. Recorded again, it corrects the date."""
    day = _parse_day(visited_on, "site_visit_on", "Date de la visite de site")
    calendar = await tenant_calendar(session, tenant_id)
    quote = await _step(session, tenant_id, quote_id, "visit")
    _check_past(day, _local_today(calendar, now), "site_visit_on", "Date de la visite de site",
                not_before=quote.requested_at.astimezone(calendar.zone).date(), before_label="la demande")
    quote.site_visit_on = day
    _moved(session, quote, "visit", now)
    await session.flush()
    return quote


async def answer_quote(session: AsyncSession, tenant_id: uuid.UUID, quote_id: uuid.UUID, data: Mapping[str, Any], *,
                       answered_by: uuid.UUID | None, now: dt.datetime) -> Quote:
    """The titulaire's quote: ``lines`` (``article_code``, ``quantity``, ``discount_percent``?, ``nature``? parts or
    labour, defaulting from the article's family) priced by the BPU version in force today, and a ``note``."""
    quote = await get_quote_in_tenant(session, tenant_id, quote_id)
    try:
        rules.check_transition(quote.state, "answer")
    except rules.QuoteRuleError as exc:
        raise QuoteError({"state": str(exc)}) from None
    calendar = await tenant_calendar(session, tenant_id)
    today = _local_today(calendar, now)
    errors: dict[str, str] = {}
    note = _text(data.get("note"), 4000)
    if len(note) > 4000:
        errors["note"] = "La note comporte 4000 caractères au plus."
    agreement = await services.agreement_of_tenant(session, tenant_id, quote.agreement_id)
    raw_lines = data.get("lines")
    chosen: list[str] = []  # each line's nature as given ("": from its article's family)
    for n, raw in enumerate(raw_lines if isinstance(raw_lines, list) else [], start=1):
        nature = str(raw.get("nature") or "") if isinstance(raw, Mapping) else ""
        if nature and nature not in rules.NATURES:
            errors[f"lines.{n}.nature"] = f"Ligne {n} : pièces (parts) ou main-d'œuvre (labour)."
        chosen.append(nature)
    priced = await orders.price_lines(session, agreement, raw_lines, today, errors, what="devis")
    if errors:
        raise QuoteError(errors)
    natures = [given or rules.default_nature(item.family) for given, (item, _) in zip(chosen, priced, strict=True)]
    quote = await _step(session, tenant_id, quote_id, "answer")
    totals = order_rules.order_totals(a for _, a in priced)
    quote.gross_ht, quote.total_ht, quote.total_vat, quote.total_ttc = (totals.gross_ht, totals.total_ht,
                                                                        totals.total_vat, totals.total_ttc)
    lines = []
    for position, ((item, a), nature) in enumerate(zip(priced, natures, strict=True), start=1):
        line = QuoteLine(
            tenant_id=tenant_id, quote_id=quote.id, position=position, article_code=item.article_code,
            label=item.label, unit=item.unit, family=item.family, nature=nature, bpu_version_id=item.version_id,
            quantity=a.quantity, unit_price_ht=a.unit_price_ht, discount_percent=a.discount_percent,
            gross_ht=a.gross_ht, total_ht=a.total_ht, vat_rate=a.vat_rate, total_vat=a.total_vat,
            total_ttc=a.total_ttc)
        session.add(line)
        lines.append(line)
    quote.parts_ht, quote.labour_ht = rules.parts_and_labour(lines)
    quote.answered_at, quote.answered_by, quote.priced_on, quote.answer_note = now, answered_by, today, note
    _moved(session, quote, "answer", now)
    await session.flush()
    return quote


async def _accepted_on(session: AsyncSession, quote: Quote) -> dt.date:
    calendar = await tenant_calendar(session, quote.tenant_id)
    if quote.decided_at is None:  # pragma: no cover (an accepted quote has its decision)
        raise QuoteError({"state": "Devis sans décision."})
    return quote.decided_at.astimezone(calendar.zone).date()


async def record_works_start(session: AsyncSession, tenant_id: uuid.UUID, quote_id: uuid.UUID, started_on: Any, *,
                             now: dt.datetime) -> Quote:
    """CPAM 5-2: the day the works started (not before the acceptance, not in the future)."""
    day = _parse_day(started_on, "works_started_on", "Début des travaux")
    calendar = await tenant_calendar(session, tenant_id)
    quote = await _step(session, tenant_id, quote_id, "start_works")
    _check_past(day, _local_today(calendar, now), "works_started_on", "Début des travaux",
                not_before=await _accepted_on(session, quote), before_label="l'acceptation du devis")
    quote.works_started_on = day
    _moved(session, quote, "start_works", now)
    await session.flush()
    return quote


async def record_commissioning(session: AsyncSession, tenant_id: uuid.UUID, quote_id: uuid.UUID,
                               commissioned_on: Any, *, now: dt.datetime,
                               badge_data: Mapping[str, Any] | None = None) -> Quote:
    """CPAM 5-3-1: the commissioning (« mise en service »), after the works started: the buyer's reception is due
    14 calendar days later. With ``badge_data`` (``charge_points``, ``attachment``, ``vehicle_label``, ``id_tags``),
    the badges due at the commissioning are ordered in the same step (CPAM 5-5-5-3 « 5 badges sont fournis à la
    mise en service de chaque point de charge », ``catalog.badges``); any problem with them refuses the whole step."""
    day = _parse_day(commissioned_on, "commissioned_on", "Mise en service")
    calendar = await tenant_calendar(session, tenant_id)
    quote = await _step(session, tenant_id, quote_id, "commission")
    if quote.works_started_on is None:
        raise QuoteError({"commissioned_on": "Mise en service : enregistrez d'abord le début des travaux."})
    _check_past(day, _local_today(calendar, now), "commissioned_on", "Mise en service",
                not_before=quote.works_started_on, before_label="le début des travaux")
    plan = None
    if badge_data is not None:
        try:  # checked before anything is written
            plan = await badges.plan_commissioning_badges(session, quote, badge_data, calendar=calendar, now=now)
        except badges.CommissioningBadgesError as exc:
            raise QuoteError(exc.errors) from None
    quote.commissioned_on = day
    if plan is not None:
        await badges.write_commissioning_badges(session, plan, now=now)
    _moved(session, quote, "commission", now)
    await session.flush()
    return quote


async def order_commissioning_badges(session: AsyncSession, tenant_id: uuid.UUID, quote_id: uuid.UUID,
                                     data: Mapping[str, Any], *, now: dt.datetime) -> Quote:
    """The operator's explicit action on a commissioned quote: its badges (CPAM 5-5-5-3, ``catalog.badges``)."""
    quote = await get_quote_in_tenant(session, tenant_id, quote_id, for_update=True)
    calendar = await tenant_calendar(session, tenant_id)
    try:
        await badges.order_commissioning_badges(session, quote, data, calendar=calendar, now=now)
    except badges.CommissioningBadgesError as exc:
        raise QuoteError(exc.errors) from None
    quote.updated_at = now
    await session.flush()
    return quote


def _badge_data(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The badges' part of a commissioning step, when it asks for them (``order_badges`` or a charge point count)."""
    wanted = str(data.get("order_badges") or "").lower() in ("1", "true", "on", "oui")
    if not wanted and data.get("charge_points") in (None, ""):
        return None
    return {k: data.get(k) for k in ("charge_points", "attachment", "vehicle_label", "id_tags")}


# --------------------------------------------------------------------------- the beneficiary's decision


async def _same_prices(session: AsyncSession, quote: Quote, lines: list[QuoteLine], raw: list[dict[str, Any]]) -> None:
    """The order of an accepted quote is at the price the buyer accepts: refused (nothing written) when a BPU version
    published since the pricing now covers its date with other prices."""
    errors: dict[str, str] = {}
    agreement = await services.agreement_of_tenant(session, quote.tenant_id, quote.agreement_id)
    priced = await orders.price_lines(session, agreement, raw, quote.priced_on, errors, what="bon de commande")
    if errors:
        raise QuoteError(errors)
    changed = [f"ligne {x.position} ({x.article_code})" for x, (item, amounts) in zip(lines, priced, strict=True)
               if (x.unit_price_ht, x.vat_rate, x.bpu_version_id) != (amounts.unit_price_ht, amounts.vat_rate,
                                                                       item.version_id)]
    if changed:
        raise QuoteError({"state": f"Le BPU a changé depuis le chiffrage du devis {quote.number} ("
                                   f"{', '.join(changed)}) : le titulaire doit le chiffrer à nouveau avant son "
                                   "acceptation."})


async def accept_quote(session: AsyncSession, tenant_id: uuid.UUID, quote_id: uuid.UUID, data: Mapping[str, Any], *,
                       decided_by: uuid.UUID | None, representative: str, now: dt.datetime) -> Quote:
    """The beneficiary accepts: the purchase order is created from the quote's lines, at the prices of the BPU in
    force on the day they were priced (the price the buyer accepted), for the quote's place, and issued (notified
    to the titulaire). ``data``: ``representative`` (defaults to the decider), ``delivery_conditions``."""
    # The state changes last: a refusal below leaves the quote as it was (the page that shows it commits).
    quote = await get_quote_in_tenant(session, tenant_id, quote_id, for_update=True)
    try:
        accepted = rules.check_transition(quote.state, "accept")
    except rules.QuoteRuleError as exc:
        raise QuoteError({"state": str(exc)}) from None
    calendar = await tenant_calendar(session, tenant_id)
    lines = await lines_of_quote(session, quote)
    order_data = {
        "agreement_id": str(quote.agreement_id), "delivery_place": quote.place,
        "representative": _text(data.get("representative"), 500) or representative,
        "delivery_conditions": _text(data.get("delivery_conditions"), 4000)
        or f"Selon le devis {quote.number} accepté.", "quote_id": quote.id,
        "lines": [{"article_code": x.article_code, "quantity": x.quantity, "discount_percent": x.discount_percent}
                  for x in lines]}
    await _same_prices(session, quote, lines, order_data["lines"])
    try:
        order = await orders.create_order(session, tenant_id, order_data, order_date=_local_today(calendar, now),
                                          now=now, price_date=quote.priced_on)
    except orders.OrderError as exc:
        raise QuoteError(exc.errors) from None
    order = await orders.issue_order(session, tenant_id, order.id, now=now)
    quote.state = accepted
    quote.decided_at, quote.decided_by, quote.order_id = now, decided_by, order.id
    _moved(session, quote, "accept", now)
    await session.flush()
    return quote


async def refuse_quote(session: AsyncSession, tenant_id: uuid.UUID, quote_id: uuid.UUID, reason: Any, *,
                       decided_by: uuid.UUID | None, now: dt.datetime) -> Quote:
    text = " ".join(_text(reason, rules.REASON_MAX).split())
    if not text:
        raise QuoteError({"reason": "Indiquez le motif du refus (le titulaire le lira)."})
    if len(text) > rules.REASON_MAX:
        raise QuoteError({"reason": f"Le motif comporte {rules.REASON_MAX} caractères au plus."})
    quote = await _step(session, tenant_id, quote_id, "refuse")
    quote.decided_at, quote.decided_by, quote.refusal_reason = now, decided_by, text
    _moved(session, quote, "refuse", now)
    await session.flush()
    return quote


async def cancel_quote(session: AsyncSession, tenant_id: uuid.UUID, quote_id: uuid.UUID, *,
                       now: dt.datetime) -> Quote:
    quote = await _step(session, tenant_id, quote_id, "cancel")
    quote.cancelled_at = now
    _moved(session, quote, "cancel", now)
    await session.flush()
    return quote


async def take_step(session: AsyncSession, ctx: TenantContext, quote_id: uuid.UUID, action: str,
                    data: Mapping[str, Any], *, now: dt.datetime) -> Quote:
    """One step by the caller, its permission checked (``quote_rules.ACTION_PERMISSIONS``); an unknown action is
    ``NotFound``."""
    if action == "badges":  # the operator's, on a commissioned quote (CPAM 5-5-5-3)
        await get_quote_in_tenant(session, ctx.tenant_id, quote_id)
        ctx.require(BADGES_PERMISSION)
        return await order_commissioning_badges(session, ctx.tenant_id, quote_id, data, now=now)
    if action not in rules.ACTION_PERMISSIONS or action == "request":
        raise NotFound("action")
    await get_quote_in_tenant(session, ctx.tenant_id, quote_id)  # another tenant's: 404 before the 403
    ctx.require(rules.ACTION_PERMISSIONS[action])
    user = ctx.identity.user_id
    if action == "visit":
        return await record_visit(session, ctx.tenant_id, quote_id, data.get("site_visit_on"), now=now)
    if action == "answer":
        return await answer_quote(session, ctx.tenant_id, quote_id, data, answered_by=user, now=now)
    if action == "start_works":
        return await record_works_start(session, ctx.tenant_id, quote_id, data.get("works_started_on"), now=now)
    if action == "commission":
        return await record_commissioning(session, ctx.tenant_id, quote_id, data.get("commissioned_on"), now=now,
                                          badge_data=_badge_data(data))
    if action == "accept":
        return await accept_quote(session, ctx.tenant_id, quote_id, data, decided_by=user, now=now,
                                  representative=ctx.identity.full_name or ctx.identity.email)
    if action == "refuse":
        return await refuse_quote(session, ctx.tenant_id, quote_id, data.get("reason"), decided_by=user, now=now)
    return await cancel_quote(session, ctx.tenant_id, quote_id, now=now)


# --------------------------------------------------------------------------- reading


async def lines_of_quote(session: AsyncSession, quote: Quote) -> list[QuoteLine]:
    return list(await session.scalars(select(QuoteLine).where(
        QuoteLine.tenant_id == quote.tenant_id, QuoteLine.quote_id == quote.id).order_by(QuoteLine.position)))


async def quotes_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, *, state: str = "",
                           limit: int = 200) -> list[Quote]:
    """The tenant's quotes, the most recent request first."""
    query = select(Quote).where(Quote.tenant_id == tenant_id)
    if state:
        query = query.where(Quote.state == state)
    return list(await session.scalars(query.order_by(Quote.requested_at.desc()).limit(limit)))


async def received_at_of(session: AsyncSession, found: Collection[Quote]) -> dict[uuid.UUID, dt.datetime | None]:
    """Per quote, when the reception of the works was pronounced (CCTP CPAM 5-3-1 « réception des travaux »): the
    buyer's first decision on a slip of the quote's order that receives something — réception, with reserves (« les
    imperfections, les omissions ou malfaçons constatées sont notifiées ») or with réfaction (CCP TGD VII.3) — or
    else the order's verification; None before either. Two grouped queries whatever the number of quotes (the
    quotes' list)."""
    received: dict[uuid.UUID, dt.datetime | None] = {q.id: None for q in found}
    pending = [q for q in found if q.order_id is not None and q.commissioned_on is not None]
    for tenant_id in {q.tenant_id for q in pending}:
        order_ids = {q.order_id for q in pending if q.tenant_id == tenant_id}
        decided = dict((await session.execute(
            select(Slip.order_id, func.min(Slip.decided_at))
            .join(SlipLine, (SlipLine.tenant_id == Slip.tenant_id) & (SlipLine.delivery_id == Slip.id))
            .where(Slip.tenant_id == tenant_id, Slip.order_id.in_(list(order_ids)), Slip.decided_at.is_not(None),
                   SlipLine.decision.in_(ACCEPTING_DECISIONS))
            .group_by(Slip.order_id))).all())
        verified = await orders.first_reached(session, tenant_id, order_ids - set(decided), "verified")
        for q in pending:
            if q.tenant_id == tenant_id:
                received[q.id] = _aware(decided.get(q.order_id) or verified.get(q.order_id))
    return received


def _aware(moment: dt.datetime | None) -> Any:
    # SQLite gives naive datetimes back; they are UTC.
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


async def milestones_of(session: AsyncSession, quote: Quote, now: dt.datetime,
                        calendar: BusinessCalendar | None = None) -> list[rules.Milestone]:
    """The quote's CPAM 5-1-4 / 5-2 / 5-3-1 milestones at ``now`` in the tenant's calendar."""
    calendar = calendar or await tenant_calendar(session, quote.tenant_id)
    return milestones_at(quote, now, calendar, (await received_at_of(session, [quote]))[quote.id])


def milestones_at(quote: Quote, now: dt.datetime, calendar: BusinessCalendar,
                  received_at: dt.datetime | None) -> list[rules.Milestone]:
    """``milestones_of`` with the reception already read (``received_at_of``, for many quotes at once)."""
    return rules.milestones(
        calendar, state=quote.state, site_visit_on=quote.site_visit_on, answered_at=_aware(quote.answered_at),
        accepted_at=_aware(quote.decided_at) if quote.state == "accepted" else None,
        works_started_on=quote.works_started_on, commissioned_on=quote.commissioned_on, received_at=received_at,
        now=now)


async def quotes_to_answer(session: AsyncSession, tenant_ids: Collection[uuid.UUID], *,
                           limit: int = 100) -> list[Quote]:
    """The quotes the titulaire has to act on: requested (to visit or to price) and accepted ones whose works are
    not commissioned yet, the oldest request first."""
    if not tenant_ids:
        return []
    return list(await session.scalars(select(Quote).where(
        Quote.tenant_id.in_(list(tenant_ids)),
        (Quote.state == "requested") | ((Quote.state == "accepted") & Quote.commissioned_on.is_(None)))
        .order_by(Quote.requested_at).limit(limit)))


async def quote_counts(session: AsyncSession, tenant_ids: Collection[uuid.UUID]) -> dict[str, int]:
    """Across these tenants: quotes by state (home cards)."""
    counts = dict.fromkeys(rules.STATES, 0)
    if tenant_ids:
        rows = await session.execute(select(Quote.state, func.count()).where(
            Quote.tenant_id.in_(list(tenant_ids))).group_by(Quote.state))
        counts.update({state: n for state, n in rows.all()})
    return counts


# --------------------------------------------------------------------------- e-mails


def _money(value: Any) -> str:
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + " €"


async def moved_mails(session: AsyncSession, quote: Quote, step: str) -> list[tuple[str, str, str]]:
    """The e-mails of a step, (to, subject, body) each: the titulaire's operators for the beneficiary's request,
    acceptance, refusal or withdrawal; the requester and the tenant's administrators for the titulaire's visit,
    answer and works records."""
    tenant = await tenants.get_tenant(session, quote.tenant_id)
    link = f"Centrale › Devis : /t/{tenant.id}/devis/{quote.id}"
    head = f"[{tenant.name}] Devis {quote.number}"
    calendar = await tenant_calendar(session, quote.tenant_id)
    if step in ("request", "accept", "refuse", "cancel"):
        to = await tenants.member_emails(session, quote.tenant_id, ["operator"])
        body = {
            "request": [f"{tenant.name} demande un devis ({rules.KINDS[quote.kind]}) sous l'accord "
                        f"{quote.agreement_reference}.", f"Besoin : {quote.need}", f"Lieu : {quote.place}", "",
                        "Enregistrez la visite de site : le devis est dû dans les 14 jours ouvrables qui la suivent "
                        "(CCTP CPAM 5-1-4)."],
            "accept": [f"{tenant.name} a accepté le devis {quote.number} ({_money(quote.total_ht)} HT) ; le bon de "
                       "commande est émis.", "Les travaux commencent dans les 21 jours ouvrables de l'acceptation "
                       "(CCTP CPAM 5-2)."],
            "refuse": [f"{tenant.name} a refusé le devis {quote.number}.", f"Motif : {quote.refusal_reason}"],
            "cancel": [f"{tenant.name} a retiré sa demande de devis {quote.number}."],
        }[step]
        subject = {"request": f"{head} : demande à chiffrer", "accept": f"{head} accepté",
                   "refuse": f"{head} refusé", "cancel": f"{head} retiré"}[step]
    else:
        requester = [(await tenants.get_user(session, quote.requested_by)).email] if quote.requested_by else []
        to = sorted(set(requester) | set(await tenants.member_emails(session, quote.tenant_id, ["admin"])))
        items = await milestones_of(session, quote, quote.updated_at, calendar)
        due = {m.key: m.deadline for m in items if m.deadline is not None}
        if step == "visit":
            subject = f"{head} : visite de site du {quote.site_visit_on:%d/%m/%Y}"
            body = [f"Le titulaire a réalisé la visite de site le {quote.site_visit_on:%d/%m/%Y}.",
                    f"Son devis est attendu au plus tard le {due['quote'].last_day:%d/%m/%Y} (CCTP CPAM 5-1-4)."]
        elif step == "answer":
            subject = f"{head} à valider : {_money(quote.total_ht)} HT"
            body = [f"Le titulaire a chiffré votre demande : {_money(quote.total_ht)} HT, {_money(quote.total_ttc)} "
                    "TTC, sur le BPU en vigueur.", "Acceptez-le pour émettre le bon de commande, ou refusez-le en "
                    "indiquant le motif."]
        elif step == "start_works":
            subject = f"{head} : début des travaux le {quote.works_started_on:%d/%m/%Y}"
            body = [f"Les travaux du devis {quote.number} ont commencé le {quote.works_started_on:%d/%m/%Y}."]
        else:
            subject = f"{head} : mise en service le {quote.commissioned_on:%d/%m/%Y}, réception à prononcer"
            body = [f"L'installation du devis {quote.number} est mise en service le {quote.commissioned_on:%d/%m/%Y}.",
                    f"La réception est à prononcer au plus tard le {due['reception'].last_day:%d/%m/%Y} "
                    "(CCTP CPAM 5-3-1) : vérifiez le bon de commande."]
    text = "\n".join(["Bonjour,", "", *body, link]) + SIGNATURE
    return [(address, subject, text) for address in to]


async def notify_moved(delivery: Delivery, event: QuoteMoved) -> None:
    """The e-mails of a step, recorded once per event with the delivery (a redelivered event sends nothing twice:
    ``deliver_email`` inside the delivery's transaction)."""
    quote = await delivery.session.scalar(select(Quote).where(Quote.tenant_id == event.tenant_id,
                                                              Quote.id == event.quote_id))
    if quote is None:
        return
    for to, subject, body in await moved_mails(delivery.session, quote, event.step):
        await deliver_email(delivery.session, delivery.settings, to=to, subject=subject, body=body,
                            tenant_id=event.tenant_id)


SUBSCRIBERS: list[Subscriber[Any]] = [Subscriber(QuoteMoved, "catalog.quote-mail", notify_moved)]
