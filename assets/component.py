"""The manifest of ``assets``: the maintained park other than charging stations (models, the « Parc »
page and API, its permission, the yearly announcement of the equipment whose maintainability ends
within 12 months, the tenant-wall objects)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.component import Component, Web
from app.schedule import Schedule

#: ``manage_assets``: add and import equipment — the beneficiary's admin and the titulaire's operator
#: (who inventories the park, CAIH 2.1.29).
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"manage_assets"}),
    "operator": frozenset({"manage_assets"}),
}


def _web() -> Web:
    from app.shell import MenuHook
    from assets import web

    return Web(portal=list(web.portal_handlers), api=list(web.api_handlers),
               menu=[MenuHook(220, web.nav, group="Incidents et maintenance")])


def _schedules() -> list[Schedule]:
    from assets.tasks import SCHEDULES

    return list(SCHEDULES)


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
    wall_target=_wall_target,
)
