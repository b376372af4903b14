"""What the quotes put on the home pages and in the operator's queue (issue 14 §2, §5): the beneficiary's card
(quotes to decide, requests waiting for the titulaire, late milestones), the titulaire's operator's card and queue
lines (requests to visit and price, accepted works to start or commission), with their CPAM 5-1-4 / 5-2
deadlines."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.shell import Figure, HomeCard, WorkItem
from catalog import quote_rules as rules
from catalog import quotes
from tenants.context import OperatorContext, TenantContext

__all__ = ["home_cards", "work_items"]

#: The most quotes one queue shows; the rest are on each beneficiary's list.
QUEUE_QUOTES = 100


async def home_cards(session: AsyncSession, ctx: Any, now: dt.datetime) -> list[HomeCard]:
    if isinstance(ctx, TenantContext) and ctx.can("order"):
        counts = await quotes.quote_counts(session, [ctx.tenant_id])
        base = f"/t/{ctx.tenant_id}/devis"
        to_decide, waiting = counts["answered"], counts["requested"]
        return [HomeCard("quotes", "Devis", figures=(
            Figure("chiffrés, à accepter ou refuser", to_decide, f"{base}?etat=answered",
                   severity="warning" if to_decide else "ok"),
            Figure("demandés, en attente du titulaire", waiting, f"{base}?etat=requested"),
            Figure("acceptés", counts["accepted"], f"{base}?etat=accepted")),
            links=((base, "Tous les devis"), (f"{base}/nouveau", "Demander un devis")),
            severity="warning" if to_decide else "ok")]
    if isinstance(ctx, OperatorContext):
        counts = await quotes.quote_counts(session, ctx.tenant_ids)
        pending = counts["requested"]
        return [HomeCard("quotes_to_answer", "Devis à chiffrer", figures=(
            Figure("demandes à visiter et chiffrer", pending, "", severity="warning" if pending else "ok"),
            Figure("acceptés, travaux à réaliser", counts["accepted"], "")),
            severity="warning" if pending else "ok")]
    return []


async def work_items(session: AsyncSession, tenant_ids: list[uuid.UUID], now: dt.datetime) -> list[WorkItem]:
    """The titulaire's quotes to act on: urgency 1 once a milestone is past, else 2 (3 for a request whose site
    visit, which starts the 14 working days, is not recorded yet)."""
    items = []
    calendars: dict[uuid.UUID, Any] = {}
    for quote in await quotes.quotes_to_answer(session, tenant_ids, limit=QUEUE_QUOTES):
        if quote.tenant_id not in calendars:
            calendars[quote.tenant_id] = await quotes.tenant_calendar(session, quote.tenant_id)
        milestone = rules.pending_milestone(
            await quotes.milestones_of(session, quote, now, calendars[quote.tenant_id]))
        late = milestone is not None and milestone.status == "overdue"
        if quote.state == "requested":
            title = "Devis à chiffrer" if quote.site_visit_on else "Visite de site à organiser"
        else:
            title = "Travaux à commencer" if quote.works_started_on is None else "Mise en service à enregistrer"
        detail = (f"{milestone.label.lower()} au plus tard le {milestone.deadline.last_day:%d/%m/%Y}"
                  if milestone is not None and milestone.deadline is not None else "")
        items.append(WorkItem(
            quote.tenant_id, 1 if late else 2 if milestone is not None else 3, title,
            f"{quote.number} : {quote.need[:80]}", f"/t/{quote.tenant_id}/devis/{quote.id}",
            since=quote.requested_at, detail=detail, severity="danger" if late else "warning"))
    return items
