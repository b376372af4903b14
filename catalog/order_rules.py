"""The rules of purchase orders, without a database (issue 14 §3).

* **The price elements of a line** (CCP TGD VI.1: « les éléments de prix (prix hors taxes non remisé, prix
  hors taxes et prix TTC après application de la remise le cas échéant) et le montant global de la
  commande »): the unit price HT comes from the BPU version in force on the order date; an optional extra
  discount in percent (CCTP CAIH 5 « Remise complémentaire en % sur le BPU en vigueur ») applies to it.
  Every amount is ``Decimal`` and rounded half-up to the cent **at line level** by the kernel's ``app.money``
  (``line_amounts``: gross HT, HT after discount, VAT on the rounded HT, TTC = HT + VAT). The order's totals are
  the sums of its lines' amounts, never recomputed from a sum of unrounded values: 3 × 0,125 € at 20 % is
  0,38 € HT, 0,08 € of VAT, 0,46 € TTC.
* **The states** (issue 14 §3): brouillon → émis (notified to the titulaire) → en cours → livré → vérifié →
  clos, or annulé before the delivery. ``next_status`` refuses any other move with a French message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from app.money import CENT, LineAmounts, line_amounts

__all__ = [
    "ACTION_PERMISSIONS",
    "ACTIONS",
    "MAX_DISCOUNT",
    "MAX_LINES",
    "MAX_QUANTITY",
    "OPEN_STATUSES",
    "SLIP_ACTIONS",
    "STATUSES",
    "LineAmounts",
    "OrderRuleError",
    "OrderTotals",
    "allowed_actions",
    "format_order_number",
    "line_amounts",
    "next_status",
    "order_totals",
    "parse_discount",
    "parse_quantity",
    "user_actions",
]

#: Bounds of an order line's input (a quantity has 3 decimals at most: 0,5 day, 1,250 kg).
MAX_QUANTITY = Decimal("1000000")
MAX_DISCOUNT = Decimal("100")
MAX_LINES = 200

#: The statuses, in workflow order, with their French names (issue 14 §3).
STATUSES: dict[str, str] = {
    "draft": "brouillon",
    "issued": "émis",
    "in_progress": "en cours",
    "delivered": "livré",
    "verified": "vérifié",
    "closed": "clos",
    "cancelled": "annulé",
}
#: The orders the titulaire still has to execute (the operator's queue).
OPEN_STATUSES = ("issued", "in_progress")

#: action → (the statuses it leaves, the status it reaches, its French verb for messages).
ACTIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "issue": (("draft",), "issued", "émettre"),
    "start": (("issued",), "in_progress", "démarrer"),
    "deliver": (("in_progress",), "delivered", "déclarer livrée"),
    "verify": (("delivered",), "verified", "vérifier"),
    # A decision that rejects or adjourns what was delivered (TGD VII.3) leaves something to deliver again.
    "resume": (("delivered",), "in_progress", "reprendre la livraison de"),
    "close": (("verified",), "closed", "clore"),
    # Once delivered, an order is verified (TGD VII) — it can no longer be cancelled.
    "cancel": (("draft", "issued", "in_progress"), "cancelled", "annuler"),
}
#: Who moves an order: the buyer (its admin) issues, verifies, closes and cancels; the titulaire's operator
#: starts and delivers (``catalog.component.PERMISSIONS``).
ACTION_PERMISSIONS = {"issue": "order", "verify": "order", "close": "order", "cancel": "order",
                      "start": "execute_orders", "deliver": "execute_orders", "resume": "execute_orders"}
#: The moves nobody makes by hand (CCP TGD VII): an order is « livré » when its slips (« bordereaux de mise à
#: disposition », VII.1) have delivered every line, « vérifié » when the buyer's decisions on them (VII.3) have
#: received everything — ``catalog.deliveries`` makes both. A person asking for one gets the rule.
SLIP_ACTIONS = {
    "deliver": "Une commande est livrée par ses bordereaux de mise à disposition (CCP TGD VII.1) : enregistrez le "
               "bordereau des quantités livrées, la commande passe à « livré » quand tout est livré.",
    "verify": "Une commande est vérifiée par la décision de l'acheteur sur chaque bordereau (CCP TGD VII.3) : "
              "prononcez la réception, la commande passe à « vérifié » quand tout est reçu.",
    "resume": "Une commande livrée revient « en cours » quand la décision de l'acheteur rejette ou ajourne des "
              "quantités (CCP TGD VII.3) : le titulaire les livre à nouveau par un bordereau.",
}


class OrderRuleError(ValueError):
    """A refused input or move, with its French message (``str(exc)``)."""


@dataclass(frozen=True)
class OrderTotals:
    """The order's amounts: the sums of its lines (« le montant global de la commande », TGD VI.1)."""

    gross_ht: Decimal
    total_ht: Decimal
    total_vat: Decimal
    total_ttc: Decimal


