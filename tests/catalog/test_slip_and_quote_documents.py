"""The delivery slip and the quote as documents (``catalog.documents``, issue 14 §2, §3): the PDF and the ODT
downloaded from the page and the API, opened and their text checked (CCP TGD X.7: « au format PDF avec sa version
OpenDocument »), their file names, 404 across tenants and through another order, and an unpriced quote that has
no document yet (422 saying why, no link on its page)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from catalog import deliveries, orders, quotes
from tenants import services as tenants
from tenants.models import FrameworkAgreement
from tests.catalog.test_order_documents import odt_text, pdf_text
from tests.conftest import login_as, page_text

ACTOR = {"user_id": None, "label": "test"}
PDF, ODT = "application/pdf", "application/vnd.oasis.opendocument.text"


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Paris")).date()


async def _agreement(session) -> FrameworkAgreement:
    return await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == "2025-CPAM72-IRVE"))


async def _slip(db, tenant_id: uuid.UUID, *, decide: bool):
    """An issued order of three lines, a slip delivering part of the third and, if ``decide``, the buyer's decision:
    reserves on line 1, a rejection on line 2, a réfaction on line 3 (CCP TGD VII.3)."""
    now = dt.datetime.now(dt.UTC)
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        order = await orders.create_order(session, tenant_id, {
            "agreement_id": str((await _agreement(session)).id), "delivery_place": "Parking des agents",
            "representative": "Anne Administratrice",
            "lines": [{"article_code": "IRVE-BORNE-22", "quantity": "2"}, {"article_code": "IRVE-BORNE-7", "quantity": "1"},
                      {"article_code": "IRVE-POSE", "quantity": "3"}]}, order_date=now.date(), now=now)
        order = await orders.issue_order(session, tenant_id, order.id, now=now)
        slip = await deliveries.record_delivery(session, tenant_id, order.id, {
            "delivered_on": _today(), "note": "Livré au gardien", "lines": [
                {"position": 1, "quantity": "2"}, {"position": 2, "quantity": "1"}, {"position": 3, "quantity": "2"}]},
            recorded_by=None, now=now)
        if decide:
            slip = await deliveries.decide_delivery(session, tenant_id, slip.id, {"lines": [
                {"position": 1, "kind": "reception_reserves", "accepted": "2", "rejected": "0",
                 "reserves_deadline": (_today() + dt.timedelta(days=30)).isoformat()},
                {"position": 2, "kind": "rejet", "accepted": "0", "rejected": "1"},
                {"position": 3, "kind": "refaction", "accepted": "2", "rejected": "0", "refaction_amount": "80.00"}]},
                decided_by=None, now=now)
        deadline = deliveries.decision_deadline(await quotes.tenant_calendar(session, tenant_id), slip)
        return order, slip, deadline


def _attachment(response, media_type: str, filename: str) -> bytes:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith(media_type)
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    return response.content


async def test_the_decided_slip_as_pdf_and_odt_from_its_page_and_the_api(client, db, demo, api_token):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order, slip, deadline = await _slip(db, cpam, decide=True)
    url = f"/t/{cpam}/commandes/{order.id}/livraisons/{slip.id}"
    await login_as(client, "admin@cpam72.demo")
    page = await client.get(url)
    assert f'href="{url}/document?format=pdf">Télécharger le bordereau (PDF)' in page.text
    assert f'href="{url}/document?format=odt">Télécharger le bordereau (ODT)' in page.text
    pdf = pdf_text(_attachment(await client.get(f"{url}/document?format=pdf"), PDF, f"{slip.number}.pdf"))
    admin = await api_token("admin@cpam72.demo")
    odt = odt_text(_attachment(await client.get(f"/api/v1/tenants/{cpam}/deliveries/{slip.id}/document?format=odt",
                                                headers=admin), ODT, f"{slip.number}.odt"))
    today = f"{_today():%d/%m/%Y}"
    # CCP TGD VII.1: « l'identification de la commande, du marché et de son titulaire ; la date de mise à
    # disposition ; le détail des biens et/ou services concernés »; VII.3: the decision per line and its due date.
    expected = [f"Bordereau de mise à disposition {slip.number}", "2025-CPAM72-IRVE", "CPAM de la Sarthe",
                f"Numéro de la commande {order.number}", f"Date de la commande {order.order_date:%d/%m/%Y}",
                "Parking des agents", "Anne Administratrice", f"Numéro du bordereau {slip.number}",
                f"Date de mise à disposition {today}", "Livré au gardien",
                f"prononcée le {today}, vérifications achevées le {today}",
                f"Décision due au plus tard le {deadline.last_day:%d/%m/%Y}",
                "Borne de recharge 2 × 22 kW", "Réception avec réserves",
                f"réserves à lever au plus tard le {_today() + dt.timedelta(days=30):%d/%m/%Y}",
                "Borne murale 7,4 kW", "Rejet", "Pose et raccordement d'une borne", "Réception avec réfaction",
                "réfaction de 80,00 € HT", "Contreseing (CCP TGD VII.1)"]
    for text in (pdf, odt):
        for item in expected:
            assert item in text, item
    # Quantities: ordered, delivered, accepted, refused (the ODT's cells in a row, in order).
    assert "IRVE-POSE Pose et raccordement d'une borne unité 3 2 Réception avec réfaction 2 0" in odt
    assert "IRVE-BORNE-7 Borne murale 7,4 kW unité 1 1 Rejet 0 1" in odt
    assert (await client.get(f"{url}/document?format=docx")).status_code == 422


async def test_an_undecided_slip_says_the_decision_is_due_and_the_titulaire_downloads_it(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order, slip, deadline = await _slip(db, cpam, decide=False)
    url = f"/t/{cpam}/commandes/{order.id}/livraisons/{slip.id}"
    # Whoever reads the slip's page reads its document: here the titulaire's operator who recorded it.
    await login_as(client, "technicien@titulaire.demo")
    assert "Télécharger le bordereau (PDF)" in page_text(await client.get(url))
    pdf = pdf_text(_attachment(await client.get(f"{url}/document"), PDF, f"{slip.number}.pdf"))
    assert "Décision (CCP TGD VII.3) à prononcer" in pdf
    assert f"Décision due au plus tard le {deadline.last_day:%d/%m/%Y}" in pdf
    assert "à prononcer" in odt_text(_attachment(await client.get(f"{url}/document?format=odt"), ODT,
                                                 f"{slip.number}.odt"))


async def test_another_tenants_slip_document_is_not_found(client, db, demo, api_token):
    cpam, chr_ = uuid.UUID(demo["tenant_ids"]["cpam"]), uuid.UUID(demo["tenant_ids"]["chr"])
    order, slip, _ = await _slip(db, cpam, decide=False)
    other = await api_token("admin@chr-metz.demo")
    await login_as(client, "admin@chr-metz.demo")
    for tenant in (chr_, cpam):
        for fmt in ("pdf", "odt"):
            assert (await client.get(f"/t/{tenant}/commandes/{order.id}/livraisons/{slip.id}/document?format={fmt}")
                    ).status_code == 404
            assert (await client.get(f"/api/v1/tenants/{tenant}/deliveries/{slip.id}/document?format={fmt}",
                                     headers=other)).status_code == 404
    # Through another order of the right tenant: a 404 too.
    await login_as(client, "admin@cpam72.demo")
    another, _, _ = await _slip(db, cpam, decide=False)
    assert (await client.get(f"/t/{cpam}/commandes/{another.id}/livraisons/{slip.id}/document")).status_code == 404


# --------------------------------------------------------------------------- the quote


async def _requested_quote(db, tenant_id: uuid.UUID, kind: str = "repair"):
    now = dt.datetime.now(dt.UTC)
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        site = (await tenants.list_sites(session, tenant_id))[0]
        quote = await quotes.request_quote(session, tenant_id, None, {
            "agreement_id": str((await _agreement(session)).id), "kind": kind, "site_id": str(site.id),
            "need": "Borne renversée par un véhicule : remplacer et reposer", "place": "Parking des agents"}, now=now)
        return quote, site


async def _answer(db, tenant_id: uuid.UUID, quote_id: uuid.UUID):
    now = dt.datetime.now(dt.UTC)
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        await quotes.record_visit(session, tenant_id, quote_id, _today(), now=now)
        return await quotes.answer_quote(session, tenant_id, quote_id, {
            "note": "Intervention sous huit jours", "lines": [
                {"article_code": "IRVE-BORNE-22", "quantity": "2"},
                {"article_code": "IRVE-POSE", "quantity": "1", "discount_percent": "10", "nature": "labour"}]},
            answered_by=None, now=now)


async def test_an_unpriced_quote_has_no_document_then_the_priced_repair_shows_parts_and_labour(client, db, demo,
                                                                                               api_token):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    quote, site = await _requested_quote(db, cpam)
    url = f"/t/{cpam}/devis/{quote.id}"
    api = f"/api/v1/tenants/{cpam}/quotes/{quote.id}/document"
    admin = await api_token("admin@cpam72.demo")
    await login_as(client, "admin@cpam72.demo")
    # Requested, not priced: no link, and the document answers 422 with the reason (its state).
    assert "Télécharger le devis" not in page_text(await client.get(url))
    refused = await client.get(f"{url}/document?format=pdf")
    assert refused.status_code == 422 and "n'est pas encore chiffré par le titulaire" in page_text(refused)
    refused = await client.get(api, headers=admin)
    assert refused.status_code == 422 and "pas encore chiffré" in refused.json()["errors"]["state"]

    quote = await _answer(db, cpam, quote.id)
    page = await client.get(url)
    assert f'href="{url}/document?format=pdf">Télécharger le devis (PDF)' in page.text
    assert f'href="{url}/document?format=odt">Télécharger le devis (ODT)' in page.text
    pdf = pdf_text(_attachment(await client.get(f"{url}/document?format=pdf"), PDF, f"{quote.number}.pdf"))
    odt = odt_text(_attachment(await client.get(f"{api}?format=odt", headers=admin), ODT, f"{quote.number}.odt"))
    today = f"{_today():%d/%m/%Y}"
    expected = [f"Devis {quote.number}", "2025-CPAM72-IRVE", "Réparation sur devis (CCTP CAIH 2.1.17)", "État chiffré",
                "CPAM de la Sarthe", f"Site {site.name}", "Parking des agents",
                "Borne renversée par un véhicule : remplacer et reposer".replace(" : ", " "), "Intervention sous huit jours",
                f"Visite de site le {today}", f"prix du BPU en vigueur le {today}",
                # CPAM 5-1-4: the quote within 14 working days of the visit, answered the same day.
                "Émission du devis 14 jours ouvrables après la visite de site (CCTP CPAM 5-1-4)", "fait dans le délai",
                # CAIH 2.1.17: « distinctement le prix des pièces ainsi que le prix de la main d'œuvre ».
                "Pièces et fournitures (CCTP CAIH 2.1.17)", "Main-d'œuvre (CCTP CAIH 2.1.17)",
                "Borne de recharge 2 × 22 kW", "Pose et raccordement d'une borne",
                # 2 × 3 450 = 6 900 HT, 8 280 TTC; 1 150 less 10 % (CAIH 5) = 1 035 HT, 1 242 TTC.
                "3 450,00 € 6 900,00 € 6 900,00 € 20 % 8 280,00 €", "1 150,00 € 1 150,00 € 10 % 1 035,00 € 20 % 1 242,00 €",
                "Pièces et fournitures total HT 6 900,00 €", "Main-d'œuvre total HT 1 035,00 €",
                "Total HT non remisé 8 050,00 €", "Total HT après remise 7 935,00 €", "dont pièces HT 6 900,00 €",
                "dont main-d'œuvre HT 1 035,00 €", "Total TVA 1 587,00 €", "Montant global TTC 9 522,00 €",
                "L'acceptation du devis est matérialisée par l'émission d'un bon de commande"]
    for name, text in (("pdf", pdf.replace(" : ", " ")), ("odt", odt)):
        for item in expected:
            assert item in text, (name, item)
    assert (quote.total_ht, quote.parts_ht, quote.labour_ht) == (Decimal("7935.00"), Decimal("6900.00"),
                                                                 Decimal("1035.00"))
    # The titulaire's operator, who reads the quote's page, reads its document.
    operator = await api_token("technicien@titulaire.demo")
    _attachment(await client.get(api, headers=operator), PDF, f"{quote.number}.pdf")


async def test_works_quote_has_one_table_and_a_withdrawn_request_no_document(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    quote, _ = await _requested_quote(db, cpam, kind="works")
    quote = await _answer(db, cpam, quote.id)
    await login_as(client, "admin@cpam72.demo")
    odt = odt_text(_attachment(await client.get(f"/t/{cpam}/devis/{quote.id}/document?format=odt"), ODT,
                               f"{quote.number}.odt"))
    assert "Lignes du devis" in odt and "prestation sur devis, CCTP CANUT 9" in odt
    assert "Main-d'œuvre (CCTP CAIH 2.1.17)" not in odt and "Montant global TTC 9 522,00 €" in odt

    withdrawn, _ = await _requested_quote(db, cpam, kind="works")
    async with db.transaction([cpam], actor=ACTOR) as session:
        await quotes.cancel_quote(session, cpam, withdrawn.id, now=dt.datetime.now(dt.UTC))
    refused = await client.get(f"/t/{cpam}/devis/{withdrawn.id}/document")
    assert refused.status_code == 422 and "a été retiré avant d'être chiffré" in page_text(refused)


async def test_another_tenants_quote_document_is_not_found(client, db, demo, api_token):
    cpam, chr_ = uuid.UUID(demo["tenant_ids"]["cpam"]), uuid.UUID(demo["tenant_ids"]["chr"])
    quote, _ = await _requested_quote(db, cpam)
    await _answer(db, cpam, quote.id)
    other = await api_token("admin@chr-metz.demo")
    await login_as(client, "admin@chr-metz.demo")
    for tenant in (chr_, cpam):
        for fmt in ("pdf", "odt"):
            assert (await client.get(f"/t/{tenant}/devis/{quote.id}/document?format={fmt}")).status_code == 404
            assert (await client.get(f"/api/v1/tenants/{tenant}/quotes/{quote.id}/document?format={fmt}",
                                     headers=other)).status_code == 404
