"""Fixtures of the supervision tests: two tenants with sites, a registered fleet, a live ingress.

Stations are the ``ocpp`` library's own ``ChargePoint`` over a real ``websockets``
client; ``Wire`` records every frame so that tests assert what went on the wire.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from ocpp.v16 import ChargePoint as Station16
from ocpp.v201 import ChargePoint as Station201
from websockets.asyncio.client import ClientConnection, connect

from app.bus import LocalBus
from app.db import Database
from app.security import hash_password
from app.settings import Settings

PASSWORD = "Borne-secret-2026-xyz"  # 21 printable characters (OCPP: 16 to 40)


@pytest.fixture
def backend() -> str:
    """SQLite unless a test parametrises ``backend`` itself (commit, replay and idempotency paths)."""
    return "sqlite"


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)  # once: argon2 costs ~0.1 s



class LogRecords(logging.Handler):
    """The records a logger emits from ``level`` on, kept for the test (pytest's logging plugin is off in these
    runs): add it with ``logging.getLogger(name).addHandler(...)``, remove it after."""

    def __init__(self, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def text(self) -> str:
        return "\n".join(f"{r.levelname} {r.getMessage()}" for r in self.records)

@dataclass
class Fleet:
    cpam: uuid.UUID
    other: uuid.UUID
    cpam_site: uuid.UUID
    other_site: uuid.UUID
    chargers: dict[str, Any] = field(default_factory=dict)  # charge_box_id -> RegisteredCharger


async def make_tenants(db: Database) -> Fleet:
    from tenants.models import Site, Tenant

    cpam, other = uuid.uuid4(), uuid.uuid4()
    fleet = Fleet(cpam, other, uuid.uuid4(), uuid.uuid4())
    async with db.transaction([cpam, other], actor={"user_id": None, "label": "test"}) as session:
        session.add(Tenant(id=cpam, name="CPAM de la Sarthe", siret="77582405600012", insee_code="72181", city="Le Mans"))
        session.add(Tenant(id=other, name="Commune de Villeurbanne", siret="21690266000013", insee_code="69266",
                           city="Villeurbanne"))
        await session.flush()
        session.add(Site(tenant_id=cpam, id=fleet.cpam_site, name="Siège — parking", insee_code="72181",
                         building_code="0001", city="Le Mans"))
        session.add(Site(tenant_id=other, id=fleet.other_site, name="Hôtel de ville", insee_code="69266",
                         building_code="0002", city="Villeurbanne"))
    return fleet


@pytest.fixture
async def fleet(db: Database, password_hash: str) -> Fleet:
    """CPAM: CPAM-LM-01 (2 points, 22 kW, T2+EF), CPAM-LM-02 (lenient), CPAM-LM-201 (OCPP 2.0.1), badges;
    Villeurbanne: VLB-01 and its own badge."""
    from csms.domain import registry

    fleet = await make_tenants(db)
    specs = [
        (fleet.cpam, {"charge_box_id": "CPAM-LM-01", "points": 2, "power_kw": 22, "socket_types": "T2+EF"}),
        (fleet.cpam, {"charge_box_id": "CPAM-LM-02", "points": 1, "power_kw": 7, "lenient": True}),
        (fleet.cpam, {"charge_box_id": "CPAM-LM-201", "points": 2, "power_kw": 11}),
        (fleet.other, {"charge_box_id": "VLB-01", "points": 1, "power_kw": 22}),
    ]
    for tenant_id, spec in specs:
        async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
            registered = await registry.register_charger(
                session, tenant_id, {**spec, "password": PASSWORD}, password_hash=password_hash
            )
        fleet.chargers[spec["charge_box_id"]] = registered
    past = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for tenant_id, badges in (
        (fleet.cpam, [("BADGE-OK", "Accepted", None), ("BADGE-BLOCKED", "Blocked", None), ("BADGE-OLD", "Accepted", past)]),
        (fleet.other, [("BADGE-VLB", "Accepted", None)]),
    ):
        async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
            for id_tag, status, expires_at in badges:
                await registry.create_badge(session, tenant_id, {"id_tag": id_tag, "status": status,
                                                                 "expires_at": expires_at, "holder_label": id_tag})
    return fleet


class Events:
    """Bus events by topic, with a way to wait for one."""

    def __init__(self) -> None:
        self.by_topic: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._changed = asyncio.Condition()

    async def handler(self, topic: str, payload: dict[str, Any]) -> None:
        async with self._changed:
            self.by_topic[topic].append(payload)
            self._changed.notify_all()

    async def wait(self, topic: str, predicate: Callable[[dict[str, Any]], bool] = lambda p: True,
                   count: int = 1, within: float = 20) -> list[dict[str, Any]]:
        async def ready() -> list[dict[str, Any]]:
            async with self._changed:
                await self._changed.wait_for(lambda: len([p for p in self.by_topic[topic] if predicate(p)]) >= count)
                return [p for p in self.by_topic[topic] if predicate(p)]

        return await asyncio.wait_for(ready(), within)


TOPICS = ("station.connected", "station.disconnected", "station.status", "station.booted",
          "transaction.started", "transaction.stopped")


@pytest.fixture
async def ingress(settings: Settings, db: Database, fleet: Fleet) -> AsyncIterator[Any]:
    from csms.ingress.server import Ingress

    bus = LocalBus()
    events = Events()
    for topic in TOPICS:
        await bus.subscribe(topic, events.handler)
    server = Ingress(dataclasses.replace(settings, ocpp_port=0), db=db, bus=bus, max_message_size=16 * 1024)
    server.events = events  # type: ignore[attr-defined]
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def relay(settings: Settings, db: Database, ingress: Any) -> AsyncIterator[Any]:
    """The outbox relay of the ingress's process, on its bus, as in ``centrale serve``: the durable
    events (alerts…) reach the bus through it.

    Only where a test waits for them: Litestar's ``AsyncTestClient`` blocks this event loop while
    its request runs on another thread, so a relay transaction caught open at that moment would hold
    SQLite's write lock until the request, waiting for it, fails.
    """
    from app.composition import subscribers as component_subscribers
    from app.outbox import Relay

    running = Relay(db, bus=ingress.bus, settings=settings, subscribers=component_subscribers())
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


class Wire:
    """The station's connection, recording every frame (decoded) in both directions."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.sent: list[Any] = []
        self.received: list[Any] = []

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))
        await self.ws.send(message)

    async def recv(self) -> str:
        message = await self.ws.recv()
        self.received.append(json.loads(message))
        return message  # type: ignore[return-value]

    def answer(self, unique_id: str) -> Any:
        return next(frame for frame in self.received if frame[1] == unique_id)


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def open_socket(port: int, charge_box_id: str, password: str = PASSWORD, protocol: str = "ocpp1.6",
                      **kwargs: Any) -> ClientConnection:
    return await connect(
        f"ws://127.0.0.1:{port}/ocpp/{charge_box_id}", subprotocols=[protocol] if protocol else None,
        additional_headers=basic_auth(charge_box_id, password), open_timeout=30, **kwargs,
    )


