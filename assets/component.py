"""The manifest of ``assets``: the maintained park other than charging stations (models, the « Parc »
page and API, its permissions, the yearly announcement of the equipment whose maintainability ends
within 12 months, the TGD alert terminals and the destruction of their files, the Journal's labels, the
demo, the tenant-wall objects)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.component import Component, Web
from app.schedule import Schedule
from assets.labels import labels

#: ``manage_assets``: add and import equipment — the beneficiary's admin and the titulaire's operator
#: (who inventories the park, CAIH 2.1.29). ``tgd_lines``: the TGD alert terminals' lines, references,
#: devices and exchanges (nothing about the people). ``tgd_files``: the beneficiary files of people in
#: danger — the « Téléassistance TGD » profile alone (``tenants.models.Role.TGD``): not the tenant's admin,
#: never the coordinator.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"manage_assets", "tgd_lines"}),
    "operator": frozenset({"manage_assets", "tgd_lines"}),
    "tgd": frozenset({"tgd_lines", "tgd_files"}),
}


def _web() -> Web:
    from app.shell import MenuHook
    from assets import terminals_web, web

    return Web(portal=[*web.portal_handlers, *terminals_web.portal_handlers], api=list(web.api_handlers),
               menu=[MenuHook(220, web.nav, group="Incidents et maintenance"),
                     MenuHook(221, terminals_web.nav, group="Incidents et maintenance")])


def _cli() -> list[Any]:
    from assets.cli import tgd

    return [tgd]


def _schedules() -> list[Schedule]:
    from assets.tasks import SCHEDULES

    return list(SCHEDULES)


async def _demo(session: AsyncSession, demo: dict[str, Any]) -> dict[str, Any]:
    from assets.demo import load

    return await load(session, demo)


async def _wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    from assets.walls import wall_target

    return await wall_target(session, tenant_id, objects)


manifest = Component(
    name="assets",
    models=("assets.models",),
    tasks=("assets.tasks",),
    web=_web,
    templates=Path(__file__).parent / "templates",
    permissions=PERMISSIONS,
    schedules=_schedules,
    cli=_cli,
    demo=_demo,
    labels=labels,
    wall_target=_wall_target,
)
