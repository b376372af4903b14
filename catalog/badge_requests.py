"""The agents' badge requests (issue 14 §4, CCTP CPAM 5-5-5-3), with a database: the rules and clocks are
``catalog.badge_request_rules``'; here each step is stored with who and when, refused steps change nothing, and
every change is a row of the tenant's audit (``TenantOwned``).

* ``request_badge``: the agent's request (plate, reason, optional site), « demandée », its decision due in 24 h;
* ``approve_request`` / ``refuse_request`` (a reason): the manager's written decision; the shipment due 72 h after
  an approval;
* ``cancel_request``: the agent withdraws it before the decision;
* ``ship_request``: the titulaire's operator records the badge's idTag and the shipment reference;
* ``activate_request``: the agent (or its manager) confirms the badge arrived: it becomes an active badge of the
  agent in the tenant's local authorization list (``csms.services.issue_badge``), pushed to the stations after
  the commit;
* ``requests_of_tenant``, ``get_request_in_tenant``, ``overdue_requests``, ``request_counts``: the reads of the
  pages, the home cards and the reminder;
* ``remind_overdue``: the once-only reminder of a late step (the decision to the managers, the shipment to the
  titulaire's operators), run by the job ``catalog.badge_request_reminders``.

Each step publishes ``BadgeRequestMoved`` through the outbox in its transaction; its subscriber e-mails whom acts
next (``notify_moved``). Who may take each step is the caller's check (``STEP_PERMISSIONS``, the routes').
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import one_in_tenant
from app.errors import NotFound, ValidationFailed
from app.mail import deliver_email
from app.outbox import Delivery, Subscriber, publish_on_commit
from catalog import badge_request_rules as rules
from catalog.events import BadgeRequestMoved
from catalog.models import BadgeRequest
from csms import services as csms
from tenants import services as tenants
from tenants.context import TenantContext
from tenants.models import Role

__all__ = ["SUBSCRIBERS", "STEP_PERMISSIONS", "BadgeRequestError", "activate_request", "approve_request", "due_of",
           "cancel_request", "get_request_in_tenant", "moved_mails", "notify_moved", "overdue_requests",
           "own_scope", "perimeter_of", "refuse_request", "remind_overdue", "request_badge", "request_counts", "requests_of_tenant", "requests_to_ship",
           "ship_request", "take_step", "visible_request"]

#: OCPP 1.6 ``idTag`` is a CiString20: a badge for the agent's use on every station of the fleet.
ID_TAG_MAX = 20
SHIPMENT_MAX = 100
#: Who takes each step (``catalog.component.PERMISSIONS``): the agent asks and withdraws (its own request), the
#: manager (« responsable ») or the tenant's admin decides, the titulaire's operator ships; the agent confirms
#: the receipt (or its manager, for it).
STEP_PERMISSIONS = {"request": "request_badges", "cancel": "request_badges", "approve": "approve_badges",
                    "refuse": "approve_badges", "ship": "ship_badges", "activate": "request_badges"}
SIGNATURE = "\n-- \nCentrale — badges de recharge\n"


class BadgeRequestError(ValidationFailed):
    """Bad input or a refused step: French messages by field, nothing changed."""


async def request_badge(session: AsyncSession, tenant_id: uuid.UUID, requested_by: uuid.UUID,
                        data: Mapping[str, Any], *, now: dt.datetime) -> BadgeRequest:
    """CPAM 5-5-5-3: an agent asks for a badge for its personal vehicle (``plate``, ``reason``, ``site_id``)."""
    errors: dict[str, str] = {}
    plate, problem = rules.check_plate(data.get("plate"))
    if problem:
        errors["plate"] = problem
    reason = " ".join(str(data.get("reason") or "").split())
    if not reason:
        errors["reason"] = "Indiquez le motif de la demande (usage du véhicule, site de recharge)."
    elif len(reason) > rules.REASON_MAX:
        errors["reason"] = f"Le motif comporte {rules.REASON_MAX} caractères au plus."
    site_id = None
    if data.get("site_id"):
        try:
            site_id = uuid.UUID(str(data["site_id"]))
        except ValueError:
            errors["site_id"] = "Site inconnu."
        else:
            if not await tenants.site_exists(session, tenant_id, site_id):
                errors["site_id"] = "Site inconnu."
    if errors:
        raise BadgeRequestError(errors)
    request = BadgeRequest(tenant_id=tenant_id, requested_by=requested_by, plate=plate, reason=reason,
                           site_id=site_id, state="requested", requested_at=now)
    session.add(request)
    await session.flush()
    _moved(session, request, now)
    return request


def _moved(session: AsyncSession, request: BadgeRequest, now: dt.datetime) -> None:
    publish_on_commit(session, BadgeRequestMoved(tenant_id=request.tenant_id, request_id=request.id,
                                                 state=request.state, at=now))


async def get_request_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, *,
                                for_update: bool = False) -> BadgeRequest:
    """The tenant's request; ``NotFound`` for another tenant's as for one that does not exist."""
    request: BadgeRequest = await one_in_tenant(session, BadgeRequest, tenant_id, request_id, "demande de badge",
                                                for_update=for_update)
    return request


async def _move(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, action: str, now: dt.datetime,
                *, requested_by: uuid.UUID | None = None) -> BadgeRequest:
    """The request, locked, moved by ``action`` (its event published on commit); with ``requested_by``, only that
    agent's own request (another's is ``NotFound``)."""
    request = await get_request_in_tenant(session, tenant_id, request_id, for_update=True)
    if requested_by is not None and request.requested_by != requested_by:
        raise NotFound("demande de badge")
    try:
        request.state = rules.check_transition(request.state, action)
    except rules.TransitionRefused as exc:
        raise BadgeRequestError({"state": exc.message}) from None
    _moved(session, request, now)
    return request


async def approve_request(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, *,
                          decided_by: uuid.UUID, now: dt.datetime) -> BadgeRequest:
    """The manager's written approval (« accord écrit du pouvoir adjudicateur »): the 72 h shipment clock starts."""
    request = await _move(session, tenant_id, request_id, "approve", now)
    request.decided_at, request.decided_by = now, decided_by
    await session.flush()
    return request


