"""« Incidents »: the portal pages of the tickets (issue 13 §6), for the beneficiary and the titulaire's operator.

* ``/t/{tenant}/incidents``: the list, the nearest deadline first, with filters (status, site, past a deadline)
  and a deadline badge per ticket (red once past, amber once the 75 % notice went out, grey while paused).
* ``/t/{tenant}/incidents/nouveau``: report an incident (24/7, CCTP CPAM 5-5-6-2 « toute demande … donne lieu
  à la création d'un ticket »); the operator records a call or an e-mail with the moment of the first
  information (CCTP CANUT 6.6).
* ``/t/{tenant}/incidents/{id}``: the ticket: its classification, the share of the charge points affected
  (CPAM 5-4-5), its clocks (business time granted, consumed, left, the due date in the tenant's zone), its
  timeline, interventions and attachments; the workflow's buttons the caller's profile may press.
* ``/operateur/incidents``: the operator's tickets across every tenant it serves, the nearest deadline first.

Every form goes through the same checks as the API (``incidents.actions``) and, refused, changes nothing and
shows its French errors beside the fields.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page
from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from app.shell import Paged, flash, form_fields, operator_page, pager, render, see_other, tenant_page
from assets import services as assets
from csms import services as csms
from incidents import actions
from incidents import tickets as svc
from incidents.models import CHANNELS, OPEN_STATUSES, STATUSES, Ticket
from incidents.schemas import InterventionCreate, TicketCreate, TicketEventCreate
from incidents.sla import SlaPolicy
from incidents.workflow import KIND_LABELS
from tenants import services as tenants
from tenants.context import OperatorContext, TenantContext

__all__ = ["nav", "portal_handlers"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
Filter = Annotated[str, Parameter(max_length=40)]
PER_PAGE = 50
QUEUE_PAGE = 100
#: The channels a person records in the portal: the beneficiary reports through it, the operator records
#: the call or the e-mail it received (CCTP CANUT 6.6).
OPERATOR_CHANNELS = ("phone", "email", "portal")
#: Status filters of the list: one status, or every open one.
STATUS_FILTERS = {"ouverts": "ouverts (délais en cours)", **STATUSES}
#: The confirmation of each step (flash message).
DONE = {"acknowledge": "prise en compte enregistrée", "start": "intervention démarrée",
        "wait": "mis en attente du bénéficiaire (délais suspendus)", "resume": "délais repris",
        "resolve": "déclaré résolu", "accept": "résolution acceptée, ticket clos", "reopen": "ticket rouvert",
        "reclassify": "ticket reclassé", "note": "note ajoutée"}
_FIELD = re.compile(r"at `\$\.([a-z_]+)")


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _zone(ctx: TenantContext) -> ZoneInfo:
    return ZoneInfo(ctx.tenant.timezone)


def _typed(kind: type[Any], values: dict[str, Any]) -> Any:
    """The API's typed input from form fields (its bounds apply), or a French field error."""
    try:
        return msgspec.convert(values, kind, strict=False)
    except msgspec.ValidationError as exc:
        match = _FIELD.search(str(exc))
        message = "Valeur hors des limites autorisées." if ("<=" in str(exc) or "length" in str(exc)) else "Valeur invalide."
        raise ValidationFailed({match.group(1) if match else "form": message}) from None


def _instant(values: dict[str, str], name: str, zone: ZoneInfo, errors: dict[str, str]) -> dt.datetime | None:
    """A ``datetime-local`` field read in the tenant's zone (what people type is their wall clock)."""
    text = values.get(name, "")
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        errors[name] = "Date et heure invalides (JJ/MM/AAAA HH:MM)."
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _optional(values: dict[str, str], *names: str) -> dict[str, Any]:
    return {name: values[name] for name in names if values.get(name)}


