"""API v1 of the incidents: tickets, their events and interventions, and the tenant's SLA policy.

Every route is under ``/api/v1/tenants/{tenant_id}/`` and resolves its tenant through ``tenant_ctx``
(a tenant the caller holds no role in, or another tenant's ticket, is a 404), then checks the
permission this component grants (``incidents/component.py``): reading needs ``read``; opening a
ticket ``report_incidents`` (the beneficiary's admin, the titulaire's operator); the workflow and
the interventions ``handle_tickets`` (the operator, issue 13 §1); accepting a resolution
``accept_resolution`` (the beneficiary's admin only, CCTP CAIH 2.1.5); the policy
``manage_sla_policy`` (the admin, or the coordinator of its central). The work is done by
``incidents.tickets``; errors are ``application/problem+json`` in French and change nothing (the
request's transaction is rolled back): 400 for a bad query, 403 for a profile that may not act,
404, 422 with ``errors: {field: message}``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, Router, get, post, put
from litestar.exceptions import ClientException, ValidationException
from litestar.params import Parameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page, per_page
from app.db import utcnow
from app.errors import ValidationFailed
from app.shell import api_client_error, api_validation_error, error_responses, problem
from incidents import actions
from incidents import tickets as svc
from incidents.models import STATUSES, Intervention, SlaPolicyVersion, Ticket, TicketEventRow
from incidents.schemas import (
    ClockOut,
    DeadlineOut,
    DeadlinesOut,
    InterventionCreate,
    InterventionOut,
    PolicyLevelOut,
    SlaPolicyOut,
    SlaPolicyUpdate,
    TicketCreate,
    TicketDetail,
    TicketEventCreate,
    TicketEventOut,
    TicketOut,
    TicketPage,
)
from incidents.sla import TEMPLATES, DeadlineClock, Delay, SlaLevel, SlaPolicy, TicketClock
from incidents.workflow import KIND_LABELS
from tenants.context import TenantContext

__all__ = ["API_HANDLERS", "edited_policy"]

TENANT = "/tenants/{tenant_id:uuid}"
TICKET = f"{TENANT}/tickets/{{ticket_id:uuid}}"
TAG_TICKETS, TAG_POLICY = "Incidents", "Politique de service (SLA)"
ERR_READ, ERR_WRITE = error_responses(403, 404), error_responses(403, 404, 422)
PerPage = per_page(200)

#: Bounds of an edited policy: a delay of at most a year, a few dozen levels.
MAX_LEVELS, MAX_MINUTES, MAX_DAYS, MAX_LABEL = 50, 366 * 24 * 60, 366, 200


class QueryError(ValueError):
    """A bad query parameter (400), one French message per parameter."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def query_error(request: Request[Any, Any, Any], exc: QueryError) -> Response[Any]:
    return problem(request, 400, "Requête invalide", errors=exc.errors)


#: The field a service's French message is about (the first word that matches), for ``errors``.
_FIELD_WORDS = (
    ("impossible", "kind"), ("instant", "at"), ("borne", "charge_box_id"), ("signalement", "reported_at"),
    ("canal", "channel"), ("titre", "title"), ("description", "description"), ("rétablissement", "restoration_level"),
    ("type d'incident", "incident_type"), ("priorité", "level"), ("motif", "reason"), ("niveau", "level"),
    ("reclassement", "level"), ("pièce", "parts"), ("modèle", "template"),
)


def ticket_error(request: Request[Any, Any, Any], exc: svc.TicketError) -> Response[Any]:
    """A service's refusal (workflow, classification, instants): 422, its message under the field it is about."""
    message = str(exc)
    lower = message.lower()
    field = next((name for word, name in _FIELD_WORDS if word in lower), "data")
    text = message[:1].upper() + message[1:]
    return problem(request, 422, text, errors={field: text if text.endswith(".") else text + "."})


# --------------------------------------------------------------------------- shapes


def _local(value: dt.datetime | None, zone: ZoneInfo) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(zone)