async def refuse_request(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, reason: str, *,
                         decided_by: uuid.UUID, now: dt.datetime) -> BadgeRequest:
    text, problem = rules.check_refusal_reason(reason)
    if problem:
        raise BadgeRequestError({"reason": problem})
    request = await _move(session, tenant_id, request_id, "refuse", now)
    request.decided_at, request.decided_by, request.refusal_reason = now, decided_by, text
    await session.flush()
    return request


async def cancel_request(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, *,
                         requested_by: uuid.UUID, now: dt.datetime) -> BadgeRequest:
    """The agent withdraws its own request before the decision (another agent's is ``NotFound``)."""
    request = await _move(session, tenant_id, request_id, "cancel", now, requested_by=requested_by)
    request.cancelled_at = now
    await session.flush()
    return request


async def ship_request(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, data: Mapping[str, Any],
                       *, shipped_by: uuid.UUID, now: dt.datetime) -> BadgeRequest:
    """The titulaire's operator sends the badge: its ``id_tag`` and the ``shipment_reference``."""
    errors: dict[str, str] = {}
    id_tag, problem = await csms.id_tag_problem(session, tenant_id, str(data.get("id_tag") or "")[:100])
    if problem is None and len(id_tag) > ID_TAG_MAX:
        problem = f"L'identifiant du badge (idTag) comporte {ID_TAG_MAX} caractères au plus (OCPP 1.6 CiString20)."
    if problem is None and await session.scalar(select(BadgeRequest.id).where(
            BadgeRequest.tenant_id == tenant_id, BadgeRequest.id_tag == id_tag, BadgeRequest.state == "shipped")):
        problem = f"Le badge {id_tag} est déjà expédié pour une autre demande."
    if problem:
        errors["id_tag"] = problem
    shipment = " ".join(str(data.get("shipment_reference") or "").split())
    if len(shipment) > SHIPMENT_MAX:
        errors["shipment_reference"] = f"Référence d'envoi : {SHIPMENT_MAX} caractères au plus."
    if errors:
        raise BadgeRequestError(errors)
    request = await _move(session, tenant_id, request_id, "ship", now)
    request.shipped_at, request.shipped_by = now, shipped_by
    request.id_tag, request.shipment_reference = id_tag, shipment
    await session.flush()
    return request


