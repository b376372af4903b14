"""csms's background jobs (``@app.jobs.actor``), for its manifest's ``tasks`` and ``schedules``.

* ``csms.open_data``: the open-data files of every publishing tenant written again each minute (issue 16 §3:
  « the dynamic states published each minute »; ``csms.opendata.publish_all``). Twice in a minute: the same
  bytes, nothing changes (ETag and Last-Modified kept).
* ``csms.firmware.advance`` (tenant_id, campaign_id): a firmware campaign's next wave
  (``csms.domain.firmware.advance_campaign``), enqueued when the campaign is created or relaunched;
* ``csms.firmware.sweep``: every minute, the next wave of every campaign in its window (a window that
  opens later, a station that never answered, a window that closed). Safe to run twice: a wave never
  exceeds the campaign's concurrency limit (its row is locked while planned). Both reach the stations
  over the process's bus (embedded: the one shared with the ingress); a worker without one opens its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.bus import Bus, create_bus
from app.db import utcnow
from app.jobs import JobContext, actor
from app.schedule import Schedule
from csms.domain import firmware
from csms.opendata import publish_all

__all__ = ["OPEN_DATA", "SCHEDULES", "advance_firmware_campaign", "open_data", "sweep_firmware_campaigns"]

log = logging.getLogger(__name__)
OPEN_DATA = "csms.open_data"


@actor(OPEN_DATA, time_limit=55_000)
async def open_data(ctx: JobContext, *, now: str | None = None) -> None:
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    done = await publish_all(ctx.db, moment)
    log.debug("open data written for %d tenant(s)", len(done))


@asynccontextmanager
async def _bus(ctx: JobContext) -> AsyncIterator[Bus]:
    if ctx.bus is not None:
        yield ctx.bus
        return
    bus = await create_bus(ctx.settings)
    try:
        yield bus
    finally:
        await bus.close()


@actor(firmware.ADVANCE_JOB, time_limit=600_000, max_retries=2)
async def advance_firmware_campaign(ctx: JobContext, *, tenant_id: str, campaign_id: str) -> None:
    async with _bus(ctx) as bus:
        await firmware.advance_campaign(ctx.db, bus, uuid.UUID(tenant_id), uuid.UUID(campaign_id), now=utcnow())


@actor(firmware.SWEEP_JOB, time_limit=600_000, max_retries=0)
async def sweep_firmware_campaigns(ctx: JobContext) -> None:
    from tenants.services import all_tenant_ids

    async with ctx.db.session() as session:
        tenant_ids = await all_tenant_ids(session)
    now = utcnow()
    async with _bus(ctx) as bus:
        for tenant_id, campaign_id in await firmware.due_campaigns(ctx.db, tenant_ids, now):
            await firmware.advance_campaign(ctx.db, bus, tenant_id, campaign_id, now=now)


SCHEDULES = [Schedule("csms.open-data", OPEN_DATA, dt.timedelta(minutes=1)),
             Schedule("csms.firmware-sweep", firmware.SWEEP_JOB, dt.timedelta(minutes=1))]
