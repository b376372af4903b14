"""RFID badges and the tenant's local authorization list (CCTP CPAM 5-5-5-3).

« Le système doit prendre en compte la gestion des badges de recharge
(attribution, distribution, suivi statistique) aussi bien en local (carte attachée
au véhicule de service ou au site de rattachement) que ceux délivrés aux agents »:
a badge belongs to one tenant, is attached to a service vehicle, a site or an
agent, has a status (active or blocked) and an optional expiry. Authorize and
StartTransaction (1.6), Authorize and TransactionEvent (2.0.1) answer from these
rows (``csms.domain.recording.authorize_id_tag``); a badge already in a charging session
gets ``ConcurrentTx`` for a second one unless its tenant allows it
(``badge_in_another_session``).

Local authorization list (OCPP 1.6 « Local Authorization List Management »,
2.0.1 D01/D02): every badge change bumps the tenant's list version (a flush
listener in ``csms.domain.models``, whoever writes). ``sync_station`` brings one station
up to date with ``SendLocalList``:

* Full when we do not know what the station holds (never confirmed, or it reports
  another version than the one it confirmed to us, or it is ahead of us);
* Differential otherwise, with only the badges changed since its version and the
  removals (an entry without ``idTagInfo``);
* the version the station confirmed (``Accepted``) is recorded per station;
  ``VersionMismatch`` falls back to a Full update at once; a failure is recorded
  and retried at the next trigger.

Where it runs: in the ingress process that holds the station's socket
(``AuthorizationTasks``, started by ``csms.ingress.server.Ingress``). It checks a station
once per connection (not again at its BootNotification, unless that check did not
settle), every station of a tenant when its badges change (bus topic
``badges.changed``, published by the web after the commit), and sweeps its
stations every ``SWEEP_SECONDS`` for any left behind (a failure, a missed event).
Each check starts with one statement (``station_list_state``); a station of a
tenant without badges that never confirmed a list, with no reservation due, costs
nothing more. Concurrency is bounded, and no database session is held while a
station answers. Each station is held by one ingress, so each is pushed once; the
calls go through ``csms.domain.commands.send_command`` (logged, one call in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import uuid_value
from app.db import Database, new_id, utcnow
from app.errors import NotFound, ValidationFailed
from csms.domain.batching import BatchedLookup, group_by
from csms.domain.events import BADGES_CHANGED, STATION_BOOTED, STATION_CONNECTED
from csms.domain.models import (
    BADGE_KINDS,
    Badge,
    BadgeRemoval,
    Charger,
    CsmsTenantSettings,
    LocalAuthList,
    LocalListSync,
    Reservation,
    Transaction,
)
from tenants import services

if TYPE_CHECKING:
    from app.bus import Bus
    from csms.domain.ports import IngressPort

__all__ = [
    "BADGE_KINDS",
    "BADGE_STATUSES",
    "AuthorizationTasks",
    "SyncResult",
    "access_badge",
    "badge_in_another_session",
    "check_id_tag",
    "concurrent_sessions_allowed",
    "create_badge",
    "delete_badge",
    "list_badges",
    "list_sync_states",
    "list_version",
    "local_list_update",
    "publish_badges_changed",
    "set_concurrent_sessions_allowed",
    "station_list_state",
    "station_list_states",
    "sync_station",
    "update_badge",
]

log = logging.getLogger(__name__)

#: OCPP 1.6 idTag is CiString20; OCPP 2.0.1 idToken is CiString36.
ID_TAG_MAX_16, ID_TAG_MAX = 20, 36
#: Printable ASCII without spaces: what RFID readers send (hex UIDs) and both protocols accept.
ID_TAG = re.compile(r"^[!-~]{1,36}$")
BADGE_STATUSES = {"Accepted": "Actif", "Blocked": "Bloqué", "Expired": "Expiré"}
#: The ingress re-checks its stations' lists this often (and their due reservations).
SWEEP_SECONDS = 60.0
SYNC_ACTOR = {"user_id": None, "label": "liste locale d'autorisation"}
#: Stations read at once by one ingress's authorization tasks (one short statement each),
#: and synced at once (GetLocalListVersion / SendLocalList / ReserveNow through the bus: a
#: database connection only between the station's answers, never while waiting for one).
#: A 1,000-station boot storm used to take every pooled connection.
PUSH_CONCURRENCY = 16
#: Outcomes after which a boot on the same connection needs no new check.
SETTLED = frozenset({"UpToDate", "Accepted", "NotSupported"})


# --------------------------------------------------------------------------- validation


def check_id_tag(value: Any) -> tuple[str, str | None]:
    """(normalised idTag, French error or None). Stored upper-case: OCPP compares case-insensitively."""
    id_tag = str(value or "").strip().upper()
    if not id_tag:
        return id_tag, "L'identifiant du badge (idTag) est obligatoire."
    if not ID_TAG.match(id_tag):
        return id_tag, (f"L'identifiant du badge (idTag) comporte 1 à {ID_TAG_MAX} caractères ASCII imprimables, "
                        "sans espace (OCPP 1.6 : 20 au plus pour une borne 1.6).")
    return id_tag, None


def _parse_expiry(value: Any, errors: dict[str, str]) -> dt.datetime | None:
    """An expiry from the API (ISO 8601) or a form (``AAAA-MM-JJ``: end of that day, UTC)."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            errors["expires_at"] = "Date d'expiration invalide : fuseau horaire manquant."
            return None
        return value.astimezone(dt.UTC)
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors["expires_at"] = "Date d'expiration invalide (AAAA-MM-JJ attendu)."
        return None
    if moment.tzinfo is None:
        errors["expires_at"] = "Date d'expiration invalide : fuseau horaire manquant (ex. 2027-12-31T23:59:59Z)."
        return None
    return moment.astimezone(dt.UTC)




