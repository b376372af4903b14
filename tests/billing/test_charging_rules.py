"""The pure rules of paid charging and of the ADVENIR subsidy (``billing.charging_rules``, issue 15 §5) on worked
numbers: a session's price (CCTP CPAM 5-5-5-2) rounded once, half-up to the cent; the tariff of a badge population
in force on the session's day; ADVENIR's points × amount per point under the attestation's ceiling (5-7)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from billing.charging_rules import advenir_amount, price_session, tariff_for


@dataclass
class Tariff:
    population: str
    per_kwh: Decimal
    per_minute: Decimal = Decimal("0")
    per_session: Decimal = Decimal("0")
    valid_from: dt.date = dt.date(2026, 1, 1)
    valid_to: dt.date | None = None


def test_a_session_is_priced_on_energy_duration_and_session_then_rounded_once_half_up():
    # CCTP CPAM 5-5-5-2: 3,2 kWh × 0,30 + 45 min × 0,02 + 0,50 = 0,96 + 0,90 + 0,50 = 2,36 €.
    agents = Tariff("agent", Decimal("0.30"), Decimal("0.02"), Decimal("0.50"))
    price = price_session(agents, energy_wh=3200, seconds=2700)
    assert (price.amount, price.kwh, price.minutes) == (Decimal("2.36"), Decimal("3.2"), Decimal("45"))
    assert price.computation.startswith("3,2 kWh × 0,3 € + 45 min × 0,02 € + 0,5 € par recharge = 2,36 €")
    # Half-up, not half-even: 0,5 kWh × 0,25 € = 0,125 € → 0,13 € (banker's rounding would give 0,12 €).
    assert price_session(Tariff("", Decimal("0.25")), energy_wh=500, seconds=0).amount == Decimal("0.13")
    # Rounded once on the sum, never per term: 1 kWh × 0,1234 + 1 min × 0,0033 = 0,1267 → 0,13 € (per term: 0,12 €).
    assert price_session(Tariff("", Decimal("0.1234"), Decimal("0.0033")), energy_wh=1000,
                         seconds=60).amount == Decimal("0.13")
    # The duration counts to the second: 90 s at 0,02 € a minute = 0,03 €.
    assert price_session(Tariff("", Decimal("0"), Decimal("0.02")), energy_wh=0, seconds=90).amount == Decimal("0.03")
    # An unknown energy counts as 0 kWh, and says so.
    unknown = price_session(agents, energy_wh=None, seconds=600)
    assert unknown.amount == Decimal("0.70") and "énergie non relevée" in unknown.computation


def test_the_tariff_of_the_badge_population_in_force_on_the_day_else_the_one_of_every_badge():
    old = Tariff("agent", Decimal("0.20"), valid_from=dt.date(2026, 1, 1), valid_to=dt.date(2026, 10, 31))
    new = Tariff("agent", Decimal("0.30"), valid_from=dt.date(2026, 11, 1))
    everyone = Tariff("", Decimal("0.40"), valid_from=dt.date(2026, 6, 1))
    tariffs = [old, new, everyone]
    assert tariff_for(tariffs, "agent", dt.date(2026, 10, 31)) is old
    assert tariff_for(tariffs, "agent", dt.date(2026, 11, 1)) is new
    assert tariff_for(tariffs, "vehicle", dt.date(2026, 11, 1)) is everyone
    assert tariff_for(tariffs, "vehicle", dt.date(2026, 5, 31)) is None  # free: no tariff yet
    assert tariff_for(tariffs, "", dt.date(2026, 7, 1)) is everyone


def test_advenir_points_times_amount_per_point_under_the_ceiling_and_the_invoice_base():
    # CCTP CPAM 5-7 « la somme déduite devra être justifiée par le calcul établi sur le site ADVENIR ».
    amount, text = advenir_amount(2, Decimal("960.00"), Decimal("3000.00"))
    assert amount == Decimal("1920.00")
    assert text == "2 points de charge × 960,00 € = 1\u202f920,00 € : 1\u202f920,00 € HT déduits (CCTP CPAM 5-7)"
    amount, text = advenir_amount(4, Decimal("960.00"), Decimal("3000.00"))
    assert amount == Decimal("3000.00") and ", plafonné à 3\u202f000,00 €" in text
    amount, text = advenir_amount(4, Decimal("960.00"), Decimal("3000.00"), [Decimal("2500.00"), Decimal("10.00")])
    assert amount == Decimal("2500.00") and "limité à la base HT de la facture 2\u202f500,00 €" in text
