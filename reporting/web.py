"""The coordinator's « Rapports semestriels » (issue 15 §1; CCTP CAIH 5, CANUT 7):

* ``/c/{central}/rapports``: the due dates of the current and the previous semester with their state (late in red:
  CAIH 5 « La non fourniture des éléments de reporting dans les délais entrainera l'application systématique des
  pénalités »), the « Générer » form (year, half, one agreement or all; CSRF) and the reports made, with their date,
  parameters, progress and download links; while one runs, HTMX refreshes the list every few seconds;
* ``POST /c/{central}/rapports``: records the request and enqueues its generation (the job runs after the commit);
* ``/c/{central}/rapports/{id}/fichier?format=xlsx|ods|csv``: the kept file, streamed.

Another central's report answers 404, like one that does not exist (``central_ctx``, then the report's central).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import File
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from app.shell import Figure, Form, HomeCard, central_page, flash, form_fields, render, see_other
from catalog.services import agreements_of_central
from reporting import services
from reporting.models import REPORT_STATUSES
from reporting.semester import PARIS, reports_to_show, semester_of
from tenants.context import CentralContext, OperatorContext
from tenants.services import centrals_of_tenants

__all__ = ["download", "home_cards", "nav", "portal_handlers"]

Format = Annotated[str, Parameter(max_length=8)]


def nav(ctx: Any) -> list[tuple[str, ...]]:
    if isinstance(ctx, CentralContext):
        return [("semester_reports", f"/c/{ctx.central.code}/rapports", "Rapports semestriels")]
    return []


async def _page(request: Request[Any, Any, Any], ctx: CentralContext, session: AsyncSession, *,
                values: dict[str, str] | None = None, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    now = utcnow()
    dues = reports_to_show(now, await services.provided_at(session, ctx.central.id))
    reports = await services.reports_of_central(session, ctx.central.id)
    agreements = await agreements_of_central(session, ctx.central.id)
    previous = semester_of(now.astimezone(PARIS).date()).previous()
    return render(request, "reporting/reports.html", central_page(
        ctx, "semester_reports", dues=dues, reports=reports, agreements=agreements,
        references={a.id: a.reference for a in agreements}, statuses=REPORT_STATUSES,
        running=any(r.status in ("queued", "running") for r in reports),
        values=values or {"year": str(previous.year), "half": str(previous.half), "agreement_id": ""},
        errors=errors or {}), status=status, block="reports")


@get("/c/{central_code:str}/rapports")
async def reports_page(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession) -> Any:
    return await _page(request, central_ctx, db_session)


@post("/c/{central_code:str}/rapports")
async def generate(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                   data: Form) -> Any:
    values = {k: v for k, v in form_fields(data).items() if k in ("year", "half", "agreement_id")}
    try:
        report = await services.request_report(db_session, central_ctx.central, values,
                                               created_by=central_ctx.identity.email, now=utcnow())
    except ValidationFailed as exc:
        return await _page(request, central_ctx, db_session, values=values, errors=exc.errors, status=422)
    await db_session.commit()  # the job runs in its own transaction: the row must be there
    await request.app.state.jobs.enqueue(services.JOB, report_id=str(report.id))
    flash(request, f"Rapport du {services.semester_label(report)} demandé : il sera prêt dans quelques instants.")
    return see_other(f"/c/{central_ctx.central.code}/rapports#rapport-{report.id}")


async def download(request: Request[Any, Any, Any], session: AsyncSession, central_id: uuid.UUID,
                   report_id: uuid.UUID, fmt: str) -> File:
    """The kept file, streamed from disk (never read whole into memory)."""
    if fmt not in services.FORMATS:
        raise NotFound("format")
    report = await services.report_of_central(session, central_id, report_id)
    path, name = services.report_file(request.app.state.settings, report, fmt)
    return File(path=path, filename=name, media_type=services.FORMATS[fmt],
                headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@get("/c/{central_code:str}/rapports/{report_id:uuid}/fichier")
async def report_file(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                      report_id: uuid.UUID, format: Format = "xlsx") -> File:  # noqa: A002 (the query's name)
    return await download(request, db_session, central_ctx.central.id, report_id, format)


_SEVERITY = {"late": "danger", "provided_late": "warning", "due": "warning"}


async def home_cards(session: AsyncSession, ctx: Any, now: dt.datetime) -> list[HomeCard]:
    """The central's card: the previous semester's report, its last day and its state. The titulaire's operator's
    card: the same for each central its beneficiaries belong to (CCTP CAIH 5: the titulaire provides the report;
    « La non fourniture des éléments de reporting dans les délais entrainera l'application systématique des
    pénalités »)."""
    if isinstance(ctx, OperatorContext):
        return await _operator_cards(session, ctx, now)
    if not isinstance(ctx, CentralContext):
        return []
    due = reports_to_show(now, await services.provided_at(session, ctx.central.id))[1]
    base = f"/c/{ctx.central.code}/rapports"
    severity = _SEVERITY.get(due.state, "ok")
    return [HomeCard("semester_reports", "Rapports semestriels", figures=(
        Figure(f"{due.semester.label}, à fournir au plus tard le {due.semester.due_on:%d/%m/%Y}", due.state_label,
               base, severity=severity),), links=((base, "Les rapports semestriels"),), severity=severity,
        note="CCTP CAIH 5 : reporting tous les 6 mois, avant le 31 janvier et le 31 juillet.")]


async def _operator_cards(session: AsyncSession, ctx: OperatorContext, now: dt.datetime) -> list[HomeCard]:
    figures = []
    for central in await centrals_of_tenants(session, ctx.tenant_ids):
        due = reports_to_show(now, await services.provided_at(session, central.id))[1]
        figures.append(Figure(f"{central.name} — {due.semester.label}, à fournir au plus tard le "
                              f"{due.semester.due_on:%d/%m/%Y}", due.state_label,
                              severity=_SEVERITY.get(due.state, "ok")))
    if not figures:
        return []
    worst = next((level for level in ("danger", "warning") if any(f.severity == level for f in figures)), "ok")
    return [HomeCard("semester_reports", "Rapports semestriels au coordinateur", figures=tuple(figures),
                     severity=worst, note="CCTP CAIH 5 : le reporting est fourni au coordinateur tous les 6 mois, "
                                          "au plus tard le 31 janvier et le 31 juillet ; un retard entraîne des "
                                          "pénalités.")]


portal_handlers: list[Any] = [reports_page, generate, report_file]
