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


async def serve_all(settings: Settings, *, web: bool, ingress: bool, worker: bool, banner: bool,
                    gc_tuned: bool = False) -> None:
    """Run the web app and, in embedded mode, the OCPP ingress in the same event loop.

    The in-process job worker starts with the web app (see ``app.web``). Web and
    ingress share ONE bus (in-process, or Redis when configured): a remote command
    sent from the portal is served by this process's ingress through it.
    ``gc_tuned``: the process is the server's own (``centrale serve``, not a test), see
    ``_tune_gc_once_started``.
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
    if gc_tuned and ingress_started:  # embedded mode: web, ingress and worker in this one process
        tasks.append(asyncio.create_task(_tune_gc_once_started(server)))
    try:
        await server.serve()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await bus.close()


async def _tune_gc_once_started(server: uvicorn.Server) -> None:
    """Fewer and shorter garbage-collector passes, once the web app and the ingress are up.

    What start-up allocated (imports, mappers, routes, templates, compiled schemas: most of
    the process's objects) is frozen out of the collections: with CPython's defaults a full
    collection walked all of it and stalled the one event loop of web, ingress and worker
    for hundreds of milliseconds under 1,000 stations (bench/bench_embedded.py). Young
    collections run less often; the older generations are still collected (the web app's
    cyclic garbage is freed, later), unlike ``csms.ingress.tune_gc``'s ingress-only process.
    """
    from csms.ingress import current_ingress

    while not (server.started and current_ingress() is not None):  # noqa: ASYNC110 - uvicorn and the ingress say they started by a flag only
        await asyncio.sleep(0.2)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*EMBEDDED_GC_THRESHOLDS)


def run_worker(settings: Settings) -> None:
    from app.jobs import run_worker_process

    run_worker_process(settings)
