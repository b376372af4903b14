"""Tenant and coordinator portals (issue 2, DESIGN.md §5): what each profile sees and may do.

Every test logs in as a demo user and reads the HTML a browser would get.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import func, select
from stdnum import luhn

from app.db import unscoped
from tenants import services
from tenants.models import Central, Site, Tenant
from tests.conftest import csrf_from, form_post, login

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

CAIH = "coordination@caih.demo"
ADMIN = "admin@cpam72.demo"
VIEWER = "visu@cpam72.demo"
AGENT = "agent@cpam72.demo"
CHR_NAME = "Centre hospitalier régional de Metz-Thionville"


def siret(siren8: str, nic4: str = "0001") -> str:
    """A SIRET whose SIREN and SIRET keys are both valid (the validators check both)."""
    siren = siren8 + luhn.calc_check_digit(siren8)
    return siren + nic4 + luhn.calc_check_digit(siren + nic4)


def text_of(html: str) -> str:
    """Visible text, whitespace collapsed (what a reader sees, not the markup)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&#34;", '"')


async def logged_in(client, email: str, password: str | None = None) -> None:
    response = await login(client, email, password)
    assert response.status_code in (302, 303), response.text[:300]


async def follow(client, response):
    assert response.status_code in (302, 303), (response.status_code, response.text[:500])
    return await client.get(response.headers["location"])


async def drain_jobs(client, app) -> None:
    """Wait for queued jobs (e-mails) on the app's own event loop, which runs in the test client's portal."""
    await asyncio.to_thread(client.blocking_portal.call, app.state.jobs.drain)


async def count(db, model, **where) -> int:
    async with db.session() as session, session.begin():
        with unscoped(session):
            stmt = select(func.count()).select_from(model)
            for key, value in where.items():
                stmt = stmt.where(getattr(model, key) == value)
            return await session.scalar(stmt) or 0


# --------------------------------------------------------------------------- coordinator


async def test_coordinator_sees_the_beneficiaries_of_its_central_only(client, demo):
    await logged_in(client, CAIH)
    home = await client.get("/c/CAIH")
    assert home.status_code == 200
    text = text_of(home.text)
    assert "2024-CAIH-SRV" in text and "Maintenance et infogérance des serveurs et du stockage" in text
    assert re.search(r"2024-CAIH-SRV .*Titulaire Démo SAS 01/01/2025 31/12/2028 1\b", text), text
    assert 'aria-current="page"' in home.text

    listing = await client.get("/c/CAIH/beneficiaires")
    assert listing.status_code == 200
    assert CHR_NAME in listing.text
    assert "CPAM de la Sarthe" not in listing.text
    assert f'href="/t/{demo["tenant_ids"]["chr"]}"' in listing.text

    # Another central's pages and another central's beneficiary do not exist for them.
    assert (await client.get("/c/CPAM72")).status_code == 404
    assert (await client.get(f"/t/{demo['tenant_ids']['cpam']}")).status_code == 404
    assert (await client.get(f"/t/{demo['tenant_ids']['cpam']}/sites")).status_code == 404
    chr_home = await client.get(f"/t/{demo['tenant_ids']['chr']}")
    assert chr_home.status_code == 200 and CHR_NAME in chr_home.text


async def _add_beneficiaries(db, n: int) -> None:
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        with unscoped(session):
            central = await session.scalar(select(Central).where(Central.code == "CAIH"))
            for i in range(1, n + 1):
                await services.create_tenant(
                    session,
                    {"name": f"Hôpital d'essai {i:02d}", "siret": siret(f"300000{i:02d}"), "city": "Nancy" if i == 7 else "Toul"},
                    central=central,
                )


