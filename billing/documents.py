"""An issued invoice as documents (issue 15 §3): the EN 16931 CII XML (Factur-X profile « EN 16931 », UN/CEFACT
Cross Industry Invoice D16B) checked against the official schema by the ``factur-x`` package before it leaves
(``facturx.xml_check_xsd``, offline), and the Factur-X PDF: the kernel's PDF (``app.pdf``) turned into a PDF/A-3
with that XML embedded (``facturx.generate_from_binary``), what Chorus Pro and the public buyers' platforms take.

The XML carries what public buyers require (CCP TGD IX.6, Chorus Pro): the buyer's SIRET (BT-47, scheme 0009),
the service code (BT-10 Buyer reference), the engagement / order number (BT-13), the seller's SIRET (BT-30) and
VAT number (BT-31), the lines, the VAT breakdown per rate, the totals and the due date (BT-9, CCP TGD IX.7).
``docs/billing.md`` lists every element with its EN 16931 term.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.pdf import dated_moment, restamped
from billing import invoice_rules as rules
from billing.models import Invoice, InvoiceAllowance, InvoiceLine
from billing.rules import FIXED_RECOVERY_INDEMNITY, LATE_INTEREST_MARGIN

__all__ = ["InvoiceSheet", "invoice_pdf", "invoice_xml", "plain_pdf", "xml_filename"]

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
#: BT-24: the EN 16931 profile of Factur-X.
EN16931 = "urn:cen.eu:en16931:2017"
#: UN/ECE Rec 20 unit codes of the BPU's French units (others: « C62 », one) — the same as the Order-X of orders.
UNIT_CODES = {"jour": "DAY", "mois": "MON", "an": "ANN", "heure": "HUR", "h": "HUR", "m": "MTR", "kg": "KGM"}
#: ISO 6523 ICD scheme of a SIRET in SpecifiedLegalOrganization/ID (what Chorus Pro reads).
SIRET_SCHEME = "0009"


@dataclass(frozen=True)
class InvoiceSheet:
    """What every rendering of an invoice needs: the invoice, its lines, the invoice a credit note credits."""

    invoice: Invoice
    lines: Sequence[InvoiceLine]
    credited: Invoice | None = None
    #: Document-level allowances (BG-20): the penalties deducted (CCP TGD VIII.1), each with its computation.
    allowances: Sequence[InvoiceAllowance] = ()
    #: The acompte invoices a final invoice deducts (CCP TGD IX.5), referenced in BG-3 (BT-25, BT-26).
    preceding: Sequence[Invoice] = ()

    def vat_breakdown(self) -> list[rules.VatRate]:
        """BG-23: per rate, the lines' base less the allowances at that rate (BT-116 = Σ BT-131 − Σ BT-92)."""
        rates = {r.rate: r for r in rules.vat_breakdown(self.lines)}
        for a in self.allowances:
            r = rates[a.vat_rate]
            rates[a.vat_rate] = rules.VatRate(r.rate, r.base_ht - a.amount_ht, r.vat - a.total_vat)
        return [rates[k] for k in sorted(rates)]

    def totals(self) -> tuple[Decimal, Decimal, rules.Totals]:
        """(BT-106 line total, BT-107 allowances, the totals due: BT-109, BT-110, BT-112)."""
        lines = rules.totals_of(self.lines)
        allowed = sum((a.amount_ht for a in self.allowances), Decimal("0.00"))
        allowed_vat = sum((a.total_vat for a in self.allowances), Decimal("0.00"))
        return lines.total_ht, allowed, rules.Totals(lines.total_ht - allowed, lines.total_vat - allowed_vat,
                                                     lines.total_ttc - allowed - allowed_vat)

    @property
    def title(self) -> str:
        i = self.invoice
        return f"{rules.KINDS[i.kind]} {i.number or '(brouillon)'}"


def xml_filename(invoice: Invoice) -> str:
    return f"{invoice.number or 'brouillon'}-factur-x.xml"


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _date(value: dt.date) -> str:
    return f"{value:%Y%m%d}"


