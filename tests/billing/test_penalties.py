"""Penalties with a database (``billing.penalties``, issue 15 §4; CCP TGD VIII): VIII.3 and VIII.4 on a real ticket's
breached SLA deadline and on an order's delay, V the order's amount HT; VIII.1's cap across several penalties; each
VIII.5 exemption recorded with its justification; the notification with thirty days for observations, the e-mail to
the titulaire's operators, the deemed acceptance by the hourly job (twice: once); the deduction on the next invoice
as an EN 16931 document-level allowance (BG-20) in a Factur-X XML the schema accepts; the tenant wall."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import facturx
import pytest
from lxml import etree
from sqlalchemy import select

from app.mail import OutboxMessage
from app.outbox import Relay
from billing import documents, penalties, rules
from billing.services import BillingError
from billing.tasks import run_penalty_acceptances
from incidents import tickets
from tenants import services as tenants
from tests.billing.test_invoices import (
    ACTOR,
    NOW,
    draft,
    issue,
    lines_of,
    set_up_billing,
    verified_order,
)

BUYER = {"user_id": None, "label": "admin@cpam72.demo"}
TITULAIRE = {"user_id": None, "label": "technicien@titulaire.demo"}
def _xpath(xml: bytes, path: str) -> list[str]:
    ns = {"rsm": documents.RSM, "ram": documents.RAM, "udt": documents.UDT}
    return [x if isinstance(x, str) else x.text for x in etree.fromstring(xml).xpath(path, namespaces=ns)]


#: The order of ``verified_order``: 2 × 3 450 + 2 × 1 150 × 0,95 = 9 085,00 € HT (V).
V = Decimal("9085.00")


async def propose(db, tenant_id, data, now=NOW):
    async with db.transaction([tenant_id], actor=BUYER) as session:
        return await penalties.propose_penalty(session, tenant_id, data, now=now)


async def move(db, tenant_id, step, penalty_id, *args, now=NOW, actor=BUYER):
    async with db.transaction([tenant_id], actor=actor) as session:
        return await getattr(penalties, step)(session, tenant_id, penalty_id, *args, now=now)


async def breached_ticket(db, tenant_id, at):
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        return await tickets.open_ticket(session, tenant_id, now=at, title="Borne hors service", description="",
                                         channel="phone", reported_at=at, level="telemaintenance")


# --------------------------------------------------------------------------- the two formulas


async def test_viii_3_and_viii_4_on_a_ticket_breach_v_the_orders_amount(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await verified_order(db, cpam)
    # Opened Monday 14 December 10:00 (Paris), télémaintenance: intervention within 12 h, then restoration level 2
    # within 24 h (CCTP CPAM 5-4-4, 5-4-5) — at NOW (16 December 10:00) the restoration is 12 h past its 24 h.
    ticket = await breached_ticket(db, cpam, dt.datetime(2026, 12, 14, 9, 0, tzinfo=dt.UTC))
    # CCP TGD VIII.3 « P = V × R / 100 », R the overrun in percent of the delay: 12 h / 24 h = 50 %.
    p3 = await propose(db, cpam, {"article": "VIII.3", "order_id": str(order.id), "source": "ticket",
                                  "ticket_id": str(ticket.id)})
    assert (p3.value_ht, p3.lateness, p3.lateness_unit, p3.ticket_number) == (V, Decimal("50.00"), "percent",
                                                                               ticket.number)
    assert p3.computed_ht == p3.amount_ht == Decimal("4542.50")
    assert p3.computation == "9\u202f085,00 € × 50% / 100 = 4\u202f542,50 €"
    assert "Niveau 2" in p3.facts and "dépassement 12,00 h" in p3.facts and "15/12/2026 22:00" in p3.facts
    # VIII.4 « P = V × R / 500 », R the hours late: 9 085 × 12 / 500 = 218,04 €.
    p4 = await propose(db, cpam, {"article": "VIII.4", "order_id": str(order.id), "source": "ticket",
                                  "ticket_id": str(ticket.id)})
    assert (p4.lateness, p4.lateness_unit, p4.amount_ht) == (Decimal("12.00"), "hours", Decimal("218.04"))
    assert (p3.status, p4.status, p3.source) == ("proposed", "proposed", "ticket")


async def test_viii_4_on_an_order_delay_and_bad_input_changes_nothing(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await verified_order(db, cpam)
    # VIII.4: delivered 3 days after the date due: 9 085 × 3 / 500 = 54,51 €.
    p = await propose(db, cpam, {"article": "VIII.4", "order_id": str(order.id), "source": "order",
                                 "lateness": "3", "lateness_unit": "days",
                                 "facts": "Livraison due le 7/12, faite le 10/12."})
    assert (p.amount_ht, p.lateness_unit, p.ticket_id) == (Decimal("54.51"), "days", None)
    with pytest.raises(BillingError) as refused:
        await propose(db, cpam, {"article": "VIII.9", "order_id": "x", "source": "order", "lateness": "-1",
                                 "lateness_unit": "semaines"})
    assert set(refused.value.errors) >= {"article", "order_id", "lateness", "lateness_unit"}
    # A ticket whose deadlines hold gives no penalty.
    fresh = await breached_ticket(db, cpam, NOW - dt.timedelta(hours=1))
    with pytest.raises(BillingError, match="aucun délai"):
        await propose(db, cpam, {"article": "VIII.4", "order_id": str(order.id), "source": "ticket",
                                 "ticket_id": str(fresh.id)})
    async with db.session([cpam]) as session:
        assert [x.id for x in (await penalties.penalties_of_tenant(session, cpam))[0]] == [p.id]


async def test_viii_1_caps_all_the_penalties_at_the_amount_ordered(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await verified_order(db, cpam)
    async with db.session([cpam]) as session:
        from catalog.services import ordered_total_ht
        ordered = await ordered_total_ht(session, cpam, order.agreement_id)
    assert ordered >= V
    # VIII.3 with R = 60 % per penalty: 5 451,00 € each, until the amount HT ordered under the agreement is reached.
    made, total = [], Decimal("0")
    while total < ordered:
        p = await propose(db, cpam, {"article": "VIII.3", "order_id": str(order.id), "source": "order",
                                     "lateness": "60", "lateness_unit": "percent", "facts": "Appels non traités."})
        made.append(p)
        total += p.amount_ht
    assert total == ordered
    last = made[-1]
    assert last.computed_ht == Decimal("5451.00") and last.amount_ht == ordered - sum(x.amount_ht for x in made[:-1])
    assert "plafond VIII.1" in last.computation
    after = await propose(db, cpam, {"article": "VIII.4", "order_id": str(order.id), "source": "order",
                                     "lateness": "1", "lateness_unit": "days", "facts": "Retard."})
    assert (after.computed_ht, after.amount_ht) == (Decimal("18.17"), Decimal("0.00"))
    # A cancelled penalty gives its room back to the next one.
    await move(db, cpam, "cancel_penalty", made[0].id, {"reason": "Erreur de saisie"})
    again = await propose(db, cpam, {"article": "VIII.4", "order_id": str(order.id), "source": "order",
                                     "lateness": "1", "lateness_unit": "days", "facts": "Retard."})
    assert again.amount_ht == Decimal("18.17")


@pytest.mark.parametrize("cause", sorted(rules.EXEMPTIONS))
async def test_each_viii_5_exemption_with_its_justification(db, demo, cause):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await verified_order(db, cpam)
    p = await propose(db, cpam, {"article": "VIII.4", "order_id": str(order.id), "source": "order",
                                 "lateness": "5", "lateness_unit": "days", "facts": "Retard de mise en service."})
    await move(db, cpam, "notify_penalty", p.id)
    with pytest.raises(BillingError) as refused:
        await move(db, cpam, "record_observations", p.id, {"observations": "Pas de notre fait.", "exemption": cause},
                   actor=TITULAIRE)
    assert "justification" in refused.value.errors
    contested = await move(db, cpam, "record_observations", p.id, {
        "observations": "Pas de notre fait.", "exemption": cause, "justification": "Rapport d'incident joint."},
        actor=TITULAIRE)
    assert (contested.status, contested.exemption, contested.observed_by) == ("contested", cause, TITULAIRE["label"])
    done = await move(db, cpam, "decide_penalty", p.id, {"decision": "exempt"})
    assert (done.status, done.amount_ht) == ("exempted", Decimal("0.00"))
    assert done.computation == f"9\u202f085,00 € × 5 / 500 : exonérée (VIII.5 — {rules.EXEMPTIONS[cause]})"


# --------------------------------------------------------------------------- notification, observations, acceptance


async def test_notified_with_thirty_days_then_deemed_accepted_once_by_the_job(db, demo, settings):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await verified_order(db, cpam)
    p = await propose(db, cpam, {"article": "VIII.4", "order_id": str(order.id), "source": "order",
                                 "lateness": "2", "lateness_unit": "days", "facts": "Retard."})
    notified = await move(db, cpam, "notify_penalty", p.id)
    # VIII.1 « un délai de trente jours pour présenter ses observations »: until 15 January 2027.
    assert (notified.status, notified.observations_until) == ("notified", dt.date(2027, 1, 15))
    with pytest.raises(BillingError, match="notifiée"):
        await move(db, cpam, "notify_penalty", p.id)
    assert (await Relay(db, settings=settings, subscribers=penalties.SUBSCRIBERS).run_once()).failed == 0
    async with db.session([cpam]) as session:
        mails = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.tenant_id == cpam,
                                                                       OutboxMessage.subject.like("%Pénalité VIII.4%"))))
        operators = await tenants.member_emails(session, cpam, ["operator"])
    assert operators and sorted(m.to for m in mails) == operators
    assert all("15/01/2027" in m.body and "36,34 €" in m.body for m in mails)
    # The thirtieth day is still within: nothing; the day after, accepted — and a second run changes nothing.
    assert str(p.id) not in await run_penalty_acceptances(db, dt.datetime(2027, 1, 15, 20, 0, tzinfo=dt.UTC))
    day_after = dt.datetime(2027, 1, 16, 0, 30, tzinfo=dt.UTC)
    assert str(p.id) in await run_penalty_acceptances(db, day_after)
    assert str(p.id) not in await run_penalty_acceptances(db, day_after + dt.timedelta(hours=1))
    async with db.session([cpam]) as session:
        p = await penalties.get_penalty_in_tenant(session, cpam, p.id)
    assert (p.status, p.deemed_accepted) == ("accepted", True)
    # Observations after the thirty days are refused.
    with pytest.raises(BillingError, match="notifiée|accept"):
        await move(db, cpam, "record_observations", p.id, {"observations": "Trop tard"}, actor=TITULAIRE,
                   now=day_after)


async def test_observations_refused_after_the_thirty_days_and_maintained_penalty(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await verified_order(db, cpam)
    p = await propose(db, cpam, {"article": "VIII.4", "order_id": str(order.id), "source": "order",
                                 "lateness": "2", "lateness_unit": "days", "facts": "Retard."})
    await move(db, cpam, "notify_penalty", p.id)
    with pytest.raises(BillingError, match="délai d'observations"):
        await move(db, cpam, "record_observations", p.id, {"observations": "Trop tard"}, actor=TITULAIRE,
                   now=dt.datetime(2027, 1, 16, 9, 0, tzinfo=dt.UTC))
    await move(db, cpam, "record_observations", p.id, {"observations": "Contesté."}, actor=TITULAIRE)
    with pytest.raises(BillingError, match="aucune cause"):
        await move(db, cpam, "decide_penalty", p.id, {"decision": "exempt"})
    kept = await move(db, cpam, "decide_penalty", p.id, {"decision": "maintain"})
    assert (kept.status, kept.amount_ht, kept.deemed_accepted) == ("accepted", Decimal("36.34"), False)


# --------------------------------------------------------------------------- the deduction on the next invoice


async def test_deducted_on_the_next_invoice_as_a_document_level_allowance(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    await set_up_billing(db, cpam)
    order = await verified_order(db, cpam)
    p = await propose(db, cpam, {"article": "VIII.4", "order_id": str(order.id), "source": "order",
                                 "lateness": "3", "lateness_unit": "days", "facts": "Retard."})
    await move(db, cpam, "notify_penalty", p.id)
    waiting = await propose(db, cpam, {"article": "VIII.4", "order_id": str(order.id), "source": "order",
                                       "lateness": "1", "lateness_unit": "days", "facts": "Notifiée, pas acceptée."})
    await move(db, cpam, "notify_penalty", waiting.id, now=dt.datetime(2027, 1, 10, 9, 0, tzinfo=dt.UTC))
    later = dt.datetime(2027, 1, 16, 1, 0, tzinfo=dt.UTC)
    assert await run_penalty_acceptances(db, later) == [str(p.id)]
    invoice = await draft(db, cpam, order.id, now=later)
    issued = await issue(db, cpam, invoice.id, now=later)
    invoice, lines = await lines_of(db, cpam, issued.id)
    # 8 934,50 € HT of lines less the penalty 54,51 € (at 20 %: 10,90 € of VAT).
    assert (invoice.total_ht, invoice.total_vat, invoice.total_ttc) == (Decimal("8879.99"), Decimal("1776.00"),
                                                                        Decimal("10655.99"))
    async with db.session([cpam]) as session:
        p = await penalties.get_penalty_in_tenant(session, cpam, p.id)
        allowances = await penalties.allowances_of_invoice(session, invoice)
    assert (p.status, p.invoice_id) == ("deducted", invoice.id)
    assert [(a.amount_ht, a.vat_rate, a.total_vat) for a in allowances] == [
        (Decimal("54.51"), Decimal("20.00"), Decimal("10.90"))]
    assert allowances[0].reason.startswith("Pénalité VIII.4 (retard, bon de commande ")
    assert "9\u202f085,00 € × 3 / 500 = 54,51 €" in allowances[0].reason
    sheet = documents.InvoiceSheet(invoice, lines, None, allowances)
    xml = documents.invoice_xml(sheet)
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    path = "//ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeAllowanceCharge/"
    assert _xpath(xml, path + "ram:ActualAmount") == ["54.51"]  # BT-92
    assert _xpath(xml, path + "ram:Reason")[0].startswith("Pénalité VIII.4")  # BT-97
    assert _xpath(xml, path + "ram:CategoryTradeTax/ram:RateApplicablePercent") == ["20.00"]  # BT-96
    sums = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    # EN 16931 BR-CO-13: BT-109 = BT-106 − BT-107; BR-CO-15: BT-112 = BT-109 + BT-110.
    assert [_xpath(xml, sums + x)[0] for x in ("LineTotalAmount", "AllowanceTotalAmount", "TaxBasisTotalAmount",
                                                "TaxTotalAmount", "GrandTotalAmount")] == [
        "8934.50", "54.51", "8879.99", "1776.00", "10655.99"]
    bases = _xpath(xml, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:BasisAmount")
    assert sum(Decimal(b) for b in bases) == Decimal("8879.99")
    assert documents.invoice_pdf(sheet)[:4] == b"%PDF"
    # The penalty still in its thirty days of observations waits for a later invoice.
    async with db.session([cpam]) as session:
        w = await penalties.get_penalty_in_tenant(session, cpam, waiting.id)
    assert (w.status, w.invoice_id) == ("notified", None)
