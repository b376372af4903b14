"""Purchase orders (issue 14 §3): create a draft priced from the BPU in force on the order date, issue it
(« émis »: notified to the titulaire by e-mail, the typed event ``catalog.order.issued`` published through
the outbox — CCTP CPAM 5-4-4 starts a ticket's intervention clock on it), then start, deliver, verify and
close it, or cancel it; list and read them inside a tenant.

Every change of an order's row is in the tenant's audit log (``app.db``'s hook); every transition is also
an order event (who, when, from, to) shown with the order. The arithmetic and the states are the pure rules
of ``catalog.order_rules``. Functions take a session scoped to the tenant; ``now`` / ``order_date`` are
passed in.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of, one_in_tenant
from app.errors import NotFound, ValidationFailed
from app.mail import deliver_email
from app.outbox import Delivery, Subscriber, publish_on_commit
from catalog import order_rules as rules
from catalog import services
from catalog.events import OrderCancelled, OrderIssued
from catalog.models import Delivery as Slip
from catalog.models import PurchaseOrder, PurchaseOrderCounter, PurchaseOrderEvent, PurchaseOrderLine
from tenants import services as tenants

__all__ = [
    "SUBSCRIBERS",
    "OrderError",
    "cancel_order",
    "close_order",
    "create_order",
    "act_on_order",
    "deliver_order",
    "events_of_order",
    "first_reached",
    "get_order_in_tenant",
    "issue_order",
    "issued_mail",
    "lines_of_order",
    "next_in_series",
    "orders_of_tenant",
    "orders_to_execute",
    "price_lines",
    "record_event",
    "start_order",
    "transition_order",
    "verify_order",
]

#: Bounds of the free texts (the columns' lengths; Text columns bounded here).
TEXT_LIMITS = {"delivery_place": 2000, "representative": 500, "delivery_conditions": 4000}
SIGNATURE = "\n-- \nCentrale — commandes\nMerci de rappeler le numéro du bon de commande dans tout échange.\n"


class OrderError(ValidationFailed):
    """Bad input or a refused move: French messages by field, nothing changed."""


# --------------------------------------------------------------------------- numbering


async def next_in_series(session: AsyncSession, counter: Any, tenant_id: uuid.UUID, year: int) -> int:
    """The next number of a tenant's yearly series (``counter``: ``PurchaseOrderCounter``, ``QuoteCounter``), the
    incidents' way (``incidents.tickets._next_number``): the counter row created if missing with ``INSERT … ON
    CONFLICT DO NOTHING``, then taken with ``UPDATE … RETURNING`` (a row lock on PostgreSQL, SQLite's single
    writer): concurrent creations never share or skip a number."""
    make = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(make(counter).values(id=uuid.uuid4(), tenant_id=tenant_id, year=year, last=0)
                          .on_conflict_do_nothing(index_elements=["tenant_id", "year"]))
    taken = await session.scalar(
        update(counter).where(counter.tenant_id == tenant_id, counter.year == year)
        .values(last=counter.last + 1).returning(counter.last).execution_options(synchronize_session=False))
    if taken is None:  # pragma: no cover (the row exists: inserted above or by another transaction)
        raise RuntimeError("counter unavailable")
    return int(taken)


async def _next_number(session: AsyncSession, tenant_id: uuid.UUID, year: int) -> str:
    """``BC-2026-000001``: gap-free per tenant and year."""
    return rules.format_order_number(year, await next_in_series(session, PurchaseOrderCounter, tenant_id, year))


# --------------------------------------------------------------------------- creation


def _text(data: Mapping[str, Any], key: str, errors: dict[str, str], *, required: bool, label: str) -> str:
    value = data.get(key)
    text = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        errors[key] = f"{label} : texte attendu."
    elif required and not text:
        errors[key] = f"{label} : obligatoire (CCP TGD VI.1)."
    elif len(text) > TEXT_LIMITS[key]:
        errors[key] = f"{label} : {TEXT_LIMITS[key]} caractères au plus."
    return text


async def create_order(session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any], *,
                       order_date: dt.date, now: dt.datetime, price_date: dt.date | None = None) -> PurchaseOrder:
    """A draft order (« brouillon ») with its number. ``data``: ``agreement_id``, ``lines`` (``article_code``,
    ``quantity``, ``discount_percent`` optional), ``delivery_place``, ``representative``, optional
    ``delivery_conditions``, ``ticket_id``, ``quote_id``. Each line is priced by the BPU version in force on
    ``order_date`` (issue 14 §1 « an order line keeps the price of the version in force on its order date »), or
    on ``price_date`` for the order of an accepted quote (the price the buyer accepted, ``catalog.quotes``).
    Every problem is reported (``lines.N.field`` for line N, from 1) and nothing is written."""
    errors: dict[str, str] = {}
    delivery_place = _text(data, "delivery_place", errors, required=True, label="Lieu(x) de livraison ou d'exécution")
    representative = _text(data, "representative", errors, required=True, label="Représentant(s) de l'acheteur")
    conditions = _text(data, "delivery_conditions", errors, required=False, label="Conditions particulières")
    agreement = None
    try:
        agreement_id = uuid.UUID(str(data.get("agreement_id")))
        agreement = await services.agreement_of_tenant(session, tenant_id, agreement_id)
    except (ValueError, NotFound):
        errors["agreement_id"] = "Accord-cadre inconnu ou auquel le bénéficiaire n'adhère pas."
    priced = await price_lines(session, agreement, data.get("lines"), price_date or order_date, errors,
                               what="bon de commande")
    if errors:
        raise OrderError(errors)
    assert agreement is not None
    order = PurchaseOrder(
        tenant_id=tenant_id, number=await _next_number(session, tenant_id, order_date.year),
        agreement_id=agreement.id, agreement_reference=agreement.reference, agreement_title=agreement.title[:300],
        order_date=order_date, status="draft", delivery_place=delivery_place, representative=representative,
        delivery_conditions=conditions, ticket_id=_uuid_or_none(data.get("ticket_id")),
        quote_id=_uuid_or_none(data.get("quote_id")), created_at=now, updated_at=now,
        created_by=str(actor_of(session).get("label") or "")[:320], line_count=len(priced))
    totals = rules.order_totals(amounts for _, amounts in priced)
    order.gross_ht, order.total_ht, order.total_vat, order.total_ttc = (totals.gross_ht, totals.total_ht,
                                                                        totals.total_vat, totals.total_ttc)
    session.add(order)
    await session.flush()
    for position, (item, a) in enumerate(priced, start=1):
        session.add(PurchaseOrderLine(
            tenant_id=tenant_id, order_id=order.id, position=position, article_code=item.article_code,
            label=item.label, unit=item.unit, family=item.family, bpu_version_id=item.version_id,
            quantity=a.quantity, unit_price_ht=a.unit_price_ht, discount_percent=a.discount_percent,
            gross_ht=a.gross_ht, total_ht=a.total_ht, vat_rate=a.vat_rate, total_vat=a.total_vat,
            total_ttc=a.total_ttc))
    record_event(session, order, "", "draft", now)
    await session.flush()
    return order


async def price_lines(session: AsyncSession, agreement: Any | None, raw_lines: Any, on: dt.date, errors: dict[str, str], *,
                      what: str) -> list[tuple[Any, rules.LineAmounts]]:
    """``raw_lines`` (``article_code``, ``quantity``, ``discount_percent`` optional) priced by the agreement's BPU
    version in force ``on`` that day: (BPU item, amounts) per good line; each problem added to ``errors``
    (``lines.N.field`` for line N, from 1); without an agreement, the lines' form only. Shared by orders and
    quotes (``catalog.quotes``)."""
    if not isinstance(raw_lines, Sequence) or isinstance(raw_lines, str) or not raw_lines:
        errors["lines"] = "Au moins une ligne (code article et quantité) est attendue."
        return []
    if len(raw_lines) > rules.MAX_LINES:
        errors["lines"] = f"{rules.MAX_LINES} lignes au plus par {what}."
        return []
    if agreement is not None and await services.version_in_force(session, agreement.id, on) is None:
        errors["lines"] = f"Aucune version du BPU de l'accord {agreement.reference} n'est en vigueur le {on:%d/%m/%Y}."
        return []
    priced: list[tuple[Any, rules.LineAmounts]] = []
    for n, raw in enumerate(raw_lines, start=1):
        if not isinstance(raw, Mapping):
            errors[f"lines.{n}"] = f"Ligne {n} : code article et quantité attendus."
            continue
        code = raw.get("article_code")
        code = code.strip() if isinstance(code, str) else ""
        quantity = discount = None
        try:
            quantity = rules.parse_quantity(raw.get("quantity"))
        except rules.OrderRuleError as exc:
            errors[f"lines.{n}.quantity"] = f"Ligne {n} : {exc}"
        try:
            discount = rules.parse_discount(raw.get("discount_percent"))
        except rules.OrderRuleError as exc:
            errors[f"lines.{n}.discount_percent"] = f"Ligne {n} : {exc}"
        if not code or len(code) > 64:
            errors[f"lines.{n}.article_code"] = f"Ligne {n} : code article obligatoire (64 caractères au plus)."
            continue
        if agreement is None:
            continue
        item = await services.price_in_force(session, agreement.id, code, on)
        if item is None:
            errors[f"lines.{n}.article_code"] = (f"Ligne {n} : article « {code} » inconnu du BPU de l'accord "
                                                 f"{agreement.reference} en vigueur le {on:%d/%m/%Y}.")
            continue
        if quantity is not None:
            priced.append((item, rules.line_amounts(quantity, item.unit_price_ht, item.vat_rate, discount)))
    return priced


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise OrderError({"ticket_id": "Identifiant invalide."}) from None


def record_event(session: AsyncSession, order: PurchaseOrder, before: str, after: str, now: dt.datetime,
                 note: str = "") -> None:
    """A line of the order's history, by the transaction's actor (a move, or an amendment: same state)."""
    actor = actor_of(session)
    session.add(PurchaseOrderEvent(tenant_id=order.tenant_id, order_id=order.id, at=now,
                                   actor_user_id=actor.get("user_id"), actor=str(actor.get("label") or "")[:320],
                                   from_status=before, to_status=after, note=note[:2000]))


# --------------------------------------------------------------------------- transitions


async def transition_order(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, action: str, *,
                           now: dt.datetime, note: str = "") -> PurchaseOrder:
    """One move of the order's state (``catalog.order_rules.ACTIONS``); a refused move raises ``OrderError``
    with the rule's French message and changes nothing. Issuing publishes ``catalog.order.issued``."""
    order = await get_order_in_tenant(session, tenant_id, order_id, for_update=True)
    try:
        target = rules.next_status(order.status, action)
    except rules.OrderRuleError as exc:
        raise OrderError({"status": str(exc)}) from None
    if action == "cancel" and await session.scalar(select(func.count()).select_from(Slip).where(
            Slip.tenant_id == tenant_id, Slip.order_id == order.id)):
        # A slip was recorded (CCP TGD VII.1): what it made available is verified and decided, not cancelled.
        raise OrderError({"status": f"Le bon de commande {order.number} a un bordereau de livraison : il ne "
                                    "s'annule plus (CCP TGD VII), la décision de l'acheteur porte sur ce qui "
                                    "a été livré."})
    before = order.status
    order.status = target
    order.updated_at = now
    if action == "issue":
        order.issued_at = now
        publish_on_commit(session, OrderIssued(tenant_id=tenant_id, order_id=order.id, number=order.number,
                                               agreement_id=order.agreement_id, issued_at=now,
                                               ticket_id=order.ticket_id, quote_id=order.quote_id))
    elif action == "cancel":
        publish_on_commit(session, OrderCancelled(tenant_id=tenant_id, order_id=order.id, number=order.number,
                                                  agreement_id=order.agreement_id, cancelled_at=now))
    record_event(session, order, before, target, now, note)
    await session.flush()
    return order


