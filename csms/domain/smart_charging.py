"""Dynamic load management: site power budgets pushed to stations as charging profiles.

CCTP CPAM article 4: the stations are « équipées d'un compteur MID permettant une
gestion dynamique de l'appel de courant afin de s'adapter en temps réel à la
puissance résiduelle disponible sur le site »; 5-5 asks the supervision system « de
gérer la charge » and 5-5-4 « pilotage, paramétrage et optimisation énergétique ».

A site may have a power budget (``SitePowerBudget``). Whenever a transaction starts
or stops on such a site, and whenever its budget changes, the budget is shared
among the site's active transactions by ``csms.domain.load_sharing.allocate`` (max-min
fair, 6 A minimum per phase, latest sessions paused when the minimums do not fit)
and each transaction whose limit changed gets a ``SetChargingProfile`` (OCPP 1.6
TxProfile on its transactionId; the 2.0.1 equivalent on its EVSE). What was sent
and the station's answer are kept (``SentChargingProfile``) for the portal.

How it runs:

* Never on a station's answer path: the ingress calls ``LoadManager.transaction_changed``
  once the Start/Stop is committed and answered; the work runs in a task. A budget
  set, changed or removed is a durable event (``csms.domain.events.SiteBudgetChanged``,
  written with the budget): the outbox relay recomputes the site (``csms.domain.subscribers``),
  again after a crash of the process that saved it.
* Recomputations of one site are serialized: in a process by a per-site lock and
  coalescing (ten starts in a burst give one or two recomputations, the last one
  seeing every committed transaction); across processes (scaled mode, PostgreSQL)
  by a transaction-level advisory lock held while the profiles are sent.
* A station that is offline, times out or refuses is logged and recorded; the
  others still get their profile, and it is tried again at the next recomputation
  (a profile is re-sent whenever its last answer was not ``Accepted``). One the
  profile could not reach (offline, no answer) is announced on the bus
  (``load.unreached``), wherever the recomputation ran (a budget changed in a web
  process): the ingress processes remember it, and the one it connects to next
  recomputes its site at once.
* Removing a budget lifts the limits: ``ClearChargingProfile`` for the transactions
  that hold one of our profiles.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import uuid
import weakref
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, utcnow
from app.errors import ValidationFailed
from app.outbox import publish_on_commit
from csms.domain.commands import CommandRejected, CommandSkipped, CommandTimeout, StationOffline, send_command
from csms.domain.events import LOAD_UNREACHED, STATION_CONNECTED, TRANSACTION_TOPICS, SiteBudgetChanged
from csms.domain.load_sharing import (
    MIN_CURRENT,
    Allocation,
    Demand,
    allocate,
    charging_profile_16,
    charging_profile_201,
)
from csms.domain.models import (
    ChargePoint,
    Charger,
    SentChargingProfile,
    SitePowerBudget,
    Station,
    Transaction,
)
from csms.domain.ports import IngressPort
from tenants import services
from tenants.models import Site
from tenants.services import access_site

__all__ = [
    "ACTOR",
    "LoadManager",
    "SessionLoad",
    "SiteLoad",
    "get_power_budget",
    "recompute_site",
    "remove_power_budget",
    "set_power_budget",
    "site_load",
    "site_of_charger",
    "sites_load",
    "validate_budget",
]

log = logging.getLogger(__name__)

#: Who the profiles are sent as (command log, audit).
ACTOR = {"user_id": None, "label": "pilotage énergétique"}
#: Seconds a station has to answer a profile before it is recorded as ``timeout``.
SEND_TIMEOUT = 15.0
#: Above this rated power a point charges on three phases (7.4 kW = 32 A on one phase).
SINGLE_PHASE_MAX_KW = 7.4
MAX_BUDGET_KW = 10_000.0  # 10 MW: beyond any car park; a typo guard
MAX_CURRENT_A = 63.0
#: Station answers meaning "the limit is in force".
APPLIED = "Accepted"
#: Outcomes written when no answer came.
OFFLINE, TIMEOUT, ERROR, CLEARED = "offline", "timeout", "error", "cleared"
#: Outcomes of a profile that did not reach its station (a refusal did reach it).
UNREACHED = (OFFLINE, TIMEOUT, ERROR)



class Sender(Protocol):
    """Sends one call for a transaction's profile; ``transaction_id`` (row id) must still be running."""

    def __call__(self, tenant_id: uuid.UUID, charge_box_id: str, action: str, payload: dict[str, Any], *,
                 transaction_id: uuid.UUID) -> Awaitable[dict[str, Any]]: ...


