"""Badges and reservations on the web: portal pages and ``/api/v1`` resources.

* ``/t/{tenant}/badges``: list and search (CCTP CPAM 5-5-5-3 « attribution,
  distribution, suivi »), create, edit (attachment to a service vehicle, a site
  or an agent; expiry), block / unblock, delete a badge that never served, and
  per station the local authorization list version it confirmed.
* ``/t/{tenant}/reservations``: list, reserve, cancel (5-5-5-1 « Possibilité de
  réservation de point de charge ») and the tenant's standard rules (5-5-4).
* API: ``/api/v1/tenants/{tenant}/badges`` (GET, POST, PATCH, DELETE) and
  ``/api/v1/tenants/{tenant}/reservations`` (GET, POST, DELETE = cancel).

Permissions (``app.permissions``, granted in ``csms/component.py``): every profile that may read sees badges and
reservations; the administrator manages badges and the rules and reserves with
any badge; an agent sees and reserves with their own badges only; the viewer
only reads. After a badge change is committed, ``badges.changed`` goes on the
bus (the ingress pushes the list); a reservation whose window opens now is sent
to the station (ReserveNow) once committed, and the page shows its answer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, patch, post, put
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, ValidationException
from litestar.params import Body, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT
from msgspec import UNSET, Meta, Struct, UnsetType
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import NonNegative32
from app.db import utcnow
from app.errors import Forbidden, NotFound, ValidationFailed
from app.shell import (
    api_client_error,
    api_validation_error,
    error_responses,
    flash,
    form_fields,
    render,
    see_other,
    tenant_page,
)
from csms.domain import badges, reservations
from csms.domain.models import Badge, ChargePoint, Charger, Reservation
from tenants.context import TenantContext
from tenants.models import Role

__all__ = ["api_handlers", "badge_reader", "nav", "policy_from_form", "portal_handlers"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
TAG_BADGES, TAG_RESERVATIONS = "Badges", "Réservations"
STATUS_OPTIONS = list(badges.BADGE_STATUSES.items())
KIND_OPTIONS = [("", "Non rattaché"), *badges.BADGE_KINDS.items()]


def nav(ctx: Any) -> list[tuple[str, str, str]]:
    if not isinstance(ctx, TenantContext) or not (ctx.can("read") or ctx.can("agent")):
        return []
    base = f"/t/{ctx.tenant_id}"
    return [("badges", f"{base}/badges", "Badges"), ("reservations", f"{base}/reservations", "Réservations")]


def _manages(ctx: TenantContext) -> bool:
    return ctx.can("manage_badges")


def _own_only(ctx: TenantContext) -> uuid.UUID | None:
    """An agent sees and uses only the badges issued to them."""
    return ctx.identity.user_id if ctx.role == Role.AGENT else None


def badge_reader(ctx: TenantContext) -> uuid.UUID | None:
    """The badge and reservation pages' rule (their exports too): readers and agents; an agent
    sees its own only (returns its id)."""
    _require_reader(ctx)
    return _own_only(ctx)


def _require_reader(ctx: TenantContext) -> None:
    if not (ctx.can("read") or ctx.can("agent")):
        raise Forbidden("Votre profil ne permet pas cette action.")


async def _changed(request: Request[Any, Any, Any], session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Commit, then tell the ingress processes to push the tenant's new list."""
    await session.commit()
    await badges.publish_badges_changed(getattr(request.app.state, "bus", None), tenant_id)


# --------------------------------------------------------------------------- portal: badges


def _badge_values(badge: Badge | None, tz: str) -> dict[str, str]:
    if badge is None:
        return {"status": "Accepted", "kind": ""}
    expiry = badge.expires_at.astimezone(dt.UTC).date().isoformat() if badge.expires_at else ""
    return {"id_tag": badge.id_tag, "status": badge.status, "expires_at": expiry, "holder_label": badge.holder_label,
            "kind": badge.kind, "vehicle_label": badge.vehicle_label, "site_id": str(badge.site_id or ""),
            "user_id": str(badge.user_id or "")}


