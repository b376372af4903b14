"""The OCPP ingress: ``ws://host:port/ocpp/{charge_box_id}``, OCPP 1.6J and 2.0.1.

DESIGN.md « OCPP ingress rules », in code:

* Handshake: the charge_box_id is looked up in the platform routing table
  (unknown → HTTP 404), the Basic-auth password checked against the charger's
  salted HMAC-SHA-256 (legacy: argon2id) hash (missing or wrong → HTTP 401; OCPP security profiles 1 and 2, TLS
  being the proxy's job), the subprotocol negotiated (``ocpp2.0.1`` preferred,
  then ``ocpp1.6``; a station offering neither is refused with HTTP 400 unless
  it is in lenient mode, then spoken to in 1.6).
* One live socket per station: a new connection replaces the old one, which is
  closed (also across ingress processes, through the bus). Every connection and
  disconnection is a row in ``charger_connections``.
* Every incoming frame is checked here before the library routes it: envelope,
  action, and payload against the library's own schemas compiled with
  fastjsonschema (``csms.domain.protocol``). A bad frame gets its CallError and
  changes nothing. Oversized messages close the socket with 1009.
* A CallResult or CallError answers a call of ours or is dropped here: the library
  queues every answer it is handed until one of its own calls reads it, so answers
  to nothing would be held for the connection's life (memory a station could grow
  at will). Dropped answers are counted (``unsolicited_answers``, per connection and
  per process) and logged at most once a minute per station (docs/security.md « OCPP wire »).
* Handlers are ``@on`` methods taking ``**kwargs``; each submits one unit of work
  to the group-commit writer (``csms.domain.writer``) and answers only once it is
  committed. Handlers never ``await self.call()`` (the receive loop would wait on
  itself); commands to stations are scheduled from outside through
  ``ConnectionRegistry``.
* After each commit, a notice goes on the bus (``station.connected``,
  ``station.disconnected``, ``station.status``, ``transaction.started``,
  ``transaction.updated`` (a transaction named its EVSE, or its badge was refused
  afterwards: load management recomputes), ``transaction.stopped``) for supervision
  and live screens: fire-and-forget (``csms.domain.events`` says why). What must not be lost
  (the alerts a status opens or closes) is written to the outbox in the commit itself.

Sending a command to a station, from any process: ``csms.domain.commands.send_command``
(over the bus to the ingress holding the socket, one call in flight per station,
logged). Here, each link's ``commands`` channel carries those calls and this
process serves them on the bus topic ``ocpp.node.<node>``;
``await ingress.registry.call("CPAM-LM-01", payload)`` takes the same per-station
lock. Schedule it in a task when it starts from a handler.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import http
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from ocpp.messages import Call
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from app.bus import Bus, create_bus
from app.db import Database, new_id, utcnow
from app.outbox import announce_commits
from app.settings import Settings
from csms.domain import recording as supervision
from csms.domain import reservations
from csms.domain.alerts import AlertWatcher
from csms.domain.badges import AuthorizationTasks
from csms.domain.batching import BatchedLookup
from csms.domain.commands import CallChannel, serve_commands
from csms.domain.events import (
    STATION_BOOTED,
    STATION_CONNECTED,
    STATION_DISCONNECTED,
    STATION_STATUS,
    TRANSACTION_STARTED,
    TRANSACTION_STOPPED,
    TRANSACTION_UPDATED,
)
from csms.domain.ports import StationRef
from csms.domain.protocol import (
    FrameError,
    Repair,
    call_result_frame,
    check_call,
    compile_validator,
    has_schema,
    parse_frame,
    parse_timestamp,
    snake_keys,
)
from csms.domain.recording import HEARTBEAT_INTERVAL
from csms.domain.registry import station_hash_is_legacy, upgrade_station_password, verify_station_password
from csms.domain.smart_charging import LoadManager
from csms.domain.writer import GroupCommitWriter, touch_later

__all__ = [
    "ChargeBox16",
    "ChargeBox201",
    "ConnectionRegistry",
    "Ingress",
    "StationNotConnected",
    "current_ingress",
    "run_ingress",
]

log = logging.getLogger(__name__)
#: The library logs every frame at INFO; keep that out of the service log.
frame_log = logging.getLogger("csms.frames")
if frame_log.level == logging.NOTSET:
    frame_log.setLevel(logging.WARNING)

#: websockets logs every connection opened and closed at INFO: thousands of lines in a boot storm,
#: and what matters of them is recorded in ``charger_connections``. Warnings and errors still show.
socket_log = logging.getLogger("csms.sockets")
if socket_log.level == logging.NOTSET:
    socket_log.setLevel(logging.WARNING)

T = TypeVar("T")
SUBPROTOCOLS = (Subprotocol("ocpp2.0.1"), Subprotocol("ocpp1.6"))
#: Largest frame accepted; a bigger one closes the socket with 1009 (message too big).
MAX_MESSAGE_SIZE = 512 * 1024
PATH_PREFIX = "/ocpp/"
#: A boot storm of legacy argon2id hashes queues on their checks (~0.1 s of CPU each): allow for it.
HANDSHAKE_TIMEOUT = 60
#: ``last_seen_at`` is refreshed by any message at most this often (heartbeats: always).
TOUCH_EVERY = dt.timedelta(seconds=60)
#: Connections waiting to be accepted (the listen backlog; the kernel caps it at net.core.somaxconn).
#: asyncio's default, 100, overflows in a boot storm: the kernel drops the connections beyond it
#: and the stations retry one, three, seven seconds later (TcpExtListenOverflows).
LISTEN_BACKLOG = 4096
#: Group commits in flight at once on PostgreSQL (csms.domain.writer): one batch's round trips
#: overlap another's; a station's own messages stay in order.
WRITER_WORKERS = 3
#: Bus events published together at most (csms.ingress.server.Ingress._publish).
PUBLISH_BATCH = 500
#: A station sending answers to calls never made is logged at most this often (with the count).
UNSOLICITED_LOG_EVERY = 60.0


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StationNotConnected(LookupError):
    """The station has no live socket on this ingress process."""


class ConnectionRegistry:
    """The live connections of this process, by charge_box_id (one per station)."""

    def __init__(self) -> None:
        self._live: dict[str, _StationLink] = {}

    def get(self, charge_box_id: str) -> ChargeBox16 | ChargeBox201 | None:
        return self._live.get(charge_box_id)  # type: ignore[return-value]

    def ids(self) -> list[str]:
        return sorted(self._live)

    def __contains__(self, charge_box_id: object) -> bool:
        return charge_box_id in self._live

    def __len__(self) -> int:
        return len(self._live)

    async def call(self, charge_box_id: str, payload: Any) -> Any:
        """Send a CSMS-initiated call; a CallError from the station raises (``suppress=False``)."""
        station = self.get(charge_box_id)
        if station is None:
            raise StationNotConnected(charge_box_id)
        async with station.commands.lock:  # one CSMS call in flight per station (csms.domain.commands)
            return await station.call(payload, suppress=False)


async def _load_handshakes(db: Database, charge_box_ids: list[str]) -> dict[str, tuple[StationRef, str]]:
    """Route and charger of many handshakes in one transaction (``csms.domain.batching.BatchedLookup``:
    a boot storm of 10,000 stations costs tens of queries, not 20,000)."""
    async with db.session() as session:
        return await supervision.load_stations(session, charge_box_ids)


# --------------------------------------------------------------------------- per-connection link


class _StationLink:
    """What both protocol versions share: frame checks, the writer, events.

    Mixed into the library's ``ChargePoint`` classes; it extends the public
    ``route_message`` and uses no private method of the library.
    """

    _ocpp_version: str
    #: Action -> our handler's method name, per class (``handled_actions``, set after the classes).
    ROUTES: dict[str, str] = {}

    def __init__(
        self, charge_box_id: str, websocket: ServerConnection, *, ingress: Ingress, ref: StationRef,
        connection_id: uuid.UUID, response_timeout: float = 30,
    ) -> None:
        super().__init__(charge_box_id, websocket, response_timeout=response_timeout, logger=frame_log)  # type: ignore[call-arg]
        self.websocket = websocket
        self.ingress = ingress
        self.ref = ref
        self.connection_id = connection_id
        self.replaced = False
        #: Set by whoever closes the socket on purpose (``csms.domain.commands.close_station``): the
        #: disconnection's recorded reason, e.g. ``decommissioned``.
        self.close_reason: str | None = None
        self.rejected_frames = 0
        #: CallResults / CallErrors answering no call of ours, dropped at the edge.
        self.unsolicited_answers = 0
        #: Unique ids of the library's own calls (``call``) waiting for their answer.
        self._library_calls: set[str] = set()
        self._received_at = utcnow()
        self._touched_at = self._received_at  # the connection row's handshake wrote last_seen_at
        self._repairs: list[Repair] = []
        #: Remote commands (csms.domain.commands): one call in flight, answers matched here.
        self.commands = CallChannel(websocket.send)

    # -- frames ---------------------------------------------------------------

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Check the frame, then let the library route it (handlers skip its jsonschema validation)."""
        self._received_at = utcnow()
        version = self._ocpp_version
        try:
            frame = parse_frame(raw_msg, version)
            if frame is None:
                return  # unknown MessageTypeId: ignored (OCPP-J)
            if frame.message_type != 2:
                if self.commands.resolve(frame.unique_id, raw_msg):
                    return  # the answer to a remote command (csms.domain.commands), not the library's
                if frame.unique_id not in self._library_calls:
                    self._drop_unsolicited(frame.message_type)
                    return  # answers nothing we sent: never handed to the library, which would keep it
            if frame.message_type == 2:
                if frame.action not in self.ROUTES:
                    # OCPP-J error codes: NotImplemented « Requested Action is not known by receiver »,
                    # NotSupported « Requested Action is recognized but not supported by the receiver ».
                    known = has_schema(version, frame.action)
                    raise FrameError("NotSupported" if known else "NotImplemented",
                                     f"{frame.action} is not handled by this CSMS", frame.unique_id)
                payload, self._repairs = check_call(
                    version, frame.action, frame.payload, frame.unique_id, lenient=self.ref.lenient
                )
        except FrameError as exc:
            self.rejected_frames += 1
            log.info("%s: rejected frame (%s: %s)", self.id, exc.code, exc.cause)
            await self.websocket.send(exc.frame(version))
            return
        if frame.message_type == 2:
            await self._dispatch(frame.unique_id, frame.action, payload)
        else:
            await super().route_message(raw_msg)  # type: ignore[misc]  # answers to the library's own call()

    async def call(self, payload: Any, suppress: bool = True, unique_id: str | None = None,
                   skip_schema_validation: bool = False) -> Any:
        """The library's ``call``, its unique id remembered while it waits: only its answer is let through."""
        unique_id = unique_id or str(uuid.uuid4())
        self._library_calls.add(unique_id)
        try:
            return await super().call(payload, suppress=suppress, unique_id=unique_id,  # type: ignore[misc]
                                      skip_schema_validation=skip_schema_validation)
        finally:
            self._library_calls.discard(unique_id)

    def _drop_unsolicited(self, message_type: int) -> None:
        """OCPP-J: a CallResult / CallError answers a Call of the receiver; one answering none is dropped."""
        self.unsolicited_answers += 1
        self.ingress.unsolicited_answers += 1
        self.ingress.log_unsolicited(self.id, self.unsolicited_answers, message_type)

    async def _dispatch(self, unique_id: str, action: str, payload: dict[str, Any]) -> None:
        """What the library's ``_handle_call`` does for our handlers, without its per-message costs.

        The payload was parsed and checked once (``route_message``); the library would
        parse it again, convert every key with two regular expressions and inspect the
        handler's signature at every message. Here the key conversions are the
        library's own functions, remembered per key (``csms.domain.protocol.snake_keys`` /
        ``camel_keys``), and a handler's exception becomes the library's CallError.
        Our handlers take ``**kwargs``, never ``call_unique_id``, and have no
        ``@after`` hook (``test_ingress`` checks it).
        """
        handler = getattr(self, self.ROUTES[action])
        try:
            response = await handler(**snake_keys(payload))
        except Exception as exc:  # noqa: BLE001 - answered as the library would: a CallError
            log.exception("%s: %s failed", self.id, action)
            await self.websocket.send(Call(unique_id, action, payload).create_call_error(exc).to_json())
            return
        await self.websocket.send(call_result_frame(unique_id, response))

    # -- units of work --------------------------------------------------------

    async def submit(self, fn: Callable[[AsyncSession], Awaitable[T]], *, touch: bool = True) -> T:
        """Run ``fn`` in the next group commit (with this message's lenient-mode warnings); return once committed.

        Any message shows the station alive: ``last_seen_at`` is refreshed in the same
        unit, at most every ``TOUCH_EVERY`` (heartbeats always write it themselves).
        """
        repairs, self._repairs = self._repairs, []
        ref, received_at = self.ref, self._received_at
        touch = touch and received_at - self._touched_at >= TOUCH_EVERY

        async def unit(session: AsyncSession) -> T:
            for repair in repairs:
                await supervision.record_station_event(
                    session, ref, "lenient_repair", repair.message, {"field": repair.path},
                    received_at=received_at, severity="warning",
                )
            if touch:
                await touch_later(session, ref.tenant_id, ref.charger_id, received_at)
            return await fn(session)

        result = await self.ingress.writer.submit(ref.tenant_id, unit, actor=ref.actor)
        if touch:
            self._touched_at = received_at
        return result

    def emit(self, topic: str, **payload: Any) -> None:
        self.ingress.emit(topic, {
            "tenant_id": str(self.ref.tenant_id), "charger_id": str(self.ref.charger_id),
            "charge_box_id": self.ref.charge_box_id, "canonical_id": self.ref.canonical_id, **payload,
        })

    @property
    def received_at(self) -> dt.datetime:
        return self._received_at

    def ts(self, value: str | None) -> dt.datetime | None:
        return parse_timestamp(value)[0] if value else None


