"""The beneficiary's « Rapport d'utilisation » of its charging stations (issue 15 §2; CCTP CPAM 5-5-4 and article 7
« Reporting »: « un système de reporting, auquel la CPAM a accès via portail internet exclusif »).

* ``/t/{tenant}/rapport-utilisation?mois=AAAA-MM`` (or ``annee=AAAA``, or ``du=&au=``): totals, charts (server-side
  SVG with their data tables), per charge point, badge and agent, the occupancy heat map as a shaded table, the
  stations' uptime and cuts;
* ``/t/{tenant}/rapport-utilisation.xlsx``, ``.ods`` and ``.csv``: the same figures as a workbook (one sheet per table, the
  sessions last) and the sessions as CSV, every text cell formula-safe (``app.exports.safe_cell``).

For the profiles that read the tenant (admin, viewer, coordinator, operator); an agent gets 403, another tenant
404 (the tenant dependency). The figures are read through ``csms.services`` only; ``reporting.usage`` folds them.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import uuid
from pathlib import Path
from typing import Any

import xlsxwriter
from litestar import Request, Response, get
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import ValidationFailed
from app.exports import EXPORT_FORMATS, csv_bytes, safe_cell
from app.shell import Chart, Figure, HomeCard, render, tenant_page
from csms import services as csms
from reporting.ods import OdsBook, OdsChart
from reporting.usage import WEEKDAYS, Period, UsageReport, build_report, duration_label, parse_period
from tenants.context import TenantContext

__all__ = ["load_usage", "nav", "ods_bytes", "sheets_of", "usage_home_cards", "usage_portal_handlers", "workbook_bytes"]

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


def sheets_of(report: UsageReport, tenant_name: str) -> list[tuple[str, list[list[Any]]]]:
    """The report's sheets, each a header row then its rows (the XLSX and the ODS write the same)."""
    p, t = report.period, report.totals
    summary = [["Rapport d'utilisation des IRVE", tenant_name], ["Période", p.label],
               ["Du", p.first.isoformat()], ["Au", p.last.isoformat()], ["Fuseau horaire", p.zone],
               ["Recharges", t.sessions], ["Énergie (kWh)", t.energy_kwh],
               ["Durée branchée (h)", round(t.connected_seconds / 3600, 2)],
               ["Durée de charge (h)", round(t.charging_seconds / 3600, 2)],
               ["Heures d'utilisation (h)", round(t.used_seconds / 3600, 2)],
               ["Taux d'occupation", report.occupancy],
               ["Source", "CCTP CPAM 5-5-4 (statistiques d'utilisation) et article 7 (reporting)"]]
    heat = [["Heures occupées (points × heures)", *[f"{h} h" for h in range(24)]],
            *[[day, *[round(report.heat.occupied[d][h] / 3600, 2) for h in range(24)]]
              for d, day in enumerate(WEEKDAYS)],
            [],
            ["Taux d'occupation", *[f"{h} h" for h in range(24)]],
            *[[day, *[report.heat.rate(d, h) for h in range(24)]] for d, day in enumerate(WEEKDAYS)]]
    sheets: list[tuple[str, list[list[Any]]]] = [
        ("Synthèse", summary),
        ("Points de charge", [["Point de charge", "Station — borne", "Puissance (kW)", "Prises", *GROUP_HEADER],
                              *[[g.label, g.detail, g.power_kw, g.socket_types, *_group_cells(g)]
                                for g in report.points]]),
        ("Badges", [["Badge", "Titulaire", *GROUP_HEADER],
                    *[[g.label, g.detail, *_group_cells(g)] for g in report.badges]]),
        ("Agents", [["Agent", *GROUP_HEADER], *[[g.label, *_group_cells(g)] for g in report.agents]]),
        ("Occupation", heat),
        ("Stations", [["Borne", "Station", "Disponibilité (communication)", "Heures connectées", "Connexions",
                       "Coupures de communication"],
                      *[[s.charge_box_id, s.station_name, s.uptime, round(s.online_seconds / 3600, 2), s.connections,
                         s.cuts] for s in report.stations]]),
        ("Recharges", [list(SESSION_HEADER), *session_rows(report, p.zone)]),
    ]
    if len(report.months) > 1:  # the yearly view, month by month
        sheets.insert(6, ("Par mois", [["Mois", "Début", *GROUP_HEADER, "Taux d'occupation"],
                                       *[[g.label, g.key, *_group_cells(g), report.month_occupancy(g)]
                                         for g in report.months]]))
    return sheets


#: Sheets whose first row is a header over a filterable table.
TABLES = ("Points de charge", "Badges", "Agents", "Stations", "Par mois", "Recharges")


def _is_percent(name: str, r: int, c: int) -> bool:
    return ((name == "Occupation" and r > 9) or (name == "Synthèse" and r == 10) or (name == "Stations" and c == 2)
            or (name == "Par mois" and c == 8))


