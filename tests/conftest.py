"""Shared fixtures: databases (SQLite and real PostgreSQL), the app, logged-in clients.

Databases are migrated once per test session into a template, then every test gets
its own copy (a file copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` on
PostgreSQL): tests are isolated and the app under test opens its own connections
exactly as in production. A test that asks for the ``demo`` gets a copy of a template
with the demo loaded (``load_demo``, as ``centrale demo load``, but without the ordering
demo: ``demo_ordering=False``), loaded again once it is ten minutes old: the demo is dated
relative to now (``incidents/demo.py``).

In CI (``CI=true``) an unreachable PostgreSQL or Redis is a failure, not a skip.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from click.testing import CliRunner, Result
from litestar import Litestar
from litestar.stores.memory import MemoryStore
from litestar.testing import AsyncTestClient
from litestar.testing.transport import TestClientTransport

from app.composition import components
from app.db import Database
from app.security import use_password_hasher
from app.settings import Settings

components()  # every model, job and permission registered, as every entry point does
# The passwords this process hashes (accounts, the demo's, the fleet's legacy station hash) use argon2's cheapest
# profile: one production hash costs 0.13 s idle, 0.4 s on a loaded two-core runner, and the suite makes and checks
# hundreds. tests/app/test_security.py checks the production parameters; the subprocesses (tests/e2e) keep them.
use_password_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))


def _parse_each_handler_signature_once() -> None:
    """Litestar parses every handler's signature again in each app it builds (``ParsedSignature.from_fn``:
    ``typing.get_type_hints`` compiles each string annotation); the tests build an app per test, 750
    handlers each: 60 % of ``create_app`` (1.8 s → 0.7 s on a loaded runner). The result is a frozen
    dataclass of frozen fields, computed from the function and its signature namespace only: kept per
    (function, namespace). Production builds one app per process and keeps Litestar's own path."""
    from litestar.utils.signature import ParsedSignature

    parse = ParsedSignature.from_fn.__func__
    parsed: dict[Any, tuple[ParsedSignature, tuple[Any, ...]]] = {}

    def from_fn(cls: type[ParsedSignature], fn: Any, signature_namespace: dict[str, Any]) -> ParsedSignature:
        key = (cls, fn, tuple((name, id(value)) for name, value in signature_namespace.items()))
        try:
            return parsed[key][0]
        except KeyError:
            made = parse(cls, fn, signature_namespace)
            parsed[key] = (made, tuple(signature_namespace.values()))  # held: no id is reused while cached
            return made
        except TypeError:  # an unhashable callable
            return parse(cls, fn, signature_namespace)

    ParsedSignature.from_fn = classmethod(from_fn)  # type: ignore[method-assign,assignment]


_parse_each_handler_signature_once()

PG_HOST = os.environ.get("CENTRALE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CENTRALE_TEST_PG_PORT", "5432"))
REDIS_URL = os.environ.get("CENTRALE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"
APP_ROLE = "centrale_app"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    if IN_CI:
        pytest.fail(f"{name} unreachable at {host}:{port} (CI=true: a missing service is a failure)")
    pytest.skip(f"{name} unreachable at {host}:{port}")


# --------------------------------------------------------------------------- settings & databases


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    base = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'centrale.db'}",
        secret_key="test-secret-key-not-for-production-0123456789",
        var_dir=tmp_path,
        login_max_failures=5,
        # Production allows 100 per address; a lower one keeps the per-address tests short.
        login_max_failures_per_address=12,
        # The relay that delivers a test's events is the test's own (tests/csms/conftest.py's ``ingress``,
        # tests/app/test_outbox.py): an app's would take its deliveries with another bus.
        outbox_relay=False,
        scheduler=False,
        # The scenarios start from demo beneficiaries that have ordered nothing (their numbers from 000001, their
        # counts from 0): the ordering demo is loaded by the tests of it (tests/catalog/test_demo.py).
        demo_ordering=False,
    )
    return replace(base, **overrides)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.migrate import upgrade

    path = tmp_path_factory.mktemp("tpl") / "template.db"
    upgrade(make_settings(path.parent, database_url=f"sqlite+aiosqlite:///{path}"))
    return path


