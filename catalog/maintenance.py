"""CAIH recurring maintenance orders (issue 14 §3), with a database. CCTP CAIH 2.1.32 « Prestations récurrentes »:

    « Chaque établissement établit un premier bon de commande. L'exécution de ce bon de commande doit intervenir
    dans un délai de 30 jours maximum. En cours d'exécution du marché, une actualisation annuelle du parc à
    maintenir (entrée ou sortie des matériels) fera l'objet d'une déclaration formelle au plus tard un mois avant
    la date anniversaire du marché par chaque bénéficiaire. Cette actualisation donnera lieu à un bon de commande à
    la date anniversaire. Une évolution du parc de chaque bénéficiaire supérieure à 10% du montant de la commande
    annuelle du bénéficiaire donnera lieu à une commande complémentaire en cours d'année. Une évolution du parc
    […] inférieure à 10% […] ne donnera pas lieu à une nouvelle commande. Ces évolutions sont régularisées lors du
    renouvellement de la commande annuelle non rétroactive émise par le bénéficiaire. »

* ``create_contract``: the beneficiary's contract under an agreement, started by its first order — an existing
  order of that agreement, or a draft created from the declared park (BPU lines); the annual amount is that
  order's total HT; the park maintained is its lines (the assets component holds no BPU article per equipment,
  so the park is BPU lines, not an inventory);
* ``declare_park``: the annual update, for the first anniversary it is at least a month ahead of
  (``catalog.deadlines.renewal_anniversary``: a late one goes to the following anniversary);
* ``declare_change``: entries and exits during the year, priced on the BPU in force, compared with the annual
  order (``catalog.deadlines.park_change_outcome``): above 10 % a complementary order (a draft the buyer issues,
  made of the entries), at or below 10 % recorded, regularised by the renewal order (built from the park that
  includes it);
* ``renew_due``: on each anniversary (the scheduled job ``catalog.maintenance_renewals``), the renewal order made
  from the park declared for it (plus the changes recorded since the declaration), or from the park maintained
  when nothing was declared, created and issued once (a unique key per contract and anniversary).

The pure deadlines are ``catalog.deadlines``'; every row is tenant-owned, so every change is in the tenant's audit
log; the orders are ``catalog.orders``' (their issue e-mails the titulaire through the outbox).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of, one_in_tenant
from app.errors import NotFound, ValidationFailed
from app.mail import deliver_email
from app.outbox import Delivery, Subscriber, publish_on_commit
from catalog import deadlines, order_rules, orders, services
from catalog.events import MaintenanceOrderMade
from catalog.models import (
    MaintenanceChange,
    MaintenanceContract,
    MaintenanceContractOrder,
    MaintenanceDeclaration,
    PurchaseOrder,
)
from catalog.quotes import tenant_calendar
from tenants import services as tenants
from tenants.calendars import BusinessCalendar

__all__ = [
    "ARTICLE",
    "DIRECTIONS",
    "OUTCOMES",
    "RULE",
    "SUBSCRIBERS",
    "ContractView",
    "MaintenanceError",
    "changes_of",
    "contract_view",
    "contract_views",
    "contracts_of_tenant",
    "contracts_to_declare",
    "create_contract",
    "declarations_of",
    "declare_change",
    "declare_park",
    "get_contract_in_tenant",
    "next_anniversary",
    "orders_of_contract",
    "renew_due",
]

log = logging.getLogger(__name__)

ARTICLE = "CCTP CAIH 2.1.32"
#: The rule quoted on the screens.
RULE = ("« Une évolution du parc de chaque bénéficiaire supérieure à 10% du montant de la commande annuelle du "
        "bénéficiaire donnera lieu à une commande complémentaire en cours d'année. » En deçà, « ces évolutions sont "
        "régularisées lors du renouvellement de la commande annuelle » (CCTP CAIH 2.1.32).")
OUTCOMES = {"complementary": "commande complémentaire", "renewal": "régularisée au renouvellement"}
DIRECTIONS = {"entree": "entrée", "sortie": "sortie"}
KINDS = {"first": "premier bon de commande", "renewal": "renouvellement", "complementary": "commande complémentaire"}
NOTE_MAX = 2000
#: A first order in these states cannot start a contract (nor be renewed).
DEAD = ("cancelled",)


class MaintenanceError(ValidationFailed):
    """Bad input or a refused step: French messages by field, nothing changed."""


def _aware(moment: dt.datetime | None) -> Any:
    # SQLite gives naive datetimes back; they are UTC.
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


def _today(calendar: BusinessCalendar, now: dt.datetime) -> dt.date:
    return now.astimezone(calendar.zone).date()


def _actor(session: AsyncSession) -> str:
    return str(actor_of(session).get("label") or "")[:320]


def _quantity(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _park_lines(raw: Any) -> Any:
    """The form of a park's lines for ``orders.price_lines`` (``article_code``, ``quantity``)."""
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return raw
    return [{"article_code": x.get("article_code"), "quantity": x.get("quantity")} if isinstance(x, Mapping) else x
            for x in raw]


