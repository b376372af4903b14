"""The badge requests' pages (``catalog/badge_requests_web.py``, issue 14 §4, §5, CCTP CPAM 5-5-5-3): the agent asks
from its portal (a bad plate is named next to its field and nothing is stored), its manager finds the request on
its home card and approves it in writing, the titulaire's operator finds the badge in its queue and records the
idTag, the agent confirms the receipt; each page shows who did what and when, the pending step's deadline; a
refusal needs its reason; another agent's request and another tenant's are 404."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from catalog.models import BadgeRequest
from tests.conftest import form_post, login_as, page_text


async def _count(db, tenant: uuid.UUID) -> int:
    async with db.session([tenant]) as session:
        return await session.scalar(select(func.count()).select_from(BadgeRequest))


async def test_a_badge_request_from_the_agent_to_the_station_through_the_pages(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    base = f"/t/{cpam}/demandes-badge"
    await login_as(client, "agent@cpam72.demo")
    assert f'href="{base}"' in (await client.get(f"/t/{cpam}/agent")).text  # the menu entry
    listing = page_text(await client.get(base))
    assert "Mes demandes de badge" in listing and "Aucune demande de badge" in listing

    before = await _count(db, cpam)
    bad = await form_post(client, base, base, {"plate": "IO-123-UU", "reason": ""})
    assert bad.status_code == 422
    shown = page_text(bad)
    assert "Immatriculation invalide" in shown and "Indiquez le motif de la demande" in shown
    assert 'aria-invalid="true"' in bad.text and await _count(db, cpam) == before

    created = await form_post(client, base, base, {"plate": "ab 123 cd", "reason": "Trajets domicile-travail"})
    assert created.status_code == 303
    url = created.headers["location"]
    page = page_text(await client.get(url))
    assert "Demande de badge pour le véhicule AB-123-CD" in page and "demandée" in page
    assert "Étape attendue : décision du responsable, avant le" in page
    assert "Retirer ma demande" in page and "Approuver la demande" not in page
    # The agent cannot decide, even by posting the form.
    assert (await form_post(client, url, f"{url}/approve", {})).status_code == 403

    await login_as(client, "responsable@cpam72.demo")
    home = page_text(await client.get(f"/t/{cpam}"))
    assert "Demandes de badge" in home and "à valider (sous 24 h)" in home
    assert "sans votre accord écrit, dû dans les 24 h" in home
    assert "Alice Agent (CPAM)" in page_text(await client.get(f"{base}?etat=requested"))
    refused = await form_post(client, url, f"{url}/refuse", {"reason": "  "})
    assert refused.status_code == 422 and "Indiquez le motif du refus" in page_text(refused)
    approved = await form_post(client, url, f"{url}/approve", {})
    assert approved.status_code == 303
    page = page_text(await client.get(url))
    assert "Approuvée" in page and "par Romain Responsable (CPAM)" in page
    assert "Étape attendue : envoi du badge" in page

    await login_as(client, "technicien@titulaire.demo")
    queue = page_text(await client.get("/operateur"))
    assert "Badge à expédier" in queue and "Véhicule AB-123-CD" in queue and "Badges à expédier" in queue
    shipped = await form_post(client, url, f"{url}/ship", {"id_tag": "CPAM-RFID-0077", "shipment_reference": "1A2B"})
    assert shipped.status_code == 303
    assert "idTag CPAM-RFID-0077, envoi 1A2B" in page_text(await client.get(url))

    await login_as(client, "agent@cpam72.demo")
    activated = await form_post(client, url, f"{url}/activate", {})
    assert activated.status_code == 303
    page = page_text(await client.get(url))
    assert "activée" in page and "accepté par les bornes de CPAM de la Sarthe" in page
    assert "CPAM-RFID-0077" in page_text(await client.get(base))


async def test_other_agents_and_tenants_get_404(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    base = f"/t/{cpam}/demandes-badge"
    await login_as(client, "admin@cpam72.demo")  # the admin asks for itself: not the agent's
    created = await form_post(client, base, base, {"plate": "123 ABC 72", "reason": "Véhicule de pool"})
    url = created.headers["location"]
    await login_as(client, "agent@cpam72.demo")
    assert (await client.get(url)).status_code == 404
    assert "123 ABC 72" not in (await client.get(base)).text
    await login_as(client, "admin@villeurbanne.demo")
    assert (await client.get(url)).status_code == 404
    commune = demo["tenant_ids"]["commune"]
    assert (await client.get(f"/t/{commune}/demandes-badge/{url.rsplit('/', 1)[1]}")).status_code == 404
