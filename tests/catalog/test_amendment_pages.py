"""Amendments through the API and the pages (CCP TGD VI.3): the buyer notifies one from its order page (a date of
effect under ten days is refused next to its field with the rule, nothing stored), the order page shows its
versions and what changed, each version's PDF and ODT say which version it is and what changed, the Order-X of an
amended version is an order change checked by factur-x, the titulaire sends its observations within the five
days; another tenant's order is a 404."""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile
from zoneinfo import ZoneInfo

from pypdf import PdfReader
from sqlalchemy import func, select

from catalog.models import PurchaseOrderAmendment
from tests.conftest import form_post, login_as, page_text

LINES = [{"article_code": "IRVE-BORNE-22", "quantity": 2}, {"article_code": "IRVE-POSE", "quantity": "2"}]


async def _issued_order(client, admin, cpam) -> dict:
    catalog = (await client.get(f"/api/v1/tenants/{cpam}/catalog?search=IRVE-POSE", headers=admin)).json()
    created = await client.post(f"/api/v1/tenants/{cpam}/orders", headers=admin, json={
        "agreement_id": catalog["items"][0]["agreement_id"], "lines": LINES, "delivery_place": "Siège",
        "representative": "Anne Administratrice"})
    assert created.status_code == 201, created.text
    order = created.json()
    assert (await client.post(f"/api/v1/tenants/{cpam}/orders/{order['id']}/issue", headers=admin)).status_code == 200
    return order


def _in_days(days: int) -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Paris")).date() + dt.timedelta(days=days)


