"""Tenant and coordinator portal pages (HTML, French; DESIGN.md "Actors and portals").

Every handler reaches data through ``tenants.services`` with the tenant of the
request's context (``tenant_ctx`` / ``central_ctx``), so another tenant's ids are a
404. Forms post normally and redirect (POST-redirect-GET); a validation error
re-renders the form with status 422 and the field errors. Lists answer an HTMX
request with their ``results`` block only.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page
from app.db import scope_session, utcnow
from app.deps import require_identity
from app.errors import NotFound, ValidationFailed
from app.mail import OutboxMessage
from app.security import password_problem, verify_password
from app.shell import (
    Form,
    Home,
    Paged,
    account_page,
    central_page,
    flash,
    form_fields,
    operator_page,
    pager,
    render,
    see_other,
    tenant_page,
)
from tenants import services
from tenants.auth import login_session
from tenants.context import CentralContext, OperatorContext, TenantContext
from tenants.models import (
    TENANT_ROLES,
    ApiToken,
    Central,
    FrameworkAgreement,
    Membership,
    Role,
    Site,
    Subscription,
    Tenant,
    User,
)
from tenants.territories import TERRITORIES

__all__ = ["handlers"]

ROLE_OPTIONS = [(r.value, r.label) for r in TENANT_ROLES]
TERRITORY_OPTIONS = [(t.code, t.label) for t in TERRITORIES.values()]

# --------------------------------------------------------------------------- helpers


def _territory_label(code: str) -> str:
    territory = TERRITORIES.get(code)
    return territory.label if territory else code


# --------------------------------------------------------------------------- coordinator


#: Beneficiaries per page of the coordinator's home table.
HOME_PER_PAGE = 25


def _sort_key(value: Any, descending: bool) -> tuple[int, Any]:
    # Blanks (no charger, so no availability) always last, whichever the direction.
    if value is None or value == "":
        return (1, 0)
    return (0, -value if descending and isinstance(value, int | float) else value)


@get("/c/{central_code:str}")
async def central_home(
    request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession, q: str = "",
    tri: str = "nom", ordre: str = "", page: Page = 1,
) -> Template:
    """The coordinator's beneficiaries with their key figures (each component's columns), sortable
    and searchable without JavaScript, the central's activity and its framework agreements."""
    now = utcnow()
    home: Home = request.app.state.home
    q = q.strip()[:100]
    everyone = len(central_ctx.tenant_ids)
    matching = await services.search_tenants(db_session, central_ctx.tenant_ids, q=q, page=1, per_page=max(1, everyone))
    tenants = list(matching.items)
    columns, figures = await home.beneficiary_figures(db_session, [t.id for t in tenants], now)
    by_key = {c.key: c for c in columns}
    tri = tri if tri in by_key else "nom"
    default_desc = by_key[tri].descending if tri in by_key else False
    ordre = ordre if ordre in ("asc", "desc") else ("desc" if default_desc else "asc")
    if tri == "nom":
        tenants.sort(key=lambda t: t.name.casefold(), reverse=ordre == "desc")
    else:
        # Python's sort is stable: blanks stay last in both directions (sorted on a (blank, value) key).
        descending = ordre == "desc"
        tenants.sort(key=lambda t: _sort_key(figures.get(t.id, {}).get(tri), descending))
    per_page = HOME_PER_PAGE
    page = max(1, min(page, max(1, -(-len(tenants) // per_page))))
    shown = Paged(tenants[(page - 1) * per_page: page * per_page], len(tenants), page, per_page)
    base = f"/c/{central_ctx.central.code}"

    def sort_url(key: str) -> str:
        column = by_key.get(key)
        first = "desc" if column is not None and column.descending else "asc"
        other = "asc" if ordre == "desc" else "desc"
        params = {"q": q, "tri": key, "ordre": other if key == tri else first}
        return f"{base}?{urlencode({k: v for k, v in params.items() if v})}#beneficiaires"

    agreements = list(
        await db_session.scalars(
            select(FrameworkAgreement)
            .where(FrameworkAgreement.central_id == central_ctx.central.id)
            .order_by(FrameworkAgreement.reference)
        )
    )
    counts = dict(
        (
            await db_session.execute(
                select(Subscription.agreement_id, func.count(func.distinct(Subscription.tenant_id)))
                .where(Subscription.agreement_id.in_([a.id for a in agreements]))
                .group_by(Subscription.agreement_id)
            )
        ).all()
    )
    return render(
        request,
        "central_home.html",
        central_page(
            central_ctx, "home", agreements=agreements, counts=counts, beneficiaries=everyone,
            cards=await home.cards_for(db_session, central_ctx, now), columns=columns, figures=figures, found=shown,
            q=q, tri=tri, ordre=ordre, sort_url=sort_url,
            paging=pager(base, {"q": q, "tri": tri, "ordre": ordre}, shown),
        ),
        block="beneficiaires",
    )


@get("/c/{central_code:str}/beneficiaires")
async def central_beneficiaries(
    request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession, q: str = "", page: Page = 1
) -> Template:
    q = q.strip()[:100]
    found = await services.search_tenants(db_session, central_ctx.tenant_ids, q=q, page=page)
    base = f"/c/{central_ctx.central.code}/beneficiaires"
    return render(
        request,
        "central_beneficiaries.html",
        central_page(central_ctx, "beneficiaries", q=q, found=found, paging=pager(base, {"q": q}, found),
                      territory_label=_territory_label),
        block="results",
    )


def _beneficiary_form(ctx: CentralContext, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return central_page(ctx, "beneficiaries", values=values, errors=errors, territories=TERRITORY_OPTIONS)


@get("/c/{central_code:str}/beneficiaires/nouveau")
async def beneficiary_new(request: Request[Any, Any, Any], central_ctx: CentralContext) -> Template:
    return render(request, "central_beneficiary_form.html", _beneficiary_form(central_ctx, {"territory": "metropole"}, {}))


@post("/c/{central_code:str}/beneficiaires/nouveau")
async def beneficiary_create(
    request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession, data: Form
) -> Any:
    values = form_fields(data)
    try:
        tenant = await services.create_tenant(db_session, values, central=central_ctx.central)
    except ValidationFailed as exc:
        return render(request, "central_beneficiary_form.html", _beneficiary_form(central_ctx, values, exc.errors), status=422)
    flash(request, f"Bénéficiaire « {tenant.name} » créé. Ajoutez maintenant son premier administrateur.")
    return see_other(f"/t/{tenant.id}/utilisateurs/nouveau?role=admin")


# --------------------------------------------------------------------------- tenant: home & profile


async def _tenant_agreements(session: AsyncSession, tenant_id: uuid.UUID) -> list[FrameworkAgreement]:
    return list(
        await session.scalars(
            select(FrameworkAgreement)
            .join(Subscription, Subscription.agreement_id == FrameworkAgreement.id)
            .where(Subscription.tenant_id == tenant_id)
            .order_by(FrameworkAgreement.reference)
        )
    )


async def _profile_facts(session: AsyncSession, tenant: Tenant) -> dict[str, Any]:
    central = await session.get(Central, tenant.central_id) if tenant.central_id else None
    return {
        "central": central,
        "agreements": await _tenant_agreements(session, tenant.id),
        "territory_label": _territory_label(tenant.territory),
    }


@get("/t/{tenant_id:uuid}")
async def tenant_home(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    """What needs attention in the tenant: every component's home cards (``app.shell.HomeCardHook``)."""
    if not tenant_ctx.can("read") and tenant_ctx.can("agent"):
        return see_other(f"/t/{tenant_ctx.tenant_id}/agent")
    tenant_ctx.require("read")
    tid = tenant_ctx.tenant_id
    home: Home = request.app.state.home
    sites = await db_session.scalar(select(func.count()).select_from(Site).where(Site.tenant_id == tid))
    members = await db_session.scalar(select(func.count()).select_from(Membership).where(Membership.tenant_id == tid))
    return render(
        request,
        "tenant_home.html",
        tenant_page(tenant_ctx, "home", sites_count=sites or 0, members_count=members or 0,
                     cards=await home.cards_for(db_session, tenant_ctx, utcnow()),
                     **await _profile_facts(db_session, tenant_ctx.tenant)),
    )


@get("/t/{tenant_id:uuid}/profil")
async def profile_view(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Template:
    tenant_ctx.require("read")
    return render(request, "tenant_profile.html", tenant_page(tenant_ctx, "home", **await _profile_facts(db_session, tenant_ctx.tenant)))


def _profile_fields(ctx: TenantContext) -> tuple[str, ...]:
    # Identifiers anchor the semester reports (per SIRET / per FINESS): only the
    # central's coordinator changes them.
    editable = services.TENANT_EDITABLE
    if ctx.role == Role.COORDINATOR:
        editable = (*editable, "siret", "finess")
    return tuple(k for k in editable if k != "region")


@get("/t/{tenant_id:uuid}/profil/modifier")
async def profile_edit(request: Request[Any, Any, Any], tenant_ctx: TenantContext) -> Template:
    tenant_ctx.require("manage_profile")
    tenant = tenant_ctx.tenant
    values = {k: getattr(tenant, k) or "" for k in _profile_fields(tenant_ctx)}
    return render(
        request,
        "tenant_profile_form.html",
        tenant_page(tenant_ctx, "home", values=values, errors={}, territories=TERRITORY_OPTIONS,
                     edit_identifiers="siret" in values),
    )


@post("/t/{tenant_id:uuid}/profil/modifier")
async def profile_update(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, data: Form
) -> Any:
    tenant_ctx.require("manage_profile")
    fields = _profile_fields(tenant_ctx)
    submitted = form_fields(data)
    values = {k: submitted.get(k, "") for k in fields}
    try:
        await services.update_tenant(db_session, tenant_ctx.tenant, values)
    except ValidationFailed as exc:
        return render(
            request,
            "tenant_profile_form.html",
            tenant_page(tenant_ctx, "home", values=values, errors=exc.errors, territories=TERRITORY_OPTIONS,
                         edit_identifiers="siret" in values),
            status=422,
        )
    flash(request, "Profil enregistré.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/profil")


# --------------------------------------------------------------------------- tenant: sites

SITE_FORM_FIELDS = services.SITE_FIELDS


def _site_values(site: Site | None) -> dict[str, Any]:
    if site is None:
        return {}  # building code left empty: the commune's next free one (CCTP CPAM 5-5-1)
    return {k: "" if getattr(site, k) is None else getattr(site, k) for k in SITE_FORM_FIELDS}


@get("/t/{tenant_id:uuid}/sites")
async def sites_list(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Template:
    tenant_ctx.require("read")
    sites = await services.list_sites(db_session, tenant_ctx.tenant_id)
    return render(request, "tenant_sites.html", tenant_page(tenant_ctx, "sites", sites=sites))


@get("/t/{tenant_id:uuid}/sites/nouveau")
async def site_new(request: Request[Any, Any, Any], tenant_ctx: TenantContext) -> Template:
    tenant_ctx.require("manage_sites")
    return render(request, "tenant_site_form.html", tenant_page(tenant_ctx, "sites", site=None, values=_site_values(None), errors={}))


@post("/t/{tenant_id:uuid}/sites/nouveau")
async def site_create(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, data: Form) -> Any:
    tenant_ctx.require("manage_sites")
    values = {k: v for k, v in form_fields(data).items() if k in SITE_FORM_FIELDS}
    try:
        site = await services.create_site(db_session, tenant_ctx.tenant_id, values)
    except ValidationFailed as exc:
        return render(request, "tenant_site_form.html",
                       tenant_page(tenant_ctx, "sites", site=None, values=values, errors=exc.errors), status=422)
    flash(request, f"Site « {site.name} » créé.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/sites/{site.id}")


@get("/t/{tenant_id:uuid}/sites/{site_id:uuid}")
async def site_detail(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, site_id: uuid.UUID) -> Template:
    tenant_ctx.require("read")
    site = await services.access_site(db_session, tenant_ctx.tenant_id, site_id)
    return render(request, "tenant_site_detail.html", tenant_page(tenant_ctx, "sites", site=site, errors={}))


@get("/t/{tenant_id:uuid}/sites/{site_id:uuid}/modifier")
async def site_edit(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, site_id: uuid.UUID) -> Template:
    tenant_ctx.require("manage_sites")
    site = await services.access_site(db_session, tenant_ctx.tenant_id, site_id)
    return render(request, "tenant_site_form.html", tenant_page(tenant_ctx, "sites", site=site, values=_site_values(site), errors={}))


@post("/t/{tenant_id:uuid}/sites/{site_id:uuid}/modifier")
async def site_update(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, site_id: uuid.UUID, data: Form
) -> Any:
    tenant_ctx.require("manage_sites")
    site = await services.access_site(db_session, tenant_ctx.tenant_id, site_id)
    values = {k: v for k, v in form_fields(data).items() if k in SITE_FORM_FIELDS}
    try:
        await services.update_site(db_session, site, values)
    except ValidationFailed as exc:
        return render(request, "tenant_site_form.html",
                       tenant_page(tenant_ctx, "sites", site=site, values=values, errors=exc.errors), status=422)
    flash(request, "Site enregistré.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/sites/{site.id}")


@post("/t/{tenant_id:uuid}/sites/{site_id:uuid}/supprimer")
async def site_delete(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, site_id: uuid.UUID
) -> Any:
    tenant_ctx.require("manage_sites")
    site = await services.access_site(db_session, tenant_ctx.tenant_id, site_id)
    name = site.name
    try:
        await services.delete_site(db_session, site)
    except ValidationFailed as exc:  # equipment still on the site: nothing was deleted
        return render(request, "tenant_site_detail.html", tenant_page(tenant_ctx, "sites", site=site, errors=exc.errors),
                       status=422)
    except IntegrityError:
        # Equipment of other components points at the site (composite foreign keys).
        await db_session.rollback()
        flash(request, f"Le site « {name} » ne peut pas être supprimé : des équipements y sont rattachés.")
        return see_other(f"/t/{tenant_ctx.tenant_id}/sites/{site_id}")
    flash(request, f"Site « {name} » supprimé.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/sites")


# --------------------------------------------------------------------------- tenant: users


def _perimeter_text(perimeter: services.ManagerPerimeter | None, site_names: dict[uuid.UUID, str]) -> str:
    """A responsable's perimeter in French, as the members list shows it."""
    if perimeter is None or perimeter.whole_tenant:
        return "Tout le bénéficiaire"
    parts = []
    if perimeter.site_ids:
        parts.append("Sites : " + ", ".join(sorted(site_names.get(s, "site supprimé") for s in perimeter.site_ids)))
    if perimeter.services:
        parts.append("Services : " + ", ".join(sorted(perimeter.services)))
    return " ; ".join(parts)


async def _members_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                        *, errors: dict[str, str] | None = None, status: int = 200) -> Template:
    members = await services.list_tenant_members(session, ctx.tenant_id)
    manages = ctx.can("manage_users")
    invitations = await services.list_pending_invitations(session, ctx.tenant_id) if manages else []
    # Removed in the last day: each one is given back its access in one step (« Réintégrer »).
    removed = await services.recent_removals(session, ctx.tenant_id, now=utcnow()) if manages else []
    emails = {str(u.id): u.email for u in await services.users_by_ids(
        session, [uuid.UUID(str(e.before["user_id"])) for e in removed])}
    # CCTP CPAM 5-5-5-3 « le responsable […] pour un site ou un service »: each member's service, each
    # responsable's perimeter (its sites by name, its services; none: the whole tenant).
    perimeters = await services.perimeters_of_members(session, ctx.tenant_id)
    site_names = {s.id: s.name for s in await services.list_sites(session, ctx.tenant_id)}
    return render(request, "tenant_members.html", tenant_page(
        ctx, "users", members=members, invitations=invitations, errors=errors or {},
        perimeters={m.user_id: _perimeter_text(perimeters.get(m.user_id), site_names)
                    for m in members if m.role == Role.MANAGER.value},
        removed=[{"event": e, "email": emails.get(str(e.before["user_id"]), ""), "role": e.before["role"]} for e in removed],
    ), status=status)


@get("/t/{tenant_id:uuid}/utilisateurs")
async def members_list(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Template:
    if not tenant_ctx.can("manage_users"):
        tenant_ctx.require("read")
    return await _members_page(request, tenant_ctx, db_session)


def _member_form(ctx: TenantContext, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return tenant_page(ctx, "users", values=values, errors=errors, roles=ROLE_OPTIONS)


@get("/t/{tenant_id:uuid}/utilisateurs/nouveau")
async def member_new(request: Request[Any, Any, Any], tenant_ctx: TenantContext, role: str = "viewer") -> Template:
    tenant_ctx.require("manage_users")
    return render(request, "tenant_member_form.html", _member_form(tenant_ctx, {"role": role}, {}))


@post("/t/{tenant_id:uuid}/utilisateurs/nouveau")
async def member_create(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, data: Form) -> Any:
    tenant_ctx.require("manage_users")
    submitted = form_fields(data)
    values = {k: submitted.get(k, "") for k in ("email", "full_name", "role")}
    # Passwords are not stripped: spaces may be part of them.
    password = str(data.get("password") or "")
    identity = tenant_ctx.identity
    try:
        enrolment = await services.enrol_member(
            db_session, tenant_ctx.tenant_id, {**values, "password": password or None}, invited_by=identity.email
        )
    except ValidationFailed as exc:
        return render(request, "tenant_member_form.html", _member_form(tenant_ctx, values, exc.errors), status=422)
    subject, body = services.enrolment_mail(request.app.state.settings.base_url, tenant_ctx.tenant.name,
                                   identity.full_name or identity.email, enrolment)
    # The job runs in its own transaction: commit first so that the link works at once.
    await db_session.commit()
    await request.app.state.jobs.enqueue(
        "send_email", to=enrolment.email, subject=subject, body=body, tenant_id=str(tenant_ctx.tenant_id)
    )
    # The same answer whether or not the address already had an account (no enumeration).
    flash(request, services.enrolment_message(enrolment))
    return see_other(f"/t/{tenant_ctx.tenant_id}/utilisateurs")


@post("/t/{tenant_id:uuid}/utilisateurs/invitations/{invitation_id:uuid}/annuler")
async def invitation_cancel(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, invitation_id: uuid.UUID
) -> Any:
    tenant_ctx.require("manage_users")
    row = await services.cancel_invitation(db_session, tenant_ctx.tenant_id, invitation_id)
    flash(request, f"Invitation de {row.user.email} annulée.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/utilisateurs")


@get("/invitations/{token:str}")
async def invitation_page(request: Request[Any, Any, Any], db_session: AsyncSession, token: str) -> Template:
    """The invitee, logged in with its own account, sees who invites it where, and answers."""
    identity = require_identity(request)
    row = await services.invitation_for(db_session, identity.user_id, token=token[:200])
    tenant = await db_session.get(Tenant, row.tenant_id)
    return render(request, "invitation.html", {"identity": identity, "invitation": row, "tenant_name": tenant.name if tenant else "",
                                                "role_label": Role(row.role).label, "action": f"/invitations/{token}"})


async def _answer_invitation(request: Request[Any, Any, Any], db_session: AsyncSession, row: Any, data: Form) -> Redirect:
    identity = require_identity(request)
    accept = form_fields(data).get("reponse") == "accepter"
    # Now inside the inviting tenant: the membership is written (and audited) there.
    scope_session(db_session, [row.tenant_id], actor=identity.actor)
    await services.answer_invitation(db_session, row.tenant_id, row.id, identity.user_id, accept=accept)
    tenant = await db_session.get(Tenant, row.tenant_id)
    name = tenant.name if tenant else "ce bénéficiaire"
    if not accept:
        flash(request, f"Vous avez refusé l'invitation de {name}.")
        return see_other("/compte")
    flash(request, f"Vous avez rejoint {name} avec le profil {Role(row.role).label}.")
    return see_other(f"/t/{row.tenant_id}")


@post("/invitations/{token:str}")
async def invitation_answer(request: Request[Any, Any, Any], db_session: AsyncSession, token: str, data: Form) -> Any:
    row = await services.invitation_for(db_session, require_identity(request).user_id, token=token[:200])
    return await _answer_invitation(request, db_session, row, data)


@post("/compte/invitations/{invitation_id:uuid}")
async def account_invitation_answer(
    request: Request[Any, Any, Any], db_session: AsyncSession, invitation_id: uuid.UUID, data: Form
) -> Any:
    """The same answer from « Mon compte », where pending invitations are listed."""
    row = await services.invitation_for(db_session, require_identity(request).user_id, invitation_id=invitation_id)
    return await _answer_invitation(request, db_session, row, data)


async def _member_edit_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                            membership: Membership, *, values: dict[str, Any] | None = None,
                            errors: dict[str, str] | None = None, status: int = 200) -> Template:
    """The profile form and, for a « responsable », its perimeter (CCTP CPAM 5-5-5-3: per site or service)."""
    perimeter = await services.manager_perimeter(session, ctx.tenant_id, membership.user_id)
    known = sorted(set(await services.member_services(session, ctx.tenant_id)) | perimeter.services)
    shown = values or {"role": membership.role, "service": membership.service,
                       "site_ids": [str(s) for s in perimeter.site_ids], "services": sorted(perimeter.services)}
    return render(request, "tenant_member_edit.html", tenant_page(
        ctx, "users", member=membership, values=shown, errors=errors or {}, roles=ROLE_OPTIONS,
        sites=await services.list_sites(session, ctx.tenant_id), services=known,
        is_manager=membership.role == Role.MANAGER.value), status=status)


@get("/t/{tenant_id:uuid}/utilisateurs/{user_id:uuid}/modifier")
async def member_edit(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, user_id: uuid.UUID) -> Template:
    tenant_ctx.require("manage_users")
    membership = await services.access_member(db_session, tenant_ctx.tenant_id, user_id)
    return await _member_edit_page(request, tenant_ctx, db_session, membership)


def _many(data: Form, name: str) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    return [str(v).strip()[:200] for v in (value if isinstance(value, list) else [value])][:200]


@post("/t/{tenant_id:uuid}/utilisateurs/{user_id:uuid}/perimetre")
async def member_perimeter(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, user_id: uuid.UUID, data: Form
) -> Any:
    """The admin sets a responsable's perimeter (CCTP CPAM 5-5-5-3): sites and services; none, the whole tenant."""
    tenant_ctx.require("manage_users")
    membership = await services.access_member(db_session, tenant_ctx.tenant_id, user_id)
    site_ids, wanted = _many(data, "site_id"), _many(data, "service")
    try:
        perimeter = await services.set_manager_perimeter(db_session, membership, site_ids, wanted)
    except ValidationFailed as exc:  # nothing written
        values = {"role": membership.role, "service": membership.service, "site_ids": site_ids, "services": wanted}
        return await _member_edit_page(request, tenant_ctx, db_session, membership, values=values, errors=exc.errors,
                                       status=422)
    flash(request, f"Périmètre de {membership.user.email} : " + (
        "tout le bénéficiaire." if perimeter.whole_tenant else
        f"{len(perimeter.site_ids)} site(s), {len(perimeter.services)} service(s)."))
    return see_other(f"/t/{tenant_ctx.tenant_id}/utilisateurs")


@post("/t/{tenant_id:uuid}/utilisateurs/{user_id:uuid}/modifier")
async def member_update(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, user_id: uuid.UUID, data: Form
) -> Any:
    tenant_ctx.require("manage_users")
    membership = await services.access_member(db_session, tenant_ctx.tenant_id, user_id)
    fields = form_fields(data)
    values = {"role": fields.get("role", ""), **({"service": fields["service"][:200]} if "service" in fields else {})}
    try:
        await services.update_member(db_session, membership, values)
    except ValidationFailed as exc:
        return await _member_edit_page(request, tenant_ctx, db_session, membership, values=values, errors=exc.errors,
                                       status=422)
    flash(request, f"Profil de {membership.user.email} : {Role(membership.role).label}.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/utilisateurs")


@post("/t/{tenant_id:uuid}/utilisateurs/{user_id:uuid}/retirer")
async def member_remove(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, user_id: uuid.UUID
) -> Any:
    tenant_ctx.require("manage_users")
    membership = await services.access_member(db_session, tenant_ctx.tenant_id, user_id)
    email = membership.user.email
    try:
        await services.remove_member(db_session, membership, by=tenant_ctx.identity.user_id)
    except ValidationFailed as exc:
        errors = {f"retirer-{user_id}": msg for msg in exc.errors.values()}
        return await _members_page(request, tenant_ctx, db_session, errors=errors, status=422)
    flash(request, f"{email} n'a plus accès à {tenant_ctx.tenant.name}. Vous pouvez le réintégrer pendant 24 heures "
                   "depuis cette page ou le journal.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/utilisateurs")


@get("/t/{tenant_id:uuid}/utilisateurs/{user_id:uuid}/retirer")
async def member_remove_confirm(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, user_id: uuid.UUID
) -> Template:
    """« Retirer » asks first, naming the person and what it loses; nobody removes itself."""
    tenant_ctx.require("manage_users")
    membership = await services.access_member(db_session, tenant_ctx.tenant_id, user_id)
    errors = {"user": services.CANNOT_REMOVE_YOURSELF} if user_id == tenant_ctx.identity.user_id else {}
    return render(request, "tenant_member_remove.html", tenant_page(tenant_ctx, "users", member=membership, errors=errors),
                  status=422 if errors else 200)


# --------------------------------------------------------------------------- tenant: outbox


@get("/t/{tenant_id:uuid}/courriels")
async def outbox(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, page: Page = 1) -> Template:
    """The embedded outbox: messages sent for this tenant or to one of its members."""
    tenant_ctx.require("outbox")
    tid = tenant_ctx.tenant_id
    emails = [m.user.email for m in await services.list_tenant_members(db_session, tid)]
    stmt = select(OutboxMessage).where(or_(OutboxMessage.tenant_id == tid, OutboxMessage.to.in_(emails)))
    total = await db_session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    per_page = 25
    page = max(1, page)
    rows = list(await db_session.scalars(
        stmt.order_by(OutboxMessage.created_at.desc()).offset((page - 1) * per_page).limit(per_page)
    ))
    found = Paged(rows, total, page, per_page)
    return render(
        request,
        "tenant_outbox.html",
        tenant_page(tenant_ctx, "outbox", messages=rows, found=found, paging=pager(f"/t/{tid}/courriels", {}, found)),
    )


# --------------------------------------------------------------------------- operator


@get("/operateur")
async def operator_home(request: Request[Any, Any, Any], operator_ctx: OperatorContext, db_session: AsyncSession,
                        beneficiaire: str = "") -> Template:
    """The titulaire's operator: one work queue across every tenant it serves, the most urgent
    first (each component's ``app.shell.WorkQueueHook``), without switching tenant."""
    home: Home = request.app.state.home
    now = utcnow()
    chosen = next((tid for tid in operator_ctx.tenants if str(tid) == beneficiaire.strip()), None)
    items = await home.work_queue(db_session, [chosen] if chosen else operator_ctx.tenant_ids, now)
    return render(
        request,
        "operator_home.html",
        operator_page(operator_ctx, "queue", items=items, tenants=operator_ctx.tenants, chosen=chosen,
                      cards=await home.cards_for(db_session, operator_ctx, now)),
        block="queue",
    )


# --------------------------------------------------------------------------- agent


#: Other components extend the agent home through their manifest's page hooks (``Web.page_hooks``)
#: under this name: a hook ``(request, ctx, session) -> dict`` returns extra template context; its
#: ``template`` key, if any, names a template that extends ``tenant_agent.html`` and fills its
#: ``agent_stations`` block (csms: stations and charge time).
AGENT_HOME = "agent_home"


@get("/t/{tenant_id:uuid}/agent")
async def agent_home(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Template:
    tenant_ctx.require("agent")
    sites = await services.list_sites(db_session, tenant_ctx.tenant_id)
    extra: dict[str, Any] = {}
    for hook in request.app.state.page_hooks.get(AGENT_HOME, []):
        extra.update(await hook(request, tenant_ctx, db_session))
    template = extra.pop("template", "tenant_agent.html")
    return render(request, template, tenant_page(tenant_ctx, "agent", sites=sites, **extra))


# --------------------------------------------------------------------------- account


async def _account_page(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    *,
    errors: dict[str, str] | None = None,
    new_token: str = "",
    token_name: str = "",
    status: int = 200,
) -> Template:
    identity = require_identity(request)
    tenants = {
        t.id: t for t in await session.scalars(select(Tenant).where(Tenant.id.in_(list(identity.tenant_roles))))
    } if identity.tenant_roles else {}
    memberships = sorted(
        ({"tenant": tenants[tid], "role": role} for tid, role in identity.tenant_roles.items() if tid in tenants),
        key=lambda m: m["tenant"].name,
    )
    centrals = list(
        await session.scalars(select(Central).where(Central.id.in_(list(identity.central_ids))).order_by(Central.name))
    ) if identity.central_ids else []
    tokens = list(
        await session.scalars(select(ApiToken).where(ApiToken.user_id == identity.user_id).order_by(ApiToken.created_at.desc()))
    )
    user = await session.get(User, identity.user_id)
    invitations = await services.invitations_of_user(session, identity.user_id)
    return render(
        request,
        "account.html",
        account_page(
            identity, "account", user=user, memberships=memberships, centrals=centrals, tokens=tokens,
            invitations=invitations, errors=errors or {}, new_token=new_token, token_name=token_name,
            now=utcnow(),
        ),
        status=status,
    )


@get("/compte")
async def account(request: Request[Any, Any, Any], db_session: AsyncSession) -> Template:
    return await _account_page(request, db_session)


@post("/compte/mot-de-passe")
async def account_password(request: Request[Any, Any, Any], db_session: AsyncSession, data: Form) -> Any:
    identity = require_identity(request)
    if identity.via_token:  # defensive: portals never authenticate by token
        raise NotFound("compte")
    current = str(data.get("current_password") or "")
    new = str(data.get("new_password") or "")
    confirm = str(data.get("new_password_confirm") or "")
    user = await db_session.get(User, identity.user_id)
    assert user is not None
    errors: dict[str, str] = {}
    if not verify_password(user.password_hash, current):
        errors["current_password"] = "Mot de passe actuel incorrect."  # noqa: S105 - a message, not a secret
    problem = password_problem(new)
    if problem:
        errors["new_password"] = problem
    elif new == current:
        errors["new_password"] = "Le nouveau mot de passe doit différer de l'actuel."  # noqa: S105 - a message, not a secret
    if new != confirm:
        errors["new_password_confirm"] = "Les deux mots de passe diffèrent."  # noqa: S105 - a message, not a secret
    if errors:
        return await _account_page(request, db_session, errors=errors, status=422)
    await services.change_password(db_session, user, new)
    # Every other session of this account ends; this one goes on under a new id and epoch.
    login_session(request, user)
    flash(request, "Votre mot de passe a été modifié ; vos autres sessions ont été fermées.")
    return see_other("/compte")


@post("/compte/jetons")
async def account_token_create(request: Request[Any, Any, Any], db_session: AsyncSession, data: Form) -> Template:
    """Create an API token and show it once: only its hash is kept, so it is never stored for a redirect."""
    identity = require_identity(request)
    name = str(data.get("token_name") or "").strip()
    days_raw = str(data.get("token_days") or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["token_name"] = "Donnez un nom au jeton (par exemple l'outil qui l'utilisera)."  # noqa: S105 - a message, not a secret
    elif len(name) > 100:
        errors["token_name"] = "Le nom du jeton ne doit pas dépasser 100 caractères."  # noqa: S105 - a message, not a secret
    days = None
    if days_raw:
        if not days_raw.isdigit() or not 1 <= int(days_raw) <= 730:
            errors["token_days"] = "Durée de validité invalide (de 1 à 730 jours, ou vide pour sans limite)."  # noqa: S105 - a message, not a secret
        else:
            days = int(days_raw)
    if errors:
        return await _account_page(request, db_session, errors=errors, token_name=name, status=422)
    user = await db_session.get(User, identity.user_id)
    assert user is not None
    _row, token = await services.create_api_token(db_session, user, name=name, days=days)
    return await _account_page(request, db_session, new_token=token, token_name=name)


@post("/compte/jetons/{token_id:uuid}/revoquer")
async def account_token_revoke(request: Request[Any, Any, Any], db_session: AsyncSession, token_id: uuid.UUID) -> Redirect:
    identity = require_identity(request)
    row = await services.revoke_api_token(db_session, identity.user_id, token_id)
    flash(request, f"Jeton « {row.name or row.prefix} » révoqué.")
    return see_other("/compte")


handlers: list[Any] = [
    central_home,
    central_beneficiaries,
    beneficiary_new,
    beneficiary_create,
    tenant_home,
    operator_home,
    profile_view,
    profile_edit,
    profile_update,
    sites_list,
    site_new,
    site_create,
    site_detail,
    site_edit,
    site_update,
    site_delete,
    members_list,
    member_new,
    member_create,
    invitation_cancel,
    invitation_page,
    invitation_answer,
    account_invitation_answer,
    member_edit,
    member_update,
    member_perimeter,
    member_remove,
    member_remove_confirm,
    outbox,
    agent_home,
    account,
    account_password,
    account_token_create,
    account_token_revoke,
]