async def act_on_order(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, action: str, *,
                       now: dt.datetime, note: str = "") -> PurchaseOrder:
    """A person's move of the order (a page's button, the API): ``transition_order``, except the moves the slips
    and their decisions make (``order_rules.SLIP_ACTIONS``, CCP TGD VII), refused with the rule, nothing
    written."""
    if action in rules.SLIP_ACTIONS:
        await get_order_in_tenant(session, tenant_id, order_id)  # another tenant's order stays a 404
        raise OrderError({"status": rules.SLIP_ACTIONS[action]})
    return await transition_order(session, tenant_id, order_id, action, now=now, note=note)


async def issue_order(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, *,
                      now: dt.datetime) -> PurchaseOrder:
    """brouillon → émis: notified to the titulaire (the e-mail follows from the event, at least once)."""
    return await transition_order(session, tenant_id, order_id, "issue", now=now)


async def start_order(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, *,
                      now: dt.datetime) -> PurchaseOrder:
    return await transition_order(session, tenant_id, order_id, "start", now=now)


async def deliver_order(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, *,
                        now: dt.datetime) -> PurchaseOrder:
    """en cours → livré, as ``catalog.deliveries`` does once the slips have delivered everything."""
    return await transition_order(session, tenant_id, order_id, "deliver", now=now)


