"""The tickets' attachments in a tenant's reversibility export (issue 16 §1): each stored file under
``documents/incidents/pieces-jointes/<attachment id>/<its name>``; the rows that describe them are the table
``incident_attachments`` of the archive."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.component import ExportFile
from incidents.models import Attachment
from incidents.tickets import attachment_path

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
