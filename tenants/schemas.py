"""API shapes of ``/api/v1`` (msgspec structs): what goes in, what comes out.

Input structs forbid unknown fields (a misspelt field is an error, not a silent
no-op) and leave business validation to ``tenants.services``, which answers in
French per field. Partial updates use ``UNSET``: a field absent from a PATCH body
is left as it is.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from msgspec import UNSET, Meta, Struct, UnsetType

from app.audit import AuditEvent
from tenants.models import ApiToken, Membership, MembershipInvitation, Role, Site, Tenant, User

__all__ = [
    "AuditEventOut",
    "AuditPage",
    "MemberCreate",
    "MemberOut",
    "MemberPatch",
    "PerimeterIn",
    "PerimeterOut",
    "SiteCreate",
    "SiteOut",
    "SitePatch",
    "TenantCreate",
    "TenantOut",
    "TenantPage",
    "TenantPatch",
    "TokenCreate",
    "TokenCreated",
    "TokenOut",
]

Siret = Annotated[str, Meta(description="SIRET (14 chiffres, clé de Luhn)", examples=["21690026600013"])]
Finess = Annotated[str, Meta(description="FINESS (9 chiffres, clé de contrôle)", examples=["570000018"])]
Insee = Annotated[str, Meta(description="Code commune INSEE (5 caractères)", examples=["72181"])]
TenantRole = Annotated[
    str,
    Meta(description="Profil : admin, viewer (visualisation), agent ou operator (exploitant du titulaire)", examples=["viewer"]),
]


class _In(Struct, forbid_unknown_fields=True, kw_only=True):
    def provided(self) -> dict[str, Any]:
        """The fields the client sent (UNSET ones left out), as the services expect them."""
        return {f: v for f in self.__struct_fields__ if (v := getattr(self, f)) is not UNSET}


# --------------------------------------------------------------------------- tenants


class TenantOut(Struct, kw_only=True):
    id: uuid.UUID
    name: str
    siret: str | None
    finess: str | None
    central_id: uuid.UUID | None
    address: str
    postal_code: str
    insee_code: str
    city: str
    region: str
    territory: str
    timezone: str
    is_active: bool
    created_at: dt.datetime
    #: The caller's profile in this tenant (``coordinator`` when seen through a central).
    role: str | None = None

    @classmethod
    def of(cls, tenant: Tenant, role: str | None = None) -> TenantOut:
        return cls(
            id=tenant.id, name=tenant.name, siret=tenant.siret, finess=tenant.finess, central_id=tenant.central_id,
            address=tenant.address, postal_code=tenant.postal_code, insee_code=tenant.insee_code, city=tenant.city,
            region=tenant.region, territory=tenant.territory, timezone=tenant.timezone, is_active=tenant.is_active,
            created_at=tenant.created_at, role=role,
        )


class TenantCreate(_In):
    name: Annotated[str, Meta(description="Raison sociale")]
    siret: Siret | None = None
    finess: Finess | None = None
    address: str = ""
    postal_code: str = ""
    city: str = ""
    insee_code: Insee = ""
    region: str = ""
    territory: Annotated[str, Meta(description="Territoire (metropole, alsace-moselle, 971, 972, 974…)")] = "metropole"


class TenantPatch(_In):
    name: str | UnsetType = UNSET
    siret: Siret | None | UnsetType = UNSET
    finess: Finess | None | UnsetType = UNSET
    address: str | UnsetType = UNSET
    postal_code: str | UnsetType = UNSET
    city: str | UnsetType = UNSET
    insee_code: Insee | UnsetType = UNSET
    region: str | UnsetType = UNSET
    territory: str | UnsetType = UNSET


class TenantPage(Struct, kw_only=True):
    items: list[TenantOut]
    total: int
    page: int
    per_page: int
    pages: int


# --------------------------------------------------------------------------- sites


class SiteOut(Struct, kw_only=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    address: str
    postal_code: str
    city: str
    insee_code: str
    building_code: str
    latitude: float | None
    longitude: float | None
    notes: str
    referent_name: str
    referent_email: str
    created_at: dt.datetime

    @classmethod
    def of(cls, site: Site) -> SiteOut:
        return cls(
            id=site.id, tenant_id=site.tenant_id, name=site.name, address=site.address, postal_code=site.postal_code,
            city=site.city, insee_code=site.insee_code, building_code=site.building_code, latitude=site.latitude,
            longitude=site.longitude, notes=site.notes, referent_name=site.referent_name,
            referent_email=site.referent_email, created_at=site.created_at,
        )


BuildingCode = Annotated[str, Meta(description="Code bâtiment des identifiants de recharge (CCTP CPAM 5-5-1), 4 caractères")]


class SiteCreate(_In):
    name: str
    insee_code: Insee
    address: str = ""
    postal_code: str = ""
    city: str = ""
    building_code: Annotated[BuildingCode, Meta(description="Vide : le prochain code libre de la commune (0001, 0002…)")] = ""
    latitude: float | None = None
    longitude: float | None = None
    notes: str = ""
    referent_name: Annotated[str, Meta(description="Référent local du marché (CCTP CAIH 2.1.5)")] = ""
    referent_email: Annotated[str, Meta(description="Son courriel : le récapitulatif de chaque incident clos y est envoyé")] = ""


class SitePatch(_In):
    name: str | UnsetType = UNSET
    insee_code: Insee | UnsetType = UNSET
    address: str | UnsetType = UNSET
    postal_code: str | UnsetType = UNSET
    city: str | UnsetType = UNSET
    building_code: BuildingCode | UnsetType = UNSET
    latitude: float | None | UnsetType = UNSET
    longitude: float | None | UnsetType = UNSET
    notes: str | UnsetType = UNSET
    referent_name: str | UnsetType = UNSET
    referent_email: str | UnsetType = UNSET


# --------------------------------------------------------------------------- users


class PerimeterOut(Struct, kw_only=True):
    """A « responsable »'s perimeter (CCTP CPAM 5-5-5-3 « pour un site ou un service »)."""

    whole_tenant: Annotated[bool, Meta(description="Aucun site ni service : il valide pour tout le bénéficiaire")]
    site_ids: list[uuid.UUID]
    services: list[str]