async def activate_request(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, *,
                           requested_by: uuid.UUID | None, now: dt.datetime) -> BadgeRequest:
    """The badge arrived: an active badge of the agent (its plate as the vehicle, its site), in the tenant's
    local authorization list (``csms.services.issue_badge``); the caller announces it after the commit
    (``csms.services.announce_badges``). ``requested_by``: the agent, who may confirm only its own request;
    None for its manager."""
    request = await _move(session, tenant_id, request_id, "activate", now, requested_by=requested_by)
    names = await tenants.member_names(session, tenant_id)
    try:
        request.badge_id = await csms.issue_badge(
            session, tenant_id, id_tag=request.id_tag, user_id=request.requested_by,
            holder_label=names.get(request.requested_by, ""), vehicle_label=request.plate, site_id=request.site_id)
    except ValidationFailed as exc:  # the idTag was registered by hand since the shipment
        raise BadgeRequestError({"state": "Activation impossible : " + "; ".join(exc.errors.values())}) from None
    request.activated_at = now
    await session.flush()
    return request


# --------------------------------------------------------------------------- the routes' rules


def own_scope(ctx: TenantContext) -> uuid.UUID | None:
    """Whose requests the caller sees: every one for the tenant's readers (None), its own for an agent;
    ``Forbidden`` for a profile that neither reads nor asks."""
    if ctx.can("read"):
        return None
    ctx.require("request_badges")
    return ctx.identity.user_id


async def perimeter_of(session: AsyncSession, ctx: TenantContext) -> tenants.ManagerPerimeter | None:
    """CCTP CPAM 5-5-5-3 « le responsable […] pour un site ou un service »: the perimeter of a scoped
    « responsable »; None for everyone else (the admin decides all; a responsable with no scope, the whole tenant)."""
    if ctx.role != Role.MANAGER.value:
        return None
    perimeter = await tenants.manager_perimeter(session, ctx.tenant_id, ctx.identity.user_id)
    return None if perimeter.whole_tenant else perimeter


async def visible_request(session: AsyncSession, ctx: TenantContext, request_id: uuid.UUID) -> BadgeRequest:
    """The request if the caller may see it; another tenant's, another agent's for an agent, one outside a
    scoped responsable's perimeter: ``NotFound``, like a tenant wall."""
    own = own_scope(ctx)
    request = await get_request_in_tenant(session, ctx.tenant_id, request_id)
    if own is not None and request.requested_by != own:
        raise NotFound("demande de badge")
    perimeter = await perimeter_of(session, ctx)
    if perimeter is not None and not perimeter.covers(
            request.site_id, await tenants.member_service(session, ctx.tenant_id, request.requested_by)):
        raise NotFound("demande de badge")
    return request


async def take_step(session: AsyncSession, ctx: TenantContext, request_id: uuid.UUID, action: str,
                    data: Mapping[str, Any], *, now: dt.datetime) -> BadgeRequest:
    """One step by the caller, its permission checked (``STEP_PERMISSIONS``): the decision (``reason`` of a
    refusal), the shipment (``id_tag``, ``shipment_reference``), the agent's withdrawal or confirmation of receipt
    (its own request; a manager may confirm for the agent). Outside a responsable's perimeter: ``NotFound``."""
    await visible_request(session, ctx, request_id)
    user = ctx.identity.user_id
    if action == "activate":
        if ctx.can("approve_badges"):
            return await activate_request(session, ctx.tenant_id, request_id, requested_by=None, now=now)
        ctx.require("request_badges")
        return await activate_request(session, ctx.tenant_id, request_id, requested_by=user, now=now)
    ctx.require(STEP_PERMISSIONS[action])
    if action == "approve":
        return await approve_request(session, ctx.tenant_id, request_id, decided_by=user, now=now)
    if action == "refuse":
        return await refuse_request(session, ctx.tenant_id, request_id, str(data.get("reason") or ""),
                                    decided_by=user, now=now)
    if action == "cancel":
        return await cancel_request(session, ctx.tenant_id, request_id, requested_by=user, now=now)
    if action == "ship":
        return await ship_request(session, ctx.tenant_id, request_id, data, shipped_by=user, now=now)
    raise NotFound("action")


