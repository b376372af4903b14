"""The reversibility export as a workflow: asked for by the tenant's admin, made by a background job with its
progress, kept for a limited time behind a download link, announced by e-mail (issue 16 §1).

The archive itself is ``tenants.reversibility.archive``; the command line (``centrale export tenant``) writes it
straight to a file with ``build_archive``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import record_event
from app.db import Database, one_in_tenant, utcnow
from app.errors import NotFound, ValidationFailed
from app.mail import deliver_email
from app.settings import Settings
from tenants.reversibility.archive import ArchiveResult, file_sha256, write_archive
from tenants.reversibility.models import TenantExport
from tenants.reversibility.restore import ImportResult, import_archive

__all__ = [
    "JOB",
    "LINK_VALIDITY",
    "SWEEP",
    "access_download",
    "archive_path",
    "build_archive",
    "expire_exports",
    "list_exports",
    "request_export",
    "restore_archive",
    "run_export",
]

log = logging.getLogger(__name__)

JOB = "tenants.reversibility_export"
SWEEP = "tenants.reversibility_expire"
#: How long a finished archive may be downloaded; then its file is removed.
LINK_VALIDITY = dt.timedelta(days=7)
#: The exports a page lists.
LISTED = 20


def archive_path(settings: Settings, export: TenantExport) -> Path:
    return settings.var_dir / "exports" / str(export.tenant_id) / f"{export.id}.zip"


async def build_archive(db: Database, settings: Settings, tenant_id: uuid.UUID, out: IO[bytes], *,
                        now: dt.datetime, password_hashes: bool = False, progress: Any = None) -> ArchiveResult:
    """The tenant's archive written to ``out``, from every component of the composition root."""
    from app import composition
    from tenants.reversibility.readme import readme

    reader = composition.audit_reader()
    work_dir = settings.var_dir / "exports"
    work_dir.mkdir(parents=True, exist_ok=True)
    return await write_archive(
        db, tenant_id, out, metadata=composition.metadata(), settings=settings,
        export_files=composition.export_files(), describe=lambda m, p: readme(m, p, reader=reader),
        password_hashes=password_hashes, now=now, progress=progress, work_dir=work_dir)


async def restore_archive(db: Database, settings: Settings, path: Path, *,
                          password_hashes: bool = False) -> ImportResult:
    """The tenant of the archive at ``path`` restored into this instance (issue 16 §2), with every component's
    files; ``ArchiveRefused`` (its French report) when the archive is bad, and then nothing is written."""
    from app import composition

    return await import_archive(db, settings, path, metadata=composition.metadata(),
                                import_files=composition.import_files(), password_hashes=password_hashes)


async def request_export(session: AsyncSession, tenant_id: uuid.UUID, *, email: str, user_id: uuid.UUID | None,
                         now: dt.datetime) -> TenantExport:
    """A new export of the tenant, queued (audited: who asked, when); one at a time per tenant."""
    busy = await session.scalar(select(TenantExport.id).where(
        TenantExport.tenant_id == tenant_id, TenantExport.status.in_(("queued", "running"))).limit(1))
    if busy is not None:
        raise ValidationFailed({"export": "Un export est déjà en préparation : attendez qu'il soit prêt."})
    row = TenantExport(tenant_id=tenant_id, requested_by=email[:320], requested_by_user_id=user_id, created_at=now)
    session.add(row)
    await session.flush()
    return row


async def list_exports(session: AsyncSession, tenant_id: uuid.UUID) -> list[TenantExport]:
    return list(await session.scalars(select(TenantExport).where(TenantExport.tenant_id == tenant_id)
                                      .order_by(TenantExport.created_at.desc()).limit(LISTED)))


async def access_download(session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, export_id: uuid.UUID,
                          *, now: dt.datetime) -> tuple[TenantExport, Path]:
    """The archive of a finished export still within its validity, with the download audited; ``NotFound``
    otherwise (another tenant's id, an export not ready, expired or removed)."""
    export = await one_in_tenant(session, TenantExport, tenant_id, export_id, "export")
    path = archive_path(settings, export)
    if export.status != "done" or export.expires_at is None or export.expires_at <= now or not path.is_file():
        raise NotFound("export")
    record_event(session, action="download", entity="tenant_exports", entity_id=str(export.id), tenant_id=tenant_id,
                 details={"sha256": export.sha256, "size_bytes": export.size_bytes})
    return export, path


