"""Late-payment interest on invoices (issue 15 §3; CCP TGD IX.7), with a database.

IX.7: interest at « le taux (...) de la Banque centrale européenne à ses opérations principales de refinancement
les plus récentes, en vigueur au premier jour du semestre de l'année civile au cours duquel les intérêts moratoires
ont commencé à courir, majoré de huit points », and « une indemnité forfaitaire pour frais de recouvrement de 40€ ».

* ``ecb_rates`` is kept by the coordinators (``add_rate``: the date it applies from, the rate in percent);
* ``late_of``: for an invoice past its due date and unpaid (as of today), or paid after it, the interest and the
  indemnity by ``billing.rules.late_payment``, with the computation; None when it is not late. When no rate is known
  for the semester, the reason is given instead of a figure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import Invoice
from billing.periodic_models import EcbRate
from billing.rules import BillingRuleError, LatePayment, late_payment
from billing.services import BillingError

__all__ = ["Late", "add_rate", "ecb_rates", "late_of", "late_of_invoice", "overdue_amount", "rates_table"]

MAX_RATE = Decimal("100")


async def ecb_rates(session: AsyncSession) -> list[EcbRate]:
    """Every rate, the latest first."""
    return list(await session.scalars(select(EcbRate).order_by(EcbRate.applies_from.desc())))


async def rates_table(session: AsyncSession) -> dict[dt.date, Decimal]:
    return {r.applies_from: Decimal(r.rate) for r in await ecb_rates(session)}


async def add_rate(session: AsyncSession, data: Mapping[str, Any], *, created_by: str, now: dt.datetime) -> EcbRate:
    """A rate from its date (``applies_from``, AAAA-MM-JJ) and ``rate`` (percent, French decimals accepted, from -100
    to 100). Errors by field; a date already known is refused (the ECB publishes one rate per date)."""
    errors: dict[str, str] = {}
    raw_day, raw_rate = data.get("applies_from"), data.get("rate")
    day: dt.date | None = None
    if isinstance(raw_day, dt.date):
        day = raw_day
    else:
        try:
            day = dt.date.fromisoformat(str(raw_day or "").strip())
        except ValueError:
            errors["applies_from"] = "Date d'application : une date (AAAA-MM-JJ) est attendue."
    rate: Decimal | None = None
    try:
        rate = Decimal(str(raw_rate if raw_rate is not None else "").strip().replace(",", ".").replace("%", ""))
        if not rate.is_finite() or abs(rate) > MAX_RATE or rate != rate.quantize(Decimal("0.001")):
            raise InvalidOperation
    except InvalidOperation:
        errors["rate"] = "Taux : un pourcentage entre -100 et 100, trois décimales au plus (ex. 2,15)."
        rate = None
    if day is not None and await session.scalar(select(EcbRate.id).where(EcbRate.applies_from == day)):
        errors["applies_from"] = f"Un taux de la BCE est déjà connu à partir du {day:%d/%m/%Y}."
    if errors:
        raise BillingError(errors)
    assert day is not None and rate is not None
    row = EcbRate(applies_from=day, rate=rate.quantize(Decimal("0.001")), created_at=now, created_by=created_by[:320])
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True)
class Late:
    """An invoice past due: the interest (None with ``problem`` when no rate is known) as of ``on``."""

    on: dt.date
    paid: bool
    payment: LatePayment | None
    problem: str = ""

    @property
    def amount_due(self) -> Decimal | None:
        """What the buyer owes with the interest and the indemnity (unpaid invoices)."""
        return None if self.payment is None else self.payment.total


def late_of(invoice: Invoice, today: dt.date, rates: Mapping[dt.date, Decimal]) -> Late | None:
    """The late interest of an issued invoice past its due date (until ``today`` while unpaid), or paid after it."""
    if invoice.kind == "credit_note" or invoice.due_date is None or invoice.status not in ("issued", "paid"):
        return None
    paid = invoice.status == "paid"
    on = invoice.paid_on if paid and invoice.paid_on else today
    if on <= invoice.due_date:
        return None
    try:
        payment = late_payment(Decimal(invoice.total_ttc), invoice.due_date, on, rates)
    except BillingRuleError as exc:
        return Late(on, paid, None, f"{exc} Le coordinateur renseigne les taux de la BCE.")
    return Late(on, paid, payment)


async def late_of_invoice(session: AsyncSession, invoice: Invoice, now: dt.datetime) -> Late | None:
    """``late_of`` as of today in the buyer's time zone, with the rates kept."""
    if invoice.kind == "credit_note" or invoice.due_date is None or invoice.status not in ("issued", "paid"):
        return None
    from zoneinfo import ZoneInfo

    from tenants import services as tenants

    tenant = await tenants.get_tenant(session, invoice.tenant_id)
    return late_of(invoice, now.astimezone(ZoneInfo(tenant.timezone)).date(), await rates_table(session))


#: The overdue invoices a home card sums (the oldest first).
OVERDUE_LIMIT = 500


async def overdue_amount(session: AsyncSession, tenant_id: Any, today: dt.date) -> str:
    """« 1 234,56 € »: what the tenant owes on its unpaid invoices past due, with the interest and indemnities
    (IX.7) as of ``today``; the invoices whose interest cannot be computed count without it."""
    found = await session.scalars(select(Invoice).where(
        Invoice.tenant_id == tenant_id, Invoice.kind != "credit_note", Invoice.status == "issued",
        Invoice.due_date < today).order_by(Invoice.due_date).limit(OVERDUE_LIMIT))
    rates = await rates_table(session)
    total = Decimal("0.00")
    for invoice in found:
        total += Decimal(invoice.total_ttc)
        overdue = late_of(invoice, today, rates)
        if overdue is not None and overdue.payment is not None:
            total += overdue.payment.total
    return f"{total:,.2f}".replace(",", "\u202f").replace(".", ",") + " €"