async def _form_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                     badge: Badge | None, values: dict[str, str], errors: dict[str, str], status: int = 200) -> Any:
    names = await badges.holder_names(session, ctx.tenant_id)
    return render(request, "csms/badges_form.html", tenant_page(
        ctx, "badges", badge=badge, values=values, errors=errors, status_options=STATUS_OPTIONS,
        kind_options=KIND_OPTIONS, site_options=[("", "—"), *((str(k), v) for k, v in names["sites"].items())],
        user_options=[("", "—"), *((str(k), v) for k, v in names["users"].items())],
    ), status=status)


@get("/t/{tenant_id:uuid}/badges")
async def badges_list(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                      q: Annotated[str, Parameter(max_length=100)] = "",
                      statut: Annotated[str, Parameter(max_length=20)] = "") -> Any:
    _require_reader(tenant_ctx)
    items = await badges.list_badges(db_session, tenant_ctx.tenant_id, q=q, status=statut,
                                     user_id=_own_only(tenant_ctx))
    names = await badges.holder_names(db_session, tenant_ctx.tenant_id)
    version = await badges.list_version(db_session, tenant_ctx.tenant_id)
    syncs = await badges.list_sync_states(db_session, tenant_ctx.tenant_id) if tenant_ctx.can("read") else []
    return render(request, "csms/badges.html", tenant_page(
        tenant_ctx, "badges", badges=items, names=names, q=q, statut=statut, status_options=STATUS_OPTIONS,
        statuses=badges.BADGE_STATUSES, kinds=badges.BADGE_KINDS, version=version, syncs=syncs,
        manages=_manages(tenant_ctx), now=utcnow(),
        concurrent=await badges.concurrent_sessions_allowed(db_session, tenant_ctx.tenant_id),
    ), block="results")


