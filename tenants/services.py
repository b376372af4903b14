"""Workflows on centrals, beneficiaries, sites, users and tokens.

Plain async functions named for the action; portals, API and CLI all call these.
Every function validates its whole input first and raises ``ValidationFailed``
with French messages per field before writing anything.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import AuditEvent
from app.bounds import text_value
from app.db import scope_session, tenant_ids_of, unscoped, utcnow
from app.errors import NotFound, ValidationFailed
from app.paging import Paged
from app.security import hash_password, hash_token, new_token, password_problem
from tenants.models import (
    TENANT_ROLES,
    ApiToken,
    BuildingCode,
    Central,
    CentralMembership,
    FrameworkAgreement,
    ManagerScope,
    Membership,
    MembershipInvitation,
    PasswordResetToken,
    Role,
    Site,
    Subscription,
    Tenant,
    User,
)
from tenants.territories import TERRITORIES

__all__ = [
    "access_site",
    "create_api_token",
    "create_central",
    "create_site",
    "create_tenant",
    "create_user",
    "delete_site",
    "get_tenant",
    "get_user",
    "list_api_tokens",
    "list_visible_tenants",
    "list_audit_events",
    "iter_audit_events",
    "audit_choices",
    "access_audit_event",
    "AuditFilter",
    "recent_removals",
    "removal_undoable",
    "undo_removal",
    "users_by_ids",
    "list_sites",
    "list_tenant_members",
    "ManagerPerimeter",
    "manager_perimeter",
    "manager_perimeters",
    "perimeters_of_members",
    "members_of_services",
    "member_service",
    "member_services",
    "set_manager_perimeter",
    "member_emails",
    "site_referent",
    "add_member",
    "Enrolment",
    "answer_invitation",
    "cancel_invitation",
    "change_password",
    "enrol_member",
    "enrolment_mail",
    "enrolment_message",
    "invitation_for",
    "invitations_of_user",
    "list_pending_invitations",
    "remove_member",
    "update_member",
    "revoke_api_token",
    "search_tenants",
    "tenant_ids_of_central",
    "centrals_of_tenants",
    "update_site",
    "update_tenant",
]

# --------------------------------------------------------------------------- validation helpers


#: French names of the fields, for the length errors of :func:`_clean`.
FIELD_LABELS = {
    "name": "Nom", "address": "Adresse", "postal_code": "Code postal", "city": "Commune", "region": "Région",
    "notes": "Notes", "full_name": "Nom complet", "email": "Adresse électronique", "siret": "SIRET", "finess": "FINESS",
    "role": "Profil", "territory": "Territoire", "insee_code": "Code INSEE", "building_code": "Code bâtiment",
    "latitude": "Latitude", "longitude": "Longitude", "referent_name": "Référent local",
    "referent_email": "Courriel du référent local",
}
#: Codes and numbers are checked by their own validators, which say more than a length.
CODE_LIMIT = 40


def _clean(data: dict[str, Any], key: str, errors: dict[str, str], limit: Any = CODE_LIMIT) -> str:
    """The stripped text of a field, at most its column's length (``limit``: the ORM
    column or a number) or a French field error (app/bounds.py), never truncated silently."""
    return text_value(data, key, errors, limit=limit, label=FIELD_LABELS.get(key, key))


def _check_identifiers(data: dict[str, Any], errors: dict[str, str]) -> tuple[str | None, str | None]:
    from tenants.identifiers import InvalidIdentifier, validate_finess, validate_siret

    siret = _clean(data, "siret", errors) or None
    finess = _clean(data, "finess", errors) or None
    if siret:
        try:
            siret = validate_siret(siret)
        except InvalidIdentifier as exc:
            errors["siret"] = str(exc)
    if finess:
        try:
            finess = validate_finess(finess)
        except InvalidIdentifier as exc:
            errors["finess"] = str(exc)
    if not siret and not finess and "siret" not in errors and "finess" not in errors:
        errors["siret"] = "Indiquez un SIRET ou un numéro FINESS."
    return siret, finess


def _check_insee(value: str, errors: dict[str, str], field: str = "insee_code", required: bool = False) -> str:
    from tenants.identifiers import InvalidIdentifier, validate_insee_code

    if not value:
        if required:
            errors[field] = "Le code commune INSEE est obligatoire."
        return ""
    try:
        return validate_insee_code(value)
    except InvalidIdentifier as exc:
        errors[field] = str(exc)
        return value


def _check_email(value: str, errors: dict[str, str]) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        errors["email"] = "Adresse électronique invalide."
        return value


def _check_role(value: str, errors: dict[str, str], allowed: Sequence[Role] = TENANT_ROLES) -> Role | None:
    try:
        role = Role(value)
    except ValueError:
        role = None
    if role is None or role not in allowed:
        errors["role"] = "Profil inconnu (attendu : " + ", ".join(r.value for r in allowed) + ")."
        return None
    return role


# --------------------------------------------------------------------------- centrals & agreements


async def create_central(session: AsyncSession, *, code: str, name: str, kind: str = "centrale") -> Central:
    central = Central(code=code.upper(), name=name, kind=kind)
    session.add(central)
    await session.flush()
    return central


async def get_central_by_code(session: AsyncSession, code: str) -> Central:
    central = await session.scalar(select(Central).where(Central.code == code.upper()))
    if central is None:
        raise NotFound(f"centrale {code}")
    return central


async def tenant_ids_of_central(session: AsyncSession, central_id: uuid.UUID) -> list[uuid.UUID]:
    """The beneficiaries a coordinator sees: those subscribed to the central's agreements."""
    rows = await session.scalars(
        select(Subscription.tenant_id)
        .join(FrameworkAgreement, FrameworkAgreement.id == Subscription.agreement_id)
        .where(FrameworkAgreement.central_id == central_id)
        .distinct()
    )
    direct = await session.scalars(select(Tenant.id).where(Tenant.central_id == central_id))
    return sorted(set(rows) | set(direct))


