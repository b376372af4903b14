"""What the badge requests put on the home pages and in the operator's queue (issue 14 §4, §5, CCTP CPAM
5-5-5-3): the decider's card (requests awaiting its written decision, the late ones in red), the titulaire's
operator's card and queue lines (approved badges to send within 72 h, the oldest approval first)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.shell import Figure, HomeCard, WorkItem
from catalog import badge_requests as requests
from tenants.context import OperatorContext, TenantContext

__all__ = ["home_cards", "work_items"]

#: The most badges one queue shows; the rest are on each beneficiary's list.
QUEUE_BADGES = 100


async def home_cards(session: AsyncSession, ctx: Any, now: dt.datetime) -> list[HomeCard]:
    if isinstance(ctx, TenantContext) and ctx.can("approve_badges"):
        # CCTP CPAM 5-5-5-3 « le responsable […] pour un site ou un service »: a scoped responsable counts only
        # the requests it may see and decide (the admin and an unscoped responsable, the whole tenant's).
        perimeter = await requests.perimeter_of(session, ctx)
        counts = (await requests.request_counts(session, [ctx.tenant_id], now, perimeter=perimeter))[ctx.tenant_id]
        base = f"/t/{ctx.tenant_id}/demandes-badge"
        late, waiting = counts["late"], counts["requested"]
        severity = "danger" if late else "warning" if waiting else "ok"
        return [HomeCard("badge_requests", "Demandes de badge", figures=(
            Figure("à valider (sous 24 h)", waiting, f"{base}?etat=requested",
                   severity="warning" if waiting else "ok"),
            Figure("approuvées, en attente d'envoi", counts["approved"], f"{base}?etat=approved"),
            Figure("en retard", late, base, severity="danger" if late else "ok")),
            links=((base, "Toutes les demandes de badge"),), severity=severity,
            note="Aucune demande ne peut être prise en compte sans votre accord écrit, dû dans les 24 h "
                 "(CCTP 5-5-5-3)." if waiting else "")]
    if isinstance(ctx, OperatorContext):
        counts = await requests.request_counts(session, ctx.tenant_ids, now)
        to_ship = sum(c["approved"] for c in counts.values())
        late = sum(c["late"] for c in counts.values())
        return [HomeCard("badges_to_ship", "Badges à expédier", figures=(
            Figure("approuvés, à envoyer sous 72 h", to_ship, "", severity="warning" if to_ship else "ok"),
            Figure("demandes en retard", late, "", severity="danger" if late else "ok")),
            severity="danger" if late else "warning" if to_ship else "ok")]
    return []


async def work_items(session: AsyncSession, tenant_ids: list[uuid.UUID], now: dt.datetime) -> list[WorkItem]:
    """The badges the titulaire has to send: urgency 1 once the 72 h are past, else 2."""
    items = []
    for request in await requests.requests_to_ship(session, tenant_ids, limit=QUEUE_BADGES):
        due = requests.due_of(request, now)
        late = bool(due and due.overdue)
        items.append(WorkItem(
            request.tenant_id, 1 if late else 2, "Badge à expédier", f"Véhicule {request.plate}",
            f"/t/{request.tenant_id}/demandes-badge/{request.id}", since=request.decided_at,
            detail=(f"envoi dû le {due.deadline:%d/%m/%Y %H:%M} UTC" if due else ""),
            severity="danger" if late else "warning"))
    return items
