"""The ADVENIR subsidy deducted from the invoice of the stations' supply or installation (issue 15 §5; CCTP CPAM 5-7
« Si l'installation est éligible à une Prime Advenir, le Titulaire gère la prise en charge directe des primes,
déduites directement de la facture (…) la somme déduite devra être justifiée par le calcul établi sur le site
ADVENIR »; « Le Titulaire fournit les attestations permettant d'obtenir les Primes ADVENIR »).

* ``record_subsidy``: the titulaire's operator records, on the order of the installation, the attestation data
  (the programme's reference, the attestation's number, the number of charge points, the amount per point, the
  ceiling) and the computation (``billing.charging_rules.advenir_amount``).
* ``deduct_on_invoice``: called by ``billing.invoices.issue_invoice`` after the penalties: each recorded subsidy of
  the invoice's order becomes a document-level allowance (EN 16931 BG-20, like a penalty: BT-92 the amount, BT-97
  the computation, BT-95/96 the VAT of the invoice's largest base), capped by what that base still holds; the
  invoice's totals are reduced and the subsidy is ``deducted`` with the invoice's id. The Factur-X XML carries it
  (``billing.documents``) and still passes ``facturx.xml_check_xsd``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of, one_in_tenant
from app.errors import NotFound
from billing import rules
from billing.allowances import add_allowance
from billing.charging_models import AdvenirSubsidy
from billing.charging_rules import ADVENIR_STATUSES, advenir_amount, fr_money
from billing.models import Invoice, InvoiceAllowance, InvoiceLine
from billing.services import BillingError
from catalog import services as catalog

__all__ = ["STATUSES", "cancel_subsidy", "deduct_on_invoice", "get_subsidy_in_tenant", "planned_deductions",
           "record_subsidy", "subsidies_of_tenant"]

STATUSES = ADVENIR_STATUSES


def _money(value: Any, label: str, errors: dict[str, str], key: str) -> Decimal | None:
    text = str(value if value is not None else "").strip().replace("\u202f", "").replace(" ", "").replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        errors[key] = f"{label} : un montant est attendu (par exemple 960,00)."
        return None
    if not number.is_finite() or number <= 0 or number > Decimal("10000000"):
        errors[key] = f"{label} : un montant positif, au plus 10 000 000 €."
        return None
    if number != number.quantize(Decimal("0.01")):
        errors[key] = f"{label} : au plus 2 décimales."
        return None
    return number.quantize(Decimal("0.01"))


async def subsidies_of_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> list[AdvenirSubsidy]:
    return list(await session.scalars(select(AdvenirSubsidy).where(AdvenirSubsidy.tenant_id == tenant_id)
                                      .order_by(AdvenirSubsidy.created_at.desc(), AdvenirSubsidy.id)))


async def get_subsidy_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, subsidy_id: uuid.UUID, *,
                                for_update: bool = False) -> AdvenirSubsidy:
    found: AdvenirSubsidy = await one_in_tenant(session, AdvenirSubsidy, tenant_id, subsidy_id, "prime ADVENIR",
                                                for_update=for_update)
    return found


async def record_subsidy(session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any], *,
                         now: dt.datetime) -> AdvenirSubsidy:
    """An ADVENIR subsidy on one of the tenant's orders, to deduct from its next invoice. ``BillingError`` by field
    (another tenant's order reads as unknown); nothing is written then."""
    errors: dict[str, str] = {}
    order = None
    try:
        order = await catalog.billable_order(session, tenant_id, uuid.UUID(str(data.get("order_id") or "").strip()))
    except ValueError:
        errors["order_id"] = "Bon de commande : choisissez le bon de commande de l'installation des bornes."
    except NotFound:  # another tenant's or an unknown order
        errors["order_id"] = "Bon de commande inconnu chez ce bénéficiaire."
    texts = {}
    for key, label, limit in (("programme_reference", "Référence du programme ADVENIR", 120),
                              ("attestation_number", "Numéro de l'attestation ADVENIR", 60)):
        texts[key] = str(data.get(key) or "").strip()
        if not texts[key] or len(texts[key]) > limit:
            errors[key] = f"{label} : obligatoire, {limit} caractères au plus."
    try:
        points = int(str(data.get("points") or "").strip())
        if not 1 <= points <= 10_000:
            raise ValueError
    except ValueError:
        errors["points"] = "Nombre de points de charge : un entier de 1 à 10 000."
        points = 0
    per_point = _money(data.get("amount_per_point"), "Montant par point de charge", errors, "amount_per_point")
    cap = _money(data.get("cap"), "Plafond de la prime", errors, "cap")
    if errors:
        raise BillingError(errors)
    assert order is not None and per_point is not None and cap is not None
    amount, computation = advenir_amount(points, per_point, cap)
    subsidy = AdvenirSubsidy(
        tenant_id=tenant_id, order_id=order.id, order_number=order.number, points=points,
        amount_per_point=per_point, cap=cap, amount_ht=amount,
        computation=f"Prime ADVENIR ({texts['programme_reference']}, attestation {texts['attestation_number']}) : "
                    f"{computation}"[:500],
        status="recorded", created_at=now, created_by=str(actor_of(session).get("label") or "")[:320], **texts)
    session.add(subsidy)
    await session.flush()
    return subsidy


async def cancel_subsidy(session: AsyncSession, tenant_id: uuid.UUID, subsidy_id: uuid.UUID) -> AdvenirSubsidy:
    subsidy = await get_subsidy_in_tenant(session, tenant_id, subsidy_id, for_update=True)
    if subsidy.status != "recorded":
        raise BillingError({"status": f"Prime {STATUSES[subsidy.status]} : elle ne peut plus être annulée."})
    subsidy.status = "cancelled"
    await session.flush()
    return subsidy


async def planned_deductions(session: AsyncSession, invoice: Invoice, lines: Sequence[InvoiceLine],
                             made: Iterable[Any], *, lock: bool = False
                             ) -> list[tuple[AdvenirSubsidy, rules.Deduction, str]]:
    """The recorded subsidies of the invoice's order after ``made`` (the penalties' allowances or planned
    deductions), each cut to what is left of the invoice's largest base, with its deduction and its reason (the
    computation, and the cut when there is one). Read only; ``deduct_on_invoice`` applies them."""
    if invoice.kind != "invoice" or not lines:
        return []
    query = select(AdvenirSubsidy).where(
        AdvenirSubsidy.tenant_id == invoice.tenant_id, AdvenirSubsidy.order_id == invoice.order_id,
        AdvenirSubsidy.status == "recorded").order_by(AdvenirSubsidy.created_at, AdvenirSubsidy.id)
    pending = list(await session.scalars(query.with_for_update() if lock else query))
    deductions = rules.deduct_allowances(rules.bases_left(lines, made), [s.amount_ht for s in pending], whole=False)
    planned = []
    for subsidy, deduction in zip(pending, deductions, strict=True):
        if deduction is None:
            break  # the invoice's base is used up
        reason = subsidy.computation
        if deduction.cut:
            reason = f"{reason} ; limitée à la base HT restante de la facture : {fr_money(deduction.room_ht)}"
        planned.append((subsidy, deduction, reason))
    return planned


async def deduct_on_invoice(session: AsyncSession, invoice: Invoice, lines: Sequence[InvoiceLine],
                            made: Sequence[InvoiceAllowance], *, now: dt.datetime) -> list[InvoiceAllowance]:
    """``planned_deductions`` as the invoice's allowances, after ``made`` (the penalties deducted); each subsidy
    ``deducted`` with the invoice's id."""
    out: list[InvoiceAllowance] = []
    for subsidy, deduction, reason in await planned_deductions(session, invoice, lines, made, lock=True):
        out.append(add_allowance(session, invoice, deduction, position=len(made) + len(out) + 1, reason=reason,
                                 advenir_subsidy_id=subsidy.id))
        subsidy.status, subsidy.invoice_id, subsidy.deducted_at = "deducted", invoice.id, now
    await session.flush()
    return out
