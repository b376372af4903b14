"""The manifest of ``billing`` (issue 15 §3): invoices and credit notes of verified purchase orders as Factur-X, the
buyer's billing profile (CCP TGD IX.6, Chorus Pro) and the titulaire's identity as their issuer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.component import Component, Web
from billing.labels import labels

#: ``invoice``: draft, issue, credit and mark paid the tenant's invoices (the titulaire's operator: the titulaire
#: issues its invoices); ``manage_issuer``: the titulaire's identity per agreement (the operator, the central's
#: coordinator). The buyer's billing profile is ``tenants``' ``manage_profile`` (its admin, the coordinator).
#: ``penalize``: propose, notify, decide on and cancel the tenant's penalties (CCP TGD VIII: the buyer's admin);
#: ``observe_penalty``: the titulaire's observations and VIII.5 exemption (its operator).
#: ``manage_charging``: make charging paid or free and set its tariffs (CCTP CPAM 5-5-5-2 « sur décision
#: de la CPAM »: the buyer's admin); ``repay_charging``: record the sums paid back to the buyer (the
#: titulaire's operator). An ADVENIR subsidy (5-7) is recorded with ``invoice``.
#: ``state_progress``: hand in a « constat d'avancement » (CCP TGD IX.5: the titulaire's operator);
#: ``validate_progress``: validate or refuse it (the buyer's admin, « l'administration »).
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"manage_charging", "penalize", "validate_progress"}),
    "operator": frozenset({"repay_charging", "invoice", "manage_issuer", "observe_penalty", "state_progress"}),
    "coordinator": frozenset({"manage_issuer"}),
}


def _charging() -> Any:
    """Paid charging and ADVENIR (CCTP CPAM 5-5-5-2, 5-5-6-1, 5-7): pages, API, menu, subscriber, wall objects."""
    from billing import charging_parts

    return charging_parts


def _web() -> Web:
    from app.shell import HomeCardHook, MenuHook
    from billing import (
        acomptes_api,
        acomptes_web,
        api,
        home,
        penalties_api,
        penalties_web,
        periodic_api,
        periodic_web,
        revision_web,
        web,
    )

    charging = _charging()
    return Web(portal=list(charging.PORTAL)
               + list(penalties_web.portal_handlers) + list(revision_web.portal_handlers)
               + list(web.portal_handlers) + list(periodic_web.portal_handlers) + list(acomptes_web.portal_handlers),
               api=list(charging.API)
               + list(penalties_api.api_handlers) + list(api.api_handlers) + list(periodic_api.api_handlers)
               + list(acomptes_api.api_handlers),
               menu=[MenuHook(125, charging.nav, group="Badges et réservations"),
                     MenuHook(330, web.nav, group="Commandes"), MenuHook(331, periodic_web.nav),
                     MenuHook(333, revision_web.nav)],
               home_cards=[HomeCardHook(330, home.home_cards), HomeCardHook(125, charging.home_cards)],
               # catalog's order page (``catalog.orders_web.ORDER_PAGE``): the order's invoices and « Facturer ».
               page_hooks={"order_page": [web.order_panel, acomptes_web.order_panel]})


async def _wall_target(session: AsyncSession, tenant_id: Any, objects: dict[str, Any]) -> dict[str, Any]:
    from billing.walls import wall_target

    return {**await wall_target(session, tenant_id, objects),
            **await _charging().wall_target(session, tenant_id, objects)}


async def _demo(session: AsyncSession, shared: dict[str, Any]) -> dict[str, Any]:
    from billing.demo import load

    return await load(session, shared)


def _subscribers() -> list[Any]:
    from billing import acomptes, invoices, penalties

    return (list(_charging().SUBSCRIBERS) + list(invoices.SUBSCRIBERS) + list(penalties.SUBSCRIBERS)
            + list(acomptes.SUBSCRIBERS))


def _schedules() -> list[Any]:
    from billing import tasks

    return list(tasks.SCHEDULES)


def _export_files() -> Any:
    from billing.reversibility import export_files

    return export_files


manifest = Component(
    name="billing",
    tasks=("billing.tasks",),
    schedules=_schedules,
    models=("billing.models", "billing.periodic_models", "billing.charging_models", "billing.acompte_models"),
    web=_web,
    templates=Path(__file__).parent / "templates",
    permissions=PERMISSIONS,
    wall_target=_wall_target,
    demo=_demo,
    labels=labels,
    subscribers=_subscribers,
    export_files=_export_files,
)
