"""The delivery slip and the quote as documents (issue 14 §2, §3), in PDF and OpenDocument text: CCP TGD X.7
« Les livrables doivent être fournis au format OpenDocument (ISO 26300) ou au format PDF avec sa version
OpenDocument ». Both are a ``catalog.order_documents.Layout`` written by the order's own writers.

* The « bordereau de mise à disposition » (CCP TGD VII.1: it « comporte notamment les indications suivantes :
  l'identification de la commande, du marché et de son titulaire ; la date de mise à disposition ; le détail des
  biens et/ou services concernés »): the order and the agreement, the slip's number and date, per line the
  quantities ordered and delivered and, once decided (VII.3), the decision with its accepted and rejected
  quantities, the réfaction's amount or the reserves' deadline; the decision's last day; the space for the
  countersignature VII.1 asks of the administration's representative.
* The quote (CCTP CANUT 9; CCTP CAIH 2.1.17 for a repair: « Ce devis doit comporter distinctement le prix des pièces
  ainsi que le prix de la main d'œuvre »): the request, the lines priced on the BPU with their discount (CAIH 5),
  parts and labour in two tables with their totals for a repair, the totals HT / TVA / TTC, and the contractual
  milestones of its page (CPAM 5-1-4, 5-2, 5-3-1). A quote the titulaire has not priced has no document: a 422
  on ``state`` says so, like any step its state refuses.

Reading a document is reading its page: the tenant's slip or quote (``NotFound`` otherwise); no audit row, as for
the order's documents.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from litestar import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from catalog import deliveries, orders, quotes
from catalog import quote_rules as rules
from catalog.deadlines import DECISION_KINDS, Deadline
from catalog.models import Delivery, DeliveryLine, PurchaseOrder, Quote, QuoteLine
from catalog.order_documents import (
    COLUMNS,
    LINE_WIDTHS,
    Layout,
    agreement_and_seller,
    buyer_label,
    day,
    layout_response,
    line_rows,
    money,
    quantity,
    total_pairs,
)
from catalog.order_rules import STATUSES
from tenants import services as tenants
from tenants.models import Tenant

__all__ = ["QuoteSheet", "SlipSheet", "load_quote", "load_slip", "quote_layout", "quote_response", "slip_layout",
           "slip_response"]

#: The delay of each milestone (``catalog.quote_rules.milestones``: CPAM 5-1-4, 5-2, 5-3-1).
MILESTONE_DELAYS = {"quote": "14 jours ouvrables après la visite de site",
                    "works": "21 jours ouvrables après l'acceptation du devis",
                    "reception": "14 jours calendaires après la mise en service"}
#: ``catalog.quote_rules.Milestone.status`` as the quote's page says it.
MILESTONE_STATUSES = {"waiting": "pas encore commencé", "pending": "en cours", "overdue": "en retard",
                      "late": "fait hors délai", "done": "fait dans le délai"}


@dataclass(frozen=True)
class _Parties:
    buyer: Tenant
    seller: str
    agreement_title: str
    names: dict[uuid.UUID, str]
    zone: Any

    def who(self, user_id: uuid.UUID | None) -> str:
        return self.names.get(user_id, "") if user_id else ""

    def on(self, moment: dt.datetime | None, user_id: uuid.UUID | None = None) -> str:
        """« le 05/12/2026 par Anne » in the tenant's time zone (SQLite's naive datetimes are UTC)."""
        if moment is None:
            return ""
        local = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(self.zone)
        who = self.who(user_id)
        return f"le {local:%d/%m/%Y}" + (f" par {who}" if who else "")


async def _parties(session: AsyncSession, tenant_id: uuid.UUID, agreement_id: uuid.UUID) -> _Parties:
    buyer = await session.get(Tenant, tenant_id)
    assert buyer is not None
    agreement, seller = await agreement_and_seller(session, agreement_id)
    return _Parties(buyer=buyer, seller=seller, agreement_title=agreement.title if agreement is not None else "",
                    names=await tenants.member_names(session, tenant_id),
                    zone=(await quotes.tenant_calendar(session, tenant_id)).zone)


def _agreement(reference: str, title: str) -> tuple[str, str]:
    return "Références du marché", f"{reference} — {title}".strip(" —")


# --------------------------------------------------------------------------- the delivery slip (CCP TGD VII.1)


@dataclass(frozen=True)
class SlipSheet:
    order: PurchaseOrder
    slip: Delivery
    lines: list[DeliveryLine]
    #: The order line's quantity in force, by position.
    ordered: dict[int, Decimal]
    deadline: Deadline
    overdue: bool
    parties: _Parties


async def load_slip(session: AsyncSession, tenant_id: uuid.UUID, delivery_id: uuid.UUID, *,
                    order_id: uuid.UUID | None = None, now: dt.datetime | None = None) -> SlipSheet:
    """The tenant's slip (of ``order_id`` when given; ``NotFound`` otherwise) with what its document says at ``now``
    (the current time by default; the reversibility archive gives the slip's latest step)."""
    slip = await deliveries.get_delivery_in_tenant(session, tenant_id, delivery_id, order_id=order_id)
    order = await orders.get_order_in_tenant(session, tenant_id, slip.order_id)
    calendar = await quotes.tenant_calendar(session, tenant_id)
    return SlipSheet(order=order, slip=slip, lines=await deliveries.lines_of_delivery(session, slip),
                     ordered={x.position: x.quantity for x in await orders.lines_of_order(session, order)},
                     deadline=deliveries.decision_deadline(calendar, slip),
                     overdue=deliveries.is_decision_overdue(calendar, slip, now or utcnow()),
                     parties=await _parties(session, tenant_id, order.agreement_id))


SLIP_COLUMNS = ("N°", "Code article", "Désignation", "Unité", "Quantité commandée", "Quantité livrée", "Décision",
                "Quantité acceptée", "Quantité refusée", "Réfaction ou réserves")


def _outcome(x: DeliveryLine) -> str:
    if x.refaction_amount is not None:
        return f"réfaction de {money(x.refaction_amount)} HT"
    if x.reserves_deadline is not None:
        return f"réserves à lever au plus tard le {day(x.reserves_deadline)}"
    return ""


def _slip_rows(sheet: SlipSheet) -> list[tuple[str, ...]]:
    def qty(value: Decimal | None) -> str:
        return "" if value is None else quantity(value)

    return [(str(x.position), x.article_code, x.label, x.unit, qty(sheet.ordered.get(x.position)), quantity(x.quantity),
             DECISION_KINDS.get(x.decision, x.decision) if x.decision else "à prononcer", qty(x.accepted),
             qty(x.rejected), _outcome(x)) for x in sheet.lines]


def slip_layout(sheet: SlipSheet) -> Layout:
    o, s, p = sheet.order, sheet.slip, sheet.parties
    layout = Layout(f"Bordereau de mise à disposition {s.number}",
                    f"Marché {o.agreement_reference} — CCP TGD VII.1 (bordereau de mise à disposition)")
    pairs = [
        _agreement(o.agreement_reference, o.agreement_title), ("Titulaire", p.seller), ("Acheteur", buyer_label(p.buyer)),
        ("Numéro de la commande", o.number + (f" (version {o.version})" if o.version > 1 else "")),
        ("Date de la commande", day(o.order_date)), ("État de la commande", STATUSES.get(o.status, o.status)),
        ("Lieu(x) de livraison ou d'exécution", o.delivery_place), ("Représentant(s) de l'acheteur", o.representative),
        ("Numéro du bordereau", s.number), ("Date de mise à disposition", day(s.delivered_on)),
        ("Établi", p.on(s.recorded_at, s.recorded_by)),
    ]
    if s.note:
        pairs.append(("Note du titulaire", s.note))
    late = " — hors délai" if sheet.overdue else ""
    if s.decided_at is not None:
        pairs.append(("Décision (CCP TGD VII.3)", f"prononcée le {day(s.decided_on)}"
                      + (f" par {p.who(s.decided_by)}" if p.who(s.decided_by) else "")
                      + f", vérifications achevées le {day(s.verification_ended_on)}{late}"))
    else:
        pairs.append(("Décision (CCP TGD VII.3)", "à prononcer" + (" — en retard" if sheet.overdue else "")))
    # VII.3: « quinze jours calculés à compter de la fin des opérations » (the slip's date until they end).
    pairs.append(("Décision due au plus tard le", day(sheet.deadline.last_day)))
    layout.add("pairs", pairs)
    layout.add("heading", "Détail des biens et services mis à disposition")
    layout.table("Lignes", SLIP_COLUMNS, _slip_rows(sheet), (6, 22, 40, 10, 18, 16, 26, 18, 18, 36))
    layout.add("heading", "Contreseing (CCP TGD VII.1)")
    layout.add("paragraph", "Le représentant de l'administration responsable de la prise en charge : nom, date et "
                            "signature.")
    return layout


def slip_response(sheet: SlipSheet, fmt: str) -> Response[bytes]:
    """``BC-2026-000001-L1.pdf`` or ``.odt``; 422 for another format."""
    return layout_response(slip_layout(sheet), fmt, sheet.slip.number)


# --------------------------------------------------------------------------- the quote (CANUT 9, CAIH 2.1.17)


@dataclass(frozen=True)
class QuoteSheet:
    quote: Quote
    lines: list[QuoteLine]
    milestones: list[rules.Milestone]
    site_name: str
    order_number: str
    parties: _Parties


async def load_quote(session: AsyncSession, tenant_id: uuid.UUID, quote_id: uuid.UUID, *,
                     now: dt.datetime | None = None) -> QuoteSheet:
    """The tenant's quote (``NotFound`` otherwise) once priced, its milestones at ``now`` (the current time by
    default; the reversibility archive gives the quote's last change); an unpriced one has no document
    (``QuoteError`` on ``state``)."""
    quote = await quotes.get_quote_in_tenant(session, tenant_id, quote_id)
    if quote.answered_at is None:
        why = ("a été retiré avant d'être chiffré" if quote.state == "cancelled"
               else "n'est pas encore chiffré par le titulaire")
        raise quotes.QuoteError({"state": f"Le devis {quote.number} {why} : il n'a pas de document (PDF, ODT) ; "
                                          "celui-ci existe dès que le titulaire envoie son devis chiffré."})
    site = (await tenants.sites_of(session, [tenant_id])).get((tenant_id, quote.site_id)) if quote.site_id else None
    order = await orders.get_order_in_tenant(session, tenant_id, quote.order_id) if quote.order_id else None
    return QuoteSheet(quote=quote, lines=await quotes.lines_of_quote(session, quote),
                      milestones=await quotes.milestones_of(session, quote, now or utcnow()),
                      site_name=site.name if site is not None else "Aucun en particulier",
                      order_number=order.number if order is not None else "",
                      parties=await _parties(session, tenant_id, quote.agreement_id))


def _quote_pairs(sheet: QuoteSheet) -> list[tuple[str, str]]:
    q, p = sheet.quote, sheet.parties
    pairs = [
        _agreement(q.agreement_reference, p.agreement_title), ("Numéro du devis", q.number),
        ("Nature", rules.KINDS.get(q.kind, q.kind)), ("État", rules.STATES.get(q.state, q.state)),
        ("Bénéficiaire", buyer_label(p.buyer)), ("Titulaire", p.seller), ("Site", sheet.site_name),
        ("Lieu des travaux", q.place), ("Besoin", q.need), ("Demandé", p.on(q.requested_at, q.requested_by)),
    ]
    if q.site_visit_on:
        pairs.append(("Visite de site", f"le {day(q.site_visit_on)}"))
    pairs.append(("Chiffré", f"{p.on(q.answered_at, q.answered_by)}, prix du BPU en vigueur le {day(q.priced_on)}"))
    if q.answer_note:
        pairs.append(("Note du titulaire", q.answer_note))
    if q.decided_at is not None:
        pairs.append(("Refusé" if q.state == "refused" else "Accepté", p.on(q.decided_at, q.decided_by)))
    if q.refusal_reason:
        pairs.append(("Motif du refus", q.refusal_reason))
    if sheet.order_number:
        pairs.append(("Bon de commande", sheet.order_number))
    if q.works_started_on:
        pairs.append(("Début des travaux", f"le {day(q.works_started_on)}"))
    if q.commissioned_on:
        pairs.append(("Mise en service", f"le {day(q.commissioned_on)}"))
    if q.cancelled_at is not None:
        pairs.append(("Retiré", p.on(q.cancelled_at)))
    return pairs


def _milestone_rows(sheet: QuoteSheet) -> list[tuple[str, ...]]:
    return [(m.label, f"{MILESTONE_DELAYS.get(m.key, '')} ({m.article})".strip(),
             day(m.deadline.last_day) if m.deadline else "—", MILESTONE_STATUSES.get(m.status, m.status))
            for m in sheet.milestones]


def quote_layout(sheet: QuoteSheet) -> Layout:
    q = sheet.quote
    repair = q.kind == "repair"
    layout = Layout(f"Devis {q.number}", f"Marché {q.agreement_reference} — "
                    + ("réparation sur devis, CCTP CAIH 2.1.17" if repair else "prestation sur devis, CCTP CANUT 9"))
    layout.add("pairs", _quote_pairs(sheet))
    layout.add("heading", "Échéances contractuelles")
    layout.table("Echeances", ("Étape", "Délai", "Au plus tard le", "Situation"), _milestone_rows(sheet), (3, 5, 2, 2))
    if repair:  # CAIH 2.1.17: « distinctement le prix des pièces ainsi que le prix de la main d'œuvre »
        for nature, total, name in (("parts", q.parts_ht, "Pieces"), ("labour", q.labour_ht, "MainDOeuvre")):
            label = rules.NATURES[nature]
            layout.add("heading", f"{label} (CCTP CAIH 2.1.17)")
            lines = [x for x in sheet.lines if x.nature == nature]
            if lines:
                layout.table(name, COLUMNS, line_rows(lines), LINE_WIDTHS)
            else:
                layout.add("paragraph", "Aucune ligne.")
            layout.add("totals", [(f"{label} : total HT", money(total))])
    else:
        layout.add("heading", "Lignes du devis")
        layout.table("Lignes", COLUMNS, line_rows(sheet.lines), LINE_WIDTHS)
    layout.add("heading", "Montant du devis")
    totals = total_pairs(q)
    if repair:
        totals[2:2] = [("dont pièces HT", money(q.parts_ht)), ("dont main-d'œuvre HT", money(q.labour_ht))]
    layout.add("totals", totals)
    # CAIH 2.1.17: « L'acceptation du devis sera matérialisée par l'émission d'un bon de commande. »
    layout.add("paragraph", "L'acceptation du devis est matérialisée par l'émission d'un bon de commande, aux prix du "
                            f"BPU en vigueur le {day(q.priced_on)}.")
    return layout


def quote_response(sheet: QuoteSheet, fmt: str) -> Response[bytes]:
    """``DEV-2026-000001.pdf`` or ``.odt``; 422 for another format."""
    return layout_response(quote_layout(sheet), fmt, sheet.quote.number)
