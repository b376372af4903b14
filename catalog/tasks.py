"""catalog's background jobs:

* the reminders of the agents' badge requests whose step is late (CCTP CPAM 5-5-5-3: the manager's decision
  24 h after the request, the shipment 72 h after the approval), each sent once
  (``catalog.badge_requests.remind_overdue`` records it on the request).
"""

from __future__ import annotations

import datetime as dt
import logging

from app.db import Database, utcnow
from app.jobs import JobContext, actor
from app.schedule import Schedule
from app.settings import Settings
from catalog.badge_requests import remind_overdue
from tenants.services import all_tenant_ids

__all__ = ["BADGE_REMINDERS", "SCHEDULES", "badge_request_reminders", "run_badge_reminders"]

log = logging.getLogger(__name__)
BADGE_REMINDERS = "catalog.badge_request_reminders"
SYSTEM = {"user_id": None, "label": "système"}


async def run_badge_reminders(db: Database, settings: Settings | None, now: dt.datetime) -> list[str]:
    """One pass over every tenant (each in its own transaction): the ids of the requests reminded."""
    async with db.session() as session:
        tenant_ids = await all_tenant_ids(session)
    done: list[str] = []
    for tenant_id in tenant_ids:
        async with db.transaction([tenant_id], actor=SYSTEM) as session:
            done += [str(r.id) for r in await remind_overdue(session, settings, [tenant_id], now)]
    return done


@actor(BADGE_REMINDERS, time_limit=300_000)
async def badge_request_reminders(ctx: JobContext, *, now: str | None = None) -> None:
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    done = await run_badge_reminders(ctx.db, ctx.settings, moment)
    if done:
        log.info("badge request reminders sent: %d", len(done))


#: Every 15 minutes: a late step is reminded at most a quarter of an hour after its delay.
SCHEDULES = [Schedule("catalog.badge-request-reminders", BADGE_REMINDERS, dt.timedelta(minutes=15))]
