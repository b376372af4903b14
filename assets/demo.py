"""The demo of ``assets``: the TGD alert terminals of the Tribunal judiciaire de Saint-Denis (tenant ``tj``):
three lines of the court (INSEE 97411), one of them assigned to a beneficiary file opened yesterday with a
test call, one whose terminal was exchanged. The person is fictitious.

Idempotent: a line that exists (by its number) is left as it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from assets import terminals
from assets.models import TgdLine

__all__ = ["load"]

LINES = [
    {"phone_number": "0692000101", "insee_code": "97411", "order_number": "1", "device_serial": "TGD-RUN-0001"},
    {"phone_number": "0692000102", "insee_code": "97411", "order_number": "2", "device_serial": "TGD-RUN-0002"},
    {"phone_number": "0692000103", "insee_code": "97411", "order_number": "3", "device_serial": "TGD-RUN-0003"},
]
FILE = {"full_name": "Mme Exemple Démo", "phones": "0262 00 00 00", "address": "1 rue Fictive, 97400 Saint-Denis",
        "workplace": "Zone d'activité fictive, Sainte-Marie",
        "prosecutor": "Parquet de Saint-Denis, permanence : 0262 00 00 01",
        "victim_support": "Association d'aide aux victimes (démo) : 0262 00 00 02"}


async def load(session: AsyncSession, demo: dict[str, Any]) -> dict[str, Any]:
    tenant = demo.get("tenants", {}).get("tj")
    if tenant is None:
        return {"tgd_lines": 0}
    if await session.scalar(select(TgdLine.id).where(TgdLine.tenant_id == tenant.id).limit(1)):
        return {"tgd_lines": 0}
    now = utcnow()
    made = [await terminals.create_line(session, tenant.id, line) for line in LINES]
    yesterday = now - dt.timedelta(days=1)
    file = await terminals.open_file(session, tenant.id, {**FILE, "line_id": str(made[0].id),
                                                          "referred_at": yesterday - dt.timedelta(minutes=9)},
                                     yesterday)
    await terminals.record_test_call(session, tenant.id, file.id, {"called_at": now - dt.timedelta(hours=20),
                                                                   "note": "test après remise"}, now)
    await terminals.exchange_device(session, tenant.id, made[1].id, {
        "new_serial": "TGD-RUN-0012", "fault_reported_at": now - dt.timedelta(days=3, hours=5),
        "exchanged_at": now - dt.timedelta(days=2, hours=20)}, now)
    return {"tgd_lines": len(made)}
