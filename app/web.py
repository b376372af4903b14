"""The Litestar application factory: ``create_app(settings)``."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, MediaType, Request, Response, Router, get
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.htmx import HTMXPlugin
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.stores.file import FileStore
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig
from sqlalchemy import text

from app.apidocs import LocalSwaggerPlugin
from app.auth import AuthMiddleware, LoginThrottle
from app.bounds import MAX_BODY_BYTES, json_body_guard
from app.bus import Bus
from app.db import Database, TenantScopeError
from app.deps import dependencies
from app.errors import Forbidden, NotFound, ValidationFailed
from app.headers import security_headers_hook
from app.jobs import COMPONENTS
from app.outbox import Relay, Subscriber, announce_commits, install_subscribers, outbox_counts
from app.sessions import CsrfMiddleware, IssuedSessionConfig
from app.settings import Settings

__all__ = ["create_app"]

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [ROOT / "frontend" / "templates", *(ROOT / c / "templates" for c in COMPONENTS)]
STATIC_DIR = ROOT / "frontend" / "static"


FRAMEWORK_TITLES = {
    404: "Introuvable",
    405: "Méthode non autorisée",
    413: "Requête trop volumineuse",
    415: "Type de contenu non pris en charge",
    500: "Erreur interne",
}


def _wants_problem_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/")


def _problem(request: Request[Any, Any, Any], status: int, title: str, **extra: Any) -> Response[Any]:
    body = {"type": "about:blank", "title": title, "status": status, "instance": request.url.path, **extra}
    return Response(body, status_code=status, media_type="application/problem+json")


def _html_error(request: Request[Any, Any, Any], status: int, title: str, detail: str = "") -> Response[Any]:
    return Template(
        "error.html", context={"status": status, "title": title, "detail": detail}, status_code=status
    )


def _handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, NotFound | TenantScopeError):
        status, title = 404, "Introuvable"
        # A tenant-scope violation is a bug or an attack: answer like a 404, never leak.
        if isinstance(exc, TenantScopeError):
            request.logger.error("tenant scope violation on %s: %s", request.url.path, exc)
        return _problem(request, status, title) if _wants_problem_json(request) else _html_error(
            request, status, "Page introuvable", "Cette page n'existe pas ou vous n'y avez pas accès."
        )
    if isinstance(exc, Forbidden):
        return _problem(request, 403, str(exc)) if _wants_problem_json(request) else _html_error(request, 403, "Accès refusé", str(exc))
    if isinstance(exc, ValidationFailed):
        if _wants_problem_json(request):
            return _problem(request, 422, "Données invalides", errors=exc.errors)
        return _html_error(request, 422, "Données invalides", "; ".join(exc.errors.values()))
    if isinstance(exc, NotAuthorizedException):
        if _wants_problem_json(request):
            return _problem(request, 401, "Authentification requise.")
        if request.headers.get("hx-request"):
            return Response("", status_code=200, headers={"HX-Redirect": "/connexion"})
        return Redirect(f"/connexion?suivant={request.url.path}")
    if isinstance(exc, ValidationException):
        if _wants_problem_json(request):
            return _problem(request, 400, "Requête invalide", errors=exc.extra or [])
        keys = [str(e.get("key")) for e in (exc.extra or []) if isinstance(e, dict) and e.get("key")]
        detail = (f"Paramètre{'s' if len(keys) > 1 else ''} invalide{'s' if len(keys) > 1 else ''} ou hors limites : "
                  + ", ".join(f"« {k} »" for k in keys) + ".") if keys else "La requête est mal formée."
        return _html_error(request, 400, "Requête invalide", detail)
    if isinstance(exc, HTTPException):
        # The framework's own answers (a missing route or static file, a wrong method, a body
        # too large) get a fixed French title: their detail may name server paths.
        title = FRAMEWORK_TITLES.get(exc.status_code, exc.detail)
        if _wants_problem_json(request):
            return _problem(request, exc.status_code, title, **({"errors": exc.extra} if exc.extra else {}))
        if exc.status_code == 404:
            return _html_error(request, 404, "Page introuvable", "Cette page n'existe pas ou vous n'y avez pas accès.")
        return _html_error(request, exc.status_code, title)
    request.logger.exception("unhandled error on %s", request.url.path, exc_info=exc)
    if _wants_problem_json(request):
        return _problem(request, 500, "Erreur interne")
    return _html_error(request, HTTP_500_INTERNAL_SERVER_ERROR, "Erreur interne", "L'incident a été enregistré.")


@get("/healthz", media_type=MediaType.JSON, include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@get("/readyz", media_type=MediaType.JSON, include_in_schema=False)
async def readyz(state: State) -> Response[dict[str, Any]]:
    """Readiness: the database answers, and Redis when configured. Also the outbox's deliveries
    waiting and given up (``centrale outbox status``): counted for monitoring, never unready."""
    checks: dict[str, str] = {}
    outbox: dict[str, int] | None = None
    try:
        async with state.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        outbox = await outbox_counts(state.db)
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"erreur : {type(exc).__name__}"
    if state.settings.redis_url:
        try:
            await state.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"erreur : {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    extra = {"outbox": outbox} if outbox is not None else {}
    return Response({"status": "ok" if ok else "indisponible", **checks, **extra}, status_code=200 if ok else 503)


def _template_engine() -> JinjaTemplateEngine:
    env = Environment(
        loader=FileSystemLoader([str(p) for p in TEMPLATE_DIRS if p.exists()]),
        autoescape=select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    from frontend.filters import register

    register(env)
    return JinjaTemplateEngine.from_environment(env)


def component_routes() -> tuple[list[Any], list[Any]]:
    """Portal and API handlers of the other components.

    A component ``X`` joins the application with a module ``X/routes.py`` that
    defines ``portal_handlers`` (mounted at ``/``) and ``api_handlers`` (mounted
    under ``/api/v1``, behind the login guard); importing it may also register
    menu entries in ``tenants.controllers.NAV_HOOKS``.
    """
    portal: list[Any] = []
    api: list[Any] = []
    for component in COMPONENTS:
        if component == "tenants" or importlib.util.find_spec(component) is None:
            continue
        if importlib.util.find_spec(f"{component}.routes") is None:
            continue
        module = importlib.import_module(f"{component}.routes")
        portal.extend(getattr(module, "portal_handlers", []))
        api.extend(getattr(module, "api_handlers", []))
    return portal, api


def component_subscribers() -> list[Subscriber[Any]]:
    """The durable subscribers of the components (``X/subscribers.py``: ``SUBSCRIBERS``), for the relays."""
    subscribers: list[Subscriber[Any]] = []
    for component in COMPONENTS:
        if importlib.util.find_spec(component) is None or importlib.util.find_spec(f"{component}.subscribers") is None:
            continue
        subscribers.extend(importlib.import_module(f"{component}.subscribers").SUBSCRIBERS)
    return subscribers


def create_app(
    settings: Settings, *, db: Database | None = None, stores: dict[str, Any] | None = None, bus: Bus | None = None,
) -> Litestar:
    """Build the web application. ``db`` and ``stores`` may be injected by tests.

    ``bus``: embedded mode passes the bus it shares with the OCPP ingress of the same
    process (remote commands from the portal reach the stations through it); the app
    then leaves closing it to its owner. Without one the app creates its own.
    """
    from app import bus as bus_mod
    from app import jobs as jobs_mod
    from tenants.api import build_api_handlers
    from tenants.controllers import portal_handlers

    component_portal, component_api = component_routes()
    db = db or Database(settings.database_url)
    redis_client = None
    if stores is None:
        if settings.redis_url:
            from redis.asyncio import Redis

            redis_client = Redis.from_url(settings.redis_url)
            store: Any = RedisStore(redis_client, namespace="centrale")
        else:
            # FileStore creates only the last directory of a namespaced path, never its parents.
            (settings.var_dir / "store").mkdir(parents=True, exist_ok=True)
            store = FileStore(settings.var_dir / "store")
        stores = {"sessions": store.with_namespace("sessions") if hasattr(store, "with_namespace") else store,
                  "throttle": store.with_namespace("throttle") if hasattr(store, "with_namespace") else MemoryStore()}
    state = State(
        {
            "settings": settings,
            "db": db,
            "redis": redis_client,
            "throttle": LoginThrottle(stores["throttle"], settings.login_max_failures, settings.login_window_seconds),
        }
    )

    async def on_startup(app: Litestar) -> None:
        app.state.bus = bus if bus is not None else await bus_mod.create_bus(settings)
        app.state.jobs = jobs_mod.create_jobs(settings, db)
        await app.state.jobs.start()
        install_subscribers(component_subscribers())
        # Events committed here wake the relays: this process's (embedded), the workers' (scaled).
        app.state.unannounce = announce_commits(app.state.bus)
        app.state.relay = None
        if settings.embedded and settings.outbox_relay:
            app.state.relay = Relay(db, bus=app.state.bus, settings=settings)
            await app.state.relay.start()

    async def on_shutdown(app: Litestar) -> None:
        if app.state.relay is not None:
            await app.state.relay.stop()
        app.state.unannounce()
        await app.state.jobs.stop()
        if bus is None:
            await app.state.bus.close()
        await db.dispose()
        if redis_client is not None:
            await redis_client.aclose()

    # Sessions under server-issued ids only, renewed at login; the CSRF token lives in the
    # session (app/sessions.py). The API authenticates by bearer token only: no session, no CSRF.
    session_config = IssuedSessionConfig(
        key="centrale_session",
        max_age=settings.session_max_age,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
        store="sessions",
        exclude=["^/api/", "^/static/", "^/healthz", "^/readyz", "^/schema"],
    )
    csrf = DefineMiddleware(CsrfMiddleware, exclude=re.compile(r"^/(api|static|schema)/|^/(healthz|readyz)$"))
    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            *portal_handlers,
            # Portal pages are HTML for people: never in the API's OpenAPI document.
            Router(path="/", route_handlers=component_portal, include_in_schema=False),
            *build_api_handlers(component_api),
            create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False),
        ],
        dependencies=dependencies,
        middleware=[json_body_guard, session_config.middleware, csrf, AuthMiddleware],
        request_max_body_size=MAX_BODY_BYTES,
        stores=stores,
        state=state,
        template_config=TemplateConfig(instance=_template_engine()),
        plugins=[HTMXPlugin()],
        exception_handlers={Exception: _handle},
        before_send=[security_headers_hook(settings)],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        openapi_config=OpenAPIConfig(
            title="Centrale API",
            version="1.0.0",
            description="API JSON de Centrale : mêmes opérations et mêmes règles d'accès que les portails.",
            path="/schema",
            render_plugins=[LocalSwaggerPlugin()],
            components=Components(security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="Jeton d'API (centrale tokens create)"),
            }),
            security=[{"bearer": []}],
        ),
        debug=settings.debug,
    )
