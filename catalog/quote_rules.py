"""The rules of quotes (issue 14 §2), without a database: states, who takes each step, the parts / labour split
of a repair, and the three contractual milestones of works on quote with their deadlines (``now`` and the
tenant's calendar passed in).

Sources:

* CCTP CANUT 9 and CCTP CAIH 2.1.17: a beneficiary asks for a quote; « les réparations sur devis » show « le
  coût des pièces et de la main d'œuvre » apart.
* CCTP CAIH 5: « Remise complémentaire en % sur le BPU en vigueur » (per line, as on orders).
* CCTP CPAM de la Sarthe 5-1-4 « Le délai maximal entre la réalisation de la visite de site et l'émission du
  devis est de 14 jours ouvrables »; 5-2 « Le délai maximal entre la validation du devis et le début des
  travaux est de 21 jours ouvrables »; 5-3-1 « La réception des travaux sera faite dans les 14 jours
  calendaires qui suivent la mise en service de l'IRVE » (``catalog.deadlines``).

States: demandé → chiffré (the titulaire's answer, lines priced on the BPU) → accepté (the purchase order is
issued) or refusé (a reason); retiré by the beneficiary before its decision. The site visit, the start of the
works and the commissioning are dates the titulaire records; they are not states.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from catalog import deadlines
from tenants.calendars import BusinessCalendar

__all__ = [
    "ACTION_PERMISSIONS",
    "ACTIONS",
    "KINDS",
    "NATURES",
    "NEED_MAX",
    "STATES",
    "Milestone",
    "QuoteRuleError",
    "check_transition",
    "default_nature",
    "milestones",
    "parts_and_labour",
    "pending_milestone",
]

STATES = {"requested": "demandé", "answered": "chiffré", "accepted": "accepté", "refused": "refusé",
          "cancelled": "retiré"}
OPEN_STATES = ("requested", "answered")
#: action → (the states it may start from, the state it leads to, the French verb of a refusal).
ACTIONS: dict[str, tuple[frozenset[str], str, str]] = {
    "answer": (frozenset({"requested"}), "answered", "chiffrer"),
    "accept": (frozenset({"answered"}), "accepted", "accepter"),
    "refuse": (frozenset({"answered"}), "refused", "refuser"),
    "cancel": (frozenset({"requested", "answered"}), "cancelled", "retirer"),
}
#: The titulaire's records, each allowed in some states only (not a change of state).
RECORDS: dict[str, tuple[frozenset[str], str]] = {
    "visit": (frozenset({"requested"}), "enregistrer la visite de site"),
    "start_works": (frozenset({"accepted"}), "enregistrer le début des travaux"),
    "commission": (frozenset({"accepted"}), "enregistrer la mise en service"),
}
#: Who takes each step (``catalog.component.PERMISSIONS``): the beneficiary (``order``) asks, accepts, refuses,
#: withdraws; the titulaire's operator (``answer_quotes``) visits, answers and records the works.
ACTION_PERMISSIONS = {"request": "order", "accept": "order", "refuse": "order", "cancel": "order",
                      "answer": "answer_quotes", "visit": "answer_quotes", "start_works": "answer_quotes",
                      "commission": "answer_quotes"}
KINDS = {"works": "Travaux (fourniture et pose)", "repair": "Réparation sur devis (CCTP CAIH 2.1.17)"}
#: CAIH 2.1.17: « le coût des pièces et de la main d'œuvre ».
NATURES = {"parts": "Pièces et fournitures", "labour": "Main-d'œuvre"}
NEED_MAX = 4000
PLACE_MAX = 2000
REASON_MAX = 1000


class QuoteRuleError(ValueError):
    """A refused step, with its French message (``str(exc)``)."""


def check_transition(state: str, action: str) -> str:
    """The state ``action`` leads to from ``state``; ``QuoteRuleError`` (French) when it may not."""
    if action in RECORDS:
        sources, verb = RECORDS[action]
        if state not in sources:
            allowed = " ou ".join(f"« {STATES[s]} »" for s in sorted(sources))
            raise QuoteRuleError(f"Impossible d'{verb} sur un devis « {STATES.get(state, state)} » : il doit être "
                                 f"{allowed}.")
        return state
    if action not in ACTIONS:
        raise QuoteRuleError(f"Action inconnue : « {action} ».")
    sources, target, verb = ACTIONS[action]
    if state not in sources:
        allowed = " ou ".join(f"« {STATES[s]} »" for s in sorted(sources))
        of = "d'" if verb[0] in "aeéiou" else "de "
        raise QuoteRuleError(f"Impossible {of}{verb} un devis « {STATES.get(state, state)} » : il doit être {allowed}.")
    return target


def default_nature(family: str) -> str:
    """A BPU article's side of a repair quote: supplies are parts, every other family is labour."""
    return "parts" if family == "supply" else "labour"


