"""Invoices and credit notes with a database (``billing.invoices``, issue 15 §3): drafted from a verified order's
accepted quantities (CCP TGD VII.3) with the réfaction deducted, never more than accepted minus invoiced; refused
before it is issued with what is missing (CCP TGD IX.6, Chorus Pro); numbered without gaps per issuer, series and
year, under concurrency too; the due date of IX.7; credit notes (381) referencing the invoice; the payment; the
e-mail to the buyer's admins once; the audit; the Factur-X PDF and its XML (EN 16931) with the buyer's SIRET, the
service code and the order number; the tenant wall."""

from __future__ import annotations

import asyncio
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

from app.audit import AuditEvent
from app.errors import NotFound
from app.mail import OutboxMessage
from app.outbox import Relay
from billing import documents, invoices, services
from billing.invoice_rules import invoice_line_amounts, vat_breakdown
from billing.models import Invoice, InvoiceLine
from catalog import deliveries, orders
from tenants.models import FrameworkAgreement

PARIS = ZoneInfo("Europe/Paris")  # the tenant's zone: delivery and notification dates are its calendar days

ACTOR = {"user_id": None, "label": "technicien@titulaire.demo"}
CPAM_AGREEMENT = "2025-CPAM72-IRVE"
#: Monday 7 December 2026: the order is issued; the slip on the 10th, the decision on the 15th.
ISSUED = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
DELIVERED = dt.datetime(2026, 12, 10, 9, 0, tzinfo=dt.UTC)
DECIDED = dt.datetime(2026, 12, 15, 9, 0, tzinfo=dt.UTC)
#: Wednesday 16 December 2026: the invoice.
NOW = dt.datetime(2026, 12, 16, 9, 0, tzinfo=dt.UTC)
LINES = [{"article_code": "IRVE-BORNE-22", "quantity": "2"}, {"article_code": "IRVE-POSE", "quantity": "2",
                                                               "discount_percent": "5"}]
ISSUER = {"legal_name": "Bornes et Services SA", "siret": "732 829 320 00074", "vat_number": "FR44732829320",
          "address": "12 rue de la Recharge", "postal_code": "72000", "city": "Le Mans"}
NS = {"rsm": documents.RSM, "ram": documents.RAM, "udt": documents.UDT, "qdt": documents.QDT}


async def verified_order(db, tenant_id, *, refaction="150.50", issued=ISSUED, delivered=DELIVERED, decided=DECIDED):
    """A CPAM order of 2 bornes and 2 installations (5 % off), delivered on one slip and received (the
    installations « avec réfaction » of ``refaction`` € HT): « vérifié » (CCP TGD VII.3)."""
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CPAM_AGREEMENT))
        order = await orders.create_order(session, tenant_id, {
            "agreement_id": str(agreement.id), "lines": LINES, "delivery_place": "Parking visiteurs",
            "representative": "Anne Administratrice"}, order_date=issued.date(), now=issued)
        await orders.issue_order(session, tenant_id, order.id, now=issued)
        slip = await deliveries.record_delivery(session, tenant_id, order.id, {
            "delivered_on": delivered.astimezone(PARIS).date(), "lines": [{"position": 1, "quantity": "2"}, {"position": 2, "quantity": "2"}]},
            recorded_by=None, now=delivered)
        second = {"position": 2, "kind": "refaction", "accepted": "2", "rejected": "0", "refaction_amount": refaction} \
            if refaction else {"position": 2, "kind": "reception", "accepted": "2", "rejected": "0"}
        await deliveries.decide_delivery(session, tenant_id, slip.id, {"lines": [
            {"position": 1, "kind": "reception", "accepted": "2", "rejected": "0"}, second]},
            decided_by=None, now=decided)
        order = await orders.get_order_in_tenant(session, tenant_id, order.id)
        assert order.status == "verified"
        return order


async def set_up_billing(db, tenant_id, agreement_reference=CPAM_AGREEMENT, *, service_code="SERV-FACT-72",
                         requires_service_code=True):
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(
            FrameworkAgreement.reference == agreement_reference))
        await services.update_issuer(session, tenant_id, agreement.id, ISSUER)
        await services.update_profile(session, tenant_id, {"requires_service_code": requires_service_code,
                                                           "requires_engagement": True, "service_code": service_code})


async def draft(db, tenant_id, order_id, data=None, now=NOW):
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        return await invoices.draft_invoice(session, tenant_id, order_id, data or {}, now=now)


async def issue(db, tenant_id, invoice_id, now=NOW):
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        return await invoices.issue_invoice(session, tenant_id, invoice_id, now=now)


