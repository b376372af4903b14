"""Security headers on every answer (issue 10; ASVS 4.0 V14.4), the self-hosted API
reference, error pages without server paths.

The walk calls every registered route with every method it accepts: anonymously, then
logged in as a tenant admin with that tenant's own objects (pages answer 200), and with
another tenant's objects for the unsafe methods (404, nothing written). Every answer,
whatever its status, carries the headers; the hook lives in app/headers.py.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar.routes import HTTPRoute

from app.headers import CONTENT_SECURITY_POLICY
from tests.conftest import login
from tests.test_tenant_walls import UNSAFE, Caller, make_target

ROOT = Path(__file__).resolve().parents[2]


def check(response: Any, *, hsts: bool = False) -> list[str]:
    """The headers missing or wrong on one answer, as readable lines."""
    h = response.headers
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    problems = []
    csp = h.get("content-security-policy", "")
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'",
                      "base-uri 'none'", "form-action 'self'"):
        if directive not in csp:
            problems.append(f"{where}: CSP lacks {directive!r}")
    if "unsafe-inline" in csp.split("script-src", 1)[-1].split(";", 1)[0] or "unsafe-eval" in csp:
        problems.append(f"{where}: CSP allows inline or eval'd scripts")
    expected = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin", "x-frame-options": "DENY"}
    problems += [f"{where}: {k}={h.get(k)!r}" for k, v in expected.items() if h.get(k) != v]
    if not response.request.url.path.startswith("/static/") and h.get("cache-control") != "no-store":
        problems.append(f"{where}: cache-control={h.get('cache-control')!r}")
    if hsts != ("strict-transport-security" in h):
        problems.append(f"{where}: strict-transport-security={h.get('strict-transport-security')!r}")
    return problems


def every_route(app: Any) -> list[tuple[str, list[str], list[str]]]:
    return [(r.path_format, list(r.path_parameters), sorted(m for m in r.methods if m != "OPTIONS"))
            for r in app.routes if isinstance(r, HTTPRoute)]


async def test_every_route_answers_with_the_security_headers(app, client, db, demo, api_token):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    target = await make_target(db, "commune", demo)
    extra = {"file_path": "css/centrale.css", "path": "openapi.json", "slug": "proconnect", "token": "x" * 43,
             "unknown": "nulle-part"}

    def url(path_format: str, params: list[str]) -> str:
        return path_format.format(**{p: extra[p] if p in extra else target[p] for p in params})

    routes = every_route(app)
    assert len(routes) > 60, "the walk found too few routes"
    problems: list[str] = []
    statuses: set[int] = set()

    async def call(caller: Caller | None, method: str, target_url: str) -> None:
        api = target_url.startswith("/api/")
        headers = {**(caller.bearer if caller and api else {}), **({"x-csrftoken": caller.csrf} if caller else {})}
        form = {"_csrf_token": caller.csrf} if caller and not api and method in UNSAFE else None
        response = await client.request(method, target_url, headers=headers, data=form, follow_redirects=False)
        statuses.add(response.status_code)
        problems.extend(check(response))

    # Anonymous: every method of every route (mostly redirects to the login page, 401, 403).
    for path_format, params, methods in routes:
        for method in methods:
            await call(None, method, url(path_format, params))
    # Another tenant's admin, unsafe methods: 404 and nothing written (tests/test_tenant_walls.py).
    outsider = await Caller.sign_in(client, api_token, "admin@cpam72.demo")
    for path_format, params, methods in routes:
        for method in methods:
            if method in UNSAFE:
                await call(outsider, method, url(path_format, params))
    # The tenant's own admin reads every page and API answer of its objects.
    owner = await Caller.sign_in(client, api_token, "admin@villeurbanne.demo")
    for path_format, params, methods in routes:
        for method in methods:
            if method not in UNSAFE:
                await call(owner, method, url(path_format, params))
    for path in ("/pas-de-page", "/static/absent.css", "/t/" + str(cpam) + "/inconnu"):
        problems += check(await client.get(path))
    problems += check(await client.request("PUT", "/connexion"))

    assert problems == [], "\n".join(problems)
    assert {200, 302, 404} <= statuses


async def test_static_files_may_be_cached_but_pages_and_api_answers_may_not(client, demo, api_token):
    static = await client.get("/static/css/centrale.css")
    assert static.status_code == 200 and static.headers.get("cache-control") != "no-store"
    await login(client, "admin@cpam72.demo")
    assert (await client.get("/compte")).headers["cache-control"] == "no-store"
    api = await client.get("/api/v1/me", headers=await api_token("admin@cpam72.demo"))
    assert api.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_hsts_is_sent_when_cookies_are_secure(settings, db):
    from litestar.stores.memory import MemoryStore
    from litestar.testing import AsyncTestClient

    from app.web import create_app

    secure = dataclasses.replace(settings, secure_cookies=True)
    app = create_app(secure, db=db, stores={"sessions": MemoryStore(), "throttle": MemoryStore()})
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as c:
        response = await c.get("/connexion")
    assert check(response, hsts=True) == []
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_no_template_carries_inline_script_style_or_event_handler():
    """What the CSP would block in a browser is caught here, file by file."""
    offenders = []
    for path in ROOT.glob("*/templates/**/*.html"):
        text = path.read_text(encoding="utf-8")
        for pattern in (r"<script(?![^>]*\bsrc=)", r"<style", r"\sstyle=", r"\son[a-z]+=", r"javascript:", r"hx-on"):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert offenders == []
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY


async def test_the_api_reference_is_served_from_our_origin_without_inline_script(client):
    page = await client.get("/schema")
    assert page.status_code == 200
    html = page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    for asset in sources:
        assert (await client.get(asset)).status_code == 200, asset
    licence = await client.get("/static/vendor/swagger-ui/LICENSE")
    assert "Apache License" in licence.text
    document = await client.get("/schema/openapi.json")
    assert document.json()["info"]["title"] == "Centrale API"


async def test_error_pages_never_show_server_paths(client, demo, api_token):
    root = str(ROOT)
    for path in ("/static/vendor/", "/static/", "/static/../app/web.py", "/static/vendor/absent.js"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert root not in response.text and "/work" not in response.text and "Page introuvable" in response.text
    api = await client.get("/api/v1/inexistant", headers=await api_token("admin@cpam72.demo"))
    assert api.status_code == 404 and root not in api.text
    wrong_method = await client.request("PATCH", "/connexion")
    assert wrong_method.status_code == 405 and "Méthode non autorisée" in wrong_method.text
