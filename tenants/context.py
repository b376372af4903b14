"""The tenant (or central) a request acts in, and what the caller's role may do there.

The tenant is resolved once per request by ``provide_tenant_context`` from the URL
(``{tenant_id}``) and a membership check, never from state remembered on the user.
A tenant the caller has no role in is a 404, like a tenant that does not exist.

Permissions live in the kernel's registry (``app.permissions``): ``TENANT_PERMISSIONS``
are the roles' own (reading the tenant, managing sites and users…), granted through
this component's manifest like every other component's (csms's ``operate_stations``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.di import Provide
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import scope_session
from app.deps import require_identity
from app.errors import Forbidden, NotFound
from app.permissions import allowed
from tenants.models import Central, FrameworkAgreement, Role, Subscription, Tenant
from tenants.services import Identity, tenant_ids_of_central

__all__ = [
    "TENANT_PERMISSIONS",
    "CentralContext",
    "OperatorContext",
    "TenantContext",
    "dependencies",
    "operator_tenant_ids",
    "role_in_tenant",
]

#: What each role may do in a tenant, as far as ``tenants`` goes. Coordinators manage the
#: beneficiaries of their agreements (profile, users) and read everything; viewers only read;
#: the titulaire's operator reads; agents have their own space; the manager (« responsable ») reads; the TGD teleassistance reads (its own
#: permission, ``tgd_files``, comes from ``assets``).
TENANT_PERMISSIONS: dict[str, frozenset[str]] = {
    # ``reversibility``: the tenant's complete export (issue 16 §1), its admin's alone.
    Role.ADMIN: frozenset({"read", "manage_sites", "manage_users", "manage_profile", "audit", "outbox", "agent",
                           "reversibility"}),
    Role.COORDINATOR: frozenset({"read", "manage_users", "manage_profile", "audit", "outbox"}),
    Role.VIEWER: frozenset({"read"}),
    Role.OPERATOR: frozenset({"read"}),
    Role.AGENT: frozenset({"agent"}),
    Role.TGD: frozenset({"read"}),
    Role.MANAGER: frozenset({"read"}),
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
        return allowed(self.role, permission)

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


@dataclass
class OperatorContext:
    """The titulaire's operator across every tenant it serves (its work queue): the tenants
    where it holds the operator role, published on the session as its explicit scope."""

    identity: Identity
    tenants: dict[uuid.UUID, Tenant]

    @property
    def tenant_ids(self) -> list[uuid.UUID]:
        return list(self.tenants)


def operator_tenant_ids(identity: Identity) -> list[uuid.UUID]:
    """The tenants where the caller is the titulaire's operator (sorted, stable)."""
    return sorted(tid for tid, role in identity.tenant_roles.items() if role == Role.OPERATOR)


async def provide_operator_context(request: Request[Any, Any, Any], db_session: AsyncSession) -> OperatorContext:
    identity = require_identity(request)
    tenant_ids = operator_tenant_ids(identity)
    if not tenant_ids:
        raise NotFound("espace opérateur")
    # Like a coordinator's (rule 3): the scope is the explicit list of the operator's tenants.
    scope_session(db_session, tenant_ids, actor=identity.actor)
    tenants = {t.id: t for t in await db_session.scalars(select(Tenant).where(Tenant.id.in_(tenant_ids)).order_by(Tenant.name))}
    return OperatorContext(identity=identity, tenants=tenants)


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
    "tenant_ctx": Provide(provide_tenant_context),
    "central_ctx": Provide(provide_central_context),
    "operator_ctx": Provide(provide_operator_context),
}
