"""Centrals, framework agreements, beneficiaries (tenants), sites, users, roles, tokens."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.audit import AuditEvent
from app.db import Base, TenantOwned, utcnow

__all__ = [
    "ApiToken",
    "Central",
    "CentralMembership",
    "FrameworkAgreement",
    "ManagerScope",
    "Membership",
    "MembershipInvitation",
    "OidcProvider",
    "PasswordResetToken",
    "Role",
    "Site",
    "Subscription",
    "Tenant",
    "User",
]


class Role(enum.StrEnum):
    COORDINATOR = "coordinator"  # on a central
    ADMIN = "admin"
    VIEWER = "viewer"  # profil « visualisation » (read-only)
    AGENT = "agent"
    OPERATOR = "operator"  # the titulaire's support and technicians
    #: « le gestionnaire de la CPAM » (CCTP CPAM 5-5-5-3): reads, and gives the written approval of the agents'
    #: badge requests (its permission, ``approve_badges``, comes from ``catalog``).
    MANAGER = "manager"
    #: The teleassistance of the Justice's TGD agreement: the only profile that opens the beneficiary files
    #: of the alert terminals (people in danger; ``assets.terminals``).
    TGD = "tgd"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.COORDINATOR: "Coordinateur",
    Role.ADMIN: "Administrateur",
    Role.VIEWER: "Visualisation",
    Role.AGENT: "Agent",
    Role.OPERATOR: "Exploitant (titulaire)",
    Role.MANAGER: "Responsable (validation des badges)",
    Role.TGD: "Téléassistance TGD (dossiers confidentiels)",
}
TENANT_ROLES = (Role.ADMIN, Role.MANAGER, Role.VIEWER, Role.AGENT, Role.OPERATOR, Role.TGD)


class Central(Base):
    """A purchasing central (CAIH, CANUT) or a direct public buyer (CPAM, a ministry)."""

    __tablename__ = "centrals"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="centrale")  # centrale | acheteur
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    agreements: Mapped[list[FrameworkAgreement]] = relationship(back_populates="central", order_by="FrameworkAgreement.reference")


class FrameworkAgreement(Base):
    """An accord-cadre / marché (e.g. ``2024_AOO_IOT``) held by the titulaire."""

    __tablename__ = "framework_agreements"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    central_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("centrals.id"), index=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    lot: Mapped[str] = mapped_column(String(100), default="")
    titulaire: Mapped[str] = mapped_column(String(200), default="")
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)

    central: Mapped[Central] = relationship(back_populates="agreements")


class Tenant(Base):
    """A beneficiary: the unit of tenancy."""

    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("siret IS NOT NULL OR finess IS NOT NULL", name="identified"),
    )
    #: The audit log files the tenant's own changes in its ``audit_events`` (app.audit).
    __tenant_root__ = True
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))  # raison sociale
    siret: Mapped[str | None] = mapped_column(String(14), unique=True)
    finess: Mapped[str | None] = mapped_column(String(9), unique=True)
    central_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("centrals.id"), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    postal_code: Mapped[str] = mapped_column(String(5), default="")
    insee_code: Mapped[str] = mapped_column(String(5), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    region: Mapped[str] = mapped_column(String(120), default="")
    territory: Mapped[str] = mapped_column(String(20), default="metropole")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    central: Mapped[Central | None] = relationship()
    #: Never loaded nor cascaded: it only tells the unit of work to insert a new tenant before
    #: its first audit rows (the audit model, in the kernel, knows no tenant model).
    audit_events: Mapped[list[AuditEvent]] = relationship(lazy="raise", passive_deletes="all")

    @property
    def timezone(self) -> str:
        from tenants.territories import get_territory

        return get_territory(self.territory).timezone


class Subscription(Base):
    """A beneficiary's adhesion to a framework agreement; it defines coordinator scope."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("tenant_id", "agreement_id"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("framework_agreements.id"), index=True)
    since: Mapped[dt.date | None] = mapped_column(Date)

    agreement: Mapped[FrameworkAgreement] = relationship()
    tenant: Mapped[Tenant] = relationship()


class User(Base):
    __tablename__ = "users"
    __audit_redact__ = frozenset({"password_hash"})
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-case
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    #: Bumped by a password change or reset: sessions started under an older epoch end.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    #: The tenant whose admins created this account and may edit its profile; None as soon as
    #: the account is a member anywhere else (its profile is then its owner's alone).
    managed_by_tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"))


