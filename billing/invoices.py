"""Invoices and credit notes (issue 15 §3), with a database.

* ``draft_invoice``: the titulaire's operator drafts an invoice from a verified order (CCP TGD IX.4 « Le paiement
  des prestations est effectué après prononcé de la réception »; VII.3 the buyer's decisions): per order line, the
  quantity the buyer accepted less what other invoices took (issued or draft) plus what credit notes gave back —
  never more —, at the order line's price elements, less the réfaction decided (VII.3 « réception avec
  réfaction »), taken once. No number yet.
* ``issue_invoice``: refused before it is issued, with every missing element listed in French, when the issuer's
  identity is incomplete, the buyer has no SIRET, or the buyer's structure requires a service code or an engagement
  number the invoice lacks (IX.6 « les factures comportent le numéro CHORUS indiqué dans chacun des bons de
  commande »; Chorus Pro's per-structure settings). Otherwise numbered without gaps per issuer, series and year
  (``FA-2026-000001``), dated, its due date ``billing.rules.payment_due_on`` (IX.7: thirty days from the receipt,
  or from the end of execution when later), the seller's and buyer's identities copied, its EN 16931 XML built and
  checked against the schema, ``InvoiceIssued`` published (the buyer's administrators are e-mailed).
* An issued invoice is never edited: ``draft_credit_note`` makes a credit note (avoir, type code 381) referencing
  it (BT-25), for all of it or some quantities, positive amounts as EN 16931 wants; issued the same way.
* ``mark_paid``: the payment received (``paid_on``).

The tenant's invoicing is serialised on its billing profile's row (``billing.services.lock_profile``). Every change
is audited by ``app.db``'s flush hook (both tables are ``TenantOwned``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of, one_in_tenant
from app.mail import deliver_email
from app.outbox import Delivery, Subscriber, publish_on_commit
from billing import invoice_rules as rules
from billing import services
from billing.events import InvoiceIssued
from billing.models import Invoice, InvoiceCounter, InvoiceLine
from billing.rules import payment_due_on
from billing.services import BillingError
from catalog import services as catalog
from tenants import services as tenants

__all__ = [
    "MAX_LINES",
    "SUBSCRIBERS",
    "Invoiceable",
    "credited_quantities",
    "discard_draft",
    "draft_credit_note",
    "draft_invoice",
    "get_invoice_in_tenant",
    "invoiceable_lines",
    "invoices_of_order",
    "invoices_of_tenant",
    "issue_invoice",
    "issued_mail",
    "lines_of_invoice",
    "mark_paid",
    "notify_issued",
    "orders_to_invoice",
    "update_draft_references",
]

MAX_LINES = 500
TEXT_LIMITS = {"engagement_number": 50, "service_code": 100, "reason": 2000}
SIGNATURE = "\n-- \nCentrale — facturation\nMerci de rappeler le numéro de la facture dans tout échange.\n"
_ZERO_Q = Decimal("0.000")
_ZERO = Decimal("0.00")


def _today(tenant: Any, now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(tenant.timezone)).date()


def _actor(session: AsyncSession) -> str:
    return str(actor_of(session).get("label") or "")[:320]


# --------------------------------------------------------------------------- reading


async def get_invoice_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID, *,
                                for_update: bool = False) -> Invoice:
    """The tenant's invoice; ``NotFound`` otherwise (another tenant's id reads like an unknown one)."""
    invoice: Invoice = await one_in_tenant(session, Invoice, tenant_id, invoice_id, "facture", for_update=for_update)
    return invoice


async def lines_of_invoice(session: AsyncSession, invoice: Invoice) -> list[InvoiceLine]:
    return list(await session.scalars(select(InvoiceLine).where(
        InvoiceLine.tenant_id == invoice.tenant_id, InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.position)))


async def invoices_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, *, drafts: bool, status: str = "",
                             page: int = 1, per_page: int = 50) -> tuple[list[Invoice], int]:
    """A page of the tenant's invoices and credit notes, newest first; ``drafts``: whether drafts are shown (the
    titulaire's working copies: only to whom invoices)."""
    where = [Invoice.tenant_id == tenant_id]
    if not drafts:
        where.append(Invoice.status != "draft")
    if status:
        where.append(Invoice.status == status)
    total = await session.scalar(select(func.count()).select_from(Invoice).where(*where)) or 0
    rows = await session.scalars(select(Invoice).where(*where).order_by(
        Invoice.created_at.desc(), Invoice.id).offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


async def invoices_of_order(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID) -> list[Invoice]:
    return list(await session.scalars(select(Invoice).where(Invoice.tenant_id == tenant_id,
                                                            Invoice.order_id == order_id)
                                      .order_by(Invoice.created_at, Invoice.id)))


@dataclass(frozen=True)
class Invoiceable:
    """One order line and what remains to invoice of it."""

    line: catalog.BillableLine
    invoiced: Decimal
    refaction_invoiced: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(self.line.accepted - self.invoiced, _ZERO_Q)

    @property
    def refaction_remaining(self) -> Decimal:
        return max(self.line.refaction_ht - self.refaction_invoiced, _ZERO)


async def _taken(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID,
                 except_invoice: uuid.UUID | None = None, quarterly: Collection[uuid.UUID] = ()
                 ) -> dict[int, tuple[Decimal, Decimal]]:
    """Per order line position: (quantity, réfaction) taken by the order's invoices (issued, paid or draft) less
    what its issued credit notes gave back; the ``quarterly`` invoices (IX.4) take none."""
    sign = func.sum(InvoiceLine.quantity)
    rows = (await session.execute(
        select(Invoice.kind, InvoiceLine.order_position, sign, func.sum(InvoiceLine.refaction_ht))
        .join(Invoice, (Invoice.tenant_id == InvoiceLine.tenant_id) & (Invoice.id == InvoiceLine.invoice_id))
        .where(Invoice.tenant_id == tenant_id, Invoice.order_id == order_id,
               (Invoice.kind == "invoice") | (Invoice.status != "draft"),
               *([Invoice.id != except_invoice] if except_invoice else []),
               *([Invoice.id.not_in(list(quarterly))] if quarterly else []))
        .group_by(Invoice.kind, InvoiceLine.order_position))).all()
    taken: dict[int, tuple[Decimal, Decimal]] = {}
    for kind, position, quantity, refaction in rows:
        q, r = taken.get(position, (_ZERO_Q, _ZERO))
        factor = 1 if kind == "invoice" else -1
        taken[position] = (q + factor * Decimal(quantity), r + factor * Decimal(refaction))
    return taken


async def invoiceable_lines(session: AsyncSession, order: catalog.BillableOrder,
                            except_invoice: uuid.UUID | None = None) -> list[Invoiceable]:
    from billing import periodic

    # The lines invoiced per quarter (CCP TGD IX.4) are not invoiced again by their accepted quantity, and the
    # quarters' invoices take none of it.
    quarterly = await periodic.periodic_positions(session, order.tenant_id, order.id)
    taken = await _taken(session, order.tenant_id, order.id, except_invoice,
                         await periodic.period_invoice_ids(session, order.tenant_id, order.id))
    return [Invoiceable(line, line.accepted, line.refaction_ht) if line.position in quarterly
            else Invoiceable(line, *taken.get(line.position, (_ZERO_Q, _ZERO))) for line in order.lines]


async def credited_quantities(session: AsyncSession, invoice: Invoice,
                              except_note: uuid.UUID | None = None) -> dict[int, tuple[Decimal, Decimal]]:
    """Per line position of ``invoice``: (quantity, réfaction) its credit notes (issued or draft) took."""
    rows = (await session.execute(
        select(InvoiceLine.order_position, func.sum(InvoiceLine.quantity), func.sum(InvoiceLine.refaction_ht))
        .join(Invoice, (Invoice.tenant_id == InvoiceLine.tenant_id) & (Invoice.id == InvoiceLine.invoice_id))
        .where(Invoice.tenant_id == invoice.tenant_id, Invoice.credited_invoice_id == invoice.id,
               *([Invoice.id != except_note] if except_note else []))
        .group_by(InvoiceLine.order_position))).all()
    return {int(p): (Decimal(q), Decimal(r)) for p, q, r in rows}


async def orders_to_invoice(session: AsyncSession, tenant_ids: Collection[uuid.UUID],
                            limit: int = 200) -> list[tuple[Any, ...]]:
    """The verified orders of these tenants that no invoice (issued or draft) covers yet: ``(tenant_id, order_id,
    number, agreement reference, order date)``, oldest first (the operator's « à facturer »)."""
    found = await catalog.orders_to_invoice(session, tenant_ids, limit=limit)
    if not found:
        return []
    covered = set((await session.execute(select(Invoice.tenant_id, Invoice.order_id).where(
        Invoice.tenant_id.in_(list(tenant_ids)), Invoice.kind == "invoice"))).all())
    return [row for row in found if (row[0], row[1]) not in covered]


# --------------------------------------------------------------------------- parsing


def _text(data: Mapping[str, Any], key: str, label: str, errors: dict[str, str]) -> str | None:
    """The field's text (None when not given), bounded."""
    if key not in data or data[key] is None:
        return None
    value = data[key]
    if not isinstance(value, str):
        errors[key] = f"{label} : texte attendu."
        return None
    text = value.strip()
    if len(text) > TEXT_LIMITS[key]:
        errors[key] = f"{label} : {TEXT_LIMITS[key]} caractères au plus."
        return None
    return text


def _wanted(raw_lines: Any, known: Mapping[int, Decimal], errors: dict[str, str],
            what: str) -> dict[int, Decimal] | None:
    """``[{"position", "quantity"}]`` as {position: quantity}, each at most what ``known`` allows; None: all."""
    if raw_lines is None:
        return None
    if not isinstance(raw_lines, Sequence) or isinstance(raw_lines, str) or not raw_lines:
        errors["lines"] = f"Au moins une ligne (position et quantité) est attendue sur {what}."
        return {}
    if len(raw_lines) > MAX_LINES:
        errors["lines"] = f"{MAX_LINES} lignes au plus."
        return {}
    wanted: dict[int, Decimal] = {}
    for n, raw in enumerate(raw_lines, start=1):
        position = raw.get("position") if isinstance(raw, Mapping) else None
        try:
            position = int(str(position).strip()) if not isinstance(position, bool) else None
        except (TypeError, ValueError):
            position = None
        if position is None or position not in known:
            errors[f"lines.{n}.position"] = f"Ligne {n} : position inconnue."
            continue
        if position in wanted:
            errors[f"lines.{n}.position"] = f"Ligne {position} donnée deux fois."
            continue
        try:
            quantity = rules.parse_quantity(raw.get("quantity"))  # type: ignore[union-attr]
        except rules.InvoiceRuleError as exc:
            errors[f"lines.{position}.quantity"] = f"Ligne {position} : {exc}"
            continue
        if quantity > known[position]:
            errors[f"lines.{position}.quantity"] = (f"Ligne {position} : {_fmt(quantity)} pour {_fmt(known[position])} "
                                                    "au plus.")
            continue
        wanted[position] = quantity
    return wanted


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f").replace(".", ",")


# --------------------------------------------------------------------------- the draft


def _write_lines(session: AsyncSession, invoice: Invoice, made: list[tuple[Any, rules.InvoiceLineAmounts]]) -> None:
    for position, (source, a) in enumerate(made, start=1):
        session.add(InvoiceLine(
            tenant_id=invoice.tenant_id, invoice_id=invoice.id, position=position,
            order_position=source.order_position, article_code=source.article_code, label=source.label,
            unit=source.unit, quantity=a.quantity, unit_price_ht=a.unit_price_ht, discount_percent=a.discount_percent,
            gross_ht=a.gross_ht, refaction_ht=a.refaction_ht, total_ht=a.total_ht, vat_rate=a.vat_rate,
            total_vat=a.total_vat, total_ttc=a.total_ttc, note=source.note))
    totals = rules.totals_of(a for _, a in made)
    invoice.total_ht, invoice.total_vat, invoice.total_ttc = totals.total_ht, totals.total_vat, totals.total_ttc
    invoice.line_count = len(made)


@dataclass(frozen=True)
class _Source:
    order_position: int
    article_code: str
    label: str
    unit: str
    note: str = ""


async def draft_invoice(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, data: Mapping[str, Any], *,
                        now: dt.datetime) -> Invoice:
    """A draft invoice of a verified order (``data``: ``lines``? ``[{"position", "quantity"}]`` — by default every
    line's remaining accepted quantity —, ``engagement_number``? — the order's number by default —,
    ``service_code``? — the buyer's profile's by default). Errors by field (``status``, ``lines``,
    ``lines.N.position``, ``lines.P.quantity``, …); nothing written on any."""
    order = await catalog.billable_order(session, tenant_id, order_id)
    profile = await services.lock_profile(session, tenant_id)
    errors: dict[str, str] = {}
    if not order.invoiceable:
        raise BillingError({"status": f"Le bon de commande {order.number} n'est pas vérifié : une facture se fait "
                                      "après la décision de réception de l'acheteur sur ses livraisons (CCP TGD "
                                      "IX.4 et VII.3)."})
    lines = {x.line.position: x for x in await invoiceable_lines(session, order)}
    left = {p: x.remaining for p, x in lines.items() if x.remaining > 0 or x.refaction_remaining > 0}
    if not left:
        raise BillingError({"lines": f"Tout ce que l'acheteur a reçu du bon de commande {order.number} est déjà "
                                     "facturé."})
    wanted = _wanted(data.get("lines"), {p: x.remaining for p, x in lines.items()}, errors, "la facture")
    engagement = _text(data, "engagement_number", "Numéro d'engagement", errors)
    service_code = _text(data, "service_code", "Code service", errors)
    if errors:
        raise BillingError(errors)
    if wanted is None:
        wanted = {p: q for p, q in left.items() if q > 0}
    made: list[tuple[Any, rules.InvoiceLineAmounts]] = []
    for position in sorted(wanted):
        x = lines[position]
        # The réfaction is deducted once, with the first quantity invoiced after it was decided.
        try:
            amounts = rules.invoice_line_amounts(wanted[position], x.line.unit_price_ht, x.line.vat_rate,
                                                 x.line.discount_percent, x.refaction_remaining)
        except rules.InvoiceRuleError as exc:
            errors[f"lines.{position}.quantity"] = f"Ligne {position} : {exc}"
            continue
        note = "Réfaction décidée par l'acheteur (CCP TGD VII.3)" if amounts.refaction_ht else ""
        made.append((_Source(position, x.line.article_code, x.line.label, x.line.unit, note), amounts))
    if errors:
        raise BillingError(errors)
    if not made:
        raise BillingError({"lines": "Au moins une ligne à facturer est attendue."})
    tenant = await tenants.get_tenant(session, tenant_id)
    invoice = Invoice(
        tenant_id=tenant_id, kind="invoice", status="draft", agreement_id=order.agreement_id,
        agreement_reference=order.agreement_reference, order_id=order.id, order_number=order.number,
        engagement_number=order.number if engagement is None else engagement,
        service_code=profile.service_code if service_code is None else service_code, buyer_name=tenant.name[:200],
        buyer_siret=tenant.siret or "", verified_on=order.verified_on, created_at=now, updated_at=now,
        created_by=_actor(session))
    session.add(invoice)
    await session.flush()
    _write_lines(session, invoice, made)
    await session.flush()
    from billing import acomptes

    await acomptes.deduct_acomptes(session, invoice)  # CCP TGD IX.5: the balance, the acomptes deducted
    return invoice


async def update_draft_references(session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID,
                                  data: Mapping[str, Any], *, now: dt.datetime) -> Invoice:
    """The draft's engagement number (BT-13) and service code (BT-10) edited before it is issued, each when given;
    refused, as its issue would be, when the buyer's structure requires one and it is left empty (CCP TGD IX.6;
    Chorus Pro). An empty service code on a draft means its profile's. Errors by field; nothing written on any."""
    profile = await services.lock_profile(session, tenant_id)
    invoice = await get_invoice_in_tenant(session, tenant_id, invoice_id, for_update=True)
    if invoice.status != "draft":
        raise BillingError({"status": f"{rules.KINDS[invoice.kind]} {invoice.number} est émise : un document émis ne "
                                      "se modifie plus."})
    errors: dict[str, str] = {}
    engagement = _text(data, "engagement_number", "Numéro d'engagement", errors)
    service_code = _text(data, "service_code", "Code service", errors)
    if engagement is not None and not engagement and profile.requires_engagement:
        errors["engagement_number"] = ("Numéro d'engagement : exigé par la structure de l'acheteur (CCP TGD IX.6 : « les "
                                       "factures comportent le numéro CHORUS indiqué dans chacun des bons de "
                                       "commande »).")
    if service_code is not None and not service_code and profile.requires_service_code and not profile.service_code:
        errors["service_code"] = ("Code service : exigé par la structure de l'acheteur (Chorus Pro), et son profil de "
                                  "facturation n'en a pas.")
    if errors:
        raise BillingError(errors)
    if engagement is not None:
        invoice.engagement_number = engagement
    if service_code is not None:
        invoice.service_code = service_code
    invoice.updated_at = now
    await session.flush()
    return invoice


async def discard_draft(session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice:
    """A draft deleted (its quantities invoiceable again); an issued document is refused (a credit note corrects
    it). The deletion is in the audit log."""
    await services.lock_profile(session, tenant_id)
    invoice = await get_invoice_in_tenant(session, tenant_id, invoice_id, for_update=True)
    if invoice.status != "draft":
        raise BillingError({"status": f"{rules.KINDS[invoice.kind]} {invoice.number} est émise : elle ne se supprime "
                                      "pas, un avoir la corrige."})
    for line in await lines_of_invoice(session, invoice):
        await session.delete(line)
    await session.flush()  # the lines first: the invoice's foreign key would cascade them behind the ORM's back
    await session.delete(invoice)
    await session.flush()
    return invoice


# --------------------------------------------------------------------------- the credit note


async def draft_credit_note(session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID,
                            data: Mapping[str, Any], *, now: dt.datetime) -> Invoice:
    """A draft credit note (avoir) of an issued invoice: ``reason`` (required), ``lines``? ``[{"position",
    "quantity"}]`` (the invoice's line positions; by default all that its other credit notes did not credit). Each
    line at the invoice line's price elements, its réfaction in proportion (the last quantity takes what is left of
    it). Errors by field; nothing written on any."""
    await services.lock_profile(session, tenant_id)
    invoice = await get_invoice_in_tenant(session, tenant_id, invoice_id, for_update=True)
    if invoice.kind != "invoice" or invoice.status == "draft":
        raise BillingError({"status": "Un avoir corrige une facture émise : "
                                      + ("un avoir ne se corrige pas par un avoir." if invoice.kind == "credit_note"
                                         else "une facture d'acompte ne se crédite pas dans Centrale, elle se déduit "
                                              "de la facture de solde (CCP TGD IX.5)." if invoice.kind == "prepayment"
                                         else "un brouillon se modifie ou se supprime.")})
    from billing import acomptes

    if await acomptes.deducted_acomptes(session, invoice):
        raise BillingError({"status": f"La facture {invoice.number} déduit des acomptes : son avoir n'est pas encore "
                                      "pris en charge par Centrale (faites-le hors de Centrale)."})
    errors: dict[str, str] = {}
    reason = _text(data, "reason", "Motif de l'avoir", errors)
    if not reason and "reason" not in errors:
        errors["reason"] = "Motif de l'avoir : obligatoire (il figure sur l'avoir)."
    source = {x.position: x for x in await lines_of_invoice(session, invoice)}
    credited = await credited_quantities(session, invoice)
    left = {}
    for position, x in source.items():
        q, _r = credited.get(x.order_position, (_ZERO_Q, _ZERO))
        left[position] = max(x.quantity - q, _ZERO_Q)
    wanted = _wanted(data.get("lines"), left, errors, "l'avoir")
    if errors:
        raise BillingError(errors)
    if wanted is None:
        wanted = {p: q for p, q in left.items() if q > 0}
    if not wanted:
        raise BillingError({"lines": f"La facture {invoice.number} est entièrement créditée."})
    made: list[tuple[Any, rules.InvoiceLineAmounts]] = []
    for position in sorted(wanted):
        x = source[position]
        _q, r = credited.get(x.order_position, (_ZERO_Q, _ZERO))
        if wanted[position] == left[position]:
            refaction = x.refaction_ht - r
        else:
            refaction = (x.refaction_ht * wanted[position] / x.quantity).quantize(Decimal("0.01"))
        amounts = rules.invoice_line_amounts(wanted[position], x.unit_price_ht, x.vat_rate, x.discount_percent,
                                             max(refaction, _ZERO))
        made.append((_Source(x.order_position, x.article_code, x.label, x.unit, x.note), amounts))
    note = Invoice(
        tenant_id=tenant_id, kind="credit_note", status="draft", agreement_id=invoice.agreement_id,
        agreement_reference=invoice.agreement_reference, order_id=invoice.order_id, order_number=invoice.order_number,
        engagement_number=invoice.engagement_number, service_code=invoice.service_code, buyer_name=invoice.buyer_name,
        buyer_siret=invoice.buyer_siret, verified_on=invoice.verified_on, credited_invoice_id=invoice.id,
        reason=reason or "", created_at=now, updated_at=now, created_by=_actor(session))
    session.add(note)
    await session.flush()
    _write_lines(session, note, made)
    await session.flush()
    return note


# --------------------------------------------------------------------------- issuing


async def _next_number(session: AsyncSession, issuer_siret: str, kind: str, year: int) -> str:
    """Gap-free per issuer, series and year, the way ``catalog`` numbers its orders: the counter row created if
    missing with ``INSERT … ON CONFLICT DO NOTHING``, then taken with ``UPDATE … RETURNING`` (a row lock on
    PostgreSQL, SQLite's single writer) in the issuing transaction — a rolled-back issue gives its number back."""
    series = rules.SERIES[kind]
    make = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(make(InvoiceCounter).values(id=uuid.uuid4(), issuer_siret=issuer_siret, series=series,
                                                      year=year, last=0)
                          .on_conflict_do_nothing(index_elements=["issuer_siret", "series", "year"]))
    taken = await session.scalar(
        update(InvoiceCounter).where(InvoiceCounter.issuer_siret == issuer_siret, InvoiceCounter.series == series,
                                     InvoiceCounter.year == year)
        .values(last=InvoiceCounter.last + 1).returning(InvoiceCounter.last)
        .execution_options(synchronize_session=False))
    if taken is None:  # pragma: no cover
        raise RuntimeError("invoice counter unavailable")
    return rules.format_number(kind, year, int(taken))


async def issue_invoice(session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID, *,
                        now: dt.datetime) -> Invoice:
    """The draft issued (see the module's docstring); ``BillingError`` ``{"missing": …}`` listing every missing
    element, or ``status`` / ``lines``, and nothing changed."""
    profile = await services.lock_profile(session, tenant_id)
    invoice = await get_invoice_in_tenant(session, tenant_id, invoice_id, for_update=True)
    if invoice.status != "draft":
        raise BillingError({"status": f"{rules.KINDS[invoice.kind]} {invoice.number} est déjà émise : un document émis "
                                      "ne se modifie plus."})
    tenant = await tenants.get_tenant(session, tenant_id)
    issuer = await services.issuer_of_agreement(session, invoice.agreement_id)
    service_code = invoice.service_code or profile.service_code
    missing = [f"l'identité du titulaire émetteur : {label.lower()}" for label in services.issuer_missing(issuer)]
    if not tenant.siret:
        missing.append("le SIRET de l'acheteur (Chorus Pro identifie la structure publique par son SIRET)")
    if profile.requires_service_code and not service_code:
        missing.append("le code service, exigé par la structure de l'acheteur (Chorus Pro ; renseignez-le dans son "
                       "profil de facturation)")
    if profile.requires_engagement and not invoice.engagement_number:
        missing.append("le numéro d'engagement, exigé par la structure de l'acheteur (CCP TGD IX.6 : « les factures "
                       "comportent le numéro CHORUS indiqué dans chacun des bons de commande »)")
    if missing:
        raise BillingError({"missing": f"{rules.KINDS[invoice.kind]} refusée avant émission, il manque : "
                                       + " ; ".join(missing) + "."})
    assert issuer is not None
    lines = await lines_of_invoice(session, invoice)
    if invoice.kind == "prepayment":  # an acompte (CCP TGD IX.5): still within its ceiling
        from billing import acomptes

        await acomptes.check_acompte_at_issue(session, invoice, now)
    await _check_still_within(session, invoice, lines)
    today = _today(tenant, now)
    invoice.number = await _next_number(session, issuer.siret, invoice.kind, today.year)
    invoice.status = "issued"
    invoice.issue_date = today
    # CCP TGD IX.7: thirty days from the receipt of the invoice (its issue, at the earliest) or from the end of
    # execution, the day the buyer certified the services (VII), when later.
    invoice.due_date = payment_due_on(today, invoice.verified_on)
    invoice.service_code = service_code
    invoice.buyer_name, invoice.buyer_siret = tenant.name[:200], tenant.siret or ""
    invoice.buyer_address, invoice.buyer_postal_code = tenant.address[:300], tenant.postal_code[:10]
    invoice.buyer_city = tenant.city[:120]
    invoice.seller_name, invoice.seller_siret = issuer.legal_name, issuer.siret
    invoice.seller_vat_number, invoice.seller_address = issuer.vat_number, issuer.address
    invoice.seller_postal_code, invoice.seller_city = issuer.postal_code, issuer.city
    invoice.seller_country_code = issuer.country_code or "FR"
    invoice.issued_at, invoice.issued_by, invoice.updated_at = now, _actor(session), now
    # The XML that will leave with it is built and checked now: a document the buyer's platform would refuse is
    # never issued (``facturx.xml_check_xsd``).
    from billing import documents

    credited = await get_invoice_in_tenant(session, tenant_id, invoice.credited_invoice_id) \
        if invoice.credited_invoice_id else None
    # CCP TGD VIII.1: the accepted penalties of the tenant and agreement are deducted from this invoice.
    from billing import penalties

    allowances = await penalties.deduct_on_invoice(session, invoice, lines, now=now)
    # CCTP CPAM 5-7: the ADVENIR subsidies recorded on the order, deducted after the penalties.
    from billing import advenir

    allowances += await advenir.deduct_on_invoice(session, invoice, lines, allowances, now=now)
    from billing import acomptes, periodic

    await periodic.free_credited_quarters(session, invoice)  # a quarter credited wholly is due again (IX.4)

    documents.invoice_xml(documents.InvoiceSheet(invoice, lines, credited, allowances,
                                                 await acomptes.deducted_acomptes(session, invoice)))
    publish_on_commit(session, InvoiceIssued(tenant_id=tenant_id, invoice_id=invoice.id, number=invoice.number,
                                             kind=invoice.kind, issued_at=now))
    await session.flush()
    return invoice


async def _check_still_within(session: AsyncSession, invoice: Invoice, lines: Sequence[InvoiceLine]) -> None:
    """Nothing issued beyond what the buyer accepted (an invoice) or what the invoice holds (a credit note), whatever
    happened since the draft (another invoice issued, a credit note)."""
    from billing import periodic

    if invoice.kind == "prepayment":
        return  # an acompte (CCP TGD IX.5) takes no quantity: ``acomptes.check_acompte_at_issue``
    if invoice.kind == "invoice" and invoice.id in await periodic.period_invoice_ids(session, invoice.tenant_id,
                                                                                     invoice.order_id):
        return  # a quarter of continuous services (IX.4): ``invoice_periods`` keeps it once
    if invoice.kind == "invoice":
        order = await catalog.billable_order(session, invoice.tenant_id, invoice.order_id)
        left = {x.line.position: x.remaining for x in await invoiceable_lines(session, order, except_invoice=invoice.id)}
    else:
        assert invoice.credited_invoice_id is not None
        credited = await get_invoice_in_tenant(session, invoice.tenant_id, invoice.credited_invoice_id)
        taken = await credited_quantities(session, credited, except_note=invoice.id)
        left = {x.order_position: x.quantity - taken.get(x.order_position, (_ZERO_Q, _ZERO))[0]
                for x in await lines_of_invoice(session, credited)}
    over = [f"ligne {x.position} ({_fmt(x.quantity)} pour {_fmt(max(left.get(x.order_position, _ZERO_Q), _ZERO_Q))})"
            for x in lines if x.quantity > left.get(x.order_position, _ZERO_Q)]
    if over:
        raise BillingError({"lines": "Des quantités dépassent ce qui reste à " + (
            "facturer de ce que l'acheteur a reçu" if invoice.kind == "invoice" else "créditer de la facture")
            + " : " + ", ".join(over) + ". Supprimez ce brouillon et refaites-le."})


async def mark_paid(session: AsyncSession, tenant_id: uuid.UUID, invoice_id: uuid.UUID, data: Mapping[str, Any], *,
                    now: dt.datetime) -> Invoice:
    """The payment of an issued invoice received on ``paid_on`` (default today; not in the future, not before its
    issue). Errors ``status``, ``paid_on``; nothing written on any."""
    invoice = await get_invoice_in_tenant(session, tenant_id, invoice_id, for_update=True)
    if invoice.kind == "credit_note" or invoice.status != "issued":
        raise BillingError({"status": "Seule une facture émise et non payée se marque payée."
                            if invoice.kind != "credit_note" else "Un avoir ne se paie pas : il se déduit."})
    tenant = await tenants.get_tenant(session, tenant_id)
    today = _today(tenant, now)
    raw = data.get("paid_on")
    day = today
    if raw not in (None, ""):
        try:
            day = raw if isinstance(raw, dt.date) else dt.date.fromisoformat(str(raw).strip()[:10])
        except ValueError:
            raise BillingError({"paid_on": "Date du paiement : une date (AAAA-MM-JJ) est attendue."}) from None
    assert invoice.issue_date is not None
    if day > today:
        raise BillingError({"paid_on": f"Date du paiement : la date ne peut pas être dans le futur ({day:%d/%m/%Y})."})
    if day < invoice.issue_date:
        raise BillingError({"paid_on": f"Date du paiement : la date ne peut pas précéder l'émission de la facture "
                                       f"({invoice.issue_date:%d/%m/%Y})."})
    invoice.status, invoice.paid_on, invoice.updated_at = "paid", day, now
    await session.flush()
    return invoice


# --------------------------------------------------------------------------- the e-mail


def _money(value: Decimal) -> str:
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + " €"


async def issued_mail(session: AsyncSession, invoice: Invoice) -> tuple[tuple[str, ...], str, str]:
    """The issued invoice (or credit note) to the buyer's administrators: (to, subject, body)."""
    to = tuple(await tenants.member_emails(session, invoice.tenant_id, ["admin"]))
    what = rules.KINDS[invoice.kind]
    article = "la facture" if invoice.kind == "invoice" else "l'avoir"
    lines = ["Bonjour,", "",
             f"{invoice.seller_name} a émis {article} "
             f"{invoice.number} du {invoice.issue_date:%d/%m/%Y}, au titre du bon de commande {invoice.order_number} "
             f"(marché {invoice.agreement_reference}).", "",
             f"Montant HT : {_money(invoice.total_ht)} ; TVA : {_money(invoice.total_vat)} ; "
             f"TTC : {_money(invoice.total_ttc)}."]
    if invoice.kind == "invoice":
        lines.append(f"Échéance : {invoice.due_date:%d/%m/%Y} (CCP TGD IX.7 : paiement dans un délai de trente jours "
                     "au plus).")
    else:
        lines.append(f"Motif : {invoice.reason}")
    lines += ["", f"{what} au format Factur-X (PDF/A-3 avec sa facture électronique EN 16931) : Centrale › Factures "
                  f"/t/{invoice.tenant_id}/factures/{invoice.id}"]
    return to, f"[{invoice.number}] {what} émise", "\n".join(lines) + SIGNATURE


async def notify_issued(delivery: Delivery, event: InvoiceIssued) -> None:
    """The e-mail of an issued invoice, recorded once per event with its delivery (``deliver_email`` in the
    delivery's transaction: a redelivered event sends nothing twice)."""
    invoice = await delivery.session.scalar(select(Invoice).where(Invoice.tenant_id == event.tenant_id,
                                                                  Invoice.id == event.invoice_id))
    if invoice is None or invoice.status == "draft":
        return
    to, subject, body = await issued_mail(delivery.session, invoice)
    for address in to:
        await deliver_email(delivery.session, delivery.settings, to=address, subject=subject, body=body,
                            tenant_id=event.tenant_id)


SUBSCRIBERS: list[Subscriber[Any]] = [Subscriber(InvoiceIssued, "billing.invoice-issued-mail", notify_issued)]
