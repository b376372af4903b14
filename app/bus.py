"""Event bus: publish/subscribe between components and processes.

``LocalBus`` works inside one process (embedded mode); ``RedisBus`` (scaled mode)
carries the same messages across processes over Redis pub/sub. Topics are plain
strings (``station.status``, ``ocpp.command.<charge_box_id>``); payloads are JSON
objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from app.settings import Settings

__all__ = ["Bus", "LocalBus", "RedisBus", "create_bus"]

Handler = Callable[[str, dict[str, Any]], Awaitable[None]]
log = logging.getLogger(__name__)


class Bus:
    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    async def subscribe(self, topic: str, handler: Handler) -> Callable[[], Awaitable[None]]:
        """Register ``handler``; returns a coroutine function that unsubscribes it."""
        raise NotImplementedError

    async def close(self) -> None:
        return None


class LocalBus(Bus):
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        # Round-trip through JSON so local and Redis delivery behave the same.
        message = json.loads(json.dumps(payload, default=str))
        for handler in list(self._handlers.get(topic, ())):
            try:
                await handler(topic, message)
            except Exception:
                log.exception("bus handler failed for %s", topic)

    async def subscribe(self, topic: str, handler: Handler) -> Callable[[], Awaitable[None]]:
        self._handlers[topic].append(handler)

        async def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._handlers[topic].remove(handler)

        return unsubscribe


class RedisBus(Bus):
    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._reader: asyncio.Task[None] | None = None

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        await self._redis.publish(f"centrale:{topic}", json.dumps(payload, default=str))

    async def subscribe(self, topic: str, handler: Handler) -> Callable[[], Awaitable[None]]:
        first = not self._handlers[topic]
        self._handlers[topic].append(handler)
        if first:
            await self._pubsub.subscribe(f"centrale:{topic}")
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())

        async def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._handlers[topic].remove(handler)
            if not self._handlers[topic]:
                await self._pubsub.unsubscribe(f"centrale:{topic}")

        return unsubscribe

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
            topic = message["channel"].decode().removeprefix("centrale:")
            payload = json.loads(message["data"])
            for handler in list(self._handlers.get(topic, ())):
                try:
                    await handler(topic, payload)
                except Exception:
                    log.exception("bus handler failed for %s", topic)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()
        await self._redis.aclose()


async def create_bus(settings: Settings) -> Bus:
    return RedisBus(settings.redis_url) if settings.redis_url else LocalBus()