@get("/t/{tenant_id:uuid}/badges/nouveau")
async def badge_new(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("manage_badges")
    return await _form_page(request, tenant_ctx, db_session, None, _badge_values(None, tenant_ctx.tenant.timezone), {})


@post("/t/{tenant_id:uuid}/badges/nouveau")
async def badge_create(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       data: Form) -> Any:
    tenant_ctx.require("manage_badges")
    values = form_fields(data)
    try:
        badge = await badges.create_badge(db_session, tenant_ctx.tenant_id, values)
    except ValidationFailed as exc:
        return await _form_page(request, tenant_ctx, db_session, None, values, exc.errors, 422)
    await _changed(request, db_session, tenant_ctx.tenant_id)
    flash(request, f"Badge {badge.id_tag} enregistré ; il est envoyé aux bornes (liste locale version {badge.list_version}).")
    return see_other(f"/t/{tenant_ctx.tenant_id}/badges")


@get("/t/{tenant_id:uuid}/badges/{badge_id:uuid}")
async def badge_edit(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                     badge_id: uuid.UUID) -> Any:
    tenant_ctx.require("manage_badges")
    badge = await badges.access_badge(db_session, tenant_ctx.tenant_id, badge_id)
    return await _form_page(request, tenant_ctx, db_session, badge, _badge_values(badge, tenant_ctx.tenant.timezone), {})


@post("/t/{tenant_id:uuid}/badges/{badge_id:uuid}")
async def badge_update(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       badge_id: uuid.UUID, data: Form) -> Any:
    tenant_ctx.require("manage_badges")
    badge = await badges.access_badge(db_session, tenant_ctx.tenant_id, badge_id)
    values = form_fields(data)
    try:
        await badges.update_badge(db_session, tenant_ctx.tenant_id, badge, values)
    except ValidationFailed as exc:
        return await _form_page(request, tenant_ctx, db_session, badge, values, exc.errors, 422)
    await _changed(request, db_session, tenant_ctx.tenant_id)
    flash(request, f"Badge {badge.id_tag} enregistré.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/badges")


@post("/t/{tenant_id:uuid}/badges/{badge_id:uuid}/statut")
async def badge_block(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                      badge_id: uuid.UUID, data: Form) -> Any:
    """Block or unblock in one click (the list's buttons)."""
    tenant_ctx.require("manage_badges")
    badge = await badges.access_badge(db_session, tenant_ctx.tenant_id, badge_id)
    status = "Blocked" if form_fields(data).get("status") == "Blocked" else "Accepted"
    await badges.update_badge(db_session, tenant_ctx.tenant_id, badge, {"status": status})
    await _changed(request, db_session, tenant_ctx.tenant_id)
    flash(request, f"Badge {badge.id_tag} {'bloqué' if status == 'Blocked' else 'débloqué'}.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/badges")


@post("/t/{tenant_id:uuid}/badges/recharges-simultanees")
async def badges_concurrent(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                            data: Form) -> Any:
    """May a badge already in a charging session start another? (OCPP ``ConcurrentTx`` otherwise.)"""
    tenant_ctx.require("manage_badges")
    allowed = form_fields(data).get("allow") == "1"
    await badges.set_concurrent_sessions_allowed(db_session, tenant_ctx.tenant_id, allowed)
    await db_session.commit()
    flash(request, "Un badge peut désormais mener plusieurs recharges en même temps." if allowed else
           "Un badge déjà en recharge ne peut plus en démarrer une deuxième.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/badges")


@post("/t/{tenant_id:uuid}/badges/{badge_id:uuid}/supprimer")
async def badge_delete(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       badge_id: uuid.UUID) -> Any:
    tenant_ctx.require("manage_badges")
    badge = await badges.access_badge(db_session, tenant_ctx.tenant_id, badge_id)
    id_tag = badge.id_tag
    try:
        await badges.delete_badge(db_session, tenant_ctx.tenant_id, badge)
    except ValidationFailed as exc:
        flash(request, exc.errors["badge"])
        return see_other(f"/t/{tenant_ctx.tenant_id}/badges")
    await _changed(request, db_session, tenant_ctx.tenant_id)
    flash(request, f"Badge {id_tag} supprimé ; les bornes le retirent de leur liste locale.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/badges")


# --------------------------------------------------------------------------- portal: reservations


async def _points(session: AsyncSession, tenant_id: uuid.UUID) -> list[tuple[str, str, bool]]:
    """(id, label, reservable) of every point; those of a charger retired for good keep their label
    (past reservations name them) but cannot be chosen."""
    rows = (await session.execute(
        select(ChargePoint, Charger.charge_box_id, Charger.decommissioned_at)
        .join(Charger, (Charger.tenant_id == ChargePoint.tenant_id) & (Charger.id == ChargePoint.charger_id))
        .where(ChargePoint.tenant_id == tenant_id).order_by(Charger.charge_box_id, ChargePoint.connector_id))).all()
    return [(str(point.id), f"{cbid} — point {point.connector_id}"
             + (f" ({point.usage_name})" if point.usage_name else ""), retired is None) for point, cbid, retired in rows]


async def _reservations_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *,
                             values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                             policy_values: dict[str, str] | None = None,
                             policy_errors: dict[str, str] | None = None, status: int = 200) -> Any:
    own = _own_only(ctx)
    now = utcnow()
    items = await reservations.list_reservations(session, ctx.tenant_id, user_id=own)
    policy = await reservations.get_policy(session, ctx.tenant_id)
    usable = [b for b in await badges.list_badges(session, ctx.tenant_id, user_id=own) if b.status == "Accepted"]
    every_point = await _points(session, ctx.tenant_id)
    points = {point_id: label for point_id, label, _ in every_point}
    rules = reservations.describe_policy(policy)
    recent = [r for r in items if r.status == "cancelled" and r.cancelled_at and r.created_by != ctx.identity.user_id
              and now - r.cancelled_at < dt.timedelta(days=7)]
    return render(request, "csms/reservations.html", tenant_page(
        ctx, "reservations", reservations=items, points=points,
        point_options=[(point_id, label) for point_id, label, reservable in every_point if reservable],
        badge_options=[(str(b.id), f"{b.id_tag}" + (f" — {b.holder_label}" if b.holder_label else "")) for b in usable],
        rules=rules, policy=policy, labels=reservations.STATUS_LABELS, display_status=reservations.display_status,
        now=now, values=values or {}, errors=errors or {}, policy_values=policy_values or {
            **{f"priority_{kind}": str(rank) for rank, kind in enumerate(policy.populations.split(","), start=1)},
            **{f"weekday_{day}": "on" for day in policy.weekdays}, "opens": rules["opens"],
            "closes": rules["closes"], "max_duration_minutes": str(policy.max_duration_minutes),
            "max_advance_days": str(policy.max_advance_days)},
        kinds=badges.BADGE_KINDS, weekday_labels=WEEKDAY_LABELS,
        policy_errors=policy_errors or {}, can_reserve=_manages(ctx) or ctx.can("agent"), manages=_manages(ctx),
        recent_cancellations=recent,
    ), status=status)


