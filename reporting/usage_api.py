"""The beneficiary's usage report as JSON (issue 15 §2 and §6): ``GET /api/v1/tenants/{tenant_id}/usage?from=&to=``
(days of the tenant's zone, both included; none: the current month). CCTP CPAM 5-5-4 and article 7.

For the profiles that read the tenant; another tenant's id is 404 like an unknown one; a bad period is 422.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Router, get
from litestar.exceptions import ClientException, ValidationException
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import ValidationFailed
from app.shell import api_client_error, api_validation_error, error_responses
from reporting.usage import WEEKDAYS, Group, UsageReport, parse_period
from reporting.usage_web import load_usage
from tenants.context import TenantContext

__all__ = ["usage_api_handlers"]

TAG = "Rapport d'utilisation"
Day = Annotated[str, Parameter(max_length=10, description="AAAA-MM-JJ, jour du fuseau du bénéficiaire")]


class GroupOut(msgspec.Struct, kw_only=True):
    key: str
    label: str
    detail: str
    power_kw: float | None
    socket_types: str
    sessions: int
    energy_kwh: float
    connected_hours: float
    charging_hours: float
    used_hours: float

    @classmethod
    def of(cls, g: Group) -> GroupOut:
        return cls(key=g.key, label=g.label, detail=g.detail, power_kw=g.power_kw, socket_types=g.socket_types,
                   sessions=g.sessions, energy_kwh=g.energy_kwh, connected_hours=round(g.connected_seconds / 3600, 3),
                   charging_hours=round(g.charging_seconds / 3600, 3), used_hours=round(g.used_seconds / 3600, 3))


class UsageStationOut(msgspec.Struct, kw_only=True):
    charge_box_id: str
    station_name: str
    uptime: float | None
    connections: int
    cuts: int


class HeatCell(msgspec.Struct, kw_only=True):
    weekday: str
    hour: int
    occupied_hours: float
    rate: float | None
    sessions_started: int


class UsageOut(msgspec.Struct, kw_only=True):
    tenant_id: uuid.UUID
    first: dt.date
    last: dt.date
    zone: str
    totals: GroupOut
    occupancy: float | None
    points: list[GroupOut]
    badges: list[GroupOut]
    agents: list[GroupOut]
    heat_map: list[HeatCell]
    stations: list[UsageStationOut]

    @classmethod
    def of(cls, tenant_id: uuid.UUID, r: UsageReport) -> UsageOut:
        cells = r.heat.cells()
        return cls(tenant_id=tenant_id, first=r.period.first, last=r.period.last, zone=r.period.zone,
                   totals=GroupOut.of(r.totals), occupancy=r.occupancy, points=[GroupOut.of(g) for g in r.points],
                   badges=[GroupOut.of(g) for g in r.badges], agents=[GroupOut.of(g) for g in r.agents],
                   heat_map=[HeatCell(weekday=WEEKDAYS[d], hour=h, occupied_hours=cells[d][h]["hours"],
                                      rate=cells[d][h]["rate"], sessions_started=cells[d][h]["starts"])
                             for d in range(7) for h in range(24)],
                   stations=[UsageStationOut(charge_box_id=s.charge_box_id, station_name=s.station_name, uptime=s.uptime,
                                        connections=s.connections, cuts=s.cuts) for s in r.stations])


@get("/tenants/{tenant_id:uuid}/usage", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Rapport d'utilisation des IRVE sur une période (CCTP CPAM 5-5-4, article 7)")
async def api_usage(tenant_ctx: TenantContext, db_session: AsyncSession,
                    from_: Annotated[str, QueryParameter(name="from", max_length=10, required=False)] = "",
                    to: Day = "") -> UsageOut:
    tenant_ctx.require("read")
    now = utcnow()
    period, errors = parse_period({"du": from_, "au": to}, tenant_ctx.tenant.timezone, now)
    if errors:
        raise ValidationFailed({("from" if k == "du" else "to"): v for k, v in errors.items()})
    return UsageOut.of(tenant_ctx.tenant_id, await load_usage(db_session, tenant_ctx.tenant_id, period, now=now))


def _handlers() -> list[Any]:
    return [Router(path="/", route_handlers=[api_usage],
                   exception_handlers={ValidationException: api_validation_error, ClientException: api_client_error})]


usage_api_handlers: list[Any] = _handlers()