def _notes(invoice: Invoice) -> list[tuple[str, str]]:
    """BG-1 notes with their subject codes (UNTDID 4451): the late-payment terms French law requires on an
    invoice (CCP TGD IX.7), and a credit note's reason."""
    notes = []
    if invoice.kind == "credit_note" and invoice.reason:
        notes.append(("AAI", f"Motif de l'avoir : {invoice.reason}"))
    notes += [
        ("PMD", f"Intérêts moratoires en cas de retard de paiement : taux de la BCE (opérations principales de "
                f"refinancement) en vigueur au premier jour du semestre + {LATE_INTEREST_MARGIN} points (CCP TGD IX.7)."),
        ("PMT", f"Indemnité forfaitaire pour frais de recouvrement : {FIXED_RECOVERY_INDEMNITY} € (CCP TGD IX.7)."),
        ("AAB", "Pas d'escompte pour paiement anticipé."),
    ]
    return notes


def invoice_xml(sheet: InvoiceSheet) -> bytes:
    """The CII XML of the invoice (TypeCode 380) or credit note (381, positive amounts, BT-25 the invoice it
    credits), checked against the Factur-X EN 16931 XSD (``Exception`` if not valid: it never leaves)."""
    import facturx
    from lxml import etree

    i = sheet.invoice
    assert i.number and i.issue_date, "only an issued invoice has a Factur-X XML"

    def el(parent: Any, ns: str, tag: str, text: str | None = None, **attrs: str) -> Any:
        node = etree.SubElement(parent, f"{{{ns}}}{tag}", **attrs)
        if text is not None:
            node.text = text
        return node

    def day(parent: Any, tag: str, value: dt.date, ns: str = UDT) -> None:
        el(el(parent, RAM, tag), ns, "DateTimeString", _date(value), format="102")

    def address(party: Any, postcode: str, line: str, city: str, country: str) -> None:
        postal = el(party, RAM, "PostalTradeAddress")
        if postcode:
            el(postal, RAM, "PostcodeCode", postcode)
        if line:
            el(postal, RAM, "LineOne", line)
        if city:
            el(postal, RAM, "CityName", city)
        el(postal, RAM, "CountryID", country or "FR")

    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap={"rsm": RSM, "ram": RAM, "qdt": QDT, "udt": UDT})
    context = el(root, RSM, "ExchangedDocumentContext")
    el(el(context, RAM, "GuidelineSpecifiedDocumentContextParameter"), RAM, "ID", EN16931)
    header = el(root, RSM, "ExchangedDocument")
    el(header, RAM, "ID", i.number)  # BT-1
    el(header, RAM, "TypeCode", rules.TYPE_CODES[i.kind])  # BT-3
    day(header, "IssueDateTime", i.issue_date)  # BT-2
    for subject, content in _notes(i):  # BG-1
        note = el(header, RAM, "IncludedNote")
        el(note, RAM, "Content", content)
        el(note, RAM, "SubjectCode", subject)
    transaction = el(root, RSM, "SupplyChainTradeTransaction")
    for x in sheet.lines:  # BG-25
        amounts = rules.invoice_line_amounts(x.quantity, x.unit_price_ht, x.vat_rate, x.discount_percent,
                                             x.refaction_ht)
        item = el(transaction, RAM, "IncludedSupplyChainTradeLineItem")
        line_doc = el(item, RAM, "AssociatedDocumentLineDocument")
        el(line_doc, RAM, "LineID", str(x.position))  # BT-126
        if x.note:
            el(el(line_doc, RAM, "IncludedNote"), RAM, "Content", x.note)  # BT-127
        product = el(item, RAM, "SpecifiedTradeProduct")
        el(product, RAM, "SellerAssignedID", x.article_code)  # BT-155
        el(product, RAM, "Name", x.label)  # BT-153
        agreement = el(item, RAM, "SpecifiedLineTradeAgreement")
        if x.order_position:  # an acompte's line, or its deduction, is no order line
            el(el(agreement, RAM, "BuyerOrderReferencedDocument"), RAM, "LineID", str(x.order_position))  # BT-132
        gross = el(agreement, RAM, "GrossPriceProductTradePrice")
        el(gross, RAM, "ChargeAmount", f"{x.unit_price_ht:.4f}")  # BT-148
        if x.discount_percent:
            discount = el(gross, RAM, "AppliedTradeAllowanceCharge")  # BT-147
            el(el(discount, RAM, "ChargeIndicator"), UDT, "Indicator", "false")
            el(discount, RAM, "ActualAmount", f"{x.unit_price_ht - amounts.net_unit_price:.4f}")
        el(el(agreement, RAM, "NetPriceProductTradePrice"), RAM, "ChargeAmount",
           f"{amounts.net_unit_price:.4f}")  # BT-146
        unit = UNIT_CODES.get((x.unit or "").strip().lower(), "C62")
        el(el(item, RAM, "SpecifiedLineTradeDelivery"), RAM, "BilledQuantity", f"{x.quantity:f}",
           unitCode=unit)  # BT-129, BT-130
        settlement = el(item, RAM, "SpecifiedLineTradeSettlement")
        tax = el(settlement, RAM, "ApplicableTradeTax")
        el(tax, RAM, "TypeCode", "VAT")
        el(tax, RAM, "CategoryCode", "S" if x.vat_rate else "Z")  # BT-151
        el(tax, RAM, "RateApplicablePercent", f"{x.vat_rate:.2f}")  # BT-152
        if x.refaction_ht:
            allowance = el(settlement, RAM, "SpecifiedTradeAllowanceCharge")  # BG-27
            el(el(allowance, RAM, "ChargeIndicator"), UDT, "Indicator", "false")
            el(allowance, RAM, "ActualAmount", _amount(x.refaction_ht))  # BT-136
            el(allowance, RAM, "Reason", "Réfaction (CCP TGD VII.3)")  # BT-139
        el(el(settlement, RAM, "SpecifiedTradeSettlementLineMonetarySummation"), RAM, "LineTotalAmount",
           _amount(x.total_ht))  # BT-131

    trade = el(transaction, RAM, "ApplicableHeaderTradeAgreement")
    if i.service_code:
        el(trade, RAM, "BuyerReference", i.service_code)  # BT-10: Chorus Pro's « code service »
    seller = el(trade, RAM, "SellerTradeParty")  # BG-4
    el(seller, RAM, "Name", i.seller_name)  # BT-27
    el(el(seller, RAM, "SpecifiedLegalOrganization"), RAM, "ID", i.seller_siret, schemeID=SIRET_SCHEME)  # BT-30
    address(seller, i.seller_postal_code, i.seller_address, i.seller_city, i.seller_country_code)  # BG-5
    el(el(seller, RAM, "SpecifiedTaxRegistration"), RAM, "ID", i.seller_vat_number, schemeID="VA")  # BT-31
    buyer = el(trade, RAM, "BuyerTradeParty")  # BG-7
    el(buyer, RAM, "Name", i.buyer_name)  # BT-44
    if i.buyer_siret:
        el(el(buyer, RAM, "SpecifiedLegalOrganization"), RAM, "ID", i.buyer_siret, schemeID=SIRET_SCHEME)  # BT-47
    address(buyer, i.buyer_postal_code, i.buyer_address, i.buyer_city, "FR")  # BG-8
    if i.engagement_number:
        el(el(trade, RAM, "BuyerOrderReferencedDocument"), RAM, "IssuerAssignedID", i.engagement_number)  # BT-13
    el(el(trade, RAM, "ContractReferencedDocument"), RAM, "IssuerAssignedID", i.agreement_reference)  # BT-12

    delivery = el(transaction, RAM, "ApplicableHeaderTradeDelivery")
    if i.verified_on:  # BT-72: the end of execution certified by the buyer (CCP TGD VII.3)
        day(el(delivery, RAM, "ActualDeliverySupplyChainEvent"), "OccurrenceDateTime", i.verified_on)

    settlement = el(transaction, RAM, "ApplicableHeaderTradeSettlement")
    el(settlement, RAM, "InvoiceCurrencyCode", i.currency)  # BT-5
    for rate in sheet.vat_breakdown():  # BG-23
        tax = el(settlement, RAM, "ApplicableTradeTax")
        el(tax, RAM, "CalculatedAmount", _amount(rate.vat))  # BT-117
        el(tax, RAM, "TypeCode", "VAT")
        el(tax, RAM, "BasisAmount", _amount(rate.base_ht))  # BT-116
        el(tax, RAM, "CategoryCode", rate.category)  # BT-118
        el(tax, RAM, "RateApplicablePercent", f"{rate.rate:.2f}")  # BT-119
    for a in sheet.allowances:  # BG-20: a penalty deducted (CCP TGD VIII.1)
        allowance = el(settlement, RAM, "SpecifiedTradeAllowanceCharge")
        el(el(allowance, RAM, "ChargeIndicator"), UDT, "Indicator", "false")
        el(allowance, RAM, "ActualAmount", _amount(a.amount_ht))  # BT-92
        el(allowance, RAM, "Reason", a.reason)  # BT-97
        category = el(allowance, RAM, "CategoryTradeTax")
        el(category, RAM, "TypeCode", "VAT")
        el(category, RAM, "CategoryCode", "S" if a.vat_rate else "Z")  # BT-95
        el(category, RAM, "RateApplicablePercent", f"{a.vat_rate:.2f}")  # BT-96
    terms = el(settlement, RAM, "SpecifiedTradePaymentTerms")  # BT-20, BT-9
    if i.kind != "credit_note" and i.due_date:
        el(terms, RAM, "Description", "Paiement à 30 jours de la réception de la facture ou de la fin d'exécution si "
                                      "elle est postérieure (CCP TGD IX.7).")
        day(terms, "DueDateDateTime", i.due_date)
    else:
        el(terms, RAM, "Description", "Avoir : à déduire du paiement de la facture créditée.")
    line_total, allowed, totals = sheet.totals()
    summation = el(settlement, RAM, "SpecifiedTradeSettlementHeaderMonetarySummation")  # BG-22
    el(summation, RAM, "LineTotalAmount", _amount(line_total))  # BT-106
    if sheet.allowances:
        el(summation, RAM, "AllowanceTotalAmount", _amount(allowed))  # BT-107
    el(summation, RAM, "TaxBasisTotalAmount", _amount(totals.total_ht))  # BT-109
    el(summation, RAM, "TaxTotalAmount", _amount(totals.total_vat), currencyID=i.currency)  # BT-110
    el(summation, RAM, "GrandTotalAmount", _amount(totals.total_ttc))  # BT-112
    el(summation, RAM, "DuePayableAmount", _amount(totals.total_ttc))  # BT-115
    # BG-3: the invoice a credit note credits; the acompte invoices a final invoice deducts (IX.5).
    for earlier in ([sheet.credited] if sheet.credited is not None else []) + list(sheet.preceding):
        if not earlier.number:
            continue
        preceding = el(settlement, RAM, "InvoiceReferencedDocument")
        el(preceding, RAM, "IssuerAssignedID", earlier.number)  # BT-25
        if earlier.issue_date:
            day(preceding, "FormattedIssueDateTime", earlier.issue_date, ns=QDT)  # BT-26
    xml: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    return xml