def duration(value: dt.timedelta) -> str:
    """« 2 h 05 », « 3 j 4 h », « 12 min » (business time left or consumed, on screen)."""
    minutes = max(0, round(value.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} j {hours} h" if hours else f"{days} j"
    if hours:
        return f"{hours} h {mins:02d}" if mins else f"{hours} h"
    return f"{mins} min"


def deadline_badge(ticket: Ticket, now: dt.datetime, warned: bool) -> tuple[str, str]:
    """``(severity, text)`` of a ticket's deadline badge: past due, 75 % consumed, paused, or running."""
    if ticket.status not in OPEN_STATUSES:
        return "ok", STATUSES.get(ticket.status, ticket.status)
    due = ticket.next_due_at
    if ticket.breached:
        return "danger", "Délai dépassé"
    if ticket.status == "waiting":  # paused: its stored due date moves on when the clocks resume
        return "info", "Délais suspendus"
    if due is not None and due <= now:
        return "danger", "Délai dépassé"
    if warned:
        return "warning", "75 % du délai consommé"
    return "info", "Dans les délais" if due is not None else "Sans échéance"


# --------------------------------------------------------------------------- the list


def _classes(policy: SlaPolicy) -> dict[str, Any]:
    """A policy's levels, restoration levels and incident types as form options."""
    return {
        "levels": [(code, level.label) for code, level in policy.levels.items()],
        "restoration_levels": [(code, level.label) for code, level in policy.restoration_levels.items()],
        "incident_types": [(code, t.label) for code, t in policy.incident_types.items()],
        "policy": policy,
    }


async def _choices(session: AsyncSession, ctx: TenantContext) -> dict[str, Any]:
    """What a new ticket may concern, and the classes of the tenant's current policy."""
    version = await svc.current_policy(session, ctx.tenant_id)
    return {
        "sites": await tenants.list_sites(session, ctx.tenant_id),
        "chargers": await csms.charger_choices(session, ctx.tenant_id),
        "park": [(a.id, a.label) for a in await assets.assets_of_tenant(session, ctx.tenant_id, limit=500)],
        **_classes(actions.stored_policy(version.policy)),
    }


@get("/t/{tenant_id:uuid}/incidents")
async def tickets_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       statut: Filter = "ouverts", site: Filter = "", depasse: Filter = "", page: Page = 1) -> Any:
    """The tenant's tickets, the nearest deadline first (each filter is a link that can be kept)."""
    tenant_ctx.require("read")
    tid, now = tenant_ctx.tenant_id, utcnow()
    statut = statut if statut in STATUS_FILTERS or statut == "tous" else "ouverts"
    status = None if statut == "tous" else (list(OPEN_STATUSES) if statut == "ouverts" else statut)
    found = await svc.tickets_of_tenant(db_session, tid, status=status, breached=True if depasse == "1" else None,
                                        site_id=_uuid(site), limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
    shown = found[:PER_PAGE]
    warned = await svc.warned_tickets(db_session, [tid], [t.id for t in shown if t.status in OPEN_STATUSES])
    sites = await tenants.list_sites(db_session, tid)
    labels = await svc.level_labels(db_session, tid, {t.policy_version_id for t in shown})
    query = {"statut": statut, "site": site, "depasse": depasse}
    paged = Paged(shown, (page - 1) * PER_PAGE + len(found), page, PER_PAGE)
    return render(request, "incidents/tickets.html", tenant_page(
        tenant_ctx, "incidents", tickets=shown, badges={t.id: deadline_badge(t, now, t.id in warned) for t in shown},
        sites=sites, site_names={s.id: s.name for s in sites}, status_filters=STATUS_FILTERS, statut=statut,
        site=site, depasse=depasse, statuses=STATUSES, channels=CHANNELS,
        level_of={t.id: labels.get(t.policy_version_id, {}).get(t.level, t.level) for t in shown},
        paging=pager(f"/t/{tid}/incidents", query, paged) if page > 1 or len(found) > PER_PAGE else None),
        block="tickets")


async def _new_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *,
                    values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                    status: int = 200) -> Any:
    operator = ctx.can("handle_tickets")
    return render(request, "incidents/ticket_new.html", tenant_page(
        ctx, "incidents", values=values or {}, errors=errors or {}, operator=operator,
        field_errors={k: v for k, v in (errors or {}).items() if k != "form"},
        channels=[(c, CHANNELS[c]) for c in OPERATOR_CHANNELS], **await _choices(session, ctx)), status=status)


@get("/t/{tenant_id:uuid}/incidents/nouveau")
async def new_ticket_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                          borne: Filter = "") -> Any:
    tenant_ctx.require("report_incidents")
    return await _new_page(request, tenant_ctx, db_session, values={"charge_box_id": borne} if borne else None)