async def _send_now(request: Request[Any, Any, Any], session: AsyncSession, reservation: Reservation) -> str:
    """ReserveNow for a reservation whose window is open (after its commit); the message to show."""
    if reservation.starts_at > utcnow():
        return ""
    charger = await session.get(Charger, (reservation.tenant_id, reservation.charger_id))
    assert charger is not None
    state = request.app.state
    outcome = await reservations.reserve_on_station(state.db, state.bus, reservation,
                                                    charge_box_id=charger.charge_box_id, protocol=charger.protocol)
    reservations.apply_outcome(reservation, outcome, now=utcnow())
    await session.commit()
    return outcome.message


@get("/t/{tenant_id:uuid}/reservations")
async def reservations_list(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                            db_session: AsyncSession) -> Any:
    _require_reader(tenant_ctx)
    return await _reservations_page(request, tenant_ctx, db_session)


@post("/t/{tenant_id:uuid}/reservations")
async def reservation_create(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                             data: Form) -> Any:
    if not (_manages(tenant_ctx) or tenant_ctx.can("agent")):
        raise Forbidden("Votre profil ne permet pas de réserver.")
    values = form_fields(data)
    try:
        created = await reservations.create_reservation(
            db_session, tenant_ctx.tenant_id, values, tz=tenant_ctx.tenant.timezone,
            user_id=tenant_ctx.identity.user_id, own_badges_only=not _manages(tenant_ctx))
    except ValidationFailed as exc:
        return await _reservations_page(request, tenant_ctx, db_session, values=values, errors=exc.errors, status=422)
    await db_session.commit()
    message = await _send_now(request, db_session, created.reservation)
    displaced = f" {len(created.displaced)} réservation(s) moins prioritaire(s) annulée(s)." if created.displaced else ""
    flash(request, f"Réservation n° {created.reservation.ocpp_reservation_id} enregistrée. {message}{displaced}".strip())
    return see_other(f"/t/{tenant_ctx.tenant_id}/reservations")


@post("/t/{tenant_id:uuid}/reservations/{reservation_id:uuid}/annuler")
async def reservation_cancel(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                             reservation_id: uuid.UUID) -> Any:
    reservation = await _cancellable(tenant_ctx, db_session, reservation_id)
    try:
        answer = await reservations.cancel_reservation(
            request.app.state.db, getattr(request.app.state, "bus", None), db_session, reservation,
            reason=f"Annulée par {tenant_ctx.identity.full_name or tenant_ctx.identity.email}.")
    except ValidationFailed as exc:
        flash(request, exc.errors["reservation"])
        return see_other(f"/t/{tenant_ctx.tenant_id}/reservations")
    flash(request, f"Réservation n° {reservation.ocpp_reservation_id} annulée."
           + (f" Réponse de la borne : {answer}." if answer else ""))
    return see_other(f"/t/{tenant_ctx.tenant_id}/reservations")