def _as_park(priced: list[tuple[Any, order_rules.LineAmounts]]) -> list[dict[str, str]]:
    """Priced lines as a park: one line per article, quantities added."""
    park: dict[str, Decimal] = {}
    for item, amounts in priced:
        park[item.article_code] = park.get(item.article_code, Decimal(0)) + amounts.quantity
    return [{"article_code": code, "quantity": _quantity(q)} for code, q in park.items()]


# --------------------------------------------------------------------------- the contract


async def create_contract(session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any], *,
                          now: dt.datetime) -> MaintenanceContract:
    """``data``: ``agreement_id`` and either ``first_order_id`` (an order of the tenant under that agreement, not
    cancelled, not already a contract's) or ``lines`` (the park, ``article_code`` / ``quantity``) with
    ``delivery_place`` and ``representative`` for the draft first order created from them. Every problem reported,
    nothing written."""
    errors: dict[str, str] = {}
    agreement = None
    try:
        agreement = await services.agreement_of_tenant(session, tenant_id, uuid.UUID(str(data.get("agreement_id"))))
    except (ValueError, NotFound):
        errors["agreement_id"] = "Accord-cadre inconnu ou auquel le bénéficiaire n'adhère pas."
    calendar = await tenant_calendar(session, tenant_id)
    today = _today(calendar, now)
    order: PurchaseOrder | None = None
    if data.get("first_order_id"):
        try:
            order = await orders.get_order_in_tenant(session, tenant_id, uuid.UUID(str(data["first_order_id"])))
        except (ValueError, NotFound):
            errors["first_order_id"] = "Bon de commande inconnu."
        else:
            if agreement is not None and order.agreement_id != agreement.id:
                errors["first_order_id"] = (f"Le bon de commande {order.number} relève de l'accord "
                                            f"{order.agreement_reference}, pas de {agreement.reference}.")
            elif order.status in DEAD:
                errors["first_order_id"] = f"Le bon de commande {order.number} est annulé."
            elif await session.scalar(select(MaintenanceContractOrder.id).where(
                    MaintenanceContractOrder.tenant_id == tenant_id, MaintenanceContractOrder.order_id == order.id)):
                errors["first_order_id"] = f"Le bon de commande {order.number} appartient déjà à un contrat."
            elif order.total_ht <= 0:
                errors["first_order_id"] = (f"Le bon de commande {order.number} n'a pas de montant HT : il ne peut "
                                            "pas servir de commande annuelle.")
        if errors:
            raise MaintenanceError(errors)
    else:
        # The first order from the declared park: validated (and priced) by ``orders.create_order``.
        if errors:
            await orders.price_lines(session, None, _park_lines(data.get("lines")), today, errors, what="parc")
            for key in ("delivery_place", "representative"):
                if not str(data.get(key) or "").strip():
                    errors[key] = ("Lieu(x) de livraison ou d'exécution : obligatoire (CCP TGD VI.1)."
                                   if key == "delivery_place" else
                                   "Représentant(s) de l'acheteur : obligatoire (CCP TGD VI.1).")
            raise MaintenanceError(errors)
        assert agreement is not None
        try:
            order = await orders.create_order(session, tenant_id, {
                "agreement_id": str(agreement.id), "lines": _park_lines(data.get("lines")),
                "delivery_place": data.get("delivery_place"), "representative": data.get("representative"),
                "delivery_conditions": f"Maintenance récurrente : premier bon de commande ({ARTICLE})."},
                order_date=today, now=now)
        except orders.OrderError as exc:
            raise MaintenanceError(exc.errors) from None
        if order.total_ht <= 0:  # pragma: no cover (BPU lines at 0 only)
            raise MaintenanceError({"lines": "Le parc déclaré n'a pas de montant HT."})
    assert agreement is not None and order is not None
    lines = await orders.lines_of_order(session, order)
    contract = MaintenanceContract(
        tenant_id=tenant_id, agreement_id=agreement.id, agreement_reference=agreement.reference,
        starts_on=agreement.starts_on or order.order_date, first_order_id=order.id,
        annual_amount_ht=order.total_ht,
        park=_as_park([(x, order_rules.line_amounts(x.quantity, x.unit_price_ht, x.vat_rate, None)) for x in lines]),
        delivery_place=order.delivery_place, representative=order.representative, created_at=now, updated_at=now,
        created_by=_actor(session))
    session.add(contract)
    await session.flush()
    session.add(MaintenanceContractOrder(tenant_id=tenant_id, contract_id=contract.id, order_id=order.id,
                                         kind="first", created_at=now))
    await session.flush()
    return contract


