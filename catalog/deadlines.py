"""The deadlines of ordering (issue 14 §2–§3), without a database (``today`` / ``now`` and calendars passed in).

* Quotes and works, CCTP CPAM de la Sarthe: 5-1-4 « Le délai maximal entre la réalisation de la visite
  de site et l'émission du devis est de 14 jours ouvrables »; 5-2 « Le délai maximal entre la validation
  du devis et le début des travaux est de 21 jours ouvrables »; 5-3-1 « La réception des travaux sera
  faite dans les 14 jours calendaires qui suivent la mise en service de l'IRVE ». Jours ouvrables are
  Monday to Saturday without the public holidays of the tenant's territory (``BusinessCalendar``).
* Amendments, CCP TGD VI.3: « Les modificatifs sont notifiés dix jours au plus tard avant la date
  souhaitée de leur prise d'effet. Le titulaire dispose de cinq jours à compter de la notification pour
  adresser à l'administration toutes observations […]. Passé ce délai, le titulaire est réputé en avoir
  accepté les conditions d'exécution. »
* Delivery decisions, CCP TGD VII.1 (the « bordereau de mise à disposition » opens the verification) and
  VII.3: réception, ajournement, réception avec réfaction or rejet, or a réception « assortie de réserves »
  with « un délai fixé par la décision »; « le délai pour prononcer une décision est de quinze jours
  calculés à compter de la fin des opérations définies à l'article VII.2 ».
* The TGD's days are calendar days counted as the CCAG-TIC it applies says (article 3.2, kept by CCP
  X.4 and X.10): from the day after the event, ending at the end of the last day, carried to the end of
  the next working day when the last one is a Saturday, a Sunday or a public holiday.
* Recurring maintenance, CCTP CAIH 2.1.32: the first order « doit intervenir dans un délai de 30 jours
  maximum »; the park update is declared « au plus tard un mois avant la date anniversaire du marché »
  and « donnera lieu à un bon de commande à la date anniversaire »; a change « supérieure à 10% du montant
  de la commande annuelle » gives a complementary order during the year, « inférieure à 10% » is
  « régularisée lors du renouvellement ».
* Infogérance tickets, CCTP CAIH 2.1.7: « tickets horaire de 30mn […] Tout ticket entamé est réputé
  entièrement consommé ».

CPAM 5-4-4 (the intervention clock of a ticket that needs an order starts at the order's notification)
is already in ``incidents.sla`` (``SlaPolicy.purchase_order_starts_clock`` and the
``purchase_order_notified`` event); the catalog only has to publish the notification instant.
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from tenants.calendars import BusinessCalendar

__all__ = [
    "ACCEPTANCE_DAYS",
    "AMENDMENT_NOTICE_DAYS",
    "DECISION_DAYS",
    "DECISION_KINDS",
    "FIRST_ORDER_DAYS",
    "OBSERVATION_DAYS",
    "PARK_CHANGE_THRESHOLD",
    "QUOTE_DAYS",
    "TICKET_MINUTES",
    "WORKS_START_DAYS",
    "Deadline",
    "LineDecision",
    "ParkChange",
    "TicketBalance",
    "acceptance_due",
    "add_months",
    "amendment_deemed_accepted_at",
    "amendment_notice_refusal",
    "anniversaries",
    "decision_due",
    "first_order_execution_due",
    "is_amendment_deemed_accepted",
    "latest_amendment_notification",
    "line_decision_problems",
    "park_change_outcome",
    "park_declaration_deadline",
    "quote_due",
    "renewal_anniversary",
    "ticket_balance",
    "ticket_units",
    "works_start_due",
]

QUOTE_DAYS = 14  # CPAM 5-1-4, jours ouvrables
WORKS_START_DAYS = 21  # CPAM 5-2, jours ouvrables
ACCEPTANCE_DAYS = 14  # CPAM 5-3-1, jours calendaires
AMENDMENT_NOTICE_DAYS = 10  # TGD VI.3
OBSERVATION_DAYS = 5  # TGD VI.3
DECISION_DAYS = 15  # TGD VII.3
FIRST_ORDER_DAYS = 30  # CAIH 2.1.32
PARK_CHANGE_THRESHOLD = Decimal("10")  # percent, CAIH 2.1.32
TICKET_MINUTES = 30  # CAIH 2.1.7

_ONE_DAY = dt.timedelta(days=1)


# --------------------------------------------------------------------------- deadlines


@dataclass(frozen=True, slots=True)
class Deadline:
    """A delay that expires at the end of ``last_day`` (local to the tenant): ``expires_at``, the
    midnight after it, is the first instant the delay is over."""

    rule: str  # French, for screens
    article: str
    last_day: dt.date
    expires_at: dt.datetime

    def is_overdue(self, now: dt.datetime, *, done_at: dt.datetime | None = None) -> bool:
        """Past its deadline and not done in time (a step done late stays « hors délai »)."""
        if done_at is not None and done_at < self.expires_at:
            return False
        return now >= self.expires_at

    def describe(self) -> str:
        return f"{self.rule} : au plus tard le {self.last_day:%d/%m/%Y} ({self.article})"


def _midnight(calendar: BusinessCalendar, day: dt.date) -> dt.datetime:
    # Local midnight exists in every territory's zone (their DST changes happen at 02:00 or later).
    return dt.datetime.combine(day, dt.time(0), tzinfo=calendar.zone)


def _counted_days(calendar: BusinessCalendar, event_on: dt.date, days: int, kind: str, rule: str,
                  article: str) -> Deadline:
    """``days`` days of ``kind`` after the event, the event's own day not counted."""
    expires = calendar.add_days(_midnight(calendar, event_on + _ONE_DAY), days, kind, end_of_day=True)
    return Deadline(rule, article, expires.astimezone(calendar.zone).date() - _ONE_DAY, expires)


