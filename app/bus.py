"""Event bus: publish/subscribe and request/reply between components and processes.

``LocalBus`` works inside one process (embedded mode); ``RedisBus`` (scaled mode)
carries the same messages across processes over Redis pub/sub. Topics are plain
strings, declared by each component in ``X/events.py`` (``station.status``,
``ocpp.node.<node>``); payloads are JSON objects. Delivery is at most once: a process
that is not subscribed when a message is published never sees it. What must not be
lost goes through the outbox instead (``app.outbox``: at least once, after a crash too).

Request/reply (a web process asking the ingress process that holds a station's
socket to run a command): ``serve(topic, handler)`` answers requests on ``topic``
with what ``handler`` returns; ``request(topic, payload, timeout)`` publishes the
request with a correlation id and the requester's own reply topic (its *inbox*)
and waits for the answer. Nobody serving the topic raises ``NoResponder`` at once
(a ``TimeoutError``), nobody answering in time raises ``TimeoutError``, and a
handler that fails raises ``BusRequestError`` in the requester.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from app.settings import Settings

__all__ = ["Bus", "BusRequestError", "LocalBus", "NoResponder", "RedisBus", "create_bus"]

Handler = Callable[[str, dict[str, Any]], Awaitable[None]]
#: Answers a request: receives (topic, payload), returns the reply payload.
Responder = Callable[[str, dict[str, Any]], Awaitable[Any]]
Unsubscribe = Callable[[], Awaitable[None]]
log = logging.getLogger(__name__)


class BusRequestError(RuntimeError):
    """The handler serving a request failed; the message is its error."""


class NoResponder(TimeoutError):
    """Nobody serves the requested topic (no process subscribed to it)."""


def _json_roundtrip(payload: Any) -> Any:
    return json.loads(json.dumps(payload, default=str))


class Bus:
    """Common request/reply machinery over ``publish``/``subscribe``."""

    def __init__(self) -> None:
        self._inbox: str | None = None
        self._inbox_lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._serving: set[asyncio.Task[None]] = set()

    async def publish(self, topic: str, payload: dict[str, Any]) -> int:
        """Publish ``payload``; returns how many receivers got it (processes on Redis)."""
        raise NotImplementedError

    async def publish_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Publish ``events`` in order (Redis: one round trip for all of them)."""
        for topic, payload in events:
            await self.publish(topic, payload)

    async def subscribe(self, topic: str, handler: Handler) -> Unsubscribe:
        """Register ``handler``; returns a coroutine function that unsubscribes it."""
        raise NotImplementedError

    async def request(self, topic: str, payload: dict[str, Any], timeout: float = 5.0) -> Any:  # noqa: ASYNC109 (the documented API)
        """Send a request to whoever serves ``topic`` and return its reply payload."""
        inbox = await self._ensure_inbox()
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        try:
            async with asyncio.timeout(timeout):
                receivers = await self.publish(
                    topic, {"reply_to": inbox, "correlation_id": correlation_id, "payload": payload}
                )
                if not receivers:
                    raise NoResponder(f"nobody serves {topic!r}")
                reply = await future
        finally:
            self._pending.pop(correlation_id, None)
        if "error" in reply:
            raise BusRequestError(reply["error"])
        return reply.get("payload")

    async def serve(self, topic: str, handler: Responder) -> Unsubscribe:
        """Answer every request published on ``topic`` with ``handler``'s return value.

        Each request runs in its own task, so a slow handler delays neither the
        publisher nor the other messages of this bus.
        """

        async def on_request(topic: str, message: dict[str, Any]) -> None:
            reply_to, correlation_id = message.get("reply_to"), message.get("correlation_id")
            if not isinstance(reply_to, str) or not isinstance(correlation_id, str):
                log.warning("malformed request on %s ignored", topic)
                return
            task = asyncio.create_task(
                self._answer(topic, message.get("payload") or {}, handler, reply_to, correlation_id)
            )
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

        return await self.subscribe(topic, on_request)

    async def _answer(
        self, topic: str, payload: dict[str, Any], handler: Responder, reply_to: str, correlation_id: str
    ) -> None:
        try:
            reply: dict[str, Any] = {"correlation_id": correlation_id, "payload": await handler(topic, payload)}
        except Exception as exc:
            log.exception("bus request handler failed for %s", topic)
            reply = {"correlation_id": correlation_id, "error": str(exc) or type(exc).__name__}
        try:
            await self.publish(reply_to, reply)
        except Exception:
            log.exception("bus reply to %s failed", topic)

    async def _ensure_inbox(self) -> str:
        async with self._inbox_lock:
            if self._inbox is None:
                inbox = f"_reply.{uuid.uuid4().hex}"
                await self.subscribe(inbox, self._on_reply)
                self._inbox = inbox
            return self._inbox

    async def _on_reply(self, topic: str, message: dict[str, Any]) -> None:
        future = self._pending.get(str(message.get("correlation_id")))
        if future is not None and not future.done():
            future.set_result(message)

    async def close(self) -> None:
        for task in list(self._serving):
            task.cancel()
        for task in list(self._serving):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for future in self._pending.values():
            future.cancel()


