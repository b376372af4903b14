"""Remote commands in scaled mode: two ``centrale ingress`` processes and a web process on Redis.

DESIGN.md « Scaled mode »: a command from any web process reaches the ingress
process that holds the station's socket. Two real ingress subprocesses (their own
ports and node names, the same PostgreSQL database and Redis, a Redis namespace of
this test's own) and the web app with its own RedisBus; the stations are the
``ocpp`` library's ChargePoint connected to one ingress or the other; commands go
through the web API. On CI (``CI=true``) a missing PostgreSQL or Redis fails.
"""

from __future__ import annotations

import dataclasses
import signal
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.stores.memory import MemoryStore

from app.bus import RedisBus
from app.db import Database
from app.settings import Settings
from tests.csms.conftest import Events
from tests.csms.test_commands import answering_station, calls_received
from tests.csms.test_commands_web import serve_web
from tests.csms.test_kill9 import IngressProcess

pytestmark = pytest.mark.postgres


@pytest.fixture
def backend() -> str:
    return "postgres"


class RedisIngress(IngressProcess):
    """``centrale ingress`` on the test's PostgreSQL database and Redis namespace."""

    def __init__(self, settings: Settings, tmp_path: Any, redis_url: str, namespace: str) -> None:
        super().__init__(settings, tmp_path)
        self.env.update({"CENTRALE_REDIS_URL": redis_url, "CENTRALE_REDIS_NAMESPACE": namespace})


@dataclasses.dataclass
class Scaled:
    url: str
    ingresses: list[RedisIngress]
    events: Events
    headers: dict[str, str]


@pytest.fixture
async def scaled(settings: Settings, db: Database, fleet: Any, redis_url: str, tmp_path: Any
                 ) -> AsyncIterator[Scaled]:
    from app.web import create_app
    from tenants import services

    namespace = f"centrale-test-{uuid.uuid4().hex[:12]}"
    # The web process: its own bus on Redis (created by the app), like `centrale web`.
    web_settings = dataclasses.replace(settings, redis_url=redis_url, redis_namespace=namespace)
    async with db.transaction([fleet.cpam], actor={"user_id": None, "label": "test"}) as session:
        member = await services.add_member(session, fleet.cpam, {
            "email": "exploitation@cpam72.fr", "role": "operator", "password": "Mot-de-passe-exploitation-1"})
        user = await services.get_user(session, member.user_id)
        _row, token = await services.create_api_token(session, user, name="commandes")
    # The test's own listener on the same namespace: it sees the ingresses' events.
    listener = RedisBus(redis_url, namespace=namespace)
    events = Events()
    await listener.subscribe("station.connected", events.handler)
    ingresses = [RedisIngress(settings, tmp_path, redis_url, namespace) for _ in range(2)]
    web_db = Database(settings.database_url, pool_size=2)
    app = create_app(web_settings, db=web_db, stores={"sessions": MemoryStore(), "throttle": MemoryStore()})
    try:
        for ingress in ingresses:
            await ingress.start()
        async with serve_web(app) as url:
            yield Scaled(url, ingresses, events, {"Authorization": f"Bearer {token}"})
    finally:
        for ingress in ingresses:
            if ingress.process is not None:
                await ingress.kill(signal.SIGTERM)
        await listener.close()


async def wait_connected(scaled: Scaled, charge_box_id: str, port: int) -> dict[str, Any]:
    [event] = (await scaled.events.wait(
        "station.connected", lambda p: p["charge_box_id"] == charge_box_id and p["node"].endswith(f":{port}")))[-1:]
    return event


async def command(http: httpx.AsyncClient, scaled: Scaled, charge_box_id: str, action: str,
                  payload: dict[str, Any]) -> httpx.Response:
    return await http.post(f"/api/v1/stations/{charge_box_id}/commands", headers=scaled.headers,
                           json={"action": action, "payload": payload, "timeout": 15})