async def lines_of(db, tenant_id, invoice_id):
    async with db.session([tenant_id]) as session:
        invoice = await invoices.get_invoice_in_tenant(session, tenant_id, invoice_id)
        return invoice, await invoices.lines_of_invoice(session, invoice)


def _xpath(xml: bytes, path: str) -> list[str]:
    return [x if isinstance(x, str) else x.text for x in etree.fromstring(xml).xpath(path, namespaces=NS)]


async def test_invoice_of_the_accepted_quantities_refused_until_complete_then_numbered(db, demo, settings):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await verified_order(db, cpam)

    # CCP TGD VII.3 « réception avec réfaction »: the installations' 150,50 € HT deducted once, on their line.
    invoice = await draft(db, cpam, order.id)
    invoice, lines = await lines_of(db, cpam, invoice.id)
    assert (invoice.status, invoice.number, invoice.engagement_number) == ("draft", None, order.number)
    assert [(x.order_position, x.quantity, x.unit_price_ht, x.discount_percent, x.refaction_ht, x.total_ht, x.total_vat,
             x.total_ttc) for x in lines] == [
        (1, Decimal("2.000"), Decimal("3450.0000"), None, Decimal("0.00"), Decimal("6900.00"), Decimal("1380.00"),
         Decimal("8280.00")),
        # 2 × 1 150 × 0,95 = 2 185,00 − 150,50 = 2 034,50 HT; TVA 406,90; TTC 2 441,40.
        (2, Decimal("2.000"), Decimal("1150.0000"), Decimal("5.00"), Decimal("150.50"), Decimal("2034.50"),
         Decimal("406.90"), Decimal("2441.40"))]
    # Totals are the sums of the lines.
    assert (invoice.total_ht, invoice.total_vat, invoice.total_ttc) == (Decimal("8934.50"), Decimal("1786.90"),
                                                                        Decimal("10721.40"))
    # Never more than accepted minus invoiced: the draft took everything.
    with pytest.raises(services.BillingError, match="déjà facturé"):
        await draft(db, cpam, order.id)

    # Refused before it is issued: no issuer identity yet, and the profile by default asks for the engagement number
    # only (present: the order's).
    with pytest.raises(services.BillingError) as exc:
        await issue(db, cpam, invoice.id)
    message = exc.value.errors["missing"]
    assert message.startswith("Facture refusée avant émission, il manque : l'identité du titulaire émetteur : "
                              "raison sociale ; l'identité du titulaire émetteur : siret")
    assert "code service" not in message and "numéro d'engagement" not in message
    # The buyer's structure requires a service code (Chorus Pro) that it has not given.
    async with db.transaction([cpam], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CPAM_AGREEMENT))
        await services.update_issuer(session, cpam, agreement.id, ISSUER)
        with pytest.raises(services.BillingError, match="Code service : obligatoire"):
            await services.update_profile(session, cpam, {"requires_service_code": "1", "service_code": ""})
        profile = await services.lock_profile(session, cpam)
        profile.requires_service_code = True  # as an older profile could hold
    with pytest.raises(services.BillingError) as exc:
        await issue(db, cpam, invoice.id)
    assert exc.value.errors == {"missing": "Facture refusée avant émission, il manque : le code service, exigé par la "
                                           "structure de l'acheteur (Chorus Pro ; renseignez-le dans son profil de "
                                           "facturation)."}
    async with db.session([cpam]) as session:
        assert (await invoices.get_invoice_in_tenant(session, cpam, invoice.id)).status == "draft"
        assert await session.scalar(select(func.count()).select_from(Invoice).where(Invoice.number.is_not(None))) == 0

    await set_up_billing(db, cpam)
    issued = await issue(db, cpam, invoice.id)
    assert (issued.number, issued.status, issued.issue_date) == ("FA-2026-000001", "issued", dt.date(2026, 12, 16))
    # CCP TGD IX.7: thirty days from the receipt (the issue, 16/12) — the end of execution (15/12) is earlier.
    assert issued.due_date == dt.date(2027, 1, 15)
    assert (issued.service_code, issued.buyer_siret, issued.seller_siret, issued.seller_vat_number) == (
        "SERV-FACT-72", "77582405500013", "73282932000074", "FR44732829320")
    # An issued invoice is never edited again.
    with pytest.raises(services.BillingError, match="déjà émise"):
        await issue(db, cpam, invoice.id)
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(services.BillingError, match="ne se supprime pas"):
            await invoices.discard_draft(session, cpam, invoice.id)

    # Every mutation in the tenant's audit log.
    async with db.session([cpam]) as session:
        audited = await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.tenant_id == cpam, AuditEvent.entity.in_(("invoices", "invoice_lines", "billing_profiles"))))
    assert audited >= 1 + 2 + 1 + 1  # created, its two lines, the profile, the issue

    # The buyer's administrators are e-mailed once (a second relay pass sends nothing again).
    for _ in range(2):
        assert (await Relay(db, settings=settings, subscribers=invoices.SUBSCRIBERS).run_once()).failed == 0
    async with db.session([cpam]) as session:
        mails = (await session.execute(select(OutboxMessage.to, OutboxMessage.subject, OutboxMessage.body)
                                       .where(OutboxMessage.tenant_id == cpam,
                                              OutboxMessage.subject.like("[FA-2026-000001]%")))).all()
    assert [(m.to, m.subject) for m in mails] == [("admin@cpam72.demo", "[FA-2026-000001] Facture émise")]
    assert "Échéance : 15/01/2027" in mails[0].body and "10\u202f721,40 €" in mails[0].body


