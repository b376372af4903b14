"""A purchase order as documents (issue 14 §3): PDF (the kernel's ``app.pdf``), OpenDocument text (``odfpy``;
CCP TGD X.7 asks for deliverables in an ODF format) and Order-X XML (the Franco-German e-ordering standard, CII
D20B « comfort » profile) for buyers whose systems take it, checked against the official schema by the
``factur-x`` package before it leaves (``facturx.xml_check_xsd``).

Each carries every element of CCP TGD VI.1: the agreement's references, the number and date, the full
description of each line, the place(s) of delivery or execution, the buyer's representative(s), the price HT
before discount, HT and TTC after discount, the total, the special delivery conditions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from litestar import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.documents import Layout, layout_odt, layout_pdf
from app.errors import ValidationFailed
from catalog import orders
from catalog.models import PurchaseOrder, PurchaseOrderAmendment
from catalog.order_rules import STATUSES, order_totals
from tenants.models import FrameworkAgreement, Tenant

__all__ = [
    "COLUMNS",
    "FORMATS",
    "LINE_WIDTHS",
    "Layout",
    "OrderSheet",
    "agreement_and_seller",
    "attachment",
    "buyer_label",
    "day",
    "document_response",
    "layout_odt",
    "layout_pdf",
    "layout_response",
    "line_rows",
    "load_sheet",
    "money",
    "odt_bytes",
    "order_layout",
    "order_pdf",
    "orderx_bytes",
    "percent",
    "price",
    "quantity",
    "total_pairs",
]

#: ``?format=`` → (media type, file extension).
FORMATS = {
    "pdf": ("application/pdf", "pdf"),
    "odt": ("application/vnd.oasis.opendocument.text", "odt"),
    "orderx": ("application/xml", "xml"),
}


@dataclass(frozen=True)
class OrderSheet:
    """What every rendering of an order needs: one of its versions (1 as issued; each amendment of CCP TGD VI.3
    makes the next), with the amendment that made it and what changed from the previous one."""

    order: PurchaseOrder
    lines: list[Any]
    buyer: Tenant
    seller: str
    version: int = 1
    amendment: PurchaseOrderAmendment | None = None

    @property
    def title(self) -> str:
        if self.amendment is not None:
            return f"Bon de commande {self.order.number} — version {self.version} (modificatif {self.amendment.number})"
        return f"Bon de commande {self.order.number}" + (" — version 1" if self.order.version > 1 else "")

    @property
    def totals(self) -> Any:
        """The version's totals: the sums of its lines (CCP TGD VI.1)."""
        return order_totals(self.lines)

    def filename(self, fmt: str) -> str:
        name = self.amendment.number if self.amendment is not None else self.order.number
        return f"{name}{'-order-x' if fmt == 'orderx' else ''}.{FORMATS[fmt][1]}"


async def load_sheet(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID,
                     version: int | None = None) -> OrderSheet:
    """The order of the tenant (``NotFound`` otherwise) in ``version`` (its current one by default) with its lines,
    its buyer and the titulaire; an unknown version is a ``ValidationFailed``."""
    from catalog import amendments

    order = await orders.get_order_in_tenant(session, tenant_id, order_id)
    buyer = await session.get(Tenant, tenant_id)
    assert buyer is not None
    version = order.version if version is None else version
    if not 1 <= version <= order.version:
        raise ValidationFailed({"version": f"Version inconnue : la commande a les versions 1 à {order.version}."})
    made_by = next((a for a in await amendments.amendments_of_order(session, order) if a.version == version), None)
    return OrderSheet(order=order, lines=await amendments.version_lines(session, order, version), buyer=buyer,
                      seller=(await agreement_and_seller(session, order.agreement_id))[1], version=version,
                      amendment=made_by)


async def agreement_and_seller(session: AsyncSession, agreement_id: uuid.UUID) -> tuple[FrameworkAgreement | None, str]:
    """The agreement of a document and the name of its titulaire (« Titulaire du marché » when it has none)."""
    agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.id == agreement_id))
    return agreement, (agreement.titulaire if agreement is not None else "") or "Titulaire du marché"


