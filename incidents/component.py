"""The manifest of ``incidents``: tickets, their SLA clocks and interventions (models, the durable
subscribers that open tickets from the supervision's alerts and send its e-mails, the scheduled jobs of
the deadline notices and the deemed acceptance, the Journal's labels, the tenant-wall objects) and the
business-time and SLA engine's command line (``centrale sla``)."""

from __future__ import annotations

import uuid
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncSession

from app.component import Component
from app.schedule import Schedule
from incidents.labels import labels


def _cli() -> list[click.Command]:
    from incidents.cli import sla

    return [sla]


def _schedules() -> list[Schedule]:
    from incidents.tasks import SCHEDULES

    return list(SCHEDULES)


def _subscribers() -> list[Any]:
    from incidents.subscribers import SUBSCRIBERS

    return list(SUBSCRIBERS)


async def _wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    from incidents.walls import wall_target

    return await wall_target(session, tenant_id, objects)


manifest = Component(
    name="incidents",
    models=("incidents.models",),
    tasks=("incidents.tasks",),
    cli=_cli,
    schedules=_schedules,
    subscribers=_subscribers,
    wall_target=_wall_target,
    labels=labels,
)
