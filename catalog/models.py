"""The tables of ``catalog``.

* Price schedules (BPU) and the catalog (issue 14 §1, migration 0021) are not tenant-owned: a BPU and a
  catalog solution belong to a framework agreement (like ``framework_agreements``, no row-level security); a
  beneficiary reaches them through its subscriptions (``catalog.services.catalog_of_tenant``). Their changes
  land in ``platform_audit_events``.
* Purchase orders (§3, migration 0022), quotes (§2, migration 0024), delivery slips and the buyer's decisions (§3,
  migration 0025), amendments (§3, migration 0026), the CAIH recurring maintenance contracts (§3, CCTP CAIH 2.1.32,
  migration 0027) and the agents' badge requests (§4, migration 0023) are tenant-owned:
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
    "CommissioningBadges",
    "Delivery",
    "DeliveryLine",
    "MaintenanceChange",
    "MaintenanceContract",
    "MaintenanceContractOrder",
    "MaintenanceDeclaration",
    "PricedLine",
    "PurchaseOrder",
    "PurchaseOrderAmendment",
    "PurchaseOrderAmendmentLine",
    "PurchaseOrderCounter",
    "PurchaseOrderEvent",
    "PurchaseOrderLine",
    "Quote",
    "QuoteCounter",
    "QuoteLine",
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
    #: 1 as issued; each amendment (TGD VI.3) makes the next version.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PricedLine:
    """The columns of a line priced on a BPU version (an order's, an amended version's, a quote's): « le descriptif
    complet du (des) bien(s) et/ou service(s) commandé(s) » with its price elements (CCP TGD VI.1)."""

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


class PurchaseOrderLine(PricedLine, TenantOwned, Base):
    """« le descriptif complet du (des) bien(s) et/ou service(s) commandé(s) » with its price elements, copied
    from the BPU version in force on the order date (a later version does not change it)."""

    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        _order_fk(),
        UniqueConstraint("tenant_id", "order_id", "position"),
    )
    order_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(Integer)


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


# --------------------------------------------------------------------------- amendments (issue 14 §3, migration 0026)
# CCP TGD VI.3 « un modificatif du bon de commande »: ``catalog.amendments`` holds the workflow. The order's lines
# are always its current version; each amendment keeps the lines of the version it replaced, so that every
# version can be shown and printed again.


class PurchaseOrderAmendment(TenantOwned, Base):
    """One amendment of an order: the version it makes (2, 3…), its date of effect (notified 10 days before at
    the latest), the titulaire's observations (within 5 days) or their absence (deemed accepted)."""

    __tablename__ = "purchase_order_amendments"
    __table_args__ = (
        _order_fk(),
        UniqueConstraint("tenant_id", "order_id", "version"),
        Index("ix_purchase_order_amendments_state", "tenant_id", "state", "notified_at"),
    )
    order_id: Mapped[uuid.UUID]
    #: The order's version this amendment makes (the order as first issued is version 1).
    version: Mapped[int] = mapped_column(Integer)
    #: ``BC-2026-000001-M1``: the order's number and the amendment's rank.
    number: Mapped[str] = mapped_column(String(30))
    effective_on: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    #: ``catalog.amendments.STATES``: notified, observations, deemed_accepted.
    state: Mapped[str] = mapped_column(String(16), default="notified")
    notified_at: Mapped[dt.datetime]
    notified_by: Mapped[str] = mapped_column(String(320), default="")
    #: What changed from the previous version, one French sentence per line (shown and printed).
    changes: Mapped[str] = mapped_column(Text, default="")
    total_ht_before: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    total_ht_after: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    observations: Mapped[str] = mapped_column(Text, default="")
    observations_at: Mapped[dt.datetime | None]
    observations_by: Mapped[str] = mapped_column(String(320), default="")
    deemed_accepted_at: Mapped[dt.datetime | None]


class PurchaseOrderAmendmentLine(PricedLine, TenantOwned, Base):
    """A line of the version an amendment replaced (the same columns as an order line)."""

    __tablename__ = "purchase_order_amendment_lines"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "amendment_id"],
                             ["purchase_order_amendments.tenant_id", "purchase_order_amendments.id"],
                             ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "amendment_id", "position"),
    )
    __audited__ = False
    amendment_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(Integer)


# --------------------------------------------------------------------------- quotes (issue 14 §2, migration 0024)
# A quote is the beneficiary's. ``catalog.quotes`` holds the workflow, ``catalog.quote_rules`` the states and the
# CPAM milestones.


