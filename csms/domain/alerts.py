"""Supervision alerts (CCTP CPAM 5-5-4: « détecter via des alertes les défaillances
matérielles »; « alertes en cas de pannes avec remontée de l'élément en défaut (prise,
alimentation, communication borne/supervision…) »).

Two kinds, each opened once and closed when its condition ends:

* ``faulted`` (« Hors service »): a point, or the whole charger (connector 0),
  reports Faulted or Unavailable. Opened and closed by ``apply_status``, called from
  ``csms.domain.recording.record_status`` in the same transaction as the status itself:
  the alert exists as soon as the station's message is acknowledged.
* ``offline`` (« Hors ligne »): the charger's socket has been down longer than
  ``Settings.ocpp_offline_alert_minutes``. Nothing arrives when a station goes
  silent, so a periodic sweep (``sweep_tenant``) finds these; it also reconciles
  the faulted alerts with the points' current statuses. The sweep runs in every
  ingress process (``AlertWatcher``, started by ``csms.ingress.server.Ingress``), which
  also closes a charger's offline alert when it reconnects (``station.connected``).

Several processes may detect the same condition (scaled mode: N ingress processes,
each sweeping): the partial unique index ``uq_supervision_alerts_open`` (one open
alert per charger, connector and kind) makes the opening an ``INSERT ... ON CONFLICT
DO NOTHING``, and the closing an ``UPDATE ... WHERE closed_at IS NULL RETURNING``:
whichever process wins publishes the event, the others see no row and stay silent.

Every opening and closing is a durable event (``csms.domain.events.AlertOpened`` /
``AlertClosed``: ``csms.alert.opened`` / ``csms.alert.closed``), written to the outbox
(``app.outbox.publish_on_commit``) by the statement's own transaction, so it exists
exactly when the alert row changed; the relay delivers it after the commit, to the
incidents component and, for the live screens, on the bus (``csms.domain.subscribers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.bus import Bus
from app.db import Database, new_id, utcnow
from app.outbox import publish_on_commit
from csms.domain.events import STATION_CONNECTED, AlertClosed, AlertOpened
from csms.domain.identifiers import InvalidChargingId, parse_charging_id
from csms.domain.models import Alert, ChargeBoxRoute, ChargePoint, Charger, ConnectionLog
from csms.domain.states import OCPP_STATES, OUT_OF_SERVICE, is_out_of_service

__all__ = [
    "FAULTED",
    "KIND_LABELS",
    "OFFLINE",
    "SECURITY",
    "TOPIC_CLOSED",
    "TOPIC_OPENED",
    "AlertChange",
    "AlertWatcher",
    "apply_status",
    "close_all",
    "close_offline",
    "open_security",
    "run_sweep",
    "sweep_tenant",
]

log = logging.getLogger(__name__)

TOPIC_OPENED = AlertOpened.topic
TOPIC_CLOSED = AlertClosed.topic
FAULTED = "faulted"
OFFLINE = "offline"
#: A critical security event (``csms.domain.security_events``): opened by the event, never closed by the
#: station (nothing it reports says the danger is over); one open per charger.
SECURITY = "security"
KIND_LABELS = {FAULTED: "Hors service", OFFLINE: "Hors ligne", SECURITY: "Alerte de sécurité"}
#: How often the ingress sweeps for offline chargers (at most; shorter for a short threshold).
SWEEP_EVERY = 60.0


#: An alert opened or closed (its event: ``.topic``, ``.payload``), published with the change.
AlertChange = AlertOpened | AlertClosed


def _canonical(charger_canonical: str, connector_id: int) -> str:
    if not 1 <= connector_id <= 99:
        return charger_canonical
    try:
        return parse_charging_id(charger_canonical).child(connector_id).canonical
    except InvalidChargingId:
        return charger_canonical


def _change(session: AsyncSession, topic: str, tenant_id: uuid.UUID, charger_id: uuid.UUID, charge_box_id: str,
            charger_canonical: str, alert_id: uuid.UUID, connector_id: int, kind: str, status: str, error_code: str,
            since: dt.datetime, closed_at: dt.datetime | None = None) -> AlertChange:
    """The event of an alert row just written with ``session``, published with its transaction."""
    fields: dict[str, Any] = {
        "tenant_id": tenant_id, "alert_id": alert_id, "charger_id": charger_id, "charge_box_id": charge_box_id,
        "canonical_id": _canonical(charger_canonical, connector_id), "connector_id": connector_id, "kind": kind,
        "state": KIND_LABELS[kind], "status": status, "error_code": error_code, "since": since,
    }
    change: AlertChange
    if topic == TOPIC_CLOSED:
        assert closed_at is not None
        change = AlertClosed(**fields, closed_at=closed_at)
    else:
        change = AlertOpened(**fields)
    publish_on_commit(session, change)
    return change


def _insert(session: AsyncSession) -> Any:
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(Alert.__table__)


async def _open(
    session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, connector_id: int, kind: str, *,
    since: dt.datetime, now: dt.datetime, status: str = "", error_code: str = "",
) -> uuid.UUID | None:
    """Open the alert unless one is open already (here or in a concurrent process): its id, or None."""
    alert_id = new_id()
    inserted = await session.scalar(
        _insert(session).values(
            tenant_id=tenant_id, id=alert_id, charger_id=charger_id, connector_id=connector_id, kind=kind,
            status=status[:32], error_code=error_code[:50], opened_at=since, detected_at=now, closed_at=None,
            close_reason="",
        ).on_conflict_do_nothing().returning(Alert.__table__.c.id)
    )
    return inserted


async def _close(
    session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, kind: str, *, at: dt.datetime, reason: str,
    connector_id: int | None = None,
) -> list[tuple[uuid.UUID, int, dt.datetime, str, str]]:
    """Close the open alerts of this kind (one connector, or all): (id, connector, since, status, error) of each."""
    stmt = update(Alert).where(
        Alert.tenant_id == tenant_id, Alert.charger_id == charger_id, Alert.kind == kind, Alert.closed_at.is_(None)
    )
    if connector_id is not None:
        stmt = stmt.where(Alert.connector_id == connector_id)
    rows = await session.execute(
        stmt.values(closed_at=at, close_reason=reason[:40])
        .returning(Alert.id, Alert.connector_id, Alert.opened_at, Alert.status, Alert.error_code)
        .execution_options(synchronize_session=False)
    )
    return [tuple(row) for row in rows.all()]  # type: ignore[misc]


# --------------------------------------------------------------------------- from status notifications


async def apply_status(
    session: AsyncSession, *, tenant_id: uuid.UUID, charger_id: uuid.UUID, charge_box_id: str, canonical_id: str,
    connector_id: int, status: str, error_code: str, at: dt.datetime, now: dt.datetime,
) -> list[AlertChange]:
    """A current StatusNotification: Faulted / Unavailable opens the point's « Hors service »
    alert, any other status closes it."""
    if is_out_of_service(status):
        alert_id = await _open(session, tenant_id, charger_id, connector_id, FAULTED, since=at, now=now,
                               status=status, error_code=error_code)
        if alert_id is None:
            return []
        return [_change(session, TOPIC_OPENED, tenant_id, charger_id, charge_box_id, canonical_id, alert_id,
                        connector_id, FAULTED, status, error_code, at)]
    closed = await _close(session, tenant_id, charger_id, FAULTED, at=at, reason=f"status:{status}",
                          connector_id=connector_id)
    return [_change(session, TOPIC_CLOSED, tenant_id, charger_id, charge_box_id, canonical_id, alert_id, connector,
                    FAULTED, old_status, old_error, since, at)
            for alert_id, connector, since, old_status, old_error in closed]


async def open_security(
    session: AsyncSession, *, tenant_id: uuid.UUID, charger_id: uuid.UUID, charge_box_id: str, canonical_id: str,
    event_type: str, at: dt.datetime, now: dt.datetime,
) -> list[AlertChange]:
    """A critical security event opens the charger's « Alerte de sécurité » (unless one is open already)."""
    alert_id = await _open(session, tenant_id, charger_id, 0, SECURITY, since=at, now=now, status=event_type)
    if alert_id is None:
        return []
    return [_change(session, TOPIC_OPENED, tenant_id, charger_id, charge_box_id, canonical_id, alert_id, 0,
                    SECURITY, event_type[:32], "", at)]