async def central_codes(session: AsyncSession, tenant_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    """Each of these tenants' own central's code (``None`` for a tenant that belongs to none)."""
    if not tenant_ids:
        return {}
    return dict((await session.execute(select(Tenant.id, Central.code).outerjoin(Central, Tenant.central_id == Central.id)
                                       .where(Tenant.id.in_(list(tenant_ids))))).all())


async def centrals_of_tenants(session: AsyncSession, tenant_ids: list[uuid.UUID]) -> list[Central]:
    """The centrals whose agreements these beneficiaries subscribe to, or that they belong to, by name (the
    titulaire's operator: the centrals it reports to, CCTP CAIH 5)."""
    if not tenant_ids:
        return []
    subscribed = select(FrameworkAgreement.central_id).join(
        Subscription, Subscription.agreement_id == FrameworkAgreement.id).where(Subscription.tenant_id.in_(tenant_ids))
    direct = select(Tenant.central_id).where(Tenant.id.in_(tenant_ids), Tenant.central_id.is_not(None))
    return list(await session.scalars(select(Central).where(
        Central.id.in_(subscribed) | Central.id.in_(direct)).order_by(Central.name, Central.code)))


# --------------------------------------------------------------------------- tenants


async def create_tenant(
    session: AsyncSession, data: dict[str, Any], *, central: Central | None = None
) -> Tenant:
    errors: dict[str, str] = {}
    name = _clean(data, "name", errors, Tenant.name)
    if not name and "name" not in errors:
        errors["name"] = "La raison sociale est obligatoire."
    siret, finess = _check_identifiers(data, errors)
    territory = _clean(data, "territory", errors) or "metropole"
    if territory not in TERRITORIES:
        errors["territory"] = "Territoire inconnu."
    insee = _check_insee(_clean(data, "insee_code", errors), errors)
    postal = _clean(data, "postal_code", errors)
    address = _clean(data, "address", errors, Tenant.address)
    city = _clean(data, "city", errors, Tenant.city)
    region = _clean(data, "region", errors, Tenant.region)
    if postal and not (len(postal) == 5 and postal.isdigit()):
        errors["postal_code"] = "Le code postal doit comporter 5 chiffres."
    if siret and "siret" not in errors and await session.scalar(select(Tenant.id).where(Tenant.siret == siret)):
        errors["siret"] = "Un bénéficiaire avec ce SIRET existe déjà."
    if finess and "finess" not in errors and await session.scalar(select(Tenant.id).where(Tenant.finess == finess)):
        errors["finess"] = "Un bénéficiaire avec ce FINESS existe déjà."
    if errors:
        raise ValidationFailed(errors)
    tenant = Tenant(
        name=name,
        siret=siret,
        finess=finess,
        territory=territory,
        insee_code=insee,
        postal_code=postal,
        address=address,
        city=city,
        region=region or _region_of(insee),
        central_id=central.id if central else None,
    )
    # The creator acts in the new tenant at once: its audit row must pass RLS (the scope's WITH CHECK).
    scope_session(session, (tenant_ids_of(session) or frozenset()) | {tenant.id})
    session.add(tenant)
    await session.flush()
    if central is not None:
        agreements = await session.scalars(select(FrameworkAgreement).where(FrameworkAgreement.central_id == central.id))
        for agreement in agreements:
            session.add(Subscription(tenant_id=tenant.id, agreement_id=agreement.id, since=dt.date.today()))
        await session.flush()
    return tenant


def _region_of(insee: str) -> str:
    if not insee:
        return ""
    try:
        from tenants.identifiers import get_commune

        commune = get_commune(insee)
        return getattr(commune, "region_name", "") or getattr(commune, "region", "") or ""
    except Exception:  # noqa: BLE001 - region is a convenience, never a reason to fail
        return ""


TENANT_EDITABLE = ("name", "address", "postal_code", "city", "insee_code", "region", "territory")
#: Free-text fields, bounded by their column (the others are codes, see CODE_LIMIT).
TEXT_COLUMNS = frozenset({"name", "address", "city", "region", "notes", "referent_name", "referent_email"})


async def update_tenant(session: AsyncSession, tenant: Tenant, data: dict[str, Any]) -> Tenant:
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    for key in TENANT_EDITABLE:
        if key in data:
            changes[key] = _clean(data, key, errors, getattr(Tenant, key) if key in TEXT_COLUMNS else CODE_LIMIT)
    if "name" in changes and not changes["name"]:
        errors["name"] = "La raison sociale est obligatoire."
    if "territory" in changes and changes["territory"] not in TERRITORIES:
        errors["territory"] = "Territoire inconnu."
    if changes.get("insee_code"):
        changes["insee_code"] = _check_insee(changes["insee_code"], errors)
    if changes.get("postal_code") and not (len(changes["postal_code"]) == 5 and changes["postal_code"].isdigit()):
        errors["postal_code"] = "Le code postal doit comporter 5 chiffres."
    if "siret" in data or "finess" in data:
        merged = {"siret": data.get("siret", tenant.siret), "finess": data.get("finess", tenant.finess)}
        siret, finess = _check_identifiers(merged, errors)
        for key, value in (("siret", siret), ("finess", finess)):
            if value and value != getattr(tenant, key) and key not in errors:
                clash = await session.scalar(select(Tenant.id).where(getattr(Tenant, key) == value, Tenant.id != tenant.id))
                if clash:
                    errors[key] = f"Un bénéficiaire avec ce {key.upper()} existe déjà."
        changes["siret"], changes["finess"] = siret, finess
    if errors:
        raise ValidationFailed(errors)
    for key, value in changes.items():
        setattr(tenant, key, value)
    await session.flush()
    return tenant


async def get_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("bénéficiaire")
    return tenant


async def list_visible_tenants(session: AsyncSession, identity: Identity) -> list[tuple[Tenant, str]]:
    """The tenants a caller may open, with its role: memberships first, then its centrals' beneficiaries."""
    roles = dict(identity.tenant_roles)
    for central_id in sorted(identity.central_ids):
        for tenant_id in await tenant_ids_of_central(session, central_id):
            roles.setdefault(tenant_id, Role.COORDINATOR.value)
    if not roles:
        return []
    rows = await session.scalars(select(Tenant).where(Tenant.id.in_(list(roles))).order_by(Tenant.name))
    return [(tenant, roles[tenant.id]) for tenant in rows]


async def search_tenants(
    session: AsyncSession, tenant_ids: Sequence[uuid.UUID], *, q: str = "", page: int = 1, per_page: int = 20
) -> Paged:
    """Server-side search and pagination over the beneficiaries a coordinator may see."""
    stmt = select(Tenant).where(Tenant.id.in_(list(tenant_ids)))
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            or_(func.lower(Tenant.name).like(like), Tenant.siret.like(like), Tenant.finess.like(like), func.lower(Tenant.city).like(like))
        )
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = max(1, page)
    rows = await session.scalars(stmt.order_by(Tenant.name).offset((page - 1) * per_page).limit(per_page))
    return Paged(list(rows), total, page, per_page)


# --------------------------------------------------------------------------- sites

SITE_FIELDS = ("name", "address", "postal_code", "city", "insee_code", "building_code", "latitude", "longitude", "notes",
               "referent_name", "referent_email")


