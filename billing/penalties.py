"""Penalties of CCP TGD VIII (issue 15 §4), with a database; the formulas are ``billing.rules``'.

* ``propose_penalty`` (the buyer's admin): VIII.3 « P = V × R / 100 » (téléassistance calls, R the overrun of the
  delay in percent) or VIII.4 « P = V × R / 500 » (other services, R the days or hours late), V « le montant HT du
  bon de commande concerné » read through ``catalog.services.billable_order``. The lateness comes from an incident's
  breached SLA deadline (its restoration, else its intervention clock, read through ``incidents``' ticket services)
  or is the order's delay the buyer states. VIII.1 caps the sum of the tenant's penalties under the agreement at
  « le montant hors taxes effectivement commandé » (``billing.rules.cap_penalties`` with
  ``catalog.services.ordered_total_ht``).
* ``notify_penalty``: VIII.1 « une notification préalable expresse au titulaire lui ouvrant un délai de trente
  jours pour présenter ses observations » (``billing.rules.observations_end``); the titulaire's operators are
  e-mailed through the outbox (``PenaltyNotified``).
* ``record_observations`` (the titulaire's operator, within the thirty days): its observations, and the VIII.5
  cause it shows with its justification; the penalty is ``contested`` until the buyer ``decide_penalty``:
  maintained (``accepted``) or exempted (``exempted``, amount 0, the computation kept).
* ``record_deemed_acceptances`` (hourly job ``billing.penalty_acceptances``): « Passé ce délai, il est réputé avoir
  accepté les pénalités », once per penalty.
* ``deduct_on_invoice`` (from ``billing.invoices.issue_invoice``): « Le montant des pénalités ainsi établies vient en
  déduction des paiements »: the accepted penalties of the tenant and agreement become document-level allowances
  (EN 16931 BG-20) of its next invoice, while the invoice's amount holds them.

Every change is audited by ``app.db``'s flush hook.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of, one_in_tenant
from app.errors import NotFound
from app.mail import deliver_email
from app.outbox import Delivery, Subscriber, publish_on_commit
from billing import rules
from billing.allowances import add_allowance
from billing.events import PenaltyNotified
from billing.models import Invoice, InvoiceAllowance, InvoiceLine, Penalty
from billing.services import BillingError
from catalog import services as catalog
from incidents import services as incidents
from tenants import services as tenants

__all__ = [
    "ACTIVE",
    "STATUSES",
    "SUBSCRIBERS",
    "UNITS",
    "allowance_reason",
    "allowances_of_invoice",
    "cancel_penalty",
    "decide_penalty",
    "deduct_on_invoice",
    "get_penalty_in_tenant",
    "notified_mail",
    "notify_notified",
    "notify_penalty",
    "penalties_of_tenant",
    "planned_deductions",
    "propose_penalty",
    "record_deemed_acceptances",
    "record_observations",
]

STATUSES: dict[str, str] = {
    "proposed": "proposée",
    "notified": "notifiée",
    "contested": "contestée",
    "accepted": "acceptée",
    "exempted": "exonérée",
    "deducted": "déduite",
    "cancelled": "annulée",
}
#: The penalties that count within VIII.1's cap.
ACTIVE = ("proposed", "notified", "contested", "accepted", "deducted")
UNITS = {"percent": "%", "days": "jours", "hours": "heures"}
TEXT_LIMIT = 4000
_ZERO = Decimal("0.00")
SIGNATURE = "\n-- \nCentrale — pénalités (CCP TGD VIII)\n"


def _actor(session: AsyncSession) -> str:
    return str(actor_of(session).get("label") or "")[:320]


async def _today(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime) -> dt.date:
    tenant = await tenants.get_tenant(session, tenant_id)
    return now.astimezone(ZoneInfo(tenant.timezone)).date()


def _plain(value: Decimal) -> Decimal:
    """R as typed: 3 not 3.00 (the column keeps two decimals), 12.5 not 12.50."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _fr(value: Decimal) -> str:
    return f"{value:,}".replace(",", "\u202f").replace(".", ",")


