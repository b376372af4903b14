"""The catalog's portal pages: the coordinator's « Accords et BPU » (versions, an import with the report of every
bad line, CSRF), the beneficiary's « Catalogue » (search, filters, price HT, VAT, TTC), the menu group « Commandes »."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from catalog.models import BpuVersion
from tests.conftest import csrf_from, login

HEADER = "code_article;libelle;unite;prix_unitaire_ht;taux_tva;famille;complexite;constructeur;achat_location"


async def _canut_agreement_id(db) -> uuid.UUID:
    from catalog.services import get_agreement_by_reference

    async with db.session() as session:
        return (await get_agreement_by_reference(session, "2024_AOO_IOT")).id


async def test_the_coordinator_imports_a_bpu_from_the_page(client, db, demo):
    assert (await login(client, "coordination@canut.demo")).status_code in (302, 303)
    page = await client.get("/c/CANUT/accords")
    assert page.status_code == 200
    assert "2024_AOO_IOT" in page.text and "en vigueur" in page.text and "<caption>" in page.text
    assert 'href="/c/CANUT/accords"' in page.text and "Commandes" in page.text
    agreement = await _canut_agreement_id(db)
    token = csrf_from(page.text)
    action = f"/c/CANUT/accords/{agreement}/bpu"
    bad = f"{HEADER}\nA;Capteur;u;1;20;Fourniture;;;\nB;Passerelle;u;gratuit;20;Fourniture;;;\n"
    refused = await client.post(action, data={"_csrf_token": token, "valid_from": "2030-01-01"},
                                files={"file": ("bpu.csv", bad.encode(), "text/csv")})
    assert refused.status_code == 422
    assert "Import refusé : 1 ligne(s) en erreur, aucun article importé." in refused.text
    assert "ligne 3 : prix_unitaire_ht : nombre attendu (« gratuit »)" in refused.text
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(BpuVersion)
                                    .where(BpuVersion.agreement_id == agreement)) == 1
    no_file = await client.post(action, data={"_csrf_token": token})
    assert no_file.status_code == 422 and "Choisissez un fichier" in no_file.text
    good = f"{HEADER}\nA;Capteur;u;1,5;20;Fourniture;;;\n"
    done = await client.post(action, data={"_csrf_token": token, "valid_from": "2030-01-01"},
                             files={"file": ("bpu-2030.csv", good.encode(), "text/csv")}, follow_redirects=False)
    assert done.status_code in (302, 303)
    after = await client.get("/c/CANUT/accords")
    assert "version 2 importée (1 articles), en vigueur à partir du 01/01/2030" in after.text
    assert "bpu-2030.csv" in after.text and "à venir" in after.text
    # Without the CSRF token: refused
    forged = await client.post(action, files={"file": ("bpu.csv", good.encode(), "text/csv")})
    assert forged.status_code == 403
    # Another central's agreement through its own central's URL: 404
    async with db.session() as session:
        from catalog.services import get_agreement_by_reference

        caih = (await get_agreement_by_reference(session, "2024-CAIH-SRV")).id
    other = await client.post(f"/c/CANUT/accords/{caih}/bpu", data={"_csrf_token": token},
                              files={"file": ("bpu.csv", good.encode(), "text/csv")})
    assert other.status_code == 404
    assert (await client.get("/c/CAIH/accords")).status_code == 404


async def test_the_solutions_and_their_history_are_shown(client, db, demo):
    import datetime as dt

    from catalog import services

    today = dt.date.today()
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        agreement = await services.get_agreement_by_reference(session, "2024_AOO_IOT")
        old = await services.propose_solution(session, agreement, {
            "code": "SOL-GW", "name": "Passerelle", "price_ht": "1250",
            "characteristics": [{"name": "Canaux", "unit": "", "value": "8"}]}, actor="titulaire")
        await services.approve_solution(session, agreement, old.id, actor="coordination@canut.demo")
        new = await services.propose_solution(session, agreement, {
            "code": "SOL-GW2", "name": "Passerelle V2", "price_ht": "1200",
            "characteristics": [{"name": "Canaux", "unit": "", "value": "16"}]}, actor="titulaire")
        await services.withdraw_solution(session, agreement, old.id, notice_on=today,
                                         effective_on=today + dt.timedelta(weeks=6), today=today, substitute_id=new.id,
                                         actor="coordination@canut.demo")
    assert (await login(client, "coordination@canut.demo")).status_code in (302, 303)
    page = (await client.get("/c/CANUT/accords")).text
    assert "SOL-GW — Passerelle" in page and "Retirée, effectif le" in page and "remplacée par SOL-GW2" in page
    assert "approuvée par coordination@canut.demo" in page and "proposée par titulaire" in page
    assert "Canaux : 16" in page and "1\u202f200,00 €" in page


async def test_the_beneficiary_browses_its_catalog(client, demo):
    commune = demo["tenant_ids"]["commune"]
    assert (await login(client, "admin@villeurbanne.demo")).status_code in (302, 303)
    page = await client.get(f"/t/{commune}/catalogue")
    assert page.status_code == 200
    assert "7 articles, prix en vigueur" in page.text
    assert f'href="/t/{commune}/catalogue"' in page.text and 'aria-current="page"' in page.text
    assert '<label for="c-q">' in page.text and 'scope="col"' in page.text
    found = await client.get(f"/t/{commune}/catalogue", params={"q": "passerelle", "constructeur": "Kerlink"})
    assert "2 articles pour ces critères" in found.text
    assert "1\u202f250,00 €" in found.text and "1\u202f500,00 €" in found.text and "20 %" in found.text
    assert "Location" in found.text
    family = await client.get(f"/t/{commune}/catalogue", params={"famille": "service"})
    assert "3 articles" in family.text and "(Complexe)" in family.text
    block = await client.get(f"/t/{commune}/catalogue", params={"q": "co2"}, headers={"HX-Request": "true"})
    assert block.text.lstrip().startswith('<div id="resultats">') and "IOT-CAP-CO2" in block.text
    # Another tenant's catalog: 404
    assert (await client.get(f"/t/{demo['tenant_ids']['cpam']}/catalogue")).status_code == 404
