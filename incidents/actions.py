"""What the API and the portal pages do alike with a ticket: the checks of a new ticket, of a workflow step and
of an intervention, and the calls to ``incidents.tickets`` that follow (issue 13 §1, §2, §6).

Both front doors build the same typed input (``incidents.schemas``: the API from its JSON body, the pages from
their form fields) and call these functions, so that a rule (a channel, an instant in the future, a level the
tenant's policy does not have, who may accept a resolution) is written once. Errors are raised before anything
is written: ``ValidationFailed`` (a French message per field), ``Forbidden``, ``NotFound``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Forbidden, NotFound, ValidationFailed
from incidents import tickets as svc
from incidents.models import CHANNELS, Intervention, SlaPolicyVersion, Ticket
from incidents.schemas import InterventionCreate, TicketCreate, TicketEventCreate
from incidents.sla import SlaPolicy, policy_template
from incidents.workflow import KINDS
from tenants import services as tenant_services
from tenants.context import TenantContext

__all__ = [
    "API_CHANNELS",
    "KIND_PERMISSIONS",
    "access_ticket",
    "allowed_kinds",
    "apply_event",
    "classification_errors",
    "open_checked",
    "past_instant",
    "record_checked",
    "require_any",
    "stored_policy",
    "ticket_policy",
]

#: Event kind → the permissions of which one is needed.
KIND_PERMISSIONS: dict[str, tuple[str, ...]] = {
    **{kind: ("handle_tickets",) for kind in ("acknowledge", "start", "wait", "resume", "resolve", "reclassify")},
    "accept": ("accept_resolution",),
    "reopen": ("handle_tickets", "report_incidents"),
    "note": ("handle_tickets", "report_incidents"),
}
assert set(KIND_PERMISSIONS) == set(KINDS)

#: Channels a caller may give; ``supervision`` and ``maintenance`` are the automatic openers'.
API_CHANNELS = ("api", "portal", "phone", "email")


def stored_policy(data: dict[str, Any]) -> SlaPolicy:
    """A stored policy with its levels in the order of its template (PostgreSQL's JSONB keeps an object's
    keys sorted by length, not as written: ``1, 2, 3, telemaintenance``); levels the template does not
    have come after, in their stored order."""
    policy = SlaPolicy.from_dict(data)
    try:
        reference = policy_template(policy.code)
    except ValueError:
        return policy

    def ordered(mine: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
        return {k: mine[k] for k in [*(k for k in theirs if k in mine), *(k for k in mine if k not in theirs)]}

    policy.levels = ordered(policy.levels, reference.levels)
    policy.restoration_levels = ordered(policy.restoration_levels, reference.restoration_levels)
    policy.incident_types = ordered(policy.incident_types, reference.incident_types)
    return policy


def require_any(ctx: TenantContext, permissions: tuple[str, ...], message: str) -> None:
    if not any(ctx.can(p) for p in permissions):
        raise Forbidden(message)


def past_instant(value: dt.datetime | None, field: str, now: dt.datetime, errors: dict[str, str]) -> None:
    if value is None:
        return
    if value.tzinfo is None:
        errors[field] = "Indiquez le décalage horaire de l'instant (ex. 2026-11-27T16:30:00+01:00 ou …Z)."
    elif value > now:
        errors[field] = "L'instant ne peut pas être dans le futur."


async def access_ticket(session: AsyncSession, tenant_id: uuid.UUID, ticket_id: uuid.UUID) -> Ticket:
    """The tenant's ticket, or a 404 (absent or another tenant's: the two look alike)."""
    ticket = await session.get(Ticket, (tenant_id, ticket_id))
    if ticket is None:
        raise NotFound("ticket")
    return ticket


def classification_errors(policy: SlaPolicy, level: str | None, restoration_level: str | None,
                    incident_type: str | None, errors: dict[str, str]) -> None:
    """Field errors for codes the tenant's policy does not have (the services would silently read an unknown
    incident type as « mineur », or ignore a restoration level the policy does not grade)."""
    if level is not None and level not in policy.levels:
        errors["level"] = f"Niveau inconnu « {level} » : niveaux de la politique {', '.join(policy.levels)}."
    if restoration_level is not None and restoration_level not in policy.restoration_levels:
        errors["restoration_level"] = (
            f"Niveau de rétablissement inconnu « {restoration_level} » : "
            + (", ".join(policy.restoration_levels) + "." if policy.restoration_levels
               else "la politique du bénéficiaire n'en distingue pas."))
    if incident_type is not None and incident_type.strip().lower() not in policy.incident_types:
        errors["incident_type"] = (
            f"Type d'incident inconnu « {incident_type} » : "
            + (", ".join(policy.incident_types) + " (un incident non classé est mineur : omettez le champ)."
               if policy.incident_types else "la politique du bénéficiaire ne classe pas les incidents par type."))


async def ticket_policy(session: AsyncSession, ticket: Ticket) -> SlaPolicy:
    """The policy version the ticket was opened under (its levels are the ones it may be reclassified to)."""
    version = await session.get(SlaPolicyVersion, (ticket.tenant_id, ticket.policy_version_id))
    assert version is not None  # composite foreign key
    return stored_policy(version.policy)


def allowed_kinds(ctx: TenantContext) -> set[str]:
    """The workflow steps ``ctx``'s profile may take (the ticket page shows only their buttons)."""
    return {kind for kind, needs in KIND_PERMISSIONS.items() if any(ctx.can(p) for p in needs)}