# --------------------------------------------------------------------------- OCPP 1.6


class ChargeBox16(_StationLink, ChargePoint16):
    """A connected OCPP 1.6J charger."""

    @on(Action16.boot_notification, skip_schema_validation=True)
    async def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any) -> Any:
        now = self.received_at
        info = {
            "vendor": charge_point_vendor, "model": charge_point_model,
            "serial_number": kwargs.get("charge_point_serial_number"),
            "charge_box_serial_number": kwargs.get("charge_box_serial_number"),
            "firmware_version": kwargs.get("firmware_version"), "iccid": kwargs.get("iccid"),
            "imsi": kwargs.get("imsi"), "meter_type": kwargs.get("meter_type"),
            "meter_serial_number": kwargs.get("meter_serial_number"),
        }
        await self.submit(lambda s: supervision.record_boot(s, self.ref, info, received_at=now))
        self.emit(STATION_BOOTED, at=iso(now), firmware_version=info["firmware_version"] or "")
        return result16.BootNotification(current_time=iso(utcnow()), interval=HEARTBEAT_INTERVAL, status="Accepted")

    @on(Action16.heartbeat, skip_schema_validation=True)
    async def on_heartbeat(self, **kwargs: Any) -> Any:
        now = self.received_at
        # last_seen_at only: one UPDATE for all the heartbeats of a group commit (csms.domain.writer)
        await self.submit(lambda s: touch_later(s, self.ref.tenant_id, self.ref.charger_id, now), touch=False)
        self._touched_at = now
        return result16.Heartbeat(current_time=iso(utcnow()))

    @on(Action16.status_notification, skip_schema_validation=True)
    async def on_status_notification(self, connector_id: int, error_code: str, status: str, **kwargs: Any) -> Any:
        now, ts = self.received_at, self.ts(kwargs.get("timestamp"))
        result = await self.submit(lambda s: supervision.record_status(
            s, self.ref, connector_id=connector_id, status=status,
            error_code="" if error_code == "NoError" else error_code, info=kwargs.get("info") or "",
            vendor_id=kwargs.get("vendor_id") or "", vendor_error_code=kwargs.get("vendor_error_code") or "",
            timestamp=ts, received_at=now,
        ))
        self.emit(STATION_STATUS, connector_id=connector_id, point_canonical_id=result.canonical_id, status=status,
                  error_code=error_code, at=iso(ts or now), offline=result.offline, current=result.current)
        # Its alerts (csms.alert.opened / closed) are durable: in the outbox with this commit, sent by the relay.
        if result.cancelled_reservations:  # the point faulted: CancelReservation, after the commit
            reservations.cancel_later(self.ingress, self.ref, result.cancelled_reservations)
        return result16.StatusNotification()

    @on(Action16.authorize, skip_schema_validation=True)
    async def on_authorize(self, id_tag: str, **kwargs: Any) -> Any:
        now = self.received_at

        async def unit(session: AsyncSession) -> str:
            status, _ = await supervision.authorize_at_charger(session, self.ref, id_tag, now=now)
            return status

        status = await self.submit(unit)
        return result16.Authorize(id_tag_info={"status": status})

    @on(Action16.start_transaction, skip_schema_validation=True)
    async def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str,
                                   **kwargs: Any) -> Any:
        now, started_at = self.received_at, self.ts(timestamp)
        assert started_at is not None
        result = await self.submit(lambda s: supervision.start_transaction(
            s, self.ref, connector_id=connector_id, id_tag=id_tag, meter_start=meter_start, timestamp=started_at,
            reservation_id=kwargs.get("reservation_id"), received_at=now,
        ))
        if not result.replayed:
            self.emit(TRANSACTION_STARTED, transaction_id=result.transaction_id, connector_id=connector_id,
                      id_tag=id_tag, id_tag_status=result.id_tag_status, meter_start=meter_start,
                      started_at=iso(started_at), offline=result.offline)
        return result16.StartTransaction(transaction_id=result.transaction_id, id_tag_info={"status": result.id_tag_status})

    @on(Action16.stop_transaction, skip_schema_validation=True)
    async def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **kwargs: Any) -> Any:
        now, stopped_at = self.received_at, self.ts(timestamp)
        assert stopped_at is not None
        id_tag = kwargs.get("id_tag") or ""
        result = await self.submit(lambda s: supervision.stop_transaction(
            s, self.ref, transaction_id=str(transaction_id), meter_stop=meter_stop, timestamp=stopped_at,
            reason=kwargs.get("reason") or "", id_tag=id_tag, transaction_data=kwargs.get("transaction_data"),
            received_at=now,
        ))
        if result.counted:
            self.emit(TRANSACTION_STOPPED, transaction_id=transaction_id, connector_id=result.connector_id,
                      meter_stop=meter_stop, energy_wh=result.energy_wh, reason=kwargs.get("reason") or "Local",
                      stopped_at=iso(stopped_at), orphan=result.orphan, offline=result.offline)
        if result.id_tag_status is None:
            return result16.StopTransaction()
        return result16.StopTransaction(id_tag_info={"status": result.id_tag_status})

    @on(Action16.meter_values, skip_schema_validation=True)
    async def on_meter_values(self, connector_id: int, meter_value: list[dict[str, Any]], **kwargs: Any) -> Any:
        now = self.received_at
        tx = kwargs.get("transaction_id")
        await self.submit(lambda s: supervision.record_meter_values(
            s, self.ref, connector_id=connector_id, transaction_id=str(tx) if tx is not None else None,
            meter_values=meter_value, received_at=now,
        ))
        return result16.MeterValues()

    @on(Action16.data_transfer, skip_schema_validation=True)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
        now = self.received_at
        details = {"vendor_id": vendor_id, "message_id": kwargs.get("message_id") or "",
                   "data": str(kwargs.get("data") or "")[:2000]}
        await self.submit(lambda s: supervision.record_station_event(
            s, self.ref, "data_transfer", f"Données constructeur reçues ({vendor_id}).", details, received_at=now))
        # We interpret no vendor extension: say so, as OCPP 1.6 defines.
        return result16.DataTransfer(status="UnknownVendorId")

    @on(Action16.diagnostics_status_notification, skip_schema_validation=True)
    async def on_diagnostics_status_notification(self, status: str, **kwargs: Any) -> Any:
        now = self.received_at
        await self.submit(lambda s: supervision.record_station_event(
            s, self.ref, "diagnostics", f"Diagnostic : {status}.", {"status": status}, received_at=now,
            severity="warning" if status == "UploadFailed" else "info"))
        return result16.DiagnosticsStatusNotification()

    @on(Action16.firmware_status_notification, skip_schema_validation=True)
    async def on_firmware_status_notification(self, status: str, **kwargs: Any) -> Any:
        now = self.received_at
        await self.submit(lambda s: supervision.record_station_event(
            s, self.ref, "firmware", f"Micrologiciel : {status}.", {"status": status}, received_at=now,
            severity="warning" if status in ("DownloadFailed", "InstallationFailed") else "info"))
        return result16.FirmwareStatusNotification()