# --------------------------------------------------------------------------- the sweep


async def close_offline(
    session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, *, at: dt.datetime
) -> list[AlertChange]:
    """The charger is connected again: its offline alert, if any, ends at ``at``."""
    closed = await _close(session, tenant_id, charger_id, OFFLINE, at=at, reason="reconnected")
    if not closed:
        return []
    charger = await session.get(Charger, (tenant_id, charger_id))
    if charger is None:
        return []
    return [_change(session, TOPIC_CLOSED, tenant_id, charger_id, charger.charge_box_id, charger.canonical_id,
                    alert_id, 0, OFFLINE, "", "", since, at) for alert_id, _c, since, _s, _e in closed]


async def close_all(
    session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, *, at: dt.datetime, reason: str,
) -> list[AlertChange]:
    """Close every open alert of the charger (it is decommissioned: nothing of it is watched any more)."""
    charger = await session.get(Charger, (tenant_id, charger_id))
    if charger is None:
        return []
    changes = []
    for kind in (FAULTED, OFFLINE):
        for alert_id, connector, since, status, error in await _close(session, tenant_id, charger_id, kind, at=at,
                                                                      reason=reason):
            changes.append(_change(session, TOPIC_CLOSED, tenant_id, charger_id, charger.charge_box_id,
                                   charger.canonical_id, alert_id, connector, kind, status, error, since, at))
    return changes


