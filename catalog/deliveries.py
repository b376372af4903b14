"""Delivery slips and the buyer's decisions (issue 14 §3; CCP TGD VII.1–VII.3), with a database.

* ``record_delivery``: the titulaire's operator records a « bordereau de mise à disposition » (CCP TGD VII.1:
  « il établit un bordereau de mise à disposition […] Ce bordereau, qui déclenche les opérations de
  vérification […] comporte notamment […] la date de mise à disposition ; le détail des biens et/ou services
  concernés ») on an issued or started order: its date and, per order line, the quantity made available
  (partial deliveries allowed, never more than what remains to deliver). Numbered per order,
  ``BC-2026-000001-L1``. The first slip starts an issued order (« en cours »); once everything ordered is
  delivered the order is « livré » (``catalog.orders.transition_order``: its history and audit);
* ``decide_delivery``: the buyer's decision on every line of the slip (VII.3: « l'administration prononce la
  réception, l'ajournement, la réception avec réfaction ou le rejet des prestations »; a réception « assortie
  de réserves » with « un délai fixé par la décision »), checked by ``catalog.deadlines.line_decision_problems``
  and final once recorded. Rejected and adjourned quantities count as not delivered again (the titulaire
  presents them on a new slip); when every quantity of a « livré » order is accepted, the order is « vérifié »;
* the decision is due 15 days after the end of the verification (VII.3: « le délai pour prononcer une décision
  est de quinze jours calculés à compter de la fin des opérations définies à l'article VII.2 »): the day the
  buyer records, the slip's date until then (``decision_deadline``); overdue decisions are listed for the homes;
* ``delivered_quantities``: per order line, what was delivered and not rejected or adjourned (the amendments
  call it: an amendment cannot bring a line below it);
* ``remind_overdue_decisions``: a decision past its fifteen days is e-mailed once to both sides (the hourly job
  ``catalog.delivery_reminders``; ``decision_reminded_at`` records it, the rows locked);
* the reserves of a « réception avec réserves » (VII.3: « subsistent des difficultés que le titulaire s'engage alors
  à résoudre dans un délai fixé par la décision. Dans ce dernier cas, si les prestations nécessaires ne sont pas
  réalisées dans le délai fixé et que, partant, elle ne peut prononcer une décision de levée desdites réserves
  […] »): ``declare_reserves_resolved`` (the titulaire's operator says what it did), ``lift_reserves`` (the buyer's
  « décision de levée », after a declaration or directly); ``reserves_status`` says whether their deadline passed.

Each step publishes ``DeliveryMoved`` through the outbox; its subscriber e-mails the other side once
(``notify_moved``); the reminder publishes ``DeliveryDecisionOverdue`` (``notify_decision_overdue``). Both tables
are ``TenantOwned``: every change is in the tenant's audit log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import one_in_tenant
from app.errors import NotFound, ValidationFailed
from app.mail import deliver_email
from app.outbox import Delivery as OutboxDelivery
from app.outbox import Subscriber, publish_on_commit
from catalog import orders
from catalog.deadlines import DECISION_KINDS, Deadline, LineDecision, decision_due, line_decision_problems
from catalog.events import DeliveryDecisionOverdue, DeliveryMoved
from catalog.models import Delivery, DeliveryLine, PurchaseOrder
from catalog.order_rules import MAX_LINES, STATUSES, OrderRuleError, parse_quantity
from catalog.quotes import ACCEPTING_DECISIONS, tenant_calendar
from tenants import services as tenants
from tenants.calendars import BusinessCalendar

__all__ = [
    "ACCEPTING_KINDS",
    "SLIP_STATUSES",
    "SUBSCRIBERS",
    "DeliveryError",
    "LineProgress",
    "ReservesStatus",
    "decide_delivery",
    "declare_reserves_resolved",
    "decision_deadline",
    "delivered_quantities",
    "deliveries_of_order",
    "delivery_counts",
    "get_delivery_in_tenant",
    "is_decision_overdue",
    "lift_reserves",
    "lines_of_deliveries",
    "lines_of_delivery",
    "moved_mails",
    "notify_decision_overdue",
    "notify_moved",
    "order_progress",
    "overdue_mails",
    "overdue_deliveries",
    "record_delivery",
    "remind_overdue_decisions",
    "reserves_status",
]

SIGNATURE = "\n-- \nCentrale — livraisons\nMerci de rappeler le numéro du bordereau dans tout échange.\n"
#: The order statuses a slip may be recorded on (« livré » only while a rejected or adjourned quantity remains).
SLIP_STATUSES = ("issued", "in_progress")
#: The decisions that accept the quantity (réception, with reserves, with réfaction).
ACCEPTING_KINDS = ACCEPTING_DECISIONS
NOTE_MAX = 2000
_ZERO = Decimal("0.000")


class DeliveryError(ValidationFailed):
    """Bad input or a refused step: French messages by field, nothing changed."""


@dataclass(frozen=True)
class LineProgress:
    """One order line and what its slips made of it."""

    position: int
    article_code: str
    label: str
    unit: str
    ordered: Decimal
    #: Delivered and not rejected nor adjourned (awaiting a decision, or accepted).
    delivered: Decimal
    accepted: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(self.ordered - self.delivered, _ZERO)


@dataclass(frozen=True)
class ReservesStatus:
    """The reserves of a decided slip (CCP TGD VII.3 « un délai fixé par la décision »): its lines with reserves,
    the latest of their deadlines, the titulaire's declaration and the buyer's lifting."""

    positions: tuple[int, ...]
    deadline: dt.date
    declared: bool
    lifted: bool
    #: The lines whose deadline passed before the lifting (not lifted and past it today, or lifted after it).
    late_positions: tuple[int, ...]

    @property
    def overdue(self) -> bool:
        return bool(self.late_positions)


# --------------------------------------------------------------------------- parsing


def _local_today(calendar: BusinessCalendar, now: dt.datetime) -> dt.date:
    return now.astimezone(calendar.zone).date()


def _aware(moment: dt.datetime | None) -> Any:
    # SQLite gives naive datetimes back; they are UTC.
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


def _day(value: Any, field: str, label: str, errors: dict[str, str], *, default: dt.date | None = None) -> dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            errors[field] = f"{label} : une date (AAAA-MM-JJ) est attendue."
        return default
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        errors[field] = f"{label} : une date (AAAA-MM-JJ) est attendue."
        return None


def _number(value: Any) -> Any:
    """A number of the form (decimal comma accepted) as ``Decimal``; the value itself when it is not one (the
    rules then say « doit être un nombre »)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str) and len(value) <= 40:
        text = value.strip().replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace(",", ".")
        if not text:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            return value
        return number if number.is_finite() else value
    return value


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f").replace(".", ",")


