"""billing's background jobs: the deemed acceptance of the penalties whose thirty days of observations passed
without any (CCP TGD VIII.1 « Passé ce délai, il est réputé avoir accepté les pénalités »,
``billing.penalties.record_deemed_acceptances``), each once: the state change is the record; and the drafts of
each ended quarter's invoices of continuous services (CCP TGD IX.4 « à terme civil échu »,
``billing.periodic.draft_due_quarters``), each quarter once: ``invoice_periods`` is the record."""

from __future__ import annotations

import datetime as dt
import logging

from app.db import Database, utcnow
from app.jobs import JobContext, actor
from app.schedule import Schedule
from billing.penalties import record_deemed_acceptances
from billing.periodic import draft_due_quarters
from tenants.services import all_tenant_ids

__all__ = ["PENALTY_ACCEPTANCES", "QUARTER_INVOICES", "SCHEDULES", "penalty_deemed_acceptances", "quarter_invoices",
           "run_penalty_acceptances", "run_quarter_invoices"]

log = logging.getLogger(__name__)
PENALTY_ACCEPTANCES = "billing.penalty_acceptances"
QUARTER_INVOICES = "billing.quarter_invoices"
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


async def run_quarter_invoices(db: Database, now: dt.datetime) -> list[str]:
    """One pass over every tenant, each in its own transaction: the ids of the quarter invoices drafted."""
    async with db.session() as session:
        tenant_ids = await all_tenant_ids(session)
    done: list[str] = []
    for tenant_id in tenant_ids:
        async with db.transaction([tenant_id], actor=SYSTEM) as session:
            done += [str(i.id) for i in await draft_due_quarters(session, tenant_id, now=now)]
    return done


@actor(QUARTER_INVOICES, time_limit=900_000)
async def quarter_invoices(ctx: JobContext, *, now: str | None = None) -> None:
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    done = await run_quarter_invoices(ctx.db, moment)
    if done:
        log.info("quarter invoices drafted: %d", len(done))


#: Every hour: a penalty is deemed accepted within the hour after its thirtieth day ends (the tenant's day). Every
#: six hours: a quarter's invoices are drafted on the first day after it ends, whatever the tenant's zone.
SCHEDULES = [Schedule("billing.penalty-acceptances", PENALTY_ACCEPTANCES, dt.timedelta(hours=1)),
             Schedule("billing.quarter-invoices", QUARTER_INVOICES, dt.timedelta(hours=6))]
