"""Continuous services invoiced per civil quarter (issue 15 §3; CCP TGD IX.4).

IX.4: « le paiement des prestations continues (téléassistance notamment) est effectué trimestriellement, à terme
civil échu - à savoir le 31 mars, 30 juin, 30 septembre et 31 décembre - et, en cas de trimestre incomplet, le
montant est calculé prorata temporis, sur la base de mois réputés être de trente jours ».

* A line is continuous by the BPU family of its article (``CONTINUOUS_FAMILIES``: maintenance; a « prestation »
  priced per year, month or quarter, such as the téléassistance or the infogérance). Its price is the order line's
  net amount per ``unit`` (``an`` by default, ``mois`` × 12, ``trimestre`` × 4).
* The service period runs from the day the order was issued to the end of the framework agreement (or for ever
  when it has none); only the quarters that ended before today (the tenant's) are invoiced: « à terme échu ».
* ``draft_quarter_invoices`` drafts one invoice per ended quarter not yet invoiced, one line per continuous order
  line, its amount by ``billing.rules.quarter_amount`` with the computation as the line's note. ``invoice_periods``
  is unique per order line and quarter: a quarter is never billed twice (a second run skips it, two concurrent runs
  are serialised on the billing profile and the constraint stops the second anyway).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of
from billing import invoice_rules, services
from billing.models import Invoice, InvoiceLine
from billing.periodic_models import InvoicePeriod
from billing.rules import Quarter, money, quarter_amount, quarters
from billing.services import BillingError
from catalog import services as catalog
from tenants import services as tenants

__all__ = ["CONTINUOUS_FAMILIES", "PERIODIC_UNITS", "annual_amount", "continuous_lines", "draft_due_quarters",
           "draft_quarter_invoices", "due_quarters", "free_credited_quarters", "period_invoice_ids",
           "periodic_positions"]

#: BPU families billed as continuous services (``catalog.rules.FAMILIES``).
CONTINUOUS_FAMILIES = ("maintenance", "service")
#: Per unit of the BPU price, how many make a year.
PERIODIC_UNITS = {"an": 1, "année": 1, "annee": 1, "mois": 12, "trimestre": 4}
#: Orders whose continuous services run (issued to the titulaire, not cancelled).
RUNNING_STATUSES = ("issued", "in_progress", "verified", "closed")


def _unit(line: catalog.BillableLine) -> str:
    return (line.unit or "").strip().lower()


def continuous_lines(order: catalog.BillableOrder) -> list[catalog.BillableLine]:
    """The order's continuous lines: maintenance (priced per year unless its unit says otherwise), and the
    « prestations » priced per period (an, mois, trimestre)."""
    return [x for x in order.lines if x.family == "maintenance"
            or (x.family in CONTINUOUS_FAMILIES and _unit(x) in PERIODIC_UNITS)]


def annual_amount(line: catalog.BillableLine) -> Decimal:
    """The line's price for a year HT, net of the order's discount."""
    amounts = invoice_rules.invoice_line_amounts(line.ordered, line.unit_price_ht, line.vat_rate,
                                                 line.discount_percent)
    return money(amounts.total_ht * PERIODIC_UNITS.get(_unit(line), 1))


def due_quarters(starts_on: dt.date, ends_on: dt.date | None, today: dt.date) -> list[Quarter]:
    """The quarters of the service period that ended before ``today`` (« à terme civil échu »)."""
    last = today - dt.timedelta(days=1)
    end = min(ends_on, last) if ends_on else last
    if end < starts_on:
        return []
    return [q for q in quarters(starts_on, end) if q.last_day < today]


async def periodic_positions(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID) -> set[int]:
    """The order's lines invoiced per quarter (their accepted quantities are not invoiced again as such)."""
    return set(await session.scalars(select(InvoicePeriod.order_position).where(
        InvoicePeriod.tenant_id == tenant_id, InvoicePeriod.order_id == order_id)))


async def period_invoice_ids(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID) -> set[uuid.UUID]:
    return set(await session.scalars(select(InvoicePeriod.invoice_id).where(
        InvoicePeriod.tenant_id == tenant_id, InvoicePeriod.order_id == order_id)))