class QuoteCounter(TenantOwned, Base):
    """The last quote number given per tenant and year (``DEV-2026-000001``), taken like the orders' counter."""

    __tablename__ = "quote_counters"
    __table_args__ = (UniqueConstraint("tenant_id", "year"),)
    __audited__ = False
    year: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Quote(TenantOwned, Base):
    """A request for a quote (CCTP CANUT 9, CAIH 2.1.17) and the titulaire's answer priced on the BPU; accepting
    it issues the purchase order (``order_id``). The CPAM 5-1-4 / 5-2 / 5-3-1 milestones are computed from the
    dates recorded here (``catalog.quote_rules.milestones``)."""

    __tablename__ = "quotes"
    __table_args__ = (
        site_fk(),
        UniqueConstraint("tenant_id", "number"),
        Index("ix_quotes_state", "tenant_id", "state", "requested_at"),
    )
    number: Mapped[str] = mapped_column(String(20))
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("framework_agreements.id"))
    agreement_reference: Mapped[str] = mapped_column(String(64))
    #: ``catalog.quote_rules.KINDS``: works, or a repair on quote (parts and labour shown apart).
    kind: Mapped[str] = mapped_column(String(10), default="works")
    need: Mapped[str] = mapped_column(Text)
    site_id: Mapped[uuid.UUID | None]
    #: Where the works or the repair take place (the order's « lieu d'exécution »).
    place: Mapped[str] = mapped_column(Text, default="")
    #: ``catalog.quote_rules.STATES``
    state: Mapped[str] = mapped_column(String(12), default="requested")
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    site_visit_on: Mapped[dt.date | None] = mapped_column(Date)
    answered_at: Mapped[dt.datetime | None]
    answered_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: The day the lines were priced (the BPU version in force then); the order of the accepted quote keeps it.
    priced_on: Mapped[dt.date | None] = mapped_column(Date)
    answer_note: Mapped[str] = mapped_column(Text, default="")
    gross_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    total_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    total_vat: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    total_ttc: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    #: CAIH 2.1.17: « le coût des pièces et de la main d'œuvre », HT.
    parts_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    labour_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    cancelled_at: Mapped[dt.datetime | None]
    #: The purchase order issued at the acceptance (same component: a composite key would bind the two
    #: lifecycles; the order carries ``quote_id`` back).
    order_id: Mapped[uuid.UUID | None]
    works_started_on: Mapped[dt.date | None] = mapped_column(Date)
    commissioned_on: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class QuoteLine(PricedLine, TenantOwned, Base):
    """One priced line of the titulaire's answer, copied from the BPU version in force on ``priced_on``."""

    __tablename__ = "quote_lines"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "quote_id"], ["quotes.tenant_id", "quotes.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "quote_id", "position"),
    )
    quote_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(Integer)
    #: ``catalog.quote_rules.NATURES``: parts or labour (CAIH 2.1.17).
    nature: Mapped[str] = mapped_column(String(10), default="labour")


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


# --------------------------------------------------------------------------- deliveries (issue 14 §3, migration 0025)
# A delivery slip is the beneficiary's (on its order). ``catalog.deliveries`` holds the workflow, the decision rules
# and deadlines are ``catalog.deadlines``'.


