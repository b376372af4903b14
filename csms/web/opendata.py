"""« Données ouvertes » (issue 16 §3): the tenant admin's page, and the public files at stable URLs.

* ``/t/{tenant}/donnees-ouvertes``: the publisher's settings, the public points, the URLs and the last validation
  report (the admin's; another tenant's id is a 404 like an unknown one).
* ``/open-data/{tenant}/irve-statique.csv`` and ``irve-dynamique.csv``: no login; ``Cache-Control: public`` with
  ``ETag`` and ``Last-Modified`` (a conditional request gets 304); a tenant that does not publish, or an unknown
  one, is a 404. schema-irve 2.3 defines CSV resources only (its ``datapackage.json``): there is no JSON file.
"""

from __future__ import annotations

import email.utils
import uuid
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import scope_session, utcnow
from app.errors import NotFound, ValidationFailed
from app.shell import flash, render, see_other, tenant_page
from csms import opendata
from csms.domain.opendata import ACCESS_CONDITIONS, ACCESSIBILITY, IMPLANTATIONS
from csms.irve import point_lines
from tenants.context import TenantContext

__all__ = ["handlers", "nav"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
NAV_KEY = "open_data"
PERMISSION = "open_data"


def nav(ctx: Any) -> list[tuple[str, str, str, str]]:
    if isinstance(ctx, TenantContext) and ctx.can(PERMISSION):
        return [(NAV_KEY, f"/t/{ctx.tenant_id}/donnees-ouvertes", "Données ouvertes", "Administration")]
    return []


def public_urls(request: Request[Any, Any, Any], tenant_id: uuid.UUID) -> dict[str, str]:
    root = str(request.base_url).rstrip("/")
    return {name: f"{root}/open-data/{tenant_id}/{name}" for name in opendata.FILES}


async def _page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *,
                values: dict[str, Any] | None = None, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    lines = await point_lines(session, ctx.tenant_id)
    report, files = await opendata.last_report(session, ctx.tenant_id)
    return render(request, "csms/open_data.html", tenant_page(
        ctx, NAV_KEY, values=values or await opendata.form_values(session, ctx.tenant_id), errors=errors or {},
        lines=lines, report=report, files=files, urls=public_urls(request, ctx.tenant_id),
        implantations=IMPLANTATIONS, access_conditions=ACCESS_CONDITIONS, accessibility=ACCESSIBILITY),
        status=status)


@get("/t/{tenant_id:uuid}/donnees-ouvertes")
async def open_data_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require(PERMISSION)
    return await _page(request, tenant_ctx, db_session)


@post("/t/{tenant_id:uuid}/donnees-ouvertes")
async def open_data_save(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                         data: Form) -> Any:
    tenant_ctx.require(PERMISSION)
    try:
        report = await opendata.save_open_data(db_session, tenant_ctx.tenant_id, data, now=utcnow())
    except ValidationFailed as exc:  # nothing was written
        values = {k: (v if isinstance(v, str) else "") for k, v in data.items()}
        values["published"] = bool(data.get("published"))
        values["points"] = {key.removeprefix("public-"): str(data.get(f"id-{key.removeprefix('public-')}") or "")
                            for key in data if key.startswith("public-")}
        return await _page(request, tenant_ctx, db_session, values=values, errors=exc.errors, status=422)
    await db_session.commit()
    if report is None:
        flash(request, "Réglages enregistrés : les données ouvertes ne sont pas publiées.")
    elif report.valid:
        flash(request, f"Données ouvertes publiées : {report.published} point(s) de charge.")
    else:
        flash(request, f"Données ouvertes publiées : {report.published} point(s) de charge ; "
                       f"{len(report.rejected)} anomalie(s) écartée(s), voir le rapport de validation.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/donnees-ouvertes")


def _http_date(moment: Any) -> str:
    return email.utils.format_datetime(moment.replace(microsecond=0), usegmt=True)


async def _serve(request: Request[Any, Any, Any], session: AsyncSession, tenant_id: uuid.UUID, name: str) -> Response[Any]:
    scope_session(session, [tenant_id])
    file = await opendata.public_file(session, tenant_id, name)
    if file is None:
        raise NotFound("données ouvertes")
    etag = f'"{file.etag}"'
    headers = {"ETag": etag, "Last-Modified": _http_date(file.modified_at),
               "Cache-Control": f"public, max-age={opendata.FILES[name]}", "Access-Control-Allow-Origin": "*"}
    wanted = request.headers.get("if-none-match")
    if wanted is not None:
        if etag in [tag.strip() for tag in wanted.split(",")] or wanted.strip() == "*":
            return Response(content=b"", status_code=304, headers=headers)
    elif since := request.headers.get("if-modified-since"):
        try:
            moment = email.utils.parsedate_to_datetime(since)
        except (TypeError, ValueError):
            moment = None
        if moment is not None and moment.tzinfo is not None and file.modified_at.replace(microsecond=0) <= moment:
            return Response(content=b"", status_code=304, headers=headers)
    return Response(content=file.content.encode(), media_type="text/csv; charset=utf-8", headers={
        **headers, "Content-Disposition": f'inline; filename="{name}"'})


@get("/open-data/{tenant_id:uuid}/irve-statique.csv")
async def open_data_static(request: Request[Any, Any, Any], db_session: AsyncSession, tenant_id: uuid.UUID) -> Response[Any]:
    return await _serve(request, db_session, tenant_id, opendata.STATIC)


@get("/open-data/{tenant_id:uuid}/irve-dynamique.csv")
async def open_data_dynamic(request: Request[Any, Any, Any], db_session: AsyncSession, tenant_id: uuid.UUID) -> Response[Any]:
    return await _serve(request, db_session, tenant_id, opendata.DYNAMIC)


handlers: list[Any] = [open_data_page, open_data_save, open_data_static, open_data_dynamic]
