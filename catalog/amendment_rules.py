"""The rules of amendments (« modificatifs », CCP TGD VI.3; issue 14 §3), without a database.

CCP TGD VI.3: « Lorsque l'administration […] décide de faire effectuer des modifications du contenu d'une
prestation, elle adresse à ce dernier un modificatif du bon de commande. Les modificatifs sont notifiés dix jours
au plus tard avant la date souhaitée de leur prise d'effet. Le titulaire dispose de cinq jours à compter de la
notification pour adresser à l'administration toutes observations relatives au modificatif de la commande. Passé
ce délai, le titulaire est réputé en avoir accepté les conditions d'exécution. Le titulaire se conforme aux
modificatifs qui lui sont notifiés, que ceux-ci aient ou non fait l'objet d'observations de sa part. »

The dates are ``catalog.deadlines``' (``amendment_notice_refusal``, ``amendment_deemed_accepted_at``); here: the
states, which orders may be amended, what changed between two versions, and the floor of what was delivered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["AMENDABLE_STATUSES", "STATES", "LineState", "amendment_number", "changes", "below_delivered"]

#: notified: the 5 days of observations run; observations: the titulaire sent some in time (it complies all the
#: same); deemed_accepted: the 5 days passed without observations (recorded by the job).
STATES = {"notified": "notifié", "observations": "observations reçues", "deemed_accepted": "réputé accepté"}
#: An order is amended once it is notified and until it is delivered (a draft is simply edited… or cancelled).
AMENDABLE_STATUSES = frozenset({"issued", "in_progress"})
REASON_MAX = 2000
OBSERVATIONS_MAX = 4000


@dataclass(frozen=True, slots=True)
class LineState:
    """One article of a version: its code, label, quantity and extra discount."""

    article_code: str
    label: str
    quantity: Decimal
    discount_percent: Decimal | None = None


def amendment_number(order_number: str, version: int) -> str:
    """``BC-2026-000001-M1`` for the first amendment (the order's version 2)."""
    return f"{order_number}-M{version - 1}"


def _quantity(value: Decimal) -> str:
    return f"{value.normalize():f}".replace(".", ",")


def _by_code(lines: Iterable[Any]) -> dict[str, LineState]:
    out: dict[str, LineState] = {}
    for x in lines:
        known = out.get(x.article_code)
        quantity = x.quantity + (known.quantity if known else Decimal(0))
        out[x.article_code] = LineState(x.article_code, x.label, quantity, x.discount_percent)
    return out


def changes(before: Iterable[Any], after: Iterable[Any]) -> list[str]:
    """What changed from one version to the next, one French sentence per article, in the order of the lines
    (lines with ``article_code``, ``label``, ``quantity``, ``discount_percent``); empty: nothing changed."""
    old, new = _by_code(before), _by_code(after)
    out = []
    for code in [*old, *(c for c in new if c not in old)]:
        a, b = old.get(code), new.get(code)
        if a is None and b is not None:
            out.append(f"Ajout : {code} — {b.label}, quantité {_quantity(b.quantity)}.")
        elif b is None and a is not None:
            out.append(f"Suppression : {code} — {a.label} (quantité {_quantity(a.quantity)}).")
        elif a is not None and b is not None:
            if a.quantity != b.quantity:
                out.append(f"{code} — {a.label} : quantité {_quantity(a.quantity)} → {_quantity(b.quantity)}.")
            if (a.discount_percent or Decimal(0)) != (b.discount_percent or Decimal(0)):
                out.append(f"{code} — {a.label} : remise {_quantity(a.discount_percent or Decimal(0))} % → "
                           f"{_quantity(b.discount_percent or Decimal(0))} %.")
    return out


def below_delivered(after: Iterable[Any], delivered: Mapping[str, Decimal]) -> dict[str, str]:
    """The articles an amendment would bring below what was already delivered (``delivered``: article code →
    quantity delivered and not rejected), each with its French message; empty: none."""
    new = _by_code(after)
    out = {}
    for code, done in delivered.items():
        if done <= 0:
            continue
        kept = new[code].quantity if code in new else Decimal(0)
        if kept < done:
            out[code] = (f"{code} : {_quantity(done)} déjà livré(s) ; le modificatif ne peut pas descendre à "
                         f"{_quantity(kept)}.")
    return out