# --------------------------------------------------------------------------- the PDF


def _money(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + " €"


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}".replace(".", ",")


def _day(value: dt.date | None) -> str:
    return "" if value is None else f"{value:%d/%m/%Y}"


COLUMNS = ("N°", "Code article", "Désignation", "Unité", "Quantité", "Prix unitaire HT", "Remise", "Réfaction HT",
           "Montant HT", "TVA", "Montant TTC")
WIDTHS = (6, 18, 52, 12, 14, 18, 12, 16, 18, 12, 18)


def plain_pdf(sheet: InvoiceSheet) -> bytes:
    """The human-readable invoice (every element the XML carries), before it becomes a Factur-X."""
    from app.pdf import document, pdf_bytes

    i = sheet.invoice
    doc = document(sheet.title, f"Marché {i.agreement_reference} — Factur-X EN 16931", landscape=True)
    pairs = [
        ("Numéro", i.number or "(brouillon, non numéroté)"),
        ("Date d'émission", _day(i.issue_date)),
        ("Émetteur (titulaire)", i.seller_name),
        ("SIRET de l'émetteur", i.seller_siret),
        ("N° de TVA intracommunautaire", i.seller_vat_number),
        ("Adresse de l'émetteur", " ".join(x for x in (i.seller_address, i.seller_postal_code, i.seller_city) if x)),
        ("Acheteur", i.buyer_name),
        ("SIRET de l'acheteur", i.buyer_siret),
        ("Adresse de l'acheteur", " ".join(x for x in (i.buyer_address, i.buyer_postal_code, i.buyer_city) if x)),
        ("Code service", i.service_code or "—"),
        ("Numéro d'engagement", i.engagement_number or "—"),
        ("Bon de commande", i.order_number),
        ("Références du marché", i.agreement_reference),
        ("Fin d'exécution (réception)", _day(i.verified_on) or "—"),
    ]
    if i.kind != "credit_note":
        pairs.append(("Échéance", _day(i.due_date)))
    if sheet.preceding:
        pairs.append(("Acomptes déduits (CCP TGD IX.5)", ", ".join(
            f"{p.number} du {_day(p.issue_date)} ({_money(p.total_ht)} HT)" for p in sheet.preceding)))
    if sheet.credited is not None:
        pairs.append(("Facture créditée", f"{sheet.credited.number} du {_day(sheet.credited.issue_date)}"))
        pairs.append(("Motif de l'avoir", i.reason))
    doc.key_values(pairs)
    doc.heading("Lignes")
    doc.table_of(COLUMNS, [(str(x.position), x.article_code, x.label, x.unit, _number(x.quantity),
                            _money(x.unit_price_ht) if x.unit_price_ht == round(x.unit_price_ht, 2)
                            else f"{_number(x.unit_price_ht)} €",
                            f"{_number(x.discount_percent)} %" if x.discount_percent else "",
                            _money(x.refaction_ht) if x.refaction_ht else "", _money(x.total_ht),
                            f"{_number(x.vat_rate)} %", _money(x.total_ttc)) for x in sheet.lines], WIDTHS)
    if sheet.allowances:
        doc.heading("Déductions : pénalités (CCP TGD VIII.1), prime ADVENIR (CCTP CPAM 5-7)")
        doc.table_of(("N°", "Motif et calcul", "Montant HT", "TVA"),
                     [(str(a.position), a.reason, f"− {_money(a.amount_ht)}", f"{_number(a.vat_rate)} %")
                      for a in sheet.allowances], (6, 130, 24, 12))
    doc.heading("TVA par taux")
    doc.table_of(("Taux", "Base HT", "TVA"), [(f"{_number(r.rate)} %", _money(r.base_ht), _money(r.vat))
                                             for r in sheet.vat_breakdown()], (20, 40, 40))
    line_total, allowed, totals = sheet.totals()
    doc.heading("Montant de l'avoir" if i.kind == "credit_note" else "Montant")
    if sheet.allowances:
        doc.key_values([("Total des lignes HT", _money(line_total)), ("Déductions HT", f"− {_money(allowed)}")])
    doc.key_values([("Total HT", _money(totals.total_ht)), ("Total TVA", _money(totals.total_vat)),
                    ("Total TTC à déduire" if i.kind == "credit_note" else "Total TTC", _money(totals.total_ttc))])
    for _subject, content in _notes(i):
        doc.paragraph(content)
    return pdf_bytes(doc)


def invoice_pdf(sheet: InvoiceSheet) -> bytes:
    """The Factur-X PDF: ``plain_pdf`` as a PDF/A-3 with ``invoice_xml`` embedded (``factur-x.xml``), the XML
    checked against the schema again by ``factur-x`` as it embeds it."""
    import facturx

    i = sheet.invoice
    xml = invoice_xml(sheet)
    metadata = {"author": i.seller_name, "keywords": "Factur-X, facture", "title": sheet.title,
                "subject": f"{sheet.title} — bon de commande {i.order_number}"}
    clock = facturx.facturx.datetime  # the library's clock, the one its dates are read from
    since = clock.now(dt.UTC)
    made: bytes = facturx.generate_from_binary(plain_pdf(sheet), xml, flavor="factur-x", level="en16931",
                                               check_xsd=True, pdf_metadata=metadata, lang="fr-FR",
                                               xmp_compression=False)  # its dates as text: ``restamped``
    if (moment := dated_moment()) is not None:  # the invoice's own date, not the library's clock (reversibility)
        made = restamped(made, since, clock.now(dt.UTC), moment)
    return made
