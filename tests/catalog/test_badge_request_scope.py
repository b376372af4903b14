"""The « responsable »'s scope (issue 14 §4, CCTP CPAM 5-5-5-3 « le responsable […] pour un site ou un service »):
a responsable scoped to a site or a service sees and decides only the requests of that site or of that service's
agents (another one is a 404, like a tenant wall, and is not listed); a responsable with no scope sees all; the
admin decides all; the new request's e-mail goes to the responsables in scope, else to the admins; a bad site
is refused and nothing is written."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from app.errors import ValidationFailed
from app.mail import OutboxMessage
from app.outbox import Relay
from catalog.badge_requests import SUBSCRIBERS
from tenants import services
from tenants.models import ManagerScope, Membership, User

ACTOR = {"user_id": None, "label": "admin@cpam72.demo"}


async def _setup(db, cpam: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """A second site « Annexe » and a second responsable scoped to it; the demo responsable keeps its perimeter
    (the demo agent's « Service logistique », tenants/demo.py)."""
    async with db.transaction([cpam], actor=ACTOR) as session:
        annexe = await services.create_site(session, cpam, {"name": "Annexe de Coulaines", "insee_code": "72095"})
        scoped = await services.add_member(session, cpam, {"email": "resp-annexe@cpam72.demo", "role": "manager",
                                                           "full_name": "Rita Annexe",
                                                           "password": "Centrale-demo-2026"})
        await services.set_manager_perimeter(session, scoped, [str(annexe.id)], [])
        siege = (await services.list_sites(session, cpam))
        head = next(s.id for s in siege if s.id != annexe.id)
        return annexe.id, head


async def _scope_rows(session) -> list[tuple]:
    return sorted((r.user_id, str(r.site_id), r.service) for r in await session.scalars(select(ManagerScope)))


async def _mails(db, tenant_id: str) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(OutboxMessage.to).where(OutboxMessage.tenant_id == uuid.UUID(tenant_id))
                                  .order_by(OutboxMessage.created_at, OutboxMessage.id))
        return [r[0] for r in rows]


async def test_a_scoped_responsable_sees_and_decides_only_its_sites_requests(client, db, demo, api_token, settings):
    # CCTP CPAM 5-5-5-3: the validation is asked of the agent's responsable for its site.
    cpam = demo["tenant_ids"]["cpam"]
    annexe, head = await _setup(db, uuid.UUID(cpam))
    url = f"/api/v1/tenants/{cpam}/badge-requests"
    agent, scoped = await api_token("agent@cpam72.demo"), await api_token("resp-annexe@cpam72.demo")
    whole = await api_token("responsable@cpam72.demo")
    inside = (await client.post(url, headers=agent, json={"plate": "AB-123-CD", "reason": "Annexe",
                                                          "site_id": str(annexe)})).json()
    outside = (await client.post(url, headers=agent, json={"plate": "123 ABC 72", "reason": "Siège",
                                                           "site_id": str(head)})).json()
    await Relay(db, settings=settings, subscribers=SUBSCRIBERS).run_once()
    # The new request's e-mail: the responsables in scope (the demo one covers the agent's service).
    assert await _mails(db, cpam) == ["resp-annexe@cpam72.demo", "responsable@cpam72.demo",
                                      "responsable@cpam72.demo"]
    assert [r["id"] for r in (await client.get(url, headers=scoped)).json()] == [inside["id"]]
    assert {r["id"] for r in (await client.get(url, headers=whole)).json()} >= {inside["id"], outside["id"]}
    assert (await client.get(f"{url}/{outside['id']}", headers=scoped)).status_code == 404
    assert (await client.post(f"{url}/{outside['id']}/approve", headers=scoped)).status_code == 404
    assert (await client.post(f"{url}/{outside['id']}/refuse", headers=scoped,
                              json={"reason": "Non"})).status_code == 404
    approved = await client.post(f"{url}/{inside['id']}/approve", headers=scoped)
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    # The pages: the same wall.
    from tests.conftest import login_as
    await login_as(client, "resp-annexe@cpam72.demo")
    base = f"/t/{cpam}/demandes-badge"
    assert (await client.get(f"{base}/{outside['id']}")).status_code == 404
    listing = (await client.get(base)).text
    assert "AB-123-CD" in listing and "123 ABC 72" not in listing
    # The admin decides all.
    admin = await api_token("admin@cpam72.demo")
    assert (await client.post(f"{url}/{outside['id']}/approve", headers=admin)).status_code == 200


