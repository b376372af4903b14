"""The invoices' API and pages (issue 15 §3, §6): the operator drafts and issues, the buyer's admin reads the issued
ones (not the drafts) and sets its billing profile, the Factur-X PDF and the XML alone, the permissions, the refusal
before issue listing what is missing (CCP TGD IX.6), and 404 across tenants."""

from __future__ import annotations

import datetime as dt
import uuid

import facturx
from sqlalchemy import func, select

from app.db import utcnow
from billing.models import Invoice
from tests.billing.test_invoices import ISSUER, verified_order
from tests.conftest import csrf_from, form_post, login, page_text


async def _order(db, tenant_id):
    now = utcnow() - dt.timedelta(minutes=5)
    return await verified_order(db, tenant_id, issued=now - dt.timedelta(minutes=5), delivered=now, decided=now)


async def test_operator_drafts_issues_the_buyer_reads_and_downloads(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    order = await _order(db, uuid.UUID(cpam))
    operator = await api_token("technicien@titulaire.demo")
    admin = await api_token("admin@cpam72.demo")
    base = f"/api/v1/tenants/{cpam}"

    # The buyer does not invoice.
    assert (await client.post(f"{base}/orders/{order.id}/invoices", headers=admin)).status_code == 403
    drafted = await client.post(f"{base}/orders/{order.id}/invoices", headers=operator,
                                json={"lines": [{"position": 1, "quantity": "2"}, {"position": 9, "quantity": 1}]})
    assert drafted.status_code == 422 and drafted.json()["errors"] == {"lines.2.position": "Ligne 2 : position inconnue."}
    drafted = await client.post(f"{base}/orders/{order.id}/invoices", headers=operator)
    assert drafted.status_code == 201, drafted.text
    invoice = drafted.json()
    assert (invoice["status"], invoice["number"], invoice["total_ttc"]) == ("draft", None, "10721.40")
    url = f"{base}/invoices/{invoice['id']}"
    # A draft is the titulaire's: the buyer neither lists nor reads it.
    assert (await client.get(url, headers=admin)).status_code == 404
    assert (await client.get(f"{base}/invoices", headers=admin)).json()["total"] == 0
    assert (await client.get(f"{url}.pdf", headers=operator)).status_code == 422

    # Refused before it is issued: the issuer's identity is missing, and the structure requires a service code.
    profile = await client.put(f"{base}/billing-profile", headers=admin, json={
        "requires_service_code": True, "requires_engagement": True, "service_code": ""})
    assert profile.status_code == 422 and "Code service" in profile.json()["errors"]["service_code"]
    assert (await client.put(f"{base}/billing-profile", headers=operator, json={
        "requires_service_code": True, "requires_engagement": True, "service_code": "X"})).status_code == 403
    refused = await client.post(f"{url}/issue", headers=operator)
    assert refused.status_code == 422
    assert refused.json()["errors"]["missing"].startswith("Facture refusée avant émission, il manque : l'identité du "
                                                          "titulaire émetteur : raison sociale")
    issuers = (await client.get(f"{base}/issuers", headers=operator)).json()
    agreement = next(i for i in issuers if i["agreement_reference"] == "2025-CPAM72-IRVE")
    assert agreement["missing"][0] == "Raison sociale"
    bad = await client.put(f"{base}/issuers/{agreement['agreement_id']}", headers=operator,
                           json={**ISSUER, "siret": "73282932000075"})
    assert bad.status_code == 422 and "Luhn" in bad.json()["errors"]["siret"]
    assert (await client.put(f"{base}/issuers/{agreement['agreement_id']}", headers=admin,
                             json=ISSUER)).status_code == 403
    put = await client.put(f"{base}/issuers/{agreement['agreement_id']}", headers=operator, json=ISSUER)
    assert put.status_code == 200 and put.json()["missing"] == [] and put.json()["siret"] == "73282932000074"
    assert (await client.put(f"{base}/billing-profile", headers=admin, json={
        "requires_service_code": True, "requires_engagement": True, "service_code": "SERV-72"})).status_code == 200

    issued = await client.post(f"{url}/issue", headers=operator)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["status"] == "issued" and body["number"].startswith("FA-20") and body["service_code"] == "SERV-72"
    assert body["due_date"] == (dt.date.fromisoformat(body["issue_date"]) + dt.timedelta(days=30)).isoformat()
    listed = (await client.get(f"{base}/invoices", headers=admin)).json()
    assert [i["number"] for i in listed["items"]] == [body["number"]]
    detail = (await client.get(url, headers=admin)).json()
    assert [x["refaction_ht"] for x in detail["lines"]] == ["0.00", "150.50"]

    pdf = await client.get(f"{url}.pdf", headers=admin)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == f'attachment; filename="{body["number"]}.pdf"'
    name, embedded = facturx.get_xml_from_pdf(pdf.content, check_xsd=True)
    assert name == "factur-x.xml" and b"SERV-72" in embedded and order.number.encode() in embedded
    xml = await client.get(f"{url}.xml", headers=admin)
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    facturx.xml_check_xsd(xml.content, flavor="factur-x", level="en16931")
    assert xml.content == embedded
    assert (await client.get(f"{url}.odt", headers=admin)).status_code == 404

    # The buyer neither credits nor records the payment; the operator does.
    assert (await client.post(f"{url}/credit-note", headers=admin, json={"reason": "x"})).status_code == 403
    note = await client.post(f"{url}/credit-note", headers=operator, json={"reason": "Erreur de quantité",
                                                                          "lines": [{"position": 1, "quantity": 1}]})
    assert note.status_code == 201 and note.json()["kind"] == "credit_note"
    assert note.json()["total_ht"] == "3450.00"
    assert (await client.post(f"{base}/invoices/{note.json()['id']}/discard", headers=operator)).status_code == 200
    paid = await client.post(f"{url}/paid", headers=operator, json={"paid_on": body["issue_date"]})
    assert paid.status_code == 200 and paid.json()["status"] == "paid"


async def test_another_tenants_invoice_and_order_are_404(client, db, demo, api_token):
    cpam, commune = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["commune"]
    order = await _order(db, uuid.UUID(cpam))
    operator = await api_token("technicien@titulaire.demo")
    made = (await client.post(f"/api/v1/tenants/{cpam}/orders/{order.id}/invoices", headers=operator)).json()
    other = f"/api/v1/tenants/{commune}"
    stranger = await api_token("admin@villeurbanne.demo")
    for headers in (operator, stranger):
        assert (await client.post(f"{other}/orders/{order.id}/invoices", headers=headers)).status_code == 404
        for suffix in ("", ".pdf", ".xml"):
            assert (await client.get(f"{other}/invoices/{made['id']}{suffix}", headers=headers)).status_code == 404
        for action in ("issue", "paid", "discard"):
            assert (await client.post(f"{other}/invoices/{made['id']}/{action}", headers=headers)).status_code == 404
    assert (await client.get(f"/api/v1/tenants/{cpam}/invoices/{made['id']}", headers=stranger)).status_code == 404
    async with db.session([uuid.UUID(cpam)]) as session:
        assert await session.scalar(select(func.count()).select_from(Invoice)) == 1


async def test_pages_facturer_emettre_and_the_buyers_list(client, db, demo):
    cpam = demo["tenant_ids"]["cpam"]
    order = await _order(db, uuid.UUID(cpam))
    base = f"/t/{cpam}"

    # The buyer's admin: its billing profile in « Facturation » (Administration), read-only issuers.
    assert (await login(client, "admin@cpam72.demo")).status_code in (302, 303)
    settings = await client.get(f"{base}/facturation")
    assert settings.status_code == 200 and "Profil de facturation de l'acheteur" in page_text(settings)
    saved = await form_post(client, f"{base}/facturation", f"{base}/facturation/profil",
                            {"requires_service_code": "1", "requires_engagement": "1", "service_code": ""})
    assert saved.status_code == 422 and "Code service : obligatoire" in page_text(saved)
    saved = await form_post(client, f"{base}/facturation", f"{base}/facturation/profil",
                            {"requires_service_code": "1", "requires_engagement": "1", "service_code": "SERV-72"})
    assert saved.status_code in (302, 303)
    home = await client.get(f"{base}/factures")
    assert home.status_code == 200 and "Aucune facture" in page_text(home) and "Facturer" not in page_text(home)
    assert f'href="{base}/factures"' in (await client.get(base)).text  # the menu entry

    # The titulaire's operator: « Facturer » on the verified order, the issuer's identity, « Émettre ».
    client.cookies.clear()
    assert (await login(client, "technicien@titulaire.demo")).status_code in (302, 303)
    listing = await client.get(f"{base}/factures")
    assert "Commandes vérifiées à facturer" in page_text(listing) and order.number in page_text(listing)
    # « Facturer » on the verified order's page too (catalog's ``order_page`` hook).
    order_page = await client.get(f"{base}/commandes/{order.id}")
    assert "Facturation" in page_text(order_page) and f'action="{base}/factures/commande/{order.id}"' in order_page.text
    drafted = await form_post(client, f"{base}/commandes/{order.id}", f"{base}/factures/commande/{order.id}", {})
    assert drafted.status_code in (302, 303)
    draft_url = drafted.headers["location"]
    page = await client.get(draft_url)
    assert "Facture (brouillon, non numéroté)" in page_text(page) and "Émettre" in page_text(page)
    refused = await form_post(client, draft_url, f"{draft_url}/emettre", {})
    assert refused.status_code == 422 and "refusée avant émission" in page_text(refused)
    settings = await client.get(f"{base}/facturation")
    agreement_form = next(part for part in settings.text.split("<form") if "/facturation/titulaires/" in part)
    action = agreement_form.split('action="', 1)[1].split('"', 1)[0]
    bad = await form_post(client, f"{base}/facturation", action, {**ISSUER, "siret": "73282932000075"})
    assert bad.status_code == 422 and "Luhn" in page_text(bad) and 'id="f-siret"' in bad.text
    saved = await form_post(client, f"{base}/facturation", action, ISSUER)
    assert saved.status_code in (302, 303), page_text(saved)[:500]
    issued = await form_post(client, draft_url, f"{draft_url}/emettre", {})
    assert issued.status_code in (302, 303)
    page = await client.get(draft_url)
    assert "Facture FA-20" in page_text(page) and "Factur-X (PDF)" in page_text(page)
    pdf = await client.get(f"{draft_url}/pdf")
    assert pdf.status_code == 200 and facturx.get_xml_from_pdf(pdf.content)[1]

    # The buyer sees it, with its downloads; and no action button.
    client.cookies.clear()
    assert (await login(client, "admin@cpam72.demo")).status_code in (302, 303)
    listing = await client.get(f"{base}/factures")
    assert "FA-20" in page_text(listing) and f"{draft_url}/xml" in listing.text
    page = await client.get(draft_url)
    assert "SERV-72" in page_text(page) and "Émettre" not in page_text(page)
    order_page = await client.get(f"{base}/commandes/{order.id}")
    assert f'href="{draft_url}"' in order_page.text and "Facturer" not in page_text(order_page)
    xml = await client.get(f"{draft_url}/xml")
    assert xml.status_code == 200 and b"SERV-72" in xml.content
    assert csrf_from(page.text)
