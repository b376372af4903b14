"""billing.rules on worked numbers (CCP Justice TGD outre-mer VIII and IX; issue 15 « Tests that must exist »:
the quarterly prorata on 30-day months, the 70 % cap, late interest and the €40 indemnity, both penalty
formulas, the cap and each exemption, the revision formula)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from billing.rules import (
    EXEMPTIONS,
    BillingRuleError,
    Deduction,
    acompte_ceiling,
    bases_left,
    cap_penalties,
    days_30,
    deduct_allowances,
    late_payment,
    observations_end,
    payment_due_on,
    penalty,
    quarter_amount,
    quarters,
    revise_price,
)

day = dt.date


# --------------------------------------------------------------------------- IX.4


@pytest.mark.parametrize(("start", "end", "days"), [
    (day(2026, 1, 1), day(2026, 3, 31), 90),  # a whole quarter, 90 days whatever its calendar days
    (day(2026, 1, 1), day(2026, 1, 15), 15),
    (day(2026, 2, 15), day(2026, 2, 28), 16),  # to the end of February: the month closes at 30
    (day(2028, 2, 15), day(2028, 2, 29), 16),  # a leap February alike
    (day(2026, 1, 31), day(2026, 1, 31), 1),  # the 31st is the 30th: one day, the month's last
    (day(2026, 5, 10), day(2026, 6, 30), 51),  # 21 days of May + a whole June
    (day(2026, 1, 1), day(2026, 12, 31), 360),
])
def test_days_on_months_of_thirty_days(start, end, days):
    assert days_30(start, end) == days


def test_a_service_started_mid_quarter_is_billed_on_civil_quarters_prorata_temporis():
    """IX.4: « à terme civil échu - à savoir le 31 mars, 30 juin, 30 septembre et 31 décembre - et, en cas de
    trimestre incomplet, le montant est calculé prorata temporis, sur la base de mois réputés être de trente
    jours ». 12,000 € HT a year from 10 May 2026 to 15 February 2027."""
    billed = quarters(day(2026, 5, 10), day(2027, 2, 15))
    assert [(q.label, q.last_day, q.days) for q in billed] == [
        ("T2 2026", day(2026, 6, 30), 51), ("T3 2026", day(2026, 9, 30), 90),
        ("T4 2026", day(2026, 12, 31), 90), ("T1 2027", day(2027, 3, 31), 45)]
    amounts = [quarter_amount(D("12000"), q)[0] for q in billed]
    assert amounts == [D("1700.00"), D("3000.00"), D("3000.00"), D("1500.00")]  # 3,000 × 51/90 = 1,700
    assert quarter_amount(D("12000"), billed[0])[1] == (
        "12\u202f000 € HT / 4 × 51 / 90 jours (mois de 30 jours, du 10/05/2026 au 30/06/2026) = 1\u202f700,00 €")


def test_an_awkward_prorata_is_rounded_half_up_to_the_cent():
    [q] = quarters(day(2026, 1, 1), day(2026, 1, 1))
    assert q.days == 1 and quarter_amount(D("1000.00"), q)[0] == D("2.78")  # 250 / 90 = 2.7777…


# --------------------------------------------------------------------------- IX.5


def test_acomptes_stay_within_the_services_done_and_70_percent_of_the_order():
    """IX.5: « la valeur de chaque acompte ne peut dépasser la valeur des prestations auxquelles il se
    rapporte. Le cumul des acomptes ne peut être supérieur à 70 % du montant total du bon de commande »."""
    order = D("10000.00")
    assert acompte_ceiling(order, D("0"), D("3000.00")) == D("3000.00")  # the services done
    assert acompte_ceiling(order, D("3000.00"), D("9000.00")) == D("4000.00")  # 7,000 - 3,000
    assert acompte_ceiling(order, D("7000.00"), D("9500.00")) == D("0.00")  # the balance after verification
    assert acompte_ceiling(D("333.33"), D("0"), D("333.33")) == D("233.33")  # 70 % = 233.331
    with pytest.raises(BillingRuleError):
        acompte_ceiling(order, D("-1"), D("10"))


# --------------------------------------------------------------------------- IX.7


def test_payment_is_due_thirty_days_after_the_invoice_or_the_later_end_of_execution():
    assert payment_due_on(day(2026, 3, 2)) == day(2026, 4, 1)
    assert payment_due_on(day(2026, 3, 2), executed_on=day(2026, 3, 20)) == day(2026, 4, 19)
    assert payment_due_on(day(2026, 3, 20), executed_on=day(2026, 3, 2)) == day(2026, 4, 19)


ECB = {day(2025, 6, 11): D("2.15"), day(2023, 9, 20): D("4.50"), day(2024, 6, 12): D("4.25")}


def test_late_interest_at_the_ecb_rate_of_the_semester_plus_eight_points_and_the_40_euros():
    """IX.7: the ECB main refinancing rate « en vigueur au premier jour du semestre de l'année civile au cours
    duquel les intérêts moratoires ont commencé à courir, majoré de huit points », and « une indemnité
    forfaitaire pour frais de recouvrement de 40€ ». 12,000 € TTC due 30 June 2026, paid 14 August 2026: the
    interest starts on 1 July, the semester's first day is 1 July 2026 (rate 2.15 % since 11 June 2025)."""
    late = late_payment(D("12000.00"), day(2026, 6, 30), day(2026, 8, 14), ECB)
    assert (late.days_late, late.ecb_rate, late.rate) == (45, D("2.15"), D("10.15"))
    assert late.interest == D("150.16")  # 12,000 × 10.15 % × 45 / 365 = 150.1644
    assert late.indemnity == D("40.00") and late.total == D("190.16")
    assert "10,15 %" in late.computation and "45 jours / 365" in late.computation


