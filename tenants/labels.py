"""The French words of ``tenants``' audited objects in the « Journal » (``app.audit.AuditLabels``)."""

from __future__ import annotations

from app.audit import AuditLabels
from tenants.models import ROLE_LABELS
from tenants.territories import TERRITORIES

__all__ = ["labels"]

labels = AuditLabels(
    entities={
        "tenants": "Bénéficiaire",
        "sites": "Site",
        "memberships": "Membre",
        "manager_scopes": "Périmètre de responsable",
        "membership_invitations": "Invitation",
        "subscriptions": "Adhésion",
        "users": "Compte",
        "centrals": "Centrale",
        "framework_agreements": "Accord-cadre",
    },
    fields={
        "name": "Nom",
        "address": "Adresse",
        "postal_code": "Code postal",
        "city": "Commune",
        "insee_code": "Code commune INSEE",
        "region": "Région",
        "territory": "Territoire",
        "siret": "SIRET",
        "finess": "FINESS",
        "building_code": "Code bâtiment",
        "latitude": "Latitude",
        "longitude": "Longitude",
        "notes": "Notes",
        "referent_name": "Référent local",
        "referent_email": "Courriel du référent local",
        "role": "Profil",
        "user_id": "Utilisateur",
        "is_active": "Actif",
        "central_id": "Centrale",
        "agreement_id": "Accord-cadre",
        "since": "Depuis le",
        "email": "Adresse électronique",
        "full_name": "Nom",
        "password_hash": "Mot de passe",
        "token_hash": "Lien d'invitation",
        "invited_by": "Invité par",
        "expires_at": "Valable jusqu'au",
        "answered_at": "Réponse le",
        "answer": "Réponse",
        "last_login_at": "Dernière connexion",
        "session_epoch": "Sessions",
        "managed_by_tenant_id": "Compte géré par",
        "service": "Service",
        "site_id": "Site",
    },
    values={
        "role": {role.value: label for role, label in ROLE_LABELS.items()},
        "territory": {t.code: t.label for t in TERRITORIES.values()},
        "answer": {"accepted": "acceptée", "declined": "refusée", "cancelled": "annulée"},
    },
    titles={
        "tenants": "name", "sites": "name", "users": "email", "centrals": "name", "framework_agreements": "reference",
        "memberships": "user_id", "manager_scopes": "user_id", "membership_invitations": "user_id", "subscriptions": "agreement_id",
    },
    hidden=frozenset({"session_epoch"}),
)
