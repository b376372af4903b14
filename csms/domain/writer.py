"""Write-behind group commit: many stations' messages committed in one transaction.

DESIGN.md: « A station-initiated message is answered only after what it reports is
committed ». Committing each message on its own would cap the ingress at the
database's commit rate; instead each handler submits its unit of work with a
future, and one task runs the pending units in a single transaction, commits, then
resolves every future. The handler answers the station only when its future
resolves. While one batch commits, the next one fills up, so the batch size adapts
to the load with no added delay.

Isolation: units are sorted by tenant (stable, so one station's units keep their
order) and the session's tenant scope is switched before each tenant's units:
every unit runs under its own tenant's scope, ORM filter and PostgreSQL RLS alike.

Failure: if the batch fails, every unit is retried alone in its own transaction,
so one bad unit fails only its own message. Units must therefore be safe to run
again (they are: they read the state they need and write idempotently).

Deferred rows: the hottest writes (``last_seen_at`` of heartbeats, meter value
rows) need not run as one statement per message. A unit hands them to
``execute_many`` / ``touch_later``; the writer runs them at the end of the batch,
in the same transaction (so still committed before any answer), as one
executemany per statement and tenant, under that tenant's scope. A batch of 1,000
MeterValues is then one ``INSERT`` round trip instead of 1,000.

Set-based units: a write whose outcome the unit must report (a StatusNotification
is current or older offline data; an alert opens or closes) goes through
``batch_later``: the unit hands its item and returns the ``Pending`` it gets; once
every unit of the batch ran, the writer calls each key's ``run`` once per tenant
with all the items (one Core statement for all of them, under that tenant's scope,
in the same transaction), then hands each unit the value ``run`` returned for its
item. Outside a writer batch ``batch_later`` runs its item at once.

Across tenants (PostgreSQL): a run marked with ``across_tenants`` whose statements
carry each item's own tenant id (``unnest`` of arrays, one fixed SQL text: compiled
and prepared once, whatever the number of rows) is called once for the whole batch,
under the scope of the batch's tenants (the same scope for every such run: one
``set_config`` per batch). A batch of
heartbeats from a thousand stations of a hundred tenants is then one ``UPDATE``, not
a hundred statements and a hundred scope switches. Row-level security still checks
every row against that scope; the tenant id of an item is the one its unit ran
under (``batch_later`` refuses an item for a tenant outside the unit's scope).

Riders (PostgreSQL): a statement whose result nobody reads (the batch's
``last_seen_at`` update) does not need a round trip of its own. When a run of the
batch is marked ``takes_riders`` (the meter values' insert), the rider runs first
and leaves its statement in ``session.info``; the taker's statement carries it as a
data-modifying ``WITH`` (``with_riders``: run once, whatever the main statement
returns), in the same transaction and under the same scope. A rider and its taker
must write different tables (PostgreSQL applies one change per row and statement).
A rider nobody took (the taker had no rows) runs alone after the batch's runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import TextClause, bindparam, case, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, TenantScopeError, scope_session

__all__ = [
    "GroupCommitWriter", "Pending", "WriterStopped", "across_tenants", "batch_later", "execute_many", "has_changes",
    "touch_later", "with_riders",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
Unit = Callable[[AsyncSession], Awaitable[Any]]


class WriterStopped(RuntimeError):
    """The writer is stopped: the unit was not run."""


#: ``session.info`` key of the rows deferred to the end of the batch:
#: {(tenant_id, key): (statement, [rows])}, in insertion order.
DEFERRED = "csms.domain.writer.deferred"


async def execute_many(session: AsyncSession, key: str, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Run ``statement`` for ``rows`` with this unit's transaction: at the end of the group
    commit when the session is the writer's (one executemany for every unit of the batch
    that used the same ``key``), at once otherwise.

    Only for writes nothing later in the batch reads back (inserts ``ON CONFLICT DO
    NOTHING``, monotonic updates): they are reordered after the batch's other statements.
    """
    if not rows:
        return
    deferred = session.info.get(DEFERRED)
    if deferred is None:
        await session.execute(statement, rows)
        return
    (tenant_id,) = session.info["tenant_ids"]  # the writer scopes each unit to its one tenant
    entry = deferred.setdefault((tenant_id, key), (statement, []))
    entry[1].extend(rows)


