"""The exports a tenant's admin asked for: the job's state, its progress and its file (issue 16 §1)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantOwned, utcnow

__all__ = ["DESTRUCTION_STATUSES", "EXPORT_STATUSES", "TenantDestruction", "TenantExport"]

#: The states of an export and their French words.
EXPORT_STATUSES = {"queued": "En attente", "running": "En cours", "done": "Prête", "failed": "Échec",
                   "expired": "Expirée"}


class TenantExport(TenantOwned, Base):
    """Une demande d'export de réversibilité : son état, sa progression et son archive (valable un temps limité)."""

    __tablename__ = "tenant_exports"
    requested_by: Mapped[str] = mapped_column(String(320), comment="Adresse du compte qui a demandé l'export")
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(comment="Compte qui a demandé l'export")
    status: Mapped[str] = mapped_column(String(16), default="queued",
                                        comment="État : queued, running, done, failed ou expired")
    progress: Mapped[int] = mapped_column(Integer, default=0, comment="Progression, en pour cent")
    include_password_hashes: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="Empreintes des mots de passe des comptes incluses (exploitant seulement)")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, comment="Demandé le (UTC)")
    started_at: Mapped[dt.datetime | None] = mapped_column(comment="Commencé le (UTC)")
    finished_at: Mapped[dt.datetime | None] = mapped_column(comment="Terminé le (UTC)")
    expires_at: Mapped[dt.datetime | None] = mapped_column(comment="Lien de téléchargement valable jusqu'au (UTC)")
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0, comment="Taille de l'archive, en octets")
    sha256: Mapped[str] = mapped_column(String(64), default="", comment="Empreinte SHA-256 de l'archive")
    error: Mapped[str] = mapped_column(String(500), default="", comment="Message d'erreur d'un export en échec")


#: The states of a destruction and their French words.
DESTRUCTION_STATUSES = {"pending": "Délai de réflexion en cours", "cancelled": "Annulée", "done": "Effectuée"}


class TenantDestruction(Base):
    """Une demande de destruction des données d'un bénéficiaire, puis son certificat signé (issue 16 §4 ; CCP TGD
    V.4). Table de la plateforme, hors du bénéficiaire : elle survit à la destruction qu'elle atteste."""

    __tablename__ = "tenant_destructions"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, comment="Identifiant de la destruction et de son certificat")
    tenant_id: Mapped[uuid.UUID] = mapped_column(index=True, comment="Bénéficiaire détruit (sans clé étrangère : "
                                                 "la ligne du bénéficiaire est effacée)")
    tenant_name: Mapped[str] = mapped_column(String(200), comment="Nom du bénéficiaire à la demande")
    status: Mapped[str] = mapped_column(String(16), default="pending",
                                        comment="État : pending (délai de réflexion), cancelled ou done")
    requested_by: Mapped[str] = mapped_column(String(320), comment="Adresse de l'administrateur qui a confirmé")
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(comment="Compte qui a confirmé")
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow, comment="Confirmée le (UTC)")
    not_before: Mapped[dt.datetime] = mapped_column(comment="Fin du délai de réflexion : pas de destruction avant (UTC)")
    export_id: Mapped[uuid.UUID | None] = mapped_column(comment="Export de réversibilité dont la réception est confirmée")
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(comment="Annulée le (UTC)")
    cancelled_by: Mapped[str] = mapped_column(String(320), default="", comment="Annulée par")
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(comment="Données effacées le (UTC)")
    destroyed_by: Mapped[str] = mapped_column(String(320), default="", comment="Exploitant qui a effacé les données")
    certificate: Mapped[str] = mapped_column(Text, default="", comment="Certificat de destruction signé (JSON)")
    certificate_sha256: Mapped[str] = mapped_column(String(64), default="",
                                                    comment="Empreinte SHA-256 du fichier du certificat")
