"""The agents' badge requests' API (issue 14 §4, CCTP CPAM 5-5-5-3), under ``/api/v1/tenants/{tenant_id}/``
(listed in ``catalog.api``):

* ``POST badge-requests`` (``{"plate", "reason", "site_id"?}``): an agent's request → 201, « requested », its
  decision due 24 h later; 422 with an error per field (a plate neither SIV nor FNI…), nothing stored;
* ``POST badge-requests/{id}/approve`` / ``refuse`` (``{"reason"}``): the manager's written decision;
  ``ship`` (``{"id_tag", "shipment_reference"?}``): the titulaire's operator; ``cancel`` and ``activate`` (the
  badge arrived: it joins the tenant's local list and is pushed to its stations): the agent;
* ``GET badge-requests`` (``state``), ``GET badge-requests/{id}``: everything for the tenant's readers, its own
  for an agent.

Another tenant's request — or another agent's, for an agent — answers 404, like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import get, post
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from app.shell import error_responses
from catalog import badge_requests as requests
from catalog import badges
from catalog.badge_request_rules import STATES, TRANSITIONS
from catalog.models import BadgeRequest
from tenants.context import TenantContext

__all__ = ["badge_request_api_handlers"]

TAG = "Demandes de badge"
PATH = "/tenants/{tenant_id:uuid}/badge-requests"
StateFilter = Annotated[str, QueryParameter(name="state", max_length=20, description=f"Un de : {', '.join(STATES)}")]


class BadgeRequestIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    plate: Annotated[str, msgspec.Meta(max_length=20, description="Immatriculation SIV AA-123-AA ou FNI 123 ABC 45")]
    reason: Annotated[str, msgspec.Meta(max_length=500)]
    site_id: uuid.UUID | None = None


class BadgeRequestStepIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=500, description="Motif d'un refus")] = ""
    id_tag: Annotated[str, msgspec.Meta(max_length=36, description="idTag du badge expédié")] = ""
    shipment_reference: Annotated[str, msgspec.Meta(max_length=100)] = ""


class BadgeRequestOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    state: str
    state_label: str
    plate: str
    reason: str
    site_id: uuid.UUID | None
    requested_by: uuid.UUID
    requested_at: dt.datetime
    decided_at: dt.datetime | None
    refusal_reason: str
    shipped_at: dt.datetime | None
    id_tag: str
    shipment_reference: str
    activated_at: dt.datetime | None
    badge_id: uuid.UUID | None
    #: The pending step (« decision », « shipment »), its CPAM 5-5-5-3 deadline and whether it is past.
    due_step: str | None
    due_at: dt.datetime | None
    overdue: bool

    @classmethod
    def of(cls, r: BadgeRequest, now: dt.datetime) -> BadgeRequestOut:
        due = requests.due_of(r, now)
        return cls(id=r.id, state=r.state, state_label=STATES[r.state], plate=r.plate, reason=r.reason,
                   site_id=r.site_id, requested_by=r.requested_by, requested_at=_utc(r.requested_at),
                   decided_at=_utc(r.decided_at), refusal_reason=r.refusal_reason, shipped_at=_utc(r.shipped_at),
                   id_tag=r.id_tag, shipment_reference=r.shipment_reference, activated_at=_utc(r.activated_at),
                   badge_id=r.badge_id, due_step=due.step if due else None, due_at=due.deadline if due else None,
                   overdue=bool(due and due.overdue))


def _utc(moment: Any) -> Any:
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


@post(PATH, tags=[TAG], status_code=201, responses=error_responses(403, 404, 422),
      summary="Demander un badge de recharge pour son véhicule (CCTP CPAM 5-5-5-3)",
      description="La demande attend l'accord écrit du responsable, sous 24 h ; il est prévenu par courriel.")
async def api_request_badge(tenant_ctx: TenantContext, db_session: AsyncSession,
                            data: BadgeRequestIn) -> BadgeRequestOut:
    tenant_ctx.require("request_badges")
    now = utcnow()
    request = await requests.request_badge(db_session, tenant_ctx.tenant_id, tenant_ctx.identity.user_id,
                                           msgspec.to_builtins(data), now=now)
    return BadgeRequestOut.of(request, now)


@get(PATH, tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Les demandes de badge du bénéficiaire (les siennes pour un agent), les plus récentes d'abord")
async def api_badge_requests(tenant_ctx: TenantContext, db_session: AsyncSession,
                             state_filter: StateFilter = "") -> list[BadgeRequestOut]:
    # ``state`` is a reserved Litestar kwarg (the app's state): the query parameter keeps its name through ``query=``.
    own = requests.own_scope(tenant_ctx)
    state = state_filter
    if state and state not in STATES:
        raise ValidationFailed({"state": f"État inconnu (attendu : {', '.join(STATES)})."})
    now = utcnow()
    found = await requests.requests_of_tenant(db_session, tenant_ctx.tenant_id, state=state, requested_by=own,
                                               perimeter=await requests.perimeter_of(db_session, tenant_ctx))
    return [BadgeRequestOut.of(r, now) for r in found]


@get(f"{PATH}/{{badge_request_id:uuid}}", tags=[TAG], responses=error_responses(403, 404),
     summary="Une demande de badge et son échéance en cours")
async def api_badge_request(tenant_ctx: TenantContext, db_session: AsyncSession,
                            badge_request_id: uuid.UUID) -> BadgeRequestOut:
    request = await requests.visible_request(db_session, tenant_ctx, badge_request_id)
    return BadgeRequestOut.of(request, utcnow())


@post(f"{PATH}/{{badge_request_id:uuid}}/{{action:str}}", tags=[TAG], status_code=200,
      responses=error_responses(403, 404, 422),
      summary="Faire avancer une demande : approve, refuse, cancel, ship, activate",
      description="`approve` / `refuse` (`reason` obligatoire) : le responsable ou l'administrateur, sous 24 h ; "
                  "`ship` (`id_tag`, `shipment_reference`) : l'opérateur du titulaire, sous 72 h après l'accord ; "
                  "`cancel` (avant la décision) et `activate` (badge reçu : ajouté à la liste locale et envoyé aux "
                  "bornes) : l'agent. Un passage interdit : 422 avec la règle.")
async def api_badge_request_step(tenant_ctx: TenantContext, db_session: AsyncSession, badge_request_id: uuid.UUID,
                                 action: str, data: BadgeRequestStepIn | None = None) -> BadgeRequestOut:
    if action not in TRANSITIONS:
        raise NotFound("action")
    request = await requests.visible_request(db_session, tenant_ctx, badge_request_id)
    now = utcnow()
    request = await requests.take_step(db_session, tenant_ctx, request.id, action,
                                       msgspec.to_builtins(data) if data else {}, now=now)
    return BadgeRequestOut.of(request, now)


class StateCountOut(msgspec.Struct, kw_only=True):
    state: str
    label: str
    count: int


class AttachmentCountOut(msgspec.Struct, kw_only=True):
    attachment: str
    label: str
    by_state: dict[str, int]
    total: int


class BadgeStatisticsOut(msgspec.Struct, kw_only=True):
    """CCTP CPAM 5-5-5-3 « suivi statistique »: the tenant's badges by state and by attachment."""

    total: int
    states: list[StateCountOut]
    attachments: list[AttachmentCountOut]