async def get_contract_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, contract_id: uuid.UUID, *,
                                 for_update: bool = False) -> MaintenanceContract:
    """The tenant's contract; ``NotFound`` for another tenant's as for one that does not exist."""
    contract: MaintenanceContract = await one_in_tenant(session, MaintenanceContract, tenant_id, contract_id,
                                                        "contrat de maintenance", for_update=for_update)
    return contract


async def _agreement_end(session: AsyncSession, contract: MaintenanceContract) -> dt.date | None:
    agreement = await services.agreement_of_tenant(session, contract.tenant_id, contract.agreement_id)
    return agreement.ends_on


# --------------------------------------------------------------------------- the annual declaration


def next_anniversary(starts_on: dt.date, today: dt.date, *, inclusive: bool = False) -> dt.date:
    """The agreement's first anniversary after ``today`` (or on it, ``inclusive``)."""
    n = 1
    while (day := deadlines.add_months(starts_on, 12 * n)) < today or (day == today and not inclusive):
        n += 1
    return day


async def declare_park(session: AsyncSession, tenant_id: uuid.UUID, contract_id: uuid.UUID, raw_lines: Any, *,
                       now: dt.datetime) -> MaintenanceDeclaration:
    """The formal declaration of the park to maintain (the whole park, entries and exits included), for the first
    anniversary it is at least one month ahead of; priced on the BPU in force today (indicative)."""
    contract = await get_contract_in_tenant(session, tenant_id, contract_id)
    calendar = await tenant_calendar(session, tenant_id)
    today = _today(calendar, now)
    agreement = await services.agreement_of_tenant(session, tenant_id, contract.agreement_id)
    errors: dict[str, str] = {}
    priced = await orders.price_lines(session, agreement, _park_lines(raw_lines), today, errors, what="parc")
    if errors:
        raise MaintenanceError(errors)
    anniversary = deadlines.renewal_anniversary(contract.starts_on, today)
    nearest = next_anniversary(contract.starts_on, today, inclusive=True)
    if agreement.ends_on is not None and anniversary > agreement.ends_on:
        raise MaintenanceError({"lines": (
            f"Déclaration trop tardive : l'actualisation du parc se déclare au plus tard un mois avant la date "
            f"anniversaire ({ARTICLE}) ; la prochaine possible serait le {anniversary:%d/%m/%Y}, après la fin de "
            f"l'accord-cadre le {agreement.ends_on:%d/%m/%Y}.")})
    totals = order_rules.order_totals(a for _, a in priced)
    declaration = MaintenanceDeclaration(
        tenant_id=tenant_id, contract_id=contract.id, declared_at=now, declared_on=today,
        declared_by=_actor(session), anniversary=anniversary, late=anniversary > nearest, lines=_as_park(priced),
        amount_ht=totals.total_ht)
    session.add(declaration)
    contract.updated_at = now
    await session.flush()
    return declaration


async def declarations_of(session: AsyncSession, contract: MaintenanceContract) -> list[MaintenanceDeclaration]:
    """The contract's declarations, the most recent first."""
    return list(await session.scalars(select(MaintenanceDeclaration).where(
        MaintenanceDeclaration.tenant_id == contract.tenant_id, MaintenanceDeclaration.contract_id == contract.id)
        .order_by(MaintenanceDeclaration.declared_at.desc(), MaintenanceDeclaration.id)))


# --------------------------------------------------------------------------- a change during the year