def _last_seen_statement() -> Any:
    from csms.domain.models import Charger  # noqa: PLC0415 - models import the app's whole mapper graph

    table = Charger.__table__
    at = bindparam("at", type_=table.c.last_seen_at.type)
    # Monotonic: rows are applied after the batch's other statements and in any order.
    newer = case((table.c.last_seen_at.is_(None), at), (table.c.last_seen_at < at, at), else_=table.c.last_seen_at)
    return (update(table).where(table.c.tenant_id == bindparam("t"), table.c.id == bindparam("c"))
            .values(last_seen_at=newer))


_LAST_SEEN: list[Any] = []

#: ``session.info`` key of the set-based items of the batch:
#: {(tenant_id or None, key): (run, [(item, Pending, tenant_id)])}; None: an ``across_tenants`` run.
BATCHED = "csms.domain.writer.batched"
#: ``run(session, items)`` -> one result per item, in order; every item is of one tenant
#: unless the run is marked ``across_tenants``.
RunBatch = Callable[[AsyncSession, list[Any]], Awaitable[list[Any]]]


def has_changes(session: AsyncSession) -> bool:
    """Whether a flush would write anything (cheaper than ``session.new or session.dirty``, which
    build sets of every object at each call)."""
    sync = session.sync_session
    return bool(sync._new or sync._deleted) or sync.identity_map.check_modified()  # noqa: SLF001


def across_tenants(run: RunBatch | None = None, *, every_dialect: bool = False, takes_riders: bool = False,
                   rider: bool = False) -> Any:
    """Mark a set-based run whose statements name each item's tenant themselves: on PostgreSQL
    the writer calls it once per batch for every tenant's items (see the module doc).
    ``every_dialect``: on SQLite too, for a run whose SQLite statement names each row's tenant
    as well (no row-level security there; the ORM wall sees no statement of it).
    ``takes_riders``: its one statement goes through ``with_riders`` (PostgreSQL).
    ``rider``: it may leave its statement to such a run (see the module doc « Riders »)."""

    def mark(run: RunBatch) -> RunBatch:
        run.across_tenants = True  # type: ignore[attr-defined]
        run.across_every_dialect = every_dialect  # type: ignore[attr-defined]
        run.takes_riders = takes_riders  # type: ignore[attr-defined]
        run.rider = rider  # type: ignore[attr-defined]
        return run

    return mark if run is None else mark(run)



