"""The services of ``billing`` (issue 15 §3): the titulaire's identity as an invoice issuer per framework agreement,
the buyer's billing profile (CCP TGD IX.6, Chorus Pro), and the invoices' reads other components (reporting) call.
The invoices' workflow is ``billing.invoices``. Plain async functions on an open session.

``billing`` reaches purchase orders only through ``catalog.services`` (``billable_order``, ``orders_to_invoice``),
never their tables.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of, utcnow
from app.errors import NotFound, ValidationFailed
from billing.models import BillingIssuer, BillingProfile
from catalog import services as catalog
from tenants.identifiers import InvalidIdentifier, validate_siret, validate_vat_fr
from tenants.models import FrameworkAgreement

__all__ = [
    "ISSUER_FIELDS",
    "BillingError",
    "agreement_in_reach",
    "issuer_missing",
    "issuer_of_agreement",
    "issuers_of_tenant",
    "lock_profile",
    "profile_of_tenant",
    "update_issuer",
    "update_profile",
]

#: The issuer's fields, their French labels and bounds (EN 16931 BT-27, BT-30, BT-31, BT-35, BT-38, BT-37, BT-40).
ISSUER_FIELDS: dict[str, tuple[str, int]] = {
    "legal_name": ("Raison sociale", 200),
    "siret": ("SIRET", 14),
    "vat_number": ("Numéro de TVA intracommunautaire", 20),
    "address": ("Adresse", 300),
    "postal_code": ("Code postal", 10),
    "city": ("Ville", 120),
}


class BillingError(ValidationFailed):
    """Bad input or a refused step: French messages by field, nothing changed."""


# --------------------------------------------------------------------------- the issuer (per agreement)


async def agreement_in_reach(session: AsyncSession, tenant_id: uuid.UUID, agreement_id: uuid.UUID) -> FrameworkAgreement:
    """The agreement if the tenant subscribes to it; ``NotFound`` otherwise."""
    agreement: FrameworkAgreement = await catalog.agreement_of_tenant(session, tenant_id, agreement_id)
    return agreement


async def issuer_of_agreement(session: AsyncSession, agreement_id: uuid.UUID) -> BillingIssuer | None:
    return await session.scalar(select(BillingIssuer).where(BillingIssuer.agreement_id == agreement_id))


async def issuers_of_tenant(session: AsyncSession,
                            tenant_id: uuid.UUID) -> list[tuple[FrameworkAgreement, BillingIssuer | None]]:
    """The agreements the tenant subscribes to, each with its issuer's identity (None when not filled yet)."""
    agreements = await catalog.agreements_of_tenant(session, tenant_id)
    if not agreements:
        return []
    issuers = {i.agreement_id: i for i in await session.scalars(
        select(BillingIssuer).where(BillingIssuer.agreement_id.in_([a.id for a in agreements])))}
    return [(a, issuers.get(a.id)) for a in agreements]


def issuer_missing(issuer: BillingIssuer | None) -> list[str]:
    """What an invoice of this issuer would lack (French labels), [] when complete."""
    if issuer is None:
        return [label for label, _ in ISSUER_FIELDS.values()]
    return [label for key, (label, _) in ISSUER_FIELDS.items() if not (getattr(issuer, key) or "").strip()]


async def update_issuer(session: AsyncSession, tenant_id: uuid.UUID, agreement_id: uuid.UUID,
                        data: Mapping[str, Any], *, now: dt.datetime | None = None) -> BillingIssuer:
    """The issuer's identity of an agreement the tenant subscribes to (``NotFound`` otherwise), every field given
    checked (SIRET with its Luhn key, French VAT number with its key); ``BillingError`` per field, nothing
    written. Invoices already issued keep the identity they were issued with."""
    agreement = await agreement_in_reach(session, tenant_id, agreement_id)
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    for key, (label, limit) in ISSUER_FIELDS.items():
        raw = data.get(key, "")
        text = raw.strip() if isinstance(raw, str) else ""
        if raw not in (None, "") and not isinstance(raw, str):
            errors[key] = f"{label} : texte attendu."
            continue
        if not text:
            errors[key] = f"{label} : obligatoire sur une facture (EN 16931)."
            continue
        try:
            if key == "siret":
                text = validate_siret(text)
            elif key == "vat_number":
                text = validate_vat_fr(text)
        except InvalidIdentifier as exc:
            errors[key] = str(exc)
            continue
        if len(text) > limit:
            errors[key] = f"{label} : {limit} caractères au plus."
            continue
        values[key] = text
    if errors:
        raise BillingError(errors)
    issuer = await issuer_of_agreement(session, agreement.id)
    if issuer is None:
        issuer = BillingIssuer(agreement_id=agreement.id)
        session.add(issuer)
    for key, value in values.items():
        setattr(issuer, key, value)
    issuer.updated_at = now or utcnow()
    issuer.updated_by = str(actor_of(session).get("label") or "")[:320]
    await session.flush()
    return issuer


# --------------------------------------------------------------------------- the buyer's profile (IX.6)


async def profile_of_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> BillingProfile:
    """The tenant's billing profile; an unsaved default (an engagement number required, no service code) when it
    has none yet."""
    profile = await session.scalar(select(BillingProfile).where(BillingProfile.tenant_id == tenant_id))
    return profile or BillingProfile(tenant_id=tenant_id, requires_service_code=False, requires_engagement=True,
                                     service_code="")


async def lock_profile(session: AsyncSession, tenant_id: uuid.UUID) -> BillingProfile:
    """The tenant's profile, created if missing, locked (``FOR UPDATE`` on PostgreSQL) for the transaction: the
    invoicing of a tenant is serialised on it, so two drafts never take the same accepted quantity and two
    issues of one invoice never both number it."""
    query = select(BillingProfile).where(BillingProfile.tenant_id == tenant_id)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    profile = await session.scalar(query)
    if profile is None:
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        make = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
        await session.execute(make(BillingProfile).values(
            id=uuid.uuid4(), tenant_id=tenant_id, requires_service_code=False, requires_engagement=True,
            service_code="", updated_at=utcnow()).on_conflict_do_nothing(index_elements=["tenant_id"]))
        profile = await session.scalar(query)
    if profile is None:  # pragma: no cover (inserted above or by a concurrent transaction)
        raise NotFound("profil de facturation")
    return profile


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "oui", "yes")
    return bool(value)


async def update_profile(session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any], *,
                         now: dt.datetime | None = None) -> BillingProfile:
    """The buyer's billing profile: ``requires_service_code``, ``requires_engagement``, ``service_code`` (required
    when it requires one; 100 characters at most, Chorus Pro's bound). ``BillingError`` per field, nothing written."""
    errors: dict[str, str] = {}
    raw = data.get("service_code", "")
    code = raw.strip() if isinstance(raw, str) else ""
    requires_code = _flag(data.get("requires_service_code"))
    if raw not in (None, "") and not isinstance(raw, str):
        errors["service_code"] = "Code service : texte attendu."
    elif len(code) > 100:
        errors["service_code"] = "Code service : 100 caractères au plus."
    elif requires_code and not code:
        errors["service_code"] = ("Code service : obligatoire quand la structure l'exige (Chorus Pro), sinon vos "
                                  "factures seraient refusées.")
    if errors:
        raise BillingError(errors)
    profile = await lock_profile(session, tenant_id)
    profile.requires_service_code = requires_code
    profile.requires_engagement = _flag(data.get("requires_engagement"))
    profile.service_code = code
    profile.updated_at = now or utcnow()
    await session.flush()
    return profile
