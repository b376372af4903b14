"""The CAIH recurring maintenance pages (``catalog/maintenance_web.py``, CCTP CAIH 2.1.32): reached from the orders
list; a contract made from the park (a bad article named on its row, nothing stored), its first order and the
30-day execution rule, the next anniversary and its declaration deadline, the park declared, a 12 % change giving
a complementary order linked from the page with the rule and the percent, an 8 % one regularised at the renewal,
the viewer without the forms, the home card, and another tenant's contract a 404."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from catalog.models import MaintenanceContract
from tests.conftest import csrf_from, form_post, login_as, page_text


async def _count(db, tenant: uuid.UUID) -> int:
    async with db.session([tenant]) as session:
        return await session.scalar(select(func.count()).select_from(MaintenanceContract))


async def test_a_contract_its_park_and_its_changes_through_the_pages(client, db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    base = f"/t/{chr_id}/maintenance-recurrente"
    await login_as(client, "admin@chr-metz.demo")
    assert f'href="/t/{chr_id}/maintenance-recurrente"' in (await client.get(f"/t/{chr_id}/commandes")).text
    assert "Aucun contrat de maintenance récurrente" in page_text(await client.get(base))

    form = await client.get(f"{base}/nouveau")
    agreement = form.text.split('id="f-agreement_id"', 1)[1].split('selected', 1)[0].rsplit('value="', 1)[1].split('"')[0]
    bad = await client.post(f"{base}/nouveau", follow_redirects=False, data={
        "_csrf_token": csrf_from(form.text), "agreement_id": agreement, "source": "parc",
        "code_1": "NEXISTE-PAS", "quantite_1": "2", "delivery_place": "", "representative": "Hugo"})
    assert bad.status_code == 422
    shown = page_text(bad)
    assert "article « NEXISTE-PAS » inconnu du BPU" in shown and "Lieu(x) de livraison ou d'exécution" in shown
    assert 'aria-invalid="true"' in bad.text and await _count(db, chr_id) == 0

    created = await form_post(client, f"{base}/nouveau", f"{base}/nouveau", {
        "agreement_id": agreement, "source": "parc", "code_1": "CAIH-MNT-X86", "quantite_1": "25",
        "delivery_place": "Hôpital de Mercy — salle serveurs", "representative": "Hugo Administrateur"})
    assert created.status_code == 303, page_text(created)[:2000]
    url = created.headers["location"]
    page = page_text(await client.get(url))
    assert "10 500,00 € HT" in page and "brouillon" in page and "30 jours à compter de sa notification" in page
    assert "Prochain anniversaire" in page and "Déclaration du parc" in page

    # The first order is issued from its own page: the 30-day execution deadline starts.
    order_url = f"/t/{chr_id}/commandes/" + page.split(f"/t/{chr_id}/commandes/", 1)[1].split('"', 1)[0]
    issued = await form_post(client, order_url, f"{order_url}/issue", {})
    assert issued.status_code == 303
    page = page_text(await client.get(url))
    assert "Exécution du premier bon de commande : au plus tard le" in page and "(CCTP CAIH 2.1.32)" in page

    declared = await form_post(client, url, f"{url}/parc", {"code_1": "CAIH-MNT-X86", "quantite_1": "27"})
    assert declared.status_code == 303
    page = page_text(await client.get(url))
    assert "27 × CAIH-MNT-X86" in page and "11 340,00 €" in page

    wrong = await form_post(client, url, f"{url}/evolution", {"code_1": "CAIH-MNT-X86", "quantite_1": "30",
                                                             "sens_1": "sortie"})
    assert wrong.status_code == 422 and "ne compte que 25" in page_text(wrong)
    more = await form_post(client, url, f"{url}/evolution", {"code_1": "CAIH-MNT-X86", "quantite_1": "3",
                                                            "sens_1": "entree", "note": "Nouveau bloc"})
    assert more.status_code == 303
    less = await form_post(client, url, f"{url}/evolution", {"code_1": "CAIH-MNT-X86", "quantite_1": "2",
                                                            "sens_1": "sortie"})
    assert less.status_code == 303
    page = page_text(await client.get(url))
    assert "supérieure à 10% du montant de la commande annuelle" in page  # the rule quoted
    assert "12,00 % de 10 500,00 €" in page and f"plus de 10 % : commande complémentaire <a href=\"/t/{chr_id}/commandes/" in page
    assert "8,00 % de 10 500,00 €" in page and "pas plus de 10 % : régularisée au renouvellement" in page
    assert "commande complémentaire" in page and "brouillon" in page

    listed = page_text(await client.get(base))
    assert "10 500,00 €" in listed and "CAIH-MNT-X86" not in listed
    home = page_text(await client.get(f"/t/{chr_id}"))
    assert "Maintenance récurrente" in home and "contrat(s) de maintenance" in home

    # Another tenant's buyer gets a 404, even by posting.
    await login_as(client, "admin@cpam72.demo")
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    theirs = url.replace(str(chr_id), str(cpam))
    assert (await client.get(theirs)).status_code == 404
    assert (await client.get(url)).status_code in (403, 404)


async def test_the_operator_reads_without_the_forms(client, db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    base = f"/t/{chr_id}/maintenance-recurrente"
    await login_as(client, "admin@chr-metz.demo")
    form = await client.get(f"{base}/nouveau")
    agreement = form.text.split('id="f-agreement_id"', 1)[1].split('selected', 1)[0].rsplit('value="', 1)[1].split('"')[0]
    created = await client.post(f"{base}/nouveau", follow_redirects=False, data={
        "_csrf_token": csrf_from(form.text), "agreement_id": agreement, "source": "parc", "code_1": "CAIH-MNT-BAIE",
        "quantite_1": "2", "delivery_place": "Salle serveurs", "representative": "Hugo Administrateur"})
    url = created.headers["location"]
    await login_as(client, "technicien@titulaire.demo")
    page = await client.get(url)
    assert page.status_code == 200 and "Déclarer le parc" not in page_text(page)
    assert (await form_post(client, url, f"{url}/parc", {"code_1": "CAIH-MNT-BAIE", "quantite_1": "3"})).status_code == 403