@get("/tenants/{tenant_id:uuid}/badge-statistics", tags=[TAG], responses=error_responses(403, 404),
     summary="Les badges du bénéficiaire par état et par rattachement (CCTP CPAM 5-5-5-3)",
     description="Rattachement : `vehicle` (véhicule de service), `site` (site de rattachement), `agent`, `\"\"` (non "
                 "rattaché, seulement s'il y en a) ; état : `Accepted` (actif), `Blocked` (bloqué), `Expired` (expiré, "
                 "ou actif dont la date d'expiration est passée). Les lecteurs du bénéficiaire, pas les agents.")
async def api_badge_statistics(tenant_ctx: TenantContext, db_session: AsyncSession) -> BadgeStatisticsOut:
    tenant_ctx.require("read")
    stats = await badges.badge_statistics(db_session, tenant_ctx.tenant_id, utcnow())
    return BadgeStatisticsOut(
        total=stats.total,
        states=[StateCountOut(state=code, label=label, count=stats.by_state[code])
                for code, label in badges.BADGE_STATES.items()],
        attachments=[AttachmentCountOut(attachment=kind, label=label, by_state=cells, total=total)
                     for kind, label, cells, total in stats.rows])


badge_request_api_handlers: list[Any] = [api_request_badge, api_badge_requests, api_badge_request,
                                         api_badge_request_step, api_badge_statistics]