def _site_values(data: dict[str, Any], errors: dict[str, str], *, partial: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in SITE_FIELDS:
        if key in data or not partial:
            values[key] = _clean(data, key, errors, getattr(Site, key) if key in TEXT_COLUMNS else CODE_LIMIT)
    if "name" in values and not values["name"] and "name" not in errors:
        errors["name"] = "Le nom du site est obligatoire."
    if values.get("referent_email") and "referent_email" not in errors:
        # CCTP CAIH 2.1.5: the closure summary goes to this address.
        checked: dict[str, str] = {}
        values["referent_email"] = _check_email(values["referent_email"], checked)
        if checked:
            errors["referent_email"] = "Adresse électronique du référent invalide."
    if "insee_code" in values:
        values["insee_code"] = _check_insee(values["insee_code"], errors, required=True)
    if values.get("postal_code") and not (len(values["postal_code"]) == 5 and values["postal_code"].isdigit()):
        errors["postal_code"] = "Le code postal doit comporter 5 chiffres."
    if "building_code" in values:
        code = values["building_code"]
        if not code:
            # Not given: the next free code of the commune, given at creation (_claim_building_code).
            if partial:
                del values["building_code"]
            else:
                values["building_code"] = None
        elif not (len(code) == 4 and code.isalnum() and code.isascii()):
            errors["building_code"] = "Le code bâtiment comporte 4 caractères alphanumériques (CCTP 5-5-1)."
        else:
            values["building_code"] = code.upper()
    for key, low, high in (("latitude", -90, 90), ("longitude", -180, 180)):
        if key in values:
            raw = values[key]
            if raw in ("", None):
                values[key] = None
                continue
            try:
                number = float(str(raw).replace(",", "."))
            except ValueError:
                errors[key] = "Coordonnée invalide (nombre décimal attendu)."
                continue
            if not low <= number <= high:
                errors[key] = f"Coordonnée hors limites ({low} à {high})."
            values[key] = number
    return values


async def _site_name_taken(session: AsyncSession, tenant_id: uuid.UUID, name: str, except_id: uuid.UUID | None = None) -> bool:
    stmt = select(Site.id).where(Site.tenant_id == tenant_id, func.lower(Site.name) == name.lower())
    if except_id:
        stmt = stmt.where(Site.id != except_id)
    return await session.scalar(stmt) is not None


async def create_site(session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any]) -> Site:
    errors: dict[str, str] = {}
    values = _site_values(data, errors, partial=False)
    if "name" not in errors and await _site_name_taken(session, tenant_id, values["name"]):
        errors["name"] = "Un site porte déjà ce nom."
    if errors:
        raise ValidationFailed(errors)
    wanted = values.pop("building_code")
    site = Site(id=uuid.uuid4(), tenant_id=tenant_id, **values)
    await _claim_building_code(session, site, site.insee_code, wanted, new=True)
    return site


#: How many times a claim is retried when another request takes the same free code first.
_CLAIM_ATTEMPTS = 5


async def _claim_building_code(
    session: AsyncSession, site: Site, insee: str, wanted: str | None, *, new: bool = False
) -> str:
    """Claim a building code of commune ``insee`` for ``site`` in the platform index (CCTP
    CPAM 5-5-1: unique in its commune, whatever the tenant) and return it. ``wanted`` must
    be free; without it the smallest free numeric code is taken. The primary key of
    ``building_codes`` settles races: the loser of a race for a free code takes the next
    one, the loser for a wanted one gets the field error. A ``new`` site is inserted in the
    same savepoint, with its final code, so that its one audited creation carries it; an
    existing site is left to the caller to update (one audited update)."""
    from sqlalchemy.exc import IntegrityError

    if not new:
        await session.execute(BuildingCode.__table__.delete().where(
            BuildingCode.tenant_id == site.tenant_id, BuildingCode.site_id == site.id))
    for _ in range(_CLAIM_ATTEMPTS):
        code = wanted
        if code is None:
            with unscoped(session):
                used = set(await session.scalars(
                    select(BuildingCode.building_code).where(BuildingCode.insee_code == insee)))
            code = next(f"{n:04d}" for n in range(1, 10_000) if f"{n:04d}" not in used)
        try:
            async with session.begin_nested():
                if new:
                    site.building_code = code
                    session.add(site)
                    await session.flush()  # the site row first: the index row refers to it
                session.add(BuildingCode(insee_code=insee, building_code=code, tenant_id=site.tenant_id,
                                         site_id=site.id))
        except IntegrityError as exc:
            if "building_codes" not in str(exc.orig):
                raise
            if wanted is not None:
                raise ValidationFailed({"building_code": (
                    f"Le code bâtiment {wanted} est déjà attribué à un autre site de la commune {insee}, "
                    "peut-être chez un autre bénéficiaire : les identifiants de points de charge doivent être "
                    "uniques (CCTP 5-5-1). Laissez le champ vide pour recevoir le prochain code libre.")}) from None
            continue
        return code
    raise ValidationFailed({"building_code": "Aucun code bâtiment libre n'a pu être attribué : réessayez."})


async def list_sites(session: AsyncSession, tenant_id: uuid.UUID) -> list[Site]:
    return list(await session.scalars(select(Site).where(Site.tenant_id == tenant_id).order_by(Site.name)))


async def sites_of(session: AsyncSession, tenant_ids: Sequence[uuid.UUID]) -> dict[tuple[uuid.UUID, uuid.UUID], Site]:
    """The sites of ``tenant_ids`` by ``(tenant_id, site_id)``: other components name their rows' sites."""
    rows = await session.scalars(select(Site).where(Site.tenant_id.in_(list(tenant_ids))))
    return {(site.tenant_id, site.id): site for site in rows}


async def site_referent(session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID | None) -> tuple[str, str] | None:
    """The site's local referent of the contract, ``(name, e-mail)``, or None when the site has none (CCTP CAIH
    2.1.5: « l'envoi d'un mail récapitulatif au référent local du marché » at an incident's closure)."""
    if site_id is None:
        return None
    site = await session.get(Site, (tenant_id, site_id))
    if site is None or not site.referent_email:
        return None
    return site.referent_name, site.referent_email


async def site_exists(session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID) -> bool:
    return await session.get(Site, (tenant_id, site_id)) is not None


async def access_site(session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID) -> Site:
    site = await session.get(Site, (tenant_id, site_id))
    if site is None:
        raise NotFound("site")
    return site


async def update_site(session: AsyncSession, site: Site, data: dict[str, Any]) -> Site:
    errors: dict[str, str] = {}
    values = _site_values(data, errors, partial=True)
    if values.get("name") and "name" not in errors and await _site_name_taken(session, site.tenant_id, values["name"], site.id):
        errors["name"] = "Un site porte déjà ce nom."
    if errors:
        raise ValidationFailed(errors)
    moved = ("insee_code" in values and values["insee_code"] != site.insee_code) or (
        "building_code" in values and values["building_code"] != site.building_code)
    if moved:
        wanted = values.get("building_code")  # None: the next free code of the new commune
        values["building_code"] = await _claim_building_code(
            session, site, values.get("insee_code", site.insee_code), wanted)
    for key, value in values.items():
        setattr(site, key, value)
    await session.flush()
    return site


