"""The services of ``reporting``: the coordinator's semester reports (issue 15 §1; CCTP CAIH 5, CANUT 7).

A coordinator asks for a semester's report (``request_report``: a ``semester_reports`` row, « en attente »); the
job ``reporting.semester_report`` (``reporting.tasks``; in-process when embedded, dramatiq when scaled) runs
``generate_report``: it streams the order lines of the central's agreements from ``catalog.services`` in the scope
of the central's beneficiaries, writes the XLSX, the ODS and the CSV (``reporting.workbook``) with the
semester's service indicators of the beneficiaries' tickets (``incidents.services``, CAIH 2.1.26 / 2.1.27 / 6.1) under
``<var>/reports/<central>/``, records its progress as it goes, then each file's name, size and SHA-256. The files
are kept and streamed on download. Safe to run twice: a done report is left alone, any other is made again.

Reports belong to a central: another central's report is ``NotFound``, like one that does not exist.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, utcnow
from app.errors import NotFound, ValidationFailed
from app.settings import Settings
from catalog import services as catalog
from incidents import services as incidents
from reporting.models import SemesterReport
from reporting.semester import PARIS, Semester, semester_of, since_start
from reporting.workbook import ReportMeta, SemesterWorkbook
from tenants.services import get_central_by_code, tenant_ids_of_central

__all__ = [
    "FORMATS",
    "JOB",
    "generate_report",
    "provided_at",
    "report_file",
    "report_of_central",
    "reports_of_central",
    "request_report",
    "semester_label",
    "semester_of_report",
]

log = logging.getLogger(__name__)
JOB = "reporting.semester_report"
#: The files of a report, by format: media type (the ODS: CCP TGD X.7, OpenDocument).
FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "csv": "text/csv; charset=utf-8",
}
#: Lines per batch handed to the writer's thread; the progress is recorded every ``PROGRESS_EVERY`` lines.
BATCH = catalog.REPORT_BATCH
PROGRESS_EVERY = 20_000
SYSTEM = {"user_id": None, "label": "système"}


async def request_report(session: AsyncSession, central: Any, data: dict[str, Any], *, created_by: str,
                         now: dt.datetime) -> SemesterReport:
    """A report to make: ``{"year", "half", "agreement_id"?}``; the semester must have started (the current one
    gives the report so far). ``ValidationFailed`` per field (French) writes nothing; another central's agreement
    is ``NotFound``."""
    errors: dict[str, str] = {}
    semester = None
    try:
        year, half = int(data.get("year")), int(data.get("half"))  # type: ignore[arg-type]
        semester = Semester(year, half)
    except (TypeError, ValueError):
        errors["half" if str(data.get("year") or "").isdigit() else "year"] = (
            "Année (AAAA) et semestre (1 ou 2) attendus.")
    if semester is not None and semester > semester_of(now.astimezone(PARIS).date()):
        errors["year"] = f"Le {semester.label} n'a pas commencé."
    agreement_id = None
    raw = data.get("agreement_id")
    if raw:
        try:
            agreement_id = uuid.UUID(str(raw))
        except ValueError:
            errors["agreement_id"] = "Accord-cadre inconnu."
    if errors:
        raise ValidationFailed(errors)
    assert semester is not None
    agreements = await catalog.agreements_of_central(session, central.id)
    if agreement_id is not None:
        agreements = [await catalog.agreement_of_coordinator(session, {central.id}, agreement_id)]
    since, up_to = since_start(semester, [a.starts_on for a in agreements])
    report = SemesterReport(
        id=uuid.uuid4(), central_id=central.id, year=semester.year, half=semester.half, agreement_id=agreement_id,
        status="queued", created_by=created_by[:320], created_at=now,
        parameters={"central_code": central.code, "agreements": [a.reference for a in agreements],
                    "since": since.isoformat() if since else None, "up_to": up_to.isoformat(),
                    "zone": PARIS.key})
    session.add(report)
    await session.flush()
    return report


def semester_of_report(report: SemesterReport) -> Semester:
    return Semester(report.year, report.half)


def semester_label(report: SemesterReport) -> str:
    """« 1er semestre 2026 », with the agreement when the report covers one."""
    agreements = report.parameters.get("agreements") or []
    one = f" ({agreements[0]})" if report.agreement_id and agreements else ""
    return f"{semester_of_report(report).label}{one}"


async def report_of_central(session: AsyncSession, central_id: uuid.UUID, report_id: uuid.UUID) -> SemesterReport:
    report = await session.get(SemesterReport, report_id)
    if report is None or report.central_id != central_id:
        raise NotFound("rapport")
    return report


async def reports_of_central(session: AsyncSession, central_id: uuid.UUID, *, limit: int = 50) -> list[SemesterReport]:
    """Newest first."""
    return list(await session.scalars(select(SemesterReport).where(SemesterReport.central_id == central_id)
                                      .order_by(SemesterReport.created_at.desc()).limit(limit)))


async def provided_at(session: AsyncSession, central_id: uuid.UUID) -> dict[Semester, dt.datetime]:
    """Per semester, when its first report made after the semester's end was ready (``reporting.semester``'s
    « provided »: a report made on 15 June does not cover the whole first half)."""
    found: dict[Semester, dt.datetime] = {}
    for year, half, finished in await session.execute(
            select(SemesterReport.year, SemesterReport.half, SemesterReport.finished_at)
            .where(SemesterReport.central_id == central_id, SemesterReport.status == "done")):
        semester = Semester(year, half)
        if finished is not None and finished >= semester.ended_at() and (
                semester not in found or finished < found[semester]):
            found[semester] = finished
    return found


def _folder(settings: Settings, report: SemesterReport) -> Path:
    code = "".join(c for c in str(report.parameters.get("central_code", "")) if c.isalnum()) or "centrale"
    return settings.var_dir / "reports" / code


def report_file(settings: Settings, report: SemesterReport, fmt: str) -> tuple[Path, str]:
    """The kept file of a done report and its download name; ``NotFound`` when there is none."""
    info = (report.files or {}).get(fmt)
    if report.status != "done" or not info:
        raise NotFound("fichier du rapport")
    path = _folder(settings, report) / f"{report.id}.{fmt}"
    if not path.is_file():
        raise NotFound("fichier du rapport")
    return path, str(info["name"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def _record(db: Database, report_id: uuid.UUID, **values: Any) -> None:
    async with db.transaction(actor=SYSTEM) as session:
        await session.execute(update(SemesterReport).where(SemesterReport.id == report_id).values(**values))


async def generate_report(db: Database, settings: Settings, report_id: uuid.UUID, *,
                          now: Callable[[], dt.datetime] = utcnow) -> SemesterReport | None:
    """Make the report's files (the job's body). A done report is left alone (the job may run twice); a failure
    is recorded with its message and the partial files removed."""
    async with db.transaction(actor=SYSTEM) as session:
        report = await session.get(SemesterReport, report_id, with_for_update=True)
        if report is None or report.status == "done":
            return report
        report.status, report.progress, report.line_count = "running", 0, 0
        report.started_at, report.finished_at, report.error = now(), None, ""
        central = await get_central_by_code(session, str(report.parameters["central_code"]))
        tenant_ids = await tenant_ids_of_central(session, central.id)
    folder = _folder(settings, report)
    folder.mkdir(parents=True, exist_ok=True)
    semester = Semester(report.year, report.half)
    stem = f"reporting-{central.code.lower()}-{semester.slug}"
    paths = {fmt: folder / f"{report.id}.{fmt}.part" for fmt in FORMATS}
    try:
        count = await _write(db, report, central, tenant_ids, semester, paths, now)
    except Exception as exc:
        for path in paths.values():
            for leftover in (path, path.with_name(path.name + ".rows"), path.with_name(path.name + ".skeleton")):
                leftover.unlink(missing_ok=True)
        await _record(db, report_id, status="failed", finished_at=now(), error=str(exc)[:2000] or type(exc).__name__)
        log.exception("semester report %s failed", report_id)
        raise
    files = {}
    for fmt, path in paths.items():
        final = folder / f"{report.id}.{fmt}"
        path.replace(final)
        files[fmt] = {"name": f"{stem}.{fmt}", "size": final.stat().st_size,
                      "sha256": await asyncio.to_thread(_sha256, final)}
    await _record(db, report_id, status="done", progress=100, line_count=count, files=files, finished_at=now())
    async with db.session() as session:
        return await session.get(SemesterReport, report_id)


async def _indicators(session: AsyncSession, tenant_ids: list[uuid.UUID], semester: Semester,
                      at: dt.datetime) -> incidents.PeriodIndicators | None:
    """CAIH 2.1.26 / 2.1.27 / 6.1 over the semester's months that have begun (the current semester: so far)."""
    today = at.astimezone(PARIS).date()
    last = min(semester.end, today)
    if not tenant_ids or last < semester.start:
        return None
    return await incidents.central_period_indicators(
        session, tenant_ids, incidents.Month(semester.start.year, semester.start.month),
        incidents.Month(last.year, last.month))


