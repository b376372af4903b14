"""Acomptes on purchase orders (issue 15 §3; CCP TGD IX.5), with a database.

IX.5: « Si le règlement ne peut intervenir dans un délai de trois mois à compter du début des prestations objet du bon
de commande, il peut être versé au titulaire des acomptes d'une périodicité trimestrielle. Le versement d'acomptes
est subordonné à la remise par le titulaire d'un constat d'avancement reprenant les prestations exécutées en
application de la commande. Cet état est vérifié et validé par l'administration qui émet un procès-verbal de constat
d'avancement. Le montant de l'acompte est déterminé par l'administration sur la base de l'état susvisé, étant
précisé que la valeur de chaque acompte ne peut dépasser la valeur des prestations auxquelles il se rapporte. Le
cumul des acomptes ne peut être supérieur à 70 % du montant total du bon de commande. Le solde est réglé après
prononcé de la vérification. »

* ``submit_statement``: the titulaire's operator types the « constat d'avancement » of an order issued three months
  ago or more and not verified yet: the value HT of every service executed so far (cumulative) and what they are.
  ``ProgressSubmitted`` goes into the outbox: the buyer's administrators are e-mailed.
* ``validate_statement`` / ``refuse_statement`` (with its reason): the buyer's administrator.
* ``draft_acompte``: the acompte invoice (kind ``prepayment``, EN 16931 type code 386) of a validated statement, at
  most ``billing.rules.acompte_ceiling(order total HT, acomptes already invoiced, statement value)``: each acompte
  within the value of the services it pays for, all of them within 70 % of the order. Above it: refused with the
  figures, nothing written. One line per VAT rate of the order, in proportion to the order's amounts HT at each
  rate. Issued with ``billing.invoices.issue_invoice`` in the invoices' gap-free ``FA`` series (checked again there).
* ``deduct_acomptes``: the order's next invoice after verification (``billing.invoices.draft_invoice``) details every
  service delivered and deducts each issued acompte with a negative line at its VAT rate (quantity −1, the acompte
  HT as its price, its note the acompte's number and date), recorded in ``acompte_deductions``; the XML also
  references each acompte invoice in BG-3 (BT-25, BT-26). Why a negative line rather than BT-113: docs/billing.md.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of, one_in_tenant
from app.mail import deliver_email
from app.outbox import Delivery, Subscriber, publish_on_commit
from billing import invoice_rules, services
from billing.acompte_models import Acompte, AcompteDeduction, ProgressStatement
from billing.events import ProgressSubmitted
from billing.models import Invoice, InvoiceLine
from billing.rules import ACOMPTE_SHARE, acompte_ceiling, money
from billing.services import BillingError
from catalog import services as catalog
from tenants import services as tenants

__all__ = [
    "ACOMPTE_ARTICLE",
    "OPEN_STATUSES",
    "STATUSES",
    "SUBSCRIBERS",
    "AcompteRoom",
    "acompte_allowed_from",
    "acompte_of_statement",
    "acomptes_of_order",
    "check_acompte_at_issue",
    "deduct_acomptes",
    "deducted_acomptes",
    "draft_acompte",
    "get_statement_in_tenant",
    "refuse_statement",
    "room_of",
    "split_by_rate",
    "statements_of_order",
    "statements_of_tenant",
    "submit_statement",
    "submitted_mail",
    "validate_statement",
]

STATUSES = {"submitted": "à valider", "validated": "validé", "refused": "refusé"}
#: The order states in which services run and acomptes may be paid: the balance is paid after verification (IX.5).
OPEN_STATUSES = ("issued", "in_progress")
#: The article code of an acompte line and of its deduction on the final invoice.
ACOMPTE_ARTICLE = "ACOMPTE"
#: IX.5: acomptes once the payment cannot happen within three months of the start of the services.
WAIT_MONTHS = 3
DESCRIPTION_LIMIT = 2000
MAX_AMOUNT = Decimal("100000000")
_ZERO = Decimal("0.00")
SIGNATURE = "\n-- \nCentrale — facturation\n"


# --------------------------------------------------------------------------- pure


def acompte_allowed_from(issued_on: dt.date) -> dt.date:
    """The first day an acompte may be asked: three months after the order was issued (the start of its
    services), the same day of the month or the month's last."""
    month = issued_on.month - 1 + WAIT_MONTHS
    year, month = issued_on.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(issued_on.day, calendar.monthrange(year, month)[1]))