def _apply(park: list[dict[str, Any]], delta: Mapping[str, Decimal]) -> list[dict[str, str]]:
    """``park`` with ``delta`` (signed quantities per article) added; lines reaching zero dropped."""
    quantities = {x["article_code"]: Decimal(str(x["quantity"])) for x in park}
    for code, change in delta.items():
        quantities[code] = quantities.get(code, Decimal(0)) + change
    return [{"article_code": code, "quantity": _quantity(q)} for code, q in quantities.items() if q > 0]


async def declare_change(session: AsyncSession, tenant_id: uuid.UUID, contract_id: uuid.UUID,
                         data: Mapping[str, Any], *, now: dt.datetime) -> MaintenanceChange:
    """``data``: ``lines`` (``article_code``, ``quantity`` > 0, ``direction`` entree | sortie), ``note``. Priced on
    the BPU in force today; an exit cannot take more than the park holds. Above 10 % of the annual order: a draft
    complementary order of the entries (an exit is not ordered); otherwise regularised at the renewal."""
    contract = await get_contract_in_tenant(session, tenant_id, contract_id, for_update=True)
    calendar = await tenant_calendar(session, tenant_id)
    today = _today(calendar, now)
    agreement = await services.agreement_of_tenant(session, tenant_id, contract.agreement_id)
    errors: dict[str, str] = {}
    raw = data.get("lines")
    directions: list[str] = []
    for n, line in enumerate(raw if isinstance(raw, list) else [], start=1):
        direction = str(line.get("direction") or "entree") if isinstance(line, Mapping) else "entree"
        if direction not in DIRECTIONS:
            errors[f"lines.{n}.direction"] = f"Ligne {n} : entrée (entree) ou sortie (sortie) du parc."
        directions.append(direction)
    note = data.get("note") if isinstance(data.get("note"), str) else ""
    note = note.strip()
    if len(note) > NOTE_MAX:
        errors["note"] = f"La note comporte {NOTE_MAX} caractères au plus."
    priced = await orders.price_lines(session, agreement, _park_lines(raw), today, errors, what="évolution du parc")
    if errors:
        raise MaintenanceError(errors)
    held = {x["article_code"]: Decimal(str(x["quantity"])) for x in contract.park}
    delta: dict[str, Decimal] = {}
    lines: list[dict[str, str]] = []
    amount = Decimal("0.00")
    for n, ((item, a), direction) in enumerate(zip(priced, directions, strict=True), start=1):
        sign = 1 if direction == "entree" else -1
        delta[item.article_code] = delta.get(item.article_code, Decimal(0)) + sign * a.quantity
        if held.get(item.article_code, Decimal(0)) + delta[item.article_code] < 0:
            errors[f"lines.{n}.quantity"] = (f"Ligne {n} : le parc ne compte que "
                                             f"{_quantity(held.get(item.article_code, Decimal(0)))} « "
                                             f"{item.article_code} » ; la sortie ne peut pas dépasser ce nombre.")
        amount += sign * a.total_ht
        lines.append({"article_code": item.article_code, "label": item.label, "direction": direction,
                      "quantity": _quantity(sign * a.quantity), "total_ht": str(sign * a.total_ht)})
    if errors:
        raise MaintenanceError(errors)
    outcome = deadlines.park_change_outcome(contract.annual_amount_ht, amount)
    change = MaintenanceChange(
        tenant_id=tenant_id, contract_id=contract.id, declared_at=now, declared_on=today,
        declared_by=_actor(session), lines=lines, note=note, annual_amount_ht=contract.annual_amount_ht,
        change_amount_ht=amount, percent=outcome.percent,
        outcome="complementary" if outcome.complementary_order else "renewal")
    entries = [{"article_code": item.article_code, "quantity": a.quantity}
               for (item, a), direction in zip(priced, directions, strict=True) if direction == "entree"]
    if outcome.complementary_order and entries:
        try:
            order = await orders.create_order(session, tenant_id, {
                "agreement_id": str(agreement.id), "lines": entries, "delivery_place": contract.delivery_place,
                "representative": contract.representative,
                "delivery_conditions": f"Commande complémentaire : évolution du parc de {outcome.percent} % de la "
                                       f"commande annuelle ({ARTICLE})."}, order_date=today, now=now)
        except orders.OrderError as exc:  # pragma: no cover (the lines were priced above)
            raise MaintenanceError(exc.errors) from None
        change.complementary_order_id = order.id
        session.add(MaintenanceContractOrder(tenant_id=tenant_id, contract_id=contract.id, order_id=order.id,
                                             kind="complementary", created_at=now))
        publish_on_commit(session, MaintenanceOrderMade(tenant_id=tenant_id, contract_id=contract.id,
                                                        order_id=order.id, kind="complementary"))
    session.add(change)
    contract.park = _apply(contract.park, delta)
    contract.updated_at = now
    await session.flush()
    return change


