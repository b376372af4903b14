"""The purchase orders' API (issue 14 §5): 201 with the lines and totals as strings, 422 per field and nothing
stored, the moves with their permissions and refusals, the documents, and 404 across tenants."""

from __future__ import annotations

import io
import uuid

from pypdf import PdfReader
from sqlalchemy import func, select

from catalog.models import PurchaseOrder

BODY = {"lines": [{"article_code": "IRVE-BORNE-22", "quantity": 2},
                  {"article_code": "IRVE-POSE", "quantity": "2", "discount_percent": "5"}],
        "delivery_place": "Siège — parking des véhicules de service", "representative": "Anne Administratrice"}


async def _cpam_agreement(client, headers, tenant_id) -> str:
    catalog = (await client.get(f"/api/v1/tenants/{tenant_id}/catalog?search=IRVE-POSE", headers=headers)).json()
    return catalog["items"][0]["agreement_id"]


async def _count(db, tenant_id) -> int:
    async with db.session([uuid.UUID(tenant_id)]) as session:
        return await session.scalar(select(func.count()).select_from(PurchaseOrder)) or 0


async def test_create_issue_read_and_documents(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    admin = await api_token("admin@cpam72.demo")
    agreement = await _cpam_agreement(client, admin, cpam)
    response = await client.post(f"/api/v1/tenants/{cpam}/orders", headers=admin,
                                 json={"agreement_id": agreement, **BODY})
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "draft" and order["number"].startswith("BC-20")
    assert [{k: line[k] for k in ("article_code", "unit_price_ht", "discount_percent", "total_ht", "vat_rate",
                                  "total_ttc")} for line in order["lines"]] == [
        {"article_code": "IRVE-BORNE-22", "unit_price_ht": "3450.0000", "discount_percent": None,
         "total_ht": "6900.00", "vat_rate": "20.00", "total_ttc": "8280.00"},
        {"article_code": "IRVE-POSE", "unit_price_ht": "1150.0000", "discount_percent": "5.00",
         "total_ht": "2185.00", "vat_rate": "20.00", "total_ttc": "2622.00"}]
    assert (order["total_ht"], order["total_ttc"]) == ("9085.00", "10902.00")
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in order["history"]] == [
        ("", "draft", "admin@cpam72.demo (API)")]
    url = f"/api/v1/tenants/{cpam}/orders/{order['id']}"

    issued = await client.post(f"{url}/issue", headers=admin)
    assert issued.status_code == 200, issued.text
    assert issued.json()["status"] == "issued" and issued.json()["issued_at"]
    again = await client.post(f"{url}/issue", headers=admin)
    assert again.status_code == 422
    assert again.json()["errors"] == {"status": "Impossible d'émettre une commande à l'état « émis » : seule une "
                                                "commande à l'état « brouillon » peut l'être."}
    # The buyer does not start the work; the titulaire's operator does, and does not close.
    assert (await client.post(f"{url}/start", headers=admin)).status_code == 403
    operator = await api_token("technicien@titulaire.demo")
    started = await client.post(f"{url}/start", headers=operator)
    assert started.status_code == 200 and started.json()["status"] == "in_progress"
    assert (await client.post(f"{url}/cancel", headers=operator)).status_code == 403
    # CCP TGD VII.1: « livré » follows the slips (POST …/deliveries), not a move by hand.
    by_hand = await client.post(f"{url}/deliver", headers=operator)
    assert by_hand.status_code == 422 and "bordereaux de mise à disposition" in by_hand.json()["errors"]["status"]
    assert (await client.post(f"{url}/sign", headers=admin)).status_code == 404

    listed = (await client.get(f"/api/v1/tenants/{cpam}/orders?status=in_progress", headers=admin)).json()
    assert [o["number"] for o in listed["items"]] == [order["number"]] and listed["total"] == 1
    assert (await client.get(f"/api/v1/tenants/{cpam}/orders?status=perdu", headers=admin)).status_code == 422
    assert (await client.get(url, headers=admin)).json()["status"] == "in_progress"

    pdf = await client.get(f"{url}/document?format=pdf", headers=admin)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert f'filename="{order["number"]}.pdf"' in pdf.headers["content-disposition"]
    assert order["number"] in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    odt = await client.get(f"{url}/document?format=odt", headers=admin)
    assert odt.headers["content-type"] == "application/vnd.oasis.opendocument.text" and odt.content[:2] == b"PK"
    xml = await client.get(f"{url}/document?format=orderx", headers=admin)
    assert xml.status_code == 200 and b"urn:order-x.eu:1p0:comfort" in xml.content
    assert (await client.get(f"{url}/document?format=docx", headers=admin)).status_code == 422


async def test_bad_input_is_422_per_field_and_stores_nothing(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    admin = await api_token("admin@cpam72.demo")
    agreement = await _cpam_agreement(client, admin, cpam)
    before = await _count(db, cpam)
    response = await client.post(f"/api/v1/tenants/{cpam}/orders", headers=admin, json={
        "agreement_id": agreement, **BODY,
        "lines": [{"article_code": "IRVE-POSE", "quantity": 1}, {"article_code": "NOPE", "quantity": 1},
                  {"article_code": "IRVE-POSE", "quantity": -2}]})
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "lines.2.article_code": "Ligne 2 : article « NOPE » inconnu du BPU de l'accord 2025-CPAM72-IRVE en vigueur le "
                                + response.json()["errors"]["lines.2.article_code"][-11:],
        "lines.3.quantity": "Ligne 3 : La quantité doit être strictement positive."}
    too_many = await client.post(f"/api/v1/tenants/{cpam}/orders", headers=admin, json={
        "agreement_id": agreement, **BODY, "lines": [{"article_code": "IRVE-POSE", "quantity": 1}] * 201})
    assert too_many.status_code == 422, too_many.text
    # The viewer reads, never orders.
    viewer = await api_token("visu@cpam72.demo")
    assert (await client.post(f"/api/v1/tenants/{cpam}/orders", headers=viewer,
                              json={"agreement_id": agreement, **BODY})).status_code == 403
    assert await _count(db, cpam) == before


async def test_another_tenants_orders_are_404(client, db, demo, api_token):
    cpam, chr_ = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["chr"]
    admin = await api_token("admin@cpam72.demo")
    agreement = await _cpam_agreement(client, admin, cpam)
    order = (await client.post(f"/api/v1/tenants/{cpam}/orders", headers=admin,
                               json={"agreement_id": agreement, **BODY})).json()
    other = await api_token("admin@chr-metz.demo")
    # Through its own tenant's URL with the CPAM's order id, and through the CPAM's URL.
    for tenant in (chr_, cpam):
        base = f"/api/v1/tenants/{tenant}/orders/{order['id']}"
        assert (await client.get(base, headers=other)).status_code == 404
        assert (await client.post(f"{base}/issue", headers=other)).status_code == 404
        assert (await client.get(f"{base}/document?format=pdf", headers=other)).status_code == 404
    assert (await client.get(f"/api/v1/tenants/{cpam}/orders", headers=other)).status_code == 404
    assert order["number"] not in (await client.get(f"/api/v1/tenants/{chr_}/orders", headers=other)).text
    # The CPAM's agreement is not the CHR's to order under.
    refused = await client.post(f"/api/v1/tenants/{chr_}/orders", headers=other, json={"agreement_id": agreement, **BODY})
    assert refused.status_code == 422 and "agreement_id" in refused.json()["errors"]
    async with db.session([uuid.UUID(cpam)]) as session:
        status = await session.scalar(select(PurchaseOrder.status).where(PurchaseOrder.number == order["number"]))
    assert status == "draft"