# --------------------------------------------------------------------------- reading


async def get_delivery_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID, *,
                                 order_id: uuid.UUID | None = None, for_update: bool = False) -> Delivery:
    """The tenant's slip (of ``order_id`` when given); ``NotFound`` for another tenant's or another order's."""
    delivery: Delivery = await one_in_tenant(session, Delivery, tenant_id, delivery_id, "bordereau de livraison",
                                             for_update=for_update)
    if order_id is not None and delivery.order_id != order_id:
        raise NotFound("bordereau de livraison")
    return delivery


async def deliveries_of_order(session: AsyncSession, order: PurchaseOrder) -> list[Delivery]:
    return list(await session.scalars(select(Delivery).where(
        Delivery.tenant_id == order.tenant_id, Delivery.order_id == order.id).order_by(Delivery.sequence)))


async def lines_of_delivery(session: AsyncSession, delivery: Delivery) -> list[DeliveryLine]:
    return (await lines_of_deliveries(session, [delivery]))[delivery.id]


async def lines_of_deliveries(session: AsyncSession,
                              slips: Collection[Delivery]) -> dict[uuid.UUID, list[DeliveryLine]]:
    """Per slip, its lines by position: one query per tenant for a page that lists many slips."""
    found: dict[uuid.UUID, list[DeliveryLine]] = {x.id: [] for x in slips}
    for tenant_id in {x.tenant_id for x in slips}:
        for line in await session.scalars(select(DeliveryLine).where(
                DeliveryLine.tenant_id == tenant_id,
                DeliveryLine.delivery_id.in_([x.id for x in slips if x.tenant_id == tenant_id]))
                .order_by(DeliveryLine.delivery_id, DeliveryLine.position)):
            found[line.delivery_id].append(line)
    return found


async def _slip_lines_of_order(session: AsyncSession, order: PurchaseOrder) -> list[tuple[DeliveryLine, bool]]:
    """Every slip line of the order, with whether its slip is decided."""
    rows = await session.execute(
        select(DeliveryLine, Delivery.decided_at).join(
            Delivery, (Delivery.tenant_id == DeliveryLine.tenant_id) & (Delivery.id == DeliveryLine.delivery_id))
        .where(Delivery.tenant_id == order.tenant_id, Delivery.order_id == order.id))
    return [(line, decided_at is not None) for line, decided_at in rows.all()]


def _counted(line: DeliveryLine, decided: bool) -> tuple[Decimal, Decimal]:
    """(delivered and not rejected nor adjourned, accepted) of one slip line."""
    if not decided:
        return line.quantity, _ZERO
    accepted = line.accepted or _ZERO
    return accepted, accepted


async def order_progress(session: AsyncSession, order: PurchaseOrder) -> list[LineProgress]:
    """Per order line: ordered, delivered (awaiting a decision or accepted), accepted."""
    delivered: dict[int, Decimal] = {}
    accepted: dict[int, Decimal] = {}
    for line, decided in await _slip_lines_of_order(session, order):
        d, a = _counted(line, decided)
        delivered[line.position] = delivered.get(line.position, _ZERO) + d
        accepted[line.position] = accepted.get(line.position, _ZERO) + a
    return [LineProgress(x.position, x.article_code, x.label, x.unit, x.quantity,
                         delivered.get(x.position, _ZERO), accepted.get(x.position, _ZERO))
            for x in await orders.lines_of_order(session, order)]