# --------------------------------------------------------------------------- budgets


def _number(raw: Any, field: str, errors: dict[str, str], *, label: str) -> float | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        errors[field] = f"{label} : nombre attendu."
        return None
    try:
        value = float(str(raw).strip().replace(",", ".").replace("\u202f", "").replace(" ", ""))
    except ValueError:
        errors[field] = f"{label} : nombre attendu (par exemple 36 ou 36,5)."
        return None
    if value != value or value in (float("inf"), float("-inf")):  # NaN, infinities
        errors[field] = f"{label} : nombre attendu."
        return None
    return value


def validate_budget(data: dict[str, Any]) -> dict[str, Any]:
    """The budget fields, checked; ``ValidationFailed`` with French messages otherwise."""
    errors: dict[str, str] = {}
    budget = _number(data.get("budget_kw"), "budget_kw", errors, label="Puissance disponible")
    if budget is None and "budget_kw" not in errors:
        errors["budget_kw"] = "La puissance disponible pour la recharge est obligatoire (en kW)."
    elif budget is not None and budget <= 0:
        errors["budget_kw"] = "La puissance disponible doit être strictement positive (en kW)."
    elif budget is not None and budget > MAX_BUDGET_KW:
        errors["budget_kw"] = f"La puissance disponible ne peut dépasser {MAX_BUDGET_KW:,.0f} kW.".replace(",", "\u202f")
    elif budget is not None and round(budget, 1) != budget:
        errors["budget_kw"] = "La puissance disponible s'exprime en kW avec au plus une décimale."
    minimum = _number(data.get("min_current_a"), "min_current_a", errors, label="Courant minimal")
    if minimum is None and "min_current_a" not in errors:
        minimum = MIN_CURRENT
    elif minimum is not None and not MIN_CURRENT <= minimum <= MAX_CURRENT_A:
        errors["min_current_a"] = (
            f"Le courant minimal par recharge est compris entre {MIN_CURRENT:.0f} A (norme IEC 61851-1) "
            f"et {MAX_CURRENT_A:.0f} A."
        )
    elif minimum is not None and round(minimum, 1) != minimum:
        errors["min_current_a"] = "Le courant minimal s'exprime en ampères avec au plus une décimale."
    phases_raw = data.get("phases", 3)
    phases = None
    if phases_raw in (None, ""):
        phases = 3
    elif str(phases_raw).strip() in ("1", "3") and not isinstance(phases_raw, bool | float):
        phases = int(str(phases_raw).strip())
    else:
        errors["phases"] = "Raccordement du site : 1 (monophasé) ou 3 (triphasé)."
    if errors:
        raise ValidationFailed(errors)
    return {"budget_kw": budget, "min_current_a": minimum, "phases": phases}


async def get_power_budget(session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID) -> SitePowerBudget | None:
    return await session.scalar(
        select(SitePowerBudget).where(SitePowerBudget.tenant_id == tenant_id, SitePowerBudget.site_id == site_id)
    )


async def set_power_budget(
    session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID, data: dict[str, Any]
) -> SitePowerBudget:
    """Create or change a site's budget (audited ORM write); the recomputation follows its commit (its event)."""
    await access_site(session, tenant_id, site_id)
    values = validate_budget(data)
    budget = await get_power_budget(session, tenant_id, site_id)
    if budget is None:
        budget = SitePowerBudget(tenant_id=tenant_id, site_id=site_id, **values, updated_at=utcnow())
        session.add(budget)
    else:
        for key, value in values.items():
            setattr(budget, key, value)
        budget.updated_at = utcnow()
    await session.flush()
    publish_on_commit(session, SiteBudgetChanged(tenant_id=tenant_id, site_id=site_id,
                                                 budget_kw=float(budget.budget_kw)))
    return budget


async def remove_power_budget(session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID) -> bool:
    """The site is no longer managed; the recomputation after the commit lifts the limits. False if it had none."""
    await access_site(session, tenant_id, site_id)
    budget = await get_power_budget(session, tenant_id, site_id)
    if budget is None:
        return False
    await session.delete(budget)
    await session.flush()
    publish_on_commit(session, SiteBudgetChanged(tenant_id=tenant_id, site_id=site_id, budget_kw=None))
    return True


# --------------------------------------------------------------------------- who gets what


