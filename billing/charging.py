"""Paid charging (issue 15 §5; CCTP CPAM 5-5-5-2 « La CPAM de la Sarthe se réserve le droit de rendre la charge
payante via le système de supervision et d'exploitation, à cet effet, le Titulaire gèrera les paiements et reversera
les sommes à la CPAM », 5-5-6-1 « gestion et paramétrage des comptes clients (accès, création/modification/
suppression, crédit/recharge, état détaillé imprimable et téléchargeable, etc.), ainsi que toutes les informations sur
les transactions réalisées sur leurs comptes (date de l'opération, adresse de la borne, durée de charge et
montant) »).

* Off by default, per tenant (``set_enabled``, the buyer's admin: « sur décision de la CPAM »).
* Tariffs per kWh, per minute and per session, by badge population, with validity dates (``add_tariff``); the
  price of a session is ``billing.charging_rules.price_session``.
* Agents' accounts with a credit: a top-up goes through a payment provider (``PaymentProvider``; the
  ``TestProvider`` completes or fails a payment on demand and processes no card — a real provider is installed
  with ``install_provider``).
* Every session of a paid tenant whose badge has a holder is priced when it stops and debited from the holder's
  account by the durable subscriber ``billing.charging-debit`` on csms's ``csms.transaction.stopped``; unique per
  transaction, so a redelivered event debits nothing twice.
* The statement of an account over a month (``statement``), the sums collected per month and what was paid back
  to the buyer (``collections``, ``record_repayment``, the titulaire's operator).

csms is read only through ``csms.services`` (``charging_session``, ``badge_statistics``) and its typed event.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of, one_in_tenant
from app.errors import NotFound
from app.outbox import Delivery, Subscriber
from billing.charging_models import (
    ChargingAccount,
    ChargingEntry,
    ChargingPayment,
    ChargingRepayment,
    ChargingSettings,
    ChargingTariff,
)
from billing.charging_rules import ENTRY_KINDS, POPULATIONS, fr_money, price_session, tariff_for
from billing.services import BillingError
from csms import services as csms
from csms.domain.events import ChargingSessionStopped
from tenants import services as tenants

__all__ = [
    "KINDS",
    "MAX_TOP_UP",
    "MIN_TOP_UP",
    "SUBSCRIBERS",
    "Collection",
    "PaymentOutcome",
    "PaymentProvider",
    "TestProvider",
    "account_of_user",
    "accounts_of_tenant",
    "add_tariff",
    "collections",
    "debit_session",
    "get_account_in_tenant",
    "install_provider",
    "is_enabled",
    "last_months",
    "month_bounds",
    "parse_month",
    "payment_provider",
    "record_repayment",
    "set_enabled",
    "statement",
    "tariffs_of",
    "top_up",
]

KINDS = ENTRY_KINDS
MIN_TOP_UP, MAX_TOP_UP = Decimal("5.00"), Decimal("500.00")
MAX_RATE = Decimal("100")


def _actor(session: AsyncSession) -> str:
    return str(actor_of(session).get("label") or "")[:320]


def _decimal(value: Any, label: str, *, places: int, low: Decimal, high: Decimal) -> Decimal:
    text = str(value if value is not None else "").strip().replace("\u202f", "").replace(" ", "").replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{label} : un nombre est attendu (par exemple 0,25).") from None
    if not number.is_finite() or number < low or number > high:
        raise ValueError(f"{label} : entre {str(low).replace('.', ',')} et {str(high).replace('.', ',')}.")
    step = Decimal(1).scaleb(-places)
    if number != number.quantize(step):
        raise ValueError(f"{label} : au plus {places} décimales.")
    return number.quantize(step)


def _day(value: Any, label: str, errors: dict[str, str], key: str, *, required: bool) -> dt.date | None:
    text = str(value or "").strip()
    if not text:
        if required:
            errors[key] = f"{label} : obligatoire (AAAA-MM-JJ)."
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        errors[key] = f"{label} : date attendue au format AAAA-MM-JJ."
        return None


def month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


def parse_month(value: str, zone: str, now: dt.datetime) -> tuple[int, int, dict[str, str]]:
    """(year, month, errors) of a ``mois`` filter (AAAA-MM); empty: the current month in ``zone``."""
    today = now.astimezone(ZoneInfo(zone)).date()
    if not value:
        return today.year, today.month, {}
    try:
        year, month = (int(x) for x in value.split("-"))
        month_bounds(year, month)
    except ValueError:
        return today.year, today.month, {"mois": "Mois attendu au format AAAA-MM (par exemple 2026-11)."}
    return year, month, {}


def last_months(zone: str, now: dt.datetime, count: int = 12) -> list[tuple[int, int]]:
    """The current month in ``zone`` and the ``count - 1`` before it, latest first."""
    today = now.astimezone(ZoneInfo(zone)).date()
    out, year, month = [], today.year, today.month
    for _ in range(count):
        out.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def _utc_span(first: dt.date, last: dt.date, zone: str) -> tuple[dt.datetime, dt.datetime]:
    tz = ZoneInfo(zone)
    start = dt.datetime.combine(first, dt.time(), tz).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)
    return start, end


# --------------------------------------------------------------------------- the tenant's decision and tariffs


async def settings_of(session: AsyncSession, tenant_id: uuid.UUID) -> ChargingSettings | None:
    return await session.scalar(select(ChargingSettings).where(ChargingSettings.tenant_id == tenant_id))


async def is_enabled(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    found = await settings_of(session, tenant_id)
    return bool(found is not None and found.enabled)


async def set_enabled(session: AsyncSession, tenant_id: uuid.UUID, enabled: bool, *, now: dt.datetime) -> ChargingSettings:
    """5-5-5-2 « sur décision de la CPAM »: the buyer's admin turns paid charging on or off; sessions stopped while
    it is on are priced."""
    found = await settings_of(session, tenant_id)
    if found is None:
        found = ChargingSettings(tenant_id=tenant_id, enabled=enabled)
        session.add(found)
    found.enabled, found.updated_at, found.updated_by = enabled, now, _actor(session)
    await session.flush()
    return found


async def tariffs_of(session: AsyncSession, tenant_id: uuid.UUID) -> list[ChargingTariff]:
    return list(await session.scalars(select(ChargingTariff).where(ChargingTariff.tenant_id == tenant_id)
                                      .order_by(ChargingTariff.population, ChargingTariff.valid_from.desc())))


async def add_tariff(session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any], *,
                     now: dt.datetime) -> ChargingTariff:
    """A tariff for one badge population from ``valid_from`` (to ``valid_to`` or open). Prices are in euros, four
    decimals at most, 0 to 100; two tariffs of one population never overlap (the price of a session is never
    ambiguous). ``BillingError`` by field otherwise; nothing is written then."""
    errors: dict[str, str] = {}
    population = str(data.get("population") or "").strip()
    if population not in POPULATIONS:
        errors["population"] = "Population : " + ", ".join(f"« {v} »" for v in POPULATIONS.values()) + "."
    label = str(data.get("label") or "").strip()
    if len(label) > 120:
        errors["label"] = "Libellé : 120 caractères au plus."
    prices: dict[str, Decimal] = {}
    for key, name in (("per_kwh", "Prix par kWh"), ("per_minute", "Prix par minute"),
                      ("per_session", "Prix par recharge")):
        try:
            prices[key] = _decimal(data.get(key) if data.get(key) not in (None, "") else "0", name, places=4,
                                   low=Decimal(0), high=MAX_RATE)
        except ValueError as exc:
            errors[key] = str(exc)
    valid_from = _day(data.get("valid_from"), "Valable à partir du", errors, "valid_from", required=True)
    valid_to = _day(data.get("valid_to"), "Valable jusqu'au", errors, "valid_to", required=False)
    if valid_from and valid_to and valid_to < valid_from:
        errors["valid_to"] = "Valable jusqu'au : au plus tôt le premier jour de validité."
    if not errors and not any(prices.values()):
        errors["per_kwh"] = "Un tarif payant a au moins un prix non nul (la recharge gratuite se passe de tarif)."
    if not errors and valid_from is not None:
        for other in await tariffs_of(session, tenant_id):
            if other.population == population and other.valid_from <= (valid_to or dt.date.max) \
                    and valid_from <= (other.valid_to or dt.date.max):
                errors["valid_from"] = (f"Un tarif « {POPULATIONS[population]} » est déjà en vigueur sur cette période "
                                        f"(à partir du {other.valid_from:%d/%m/%Y}) : clôturez-le ou choisissez "
                                        "d'autres dates.")
                break
    if errors:
        raise BillingError(errors)
    assert valid_from is not None
    tariff = ChargingTariff(tenant_id=tenant_id, label=label or POPULATIONS[population], population=population,
                            valid_from=valid_from, valid_to=valid_to, created_at=now, created_by=_actor(session),
                            **prices)
    session.add(tariff)
    await session.flush()
    return tariff


# --------------------------------------------------------------------------- accounts and top-ups


async def account_of_user(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, *, create: bool = False,
                          holder_label: str = "", for_update: bool = False) -> ChargingAccount | None:
    query = select(ChargingAccount).where(ChargingAccount.tenant_id == tenant_id, ChargingAccount.user_id == user_id)
    if for_update:
        query = query.execution_options(populate_existing=True)
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
    found = await session.scalar(query)
    if found is None and create:
        if not holder_label:
            holder_label = (await tenants.member_names(session, tenant_id)).get(user_id, "")
        found = ChargingAccount(tenant_id=tenant_id, user_id=user_id, holder_label=holder_label[:200],
                                balance=Decimal("0.00"))
        session.add(found)
        await session.flush()
    return found


async def accounts_of_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> list[ChargingAccount]:
    return list(await session.scalars(select(ChargingAccount).where(ChargingAccount.tenant_id == tenant_id)
                                      .order_by(ChargingAccount.holder_label, ChargingAccount.id)))


async def get_account_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, account_id: uuid.UUID, *,
                                for_update: bool = False) -> ChargingAccount:
    account: ChargingAccount = await one_in_tenant(session, ChargingAccount, tenant_id, account_id,
                                                   "compte de recharge", for_update=for_update)
    return account


@dataclass(frozen=True)
class PaymentOutcome:
    completed: bool
    reference: str
    message: str = ""


class PaymentProvider(Protocol):
    """The seam of card payments (5-5-6-1 « intégrer la possibilité d'un paiement par carte bancaire »): ``pay``
    asks the provider for ``amount`` euros and says whether the payment completed."""

    name: str
    #: False for a provider that moves no money (the page says so).
    real: bool

    async def pay(self, amount: Decimal, *, reference: str, simulate_failure: bool = False) -> PaymentOutcome: ...


class TestProvider:
    """No card is processed: a payment completes, or fails when asked (``simulate_failure``), for tests and demos."""

    name = "test"
    real = False
    __test__ = False  # not a pytest class

    async def pay(self, amount: Decimal, *, reference: str, simulate_failure: bool = False) -> PaymentOutcome:
        if simulate_failure:
            return PaymentOutcome(False, f"test-{reference}", "Paiement refusé par le prestataire de test.")
        return PaymentOutcome(True, f"test-{reference}")


_PROVIDER: list[PaymentProvider] = [TestProvider()]


def install_provider(provider: PaymentProvider) -> None:
    """A real payment provider for this process (none is shipped: only the test provider, which moves no money)."""
    _PROVIDER[0] = provider


def payment_provider() -> PaymentProvider:
    return _PROVIDER[0]


async def top_up(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, data: Mapping[str, Any], *,
                 now: dt.datetime) -> ChargingPayment:
    """Credit the caller's account through the payment provider: between 5 and 500 €, to the cent, for a holder of
    one of the tenant's badges (``csms.services.badges_of_user``). A completed
    payment adds a ``topup`` entry and the credit; a failed one is recorded as such and credits nothing."""
    try:
        amount = _decimal(data.get("amount"), "Montant", places=2, low=MIN_TOP_UP, high=MAX_TOP_UP)
    except ValueError as exc:
        raise BillingError({"amount": str(exc)}) from None
    if not await is_enabled(session, tenant_id):
        raise BillingError({"amount": "La recharge est gratuite chez ce bénéficiaire : aucun crédit n'est à prendre."})
    if not await csms.badges_of_user(session, tenant_id, user_id):
        raise BillingError({"amount": "Aucun badge de recharge ne vous est remis chez ce bénéficiaire : il n'y a "
                                      "rien à créditer (CCTP CPAM 5-5-5-3, demandez un badge)."})
    account = await account_of_user(session, tenant_id, user_id, create=True, for_update=True)
    assert account is not None
    provider = payment_provider()
    payment = ChargingPayment(tenant_id=tenant_id, account_id=account.id, amount=amount, provider=provider.name,
                              status="pending", created_at=now)
    session.add(payment)
    await session.flush()
    outcome = await provider.pay(amount, reference=str(payment.id),
                                 simulate_failure=not provider.real and str(data.get("simulate") or "") == "failure")
    payment.provider_reference, payment.message = outcome.reference[:120], outcome.message[:300]
    payment.completed_at = now
    if outcome.completed:
        payment.status = "completed"
        session.add(ChargingEntry(tenant_id=tenant_id, account_id=account.id, kind="topup", amount=amount,
                                  booked_at=now, payment_id=payment.id,
                                  computation=f"Crédit par carte ({provider.name}) : {fr_money(amount)}"))
        account.balance += amount
        account.updated_at = now
    else:
        payment.status = "failed"
    await session.flush()
    return payment


# --------------------------------------------------------------------------- a stopped session, priced and debited


def _address(site: Any) -> str:
    if site is None:
        return ""
    place = " ".join(x for x in (site.postal_code, site.city) if x)
    return ", ".join(x for x in (site.address, place) if x) or site.name


async def debit_session(session: AsyncSession, tenant_id: uuid.UUID, transaction_id: uuid.UUID, *,
                        event_id: uuid.UUID | None, now: dt.datetime) -> ChargingEntry | None:
    """Price a stopped session and debit it from its badge holder's account, once (None: free, already debited,
    or nothing to debit). Free when the tenant's paid charging is off, the badge has no holder (a vehicle or site
    badge not issued to a person) or no tariff of its population was in force on its day."""
    if not await is_enabled(session, tenant_id):
        return None
    if await session.scalar(select(ChargingEntry.id).where(ChargingEntry.tenant_id == tenant_id,
                                                           ChargingEntry.transaction_id == transaction_id)):
        return None
    found = await csms.charging_session(session, tenant_id, transaction_id)
    if found is None or found.stopped_at is None or found.user_id is None:
        return None
    tenant = await tenants.get_tenant(session, tenant_id)
    day = found.started_at.astimezone(ZoneInfo(tenant.timezone)).date()
    tariff = tariff_for(await tariffs_of(session, tenant_id), found.badge_kind, day)
    if tariff is None:
        return None
    seconds = max((found.stopped_at - found.started_at).total_seconds(), 0.0)
    price = price_session(tariff, energy_wh=found.energy_wh, seconds=seconds)
    account = await account_of_user(session, tenant_id, found.user_id, create=True, holder_label=found.holder_label,
                                    for_update=True)
    assert account is not None
    site = None
    if found.site_id is not None:
        with contextlib.suppress(NotFound):  # a site deleted since: the statement names the station only
            site = await tenants.access_site(session, tenant_id, found.site_id)
    entry = ChargingEntry(
        # Booked on the session's stop (« date de l'opération »), whenever the relay delivers it.
        tenant_id=tenant_id, account_id=account.id, kind="charge", amount=-price.amount, booked_at=found.stopped_at,
        transaction_id=transaction_id, event_id=event_id, started_at=found.started_at, stopped_at=found.stopped_at,
        station_name=(found.station_name or found.charge_box_id)[:200], station_address=_address(site)[:300],
        point_id=found.point_id[:40], id_tag=found.id_tag[:36], duration_seconds=int(round(seconds)),
        energy_wh=found.energy_wh, tariff_id=tariff.id, computation=price.computation[:500])
    session.add(entry)
    account.balance -= price.amount
    account.updated_at = now
    await session.flush()
    return entry


async def _on_session_stopped(delivery: Delivery, event: ChargingSessionStopped) -> None:
    await debit_session(delivery.session, event.tenant_id, event.transaction_id, event_id=delivery.event_id,
                        now=dt.datetime.now(dt.UTC))


SUBSCRIBERS: list[Subscriber[Any]] = [Subscriber(ChargingSessionStopped, "billing.charging-debit", _on_session_stopped)]


# --------------------------------------------------------------------------- statements, collections, repayments


async def statement(session: AsyncSession, tenant_id: uuid.UUID, account: ChargingAccount, first: dt.date,
                    last: dt.date) -> tuple[Decimal, list[ChargingEntry], Decimal]:
    """(balance before ``first``, the entries booked from ``first`` to ``last`` in the tenant's days, balance
    after ``last``): the agent's detailed statement (5-5-6-1 « état détaillé imprimable et téléchargeable »)."""
    tenant = await tenants.get_tenant(session, tenant_id)
    start, end = _utc_span(first, last, tenant.timezone)
    scope = (ChargingEntry.tenant_id == tenant_id, ChargingEntry.account_id == account.id)
    before = await session.scalar(select(func.coalesce(func.sum(ChargingEntry.amount), 0))
                                  .where(*scope, ChargingEntry.booked_at < start))
    entries = list(await session.scalars(select(ChargingEntry).where(
        *scope, ChargingEntry.booked_at >= start, ChargingEntry.booked_at < end)
        .order_by(ChargingEntry.booked_at, ChargingEntry.id)))
    opening = Decimal(before or 0).quantize(Decimal("0.01"))
    return opening, entries, opening + sum((e.amount for e in entries), Decimal("0.00"))


