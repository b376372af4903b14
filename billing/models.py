"""The tables of ``billing``'s invoices (issue 15 §3, migration 0032).

* ``billing_issuers``: the titulaire's identity as an invoice issuer, per framework agreement (its legal name,
  SIRET, VAT number, address). Not tenant-owned: the titulaire of an agreement invoices every beneficiary of it
  (like ``framework_agreements``, its changes land in ``platform_audit_events``).
* ``invoice_counters``: the last number given per issuer (its SIRET), series (``FA`` invoices, ``AV`` credit
  notes) and year, taken with ``UPDATE … RETURNING`` in the issuing transaction: gap-free, never twice (the way
  ``catalog`` numbers its purchase orders). Not tenant-owned: one series spans the issuer's every beneficiary.
* ``billing_profiles``: the buyer's billing profile (CCP TGD IX.6, Chorus Pro: whether its structure requires a
  service code, an engagement number, or both; its service code). Tenant-owned, one per tenant.
* ``invoices`` and ``invoice_lines``: tenant-owned, primary key ``(tenant_id, id)``, composite foreign keys inside
  the tenant, row-level security. The order they invoice is ``catalog``'s: its id and number are copied, with no
  foreign key across components.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

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

from app.db import Base, TenantOwned, utcnow

__all__ = ["BillingIssuer", "BillingProfile", "Invoice", "InvoiceAllowance", "InvoiceCounter", "InvoiceLine", "Penalty",
           "PriceIndex", "PriceRevision"]

MONEY = Numeric(14, 2)


class BillingIssuer(Base):
    """The titulaire of a framework agreement as the issuer of its invoices (EN 16931 BG-4 « Seller »): the
    agreement only names it (``FrameworkAgreement.titulaire``); an invoice needs its legal name (BT-27), SIRET
    (BT-30), VAT number (BT-31) and postal address (BG-5). Filled by the coordinator or the titulaire's operator;
    copied onto each invoice when it is issued (an issued invoice never changes)."""

    __tablename__ = "billing_issuers"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("framework_agreements.id"), unique=True)
    legal_name: Mapped[str] = mapped_column(String(200), default="")
    siret: Mapped[str] = mapped_column(String(14), default="")
    vat_number: Mapped[str] = mapped_column(String(20), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    postal_code: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    country_code: Mapped[str] = mapped_column(String(2), default="FR")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")


class InvoiceCounter(Base):
    """The last number of an issuer's series in a year (``FA-2026-000001``, ``AV-2026-000001``)."""

    __tablename__ = "invoice_counters"
    __table_args__ = (UniqueConstraint("issuer_siret", "series", "year"),)
    __audited__ = False
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    issuer_siret: Mapped[str] = mapped_column(String(14))
    series: Mapped[str] = mapped_column(String(2))
    year: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer, default=0)


class BillingProfile(TenantOwned, Base):
    """CCP TGD IX.6 « les factures comportent le numéro CHORUS indiqué dans chacun des bons de commande »; Chorus
    Pro lets each public structure require a service code (« code service », EN 16931 BT-10 Buyer reference), an
    engagement number (« numéro d'engagement », BT-13 Purchase order reference), or both. An invoice missing a
    required one is refused before it is issued (``billing.invoices.issue_invoice``)."""

    __tablename__ = "billing_profiles"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    requires_service_code: Mapped[bool] = mapped_column(Boolean, default=False)
    requires_engagement: Mapped[bool] = mapped_column(Boolean, default=True)
    service_code: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def _invoice_fk(column: str = "invoice_id", ondelete: str | None = "CASCADE") -> ForeignKeyConstraint:
    """Composite foreign key to an invoice of the same tenant (DESIGN.md tenancy rule 1)."""
    return ForeignKeyConstraint(["tenant_id", column], ["invoices.tenant_id", "invoices.id"], ondelete=ondelete)


