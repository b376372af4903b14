"""The tenant-wall walk's objects of ``csms`` (``tests/test_tenant_walls.py``).

``wall_target`` creates, in the victim tenant, a charger, a badge, a reservation of
one of its charge points and a finished charging session, one for each path
parameter of the csms routes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from csms.domain import badges, firmware, registry, reservations
from csms.domain.models import ChargePoint, StationLog, Transaction

__all__ = ["WALL_CHARGE_BOX_ID", "wall_target"]

#: The victim's charger.
WALL_CHARGE_BOX_ID = "WALL-RES-01"


async def wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    charger = await registry.register_charger(session, tenant_id, {
        "charge_box_id": WALL_CHARGE_BOX_ID, "site": str(objects["site_id"]), "station": 9,
        "password": "Borne-secret-2026-xyz", "points": 1,
    })
    point = await session.scalar(select(ChargePoint).where(ChargePoint.tenant_id == tenant_id))
    assert point is not None
    badge = await badges.create_badge(session, tenant_id, {"id_tag": "WALL-BADGE", "kind": "site",
                                                           "site_id": objects["site_id"]})
    monday = dt.datetime(2026, 12, 7, 7, 0, tzinfo=dt.UTC)
    created = await reservations.create_reservation(
        session, tenant_id, {"charge_point_id": point.id, "badge_id": badge.id,
                             "starts_at": monday + dt.timedelta(days=1, hours=2),
                             "ends_at": monday + dt.timedelta(days=1, hours=3)}, now=monday)
    # A finished charging session, as the ingress records one.
    start = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
    row = Transaction(tenant_id=tenant_id, charger_id=charger.charger_id, connector_id=1, ocpp_transaction_id="1",
                      status="completed", id_tag="WALL-BADGE", meter_start=0, meter_stop=5000, started_at=start,
                      stopped_at=start + dt.timedelta(hours=1))
    session.add(row)
    await session.flush()
    # A firmware campaign over the charger, and a log it uploaded (issue 17 §5).
    campaign = await firmware.create_campaign(session, tenant_id, {
        "name": "Campagne du mur", "location": "https://exemple.fr/fw.bin",
        "window_end": monday + dt.timedelta(days=7)}, now=monday)
    log = StationLog(tenant_id=tenant_id, charger_id=charger.charger_id, charge_box_id=WALL_CHARGE_BOX_ID,
                     action="GetDiagnostics", token_hash="0" * 64, token_expires_at=monday, requested_at=monday,
                     status="uploaded", uploaded_at=monday, filename="diag.txt", size=1, sha256="0" * 64)
    session.add(log)
    await session.flush()
    return {"charge_box_id": WALL_CHARGE_BOX_ID, "badge_id": badge.id, "reservation_id": created.reservation.id,
            "transaction_id": row.id, "campaign_id": campaign.id, "log_id": log.id}
