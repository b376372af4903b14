"""The penalties' API and pages (issue 15 §4, §6; CCP TGD VIII): the buyer's admin proposes and notifies, the
titulaire's operator records its observations and a VIII.5 exemption, the buyer decides; ``GET penalties``; the
pages with the computation in French and their CSRF forms; 404 across tenants."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select

from app.db import utcnow
from billing.models import Penalty
from tests.billing.test_invoices import verified_order
from tests.conftest import form_post, login_as, page_text


async def _order(db, tenant_id):
    now = utcnow() - dt.timedelta(minutes=5)
    return await verified_order(db, tenant_id, issued=now - dt.timedelta(minutes=5), delivered=now, decided=now)


async def test_the_buyer_proposes_and_notifies_the_titulaire_observes_the_buyer_exempts(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    order = await _order(db, uuid.UUID(cpam))
    admin = await api_token("admin@cpam72.demo")
    operator = await api_token("technicien@titulaire.demo")
    base = f"/api/v1/tenants/{cpam}/penalties"
    body = {"article": "VIII.4", "order_id": str(order.id), "source": "order", "lateness": "3",
            "lateness_unit": "days", "facts": "Livraison due le 1er, faite le 4."}
    # The titulaire does not penalise itself.
    assert (await client.post(base, headers=operator, json=body)).status_code == 403
    bad = await client.post(base, headers=admin, json={**body, "lateness_unit": "semaines"})
    assert bad.status_code == 422 and "lateness_unit" in bad.json()["errors"]
    made = await client.post(base, headers=admin, json=body)
    assert made.status_code == 201, made.text
    p = made.json()
    # VIII.4: 9 085,00 × 3 / 500 = 54,51 € HT.
    assert (p["status"], p["value_ht"], p["amount_ht"]) == ("proposed", "9085.00", "54.51")
    assert p["computation"] == "9\u202f085,00 € × 3 / 500 = 54,51 €"
    url = f"{base}/{p['id']}"
    assert (await client.post(f"{url}/notify", headers=operator)).status_code == 403
    notified = (await client.post(f"{url}/notify", headers=admin)).json()
    assert notified["status"] == "notified" and notified["observations_until"]
    assert (await client.post(f"{url}/observations", headers=admin, json={"observations": "x"})).status_code == 403
    observed = await client.post(f"{url}/observations", headers=operator, json={
        "observations": "Coupure du réseau.", "exemption": "network", "justification": "Avis de l'opérateur télécom."})
    assert observed.status_code == 200 and observed.json()["status"] == "contested"
    decided = (await client.post(f"{url}/decision", headers=admin, json={"decision": "exempt"})).json()
    assert (decided["status"], decided["amount_ht"]) == ("exempted", "0.00")
    listing = (await client.get(base, headers=operator)).json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == p["id"]
    assert (await client.get(base, headers=admin, params={"status": "perdu"})).status_code == 422


async def test_another_tenants_penalty_is_404(client, db, demo, api_token):
    cpam, commune = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["commune"]
    order = await _order(db, uuid.UUID(cpam))
    admin = await api_token("admin@cpam72.demo")
    made = (await client.post(f"/api/v1/tenants/{cpam}/penalties", headers=admin, json={
        "article": "VIII.4", "order_id": str(order.id), "source": "order", "lateness": "1", "lateness_unit": "days",
        "facts": "Retard."})).json()
    stranger = await api_token("admin@villeurbanne.demo")
    other = f"/api/v1/tenants/{commune}/penalties"
    assert (await client.get(f"{other}/{made['id']}", headers=stranger)).status_code == 404
    for action, body in (("notify", None), ("decision", {"decision": "maintain"}), ("cancel", {"reason": "x"})):
        assert (await client.post(f"{other}/{made['id']}/{action}", headers=stranger, json=body)).status_code == 404
    # Another tenant's order cannot be penalised from here either.
    refused = await client.post(other, headers=stranger, json={
        "article": "VIII.4", "order_id": str(order.id), "source": "order", "lateness": "1", "lateness_unit": "days",
        "facts": "Retard."})
    assert refused.status_code == 422 and "order_id" in refused.json()["errors"]
    assert (await client.get(f"/api/v1/tenants/{cpam}/penalties/{made['id']}", headers=stranger)).status_code == 404
    async with db.session([uuid.UUID(cpam)]) as session:
        assert (await session.get(Penalty, (uuid.UUID(cpam), uuid.UUID(made["id"])))).status == "proposed"
        assert await session.scalar(select(func.count()).select_from(Penalty)) == 1


async def test_pages_propose_notify_and_observe(client, db, demo):
    cpam = demo["tenant_ids"]["cpam"]
    order = await _order(db, uuid.UUID(cpam))
    base = f"/t/{cpam}/penalites"
    await login_as(client, "admin@cpam72.demo")
    listing = await client.get(base)
    assert listing.status_code == 200 and "Proposer une pénalité" in page_text(listing)
    assert f'href="{base}"' in (await client.get(f"/t/{cpam}/factures")).text  # reached from the invoices' page
    refused = await form_post(client, base, base, {"article": "VIII.4", "order_id": str(order.id), "source": "order",
                                                   "lateness": "trois", "lateness_unit": "days", "facts": "Retard."})
    assert refused.status_code == 422 and "Retard R : un nombre" in page_text(refused)
    made = await form_post(client, base, base, {"article": "VIII.4", "order_id": str(order.id), "source": "order",
                                                "lateness": "3", "lateness_unit": "days", "facts": "Retard."})
    assert made.status_code == 303
    url = made.headers["location"]
    page = await client.get(url)
    assert "9 085,00 € × 3 / 500 = 54,51 €" in page_text(page) and "Notifier au titulaire" in page_text(page)
    assert (await form_post(client, url, f"{url}/notifier", {})).status_code == 303
    await login_as(client, "technicien@titulaire.demo")
    page = await client.get(url)
    assert "Observations du titulaire" in page_text(page) and "Variation du courant électrique" in page_text(page)
    refused = await form_post(client, url, f"{url}/observations", {"observations": "", "exemption": "power"})
    assert refused.status_code == 422 and "Observations : obligatoire" in page_text(refused)
    saved = await form_post(client, url, f"{url}/observations", {"observations": "Panne EDF", "exemption": "power",
                                                                 "justification": "Attestation du distributeur"})
    assert saved.status_code == 303
    assert "contestée" in page_text(await client.get(url))