async def run_export(db: Database, settings: Settings, tenant_id: uuid.UUID, export_id: uuid.UUID) -> None:
    """The job: write the archive, publish its progress, then mark it ready and mail the requester. Safe to run
    twice: a finished or failed export is left as it is."""
    import asyncio

    actor = {"user_id": None, "label": "export de réversibilité"}
    async with db.transaction([tenant_id], actor=actor) as session:
        export = await session.get(TenantExport, (tenant_id, export_id))
        if export is None or export.status not in ("queued", "running"):
            return
        export.status, export.started_at, export.progress = "running", utcnow(), 0
    path = archive_path(settings, export)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    shown = [-1]

    async def progress(done: int, total: int) -> None:
        percent = min(99, done * 100 // max(total, 1))
        if percent == shown[0]:
            return
        shown[0] = percent
        # A fact, not an edit: a plain UPDATE (no audit row per percent).
        async with db.transaction([tenant_id], actor=actor) as session:
            await session.execute(update(TenantExport).where(TenantExport.tenant_id == tenant_id,
                                                             TenantExport.id == export_id).values(progress=percent))

    try:
        with part.open("wb") as out:
            await build_archive(db, settings, tenant_id, out, now=utcnow(),
                                password_hashes=export.include_password_hashes, progress=progress)
        digest = await asyncio.to_thread(file_sha256, part)
        part.replace(path)
    except Exception as exc:
        log.exception("reversibility export %s of tenant %s failed", export_id, tenant_id)
        part.unlink(missing_ok=True)
        async with db.transaction([tenant_id], actor=actor) as session:
            failed = await session.get(TenantExport, (tenant_id, export_id))
            if failed is not None:
                failed.status, failed.finished_at, failed.error = "failed", utcnow(), str(exc)[:500]
        return
    finished = utcnow()
    async with db.transaction([tenant_id], actor=actor) as session:
        done = await session.get(TenantExport, (tenant_id, export_id))
        if done is None:
            return
        done.status, done.progress, done.finished_at = "done", 100, finished
        done.expires_at, done.size_bytes, done.sha256 = finished + LINK_VALIDITY, path.stat().st_size, digest
        link = f"{settings.public_url.rstrip('/')}/t/{tenant_id}/reversibilite"
        await deliver_email(
            session, settings if settings.smtp_host else None, to=done.requested_by, tenant_id=tenant_id,
            subject="Votre export de réversibilité est prêt",
            body=(f"Bonjour,\n\nL'export de réversibilité demandé le {done.created_at:%d/%m/%Y à %H:%M} (UTC) est prêt"
                  f" : {done.size_bytes / 1e6:.1f} Mo, empreinte SHA-256 {digest}.\n\nIl peut être téléchargé"
                  f" depuis la page « Réversibilité » jusqu'au {done.expires_at:%d/%m/%Y à %H:%M} (UTC) :\n{link}\n"))


async def expire_exports(db: Database, settings: Settings, *, now: dt.datetime) -> int:
    """The sweep: every finished export past its validity loses its file and reads « Expirée » (tenant by tenant,
    each in its own transaction: row-level security shows a session its scope only)."""
    from tenants.services import all_tenant_ids

    async with db.session() as session:
        tenant_ids = await all_tenant_ids(session)
    count = 0
    for tenant_id in tenant_ids:
        async with db.transaction([tenant_id], actor={"user_id": None, "label": "système"}) as session:
            for export in await session.scalars(select(TenantExport).where(
                    TenantExport.tenant_id == tenant_id, TenantExport.status == "done", TenantExport.expires_at <= now)):
                archive_path(settings, export).unlink(missing_ok=True)
                export.status = "expired"
                count += 1
    return count
