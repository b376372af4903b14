"""What purchase orders put on the home pages and in the operator's queue (issue 14 §5): the buyer's card (drafts
to issue, orders being executed, deliveries to verify), the titulaire's operator's card and queue lines (the
issued and started orders of its beneficiaries, oldest notification first)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.shell import Figure, HomeCard, WorkItem
from catalog import orders
from catalog.order_rules import STATUSES
from tenants.context import OperatorContext, TenantContext

__all__ = ["home_cards", "work_items"]

#: The most orders one queue shows (the oldest first); the rest are on each beneficiary's list.
QUEUE_ORDERS = 100


async def home_cards(session: AsyncSession, ctx: Any, now: dt.datetime) -> list[HomeCard]:
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        counts = await orders.order_counts(session, [ctx.tenant_id])
        base = f"/t/{ctx.tenant_id}/commandes"
        links = [(base, "Tous les bons de commande")]
        if ctx.can("order"):
            links.insert(0, (f"{base}/nouvelle", "Nouveau bon de commande"))
        to_verify = counts["delivered"]
        return [HomeCard("orders", "Bons de commande", figures=(
            Figure("brouillons", counts["draft"], f"{base}?etat=draft", severity="info" if counts["draft"] else "ok"),
            Figure("notifiés, en exécution", counts["issued"] + counts["in_progress"], f"{base}?etat=issued"),
            Figure("livrés, à vérifier", to_verify, f"{base}?etat=delivered",
                   severity="warning" if to_verify else "ok")),
            links=tuple(links), severity="warning" if to_verify else "ok",
            note="Vérifiez les livraisons : la décision est due dans les 15 jours (CCP TGD VII.3)."
            if to_verify and ctx.can("order") else "")]
    if isinstance(ctx, OperatorContext):
        counts = await orders.order_counts(session, ctx.tenant_ids)
        waiting = counts["issued"]
        return [HomeCard("orders_to_execute", "Bons de commande à exécuter", figures=(
            Figure("notifiés, à démarrer", waiting, "", severity="warning" if waiting else "ok"),
            Figure("en cours", counts["in_progress"])), severity="warning" if waiting else "ok")]
    return []


async def work_items(session: AsyncSession, tenant_ids: list[uuid.UUID], now: dt.datetime) -> list[WorkItem]:
    """The orders the titulaire has to execute: notified ones to start (urgency 2), started ones to deliver (3)."""
    items = []
    for order in await orders.orders_to_execute(session, tenant_ids, limit=QUEUE_ORDERS):
        started = order.status == "in_progress"
        items.append(WorkItem(
            order.tenant_id, 3 if started else 2, "Bon de commande",
            f"{order.number} : {order.agreement_reference}", f"/t/{order.tenant_id}/commandes/{order.id}",
            since=order.issued_at, detail=f"{STATUSES[order.status]} — {order.line_count} ligne(s)",
            severity="info" if started else "warning"))
    return items
