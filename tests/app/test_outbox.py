"""The outbox (app/outbox/, docs/events.md): typed events written with the change they report,
delivered at least once, once in effect, in their tenant's scope, after a crash too.

On SQLite and PostgreSQL (the ``settings`` fixture); the crash test kills a real ``centrale
serve`` with SIGKILL between its commit and any delivery.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from litestar.stores.memory import MemoryStore
from litestar.testing import AsyncTestClient
from sqlalchemy import event, func, select, text

from app.audit import AuditEvent
from app.cli import cli
from app.db import Database, TenantScopeError, tenant_ids_of, utcnow
from app.outbox import (
    DELIVERED,
    FAILED,
    IGNORED,
    PENDING,
    Delivery,
    Event,
    OutboxDelivery,
    OutboxEvent,
    Relay,
    RelayPass,
    RelayThread,
    Subscriber,
    outbox_counts,
    publish_on_commit,
)
from app.settings import Settings
from csms.domain.events import SiteBudgetChanged
from csms.domain.models import CsmsTenantSettings
from tenants.models import Site
from tests.csms.conftest import make_tenants

CENTRALE = Path(sys.executable).with_name("centrale")
SYSTEM = {"user_id": None, "label": "test"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Noted(Event):
    """A test event: something was noted for a tenant."""

    topic: ClassVar[str] = "test.outbox.noted"
    tenant_id: uuid.UUID
    note: str
    at: dt.datetime


def noted(tenant_id: uuid.UUID, note: str = "") -> Noted:
    return Noted(tenant_id=tenant_id, note=note, at=utcnow())


async def outbox_rows(db: Database) -> list[Any]:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(OutboxEvent.__table__).order_by(OutboxEvent.created_at))).all()


async def delivery_rows(db: Database) -> list[Any]:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(OutboxDelivery.__table__).order_by(OutboxDelivery.updated_at))).all()


# --------------------------------------------------------------------------- publishing


async def test_an_event_is_written_with_its_transaction_and_dropped_with_its_rollback(db):
    fleet = await make_tenants(db)
    async with db.transaction([fleet.cpam], actor=SYSTEM) as session:
        event_id = publish_on_commit(session, noted(fleet.cpam, "kept"))
        assert await outbox_rows(db) == []  # nothing before the commit
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction([fleet.cpam], actor=SYSTEM) as session:
            publish_on_commit(session, noted(fleet.cpam, "rolled back"))
            raise RuntimeError("boom")
    async with db.transaction([fleet.cpam], actor=SYSTEM) as session:
        nested = await session.begin_nested()
        publish_on_commit(session, noted(fleet.cpam, "savepoint rolled back"))
        await nested.rollback()
        async with session.begin_nested():
            publish_on_commit(session, noted(fleet.cpam, "savepoint released"))
    [kept, released] = await outbox_rows(db)
    assert (kept.id, kept.topic, kept.tenant_id, kept.dispatched_at) == (event_id, "test.outbox.noted", fleet.cpam, None)
    assert (kept.payload["note"], released.payload["note"]) == ("kept", "savepoint released")
    assert kept.payload["tenant_id"] == str(fleet.cpam) and kept.payload["at"].endswith("Z")
    assert Noted.from_payload(kept.payload).tenant_id == fleet.cpam


async def test_an_event_of_another_tenant_is_refused_and_nothing_is_written(db):
    fleet = await make_tenants(db)
    with pytest.raises(TenantScopeError):
        async with db.transaction([fleet.cpam], actor=SYSTEM) as session:
            publish_on_commit(session, noted(fleet.other))
    with pytest.raises(TypeError):
        async with db.transaction([fleet.cpam], actor=SYSTEM) as session:
            publish_on_commit(session, "csms.alert.opened")  # type: ignore[arg-type]
    assert await outbox_rows(db) == []


async def test_the_events_of_one_transaction_are_one_insert(db):
    fleet = await make_tenants(db)
    statements: list[tuple[str, bool]] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX_EVENTS"):
            statements.append((statement, executemany))

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with db.transaction([fleet.cpam], actor=SYSTEM) as session:
            for number in range(5):
                publish_on_commit(session, noted(fleet.cpam, str(number)))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    assert len(statements) == 1
    assert [row.payload["note"] for row in await outbox_rows(db)] == ["0", "1", "2", "3", "4"]


# --------------------------------------------------------------------------- delivery


class Probe:
    """A subscriber whose effect is a row keyed by the event id: idempotent, countable."""

    def __init__(self) -> None:
        self.calls: list[uuid.UUID] = []

    async def handler(self, delivery: Delivery, event_: Any) -> None:
        self.calls.append(delivery.event_id)
        await delivery.session.execute(text(
            "INSERT INTO outbox_probe (event_id, tenant_id) VALUES (:e, :t) ON CONFLICT (event_id) DO NOTHING"),
            {"e": str(delivery.event_id), "t": str(event_.tenant_id)})


@pytest.fixture
async def probe_table(db, admin_db, backend) -> None:
    async with admin_db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE outbox_probe (event_id varchar(36) PRIMARY KEY, tenant_id varchar(36))"))
        if backend == "postgres":
            await conn.execute(text("GRANT ALL ON outbox_probe TO centrale_app"))


async def probe_effects(db: Database) -> list[tuple[str, str]]:
    async with db.engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(text("SELECT event_id, tenant_id FROM outbox_probe"))).all()]


async def test_a_delivery_runs_in_its_events_tenant_scope_and_is_recorded_once(db, settings):
    """DESIGN.md tenancy rules: the subscriber's session is scoped to the event's tenant (ORM and RLS),
    so what it writes lands in that tenant, audited under the subscriber's name."""
    fleet = await make_tenants(db)
    scopes: list[Any] = []

    async def allow_concurrent_sessions(delivery: Delivery, event_: Noted) -> None:
        scopes.append(tenant_ids_of(delivery.session))
        delivery.session.add(CsmsTenantSettings(tenant_id=event_.tenant_id, allow_concurrent_badge_sessions=True,
                                                updated_at=utcnow()))

    relay = Relay(db, settings=settings, subscribers=[Subscriber(Noted, "test.settings", allow_concurrent_sessions)])
    async with db.transaction([fleet.other], actor=SYSTEM) as session:
        event_id = publish_on_commit(session, noted(fleet.other))
    assert await relay.run_once() == RelayPass(dispatched=1, delivered=1)
    assert scopes == [frozenset({fleet.other})]
    async with db.session([fleet.other]) as session:
        [row] = await session.scalars(select(CsmsTenantSettings))
        assert row.tenant_id == fleet.other
        [audit] = await session.scalars(select(AuditEvent).where(AuditEvent.entity == "csms_tenant_settings"))
        assert audit.actor_label == "abonné test.settings"
    [delivery] = await delivery_rows(db)
    assert (delivery.event_id, delivery.status, delivery.attempts, delivery.claim, delivery.last_error) == (
        event_id, DELIVERED, 1, None, "")
    assert await relay.run_once() == RelayPass()  # nothing more, ever
    assert len(scopes) == 1