def test_the_rate_is_the_one_of_the_semester_start_not_of_the_payment():
    """Due 31 December 2024, interest from 1 January 2025: the rate in force on 1 January 2025 (4.25 % since
    June 2024), although it fell to 2.15 % before the payment."""
    late = late_payment(D("1000.00"), day(2024, 12, 31), day(2025, 7, 1), ECB)
    assert (late.ecb_rate, late.rate, late.days_late) == (D("4.25"), D("12.25"), 182)
    assert late.interest == D("61.08")  # 1,000 × 12.25 % × 182 / 365 = 61.0822


def test_an_invoice_paid_on_time_owes_nothing_and_an_unknown_rate_is_an_error():
    assert late_payment(D("1000.00"), day(2026, 6, 30), day(2026, 6, 30), ECB) is None
    with pytest.raises(BillingRuleError, match="BCE"):
        late_payment(D("1000.00"), day(2020, 6, 30), day(2020, 8, 1), ECB)


# --------------------------------------------------------------------------- VIII


def test_the_two_penalty_formulas():
    """VIII.3 P = V × R / 100, R the overrun in percent (a 4-hour delay taken in 5 hours: R = 25); VIII.4
    P = V × R / 500, R the days or hours late."""
    calls = penalty("VIII.3", D("2400.00"), D("25"))
    assert calls.amount == D("600.00") and calls.computation == "2\u202f400,00 € × 25% / 100 = 600,00 €"
    works = penalty("VIII.4", D("8333.33"), D("3"))
    assert works.amount == D("50.00")  # 8,333.33 × 3 / 500 = 49.99998
    with pytest.raises(BillingRuleError, match="Article"):
        penalty("VIII.9", D("1"), D("1"))


@pytest.mark.parametrize("cause", sorted(EXEMPTIONS))
def test_each_exemption_of_viii5_cancels_the_penalty_with_its_justification(cause):
    exempt = penalty("VIII.4", D("10000.00"), D("4"), exemption=cause, justification="Coupure EDF du 3 mars")
    assert exempt.amount == D("0.00") and exempt.exemption == cause
    assert EXEMPTIONS[cause] in exempt.computation
    with pytest.raises(BillingRuleError, match="justifiée"):
        penalty("VIII.4", D("10000.00"), D("4"), exemption=cause)


def test_penalties_are_capped_at_the_amount_ordered():
    """VIII.1: « le montant des pénalités exigible est limité au montant hors taxes effectivement commandé »."""
    assert cap_penalties([D("600"), D("500"), D("300")], D("1000")) == [D("600.00"), D("400.00"), D("0.00")]
    assert cap_penalties([D("50")], D("1000"), already_applied=D("980")) == [D("20.00")]
    assert observations_end(day(2026, 3, 1)) == day(2026, 3, 31)  # then deemed accepted


# --------------------------------------------------------------------------- IX.2


INDEX = {day(2025, 1, 15): D("130.2"), day(2025, 9, 15): D("133.9"), day(2025, 12, 15): D("135.0"),
         day(2026, 2, 15): D("136.1")}


