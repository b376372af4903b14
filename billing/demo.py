"""billing's demo data, made by the services a user's click would call: the ECB rate late interest is computed on
(CCP TGD IX.7, the rate of 11 June 2025, 2,15 %), the titulaire's identity as the issuer of the CPAM's agreement,
and the Factur-X invoice of the CPAM's verified demo order, issued (CCP TGD IX.4: after the buyer's reception).

Idempotent: the rate is added when no rate is known, the invoice when the CPAM has none. Like catalog's demo
ordering, ``Settings.demo_ordering`` off (the tests' shared template) loads nothing: the verified order it invoices
is part of that ordering.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from billing import invoices, late, services
from billing.models import Invoice
from catalog import services as catalog

__all__ = ["ECB_RATE", "ISSUER", "load"]

#: The ECB's main refinancing rate from 11 June 2025 (what IX.7 reads for any semester started since).
ECB_RATE = {"applies_from": "2025-06-11", "rate": "2,15"}
#: The demo titulaire (``tenants.demo``: « Titulaire Démo SAS ») as an invoice issuer: SIRET and VAT number with
#: their keys.
ISSUER = {"legal_name": "Titulaire Démo SAS", "siret": "73282932000074", "vat_number": "FR44732829320",
          "address": "12 rue de la Recharge", "postal_code": "72000", "city": "Le Mans"}


async def load(session: AsyncSession, shared: dict[str, Any]) -> dict[str, Any]:
    if not getattr(shared.get("settings"), "demo_ordering", True):  # off in the tests' shared template
        return {"ecb_rates": 0, "demo_invoices": 0}
    now = utcnow()
    rates = 0
    if not await late.ecb_rates(session):
        await late.add_rate(session, ECB_RATE, created_by="démo", now=now)
        rates = 1
    made = 0
    tenant = shared.get("tenants", {}).get("cpam")
    if tenant is not None and not await session.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.tenant_id == tenant.id)):
        found = await invoices.orders_to_invoice(session, [tenant.id])
        if found:
            order = await catalog.billable_order(session, tenant.id, found[0][1])
            if await services.issuer_of_agreement(session, order.agreement_id) is None:
                await services.update_issuer(session, tenant.id, order.agreement_id, ISSUER, now=now)
            draft = await invoices.draft_invoice(session, tenant.id, order.id, {}, now=now)
            await invoices.issue_invoice(session, tenant.id, draft.id, now=now)
            made = 1
    return {"ecb_rates": rates, "demo_invoices": made}