async def test_the_api_notifies_an_amendment_and_serves_every_version(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    admin, operator = await api_token("admin@cpam72.demo"), await api_token("technicien@titulaire.demo")
    order = await _issued_order(client, admin, cpam)
    base = f"/api/v1/tenants/{cpam}/orders/{order['id']}"
    early = await client.post(f"{base}/amendments", headers=admin, json={
        "effective_on": _in_days(9).isoformat(), "reason": "Une borne de plus",
        "lines": [{"article_code": "IRVE-BORNE-22", "quantity": 3}, {"article_code": "IRVE-POSE", "quantity": 3}]})
    assert early.status_code == 422 and "dix jours au plus tard" in early.json()["errors"]["effective_on"]
    assert (await client.post(f"{base}/amendments", headers=operator, json={
        "effective_on": _in_days(10).isoformat(), "reason": "x", "lines": LINES})).status_code == 403
    created = await client.post(f"{base}/amendments", headers=admin, json={
        "effective_on": _in_days(10).isoformat(), "reason": "Une borne de plus",
        "lines": [{"article_code": "IRVE-BORNE-22", "quantity": 3}, {"article_code": "IRVE-POSE", "quantity": 3}]})
    assert created.status_code == 201, created.text
    amendment = created.json()
    assert (amendment["number"], amendment["version"], amendment["state"]) == (f"{order['number']}-M1", 2, "notified")
    assert (amendment["total_ht_before"], amendment["total_ht_after"]) == ("9200.00", "13800.00")
    assert amendment["changes"][0] == "IRVE-BORNE-22 — Borne de recharge 2 × 22 kW : quantité 2 → 3."
    current = (await client.get(base, headers=admin)).json()
    assert current["total_ht"] == "13800.00" and [x["quantity"] for x in current["lines"]] == ["3.000", "3.000"]

    v2 = PdfReader(io.BytesIO((await client.get(f"{base}/document?format=pdf", headers=admin)).content))
    text = " ".join(page.extract_text() for page in v2.pages)
    assert f"version 2 (modificatif {order['number']}-M1)" in text
    assert "Changements par rapport à la version 1" in text and "quantité 2 → 3" in text
    v1 = PdfReader(io.BytesIO((await client.get(f"{base}/document?format=pdf&version=1", headers=admin)).content))
    text = " ".join(page.extract_text() for page in v1.pages)
    assert "version 1" in text and "Changements" not in text and "9 200,00" in text.replace("\u202f", " ")
    odt = await client.get(f"{base}/document?format=odt&version=2", headers=admin)
    content = zipfile.ZipFile(io.BytesIO(odt.content)).read("content.xml").decode()
    assert "Changements par rapport à la version 1" in content
    orderx = await client.get(f"{base}/document?format=orderx", headers=admin)
    assert orderx.status_code == 200 and b"<ram:TypeCode>230</ram:TypeCode>" in orderx.content
    assert (await client.get(f"{base}/document?format=pdf&version=3", headers=admin)).status_code == 422

    url = f"{base}/amendments/{amendment['id']}/observations"
    assert (await client.post(url, headers=admin, json={"observations": "x"})).status_code == 403
    observed = await client.post(url, headers=operator, json={"observations": "Délai de pose : +2 jours."})
    assert observed.status_code == 200 and observed.json()["state"] == "observations"
    listed = (await client.get(f"{base}/amendments", headers=admin)).json()
    assert [(a["number"], a["state"]) for a in listed] == [(f"{order['number']}-M1", "observations")]


async def test_the_buyer_amends_from_the_order_page_and_the_titulaire_observes(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    order = await _issued_order(client, await api_token("admin@cpam72.demo"), cpam)
    url = f"/t/{cpam}/commandes/{order['id']}"
    await login_as(client, "admin@cpam72.demo")
    page = page_text(await client.get(url))
    assert "Notifier un modificatif" in page
    form = await client.get(f"{url}/modificatif")
    assert 'value="IRVE-BORNE-22"' in form.text and 'name="quantite_1" value="2"' in form.text
    bad = await form_post(client, f"{url}/modificatif", f"{url}/modificatif", {
        "effective_on": _in_days(3).isoformat(), "reason": "", "code_1": "IRVE-BORNE-22", "quantite_1": "2",
        "code_2": "IRVE-POSE", "quantite_2": "2"})
    assert bad.status_code == 422
    shown = page_text(bad)
    assert "il fallait le notifier au plus tard" in shown and "Indiquez l'objet du modificatif" in shown
    async with db.session([uuid.UUID(cpam)]) as session:
        assert await session.scalar(select(func.count()).select_from(PurchaseOrderAmendment)) == 0
    # The second line's quantity emptied: removed; an article added on a blank row.
    done = await form_post(client, f"{url}/modificatif", f"{url}/modificatif", {
        "effective_on": _in_days(12).isoformat(), "reason": "Pose faite par les services techniques",
        "code_1": "IRVE-BORNE-22", "quantite_1": "2", "code_2": "IRVE-POSE", "quantite_2": "",
        "code_3": "IRVE-MAINT", "quantite_3": "2"})
    assert done.status_code == 303, page_text(done)[:3000]
    page = page_text(await client.get(url))
    assert "Versions et modificatifs" in page and f"{order['number']}-M1" in page
    assert "Suppression : IRVE-POSE" in page and "Ajout : IRVE-MAINT" in page
    assert "Documents de la version 2 en vigueur" in page

    await login_as(client, "technicien@titulaire.demo")
    page = await client.get(url)
    assert "Adresser les observations" in page.text
    action = [p for p in page.text.split('"') if p.endswith("/observations")][0]
    empty = await form_post(client, url, action, {"observations": " "})
    assert empty.status_code == 422 and "Rédigez vos observations" in page_text(empty)
    sent = await form_post(client, url, action, {"observations": "Nous maintenons le prix de la pose."})
    assert sent.status_code == 303
    assert "Nous maintenons le prix de la pose." in page_text(await client.get(url))

    await login_as(client, "admin@villeurbanne.demo")
    assert (await client.get(f"{url}/modificatif")).status_code == 404
    assert (await client.get(f"{url}/document?format=pdf&version=1")).status_code == 404