async def draft_quarter_invoices(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, *,
                                 now: dt.datetime) -> list[Invoice]:
    """A draft per ended quarter not invoiced yet of the order's continuous lines (see the module's docstring);
    ``BillingError`` (``status``, ``lines``, ``period``) with nothing written when there is none."""
    order = await catalog.billable_order(session, tenant_id, order_id)
    profile = await services.lock_profile(session, tenant_id)
    if order.status not in RUNNING_STATUSES or order.issued_on is None:
        raise BillingError({"status": f"Le bon de commande {order.number} n'est pas émis : ses prestations continues "
                                      "ne courent pas encore (CCP TGD IX.4)."})
    lines = continuous_lines(order)
    if not lines:
        raise BillingError({"lines": f"Le bon de commande {order.number} n'a pas de prestation continue (maintenance, "
                                     "téléassistance, infogérance au forfait) à facturer par trimestre."})
    tenant = await tenants.get_tenant(session, tenant_id)
    agreement = await catalog.agreement_of_tenant(session, tenant_id, order.agreement_id)
    today = now.astimezone(ZoneInfo(tenant.timezone)).date()
    due = due_quarters(order.issued_on, agreement.ends_on, today)
    done = set((await session.execute(select(InvoicePeriod.order_position, InvoicePeriod.year, InvoicePeriod.quarter)
                                      .where(InvoicePeriod.tenant_id == tenant_id,
                                             InvoicePeriod.order_id == order.id))).all())
    made: list[Invoice] = []
    for q in due:
        todo = [x for x in lines if (x.position, q.year, q.number) not in done]
        if not todo:
            continue
        amounts = []
        for x in todo:
            amount, computation = quarter_amount(annual_amount(x), q)
            a = invoice_rules.invoice_line_amounts(Decimal("1.000"), amount, x.vat_rate)
            amounts.append((x, a, f"{q.label} (CCP TGD IX.4) : {computation}"))
        invoice = Invoice(
            tenant_id=tenant_id, kind="invoice", status="draft", agreement_id=order.agreement_id,
            agreement_reference=order.agreement_reference, order_id=order.id, order_number=order.number,
            engagement_number=order.number, service_code=profile.service_code, buyer_name=tenant.name[:200],
            buyer_siret=tenant.siret or "", verified_on=q.served_to, created_at=now, updated_at=now,
            created_by=str(actor_of(session).get("label") or "")[:320])
        session.add(invoice)
        await session.flush()
        for position, (x, a, note) in enumerate(amounts, start=1):
            session.add(InvoiceLine(
                tenant_id=tenant_id, invoice_id=invoice.id, position=position, order_position=x.position,
                article_code=x.article_code, label=f"{x.label} — {q.label}", unit="trimestre", quantity=a.quantity,
                unit_price_ht=a.unit_price_ht, discount_percent=None, gross_ht=a.gross_ht, refaction_ht=a.refaction_ht,
                total_ht=a.total_ht, vat_rate=a.vat_rate, total_vat=a.total_vat, total_ttc=a.total_ttc, note=note))
            session.add(InvoicePeriod(tenant_id=tenant_id, invoice_id=invoice.id, order_id=order.id,
                                      order_position=x.position, year=q.year, quarter=q.number,
                                      served_from=q.served_from, served_to=q.served_to, days=q.days))
        totals = invoice_rules.totals_of(a for _, a, _ in amounts)
        invoice.total_ht, invoice.total_vat, invoice.total_ttc = totals.total_ht, totals.total_vat, totals.total_ttc
        invoice.line_count = len(amounts)
        await session.flush()
        made.append(invoice)
    if not made:
        raise BillingError({"period": f"Aucun trimestre échu à facturer sur le bon de commande {order.number} : "
                                      "chaque trimestre terminé l'est déjà, et un trimestre se facture après son "
                                      "terme (CCP TGD IX.4 « à terme civil échu »)."})
    return made


async def free_credited_quarters(session: AsyncSession, note: Invoice) -> list[InvoicePeriod]:
    """A credit note issued on a quarter's invoice frees each quarter of a line it credits wholly (with the
    invoice's other issued credit notes): its ``invoice_periods`` row is deleted, so the quarter is due again and the
    next ``draft_quarter_invoices`` drafts it anew (the corrected invoice). A line credited in part keeps its
    quarter: invoicing it again would bill twice what was not credited."""
    if note.kind != "credit_note" or note.credited_invoice_id is None:
        return []
    periods = list(await session.scalars(select(InvoicePeriod).where(
        InvoicePeriod.tenant_id == note.tenant_id, InvoicePeriod.invoice_id == note.credited_invoice_id)))
    if not periods:
        return []
    billed = dict((await session.execute(select(InvoiceLine.order_position, func.sum(InvoiceLine.quantity)).where(
        InvoiceLine.tenant_id == note.tenant_id, InvoiceLine.invoice_id == note.credited_invoice_id)
        .group_by(InvoiceLine.order_position))).all())
    credited = dict((await session.execute(
        select(InvoiceLine.order_position, func.sum(InvoiceLine.quantity))
        .join(Invoice, (Invoice.tenant_id == InvoiceLine.tenant_id) & (Invoice.id == InvoiceLine.invoice_id))
        .where(Invoice.tenant_id == note.tenant_id, Invoice.credited_invoice_id == note.credited_invoice_id,
               (Invoice.status != "draft") | (Invoice.id == note.id))
        .group_by(InvoiceLine.order_position))).all())
    freed = [p for p in periods if Decimal(credited.get(p.order_position) or 0) >= Decimal(billed.get(p.order_position)
                                                                                          or 0) > 0]
    for period in freed:
        await session.delete(period)
    await session.flush()
    return freed


async def draft_due_quarters(session: AsyncSession, tenant_id: uuid.UUID, *, now: dt.datetime) -> list[Invoice]:
    """The quarterly job's pass over one tenant (``billing.tasks``): a draft per ended quarter not invoiced yet of
    every running order with continuous services. Each order is serialised on the billing profile and
    ``invoice_periods`` is unique per line and quarter, so a second pass, or a concurrent one, drafts nothing more."""
    made: list[Invoice] = []
    for _tenant, order_id, *_ in await catalog.orders_to_invoice(session, [tenant_id], limit=10_000,
                                                                  statuses=RUNNING_STATUSES):
        order = await catalog.billable_order(session, tenant_id, order_id)
        if order.issued_on is None or not continuous_lines(order):
            continue
        try:
            made += await draft_quarter_invoices(session, tenant_id, order_id, now=now)
        except BillingError:
            continue  # nothing due on this order: refused before anything is written
    return made
