"""reporting's background jobs: the generation of a semester report (``reporting.services.generate_report``),
enqueued by the coordinator's « Générer » (page or API). Takes the report's id only; safe to run twice (a done
report is left alone); the nightly recomputation of the dashboard's rollup (``reporting.dashboard``).

A worker imports this module to register the actors: it imports what the semester report needs and no more
(``reporting.dashboard`` pulls in the PDF layout of the COPIL pack, fpdf, fontTools and PIL: its actor imports it
when it runs), so that the job's process stays small (issue 15 « Speed », ``tests/reporting/test_job_imports.py``)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from app.jobs import JobContext, actor
from app.schedule import Schedule
from reporting.services import JOB, generate_report

__all__ = ["ORDER_VOLUMES", "SCHEDULES", "order_volumes", "semester_report"]

ORDER_VOLUMES = "reporting.order_volumes"

log = logging.getLogger(__name__)


#: 1,000,000 lines take well under the 30 minutes allowed (issue 15 « Speed »: ≤ 45 s for the XLSX).
@actor(JOB, time_limit=1_800_000, max_retries=2)
async def semester_report(ctx: JobContext, *, report_id: str) -> None:
    report = await generate_report(ctx.db, ctx.settings, uuid.UUID(report_id))
    if report is not None:
        log.info("semester report %s: %s, %d lines", report.id, report.status, report.line_count)


@actor(ORDER_VOLUMES, time_limit=1_800_000, max_retries=2)
async def order_volumes(ctx: JobContext) -> None:
    """Every tenant's rollup recomputed (what no event says: a catalog solution approved or withdrawn turns its
    article's lines « CATALOGUE »; and the first fill after the upgrade)."""
    from reporting.dashboard import refresh_all_volumes

    kept = await refresh_all_volumes(ctx.db)
    log.info("order volumes: %d rows", kept)


#: Every night (the scheduler runs it at once the first time it sees it: the rollup's first fill).
SCHEDULES = [Schedule("reporting.order-volumes", ORDER_VOLUMES, dt.timedelta(hours=24))]