async def test_beneficiary_search_paginates_on_the_server(client, db, demo):
    await _add_beneficiaries(db, 25)
    await logged_in(client, CAIH)

    first = await client.get("/c/CAIH/beneficiaires")
    assert "26 bénéficiaires" in text_of(first.text) and "page 1 sur 2" in text_of(first.text)
    assert "Hôpital d'essai 19" in text_of(first.text) and "Hôpital d'essai 20" not in text_of(first.text)
    assert 'href="/c/CAIH/beneficiaires?page=2"' in first.text

    second = await client.get("/c/CAIH/beneficiaires", params={"page": 2})
    text = text_of(second.text)
    assert "page 2 sur 2" in text
    assert "Hôpital d'essai 20" in text and "Hôpital d'essai 25" in text and "Hôpital d'essai 19" not in text

    by_city = text_of((await client.get("/c/CAIH/beneficiaires", params={"q": "nancy"})).text)
    assert "1 bénéficiaire pour « nancy »" in by_city and "Hôpital d'essai 07" in by_city
    by_siret = text_of((await client.get("/c/CAIH/beneficiaires", params={"q": siret("30000012")[:12]})).text)
    assert "Hôpital d'essai 12" in by_siret and "Hôpital d'essai 11" not in by_siret
    nothing = text_of((await client.get("/c/CAIH/beneficiaires", params={"q": "CPAM"})).text)
    assert "Aucun bénéficiaire ne correspond à « CPAM »" in nothing