def workbook_bytes(report: UsageReport, tenant_name: str) -> bytes:
    """The report as XLSX: « Synthèse », « Points de charge » (with a column chart), « Badges », « Agents »,
    « Occupation » (weekday × hour, occupied hours and rate, a colour scale), « Stations », « Recharges »."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "remove_timezone": True})
    bold = book.add_format({"bold": True})
    when = book.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    pct = book.add_format({"num_format": "0.0%"})
    for name, rows in sheets_of(report, tenant_name):
        sheet = book.add_worksheet(name)
        sheet.set_column(0, 0, 30 if name == "Synthèse" else 18)
        sheet.set_column(1, 40, 16)
        for r, cells in enumerate(rows):
            header = (r == 0 and name != "Synthèse") or (name == "Occupation" and r == 9)
            for c, value in enumerate(cells):
                value = safe_cell(value)
                if isinstance(value, dt.datetime):
                    sheet.write_datetime(r, c, value, when)
                elif value == "":
                    continue
                elif isinstance(value, float) and _is_percent(name, r, c):
                    sheet.write_number(r, c, value, pct)
                else:
                    sheet.write(r, c, value, bold if header or (name == "Synthèse" and r == 0 and c == 0) else None)
        if name in TABLES:
            sheet.freeze_panes(1, 0)
            if len(rows) > 1:
                sheet.autofilter(0, 0, len(rows) - 1, len(rows[0]) - 1)
        if name == "Occupation":
            sheet.conditional_format(10, 1, 16, 24, {"type": "2_color_scale"})
        spec = _energy_chart(name, rows)
        if spec is not None:
            chart = book.add_chart({"type": spec.kind})
            ((series, values),) = spec.series
            chart.add_series({"name": series, "categories": [name, *spec.categories],
                              "values": [name, *values]})
            chart.set_title({"name": spec.title})
            sheet.insert_chart(spec.row, spec.col, chart)
    book.close()
    return out.getvalue()


def _energy_chart(name: str, rows: list[list[Any]]) -> OdsChart | None:
    """« Points de charge »'s column chart, energy per charge point (its sixth column), below the table: the same in
    the XLSX and the ODS."""
    if name != "Points de charge" or len(rows) <= 1:
        return None
    last = len(rows) - 1
    return OdsChart("column", name, "Énergie par point de charge", (1, 0, last, 0),
                    [("Énergie (kWh)", (1, 5, last, 5))], row=len(rows) + 2, col=0)


def ods_bytes(report: UsageReport, tenant_name: str) -> bytes:
    """The same sheets as OpenDocument (CCP TGD X.7; ``reporting.ods``): typed cells, filter ranges, the XLSX's
    column chart (``_energy_chart``, embedded by ``OdsBook.close``); the sessions' start and end as text
    (``JJ/MM/AAAA hh:mm``: the ODS writer's dates have no time)."""
    sheets = sheets_of(report, tenant_name)
    grids: dict[str, dict[int, dict[int, tuple[str, Any]]]] = {}
    for name, rows in sheets:
        grid: dict[int, dict[int, tuple[str, Any]]] = {}
        for r, cells in enumerate(rows):
            header = (r == 0 and name != "Synthèse") or (name == "Occupation" and r == 9)
            for c, value in enumerate(cells):
                if isinstance(value, dt.datetime):
                    value = f"{value:%d/%m/%Y %H:%M}"
                percent = isinstance(value, float) and _is_percent(name, r, c)
                grid.setdefault(r, {})[c] = ("header" if header else "ratio" if percent
                                             else "float" if isinstance(value, int | float) else "text", value)
        grids[name] = grid
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "usage.ods"
        book = OdsBook(path, [name for name, _ in sheets], source="", title="Rapport d'utilisation des IRVE")
        book.close(grids, {name: (len(rows) - 1, len(rows[0]) - 1) for name, rows in sheets
                           if name in TABLES and len(rows) > 1},
                   charts=[spec for name, rows in sheets if (spec := _energy_chart(name, rows)) is not None])
        return path.read_bytes()


MEDIA = {"ods": "application/vnd.oasis.opendocument.spreadsheet"}


def _download(body: bytes, fmt: str, name: str) -> Response[bytes]:
    return Response(body, media_type=MEDIA.get(fmt) or EXPORT_FORMATS[fmt], headers={
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
    if fmt == "ods":
        return _download(ods_bytes(report, tenant_ctx.tenant.name), "ods", name)
    return _download(csv_bytes(session_rows(report, period.zone), header=SESSION_HEADER), "csv", name)


@get(f"/t/{{tenant_id:uuid}}/{PATH}.xlsx")
async def usage_xlsx(tenant_ctx: TenantContext, db_session: AsyncSession, mois: str = "", annee: str = "",
                     du: str = "", au: str = "") -> Any:
    return await _export(tenant_ctx, db_session, "xlsx", {"mois": mois, "annee": annee, "du": du, "au": au})


@get(f"/t/{{tenant_id:uuid}}/{PATH}.ods")
async def usage_ods(tenant_ctx: TenantContext, db_session: AsyncSession, mois: str = "", annee: str = "",
                    du: str = "", au: str = "") -> Any:
    return await _export(tenant_ctx, db_session, "ods", {"mois": mois, "annee": annee, "du": du, "au": au})


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


usage_portal_handlers: list[Any] = [usage_xlsx, usage_ods, usage_csv, usage_page]
