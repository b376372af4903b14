"""catalog's background jobs:

* the reminders of the agents' badge requests whose step is late (CCTP CPAM 5-5-5-3: the manager's decision
  24 h after the request, the shipment 72 h after the approval), each sent once
  (``catalog.badge_requests.remind_overdue`` records it on the request);
* the deemed acceptance of the amendments whose five days of observations passed without any (CCP TGD VI.3,
  ``catalog.amendments.record_deemed_acceptances``), each once.
* the renewal orders of the CAIH recurring maintenance contracts on their anniversary (CCTP CAIH 2.1.32 « Cette
  actualisation donnera lieu à un bon de commande à la date anniversaire »), each made once
  (``catalog.maintenance.renew_due``: a unique key per contract and anniversary);
* the reminder of the delivery slips whose decision is past its fifteen days (CCP TGD VII.3), each once
  (``catalog.deliveries.remind_overdue_decisions`` records it on the slip; the e-mails follow through the outbox).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, utcnow
from app.jobs import JobContext, actor
from app.schedule import Schedule
from app.settings import Settings
from catalog.amendments import record_deemed_acceptances
from catalog.badge_requests import remind_overdue
from catalog.deliveries import remind_overdue_decisions
from catalog.maintenance import renew_due
from tenants.services import all_tenant_ids

__all__ = ["AMENDMENT_ACCEPTANCES", "BADGE_REMINDERS", "DELIVERY_REMINDERS", "MAINTENANCE_RENEWALS", "SCHEDULES",
           "amendment_deemed_acceptances", "badge_request_reminders", "delivery_decision_reminders",
           "maintenance_renewals", "run_amendment_acceptances", "run_badge_reminders", "run_delivery_reminders",
           "run_maintenance_renewals"]

log = logging.getLogger(__name__)
BADGE_REMINDERS = "catalog.badge_request_reminders"
MAINTENANCE_RENEWALS = "catalog.maintenance_renewals"
SYSTEM = {"user_id": None, "label": "système"}


async def _each_tenant(db: Database, step: Callable[[AsyncSession, uuid.UUID], Awaitable[list[Any]]]) -> list[Any]:
    """One pass over every tenant, each in its own transaction (a tenant's failure rolls back its own work only):
    what ``step`` returned for each, in one list."""
    async with db.session() as session:
        tenant_ids = await all_tenant_ids(session)
    done: list[Any] = []
    for tenant_id in tenant_ids:
        async with db.transaction([tenant_id], actor=SYSTEM) as session:
            done += await step(session, tenant_id)
    return done


async def run_badge_reminders(db: Database, settings: Settings | None, now: dt.datetime) -> list[str]:
    """One pass over every tenant (each in its own transaction): the ids of the requests reminded."""
    async def step(session: AsyncSession, tenant_id: uuid.UUID) -> list[str]:
        return [str(r.id) for r in await remind_overdue(session, settings, [tenant_id], now)]

    return await _each_tenant(db, step)


@actor(BADGE_REMINDERS, time_limit=300_000)
async def badge_request_reminders(ctx: JobContext, *, now: str | None = None) -> None:
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    done = await run_badge_reminders(ctx.db, ctx.settings, moment)
    if done:
        log.info("badge request reminders sent: %d", len(done))


async def run_maintenance_renewals(db: Database, now: dt.datetime) -> list[str]:
    """One pass over every tenant (each in its own transaction): the numbers of the renewal orders issued."""
    async def step(session: AsyncSession, tenant_id: uuid.UUID) -> list[str]:
        return [order.number for order in await renew_due(session, tenant_id, now)]

    return await _each_tenant(db, step)


@actor(MAINTENANCE_RENEWALS, time_limit=300_000)
async def maintenance_renewals(ctx: JobContext, *, now: str | None = None) -> None:
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    done = await run_maintenance_renewals(ctx.db, moment)
    if done:
        log.info("maintenance renewal orders issued: %s", ", ".join(done))


#: Every 15 minutes: a late step is reminded at most a quarter of an hour after its delay. Every hour: a renewal
#: order is issued within the first hour of its anniversary (the tenant's day).
SCHEDULES = [Schedule("catalog.badge-request-reminders", BADGE_REMINDERS, dt.timedelta(minutes=15)),
             Schedule("catalog.maintenance-renewals", MAINTENANCE_RENEWALS, dt.timedelta(hours=1))]


# --------------------------------------------------------------------------- amendments (CCP TGD VI.3)

AMENDMENT_ACCEPTANCES = "catalog.amendment_deemed_acceptances"


async def run_amendment_acceptances(db: Database, now: dt.datetime) -> list[str]:
    """One pass over every tenant (each in its own transaction): the ids of the amendments deemed accepted."""
    async def step(session: AsyncSession, tenant_id: uuid.UUID) -> list[str]:
        return [str(a.id) for a in await record_deemed_acceptances(session, [tenant_id], now)]

    return await _each_tenant(db, step)


@actor(AMENDMENT_ACCEPTANCES, time_limit=300_000)
async def amendment_deemed_acceptances(ctx: JobContext, *, now: str | None = None) -> None:
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    done = await run_amendment_acceptances(ctx.db, moment)
    if done:
        log.info("amendments deemed accepted: %d", len(done))


#: Every 15 minutes: « passé ce délai, le titulaire est réputé en avoir accepté » is recorded within a quarter of
#: an hour of the end of the fifth day.
SCHEDULES.append(Schedule("catalog.amendment-deemed-acceptances", AMENDMENT_ACCEPTANCES, dt.timedelta(minutes=15)))


# --------------------------------------------------------------------------- deliveries (CCP TGD VII.3)

DELIVERY_REMINDERS = "catalog.delivery_reminders"


async def run_delivery_reminders(db: Database, now: dt.datetime) -> list[str]:
    """One pass over every tenant (each in its own transaction): the numbers of the slips whose overdue decision
    was reminded (the e-mails leave through the outbox once the pass's transaction commits)."""
    async def step(session: AsyncSession, tenant_id: uuid.UUID) -> list[str]:
        return [slip.number for slip in await remind_overdue_decisions(session, [tenant_id], now)]

    return await _each_tenant(db, step)


@actor(DELIVERY_REMINDERS, time_limit=300_000)
async def delivery_decision_reminders(ctx: JobContext, *, now: str | None = None) -> None:
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    done = await run_delivery_reminders(ctx.db, moment)
    if done:
        log.info("overdue delivery decisions reminded: %s", ", ".join(done))


#: Every hour: an overdue decision is reminded within the hour after its fifteenth day ends.
SCHEDULES.append(Schedule("catalog.delivery-reminders", DELIVERY_REMINDERS, dt.timedelta(hours=1)))