async def test_a_delivery_taken_over_after_its_lease_keeps_one_effect(db, settings, probe_table):
    """At least once, once in effect: a relay that stalls past its lease (its handler's timeout + 30 s)
    is overtaken by another, which delivers; the stalled one's mark no longer matches its claim, so its
    transaction, and what its handler wrote in it, rolls back."""
    fleet = await make_tenants(db)
    probe, first_in, release_first = Probe(), asyncio.Event(), asyncio.Event()
    attempts: list[int] = []

    async def racing(delivery: Delivery, event_: Noted) -> None:
        attempts.append(delivery.attempt)
        if delivery.attempt == 1:  # the first relay, stalled (a frozen process)
            first_in.set()
            await release_first.wait()
            await delivery.session.execute(text("INSERT INTO outbox_probe (event_id, tenant_id) VALUES (:e, 'late')"),
                                           {"e": f"{delivery.event_id}"[:35] + "+"})
        else:
            await probe.handler(delivery, event_)

    subscriber = Subscriber(Noted, "test.probe", racing, timeout=5.0)
    first, second = (Relay(db, settings=settings, subscribers=[subscriber]) for _ in range(2))
    async with db.transaction([fleet.cpam], actor=SYSTEM) as session:
        event_id = publish_on_commit(session, noted(fleet.cpam))
    await first.dispatch()
    now = utcnow()
    running = asyncio.create_task(first.deliver_next("test.probe", now=now))
    await asyncio.wait_for(first_in.wait(), 20)
    assert await second.deliver_next("test.probe", now=now + dt.timedelta(seconds=34)) is None  # leased still
    assert await second.deliver_next("test.probe", now=now + dt.timedelta(seconds=36)) == DELIVERED
    release_first.set()
    assert await running == "lost"
    assert attempts == [1, 2]
    assert await probe_effects(db) == [(str(event_id), str(fleet.cpam))]  # the late write rolled back
    [delivery] = await delivery_rows(db)
    assert (delivery.status, delivery.attempts, delivery.claim) == (DELIVERED, 2, None)


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_two_relays_on_postgres_never_deliver_one_event_twice(db, settings, probe_table):
    """Scaled mode: relays in several worker processes share the backlog (FOR UPDATE SKIP LOCKED)."""
    fleet = await make_tenants(db)
    probe = Probe()
    subscriber = Subscriber(Noted, "test.probe", probe.handler)
    async with db.transaction([fleet.cpam, fleet.other], actor=SYSTEM) as session:
        ids = [publish_on_commit(session, noted(tenant, str(n))) for n in range(20) for tenant in (fleet.cpam, fleet.other)]
    other_db = Database(settings.database_url, pool_size=2)
    try:
        passes = await asyncio.gather(Relay(db, subscribers=[subscriber]).run_once(),
                                      Relay(other_db, subscribers=[subscriber]).run_once())
    finally:
        await other_db.dispose()
    assert sorted(probe.calls) == sorted(ids)  # each once, by one relay or the other
    assert sum(p.dispatched for p in passes) == sum(p.delivered for p in passes) == 40
    assert len(await probe_effects(db)) == 40