async def test_htmx_search_gets_only_the_results_block(client, db, demo):
    await _add_beneficiaries(db, 3)
    await logged_in(client, CAIH)
    response = await client.get("/c/CAIH/beneficiaires", params={"q": "essai 02"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.text.strip()
    assert body.startswith('<div id="resultats">'), body[:200]
    assert "<html" not in body and "<nav aria-label=\"Navigation principale\"" not in body and "<form" not in body
    assert "Hôpital d'essai 02" in text_of(body) and "Hôpital d'essai 03" not in text_of(body)
    assert response.headers["vary"] == "HX-Request"
    # Without the header the same URL is a full page.
    assert "<html" in (await client.get("/c/CAIH/beneficiaires", params={"q": "essai 02"})).text


async def test_create_beneficiary_validates_then_offers_its_first_admin(client, app, db, demo):
    await create_beneficiary_flow(client, app, db, demo)


async def create_beneficiary_flow(client, app, db, demo):
    """Also run on PostgreSQL: the new tenant's rows are written from the coordinator's scope."""
    await logged_in(client, CAIH)
    before = await count(db, Tenant)
    bad = await form_post(client, "/c/CAIH/beneficiaires/nouveau", "/c/CAIH/beneficiaires/nouveau",
                          {"name": "Clinique du Parc", "siret": "12345678901234", "city": "Nancy", "territory": "metropole"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in bad.text and 'href="#f-siret"' in bad.text
    assert re.search(r'id="f-siret"[^>]*aria-invalid="true"', bad.text)
    assert 'id="e-siret"' in bad.text
    assert 'value="Clinique du Parc"' in bad.text  # what was typed is kept
    assert await count(db, Tenant) == before

    good_siret = siret("40000000")
    created = await form_post(client, "/c/CAIH/beneficiaires/nouveau", "/c/CAIH/beneficiaires/nouveau",
                              {"name": "Clinique du Parc", "siret": good_siret, "postal_code": "54000", "city": "Nancy",
                               "insee_code": "54395", "territory": "metropole", "address": "3 rue du Parc"})
    assert created.status_code == 303, text_of(created.text)
    match = re.fullmatch(r"/t/([0-9a-f-]{36})/utilisateurs/nouveau\?role=admin", created.headers["location"])
    assert match, created.headers["location"]
    tenant_id = match.group(1)
    offer = await client.get(created.headers["location"])
    assert offer.status_code == 200
    assert "Bénéficiaire « Clinique du Parc » créé" in text_of(offer.text)
    assert re.search(r'<option value="admin" selected>Administrateur</option>', offer.text)
    # It is now among the central's beneficiaries and subscribed to its agreement.
    assert "Clinique du Parc" in (await client.get("/c/CAIH/beneficiaires", params={"q": "parc"})).text
    assert re.search(r"2024-CAIH-SRV .* 2\b", text_of((await client.get("/c/CAIH")).text))

    added = await client.post(f"/t/{tenant_id}/utilisateurs/nouveau", follow_redirects=False, data={
        "email": "dsi@clinique-parc.example", "full_name": "Denis Dsi", "role": "admin", "password": "",
        "_csrf_token": csrf_from(offer.text)})
    assert added.status_code == 303
    await drain_jobs(client, app)
    outbox = text_of((await client.get(f"/t/{tenant_id}/courriels")).text)
    assert "dsi@clinique-parc.example" in outbox and "invitation à rejoindre Clinique du Parc" in outbox


# --------------------------------------------------------------------------- sites and the audit log


async def test_admin_creates_a_site_and_finds_it_in_the_list_and_the_audit_log(client, demo):
    await site_and_audit_flow(client, demo)


async def site_and_audit_flow(client, demo):
    """Also run on PostgreSQL (test_portal_postgres.py): RLS must let every step through."""
    cpam = demo["tenant_ids"]["cpam"]
    await logged_in(client, ADMIN)
    base = f"/t/{cpam}"

    bad = await form_post(client, f"{base}/sites/nouveau", f"{base}/sites/nouveau",
                          {"name": "", "insee_code": "", "postal_code": "72", "latitude": "nord"})
    assert bad.status_code == 422
    text = text_of(bad.text)
    assert "Le formulaire contient 4 erreurs" in text
    assert "Le nom du site est obligatoire." in text and "Le code postal doit comporter 5 chiffres." in text
    assert "Coordonnée invalide (nombre décimal attendu)." in text

    created = await form_post(client, f"{base}/sites/nouveau", f"{base}/sites/nouveau", {
        "name": "Antenne de Sablé", "address": "12 rue Carnot", "postal_code": "72300", "city": "Sablé-sur-Sarthe",
        "insee_code": "72264", "building_code": "0002", "latitude": "47,8396", "longitude": "-0,3347", "notes": ""})
    detail = await follow(client, created)
    assert detail.status_code == 200
    assert "Site « Antenne de Sablé » créé." in text_of(detail.text)
    assert "47,839600, -0,334700" in text_of(detail.text)

    listing = text_of((await client.get(f"{base}/sites")).text)
    assert "Antenne de Sablé" in listing and "12 rue Carnot, 72300 Sablé-sur-Sarthe" in listing

    journal = await client.get(f"{base}/journal", params={"entite": "sites", "action": "create"})
    assert journal.status_code == 200
    text = text_of(journal.text)
    assert re.search(r"admin@cpam72\.demo Création Site « Antenne de Sablé » .*Nom Antenne de Sablé", text), text
    assert "Code bâtiment 0002" in text
    # The demo loader created the other site: the actor filter excludes it.
    assert "Siège — parking des véhicules de service" in text
    mine = text_of((await client.get(f"{base}/journal", params={"auteur": "admin@cpam"})).text)
    assert "Antenne de Sablé" in mine and "Siège — parking" not in mine


async def test_admin_edits_then_deletes_a_site(client, demo):
    cpam = demo["tenant_ids"]["cpam"]
    await logged_in(client, ADMIN)
    base = f"/t/{cpam}"
    created = await form_post(client, f"{base}/sites/nouveau", f"{base}/sites/nouveau",
                              {"name": "Parking B", "insee_code": "72181", "city": "Le Mans"})
    site_url = created.headers["location"]
    edit = await client.get(f"{site_url}/modifier")
    assert 'value="Parking B"' in edit.text

    dup = await client.post(f"{site_url}/modifier", follow_redirects=False, data={
        "name": "Siège — parking des véhicules de service", "insee_code": "72181", "_csrf_token": csrf_from(edit.text)})
    assert dup.status_code == 422 and "Un site porte déjà ce nom." in dup.text

    saved = await client.post(f"{site_url}/modifier", follow_redirects=False, data={
        "name": "Parking visiteurs", "insee_code": "72181", "city": "Le Mans", "_csrf_token": csrf_from(edit.text)})
    page = await follow(client, saved)
    assert "Site enregistré." in page.text and "<h1>Parking visiteurs</h1>" in page.text

    journal = text_of((await client.get(f"{base}/journal", params={"action": "update"})).text)
    assert re.search(r"Modification Site « Parking visiteurs » .{0,80}Champ Avant Après Nom Parking B Parking visiteurs", journal), journal

    deleted = await client.post(f"{site_url}/supprimer", follow_redirects=False, data={"_csrf_token": csrf_from(page.text)})
    listing = await follow(client, deleted)
    assert "Site « Parking visiteurs » supprimé." in listing.text
    assert "Parking visiteurs</a>" not in listing.text
    assert (await client.get(site_url)).status_code == 404
    journal = text_of((await client.get(f"{base}/journal", params={"action": "delete"})).text)
    assert "Suppression Site « Parking visiteurs »" in journal


async def test_a_site_names_its_local_referent_and_a_bad_address_is_refused(client, demo):
    # CCTP CAIH 2.1.5: « l'envoi d'un mail récapitulatif au référent local du marché » at each closure.
    cpam = demo["tenant_ids"]["cpam"]
    await logged_in(client, ADMIN)
    base = f"/t/{cpam}"
    bad = await form_post(client, f"{base}/sites/nouveau", f"{base}/sites/nouveau", {
        "name": "Antenne de La Flèche", "insee_code": "72154", "referent_email": "pas une adresse"})
    assert bad.status_code == 422 and "Adresse électronique du référent invalide." in text_of(bad.text)
    created = await form_post(client, f"{base}/sites/nouveau", f"{base}/sites/nouveau", {
        "name": "Antenne de La Flèche", "insee_code": "72154", "referent_name": "Mme Roux",
        "referent_email": "Roux@CPAM72.example"})
    detail = text_of((await follow(client, created)).text)
    assert "Référent local Mme Roux, roux@cpam72.example" in detail


async def test_audit_log_shows_local_times_and_filters_by_local_day(client, db, demo):
    # La Réunion is UTC+4 all year: the log shows the tenant's wall-clock time.
    from zoneinfo import ZoneInfo

    from app.audit import AuditEvent

    tj = uuid.UUID(demo["tenant_ids"]["tj"])
    async with db.session([tj]) as session:
        first = await session.scalar(select(AuditEvent).where(AuditEvent.tenant_id == tj).order_by(AuditEvent.at))
    local = first.at.astimezone(ZoneInfo("Indian/Reunion"))
    utc_text = first.at.strftime("%d/%m/%Y %H:%M")
    await logged_in(client, "admin@tj-reunion.demo")
    page = await client.get(f"/t/{tj}/journal")
    assert local.strftime("%d/%m/%Y %H:%M") in page.text and "Indian/Reunion" in page.text
    assert utc_text not in page.text
    day = local.date()
    same_day = text_of((await client.get(f"/t/{tj}/journal", params={"du": day.isoformat(), "au": day.isoformat()})).text)
    assert "Création Bénéficiaire « Tribunal judiciaire de Saint-Denis (La Réunion) »" in same_day and "Tribunal judiciaire de Saint-Denis (La Réunion)" in same_day
    later = text_of((await client.get(f"/t/{tj}/journal", params={"du": (day + dt.timedelta(days=1)).isoformat()})).text)
    assert "0 événement." in later and "Aucun événement ne correspond" in later
    bad = await client.get(f"/t/{tj}/journal", params={"du": "31/12/2026"})
    assert "Date invalide (format attendu : AAAA-MM-JJ)." in bad.text


async def test_a_site_with_equipment_is_not_deleted(client, db, demo):
    from csms.domain.registry import register_charger

    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor={"user_id": None, "label": "test"}) as session:
        site = (await services.list_sites(session, cpam))[0]
        await register_charger(session, cpam, {"charge_box_id": "PORTAIL-TEST-1", "password": "Borne-secrete-2026", "site": str(site.id)})
    await logged_in(client, ADMIN)
    detail = await client.get(f"/t/{cpam}/sites/{site.id}")
    refused = await client.post(f"/t/{cpam}/sites/{site.id}/supprimer", data={"_csrf_token": csrf_from(detail.text)},
                                follow_redirects=False)
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
    text = text_of(refused.text)
    assert "Le site n'a pas été supprimé" in text and "Ce site porte encore des équipements" in text
    assert "Siège — parking des véhicules de service" in text
    assert await count(db, Site, tenant_id=cpam) == 1


async def test_viewer_reads_but_cannot_change_anything(client, demo):
    cpam = demo["tenant_ids"]["cpam"]
    base = f"/t/{cpam}"
    await logged_in(client, VIEWER)
    listing = await client.get(f"{base}/sites")
    assert listing.status_code == 200 and "Siège — parking des véhicules de service" in listing.text
    assert "Ajouter un site" not in listing.text
    site_id = re.search(rf'href="{base}/sites/([0-9a-f-]{{36}})"', listing.text).group(1)
    detail = await client.get(f"{base}/sites/{site_id}")
    assert detail.status_code == 200 and "Modifier le site" not in detail.text and "Supprimer" not in detail.text
    members = await client.get(f"{base}/utilisateurs")
    assert members.status_code == 200 and "admin@cpam72.demo" in members.text and "Retirer" not in members.text
    assert "Visualisation" in members.text and "Administrateur" in members.text and "Exploitant" in members.text
    token = csrf_from(listing.text)

    assert (await client.get(f"{base}/sites/nouveau")).status_code == 403
    for action, data in [
        (f"{base}/sites/nouveau", {"name": "Intrus", "insee_code": "72181"}),
        (f"{base}/sites/{site_id}/modifier", {"name": "Intrus"}),
        (f"{base}/sites/{site_id}/supprimer", {}),
        (f"{base}/profil/modifier", {"name": "Intrus"}),
        (f"{base}/utilisateurs/nouveau", {"email": "x@exemple.fr", "role": "admin"}),
    ]:
        response = await client.post(action, data={**data, "_csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, action
        assert response.headers["content-type"].startswith("text/html"), action
        assert "Votre profil ne permet pas cette action." in response.text
    assert (await client.get(f"{base}/journal")).status_code == 403
    assert "Intrus" not in (await client.get(f"{base}/sites")).text


async def test_another_tenants_objects_are_not_found(client, db, demo):
    cpam, chr_ = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["chr"]
    async with db.session([uuid.UUID(chr_)]) as session:
        chr_site = (await services.list_sites(session, uuid.UUID(chr_)))[0].id
        chr_admin = (await services.list_tenant_members(session, uuid.UUID(chr_)))[0].user_id
    await logged_in(client, ADMIN)
    token = csrf_from((await client.get(f"/t/{cpam}")).text)
    for url in (f"/t/{chr_}", f"/t/{chr_}/sites", f"/t/{cpam}/sites/{chr_site}", f"/t/{cpam}/sites/{chr_site}/modifier",
                f"/t/{cpam}/utilisateurs/{chr_admin}/modifier", f"/t/{uuid.uuid4()}", "/c/CAIH"):
        assert (await client.get(url)).status_code == 404, url
    for url in (f"/t/{cpam}/sites/{chr_site}/supprimer", f"/t/{cpam}/sites/{chr_site}/modifier",
                f"/t/{cpam}/utilisateurs/{chr_admin}/retirer", f"/t/{chr_}/sites/nouveau"):
        response = await client.post(url, data={"_csrf_token": token, "name": "x", "insee_code": "72181"}, follow_redirects=False)
        assert response.status_code == 404, url
    assert await count(db, Site, tenant_id=uuid.UUID(chr_)) == 1


async def test_profile_edit(client, demo):
    cpam = demo["tenant_ids"]["cpam"]
    await logged_in(client, ADMIN)
    form = await client.get(f"/t/{cpam}/profil/modifier")
    assert form.status_code == 200 and 'id="f-siret"' not in form.text  # identifiers: coordinator only
    bad = await client.post(f"/t/{cpam}/profil/modifier", follow_redirects=False, data={
        "name": "CPAM de la Sarthe", "postal_code": "7200", "territory": "metropole", "_csrf_token": csrf_from(form.text)})
    assert bad.status_code == 422 and "Le code postal doit comporter 5 chiffres." in bad.text
    ok = await client.post(f"/t/{cpam}/profil/modifier", follow_redirects=False, data={
        "name": "CPAM de la Sarthe", "address": "2 place de la République", "postal_code": "72000", "city": "Le Mans",
        "insee_code": "72181", "territory": "metropole", "_csrf_token": csrf_from(form.text)})
    profile = text_of((await follow(client, ok)).text)
    assert "Profil enregistré." in profile and "2 place de la République" in profile
    assert re.search(r"SIRET \d{14} ", profile)


# --------------------------------------------------------------------------- users


async def test_add_members_with_and_without_password(client, app, demo):
    cpam = demo["tenant_ids"]["cpam"]
    base = f"/t/{cpam}/utilisateurs"
    await logged_in(client, ADMIN)

    with_password = await form_post(client, f"{base}/nouveau", f"{base}/nouveau", {
        "email": "Paul.Lecteur@cpam72.example", "full_name": "Paul Lecteur", "role": "viewer", "password": "Lecture-seule-2026"})
    listing = await follow(client, with_password)
    text = text_of(listing.text)
    assert "paul.lecteur@cpam72.example : demande enregistrée avec le profil Visualisation." in text
    assert re.search(r"Paul Lecteur paul\.lecteur@cpam72\.example Visualisation", text)

    invited = await form_post(client, f"{base}/nouveau", f"{base}/nouveau", {
        "email": "agent2@cpam72.example", "full_name": "Bruno Agent", "role": "agent", "password": ""})
    assert "agent2@cpam72.example : demande enregistrée avec le profil Agent." in text_of((await follow(client, invited)).text)
    await drain_jobs(client, app)
    outbox = await client.get(f"/t/{cpam}/courriels")
    assert outbox.status_code == 200
    text = text_of(outbox.text)
    assert "agent2@cpam72.example" in text and "Centrale : invitation à rejoindre CPAM de la Sarthe" in text
    link = re.search(r"http://[^/\s]+(/reinitialiser/rst_[\w-]+)", outbox.text).group(1)
    # A password was given: Paul is told his account exists, and gets neither his password nor a link.
    assert "Centrale : accès à CPAM de la Sarthe" in text
    assert "Lecture-seule-2026" not in outbox.text

    # The invitee sets a password through the link, then logs in.
    page = await client.get(link)
    assert page.status_code == 200
    done = await client.post(link, data={"password": "Agent-de-charge-2026", "password_confirm": "Agent-de-charge-2026",
                                         "_csrf_token": csrf_from(page.text)})
    assert "Votre mot de passe a été modifié." in done.text
    await client.post("/deconnexion", data={"_csrf_token": csrf_from(page.text)})
    landed = await login(client, "agent2@cpam72.example", "Agent-de-charge-2026")
    assert landed.headers["location"] == f"/t/{cpam}/agent"
    await client.post("/deconnexion", data={"_csrf_token": csrf_from((await client.get("/compte")).text)})
    assert (await login(client, "paul.lecteur@cpam72.example", "Lecture-seule-2026")).headers["location"] == f"/t/{cpam}"


async def test_member_form_errors(client, db, demo):
    cpam = demo["tenant_ids"]["cpam"]
    base = f"/t/{cpam}/utilisateurs"
    await logged_in(client, ADMIN)
    dup = await form_post(client, f"{base}/nouveau", f"{base}/nouveau", {"email": "VISU@cpam72.demo", "role": "viewer"})
    assert dup.status_code == 422 and dup.headers["content-type"].startswith("text/html")
    assert "Cet utilisateur est déjà membre de ce bénéficiaire." in dup.text
    assert re.search(r'id="f-email"[^>]*aria-invalid="true"', dup.text)

    role = await form_post(client, f"{base}/nouveau", f"{base}/nouveau", {"email": "nouveau@cpam72.example", "role": "superadmin"})
    assert role.status_code == 422 and "Profil inconnu" in role.text and 'href="#f-role"' in role.text
    weak = await form_post(client, f"{base}/nouveau", f"{base}/nouveau",
                           {"email": "nouveau@cpam72.example", "role": "viewer", "password": "court"})
    assert weak.status_code == 422 and "au moins 12 caractères" in weak.text
    async with db.session() as session:
        assert await services.find_user_by_email(session, "nouveau@cpam72.example") is None


async def test_last_admin_cannot_be_removed_or_demoted(client, demo):
    cpam = demo["tenant_ids"]["cpam"]
    base = f"/t/{cpam}/utilisateurs"
    await logged_in(client, ADMIN)
    listing = await client.get(base)
    token = csrf_from(listing.text)
    admin_id = re.search(rf'href="{base}/([0-9a-f-]{{36}})/modifier">Changer le profil<span class="visually-hidden"> de admin@cpam72\.demo',
                         listing.text).group(1)
    # Nobody removes itself: no « Retirer » on its own line, and the route refuses it.
    assert f"{base}/{admin_id}/retirer" not in listing.text
    own = await client.get(f"{base}/{admin_id}/retirer")
    assert own.status_code == 422 and "Vous ne pouvez pas vous retirer vous-même" in text_of(own.text)
    refused = await client.post(f"{base}/{admin_id}/retirer", data={"_csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
    assert "Vous ne pouvez pas vous retirer vous-même" in refused.text

    demote = await client.post(f"{base}/{admin_id}/modifier", data={"role": "viewer", "service": "Service refusé",
                                                                   "_csrf_token": token}, follow_redirects=False)
    assert demote.status_code == 422 and "Le bénéficiaire doit garder au moins un administrateur." in demote.text
    assert "Service refusé" not in (await client.get(base)).text  # refused whole: the service is not kept either

    # Removing someone else asks first, naming the person; then they disappear from the list.
    viewer_id = re.search(rf'href="{base}/([0-9a-f-]{{36}})/retirer">Retirer<span class="visually-hidden"> visu@', listing.text).group(1)
    confirm = await client.get(f"{base}/{viewer_id}/retirer")
    assert confirm.status_code == 200
    assert "Retirer Victor Visualisation ?" in text_of(confirm.text) or "Retirer visu@cpam72.demo" in text_of(confirm.text)
    assert "n'aura plus accès aux pages de la CPAM de la Sarthe" in text_of(confirm.text)
    removed = await client.post(f"{base}/{viewer_id}/retirer", data={"_csrf_token": csrf_from(confirm.text)}, follow_redirects=False)
    after = await follow(client, removed)
    assert "visu@cpam72.demo n'a plus accès à CPAM de la Sarthe." in text_of(after.text)
    assert "visu@cpam72.demo</td>" not in after.text

    # ... and come back in one step, with the profile they had (from the list or from the journal).
    assert "Retiré depuis moins de 24 heures" in text_of(after.text)
    event_id = re.search(rf'action="/t/{cpam}/journal/([0-9a-f-]{{36}})/retablir"', after.text).group(1)
    journal = await client.get(f"/t/{cpam}/journal", params={"entite": "memberships", "action": "delete"})
    assert "Suppression Membre « visu@cpam72.demo »" in text_of(journal.text)
    assert f"/journal/{event_id}/retablir" in journal.text and "Annuler ce retrait" in journal.text
    back = await client.post(f"/t/{cpam}/journal/{event_id}/retablir", data={"_csrf_token": csrf_from(journal.text),
                                                                           "retour": "journal"}, follow_redirects=False)
    assert back.headers["location"] == f"/t/{cpam}/journal"
    page = await follow(client, back)
    assert "visu@cpam72.demo a de nouveau accès à CPAM de la Sarthe avec le profil Visualisation." in text_of(page.text)
    assert "Annuler ce retrait" not in page.text
    listing = text_of((await client.get(base)).text)
    assert "visu@cpam72.demo Visualisation" in listing and "Retiré depuis moins" not in listing
    again = await client.post(f"/t/{cpam}/journal/{event_id}/retablir", data={"_csrf_token": token}, follow_redirects=False)
    assert "a déjà accès" in text_of((await follow(client, again)).text)


async def test_a_removal_is_undone_within_a_day_only(client, db, admin_db, demo):
    from sqlalchemy import update

    from app.audit import AuditEvent

    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    await logged_in(client, ADMIN)
    base = f"/t/{cpam}/utilisateurs"
    listing = await client.get(base)
    viewer_id = re.search(rf'href="{base}/([0-9a-f-]{{36}})/retirer">Retirer<span class="visually-hidden"> visu@', listing.text).group(1)
    await client.post(f"{base}/{viewer_id}/retirer", data={"_csrf_token": csrf_from(listing.text)})
    async with db.transaction([cpam], actor={"user_id": None, "label": "test"}) as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.tenant_id == cpam, AuditEvent.action == "delete",
                                                              AuditEvent.entity == "memberships"))
    async with admin_db.engine.begin() as conn:  # the log is append-only for the application role
        await conn.execute(update(AuditEvent.__table__).where(AuditEvent.__table__.c.id == event.id)
                           .values(at=event.at - dt.timedelta(hours=25)))
    page = await client.get(base)
    assert "Retiré depuis moins" not in page.text
    late = await client.post(f"/t/{cpam}/journal/{event.id}/retablir", data={"_csrf_token": csrf_from(page.text)})
    assert "ne peut plus être annulé" in text_of(late.text) and "visu@cpam72.demo</td>" not in late.text


async def test_coordinator_manages_users_but_not_sites(client, demo):
    chr_ = demo["tenant_ids"]["chr"]
    await logged_in(client, CAIH)
    assert (await client.get(f"/t/{chr_}/utilisateurs/nouveau")).status_code == 200
    assert (await client.get(f"/t/{chr_}/sites/nouveau")).status_code == 403
    promoted = await form_post(client, f"/t/{chr_}/utilisateurs/nouveau", f"/t/{chr_}/utilisateurs/nouveau",
                               {"email": "dsi@chr-metz.example", "role": "admin", "password": "Hopital-Metz-2026!"})
    assert promoted.status_code == 303
    assert "dsi@chr-metz.example" in (await client.get(f"/t/{chr_}/utilisateurs")).text
    assert "Ma centrale" in (await client.get(f"/t/{chr_}")).text


# --------------------------------------------------------------------------- agent and account


async def test_agent_home(client, demo):
    cpam = demo["tenant_ids"]["cpam"]
    await logged_in(client, AGENT)
    assert (await client.get(f"/t/{cpam}", follow_redirects=False)).headers["location"] == f"/t/{cpam}/agent"
    page = await client.get(f"/t/{cpam}/agent")
    text = text_of(page.text)
    assert "Bonjour Alice Agent (CPAM)" in text
    assert "Siège — parking des véhicules de service" in text and "178 avenue Bollée, 72000 Le Mans" in text
    assert 'href="/compte"' in page.text
    assert (await client.get(f"/t/{cpam}/sites")).status_code == 403
    assert (await client.get(f"/t/{cpam}/utilisateurs")).status_code == 403


async def test_change_password(client, demo):
    await logged_in(client, VIEWER)
    account = await client.get("/compte")
    text = text_of(account.text)
    assert "visu@cpam72.demo" in text and "CPAM de la Sarthe — Visualisation" in text
    token = csrf_from(account.text)

    wrong = await client.post("/compte/mot-de-passe", follow_redirects=False, data={
        "current_password": "pas-le-bon-2026", "new_password": "court", "new_password_confirm": "autre", "_csrf_token": token})
    assert wrong.status_code == 422
    text = text_of(wrong.text)
    assert "Le formulaire contient 3 erreurs" in text and "Mot de passe actuel incorrect." in text
    assert "Les deux mots de passe diffèrent." in text

    ok = await client.post("/compte/mot-de-passe", follow_redirects=False, data={
        "current_password": "Centrale-demo-2026", "new_password": "Nouveau-secret-2027",
        "new_password_confirm": "Nouveau-secret-2027", "_csrf_token": token})
    assert "Votre mot de passe a été modifié ; vos autres sessions ont été fermées." in (await follow(client, ok)).text
    await client.post("/deconnexion", data={"_csrf_token": token})
    assert (await login(client, VIEWER)).status_code == 400
    assert (await login(client, VIEWER, "Nouveau-secret-2027")).status_code in (302, 303)


async def test_api_token_is_shown_once_and_can_be_revoked(client, demo):
    await logged_in(client, ADMIN)
    bad = await form_post(client, "/compte", "/compte/jetons", {"token_name": "", "token_days": "9999"})
    assert bad.status_code == 422 and "Donnez un nom au jeton" in bad.text and "Durée de validité invalide" in bad.text

    created = await form_post(client, "/compte", "/compte/jetons", {"token_name": "Tableur", "token_days": "30"})
    assert created.status_code == 200 and created.headers["content-type"].startswith("text/html")
    token = re.search(r'value="(ctr_[\w-]+)"', created.text).group(1)
    assert "Copiez-le maintenant" in created.text
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == ADMIN

    account = await client.get("/compte")
    assert token not in account.text and "Tableur" in account.text  # shown once only
    token_id = re.search(r'action="/compte/jetons/([0-9a-f-]{36})/revoquer"', account.text).group(1)
    revoked = await client.post(f"/compte/jetons/{token_id}/revoquer", data={"_csrf_token": csrf_from(account.text)},
                                follow_redirects=False)
    assert "Jeton « Tableur » révoqué." in (await follow(client, revoked)).text
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    # Someone else's (or an unknown) token id is not found.
    other = await client.post(f"/compte/jetons/{uuid.uuid4()}/revoquer", data={"_csrf_token": csrf_from(account.text)},
                              follow_redirects=False)
    assert other.status_code == 404


async def test_pages_need_a_login(client, demo):
    cpam = demo["tenant_ids"]["cpam"]
    for url in ("/compte", f"/t/{cpam}", "/c/CAIH/beneficiaires"):
        response = await client.get(url, follow_redirects=False)
        assert response.status_code in (302, 303) and response.headers["location"].startswith("/connexion"), url