@dataclasses.dataclass
class SessionLoad:
    """An active transaction of a site, its share of the budget and the last profile it got."""

    transaction: Transaction
    charge_box_id: str
    protocol: str
    power_kw: float | None
    phases: int
    max_w: float
    allocation: Allocation | None  # None when the site has no budget
    last: SentChargingProfile | None

    @property
    def profile_id(self) -> int:
        ocpp_id = self.transaction.ocpp_transaction_id
        if ocpp_id.isdigit() and 0 < int(ocpp_id) < 2**31:
            return int(ocpp_id)
        return zlib.crc32(self.transaction.id.bytes) & 0x7FFFFFFF or 1

    @property
    def limit_a(self) -> float | None:
        return None if self.allocation is None else self.allocation.limit_a

    @property
    def allocated_kw(self) -> float | None:
        return None if self.allocation is None else round(self.allocation.limit_w / 1000, 2)

    @property
    def up_to_date(self) -> bool:
        """The station already holds this limit (its last answer was Accepted for the same value)."""
        last = self.last
        return (last is not None and last.outcome == APPLIED and self.allocation is not None
                and last.limit_a == self.allocation.limit_a and last.phases == self.allocation.phases)


@dataclasses.dataclass
class SiteLoad:
    site: Site
    budget: SitePowerBudget | None
    sessions: list[SessionLoad]

    @property
    def allocated_kw(self) -> float:
        return round(sum(s.allocated_kw or 0 for s in self.sessions), 2)


def _phases(power_kw: float | None, site_phases: int) -> int:
    if site_phases == 1:
        return 1
    return 1 if power_kw is not None and power_kw <= SINGLE_PHASE_MAX_KW else 3