def split_by_rate(amount_ht: Decimal, bases: Mapping[Decimal, Decimal]) -> list[tuple[Decimal, Decimal]]:
    """``amount_ht`` shared between the VAT rates in proportion to the order's amounts HT at each rate (each share
    rounded to the cent, the largest rate's share taking the rounding): ``[(rate, amount)]``, by rate."""
    total = sum(bases.values(), _ZERO)
    rates = sorted(r for r, base in bases.items() if base > 0)
    if not rates or total <= 0:
        return [(Decimal("20.00"), amount_ht)]
    last = max(rates, key=lambda r: (bases[r], r))
    shares = {r: money(amount_ht * bases[r] / total) for r in rates if r != last}
    shares[last] = amount_ht - sum(shares.values(), _ZERO)
    return [(r, shares[r]) for r in rates if shares[r] != 0]


def _euros(value: Decimal) -> str:
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + " €"


def _parse_amount(raw: Any, label: str) -> Decimal:
    """An amount HT in euros (decimal comma accepted), > 0, two decimals at most."""
    if isinstance(raw, bool) or raw is None or (isinstance(raw, str) and not raw.strip()):
        raise BillingError({"value_ht": f"{label} : un montant en euros est attendu (par exemple 4 000,00)."})
    text = str(raw).strip().removesuffix("€").strip().replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise BillingError({"value_ht": f"{label} : un montant en euros est attendu (par exemple 4 000,00)."})
    if value <= 0:
        raise BillingError({"value_ht": f"{label} : le montant doit être strictement positif."})
    if value > MAX_AMOUNT or value != value.quantize(Decimal("0.01")):
        raise BillingError({"value_ht": f"{label} : deux décimales au plus, 100 000 000 € au plus."})
    return value.quantize(Decimal("0.01"))


def _actor(session: AsyncSession) -> str:
    return str(actor_of(session).get("label") or "")[:320]


async def _today(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime) -> dt.date:
    tenant = await tenants.get_tenant(session, tenant_id)
    return now.astimezone(ZoneInfo(tenant.timezone)).date()


# --------------------------------------------------------------------------- reading


async def get_statement_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, statement_id: uuid.UUID, *,
                                  for_update: bool = False) -> ProgressStatement:
    """The tenant's statement; ``NotFound`` otherwise (another tenant's id reads like an unknown one)."""
    found: ProgressStatement = await one_in_tenant(session, ProgressStatement, tenant_id, statement_id,
                                                   "constat d'avancement", for_update=for_update)
    return found


async def statements_of_order(session: AsyncSession, tenant_id: uuid.UUID,
                              order_id: uuid.UUID) -> list[ProgressStatement]:
    return list(await session.scalars(select(ProgressStatement).where(
        ProgressStatement.tenant_id == tenant_id, ProgressStatement.order_id == order_id)
        .order_by(ProgressStatement.sequence)))


async def statements_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, *, status: str = "",
                               limit: int = 200) -> list[ProgressStatement]:
    """The tenant's statements, those awaiting validation first, then the newest."""
    where = [ProgressStatement.tenant_id == tenant_id]
    if status:
        where.append(ProgressStatement.status == status)
    return list(await session.scalars(select(ProgressStatement).where(*where).order_by(
        (ProgressStatement.status != "submitted"), ProgressStatement.submitted_at.desc()).limit(limit)))


async def acomptes_of_order(session: AsyncSession, tenant_id: uuid.UUID,
                            order_id: uuid.UUID) -> list[tuple[Acompte, Invoice]]:
    """The order's acompte invoices (draft or issued) with their link, oldest first."""
    rows = (await session.execute(
        select(Acompte, Invoice).join(Invoice, (Invoice.tenant_id == Acompte.tenant_id)
                                      & (Invoice.id == Acompte.invoice_id))
        .where(Acompte.tenant_id == tenant_id, Acompte.order_id == order_id)
        .order_by(Invoice.created_at, Invoice.id))).all()
    return [(a, i) for a, i in rows]


