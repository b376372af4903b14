"""API v1 resources: tenants, sites, users, audit events, API tokens.

Each handler resolves its tenant through ``tenant_ctx`` (a tenant the caller holds
no role in is a 404), checks the same permission as the portal page
(``ctx.require``), and calls ``tenants.services``. Errors are
``application/problem+json``: 400 for an unreadable body or query, 403 for a
profile that may not act, 404 for what is absent or another tenant's, 422 with
``errors: {field: message}`` (French) for invalid data.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Router, delete, get, patch, post
from litestar.exceptions import ClientException, ValidationException
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page
from app.deps import require_identity
from app.shell import api_client_error, api_validation_error, error_responses
from tenants import services
from tenants.context import CentralContext, TenantContext
from tenants.schemas import (
    AuditEventOut,
    AuditPage,
    EnrolmentOut,
    InvitationOut,
    MemberCreate,
    MemberOut,
    MemberPatch,
    SiteCreate,
    SiteOut,
    SitePatch,
    TenantCreate,
    TenantOut,
    TenantPage,
    TenantPatch,
    TokenCreate,
    TokenCreated,
    TokenOut,
)

__all__ = ["handlers"]

TENANT = "/tenants/{tenant_id:uuid}"
TAG_TENANTS, TAG_SITES, TAG_USERS, TAG_AUDIT, TAG_TOKENS = "Bénéficiaires", "Sites", "Utilisateurs", "Journal", "Jetons"



ERR_AUTH, ERR_AUTH_BODY, ERR_MINE = error_responses(), error_responses(422), error_responses(404)
ERR_READ, ERR_WRITE = error_responses(403, 404), error_responses(403, 404, 422)
ERR_CENTRAL, ERR_CREATE_IN_CENTRAL = error_responses(404), error_responses(404, 422)


# --------------------------------------------------------------------------- tenants


@get(
    "/tenants", tags=[TAG_TENANTS], responses=ERR_AUTH, summary="Bénéficiaires accessibles",
    description="Les bénéficiaires dont l'appelant est membre, puis ceux des centrales qu'il coordonne, avec son profil.",
)
async def list_tenants(request: Request[Any, Any, Any], db_session: AsyncSession) -> list[TenantOut]:
    identity = require_identity(request)
    return [TenantOut.of(t, role) for t, role in await services.list_visible_tenants(db_session, identity)]


@get(TENANT, tags=[TAG_TENANTS], responses=ERR_READ, summary="Fiche d'un bénéficiaire")
async def read_tenant(tenant_ctx: TenantContext) -> TenantOut:
    # Any member may read the profile of its tenant (agents see its name in their portal).
    return TenantOut.of(tenant_ctx.tenant, tenant_ctx.role)


@patch(
    TENANT, tags=[TAG_TENANTS], responses=ERR_WRITE, summary="Modifier la fiche d'un bénéficiaire",
    description="Administrateur du bénéficiaire ou coordinateur de sa centrale. Seuls les champs envoyés changent.",
)
async def update_tenant(tenant_ctx: TenantContext, db_session: AsyncSession, data: TenantPatch) -> TenantOut:
    tenant_ctx.require("manage_profile")
    tenant = await services.update_tenant(db_session, tenant_ctx.tenant, data.provided())
    return TenantOut.of(tenant, tenant_ctx.role)


@post(
    "/centrals/{central_code:str}/tenants", tags=[TAG_TENANTS], responses=ERR_CREATE_IN_CENTRAL, summary="Créer un bénéficiaire (coordinateur)",
    description="Le bénéficiaire adhère aux accords-cadres de la centrale. SIRET ou FINESS obligatoire.",
)
async def create_beneficiary(central_ctx: CentralContext, db_session: AsyncSession, data: TenantCreate) -> TenantOut:
    tenant = await services.create_tenant(db_session, data.provided(), central=central_ctx.central)
    return TenantOut.of(tenant, "coordinator")


@get(
    "/centrals/{central_code:str}/tenants", tags=[TAG_TENANTS], responses=ERR_CENTRAL, summary="Rechercher les bénéficiaires d'une centrale",
    description="Recherche sur la raison sociale, le SIRET, le FINESS ou la ville ; 20 résultats par page.",
)
async def search_beneficiaries(
    central_ctx: CentralContext, db_session: AsyncSession, q: Annotated[str, Parameter(max_length=200)] = "", page: Page = 1
) -> TenantPage:
    result = await services.search_tenants(db_session, central_ctx.tenant_ids, q=q, page=page)
    return TenantPage(
        items=[TenantOut.of(t, "coordinator") for t in result.items], total=result.total, page=result.page,
        per_page=result.per_page, pages=result.pages,
    )


# --------------------------------------------------------------------------- sites


@get(f"{TENANT}/sites", tags=[TAG_SITES], responses=ERR_READ, summary="Sites du bénéficiaire")
async def list_sites(tenant_ctx: TenantContext, db_session: AsyncSession) -> list[SiteOut]:
    tenant_ctx.require("read")
    return [SiteOut.of(s) for s in await services.list_sites(db_session, tenant_ctx.tenant_id)]


@post(f"{TENANT}/sites", tags=[TAG_SITES], responses=ERR_WRITE, summary="Créer un site", description="Administrateur du bénéficiaire.")
async def create_site(tenant_ctx: TenantContext, db_session: AsyncSession, data: SiteCreate) -> SiteOut:
    tenant_ctx.require("manage_sites")
    return SiteOut.of(await services.create_site(db_session, tenant_ctx.tenant_id, data.provided()))


@get(f"{TENANT}/sites/{{site_id:uuid}}", tags=[TAG_SITES], responses=ERR_READ, summary="Un site")
async def read_site(tenant_ctx: TenantContext, db_session: AsyncSession, site_id: uuid.UUID) -> SiteOut:
    tenant_ctx.require("read")
    return SiteOut.of(await services.access_site(db_session, tenant_ctx.tenant_id, site_id))


@patch(f"{TENANT}/sites/{{site_id:uuid}}", tags=[TAG_SITES], responses=ERR_WRITE, summary="Modifier un site", description="Seuls les champs envoyés changent.")
async def update_site(tenant_ctx: TenantContext, db_session: AsyncSession, site_id: uuid.UUID, data: SitePatch) -> SiteOut:
    tenant_ctx.require("manage_sites")
    site = await services.access_site(db_session, tenant_ctx.tenant_id, site_id)
    return SiteOut.of(await services.update_site(db_session, site, data.provided()))


@delete(f"{TENANT}/sites/{{site_id:uuid}}", tags=[TAG_SITES], responses=ERR_READ, summary="Supprimer un site")
async def delete_site(tenant_ctx: TenantContext, db_session: AsyncSession, site_id: uuid.UUID) -> None:
    tenant_ctx.require("manage_sites")
    await services.delete_site(db_session, await services.access_site(db_session, tenant_ctx.tenant_id, site_id))


# --------------------------------------------------------------------------- users


async def _member_out(db_session: AsyncSession, membership: Any, perimeters: dict[uuid.UUID, Any] | None = None
                      ) -> MemberOut:
    # The account is in the identity map already: no lazy load outside the event loop's greenlet.
    user = await services.get_user(db_session, membership.user_id)
    if perimeters is None:
        perimeters = await services.perimeters_of_members(db_session, membership.tenant_id)
    return MemberOut.of(membership, user, perimeters.get(membership.user_id))


@get(f"{TENANT}/users", tags=[TAG_USERS], responses=ERR_READ, summary="Membres du bénéficiaire et leur profil",
     description="Avec le service de chacun et, pour un responsable, son périmètre de validation des badges "
                 "(sites et services ; aucun : tout le bénéficiaire, CCTP CPAM 5-5-5-3).")
async def list_users(tenant_ctx: TenantContext, db_session: AsyncSession) -> list[MemberOut]:
    tenant_ctx.require("read")
    perimeters = await services.perimeters_of_members(db_session, tenant_ctx.tenant_id)
    return [await _member_out(db_session, m, perimeters)
            for m in await services.list_tenant_members(db_session, tenant_ctx.tenant_id)]


@post(
    f"{TENANT}/users", tags=[TAG_USERS], responses=ERR_WRITE, summary="Ajouter un membre", status_code=202,
    description=(
        "Crée le compte si l'adresse est nouvelle et lui donne le profil ; un compte existant est seulement "
        "invité et ne rejoint le bénéficiaire qu'après avoir accepté le lien reçu par e-mail. La réponse est "
        "la même dans les deux cas (elle ne dit pas si l'adresse a déjà un compte)."
    ),
)
async def add_user(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                   data: MemberCreate) -> EnrolmentOut:
    tenant_ctx.require("manage_users")
    identity = tenant_ctx.identity
    enrolment = await services.enrol_member(db_session, tenant_ctx.tenant_id, data.provided(), invited_by=identity.email)
    subject, body = services.enrolment_mail(request.app.state.settings.base_url, tenant_ctx.tenant.name,
                                            identity.full_name or identity.email, enrolment)
    await db_session.commit()  # the job runs in its own transaction: the link must work at once
    await request.app.state.jobs.enqueue(
        "send_email", to=enrolment.email, subject=subject, body=body, tenant_id=str(tenant_ctx.tenant_id)
    )
    return EnrolmentOut(email=enrolment.email, role=enrolment.role.value, role_label=enrolment.role.label,
                        message=services.enrolment_message(enrolment))


@get(f"{TENANT}/invitations", tags=[TAG_USERS], responses=ERR_READ, summary="Invitations en attente")
async def list_invitations(tenant_ctx: TenantContext, db_session: AsyncSession) -> list[InvitationOut]:
    tenant_ctx.require("manage_users")
    return [InvitationOut.of(r) for r in await services.list_pending_invitations(db_session, tenant_ctx.tenant_id)]


@delete(f"{TENANT}/invitations/{{invitation_id:uuid}}", tags=[TAG_USERS], responses=ERR_WRITE,
        summary="Annuler une invitation")
async def cancel_invitation(tenant_ctx: TenantContext, db_session: AsyncSession, invitation_id: uuid.UUID) -> None:
    tenant_ctx.require("manage_users")
    await services.cancel_invitation(db_session, tenant_ctx.tenant_id, invitation_id)


@get(f"{TENANT}/users/{{user_id:uuid}}", tags=[TAG_USERS], responses=ERR_READ, summary="Un membre")
async def read_user(tenant_ctx: TenantContext, db_session: AsyncSession, user_id: uuid.UUID) -> MemberOut:
    tenant_ctx.require("read")
    return await _member_out(db_session, await services.access_member(db_session, tenant_ctx.tenant_id, user_id))


@patch(f"{TENANT}/users/{{user_id:uuid}}", tags=[TAG_USERS], responses=ERR_WRITE,
       summary="Changer le profil, le nom, le service ou le périmètre d'un membre",
       description="`perimeter` (`site_ids`, `services`) : le périmètre de validation des badges d'un responsable "
                   "(CCTP CPAM 5-5-5-3), remplacé en entier ; vide : tout le bénéficiaire. Un site inconnu, un service "
                   "qu'aucun membre ne porte ou un profil autre que responsable : 422, rien n'est modifié.")
async def update_user(tenant_ctx: TenantContext, db_session: AsyncSession, user_id: uuid.UUID, data: MemberPatch) -> MemberOut:
    tenant_ctx.require("manage_users")
    membership = await services.access_member(db_session, tenant_ctx.tenant_id, user_id)
    values = data.provided()
    perimeter = values.pop("perimeter", None)
    membership = await services.update_member(db_session, membership, values)
    if perimeter is not None:
        # The page's validation (and audit: one journal row per site or service added or removed); a refusal
        # rolls the whole request back, the profile change with it.
        await services.set_manager_perimeter(db_session, membership, perimeter.site_ids, perimeter.services)
    return await _member_out(db_session, membership)


@delete(
    f"{TENANT}/users/{{user_id:uuid}}", tags=[TAG_USERS], responses=ERR_WRITE, summary="Retirer un membre",
    description="Retire le profil dans ce bénéficiaire ; le compte et ses autres profils restent.",
)
async def remove_user(tenant_ctx: TenantContext, db_session: AsyncSession, user_id: uuid.UUID) -> None:
    tenant_ctx.require("manage_users")
    await services.remove_member(db_session, await services.access_member(db_session, tenant_ctx.tenant_id, user_id),
                                 by=tenant_ctx.identity.user_id)


# --------------------------------------------------------------------------- audit


def _instant(value: dt.datetime | None, tz: str) -> dt.datetime | None:
    """An instant without offset is read in the tenant's time zone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=ZoneInfo(tz))


