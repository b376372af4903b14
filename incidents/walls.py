"""The tenant-wall walk's objects of ``incidents`` (``tests/test_tenant_walls.py``): a ticket and an
intervention in the victim tenant, for the ``ticket_id`` and ``intervention_id`` of the routes to come."""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from incidents.tickets import add_attachment, open_ticket, record_intervention

__all__ = ["wall_target"]


async def wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    now = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
    ticket = await open_ticket(session, tenant_id, now=now, title="Mur : ticket de la victime", description="",
                               reported_at=now - dt.timedelta(hours=1),
                               channel="portal", site_id=objects.get("site_id"))
    intervention = await record_intervention(session, ticket, now=now, mode="remote",
                                             started_at=now - dt.timedelta(minutes=30), ended_at=now)
    # The file itself is not needed: the other tenant's request is refused before any file is read.
    attachment = await add_attachment(session, ticket, var_dir=Path(tempfile.gettempdir()) / "centrale-walls",
                                      filename="photo.png", content_type="image/png", content=b"\x89PNG\r\n")
    return {"ticket_id": ticket.id, "intervention_id": intervention.id, "attachment_id": attachment.id}
