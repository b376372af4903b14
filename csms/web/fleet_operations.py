"""Security events, firmware campaigns, station logs on the web (issue 17 §3 and §5).

* ``/t/{tenant}/securite``: the tenant's security-event feed (``csms.domain.security_events``);
* ``/t/{tenant}/micrologiciels``: the campaigns and the form of a new one; ``…/{campaign_id}`` its
  counts and chargers, ``…/export.csv`` the same as CSV (formula-safe, ``app.exports``),
  ``…/relancer`` its next wave now (``csms.domain.firmware``);
* ``/t/{tenant}/bornes/{charge_box_id}/journaux``: ask a charger for its diagnostics or a log, the
  requests and their files; ``…/journaux/{log_id}`` downloads one (``csms.domain.logs``);
* ``POST /api/v1/station-logs/{tenant_id}/{token}``: where the station uploads (multipart/form-data);
  the one-time token is the credential (no session, no bearer token).

Reading needs ``read``; asking, creating and relaunching ``operate_stations``. Another tenant's ids
are a 404. Every mutation is audited (the campaign rows) or in the command log (the commands).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import File, Redirect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page
from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from app.exports import export_response
from app.shell import render, tenant_page
from csms.domain import firmware, logs, registry, security_events
from csms.domain.models import FirmwareCampaign, FirmwareCampaignStation, StationLog
from tenants.context import TenantContext
from tenants.models import Site

__all__ = ["portal_handlers"]

PERMISSION = "operate_stations"
PER_PAGE = 50
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
CAMPAIGN_STATUSES = {"scheduled": "Programmée", "running": "En cours", "done": "Terminée", "cancelled": "Annulée"}
CAMPAIGN_FIELDS = (
    ("name", "Nom de la campagne", "text", ""),
    ("location", "Adresse du micrologiciel (URL)", "url", "https://… ou ftp://…"),
    ("model", "Modèle de borne", "text", "Tel que la borne le déclare à son démarrage ; vide : tous les modèles."),
    ("site_id", "Site", "site", ""),
    ("window_start", "Début de la fenêtre", "datetime-local", "Vide : maintenant."),
    ("window_end", "Fin de la fenêtre", "datetime-local", ""),
    ("concurrency", "Bornes mises à jour en même temps, au plus", "number", "1 à 100."),
    ("max_attempts", "Essais par borne, au plus", "number", "1 à 5."),
    ("signing_certificate", "Certificat de signature (PEM, micrologiciel signé)", "pem", "Vide : non signé."),
    ("signature", "Signature (base64, micrologiciel signé)", "text", ""),
)


# --------------------------------------------------------------------------- security events


@get("/t/{tenant_id:uuid}/securite")
async def security_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                        page: Page = 1) -> Any:
    tenant_ctx.require("read")
    critical = request.query_params.get("critiques") == "1"
    rows, total = await security_events.list_security_events(db_session, tenant_ctx.tenant_id, page=page,
                                                             per_page=PER_PAGE, critical_only=critical)
    pages = max(1, -(-total // PER_PAGE))
    suffix = "&critiques=1" if critical else ""
    return render(request, "csms/security_events.html", tenant_page(
        tenant_ctx, "stations", rows=rows, total=total, labels=security_events.LABELS,
        prev=f"?page={page - 1}{suffix}" if page > 1 else None,
        next=f"?page={page + 1}{suffix}" if page < pages else None))


# --------------------------------------------------------------------------- firmware campaigns


async def _campaigns_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *,
                          values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                          status: int = 200) -> Any:
    tid = ctx.tenant_id
    campaigns = list(await session.scalars(select(FirmwareCampaign).where(FirmwareCampaign.tenant_id == tid)
                                           .order_by(FirmwareCampaign.created_at.desc()).limit(200)))
    sizes = dict((await session.execute(
        select(FirmwareCampaignStation.campaign_id, func.count()).where(FirmwareCampaignStation.tenant_id == tid)
        .group_by(FirmwareCampaignStation.campaign_id))).all())
    sites = list(await session.scalars(select(Site).where(Site.tenant_id == tid).order_by(Site.name)))
    defaults = {"concurrency": "5", "max_attempts": "2"}
    return render(request, "csms/firmware_campaigns.html", tenant_page(
        ctx, "stations", campaigns=campaigns, sizes=sizes, sites=sites, fields=CAMPAIGN_FIELDS,
        values=values or defaults, errors=errors or {}, statuses=CAMPAIGN_STATUSES), status=status)


@get("/t/{tenant_id:uuid}/micrologiciels")
async def campaigns_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("read")
    return await _campaigns_page(request, tenant_ctx, db_session)


def _local_moment(text: str, tz: str) -> dt.datetime | None:
    """A ``datetime-local`` input in the tenant's zone, as UTC; None when empty or unreadable."""
    from zoneinfo import ZoneInfo

    try:
        moment = dt.datetime.fromisoformat(text.strip()[:19])
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.astimezone(dt.UTC)