@post("/t/{tenant_id:uuid}/incidents/nouveau")
async def create_ticket(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                        data: Form) -> Any:
    """CPAM 5-5-6-2 « toute demande … donne lieu à la création d'un ticket »; the acknowledgement e-mail to the
    reporter follows through the outbox (CANUT 6.6)."""
    tenant_ctx.require("report_incidents")
    values = {k: v[:10_000] for k, v in form_fields(data).items()}
    zone, now = _zone(tenant_ctx), utcnow()
    operator = tenant_ctx.can("handle_tickets")
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {"title": values.get("title", ""), "description": values.get("description", ""),
                              "channel": values.get("channel", "portal") if operator else "portal",
                              **_optional(values, "site_id", "charge_box_id", "connector_id", "asset_id", "level",
                                          "restoration_level", "incident_type")}
    if operator:
        fields |= _optional(values, "reporter_name", "reporter_email")
        reported_at = _instant(values, "reported_at", zone, errors)
        if reported_at is not None:
            fields["reported_at"] = reported_at
    try:
        if errors:
            raise ValidationFailed(errors)
        ticket = await actions.open_checked(db_session, tenant_ctx, _typed(TicketCreate, fields), now=now,
                                            channels=OPERATOR_CHANNELS if operator else ("portal",))
    except (ValidationFailed, svc.TicketError) as exc:  # raised before anything is written
        problems = exc.errors if isinstance(exc, ValidationFailed) else {"form": str(exc).capitalize() + "."}
        return await _new_page(request, tenant_ctx, db_session, values=values, errors=problems, status=422)
    flash(request, f"Incident {ticket.number} enregistré.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/incidents/{ticket.id}")


# --------------------------------------------------------------------------- a ticket


async def _ticket_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, ticket: Ticket, *,
                       values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                       status: int = 200) -> Any:
    now = utcnow()
    clock = await svc.ticket_clocks(session, ticket, now)
    site = await tenants.access_site(session, ctx.tenant_id, ticket.site_id) if ticket.site_id else None
    brief = await assets.asset_brief(session, ctx.tenant_id, ticket.asset_id) if ticket.asset_id else None
    interventions = await svc.ticket_interventions(session, ticket)
    warned = await svc.warned_tickets(session, [ctx.tenant_id], [ticket.id])
    # CAIH 2.1.7: the 30-minute units are the infogérance's (its policy, or units ordered: catalog's orders).
    infogerance = await svc.infogerance_balance(session, ctx.tenant_id)
    version = await svc.current_policy(session, ctx.tenant_id)
    if not (infogerance.ordered or "infogerance" in version.template):
        infogerance = None
    return render(request, "incidents/ticket.html", tenant_page(
        ctx, "incidents", ticket=ticket, clock=clock, now=now, events=await svc.ticket_events(session, ticket),
        interventions=[(i, svc.report_late(i, now)) for i in interventions],
        attachments=await svc.ticket_attachments(session, ticket), site_name=site.name if site else None,
        asset=brief, badge=deadline_badge(ticket, now, ticket.id in warned), statuses=STATUSES, channels=CHANNELS,
        kind_labels=KIND_LABELS, allowed=actions.allowed_kinds(ctx), values=values or {}, errors=errors or {},
        infogerance=infogerance, duration=duration,
        ierr={k[2:]: v for k, v in (errors or {}).items() if k.startswith("i_")}, attachment_types=", ".join(sorted(svc.ATTACHMENT_TYPES)),
        # Reclassified within the policy version it was opened under (the check of ``actions.apply_event``).
        **_classes(await actions.ticket_policy(session, ticket))), status=status)


async def _attempt(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, ticket: Ticket,
                   values: dict[str, str], errors: dict[str, str], step: Any, *, field: str,
                   prefix: str = "") -> Any:
    """Run ``step`` (a coroutine function writing to ``ticket``) in a savepoint; refused (``errors`` already, a
    check, the workflow), nothing is left behind and the ticket page comes back with the French errors (422,
    each under ``prefix`` + its field; a service's message under ``field``). None when it went through."""
    try:
        if errors:
            raise ValidationFailed(errors)
        async with session.begin_nested():  # a refusal leaves nothing behind
            await step()
    except (ValidationFailed, svc.TicketError) as exc:
        await session.refresh(ticket)
        problems = exc.errors if isinstance(exc, ValidationFailed) else {field: str(exc).capitalize() + "."}
        return await _ticket_page(request, ctx, session, ticket, values=values,
                                  errors={f"{prefix}{k}": v for k, v in problems.items()}, status=422)
    return None


