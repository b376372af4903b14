"""The « Journal » of a tenant: its audit log in words, its exports, and undoing a member's removal.

What an event says is read by the kernel's ``app.audit.AuditReader`` (``app.state.audit_reader``),
built from every component's labels (``Component.labels``): objects and fields by their
French names, dates in the tenant's zone to the second, numbers, names instead of ids,
secrets as « (modifié) ». Filters: object kind and one object (``objet``: its history),
action, person (part of the author's address, with the people of the log proposed), period
(the tenant's local days). ``/journal.csv`` and ``/journal.xlsx`` export what the filters
show, one line per changed field (``app.exports``: formula-safe, typed, streamed).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.response import Redirect, Stream, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import AuditEvent, AuditReader
from app.bounds import Page
from app.db import utcnow
from app.errors import ValidationFailed
from app.exports import TooManyRows, export_format, export_response
from app.shell import Form, flash, form_fields, pager, parse_day, render, see_other, tenant_page
from tenants import services
from tenants.context import TenantContext
from tenants.models import Role

__all__ = ["handlers"]

EXPORT_HEADER = ("Date", "Auteur", "Action", "Objet", "Identifiant", "Champ", "Avant", "Après")


def _reader(request: Request[Any, Any, Any]) -> AuditReader:
    return request.app.state.audit_reader


def _filters(ctx: TenantContext, reader: AuditReader, entite: str, objet: str, action: str, auteur: str, du: str,
             au: str, errors: dict[str, str]) -> tuple[services.AuditFilter, dict[str, str]]:
    """The filter of the query string; days are the tenant's local days (stored UTC, shown local). The
    confidential objects the caller's role may not read are left out (``AuditLabels.confidential``)."""
    zone = ZoneInfo(ctx.tenant.timezone)
    first, last = parse_day(du, "du", errors), parse_day(au, "au", errors)
    if first and last and first > last:
        errors["au"] = "La date de fin précède la date de début."
        last = None
    values = {"entite": entite.strip()[:64], "objet": objet.strip()[:80], "action": action.strip()[:16],
              "auteur": auteur.strip()[:100], "du": du, "au": au}
    where = services.AuditFilter(
        entity=values["entite"], entity_id=values["objet"], action=values["action"], actor=values["auteur"],
        since=dt.datetime.combine(first, dt.time.min, zone) if first else None,
        until=dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, zone) if last else None,
        excluded=reader.hidden_entities(ctx.can),
    )
    return where, values


@get("/t/{tenant_id:uuid}/journal")
async def audit_log(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, entite: str = "",
    objet: str = "", action: str = "", auteur: str = "", du: str = "", au: str = "", page: Page = 1,
) -> Template:
    tenant_ctx.require("audit")
    tid, tz = tenant_ctx.tenant_id, tenant_ctx.tenant.timezone
    reader = _reader(request)
    errors: dict[str, str] = {}
    where, filters = _filters(tenant_ctx, reader, entite, objet, action, auteur, du, au, errors)
    found = await services.list_audit_events(db_session, tid, where, page=page)
    names = await reader.names(db_session, tid, found.items)
    choices = await services.audit_choices(db_session, tid, where.excluded)
    now = utcnow()
    # The same removals the users page offers to undo (the latest of each person not back yet).
    undoable = ({e.id for e in await services.recent_removals(db_session, tid, now=now)}
                if tenant_ctx.can("manage_users") else set())
    rows = [{"event": e, "object": reader.object_title(e, names), "changes": reader.changes(e, names, tz),
             "undo": e.id in undoable} for e in found.items]
    query = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "tenant_audit.html",
        tenant_page(
            tenant_ctx, "audit", events=rows, found=found, paging=pager(f"/t/{tid}/journal", filters, found),
            filters=filters, errors=errors, export_query=query,
            entity_options=[("", "Tous")] + sorted(((e, reader.entity_label(e)) for e in choices["entities"]),
                                                   key=lambda o: o[1]),
            action_options=[("", "Toutes")] + [(a, reader.action_label(a)) for a in choices["actions"]],
            actors=choices["actors"], action_label=reader.action_label,
            object_filter=reader.entity_label(filters["entite"]) if filters["objet"] else "",
        ),
        block="results",
    )


async def _export_rows(session: AsyncSession, reader: AuditReader, tenant_id: uuid.UUID, where: services.AuditFilter,
                       tz: str) -> AsyncIterator[list[Any]]:
    async for batch in services.iter_audit_events(session, tenant_id, where):
        names = await reader.names(session, tenant_id, batch)
        for event in batch:
            common = [event.at, event.actor_label, reader.action_label(event.action), reader.object_title(event, names),
                      event.entity_id]
            changes = reader.changes(event, names, tz)
            if not changes:
                yield [*common, "", "", ""]
            for change in changes:
                yield [*common, change.label, change.before, change.after]


@get(["/t/{tenant_id:uuid}/journal.csv", "/t/{tenant_id:uuid}/journal.xlsx"])
async def audit_export(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, entite: str = "",
    objet: str = "", action: str = "", auteur: str = "", du: str = "", au: str = "",
) -> Stream | Redirect:
    """What the filters show, one line per changed field (dates as dates in the tenant's zone)."""
    tenant_ctx.require("audit")
    errors: dict[str, str] = {}
    where, filters = _filters(tenant_ctx, _reader(request), entite, objet, action, auteur, du, au, errors)
    back = f"/t/{tenant_ctx.tenant_id}/journal"
    if errors:
        flash(request, "Export impossible : " + " ".join(errors.values()))
        return see_other(back)
    tz = tenant_ctx.tenant.timezone
    rows = _export_rows(db_session, _reader(request), tenant_ctx.tenant_id, where, tz)
    try:
        return await export_response(export_format(request.url.path), f"journal-{utcnow().astimezone(ZoneInfo(tz)):%Y-%m-%d}",
                                     EXPORT_HEADER, rows, tz=tz, sheet="Journal")
    except TooManyRows as exc:
        flash(request, str(exc))
        return see_other(back)


@post("/t/{tenant_id:uuid}/journal/{event_id:uuid}/retablir")
async def removal_undo(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, event_id: uuid.UUID,
    data: Form,
) -> Redirect:
    """Give a removed member its access back, with its former profile (within a day of the removal)."""
    tenant_ctx.require("manage_users")
    event: AuditEvent = await services.access_audit_event(db_session, tenant_ctx.tenant_id, event_id)
    try:
        membership = await services.undo_removal(db_session, tenant_ctx.tenant_id, event, now=utcnow())
    except ValidationFailed as exc:
        flash(request, " ".join(exc.errors.values()))
    else:
        user = await services.get_user(db_session, membership.user_id)
        flash(request, f"{user.email} a de nouveau accès à {tenant_ctx.tenant.name} "
                       f"avec le profil {Role(membership.role).label}.")
    back = "journal" if form_fields(data).get("retour") == "journal" else "utilisateurs"
    return see_other(f"/t/{tenant_ctx.tenant_id}/{back}")


handlers: list[Any] = [audit_log, audit_export, removal_undo]