@get(
    f"{TENANT}/audit-events", tags=[TAG_AUDIT], responses=ERR_READ, summary="Journal des modifications",
    description=(
        "Qui a changé quoi, quand, avant et après ; du plus récent au plus ancien, 50 par page. "
        "Les dates sans fuseau sont lues dans le fuseau du bénéficiaire."
    ),
)
async def list_audit_events(
    request: Request[Any, Any, Any],
    tenant_ctx: TenantContext,
    db_session: AsyncSession,
    entity: Annotated[str, Parameter(max_length=64, description="Table concernée (sites, memberships…)")] = "",
    action: Annotated[str, Parameter(max_length=16, description="create, update, delete…")] = "",
    actor: Annotated[str, Parameter(max_length=320, description="Partie de l'adresse de l'auteur")] = "",
    since: Annotated[dt.datetime | None, Parameter(description="À partir de (inclus)")] = None,
    until: Annotated[dt.datetime | None, Parameter(description="Jusqu'à (exclu)")] = None,
    page: Page = 1,
) -> AuditPage:
    tenant_ctx.require("audit")
    tz = tenant_ctx.tenant.timezone
    result = await services.list_audit_events(
        db_session, tenant_ctx.tenant_id,
        services.AuditFilter(entity=entity, action=action, actor=actor, since=_instant(since, tz), until=_instant(until, tz),
                             excluded=request.app.state.audit_reader.hidden_entities(tenant_ctx.can)),
        page=page,
    )
    return AuditPage(
        items=[AuditEventOut.of(e) for e in result.items], total=result.total, page=result.page,
        per_page=result.per_page, pages=result.pages,
    )