async def _site_in_use(session: AsyncSession, site: Site) -> bool:
    """Whether any row (stations, assets… of any component) still points at the site.

    Found through the foreign keys in the metadata, so tenants need not import the
    components that depend on it.
    """
    sites = Site.__table__
    for table in Site.metadata.tables.values():
        for fk in table.foreign_key_constraints:
            if fk.referred_table is not sites or table is sites or table is BuildingCode.__table__:
                continue
            match = [table.c[e.parent.name] == getattr(site, e.column.key) for e in fk.elements]
            if await session.scalar(select(exists().where(and_(*match)))):
                return True
    return False


async def delete_site(session: AsyncSession, site: Site) -> None:
    if await _site_in_use(session, site):
        raise ValidationFailed({"site": "Ce site porte encore des équipements : retirez-les avant de le supprimer."})
    await session.execute(
        BuildingCode.__table__.delete().where(BuildingCode.tenant_id == site.tenant_id, BuildingCode.site_id == site.id)
    )
    await session.delete(site)
    await session.flush()


# --------------------------------------------------------------------------- users & memberships


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.strip().lower()))


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    full_name: str = "",
    password: str | None = None,
    role: str | None = None,
    tenant_id: uuid.UUID | None = None,
    central: Central | None = None,
) -> User:
    """Create a platform account, with a role in a tenant or as a central's coordinator."""
    errors: dict[str, str] = {}
    email = _check_email(email.strip(), errors)
    if "email" not in errors and await find_user_by_email(session, email):
        errors["email"] = "Un compte existe déjà avec cette adresse."
    if password is not None:
        problem = password_problem(password)
        if problem:
            errors["password"] = problem
    parsed_role: Role | None = None
    if role is not None:
        allowed = (Role.COORDINATOR,) if central is not None else TENANT_ROLES
        parsed_role = _check_role(role, errors, allowed)
        if parsed_role is not None and central is None and tenant_id is None:
            errors["tenant"] = "Précisez le bénéficiaire (--tenant) ou la centrale (--central)."
    if errors:
        raise ValidationFailed(errors)
    user = User(email=email, full_name=full_name.strip(), password_hash=hash_password(password) if password else None)
    session.add(user)
    await session.flush()
    if parsed_role is Role.COORDINATOR and central is not None:
        session.add(CentralMembership(central_id=central.id, user_id=user.id, role=Role.COORDINATOR.value))
    elif parsed_role is not None and tenant_id is not None:
        session.add(Membership(tenant_id=tenant_id, user_id=user.id, role=parsed_role.value))
    await session.flush()
    return user


async def list_tenant_members(session: AsyncSession, tenant_id: uuid.UUID) -> list[Membership]:
    rows = await session.scalars(
        select(Membership).join(User).where(Membership.tenant_id == tenant_id).order_by(User.email)
    )
    return list(rows)


async def is_member(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether ``user_id`` holds a role in ``tenant_id``."""
    found = await session.scalar(
        select(Membership.id).where(Membership.tenant_id == tenant_id, Membership.user_id == user_id))
    return found is not None


async def member_names(session: AsyncSession, tenant_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """The tenant's members by user id: their name, else their e-mail."""
    rows = await session.scalars(
        select(User).join(Membership, Membership.user_id == User.id).where(Membership.tenant_id == tenant_id))
    return {user.id: user.full_name or user.email for user in rows}


async def member_emails(session: AsyncSession, tenant_id: uuid.UUID, roles: Sequence[Role | str]) -> list[str]:
    """The e-mail addresses of the tenant's active members holding one of ``roles`` (``admin``: its
    administrators; ``operator``: the titulaire's operators serving it), sorted, each once: whom a
    component writes to about the tenant's affairs."""
    wanted = [str(Role(role).value) for role in roles]
    rows = await session.scalars(
        select(User.email).join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == tenant_id, Membership.role.in_(wanted), User.is_active.is_(True))
        .distinct().order_by(User.email))
    return list(rows)


@dataclass(frozen=True)
class ManagerPerimeter:
    """What a « responsable » decides for (CCTP CPAM 5-5-5-3: « pour un site ou un service »): sites of the
    tenant and services its members carry; both empty — the whole tenant, as before the scope existed."""

    site_ids: frozenset[uuid.UUID] = frozenset()
    services: frozenset[str] = frozenset()

    @property
    def whole_tenant(self) -> bool:
        return not self.site_ids and not self.services

    def covers(self, site_id: uuid.UUID | None, service: str) -> bool:
        """Whether a request on ``site_id`` by an agent of ``service`` is in this perimeter."""
        return self.whole_tenant or (site_id is not None and site_id in self.site_ids) or (
            bool(service) and service in self.services)