class Invoice(TenantOwned, Base):
    """An invoice (``kind`` ``invoice``, EN 16931 type code 380) or a credit note (``credit_note``, 381, crediting
    ``credited_invoice_id``) of a verified purchase order. A draft (no number yet) is the titulaire's working copy;
    issued, it is numbered without gaps and never edited again: a credit note corrects it. Amounts are positive for
    both kinds (EN 16931: a credit note's type code says it credits); the totals are the sums of the lines."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        _invoice_fk("credited_invoice_id", None),
        Index("ix_invoices_order", "tenant_id", "order_id"),
        Index("ix_invoices_status", "tenant_id", "status", "issue_date"),
    )
    kind: Mapped[str] = mapped_column(String(12), default="invoice")
    #: ``FA-2026-000001`` / ``AV-2026-000001``; None while a draft.
    number: Mapped[str | None] = mapped_column(String(20))
    #: ``draft`` → ``issued`` → ``paid`` (``billing.invoices.STATUSES``).
    status: Mapped[str] = mapped_column(String(10), default="draft")
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("framework_agreements.id"))
    agreement_reference: Mapped[str] = mapped_column(String(64))
    #: The purchase order invoiced (``catalog``'s; no foreign key across components) and its number.
    order_id: Mapped[uuid.UUID]
    order_number: Mapped[str] = mapped_column(String(20))
    #: BT-13: the engagement number (the order's number unless the buyer's Chorus engagement was given).
    engagement_number: Mapped[str] = mapped_column(String(50), default="")
    #: BT-10: the buyer's service code (its billing profile's when issued, unless given).
    service_code: Mapped[str] = mapped_column(String(100), default="")
    #: The buyer (BG-7), copied when issued: its name, SIRET (BT-47), address.
    buyer_name: Mapped[str] = mapped_column(String(200), default="")
    buyer_siret: Mapped[str] = mapped_column(String(14), default="")
    buyer_address: Mapped[str] = mapped_column(String(300), default="")
    buyer_postal_code: Mapped[str] = mapped_column(String(10), default="")
    buyer_city: Mapped[str] = mapped_column(String(120), default="")
    #: The seller (BG-4), copied from ``billing_issuers`` when issued.
    seller_name: Mapped[str] = mapped_column(String(200), default="")
    seller_siret: Mapped[str] = mapped_column(String(14), default="")
    seller_vat_number: Mapped[str] = mapped_column(String(20), default="")
    seller_address: Mapped[str] = mapped_column(String(300), default="")
    seller_postal_code: Mapped[str] = mapped_column(String(10), default="")
    seller_city: Mapped[str] = mapped_column(String(120), default="")
    seller_country_code: Mapped[str] = mapped_column(String(2), default="FR")
    #: BT-72: the end of execution, the day the buyer's decisions received the last quantity (CCP TGD VII.3).
    verified_on: Mapped[dt.date | None] = mapped_column(Date)
    #: BT-2 and BT-9 (CCP TGD IX.7: ``billing.rules.payment_due_on``), set when issued.
    issue_date: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total_ht: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    total_vat: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    total_ttc: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    #: A credit note's invoice (BT-25) and why it credits it.
    credited_invoice_id: Mapped[uuid.UUID | None]
    reason: Mapped[str] = mapped_column(Text, default="")
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")
    issued_at: Mapped[dt.datetime | None]
    issued_by: Mapped[str] = mapped_column(String(320), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InvoiceLine(TenantOwned, Base):
    """One line (BG-25): the article of an order line (``order_position``, BT-132), the quantity invoiced (BT-129:
    accepted by the buyer and not invoiced yet), its price elements copied from the order line, the réfaction the
    buyer's decision made (CCP TGD VII.3 « réception avec réfaction », a line allowance BG-27), the amounts rounded
    half-up to the cent (``billing.invoices.line_amounts``)."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        _invoice_fk(),
        UniqueConstraint("tenant_id", "invoice_id", "position"),
    )
    invoice_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(Integer)
    order_position: Mapped[int] = mapped_column(Integer)
    article_code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(500))
    unit: Mapped[str] = mapped_column(String(40), default="")
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    #: The BPU's price HT before the order's discount (BT-148), four decimals.
    unit_price_ht: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    gross_ht: Mapped[Decimal] = mapped_column(MONEY)
    #: The réfaction HT (BT-136), 0 when none.
    refaction_ht: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    total_ht: Mapped[Decimal] = mapped_column(MONEY)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    total_vat: Mapped[Decimal] = mapped_column(MONEY)
    total_ttc: Mapped[Decimal] = mapped_column(MONEY)
    note: Mapped[str] = mapped_column(Text, default="")


# --------------------------------------------------------------------------- penalties and price revision (0033)


