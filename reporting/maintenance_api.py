"""The yearly maintenance report (CCTP CPAM 5-4-8) and the committee report (CCP TGD IV.6) as JSON (issue 15 §2):

* ``GET /api/v1/tenants/{tenant_id}/maintenance-report?year=AAAA`` (default: the year before);
* ``PUT /api/v1/tenants/{tenant_id}/maintenance-report/review`` ``{"year", "analysis", "recommendations"}`` — the
  titulaire's operator (``record_maintenance``), audited;
* ``GET /api/v1/tenants/{tenant_id}/committee-report?from=AAAA-MM-JJ&to=AAAA-MM-JJ`` (default: the current month).

Another tenant's id is 404 like an unknown one; bad input 422 by field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Router, get, put
from litestar.exceptions import ClientException, ValidationException
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import ValidationFailed
from app.shell import api_client_error, api_validation_error, error_responses
from reporting.maintenance_web import load_committee, load_maintenance_year, parse_year, save_review
from reporting.usage import parse_period
from tenants.context import TenantContext

__all__ = ["maintenance_api_handlers"]

TAG = "Rapports de maintenance"


class StationYearOut(msgspec.Struct, kw_only=True):
    station: str
    remote_checks: int
    remote_defects: int
    visits: int
    visit_defects: int
    remote_interventions: int
    onsite_interventions: int
    late_records: int
    incidents: int
    closed: int
    on_time: int
    missed: int


class DefectTypeOut(msgspec.Struct, kw_only=True):
    source: str
    label: str
    count: int


class IncidentOut(msgspec.Struct, kw_only=True):
    number: str
    title: str
    origin: str
    charge_box_id: str | None
    level: str
    reported_at: dt.datetime
    intervention: str | None
    restoration: str | None
    on_time: bool | None


class MaintenanceReportOut(msgspec.Struct, kw_only=True):
    tenant_id: uuid.UUID
    year: int
    totals: StationYearOut
    stations: list[StationYearOut]
    defect_types: list[DefectTypeOut]
    incidents: list[IncidentOut]
    analysis: str
    recommendations: str
    reviewed_at: dt.datetime | None
    reviewed_by: str


class ReviewIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    year: Annotated[int, msgspec.Meta(ge=2000, le=2999)]
    analysis: Annotated[str, msgspec.Meta(max_length=20_000)] = ""
    recommendations: Annotated[str, msgspec.Meta(max_length=20_000)] = ""


class TerminalOut(msgspec.Struct, kw_only=True):
    kind: str
    reference: str
    interventions: int
    tests: int
    late_tests: int
    alerts: int | None
    flagged: bool
    incidents: int
    incidents_late: int
    mean_delay_hours: float | None
    usage_rate: float | None


class CommitteeOut(msgspec.Struct, kw_only=True):
    tenant_id: uuid.UUID
    first: dt.date
    last: dt.date
    zone: str
    terminals: list[TerminalOut]


def _station(s: Any, key: str | None = None) -> StationYearOut:
    return StationYearOut(station=key or s.key, remote_checks=s.remote_checks, remote_defects=s.remote_defects,
                          visits=s.visits, visit_defects=s.visit_defects, remote_interventions=s.remote_interventions,
                          onsite_interventions=s.onsite_interventions, late_records=s.late_records,
                          incidents=s.incidents, closed=s.closed, on_time=s.on_time, missed=s.missed)


async def _report(ctx: TenantContext, session: AsyncSession, year: int) -> MaintenanceReportOut:
    r = await load_maintenance_year(session, ctx.tenant_id, year, ctx.tenant.timezone, now=utcnow())
    return MaintenanceReportOut(
        tenant_id=ctx.tenant_id, year=year, totals=_station(r.totals, "total"),
        stations=[_station(s) for s in r.stations],
        defect_types=[DefectTypeOut(source=src, label=label, count=n) for src, label, n in r.defect_types],
        incidents=[IncidentOut(number=i.fact.number, title=i.fact.title, origin=i.fact.origin,
                               charge_box_id=i.fact.charge_box_id, level=i.fact.level_label,
                               reported_at=i.fact.reported_at, intervention=i.intervention,
                               restoration=i.restoration, on_time=i.on_time) for i in r.incidents],
        analysis=r.review.get("analysis", ""), recommendations=r.review.get("recommendations", ""),
        reviewed_at=r.review.get("updated_at"), reviewed_by=r.review.get("updated_by", ""))


@get("/tenants/{tenant_id:uuid}/maintenance-report", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Rapport annuel de maintenance : actions, types de défaut, incidents et délais (CCTP CPAM 5-4-8)")
async def api_maintenance_report(tenant_ctx: TenantContext, db_session: AsyncSession,
                                 year: Annotated[str, Parameter(max_length=4, required=False)] = "",
                                 ) -> MaintenanceReportOut:
    tenant_ctx.require("read")
    value, errors = parse_year(year, tenant_ctx.tenant.timezone, utcnow())
    if errors:
        raise ValidationFailed({"year": errors["annee"]})
    return await _report(tenant_ctx, db_session, value)


@put("/tenants/{tenant_id:uuid}/maintenance-report/review", tags=[TAG],
     responses=error_responses(403, 404, 422),
     summary="Rapport d'analyse et préconisations de l'année (le titulaire ; CCTP CPAM 5-4-8)")
async def api_maintenance_review(tenant_ctx: TenantContext, db_session: AsyncSession,
                                 data: ReviewIn) -> MaintenanceReportOut:
    tenant_ctx.require("record_maintenance")
    await save_review(db_session, tenant_ctx.tenant_id, data.year,
                      {"analyse": data.analysis, "recommandations": data.recommendations},
                      by=tenant_ctx.identity.email, now=utcnow())
    return await _report(tenant_ctx, db_session, data.year)


@get("/tenants/{tenant_id:uuid}/committee-report", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Rapport du comité de suivi : par terminal, tests en retard, alertes, incidents, usage (CCP TGD IV.6)")
async def api_committee_report(tenant_ctx: TenantContext, db_session: AsyncSession,
                               from_: Annotated[str, QueryParameter(name="from", max_length=10, required=False)] = "",
                               to: Annotated[str, Parameter(max_length=10, required=False)] = "") -> CommitteeOut:
    tenant_ctx.require("read")
    now = utcnow()
    period, errors = parse_period({"du": from_, "au": to}, tenant_ctx.tenant.timezone, now)
    if errors:
        raise ValidationFailed({("from" if k == "du" else "to"): v for k, v in errors.items()})
    r = await load_committee(db_session, tenant_ctx.tenant_id, period, now=now)
    return CommitteeOut(tenant_id=tenant_ctx.tenant_id, first=period.first, last=period.last, zone=period.zone,
                        terminals=[TerminalOut(kind=t.kind, reference=t.reference, interventions=t.interventions,
                                               tests=t.tests, late_tests=t.late_tests, alerts=t.alerts,
                                               flagged=t.flagged, incidents=t.incidents,
                                               incidents_late=t.incidents_late, mean_delay_hours=t.mean_delay_hours,
                                               usage_rate=t.usage_rate) for t in r.terminals])


def _handlers() -> list[Any]:
    return [Router(path="/", route_handlers=[api_maintenance_report, api_maintenance_review, api_committee_report],
                   exception_handlers={ValidationException: api_validation_error, ClientException: api_client_error})]


maintenance_api_handlers: list[Any] = _handlers()
