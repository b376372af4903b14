"""The arithmetic and the states of invoices, pure: no database, no current time (issue 15 §3).

* **A line** (EN 16931 BG-25) invoices a quantity of an order line at the order line's price elements (CCP TGD
  VI.1: the BPU's price HT, the extra discount in percent of CCTP CAIH 5), less the réfaction the buyer decided on it
  (CCP TGD VII.3 « la réception avec réfaction », a line allowance BG-27). Every amount is ``Decimal``, rounded
  half-up to the cent **at line level** (DESIGN.md) by the kernel's ``app.money``, as an order line is:

  - ``gross_ht``  = round(quantity × unit price HT);
  - ``net``       = round(quantity × unit price HT × (1 − discount / 100));
  - ``total_ht``  = net − réfaction (BT-131, the line net amount);
  - ``total_vat`` = round(total_ht × VAT rate / 100);
  - ``total_ttc`` = total_ht + total_vat.

  The invoice's totals are the sums of its lines; its VAT breakdown (BG-23) groups the lines by rate, each rate's
  base and VAT the sums of its lines (so that HT + TVA = TTC on every line, every rate and the invoice).
* **What may be invoiced** of an order line: what the buyer accepted, less what invoices (issued or draft) took,
  plus what credit notes gave back; never more.
* **The states**: ``draft`` → ``issued`` → ``paid`` for an invoice, ``draft`` → ``issued`` for a credit note; an
  issued document is never edited (a credit note corrects it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from app import money

__all__ = [
    "KINDS",
    "SERIES",
    "STATUSES",
    "TYPE_CODES",
    "InvoiceLineAmounts",
    "InvoiceRuleError",
    "Totals",
    "VatRate",
    "format_number",
    "invoice_line_amounts",
    "parse_quantity",
    "totals_of",
    "vat_breakdown",
]

QUANTITY = Decimal("0.001")
MAX_QUANTITY = Decimal("1000000")

STATUSES: dict[str, str] = {"draft": "brouillon", "issued": "émise", "paid": "payée"}
KINDS: dict[str, str] = {"invoice": "Facture", "credit_note": "Avoir", "prepayment": "Facture d'acompte"}
#: EN 16931 BT-3 (UNTDID 1001): 380 commercial invoice, 381 credit note, 386 prepayment invoice (an acompte, CCP TGD
#: IX.5).
TYPE_CODES = {"invoice": "380", "credit_note": "381", "prepayment": "386"}
#: The number series of each kind, each gap-free on its own per issuer and year (acomptes are invoices: « FA »).
SERIES = {"invoice": "FA", "credit_note": "AV", "prepayment": "FA"}


class InvoiceRuleError(ValueError):
    """A refused input, with its French message (``str(exc)``)."""


@dataclass(frozen=True)
class InvoiceLineAmounts:
    quantity: Decimal
    unit_price_ht: Decimal
    discount_percent: Decimal | None
    vat_rate: Decimal
    gross_ht: Decimal
    refaction_ht: Decimal
    total_ht: Decimal
    total_vat: Decimal
    total_ttc: Decimal

    @property
    def net_unit_price(self) -> Decimal:
        """BT-146, the price after the order's discount (four decimals, the BPU's scale)."""
        return money.net_unit_price(self.unit_price_ht, self.discount_percent)

    @property
    def net_before_refaction(self) -> Decimal:
        return self.total_ht + self.refaction_ht


def invoice_line_amounts(quantity: Decimal, unit_price_ht: Decimal, vat_rate: Decimal,
                         discount_percent: Decimal | None = None,
                         refaction_ht: Decimal = Decimal("0.00")) -> InvoiceLineAmounts:
    """One line's amounts (``app.money.line_amounts``, the réfaction its allowance); a réfaction above the line's net
    amount is refused."""
    try:
        a = money.line_amounts(quantity, unit_price_ht, vat_rate, discount_percent, allowance_ht=refaction_ht)
    except money.AllowanceError as exc:
        raise InvoiceRuleError(f"La réfaction ({exc.allowance} € HT) dépasse le montant de la ligne ({exc.net} € HT).") \
            from None
    return InvoiceLineAmounts(quantity=quantity, unit_price_ht=unit_price_ht, discount_percent=a.discount_percent,
                              vat_rate=vat_rate, gross_ht=a.gross_ht, refaction_ht=a.allowance_ht, total_ht=a.total_ht,
                              total_vat=a.total_vat, total_ttc=a.total_ttc)


@dataclass(frozen=True)
class Totals:
    total_ht: Decimal
    total_vat: Decimal
    total_ttc: Decimal


def totals_of(lines: Iterable[Any]) -> Totals:
    """The sums of the lines' rounded amounts (anything with ``total_ht``, ``total_vat``, ``total_ttc``)."""
    ht = vat = ttc = Decimal("0.00")
    for line in lines:
        ht += line.total_ht
        vat += line.total_vat
        ttc += line.total_ttc
    return Totals(ht, vat, ttc)


@dataclass(frozen=True)
class VatRate:
    """One rate of the VAT breakdown (BG-23): its base (BT-116), VAT (BT-117), rate (BT-119), category (BT-118: S
    standard, Z zero rated)."""

    rate: Decimal
    base_ht: Decimal
    vat: Decimal

    @property
    def category(self) -> str:
        return "S" if self.rate else "Z"


def vat_breakdown(lines: Iterable[Any]) -> list[VatRate]:
    """Per VAT rate, the sums of its lines' HT and VAT, by rate."""
    by_rate: dict[Decimal, tuple[Decimal, Decimal]] = {}
    for line in lines:
        base, vat = by_rate.get(line.vat_rate, (Decimal("0.00"), Decimal("0.00")))
        by_rate[line.vat_rate] = (base + line.total_ht, vat + line.total_vat)
    return [VatRate(rate, base, vat) for rate, (base, vat) in sorted(by_rate.items())]


def parse_quantity(value: Any) -> Decimal:
    """A quantity to invoice or credit: > 0, at most 1 000 000, 3 decimals at most (decimal comma accepted)."""
    if isinstance(value, bool) or value is None:
        raise InvoiceRuleError("Quantité invalide : un nombre est attendu (par exemple 3 ou 0,5).")
    try:
        number = Decimal(str(value).strip().replace("\u202f", "").replace(" ", "").replace(",", "."))
    except InvalidOperation:
        raise InvoiceRuleError("Quantité invalide : un nombre est attendu (par exemple 3 ou 0,5).") from None
    if not number.is_finite():
        raise InvoiceRuleError("Quantité invalide : un nombre est attendu (par exemple 3 ou 0,5).")
    if number <= 0:
        raise InvoiceRuleError("La quantité doit être strictement positive.")
    if number > MAX_QUANTITY:
        raise InvoiceRuleError("La quantité ne peut pas dépasser 1 000 000.")
    if number != number.quantize(QUANTITY):
        raise InvoiceRuleError("La quantité a au plus 3 décimales.")
    return number.quantize(QUANTITY)


def format_number(kind: str, year: int, sequence: int) -> str:
    """``FA-2026-000001`` (an invoice), ``AV-2026-000001`` (a credit note): per issuer, series and year."""
    return f"{SERIES[kind]}-{year}-{sequence:06d}"
