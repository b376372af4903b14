"""The tables of quarterly invoicing and late interest (issue 15 §3, migration 0034).

* ``invoice_periods``: which civil quarter of which order line an invoice bills (CCP TGD IX.4 « trimestriellement, à
  terme civil échu »). Tenant-owned; unique per order line and quarter, so a quarter is never invoiced twice, even by
  two concurrent drafts. The row goes with its invoice when a draft is discarded.
* ``ecb_rates``: the main refinancing rate of the European Central Bank from the day it applies (IX.7: the late
  interest rate is the one « en vigueur au premier jour du semestre (...) majoré de huit points »). One table for
  every central (the ECB has one rate), kept by the coordinators; its changes land in ``platform_audit_events``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import Date, ForeignKeyConstraint, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantOwned, utcnow

__all__ = ["EcbRate", "InvoicePeriod"]


class InvoicePeriod(TenantOwned, Base):
    """One quarter of one continuous order line (``order_position``) billed by ``invoice_id``."""

    __tablename__ = "invoice_periods"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "order_id", "order_position", "year", "quarter"),
    )
    invoice_id: Mapped[uuid.UUID]
    order_id: Mapped[uuid.UUID]
    order_position: Mapped[int] = mapped_column(Integer)
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)
    served_from: Mapped[dt.date] = mapped_column(Date)
    served_to: Mapped[dt.date] = mapped_column(Date)
    #: Days served on months of thirty days (``billing.rules.Quarter.days``).
    days: Mapped[int] = mapped_column(Integer)


class EcbRate(Base):
    """The ECB's main refinancing rate in percent, from ``applies_from``."""

    __tablename__ = "ecb_rates"
    __table_args__ = (UniqueConstraint("applies_from"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    applies_from: Mapped[dt.date] = mapped_column(Date)
    rate: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")