async def _clean(
    session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any], badge: Badge | None
) -> dict[str, Any]:
    """Validated values of the fields present in ``data`` (all of them for a new badge)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    new = badge is None
    if new or "id_tag" in data:
        id_tag, error = check_id_tag(data.get("id_tag"))
        if error:
            errors["id_tag"] = error
        elif (badge is None or badge.id_tag != id_tag) and await session.scalar(
            select(Badge.id).where(Badge.tenant_id == tenant_id, Badge.id_tag == id_tag)
        ):
            errors["id_tag"] = f"Le badge {id_tag} est déjà enregistré chez ce bénéficiaire."
        values["id_tag"] = id_tag
    if new or "status" in data:
        status = str(data.get("status") or "Accepted")
        if status not in BADGE_STATUSES:
            errors["status"] = "Statut : Accepted (actif), Blocked (bloqué) ou Expired (expiré)."
        values["status"] = status
    if new or "expires_at" in data:
        values["expires_at"] = _parse_expiry(data.get("expires_at"), errors)
    if new or "holder_label" in data:
        label = str(data.get("holder_label") or "").strip()
        if len(label) > 200:
            errors["holder_label"] = "Le libellé du porteur comporte 200 caractères au plus."
        values["holder_label"] = label
    if new or "vehicle_label" in data:
        vehicle = str(data.get("vehicle_label") or "").strip()
        if len(vehicle) > 60:
            errors["vehicle_label"] = "Le véhicule (immatriculation ou nom) comporte 60 caractères au plus."
        values["vehicle_label"] = vehicle
    if new or "site_id" in data:
        raw = data.get("site_id")
        site_id = uuid_value(raw)
        if raw not in (None, "") and (site_id is None or not await services.site_exists(session, tenant_id, site_id)):
            errors["site_id"] = "Site inconnu chez ce bénéficiaire."
        values["site_id"] = site_id
    if new or "user_id" in data:
        raw = data.get("user_id")
        user_id = uuid_value(raw)
        if raw not in (None, "") and (user_id is None or not await services.is_member(session, tenant_id, user_id)):
            errors["user_id"] = "Agent inconnu chez ce bénéficiaire."
        values["user_id"] = user_id
    if new or "kind" in data:
        kind = str(data.get("kind") or "")
        if kind not in BADGE_KINDS and kind != "":
            errors["kind"] = "Rattachement : vehicle (véhicule de service), site ou agent."
        values["kind"] = kind
    # The attachment must name what it is attached to (5-5-5-3).
    kind = values.get("kind", badge.kind if badge else "")
    merged = {name: values.get(name, getattr(badge, name, None)) for name in ("vehicle_label", "site_id", "user_id")}
    if "kind" not in errors:
        if kind == "vehicle" and not merged["vehicle_label"]:
            errors["vehicle_label"] = "Indiquez le véhicule de service (immatriculation ou nom) auquel le badge est attaché."
        elif kind == "site" and not merged["site_id"]:
            errors.setdefault("site_id", "Choisissez le site de rattachement du badge.")
        elif kind == "agent" and not merged["user_id"]:
            errors.setdefault("user_id", "Choisissez l'agent qui détient le badge.")
    if errors:
        raise ValidationFailed(errors)
    return values


# --------------------------------------------------------------------------- workflows


async def create_badge(session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any]) -> Badge:
    """A new RFID badge (CCTP CPAM 5-5-5-3 « attribution »); bumps the list version."""
    values = await _clean(session, tenant_id, data, None)
    badge = Badge(tenant_id=tenant_id, **values)
    session.add(badge)
    await session.flush()
    return badge


async def update_badge(session: AsyncSession, tenant_id: uuid.UUID, badge: Badge, data: dict[str, Any]) -> Badge:
    """Edit, block / unblock, change the expiry or the attachment; only the fields given change."""
    values = await _clean(session, tenant_id, data, badge)
    for name, value in values.items():
        setattr(badge, name, value)
    await session.flush()
    return badge


async def delete_badge(session: AsyncSession, tenant_id: uuid.UUID, badge: Badge) -> None:
    """Delete a badge that never served; one used for charging stays (block it instead)."""
    used = await session.scalar(select(func.count()).select_from(Transaction).where(
        Transaction.tenant_id == tenant_id, Transaction.badge_id == badge.id))
    reserved = await session.scalar(select(func.count()).select_from(Reservation).where(
        Reservation.tenant_id == tenant_id, Reservation.badge_id == badge.id))
    if used or reserved:
        raise ValidationFailed({"badge": "Ce badge a déjà servi (recharges ou réservations) : bloquez-le plutôt que "
                                         "de le supprimer, son historique reste ainsi lisible."})
    await session.delete(badge)
    await session.flush()


async def access_badge(session: AsyncSession, tenant_id: uuid.UUID, badge_id: uuid.UUID) -> Badge:
    badge = await session.get(Badge, (tenant_id, badge_id))
    if badge is None:
        raise NotFound("badge")
    return badge


async def list_badges(
    session: AsyncSession, tenant_id: uuid.UUID, *, q: str = "", status: str = "", user_id: uuid.UUID | None = None,
) -> list[Badge]:
    stmt = select(Badge).where(Badge.tenant_id == tenant_id)
    if q:
        like = f"%{q.strip().upper()}%"
        stmt = stmt.where(or_(func.upper(Badge.id_tag).like(like), func.upper(Badge.holder_label).like(like),
                              func.upper(Badge.vehicle_label).like(like)))
    if status in BADGE_STATUSES:
        stmt = stmt.where(Badge.status == status)
    if user_id is not None:
        stmt = stmt.where(Badge.user_id == user_id)
    return list(await session.scalars(stmt.order_by(Badge.id_tag)))


async def holder_names(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, dict[uuid.UUID, str]]:
    """Names of the tenant's sites and members, for the badge pages."""
    sites = {s.id: s.name for s in await services.list_sites(session, tenant_id)}
    return {"sites": sites, "users": await services.member_names(session, tenant_id)}


