"""The table of the yearly maintenance report's review (migration 0037).

``maintenance_report_reviews`` (tenant-owned, row-level security): the « rapport d'analyse » and the
« préconisations et améliorations pour l'année à venir » of a tenant's yearly maintenance report (CCTP CPAM 5-4-8:
« Ce compte-rendu inclut un rapport d'analyse, des préconisations et des améliorations pour l'année à venir »),
written by the titulaire's operator, one row per tenant and year; every change is audited by the flush hook.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantOwned, utcnow

__all__ = ["MaintenanceReview"]


class MaintenanceReview(TenantOwned, Base):
    __tablename__ = "maintenance_report_reviews"
    __table_args__ = (UniqueConstraint("tenant_id", "year", name="uq_maintenance_report_reviews_year"),)
    year: Mapped[int] = mapped_column(Integer)
    #: « un rapport d'analyse ».
    analysis: Mapped[str] = mapped_column(Text, default="")
    #: « des préconisations et des améliorations pour l'année à venir ».
    recommendations: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")
