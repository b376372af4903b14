"""What ``incidents`` puts on the home pages (issue 13 §6): a card of the tenant's tickets (open, past a
deadline, resolved awaiting the beneficiary's acceptance), a card of the operator's tickets across its
tenants, and the operator's work-queue lines (a ticket past its deadline first)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.shell import Figure, HomeCard, WorkItem
from incidents import tickets as svc
from incidents.models import STATUSES
from tenants.context import OperatorContext, TenantContext
from tenants.models import Tenant

__all__ = ["home_cards", "work_items"]

#: A ticket due within this is on the operator's work queue (with those past due, breached or not yet taken).
SOON = dt.timedelta(hours=24)
QUEUE_TICKETS = 50


def _figures(counts: dict[str, int], href: str) -> tuple[Figure, ...]:
    return (
        Figure("ouverts", counts["open"], f"{href}?statut=ouverts", severity="info" if counts["open"] else "ok"),
        Figure("délai dépassé", counts["breached"], f"{href}?statut=ouverts&depasse=1",
               severity="danger" if counts["breached"] else "ok"),
        Figure("résolus, en attente d'acceptation", counts["resolved"], f"{href}?statut=resolved",
               severity="warning" if counts["resolved"] else "ok"),
    )


def _severity(counts: dict[str, int]) -> str:
    return "danger" if counts["breached"] else "warning" if counts["resolved"] else "ok"


async def home_cards(session: AsyncSession, ctx: Any, now: dt.datetime) -> list[HomeCard]:
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        counts = (await svc.ticket_counts(session, [ctx.tenant_id]))[ctx.tenant_id]
        base = f"/t/{ctx.tenant_id}/incidents"
        links = [(base, "Tous les incidents")]
        if ctx.can("report_incidents"):
            links.insert(0, (f"{base}/nouveau", "Signaler un incident"))
        note = ("Acceptez ou refusez les résolutions : sans réponse, elles sont réputées acceptées."
                if counts["resolved"] and ctx.can("accept_resolution") else "")
        return [HomeCard("incidents", "Incidents", figures=_figures(counts, base), links=tuple(links),
                         severity=_severity(counts), note=note)]
    if isinstance(ctx, OperatorContext):
        per_tenant = await svc.ticket_counts(session, ctx.tenant_ids)
        total = {k: sum(c[k] for c in per_tenant.values()) for k in ("open", "breached", "resolved")}
        return [HomeCard("tickets", "Tickets de vos bénéficiaires",
                         figures=(Figure("ouverts", total["open"], "/operateur/incidents"),
                                  Figure("délai dépassé", total["breached"], "/operateur/incidents",
                                         severity="danger" if total["breached"] else "ok")),
                         links=(("/operateur/incidents", "Tickets par échéance"),),
                         severity="danger" if total["breached"] else "info")]
    return []


async def work_items(session: AsyncSession, tenant_ids: list[uuid.UUID], now: dt.datetime) -> list[WorkItem]:
    """Open tickets to act on now: past a deadline first (urgency 0, beside a charge point out of service), then
    due within the day (1), then those not yet acknowledged (2); the detail gives the due date in the tenant's
    zone."""
    items: list[WorkItem] = []
    zones: dict[uuid.UUID, ZoneInfo] = {}
    # The queue holds what needs acting on now; every open ticket is on « Tickets » (/operateur/incidents).
    for ticket in await svc.open_tickets_across(session, tenant_ids, limit=QUEUE_TICKETS, due_before=now + SOON):
        due = ticket.next_due_at
        late = ticket.breached or (ticket.status != "waiting" and due is not None and due <= now)
        soon = due is not None and due - now <= SOON
        if ticket.tenant_id not in zones:  # the tenants are in the session already (the operator's context)
            tenant = await session.get(Tenant, ticket.tenant_id)
            zones[ticket.tenant_id] = ZoneInfo(tenant.timezone if tenant else "Europe/Paris")
        zone = zones[ticket.tenant_id]
        detail = STATUSES.get(ticket.status, ticket.status)
        if due is not None:
            detail += f" — échéance le {due.astimezone(zone):%d/%m/%Y à %H:%M}"
        items.append(WorkItem(
            ticket.tenant_id, 0 if late else 1 if soon else 2, "Ticket", f"{ticket.number} : {ticket.title}",
            f"/t/{ticket.tenant_id}/incidents/{ticket.id}", since=ticket.reported_at,
            detail=("Délai dépassé. " if late else "") + detail,
            severity="danger" if late else "warning" if soon else "info",
        ))
    return items
