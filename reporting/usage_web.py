"""The beneficiary's « Rapport d'utilisation » of its charging stations (issue 15 §2; CCTP CPAM 5-5-4 and article 7
« Reporting »: « un système de reporting, auquel la CPAM a accès via portail internet exclusif »).

* ``/t/{tenant}/rapport-utilisation?mois=AAAA-MM`` (or ``annee=AAAA``, or ``du=&au=``): totals, charts (server-side
  SVG with their data tables), per charge point, badge and agent, the occupancy heat map as a shaded table, the
  stations' uptime and cuts;
* ``/t/{tenant}/rapport-utilisation.xlsx`` and ``.csv``: the same figures as a workbook (one sheet per table, the
  sessions last) and the sessions as CSV, every text cell formula-safe (``app.exports.safe_cell``).

For the profiles that read the tenant (admin, viewer, coordinator, operator); an agent gets 403, another tenant
404 (the tenant dependency). The figures are read through ``csms.services`` only; ``reporting.usage`` folds them.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

import xlsxwriter
from litestar import Request, Response, get
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import ValidationFailed
from app.exports import EXPORT_FORMATS, csv_bytes, safe_cell
from app.shell import Chart, Figure, HomeCard, render, tenant_page
from csms import services as csms
from reporting.usage import WEEKDAYS, Period, UsageReport, build_report, duration_label, parse_period
from tenants.context import TenantContext

__all__ = ["load_usage", "nav", "usage_home_cards", "usage_portal_handlers", "workbook_bytes"]

PATH = "rapport-utilisation"
#: The most sessions a report folds (a year of a large site; beyond, a shorter period).
MAX_SESSIONS = 200_000


async def load_usage(session: AsyncSession, tenant_id: uuid.UUID, period: Period, *, now: dt.datetime) -> UsageReport:
    """The report of ``period``, read through ``csms.services`` (sessions and status changes streamed)."""
    start, end = period.start, period.end
    sessions = []
    async for s in csms.usage_sessions(session, tenant_id, start, end):
        if len(sessions) >= MAX_SESSIONS:
            raise ValidationFailed({"au": f"Plus de {MAX_SESSIONS:,} recharges sur la période : choisissez une période "
                                          "plus courte.".replace(",", "\u202f")})
        sessions.append(s)
    # A session started in the period may run past it: its status changes up to its end count (one day more).
    changes = [c async for c in csms.status_changes(session, tenant_id, start, end + dt.timedelta(days=1))]
    points = await csms.usage_by_point(session, tenant_id, start, end, now=now)
    stations = await csms.station_communication(session, tenant_id, start, end, now=now)
    return build_report(period, sessions, changes, points, stations, now=now)


def _number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}".replace(",", "\u202f").replace(".", ",")


def _percent(value: float | None) -> str:
    return "—" if value is None else _number(value * 100, 1) + " %"


def charts(report: UsageReport) -> list[Chart]:
    """Energy per charge point, sessions per weekday and per hour of start (« horaires »)."""
    return [
        Chart("Énergie délivrée par point de charge", "kWh",
              tuple((g.label, round(g.energy_wh / 1000, 1)) for g in report.points), category="Point de charge",
              every_label=len(report.points) <= 8),
        Chart("Recharges commencées par jour de la semaine", "recharges",
              tuple((WEEKDAYS[d], float(sum(report.heat.starts[d]))) for d in range(7)), category="Jour",
              every_label=True),
        Chart("Recharges commencées par heure de la journée", "recharges",
              tuple((f"{h} h", float(sum(report.heat.starts[d][h] for d in range(7)))) for h in range(24)),
              category="Heure"),
    ]


def _query(period: Period) -> str:
    return f"du={period.first.isoformat()}&au={period.last.isoformat()}"


@get(f"/t/{{tenant_id:uuid}}/{PATH}")
async def usage_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                     mois: str = "", annee: str = "", du: str = "", au: str = "") -> Any:
    tenant_ctx.require("read")
    now = utcnow()
    values = {"mois": mois, "annee": annee, "du": du, "au": au}
    period, errors = parse_period(values, tenant_ctx.tenant.timezone, now)
    report = await load_usage(db_session, tenant_ctx.tenant_id, period, now=now)
    return render(request, "reporting/usage.html", tenant_page(
        tenant_ctx, "usage_report", report=report, period=period, errors=errors, values=values,
        charts=charts(report), weekdays=WEEKDAYS, number=_number, percent=_percent, duration=duration_label,
        query=_query(period), path=PATH), status=422 if errors else 200)


# --------------------------------------------------------------------------- downloads

SESSION_HEADER = ("Début", "Fin", "État", "Station", "Borne", "Point de charge", "Puissance (kW)", "Prises", "Badge",
                  "Titulaire du badge", "Énergie (kWh)", "Durée branchée (min)", "Durée de charge (min)")


def session_rows(report: UsageReport, zone: str) -> list[list[Any]]:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)

    def local(moment: dt.datetime | None) -> Any:
        return moment.astimezone(tz).replace(tzinfo=None, microsecond=0) if moment else None

    return [[local(r["started_at"]), local(r["stopped_at"]), r["status"], r["station"], r["charge_box_id"],
             r["point"], r["power_kw"], r["socket_types"], r["id_tag"], r["holder"], r["energy_kwh"],
             round(r["connected_seconds"] / 60, 1),
             None if r["charging_seconds"] is None else round(r["charging_seconds"] / 60, 1)]
            for r in report.sessions]


GROUP_HEADER = ("Recharges", "Énergie (kWh)", "Durée branchée (h)", "Durée de charge (h)", "Heures d'utilisation (h)",
                "Durée moyenne (min)")


def _group_cells(g: Any) -> list[Any]:
    return [g.sessions, g.energy_kwh, round(g.connected_seconds / 3600, 2), round(g.charging_seconds / 3600, 2),
            round(g.used_seconds / 3600, 2), None if g.mean_seconds is None else round(g.mean_seconds / 60, 1)]


def workbook_bytes(report: UsageReport, tenant_name: str) -> bytes:
    """The report as XLSX: « Synthèse », « Points de charge » (with a column chart), « Badges », « Agents »,
    « Occupation » (weekday × hour, occupied hours and rate), « Stations », « Recharges »."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "remove_timezone": True})
    bold = book.add_format({"bold": True})
    when = book.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    pct = book.add_format({"num_format": "0.0%"})

    def write(sheet: Any, row: int, cells: list[Any], fmt: Any = None) -> None:
        for col, value in enumerate(cells):
            value = safe_cell(value)
            if isinstance(value, dt.datetime):
                sheet.write_datetime(row, col, value, when)
            elif value == "":
                sheet.write_blank(row, col, None, fmt)
            else:
                sheet.write(row, col, value, fmt)

    p, t = report.period, report.totals
    summary = book.add_worksheet("Synthèse")
    summary.set_column(0, 0, 34)
    summary.set_column(1, 1, 24)
    lines = [["Rapport d'utilisation des IRVE", tenant_name], ["Période", p.label],
             ["Du", p.first.isoformat()], ["Au", p.last.isoformat()], ["Fuseau horaire", p.zone],
             ["Recharges", t.sessions], ["Énergie (kWh)", t.energy_kwh],
             ["Durée branchée (h)", round(t.connected_seconds / 3600, 2)],
             ["Durée de charge (h)", round(t.charging_seconds / 3600, 2)],
             ["Heures d'utilisation (h)", round(t.used_seconds / 3600, 2)],
             ["Taux d'occupation", report.occupancy],
             ["Source", "CCTP CPAM 5-5-4 (statistiques d'utilisation) et article 7 (reporting)"]]
    for i, line in enumerate(lines):
        write(summary, i, line)
    summary.write(0, 0, lines[0][0], bold)
    if report.occupancy is not None:
        summary.write_number(10, 1, report.occupancy, pct)

    def table(name: str, head: list[str], rows: list[list[Any]]) -> Any:
        sheet = book.add_worksheet(name)
        write(sheet, 0, head, bold)
        for i, cells in enumerate(rows, start=1):
            write(sheet, i, cells)
        sheet.freeze_panes(1, 0)
        sheet.set_column(0, len(head) - 1, 16)
        if rows:
            sheet.autofilter(0, 0, len(rows), len(head) - 1)
        return sheet

    points = table("Points de charge", ["Point de charge", "Station — borne", "Puissance (kW)", "Prises",
                                        *GROUP_HEADER],
                   [[g.label, g.detail, g.power_kw, g.socket_types, *_group_cells(g)] for g in report.points])
    if report.points:
        chart = book.add_chart({"type": "column"})
        chart.add_series({"name": "Énergie (kWh)", "categories": ["Points de charge", 1, 0, len(report.points), 0],
                          "values": ["Points de charge", 1, 5, len(report.points), 5]})
        chart.set_title({"name": "Énergie par point de charge"})
        points.insert_chart(len(report.points) + 3, 0, chart)
    table("Badges", ["Badge", "Titulaire", *GROUP_HEADER],
          [[g.label, g.detail, *_group_cells(g)] for g in report.badges])
    table("Agents", ["Agent", *GROUP_HEADER], [[g.label, *_group_cells(g)] for g in report.agents])
    heat = book.add_worksheet("Occupation")
    write(heat, 0, ["Heures occupées (points × heures)", *[f"{h} h" for h in range(24)]], bold)
    write(heat, 9, ["Taux d'occupation", *[f"{h} h" for h in range(24)]], bold)
    for d, day in enumerate(WEEKDAYS):
        write(heat, d + 1, [day, *[round(report.heat.occupied[d][h] / 3600, 2) for h in range(24)]])
        heat.write(d + 10, 0, day)
        for h in range(24):
            rate = report.heat.rate(d, h)
            if rate is not None:
                heat.write_number(d + 10, h + 1, rate, pct)
    heat.conditional_format(10, 1, 16, 24, {"type": "2_color_scale"})
    table("Stations", ["Borne", "Station", "Disponibilité (communication)", "Heures connectées", "Connexions",
                       "Coupures de communication"],
          [[s.charge_box_id, s.station_name, s.uptime, round(s.online_seconds / 3600, 2), s.connections, s.cuts]
           for s in report.stations])
    table("Recharges", list(SESSION_HEADER), session_rows(report, p.zone))
    book.close()
    return out.getvalue()


