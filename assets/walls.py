"""The tenant-wall walk's objects of ``assets`` (``tests/test_tenant_walls.py``): an asset, a TGD line and a
beneficiary file in the victim tenant."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from assets.services import create_asset
from assets.terminals import create_line, open_file

__all__ = ["wall_target"]


async def wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    asset = await create_asset(session, tenant_id, {"kind": "server", "serial_number": f"MUR-{uuid.uuid4().hex[:8]}",
                                                    "site_id": objects.get("site_id")})
    line = await create_line(session, tenant_id, {"phone_number": f"06{uuid.uuid4().int % 10**8:08d}",
                                                  "insee_code": "97411", "order_number": "7",
                                                  "device_serial": f"MUR-TGD-{uuid.uuid4().hex[:8]}"})
    now = utcnow()
    file = await open_file(session, tenant_id, {"line_id": str(line.id), "referred_at": now, "full_name": "Mur",
                                                "address": "Mur", "prosecutor": "Mur", "victim_support": "Mur"}, now)
    return {"asset_id": asset.id, "line_id": line.id, "file_id": file.id}
