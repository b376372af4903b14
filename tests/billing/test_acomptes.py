"""Acomptes (CCP TGD IX.5, issue 15 §3) on a real order made by catalog's services: the « constat d'avancement »
typed by the titulaire's operator and validated by the buyer's admin, the acompte invoices (type code 386) within
each statement's value and 70 % of the order, and the final invoice after verification deducting them (negative
lines at their VAT rate, BG-3 references); the API, the pages and the e-mail."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import facturx
import pytest
from lxml import etree
from pypdf import PdfReader
from sqlalchemy import func, select

from app.db import utcnow
from app.mail import OutboxMessage
from app.outbox import Relay
from billing import acomptes, documents, invoices, late
from billing.acompte_models import ProgressStatement
from billing.api import load_sheet
from billing.models import Invoice
from billing.services import BillingError
from catalog import deliveries, orders
from tenants.models import FrameworkAgreement
from tests.billing.test_invoices import ACTOR, CPAM_AGREEMENT, LINES, NS, set_up_billing
from tests.conftest import form_post, login, page_text

PARIS = ZoneInfo("Europe/Paris")  # the tenant's zone: delivery and notification dates are its calendar days

ADMIN = {"user_id": None, "label": "admin@cpam72.demo"}
#: Monday 2 March 2026: the order of 2 bornes and 2 installations (9 085,00 € HT) is issued; its services start.
STARTED = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
MAY = dt.datetime(2026, 5, 15, 9, 0, tzinfo=dt.UTC)
JUNE = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.UTC)
SEPTEMBER = dt.datetime(2026, 9, 15, 9, 0, tzinfo=dt.UTC)
OCTOBER = dt.datetime(2026, 10, 6, 9, 0, tzinfo=dt.UTC)


def xpath_of(xml: bytes, path: str) -> list[str]:
    return [x if isinstance(x, str) else x.text for x in etree.fromstring(xml).xpath(path, namespaces=NS)]


async def running_order(db, tenant_id, issued=STARTED):
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CPAM_AGREEMENT))
        order = await orders.create_order(session, tenant_id, {
            "agreement_id": str(agreement.id), "lines": LINES, "delivery_place": "Parking visiteurs",
            "representative": "Anne Administratrice"}, order_date=issued.date(), now=issued)
        await orders.issue_order(session, tenant_id, order.id, now=issued)
        return order


async def verify(db, tenant_id, order_id, delivered, decided):
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        slip = await deliveries.record_delivery(session, tenant_id, order_id, {
            "delivered_on": delivered.astimezone(PARIS).date(), "lines": [{"position": 1, "quantity": "2"},
                                                        {"position": 2, "quantity": "2"}]},
            recorded_by=None, now=delivered)
        await deliveries.decide_delivery(session, tenant_id, slip.id, {"lines": [
            {"position": 1, "kind": "reception", "accepted": "2", "rejected": "0"},
            {"position": 2, "kind": "refaction", "accepted": "2", "rejected": "0", "refaction_amount": "150.50"}]},
            decided_by=None, now=decided)


async def stated(db, tenant_id, order_id, value, now):
    """A statement handed in by the operator and validated by the buyer's admin."""
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        statement = await acomptes.submit_statement(session, tenant_id, order_id, {
            "value_ht": value, "description": "Bornes livrées et posées sur le parking visiteurs"}, now=now)
    async with db.transaction([tenant_id], actor=ADMIN) as session:
        return await acomptes.validate_statement(session, tenant_id, statement.id, now=now)


async def acompte(db, tenant_id, statement_id, now, amount=None):
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        draft = await acomptes.draft_acompte(session, tenant_id, statement_id,
                                             {} if amount is None else {"amount_ht": amount}, now=now)
        return await invoices.issue_invoice(session, tenant_id, draft.id, now=now)


async def count_invoices(db, tenant_id):
    async with db.session([tenant_id]) as session:
        return await session.scalar(select(func.count()).select_from(Invoice).where(Invoice.tenant_id == tenant_id))


