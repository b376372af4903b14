"""Background jobs: an in-process queue in embedded mode, dramatiq on Redis when scaled.

Actors take ids only (``tenant_id`` first when tenant-scoped) and are safe to run
twice. ``Jobs.enqueue(name, **kwargs)`` is the one way to start one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from app.db import Database
from app.settings import Settings

__all__ = ["ACTORS", "Jobs", "actor", "create_jobs"]

log = logging.getLogger(__name__)
ActorFn = Callable[..., Awaitable[None]]
#: name -> coroutine function(ctx, **kwargs)
ACTORS: dict[str, ActorFn] = {}


def actor(name: str) -> Callable[[ActorFn], ActorFn]:
    def register(fn: ActorFn) -> ActorFn:
        ACTORS[name] = fn
        return fn

    return register


class JobContext:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db


class Jobs:
    """In-process queue (embedded mode)."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.ctx = JobContext(settings, db)
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def enqueue(self, name: str, **kwargs: Any) -> None:
        if name not in ACTORS:
            raise KeyError(f"unknown job {name!r}")
        await self._queue.put((name, kwargs))

    async def run_now(self, name: str, **kwargs: Any) -> None:
        await ACTORS[name](self.ctx, **kwargs)

    async def start(self) -> None:
        _load_actors()
        if self._worker is None:
            self._worker = asyncio.create_task(self._run())

    async def drain(self) -> None:
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            name, kwargs = await self._queue.get()
            try:
                await ACTORS[name](self.ctx, **kwargs)
            except Exception:
                log.exception("job %s failed", name)
            finally:
                self._queue.task_done()

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None


def _load_actors() -> None:
    import app.mail  # noqa: F401  (registers send_email)


def create_jobs(settings: Settings, db: Database) -> Jobs:
    return Jobs(settings, db)