async def publish_badges_changed(bus: Bus | None, tenant_id: uuid.UUID) -> None:
    """After the commit: the ingress processes push the new list to the tenant's stations."""
    if bus is None:
        return
    try:  # fire-and-forget (csms.domain.events.BADGES_CHANGED): the list version is in the database, swept each minute
        await bus.publish(BADGES_CHANGED, {"tenant_id": str(tenant_id)})
    except Exception:  # the sweep catches up; a bus hiccup must not fail the user's edit
        log.exception("publishing %s failed", BADGES_CHANGED)


# --------------------------------------------------------------------------- one session at a time


async def concurrent_sessions_allowed(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    """May a badge of this tenant run several charging sessions at once? No, unless the tenant said so."""
    allowed = await session.scalar(select(CsmsTenantSettings.allow_concurrent_badge_sessions)
                                   .where(CsmsTenantSettings.tenant_id == tenant_id))
    return bool(allowed)


async def set_concurrent_sessions_allowed(session: AsyncSession, tenant_id: uuid.UUID, allowed: bool) -> None:
    """The tenant's choice (audited ORM write); effective at the next Authorize or start."""
    settings = await session.scalar(select(CsmsTenantSettings).where(CsmsTenantSettings.tenant_id == tenant_id))
    if settings is None:
        session.add(CsmsTenantSettings(tenant_id=tenant_id, allow_concurrent_badge_sessions=allowed,
                                       updated_at=utcnow()))
    elif settings.allow_concurrent_badge_sessions != allowed:
        settings.allow_concurrent_badge_sessions = allowed
        settings.updated_at = utcnow()
    await session.flush()


async def badge_in_another_session(
    session: AsyncSession, tenant_id: uuid.UUID, badge_id: uuid.UUID, *, charger_id: uuid.UUID,
    connector_id: int | None = None, transaction_id: uuid.UUID | None = None,
) -> bool:
    """Is this badge charging elsewhere already, and does its tenant forbid a second session?

    OCPP 1.6 §7.2 AuthorizationStatus ``ConcurrentTx``: « Identifier is already involved in
    another transaction and multiple transactions are not allowed »; 2.0.1
    AuthorizationStatusEnumType has the same value for IdTokenInfo. A session counts when it
    runs (``active``, not stopped), was accepted, is on a charger in service and on a known
    point (a transaction of unknown EVSE, ``csms.domain.recording.UNKNOWN_START``, is not trusted).

    « Elsewhere »: ``connector_id`` given (a start on that point): anywhere but that point, whose
    previous transaction, if still open here, is over (a point runs one at a time). Not given (an
    Authorize, which names no point): on another charger; the same badge shown again at the
    charger it charges on is how a driver ends a session, never to be refused. ``transaction_id``
    (2.0.1, the station's own id) is never concurrent with itself.
    """
    stmt = (
        select(Transaction.id)
        .join(Charger, (Charger.tenant_id == Transaction.tenant_id) & (Charger.id == Transaction.charger_id))
        .where(Transaction.tenant_id == tenant_id, Transaction.badge_id == badge_id, Transaction.status == "active",
               Transaction.stopped_at.is_(None), Transaction.id_tag_status == "Accepted",
               Transaction.connector_id > 0, Charger.decommissioned_at.is_(None))
    )
    if connector_id is None:
        stmt = stmt.where(Transaction.charger_id != charger_id)
    else:
        stmt = stmt.where(or_(Transaction.charger_id != charger_id, Transaction.connector_id != connector_id))
    if transaction_id is not None:
        stmt = stmt.where(Transaction.id != transaction_id)
    if await session.scalar(stmt.limit(1)) is None:
        return False
    return not await concurrent_sessions_allowed(session, tenant_id)


# --------------------------------------------------------------------------- local list


async def list_version(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    version = await session.scalar(select(LocalAuthList.version).where(LocalAuthList.tenant_id == tenant_id))
    return int(version or 0)


def _entry(badge: Badge | None, id_tag: str, protocol: str) -> dict[str, Any]:
    """One list entry, as on the wire; without ``badge`` it is a removal (no idTagInfo)."""
    if protocol == "2.0.1":
        entry: dict[str, Any] = {"idToken": {"idToken": id_tag, "type": "ISO14443"}}
        if badge is not None:
            info: dict[str, Any] = {"status": badge.status}
            if badge.expires_at is not None:
                info["cacheExpiryDateTime"] = _iso(badge.expires_at)
            entry["idTokenInfo"] = info
        return entry
    entry = {"idTag": id_tag}
    if badge is not None:
        info = {"status": badge.status}
        if badge.expires_at is not None:
            info["expiryDate"] = _iso(badge.expires_at)
        entry["idTagInfo"] = info
    return entry


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def local_list_update(
    session: AsyncSession, tenant_id: uuid.UUID, *, since: int | None, protocol: str = "1.6",
) -> tuple[int, str, list[dict[str, Any]]]:
    """(version, Full | Differential, entries) bringing a station at version ``since`` up to date.

    ``since`` None: Full list. A 1.6 station gets no idTag longer than 20 characters
    (it could never present one).
    """
    version = await list_version(session, tenant_id)
    limit = ID_TAG_MAX_16 if protocol == "1.6" else ID_TAG_MAX
    if since is None or since > version:
        badges = await session.scalars(select(Badge).where(Badge.tenant_id == tenant_id).order_by(Badge.id_tag))
        entries = [_entry(b, b.id_tag, protocol) for b in badges if len(b.id_tag) <= limit]
        return version, "Full", entries
    changed = list(await session.scalars(
        select(Badge).where(Badge.tenant_id == tenant_id, Badge.list_version > since).order_by(Badge.id_tag)))
    present = {b.id_tag for b in changed} | set(await session.scalars(
        select(Badge.id_tag).where(Badge.tenant_id == tenant_id)))
    removed = sorted(set(await session.scalars(
        select(BadgeRemoval.id_tag).where(BadgeRemoval.tenant_id == tenant_id, BadgeRemoval.list_version > since)))
        - present)
    entries = [_entry(b, b.id_tag, protocol) for b in changed if len(b.id_tag) <= limit]
    entries += [_entry(None, tag, protocol) for tag in removed if len(tag) <= limit]
    return version, "Differential", entries


@dataclass
class SyncResult:
    charge_box_id: str
    status: str  # UpToDate | Accepted | Failed | NotSupported | VersionMismatch | Offline | Timeout | Error
    update_type: str = ""
    version: int | None = None
    entries: int = 0
    message: str = ""


async def _record_sync(db: Database, tenant_id: uuid.UUID, charger_id: uuid.UUID, **values: Any) -> None:
    """Upsert the station's sync row (facts, plain statements)."""
    async with db.transaction([tenant_id], actor=SYNC_ACTOR) as session:
        done = await session.execute(
            update(LocalListSync).where(LocalListSync.tenant_id == tenant_id, LocalListSync.charger_id == charger_id)
            .values(**values).execution_options(synchronize_session=False))
        if not done.rowcount:
            table = LocalListSync.__table__
            defaults = {"last_update_type": "", "last_status": "", "last_error": "", "failures": 0}
            await session.execute(table.insert().values(
                tenant_id=tenant_id, id=new_id(), charger_id=charger_id, **{**defaults, **values}))


@dataclass
class StationListState:
    """What one read says of a station: enough to decide whether it needs anything at all."""

    charger_id: uuid.UUID
    protocol: str
    #: Version the station confirmed last (None: never, or unknown since).
    confirmed: int | None
    failures: int
    #: The tenant's list version (0: the tenant never had a badge).
    version: int
    #: A reservation of this station is due to be sent, or to expire.
    reservations_due: bool

    def nothing_to_push(self) -> bool:
        # OCPP: version 0 means « no list »; a tenant that never had a badge has nothing to push.
        return self.version == 0 and self.confirmed is None


async def station_list_state(
    db: Database, tenant_id: uuid.UUID, charge_box_id: str, *, now: dt.datetime | None = None,
) -> StationListState | None:
    """One statement (the connection is back in the pool before anything is sent to the
    station): the charger, its sync row, the tenant's list version, and whether a
    reservation is due. None when the station is unknown."""
    return (await station_list_states(db, tenant_id, [charge_box_id], now=now)).get(charge_box_id)


async def station_list_states(
    db: Database, tenant_id: uuid.UUID, charge_box_ids: list[str], *, now: dt.datetime | None = None,
) -> dict[str, StationListState]:
    """``station_list_state`` of many stations of one tenant in one statement (a boot storm)."""
    from csms.domain.reservations import OPEN_STATUSES

    now = now or utcnow()
    version = select(LocalAuthList.version).where(LocalAuthList.tenant_id == tenant_id).scalar_subquery()
    due = exists().where(
        Reservation.tenant_id == Charger.tenant_id, Reservation.charger_id == Charger.id,
        Reservation.status.in_(OPEN_STATUSES),
        or_(Reservation.ends_at <= now, (Reservation.status == "scheduled") & (Reservation.starts_at <= now)))
    async with db.session([tenant_id]) as session:
        rows = (await session.execute(
            select(Charger.charge_box_id, Charger.id, Charger.protocol, LocalListSync.confirmed_version,
                   LocalListSync.failures, version, due)
            .outerjoin(LocalListSync, (LocalListSync.tenant_id == Charger.tenant_id)
                       & (LocalListSync.charger_id == Charger.id))
            .where(Charger.tenant_id == tenant_id, Charger.charge_box_id.in_(charge_box_ids)))).all()
    return {
        charge_box_id: StationListState(charger_id, protocol, confirmed, int(failures or 0), int(current or 0),
                                        bool(reservations_due))
        for charge_box_id, charger_id, protocol, confirmed, failures, current, reservations_due in rows
    }


class ListStateReader:
    """``station_list_state`` for the ingress's many stations: the reads asked while one query
    runs are answered together by the next, one query per tenant (a boot storm of 10,000
    stations costs tens of queries, not 10,000 transactions)."""

    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self.db = db
        self._lookup: BatchedLookup[tuple[uuid.UUID, str], StationListState] = BatchedLookup(
            self._fetch, max_batch=max_batch, name="csms-list-states")

    async def read(self, tenant_id: uuid.UUID, charge_box_id: str) -> StationListState | None:
        return await self._lookup.get((tenant_id, charge_box_id))

    async def _fetch(self, keys: list[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], StationListState]:
        found = {}
        for tenant_id, charge_box_ids in group_by(keys).items():
            states = await station_list_states(self.db, tenant_id, charge_box_ids)
            found.update({(tenant_id, cbid): state for cbid, state in states.items()})
        return found


async def sync_station(
    db: Database, bus: Bus, tenant_id: uuid.UUID, charge_box_id: str, *, check: bool = True,
    state: StationListState | None = None,
) -> SyncResult:
    """Bring one station's local authorization list to the tenant's version (see the module doc).

    ``state``: what ``station_list_state`` just read (the ingress's tasks pass it; read here otherwise).
    No database session is held while the station is asked anything.
    """
    from csms.domain import commands

    if state is None:
        state = await station_list_state(db, tenant_id, charge_box_id)
        if state is None:
            raise NotFound("borne")
    if state.nothing_to_push():
        return SyncResult(charge_box_id, "UpToDate", version=0)  # no round trip, nothing written
    confirmed, current, charger_id = state.confirmed, state.version, state.charger_id
    protocol = "2.0.1" if state.protocol == "ocpp2.0.1" else "1.6"
    version_key = "versionNumber" if protocol == "2.0.1" else "listVersion"
    now = utcnow()
    #: Written with the outcome (one transaction per sync, not one more for the report).
    reported: dict[str, Any] = {}

    async def send(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await commands.send_command(db, bus, tenant_id=tenant_id, charge_box_id=charge_box_id, action=action,
                                           payload=payload, actor=SYNC_ACTOR, timeout=30)

    try:
        if check:
            # What does the station really hold? A reset station, or one pushed by another
            # system, no longer holds what it confirmed: then only a Full update is safe.
            reported["reported_version"] = int((await send("GetLocalListVersion", {})).get(version_key, 0))
            if reported["reported_version"] < 0:  # 1.6: -1 = local authorization list not enabled
                await _record_sync(db, tenant_id, charger_id, **reported, last_status="NotSupported",
                                   last_attempt_at=now,
                                   last_error="Liste locale désactivée sur la borne (LocalAuthListEnabled).")
                return SyncResult(charge_box_id, "NotSupported", message="liste locale désactivée")
            if reported["reported_version"] != confirmed:
                confirmed = None
        if confirmed is not None and confirmed == current:
            if reported:
                await _record_sync(db, tenant_id, charger_id, **reported)
            return SyncResult(charge_box_id, "UpToDate", version=current)
        for attempt in ("first", "full"):
            async with db.session([tenant_id]) as session:
                version, update_type, entries = await local_list_update(
                    session, tenant_id, since=confirmed, protocol=protocol)
            payload: dict[str, Any] = {version_key: version, "updateType": update_type}
            if entries:
                payload["localAuthorizationList"] = entries
            answer = await send("SendLocalList", payload)
            status = str(answer.get("status", ""))
            if status == "Accepted":
                await _record_sync(db, tenant_id, charger_id, confirmed_version=version, confirmed_at=utcnow(),
                                   reported_version=version, last_attempt_at=now, last_update_type=update_type,
                                   last_status="Accepted", last_error="", failures=0)
                return SyncResult(charge_box_id, "Accepted", update_type, version, len(entries))
            if status == "VersionMismatch" and attempt == "first" and update_type == "Differential":
                confirmed = None  # the station is not where we thought: send it everything
                continue
            break
        await _record_sync(db, tenant_id, charger_id, **reported, last_status=status[:20] or "Error",
                           last_attempt_at=now, last_update_type=update_type,
                           last_error=f"Réponse de la borne : {status}.", failures=state.failures + 1)
        return SyncResult(charge_box_id, status or "Error", update_type, version, len(entries))
    except commands.CommandError as exc:
        status = {"offline": "Offline", "timeout": "Timeout", "rejected": "Rejected"}.get(exc.status, "Error")
        await _record_sync(db, tenant_id, charger_id, **reported, last_status=status, last_attempt_at=now,
                           last_error=exc.message[:300], failures=state.failures + 1)
        return SyncResult(charge_box_id, status, message=exc.message)


@dataclass
class SyncState:
    """A station's local list, for the badges page."""

    charge_box_id: str
    online: bool
    confirmed_version: int | None
    last_status: str
    last_attempt_at: dt.datetime | None
    last_error: str

    def up_to_date(self, version: int) -> bool:
        return self.confirmed_version == version


async def list_sync_states(session: AsyncSession, tenant_id: uuid.UUID) -> list[SyncState]:
    rows = (await session.execute(
        select(Charger.charge_box_id, Charger.online, LocalListSync)
        .outerjoin(LocalListSync, (LocalListSync.tenant_id == Charger.tenant_id)
                   & (LocalListSync.charger_id == Charger.id))
        .where(Charger.tenant_id == tenant_id, Charger.decommissioned_at.is_(None))  # retired: nothing to sync
        .order_by(Charger.charge_box_id)
    )).all()
    return [
        SyncState(cbid, online, sync.confirmed_version if sync else None, sync.last_status if sync else "",
                  sync.last_attempt_at if sync else None, sync.last_error if sync else "")
        for cbid, online, sync in rows
    ]


# --------------------------------------------------------------------------- ingress tasks


class AuthorizationTasks:
    """What the ingress process does for badges and reservations on its own stations.

    Triggers: a station connects (``station.connected`` from this node), a tenant's
    badges change (``badges.changed``), a sweep every ``SWEEP_SECONDS``, and a boot
    (``station.booted``) only when the check of that connection did not settle (see
    ``_on_booted``). One task per station at a time; a trigger arriving while it runs
    makes it run once more after. The stations' reads are batched (``ListStateReader``) and at most
    ``PUSH_CONCURRENCY`` pushed at once, so a boot storm cannot take every pooled
    connection.
    """

    def __init__(self, ingress: IngressPort, *, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self.ingress = ingress
        self.sweep_seconds = sweep_seconds
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._unsubscribe: list[Any] = []
        self._sweeper: asyncio.Task[None] | None = None
        #: The reads of many stations, batched (one query per tenant for all those waiting).
        self._states = ListStateReader(ingress.db)
        self._pushes = asyncio.Semaphore(PUSH_CONCURRENCY)
        #: Last result per station (tests and logs read it).
        self.results: dict[str, SyncResult] = {}
        self.changed = asyncio.Condition()

    async def start(self) -> None:
        bus = self.ingress.bus
        self._unsubscribe.append(await bus.subscribe(STATION_CONNECTED, self._on_connected))
        self._unsubscribe.append(await bus.subscribe(STATION_BOOTED, self._on_booted))
        self._unsubscribe.append(await bus.subscribe(BADGES_CHANGED, self._on_badges_changed))
        self._sweeper = asyncio.create_task(self._sweep(), name="csms-authorization-sweep")

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            await unsubscribe()
        tasks = [t for t in (self._sweeper, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    def _mine(self, charge_box_id: str) -> Any:
        link = self.ingress.registry.get(charge_box_id)
        return link

    def _local(self, payload: dict[str, Any]) -> str | None:
        """The station of an event of this node that this node holds, else None."""
        if payload.get("node", self.ingress.node) != self.ingress.node:
            return None
        charge_box_id = str(payload.get("charge_box_id", ""))
        return charge_box_id if self._mine(charge_box_id) is not None else None

    async def _on_connected(self, topic: str, payload: dict[str, Any]) -> None:
        """The one check per connection: a station that reboots opens a new socket (so every
        boot follows a connection), and one that reconnects after a network cut without
        rebooting sends no BootNotification but may have missed badge changes meanwhile."""
        charge_box_id = self._local(payload)
        if charge_box_id is not None:
            self.results.pop(charge_box_id, None)  # the previous connection's outcome says nothing of this one
            self.schedule(charge_box_id)

    async def _on_booted(self, topic: str, payload: dict[str, Any]) -> None:
        """A boot re-checks only when this connection's check did not settle (e.g. a station
        that refused calls until its BootNotification was answered); otherwise it costs nothing."""
        charge_box_id = self._local(payload)
        if charge_box_id is None or charge_box_id in self._running:
            return
        result = self.results.get(charge_box_id)
        if result is not None and result.status not in SETTLED:
            self.schedule(charge_box_id)

    async def _on_badges_changed(self, topic: str, payload: dict[str, Any]) -> None:
        tenant_id = str(payload.get("tenant_id", ""))
        for charge_box_id in self.ingress.registry.ids():
            link = self._mine(charge_box_id)
            if link is not None and str(link.ref.tenant_id) == tenant_id:
                self.schedule(charge_box_id, check=False)

    def schedule(self, charge_box_id: str, *, check: bool = True) -> None:
        if charge_box_id in self._running:
            self._again.add(charge_box_id)
            return
        self._running[charge_box_id] = asyncio.create_task(self._run(charge_box_id, check))

    async def _run(self, charge_box_id: str, check: bool) -> None:
        try:
            while True:
                link = self._mine(charge_box_id)
                if link is None:
                    return
                result = await self._once(link.ref.tenant_id, charge_box_id, check)
                async with self.changed:
                    self.results[charge_box_id] = result
                    self.changed.notify_all()
                if charge_box_id not in self._again:
                    return
                self._again.discard(charge_box_id)
                check = True
        finally:
            self._running.pop(charge_box_id, None)

    async def _once(self, tenant_id: uuid.UUID, charge_box_id: str, check: bool) -> SyncResult:
        """One read; the station is called only when there is a list to check or push, or a
        reservation to send. No session is open while the station answers."""
        from csms.domain import reservations

        db, bus = self.ingress.db, self.ingress.bus
        try:
            state = await self._states.read(tenant_id, charge_box_id)
            if state is None:
                return SyncResult(charge_box_id, "Error", message="borne inconnue")
            if state.nothing_to_push() and not state.reservations_due:
                return SyncResult(charge_box_id, "UpToDate", version=0)
            async with self._pushes:
                result = await sync_station(db, bus, tenant_id, charge_box_id, check=check, state=state)
                if state.reservations_due:
                    await reservations.send_due_reservations(db, bus, tenant_id, charge_box_id)
            return result
        except Exception as exc:  # one station's trouble must not stop the others
            log.exception("local list sync of %s failed", charge_box_id)
            return SyncResult(charge_box_id, "Error", message=str(exc))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                for charge_box_id in await self._behind():
                    self.schedule(charge_box_id, check=False)
            except Exception:
                log.exception("authorization sweep failed")

    async def _behind(self) -> list[str]:
        """This node's stations whose list is behind or that have a reservation to send or expire:
        one query per tenant, not one per station (an ingress holds thousands)."""
        from csms.domain.reservations import OPEN_STATUSES

        by_tenant: dict[uuid.UUID, set[str]] = {}
        for charge_box_id in self.ingress.registry.ids():
            link = self._mine(charge_box_id)
            if link is not None:
                by_tenant.setdefault(link.ref.tenant_id, set()).add(charge_box_id)
        now = utcnow()
        behind: list[str] = []
        for tenant_id, mine in by_tenant.items():
            async with self.ingress.db.session([tenant_id]) as session:
                version = await list_version(session, tenant_id)
                # A station that said NotSupported is asked again at its next connection, not every sweep.
                confirmed = {cbid: (-1 if status == "NotSupported" else value) for cbid, value, status in (
                    await session.execute(
                    select(Charger.charge_box_id, LocalListSync.confirmed_version, LocalListSync.last_status)
                    .join(LocalListSync, (LocalListSync.tenant_id == Charger.tenant_id)
                          & (LocalListSync.charger_id == Charger.id))
                    .where(Charger.tenant_id == tenant_id))).all()}
                reserving = set(await session.scalars(
                    select(Charger.charge_box_id).join(
                        Reservation, (Reservation.tenant_id == Charger.tenant_id) & (Reservation.charger_id == Charger.id))
                    .where(Charger.tenant_id == tenant_id, Reservation.status.in_(OPEN_STATUSES),
                           or_(Reservation.ends_at <= now,
                               (Reservation.status == "scheduled") & (Reservation.starts_at <= now)))))
            behind += [cbid for cbid in mine
                       if (version and confirmed.get(cbid) not in (version, -1)) or cbid in reserving]
        return sorted(behind)

    async def wait_for(self, charge_box_id: str, predicate: Any, within: float = 20) -> SyncResult:
        """Tests: the next result for ``charge_box_id`` satisfying ``predicate``."""
        async def ready() -> SyncResult:
            async with self.changed:
                await self.changed.wait_for(lambda: charge_box_id in self.results
                                            and predicate(self.results[charge_box_id]))
                return self.results[charge_box_id]

        return await asyncio.wait_for(ready(), within)
