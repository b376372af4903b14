"""The tables of acomptes (issue 15 §3; CCP TGD IX.5, migration 0035).

* ``progress_statements``: the « constat d'avancement » of a purchase order: the value HT of the services the
  titulaire executed on it so far, typed by its operator, validated (or refused, with the reason) by the buyer's
  administrator (IX.5 « Cet état est vérifié et validé par l'administration qui émet un procès-verbal de constat
  d'avancement »). Tenant-owned; ``order_id`` names catalog's order (no foreign key across components).
* ``acomptes``: the acompte invoice (``invoices.kind`` ``prepayment``, EN 16931 type code 386) drafted from one
  validated statement: one per statement, gone with a discarded draft.
* ``acompte_deductions``: what the order's final invoice deducts of each acompte invoice, per VAT rate (its negative
  line, ``line_position``); gone with a discarded final draft.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import Date, ForeignKeyConstraint, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantOwned, utcnow

__all__ = ["Acompte", "AcompteDeduction", "ProgressStatement"]

MONEY = Numeric(14, 2)


class ProgressStatement(TenantOwned, Base):
    """A « constat d'avancement »: ``value_ht`` is the value of every service executed on the order up to
    ``stated_on`` (cumulative); ``submitted`` → ``validated`` or ``refused``."""

    __tablename__ = "progress_statements"
    __table_args__ = (UniqueConstraint("tenant_id", "order_id", "sequence"),
                      Index("ix_progress_statements_status", "tenant_id", "status"))
    order_id: Mapped[uuid.UUID]
    order_number: Mapped[str] = mapped_column(String(20))
    agreement_id: Mapped[uuid.UUID]
    #: 1, 2, … per order.
    sequence: Mapped[int] = mapped_column(Integer)
    stated_on: Mapped[dt.date] = mapped_column(Date)
    value_ht: Mapped[Decimal] = mapped_column(MONEY)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="submitted")
    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_by: Mapped[str] = mapped_column(String(320), default="")
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str] = mapped_column(String(320), default="")


class Acompte(TenantOwned, Base):
    """The acompte invoice of a validated statement."""

    __tablename__ = "acomptes"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "statement_id"], ["progress_statements.tenant_id", "progress_statements.id"]),
        UniqueConstraint("tenant_id", "invoice_id"),
        UniqueConstraint("tenant_id", "statement_id"),
        Index("ix_acomptes_order", "tenant_id", "order_id"),
    )
    invoice_id: Mapped[uuid.UUID]
    statement_id: Mapped[uuid.UUID]
    order_id: Mapped[uuid.UUID]
    amount_ht: Mapped[Decimal] = mapped_column(MONEY)


class AcompteDeduction(TenantOwned, Base):
    """Part of an acompte invoice (``acompte_invoice_id``) at one VAT rate deducted by a final invoice
    (``invoice_id``) on its line ``line_position``."""

    __tablename__ = "acompte_deductions"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "acompte_invoice_id"], ["invoices.tenant_id", "invoices.id"]),
        Index("ix_acompte_deductions_acompte", "tenant_id", "acompte_invoice_id"),
        Index("ix_acompte_deductions_invoice", "tenant_id", "invoice_id"),
    )
    invoice_id: Mapped[uuid.UUID]
    acompte_invoice_id: Mapped[uuid.UUID]
    line_position: Mapped[int] = mapped_column(Integer)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    amount_ht: Mapped[Decimal] = mapped_column(MONEY)
    total_vat: Mapped[Decimal] = mapped_column(MONEY)
