"""The composition root: the list of components, written once, and what is built from it.

``COMPONENTS`` names every component in dependency order (``tenants`` first: the others
build on it). Each one's manifest (``X/component.py:manifest``, an ``app.component.Component``)
says what it brings; this module only iterates over them:

- ``components()``: the manifests, loaded once; loading imports every model and job
  module and grants every component's permissions (``app.permissions``);
- ``metadata()``: the complete ORM metadata (Alembic, tests);
- ``web_parts()``: the portal and API handlers, menu hooks, home hooks (cards, the
  coordinator's columns, the operator's work queue), dependencies and page hooks;
- ``identity_loader()``: the one component that owns accounts loads the caller;
- ``audit_reader()``: the audit log in words, from every component's labels;
- ``cli_commands()``, ``services()``, ``banner_lines()``, ``load_demo()``, ``wall_targets()``.

``app/web.py``, ``app/server.py``, ``app/cli.py`` and ``app/migrate.py`` (with
``migrations/env.py``) are the other parts of the composition root: the only modules of
``app/`` that reach components, and only through this list.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.component import Component, ExportFiles, IdentityLoader, ImportFiles, StoredFiles, Web
from app.permissions import grant

if TYPE_CHECKING:
    import click
    from sqlalchemy import MetaData

    from app.audit import AuditReader
    from app.bus import Bus
    from app.db import Database
    from app.schedule import Schedule
    from app.settings import Settings

__all__ = [
    "COMPONENTS",
    "KERNEL_MODELS",
    "audit_reader",
    "banner_lines",
    "cli_commands",
    "components",
    "export_files",
    "identity_loader",
    "import_files",
    "load_demo",
    "metadata",
    "preflight",
    "services",
    "schedules",
    "subscribers",
    "template_dirs",
    "wall_targets",
    "web_parts",
]

#: Every component, in dependency order. Adding one: its folder, its manifest, one line here.
COMPONENTS = ("tenants", "catalog", "csms", "assets", "incidents", "billing", "reporting")
#: The kernel's own tables and jobs (audit log, mail outbox, event outbox).
KERNEL_MODELS = ("app.audit", "app.mail", "app.outbox", "app.schedule")


@functools.cache
def components() -> tuple[Component, ...]:
    """The manifests, in ``COMPONENTS`` order; loading them completes the ORM and the job registry."""
    from sqlalchemy.orm import configure_mappers

    found = tuple(importlib.import_module(f"{name}.component").manifest for name in COMPONENTS)
    for module in (*KERNEL_MODELS, *(m for c in found for m in (*c.models, *c.tasks))):
        importlib.import_module(module)
    for component in found:
        grant(component.permissions)
    # A job may build a model before any query has configured the mappers, and
    # app.db's ``init`` hook (id assignment) needs them configured.
    configure_mappers()
    return found


def metadata() -> MetaData:
    """The metadata of every table: the kernel's and every component's."""
    from app.db import Base

    components()
    return Base.metadata


def web_parts() -> Web:
    """Every component's web parts, merged in component order."""
    portal: list[Any] = []
    api: list[Any] = []
    menu: list[Any] = []
    home_cards: list[Any] = []
    columns: list[Any] = []
    queue: list[Any] = []
    dependencies: dict[str, Any] = {}
    page_hooks: dict[str, list[Any]] = {}
    for component in components():
        if component.web is None:
            continue
        web = component.web()
        portal += web.portal
        api += web.api
        menu += web.menu
        home_cards += web.home_cards
        columns += web.beneficiary_columns
        queue += web.work_queue
        clash = set(dependencies) & set(web.dependencies)
        if clash:
            raise RuntimeError(f"component {component.name} redefines the dependencies {sorted(clash)}")
        dependencies.update(web.dependencies)
        for name, hooks in web.page_hooks.items():
            page_hooks.setdefault(name, []).extend(hooks)
    return Web(portal=portal, api=api, menu=menu, home_cards=home_cards, beneficiary_columns=columns,
               work_queue=queue, dependencies=dependencies, page_hooks=page_hooks)


def identity_loader() -> IdentityLoader:
    owners = [c for c in components() if c.identity is not None]
    if len(owners) != 1:
        raise RuntimeError(f"exactly one component must own accounts, found {[c.name for c in owners]}")
    assert owners[0].identity is not None
    return owners[0].identity()


def template_dirs() -> list[Path]:
    return [c.templates for c in components() if c.templates is not None]


def cli_commands() -> list[click.Command]:
    return [command for c in components() if c.cli is not None for command in c.cli()]


def subscribers() -> list[Any]:
    """Every component's durable subscribers (``app.outbox.Subscriber``), for the relays."""
    return [s for c in components() if c.subscribers is not None for s in c.subscribers()]


def schedules() -> list[Schedule]:
    """Every component's periodic jobs (``app.schedule.Schedule``), for the schedulers."""
    found = [s for c in components() if c.schedules is not None for s in c.schedules()]
    names = [s.name for s in found]
    if len(names) != len(set(names)):
        raise RuntimeError(f"two schedules share a name: {sorted(n for n in names if names.count(n) > 1)}")
    return found


def services() -> list[Callable[[Settings, Bus], Awaitable[None]]]:
    """The long-running services of the embedded process (the OCPP ingress)."""
    return [service for c in components() if c.services is not None for service in c.services()]


def banner_lines(settings: Settings, *, with_services: bool) -> list[str]:
    """The components' lines of the embedded server's banner (demo logins, demo stations).

    A component with services (csms: the ingress) is shown only when they run in this process.
    """
    return [line for c in components() if c.banner is not None and (with_services or c.services is None)
            for line in c.banner(settings)]


async def load_demo(settings: Settings, db: Database | None = None) -> dict[str, Any]:
    """``centrale demo load``: every component's demo data, in one transaction, idempotent."""
    from app.db import Database, unscoped

    own = db is None
    db = db or Database(settings.database_url)
    summary: dict[str, Any] = {}
    shared: dict[str, Any] = {"settings": settings}
    try:
        async with db.transaction(actor={"user_id": None, "label": "démo"}) as session:
            # The loaders write into several tenants; on PostgreSQL ``tenants``'s publishes them all.
            with unscoped(session):
                for component in components():
                    if component.demo is not None:
                        summary.update(await component.demo(session, shared))
        return summary
    finally:
        if own:
            await db.dispose()


def wall_targets() -> list[Callable[..., Awaitable[dict[str, Any]]]]:
    """The components' makers of the tenant-wall walk's objects, in component order."""
    return [c.wall_target for c in components() if c.wall_target is not None]


def preflight(settings: Settings) -> None:
    """Every component's start-up checks of its services' settings (``SettingsError`` on the first wrong one)."""
    for c in components():
        if c.preflight is not None:
            c.preflight()(settings)


def export_files() -> list[ExportFiles]:
    """Every component's files of a tenant's reversibility export (documents, attachments, open formats)."""
    return [c.export_files() for c in components() if c.export_files is not None]


def import_files() -> list[ImportFiles]:
    """Every component's restoring of its files from a tenant's reversibility archive (attachments)."""
    return [c.import_files() for c in components() if c.import_files is not None]


def stored_files() -> list[StoredFiles]:
    """Every component's folders of a tenant's stored files (erased with its data)."""
    return [c.stored_files() for c in components() if c.stored_files is not None]


def audit_reader() -> AuditReader:
    """The audit log in words: every component's labels over the complete metadata."""
    from app.audit import AuditReader

    return AuditReader([c.labels for c in components() if c.labels is not None], metadata())