def buyer_label(buyer: Tenant) -> str:
    return buyer.name + (f" (SIRET {buyer.siret})" if buyer.siret else "")


def day(value: dt.date | None) -> str:
    return "" if value is None else f"{value:%d/%m/%Y}"


def money(value: Decimal | None) -> str:
    """``1 234,56 €`` (a narrow no-break space between thousands)."""
    if value is None:
        return ""
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + " €"


def price(value: Decimal) -> str:
    """A unit price with its BPU decimals (2 to 4)."""
    text = f"{value.normalize():f}"
    whole, _, decimals = text.partition(".")
    decimals = (decimals + "00")[:max(2, len(decimals))]
    return money(Decimal(f"{whole}.{decimals[:2]}")) if len(decimals) == 2 else (
        f"{int(whole):,}".replace(",", "\u202f") + "," + decimals + " €")


def quantity(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text.replace(".", ",")


def percent(value: Decimal | None) -> str:
    return "" if value is None else f"{quantity(value)} %"


def _header_pairs(sheet: OrderSheet) -> list[tuple[str, str]]:
    o, buyer = sheet.order, sheet.buyer
    pairs = [
        ("Références du marché", f"{o.agreement_reference} — {o.agreement_title}".strip(" —")),
        ("Numéro de la commande", o.number),
        ("Date de la commande", f"{o.order_date:%d/%m/%Y}"),
        ("État", STATUSES.get(o.status, o.status)),
        ("Acheteur", buyer_label(buyer)),
        ("Titulaire", sheet.seller),
        ("Lieu(x) de livraison ou d'exécution", o.delivery_place),
        ("Représentant(s) de l'acheteur", o.representative),
    ]
    if o.delivery_conditions:
        pairs.append(("Conditions particulières de livraison", o.delivery_conditions))
    if o.version > 1:
        pairs.append(("Version", f"{sheet.version} sur {o.version}" + (" (version en vigueur)"
                                                                       if sheet.version == o.version else "")))
    a = sheet.amendment
    if a is not None:
        pairs += [("Modificatif", f"{a.number}, notifié le {a.notified_at:%d/%m/%Y}, prise d'effet le "
                                  f"{a.effective_on:%d/%m/%Y} (CCP TGD VI.3)"), ("Objet du modificatif", a.reason)]
    return pairs


def _change_lines(sheet: OrderSheet) -> list[str]:
    """What changed from the previous version (an amended version only)."""
    return sheet.amendment.changes.splitlines() if sheet.amendment is not None else []


COLUMNS = ("N°", "Code article", "Désignation", "Unité", "Quantité", "Prix unitaire HT non remisé",
           "Montant HT non remisé", "Remise", "Montant HT", "TVA", "Montant TTC")


def line_rows(lines: Iterable[Any]) -> list[tuple[str, ...]]:
    """The rows of ``COLUMNS`` for priced lines (an order's, a quote's: ``catalog.models.PricedLine``)."""
    return [(str(x.position), x.article_code, x.label, x.unit, quantity(x.quantity), price(x.unit_price_ht),
             money(x.gross_ht), percent(x.discount_percent), money(x.total_ht), percent(x.vat_rate),
             money(x.total_ttc)) for x in lines]


#: ``COLUMNS``' relative widths on a landscape page.
LINE_WIDTHS = (6, 22, 46, 12, 14, 20, 20, 12, 20, 10, 20)


def total_pairs(t: Any) -> list[tuple[str, str]]:
    """The four totals of CCP TGD VI.1 of anything carrying ``gross_ht``, ``total_ht``, ``total_vat`` and
    ``total_ttc`` (an order's ``order_totals``, a quote)."""
    return [("Total HT non remisé", money(t.gross_ht)), ("Total HT après remise", money(t.total_ht)),
            ("Total TVA", money(t.total_vat)), ("Montant global TTC", money(t.total_ttc))]


# --------------------------------------------------------------------------- one layout, two writers


def attachment(fmt: str, makers: Mapping[str, Callable[[], bytes]], filename: Callable[[str], str]) -> Response[bytes]:
    """The file of ``fmt`` among ``makers``' formats as an attachment; 422 naming them for another."""
    if fmt not in makers:
        names = list(makers)
        raise ValidationFailed({"format": f"Format inconnu (attendu : {', '.join(names[:-1])} ou {names[-1]})."})
    return Response(makers[fmt](), media_type=FORMATS[fmt][0],
                    headers={"Content-Disposition": f'attachment; filename="{filename(fmt)}"'})


def layout_response(layout: Layout, fmt: str, stem: str) -> Response[bytes]:
    """A PDF / ODT document of ``layout`` named ``{stem}.pdf`` or ``{stem}.odt``."""
    return attachment(fmt, {"pdf": lambda: layout_pdf(layout), "odt": lambda: layout_odt(layout)},
                      lambda f: f"{stem}.{FORMATS[f][1]}")


# --------------------------------------------------------------------------- the order


def order_layout(sheet: OrderSheet) -> Layout:
    layout = Layout(sheet.title, f"Marché {sheet.order.agreement_reference} — CCP TGD VI.1")
    layout.add("pairs", _header_pairs(sheet))
    if _change_lines(sheet):
        layout.add("heading", f"Changements par rapport à la version {sheet.version - 1}")
        for change in _change_lines(sheet):
            layout.add("paragraph", change)
    layout.add("heading", "Descriptif de la commande")
    layout.table("Lignes", COLUMNS, line_rows(sheet.lines), LINE_WIDTHS)
    layout.add("heading", "Montant de la commande")
    return layout.add("totals", total_pairs(sheet.totals))


def order_pdf(sheet: OrderSheet) -> bytes:
    return layout_pdf(order_layout(sheet))


def odt_bytes(sheet: OrderSheet) -> bytes:
    return layout_odt(order_layout(sheet))


# --------------------------------------------------------------------------- Order-X

RSM = "urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:128"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:128"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:128"
ORDERX_COMFORT = "urn:order-x.eu:1p0:comfort"
#: UN/ECE Rec 20 unit codes of the BPU's French units (others: « C62 », one).
UNIT_CODES = {"jour": "DAY", "mois": "MON", "an": "ANN", "heure": "HUR", "h": "HUR", "m": "MTR", "kg": "KGM"}


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def orderx_bytes(sheet: OrderSheet) -> bytes:
    """The Order-X « comfort » XML (TypeCode 220, an order), checked against the official XSD by ``factur-x``
    (``Exception`` if not valid: a document that a buyer's system would refuse never leaves)."""
    import facturx
    from lxml import etree

    o = sheet.order
    nsmap = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}

    def el(parent: Any, ns: str, tag: str, text: str | None = None, **attrs: str) -> Any:
        node = etree.SubElement(parent, f"{{{ns}}}{tag}", **attrs)
        if text is not None:
            node.text = text
        return node

    root = etree.Element(f"{{{RSM}}}SCRDMCCBDACIOMessageStructure", nsmap=nsmap)
    context = el(root, RSM, "ExchangedDocumentContext")
    el(el(context, RAM, "GuidelineSpecifiedDocumentContextParameter"), RAM, "ID", ORDERX_COMFORT)
    header = el(root, RSM, "ExchangedDocument")
    # An amended version is an order change (TypeCode 230) replacing the previous one (PurposeCode 5).
    changed = sheet.amendment is not None
    el(header, RAM, "ID", sheet.amendment.number if sheet.amendment is not None else o.number)
    el(header, RAM, "TypeCode", "230" if changed else "220")
    issued = el(header, RAM, "IssueDateTime")
    el(issued, UDT, "DateTimeString", f"{o.order_date:%Y%m%d}", format="102")
    el(header, RAM, "PurposeCode", "5" if changed else "9")  # replace / original
    transaction = el(root, RSM, "SupplyChainTradeTransaction")
    for x in sheet.lines:
        item = el(transaction, RAM, "IncludedSupplyChainTradeLineItem")
        el(el(item, RAM, "AssociatedDocumentLineDocument"), RAM, "LineID", str(x.position))
        product = el(item, RAM, "SpecifiedTradeProduct")
        el(product, RAM, "SellerAssignedID", x.article_code)
        el(product, RAM, "Name", x.label)
        agreement = el(item, RAM, "SpecifiedLineTradeAgreement")
        gross = el(agreement, RAM, "GrossPriceProductTradePrice")
        el(gross, RAM, "ChargeAmount", f"{x.unit_price_ht:.4f}")
        net_unit = (x.total_ht / x.quantity).quantize(Decimal("0.0001"))
        el(el(agreement, RAM, "NetPriceProductTradePrice"), RAM, "ChargeAmount", f"{net_unit:.4f}")
        unit = UNIT_CODES.get((x.unit or "").strip().lower(), "C62")
        el(el(item, RAM, "SpecifiedLineTradeDelivery"), RAM, "RequestedQuantity", f"{x.quantity:f}", unitCode=unit)
        settlement = el(item, RAM, "SpecifiedLineTradeSettlement")
        tax = el(settlement, RAM, "ApplicableTradeTax")
        el(tax, RAM, "TypeCode", "VAT")
        el(tax, RAM, "CategoryCode", "S" if x.vat_rate else "Z")
        el(tax, RAM, "RateApplicablePercent", f"{x.vat_rate:.2f}")
        el(el(settlement, RAM, "SpecifiedTradeSettlementLineMonetarySummation"), RAM, "LineTotalAmount",
           _amount(x.total_ht))
    trade = el(transaction, RAM, "ApplicableHeaderTradeAgreement")
    el(trade, RAM, "BuyerReference", o.representative[:200])
    el(el(trade, RAM, "SellerTradeParty"), RAM, "Name", sheet.seller)
    buyer = el(trade, RAM, "BuyerTradeParty")
    el(buyer, RAM, "Name", sheet.buyer.name)
    if sheet.buyer.siret:
        legal = el(buyer, RAM, "SpecifiedLegalOrganization")
        el(legal, RAM, "ID", sheet.buyer.siret, schemeID="0002")
    el(el(trade, RAM, "ContractReferencedDocument"), RAM, "IssuerAssignedID", o.agreement_reference)
    delivery = el(transaction, RAM, "ApplicableHeaderTradeDelivery")
    ship_to = el(delivery, RAM, "ShipToTradeParty")
    el(ship_to, RAM, "Name", o.delivery_place.splitlines()[0][:200] if o.delivery_place else sheet.buyer.name)
    settlement = el(transaction, RAM, "ApplicableHeaderTradeSettlement")
    el(settlement, RAM, "OrderCurrencyCode", "EUR")
    # Order-X has no VAT breakdown in the header (each line carries its rate); the total VAT is in the summation.
    totals = el(settlement, RAM, "SpecifiedTradeSettlementHeaderMonetarySummation")
    t = sheet.totals
    el(totals, RAM, "LineTotalAmount", _amount(t.total_ht))
    el(totals, RAM, "TaxBasisTotalAmount", _amount(t.total_ht))
    el(totals, RAM, "TaxTotalAmount", _amount(t.total_vat), currencyID="EUR")
    el(totals, RAM, "GrandTotalAmount", _amount(t.total_ttc))
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    facturx.xml_check_xsd(xml, flavor="order-x", level="comfort")
    facturx.xml_check_schematron(xml, flavor="order-x", level="comfort")
    return xml


def document_response(sheet: OrderSheet, fmt: str) -> Response[bytes]:
    """The file of ``fmt`` (``pdf``, ``odt``, ``orderx``) as an attachment; 422 for another format."""
    return attachment(fmt, {"pdf": lambda: order_pdf(sheet), "odt": lambda: odt_bytes(sheet),
                            "orderx": lambda: orderx_bytes(sheet)}, sheet.filename)