@get("/t/{tenant_id:uuid}/incidents/{ticket_id:uuid}")
async def ticket_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                      ticket_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    ticket = await actions.access_ticket(db_session, tenant_ctx.tenant_id, ticket_id)
    return await _ticket_page(request, tenant_ctx, db_session, ticket)


@post("/t/{tenant_id:uuid}/incidents/{ticket_id:uuid}/evenements")
async def ticket_event(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       ticket_id: uuid.UUID, data: Form) -> Any:
    """A workflow step from the ticket page: the same checks as ``POST …/tickets/{id}/events``."""
    tenant_ctx.require("read")
    ticket = await actions.access_ticket(db_session, tenant_ctx.tenant_id, ticket_id)
    values = {k: v[:2000] for k, v in form_fields(data).items()}
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {"kind": values.get("kind", ""), "reason": values.get("reason", "")}
    if fields["kind"] == "reclassify":
        fields |= _optional(values, "level", "restoration_level", "incident_type")
    at = _instant(values, "at", _zone(tenant_ctx), errors) if tenant_ctx.can("handle_tickets") else None
    if at is not None:
        fields["at"] = at
    refused = await _attempt(request, tenant_ctx, db_session, ticket, values, errors, lambda: actions.apply_event(
        db_session, tenant_ctx, ticket, _typed(TicketEventCreate, fields), now=utcnow(), channel="portal"),
        field="kind")
    if refused is not None:
        return refused
    flash(request, f"{ticket.number} : {DONE.get(fields['kind'], 'étape enregistrée')}.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/incidents/{ticket.id}")


def _parts(text: str, errors: dict[str, str]) -> list[dict[str, Any]]:
    """One part per line: « libellé ; quantité ; livraison attendue (AAAA-MM-JJ) » (CPAM 5-4-4 / 5-4-5)."""
    parts: list[dict[str, Any]] = []
    for n, line in enumerate((line for line in text.splitlines() if line.strip()), start=1):
        cells = [c.strip() for c in line.split(";")]
        part: dict[str, Any] = {"label": cells[0]}
        if len(cells) > 1 and cells[1]:
            part["quantity"] = cells[1]
        if len(cells) > 2 and cells[2]:
            part["expected_at"] = cells[2]
        if not part["label"] or len(cells) > 3:
            errors["parts"] = f"Ligne {n} : « libellé ; quantité ; AAAA-MM-JJ »."
        parts.append(part)
    return parts


@post("/t/{tenant_id:uuid}/incidents/{ticket_id:uuid}/interventions")
async def ticket_intervention(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                              ticket_id: uuid.UUID, data: Form) -> Any:
    """The operator records an intervention (CPAM 5-4-8: a late record is flagged; CAIH 2.1.7: 30-min units)."""
    tenant_ctx.require("read")
    ticket = await actions.access_ticket(db_session, tenant_ctx.tenant_id, ticket_id)
    tenant_ctx.require("handle_tickets")
    values = {k: v[:20_000] for k, v in form_fields(data).items()}
    zone, errors = _zone(tenant_ctx), {}
    fields: dict[str, Any] = {"mode": values.get("mode", ""),
                              **_optional(values, "technician", "actions", "report")}
    for name in ("started_at", "ended_at"):
        moment = _instant(values, name, zone, errors)
        if moment is not None:
            fields[name] = moment
    fields["parts"] = _parts(values.get("parts", ""), errors)
    refused = await _attempt(request, tenant_ctx, db_session, ticket, values, errors, lambda: actions.record_checked(
        db_session, tenant_ctx, ticket, _typed(InterventionCreate, fields), now=utcnow(), channel="portal"),
        field="mode", prefix="i_")
    if refused is not None:
        return refused
    flash(request, f"{ticket.number} : intervention enregistrée.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/incidents/{ticket.id}#interventions")


@post("/t/{tenant_id:uuid}/incidents/{ticket_id:uuid}/pieces-jointes",
      request_max_body_size=svc.ATTACHMENT_MAX_BYTES + 64 * 1024)