async def site_of_charger(session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(
        select(Station.site_id)
        .join(Charger, (Charger.tenant_id == Station.tenant_id) & (Charger.station_id == Station.id))
        .where(Charger.tenant_id == tenant_id, Charger.id == charger_id)
    )


async def _active_transactions(session: AsyncSession, tenant_id: uuid.UUID, site_ids: list[uuid.UUID]) -> list[Any]:
    # Refused badges get a transactionId in 1.6 but the station stops them: they draw nothing. A charger
    # retired for good (csms.domain.registry.decommission_charger) draws nothing either, whatever it left open.
    # A transaction whose EVSE is unknown (a 2.0.1 Updated for an id whose Started never came,
    # csms.domain.recording.UNKNOWN_START) gets no share until the station names it: a profile needs an EVSE,
    # and guessing one (evseId 1) would cap a real session there while halving the others' shares.
    # A stopped transaction is never listed, whatever its status says.
    return list((await session.execute(
        select(Transaction, Charger.charge_box_id, Charger.protocol, ChargePoint.power_kw, Station.site_id)
        .join(Charger, (Charger.tenant_id == Transaction.tenant_id) & (Charger.id == Transaction.charger_id))
        .join(Station, (Station.tenant_id == Charger.tenant_id) & (Station.id == Charger.station_id))
        .outerjoin(ChargePoint, (ChargePoint.tenant_id == Transaction.tenant_id)
                   & (ChargePoint.charger_id == Transaction.charger_id)
                   & (ChargePoint.connector_id == Transaction.connector_id))
        .where(Transaction.tenant_id == tenant_id, Station.site_id.in_(site_ids), Transaction.status == "active",
               Transaction.stopped_at.is_(None), Transaction.connector_id > 0,
               Transaction.id_tag_status.in_(("Accepted", "")), Charger.decommissioned_at.is_(None))
        .order_by(Transaction.started_at, Transaction.id)
    )).all())


async def _last_profiles(session: AsyncSession, tenant_id: uuid.UUID,
                         transaction_ids: list[uuid.UUID]) -> dict[uuid.UUID, SentChargingProfile]:
    last: dict[uuid.UUID, SentChargingProfile] = {}
    if not transaction_ids:
        return last
    rows = await session.scalars(
        select(SentChargingProfile)
        .where(SentChargingProfile.tenant_id == tenant_id, SentChargingProfile.transaction_id.in_(transaction_ids))
        .order_by(SentChargingProfile.sent_at, SentChargingProfile.id)
    )
    for row in rows:
        last[row.transaction_id] = row
    return last


def _share(budget: SitePowerBudget | None, rows: list[Any], last: dict[uuid.UUID, SentChargingProfile]) -> list[SessionLoad]:
    site_phases = budget.phases if budget is not None else 3
    sessions = []
    for tx, charge_box_id, protocol, power_kw, _site_id in rows:
        phases = _phases(power_kw, site_phases)
        if power_kw:
            max_w = float(power_kw) * 1000
        else:  # rated power not filled in: the budget is the only cap
            max_w = float(budget.budget_kw) * 1000 if budget is not None else 0.0
        sessions.append(SessionLoad(tx, charge_box_id, protocol or "ocpp1.6", power_kw, phases, max_w, None,
                                    last.get(tx.id)))
    if budget is not None:
        demands = [
            Demand(s.transaction.id, s.max_w, phases=s.phases, min_current=float(budget.min_current_a),
                   started_order=(s.transaction.started_at or s.transaction.start_received_at or utcnow()).timestamp())
            for s in sessions
        ]
        shares = allocate(float(budget.budget_kw) * 1000, demands)
        for s in sessions:
            s.allocation = shares[s.transaction.id]
    return sessions


async def site_load(session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID) -> SiteLoad:
    """A site's budget, its active transactions, what each is given now and the last profile sent."""
    site = await access_site(session, tenant_id, site_id)
    return (await _loads(session, tenant_id, [site]))[0]


async def sites_load(session: AsyncSession, tenant_id: uuid.UUID) -> list[SiteLoad]:
    sites = await services.list_sites(session, tenant_id)
    return await _loads(session, tenant_id, sites)


async def _loads(session: AsyncSession, tenant_id: uuid.UUID, sites: list[Site]) -> list[SiteLoad]:
    if not sites:
        return []
    site_ids = [s.id for s in sites]
    budgets = {b.site_id: b for b in await session.scalars(
        select(SitePowerBudget).where(SitePowerBudget.tenant_id == tenant_id, SitePowerBudget.site_id.in_(site_ids)))}
    rows = await _active_transactions(session, tenant_id, site_ids)
    last = await _last_profiles(session, tenant_id, [row[0].id for row in rows])
    return [
        SiteLoad(site, budgets.get(site.id), _share(budgets.get(site.id), [r for r in rows if r[4] == site.id], last))
        for site in sites
    ]


# --------------------------------------------------------------------------- pushing profiles


def set_profile_payload(load: SessionLoad) -> tuple[str, dict[str, Any]]:
    """The SetChargingProfile call for this session's allocation, in the station's protocol."""
    assert load.allocation is not None
    tx = load.transaction
    if load.protocol == "ocpp2.0.1":
        profile = charging_profile_201(load.allocation, profile_id=load.profile_id, transaction_id=tx.ocpp_transaction_id)
        return "SetChargingProfile", {"evseId": tx.connector_id, "chargingProfile": profile}
    profile = charging_profile_16(load.allocation, profile_id=load.profile_id, transaction_id=int(tx.ocpp_transaction_id))
    return "SetChargingProfile", {"connectorId": tx.connector_id, "csChargingProfiles": profile}


def clear_profile_payload(load: SessionLoad) -> tuple[str, dict[str, Any]]:
    if load.protocol == "ocpp2.0.1":
        return "ClearChargingProfile", {"chargingProfileId": load.profile_id}
    return "ClearChargingProfile", {"id": load.profile_id}


def _command_sender(db: Database, bus: Any) -> Sender:
    """Profiles go through ``csms.domain.commands.send_command``: over the bus, one call in flight, logged."""

    async def send(tenant_id: uuid.UUID, charge_box_id: str, action: str, payload: dict[str, Any], *,
                   transaction_id: uuid.UUID) -> dict[str, Any]:
        # Checked by the ingress when the station's call slot is free, right before sending: a
        # transaction that ended since the shares were computed (its stop answered while this
        # profile waited behind another call) gets nothing (CommandSkipped).
        return await send_command(db, bus, tenant_id=tenant_id, charge_box_id=charge_box_id, action=action,
                                  payload=payload, actor=ACTOR, timeout=SEND_TIMEOUT, only_if_active=transaction_id)

    return send


def _outcome(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, StationOffline):
        return OFFLINE, "Borne hors ligne : nouvel essai au prochain recalcul."
    if isinstance(exc, CommandTimeout):
        return TIMEOUT, "La borne n'a pas répondu à temps : nouvel essai au prochain recalcul."
    if isinstance(exc, CommandRejected):
        return ERROR, f"La borne a renvoyé une erreur OCPP {exc.code} : nouvel essai au prochain recalcul."
    return ERROR, f"Envoi impossible ({type(exc).__name__} : {exc}) : nouvel essai au prochain recalcul."


def _lock_key(tenant_id: uuid.UUID, site_id: uuid.UUID) -> int:
    digest = hashlib.blake2b(b"csms.load:" + tenant_id.bytes + site_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_site_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[uuid.UUID, uuid.UUID], asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def _site_lock(db: Database, tenant_id: uuid.UUID, site_id: uuid.UUID) -> AsyncIterator[None]:
    """One recomputation of a site at a time: in this process, then across processes (PostgreSQL)."""
    locks = _site_locks.setdefault(asyncio.get_running_loop(), {})
    lock = locks.setdefault((tenant_id, site_id), asyncio.Lock())
    async with lock:
        if db.engine.dialect.name != "postgresql":
            yield  # SQLite: embedded mode, one process
            return
        # Held by an otherwise idle transaction until the profiles are sent and recorded;
        # it touches no table (no tenant scope needed) and blocks no writer.
        async with db.engine.connect() as conn, conn.begin():
            await conn.execute(select(func.pg_advisory_xact_lock(_lock_key(tenant_id, site_id))))
            yield


@dataclasses.dataclass
class RecomputeResult:
    site_id: uuid.UUID
    budget_kw: float | None
    sent: list[SentChargingProfile]
    unchanged: int


async def recompute_site(db: Database, bus: Any, tenant_id: uuid.UUID, site_id: uuid.UUID, *,
                         send: Sender | None = None) -> RecomputeResult:
    """Share the site's budget among its active transactions and push the changed limits."""
    send = send or _command_sender(db, bus)
    async with _site_lock(db, tenant_id, site_id):
        async with db.transaction([tenant_id], actor=ACTOR) as session:
            load = await site_load(session, tenant_id, site_id)
        budget_kw = float(load.budget.budget_kw) if load.budget is not None else None
        if load.budget is not None:
            todo = [(s, set_profile_payload(s)) for s in load.sessions if not s.up_to_date]
        else:  # no budget (any more): lift the limits we set
            todo = [(s, clear_profile_payload(s)) for s in load.sessions
                    if s.last is not None and s.last.outcome != CLEARED]

        async def push(item: tuple[SessionLoad, tuple[str, dict[str, Any]]]) -> SentChargingProfile | None:
            s, (action, payload) = item
            sent_at = utcnow()
            try:
                answer = await send(tenant_id, s.charge_box_id, action, payload, transaction_id=s.transaction.id)
                status = str((answer or {}).get("status", ""))
                if action == "ClearChargingProfile":
                    outcome, detail = CLEARED, f"Limite levée (réponse de la borne : {status})."
                else:
                    outcome, detail = status or ERROR, "" if status == APPLIED else f"Profil non appliqué : {status}."
            except CommandSkipped:
                # Stopped meanwhile: nothing was sent, nothing to record (the stop recomputes the site).
                log.info("%s to %s not sent: transaction %s ended meanwhile", action, s.charge_box_id,
                         s.transaction.ocpp_transaction_id)
                return None
            except Exception as exc:  # noqa: BLE001 - one station's failure must not stop the others
                outcome, detail = _outcome(exc)
                log.warning("%s to %s (transaction %s) failed: %s", action, s.charge_box_id,
                            s.transaction.ocpp_transaction_id, detail)
            allocation = s.allocation or Allocation(s.transaction.id, s.max_w, s.phases)
            return SentChargingProfile(
                tenant_id=tenant_id, site_id=site_id, charger_id=s.transaction.charger_id,
                transaction_id=s.transaction.id, connector_id=s.transaction.connector_id, profile_id=s.profile_id,
                limit_w=allocation.limit_w, limit_a=allocation.limit_a, phases=allocation.phases, budget_kw=budget_kw,
                sent_at=sent_at, outcome=outcome[:20], detail=detail[:300],
            )

        sent = [row for row in await asyncio.gather(*(push(item) for item in todo)) if row is not None]
        if sent:
            async with db.transaction([tenant_id], actor=ACTOR) as session:
                session.add_all(sent)
    unreached = sorted({str(row.charger_id) for row in sent if row.outcome in UNREACHED})
    if unreached and bus is not None:
        try:  # fire-and-forget (csms.domain.events.LOAD_UNREACHED): the profiles are recorded, the next recomputation resends
            await bus.publish(LOAD_UNREACHED, {"tenant_id": str(tenant_id), "site_id": str(site_id),
                                               "charger_ids": unreached})
        except Exception:  # noqa: BLE001 - the profiles are recorded; the next start or stop retries them
            log.warning("load management: could not announce the chargers site %s did not reach", site_id)
    return RecomputeResult(site_id, budget_kw, sent, len(load.sessions) - len(todo))


# --------------------------------------------------------------------------- the ingress side


class LoadManager:
    """Per-process scheduler of recomputations, fed by the ingress after each committed Start/Stop.

    Requests for one site coalesce: while a recomputation runs, further requests mark
    the site dirty and one more recomputation follows, which sees every transaction
    committed meanwhile. A charger its profile could not reach (offline, no answer)
    is remembered: when it connects to this process again, its site is recomputed
    (a dictionary lookup per connection, nothing more during a boot storm).
    """

    def __init__(self, ingress: IngressPort) -> None:
        self.ingress = ingress
        self._dirty: set[tuple[uuid.UUID, uuid.UUID]] = set()
        self._running: dict[tuple[uuid.UUID, uuid.UUID], asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: charger_id (str) → its site, for chargers whose last profile did not reach them.
        self._unreached: dict[str, tuple[uuid.UUID, uuid.UUID]] = {}
        self._unsubscribe: Callable[[], Awaitable[None]] | None = None

    async def start(self) -> None:
        """Listen for the chargers a recomputation elsewhere (a web process) could not reach."""
        self._unsubscribe = await self.ingress.bus.subscribe(LOAD_UNREACHED, self._on_unreached)

    async def _on_unreached(self, topic: str, payload: dict[str, Any]) -> None:
        try:
            site = (uuid.UUID(payload["tenant_id"]), uuid.UUID(payload["site_id"]))
            charger_ids = [str(uuid.UUID(charger_id)) for charger_id in payload["charger_ids"]]
        except (KeyError, TypeError, ValueError):
            log.warning("load management: malformed %s event ignored", topic)
            return
        for charger_id in charger_ids:
            self._unreached[charger_id] = site

    def on_event(self, topic: str, payload: dict[str, Any]) -> None:
        """Called by the ingress for each event, after the commit it reports; never blocks."""
        if topic in TRANSACTION_TOPICS:
            self.transaction_changed(payload)
        elif topic == STATION_CONNECTED and self._unreached:
            site = self._unreached.pop(str(payload.get("charger_id")), None)
            if site is not None:
                self.request(*site)

    def transaction_changed(self, event: dict[str, Any]) -> None:
        """A transaction started or stopped (committed): recompute its site if the site has a budget."""
        try:
            tenant_id, charger_id = uuid.UUID(event["tenant_id"]), uuid.UUID(event["charger_id"])
        except (KeyError, ValueError):
            return
        self._track(asyncio.create_task(self._site_changed(tenant_id, charger_id)))

    async def _site_changed(self, tenant_id: uuid.UUID, charger_id: uuid.UUID) -> None:
        try:
            async with self.ingress.db.transaction([tenant_id], actor=ACTOR) as session:
                site_id = await site_of_charger(session, tenant_id, charger_id)
                managed = site_id is not None and await get_power_budget(session, tenant_id, site_id) is not None
                # A site without budget may still hold our profiles (budget just removed): clear them.
                if site_id is not None and not managed:
                    managed = await session.scalar(
                        select(SentChargingProfile.id).where(SentChargingProfile.tenant_id == tenant_id,
                                                             SentChargingProfile.site_id == site_id).limit(1)
                    ) is not None
        except Exception:
            log.exception("load management: site lookup failed for charger %s", charger_id)
            return
        if managed and site_id is not None:
            self.request(tenant_id, site_id)

    def request(self, tenant_id: uuid.UUID, site_id: uuid.UUID) -> asyncio.Task[None]:
        key = (tenant_id, site_id)
        self._dirty.add(key)
        task = self._running.get(key)
        if task is None or task.done():
            task = asyncio.create_task(self._run(key), name=f"load-management-{site_id}")
            self._running[key] = task
            self._track(task)
        return task

    async def _run(self, key: tuple[uuid.UUID, uuid.UUID]) -> None:
        try:
            while key in self._dirty:
                self._dirty.discard(key)
                try:
                    result = await recompute_site(self.ingress.db, self.ingress.bus, *key)
                    for row in result.sent:  # also announced on the bus; known here even if the bus is down
                        if row.outcome in UNREACHED:
                            self._unreached[str(row.charger_id)] = key
                except Exception:
                    log.exception("load management: recomputation of site %s failed", key[1])
        finally:
            if self._running.get(key) is asyncio.current_task():
                del self._running[key]

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no recomputation is pending (tests, orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            await self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
