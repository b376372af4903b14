"""The invoices' API (issue 15 §3, §6), under ``/api/v1/tenants/{tenant_id}/``, tag « Factures »:

* ``GET invoices`` (``status``, ``page``), ``GET invoices/{id}`` (JSON with its lines), ``GET invoices/{id}.pdf``
  (the Factur-X PDF) and ``GET invoices/{id}.xml`` (its EN 16931 CII XML alone);
* ``POST orders/{order_id}/invoices``: a draft from a verified order (the titulaire's operator) → 201;
* ``POST invoices/{id}/issue``, ``POST invoices/{id}/credit-note`` (→ 201, a draft credit note),
  ``POST invoices/{id}/paid``, ``POST invoices/{id}/discard`` (a draft only);
* ``GET billing-profile`` / ``PUT billing-profile``: the buyer's billing profile (CCP TGD IX.6, Chorus Pro);
* ``GET issuers`` / ``PUT issuers/{agreement_id}``: the titulaire's identity per agreement.

Drafts are the titulaire's working copies: a caller without ``invoice`` neither lists nor reads them (404).
Another tenant's ids answer 404, like unknown ones. Amounts are strings.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Response, get, post, put
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from app.shell import error_responses
from billing import documents, invoices, services
from billing.invoice_rules import STATUSES
from billing.models import BillingIssuer, BillingProfile, Invoice, InvoiceLine
from tenants.context import TenantContext

__all__ = ["api_handlers", "load_sheet", "readable_invoice"]

TAG = "Factures"
PER_PAGE = 50
PageNumber = Annotated[int, Parameter(ge=1, le=10_000)]
StatusFilter = Annotated[str, Parameter(max_length=20, description=f"Un de : {', '.join(STATUSES)}")]
Number = (Annotated[str, msgspec.Meta(max_length=40)] | Annotated[int, msgspec.Meta(ge=-(10**9), le=10**9)]
          | float)


class LineIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    position: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    quantity: Number


class DraftIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    lines: Annotated[list[LineIn], msgspec.Meta(max_length=invoices.MAX_LINES)] | None = None
    engagement_number: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    service_code: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class CreditNoteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=2000)]
    lines: Annotated[list[LineIn], msgspec.Meta(max_length=invoices.MAX_LINES)] | None = None


class PaidIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    paid_on: dt.date | None = None


class ProfileIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    requires_service_code: bool
    requires_engagement: bool
    service_code: Annotated[str, msgspec.Meta(max_length=100)] = ""


class ProfileOut(msgspec.Struct, kw_only=True):
    requires_service_code: bool
    requires_engagement: bool
    service_code: str

    @classmethod
    def of(cls, p: BillingProfile) -> ProfileOut:
        return cls(requires_service_code=bool(p.requires_service_code),
                   requires_engagement=bool(p.requires_engagement), service_code=p.service_code or "")


class IssuerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    legal_name: Annotated[str, msgspec.Meta(max_length=200)]
    siret: Annotated[str, msgspec.Meta(max_length=40)]
    vat_number: Annotated[str, msgspec.Meta(max_length=40)]
    address: Annotated[str, msgspec.Meta(max_length=300)]
    postal_code: Annotated[str, msgspec.Meta(max_length=10)]
    city: Annotated[str, msgspec.Meta(max_length=120)]


class IssuerOut(msgspec.Struct, kw_only=True):
    agreement_id: uuid.UUID
    agreement_reference: str
    titulaire: str
    legal_name: str
    siret: str
    vat_number: str
    address: str
    postal_code: str
    city: str
    missing: list[str]


def _issuer_out(agreement: Any, issuer: BillingIssuer | None) -> IssuerOut:
    return IssuerOut(agreement_id=agreement.id, agreement_reference=agreement.reference,
                     titulaire=agreement.titulaire or "", missing=services.issuer_missing(issuer),
                     **{k: (getattr(issuer, k) or "") if issuer is not None else "" for k in services.ISSUER_FIELDS})


class InvoiceLineOut(msgspec.Struct, kw_only=True):
    position: int
    order_position: int
    article_code: str
    label: str
    unit: str
    quantity: str
    unit_price_ht: str
    discount_percent: str | None
    gross_ht: str
    refaction_ht: str
    total_ht: str
    vat_rate: str
    total_vat: str
    total_ttc: str

    @classmethod
    def of(cls, x: InvoiceLine) -> InvoiceLineOut:
        return cls(position=x.position, order_position=x.order_position, article_code=x.article_code, label=x.label,
                   unit=x.unit, quantity=str(x.quantity), unit_price_ht=str(x.unit_price_ht),
                   discount_percent=None if x.discount_percent is None else str(x.discount_percent),
                   gross_ht=str(x.gross_ht), refaction_ht=str(x.refaction_ht), total_ht=str(x.total_ht),
                   vat_rate=str(x.vat_rate), total_vat=str(x.total_vat), total_ttc=str(x.total_ttc))


class InvoiceOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    number: str | None
    status: str
    order_id: uuid.UUID
    order_number: str
    engagement_number: str
    service_code: str
    agreement_reference: str
    buyer_name: str
    buyer_siret: str
    seller_name: str
    seller_siret: str
    seller_vat_number: str
    issue_date: dt.date | None
    due_date: dt.date | None
    verified_on: dt.date | None
    paid_on: dt.date | None
    total_ht: str
    total_vat: str
    total_ttc: str
    line_count: int
    credited_invoice_id: uuid.UUID | None
    reason: str
    lines: list[InvoiceLineOut] | None = None
    #: CCP TGD IX.7, past its due date (``billing.late``): the interest and the €40 indemnity, with the computation
    #: (or why it cannot be made), and the amount due with them while unpaid. Only on ``GET invoices/{id}``.
    interest: str | None = None
    indemnity: str | None = None
    computation: str = ""


class InvoicePage(msgspec.Struct, kw_only=True):
    total: int
    page: int
    per_page: int
    items: list[InvoiceOut]


def _out(i: Invoice, lines: list[InvoiceLine] | None = None) -> InvoiceOut:
    return InvoiceOut(
        id=i.id, kind=i.kind, number=i.number, status=i.status, order_id=i.order_id, order_number=i.order_number,
        engagement_number=i.engagement_number, service_code=i.service_code, agreement_reference=i.agreement_reference,
        buyer_name=i.buyer_name, buyer_siret=i.buyer_siret, seller_name=i.seller_name, seller_siret=i.seller_siret,
        seller_vat_number=i.seller_vat_number, issue_date=i.issue_date, due_date=i.due_date,
        verified_on=i.verified_on, paid_on=i.paid_on, total_ht=str(i.total_ht), total_vat=str(i.total_vat),
        total_ttc=str(i.total_ttc), line_count=i.line_count, credited_invoice_id=i.credited_invoice_id,
        reason=i.reason, lines=None if lines is None else [InvoiceLineOut.of(x) for x in lines])


async def readable_invoice(session: AsyncSession, ctx: TenantContext, invoice_id: uuid.UUID, *,
                           for_update: bool = False) -> Invoice:
    """The tenant's invoice as the caller may see it: a draft only to whom invoices (404 otherwise)."""
    ctx.require("read")
    invoice = await invoices.get_invoice_in_tenant(session, ctx.tenant_id, invoice_id, for_update=for_update)
    if invoice.status == "draft" and not ctx.can("invoice"):
        raise NotFound("facture")
    return invoice


