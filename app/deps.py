"""Litestar providers: the request's database session and the tenant it acts in.

The tenant is resolved once per request by ``provide_tenant_context`` from the URL
(``{tenant_id}``) and a membership check, never from state remembered on the user.
A tenant the caller has no role in is a 404, like a tenant that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import identity_of
from app.db import Database, scope_session
from app.errors import Forbidden, NotFound
from tenants.models import Central, FrameworkAgreement, Role, Subscription, Tenant
from tenants.services import Identity, tenant_ids_of_central

__all__ = ["CentralContext", "TenantContext", "dependencies"]

#: What each role may do in a tenant. Coordinators manage the beneficiaries of their
#: agreements (profile, users) and read everything; viewers only read. ``operate_stations``:
#: remote commands to charging stations (csms.commands).
PERMISSIONS: dict[str, frozenset[str]] = {
    Role.ADMIN: frozenset({"read", "manage_sites", "manage_users", "manage_profile", "audit", "outbox", "agent",
                           "operate_stations", "manage_badges"}),
    Role.COORDINATOR: frozenset({"read", "manage_users", "manage_profile", "audit", "outbox"}),
    Role.VIEWER: frozenset({"read"}),
    # The titulaire's technicians run remote commands on the stations (DESIGN.md « Operator »)
    # and set up the users' badges: « Le Titulaire devra effectuer le paramétrage des données
    # nécessaires pour chaque Utilisateur » (CCTP CPAM 5-5-5-3).
    Role.OPERATOR: frozenset({"read", "operate_stations", "manage_badges"}),
    Role.AGENT: frozenset({"agent"}),
}


@dataclass
class TenantContext:
    tenant: Tenant
    role: str
    identity: Identity

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.tenant.id

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise Forbidden("Votre profil ne permet pas cette action.")

    @property
    def role_label(self) -> str:
        return Role(self.role).label


@dataclass
class CentralContext:
    central: Central
    tenant_ids: list[uuid.UUID]
    identity: Identity


async def provide_db_session(state: State, request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """One session per request; committed when the handler succeeds, rolled back otherwise."""
    db: Database = state.db
    identity = identity_of(request)
    session = db.session(None, actor=identity.actor if identity else None)
    try:
        yield session
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()


def require_identity(request: Request[Any, Any, Any]) -> Identity:
    identity = identity_of(request)
    if identity is None:
        raise NotAuthorizedException("Authentification requise.")
    return identity


async def role_in_tenant(session: AsyncSession, identity: Identity, tenant_id: uuid.UUID) -> str | None:
    role = identity.tenant_roles.get(tenant_id)
    if role is not None or not identity.central_ids:
        return role
    centrals = list(identity.central_ids)
    via_agreement = await session.scalar(
        select(
            exists()
            .where(Subscription.tenant_id == tenant_id)
            .where(Subscription.agreement_id == FrameworkAgreement.id)
            .where(FrameworkAgreement.central_id.in_(centrals))
        )
    )
    direct = await session.scalar(select(exists().where(Tenant.id == tenant_id, Tenant.central_id.in_(centrals))))
    return Role.COORDINATOR.value if (via_agreement or direct) else None


async def provide_tenant_context(
    tenant_id: uuid.UUID, request: Request[Any, Any, Any], db_session: AsyncSession
) -> TenantContext:
    identity = require_identity(request)
    role = await role_in_tenant(db_session, identity, tenant_id)
    if role is None:
        raise NotFound("bénéficiaire")
    scope_session(db_session, [tenant_id], actor=identity.actor)
    tenant = await db_session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("bénéficiaire")
    return TenantContext(tenant=tenant, role=role, identity=identity)


async def provide_central_context(
    central_code: str, request: Request[Any, Any, Any], db_session: AsyncSession
) -> CentralContext:
    identity = require_identity(request)
    central = await db_session.scalar(select(Central).where(Central.code == central_code.upper()))
    if central is None or central.id not in identity.central_ids:
        raise NotFound("centrale")
    tenant_ids = await tenant_ids_of_central(db_session, central.id)
    # Rule 3: a coordinator's scope is the explicit list of its beneficiaries.
    scope_session(db_session, tenant_ids, actor=identity.actor)
    return CentralContext(central=central, tenant_ids=tenant_ids, identity=identity)


dependencies = {
    "db_session": Provide(provide_db_session),
    "tenant_ctx": Provide(provide_tenant_context),
    "central_ctx": Provide(provide_central_context),
}
