"""The purchase orders' pages (``catalog/orders_web.py``, issue 14 §3, §5): the buyer drafts an order from the form
(a bad line is named next to its row and nothing is stored), reads it with every TGD VI.1 element, issues it, the
titulaire's operator starts and delivers it, the buyer verifies and closes it; the documents; CSRF; the walls."""

from __future__ import annotations

import datetime as dt
import html
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from catalog.models import PurchaseOrder
from tests.conftest import csrf_from, form_post, login

CPAM_AGREEMENT = "2025-CPAM72-IRVE"


async def _agreement_id(db) -> uuid.UUID:
    from catalog.services import get_agreement_by_reference

    async with db.session() as session:
        return (await get_agreement_by_reference(session, CPAM_AGREEMENT)).id


def _text(page) -> str:
    return html.unescape(page.text).replace("\u202f", " ").replace("\xa0", " ")


async def _count(db, tenant: uuid.UUID) -> int:
    async with db.session([tenant]) as session:
        return await session.scalar(select(func.count()).select_from(PurchaseOrder))


async def test_an_order_from_draft_to_closed_through_the_pages(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    base = f"/t/{cpam}/commandes"
    assert (await login(client, "admin@cpam72.demo")).status_code in (302, 303)
    listing = await client.get(base)
    assert listing.status_code == 200 and "Aucun bon de commande" in listing.text
    assert f'href="{base}"' in listing.text  # the menu entry « Bons de commande »
    form = await client.get(f"{base}/nouvelle")
    assert form.status_code == 200 and CPAM_AGREEMENT in form.text
    token = csrf_from(form.text)
    agreement = await _agreement_id(db)
    fields = {"_csrf_token": token, "agreement_id": str(agreement), "representative": "Anne Administratrice",
              "delivery_place": "Siège, 72000 Le Mans", "delivery_conditions": "Livraison 8h-12h"}
    refused = await client.post(f"{base}/nouvelle", data={**fields, "code_1": "IRVE-BORNE-22", "quantite_1": "2",
                                                          "code_2": "INCONNU", "quantite_2": "1"})
    assert refused.status_code == 422
    assert "Ligne 2 : article « INCONNU » inconnu du BPU" in refused.text
    assert 'href="#f-lines.2.article_code"' in refused.text and 'value="INCONNU"' in refused.text
    assert await _count(db, cpam) == 0
    done = await client.post(f"{base}/nouvelle", data={**fields, "code_1": "IRVE-BORNE-22", "quantite_1": "2",
                                                       "code_3": "IRVE-POSE", "quantite_3": "2", "remise_3": "5"},
                             follow_redirects=False)
    assert done.status_code in (302, 303)
    url = done.headers["location"]
    page = await client.get(url)
    assert "Bon de commande BC-" in page.text and "enregistré en brouillon (2 ligne(s))" in page.text
    # TGD VI.1: 2 × 3 450 = 6 900 HT; 2 × 1 150 less 5 % = 2 185 HT; 9 085 HT, 10 902 TTC.
    for text in ("brouillon", "Siège, 72000 Le Mans", "Anne Administratrice", "Livraison 8h-12h",
                 "IRVE-POSE — Pose et raccordement d'une borne", "5,00 %", "2 185,00 €", "9 085,00 €", "10 902,00 €"):
        assert text in _text(page), text
    assert "Démarrer" not in page.text  # the operator's move, not the buyer's
    pdf = await client.get(f"{url}/document?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    forged = await client.post(f"{url}/issue")
    assert forged.status_code == 403
    issued = await client.post(f"{url}/issue", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert issued.status_code in (302, 303)
    # The same move twice: refused with the rule, nothing changed.
    again = await client.post(f"{url}/issue", data={"_csrf_token": csrf_from(page.text)})
    assert again.status_code == 422 and "Impossible d'émettre une commande à l'état « émis »" in _text(again)

    client.cookies.clear()
    assert (await login(client, "technicien@titulaire.demo")).status_code in (302, 303)
    # The notified order is in the operator's queue and on its home card.
    queue = _text(await client.get("/operateur"))
    assert "Bons de commande à exécuter" in queue and f'href="{url}"' in queue
    seen = await client.get(url)
    assert "Démarrer l'exécution" in _text(seen) and "Annuler la commande" not in seen.text
    token = csrf_from(seen.text)
    assert (await client.post(f"{url}/start", data={"_csrf_token": token}, follow_redirects=False)).status_code in (302, 303)
    # CCP TGD VII.1: « livré » follows the slips — no button, and a forged move gets the rule.
    assert "Déclarer livrée" not in _text(await client.get(url))
    by_hand = await client.post(f"{url}/deliver", data={"_csrf_token": token})
    assert by_hand.status_code == 422 and "livrée par ses bordereaux de mise à disposition" in _text(by_hand)
    assert (await client.post(f"{url}/verify", data={"_csrf_token": token})).status_code == 403
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    slip = await form_post(client, f"{url}/livraisons/nouvelle", f"{url}/livraisons/nouvelle",
                           {"delivered_on": today, "quantite_1": "2", "quantite_2": "2"})
    assert slip.status_code == 303, _text(slip)[:2000]
    slip_url = slip.headers["location"]
    assert "livré" in _text(await client.get(url))

    client.cookies.clear()
    assert (await login(client, "admin@cpam72.demo")).status_code in (302, 303)
    home = _text(await client.get(f"/t/{cpam}"))
    assert "livrés, à vérifier" in home and "la décision est due dans les 15 jours (CCP TGD VII.3)" in home
    token = csrf_from((await client.get(url)).text)
    # CCP TGD VII.3: « vérifié » follows the buyer's decisions on the slips.
    by_hand = await client.post(f"{url}/verify", data={"_csrf_token": token})
    assert by_hand.status_code == 422 and "vérifiée par la décision de l'acheteur" in _text(by_hand)
    decided = await form_post(client, slip_url, f"{slip_url}/decision", {
        "verification_ended_on": today, "decided_on": today, "decision_1": "reception", "acceptee_1": "2",
        "refusee_1": "0", "decision_2": "reception", "acceptee_2": "2", "refusee_2": "0"})
    assert decided.status_code == 303, _text(decided)[:2000]
    token = csrf_from((await client.get(url)).text)
    assert (await client.post(f"{url}/close", data={"_csrf_token": token}, follow_redirects=False)).status_code in (302, 303)
    closed = await client.get(url)
    assert "clos" in closed.text and "technicien@titulaire.demo" in closed.text
    assert "Faire avancer la commande" not in closed.text
    listed = await client.get(f"{base}?etat=closed")
    assert "1 bon de commande à l'état « clos »" in _text(listed)
    assert (await client.post(f"{url}/envoler", data={"_csrf_token": token})).status_code == 404


async def test_another_tenants_order_is_not_found(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    assert (await login(client, "admin@cpam72.demo")).status_code in (302, 303)
    form = await client.get(f"/t/{cpam}/commandes/nouvelle")
    done = await client.post(f"/t/{cpam}/commandes/nouvelle", data={
        "_csrf_token": csrf_from(form.text), "agreement_id": str(await _agreement_id(db)), "representative": "A",
        "delivery_place": "B", "code_1": "IRVE-POSE", "quantite_1": "1"}, follow_redirects=False)
    order_id = done.headers["location"].rsplit("/", 1)[1]
    client.cookies.clear()
    assert (await login(client, "admin@villeurbanne.demo")).status_code in (302, 303)
    commune = uuid.UUID(demo["tenant_ids"]["commune"])
    assert (await client.get(f"/t/{commune}/commandes/{order_id}")).status_code == 404
    assert (await client.get(f"/t/{cpam}/commandes/{order_id}")).status_code == 404
    assert (await client.get(f"/t/{commune}/commandes/{order_id}/document?format=odt")).status_code == 404