class Pending:
    """A unit's result, known once its batch's set-based statements ran (``batch_later``)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = None


async def batch_later(session: AsyncSession, key: str, run: RunBatch, item: Any, *, tenant_id: uuid.UUID) -> Any:
    """Hand ``item``, which writes for ``tenant_id``, to ``run`` with the batch's other items of this ``key``.

    ``tenant_id`` must be in the session's scope (the unit's one tenant, in a writer
    batch): an item for another tenant's station fails its unit here, before anything
    is written (``TenantScopeError``), whatever runs it later. In a writer batch:
    returns a ``Pending`` the unit must return (the writer replaces it with ``run``'s
    value for the item). Otherwise: runs it now and returns the value.
    """
    if tenant_id not in (session.info.get("tenant_ids") or ()):
        raise TenantScopeError(f"{key}: an item of a tenant outside this unit's scope")
    groups = session.info.get(BATCHED)
    if groups is None:
        (value,) = await run(session, [item])
        return value
    pending = Pending()
    across = getattr(run, "across_tenants", False) and (
        getattr(run, "across_every_dialect", False) or session.bind.dialect.name == "postgresql")
    groups.setdefault((None if across else tenant_id, key), (run, []))[1].append((item, pending, tenant_id))
    return pending


async def touch_later(session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, at: Any) -> Any:
    """``chargers.last_seen_at`` := max(itself, ``at``), for the whole batch at once (``_touch_many``)."""
    return await batch_later(session, "last_seen", _touch_many, (tenant_id, charger_id, at), tenant_id=tenant_id)


#: PostgreSQL: every charger of the batch, all tenants, in one fixed statement (csms.domain.unnest);
#: ``{p}``: the prefix of its parameters' names (``with_riders``).
_TOUCH_TEMPLATE = (
    "UPDATE chargers AS c SET last_seen_at = v.at"
    " FROM unnest(CAST(:{p}t AS uuid[]), CAST(:{p}c AS uuid[]), CAST(:{p}at AS timestamptz[])) AS v(tenant_id, id, at)"
    # ``c.id = ANY(:c)`` repeats the join for the planner: it probes ix_chargers_id instead of scanning
    # every charger of the tenants in scope (migration 0007).
    " WHERE c.id = ANY(CAST(:{p}c AS uuid[])) AND c.tenant_id = v.tenant_id AND c.id = v.id"
    " AND (c.last_seen_at IS NULL OR c.last_seen_at < v.at)"
)
_TOUCH_SQL = text(_TOUCH_TEMPLATE.format(p=""))

#: ``session.info`` key, PostgreSQL batches with a ``takes_riders`` run: [(template, parameters, statement alone)].
RIDERS = "csms.domain.writer.riders"


def with_riders(session: AsyncSession, statement: TextClause, parameters: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``statement`` with the riders waiting in this batch (module doc « Riders ») as data-modifying
    ``WITH``s ahead of its own, and their parameters (prefixed ``r0_``, ``r1_`` …); unchanged without any.
    Taken riders are gone: the caller must execute what this returns."""
    riders = session.info.get(RIDERS)
    if not riders:
        return statement, parameters
    parameters = dict(parameters)
    for number, (_template, values, _alone) in enumerate(riders):
        parameters.update({f"r{number}_{name}": value for name, value in values.items()})
    combined = _with_riders_sql(statement.text, tuple(template for template, _, _ in riders))
    riders.clear()
    return combined, parameters


@lru_cache(maxsize=32)
def _with_riders_sql(sql: str, templates: tuple[str, ...]) -> TextClause:
    """One fixed text per shape (prepared once per connection, like the statements it extends)."""
    ctes = ", ".join(f"r{number} AS ({template.format(p=f'r{number}_')})" for number, template in enumerate(templates))
    if sql.startswith("WITH "):
        return text(f"WITH {ctes}, {sql[len('WITH '):]}")
    return text(f"WITH {ctes} {sql}")


@across_tenants(every_dialect=True, rider=True)
async def _touch_many(session: AsyncSession, items: list[tuple[uuid.UUID, uuid.UUID, Any]]) -> list[None]:
    """The latest time of each charger, one statement for the batch, across tenants (PostgreSQL:
    an ``UPDATE ... FROM`` must see each charger once; SQLite: one executemany whose rows each
    name their tenant, instead of one per tenant of the batch)."""
    latest: dict[tuple[uuid.UUID, uuid.UUID], Any] = {}
    for tenant_id, charger_id, at in items:
        key = (tenant_id, charger_id)
        if key not in latest or latest[key] < at:
            latest[key] = at
    if session.bind.dialect.name != "postgresql":
        if not _LAST_SEEN:
            _LAST_SEEN.append(_last_seen_statement())
        await session.execute(_LAST_SEEN[0], [{"t": t, "c": c, "at": at} for (t, c), at in latest.items()])
        return [None] * len(items)
    parameters = {"t": [t for t, _ in latest], "c": [c for _, c in latest], "at": list(latest.values())}
    riders = session.info.get(RIDERS)
    if riders is not None:  # a later run of this batch takes it along: one round trip less
        riders.append((_TOUCH_TEMPLATE, parameters, _TOUCH_SQL))
    else:
        await session.execute(_TOUCH_SQL, parameters)
    return [None] * len(items)