async def test_a_service_scope_and_the_admins_as_the_fallback(client, db, demo, api_token, settings):
    cpam = demo["tenant_ids"]["cpam"]
    tid = uuid.UUID(cpam)
    async with db.transaction([tid], actor=ACTOR) as session:
        agent_id = await session.scalar(select(User.id).where(User.email == "agent@cpam72.demo"))
        agent = await services.access_member(session, tid, agent_id)
        agent.service = "Service logistique"
        whole = await session.scalar(select(Membership).join(User).where(User.email == "responsable@cpam72.demo"))
        await services.set_manager_perimeter(session, whole, [], ["Service logistique"])
    url = f"/api/v1/tenants/{cpam}/badge-requests"
    asked = (await client.post(url, headers=await api_token("agent@cpam72.demo"),
                               json={"plate": "AB-123-CD", "reason": "Logistique"})).json()
    mine = (await client.post(url, headers=await api_token("admin@cpam72.demo"),
                              json={"plate": "123 ABC 72", "reason": "Pool"})).json()
    await Relay(db, settings=settings, subscribers=SUBSCRIBERS).run_once()
    # The agent's service is in the responsable's scope; the admin's own request is in nobody's: the admins.
    assert await _mails(db, cpam) == ["responsable@cpam72.demo", "admin@cpam72.demo"]
    manager = await api_token("responsable@cpam72.demo")
    assert [r["id"] for r in (await client.get(url, headers=manager)).json()] == [asked["id"]]
    assert (await client.get(f"{url}/{mine['id']}", headers=manager)).status_code == 404


async def test_a_bad_site_or_service_is_refused_and_nothing_written(db, demo):
    tid = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([tid], actor=ACTOR) as session:
        manager = await session.scalar(select(Membership).join(User).where(User.email == "responsable@cpam72.demo"))
        before = await _scope_rows(session)
        with pytest.raises(ValidationFailed) as exc:
            await services.set_manager_perimeter(session, manager, [str(uuid.uuid4()), "pas-un-id"], ["Inconnu"])
        assert set(exc.value.errors) == {"site_id", "service"}
        assert await _scope_rows(session) == before


async def test_the_admin_sets_the_scope_on_the_members_page(client, db, demo):
    # CCTP CPAM 5-5-5-3: the admin grants the responsable « pour un site ou un service ».
    from tests.conftest import form_post, login_as
    cpam = demo["tenant_ids"]["cpam"]
    tid = uuid.UUID(cpam)
    async with db.session([tid]) as session:
        manager = await session.scalar(select(User.id).where(User.email == "responsable@cpam72.demo"))
        [site] = await services.list_sites(session, tid)
    await login_as(client, "admin@cpam72.demo")
    edit = f"/t/{cpam}/utilisateurs/{manager}/modifier"
    page = await client.get(edit)
    assert "Périmètre de validation des badges" in page.text
    action = f"/t/{cpam}/utilisateurs/{manager}/perimetre"
    async with db.session([tid]) as session:
        before = await _scope_rows(session)
    bad = await form_post(client, edit, action, {"site_id": str(uuid.uuid4())})
    assert bad.status_code == 422 and "Site inconnu." in bad.text
    async with db.session([tid]) as session:
        assert await _scope_rows(session) == before
    good = await form_post(client, edit, action, {"site_id": str(site.id)})
    assert good.status_code == 303
    async with db.session([tid]) as session:
        assert (await services.manager_perimeter(session, tid, manager)).site_ids == {site.id}


def _figure(page: str, label: str) -> int:
    """The number a home card shows next to ``label``."""
    found = re.search(r'data-figure="' + re.escape(label) + r'">\s*<span class="value">(\d+)</span>', page)
    assert found, f"no figure « {label} » on the page"
    return int(found.group(1))


async def test_the_home_card_counts_only_the_responsables_perimeter(client, db, demo, api_token):
    # CCTP CPAM 5-5-5-3 « le responsable […] pour un site ou un service »: its card counts what it may decide.
    from tests.conftest import login_as
    cpam = demo["tenant_ids"]["cpam"]
    annexe, head = await _setup(db, uuid.UUID(cpam))
    url = f"/api/v1/tenants/{cpam}/badge-requests"
    agent = await api_token("agent@cpam72.demo")
    for plate, site in (("AB-123-CD", annexe), ("123 ABC 72", head), ("CD-456-EF", head)):
        assert (await client.post(url, headers=agent, json={"plate": plate, "reason": "Trajets",
                                                            "site_id": str(site)})).status_code == 201
    await client.post(url, headers=await api_token("admin@cpam72.demo"), json={"plate": "EF-789-GH", "reason": "Pool"})
    label = "à valider (sous 24 h)"
    await login_as(client, "resp-annexe@cpam72.demo")
    assert _figure((await client.get(f"/t/{cpam}")).text, label) == 1  # the annexe's only
    await login_as(client, "responsable@cpam72.demo")
    assert _figure((await client.get(f"/t/{cpam}")).text, label) == 3  # its service's agent, on any site
    await login_as(client, "admin@cpam72.demo")
    assert _figure((await client.get(f"/t/{cpam}")).text, label) == 4  # the admin decides all