class Penalty(TenantOwned, Base):
    """A penalty of CCP TGD VIII on one purchase order of the tenant: VIII.3 « P = V × R / 100 » (R the overrun of
    the delay in percent) or VIII.4 « P = V × R / 500 » (R the days or hours late), V the order's amount HT
    (``billing.rules.penalty``), cut to what remains of VIII.1's cap (« limité au montant hors taxes effectivement
    commandé ») — or exempted under VIII.5 with the titulaire's justification. Its source is a ticket's SLA breach
    (``ticket_id``, incidents' ticket; no foreign key across components) or the order's delay.

    ``status`` (``billing.penalties.STATUSES``): ``proposed`` → ``notified`` (VIII.1 « notification préalable
    expresse », thirty days for observations until ``observations_until``) → ``contested`` (the titulaire's
    observations) → ``accepted`` (maintained by the buyer) or ``exempted``; ``notified`` → ``accepted`` when the
    thirty days pass (« il est réputé avoir accepté », ``deemed_accepted``); ``accepted`` → ``deducted`` on the
    next invoice of the tenant and agreement (``invoice_id``); any state before ``deducted`` → ``cancelled``."""

    __tablename__ = "penalties"
    __table_args__ = (
        _invoice_fk("invoice_id", None),
        Index("ix_penalties_status", "tenant_id", "agreement_id", "status"),
    )
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("framework_agreements.id"))
    agreement_reference: Mapped[str] = mapped_column(String(64))
    #: ``VIII.3`` | ``VIII.4``.
    article: Mapped[str] = mapped_column(String(8))
    order_id: Mapped[uuid.UUID]
    order_number: Mapped[str] = mapped_column(String(20))
    #: V: the order's amount HT.
    value_ht: Mapped[Decimal] = mapped_column(MONEY)
    #: R and its unit: ``percent`` (VIII.3), ``days`` or ``hours`` (VIII.4).
    lateness: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    lateness_unit: Mapped[str] = mapped_column(String(8))
    #: ``ticket`` (an SLA breach) | ``order`` (the order's delay).
    source: Mapped[str] = mapped_column(String(8))
    ticket_id: Mapped[uuid.UUID | None]
    ticket_number: Mapped[str] = mapped_column(String(20), default="")
    #: What was late, in French (the breached deadline, the delivery date due and made).
    facts: Mapped[str] = mapped_column(Text, default="")
    #: P by the formula, the amount due after VIII.1's cap (0 when exempted), and the computation shown.
    computed_ht: Mapped[Decimal] = mapped_column(MONEY)
    amount_ht: Mapped[Decimal] = mapped_column(MONEY)
    computation: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="proposed")
    notified_at: Mapped[dt.datetime | None]
    notified_by: Mapped[str] = mapped_column(String(320), default="")
    observations_until: Mapped[dt.date | None] = mapped_column(Date)
    observations: Mapped[str] = mapped_column(Text, default="")
    observed_at: Mapped[dt.datetime | None]
    observed_by: Mapped[str] = mapped_column(String(320), default="")
    #: VIII.5: the cause the titulaire shows (``billing.rules.EXEMPTIONS``) and its justification.
    exemption: Mapped[str] = mapped_column(String(20), default="")
    justification: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str] = mapped_column(String(320), default="")
    deemed_accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    invoice_id: Mapped[uuid.UUID | None]
    deducted_at: Mapped[dt.datetime | None]
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InvoiceAllowance(TenantOwned, Base):
    """A document-level allowance of an invoice (EN 16931 BG-20: BT-92 amount, BT-95/96 VAT category and rate,
    BT-97 reason), with its computation: a penalty deducted (CCP TGD VIII.1 « vient en déduction des paiements »)
    or an ADVENIR subsidy (CCTP CPAM 5-7 « déduites directement de la facture », ``billing.advenir``); exactly one
    of ``penalty_id`` and ``advenir_subsidy_id`` is set (migration 0036)."""

    __tablename__ = "invoice_allowances"
    __table_args__ = (
        _invoice_fk(),
        ForeignKeyConstraint(["tenant_id", "penalty_id"], ["penalties.tenant_id", "penalties.id"]),
        ForeignKeyConstraint(["tenant_id", "advenir_subsidy_id"],
                             ["advenir_subsidies.tenant_id", "advenir_subsidies.id"],
                             name="fk_invoice_allowances_advenir_subsidy"),
        UniqueConstraint("tenant_id", "penalty_id"),
        UniqueConstraint("tenant_id", "advenir_subsidy_id"),
    )
    invoice_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(Integer)
    penalty_id: Mapped[uuid.UUID | None]
    advenir_subsidy_id: Mapped[uuid.UUID | None]
    reason: Mapped[str] = mapped_column(String(500))
    amount_ht: Mapped[Decimal] = mapped_column(MONEY)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    total_vat: Mapped[Decimal] = mapped_column(MONEY)


class PriceIndex(Base):
    """One published value of a price index (CCP TGD IX.2: « l'index Ingénierie est lu dans le journal officiel et
    sur le site Internet de l'INSEE »), kept by the coordinators; central-level, not tenant-owned (like
    ``billing_issuers``): ``month`` is the month the value measures, ``published_on`` the day it was published."""

    __tablename__ = "price_indexes"
    __table_args__ = (UniqueConstraint("name", "month"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(60))
    month: Mapped[dt.date] = mapped_column(Date)
    published_on: Mapped[dt.date] = mapped_column(Date)
    value: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")


class PriceRevision(Base):
    """A BPU version made by IX.2's revision, P = P0 × (0,30 + 0,70 × Ing / Ing0): from which version, with which
    index values and coefficient (each article's revised price is in the new version's items)."""

    __tablename__ = "price_revisions"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("framework_agreements.id"))
    from_version_id: Mapped[uuid.UUID]
    to_version_id: Mapped[uuid.UUID]
    index_name: Mapped[str] = mapped_column(String(60))
    priced_on: Mapped[dt.date] = mapped_column(Date)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ing0: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    ing0_published_on: Mapped[dt.date] = mapped_column(Date)
    ing: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    ing_published_on: Mapped[dt.date] = mapped_column(Date)
    coefficient: Mapped[Decimal] = mapped_column(Numeric(12, 8))
    computation: Mapped[str] = mapped_column(Text)
    line_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")