class CentralMembership(Base):
    """A coordinator of a central."""

    __tablename__ = "central_memberships"
    __table_args__ = (UniqueConstraint("central_id", "user_id"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    central_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("centrals.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20), default=Role.COORDINATOR.value)

    central: Mapped[Central] = relationship()
    user: Mapped[User] = relationship()


class Membership(TenantOwned, Base):
    """A user's role in a tenant (admin, viewer, agent, operator)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: The member's service, free text (« Service logistique »): a « responsable » may be granted it (CCTP CPAM
    #: 5-5-5-3, ``ManagerScope``); "" when none.
    service: Mapped[str] = mapped_column(String(120), default="", server_default="")

    user: Mapped[User] = relationship(lazy="joined")


class ManagerScope(TenantOwned, Base):
    """One item of a « responsable »'s scope (CCTP CPAM 5-5-5-3: « le responsable […] pour un site ou un
    service »): a site of the tenant, or a service its members carry. A responsable with no row decides for the
    whole tenant (as before the scope existed). Keyed by the user, not the membership, so that a removal undone
    from the journal gives the same scope back instead of widening it to the whole tenant."""

    __tablename__ = "manager_scopes"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"]),
        CheckConstraint("(site_id IS NULL) <> (service = '')", name="site_or_service"),
        Index("ix_manager_scopes_user", "tenant_id", "user_id"),
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    site_id: Mapped[uuid.UUID | None]
    service: Mapped[str] = mapped_column(String(120), default="", server_default="")


class MembershipInvitation(TenantOwned, Base):
    """An existing account invited into a tenant: it joins only when its owner accepts."""

    __tablename__ = "membership_invitations"
    __table_args__ = (
        Index("uq_membership_invitations_pending", "tenant_id", "user_id", unique=True,
              postgresql_where=text("answered_at IS NULL"), sqlite_where=text("answered_at IS NULL")),
    )
    __audit_redact__ = frozenset({"token_hash"})
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: E-mail of the admin who invited (shown to the invitee).
    invited_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    answered_at: Mapped[dt.datetime | None]
    #: "" while pending, then "accepted", "declined" or "cancelled".
    answer: Mapped[str] = mapped_column(String(20), default="", server_default="")

    user: Mapped[User] = relationship(lazy="joined")


class Site(TenantOwned, Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    postal_code: Mapped[str] = mapped_column(String(5), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    insee_code: Mapped[str] = mapped_column(String(5))
    #: Building code used in charging identifiers (CCTP CPAM 5-5-1): 4 characters.
    building_code: Mapped[str] = mapped_column(String(4), default="0001")
    latitude: Mapped[float | None] = mapped_column(Numeric(9, 6, asdecimal=False))
    longitude: Mapped[float | None] = mapped_column(Numeric(9, 6, asdecimal=False))
    notes: Mapped[str] = mapped_column(String(1000), default="")
    #: The local referent of the contract for this site (CCTP CAIH 2.1.5: « l'envoi d'un mail récapitulatif
    #: au référent local du marché » at each incident's closure).
    referent_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    referent_email: Mapped[str] = mapped_column(String(320), default="", server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BuildingCode(Base):
    """Platform index of the building codes given in each commune (CCTP CPAM 5-5-1).

    A charging identifier is ``FR`` + INSEE code + ``B`` + building code + station,
    charger and point numbers: two sites of the same commune with the same building
    code would give two stations the same identifier, even in two tenants. The sites
    table is behind row-level security, so no tenant can see which codes the others
    took; this table, deliberately not tenant-owned, holds nothing but the key (like
    ``charge_box_routes``), and its primary key makes the claim race-free.
    """

    __tablename__ = "building_codes"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "site_id"], ["sites.tenant_id", "sites.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "site_id"),
    )
    insee_code: Mapped[str] = mapped_column(String(5), primary_key=True)
    building_code: Mapped[str] = mapped_column(String(4), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    site_id: Mapped[uuid.UUID]


class ApiToken(Base):
    """A bearer token: acts as its user, with the user's memberships and nothing more."""

    __tablename__ = "api_tokens"
    __audit_redact__ = frozenset({"token_hash"})
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of a 256-bit secret
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship()


class PasswordResetToken(Base):
    __tablename__ = "password_reset_tokens"
    __audit_redact__ = frozenset({"token_hash"})
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class OidcProvider(Base):
    """An OpenID Connect provider (e.g. ProConnect) enabled for a central or a tenant."""

    __tablename__ = "oidc_providers"
    __audit_redact__ = frozenset({"client_secret_encrypted"})
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    discovery_url: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret_encrypted: Mapped[str] = mapped_column(String(500), default="")
    scope: Mapped[str] = mapped_column(String(300), default="openid email given_name usual_name siret")
    central_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("centrals.id"))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    #: userinfo returned as a signed JWT (ProConnect) rather than JSON.
    userinfo_signed: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)


def site_fk(column: str = "site_id") -> ForeignKeyConstraint:
    """Composite foreign key to a site of the same tenant (DESIGN.md tenancy rule 1)."""
    return ForeignKeyConstraint(["tenant_id", column], ["sites.tenant_id", "sites.id"])