WEEKDAY_LABELS = {"1": "Lundi", "2": "Mardi", "3": "Mercredi", "4": "Jeudi", "5": "Vendredi", "6": "Samedi",
                  "7": "Dimanche"}


def policy_from_form(values: dict[str, str]) -> dict[str, Any]:
    """The rules form's checkboxes and priority choices as ``update_policy`` takes them.

    Each population has a priority choice (``priority_vehicle``: « Non autorisée », 1, 2 or 3)
    and each day a checkbox (``weekday_1`` … ``weekday_7``); a form without them (an older
    client posting ``populations`` and ``weekdays`` as text) is passed on as it is.
    """
    data: dict[str, Any] = {k: v for k, v in values.items()
                            if not k.startswith(("priority_", "weekday_")) and k not in ("rules_form",)}
    if values.get("rules_form") != "1":
        return data
    ranked: list[tuple[str, str]] = []
    for kind in badges.BADGE_KINDS:
        rank = values.get(f"priority_{kind}", "")
        if rank:
            ranked.append((rank, kind))
    ranks = [rank for rank, _ in ranked]
    if len(set(ranks)) != len(ranks) or any(rank not in {"1", "2", "3"} for rank in ranks):
        # Two populations at the same rank: the domain's check refuses the duplicate.
        data["populations"] = [kind for _, kind in ranked] + [ranked[0][1]]
    else:
        data["populations"] = [kind for _, kind in sorted(ranked)]
    data["weekdays"] = "".join(day for day in WEEKDAY_LABELS if values.get(f"weekday_{day}"))
    return data


@post("/t/{tenant_id:uuid}/reservations/regles")
async def reservation_rules(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                            data: Form) -> Any:
    tenant_ctx.require("manage_badges")
    values = form_fields(data)
    try:
        await reservations.update_policy(db_session, tenant_ctx.tenant_id, policy_from_form(values))
    except ValidationFailed as exc:
        return await _reservations_page(request, tenant_ctx, db_session, policy_values=values,
                                        policy_errors=exc.errors, status=422)
    flash(request, "Règles de réservation enregistrées ; elles s'appliquent à tous les points de charge.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/reservations")


async def _cancellable(ctx: TenantContext, session: AsyncSession, reservation_id: uuid.UUID) -> Reservation:
    reservation = await reservations.access_reservation(session, ctx.tenant_id, reservation_id)
    if _manages(ctx):
        return reservation
    if ctx.can("agent"):
        badge = await session.get(Badge, (ctx.tenant_id, reservation.badge_id))
        if badge is not None and badge.user_id == ctx.identity.user_id:
            return reservation
    raise Forbidden("Votre profil ne permet pas d'annuler cette réservation.")


# --------------------------------------------------------------------------- API


IdTag = Annotated[str, Meta(description="Identifiant RFID (idTag OCPP) : 1 à 36 caractères ASCII sans espace "
                                        "(20 au plus pour une borne OCPP 1.6) ; comparé sans tenir compte de la casse",
                            examples=["04A2B3C4D5E6F7"])]


class BadgeIn(Struct, forbid_unknown_fields=True, kw_only=True):
    id_tag: IdTag
    status: Annotated[str, Meta(description="Accepted (actif), Blocked (bloqué) ou Expired (expiré)")] = "Accepted"
    expires_at: Annotated[str | None, Meta(description="Expiration, ISO 8601 avec fuseau ou AAAA-MM-JJ")] = None
    holder_label: str = ""
    kind: Annotated[str, Meta(description="Rattachement : vehicle, site ou agent (vide : non rattaché)")] = ""
    vehicle_label: str = ""
    site_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None