class Delivery(TenantOwned, Base):
    """A « bordereau de mise à disposition » (CCP TGD VII.1) on a purchase order: its date, the quantities made
    available per order line (``DeliveryLine``), numbered per order (``BC-2026-000001-L1``). It opens the
    verification; the buyer's decision (VII.3), recorded once for every line, is due 15 days after the end of the
    verification (``catalog.deadlines.decision_due``)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        _order_fk(),
        UniqueConstraint("tenant_id", "number"),
        UniqueConstraint("tenant_id", "order_id", "sequence"),
        Index("ix_deliveries_undecided", "tenant_id", "decided_at", "delivered_on"),
    )
    order_id: Mapped[uuid.UUID]
    #: 1, 2, … per order; ``number`` is the order's number and ``-L{sequence}``.
    sequence: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(30))
    #: « la date de mise à disposition » (VII.1), the tenant's local day.
    delivered_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: The buyer's decision (VII.3): the day the verification ended (the slip's date by default), the day of the
    #: decision, when and by whom it was recorded; None while it is to take.
    verification_ended_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: When the overdue decision was e-mailed (once; ``catalog.deliveries.remind_overdue_decisions``, migration 0030).
    decision_reminded_at: Mapped[dt.datetime | None]
    #: The reserves of a « réception avec réserves » (VII.3): the titulaire's declaration that it resolved them (when,
    #: by whom, what it did), then the buyer's « décision de levée desdites réserves » (its day, when and by whom it
    #: was recorded, its note); None while not made (migration 0030).
    reserves_declared_at: Mapped[dt.datetime | None]
    reserves_declared_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reserves_declared_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    reserves_lifted_on: Mapped[dt.date | None] = mapped_column(Date)
    reserves_lifted_at: Mapped[dt.datetime | None]
    reserves_lifted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reserves_lifted_note: Mapped[str] = mapped_column(Text, default="", server_default="")


class DeliveryLine(TenantOwned, Base):
    """The quantity of one order line made available on a slip, and the buyer's decision on it: its kind
    (``catalog.deadlines.DECISION_KINDS``), the accepted and rejected quantities, the réfaction's amount HT or the
    deadline to lift the reserves."""

    __tablename__ = "delivery_lines"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "delivery_id"], ["deliveries.tenant_id", "deliveries.id"],
                             ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "delivery_id", "position"),
    )
    delivery_id: Mapped[uuid.UUID]
    #: The order line's position (``PurchaseOrderLine.position``); the article copied for the slip.
    position: Mapped[int] = mapped_column(Integer)
    article_code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(500))
    unit: Mapped[str] = mapped_column(String(40), default="")
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    decision: Mapped[str | None] = mapped_column(String(20))
    accepted: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))
    rejected: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))
    refaction_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    reserves_deadline: Mapped[dt.date | None] = mapped_column(Date)


# --------------------------------------------------------------------------- recurring maintenance (CAIH 2.1.32, 0027)
# A beneficiary's maintenance contract under an agreement. ``catalog.maintenance`` holds the workflow, the pure
# deadlines are ``catalog.deadlines``'. A park is a list of BPU lines ``[{"article_code", "quantity"}]`` (the
# quantity a decimal string), compared and priced on the BPU in force (``catalog.orders.price_lines``).


def _contract_fk(table: str) -> ForeignKeyConstraint:
    # Named here: the convention's name would pass PostgreSQL's 63 characters.
    return ForeignKeyConstraint(["tenant_id", "contract_id"],
                                ["maintenance_contracts.tenant_id", "maintenance_contracts.id"],
                                name=f"fk_{table}_contract", ondelete="CASCADE")


def _maintenance_order_fk(table: str, column: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["tenant_id", column], ["purchase_orders.tenant_id", "purchase_orders.id"],
                                name=f"fk_{table}_{column.removesuffix('_id')}")


class MaintenanceContract(TenantOwned, Base):
    """CCTP CAIH 2.1.32 « Chaque établissement établit un premier bon de commande »: the recurring maintenance of
    a beneficiary's park, started by its first purchase order (``first_order_id``, whose execution is due within 30
    days of its notification), renewed by an order at each anniversary of the agreement (``starts_on``)."""

    __tablename__ = "maintenance_contracts"
    __table_args__ = (
        _maintenance_order_fk("maintenance_contracts", "first_order_id"),
        UniqueConstraint("tenant_id", "first_order_id"),
        Index("ix_maintenance_contracts_created", "tenant_id", "created_at"),
    )
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("framework_agreements.id"))
    agreement_reference: Mapped[str] = mapped_column(String(64))
    #: « la date anniversaire du marché »: the agreement's start (the first order's date when it has none).
    starts_on: Mapped[dt.date] = mapped_column(Date)
    first_order_id: Mapped[uuid.UUID]
    #: « le montant de la commande annuelle »: the first order's total HT, then the last renewal order's.
    annual_amount_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    #: The park maintained now (the last annual order's lines and the changes since).
    park: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    #: Copied from the first order onto the renewal and complementary orders (CCP TGD VI.1 elements).
    delivery_place: Mapped[str] = mapped_column(Text)
    representative: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MaintenanceDeclaration(TenantOwned, Base):
    """« une actualisation annuelle du parc à maintenir […] fera l'objet d'une déclaration formelle au plus tard un
    mois avant la date anniversaire du marché »: the park declared for ``anniversary`` (the first one it is in time
    for); the last declaration for an anniversary becomes its renewal order."""

    __tablename__ = "maintenance_declarations"
    __table_args__ = (_contract_fk("maintenance_declarations"), Index("ix_maintenance_declarations_contract", "tenant_id", "contract_id",
                                            "anniversary", "declared_at"))
    contract_id: Mapped[uuid.UUID]
    declared_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: The tenant's local day of the declaration (what the one-month rule compares).
    declared_on: Mapped[dt.date] = mapped_column(Date)
    declared_by: Mapped[str] = mapped_column(String(320), default="")
    anniversary: Mapped[dt.date] = mapped_column(Date)
    #: True when declared after the deadline of the anniversary following it (carried to the next one).
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    #: Priced on the BPU in force on the day of the declaration (indicative; the renewal order is priced on its own
    #: date).
    amount_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2))


class MaintenanceChange(TenantOwned, Base):
    """A change of the park during the year (entries and exits), priced on the BPU in force and compared with the
    annual order: « supérieure à 10% » a complementary order (``complementary_order_id``, a draft the buyer
    issues); otherwise « régularisée lors du renouvellement » (``renewal_order_id`` once renewed)."""

    __tablename__ = "maintenance_changes"
    __table_args__ = (_contract_fk("maintenance_changes"), Index("ix_maintenance_changes_contract", "tenant_id", "contract_id",
                                            "declared_at"))
    contract_id: Mapped[uuid.UUID]
    declared_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    declared_on: Mapped[dt.date] = mapped_column(Date)
    declared_by: Mapped[str] = mapped_column(String(320), default="")
    #: ``[{"article_code", "label", "quantity" (signed: an exit is negative), "total_ht" (signed)}]``
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    annual_amount_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    change_amount_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    percent: Mapped[Decimal] = mapped_column(Numeric(9, 2))
    #: ``complementary`` or ``renewal`` (``catalog.maintenance.OUTCOMES``).
    outcome: Mapped[str] = mapped_column(String(14))
    complementary_order_id: Mapped[uuid.UUID | None]
    renewal_order_id: Mapped[uuid.UUID | None]


class MaintenanceContractOrder(TenantOwned, Base):
    """The orders of a contract: its first one, one renewal per anniversary (the unique key makes the renewal job
    idempotent: run twice, one order), the complementary ones."""

    __tablename__ = "maintenance_contract_orders"
    __table_args__ = (
        _contract_fk("maintenance_contract_orders"),
        _maintenance_order_fk("maintenance_contract_orders", "order_id"),
        UniqueConstraint("tenant_id", "order_id"),
        UniqueConstraint("tenant_id", "contract_id", "kind", "anniversary", name="uq_maintenance_contract_orders_renewal"),
    )
    contract_id: Mapped[uuid.UUID]
    order_id: Mapped[uuid.UUID]
    #: ``first``, ``renewal`` or ``complementary``.
    kind: Mapped[str] = mapped_column(String(14))
    #: The anniversary a renewal order is for; None for the others.
    anniversary: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- commissioning badges (migration 0028)


class CommissioningBadges(TenantOwned, Base):
    """CCTP CPAM 5-5-5-3 « 5 badges sont fournis à la mise en service de chaque point de charge »: the badges due
    at the commissioning of a quote's works, ordered once per quote as a line of a purchase order (``order_id``,
    which carries ``quote_id`` back), attached to a service vehicle or to the site; the idTags the operator gave
    are badges of the tenant's local list (made through ``csms.services``, listed here by idTag)."""

    __tablename__ = "commissioning_badges"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "quote_id"], ["quotes.tenant_id", "quotes.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "order_id"], ["purchase_orders.tenant_id", "purchase_orders.id"]),
        UniqueConstraint("tenant_id", "quote_id"),
    )
    quote_id: Mapped[uuid.UUID]
    order_id: Mapped[uuid.UUID]
    #: The charge points commissioned, and where the number comes from: ``operator`` (typed) or ``csms`` (the
    #: supervision's stations of the quote's site).
    charge_points: Mapped[int] = mapped_column(Integer)
    points_source: Mapped[str] = mapped_column(String(10), default="operator")
    #: 5 per charge point.
    badge_count: Mapped[int] = mapped_column(Integer)
    #: vehicle | site (« carte attachée au véhicule de service ou au site de rattachement »).
    attachment: Mapped[str] = mapped_column(String(10))
    vehicle_label: Mapped[str] = mapped_column(String(60), default="")
    #: The idTags put in the tenant's badge list (``csms.services.issue_local_badge``), at most ``badge_count``.
    id_tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")