async def load_sheet(session: AsyncSession, invoice: Invoice) -> documents.InvoiceSheet:
    credited = (await invoices.get_invoice_in_tenant(session, invoice.tenant_id, invoice.credited_invoice_id)
                if invoice.credited_invoice_id else None)
    from billing import acomptes, penalties

    return documents.InvoiceSheet(invoice, await invoices.lines_of_invoice(session, invoice), credited,
                                  await penalties.allowances_of_invoice(session, invoice),
                                  await acomptes.deducted_acomptes(session, invoice))


def file_response(sheet: documents.InvoiceSheet, fmt: str) -> Response[bytes]:
    """The Factur-X PDF or the XML of an issued invoice (a draft has neither: 422)."""
    invoice = sheet.invoice
    if invoice.status == "draft":
        raise ValidationFailed({"status": "Un brouillon n'a pas de Factur-X : émettez-le d'abord."})
    if fmt == "pdf":
        return Response(documents.invoice_pdf(sheet), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{invoice.number}.pdf"'})
    return Response(documents.invoice_xml(sheet), media_type="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{documents.xml_filename(invoice)}"'})


async def _detail(session: AsyncSession, invoice: Invoice) -> InvoiceOut:
    out = _out(invoice, await invoices.lines_of_invoice(session, invoice))
    from billing import late

    found = await late.late_of_invoice(session, invoice, utcnow())
    if found is not None:
        out.computation = found.payment.computation if found.payment else found.problem
        if found.payment is not None:
            out.interest, out.indemnity = str(found.payment.interest), str(found.payment.indemnity)
    return out


@get("/tenants/{tenant_id:uuid}/invoices", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Les factures et avoirs du bénéficiaire, les plus récents d'abord")
async def api_invoices(tenant_ctx: TenantContext, db_session: AsyncSession, status: StatusFilter = "",
                       page: PageNumber = 1) -> InvoicePage:
    tenant_ctx.require("read")
    if status and status not in STATUSES:
        raise ValidationFailed({"status": f"État inconnu (attendu : {', '.join(STATUSES)})."})
    found, total = await invoices.invoices_of_tenant(db_session, tenant_ctx.tenant_id,
                                                     drafts=tenant_ctx.can("invoice"), status=status, page=page,
                                                     per_page=PER_PAGE)
    return InvoicePage(total=total, page=page, per_page=PER_PAGE, items=[_out(i) for i in found])


@get("/tenants/{tenant_id:uuid}/invoices/{invoice_ref:str}", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Une facture : `{id}` en JSON, `{id}.pdf` en Factur-X (PDF/A-3 avec sa facture EN 16931), "
             "`{id}.xml` sa facture électronique EN 16931 (CII) seule",
     media_type="application/json")
async def api_invoice(tenant_ctx: TenantContext, db_session: AsyncSession, invoice_ref: str) -> Any:
    stem, _, fmt = invoice_ref.partition(".")
    if fmt not in ("", "pdf", "xml"):
        raise NotFound("facture")
    try:
        invoice_id = uuid.UUID(stem)
    except ValueError:
        raise NotFound("facture") from None
    invoice = await readable_invoice(db_session, tenant_ctx, invoice_id)
    if not fmt:
        return await _detail(db_session, invoice)
    return file_response(await load_sheet(db_session, invoice), fmt)


@post("/tenants/{tenant_id:uuid}/orders/{order_id:uuid}/invoices", tags=[TAG], status_code=201,
      responses=error_responses(403, 404, 422),
      summary="Préparer la facture (brouillon) d'un bon de commande vérifié",
      description="Par défaut, chaque ligne pour la quantité reçue par l'acheteur et pas encore facturée (CCP TGD "
                  "VII.3, IX.4), la réfaction déduite ; `lines` pour facturer une partie. L'opérateur du titulaire.")
async def api_draft_invoice(tenant_ctx: TenantContext, db_session: AsyncSession, order_id: uuid.UUID,
                            data: DraftIn | None = None) -> InvoiceOut:
    tenant_ctx.require("read")
    body = {k: v for k, v in msgspec.to_builtins(data or DraftIn()).items() if v is not None}
    from catalog import services as catalog

    await catalog.billable_order(db_session, tenant_ctx.tenant_id, order_id)  # another tenant's order: 404
    tenant_ctx.require("invoice")
    invoice = await invoices.draft_invoice(db_session, tenant_ctx.tenant_id, order_id, body, now=utcnow())
    return await _detail(db_session, invoice)


@post("/tenants/{tenant_id:uuid}/invoices/{invoice_id:uuid}/issue", tags=[TAG], status_code=200,
      responses=error_responses(403, 404, 422),
      summary="Émettre une facture ou un avoir : numéroté sans trou, définitif",
      description="Refusé (422, `errors.missing` liste ce qui manque) quand l'identité du titulaire est incomplète, "
                  "que l'acheteur n'a pas de SIRET, ou que sa structure exige un code service ou un numéro "
                  "d'engagement que la facture n'a pas (CCP TGD IX.6, Chorus Pro).")
async def api_issue(tenant_ctx: TenantContext, db_session: AsyncSession, invoice_id: uuid.UUID) -> InvoiceOut:
    await readable_invoice(db_session, tenant_ctx, invoice_id)
    tenant_ctx.require("invoice")
    invoice = await invoices.issue_invoice(db_session, tenant_ctx.tenant_id, invoice_id, now=utcnow())
    return await _detail(db_session, invoice)


@post("/tenants/{tenant_id:uuid}/invoices/{invoice_id:uuid}/credit-note", tags=[TAG], status_code=201,
      responses=error_responses(403, 404, 422),
      summary="Préparer l'avoir (brouillon) d'une facture émise, pour tout ou partie de ses lignes")
async def api_credit_note(tenant_ctx: TenantContext, db_session: AsyncSession, invoice_id: uuid.UUID,
                          data: CreditNoteIn) -> InvoiceOut:
    await readable_invoice(db_session, tenant_ctx, invoice_id)
    tenant_ctx.require("invoice")
    body = {k: v for k, v in msgspec.to_builtins(data).items() if v is not None}
    note = await invoices.draft_credit_note(db_session, tenant_ctx.tenant_id, invoice_id, body, now=utcnow())
    return await _detail(db_session, note)


@post("/tenants/{tenant_id:uuid}/invoices/{invoice_id:uuid}/paid", tags=[TAG], status_code=200,
      responses=error_responses(403, 404, 422), summary="Enregistrer le paiement d'une facture émise")
async def api_paid(tenant_ctx: TenantContext, db_session: AsyncSession, invoice_id: uuid.UUID,
                   data: PaidIn | None = None) -> InvoiceOut:
    await readable_invoice(db_session, tenant_ctx, invoice_id)
    tenant_ctx.require("invoice")
    invoice = await invoices.mark_paid(db_session, tenant_ctx.tenant_id, invoice_id,
                                       {"paid_on": data.paid_on if data else None}, now=utcnow())
    return await _detail(db_session, invoice)


class ReferencesIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    engagement_number: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    service_code: Annotated[str, msgspec.Meta(max_length=100)] | None = None


@put("/tenants/{tenant_id:uuid}/invoices/{invoice_id:uuid}/references", tags=[TAG],
     responses=error_responses(403, 404, 422),
     summary="Modifier le numéro d'engagement et le code service d'un brouillon",
     description="Refusé (422 par champ) quand la structure de l'acheteur exige la référence et qu'elle est vide "
                 "(CCP TGD IX.6, Chorus Pro), ou que le document est émis.")
async def api_references(tenant_ctx: TenantContext, db_session: AsyncSession, invoice_id: uuid.UUID,
                         data: ReferencesIn) -> InvoiceOut:
    await readable_invoice(db_session, tenant_ctx, invoice_id)
    tenant_ctx.require("invoice")
    body = {k: v for k, v in msgspec.to_builtins(data).items() if v is not None}
    invoice = await invoices.update_draft_references(db_session, tenant_ctx.tenant_id, invoice_id, body, now=utcnow())
    return await _detail(db_session, invoice)


@post("/tenants/{tenant_id:uuid}/invoices/{invoice_id:uuid}/discard", tags=[TAG], status_code=200,
      responses=error_responses(403, 404, 422), summary="Supprimer un brouillon (un document émis ne se supprime pas)")
async def api_discard(tenant_ctx: TenantContext, db_session: AsyncSession, invoice_id: uuid.UUID) -> dict[str, str]:
    await readable_invoice(db_session, tenant_ctx, invoice_id)
    tenant_ctx.require("invoice")
    await invoices.discard_draft(db_session, tenant_ctx.tenant_id, invoice_id)
    return {"discarded": str(invoice_id)}


@get("/tenants/{tenant_id:uuid}/billing-profile", tags=[TAG], responses=error_responses(403, 404),
     summary="Le profil de facturation de l'acheteur (code service, numéro d'engagement exigés ; CCP TGD IX.6)")
async def api_profile(tenant_ctx: TenantContext, db_session: AsyncSession) -> ProfileOut:
    tenant_ctx.require("read")
    return ProfileOut.of(await services.profile_of_tenant(db_session, tenant_ctx.tenant_id))


@put("/tenants/{tenant_id:uuid}/billing-profile", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Modifier le profil de facturation de l'acheteur (son administrateur)")
async def api_update_profile(tenant_ctx: TenantContext, db_session: AsyncSession, data: ProfileIn) -> ProfileOut:
    tenant_ctx.require("manage_profile")
    return ProfileOut.of(await services.update_profile(db_session, tenant_ctx.tenant_id, msgspec.to_builtins(data)))


@get("/tenants/{tenant_id:uuid}/issuers", tags=[TAG], responses=error_responses(403, 404),
     summary="L'identité du titulaire émetteur des factures, par accord-cadre auquel le bénéficiaire adhère")
async def api_issuers(tenant_ctx: TenantContext, db_session: AsyncSession) -> list[IssuerOut]:
    tenant_ctx.require("read")
    return [_issuer_out(a, i) for a, i in await services.issuers_of_tenant(db_session, tenant_ctx.tenant_id)]


@put("/tenants/{tenant_id:uuid}/issuers/{agreement_id:uuid}", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Renseigner l'identité du titulaire émetteur d'un accord-cadre (raison sociale, SIRET, TVA, adresse)")
async def api_update_issuer(tenant_ctx: TenantContext, db_session: AsyncSession, agreement_id: uuid.UUID,
                            data: IssuerIn) -> IssuerOut:
    agreement = await services.agreement_in_reach(db_session, tenant_ctx.tenant_id, agreement_id)
    tenant_ctx.require("manage_issuer")
    issuer = await services.update_issuer(db_session, tenant_ctx.tenant_id, agreement.id, msgspec.to_builtins(data))
    return _issuer_out(agreement, issuer)


api_handlers: list[Any] = [api_invoices, api_invoice, api_draft_invoice, api_issue, api_credit_note, api_paid,
                           api_discard, api_references, api_profile, api_update_profile, api_issuers, api_update_issuer]