def _at(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    local = _local(value, zone)
    assert local is not None
    return local


async def _versions(session: AsyncSession, tenant_id: uuid.UUID, ids: set[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not ids:
        return {}
    rows = await session.execute(select(SlaPolicyVersion.id, SlaPolicyVersion.version).where(
        SlaPolicyVersion.tenant_id == tenant_id, SlaPolicyVersion.id.in_(ids)))
    return {vid: version for vid, version in rows}


async def _tickets_out(session: AsyncSession, tenant_id: uuid.UUID, tickets: list[Ticket], zone: ZoneInfo) -> list[TicketOut]:
    ids = {t.policy_version_id for t in tickets}
    versions, labels = await _versions(session, tenant_id, ids), await svc.level_labels(session, tenant_id, ids)
    return [_ticket_out(t, zone, versions.get(t.policy_version_id, 0),
                        labels.get(t.policy_version_id, {}).get(t.level, t.level)) for t in tickets]


def _ticket_out(ticket: Ticket, zone: ZoneInfo, version: int, level_label: str) -> TicketOut:
    return TicketOut(
        id=ticket.id, number=ticket.number, title=ticket.title, description=ticket.description, status=ticket.status,
        status_label=STATUSES.get(ticket.status, ticket.status), channel=ticket.channel, alert_id=ticket.alert_id,
        site_id=ticket.site_id, charge_box_id=ticket.charge_box_id, connector_id=ticket.connector_id,
        asset_id=ticket.asset_id, level=ticket.level, level_label=level_label,
        restoration_level=ticket.restoration_level, incident_type=ticket.incident_type,
        reporter_name=ticket.reporter_name, reporter_email=ticket.reporter_email, fleet_points=ticket.fleet_points,
        affected_points=ticket.affected_points,
        affected_share=round(ticket.affected_share, 4) if ticket.affected_share is not None else None,
        policy_version=version, reported_at=_at(ticket.reported_at, zone), opened_at=_at(ticket.opened_at, zone),
        deadlines=DeadlinesOut(intervention_due_at=_local(ticket.intervention_due_at, zone),
                               restoration_due_at=_local(ticket.restoration_due_at, zone)),
        next_due_at=_local(ticket.next_due_at, zone), breached=ticket.breached,
        resolved_at=_local(ticket.resolved_at, zone), closed_at=_local(ticket.closed_at, zone),
        reopen_count=ticket.reopen_count,
    )


def _seconds(value: dt.timedelta) -> float:
    return round(value.total_seconds(), 3)


def _deadline_out(clock: DeadlineClock | None, zone: ZoneInfo) -> DeadlineOut | None:
    if clock is None:
        return None
    return DeadlineOut(
        level=clock.level, label=clock.label, article=clock.article, delay=clock.delay.describe(),
        calendar=clock.calendar, started_at=_at(clock.started_at, zone), deadline=_at(clock.deadline, zone),
        reached_at=_local(clock.reached_at, zone), allowed_seconds=_seconds(clock.allowed),
        consumed_seconds=_seconds(clock.consumed), remaining_seconds=_seconds(clock.remaining), met=clock.met,
        breached=clock.breached, late_by_seconds=_seconds(clock.late_by),
    )


def _clock_out(clock: TicketClock, zone: ZoneInfo) -> ClockOut:
    return ClockOut(
        policy=clock.policy, level=clock.level, restoration_level=clock.restoration_level, status=clock.status,
        clock_started_at=_local(clock.clock_started_at, zone), acknowledged_at=_local(clock.acknowledged_at, zone),
        paused_seconds=_seconds(clock.paused), intervention=_deadline_out(clock.intervention, zone),
        restoration=_deadline_out(clock.restoration, zone),
    )


def _event_out(row: TicketEventRow, zone: ZoneInfo) -> TicketEventOut:
    return TicketEventOut(seq=row.seq, kind=row.kind, kind_label=KIND_LABELS.get(row.kind, row.kind),
                          at=_at(row.at, zone), recorded_at=_at(row.recorded_at, zone), actor_name=row.actor_name,
                          channel=row.channel, data=dict(row.data), reason=row.reason)


def _intervention_out(row: Intervention, zone: ZoneInfo, now: dt.datetime) -> InterventionOut:
    return InterventionOut(
        id=row.id, ticket_id=row.ticket_id, mode=row.mode, technician=row.technician,
        started_at=_at(row.started_at, zone), ended_at=_local(row.ended_at, zone), actions=row.actions,
        parts=list(row.parts), report=row.report, report_at=_local(row.report_at, zone),
        report_due_at=_at(row.report_due_at, zone), report_late=svc.report_late(row, now),
        recorded_at=_at(row.recorded_at, zone), record_due_at=_at(row.record_due_at, zone),
        record_late=row.record_late, units=row.units,
    )


def _describe(delay: Delay | None) -> str | None:
    return delay.describe() if delay is not None else None


def _levels_out(levels: dict[str, SlaLevel]) -> list[PolicyLevelOut]:
    return [PolicyLevelOut(code=code, label=level.label, intervention=_describe(level.intervention),
                           restoration=_describe(level.restoration), article=level.article)
            for code, level in levels.items()]


def _policy_out(row: SlaPolicyVersion, zone: ZoneInfo) -> SlaPolicyOut:
    policy = actions.stored_policy(row.policy)
    return SlaPolicyOut(
        version=row.version, template=row.template, created_at=_at(row.created_at, zone), created_by=row.created_by,
        code=policy.code, label=policy.label, article=policy.article, levels=_levels_out(policy.levels),
        restoration_levels=_levels_out(policy.restoration_levels),
        incident_types={code: t.label for code, t in policy.incident_types.items()},
        policy=policy.to_dict(), templates=list(TEMPLATES),
    )


# --------------------------------------------------------------------------- checks


def _zone(ctx: TenantContext) -> ZoneInfo:
    return ZoneInfo(ctx.tenant.timezone)


def _check_delay(delay: Delay | None, where: str, errors: dict[str, str]) -> None:
    if delay is None:
        return
    if delay.minutes > MAX_MINUTES or delay.days > MAX_DAYS:
        errors[where] = f"Délai trop long : {MAX_DAYS} jours au plus."
        return
    _check_delay(delay.outside_hours, where, errors)
    _check_delay(delay.wide, where, errors)


def edited_policy(data: Any) -> SlaPolicy:
    """An edited policy (``SlaPolicy.from_dict``), bounded: codes and labels short, delays of a year at most."""
    if not isinstance(data, dict):
        raise ValidationFailed({"policy": "Objet attendu (la politique telle que GET la donne)."})
    try:
        policy = SlaPolicy.from_dict(data)
    except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) else "structure invalide"
        raise ValidationFailed({"policy": f"Politique de service invalide : {detail}."}) from None
    errors: dict[str, str] = {}
    if len(policy.levels) + len(policy.restoration_levels) > MAX_LEVELS:
        errors["policy.levels"] = f"{MAX_LEVELS} niveaux au plus."
    if len(policy.code) > 40 or len(policy.label) > MAX_LABEL:
        errors["policy.code"] = f"Code : 40 caractères au plus ; libellé : {MAX_LABEL} au plus."
    for group, levels in (("levels", policy.levels), ("restoration_levels", policy.restoration_levels)):
        for code, level in levels.items():
            where = f"policy.{group}.{code[:30]}"
            if not code or len(code) > 30 or len(level.label) > MAX_LABEL or len(level.article) > MAX_LABEL:
                errors[where] = f"Code de niveau : 1 à 30 caractères ; libellé : {MAX_LABEL} caractères au plus."
            _check_delay(level.intervention, where, errors)
            _check_delay(level.restoration, where, errors)
    if errors:
        raise ValidationFailed(errors)
    return policy


# --------------------------------------------------------------------------- tickets


@post(
    f"{TENANT}/tickets", tags=[TAG_TICKETS], responses=ERR_WRITE, status_code=201, summary="Ouvrir un ticket d'incident",
    description=(
        "Administrateur du bénéficiaire ou exploitant du titulaire. Les horloges partent de `reported_at`, le moment "
        "de la première information (CCTP CANUT 6.6 ; CCTP CAIH 2.1.22 « à partir de l'heure d'enregistrement de "
        "l'incident »), jamais dans le futur. Le classement suit la politique de service du bénéficiaire : `level` "
        "(CPAM `telemaintenance`, `1`–`3` ; CANUT `P0`–`P2` ; CAIH `4h`, `10h`, `50h`), `restoration_level` (CPAM "
        "`1`–`4`), `incident_type` (CANUT `bloquant`, `majeur`, `mineur` ; non classé : mineur, P2). La part du parc "
        "touchée (CPAM 5-4-5) est calculée à l'ouverture depuis la borne. Réponse : le ticket, son numéro et ses "
        "échéances (`deadlines`, ISO 8601 avec décalage, `null` quand le niveau n'a pas ce délai)."
    ),
)
async def create_ticket(tenant_ctx: TenantContext, db_session: AsyncSession, data: TicketCreate) -> TicketOut:
    ticket = await actions.open_checked(db_session, tenant_ctx, data, now=utcnow())
    return (await _tickets_out(db_session, tenant_ctx.tenant_id, [ticket], _zone(tenant_ctx)))[0]


@get(
    f"{TENANT}/tickets", tags=[TAG_TICKETS], responses=ERR_READ, summary="Tickets du bénéficiaire",
    description=(
        "L'échéance la plus proche d'abord (puis les plus récents). Filtres : `status` (un ou plusieurs codes séparés "
        "par des virgules : new, acknowledged, in_progress, waiting, resolved, closed), `breached` (délai dépassé), "
        "`site_id`. Pagination par `page` et `per_page` ; `has_more` dit s'il y a une page suivante."
    ),
)
async def list_tickets(
    tenant_ctx: TenantContext, db_session: AsyncSession,
    status: Annotated[str | None, Parameter(max_length=200, description="Statuts, séparés par des virgules")] = None,
    breached: Annotated[bool | None, Parameter(description="true : délai dépassé ; false : dans les délais")] = None,
    site_id: Annotated[uuid.UUID | None, Parameter(description="Un seul site")] = None,
    page: Page = 1, per_page: PerPage = 50,
) -> TicketPage:
    tenant_ctx.require("read")
    statuses = None
    if status is not None:
        statuses = [s.strip() for s in status.split(",") if s.strip()]
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown or not statuses:
            raise QueryError({"status": f"Statut inconnu « {', '.join(unknown) or status} » : {', '.join(STATUSES)}."})
    found = await svc.tickets_of_tenant(db_session, tenant_ctx.tenant_id, status=statuses, breached=breached,
                                        site_id=site_id, limit=per_page + 1, offset=(page - 1) * per_page)
    items = await _tickets_out(db_session, tenant_ctx.tenant_id, found[:per_page], _zone(tenant_ctx))
    return TicketPage(items=items, page=page, per_page=per_page, has_more=len(found) > per_page)


async def _detail(session: AsyncSession, ctx: TenantContext, ticket: Ticket) -> TicketDetail:
    now, zone = utcnow(), _zone(ctx)
    clock = await svc.ticket_clocks(session, ticket, now)
    events = await svc.ticket_events(session, ticket)
    interventions = await svc.ticket_interventions(session, ticket)
    return TicketDetail(
        ticket=(await _tickets_out(session, ctx.tenant_id, [ticket], zone))[0], clocks=_clock_out(clock, zone),
        events=[_event_out(e, zone) for e in events],
        interventions=[_intervention_out(i, zone, now) for i in interventions],
    )


@get(
    TICKET, tags=[TAG_TICKETS], responses=ERR_READ, summary="Un ticket, son historique et ses horloges",
    description=(
        "Avec `events` (qui, quand, quoi, par quel canal), `clocks` (recalculées depuis tous les événements : temps "
        "accordé, consommé hors pauses, restant, échéance, atteinte, dépassement) et `interventions`."
    ),
)
async def read_ticket(tenant_ctx: TenantContext, db_session: AsyncSession, ticket_id: uuid.UUID) -> TicketDetail:
    tenant_ctx.require("read")
    ticket = await actions.access_ticket(db_session, tenant_ctx.tenant_id, ticket_id)
    return await _detail(db_session, tenant_ctx, ticket)


@post(
    f"{TICKET}/events", tags=[TAG_TICKETS], responses=ERR_WRITE, status_code=201,
    summary="Faire avancer un ticket (prise en compte, attente, résolution, acceptation, réouverture…)",
    description=(
        "`kind` : acknowledge (pris en compte), start (en cours), wait (en attente du bénéficiaire : les horloges "
        "s'arrêtent), resume, resolve (résolu), accept (clos : accord du bénéficiaire, son administrateur seul, CCTP "
        "CAIH 2.1.5), reopen (la durée déjà consommée est reprise, CCTP CAIH 2.1.22), reclassify (`level`, "
        "`restoration_level`, `incident_type`, motif `reason` obligatoire ; recalcul depuis le début, pauses "
        "gardées), note (`reason` : le texte). Le flux et les interventions sont ceux de l'exploitant ; "
        "l'administrateur accepte, rouvre et annote. `at` (facultatif) : quand c'est arrivé, passé et pas avant le "
        "signalement. Une étape que le flux refuse est une 422 qui ne change rien. Réponse : le ticket à jour."
    ),
)
async def add_ticket_event(tenant_ctx: TenantContext, db_session: AsyncSession, ticket_id: uuid.UUID,
                           data: TicketEventCreate) -> TicketDetail:
    tenant_ctx.require("read")
    ticket = await actions.access_ticket(db_session, tenant_ctx.tenant_id, ticket_id)
    await actions.apply_event(db_session, tenant_ctx, ticket, data, now=utcnow(), channel="api")
    return await _detail(db_session, tenant_ctx, ticket)


@post(
    f"{TICKET}/interventions", tags=[TAG_TICKETS], responses=ERR_WRITE, status_code=201,
    summary="Enregistrer une intervention",
    description=(
        "Exploitant du titulaire. À distance (`remote`) ou sur site (`on_site`) : technicien, début (par défaut : "
        "maintenant ; l'objectif d'intervention est atteint à ce moment), fin, actions, pièces commandées avec leur "
        "livraison attendue (CPAM 5-4-4 / 5-4-5), rapport (dû 48 h après la visite, signalé en retard sinon). CPAM "
        "5-4-8 : une action enregistrée plus de deux jours ouvrés après avoir été menée est signalée "
        "(`record_late`). CAIH 2.1.7 : tickets de 30 minutes consommés (`units`, une demi-heure entamée compte)."
    ),
)
async def create_intervention(tenant_ctx: TenantContext, db_session: AsyncSession, ticket_id: uuid.UUID,
                              data: InterventionCreate) -> InterventionOut:
    tenant_ctx.require("read")
    ticket = await actions.access_ticket(db_session, tenant_ctx.tenant_id, ticket_id)
    now = utcnow()
    row = await actions.record_checked(db_session, tenant_ctx, ticket, data, now=now, channel="api")
    return _intervention_out(row, _zone(tenant_ctx), now)


# --------------------------------------------------------------------------- SLA policy


@get(
    f"{TENANT}/sla-policy", tags=[TAG_POLICY], responses=ERR_READ, summary="Politique de service du bénéficiaire",
    description=(
        "La version en vigueur : niveaux et délais en clair (CCTP CPAM 5-4-4 / 5-4-5, CCTP CANUT 6.6, CCTP CAIH "
        "2.1.21 / 2.1.22), et la politique complète (`policy`). Sans politique encore, celle du modèle de l'accord du "
        "bénéficiaire est créée (version 1)."
    ),
)
async def read_sla_policy(tenant_ctx: TenantContext, db_session: AsyncSession) -> SlaPolicyOut:
    tenant_ctx.require("read")
    return _policy_out(await svc.current_policy(db_session, tenant_ctx.tenant_id), _zone(tenant_ctx))


@put(
    f"{TENANT}/sla-policy", tags=[TAG_POLICY], responses=ERR_WRITE, status_code=200,
    summary="Changer la politique de service (nouvelle version)",
    description=(
        "Administrateur du bénéficiaire ou coordinateur de sa centrale. `{\"template\": CODE}` fait une nouvelle "
        "version depuis un modèle (`cpam-irve`, `canut-iot`, `canut-iot-24x7`, `caih-maintenance-ho`, "
        "`caih-maintenance-24x7`, `caih-infogerance-ho`, `caih-infogerance-24x7`, `tgd-terminaux`) ; "
        "`{\"policy\": {…}}` enregistre une politique modifiée (la forme que donne GET), vérifiée. Les tickets déjà "
        "ouverts gardent la version sous laquelle ils l'ont été."
    ),
)
async def update_sla_policy(tenant_ctx: TenantContext, db_session: AsyncSession, data: SlaPolicyUpdate) -> SlaPolicyOut:
    tenant_ctx.require("manage_sla_policy")
    tid = tenant_ctx.tenant_id
    if (data.template is None) == (data.policy is None):
        raise ValidationFailed({"template": "Donnez soit « template » (un code de modèle), soit « policy »."})
    if data.template is not None:
        code = data.template.strip()
        if code not in TEMPLATES:
            raise ValidationFailed({"template": f"Modèle inconnu « {code} » : {', '.join(TEMPLATES)}."})
        row = await svc.set_policy_from_template(db_session, tid, code)
    else:
        policy = edited_policy(data.policy)
        current = await svc.current_policy(db_session, tid)
        row = await svc.save_policy(db_session, tid, policy, current.template)
    return _policy_out(row, _zone(tenant_ctx))


API_HANDLERS: list[Any] = [
    Router(
        path="/",
        route_handlers=[create_ticket, list_tickets, read_ticket, add_ticket_event, create_intervention,
                        read_sla_policy, update_sla_policy],
        exception_handlers={ValidationException: api_validation_error, ClientException: api_client_error,
                            svc.TicketError: ticket_error, QueryError: query_error},
    )
]
