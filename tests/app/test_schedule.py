"""Periodic jobs (app.schedule): once per period across processes and restarts, on both databases."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from app import composition
from app.db import Database
from app.schedule import Schedule, ScheduledJob, Scheduler

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


class Recorder:
    """Stands for the job queue: what the schedulers enqueued, in order."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, dict[str, Any]]] = []

    async def enqueue(self, name: str, **kwargs: Any) -> None:
        self.enqueued.append((name, kwargs))


HOURLY = Schedule("test.hourly", "send_email", dt.timedelta(hours=1), {"to": "a@exemple.fr"})
MINUTELY = Schedule("test.minutely", "send_email", dt.timedelta(minutes=1))


async def test_a_new_schedule_fires_at_once_then_once_per_period(db: Database) -> None:
    jobs = Recorder()
    scheduler = Scheduler(db, jobs, [HOURLY, MINUTELY])
    assert sorted(await scheduler.run_due(T0)) == ["test.hourly", "test.minutely"]
    assert await scheduler.run_due(T0 + dt.timedelta(seconds=59)) == []
    assert await scheduler.run_due(T0 + dt.timedelta(minutes=1)) == ["test.minutely"]
    assert sorted(await scheduler.run_due(T0 + dt.timedelta(hours=1))) == ["test.hourly", "test.minutely"]
    assert jobs.enqueued[0] == ("send_email", {"to": "a@exemple.fr"})
    async with db.session() as session:
        row = await session.get(ScheduledJob, "test.hourly")
        assert row is not None
        assert (row.runs, row.last_run_at, row.next_run_at) == (2, T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=2))


async def test_several_processes_fire_a_schedule_once(db: Database) -> None:
    # Each web process of a deployment runs a scheduler; they race on the same rows.
    queues = [Recorder() for _ in range(4)]
    schedulers = [Scheduler(db, q, [HOURLY]) for q in queues]
    for step in range(3):
        now = T0 + dt.timedelta(hours=step)
        fired = await asyncio.gather(*(s.run_due(now) for s in schedulers))
        assert sum(len(f) for f in fired) == 1, f"hour {step}: {fired}"
    assert sum(len(q.enqueued) for q in queues) == 3


async def test_a_restarted_process_does_not_fire_before_the_period(db: Database) -> None:
    first = Recorder()
    assert await Scheduler(db, first, [HOURLY]).run_due(T0) == ["test.hourly"]
    # The process restarts ten minutes later: a new scheduler reads when the schedule is due.
    again = Recorder()
    restarted = Scheduler(db, again, [HOURLY])
    assert await restarted.run_due(T0 + dt.timedelta(minutes=10)) == []
    assert await restarted.run_due(T0 + dt.timedelta(hours=1)) == ["test.hourly"]
    assert len(again.enqueued) == 1


async def test_the_loop_fires_due_schedules_and_stops(db: Database) -> None:
    jobs = Recorder()
    scheduler = Scheduler(db, jobs, [MINUTELY], tick=0.01)
    await scheduler.start()
    try:
        async with asyncio.timeout(5):
            while not jobs.enqueued:
                await asyncio.sleep(0.01)
    finally:
        await scheduler.stop()
    assert jobs.enqueued == [("send_email", {})]


def test_schedules_need_a_period_and_unique_names() -> None:
    with pytest.raises(ValueError, match="au moins|at least"):
        Schedule("x", "send_email", dt.timedelta(0))
    names = [s.name for s in composition.schedules()]
    assert len(names) == len(set(names))
