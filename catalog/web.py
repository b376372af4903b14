"""The catalog's portal pages (issue 14 §5):

* ``/c/{central}/accords``: « Accords et BPU » of a coordinator — its central's agreements, each with its BPU
  versions (the one in force marked), an import form (CSV or XLSX, from a date; whole or nothing, with the
  report of every bad line) and its catalog solutions with their history (CANUT 5.1.2, CPAM 8-1-2-2);
* ``/t/{tenant}/catalogue``: « Catalogue » of a beneficiary — the articles in force of the agreements it
  subscribes to, searched by code, label or maker and filtered by family and maker, with the price HT, the
  VAT rate and the price TTC; ``/t/{tenant}/catalogue.csv`` and ``.xlsx``: that catalog with the page's filters
  (``catalog.catalog_export``, formula-safe);
* ``/operateur/accords``: the same « Accords et BPU » for the titulaire's operator — the agreements it holds
  (``catalog.titulaire``: those of the beneficiaries it serves), the same import form
  (``POST /operateur/accords/{agreement_id}/bpu``); an agreement it does not hold is a 404.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Stream
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page
from app.exports import TooManyRows, export_format, export_response
from app.shell import Paged, central_page, flash, operator_page, pager, render, see_other, tenant_page
from catalog import catalog_export, services, titulaire
from catalog.rules import COLUMNS, COMPLEXITIES, FAMILIES, MODES
from tenants.context import CentralContext, OperatorContext, TenantContext
from tenants.models import FrameworkAgreement

__all__ = ["nav", "portal_handlers"]

MAX_UPLOAD = 8 * 1024 * 1024
PER_PAGE = 50
Filter = Annotated[str, Parameter(max_length=100)]
PARIS = ZoneInfo("Europe/Paris")


def _today() -> dt.date:
    return dt.datetime.now(PARIS).date()


Importer = CentralContext | OperatorContext


async def reachable_agreements(session: AsyncSession, ctx: Importer) -> list[FrameworkAgreement]:
    """The coordinator's: its central's agreements; the titulaire's operator's: those it holds."""
    if isinstance(ctx, OperatorContext):
        return await titulaire.agreements_of_operator(session, ctx.tenant_ids)
    return await services.agreements_of_central(session, ctx.central.id)


async def reachable_agreement(session: AsyncSession, ctx: Importer, agreement_id: uuid.UUID) -> FrameworkAgreement:
    """One of ``reachable_agreements``; another is a 404, like one that does not exist."""
    if isinstance(ctx, OperatorContext):
        return await titulaire.agreement_of_operator(session, ctx.tenant_ids, agreement_id)
    return await services.agreement_of_coordinator(session, {ctx.central.id}, agreement_id)


def agreements_context(ctx: Importer, **extra: Any) -> dict[str, Any]:
    """The page context of « Accords et BPU » and its solutions' pages: ``base`` is the coordinator's central
    (``/c/CODE``) or the operator's space (``/operateur``); ``decides``: whether the reader approves and
    withdraws solutions (the coordinator) or only proposes them (the titulaire's operator)."""
    if isinstance(ctx, OperatorContext):
        return operator_page(ctx, "agreements", base="/operateur", central=None, decides=False, **extra)
    return central_page(ctx, "agreements", decides=True, **extra)


async def _agreements_page(request: Request[Any, Any, Any], ctx: Importer, session: AsyncSession, *,
                           failed: tuple[uuid.UUID, services.BpuImportFailed] | None = None,
                           errors: tuple[uuid.UUID, str] | None = None, status: int = 200) -> Any:
    today = _today()
    agreements = await reachable_agreements(session, ctx)
    bpu = await services.bpu_of_agreements(session, [a.id for a in agreements], today)
    rows = [{"agreement": a, "versions": bpu[a.id].versions, "in_force": bpu[a.id].in_force,
             "solutions": bpu[a.id].solutions} for a in agreements]
    return render(request, "catalog/agreements.html", agreements_context(
        ctx, rows=rows, today=today, columns=COLUMNS, families=FAMILIES,
        failed=failed, errors=errors, solution_codes={s.id: s.code for r in rows for s, _ in r["solutions"]}),
        status=status)


@get("/c/{central_code:str}/accords")
async def agreements_page(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession) -> Any:
    return await _agreements_page(request, central_ctx, db_session)


@get("/operateur/accords")
async def operator_agreements_page(request: Request[Any, Any, Any], operator_ctx: OperatorContext,
                                   db_session: AsyncSession) -> Any:
    return await _agreements_page(request, operator_ctx, db_session)


@post("/c/{central_code:str}/accords/{agreement_id:uuid}/bpu")
async def bpu_import(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                     agreement_id: uuid.UUID) -> Any:
    return await _import(request, central_ctx, db_session, agreement_id)


@post("/operateur/accords/{agreement_id:uuid}/bpu")
async def operator_bpu_import(request: Request[Any, Any, Any], operator_ctx: OperatorContext,
                              db_session: AsyncSession, agreement_id: uuid.UUID) -> Any:
    """Issue 14 §1: « The coordinator (or the titulaire's operator for the agreement) imports a version »."""
    return await _import(request, operator_ctx, db_session, agreement_id)


async def _import(request: Request[Any, Any, Any], ctx: Importer, db_session: AsyncSession,
                  agreement_id: uuid.UUID) -> Any:
    agreement = await reachable_agreement(db_session, ctx, agreement_id)
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
        return await _agreements_page(request, ctx, db_session, errors=(agreement.id, problem), status=422)
    try:
        version = await services.import_bpu(db_session, agreement, content, filename, valid_from=valid_from,
                                            imported_by=ctx.identity.email)
    except services.BpuImportFailed as exc:  # raised before anything is written
        return await _agreements_page(request, ctx, db_session, failed=(agreement.id, exc), status=422)
    flash(request, f"BPU de {agreement.reference} : version {version.version} importée ({version.line_count} "
                   f"articles), en vigueur à partir du {version.valid_from:%d/%m/%Y}.")
    base = "/operateur" if isinstance(ctx, OperatorContext) else f"/c/{ctx.central.code}"
    return see_other(f"{base}/accords#accord-{agreement.id}")


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


@get(["/t/{tenant_id:uuid}/catalogue.csv", "/t/{tenant_id:uuid}/catalogue.xlsx"])
async def catalog_export_file(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                              q: Filter = "", famille: Filter = "", constructeur: Filter = "") -> Stream | Redirect:
    """The catalog as the page shows it, with its filters, in CSV or XLSX (formula-safe)."""
    tenant_ctx.require("read")
    tz = tenant_ctx.tenant.timezone
    today = dt.datetime.now(ZoneInfo(tz)).date()
    famille = famille if famille in FAMILIES else ""
    rows = catalog_export.catalog_rows(db_session, tenant_ctx.tenant_id, today, search=q, family=famille,
                                       maker=constructeur)
    try:
        return await export_response(export_format(request.url.path), f"catalogue-{today:%Y-%m-%d}",
                                     catalog_export.HEADER, rows, tz=tz, sheet="Catalogue")
    except TooManyRows as exc:
        flash(request, str(exc))
        return see_other(f"/t/{tenant_ctx.tenant_id}/catalogue")


def nav(ctx: Any) -> list[tuple[str, ...]]:
    """« Commandes »: the beneficiary's catalog and purchase orders, the coordinator's and the operator's agreements and BPU."""
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        return [("catalog", f"/t/{ctx.tenant_id}/catalogue", "Catalogue"),
                ("orders", f"/t/{ctx.tenant_id}/commandes", "Bons de commande")]
    if isinstance(ctx, CentralContext):
        return [("agreements", f"/c/{ctx.central.code}/accords", "Accords et BPU")]
    if isinstance(ctx, OperatorContext):
        return [("agreements", "/operateur/accords", "Accords et BPU")]
    return []


portal_handlers: list[Any] = [agreements_page, operator_agreements_page, bpu_import, operator_bpu_import,
                              catalog_page, catalog_export_file]
