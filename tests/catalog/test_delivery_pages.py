"""The delivery slips' pages (``catalog/deliveries_web.py``, issue 14 §3, CCP TGD VII.1–VII.3): the titulaire's operator
records a slip from the order's page (an over-delivery is named next to its line and nothing is stored), the buyer
finds it on its home card, decides line by line (a réfaction without its amount is refused next to its line) and
the order is verified; an overdue decision is red on the order and slip pages, counted on the buyer's home card
and listed in the operator's queue; another tenant's slip is a 404."""

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
