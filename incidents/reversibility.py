"""The incidents' files in a tenant's reversibility export (issue 16 §1: « les documents : […] rapports, rapports
d'intervention » as the product makes them, and « les pièces jointes des tickets »):

* each ticket attachment as stored, under ``documents/incidents/pieces-jointes/<attachment id>/<its name>`` (the
  rows that describe them are the table ``incident_attachments``);
* each monthly remote maintenance report (CCTP CPAM 5-4-2-1 « Chaque contrôle donne lieu à la rédaction de rapport
  des défauts ou de dysfonctionnements ») as the PDF its page offers (``incidents.maintenance.report_pdf``), under
  ``documents/incidents/maintenance/<month>/<point>.pdf``, dated by its ``generated_at``;
* the quarterly « état récapitulatif des interventions » (CCTP CAIH 2.1.33, the tenant's statement of its
  interventions and their reports, ``indicator_data.statement_pdf``) of every quarter holding an intervention,
  under ``documents/incidents/etat-interventions-<year>-T<quarter>.pdf``, dated by the quarter's end (by its latest
  intervention while the quarter runs).

The documents are generated from the tables when the archive is written (the product stores no copy) and carry
their own date (``app.pdf.dated``), so that two exports give the same bytes."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.component import ExportFile
from app.db import utcnow
from app.pdf import dated
from incidents import indicator_data
from incidents.maintenance import report_pdf
from incidents.models import Attachment, Intervention, MaintenanceReport
from incidents.tickets import attachment_path
from tenants import services as tenants

__all__ = ["export_files", "import_files", "stored_files"]

_UNSAFE = re.compile(r"[^\w.\- ]+")


def _file_name(name: str) -> str:
    """The uploaded name, kept readable but never a path (no folder, no control character)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE.sub("_", base).strip(" .")[:120] or "fichier"


async def export_files(session: AsyncSession, settings: Any, tenant_id: uuid.UUID) -> AsyncIterator[ExportFile]:
    rows = await session.scalars(select(Attachment).where(Attachment.tenant_id == tenant_id).order_by(Attachment.id))
    for attachment in rows:
        path = attachment_path(settings.var_dir, attachment)
        if path.is_file():
            yield ExportFile(f"documents/incidents/pieces-jointes/{attachment.id}/{_file_name(attachment.filename)}",
                             path, f"pièce jointe du ticket `{attachment.ticket_id}` ({attachment.content_type})")
    tenant = await tenants.get_tenant(session, tenant_id)
    zone = ZoneInfo(tenant.timezone)
    async for item in _maintenance_reports(session, tenant_id, zone, tenant.name):
        yield item
    async for item in _statements(session, tenant_id, zone, tenant.name):
        yield item


#: The monthly reports read at a time (a large fleet makes 10,000 a month): the memory stays bounded.
BATCH = 500


async def _maintenance_reports(session: AsyncSession, tenant_id: uuid.UUID, zone: ZoneInfo,
                               tenant_name: str) -> AsyncIterator[ExportFile]:
    """Every monthly remote maintenance report, by month then point (keyset batches of ``BATCH``)."""
    after: tuple[str, str, uuid.UUID] | None = None
    seen: set[str] = set()
    while True:
        query = select(MaintenanceReport).where(MaintenanceReport.tenant_id == tenant_id)
        if after is not None:
            query = query.where(tuple_(MaintenanceReport.month, MaintenanceReport.point_label, MaintenanceReport.id)
                                > tuple_(*after))
        batch = list(await session.scalars(query.order_by(MaintenanceReport.month, MaintenanceReport.point_label,
                                                          MaintenanceReport.id).limit(BATCH)))
        for report in batch:
            path = f"documents/incidents/maintenance/{_file_name(report.month)}/{_file_name(report.point_label)}.pdf"
            if path in seen:  # two points of one label: the report's id tells them apart
                path = path[:-4] + f"-{report.id}.pdf"
            seen.add(path)
            with dated(report.generated_at):
                pdf = report_pdf(report, zone, tenant_name)
            verdict = "défaut constaté" if report.status == "defect" else "aucun défaut"
            yield ExportFile(path, pdf, f"rapport mensuel de maintenance préventive à distance {report.month} du point "
                                        f"{report.point_label} ({verdict}, PDF), rapport `{report.id}`")
        if len(batch) < BATCH:
            return
        last = batch[-1]
        after = (last.month, last.point_label, last.id)


async def _statements(session: AsyncSession, tenant_id: uuid.UUID, zone: ZoneInfo,
                      tenant_name: str) -> AsyncIterator[ExportFile]:
    """The statement of interventions of every quarter (in the tenant's zone) holding one."""
    starts = await session.scalars(select(Intervention.started_at).where(Intervention.tenant_id == tenant_id))
    quarters: dict[tuple[int, int], dt.datetime] = {}
    for started in starts:
        local = started.astimezone(zone)
        key = (local.year, (local.month - 1) // 3 + 1)
        quarters[key] = max(quarters.get(key, started), started)
    now = utcnow()
    for (year, quarter), latest in sorted(quarters.items()):
        start, end = indicator_data.quarter_bounds(year, quarter, zone)
        lines = await indicator_data.intervention_statement(session, [tenant_id], start, end)
        running = end > now
        with dated(latest if running else end):
            pdf = indicator_data.statement_pdf(lines, zone, title="État récapitulatif des interventions",
                                               subtitle=f"{tenant_name} — {quarter}e trimestre {year}")
        yield ExportFile(f"documents/incidents/etat-interventions-{year}-T{quarter}.pdf", pdf,
                         f"état récapitulatif des interventions du {quarter}e trimestre {year} (CCTP CAIH 2.1.33, "
                         f"PDF{', trimestre en cours' if running else ''}) : {len(lines)} intervention(s)")


def stored_files(settings: Any, tenant_id: uuid.UUID) -> list[Path]:
    """The tenant's attachments folder (``attachment_path``: ``attachments/<tenant id>/<sha256>``), erased with
    its data."""
    return [settings.var_dir / "attachments" / str(tenant_id)]


#: Where the export puts an attachment: ``documents/incidents/pieces-jointes/<attachment id>/<its name>``.
_PREFIX = "documents/incidents/pieces-jointes/"


async def import_files(session: AsyncSession, settings: Any, tenant_id: uuid.UUID,
                       files: Mapping[str, Callable[[], bytes]]) -> list[Path]:
    """The archive's attachments back into this instance's store (issue 16 §2), once the rows of
    ``incident_attachments`` are in: each under ``attachment_path``, its content checked against the row's
    SHA-256; the files written (not those already there, content-addressed) are returned."""
    by_id: dict[str, str] = {}
    for path in files:
        if path.startswith(_PREFIX):
            by_id.setdefault(path[len(_PREFIX):].split("/", 1)[0], path)
    written: list[Path] = []
    rows = await session.scalars(select(Attachment).where(Attachment.tenant_id == tenant_id).order_by(Attachment.id))
    for attachment in rows:
        source = by_id.get(str(attachment.id))
        if source is None:
            continue  # not on disk when exported: the row stays, as on the source instance
        content = files[source]()
        if hashlib.sha256(content).hexdigest() != attachment.sha256:
            raise ValueError(f"{source} : contenu différent de l'empreinte de sa ligne incident_attachments")
        target = attachment_path(settings.var_dir, attachment)
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        part.write_bytes(content)
        part.replace(target)
        written.append(target)
    return written
