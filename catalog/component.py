"""The manifest of ``catalog``: ordering under the framework agreements (issue 14) — price schedules (BPU) and
the catalog, quotes, purchase orders, and the agents' badge requests approved by their manager (CCTP CPAM 5-5-5-3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.component import Component, Web
from catalog.labels import labels

#: What each role may do with ordering (added to the roles' permissions by the manifest).
PERMISSIONS: dict[str, frozenset[str]] = {}
#: Purchase orders (issue 14 §3): ``order`` — create, issue, verify, close and cancel the tenant's orders (its
#: admin); ``execute_orders`` — start and deliver them (the titulaire's operator).
#: Badge requests (§4, CCTP CPAM 5-5-5-3): ``request_badges`` — an agent asks for a badge, withdraws its request,
#: confirms the receipt; ``approve_badges`` — the written decision (the manager, « responsable », or the admin);
#: ``ship_badges`` — the titulaire's operator sends the badge with its idTag.
#: Delivery slips (§3, CCP TGD VII): the titulaire's operator records them (``execute_orders``), the buyer decides
#: on each line (``order``).
#: Quotes (§2): the buyer asks, accepts, refuses, withdraws (``order``); ``answer_quotes`` — the titulaire's
#: operator records the site visit, prices the quote, records the start of the works and the commissioning.
#: Recurring maintenance (§3, CCTP CAIH 2.1.32): the buyer creates the contract, declares its park and its changes
#: (``order``); the renewal orders are the scheduled job's.
for _role, _granted in {"admin": {"order", "approve_badges", "request_badges"},
                        "manager": {"approve_badges"}, "agent": {"request_badges"},
                        "operator": {"execute_orders", "ship_badges", "answer_quotes"}}.items():
    PERMISSIONS[_role] = PERMISSIONS.get(_role, frozenset()) | frozenset(_granted)


def _web() -> Web:
    from app.shell import HomeCardHook, MenuHook, WorkQueueHook
    from catalog import (
        amendments_web,
        api,
        badge_requests_home,
        badge_requests_web,
        deliveries_home,
        deliveries_web,
        maintenance_home,
        maintenance_web,
        orders_home,
        orders_web,
        quotes_home,
        quotes_web,
        solutions_web,
        web,
    )

    return Web(portal=[*web.portal_handlers, *solutions_web.solution_handlers, *orders_web.order_handlers,
                       *amendments_web.amendment_handlers,
                       *badge_requests_web.badge_request_handlers, *quotes_web.quote_handlers,
                       *deliveries_web.delivery_handlers, *maintenance_web.maintenance_handlers],
               api=list(api.api_handlers),
               menu=[MenuHook(300, web.nav, group="Commandes"), MenuHook(305, quotes_web.nav, group="Commandes"),
                     MenuHook(310, badge_requests_web.nav, group="Commandes")],
               home_cards=[HomeCardHook(300, orders_home.home_cards), HomeCardHook(305, quotes_home.home_cards),
                           HomeCardHook(310, badge_requests_home.home_cards),
                           HomeCardHook(315, deliveries_home.home_cards),
                           HomeCardHook(306, maintenance_home.home_cards)],
               work_queue=[WorkQueueHook(300, orders_home.work_items), WorkQueueHook(305, quotes_home.work_items),
                           WorkQueueHook(310, badge_requests_home.work_items),
                           WorkQueueHook(315, deliveries_home.work_items)])


async def _demo(session: AsyncSession, shared: dict[str, Any]) -> dict[str, Any]:
    from catalog.demo import load

    return await load(session, shared)


def _cli() -> list[Any]:
    from catalog.cli import commands

    return commands()


async def _wall_target(session: AsyncSession, tenant_id: Any, objects: dict[str, Any]) -> dict[str, Any]:
    from catalog.walls import wall_target

    return await wall_target(session, tenant_id, objects)


def _subscribers() -> list[Any]:
    from catalog import amendments, badge_requests, badges, deliveries, maintenance, orders, quotes

    return [*orders.SUBSCRIBERS, *badge_requests.SUBSCRIBERS, *quotes.SUBSCRIBERS, *amendments.SUBSCRIBERS,
            *deliveries.SUBSCRIBERS, *maintenance.SUBSCRIBERS, *badges.SUBSCRIBERS]


def _schedules() -> list[Any]:
    from catalog.tasks import SCHEDULES

    return list(SCHEDULES)


def _export_files() -> Any:
    from catalog.reversibility import export_files

    return export_files


manifest = Component(
    name="catalog",
    models=("catalog.models",),
    tasks=("catalog.tasks",),
    schedules=_schedules,
    web=_web,
    templates=Path(__file__).parent / "templates",
    permissions=PERMISSIONS,
    demo=_demo,
    cli=_cli,
    wall_target=_wall_target,
    labels=labels,
    subscribers=_subscribers,
    export_files=_export_files,
)
