"""The catalog's portal pages (issue 14 §5):

* ``/c/{central}/accords``: « Accords et BPU » of a coordinator — its central's agreements, each with its BPU
  versions (the one in force marked), an import form (CSV or XLSX, from a date; whole or nothing, with the
  report of every bad line) and its catalog solutions with their history (CANUT 5.1.2, CPAM 8-1-2-2);
* ``/t/{tenant}/catalogue``: « Catalogue » of a beneficiary — the articles in force of the agreements it
  subscribes to, searched by code, label or maker and filtered by family and maker, with the price HT, the
  VAT rate and the price TTC.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page
from app.shell import Paged, central_page, flash, pager, render, see_other, tenant_page
from catalog import services
from catalog.rules import COLUMNS, COMPLEXITIES, FAMILIES, MODES
from tenants.context import CentralContext, TenantContext

__all__ = ["nav", "portal_handlers"]

MAX_UPLOAD = 8 * 1024 * 1024
PER_PAGE = 50
Filter = Annotated[str, Parameter(max_length=100)]
PARIS = ZoneInfo("Europe/Paris")


def _today() -> dt.date:
    return dt.datetime.now(PARIS).date()


async def _agreements_page(request: Request[Any, Any, Any], ctx: CentralContext, session: AsyncSession, *,
                           failed: tuple[uuid.UUID, services.BpuImportFailed] | None = None,
                           errors: tuple[uuid.UUID, str] | None = None, status: int = 200) -> Any:
    today = _today()
    rows = []
    for agreement in await services.agreements_of_central(session, ctx.central.id):
        in_force = await services.version_in_force(session, agreement.id, today)
        solutions = await services.solutions_of_agreement(session, agreement.id)
        rows.append({"agreement": agreement, "versions": await services.versions_of_agreement(session, agreement.id),
                     "in_force": in_force, "solutions": [(s, await services.solution_history(session, s.id))
                                                         for s in solutions]})
    return render(request, "catalog/agreements.html", central_page(
        ctx, "agreements", rows=rows, today=today, columns=COLUMNS, families=FAMILIES,
        failed=failed, errors=errors, solution_codes={s.id: s.code for r in rows for s, _ in r["solutions"]}),
        status=status)


@get("/c/{central_code:str}/accords")
async def agreements_page(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession) -> Any:
    return await _agreements_page(request, central_ctx, db_session)


@post("/c/{central_code:str}/accords/{agreement_id:uuid}/bpu")
async def bpu_import(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                     agreement_id: uuid.UUID) -> Any:
    agreement = await services.agreement_of_coordinator(db_session, {central_ctx.central.id}, agreement_id)
    # The form is read after the access check: a wrong agreement is a 404 whatever the body.
    data = await request.form()
    upload = data.get("file")
    content = await upload.read() if hasattr(upload, "read") else b""
    filename = str(getattr(upload, "filename", "") or "")[:255]
    problem = ("Choisissez un fichier CSV ou XLSX." if not content
               else "Fichier trop volumineux (8 Mio au plus)." if len(content) > MAX_UPLOAD else "")
    valid_from = _today()
    if not problem and data.get("valid_from"):
        try:
            valid_from = dt.date.fromisoformat(str(data["valid_from"])[:10])
        except ValueError:
            problem = "Date d'entrée en vigueur invalide (AAAA-MM-JJ)."
    if problem:
        return await _agreements_page(request, central_ctx, db_session, errors=(agreement.id, problem), status=422)
    try:
        version = await services.import_bpu(db_session, agreement, content, filename, valid_from=valid_from,
                                            imported_by=central_ctx.identity.email)
    except services.BpuImportFailed as exc:  # raised before anything is written
        return await _agreements_page(request, central_ctx, db_session, failed=(agreement.id, exc), status=422)
    flash(request, f"BPU de {agreement.reference} : version {version.version} importée ({version.line_count} "
                   f"articles), en vigueur à partir du {version.valid_from:%d/%m/%Y}.")
    return see_other(f"/c/{central_ctx.central.code}/accords#accord-{agreement.id}")


@get("/t/{tenant_id:uuid}/catalogue")
async def catalog_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       q: Filter = "", famille: Filter = "", constructeur: Filter = "", page: Page = 1) -> Any:
    tenant_ctx.require("read")
    today = dt.datetime.now(ZoneInfo(tenant_ctx.tenant.timezone)).date()
    famille = famille if famille in FAMILIES else ""
    lines, total = await services.catalog_of_tenant(db_session, tenant_ctx.tenant_id, today, search=q, family=famille,
                                                    maker=constructeur, page=page, per_page=PER_PAGE)
    query = {"q": q, "famille": famille, "constructeur": constructeur}
    paged = Paged(items=lines, total=total, page=page, per_page=PER_PAGE)
    return render(request, "catalog/catalog.html", tenant_page(
        tenant_ctx, "catalog", lines=lines, total=total, today=today, families=FAMILIES, complexities=COMPLEXITIES,
        modes=MODES, makers=await services.makers_of_catalog(db_session, tenant_ctx.tenant_id, today),
        agreements=await services.agreements_of_tenant(db_session, tenant_ctx.tenant_id), query=query,
        solutions=await services.solutions_of_catalog(db_session, tenant_ctx.tenant_id, today, search=q,
                                                           family=famille, maker=constructeur),
        paging=pager(f"/t/{tenant_ctx.tenant_id}/catalogue", query, paged)), block="results")


def nav(ctx: Any) -> list[tuple[str, ...]]:
    """« Commandes »: the beneficiary's catalog and purchase orders, the coordinator's agreements and BPU."""
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        return [("catalog", f"/t/{ctx.tenant_id}/catalogue", "Catalogue"),
                ("orders", f"/t/{ctx.tenant_id}/commandes", "Bons de commande")]
    if isinstance(ctx, CentralContext):
        return [("agreements", f"/c/{ctx.central.code}/accords", "Accords et BPU")]
    return []


portal_handlers: list[Any] = [agreements_page, bpu_import, catalog_page]
