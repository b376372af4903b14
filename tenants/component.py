"""The manifest of ``tenants``: centrals, agreements, beneficiaries, sites, accounts, OIDC.

It registers like every other component (``app/component.py``); it alone provides
the identity loader of the auth middleware and the tenant and central contexts
(``tenant_ctx``, ``central_ctx``) every tenant page and API handler depends on.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncSession

from app.component import Component, IdentityLoader, Web
from app.settings import Settings
from tenants.context import TENANT_PERMISSIONS
from tenants.labels import labels


def _web() -> Web:
    from app.shell import MenuHook
    from tenants.api import api_handlers
    from tenants.context import dependencies
    from tenants.controllers import admin_menu, portal_handlers, tenant_menu
    from tenants.reversibility.web import portal_handlers as reversibility_handlers
    from tenants.reversibility.web import reversibility_menu

    # Accueil first; the components' groups (csms: Supervision, Badges et réservations) between
    # 100 and 899; Administration at 900; « Mon compte » last.
    return Web(portal=[*portal_handlers, *reversibility_handlers], api=api_handlers, dependencies=dependencies,
               menu=[MenuHook(0, tenant_menu), MenuHook(900, admin_menu, group="Administration"),
                     MenuHook(950, reversibility_menu, group="Administration")])


def _cli() -> list[click.Command]:
    from tenants.cli import commands

    return commands()


def _identity() -> IdentityLoader:
    from tenants.auth import AccountIdentityLoader

    return AccountIdentityLoader()


async def _wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    from tenants.walls import wall_target

    return await wall_target(session, tenant_id, objects)


async def _demo(session: AsyncSession, demo: dict[str, Any]) -> dict[str, Any]:
    from tenants.demo import load

    return await load(session, demo)


def _schedules() -> list[Any]:
    from tenants.reversibility.tasks import SCHEDULES

    return SCHEDULES


def _stored_files() -> Any:
    from tenants.reversibility.destruction import stored_files

    return stored_files


def _banner(settings: Settings) -> list[str]:
    from tenants.demo import banner

    return banner(settings)


manifest = Component(
    name="tenants",
    models=("tenants.models", "tenants.reversibility.models"),
    tasks=("tenants.reversibility.tasks",),
    schedules=_schedules,
    web=_web,
    permissions=TENANT_PERMISSIONS,
    cli=_cli,
    demo=_demo,
    banner=_banner,
    wall_target=_wall_target,
    identity=_identity,
    templates=Path(__file__).parent / "templates",
    labels=labels,
    stored_files=_stored_files,
)
