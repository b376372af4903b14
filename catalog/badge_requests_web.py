"""The agents' badge requests' portal pages (issue 14 §4, §5, CCTP CPAM 5-5-5-3), under ``/t/{tenant}/demandes-badge``:

* the list — an agent's own requests, every request for the tenant's readers (its admin, its manager
  « responsable », the titulaire's operator) — filtered by state, each pending step with its deadline, in red
  once past; below it, for the readers, the tenant's badges by state and attachment (5-5-5-3 « suivi
  statistique », ``catalog.badges.badge_statistics``); above it, for whoever may ask (``request_badges``), the form of a new request (plate, reason, site);
* ``…/{id}``: one request with who did what and when, and the forms of the steps open to the reader: the
  manager's written approval or refusal with its reason (``approve_badges``), the operator's shipment with the
  badge's idTag and the shipment reference (``ship_badges``), the agent's withdrawal before the decision and
  confirmation of receipt, which activates the badge on the tenant's stations.

The rules, the audit, the events and the e-mails are ``catalog.badge_requests``'; a form is read after the access
check, so another tenant's request, or another agent's for an agent, is a 404 whatever the body.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import NotFound
from app.shell import flash, form_fields, render, see_other, tenant_page
from catalog import badge_requests as requests
from catalog import badges
from catalog.badge_request_rules import STATES, TRANSITIONS
from tenants import services as tenants
from tenants.context import TenantContext

__all__ = ["badge_request_handlers", "nav"]

PATH = "/t/{tenant_id:uuid}/demandes-badge"
StateFilter = Annotated[str, Parameter(max_length=20)]
#: The buttons' French labels, in the order of the page.
STEP_LABELS = {"approve": "Approuver la demande", "refuse": "Refuser", "ship": "Enregistrer l'envoi du badge",
               "activate": "J'ai reçu le badge : l'activer", "cancel": "Retirer ma demande"}
FIELDS = ("plate", "reason", "site_id")


def _base(ctx: TenantContext) -> str:
    return f"/t/{ctx.tenant_id}/demandes-badge"


def _may_step(ctx: TenantContext, request: Any, action: str) -> bool:
    """Whether the reader gets the form of ``action`` on this request (the service checks again)."""
    if request.state not in TRANSITIONS[action][0]:
        return False
    own = request.requested_by == ctx.identity.user_id
    if action == "activate":
        return ctx.can("approve_badges") or (own and ctx.can("request_badges"))
    if action == "cancel":
        return own and ctx.can("request_badges")
    return ctx.can(requests.STEP_PERMISSIONS[action])


def _row(request: Any, names: dict[uuid.UUID, str], now: Any) -> dict[str, Any]:
    due = requests.due_of(request, now)
    return {"r": request, "due": due, "agent": names.get(request.requested_by, "—"),
            "decided_by": names.get(request.decided_by, "—") if request.decided_by else "",
            "shipped_by": names.get(request.shipped_by, "—") if request.shipped_by else ""}


async def _list_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *,
                     state: str = "", values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                     status: int = 200) -> Any:
    own = requests.own_scope(ctx)
    now = utcnow()
    found = await requests.requests_of_tenant(session, ctx.tenant_id, state=state, requested_by=own,
                                                 perimeter=await requests.perimeter_of(session, ctx))
    names = await tenants.member_names(session, ctx.tenant_id)
    sites = await tenants.list_sites(session, ctx.tenant_id)
    return render(request, "catalog/badge_requests.html", tenant_page(
        ctx, "badge_requests", rows=[_row(r, names, now) for r in found], states=STATES, state=state,
        url=_base(ctx), own=own is not None, can_request=ctx.can("request_badges"), sites=sites,
        site_names={s.id: s.name for s in sites}, values=values or {}, errors=errors or {},
        # CPAM 5-5-5-3 « suivi statistique »: the tenant's badges, for its readers (not for an agent).
        statistics=None if own is not None else await badges.badge_statistics(session, ctx.tenant_id, now),
        badge_states=badges.BADGE_STATES), status=status)


@get(PATH)
async def badge_requests_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                              etat: StateFilter = "") -> Any:
    return await _list_page(request, tenant_ctx, db_session, state=etat if etat in STATES else "")


@post(PATH)
async def create_badge_request(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                               db_session: AsyncSession) -> Any:
    tenant_ctx.require("request_badges")
    form = form_fields(await request.form())
    values = {k: form.get(k, "")[:600] for k in FIELDS}
    try:
        created = await requests.request_badge(db_session, tenant_ctx.tenant_id, tenant_ctx.identity.user_id,
                                               values, now=utcnow())
    except requests.BadgeRequestError as exc:  # raised before anything is written
        return await _list_page(request, tenant_ctx, db_session, values=values, errors=exc.errors, status=422)
    flash(request, f"Demande de badge pour le véhicule {created.plate} envoyée : votre responsable la valide "
                   "sous 24 h, vous serez prévenu par courriel.")
    return see_other(f"{_base(tenant_ctx)}/{created.id}")


async def _request_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, badge: Any, *,
                        values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                        status: int = 200) -> Any:
    names = await tenants.member_names(session, ctx.tenant_id)
    site = None
    if badge.site_id:
        site = next((s for s in await tenants.list_sites(session, ctx.tenant_id) if s.id == badge.site_id), None)
    steps = [a for a in STEP_LABELS if _may_step(ctx, badge, a)]
    return render(request, "catalog/badge_request.html", tenant_page(
        ctx, "badge_requests", row=_row(badge, names, utcnow()), states=STATES, site=site, steps=steps,
        step_labels=STEP_LABELS, url=f"{_base(ctx)}/{badge.id}", list_url=_base(ctx), values=values or {},
        errors=errors or {}), status=status)


@get(f"{PATH}/{{badge_request_id:uuid}}")
async def badge_request_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                             badge_request_id: uuid.UUID) -> Any:
    badge = await requests.visible_request(db_session, tenant_ctx, badge_request_id)
    return await _request_page(request, tenant_ctx, db_session, badge)


@post(f"{PATH}/{{badge_request_id:uuid}}/{{action:str}}")
async def badge_request_step(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                             badge_request_id: uuid.UUID, action: str) -> Any:
    if action not in TRANSITIONS:
        raise NotFound("action")
    badge = await requests.visible_request(db_session, tenant_ctx, badge_request_id)
    form = form_fields(await request.form())
    data = {k: form.get(k, "")[:600] for k in ("reason", "id_tag", "shipment_reference")}
    try:
        moved = await requests.take_step(db_session, tenant_ctx, badge.id, action, data, now=utcnow())
    except requests.BadgeRequestError as exc:  # nothing written
        return await _request_page(request, tenant_ctx, db_session, badge, values=data, errors=exc.errors,
                                   status=422)
    flash(request, f"Demande de badge du véhicule {moved.plate} : {STATES[moved.state]}.")
    return see_other(f"{_base(tenant_ctx)}/{moved.id}")


def nav(ctx: Any) -> list[tuple[str, ...]]:
    """« Demandes de badge »: the agent's own, the manager's to decide, the operator's to ship. The tenant's admin
    reaches them from its home card (« Toutes les demandes de badge »): one more entry would fold its desktop menu
    onto a third line (tests/e2e/test_homes_browser.py keeps the header within 180 px at 1280 px)."""
    if isinstance(ctx, TenantContext) and not ctx.can("manage_users") and (
            ctx.can("request_badges") or ctx.can("approve_badges") or ctx.can("ship_badges")):
        return [("badge_requests", _base(ctx), "Demandes de badge")]
    return []


badge_request_handlers: list[Any] = [badge_requests_page, create_badge_request, badge_request_page,
                                     badge_request_step]