async def manager_perimeter(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> ManagerPerimeter:
    rows = (await session.execute(select(ManagerScope.site_id, ManagerScope.service).where(
        ManagerScope.tenant_id == tenant_id, ManagerScope.user_id == user_id))).all()
    return ManagerPerimeter(frozenset(r.site_id for r in rows if r.site_id is not None),
                            frozenset(r.service for r in rows if r.service))


async def manager_perimeters(session: AsyncSession, tenant_id: uuid.UUID) -> list[tuple[str, ManagerPerimeter]]:
    """The tenant's active « responsables » (role ``manager``), each with its e-mail and perimeter."""
    managers = (await session.execute(select(User.id, User.email).join(Membership, Membership.user_id == User.id).where(
        Membership.tenant_id == tenant_id, Membership.role == Role.MANAGER.value, User.is_active.is_(True))
        .order_by(User.email))).all()
    return [(email, await manager_perimeter(session, tenant_id, user_id)) for user_id, email in managers]


async def perimeters_of_members(session: AsyncSession, tenant_id: uuid.UUID) -> dict[uuid.UUID, ManagerPerimeter]:
    """Every « responsable »'s perimeter by user id, in one query (the members list and API show them); a
    responsable absent from the map has none: it decides for the whole tenant."""
    sites: dict[uuid.UUID, set[uuid.UUID]] = {}
    names: dict[uuid.UUID, set[str]] = {}
    for user_id, site_id, service in (await session.execute(select(
            ManagerScope.user_id, ManagerScope.site_id, ManagerScope.service).where(
            ManagerScope.tenant_id == tenant_id))).all():
        if site_id is not None:
            sites.setdefault(user_id, set()).add(site_id)
        if service:
            names.setdefault(user_id, set()).add(service)
    return {user_id: ManagerPerimeter(frozenset(sites.get(user_id, ())), frozenset(names.get(user_id, ())))
            for user_id in set(sites) | set(names)}


async def member_service(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> str:
    return await session.scalar(select(Membership.service).where(
        Membership.tenant_id == tenant_id, Membership.user_id == user_id)) or ""


async def member_services(session: AsyncSession, tenant_id: uuid.UUID) -> list[str]:
    """The services the tenant's members carry, sorted (the choices of a responsable's perimeter)."""
    return list(await session.scalars(select(Membership.service).where(
        Membership.tenant_id == tenant_id, Membership.service != "").distinct().order_by(Membership.service)))


async def members_of_services(session: AsyncSession, tenant_id: uuid.UUID, services: Sequence[str]) -> list[uuid.UUID]:
    if not services:
        return []
    return list(await session.scalars(select(Membership.user_id).where(
        Membership.tenant_id == tenant_id, Membership.service.in_(list(services)))))


async def set_manager_perimeter(session: AsyncSession, membership: Membership, site_ids: Sequence[str],
                                services: Sequence[str]) -> ManagerPerimeter:
    """The tenant admin sets a responsable's perimeter (CCTP CPAM 5-5-5-3): every site must be one of the tenant's,
    every service one its members carry; otherwise ``ValidationFailed`` and nothing changes. Empty: the whole
    tenant. Each row added or removed is audited (``TenantOwned``)."""
    errors: dict[str, str] = {}
    if membership.role != Role.MANAGER.value:
        errors["role"] = "Seul un responsable (validation des badges) a un périmètre."
    sites: set[uuid.UUID] = set()
    for raw in site_ids:
        try:
            site_id = uuid.UUID(str(raw))
        except ValueError:
            errors["site_id"] = "Site inconnu."
            continue
        if not await site_exists(session, membership.tenant_id, site_id):
            errors["site_id"] = "Site inconnu."
        sites.add(site_id)
    wanted = {" ".join(str(s).split()) for s in services} - {""}
    known = set(await member_services(session, membership.tenant_id)) | (
        await manager_perimeter(session, membership.tenant_id, membership.user_id)).services
    if wanted - known:
        errors["service"] = f"Service inconnu : {', '.join(sorted(wanted - known))} (aucun membre ne le porte)."
    if errors:
        raise ValidationFailed(errors)
    for row in await session.scalars(select(ManagerScope).where(
            ManagerScope.tenant_id == membership.tenant_id, ManagerScope.user_id == membership.user_id)):
        await session.delete(row)
    await session.flush()
    for site_id in sorted(sites):
        session.add(ManagerScope(tenant_id=membership.tenant_id, user_id=membership.user_id, site_id=site_id))
    for service in sorted(wanted):
        session.add(ManagerScope(tenant_id=membership.tenant_id, user_id=membership.user_id, service=service))
    await session.flush()
    return ManagerPerimeter(frozenset(sites), frozenset(wanted))


async def all_tenant_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Every tenant's id (platform-wide workers: the ingress's alert sweep)."""
    with unscoped(session):
        return list(await session.scalars(select(Tenant.id)))


async def access_member(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
    membership = await session.scalar(
        select(Membership).where(Membership.tenant_id == tenant_id, Membership.user_id == user_id)
    )
    if membership is None:
        raise NotFound("utilisateur")
    return membership


async def add_member(
    session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any]
) -> Membership:
    """Give a user a role in the tenant at once, creating the account when the address is new.

    For the platform's own tools (CLI, demo, tests). A tenant admin goes through
    :func:`enrol_member`, which never attaches an existing account without its owner's consent.
    """
    errors: dict[str, str] = {}
    email = _check_email(_clean(data, "email", errors, User.email), errors)
    role = _check_role(_clean(data, "role", errors), errors)
    full_name = _clean(data, "full_name", errors, User.full_name)
    password = data.get("password") or None
    if password:
        problem = password_problem(password)
        if problem:
            errors["password"] = problem
    user = None if "email" in errors else await find_user_by_email(session, email)
    if user is not None:
        existing = await session.scalar(
            select(Membership.id).where(Membership.tenant_id == tenant_id, Membership.user_id == user.id)
        )
        if existing:
            errors["email"] = "Cet utilisateur est déjà membre de ce bénéficiaire."
    if errors:
        raise ValidationFailed(errors)
    assert role is not None
    if user is None:
        user = User(
            email=email,
            full_name=full_name,
            password_hash=hash_password(password) if password else None,
            managed_by_tenant_id=tenant_id,
        )
        session.add(user)
        await session.flush()
    else:
        # Now a member elsewhere too: its profile is its owner's alone.
        user.managed_by_tenant_id = None
    membership = Membership(tenant_id=tenant_id, user_id=user.id, role=role.value)
    session.add(membership)
    await session.flush()
    return membership


async def update_member(session: AsyncSession, membership: Membership, data: dict[str, Any]) -> Membership:
    errors: dict[str, str] = {}
    role = _check_role(_clean(data, "role", errors), errors) if "role" in data else None
    name = _clean(data, "full_name", errors, User.full_name) if "full_name" in data else None
    service = " ".join(str(data.get("service") or "").split()) if "service" in data else None
    if service is not None and len(service) > 120:
        errors["service"] = "Le service comporte 120 caractères au plus."
    if errors:
        raise ValidationFailed(errors)
    # Every refusal before the first change: a page that shows the refusal commits its session.
    if role is not None and membership.role == Role.ADMIN and role != Role.ADMIN:
        await _keep_one_admin(session, membership)
    renamed = name is not None and name != membership.user.full_name
    if renamed and membership.user.managed_by_tenant_id != membership.tenant_id:
        raise ValidationFailed({"full_name": PROFILE_NOT_YOURS})
    if service is not None:
        membership.service = service
    if role is not None:
        membership.role = role.value
    if renamed:
        membership.user.full_name = name
    await session.flush()
    return membership


async def _keep_one_admin(session: AsyncSession, membership: Membership) -> None:
    admins = await session.scalar(
        select(func.count()).select_from(Membership).where(
            Membership.tenant_id == membership.tenant_id, Membership.role == Role.ADMIN.value
        )
    )
    if (admins or 0) <= 1:
        raise ValidationFailed({"role": "Le bénéficiaire doit garder au moins un administrateur."})


#: Why a member cannot remove itself: it would lock itself out (another administrator may).
CANNOT_REMOVE_YOURSELF = "Vous ne pouvez pas vous retirer vous-même : demandez-le à un autre administrateur."
#: A removal can be undone from the « Journal » this long after it.
UNDO_REMOVAL = dt.timedelta(days=1)


async def remove_member(session: AsyncSession, membership: Membership, *, by: uuid.UUID | None = None) -> None:
    """Remove ``membership``; ``by`` is the acting user, who may not remove itself."""
    if by is not None and membership.user_id == by:
        raise ValidationFailed({"user": CANNOT_REMOVE_YOURSELF})
    if membership.role == Role.ADMIN:
        await _keep_one_admin(session, membership)
    await session.delete(membership)
    await session.flush()


#: Shown when a tenant admin tries to edit an account that is not (or no longer) its own.
PROFILE_NOT_YOURS = (
    "Ce compte est aussi utilisé ailleurs sur Centrale : seul son titulaire peut modifier son nom."
)
#: An invitation link stays valid this long (the invitee may read it days later).
INVITATION_DAYS = 7
#: A new account's « choose your password » link stays valid this long.
NEW_ACCOUNT_LINK_HOURS = 72


@dataclass(frozen=True)
class Enrolment:
    """What adding an address to a tenant did.

    The answer shown to the admin must not depend on it (ASVS 4.0 V2.5.x / account
    enumeration): only the e-mail sent to the address differs.
    """

    email: str
    role: Role
    user: User
    #: New account: created with its membership; ``password_token`` when it has no password yet.
    created: bool
    password_token: str | None = None
    #: Existing account: the link its owner must open to join (no membership until then).
    invitation_token: str | None = None


async def enrol_member(
    session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any], *, invited_by: str
) -> Enrolment:
    """A tenant admin adds someone by e-mail address.

    An unknown address gets a new account, managed by this tenant, and its membership. An
    existing account is only *invited*: it joins when its owner accepts from the e-mailed
    link, and this tenant never reads nor edits its profile (name, password).
    """
    errors: dict[str, str] = {}
    email = _check_email(_clean(data, "email", errors, User.email), errors)
    role = _check_role(_clean(data, "role", errors), errors)
    _clean(data, "full_name", errors, User.full_name)
    password = data.get("password") or None
    if password:
        problem = password_problem(password)
        if problem:
            errors["password"] = problem
    user = None if "email" in errors else await find_user_by_email(session, email)
    if user is not None and await session.scalar(
        select(Membership.id).where(Membership.tenant_id == tenant_id, Membership.user_id == user.id)
    ):
        errors["email"] = "Cet utilisateur est déjà membre de ce bénéficiaire."
    if errors:
        raise ValidationFailed(errors)
    assert role is not None
    if user is None:
        membership = await add_member(session, tenant_id, {**data, "email": email, "role": role.value})
        new_user = await session.get(User, membership.user_id)
        assert new_user is not None
        token = None
        if new_user.password_hash is None:
            token = await create_password_reset(session, new_user, hours=NEW_ACCOUNT_LINK_HOURS)
        return Enrolment(email=email, role=role, user=new_user, created=True, password_token=token)
    now = utcnow()
    # Inviting again replaces the pending invitation (a new link, a new role).
    await session.execute(
        update(MembershipInvitation)
        .where(MembershipInvitation.tenant_id == tenant_id, MembershipInvitation.user_id == user.id,
               MembershipInvitation.answered_at.is_(None))
        .values(answered_at=now, answer="cancelled")
        .execution_options(synchronize_session=False)
    )
    token, _lookup, digest = new_token("inv")
    session.add(MembershipInvitation(
        tenant_id=tenant_id, user_id=user.id, role=role.value, token_hash=digest, invited_by=invited_by,
        expires_at=now + dt.timedelta(days=INVITATION_DAYS),
    ))
    await session.flush()
    return Enrolment(email=email, role=role, user=user, created=False, invitation_token=token)


def enrolment_message(enrolment: Enrolment) -> str:
    """What the admin is told: never whether the address already had an account."""
    return (
        f"{enrolment.email} : demande enregistrée avec le profil {enrolment.role.label}. Un e-mail lui a été "
        "envoyé ; s'il a déjà un compte Centrale, il rejoindra le bénéficiaire après avoir accepté l'invitation."
    )


def enrolment_mail(base_url: str, tenant_name: str, inviter: str, enrolment: Enrolment) -> tuple[str, str]:
    """The e-mail to the added address: a new account's welcome or an existing account's invitation."""
    hello = f"Bonjour{(' ' + enrolment.user.full_name) if enrolment.created and enrolment.user.full_name else ''},\n\n"
    label = enrolment.role.label
    if enrolment.invitation_token:
        return f"Centrale : invitation à rejoindre {tenant_name}", (
            f"{hello}{inviter} vous invite à rejoindre {tenant_name} sur Centrale, avec le profil « {label} ».\n\n"
            f"Pour accepter ou refuser, connectez-vous avec votre compte habituel puis ouvrez ce lien "
            f"(valable {INVITATION_DAYS} jours) :\n{base_url}/invitations/{enrolment.invitation_token}\n\n"
            "Tant que vous n'avez pas accepté, ce bénéficiaire n'a aucun accès à votre compte.\n"
        )
    if enrolment.password_token:
        return f"Centrale : invitation à rejoindre {tenant_name}", (
            f"{hello}{inviter} vous invite à utiliser Centrale pour {tenant_name}, avec le profil « {label} ».\n\n"
            f"Pour choisir votre mot de passe, ouvrez ce lien (valable {NEW_ACCOUNT_LINK_HOURS} heures) :\n"
            f"{base_url}/reinitialiser/{enrolment.password_token}\n\n"
            f"Votre identifiant de connexion est votre adresse électronique : {enrolment.email}\n"
        )
    return f"Centrale : accès à {tenant_name}", (
        f"{hello}{inviter} vous a créé un compte Centrale pour {tenant_name}, avec le profil « {label} ». "
        "Votre mot de passe vous sera communiqué par votre administrateur.\n\n"
        f"Connexion : {base_url}/connexion\n"
    )


async def list_pending_invitations(session: AsyncSession, tenant_id: uuid.UUID) -> list[MembershipInvitation]:
    rows = await session.scalars(
        select(MembershipInvitation)
        .where(MembershipInvitation.tenant_id == tenant_id, MembershipInvitation.answered_at.is_(None),
               MembershipInvitation.expires_at > utcnow())
        .order_by(MembershipInvitation.created_at)
    )
    return list(rows)


async def cancel_invitation(session: AsyncSession, tenant_id: uuid.UUID, invitation_id: uuid.UUID) -> MembershipInvitation:
    row = await session.scalar(
        select(MembershipInvitation).where(
            MembershipInvitation.tenant_id == tenant_id, MembershipInvitation.id == invitation_id,
            MembershipInvitation.answered_at.is_(None),
        )
    )
    if row is None:
        raise NotFound("invitation")
    row.answered_at, row.answer = utcnow(), "cancelled"
    await session.flush()
    return row


async def invitation_for(
    session: AsyncSession, user_id: uuid.UUID, *, token: str | None = None, invitation_id: uuid.UUID | None = None
) -> MembershipInvitation:
    """The pending invitation behind a link (or an id), for the account it was sent to; else NotFound.

    Read before the invitee is a member: on PostgreSQL the policy shows a user its own
    invitations (``app.user_id``), as for memberships.
    """
    if token is not None:
        condition = MembershipInvitation.token_hash == hash_token(token)
    elif invitation_id is not None:
        condition = MembershipInvitation.id == invitation_id
    else:
        raise NotFound("invitation")
    with unscoped(session):
        row = await session.scalar(select(MembershipInvitation).where(condition, MembershipInvitation.user_id == user_id))
    if row is None or row.answered_at is not None or row.expires_at < utcnow():
        raise NotFound("invitation")
    return row


async def invitations_of_user(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[MembershipInvitation, str]]:
    """The account's pending invitations with the inviting tenant's name (« Mon compte »)."""
    with unscoped(session):
        rows = await session.execute(
            select(MembershipInvitation, Tenant.name)
            .join(Tenant, Tenant.id == MembershipInvitation.tenant_id)
            .where(MembershipInvitation.user_id == user_id, MembershipInvitation.answered_at.is_(None),
                   MembershipInvitation.expires_at > utcnow())
            .order_by(MembershipInvitation.created_at)
        )
        return [(inv, name) for inv, name in rows]


async def answer_invitation(
    session: AsyncSession, tenant_id: uuid.UUID, invitation_id: uuid.UUID, user_id: uuid.UUID, *, accept: bool
) -> Membership | None:
    """The invitee accepts (it becomes a member with the invited role) or declines.

    ``session`` is scoped to the invitation's tenant (found first with :func:`invitation_for`).
    """
    row = await session.scalar(
        select(MembershipInvitation).where(
            MembershipInvitation.tenant_id == tenant_id, MembershipInvitation.id == invitation_id,
            MembershipInvitation.user_id == user_id, MembershipInvitation.answered_at.is_(None),
        ).with_for_update(of=MembershipInvitation)
    )
    if row is None or row.expires_at < utcnow():
        raise NotFound("invitation")
    row.answered_at, row.answer = utcnow(), "accepted" if accept else "declined"
    if not accept:
        await session.flush()
        return None
    user = await session.get(User, user_id)
    assert user is not None
    user.managed_by_tenant_id = None  # a member elsewhere: its profile is its own
    membership = Membership(tenant_id=tenant_id, user_id=user_id, role=row.role)
    session.add(membership)
    await session.flush()
    return membership


# --------------------------------------------------------------------------- tokens


async def create_api_token(session: AsyncSession, user: User, *, name: str = "", days: int | None = None) -> tuple[ApiToken, str]:
    """Returns the row and the token in clear: shown once, only its hash is kept."""
    token, lookup, digest = new_token("ctr")
    row = ApiToken(
        user_id=user.id,
        name=name[:100],
        prefix=lookup,
        token_hash=digest,
        expires_at=utcnow() + dt.timedelta(days=days) if days else None,
    )
    session.add(row)
    await session.flush()
    return row, token


async def list_api_tokens(session: AsyncSession, user_id: uuid.UUID) -> list[ApiToken]:
    return list(await session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at)))


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("utilisateur")
    return user


async def revoke_api_token(session: AsyncSession, user_id: uuid.UUID, token_id: uuid.UUID) -> ApiToken:
    row = await session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id))
    if row is None:
        raise NotFound("jeton")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
    return row


TOKEN_TOUCH_EVERY = dt.timedelta(minutes=1)


async def token_login(session: AsyncSession, token: str) -> tuple[User, ApiToken] | None:
    """The active user of a valid (known, unrevoked, unexpired) API token, with the token's row."""
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at < now):
        return None
    user = await session.get(User, row.user_id)
    return (user, row) if user and user.is_active else None