def _text(data: Mapping[str, Any], key: str, label: str, errors: dict[str, str], *, required: bool = False) -> str:
    value = data.get(key)
    if value is None or value == "":
        if required:
            errors[key] = f"{label} : obligatoire."
        return ""
    if not isinstance(value, str):
        errors[key] = f"{label} : texte attendu."
        return ""
    if len(value.strip()) > TEXT_LIMIT:
        errors[key] = f"{label} : {TEXT_LIMIT} caractères au plus."
        return ""
    if required and not value.strip():
        errors[key] = f"{label} : obligatoire."
    return value.strip()


def _uuid(data: Mapping[str, Any], key: str, label: str, errors: dict[str, str]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(data.get(key) or "").strip())
    except ValueError:
        errors[key] = f"{label} : choisissez-en un."
        return None


def _lateness(raw: Any, errors: dict[str, str]) -> Decimal | None:
    try:
        value = Decimal(str(raw).strip().replace("\u202f", "").replace(" ", "").replace(",", "."))
    except (InvalidOperation, ValueError):
        value = None
    if isinstance(raw, bool) or value is None or not value.is_finite() or value <= 0 or value > 100000:
        errors["lateness"] = "Retard R : un nombre strictement positif est attendu (par exemple 3 ou 12,5)."
        return None
    if value != value.quantize(Decimal("0.01")):
        errors["lateness"] = "Retard R : deux décimales au plus."
        return None
    return value


# --------------------------------------------------------------------------- reading


async def get_penalty_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, penalty_id: uuid.UUID, *,
                                for_update: bool = False) -> Penalty:
    """The tenant's penalty; ``NotFound`` otherwise (another tenant's id reads like an unknown one)."""
    penalty: Penalty = await one_in_tenant(session, Penalty, tenant_id, penalty_id, "pénalité", for_update=for_update)
    return penalty


