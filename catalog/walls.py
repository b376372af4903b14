"""The tenant-wall walk's objects of ``catalog`` (``tests/test_tenant_walls.py``): an agreement the victim tenant
subscribes to, a solution of it, a draft purchase order priced from its BPU in force with the recurring maintenance
contract it starts, and a delivery slip on an issued one and an amendment of another (its BPU, solutions, catalog,
order, delivery, amendment and maintenance routes must answer 404 to a caller who neither coordinates its central
nor belongs to a subscriber)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.amendments import amend_order
from catalog.badge_requests import request_badge
from catalog.deliveries import record_delivery
from catalog.maintenance import create_contract
from catalog.orders import create_order, issue_order
from catalog.quotes import request_quote, tenant_calendar
from catalog.services import agreements_of_tenant, items_of_version, propose_solution, version_in_force

__all__ = ["wall_target"]


async def wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    agreements = await agreements_of_tenant(session, tenant_id)
    assert agreements, "the victim tenant of the walk subscribes to no agreement"
    solution = await propose_solution(session, agreements[0], {"code": f"MUR-{uuid.uuid4().hex[:8]}",
                                                                "name": "Solution cible", "price_ht": "1"})
    now = dt.datetime.now(dt.UTC)
    order_id = delivery_id = contract = None
    for agreement in agreements:
        version = await version_in_force(session, agreement.id, now.date())
        items = await items_of_version(session, version.id) if version is not None else []
        if items:
            order = await create_order(session, tenant_id, {
                "agreement_id": str(agreement.id), "delivery_place": "Site cible", "representative": "Cible",
                "lines": [{"article_code": items[0].article_code, "quantity": "1"}]}, order_date=now.date(), now=now)
            order_id = order.id
            # A recurring maintenance contract started by that order (CCTP CAIH 2.1.32).
            contract = await create_contract(session, tenant_id, {"agreement_id": str(agreement.id),
                                                                  "first_order_id": str(order.id)}, now=now)
            # A delivery slip on a second, issued order (its routes: /…/livraisons/{delivery_id}, /deliveries/…).
            delivered = await create_order(session, tenant_id, {
                "agreement_id": str(agreement.id), "delivery_place": "Site cible", "representative": "Cible",
                "lines": [{"article_code": items[0].article_code, "quantity": "2"}]}, order_date=now.date(), now=now)
            await issue_order(session, tenant_id, delivered.id, now=now)
            today = now.astimezone((await tenant_calendar(session, tenant_id)).zone).date()
            slip = await record_delivery(session, tenant_id, delivered.id, {
                "delivered_on": today, "lines": [{"position": 1, "quantity": "1"}]}, recorded_by=None, now=now)
            delivery_id = slip.id
            break
    assert order_id is not None and contract is not None, "no agreement of the victim tenant has a BPU in force today"
    # An issued order of its own, amended (the amendment's routes need both).
    amended = await create_order(session, tenant_id, {
        "agreement_id": str(agreement.id), "delivery_place": "Site cible", "representative": "Cible",
        "lines": [{"article_code": items[0].article_code, "quantity": "1"}]}, order_date=now.date(), now=now)
    await issue_order(session, tenant_id, amended.id, now=now)
    amendment = await amend_order(session, tenant_id, amended.id, {
        "effective_on": (now.date() + dt.timedelta(days=30)).isoformat(), "reason": "Cible du mur",
        "lines": [{"article_code": items[0].article_code, "quantity": "2"}]}, now=now)
    badge_request = await request_badge(session, tenant_id, objects["user_id"],
                                        {"plate": "AB-123-CD", "reason": "Cible du mur"}, now=now)
    quote = await request_quote(session, tenant_id, objects["user_id"], {
        "agreement_id": str(agreements[0].id), "need": "Cible du mur", "place": "Site cible"}, now=now)
    # ``action`` of POST /orders/{order_id}/{action}, /badge-requests/{id}/{action} and /quotes/{id}/{action}: a
    # harmful step a leak would allow.
    return {"agreement_id": agreements[0].id, "solution_id": solution.id, "order_id": order_id, "action": "cancel",
            "badge_request_id": badge_request.id, "quote_id": quote.id,
            "amendment_id": amendment.id, "delivery_id": delivery_id, "contract_id": contract.id}