async def user_for_token(session: AsyncSession, token: str) -> User | None:
    found = await token_login(session, token)
    return found[0] if found else None


def token_needs_touch(row: ApiToken) -> bool:
    """Whether ``last_used_at`` is due: at most once a minute, so a busy script writes nothing per request."""
    return row.last_used_at is None or row.last_used_at < utcnow() - TOKEN_TOUCH_EVERY


async def mark_token_used(session: AsyncSession, token_id: uuid.UUID) -> None:
    """Record when an API token was last used (shown on the account page).

    A fact, not an edit: a plain UPDATE, not audited; the condition keeps two
    concurrent requests from writing it twice within the minute.
    """
    now = utcnow()
    await session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id)
        .where(or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOKEN_TOUCH_EVERY))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


async def _revoke_password_resets(session: AsyncSession, user_id: uuid.UUID, now: dt.datetime) -> None:
    """Every unused reset link of the user stops working (ASVS 4.0 V2.5.x: one live link at most)."""
    await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user_id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


async def create_password_reset(session: AsyncSession, user: User, *, hours: int = 2) -> str:
    """A new reset link; the user's earlier unused links are revoked."""
    now = utcnow()
    await _revoke_password_resets(session, user.id, now)
    token, _lookup, digest = new_token("rst")
    session.add(PasswordResetToken(user_id=user.id, token_hash=digest, expires_at=now + dt.timedelta(hours=hours)))
    await session.flush()
    return token


