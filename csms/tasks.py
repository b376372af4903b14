"""csms's periodic jobs: the open-data files of every publishing tenant written again each minute (issue 16 §3:
« the dynamic states published each minute »; ``csms.opendata.publish_all``). Twice in a minute: the same bytes,
nothing changes (ETag and Last-Modified kept)."""

from __future__ import annotations

import datetime as dt
import logging

from app.db import utcnow
from app.jobs import JobContext, actor
from app.schedule import Schedule
from csms.opendata import publish_all

__all__ = ["OPEN_DATA", "SCHEDULES", "open_data"]

log = logging.getLogger(__name__)
OPEN_DATA = "csms.open_data"


@actor(OPEN_DATA, time_limit=55_000)
async def open_data(ctx: JobContext, *, now: str | None = None) -> None:
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    done = await publish_all(ctx.db, moment)
    log.debug("open data written for %d tenant(s)", len(done))


SCHEDULES = [Schedule("csms.open-data", OPEN_DATA, dt.timedelta(minutes=1))]
