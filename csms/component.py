"""The manifest of ``csms``: OCPP ingress and charging-station supervision.

Models, web pages and API (registry, supervision, load management, badges and
reservations, remote commands), the permissions it grants, its command line
(``centrale stations``, ``centrale ingress``), the ingress as a service of the embedded
process, its demo fleet and the objects of the tenant-wall walk.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncSession

from app.bus import Bus
from app.component import Component, Web
from app.settings import Settings
from csms.labels import labels

#: The titulaire's technicians run remote commands on the stations (DESIGN.md « Operator »)
#: and set up the users' badges: « Le Titulaire devra effectuer le paramétrage des données
#: nécessaires pour chaque Utilisateur » (CCTP CPAM 5-5-5-3). ``operate_stations``: remote
#: commands (csms.domain.commands); ``manage_badges``: badges, local lists, reservations.
#: ``register_stations``: register a charger and import a fleet: the technician who installs the
#: stations registers them (CCTP CPAM 5-5-2: « Le Titulaire paramètre préalablement à la mise
#: en exploitation toutes les informations »). ``open_data``: the stations' open data (issue 16 §3), the
#: tenant admin's alone.
PERMISSIONS = {
    "admin": frozenset({"operate_stations", "manage_badges", "register_stations", "open_data"}),
    "operator": frozenset({"operate_stations", "manage_badges", "register_stations"}),
}


def _web() -> Web:
    from app.shell import BeneficiaryColumnsHook, HomeCardHook, MenuHook, WorkQueueHook
    from csms.web import (
        api,
        badges,
        commands,
        device_model,
        exports,
        fleet_operations,
        home,
        opendata,
        registry,
        smart_charging,
        supervision,
    )

    return Web(
        portal=[*registry.handlers, *smart_charging.portal_handlers, *supervision.handlers,
                *badges.portal_handlers, *commands.portal_handlers, *exports.handlers, *home.handlers,
                *opendata.handlers, *device_model.handlers,
                *fleet_operations.portal_handlers],
        api=[*api.handlers, *smart_charging.api_handlers, *badges.api_handlers, *commands.api_handlers],
        # Bornes, Recharges, Alertes, Statistiques; then Pilotage énergétique; then Badges, Réservations.
        menu=[MenuHook(100, supervision.nav, group="Supervision"), MenuHook(110, smart_charging.nav, group="Supervision"),
              MenuHook(120, badges.nav, group="Badges et réservations"),
              MenuHook(940, opendata.nav, group="Administration")],
        # Points de charge by state, alerts, today's sessions, badges to load; the coordinator's
        # columns and chart; the operator's alerts, failed commands and badges (csms/web/home.py).
        home_cards=[HomeCardHook(100, home.home_cards)],
        beneficiary_columns=[BeneficiaryColumnsHook(100, home.BENEFICIARY_COLUMNS, home.beneficiary_values)],
        work_queue=[WorkQueueHook(100, home.work_items)],
        page_hooks={"agent_home": [supervision.agent_context]},
    )


def _cli() -> list[click.Command]:
    from csms.cli import ingress, stations

    return [stations, ingress]


def _subscribers() -> list[Any]:
    from csms.domain.subscribers import SUBSCRIBERS
    from csms.opendata import SUBSCRIBERS as OPEN_DATA

    return [*SUBSCRIBERS, *OPEN_DATA]


def _schedules() -> list[Any]:
    from csms.tasks import SCHEDULES

    return list(SCHEDULES)


def _services() -> list[Callable[[Settings, Bus], Awaitable[None]]]:
    from csms.ingress.server import run_ingress

    async def ingress(settings: Settings, bus: Bus) -> None:
        await run_ingress(settings, bus=bus)

    return [ingress]


def _preflight() -> Callable[[Settings], None]:
    from csms.domain.certificates import check_authority

    return check_authority


async def _demo(session: AsyncSession, demo: dict[str, Any]) -> dict[str, Any]:
    from csms.demo import load

    return await load(session, demo)


def _banner(settings: Settings) -> list[str]:
    from csms.demo import banner

    return banner(settings)


async def _wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    from csms.walls import wall_target

    return await wall_target(session, tenant_id, objects)


def _export_files() -> Any:
    from csms.irve import export_files

    return export_files


manifest = Component(
    name="csms",
    models=("csms.domain.models", "csms.domain.device_model", "csms.opendata"),
    web=_web,
    permissions=PERMISSIONS,
    cli=_cli,
    tasks=("csms.tasks",),
    subscribers=_subscribers,
    schedules=_schedules,
    services=_services,
    preflight=_preflight,
    demo=_demo,
    banner=_banner,
    wall_target=_wall_target,
    templates=Path(__file__).parent / "templates",
    labels=labels,
    export_files=_export_files,
)
