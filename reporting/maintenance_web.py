"""The beneficiary's yearly maintenance report (CCTP CPAM 5-4-8) and the committee report (CCP TGD IV.6): reads,
the review's record, pages and files (issue 15 §2).

* ``/t/{tenant}/rapport-maintenance?annee=AAAA`` (default: the year before, « l'année écoulée »): actions,
  defect types and incidents with their delays, per station and for the year, then the « Rapport d'analyse » and
  the « Préconisations et améliorations pour l'année à venir » — shown to the buyer, written by the titulaire's
  operator (``record_maintenance``) with ``POST`` (CSRF; audited; bounded); ``.xlsx``, ``.ods`` and ``.pdf`` (the
  document the buyer files);
* ``/t/{tenant}/comite-suivi?du=&au=`` (or ``mois``, ``annee``; default: the current month): one line per terminal
  (alert terminal or charging station) with its history, tests (late flagged), alerts, incidents and their delays,
  usage rate; ``.xlsx`` and ``.ods``.

For the profiles that read the tenant; another tenant's id is 404 (the tenant dependency). The other components
are read through their services only (``incidents.services``, ``assets.services``, ``csms.services``).
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import xlsxwriter
from litestar import Request, Response, get, post
from litestar.params import Parameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import ValidationFailed
from app.exports import safe_cell
from app.shell import Form, flash, form_fields, render, see_other, tenant_page
from assets import services as assets
from csms import services as csms
from incidents import services as incidents
from reporting.committee import CommitteeReport, build_committee
from reporting.maintenance import DELAY_LABELS, MaintenanceYear, build_maintenance_year
from reporting.maintenance_models import MaintenanceReview
from reporting.ods import OdsBook
from reporting.usage import Period, parse_period, year_period
from reporting.usage_web import load_usage
from tenants.context import TenantContext

__all__ = ["committee_sheets", "load_committee", "load_maintenance_year", "maintenance_portal_handlers",
           "maintenance_sheets", "parse_year", "save_review"]

PATH, COMMITTEE = "rapport-maintenance", "comite-suivi"
#: The longest analysis or recommendations text (a few pages).
MAX_TEXT = 20_000
Year = Annotated[str, Parameter(max_length=8)]
Day = Annotated[str, Parameter(max_length=10)]


def parse_year(raw: str, zone: str, now: dt.datetime) -> tuple[int, dict[str, str]]:
    """``AAAA`` (2000–2999); empty: the year before now's (« pour l'année écoulée »)."""
    default = now.astimezone(ZoneInfo(zone)).year - 1
    raw = (raw or "").strip()
    if not raw:
        return default, {}
    if not (raw.isdigit() and 2000 <= int(raw) <= 2999):
        return default, {"annee": "Année attendue sur quatre chiffres (par exemple 2026)."}
    return int(raw), {}


async def _review(session: AsyncSession, tenant_id: uuid.UUID, year: int) -> MaintenanceReview | None:
    return await session.scalar(select(MaintenanceReview).where(MaintenanceReview.tenant_id == tenant_id,
                                                                MaintenanceReview.year == year))


async def load_maintenance_year(session: AsyncSession, tenant_id: uuid.UUID, year: int, zone: str, *,
                                now: dt.datetime) -> MaintenanceYear:
    period = year_period(year, zone)
    facts = await incidents.maintenance_facts(session, tenant_id, period.start, period.end, ZoneInfo(zone))
    stations = [box for box, _ in await csms.charger_choices(session, tenant_id)]
    report = build_maintenance_year(year, zone, facts, stations, now=now)
    review = await _review(session, tenant_id, year)
    if review is not None:
        report.review = {"analysis": review.analysis, "recommendations": review.recommendations,
                         "updated_at": review.updated_at, "updated_by": review.updated_by}
    return report


async def save_review(session: AsyncSession, tenant_id: uuid.UUID, year: int, fields: dict[str, str], *,
                      by: str, now: dt.datetime) -> MaintenanceReview:
    """Record the year's analysis and recommendations (CPAM 5-4-8); audited by the flush hook. Too long a text is
    ``ValidationFailed`` by field and changes nothing."""
    analysis = (fields.get("analyse") or "").strip()
    recommendations = (fields.get("recommandations") or "").strip()
    errors = {key: f"{MAX_TEXT:,} caractères au plus.".replace(",", "\u202f")
              for key, value in (("analyse", analysis), ("recommandations", recommendations)) if len(value) > MAX_TEXT}
    if errors:
        raise ValidationFailed(errors)
    review = await _review(session, tenant_id, year)
    if review is None:
        review = MaintenanceReview(tenant_id=tenant_id, year=year)
        session.add(review)
    review.analysis, review.recommendations, review.updated_at, review.updated_by = analysis, recommendations, now, by
    await session.flush()
    return review


async def load_committee(session: AsyncSession, tenant_id: uuid.UUID, period: Period, *,
                         now: dt.datetime) -> CommitteeReport:
    zone = ZoneInfo(period.zone)
    facts = await incidents.maintenance_facts(session, tenant_id, period.start, period.end, zone)
    stations = [box for box, _ in await csms.charger_choices(session, tenant_id)]
    late: dict[str, int] = {}
    for line in await incidents.visit_plan(session, tenant_id, now.astimezone(zone).date(), zone):
        late[line.charge_box_id] = late.get(line.charge_box_id, 0) + (line.state == "late")
    return build_committee(
        period, terminals=await assets.terminal_facts(session, tenant_id), stations=stations, facts=facts,
        alerts=await csms.alerts_in_period(session, tenant_id, period.start, period.end), late_visits=late,
        usage=await load_usage(session, tenant_id, period, now=now) if stations else None, now=now)


# --------------------------------------------------------------------------- sheets (XLSX and ODS write the same)


def _local(moment: dt.datetime | None, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%d/%m/%Y %H:%M}" if moment else ""


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


STATION_HEADER = ("Borne", "Contrôles à distance", "dont en défaut", "Visites sur site", "dont avec défaut",
                  "Interventions à distance", "Interventions sur site", "Actions saisies hors délai", "Incidents",
                  "Clos", "Délais respectés", "Délais dépassés", "Taux de respect des délais")


def _station_cells(s: Any) -> list[Any]:
    return [s.key, s.remote_checks, s.remote_defects, s.visits, s.visit_defects, s.remote_interventions,
            s.onsite_interventions, s.late_records, s.incidents, s.closed, s.on_time, s.missed, _rate(s.on_time_rate)]


def maintenance_sheets(report: MaintenanceYear, tenant_name: str) -> list[tuple[str, list[list[Any]]]]:
    zone = ZoneInfo(report.zone)
    t = report.totals
    review = report.review
    summary = [["Rapport annuel de maintenance des IRVE", tenant_name], ["Année", report.year],
               ["Source", "CCTP CPAM 5-4-8 : actions du Titulaire, types de défaut et incidents de l'année écoulée"],
               ["Contrôles à distance (5-4-2-1)", t.remote_checks], ["Visites sur site (5-4-2-2)", t.visits],
               ["Interventions curatives à distance", t.remote_interventions],
               ["Interventions curatives sur site", t.onsite_interventions],
               ["Actions saisies hors délai (2 jours ouvrés)", t.late_records], ["Incidents", t.incidents],
               ["Incidents dans les délais", t.on_time], ["Incidents hors délais", t.missed],
               ["Taux de respect des délais", _rate(t.on_time_rate)],
               ["Rapport d'analyse", review.get("analysis", "")],
               ["Préconisations et améliorations pour l'année à venir", review.get("recommendations", "")]]
    return [
        ("Synthèse", summary),
        ("Par borne", [list(STATION_HEADER), *[_station_cells(s) for s in report.stations], _station_cells(t)]),
        ("Types de défaut", [["Source", "Type de défaut", "Nombre"],
                             *[[src, label, n] for src, label, n in report.defect_types]]),
        ("Incidents", [["Ticket", "Objet", "Origine", "Borne", "Niveau", "Signalé le", "Intervention due le",
                        "Délai d'intervention", "Rétablissement dû le", "Délai de rétablissement", "Résolu le",
                        "Clos le", "Réouvertures"],
                       *[[i.fact.number, i.fact.title, i.origin_label, i.fact.charge_box_id or "", i.fact.level_label,
                          _local(i.fact.reported_at, zone), _local(i.fact.intervention_due_at, zone),
                          DELAY_LABELS[i.intervention], _local(i.fact.restoration_due_at, zone),
                          DELAY_LABELS[i.restoration], _local(i.fact.resolved_at, zone),
                          _local(i.fact.closed_at, zone), i.fact.reopen_count] for i in report.incidents]]),
        ("Interventions", [["Début", "Fin", "Ticket", "Borne", "Nature", "Technicien", "Actions", "Pièces",
                            "Saisie hors délai"],
                           *[[_local(i.started_at, zone), _local(i.ended_at, zone), i.ticket_number,
                              i.charge_box_id or "", "sur site" if i.mode == "on_site" else "à distance",
                              i.technician, i.actions, i.parts, "oui" if i.record_late else "non"]
                             for i in report.interventions]]),
        ("Visites", [["Date", "Point de charge", "Borne", "Technicien", "Défauts constatés", "Ticket",
                      "Saisie hors délai"],
                     *[[v.visited_on, v.point_label, v.charge_box_id, v.technician,
                        "; ".join(f"{label} : {comment}" if comment else label for label, comment in v.defects),
                        v.ticket_number, "oui" if v.record_late else "non"] for v in report.visits]]),
        ("Contrôles en défaut", [["Mois", "Point de charge", "Borne", "Contrôles en défaut"],
                                 *[[c.month, c.point_label, c.charge_box_id, ", ".join(c.defects)]
                                   for c in report.remote_defects]]),
    ]


TERMINAL_HEADER = ("Type", "Terminal", "Détail", "Interventions", "Tests", "Tests en retard", "Alertes", "Signalé",
                   "Incidents", "Incidents hors délai", "Délai moyen (h)", "Taux d'utilisation")


def committee_sheets(report: CommitteeReport, tenant_name: str) -> list[tuple[str, list[list[Any]]]]:
    zone = ZoneInfo(report.period.zone)
    p = report.period
    return [
        ("Synthèse", [["Rapport du comité de suivi", tenant_name], ["Période", p.label], ["Du", p.first.isoformat()],
                      ["Au", p.last.isoformat()], ["Fuseau horaire", p.zone], ["Terminaux", len(report.terminals)],
                      ["Terminaux signalés (tests en retard ou alerte)", len(report.flagged)],
                      ["Source", "CCP TGD IV.6 : comités de suivi (état anonymisé)"]]),
        ("Terminaux", [list(TERMINAL_HEADER),
                       *[[t.kind, t.reference, t.detail, t.interventions, t.tests, t.late_tests,
                          "—" if t.alerts is None else t.alerts, "oui" if t.flagged else "non", t.incidents,
                          t.incidents_late, t.mean_delay_hours, _rate(t.usage_rate)] for t in report.terminals]]),
        ("Historique", [["Date", "Terminal", "Événement", "Détail"],
                        *[[_local(h.at, zone), h.terminal, h.kind, h.detail] for h in report.history]]),
        ("Incidents", [["Terminal", "Ticket", "Objet", "Signalé le", "Délai d'intervention", "Délai de rétablissement",
                        "Résolu le"],
                       *[[box, i.fact.number, i.fact.title, _local(i.fact.reported_at, zone),
                          DELAY_LABELS[i.intervention], DELAY_LABELS[i.restoration], _local(i.fact.resolved_at, zone)]
                         for box, i in report.incidents],
                       *[[line, "Échange", f"{e.old_serial} → {e.new_serial}", _local(e.fault_reported_at, zone),
                          "dépassé" if e.late else "respecté", "", _local(e.exchanged_at, zone)]
                         for line, e in report.exchanges]]),
    ]


#: The header row of each sheet but « Synthèse » is a filterable table; these columns are rates.
PERCENT = {("Synthèse", 11), ("Par borne", 12), ("Terminaux", 11)}


def _percent(name: str, r: int, c: int) -> bool:
    return (name, r if name == "Synthèse" else c) in PERCENT


def workbook_bytes(sheets: list[tuple[str, list[list[Any]]]]) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    bold = book.add_format({"bold": True})
    pct = book.add_format({"num_format": "0.0%"})
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    for name, rows in sheets:
        sheet = book.add_worksheet(name)
        sheet.set_column(0, 0, 34 if name == "Synthèse" else 18)
        sheet.set_column(1, 20, 18 if name != "Synthèse" else 80)
        for r, cells in enumerate(rows):
            for c, value in enumerate(cells):
                value = safe_cell(value)
                if value is None or value == "":
                    continue
                if isinstance(value, dt.date):
                    sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), day)
                elif isinstance(value, float) and _percent(name, r, c):
                    sheet.write_number(r, c, value, pct)
                elif r == 0 and name != "Synthèse":
                    sheet.write(r, c, value, bold)
                else:
                    sheet.write(r, c, value, wrap if isinstance(value, str) and len(value) > 60 else None)
        if name != "Synthèse":
            sheet.freeze_panes(1, 0)
            if len(rows) > 1:
                sheet.autofilter(0, 0, len(rows) - 1, len(rows[0]) - 1)
    book.close()
    return out.getvalue()


def ods_bytes(sheets: list[tuple[str, list[list[Any]]]], title: str) -> bytes:
    """The same sheets as OpenDocument (CCP TGD X.7, ``reporting.ods``): typed cells, filter ranges."""
    grids: dict[str, dict[int, dict[int, tuple[str, Any]]]] = {}
    for name, rows in sheets:
        grids[name] = {r: {c: ("header" if r == 0 and name != "Synthèse" else
                               "ratio" if isinstance(value, float) and _percent(name, r, c) else
                               "float" if isinstance(value, int | float) and not isinstance(value, bool) else "text",
                               value) for c, value in enumerate(cells)} for r, cells in enumerate(rows)}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.ods"
        book = OdsBook(path, [name for name, _ in sheets], source="", title=title)
        book.close(grids, {name: (len(rows) - 1, len(rows[0]) - 1) for name, rows in sheets
                           if name != "Synthèse" and len(rows) > 1})
        return path.read_bytes()


def pdf_bytes_of(report: MaintenanceYear, tenant_name: str) -> bytes:
    """The document the buyer files: the year's figures, per station, defect types, incidents, the analysis and the
    recommendations (``app.pdf``)."""
    from app.pdf import document, pdf_bytes

    zone = ZoneInfo(report.zone)
    doc = document(f"Rapport annuel de maintenance {report.year}", f"{tenant_name} — CCTP CPAM 5-4-8", landscape=True)
    t = report.totals
    doc.heading("Synthèse de l'année")
    doc.key_values([("Contrôles à distance (5-4-2-1)", t.remote_checks), ("Visites sur site (5-4-2-2)", t.visits),
                    ("Interventions curatives (à distance / sur site)",
                     f"{t.remote_interventions} / {t.onsite_interventions}"),
                    ("Actions saisies hors délai (2 jours ouvrés)", t.late_records),
                    ("Incidents (dans les délais / hors délais)", f"{t.incidents} ({t.on_time} / {t.missed})")])
    doc.heading("Par borne")
    doc.table_of(("Borne", "Contrôles", "Défauts", "Visites", "Interv. distance", "Interv. site", "Incidents",
                  "Dans les délais", "Hors délais"),
                 [[s.key, s.remote_checks, s.remote_defects, s.visits, s.remote_interventions, s.onsite_interventions,
                   s.incidents, s.on_time, s.missed] for s in report.stations],
                 widths=(45, 26, 26, 26, 30, 30, 26, 30, 28))
    doc.heading("Types de défaut")
    doc.table_of(("Source", "Type de défaut", "Nombre"), [list(x) for x in report.defect_types] or [["—", "—", 0]],
                 widths=(70, 170, 27))
    # The incidents out of their delays, the ones the buyer acts on; every incident is in the XLSX and the ODS
    # (a year of a large park holds tens of thousands: a table of them all would take minutes to lay out).
    late = [i for i in report.incidents if i.on_time is False]
    doc.heading(f"Incidents hors délais ({len(late)} sur {len(report.incidents)})")
    doc.table_of(("Ticket", "Objet", "Borne", "Signalé le", "Intervention", "Rétablissement", "Clos le"),
                 [[i.fact.number, i.fact.title, i.fact.charge_box_id or "", _local(i.fact.reported_at, zone),
                   DELAY_LABELS[i.intervention], DELAY_LABELS[i.restoration], _local(i.fact.closed_at, zone)]
                  for i in late[:PDF_INCIDENTS]] or [["—", "Aucun incident hors délais", "", "", "", "", ""]],
                 widths=(34, 80, 35, 32, 28, 30, 28))
    if len(late) > PDF_INCIDENTS:
        doc.paragraph(f"Les {PDF_INCIDENTS} premiers ; la liste complète des incidents est dans le fichier XLSX ou ODS.")
    doc.heading("Rapport d'analyse")
    doc.paragraph(report.review.get("analysis") or "(non renseigné)")
    doc.heading("Préconisations et améliorations pour l'année à venir")
    doc.paragraph(report.review.get("recommendations") or "(non renseigné)")
    return pdf_bytes(doc)


#: The most incidents the PDF lists (its table is laid out row by row).
PDF_INCIDENTS = 500

MEDIA = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "ods": "application/vnd.oasis.opendocument.spreadsheet", "pdf": "application/pdf"}


def _download(body: bytes, fmt: str, name: str) -> Response[bytes]:
    return Response(body, media_type=MEDIA[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


# --------------------------------------------------------------------------- the yearly maintenance report


async def _maintenance_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, year: int,
                            *, errors: dict[str, str], values: dict[str, str] | None = None,
                            status: int = 200) -> Any:
    report = await load_maintenance_year(session, ctx.tenant_id, year, ctx.tenant.timezone, now=utcnow())
    review = report.review
    return render(request, "reporting/maintenance.html", tenant_page(
        ctx, "usage_report", report=report, errors=errors, path=PATH, year=year, delays=DELAY_LABELS,
        zone=ZoneInfo(report.zone), can_write=ctx.can("record_maintenance"),
        values=values or {"analyse": review.get("analysis", ""), "recommandations": review.get("recommendations", "")},
        max_text=MAX_TEXT), status=status)


@get(f"/t/{{tenant_id:uuid}}/{PATH}")
async def maintenance_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                           annee: Year = "") -> Any:
    tenant_ctx.require("read")
    year, errors = parse_year(annee, tenant_ctx.tenant.timezone, utcnow())
    return await _maintenance_page(request, tenant_ctx, db_session, year, errors=errors,
                                   status=422 if errors else 200)


@post(f"/t/{{tenant_id:uuid}}/{PATH}")
async def maintenance_review(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                             data: Form) -> Any:
    tenant_ctx.require("record_maintenance")
    fields = form_fields(data)
    year, errors = parse_year(fields.get("annee", ""), tenant_ctx.tenant.timezone, utcnow())
    if not errors:
        try:
            async with db_session.begin_nested():
                await save_review(db_session, tenant_ctx.tenant_id, year, fields, by=tenant_ctx.identity.email,
                                  now=utcnow())
        except ValidationFailed as exc:
            errors = exc.errors
    if errors:
        return await _maintenance_page(request, tenant_ctx, db_session, year, errors=errors, status=422,
                                       values={k: fields.get(k, "") for k in ("analyse", "recommandations")})
    flash(request, f"Analyse et préconisations {year} enregistrées.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/{PATH}?annee={year}#analyse")


async def _maintenance_file(ctx: TenantContext, session: AsyncSession, fmt: str, annee: str) -> Any:
    ctx.require("read")
    year, errors = parse_year(annee, ctx.tenant.timezone, utcnow())
    if errors:
        return Response({"errors": errors}, status_code=422)
    report = await load_maintenance_year(session, ctx.tenant_id, year, ctx.tenant.timezone, now=utcnow())
    name = f"rapport-maintenance-{year}"
    if fmt == "pdf":
        return _download(pdf_bytes_of(report, ctx.tenant.name), "pdf", name)
    sheets = maintenance_sheets(report, ctx.tenant.name)
    if fmt == "ods":
        return _download(ods_bytes(sheets, f"Rapport annuel de maintenance {year}"), "ods", name)
    return _download(workbook_bytes(sheets), "xlsx", name)


@get(f"/t/{{tenant_id:uuid}}/{PATH}.xlsx")
async def maintenance_xlsx(tenant_ctx: TenantContext, db_session: AsyncSession, annee: Year = "") -> Any:
    return await _maintenance_file(tenant_ctx, db_session, "xlsx", annee)


@get(f"/t/{{tenant_id:uuid}}/{PATH}.ods")
async def maintenance_ods(tenant_ctx: TenantContext, db_session: AsyncSession, annee: Year = "") -> Any:
    return await _maintenance_file(tenant_ctx, db_session, "ods", annee)


@get(f"/t/{{tenant_id:uuid}}/{PATH}.pdf")
async def maintenance_pdf(tenant_ctx: TenantContext, db_session: AsyncSession, annee: Year = "") -> Any:
    return await _maintenance_file(tenant_ctx, db_session, "pdf", annee)


# --------------------------------------------------------------------------- the committee report


def _committee_period(ctx: TenantContext, values: dict[str, str]) -> tuple[Period, dict[str, str]]:
    return parse_period(values, ctx.tenant.timezone, utcnow())


@get(f"/t/{{tenant_id:uuid}}/{COMMITTEE}")
async def committee_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                         mois: Year = "", annee: Year = "", du: Day = "", au: Day = "") -> Any:
    tenant_ctx.require("read")
    values = {"mois": mois, "annee": annee, "du": du, "au": au}
    period, errors = _committee_period(tenant_ctx, values)
    report = await load_committee(db_session, tenant_ctx.tenant_id, period, now=utcnow())
    return render(request, "reporting/committee.html", tenant_page(
        tenant_ctx, "usage_report", report=report, period=period, errors=errors, values=values, path=COMMITTEE,
        zone=ZoneInfo(period.zone), delays=DELAY_LABELS,
        query=f"du={period.first.isoformat()}&au={period.last.isoformat()}"), status=422 if errors else 200)


async def _committee_file(ctx: TenantContext, session: AsyncSession, fmt: str, values: dict[str, str]) -> Any:
    ctx.require("read")
    period, errors = _committee_period(ctx, values)
    if errors:
        return Response({"errors": errors}, status_code=422)
    report = await load_committee(session, ctx.tenant_id, period, now=utcnow())
    sheets = committee_sheets(report, ctx.tenant.name)
    name = f"comite-suivi-{period.first.isoformat()}-{period.last.isoformat()}"
    if fmt == "ods":
        return _download(ods_bytes(sheets, "Rapport du comité de suivi"), "ods", name)
    return _download(workbook_bytes(sheets), "xlsx", name)


@get(f"/t/{{tenant_id:uuid}}/{COMMITTEE}.xlsx")
async def committee_xlsx(tenant_ctx: TenantContext, db_session: AsyncSession, mois: Year = "", annee: Year = "",
                         du: Day = "", au: Day = "") -> Any:
    return await _committee_file(tenant_ctx, db_session, "xlsx", {"mois": mois, "annee": annee, "du": du, "au": au})


@get(f"/t/{{tenant_id:uuid}}/{COMMITTEE}.ods")
async def committee_ods(tenant_ctx: TenantContext, db_session: AsyncSession, mois: Year = "", annee: Year = "",
                        du: Day = "", au: Day = "") -> Any:
    return await _committee_file(tenant_ctx, db_session, "ods", {"mois": mois, "annee": annee, "du": du, "au": au})


maintenance_portal_handlers: list[Any] = [maintenance_xlsx, maintenance_ods, maintenance_pdf, maintenance_page,
                                          maintenance_review, committee_xlsx, committee_ods, committee_page]