async def acompte_of_statement(session: AsyncSession, statement: ProgressStatement) -> Invoice | None:
    return await session.scalar(select(Invoice).join(Acompte, (Invoice.tenant_id == Acompte.tenant_id)
                                                     & (Invoice.id == Acompte.invoice_id))
                                .where(Acompte.tenant_id == statement.tenant_id,
                                       Acompte.statement_id == statement.id))


class AcompteRoom:
    """What an acompte of a statement may be: ``ceiling`` (``rules.acompte_ceiling``) and its figures."""

    def __init__(self, order_total_ht: Decimal, invoiced_ht: Decimal, value_ht: Decimal) -> None:
        self.order_total_ht, self.invoiced_ht, self.value_ht = order_total_ht, invoiced_ht, value_ht
        self.cap_ht = money(order_total_ht * ACOMPTE_SHARE)
        self.ceiling = acompte_ceiling(order_total_ht, invoiced_ht, value_ht)

    def exhausted(self) -> str:
        return (f"Acompte refusé : plus rien à verser sur ce constat (CCP TGD IX.5) — prestations exécutées "
                f"{_euros(self.value_ht)}, acomptes déjà facturés {_euros(self.invoiced_ht)}, plafond de 70 % "
                f"{_euros(self.cap_ht)}.")

    def refusal(self, amount: Decimal) -> str:
        """Why ``amount`` is refused (above the ceiling), in French with the figures."""
        by_value = self.value_ht - self.invoiced_ht <= self.cap_ht - self.invoiced_ht
        head = f"Acompte refusé : {_euros(amount)} HT dépasse le plafond de {_euros(self.ceiling)} HT (CCP TGD IX.5)"
        if by_value:
            return (f"{head} : « la valeur de chaque acompte ne peut dépasser la valeur des prestations auxquelles il "
                    f"se rapporte » — prestations exécutées {_euros(self.value_ht)}, moins les acomptes déjà facturés "
                    f"{_euros(self.invoiced_ht)}.")
        return (f"{head} : « le cumul des acomptes ne peut être supérieur à 70 % du montant total du bon de "
                f"commande » — 70 % de {_euros(self.order_total_ht)} = {_euros(self.cap_ht)}, dont "
                f"{_euros(self.invoiced_ht)} déjà facturés en acomptes.")


async def _invoiced_ht(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID,
                       except_invoice: uuid.UUID | None = None) -> Decimal:
    """The acomptes of the order invoiced so far (draft or issued; a discarded draft is gone with its link)."""
    total = await session.scalar(select(func.coalesce(func.sum(Acompte.amount_ht), 0)).where(
        Acompte.tenant_id == tenant_id, Acompte.order_id == order_id,
        *([Acompte.invoice_id != except_invoice] if except_invoice else [])))
    return money(Decimal(total or 0))


async def room_of(session: AsyncSession, statement: ProgressStatement, order: catalog.BillableOrder,
                  except_invoice: uuid.UUID | None = None) -> AcompteRoom:
    return AcompteRoom(order.total_ht, await _invoiced_ht(session, statement.tenant_id, order.id, except_invoice),
                       statement.value_ht)


# --------------------------------------------------------------------------- the statement


async def _open_order(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID,
                      today: dt.date) -> catalog.BillableOrder:
    order = await catalog.billable_order(session, tenant_id, order_id)
    if order.status not in OPEN_STATUSES or order.issued_on is None:
        raise BillingError({"status": f"Le bon de commande {order.number} n'est pas en cours d'exécution : un acompte "
                                      "se verse pendant les prestations, le solde après la vérification (CCP TGD "
                                      "IX.5)."})
    start = acompte_allowed_from(order.issued_on)
    if today < start:
        raise BillingError({"status": f"Pas d'acompte avant le {start:%d/%m/%Y} : CCP TGD IX.5, des acomptes sont "
                                      "versés « si le règlement ne peut intervenir dans un délai de trois mois à "
                                      f"compter du début des prestations » (bon de commande émis le "
                                      f"{order.issued_on:%d/%m/%Y})."})
    return order