async def penalties_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, *, status: str = "", page: int = 1,
                              per_page: int = 50) -> tuple[list[Penalty], int]:
    """A page of the tenant's penalties, newest first."""
    where = [Penalty.tenant_id == tenant_id]
    if status:
        where.append(Penalty.status == status)
    total = await session.scalar(select(func.count()).select_from(Penalty).where(*where)) or 0
    rows = await session.scalars(select(Penalty).where(*where).order_by(Penalty.created_at.desc(), Penalty.id)
                                 .offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


async def allowances_of_invoice(session: AsyncSession, invoice: Invoice) -> list[InvoiceAllowance]:
    return list(await session.scalars(select(InvoiceAllowance).where(
        InvoiceAllowance.tenant_id == invoice.tenant_id, InvoiceAllowance.invoice_id == invoice.id)
        .order_by(InvoiceAllowance.position)))


async def _applied(session: AsyncSession, tenant_id: uuid.UUID, agreement_id: uuid.UUID,
                   except_id: uuid.UUID | None = None) -> Decimal:
    """What the tenant's other penalties under the agreement already take of VIII.1's cap."""
    where = [Penalty.tenant_id == tenant_id, Penalty.agreement_id == agreement_id, Penalty.status.in_(ACTIVE)]
    if except_id is not None:
        where.append(Penalty.id != except_id)
    return Decimal(await session.scalar(select(func.coalesce(func.sum(Penalty.amount_ht), 0)).where(*where)) or 0)


async def _capped(session: AsyncSession, penalty: Penalty, computed: rules.Penalty) -> tuple[Decimal, str]:
    """VIII.1: the amount due within what remains of the cap, and the computation with the cap when it cuts."""
    ordered = await catalog.ordered_total_ht(session, penalty.tenant_id, penalty.agreement_id)
    applied = await _applied(session, penalty.tenant_id, penalty.agreement_id, penalty.id)
    [amount] = rules.cap_penalties([computed.amount], ordered, applied)
    if amount == computed.amount:
        return amount, computed.computation
    return amount, (f"{computed.computation} ; plafond VIII.1 (montant HT commandé au titre du marché "
                    f"{_fr(ordered)} €, pénalités déjà appliquées {_fr(rules.money(applied))} €) : ramenée à "
                    f"{_fr(amount)} €")


# --------------------------------------------------------------------------- the lateness of a ticket


def _hours(delta: dt.timedelta) -> Decimal:
    return rules.money(Decimal(delta.total_seconds()) / 3600)


async def _ticket_lateness(session: AsyncSession, tenant_id: uuid.UUID, ticket_id: uuid.UUID, article: str,
                           now: dt.datetime) -> tuple[str, Decimal, str, str]:
    """(ticket number, R, its unit, the facts) from the ticket's breached clock — the restoration's (GTR), else the
    intervention's (GTI): VIII.3's R is the overrun in percent of the delay granted, VIII.4's the hours late (open
    hours of the ticket's calendar)."""
    ticket = await incidents.ticket_deadlines(session, tenant_id, ticket_id, now)
    clock = ticket.clock
    breached = [c for c in (clock.restoration, clock.intervention) if c is not None and c.breached]
    if not breached:
        raise BillingError({"ticket_id": f"Le ticket {ticket.number} n'a dépassé aucun délai contractuel : il ne "
                                         "donne pas lieu à pénalité."})
    c = breached[0]
    if article == "VIII.3":
        if c.allowed <= dt.timedelta(0):
            raise BillingError({"ticket_id": "Le délai accordé est nul : le dépassement en pourcentage ne se calcule "
                                             "pas (choisissez VIII.4)."})
        lateness, unit = rules.money(Decimal(c.overrun.total_seconds()) * 100 / Decimal(c.allowed.total_seconds())), \
            "percent"
    else:
        lateness, unit = _hours(c.overrun), "hours"
    zone = ZoneInfo((await tenants.get_tenant(session, tenant_id)).timezone)
    facts = (f"Ticket {ticket.number} : {c.label} ({c.article}) — délai accordé {_fr(_hours(c.allowed))} h, "
             f"consommé {_fr(_hours(c.consumed))} h, dépassement {_fr(_hours(c.overrun))} h "
             f"(échéance {c.deadline.astimezone(zone):%d/%m/%Y %H:%M}).")
    return ticket.number, lateness, unit, facts


# --------------------------------------------------------------------------- the workflow


async def propose_penalty(session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any], *,
                          now: dt.datetime) -> Penalty:
    """A proposed penalty (``data``: ``article`` VIII.3 | VIII.4, ``order_id``, ``source`` ``ticket`` (with
    ``ticket_id``) | ``order`` (with ``lateness`` and ``lateness_unit`` ``days`` | ``hours``, or ``percent`` for
    VIII.3), ``facts``?). Errors by field; nothing written on any."""
    errors: dict[str, str] = {}
    article = str(data.get("article") or "").strip()
    if article not in ("VIII.3", "VIII.4"):
        errors["article"] = "Article : VIII.3 (appels de téléassistance) ou VIII.4 (autres services)."
    source = str(data.get("source") or "").strip()
    if source not in ("ticket", "order"):
        errors["source"] = "Origine : un ticket dont le délai est dépassé, ou le retard du bon de commande."
    order_id = _uuid(data, "order_id", "Bon de commande", errors)
    facts = _text(data, "facts", "Faits", errors)
    lateness: Decimal | None = None
    unit = ""
    if source == "order":
        lateness = _lateness(data.get("lateness"), errors)
        unit = str(data.get("lateness_unit") or "").strip()
        allowed = ("percent",) if article == "VIII.3" else ("days", "hours")
        if unit not in allowed:
            errors["lateness_unit"] = ("Unité de R : le dépassement en pourcentage (VIII.3)." if article == "VIII.3"
                                       else "Unité de R : jours ou heures de retard, selon le délai de référence "
                                            "(VIII.4).")
        if not facts and "facts" not in errors:
            errors["facts"] = "Faits : dites quel délai n'a pas été tenu (date due, date effective)."
    ticket_id = _uuid(data, "ticket_id", "Ticket", errors) if source == "ticket" else None
    if errors:
        raise BillingError(errors)
    assert order_id is not None
    try:
        order = await catalog.billable_order(session, tenant_id, order_id)
    except NotFound:
        raise BillingError({"order_id": "Bon de commande : inconnu de cet établissement."}) from None
    if order.status in ("draft", "cancelled"):
        raise BillingError({"order_id": f"Le bon de commande {order.number} n'est pas émis : il ne se pénalise pas."})
    ticket_number = ""
    if ticket_id is not None:
        try:
            ticket_number, lateness, unit, ticket_facts = await _ticket_lateness(session, tenant_id, ticket_id,
                                                                                 article, now)
        except NotFound:
            raise BillingError({"ticket_id": "Ticket : inconnu de cet établissement."}) from None
        facts = ticket_facts + (f" {facts}" if facts else "")
    assert lateness is not None
    computed = rules.penalty(article, order.total_ht, _plain(lateness))
    penalty = Penalty(tenant_id=tenant_id, agreement_id=order.agreement_id,
                      agreement_reference=order.agreement_reference, article=article, order_id=order.id,
                      order_number=order.number, value_ht=order.total_ht, lateness=lateness, lateness_unit=unit,
                      source=source, ticket_id=ticket_id, ticket_number=ticket_number, facts=facts,
                      computed_ht=computed.amount, amount_ht=_ZERO, computation=computed.computation,
                      status="proposed", created_at=now, updated_at=now, created_by=_actor(session))
    penalty.id = uuid.uuid4()
    penalty.amount_ht, penalty.computation = await _capped(session, penalty, computed)
    session.add(penalty)
    await session.flush()
    return penalty


