"""What paid charging puts on a tenant's home (CCTP CPAM 5-5-5-2 « le Titulaire gèrera les paiements et reversera les
sommes à la CPAM »): when the tenant's charging is paid, the sums collected this month, what is left to repay for the
months ended, and the agents' accounts in debit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.shell import Figure, HomeCard
from billing import charging
from billing.charging_rules import fr_money
from tenants.context import TenantContext

__all__ = ["home_cards"]


async def home_cards(session: AsyncSession, ctx: Any, now: dt.datetime) -> list[HomeCard]:
    if not (isinstance(ctx, TenantContext) and ctx.can("read")) or not await charging.is_enabled(session,
                                                                                                   ctx.tenant_id):
        return []
    today = now.astimezone(ZoneInfo(ctx.tenant.timezone)).date()
    months = await charging.collections(session, ctx.tenant_id,
                                        months=charging.last_months(ctx.tenant.timezone, now))
    due = sum((c.due for c in months if c.last < today), Decimal("0.00"))
    debtors = sum(1 for a in await charging.accounts_of_tenant(session, ctx.tenant_id) if a.balance < 0)
    base = f"/t/{ctx.tenant_id}/recharge-payante"
    severity = "warning" if due > 0 and ctx.can("repay_charging") else "ok"
    return [HomeCard("paid_charging", "Recharge payante", figures=(
        Figure("perçu ce mois-ci", fr_money(months[0].collected), base),
        Figure("à reverser (mois échus)", fr_money(due), f"{base}#sommes", severity=severity),
        Figure("comptes d'agents débiteurs", debtors, f"{base}#comptes", severity="info" if debtors else "ok")),
        links=((base, "Recharge payante"),), severity=severity)]
