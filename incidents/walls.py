"""The tenant-wall walk's objects of ``incidents`` (``tests/test_tenant_walls.py``): a ticket and an
intervention in the victim tenant, for the ``ticket_id`` and ``intervention_id`` of the routes to come, and a
monthly preventive report and a yearly visit of its charge point (``report_id``, ``visit_id``)."""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from csms.services import charge_points_in_service
from incidents.indicators import Month
from incidents.maintenance import generate_month, record_visit
from incidents.models import MaintenanceReport
from incidents.preventive import CHECKLIST
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
    # The charge point csms's wall target made (its November session): its month's report and a visit.
    await generate_month(session, tenant_id, Month(2026, 11), now=now)
    point = (await charge_points_in_service(session, tenant_id))[0]
    report_id = await session.scalar(select(MaintenanceReport.id).where(
        MaintenanceReport.tenant_id == tenant_id, MaintenanceReport.charge_point_id == point.id))
    visit = await record_visit(session, tenant_id, point.id, {
        "visited_on": "2026-12-01", "technician": "Mur", **{f"item_{code}": "ok" for code in CHECKLIST}}, now=now)
    return {"ticket_id": ticket.id, "intervention_id": intervention.id, "attachment_id": attachment.id,
            "report_id": report_id, "visit_id": visit.id}
