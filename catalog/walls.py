"""The tenant-wall walk's objects of ``catalog`` (``tests/test_tenant_walls.py``): an agreement the victim tenant
subscribes to, a solution of it and a draft purchase order priced from its BPU in force (its BPU, solutions, catalog
and order routes must answer 404 to a caller who neither coordinates its central nor belongs to a subscriber)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.badge_requests import request_badge
from catalog.orders import create_order
from catalog.services import agreements_of_tenant, items_of_version, propose_solution, version_in_force

__all__ = ["wall_target"]


async def wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    agreements = await agreements_of_tenant(session, tenant_id)
    assert agreements, "the victim tenant of the walk subscribes to no agreement"
    solution = await propose_solution(session, agreements[0], {"code": f"MUR-{uuid.uuid4().hex[:8]}",
                                                                "name": "Solution cible", "price_ht": "1"})
    now = dt.datetime.now(dt.UTC)
    order_id = None
    for agreement in agreements:
        version = await version_in_force(session, agreement.id, now.date())
        items = await items_of_version(session, version.id) if version is not None else []
        if items:
            order = await create_order(session, tenant_id, {
                "agreement_id": str(agreement.id), "delivery_place": "Site cible", "representative": "Cible",
                "lines": [{"article_code": items[0].article_code, "quantity": "1"}]}, order_date=now.date(), now=now)
            order_id = order.id
            break
    assert order_id is not None, "no agreement of the victim tenant has a BPU in force today"
    badge_request = await request_badge(session, tenant_id, objects["user_id"],
                                        {"plate": "AB-123-CD", "reason": "Cible du mur"}, now=now)
    # ``action`` of POST /orders/{order_id}/{action} and /badge-requests/{id}/{action}: a harmful step a leak
    # would allow.
    return {"agreement_id": agreements[0].id, "solution_id": solution.id, "order_id": order_id, "action": "cancel",
            "badge_request_id": badge_request.id}
