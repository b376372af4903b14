"""Load management on the web: the « Pilotage énergétique » page and the power-budget API.

CCTP CPAM 5-5-4 asks for « pilotage, paramétrage et optimisation énergétique »;
article 4 for a « gestion dynamique de l'appel de courant afin de s'adapter en
temps réel à la puissance résiduelle disponible sur le site ».

* ``/t/{tenant}/pilotage``: per site, its budget (edited by the beneficiary's
  administrator), the active transactions with the power each is given and the
  station's answer to the last profile. The table refreshes itself (HTMX polling).
* ``/api/v1/tenants/{tenant}/sites/{site}/power-budget``: GET, PUT, DELETE.

A budget change is committed with its durable event (``csms.domain.events.SiteBudgetChanged``);
the outbox relay pushes the profiles after the commit (``csms.domain.subscribers``), so a slow
or offline station never holds the page or the API call, and a crash of this process
right after the commit loses no recomputation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, post, put
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, ValidationException
from litestar.params import Body
from litestar.response import Redirect
from litestar.status_codes import HTTP_204_NO_CONTENT
from msgspec import Meta, Struct
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import NonNegative32
from app.errors import ValidationFailed
from app.shell import (
    api_client_error,
    api_validation_error,
    error_responses,
    flash,
    render,
    see_other,
    tenant_page,
)
from csms.domain import smart_charging
from csms.domain.smart_charging import SessionLoad, SiteLoad
from tenants.context import TenantContext

__all__ = ["api_handlers", "nav", "portal_handlers"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
NAV_KEY = "pilotage"
TAG = "Pilotage énergétique"
PHASE_OPTIONS = [("3", "Triphasé"), ("1", "Monophasé")]


def nav(ctx: Any) -> list[tuple[str, str, str]]:
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        return [(NAV_KEY, f"/t/{ctx.tenant_id}/pilotage", "Pilotage énergétique")]
    return []


# --------------------------------------------------------------------------- portal


def _budget_values(load: SiteLoad) -> dict[str, str]:
    budget = load.budget
    if budget is None:
        return {"budget_kw": "", "min_current_a": "6", "phases": "3"}
    return {"budget_kw": f"{budget.budget_kw:g}".replace(".", ","),
            "min_current_a": f"{budget.min_current_a:g}".replace(".", ","), "phases": str(budget.phases)}


async def _page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *,
                errors: dict[uuid.UUID, dict[str, str]] | None = None,
                values: dict[uuid.UUID, dict[str, str]] | None = None, status: int = 200) -> Any:
    loads = await smart_charging.sites_load(session, ctx.tenant_id)
    form_values = {load.site.id: (values or {}).get(load.site.id) or _budget_values(load) for load in loads}
    return render(
        request, "csms/pilotage.html",
        tenant_page(ctx, NAV_KEY, loads=loads, errors=errors or {}, values=form_values, phase_options=PHASE_OPTIONS),
        status=status, block="loads",
    )


@get("/t/{tenant_id:uuid}/pilotage")
async def pilotage(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("read")
    return await _page(request, tenant_ctx, db_session)


@post("/t/{tenant_id:uuid}/pilotage/{site_id:uuid}")
async def pilotage_save(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                        site_id: uuid.UUID, data: Form) -> Any:
    tenant_ctx.require("manage_sites")
    values = {k: str(data.get(k) or "").strip() for k in ("budget_kw", "min_current_a", "phases")}
    try:
        budget = await smart_charging.set_power_budget(db_session, tenant_ctx.tenant_id, site_id, values)
    except ValidationFailed as exc:  # nothing was written
        return await _page(request, tenant_ctx, db_session, errors={site_id: exc.errors}, values={site_id: values},
                           status=422)
    await db_session.commit()  # before the profiles go out: the recomputation reads the committed budget
    kw = f"{budget.budget_kw:g}".replace(".", ",")
    flash(request, f"Puissance disponible enregistrée : {kw} kW. Les bornes reçoivent leurs nouvelles limites.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/pilotage#site-{site_id}")


@post("/t/{tenant_id:uuid}/pilotage/{site_id:uuid}/supprimer")
async def pilotage_remove(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                          site_id: uuid.UUID) -> Redirect:
    tenant_ctx.require("manage_sites")
    removed = await smart_charging.remove_power_budget(db_session, tenant_ctx.tenant_id, site_id)
    await db_session.commit()
    response = see_other(f"/t/{tenant_ctx.tenant_id}/pilotage#site-{site_id}")
    if removed:
        flash(request, "Puissance disponible supprimée : les limites des recharges en cours sont levées.")
    return response


# --------------------------------------------------------------------------- API


class PowerBudgetIn(Struct, forbid_unknown_fields=True, kw_only=True):
    """Checked by the service (French messages per field); absent optional fields take their default."""

    budget_kw: Annotated[float | None, Meta(description="Puissance disponible pour la recharge sur le site, en kW (> 0, une décimale)")] = None
    min_current_a: Annotated[float | None, Meta(description="Courant minimal par recharge, en A par phase (6 à 63 ; 6 par défaut)")] = None
    phases: Annotated[NonNegative32 | None, Meta(description="Raccordement du site : 3 (triphasé, par défaut) ou 1 (monophasé)")] = None


class ChargingProfileOut(Struct, kw_only=True):
    """The last charging profile sent to the transaction and the station's answer."""

    limit_kw: float
    limit_a: float
    phases: int
    sent_at: dt.datetime
    #: Accepted, Rejected, NotSupported (station's answer); offline, timeout, error (no answer); cleared.
    outcome: str
    applied: bool
    detail: str


