"""Background jobs: an in-process queue in embedded mode, dramatiq on Redis when scaled.

Actors are async functions ``fn(ctx, **kwargs)`` registered with ``@actor(name)``.
They take ids only (``tenant_id`` first when tenant-scoped), re-enter the tenant
scope themselves and are safe to run twice: dramatiq delivers at least once and
retries a failed message with exponential backoff. ``Jobs.enqueue(name, **kwargs)``
is the one way to start one; its arguments go through JSON in both modes, so an
actor sees the same types (``str`` for a UUID) embedded or scaled.

Scaled mode: ``create_jobs`` returns ``DramatiqJobs``, whose ``enqueue`` sends a
message on the Redis broker (queue ``centrale``); ``centrale worker``
(``run_worker_process``) runs a dramatiq ``Worker`` whose threads execute the same
coroutines on one event loop, with a ``JobContext`` holding the worker's own
``Database``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from dramatiq.middleware import Middleware

from app.db import Database
from app.settings import Settings

if TYPE_CHECKING:
    from dramatiq import Worker
    from dramatiq.brokers.redis import RedisBroker

    from app.bus import Bus

__all__ = [
    "ACTORS",
    "ACTOR_OPTIONS",
    "QUEUE",
    "DramatiqJobs",
    "JobContext",
    "Jobs",
    "actor",
    "create_jobs",
    "make_broker",
    "run_worker_process",
    "start_worker",
]

log = logging.getLogger(__name__)
ActorFn = Callable[..., Awaitable[None]]
#: name -> coroutine function(ctx, **kwargs)
ACTORS: dict[str, ActorFn] = {}
#: name -> dramatiq options (retries and time limit, in milliseconds)
ACTOR_OPTIONS: dict[str, dict[str, int]] = {}
#: The dramatiq queue every actor runs on.
QUEUE = "centrale"
DEFAULT_OPTIONS: dict[str, int] = {
    "max_retries": 5,
    "min_backoff": 2_000,  # then ×2 per attempt with jitter: ~2 s, 4 s, 8 s, 16 s, 32 s
    "max_backoff": 300_000,
    "time_limit": 600_000,
}


def actor(name: str, **options: int) -> Callable[[ActorFn], ActorFn]:
    """Register an async actor; ``options`` override ``DEFAULT_OPTIONS`` (milliseconds)."""
    unknown = set(options) - set(DEFAULT_OPTIONS)
    if unknown:
        raise TypeError(f"unknown actor options: {', '.join(sorted(unknown))}")

    def register(fn: ActorFn) -> ActorFn:
        if not asyncio.iscoroutinefunction(fn):
            raise TypeError(f"actor {name!r} must be an async function")
        ACTORS[name] = fn
        ACTOR_OPTIONS[name] = {**DEFAULT_OPTIONS, **options}
        return fn

    return register


class JobContext:
    def __init__(self, settings: Settings, db: Database, bus: Bus | None = None) -> None:
        self.settings = settings
        self.db = db
        #: The process's bus when it has one (embedded: the web app's, shared with the OCPP ingress),
        #: for the jobs that reach live stations; ``None`` in a worker, where they open their own.
        self.bus = bus


def _portable(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    if name not in ACTORS:
        raise KeyError(f"unknown job {name!r}")
    return json.loads(json.dumps(kwargs, default=str))


def _load_actors() -> None:
    """Every actor is registered once the composition root has loaded the components
    (``app.composition.components``: the kernel's ``app.mail`` and each manifest's ``tasks``)."""
    if "send_email" not in ACTORS:
        raise RuntimeError("no actor registered: load the components first (app.composition.components())")


# --------------------------------------------------------------------------- embedded


class Jobs:
    """In-process queue (embedded mode): one task runs the jobs one after the other."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.ctx = JobContext(settings, db)
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def enqueue(self, name: str, **kwargs: Any) -> None:
        await self._queue.put((name, _portable(name, kwargs)))

    async def run_now(self, name: str, **kwargs: Any) -> None:
        await ACTORS[name](self.ctx, **kwargs)

    async def start(self) -> None:
        _load_actors()
        if self._worker is None:
            self._worker = asyncio.create_task(self._run())

    async def drain(self) -> None:
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            name, kwargs = await self._queue.get()
            try:
                await ACTORS[name](self.ctx, **kwargs)
            except Exception:
                log.exception("job %s failed", name)
            finally:
                self._queue.task_done()

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None


# --------------------------------------------------------------------------- dramatiq