@post("/t/{tenant_id:uuid}/micrologiciels")
async def campaign_create(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                          data: Form) -> Any:
    tenant_ctx.require(PERMISSION)
    now = utcnow()
    values = {name: str(data.get(name) or "")[:6000] for name, *_ in CAMPAIGN_FIELDS}
    tz = tenant_ctx.tenant.timezone
    fields: dict[str, Any] = dict(values)
    errors: dict[str, str] = {}
    fields["window_start"] = _local_moment(values["window_start"], tz) if values["window_start"] else now
    if fields["window_start"] is None:
        errors["window_start"] = "Date et heure attendues."
    fields["window_end"] = _local_moment(values["window_end"], tz) if values["window_end"] else None
    if fields["site_id"]:
        try:
            registry_site = await db_session.scalar(select(Site.id).where(
                Site.tenant_id == tenant_ctx.tenant_id, Site.id == uuid.UUID(fields["site_id"])))
        except ValueError:
            registry_site = None
        if registry_site is None:
            errors["site_id"] = "Site inconnu."
    if not errors:
        try:
            campaign = await firmware.create_campaign(db_session, tenant_ctx.tenant_id, fields, now=now,
                                                      created_by=str(tenant_ctx.identity.actor.get("label") or ""))
        except ValidationFailed as exc:
            errors = exc.errors
    if errors:
        return await _campaigns_page(request, tenant_ctx, db_session, values=values, errors=errors, status=422)
    await db_session.commit()
    await request.app.state.jobs.enqueue(firmware.ADVANCE_JOB, tenant_id=str(tenant_ctx.tenant_id),
                                         campaign_id=str(campaign.id))
    return Redirect(f"/t/{tenant_ctx.tenant_id}/micrologiciels/{campaign.id}", status_code=303)


async def _campaign(session: AsyncSession, ctx: TenantContext, campaign_id: uuid.UUID
                    ) -> tuple[FirmwareCampaign, list[FirmwareCampaignStation]]:
    found = await firmware.campaign_rows(session, ctx.tenant_id, campaign_id)
    if found is None:
        raise NotFound("campagne")
    return found


@get("/t/{tenant_id:uuid}/micrologiciels/{campaign_id:uuid}")
async def campaign_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                        campaign_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    campaign, rows = await _campaign(db_session, tenant_ctx, campaign_id)
    return render(request, "csms/firmware_campaign.html", tenant_page(
        tenant_ctx, "stations", campaign=campaign, rows=rows, counts=firmware.counts(r.state for r in rows),
        state_labels=firmware.STATE_LABELS, statuses=CAMPAIGN_STATUSES))


@get("/t/{tenant_id:uuid}/micrologiciels/{campaign_id:uuid}/export.csv")
async def campaign_export(tenant_ctx: TenantContext, db_session: AsyncSession, campaign_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    campaign, rows = await _campaign(db_session, tenant_ctx, campaign_id)
    header = ["borne", "etat", "dernier_statut", "essais", "envoye_le", "mis_a_jour_le", "erreur"]
    lines = [[r.charge_box_id, firmware.STATE_LABELS.get(r.state, r.state), r.last_status, r.attempts, r.sent_at,
              r.updated_at, r.error] for r in rows]
    return await export_response("csv", f"campagne-{campaign.created_at:%Y-%m-%d}-{str(campaign.id)[:8]}", header,
                                 lines, tz=tenant_ctx.tenant.timezone)


@post("/t/{tenant_id:uuid}/micrologiciels/{campaign_id:uuid}/relancer")
async def campaign_relaunch(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                            campaign_id: uuid.UUID) -> Any:
    tenant_ctx.require(PERMISSION)
    await _campaign(db_session, tenant_ctx, campaign_id)
    await request.app.state.jobs.enqueue(firmware.ADVANCE_JOB, tenant_id=str(tenant_ctx.tenant_id),
                                         campaign_id=str(campaign_id))
    return Redirect(f"/t/{tenant_ctx.tenant_id}/micrologiciels/{campaign_id}", status_code=303)


# --------------------------------------------------------------------------- station logs


def _choices(protocol: str) -> list[tuple[str, str]]:
    get_log = [("GetLog:DiagnosticsLog", "Journal de diagnostic (GetLog)"),
               ("GetLog:SecurityLog", "Journal de sécurité (GetLog)")]
    if protocol == "ocpp2.0.1":
        return get_log
    return [("GetDiagnostics:", "Diagnostics (GetDiagnostics)"), *get_log]


async def _logs_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, charge_box_id: str,
                     *, error: str = "", status: int = 200) -> Any:
    charger = await registry.find_charger_in_tenant(session, ctx.tenant_id, charge_box_id)
    rows = list(await session.scalars(select(StationLog).where(
        StationLog.tenant_id == ctx.tenant_id, StationLog.charger_id == charger.id)
        .order_by(StationLog.requested_at.desc()).limit(100)))
    return render(request, "csms/station_logs.html", tenant_page(
        ctx, "stations", charger=charger, rows=rows, choices=_choices(charger.protocol), error=error,
        statuses=logs.STATUS_LABELS), status=status)


