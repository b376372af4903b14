"""The OCPP ingress: ``ws://host:port/ocpp/{charge_box_id}``, OCPP 1.6J and 2.0.1.

DESIGN.md « OCPP ingress rules », in code. This module is the server: the socket
accepted, the station authenticated, the subprotocol negotiated, the connection
recorded, and the process's lifecycle (its writer, bus, workers). The rest of the
ingress, by concern:

* ``csms.ingress.link``: one connection (frames checked, calls dispatched, units
  committed before the answer, the library's calls and the remote commands' answers);
* ``csms.ingress.v16`` / ``csms.ingress.v201``: the OCPP 1.6J and 2.0.1 handlers;
* ``csms.ingress.registry``: the stations connected to this process, and the commands
  sent to them;
* ``csms.ingress.processes``: ``centrale ingress`` as one process or several
  (SO_REUSEPORT), their signals and their garbage collector.

Here:

* Handshake: the charge_box_id is looked up in the platform routing table
  (unknown → HTTP 404), the charger's security profile checked from its TLS proxy's headers
  (csms.domain.profiles: profile 2 needs TLS, profile 3 a client certificate whose CN is the
  charge_box_id; otherwise HTTP 403), the Basic-auth password (profiles 1 and 2) checked against the
  charger's salted HMAC-SHA-256 (legacy: argon2id) hash (missing or wrong → HTTP 401), the subprotocol negotiated (``ocpp2.0.1`` preferred,
  then ``ocpp1.6``; a station offering neither is refused with HTTP 400 unless
  it is in lenient mode, then spoken to in 1.6).
* One live socket per station: a new connection replaces the old one, which is
  closed (also across ingress processes, through the bus). Every connection and
  disconnection is a row in ``charger_connections``. Oversized messages close the
  socket with 1009.
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
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from app.bus import Bus, create_bus
from app.db import Database, new_id, utcnow
from app.outbox import announce_commits
from app.settings import Settings
from csms.domain import certificates
from csms.domain import recording as supervision
from csms.domain.alerts import AlertWatcher
from csms.domain.badges import AuthorizationTasks
from csms.domain.batching import BatchedLookup
from csms.domain.commands import serve_commands
from csms.domain.contract_certificates import ContractAuthority, NoContractAuthority
from csms.domain.events import STATION_CONNECTED, STATION_DISCONNECTED
from csms.domain.ports import CertificateAuthority, StationRef
from csms.domain.profiles import admit
from csms.domain.protocol import compile_validator
from csms.domain.registry import station_hash_is_legacy, upgrade_station_password, verify_station_password
from csms.domain.smart_charging import LoadManager
from csms.domain.writer import GroupCommitWriter
from csms.ingress.link import LOGGER, StationLink, handled_actions, iso
from csms.ingress.registry import ConnectionRegistry, StationNotConnected
from csms.ingress.v16 import ChargeBox16
from csms.ingress.v201 import ChargeBox201

__all__ = [
    "GC_THRESHOLDS",
    "ChargeBox16",
    "ChargeBox201",
    "ConnectionRegistry",
    "Ingress",
    "StationNotConnected",
    "current_ingress",
    "handled_actions",
    "iso",
    "run_ingress",
    "tune_gc",
]

log = logging.getLogger(LOGGER)

#: websockets logs every connection opened and closed at INFO: thousands of lines in a boot storm,
#: and what matters of them is recorded in ``charger_connections``. Warnings and errors still show.
socket_log = logging.getLogger("csms.sockets")
if socket_log.level == logging.NOTSET:
    socket_log.setLevel(logging.WARNING)

SUBPROTOCOLS = (Subprotocol("ocpp2.0.1"), Subprotocol("ocpp1.6"))
#: Largest frame accepted; a bigger one closes the socket with 1009 (message too big).
MAX_MESSAGE_SIZE = 512 * 1024
PATH_PREFIX = "/ocpp/"
#: A boot storm of legacy argon2id hashes queues on their checks (~0.1 s of CPU each): allow for it.
HANDSHAKE_TIMEOUT = 60
#: Connections waiting to be accepted (the listen backlog; the kernel caps it at net.core.somaxconn).
#: asyncio's default, 100, overflows in a boot storm: the kernel drops the connections beyond it
#: and the stations retry one, three, seven seconds later (TcpExtListenOverflows).
LISTEN_BACKLOG = 4096
#: Group commits in flight at once on PostgreSQL (csms.domain.writer): one batch's round trips
#: overlap another's; a station's own messages stay in order.
WRITER_WORKERS = 3
#: Bus events published together at most (csms.ingress.server.Ingress._publish).
PUBLISH_BATCH = 500
#: Seconds a bus notice waits for the ones after it, to go out in the same Redis round trip: notices
#: are off the stations' answer path (fire-and-forget, csms.domain.events), so this delays a live
#: screen, never an acknowledgement. At 2,000 msg/s, one round trip per group commit becomes one
#: per 10 ms.
PUBLISH_LINGER = 0.01
#: A station sending answers to calls never made is logged at most this often (with the count).
UNSOLICITED_LOG_EVERY = 60.0


async def _load_handshakes(db: Database, charge_box_ids: list[str]) -> dict[str, tuple[StationRef, str]]:
    """Route and charger of many handshakes in one transaction (``csms.domain.batching.BatchedLookup``:
    a boot storm of 10,000 stations costs tens of queries, not 20,000)."""
    async with db.session() as session:
        return await supervision.load_stations(session, charge_box_ids)


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
        self.writer = GroupCommitWriter(self.answer_db, workers=workers, linger=settings.ocpp_writer_linger_ms / 1000)
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
        #: ISO 15118 contract certificates and OCSP (2.0.1 Get15118EVCertificate, GetCertificateStatus): a seam.
        self.contract_authority: ContractAuthority = NoContractAuthority()
        #: Signs the stations' CSRs (SignCertificate): the configured CA, or the in-memory one (demo, tests);
        #: loaded once here, a bad CA file stops the start (csms.domain.certificates).
        self.certificate_authority: CertificateAuthority = certificates.authority_from_settings(settings)

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
        started_at = utcnow()  # before listening: a station connecting from now on is this run's
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
        await self._close_stale_connections(started_at)
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
        log.info("writer stats %s", self.writer.stats)
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
        """In order; what queued within ``PUBLISH_LINGER`` of the first, or while the previous events went
        out, leaves together (one Redis round trip)."""
        while True:
            events = [await self._events.get()]
            if self._events.qsize() < PUBLISH_BATCH:
                await asyncio.sleep(PUBLISH_LINGER)
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
        await self.registry.replaced_elsewhere(payload.get("charge_box_id", ""), payload.get("connection_id"))

    async def _close_stale_connections(self, now: dt.datetime) -> None:
        from tenants.services import all_tenant_ids

        async with self.db.session() as session:
            tenant_ids = await all_tenant_ids(session)
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
        remote = connection.remote_address
        admission = admit(ref.security_profile, ref.charge_box_id,
                          peer=remote[0] if isinstance(remote, tuple) else None, headers=request.headers,
                          trusted=self.settings.ocpp_trusted_proxy_networks, now=utcnow())
        if not admission.ok:
            log.warning("%s: handshake refused (security profile %d): %s%s", ref.charge_box_id, ref.security_profile,
                        admission.reason, f" certificate {admission.certificate.fingerprint}"
                        if admission.certificate else "")
            return connection.respond(admission.status, admission.reason + "\n")
        if admission.needs_password and not await self._check_basic_auth(request.headers, ref, password_hash):
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
        link: StationLink = cls(ref.charge_box_id, websocket, ingress=self, ref=ref, connection_id=connection_id,
                   response_timeout=self.response_timeout)
        self.registry.attach(link)  # one live socket per station: the new connection wins

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
            self.registry.detach(link)
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

    def _disconnect_reason(self, link: StationLink) -> tuple[str, int | None]:
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
