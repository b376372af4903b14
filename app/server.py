"""Process runners: the embedded all-in-one server, the web server, the worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn

from app.settings import Settings

log = logging.getLogger("centrale")


def _banner(settings: Settings, ingress: bool) -> str:
    from app.demo import DEMO_PASSWORD, DEMO_USERS

    lines = [
        "",
        "Centrale est démarrée (mode embarqué).",
        f"  Portail      : {settings.base_url}/",
        f"  API          : {settings.base_url}/api/v1  (OpenAPI : {settings.base_url}/schema/openapi.json)",
    ]
    if ingress:
        lines.append(f"  Ingress OCPP : ws://{settings.ocpp_host}:{settings.ocpp_port}/ocpp/{{charge_box_id}}")
    lines += ["", f"Comptes de démonstration (mot de passe : {DEMO_PASSWORD}) :"]
    lines += [f"  {email:<32} {role}" for email, _name, role, _where in DEMO_USERS]
    if ingress:
        from csms.demo import DEMO_STATION_PASSWORD, DEMO_STATIONS

        ids = ", ".join(spec["charge_box_id"] for specs in DEMO_STATIONS.values() for spec in specs)
        lines += [
            "",
            f"Bornes de démonstration (mot de passe OCPP : {DEMO_STATION_PASSWORD}) : {ids}",
            "  Simuler une borne : .venv/bin/centrale stations simulate --charge-box-id CPAM-LM-01",
        ]
    return "\n".join(lines) + "\n"


async def serve_all(settings: Settings, *, web: bool, ingress: bool, worker: bool, banner: bool) -> None:
    """Run the web app and, in embedded mode, the OCPP ingress in the same event loop.

    The in-process job worker starts with the web app (see ``app.web``). Web and
    ingress share ONE bus (in-process, or Redis when configured): a remote command
    sent from the portal is served by this process's ingress through it.
    """
    from app.bus import create_bus
    from app.web import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tasks: list[asyncio.Task[None]] = []
    bus = await create_bus(settings)
    app = create_app(settings, bus=bus)
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_level="info", proxy_headers=True)
    server = uvicorn.Server(config)
    ingress_started = False
    if ingress:
        try:
            from csms.ingress import run_ingress  # arrives with the OCPP issue
        except ImportError:
            run_ingress = None
        if run_ingress is not None:
            tasks.append(asyncio.create_task(run_ingress(settings, bus=bus)))
            ingress_started = True
    if banner:
        print(_banner(settings, ingress_started), flush=True)  # noqa: T201
    try:
        await server.serve()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await bus.close()


def run_worker(settings: Settings) -> None:
    """``centrale worker``: the dramatiq jobs and, in scaled mode, an outbox relay on its own thread."""
    from app.jobs import run_worker_process
    from app.outbox import RelayThread
    from app.web import component_subscribers

    relay = None
    if not settings.embedded:  # embedded mode refuses to start a worker (run_worker_process says why)
        relay = RelayThread(settings, component_subscribers())
        relay.start()
    try:
        run_worker_process(settings)
    finally:
        if relay is not None:
            relay.stop()


async def run_relay(settings: Settings) -> None:
    """``centrale outbox relay``: deliver the durable events until SIGTERM / SIGINT (docs/events.md)."""
    import signal

    from app.bus import create_bus
    from app.db import Database
    from app.outbox import Relay
    from app.web import component_subscribers

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    db = Database(settings.database_url, pool_size=4)
    bus = await create_bus(settings)
    relay = Relay(db, bus=bus, settings=settings, subscribers=component_subscribers())
    await relay.start()
    log.info("outbox relay started: %s", ", ".join(relay.subscriber_names) or "no subscriber")
    try:
        await stop.wait()
    finally:
        await relay.stop()
        await bus.close()
        await db.dispose()
