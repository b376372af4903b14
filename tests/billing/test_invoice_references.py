"""The draft's engagement number (BT-13) and service code (BT-10) edited on the invoice page and through the API,
refused as its issue would be when the buyer's structure requires one (CCP TGD IX.6, Chorus Pro)."""

from __future__ import annotations

import uuid

from billing import documents
from billing.api import load_sheet
from tests.billing.test_acomptes import xpath_of
from tests.billing.test_invoices import draft, issue, set_up_billing, verified_order
from tests.conftest import form_post, login, page_text


async def test_references_of_a_draft_on_its_page_and_api(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    tid = uuid.UUID(cpam)
    order = await verified_order(db, tid)
    # The buyer's structure requires both (its profile's service code is SERV-FACT-72).
    await set_up_billing(db, tid)
    invoice = await draft(db, tid, order.id)
    url = f"/t/{cpam}/factures/{invoice.id}"

    await login(client, "technicien@titulaire.demo")
    page = await client.get(url)
    assert page.status_code == 200 and "Enregistrer les références" in page_text(page)
    refused = await form_post(client, url, f"{url}/references", {"engagement_number": "", "service_code": ""})
    assert refused.status_code == 422
    text = page_text(refused)
    assert "Numéro d'engagement : exigé par la structure de l'acheteur (CCP TGD IX.6" in text
    assert "Code service : exigé" not in text  # empty: the profile's SERV-FACT-72
    saved = await form_post(client, url, f"{url}/references",
                            {"engagement_number": "EJ-2026-0042", "service_code": "SERV-COMPTA"})
    assert saved.status_code == 303
    shown = page_text(await client.get(url))
    assert "EJ-2026-0042" in shown and "SERV-COMPTA" in shown

    operator = await api_token("technicien@titulaire.demo")
    admin = await api_token("admin@cpam72.demo")
    api = f"/api/v1/tenants/{cpam}/invoices/{invoice.id}/references"
    assert (await client.put(api, headers=admin, json={"engagement_number": "X"})).status_code in (403, 404)
    empty = await client.put(api, headers=operator, json={"engagement_number": " "})
    assert empty.status_code == 422 and set(empty.json()["errors"]) == {"engagement_number"}
    changed = await client.put(api, headers=operator, json={"engagement_number": "EJ-2026-0043"})
    assert changed.status_code == 200 and changed.json()["engagement_number"] == "EJ-2026-0043"
    assert changed.json()["service_code"] == "SERV-COMPTA"

    issued = await issue(db, tid, invoice.id)
    async with db.session([tid]) as session:
        xml = documents.invoice_xml(await load_sheet(session, issued))
    assert xpath_of(xml, "//ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID/text()") == ["EJ-2026-0043"]
    assert xpath_of(xml, "//ram:ApplicableHeaderTradeAgreement/ram:BuyerReference/text()") == ["SERV-COMPTA"]
    late = await client.put(api, headers=operator, json={"engagement_number": "EJ-2026-0044"})
    assert late.status_code == 422 and "émise" in late.json()["errors"]["status"]