async def delivered_quantities(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID) -> dict[int, Decimal]:
    """Order line position → the quantity delivered and not rejected nor adjourned (every line of the order, 0 when
    none): a slip awaiting its decision counts whole, a decided one for what it accepted. ``NotFound`` for another
    tenant's order. The amendments (CCP TGD VI.3) call it: an amendment cannot bring a line below it."""
    order = await orders.get_order_in_tenant(session, tenant_id, order_id)
    return {p.position: p.delivered for p in await order_progress(session, order)}


def decision_deadline(calendar: BusinessCalendar, delivery: Delivery) -> Deadline:
    """CCP TGD VII.3: 15 days from the end of the verification — the day the buyer recorded, else the slip's."""
    return decision_due(calendar, delivery.verification_ended_on or delivery.delivered_on)


def _done_at(calendar: BusinessCalendar, delivery: Delivery) -> dt.datetime | None:
    if delivery.decided_on is None:
        return None
    return dt.datetime.combine(delivery.decided_on, dt.time(0), tzinfo=calendar.zone)


def is_decision_overdue(calendar: BusinessCalendar, delivery: Delivery, now: dt.datetime) -> bool:
    """Past the 15 days without a decision, or decided after them (« hors délai » stays)."""
    return decision_deadline(calendar, delivery).is_overdue(now, done_at=_done_at(calendar, delivery))


async def _undecided(session: AsyncSession, tenant_ids: Collection[uuid.UUID], limit: int) -> list[Delivery]:
    if not tenant_ids:
        return []
    return list(await session.scalars(select(Delivery).where(
        Delivery.tenant_id.in_(list(tenant_ids)), Delivery.decided_at.is_(None))
        .order_by(Delivery.delivered_on, Delivery.number).limit(limit)))


async def overdue_deliveries(session: AsyncSession, tenant_ids: Collection[uuid.UUID], now: dt.datetime, *,
                             limit: int = 200) -> list[tuple[Delivery, Deadline]]:
    """The slips whose decision is past its 15 days and still not taken, the oldest first, with their deadline."""
    found = []
    calendars: dict[uuid.UUID, BusinessCalendar] = {}
    for delivery in await _undecided(session, tenant_ids, limit):
        if delivery.tenant_id not in calendars:
            calendars[delivery.tenant_id] = await tenant_calendar(session, delivery.tenant_id)
        deadline = decision_deadline(calendars[delivery.tenant_id], delivery)
        if deadline.is_overdue(now):
            found.append((delivery, deadline))
    return found


async def delivery_counts(session: AsyncSession, tenant_ids: Collection[uuid.UUID], now: dt.datetime) -> dict[str, int]:
    """Across these tenants: slips awaiting the buyer's decision, and how many of them are overdue."""
    if not tenant_ids:
        return {"to_decide": 0, "overdue": 0}
    to_decide = await session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.tenant_id.in_(list(tenant_ids)), Delivery.decided_at.is_(None))) or 0
    return {"to_decide": to_decide, "overdue": len(await overdue_deliveries(session, tenant_ids, now))}


# --------------------------------------------------------------------------- the titulaire's slip


def _moved(session: AsyncSession, delivery: Delivery, order: PurchaseOrder, step: str, now: dt.datetime) -> None:
    publish_on_commit(session, DeliveryMoved(tenant_id=delivery.tenant_id, delivery_id=delivery.id,
                                             order_id=order.id, step=step, order_status=order.status, at=now))


