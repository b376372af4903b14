"""The tables of ``reporting`` (migration 0031).

``semester_reports``: one generation of a central's semester report (CCTP CAIH 5, CANUT 7), with its parameters,
its progress and the files it left under the var directory. A report belongs to a purchasing central, not to a
tenant (like ``framework_agreements``): no ``tenant_id`` and no row-level security; the wall is the central
(``reporting.services.report_of_central``: another central's report is ``NotFound``). Its creation and its start
are audited (``platform_audit_events``); the progress and the end are recorded with Core updates, not one audit row
per few thousand lines.

``order_volumes`` (migration 0038): the coordinator's dashboard's rollup of the ordered lines, per tenant ×
agreement × month × family × BPU / catalogue × purchase / rental × article (``catalog.services.OrderedVolume``).
Derived data, recomputed whole per tenant from catalog's orders (``reporting.dashboard.refresh_volumes``) when an
order is issued, amended or cancelled (durable subscribers) and every night: written with Core statements, not
audited row by row (the orders it sums are). Tenant-owned, with row-level security: a coordinator reads it in the
scope of its agreements' beneficiaries.

``central_volumes`` (migration 0038): the same sums without the tenant, per agreement × month × family × BPU /
catalogue × purchase / rental × article: what a dashboard of all its beneficiaries reads (a few hundred rows instead
of one per beneficiary). Kept by the same recomputation, in its transaction: the difference between a tenant's old
and new rows is added to it (an upsert; a tenant's recomputations are serialised by an advisory lock on
PostgreSQL). Not tenant-owned (an agreement's figures, like ``semester_reports``): its wall is the agreement, which
``reporting.dashboard`` takes from the coordinator's central.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, TenantOwned, utcnow

__all__ = ["REPORT_STATUSES", "CentralVolume", "OrderVolume", "SemesterReport", "TenantMonthVolume", "VolumeCell",
           "VolumeSums"]

#: queued → running → done, or failed (with its error); French labels for the pages.
REPORT_STATUSES = {"queued": "En attente", "running": "En cours", "done": "Terminé", "failed": "Échec"}


class SemesterReport(Base):
    __tablename__ = "semester_reports"
    __table_args__ = (Index("ix_semester_reports_central", "central_id", "created_at"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    central_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("centrals.id"))
    year: Mapped[int] = mapped_column(Integer)
    #: 1 (January–June) or 2 (July–December).
    half: Mapped[int] = mapped_column(Integer)
    #: One agreement of the central, or None: every agreement of the central.
    agreement_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("framework_agreements.id"))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    #: 0–100.
    progress: Mapped[int] = mapped_column(Integer, default=0)
    #: Lines written to the « source » sheet so far.
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    #: What the report was made with: central code, agreements' references, since / up to, time zone.
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    error: Mapped[str] = mapped_column(Text, default="")
    #: Per format (``xlsx``, ``csv``, ``ods``): ``{"name", "size", "sha256"}`` of the file under
    #: ``var/reports/<central>/``.
    files: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class VolumeSums:
    """The sums of one rollup cell: the ordered lines' CA HT after their extra discount (« CA HT (commandé) »),
    their number and, for the cells of an article, their quantity."""

    #: The lines' total HT after their extra discount (« CA HT (commandé) »).
    amount_ht: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    lines: Mapped[int] = mapped_column(Integer)


class VolumeCell(VolumeSums):
    """The columns ``order_volumes`` and ``central_volumes`` share: one agreement × month × family × BPU /
    catalogue × purchase / rental × article, and its sums."""

    #: catalog's framework agreement (no foreign key across components: ``framework_agreements`` is tenants').
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("framework_agreements.id"))
    #: The first day of the order date's month.
    month: Mapped[dt.date] = mapped_column(Date)
    family: Mapped[str] = mapped_column(String(40))
    #: « BPU » or « CATALOGUE » (CAIH 5).
    kind: Mapped[str] = mapped_column(String(10))
    #: ``achat`` or ``location`` (CAIH 5 « la part du chiffre d'affaires fait en location/achat »).
    purchase_or_rental: Mapped[str] = mapped_column(String(10))
    article_code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 3))


class OrderVolume(TenantOwned, VolumeCell, Base):
    """One cell of the dashboard's rollup (``catalog.services.OrderedVolume`` of one tenant)."""

    __tablename__ = "order_volumes"
    #: Derived from the orders, which are audited; recomputed whole per tenant.
    __audited__ = False
    __table_args__ = (
        UniqueConstraint("tenant_id", "agreement_id", "month", "family", "kind", "purchase_or_rental", "article_code",
                         name="uq_order_volumes_cell"),
        Index("ix_order_volumes_agreement_month", "agreement_id", "month"),
    )


class CentralVolume(VolumeCell, Base):
    """One cell of the rollup summed over the beneficiaries (``OrderVolume`` without the tenant)."""

    __tablename__ = "central_volumes"
    #: Derived from the orders, which are audited.
    __audited__ = False
    __table_args__ = (UniqueConstraint("agreement_id", "month", "family", "kind", "purchase_or_rental", "article_code",
                                       name="uq_central_volumes_cell"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class TenantMonthVolume(TenantOwned, VolumeSums, Base):
    """A tenant's ordered lines of one agreement and one month, every family and article together (migration 0041):
    the per-beneficiary split of a dashboard of every beneficiary reads one row per tenant and month (4,003 rows for
    the bench's 500 beneficiaries, against 24,006 cells of ``order_volumes``)."""

    __tablename__ = "tenant_month_volumes"
    #: Derived from the orders, which are audited; recomputed whole per tenant with ``order_volumes``.
    __audited__ = False
    __table_args__ = (UniqueConstraint("tenant_id", "agreement_id", "month", name="uq_tenant_month_volumes_cell"),)
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("framework_agreements.id"))
    month: Mapped[dt.date] = mapped_column(Date)
