"""The ADVENIR subsidy (issue 15 §5; CCTP CPAM 5-7 « le Titulaire gère la prise en charge directe des primes, déduites
directement de la facture (…) la somme déduite devra être justifiée par le calcul établi sur le site ADVENIR »):
recorded by the titulaire's operator with its attestation data, deducted from the installation order's invoice as a
document-level allowance of a Factur-X XML the schema accepts, shown with its computation; 404 across tenants."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

import facturx
from lxml import etree

from billing import advenir, documents, penalties
from billing.tasks import run_penalty_acceptances
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


def _squash(text: str) -> str:
    """The text as read: runs of ASCII white space as one space (the narrow no-break spaces of amounts kept)."""
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


def _cells(html: str, caption: str) -> list[list[str]]:
    """The rows of the page's table whose caption starts with ``caption``, as the texts of their cells."""
    from lxml import html as lxml_html

    table = next(t for t in lxml_html.fromstring(html).iter("table")
                 if t.find("caption") is not None and t.find("caption").text_content().startswith(caption))
    return [[_squash(c.text_content()) for c in row.iter("th", "td")] for row in table.iter("tr")]


def _facts(html: str, label: str) -> dict[str, str]:
    from lxml import html as lxml_html

    dl = next(d for d in lxml_html.fromstring(html).iter("dl") if d.get("aria-label") == label)
    return {_squash(dt_.text_content()): _squash(dt_.getnext().text_content()) for dt_ in dl.iter("dt")}


async def test_the_invoice_page_shows_the_penalty_and_the_subsidy_with_their_computation(db, demo, client):
    """CCP TGD VIII.1 « Le montant des pénalités ainsi établies vient en déduction des paiements » and CCTP CPAM 5-7
    « la somme déduite devra être justifiée par le calcul établi sur le site ADVENIR »: the invoice's page shows what
    its issue will deduct on the draft, then what it deducted, with each computation and the net amounts the
    Factur-X PDF carries."""
    from tests.billing.test_penalties import move, propose

    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    await set_up_billing(db, cpam)
    order = await verified_order(db, cpam)
    p = await propose(db, cpam, {"article": "VIII.4", "order_id": str(order.id), "source": "order",
                                 "lateness": "3", "lateness_unit": "days", "facts": "Retard."})
    await move(db, cpam, "notify_penalty", p.id)
    later = dt.datetime(2027, 1, 16, 1, 0, tzinfo=dt.UTC)
    await run_penalty_acceptances(db, later)
    async with db.transaction([cpam], actor=ACTOR) as session:
        await advenir.record_subsidy(session, cpam, {
            "order_id": str(order.id), "programme_reference": "ADVENIR", "attestation_number": "ADV-2026-00123",
            "points": 4, "amount_per_point": "960,00", "cap": "3000"}, now=later)
    invoice = await draft(db, cpam, order.id, now=later)
    await login_as(client, "technicien@titulaire.demo")
    page = await client.get(f"/t/{cpam}/factures/{invoice.id}")
    assert page.status_code == 200
    assert "Déductions prévues à l&#39;émission" in page.text
    rows = _cells(page.text, "2 déductions")
    # 8 934,50 € HT at 20 %: the penalty 9 085,00 × 3 / 500 = 54,51 € (VAT 10,90 €), then the subsidy 3 000,00 €.
    assert [r[1] for r in rows[1:3]] == ["Pénalité", "Prime ADVENIR"]
    assert "9\u202f085,00 € × 3 / 500 = 54,51 €" in rows[1][2]
    assert "4 points de charge × 960,00 € = 3\u202f840,00 €, plafonné à 3\u202f000,00 €" in rows[2][2]
    assert rows[1][3:] == ["−\u202f54,51 €", "20,00 % (−\u202f10,90 €)", "−\u202f65,41 €"]
    assert rows[3] == ["Total des déductions", "−\u202f3\u202f054,51 €", "−\u202f610,90 €", "−\u202f3\u202f665,41 €"]
    assert _facts(page.text, "Montant") == {
        "Total des lignes HT": "8\u202f934,50 €", "Déductions HT prévues": "−\u202f3\u202f054,51 €",
        "Total HT prévu": "5\u202f879,99 €", "Total TVA prévu": "1\u202f176,00 €",
        "Total TTC prévu": "7\u202f055,99 €"}

    issued = await issue(db, cpam, invoice.id, now=later)
    assert (issued.total_ht, issued.total_ttc) == (Decimal("5879.99"), Decimal("7055.99"))  # as planned
    await login_as(client, "admin@cpam72.demo")  # the buyer reads the issued invoice
    page = await client.get(f"/t/{cpam}/factures/{issued.id}")
    assert "Déductions prévues" not in page.text
    rows = _cells(page.text, "2 déductions")
    assert f"/t/{cpam}/penalites/{p.id}" in page.text and "attestation ADV-2026-00123" in rows[2][2]
    assert _facts(page.text, "Montant") == {
        "Total des lignes HT": "8\u202f934,50 €", "Déductions HT": "−\u202f3\u202f054,51 €",
        "Total HT": "5\u202f879,99 €", "Total TVA": "1\u202f176,00 €", "Total TTC": "7\u202f055,99 €"}
    # The VAT per rate is on the bases after the deductions (EN 16931 BT-116), as on the Factur-X.
    assert _cells(page.text, "TVA par taux")[1] == ["20,00 %", "5\u202f879,99 €", "1\u202f176,00 €"]