async def submit_statement(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID,
                           data: Mapping[str, Any], *, now: dt.datetime) -> ProgressStatement:
    """The titulaire's « constat d'avancement » of an order: ``value_ht`` (the services executed so far, HT),
    ``description`` (what they are), ``stated_on``? (default today). Errors by field (``status``, ``value_ht``,
    ``description``, ``stated_on``); nothing written on any."""
    await services.lock_profile(session, tenant_id)
    today = await _today(session, tenant_id, now)
    order = await _open_order(session, tenant_id, order_id, today)
    errors: dict[str, str] = {}
    value = _ZERO
    try:
        value = _parse_amount(data.get("value_ht"), "Valeur des prestations exécutées")
    except BillingError as exc:
        errors.update(exc.errors)
    if value > order.total_ht:
        errors["value_ht"] = (f"Valeur des prestations exécutées : {_euros(value)} dépasse le montant du bon de "
                              f"commande ({_euros(order.total_ht)} HT).")
    raw = data.get("description")
    description = raw.strip() if isinstance(raw, str) else ""
    if not description:
        errors["description"] = ("Prestations exécutées : obligatoire (IX.5 : le constat « reprend les prestations "
                                 "exécutées en application de la commande »).")
    elif len(description) > DESCRIPTION_LIMIT:
        errors["description"] = f"Prestations exécutées : {DESCRIPTION_LIMIT} caractères au plus."
    stated_on = today
    raw_day = data.get("stated_on")
    if raw_day not in (None, ""):
        try:
            stated_on = raw_day if isinstance(raw_day, dt.date) else dt.date.fromisoformat(str(raw_day).strip()[:10])
        except ValueError:
            errors["stated_on"] = "Date du constat : une date (AAAA-MM-JJ) est attendue."
        else:
            if stated_on > today or (order.issued_on and stated_on < order.issued_on):
                errors["stated_on"] = (f"Date du constat : entre l'émission du bon de commande "
                                       f"({order.issued_on:%d/%m/%Y}) et aujourd'hui.")
    earlier = await statements_of_order(session, tenant_id, order.id)
    if any(s.status == "submitted" for s in earlier):
        errors["status"] = ("Un constat d'avancement de ce bon de commande attend déjà la validation de l'acheteur : "
                            "attendez sa décision.")
    validated = [s.value_ht for s in earlier if s.status == "validated"]
    if validated and value and value < max(validated) and "value_ht" not in errors:
        errors["value_ht"] = (f"Valeur des prestations exécutées : le constat reprend toutes les prestations exécutées "
                              f"depuis le début ; le précédent, validé, en comptait déjà {_euros(max(validated))}.")
    if errors:
        raise BillingError(errors)
    statement = ProgressStatement(
        tenant_id=tenant_id, order_id=order.id, order_number=order.number, agreement_id=order.agreement_id,
        sequence=max((s.sequence for s in earlier), default=0) + 1, stated_on=stated_on, value_ht=value,
        description=description, status="submitted", submitted_at=now, submitted_by=_actor(session))
    session.add(statement)
    await session.flush()
    publish_on_commit(session, ProgressSubmitted(tenant_id=tenant_id, statement_id=statement.id,
                                                 order_number=order.number, submitted_at=now))
    return statement


async def _pending(session: AsyncSession, tenant_id: uuid.UUID, statement_id: uuid.UUID) -> ProgressStatement:
    statement = await get_statement_in_tenant(session, tenant_id, statement_id, for_update=True)
    if statement.status != "submitted":
        raise BillingError({"status": f"Ce constat d'avancement est déjà {STATUSES[statement.status]} : la décision "
                                      "est prise."})
    return statement


async def validate_statement(session: AsyncSession, tenant_id: uuid.UUID, statement_id: uuid.UUID, *,
                             now: dt.datetime) -> ProgressStatement:
    """The buyer's « procès-verbal de constat d'avancement » (IX.5 « Cet état est vérifié et validé par
    l'administration »)."""
    statement = await _pending(session, tenant_id, statement_id)
    statement.status, statement.decided_at, statement.decided_by = "validated", now, _actor(session)
    await session.flush()
    return statement


