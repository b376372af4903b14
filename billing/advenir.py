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
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of, one_in_tenant
from app.errors import NotFound
from billing import rules
from billing.charging_models import AdvenirSubsidy
from billing.charging_rules import ADVENIR_STATUSES, advenir_amount, fr_money
from billing.models import Invoice, InvoiceAllowance, InvoiceLine
from billing.services import BillingError
from catalog import services as catalog

__all__ = ["STATUSES", "cancel_subsidy", "deduct_on_invoice", "get_subsidy_in_tenant", "record_subsidy",
           "subsidies_of_tenant"]

STATUSES = ADVENIR_STATUSES
_ZERO = Decimal("0.00")


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


async def deduct_on_invoice(session: AsyncSession, invoice: Invoice, lines: Sequence[InvoiceLine],
                            made: Sequence[InvoiceAllowance], *, now: dt.datetime) -> list[InvoiceAllowance]:
    """The recorded subsidies of the invoice's order as its allowances, after ``made`` (the penalties deducted):
    each on the VAT rate of the invoice's largest base, capped by what is left of that base."""
    if invoice.kind != "invoice" or not lines:
        return []
    pending = list(await session.scalars(select(AdvenirSubsidy).where(
        AdvenirSubsidy.tenant_id == invoice.tenant_id, AdvenirSubsidy.order_id == invoice.order_id,
        AdvenirSubsidy.status == "recorded").order_by(AdvenirSubsidy.created_at, AdvenirSubsidy.id)
        .with_for_update()))
    if not pending:
        return []
    bases: dict[Decimal, Decimal] = {}
    for line in lines:
        bases[line.vat_rate] = bases.get(line.vat_rate, _ZERO) + line.total_ht
    for allowance in made:
        bases[allowance.vat_rate] -= allowance.amount_ht
    rate = max(bases, key=lambda r: (bases[r], r))
    out: list[InvoiceAllowance] = []
    for subsidy in pending:
        room = bases[rate]
        if room <= 0:
            break
        amount, reason = subsidy.amount_ht, subsidy.computation
        if amount > room:
            amount = room
            reason = f"{reason} ; limitée à la base HT restante de la facture : {fr_money(room)}"
        vat = rules.money(amount * rate / 100)
        allowance = InvoiceAllowance(tenant_id=invoice.tenant_id, invoice_id=invoice.id,
                                     position=len(made) + len(out) + 1, advenir_subsidy_id=subsidy.id,
                                     reason=reason[:500], amount_ht=amount, vat_rate=rate, total_vat=vat)
        session.add(allowance)
        out.append(allowance)
        bases[rate] -= amount
        subsidy.status, subsidy.invoice_id, subsidy.deducted_at = "deducted", invoice.id, now
        invoice.total_ht -= amount
        invoice.total_vat -= vat
        invoice.total_ttc -= amount + vat
    await session.flush()
    return out