class LocalBus(Bus):
    def __init__(self) -> None:
        super().__init__()
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    async def publish(self, topic: str, payload: dict[str, Any]) -> int:
        # Round-trip through JSON so local and Redis delivery behave the same.
        message = _json_roundtrip(payload)
        handlers = list(self._handlers.get(topic, ()))
        for handler in handlers:
            try:
                await handler(topic, message)
            except Exception:
                log.exception("bus handler failed for %s", topic)
        return len(handlers)

    async def subscribe(self, topic: str, handler: Handler) -> Unsubscribe:
        self._handlers[topic].append(handler)

        async def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._handlers[topic].remove(handler)
            if not self._handlers.get(topic, True):
                del self._handlers[topic]

        return unsubscribe


class RedisBus(Bus):
    """Redis pub/sub: one connection for publishing, one subscriber connection per bus.

    ``subscribe`` returns only once Redis has confirmed the subscription, so a
    message published by another process after that is delivered.
    """

    SUBSCRIBE_TIMEOUT = 5.0

    def __init__(self, url: str, *, namespace: str = "centrale") -> None:
        from redis.asyncio import Redis

        super().__init__()
        self._prefix = f"{namespace}:"
        self._redis = Redis.from_url(url)
        self._pubsub = self._redis.pubsub()
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._confirmed: dict[str, asyncio.Event] = {}
        self._reader: asyncio.Task[None] | None = None

    async def publish(self, topic: str, payload: dict[str, Any]) -> int:
        return int(await self._redis.publish(self._prefix + topic, json.dumps(payload, default=str)))

    async def publish_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        if not events:
            return
        pipe = self._redis.pipeline(transaction=False)  # in order, one round trip
        for topic, payload in events:
            pipe.publish(self._prefix + topic, json.dumps(payload, default=str))
        await pipe.execute()

    async def subscribe(self, topic: str, handler: Handler) -> Unsubscribe:
        channel = self._prefix + topic
        first = not self._handlers[topic]
        self._handlers[topic].append(handler)
        try:
            if first:
                self._confirmed[channel] = asyncio.Event()
                await self._pubsub.subscribe(channel)
            if self._reader is None:
                self._reader = asyncio.create_task(self._read())
            async with asyncio.timeout(self.SUBSCRIBE_TIMEOUT):
                await self._confirmed[channel].wait()
        except BaseException:
            await self._remove(topic, handler)
            raise

        async def unsubscribe() -> None:
            await self._remove(topic, handler)

        return unsubscribe

    async def _remove(self, topic: str, handler: Handler) -> None:
        with contextlib.suppress(ValueError):
            self._handlers[topic].remove(handler)
        if not self._handlers.get(topic, True):
            del self._handlers[topic]
            self._confirmed.pop(self._prefix + topic, None)
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(self._prefix + topic)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("redis bus read failed; retrying")
                await asyncio.sleep(0.5)
                continue
            if message is None:
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                continue
            channel = message["channel"].decode() if message["channel"] else ""
            if message["type"] == "subscribe":
                event = self._confirmed.get(channel)
                if event is not None:
                    event.set()
                continue
            if message["type"] != "message":
                continue
            topic = channel.removeprefix(self._prefix)
            try:
                payload = json.loads(message["data"])
            except ValueError:
                log.warning("non-JSON message on %s ignored", channel)
                continue
            for handler in list(self._handlers.get(topic, ())):
                try:
                    await handler(topic, payload)
                except Exception:
                    log.exception("bus handler failed for %s", topic)

    async def close(self) -> None:
        await super().close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._pubsub.aclose()
        await self._redis.aclose()


async def create_bus(settings: Settings) -> Bus:
    if settings.redis_url:
        return RedisBus(settings.redis_url, namespace=settings.redis_namespace)
    return LocalBus()
