"""The manifest of ``incidents``: tickets, their SLA clocks and interventions (models, the durable
subscribers that open tickets from the supervision's alerts, the Journal's labels, the tenant-wall
objects) and the business-time and SLA engine's command line (``centrale sla``)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncSession

from app.component import Component, Web
from incidents.labels import labels


def _cli() -> list[click.Command]:
    from incidents.cli import sla

    return [sla]


def _web() -> Web:
    from app.shell import MenuHook
    from incidents.web import indicators

    return Web(
        portal=[*indicators.portal_handlers],
        api=[*indicators.api_handlers],
        menu=[MenuHook(210, indicators.nav, group="Incidents et maintenance")],
    )


async def _demo(session: AsyncSession, demo: dict[str, Any]) -> dict[str, Any]:
    from incidents.demo import load

    return await load(session, demo)


def _subscribers() -> list[Any]:
    from incidents.subscribers import SUBSCRIBERS

    return list(SUBSCRIBERS)


async def _wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    from incidents.walls import wall_target

    return await wall_target(session, tenant_id, objects)


manifest = Component(
    name="incidents",
    models=("incidents.models",),
    web=_web,
    templates=Path(__file__).parent / "templates",
    cli=_cli,
    subscribers=_subscribers,
    wall_target=_wall_target,
    demo=_demo,
    labels=labels,
)
