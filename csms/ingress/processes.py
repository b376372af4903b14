"""``centrale ingress``: the ingress as a process of its own, or as several on one port.

``serve_ingress`` runs one (``csms.ingress.server.run_ingress``) until SIGTERM or SIGINT,
with the garbage collector tuned for thousands of sockets (``csms.ingress.server.tune_gc``);
``run_ingress_processes`` forks and supervises N of them (SO_REUSEPORT).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from app.settings import Settings
from csms.ingress.link import LOGGER
from csms.ingress.server import run_ingress

__all__ = ["run_ingress_processes", "serve_ingress"]

log = logging.getLogger(LOGGER)


async def serve_ingress(settings: Settings, *, worker: int | None = None, parent: int | None = None) -> None:
    """``run_ingress`` until SIGTERM or SIGINT, then a graceful stop: sockets closed with 1001 and
    their rows closed (what a container runtime or systemd sends before SIGKILL).
    ``parent``: a worker's supervisor; if it disappears (killed), the worker stops too."""
    import signal

    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)

    async def orphaned() -> None:
        while os.getppid() == parent:  # noqa: ASYNC110 - polled: nothing signals a parent's death
            await asyncio.sleep(1)
        log.error("ingress worker %s: its supervisor is gone; stopping", worker)
        task.cancel()

    watchdog = asyncio.create_task(orphaned()) if parent is not None else None
    try:
        with contextlib.suppress(asyncio.CancelledError):
            # A process of its own: the collector's thresholds and frozen start-up objects are its alone.
            await run_ingress(settings, worker=worker, gc_tuned=True)
    finally:
        if watchdog is not None:
            watchdog.cancel()


#: A worker that dies is started again after this many seconds (not in a tight loop if it keeps dying).
RESTART_DELAY = 1.0
#: After SIGTERM, a worker still running this many seconds later is killed.
STOP_TIMEOUT = 30


def run_ingress_processes(settings: Settings, processes: int) -> int:
    """``centrale ingress --processes N``: N ingress processes on one port (Linux SO_REUSEPORT: the
    kernel spreads new connections over them), one per core, each its own node on the bus
    (``host:port#i``), so commands reach the process holding the station as across machines.

    The parent only supervises: it forks the workers before any event loop or connection
    exists, restarts one that dies (its node name is the same: it closes the rows it left open,
    as after a kill -9), and on SIGTERM / SIGINT stops them all. Returns the exit status.
    """
    import signal
    import time

    supervisor = os.getpid()

    def start(number: int) -> int:
        pid = os.fork()
        if pid == 0:  # the worker
            # Its own process group: a Ctrl-C in the terminal reaches the parent only, which stops
            # each worker once. SIGTERM then stops it gracefully (``serve_ingress``).
            os.setpgid(0, 0)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 0
            try:
                asyncio.run(serve_ingress(settings, worker=number, parent=supervisor))
            except BaseException:  # noqa: BLE001 - reported, then the parent restarts this worker
                log.exception("ingress worker %d failed", number)
                code = 1
            finally:
                os._exit(code)  # never run the parent's code after the fork
        return pid

    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    workers = {start(number): number for number in range(processes)}
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    stop_deadline: float | None = None
    while workers:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:  # nobody ended yet
            if stopping and stop_deadline is None:
                stop_deadline = time.monotonic() + STOP_TIMEOUT
            if stop_deadline is not None and time.monotonic() > stop_deadline:
                for late in list(workers):  # a worker that does not stop in time is killed
                    log.error("ingress worker %d (pid %d) did not stop in %d s; killed", workers[late], late,
                              STOP_TIMEOUT)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(late, signal.SIGKILL)
                stop_deadline = float("inf")
            time.sleep(0.1)
            continue
        number = workers.pop(pid, None)
        if number is None:
            continue
        code = os.waitstatus_to_exitcode(wait_status)
        if stopping:
            continue
        log.warning("ingress worker %d (pid %d) ended (%s); restarting it", number, pid, code)
        status = 1
        time.sleep(RESTART_DELAY)
        if not stopping:
            workers[start(number)] = number
    return 0 if stopping else status