def _download(body: bytes, fmt: str, name: str) -> Response[bytes]:
    return Response(body, media_type=EXPORT_FORMATS[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


async def _export(tenant_ctx: TenantContext, db_session: AsyncSession, fmt: str, values: dict[str, str]) -> Any:
    tenant_ctx.require("read")
    now = utcnow()
    period, errors = parse_period(values, tenant_ctx.tenant.timezone, now)
    if errors:
        return Response({"errors": errors}, status_code=422)
    report = await load_usage(db_session, tenant_ctx.tenant_id, period, now=now)
    name = f"rapport-utilisation-{period.first.isoformat()}-{period.last.isoformat()}"
    if fmt == "xlsx":
        return _download(workbook_bytes(report, tenant_ctx.tenant.name), "xlsx", name)
    return _download(csv_bytes(session_rows(report, period.zone), header=SESSION_HEADER), "csv", name)


@get(f"/t/{{tenant_id:uuid}}/{PATH}.xlsx")
async def usage_xlsx(tenant_ctx: TenantContext, db_session: AsyncSession, mois: str = "", annee: str = "",
                     du: str = "", au: str = "") -> Any:
    return await _export(tenant_ctx, db_session, "xlsx", {"mois": mois, "annee": annee, "du": du, "au": au})


@get(f"/t/{{tenant_id:uuid}}/{PATH}.csv")
async def usage_csv(tenant_ctx: TenantContext, db_session: AsyncSession, mois: str = "", annee: str = "",
                    du: str = "", au: str = "") -> Any:
    return await _export(tenant_ctx, db_session, "csv", {"mois": mois, "annee": annee, "du": du, "au": au})


def nav(ctx: Any) -> list[tuple[str, ...]]:
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        return [("usage_report", f"/t/{ctx.tenant_id}/{PATH}", "Rapport d'utilisation")]
    return []


async def usage_home_cards(session: AsyncSession, ctx: Any, now: dt.datetime) -> list[HomeCard]:
    """The tenant's card: this month's sessions and energy so far (only where the supervision knows a charger)."""
    if not isinstance(ctx, TenantContext) or not ctx.can("read"):
        return []
    if not (await csms.charger_counts(session, [ctx.tenant_id])).get(ctx.tenant_id):
        return []
    period, _ = parse_period({}, ctx.tenant.timezone, now)
    energy = 0
    count = 0
    async for s in csms.usage_sessions(session, ctx.tenant_id, period.start, period.end):
        count += 1
        energy += s.energy_wh or 0
    base = f"/t/{ctx.tenant_id}/{PATH}"
    return [HomeCard("usage_report", "Rapport d'utilisation", figures=(
        Figure(f"Recharges en {period.label}", count, base),
        Figure("Énergie délivrée (kWh)", _number(energy / 1000, 1), base)),
        links=((base, "Le rapport d'utilisation"), (f"{base}.xlsx?{_query(period)}", "Télécharger (XLSX)")),
        note="CCTP CPAM 5-5-4 et article 7 : statistiques d'utilisation et reporting.")]


usage_portal_handlers: list[Any] = [usage_xlsx, usage_csv, usage_page]