async def sweep_tenant(
    session: AsyncSession, tenant_id: uuid.UUID, *, now: dt.datetime, threshold: dt.timedelta,
    still_offline: set[uuid.UUID] | None = None,
) -> list[AlertChange]:
    """Open the offline alerts due, close those of reconnected chargers, and reconcile the
    faulted alerts with the current statuses (in case a status was recorded without them).

    ``still_offline`` receives the chargers whose offline alert stays open.
    """
    changes: list[AlertChange] = []
    last_disconnect = (
        select(ConnectionLog.charger_id, func.max(ConnectionLog.disconnected_at).label("since"),
               func.max(ConnectionLog.connected_at).label("connected"))
        .where(ConnectionLog.tenant_id == tenant_id)
        .group_by(ConnectionLog.charger_id)
        .subquery()
    )
    chargers = (await session.execute(
        select(Charger.id, Charger.charge_box_id, Charger.canonical_id, Charger.online, Charger.last_status,
               Charger.last_error_code, Charger.last_status_at, last_disconnect.c.since, last_disconnect.c.connected)
        .join(last_disconnect, last_disconnect.c.charger_id == Charger.id)  # never connected: never commissioned
        .where(Charger.tenant_id == tenant_id, Charger.decommissioned_at.is_(None))  # retired: never watched again
    )).all()
    open_alerts = {
        (row.charger_id, row.connector_id, row.kind)
        for row in (await session.execute(
            select(Alert.charger_id, Alert.connector_id, Alert.kind)
            .where(Alert.tenant_id == tenant_id, Alert.closed_at.is_(None))
        )).all()
    }
    by_id = {}
    for row in chargers:
        by_id[row.id] = row
        if row.online:
            if (row.id, 0, OFFLINE) in open_alerts:
                changes += await close_offline(session, tenant_id, row.id, at=row.connected or now)
        elif (row.id, 0, OFFLINE) in open_alerts:
            if still_offline is not None:
                still_offline.add(row.id)
        elif row.since is not None and now - row.since >= threshold:
            alert_id = await _open(session, tenant_id, row.id, 0, OFFLINE, since=row.since, now=now)
            if alert_id is not None:
                changes.append(_change(session, TOPIC_OPENED, tenant_id, row.id, row.charge_box_id, row.canonical_id,
                                       alert_id, 0, OFFLINE, "", "", row.since))
            if still_offline is not None:
                still_offline.add(row.id)
    # Faulted alerts follow the current status of each point and of connector 0.
    statuses = [(row.id, 0, row.last_status, row.last_error_code, row.last_status_at) for row in chargers]
    statuses += (await session.execute(
        select(ChargePoint.charger_id, ChargePoint.connector_id, ChargePoint.last_status, ChargePoint.last_error_code,
               ChargePoint.last_status_at)
        .where(ChargePoint.tenant_id == tenant_id, ChargePoint.last_status != "")
    )).all()
    for charger_id, connector_id, status, error_code, status_at in statuses:
        charger = by_id.get(charger_id)
        if charger is None or not status or status not in OCPP_STATES:
            continue
        faulted = OCPP_STATES[status] == OUT_OF_SERVICE
        if faulted != ((charger_id, connector_id, FAULTED) in open_alerts):
            changes += await apply_status(
                session, tenant_id=tenant_id, charger_id=charger_id, charge_box_id=charger.charge_box_id,
                canonical_id=charger.canonical_id, connector_id=connector_id, status=status,
                error_code=error_code or "", at=status_at or now, now=now,
            )
    return changes


