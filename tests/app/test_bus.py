"""The event bus: pub/sub and request/reply, in one process (LocalBus) and across
two RedisBus instances standing for two processes (a web process and an ingress).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.bus import Bus, BusRequestError, LocalBus, NoResponder, RedisBus


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bus, Bus]]:
    """(a, b): the publisher/requester side and the subscriber/server side."""
    if request.param == "local":
        bus = LocalBus()
        yield bus, bus
        await bus.close()
        return
    url = request.getfixturevalue("redis_url")
    namespace = f"centrale-test-{uuid.uuid4().hex[:10]}"  # pub/sub channels only: no key to clean
    a, b = RedisBus(url, namespace=namespace), RedisBus(url, namespace=namespace)
    yield a, b
    await a.close()
    await b.close()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._event = asyncio.Event()

    async def __call__(self, topic: str, payload: dict[str, Any]) -> None:
        self.messages.append((topic, payload))
        self._event.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.messages) < count:
                self._event.clear()
                await self._event.wait()


async def test_publish_reaches_subscribers_as_json(buses):
    a, b = buses
    inbox = Inbox()
    await b.subscribe("station.status", inbox)
    station = uuid.uuid4()
    assert await a.publish("station.status", {"station": station, "status": "Faulted"}) == 1
    await inbox.wait_for(1)
    # Both implementations deliver the JSON form: a UUID arrives as a string.
    assert inbox.messages == [("station.status", {"station": str(station), "status": "Faulted"})]


async def test_a_failing_handler_does_not_stop_delivery(buses):
    a, b = buses
    inbox = Inbox()

    async def broken(topic: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    await b.subscribe("t", broken)
    await b.subscribe("t", inbox)
    await a.publish("t", {"n": 1})
    await a.publish("t", {"n": 2})
    await inbox.wait_for(2)
    assert [p["n"] for _t, p in inbox.messages] == [1, 2]


async def test_unsubscribe_stops_delivery(buses):
    a, b = buses
    inbox, sentinel = Inbox(), Inbox()
    unsubscribe = await b.subscribe("t", inbox)
    await b.subscribe("sentinel", sentinel)
    await a.publish("t", {"n": 1})
    await inbox.wait_for(1)
    await unsubscribe()
    await a.publish("t", {"n": 2})
    # Redis delivers one publisher's messages in order: once the sentinel is in,
    # message 2 would have been too.
    await a.publish("sentinel", {})
    await sentinel.wait_for(1)
    assert [p["n"] for _t, p in inbox.messages] == [1]
    async with asyncio.timeout(5):
        while await a.publish("t", {"n": 3}):  # Redis drops the subscription too
            await asyncio.sleep(0.02)
    await unsubscribe()  # idempotent


async def test_request_reply_with_correlation(buses):
    a, b = buses

    async def station_command(topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.01 * (payload["n"] % 3))  # replies come back out of order
        return {"status": "Accepted", "n": payload["n"], "topic": topic}

    await b.serve("ocpp.command.CP-1", station_command)
    replies = await asyncio.gather(*(a.request("ocpp.command.CP-1", {"n": n}, timeout=5) for n in range(20)))
    assert [r["n"] for r in replies] == list(range(20))
    assert {r["status"] for r in replies} == {"Accepted"}
    assert {r["topic"] for r in replies} == {"ocpp.command.CP-1"}


async def test_request_without_server_fails_at_once(buses):
    a, _b = buses
    started = time.monotonic()
    with pytest.raises(NoResponder):
        await a.request("ocpp.command.NOBODY", {}, timeout=5)
    assert time.monotonic() - started < 2
    assert issubclass(NoResponder, TimeoutError)


async def test_request_times_out_when_the_server_does_not_answer(buses):
    a, b = buses

    async def stuck(topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(30)
        return {}

    await b.serve("ocpp.command.SLOW", stuck)
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        await a.request("ocpp.command.SLOW", {}, timeout=0.3)
    assert not isinstance(caught.value, NoResponder)
    assert 0.3 <= time.monotonic() - started < 3


async def test_a_failing_server_handler_raises_in_the_requester(buses):
    a, b = buses

    async def refuses(topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("station hors ligne")

    await b.serve("ocpp.command.CP-2", refuses)
    with pytest.raises(BusRequestError, match="station hors ligne"):
        await a.request("ocpp.command.CP-2", {}, timeout=5)


async def test_stopping_a_server_unsubscribes_it(buses):
    a, b = buses

    async def answer(topic: str, payload: dict[str, Any]) -> str:
        return "pong"

    stop = await b.serve("ping", answer)
    assert await a.request("ping", {}, timeout=5) == "pong"
    await stop()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(5):
            while True:  # on Redis the unsubscription reaches the server asynchronously
                await a.request("ping", {}, timeout=1)
                await asyncio.sleep(0.02)


@pytest.mark.redis
async def test_redis_bus_survives_a_foreign_message(redis_url):
    from redis.asyncio import Redis

    namespace = f"centrale-test-{uuid.uuid4().hex[:10]}"
    bus = RedisBus(redis_url, namespace=namespace)
    raw = Redis.from_url(redis_url)
    try:
        inbox = Inbox()
        await bus.subscribe("t", inbox)
        await raw.publish(f"{namespace}:t", b"not json")
        await raw.publish(f"{namespace}:t", b'{"ok": true}')
        await inbox.wait_for(1)
        assert inbox.messages == [("t", {"ok": True})]
    finally:
        await raw.aclose()
        await bus.close()