class MemberOut(Struct, kw_only=True):
    user_id: uuid.UUID
    email: str
    full_name: str
    role: str
    role_label: str
    is_active: bool
    member_since: dt.datetime
    service: Annotated[str, Meta(description="Service du membre (texte libre), vide sinon")] = ""
    perimeter: Annotated[PerimeterOut | None, Meta(
        description="Périmètre de validation des badges d'un responsable ; null pour les autres profils")] = None

    @classmethod
    def of(cls, membership: Membership, user: User, perimeter: Any = None) -> MemberOut:
        """``perimeter``: the responsable's ``ManagerPerimeter`` (None: the whole tenant)."""
        shown = None
        if membership.role == Role.MANAGER.value:
            site_ids = sorted(perimeter.site_ids, key=str) if perimeter is not None else []
            services = sorted(perimeter.services) if perimeter is not None else []
            shown = PerimeterOut(whole_tenant=not site_ids and not services, site_ids=site_ids, services=services)
        return cls(
            user_id=user.id, email=user.email, full_name=user.full_name, role=membership.role,
            role_label=Role(membership.role).label, is_active=user.is_active, member_since=membership.created_at,
            service=membership.service or "", perimeter=shown,
        )


class MemberCreate(_In):
    """Adds an existing account to the tenant, or creates it when the address is new."""

    email: str
    role: TenantRole
    full_name: str = ""
    password: Annotated[str | None, Meta(description="Mot de passe initial (12 caractères au moins) ; sinon, réinitialisation par courriel")] = None


class EnrolmentOut(Struct, kw_only=True):
    """The answer to « add a member »: the same whether or not the address already had an account."""

    email: str
    role: str
    role_label: str
    message: str


class InvitationOut(Struct, kw_only=True):
    """An existing account invited into the tenant, until its owner answers."""

    id: uuid.UUID
    email: str
    role: str
    role_label: str
    invited_by: str
    created_at: dt.datetime
    expires_at: dt.datetime

    @classmethod
    def of(cls, row: MembershipInvitation) -> InvitationOut:
        return cls(id=row.id, email=row.user.email, role=row.role, role_label=Role(row.role).label,
                   invited_by=row.invited_by, created_at=row.created_at, expires_at=row.expires_at)


class PerimeterIn(_In):
    """The sites (of the tenant) and services (carried by its members) a responsable validates badges for;
    both empty: the whole tenant (CCTP CPAM 5-5-5-3)."""

    site_ids: Annotated[list[Annotated[str, Meta(max_length=64)]], Meta(max_length=200)] = []
    services: Annotated[list[Annotated[str, Meta(max_length=200)]], Meta(max_length=200)] = []


class MemberPatch(_In):
    role: TenantRole | UnsetType = UNSET
    full_name: str | UnsetType = UNSET
    service: Annotated[str, Meta(max_length=200, description="Service du membre ; vide : aucun")] | UnsetType = UNSET
    perimeter: Annotated[PerimeterIn, Meta(description="Responsable seulement : son périmètre, remplacé en entier")] \
        | UnsetType = UNSET


# --------------------------------------------------------------------------- audit


class AuditEventOut(Struct, kw_only=True):
    id: uuid.UUID
    at: dt.datetime
    actor_user_id: uuid.UUID | None
    actor_label: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls(
            id=event.id, at=event.at, actor_user_id=event.actor_user_id, actor_label=event.actor_label,
            action=event.action, entity=event.entity, entity_id=event.entity_id, before=event.before, after=event.after,
        )


class AuditPage(Struct, kw_only=True):
    items: list[AuditEventOut]
    total: int
    page: int
    per_page: int
    pages: int


# --------------------------------------------------------------------------- tokens


class TokenOut(Struct, kw_only=True):
    id: uuid.UUID
    name: str
    prefix: Annotated[str, Meta(description="Partie publique du jeton, pour le reconnaître (ctr_<prefix>_…)")]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenOut:
        return cls(
            id=row.id, name=row.name, prefix=row.prefix, created_at=row.created_at, last_used_at=row.last_used_at,
            expires_at=row.expires_at, revoked_at=row.revoked_at,
        )


class TokenCreate(_In):
    name: Annotated[str, Meta(max_length=100)] = ""
    days: Annotated[int, Meta(ge=1, le=3650, description="Durée de validité en jours ; sans limite si absent")] | None = None


class TokenCreated(TokenOut, kw_only=True):
    token: Annotated[str, Meta(description="Le jeton en clair : affiché cette seule fois, seul son condensé est conservé")]