async def _write(db: Database, report: SemesterReport, central: Any, tenant_ids: list[uuid.UUID],
                 semester: Semester, paths: dict[str, Path], now: Callable[[], dt.datetime]) -> int:
    since = dt.date.fromisoformat(report.parameters["since"]) if report.parameters.get("since") else None
    async with db.transaction(tenant_ids, actor=SYSTEM) as session:
        beneficiaries = await catalog.beneficiaries_of_central(session, central.id, agreement_id=report.agreement_id)
        total = await catalog.count_reported_lines(session, central.id, up_to=semester.end, since=since,
                                                   agreement_id=report.agreement_id)
        meta = ReportMeta(central_code=central.code, central_name=central.name, semester=semester,
                          agreements=tuple(report.parameters.get("agreements") or ()), since=since,
                          generated_at=now(), generated_by=report.created_by, zone=PARIS)
        sla = await _indicators(session, [b.tenant_id for b in beneficiaries], semester, now())
        # CAIH 5 « sur chacune des options »: each beneficiary's policy versions (window and level, CAIH 2.1.21-22).
        options = await incidents.service_option_periods(session, [b.tenant_id for b in beneficiaries])
        # One thread writes every batch (not asyncio's pool of several): its allocations stay in one malloc arena.
        writer = ThreadPoolExecutor(1, thread_name_prefix="semester-report")
        loop = asyncio.get_running_loop()
        book = await loop.run_in_executor(writer, SemesterWorkbook, paths["xlsx"], paths["csv"], meta,
                                          beneficiaries, paths["ods"], sla, options)
        started = time.perf_counter()
        count, batch, reported = 0, [], 0
        # One batch is written in a thread while the next is read (the database works meanwhile).
        writing: asyncio.Future[None] | None = None
        try:
            async for line in catalog.ordered_lines_of_central(session, central.id, up_to=semester.end, since=since,
                                                               agreement_id=report.agreement_id):
                batch.append(line)
                if len(batch) >= BATCH:
                    if writing is not None:
                        await writing
                    writing = loop.run_in_executor(writer, book.add, batch)
                    count, batch = count + len(batch), []
                    if count - reported >= PROGRESS_EVERY:
                        reported = count
                        await _record(db, report.id, line_count=count,
                                      progress=min(95, 95 * count // max(total, 1)))
            if writing is not None:
                await writing
            if batch:
                await loop.run_in_executor(writer, book.add, batch)
                count += len(batch)
        finally:
            if writing is not None and not writing.done():
                await asyncio.wait([writing])
            read = time.perf_counter() - started
            try:
                await loop.run_in_executor(writer, book.close)
            finally:
                writer.shutdown()
        timings = {"read_and_write": read, **book.timings, "total": time.perf_counter() - started}
        log.info("semester report %s: %d lines in %.1f s (%s)", report.id, count, timings["total"],
                 ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items()),
                 extra={"timings": timings})
    return count
