"""reporting's background jobs: the generation of a semester report (``reporting.services.generate_report``),
enqueued by the coordinator's « Générer » (page or API). Takes the report's id only; safe to run twice (a done
report is left alone)."""

from __future__ import annotations

import logging
import uuid

from app.jobs import JobContext, actor
from reporting.services import JOB, generate_report

__all__ = ["semester_report"]

log = logging.getLogger(__name__)


#: 1,000,000 lines take well under the 30 minutes allowed (issue 15 « Speed »: ≤ 45 s for the XLSX).
@actor(JOB, time_limit=1_800_000, max_retries=2)
async def semester_report(ctx: JobContext, *, report_id: str) -> None:
    report = await generate_report(ctx.db, ctx.settings, uuid.UUID(report_id))
    if report is not None:
        log.info("semester report %s: %s, %d lines", report.id, report.status, report.line_count)