async def refuse_statement(session: AsyncSession, tenant_id: uuid.UUID, statement_id: uuid.UUID,
                           data: Mapping[str, Any], *, now: dt.datetime) -> ProgressStatement:
    """The statement refused, with the reason the titulaire reads (required)."""
    raw = data.get("reason")
    reason = raw.strip() if isinstance(raw, str) else ""
    if not reason:
        raise BillingError({"reason": "Motif du refus : obligatoire (le titulaire le lit pour corriger son constat)."})
    if len(reason) > DESCRIPTION_LIMIT:
        raise BillingError({"reason": f"Motif du refus : {DESCRIPTION_LIMIT} caractères au plus."})
    statement = await _pending(session, tenant_id, statement_id)
    statement.status, statement.refusal_reason = "refused", reason
    statement.decided_at, statement.decided_by = now, _actor(session)
    await session.flush()
    return statement


# --------------------------------------------------------------------------- the acompte invoice


def _bases(order: catalog.BillableOrder) -> dict[Decimal, Decimal]:
    bases: dict[Decimal, Decimal] = {}
    for x in order.lines:
        amounts = invoice_rules.invoice_line_amounts(x.ordered, x.unit_price_ht, x.vat_rate, x.discount_percent)
        bases[x.vat_rate] = bases.get(x.vat_rate, _ZERO) + amounts.total_ht
    return bases


async def draft_acompte(session: AsyncSession, tenant_id: uuid.UUID, statement_id: uuid.UUID,
                        data: Mapping[str, Any], *, now: dt.datetime) -> Invoice:
    """The draft acompte invoice of a validated statement, ``amount_ht``? (default: the ceiling). Errors
    ``status``, ``amount_ht``; nothing written on any."""
    profile = await services.lock_profile(session, tenant_id)
    statement = await get_statement_in_tenant(session, tenant_id, statement_id, for_update=True)
    if statement.status != "validated":
        raise BillingError({"status": "Un acompte se facture sur un constat d'avancement validé par l'acheteur "
                                      f"(celui-ci est {STATUSES[statement.status]})."})
    if await acompte_of_statement(session, statement) is not None:
        raise BillingError({"status": "L'acompte de ce constat d'avancement est déjà facturé."})
    today = await _today(session, tenant_id, now)
    order = await _open_order(session, tenant_id, statement.order_id, today)
    room = await room_of(session, statement, order)
    raw = data.get("amount_ht")
    if raw in (None, ""):
        amount = room.ceiling
    else:
        try:
            amount = _parse_amount(raw, "Montant de l'acompte")
        except BillingError as exc:
            raise BillingError({"amount_ht": exc.errors["value_ht"]}) from None
    if room.ceiling <= 0:
        raise BillingError({"amount_ht": room.exhausted()})
    if amount > room.ceiling:
        raise BillingError({"amount_ht": room.refusal(amount)})
    tenant = await tenants.get_tenant(session, tenant_id)
    rank = len(await acomptes_of_order(session, tenant_id, order.id)) + 1
    invoice = Invoice(
        tenant_id=tenant_id, kind="prepayment", status="draft", agreement_id=order.agreement_id,
        agreement_reference=order.agreement_reference, order_id=order.id, order_number=order.number,
        engagement_number=order.number, service_code=profile.service_code, buyer_name=tenant.name[:200],
        buyer_siret=tenant.siret or "", verified_on=statement.stated_on, created_at=now, updated_at=now,
        created_by=_actor(session))
    session.add(invoice)
    await session.flush()
    note = (f"Constat d'avancement n° {statement.sequence} du {statement.stated_on:%d/%m/%Y} validé par l'acheteur : "
            f"prestations exécutées {_euros(statement.value_ht)} HT, acomptes précédents {_euros(room.invoiced_ht)}, "
            f"plafond de 70 % {_euros(room.cap_ht)} (CCP TGD IX.5)")
    made = [invoice_rules.invoice_line_amounts(Decimal("1.000"), share, rate)
            for rate, share in split_by_rate(amount, _bases(order))]
    for position, a in enumerate(made, start=1):
        session.add(InvoiceLine(
            tenant_id=tenant_id, invoice_id=invoice.id, position=position, order_position=0,
            article_code=ACOMPTE_ARTICLE, label=f"Acompte n° {rank} sur le bon de commande {order.number}",
            unit="", quantity=a.quantity, unit_price_ht=a.unit_price_ht, discount_percent=None, gross_ht=a.gross_ht,
            refaction_ht=_ZERO, total_ht=a.total_ht, vat_rate=a.vat_rate, total_vat=a.total_vat,
            total_ttc=a.total_ttc, note=note))
    totals = invoice_rules.totals_of(made)
    invoice.total_ht, invoice.total_vat, invoice.total_ttc = totals.total_ht, totals.total_vat, totals.total_ttc
    invoice.line_count = len(made)
    session.add(Acompte(tenant_id=tenant_id, invoice_id=invoice.id, statement_id=statement.id, order_id=order.id,
                        amount_ht=amount))
    await session.flush()
    return invoice


