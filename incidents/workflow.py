"""The ticket workflow, pure: which event may follow which status, and the SLA engine's kind of each.

nouveau → pris en compte → en cours → en attente du bénéficiaire (pauses the clocks) → résolu → clos.
Closing needs the beneficiary's consent (CAIH 2.1.5: its admin accepts the resolution, or it is deemed
accepted after the delay the tenant sets); reopening keeps the original start (CAIH 2.1.22).
No database, no current time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from incidents.sla import EVENT_KINDS

__all__ = ["KINDS", "KIND_LABELS", "SLA_KIND", "Transition", "WorkflowError", "deemed_acceptance_due", "transition"]


class WorkflowError(ValueError):
    """A transition the workflow refuses (French message)."""


#: API kinds → the ``incidents.sla`` event kind (None: not a clock event).
SLA_KIND: dict[str, str | None] = {
    "open": "opened",
    "acknowledge": "acknowledged",
    "start": "intervention_started",
    "wait": "waiting_for_buyer",
    "resume": "resumed",
    "resolve": "solved",
    "accept": "closed",
    "reopen": "reopened",
    "reclassify": "priority_changed",
    "note": None,
    "intervention": "intervention_started",
    "policy": "policy_changed",
    "purchase_order": "purchase_order_notified",
}
assert all(k is None or k in EVENT_KINDS for k in SLA_KIND.values())

#: The kinds the API and the pages accept from people.
KINDS = ("acknowledge", "start", "wait", "resume", "resolve", "accept", "reopen", "reclassify", "note")

KIND_LABELS = {
    "open": "ouverture", "acknowledge": "prise en compte", "start": "début de l'intervention",
    "wait": "mise en attente du bénéficiaire", "resume": "reprise", "resolve": "résolution",
    "accept": "acceptation de la résolution", "reopen": "réouverture", "reclassify": "reclassement",
    "note": "note", "intervention": "intervention", "policy": "changement de politique de service",
    "purchase_order": "notification du bon de commande",
}

_OPEN = frozenset({"new", "acknowledged", "in_progress", "waiting"})

#: kind → (statuses it may follow, status after; None: unchanged).
_RULES: dict[str, tuple[frozenset[str], str | None]] = {
    "acknowledge": (frozenset({"new"}), "acknowledged"),
    "start": (frozenset({"new", "acknowledged", "waiting"}), "in_progress"),
    "wait": (frozenset({"new", "acknowledged", "in_progress"}), "waiting"),
    "resume": (frozenset({"waiting"}), "in_progress"),
    "resolve": (_OPEN, "resolved"),
    "accept": (frozenset({"resolved"}), "closed"),
    "reopen": (frozenset({"resolved", "closed"}), "in_progress"),
    "reclassify": (_OPEN | {"resolved"}, None),
    "note": (_OPEN | {"resolved", "closed"}, None),
    "intervention": (_OPEN | {"resolved"}, None),
    "policy": (_OPEN | {"resolved"}, None),
    "purchase_order": (_OPEN, None),
}

_STATUS_FR = {"new": "nouveau", "acknowledged": "pris en compte", "in_progress": "en cours",
              "waiting": "en attente du bénéficiaire", "resolved": "résolu", "closed": "clos"}


@dataclass(frozen=True)
class Transition:
    status: str
    sla_kind: str | None


def transition(status: str, kind: str, *, reason: str = "", consent: bool = False,
               data: dict[str, Any] | None = None) -> Transition:
    """The status after ``kind`` on a ticket in ``status``, or a ``WorkflowError`` in French.

    ``consent``: the beneficiary accepts (its admin, or the deemed acceptance) — required to close.
    """
    if kind not in _RULES:
        raise WorkflowError(f"événement inconnu : {kind!r} (attendu : {', '.join(_RULES)})")
    allowed, after = _RULES[kind]
    if status not in allowed:
        raise WorkflowError(f"« {KIND_LABELS[kind]} » impossible sur un ticket {_STATUS_FR.get(status, status)}")
    if kind == "accept" and not consent:
        raise WorkflowError("la clôture demande l'accord du bénéficiaire (son administrateur accepte la résolution,"
                            " ou elle est réputée acceptée après le délai fixé)")
    if kind == "reclassify":
        if not reason.strip():
            raise WorkflowError("le motif du reclassement est obligatoire")
        if not any((data or {}).get(k) for k in ("level", "restoration_level", "incident_type")):
            raise WorkflowError("le reclassement doit donner un niveau, un niveau de rétablissement ou un type")
    return Transition(after or status, SLA_KIND[kind])


class _Resolved(Protocol):
    status: str
    resolved_at: dt.datetime | None


class _Delay(Protocol):
    acceptance_delay_hours: int


def deemed_acceptance_due(ticket: _Resolved, settings: _Delay) -> dt.datetime | None:
    """When a resolved ticket is deemed accepted without the admin's answer (None unless resolved)."""
    if ticket.status != "resolved" or ticket.resolved_at is None:
        return None
    return ticket.resolved_at + dt.timedelta(hours=settings.acceptance_delay_hours)
