"""What the delivery slips put on the home pages and in the operator's queue (issue 14 §3; CCP TGD VII.3): the
buyer's card (slips awaiting its decision, and how many are past their 15 days), and a line of the titulaire's
operator's queue for each decision overdue (its order to follow up with the buyer)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.shell import Figure, HomeCard, WorkItem
from catalog import deliveries
from tenants.context import TenantContext

__all__ = ["home_cards", "work_items"]

#: The most overdue slips one queue shows.
QUEUE_SLIPS = 100


async def home_cards(session: AsyncSession, ctx: Any, now: dt.datetime) -> list[HomeCard]:
    if not (isinstance(ctx, TenantContext) and ctx.can("order")):
        return []
    counts = await deliveries.delivery_counts(session, [ctx.tenant_id], now)
    if not counts["to_decide"]:
        return []
    late = counts["overdue"]
    base = f"/t/{ctx.tenant_id}/commandes"
    severity = "danger" if late else "warning"
    return [HomeCard("deliveries", "Livraisons à vérifier", figures=(
        Figure("bordereaux en attente de votre décision", counts["to_decide"], base,
               severity="warning"),
        Figure("décisions en retard (quinze jours, CCP TGD VII.3)", late, base,
               severity="danger" if late else "ok")),
        links=((base, "Bons de commande"),), severity=severity)]


async def work_items(session: AsyncSession, tenant_ids: list[uuid.UUID], now: dt.datetime) -> list[WorkItem]:
    """The titulaire's slips whose decision is overdue (urgency 1): the buyer is to be reminded."""
    return [WorkItem(
        slip.tenant_id, 1, "Décision de l'acheteur en retard", f"Bordereau {slip.number}",
        f"/t/{slip.tenant_id}/commandes/{slip.order_id}/livraisons/{slip.id}",
        since=dt.datetime.combine(slip.delivered_on, dt.time(0), tzinfo=deadline.expires_at.tzinfo),
        detail=f"mis à disposition le {slip.delivered_on:%d/%m/%Y}, décision due au plus tard le "
               f"{deadline.last_day:%d/%m/%Y} (CCP TGD VII.3)", severity="danger")
        for slip, deadline in await deliveries.overdue_deliveries(session, tenant_ids, now, limit=QUEUE_SLIPS)]
