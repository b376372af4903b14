"""The tenant-wall walk's objects of ``assets`` (``tests/test_tenant_walls.py``): an asset in the victim tenant."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from assets.services import create_asset

__all__ = ["wall_target"]


async def wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    asset = await create_asset(session, tenant_id, {"kind": "server", "serial_number": f"MUR-{uuid.uuid4().hex[:8]}",
                                                    "site_id": objects.get("site_id")})
    return {"asset_id": asset.id}
