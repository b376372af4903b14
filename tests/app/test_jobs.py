"""Background jobs: the in-process queue (embedded) and dramatiq on a real Redis (scaled).

Each test uses its own Redis namespace in the test database (db 15) and deletes
its keys afterwards, so concurrent test runs never steal each other's messages.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import select

from app.jobs import (
    ACTOR_OPTIONS,
    ACTORS,
    DramatiqJobs,
    Jobs,
    actor,
    create_jobs,
    run_worker_process,
    start_worker,
)
from app.mail import OutboxMessage
from app.settings import Settings
from tests.conftest import make_settings

CENTRALE = Path(sys.executable).with_name("centrale")


@pytest.fixture
def scaled(settings: Settings, redis_url: str) -> Iterator[Settings]:
    """The test's settings in scaled mode, on a Redis namespace of its own."""
    namespace = f"centrale-test-{uuid.uuid4().hex[:10]}"
    yield replace(settings, redis_url=redis_url, redis_namespace=namespace)
    client = Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{namespace}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def flaky() -> Iterator[dict[str, list[float]]]:
    """An actor that fails ``fail_times`` times per key, then succeeds; attempts are timed."""
    attempts: dict[str, list[float]] = {}

    @actor("test_flaky", max_retries=3, min_backoff=20, max_backoff=200)
    async def test_flaky(ctx, *, key: str, fail_times: int) -> None:  # type: ignore[no-untyped-def]
        attempts.setdefault(key, []).append(time.monotonic())
        if len(attempts[key]) <= fail_times:
            raise RuntimeError(f"attempt {len(attempts[key])} fails on purpose")

    yield attempts
    ACTORS.pop("test_flaky", None)
    ACTOR_OPTIONS.pop("test_flaky", None)


async def _outbox(db, to: str) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return list((await session.scalars(select(OutboxMessage).where(OutboxMessage.to == to))).all())


async def _a_tenant(db) -> uuid.UUID:  # type: ignore[no-untyped-def]
    """A tenant's id: its queued mails are sent while it exists (a destroyed tenant's are dropped)."""
    from stdnum import luhn

    from tenants.services import create_tenant

    siren = "73282932" + luhn.calc_check_digit("73282932")
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        tenant = await create_tenant(session, {"name": "Mairie de test",
                                               "siret": siren + "0001" + luhn.calc_check_digit(siren + "0001")})
        return tenant.id


# --------------------------------------------------------------------------- embedded


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_embedded_queue_runs_jobs_with_json_arguments(settings, db):
    jobs = create_jobs(settings, db)
    assert type(jobs) is Jobs
    await jobs.start()
    try:
        tenant_id = await _a_tenant(db)
        # A UUID goes through JSON as in scaled mode: the actor gets the same type in both modes.
        await jobs.enqueue("send_email", to="embarque@exemple.fr", subject="Objet", body="Corps", tenant_id=tenant_id)
        async with asyncio.timeout(5):
            await jobs.drain()
    finally:
        await jobs.stop()
    [row] = await _outbox(db, "embarque@exemple.fr")
    assert (row.subject, row.status, row.tenant_id) == ("Objet", "outbox", tenant_id)
    with pytest.raises(KeyError):
        await jobs.enqueue("no_such_job")


def test_actors_must_be_async_and_options_known():
    with pytest.raises(TypeError):
        actor("test_sync")(lambda ctx: None)
    with pytest.raises(TypeError):
        actor("test_bad_option", retries=3)
    assert "test_sync" not in ACTORS


def test_worker_refuses_to_start_in_embedded_mode(tmp_path):
    with pytest.raises(SystemExit, match="CENTRALE_REDIS_URL"):
        run_worker_process(make_settings(tmp_path))


# --------------------------------------------------------------------------- dramatiq on Redis


@pytest.mark.redis
@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_email_enqueued_by_web_is_sent_by_a_centrale_worker_process(scaled, db, tmp_path):
    env = {
        **os.environ,
        "CENTRALE_DATABASE_URL": scaled.database_url,
        "CENTRALE_REDIS_URL": scaled.redis_url,
        "CENTRALE_REDIS_NAMESPACE": scaled.redis_namespace,
        "CENTRALE_SECRET_KEY": scaled.secret_key,
        "CENTRALE_VAR_DIR": str(tmp_path),
    }
    worker = subprocess.Popen(  # noqa: ASYNC220 (a real `centrale worker` process)
        [str(CENTRALE), "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    jobs = create_jobs(scaled, db)
    try:
        assert type(jobs) is DramatiqJobs
        await jobs.start()
        tenant_id = await _a_tenant(db)
        await jobs.enqueue("send_email", to="worker@exemple.fr", subject="Invitation", body="Bonjour", tenant_id=tenant_id)
        rows: list[OutboxMessage] = []
        async with asyncio.timeout(30):
            while not rows:
                assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
                await asyncio.sleep(0.1)
                rows = await _outbox(db, "worker@exemple.fr")
        async with asyncio.timeout(10):
            await jobs.drain()  # acknowledged: nothing left in flight
        assert len(await _outbox(db, "worker@exemple.fr")) == 1
        assert (rows[0].subject, rows[0].tenant_id) == ("Invitation", tenant_id)
    finally:
        await jobs.stop()
        worker.send_signal(signal.SIGTERM)
        try:
            output, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            raise
    assert worker.returncode == 0, output  # SIGTERM is a graceful stop
    assert "worker stopped" in output


@pytest.mark.redis
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_failing_actor_is_retried_with_backoff_then_dead_lettered(scaled, db, flaky):
    worker = await asyncio.to_thread(start_worker, scaled, threads=2, worker_timeout=50)
    jobs = create_jobs(scaled, db)
    try:
        await jobs.enqueue("test_flaky", key="recovers", fail_times=2)
        await jobs.enqueue("test_flaky", key="never", fail_times=99)
        async with asyncio.timeout(30):
            while len(flaky.get("recovers", ())) < 3 or len(flaky.get("never", ())) < 4:
                await asyncio.sleep(0.05)
            await jobs.drain()
    finally:
        await jobs.stop()
        await asyncio.to_thread(worker.stop, 10_000)
        await asyncio.to_thread(worker.broker.close)
    # Two failures then a success: three attempts, no more.
    assert len(flaky["recovers"]) == 3
    # max_retries=3: the first attempt and three retries, then the message is dead-lettered.
    assert len(flaky["never"]) == 4
    gaps = [b - a for a, b in zip(flaky["never"], flaky["never"][1:], strict=False)]
    assert all(gap >= 0.02 for gap in gaps), gaps  # min_backoff=20 ms, doubling
    client = Redis.from_url(scaled.redis_url)
    try:
        dead = client.hvals(f"{scaled.redis_namespace}:jobs:centrale.XQ.msgs")
    finally:
        client.close()
    assert len(dead) == 1 and b'"never"' in dead[0]


@pytest.mark.redis
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_dramatiq_enqueue_refuses_unknown_jobs(scaled, db):
    jobs = create_jobs(scaled, db)
    try:
        with pytest.raises(KeyError):
            await jobs.enqueue("no_such_job")
    finally:
        await jobs.stop()