async def record_delivery(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, data: Mapping[str, Any], *,
                          recorded_by: uuid.UUID | None, now: dt.datetime) -> Delivery:
    """CCP TGD VII.1: the slip of ``data`` (``delivered_on``, ``lines``: ``[{"position", "quantity"}]``, ``note``?).
    The date is not in the future nor before the order was issued; each quantity is > 0 and at most what remains
    to deliver of its line. Errors: ``delivered_on``, ``lines``, ``lines.N.position`` (N: the Nth given line, from
    1), ``lines.P.quantity`` (P: the order line's position), ``status``; nothing written on any."""
    order = await orders.get_order_in_tenant(session, tenant_id, order_id, for_update=True)
    progress = {p.position: p for p in await order_progress(session, order)}
    if order.status not in SLIP_STATUSES:
        raise DeliveryError({"status": f"Le bon de commande {order.number} est « {STATUSES[order.status]} » : "
                                       "un bordereau de livraison ne s'enregistre que sur une commande émise ou en "
                                       "cours, tant qu'il reste à livrer."})
    calendar = await tenant_calendar(session, tenant_id)
    today = _local_today(calendar, now)
    errors: dict[str, str] = {}
    day = _day(data.get("delivered_on"), "delivered_on", "Date de mise à disposition", errors)
    if day is not None and "delivered_on" not in errors:
        issued_on = _aware(order.issued_at).astimezone(calendar.zone).date() if order.issued_at else order.order_date
        if day > today:
            errors["delivered_on"] = f"Date de mise à disposition : la date ne peut pas être dans le futur ({day:%d/%m/%Y})."
        elif day < issued_on:
            errors["delivered_on"] = (f"Date de mise à disposition : la date ne peut pas précéder la notification du "
                                      f"bon de commande ({issued_on:%d/%m/%Y}).")
    note = data.get("note") or ""
    note = note.strip() if isinstance(note, str) else ""
    if len(note) > NOTE_MAX:
        errors["note"] = f"La note comporte {NOTE_MAX} caractères au plus."
    raw_lines = data.get("lines")
    wanted: list[tuple[LineProgress, Decimal]] = []
    if not isinstance(raw_lines, Sequence) or isinstance(raw_lines, str) or not raw_lines:
        errors["lines"] = "Au moins une ligne livrée (position de la ligne du bon de commande et quantité) est attendue."
    elif len(raw_lines) > MAX_LINES:
        errors["lines"] = f"{MAX_LINES} lignes au plus par bordereau."
    else:
        seen: set[int] = set()
        for n, raw in enumerate(raw_lines, start=1):
            position = raw.get("position") if isinstance(raw, Mapping) else None
            try:
                position = int(str(position).strip()) if not isinstance(position, bool) else None
            except (TypeError, ValueError):
                position = None
            line = progress.get(position) if position is not None else None
            if line is None:
                errors[f"lines.{n}.position"] = f"Ligne {n} : position inconnue sur le bon de commande {order.number}."
                continue
            if position in seen:
                errors[f"lines.{n}.position"] = f"Ligne {position} du bon de commande donnée deux fois."
                continue
            seen.add(position)
            try:
                quantity = parse_quantity(raw.get("quantity"))
            except OrderRuleError as exc:
                errors[f"lines.{position}.quantity"] = f"Ligne {position} : {exc}"
                continue
            if quantity > line.remaining:
                errors[f"lines.{position}.quantity"] = (
                    f"Ligne {position} : {_fmt(quantity)} livré(s) pour {_fmt(line.remaining)} restant à livrer "
                    f"({_fmt(line.ordered)} commandé(s), {_fmt(line.delivered)} déjà livré(s)).")
                continue
            wanted.append((line, quantity))
    if errors:
        raise DeliveryError(errors)
    assert day is not None
    sequence = len(await deliveries_of_order(session, order)) + 1  # the order's row is locked
    delivery = Delivery(tenant_id=tenant_id, order_id=order.id, sequence=sequence,
                        number=f"{order.number}-L{sequence}", delivered_on=day, note=note, recorded_at=now,
                        recorded_by=recorded_by)
    session.add(delivery)
    await session.flush()
    for line, quantity in sorted(wanted, key=lambda x: x[0].position):
        session.add(DeliveryLine(tenant_id=tenant_id, delivery_id=delivery.id, position=line.position,
                                 article_code=line.article_code, label=line.label, unit=line.unit, quantity=quantity))
    await session.flush()
    if order.status == "issued":
        order = await orders.transition_order(session, tenant_id, order.id, "start", now=now,
                                              note=f"Bordereau {delivery.number}")
    if order.status == "in_progress" and all(p.remaining == 0 for p in await order_progress(session, order)):
        order = await orders.transition_order(session, tenant_id, order.id, "deliver", now=now,
                                              note=f"Bordereau {delivery.number} : tout est livré")
    _moved(session, delivery, order, "slip", now)
    await session.flush()
    return delivery


# --------------------------------------------------------------------------- the buyer's decision


def _default_quantities(kind: str, delivered: Decimal, accepted: Any, rejected: Any) -> tuple[Any, Any]:
    """Quantities left empty: nothing for an adjournment; else the rest of the delivered quantity, so that a
    réception takes it all and a rejet refuses it all unless a part is given."""
    if kind == "ajournement":
        return (_ZERO if accepted is None else accepted), (_ZERO if rejected is None else rejected)
    if accepted is None and rejected is None:
        return (_ZERO, delivered) if kind == "rejet" else (delivered, _ZERO)
    if accepted is None and isinstance(rejected, Decimal) and rejected.is_finite():
        return delivered - rejected, rejected
    if rejected is None and isinstance(accepted, Decimal) and accepted.is_finite():
        return accepted, delivered - accepted
    return accepted, rejected


