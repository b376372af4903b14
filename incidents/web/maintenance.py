"""The « Maintenance » pages (issue 13 §3, CCTP CPAM 5-4-2): the monthly remote checks of the tenant's charge
points (a page per month, each report as a page and a PDF, « Établir les rapports » for the operator) and the
yearly on-site visits (the plan with the late ones flagged, the checklist form, each visit's page).

Every route is under ``/t/{tenant_id}/maintenance`` and resolved by ``tenant_ctx``: another tenant's report,
visit or charge point is a 404 (the wall walk covers them, ``incidents/walls.py``). Reading needs ``read``;
generating a month and recording a visit ``record_maintenance`` (the titulaire's operator).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from app.shell import Form, Paged, elide_de, flash, form_fields, pager, render, see_other, tenant_page
from csms.services import charge_point_brief
from incidents import maintenance as svc
from incidents.indicators import Month, parse_month
from incidents.preventive import CHECKLIST, CHECKS, ITEM_RESULTS, VERDICTS, VISIT_STATES
from tenants.context import TenantContext

__all__ = ["nav", "portal_handlers"]

MonthParam = Annotated[str, Parameter(max_length=7, description="Mois AAAA-MM (par défaut : le mois précédent)")]
PageParam = Annotated[int, Parameter(ge=1, le=10_000)]
PER_PAGE = 100
REPORT_STATES = {"defect": "en défaut", "ok": "sans défaut"}


def _zone(ctx: TenantContext) -> ZoneInfo:
    return ZoneInfo(ctx.tenant.timezone)


def _month(value: str, zone: ZoneInfo) -> Month:
    try:
        return parse_month(value, dt.datetime.now(zone).date())
    except ValueError as exc:
        raise ValidationFailed({"mois": str(exc)}) from None


def _near(month: Month, step: int) -> Month:
    index = month.year * 12 + month.month - 1 + step
    return Month(index // 12, index % 12 + 1)


def _base(ctx: TenantContext) -> str:
    return f"/t/{ctx.tenant_id}/maintenance"


def _words() -> dict[str, Any]:
    return {"verdicts": VERDICTS, "check_names": CHECKS, "results": ITEM_RESULTS, "checklist": CHECKLIST,
            "visit_states": VISIT_STATES}


@get("/t/{tenant_id:uuid}/maintenance")
async def maintenance_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                           mois: MonthParam = "", etat: Annotated[str, Parameter(max_length=10)] = "",
                           page: PageParam = 1) -> Any:
    """The month's remote checks (CCTP CPAM 5-4-2-1), the defects first."""
    tenant_ctx.require("read")
    zone = _zone(tenant_ctx)
    month = _month(mois, zone)
    status = etat if etat in REPORT_STATES else ""
    reports, total = await svc.month_reports(db_session, tenant_ctx.tenant_id, month, status=status or None,
                                             limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    summary = await svc.month_summary(db_session, tenant_ctx.tenant_id, month)
    shown = Paged(reports, total, page, PER_PAGE)
    return render(request, "incidents/maintenance.html", tenant_page(
        tenant_ctx, "maintenance", month=month, previous=_near(month, -1), following=_near(month, 1),
        reports=reports, summary=summary, etat=status, states=REPORT_STATES,
        paging=pager(_base(tenant_ctx), {"mois": str(month), "etat": status}, shown),
        month_over=month.bounds(zone)[1] <= utcnow(), **_words()), block="reports")


@post("/t/{tenant_id:uuid}/maintenance/generer")
async def maintenance_generate(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                               data: Form) -> Any:
    """On demand: the month's reports established now (again: late data is taken, no defect gets two tickets)."""
    tenant_ctx.require("record_maintenance")
    fields = form_fields(data)
    zone = _zone(tenant_ctx)
    try:
        if not fields.get("mois"):
            raise ValidationFailed({"mois": "le mois est obligatoire (AAAA-MM)"})
        month = _month(fields["mois"], zone)
        done = await svc.generate_month(db_session, tenant_ctx.tenant_id, month, now=utcnow(),
                                        actor=tenant_ctx.identity.actor)
    except ValidationFailed as exc:
        flash(request, f"Rapports non établis : {'; '.join(exc.errors.values())}.")
        return see_other(_base(tenant_ctx))
    opened = len(done.tickets_opened)
    flash(request, f"Rapports {elide_de(month.label())} établis : {done.points} point(s) de charge, {done.defects} en "
                   f"défaut, {opened} ticket(s) ouvert(s).")
    return see_other(f"{_base(tenant_ctx)}?mois={month}")


@get("/t/{tenant_id:uuid}/maintenance/rapports/{report_id:uuid}")
async def maintenance_report(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                             report_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    report = await svc.access_report(db_session, tenant_ctx.tenant_id, report_id)
    month = Month(*(int(p) for p in report.month.split("-")))
    return render(request, "incidents/maintenance_report.html", tenant_page(
        tenant_ctx, "maintenance", report=report, month=month, checks=svc.report_checks(report), **_words()))


@get("/t/{tenant_id:uuid}/maintenance/rapports/{report_id:uuid}/pdf")
async def maintenance_report_pdf(tenant_ctx: TenantContext, db_session: AsyncSession,
                                 report_id: uuid.UUID) -> Response[bytes]:
    tenant_ctx.require("read")
    report = await svc.access_report(db_session, tenant_ctx.tenant_id, report_id)
    body = svc.report_pdf(report, _zone(tenant_ctx), tenant_ctx.tenant.name)
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="maintenance-{report.month}-{report.point_label}.pdf"'})


# --------------------------------------------------------------------------- the yearly visits


@get("/t/{tenant_id:uuid}/maintenance/visites")
async def visits_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                      etat: Annotated[str, Parameter(max_length=10)] = "", page: PageParam = 1) -> Any:
    """The yearly visit of every charge point (CCTP CPAM 5-4-2-2 « au moins une fois par an »), the most due
    first, the late ones flagged."""
    tenant_ctx.require("read")
    zone = _zone(tenant_ctx)
    today = dt.datetime.now(zone).date()
    lines = await svc.visit_plan(db_session, tenant_ctx.tenant_id, today, zone)
    counts = {state: sum(1 for line in lines if line.state == state) for state in VISIT_STATES}
    state = etat if etat in VISIT_STATES else ""
    chosen = [line for line in lines if not state or line.state == state]
    shown = Paged(chosen[(page - 1) * PER_PAGE:page * PER_PAGE], len(chosen), page, PER_PAGE)
    return render(request, "incidents/maintenance_visits.html", tenant_page(
        tenant_ctx, "maintenance", lines=shown.items, counts=counts, etat=state, today=today,
        paging=pager(f"{_base(tenant_ctx)}/visites", {"etat": state}, shown), **_words()), block="visits")


async def _point(db_session: AsyncSession, ctx: TenantContext, value: str) -> Any:
    try:
        point_id = uuid.UUID(value)
    except ValueError:
        raise NotFound("point de charge") from None
    point = await charge_point_brief(db_session, ctx.tenant_id, point_id)
    if point is None:
        raise NotFound("point de charge")
    return point


def _visit_form(request: Request[Any, Any, Any], ctx: TenantContext, point: Any, values: dict[str, str],
                errors: dict[str, str], history: list[Any], status: int = 200) -> Any:
    return render(request, "incidents/maintenance_visit_form.html", tenant_page(
        ctx, "maintenance", point=point, values=values, errors=errors, history=history, **_words()), status=status)


@get("/t/{tenant_id:uuid}/maintenance/visites/nouvelle")
async def visit_new(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                    point: Annotated[str, Parameter(max_length=36)] = "") -> Any:
    tenant_ctx.require("record_maintenance")
    found = await _point(db_session, tenant_ctx, point)
    today = dt.datetime.now(_zone(tenant_ctx)).date()
    history = await svc.visits_of_point(db_session, tenant_ctx.tenant_id, found.id, limit=5)
    return _visit_form(request, tenant_ctx, found, {"visited_on": today.isoformat()}, {}, history)


@post("/t/{tenant_id:uuid}/maintenance/visites/nouvelle")
async def visit_create(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       data: Form) -> Any:
    """The technician's checklist (CSRF-checked like every form); bad input: the form again, in French, 422."""
    tenant_ctx.require("record_maintenance")
    values = form_fields(data)
    found = await _point(db_session, tenant_ctx, values.get("point", ""))
    try:
        visit = await svc.record_visit(db_session, tenant_ctx.tenant_id, found.id, values, now=utcnow(),
                                       actor=tenant_ctx.identity.actor)
    except ValidationFailed as exc:
        history = await svc.visits_of_point(db_session, tenant_ctx.tenant_id, found.id, limit=5)
        return _visit_form(request, tenant_ctx, found, values, exc.errors, history, status=422)
    flash(request, f"Visite du {visit.visited_on:%d/%m/%Y} enregistrée pour {visit.point_label}"
                   + (f" ; ticket {visit.ticket_number} ouvert pour les défauts." if visit.ticket_number else "."))
    return see_other(f"{_base(tenant_ctx)}/visites/{visit.id}")


@get("/t/{tenant_id:uuid}/maintenance/visites/{visit_id:uuid}")
async def visit_detail(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       visit_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    visit = await svc.access_visit(db_session, tenant_ctx.tenant_id, visit_id)
    return render(request, "incidents/maintenance_visit.html", tenant_page(
        tenant_ctx, "maintenance", visit=visit, **_words()))


def nav(ctx: Any) -> list[tuple[str, ...]]:
    """« Maintenance » in the tenant's « Incidents et maintenance » group."""
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        return [("maintenance", f"/t/{ctx.tenant_id}/maintenance", "Maintenance")]
    return []


portal_handlers: list[Any] = [maintenance_page, maintenance_generate, maintenance_report, maintenance_report_pdf,
                              visits_page, visit_new, visit_create, visit_detail]
