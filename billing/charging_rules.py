"""The pure rules of paid charging and of the ADVENIR subsidy (issue 15 §5): no database, ``Decimal`` only.

* **A session's price** (CCTP CPAM 5-5-5-2 « rendre la charge payante »): energy in kWh × the price per kWh +
  duration in minutes × the price per minute + the price per session. Energy is the meter difference in Wh / 1000
  (unknown: 0 kWh, said in the computation); duration is the plug time from start to stop, to the second
  (seconds / 60). The sum is rounded **once, half-up to the cent** (``ROUND_HALF_UP``: 0,125 € → 0,13 €), never each
  term, so the computation printed on the statement adds up.
* **The tariff of a session**: the tariff of the session's badge population (the badge's kind in the supervision:
  agent, vehicle, site) in force on the day the session started (in the tenant's zone), else the tariff for every
  badge (population "") in force that day; None: the session is free.
* **ADVENIR** (CCTP CPAM 5-7 « la somme déduite devra être justifiée par le calcul établi sur le site ADVENIR »):
  points × amount per point, capped by the attestation's ceiling, and never more than the invoice's base HT.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol, TypeVar

__all__ = ["ADVENIR_STATUSES", "ENTRY_KINDS", "PAYMENT_STATUSES", "POPULATIONS", "Price", "TariffLike", "advenir_amount", "fr_money", "price_session", "tariff_for"]

CENT = Decimal("0.01")
#: The badge populations a tariff may target: csms's badge kinds (``csms.domain.models.Badge.kind``).
POPULATIONS = {"": "Tous les badges", "agent": "Badges des agents", "vehicle": "Badges de véhicule de service",
               "site": "Badges de site"}

#: The words of the stored codes (pages, the audit log).
ENTRY_KINDS = {"topup": "Crédit", "charge": "Recharge"}
PAYMENT_STATUSES = {"pending": "en cours", "completed": "payé", "failed": "refusé"}
ADVENIR_STATUSES = {"recorded": "à déduire", "deducted": "déduite", "cancelled": "annulée"}


def fr_money(value: Decimal) -> str:
    """« 1 234,56 € » (a narrow no-break space between thousands)."""
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + " €"


def _fr(value: Decimal) -> str:
    return f"{value.normalize():f}".replace(".", ",")


class TariffLike(Protocol):
    population: str
    per_kwh: Decimal
    per_minute: Decimal
    per_session: Decimal
    valid_from: dt.date
    valid_to: dt.date | None


T = TypeVar("T", bound=TariffLike)


@dataclass(frozen=True)
class Price:
    amount: Decimal
    kwh: Decimal
    minutes: Decimal
    computation: str


def price_session(tariff: TariffLike, *, energy_wh: int | None, seconds: float) -> Price:
    """The amount of one session under ``tariff``, with its computation in French."""
    kwh = Decimal(max(energy_wh or 0, 0)) / 1000
    minutes = Decimal(max(int(round(seconds)), 0)) / 60
    exact = kwh * tariff.per_kwh + minutes * tariff.per_minute + tariff.per_session
    amount = exact.quantize(CENT, rounding=ROUND_HALF_UP)
    energy = f"{_fr(kwh)} kWh" if energy_wh is not None else "0 kWh (énergie non relevée)"
    shown_minutes = minutes.quantize(CENT, rounding=ROUND_HALF_UP)
    computation = (f"{energy} × {_fr(tariff.per_kwh)} € + {_fr(shown_minutes)} min × {_fr(tariff.per_minute)} € + "
                   f"{_fr(tariff.per_session)} € par recharge = {fr_money(amount)} (arrondi au centime, "
                   "le demi-centime vers le haut)")
    return Price(amount, kwh, minutes, computation)


def _in_force(tariff: TariffLike, day: dt.date) -> bool:
    return tariff.valid_from <= day and (tariff.valid_to is None or day <= tariff.valid_to)


def tariff_for(tariffs: Iterable[T], population: str, day: dt.date) -> T | None:
    """The tariff of ``population`` in force on ``day`` (the latest starting one if several overlap), else the
    tariff for every badge in force that day, else None."""
    valid = [t for t in tariffs if _in_force(t, day)]
    for wanted in dict.fromkeys((population, "")):
        found = [t for t in valid if t.population == wanted]
        if found:
            return max(found, key=lambda t: t.valid_from)
    return None


def advenir_amount(points: int, amount_per_point: Decimal, cap: Decimal,
                   bases: Sequence[Decimal] = ()) -> tuple[Decimal, str]:
    """(the subsidy deducted HT, its computation): points × amount per point, capped by the attestation's ceiling
    (and by the invoice's base HT when ``bases`` are given)."""
    gross = (amount_per_point * points).quantize(CENT, rounding=ROUND_HALF_UP)
    amount = min(gross, cap).quantize(CENT)
    text = f"{points} point{'s' if points > 1 else ''} de charge × {fr_money(amount_per_point)} = {fr_money(gross)}"
    if gross > cap:
        text += f", plafonné à {fr_money(cap)}"
    if bases:
        room = max(bases)
        if amount > room:
            amount = room
            text += f", limité à la base HT de la facture {fr_money(room)}"
    return amount, f"{text} : {fr_money(amount)} HT déduits (CCTP CPAM 5-7)"
