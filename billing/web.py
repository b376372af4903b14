"""The invoices' portal pages (issue 15 §3), menu group « Commandes »:

* ``/t/{tenant}/factures``: the beneficiary's invoices and credit notes (issued ones; drafts too for the titulaire's
  operator), and for the operator the verified orders still to invoice, each with its « Facturer » button;
* ``/t/{tenant}/factures/{id}``: one invoice, its lines, its VAT per rate, the Factur-X PDF and the XML to download,
  and the buttons open to the reader (the operator: « Émettre », « Supprimer le brouillon », an avoir, the payment);
* ``/t/{tenant}/facturation``: the buyer's billing profile (its administrator: the service code and engagement
  number its structure requires, CCP TGD IX.6 / Chorus Pro) and the titulaire's identity per agreement (the operator
  or the coordinator).

Forms are read after the access check (another tenant's ids are a 404 whatever the body); a refusal shows its
French message, status 422, nothing changed.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page
from app.db import utcnow
from app.errors import NotFound
from app.shell import Paged, flash, form_fields, pager, render, see_other, tenant_page
from billing import api, invoices, late, periodic, services
from billing.invoice_rules import KINDS, STATUSES, totals_of
from billing.services import BillingError
from catalog import services as catalog
from tenants.context import CentralContext, TenantContext

__all__ = ["nav", "order_panel", "portal_handlers"]

PATH = "/t/{tenant_id:uuid}/factures"
PER_PAGE = 50
StatusFilter = Annotated[str, Parameter(max_length=20)]
ACTIONS = ("emettre", "supprimer", "avoir", "payee", "references")


def _base(ctx: TenantContext) -> str:
    return f"/t/{ctx.tenant_id}/factures"


def nav(ctx: Any) -> list[tuple[str, ...]]:
    """« Factures » under « Commandes »; the billing settings and the penalties are reached from the invoices'
    page (the desktop menu stays within three rows)."""
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        return [("invoices", _base(ctx), "Factures")]
    if isinstance(ctx, CentralContext):
        return []
    return []


async def order_panel(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                      order: Any) -> dict[str, Any]:
    """The order page's « Facturation » panel (catalog's ``order_page`` hook): the order's invoices and credit notes
    the reader may see, and for the titulaire's operator « Facturer » while something accepted is not invoiced."""
    found = [i for i in await invoices.invoices_of_order(session, ctx.tenant_id, order.id)
             if i.status != "draft" or ctx.can("invoice")]
    links = [(f"{_base(ctx)}/{i.id}", f"{KINDS[i.kind]} {i.number or '(brouillon)'} — {STATUSES[i.status]}, "
                                      f"{i.total_ttc:.2f} € TTC".replace(".", ",")) for i in found]
    buttons: list[tuple[str, str]] = []
    note = ""
    if ctx.can("invoice") and order.status in catalog.INVOICEABLE_STATUSES:
        billable = await catalog.billable_order(session, ctx.tenant_id, order.id)
        left = [x for x in await invoices.invoiceable_lines(session, billable)
                if x.remaining > 0 or x.refaction_remaining > 0]
        if left:
            buttons.append((f"{_base(ctx)}/commande/{order.id}", "Facturer"))
            note = "La commande est vérifiée : facturez ce que l'acheteur a reçu (CCP TGD IX.4)."
    if ctx.can("invoice") and order.status in periodic.RUNNING_STATUSES:
        billable = await catalog.billable_order(session, ctx.tenant_id, order.id)
        if periodic.continuous_lines(billable):
            buttons.append((f"{_base(ctx)}/trimestres/{order.id}", "Facturer les trimestres échus"))
            note = note or "Prestations continues : facturées par trimestre civil échu (CCP TGD IX.4)."
    if not links and not buttons:
        return {}
    return {"order_panels": [{"id": "facturation", "title": "Facturation", "note": note, "links": links,
                              "buttons": buttons}]}


@get(PATH)
async def invoices_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                        etat: StatusFilter = "", page: Page = 1) -> Any:
    tenant_ctx.require("read")
    etat = etat if etat in STATUSES else ""
    can_invoice = tenant_ctx.can("invoice")
    found, total = await invoices.invoices_of_tenant(db_session, tenant_ctx.tenant_id, drafts=can_invoice,
                                                     status=etat, page=page, per_page=PER_PAGE)
    to_invoice = await invoices.orders_to_invoice(db_session, [tenant_ctx.tenant_id]) if can_invoice else []
    query = {"etat": etat}
    paged = Paged(items=found, total=total, page=page, per_page=PER_PAGE)
    return render(request, "billing/invoices.html", tenant_page(
        tenant_ctx, "invoices", invoices=found, total=total, statuses=STATUSES, kinds=KINDS, query=query,
        url=_base(tenant_ctx), can_invoice=can_invoice, to_invoice=to_invoice,
        settings_url=f"/t/{tenant_ctx.tenant_id}/facturation"
        if tenant_ctx.can("manage_profile") or tenant_ctx.can("manage_issuer") else "",
        penalties_url=f"/t/{tenant_ctx.tenant_id}/penalites", paging=pager(_base(tenant_ctx), query, paged)))