async def changes_of(session: AsyncSession, contract: MaintenanceContract) -> list[MaintenanceChange]:
    """The contract's changes, the most recent first."""
    return list(await session.scalars(select(MaintenanceChange).where(
        MaintenanceChange.tenant_id == contract.tenant_id, MaintenanceChange.contract_id == contract.id)
        .order_by(MaintenanceChange.declared_at.desc(), MaintenanceChange.id)))


# --------------------------------------------------------------------------- the renewal at the anniversary


async def _renewal_lines(session: AsyncSession, contract: MaintenanceContract,
                         anniversary: dt.date) -> list[dict[str, str]]:
    """The park declared for ``anniversary`` (its last declaration) with the changes recorded since it; the park
    maintained (which holds every change) when nothing was declared."""
    declared = await session.scalar(select(MaintenanceDeclaration).where(
        MaintenanceDeclaration.tenant_id == contract.tenant_id, MaintenanceDeclaration.contract_id == contract.id,
        MaintenanceDeclaration.anniversary == anniversary)
        .order_by(MaintenanceDeclaration.declared_at.desc()).limit(1))
    if declared is None:
        return list(contract.park)
    delta: dict[str, Decimal] = {}
    for change in await changes_of(session, contract):
        if _aware(change.declared_at) > _aware(declared.declared_at) and change.declared_on < anniversary:
            for line in change.lines:
                delta[line["article_code"]] = delta.get(line["article_code"], Decimal(0)) + Decimal(line["quantity"])
    return _apply(declared.lines, delta)


async def _has_renewal(session: AsyncSession, contract: MaintenanceContract, anniversary: dt.date) -> bool:
    return bool(await session.scalar(select(MaintenanceContractOrder.id).where(
        MaintenanceContractOrder.tenant_id == contract.tenant_id, MaintenanceContractOrder.contract_id == contract.id,
        MaintenanceContractOrder.kind == "renewal", MaintenanceContractOrder.anniversary == anniversary)))


async def renew_due(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime) -> list[PurchaseOrder]:
    """The renewal orders due by today (the tenant's day) and not made yet, created and issued: one per contract
    and anniversary (after the first order's date, up to the agreement's end), dated and priced on the
    anniversary. Run twice, it makes nothing the second time."""
    calendar = await tenant_calendar(session, tenant_id)
    today = _today(calendar, now)
    made: list[PurchaseOrder] = []
    for contract_id in list(await session.scalars(select(MaintenanceContract.id).where(
            MaintenanceContract.tenant_id == tenant_id).order_by(MaintenanceContract.created_at))):
        contract = await get_contract_in_tenant(session, tenant_id, contract_id, for_update=True)
        first = await orders.get_order_in_tenant(session, tenant_id, contract.first_order_id)
        if first.status in ("draft", *DEAD):
            continue  # not notified (or cancelled): nothing to renew
        ends_on = await _agreement_end(session, contract)
        until = min(today, ends_on) if ends_on is not None else today
        for anniversary in deadlines.anniversaries(contract.starts_on, until):
            if anniversary <= first.order_date or await _has_renewal(session, contract, anniversary):
                continue
            lines = await _renewal_lines(session, contract, anniversary)
            if not lines:
                continue  # the whole park left: nothing to maintain
            try:  # ``create_order`` writes nothing when it refuses (no BPU in force, an article gone from it)
                order = await orders.create_order(session, tenant_id, {
                    "agreement_id": str(contract.agreement_id), "lines": lines,
                    "delivery_place": contract.delivery_place, "representative": contract.representative,
                    "delivery_conditions": f"Renouvellement de la commande annuelle de maintenance au "
                                           f"{anniversary:%d/%m/%Y} ({ARTICLE})."},
                    order_date=anniversary, now=now)
            except orders.OrderError as exc:
                log.warning("maintenance contract %s: renewal at %s refused: %s", contract.id, anniversary, exc)
                continue
            await orders.issue_order(session, tenant_id, order.id, now=now)
            session.add(MaintenanceContractOrder(tenant_id=tenant_id, contract_id=contract.id, order_id=order.id,
                                                 kind="renewal", anniversary=anniversary, created_at=now))
            publish_on_commit(session, MaintenanceOrderMade(tenant_id=tenant_id, contract_id=contract.id,
                                                            order_id=order.id, kind="renewal",
                                                            anniversary=anniversary))
            for change in await changes_of(session, contract):
                if change.outcome == "renewal" and change.renewal_order_id is None and change.declared_on < anniversary:
                    change.renewal_order_id = order.id
            contract.park = lines
            contract.annual_amount_ht = order.total_ht
            contract.updated_at = now
            await session.flush()
            made.append(order)
    return made