async def requests_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, *, state: str = "",
                             requested_by: uuid.UUID | None = None, perimeter: tenants.ManagerPerimeter | None = None,
                             limit: int = 200) -> list[BadgeRequest]:
    """The tenant's requests, the most recent first; an agent's own with ``requested_by``; with ``perimeter``
    (a scoped responsable, CCTP CPAM 5-5-5-3), those of its sites or of its services' agents only."""
    query = select(BadgeRequest).where(BadgeRequest.tenant_id == tenant_id)
    if perimeter is not None and not perimeter.whole_tenant:
        query = query.where(await _in_perimeter(session, tenant_id, perimeter))
    if state:
        query = query.where(BadgeRequest.state == state)
    if requested_by is not None:
        query = query.where(BadgeRequest.requested_by == requested_by)
    return list(await session.scalars(query.order_by(BadgeRequest.requested_at.desc()).limit(limit)))


async def _in_perimeter(session: AsyncSession, tenant_id: uuid.UUID, perimeter: tenants.ManagerPerimeter) -> Any:
    """The requests a scoped responsable may see (CCTP CPAM 5-5-5-3 « pour un site ou un service »): those of its
    sites, or asked by an agent whose current service is one of its services."""
    agents = await tenants.members_of_services(session, tenant_id, sorted(perimeter.services))
    return BadgeRequest.site_id.in_(sorted(perimeter.site_ids)) | BadgeRequest.requested_by.in_(agents)


async def request_counts(session: AsyncSession, tenant_ids: list[uuid.UUID], now: dt.datetime, *,
                         perimeter: tenants.ManagerPerimeter | None = None) -> dict[uuid.UUID, dict[str, int]]:
    """Per tenant: requests awaiting a decision, awaiting shipment, and how many of those are late (home cards).
    With ``perimeter`` (a scoped responsable of the one tenant given), only the requests it may see."""
    counts = {tid: {"requested": 0, "approved": 0, "late": 0} for tid in tenant_ids}
    if not tenant_ids:
        return counts
    query = select(BadgeRequest.tenant_id, BadgeRequest.state, BadgeRequest.requested_at,
                   BadgeRequest.decided_at).where(
        BadgeRequest.tenant_id.in_(tenant_ids), BadgeRequest.state.in_(("requested", "approved")))
    if perimeter is not None and not perimeter.whole_tenant:
        assert len(tenant_ids) == 1, "a responsable's perimeter is one tenant's"
        query = query.where(await _in_perimeter(session, tenant_ids[0], perimeter))
    pending = await session.execute(query)
    for tenant_id, state, requested_at, decided_at in pending.all():
        counts[tenant_id][state] += 1
        if rules.is_overdue(state, _aware(requested_at), _aware(decided_at), now):
            counts[tenant_id]["late"] += 1
    return counts


def _aware(moment: dt.datetime | None) -> Any:
    # SQLite gives naive datetimes back; they are UTC.
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


async def requests_to_ship(session: AsyncSession, tenant_ids: list[uuid.UUID], *, limit: int = 100
                           ) -> list[BadgeRequest]:
    """The approved requests of these tenants, the oldest approval first: the titulaire's badges to send."""
    if not tenant_ids:
        return []
    return list(await session.scalars(select(BadgeRequest).where(
        BadgeRequest.tenant_id.in_(tenant_ids), BadgeRequest.state == "approved")
        .order_by(BadgeRequest.decided_at).limit(limit)))


def due_of(request: BadgeRequest, now: dt.datetime) -> rules.Due | None:
    """The request's pending step, its CPAM 5-5-5-3 deadline and whether it is past at ``now`` (None when done)."""
    return rules.current_due(request.state, _aware(request.requested_at), _aware(request.decided_at), now)


