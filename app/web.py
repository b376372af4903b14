"""The Litestar application factory: ``create_app(settings)`` (composition root).

It mounts every component's portal pages and API handlers, menu hooks, dependencies and page
hooks, as their manifests give them (``app.composition.web_parts``), on the kernel's shell:
sessions, CSRF, auth (with the identity loader of the component that owns accounts), security
headers, body bounds, the error pages and problem+json answers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, MediaType, Response, Router, get
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.htmx import HTMXPlugin
from litestar.static_files import create_static_files_router
from litestar.stores.file import FileStore
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.stores.registry import StoreRegistry
from litestar.template.config import TemplateConfig
from sqlalchemy import text

from app import composition
from app.apidocs import LocalSwaggerPlugin
from app.auth import AuthMiddleware, LoginThrottle, requires_login
from app.bounds import MAX_BODY_BYTES, json_body_guard
from app.bus import Bus
from app.db import Database
from app.deps import dependencies as kernel_dependencies
from app.headers import security_headers_hook
from app.outbox import Relay, announce_commits, install_subscribers, outbox_counts
from app.schedule import Scheduler
from app.sessions import CsrfMiddleware, IssuedSessionConfig
from app.settings import Settings
from app.shell import Home, Menu, exception_handler, unknown_page

__all__ = ["bind_app", "build_app", "create_app"]

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "frontend" / "static"


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
        loader=FileSystemLoader([str(p) for p in [ROOT / "frontend" / "templates", *composition.template_dirs()]
                                 if p.exists()]),
        autoescape=select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    from frontend.filters import register

    register(env)
    return JinjaTemplateEngine.from_environment(env)


def create_app(
    settings: Settings, *, db: Database | None = None, stores: dict[str, Any] | None = None, bus: Bus | None = None,
) -> Litestar:
    """Build the web application. ``db`` and ``stores`` may be injected by tests.

    ``bus``: embedded mode passes the bus it shares with the OCPP ingress of the same
    process (remote commands from the portal reach the stations through it); the app
    then leaves closing it to its owner. Without one the app creates its own.
    """
    return bind_app(build_app(settings), settings, db=db, stores=stores, bus=bus)


def bind_app(
    app: Litestar, settings: Settings, *, db: Database | None = None, stores: dict[str, Any] | None = None,
    bus: Bus | None = None,
) -> Litestar:
    """Give ``app`` its database, stores, bus and state: what ``create_app`` makes for each instance.

    Everything an instance holds lives in ``app.state`` and ``app.stores`` (the lifespan hooks read them
    there), so that an app built once may be bound again to another database of the same settings: the
    tests do it (Litestar's construction is 0.6 s of CPU, each test has its own database)."""
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
    web = composition.web_parts()
    menu = Menu()
    menu.add(web.menu)
    home = Home()
    home.add(cards=web.home_cards, columns=web.beneficiary_columns, queue=web.work_queue)
    app.state = State(
        {
            "settings": settings,
            "db": db,
            "redis": redis_client,
            "throttle": LoginThrottle(stores["throttle"], settings.login_max_failures, settings.login_window_seconds,
                                      settings.login_max_failures_per_address),
            "identity_loader": composition.identity_loader(),
            "menu": menu,
            "home": home,
            "page_hooks": web.page_hooks,
            "audit_reader": composition.audit_reader(),
            "given_bus": bus,
        }
    )
    app.stores = StoreRegistry(stores)
    return app


async def _on_startup(app: Litestar) -> None:
    from app import bus as bus_mod
    from app import jobs as jobs_mod

    settings, db = app.state.settings, app.state.db
    app.state.bus = app.state.given_bus if app.state.given_bus is not None else await bus_mod.create_bus(settings)
    app.state.jobs = jobs_mod.create_jobs(settings, db)
    app.state.jobs.ctx.bus = app.state.bus  # jobs that reach the stations use the process's bus
    await app.state.jobs.start()
    install_subscribers(composition.subscribers())
    # Events committed here wake the relays: this process's (embedded), the workers' (scaled).
    app.state.unannounce = announce_commits(app.state.bus)
    app.state.relay = None
    if settings.embedded and settings.outbox_relay:
        app.state.relay = Relay(db, bus=app.state.bus, settings=settings)
        await app.state.relay.start()
    app.state.scheduler = None
    if settings.scheduler:
        app.state.scheduler = Scheduler(db, app.state.jobs, composition.schedules())
        await app.state.scheduler.start()


async def _on_shutdown(app: Litestar) -> None:
    if app.state.scheduler is not None:
        await app.state.scheduler.stop()
    if app.state.relay is not None:
        await app.state.relay.stop()
    app.state.unannounce()
    await app.state.jobs.stop()
    if app.state.given_bus is None:
        await app.state.bus.close()
    await app.state.db.dispose()
    if app.state.redis is not None:
        await app.state.redis.aclose()


def build_app(settings: Settings) -> Litestar:
    """The application of these settings, without what an instance holds (``bind_app``)."""
    web = composition.web_parts()
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
            # Portal pages are HTML for people: never in the API's OpenAPI document.
            Router(path="/", route_handlers=[*web.portal, unknown_page], include_in_schema=False),
            Router(path="/api/v1", route_handlers=web.api, guards=[requires_login]),
            create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False),
        ],
        dependencies={**kernel_dependencies, **web.dependencies},
        middleware=[json_body_guard, session_config.middleware, csrf, AuthMiddleware],
        request_max_body_size=MAX_BODY_BYTES,
        template_config=TemplateConfig(instance=_template_engine()),
        plugins=[HTMXPlugin()],
        exception_handlers={Exception: exception_handler},
        before_send=[security_headers_hook(settings)],
        on_startup=[_on_startup],
        on_shutdown=[_on_shutdown],
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
