"""One station's connection: its frames checked, its calls dispatched, its units committed.

``StationLink`` is what the OCPP 1.6 (``csms.ingress.v16``) and 2.0.1
(``csms.ingress.v201``) classes share, mixed into the ``ocpp`` library's
``ChargePoint``; the server (``csms.ingress.server``) makes one per accepted socket.

* Every incoming frame is checked here before the library routes it: envelope,
  action, and payload against the library's own schemas compiled with
  fastjsonschema (``csms.domain.protocol``). A bad frame gets its CallError and
  changes nothing.
* A CallResult or CallError answers a call of ours or is dropped here: the library
  queues every answer it is handed until one of its own calls reads it, so answers
  to nothing would be held for the connection's life (memory a station could grow
  at will). Dropped answers are counted (``unsolicited_answers``, per connection and
  per process) and logged at most once a minute per station (docs/security.md « OCPP wire »).
* Handlers are ``@on`` methods taking ``**kwargs``; each submits one unit of work
  to the group-commit writer (``csms.domain.writer``) and answers only once it is
  committed. Handlers never ``await self.call()`` (the receive loop would wait on
  itself); commands to stations are scheduled from outside through
  ``csms.ingress.registry.ConnectionRegistry``.
* A remote command's answer (``csms.domain.commands``) is matched on the link's
  ``commands`` channel, one call in flight per station.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from ocpp.messages import Call
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.server import ServerConnection

from app.db import utcnow
from csms.domain import recording as supervision
from csms.domain.commands import CallChannel
from csms.domain.contract_certificates import ContractAuthority
from csms.domain.ports import IngressPort, StationRef
from csms.domain.protocol import (
    CALL_ID,
    FrameError,
    Repair,
    call_result_frame,
    check_call,
    has_schema,
    parse_frame,
    parse_timestamp,
    snake_keys,
)
from csms.domain.writer import GroupCommitWriter, touch_later

__all__ = ["LOGGER", "TOUCH_EVERY", "LinkHost", "StationLink", "frame_log", "handled_actions", "iso"]

#: The ingress's one logger, named as before its split into modules (operators' logging
#: configurations and docs/ocpp.md name it): rejected frames, handler failures, dropped answers.
LOGGER = "csms.ingress.server"
log = logging.getLogger(LOGGER)
#: The library logs every frame at INFO; keep that out of the service log.
frame_log = logging.getLogger("csms.frames")
if frame_log.level == logging.NOTSET:
    frame_log.setLevel(logging.WARNING)

T = TypeVar("T")
#: ``last_seen_at`` is refreshed by any message at most this often (heartbeats: always).
TOUCH_EVERY = dt.timedelta(seconds=60)
#: Frames read ahead of the one being handled (``StationLink.start``), at most.
READ_AHEAD = 8


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LinkHost(IngressPort, Protocol):
    """What a link uses of the ingress process holding it (``csms.ingress.server.Ingress``)."""

    writer: GroupCommitWriter
    #: CallResults / CallErrors of every connection that answered no call of ours (dropped).
    unsolicited_answers: int
    #: ISO 15118 contract certificates and OCSP for 2.0.1 stations (``csms.domain.contract_certificates``).
    contract_authority: ContractAuthority

    def emit(self, topic: str, payload: dict[str, Any]) -> None: ...

    def log_unsolicited(self, charge_box_id: str, connection_count: int, message_type: int) -> None: ...


class ReadAhead:
    """The frames read from a socket and not handled yet, between its reader and its one handler.

    An ``asyncio.Queue`` watched together with the handler's task cost a task and a wait set per
    frame (``ensure_future(queue.put(...))`` + ``asyncio.wait``); here a deque and one future per
    side, set when the other side moves: the handler's ``get`` waits for a frame, the reader waits
    for room once ``limit`` frames are unhandled, the one being handled included (or for the handler's end:
    ``worker_ended``), and
    ``drained`` waits until every frame read is handled.
    """

    __slots__ = ("_frames", "_limit", "_unhandled", "_frame_waiter", "_room_waiter", "_drained_waiter", "_ended")

    def __init__(self, limit: int) -> None:
        self._frames: collections.deque[str | bytes] = collections.deque()
        self._limit = limit
        self._unhandled = 0  # read and not handled yet: queued, or being handled
        self._frame_waiter: asyncio.Future[None] | None = None
        self._room_waiter: asyncio.Future[None] | None = None
        self._drained_waiter: asyncio.Future[None] | None = None
        self._ended = False

    @staticmethod
    def _wake(waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def put(self, frame: str | bytes) -> asyncio.Future[None] | None:
        """Queues ``frame``; returns a future to wait on when the reader must wait for room, else None."""
        self._frames.append(frame)
        self._unhandled += 1
        self._wake(self._frame_waiter)
        if self._unhandled < self._limit or self._ended:
            return None
        self._room_waiter = asyncio.get_running_loop().create_future()
        return self._room_waiter

    async def get(self) -> str | bytes:
        while not self._frames:
            self._frame_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._frame_waiter
            finally:
                self._frame_waiter = None
        return self._frames.popleft()

    def done(self) -> None:
        """The frame last taken is handled."""
        self._unhandled -= 1
        if self._unhandled < self._limit:
            self._wake(self._room_waiter)
        if self._unhandled == 0:
            self._wake(self._drained_waiter)

    def worker_ended(self, _task: object = None) -> None:
        self._ended = True
        self._wake(self._room_waiter)
        self._wake(self._drained_waiter)

    async def drained(self) -> None:
        """Until every frame read is handled, or the handler ended."""
        if self._unhandled == 0 or self._ended:
            return
        self._drained_waiter = asyncio.get_running_loop().create_future()
        await self._drained_waiter


class StationLink:
    """What both protocol versions share: frame checks, the writer, events.

    Mixed into the library's ``ChargePoint`` classes; it extends the public
    ``route_message`` and uses no private method of the library.
    """

    _ocpp_version: str
    #: Action -> our handler's method name, per class (``handled_actions``, set after the classes).
    ROUTES: dict[str, str] = {}

    def __init__(
        self, charge_box_id: str, websocket: ServerConnection, *, ingress: LinkHost, ref: StationRef,
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
        #: MessageIds of the station's Calls read and not answered yet (``start``), in order.
        self._open_calls: list[str] = []
        self._received_at = utcnow()
        self._touched_at = self._received_at  # the connection row's handshake wrote last_seen_at
        self._repairs: list[Repair] = []
        #: Remote commands (csms.domain.commands): one call in flight, answers matched here.
        self.commands = CallChannel(websocket.send)

    # -- frames ---------------------------------------------------------------

    async def start(self) -> None:
        """The library's receive loop (``ChargePoint.start``), reading up to ``READ_AHEAD`` frames ahead.

        Frames are still handled one at a time, in the order they came. Reading on while one is
        handled is what lets a Call that reuses the MessageId of a Call not answered yet be refused
        at once instead of being handled twice: OCPP-J (1.6 §4.1.1, 2.0.1 §4.1.1) « A message ID for
        any CALL message MUST be different from all message IDs previously used by the same sender
        for any other CALL messages on the same WebSocket connection », and leaves the answer to the
        receiver: ``RpcFrameworkError`` in 2.0.1 (« not a valid RPC Request »), ``FormationViolation``
        in 1.6. A station that waits for each answer, as OCPP-J asks, never meets it.
        """
        frames = ReadAhead(READ_AHEAD)
        worker = asyncio.create_task(self._handle_frames(frames), name=f"ocpp-{self.id}")
        worker.add_done_callback(frames.worker_ended)
        try:
            while True:
                raw = await self.websocket.recv()
                call_id = CALL_ID.match(raw) if isinstance(raw, str) else None
                if call_id is not None:
                    if call_id.group(1) in self._open_calls:
                        await self._refuse_reused_id(call_id.group(1))
                        continue
                    self._open_calls.append(call_id.group(1))
                room = frames.put(raw)
                if room is not None:
                    await room  # READ_AHEAD frames not handled yet: read on once one is, or the worker ended
                if worker.done():
                    worker.result()  # the socket closed while answering: it ends the link
                    return
        except asyncio.CancelledError:
            worker.cancel()
            raise
        finally:
            if not worker.done():
                # Closed while reading: what was read is still handled (its answer cannot go out).
                await frames.drained()
                worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker

    async def _handle_frames(self, frames: ReadAhead) -> None:
        while True:
            raw = await frames.get()
            try:
                await self.route_message(raw)
            finally:
                call_id = CALL_ID.match(raw) if isinstance(raw, str) else None
                if call_id is not None and call_id.group(1) in self._open_calls:
                    self._open_calls.remove(call_id.group(1))
                frames.done()

    async def _refuse_reused_id(self, unique_id: str) -> None:
        self.rejected_frames += 1
        code = "RpcFrameworkError" if self._ocpp_version != "1.6" else "FormatViolation"
        log.info("%s: rejected frame (%s: MessageId %s reused)", self.id, code, unique_id)
        frame = FrameError(code, "MessageId already used by a call not answered yet", unique_id)
        await self.websocket.send(frame.frame(self._ocpp_version))

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


def handled_actions(cls: type) -> dict[str, str]:
    """Action -> method name of the handlers ``cls`` defines with the library's ``@on``.

    The one place that reads the ``ocpp`` library's own marker (``@on`` sets ``_on_action`` on
    the function; the library's ``route_map`` is built from it per instance): the dispatch uses
    this table, built once per class. ``tests/csms/test_dispatch.py`` pins the marker's behaviour
    for the installed library version.
    """
    return {str(member._on_action): name for name, member in vars(cls).items() if hasattr(member, "_on_action")}