@dataclass
class _Job:
    tenant_id: uuid.UUID
    fn: Unit
    actor: dict[str, Any]
    future: asyncio.Future[Any]
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class WriterStats:
    batches: int = 0
    units: int = 0
    largest_batch: int = 0
    fallbacks: int = 0
    #: Actors sent to another worker than the first because its backlog reached ``spill``.
    spilled: int = 0


class GroupCommitWriter:
    """``workers`` > 1 (PostgreSQL): up to that many batches commit at once, on their own
    connections, so one batch's round trips overlap another's under load.

    Spill-over: units go to the first worker while its backlog is below ``spill``
    (one worker, bigger batches: at a moderate rate several workers would each commit
    small batches, costing more CPU and latency — measured in docs/ocpp.md); beyond
    it, a new actor's units go to the least loaded worker. An actor (the station, for
    the ingress) stays on its worker while it has units in flight, so one station's
    units still run one after the other in submission order; different stations'
    units may commit in any order, as they may with one worker across batches."""

    def __init__(self, db: Database, *, max_batch: int = 500, workers: int = 1, spill: int = 200,
                 linger: float = 0.0, linger_below: int = 50) -> None:
        self.db = db
        self.max_batch = max_batch
        #: Seconds a batch of fewer than ``linger_below`` units waits before it commits; 0: none.
        self.linger = linger
        self.linger_below = linger_below
        self.spill = spill
        self.stats = WriterStats()
        self._queues: list[asyncio.Queue[_Job]] = [asyncio.Queue() for _ in range(max(1, workers))]
        #: actor -> [worker index, units in flight]
        self._pinned: dict[str, list[int]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def start(self) -> None:
        if not self._tasks:
            self._closing = False
            self._tasks = [asyncio.create_task(self._run(queue), name=f"csms-group-commit-{number}")
                           for number, queue in enumerate(self._queues)]

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        self._closing = True
        if not self._tasks:
            return
        for queue in self._queues:
            await queue.join()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def submit(self, tenant_id: uuid.UUID, fn: Callable[[AsyncSession], Awaitable[T]], *, actor: str) -> T:
        """Run ``fn(session)`` in the next batch, under ``tenant_id``'s scope; returns once committed."""
        return await self.enqueue(tenant_id, fn, actor=actor)

    def enqueue(self, tenant_id: uuid.UUID, fn: Callable[[AsyncSession], Awaitable[T]], *,
                actor: str) -> asyncio.Future[T]:
        """``submit`` without waiting: queued now (after the actor's earlier units, before its later
        ones), the future resolves once committed."""
        if not self._tasks:
            raise WriterStopped("le journal d'écriture est arrêté")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        pinned = self._pinned.get(actor)
        if pinned is None:
            index = 0
            if len(self._queues) > 1 and self._queues[0].qsize() >= self.spill:
                index = min(range(len(self._queues)), key=lambda number: self._queues[number].qsize())
                self.stats.spilled += index != 0
            pinned = self._pinned[actor] = [index, 0]
        pinned[1] += 1
        self._queues[pinned[0]].put_nowait(_Job(tenant_id, fn, {"user_id": None, "label": actor}, future))
        return future

    def _release(self, job: _Job) -> None:
        actor = job.actor["label"]
        pinned = self._pinned.get(actor)
        if pinned is not None:
            pinned[1] -= 1
            if pinned[1] <= 0:
                del self._pinned[actor]

    async def _run(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            batch = [await queue.get()]
            if self.linger and queue.qsize() < self.linger_below:
                # A small batch waits ``linger`` for company: fewer, bigger transactions (each costs
                # BEGIN, the scope, one statement per kind of row and COMMIT: round trips that wake a
                # backend), for ``linger`` more latency on the answers it holds (docs/ocpp.md « Figures »).
                await asyncio.sleep(self.linger)
            while len(batch) < self.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._commit(batch)
            except Exception as exc:  # never let the writer die
                log.exception("group commit failed")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
            finally:
                for job in batch:
                    self._release(job)
                    queue.task_done()

    async def _commit(self, batch: list[_Job]) -> None:
        batch.sort(key=lambda job: job.tenant_id.int)
        self.stats.batches += 1
        self.stats.units += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        try:
            results = await self._transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                _resolve(batch[0], exc=exc)
                return
            self.stats.fallbacks += 1
            log.warning("group commit of %d units failed (%s); retrying one by one", len(batch), exc)
            for job in batch:
                try:
                    (result,) = await self._transaction([job])
                except Exception as one_exc:  # noqa: BLE001 - handed to the waiting handler
                    _resolve(job, exc=one_exc)
                else:
                    _resolve(job, result=result)
            return
        for job, result in zip(batch, results, strict=True):
            _resolve(job, result=result)

    async def _transaction(self, jobs: list[_Job]) -> list[Any]:
        results: list[Any] = []
        async with self.db.session([jobs[0].tenant_id], actor=jobs[0].actor) as session, session.begin():
            deferred: dict[tuple[uuid.UUID, str], tuple[Any, list[dict[str, Any]]]] = {}
            session.info[DEFERRED] = deferred
            batched: dict[tuple[uuid.UUID, str], tuple[RunBatch, list[tuple[Any, Pending]]]] = {}
            session.info[BATCHED] = batched
            current = jobs[0].tenant_id
            for job in jobs:
                if job.tenant_id != current:
                    scope_session(session, [job.tenant_id], actor=job.actor)  # republishes SET LOCAL
                    current = job.tenant_id
                else:
                    session.info["actor"] = job.actor  # who the audit log names for this unit
                results.append(await job.fn(session))
                if has_changes(session):
                    await session.flush()
            session.info.pop(BATCHED)
            # Per-tenant runs first (tenant order), then the runs across tenants, all under the scope
            # of the batch's tenants: one scope for every such run, so one ``set_config`` round trip.
            batch_tenants = frozenset(job.tenant_id for job in jobs)
            # Riders (module doc): the runs across tenants that may ride first, if one that takes them follows.
            if any(getattr(run, "takes_riders", False) for (tenant_id, _), (run, _) in batched.items()
                   if tenant_id is None):
                session.info[RIDERS] = []
            for (tenant_id, _key), (run, items) in sorted(
                    batched.items(), key=lambda group: (group[0][0] is None, group[0][0].int if group[0][0] else 0,
                                                        not getattr(group[1][0], "rider", False))):
                if tenant_id is None:
                    # Always: the previous run may have left the scope on one item's tenant (csms.domain.recording
                    # ``_Scopes``). Unchanged, it costs nothing (app.db sends a scope once per change).
                    scope_session(session, batch_tenants)
                    current = None
                elif tenant_id != current:
                    scope_session(session, [tenant_id])
                    current = tenant_id
                values_ = await run(session, [item for item, _, _ in items])
                for (_item, pending, _tenant), value in zip(items, values_, strict=True):
                    pending.value = value
                if has_changes(session):
                    await session.flush()
            for _template, parameters, alone in session.info.pop(RIDERS, None) or ():  # nobody took them
                scope_session(session, batch_tenants)
                current = None
                await session.execute(alone, parameters)
            session.info.pop(DEFERRED)
            for (tenant_id, _key), (statement, rows) in sorted(deferred.items(), key=lambda item: item[0][0].int):
                if tenant_id != current:
                    scope_session(session, [tenant_id])
                    current = tenant_id
                await session.execute(statement, rows)
        return [result.value if isinstance(result, Pending) else result for result in results]


def _resolve(job: _Job, *, result: Any = None, exc: BaseException | None = None) -> None:
    if job.future.done():  # the waiting handler went away (station disconnected)
        return
    if exc is not None:
        job.future.set_exception(exc)
    else:
        job.future.set_result(result)