@post(f"{PATH}/commande/{{order_id:uuid}}")
async def draft_from_order(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                           order_id: uuid.UUID) -> Any:
    """« Facturer »: the draft of a verified order, every remaining accepted quantity."""
    await catalog.billable_order(db_session, tenant_ctx.tenant_id, order_id)
    tenant_ctx.require("invoice")
    await request.form()
    try:
        invoice = await invoices.draft_invoice(db_session, tenant_ctx.tenant_id, order_id, {}, now=utcnow())
    except BillingError as exc:
        flash(request, " ".join(exc.errors.values()))
        return see_other(_base(tenant_ctx))
    flash(request, f"Brouillon de facture du bon de commande {invoice.order_number} préparé : vérifiez-le, puis "
                   "émettez-le.")
    return see_other(f"{_base(tenant_ctx)}/{invoice.id}")


async def _deductions(session: AsyncSession, sheet: Any) -> list[dict[str, Any]]:
    """The penalties (CCP TGD VIII.1) and ADVENIR subsidies (CCTP CPAM 5-7) the invoice deducts, with their
    computation: its allowances once issued, on a draft those its issue will make (``planned``)."""
    invoice = sheet.invoice
    if invoice.status != "draft":
        return [{"position": a.position, "reason": a.reason, "amount_ht": a.amount_ht, "vat_rate": a.vat_rate,
                 "total_vat": a.total_vat, "penalty_id": a.penalty_id, "advenir": a.advenir_subsidy_id is not None,
                 "planned": False} for a in sheet.allowances]
    from billing import advenir, penalties

    planned = [(d, r, p.id) for p, d, r in await penalties.planned_deductions(session, invoice, sheet.lines)]
    planned += [(d, r, None) for _s, d, r in await advenir.planned_deductions(
        session, invoice, sheet.lines, [d for d, _r, _p in planned])]
    return [{"position": n, "reason": r, "amount_ht": d.amount_ht, "vat_rate": d.vat_rate, "total_vat": d.total_vat,
             "penalty_id": p, "advenir": p is None, "planned": True} for n, (d, r, p) in enumerate(planned, 1)]


async def render_invoice(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, invoice: Any, *,
                         errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                         status: int = 200) -> Any:
    sheet = await api.load_sheet(session, invoice)
    credit_notes = [i for i in await invoices.invoices_of_order(session, ctx.tenant_id, invoice.order_id)
                    if i.credited_invoice_id == invoice.id and (i.status != "draft" or ctx.can("invoice"))]
    profile = await services.profile_of_tenant(session, ctx.tenant_id)
    overdue = await late.late_of_invoice(session, invoice, utcnow())
    _line_total, allowed, totals = sheet.totals()
    return render(request, "billing/invoice.html", tenant_page(
        ctx, "invoices", invoice=invoice, lines=sheet.lines, credited=sheet.credited, credit_notes=credit_notes,
        preceding=sheet.preceding, deductions=await _deductions(session, sheet),
        line_totals=totals_of(sheet.lines), allowed=allowed, totals=totals,
        vat=sheet.vat_breakdown(), statuses=STATUSES, kinds=KINDS, url=f"{_base(ctx)}/{invoice.id}",
        can_invoice=ctx.can("invoice"), errors=errors or {}, values=values or {}, profile=profile, late=overdue),
        status=status)


@get(f"{PATH}/{{invoice_id:uuid}}")
async def invoice_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       invoice_id: uuid.UUID) -> Any:
    invoice = await api.readable_invoice(db_session, tenant_ctx, invoice_id)
    return await render_invoice(request, tenant_ctx, db_session, invoice)


@get([f"{PATH}/{{invoice_id:uuid}}/pdf", f"{PATH}/{{invoice_id:uuid}}/xml"])
async def invoice_file(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                       invoice_id: uuid.UUID) -> Response[bytes]:
    """``…/pdf``: the Factur-X PDF; ``…/xml``: its EN 16931 XML alone."""
    invoice = await api.readable_invoice(db_session, tenant_ctx, invoice_id)
    return api.file_response(await api.load_sheet(db_session, invoice), request.url.path.rsplit("/", 1)[-1])


