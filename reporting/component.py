"""The manifest of ``reporting``: the coordinator's semester reports (issue 15 §1; CCTP CAIH 5, CANUT 7)
and the beneficiary's charging usage report (§2; CCTP CPAM 5-5-4, article 7), its yearly maintenance report
(CPAM 5-4-8) and the committee report (CCP TGD IV.6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.component import Component, Web


def _web() -> Web:
    from app.shell import HomeCardHook, MenuHook
    from reporting import api, dashboard_web, maintenance_api, maintenance_web, usage_api, usage_web, web

    return Web(portal=[*web.portal_handlers, *usage_web.usage_portal_handlers, *dashboard_web.dashboard_portal_handlers,
                       *maintenance_web.maintenance_portal_handlers],
               api=[*api.api_handlers, *usage_api.usage_api_handlers, *dashboard_web.dashboard_api_handlers,
                    *maintenance_api.maintenance_api_handlers],
               menu=[MenuHook(695, dashboard_web.dashboard_nav, group="Rapports"), MenuHook(700, web.nav, group="Rapports"),
                     MenuHook(115, usage_web.nav, group="Supervision")],
               home_cards=[HomeCardHook(700, web.home_cards), HomeCardHook(705, usage_web.usage_home_cards)])


async def _wall_target(session: AsyncSession, tenant_id: Any, objects: dict[str, Any]) -> dict[str, Any]:
    from reporting.walls import wall_target

    return await wall_target(session, tenant_id, objects)


def _subscribers() -> list[Any]:
    from reporting.dashboard import SUBSCRIBERS

    return list(SUBSCRIBERS)


def _schedules() -> list[Any]:
    from reporting.tasks import SCHEDULES

    return list(SCHEDULES)


def _labels() -> Any:
    from reporting.labels import labels

    return labels


def _export_files() -> Any:
    from reporting.reversibility import export_files

    return export_files


manifest = Component(
    name="reporting",
    models=("reporting.models", "reporting.maintenance_models"),
    tasks=("reporting.tasks",),
    subscribers=_subscribers,
    schedules=_schedules,
    web=_web,
    templates=Path(__file__).parent / "templates",
    wall_target=_wall_target,
    labels=_labels(),
    export_files=_export_files,
)
