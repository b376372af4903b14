"""Every topic csms publishes, with its payload, in one place (docs/events.md has the catalogue).

Two kinds (DESIGN.md « Events »):

* **Durable** (``app.outbox``): a typed ``Event``, written with ``publish_on_commit`` in the
  transaction of the change it reports, delivered at least once to the durable subscribers
  (``csms.domain.subscribers``), after a crash too. What must not be lost: an alert opened or
  closed (incidents open and close tickets on them), a charger retired (its live socket
  must be closed), a site's power budget changed (its stations must get their new limits).
* **Fire-and-forget** (``app.bus``: at most once, to the processes subscribed when it is
  published): the notices below. Each says why losing one is harmless: what it reports
  is in the database, and whoever acts on it also reconciles from there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import ClassVar, TypedDict

from app.outbox import Event

__all__ = [
    "BADGES_CHANGED",
    "LOAD_UNREACHED",
    "STATION_BOOTED",
    "STATION_CONNECTED",
    "STATION_DISCONNECTED",
    "STATION_STATUS",
    "TRANSACTION_STARTED",
    "TRANSACTION_STOPPED",
    "TRANSACTION_TOPICS",
    "TRANSACTION_UPDATED",
    "AlertClosed",
    "AlertOpened",
    "BadgesChanged",
    "ChargerDecommissioned",
    "ChargingSessionStopped",
    "LoadUnreached",
    "RegistryChanged",
    "SiteBudgetChanged",
    "StationBooted",
    "StationConnected",
    "StationDisconnected",
    "StationNotice",
    "StationStatus",
    "TransactionStarted",
    "TransactionStopped",
    "TransactionUpdated",
    "node_topic",
]


# --------------------------------------------------------------------------- durable (app.outbox)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Alert(Event):
    """A supervision alert (``csms.domain.alerts``, CCTP CPAM 5-5-4 « alertes en cas de pannes »)."""

    tenant_id: uuid.UUID
    alert_id: uuid.UUID
    charger_id: uuid.UUID
    charge_box_id: str
    #: the point's identifier (5-5-1), or the charger's for connector 0
    canonical_id: str
    #: 0: the whole charger
    connector_id: int
    #: ``faulted`` or ``offline``, and the CCTP's words for it (« Hors service », « Hors ligne »)
    kind: str
    state: str
    #: the OCPP status and error code that opened it (empty for offline)
    status: str
    error_code: str
    #: when the condition began (the station's timestamp, or the disconnection)
    since: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class AlertOpened(_Alert):
    """Published by ``csms.domain.alerts`` in the transaction that opens the alert (the StatusNotification's
    group commit, or the offline sweep's)."""

    topic: ClassVar[str] = "csms.alert.opened"


@dataclasses.dataclass(frozen=True, kw_only=True)
class AlertClosed(_Alert):
    """Published in the transaction that closes it (a later status, a reconnection, a decommissioning)."""

    topic: ClassVar[str] = "csms.alert.closed"
    closed_at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChargerDecommissioned(Event):
    """A charger retired for good (``csms.domain.registry.decommission_charger``): its route is gone, its
    live socket, if any, must be closed wherever it is held."""

    topic: ClassVar[str] = "csms.charger.decommissioned"
    tenant_id: uuid.UUID
    charger_id: uuid.UUID
    charge_box_id: str
    canonical_id: str
    decommissioned_at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegistryChanged(Event):
    """The tenant's station registry changed: a charger registered (one event for a whole fleet import), edited
    or retired (``csms.domain.registry.announce_registry_change``, at most once per transaction). Durable because
    the tenant's open-data files must follow it (issue 16 §3: « the static file regenerated on every change »,
    ``csms.opendata``)."""

    topic: ClassVar[str] = "csms.registry.changed"
    tenant_id: uuid.UUID
    #: ``registered``, ``updated`` or ``decommissioned``
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class SiteBudgetChanged(Event):
    """A site's power budget was set, changed or removed (``csms.domain.smart_charging``): its running
    sessions must be shared out again (CCTP CPAM article 4)."""

    topic: ClassVar[str] = "csms.load.budget_changed"
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    #: None: removed (the limits are lifted)
    budget_kw: float | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChargingSessionStopped(Event):
    """A charging session's stop was recorded for the first time (``csms.domain.recording.stop_transaction``:
    OCPP 1.6 StopTransaction, 2.0.1 TransactionEvent Ended; a replayed stop publishes nothing, an orphan stop whose
    start was never seen neither). Durable because a stopped session becomes money: paid charging prices and
    debits it (CCTP CPAM 5-5-5-2, ``billing.charging``). ``transaction_id`` is the session's id in the
    supervision (``csms.services.charging_session`` reads it back)."""

    topic: ClassVar[str] = "csms.transaction.stopped"
    tenant_id: uuid.UUID
    transaction_id: uuid.UUID
    charger_id: uuid.UUID
    ocpp_transaction_id: str
    stopped_at: dt.datetime
    #: ``meter_stop - meter_start`` in Wh, None when unknown
    energy_wh: int | None = None


# --------------------------------------------------------------------------- fire-and-forget (app.bus)


class StationNotice(TypedDict):
    """What every station notice carries (``csms.ingress.server``)."""

    tenant_id: str
    charger_id: str
    charge_box_id: str
    canonical_id: str


#: Published by the ingress after each commit, for live screens and its own processes. Fire-and-forget:
#: the record is ``charger_connections`` / ``status_events`` / ``charging_transactions``, and those who act
#: on a notice heal a lost one from there: the offline-alert sweep closes what a missed ``station.connected``
#: left open, the local-list sweep checks every station's list version each minute; another ingress
#: process that missed ``station.connected`` keeps a stale socket until it drops.
STATION_CONNECTED = "station.connected"
STATION_DISCONNECTED = "station.disconnected"
STATION_BOOTED = "station.booted"
STATION_STATUS = "station.status"
#: Also fire-and-forget for now, with one known gap: load management recomputes a site on them, in the
#: ingress process that committed the start or stop; a crash between that commit and the recomputation
#: leaves the site's limits as they were until its next start, stop or budget change.
TRANSACTION_STARTED = "transaction.started"
TRANSACTION_UPDATED = "transaction.updated"
TRANSACTION_STOPPED = "transaction.stopped"
TRANSACTION_TOPICS = (TRANSACTION_STARTED, TRANSACTION_UPDATED, TRANSACTION_STOPPED)


class StationConnected(StationNotice):
    connection_id: str
    node: str
    protocol: str
    remote_address: str
    at: str


class StationDisconnected(StationNotice):
    connection_id: str
    node: str
    reason: str
    close_code: int | None
    at: str


class StationBooted(StationNotice):
    at: str
    firmware_version: str


class StationStatus(StationNotice):
    connector_id: int
    point_canonical_id: str
    status: str
    error_code: str
    at: str
    offline: bool
    current: bool


class TransactionStarted(StationNotice, total=False):
    transaction_id: int | str
    connector_id: int | None
    id_tag: str
    id_tag_status: str | None
    meter_start: int
    started_at: str
    offline: bool
    anomaly: str


class TransactionUpdated(StationNotice):
    transaction_id: str
    connector_id: int | None
    id_tag_status: str | None


class TransactionStopped(StationNotice, total=False):
    transaction_id: int | str
    connector_id: int | None
    meter_stop: int
    energy_wh: int | None
    reason: str
    stopped_at: str
    orphan: bool
    offline: bool


#: A tenant's badges changed (published by the web after the commit): the ingress processes push the new
#: local list to their stations. Fire-and-forget: the list's version is in the database and every ingress
#: compares its stations' confirmed versions with it each minute and at each connection (``csms.domain.badges``),
#: so a lost notice delays a push by a sweep at most.
BADGES_CHANGED = "badges.changed"


class BadgesChanged(TypedDict):
    tenant_id: str


#: A recomputation could not reach these chargers (offline, no answer): the ingress processes remember them
#: and recompute their site when one connects. Fire-and-forget: the unreached profile is recorded
#: (``sent_charging_profiles``) and re-sent at the site's next recomputation in any case.
LOAD_UNREACHED = "load.unreached"


class LoadUnreached(TypedDict):
    tenant_id: str
    site_id: str
    charger_ids: list[str]


def node_topic(node: str) -> str:
    """The bus topic one ingress process serves commands on (``csms.domain.commands``: request/reply, answered
    or timed out at once, never queued: a command is not an event)."""
    return f"ocpp.node.{node}"