class AllocationOut(Struct, kw_only=True):
    transaction_id: uuid.UUID
    ocpp_transaction_id: str
    charge_box_id: str
    connector_id: int | None
    started_at: dt.datetime | None
    rated_kw: float | None
    phases: int
    #: Power the transaction is given now (None: the site has no budget); 0 = paused.
    allocated_kw: float | None
    limit_a: float | None
    last_profile: ChargingProfileOut | None


class PowerBudgetOut(Struct, kw_only=True):
    site_id: uuid.UUID
    site_name: str
    #: None: the site has no budget (its stations charge at their rated power).
    budget_kw: float | None
    min_current_a: float | None
    phases: int | None
    updated_at: dt.datetime | None
    allocated_kw: float
    transactions: list[AllocationOut]


def _profile_out(s: SessionLoad) -> ChargingProfileOut | None:
    last = s.last
    if last is None:
        return None
    return ChargingProfileOut(limit_kw=round(last.limit_w / 1000, 2), limit_a=last.limit_a, phases=last.phases,
                      sent_at=last.sent_at, outcome=last.outcome, applied=last.outcome == smart_charging.APPLIED,
                      detail=last.detail)


def _budget_out(load: SiteLoad) -> PowerBudgetOut:
    budget = load.budget
    return PowerBudgetOut(
        site_id=load.site.id, site_name=load.site.name,
        budget_kw=budget.budget_kw if budget else None, min_current_a=budget.min_current_a if budget else None,
        phases=budget.phases if budget else None, updated_at=budget.updated_at if budget else None,
        allocated_kw=load.allocated_kw,
        transactions=[
            AllocationOut(
                transaction_id=s.transaction.id, ocpp_transaction_id=s.transaction.ocpp_transaction_id,
                charge_box_id=s.charge_box_id, connector_id=s.transaction.connector_id,
                started_at=s.transaction.started_at, rated_kw=s.power_kw, phases=s.phases,
                allocated_kw=s.allocated_kw, limit_a=s.limit_a, last_profile=_profile_out(s),
            )
            for s in load.sessions
        ],
    )


BUDGET = "/tenants/{tenant_id:uuid}/sites/{site_id:uuid}/power-budget"


@get(BUDGET, tags=[TAG], responses=error_responses(403, 404), summary="Puissance disponible d'un site et sa répartition",
     description="Budget du site (null : site non piloté), recharges en cours, puissance attribuée à chacune et "
                 "réponse de la borne au dernier profil de charge envoyé (CCTP CPAM article 4).")
async def read_power_budget(tenant_ctx: TenantContext, db_session: AsyncSession, site_id: uuid.UUID) -> PowerBudgetOut:
    tenant_ctx.require("read")
    return _budget_out(await smart_charging.site_load(db_session, tenant_ctx.tenant_id, site_id))


@put(BUDGET, tags=[TAG], responses=error_responses(403, 404, 422), summary="Fixer la puissance disponible d'un site",
     description="Administrateur du bénéficiaire. La puissance est répartie entre les recharges en cours et "
                 "envoyée aux bornes (SetChargingProfile) après la réponse ; la répartition renvoyée est celle "
                 "qui leur est envoyée.")
async def put_power_budget(tenant_ctx: TenantContext, db_session: AsyncSession, site_id: uuid.UUID,
                           data: PowerBudgetIn) -> Response[PowerBudgetOut]:
    tenant_ctx.require("manage_sites")
    values = {k: v for k, v in (("budget_kw", data.budget_kw), ("min_current_a", data.min_current_a),
                                ("phases", data.phases)) if v is not None}
    await smart_charging.set_power_budget(db_session, tenant_ctx.tenant_id, site_id, values)
    load = await smart_charging.site_load(db_session, tenant_ctx.tenant_id, site_id)
    await db_session.commit()  # with its event: the relay pushes the limits
    return Response(_budget_out(load))


@delete(BUDGET, tags=[TAG], responses=error_responses(403, 404), summary="Supprimer la puissance disponible d'un site",
        description="Le site n'est plus piloté : les limites des recharges en cours sont levées (ClearChargingProfile).",
        status_code=HTTP_204_NO_CONTENT)
async def delete_power_budget(tenant_ctx: TenantContext, db_session: AsyncSession,
                              site_id: uuid.UUID) -> Response[None]:
    tenant_ctx.require("manage_sites")
    await smart_charging.remove_power_budget(db_session, tenant_ctx.tenant_id, site_id)
    await db_session.commit()  # with its event, if it had a budget: the relay lifts the limits
    return Response(None, status_code=HTTP_204_NO_CONTENT)


portal_handlers: list[Any] = [pilotage, pilotage_save, pilotage_remove]
api_handlers: list[Any] = [
    Router(path="/", route_handlers=[read_power_budget, put_power_budget, delete_power_budget],
           exception_handlers={ValidationException: api_validation_error, ClientException: api_client_error}),
]