async def test_the_members_page_and_api_show_services_and_perimeters(client, db, demo, api_token):
    # CCTP CPAM 5-5-5-3: who validates for which site or service is visible to the tenant.
    from tests.conftest import login_as, page_text
    cpam = demo["tenant_ids"]["cpam"]
    annexe, _head = await _setup(db, uuid.UUID(cpam))
    await login_as(client, "admin@cpam72.demo")
    page = page_text(await client.get(f"/t/{cpam}/utilisateurs"))
    assert "Périmètre de validation des badges" in page
    assert "Services : Service logistique" in page  # the demo responsable's
    assert "Sites : Annexe de Coulaines" in page  # the scoped one's
    rows = {m["email"]: m for m in (await client.get(f"/api/v1/tenants/{cpam}/users",
                                                     headers=await api_token("visu@cpam72.demo"))).json()}
    assert rows["agent@cpam72.demo"]["service"] == "Service logistique"
    assert rows["agent@cpam72.demo"]["perimeter"] is None
    assert rows["responsable@cpam72.demo"]["perimeter"] == {"whole_tenant": False, "site_ids": [],
                                                            "services": ["Service logistique"]}
    assert rows["resp-annexe@cpam72.demo"]["perimeter"] == {"whole_tenant": False, "site_ids": [str(annexe)],
                                                            "services": []}


async def test_the_api_sets_the_service_and_the_perimeter_with_the_pages_rules(client, db, demo, api_token):
    # CCTP CPAM 5-5-5-3: the admin grants the responsable « pour un site ou un service », through the API too.
    cpam = demo["tenant_ids"]["cpam"]
    tid = uuid.UUID(cpam)
    annexe, head = await _setup(db, tid)
    async with db.session([tid]) as session:
        ids = {u.email: u.id for u in await session.scalars(select(User).where(User.email.in_(
            ["visu@cpam72.demo", "resp-annexe@cpam72.demo", "agent@cpam72.demo"])))}
        before = await _scope_rows(session)
    admin = await api_token("admin@cpam72.demo")
    base = f"/api/v1/tenants/{cpam}/users"
    # A service the members carry now: « Accueil » once the viewer carries it.
    given = await client.patch(f"{base}/{ids['visu@cpam72.demo']}", headers=admin, json={"service": "  Accueil "})
    assert given.status_code == 200 and given.json()["service"] == "Accueil"
    # Bad site, unknown service, a profile that is not a responsable: 422 per field, nothing written.
    bad = await client.patch(f"{base}/{ids['resp-annexe@cpam72.demo']}", headers=admin,
                             json={"service": "Direction", "perimeter": {"site_ids": [str(uuid.uuid4())],
                                                                         "services": ["Inconnu"]}})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"site_id", "service"}
    assert "Site inconnu." in bad.json()["errors"]["site_id"]
    not_manager = await client.patch(f"{base}/{ids['agent@cpam72.demo']}", headers=admin,
                                     json={"perimeter": {"services": ["Accueil"]}})
    assert not_manager.status_code == 422 and set(not_manager.json()["errors"]) == {"role"}
    async with db.session([tid]) as session:
        assert await _scope_rows(session) == before
        # The refused request's service change was rolled back with it.
        assert await services.member_service(session, tid, ids["resp-annexe@cpam72.demo"]) == ""
    # Only a viewer's token: 403.
    viewer = await api_token("visu@cpam72.demo")
    assert (await client.patch(f"{base}/{ids['resp-annexe@cpam72.demo']}", headers=viewer,
                               json={"perimeter": {"services": ["Accueil"]}})).status_code == 403
    good = await client.patch(f"{base}/{ids['resp-annexe@cpam72.demo']}", headers=admin,
                              json={"perimeter": {"site_ids": [str(head), str(annexe)], "services": ["Accueil"]}})
    assert good.status_code == 200, good.text
    assert good.json()["perimeter"] == {"whole_tenant": False, "site_ids": sorted([str(head), str(annexe)]),
                                        "services": ["Accueil"]}
    cleared = await client.patch(f"{base}/{ids['resp-annexe@cpam72.demo']}", headers=admin,
                                 json={"perimeter": {}})
    assert cleared.json()["perimeter"] == {"whole_tenant": True, "site_ids": [], "services": []}
    # Audited: the rows added then removed are in the tenant's journal.
    journal = (await client.get(f"/api/v1/tenants/{cpam}/audit-events?entity=manager_scopes", headers=admin))
    assert journal.status_code == 200, journal.text
    assert len(journal.json()["items"]) >= 6