def order_totals(lines: Iterable[LineAmounts | Any]) -> OrderTotals:
    """Sums of the lines' rounded amounts (objects with ``gross_ht``, ``total_ht``, ``total_vat``, ``total_ttc``)."""
    gross = ht = vat = ttc = Decimal("0.00")
    for line in lines:
        gross += line.gross_ht
        ht += line.total_ht
        vat += line.total_vat
        ttc += line.total_ttc
    return OrderTotals(gross_ht=gross, total_ht=ht, total_vat=vat, total_ttc=ttc)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str) and len(value) <= 40:
        text = value.strip().replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace(",", ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def parse_quantity(value: Any) -> Decimal:
    """A quantity: a number > 0, at most 1 000 000, with 3 decimals at most (decimal comma accepted)."""
    number = _decimal(value)
    if number is None:
        raise OrderRuleError("Quantité invalide : un nombre est attendu (par exemple 3 ou 0,5).")
    if number <= 0:
        raise OrderRuleError("La quantité doit être strictement positive.")
    if number > MAX_QUANTITY:
        raise OrderRuleError("La quantité ne peut pas dépasser 1 000 000.")
    if number != number.quantize(Decimal("0.001")):
        raise OrderRuleError("La quantité a au plus 3 décimales.")
    return number.quantize(Decimal("0.001"))


def parse_discount(value: Any) -> Decimal | None:
    """An extra discount in percent (CCTP CAIH 5 « Remise complémentaire en % sur le BPU en vigueur »):
    empty for none, else 0 to 100 with 2 decimals at most."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = _decimal(value.replace("%", "") if isinstance(value, str) else value)
    if number is None:
        raise OrderRuleError("Remise invalide : un pourcentage est attendu (par exemple 5 ou 2,5).")
    if number < 0 or number > MAX_DISCOUNT:
        raise OrderRuleError("La remise est un pourcentage entre 0 et 100.")
    if number != number.quantize(CENT):
        raise OrderRuleError("La remise a au plus 2 décimales.")
    return number.quantize(CENT) if number else None


def next_status(status: str, action: str) -> str:
    """The status ``action`` leads to from ``status``; ``OrderRuleError`` in French when it is not allowed."""
    if action not in ACTIONS:
        raise OrderRuleError(f"Action inconnue : {action}.")
    sources, target, verb = ACTIONS[action]
    if status not in sources:
        allowed = " ou ".join(f"« {STATUSES[s]} »" for s in sources)
        of = f"d'{verb}" if verb[0] in "aeéiouy" else f"de {verb}"
        raise OrderRuleError(f"Impossible {of} une commande à l'état « {STATUSES.get(status, status)} » : "
                             f"seule une commande à l'état {allowed} peut l'être.")
    return target


def allowed_actions(status: str) -> list[str]:
    """The moves open from ``status``, the slips' included."""
    return [action for action, (sources, _, _) in ACTIONS.items() if status in sources]


def user_actions(status: str) -> list[str]:
    """The moves a person makes from ``status`` (the buttons a page shows): not the slips' (``SLIP_ACTIONS``)."""
    return [action for action in allowed_actions(status) if action not in SLIP_ACTIONS]


def format_order_number(year: int, sequence: int) -> str:
    """``BC-2026-000001``: per tenant and year (the counter gives ``sequence``)."""
    return f"BC-{year}-{sequence:06d}"