#: Runs ``fn(session)`` in a transaction scoped to the tenant and returns its result once committed
#: (the ingress passes its group-commit writer: on SQLite, one writer for everything).
Submit = Callable[[uuid.UUID, Callable[[AsyncSession], Awaitable[Any]]], Awaitable[Any]]


def _transactions_of(db: Database) -> Submit:
    async def submit(tenant_id: uuid.UUID, fn: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with db.transaction([tenant_id], actor={"user_id": None, "label": "supervision"}) as session:
            return await fn(session)

    return submit


async def run_sweep(
    db: Database, *, now: dt.datetime | None = None, threshold: dt.timedelta,
    tenant_ids: list[uuid.UUID] | None = None, submit: Submit | None = None,
    still_offline: set[uuid.UUID] | None = None,
) -> list[AlertChange]:
    """One sweep over every tenant, each in its own transaction (which writes its alerts' events)."""
    now = now or utcnow()
    submit = submit or _transactions_of(db)
    if tenant_ids is None:
        async with db.session() as session:  # the platform routing table: tenants that have chargers
            tenant_ids = list(await session.scalars(select(ChargeBoxRoute.tenant_id).distinct()))
    changes: list[AlertChange] = []
    for tenant_id in tenant_ids:
        changes += await submit(tenant_id, lambda s, t=tenant_id: sweep_tenant(
            s, t, now=now, threshold=threshold, still_offline=still_offline))
    return changes


# --------------------------------------------------------------------------- in the ingress process


class AlertWatcher:
    """The periodic sweep and the reconnection listener of one ingress process."""

    def __init__(self, db: Database, bus: Bus, *, threshold: dt.timedelta, every: float | None = None,
                 submit: Submit | None = None) -> None:
        self.db = db
        self.bus = bus
        self.submit = submit or _transactions_of(db)
        self.threshold = threshold
        #: Chargers with an open offline alert as of the last sweep: only their reconnection has
        #: something to close (a boot storm costs no write). The sweep closes any other.
        self.offline: set[uuid.UUID] = set()
        self.every = every or max(5.0, min(SWEEP_EVERY, threshold.total_seconds() / 3))
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], Awaitable[None]] | None = None

    async def start(self) -> None:
        self._unsubscribe = await self.bus.subscribe(STATION_CONNECTED, self._on_connected)
        self._task = asyncio.create_task(self._loop(), name="csms-alert-sweep")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            await self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.sweep()
            except Exception:
                log.exception("alert sweep failed")

    async def sweep(self, *, now: dt.datetime | None = None) -> list[AlertChange]:
        """One sweep now (``now``: the moment it takes as current; tests drive time with it)."""
        still_offline: set[uuid.UUID] = set()
        changes = await run_sweep(self.db, now=now, threshold=self.threshold, submit=self.submit,
                                  still_offline=still_offline)
        self.offline = still_offline
        return changes

    async def _on_connected(self, topic: str, payload: dict[str, Any]) -> None:
        try:
            tenant_id, charger_id = uuid.UUID(payload["tenant_id"]), uuid.UUID(payload["charger_id"])
            if charger_id not in self.offline:
                return
            self.offline.discard(charger_id)
            at = dt.datetime.fromisoformat(str(payload["at"]).replace("Z", "+00:00"))
            await self.submit(tenant_id, lambda s: close_offline(s, tenant_id, charger_id, at=at))
        except Exception:
            log.exception("closing the offline alert of %s failed", payload.get("charge_box_id"))