@get("/t/{tenant_id:uuid}/bornes/{charge_box_id:str}/journaux")
async def logs_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                    charge_box_id: str) -> Any:
    tenant_ctx.require("read")
    return await _logs_page(request, tenant_ctx, db_session, charge_box_id)


@post("/t/{tenant_id:uuid}/bornes/{charge_box_id:str}/journaux")
async def logs_request(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       charge_box_id: str, data: Form) -> Any:
    tenant_ctx.require(PERMISSION)
    await registry.find_charger_in_tenant(db_session, tenant_ctx.tenant_id, charge_box_id)  # 404 first
    await db_session.commit()  # no database connection held while the station answers
    action, _, log_type = str(data.get("action") or "")[:40].partition(":")
    state = request.app.state
    try:
        row = await logs.request_log(state.db, state.bus, tenant_id=tenant_ctx.tenant_id, charge_box_id=charge_box_id,
                                     action=action, log_type=log_type, actor=tenant_ctx.identity.actor,
                                     base_url=state.settings.base_url, now=utcnow())
    except ValidationFailed as exc:
        return await _logs_page(request, tenant_ctx, db_session, charge_box_id,
                                error="; ".join(exc.errors.values()), status=422)
    error = "" if row.status != "failed" else "La borne a refusé la demande ou n'a pas répondu (voir ses commandes)."
    return await _logs_page(request, tenant_ctx, db_session, charge_box_id, error=error)


@get("/t/{tenant_id:uuid}/bornes/{charge_box_id:str}/journaux/{log_id:uuid}")
async def log_download(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       charge_box_id: str, log_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    charger = await registry.find_charger_in_tenant(db_session, tenant_ctx.tenant_id, charge_box_id)
    row = await db_session.scalar(select(StationLog).where(
        StationLog.tenant_id == tenant_ctx.tenant_id, StationLog.id == log_id, StationLog.charger_id == charger.id))
    if row is None or row.uploaded_at is None:
        raise NotFound("journal")
    path = logs.log_path(request.app.state.settings.var_dir, row)
    return File(path=path, filename=row.filename or "journal", media_type="application/octet-stream",
                headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(64 * 1024):
        yield chunk


# Mounted with the portal's routes (no login guard: the token is the credential) under /api/ (no CSRF: no session).
@post(f"{logs.UPLOAD_PATH}/{{tenant_id:uuid}}/{{token:str}}", status_code=201,
      request_max_body_size=logs.MAX_UPLOAD + 64 * 1024, include_in_schema=False)
async def log_upload(request: Request[Any, Any, Any], tenant_id: uuid.UUID, token: str) -> Response[Any]:
    """The station's upload (multipart/form-data, one file). Unknown, expired or spent token: 404."""
    if not (1 <= len(token) <= 100):
        raise NotFound("dépôt")
    form = await request.form()
    upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
    if upload is None:
        return Response({"detail": "Un fichier (multipart/form-data) est attendu."}, status_code=400)
    settings = request.app.state.settings
    try:
        row = await logs.receive_upload(request.app.state.db, settings.var_dir, tenant_id=tenant_id, token=token,
                                        filename=upload.filename or "", chunks=_chunks(upload), now=utcnow())
    except logs.UploadTooLarge:
        return Response({"detail": f"Fichier trop volumineux : {logs.MAX_UPLOAD} octets au plus."}, status_code=413)
    if row is None:
        raise NotFound("dépôt")
    return Response({"received": row.size, "sha256": row.sha256}, status_code=201)


portal_handlers: list[Any] = [security_page, campaigns_page, campaign_create, campaign_page, campaign_export,
                              campaign_relaunch, logs_page, logs_request, log_download, log_upload]
