"""The beneficiary's reports in its reversibility export (issue 16 §1: « les documents : […] rapports » as the
product makes them, « au format PDF / ODF »): the annual maintenance report (CCTP CPAM 5-6; its PDF,
``pdf_bytes_of``, and its OpenDocument spreadsheet, ``ods_bytes``, with every incident of the year) of every
completed year since the tenant joined and of every year its admin reviewed, under
``documents/reporting/rapport-maintenance-<year>.pdf`` and ``.ods``. Generated from the tables when the archive is written, as of
the year's end (the delays of a completed year no longer move), each PDF dated that day: two exports give the same
bytes. The coordinators' semester reports belong to the central, not to a beneficiary: they are not in it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.component import ExportFile
from app.db import utcnow
from app.documents import redated
from app.pdf import dated
from reporting.maintenance_models import MaintenanceReview
from reporting.maintenance_web import load_maintenance_year, maintenance_sheets, ods_bytes, pdf_bytes_of
from tenants import services as tenants

__all__ = ["export_files", "report_years"]

#: The completed years an archive holds at most (the latest ones), besides the reviewed years.
MAX_YEARS = 10


def report_years(joined: dt.datetime, reviewed: set[int], now: dt.datetime, zone: str) -> list[int]:
    """The years whose annual report the archive holds: every completed year since the tenant joined (the latest
    ``MAX_YEARS``) and every reviewed one that has begun."""
    local = ZoneInfo(zone)
    current = now.astimezone(local).year
    completed = range(max(joined.astimezone(local).year, current - MAX_YEARS), current)
    return sorted(set(completed) | {y for y in reviewed if y <= current})


async def export_files(session: AsyncSession, settings: Any, tenant_id: uuid.UUID) -> AsyncIterator[ExportFile]:
    tenant = await tenants.get_tenant(session, tenant_id)
    zone = tenant.timezone
    reviewed = set(await session.scalars(select(MaintenanceReview.year).where(MaintenanceReview.tenant_id == tenant_id)))
    now = utcnow()
    for year in report_years(tenant.created_at, reviewed, now, zone):
        year_end = min(dt.datetime(year + 1, 1, 1, tzinfo=ZoneInfo(zone)).astimezone(dt.UTC), now)
        report = await load_maintenance_year(session, tenant_id, year, zone, now=year_end)
        moment = year_end if year_end < now else dt.datetime(year, 1, 1, tzinfo=dt.UTC)
        running = " — année en cours, arrêté à la date de l'export" if year_end >= now else ""
        with dated(moment):
            pdf = pdf_bytes_of(report, tenant.name)
        yield ExportFile(f"documents/reporting/rapport-maintenance-{year}.pdf", pdf,
                         f"rapport annuel de maintenance {year} (PDF){running}")
        ods = redated(ods_bytes(maintenance_sheets(report, tenant.name), f"Rapport annuel de maintenance {year}"),
                      moment)
        yield ExportFile(f"documents/reporting/rapport-maintenance-{year}.ods", ods,
                         f"rapport annuel de maintenance {year} (OpenDocument tableur, chaque incident de l'année)"
                         f"{running}")