async def test_the_due_date_runs_from_the_end_of_execution_when_later(db, demo):
    """CCP TGD IX.7 « ou de la date de fin d'exécution des prestations si cette dernière est postérieure »: an
    invoice issued before the buyer's decision is not possible, so the end of execution never comes later than the
    issue here — the rule itself is ``billing.rules.payment_due_on``'s (tests/billing/test_rules.py); an invoice
    issued on the day of the decision is due 30 days after it."""
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await verified_order(db, cpam, refaction="")
    await set_up_billing(db, cpam)
    invoice = await issue(db, cpam, (await draft(db, cpam, order.id, now=DECIDED)).id, now=DECIDED)
    assert (invoice.verified_on, invoice.issue_date, invoice.due_date) == (
        dt.date(2026, 12, 15), dt.date(2026, 12, 15), dt.date(2027, 1, 14))


async def test_partial_invoices_credit_notes_and_payment(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await verified_order(db, cpam)
    await set_up_billing(db, cpam)

    first = await draft(db, cpam, order.id, {"lines": [{"position": 1, "quantity": "1"}]})
    # Never more than accepted minus invoiced (a draft takes its quantities).
    with pytest.raises(services.BillingError) as exc:
        await draft(db, cpam, order.id, {"lines": [{"position": 1, "quantity": "2"}, {"position": 9, "quantity": "1"}]})
    assert exc.value.errors == {"lines.1.quantity": "Ligne 1 : 2 pour 1 au plus.",
                                "lines.2.position": "Ligne 2 : position inconnue."}
    first = await issue(db, cpam, first.id)
    second = await issue(db, cpam, (await draft(db, cpam, order.id)).id)
    assert (first.number, second.number) == ("FA-2026-000001", "FA-2026-000002")
    _, second_lines = await lines_of(db, cpam, second.id)
    assert [(x.order_position, x.quantity, x.refaction_ht) for x in second_lines] == [
        (1, Decimal("1.000"), Decimal("0.00")), (2, Decimal("2.000"), Decimal("150.50"))]

    # A draft is not a document: it has no credit note; an issued invoice is corrected by one, which needs a reason.
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(services.BillingError, match="obligatoire"):
            await invoices.draft_credit_note(session, cpam, second.id, {"reason": " "}, now=NOW)
        note = await invoices.draft_credit_note(session, cpam, second.id, {
            "reason": "Réfaction mal reportée", "lines": [{"position": 2, "quantity": "1"}]}, now=NOW)
    note = await issue(db, cpam, note.id)
    note, note_lines = await lines_of(db, cpam, note.id)
    # Its own series, gap-free on its own; positive amounts, the réfaction in proportion.
    assert (note.kind, note.number, note.credited_invoice_id) == ("credit_note", "AV-2026-000001", second.id)
    assert [(x.order_position, x.quantity, x.refaction_ht, x.total_ht) for x in note_lines] == [
        (2, Decimal("1.000"), Decimal("75.25"), Decimal("1017.25"))]
    # The quantity credited is invoiceable again, with its share of the réfaction.
    third = await draft(db, cpam, order.id)
    _, third_lines = await lines_of(db, cpam, third.id)
    assert [(x.order_position, x.quantity, x.refaction_ht) for x in third_lines] == [
        (2, Decimal("1.000"), Decimal("75.25"))]
    async with db.transaction([cpam], actor=ACTOR) as session:
        await invoices.discard_draft(session, cpam, third.id)
        # The rest of the line, then nothing left to credit.
        rest = await invoices.draft_credit_note(session, cpam, second.id, {"reason": "Annulation"}, now=NOW)
    _, rest_lines = await lines_of(db, cpam, rest.id)
    assert [(x.order_position, x.quantity, x.refaction_ht) for x in rest_lines] == [
        (1, Decimal("1.000"), Decimal("0.00")), (2, Decimal("1.000"), Decimal("75.25"))]
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(services.BillingError, match="entièrement créditée"):
            await invoices.draft_credit_note(session, cpam, second.id, {"reason": "Encore"}, now=NOW)

    # The payment: not in the future, not before the issue; once; never of a credit note.
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(services.BillingError, match="futur"):
            await invoices.mark_paid(session, cpam, first.id, {"paid_on": "2026-12-17"}, now=NOW)
        with pytest.raises(services.BillingError, match="précéder"):
            await invoices.mark_paid(session, cpam, first.id, {"paid_on": "2026-12-01"}, now=NOW)
        with pytest.raises(services.BillingError, match="ne se paie pas"):
            await invoices.mark_paid(session, cpam, note.id, {}, now=NOW)
        paid = await invoices.mark_paid(session, cpam, first.id, {}, now=NOW)
        assert (paid.status, paid.paid_on) == ("paid", dt.date(2026, 12, 16))
        with pytest.raises(services.BillingError, match="non payée"):
            await invoices.mark_paid(session, cpam, first.id, {}, now=NOW)

    # The credit note's XML: type 381, the invoice it credits (BT-25, BT-26), positive amounts.
    async with db.session([cpam]) as session:
        credited = await invoices.get_invoice_in_tenant(session, cpam, second.id)
        xml = documents.invoice_xml(documents.InvoiceSheet(note, note_lines, credited))
    facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert _xpath(xml, "//rsm:ExchangedDocument/ram:TypeCode") == ["381"]
    assert _xpath(xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == ["FA-2026-000002"]
    assert _xpath(xml, "//ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString") == ["20261216"]
    assert _xpath(xml, "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount") == ["1220.70"]


async def test_a_draft_of_an_order_not_verified_or_of_another_tenant_is_refused(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    commune = uuid.UUID(demo["tenant_ids"]["commune"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CPAM_AGREEMENT))
        issued = await orders.create_order(session, cpam, {
            "agreement_id": str(agreement.id), "lines": LINES, "delivery_place": "Parking",
            "representative": "Anne"}, order_date=ISSUED.date(), now=ISSUED)
        await orders.issue_order(session, cpam, issued.id, now=ISSUED)
    with pytest.raises(services.BillingError, match="n'est pas vérifié"):
        await draft(db, cpam, issued.id)
    order = await verified_order(db, cpam)
    invoice = await draft(db, cpam, order.id)
    # Another tenant's order and invoice read like unknown ones.
    async with db.transaction([commune], actor=ACTOR) as session:
        with pytest.raises(NotFound):
            await invoices.draft_invoice(session, commune, order.id, {}, now=NOW)
        for call in (invoices.issue_invoice(session, commune, invoice.id, now=NOW),
                     invoices.mark_paid(session, commune, invoice.id, {}, now=NOW),
                     invoices.draft_credit_note(session, commune, invoice.id, {"reason": "x"}, now=NOW)):
            with pytest.raises(NotFound):
                await call
        assert await session.scalar(select(func.count()).select_from(InvoiceLine)) == 0


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_concurrent_issues_never_share_or_skip_a_number(db, demo):
    """Ten drafts of ten orders issued at once, each in its own transaction: FA-2026-000001 to 000010, each once (the
    counter row is taken with ``UPDATE … RETURNING``, the way catalog numbers its orders)."""
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    await set_up_billing(db, cpam)
    drafts = []
    for _ in range(10):
        order = await verified_order(db, cpam, refaction="")
        drafts.append((await draft(db, cpam, order.id)).id)
    issued = await asyncio.gather(*(issue(db, cpam, d) for d in drafts))
    assert sorted(i.number for i in issued) == [f"FA-2026-{n:06d}" for n in range(1, 11)]


async def test_the_factur_x_pdf_carries_the_en16931_xml_with_siret_service_code_and_order(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await verified_order(db, cpam)
    await set_up_billing(db, cpam)
    invoice = await issue(db, cpam, (await draft(db, cpam, order.id)).id)
    invoice, lines = await lines_of(db, cpam, invoice.id)
    pdf = documents.invoice_pdf(documents.InvoiceSheet(invoice, lines))

    # The XML that ``factur-x`` extracts from the PDF/A-3, valid against the EN 16931 schema (offline).
    filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml"
    facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert facturx.get_flavor(etree.fromstring(xml)) == "factur-x"
    assert facturx.get_level(etree.fromstring(xml)) == "en16931"
    assert _xpath(xml, "//rsm:ExchangedDocument/ram:ID") == ["FA-2026-000001"]
    assert _xpath(xml, "//rsm:ExchangedDocument/ram:TypeCode") == ["380"]
    # BT-47 the buyer's SIRET (scheme 0009, what Chorus Pro reads), BT-10 the service code, BT-13 the order number
    # (CCP TGD IX.6 « le numéro CHORUS indiqué dans chacun des bons de commande »).
    buyer = "//ram:BuyerTradeParty/ram:SpecifiedLegalOrganization/ram:ID"
    assert _xpath(xml, buyer) == ["77582405500013"] and _xpath(xml, f"{buyer}/@schemeID") == ["0009"]
    assert _xpath(xml, "//ram:ApplicableHeaderTradeAgreement/ram:BuyerReference") == ["SERV-FACT-72"]
    assert _xpath(xml, "//ram:ApplicableHeaderTradeAgreement/ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID") \
        == [order.number]
    assert _xpath(xml, "//ram:ContractReferencedDocument/ram:IssuerAssignedID") == [CPAM_AGREEMENT]
    # BT-30 / BT-31: the seller's SIRET and VAT number.
    assert _xpath(xml, "//ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID") == ["73282932000074"]
    assert _xpath(xml, "//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == ["FR44732829320"]
    # Lines (BT-131 each, the réfaction a line allowance BT-136), the VAT breakdown (BG-23), the totals (BG-22) and
    # the due date (BT-9, CCP TGD IX.7) — the EN 16931 sums (BR-CO-10, BR-CO-13 to 16).
    line_totals = [Decimal(x) for x in _xpath(
        xml, "//ram:IncludedSupplyChainTradeLineItem//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount")]
    assert line_totals == [Decimal("6900.00"), Decimal("2034.50")]
    assert _xpath(xml, "//ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeAllowanceCharge/ram:ActualAmount") == ["150.50"]
    head = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    assert [_xpath(xml, head + t)[0] for t in ("LineTotalAmount", "TaxBasisTotalAmount", "TaxTotalAmount",
                                               "GrandTotalAmount", "DuePayableAmount")] == [
        "8934.50", "8934.50", "1786.90", "10721.40", "10721.40"]
    assert sum(line_totals) == Decimal("8934.50")
    assert _xpath(xml, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:BasisAmount") == ["8934.50"]
    assert _xpath(xml, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CalculatedAmount") == ["1786.90"]
    assert _xpath(xml, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString") == ["20270115"]
    assert "40.00 €" in " ".join(_xpath(xml, "//ram:IncludedNote[ram:SubjectCode='PMT']/ram:Content"))

    # The PDF's text shows the same.
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace("\u202f", " ")
    text = " ".join(text.split())
    for expected in ("Facture FA-2026-000001", "SIRET de l'acheteur 77582405500013", "Code service SERV-FACT-72",
                     f"Numéro d'engagement {order.number}", "SIRET de l'émetteur 73282932000074",
                     "FR44732829320", "Échéance 15/01/2027", "10 721,40 €", "150,50 €"):
        assert expected in text, expected


def test_line_amounts_and_vat_breakdown_are_rounded_at_line_level():
    # 3 × 0,125 € at 20 %: 0,38 HT, 0,08 TVA, 0,46 TTC (DESIGN.md: half-up to the cent, line by line).
    a = invoice_line_amounts(Decimal("3"), Decimal("0.125"), Decimal("20"))
    assert (a.total_ht, a.total_vat, a.total_ttc) == (Decimal("0.38"), Decimal("0.08"), Decimal("0.46"))
    b = invoice_line_amounts(Decimal("1"), Decimal("100"), Decimal("8.5"), Decimal("10"), Decimal("5"))
    assert (b.gross_ht, b.total_ht, b.total_vat, b.net_unit_price) == (Decimal("100.00"), Decimal("85.00"),
                                                                       Decimal("7.23"), Decimal("90.0000"))
    assert [(r.rate, r.base_ht, r.vat, r.category) for r in vat_breakdown([a, b, a])] == [
        (Decimal("8.5"), Decimal("85.00"), Decimal("7.23"), "S"), (Decimal("20"), Decimal("0.76"), Decimal("0.16"), "S")]
    with pytest.raises(ValueError, match="réfaction"):
        invoice_line_amounts(Decimal("1"), Decimal("10"), Decimal("20"), refaction_ht=Decimal("10.01"))