class BadgePatch(Struct, forbid_unknown_fields=True, kw_only=True):
    id_tag: str | UnsetType = UNSET
    status: str | UnsetType = UNSET
    expires_at: str | None | UnsetType = UNSET
    holder_label: str | UnsetType = UNSET
    kind: str | UnsetType = UNSET
    vehicle_label: str | UnsetType = UNSET
    site_id: uuid.UUID | None | UnsetType = UNSET
    user_id: uuid.UUID | None | UnsetType = UNSET


class BadgeOut(Struct, kw_only=True):
    id: uuid.UUID
    id_tag: str
    status: str
    #: What a station answers now (an expiry passed: Expired).
    effective_status: str
    expires_at: dt.datetime | None
    holder_label: str
    kind: str
    vehicle_label: str
    site_id: uuid.UUID | None
    user_id: uuid.UUID | None
    list_version: int
    created_at: dt.datetime

    @classmethod
    def of(cls, b: Badge, now: dt.datetime) -> BadgeOut:
        effective = b.status
        if b.status == "Accepted" and b.expires_at is not None and b.expires_at <= now:
            effective = "Expired"
        return cls(id=b.id, id_tag=b.id_tag, status=b.status, effective_status=effective, expires_at=b.expires_at,
                   holder_label=b.holder_label, kind=b.kind, vehicle_label=b.vehicle_label, site_id=b.site_id,
                   user_id=b.user_id, list_version=b.list_version, created_at=b.created_at)


class BadgeSettings(Struct, forbid_unknown_fields=True, kw_only=True):
    allow_concurrent_sessions: Annotated[bool, Meta(
        description="Un badge déjà en recharge peut-il en démarrer une autre ? Non par défaut : la borne reçoit "
                    "ConcurrentTx (OCPP 1.6 §7.2, 2.0.1 IdTokenInfo).")]


BADGE_SETTINGS = "/tenants/{tenant_id:uuid}/badge-settings"


@get(BADGE_SETTINGS, tags=[TAG_BADGES], responses=error_responses(403, 404), summary="Règles des badges du bénéficiaire")
async def api_read_badge_settings(tenant_ctx: TenantContext, db_session: AsyncSession) -> BadgeSettings:
    _require_reader(tenant_ctx)
    return BadgeSettings(allow_concurrent_sessions=await badges.concurrent_sessions_allowed(db_session, tenant_ctx.tenant_id))


@put(BADGE_SETTINGS, tags=[TAG_BADGES], responses=error_responses(403, 404, 422), summary="Changer les règles des badges",
     description="Administrateur. Effectif à la prochaine autorisation ou au prochain démarrage de recharge.")
async def api_update_badge_settings(tenant_ctx: TenantContext, db_session: AsyncSession,
                                    data: BadgeSettings) -> BadgeSettings:
    tenant_ctx.require("manage_badges")
    await badges.set_concurrent_sessions_allowed(db_session, tenant_ctx.tenant_id, data.allow_concurrent_sessions)
    return data


def _provided(data: Struct) -> dict[str, Any]:
    return {f: v for f in data.__struct_fields__ if (v := getattr(data, f)) is not UNSET}


BADGES = "/tenants/{tenant_id:uuid}/badges"


@get(BADGES, tags=[TAG_BADGES], responses=error_responses(403, 404), summary="Badges RFID du bénéficiaire",
     description="Recherche `q` sur l'identifiant, le porteur ou le véhicule ; `status` filtre. Un agent ne voit que "
                 "ses badges.")
