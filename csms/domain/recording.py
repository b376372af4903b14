"""What stations report, recorded: boots, heartbeats, statuses, transactions, meter values.

Each ``record_*`` / ``start_*`` / ``stop_*`` function is one unit of work for the
group-commit writer (``csms.domain.writer``): it takes a session already scoped to the
charger's tenant, filters on ``ref.tenant_id`` explicitly anyway, and is safe to
run twice (the writer re-runs a unit alone when its batch fails, and stations
replay what they did not see acknowledged):

* a replayed 1.6 StartTransaction (same connector, idTag, timestamp, meterStart)
  finds its row and gets the same transactionId;
* a StopTransaction closes its transaction once; a second one changes nothing;
  one for a transactionId we never handed out is kept as an ``orphan`` row;
* meter values and status history have natural unique keys (``INSERT ... ON
  CONFLICT DO NOTHING``);
* a status older than the one we hold (offline data) goes to the history but does
  not overwrite the current state.

Messages whose timestamp is more than ``OFFLINE_AFTER`` old when received were
stored by the station while it could not reach us (CCTP CPAM 5-5: « faire remonter
et traiter les informations qui auraient été stockées au niveau d'une IRVE à
l'occasion d'une coupure de la communication »): they are accepted and flagged.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    and_,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import new_id, scope_session, utcnow
from app.outbox import publish_on_commit
from csms.domain import alerts, badges, reservations
from csms.domain.events import ChargingSessionStopped
from csms.domain.identifiers import parse_charging_id
from csms.domain.models import (
    Badge,
    ChargeBoxRoute,
    ChargePoint,
    Charger,
    ConnectionLog,
    MeterValue,
    StationEvent,
    StatusEvent,
    Transaction,
)
from csms.domain.ports import StationRef
from csms.domain.protocol import parse_timestamp
from csms.domain.states import is_out_of_service
from csms.domain.unnest import array_type, columns_of, insert_parameters, insert_rows, insert_sql
from csms.domain.writer import across_tenants, batch_later, execute_many, has_changes, with_riders

__all__ = [
    "HEARTBEAT_INTERVAL",
    "OFFLINE_AFTER",
    "UNKNOWN_START",
    "StationRef",
    "CONCURRENT_TX",
    "authorize_at_charger",
    "authorize_id_tag",
    "close_connection",
    "close_stale_connections",
    "communication_report",
    "communication_reports",
    "find_route",
    "is_offline",
    "load_station",
    "load_stations",
    "open_connection",
    "record_boot",
    "record_heartbeat",
    "record_meter_values",
    "record_station_event",
    "record_status",
    "record_transaction_event",
    "start_transaction",
    "stop_transaction",
]

#: Heartbeat interval handed to stations at boot, in seconds.
HEARTBEAT_INTERVAL = 300
#: A message whose timestamp is older than this when it arrives is offline data.
OFFLINE_AFTER = dt.timedelta(minutes=5)
#: OCPP 1.6 transactionId is an int32 on most firmwares.
MAX_TRANSACTION_ID = 2**31 - 1


def is_offline(timestamp: dt.datetime | None, received_at: dt.datetime) -> bool:
    return timestamp is not None and received_at - timestamp > OFFLINE_AFTER


def _ts(value: str | None) -> dt.datetime | None:
    # Payloads were validated (or repaired) before reaching a handler.
    return parse_timestamp(value)[0] if value else None


def _dialect_insert(session: AsyncSession, table: Any) -> Any:
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _charger_update(ref: StationRef) -> Any:
    return (
        update(Charger)
        .where(Charger.tenant_id == ref.tenant_id, Charger.id == ref.charger_id)
        .execution_options(synchronize_session=False)
    )


# --------------------------------------------------------------------------- handshake


async def find_route(session: AsyncSession, charge_box_id: str) -> ChargeBoxRoute | None:
    """Platform lookup, before any tenant scope exists (see ``ChargeBoxRoute``)."""
    return await session.get(ChargeBoxRoute, charge_box_id)


async def load_station(session: AsyncSession, route: ChargeBoxRoute) -> tuple[StationRef, str] | None:
    """The charger of a route and its password hash; the session must be scoped to the route's tenant."""
    charger = await session.get(Charger, (route.tenant_id, route.charger_id))
    if charger is None:
        return None
    ref = StationRef(route.tenant_id, charger.id, charger.charge_box_id, charger.canonical_id, charger.lenient,
                     charger.security_profile)
    return ref, charger.password_hash


async def load_stations(session: AsyncSession, charge_box_ids: list[str]) -> dict[str, tuple[StationRef, str]]:
    """``load_station`` for many handshakes at once (a boot storm): two queries for all.

    The routes come first (platform table); the session is then scoped to exactly
    the tenants those routes name, and each charger must match its route on both
    ``tenant_id`` and ``id``.
    """
    routes = list(await session.scalars(select(ChargeBoxRoute).where(ChargeBoxRoute.charge_box_id.in_(charge_box_ids))))
    if not routes:
        return {}
    scope_session(session, {route.tenant_id for route in routes})
    chargers = {
        (row.tenant_id, row.id): row for row in await session.execute(
            select(Charger.tenant_id, Charger.id, Charger.charge_box_id, Charger.canonical_id, Charger.lenient,
                   Charger.security_profile, Charger.password_hash).where(Charger.id.in_([route.charger_id for route in routes]))
        )
    }
    found = {}
    for route in routes:
        row = chargers.get((route.tenant_id, route.charger_id))
        if row is not None:
            ref = StationRef(row.tenant_id, row.id, row.charge_box_id, row.canonical_id, row.lenient,
                             row.security_profile)
            found[route.charge_box_id] = (ref, row.password_hash)
    return found


# --------------------------------------------------------------------------- connections


@dataclass(frozen=True, slots=True)
class _OpenItem:
    ref: StationRef
    connection_id: uuid.UUID
    connected_at: dt.datetime
    remote_address: str
    subprotocol: str
    node: str