async def decide_delivery(session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID,
                          data: Mapping[str, Any], *, decided_by: uuid.UUID | None, now: dt.datetime) -> Delivery:
    """CCP TGD VII.3: the decision on every line of the slip (``lines``: ``[{"position", "kind", "accepted",
    "rejected", "refaction_amount"?, "reserves_deadline"?}]``), ``decided_on`` (default today) and
    ``verification_ended_on`` (default the slip's date; not before it, not after the decision); quantities left
    empty default to the rest of the delivered one (``_default_quantities``). Final: a second
    decision is refused. Errors: ``state``, ``decided_on``, ``verification_ended_on``, ``lines``, ``lines.P`` (P:
    the order line's position, every reason of ``line_decision_problems``); nothing written on any."""
    delivery = await get_delivery_in_tenant(session, tenant_id, delivery_id, for_update=True)
    if delivery.decided_at is not None:
        raise DeliveryError({"state": f"La décision sur le bordereau {delivery.number} est enregistrée depuis le "
                                      f"{delivery.decided_on:%d/%m/%Y} : elle est définitive."})
    calendar = await tenant_calendar(session, tenant_id)
    today = _local_today(calendar, now)
    errors: dict[str, str] = {}
    decided_on = _day(data.get("decided_on"), "decided_on", "Date de la décision", errors, default=today)
    ended_on = _day(data.get("verification_ended_on"), "verification_ended_on", "Fin des vérifications", errors,
                    default=delivery.delivered_on)
    if decided_on is not None and "decided_on" not in errors:
        if decided_on > today:
            errors["decided_on"] = f"Date de la décision : la date ne peut pas être dans le futur ({decided_on:%d/%m/%Y})."
        elif decided_on < delivery.delivered_on:
            errors["decided_on"] = (f"Date de la décision : la date ne peut pas précéder la mise à disposition "
                                    f"({delivery.delivered_on:%d/%m/%Y}).")
    if ended_on is not None and "verification_ended_on" not in errors:
        if ended_on > today:
            errors["verification_ended_on"] = (f"Fin des vérifications : la date ne peut pas être dans le futur "
                                               f"({ended_on:%d/%m/%Y}).")
        elif ended_on < delivery.delivered_on:
            errors["verification_ended_on"] = (f"Fin des vérifications : la date ne peut pas précéder la mise à "
                                               f"disposition ({delivery.delivered_on:%d/%m/%Y}), qui les déclenche "
                                               "(CCP TGD VII.1).")
        elif decided_on is not None and "decided_on" not in errors and ended_on > decided_on:
            errors["verification_ended_on"] = ("Fin des vérifications : la décision est prononcée à leur issue "
                                               "(CCP TGD VII.3), pas avant.")
    slip_lines = {x.position: x for x in await lines_of_delivery(session, delivery)}
    raw_lines = data.get("lines")
    given: dict[int, Mapping[str, Any]] = {}
    if not isinstance(raw_lines, Sequence) or isinstance(raw_lines, str) or not raw_lines:
        errors["lines"] = "Une décision est attendue pour chaque ligne du bordereau."
    else:
        for n, raw in enumerate(raw_lines[:MAX_LINES], start=1):
            position = raw.get("position") if isinstance(raw, Mapping) else None
            try:
                position = int(str(position).strip()) if not isinstance(position, bool) else None
            except (TypeError, ValueError):
                position = None
            if position not in slip_lines or position in given:
                errors["lines"] = f"Décision {n} : ligne inconnue du bordereau ou donnée deux fois."
                continue
            assert isinstance(raw, Mapping) and position is not None
            given[position] = raw
        missing = [str(p) for p in slip_lines if p not in given]
        if missing and "lines" not in errors:
            errors["lines"] = (f"Une décision est attendue pour chaque ligne du bordereau (ligne"
                               f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} sans décision).")
    decisions: dict[int, LineDecision] = {}
    for position, raw in given.items():
        kind = str(raw.get("kind") or "").strip()
        accepted, rejected = _number(raw.get("accepted")), _number(raw.get("rejected"))
        accepted, rejected = _default_quantities(kind, slip_lines[position].quantity, accepted, rejected)
        amount = _number(raw.get("refaction_amount"))
        problems: list[str] = []
        reserves = raw.get("reserves_deadline")
        reserves_day = None
        if reserves not in (None, ""):
            bad: dict[str, str] = {}
            reserves_day = _day(reserves, "x", "Délai de levée des réserves", bad)
            problems += bad.values()
        for name, value in (("acceptée", accepted), ("refusée", rejected)):
            if isinstance(value, Decimal) and value.is_finite() and value != value.quantize(Decimal("0.001")):
                problems.append(f"La quantité {name} a au plus 3 décimales.")
        if isinstance(amount, Decimal) and amount.is_finite() and amount != amount.quantize(Decimal("0.01")):
            problems.append("Le montant de la réfaction a au plus 2 décimales.")
        decision = LineDecision(kind=kind, delivered=slip_lines[position].quantity, accepted=accepted,
                                rejected=rejected, refaction_amount=amount, reserves_deadline=reserves_day)
        problems += line_decision_problems(decision, decided_on=decided_on or today)
        if problems:
            errors[f"lines.{position}"] = f"Ligne {position} : " + " ".join(problems)
        decisions[position] = decision
    if errors:
        raise DeliveryError(errors)
    assert decided_on is not None and ended_on is not None
    for position, decision in decisions.items():
        line = slip_lines[position]
        line.decision, line.accepted, line.rejected = decision.kind, decision.accepted, decision.rejected
        line.refaction_amount, line.reserves_deadline = decision.refaction_amount, decision.reserves_deadline
    delivery.decided_on, delivery.verification_ended_on = decided_on, ended_on
    delivery.decided_at, delivery.decided_by = now, decided_by
    await session.flush()
    order = await orders.get_order_in_tenant(session, tenant_id, delivery.order_id, for_update=True)
    if order.status == "delivered":
        progress = await order_progress(session, order)
        pending = await session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.tenant_id == tenant_id, Delivery.order_id == order.id, Delivery.decided_at.is_(None)))
        if not pending and all(p.accepted >= p.ordered for p in progress):
            order = await orders.transition_order(session, tenant_id, order.id, "verify", now=now,
                                                  note=f"Décision sur le bordereau {delivery.number} : tout est reçu")
        elif any(p.remaining for p in progress):
            # Rejected or adjourned quantities are to deliver again (VII.3): the order is « en cours » again.
            order = await orders.transition_order(
                session, tenant_id, order.id, "resume", now=now,
                note=f"Décision sur le bordereau {delivery.number} : des quantités sont à livrer à nouveau")
    _moved(session, delivery, order, "decision", now)
    await session.flush()
    return delivery


