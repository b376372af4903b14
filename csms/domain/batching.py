"""Lookups asked by many stations at once, answered together.

A boot storm makes thousands of stations ask the same kind of question within a
second (who is this charger, what is its local-list state). One query per
question would be thousands of transactions; here the questions asked while one
query runs wait for the next, which answers all of them (up to ``max_batch``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["BatchedLookup", "group_by"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchedLookup(Generic[K, V]):
    """``await lookup.get(key)`` → ``fetch(keys)[key]`` (None when absent), many keys per ``fetch``.

    A failed ``fetch`` fails the lookups of its batch only.
    """

    def __init__(self, fetch: Callable[[list[K]], Awaitable[dict[K, V]]], *, max_batch: int = 500,
                 name: str = "csms-batched-lookup") -> None:
        self.fetch = fetch
        self.max_batch = max_batch
        self.name = name
        self._pending: dict[K, list[asyncio.Future[V | None]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self.name)
        return await future

    async def _run(self) -> None:
        while self._pending:
            keys = list(self._pending)[: self.max_batch]
            batch = {key: self._pending.pop(key) for key in keys}
            try:
                found: dict[K, V] | BaseException = await self.fetch(keys)
            except Exception as exc:  # noqa: BLE001 - handed to each waiting caller
                found = exc
            for key, futures in batch.items():
                for future in futures:
                    if future.done():
                        continue
                    if isinstance(found, BaseException):
                        future.set_exception(found)
                    else:
                        future.set_result(found.get(key))


def group_by(keys: list[tuple[Any, Any]]) -> dict[Any, list[Any]]:
    """[(a, x), (a, y), (b, z)] → {a: [x, y], b: [z]}, in order."""
    grouped: dict[Any, list[Any]] = {}
    for first, second in keys:
        grouped.setdefault(first, []).append(second)
    return grouped
