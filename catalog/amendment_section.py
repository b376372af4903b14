"""The « Modificatifs » section of the order page (CCP TGD VI.3): each amendment with its state and the end of
its five days of observations, whether the reader may amend the order or send observations.

Apart from ``catalog/amendments_web.py`` so that the order page includes it and the amendment handlers re-render
the order page, without the two importing each other.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog import amendments as svc
from catalog.amendment_rules import AMENDABLE_STATUSES, STATES
from catalog.quotes import tenant_calendar
from tenants.context import TenantContext

__all__ = ["amendments_panel"]


async def amendments_panel(session: AsyncSession, ctx: TenantContext, order: Any, now: dt.datetime) -> dict[str, Any]:
    """What the order page shows of its versions: each amendment with its five days, whether the reader may
    amend the order or send observations."""
    calendar = await tenant_calendar(session, ctx.tenant_id)
    rows = [{"a": a, "due": svc.observation_deadline(calendar, a),
             "open": a.state == "notified" and now < svc.observation_deadline(calendar, a).expires_at}
            for a in await svc.amendments_of_order(session, order)]
    return {"amendments": rows, "amendment_states": STATES,
            "can_amend": ctx.can("order") and order.status in AMENDABLE_STATUSES,
            "can_observe": ctx.can("execute_orders")}