async def open_checked(session: AsyncSession, ctx: TenantContext, data: TicketCreate, *, now: dt.datetime,
                       channels: tuple[str, ...] = API_CHANNELS) -> Ticket:
    """Open a ticket from ``data`` after every check (``channels``: those the caller may give)."""
    ctx.require("report_incidents")
    tid = ctx.tenant_id
    errors: dict[str, str] = {}
    if data.channel not in channels:
        errors["channel"] = (f"Canal inconnu « {data.channel} » : {', '.join(channels)}"
                             + (" (supervision et maintenance sont ceux des ouvertures automatiques)."
                                if data.channel in CHANNELS else "."))
    past_instant(data.reported_at, "reported_at", now, errors)
    if data.connector_id is not None and not data.charge_box_id:
        errors["connector_id"] = "Un point de charge se donne avec sa borne (charge_box_id)."
    if data.charge_box_id and data.asset_id is not None:
        errors["asset_id"] = "Le ticket concerne une borne ou un équipement du parc, pas les deux."
    if data.site_id is not None:
        try:
            await tenant_services.access_site(session, tid, data.site_id)
        except NotFound:
            errors["site_id"] = "Site inconnu chez ce bénéficiaire."
    version = await svc.current_policy(session, tid)
    classification_errors(stored_policy(version.policy), data.level, data.restoration_level, data.incident_type,
                          errors)
    if not data.title.strip():
        errors["title"] = "Le titre est obligatoire."
    if errors:
        raise ValidationFailed(errors)
    return await svc.open_ticket(
        session, tid, now=now, title=data.title, description=data.description, channel=data.channel,
        reported_at=data.reported_at, site_id=data.site_id, charge_box_id=data.charge_box_id or None,
        connector_id=data.connector_id, asset_id=data.asset_id, level=data.level,
        restoration_level=data.restoration_level,
        incident_type=data.incident_type.strip().lower() if data.incident_type else None,
        reporter_name=data.reporter_name or None, reporter_email=data.reporter_email or None,
    )


async def apply_event(session: AsyncSession, ctx: TenantContext, ticket: Ticket, data: TicketEventCreate, *,
                      now: dt.datetime, channel: str) -> None:
    """One workflow step on ``ticket`` after every check (who may take it, when, with what)."""
    kind = data.kind.strip()
    if kind not in KIND_PERMISSIONS:
        raise ValidationFailed({"kind": f"Événement inconnu « {kind} » : {', '.join(KINDS)}."})
    if kind == "accept":
        require_any(ctx, KIND_PERMISSIONS[kind],
                    "Seul l'administrateur du bénéficiaire peut accepter la résolution (CCTP CAIH 2.1.5).")
    else:
        require_any(ctx, KIND_PERMISSIONS[kind], "Votre profil ne permet pas cette étape du ticket.")
    errors: dict[str, str] = {}
    past_instant(data.at, "at", now, errors)
    if kind == "accept" and data.at is not None:
        errors["at"] = "L'acceptation est datée de sa réception : ne donnez pas « at »."
    if kind == "note" and not data.reason.strip():
        errors["reason"] = "Le texte de la note (reason) est obligatoire."
    if kind == "reclassify":
        classification_errors(await ticket_policy(session, ticket), data.level, data.restoration_level,
                              data.incident_type, errors)
    elif any(v is not None for v in (data.level, data.restoration_level, data.incident_type)):
        errors["level"] = "Le niveau, le niveau de rétablissement et le type ne changent que par « reclassify »."
    if errors:
        raise ValidationFailed(errors)
    if kind == "accept":
        await svc.accept_resolution(session, ticket, now=now, by_tenant_admin=ctx.can("accept_resolution"),
                                    channel=channel)
    elif kind == "reopen":
        await svc.reopen(session, ticket, now=now, at=data.at, reason=data.reason, channel=channel)
    elif kind == "reclassify":
        await svc.reclassify(session, ticket, now=now, at=data.at, reason=data.reason, level=data.level,
                             restoration_level=data.restoration_level,
                             incident_type=data.incident_type.strip().lower() if data.incident_type else None,
                             channel=channel)
    else:
        await svc.add_event(session, ticket, kind, now=now, at=data.at, reason=data.reason, channel=channel)


async def record_checked(session: AsyncSession, ctx: TenantContext, ticket: Ticket, data: InterventionCreate, *,
                         now: dt.datetime, channel: str) -> Intervention:
    """Record an intervention on ``ticket`` after every check (the operator; instants in order and past)."""
    ctx.require("handle_tickets")
    errors: dict[str, str] = {}
    if data.mode not in ("remote", "on_site"):
        errors["mode"] = "Mode d'intervention : remote (à distance) ou on_site (sur site)."
    for name in ("started_at", "ended_at", "report_at"):
        past_instant(getattr(data, name), name, now, errors)
    started = data.started_at or now
    if "started_at" not in errors and started < ticket.reported_at:
        errors["started_at"] = "L'intervention ne peut pas commencer avant le signalement."
    if data.ended_at is not None and "ended_at" not in errors and "started_at" not in errors and data.ended_at < started:
        errors["ended_at"] = "La fin de l'intervention précède son début."
    if data.report_at is not None and not data.report.strip():
        errors["report_at"] = "Une date de remise de rapport va avec le rapport (report)."
    if errors:
        raise ValidationFailed(errors)
    parts: list[dict[str, Any]] = [
        {"label": p.label, "quantity": p.quantity, "expected_at": p.expected_at.isoformat() if p.expected_at else None}
        for p in data.parts]
    return await svc.record_intervention(
        session, ticket, now=now, mode=data.mode, started_at=started, ended_at=data.ended_at,
        technician=data.technician, actions=data.actions, parts=parts, report=data.report,
        report_at=(data.report_at or now) if data.report.strip() else None, channel=channel,
    )
