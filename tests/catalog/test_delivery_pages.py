"""The delivery slips' pages (``catalog/deliveries_web.py``, issue 14 §3, CCP TGD VII.1–VII.3): the titulaire's operator
records a slip from the order's page (an over-delivery is named next to its line and nothing is stored), the buyer
finds it on its home card, decides line by line (a réfaction without its amount is refused next to its line) and
the order is verified; an overdue decision is red on the order and slip pages, counted on the buyer's home card
and listed in the operator's queue; the reserves declared by the titulaire then lifted by the buyer, red past their
deadline, refused (422) without reserves; another tenant's slip is a 404."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from catalog import deliveries, orders
from catalog.models import Delivery
from tenants.models import FrameworkAgreement
from tests.conftest import form_post, login_as, page_text

ACTOR = {"user_id": None, "label": "test"}


async def _issued_order(db, tenant_id, now):
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(
            FrameworkAgreement.reference == "2025-CPAM72-IRVE"))
        order = await orders.create_order(session, tenant_id, {
            "agreement_id": str(agreement.id), "delivery_place": "Parking", "representative": "Anne",
            "lines": [{"article_code": "IRVE-BORNE-22", "quantity": "2"}, {"article_code": "IRVE-POSE", "quantity": "1"}]},
            order_date=now.date(), now=now)
        return await orders.issue_order(session, tenant_id, order.id, now=now)


async def _count(db, tenant_id) -> int:
    async with db.session([tenant_id]) as session:
        return await session.scalar(select(func.count()).select_from(Delivery)) or 0


async def test_a_slip_and_its_decision_through_the_pages(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _issued_order(db, cpam, dt.datetime.now(dt.UTC))
    order_url = f"/t/{cpam}/commandes/{order.id}"
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()

    await login_as(client, "technicien@titulaire.demo")
    page = page_text(await client.get(order_url))
    assert "Livraisons" in page and "Aucun bordereau de livraison." in page
    assert f'href="{order_url}/livraisons/nouvelle"' in (await client.get(order_url)).text
    form = await client.get(f"{order_url}/livraisons/nouvelle")
    assert form.status_code == 200
    assert "Commandé 2 unité, déjà livré 0, reste 2" in page_text(form)
    assert '<label for="f-lines.1.quantity">' in form.text

    bad = await form_post(client, f"{order_url}/livraisons/nouvelle", f"{order_url}/livraisons/nouvelle", {
        "delivered_on": today.isoformat(), "quantite_1": "3", "quantite_2": ""})
    assert bad.status_code == 422
    assert "Ligne 1 : 3 livré(s) pour 2 restant à livrer" in page_text(bad)
    assert 'aria-invalid="true"' in bad.text and 'value="3"' in bad.text
    assert await _count(db, cpam) == 0

    created = await form_post(client, f"{order_url}/livraisons/nouvelle", f"{order_url}/livraisons/nouvelle", {
        "delivered_on": today.isoformat(), "quantite_1": "2", "quantite_2": "1", "note": "Livré au gardien"})
    assert created.status_code == 303, page_text(created)[:2000]
    slip_url = created.headers["location"]
    page = page_text(await client.get(slip_url))
    assert "Bordereau BC-2026-000001-L1" in page and "à prononcer au plus tard le" in page
    assert "Livré au gardien" in page and "Prononcer la décision" not in page
    # The titulaire cannot decide on its own delivery, even by posting the form.
    forged = await form_post(client, slip_url, f"{slip_url}/decision", {
        "decision_1": "reception", "acceptee_1": "2", "refusee_1": "0",
        "decision_2": "reception", "acceptee_2": "1", "refusee_2": "0"})
    assert forged.status_code == 403
    page = page_text(await client.get(order_url))
    assert "BC-2026-000001-L1" in page and "livré" in page

    await login_as(client, "admin@cpam72.demo")
    home = page_text(await client.get(f"/t/{cpam}"))
    assert "Livraisons à vérifier" in home and "bordereaux en attente de votre décision" in home
    page = page_text(await client.get(slip_url))
    assert "Prononcer la décision" in page and "Réception avec réfaction" in page
    refused = await form_post(client, slip_url, f"{slip_url}/decision", {
        "verification_ended_on": today.isoformat(), "decided_on": today.isoformat(),
        "decision_1": "reception", "acceptee_1": "2", "refusee_1": "0",
        "decision_2": "refaction", "acceptee_2": "1", "refusee_2": "0", "montant_2": ""})
    assert refused.status_code == 422
    assert "Ligne 2 : Une réception avec réfaction indique le montant de la réfaction." in page_text(refused)
    assert '<option value="refaction" selected>' in refused.text
    decided = await form_post(client, slip_url, f"{slip_url}/decision", {
        "verification_ended_on": today.isoformat(), "decided_on": today.isoformat(),
        "decision_1": "reception", "acceptee_1": "2", "refusee_1": "0",
        "decision_2": "refaction", "acceptee_2": "1", "refusee_2": "0", "montant_2": "75,00"})
    assert decided.status_code == 303
    page = page_text(await client.get(slip_url))
    assert "prononcée le" in page and "75,00 € HT" in page and "Prononcer la décision" not in page
    assert "vérifié" in page_text(await client.get(order_url))


async def test_an_overdue_decision_is_shown_to_both_sides(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    # Issued and delivered a month ago: the 15 days of CCP TGD VII.3 are over.
    month_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    order = await _issued_order(db, cpam, month_ago)
    async with db.transaction([cpam], actor=ACTOR) as session:
        day = month_ago.astimezone(ZoneInfo("Europe/Paris")).date()
        slip = await deliveries.record_delivery(session, cpam, order.id, {
            "delivered_on": day.isoformat(), "lines": [{"position": 1, "quantity": "1"}]}, recorded_by=None,
            now=month_ago)
    order_url = f"/t/{cpam}/commandes/{order.id}"

    await login_as(client, "admin@cpam72.demo")
    assert "décision en retard" in page_text(await client.get(order_url))
    assert "décision en retard" in page_text(await client.get(f"{order_url}/livraisons/{slip.id}"))
    home = page_text(await client.get(f"/t/{cpam}"))
    assert "décisions en retard (quinze jours, CCP TGD VII.3)" in home

    await login_as(client, "technicien@titulaire.demo")
    queue = page_text(await client.get("/operateur"))
    assert "Décision de l'acheteur en retard" in queue and "BC-2026-000001-L1" in queue
    assert "flag-danger" in (await client.get(order_url)).text


async def test_another_tenants_slip_is_not_found(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    chr_ = uuid.UUID(demo["tenant_ids"]["chr"])
    order = await _issued_order(db, cpam, dt.datetime.now(dt.UTC))
    async with db.transaction([cpam], actor=ACTOR) as session:
        slip = await deliveries.record_delivery(session, cpam, order.id, {
            "delivered_on": dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat(),
            "lines": [{"position": 1, "quantity": "1"}]}, recorded_by=None, now=dt.datetime.now(dt.UTC))
    await login_as(client, "admin@chr-metz.demo")
    for tenant in (chr_, cpam):
        assert (await client.get(f"/t/{tenant}/commandes/{order.id}/livraisons/{slip.id}")).status_code == 404
        assert (await client.get(f"/t/{tenant}/commandes/{order.id}/livraisons/nouvelle")).status_code == 404
    # The slip read through another order of the right tenant is a 404 too.
    await login_as(client, "admin@cpam72.demo")
    other = await _issued_order(db, cpam, dt.datetime.now(dt.UTC))
    assert (await client.get(f"/t/{cpam}/commandes/{other.id}/livraisons/{slip.id}")).status_code == 404
    assert (await client.get(f"/t/{cpam}/commandes/{order.id}/livraisons/{slip.id}")).status_code == 200


async def _decided_with_reserves(db, tenant_id, *, days_ago: int, deadline_days_ago: int | None):
    """A slip delivered and decided ``days_ago`` days ago, with reserves due ``deadline_days_ago`` days ago (None: a
    plain réception)."""
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    order = await _issued_order(db, tenant_id, at)
    day = at.astimezone(ZoneInfo("Europe/Paris")).date()
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        slip = await deliveries.record_delivery(session, tenant_id, order.id, {
            "delivered_on": day.isoformat(), "lines": [{"position": 1, "quantity": "2"}]}, recorded_by=None, now=at)
        line = {"position": 1, "kind": "reception"}
        if deadline_days_ago is not None:
            line = {"position": 1, "kind": "reception_reserves",
                    "reserves_deadline": (dt.datetime.now(ZoneInfo("Europe/Paris")).date()
                                          - dt.timedelta(days=deadline_days_ago)).isoformat()}
        await deliveries.decide_delivery(session, tenant_id, slip.id, {"lines": [line]}, decided_by=None, now=at)
    return order, slip


async def test_reserves_are_declared_then_lifted_through_the_pages(client, db, demo):
    # CCP TGD VII.3: the reserves the titulaire « s'engage alors à résoudre dans un délai fixé par la décision », then
    # « une décision de levée desdites réserves ».
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order, slip = await _decided_with_reserves(db, cpam, days_ago=0, deadline_days_ago=-10)
    slip_url = f"/t/{cpam}/commandes/{order.id}/livraisons/{slip.id}"
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()

    await login_as(client, "technicien@titulaire.demo")
    page = page_text(await client.get(slip_url))
    assert "Réserves (CCP TGD VII.3)" in page and "Déclarer les réserves levées" in page
    assert "Prononcer la levée des réserves" not in page and "non levées dans le délai" not in page
    empty = await form_post(client, slip_url, f"{slip_url}/reserves/declaration", {"note": ""})
    assert empty.status_code == 422 and "décrivez ce qui a été fait" in page_text(empty)
    # The titulaire does not pronounce the lifting itself, even by posting the form.
    assert (await form_post(client, slip_url, f"{slip_url}/reserves/levee", {"note": "x"})).status_code == 403
    declared = await form_post(client, slip_url, f"{slip_url}/reserves/declaration", {"note": "Câble remplacé"})
    assert declared.status_code == 303

    await login_as(client, "admin@cpam72.demo")
    page = page_text(await client.get(slip_url))
    assert "réserves déclarées levées le" in page and "Câble remplacé" in page
    assert "Prononcer la levée des réserves" in page and "Déclarer les réserves levées" not in page
    lifted = await form_post(client, slip_url, f"{slip_url}/reserves/levee", {
        "lifted_on": today.isoformat(), "note": "Constaté"})
    assert lifted.status_code == 303
    page = page_text(await client.get(slip_url))
    assert f"prononcée le {today:%d/%m/%Y} par" in page and "Constaté" in page
    assert "Prononcer la levée des réserves" not in page
    assert f"réserves levées le {today:%d/%m/%Y}" in page_text(await client.get(f"/t/{cpam}/commandes/{order.id}"))


async def test_reserves_past_their_deadline_are_red_and_a_slip_without_reserves_refuses_the_lifting(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order, slip = await _decided_with_reserves(db, cpam, days_ago=20, deadline_days_ago=5)
    slip_url = f"/t/{cpam}/commandes/{order.id}/livraisons/{slip.id}"
    await login_as(client, "admin@cpam72.demo")
    response = await client.get(slip_url)
    assert "réserves non levées dans le délai" in page_text(response) and "flag-danger" in response.text
    assert "réserves non levées dans le délai" in page_text(await client.get(f"/t/{cpam}/commandes/{order.id}"))

    plain_order, plain = await _decided_with_reserves(db, cpam, days_ago=0, deadline_days_ago=None)
    plain_url = f"/t/{cpam}/commandes/{plain_order.id}/livraisons/{plain.id}"
    assert "Réserves (CCP TGD VII.3)" not in page_text(await client.get(plain_url))
    refused = await form_post(client, plain_url, f"{plain_url}/reserves/levee", {"note": "x"})
    assert refused.status_code == 422 and "n'est pas une réception avec réserves" in page_text(refused)
    async with db.session([cpam]) as session:
        assert (await deliveries.get_delivery_in_tenant(session, cpam, plain.id)).reserves_lifted_at is None

    # Another tenant's slip: 404 whatever the body.
    await login_as(client, "admin@chr-metz.demo")
    chr_ = uuid.UUID(demo["tenant_ids"]["chr"])
    for tenant in (chr_, cpam):
        url = f"/t/{tenant}/commandes/{order.id}/livraisons/{slip.id}"
        assert (await form_post(client, f"/t/{chr_}", f"{url}/reserves/levee", {"note": "x"})).status_code == 404
    async with db.session([cpam]) as session:
        assert (await deliveries.get_delivery_in_tenant(session, cpam, slip.id)).reserves_lifted_at is None
