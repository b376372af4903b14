"""The tenant-wall walk's objects of ``reporting`` (``tests/test_tenant_walls.py``): a semester report of the
victim tenant's central, so that the report routes (page, API, files) answer 404 to whoever does not coordinate
that central."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from reporting.semester import PARIS, semester_of
from reporting.services import request_report
from tenants.services import get_central_by_code

__all__ = ["wall_target"]


async def wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    central = await get_central_by_code(session, objects["central_code"])
    now = utcnow()
    semester = semester_of(now.astimezone(PARIS).date()).previous()
    report = await request_report(session, central, {"year": semester.year, "half": semester.half},
                                  created_by="mur@test", now=now)
    return {"report_id": report.id}
