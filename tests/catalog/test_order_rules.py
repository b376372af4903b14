"""The pure rules of purchase orders (``catalog.order_rules``): the price elements of a line rounded half-up to
the cent at line level, the order's totals as sums of its lines (CCP TGD VI.1), the extra discount (CCTP CAIH
5), the bounded inputs and every state transition with its refusals (issue 14 §3)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog import order_rules as r

D = Decimal


def test_three_times_an_eighth_of_a_euro_at_20_percent():
    # CCP TGD VI.1 « prix hors taxes … prix TTC »; rounding half-up at line level: 0.375 → 0.38.
    line = r.line_amounts(D("3"), D("0.125"), D("20"))
    assert (line.gross_ht, line.total_ht, line.total_vat, line.total_ttc) == (D("0.38"), D("0.38"), D("0.08"),
                                                                              D("0.46"))
    assert line.discount_ht == D("0.00")


@pytest.mark.parametrize(("quantity", "price", "vat", "discount", "gross", "ht", "vat_amount", "ttc"), [
    # Half a cent rounds up, never to even (banker's rounding would give 0.12 and 0.02).
    ("1", "0.125", "20", None, "0.13", "0.13", "0.03", "0.16"),
    ("1", "0.005", "20", None, "0.01", "0.01", "0.00", "0.01"),
    ("1", "0.0049", "20", None, "0.00", "0.00", "0.00", "0.00"),
    # 5.5 % and 8.5 % (DOM, TGD): 12.34 × 5.5 % = 0.6787 → 0.68.
    ("1", "12.34", "5.5", None, "12.34", "12.34", "0.68", "13.02"),
    ("7", "245.00", "8.5", None, "1715.00", "1715.00", "145.78", "1860.78"),
    # CAIH 5: 5 % on 3 × 47.50 = 142.50 → 135.375 → 135.38 HT; VAT on the rounded HT.
    ("3", "47.50", "20", "5", "142.50", "135.38", "27.08", "162.46"),
    ("3", "47.50", "20", "5.00", "142.50", "135.38", "27.08", "162.46"),
    # Fractional quantity (half a day) at a 4-decimal BPU price.
    ("0.5", "560.0050", "20", "2.5", "280.00", "273.00", "54.60", "327.60"),
    ("2", "10", "0", "100", "20.00", "0.00", "0.00", "0.00"),
])
def test_awkward_lines(quantity, price, vat, discount, gross, ht, vat_amount, ttc):
    line = r.line_amounts(D(quantity), D(price), D(vat), D(discount) if discount else None)
    assert (line.gross_ht, line.total_ht, line.total_vat, line.total_ttc) == tuple(
        D(x) for x in (gross, ht, vat_amount, ttc))
    assert line.total_ht + line.total_vat == line.total_ttc


def test_totals_are_sums_of_rounded_lines_not_the_rounding_of_a_sum():
    lines = [r.line_amounts(D("1"), D("0.125"), D("20")) for _ in range(3)]
    totals = r.order_totals(lines)
    # Three lines of 0.13 HT: 0.39 (rounding the unrounded sum 0.375 would give 0.38).
    assert (totals.gross_ht, totals.total_ht, totals.total_vat, totals.total_ttc) == (D("0.39"), D("0.39"),
                                                                                      D("0.09"), D("0.48"))
    assert r.order_totals([]).total_ttc == D("0.00")


@pytest.mark.parametrize(("text", "value"), [("3", "3"), ("0,5", "0.5"), (2, "2"), ("1 000", "1000"),
                                             (D("1.250"), "1.25"), (0.5, "0.5")])
def test_quantities(text, value):
    assert r.parse_quantity(text) == D(value)


@pytest.mark.parametrize(("text", "message"), [
    ("0", "strictement positive"), ("-1", "strictement positive"), ("abc", "Quantité invalide"),
    ("1000001", "1 000 000"), ("0,0001", "3 décimales"), ("NaN", "Quantité invalide"), (True, "Quantité invalide"),
    (None, "Quantité invalide"), ("9" * 50, "Quantité invalide"),
])
def test_bad_quantities(text, message):
    with pytest.raises(r.OrderRuleError, match=message):
        r.parse_quantity(text)


@pytest.mark.parametrize(("text", "value"), [(None, None), ("", None), ("0", None), ("5", "5.00"), ("2,5 %", "2.50"),
                                             (10, "10.00")])
def test_discounts(text, value):
    assert r.parse_discount(text) == (D(value) if value else None)


@pytest.mark.parametrize("text", ["-1", "100.5", "beaucoup", "1,234"])
def test_bad_discounts(text):
    with pytest.raises(r.OrderRuleError, match="emise"):
        r.parse_discount(text)


def test_the_whole_path_of_an_order():
    status = "draft"
    for action, expected in [("issue", "issued"), ("start", "in_progress"), ("deliver", "delivered"),
                             ("verify", "verified"), ("close", "closed")]:
        status = r.next_status(status, action)
        assert status == expected
    assert r.allowed_actions("closed") == []


def test_delivered_and_verified_follow_the_slips_not_a_button():
    """CCP TGD VII.1 and VII.3: the slips deliver an order, the buyer's decisions on them verify it."""
    assert r.allowed_actions("in_progress") == ["deliver", "cancel"]
    assert r.user_actions("in_progress") == ["cancel"]
    assert r.user_actions("delivered") == []
    assert r.user_actions("verified") == ["close"]
    assert "bordereaux de mise à disposition (CCP TGD VII.1)" in r.SLIP_ACTIONS["deliver"]
    assert "(CCP TGD VII.3)" in r.SLIP_ACTIONS["verify"]


@pytest.mark.parametrize("status", ["draft", "issued", "in_progress"])
def test_cancel_before_delivery(status):
    assert r.next_status(status, "cancel") == "cancelled"


ALL_MOVES = [(s, a) for s in r.STATUSES for a in r.ACTIONS]
ALLOWED = {("draft", "issue"), ("issued", "start"), ("in_progress", "deliver"), ("delivered", "verify"),
           ("delivered", "resume"),
           ("verified", "close"), ("draft", "cancel"), ("issued", "cancel"), ("in_progress", "cancel")}


@pytest.mark.parametrize(("status", "action"), [m for m in ALL_MOVES if m not in ALLOWED])
def test_every_other_move_is_refused_in_french(status, action):
    with pytest.raises(r.OrderRuleError, match=f"à l'état « {r.STATUSES[status]} »"):
        r.next_status(status, action)


def test_refusal_messages_say_what_is_expected():
    with pytest.raises(r.OrderRuleError) as exc:
        r.next_status("delivered", "cancel")
    assert str(exc.value) == ("Impossible d'annuler une commande à l'état « livré » : seule une commande à l'état "
                              "« brouillon » ou « émis » ou « en cours » peut l'être.")
    with pytest.raises(r.OrderRuleError, match="Action inconnue"):
        r.next_status("draft", "sign")


def test_numbers():
    assert r.format_order_number(2026, 1) == "BC-2026-000001"
    assert r.format_order_number(2027, 123456) == "BC-2027-123456"
