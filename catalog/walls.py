"""The tenant-wall walk's objects of ``catalog`` (``tests/test_tenant_walls.py``): an agreement the victim tenant
subscribes to and a solution of it (its BPU, solutions and catalog routes must answer 404 to a caller who neither coordinates its central nor
belongs to a subscriber)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.services import agreements_of_tenant, propose_solution

__all__ = ["wall_target"]


async def wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    agreements = await agreements_of_tenant(session, tenant_id)
    assert agreements, "the victim tenant of the walk subscribes to no agreement"
    solution = await propose_solution(session, agreements[0], {"code": f"MUR-{uuid.uuid4().hex[:8]}",
                                                                "name": "Solution cible", "price_ht": "1"})
    return {"agreement_id": agreements[0].id, "solution_id": solution.id}