@contextlib.asynccontextmanager
async def station(port: int, charge_box_id: str, *, version: str = "1.6", password: str = PASSWORD,
                  cls: type | None = None) -> AsyncIterator[tuple[Any, Wire]]:
    """The library's own ChargePoint (or ``cls``, a subclass answering commands), connected and
    running, and its recorded wire."""
    ws = await open_socket(port, charge_box_id, password, "ocpp1.6" if version == "1.6" else "ocpp2.0.1")
    wire = Wire(ws)
    cp = (cls or (Station16 if version == "1.6" else Station201))(charge_box_id, wire, response_timeout=30)
    task = asyncio.create_task(cp.start())
    try:
        yield cp, wire
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await ws.close()


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Stations:
    """Test-side charging stations against one ingress (fixture ``stations``)."""

    password = PASSWORD
    Wire = Wire

    def __init__(self, port: int) -> None:
        self.port = port

    def connect(self, charge_box_id: str, *, version: str = "1.6", password: str = PASSWORD) -> Any:
        return station(self.port, charge_box_id, version=version, password=password)

    async def socket(self, charge_box_id: str, password: str = PASSWORD, protocol: str = "ocpp1.6",
                     **kwargs: Any) -> ClientConnection:
        return await open_socket(self.port, charge_box_id, password, protocol, **kwargs)

    @staticmethod
    def basic_auth(user: str, password: str) -> dict[str, str]:
        return basic_auth(user, password)

    @staticmethod
    def iso(moment: dt.datetime) -> str:
        return iso(moment)


@pytest.fixture
def stations(ingress: Any) -> Stations:
    return Stations(ingress.port)


#: Password of the portal accounts made by ``people``.
MEMBER_PASSWORD = "Mot-de-passe-membre-1"


@pytest.fixture
async def people(db: Database, fleet: Fleet) -> dict[str, str]:
    """Portal accounts in the fleet's two tenants: email → role."""
    from tenants import services

    accounts = [(fleet.cpam, "admin@cpam-bornes.demo", "admin"), (fleet.cpam, "visu@cpam-bornes.demo", "viewer"),
                (fleet.other, "admin@vlb-bornes.demo", "admin")]
    for tenant_id, email, role in accounts:
        async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
            await services.add_member(session, tenant_id, {"email": email, "role": role, "password": MEMBER_PASSWORD})
    return {email: role for _, email, role in accounts}
