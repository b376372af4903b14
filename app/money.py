"""The money arithmetic of a priced line, pure, shared by orders, quotes and invoices (DESIGN.md « Money is
``Decimal`` (...) amounts HT, VAT rate, TTC are stored per line; rounding is half-up to the cent at line level »).

A line prices a quantity at a unit price HT (the BPU's, four decimals), less an optional discount in percent
(CCTP CAIH 5 « Remise complémentaire en % sur le BPU en vigueur »; CCP TGD VI.1 « prix hors taxes non remisé, prix
hors taxes et prix TTC après application de la remise »), less an optional allowance in euros (the réfaction of CCP
TGD VII.3, EN 16931 BG-27):

- ``gross_ht``  = round(quantity × unit price HT), the price HT before discount;
- ``total_ht``  = round(quantity × unit price HT × (1 − discount / 100)) − allowance;
- ``total_vat`` = round(total_ht × VAT rate / 100), on the rounded HT of the line;
- ``total_ttc`` = total_ht + total_vat, so that HT + TVA = TTC on every line and on every sum of lines.

Worked: 3 × 0,125 € at 20 % is 0,38 € HT (0,375 rounded half-up), 0,08 € of VAT, 0,46 € TTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "CENT",
    "UNIT",
    "AllowanceError",
    "LineAmounts",
    "cents",
    "line_amounts",
    "net_unit_price",
    "price_ttc",
    "unit_price",
    "vat_of",
]

CENT = Decimal("0.01")
#: The BPU's scale for unit prices.
UNIT = Decimal("0.0001")
HUNDRED = Decimal(100)
ZERO = Decimal("0.00")


class AllowanceError(ValueError):
    """An allowance below zero or above the line's net amount; ``net`` is that amount."""

    def __init__(self, allowance: Decimal, net: Decimal) -> None:
        super().__init__(f"allowance {allowance} outside 0..{net}")
        self.allowance = allowance
        self.net = net


def cents(value: Decimal) -> Decimal:
    """Half-up to the cent: 0,125 → 0,13; −0,125 → −0,13 (away from zero, as on paper)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def unit_price(value: Decimal) -> Decimal:
    """Half-up to the BPU's four decimals."""
    return value.quantize(UNIT, rounding=ROUND_HALF_UP)


def vat_of(amount_ht: Decimal, vat_rate: Decimal) -> Decimal:
    """The VAT of a rounded HT amount at ``vat_rate`` percent, rounded to the cent."""
    return cents(amount_ht * vat_rate / HUNDRED)


def price_ttc(price_ht: Decimal, vat_rate: Decimal) -> Decimal:
    """A unit price TTC as a catalog shows it: price HT × (1 + rate / 100), rounded to the cent."""
    return cents(price_ht * (1 + vat_rate / HUNDRED))


def net_unit_price(unit_price_ht: Decimal, discount_percent: Decimal | None) -> Decimal:
    """The unit price after the discount, at the BPU's scale (EN 16931 BT-146)."""
    if not discount_percent:
        return unit_price_ht
    return unit_price(unit_price_ht * (HUNDRED - discount_percent) / HUNDRED)


@dataclass(frozen=True)
class LineAmounts:
    """The price elements of one line (CCP TGD VI.1), each rounded to the cent."""

    quantity: Decimal
    unit_price_ht: Decimal
    discount_percent: Decimal | None
    vat_rate: Decimal
    gross_ht: Decimal
    total_ht: Decimal
    total_vat: Decimal
    total_ttc: Decimal
    allowance_ht: Decimal = ZERO

    @property
    def discount_ht(self) -> Decimal:
        """What the discount takes off the gross amount."""
        return self.gross_ht - self.net_before_allowance

    @property
    def net_before_allowance(self) -> Decimal:
        return self.total_ht + self.allowance_ht

    @property
    def net_unit_price(self) -> Decimal:
        return net_unit_price(self.unit_price_ht, self.discount_percent)


def line_amounts(quantity: Decimal, unit_price_ht: Decimal, vat_rate: Decimal, discount_percent: Decimal | None = None,
                 allowance_ht: Decimal = ZERO) -> LineAmounts:
    """One line's amounts (see the module's docstring); ``AllowanceError`` for an allowance below zero or above the
    line's net amount."""
    raw = quantity * unit_price_ht
    gross = cents(raw)
    net = cents(raw * (HUNDRED - discount_percent) / HUNDRED) if discount_percent else gross
    allowance = cents(allowance_ht)
    if allowance < 0 or (allowance and allowance > net):
        raise AllowanceError(allowance, net)
    total = net - allowance
    vat = vat_of(total, vat_rate)
    return LineAmounts(quantity=quantity, unit_price_ht=unit_price_ht, discount_percent=discount_percent or None,
                       vat_rate=vat_rate, gross_ht=gross, total_ht=total, total_vat=vat, total_ttc=total + vat,
                       allowance_ht=allowance)