def mine(wire: Any, actions: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """The calls of these actions (the ingress may send its own, e.g. local list checks)."""
    return [(a, p) for a, p in calls_received(wire) if a in actions]


async def test_each_command_reaches_the_station_through_the_ingress_holding_it(scaled):
    one, two = scaled.ingresses
    async with (answering_station(one.port, "CPAM-LM-01") as (_a, wire_a),
                answering_station(two.port, "CPAM-LM-201", "2.0.1") as (_b, wire_b),
                httpx.AsyncClient(base_url=scaled.url, timeout=30) as http):
        node_a = (await wait_connected(scaled, "CPAM-LM-01", one.port))["node"]
        node_b = (await wait_connected(scaled, "CPAM-LM-201", two.port))["node"]
        reset = await command(http, scaled, "CPAM-LM-01", "Reset", {"type": "Soft"})
        start = await command(http, scaled, "CPAM-LM-201", "RequestStartTransaction",
                              {"idToken": {"idToken": "BADGE-OK", "type": "ISO14443"}, "remoteStartId": 9, "evseId": 1})
        unlock = await command(http, scaled, "CPAM-LM-01", "UnlockConnector", {"connectorId": 2})
        log = {e["action"]: e for e in (await http.get("/api/v1/stations/CPAM-LM-01/commands",
                                                       headers=scaled.headers)).json()["items"]}
        log_b = (await http.get("/api/v1/stations/CPAM-LM-201/commands", headers=scaled.headers)).json()["items"]
    assert (reset.status_code, reset.json()["answer"]) == (200, {"status": "Accepted"})
    assert (start.status_code, start.json()["answer"]) == (200, {"status": "Accepted"})
    assert (unlock.status_code, unlock.json()["answer"]) == (200, {"status": "Unlocked"})
    acts = {"Reset", "UnlockConnector", "RequestStartTransaction"}
    assert mine(wire_a, acts) == [("Reset", {"type": "Soft"}), ("UnlockConnector", {"connectorId": 2})]
    assert mine(wire_b, acts) == [("RequestStartTransaction", {"idToken": {"idToken": "BADGE-OK", "type": "ISO14443"},
                                                               "remoteStartId": 9, "evseId": 1})]
    assert node_a != node_b
    assert (log["Reset"]["node"], log["UnlockConnector"]["node"]) == (node_a, node_a)
    # (the ingress logs its own commands too, e.g. the local authorization list pushes)
    assert [(e["action"], e["node"], e["actor"]) for e in log_b if e["action"] in acts] == [
        ("RequestStartTransaction", node_b, "exploitation@cpam72.fr (API)")]


async def test_a_command_follows_a_station_that_moved_to_the_other_ingress(scaled):
    one, two = scaled.ingresses
    async with (httpx.AsyncClient(base_url=scaled.url, timeout=30) as http,
                answering_station(one.port, "CPAM-LM-01") as (_a, wire_a)):
        await wait_connected(scaled, "CPAM-LM-01", one.port)
        first = await command(http, scaled, "CPAM-LM-01", "ClearCache", {})
        # The station reconnects through the other ingress (a load balancer's choice): the new
        # connection replaces the old one, on both processes.
        async with answering_station(two.port, "CPAM-LM-01") as (_b, wire_b):
            await wait_connected(scaled, "CPAM-LM-01", two.port)
            second = await command(http, scaled, "CPAM-LM-01", "ClearCache", {})
    assert (first.status_code, second.status_code) == (200, 200)
    assert mine(wire_a, {"ClearCache"}) == [("ClearCache", {})]
    assert mine(wire_b, {"ClearCache"}) == [("ClearCache", {})]


async def test_a_station_whose_ingress_died_is_offline_at_once(scaled):
    """The dead process's connection rows stay open until it restarts: nobody serves its topic,
    so the command fails as offline without waiting for its timeout."""
    one, _two = scaled.ingresses
    async with (httpx.AsyncClient(base_url=scaled.url, timeout=30) as http,
                answering_station(one.port, "CPAM-LM-01")):
        await wait_connected(scaled, "CPAM-LM-01", one.port)
        await one.kill(signal.SIGKILL)
        response = await http.post("/api/v1/stations/CPAM-LM-01/commands", headers=scaled.headers,
                                   json={"action": "ClearCache", "payload": {}, "timeout": 60})
    assert response.status_code == 409
    assert response.json()["title"] == "Borne hors ligne : la commande n'a pas été envoyée"


async def test_a_decommissioned_station_is_closed_by_the_ingress_holding_it(scaled, db, fleet):
    """Decommissioning from the web process closes the socket held by another process (over Redis);
    the connection row says why, and neither ingress lets the station in again."""
    import asyncio

    from sqlalchemy import select
    from websockets.exceptions import InvalidStatus

    from csms.domain.models import ConnectionLog
    from tenants import services
    from tests.csms.conftest import open_socket

    async with db.transaction([fleet.cpam], actor={"user_id": None, "label": "test"}) as session:
        member = await services.add_member(session, fleet.cpam, {
            "email": "admin-bornes@cpam72.fr", "role": "admin", "password": "Mot-de-passe-admin-bornes-1"})
        _row, token = await services.create_api_token(session, await services.get_user(session, member.user_id),
                                                      name="parc")
    _one, two = scaled.ingresses
    async with (httpx.AsyncClient(base_url=scaled.url, timeout=30) as http,
                answering_station(two.port, "CPAM-LM-01") as (_cp, wire)):
        await wait_connected(scaled, "CPAM-LM-01", two.port)
        done = await http.post("/api/v1/stations/CPAM-LM-01/decommission", headers={"Authorization": f"Bearer {token}"},
                               json={"reason": "Borne déposée"})
        assert done.status_code == 200, done.text
        await asyncio.wait_for(wire.ws.wait_closed(), 15)
        assert (wire.ws.close_code, wire.ws.close_reason) == (1000, "décommissionnée")
    rows: list[Any] = []
    for _ in range(100):  # the ingress process records the disconnection in its own commit
        async with db.session([fleet.cpam]) as session:
            rows = [(r.reason, r.close_code) for r in await session.scalars(select(ConnectionLog).where(
                ConnectionLog.charger_id == fleet.chargers["CPAM-LM-01"].charger_id))]
        if rows and rows[0][0]:
            break
        await asyncio.sleep(0.1)
    assert rows == [("decommissioned", 1000)]
    for ingress in scaled.ingresses:
        with pytest.raises(InvalidStatus) as refused:
            await open_socket(ingress.port, "CPAM-LM-01")
        assert refused.value.response.status_code == 404
