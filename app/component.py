"""The manifest a component registers with: everything the application takes from it.

Each component ``X`` exports ``X/component.py:manifest``, a ``Component``; the
composition root (``app/composition.py``) lists the components once and is the only
place that reads these manifests. The kernel never imports a component.

Anything heavy (web handlers, the ingress, the command line) is given as a function
the composition root calls when it needs it, so that a command line that only runs
``centrale sla`` does not import the web layer of every component.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import click
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.audit import AuditLabels
    from app.bus import Bus
    from app.schedule import Schedule
    from app.settings import Settings
    from app.shell import BeneficiaryColumnsHook, HomeCardHook, MenuHook, WorkQueueHook

__all__ = ["Component", "ExportFile", "ExportFiles", "IdentityLoader", "ImportFiles", "SessionEnded", "StoredFiles", "Web"]


@dataclass(frozen=True)
class Web:
    """What a component adds to the web application."""

    #: Portal pages (HTML, mounted at ``/``, never in the OpenAPI document).
    portal: list[Any] = field(default_factory=list)
    #: API handlers, mounted under ``/api/v1`` behind the login guard.
    api: list[Any] = field(default_factory=list)
    #: Menu entries of the portals (``app.shell.MenuHook``), each hook in a group of the menu.
    menu: list[MenuHook] = field(default_factory=list)
    #: Cards of the home pages (``app.shell.HomeCardHook``): a tenant's home, the central's,
    #: the operator's; each hook returns the cards of the context it is given.
    home_cards: list[HomeCardHook] = field(default_factory=list)
    #: Key figures of each beneficiary in the coordinator's table (``app.shell.BeneficiaryColumnsHook``).
    beneficiary_columns: list[BeneficiaryColumnsHook] = field(default_factory=list)
    #: Lines of the operator's work queue across its tenants (``app.shell.WorkQueueHook``).
    work_queue: list[WorkQueueHook] = field(default_factory=list)
    #: Litestar dependencies (name -> ``Provide``) the component's handlers, or others', use.
    dependencies: Mapping[str, Any] = field(default_factory=dict)
    #: Named page contributions other components' pages call (e.g. ``"agent_home"``:
    #: ``async (request, ctx, session) -> dict`` of extra template context).
    page_hooks: Mapping[str, list[Callable[..., Awaitable[dict[str, Any]]]]] = field(default_factory=dict)
    #: Route handlers that are the component's own root routes (login, home), mounted as they are.
    root: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ExportFile:
    """One file a component adds to a tenant's reversibility export (``tenants.reversibility``, issue 16 §1):
    a document the product made or a file a user gave (a ticket's attachment), or a view of its data in a
    public format (the stations in schema-irve). ``path`` is inside the archive, under ``documents/`` or
    ``formats/``; ``content`` is the bytes or a stored file (streamed, never read whole); ``description`` is
    the French sentence ``LISEZMOI.md`` gives it; ``rows`` the data rows of a table file."""

    path: str
    content: bytes | Path
    description: str
    rows: int | None = None


#: ``async (session scoped to the tenant, settings, tenant_id) -> async iterator of ExportFile``.
ExportFiles = Callable[["AsyncSession", "Settings", Any], AsyncIterator[ExportFile]]

#: ``(settings, tenant_id) -> the folders (or files) where a component keeps the tenant's stored files``, every one
#: erased with the tenant's data (``tenants.reversibility.destruction``, issue 16 §4).
StoredFiles = Callable[["Settings", Any], list[Path]]

#: ``async (session scoped to the tenant, settings, tenant_id, files) -> the stored files it wrote``: the import of
#: a reversibility archive (``tenants.reversibility.restore``, issue 16 §2) gives a component the archive's files
#: under ``documents/`` and ``formats/`` (path -> a function returning the bytes, checked against the manifest)
#: once the tenant's rows are in, in the same transaction; the files it returns are removed if the import fails.
ImportFiles = Callable[["AsyncSession", "Settings", Any, Mapping[str, Callable[[], bytes]]], Awaitable[list[Path]]]


class SessionEnded(Exception):  # noqa: N818 (a signal, not a failure)
    """Raised by ``IdentityLoader.from_session``: the session was someone's and no longer is."""


class IdentityLoader:
    """Who calls: the component that owns accounts loads the caller for the auth middleware.

    ``from_session`` reads the portal session's data (``None`` for an anonymous session;
    ``SessionEnded`` when the session's account changed its password, was deactivated or
    deleted: the middleware then empties it), ``from_bearer`` an API token (``None`` when
    unknown). An identity is any object with an ``actor`` dict for the audit log.
    """

    async def from_session(self, db: Any, session_data: dict[str, Any]) -> Any | None:
        raise NotImplementedError

    async def from_bearer(self, db: Any, token: str) -> Any | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Component:
    """One component's manifest (see ``docs/architecture.md``, « Ajouter un composant »)."""

    #: The folder's name (``tenants``, ``csms``, ``incidents``…).
    name: str
    #: Modules that define its ORM models (imported so that the metadata is complete).
    models: tuple[str, ...] = ()
    #: Modules that define its background jobs (``@app.jobs.actor``).
    tasks: tuple[str, ...] = ()
    #: Its web parts, built on demand.
    web: Callable[[], Web] | None = None
    #: What each role may do in a tenant, added to the roles' permissions (role -> permission names).
    permissions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: Its command line: returns the click commands/groups to add to ``centrale``.
    cli: Callable[[], list[click.Command]] | None = None
    #: Durable bus subscribers (``app.outbox``), returned on demand.
    subscribers: Callable[[], list[Any]] | None = None
    #: Periodic jobs (``app.schedule.Schedule``: an actor of ``tasks`` and its period), returned on demand.
    schedules: Callable[[], list[Schedule]] | None = None
    #: Long-running services of the embedded process (the OCPP ingress): ``async (settings, bus)``.
    services: Callable[[], list[Callable[[Settings, Bus], Awaitable[None]]]] | None = None
    #: Checks of its services' settings made before anything serves (files read and parsed: a station CA),
    #: returned on demand; each raises ``app.settings.SettingsError``, which a command prints as its one line.
    preflight: Callable[[], Callable[[Settings], None]] | None = None
    #: Demo data: ``async (session, demo) -> summary``; ``demo`` is shared by the loaders in
    #: component order (tenants first puts its tenants and sites there for the others).
    demo: Callable[[AsyncSession, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
    #: Lines of the embedded server's banner (demo logins, simulated stations).
    banner: Callable[[Settings], list[str]] | None = None
    #: The tenant-wall walk (tests/test_tenant_walls.py): ``async (session, tenant_id, objects)``
    #: creates this component's objects in the victim tenant and returns the value of each path
    #: parameter its routes take (``{"badge_id": …}``); ``objects`` holds what earlier
    #: components made (``site_id``…).
    wall_target: Callable[[AsyncSession, Any, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
    #: The component that owns accounts loads the caller (exactly one component does).
    identity: Callable[[], IdentityLoader] | None = None
    #: Its templates folder (``X/templates``), when it has one.
    templates: Path | None = None
    #: French names of its audited tables, columns and codes for the « Journal » (``app.audit.AuditLabels``).
    labels: AuditLabels | None = None
    #: Its files of a tenant's reversibility export (``ExportFiles``), returned on demand; its tables are
    #: exported without it, from ``app.db.TENANT_TABLES``.
    export_files: Callable[[], ExportFiles] | None = None
    #: Where it stores a tenant's files (``StoredFiles``), returned on demand: erased when the tenant's data is.
    stored_files: Callable[[], StoredFiles] | None = None
    #: Restores its files from a reversibility archive (``ImportFiles``), returned on demand.
    import_files: Callable[[], ImportFiles] | None = None
