"""The manifest of ``incidents``: tickets, their SLA clocks and interventions, preventive maintenance (models,
the durable subscribers that open tickets from the supervision's alerts and send its e-mails, the scheduled
jobs of the deadline notices, the deemed acceptance and the monthly preventive reports, the Journal's labels,
the tenant-wall objects), its portal pages and API (``incidents/web/``, ``incidents/api.py``), the permissions it grants, its demo,
the business-time and SLA engine's command line (``centrale sla``, ``centrale sla policy``) and the
preventive maintenance's (``centrale maintenance monthly``)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncSession

from app.component import Component, Web
from app.schedule import Schedule
from incidents.labels import labels

#: What each role may do with incidents (added to the roles' permissions by the manifest).
#: ``report_incidents``: open a ticket, reopen it, add a note — the beneficiary's admin (CCTP CPAM
#: 5-5-6-2 « toute demande … donne lieu à la création d'un ticket ») and the titulaire's operator who
#: records a call or an e-mail (CCTP CANUT 6.6). ``handle_tickets``: the workflow and the
#: interventions — the operator. ``accept_resolution``: closing on the beneficiary's consent — its
#: admin (CCTP CAIH 2.1.5). ``manage_sla_policy``: the admin or its central's coordinator (issue 13 §1).
#: ``set_infogerance_units``: the 30-minute units ordered (CCTP CAIH 2.1.7) — the coordinator, until the
#: orders of the ordering component carry them.
#: ``record_maintenance``: establish the monthly remote checks on demand and record the yearly visits — the
#: titulaire's operator and its technicians (CCTP CPAM 5-4-2, 5-4-8 « Le Titulaire devra renseigner »).
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"report_incidents", "accept_resolution", "manage_sla_policy"}),
    "coordinator": frozenset({"manage_sla_policy", "set_infogerance_units"}),
    "operator": frozenset({"report_incidents", "handle_tickets", "record_maintenance"}),
}


def _cli() -> list[click.Command]:
    from incidents.cli import maintenance, sla

    return [sla, maintenance]


def _schedules() -> list[Schedule]:
    from incidents.tasks import SCHEDULES

    return list(SCHEDULES)


def _web() -> Web:
    from app.shell import HomeCardHook, MenuHook, WorkQueueHook
    from incidents.api import API_HANDLERS
    from incidents.web import home, indicators, maintenance, policy, tickets

    return Web(
        portal=[*tickets.portal_handlers, *indicators.portal_handlers, *policy.portal_handlers,
                *maintenance.portal_handlers],
        api=[*API_HANDLERS, *indicators.api_handlers],
        menu=[MenuHook(205, tickets.nav, group="Incidents et maintenance"),
              MenuHook(210, indicators.nav, group="Incidents et maintenance"),
              MenuHook(215, policy.nav, group="Incidents et maintenance"),
              MenuHook(218, maintenance.nav, group="Incidents et maintenance")],
        home_cards=[HomeCardHook(150, home.home_cards)],
        work_queue=[WorkQueueHook(150, home.work_items)],
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


def _export_files() -> Any:
    from incidents.reversibility import export_files

    return export_files


def _import_files() -> Any:
    from incidents.reversibility import import_files

    return import_files


def _stored_files() -> Any:
    from incidents.reversibility import stored_files

    return stored_files


manifest = Component(
    name="incidents",
    models=("incidents.models",),
    tasks=("incidents.tasks",),
    web=_web,
    templates=Path(__file__).parent / "templates",
    permissions=PERMISSIONS,
    cli=_cli,
    schedules=_schedules,
    subscribers=_subscribers,
    wall_target=_wall_target,
    demo=_demo,
    labels=labels,
    export_files=_export_files,
    import_files=_import_files,
    stored_files=_stored_files,
)