# --------------------------------------------------------------------------- reading


async def contracts_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, *,
                              limit: int = 200) -> list[MaintenanceContract]:
    return list(await session.scalars(select(MaintenanceContract).where(MaintenanceContract.tenant_id == tenant_id)
                                      .order_by(MaintenanceContract.created_at.desc()).limit(limit)))


async def orders_of_contract(session: AsyncSession,
                             contract: MaintenanceContract) -> list[tuple[MaintenanceContractOrder, PurchaseOrder]]:
    """The contract's orders with their kind, in the order they were made."""
    rows = await session.execute(
        select(MaintenanceContractOrder, PurchaseOrder).join(PurchaseOrder, (
            PurchaseOrder.tenant_id == MaintenanceContractOrder.tenant_id)
            & (PurchaseOrder.id == MaintenanceContractOrder.order_id))
        .where(MaintenanceContractOrder.tenant_id == contract.tenant_id,
               MaintenanceContractOrder.contract_id == contract.id)
        .order_by(MaintenanceContractOrder.created_at, PurchaseOrder.number))
    return [(link, order) for link, order in rows.all()]


@dataclass(frozen=True)
class ContractView:
    """What a screen shows of a contract at ``today``."""

    first_order: PurchaseOrder
    #: CAIH 2.1.32, 30 days from the notification; None while the first order is not notified.
    execution: deadlines.Deadline | None
    executed_at: dt.datetime | None
    execution_overdue: bool
    next_anniversary: dt.date | None
    declaration_deadline: dt.date | None
    declaration_past: bool
    #: The last declaration for ``next_anniversary`` (None: not declared yet).
    declared: MaintenanceDeclaration | None
    ends_on: dt.date | None


async def contract_view(session: AsyncSession, contract: MaintenanceContract, now: dt.datetime,
                        calendar: BusinessCalendar | None = None) -> ContractView:
    return (await contract_views(session, contract.tenant_id, [contract], now, calendar))[contract.id]


async def contract_views(session: AsyncSession, tenant_id: uuid.UUID, contracts: Sequence[MaintenanceContract],
                         now: dt.datetime, calendar: BusinessCalendar | None = None) -> dict[uuid.UUID, ContractView]:
    """Per contract of the tenant, its ``ContractView`` at ``now``: a fixed number of queries whatever the number of
    contracts (the contracts' list)."""
    if not contracts:
        return {}
    calendar = calendar or await tenant_calendar(session, tenant_id)
    today = _today(calendar, now)
    firsts = {x.id: x for x in await session.scalars(select(PurchaseOrder).where(
        PurchaseOrder.tenant_id == tenant_id, PurchaseOrder.id.in_([c.first_order_id for c in contracts])))}
    started = await orders.first_reached(session, tenant_id, [o.id for o in firsts.values() if o.issued_at],
                                         "in_progress")
    ends = {a.id: a.ends_on for a in await services.agreements_of_tenant(session, tenant_id)}
    upcoming: dict[uuid.UUID, dt.date | None] = {}
    for contract in contracts:
        day: dt.date | None = next_anniversary(contract.starts_on, today)
        ends_on = ends.get(contract.agreement_id)
        upcoming[contract.id] = None if ends_on is not None and day is not None and day > ends_on else day
    declared: dict[tuple[uuid.UUID, dt.date], MaintenanceDeclaration] = {}
    for x in await session.scalars(select(MaintenanceDeclaration).where(
            MaintenanceDeclaration.tenant_id == tenant_id,
            MaintenanceDeclaration.contract_id.in_([c for c, day in upcoming.items() if day is not None]),
            MaintenanceDeclaration.anniversary.in_({day for day in upcoming.values() if day is not None}))
            .order_by(MaintenanceDeclaration.declared_at.desc())):
        declared.setdefault((x.contract_id, x.anniversary), x)  # the last declaration for the anniversary
    views = {}
    for contract in contracts:
        first = firsts[contract.first_order_id]
        execution = executed_at = None
        issued_at = _aware(first.issued_at)
        if issued_at is not None:
            execution = deadlines.first_order_execution_due(calendar, issued_at.astimezone(calendar.zone).date())
            executed_at = _aware(started.get(first.id))
        day = upcoming[contract.id]
        deadline = deadlines.park_declaration_deadline(day) if day else None
        views[contract.id] = ContractView(
            first_order=first, execution=execution, executed_at=executed_at,
            execution_overdue=execution is not None and execution.is_overdue(now, done_at=executed_at),
            next_anniversary=day, declaration_deadline=deadline,
            declaration_past=deadline is not None and today > deadline,
            declared=declared.get((contract.id, day)) if day else None, ends_on=ends.get(contract.agreement_id))
    return views