async def check_acompte_at_issue(session: AsyncSession, invoice: Invoice, now: dt.datetime) -> None:
    """Before an acompte invoice is numbered: still within the ceiling whatever was invoiced since its draft, and
    its order still running with no final invoice drafted (which would not deduct it)."""
    link = await session.scalar(select(Acompte).where(Acompte.tenant_id == invoice.tenant_id,
                                                      Acompte.invoice_id == invoice.id))
    if link is None:  # pragma: no cover (every acompte invoice is drafted with its link)
        raise BillingError({"status": "Acompte sans constat d'avancement."})
    statement = await get_statement_in_tenant(session, invoice.tenant_id, link.statement_id)
    order = await _open_order(session, invoice.tenant_id, invoice.order_id,
                              await _today(session, invoice.tenant_id, now))
    room = await room_of(session, statement, order, except_invoice=invoice.id)
    if link.amount_ht > room.ceiling:
        raise BillingError({"amount_ht": room.refusal(link.amount_ht) + " Supprimez ce brouillon et refaites-le."})


# --------------------------------------------------------------------------- the final invoice


async def deduct_acomptes(session: AsyncSession, invoice: Invoice) -> list[AcompteDeduction]:
    """The order's issued acomptes deducted from ``invoice`` (a draft of the order's invoice after verification,
    its lines written): per acompte and VAT rate, what is left to deduct of it, within the invoice's base at that
    rate (the rest waits for the order's next invoice). A negative line each; the invoice's totals updated."""
    acomptes = [i for _a, i in await acomptes_of_order(session, invoice.tenant_id, invoice.order_id)
                if i.status != "draft"]
    if not acomptes:
        return []
    lines = list(await session.scalars(select(InvoiceLine).where(
        InvoiceLine.tenant_id == invoice.tenant_id, InvoiceLine.invoice_id == invoice.id)
        .order_by(InvoiceLine.position)))
    room: dict[Decimal, Decimal] = {}
    for x in lines:
        room[x.vat_rate] = room.get(x.vat_rate, _ZERO) + x.total_ht
    done = {(i, r): Decimal(v) for i, r, v in (await session.execute(
        select(AcompteDeduction.acompte_invoice_id, AcompteDeduction.vat_rate, func.sum(AcompteDeduction.amount_ht))
        .where(AcompteDeduction.tenant_id == invoice.tenant_id,
               AcompteDeduction.acompte_invoice_id.in_([i.id for i in acomptes]))
        .group_by(AcompteDeduction.acompte_invoice_id, AcompteDeduction.vat_rate))).all()}
    position = max((x.position for x in lines), default=0)
    made: list[AcompteDeduction] = []
    for acompte in sorted(acomptes, key=lambda i: (i.issue_date or dt.date.min, i.number or "")):
        for x in await session.scalars(select(InvoiceLine).where(
                InvoiceLine.tenant_id == acompte.tenant_id, InvoiceLine.invoice_id == acompte.id)
                .order_by(InvoiceLine.position)):
            left = x.total_ht - done.get((acompte.id, x.vat_rate), _ZERO)
            amount = min(left, room.get(x.vat_rate, _ZERO))
            if amount <= 0:
                continue
            room[x.vat_rate] -= amount
            position += 1
            a = invoice_rules.invoice_line_amounts(Decimal("-1.000"), amount, x.vat_rate)
            session.add(InvoiceLine(
                tenant_id=invoice.tenant_id, invoice_id=invoice.id, position=position, order_position=0,
                article_code=ACOMPTE_ARTICLE, label=f"Acompte {acompte.number} déduit", unit="",
                quantity=a.quantity, unit_price_ht=amount, discount_percent=None, gross_ht=a.gross_ht,
                refaction_ht=_ZERO, total_ht=a.total_ht, vat_rate=x.vat_rate, total_vat=a.total_vat,
                total_ttc=a.total_ttc,
                note=f"Acompte {acompte.number} du {acompte.issue_date:%d/%m/%Y} déduit (CCP TGD IX.5 : « Le solde "
                     "est réglé après prononcé de la vérification »)"))
            row = AcompteDeduction(tenant_id=invoice.tenant_id, invoice_id=invoice.id, acompte_invoice_id=acompte.id,
                                   line_position=position, vat_rate=x.vat_rate, amount_ht=amount,
                                   total_vat=-a.total_vat)
            session.add(row)
            made.append(row)
            invoice.total_ht += a.total_ht
            invoice.total_vat += a.total_vat
            invoice.total_ttc += a.total_ttc
            invoice.line_count += 1
    await session.flush()
    return made


