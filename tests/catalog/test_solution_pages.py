"""The catalog solutions' lifecycle in the coordinator's portal (issue 14 §1, CCTP CANUT 5.1.2, CPAM 8-1-2-2 and
8-1-3-1): the page per agreement, the proposal form with typed characteristics, the approval, the withdrawal with
its 6-week notice and its substitute compared characteristic by characteristic; and the beneficiary's catalog
showing the solutions beside the BPU lines."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from catalog.models import CatalogSolution, SolutionEvent
from tests.conftest import csrf_from, login

COORDINATOR = "coordination@canut.demo"
BENEFICIARY = "admin@villeurbanne.demo"


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Paris")).date()


async def _agreement(db, reference: str = "2024_AOO_IOT"):
    from catalog.services import get_agreement_by_reference

    async with db.session() as session:
        return (await get_agreement_by_reference(session, reference)).id


async def _solutions(db, agreement_id) -> dict[str, CatalogSolution]:
    async with db.session() as session:
        return {s.code: s for s in await session.scalars(
            select(CatalogSolution).where(CatalogSolution.agreement_id == agreement_id))}


async def _events(db) -> int:
    async with db.session() as session:
        return await session.scalar(select(func.count()).select_from(SolutionEvent)) or 0


async def _propose(client, url: str, token: str, code: str, price: str, lines: list[tuple[str, str, str]],
                   **extra: str):
    data = {"_csrf_token": token, "code": code, "name": f"Passerelle {code}", "maker": "Kerlink",
            "article_code": "IOT-GW-OUT", "price_ht": price, **extra}
    for n, (name, unit, value) in enumerate(lines, start=1):
        data |= {f"car_name_{n}": name, f"car_unit_{n}": unit, f"car_value_{n}": value}
    return await client.post(f"{url}/nouvelle", data=data, follow_redirects=False)


async def test_the_coordinator_proposes_approves_and_withdraws_with_a_substitute(client, db, demo):
    agreement = await _agreement(db)
    url = f"/c/CANUT/accords/{agreement}/solutions"
    assert (await login(client, COORDINATOR)).status_code in (302, 303)
    listing = await client.get("/c/CANUT/accords")
    assert f'href="{url}"' in listing.text  # linked from « Accords et BPU »
    page = await client.get(url)
    assert page.status_code == 200
    assert "CCTP CANUT 5.1.2" in page.text and "Aucune solution proposée." in page.text
    form = await client.get(f"{url}/nouvelle")
    assert form.status_code == 200 and '<label for="f-car_name_1">' in form.text
    token = csrf_from(form.text)

    # Refusals as the user sees them, next to the fields, nothing stored
    before = await _events(db)
    bad = await _propose(client, url, token, "", "gratuit", [("Canaux", "", "beaucoup"), ("", "dB", "3")])
    assert bad.status_code == 422
    assert 'id="e-code"' in bad.text and "obligatoire, 64 caractères au plus" in bad.text
    assert 'id="e-price_ht"' in bad.text and "prix HT attendu (nombre positif)" in bad.text
    assert 'id="e-characteristics"' in bad.text
    assert "caractéristique « Canaux » : valeur numérique attendue" in bad.text
    assert "caractéristique 2 : nom obligatoire" in bad.text
    assert 'value="beaucoup"' in bad.text  # what was typed is kept
    huge = await _propose(client, url, token, "SOL-X", "99999999999999", [])
    assert huge.status_code == 422 and "10 milliards d&#39;euros au plus" in huge.text
    assert await _solutions(db, agreement) == {} and await _events(db) == before

    # Happy path: the old model, approved; the new one, proposed
    done = await _propose(client, url, token, "SOL-GW", "1 250,00",
                          [("Canaux", "", "8"), ("Portée", "km", "10"), ("Indice IP", "", "67")])
    assert done.status_code == 303
    page = await client.get(url)
    assert "Solution « SOL-GW » enregistrée : proposée" in page.text
    twice = await _propose(client, url, token, "SOL-GW", "1", [])
    assert twice.status_code == 422 and "la solution « SOL-GW » existe déjà dans cet accord-cadre" in twice.text
    old = (await _solutions(db, agreement))["SOL-GW"]
    assert [c["name"] for c in old.characteristics] == ["Canaux", "Portée", "Indice IP"]
    assert "Canaux : 8 ; Portée : 10 km ; Indice IP : 67" in page.text and "1\u202f250,00 €" in page.text
    assert f"proposée par {COORDINATOR}" in page.text
    approved = await client.post(f"{url}/{old.id}/approbation", data={"_csrf_token": token}, follow_redirects=False)
    assert approved.status_code == 303
    page = await client.get(url)
    assert "Solution « SOL-GW » approuvée" in page.text and "Approuvées, au catalogue (1)" in page.text
    assert f"approuvée par {COORDINATOR}" in page.text
    # Approving it again: refused, said on the page
    again = await client.post(f"{url}/{old.id}/approbation", data={"_csrf_token": token})
    assert again.status_code == 422 and "seule une solution proposée peut être approuvée" in again.text

    # A weaker and dearer substitute, proposed: every failing characteristic named (CPAM 8-1-3-1)
    await _propose(client, url, token, "SOL-GW-LOW", "1 300", [("canaux", "", "4"), ("Portée", "m", "10000")])
    await _propose(client, url, token, "SOL-GW2", "1 200", [("Canaux", "", "16"), ("Portée", "km", "15"),
                                                            ("Indice IP", "", "67")])
    sols = await _solutions(db, agreement)
    withdraw = await client.get(f"{url}/{old.id}/retrait")
    assert withdraw.status_code == 200
    today = _today()
    earliest = today + dt.timedelta(weeks=6)
    # CPAM 8-1-2-2: the earliest effect, computed from the notice and shown
    assert f"Au plus tôt le {earliest:%d/%m/%Y}" in withdraw.text and f'value="{earliest.isoformat()}"' in withdraw.text
    assert f'hx-get="{url}/{old.id}/retrait" hx-trigger="change"' in withdraw.text  # recomputed as the date changes
    recomputed = await client.get(f"{url}/{old.id}/retrait", params={"notice_on": "2026-01-05"},
                                  headers={"HX-Request": "true"})
    assert recomputed.text.lstrip().startswith('<div id="effet">') and "Au plus tôt le 16/02/2026" in recomputed.text
    before = await _events(db)
    early = await client.post(f"{url}/{old.id}/retrait", data={
        "_csrf_token": token, "notice_on": today.isoformat(),
        "effective_on": (earliest - dt.timedelta(days=1)).isoformat()})
    assert early.status_code == 422 and 'id="e-effective_on"' in early.text
    assert f"retrait au plus tôt le {earliest:%d/%m/%Y}" in early.text
    assert "au moins 6 semaines avant le retrait d&#39;une référence au présent marché" in early.text
    assert "(CCTP CPAM 8-1-2-2)" in early.text
    weak = await client.post(f"{url}/{old.id}/retrait", data={
        "_csrf_token": token, "notice_on": today.isoformat(), "effective_on": earliest.isoformat(),
        "substitute_id": str(sols["SOL-GW-LOW"].id)})
    assert weak.status_code == 422 and "Substitution refusée" in weak.text
    assert "prix 1\u202f300,00 € HT supérieur à celui du modèle remplacé (1\u202f250,00 € HT)" in weak.text
    assert "caractéristique « Canaux » : 4 inférieure à 8 : « caractéristiques techniques égales ou supérieures »" in weak.text
    assert "caractéristique « Portée » : unité « m » au lieu de « km »" in weak.text
    assert "caractéristique « Indice IP » non déclarée par le modèle de substitution" in weak.text
    future = await client.post(f"{url}/{old.id}/retrait", data={
        "_csrf_token": token, "notice_on": (today + dt.timedelta(days=1)).isoformat(),
        "effective_on": (today + dt.timedelta(weeks=8)).isoformat()})
    assert future.status_code == 422 and "la date d&#39;information ne peut pas être dans le futur" in future.text
    missing = await client.post(f"{url}/{old.id}/retrait", data={"_csrf_token": token, "notice_on": "demain"})
    assert missing.status_code == 422 and "Date invalide" in missing.text and "Date obligatoire" in missing.text
    after = await _solutions(db, agreement)
    assert after["SOL-GW"].status == "approved" and after["SOL-GW"].withdrawal_effective_on is None
    assert await _events(db) == before

    # Accepted: the substitute still proposed is approved with it
    ok = await client.post(f"{url}/{old.id}/retrait", data={
        "_csrf_token": token, "notice_on": today.isoformat(), "effective_on": earliest.isoformat(),
        "substitute_id": str(sols["SOL-GW2"].id)}, follow_redirects=False)
    assert ok.status_code == 303
    page = await client.get(url)
    assert f"Retrait de « SOL-GW » enregistré : effectif le {earliest:%d/%m/%Y}" in page.text
    assert "Retirées (1)" in page.text and "remplacée par SOL-GW2 — Passerelle SOL-GW2" in page.text
    assert f"retrait effectif le {earliest:%d/%m/%Y} (information du {today:%d/%m/%Y}), remplacée par SOL-GW2" in page.text
    assert "substitution de SOL-GW" in page.text
    final = await _solutions(db, agreement)
    assert final["SOL-GW2"].status == "approved" and final["SOL-GW"].substitute_id == final["SOL-GW2"].id
    # A withdrawn one offers no second withdrawal
    assert "Seule une solution approuvée peut être retirée" in (await client.get(f"{url}/{old.id}/retrait")).text

    # The beneficiary sees the approved and withdrawn ones beside the BPU lines (not the proposed one)
    await client.post("/deconnexion", data={"_csrf_token": token})
    assert (await login(client, BENEFICIARY)).status_code in (302, 303)
    commune = demo["tenant_ids"]["commune"]
    catalog = (await client.get(f"/t/{commune}/catalogue")).text
    assert "Solutions du catalogue" in catalog and "SOL-GW2 — Passerelle SOL-GW2" in catalog
    assert "IOT-GW-OUT : 1\u202f250,00 € HT, TVA 20 %" in catalog  # the BPU article's price in force
    assert f"Retrait annoncé : effectif le {earliest:%d/%m/%Y}, remplacée par SOL-GW2" in catalog
    assert "SOL-GW-LOW" not in catalog
    found = await client.get(f"/t/{commune}/catalogue", params={"q": "gw2"}, headers={"HX-Request": "true"})
    assert "SOL-GW2 — Passerelle" in found.text and "SOL-GW — Passerelle SOL-GW<" not in found.text


async def test_walls_and_csrf(client, db, demo):
    """Another central's agreement and solution → 404; a beneficiary cannot reach the coordinator's pages; no
    CSRF token → 403."""
    canut, caih = await _agreement(db), await _agreement(db, "2024-CAIH-SRV")
    from catalog import services
    from tenants.models import FrameworkAgreement

    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        agreement = await session.get(FrameworkAgreement, caih)
        theirs = await services.propose_solution(session, agreement, {"code": "CAIH-SOL", "name": "X", "price_ht": "1"})
        agreement = await session.get(FrameworkAgreement, canut)
        mine = await services.propose_solution(session, agreement, {"code": "CANUT-SOL", "name": "Y", "price_ht": "1"})
        theirs_id, mine_id = theirs.id, mine.id
    assert (await login(client, COORDINATOR)).status_code in (302, 303)
    token = csrf_from((await client.get(f"/c/CANUT/accords/{canut}/solutions")).text)
    for path in (f"/c/CANUT/accords/{caih}/solutions", f"/c/CANUT/accords/{caih}/solutions/nouvelle",
                 f"/c/CANUT/accords/{caih}/solutions/{theirs_id}/retrait",
                 f"/c/CANUT/accords/{canut}/solutions/{theirs_id}/retrait",
                 f"/c/CANUT/accords/{canut}/solutions/{uuid.uuid4()}/retrait",
                 f"/c/CAIH/accords/{caih}/solutions"):
        assert (await client.get(path)).status_code == 404, path
    for path in (f"/c/CANUT/accords/{caih}/solutions/{theirs_id}/approbation",
                 f"/c/CANUT/accords/{canut}/solutions/{theirs_id}/approbation",
                 f"/c/CANUT/accords/{caih}/solutions/nouvelle"):
        assert (await client.post(path, data={"_csrf_token": token, "code": "Z", "name": "Z",
                                              "price_ht": "1"})).status_code == 404, path
    forged = await client.post(f"/c/CANUT/accords/{canut}/solutions/{mine_id}/approbation")
    assert forged.status_code == 403
    assert (await _solutions(db, caih))["CAIH-SOL"].status == "proposed"
    assert (await _solutions(db, canut))["CANUT-SOL"].status == "proposed"
    assert set(await _solutions(db, caih)) == {"CAIH-SOL"}

    await client.post("/deconnexion", data={"_csrf_token": token})
    assert (await login(client, BENEFICIARY)).status_code in (302, 303)
    token = csrf_from((await client.get(f"/t/{demo['tenant_ids']['commune']}/catalogue")).text)
    assert (await client.get(f"/c/CANUT/accords/{canut}/solutions")).status_code == 404
    assert (await client.get(f"/c/CANUT/accords/{canut}/solutions/nouvelle")).status_code == 404
    refused = await client.post(f"/c/CANUT/accords/{canut}/solutions/{mine_id}/approbation",
                                data={"_csrf_token": token})
    assert refused.status_code == 404
    assert (await _solutions(db, canut))["CANUT-SOL"].status == "proposed"
