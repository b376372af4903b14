"""The tickets' attachments in a tenant's reversibility export (issue 16 §1): each stored file under
``documents/incidents/pieces-jointes/<attachment id>/<its name>``; the rows that describe them are the table
``incident_attachments`` of the archive."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.component import ExportFile
from incidents.models import Attachment
from incidents.tickets import attachment_path

__all__ = ["export_files", "stored_files"]

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