def _set_password(user: User, new_password: str) -> None:
    # A new epoch ends every session started with the old password (ASVS 4.0 V3.3.3).
    user.password_hash = hash_password(new_password)
    user.session_epoch = (user.session_epoch or 0) + 1


async def change_password(session: AsyncSession, user: User, new_password: str) -> None:
    """The owner changes its password: other sessions end, pending reset links are revoked.

    The caller renews the current session under the new epoch (``app.auth.login_session``).
    """
    problem = password_problem(new_password)
    if problem:
        raise ValidationFailed({"new_password": problem})
    _set_password(user, new_password)
    await _revoke_password_resets(session, user.id, utcnow())
    await session.flush()


async def consume_password_reset(session: AsyncSession, token: str, new_password: str) -> User:
    row = await session.scalar(select(PasswordResetToken).where(PasswordResetToken.token_hash == hash_token(token)))
    if row is None or row.used_at is not None or row.expires_at < utcnow():
        raise ValidationFailed({"token": "Ce lien de réinitialisation est invalide ou expiré."})
    problem = password_problem(new_password)
    if problem:
        raise ValidationFailed({"password": problem})
    user = await session.get(User, row.user_id)
    if user is None:
        raise ValidationFailed({"token": "Ce lien de réinitialisation est invalide ou expiré."})
    _set_password(user, new_password)
    await _revoke_password_resets(session, user.id, utcnow())  # this link and any other
    await session.flush()
    return user


# --------------------------------------------------------------------------- audit


