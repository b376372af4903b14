"""The quotes' API (issue 14 §2): the buyer's request (201, 422 per field and nothing stored), the titulaire's
visit and priced answer, the acceptance that returns the issued order, the permissions of each side, the
milestones in the answer, and 404 across tenants."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from catalog.models import Quote

LINES = [{"article_code": "IRVE-BORNE-22", "quantity": 2},
         {"article_code": "IRVE-POSE", "quantity": "1", "discount_percent": "10", "nature": "labour"}]


async def _agreement(client, headers, tenant_id) -> str:
    catalog = (await client.get(f"/api/v1/tenants/{tenant_id}/catalog?search=IRVE-POSE", headers=headers)).json()
    return catalog["items"][0]["agreement_id"]


async def _count(db, tenant_id) -> int:
    async with db.session([uuid.UUID(tenant_id)]) as session:
        return await session.scalar(select(func.count()).select_from(Quote)) or 0


async def test_request_visit_answer_accept_through_the_api(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    admin = await api_token("admin@cpam72.demo")
    operator = await api_token("technicien@titulaire.demo")
    base = f"/api/v1/tenants/{cpam}/quotes"
    created = await client.post(base, headers=admin, json={
        "agreement_id": await _agreement(client, admin, cpam), "need": "Deux bornes au parking des agents",
        "place": "Parking des agents"})
    assert created.status_code == 201, created.text
    quote = created.json()
    assert (quote["state"], quote["state_label"], quote["number"][:9]) == ("requested", "demandé", "DEV-2026-")
    assert [(m["key"], m["status"]) for m in quote["milestones"]] == [
        ("quote", "waiting"), ("works", "waiting"), ("reception", "waiting")]
    url = f"{base}/{quote['id']}"
    # The buyer does not price its own quote; the titulaire does not accept it.
    assert (await client.post(f"{url}/answer", headers=admin, json={"lines": LINES})).status_code == 403
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    visited = await client.post(f"{url}/visit", headers=operator, json={"site_visit_on": today})
    assert visited.status_code == 200, visited.text
    assert visited.json()["milestones"][0]["status"] == "pending" and visited.json()["milestones"][0]["last_day"]
    answered = await client.post(f"{url}/answer", headers=operator, json={"lines": LINES, "note": "Sous 3 semaines"})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert [(x["article_code"], x["nature"], x["total_ht"]) for x in body["lines"]] == [
        ("IRVE-BORNE-22", "parts", "6900.00"), ("IRVE-POSE", "labour", "1035.00")]
    assert (body["state"], body["total_ht"], body["parts_ht"], body["labour_ht"]) == (
        "answered", "7935.00", "6900.00", "1035.00")
    assert (await client.post(f"{url}/accept", headers=operator, json={})).status_code == 403
    again = await client.post(f"{url}/answer", headers=operator, json={"lines": LINES})
    assert again.status_code == 422 and "Impossible de chiffrer" in again.json()["errors"]["state"]

    accepted = await client.post(f"{url}/accept", headers=admin, json={"representative": "Anne Administratrice"})
    assert accepted.status_code == 200, accepted.text
    order_id = accepted.json()["order_id"]
    order = (await client.get(f"/api/v1/tenants/{cpam}/orders/{order_id}", headers=admin)).json()
    assert (order["status"], order["quote_id"], order["total_ht"]) == ("issued", quote["id"], "7935.00")
    listed = (await client.get(f"{base}?state=accepted", headers=admin)).json()
    assert [x["number"] for x in listed] == [quote["number"]]
    assert (await client.get(f"{base}?state=perdu", headers=admin)).status_code == 422
    assert (await client.post(f"{url}/sign", headers=admin)).status_code == 404
    started = await client.post(f"{url}/start_works", headers=operator, json={"works_started_on": today})
    assert started.status_code == 200 and started.json()["works_started_on"] == today


async def test_bad_input_is_422_per_field_and_nothing_is_stored(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    admin = await api_token("admin@cpam72.demo")
    base = f"/api/v1/tenants/{cpam}/quotes"
    agreement = await _agreement(client, admin, cpam)
    response = await client.post(base, headers=admin, json={"agreement_id": agreement, "need": "", "kind": "gift"})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"need", "kind", "place"}
    too_long = await client.post(base, headers=admin, json={"agreement_id": agreement, "need": "x" * 5000,
                                                            "place": "Ici"})
    assert too_long.status_code == 422 and "need" in too_long.json()["errors"]
    unknown = await client.post(base, headers=admin, json={"agreement_id": agreement, "need": "a", "place": "b",
                                                          "budget": 10})
    assert unknown.status_code == 422
    assert await _count(db, cpam) == 0


async def test_another_tenants_quote_is_not_found(client, db, demo, api_token):
    cpam, chr_ = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["chr"]
    admin = await api_token("admin@cpam72.demo")
    created = await client.post(f"/api/v1/tenants/{cpam}/quotes", headers=admin, json={
        "agreement_id": await _agreement(client, admin, cpam), "need": "Une borne", "place": "Siège"})
    quote_id = created.json()["id"]
    other = await api_token("admin@chr-metz.demo")
    assert (await client.get(f"/api/v1/tenants/{chr_}/quotes/{quote_id}", headers=other)).status_code == 404
    assert (await client.post(f"/api/v1/tenants/{chr_}/quotes/{quote_id}/cancel", headers=other)).status_code == 404
    assert (await client.get(f"/api/v1/tenants/{cpam}/quotes/{quote_id}", headers=other)).status_code == 404
    assert (await client.get(f"/api/v1/tenants/{chr_}/quotes", headers=other)).json() == []