def parts_and_labour(lines: Iterable[Any]) -> tuple[Decimal, Decimal]:
    """CAIH 2.1.17: the HT totals of the parts and of the labour (lines with ``nature`` and ``total_ht``)."""
    parts = labour = Decimal("0.00")
    for line in lines:
        if line.nature == "parts":
            parts += line.total_ht
        else:
            labour += line.total_ht
    return parts, labour


@dataclass(frozen=True, slots=True)
class Milestone:
    """One contractual step of works on quote: its deadline (None until the event that starts it), when it was
    done, and its status: ``waiting`` (its clock has not started), ``pending``, ``overdue``, ``done`` (in time)
    or ``late`` (done after its deadline: stays « hors délai »)."""

    key: str
    label: str
    article: str
    deadline: deadlines.Deadline | None
    done_at: dt.datetime | None
    status: str

    @property
    def open(self) -> bool:
        return self.status in ("pending", "overdue")


def _milestone(key: str, label: str, article: str, deadline: deadlines.Deadline | None, done_at: dt.datetime | None,
               now: dt.datetime) -> Milestone:
    if deadline is None:
        status = "waiting"
    elif done_at is not None:
        status = "late" if done_at >= deadline.expires_at else "done"
    else:
        status = "overdue" if now >= deadline.expires_at else "pending"
    return Milestone(key, label, article, deadline, done_at, status)


def _start_of(calendar: BusinessCalendar, day: dt.date | None) -> dt.datetime | None:
    """The instant a day recorded as a date was reached (its local midnight), to compare with a deadline."""
    return None if day is None else dt.datetime.combine(day, dt.time(0), tzinfo=calendar.zone)


def milestones(calendar: BusinessCalendar, *, state: str, site_visit_on: dt.date | None,
               answered_at: dt.datetime | None, accepted_at: dt.datetime | None, works_started_on: dt.date | None,
               commissioned_on: dt.date | None, received_at: dt.datetime | None, now: dt.datetime) -> list[Milestone]:
    """The three CPAM deadlines of a quote, in their order: the quote 14 working days after the site visit
    (5-1-4), the works started 21 working days after the acceptance (5-2), their reception 14 calendar days
    after the commissioning (5-3-1). ``received_at``: the reception of the order (its verification). A quote
    withdrawn or refused has no pending milestone: its open ones are dropped."""
    visit = deadlines.quote_due(calendar, site_visit_on) if site_visit_on else None
    accepted_on = accepted_at.astimezone(calendar.zone).date() if accepted_at else None
    works = deadlines.works_start_due(calendar, accepted_on) if accepted_on else None
    reception = deadlines.acceptance_due(calendar, commissioned_on) if commissioned_on else None
    out = [
        _milestone("quote", "Émission du devis", "CCTP CPAM 5-1-4", visit, answered_at, now),
        _milestone("works", "Début des travaux", "CCTP CPAM 5-2", works, _start_of(calendar, works_started_on), now),
        _milestone("reception", "Réception des travaux", "CCTP CPAM 5-3-1", reception, received_at, now),
    ]
    if state in ("refused", "cancelled"):
        out = [m for m in out if not m.open]
    return out


def pending_milestone(items: Iterable[Milestone]) -> Milestone | None:
    """The first milestone still to meet (its deadline running or past), or None."""
    return next((m for m in items if m.open), None)
