"""The agents' badge requests (issue 14 §4, CCTP CPAM 5-5-5-3), with a database: the rules and clocks are
``catalog.badge_request_rules``'; here each step is stored with who and when, refused steps change nothing, and
every change is a row of the tenant's audit (``TenantOwned``).

* ``request_badge``: the agent's request (plate, reason, optional site), « demandée », its decision due in 24 h;
* ``approve_request`` / ``refuse_request`` (a reason): the manager's written decision; the shipment due 72 h after
  an approval;
* ``cancel_request``: the agent withdraws it before the decision;
* ``ship_request``: the titulaire's operator records the badge's idTag and the shipment reference;
* ``requests_of_tenant``, ``get_request_in_tenant``, ``overdue_requests``: the reads of the pages and the reminder.

Who may take each step is the caller's check (the routes' permissions); the activation into the tenant's local
authorization list goes through ``csms.services`` (not yet built, docs/catalog.md).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import one_in_tenant
from app.errors import NotFound, ValidationFailed
from catalog import badge_request_rules as rules
from catalog.models import BadgeRequest
from tenants import services as tenants

__all__ = ["BadgeRequestError", "approve_request", "cancel_request", "get_request_in_tenant", "overdue_requests",
           "refuse_request", "request_badge", "requests_of_tenant", "ship_request"]

#: OCPP 1.6 ``idTag`` is a CiString20; printable ASCII without spaces, as the badges' own check wants.
ID_TAG = re.compile(r"^[!-~]{1,20}$")
SHIPMENT_MAX = 100


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
    return request


async def get_request_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, *,
                                for_update: bool = False) -> BadgeRequest:
    """The tenant's request; ``NotFound`` for another tenant's as for one that does not exist."""
    request: BadgeRequest = await one_in_tenant(session, BadgeRequest, tenant_id, request_id, "demande de badge",
                                                for_update=for_update)
    return request


async def _move(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, action: str, *,
                requested_by: uuid.UUID | None = None) -> BadgeRequest:
    """The request, locked, moved by ``action``; with ``requested_by``, only that agent's own request."""
    request = await get_request_in_tenant(session, tenant_id, request_id, for_update=True)
    if requested_by is not None and request.requested_by != requested_by:
        raise NotFound("demande de badge")
    try:
        request.state = rules.check_transition(request.state, action)
    except rules.TransitionRefused as exc:
        raise BadgeRequestError({"state": exc.message}) from None
    return request


async def approve_request(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, *,
                          decided_by: uuid.UUID, now: dt.datetime) -> BadgeRequest:
    """The manager's written approval (« accord écrit du pouvoir adjudicateur »): the 72 h shipment clock starts."""
    request = await _move(session, tenant_id, request_id, "approve")
    request.decided_at, request.decided_by = now, decided_by
    await session.flush()
    return request


async def refuse_request(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, reason: str, *,
                         decided_by: uuid.UUID, now: dt.datetime) -> BadgeRequest:
    text, problem = rules.check_refusal_reason(reason)
    if problem:
        raise BadgeRequestError({"reason": problem})
    request = await _move(session, tenant_id, request_id, "refuse")
    request.decided_at, request.decided_by, request.refusal_reason = now, decided_by, text
    await session.flush()
    return request


async def cancel_request(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, *,
                         requested_by: uuid.UUID, now: dt.datetime) -> BadgeRequest:
    """The agent withdraws its own request before the decision (another agent's is ``NotFound``)."""
    request = await _move(session, tenant_id, request_id, "cancel", requested_by=requested_by)
    request.cancelled_at = now
    await session.flush()
    return request


async def ship_request(session: AsyncSession, tenant_id: uuid.UUID, request_id: uuid.UUID, data: Mapping[str, Any],
                       *, shipped_by: uuid.UUID, now: dt.datetime) -> BadgeRequest:
    """The titulaire's operator sends the badge: its ``id_tag`` and the ``shipment_reference``."""
    errors: dict[str, str] = {}
    id_tag = str(data.get("id_tag") or "").strip()
    if not ID_TAG.match(id_tag):
        errors["id_tag"] = "Identifiant du badge (idTag) : 1 à 20 caractères imprimables, sans espace (OCPP 1.6)."
    shipment = " ".join(str(data.get("shipment_reference") or "").split())
    if len(shipment) > SHIPMENT_MAX:
        errors["shipment_reference"] = f"Référence d'envoi : {SHIPMENT_MAX} caractères au plus."
    if errors:
        raise BadgeRequestError(errors)
    request = await _move(session, tenant_id, request_id, "ship")
    request.shipped_at, request.shipped_by = now, shipped_by
    request.id_tag, request.shipment_reference = id_tag, shipment
    await session.flush()
    return request


async def requests_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, *, state: str = "",
                             requested_by: uuid.UUID | None = None, limit: int = 200) -> list[BadgeRequest]:
    """The tenant's requests, the most recent first; an agent's own with ``requested_by``."""
    query = select(BadgeRequest).where(BadgeRequest.tenant_id == tenant_id)
    if state:
        query = query.where(BadgeRequest.state == state)
    if requested_by is not None:
        query = query.where(BadgeRequest.requested_by == requested_by)
    return list(await session.scalars(query.order_by(BadgeRequest.requested_at.desc()).limit(limit)))


async def overdue_requests(session: AsyncSession, tenant_ids: list[uuid.UUID], now: dt.datetime) -> list[BadgeRequest]:
    """The requests of these tenants whose pending step (decision, shipment) is past its CPAM 5-5-5-3 delay."""
    if not tenant_ids:
        return []
    pending = await session.scalars(select(BadgeRequest).where(
        BadgeRequest.tenant_id.in_(tenant_ids), BadgeRequest.state.in_(("requested", "approved")))
        .order_by(BadgeRequest.requested_at))
    return [r for r in pending if rules.is_overdue(r.state, r.requested_at, r.decided_at, now)]