# --------------------------------------------------------------------------- the reserves (VII.3)


def reserves_status(delivery: Delivery, lines: Sequence[DeliveryLine], today: dt.date) -> ReservesStatus | None:
    """The reserves of the slip's decision, None when it has none (not decided, or no « réception avec
    réserves »). A line is late when the lifting's day (today while not lifted) is after its deadline: « si les
    prestations nécessaires ne sont pas réalisées dans le délai fixé » (VII.3)."""
    reserved = [x for x in lines if x.decision == "reception_reserves" and x.reserves_deadline is not None]
    if delivery.decided_at is None or not reserved:
        return None
    until = delivery.reserves_lifted_on or today
    return ReservesStatus(
        positions=tuple(x.position for x in reserved), deadline=max(x.reserves_deadline for x in reserved),
        declared=delivery.reserves_declared_at is not None, lifted=delivery.reserves_lifted_at is not None,
        late_positions=tuple(x.position for x in reserved if until > x.reserves_deadline))


async def _with_reserves(session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID,
                         today: dt.date) -> tuple[Delivery, ReservesStatus]:
    """The slip, locked, and its reserves; ``state`` refused (nothing changed) when it has none left to lift."""
    delivery = await get_delivery_in_tenant(session, tenant_id, delivery_id, for_update=True)
    status = reserves_status(delivery, await lines_of_delivery(session, delivery), today)
    if delivery.decided_at is None:
        raise DeliveryError({"state": f"La décision sur le bordereau {delivery.number} n'est pas prononcée : il n'y a "
                                      "pas de réserves à lever."})
    if status is None:
        raise DeliveryError({"state": f"La décision sur le bordereau {delivery.number} n'est pas une réception avec "
                                      "réserves (CCP TGD VII.3) : il n'y a pas de réserves à lever."})
    if status.lifted:
        assert delivery.reserves_lifted_on is not None
        raise DeliveryError({"state": f"La levée des réserves du bordereau {delivery.number} est prononcée depuis le "
                                      f"{delivery.reserves_lifted_on:%d/%m/%Y} : elle est définitive."})
    return delivery, status


def _note(data: Mapping[str, Any], errors: dict[str, str], *, required: str = "") -> str:
    note = data.get("note")
    note = note.strip() if isinstance(note, str) else ""
    if len(note) > NOTE_MAX:
        errors["note"] = f"Note : {NOTE_MAX} caractères au plus."
    elif required and not note:
        errors["note"] = required
    return note


async def declare_reserves_resolved(session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID,
                                    data: Mapping[str, Any], *, declared_by: uuid.UUID | None,
                                    now: dt.datetime) -> Delivery:
    """The titulaire's operator declares the reserves resolved (``note``: what it did, required), for the buyer to
    pronounce their lifting; a new declaration replaces the previous one (the audit log keeps both). Errors
    ``state`` (no reserves, or already lifted), ``note``; nothing written on any."""
    calendar = await tenant_calendar(session, tenant_id)
    delivery, _ = await _with_reserves(session, tenant_id, delivery_id, _local_today(calendar, now))
    errors: dict[str, str] = {}
    note = _note(data, errors, required="Note : décrivez ce qui a été fait pour lever les réserves.")
    if errors:
        raise DeliveryError(errors)
    delivery.reserves_declared_at, delivery.reserves_declared_by = now, declared_by
    delivery.reserves_declared_note = note
    await session.flush()
    _moved(session, delivery, await orders.get_order_in_tenant(session, tenant_id, delivery.order_id),
           "reserves_declared", now)
    return delivery


async def lift_reserves(session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID, data: Mapping[str, Any],
                        *, lifted_by: uuid.UUID | None, now: dt.datetime) -> Delivery:
    """CCP TGD VII.3: the buyer's « décision de levée desdites réserves », after the titulaire's declaration or
    directly: ``lifted_on`` (default today; not in the future, not before the decision), ``note``?. Final; lifted
    after the deadline it stays « hors délai ». Errors ``state``, ``lifted_on``, ``note``; nothing written on any."""
    calendar = await tenant_calendar(session, tenant_id)
    today = _local_today(calendar, now)
    delivery, _ = await _with_reserves(session, tenant_id, delivery_id, today)
    errors: dict[str, str] = {}
    day = _day(data.get("lifted_on"), "lifted_on", "Date de la levée des réserves", errors, default=today)
    if day is not None and "lifted_on" not in errors:
        assert delivery.decided_on is not None
        if day > today:
            errors["lifted_on"] = f"Date de la levée des réserves : la date ne peut pas être dans le futur ({day:%d/%m/%Y})."
        elif day < delivery.decided_on:
            errors["lifted_on"] = (f"Date de la levée des réserves : la date ne peut pas précéder la décision qui les "
                                   f"a fixées ({delivery.decided_on:%d/%m/%Y}).")
    note = _note(data, errors)
    if errors:
        raise DeliveryError(errors)
    delivery.reserves_lifted_on, delivery.reserves_lifted_at = day, now
    delivery.reserves_lifted_by, delivery.reserves_lifted_note = lifted_by, note
    await session.flush()
    _moved(session, delivery, await orders.get_order_in_tenant(session, tenant_id, delivery.order_id),
           "reserves_lifted", now)
    return delivery


