"""Write-behind group commit: many stations' messages committed in one transaction.

DESIGN.md: « A station-initiated message is answered only after what it reports is
committed ». Committing each message on its own would cap the ingress at the
database's commit rate; instead each handler submits its unit of work with a
future, and one task runs the pending units in a single transaction, commits, then
resolves every future. The handler answers the station only when its future
resolves. While one batch commits, the next one fills up, so the batch size adapts
to the load with no added delay.

Isolation: units are sorted by tenant (stable, so one station's units keep their
order) and the session's tenant scope is switched before each tenant's units:
every unit runs under its own tenant's scope, ORM filter and PostgreSQL RLS alike.

Failure: if the batch fails, every unit is retried alone in its own transaction,
so one bad unit fails only its own message. Units must therefore be safe to run
again (they are: they read the state they need and write idempotently).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, scope_session

__all__ = ["GroupCommitWriter", "WriterStopped"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Unit = Callable[[AsyncSession], Awaitable[Any]]


class WriterStopped(RuntimeError):
    """The writer is stopped: the unit was not run."""


@dataclass
class _Job:
    tenant_id: uuid.UUID
    fn: Unit
    actor: dict[str, Any]
    future: asyncio.Future[Any]
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class WriterStats:
    batches: int = 0
    units: int = 0
    largest_batch: int = 0
    fallbacks: int = 0


class GroupCommitWriter:
    def __init__(self, db: Database, *, max_batch: int = 500) -> None:
        self.db = db
        self.max_batch = max_batch
        self.stats = WriterStats()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name="csms-group-commit")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        self._closing = True
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def submit(self, tenant_id: uuid.UUID, fn: Callable[[AsyncSession], Awaitable[T]], *, actor: str) -> T:
        """Run ``fn(session)`` in the next batch, under ``tenant_id``'s scope; returns once committed."""
        if self._task is None:
            raise WriterStopped("le journal d'écriture est arrêté")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(tenant_id, fn, {"user_id": None, "label": actor}, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            except Exception as exc:  # never let the writer die
                log.exception("group commit failed")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[_Job]) -> None:
        batch.sort(key=lambda job: job.tenant_id.int)
        self.stats.batches += 1
        self.stats.units += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        try:
            results = await self._transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                _resolve(batch[0], exc=exc)
                return
            self.stats.fallbacks += 1
            log.warning("group commit of %d units failed (%s); retrying one by one", len(batch), exc)
            for job in batch:
                try:
                    (result,) = await self._transaction([job])
                except Exception as one_exc:  # noqa: BLE001 - handed to the waiting handler
                    _resolve(job, exc=one_exc)
                else:
                    _resolve(job, result=result)
            return
        for job, result in zip(batch, results, strict=True):
            _resolve(job, result=result)

    async def _transaction(self, jobs: list[_Job]) -> list[Any]:
        results: list[Any] = []
        async with self.db.session([jobs[0].tenant_id], actor=jobs[0].actor) as session, session.begin():
            current = jobs[0].tenant_id
            for job in jobs:
                if job.tenant_id != current:
                    scope_session(session, [job.tenant_id], actor=job.actor)  # republishes SET LOCAL
                    current = job.tenant_id
                else:
                    session.info["actor"] = job.actor  # who the audit log names for this unit
                results.append(await job.fn(session))
                await session.flush()
        return results


def _resolve(job: _Job, *, result: Any = None, exc: BaseException | None = None) -> None:
    if job.future.done():  # the waiting handler went away (station disconnected)
        return
    if exc is not None:
        job.future.set_exception(exc)
    else:
        job.future.set_result(result)