async def test_acomptes_within_the_value_done_and_70_percent_then_deducted_from_the_final_invoice(db, demo, settings):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await running_order(db, cpam)
    await set_up_billing(db, cpam)

    # IX.5 « si le règlement ne peut intervenir dans un délai de trois mois à compter du début des prestations ».
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(BillingError, match="Pas d'acompte avant le 02/06/2026"):
            await acomptes.submit_statement(session, cpam, order.id, {"value_ht": "4000", "description": "Pose"},
                                            now=MAY)

    # Statement 1: 4 000,00 € of services done. The admin is e-mailed to validate it.
    async with db.transaction([cpam], actor=ACTOR) as session:
        first = await acomptes.submit_statement(session, cpam, order.id, {
            "value_ht": "4 000,00", "description": "Bornes livrées et posées"}, now=JUNE)
        with pytest.raises(BillingError, match="attend déjà la validation"):
            await acomptes.submit_statement(session, cpam, order.id, {"value_ht": "4500", "description": "Pose"},
                                            now=JUNE)
    assert (await Relay(db, settings=settings, subscribers=acomptes.SUBSCRIBERS).run_once()).failed == 0
    async with db.session([cpam]) as session:
        mails = (await session.execute(select(OutboxMessage.to, OutboxMessage.subject, OutboxMessage.body).where(
            OutboxMessage.tenant_id == cpam, OutboxMessage.subject.like(f"[{order.number}] Constat%")))).all()
    assert [(m.to, m.subject) for m in mails] == [("admin@cpam72.demo",
                                                   f"[{order.number}] Constat d'avancement à valider")]
    assert "4\u202f000,00 € HT" in mails[0].body and f"/acomptes/commande/{order.id}" in mails[0].body

    # Not validated yet: no acompte.
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(BillingError, match="constat d'avancement validé"):
            await acomptes.draft_acompte(session, cpam, first.id, {}, now=JUNE)
    async with db.transaction([cpam], actor=ADMIN) as session:
        await acomptes.validate_statement(session, cpam, first.id, now=JUNE)

    # « la valeur de chaque acompte ne peut dépasser la valeur des prestations auxquelles il se rapporte »: 4 500 is
    # refused, nothing written.
    before = await count_invoices(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(BillingError) as refused:
            await acomptes.draft_acompte(session, cpam, first.id, {"amount_ht": "4500"}, now=JUNE)
    assert refused.value.errors["amount_ht"].startswith(
        "Acompte refusé : 4\u202f500,00 € HT dépasse le plafond de 4\u202f000,00 € HT (CCP TGD IX.5) : « la valeur "
        "de chaque acompte ne peut dépasser la valeur des prestations")
    assert await count_invoices(db, cpam) == before

    # Acompte 1 = 4 000,00 € HT, TVA 20 % 800,00, TTC 4 800,00, numbered in the invoices' series.
    one = await acompte(db, cpam, first.id, JUNE)
    assert (one.kind, one.number, one.total_ht, one.total_vat, one.total_ttc, one.verified_on) == (
        "prepayment", "FA-2026-000001", Decimal("4000.00"), Decimal("800.00"), Decimal("4800.00"), dt.date(2026, 6, 15))
    async with db.session([cpam]) as session:
        xml = documents.invoice_xml(await load_sheet(session, one))  # checked against the XSD inside
    assert xpath_of(xml, "//rsm:ExchangedDocument/ram:TypeCode/text()") == ["386"]
    assert xpath_of(xml, "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:DuePayableAmount/text()") == [
        "4800.00"]
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")

    # Statement 2: 8 000,00 € done; ceiling min(8 000 − 4 000, 70 % × 9 085 − 4 000) = min(4 000, 2 359,50).
    second = await stated(db, cpam, order.id, "8000", SEPTEMBER)
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(BillingError) as refused:
            await acomptes.draft_acompte(session, cpam, second.id, {"amount_ht": "3000"}, now=SEPTEMBER)
    assert refused.value.errors["amount_ht"] == (
        "Acompte refusé : 3\u202f000,00 € HT dépasse le plafond de 2\u202f359,50 € HT (CCP TGD IX.5) : « le cumul des "
        "acomptes ne peut être supérieur à 70 % du montant total du bon de commande » — 70 % de 9\u202f085,00 € = "
        "6\u202f359,50 €, dont 4\u202f000,00 € déjà facturés en acomptes.")
    two = await acompte(db, cpam, second.id, SEPTEMBER)
    assert (two.number, two.total_ht, two.total_vat) == ("FA-2026-000002", Decimal("2359.50"), Decimal("471.90"))

    # Statement 3 (9 000,00 € done): the 70 % are reached, nothing more to pay before verification.
    third = await stated(db, cpam, order.id, "9000", SEPTEMBER)
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(BillingError, match="plus rien à verser"):
            await acomptes.draft_acompte(session, cpam, third.id, {}, now=SEPTEMBER)

    # « Le solde est réglé après prononcé de la vérification »: the final invoice details every service delivered and
    # deducts both acomptes. 8 934,50 € HT (réfaction deducted) − 6 359,50 = 2 575,00 HT; VAT 1 786,90 − 800,00 −
    # 471,90 = 515,00; TTC 3 090,00.
    await verify(db, cpam, order.id, OCTOBER - dt.timedelta(days=5), OCTOBER - dt.timedelta(days=1))
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(BillingError, match="pas en cours d'exécution"):
            await acomptes.submit_statement(session, cpam, order.id, {"value_ht": "9085", "description": "Tout"},
                                            now=OCTOBER)
        final = await invoices.draft_invoice(session, cpam, order.id, {}, now=OCTOBER)
        lines = await invoices.lines_of_invoice(session, final)
        assert [(x.order_position, x.quantity, x.total_ht, x.total_vat) for x in lines] == [
            (1, Decimal("2.000"), Decimal("6900.00"), Decimal("1380.00")),
            (2, Decimal("2.000"), Decimal("2034.50"), Decimal("406.90")),
            (0, Decimal("-1.000"), Decimal("-4000.00"), Decimal("-800.00")),
            (0, Decimal("-1.000"), Decimal("-2359.50"), Decimal("-471.90"))]
        assert [x.label for x in lines[2:]] == ["Acompte FA-2026-000001 déduit", "Acompte FA-2026-000002 déduit"]
        final = await invoices.issue_invoice(session, cpam, final.id, now=OCTOBER)
        sheet = await load_sheet(session, final)
    assert (final.kind, final.number, final.total_ht, final.total_vat, final.total_ttc) == (
        "invoice", "FA-2026-000003", Decimal("2575.00"), Decimal("515.00"), Decimal("3090.00"))
    xml = documents.invoice_xml(sheet)
    assert xpath_of(xml, "//rsm:ExchangedDocument/ram:TypeCode/text()") == ["380"]
    # BG-3: each acompte invoice referenced (BT-25, BT-26); the VAT breakdown and the sums net of them (BR-CO-10,
    # BR-CO-15: BT-112 = BT-109 + BT-110, BT-115 = BT-112 with no BT-113).
    assert xpath_of(xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID/text()") == [
        "FA-2026-000001", "FA-2026-000002"]
    assert xpath_of(xml, "//ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString/text()") == [
        "20260615", "20260915"]
    summation = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    assert [xpath_of(xml, f"{summation}{t}/text()") for t in ("LineTotalAmount", "TaxBasisTotalAmount", "TaxTotalAmount",
                                                            "GrandTotalAmount", "DuePayableAmount")] == [
        ["2575.00"], ["2575.00"], ["515.00"], ["3090.00"], ["3090.00"]]
    assert xpath_of(xml, f"{summation}TotalPrepaidAmount/text()") == []
    assert xpath_of(xml, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:BasisAmount/text()") == [
        "2575.00"]
    assert xpath_of(xml, "//ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedLineTradeDelivery/ram:BilledQuantity"
                       "/text()") == ["2.000", "2.000", "-1.000", "-1.000"]
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(documents.invoice_pdf(sheet))).pages)
    assert "Acomptes déduits" in text and "FA-2026-000001" in text and "FA-2026-000002" in text

    # The acomptes are deducted once: the final invoice's credit note is refused (not handled yet), and the acomptes
    # themselves are paid like invoices.
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(BillingError, match="déduit des acomptes"):
            await invoices.draft_credit_note(session, cpam, final.id, {"reason": "Erreur"}, now=OCTOBER)
        with pytest.raises(BillingError, match="facture d'acompte ne se crédite pas"):
            await invoices.draft_credit_note(session, cpam, one.id, {"reason": "Erreur"}, now=OCTOBER)
        paid = await invoices.mark_paid(session, cpam, one.id, {"paid_on": "2026-07-10"}, now=OCTOBER)
        assert (paid.status, paid.paid_on) == ("paid", dt.date(2026, 7, 10))


