"""incidents' background jobs (``@app.jobs.actor``), for its manifest's ``tasks`` and ``schedules``.

Each is a sweep over durable state (``incidents.sweeps``, ``incidents.maintenance``), safe to run twice and made up by the next period
after a run lost with a crashed process (docs/architecture.md « Periodic jobs »): the in-process queue in
embedded mode, dramatiq's workers in scaled mode, fired once per period across processes by ``app.schedule``.
``now`` (ISO 8601) is for tests and manual runs; by default the job's own time.
"""

from __future__ import annotations

import datetime as dt
import logging

from app.db import utcnow
from app.jobs import JobContext, actor
from app.schedule import Schedule
from incidents.sweeps import accept_deemed_resolutions, send_due_notices

__all__ = ["DEEMED_ACCEPTANCE", "PREVENTIVE_MONTHLY", "SCHEDULES", "SLA_NOTICES", "deemed_acceptance",
           "preventive_monthly", "sla_notices"]

log = logging.getLogger(__name__)

SLA_NOTICES = "incidents.sla_notices"
DEEMED_ACCEPTANCE = "incidents.deemed_acceptance"
PREVENTIVE_MONTHLY = "incidents.preventive_monthly"


def _now(now: str | None) -> dt.datetime:
    if not now:
        return utcnow()
    moment = dt.datetime.fromisoformat(now)
    if moment.tzinfo is None:
        raise ValueError("now must carry its offset")
    return moment


@actor(SLA_NOTICES, time_limit=300_000)
async def sla_notices(ctx: JobContext, *, now: str | None = None) -> None:
    """75 % of a delay and its breach, notified once per ticket, clock and threshold."""
    run = await send_due_notices(ctx.db, _now(now))
    if run.sent:
        log.info("deadline notices sent: %s", ", ".join(f"{n} {c} {t} %" for n, c, t in run.sent))


@actor(DEEMED_ACCEPTANCE, time_limit=300_000)
async def deemed_acceptance(ctx: JobContext, *, now: str | None = None) -> None:
    """Resolutions not answered within the tenant's delay are deemed accepted (« réputée acceptée »)."""
    closed = await accept_deemed_resolutions(ctx.db, _now(now))
    if closed:
        log.info("resolutions deemed accepted: %s", ", ".join(closed))


@actor(PREVENTIVE_MONTHLY, time_limit=1_800_000)
async def preventive_monthly(ctx: JobContext, *, now: str | None = None) -> None:
    """CCTP CPAM 5-4-2-1: the month before's remote check of every charge point, once per tenant and month
    (``incidents.maintenance.generate_due_months``); on the 1st of the month at its first run."""
    from incidents.maintenance import generate_due_months

    done = await generate_due_months(ctx.db, _now(now))
    if done:
        log.info("monthly preventive reports: %s", ", ".join(f"{t} {m} ({n} tickets)" for t, m, n in done))


#: A notice waits at most a minute past its moment; a deemed acceptance is dated at its due instant whatever
#: the run that records it, so ten minutes are enough.
SCHEDULES = [
    Schedule("incidents.sla-notices", SLA_NOTICES, dt.timedelta(minutes=1)),
    Schedule("incidents.deemed-acceptance", DEEMED_ACCEPTANCE, dt.timedelta(minutes=10)),
    # A month's reports are due on the 1st: the first hourly run of the month generates them.
    Schedule("incidents.preventive-monthly", PREVENTIVE_MONTHLY, dt.timedelta(hours=1)),
]
