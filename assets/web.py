"""« Parc »: the portal page of the maintained park and its API (issue 13 §4, §6).

* ``/t/{tenant}/parc``: the list with filters (type, site, warranty), the inventory days (CAIH 2.1.29),
  the equipment whose maintainability ends within 12 months (2.1.30), a form to add one, an import
  form (CSV or XLSX, whole or nothing, with the report of every bad line) and the exports.
* ``/t/{tenant}/parc.csv`` and ``.xlsx``: the park (formula-safe), in the import's columns.
* API: ``GET`` / ``POST /api/v1/tenants/{tenant_id}/assets``, ``POST …/assets/import``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ValidationFailed
from app.exports import export_format, export_response
from app.shell import error_responses, flash, render, see_other, tenant_page
from assets import services
from assets.models import KINDS, SUPPORT_CASES, Asset
from tenants import services as tenants
from tenants.context import TenantContext

__all__ = ["api_handlers", "nav", "portal_handlers"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
MAX_UPLOAD = 2 * 1024 * 1024
Filter = Annotated[str, Parameter(max_length=40)]


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def _page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *, kind: str = "",
                site: str = "", garantie: str = "", values: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None, failed: services.ImportFailed | None = None,
                status: int = 200) -> Any:
    today = dt.datetime.now(ZoneInfo(ctx.tenant.timezone)).date()  # the tenant's day, not UTC's
    sites = await tenants.list_sites(session, ctx.tenant_id)
    kind = kind if kind in KINDS else ""
    garantie = garantie if garantie in ("under", "out") else ""
    park = await services.assets_of_tenant(session, ctx.tenant_id, kind=kind or None, site_id=_uuid(site),
                                           warranty=garantie or None, today=today)
    servers, days = await services.park_inventory_days(session, ctx.tenant_id)
    return render(request, "assets/park.html", tenant_page(
        ctx, "park", park=park, sites=sites, site_names={s.id: s.name for s in sites}, kinds=KINDS,
        support_cases=SUPPORT_CASES, kind=kind, site=site, garantie=garantie, today=today,
        ending=await services.ending_maintainability(session, ctx.tenant_id, today), servers=servers, days=days,
        values=values or {}, errors=errors or {}, failed=failed, query={"kind": kind, "site": site,
                                                                        "garantie": garantie}), status=status)


@get("/t/{tenant_id:uuid}/parc")
async def park_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                    kind: Filter = "", site: Filter = "", garantie: Filter = "") -> Any:
    tenant_ctx.require("read")
    return await _page(request, tenant_ctx, db_session, kind=kind, site=site, garantie=garantie)


@post("/t/{tenant_id:uuid}/parc")
async def park_add(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                   data: Form) -> Any:
    tenant_ctx.require("manage_assets")
    values = {k: str(v)[:5000] for k, v in data.items() if k != "_csrf_token"}
    try:
        asset = await services.create_asset(db_session, tenant_ctx.tenant_id, values)
    except ValidationFailed as exc:  # raised before anything is written
        return await _page(request, tenant_ctx, db_session, values=values, errors=exc.errors, status=422)
    flash(request, f"Équipement ajouté au parc : {asset.label}.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/parc")


async def _upload(request: Request[Any, Any, Any]) -> tuple[bytes, str, str]:
    form = await request.form()
    upload = form.get("file")
    if upload is None or not hasattr(upload, "read"):
        return b"", "", "Choisissez un fichier CSV ou XLSX."
    content = await upload.read()
    filename = getattr(upload, "filename", "") or ""
    if not content:
        return b"", filename, "Le fichier choisi est vide."
    if len(content) > MAX_UPLOAD:
        return b"", filename, "Fichier trop volumineux (2 Mio au plus)."
    return content, filename, ""


@post("/t/{tenant_id:uuid}/parc/import")
async def park_import(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("manage_assets")
    # The form is read after the tenant check: a wrong tenant is a 404 whatever the body.
    content, filename, problem = await _upload(request)
    if problem:
        return await _page(request, tenant_ctx, db_session, errors={"file": problem}, status=422)
    sites = {s.name: s.id for s in await tenants.list_sites(db_session, tenant_ctx.tenant_id)}
    try:
        made = await services.import_assets(db_session, tenant_ctx.tenant_id, content, filename, sites)
    except services.ImportFailed as exc:
        return await _page(request, tenant_ctx, db_session, failed=exc, status=422)
    flash(request, f"{len(made)} équipement(s) importé(s) depuis « {filename[:100]} ».")
    return see_other(f"/t/{tenant_ctx.tenant_id}/parc")


@get(["/t/{tenant_id:uuid}/parc.csv", "/t/{tenant_id:uuid}/parc.xlsx"])
async def park_export(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                      kind: Filter = "", site: Filter = "", garantie: Filter = "") -> Stream:
    # ``-> Stream``, not ``Any``: Litestar would serve the stream as application/json otherwise.
    tenant_ctx.require("read")
    today = dt.datetime.now(ZoneInfo(tenant_ctx.tenant.timezone)).date()
    park = await services.assets_of_tenant(db_session, tenant_ctx.tenant_id, kind=kind if kind in KINDS else None,
                                           site_id=_uuid(site), warranty=garantie or None, today=today, limit=5000)
    names = {s.id: s.name for s in await tenants.list_sites(db_session, tenant_ctx.tenant_id)}
    return await export_response(export_format(request.url.path), f"parc-{today:%Y-%m-%d}",
                                 services.COLUMNS, services.export_rows(park, names), tz=tenant_ctx.tenant.timezone,
                                 sheet="Parc")


def nav(ctx: Any) -> list[tuple[str, ...]]:
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        return [("park", f"/t/{ctx.tenant_id}/parc", "Parc")]
    return []


# --------------------------------------------------------------------------- API

TAG = "Parc"


class AssetIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: Annotated[str, msgspec.Meta(max_length=40, description=f"Type : {', '.join(KINDS)}")]
    serial_number: Annotated[str, msgspec.Meta(max_length=100)]
    maker: Annotated[str, msgspec.Meta(max_length=100)] = ""
    model: Annotated[str, msgspec.Meta(max_length=100)] = ""
    site_id: uuid.UUID | None = None
    commissioned_on: dt.date | None = None
    warranty_end: dt.date | None = None
    support_case: Annotated[str, msgspec.Meta(max_length=20, description=f"{', '.join(SUPPORT_CASES)}")] = "warranty"
    end_of_maintainability: dt.date | None = None
    notes: Annotated[str, msgspec.Meta(max_length=5000)] = ""


class AssetOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    maker: str
    model: str
    serial_number: str
    site_id: uuid.UUID | None
    commissioned_on: dt.date | None
    warranty_end: dt.date | None
    under_warranty: bool
    support_case: str
    end_of_maintainability: dt.date | None
    notes: str

    @classmethod
    def of(cls, a: Asset, today: dt.date) -> AssetOut:
        return cls(id=a.id, kind=a.kind, maker=a.maker, model=a.model, serial_number=a.serial_number,
                   site_id=a.site_id, commissioned_on=a.commissioned_on, warranty_end=a.warranty_end,
                   under_warranty=a.under_warranty(today), support_case=a.support_case,
                   end_of_maintainability=a.end_of_maintainability, notes=a.notes)


class ImportOut(msgspec.Struct, kw_only=True):
    imported: int
    assets: list[AssetOut]


@get("/tenants/{tenant_id:uuid}/assets", tags=[TAG], responses=error_responses(403, 404),
     summary="Le parc maintenu d'un bénéficiaire (hors bornes de recharge)")
async def api_assets(tenant_ctx: TenantContext, db_session: AsyncSession, kind: Filter = "",
                     warranty: Filter = "") -> list[AssetOut]:
    tenant_ctx.require("read")
    today = dt.datetime.now(dt.UTC).date()
    return [AssetOut.of(a, today) for a in await services.assets_of_tenant(
        db_session, tenant_ctx.tenant_id, kind=kind or None, warranty=warranty or None, today=today)]


@post("/tenants/{tenant_id:uuid}/assets", tags=[TAG], responses=error_responses(403, 404, 422),
      summary="Ajouter un équipement au parc")
async def api_create_asset(tenant_ctx: TenantContext, db_session: AsyncSession, data: AssetIn) -> AssetOut:
    tenant_ctx.require("manage_assets")
    asset = await services.create_asset(db_session, tenant_ctx.tenant_id, msgspec.structs.asdict(data))
    return AssetOut.of(asset, dt.datetime.now(dt.UTC).date())


@post("/tenants/{tenant_id:uuid}/assets/import", tags=[TAG], responses=error_responses(403, 404, 422),
      summary="Importer un parc (CSV ou XLSX, tout ou rien)",
      description="Corps : le fichier (`text/csv` ou le type XLSX). Colonnes : " + ", ".join(services.COLUMNS)
                  + ". Une ligne en erreur : 422 avec `errors` {numéro de ligne: messages}, rien d'importé.")
async def api_import_assets(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                            db_session: AsyncSession) -> Any:
    tenant_ctx.require("manage_assets")
    content = await request.body()
    if not content or len(content) > MAX_UPLOAD:
        raise ValidationFailed({"file": "Envoyez un fichier CSV ou XLSX de 2 Mio au plus."})
    sites = {s.name: s.id for s in await tenants.list_sites(db_session, tenant_ctx.tenant_id)}
    xlsx = "spreadsheetml" in (request.headers.get("content-type") or "")
    try:
        made = await services.import_assets(db_session, tenant_ctx.tenant_id, content,
                                            "import.xlsx" if xlsx else "import.csv", sites)
    except services.ImportFailed as exc:
        await db_session.rollback()
        body = {"type": "about:blank", "title": "Import refusé", "status": 422, "detail": exc.report()[0],
                "errors": {str(k): v for k, v in exc.errors.items()}}
        return Response(body, status_code=422, media_type="application/problem+json")
    today = dt.datetime.now(dt.UTC).date()
    return Response(ImportOut(imported=len(made), assets=[AssetOut.of(a, today) for a in made]), status_code=201)


portal_handlers: list[Any] = [park_page, park_add, park_import, park_export]
api_handlers: list[Any] = [api_assets, api_create_asset, api_import_assets]
