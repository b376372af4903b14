"""The CAIH recurring maintenance API (CCTP CAIH 2.1.32): a contract and its first order (201), the park declared
for the next anniversary, a change above 10 % giving a complementary order, 422 per field with nothing stored,
the buyer's permission, and 404 across tenants."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from catalog.models import MaintenanceContract, PurchaseOrder

PARK = [{"article_code": "CAIH-MNT-X86", "quantity": 25}]
PLACE = {"delivery_place": "Hôpital de Mercy — salle serveurs", "representative": "Hugo Administrateur"}


async def _agreement(client, headers, tenant_id) -> str:
    catalog = (await client.get(f"/api/v1/tenants/{tenant_id}/catalog?search=CAIH-MNT-X86", headers=headers)).json()
    return catalog["items"][0]["agreement_id"]


async def _count(db, tenant_id, model) -> int:
    async with db.session([uuid.UUID(tenant_id)]) as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_contract_park_and_change_through_the_api(client, db, demo, api_token):
    chr_id = demo["tenant_ids"]["chr"]
    admin = await api_token("admin@chr-metz.demo")
    base = f"/api/v1/tenants/{chr_id}/maintenance-contracts"
    created = await client.post(base, headers=admin, json={
        "agreement_id": await _agreement(client, admin, chr_id), "lines": PARK, **PLACE})
    assert created.status_code == 201, created.text
    contract = created.json()
    assert (contract["annual_amount_ht"], contract["first_order_status"], contract["execution_last_day"]) == (
        "10500.00", "draft", None)
    assert contract["park"] == [{"article_code": "CAIH-MNT-X86", "quantity": "25"}]
    url = f"{base}/{contract['id']}"
    issued = await client.post(f"/api/v1/tenants/{chr_id}/orders/{contract['first_order_id']}/issue", headers=admin)
    assert issued.status_code == 200, issued.text
    read = (await client.get(url, headers=admin)).json()
    # CCTP CAIH 2.1.32: the execution within 30 days of the notification.
    assert read["execution_last_day"] and not read["execution_overdue"] and read["next_anniversary"]
    assert [(o["kind"], o["number"]) for o in read["orders"]] == [("first", contract["first_order_number"])]

    declared = await client.post(f"{url}/park", headers=admin, json={"lines": [
        {"article_code": "CAIH-MNT-X86", "quantity": "30"}]})
    assert declared.status_code == 201, declared.text
    # For the next anniversary when it is a month ahead, else the following one (and then marked late).
    assert declared.json()["amount_ht"] == "12600.00"
    assert declared.json()["late"] == (declared.json()["anniversary"] > read["next_anniversary"])

    changed = await client.post(f"{url}/changes", headers=admin, json={"lines": [
        {"article_code": "CAIH-MNT-X86", "quantity": 3}], "note": "Nouveau bloc"})
    assert changed.status_code == 201, changed.text
    change = changed.json()
    assert (change["percent"], change["outcome"], change["outcome_label"]) == (
        "12.00", "complementary", "commande complémentaire")
    order = (await client.get(f"/api/v1/tenants/{chr_id}/orders/{change['complementary_order_id']}",
                              headers=admin)).json()
    assert (order["status"], order["total_ht"]) == ("draft", "1260.00")
    listed = (await client.get(base, headers=admin)).json()
    assert [c["id"] for c in listed] == [contract["id"]]
    assert listed[0]["park"] == [{"article_code": "CAIH-MNT-X86", "quantity": "28"}]


async def test_bad_input_is_422_per_field_and_nothing_is_stored(client, db, demo, api_token):
    chr_id = demo["tenant_ids"]["chr"]
    admin = await api_token("admin@chr-metz.demo")
    base = f"/api/v1/tenants/{chr_id}/maintenance-contracts"
    orders_before = await _count(db, chr_id, PurchaseOrder)
    agreement = await _agreement(client, admin, chr_id)
    bad = await client.post(base, headers=admin, json={"agreement_id": agreement, "lines": [
        {"article_code": "INCONNU", "quantity": "0"}]})
    assert bad.status_code == 422
    assert {"lines.1.quantity", "delivery_place", "representative"} <= set(bad.json()["errors"])
    shape = await client.post(base, headers=admin, json={"agreement_id": agreement, "lines": "tout"})
    assert shape.status_code == 422
    assert await _count(db, chr_id, MaintenanceContract) == 0 and await _count(db, chr_id, PurchaseOrder) == orders_before
    created = (await client.post(base, headers=admin, json={"agreement_id": agreement, "lines": PARK, **PLACE})).json()
    exit_ = await client.post(f"{base}/{created['id']}/changes", headers=admin, json={"lines": [
        {"article_code": "CAIH-MNT-X86", "quantity": 40, "direction": "sortie"}]})
    assert exit_.status_code == 422 and "ne compte que 25" in exit_.json()["errors"]["lines.1.quantity"]


async def test_other_tenants_and_other_roles(client, db, demo, api_token):
    chr_id, cpam = demo["tenant_ids"]["chr"], demo["tenant_ids"]["cpam"]
    admin = await api_token("admin@chr-metz.demo")
    base = f"/api/v1/tenants/{chr_id}/maintenance-contracts"
    created = (await client.post(base, headers=admin, json={
        "agreement_id": await _agreement(client, admin, chr_id), "lines": PARK, **PLACE})).json()
    other = await api_token("admin@cpam72.demo")
    assert (await client.get(f"{base}/{created['id']}", headers=other)).status_code == 404
    theirs = f"/api/v1/tenants/{cpam}/maintenance-contracts/{created['id']}"
    assert (await client.get(theirs, headers=other)).status_code == 404
    assert (await client.post(f"{theirs}/park", headers=other, json={"lines": PARK})).status_code == 404
    assert (await client.get(f"/api/v1/tenants/{cpam}/maintenance-contracts", headers=other)).json() == []
    # The titulaire's operator reads but does not declare the buyer's park.
    operator = await api_token("technicien@titulaire.demo")
    assert (await client.get(f"{base}/{created['id']}", headers=operator)).status_code == 200
    assert (await client.post(f"{base}/{created['id']}/park", headers=operator, json={"lines": PARK})).status_code == 403


async def test_a_declaration_without_lines_is_a_422_after_the_tenant_check(client, db, demo, api_token):
    chr_id = demo["tenant_ids"]["chr"]
    admin = await api_token("admin@chr-metz.demo")
    base = f"/api/v1/tenants/{chr_id}/maintenance-contracts"
    created = (await client.post(base, headers=admin, json={
        "agreement_id": await _agreement(client, admin, chr_id), "lines": PARK, **PLACE})).json()
    for path in ("park", "changes"):
        empty = await client.post(f"{base}/{created['id']}/{path}", headers=admin, json={})
        assert empty.status_code == 422 and "Au moins une ligne" in empty.json()["errors"]["lines"]
