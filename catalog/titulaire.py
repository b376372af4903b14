"""The titulaire's operator and the framework agreements it holds (issue 14 §1: « The coordinator (or the
titulaire's operator for the agreement) imports a version »; CCTP CANUT 5.1.2 « le catalogue pourra évoluer sur
la proposition du Titulaire »).

An operator holds an agreement when it is the titulaire's operator (role ``operator``) of a beneficiary that
subscribes to it: the same operators ``catalog.orders`` notifies of that beneficiary's orders. It imports the
agreement's BPU versions and records its own solution proposals; the central's coordinators still approve and
withdraw them. The caller passes the operator's tenants (``tenants.context.operator_tenant_ids``). An agreement
it does not hold is ``NotFound``, like one that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from tenants.models import FrameworkAgreement, Subscription

__all__ = ["agreement_of_operator", "agreements_of_operator"]


async def agreements_of_operator(session: AsyncSession, tenant_ids: Collection[uuid.UUID]) -> list[FrameworkAgreement]:
    """The agreements subscribed to by the beneficiaries the operator serves, by reference, each once."""
    if not tenant_ids:
        return []
    return list(await session.scalars(
        select(FrameworkAgreement).where(FrameworkAgreement.id.in_(
            select(Subscription.agreement_id).where(Subscription.tenant_id.in_(list(tenant_ids)))))
        .order_by(FrameworkAgreement.reference)))


async def agreement_of_operator(session: AsyncSession, tenant_ids: Collection[uuid.UUID],
                                agreement_id: uuid.UUID) -> FrameworkAgreement:
    """The agreement if one of the operator's beneficiaries subscribes to it; ``NotFound`` otherwise."""
    if tenant_ids:
        agreement = await session.scalar(
            select(FrameworkAgreement).where(FrameworkAgreement.id == agreement_id, FrameworkAgreement.id.in_(
                select(Subscription.agreement_id).where(Subscription.tenant_id.in_(list(tenant_ids))))))
        if agreement is not None:
            return agreement
    raise NotFound("accord-cadre")
