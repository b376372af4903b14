"""Process runners: the embedded all-in-one server, the web server, the worker."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging

import uvicorn

from app.settings import Settings

log = logging.getLogger("centrale")

#: Embedded mode: allocations between young collections (CPython's default: 700) and how rarely the
#: older generations are collected; see ``_tune_gc_once_started``.
EMBEDDED_GC_THRESHOLDS = (50_000, 20, 100)


def banner_text(settings: Settings, services: bool) -> str:
    from app import composition

    lines = [
        "",
        "Centrale est démarrée (mode embarqué).",
        f"  Portail      : {settings.base_url}/",
        f"  API          : {settings.base_url}/api/v1  (OpenAPI : {settings.base_url}/schema/openapi.json)",
    ]
    if services:
        lines.append(f"  Ingress OCPP : ws://{settings.ocpp_host}:{settings.ocpp_port}/ocpp/{{charge_box_id}}")
    lines += composition.banner_lines(settings, with_services=services)
    return "\n".join(lines) + "\n"


async def serve_all(settings: Settings, *, web: bool, ingress: bool, worker: bool, banner: bool,
                    gc_tuned: bool = False) -> None:
    """Run the web app and, in embedded mode, the OCPP ingress in the same event loop.

    The in-process job worker starts with the web app (see ``app.web``). Web and
    ingress share ONE bus (in-process, or Redis when configured): a remote command
    sent from the portal is served by this process's ingress through it.
    ``gc_tuned``: the process is the server's own (``centrale serve``, not a test), see
    ``_tune_gc_once_started``.
    """
    from app import composition
    from app.bus import create_bus
    from app.web import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tasks: list[asyncio.Task[None]] = []
    bus = await create_bus(settings)
    app = create_app(settings, bus=bus)
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_level="info", proxy_headers=True)
    server = uvicorn.Server(config)
    # The components' services (the OCPP ingress) share the loop and the bus with the web app.
    started = [asyncio.create_task(service(settings, bus)) for service in composition.services()] if ingress else []
    tasks.extend(started)
    if banner:
        print(banner_text(settings, bool(started)), flush=True)  # noqa: T201
    if gc_tuned and started:  # embedded mode: web, ingress and worker in this one process
        tasks.append(asyncio.create_task(_tune_gc_once_started(server, settings)))
    elif gc_tuned:  # a scaled web process: the same, once the app is up
        tasks.append(asyncio.create_task(_tune_gc_once_web_started(server)))
    try:
        await server.serve()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await bus.close()


async def _tune_gc_once_started(server: uvicorn.Server, settings: Settings) -> None:
    """Fewer and shorter garbage-collector passes, once the web app and the ingress are up.

    What start-up allocated (imports, mappers, routes, templates, compiled schemas: most of
    the process's objects) is frozen out of the collections: with CPython's defaults a full
    collection walked all of it and stalled the one event loop of web, ingress and worker
    for hundreds of milliseconds under 1,000 stations (bench/bench_embedded.py). Young
    collections run less often; the older generations are still collected (the web app's
    cyclic garbage is freed, later), unlike ``csms.ingress.server.tune_gc``'s ingress-only process.
    """
    while not server.started:  # noqa: ASYNC110 - uvicorn says it started by a flag only
        await asyncio.sleep(0.2)
    while True:  # the services (the OCPP ingress) listen: what they allocated at start-up is there
        try:
            _reader, writer = await asyncio.open_connection(settings.ocpp_host, settings.ocpp_port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.close()
        break
    freeze_startup_heap()


async def _tune_gc_once_web_started(server: uvicorn.Server) -> None:
    """A web process without the ingress: its start-up heap frozen once the app is up. Unfrozen, a full collection
    walked the ~380,000 objects of the imported application for 150–200 ms in the middle of a request, about one
    request in eight of the coordinator's dashboard (bench/bench_dashboard.py: its p95)."""
    while not server.started:  # noqa: ASYNC110 - uvicorn says it started by a flag only
        await asyncio.sleep(0.2)
    freeze_startup_heap()


def freeze_startup_heap() -> None:
    """What start-up allocated moved out of the collections (``gc.freeze``), young collections made rarer; the
    benches call it where the server would, once the app is up."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*EMBEDDED_GC_THRESHOLDS)


def run_worker(settings: Settings) -> None:
    """``centrale worker``: the dramatiq jobs and, in scaled mode, an outbox relay on its own thread."""
    from app.composition import components, subscribers
    from app.jobs import run_worker_process
    from app.outbox import RelayThread

    components()  # every actor registered
    relay = None
    if not settings.embedded:  # embedded mode refuses to start a worker (run_worker_process says why)
        relay = RelayThread(settings, subscribers())
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
    from app.composition import subscribers
    from app.db import Database
    from app.outbox import Relay

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    db = Database(settings.database_url, pool_size=4)
    bus = await create_bus(settings)
    relay = Relay(db, bus=bus, settings=settings, subscribers=subscribers())
    await relay.start()
    log.info("outbox relay started: %s", ", ".join(relay.subscriber_names) or "no subscriber")
    try:
        await stop.wait()
    finally:
        await relay.stop()
        await bus.close()
        await db.dispose()