@dataclass(frozen=True)
class Collection:
    """One month: what the sessions took from the agents' accounts, the top-ups paid in, and the repayment to the
    buyer if recorded."""

    first: dt.date
    last: dt.date
    sessions: int
    collected: Decimal
    topped_up: Decimal
    repayment: ChargingRepayment | None

    @property
    def due(self) -> Decimal:
        return self.collected - (self.repayment.repaid if self.repayment is not None else Decimal("0.00"))


async def collections(session: AsyncSession, tenant_id: uuid.UUID, *, months: Sequence[tuple[int, int]]
                      ) -> list[Collection]:
    """The sums collected per month (the debited sessions, by the day they were booked in the tenant's zone) and
    their repayment to the buyer (5-5-5-2 « reversera les sommes à la CPAM »)."""
    tenant = await tenants.get_tenant(session, tenant_id)
    repayments = {r.period_start: r for r in await session.scalars(
        select(ChargingRepayment).where(ChargingRepayment.tenant_id == tenant_id))}
    out = []
    for year, month in months:
        first, last = month_bounds(year, month)
        start, end = _utc_span(first, last, tenant.timezone)
        rows = dict((kind, (n, total)) for kind, n, total in (await session.execute(
            select(ChargingEntry.kind, func.count(), func.coalesce(func.sum(ChargingEntry.amount), 0))
            .where(ChargingEntry.tenant_id == tenant_id, ChargingEntry.booked_at >= start, ChargingEntry.booked_at < end)
            .group_by(ChargingEntry.kind))).all())
        sessions, charged = rows.get("charge", (0, 0))
        topped = rows.get("topup", (0, 0))[1]
        out.append(Collection(first, last, int(sessions), -Decimal(charged).quantize(Decimal("0.01")),
                              Decimal(topped).quantize(Decimal("0.01")), repayments.get(first)))
    return out