async def api_list_badges(tenant_ctx: TenantContext, db_session: AsyncSession,
                          q: Annotated[str, Parameter(max_length=100)] = "",
                          status: Annotated[str, Parameter(max_length=20)] = "") -> list[BadgeOut]:
    _require_reader(tenant_ctx)
    now = utcnow()
    return [BadgeOut.of(b, now) for b in await badges.list_badges(
        db_session, tenant_ctx.tenant_id, q=q, status=status, user_id=_own_only(tenant_ctx))]


@post(BADGES, tags=[TAG_BADGES], responses=error_responses(403, 404, 422), summary="Enregistrer un badge",
      description="Administrateur. La liste locale d'autorisation du bénéficiaire change de version et est envoyée "
                  "à ses bornes (SendLocalList différentiel).")
async def api_create_badge(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                           data: BadgeIn) -> BadgeOut:
    tenant_ctx.require("manage_badges")
    badge = await badges.create_badge(db_session, tenant_ctx.tenant_id, _provided(data))
    await _changed(request, db_session, tenant_ctx.tenant_id)
    return BadgeOut.of(badge, utcnow())


@get(f"{BADGES}/{{badge_id:uuid}}", tags=[TAG_BADGES], responses=error_responses(403, 404), summary="Un badge")
async def api_read_badge(tenant_ctx: TenantContext, db_session: AsyncSession, badge_id: uuid.UUID) -> BadgeOut:
    _require_reader(tenant_ctx)
    badge = await badges.access_badge(db_session, tenant_ctx.tenant_id, badge_id)
    own = _own_only(tenant_ctx)
    if own is not None and badge.user_id != own:
        raise NotFound("badge")
    return BadgeOut.of(badge, utcnow())


@patch(f"{BADGES}/{{badge_id:uuid}}", tags=[TAG_BADGES], responses=error_responses(403, 404, 422),
       summary="Modifier, bloquer ou débloquer un badge", description="Seuls les champs envoyés changent.")
async def api_update_badge(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                           badge_id: uuid.UUID, data: BadgePatch) -> BadgeOut:
    tenant_ctx.require("manage_badges")
    badge = await badges.access_badge(db_session, tenant_ctx.tenant_id, badge_id)
    await badges.update_badge(db_session, tenant_ctx.tenant_id, badge, _provided(data))
    await _changed(request, db_session, tenant_ctx.tenant_id)
    return BadgeOut.of(badge, utcnow())


@delete(f"{BADGES}/{{badge_id:uuid}}", tags=[TAG_BADGES], responses=error_responses(403, 404, 422),
        summary="Supprimer un badge qui n'a jamais servi", status_code=HTTP_204_NO_CONTENT,
        description="Un badge ayant servi (recharges, réservations) se bloque au lieu de se supprimer (422).")
async def api_delete_badge(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                           badge_id: uuid.UUID) -> Response[None]:
    tenant_ctx.require("manage_badges")
    badge = await badges.access_badge(db_session, tenant_ctx.tenant_id, badge_id)
    await badges.delete_badge(db_session, tenant_ctx.tenant_id, badge)
    await _changed(request, db_session, tenant_ctx.tenant_id)
    return Response(None, status_code=HTTP_204_NO_CONTENT)


class ReservationIn(Struct, forbid_unknown_fields=True, kw_only=True):
    starts_at: Annotated[dt.datetime, Meta(description="Début, ISO 8601 avec fuseau")]
    ends_at: Annotated[dt.datetime, Meta(description="Fin, ISO 8601 avec fuseau (expiryDate envoyé à la borne)")]
    charge_point_id: uuid.UUID | None = None
    charge_box_id: Annotated[str | None, Meta(description="Ou la borne et son connecteur")] = None
    connector_id: NonNegative32 | None = None
    badge_id: uuid.UUID | None = None
    id_tag: Annotated[str | None, Meta(description="Ou l'identifiant du badge")] = None