async def deducted_acomptes(session: AsyncSession, invoice: Invoice) -> list[Invoice]:
    """The acompte invoices ``invoice`` deducts (its BG-3 preceding invoice references), by number."""
    ids = list(await session.scalars(select(AcompteDeduction.acompte_invoice_id).where(
        AcompteDeduction.tenant_id == invoice.tenant_id, AcompteDeduction.invoice_id == invoice.id).distinct()))
    if not ids:
        return []
    return list(await session.scalars(select(Invoice).where(Invoice.tenant_id == invoice.tenant_id,
                                                            Invoice.id.in_(ids)).order_by(Invoice.number)))


# --------------------------------------------------------------------------- the e-mail


async def submitted_mail(session: AsyncSession, statement: ProgressStatement) -> tuple[tuple[str, ...], str, str]:
    """The statement awaiting validation, to the buyer's administrators: (to, subject, body)."""
    to = tuple(await tenants.member_emails(session, statement.tenant_id, ["admin"]))
    body = "\n".join([
        "Bonjour,", "",
        f"Le titulaire a remis le constat d'avancement n° {statement.sequence} du bon de commande "
        f"{statement.order_number}, au {statement.stated_on:%d/%m/%Y} : prestations exécutées "
        f"{_euros(statement.value_ht)} HT.", "",
        f"Prestations : {statement.description}", "",
        "CCP TGD IX.5 : « Cet état est vérifié et validé par l'administration qui émet un procès-verbal de constat "
        "d'avancement. » Validez-le ou refusez-le (avec le motif) : Centrale › Factures › Acomptes "
        f"/t/{statement.tenant_id}/acomptes/commande/{statement.order_id}"])
    return to, f"[{statement.order_number}] Constat d'avancement à valider", body + SIGNATURE


async def notify_submitted(delivery: Delivery, event: ProgressSubmitted) -> None:
    """Once per event (``deliver_email`` in the delivery's transaction)."""
    statement = await delivery.session.scalar(select(ProgressStatement).where(
        ProgressStatement.tenant_id == event.tenant_id, ProgressStatement.id == event.statement_id))
    if statement is None or statement.status != "submitted":
        return
    to, subject, body = await submitted_mail(delivery.session, statement)
    for address in to:
        await deliver_email(delivery.session, delivery.settings, to=address, subject=subject, body=body,
                            tenant_id=event.tenant_id)


SUBSCRIBERS: Sequence[Subscriber[Any]] = [Subscriber(ProgressSubmitted, "billing.progress-submitted-mail",
                                                     notify_submitted)]