async def ticket_attachment(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                            ticket_id: uuid.UUID) -> Any:
    """A photo or a report (PNG, JPEG, WebP, PDF; 10 Mo at most; the type checked on the content), stored in the
    tenant's own folder. Whoever may report or handle may attach."""
    tenant_ctx.require("read")
    ticket = await actions.access_ticket(db_session, tenant_ctx.tenant_id, ticket_id)
    actions.require_any(tenant_ctx, ("report_incidents", "handle_tickets"), "Votre profil ne permet pas de joindre un fichier.")
    # The form is read after the tenant's and the profile's checks: a wrong tenant is a 404 whatever the body.
    form = await request.form()
    upload = form.get("file")
    problem = ""
    if upload is None or not hasattr(upload, "read"):
        problem = "Choisissez un fichier (image ou PDF)."
    else:
        content = await upload.read()
        try:
            if not content:
                raise svc.TicketError("le fichier choisi est vide")
            await svc.add_attachment(db_session, ticket, var_dir=request.app.state.settings.var_dir,
                                     filename=getattr(upload, "filename", "") or "fichier",
                                     content_type=(getattr(upload, "content_type", "") or "").split(";")[0].strip(),
                                     content=content)
        except svc.TicketError as exc:
            problem = str(exc).capitalize() + "."
    if problem:
        return await _ticket_page(request, tenant_ctx, db_session, ticket, errors={"file": problem}, status=422)
    flash(request, f"{ticket.number} : pièce jointe ajoutée.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/incidents/{ticket.id}#pieces-jointes")


@get("/t/{tenant_id:uuid}/incidents/{ticket_id:uuid}/pieces-jointes/{attachment_id:uuid}")
async def ticket_attachment_file(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                                 ticket_id: uuid.UUID, attachment_id: uuid.UUID) -> Response[bytes]:
    """The file, as a download (never rendered inline: ``Content-Disposition: attachment``, ``nosniff``)."""
    tenant_ctx.require("read")
    ticket = await actions.access_ticket(db_session, tenant_ctx.tenant_id, ticket_id)
    row = next((a for a in await svc.ticket_attachments(db_session, ticket) if a.id == attachment_id), None)
    if row is None:
        raise NotFound("pièce jointe")
    path = svc.attachment_path(request.app.state.settings.var_dir, row)
    if not path.exists():
        raise NotFound("pièce jointe")
    safe = re.sub(r'[^\w.\- ]', "_", row.filename)[:200] or "fichier"
    return Response(path.read_bytes(), media_type=row.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{safe}"', "X-Content-Type-Options": "nosniff"})


# --------------------------------------------------------------------------- the operator


@get("/operateur/incidents")
async def operator_tickets(request: Request[Any, Any, Any], operator_ctx: OperatorContext, db_session: AsyncSession,
                           beneficiaire: Filter = "", page: Page = 1) -> Any:
    """The operator's open tickets across every tenant it serves, the nearest deadline first (issue 13 §6), by
    pages of 100."""
    now = utcnow()
    chosen = next((tid for tid in operator_ctx.tenants if str(tid) == beneficiaire.strip()), None)
    tenant_ids = [chosen] if chosen else operator_ctx.tenant_ids
    found = await svc.open_tickets_across(db_session, tenant_ids, limit=QUEUE_PAGE + 1, offset=(page - 1) * QUEUE_PAGE)
    shown = found[:QUEUE_PAGE]
    warned = await svc.warned_tickets(db_session, {t.tenant_id for t in shown}, [t.id for t in shown])
    paged = Paged(shown, (page - 1) * QUEUE_PAGE + len(found), page, QUEUE_PAGE)
    return render(request, "incidents/queue.html", operator_page(
        operator_ctx, "tickets", tickets=shown, tenants=operator_ctx.tenants, chosen=chosen, statuses=STATUSES,
        badges={t.id: deadline_badge(t, now, t.id in warned) for t in shown},
        paging=pager("/operateur/incidents", {"beneficiaire": beneficiaire}, paged)
        if page > 1 or len(found) > QUEUE_PAGE else None), block="queue")


def nav(ctx: Any) -> list[tuple[str, ...]]:
    """« Incidents » first in the tenant's group; « Tickets » in the operator's menu."""
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        return [("incidents", f"/t/{ctx.tenant_id}/incidents", "Incidents")]
    if isinstance(ctx, OperatorContext):
        return [("tickets", "/operateur/incidents", "Tickets")]
    return []


portal_handlers: list[Any] = [tickets_page, new_ticket_page, create_ticket, ticket_page, ticket_event,
                              ticket_intervention, ticket_attachment, ticket_attachment_file, operator_tickets]
