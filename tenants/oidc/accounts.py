"""Which Centrale account an OpenID Connect identity opens: matching by e-mail within the
provider's scope, and just-in-time provisioning by SIRET (see ``tenants.oidc``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import scope_session, unscoped
from app.errors import ValidationFailed
from tenants.models import CentralMembership, Membership, OidcProvider, Tenant, User
from tenants.oidc.protocol import Refused, full_name, siret_claim
from tenants.oidc.providers import JIT_ROLES


async def _allowed_tenant_ids(session: AsyncSession, provider: OidcProvider) -> set[uuid.UUID] | None:
    """The tenants a scoped provider serves; None for a platform-wide provider."""
    from tenants.services import tenant_ids_of_central

    if provider.tenant_id is not None:
        return {provider.tenant_id}
    if provider.central_id is not None:
        return set(await tenant_ids_of_central(session, provider.central_id))
    return None


async def _user_in_scope(session: AsyncSession, provider: OidcProvider, user: User, allowed: set[uuid.UUID] | None) -> bool:
    if allowed is None:
        return True
    with unscoped(session):
        if allowed and await session.scalar(
            select(exists().where(Membership.user_id == user.id, Membership.tenant_id.in_(allowed)))
        ):
            return True
        if provider.central_id is None:
            return False
        return bool(await session.scalar(
            select(exists().where(CentralMembership.user_id == user.id, CentralMembership.central_id == provider.central_id))
        ))


def _no_account(email: str) -> Refused:
    return Refused(
        f"Aucun compte Centrale n'est associé à {email} ; "
        "demandez à l'administrateur de votre structure de vous inviter.",
        reason=f"no account for {email}",
    )


async def _provision(
    session: AsyncSession, provider: OidcProvider, claims: dict[str, Any], email: str, allowed: set[uuid.UUID] | None
) -> User:
    """Just-in-time account: only with a configured role and the SIRET of a tenant the provider serves."""
    from tenants import services

    role = (provider.settings or {}).get("jit_role")
    siret = siret_claim(claims)
    if not role or role not in {r.value for r in JIT_ROLES} or not siret or not allowed:
        raise _no_account(email)
    tenant = await session.scalar(select(Tenant).where(Tenant.siret == siret))
    if tenant is None or tenant.id not in allowed or not tenant.is_active:
        raise Refused(
            f"Aucun compte Centrale n'est associé à {email} et le SIRET de votre structure ({siret}) "
            f"n'ouvre pas de compte automatiquement avec {provider.name} ; "
            "demandez à l'administrateur de votre structure de vous inviter.",
            reason=f"JIT refused for {email}: siret {siret} not served by {provider.slug}",
        )
    scope_session(session, [tenant.id], actor={"user_id": None, "label": f"{email} (création via {provider.name})"})
    try:
        return await services.create_user(
            session, email=email, full_name=full_name(claims), role=role, tenant_id=tenant.id
        )
    except ValidationFailed as exc:
        raise Refused("Votre compte n'a pas pu être créé : " + "; ".join(exc.errors.values()), reason=str(exc)) from exc


async def account_for(session: AsyncSession, provider: OidcProvider, claims: dict[str, Any]) -> User:
    from tenants import services

    email = str(claims.get("email") or "").strip().lower()
    if not email or "@" not in email:
        raise Refused(
            f"{provider.name} n'a pas transmis votre adresse électronique ; Centrale ne peut pas vous identifier.",
            reason="no email claim",
        )
    if claims.get("email_verified") is False:
        raise Refused(f"{provider.name} indique que votre adresse électronique n'est pas vérifiée.", reason="email not verified")
    allowed = await _allowed_tenant_ids(session, provider)
    user = await services.find_user_by_email(session, email)
    if user is None:
        return await _provision(session, provider, claims, email, allowed)
    if not user.is_active:
        raise Refused("Votre compte Centrale est désactivé ; contactez l'administrateur de votre structure.", reason=f"{email} inactive")
    # From here the request acts as this user: on PostgreSQL, RLS shows a user their own memberships.
    scope_session(session, None, actor={"user_id": user.id, "label": user.email})
    if not await _user_in_scope(session, provider, user, allowed):
        raise Refused(
            f"Votre compte Centrale ({email}) n'est pas ouvert à la connexion avec {provider.name} ; "
            "utilisez votre mot de passe ou le fournisseur d'identité de votre structure.",
            reason=f"{email} outside the scope of {provider.slug}",
        )
    if not user.full_name:
        user.full_name = full_name(claims)
    return user
