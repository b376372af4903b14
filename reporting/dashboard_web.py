"""The coordinator's « Tableau de bord » and the COPIL pack (issue 15 §1; CCTP CAIH 5, 6.1; CANUT 7):

* ``/c/{central}/tableau-de-bord?du=AAAA-MM&au=AAAA-MM&beneficiaire=&region=&famille=``: the semester report's
  figures over the period as charts drawn on the server (``app.shell.Chart``: SVG ``role="img"``, a title per bar,
  the numbers in a table beside each), the filters a GET form (bookmarkable; a bad value: 422, its French message
  next to its field, the page with the rest);
* ``/c/{central}/tableau-de-bord/copil.pdf`` and ``.odt``: the COPIL's support (CAIH 6.1: sales figures, after-sales,
  incidents, GTR respect) for the same filters;
* the API: ``GET /api/v1/centrals/{code}/dashboard?…`` (the figures as JSON), ``GET …/copil.pdf``, ``…/copil.odt``.

Another central's coordinator gets 404 (``central_ctx``); a coordinator sees only its agreements' beneficiaries (its
scope; a beneficiary of another central in ``beneficiaire`` is an unknown one, 422).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, Router, get
from litestar.exceptions import ClientException, ValidationException
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.documents import layout_odt, layout_pdf
from app.errors import ValidationFailed
from app.shell import Chart, api_client_error, api_validation_error, central_page, error_responses, render
from catalog import services as catalog
from catalog.rules import FAMILIES
from reporting.dashboard import (
    CHART_TOP,
    Dashboard,
    Filters,
    copil_layout,
    load_dashboard,
    money,
    parse_filters,
    plan_for_values,
    rate,
    restoration,
)
from reporting.semester import PARIS
from tenants.context import CentralContext

__all__ = ["dashboard_api_handlers", "dashboard_nav", "dashboard_portal_handlers"]

PATH = "tableau-de-bord"
TAG = "Tableau de bord du coordinateur"
#: Rows of the « Par bénéficiaire » table per page (the API, the COPIL and the charts keep every beneficiary).
PER_PAGE = 50
DOCUMENTS = {"pdf": ("application/pdf", layout_pdf), "odt": ("application/vnd.oasis.opendocument.text", layout_odt)}


def dashboard_nav(ctx: Any) -> list[tuple[str, ...]]:
    if isinstance(ctx, CentralContext):
        return [("dashboard", f"/c/{ctx.central.code}/{PATH}", "Tableau de bord")]
    return []


async def _board(ctx: CentralContext, session: AsyncSession, values: dict[str, str]
                 ) -> tuple[Dashboard, dict[str, str]]:
    await plan_for_values(session)
    beneficiaries = [b for b in await catalog.beneficiaries_of_central(session, ctx.central.id)
                     if b.tenant_id in set(ctx.tenant_ids)]
    today = utcnow().astimezone(PARIS).date()
    filters, errors = parse_filters(values, today=today, beneficiaries=beneficiaries)
    board = await load_dashboard(session, ctx.central.id, ctx.tenant_ids, filters, beneficiaries=beneficiaries)
    return board, errors


def _float(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def charts(board: Dashboard) -> list[tuple[str, Chart]]:
    """The charts of the page, each with its anchor: CAIH 5's figures (« volume d'affaire », per beneficiary, BPU or
    catalogue, per BPU line, regions, purchase or rental) and CANUT 7's scales (month, quarter, year)."""
    out = [
        ("mois", Chart("Volume d'affaires par mois (CA HT)", "€ HT",
                       tuple((s.label, _float(s.amount)) for s in board.months), category="Mois",
                       every_label=len(board.months) <= 12)),
        ("trimestres", Chart("Par trimestre (CA HT)", "€ HT", tuple((s.label, _float(s.amount)) for s in board.quarters),
                             category="Trimestre", every_label=len(board.quarters) <= 12, width=320)),
        ("annees", Chart("Par année (CA HT)", "€ HT", tuple((s.label, _float(s.amount)) for s in board.years),
                         category="Année", every_label=True, width=320)),
        ("beneficiaires", Chart(f"Les {CHART_TOP} premiers bénéficiaires (CA HT)", "€ HT",
                                tuple((s.label, _float(s.amount)) for s in board.per_beneficiary[:CHART_TOP]),
                                category="Bénéficiaire")),
        ("bpu-catalogue", Chart("BPU de base et catalogue (CA HT)", "€ HT",
                                tuple((s.label, _float(s.amount)) for s in board.kinds), category="Partie",
                                every_label=True, width=320)),
        ("achat-location", Chart("Achat et location (CA HT)", "€ HT",
                                 tuple((s.label, _float(s.amount)) for s in board.modes), category="Achat ou location",
                                 every_label=True, width=320)),
        ("familles", Chart("Par famille du BPU (CA HT)", "€ HT",
                           tuple((s.label, _float(s.amount)) for s in board.families), category="Famille",
                           every_label=len(board.families) <= 4)),
        ("lignes-bpu", Chart(f"Les {CHART_TOP} premières lignes du BPU (CA HT)", "€ HT",
                             tuple((s.key, _float(s.amount)) for s in board.articles[:CHART_TOP]),
                             category="Code article", every_label=len(board.articles) <= 6)),
        ("regions", Chart("Répartition régionale des bénéficiaires", "bénéficiaires",
                          tuple((s.label, float(s.count)) for s in board.regions), category="Région",
                          every_label=len(board.regions) <= 4)),
    ]
    sla = board.sla
    if sla is not None:
        out.append(("gtr", Chart("Taux de respect du GTR du lot, par mois de clôture (%)", "%",
                                 tuple((m.month.label(), float(m.on_time_rate or 0)) for m in sla.months),
                                 category="Mois", every_label=len(sla.months) <= 12)))
    return out