@dataclass
class PgServer:
    """This worker's PostgreSQL: a migrated template, copied per test (``CREATE DATABASE … TEMPLATE``).

    A copy costs 0.45 s and a drop 0.1–0.2 s idle, mostly the server's disk (a drop forces a checkpoint:
    seconds under load): each test's copy is made in a thread of this worker while the previous test
    runs (one spare per template), and dropped after it in another thread, so that a test waits for
    neither and a copy never waits behind a drop."""

    admin_dsn: str  # superuser, owns the tables
    template: str
    _spares: dict[str, concurrent.futures.Future[str]] = field(default_factory=dict)
    _pool: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pg-copies"))
    _drops: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pg-drops"))

    def url(self, db: str, user: str) -> str:
        return f"postgresql+asyncpg://{user}@{PG_HOST}:{PG_PORT}/{db}"

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = subprocess.run(
            ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
            check=True, capture_output=True, text=True,
        )
        return out.stdout.strip()

    def _copy(self, template: str) -> str:
        name = f"centrale_t_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def create_db(self, template: str | None = None) -> str:
        """A fresh copy of ``template`` (the migrated one by default): the spare made in advance, if any."""
        template = template or self.template
        spare = self._spares.pop(template, None)
        name = spare.result() if spare is not None else self._copy(template)
        self._spares[template] = self._pool.submit(self._copy, template)
        return name

    def drop_db(self, name: str, *, wait: bool = True) -> None:
        """Drops ``name`` (a template: its spare too); ``wait=False`` leaves it to the drops' thread."""
        spare = self._spares.pop(name, None)
        if spare is not None:
            self._drop(spare.result())
        dropping = self._drops.submit(self._drop, name)
        if wait:
            dropping.result()

    def _drop(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        """Every spare dropped, every pending drop done."""
        for template in list(self._spares):
            self._drop(self._spares.pop(template).result())
        self._pool.shutdown(wait=True)
        self._drops.shutdown(wait=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    from app.migrate import upgrade

    server = PgServer(admin_dsn=f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/postgres", template=f"centrale_tpl_{os.getpid()}")
    server.psql(f'DROP DATABASE IF EXISTS "{server.template}" WITH (FORCE)')
    server.psql(f'CREATE DATABASE "{server.template}"')
    settings = Settings(
        database_url=server.url(server.template, APP_ROLE),
        database_admin_url=server.url(server.template, "postgres"),
        secret_key="x" * 40,
    )
    upgrade(settings)
    yield server
    if "postgres" in _DEMO_TEMPLATES:
        server.drop_db(_DEMO_TEMPLATES.pop("postgres").source)
    server.drop_db(server.template)
    server.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


#: How old a demo template may get before it is loaded again (the demo is dated relative to its loading: its
#: incidents' deadlines are hours away, its days are the current ones). A load costs 2.5–4 s per worker and backend;
#: every minute, it was 80 loads and ~5 % of the suite.
DEMO_MAX_AGE_S = 600.0


@dataclass
class DemoTemplate:
    """A database with the demo loaded: a SQLite file or a PostgreSQL database, copied per test."""

    source: str
    summary: dict[str, Any]
    loaded_at: float


#: Per backend, this worker's demo template; per database URL, the demo summary of the test's copy.
_DEMO_TEMPLATES: dict[str, DemoTemplate] = {}
_DEMO_SUMMARIES: dict[str, dict[str, Any]] = {}


def _load_demo_now(settings: Settings) -> dict[str, Any]:
    """``load_demo`` on its own event loop, in a thread: a sync fixture may run under pytest-asyncio's loop."""
    from app.composition import load_demo

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, load_demo(settings)).result()


def _demo_template(backend: str, request: pytest.FixtureRequest) -> DemoTemplate:
    current = _DEMO_TEMPLATES.get(backend)
    if current is not None and time.monotonic() - current.loaded_at < DEMO_MAX_AGE_S:
        return current
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        folder = request.getfixturevalue("tmp_path_factory").mktemp("demo-tpl")
        shutil.copy(template, folder / "centrale.db")
        summary = _load_demo_now(make_settings(folder))
        fresh = DemoTemplate(source=str(folder / "centrale.db"), summary=summary, loaded_at=time.monotonic())
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        name = server.create_db()
        summary = _load_demo_now(make_settings(Path("/nonexistent"), database_url=server.url(name, APP_ROLE),
                                               database_admin_url=server.url(name, "postgres")))
        fresh = DemoTemplate(source=name, summary=summary, loaded_at=time.monotonic())
    if current is not None and backend == "postgres":
        request.getfixturevalue("pg_server").drop_db(current.source)
    _DEMO_TEMPLATES[backend] = fresh
    return fresh


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings on a fresh, migrated database of the parametrised backend (with the demo loaded when the
    test asks for ``demo``)."""
    demo = _demo_template(backend, request) if "demo" in request.fixturenames else None
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        shutil.copy(demo.source if demo else template, tmp_path / "centrale.db")
        made = make_settings(tmp_path)
        if demo:
            _DEMO_SUMMARIES[made.database_url] = demo.summary
        yield made
        _DEMO_SUMMARIES.pop(made.database_url, None)
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = server.create_db(demo.source if demo else None)
    made = make_settings(tmp_path, database_url=server.url(name, APP_ROLE),
                         database_admin_url=server.url(name, "postgres"))
    if demo:
        _DEMO_SUMMARIES[made.database_url] = demo.summary
    try:
        yield made
    finally:
        _DEMO_SUMMARIES.pop(made.database_url, None)
        server.drop_db(name, wait=False)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url, pool_size=2)
    yield database
    await database.dispose()


@pytest.fixture
async def admin_db(settings: Settings) -> AsyncIterator[Database]:
    """The table owner's connection (PostgreSQL superuser): for checks that must bypass the app role."""
    database = Database(settings.admin_url, pool_size=1)
    yield database
    await database.dispose()


@pytest.fixture
async def demo(settings: Settings, db: Database) -> dict[str, Any]:
    """The demo's summary: the test's database is a copy of a template with the demo loaded (``settings``);
    settings of a module's own get it loaded here."""
    from app.composition import load_demo

    if settings.database_url in _DEMO_SUMMARIES:
        return copy.deepcopy(_DEMO_SUMMARIES[settings.database_url])
    return await load_demo(settings, db)


# --------------------------------------------------------------------------- the command line


class CentraleCli:
    """The ``centrale`` command line, run in this process by click's runner, on the test's
    database: it reads its settings from ``CENTRALE_*`` variables, as in production."""

    def __init__(self, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CENTRALE_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("CENTRALE_VAR_DIR", str(settings.var_dir))
        monkeypatch.setenv("CENTRALE_SECRET_KEY", settings.secret_key)
        if settings.redis_url:
            monkeypatch.setenv("CENTRALE_REDIS_URL", settings.redis_url)
        else:
            monkeypatch.delenv("CENTRALE_REDIS_URL", raising=False)

    def invoke(self, *args: str) -> Result:
        from app.cli import cli

        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    async def __call__(self, *args: str) -> Result:
        """From an async test: the CLI runs its own event loop (``asyncio.run``), in a thread of its own."""
        return await asyncio.to_thread(self.invoke, *args)


@pytest.fixture
def centrale(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CentraleCli:
    return CentraleCli(settings, monkeypatch)


# --------------------------------------------------------------------------- the app


#: This worker's apps, by their settings but for the database and the folder: Litestar builds an app in 0.6 s of
#: CPU (its 750 handlers), the suite asks for one per test; each test binds it to its own database and stores.
_BUILT_APPS: dict[str, Litestar] = {}


@pytest.fixture
def app(settings: Settings) -> Litestar:
    from app.web import bind_app, build_app

    shape = repr(replace(settings, database_url="", database_admin_url="", var_dir=Path("/")))
    built = _BUILT_APPS.get(shape)
    if built is None:
        built = _BUILT_APPS[shape] = build_app(settings)
    # The app gets its own engine: Litestar's test client runs it on another event loop (a
    # blocking-portal thread), and asyncpg connections cannot cross event loops.
    app_db = Database(settings.database_url, pool_size=2)
    return bind_app(built, settings, db=app_db, stores={"sessions": MemoryStore(), "throttle": MemoryStore()})


class _OffLoopTransport(TestClientTransport):  # type: ignore[type-arg]
    """Litestar's transport answers an async request synchronously: the test's event loop stands still
    until the app (on its portal thread) has answered. An ingress or a subscriber of the test's loop
    holding a SQLite write then never commits, and the app waits 30 s for the lock ("database is
    locked", seen under load on a station's disconnect racing a login). Here the request waits in a
    thread, the test's loop goes on, as a real ingress process would."""

    async def handle_async_request(self, request: Any) -> Any:
        return await asyncio.to_thread(self.handle_request, request)


class OffLoopTestClient(AsyncTestClient):  # type: ignore[type-arg]
    """Litestar's ``AsyncTestClient`` whose requests leave the test's event loop running."""

    def __init__(self, app: Litestar, base_url: str = "http://testserver.local", **kwargs: Any) -> None:
        super().__init__(app=app, base_url=base_url, **kwargs)
        self._transport = _OffLoopTransport(client=self, raise_server_exceptions=kwargs.get("raise_server_exceptions", True))


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with OffLoopTestClient(app=app, base_url="http://testserver.local") as c:
        yield c


CSRF_RE = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def login(client: AsyncTestClient[Any], email: str, password: str | None = None) -> Any:
    from tenants.demo import DEMO_PASSWORD

    page = await client.get("/connexion")
    token = csrf_from(page.text)
    return await client.post(
        "/connexion",
        data={"email": email, "password": password or DEMO_PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )


async def login_as(client: AsyncTestClient[Any], email: str) -> None:
    """Log in as a demo account in place of whoever was (a fresh session)."""
    client.cookies.clear()
    assert (await login(client, email)).status_code in (302, 303)


def page_text(page: Any) -> str:
    """A page's HTML with its entities decoded and its French non-breaking spaces made plain (« 9 085,00 € »)."""
    import html

    return html.unescape(page.text).replace("\u202f", " ").replace("\xa0", " ")


async def form_post(client: AsyncTestClient[Any], page_url: str, action: str, data: dict[str, Any]) -> Any:
    """Load a page, take its CSRF token, post a form as a browser would."""
    page = await client.get(page_url)
    assert page.status_code == 200, page.text[:500]
    return await client.post(action, data={**data, "_csrf_token": csrf_from(page.text)}, follow_redirects=False)


@pytest.fixture
async def api_token(settings: Settings, db: Database):  # type: ignore[no-untyped-def]
    """Factory: a bearer token for a demo account."""
    from tenants import services

    async def make(email: str) -> dict[str, str]:
        async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
            user = await services.find_user_by_email(session, email)
            assert user is not None, email
            _row, token = await services.create_api_token(session, user, name="test")
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture(scope="session")
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


def run(coro: Any) -> Any:
    return asyncio.get_event_loop().run_until_complete(coro)