# --------------------------------------------------------------------------- the overdue decision's reminder


async def remind_overdue_decisions(session: AsyncSession, tenant_ids: Collection[uuid.UUID],
                                   now: dt.datetime) -> list[Delivery]:
    """CCP TGD VII.3 « le délai pour prononcer une décision est de quinze jours »: each slip whose decision is past it
    is reminded once — ``decision_reminded_at`` set in the transaction that publishes ``DeliveryDecisionOverdue``
    (its subscriber mails both sides), the rows locked (``SKIP LOCKED`` on PostgreSQL), so a second run, a
    concurrent worker or a restart reminds nothing again. Returns the slips reminded."""
    if not tenant_ids:
        return []
    pending = await session.scalars(select(Delivery).where(
        Delivery.tenant_id.in_(list(tenant_ids)), Delivery.decided_at.is_(None),
        Delivery.decision_reminded_at.is_(None))
        .order_by(Delivery.delivered_on, Delivery.number).with_for_update(skip_locked=True))
    calendars: dict[uuid.UUID, BusinessCalendar] = {}
    reminded = []
    for slip in list(pending):
        if slip.tenant_id not in calendars:
            calendars[slip.tenant_id] = await tenant_calendar(session, slip.tenant_id)
        deadline = decision_deadline(calendars[slip.tenant_id], slip)
        if not deadline.is_overdue(now):
            continue
        slip.decision_reminded_at = now
        publish_on_commit(session, DeliveryDecisionOverdue(tenant_id=slip.tenant_id, delivery_id=slip.id,
                                                           order_id=slip.order_id, last_day=deadline.last_day, at=now))
        reminded.append(slip)
    await session.flush()
    return reminded


# --------------------------------------------------------------------------- e-mails


async def moved_mails(session: AsyncSession, delivery: Delivery, step: str) -> list[tuple[str, str, str]]:
    """The e-mails of a step, (to, subject, body) each: the tenant's buyers (its administrators) for a slip, the
    titulaire's operators for a decision."""
    tenant = await tenants.get_tenant(session, delivery.tenant_id)
    order = await orders.get_order_in_tenant(session, delivery.tenant_id, delivery.order_id)
    calendar = await tenant_calendar(session, delivery.tenant_id)
    lines = await lines_of_delivery(session, delivery)
    link = f"Centrale › Livraison : /t/{tenant.id}/commandes/{order.id}/livraisons/{delivery.id}"
    head = f"[{tenant.name}] Bordereau {delivery.number}"
    detail = [f"- ligne {x.position} : {_fmt(x.quantity)} {x.unit or ''} {x.article_code} — {x.label}".replace("  ", " ")
              for x in lines]
    if step == "slip":
        to = await tenants.member_emails(session, delivery.tenant_id, ["admin"])
        due = decision_deadline(calendar, delivery)
        subject = f"{head} : livraison à vérifier"
        body = [f"Le titulaire a mis à disposition le {delivery.delivered_on:%d/%m/%Y}, au titre du bon de commande "
                f"{order.number} :", *detail, "",
                "Ce bordereau déclenche les opérations de vérification (CCP TGD VII.1). La décision (réception, "
                "ajournement, réfaction ou rejet) est à prononcer dans les quinze jours de la fin des vérifications, "
                f"au plus tard le {due.last_day:%d/%m/%Y} si elles s'achèvent le jour de la livraison (CCP TGD VII.3)."]
    elif step == "reserves_declared":
        to = await tenants.member_emails(session, delivery.tenant_id, ["admin"])
        subject = f"{head} : réserves déclarées levées par le titulaire"
        body = [f"Le titulaire déclare avoir résolu les réserves de votre décision du {delivery.decided_on:%d/%m/%Y} "
                f"sur le bordereau {delivery.number} (bon de commande {order.number}) :", "",
                delivery.reserves_declared_note, "", *_reserve_lines(lines), "",
                "Constatez-le et prononcez la levée des réserves sur le bordereau (CCP TGD VII.3)."]
    elif step == "reserves_lifted":
        to = await tenants.member_emails(session, delivery.tenant_id, ["operator"])
        status = reserves_status(delivery, lines, _local_today(calendar, _aware(delivery.reserves_lifted_at)))
        subject = f"{head} : levée des réserves"
        body = [f"{tenant.name} a prononcé le {delivery.reserves_lifted_on:%d/%m/%Y} la levée des réserves de sa "
                f"décision sur le bordereau {delivery.number} (bon de commande {order.number}) :",
                *_reserve_lines(lines)]
        if delivery.reserves_lifted_note:
            body += ["", delivery.reserves_lifted_note]
        if status is not None and status.overdue:
            body += ["", "La levée intervient après le délai fixé par la décision (CCP TGD VII.3)."]
    else:
        to = await tenants.member_emails(session, delivery.tenant_id, ["operator"])
        subject = f"{head} : décision de l'acheteur"
        body = [f"{tenant.name} a prononcé sa décision le {delivery.decided_on:%d/%m/%Y} sur le bordereau "
                f"{delivery.number} (bon de commande {order.number}) :"]
        for x in lines:
            text = f"- ligne {x.position} : {DECISION_KINDS.get(x.decision or '', x.decision)}"
            if x.decision != "ajournement":
                text += f", {_fmt(x.accepted or _ZERO)} accepté(s), {_fmt(x.rejected or _ZERO)} rejeté(s)"
            if x.refaction_amount is not None:
                text += f", réfaction de {_fmt(x.refaction_amount)} € HT"
            if x.reserves_deadline is not None:
                text += f", réserves à lever au plus tard le {x.reserves_deadline:%d/%m/%Y}"
            body.append(text)
        if any(x.decision in ("ajournement", "rejet") or (x.rejected or 0) > 0 for x in lines):
            body += ["", "Les quantités ajournées ou rejetées restent à livrer : présentez-les sur un nouveau bordereau."]
    text = "\n".join(["Bonjour,", "", *body, link]) + SIGNATURE
    return [(address, subject, text) for address in to]


