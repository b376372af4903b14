"""The delivery slips' API (issue 14 §3, CCP TGD VII.1–VII.3): the titulaire's slip (201, 422 per field and nothing
stored), the order's slips and one slip with its VII.3 deadline, the buyer's per-line decision that verifies the
order, the permissions of each side, final decisions, the reserves declared then lifted (422 without reserves), and
404 across tenants."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from catalog.deadlines import decision_due
from catalog.models import Delivery
from tenants.calendars import BusinessCalendar

LINES = [{"article_code": "IRVE-BORNE-22", "quantity": 2}, {"article_code": "IRVE-POSE", "quantity": "1"}]


async def _issued_order(client, headers, tenant_id) -> str:
    catalog = (await client.get(f"/api/v1/tenants/{tenant_id}/catalog?search=IRVE-POSE", headers=headers)).json()
    created = await client.post(f"/api/v1/tenants/{tenant_id}/orders", headers=headers, json={
        "agreement_id": catalog["items"][0]["agreement_id"], "lines": LINES, "delivery_place": "Parking",
        "representative": "Anne Administratrice"})
    assert created.status_code == 201, created.text
    order_id = created.json()["id"]
    issued = await client.post(f"/api/v1/tenants/{tenant_id}/orders/{order_id}/issue", headers=headers)
    assert issued.status_code == 200, issued.text
    return order_id


async def _count(db, tenant_id) -> int:
    async with db.session([uuid.UUID(tenant_id)]) as session:
        return await session.scalar(select(func.count()).select_from(Delivery)) or 0


async def test_a_slip_and_its_decision_through_the_api(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    admin = await api_token("admin@cpam72.demo")
    operator = await api_token("technicien@titulaire.demo")
    order_id = await _issued_order(client, admin, cpam)
    slips = f"/api/v1/tenants/{cpam}/orders/{order_id}/deliveries"
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    body = {"delivered_on": today.isoformat(), "lines": [{"position": 1, "quantity": 2}, {"position": 2, "quantity": "1"}]}

    # The buyer does not record the titulaire's slip.
    assert (await client.post(slips, headers=admin, json=body)).status_code == 403
    created = await client.post(slips, headers=operator, json=body)
    assert created.status_code == 201, created.text
    slip = created.json()
    # CCP TGD VII.3: the decision within 15 days of the verification, the slip's day by default.
    due = decision_due(BusinessCalendar.preset("metropole", "ho-8-18"), today)
    assert (slip["number"], slip["decided"], slip["decision_last_day"], slip["decision_overdue"]) == (
        "BC-2026-000001-L1", False, due.last_day.isoformat(), False)
    assert [(x["position"], x["quantity"], x["decision"]) for x in slip["lines"]] == [(1, "2.000", None), (2, "1.000", None)]
    order = (await client.get(f"/api/v1/tenants/{cpam}/orders/{order_id}", headers=admin)).json()
    assert order["status"] == "delivered"
    assert [x["number"] for x in (await client.get(slips, headers=operator)).json()] == ["BC-2026-000001-L1"]

    decision = f"/api/v1/tenants/{cpam}/deliveries/{slip['id']}/decision"
    lines = [{"position": 1, "kind": "reception", "accepted": 2, "rejected": 0},
             {"position": 2, "kind": "refaction", "accepted": "1", "rejected": "0", "refaction_amount": "80.00"}]
    # The titulaire does not decide on its own delivery.
    assert (await client.post(decision, headers=operator, json={"lines": lines})).status_code == 403
    decided = await client.post(decision, headers=admin, json={"lines": lines})
    assert decided.status_code == 200, decided.text
    assert [(x["decision"], x["decision_label"], x["refaction_amount"]) for x in decided.json()["lines"]] == [
        ("reception", "Réception", None), ("refaction", "Réception avec réfaction", "80.00")]
    assert decided.json()["decided_on"] == today.isoformat()
    order = (await client.get(f"/api/v1/tenants/{cpam}/orders/{order_id}", headers=admin)).json()
    assert order["status"] == "verified"
    again = await client.post(decision, headers=admin, json={"lines": lines})
    assert again.status_code == 422 and "définitive" in again.json()["errors"]["state"]
    read = (await client.get(f"/api/v1/tenants/{cpam}/deliveries/{slip['id']}", headers=operator)).json()
    assert read["decided"] is True and read["lines"][1]["accepted"] == "1.000"


async def test_bad_slips_and_decisions_are_422_per_field_and_nothing_is_stored(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    admin = await api_token("admin@cpam72.demo")
    operator = await api_token("technicien@titulaire.demo")
    order_id = await _issued_order(client, admin, cpam)
    slips = f"/api/v1/tenants/{cpam}/orders/{order_id}/deliveries"
    tomorrow = (dt.datetime.now(ZoneInfo("Europe/Paris")).date() + dt.timedelta(days=1)).isoformat()
    response = await client.post(slips, headers=operator, json={
        "delivered_on": tomorrow, "lines": [{"position": 1, "quantity": 3}, {"position": 9, "quantity": 1}]})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"delivered_on", "lines.1.quantity", "lines.2.position"}
    assert "restant à livrer" in errors["lines.1.quantity"]
    unknown = await client.post(slips, headers=operator, json={"delivered_on": tomorrow, "lines": [], "colis": 2})
    assert unknown.status_code == 422
    assert await _count(db, cpam) == 0

    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    slip = (await client.post(slips, headers=operator, json={
        "delivered_on": today, "lines": [{"position": 1, "quantity": 1}]})).json()
    decision = f"/api/v1/tenants/{cpam}/deliveries/{slip['id']}/decision"
    bad = await client.post(decision, headers=admin, json={"decided_on": tomorrow, "lines": [
        {"position": 1, "kind": "reception_reserves", "accepted": 1, "rejected": 0}]})
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"decided_on", "lines.1"}
    assert "délai pour les lever" in bad.json()["errors"]["lines.1"]
    assert (await client.get(f"/api/v1/tenants/{cpam}/deliveries/{slip['id']}", headers=admin)).json()["decided"] is False


async def test_another_tenants_slips_are_not_found(client, db, demo, api_token):
    cpam, chr_ = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["chr"]
    admin = await api_token("admin@cpam72.demo")
    operator = await api_token("technicien@titulaire.demo")
    order_id = await _issued_order(client, admin, cpam)
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    slip = (await client.post(f"/api/v1/tenants/{cpam}/orders/{order_id}/deliveries", headers=operator, json={
        "delivered_on": today, "lines": [{"position": 1, "quantity": 1}]})).json()
    other = await api_token("admin@chr-metz.demo")
    lines = [{"position": 1, "kind": "rejet", "accepted": 0, "rejected": 1}]
    for tenant in (chr_, cpam):
        assert (await client.get(f"/api/v1/tenants/{tenant}/deliveries/{slip['id']}", headers=other)).status_code == 404
        assert (await client.post(f"/api/v1/tenants/{tenant}/deliveries/{slip['id']}/decision", headers=other,
                                  json={"lines": lines})).status_code == 404
        assert (await client.get(f"/api/v1/tenants/{tenant}/orders/{order_id}/deliveries",
                                 headers=other)).status_code == 404
        assert (await client.post(f"/api/v1/tenants/{tenant}/orders/{order_id}/deliveries", headers=other, json={
            "delivered_on": today, "lines": [{"position": 1, "quantity": 1}]})).status_code == 404
    assert await _count(db, cpam) == 1


async def _decided_with_reserves(client, admin, operator, cpam, *, reserves=True) -> dict:
    order_id = await _issued_order(client, admin, cpam)
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    slip = (await client.post(f"/api/v1/tenants/{cpam}/orders/{order_id}/deliveries", headers=operator, json={
        "delivered_on": today.isoformat(), "lines": [{"position": 1, "quantity": 1}]})).json()
    line = ({"position": 1, "kind": "reception_reserves", "reserves_deadline": (today + dt.timedelta(days=10)).isoformat()}
            if reserves else {"position": 1, "kind": "reception"})
    decided = await client.post(f"/api/v1/tenants/{cpam}/deliveries/{slip['id']}/decision", headers=admin,
                                json={"lines": [line]})
    assert decided.status_code == 200, decided.text
    return decided.json()


async def test_reserves_lifted_through_the_api(client, db, demo, api_token):
    # CCP TGD VII.3: reserves « que le titulaire s'engage alors à résoudre dans un délai fixé par la décision », then
    # « une décision de levée desdites réserves ».
    cpam = demo["tenant_ids"]["cpam"]
    admin = await api_token("admin@cpam72.demo")
    operator = await api_token("technicien@titulaire.demo")
    slip = await _decided_with_reserves(client, admin, operator, cpam)
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    assert slip["reserves"]["lifted"] is False and slip["reserves"]["overdue"] is False
    assert slip["reserves"]["deadline"] == (today + dt.timedelta(days=10)).isoformat()
    url = f"/api/v1/tenants/{cpam}/deliveries/{slip['id']}/reserves-lifted"

    missing = await client.post(url, headers=operator, json={})
    assert missing.status_code == 422 and "décrivez ce qui a été fait" in missing.json()["errors"]["note"]
    declared = await client.post(url, headers=operator, json={"note": "Étiquetage refait"})
    assert declared.status_code == 200, declared.text
    reserves = declared.json()["reserves"]
    assert (reserves["declared_note"], reserves["lifted"]) == ("Étiquetage refait", False)
    assert reserves["declared_at"] is not None and reserves["declared_by"] is not None

    lifted = await client.post(url, headers=admin, json={"note": "Vu", "lifted_on": today.isoformat()})
    assert lifted.status_code == 200, lifted.text
    reserves = lifted.json()["reserves"]
    assert (reserves["lifted"], reserves["lifted_on"], reserves["lifted_note"]) == (True, today.isoformat(), "Vu")
    assert reserves["lifted_by"] not in (None, reserves["declared_by"])
    again = await client.post(url, headers=admin, json={})
    assert again.status_code == 422 and "définitive" in again.json()["errors"]["state"]
    read = (await client.get(f"/api/v1/tenants/{cpam}/deliveries/{slip['id']}", headers=operator)).json()
    assert read["reserves"]["lifted_on"] == today.isoformat()


async def test_reserves_lifted_is_422_without_reserves_and_404_across_tenants(client, db, demo, api_token):
    cpam, chr_ = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["chr"]
    admin = await api_token("admin@cpam72.demo")
    operator = await api_token("technicien@titulaire.demo")
    plain = await _decided_with_reserves(client, admin, operator, cpam, reserves=False)
    url = f"/api/v1/tenants/{cpam}/deliveries/{plain['id']}/reserves-lifted"
    refused = await client.post(url, headers=admin, json={"note": "x"})
    assert refused.status_code == 422
    assert "n'est pas une réception avec réserves" in refused.json()["errors"]["state"]
    assert (await client.post(url, headers=operator, json={"note": "x"})).status_code == 422
    read = (await client.get(f"/api/v1/tenants/{cpam}/deliveries/{plain['id']}", headers=admin)).json()
    assert read["reserves"] is None

    reserved = await _decided_with_reserves(client, admin, operator, cpam)
    other = await api_token("admin@chr-metz.demo")
    for tenant in (chr_, cpam):
        response = await client.post(f"/api/v1/tenants/{tenant}/deliveries/{reserved['id']}/reserves-lifted",
                                     headers=other, json={"note": "x"})
        assert response.status_code == 404
    read = (await client.get(f"/api/v1/tenants/{cpam}/deliveries/{reserved['id']}", headers=admin)).json()
    assert read["reserves"]["lifted"] is False and read["reserves"]["declared_at"] is None
