"""What the CAIH recurring maintenance puts on the buyer's home (CCTP CAIH 2.1.32): the park declarations due
within 30 days (« au plus tard un mois avant la date anniversaire du marché »), shown only to a beneficiary that
has contracts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.shell import Figure, HomeCard
from catalog import maintenance
from tenants.context import TenantContext

__all__ = ["home_cards"]

#: How many days ahead a declaration deadline shows on the card.
WITHIN_DAYS = 30


async def home_cards(session: AsyncSession, ctx: Any, now: dt.datetime) -> list[HomeCard]:
    if not (isinstance(ctx, TenantContext) and ctx.can("order")):
        return []
    contracts = await maintenance.contracts_of_tenant(session, ctx.tenant_id)
    if not contracts:
        return []
    due = await maintenance.contracts_to_declare(session, [ctx.tenant_id], now, within_days=WITHIN_DAYS)
    base = f"/t/{ctx.tenant_id}/maintenance-recurrente"
    first = min((deadline for _, deadline in due), default=None)
    label = "parc(s) à déclarer dans les 30 jours" + (f", au plus tard le {first:%d/%m/%Y}" if first else "")
    severity = "warning" if due else "ok"
    return [HomeCard("maintenance_contracts", "Maintenance récurrente", figures=(
        Figure(label, len(due), base, severity=severity),
        Figure("contrat(s) de maintenance", len(contracts), base)),
        links=((base, "Les contrats de maintenance"),), severity=severity)]
