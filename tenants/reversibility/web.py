"""« Réversibilité »: the tenant's admin asks for the export, follows its progress and downloads the archive
(issue 16 §1); then confirms that the reversibility is complete, which asks for the destruction of the tenant's data
after a cooling-off, and may cancel it meanwhile (§4). Another tenant's admin gets a 404 (``tenant_ctx``), like an
unknown tenant."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.response import File
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import ValidationFailed
from app.shell import Form, flash, render, see_other, tenant_page
from tenants import services as tenant_services
from tenants.context import TenantContext
from tenants.reversibility import destruction, service
from tenants.reversibility.models import DESTRUCTION_STATUSES, EXPORT_STATUSES

__all__ = ["portal_handlers", "reversibility_menu"]

PERMISSION = "reversibility"


def reversibility_menu(ctx: Any) -> list[tuple[str, str, str, str]]:
    """« Réversibilité » under « Administration », for who may export."""
    if isinstance(ctx, TenantContext) and ctx.can(PERMISSION):
        return [("reversibility", f"/t/{ctx.tenant_id}/reversibilite", "Réversibilité", "Administration")]
    return []


async def _page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *,
                errors: dict[str, str] | None = None, status: int = 200) -> Any:
    exports = await service.list_exports(session, ctx.tenant_id)
    return render(request, "tenants/reversibility.html", tenant_page(
        ctx, "reversibility", exports=exports, statuses=EXPORT_STATUSES, now=utcnow(), errors=errors or {},
        running=any(e.status in ("queued", "running") for e in exports),
        validity_days=service.LINK_VALIDITY.days, pending=await destruction.pending_destruction(session, ctx.tenant_id),
        finished=any(e.status in ("done", "expired") for e in exports), cooling_off_days=destruction.COOLING_OFF.days,
        destruction_statuses=DESTRUCTION_STATUSES), status=status, block="exports")


@get("/t/{tenant_id:uuid}/reversibilite")
async def reversibility_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                             db_session: AsyncSession) -> Any:
    tenant_ctx.require(PERMISSION)
    return await _page(request, tenant_ctx, db_session)


@post("/t/{tenant_id:uuid}/reversibilite")
async def reversibility_request(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                                db_session: AsyncSession, data: Form) -> Any:
    tenant_ctx.require(PERMISSION)
    identity = tenant_ctx.identity
    try:
        export = await service.request_export(db_session, tenant_ctx.tenant_id, email=identity.email,
                                              user_id=identity.user_id, now=utcnow())
    except ValidationFailed as exc:
        return await _page(request, tenant_ctx, db_session, errors=exc.errors, status=422)
    await db_session.commit()  # the job runs in its own transaction: the row must be there
    await request.app.state.jobs.enqueue(service.JOB, tenant_id=str(tenant_ctx.tenant_id), export_id=str(export.id))
    flash(request, "Export de réversibilité demandé : un courriel vous préviendra quand l'archive sera prête.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/reversibilite#export-{export.id}")


@get("/t/{tenant_id:uuid}/reversibilite/{export_id:uuid}/archive.zip")
async def reversibility_download(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                                 db_session: AsyncSession, export_id: uuid.UUID) -> File:
    tenant_ctx.require(PERMISSION)
    export, path = await service.access_download(db_session, request.app.state.settings, tenant_ctx.tenant_id,
                                                 export_id, now=utcnow())
    await db_session.commit()  # the download's audit entry
    stamp = export.created_at.strftime("%Y%m%d-%H%M")
    return File(path=path, filename=f"reversibilite-{tenant_ctx.tenant_id}-{stamp}.zip", media_type="application/zip",
                headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@post("/t/{tenant_id:uuid}/reversibilite/destruction")
async def destruction_request(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                              data: Form) -> Any:
    """The admin confirms the reversibility is complete: the destruction is asked for, after a cooling-off."""
    tenant_ctx.require(PERMISSION)
    identity = tenant_ctx.identity
    tenant = await tenant_services.get_tenant(db_session, tenant_ctx.tenant_id)
    try:
        row = await destruction.request_destruction(
            db_session, tenant, email=identity.email, user_id=identity.user_id,
            typed_name=str(data.get("nom", ""))[:200], received=data.get("recu") == "oui", now=utcnow())
    except ValidationFailed as exc:
        return await _page(request, tenant_ctx, db_session, errors=exc.errors, status=422)
    await destruction.announce_destruction(db_session, request.app.state.settings, row)
    await db_session.commit()
    flash(request, f"Destruction demandée : l'exploitant pourra effacer les données à partir du "
                   f"{row.not_before:%d/%m/%Y} ; vous pouvez l'annuler d'ici là.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/reversibilite#destruction")


@post("/t/{tenant_id:uuid}/reversibilite/destruction/{destruction_id:uuid}/annuler")
async def destruction_cancel(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                             destruction_id: uuid.UUID) -> Any:
    tenant_ctx.require(PERMISSION)
    try:
        await destruction.cancel_destruction(db_session, tenant_ctx.tenant_id, destruction_id,
                                             email=tenant_ctx.identity.email, now=utcnow())
    except ValidationFailed as exc:
        return await _page(request, tenant_ctx, db_session, errors=exc.errors, status=422)
    await db_session.commit()
    flash(request, "Demande de destruction annulée : les données sont conservées.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/reversibilite#destruction")


portal_handlers: list[Any] = [reversibility_page, reversibility_request, reversibility_download, destruction_request,
                              destruction_cancel]