async def overdue_requests(session: AsyncSession, tenant_ids: list[uuid.UUID], now: dt.datetime) -> list[BadgeRequest]:
    """The requests of these tenants whose pending step (decision, shipment) is past its CPAM 5-5-5-3 delay."""
    if not tenant_ids:
        return []
    pending = await session.scalars(select(BadgeRequest).where(
        BadgeRequest.tenant_id.in_(tenant_ids), BadgeRequest.state.in_(("requested", "approved")))
        .order_by(BadgeRequest.requested_at))
    return [r for r in pending if rules.is_overdue(r.state, _aware(r.requested_at), _aware(r.decided_at), now)]


# --------------------------------------------------------------------------- e-mails


def _when(moment: dt.datetime, tz: str) -> str:
    return f"{_aware(moment).astimezone(ZoneInfo(tz)):%d/%m/%Y à %H:%M}"


async def moved_mails(session: AsyncSession, request: BadgeRequest) -> list[tuple[str, str, str]]:
    """The e-mails of the request's current state, (to, subject, body) each: the tenant's managers (its admins
    when it has none) for a new request, the titulaire's operators for an approved one, the agent otherwise."""
    tenant = await tenants.get_tenant(session, request.tenant_id)
    agent = await tenants.get_user(session, request.requested_by)
    who = agent.full_name or agent.email
    asked = f"la demande de badge de {who} du {_when(request.requested_at, tenant.timezone)} (véhicule {request.plate})"
    link = f"Centrale › Demandes de badge : /t/{tenant.id}/demandes-badge/{request.id}"
    state = request.state
    if state == "requested":
        to = await _managers(session, request)
        due = _when(request.requested_at + rules.APPROVAL_DELAY, tenant.timezone)
        subject = f"[{tenant.name}] Demande de badge à valider avant le {due}"
        body = [f"{who} demande un badge de recharge pour son véhicule {request.plate}.", f"Motif : {request.reason}",
                "", "Aucune demande ne peut être prise en compte sans votre accord écrit (CCTP 5-5-5-3) ; "
                f"décision attendue dans les 24 h, avant le {due}.", link]
    elif state == "approved":
        to = await tenants.member_emails(session, request.tenant_id, ["operator"])
        due = _when(_aware(request.decided_at) + rules.SHIPMENT_DELAY, tenant.timezone)
        subject = f"[{tenant.name}] Badge à expédier avant le {due}"
        body = [f"{tenant.name} a approuvé {asked}.", f"Envoi du badge attendu dans les 72 h, avant le {due} "
                "(CCTP 5-5-5-3) : saisissez son identifiant (idTag) et la référence d'envoi.", link]
    elif state == "refused":
        to = [agent.email]
        subject = f"[{tenant.name}] Votre demande de badge est refusée"
        body = [f"Votre responsable a refusé {asked}.", f"Motif : {request.refusal_reason}", link]
    elif state == "shipped":
        to = [agent.email]
        subject = f"[{tenant.name}] Votre badge de recharge est expédié"
        body = [f"Le badge {request.id_tag} de {asked} est expédié"
                + (f" (référence d'envoi {request.shipment_reference})." if request.shipment_reference else "."),
                "À sa réception, confirmez-la dans Centrale : le badge sera alors activé sur les bornes.", link]
    elif state == "activated":
        to = [agent.email]
        subject = f"[{tenant.name}] Votre badge de recharge est actif"
        body = [f"Le badge {request.id_tag} est actif : les bornes de {tenant.name} l'acceptent.", link]
    else:  # cancelled: the agent did it, nobody is waiting for it
        return []
    text = "\n".join(["Bonjour,", "", *body]) + SIGNATURE
    return [(address, subject, text) for address in to]


