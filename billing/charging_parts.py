"""What billing's manifest (``billing/component.py``) takes from paid charging and ADVENIR (issue 15 §5): the pages,
the API, the menu entry, the home card, the durable subscriber, and the tenant-wall walk's objects (``tests/test_tenant_walls.py``):
an agent's charging account and a recorded ADVENIR subsidy of the victim tenant, whose routes must answer 404 to a
caller of another tenant."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing.charging import SUBSCRIBERS
from billing.charging_api import api_handlers as API
from billing.charging_home import home_cards
from billing.charging_models import AdvenirSubsidy, ChargingAccount
from billing.charging_web import nav
from billing.charging_web import portal_handlers as PORTAL

__all__ = ["API", "PORTAL", "SUBSCRIBERS", "home_cards", "nav", "wall_target"]


async def wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    account = ChargingAccount(tenant_id=tenant_id, user_id=uuid.uuid4(), holder_label="Cible",
                              balance=Decimal("10.00"))
    subsidy = AdvenirSubsidy(tenant_id=tenant_id, order_id=objects["order_id"], order_number="BC-MUR",
                             programme_reference="ADVENIR", attestation_number="MUR", points=1,
                             amount_per_point=Decimal("10.00"), cap=Decimal("10.00"), amount_ht=Decimal("10.00"),
                             computation="Cible", status="recorded")
    session.add_all([account, subsidy])
    await session.flush()
    return {"charging_account_id": account.id, "subsidy_id": subsidy.id}
