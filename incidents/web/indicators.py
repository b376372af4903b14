"""The indicators' pages, downloads and API (issue 13 §5): one establishment's month for whoever reads
the tenant, the lot and each of its establishments for the central's coordinator (CCTP CAIH 2.1.26,
2.1.27 and 2.1.33), as tables with server-drawn charts, CSV, and the quarterly statement of
interventions as CSV and PDF."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ValidationFailed
from app.shell import Chart, central_page, error_responses, render, tenant_page
from incidents import indicator_data as data
from incidents.indicators import Month, MonthIndicators, duration_label, parse_month
from tenants.context import CentralContext, TenantContext
from tenants.territories import DEFAULT_ZONE

__all__ = ["api_handlers", "nav", "portal_handlers"]

MonthParam = Annotated[str, Parameter(max_length=7, description="Mois AAAA-MM (par défaut : le mois précédent)")]
YearParam = Annotated[int | None, Parameter(ge=2000, le=2100, description="Année (par défaut : celle du trimestre précédent)")]
QuarterParam = Annotated[int | None, Parameter(ge=1, le=4, description="Trimestre 1 à 4 (par défaut : le précédent)")]


def _month(value: str, zone: ZoneInfo, field: str = "mois") -> Month:
    try:
        return parse_month(value, dt.datetime.now(zone).date())
    except ValueError as exc:
        raise ValidationFailed({field: str(exc)}) from None


def _previous(month: Month) -> Month:
    return Month(month.year - (month.month == 1), 12 if month.month == 1 else month.month - 1)


def _next(month: Month) -> Month:
    return Month(month.year + (month.month == 12), 1 if month.month == 12 else month.month + 1)


def _charts(m: MonthIndicators, key: str) -> list[tuple[str, Chart]]:
    return [
        (f"{key}-materiel", Chart(title=f"Incidents déclarés par matériel — {m.month.label()}", unit="incidents",
                                  bars=tuple((name, n) for name, n in m.by_equipment), category="Matériel",
                                  every_label=True)),
        (f"{key}-appels", Chart(title=f"Appels au support par semaine — {m.month.label()}", unit="appels",
                                bars=tuple(m.calls_by_week), category="Semaine", every_label=True)),
    ]


def _csv(body: bytes, filename: str) -> Response[bytes]:
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _pdf(body: bytes, filename: str) -> Response[bytes]:
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _quarter_of(month: Month) -> tuple[int, int]:
    return month.year, (month.month - 1) // 3 + 1


def _quarter(year: int | None, quarter: int | None, zone: ZoneInfo) -> tuple[int, int]:
    """The quarter asked for, else the last one ended."""
    if year is not None and quarter is not None:
        return year, quarter
    today = dt.datetime.now(zone).date()
    last_year, last = (today.year, (today.month - 1) // 3) if today.month > 3 else (today.year - 1, 4)
    return year or last_year, quarter or last


async def _statement(request: Request[Any, Any, Any], session: AsyncSession, tenant_ids: list[Any], zone: ZoneInfo,
                     year: int | None, quarter: int | None, *, title: str, owner: str, name: str) -> Response[bytes]:
    """The quarter's statement of interventions of ``tenant_ids`` as CSV or PDF (the path's suffix)."""
    year, quarter = _quarter(year, quarter, zone)
    lines = await data.intervention_statement(session, tenant_ids, *data.quarter_bounds(year, quarter, zone))
    filename = f"{name}-{year}-T{quarter}"
    if request.url.path.endswith(".pdf"):
        return _pdf(data.statement_pdf(lines, zone, title=title, subtitle=f"{owner} — {quarter}e trimestre {year}"),
                    f"{filename}.pdf")
    return _csv(data.statement_csv(lines, zone), f"{filename}.csv")


# --------------------------------------------------------------------------- a tenant


@get("/t/{tenant_id:uuid}/incidents/indicateurs")
async def tenant_indicators_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                                 mois: MonthParam = "") -> Any:
    """One establishment's month (CAIH 2.1.26: « Ces indicateurs devront être fournis mensuellement aux
    bénéficiaires »)."""
    tenant_ctx.require("read")
    zone = ZoneInfo(tenant_ctx.tenant.timezone)
    month = _month(mois, zone)
    m = await data.tenant_indicators(db_session, tenant_ctx.tenant_id, month)
    year, quarter = _quarter_of(month)
    return render(request, "incidents/indicators.html", tenant_page(
        tenant_ctx, "indicators", m=m, month=month, previous=_previous(month), following=_next(month),
        charts=_charts(m, "etab"), establishments=[], year=year, quarter=quarter,
        path=f"/t/{tenant_ctx.tenant_id}/incidents", duration=duration_label))


@get("/t/{tenant_id:uuid}/incidents/indicateurs.csv")
async def tenant_indicators_csv(tenant_ctx: TenantContext, db_session: AsyncSession, mois: MonthParam = "") -> Response[bytes]:
    tenant_ctx.require("read")
    month = _month(mois, ZoneInfo(tenant_ctx.tenant.timezone))
    m = await data.tenant_indicators(db_session, tenant_ctx.tenant_id, month)
    return _csv(data.indicators_csv([(tenant_ctx.tenant.name, m)]), f"indicateurs-{month}.csv")


@get(["/t/{tenant_id:uuid}/incidents/etat-interventions.csv", "/t/{tenant_id:uuid}/incidents/etat-interventions.pdf"])
async def tenant_statement(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                           annee: YearParam = None, trimestre: QuarterParam = None) -> Response[bytes]:
    """CAIH 2.1.33: « un état récapitulatif des interventions » of the quarter."""
    tenant_ctx.require("read")
    return await _statement(request, db_session, [tenant_ctx.tenant_id], ZoneInfo(tenant_ctx.tenant.timezone),
                            annee, trimestre, title="État récapitulatif des interventions",
                            owner=tenant_ctx.tenant.name, name="etat-interventions")


# --------------------------------------------------------------------------- the coordinator


@get("/c/{central_code:str}/indicateurs")
async def central_indicators_page(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                                  mois: MonthParam = "") -> Any:
    """The lot (CAIH 2.1.27: « fournis régulièrement au pouvoir adjudicateur et analysés lors du comité
    de pilotage ») and each establishment against its own targets (2.1.26)."""
    zone = ZoneInfo(DEFAULT_ZONE)
    month = _month(mois, zone)
    lot = await data.central_indicators(db_session, central_ctx.tenant_ids, month)
    year, quarter = _quarter_of(month)
    return render(request, "incidents/indicators.html", central_page(
        central_ctx, "indicators", m=lot.lot, month=month, previous=_previous(month), following=_next(month),
        charts=_charts(lot.lot, "lot"), establishments=lot.establishments, year=year, quarter=quarter,
        path=f"/c/{central_ctx.central.code}", lot=True, duration=duration_label))


@get("/c/{central_code:str}/indicateurs.csv")
async def central_indicators_csv(central_ctx: CentralContext, db_session: AsyncSession, mois: MonthParam = "") -> Response[bytes]:
    month = _month(mois, ZoneInfo(DEFAULT_ZONE))
    lot = await data.central_indicators(db_session, central_ctx.tenant_ids, month)
    return _csv(data.indicators_csv([("Lot (tous les établissements)", lot.lot), *lot.establishments]),
                f"indicateurs-{central_ctx.central.code}-{month}.csv")


@get(["/c/{central_code:str}/etat-interventions.csv", "/c/{central_code:str}/etat-interventions.pdf"])
async def central_statement(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                            annee: YearParam = None, trimestre: QuarterParam = None) -> Response[bytes]:
    """CAIH 2.1.33: « Le titulaire fournit une synthèse trimestrielle de cet état au coordonnateur »."""
    return await _statement(request, db_session, central_ctx.tenant_ids, ZoneInfo(DEFAULT_ZONE), annee, trimestre,
                            title="Synthèse trimestrielle des interventions", owner=central_ctx.central.name,
                            name=f"etat-interventions-{central_ctx.central.code}")


# --------------------------------------------------------------------------- API

TAG = "Indicateurs"


@get("/tenants/{tenant_id:uuid}/indicators", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Indicateurs mensuels d'un établissement",
     description="CCTP CAIH 2.1.26 et 2.1.33 : taux d'incidents traités dans les temps (objectif 90 %), taux de "
                 "réouverture (plafond 5 %), incidents par matériel, sous / hors garantie, résolus à distance, appels "
                 "au support par semaine, mois et année. Les taux sont des décimaux en pourcentage (chaînes), "
                 "`null` sans incident clôturé.")
async def api_tenant_indicators(tenant_ctx: TenantContext, db_session: AsyncSession, month: MonthParam = "") -> dict[str, Any]:
    tenant_ctx.require("read")
    m = await data.tenant_indicators(db_session, tenant_ctx.tenant_id,
                                     _month(month, ZoneInfo(tenant_ctx.tenant.timezone), "month"))
    return {"tenant_id": str(tenant_ctx.tenant_id), **m.as_dict()}


@get("/centrals/{central_code:str}/indicators", tags=[TAG], responses=error_responses(404, 422),
     summary="Indicateurs mensuels du lot et de chaque établissement (coordinateur)",
     description="CCTP CAIH 2.1.27 (lot : objectif 98 %, plafond de réouverture 2 %) et 2.1.26 par établissement.")
async def api_central_indicators(central_ctx: CentralContext, db_session: AsyncSession, month: MonthParam = "") -> dict[str, Any]:
    lot = await data.central_indicators(db_session, central_ctx.tenant_ids,
                                        _month(month, ZoneInfo(DEFAULT_ZONE), "month"))
    return {"central": central_ctx.central.code, "lot": lot.lot.as_dict(),
            "establishments": [{"name": name, **m.as_dict()} for name, m in lot.establishments]}


def nav(ctx: Any) -> list[tuple[str, ...]]:
    """« Indicateurs » in the tenant's incidents group and in the coordinator's menu."""
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        return [("indicators", f"/t/{ctx.tenant_id}/incidents/indicateurs", "Indicateurs")]
    if isinstance(ctx, CentralContext):
        return [("indicators", f"/c/{ctx.central.code}/indicateurs", "Indicateurs de service")]
    return []


portal_handlers: list[Any] = [tenant_indicators_page, tenant_indicators_csv, tenant_statement,
                              central_indicators_page, central_indicators_csv, central_statement]
api_handlers: list[Any] = [api_tenant_indicators, api_central_indicators]