async def verify_order(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, *,
                       now: dt.datetime) -> PurchaseOrder:
    """livré → vérifié, as ``catalog.deliveries`` does once the decisions have received everything."""
    return await transition_order(session, tenant_id, order_id, "verify", now=now)


async def close_order(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, *,
                      now: dt.datetime) -> PurchaseOrder:
    return await transition_order(session, tenant_id, order_id, "close", now=now)


async def cancel_order(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, *,
                       now: dt.datetime, note: str = "") -> PurchaseOrder:
    return await transition_order(session, tenant_id, order_id, "cancel", now=now, note=note)


# --------------------------------------------------------------------------- reading


async def get_order_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, *,
                              for_update: bool = False) -> PurchaseOrder:
    """The order of this tenant; ``NotFound`` otherwise (another tenant's id reads like an unknown one)."""
    order: PurchaseOrder = await one_in_tenant(session, PurchaseOrder, tenant_id, order_id, "bon de commande",
                                               for_update=for_update)
    return order


async def lines_of_order(session: AsyncSession, order: PurchaseOrder) -> list[PurchaseOrderLine]:
    return list(await session.scalars(
        select(PurchaseOrderLine).where(PurchaseOrderLine.tenant_id == order.tenant_id,
                                        PurchaseOrderLine.order_id == order.id).order_by(PurchaseOrderLine.position)))