# --------------------------------------------------------------------------- VIII.1 and CCTP CPAM 5-7: the deductions


class _Row:
    def __init__(self, rate: str, ht: str) -> None:
        self.vat_rate, self.total_ht, self.amount_ht = D(rate), D(ht), D(ht)


def test_the_bases_left_per_rate_are_the_lines_less_the_allowances_made():
    lines = [_Row("20.00", "8000.00"), _Row("20.00", "934.50"), _Row("5.50", "9000.00")]
    assert bases_left(lines) == {D("20.00"): D("8934.50"), D("5.50"): D("9000.00")}
    assert bases_left(lines, [_Row("5.50", "120.00")]) == {D("20.00"): D("8934.50"), D("5.50"): D("8880.00")}


def test_penalties_are_deducted_whole_on_the_largest_base_or_wait():
    # CCP TGD VIII.1 « vient en déduction des paiements »: 8 934,50 € HT at 20 %; 54,51 € fits (VAT 10,90 €),
    # 9 000,00 € does not and waits for the next invoice, 120,00 € still fits after it.
    got = deduct_allowances({D("20.00"): D("8934.50"), D("5.50"): D("100.00")},
                            [D("54.51"), D("9000.00"), D("120.00")], whole=True)
    assert got == [Deduction(D("54.51"), D("54.51"), D("20.00"), D("10.90"), D("8934.50")), None,
                   Deduction(D("120.00"), D("120.00"), D("20.00"), D("24.00"), D("8879.99"))]
    assert not got[0].cut


def test_a_subsidy_is_cut_to_what_is_left_and_the_next_ones_wait():
    # CCTP CPAM 5-7 « déduites directement de la facture »: 3 000,00 € then 2 000,00 € on 4 000,00 € left at 5,5 %:
    # the second is cut to 1 000,00 € (VAT 55,00 €), a third finds nothing.
    got = deduct_allowances({D("5.50"): D("4000.00")}, [D("3000.00"), D("2000.00"), D("10.00")], whole=False)
    assert got == [Deduction(D("3000.00"), D("3000.00"), D("5.50"), D("165.00"), D("4000.00")),
                   Deduction(D("2000.00"), D("1000.00"), D("5.50"), D("55.00"), D("1000.00")), None]
    assert got[1].cut
    # Two equal bases: the higher rate carries it; VAT rounded half-up (33,33 × 10 % = 3,333 → 3,33).
    assert deduct_allowances({D("10.00"): D("50.00"), D("5.50"): D("50.00")}, [D("33.33")], whole=False) == [
        Deduction(D("33.33"), D("33.33"), D("10.00"), D("3.33"), D("50.00"))]
    # No line, or a base already used up by the penalties: nothing is deducted.
    assert deduct_allowances({}, [D("1.00")], whole=True) == [None]
    assert deduct_allowances({D("20.00"): D("0.00")}, [D("1.00")], whole=False) == [None]


def test_the_revision_formula_with_the_indexes_of_the_signature_and_three_months_before_the_start():
    """IX.2: « P = P0 (0,30 + 0,70 Ing / Ing0) », Ing0 the last published at the signature, Ing « lu à une date
    antérieure de trois mois à la date de début d'exécution ». Signed 1 March 2025 (Ing0 = 130.2), started
    10 March 2026: Ing read on 10 December 2025 = 133.9 (published 15 September)."""
    revision = revise_price(D("1250.0000"), priced_on=day(2025, 3, 1), starts_on=day(2026, 3, 10), index=INDEX)
    assert revision.applies and (revision.ing0, revision.ing) == (D("130.2"), D("133.9"))
    assert revision.revised == D("1274.8656")  # 1,250 × (0.30 + 0.70 × 133.9 / 130.2) = 1,274.86559…
    assert "(0,30 + 0,70 × 133,9 (09/2025) / 130,2 (01/2025))" in revision.computation


def test_prices_are_firm_within_three_months():
    firm = revise_price(D("99.5000"), priced_on=day(2025, 12, 1), starts_on=day(2026, 3, 1), index=INDEX)
    assert not firm.applies and firm.revised == D("99.5000") and "ferme" in firm.computation
    with pytest.raises(BillingRuleError, match="index"):
        revise_price(D("1"), priced_on=day(2024, 1, 1), starts_on=day(2026, 1, 1), index=INDEX)
