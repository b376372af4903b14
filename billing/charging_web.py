"""The pages of paid charging and of the ADVENIR subsidy (issue 15 §5), in French, CSRF on every form:

* ``/t/{tenant}/recharge-payante`` (readers of the tenant): the decision (« Rendre la charge payante », the buyer's
  admin, CCTP CPAM 5-5-5-2), the tariffs by badge population and the form that adds one (the admin), the agents'
  accounts and their balances, the sums collected per month and their repayment to the buyer (the titulaire's
  operator records it);
* ``/t/{tenant}/recharge-payante/compte``: the caller's own account (5-5-6-1): balance, top-up through the payment
  provider, the month's detailed statement (date, station address, duration, energy, amount), printable, and as
  ``releve.pdf`` / ``releve.csv``; ``…/comptes/{id}`` the same for a reader of the tenant;
* ``/t/{tenant}/advenir``: the ADVENIR subsidies (5-7) with their attestation data and computation, the form the
  titulaire's operator records one with, and the invoice each was deducted from.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.params import Parameter

from app.db import utcnow
from app.errors import NotFound
from app.exports import csv_bytes
from app.shell import flash, form_fields, render, see_other, tenant_page
from billing import advenir, charging
from billing.charging_models import ChargingAccount
from billing.charging_rules import POPULATIONS, fr_money
from billing.services import BillingError
from catalog import services as catalog
from csms import services as csms
from tenants.context import TenantContext

__all__ = ["nav", "portal_handlers", "statement_csv", "statement_pdf"]

PATH = "/t/{tenant_id:uuid}/recharge-payante"
Month = Annotated[str, Parameter(max_length=7)]
TEXT_LIMIT = 200


def _base(ctx: TenantContext) -> str:
    return f"/t/{ctx.tenant_id}/recharge-payante"


def nav(ctx: Any) -> list[tuple[str, ...]]:
    if not isinstance(ctx, TenantContext):
        return []
    if ctx.can("read"):
        return [("charging", _base(ctx), "Recharge payante")]
    if ctx.can("agent"):
        return [("charging", f"{_base(ctx)}/compte", "Mon compte de recharge")]
    return []


def _month(value: str, ctx: TenantContext) -> tuple[int, int, dict[str, str]]:
    return charging.parse_month(value, ctx.tenant.timezone, utcnow())


def _last_months(ctx: TenantContext) -> list[tuple[int, int]]:
    return charging.last_months(ctx.tenant.timezone, utcnow())


# --------------------------------------------------------------------------- the admin's page


async def _overview(request: Request[Any, Any, Any], ctx: TenantContext, session: Any, *,
                    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                    form: str = "", status: int = 200) -> Any:
    provider = charging.payment_provider()
    # The populations are csms's badge kinds; their active badges counted through its services (5-5-5-3).
    stats = await csms.badge_statistics(session, ctx.tenant_id, utcnow())
    counts = {kind: stats.count(kind or None, "Accepted") for kind in POPULATIONS}
    return render(request, "billing/charging.html", tenant_page(
        ctx, "charging", url=_base(ctx), enabled=await charging.is_enabled(session, ctx.tenant_id),
        tariffs=await charging.tariffs_of(session, ctx.tenant_id), populations=POPULATIONS, badge_counts=counts,
        accounts=await charging.accounts_of_tenant(session, ctx.tenant_id),
        collections=await charging.collections(session, ctx.tenant_id, months=_last_months(ctx)),
        provider=provider, can_manage=ctx.can("manage_charging"), can_repay=ctx.can("repay_charging"),
        errors=errors or {}, values=values or {}, form=form, money=fr_money), status=status)


@get(PATH)
async def charging_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: Any) -> Any:
    if not tenant_ctx.can("read"):
        return see_other(f"{_base(tenant_ctx)}/compte")
    return await _overview(request, tenant_ctx, db_session)


def _values(data: dict[str, Any]) -> dict[str, str]:
    return {k: v[:TEXT_LIMIT] for k, v in form_fields(data).items()}


@post(f"{PATH}/activation")
async def set_enabled(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: Any) -> Any:
    tenant_ctx.require("manage_charging")
    values = _values(await request.form())
    enabled = values.get("enabled") == "1"
    await charging.set_enabled(db_session, tenant_ctx.tenant_id, enabled, now=utcnow())
    flash(request, "La recharge est désormais payante : les recharges arrêtées à partir de maintenant sont débitées "
                   "des comptes des agents." if enabled else "La recharge est désormais gratuite.")
    return see_other(_base(tenant_ctx))


async def _submit(request: Request[Any, Any, Any], ctx: TenantContext, session: Any, *, permission: str, form: str,
                  action: Any, message: Any) -> Any:
    """A form of the admin's page: the service's refusal re-renders the page with its errors (422)."""
    ctx.require(permission)
    values = _values(await request.form())
    try:
        made = await action(session, ctx.tenant_id, values, now=utcnow())
    except BillingError as exc:
        return await _overview(request, ctx, session, errors=exc.errors, values=values, form=form, status=422)
    flash(request, message(made))
    return see_other(_base(ctx))


@post(f"{PATH}/tarifs")
async def add_tariff(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: Any) -> Any:
    return await _submit(request, tenant_ctx, db_session, permission="manage_charging", form="tariff",
                         action=charging.add_tariff,
                         message=lambda t: f"Tarif « {t.label} » enregistré, en vigueur à partir du "
                                           f"{t.valid_from:%d/%m/%Y}.")


@post(f"{PATH}/reversements")
async def add_repayment(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: Any) -> Any:
    return await _submit(request, tenant_ctx, db_session, permission="repay_charging", form="repayment",
                         action=charging.record_repayment,
                         message=lambda r: f"Reversement de {r.period_start:%m/%Y} enregistré : {fr_money(r.repaid)}.")


# --------------------------------------------------------------------------- accounts and statements


async def _statement_context(ctx: TenantContext, session: Any, account: ChargingAccount | None,
                             mois: str) -> dict[str, Any]:
    year, month, errors = _month(mois, ctx)
    first, last = charging.month_bounds(year, month)
    opening, entries, closing = (Decimal("0.00"), [], Decimal("0.00"))
    if account is not None:
        opening, entries, closing = await charging.statement(session, ctx.tenant_id, account, first, last)
    return {"account": account, "first": first, "last": last, "month": f"{year:04d}-{month:02d}", "opening": opening,
            "entries": entries, "closing": closing, "month_errors": errors, "kinds": charging.KINDS,
            "money": fr_money}


async def _own(ctx: TenantContext, session: Any) -> ChargingAccount | None:
    return await charging.account_of_user(session, ctx.tenant_id, ctx.identity.user_id)


async def _account_page(request: Request[Any, Any, Any], ctx: TenantContext, session: Any,
                        account: ChargingAccount | None, mois: str, *, own: bool, errors: dict[str, str] | None = None,
                        values: dict[str, str] | None = None, status: int = 200) -> Any:
    url = f"{_base(ctx)}/compte" if own else f"{_base(ctx)}/comptes/{account.id if account else ''}"
    return render(request, "billing/charging_account.html", tenant_page(
        ctx, "charging", url=url, base=_base(ctx), own=own, enabled=await charging.is_enabled(session, ctx.tenant_id),
        provider=charging.payment_provider(), errors=errors or {}, values=values or {},
        limits=(charging.MIN_TOP_UP, charging.MAX_TOP_UP),
        **await _statement_context(ctx, session, account, mois)), status=status)


@get(f"{PATH}/compte")
async def own_account(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: Any,
                      mois: Month = "") -> Any:
    return await _account_page(request, tenant_ctx, db_session, await _own(tenant_ctx, db_session), mois, own=True)


@post(f"{PATH}/compte/credit")
async def top_up(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: Any) -> Any:
    values = _values(await request.form())
    try:
        payment = await charging.top_up(db_session, tenant_ctx.tenant_id, tenant_ctx.identity.user_id, values,
                                        now=utcnow())
    except BillingError as exc:
        return await _account_page(request, tenant_ctx, db_session, await _own(tenant_ctx, db_session), "",
                                   own=True, errors=exc.errors, values=values, status=422)
    if payment.status == "completed":
        flash(request, f"Crédit de {fr_money(payment.amount)} ajouté à votre compte.")
    else:
        flash(request, f"Paiement refusé, votre compte n'est pas crédité : {payment.message}")
    return see_other(f"{_base(tenant_ctx)}/compte")


async def _reader_account(ctx: TenantContext, session: Any, account_id: uuid.UUID) -> ChargingAccount:
    account = await charging.get_account_in_tenant(session, ctx.tenant_id, account_id)
    ctx.require("read")
    return account


@get(f"{PATH}/comptes/{{charging_account_id:uuid}}")
async def account_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: Any,
                       charging_account_id: uuid.UUID, mois: Month = "") -> Any:
    account = await _reader_account(tenant_ctx, db_session, charging_account_id)
    return await _account_page(request, tenant_ctx, db_session, account, mois, own=False)


STATEMENT_HEADER = ("Date", "Opération", "Station", "Adresse de la borne", "Point de charge", "Durée (min)",
                    "Énergie (kWh)", "Montant (€)", "Calcul")


def _rows(context: dict[str, Any], zone: str) -> list[tuple[Any, ...]]:
    tz = ZoneInfo(zone)
    out = []
    for e in context["entries"]:
        when = (e.stopped_at or e.booked_at).astimezone(tz)
        out.append((when.strftime("%d/%m/%Y %H:%M"), charging.KINDS[e.kind], e.station_name, e.station_address,
                    e.point_id, round(e.duration_seconds / 60) if e.duration_seconds is not None else "",
                    (Decimal(e.energy_wh) / 1000).quantize(Decimal("0.01")) if e.energy_wh is not None else "",
                    e.amount, e.computation))
    return out


def statement_csv(context: dict[str, Any], zone: str) -> bytes:
    return csv_bytes(_rows(context, zone), header=STATEMENT_HEADER)


def statement_pdf(context: dict[str, Any], zone: str, tenant_name: str) -> bytes:
    from app.pdf import document, pdf_bytes

    account: ChargingAccount = context["account"]
    doc = document("Relevé de compte de recharge", f"{tenant_name} — CCTP CPAM 5-5-6-1", landscape=True)
    doc.key_values([("Titulaire du compte", account.holder_label or "—"),
                    ("Période", f"du {context['first']:%d/%m/%Y} au {context['last']:%d/%m/%Y}"),
                    ("Solde au début de la période", fr_money(context["opening"])),
                    ("Solde à la fin de la période", fr_money(context["closing"]))])
    doc.heading("Opérations")
    doc.table_of(STATEMENT_HEADER[:8], [tuple(str(v).replace(".", ",") if isinstance(v, Decimal) else v
                                              for v in row[:8]) for row in _rows(context, zone)],
                 (26, 16, 36, 60, 30, 18, 20, 20))
    return pdf_bytes(doc)


def _download(context: dict[str, Any], ctx: TenantContext, fmt: str) -> Response[bytes]:
    if context["account"] is None:
        raise NotFound("compte de recharge")
    name = f"releve-recharge-{context['month']}.{fmt}"
    if fmt == "pdf":
        return Response(statement_pdf(context, ctx.tenant.timezone, ctx.tenant.name), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return Response(statement_csv(context, ctx.tenant.timezone), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@get([f"{PATH}/compte/releve.pdf", f"{PATH}/compte/releve.csv"])
async def own_statement_file(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: Any,
                             mois: Month = "") -> Response[bytes]:
    context = await _statement_context(tenant_ctx, db_session, await _own(tenant_ctx, db_session), mois)
    return _download(context, tenant_ctx, request.url.path.rsplit(".", 1)[-1])


@get([f"{PATH}/comptes/{{charging_account_id:uuid}}/releve.pdf",
      f"{PATH}/comptes/{{charging_account_id:uuid}}/releve.csv"])
async def account_statement_file(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: Any,
                                 charging_account_id: uuid.UUID, mois: Month = "") -> Response[bytes]:
    account = await _reader_account(tenant_ctx, db_session, charging_account_id)
    context = await _statement_context(tenant_ctx, db_session, account, mois)
    return _download(context, tenant_ctx, request.url.path.rsplit(".", 1)[-1])


# --------------------------------------------------------------------------- ADVENIR


ADVENIR_PATH = "/t/{tenant_id:uuid}/advenir"


async def _advenir(request: Request[Any, Any, Any], ctx: TenantContext, session: Any, *,
                   errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                   status: int = 200) -> Any:
    orders = await catalog.orders_to_invoice(session, [ctx.tenant_id]) if ctx.can("invoice") else []
    return render(request, "billing/advenir.html", tenant_page(
        ctx, "advenir", url=f"/t/{ctx.tenant_id}/advenir", subsidies=await advenir.subsidies_of_tenant(
            session, ctx.tenant_id), statuses=advenir.STATUSES, orders=orders, can_record=ctx.can("invoice"),
        errors=errors or {}, values=values or {}, money=fr_money), status=status)


@get(ADVENIR_PATH)
async def advenir_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: Any) -> Any:
    tenant_ctx.require("read")
    return await _advenir(request, tenant_ctx, db_session)


@post(ADVENIR_PATH)
async def record_subsidy(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: Any) -> Any:
    tenant_ctx.require("invoice")
    values = _values(await request.form())
    try:
        made = await advenir.record_subsidy(db_session, tenant_ctx.tenant_id, values, now=utcnow())
    except BillingError as exc:
        return await _advenir(request, tenant_ctx, db_session, errors=exc.errors, values=values, status=422)
    flash(request, f"Prime ADVENIR enregistrée : {fr_money(made.amount_ht)} HT, déduite de la prochaine facture du "
                   f"bon de commande {made.order_number}.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/advenir")


@post(f"{ADVENIR_PATH}/{{subsidy_id:uuid}}/annuler")
async def cancel_subsidy(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: Any,
                         subsidy_id: uuid.UUID) -> Any:
    tenant_ctx.require("read")
    await advenir.get_subsidy_in_tenant(db_session, tenant_ctx.tenant_id, subsidy_id)
    tenant_ctx.require("invoice")
    try:
        await advenir.cancel_subsidy(db_session, tenant_ctx.tenant_id, subsidy_id)
    except BillingError as exc:
        return await _advenir(request, tenant_ctx, db_session, errors=exc.errors, status=422)
    flash(request, "Prime ADVENIR annulée.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/advenir")


portal_handlers: list[Any] = [charging_page, set_enabled, add_tariff, add_repayment, own_account, top_up,
                              account_page, own_statement_file, account_statement_file, advenir_page, record_subsidy,
                              cancel_subsidy]