async def test_a_failing_subscriber_is_retried_with_backoff_then_shown_failed_retried_and_ignored(
    db, settings, monkeypatch
):
    fleet = await make_tenants(db)
    failures = {"left": 3}

    async def flaky(delivery: Delivery, event_: Noted) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError(f"station injoignable ({event_.note})")

    relay = Relay(db, settings=settings, subscribers=[Subscriber(Noted, "test.flaky", flaky, max_attempts=2)])
    async with db.transaction([fleet.cpam], actor=SYSTEM) as session:
        event_id = publish_on_commit(session, noted(fleet.cpam, "A"))
    t0 = utcnow()
    assert (await relay.run_once(now=t0)).failed == 1
    [row] = await delivery_rows(db)
    assert (row.status, row.attempts, row.last_error) == (PENDING, 1, "ConnectionError: station injoignable (A)")
    # 2 s ± 20 % later, not before (BACKOFF): nothing is due at once.
    assert dt.timedelta(seconds=1.5) <= row.next_attempt_at - t0 <= dt.timedelta(seconds=2.5)
    assert (await relay.run_once(now=t0 + dt.timedelta(seconds=1))).failed == 0
    assert (await relay.run_once(now=t0 + dt.timedelta(seconds=3))).failed == 1
    [row] = await delivery_rows(db)
    assert (row.status, row.attempts) == (FAILED, 2)  # its max_attempts: given up, left for the operator
    assert await outbox_counts(db) == {PENDING: 0, FAILED: 1}
    assert (await relay.run_once(now=t0 + dt.timedelta(days=1))).failed == 0

    status = await _cli(settings, monkeypatch, "outbox", "status", "--json")
    assert status.exit_code == 0, status.output
    listed = json.loads(status.stdout)
    assert listed["counts"] == {FAILED: 1} and listed["undispatched"] == 0
    [shown] = listed["deliveries"]
    assert (shown["event_id"], shown["subscriber"], shown["topic"], shown["status"], shown["attempts"],
            shown["last_error"], shown["tenant_id"]) == (
        str(event_id), "test.flaky", "test.outbox.noted", FAILED, 2, "ConnectionError: station injoignable (A)",
        str(fleet.cpam))
    human = await _cli(settings, monkeypatch, "outbox", "status")
    assert "en échec : 1" in human.stdout and "dernière erreur : ConnectionError" in human.stdout

    retried = await _cli(settings, monkeypatch, "outbox", "retry", "--failed", "--json")
    assert json.loads(retried.stdout) == {"retried": 1}
    assert (await relay.run_once()).failed == 1  # the third failure: a fresh set of attempts
    assert (await relay.run_once(now=utcnow() + dt.timedelta(seconds=3))).delivered == 1
    [row] = await delivery_rows(db)
    assert (row.status, row.attempts, row.last_error) == (DELIVERED, 2, "")

    async with db.transaction([fleet.cpam], actor=SYSTEM) as session:
        other_id = publish_on_commit(session, noted(fleet.cpam, "B"))
    failures["left"] = 5
    await relay.run_once()
    ignored = await _cli(settings, monkeypatch, "outbox", "ignore", str(other_id))
    assert ignored.exit_code == 0 and "livraisons ignorées : 1" in ignored.stdout
    assert (await relay.run_once(now=utcnow() + dt.timedelta(hours=1))).failed == 0
    assert {row.event_id: row.status for row in await delivery_rows(db)} == {event_id: DELIVERED, other_id: IGNORED}
    bad = await _cli(settings, monkeypatch, "outbox", "retry")
    assert bad.exit_code == 2


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("CENTRALE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CENTRALE_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("CENTRALE_SECRET_KEY", settings.secret_key)
    monkeypatch.delenv("CENTRALE_REDIS_URL", raising=False)
    return asyncio.to_thread(CliRunner().invoke, cli, list(args), catch_exceptions=False)


# --------------------------------------------------------------------------- the relay where it runs


async def first_site(db: Database, tenant_id: uuid.UUID) -> uuid.UUID:
    async with db.session([tenant_id]) as session:
        site_id = await session.scalar(select(Site.id).where(Site.tenant_id == tenant_id).order_by(Site.name).limit(1))
    assert site_id is not None
    return site_id


async def test_the_embedded_server_relay_delivers_promptly_after_the_commit(settings, db, demo, api_token):
    """Embedded mode: the web process starts the relay (CENTRALE_OUTBOX_RELAY, on by default); a budget
    saved through the API is recomputed by it, woken by the commit itself (well before its 5 s sweep)."""
    from app.web import create_app

    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    site_id = await first_site(db, tenant_id)
    headers = await api_token("admin@cpam72.demo")
    await Relay(db, subscribers=[]).run_once()  # the demo's own budget events: fanned out to nobody
    app = create_app(replace(settings, outbox_relay=True), db=Database(settings.database_url, pool_size=2),
                     stores={"sessions": MemoryStore(), "throttle": MemoryStore()})
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        response = await client.put(f"/api/v1/tenants/{tenant_id}/sites/{site_id}/power-budget",
                                    json={"budget_kw": 30}, headers=headers)
        assert response.status_code == 200, response.text
        async with asyncio.timeout(4):  # woken by the commit: well before the 5 s sweep
            while [(row.subscriber, row.status) for row in await delivery_rows(db)] != [
                    ("csms.load.recompute", DELIVERED)]:
                await asyncio.sleep(0.02)
    [delivery] = await delivery_rows(db)
    [event_row] = [row for row in await outbox_rows(db) if row.id == delivery.event_id]
    assert (event_row.topic, event_row.payload) == (
        SiteBudgetChanged.topic, {"tenant_id": str(tenant_id), "site_id": str(site_id), "budget_kw": 30.0})


async def test_a_worker_relay_on_its_own_thread_is_woken_by_a_commit_of_another_loop(db, settings, probe_table):
    """Scaled mode runs the relay beside dramatiq, on a thread and loop of its own (``centrale worker``)."""
    fleet = await make_tenants(db)
    probe = Probe()
    thread = RelayThread(replace(settings, redis_url=""), [Subscriber(Noted, "test.probe", probe.handler)])
    thread.start()
    try:
        async with db.transaction([fleet.cpam], actor=SYSTEM) as session:
            event_id = publish_on_commit(session, noted(fleet.cpam))
        async with asyncio.timeout(4):  # before the sweep: the commit woke it
            while await probe_effects(db) == []:
                await asyncio.sleep(0.02)
    finally:
        await asyncio.to_thread(thread.stop)
    assert probe.calls == [event_id]


async def test_a_running_relay_finds_what_another_process_committed_at_its_sweep(db, settings, probe_table):
    """No wake-up reaches it (another process on SQLite, a lost bus message): the periodic sweep does."""
    fleet = await make_tenants(db)
    probe = Probe()
    relay = Relay(db, settings=settings, subscribers=[Subscriber(Noted, "test.probe", probe.handler)],
                  sweep_every=0.3)
    await relay.start()
    try:
        await asyncio.sleep(0.1)  # its first pass is done: only the sweep can find the row below
        async with db.engine.begin() as conn:  # a plain connection: no session, so nobody is woken
            await conn.execute(OutboxEvent.__table__.insert(), [{
                "id": (event_id := uuid.uuid4()), "tenant_id": fleet.cpam, "topic": Noted.topic,
                "payload": noted(fleet.cpam, "elsewhere").payload, "created_at": utcnow(), "dispatched_at": None}])
        async with asyncio.timeout(5):
            while await probe_effects(db) == []:
                await asyncio.sleep(0.02)
    finally:
        await relay.stop()
    assert probe.calls == [event_id]


async def test_a_stopped_relay_finishes_the_delivery_in_flight_or_gives_its_claim_back(db, settings, probe_table):
    """``stop()`` (a deploy, the end of ``centrale serve``): the delivery being made ends within the grace and
    is recorded; one that outlasts it is cancelled, rolled back and its claim given back at once, so the next
    relay delivers it now rather than after its 90-second lease."""
    fleet = await make_tenants(db)
    probe, started, finish = Probe(), asyncio.Event(), asyncio.Event()

    async def slow(delivery: Delivery, event_: Noted) -> None:
        started.set()
        if event_.note == "stuck":
            await asyncio.Event().wait()  # never ends: only a cancellation gets it out
        await finish.wait()
        await probe.handler(delivery, event_)

    subscriber = Subscriber(Noted, "test.probe", slow, timeout=60.0)
    relay = Relay(db, settings=settings, subscribers=[subscriber])
    await relay.start()
    async with db.transaction([fleet.cpam], actor=SYSTEM) as session:
        finished_id = publish_on_commit(session, noted(fleet.cpam, "slow"))
    await asyncio.wait_for(started.wait(), 20)
    stopping = asyncio.create_task(relay.stop(grace=20))
    finish.set()
    await stopping
    assert probe.calls == [finished_id]
    [delivery] = await delivery_rows(db)
    assert (delivery.status, delivery.claim) == (DELIVERED, None)

    started.clear()
    relay = Relay(db, settings=settings, subscribers=[subscriber])
    await relay.start()
    async with db.transaction([fleet.cpam], actor=SYSTEM) as session:
        stuck_id = publish_on_commit(session, noted(fleet.cpam, "stuck"))
    await asyncio.wait_for(started.wait(), 20)
    await relay.stop(grace=0.2)
    async with db.engine.connect() as conn:
        stuck = (await conn.execute(select(OutboxDelivery.__table__).where(OutboxDelivery.event_id == stuck_id))).one()
    assert (stuck.status, stuck.claim, stuck.attempts) == (PENDING, None, 0)
    assert stuck.next_attempt_at <= utcnow()  # due now, not at the end of a lease
    assert await probe_effects(db) == [(str(finished_id), str(fleet.cpam))]  # the cancelled attempt left nothing


# --------------------------------------------------------------------------- kill -9


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_without_relay(settings: Settings, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    http_port = _free_port()
    env = {
        **os.environ, "CENTRALE_DATABASE_URL": settings.database_url, "CENTRALE_VAR_DIR": str(settings.var_dir),
        "CENTRALE_SECRET_KEY": settings.secret_key, "CENTRALE_HTTP_PORT": str(http_port),
        "CENTRALE_OCPP_PORT": str(_free_port()), "CENTRALE_OUTBOX_RELAY": "false",
    }
    env.pop("CENTRALE_REDIS_URL", None)
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(CENTRALE), "serve", "--no-banner"], env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{http_port}"


def _request(method: str, url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,  # noqa: S310 - local URL
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local URL
        return response.status


async def test_killed_between_commit_and_delivery_the_event_is_delivered_once_after_the_restart(
    settings, db, demo, api_token, probe_table, tmp_path
):
    """A real ``centrale serve`` commits a budget through the API, answers, and is SIGKILLed before its
    relay runs (CENTRALE_OUTBOX_RELAY=false holds it back): the event is in the outbox, delivered to
    nobody. A fresh relay delivers it once to each subscriber; delivering it again changes nothing."""
    from app.composition import subscribers as component_subscribers

    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    site_id = await first_site(db, tenant_id)
    headers = await api_token("admin@cpam72.demo")
    await Relay(db, subscribers=[]).run_once()  # the demo's own budget events: fanned out to nobody
    proc, base_url = _serve_without_relay(settings, tmp_path / "serve.log")
    try:
        async with asyncio.timeout(60):
            while True:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")
                try:
                    if await asyncio.to_thread(_request, "GET", base_url + "/healthz") == 200:
                        break
                except OSError:
                    await asyncio.sleep(0.1)
        status = await asyncio.to_thread(_request, "PUT", f"{base_url}/api/v1/tenants/{tenant_id}/sites/{site_id}"
                                         "/power-budget", {"budget_kw": 22}, headers)
        assert status == 200  # answered: committed
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 30)
    assert proc.returncode == -signal.SIGKILL
    # (The server's scheduler may have published other events meanwhile: the demo's deadline notices.)
    [event_row] = [row for row in await outbox_rows(db) if row.dispatched_at is None
                   and row.topic == SiteBudgetChanged.topic]
    assert (event_row.topic, event_row.tenant_id, event_row.dispatched_at) == (
        SiteBudgetChanged.topic, tenant_id, None)
    assert event_row.payload == {"tenant_id": str(tenant_id), "site_id": str(site_id), "budget_kw": 22.0}
    assert await delivery_rows(db) == []

    # The restart: a fresh relay, with csms's subscribers and a probe.
    probe = Probe()
    relay = Relay(db, settings=settings, subscribers=[*component_subscribers(),
                                                      Subscriber(SiteBudgetChanged, "test.probe", probe.handler)])
    await relay.run_once()
    assert await probe_effects(db) == [(str(event_row.id), str(tenant_id))]
    mine = {(row.subscriber, row.status, row.attempts) for row in await delivery_rows(db) if row.event_id == event_row.id}
    assert mine == {("csms.load.recompute", DELIVERED, 1), ("test.probe", DELIVERED, 1)}
    assert await relay.run_once() == RelayPass()  # nothing twice
    # Delivered again all the same (what at least once allows: a crash after an outside effect,
    # an operator's retry): the subscriber keyed by the event id has still one effect.
    async with db.engine.begin() as conn:
        await conn.execute(OutboxDelivery.__table__.update()
                           .where(OutboxDelivery.event_id == event_row.id, OutboxDelivery.subscriber == "test.probe")
                           .values(status=PENDING, next_attempt_at=utcnow()))
    assert (await relay.run_once()).delivered == 1
    assert probe.calls == [event_row.id, event_row.id]
    assert await probe_effects(db) == [(str(event_row.id), str(tenant_id))]
    async with db.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(OutboxEvent.__table__)
                                 .where(OutboxEvent.dispatched_at.is_(None))) == 0
