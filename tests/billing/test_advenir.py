"""The ADVENIR subsidy (issue 15 §5; CCTP CPAM 5-7 « le Titulaire gère la prise en charge directe des primes, déduites
directement de la facture (…) la somme déduite devra être justifiée par le calcul établi sur le site ADVENIR »):
recorded by the titulaire's operator with its attestation data, deducted from the installation order's invoice as a
document-level allowance of a Factur-X XML the schema accepts, shown with its computation; 404 across tenants."""

from __future__ import annotations

import uuid
from decimal import Decimal

import facturx
from lxml import etree

from billing import advenir, documents, penalties
from tests.billing.test_invoices import ACTOR, NOW, NS, draft, issue, lines_of, set_up_billing, verified_order
from tests.conftest import form_post, login_as


def _xpath(xml: bytes, path: str) -> list[str]:
    return [x.text for x in etree.fromstring(xml).xpath(path, namespaces=NS)]


async def test_the_subsidy_is_deducted_from_the_installations_invoice_in_the_facturx(db, demo, client, api_token):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    await set_up_billing(db, cpam)
    order = await verified_order(db, cpam)
    operator = await api_token("technicien@titulaire.demo")
    body = {"order_id": str(order.id), "programme_reference": "ADVENIR — Recharge en entreprise et flottes",
            "attestation_number": "ADV-2026-00123", "points": 4, "amount_per_point": "960,00", "cap": "3000"}
    # The buyer's admin does not record it (the titulaire does, 5-7 « Le Titulaire fournit les attestations »).
    admin = await api_token("admin@cpam72.demo")
    assert (await client.post(f"/api/v1/tenants/{cpam}/advenir-subsidies", json=body, headers=admin)).status_code == 403
    bad = await client.post(f"/api/v1/tenants/{cpam}/advenir-subsidies", json={**body, "cap": "-1"}, headers=operator)
    assert bad.status_code == 422 and "Plafond de la prime" in bad.text
    made = await client.post(f"/api/v1/tenants/{cpam}/advenir-subsidies", json=body, headers=operator)
    assert made.status_code == 201, made.text
    subsidy = made.json()
    # 4 points × 960,00 € = 3 840,00 €, capped at the attestation's 3 000,00 €.
    assert (subsidy["amount_ht"], subsidy["status"]) == ("3000.00", "recorded")
    assert subsidy["computation"] == (
        "Prime ADVENIR (ADVENIR — Recharge en entreprise et flottes, attestation ADV-2026-00123) : 4 points de charge "
        "× 960,00 € = 3\u202f840,00 €, plafonné à 3\u202f000,00 € : 3\u202f000,00 € HT déduits (CCTP CPAM 5-7)")

    invoice = await draft(db, cpam, order.id)
    issued = await issue(db, cpam, invoice.id)
    invoice, lines = await lines_of(db, cpam, issued.id)
    # 8 934,50 € HT of lines less 3 000,00 € (VAT 20 %: 600,00 €).
    assert (invoice.total_ht, invoice.total_vat, invoice.total_ttc) == (Decimal("5934.50"), Decimal("1186.90"),
                                                                        Decimal("7121.40"))
    async with db.session([cpam]) as session:
        allowances = await penalties.allowances_of_invoice(session, invoice)
        done = await advenir.get_subsidy_in_tenant(session, cpam, uuid.UUID(subsidy["id"]))
    assert (done.status, done.invoice_id) == ("deducted", invoice.id)
    assert [(a.amount_ht, a.vat_rate, a.total_vat, a.penalty_id, a.advenir_subsidy_id) for a in allowances] == [
        (Decimal("3000.00"), Decimal("20.00"), Decimal("600.00"), None, done.id)]
    sheet = documents.InvoiceSheet(invoice, lines, None, allowances)
    xml = documents.invoice_xml(sheet)
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    path = "//ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeAllowanceCharge/"
    assert _xpath(xml, path + "ram:ActualAmount") == ["3000.00"]  # BT-92
    assert _xpath(xml, path + "ram:Reason")[0].startswith("Prime ADVENIR (ADVENIR — Recharge")  # BT-97
    sums = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    assert [_xpath(xml, sums + x)[0] for x in ("LineTotalAmount", "AllowanceTotalAmount", "TaxBasisTotalAmount",
                                                "TaxTotalAmount", "GrandTotalAmount")] == [
        "8934.50", "3000.00", "5934.50", "1186.90", "7121.40"]
    assert documents.invoice_pdf(sheet)[:4] == b"%PDF"
    # Deducted once: the order's next invoice (a credit note's correction, say) finds nothing left to deduct.
    async with db.transaction([cpam], actor=ACTOR) as session:
        assert await advenir.deduct_on_invoice(session, invoice, lines, [], now=NOW) == []

    # The page shows the attestation data, the computation and the invoice.
    await login_as(client, "admin@cpam72.demo")
    page = await client.get(f"/t/{cpam}/advenir")
    assert page.status_code == 200 and "ADV-2026-00123" in page.text and f"/factures/{invoice.id}" in page.text
    assert "plafonné à 3\u202f000,00 €" in page.text and "déduite" in page.text


async def test_the_page_form_and_another_tenants_subsidy(db, demo, client, api_token):
    cpam, commune = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["commune"]
    order = await verified_order(db, uuid.UUID(cpam))
    await login_as(client, "technicien@titulaire.demo")
    got = await form_post(client, f"/t/{cpam}/advenir", f"/t/{cpam}/advenir", {
        "order_id": str(order.id), "programme_reference": "ADVENIR", "attestation_number": "ADV-1", "points": "2",
        "amount_per_point": "500", "cap": "5000"})
    assert got.status_code in (302, 303), got.text
    listed = (await client.get(f"/api/v1/tenants/{cpam}/advenir-subsidies",
                               headers=await api_token("admin@cpam72.demo"))).json()
    assert [(s["amount_ht"], s["points"]) for s in listed] == [("1000.00", 2)]
    refused = await form_post(client, f"/t/{cpam}/advenir", f"/t/{cpam}/advenir", {
        "order_id": str(uuid.uuid4()), "programme_reference": "ADVENIR", "attestation_number": "ADV-2", "points": "0",
        "amount_per_point": "x", "cap": "5000"})
    assert refused.status_code == 422 and "Bon de commande inconnu" in refused.text and "un entier" in refused.text
    # Another tenant's admin: 404 on the page and the API, and on the cancel of this tenant's subsidy.
    stranger = await api_token("admin@villeurbanne.demo")
    assert (await client.get(f"/api/v1/tenants/{cpam}/advenir-subsidies", headers=stranger)).status_code == 404
    await login_as(client, "admin@villeurbanne.demo")
    assert (await client.get(f"/t/{cpam}/advenir")).status_code == 404
    cancel = await form_post(client, f"/t/{commune}/advenir", f"/t/{commune}/advenir/{listed[0]['id']}/annuler", {})
    assert cancel.status_code == 404