class _WorkerRuntime:
    """What the actors of one broker run with: a JobContext created on the worker's loop.

    One ``Database`` per worker process: its connections belong to the dramatiq
    event-loop thread that every actor coroutine runs on.
    """

    def __init__(self, settings: Settings, pool_size: int) -> None:
        self.settings = settings
        self.pool_size = pool_size
        self._ctx: JobContext | None = None

    def context(self) -> JobContext:
        if self._ctx is None:
            self._ctx = JobContext(self.settings, Database(self.settings.database_url, pool_size=self.pool_size))
        return self._ctx

    async def close(self) -> None:
        if self._ctx is not None:
            await self._ctx.db.dispose()
            self._ctx = None


def _dramatiq_fn(name: str, runtime: _WorkerRuntime) -> Callable[..., Awaitable[None]]:
    async def run(**kwargs: Any) -> None:
        await ACTORS[name](runtime.context(), **kwargs)

    run.__name__ = run.__qualname__ = name
    run.__module__ = ACTORS[name].__module__
    return run


def _declare(broker: RedisBroker, name: str) -> Any:
    import dramatiq

    if name not in broker.actors:
        dramatiq.Actor(
            _dramatiq_fn(name, broker.centrale_runtime),  # type: ignore[attr-defined]
            broker=broker,
            actor_name=name,
            queue_name=QUEUE,
            priority=0,
            options=dict(ACTOR_OPTIONS[name]),
        )
    return broker.get_actor(name)


def make_broker(settings: Settings, *, pool_size: int = 10) -> RedisBroker:
    """A Redis broker with every registered actor declared on queue ``centrale``."""
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.middleware import AsyncIO

    from app.settings import SettingsError

    if not settings.redis_url:
        raise SettingsError("dramatiq needs CENTRALE_REDIS_URL")
    broker = RedisBroker(url=settings.redis_url, namespace=f"{settings.redis_namespace}:jobs")
    runtime = _WorkerRuntime(settings, pool_size)
    broker.centrale_runtime = runtime  # type: ignore[attr-defined]
    broker.add_middleware(AsyncIO())
    broker.add_middleware(_DisposeDatabase(runtime))  # after AsyncIO: its shutdown runs first
    _load_actors()
    for name in ACTORS:
        _declare(broker, name)
    return broker


class _DisposeDatabase(Middleware):
    """Closes the worker's database pool on its own loop before that loop stops."""

    def __init__(self, runtime: _WorkerRuntime) -> None:
        self.runtime = runtime

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        from dramatiq.asyncio import get_event_loop_thread

        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.runtime.close())


class DramatiqJobs:
    """Scaled mode: ``enqueue`` sends a dramatiq message; ``centrale worker`` processes run it."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.ctx = JobContext(settings, db)
        self.broker = make_broker(settings)

    async def enqueue(self, name: str, **kwargs: Any) -> None:
        kwargs = _portable(name, kwargs)
        message = _declare(self.broker, name).message_with_options(kwargs=kwargs)
        # The broker's Redis client is synchronous: keep the event loop free.
        await asyncio.to_thread(self.broker.enqueue, message)

    async def run_now(self, name: str, **kwargs: Any) -> None:
        await ACTORS[name](self.ctx, **kwargs)

    async def start(self) -> None:
        return None  # the workers are separate processes

    async def drain(self) -> None:
        """Wait until the queue, its retries and the messages in flight are all done.

        Polls (cancellable: wrap it in ``asyncio.timeout``); needs a running worker.
        """
        while await asyncio.to_thread(self.broker.do_qsize, QUEUE):  # noqa: ASYNC110 (polls Redis)
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        await asyncio.to_thread(self.broker.close)


def create_jobs(settings: Settings, db: Database) -> Jobs | DramatiqJobs:
    return DramatiqJobs(settings, db) if settings.redis_url else Jobs(settings, db)


def start_worker(settings: Settings, *, threads: int = 8, worker_timeout: int = 1000) -> Worker:
    """Start a dramatiq worker in this process (its own threads); ``worker.stop()`` ends it.

    ``worker_timeout`` (ms) bounds how long an idle consumer waits before polling again.
    """
    from dramatiq import Worker

    broker = make_broker(settings, pool_size=threads)
    worker = Worker(broker, queues={QUEUE}, worker_threads=threads, worker_timeout=worker_timeout)
    worker.start()
    return worker


def run_worker_process(settings: Settings, *, threads: int = 8) -> None:
    """``centrale worker``: run jobs until SIGTERM/SIGINT, then finish the running ones."""
    if settings.embedded:
        raise SystemExit(
            "centrale worker a besoin de CENTRALE_REDIS_URL : en mode embarqué, "
            "`centrale serve` exécute les tâches lui-même."
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = start_worker(settings, threads=threads)
    log.info("worker started: queue %r, %d threads, actors %s", QUEUE, threads, ", ".join(sorted(ACTORS)))
    try:
        while not stop.wait(0.5):
            pass
    finally:
        log.info("worker stopping: finishing the running jobs")
        worker.stop(timeout=60_000)
        worker.broker.close()
    log.info("worker stopped")