# --------------------------------------------------------------------------- OCPP 2.0.1


class ChargeBox201(_StationLink, ChargePoint201):
    """A connected OCPP 2.0.1 charging station. Its EVSEs are our charge points (P)."""

    @on(Action201.boot_notification, skip_schema_validation=True)
    async def on_boot_notification(self, charging_station: dict[str, Any], reason: str, **kwargs: Any) -> Any:
        now = self.received_at
        modem = charging_station.get("modem") or {}
        info = {
            "vendor": charging_station.get("vendor_name"), "model": charging_station.get("model"),
            "serial_number": charging_station.get("serial_number"),
            "firmware_version": charging_station.get("firmware_version"),
            "iccid": modem.get("iccid"), "imsi": modem.get("imsi"),
        }
        await self.submit(lambda s: supervision.record_boot(s, self.ref, info, reason=reason, received_at=now))
        self.emit(STATION_BOOTED, at=iso(now), firmware_version=info["firmware_version"] or "")
        return result201.BootNotification(current_time=iso(utcnow()), interval=HEARTBEAT_INTERVAL, status="Accepted")

    @on(Action201.heartbeat, skip_schema_validation=True)
    async def on_heartbeat(self, **kwargs: Any) -> Any:
        now = self.received_at
        # last_seen_at only: one UPDATE for all the heartbeats of a group commit (csms.domain.writer)
        await self.submit(lambda s: touch_later(s, self.ref.tenant_id, self.ref.charger_id, now), touch=False)
        self._touched_at = now
        return result201.Heartbeat(current_time=iso(utcnow()))

    @on(Action201.status_notification, skip_schema_validation=True)
    async def on_status_notification(self, timestamp: str, connector_status: str, evse_id: int, connector_id: int,
                                     **kwargs: Any) -> Any:
        now, ts = self.received_at, self.ts(timestamp)
        result = await self.submit(lambda s: supervision.record_status(
            s, self.ref, connector_id=evse_id, status=connector_status,
            info=f"connecteur {connector_id}" if connector_id != 1 else "", timestamp=ts, received_at=now,
        ))
        self.emit(STATION_STATUS, connector_id=evse_id, point_canonical_id=result.canonical_id,
                  status=connector_status, error_code="", at=iso(ts or now), offline=result.offline,
                  current=result.current)
        # Its alerts (csms.alert.opened / closed) are durable: in the outbox with this commit, sent by the relay.
        if result.cancelled_reservations:  # the point faulted: CancelReservation, after the commit
            reservations.cancel_later(self.ingress, self.ref, result.cancelled_reservations)
        return result201.StatusNotification()

    @on(Action201.authorize, skip_schema_validation=True)
    async def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> Any:
        now = self.received_at

        async def unit(session: AsyncSession) -> str:
            status, _ = await supervision.authorize_at_charger(
                session, self.ref, id_token.get("id_token", ""), now=now, unknown="Unknown")
            return status

        status = await self.submit(unit)
        return result201.Authorize(id_token_info={"status": status})

    @on(Action201.transaction_event, skip_schema_validation=True)
    async def on_transaction_event(self, event_type: str, timestamp: str, trigger_reason: str, seq_no: int,
                                   transaction_info: dict[str, Any], **kwargs: Any) -> Any:
        now, at = self.received_at, self.ts(timestamp)
        assert at is not None
        result = await self.submit(lambda s: supervision.record_transaction_event(
            s, self.ref, event_type=event_type, timestamp=at, trigger_reason=trigger_reason, seq_no=seq_no,
            transaction_info=transaction_info, offline_flag=bool(kwargs.get("offline")), evse=kwargs.get("evse"),
            id_token=kwargs.get("id_token"), meter_value=kwargs.get("meter_value"), received_at=now,
            reservation_id=kwargs.get("reservation_id"),
        ))
        ocpp_id = transaction_info["transaction_id"]
        if result.started:
            self.emit(TRANSACTION_STARTED, transaction_id=ocpp_id, connector_id=result.connector_id,
                      id_tag=(kwargs.get("id_token") or {}).get("id_token", ""), id_tag_status=result.id_token_status,
                      started_at=iso(at), offline=result.offline, anomaly=result.anomaly)
        if result.changed:
            self.emit(TRANSACTION_UPDATED, transaction_id=ocpp_id, connector_id=result.connector_id,
                      id_tag_status=result.id_token_status)
        if result.stopped:
            self.emit(TRANSACTION_STOPPED, transaction_id=ocpp_id, connector_id=result.connector_id,
                      energy_wh=result.energy_wh, reason=transaction_info.get("stopped_reason") or "Local",
                      stopped_at=iso(at), offline=result.offline)
        if result.id_token_status is None:
            return result201.TransactionEvent()
        return result201.TransactionEvent(id_token_info={"status": result.id_token_status})

    @on(Action201.meter_values, skip_schema_validation=True)
    async def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]], **kwargs: Any) -> Any:
        now = self.received_at
        await self.submit(lambda s: supervision.record_meter_values(
            s, self.ref, connector_id=evse_id, transaction_id=None, meter_values=meter_value, received_at=now,
            protocol="2.0.1",
        ))
        return result201.MeterValues()

    @on(Action201.notify_event, skip_schema_validation=True)
    async def on_notify_event(self, generated_at: str, seq_no: int, event_data: list[dict[str, Any]],
                              **kwargs: Any) -> Any:
        now, at = self.received_at, self.ts(generated_at)

        async def unit(session: AsyncSession) -> None:
            for event in event_data[:50]:
                component = (event.get("component") or {}).get("name", "")
                variable = (event.get("variable") or {}).get("name", "")
                problem = bool(event.get("tech_code")) or event.get("trigger") == "Alerting"
                await supervision.record_station_event(
                    session, self.ref, "notify_event",
                    f"Événement {component}.{variable} = {event.get('actual_value', '')} ({event.get('trigger', '')}).",
                    {**event, "seq_no": seq_no}, received_at=now, occurred_at=self.ts(event.get("timestamp")) or at,
                    severity="warning" if problem else "info",
                )

        await self.submit(unit)
        return result201.NotifyEvent()