def _ccag_days(calendar: BusinessCalendar, event_on: dt.date, days: int, rule: str, article: str) -> Deadline:
    """Calendar days under CCAG-TIC 3.2: from the next day, to the end of the last one, carried to the
    next jour ouvré (neither a weekend nor a public holiday of the territory)."""
    last = event_on + dt.timedelta(days=days)
    while not calendar.is_day_of_kind(last, "ouvres"):
        last += _ONE_DAY
    return Deadline(rule, article, last, _midnight(calendar, last + _ONE_DAY))


def _local_day(calendar: BusinessCalendar, instant: dt.datetime) -> dt.date:
    if instant.tzinfo is None:
        raise ValueError(f"date sans fuseau horaire : {instant.isoformat()}")
    return instant.astimezone(calendar.zone).date()


# --------------------------------------------------------------------------- quotes (CPAM)


def quote_due(calendar: BusinessCalendar, site_visit_on: dt.date) -> Deadline:
    """CCTP CPAM 5-1-4: the quote within 14 jours ouvrables of the site visit."""
    return _counted_days(calendar, site_visit_on, QUOTE_DAYS, "ouvrables", "Émission du devis",
                         "CCTP CPAM 5-1-4")


def works_start_due(calendar: BusinessCalendar, quote_approved_on: dt.date) -> Deadline:
    """CCTP CPAM 5-2: the works started within 21 jours ouvrables of the quote's approval."""
    return _counted_days(calendar, quote_approved_on, WORKS_START_DAYS, "ouvrables", "Début des travaux",
                         "CCTP CPAM 5-2")


def acceptance_due(calendar: BusinessCalendar, commissioned_on: dt.date) -> Deadline:
    """CCTP CPAM 5-3-1: the acceptance of the works within 14 calendar days of the commissioning."""
    return _counted_days(calendar, commissioned_on, ACCEPTANCE_DAYS, "calendaires", "Réception des travaux",
                         "CCTP CPAM 5-3-1")


# --------------------------------------------------------------------------- amendments (TGD VI.3)


def latest_amendment_notification(effective_on: dt.date) -> dt.date:
    """CCP TGD VI.3: « dix jours au plus tard avant la date souhaitée de leur prise d'effet »."""
    return effective_on - dt.timedelta(days=AMENDMENT_NOTICE_DAYS)


def amendment_notice_refusal(notified_on: dt.date, effective_on: dt.date) -> str | None:
    """The refusal, with the rule quoted, of an amendment notified too late for its date; None if in time."""
    latest = latest_amendment_notification(effective_on)
    if notified_on <= latest:
        return None
    return (f"Un modificatif doit être notifié au plus tard dix jours avant sa prise d'effet (CCP TGD VI.3 : "
            f"« Les modificatifs sont notifiés dix jours au plus tard avant la date souhaitée de leur prise "
            f"d'effet ») : pour une prise d'effet le {effective_on:%d/%m/%Y}, il fallait le notifier au plus "
            f"tard le {latest:%d/%m/%Y}.")


def amendment_deemed_accepted_at(calendar: BusinessCalendar, notified_at: dt.datetime) -> Deadline:
    """CCP TGD VI.3: the 5 days for observations; from ``expires_at`` the amendment is deemed accepted."""
    return _ccag_days(calendar, _local_day(calendar, notified_at), OBSERVATION_DAYS,
                      "Observations du titulaire sur le modificatif", "CCP TGD VI.3")