async def open_connection(
    session: AsyncSession, ref: StationRef, *, remote_address: str, subprotocol: str, node: str, connected_at: dt.datetime,
    connection_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Record a new connection; any row still open for this charger was a dead socket: close it.

    Set-based in a group commit (a boot storm connects thousands of stations at once):
    ``_open_connections`` records every connection of the batch in one statement."""
    item = _OpenItem(ref, connection_id or new_id(), connected_at, remote_address[:64], subprotocol, node[:120])
    return await batch_later(session, "connections", _open_connections, item, tenant_id=ref.tenant_id)  # type: ignore[no-any-return]


#: PostgreSQL: close the chargers' open rows (« replaced »), insert the new ones, mark the chargers
#: online, for the whole batch and every tenant in one statement (the CTEs share one snapshot:
#: the UPDATE does not see the rows the INSERT adds).
_OPEN_SQL = text(
    "WITH v AS (SELECT * FROM unnest(CAST(:t AS uuid[]), CAST(:id AS uuid[]), CAST(:c AS uuid[]),"
    " CAST(:at AS timestamptz[]), CAST(:addr AS text[]), CAST(:proto AS text[]), CAST(:node AS text[]))"
    " AS v(tenant_id, id, charger_id, at, addr, proto, node)),"
    " closed AS (UPDATE charger_connections AS l SET disconnected_at = v.at, reason = 'replaced' FROM v"
    " WHERE l.charger_id = ANY(CAST(:c AS uuid[])) AND l.tenant_id = v.tenant_id AND l.charger_id = v.charger_id"
    " AND l.disconnected_at IS NULL),"
    " opened AS (INSERT INTO charger_connections"
    " (tenant_id, id, charger_id, connected_at, reason, remote_address, subprotocol, node)"
    " SELECT tenant_id, id, charger_id, at, '', addr, proto, node FROM v)"
    " UPDATE chargers AS c SET online = true, protocol = v.proto, last_seen_at = GREATEST(c.last_seen_at, v.at)"
    " FROM v WHERE c.id = ANY(CAST(:c AS uuid[])) AND c.tenant_id = v.tenant_id AND c.id = v.charger_id"
)


@across_tenants
async def _open_connections(session: AsyncSession, items: list[_OpenItem]) -> list[uuid.UUID]:
    # A station that reconnects within one batch: its n-th connection in round n, so each round
    # closes the row the previous one opened.
    for indexes in _rounds(items, lambda item: item.ref.charger_id):
        batch = [items[index] for index in indexes]
        if session.bind.dialect.name == "postgresql":
            await session.execute(_OPEN_SQL, {
                "t": [item.ref.tenant_id for item in batch], "id": [item.connection_id for item in batch],
                "c": [item.ref.charger_id for item in batch], "at": [item.connected_at for item in batch],
                "addr": [item.remote_address for item in batch], "proto": [item.subprotocol for item in batch],
                "node": [item.node for item in batch]})
            continue
        for item in batch:
            await _open_connection_one(session, item)
    return [item.connection_id for item in items]


async def _open_connection_one(session: AsyncSession, item: _OpenItem) -> None:
    ref = item.ref
    await session.execute(
        update(ConnectionLog)
        .where(ConnectionLog.tenant_id == ref.tenant_id, ConnectionLog.charger_id == ref.charger_id,
               ConnectionLog.disconnected_at.is_(None))
        .values(disconnected_at=item.connected_at, reason="replaced")
        .execution_options(synchronize_session=False)
    )
    session.add(ConnectionLog(
        id=item.connection_id, tenant_id=ref.tenant_id, charger_id=ref.charger_id, connected_at=item.connected_at,
        remote_address=item.remote_address, subprotocol=item.subprotocol, node=item.node,
    ))
    await session.flush()
    await session.execute(
        _charger_update(ref).values(online=True, protocol=item.subprotocol, last_seen_at=item.connected_at)
    )


async def close_connection(
    session: AsyncSession, ref: StationRef, connection_id: uuid.UUID, *, reason: str, close_code: int | None,
    disconnected_at: dt.datetime,
) -> bool:
    """Close a connection row once; the charger stays online if a newer connection is open."""
    result = await session.execute(
        update(ConnectionLog)
        .where(ConnectionLog.tenant_id == ref.tenant_id, ConnectionLog.id == connection_id,
               ConnectionLog.disconnected_at.is_(None))
        .values(disconnected_at=disconnected_at, reason=reason, close_code=close_code)
        .execution_options(synchronize_session=False)
    )
    still_open = await session.scalar(
        select(func.count()).select_from(ConnectionLog).where(
            ConnectionLog.tenant_id == ref.tenant_id, ConnectionLog.charger_id == ref.charger_id,
            ConnectionLog.disconnected_at.is_(None))
    )
    if not still_open:
        await session.execute(_charger_update(ref).values(online=False))
    return bool(result.rowcount)


async def close_stale_connections(session: AsyncSession, tenant_id: uuid.UUID, node: str, *, now: dt.datetime) -> int:
    """At ingress start: rows left open by this node's previous run (crash, kill), opened before ``now``
    (the moment this run started, taken before it listened).

    A station may connect between the listening and this sweep (after a restart they all retry at
    once): its row, opened after ``now``, is this run's and stays open. The true end of a stale row
    is unknown; the charger's ``last_seen_at`` bounds it.
    """
    rows = (await session.execute(
        select(ConnectionLog.id, ConnectionLog.connected_at, Charger.last_seen_at)
        .join(Charger, and_(Charger.tenant_id == ConnectionLog.tenant_id, Charger.id == ConnectionLog.charger_id))
        .where(ConnectionLog.tenant_id == tenant_id, ConnectionLog.node == node,
               ConnectionLog.disconnected_at.is_(None), ConnectionLog.connected_at < now)
    )).all()
    for conn_id, connected_at, last_seen in rows:
        end = max(connected_at, min(last_seen or connected_at, now))
        await session.execute(
            update(ConnectionLog).where(ConnectionLog.tenant_id == tenant_id, ConnectionLog.id == conn_id)
            .values(disconnected_at=end, reason="ingress_restart").execution_options(synchronize_session=False)
        )
    if rows:
        await session.execute(
            update(Charger).where(
                Charger.tenant_id == tenant_id,
                ~select(ConnectionLog.id).where(
                    ConnectionLog.tenant_id == Charger.tenant_id, ConnectionLog.charger_id == Charger.id,
                    ConnectionLog.disconnected_at.is_(None)).exists(),
            ).values(online=False).execution_options(synchronize_session=False)
        )
    return len(rows)


@dataclass
class CommunicationReport:
    """CCTP CPAM 5-5: uptime and number of communication cuts of one charger over a period."""

    start: dt.datetime
    end: dt.datetime
    online_seconds: float
    connections: int
    cuts: int
    cuts_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def uptime_ratio(self) -> float:
        total = (self.end - self.start).total_seconds()
        return self.online_seconds / total if total > 0 else 0.0


async def communication_report(
    session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, start: dt.datetime, end: dt.datetime,
    *, now: dt.datetime | None = None,
) -> CommunicationReport:
    now = now or utcnow()
    rows = (await session.execute(
        select(ConnectionLog.connected_at, ConnectionLog.disconnected_at, ConnectionLog.reason)
        .where(ConnectionLog.tenant_id == tenant_id, ConnectionLog.charger_id == charger_id,
               ConnectionLog.connected_at < end,
               or_(ConnectionLog.disconnected_at.is_(None), ConnectionLog.disconnected_at > start))
        .order_by(ConnectionLog.connected_at)
    )).all()
    return _fold_connections(rows, start, end, now)


def _fold_connections(rows: Iterable[Any], start: dt.datetime, end: dt.datetime, now: dt.datetime) -> CommunicationReport:
    """Uptime and cuts from one charger's connection rows (connected_at, disconnected_at, reason), in order."""
    online = 0.0
    cursor = start
    cuts: dict[str, int] = {}
    count = 0
    for connected_at, disconnected_at, reason in rows:
        count += 1
        stop = min(disconnected_at or now, end)
        begin = max(connected_at, cursor)  # overlapping rows (a replaced socket) count once
        if stop > begin:
            online += (stop - begin).total_seconds()
            cursor = stop
        if disconnected_at is not None and start <= disconnected_at < end:
            cuts[reason or "unknown"] = cuts.get(reason or "unknown", 0) + 1
    return CommunicationReport(start, end, online, count, sum(cuts.values()), cuts)


async def communication_reports(
    session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime, end: dt.datetime, *, now: dt.datetime | None = None,
) -> dict[uuid.UUID, CommunicationReport]:
    """``communication_report`` of every charger of the tenant in one query (supervision lists)."""
    now = now or utcnow()
    rows = (await session.execute(
        select(ConnectionLog.charger_id, ConnectionLog.connected_at, ConnectionLog.disconnected_at, ConnectionLog.reason)
        .where(ConnectionLog.tenant_id == tenant_id, ConnectionLog.connected_at < end,
               or_(ConnectionLog.disconnected_at.is_(None), ConnectionLog.disconnected_at > start))
        .order_by(ConnectionLog.charger_id, ConnectionLog.connected_at)
    )).all()
    by_charger: dict[uuid.UUID, list[Any]] = {}
    for charger_id, *row in rows:
        by_charger.setdefault(charger_id, []).append(row)
    return {charger_id: _fold_connections(found, start, end, now) for charger_id, found in by_charger.items()}


async def reports_of(
    session: AsyncSession, chargers: dict[uuid.UUID, tuple[uuid.UUID, dt.datetime]], end: dt.datetime,
    *, now: dt.datetime | None = None,
) -> dict[uuid.UUID, CommunicationReport]:
    """``communication_report`` of the given chargers (id → (tenant, start of its period)) in one
    query, whatever their tenants and periods (a page of the stations API)."""
    now = now or utcnow()
    if not chargers:
        return {}
    earliest = min(start for _, start in chargers.values())
    rows = (await session.execute(
        select(ConnectionLog.charger_id, ConnectionLog.connected_at, ConnectionLog.disconnected_at, ConnectionLog.reason)
        .where(ConnectionLog.tenant_id.in_({tenant for tenant, _ in chargers.values()}),
               ConnectionLog.charger_id.in_(list(chargers)), ConnectionLog.connected_at < end,
               or_(ConnectionLog.disconnected_at.is_(None), ConnectionLog.disconnected_at > earliest))
        .order_by(ConnectionLog.charger_id, ConnectionLog.connected_at)
    )).all()
    by_charger: dict[uuid.UUID, list[Any]] = {}
    for charger_id, connected_at, disconnected_at, reason in rows:
        start = chargers[charger_id][1]
        if disconnected_at is None or disconnected_at > start:  # the rows this charger's own period sees
            by_charger.setdefault(charger_id, []).append((connected_at, disconnected_at, reason))
    return {cid: _fold_connections(by_charger.get(cid, []), start, end, now) for cid, (_, start) in chargers.items()}


# --------------------------------------------------------------------------- boot, heartbeat, events


BOOT_FIELDS = (
    "vendor", "model", "serial_number", "charge_box_serial_number", "firmware_version",
    "iccid", "imsi", "meter_type", "meter_serial_number",
)


@dataclass(frozen=True, slots=True)
class _BootItem:
    ref: StationRef
    fields: dict[str, str]
    reason: str
    received_at: dt.datetime


async def record_boot(
    session: AsyncSession, ref: StationRef, info: dict[str, str], *, reason: str = "", received_at: dt.datetime
) -> None:
    """BootNotification: what the charger says it is (« remonter des données », CCTP 5-5).

    Set-based in a group commit: one UPDATE for the batch's boots (``_apply_boots``)."""
    fields = {key: (info.get(key) or "")[: Charger.__table__.c[key].type.length] for key in BOOT_FIELDS}
    item = _BootItem(ref, fields, reason, received_at)
    return await batch_later(session, "boots", _apply_boots, item, tenant_id=ref.tenant_id)  # type: ignore[no-any-return]


def _rounds(items: list[Any], key: Any) -> list[list[int]]:
    """Positions of ``items`` in rounds where each ``key(item)`` appears once: the n-th item of a key
    goes in round n, so one set-based statement per round applies a key's items in order."""
    rounds: list[list[int]] = []
    seen: dict[Any, int] = {}
    for index, item in enumerate(items):
        number = seen[key(item)] = seen.get(key(item), -1) + 1
        if number == len(rounds):
            rounds.append([])
        rounds[number].append(index)
    return rounds


_BOOT_SQL = text(
    "UPDATE chargers AS c SET " + ", ".join(f"{key} = v.{key}" for key in BOOT_FIELDS)
    + ", registration_status = 'Accepted', last_boot_at = v.at, last_seen_at = GREATEST(c.last_seen_at, v.at)"
    " FROM unnest(CAST(:n AS integer[]), CAST(:t AS uuid[]), CAST(:c AS uuid[]), "
    + ", ".join(f"CAST(:{key} AS text[])" for key in BOOT_FIELDS)
    + ", CAST(:at AS timestamptz[])) AS v(n, tenant_id, charger_id, " + ", ".join(BOOT_FIELDS) + ", at),"
    " chargers AS old"  # the row as it was before this statement: the firmware version held until now
    " WHERE c.id = ANY(CAST(:c AS uuid[])) AND old.id = ANY(CAST(:c AS uuid[]))"
    " AND c.tenant_id = v.tenant_id AND c.id = v.charger_id AND old.tenant_id = c.tenant_id AND old.id = c.id"
    " RETURNING v.n, old.firmware_version"
)


@across_tenants
async def _apply_boots(session: AsyncSession, items: list[_BootItem]) -> list[None]:
    """The boots of the batch: one ``UPDATE chargers`` per round (PostgreSQL, across tenants; it returns
    the firmware version held before), then each boot's event (one INSERT for the batch)."""
    table = Charger.__table__
    postgres = session.bind.dialect.name == "postgresql"
    previous: dict[int, str | None] = {}
    for indexes in _rounds(items, lambda item: item.ref.charger_id):
        batch = [items[index] for index in indexes]
        if not postgres:
            for index, item in zip(indexes, batch, strict=True):
                previous[index] = await session.scalar(select(table.c.firmware_version).where(
                    table.c.tenant_id == item.ref.tenant_id, table.c.id == item.ref.charger_id))
                await session.execute(update(table).where(
                    table.c.tenant_id == item.ref.tenant_id, table.c.id == item.ref.charger_id,
                ).values(**item.fields, registration_status="Accepted", last_boot_at=item.received_at,
                         last_seen_at=item.received_at))
            continue
        result = await session.execute(_BOOT_SQL, {
            "n": list(range(len(batch))), "t": [item.ref.tenant_id for item in batch],
            "c": [item.ref.charger_id for item in batch], "at": [item.received_at for item in batch],
            **{key: [item.fields[key] for item in batch] for key in BOOT_FIELDS},
        })
        for number, firmware in result.all():
            previous[indexes[number]] = firmware
    events = []
    for index, item in enumerate(items):
        fields, before = item.fields, previous.get(index)
        details: dict[str, Any] = {k: v for k, v in fields.items() if v}
        message = (f"Démarrage de la borne ({fields['vendor']} {fields['model']}, "
                   f"micrologiciel {fields['firmware_version'] or 'inconnu'}).")
        if item.reason:
            details["reason"] = item.reason
        if before and fields["firmware_version"] and before != fields["firmware_version"]:
            details["previous_firmware_version"] = before
            message += f" Micrologiciel précédent : {before}."
        events.append(_station_event_row(item.ref, "boot", message, details, received_at=item.received_at))
    if postgres:
        await insert_rows(session, StationEvent.__table__, events, generate_id=True)
    else:
        await session.execute(insert(StationEvent.__table__), events)
    return [None] * len(items)


async def record_heartbeat(session: AsyncSession, ref: StationRef, *, received_at: dt.datetime) -> None:
    await session.execute(_charger_update(ref).values(last_seen_at=received_at))


async def touch(session: AsyncSession, ref: StationRef, *, received_at: dt.datetime) -> None:
    """Refresh ``last_seen_at``; the ingress does it at most once a minute per connection
    (and at every heartbeat), not for every message."""
    await record_heartbeat(session, ref, received_at=received_at)


async def record_station_event(
    session: AsyncSession, ref: StationRef, kind: str, message: str, details: dict[str, Any] | None = None, *,
    received_at: dt.datetime, occurred_at: dt.datetime | None = None, severity: str = "info",
) -> None:
    # Append-only and never read back within a group commit: one INSERT per batch (csms.domain.writer.execute_many).
    await execute_many(session, "station_events", insert(StationEvent.__table__), [_station_event_row(
        ref, kind, message, details, received_at=received_at, occurred_at=occurred_at, severity=severity)])


def _station_event_row(
    ref: StationRef, kind: str, message: str, details: dict[str, Any] | None, *, received_at: dt.datetime,
    occurred_at: dt.datetime | None = None, severity: str = "info",
) -> dict[str, Any]:
    return {
        "tenant_id": ref.tenant_id, "charger_id": ref.charger_id, "kind": kind, "severity": severity,
        "message": message[:500], "details": details or {}, "occurred_at": occurred_at, "received_at": received_at,
    }


# --------------------------------------------------------------------------- statuses


async def _ensure_point(
    session: AsyncSession, ref: StationRef, connector_id: int, *, received_at: dt.datetime
) -> uuid.UUID | None:
    """The charge point of a connector, created when a station reports one we did not register."""
    if connector_id < 1:
        return None
    point_id = await session.scalar(
        select(ChargePoint.id).where(ChargePoint.tenant_id == ref.tenant_id, ChargePoint.charger_id == ref.charger_id,
                                     ChargePoint.connector_id == connector_id)
    )
    if point_id is not None or connector_id > 99:
        return point_id
    canonical = parse_charging_id(ref.canonical_id).child(connector_id).canonical
    point = ChargePoint(tenant_id=ref.tenant_id, charger_id=ref.charger_id, connector_id=connector_id,
                        canonical_id=canonical, power_kw=None, socket_types="")
    session.add(point)
    await session.flush()  # before the rows that reference it (no ORM relationship orders them)
    await record_station_event(
        session, ref, "point_discovered",
        f"Point de charge {connector_id} signalé par la borne et ajouté ({canonical}) ; puissance et prises à renseigner.",
        {"connector_id": connector_id, "canonical_id": canonical}, received_at=received_at, severity="warning",
    )
    return point.id


@lru_cache(maxsize=65536)
def _point_canonical(charger_canonical: str, connector_id: int) -> str:
    """The canonical id of a charger's point (CCTP 5-5-1), or the charger's for connector 0 / > 99."""
    if 0 < connector_id <= 99:
        return parse_charging_id(charger_canonical).child(connector_id).canonical
    return charger_canonical


@dataclass
class StatusResult:
    current: bool  # it is now the current state (not older offline data)
    offline: bool
    canonical_id: str
    #: Alerts opened or closed by this status (``csms.domain.alerts``): their events are in the outbox with its commit.
    alerts: list[Any] = field(default_factory=list)
    #: reservationIds cancelled because the point faulted (``csms.domain.reservations``), to cancel on the station.
    cancelled_reservations: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _StatusItem:
    ref: StationRef
    connector_id: int
    status: str
    error_code: str
    reported_at: dt.datetime
    received_at: dt.datetime
    offline: bool
    history: dict[str, Any]


async def record_status(
    session: AsyncSession, ref: StationRef, *, connector_id: int, status: str, error_code: str = "", info: str = "",
    vendor_id: str = "", vendor_error_code: str = "", timestamp: dt.datetime | None, received_at: dt.datetime,
) -> StatusResult:
    """StatusNotification (« état de chaque borne et point de charge (disponible, occupé, en défaut) », 5-5-4).

    Set-based in a group commit (``batch_later`` -> ``_apply_statuses``): the batch's
    history rows are one INSERT, the current states one UPDATE per table, across
    tenants on PostgreSQL. The result is what ``_apply_statuses`` found for this status.
    """
    reported_at = timestamp or received_at
    offline = is_offline(timestamp, received_at)
    history = {
        "tenant_id": ref.tenant_id, "charger_id": ref.charger_id, "connector_id": connector_id,
        "status": status, "error_code": error_code or "", "info": (info or "")[:50], "vendor_id": (vendor_id or "")[:255],
        "vendor_error_code": (vendor_error_code or "")[:50], "reported_at": reported_at, "received_at": received_at,
        "offline": offline,
    }
    item = _StatusItem(ref, connector_id, status, error_code or "", reported_at, received_at, offline, history)
    return await batch_later(session, "statuses", _apply_statuses, item, tenant_id=ref.tenant_id)  # type: ignore[no-any-return]


class _Scopes:
    """Inside a run across tenants: set-based statements under every tenant of the batch, the rare
    per-item work (ORM, audited) under the item's own tenant; a switch only when it changes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        #: The run's scope (the writer's: every tenant of the batch), restored after per-item work.
        self.every: frozenset[uuid.UUID] = frozenset(session.info.get("tenant_ids") or ())
        self.current = self.every

    async def _set(self, tenants: frozenset[uuid.UUID]) -> None:
        if tenants != self.current:
            session = self.session
            if has_changes(session):
                await session.flush()  # under the scope the objects were made in
            scope_session(session, tenants)
            self.current = tenants

    async def all(self) -> None:
        await self._set(self.every)

    async def one(self, tenant_id: uuid.UUID) -> None:
        await self._set(frozenset((tenant_id,)))


@across_tenants
async def _apply_statuses(session: AsyncSession, items: list[_StatusItem]) -> list[StatusResult]:
    """The history rows, then the current state of each item's charger (connector 0) or point,
    unless older than what we hold; then its alert and reservations, in submission order.

    A point reported twice in one batch: the items go in rounds (the n-th report of a
    point in round n), one statement per round, so the later report applies last.
    """
    scopes = _Scopes(session)
    history: list[dict[str, Any]] | None = [item.history for item in items]
    if session.bind.dialect.name != "postgresql":
        await session.execute(_dialect_insert(session, StatusEvent.__table__).on_conflict_do_nothing(), history)
        history = None
    results: list[StatusResult | None] = [None] * len(items)
    for indexes in _rounds(items, lambda item: (item.ref.charger_id, item.connector_id)):
        batch = [items[index] for index in indexes]
        await scopes.all()
        # PostgreSQL: the history rows go in with the first round's first statement (one round trip less).
        updated = await _update_statuses(session, batch, history)
        history = None
        for index, item in zip(indexes, batch, strict=True):
            results[index] = await _after_status(session, item, updated.get(id(item)), scopes)
    return [result for result in results if result is not None]


def _status_sql(table: str, connector_zero: bool) -> str:
    """PostgreSQL: the current state of many chargers (connector 0) or points, any tenants, one statement;
    returns each updated item's number and whether its « faulted » alert is open."""
    # The ``= ANY(:c)`` repeats the join for the planner: it probes the rows by charger (migration 0007)
    # instead of scanning every row of the tenants in scope.
    target = ("c.id = ANY(CAST(:c AS uuid[])) AND c.id = v.charger_id" if connector_zero else
              "c.charger_id = ANY(CAST(:c AS uuid[])) AND c.charger_id = v.charger_id AND c.connector_id = v.connector_id")
    seen = ", last_seen_at = GREATEST(c.last_seen_at, v.seen)" if connector_zero else ""
    return (
        f"UPDATE {table} AS c SET last_status = v.status, last_error_code = v.error_code, last_status_at = v.at{seen}"
        " FROM unnest(CAST(:n AS integer[]), CAST(:t AS uuid[]), CAST(:c AS uuid[]), CAST(:k AS integer[]),"
        " CAST(:status AS text[]), CAST(:error_code AS text[]), CAST(:at AS timestamptz[]), CAST(:seen AS timestamptz[]))"
        " AS v(n, tenant_id, charger_id, connector_id, status, error_code, at, seen)"
        f" WHERE c.tenant_id = v.tenant_id AND {target} AND (c.last_status_at IS NULL OR c.last_status_at <= v.at)"
        " RETURNING v.n, EXISTS (SELECT 1 FROM supervision_alerts AS a WHERE a.tenant_id = v.tenant_id"
        " AND a.charger_id = v.charger_id AND a.connector_id = v.connector_id"
        f" AND a.kind = '{alerts.FAULTED}' AND a.closed_at IS NULL)"
    )


_STATUS_TABLES = {True: "chargers", False: "charge_points"}
_STATUS_SQL = {zero: text(_status_sql(table, zero)) for zero, table in _STATUS_TABLES.items()}


@lru_cache(maxsize=8)
def _status_sql_with_history(connector_zero: bool, names: tuple[str, ...]) -> Any:
    """``_status_sql`` with the batch's history rows inserted by the same statement (a data-modifying
    ``WITH``: run once, whatever the update returns; it writes ``status_events``, which the update
    does not read). The history's parameters are prefixed ``h_``."""
    history = insert_sql(StatusEvent.__table__, names, on_conflict_do_nothing=True, generate_id=True, prefix="h_")
    return text(f"WITH history AS ({history}) {_status_sql(_STATUS_TABLES[connector_zero], connector_zero)}")


async def _update_statuses(session: AsyncSession, items: list[_StatusItem],
                           history: list[dict[str, Any]] | None = None) -> dict[int, bool]:
    """{id(item): whether an open « Hors service » alert exists} for the items that became current;
    PostgreSQL only: ``history``, the status history rows, inserted by the first statement."""
    if session.bind.dialect.name != "postgresql":
        return {id(item): True for item in items if await _update_status_one(session, item)}
    found: dict[int, bool] = {}
    for connector_zero in (True, False):
        chosen = [(number, item) for number, item in enumerate(items) if (item.connector_id == 0) == connector_zero]
        if not chosen:
            continue
        statement, parameters = _STATUS_SQL[connector_zero], {
            "n": [number for number, _ in chosen], "t": [item.ref.tenant_id for _, item in chosen],
            "c": [item.ref.charger_id for _, item in chosen], "k": [item.connector_id for _, item in chosen],
            "status": [item.status for _, item in chosen], "error_code": [item.error_code for _, item in chosen],
            "at": [item.reported_at for _, item in chosen], "seen": [item.received_at for _, item in chosen],
        }
        if history:
            statement = _status_sql_with_history(connector_zero, tuple(history[0]))
            parameters.update(insert_parameters(StatusEvent.__table__, history, prefix="h_"))
            history = None
        result = await session.execute(statement, parameters)
        for number, alert_open in result.all():
            found[id(items[number])] = bool(alert_open)
    return found


async def _update_status_one(session: AsyncSession, item: _StatusItem) -> bool:
    values_ = {"last_status": item.status, "last_error_code": item.error_code, "last_status_at": item.reported_at}
    if item.connector_id == 0:
        stmt = (_charger_update(item.ref)
                .where(or_(Charger.last_status_at.is_(None), Charger.last_status_at <= item.reported_at))
                .values(**values_, last_seen_at=item.received_at))
    else:
        stmt = (update(ChargePoint)
                .where(ChargePoint.tenant_id == item.ref.tenant_id, ChargePoint.charger_id == item.ref.charger_id,
                       ChargePoint.connector_id == item.connector_id,
                       or_(ChargePoint.last_status_at.is_(None), ChargePoint.last_status_at <= item.reported_at))
                .values(**values_).execution_options(synchronize_session=False))
    return bool((await session.execute(stmt)).rowcount)


async def _after_status(session: AsyncSession, item: _StatusItem, alert_open: bool | None, scopes: _Scopes) -> StatusResult:
    """Per status, only where something happens (under the item's own tenant): a point we did not
    register, an alert to open or close (CCTP 5-5-4 « alertes en cas de pannes »), reservations a
    fault cancels."""
    ref, connector_id = item.ref, item.connector_id
    current = alert_open is not None
    # No row updated: older than what we hold, or a connector we did not register.
    if not current and connector_id > 0:
        await scopes.one(ref.tenant_id)
        if await _ensure_point(session, ref, connector_id, received_at=item.received_at):
            current = await _update_status_one(session, item)
            alert_open = True  # rare path: let apply_status look
    canonical = _point_canonical(ref.canonical_id, connector_id)
    if not current:
        return StatusResult(False, item.offline, canonical)
    if not alert_open and not is_out_of_service(item.status) and item.status not in reservations.FAULT_STATUSES:
        return StatusResult(True, item.offline, canonical)
    await scopes.one(ref.tenant_id)
    session.info["actor"] = {"user_id": None, "label": ref.actor}  # who the audit log names for these writes
    changes = []
    if alert_open or is_out_of_service(item.status):  # Faulted opens, a later status closes
        changes = await alerts.apply_status(
            session, tenant_id=ref.tenant_id, charger_id=ref.charger_id, charge_box_id=ref.charge_box_id,
            canonical_id=ref.canonical_id, connector_id=connector_id, status=item.status, error_code=item.error_code,
            at=item.reported_at, now=item.received_at,
        )
    # CCTP 5-5-4: a faulted point cannot honour its reservations (nothing to do for other statuses)
    cancelled = await reservations.cancel_on_fault(session, ref, connector_id=connector_id, status=item.status,
                                                   at=item.reported_at)
    return StatusResult(True, item.offline, canonical, changes, cancelled)


# --------------------------------------------------------------------------- authorization


async def authorize_id_tag(
    session: AsyncSession, tenant_id: uuid.UUID, id_tag: str, *, now: dt.datetime, unknown: str = "Invalid"
) -> tuple[str, uuid.UUID | None]:
    """Status of an RFID badge of this tenant: Accepted, Blocked, Expired, or ``unknown``.

    OCPP compares idTags case-insensitively; badges are stored upper-case. A badge
    of another tenant is unknown here (the tenant wall).
    """
    badge = await session.scalar(
        select(Badge).where(Badge.tenant_id == tenant_id, Badge.id_tag == (id_tag or "").strip().upper())
    )
    if badge is None:
        return unknown, None
    if badge.status == "Blocked":
        return "Blocked", badge.id
    if badge.status == "Expired" or (badge.expires_at is not None and badge.expires_at <= now):
        return "Expired", badge.id
    return "Accepted", badge.id


#: OCPP 1.6 AuthorizationStatus / 2.0.1 AuthorizationStatusEnumType: the badge is charging elsewhere.
CONCURRENT_TX = "ConcurrentTx"


async def authorize_at_charger(
    session: AsyncSession, ref: StationRef, id_tag: str, *, now: dt.datetime, unknown: str = "Invalid",
    connector_id: int | None = None, transaction_id: uuid.UUID | None = None,
) -> tuple[str, uuid.UUID | None]:
    """``authorize_id_tag`` for a badge shown at this charger to charge: ``ConcurrentTx`` when it is
    already in a charging session elsewhere and its tenant does not allow a second one (OCPP 1.6
    §7.2; ``csms.domain.badges.badge_in_another_session`` says what « elsewhere » is)."""
    status, badge_id = await authorize_id_tag(session, ref.tenant_id, id_tag, now=now, unknown=unknown)
    if status == "Accepted" and badge_id is not None and await badges.badge_in_another_session(
            session, ref.tenant_id, badge_id, charger_id=ref.charger_id, connector_id=connector_id,
            transaction_id=transaction_id):
        return CONCURRENT_TX, badge_id
    return status, badge_id


# --------------------------------------------------------------------------- transactions


@dataclass
class StartResult:
    transaction_id: int
    id_tag_status: str
    replayed: bool
    offline: bool
    row_id: uuid.UUID
    connector_id: int


async def _allocate_transaction_id(session: AsyncSession, ref: StationRef) -> int:
    """Next transactionId of this charger; skips ids already present (orphans, imported history)."""
    for _ in range(1000):
        value = await session.scalar(
            _charger_update(ref).values(last_transaction_id=Charger.last_transaction_id + 1)
            .returning(Charger.last_transaction_id)
        )
        if value is None or value > MAX_TRANSACTION_ID:
            raise RuntimeError("transactionId counter unavailable")
        taken = await session.scalar(
            select(Transaction.id).where(Transaction.tenant_id == ref.tenant_id, Transaction.charger_id == ref.charger_id,
                                         Transaction.ocpp_transaction_id == str(value))
        )
        if taken is None:
            return value
    raise RuntimeError("no free transactionId")


async def _transaction_by_ocpp_id(session: AsyncSession, ref: StationRef, ocpp_id: str) -> Transaction | None:
    return await session.scalar(
        select(Transaction).where(Transaction.tenant_id == ref.tenant_id, Transaction.charger_id == ref.charger_id,
                                  Transaction.ocpp_transaction_id == ocpp_id)
    )


async def start_transaction(
    session: AsyncSession, ref: StationRef, *, connector_id: int, id_tag: str, meter_start: int,
    timestamp: dt.datetime, reservation_id: int | None = None, received_at: dt.datetime,
) -> StartResult:
    """OCPP 1.6 StartTransaction: the transactionId is ours; a replay gets the same one back."""
    start_key = f"{connector_id}|{id_tag.strip().upper()}|{timestamp.isoformat()}|{meter_start}"
    existing = await session.scalar(
        select(Transaction).where(Transaction.tenant_id == ref.tenant_id, Transaction.charger_id == ref.charger_id,
                                  Transaction.start_key == start_key)
    )
    if existing is not None:
        return StartResult(int(existing.ocpp_transaction_id), existing.id_tag_status, True, existing.offline,
                           existing.id, connector_id)
    # A replay (above) keeps its answer: never ConcurrentTx with itself. A refused start still gets its
    # transactionId (1.6: the station then stops it) and stays out of load sharing and of this check.
    status, badge_id = await authorize_at_charger(session, ref, id_tag, now=received_at, connector_id=connector_id)
    number = await _allocate_transaction_id(session, ref)
    offline = is_offline(timestamp, received_at)
    row = Transaction(
        tenant_id=ref.tenant_id, charger_id=ref.charger_id, charge_point_id=await _ensure_point(session, ref, connector_id, received_at=received_at),
        connector_id=connector_id, ocpp_transaction_id=str(number), start_key=start_key, status="active",
        id_tag=id_tag, id_tag_status=status, badge_id=badge_id, reservation_id=reservation_id,
        meter_start=meter_start, started_at=timestamp, offline=offline, start_received_at=received_at,
    )
    session.add(row)
    await reservations.consume(session, ref, reservation_id=reservation_id, transaction_id=row.id, at=timestamp)
    return StartResult(number, status, False, offline, row.id, connector_id)


@dataclass
class StopResult:
    counted: bool  # False for a replay of a stop already recorded
    orphan: bool
    offline: bool
    id_tag_status: str | None
    row_id: uuid.UUID
    connector_id: int | None
    energy_wh: int | None


async def stop_transaction(
    session: AsyncSession, ref: StationRef, *, transaction_id: str, meter_stop: int | None, timestamp: dt.datetime,
    reason: str = "", id_tag: str = "", transaction_data: list[dict[str, Any]] | None = None,
    received_at: dt.datetime, protocol: str = "1.6",
) -> StopResult:
    """StopTransaction (1.6) / TransactionEvent Ended (2.0.1): counted once; unknown ids kept as orphans."""
    offline = is_offline(timestamp, received_at)
    row = await _transaction_by_ocpp_id(session, ref, transaction_id)
    status = None
    if id_tag:
        status, _ = await authorize_id_tag(session, ref.tenant_id, id_tag, now=received_at,
                                           unknown="Invalid" if protocol == "1.6" else "Unknown")
    orphan = False
    counted = True
    if row is None:
        # Never handed out by us (lost start, another CSMS before us): keep it, flagged.
        orphan = True
        row = Transaction(
            tenant_id=ref.tenant_id, charger_id=ref.charger_id, ocpp_transaction_id=transaction_id, status="orphan",
            meter_stop=meter_stop, stopped_at=timestamp, stop_reason=reason or "", stop_id_tag=id_tag or "",
            offline=offline, stop_received_at=received_at,
        )
        session.add(row)
    elif row.stopped_at is not None:
        counted = False
        orphan = row.status == "orphan"
    else:
        row.meter_stop = meter_stop
        row.stopped_at = timestamp
        row.stop_reason = reason or ("Local" if protocol == "1.6" else "")
        row.stop_id_tag = id_tag or ""
        row.status = "completed"
        row.stop_received_at = received_at
        row.offline = row.offline or offline
    await session.flush()
    if transaction_data:
        await _insert_samples(session, ref, row.connector_id or 0, transaction_data, transaction=row,
                              received_at=received_at, protocol=protocol)
    if counted and not orphan:
        # Durable, in this unit's transaction (the group commit): the stopped session becomes money (paid
        # charging); a replayed stop (``counted`` False) publishes nothing again.
        publish_on_commit(session, ChargingSessionStopped(
            tenant_id=ref.tenant_id, transaction_id=row.id, charger_id=ref.charger_id,
            ocpp_transaction_id=row.ocpp_transaction_id, stopped_at=timestamp, energy_wh=row.energy_wh))
    return StopResult(counted, orphan, offline, status, row.id, row.connector_id, row.energy_wh)


# --------------------------------------------------------------------------- meter values


def _sample_rows(
    ref: StationRef, connector_id: int, meter_values: Iterable[dict[str, Any]], *, transaction: Transaction | None,
    ocpp_transaction_id: str, received_at: dt.datetime, protocol: str,
) -> list[dict[str, Any]]:
    rows = []
    for meter_value in meter_values:
        sampled_at = _ts(meter_value["timestamp"])
        assert sampled_at is not None
        offline = is_offline(sampled_at, received_at)
        for sample in meter_value.get("sampled_value") or ():
            raw = sample.get("value")
            unit = sample.get("unit") or "Wh"
            if protocol == "1.6":
                try:
                    value: float | None = float(raw)
                except (TypeError, ValueError):
                    value = None
                text = "" if value is not None else str(raw)
            else:
                measure = sample.get("unit_of_measure") or {}
                unit = measure.get("unit") or "Wh"
                value = float(raw) * 10 ** int(measure.get("multiplier") or 0)
                signed = sample.get("signed_meter_value")
                text = signed.get("signed_meter_data", "") if isinstance(signed, dict) else ""
            rows.append({
                "tenant_id": ref.tenant_id, "charger_id": ref.charger_id, "connector_id": connector_id,
                "transaction_id": transaction.id if transaction is not None else None,
                "ocpp_transaction_id": ocpp_transaction_id, "sampled_at": sampled_at,
                "measurand": sample.get("measurand") or "Energy.Active.Import.Register", "value": value, "raw": text,
                "unit": unit, "phase": sample.get("phase") or "", "location": sample.get("location") or "",
                "context": sample.get("context") or "Sample.Periodic", "received_at": received_at, "offline": offline,
            })
    return rows


async def _insert_meter_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    # One INSERT for the whole group commit (csms.domain.writer.execute_many): nothing reads them back in a batch.
    await execute_many(session, "meter_values", _dialect_insert(session, MeterValue.__table__).on_conflict_do_nothing(),
                       rows)


async def _insert_samples(
    session: AsyncSession, ref: StationRef, connector_id: int, meter_values: list[dict[str, Any]], *,
    transaction: Transaction | None, received_at: dt.datetime, protocol: str, ocpp_transaction_id: str = "",
) -> list[dict[str, Any]]:
    rows = _sample_rows(ref, connector_id, meter_values, transaction=transaction,
                        ocpp_transaction_id=ocpp_transaction_id or (transaction.ocpp_transaction_id if transaction else ""),
                        received_at=received_at, protocol=protocol)
    if rows:
        await _insert_meter_rows(session, rows)
    return rows


@dataclass
class MeterResult:
    samples: int
    offline: bool
    transaction_known: bool


@dataclass(slots=True)
class _MeterItem:
    ref: StationRef
    connector_id: int
    transaction_id: str | None
    rows: list[dict[str, Any]]


async def record_meter_values(
    session: AsyncSession, ref: StationRef, *, connector_id: int, transaction_id: str | None,
    meter_values: list[dict[str, Any]], received_at: dt.datetime, protocol: str = "1.6",
) -> MeterResult:
    """MeterValues (« enregistrement des courbes de charge », 5-5-4); replays insert nothing.

    Without a transactionId (1.6 makes it optional; a 2.0.1 MeterValues never has
    one) each sample is stored against its connector / EVSE and linked to the
    transaction that was active on that connector at the sample's timestamp
    (``started_at <= t <= stopped_at``, or not stopped yet), if any; its
    ``ocpp_transaction_id`` stays empty: the station did not name it.
    Connector 0 (the charger's main meter) is never linked.

    Set-based in a group commit: the rows are built here, the transactions of the
    whole batch's MeterValues are found by one query (``_link_meter_values``) and
    every row joins one INSERT for the batch.
    """
    rows = _sample_rows(ref, connector_id, meter_values, transaction=None, ocpp_transaction_id=transaction_id or "",
                        received_at=received_at, protocol=protocol)
    item = _MeterItem(ref, connector_id, transaction_id, rows)
    return await batch_later(session, "meter_values", _link_meter_values, item, tenant_id=ref.tenant_id)  # type: ignore[no-any-return]


async def _named_transactions(
    session: AsyncSession, named: list[_MeterItem],
) -> dict[tuple[uuid.UUID, str], tuple[uuid.UUID, bool]]:
    """SQLite: (charger, transactionId) → (transaction row, its offline flag), for the items that name one."""
    if not named:
        return {}
    tx = Transaction.__table__
    found = await session.execute(
        select(tx.c.id, tx.c.charger_id, tx.c.ocpp_transaction_id, tx.c.offline).where(
            tx.c.tenant_id == named[0].ref.tenant_id, tx.c.charger_id.in_({item.ref.charger_id for item in named}),
            tx.c.ocpp_transaction_id.in_({item.transaction_id for item in named}))
    )
    return {(row.charger_id, row.ocpp_transaction_id): (row.id, row.offline) for row in found}


async def _active_transactions(session: AsyncSession, unnamed: list[_MeterItem]) -> dict[tuple[uuid.UUID, int], list[Any]]:
    """SQLite: (charger, connector) → the transactions active there between the items' first and last samples."""
    if not unnamed:
        return {}
    tx = Transaction.__table__
    moments = [row["sampled_at"] for item in unnamed for row in item.rows]
    found = await session.execute(
        select(tx.c.id, tx.c.charger_id, tx.c.connector_id, tx.c.started_at, tx.c.stopped_at, tx.c.offline).where(
            tx.c.tenant_id == unnamed[0].ref.tenant_id, tx.c.charger_id.in_({item.ref.charger_id for item in unnamed}),
            tx.c.connector_id.in_({item.connector_id for item in unnamed}), tx.c.started_at.is_not(None),
            tx.c.started_at <= max(moments),
            or_(tx.c.stopped_at.is_(None), tx.c.stopped_at >= min(moments)),
        ).order_by(tx.c.started_at.desc())  # overlapping rows (should not happen): the latest start wins
    )
    candidates: dict[tuple[uuid.UUID, int], list[Any]] = {}
    for row in found:
        candidates.setdefault((row.charger_id, row.connector_id), []).append(row)
    return candidates


#: The columns of a meter value row built by ``_sample_rows`` but its transaction (found by the statement).
_METER_COLUMNS = ("tenant_id", "charger_id", "connector_id", "ocpp_transaction_id", "sampled_at", "measurand", "value",
                  "raw", "unit", "phase", "location", "context", "received_at", "offline")


@lru_cache(maxsize=1)
def _meter_sql() -> Any:
    """PostgreSQL: the rows of the batch inserted with their transaction, found in the same statement
    (one round trip instead of two or three): per row, the transaction it names (``transactionId``),
    else the one active on its connector at its timestamp (the rule of ``record_meter_values``; the
    latest start wins), none for connector 0. Returns, for every row linked, inserted or not (a
    replay), its position and its transaction's id and offline flag."""
    table = MeterValue.__table__
    arrays = ", ".join(f"CAST(:{name} AS {array_type(table, name)})" for name in _METER_COLUMNS)
    columns = ", ".join(_METER_COLUMNS)
    return text(
        f"WITH v AS (SELECT * FROM unnest({arrays}) WITH ORDINALITY AS v({columns}, n)),"
        " linked AS (SELECT v.*, COALESCE(named.id, active.id) AS tx_id,"
        " COALESCE(named.offline, active.offline) AS tx_offline FROM v"
        " LEFT JOIN LATERAL (SELECT t.id, t.offline FROM charging_transactions AS t"
        "  WHERE v.ocpp_transaction_id <> '' AND t.tenant_id = v.tenant_id AND t.charger_id = v.charger_id"
        "  AND t.ocpp_transaction_id = v.ocpp_transaction_id) AS named ON true"
        " LEFT JOIN LATERAL (SELECT t.id, t.offline FROM charging_transactions AS t"
        "  WHERE v.ocpp_transaction_id = '' AND v.connector_id > 0 AND t.tenant_id = v.tenant_id"
        "  AND t.charger_id = v.charger_id AND t.connector_id = v.connector_id AND t.started_at IS NOT NULL"
        "  AND t.started_at <= v.sampled_at AND (t.stopped_at IS NULL OR t.stopped_at >= v.sampled_at)"
        "  ORDER BY t.started_at DESC LIMIT 1) AS active ON true),"  # overlapping rows (should not happen)
        f" inserted AS (INSERT INTO meter_values (id, transaction_id, {columns})"
        f" SELECT gen_random_uuid(), tx_id, {columns} FROM linked ON CONFLICT DO NOTHING)"
        " SELECT n, tx_id, tx_offline FROM linked WHERE tx_id IS NOT NULL"
    )


async def _insert_linked_meter_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: ``_meter_sql`` for the batch's rows; each linked row gets its ``transaction_id``,
    and its transaction's offline flag as ``tx_offline``."""
    if not rows:
        return
    # The batch's last_seen_at update rides on it (csms.domain.writer « Riders »: chargers, not written here).
    found = await session.execute(*with_riders(session, _meter_sql(), columns_of(rows, _METER_COLUMNS)))
    for number, tx_id, tx_offline in found:
        row = rows[number - 1]
        row["transaction_id"], row["tx_offline"] = tx_id, tx_offline


@across_tenants(takes_riders=True)
async def _link_meter_values(session: AsyncSession, items: list[_MeterItem]) -> list[MeterResult]:
    """The transactions the items name, or those active on their connectors (the rule of
    ``record_meter_values``), and one INSERT for every row: across tenants, one statement for all
    of it on PostgreSQL (``_meter_sql``); two queries then the INSERT elsewhere."""
    postgres = session.bind.dialect.name == "postgresql"
    if postgres:
        await _insert_linked_meter_rows(session, [row for item in items for row in item.rows])
    else:
        _link_in_python(items, await _named_transactions(session, [item for item in items if item.transaction_id]),
                        await _active_transactions(session, [item for item in items if not item.transaction_id
                                                             and item.connector_id > 0 and item.rows]))
    results = []
    to_flag: dict[uuid.UUID, StationRef] = {}  # transaction -> the station whose samples flag it
    all_rows: list[dict[str, Any]] = []
    for item in items:
        linked: dict[uuid.UUID, bool] = {}  # transaction id -> its offline flag
        for row in item.rows:
            if row.get("transaction_id") is not None:
                linked[row["transaction_id"]] = row.pop("tx_offline")
        for tx_id, offline in linked.items():
            if not offline and any(row["offline"] and row["transaction_id"] == tx_id for row in item.rows):
                to_flag[tx_id] = item.ref
        all_rows.extend(item.rows)
        results.append(MeterResult(len(item.rows), any(row["offline"] for row in item.rows), bool(linked)))
    if not postgres:
        await _insert_meter_rows(session, all_rows)
    if to_flag:  # offline data for a transaction: rare, through the ORM (audited), under its own tenant
        scopes = _Scopes(session)
        for tx_id, ref in to_flag.items():
            await scopes.one(ref.tenant_id)
            session.info["actor"] = {"user_id": None, "label": ref.actor}  # who the audit log names
            transaction = await session.get(Transaction, (ref.tenant_id, tx_id))
            if transaction is not None:
                transaction.offline = True
    return results


def _link_in_python(items: list[_MeterItem], by_ocpp_id: dict[tuple[uuid.UUID, str], tuple[uuid.UUID, bool]],
                    candidates: dict[tuple[uuid.UUID, int], list[Any]]) -> None:
    """SQLite: each row's ``transaction_id`` (and its transaction's offline flag as ``tx_offline``)
    from the two queries' answers, by the rule of ``record_meter_values``."""
    for item in items:
        if item.transaction_id:
            named_tx = by_ocpp_id.get((item.ref.charger_id, item.transaction_id))
            if named_tx is not None:
                for row in item.rows:
                    row["transaction_id"], row["tx_offline"] = named_tx
        elif item.connector_id > 0:
            choices = candidates.get((item.ref.charger_id, item.connector_id), ())
            for row in item.rows:
                moment = row["sampled_at"]
                chosen = next((t for t in choices if t.started_at <= moment
                               and (t.stopped_at is None or moment <= t.stopped_at)), None)
                if chosen is not None:
                    row["transaction_id"], row["tx_offline"] = chosen.id, chosen.offline


# --------------------------------------------------------------------------- OCPP 2.0.1 transactions


def _register_wh(meter_values: list[dict[str, Any]] | None, context: str) -> int | None:
    """Energy.Active.Import.Register in Wh from 2.0.1 meter values (context preferred, else any)."""
    best = None
    for meter_value in meter_values or ():
        for sample in meter_value.get("sampled_value") or ():
            if (sample.get("measurand") or "Energy.Active.Import.Register") != "Energy.Active.Import.Register":
                continue
            measure = sample.get("unit_of_measure") or {}
            value = float(sample["value"]) * 10 ** int(measure.get("multiplier") or 0)
            if (measure.get("unit") or "Wh") == "kWh":
                value *= 1000
            if sample.get("context") == context or best is None:
                best = round(value)
    return best


#: ``Transaction.anomaly`` of a 2.0.1 transaction first heard of in an Updated (or other non-Started)
#: event: its start never reached us, and it may not even exist on the station's side.
UNKNOWN_START = "unknown_start"


@dataclass
class TransactionEventResult:
    id_token_status: str | None
    row_id: uuid.UUID
    started: bool
    stopped: bool
    offline: bool
    connector_id: int | None
    energy_wh: int | None = None
    #: Started without its start (``UNKNOWN_START``), empty otherwise.
    anomaly: str = ""
    #: An existing transaction changed in a way load management must see: it named its EVSE
    #: (a transaction of unknown EVSE takes no share of the site's budget until then), or its
    #: badge, shown late, was refused (ConcurrentTx…).
    changed: bool = False


async def record_transaction_event(
    session: AsyncSession, ref: StationRef, *, event_type: str, timestamp: dt.datetime, trigger_reason: str,
    seq_no: int, transaction_info: dict[str, Any], offline_flag: bool = False, evse: dict[str, Any] | None = None,
    id_token: dict[str, Any] | None = None, meter_value: list[dict[str, Any]] | None = None,
    received_at: dt.datetime, reservation_id: int | None = None,
) -> TransactionEventResult:
    """OCPP 2.0.1 TransactionEvent Started / Updated / Ended; the station names the transaction."""
    ocpp_id = transaction_info["transaction_id"]
    offline = offline_flag or is_offline(timestamp, received_at)
    connector_id = (evse or {}).get("id")
    token = (id_token or {}).get("id_token", "")
    status, badge_id = None, None
    if token:
        status, badge_id = await authorize_id_tag(session, ref.tenant_id, token, now=received_at, unknown="Unknown")
    row = await _transaction_by_ocpp_id(session, ref, ocpp_id)
    started = False
    if event_type != "Ended" and token and status == "Accepted" and badge_id is not None:
        if row is None or not row.id_tag:
            # The badge joins this transaction now (in Started, or in a later event: 2.0.1 lets a
            # session start at plug-in and be authorized afterwards): one session per badge.
            if await badges.badge_in_another_session(
                    session, ref.tenant_id, badge_id, charger_id=ref.charger_id,
                    connector_id=connector_id or (row.connector_id if row is not None else None),
                    transaction_id=row.id if row is not None else None):
                status = CONCURRENT_TX
        elif row.id_tag_status == CONCURRENT_TX and row.badge_id == badge_id:
            status = CONCURRENT_TX  # the same answer for the rest of a refused session
    if event_type == "Ended":
        result = await stop_transaction(
            session, ref, transaction_id=ocpp_id, meter_stop=_register_wh(meter_value, "Transaction.End"),
            timestamp=timestamp, reason=transaction_info.get("stopped_reason") or "Local", id_tag=token,
            transaction_data=meter_value, received_at=received_at, protocol="2.0.1",
        )
        if result.orphan and result.counted and connector_id:
            orphan = await session.get(Transaction, (ref.tenant_id, result.row_id))
            if orphan is not None:
                orphan.connector_id = connector_id
        return TransactionEventResult(status, result.row_id, False, result.counted, offline, connector_id, result.energy_wh)
    changed = False
    if row is None:
        # Started, or an Updated whose Started we never saw: open the transaction now. The latter is
        # kept (its meter values are data) but flagged: a station that invents a transaction id, or
        # whose Started was lost, must not take power from the real sessions (csms.domain.smart_charging
        # gives no share to a transaction whose EVSE is unknown).
        row = Transaction(
            tenant_id=ref.tenant_id, charger_id=ref.charger_id,
            charge_point_id=await _ensure_point(session, ref, connector_id, received_at=received_at) if connector_id else None,
            connector_id=connector_id, ocpp_transaction_id=ocpp_id, status="active", id_tag=token,
            id_tag_status=status or "", badge_id=badge_id,
            meter_start=_register_wh(meter_value, "Transaction.Begin"), started_at=timestamp, offline=offline,
            seq_no=seq_no, start_received_at=received_at, reservation_id=reservation_id,
            anomaly="" if event_type == "Started" else UNKNOWN_START,
        )
        session.add(row)
        started = True
        await reservations.consume(session, ref, reservation_id=reservation_id, transaction_id=row.id, at=timestamp)
    else:
        if token and not row.id_tag:
            row.id_tag, row.id_tag_status, row.badge_id = token, status or "", badge_id
            # Refused now (ConcurrentTx, Blocked…): it leaves the site's power sharing.
            changed = row.status == "active" and status not in ("Accepted", "", None)
        if row.connector_id is None and connector_id:
            # The station names the EVSE at last (OCPP 2.0.1 E01: ``evse`` is sent once, in the first
            # event that knows it): the point is known, and the transaction joins the sharing.
            row.connector_id = connector_id
            row.charge_point_id = await _ensure_point(session, ref, connector_id, received_at=received_at)
            changed = changed or row.status == "active"
        if seq_no > (row.seq_no or -1):
            row.seq_no = seq_no
        row.offline = row.offline or offline
    await session.flush()
    if meter_value:
        await _insert_samples(session, ref, row.connector_id or 0, meter_value, transaction=row,
                              received_at=received_at, protocol="2.0.1")
    return TransactionEventResult(status, row.id, started, False, offline, row.connector_id, anomaly=row.anomaly,
                                  changed=changed)
