"""The tables of ``catalog``.

* Price schedules (BPU) and the catalog (issue 14 §1, migration 0021) are not tenant-owned: a BPU and a
  catalog solution belong to a framework agreement (like ``framework_agreements``, no row-level security); a
  beneficiary reaches them through its subscriptions (``catalog.services.catalog_of_tenant``). Their changes
  land in ``platform_audit_events``.
* Purchase orders (§3, migration 0022) and the agents' badge requests (§4, migration 0023) are tenant-owned:
  primary key ``(tenant_id, id)``, composite foreign keys inside the tenant, row-level security.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, TenantOwned, utcnow
from tenants.models import site_fk

__all__ = [
    "BadgeRequest",
    "BpuItem",
    "BpuVersion",
    "CatalogSolution",
    "PurchaseOrder",
    "PurchaseOrderCounter",
    "PurchaseOrderEvent",
    "PurchaseOrderLine",
    "SolutionEvent",
]


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


# --------------------------------------------------------------------------- purchase orders (issue 14 §3, 0022)
# An order is the beneficiary's. ``catalog.orders`` holds the workflow, ``catalog.order_rules`` the arithmetic
# and the states.


def _order_fk(column: str = "order_id") -> ForeignKeyConstraint:
    """Composite foreign key to an order of the same tenant (DESIGN.md tenancy rule 1)."""
    return ForeignKeyConstraint(["tenant_id", column], ["purchase_orders.tenant_id", "purchase_orders.id"],
                                ondelete="CASCADE")


class PurchaseOrderCounter(TenantOwned, Base):
    """The last order number given per tenant and year (``BC-2026-000001``), taken with ``UPDATE … RETURNING``
    in the creating transaction: gap-free, never twice (the same as the incidents' tickets)."""

    __tablename__ = "purchase_order_counters"
    __table_args__ = (UniqueConstraint("tenant_id", "year"),)
    __audited__ = False
    year: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer, default=0)


class PurchaseOrder(TenantOwned, Base):
    """A bon de commande with every element of CCP TGD VI.1: the agreement's references, its number and date,
    its lines (``PurchaseOrderLine``), the place(s) of delivery or execution, the buyer's representative(s),
    the special delivery conditions and the totals (sums of the lines)."""

    __tablename__ = "purchase_orders"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_purchase_orders_status", "tenant_id", "status", "order_date"),
        Index("ix_purchase_orders_created", "tenant_id", "created_at"),
    )
    number: Mapped[str] = mapped_column(String(20))
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("framework_agreements.id"))
    #: « les références du marché »: copied at creation (the document shows what was ordered under).
    agreement_reference: Mapped[str] = mapped_column(String(64))
    agreement_title: Mapped[str] = mapped_column(String(300), default="")
    order_date: Mapped[dt.date] = mapped_column(Date)
    #: ``catalog.order_rules.STATUSES``
    status: Mapped[str] = mapped_column(String(12), default="draft")
    #: « le(s) lieu(x) précis de livraison et/ou d'exécution » (one per line when several).
    delivery_place: Mapped[str] = mapped_column(Text)
    #: « le(s) nom(s) du (des) représentant(s) de l'administration » (one per line when several).
    representative: Mapped[str] = mapped_column(String(500))
    #: « les conditions particulières de livraison et/ou de réception (le cas échéant) ».
    delivery_conditions: Mapped[str] = mapped_column(Text, default="")
    #: Sums of the lines (``catalog.order_rules.order_totals``): before discount, HT, VAT, TTC.
    gross_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    total_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    total_vat: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    total_ttc: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    #: CPAM 5-4-4: the ticket the order is for (``incidents``), and the quote it comes from (§2); no foreign
    #: key across components.
    ticket_id: Mapped[uuid.UUID | None]
    quote_id: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")
    issued_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PurchaseOrderLine(TenantOwned, Base):
    """« le descriptif complet du (des) bien(s) et/ou service(s) commandé(s) » with its price elements, copied
    from the BPU version in force on the order date (a later version does not change it)."""

    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        _order_fk(),
        UniqueConstraint("tenant_id", "order_id", "position"),
    )
    order_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(Integer)
    article_code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(500))
    unit: Mapped[str] = mapped_column(String(40), default="")
    family: Mapped[str] = mapped_column(String(30), default="")
    #: The BPU version the price comes from (not tenant-owned: a plain foreign key).
    bpu_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bpu_versions.id"))
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    #: « prix hors taxes non remisé » (per unit, four decimals like the BPU).
    unit_price_ht: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    #: CCTP CAIH 5 « Remise complémentaire en % sur le BPU en vigueur »; None: no discount.
    discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    gross_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    total_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    total_vat: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    total_ttc: Mapped[Decimal] = mapped_column(Numeric(14, 2))


class PurchaseOrderEvent(TenantOwned, Base):
    """The history of an order's status: who, when, from, to (itself a log: append-only; the order's row change
    is in the tenant's audit log)."""

    __tablename__ = "purchase_order_events"
    __audited__ = False
    __table_args__ = (_order_fk(), Index("ix_purchase_order_events_order", "tenant_id", "order_id", "at"))
    order_id: Mapped[uuid.UUID]
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[uuid.UUID | None]
    actor: Mapped[str] = mapped_column(String(320), default="")
    from_status: Mapped[str] = mapped_column(String(12), default="")
    to_status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str] = mapped_column(Text, default="")


# --------------------------------------------------------------------------- agents' badge requests (migration 0023)


class BadgeRequest(TenantOwned, Base):
    """An agent's request for an RFID badge for its personal vehicle (CCTP CPAM 5-5-5-3), approved or refused
    in writing by its manager, shipped by the titulaire's operator, activated in the tenant's local list.

    States and clocks: ``catalog.badge_request_rules``. ``badge_id`` names the csms badge made at activation
    (no foreign key across components)."""

    __tablename__ = "badge_requests"
    __table_args__ = (
        site_fk(),
        Index("ix_badge_requests_state", "tenant_id", "state", "requested_at"),
        Index("ix_badge_requests_requester", "tenant_id", "requested_by", "requested_at"),
    )
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    plate: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(500))
    site_id: Mapped[uuid.UUID | None]
    state: Mapped[str] = mapped_column(String(12), default="requested")
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    refusal_reason: Mapped[str] = mapped_column(String(500), default="")
    shipped_at: Mapped[dt.datetime | None]
    shipped_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    id_tag: Mapped[str] = mapped_column(String(36), default="")
    shipment_reference: Mapped[str] = mapped_column(String(100), default="")
    activated_at: Mapped[dt.datetime | None]
    badge_id: Mapped[uuid.UUID | None]
    cancelled_at: Mapped[dt.datetime | None]
    #: The once-only reminders of a late step (CPAM 5-5-5-3 delays; ``catalog.badge_requests.remind_overdue``).
    decision_reminded: Mapped[bool] = mapped_column(Boolean, default=False)
    shipment_reminded: Mapped[bool] = mapped_column(Boolean, default=False)
