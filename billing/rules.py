"""The money rules of invoicing, pure: no database, no current time (dates are parameters).

Transcribed from CCP Justice TGD outre-mer (``../shared/reference/ccp-justice-tgd-outre-mer.txt``):

- IX.4 « le paiement des prestations continues (...) est effectué trimestriellement, à terme civil échu - à
  savoir le 31 mars, 30 juin, 30 septembre et 31 décembre - et, en cas de trimestre incomplet, le montant est
  calculé prorata temporis, sur la base de mois réputés être de trente jours »: ``quarters`` and
  ``quarter_amount``;
- IX.5 « la valeur de chaque acompte ne peut dépasser la valeur des prestations auxquelles il se rapporte. Le
  cumul des acomptes ne peut être supérieur à 70 % du montant total du bon de commande »: ``acompte_ceiling``;
- IX.7 payment « dans un délai de trente jours maximum à compter de la date de réception de la demande de
  paiement (...) ou de la date de fin d'exécution des prestations si cette dernière est postérieure », interest
  at « le taux (...) de la Banque centrale européenne à ses opérations principales de refinancement les plus
  récentes, en vigueur au premier jour du semestre de l'année civile au cours duquel les intérêts moratoires
  ont commencé à courir, majoré de huit points », and « une indemnité forfaitaire pour frais de recouvrement
  de 40€ »: ``payment_due_on`` and ``late_payment``;
- VIII.3 P = V × R / 100 (R the overrun of the delay in percent) and VIII.4 P = V × R / 500 (R the days or
  hours late), VIII.1 « le montant des pénalités exigible est limité au montant hors taxes effectivement
  commandé », VIII.5's four exemptions, and VIII.1's thirty days for observations: ``penalty``,
  ``cap_penalties``, ``observations_end``;
- VIII.1 « Le montant des pénalités ainsi établies vient en déduction des paiements » and CCTP CPAM 5-7's ADVENIR
  subsidy « déduites directement de la facture »: both are document-level allowances (EN 16931 BG-20) taken off
  the invoice's bases by ``deduct_allowances`` (``bases_left`` gives the bases);
- IX.2 P = P0 × (0,30 + 0,70 × Ing / Ing0), when more than three months pass between the prices' date and the
  start of execution, Ing0 « la dernière publiée à la date d'établissement des prix » and Ing « lu à une date
  antérieure de trois mois à la date de début d'exécution »: ``revise_price``.

Amounts are ``Decimal``; every amount returned is rounded half-up to the cent by ``app.money`` (unit prices to
1/10,000, the BPU's scale); each result carries what a person needs to check it (``computation``, in French).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.money import cents as money
from app.money import unit_price

__all__ = [
    "ACOMPTE_SHARE",
    "EXEMPTIONS",
    "FIXED_RECOVERY_INDEMNITY",
    "LATE_INTEREST_MARGIN",
    "OBSERVATION_DAYS",
    "PAYMENT_DAYS",
    "BillingRuleError",
    "Deduction",
    "LatePayment",
    "Penalty",
    "Quarter",
    "Revision",
    "acompte_ceiling",
    "bases_left",
    "cap_penalties",
    "days_30",
    "deduct_allowances",
    "index_on",
    "late_payment",
    "money",
    "observations_end",
    "payment_due_on",
    "penalty",
    "quarter_amount",
    "quarters",
    "revise_price",
    "unit_price",
]

#: IX.5: « Le cumul des acomptes ne peut être supérieur à 70 % du montant total du bon de commande ».
ACOMPTE_SHARE = Decimal("0.70")
#: IX.7: « dans un délai de trente jours maximum ».
PAYMENT_DAYS = 30
#: IX.7: « majoré de huit points de pourcentage ».
LATE_INTEREST_MARGIN = Decimal("8")
#: IX.7: « une indemnité forfaitaire pour frais de recouvrement de 40€ ».
FIXED_RECOVERY_INDEMNITY = Decimal("40.00")
#: VIII.1: « un délai de trente jours pour présenter ses observations ».
OBSERVATION_DAYS = 30
#: VIII.5: the causes that exempt the titulaire from a penalty, when it shows them.
EXEMPTIONS: Mapping[str, str] = {
    "buyer-fault": "Faute de l'administration (indisponibilité des équipes notamment)",
    "third-party": "Dysfonctionnement d'un logiciel ou d'un matériel tiers non couvert par la prestation",
    "power": "Variation du courant électrique",
    "network": "Défaillance du réseau de télécommunications",
}


class BillingRuleError(ValueError):
    """Input that the rule cannot apply to, with the reason in French (shown to the person who typed it)."""


def _fr(value: Decimal) -> str:
    return f"{value:,}".replace(",", "\u202f").replace(".", ",")


# --------------------------------------------------------------------------- IX.4 continuous services


@dataclass(frozen=True)
class Quarter:
    """A civil quarter (IX.4 « à terme civil échu ») and the part of it that was served."""

    year: int
    number: int  # 1..4
    first_day: dt.date
    last_day: dt.date
    served_from: dt.date
    served_to: dt.date
    #: Days served counted on months of thirty days (at most 90).
    days: int

    @property
    def label(self) -> str:
        return f"T{self.number} {self.year}"

    @property
    def complete(self) -> bool:
        return self.days == 90


def _day_30(day: dt.date, *, end: bool) -> int:
    """The day's place in its month on a 30-day month: the 31st is the 30th, and the last day of a month
    (28 or 29 February) closes it at 30 when it ends a period."""
    last = calendar.monthrange(day.year, day.month)[1]
    if end and day.day == last:
        return 30
    return min(day.day, 30)


def days_30(start: dt.date, end: dt.date) -> int:
    """Days from ``start`` to ``end`` inclusive, « sur la base de mois réputés être de trente jours »: a whole
    month counts 30, 1–15 January 15, 15–28 February (its end) 16, 1 January–31 March 90."""
    if end < start:
        return 0
    months = (end.year - start.year) * 12 + end.month - start.month
    return months * 30 + _day_30(end, end=True) - _day_30(start, end=False) + 1


def quarters(start: dt.date, end: dt.date) -> list[Quarter]:
    """The civil quarters a continuous service from ``start`` to ``end`` (inclusive) is billed on, each with
    its days served on 30-day months."""
    if end < start:
        raise BillingRuleError("La fin de la période précède son début.")
    result = []
    year, number = start.year, (start.month - 1) // 3 + 1
    while True:
        first = dt.date(year, 3 * number - 2, 1)
        last_month = 3 * number
        last = dt.date(year, last_month, calendar.monthrange(year, last_month)[1])
        if first > end:
            return result
        served_from, served_to = max(first, start), min(last, end)
        result.append(Quarter(year, number, first, last, served_from, served_to, days_30(served_from, served_to)))
        year, number = (year + 1, 1) if number == 4 else (year, number + 1)


def quarter_amount(annual_ht: Decimal, quarter: Quarter) -> tuple[Decimal, str]:
    """The quarter's amount HT of a service priced per year: a quarter of it, prorata temporis on 90 days for
    an incomplete one (IX.4)."""
    amount = money(annual_ht * quarter.days / Decimal(360))
    if quarter.complete:
        return amount, f"{_fr(annual_ht)} € HT / 4 = {_fr(amount)} €"
    return amount, (f"{_fr(annual_ht)} € HT / 4 × {quarter.days} / 90 jours (mois de 30 jours, du "
                    f"{quarter.served_from:%d/%m/%Y} au {quarter.served_to:%d/%m/%Y}) = {_fr(amount)} €")


# --------------------------------------------------------------------------- IX.5 acomptes


def acompte_ceiling(order_total_ht: Decimal, already_paid_ht: Decimal, progress_value_ht: Decimal) -> Decimal:
    """The largest acompte that may be paid now: no more than the value of the services it pays for (the
    « constat d'avancement » less what earlier acomptes paid), and the sum of acomptes within 70 % of the
    order."""
    if min(order_total_ht, already_paid_ht, progress_value_ht) < 0:
        raise BillingRuleError("Les montants d'un acompte sont positifs.")
    room = money(order_total_ht * ACOMPTE_SHARE) - already_paid_ht
    return max(Decimal("0.00"), money(min(progress_value_ht - already_paid_ht, room)))


# --------------------------------------------------------------------------- IX.7 payment and late interest


def payment_due_on(received_on: dt.date, executed_on: dt.date | None = None) -> dt.date:
    """Thirty days from the receipt of the invoice, or from the end of execution (the date the buyer certified
    the services, VII) when it is later."""
    start = max(received_on, executed_on) if executed_on is not None else received_on
    return start + dt.timedelta(days=PAYMENT_DAYS)


def _semester_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 1 if day.month <= 6 else 7, 1)


def _rate_on(rates: Mapping[dt.date, Decimal], day: dt.date) -> tuple[dt.date, Decimal]:
    known = [since for since in rates if since <= day]
    if not known:
        raise BillingRuleError(f"Aucun taux de la BCE connu au {day:%d/%m/%Y}.")
    since = max(known)
    return since, rates[since]


@dataclass(frozen=True)
class LatePayment:
    """Interest owed on an invoice paid late (IX.7), and the €40 indemnity."""

    due_on: dt.date
    paid_on: dt.date
    days_late: int
    ecb_rate: Decimal  # percent, in force on the first day of the semester the interest began to run
    rate: Decimal  # ecb_rate + 8
    interest: Decimal
    indemnity: Decimal
    computation: str

    @property
    def total(self) -> Decimal:
        return self.interest + self.indemnity


def late_payment(amount_ttc: Decimal, due_on: dt.date, paid_on: dt.date,
                 ecb_rates: Mapping[dt.date, Decimal]) -> LatePayment | None:
    """None when paid in time. Interest runs from the day after the due date to the payment, on a 365-day
    year (décret 2013-269 art. 8: « taux d'intérêt (...) majoré de huit points »); ``ecb_rates`` maps the date
    from which each main refinancing rate applies to it, in percent."""
    if paid_on <= due_on:
        return None
    days = (paid_on - due_on).days
    first_day = due_on + dt.timedelta(days=1)
    semester = _semester_start(first_day)
    _since, ecb = _rate_on(ecb_rates, semester)
    rate = ecb + LATE_INTEREST_MARGIN
    interest = money(amount_ttc * rate / 100 * days / 365)
    computation = (f"{_fr(amount_ttc)} € × ({_fr(ecb)} % BCE au {semester:%d/%m/%Y} + 8 points = {_fr(rate)} %) "
                   f"× {days} jours / 365 = {_fr(interest)} € ; indemnité forfaitaire "
                   f"{_fr(FIXED_RECOVERY_INDEMNITY)} €")
    return LatePayment(due_on, paid_on, days, ecb, rate, interest, FIXED_RECOVERY_INDEMNITY, computation)


# --------------------------------------------------------------------------- VIII penalties


@dataclass(frozen=True)
class Penalty:
    """One penalty (VIII.3 or VIII.4), or its exemption (VIII.5) with the titulaire's justification."""

    article: str  # "VIII.3" | "VIII.4"
    value_ht: Decimal  # V: the order's amount HT
    lateness: Decimal  # R: percent over the delay (VIII.3), days or hours late (VIII.4)
    amount: Decimal
    computation: str
    exemption: str = ""
    justification: str = ""


def penalty(article: str, value_ht: Decimal, lateness: Decimal, *, exemption: str = "",
            justification: str = "") -> Penalty:
    """VIII.3 « P = V × R / 100 » (calls of the téléassistance, R the overrun in percent of the delay) or VIII.4
    « P = V × R / 500 » (other services, R the days or hours late). An exemption of VIII.5 makes it 0, kept
    with its reason and justification."""
    divisor = {"VIII.3": Decimal(100), "VIII.4": Decimal(500)}.get(article)
    if divisor is None:
        raise BillingRuleError("Article de pénalité inconnu : VIII.3 (appels) ou VIII.4 (autres services).")
    if value_ht < 0 or lateness < 0:
        raise BillingRuleError("La valeur pénalisée et le retard sont positifs.")
    unit = "%" if article == "VIII.3" else ""
    formula = f"{_fr(value_ht)} € × {_fr(lateness)}{unit} / {divisor}"
    if exemption:
        if exemption not in EXEMPTIONS:
            raise BillingRuleError("Cause d'exonération inconnue (article VIII.5).")
        if not justification.strip():
            raise BillingRuleError("Une exonération (article VIII.5) est justifiée par le titulaire.")
        return Penalty(article, value_ht, lateness, Decimal("0.00"),
                       f"{formula} : exonérée (VIII.5 — {EXEMPTIONS[exemption]})", exemption, justification.strip())
    amount = money(value_ht * lateness / divisor)
    return Penalty(article, value_ht, lateness, amount, f"{formula} = {_fr(amount)} €")


def cap_penalties(amounts: Iterable[Decimal], ordered_ht: Decimal, already_applied: Decimal = Decimal("0")
                  ) -> list[Decimal]:
    """VIII.1: the penalties due, in order, so that all of them (with those already applied) stay within the
    amount HT ordered under the agreement; a penalty past the cap is cut, the next ones are 0."""
    room = max(Decimal("0"), ordered_ht - already_applied)
    capped = []
    for amount in amounts:
        kept = min(amount, room)
        capped.append(money(kept))
        room -= kept
    return capped


@dataclass(frozen=True)
class Deduction:
    """One allowance taken off an invoice: ``asked_ht`` what was to deduct, ``amount_ht`` what is (less when cut to
    ``room_ht``, the base HT that was left at ``vat_rate``), and the VAT it takes off with it."""

    asked_ht: Decimal
    amount_ht: Decimal
    vat_rate: Decimal
    total_vat: Decimal
    room_ht: Decimal

    @property
    def cut(self) -> bool:
        return self.amount_ht < self.asked_ht


def bases_left(lines: Iterable[Any], allowances: Iterable[Any] = ()) -> dict[Decimal, Decimal]:
    """Per VAT rate, the lines' amounts HT less the allowances already made at that rate (BT-116 before VAT)."""
    bases: dict[Decimal, Decimal] = {}
    for line in lines:
        bases[line.vat_rate] = bases.get(line.vat_rate, Decimal("0.00")) + line.total_ht
    for allowance in allowances:
        bases[allowance.vat_rate] = bases.get(allowance.vat_rate, Decimal("0.00")) - allowance.amount_ht
    return bases


def deduct_allowances(bases: Mapping[Decimal, Decimal], asked: Iterable[Decimal], *, whole: bool
                      ) -> list[Deduction | None]:
    """The allowances ``asked``, in order, taken off the invoice's bases HT per VAT rate (``bases_left``): each at
    the rate of the largest base (the higher rate on a tie; EN 16931 BT-96 needs one rate per allowance), its VAT
    at that rate rounded to the cent, so that the invoice's amount HT never goes below zero.

    ``whole`` (penalties, CCP TGD VIII.1): an allowance larger than what is left is not deducted (``None``: it waits
    for the next invoice) and a later, smaller one still may be. Otherwise (the ADVENIR subsidy, CCTP CPAM 5-7) an
    allowance is cut to what is left and the ones after an exhausted base are ``None``."""
    amounts = list(asked)
    if not bases:
        return [None] * len(amounts)
    rate = max(bases, key=lambda r: (bases[r], r))
    room = bases[rate]
    out: list[Deduction | None] = []
    for amount in amounts:
        kept = amount if amount <= room else (None if whole or room <= 0 else room)
        if kept is None or kept <= 0:
            out.append(None)
            continue
        out.append(Deduction(amount, kept, rate, money(kept * rate / 100), room))
        room -= kept
    return out


def observations_end(notified_on: dt.date) -> dt.date:
    """VIII.1: the titulaire may present observations for thirty days after the notification; « passé ce
    délai, il est réputé avoir accepté les pénalités » (deducted from the next payment from the day after)."""
    return notified_on + dt.timedelta(days=OBSERVATION_DAYS)


# --------------------------------------------------------------------------- IX.2 price revision


def _months_before(day: dt.date, months: int) -> dt.date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def index_on(index: Mapping[dt.date, Decimal], day: dt.date) -> tuple[dt.date, Decimal]:
    """The last index value published on or before ``day`` (``index`` maps publication dates to values)."""
    published = [on for on in index if on <= day]
    if not published:
        raise BillingRuleError(f"Aucune valeur de l'index publiée au {day:%d/%m/%Y}.")
    on = max(published)
    return on, index[on]


@dataclass(frozen=True)
class Revision:
    """IX.2: a price made current, or left as it is when three months did not pass."""

    initial: Decimal
    revised: Decimal
    applies: bool
    ing0: Decimal | None
    ing: Decimal | None
    coefficient: Decimal | None
    computation: str


def revise_price(initial: Decimal, *, priced_on: dt.date, starts_on: dt.date,
                 index: Mapping[dt.date, Decimal]) -> Revision:
    """P = P0 × (0,30 + 0,70 × Ing / Ing0): Ing0 the index last published on the date the prices were set (the
    signature of the acte d'engagement), Ing the one published three months before the start of execution;
    only « si un délai supérieur à trois mois s'écoule » between the two dates."""
    if _months_before(starts_on, 3) <= priced_on:
        return Revision(initial, initial, False, None, None, None,
                        "Prix ferme : moins de trois mois entre l'établissement des prix et le début d'exécution.")
    ing0_on, ing0 = index_on(index, priced_on)
    ing_on, ing = index_on(index, _months_before(starts_on, 3))
    if ing0 <= 0:
        raise BillingRuleError("L'index de référence Ing0 est positif.")
    coefficient = Decimal("0.30") + Decimal("0.70") * ing / ing0
    revised = unit_price(initial * coefficient)
    shown = coefficient.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    return Revision(initial, revised, True, ing0, ing, coefficient,
                    f"{_fr(initial)} € × (0,30 + 0,70 × {_fr(ing)} ({ing_on:%m/%Y}) / {_fr(ing0)} "
                    f"({ing0_on:%m/%Y})) = {_fr(initial)} € × {_fr(shown)} = {_fr(revised)} €")
