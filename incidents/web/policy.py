"""« Politique de service »: the tenant's SLA policy as people read it, and its settings (issue 13 §1).

* ``/t/{tenant}/incidents/politique``: the levels and their delays in words (CCTP CPAM 5-4-4 / 5-4-5, CCTP
  CANUT 6.6, CCTP CAIH 2.1.21 / 2.1.22), every version (a ticket keeps the one it was opened under), the delay
  of deemed acceptance and the 30-minute units (CAIH 2.1.7): ordered on the purchase orders (``catalog``), consumed
  by the interventions.
* ``POST …/politique/modele``: a new version from a template (the admin or the coordinator,
  ``manage_sla_policy``); ``POST …/politique/reglages``: the delay of deemed acceptance (the same) and the
  units ordered typed by the coordinator (``set_infogerance_units``) only while no order carries them (the fallback
  of the tenants that had typed them before orders existed).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Forbidden
from app.shell import flash, form_fields, render, see_other, tenant_page
from incidents import actions
from incidents import tickets as svc
from incidents.sla import TEMPLATES, policy_template
from tenants.context import TenantContext

__all__ = ["nav", "portal_handlers"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _template_options() -> list[tuple[str, str]]:
    return [(code, f"{policy_template(code).label} ({code})") for code in TEMPLATES]


async def _page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *,
                errors: dict[str, str] | None = None, values: dict[str, str] | None = None, status: int = 200) -> Any:
    current = await svc.current_policy(session, ctx.tenant_id)
    settings = await svc.incident_settings(session, ctx.tenant_id)
    infogerance = await svc.infogerance_balance(session, ctx.tenant_id)
    ordered, consumed = infogerance.ordered, infogerance.consumed
    return render(request, "incidents/policy.html", tenant_page(
        ctx, "policy", version=current, policy=actions.stored_policy(current.policy),
        versions=await svc.policy_versions(session, ctx.tenant_id), settings=settings, ordered=ordered,
        infogerance=infogerance,
        consumed=consumed, templates=_template_options(), errors=errors or {}, values=values or {},
        max_hours=svc.MAX_ACCEPTANCE_HOURS, max_units=svc.MAX_INFOGERANCE_UNITS), status=status)


@get("/t/{tenant_id:uuid}/incidents/politique")
async def policy_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("read")
    return await _page(request, tenant_ctx, db_session)


@post("/t/{tenant_id:uuid}/incidents/politique/modele")
async def policy_template_set(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                              data: Form) -> Any:
    """A new version from a template; the tickets already open keep theirs."""
    tenant_ctx.require("manage_sla_policy")
    code = form_fields(data).get("template", "")[:40]
    if code not in TEMPLATES:
        return await _page(request, tenant_ctx, db_session, errors={"template": f"Modèle inconnu « {code} »."},
                           status=422)
    row = await svc.set_policy_from_template(db_session, tenant_ctx.tenant_id, code)
    flash(request, f"Politique de service : version {row.version} d'après le modèle « {code} ».")
    return see_other(f"/t/{tenant_ctx.tenant_id}/incidents/politique")


def _integer(values: dict[str, str], name: str, errors: dict[str, str]) -> int | None:
    text = values.get(name, "").replace("\u202f", "").replace(" ", "")
    if not text:
        return None
    if not text.isdigit() or len(text) > 7:
        errors[name] = "Un nombre entier positif est attendu."
        return None
    return int(text)


@post("/t/{tenant_id:uuid}/incidents/politique/reglages")
async def policy_settings(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                          data: Form) -> Any:
    values = form_fields(data)
    errors: dict[str, str] = {}
    hours = _integer(values, "acceptance_delay_hours", errors)
    units = _integer(values, "infogerance_units_ordered", errors)
    if hours is not None and not tenant_ctx.can("manage_sla_policy"):
        raise Forbidden("Seuls l'administrateur et le coordinateur fixent le délai d'acceptation réputée.")
    if units is not None and not tenant_ctx.can("set_infogerance_units"):
        raise Forbidden("Seul le coordinateur de la centrale fixe les tickets d'infogérance commandés.")
    if units is not None and (await svc.infogerance_balance(db_session, tenant_ctx.tenant_id)).from_orders:
        errors["infogerance_units_ordered"] = ("Les tickets commandés viennent désormais des bons de commande "
                                               "(CCTP CAIH 2.1.7) : commandez-les, ils ne se saisissent plus.")
    if hours is None and units is None and not errors:
        errors["acceptance_delay_hours"] = "Rien à enregistrer."
    if not errors:
        try:
            await svc.update_settings(db_session, tenant_ctx.tenant_id, acceptance_delay_hours=hours,
                                      infogerance_units_ordered=units)
        except svc.TicketError as exc:
            errors["infogerance_units_ordered" if "tickets" in str(exc) else "acceptance_delay_hours"] = (
                str(exc).capitalize() + ".")
    if errors:
        return await _page(request, tenant_ctx, db_session, errors=errors, values=values, status=422)
    flash(request, "Réglages des incidents enregistrés.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/incidents/politique")


def nav(ctx: Any) -> list[tuple[str, ...]]:
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        return [("policy", f"/t/{ctx.tenant_id}/incidents/politique", "Politique de service")]
    return []


portal_handlers: list[Any] = [policy_page, policy_template_set, policy_settings]
