"""The quotes' pages (``catalog/quotes_web.py``, issue 14 §2): the buyer asks for a quote from its orders (a missing
need is named next to its field and nothing is stored), the titulaire's operator finds it in its queue, records
the site visit and prices it line by line (a bad article is named on its row), the buyer sees the CPAM 5-1-4
deadline, the priced lines and accepts, which issues the purchase order; the operator records the start of the
works; a refusal needs its reason; another tenant's quote is a 404."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from catalog.models import Quote
from tests.conftest import csrf_from, form_post, login_as, page_text


async def _count(db, tenant: uuid.UUID) -> int:
    async with db.session([tenant]) as session:
        return await session.scalar(select(func.count()).select_from(Quote))


async def test_a_quote_from_the_request_to_the_works_through_the_pages(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    base = f"/t/{cpam}/devis"
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    await login_as(client, "admin@cpam72.demo")
    assert f'href="{base}/nouveau"' in (await client.get(f"/t/{cpam}/commandes")).text
    assert "Aucun devis" in page_text(await client.get(base))

    bad = await form_post(client, f"{base}/nouveau", f"{base}/nouveau", {"kind": "works", "need": " ", "place": ""})
    assert bad.status_code == 422
    shown = page_text(bad)
    assert "Décrivez le besoin" in shown and "Indiquez le lieu des travaux" in shown
    assert 'aria-invalid="true"' in bad.text and await _count(db, cpam) == 0

    form = await client.get(f"{base}/nouveau")
    agreement = form.text.split('<option value="', 2)[2].split('"', 1)[0]  # the first agreement after « Choisir… »
    created = await client.post(f"{base}/nouveau", follow_redirects=False, data={
        "_csrf_token": csrf_from(form.text), "agreement_id": agreement, "kind": "works",
        "need": "Deux bornes 22 kW au parking visiteurs", "place": "Parking visiteurs"})
    assert created.status_code == 303, page_text(created)[:2000]
    url = created.headers["location"]
    page = page_text(await client.get(url))
    assert "Devis DEV-2026-" in page and "demandé" in page and "pas encore commencé" in page
    assert "Retirer la demande" in page and "Envoyer le devis chiffré" not in page
    # The buyer cannot price, even by posting the form.
    assert (await form_post(client, url, f"{url}/answer", {"code_1": "IRVE-POSE", "quantite_1": "1"})).status_code == 403

    await login_as(client, "technicien@titulaire.demo")
    queue = page_text(await client.get("/operateur"))
    assert "Visite de site à organiser" in queue and "Deux bornes 22 kW" in queue
    visited = await form_post(client, url, f"{url}/visit", {"site_visit_on": today.isoformat()})
    assert visited.status_code == 303
    page = page_text(await client.get(url))
    assert "Émission du devis" in page and "en cours" in page
    wrong = await form_post(client, url, f"{url}/answer", {"code_1": "IRVE-BORNE-22", "quantite_1": "2",
                                                       "code_2": "NEXISTE-PAS", "quantite_2": "1"})
    assert wrong.status_code == 422
    assert 'value="NEXISTE-PAS"' in wrong.text and "Ligne 2" in page_text(wrong)
    answered = await form_post(client, url, f"{url}/answer", {
        "code_1": "IRVE-BORNE-22", "quantite_1": "2", "code_2": "IRVE-POSE", "quantite_2": "2", "remise_2": "5",
        "nature_2": "labour", "note": "Délai : trois semaines"})
    assert answered.status_code == 303
    assert "9 085,00 €" in page_text(await client.get(url))

    await login_as(client, "admin@cpam72.demo")
    home = page_text(await client.get(f"/t/{cpam}"))
    assert "chiffrés, à accepter ou refuser" in home
    page = page_text(await client.get(url))
    assert "chiffré" in page and "Délai : trois semaines" in page and "Accepter le devis" in page
    refused = await form_post(client, url, f"{url}/refuse", {"reason": ""})
    assert refused.status_code == 422 and "Indiquez le motif du refus" in page_text(refused)
    accepted = await form_post(client, url, f"{url}/accept", {"representative": "Anne Administratrice"})
    assert accepted.status_code == 303
    page = await client.get(url)
    assert "Voir le bon de commande émis" in page.text
    [order_url] = re.findall(rf'href="(/t/{cpam}/commandes/[0-9a-f-]{{36}})"', page.text)
    order = page_text(await client.get(order_url))
    assert "émis" in order and "9 085,00 €" in order and "Anne Administratrice" in order

    await login_as(client, "technicien@titulaire.demo")
    assert "Travaux à commencer" in page_text(await client.get("/operateur"))
    started = await form_post(client, url, f"{url}/start_works", {"works_started_on": today.isoformat()})
    assert started.status_code == 303
    page = page_text(await client.get(url))
    assert f"le {today:%d/%m/%Y}" in page and "Enregistrer la mise en service" in page


async def test_another_tenants_quote_is_404(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    base = f"/t/{cpam}/devis"
    await login_as(client, "admin@cpam72.demo")
    form = await client.get(f"{base}/nouveau")
    agreement = form.text.split('<option value="', 2)[2].split('"', 1)[0]
    created = await client.post(f"{base}/nouveau", follow_redirects=False, data={
        "_csrf_token": csrf_from(form.text), "agreement_id": agreement, "need": "Une borne", "place": "Siège"})
    url = created.headers["location"]
    await login_as(client, "admin@villeurbanne.demo")
    assert (await client.get(url)).status_code == 404
    commune = demo["tenant_ids"]["commune"]
    assert (await client.get(f"/t/{commune}/devis/{url.rsplit('/', 1)[1]}")).status_code == 404
