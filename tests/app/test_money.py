"""The kernel's money arithmetic (``app.money``) with worked numbers: half-up cent rounding, a line HT after its
discount (CCTP CAIH 5 « Remise complémentaire en % sur le BPU en vigueur »), the VAT on the rounded HT, TTC = HT +
VAT (DESIGN.md « rounding is half-up to the cent at line level »), the réfaction as an allowance (CCP TGD VII.3);
orders and invoices price the same line to the same cent."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from app import money
from billing.invoice_rules import InvoiceRuleError, invoice_line_amounts
from catalog.order_rules import line_amounts as order_line_amounts


@pytest.mark.parametrize(("value", "rounded"), [
    ("0.125", "0.13"), ("0.124999", "0.12"), ("2.675", "2.68"), ("-0.125", "-0.13"), ("10", "10.00"),
    ("0.005", "0.01"), ("0.0049", "0.00"),
])
def test_cents_round_half_up_away_from_zero(value, rounded):
    assert money.cents(D(value)) == D(rounded)
    assert str(money.cents(D(value))) == rounded


def test_a_line_is_rounded_at_line_level_and_ttc_is_ht_plus_vat():
    # 3 × 0,125 € at 20 %: 0,375 → 0,38 € HT; VAT on the rounded HT 0,076 → 0,08 €; TTC 0,46 € (not 0,45 = 0,375 × 1,2).
    line = money.line_amounts(D(3), D("0.125"), D(20))
    assert (line.gross_ht, line.total_ht, line.total_vat, line.total_ttc) == (D("0.38"), D("0.38"), D("0.08"), D("0.46"))
    assert line.discount_ht == D("0.00") and line.discount_percent is None and line.net_unit_price == D("0.125")


def test_a_discount_applies_to_the_raw_amount_before_rounding():
    # 7 × 123,4567 € = 864,1969 → gross 864,20 €; less 12,5 %: 756,1722875 → 756,17 € HT (not 864,20 × 0,875 =
    # 756,175 → 756,18); VAT 5,5 %: 41,58935 → 41,59 €; TTC 797,76 €.
    line = money.line_amounts(D(7), D("123.4567"), D("5.5"), D("12.5"))
    assert line.gross_ht == D("864.20") and line.total_ht == D("756.17") and line.discount_ht == D("108.03")
    assert line.total_vat == D("41.59") and line.total_ttc == D("797.76")
    assert line.net_unit_price == D("108.0246")  # 123,4567 × 0,875 = 108,02461…, at the BPU's four decimals


def test_an_allowance_comes_off_the_net_before_the_vat():
    # 10 × 100 € less 5 %: 950,00 € HT; a réfaction of 50,004 € → 50,00 €; 900,00 € HT, 20 % VAT 180,00 €, 1 080,00 € TTC.
    line = money.line_amounts(D(10), D(100), D(20), D(5), allowance_ht=D("50.004"))
    assert (line.allowance_ht, line.total_ht, line.total_vat, line.total_ttc) == (
        D("50.00"), D("900.00"), D("180.00"), D("1080.00"))
    assert line.net_before_allowance == D("950.00") and line.discount_ht == D("50.00")
    with pytest.raises(money.AllowanceError) as refused:
        money.line_amounts(D(1), D(10), D(20), allowance_ht=D("10.01"))
    assert refused.value.net == D("10.00")
    with pytest.raises(money.AllowanceError):
        money.line_amounts(D(1), D(10), D(20), allowance_ht=D("-1"))


def test_vat_and_price_ttc_of_a_catalog_price():
    assert money.vat_of(D("0.38"), D(20)) == D("0.08")
    assert money.vat_of(D("100.00"), D(0)) == D("0.00")
    # A BPU price of 1 234,5678 € HT at 20 %: 1 481,48136 → 1 481,48 € TTC.
    assert money.price_ttc(D("1234.5678"), D(20)) == D("1481.48")
    assert money.unit_price(D("108.02461")) == D("108.0246") and money.unit_price(D("0.00005")) == D("0.0001")


def test_orders_and_invoices_price_the_same_line_to_the_same_cent():
    order = order_line_amounts(D(7), D("123.4567"), D("5.5"), D("12.5"))
    invoice = invoice_line_amounts(D(7), D("123.4567"), D("5.5"), D("12.5"))
    assert (order.gross_ht, order.total_ht, order.total_vat, order.total_ttc) == (
        invoice.gross_ht, invoice.total_ht, invoice.total_vat, invoice.total_ttc)
    with pytest.raises(InvoiceRuleError, match=r"La réfaction \(800.00 € HT\) dépasse le montant de la ligne"):
        invoice_line_amounts(D(7), D("123.4567"), D("5.5"), D("12.5"), refaction_ht=D(800))
