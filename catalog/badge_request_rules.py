"""Pure rules of the agents' badge requests (issue 14 §4): states, transitions, the two clocks and the plate.

No database; ``now`` is passed in. CCTP CPAM de la Sarthe, article 5-5-5-3 « Gestion des cartes
d'identification RFID »:

    « Les commandes de badge seront centralisées par le gestionnaire de la CPAM. Aucune demande de
    l'agent ne pourra être pris en compte sans accord écrit du pouvoir adjudicateur. […] Le délai
    maximum de demande de validation à la CPAM de la Sarthe est de 24h à partir de la réception de la
    demande de badge par l'agent. Le délai maximum d'envoi d'un badge RFID est de 72h à partir de
    l'autorisation écrite de la commande de la CPAM de la Sarthe. »

So: ``requested`` (demandée) → ``approved`` (approuvée, the written approval) or ``refused`` (refusée, with a
reason) → ``shipped`` (expédiée, with its idTag and shipment reference) → ``activated`` (activée, in the
tenant's local authorization list); the agent may cancel (``cancelled``, annulée) before the decision. The
decision is due 24 h after the request, the shipment 72 h after the approval (calendar hours: the portal is
open « 24 heures sur 24 et 7 jours sur 7 »).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

__all__ = [
    "APPROVAL_DELAY",
    "SHIPMENT_DELAY",
    "STATES",
    "TRANSITIONS",
    "Due",
    "TransitionRefused",
    "check_plate",
    "check_refusal_reason",
    "check_transition",
    "current_due",
    "is_overdue",
    "reminder_due",
]

#: CPAM 5-5-5-3 « 24h à partir de la réception de la demande ».
APPROVAL_DELAY = dt.timedelta(hours=24)
#: CPAM 5-5-5-3 « 72h à partir de l'autorisation écrite ».
SHIPMENT_DELAY = dt.timedelta(hours=72)

STATES = {"requested": "demandée", "approved": "approuvée", "refused": "refusée", "shipped": "expédiée",
          "activated": "activée", "cancelled": "annulée"}

#: action → (the states it may start from, the state it leads to).
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "approve": (frozenset({"requested"}), "approved"),
    "refuse": (frozenset({"requested"}), "refused"),
    "cancel": (frozenset({"requested"}), "cancelled"),
    "ship": (frozenset({"approved"}), "shipped"),
    "activate": (frozenset({"shipped"}), "activated"),
}
ACTION_WORDS = {"approve": "approuvée", "refuse": "refusée", "cancel": "annulée", "ship": "expédiée",
                "activate": "activée"}

REASON_MAX = 500
#: SIV (since 2009): AA-123-AA; letters I, O and U are never used, nor SS in the first pair, nor WW.
SIV = re.compile(r"^([A-HJ-NP-TV-Z]{2})-?(\d{3})-?([A-HJ-NP-TV-Z]{2})$")
#: FNI (before 2009): 1 to 4 digits, 1 to 3 letters, the département (2 digits, 2A/2B, or 971-976).
FNI = re.compile(r"^(\d{1,4})([A-Z]{1,3})(\d{2}|2A|2B|97[1-6])$")


class TransitionRefused(ValueError):
    """A transition not allowed from the request's state; ``message`` is French, for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_transition(state: str, action: str) -> str:
    """The state ``action`` leads to from ``state``, or ``TransitionRefused`` with a French message."""
    if action not in TRANSITIONS:
        raise TransitionRefused("Action inconnue.")
    sources, target = TRANSITIONS[action]
    if state not in sources:
        raise TransitionRefused(f"Une demande {STATES.get(state, state)} ne peut pas être {ACTION_WORDS[action]}.")
    return target


def check_refusal_reason(reason: str | None) -> tuple[str, str | None]:
    """(the cleaned reason, French error or None): a refusal says why (the agent reads it)."""
    text = " ".join(str(reason or "").split())
    if not text:
        return text, "Indiquez le motif du refus : l'agent le lira."
    if len(text) > REASON_MAX:
        return text, f"Le motif comporte {REASON_MAX} caractères au plus."
    return text, None


def check_plate(value: str | None) -> tuple[str, str | None]:
    """(the normalised plate, French error or None). SIV ``AB-123-CD`` (dashes added when missing) or the
    old FNI ``123 ABC 45`` (one space between its groups); upper case, spaces and dashes tolerated."""
    raw = str(value or "").strip().upper()
    if not raw:
        return raw, "L'immatriculation du véhicule est obligatoire."
    if len(raw) > 20:
        return raw[:20], "Immatriculation invalide : 20 caractères au plus."
    compact = re.sub(r"[\s\-]+", "", raw)
    siv = SIV.match(compact)
    if siv:
        first, digits, last = siv.groups()
        if first == "SS" or "WW" in (first, last) or digits == "000":
            return raw, "Immatriculation invalide : ce groupe de lettres ou ce numéro n'est pas attribué."
        return f"{first}-{digits}-{last}", None
    fni = FNI.match(compact)
    if fni:
        digits, letters, dept = fni.groups()
        return f"{digits} {letters} {dept}", None
    return raw, ("Immatriculation invalide : format SIV AA-123-AA ou ancien format 123 ABC 45 "
                 "(chiffres, lettres, département).")


@dataclass(frozen=True)
class Due:
    """The step a request waits for, its deadline and whether it is late at ``now``."""

    step: str  # "decision" | "shipment"
    deadline: dt.datetime
    overdue: bool

    @property
    def label(self) -> str:
        return {"decision": "décision du responsable", "shipment": "envoi du badge"}[self.step]


def current_due(state: str, requested_at: dt.datetime, decided_at: dt.datetime | None,
                now: dt.datetime) -> Due | None:
    """The pending step's deadline (CPAM 5-5-5-3): the decision 24 h after the request while it is
    ``requested``, the shipment 72 h after the approval while it is ``approved``; None afterwards."""
    if state == "requested":
        deadline = requested_at + APPROVAL_DELAY
    elif state == "approved" and decided_at is not None:
        deadline = decided_at + SHIPMENT_DELAY
    else:
        return None
    return Due("decision" if state == "requested" else "shipment", deadline, now > deadline)


def is_overdue(state: str, requested_at: dt.datetime, decided_at: dt.datetime | None, now: dt.datetime) -> bool:
    due = current_due(state, requested_at, decided_at, now)
    return bool(due and due.overdue)


def reminder_due(state: str, requested_at: dt.datetime, decided_at: dt.datetime | None, now: dt.datetime, *,
                 decision_reminded: bool, shipment_reminded: bool) -> str | None:
    """The step to remind by e-mail now (« decision » or « shipment »), once per step, or None."""
    due = current_due(state, requested_at, decided_at, now)
    if due is None or not due.overdue:
        return None
    if due.step == "decision" and not decision_reminded:
        return "decision"
    if due.step == "shipment" and not shipment_reminded:
        return "shipment"
    return None