def _values(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {k: str(request.query_params.get(k, ""))[:100] for k in ("du", "au", "beneficiaire", "region", "famille")}


@get(f"/c/{{central_code:str}}/{PATH}")
async def dashboard_page(request: Request[Any, Any, Any], central_ctx: CentralContext,
                         db_session: AsyncSession) -> Any:
    values = _values(request)
    board, errors = await _board(central_ctx, db_session, values)
    return _page(request, central_ctx, board, values, errors)


def beneficiary_page(board: Dashboard, wanted: str, base: str) -> tuple[list[Any], dict[str, Any]]:
    """The rows of the « Par bénéficiaire » table on page ``wanted`` (``page=``; a bad or too large number: the
    nearest page) and its pager's links, which keep the filters and come back to the table."""
    rows = board.per_beneficiary
    pages = max(1, -(-len(rows) // PER_PAGE))
    page = min(pages, max(1, int(wanted))) if wanted.isdigit() and len(wanted) <= 6 else 1
    query = board.filters.query()

    def url(n: int) -> str:
        return f"{base}?{urlencode({**query, 'page': n})}#par-beneficiaire"

    first = (page - 1) * PER_PAGE
    return rows[first:first + PER_PAGE], {
        "page": page, "pages": pages, "total": len(rows), "first": first + 1 if rows else 0,
        "last": min(len(rows), first + PER_PAGE), "prev": url(page - 1) if page > 1 else None,
        "next": url(page + 1) if page < pages else None}


def _page(request: Request[Any, Any, Any], ctx: CentralContext, board: Dashboard, values: dict[str, str],
          errors: dict[str, str]) -> Any:
    rows, paging = beneficiary_page(board, str(request.query_params.get("page", ""))[:10],
                                    f"/c/{ctx.central.code}/{PATH}")
    options = {"beneficiaire": [("", "Tous"), *((str(b.tenant_id), b.name) for b in board.beneficiaries)],
               "region": [("", "Toutes"), *((r, r) for r in board.regions_known)],
               "famille": [("", "Toutes"), *FAMILIES.items()]}
    return render(request, "reporting/dashboard.html", central_page(
        ctx, "dashboard", board=board, charts=charts(board), errors=errors, values=values, options=options,
        beneficiary_rows=rows, paging=paging,
        query=urlencode(board.filters.query()), path=PATH, money=money, rate=rate,
        restoration=restoration), status=422 if errors else 200)


async def _copil(request: Request[Any, Any, Any], ctx: CentralContext, session: AsyncSession, fmt: str,
                 *, api: bool) -> Response[bytes]:
    values = _values(request)
    board, errors = await _board(ctx, session, values)
    if errors:
        if api:
            raise ValidationFailed(errors)
        return _page(request, ctx, board, values, errors)
    at = utcnow().astimezone(PARIS)
    layout = copil_layout(board, central_name=ctx.central.name, central_code=ctx.central.code,
                          generated_at=f"{at:%d/%m/%Y à %H:%M} (heure de Paris)")
    media, writer = DOCUMENTS[fmt]
    f = board.filters
    name = f"copil-{ctx.central.code.lower()}-{f.first:%Y-%m}-{f.last:%Y-%m}.{fmt}"
    return Response(writer(layout), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@get(f"/c/{{central_code:str}}/{PATH}/copil.pdf")
async def copil_pdf(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession) -> Any:
    return await _copil(request, central_ctx, db_session, "pdf", api=False)


@get(f"/c/{{central_code:str}}/{PATH}/copil.odt")
async def copil_odt(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession) -> Any:
    return await _copil(request, central_ctx, db_session, "odt", api=False)


# --------------------------------------------------------------------------- the API


class ShareOut(msgspec.Struct, kw_only=True):
    key: str
    label: str
    amount_ht: Decimal
    lines: int


class BeneficiaryOut(msgspec.Struct, kw_only=True):
    tenant_id: str
    name: str
    identifier: str
    amount_ht: Decimal
    lines: int


class ArticleOut(msgspec.Struct, kw_only=True):
    article_code: str
    label: str
    kind: str
    quantity: Decimal
    amount_ht: Decimal
    lines: int


class RegionOut(msgspec.Struct, kw_only=True):
    region: str
    beneficiaries: int
    amount_ht: Decimal


class IndicatorOut(msgspec.Struct, kw_only=True):
    scope: str
    declared: int
    closed: int
    closed_on_time: int
    gtr_respect_rate: Decimal | None
    target: Decimal
    met: bool | None
    reopened: int
    reopen_rate: Decimal | None
    reopen_max: Decimal
    #: CAIH 6.1 « le temps de rétablissement »: the mean over ``restoration_timed`` tickets closed, in seconds of
    #: the contract's business time; null without any.
    mean_restoration_seconds: int | None = None
    restoration_timed: int = 0

    @classmethod
    def of(cls, scope: str, m: Any) -> IndicatorOut:
        return cls(scope=scope, declared=m.declared, closed=m.closed, closed_on_time=m.closed_on_time,
                   gtr_respect_rate=m.on_time_rate, target=m.targets.on_time_min, met=m.on_time_met,
                   reopened=m.closed_reopened, reopen_rate=m.reopen_rate, reopen_max=m.targets.reopen_max,
                   mean_restoration_seconds=m.mean_restoration_seconds, restoration_timed=m.restored_timed)


class DashboardOut(msgspec.Struct, kw_only=True):
    central: str
    first_month: str
    last_month: str
    filters: dict[str, str]
    beneficiaries: int
    total_ht: Decimal
    lines: int
    months: list[ShareOut]
    quarters: list[ShareOut]
    years: list[ShareOut]
    bpu_or_catalogue: list[ShareOut]
    purchase_or_rental: list[ShareOut]
    families: list[ShareOut]
    per_beneficiary: list[BeneficiaryOut]
    articles: list[ArticleOut]
    regions: list[RegionOut]
    #: CAIH 2.1.27 (the lot), 2.1.26 (each establishment), 6.1 (« le taux de respect du GTR »), and the lot monthly.
    sla_lot: IndicatorOut | None
    sla_establishments: list[IndicatorOut]
    sla_months: list[IndicatorOut]


def _shares(shares: list[Any]) -> list[ShareOut]:
    return [ShareOut(key=s.key, label=s.label, amount_ht=s.amount, lines=s.lines) for s in shares]


def dashboard_out(code: str, board: Dashboard) -> DashboardOut:
    f: Filters = board.filters
    sla = board.sla
    return DashboardOut(
        central=code, first_month=f"{f.first:%Y-%m}", last_month=f"{f.last:%Y-%m}", filters=f.query(),
        beneficiaries=len(board.selected), total_ht=board.total, lines=board.lines, months=_shares(board.months),
        quarters=_shares(board.quarters), years=_shares(board.years), bpu_or_catalogue=_shares(board.kinds),
        purchase_or_rental=_shares(board.modes), families=_shares(board.families),
        per_beneficiary=[BeneficiaryOut(tenant_id=s.key, name=s.label, identifier=s.detail, amount_ht=s.amount,
                                        lines=s.lines) for s in board.per_beneficiary],
        articles=[ArticleOut(article_code=s.key, label=s.label, kind=s.detail, quantity=s.quantity, amount_ht=s.amount,
                             lines=s.lines) for s in board.articles],
        regions=[RegionOut(region=s.label, beneficiaries=s.count, amount_ht=s.amount) for s in board.regions],
        sla_lot=IndicatorOut.of("lot", sla.lot) if sla else None,
        sla_establishments=[IndicatorOut.of(name, m) for name, m in sla.establishments] if sla else [],
        sla_months=[IndicatorOut.of(m.month.label(), m) for m in sla.months] if sla else [])


@get("/centrals/{central_code:str}/dashboard", tags=[TAG], responses=error_responses(404, 422),
     summary="Les chiffres du tableau de bord du coordinateur (du, au : AAAA-MM ; beneficiaire, region, famille)")
async def api_dashboard(request: Request[Any, Any, Any], central_ctx: CentralContext,
                        db_session: AsyncSession) -> DashboardOut:
    board, errors = await _board(central_ctx, db_session, _values(request))
    if errors:
        raise ValidationFailed(errors)
    return dashboard_out(central_ctx.central.code, board)


@get("/centrals/{central_code:str}/copil.pdf", tags=[TAG], responses=error_responses(404, 422),
     summary="Le support du COPIL en PDF (CCTP CAIH 6.1), mêmes filtres")
async def api_copil_pdf(request: Request[Any, Any, Any], central_ctx: CentralContext,
                        db_session: AsyncSession) -> Response[bytes]:
    return await _copil(request, central_ctx, db_session, "pdf", api=True)


@get("/centrals/{central_code:str}/copil.odt", tags=[TAG], responses=error_responses(404, 422),
     summary="Le support du COPIL en OpenDocument (CCTP CAIH 6.1), mêmes filtres")
async def api_copil_odt(request: Request[Any, Any, Any], central_ctx: CentralContext,
                        db_session: AsyncSession) -> Response[bytes]:
    return await _copil(request, central_ctx, db_session, "odt", api=True)


dashboard_portal_handlers: list[Any] = [dashboard_page, copil_pdf, copil_odt]
dashboard_api_handlers: list[Any] = [Router(
    path="/", route_handlers=[api_dashboard, api_copil_pdf, api_copil_odt],
    exception_handlers={ValidationException: api_validation_error, ClientException: api_client_error},
)]