@dataclass(frozen=True)
class AuditFilter:
    """What the « Journal » shows: object kind and one object, action, person (part of its label), period."""

    entity: str = ""
    entity_id: str = ""
    action: str = ""
    actor: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    #: The confidential objects the reader may not see (``AuditReader.hidden_entities``): never listed.
    excluded: frozenset[str] = frozenset()


def _audit_statement(tenant_id: uuid.UUID, where: AuditFilter) -> Any:
    stmt = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if where.excluded:
        stmt = stmt.where(AuditEvent.entity.not_in(sorted(where.excluded)))
    if where.entity:
        stmt = stmt.where(AuditEvent.entity == where.entity)
    if where.entity_id:
        stmt = stmt.where(AuditEvent.entity_id == where.entity_id)
    if where.action:
        stmt = stmt.where(AuditEvent.action == where.action)
    if where.actor:
        stmt = stmt.where(func.lower(AuditEvent.actor_label).contains(where.actor.lower(), autoescape=True))
    if where.since:
        stmt = stmt.where(AuditEvent.at >= where.since)
    if where.until:
        stmt = stmt.where(AuditEvent.at < where.until)
    return stmt


async def list_audit_events(
    session: AsyncSession, tenant_id: uuid.UUID, where: AuditFilter | None = None, *, page: int = 1, per_page: int = 50,
) -> Paged:
    stmt = _audit_statement(tenant_id, where or AuditFilter())
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = max(1, page)
    rows = await session.scalars(
        stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return Paged(list(rows), total, page, per_page)


async def iter_audit_events(
    session: AsyncSession, tenant_id: uuid.UUID, where: AuditFilter, *, batch: int = 500,
) -> AsyncIterator[list[AuditEvent]]:
    """Every event the filter shows, latest first, in batches (keyset pages: no offset scan, no open cursor)."""
    stmt = _audit_statement(tenant_id, where).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(batch)
    last: AuditEvent | None = None
    while True:
        page = stmt if last is None else stmt.where(or_(
            AuditEvent.at < last.at, and_(AuditEvent.at == last.at, AuditEvent.id < last.id)))
        rows = list(await session.scalars(page))
        if not rows:
            return
        yield rows
        if len(rows) < batch:
            return
        last = rows[-1]


async def audit_choices(session: AsyncSession, tenant_id: uuid.UUID,
                        excluded: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """The object kinds, actions and people the tenant's log holds (the filters' choices), without the
    ``excluded`` confidential objects' events."""
    out = {}
    for key, column in (("entities", AuditEvent.entity), ("actions", AuditEvent.action), ("actors", AuditEvent.actor_label)):
        stmt = select(column).where(AuditEvent.tenant_id == tenant_id)
        if excluded:
            stmt = stmt.where(AuditEvent.entity.not_in(sorted(excluded)))
        out[key] = sorted(await session.scalars(stmt.distinct()))
    return out


async def access_audit_event(session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> AuditEvent:
    event = await session.scalar(select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.id == event_id))
    if event is None:
        raise NotFound("événement")
    return event


def removal_undoable(event: AuditEvent, *, now: dt.datetime) -> bool:
    """A member's removal, less than :data:`UNDO_REMOVAL` ago, that says who and with which profile."""
    before = event.before or {}
    return (event.entity == Membership.__tablename__ and event.action == "delete" and bool(before.get("user_id"))
            and before.get("role") in Role._value2member_map_ and now - event.at < UNDO_REMOVAL)


async def users_by_ids(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> list[User]:
    return list(await session.scalars(select(User).where(User.id.in_(user_ids)))) if user_ids else []


async def recent_removals(session: AsyncSession, tenant_id: uuid.UUID, *, now: dt.datetime) -> list[AuditEvent]:
    """Removals of the last day whose person has not come back: each can be undone in one step."""
    rows = await session.scalars(select(AuditEvent).where(
        AuditEvent.tenant_id == tenant_id, AuditEvent.entity == Membership.__tablename__, AuditEvent.action == "delete",
        AuditEvent.at >= now - UNDO_REMOVAL).order_by(AuditEvent.at.desc()))
    members = set(await session.scalars(select(Membership.user_id).where(Membership.tenant_id == tenant_id)))
    out, seen = [], set()
    for event in rows:
        user_id = str((event.before or {}).get("user_id", ""))
        if removal_undoable(event, now=now) and user_id not in seen and uuid.UUID(user_id) not in members:
            seen.add(user_id)
            out.append(event)
    return out


async def undo_removal(session: AsyncSession, tenant_id: uuid.UUID, event: AuditEvent, *, now: dt.datetime) -> Membership:
    """Give the removed person back its access, with the profile it had (a new audited creation)."""
    if not removal_undoable(event, now=now):
        raise ValidationFailed({"event": "Ce retrait ne peut plus être annulé (plus d'un jour) : ajoutez la personne à nouveau."})
    before = event.before or {}
    user = await session.get(User, uuid.UUID(str(before["user_id"])))
    if user is None or not user.is_active:
        raise ValidationFailed({"event": "Ce compte n'existe plus ou est désactivé : ajoutez la personne à nouveau."})
    if await is_member(session, tenant_id, user.id):
        raise ValidationFailed({"event": f"{user.email} a déjà accès à ce bénéficiaire."})
    errors: dict[str, str] = {}
    role = _check_role(str(before.get("role", "")), errors)  # a tenant's profile, as when added
    if role is None:
        raise ValidationFailed({"event": "Le profil de ce retrait n'est pas celui d'un bénéficiaire : ajoutez la personne à nouveau."})
    membership = Membership(tenant_id=tenant_id, user_id=user.id, role=role.value)
    session.add(membership)
    await session.flush()
    return membership


# --------------------------------------------------------------------------- identity


@dataclass(frozen=True)
class Identity:
    """Who is calling: the user and every role they hold, loaded once per request."""

    user_id: uuid.UUID
    email: str
    full_name: str
    tenant_roles: dict[uuid.UUID, str]
    central_ids: frozenset[uuid.UUID]
    via_token: bool = False

    @property
    def actor(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "label": self.email + (" (API)" if self.via_token else "")}

    @property
    def is_coordinator(self) -> bool:
        return bool(self.central_ids)


async def load_identity(session: AsyncSession, user: User, *, via_token: bool = False) -> Identity:
    with unscoped(session):
        memberships = await session.execute(
            select(Membership.tenant_id, Membership.role).where(Membership.user_id == user.id)
        )
        centrals = await session.scalars(select(CentralMembership.central_id).where(CentralMembership.user_id == user.id))
        return Identity(
            user_id=user.id,
            email=user.email,
            full_name=user.full_name,
            tenant_roles={tid: role for tid, role in memberships},
            central_ids=frozenset(centrals),
            via_token=via_token,
        )
