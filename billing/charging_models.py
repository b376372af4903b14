"""The tables of paid charging and of the ADVENIR subsidy (issue 15 §5, migration 0036). All tenant-owned, with
row-level security and composite foreign keys inside the tenant.

* ``charging_settings``: one row per tenant that decided on paid charging (CCTP CPAM 5-5-5-2 « La CPAM de la Sarthe
  se réserve le droit de rendre la charge payante »); no row, or ``enabled`` false: charging is free.
* ``charging_tariffs``: a tariff per kWh, per minute and per session for one badge population (the badge kinds the
  supervision knows: agent, vehicle, site; empty: every badge), valid from a day, up to a day or open.
* ``charging_accounts``: an agent's account and its credit (5-5-6-1 « gestion et paramétrage des comptes clients
  (accès, création/modification/suppression, crédit/recharge …) »).
* ``charging_entries``: every move of an account: a top-up (``topup``, positive) or a session debited (``charge``,
  negative, with the statement's facts copied: date, station address, duration, energy, the computation). A charge
  is unique per supervision transaction (``transaction_id``, csms's id; no foreign key across components).
* ``charging_payments``: a top-up asked of the payment provider, pending, completed or failed.
* ``charging_repayments``: the sums collected over a period and paid back to the buyer (5-5-5-2 « le Titulaire
  gèrera les paiements et reversera les sommes à la CPAM »), one per tenant and period.
* ``advenir_subsidies``: an ADVENIR subsidy (5-7) recorded on the order of the stations' supply or installation,
  with its attestation data and computation, deducted from that order's next invoice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKeyConstraint, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantOwned, utcnow

__all__ = ["AdvenirSubsidy", "ChargingAccount", "ChargingEntry", "ChargingPayment", "ChargingRepayment",
           "ChargingSettings", "ChargingTariff"]

MONEY = Numeric(14, 2)
#: A tariff's unit prices: four decimals (0,0125 € per minute), the amount of a session is rounded to the cent.
RATE = Numeric(10, 4)


def _fk(table: str, column: str, ondelete: str | None = None) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["tenant_id", column], [f"{table}.tenant_id", f"{table}.id"], ondelete=ondelete)


class ChargingSettings(TenantOwned, Base):
    __tablename__ = "charging_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")


class ChargingTariff(TenantOwned, Base):
    __tablename__ = "charging_tariffs"
    __table_args__ = (Index("ix_charging_tariffs_population", "tenant_id", "population", "valid_from"),)
    label: Mapped[str] = mapped_column(String(120), default="")
    #: ``agent`` | ``vehicle`` | ``site`` (csms's badge kinds) | "" every badge.
    population: Mapped[str] = mapped_column(String(10), default="")
    per_kwh: Mapped[Decimal] = mapped_column(RATE)
    per_minute: Mapped[Decimal] = mapped_column(RATE)
    per_session: Mapped[Decimal] = mapped_column(RATE)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    #: The last day it applies; None: open.
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")


class ChargingAccount(TenantOwned, Base):
    __tablename__ = "charging_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)
    #: The agent (``users.id``; the badge's holder in the supervision).
    user_id: Mapped[uuid.UUID]
    holder_label: Mapped[str] = mapped_column(String(200), default="")
    balance: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0.00"))
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ChargingEntry(TenantOwned, Base):
    __tablename__ = "charging_entries"
    __table_args__ = (
        _fk("charging_accounts", "account_id"),
        UniqueConstraint("tenant_id", "transaction_id"),
        Index("ix_charging_entries_account", "tenant_id", "account_id", "booked_at"),
        Index("ix_charging_entries_booked", "tenant_id", "kind", "booked_at"),
    )
    account_id: Mapped[uuid.UUID]
    #: ``topup`` | ``charge``
    kind: Mapped[str] = mapped_column(String(8))
    #: Signed: a top-up adds, a charge takes.
    amount: Mapped[Decimal] = mapped_column(MONEY)
    booked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: A charge: csms's transaction (unique: a session is debited once) and the outbox event that priced it.
    transaction_id: Mapped[uuid.UUID | None]
    event_id: Mapped[uuid.UUID | None]
    payment_id: Mapped[uuid.UUID | None]
    started_at: Mapped[dt.datetime | None]
    stopped_at: Mapped[dt.datetime | None]
    station_name: Mapped[str] = mapped_column(String(200), default="")
    station_address: Mapped[str] = mapped_column(String(300), default="")
    point_id: Mapped[str] = mapped_column(String(40), default="")
    id_tag: Mapped[str] = mapped_column(String(36), default="")
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    energy_wh: Mapped[int | None] = mapped_column(Integer)
    tariff_id: Mapped[uuid.UUID | None]
    computation: Mapped[str] = mapped_column(String(500), default="")


class ChargingPayment(TenantOwned, Base):
    __tablename__ = "charging_payments"
    __table_args__ = (_fk("charging_accounts", "account_id"),)
    account_id: Mapped[uuid.UUID]
    amount: Mapped[Decimal] = mapped_column(MONEY)
    provider: Mapped[str] = mapped_column(String(40))
    provider_reference: Mapped[str] = mapped_column(String(120), default="")
    #: ``pending`` | ``completed`` | ``failed``
    status: Mapped[str] = mapped_column(String(10), default="pending")
    message: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[dt.datetime | None]


class ChargingRepayment(TenantOwned, Base):
    __tablename__ = "charging_repayments"
    __table_args__ = (UniqueConstraint("tenant_id", "period_start"),)
    #: The period's first and last days (the tenant's calendar): a month.
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    #: What the sessions of the period took from the agents' accounts, when it was recorded.
    collected: Mapped[Decimal] = mapped_column(MONEY)
    repaid: Mapped[Decimal] = mapped_column(MONEY)
    repaid_on: Mapped[dt.date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")


class AdvenirSubsidy(TenantOwned, Base):
    __tablename__ = "advenir_subsidies"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"]),
        Index("ix_advenir_subsidies_order", "tenant_id", "order_id"),
    )
    #: The order of the stations' supply or installation (catalog's; no foreign key across components).
    order_id: Mapped[uuid.UUID]
    order_number: Mapped[str] = mapped_column(String(20), default="")
    #: The programme's reference (its call, « ADVENIR — Recharge en entreprise et flottes », …) and the
    #: attestation's number given by the programme.
    programme_reference: Mapped[str] = mapped_column(String(120))
    attestation_number: Mapped[str] = mapped_column(String(60))
    points: Mapped[int] = mapped_column(Integer)
    amount_per_point: Mapped[Decimal] = mapped_column(MONEY)
    #: The programme's ceiling for the whole dossier (its attestation).
    cap: Mapped[Decimal] = mapped_column(MONEY)
    amount_ht: Mapped[Decimal] = mapped_column(MONEY)
    computation: Mapped[str] = mapped_column(String(500))
    #: ``recorded`` → ``deducted`` (on ``invoice_id``) | ``cancelled``
    status: Mapped[str] = mapped_column(String(10), default="recorded")
    invoice_id: Mapped[uuid.UUID | None]
    deducted_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")