async def events_of_order(session: AsyncSession, order: PurchaseOrder) -> list[PurchaseOrderEvent]:
    return list(await session.scalars(
        select(PurchaseOrderEvent).where(PurchaseOrderEvent.tenant_id == order.tenant_id,
                                         PurchaseOrderEvent.order_id == order.id)
        .order_by(PurchaseOrderEvent.at, PurchaseOrderEvent.id)))


async def first_reached(session: AsyncSession, tenant_id: uuid.UUID, order_ids: Collection[uuid.UUID],
                        status: str) -> dict[uuid.UUID, dt.datetime]:
    """Per order, when it first moved to ``status`` (orders that never did are absent): one grouped query for a
    page that lists many orders' milestones."""
    if not order_ids:
        return {}
    rows = await session.execute(
        select(PurchaseOrderEvent.order_id, func.min(PurchaseOrderEvent.at))
        .where(PurchaseOrderEvent.tenant_id == tenant_id, PurchaseOrderEvent.order_id.in_(list(order_ids)),
               PurchaseOrderEvent.to_status == status)
        .group_by(PurchaseOrderEvent.order_id))
    return {order_id: at for order_id, at in rows.all()}


async def orders_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, *, status: str = "", page: int = 1,
                           per_page: int = 50) -> tuple[list[PurchaseOrder], int]:
    """A page of the tenant's orders, newest first (``status``: one of ``order_rules.STATUSES``, or all)."""
    where = [PurchaseOrder.tenant_id == tenant_id]
    if status:
        where.append(PurchaseOrder.status == status)
    total = await session.scalar(select(func.count()).select_from(PurchaseOrder).where(*where)) or 0
    rows = await session.scalars(select(PurchaseOrder).where(*where)
                                 .order_by(PurchaseOrder.created_at.desc(), PurchaseOrder.number.desc())
                                 .offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


async def orders_to_execute(session: AsyncSession, tenant_ids: Collection[uuid.UUID],
                            limit: int = 200) -> list[PurchaseOrder]:
    """The issued and started orders of these tenants (the titulaire's operator's queue), oldest first."""
    if not tenant_ids:
        return []
    return list(await session.scalars(
        select(PurchaseOrder).where(PurchaseOrder.tenant_id.in_(list(tenant_ids)),
                                    PurchaseOrder.status.in_(rules.OPEN_STATUSES))
        .order_by(PurchaseOrder.issued_at, PurchaseOrder.number).limit(limit)))


async def order_counts(session: AsyncSession, tenant_ids: Collection[uuid.UUID]) -> dict[str, int]:
    """How many orders of these tenants are in each state (every state present, 0 when none)."""
    counts = dict.fromkeys(rules.STATUSES, 0)
    if tenant_ids:
        rows = await session.execute(
            select(PurchaseOrder.status, func.count()).where(PurchaseOrder.tenant_id.in_(list(tenant_ids)))
            .group_by(PurchaseOrder.status))
        for status, n in rows.all():
            counts[status] = n
    return counts


# --------------------------------------------------------------------------- the notification


def _money(value: Any) -> str:
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + " €"


async def issued_mail(session: AsyncSession, order: PurchaseOrder) -> tuple[tuple[str, ...], str, str]:
    """The notification to the titulaire's operators serving the tenant: (to, subject, body)."""
    to = tuple(await tenants.member_emails(session, order.tenant_id, ["operator"]))
    tenant = await tenants.get_tenant(session, order.tenant_id)
    lines = [
        "Bonjour,", "",
        f"{tenant.name} vous notifie le bon de commande {order.number} du {order.order_date:%d/%m/%Y}, "
        f"au titre du marché {order.agreement_reference}.", "",
        f"Montant HT : {_money(order.total_ht)} ; TTC : {_money(order.total_ttc)} ({order.line_count} ligne(s)).",
        f"Lieu(x) de livraison ou d'exécution : {order.delivery_place}",
        f"Représentant(s) de l'acheteur : {order.representative}",
    ]
    if order.delivery_conditions:
        lines.append(f"Conditions particulières : {order.delivery_conditions}")
    lines += ["", "Le bon de commande (PDF, ODT, Order-X) est disponible dans Centrale."]
    return to, f"[{order.number}] Bon de commande notifié", "\n".join(lines) + SIGNATURE


async def notify_issued(delivery: Delivery, event: OrderIssued) -> None:
    """« émis (notified to the titulaire) »: the e-mail, recorded once per event with the delivery."""
    order = await delivery.session.scalar(select(PurchaseOrder).where(PurchaseOrder.tenant_id == event.tenant_id,
                                                                      PurchaseOrder.id == event.order_id))
    if order is None:
        return
    to, subject, body = await issued_mail(delivery.session, order)
    for address in to:
        await deliver_email(delivery.session, delivery.settings, to=address, subject=subject, body=body,
                            tenant_id=event.tenant_id)


SUBSCRIBERS: list[Subscriber[Any]] = [Subscriber(OrderIssued, "catalog.order-issued-mail", notify_issued)]