def _refuse(penalty: Penalty, allowed: Sequence[str], what: str) -> None:
    if penalty.status not in allowed:
        raise BillingError({"status": f"Impossible de {what} une pénalité « {STATUSES[penalty.status]} »."})


async def notify_penalty(session: AsyncSession, tenant_id: uuid.UUID, penalty_id: uuid.UUID, *,
                         now: dt.datetime) -> Penalty:
    """VIII.1: notified to the titulaire, thirty days for its observations from today (the tenant's day)."""
    penalty = await get_penalty_in_tenant(session, tenant_id, penalty_id, for_update=True)
    _refuse(penalty, ("proposed",), "notifier")
    today = await _today(session, tenant_id, now)
    penalty.status, penalty.notified_at, penalty.notified_by = "notified", now, _actor(session)
    penalty.observations_until, penalty.updated_at = rules.observations_end(today), now
    publish_on_commit(session, PenaltyNotified(tenant_id=tenant_id, penalty_id=penalty.id, notified_at=now))
    await session.flush()
    return penalty


async def record_observations(session: AsyncSession, tenant_id: uuid.UUID, penalty_id: uuid.UUID,
                              data: Mapping[str, Any], *, now: dt.datetime) -> Penalty:
    """The titulaire's observations within the thirty days (``observations``; ``exemption`` a VIII.5 cause of
    ``billing.rules.EXEMPTIONS`` with its ``justification``): the penalty is contested until the buyer decides."""
    penalty = await get_penalty_in_tenant(session, tenant_id, penalty_id, for_update=True)
    _refuse(penalty, ("notified",), "contester")
    today = await _today(session, tenant_id, now)
    assert penalty.observations_until is not None
    if today > penalty.observations_until:
        raise BillingError({"status": f"Le délai d'observations a pris fin le {penalty.observations_until:%d/%m/%Y} "
                                      "(VIII.1 : « Passé ce délai, il est réputé avoir accepté les pénalités »)."})
    errors: dict[str, str] = {}
    observations = _text(data, "observations", "Observations", errors, required=True)
    exemption = str(data.get("exemption") or "").strip()
    justification = _text(data, "justification", "Justification", errors)
    if exemption:
        if exemption not in rules.EXEMPTIONS:
            errors["exemption"] = "Cause d'exonération : une des causes de l'article VIII.5."
        elif not justification and "justification" not in errors:
            errors["justification"] = "Justification : le titulaire démontre la cause d'exonération (VIII.5)."
    if errors:
        raise BillingError(errors)
    penalty.status, penalty.observations, penalty.exemption = "contested", observations, exemption
    penalty.justification = justification if exemption else ""
    penalty.observed_at, penalty.observed_by, penalty.updated_at = now, _actor(session), now
    await session.flush()
    return penalty


