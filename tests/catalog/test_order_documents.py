"""A purchase order as documents (issue 14 §3): the PDF and the ODT opened and their text checked, the Order-X
validated by ``factur-x``'s own checks (XSD and schematron); every element of CCP TGD VI.1 in each."""

from __future__ import annotations

import datetime as dt
import io
import uuid

import facturx
from lxml import etree
from odf import teletype
from odf.opendocument import load
from odf.text import H, P
from pypdf import PdfReader
from sqlalchemy import select

from catalog import order_documents as docs
from catalog import orders, services
from tenants.models import FrameworkAgreement

ACTOR = {"user_id": None, "label": "admin@cpam72.demo"}
NOW = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
HEADER = "code_article;libelle;unite;prix_unitaire_ht;taux_tva;famille;complexite;constructeur;achat_location"
RAM = {"ram": docs.RAM, "rsm": docs.RSM}


async def _sheet(db, demo) -> docs.OrderSheet:
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction(actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement)
                                         .where(FrameworkAgreement.reference == "2025-CPAM72-IRVE"))
        await services.import_bpu(session, agreement, f"{HEADER}\nIRVE-HUIT;Badge « un huitième »;unité;0,125;20;"
                                  "Fourniture;;;achat\n", "v2.csv", valid_from=dt.date(2026, 12, 1), imported_by="t")
    async with db.transaction([cpam], actor=ACTOR) as session:
        order = await orders.create_order(session, cpam, {
            "agreement_id": agreement.id, "lines": [{"article_code": "IRVE-HUIT", "quantity": 3},
                                                    {"article_code": "IRVE-HUIT", "quantity": "1", "discount_percent": "10"}],
            "delivery_place": "Siège — parking des véhicules de service", "representative": "Anne Administratrice",
            "delivery_conditions": "Livraison le matin, accès par la rue Paul-Ligneul"},
            order_date=dt.date(2026, 12, 5), now=NOW)
        await orders.issue_order(session, cpam, order.id, now=NOW)
        return await docs.load_sheet(session, cpam, order.id)


def _flat(text: str) -> str:
    return " ".join(text.split())


def pdf_text(pdf: bytes) -> str:
    """A PDF's text on one line, narrow spaces as spaces (the delivery slip's and the quote's tests too)."""
    return _flat(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace("\u202f", " "))


def odt_text(odt: bytes) -> str:
    """An ODT's headings and paragraphs (table cells included) on one line, « Label : value » as « Label value »."""
    document = load(io.BytesIO(odt))
    parts = [*document.getElementsByType(H), *document.getElementsByType(P)]
    return _flat(" ".join(teletype.extractText(p) for p in parts).replace("\u202f", " ").replace(" : ", " "))


EXPECTED = ["Bon de commande BC-2026-000001", "2025-CPAM72-IRVE", "Date de la commande 05/12/2026", "État émis",
            "CPAM de la Sarthe", "Siège — parking des véhicules de service", "Anne Administratrice",
            "Livraison le matin, accès par la rue Paul-Ligneul", "Badge « un huitième »",
            # 3 × 0.125 at 20 %: 0.38 HT, 0.46 TTC; 1 × 0.125 less 10 %: 0.13 before, 0.11 after, 0.13 TTC.
            "0,125 € 0,38 € 0,38 € 20 % 0,46 €", "0,125 € 0,13 € 10 % 0,11 € 20 % 0,13 €",
            "Total HT non remisé 0,51 €", "Total HT après remise 0,49 €", "Total TVA 0,10 €", "Montant global TTC 0,59 €"]


async def test_the_pdf_says_every_element(db, demo):
    sheet = await _sheet(db, demo)
    pdf = docs.order_pdf(sheet)
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for expected in EXPECTED:
        assert expected in text, expected


async def test_the_odt_opens_and_says_every_element(db, demo):
    sheet = await _sheet(db, demo)
    text = odt_text(docs.odt_bytes(sheet))
    for expected in EXPECTED:
        assert expected in text, expected
    assert sheet.filename("odt") == "BC-2026-000001.odt"


async def test_the_order_x_is_valid_by_factur_x_and_carries_the_amounts(db, demo):
    sheet = await _sheet(db, demo)
    xml = docs.orderx_bytes(sheet)
    # factur-x's own checks: the official XSD and the schematron of the comfort profile.
    assert facturx.xml_check_xsd(xml, flavor="order-x", level="comfort")
    assert facturx.xml_check_schematron(xml, flavor="order-x", level="comfort")
    tree = etree.fromstring(xml)
    assert facturx.get_orderx_type(tree) == "order"
    assert facturx.get_level(tree, "order-x") == "comfort"

    def values(path: str) -> list[str]:
        return [node.text for node in tree.xpath(path, namespaces=RAM)]

    assert values("//rsm:ExchangedDocument/ram:ID") == ["BC-2026-000001"]
    assert values("//ram:ContractReferencedDocument/ram:IssuerAssignedID") == ["2025-CPAM72-IRVE"]
    assert values("//ram:IncludedSupplyChainTradeLineItem//ram:LineTotalAmount") == ["0.38", "0.11"]
    assert values("//ram:GrossPriceProductTradePrice/ram:ChargeAmount") == ["0.1250", "0.1250"]
    assert values("//ram:SpecifiedTradeSettlementHeaderMonetarySummation/*") == ["0.49", "0.49", "0.10", "0.59"]
    assert sheet.filename("orderx") == "BC-2026-000001-order-x.xml"