def is_amendment_deemed_accepted(calendar: BusinessCalendar, notified_at: dt.datetime, now: dt.datetime, *,
                                 observations_at: dt.datetime | None = None) -> bool:
    """Deemed accepted once the 5 days have passed without observations. Observations sent in time
    keep it from being *deemed* accepted (the titulaire must still comply: « que ceux-ci aient ou non
    fait l'objet d'observations »)."""
    deadline = amendment_deemed_accepted_at(calendar, notified_at)
    if observations_at is not None and observations_at < deadline.expires_at:
        return False
    return now >= deadline.expires_at


# --------------------------------------------------------------------------- delivery decisions (TGD VII)

DECISION_KINDS = {
    "reception": "Réception",
    "reception_reserves": "Réception avec réserves",
    "ajournement": "Ajournement",
    "refaction": "Réception avec réfaction",
    "rejet": "Rejet",
}


def decision_due(calendar: BusinessCalendar, verification_ended_on: dt.date) -> Deadline:
    """CCP TGD VII.3: the decision within 15 days of the end of the verification that the delivery slip
    (VII.1) opened; the slip's date when the verification is the quantitative check made at delivery."""
    return _ccag_days(calendar, verification_ended_on, DECISION_DAYS, "Décision sur la livraison",
                      "CCP TGD VII.3")


@dataclass(frozen=True, slots=True)
class LineDecision:
    """The buyer's decision on one delivered line (CCP TGD VII.3)."""

    kind: str
    delivered: Decimal
    accepted: Decimal
    rejected: Decimal
    refaction_amount: Decimal | None = None  # HT, only for a réception avec réfaction
    reserves_deadline: dt.date | None = None  # only for a réception avec réserves

    @property
    def label(self) -> str:
        return DECISION_KINDS.get(self.kind, self.kind)


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f").replace(".", ",")


def line_decision_problems(decision: LineDecision, *, decided_on: dt.date) -> list[str]:
    """Every reason (in French) the decision does not hold; an empty list when it does."""
    if decision.kind not in DECISION_KINDS:
        return [f"Décision inconnue : « {decision.kind} » (attendu : {', '.join(DECISION_KINDS.values())})."]
    problems: list[str] = []
    quantities = {"livrée": decision.delivered, "acceptée": decision.accepted, "refusée": decision.rejected}
    for name, value in quantities.items():
        if not isinstance(value, Decimal) or not value.is_finite():
            problems.append(f"La quantité {name} doit être un nombre.")
        elif value < 0:
            problems.append(f"La quantité {name} ne peut pas être négative.")
    if problems:
        return problems
    kind = decision.kind
    if kind == "ajournement":
        if decision.accepted or decision.rejected:
            problems.append("Un ajournement ne reçoit ni ne rejette de quantité : le titulaire présente à nouveau "
                            "la livraison.")
    elif decision.accepted + decision.rejected != decision.delivered:
        problems.append(f"Les quantités acceptée ({_fmt(decision.accepted)}) et refusée "
                        f"({_fmt(decision.rejected)}) doivent faire la quantité livrée ({_fmt(decision.delivered)}).")
    if kind == "rejet" and decision.accepted:
        problems.append("Un rejet n'accepte aucune quantité.")
    if kind in ("reception", "reception_reserves", "refaction") and not decision.accepted:
        problems.append(f"Une décision « {decision.label} » accepte au moins une partie de la livraison.")
    amount = decision.refaction_amount
    if kind == "refaction":
        if amount is None:
            problems.append("Une réception avec réfaction indique le montant de la réfaction.")
        elif not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
            problems.append("Le montant de la réfaction doit être un montant positif ou nul.")
    elif amount is not None:
        problems.append("Un montant de réfaction n'est possible que pour une réception avec réfaction.")
    if kind == "reception_reserves":
        if decision.reserves_deadline is None:
            problems.append("Une réception avec réserves fixe le délai pour les lever (CCP TGD VII.3).")
        elif decision.reserves_deadline <= decided_on:
            problems.append("Le délai pour lever les réserves doit être postérieur à la décision.")
    elif decision.reserves_deadline is not None:
        problems.append("Un délai de levée des réserves n'est possible que pour une réception avec réserves.")
    return problems


# --------------------------------------------------------------------------- recurring maintenance (CAIH)


def first_order_execution_due(calendar: BusinessCalendar, notified_on: dt.date) -> Deadline:
    """CCTP CAIH 2.1.32: the first order executed within 30 (calendar) days of its notification."""
    return _counted_days(calendar, notified_on, FIRST_ORDER_DAYS, "calendaires",
                         "Exécution du premier bon de commande", "CCTP CAIH 2.1.32")


