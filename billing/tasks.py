"""billing's background jobs: the deemed acceptance of the penalties whose thirty days of observations passed
without any (CCP TGD VIII.1 « Passé ce délai, il est réputé avoir accepté les pénalités »,
``billing.penalties.record_deemed_acceptances``), each once: the state change is the record."""

from __future__ import annotations

import datetime as dt
import logging

from app.db import Database, utcnow
from app.jobs import JobContext, actor
from app.schedule import Schedule
from billing.penalties import record_deemed_acceptances
from tenants.services import all_tenant_ids

__all__ = ["PENALTY_ACCEPTANCES", "SCHEDULES", "penalty_deemed_acceptances", "run_penalty_acceptances"]

log = logging.getLogger(__name__)
PENALTY_ACCEPTANCES = "billing.penalty_acceptances"
SYSTEM = {"user_id": None, "label": "système"}


async def run_penalty_acceptances(db: Database, now: dt.datetime) -> list[str]:
    """One pass over every tenant, each in its own transaction: the ids of the penalties deemed accepted."""
    async with db.session() as session:
        tenant_ids = await all_tenant_ids(session)
    done: list[str] = []
    for tenant_id in tenant_ids:
        async with db.transaction([tenant_id], actor=SYSTEM) as session:
            done += [str(p.id) for p in await record_deemed_acceptances(session, tenant_id, now)]
    return done


@actor(PENALTY_ACCEPTANCES, time_limit=300_000)
async def penalty_deemed_acceptances(ctx: JobContext, *, now: str | None = None) -> None:
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    done = await run_penalty_acceptances(ctx.db, moment)
    if done:
        log.info("penalties deemed accepted: %d", len(done))


#: Every hour: a penalty is deemed accepted within the hour after its thirtieth day ends (the tenant's day).
SCHEDULES = [Schedule("billing.penalty-acceptances", PENALTY_ACCEPTANCES, dt.timedelta(hours=1))]