@post(f"{PATH}/{{invoice_id:uuid}}/{{action:str}}")
async def invoice_action(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                         invoice_id: uuid.UUID, action: str) -> Any:
    if action not in ACTIONS:
        raise NotFound("action")
    invoice = await api.readable_invoice(db_session, tenant_ctx, invoice_id)
    tenant_ctx.require("invoice")
    values = {k: v[:2000] for k, v in form_fields(await request.form()).items()}
    now = utcnow()
    try:
        if action == "emettre":
            invoice = await invoices.issue_invoice(db_session, tenant_ctx.tenant_id, invoice.id, now=now)
            flash(request, f"{KINDS[invoice.kind]} {invoice.number} émise : l'acheteur en est averti par courriel.")
        elif action == "references":
            invoice = await invoices.update_draft_references(db_session, tenant_ctx.tenant_id, invoice.id, {
                k: values.get(k, "") for k in ("engagement_number", "service_code")}, now=now)
            flash(request, "Numéro d'engagement et code service du brouillon enregistrés.")
        elif action == "supprimer":
            await invoices.discard_draft(db_session, tenant_ctx.tenant_id, invoice.id)
            flash(request, "Brouillon supprimé.")
            return see_other(_base(tenant_ctx))
        elif action == "avoir":
            note = await invoices.draft_credit_note(db_session, tenant_ctx.tenant_id, invoice.id,
                                                    {"reason": values.get("reason", "")}, now=now)
            flash(request, f"Brouillon d'avoir de la facture {invoice.number} préparé : vérifiez-le, puis émettez-le.")
            return see_other(f"{_base(tenant_ctx)}/{note.id}")
        else:
            invoice = await invoices.mark_paid(db_session, tenant_ctx.tenant_id, invoice.id,
                                               {"paid_on": values.get("paid_on")}, now=now)
            flash(request, f"Facture {invoice.number} payée le {invoice.paid_on:%d/%m/%Y}.")
    except BillingError as exc:  # raised before anything is written
        return await render_invoice(request, tenant_ctx, db_session, invoice, errors=exc.errors, values=values,
                                    status=422)
    return see_other(f"{_base(tenant_ctx)}/{invoice.id}")


# --------------------------------------------------------------------------- settings


SETTINGS = "/t/{tenant_id:uuid}/facturation"


async def _settings(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *,
                    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                    failed: uuid.UUID | None = None, status: int = 200) -> Any:
    return render(request, "billing/settings.html", tenant_page(
        ctx, "billing", profile=await services.profile_of_tenant(session, ctx.tenant_id),
        issuers=await services.issuers_of_tenant(session, ctx.tenant_id), fields=services.ISSUER_FIELDS,
        missing=services.issuer_missing, can_profile=ctx.can("manage_profile"), can_issuer=ctx.can("manage_issuer"),
        errors=errors or {}, values=values or {}, failed=failed, url=f"/t/{ctx.tenant_id}/facturation"),
        status=status)


@get(SETTINGS)
async def settings_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("read")
    if not (tenant_ctx.can("manage_profile") or tenant_ctx.can("manage_issuer")):
        tenant_ctx.require("manage_profile")
    return await _settings(request, tenant_ctx, db_session)


@post(f"{SETTINGS}/profil")
async def update_profile(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("manage_profile")
    values = {k: v[:200] for k, v in form_fields(await request.form()).items()}
    try:
        await services.update_profile(db_session, tenant_ctx.tenant_id, values)
    except BillingError as exc:
        return await _settings(request, tenant_ctx, db_session, errors=exc.errors, values=values, status=422)
    flash(request, "Profil de facturation enregistré.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/facturation")


@post(f"{SETTINGS}/titulaires/{{agreement_id:uuid}}")
async def update_issuer(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                        agreement_id: uuid.UUID) -> Any:
    agreement = await services.agreement_in_reach(db_session, tenant_ctx.tenant_id, agreement_id)
    tenant_ctx.require("manage_issuer")
    values = {k: v[:300] for k, v in form_fields(await request.form()).items()}
    try:
        await services.update_issuer(db_session, tenant_ctx.tenant_id, agreement.id, values)
    except BillingError as exc:
        return await _settings(request, tenant_ctx, db_session, errors=exc.errors, values=values,
                               failed=agreement.id, status=422)
    flash(request, f"Identité du titulaire de l'accord {agreement.reference} enregistrée.")
    return see_other(f"/t/{tenant_ctx.tenant_id}/facturation")


portal_handlers: list[Any] = [invoices_page, draft_from_order, invoice_page, invoice_file, invoice_action,
                              settings_page, update_profile, update_issuer]
