"""The tables of ``catalog``: price schedules (BPU) and the catalog (issue 14 §1, migration 0021). The badge
requests' are in ``catalog/badges/models.py``.

None of them is tenant-owned: a BPU and a catalog solution belong to a framework agreement (like
``framework_agreements``, no row-level security); a beneficiary reaches them through its subscriptions
(``catalog.services.catalog_of_tenant``). Their changes land in ``platform_audit_events``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, utcnow

__all__ = ["BpuItem", "BpuVersion", "CatalogSolution", "SolutionEvent"]


class BpuVersion(Base):
    """One dated version of an agreement's bordereau de prix unitaires, in force from ``valid_from``
    until the next version's (``catalog.services.version_in_force``)."""

    __tablename__ = "bpu_versions"
    __table_args__ = (
        UniqueConstraint("agreement_id", "version"),
        Index("ix_bpu_versions_agreement_valid_from", "agreement_id", "valid_from"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("framework_agreements.id"))
    version: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(320), default="")
    source_filename: Mapped[str] = mapped_column(String(255), default="")
    line_count: Mapped[int] = mapped_column(Integer, default=0)


class BpuItem(Base):
    """One article of a version. A version is never edited (a new price is a new version), so its items
    are append-only and not copied one by one into the audit log: the version's row is (20,000 articles
    would be 20,000 audit rows)."""

    __tablename__ = "bpu_items"
    __audited__ = False
    __table_args__ = (
        UniqueConstraint("version_id", "article_code"),
        Index("ix_bpu_items_version_family", "version_id", "family"),
        Index("ix_bpu_items_version_maker", "version_id", "maker"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bpu_versions.id", ondelete="CASCADE"))
    article_code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(500))
    unit: Mapped[str] = mapped_column(String(40), default="")
    #: Euros HT, four decimals (a BPU may price a 30-minute ticket or a sensor at fractions of a cent).
    unit_price_ht: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    #: Percent (20.00, 5.50).
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    family: Mapped[str] = mapped_column(String(30))
    complexity: Mapped[str | None] = mapped_column(String(10))
    maker: Mapped[str] = mapped_column(String(100), default="")
    purchase_or_rental: Mapped[str] = mapped_column(String(10), default="achat")


class CatalogSolution(Base):
    """A solution of the catalog (CCTP CANUT 5.1.2): proposed by the titulaire, approved by the
    coordinator, withdrawn with a notice (CPAM 8-1-2-2) and possibly a substitute (CPAM 8-1-3)."""

    __tablename__ = "catalog_solutions"
    __table_args__ = (UniqueConstraint("agreement_id", "code"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("framework_agreements.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    maker: Mapped[str] = mapped_column(String(100), default="")
    #: The BPU article that prices it (may be empty while proposed).
    article_code: Mapped[str] = mapped_column(String(64), default="")
    price_ht: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    #: ``[{"name": "puissance", "unit": "kW", "value": "22"}, …]``: compared one by one (CPAM 8-1-3).
    characteristics: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(String(12), default="proposed")
    withdrawal_notice_on: Mapped[dt.date | None] = mapped_column(Date)
    withdrawal_effective_on: Mapped[dt.date | None] = mapped_column(Date)
    substitute_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("catalog_solutions.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SolutionEvent(Base):
    """The history of a solution's status, shown with it (itself a log: append-only)."""

    __tablename__ = "catalog_solution_events"
    __audited__ = False
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    solution_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_solutions.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(320), default="")
    from_status: Mapped[str] = mapped_column(String(12), default="")
    to_status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str] = mapped_column(Text, default="")