async def record_repayment(session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any], *,
                           now: dt.datetime) -> ChargingRepayment:
    """The titulaire's repayment to the buyer of a month's sums (``month`` AAAA-MM, ``repaid_on``, ``reference``,
    ``amount`` defaulting to what was collected); once per month, not in the future, not before the month ends."""
    errors: dict[str, str] = {}
    text = str(data.get("month") or "").strip()
    try:
        year, month = (int(x) for x in text.split("-"))
        first, last = month_bounds(year, month)
    except ValueError:
        raise BillingError({"month": "Mois attendu au format AAAA-MM (par exemple 2026-11)."}) from None
    tenant = await tenants.get_tenant(session, tenant_id)
    today = now.astimezone(ZoneInfo(tenant.timezone)).date()
    repaid_on = _day(data.get("repaid_on") or today.isoformat(), "Date du reversement", errors, "repaid_on",
                     required=True)
    if repaid_on is not None and (repaid_on > today or repaid_on <= last):
        errors["repaid_on"] = "Date du reversement : après la fin du mois reversé, et pas dans le futur."
    reference = str(data.get("reference") or "").strip()
    if not reference or len(reference) > 120:
        errors["reference"] = "Référence du virement : obligatoire, 120 caractères au plus."
    collected = (await collections(session, tenant_id, months=[(year, month)]))[0]
    if collected.repayment is not None:
        errors["month"] = f"Le reversement de {first:%m/%Y} est déjà enregistré."
    try:
        amount = _decimal(data.get("amount") if data.get("amount") not in (None, "") else collected.collected,
                          "Montant reversé", places=2, low=Decimal(0), high=Decimal("10000000"))
    except ValueError as exc:
        errors["amount"] = str(exc)
    if errors:
        raise BillingError(errors)
    assert repaid_on is not None
    repayment = ChargingRepayment(tenant_id=tenant_id, period_start=first, period_end=last,
                                  collected=collected.collected, repaid=amount, repaid_on=repaid_on,
                                  reference=reference, created_at=now, created_by=_actor(session))
    session.add(repayment)
    await session.flush()
    return repayment
