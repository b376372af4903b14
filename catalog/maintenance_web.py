"""The CAIH recurring maintenance pages (issue 14 §3, CCTP CAIH 2.1.32), under ``/t/{tenant}/maintenance-recurrente``
(reached from the orders list; no menu entry):

* the beneficiary's contracts, each with its first order, its annual amount, the next anniversary and the last
  day to declare the park for it (red once past);
* ``…/nouveau``: a contract (``order``) started by an existing order of the agreement or by a draft made from the
  park's BPU lines; every problem next to its field, status 422, nothing written;
* ``…/{contract_id}``: the first order and its 30-day execution deadline, the next anniversary and the declaration
  deadline, the park maintained, the declarations, the changes with their percent and outcome (the rule quoted),
  the renewal and complementary orders (links); the buyer's forms to declare the park (``…/parc``) and a change
  (``…/evolution``).

The assets component records no BPU article per equipment, so the park is declared as BPU lines (no « importer le
parc depuis l'inventaire »). The rules, the audit and the orders are ``catalog.maintenance``'s.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.shell import flash, form_fields, render, see_other, tenant_page
from catalog import maintenance as m
from catalog import orders, services
from catalog.order_rules import MAX_LINES, STATUSES
from tenants.context import TenantContext

__all__ = ["maintenance_handlers"]

PATH = "/t/{tenant_id:uuid}/maintenance-recurrente"
BLANK_LINES = 5
CREATE_FIELDS = ("agreement_id", "first_order_id", "delivery_place", "representative", "source")


def _base(ctx: TenantContext) -> str:
    return f"/t/{ctx.tenant_id}/maintenance-recurrente"


def _form_lines(values: dict[str, str], *, direction: bool = False) -> list[dict[str, str]]:
    """The line rows (``code_1``, ``quantite_1``, ``sens_1``…), blank ones dropped."""
    lines = []
    for n in range(1, MAX_LINES + 1):
        line = {k: values.get(f"{k}_{n}", "")[:64] for k in ("code", "quantite", "sens")}
        if line["code"] or line["quantite"]:
            lines.append(line)
    return [{"article_code": x["code"], "quantity": x["quantite"], **({"direction": x["sens"] or "entree"}
                                                                     if direction else {})} for x in lines]


def _rows(lines: list[dict[str, Any]]) -> list[dict[str, str]]:
    blank = {"article_code": "", "quantity": "", "direction": "entree"}
    return ([{**blank, **x} for x in lines] + [blank] * (2 if lines else BLANK_LINES))[:MAX_LINES]


@get(PATH)
async def contracts_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("read")
    now = utcnow()
    found = await m.contracts_of_tenant(db_session, tenant_ctx.tenant_id)
    views = await m.contract_views(db_session, tenant_ctx.tenant_id, found, now)
    rows = [{"c": c, "v": views[c.id]} for c in found]
    return render(request, "catalog/maintenance_contracts.html", tenant_page(
        tenant_ctx, "orders", rows=rows, url=_base(tenant_ctx), statuses=STATUSES,
        can_order=tenant_ctx.can("order")))


# --------------------------------------------------------------------------- a new contract


async def _new_form(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                    values: dict[str, str], lines: list[dict[str, Any]], errors: dict[str, str],
                    status: int = 200) -> Any:
    found, _ = await orders.orders_of_tenant(session, ctx.tenant_id, per_page=200)
    return render(request, "catalog/maintenance_form.html", tenant_page(
        ctx, "orders", values=values, errors=errors, url=_base(ctx), rows=_rows(lines),
        agreements=await services.agreements_of_tenant(session, ctx.tenant_id),
        orders=[o for o in found if o.status not in m.DEAD], statuses=STATUSES), status=status)


@get(f"{PATH}/nouveau")
async def new_contract_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                            db_session: AsyncSession) -> Any:
    tenant_ctx.require("order")
    agreements = await services.agreements_of_tenant(db_session, tenant_ctx.tenant_id)
    values = {"agreement_id": str(agreements[0].id) if len(agreements) == 1 else "", "source": "parc",
              "representative": tenant_ctx.identity.full_name or tenant_ctx.identity.email}
    return await _new_form(request, tenant_ctx, db_session, values, [], {})


@post(f"{PATH}/nouveau")
async def create_contract(request: Request[Any, Any, Any], tenant_ctx: TenantContext,
                          db_session: AsyncSession) -> Any:
    tenant_ctx.require("order")
    form = form_fields(await request.form())
    values = {k: form.get(k, "")[:2000] for k in CREATE_FIELDS}
    lines = _form_lines(form)
    data: dict[str, Any] = {"agreement_id": values["agreement_id"]}
    if values["source"] == "commande":
        data["first_order_id"] = values["first_order_id"]
        if not values["first_order_id"]:
            return await _new_form(request, tenant_ctx, db_session, values, lines,
                                   {"first_order_id": "Choisissez le bon de commande existant."}, status=422)
    else:
        data.update(lines=lines, delivery_place=values["delivery_place"], representative=values["representative"])
    try:
        contract = await m.create_contract(db_session, tenant_ctx.tenant_id, data, now=utcnow())
    except m.MaintenanceError as exc:  # raised before anything is written
        return await _new_form(request, tenant_ctx, db_session, values, lines, exc.errors, status=422)
    flash(request, "Contrat de maintenance enregistré : l'exécution du premier bon de commande est due dans les 30 "
                   "jours de sa notification (CCTP CAIH 2.1.32).")
    return see_other(f"{_base(tenant_ctx)}/{contract.id}")


# --------------------------------------------------------------------------- one contract


async def _contract_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                         contract: Any, *, park_lines: list[dict[str, Any]] | None = None,
                         change_lines: list[dict[str, Any]] | None = None, note: str = "",
                         errors: dict[str, str] | None = None, form: str = "", status: int = 200) -> Any:
    view = await m.contract_view(session, contract, utcnow())
    linked = await m.orders_of_contract(session, contract)
    return render(request, "catalog/maintenance_contract.html", tenant_page(
        ctx, "orders", contract=contract, view=view, orders=linked, numbers={o.id: o.number for _, o in linked},
        declarations=await m.declarations_of(session, contract), changes=await m.changes_of(session, contract),
        statuses=STATUSES, kinds=m.KINDS, outcomes=m.OUTCOMES, directions=m.DIRECTIONS, rule=m.RULE,
        url=f"{_base(ctx)}/{contract.id}", list_url=_base(ctx), can_order=ctx.can("order"),
        park_rows=_rows(park_lines if park_lines is not None else list(contract.park)),
        change_rows=_rows(change_lines or []), note=note, errors=errors or {}, form=form), status=status)


@get(f"{PATH}/{{contract_id:uuid}}")
async def contract_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                        contract_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    contract = await m.get_contract_in_tenant(db_session, tenant_ctx.tenant_id, contract_id)
    return await _contract_page(request, tenant_ctx, db_session, contract)


@post(f"{PATH}/{{contract_id:uuid}}/parc")
async def declare_park(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       contract_id: uuid.UUID) -> Any:
    contract = await m.get_contract_in_tenant(db_session, tenant_ctx.tenant_id, contract_id)  # 404 before 403
    tenant_ctx.require("order")
    lines = _form_lines(form_fields(await request.form()))
    try:
        declared = await m.declare_park(db_session, tenant_ctx.tenant_id, contract.id, lines, now=utcnow())
    except m.MaintenanceError as exc:  # nothing written
        return await _contract_page(request, tenant_ctx, db_session, contract, park_lines=lines, errors=exc.errors,
                                    form="parc", status=422)
    late = " (déclaration tardive : elle vaut pour l'anniversaire suivant)" if declared.late else ""
    flash(request, f"Parc déclaré : il donnera lieu au bon de commande de renouvellement du "
                   f"{declared.anniversary:%d/%m/%Y}{late}.")
    return see_other(f"{_base(tenant_ctx)}/{contract.id}")


@post(f"{PATH}/{{contract_id:uuid}}/evolution")
async def declare_change(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                         contract_id: uuid.UUID) -> Any:
    contract = await m.get_contract_in_tenant(db_session, tenant_ctx.tenant_id, contract_id)
    tenant_ctx.require("order")
    form = form_fields(await request.form())
    lines = _form_lines(form, direction=True)
    note = form.get("note", "")[:m.NOTE_MAX + 1]
    try:
        change = await m.declare_change(db_session, tenant_ctx.tenant_id, contract.id,
                                        {"lines": lines, "note": note}, now=utcnow())
    except m.MaintenanceError as exc:
        return await _contract_page(request, tenant_ctx, db_session, contract, change_lines=lines, note=note,
                                    errors=exc.errors, form="evolution", status=422)
    percent = f"{change.percent}".replace(".", ",")
    if change.complementary_order_id:
        message = (f"Évolution du parc de {percent} % de la commande annuelle (plus de 10 %) : le bon de commande "
                   "complémentaire est créé en brouillon, à émettre.")
    elif change.outcome == "complementary":
        message = (f"Évolution du parc de {percent} % (plus de 10 %), faite de sorties : aucune commande "
                   "complémentaire, le renouvellement réduira la commande annuelle.")
    else:
        message = f"Évolution du parc de {percent} % (pas plus de 10 %) : régularisée au renouvellement."
    flash(request, message)
    return see_other(f"{_base(tenant_ctx)}/{contract.id}")


maintenance_handlers: list[Any] = [contracts_page, new_contract_page, create_contract, contract_page, declare_park,
                                   declare_change]