def add_months(day: dt.date, months: int) -> dt.date:
    """From « quantième à quantième », to the last day of the month when it has no such day
    (29 February → 28 February of a common year, 31 March − 1 month → end of February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, _cal.monthrange(year, month + 1)[1]))


def anniversaries(starts_on: dt.date, until: dt.date) -> list[dt.date]:
    """The agreement's anniversaries after its start, up to ``until`` included (each counted from
    the start date, so 29 February comes back in leap years)."""
    found: list[dt.date] = []
    n = 1
    while (day := add_months(starts_on, 12 * n)) <= until:
        found.append(day)
        n += 1
    return found


def park_declaration_deadline(anniversary: dt.date) -> dt.date:
    """CCTP CAIH 2.1.32: the last day to declare the park update that becomes the renewal order at
    this anniversary (« au plus tard un mois avant la date anniversaire du marché »)."""
    return add_months(anniversary, -1)


def renewal_anniversary(starts_on: dt.date, declared_on: dt.date) -> dt.date:
    """The anniversary whose renewal order a park update declared on ``declared_on`` becomes: the
    first one it is still at least a month ahead of."""
    n = 1
    while park_declaration_deadline(add_months(starts_on, 12 * n)) < declared_on:
        n += 1
    return add_months(starts_on, 12 * n)


@dataclass(frozen=True, slots=True)
class ParkChange:
    """CCTP CAIH 2.1.32: what a change of the maintained park gives."""

    annual_amount: Decimal
    change_amount: Decimal  # signed: entries minus exits
    percent: Decimal  # |change| / annual amount × 100, 2 decimals
    complementary_order: bool  # True: a complementary order now; False: regularised at the renewal

    def describe(self) -> str:
        share = f"{_fmt(self.percent)} % de la commande annuelle"
        if self.complementary_order:
            return f"Évolution du parc de {share} (plus de 10 %) : commande complémentaire en cours d'année."
        return f"Évolution du parc de {share} (pas plus de 10 %) : régularisée au renouvellement de la commande."


def park_change_outcome(annual_amount: Decimal, change_amount: Decimal) -> ParkChange:
    """« supérieure à 10% » triggers the complementary order; the text's « inférieure à 10% » leaves
    exactly 10 % unsaid, and as it is not *above* 10 % it waits for the renewal. Entries and exits
    both change the park: the size of the change counts, not its sign."""
    if not isinstance(annual_amount, Decimal) or not annual_amount.is_finite() or annual_amount <= 0:
        raise ValueError("Le montant de la commande annuelle doit être un montant positif.")
    if not isinstance(change_amount, Decimal) or not change_amount.is_finite():
        raise ValueError("Le montant de l'évolution du parc doit être un montant.")
    size = abs(change_amount)
    percent = (size * 100 / annual_amount).quantize(Decimal("0.01"))
    # Compared exactly (size × 100 > 10 × annual), not on the rounded percent.
    return ParkChange(annual_amount, change_amount, percent, size * 100 > PARK_CHANGE_THRESHOLD * annual_amount)


# --------------------------------------------------------------------------- infogérance tickets (CAIH 2.1.7)


def ticket_units(duration: dt.timedelta) -> int:
    """CCTP CAIH 2.1.7: 30-minute units, « tout ticket entamé est réputé entièrement consommé »."""
    if duration < dt.timedelta(0):
        raise ValueError("Une durée d'intervention ne peut pas être négative.")
    return -(-duration // dt.timedelta(minutes=TICKET_MINUTES))


@dataclass(frozen=True, slots=True)
class TicketBalance:
    """Ordered and consumed 30-minute units; an overdraft is shown, never hidden behind a zero."""

    ordered: int
    consumed: int

    @property
    def remaining(self) -> int:
        return max(self.ordered - self.consumed, 0)

    @property
    def overdraft(self) -> int:
        return max(self.consumed - self.ordered, 0)

    def describe(self) -> str:
        if self.overdraft:
            return (f"{self.consumed} tickets de 30 min consommés pour {self.ordered} commandés : "
                    f"dépassement de {self.overdraft} ticket(s) à commander (CCTP CAIH 2.1.7).")
        return f"{self.remaining} ticket(s) de 30 min restant(s) sur {self.ordered} commandé(s)."


def ticket_balance(ordered_units: int, consumptions: Iterable[dt.timedelta]) -> TicketBalance:
    """Each consumption (one request) is rounded up to whole units on its own, as 2.1.7 says."""
    if isinstance(ordered_units, bool) or not isinstance(ordered_units, int) or ordered_units < 0:
        raise ValueError("Le nombre de tickets commandés doit être un entier positif ou nul.")
    return TicketBalance(ordered_units, sum(ticket_units(d) for d in consumptions))