# --------------------------------------------------------------------------- tokens


@get("/tokens", tags=[TAG_TOKENS], responses=ERR_AUTH, summary="Mes jetons d'API", description="Le secret n'est jamais renvoyé.")
async def list_tokens(request: Request[Any, Any, Any], db_session: AsyncSession) -> list[TokenOut]:
    identity = require_identity(request)
    return [TokenOut.of(t) for t in await services.list_api_tokens(db_session, identity.user_id)]


@post(
    "/tokens", tags=[TAG_TOKENS], responses=ERR_AUTH_BODY, summary="Créer un jeton d'API",
    description="Le jeton agit avec les profils de son compte. Il est renvoyé en clair une seule fois.",
)
async def create_token(request: Request[Any, Any, Any], db_session: AsyncSession, data: TokenCreate) -> TokenCreated:
    identity = require_identity(request)
    user = await services.get_user(db_session, identity.user_id)
    row, token = await services.create_api_token(db_session, user, name=data.name.strip(), days=data.days)
    return TokenCreated(**msgspec.structs.asdict(TokenOut.of(row)), token=token)


@delete("/tokens/{token_id:uuid}", tags=[TAG_TOKENS], responses=ERR_MINE, summary="Révoquer un jeton")
async def revoke_token(request: Request[Any, Any, Any], db_session: AsyncSession, token_id: uuid.UUID) -> None:
    identity = require_identity(request)
    await services.revoke_api_token(db_session, identity.user_id, token_id)


handlers: list[Any] = [
    Router(
        path="/",
        route_handlers=[
            list_tenants, read_tenant, update_tenant, create_beneficiary, search_beneficiaries,
            list_sites, create_site, read_site, update_site, delete_site,
            list_users, add_user, read_user, update_user, remove_user, list_invitations, cancel_invitation,
            list_audit_events,
            list_tokens, create_token, revoke_token,
        ],
        exception_handlers={ValidationException: api_validation_error, ClientException: api_client_error},
    )
]