async def test_a_refused_statement_and_a_discarded_acompte_free_their_room(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await running_order(db, cpam)
    await set_up_billing(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        bad = {}
        with pytest.raises(BillingError) as refused:
            await acomptes.submit_statement(session, cpam, order.id, {"value_ht": "9 999", "description": ""},
                                            now=JUNE)
        bad = refused.value.errors
    assert bad == {"value_ht": "Valeur des prestations exécutées : 9\u202f999,00 € dépasse le montant du bon de "
                               "commande (9\u202f085,00 € HT).",
                   "description": "Prestations exécutées : obligatoire (IX.5 : le constat « reprend les prestations "
                                  "exécutées en application de la commande »)."}
    async with db.transaction([cpam], actor=ACTOR) as session:
        statement = await acomptes.submit_statement(session, cpam, order.id, {"value_ht": "5000",
                                                                              "description": "Pose"}, now=JUNE)
    async with db.transaction([cpam], actor=ADMIN) as session:
        with pytest.raises(BillingError, match="Motif du refus"):
            await acomptes.refuse_statement(session, cpam, statement.id, {"reason": " "}, now=JUNE)
        refused_one = await acomptes.refuse_statement(session, cpam, statement.id,
                                                      {"reason": "La pose n'est pas finie."}, now=JUNE)
        assert (refused_one.status, refused_one.decided_by) == ("refused", "admin@cpam72.demo")
    second = await stated(db, cpam, order.id, "5000", JUNE)
    async with db.transaction([cpam], actor=ACTOR) as session:
        draft = await acomptes.draft_acompte(session, cpam, second.id, {"amount_ht": "1000"}, now=JUNE)
        with pytest.raises(BillingError, match="déjà facturé"):
            await acomptes.draft_acompte(session, cpam, second.id, {}, now=JUNE)
        await invoices.discard_draft(session, cpam, draft.id)
        again = await acomptes.draft_acompte(session, cpam, second.id, {}, now=JUNE)
        assert again.total_ht == Decimal("5000.00")


def test_an_unpaid_acompte_bears_late_interest_like_an_invoice():
    class Unpaid:
        kind, status, paid_on = "prepayment", "issued", None
        due_date, total_ttc = dt.date(2026, 7, 15), Decimal("4800.00")

    # CCP TGD IX.7 applies to every payment: 2,15 % + 8 points on 4 800,00 € for 31 days, and the 40 € indemnity.
    found = late.late_of(Unpaid(), dt.date(2026, 8, 15), {dt.date(2025, 6, 11): Decimal("2.15")})  # type: ignore[arg-type]
    assert found is not None and found.payment is not None
    assert (found.payment.days_late, found.payment.indemnity) == (31, Decimal("40.00"))


def test_three_months_and_the_split_per_vat_rate():
    assert acomptes.acompte_allowed_from(dt.date(2026, 11, 30)) == dt.date(2027, 2, 28)
    assert acomptes.acompte_allowed_from(dt.date(2026, 3, 2)) == dt.date(2026, 6, 2)
    # 1 000 € shared as the order's 300 € at 5,5 % and 700 € at 20 %.
    assert acomptes.split_by_rate(Decimal("1000.00"), {Decimal("5.50"): Decimal("300"), Decimal("20.00"):
                                                       Decimal("700")}) == [
        (Decimal("5.50"), Decimal("300.00")), (Decimal("20.00"), Decimal("700.00"))]
    assert acomptes.split_by_rate(Decimal("100.00"), {Decimal("10"): Decimal("1"), Decimal("20"): Decimal("2")}) == [
        (Decimal("10"), Decimal("33.33")), (Decimal("20"), Decimal("66.67"))]


async def test_api_and_pages_of_statements_and_acomptes(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    tid = uuid.UUID(cpam)
    base = f"/api/v1/tenants/{cpam}"
    operator = await api_token("technicien@titulaire.demo")
    admin = await api_token("admin@cpam72.demo")
    order = await running_order(db, tid, issued=utcnow() - dt.timedelta(days=120))
    await set_up_billing(db, tid)

    body = {"value_ht": "3000", "description": "Génie civil terminé"}
    assert (await client.post(f"{base}/orders/{order.id}/progress-statements", headers=admin, json=body)
            ).status_code == 403
    bad = await client.post(f"{base}/orders/{order.id}/progress-statements", headers=operator,
                            json={"value_ht": "beaucoup", "description": "x"})
    assert bad.status_code == 422 and "montant en euros" in bad.json()["errors"]["value_ht"]
    made = await client.post(f"{base}/orders/{order.id}/progress-statements", headers=operator, json=body)
    assert made.status_code == 201, made.text
    statement = made.json()
    assert (statement["status"], statement["value_ht"], statement["sequence"]) == ("submitted", "3000.00", 1)
    sid = statement["id"]
    assert (await client.post(f"{base}/progress-statements/{sid}/validate", headers=operator)).status_code == 403
    validated = await client.post(f"{base}/progress-statements/{sid}/validate", headers=admin)
    assert validated.status_code == 200 and validated.json()["ceiling_ht"] == "3000.00"
    over = await client.post(f"{base}/progress-statements/{sid}/acompte", headers=operator, json={"amount_ht": "3500"})
    assert over.status_code == 422 and "dépasse le plafond de 3" in over.json()["errors"]["amount_ht"]
    drafted = await client.post(f"{base}/progress-statements/{sid}/acompte", headers=operator, json={})
    assert drafted.status_code == 201, drafted.text
    assert (drafted.json()["kind"], drafted.json()["total_ht"], drafted.json()["status"]) == (
        "prepayment", "3000.00", "draft")
    issued = await client.post(f"{base}/invoices/{drafted.json()['id']}/issue", headers=operator)
    assert issued.status_code == 200 and issued.json()["number"].startswith("FA-")
    listed = await client.get(f"{base}/orders/{order.id}/progress-statements", headers=admin)
    assert [s["acompte_invoice_id"] for s in listed.json()] == [drafted.json()["id"]]

    # Pages: the operator hands in the next statement, the admin refuses it with its reason (CSRF forms).
    await login(client, "technicien@titulaire.demo")
    page_url = f"/t/{cpam}/acomptes/commande/{order.id}"
    page = await client.get(page_url)
    assert page.status_code == 200 and "Remettre un constat d'avancement" in page_text(page)
    refused = await form_post(client, page_url, page_url, {"value_ht": "2000", "description": "Pose"})
    assert refused.status_code == 422 and "le précédent, validé, en comptait déjà 3 000,00 €" in page_text(refused)
    sent = await form_post(client, page_url, page_url, {"value_ht": "5000", "description": "Pose des bornes"})
    assert sent.status_code == 303
    order_page = await client.get(f"/t/{cpam}/commandes/{order.id}")
    assert "Constats d'avancement et acomptes (2, 1 à valider)" in page_text(order_page)
    client.cookies.clear()
    await login(client, "admin@cpam72.demo")
    async with db.session([tid]) as session:
        pending = await session.scalar(select(ProgressStatement).where(ProgressStatement.tenant_id == tid,
                                                                      ProgressStatement.status == "submitted"))
    listing = await client.get(f"/t/{cpam}/acomptes")
    assert listing.status_code == 200 and order.number in page_text(listing)
    empty = await form_post(client, page_url, f"/t/{cpam}/acomptes/{pending.id}/refuser", {"reason": ""})
    assert empty.status_code == 422 and "Motif du refus : obligatoire" in page_text(empty)
    done = await form_post(client, page_url, f"/t/{cpam}/acomptes/{pending.id}/refuser",
                           {"reason": "Pose non terminée"})
    assert done.status_code == 303
    after = page_text(await client.get(page_url))
    assert "Motif : Pose non terminée" in after and "Remettre un constat" not in after
