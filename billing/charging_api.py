"""The API of paid charging and of the ADVENIR subsidy (issue 15 §5), under ``/api/v1/tenants/{tenant_id}/``, tag
« Recharge payante »; amounts as strings (``Decimal``), 422 with French messages by field, another tenant's ids 404:

* ``GET charging`` (readers): the decision, the tariffs, the payment provider; ``PUT charging`` ``{enabled}`` (the
  buyer's admin, CCTP CPAM 5-5-5-2); ``POST charging/tariffs`` (the admin) → 201;
* ``GET charging/account?month=`` (any member: their own account and the month's statement, 5-5-6-1);
  ``POST charging/account/top-ups`` ``{amount, simulate?}`` → 201 the payment;
* ``GET charging/accounts`` and ``GET charging/accounts/{id}?month=`` (readers);
* ``GET charging/collections`` (readers: the last twelve months collected and repaid); ``POST charging/repayments``
  (the titulaire's operator) → 201;
* ``GET advenir-subsidies`` (readers), ``POST advenir-subsidies`` (the titulaire's operator, 5-7) → 201.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import get, post, put
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.shell import error_responses
from billing import advenir, charging
from billing.charging_models import (
    AdvenirSubsidy,
    ChargingAccount,
    ChargingEntry,
    ChargingPayment,
    ChargingTariff,
)
from billing.services import BillingError
from tenants.context import TenantContext

__all__ = ["api_handlers"]

TAG = "Recharge payante"
Short = Annotated[str, msgspec.Meta(max_length=120)]
Amount = Annotated[str, msgspec.Meta(max_length=20)] | Annotated[float, msgspec.Meta(ge=0, le=10**7)]
MonthParam = Annotated[str, Parameter(max_length=7, description="AAAA-MM (par défaut le mois en cours)")]


def _s(value: Decimal) -> str:
    return f"{value:f}"


class ChargingTariffOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    label: str
    population: str
    per_kwh: str
    per_minute: str
    per_session: str
    valid_from: dt.date
    valid_to: dt.date | None

    @classmethod
    def of(cls, t: ChargingTariff) -> ChargingTariffOut:
        return cls(id=t.id, label=t.label, population=t.population, per_kwh=_s(t.per_kwh), per_minute=_s(t.per_minute),
                   per_session=_s(t.per_session), valid_from=t.valid_from, valid_to=t.valid_to)


class ChargingOut(msgspec.Struct, kw_only=True):
    enabled: bool
    provider: str
    real_payments: bool
    tariffs: list[ChargingTariffOut]


class ChargingEnabledIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool


class ChargingTariffIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    label: Short = ""
    population: Annotated[str, msgspec.Meta(max_length=10)] = ""
    per_kwh: Amount = "0"
    per_minute: Amount = "0"
    per_session: Amount = "0"
    valid_from: Annotated[str, msgspec.Meta(max_length=10)]
    valid_to: Annotated[str, msgspec.Meta(max_length=10)] | None = None


class ChargingEntryOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    amount: str
    booked_at: dt.datetime
    started_at: dt.datetime | None
    stopped_at: dt.datetime | None
    station_name: str
    station_address: str
    point_id: str
    duration_seconds: int | None
    energy_wh: int | None
    computation: str
    transaction_id: uuid.UUID | None

    @classmethod
    def of(cls, e: ChargingEntry) -> ChargingEntryOut:
        return cls(id=e.id, kind=e.kind, amount=_s(e.amount), booked_at=e.booked_at, started_at=e.started_at,
                   stopped_at=e.stopped_at, station_name=e.station_name, station_address=e.station_address,
                   point_id=e.point_id, duration_seconds=e.duration_seconds, energy_wh=e.energy_wh,
                   computation=e.computation, transaction_id=e.transaction_id)


class ChargingAccountOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID | None
    holder_label: str
    balance: str


class ChargingStatementOut(msgspec.Struct, kw_only=True):
    account: ChargingAccountOut
    month: str
    opening_balance: str
    closing_balance: str
    entries: list[ChargingEntryOut]


class ChargingTopUpIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    amount: Amount
    #: The test provider only: ``failure`` makes the payment fail.
    simulate: Annotated[str, msgspec.Meta(max_length=10)] = ""


class ChargingPaymentOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    amount: str
    status: str
    provider: str
    real_payment: bool
    message: str
    balance: str


class ChargingCollectionOut(msgspec.Struct, kw_only=True):
    month: str
    sessions: int
    collected: str
    topped_up: str
    repaid: str | None
    repaid_on: dt.date | None
    reference: str
    due: str


class ChargingRepaymentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    month: Annotated[str, msgspec.Meta(max_length=7)]
    reference: Short
    amount: Amount | None = None
    repaid_on: Annotated[str, msgspec.Meta(max_length=10)] | None = None


class AdvenirSubsidyOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    order_id: uuid.UUID
    order_number: str
    programme_reference: str
    attestation_number: str
    points: int
    amount_per_point: str
    cap: str
    amount_ht: str
    computation: str
    status: str
    invoice_id: uuid.UUID | None

    @classmethod
    def of(cls, s: AdvenirSubsidy) -> AdvenirSubsidyOut:
        return cls(id=s.id, order_id=s.order_id, order_number=s.order_number,
                   programme_reference=s.programme_reference, attestation_number=s.attestation_number,
                   points=s.points, amount_per_point=_s(s.amount_per_point), cap=_s(s.cap),
                   amount_ht=_s(s.amount_ht), computation=s.computation, status=s.status, invoice_id=s.invoice_id)


class AdvenirSubsidyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order_id: uuid.UUID
    programme_reference: Short
    attestation_number: Annotated[str, msgspec.Meta(max_length=60)]
    points: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    amount_per_point: Amount
    cap: Amount


def _body(data: msgspec.Struct) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, uuid.UUID | float) else v for k, v in msgspec.to_builtins(data).items()
            if v is not None}


async def _charging_out(session: AsyncSession, tenant_id: uuid.UUID) -> ChargingOut:
    provider = charging.payment_provider()
    return ChargingOut(enabled=await charging.is_enabled(session, tenant_id), provider=provider.name,
                       real_payments=provider.real,
                       tariffs=[ChargingTariffOut.of(t) for t in await charging.tariffs_of(session, tenant_id)])


@get("/tenants/{tenant_id:uuid}/charging", tags=[TAG], responses=error_responses(403, 404),
     summary="La recharge payante du bénéficiaire : décision, tarifs, prestataire de paiement")
async def api_charging(tenant_ctx: TenantContext, db_session: AsyncSession) -> ChargingOut:
    tenant_ctx.require("read")
    return await _charging_out(db_session, tenant_ctx.tenant_id)


@put("/tenants/{tenant_id:uuid}/charging", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Rendre la recharge payante ou gratuite (CCTP CPAM 5-5-5-2, l'administrateur du bénéficiaire)")
async def api_set_charging(tenant_ctx: TenantContext, db_session: AsyncSession, data: ChargingEnabledIn) -> ChargingOut:
    tenant_ctx.require("manage_charging")
    await charging.set_enabled(db_session, tenant_ctx.tenant_id, data.enabled, now=utcnow())
    return await _charging_out(db_session, tenant_ctx.tenant_id)


@post("/tenants/{tenant_id:uuid}/charging/tariffs", tags=[TAG], status_code=201,
      responses=error_responses(403, 404, 422),
      summary="Ajouter un tarif (par kWh, par minute, par recharge) pour une population de badges",
      description="`population` : `agent`, `vehicle`, `site` ou vide (tous les badges) ; prix en euros (4 décimales "
                  "au plus) ; `valid_from` / `valid_to` AAAA-MM-JJ ; deux tarifs d'une population ne se chevauchent pas.")
async def api_add_tariff(tenant_ctx: TenantContext, db_session: AsyncSession, data: ChargingTariffIn) -> ChargingTariffOut:
    tenant_ctx.require("manage_charging")
    return ChargingTariffOut.of(await charging.add_tariff(db_session, tenant_ctx.tenant_id, _body(data), now=utcnow()))


async def _statement(ctx: TenantContext, session: AsyncSession, account: ChargingAccount | None,
                     month: str) -> ChargingStatementOut:
    year, number, errors = charging.parse_month(month, ctx.tenant.timezone, utcnow())
    if errors:
        raise BillingError({"month": errors["mois"]})
    first, last = charging.month_bounds(year, number)
    if account is None:
        return ChargingStatementOut(account=ChargingAccountOut(id=None, holder_label="", balance="0.00"),
                                    month=f"{year:04d}-{number:02d}", opening_balance="0.00",
                                    closing_balance="0.00", entries=[])
    opening, entries, closing = await charging.statement(session, ctx.tenant_id, account, first, last)
    return ChargingStatementOut(account=ChargingAccountOut(id=account.id, holder_label=account.holder_label,
                                                   balance=_s(account.balance)),
                                month=f"{year:04d}-{number:02d}", opening_balance=_s(opening),
                                closing_balance=_s(closing), entries=[ChargingEntryOut.of(e) for e in entries])


@get("/tenants/{tenant_id:uuid}/charging/account", tags=[TAG], responses=error_responses(404, 422),
     summary="Mon compte de recharge et son relevé du mois (date, adresse de la borne, durée, énergie, montant)")
async def api_own_account(tenant_ctx: TenantContext, db_session: AsyncSession, month: MonthParam = "") -> ChargingStatementOut:
    account = await charging.account_of_user(db_session, tenant_ctx.tenant_id, tenant_ctx.identity.user_id)
    return await _statement(tenant_ctx, db_session, account, month)


@post("/tenants/{tenant_id:uuid}/charging/account/top-ups", tags=[TAG], status_code=201,
      responses=error_responses(404, 422),
      summary="Créditer mon compte par le prestataire de paiement (5 à 500 €)",
      description="Sans prestataire réel configuré, le prestataire de test accepte le paiement (ou le refuse avec "
                  "`simulate: failure`) et aucune carte n'est débitée.")
async def api_top_up(tenant_ctx: TenantContext, db_session: AsyncSession, data: ChargingTopUpIn) -> ChargingPaymentOut:
    payment: ChargingPayment = await charging.top_up(db_session, tenant_ctx.tenant_id, tenant_ctx.identity.user_id,
                                                     _body(data), now=utcnow())
    account = await charging.get_account_in_tenant(db_session, tenant_ctx.tenant_id, payment.account_id)
    provider = charging.payment_provider()
    return ChargingPaymentOut(id=payment.id, amount=_s(payment.amount), status=payment.status, provider=payment.provider,
                      real_payment=provider.real, message=payment.message, balance=_s(account.balance))


@get("/tenants/{tenant_id:uuid}/charging/accounts", tags=[TAG], responses=error_responses(403, 404),
     summary="Les comptes de recharge des agents et leurs soldes")
async def api_accounts(tenant_ctx: TenantContext, db_session: AsyncSession) -> list[ChargingAccountOut]:
    tenant_ctx.require("read")
    return [ChargingAccountOut(id=a.id, holder_label=a.holder_label, balance=_s(a.balance))
            for a in await charging.accounts_of_tenant(db_session, tenant_ctx.tenant_id)]


@get("/tenants/{tenant_id:uuid}/charging/accounts/{charging_account_id:uuid}", tags=[TAG],
     responses=error_responses(403, 404, 422), summary="Le relevé du mois d'un compte de recharge")
async def api_account(tenant_ctx: TenantContext, db_session: AsyncSession, charging_account_id: uuid.UUID,
                      month: MonthParam = "") -> ChargingStatementOut:
    account = await charging.get_account_in_tenant(db_session, tenant_ctx.tenant_id, charging_account_id)
    tenant_ctx.require("read")
    return await _statement(tenant_ctx, db_session, account, month)


@get("/tenants/{tenant_id:uuid}/charging/collections", tags=[TAG], responses=error_responses(403, 404),
     summary="Les sommes perçues par mois et leur reversement à l'acheteur (douze derniers mois)")
async def api_collections(tenant_ctx: TenantContext, db_session: AsyncSession) -> list[ChargingCollectionOut]:
    tenant_ctx.require("read")
    out = []
    for c in await charging.collections(db_session, tenant_ctx.tenant_id, months=charging.last_months(tenant_ctx.tenant.timezone, utcnow())):
        r = c.repayment
        out.append(ChargingCollectionOut(month=f"{c.first:%Y-%m}", sessions=c.sessions, collected=_s(c.collected),
                                 topped_up=_s(c.topped_up), repaid=_s(r.repaid) if r else None,
                                 repaid_on=r.repaid_on if r else None, reference=r.reference if r else "",
                                 due=_s(c.due)))
    return out


@post("/tenants/{tenant_id:uuid}/charging/repayments", tags=[TAG], status_code=201,
      responses=error_responses(403, 404, 422),
      summary="Enregistrer le reversement d'un mois à l'acheteur (le titulaire, CCTP CPAM 5-5-5-2)")
async def api_repayment(tenant_ctx: TenantContext, db_session: AsyncSession, data: ChargingRepaymentIn) -> ChargingCollectionOut:
    tenant_ctx.require("repay_charging")
    r = await charging.record_repayment(db_session, tenant_ctx.tenant_id, _body(data), now=utcnow())
    c = (await charging.collections(db_session, tenant_ctx.tenant_id,
                                    months=[(r.period_start.year, r.period_start.month)]))[0]
    return ChargingCollectionOut(month=f"{c.first:%Y-%m}", sessions=c.sessions, collected=_s(c.collected),
                         topped_up=_s(c.topped_up), repaid=_s(r.repaid), repaid_on=r.repaid_on, reference=r.reference,
                         due=_s(c.due))


@get("/tenants/{tenant_id:uuid}/advenir-subsidies", tags=[TAG], responses=error_responses(403, 404),
     summary="Les primes ADVENIR (CCTP CPAM 5-7), leurs données d'attestation et leur calcul")
async def api_subsidies(tenant_ctx: TenantContext, db_session: AsyncSession) -> list[AdvenirSubsidyOut]:
    tenant_ctx.require("read")
    return [AdvenirSubsidyOut.of(s) for s in await advenir.subsidies_of_tenant(db_session, tenant_ctx.tenant_id)]


@post("/tenants/{tenant_id:uuid}/advenir-subsidies", tags=[TAG], status_code=201,
      responses=error_responses(403, 404, 422),
      summary="Enregistrer une prime ADVENIR sur le bon de commande de l'installation (le titulaire)",
      description="Déduite de la prochaine facture du bon de commande : points × montant par point, dans la limite "
                  "du plafond et de la base HT de la facture, en remise de pied de facture du Factur-X.")
async def api_record_subsidy(tenant_ctx: TenantContext, db_session: AsyncSession, data: AdvenirSubsidyIn) -> AdvenirSubsidyOut:
    tenant_ctx.require("invoice")
    return AdvenirSubsidyOut.of(await advenir.record_subsidy(db_session, tenant_ctx.tenant_id, _body(data), now=utcnow()))


api_handlers: list[Any] = [api_charging, api_set_charging, api_add_tariff, api_own_account, api_top_up, api_accounts,
                           api_account, api_collections, api_repayment, api_subsidies, api_record_subsidy]