async def decide_penalty(session: AsyncSession, tenant_id: uuid.UUID, penalty_id: uuid.UUID,
                         data: Mapping[str, Any], *, now: dt.datetime) -> Penalty:
    """The buyer's answer to the observations: ``decision`` ``maintain`` (accepted, to deduct) or ``exempt`` (VIII.5:
    the cause the titulaire showed is admitted; the amount becomes 0 with its computation)."""
    penalty = await get_penalty_in_tenant(session, tenant_id, penalty_id, for_update=True)
    _refuse(penalty, ("contested",), "statuer sur")
    decision = str(data.get("decision") or "").strip()
    if decision not in ("maintain", "exempt"):
        raise BillingError({"decision": "Décision : maintenir la pénalité, ou admettre l'exonération."})
    if decision == "exempt":
        if not penalty.exemption:
            raise BillingError({"decision": "Le titulaire n'a invoqué aucune cause d'exonération de l'article VIII.5."})
        done = rules.penalty(penalty.article, penalty.value_ht, _plain(penalty.lateness), exemption=penalty.exemption,
                             justification=penalty.justification)
        penalty.status, penalty.amount_ht, penalty.computation = "exempted", done.amount, done.computation
    else:
        penalty.status = "accepted"
    penalty.decided_at, penalty.decided_by, penalty.updated_at = now, _actor(session), now
    await session.flush()
    return penalty


async def cancel_penalty(session: AsyncSession, tenant_id: uuid.UUID, penalty_id: uuid.UUID,
                         data: Mapping[str, Any], *, now: dt.datetime) -> Penalty:
    """The buyer gives up a penalty not deducted yet (``reason`` required)."""
    penalty = await get_penalty_in_tenant(session, tenant_id, penalty_id, for_update=True)
    _refuse(penalty, ("proposed", "notified", "contested", "accepted"), "annuler")
    errors: dict[str, str] = {}
    reason = _text(data, "reason", "Motif de l'annulation", errors, required=True)
    if errors:
        raise BillingError(errors)
    penalty.status, penalty.cancel_reason = "cancelled", reason
    penalty.decided_at, penalty.decided_by, penalty.updated_at = now, _actor(session), now
    await session.flush()
    return penalty


async def record_deemed_acceptances(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime) -> list[Penalty]:
    """VIII.1 « Passé ce délai, il est réputé avoir accepté les pénalités »: each notified penalty whose thirty
    days ended before today becomes accepted, once (the state change is the record; rows locked)."""
    today = await _today(session, tenant_id, now)
    rows = list(await session.scalars(select(Penalty).where(
        Penalty.tenant_id == tenant_id, Penalty.status == "notified", Penalty.observations_until < today)
        .with_for_update()))
    for penalty in rows:
        penalty.status, penalty.deemed_accepted, penalty.decided_at = "accepted", True, now
        penalty.decided_by, penalty.updated_at = "système (VIII.1 : réputée acceptée)", now
    await session.flush()
    return rows


# --------------------------------------------------------------------------- the deduction


def allowance_reason(penalty: Penalty) -> str:
    what = f"ticket {penalty.ticket_number}" if penalty.ticket_number else "retard"
    return (f"Pénalité {penalty.article} ({what}, bon de commande {penalty.order_number}) : "
            f"{penalty.computation}")[:500]


