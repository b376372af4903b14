"""The sweeps of incidents' scheduled jobs (``incidents.tasks``): each finds what is due itself, across every
tenant, and records what it did, so that running it twice — or again after a restart — does nothing more.

* ``send_due_notices``: the deadline notices (``incidents.notices``: 75 % of a delay and its breach, in the
  delay's notice window). It reads only the tickets whose ``next_notice_at`` has come (indexed), records each
  notice in ``incident_notices`` (unique per ticket, clock and threshold: of two runs at once, one wins) and
  publishes ``incidents.deadline.threshold_reached`` in that transaction; the e-mails follow from the event.
* ``accept_deemed_resolutions``: the resolutions the beneficiary has not answered within its delay
  (``IncidentSettings.acceptance_delay_hours``) are deemed accepted (``incidents.tickets.close_deemed_accepted``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, new_id
from app.outbox import publish_on_commit
from incidents.events import DeadlineThresholdReached
from incidents.models import IncidentNotice, Ticket
from incidents.notices import PlannedNotice, due_notices, next_notice_at, notice_plan
from incidents.tickets import close_deemed_accepted, sent_notices, tenant_calendar, ticket_clocks
from tenants.services import all_tenant_ids

__all__ = ["SYSTEM", "NoticeRun", "accept_deemed_resolutions", "send_due_notices"]

log = logging.getLogger(__name__)

SYSTEM = {"user_id": None, "label": "système (tâche planifiée)"}
#: Tickets read per scan of the due ones.
BATCH = 200


@dataclass
class NoticeRun:
    """What one run of the notice job did."""

    tickets: int = 0
    sent: list[tuple[str, str, int]] = field(default_factory=list)  # (number, clock, threshold)
    superseded: int = 0


async def _tenants(db: Database) -> list[uuid.UUID]:
    async with db.session() as session:
        return await all_tenant_ids(session)


def _minutes(span: dt.timedelta) -> int:
    return int(span.total_seconds() // 60)


async def _record(session: AsyncSession, ticket: Ticket, notice: PlannedNotice, now: dt.datetime, *,
                  superseded: bool) -> bool:
    """Record the notice once: False when another run recorded it first (then it sends nothing)."""
    make = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    notice_id = new_id()
    inserted = await session.scalar(
        make(IncidentNotice).values(id=notice_id, tenant_id=ticket.tenant_id, ticket_id=ticket.id, clock=notice.clock,
                                    threshold=notice.threshold, deadline=notice.deadline, sent_at=now,
                                    superseded=superseded, event_id=None)
        .on_conflict_do_nothing(index_elements=["tenant_id", "ticket_id", "clock", "threshold"])
        .returning(IncidentNotice.id))
    if inserted is None:
        return False
    if not superseded:
        event_id = publish_on_commit(session, DeadlineThresholdReached(
            tenant_id=ticket.tenant_id, ticket_id=ticket.id, number=ticket.number, clock=notice.clock,
            threshold=notice.threshold, deadline=notice.deadline, allowed_minutes=_minutes(notice.allowed),
            consumed_minutes=_minutes(notice.consumed), notified_at=now))
        await session.execute(update(IncidentNotice).where(
            IncidentNotice.tenant_id == ticket.tenant_id, IncidentNotice.id == notice_id).values(event_id=event_id)
            .execution_options(synchronize_session=False))
    return True


async def notify_ticket(session: AsyncSession, ticket: Ticket, now: dt.datetime, run: NoticeRun | None = None) -> None:
    """Send what is due for one ticket (its row locked) and store when it is next due."""
    run = run if run is not None else NoticeRun()
    clock = await ticket_clocks(session, ticket, now)
    plan = notice_plan(clock, await tenant_calendar(session, ticket.tenant_id), now)
    sent = await sent_notices(session, ticket)
    send, superseded = due_notices(plan, now, sent)
    for notice in superseded:
        if await _record(session, ticket, notice, now, superseded=True):
            run.superseded += 1
        sent.add(notice.key)
    for notice in send:
        if await _record(session, ticket, notice, now, superseded=False):
            run.sent.append((ticket.number, notice.clock, notice.threshold))
        sent.add(notice.key)
    ticket.next_notice_at = next_notice_at(plan, sent)
    await session.flush()


async def send_due_notices(db: Database, now: dt.datetime) -> NoticeRun:
    """One run of the notice job over every tenant's due tickets (each in its own tenant's transaction)."""
    run = NoticeRun()
    tenant_ids = await _tenants(db)
    if not tenant_ids:
        return run
    seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
    while True:
        async with db.session(tenant_ids) as session:
            rows = (await session.execute(
                select(Ticket.tenant_id, Ticket.id).where(Ticket.tenant_id.in_(tenant_ids), Ticket.next_notice_at <= now)
                .order_by(Ticket.next_notice_at).limit(BATCH))).all()
        due = [(tenant_id, ticket_id) for tenant_id, ticket_id in rows if (tenant_id, ticket_id) not in seen]
        if not due:
            return run
        for tenant_id, ticket_id in due:
            seen.add((tenant_id, ticket_id))
            try:
                async with db.transaction([tenant_id], actor=SYSTEM) as session:
                    # Locked: an event recorded meanwhile recomputes next_notice_at after us, never under us.
                    ticket = await session.scalar(select(Ticket).where(
                        Ticket.tenant_id == tenant_id, Ticket.id == ticket_id).with_for_update())
                    if ticket is None or ticket.next_notice_at is None or ticket.next_notice_at > now:
                        continue  # changed since the scan
                    run.tickets += 1
                    await notify_ticket(session, ticket, now, run)
            except Exception:  # one ticket's failure never holds the others; the next run tries it again
                log.exception("deadline notices of ticket %s (tenant %s) failed", ticket_id, tenant_id)


async def accept_deemed_resolutions(db: Database, now: dt.datetime) -> list[str]:
    """Close every tenant's resolutions whose acceptance delay has run out; returns the numbers closed."""
    tenant_ids = await _tenants(db)
    if not tenant_ids:
        return []
    async with db.session(tenant_ids) as session:
        waiting = list(await session.scalars(select(Ticket.tenant_id).where(
            Ticket.tenant_id.in_(tenant_ids), Ticket.status == "resolved").distinct()))
    closed: list[str] = []
    for tenant_id in waiting:
        try:
            async with db.transaction([tenant_id], actor=SYSTEM) as session:
                numbers = [ticket.number for ticket in await close_deemed_accepted(session, tenant_id, now)]
        except Exception:  # the next run tries again
            log.exception("deemed acceptance of tenant %s failed", tenant_id)
            continue
        closed += numbers
    return closed