async def contracts_to_declare(session: AsyncSession, tenant_ids: Collection[uuid.UUID], now: dt.datetime, *,
                               within_days: int = 30) -> list[tuple[MaintenanceContract, dt.date]]:
    """The contracts whose park declaration for the next anniversary is due within ``within_days`` (not past)
    and not made yet, with its deadline (the buyer's home card)."""
    found = []
    for tenant_id in tenant_ids:
        calendar = await tenant_calendar(session, tenant_id)
        today = _today(calendar, now)
        contracts = await contracts_of_tenant(session, tenant_id)
        views = await contract_views(session, tenant_id, contracts, now, calendar)
        for contract in contracts:
            view = views[contract.id]
            deadline = view.declaration_deadline
            if (deadline is not None and view.declared is None and view.first_order.status not in DEAD
                    and today <= deadline <= today + dt.timedelta(days=within_days)):
                found.append((contract, deadline))
    return found


# --------------------------------------------------------------------------- e-mails


def _money(value: Any) -> str:
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + " €"


SIGNATURE = "\n-- \nCentrale — maintenance récurrente\nMerci de rappeler le numéro du bon de commande dans tout échange.\n"


async def order_made_mail(session: AsyncSession, event: MaintenanceOrderMade) -> tuple[list[str], str, str] | None:
    """The buyer's e-mail (the tenant's admins) for a renewal or a complementary order: (to, subject, body)."""
    order = await session.scalar(select(PurchaseOrder).where(PurchaseOrder.tenant_id == event.tenant_id,
                                                             PurchaseOrder.id == event.order_id))
    if order is None:
        return None
    tenant = await tenants.get_tenant(session, event.tenant_id)
    link = f"Centrale › Maintenance récurrente : /t/{tenant.id}/maintenance-recurrente/{event.contract_id}"
    if event.kind == "renewal" and event.anniversary is not None:
        subject = f"[{tenant.name}] Maintenance : bon de commande {order.number} de renouvellement émis"
        body = [f"À la date anniversaire du {event.anniversary:%d/%m/%Y}, le bon de commande de renouvellement "
                f"{order.number} ({_money(order.total_ht)} HT) est émis et notifié au titulaire, depuis le parc "
                f"déclaré ({ARTICLE}).", "Il devient la commande annuelle à laquelle les évolutions du parc sont "
                "comparées."]
    else:
        subject = f"[{tenant.name}] Maintenance : commande complémentaire {order.number} à émettre"
        body = [f"L'évolution du parc dépasse 10 % de la commande annuelle : la commande complémentaire "
                f"{order.number} ({_money(order.total_ht)} HT) est créée en brouillon ({ARTICLE}).",
                "Vérifiez-la et émettez-la pour la notifier au titulaire."]
    to = await tenants.member_emails(session, event.tenant_id, ["admin"])
    return list(to), subject, "\n".join(["Bonjour,", "", *body, link]) + SIGNATURE


async def notify_order_made(delivery: Delivery, event: MaintenanceOrderMade) -> None:
    """Sent once per event (``deliver_email`` inside the delivery's transaction)."""
    mail = await order_made_mail(delivery.session, event)
    if mail is None:
        return
    to, subject, body = mail
    for address in to:
        await deliver_email(delivery.session, delivery.settings, to=address, subject=subject, body=body,
                            tenant_id=event.tenant_id)


SUBSCRIBERS: list[Subscriber[Any]] = [Subscriber(MaintenanceOrderMade, "catalog.maintenance-mail", notify_order_made)]
