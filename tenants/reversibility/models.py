"""The exports a tenant's admin asked for: the job's state, its progress and its file (issue 16 §1)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantOwned, utcnow

__all__ = ["EXPORT_STATUSES", "TenantExport"]

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