def _reserve_lines(lines: Sequence[DeliveryLine]) -> list[str]:
    return [f"- ligne {x.position} : {x.article_code} — {x.label}, réserves à lever au plus tard le "
            f"{x.reserves_deadline:%d/%m/%Y}" for x in lines
            if x.decision == "reception_reserves" and x.reserves_deadline is not None]


async def overdue_mails(session: AsyncSession, delivery: Delivery, last_day: dt.date) -> list[tuple[str, str, str]]:
    """The reminder of an overdue decision, (to, subject, body) each: to the tenant's buyers (its administrators)
    and to the titulaire's operators, each its own text."""
    tenant = await tenants.get_tenant(session, delivery.tenant_id)
    order = await orders.get_order_in_tenant(session, delivery.tenant_id, delivery.order_id)
    link = f"Centrale › Livraison : /t/{tenant.id}/commandes/{order.id}/livraisons/{delivery.id}"
    rule = ("CCP TGD VII.3 : « le délai pour prononcer une décision est de quinze jours calculés à compter de la fin "
            "des opérations définies à l'article VII.2 ».")
    subject = f"[{tenant.name}] Rappel : décision en retard sur le bordereau {delivery.number}"
    buyer = [f"La décision sur le bordereau {delivery.number} (bon de commande {order.number}, mis à disposition le "
             f"{delivery.delivered_on:%d/%m/%Y}) était à prononcer au plus tard le {last_day:%d/%m/%Y} : elle est en "
             "retard.", rule, "", "Prononcez la réception, l'ajournement, la réception avec réfaction ou le rejet sur "
             "le bordereau."]
    titulaire = [f"La décision de {tenant.name} sur votre bordereau {delivery.number} (bon de commande {order.number}, "
                 f"mis à disposition le {delivery.delivered_on:%d/%m/%Y}) était due au plus tard le "
                 f"{last_day:%d/%m/%Y} et n'est pas prononcée.", rule]
    mails = []
    for roles, body in ((["admin"], buyer), (["operator"], titulaire)):
        text = "\n".join(["Bonjour,", "", *body, link]) + SIGNATURE
        mails += [(address, subject, text) for address in await tenants.member_emails(session, delivery.tenant_id,
                                                                                      roles)]
    return mails


async def notify_decision_overdue(delivery: OutboxDelivery, event: DeliveryDecisionOverdue) -> None:
    """The reminder's e-mails, recorded once with the delivery of the event (``deliver_email`` in its transaction);
    none when the decision was taken since the job noticed the delay."""
    slip = await delivery.session.scalar(select(Delivery).where(Delivery.tenant_id == event.tenant_id,
                                                                Delivery.id == event.delivery_id))
    if slip is None or slip.decided_at is not None:
        return
    for to, subject, body in await overdue_mails(delivery.session, slip, event.last_day):
        await deliver_email(delivery.session, delivery.settings, to=to, subject=subject, body=body,
                            tenant_id=event.tenant_id)


async def notify_moved(delivery: OutboxDelivery, event: DeliveryMoved) -> None:
    """The e-mails of a step, recorded once per event with the delivery of the event (a redelivered event sends
    nothing twice: ``deliver_email`` inside the delivery's transaction)."""
    slip = await delivery.session.scalar(select(Delivery).where(Delivery.tenant_id == event.tenant_id,
                                                                Delivery.id == event.delivery_id))
    if slip is None:
        return
    for to, subject, body in await moved_mails(delivery.session, slip, event.step):
        await deliver_email(delivery.session, delivery.settings, to=to, subject=subject, body=body,
                            tenant_id=event.tenant_id)


SUBSCRIBERS: list[Subscriber[Any]] = [Subscriber(DeliveryMoved, "catalog.delivery-mail", notify_moved),
                                      Subscriber(DeliveryDecisionOverdue, "catalog.delivery-reminder-mail",
                                                 notify_decision_overdue)]

