"""Browser tests against the real product: the ``centrale`` command in a subprocess.

The server is started exactly as a user would (``centrale db upgrade``, ``demo load``,
``serve --no-banner``) on a temporary SQLite database and free ports, once per test
session; a module that changes the demo data serves a copy of its own, taken from the
database migrated and loaded once per worker. Chromium is Debian's (``make browser``), driven by Playwright's async API on
pytest-asyncio's session loop, so nothing competes with that loop.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CENTRALE = Path(sys.executable).with_name("centrale")
CHROMIUM = os.environ.get("CENTRALE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() == "true"
STARTUP_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    tenant_ids: dict[str, str]
    log_path: Path
    #: the OCPP ingress's port: ws://127.0.0.1:{ocpp_port}/ocpp/{charge_box_id}
    ocpp_port: int = 0

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _wait_healthy(base_url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"centrale serve exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1) as resp:  # noqa: S310 - local URL
                if resp.status == 200 and json.load(resp).get("status") == "ok":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)  # polling a starting process, not waiting for a page
    raise RuntimeError(f"/healthz did not answer within {STARTUP_TIMEOUT} s:\n{log_path.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from serve_demo(tmp_path_factory)


def _env(var_dir: Path, http_port: int, ocpp_port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "CENTRALE_VAR_DIR": str(var_dir),
        "CENTRALE_DATABASE_URL": f"sqlite+aiosqlite:///{var_dir / 'centrale.db'}",
        "CENTRALE_HTTP_HOST": "127.0.0.1",
        "CENTRALE_HTTP_PORT": str(http_port),
        "CENTRALE_OCPP_HOST": "127.0.0.1",
        "CENTRALE_OCPP_PORT": str(ocpp_port),
    }
    for name in ("CENTRALE_REDIS_URL", "CENTRALE_DATABASE_ADMIN_URL", "CENTRALE_PUBLIC_URL", "CENTRALE_SECRET_KEY"):
        env.pop(name, None)
    return env


#: This worker's demo, migrated and loaded once: its var directory and ``demo load --json``'s summary.
_DEMO: dict[str, Any] = {}


def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    if not _DEMO:
        var_dir = tmp_path_factory.mktemp("e2e-demo")
        env = _env(var_dir, _free_port(), _free_port())

        def run(*args: str) -> str:
            done = subprocess.run([str(CENTRALE), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=120)
            assert done.returncode == 0, f"centrale {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
            return done.stdout

        run("db", "upgrade")
        _DEMO.update(var_dir=var_dir, summary=json.loads(run("demo", "load", "--json")))
    return _DEMO["var_dir"], _DEMO["summary"]


def serve_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``centrale serve`` on its own copy of the demo database (the database file and the var directory's
    secret key); a module whose tests change the demo data (connect stations, send commands) uses one of its
    own, so that the shared one stays as loaded."""
    template, summary = _demo_template(tmp_path_factory)
    var_dir = tmp_path_factory.mktemp("e2e-var")
    shutil.copytree(template, var_dir, dirs_exist_ok=True)
    http_port, ocpp_port = _free_port(), _free_port()
    env = _env(var_dir, http_port, ocpp_port)
    log_path = var_dir / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(CENTRALE), "serve", "--no-banner"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        base_url = f"http://127.0.0.1:{http_port}"
        _wait_healthy(base_url, proc, log_path)
        yield LiveServer(base_url=base_url, tenant_ids=summary["tenant_ids"], log_path=log_path, ocpp_port=ocpp_port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (run `make browser`)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright, expect

    # Other test suites may share the machine: wait up to 10 s for what a user would see.
    expect.set_options(timeout=10_000)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


ASSET_TYPES = {"script", "stylesheet", "image", "font"}


def _check_asset(response: Any, errors: list[str]) -> None:
    request = response.request
    # Browsers ask for /favicon.ico on their own; the pages never reference it.
    if response.status >= 400 and request.resource_type in ASSET_TYPES and not request.url.endswith("/favicon.ico"):
        errors.append(f"{request.resource_type} {request.url} answered {response.status}")


def _check_console(page: Any, message: Any, errors: list[str]) -> None:
    if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
        errors.append(f"{page.url}: {message.text}")


@pytest.fixture
async def new_page(browser: Any, live_server: LiveServer) -> AsyncIterator[Any]:
    """Factory: a page in a fresh browser context (no cookies), French locale.

    Uncaught JavaScript errors, missing static assets (scripts, styles, images,
    fonts) and anything the Content-Security-Policy blocked (app/headers.py) on any
    page fail the test at teardown.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    async def make(width: int = 1280, height: int = 900, **options: Any) -> Any:
        context = await browser.new_context(
            base_url=live_server.base_url, locale="fr-FR", viewport={"width": width, "height": height}, **options
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        page.on("response", lambda resp: _check_asset(resp, errors))
        page.on("console", lambda msg: _check_console(page, msg, errors))
        return page

    try:
        yield make
    finally:
        for context in contexts:
            await context.close()
    assert not errors, "errors in the pages:\n" + "\n".join(errors)


@pytest.fixture
async def page(new_page: Any) -> Any:
    """A desktop-sized page with no cookies."""
    return await new_page()
