"""The park's equipment, per tenant (migration 0018, row-level security, composite foreign keys).

Charging stations are not copied here: they belong to ``csms``, reached through its services.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantOwned, utcnow
from tenants.models import site_fk

__all__ = ["KINDS", "SUPPORT_CASES", "Asset", "AssetAnnouncement"]

#: What a piece of equipment is (CAIH 2.1.33 « Serveur X86, Serveur Unix, Lame, Châssis, Switch … »).
KINDS = {
    "server": "Serveur",
    "storage": "Baie de stockage",
    "network": "Équipement réseau",
    "iot_sensor": "Capteur IoT",
    "iot_gateway": "Passerelle IoT",
    "alert_terminal": "Terminal d'alerte",
    "other": "Autre",
}
#: CAIH 2.1.22: the support case of the equipment.
SUPPORT_CASES = {
    "warranty": "Sous garantie (guichet unique)",
    "vendor": "Hors garantie, avec support constructeur",
    "none": "Sans support constructeur",
}


class Asset(TenantOwned, Base):
    __tablename__ = "assets"
    __table_args__ = (
        site_fk(),
        UniqueConstraint("tenant_id", "serial_number"),
        Index("ix_assets_maintainability", "tenant_id", "end_of_maintainability"),
    )
    kind: Mapped[str] = mapped_column(String(20))
    maker: Mapped[str] = mapped_column(String(100), default="")
    model: Mapped[str] = mapped_column(String(100), default="")
    serial_number: Mapped[str] = mapped_column(String(100))
    site_id: Mapped[uuid.UUID | None]
    commissioned_on: Mapped[dt.date | None] = mapped_column(Date)
    warranty_end: Mapped[dt.date | None] = mapped_column(Date)
    support_case: Mapped[str] = mapped_column(String(20), default="warranty")
    end_of_maintainability: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def label(self) -> str:
        return " ".join(p for p in (KINDS.get(self.kind, self.kind), self.maker, self.model) if p) \
            + f" ({self.serial_number})"

    def under_warranty(self, today: dt.date) -> bool:
        return self.warranty_end is not None and self.warranty_end >= today


class AssetAnnouncement(TenantOwned, Base):
    """CAIH 2.1.30: the yearly announcement of the equipment whose maintainability ends within 12
    months, sent once a year per tenant."""

    __tablename__ = "asset_announcements"
    __table_args__ = (UniqueConstraint("tenant_id", "year"),)
    __audited__ = False
    year: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    count: Mapped[int] = mapped_column(Integer, default=0)