async def _managers(session: AsyncSession, request: BadgeRequest) -> list[str]:
    """Who decides this request (CCTP CPAM 5-5-5-3): the responsables whose perimeter covers its site or its
    agent's service, and those with no perimeter (the whole tenant); the tenant's admins when there is none."""
    service = await tenants.member_service(session, request.tenant_id, request.requested_by)
    return ([email for email, perimeter in await tenants.manager_perimeters(session, request.tenant_id)
             if perimeter.covers(request.site_id, service)]
            or await tenants.member_emails(session, request.tenant_id, ["admin"]))


async def notify_moved(delivery: Delivery, event: BadgeRequestMoved) -> None:
    """The e-mails of a step, recorded once per event with the delivery; an activation also asks the ingress to
    push the tenant's list now (the list version is already committed; the sweep would catch up)."""
    request = await delivery.session.scalar(select(BadgeRequest).where(
        BadgeRequest.tenant_id == event.tenant_id, BadgeRequest.id == event.request_id))
    if request is None or request.state != event.state:  # a later step's event carries the news
        return
    for to, subject, body in await moved_mails(delivery.session, request):
        await deliver_email(delivery.session, delivery.settings, to=to, subject=subject, body=body,
                            tenant_id=event.tenant_id)
    if event.state == "activated":
        await csms.announce_badges(delivery.bus, event.tenant_id)


SUBSCRIBERS: list[Subscriber[Any]] = [Subscriber(BadgeRequestMoved, "catalog.badge-request-mail", notify_moved)]


async def remind_overdue(session: AsyncSession, settings: Any, tenant_ids: list[uuid.UUID],
                         now: dt.datetime) -> list[BadgeRequest]:
    """CPAM 5-5-5-3 delays past: one reminder per late step (the decision to the managers, the shipment to the
    operators), recorded on the request so that a second run, another worker or a restart sends nothing again
    (the rows are locked, ``SKIP LOCKED`` on PostgreSQL). Returns the requests reminded."""
    if not tenant_ids:
        return []
    pending = await session.scalars(select(BadgeRequest).where(
        BadgeRequest.tenant_id.in_(tenant_ids), BadgeRequest.state.in_(("requested", "approved")),
        ((BadgeRequest.state == "requested") & BadgeRequest.decision_reminded.is_(False))
        | ((BadgeRequest.state == "approved") & BadgeRequest.shipment_reminded.is_(False)))
        .order_by(BadgeRequest.requested_at).with_for_update(skip_locked=True))
    reminded = []
    for request in pending:
        step = rules.reminder_due(request.state, _aware(request.requested_at), _aware(request.decided_at), now,
                                  decision_reminded=request.decision_reminded,
                                  shipment_reminded=request.shipment_reminded)
        if step is None:
            continue
        tenant = await tenants.get_tenant(session, request.tenant_id)
        names = await tenants.member_names(session, request.tenant_id)
        who = names.get(request.requested_by, "un agent")
        if step == "decision":
            request.decision_reminded = True
            to = await _managers(session, request)
            due = request.requested_at + rules.APPROVAL_DELAY
            subject = f"[{tenant.name}] Rappel : demande de badge en attente de décision depuis plus de 24 h"
            line = (f"La demande de badge de {who} (véhicule {request.plate}) attend votre décision ; le délai de "
                    f"24 h du CCTP 5-5-5-3 a expiré le {_when(due, tenant.timezone)}.")
        else:
            request.shipment_reminded = True
            to = await tenants.member_emails(session, request.tenant_id, ["operator"])
            due = _aware(request.decided_at) + rules.SHIPMENT_DELAY
            subject = f"[{tenant.name}] Rappel : badge approuvé non expédié après 72 h"
            line = (f"Le badge approuvé pour {who} (véhicule {request.plate}) n'est pas expédié ; le délai de 72 h "
                    f"du CCTP 5-5-5-3 a expiré le {_when(due, tenant.timezone)}.")
        body = "\n".join(["Bonjour,", "", line, f"Centrale › Demandes de badge : /t/{tenant.id}/demandes-badge/"
                           f"{request.id}"]) + SIGNATURE
        for address in to:
            await deliver_email(session, settings, to=address, subject=subject, body=body, tenant_id=request.tenant_id)
        reminded.append(request)
    await session.flush()
    return reminded
