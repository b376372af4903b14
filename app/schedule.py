"""Periodic jobs: each component's sweeps, fired once per period across every process and restart.

A component lists its periodic jobs in its manifest (``Component.schedules``): a
``Schedule`` names an actor (``@app.jobs.actor``) and a period. A ``Scheduler`` runs in
every process that runs the web app (embedded: the one process; scaled: each web
process) and, every few seconds, claims the schedules that are due in the
``scheduled_jobs`` table with one conditional ``UPDATE`` each::

    UPDATE scheduled_jobs SET next_run_at = :now + every ... WHERE name = :name AND next_run_at <= :now

Only the process whose ``UPDATE`` changed the row enqueues the job (``Jobs.enqueue``:
the in-process queue embedded, dramatiq scaled), so N processes fire a schedule once
per period, and a restart does not fire it again before ``next_run_at`` (the table
keeps it). A schedule seen for the first time is due at once.

What a scheduled job must be: a sweep over durable state that finds what is due
itself and records what it did (« the November report of this tenant was generated »,
« the 75 % notice of this ticket was sent »), so that running it twice does nothing
more, and a run lost with a crashed process (an embedded queue dies with its process)
is made up by the next one, one period later. The period is therefore the longest a
due action may wait: a minute for SLA notices, an hour for monthly and yearly work.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Integer, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Database, utcnow

__all__ = ["TICK_SECONDS", "Schedule", "ScheduledJob", "Scheduler"]

log = logging.getLogger(__name__)

#: How often a scheduler looks for due schedules.
TICK_SECONDS = 5.0


@dataclass(frozen=True)
class Schedule:
    """A periodic job: ``actor`` (a registered job name) run every ``every``, with ``kwargs``."""

    #: Unique across components: ``"incidents.sla-notices"``.
    name: str
    actor: str
    every: dt.timedelta
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.every < dt.timedelta(seconds=1):
            raise ValueError(f"schedule {self.name!r}: a period of at least one second")
        if not 0 < len(self.name) <= 100:
            raise ValueError("a schedule's name has 1 to 100 characters")


class ScheduledJob(Base):
    """When each schedule is next due (platform-level: no tenant, no row-level security)."""

    __tablename__ = "scheduled_jobs"
    __audited__ = False
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_run_at: Mapped[dt.datetime]
    last_run_at: Mapped[dt.datetime | None]
    runs: Mapped[int] = mapped_column(Integer, default=0)


class _Enqueuer(Protocol):
    async def enqueue(self, name: str, **kwargs: Any) -> None: ...


class Scheduler:
    """Claims due schedules and enqueues their jobs; ``run_due`` is one pass, ``start`` loops."""

    def __init__(self, db: Database, jobs: _Enqueuer, schedules: Iterable[Schedule], *,
                 tick: float = TICK_SECONDS, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.jobs = jobs
        self.schedules = {s.name: s for s in schedules}
        self.tick = tick
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._known: set[str] = set()

    async def run_due(self, now: dt.datetime | None = None) -> list[str]:
        """Fire what is due at ``now``; returns the names this process fired."""
        now = now or self.clock()
        await self._register(now)
        fired: list[str] = []
        for schedule in self.schedules.values():
            async with self.db.session() as session, session.begin():
                claimed = await session.execute(
                    update(ScheduledJob)
                    .where(ScheduledJob.name == schedule.name, ScheduledJob.next_run_at <= now)
                    .values(next_run_at=now + schedule.every, last_run_at=now, runs=ScheduledJob.runs + 1)
                    .execution_options(synchronize_session=False))
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                fired.append(schedule.name)
                try:
                    await self.jobs.enqueue(schedule.actor, **dict(schedule.kwargs))
                except Exception:  # the broker is down: the next period's run makes it up
                    log.exception("scheduled job %s could not be enqueued", schedule.name)
        return fired

    async def _register(self, now: dt.datetime) -> None:
        missing = set(self.schedules) - self._known
        if not missing:
            return
        async with self.db.session() as session:
            present = set((await session.scalars(select(ScheduledJob.name).where(
                ScheduledJob.name.in_(missing)))).all())
        for name in sorted(missing - present):
            try:
                async with self.db.session() as session, session.begin():
                    session.add(ScheduledJob(name=name, next_run_at=now, last_run_at=None, runs=0))
            except IntegrityError:  # another process registered it first
                pass
        self._known |= missing

    async def start(self) -> None:
        if self._task is None and self.schedules:
            self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:  # the database restarting: try again at the next tick
                log.exception("scheduler pass failed")
            await asyncio.sleep(self.tick)