class ReservationOut(Struct, kw_only=True):
    id: uuid.UUID
    reservation_id: int
    charge_point_id: uuid.UUID
    connector_id: int
    badge_id: uuid.UUID
    id_tag: str
    population: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    #: scheduled, active, consumed, cancelled, rejected, expired
    status: str
    station_status: str
    cancel_reason: str
    transaction_id: uuid.UUID | None

    @classmethod
    def of(cls, r: Reservation, now: dt.datetime) -> ReservationOut:
        return cls(id=r.id, reservation_id=r.ocpp_reservation_id, charge_point_id=r.charge_point_id,
                   connector_id=r.connector_id, badge_id=r.badge_id, id_tag=r.id_tag, population=r.population,
                   starts_at=r.starts_at, ends_at=r.ends_at, status=reservations.display_status(r, now),
                   station_status=r.station_status, cancel_reason=r.cancel_reason, transaction_id=r.transaction_id)


RESERVATIONS = "/tenants/{tenant_id:uuid}/reservations"


@get(RESERVATIONS, tags=[TAG_RESERVATIONS], responses=error_responses(403, 404), summary="Réservations",
     description="Les plus récentes d'abord ; un agent ne voit que celles de ses badges.")
async def api_list_reservations(tenant_ctx: TenantContext, db_session: AsyncSession) -> list[ReservationOut]:
    _require_reader(tenant_ctx)
    now = utcnow()
    return [ReservationOut.of(r, now) for r in await reservations.list_reservations(
        db_session, tenant_ctx.tenant_id, user_id=_own_only(tenant_ctx))]


@post(RESERVATIONS, tags=[TAG_RESERVATIONS], responses=error_responses(403, 404, 422), summary="Réserver un point de charge",
      description="Selon les règles du bénéficiaire (CCTP CPAM 5-5-4 : population, priorité, horaires). Si le créneau "
                  "commence maintenant, la borne reçoit ReserveNow et `status` donne sa réponse.")
async def api_create_reservation(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                                 db_session: AsyncSession, data: ReservationIn) -> ReservationOut:
    if not (_manages(tenant_ctx) or tenant_ctx.can("agent")):
        raise Forbidden("Votre profil ne permet pas de réserver.")
    values = {f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not None}
    created = await reservations.create_reservation(
        db_session, tenant_ctx.tenant_id, values, tz=tenant_ctx.tenant.timezone,
        user_id=tenant_ctx.identity.user_id, own_badges_only=not _manages(tenant_ctx))
    await db_session.commit()
    await _send_now(request, db_session, created.reservation)
    return ReservationOut.of(created.reservation, utcnow())


@delete(f"{RESERVATIONS}/{{reservation_id:uuid}}", tags=[TAG_RESERVATIONS], responses=error_responses(403, 404, 422),
        summary="Annuler une réservation", status_code=HTTP_204_NO_CONTENT,
        description="Une réservation active sur la borne y est annulée (CancelReservation).")
async def api_cancel_reservation(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                                 db_session: AsyncSession, reservation_id: uuid.UUID) -> Response[None]:
    reservation = await _cancellable(tenant_ctx, db_session, reservation_id)
    await reservations.cancel_reservation(
        request.app.state.db, getattr(request.app.state, "bus", None), db_session, reservation,
        reason=f"Annulée par {tenant_ctx.identity.email} (API).")
    return Response(None, status_code=HTTP_204_NO_CONTENT)


portal_handlers: list[Any] = [
    badges_list, badge_new, badge_create, badge_edit, badge_update, badge_block, badge_delete, badges_concurrent,
    reservations_list, reservation_create, reservation_cancel, reservation_rules,
]
api_handlers: list[Any] = [
    Router(path="/", route_handlers=[api_read_badge_settings, api_update_badge_settings,
                                     api_list_badges, api_create_badge, api_read_badge, api_update_badge,
                                     api_delete_badge, api_list_reservations, api_create_reservation,
                                     api_cancel_reservation],
           exception_handlers={ValidationException: api_validation_error, ClientException: api_client_error}),
]