_StationLinkType = ChargeBox16 | ChargeBox201


def handled_actions(cls: type) -> dict[str, str]:
    """Action -> method name of the handlers ``cls`` defines with the library's ``@on``.

    The one place that reads the ``ocpp`` library's own marker (``@on`` sets ``_on_action`` on
    the function; the library's ``route_map`` is built from it per instance): the dispatch uses
    this table, built once per class. ``tests/csms/test_dispatch.py`` pins the marker's behaviour
    for the installed library version.
    """
    return {str(member._on_action): name for name, member in vars(cls).items() if hasattr(member, "_on_action")}


ChargeBox16.ROUTES = handled_actions(ChargeBox16)
ChargeBox201.ROUTES = handled_actions(ChargeBox201)


# --------------------------------------------------------------------------- the server


class Ingress:
    """One ingress process: the WebSocket server, its connections, its writer."""

    def __init__(
        self, settings: Settings, *, db: Database | None = None, bus: Bus | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE, response_timeout: float = 30,
        authorization_tasks: bool = False, worker: int | None = None,
    ) -> None:
        self.settings = settings
        #: One of several processes sharing the port (``centrale ingress --processes N``, SO_REUSEPORT):
        #: its number names its node, stable across its restarts.
        self.worker = worker
        self._own_db = db is None
        self.db = db or Database(settings.database_url)
        #: Local list pushes and due reservations (csms.domain.badges.AuthorizationTasks); ``run_ingress``
        #: turns them on, tests that assert every frame on the wire leave them off.
        self.authorization: AuthorizationTasks | None = AuthorizationTasks(self) if authorization_tasks else None
        self._bus = bus
        self._own_bus = bus is None
        #: The answer path (group commit, handshake lookups) has its own small pool: background
        #: work holding connections (local list syncs, command logs, sweeps) never delays an answer.
        workers = 1 if self.db.url.startswith("sqlite") else WRITER_WORKERS
        # Used only through sessions (group commits, handshake lookups), which end their own
        # transactions: the pool's rollback at each return would be one more round trip.
        self.answer_db = Database(self.db.url, pool_size=workers + 1, reset_on_return=False)
        if workers > 1:
            # No pre-ping (two round trips per group commit): a connection found dead fails its
            # batch, whose units are then retried one by one on fresh connections (csms.domain.writer).
            self.answer_db.engine.sync_engine.pool._pre_ping = False  # noqa: SLF001
        self.writer = GroupCommitWriter(self.answer_db, workers=workers)
        self._handshakes: BatchedLookup[str, tuple[StationRef, str]] = BatchedLookup(
            lambda ids: _load_handshakes(self.answer_db, ids), name="csms-handshakes")
        self.registry = ConnectionRegistry()
        self.max_message_size = max_message_size
        #: ``CENTRALE_OCPP_PING_INTERVAL``; 0: no pings.
        self.ping_interval = settings.ocpp_ping_interval or None
        self.response_timeout = response_timeout
        self.node = ""
        self.server: Server | None = None
        self._events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._publisher: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], Awaitable[None]] | None = None
        self._unserve_commands: Callable[[], Awaitable[None]] | None = None
        self._unannounce: Callable[[], None] | None = None
        self._stopping = False
        self.alerts: AlertWatcher | None = None
        #: Load management (CCTP CPAM article 4): recomputes a site after each committed start/stop.
        self.load_manager = LoadManager(self)
        #: CallResults / CallErrors of every connection that answered no call of ours (dropped).
        self.unsolicited_answers = 0
        #: charge_box_id → when its unsolicited answers were last logged (monotonic), and how many since.
        self._unsolicited_logged: dict[str, tuple[float, int]] = {}
        #: Legacy argon2id checks (~0.1 s of CPU each) run at most one per core but one.
        self._argon2_slots = asyncio.Semaphore(max(1, (os.cpu_count() or 2) - 1))

    @property
    def bus(self) -> Bus:
        assert self._bus is not None
        return self._bus

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        if self._bus is None:
            self._bus = await create_bus(self.settings)
        # The alerts this process commits wake the outbox relays of the worker processes (scaled mode).
        self._unannounce = announce_commits(self.bus)
        for version, cls in (("1.6", ChargeBox16), ("2.0.1", ChargeBox201)):
            for action in cls.ROUTES:
                compile_validator(version, action, 2)  # compile once, before the first station
        await self.writer.start()
        self._publisher = asyncio.create_task(self._publish(), name="csms-events")
        self.server = await serve(
            self._handle, self.settings.ocpp_host, self.settings.ocpp_port,
            subprotocols=list(SUBPROTOCOLS), select_subprotocol=self._select_subprotocol,
            process_request=self._process_request, max_size=self.max_message_size, compression=None,
            open_timeout=HANDSHAKE_TIMEOUT,
            ping_interval=self.ping_interval, ping_timeout=self.ping_interval, logger=socket_log,
            reuse_port=self.worker is not None, backlog=LISTEN_BACKLOG,
        )
        self.node = f"{socket.gethostname()}:{self.port}"
        if self.worker is not None:
            self.node += f"#{self.worker}"
        self._unsubscribe = await self.bus.subscribe(STATION_CONNECTED, self._on_connected_elsewhere)
        self._unserve_commands = await serve_commands(self)
        await self._close_stale_connections()
        # Offline alerts: swept here, in every ingress process (csms.domain.alerts: opened once whatever the count).
        self.alerts = AlertWatcher(
            self.db, self.bus, threshold=dt.timedelta(minutes=self.settings.ocpp_offline_alert_minutes),
            submit=lambda tenant_id, fn: self.writer.submit(tenant_id, fn, actor="supervision"),
        )
        await self.alerts.start()
        await self.load_manager.start()
        if self.authorization is not None:
            await self.authorization.start()
        log.info("ingress OCPP à l'écoute sur ws://%s:%s%s{charge_box_id}", self.settings.ocpp_host, self.port, PATH_PREFIX)

    async def stop(self) -> None:
        """Close every socket (1001), record the disconnections, then stop the writer."""
        self._stopping = True
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        if self._unsubscribe is not None:
            await self._unsubscribe()
        if self._unserve_commands is not None:
            await self._unserve_commands()
        if self.alerts is not None:
            await self.alerts.stop()
        if self.authorization is not None:
            await self.authorization.stop()
        await self.load_manager.stop()
        await self.writer.stop()
        if self._unannounce is not None:
            self._unannounce()
        await self.answer_db.dispose()
        await self._events.join()
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
        if self._own_bus and self._bus is not None:
            await self._bus.close()
        if self._own_db:
            await self.db.dispose()

    # -- events -----------------------------------------------------------------

    def emit(self, topic: str, payload: dict[str, Any]) -> None:
        """Queue a bus notice (fire-and-forget, csms.domain.events); one task publishes them in order, off the
        stations' answer path."""
        self._events.put_nowait((topic, payload))
        self.load_manager.on_event(topic, payload)  # load management: after the commit, off the answer path

    def log_unsolicited(self, charge_box_id: str, connection_count: int, message_type: int) -> None:
        """One warning per station per ``UNSOLICITED_LOG_EVERY`` at most, with what was dropped since."""
        now = asyncio.get_running_loop().time()
        last, since = self._unsolicited_logged.get(charge_box_id, (None, 0))
        since += 1
        if last is not None and now - last < UNSOLICITED_LOG_EVERY:
            self._unsolicited_logged[charge_box_id] = (last, since)
            return
        self._unsolicited_logged[charge_box_id] = (now, 0)
        log.warning("%s: %d unsolicited CallResult/CallError dropped (answering no call of ours; last: %s;"
                    " %d on this connection)", charge_box_id, since, "CallError" if message_type == 4 else "CallResult",
                    connection_count)

    async def _publish(self) -> None:
        """In order; what queued while the previous events went out leaves together (one Redis round trip)."""
        while True:
            events = [await self._events.get()]
            while len(events) < PUBLISH_BATCH and not self._events.empty():
                events.append(self._events.get_nowait())
            try:
                await self.bus.publish_many(events)
            except Exception:
                log.exception("publishing %d events (%s, ...) failed", len(events), events[0][0])
            finally:
                for _ in events:
                    self._events.task_done()

    async def _on_connected_elsewhere(self, topic: str, payload: dict[str, Any]) -> None:
        """Scaled mode: the station reconnected to another ingress process; drop our stale socket."""
        if payload.get("node") == self.node:
            return
        link = self.registry._live.get(payload.get("charge_box_id", ""))  # noqa: SLF001
        if link is not None and str(link.connection_id) != payload.get("connection_id"):
            link.replaced = True
            await link.websocket.close(1000, "remplacee par une nouvelle connexion")

    async def _close_stale_connections(self) -> None:
        from tenants.services import all_tenant_ids

        async with self.db.session() as session:
            tenant_ids = await all_tenant_ids(session)
        now = utcnow()
        for tenant_id in tenant_ids:
            await self.writer.submit(
                tenant_id, lambda s, t=tenant_id: supervision.close_stale_connections(s, t, self.node, now=now),
                actor="ingress OCPP",
            )

    # -- handshake ---------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if not path.startswith(PATH_PREFIX) or "/" in path[len(PATH_PREFIX):].rstrip("/"):
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Adresse inconnue : /ocpp/{charge_box_id} attendu.\n")
        charge_box_id = unquote(path[len(PATH_PREFIX):].rstrip("/"))
        loaded = await self._handshakes.get(charge_box_id)
        if loaded is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Borne inconnue.\n")
        ref, password_hash = loaded
        if not await self._check_basic_auth(request.headers, ref, password_hash):
            response = connection.respond(http.HTTPStatus.UNAUTHORIZED, "Identifiant ou mot de passe de borne incorrect.\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="Centrale OCPP", charset="UTF-8"'
            return response
        connection.centrale_ref = ref  # type: ignore[attr-defined]
        return None

    async def _check_basic_auth(self, headers: Headers, ref: StationRef, password_hash: str) -> bool:
        """HMAC-SHA-256 check (microseconds); a legacy argon2id hash is verified off the loop, then upgraded."""
        header = headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            raw_user, sep, password = base64.b64decode(token.strip(), validate=True).partition(b":")
            user = raw_user.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep or user != ref.charge_box_id:
            return False
        # The password stays bytes: an OCPP 1.6 AuthorizationKey is random binary once hex-decoded
        # (csms.domain.commands.station_password_change); a text password is its UTF-8 bytes.
        if not station_hash_is_legacy(password_hash):
            return verify_station_password(password_hash, password)
        async with self._argon2_slots:  # a storm of legacy hashes queues here instead of starving the thread pool
            if not await asyncio.to_thread(verify_station_password, password_hash, password):
                return False
        with contextlib.suppress(Exception):  # the station is in; the upgrade is retried at its next login
            await self.writer.submit(ref.tenant_id, lambda s: upgrade_station_password(
                s, ref.tenant_id, ref.charger_id, password_hash, password), actor=ref.actor)
        return True

    def _select_subprotocol(self, connection: ServerConnection, offered: Any) -> Subprotocol | None:
        for protocol in SUBPROTOCOLS:  # the newest version both sides speak
            if protocol in offered:
                return protocol
        ref: StationRef | None = getattr(connection, "centrale_ref", None)
        if ref is not None and ref.lenient:
            return None  # firmware that offers no subprotocol: spoken to in OCPP 1.6
        raise NegotiationError("sous-protocole OCPP attendu : ocpp1.6 ou ocpp2.0.1")

    # -- connection lifecycle ---------------------------------------------------

    async def _handle(self, websocket: ServerConnection) -> None:
        ref: StationRef = websocket.centrale_ref  # type: ignore[attr-defined]
        protocol = websocket.subprotocol or "ocpp1.6"
        connected_at = utcnow()
        remote = websocket.remote_address
        remote_address = f"{remote[0]}:{remote[1]}" if isinstance(remote, tuple) else str(remote or "")
        connection_id = new_id()
        # The connection row is queued first among this station's units (the writer keeps a station's
        # units in order), but its commit is not awaited: the station's first frames are read while it
        # commits, and each is answered only after its own commit, which comes after this one.
        opened = self.writer.enqueue(
            ref.tenant_id,
            lambda s: supervision.open_connection(s, ref, remote_address=remote_address, subprotocol=protocol,
                                                  node=self.node, connected_at=connected_at,
                                                  connection_id=connection_id),
            actor=ref.actor,
        )
        cls = ChargeBox201 if protocol == "ocpp2.0.1" else ChargeBox16
        link = cls(ref.charge_box_id, websocket, ingress=self, ref=ref, connection_id=connection_id,
                   response_timeout=self.response_timeout)
        previous = self.registry._live.get(ref.charge_box_id)  # noqa: SLF001
        self.registry._live[ref.charge_box_id] = link  # noqa: SLF001
        if previous is not None:
            # One live socket per station: the new connection wins.
            previous.replaced = True
            asyncio.create_task(previous.websocket.close(1000, "remplacee par une nouvelle connexion"))  # noqa: RUF006

        def on_opened(future: asyncio.Future[Any]) -> None:
            if future.cancelled() or future.exception() is not None:
                # Unrecorded, the connection must not go on: the station reconnects and tries again.
                log.error("%s: connection not recorded (%s); closing", ref.charge_box_id,
                          "cancelled" if future.cancelled() else future.exception())
                asyncio.create_task(websocket.close(1011, "enregistrement impossible"))  # noqa: RUF006
                return
            link.emit(STATION_CONNECTED, connection_id=str(connection_id), node=self.node, protocol=protocol,
                      remote_address=remote_address, at=iso(connected_at))

        opened.add_done_callback(on_opened)
        try:
            await link.start()
        except ConnectionClosed:
            pass
        finally:
            link.commands.close()
            if self.registry._live.get(ref.charge_box_id) is link:  # noqa: SLF001
                del self.registry._live[ref.charge_box_id]  # noqa: SLF001
            reason, code = self._disconnect_reason(link)
            disconnected_at = utcnow()
            recorded = False
            with contextlib.suppress(Exception):
                await opened
                recorded = True
            if recorded:  # else there is no row to close, and no « connected » was announced
                with contextlib.suppress(Exception):
                    await self.writer.submit(
                        ref.tenant_id,
                        lambda s: supervision.close_connection(s, ref, connection_id, reason=reason, close_code=code,
                                                               disconnected_at=disconnected_at),
                        actor=ref.actor,
                    )
                link.emit(STATION_DISCONNECTED, connection_id=str(connection_id), node=self.node, reason=reason,
                          close_code=code, at=iso(disconnected_at))

    def _disconnect_reason(self, link: _StationLinkType) -> tuple[str, int | None]:
        protocol = link.websocket.protocol
        received, sent = protocol.close_rcvd, protocol.close_sent
        if link.replaced:
            return "replaced", 1000
        if link.close_reason:
            return link.close_reason, sent.code if sent is not None else None
        if self._stopping:
            return "server_shutdown", 1001
        if received is not None and protocol.close_rcvd_then_sent is not False:
            return "closed_by_station", received.code
        if sent is not None and sent.code == 1009:
            return "message_too_big", 1009
        if sent is not None and sent.code != 1011:  # 1011: keepalive ping timeout
            return "closed_by_server", sent.code
        return "connection_lost", 1006


_running: Ingress | None = None


def current_ingress() -> Ingress | None:
    """The ingress running in this process, if any (embedded mode: the web app's way to its stations).

    In scaled mode a command from a web process reaches the ingress process that
    holds the socket through the bus instead.
    """
    return _running


#: Allocations between young collections (CPython's default: 700), and how rarely the older
#: generations are collected. See ``tune_gc``.
GC_THRESHOLDS = (100_000, 50, 1000)


def tune_gc() -> None:
    """Fewer garbage-collector passes for a process holding thousands of sockets.

    With 10,000 stations the process holds millions of objects, and CPython's default
    thresholds ran a full collection often enough to stall the loop for hundreds of
    milliseconds: at 10,000 stations and 1,500 msg/s the p99 went from 1.3 s to 125 ms
    and the boot storm from 26 s to 17 s with these thresholds (docs/ocpp.md). What was
    allocated while starting (imports, mappers, compiled schemas) is frozen out of the
    collections; reference counting still frees everything without cycles at once.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def run_ingress(settings: Settings, *, db: Database | None = None, bus: Bus | None = None,
                      worker: int | None = None, gc_tuned: bool = False) -> None:
    """Serve OCPP until cancelled (``centrale serve`` runs it next to the web app; ``centrale ingress`` alone;
    ``worker``: one of several processes on the same port, see ``run_ingress_processes``;
    ``gc_tuned``: the process is the ingress's own, see ``tune_gc``)."""
    global _running
    ingress = Ingress(settings, db=db, bus=bus, authorization_tasks=True, worker=worker)
    await ingress.start()
    if gc_tuned:
        tune_gc()
    _running = ingress
    try:
        await asyncio.Future()  # until cancelled
    finally:
        _running = None
        await ingress.stop()


async def serve_ingress(settings: Settings, *, worker: int | None = None, parent: int | None = None) -> None:
    """``run_ingress`` until SIGTERM or SIGINT, then a graceful stop: sockets closed with 1001 and
    their rows closed (what a container runtime or systemd sends before SIGKILL).
    ``parent``: a worker's supervisor; if it disappears (killed), the worker stops too."""
    import signal

    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)

    async def orphaned() -> None:
        while os.getppid() == parent:  # noqa: ASYNC110 - polled: nothing signals a parent's death
            await asyncio.sleep(1)
        log.error("ingress worker %s: its supervisor is gone; stopping", worker)
        task.cancel()

    watchdog = asyncio.create_task(orphaned()) if parent is not None else None
    try:
        with contextlib.suppress(asyncio.CancelledError):
            # A process of its own: the collector's thresholds and frozen start-up objects are its alone.
            await run_ingress(settings, worker=worker, gc_tuned=True)
    finally:
        if watchdog is not None:
            watchdog.cancel()


#: A worker that dies is started again after this many seconds (not in a tight loop if it keeps dying).
RESTART_DELAY = 1.0
#: After SIGTERM, a worker still running this many seconds later is killed.
STOP_TIMEOUT = 30


def run_ingress_processes(settings: Settings, processes: int) -> int:
    """``centrale ingress --processes N``: N ingress processes on one port (Linux SO_REUSEPORT: the
    kernel spreads new connections over them), one per core, each its own node on the bus
    (``host:port#i``), so commands reach the process holding the station as across machines.

    The parent only supervises: it forks the workers before any event loop or connection
    exists, restarts one that dies (its node name is the same: it closes the rows it left open,
    as after a kill -9), and on SIGTERM / SIGINT stops them all. Returns the exit status.
    """
    import signal
    import time

    supervisor = os.getpid()

    def start(number: int) -> int:
        pid = os.fork()
        if pid == 0:  # the worker
            # Its own process group: a Ctrl-C in the terminal reaches the parent only, which stops
            # each worker once. SIGTERM then stops it gracefully (``serve_ingress``).
            os.setpgid(0, 0)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 0
            try:
                asyncio.run(serve_ingress(settings, worker=number, parent=supervisor))
            except BaseException:  # noqa: BLE001 - reported, then the parent restarts this worker
                log.exception("ingress worker %d failed", number)
                code = 1
            finally:
                os._exit(code)  # never run the parent's code after the fork
        return pid

    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    workers = {start(number): number for number in range(processes)}
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    stop_deadline: float | None = None
    while workers:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:  # nobody ended yet
            if stopping and stop_deadline is None:
                stop_deadline = time.monotonic() + STOP_TIMEOUT
            if stop_deadline is not None and time.monotonic() > stop_deadline:
                for late in list(workers):  # a worker that does not stop in time is killed
                    log.error("ingress worker %d (pid %d) did not stop in %d s; killed", workers[late], late,
                              STOP_TIMEOUT)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(late, signal.SIGKILL)
                stop_deadline = float("inf")
            time.sleep(0.1)
            continue
        number = workers.pop(pid, None)
        if number is None:
            continue
        code = os.waitstatus_to_exitcode(wait_status)
        if stopping:
            continue
        log.warning("ingress worker %d (pid %d) ended (%s); restarting it", number, pid, code)
        status = 1
        time.sleep(RESTART_DELAY)
        if not stopping:
            workers[start(number)] = number
    return 0 if stopping else status
