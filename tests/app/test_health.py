"""Liveness (/healthz) and readiness (/readyz): what the load balancer and compose probe."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest
from litestar.stores.memory import MemoryStore
from litestar.testing import AsyncTestClient

from app.settings import Settings
from app.web import create_app


def _closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_healthz_and_readyz_answer_when_all_is_well(client):
    live = await client.get("/healthz")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = await client.get("/readyz")
    # The outbox's deliveries waiting and given up are counted for monitoring (docs/events.md).
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": "ok",
                                                       "outbox": {"pending": 0, "failed": 0}})
    assert "set-cookie" not in ready.headers  # probes create no session


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    settings = Settings(
        database_url=f"postgresql+asyncpg://centrale_app@127.0.0.1:{_closed_port()}/centrale",
        secret_key="x" * 40,
        var_dir=tmp_path,
    )
    app = create_app(settings, stores={"sessions": MemoryStore(), "throttle": MemoryStore()})
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        assert (await client.get("/healthz")).status_code == 200  # alive, but not ready
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "indisponible" and body["database"].startswith("erreur")


@pytest.mark.redis
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_readyz_checks_redis_in_scaled_mode(settings, redis_url):
    # No injected stores: the app builds its own Redis client, as in production.
    up = create_app(replace(settings, redis_url=redis_url))
    async with AsyncTestClient(app=up, base_url="http://testserver.local") as client:
        ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": "ok", "redis": "ok",
                                                       "outbox": {"pending": 0, "failed": 0}})

    down = create_app(replace(settings, redis_url=f"redis://127.0.0.1:{_closed_port()}/15"))
    async with AsyncTestClient(app=down, base_url="http://testserver.local") as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["database"] == "ok" and body["redis"].startswith("erreur")