async def planned_deductions(session: AsyncSession, invoice: Invoice, lines: Sequence[InvoiceLine], *,
                             lock: bool = False) -> list[tuple[Penalty, rules.Deduction, str]]:
    """The accepted penalties of the invoice's tenant and agreement, oldest first, that its lines hold (a penalty is
    deducted whole; one that does not fit waits for the next invoice): each with its deduction and its reason (the
    computation). Read only; a draft's page shows them, ``deduct_on_invoice`` applies them."""
    if invoice.kind != "invoice" or not lines:
        return []
    query = select(Penalty).where(
        Penalty.tenant_id == invoice.tenant_id, Penalty.agreement_id == invoice.agreement_id,
        Penalty.status == "accepted", Penalty.amount_ht > 0).order_by(Penalty.created_at, Penalty.id)
    pending = list(await session.scalars(query.with_for_update() if lock else query))
    deductions = rules.deduct_allowances(rules.bases_left(lines), [p.amount_ht for p in pending], whole=True)
    return [(penalty, deduction, allowance_reason(penalty))
            for penalty, deduction in zip(pending, deductions, strict=True) if deduction is not None]


async def deduct_on_invoice(session: AsyncSession, invoice: Invoice, lines: Sequence[InvoiceLine], *,
                            now: dt.datetime) -> list[InvoiceAllowance]:
    """``planned_deductions`` as the invoice's document-level allowances (EN 16931 BG-20), at the VAT rate of its
    largest base (BT-96), its totals reduced; each penalty ``deducted`` with the invoice's id."""
    made: list[InvoiceAllowance] = []
    for penalty, deduction, reason in await planned_deductions(session, invoice, lines, lock=True):
        made.append(add_allowance(session, invoice, deduction, position=len(made) + 1, reason=reason,
                                  penalty_id=penalty.id))
        penalty.status, penalty.invoice_id, penalty.deducted_at, penalty.updated_at = "deducted", invoice.id, now, now
    await session.flush()
    return made


# --------------------------------------------------------------------------- the e-mail


async def notified_mail(session: AsyncSession, penalty: Penalty) -> tuple[tuple[str, ...], str, str]:
    """The notification to the titulaire's operators serving the tenant: (to, subject, body)."""
    to = tuple(await tenants.member_emails(session, penalty.tenant_id, ["operator"]))
    tenant = await tenants.get_tenant(session, penalty.tenant_id)
    assert penalty.observations_until is not None
    body = "\n".join([
        "Bonjour,", "",
        f"{tenant.name} vous notifie une pénalité au titre de l'article {penalty.article} du CCP (marché "
        f"{penalty.agreement_reference}, bon de commande {penalty.order_number}).", "",
        penalty.facts, "",
        f"Calcul : {penalty.computation}",
        f"Montant HT : {_fr(penalty.amount_ht)} €", "",
        f"Vous disposez de trente jours, jusqu'au {penalty.observations_until:%d/%m/%Y}, pour présenter vos "
        "observations (CCP VIII.1) ; passé ce délai, vous êtes réputé avoir accepté la pénalité, qui sera déduite de "
        "la prochaine facture. Les causes d'exonération de l'article VIII.5 se font valoir avec leur justification.",
        "", f"Centrale › Pénalités /t/{penalty.tenant_id}/penalites/{penalty.id}"])
    return to, f"[{penalty.order_number}] Pénalité {penalty.article} notifiée", body + SIGNATURE


async def notify_notified(delivery: Delivery, event: PenaltyNotified) -> None:
    """The notification's e-mail, once per event (``deliver_email`` in the delivery's transaction)."""
    penalty = await delivery.session.scalar(select(Penalty).where(Penalty.tenant_id == event.tenant_id,
                                                                  Penalty.id == event.penalty_id))
    if penalty is None or penalty.notified_at is None:
        return
    to, subject, body = await notified_mail(delivery.session, penalty)
    for address in to:
        await deliver_email(delivery.session, delivery.settings, to=address, subject=subject, body=body,
                            tenant_id=event.tenant_id)


SUBSCRIBERS: list[Subscriber[Any]] = [Subscriber(PenaltyNotified, "billing.penalty-notified-mail", notify_notified)]
