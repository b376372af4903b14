"""The jobs of the reversibility export: making an archive, and the hourly sweep of expired ones."""

from __future__ import annotations

import datetime as dt
import uuid

from app.db import utcnow
from app.jobs import JobContext, actor
from app.schedule import Schedule
from tenants.reversibility.service import JOB, SWEEP, expire_exports, run_export

__all__ = ["SCHEDULES", "export_tenant", "expire"]


@actor(JOB, time_limit=6 * 3_600_000, max_retries=0)
async def export_tenant(ctx: JobContext, *, tenant_id: str, export_id: str) -> None:
    await run_export(ctx.db, ctx.settings, uuid.UUID(tenant_id), uuid.UUID(export_id))


@actor(SWEEP, max_retries=2)
async def expire(ctx: JobContext) -> None:
    await expire_exports(ctx.db, ctx.settings, now=utcnow())


#: An archive's link may outlive its validity by at most an hour.
SCHEDULES = [Schedule("tenants.reversibility-expire", SWEEP, dt.timedelta(hours=1))]
