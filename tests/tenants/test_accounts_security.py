"""Sessions and accounts under attack (issue 10; OWASP ASVS 4.0 V3 sessions, V2.5 recovery, V4.2.2 CSRF).

Each test drives the product as a browser or an API client would and fails without its fix:
a planted session id, a session surviving a password change or a reset, a reset link
surviving a newer one, an admin enrolling (and renaming) someone else's account, a CSRF
token carried from one client to another, and an invented ``X-Forwarded-For``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from app.db import Database, unscoped
from app.mail import OutboxMessage
from tenants import services
from tenants.demo import DEMO_PASSWORD
from tenants.models import Membership, MembershipInvitation, User
from tests.conftest import csrf_from, form_post, login

pytestmark = pytest.mark.usefixtures("demo")

ADMIN_CPAM = "admin@cpam72.demo"
ADMIN_CHR = "admin@chr-metz.demo"
VIEWER = "visu@cpam72.demo"
NEW_PASSWORD = "Un-nouveau-secret-2026"  # noqa: S105 - a test password


def _session_cookie(response: Any) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("centrale_session="):
            return header.split(";", 1)[0].split("=", 1)[1]
    return None


class Browsers:
    """Several browsers on one test client (one app, one event loop): each is its session cookie."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def use(self, session_id: str | None) -> Any:
        self.client.cookies.clear()
        if session_id:
            self.client.cookies.set("centrale_session", session_id, domain="testserver.local")
        return self.client

    async def login(self, email: str, password: str | None = None) -> str:
        self.use(None)
        response = await login(self.client, email, password)
        assert response.status_code in (302, 303), response.text[:300]
        return self.client.cookies.get("centrale_session")


async def _outbox(db: Database, email: str, count: int = 1) -> list[OutboxMessage]:
    """The e-mail job runs in the background: wait for its rows (10 s at most)."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        async with db.session() as session:
            rows = list(await session.scalars(
                select(OutboxMessage).where(OutboxMessage.to == email).order_by(OutboxMessage.created_at)
            ))
        if len(rows) >= count:
            return rows
        assert asyncio.get_running_loop().time() < deadline, f"no e-mail to {email} in the outbox"
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- session fixation


async def test_a_planted_session_id_is_refused_and_a_fresh_one_issued_at_login(client, app):
    planted = "a" * 64
    client.cookies.set("centrale_session", planted, domain="testserver.local")
    page = await client.get("/connexion")
    assert page.status_code == 200
    # The server never issued that id: it answers with an id of its own for the login form.
    form_id = _session_cookie(page)
    assert form_id and form_id != planted
    logged = await client.post("/connexion", data={"email": ADMIN_CPAM, "password": DEMO_PASSWORD,
                                                   "_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert logged.status_code in (302, 303)
    session_id = _session_cookie(logged)
    assert session_id and session_id not in (planted, form_id)  # a new id at the change of privilege
    store = app.stores.get("sessions")
    assert await store.get(planted) is None and await store.get(form_id) is None
    assert await store.get(session_id) is not None

    # The attacker who planted the id holds nothing, nor does the id of the login form.
    browsers = Browsers(client)
    for stale in (planted, form_id):
        assert (await browsers.use(stale).get("/compte", follow_redirects=False)).status_code in (302, 303)
    assert (await browsers.use(session_id).get("/compte")).status_code == 200


async def test_anonymous_requests_store_no_session(settings, tmp_path: Path):
    """Embedded mode keeps sessions as files: an anonymous visit that shows no form leaves none."""
    from app.web import create_app

    var = tmp_path / "var"
    app = create_app(dataclasses.replace(settings, var_dir=var), db=Database(settings.database_url, pool_size=1))
    sessions = var / "store" / "sessions"

    def files() -> list[Path]:
        return [p for p in sessions.rglob("*") if p.is_file()] if sessions.exists() else []

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        for url in ("/", "/t/00000000-0000-0000-0000-000000000000", "/page-inconnue", "/healthz", "/static/css/centrale.css"):
            response = await client.get(url, follow_redirects=False)
            assert _session_cookie(response) is None, url
        assert files() == []
        # The login form needs one (its CSRF token); it is the only one stored.
        await client.get("/connexion")
        assert len(files()) == 1
        assert (await login(client, ADMIN_CPAM)).status_code in (302, 303)
        assert len(files()) == 1  # the form's session was replaced, not kept beside the new one
        await client.post("/deconnexion", data={"_csrf_token": csrf_from((await client.get("/compte")).text)},
                          follow_redirects=False)
        assert files() == []  # logging out deletes the session


# --------------------------------------------------------------------------- password change and reset


async def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(client):
    browsers = Browsers(client)
    other = await browsers.login(VIEWER)
    assert (await browsers.use(other).get("/compte")).status_code == 200
    mine = await browsers.login(VIEWER)
    changed = await form_post(client, "/compte", "/compte/mot-de-passe", {
        "current_password": DEMO_PASSWORD, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
    assert changed.status_code == 303
    renewed = client.cookies.get("centrale_session")
    assert renewed != mine  # this browser goes on under a new id and the new epoch
    page = await client.get("/compte")
    assert page.status_code == 200 and "vos autres sessions ont été fermées" in page.text
    # The other browser is logged out.
    assert (await browsers.use(other).get("/compte", follow_redirects=False)).headers["location"].startswith("/connexion")
    assert (await browsers.use(renewed).get("/compte")).status_code == 200


async def test_a_reset_ends_every_session_and_revokes_the_other_links(client, db):
    browsers = Browsers(client)
    other = await browsers.login(VIEWER)
    browsers.use(None)
    links = []
    for n in (1, 2):
        page = await client.get("/mot-de-passe-oublie")
        await client.post("/mot-de-passe-oublie", data={"email": VIEWER, "_csrf_token": csrf_from(page.text)})
        body = (await _outbox(db, VIEWER, n))[-1].body
        links.append(re.search(r"https?://[^/\s]+(/reinitialiser/\S+)", body).group(1))
    first, second = links

    def form(page: Any) -> dict[str, str]:
        return {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "_csrf_token": csrf_from(page.text)}

    # Asking again revoked the first link.
    refused = await client.post(first, data=form(await client.get(first)))
    assert refused.status_code == 400 and "invalide ou expiré" in refused.text
    done = await client.post(second, data=form(await client.get(second)))
    assert done.status_code == 200 and "Votre mot de passe a été modifié." in done.text
    # Used once: the link is dead.
    assert (await client.post(second, data=form(await client.get(second)))).status_code == 400
    # The session opened with the old password has ended; the new password logs in.
    assert (await browsers.use(other).get("/compte", follow_redirects=False)).headers["location"].startswith("/connexion")
    await browsers.login(VIEWER, NEW_PASSWORD)


async def test_a_fresh_reset_link_revokes_a_pending_one_through_the_service(db):
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        user = await services.find_user_by_email(session, VIEWER)
        old = await services.create_password_reset(session, user)
        new = await services.create_password_reset(session, user)
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        with pytest.raises(services.ValidationFailed):
            await services.consume_password_reset(session, old, NEW_PASSWORD)
        await services.consume_password_reset(session, new, NEW_PASSWORD)


# --------------------------------------------------------------------------- enrolling accounts


async def test_an_existing_account_is_invited_and_joins_only_when_its_owner_accepts(client, db, admin_db, demo):
    chr_ = uuid.UUID(demo["tenant_ids"]["chr"])
    base = f"/t/{chr_}/utilisateurs"
    assert (await login(client, ADMIN_CHR)).status_code in (302, 303)

    # The same answer for an address with an account elsewhere and for a new one.
    async def add(email: str) -> tuple[int, str, str]:
        response = await form_post(client, f"{base}/nouveau", f"{base}/nouveau",
                                   {"email": email, "full_name": "Nom choisi par l'admin", "role": "viewer", "password": ""})
        page = await client.get(response.headers["location"])
        flash = re.search(r'<p class="flash"[^>]*>([^<]+)</p>', page.text).group(1)
        return response.status_code, response.headers["location"], flash.replace(email, "X")

    assert await add(ADMIN_CPAM) == await add("nouveau@chr-metz.example")

    # Not a member yet: the CHR's admins see a pending invitation, not the person's name.
    listing = await client.get(base)
    assert "Invitations en attente" in listing.text or "invitation en attente" in listing.text
    assert "Anne Administratrice" not in listing.text
    async with admin_db.session() as session, session.begin():  # the table owner: past row-level security
        with unscoped(session):
            anne = await services.find_user_by_email(session, ADMIN_CPAM)
            assert anne.full_name == "Anne Administratrice (CPAM)"  # the admin's name choice was not applied
            assert await session.scalar(select(Membership).where(Membership.tenant_id == chr_,
                                                                 Membership.user_id == anne.id)) is None
    # Its owner receives the invitation.
    mail = (await _outbox(db, ADMIN_CPAM))[-1]
    assert "invitation à rejoindre" in mail.subject and "Visualisation" in mail.body
    link = re.search(r"https?://[^/\s]+(/invitations/\S+)", mail.body).group(1)

    # Someone else holding the link cannot use it.
    assert (await client.get(link)).status_code == 404
    client.cookies.clear()
    assert (await client.get(link, follow_redirects=False)).headers["location"].startswith("/connexion")
    assert (await login(client, ADMIN_CPAM)).status_code in (302, 303)
    page = await client.get(link)
    assert page.status_code == 200 and "Visualisation" in page.text and ADMIN_CHR in page.text
    accepted = await client.post(link, data={"reponse": "accepter", "_csrf_token": csrf_from(page.text)},
                                 follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"] == f"/t/{chr_}"
    assert (await client.get(f"/t/{chr_}")).status_code == 200
    assert (await client.get(link)).status_code == 404  # answered: the link is spent

    async with admin_db.session() as session, session.begin():
        with unscoped(session):
            events = list(await session.scalars(select(services.AuditEvent).where(
                services.AuditEvent.tenant_id == chr_, services.AuditEvent.entity.in_(("membership_invitations", "memberships")))))
    assert {e.entity for e in events} == {"membership_invitations", "memberships"}  # all of it audited


async def test_the_api_answers_the_same_for_a_known_and_an_unknown_address(client, admin_db, demo, api_token):
    chr_ = demo["tenant_ids"]["chr"]
    auth = await api_token(ADMIN_CHR)
    base = f"/api/v1/tenants/{chr_}/users"
    known = await client.post(base, headers=auth, json={"email": ADMIN_CPAM, "role": "viewer", "full_name": "Renommée"})
    unknown = await client.post(base, headers=auth, json={"email": "inconnu@chr-metz.example", "role": "viewer"})
    assert known.status_code == unknown.status_code == 202
    assert known.text.replace(ADMIN_CPAM, "X") == unknown.text.replace("inconnu@chr-metz.example", "X")
    assert "Anne" not in known.text
    members = {u["email"] for u in (await client.get(base, headers=auth)).json()}
    assert ADMIN_CPAM not in members  # invited, not attached
    async with admin_db.session() as session, session.begin():
        with unscoped(session):
            pending = await session.scalar(select(MembershipInvitation).join(User).where(User.email == ADMIN_CPAM))
            assert pending is not None and pending.answered_at is None and pending.role == "viewer"
            assert (await services.find_user_by_email(session, ADMIN_CPAM)).full_name == "Anne Administratrice (CPAM)"


async def test_an_admin_never_renames_an_account_that_is_a_member_elsewhere(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    auth = await api_token(ADMIN_CPAM)
    base = f"/api/v1/tenants/{cpam}/users"
    # The titulaire's technician serves every tenant: its profile is its own.
    tech = next(u for u in (await client.get(base, headers=auth)).json() if u["email"] == "technicien@titulaire.demo")
    refused = await client.patch(f"{base}/{tech['user_id']}", headers=auth, json={"full_name": "Renommé par la CPAM"})
    assert refused.status_code == 422 and "seul son titulaire" in refused.json()["errors"]["full_name"]
    # An account this tenant created, and a member nowhere else, stays editable by its admins.
    await client.post(base, headers=auth, json={"email": "propre@cpam72.example", "role": "viewer", "full_name": "A"})
    own = next(u for u in (await client.get(base, headers=auth)).json() if u["email"] == "propre@cpam72.example")
    renamed = await client.patch(f"{base}/{own['user_id']}", headers=auth, json={"full_name": "Agnès Propre"})
    assert renamed.status_code == 200 and renamed.json()["full_name"] == "Agnès Propre"


# --------------------------------------------------------------------------- CSRF bound to the session


async def test_a_csrf_token_from_another_client_does_not_pass(client, demo):
    cpam = demo["tenant_ids"]["cpam"]
    browsers = Browsers(client)
    attacker = await browsers.login(VIEWER)
    stolen = csrf_from((await browsers.use(attacker).get("/compte")).text)
    await browsers.login(ADMIN_CPAM)
    own = csrf_from((await client.get("/compte")).text)
    assert own != stolen
    form = {"name": "Site forgé", "insee_code": "72181"}
    for headers, data in (({}, {**form, "_csrf_token": stolen}), ({"x-csrftoken": stolen}, form)):
        refused = await client.post(f"/t/{cpam}/sites/nouveau", data=data, headers=headers, follow_redirects=False)
        assert refused.status_code == 403 and "rechargez la page" in refused.text
    ok = await client.post(f"/t/{cpam}/sites/nouveau", data={**form, "_csrf_token": own}, follow_redirects=False)
    assert ok.status_code == 303


# --------------------------------------------------------------------------- X-Forwarded-For


async def test_an_invented_x_forwarded_for_does_not_dodge_the_address_throttle(client, settings):
    async def attempt(n: int) -> int:
        page = await client.get("/connexion")
        # A different account and a different claimed address each time: only a per-address
        # counter that ignores the header stops this.
        response = await client.post(
            "/connexion", data={"email": f"x{n}@exemple.fr", "password": "faux", "_csrf_token": csrf_from(page.text)},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )
        return response.status_code

    statuses = [await attempt(n) for n in range(settings.login_max_failures_per_address + 1)]
    assert statuses == [400] * settings.login_max_failures_per_address + [429]


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    ("198.51.100.7", "203.0.113.9", "198.51.100.7"),  # not a trusted proxy: the header is ignored
    ("10.0.0.5", "203.0.113.9", "203.0.113.9"),  # the proxy's word for its client
    ("10.0.0.5", "203.0.113.9, 10.1.2.3", "203.0.113.9"),  # two trusted hops: the first untrusted from the right
    ("10.0.0.5", "192.0.2.66, 203.0.113.9", "203.0.113.9"),  # what the client itself claimed is skipped
    ("10.0.0.5", "", "10.0.0.5"),
])
def test_client_address_reads_x_forwarded_for_from_trusted_proxies_only(settings, peer, forwarded, expected):
    from litestar import Request
    from litestar.datastructures import State

    from app.auth import client_address

    configured = dataclasses.replace(settings, trusted_proxies=("10.0.0.0/16", "10.1.0.0/16"))
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []

    class _App:
        state = State({"settings": configured})

    scope = {"type": "http", "method": "POST", "path": "/connexion", "headers": headers, "client": (peer, 1234),
             "app": _App(), "litestar_app": _App(), "query_string": b"", "root_path": "", "path_params": {}}
    assert client_address(Request(scope)) == expected  # type: ignore[arg-type]


def test_an_invalid_trusted_proxy_setting_is_refused_at_startup():
    from app.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="invalid CENTRALE_"):
        Settings.from_env({"CENTRALE_TRUSTED_PROXIES": "10.0.0.0/33", "CENTRALE_SECRET_KEY": "x" * 40})


async def test_invitations_are_listed_answered_from_my_account_and_cancelled_by_the_api(client, db, demo, api_token):
    chr_ = demo["tenant_ids"]["chr"]
    auth = await api_token(ADMIN_CHR)
    base = f"/api/v1/tenants/{chr_}"
    for email in (VIEWER, "agent@cpam72.demo"):
        assert (await client.post(f"{base}/users", headers=auth, json={"email": email, "role": "viewer"})).status_code == 202
    pending = {i["email"]: i for i in (await client.get(f"{base}/invitations", headers=auth)).json()}
    assert set(pending) == {VIEWER, "agent@cpam72.demo"} and pending[VIEWER]["invited_by"] == ADMIN_CHR
    assert (await client.delete(f"{base}/invitations/{pending['agent@cpam72.demo']['id']}", headers=auth)).status_code == 204
    assert [i["email"] for i in (await client.get(f"{base}/invitations", headers=auth)).json()] == [VIEWER]

    # The invitee finds it in « Mon compte » and declines; the cancelled one is not there.
    browsers = Browsers(client)
    await browsers.login("agent@cpam72.demo")
    assert "Invitations reçues" not in (await client.get("/compte")).text
    await browsers.login(VIEWER)
    account = await client.get("/compte")
    assert "Invitations reçues" in account.text and "régional de Metz" in account.text
    action = re.search(r'action="(/compte/invitations/[0-9a-f-]{36})"', account.text).group(1)
    # Another account cannot answer it (404), the invitee can.
    await browsers.login("agent@cpam72.demo")
    stranger = await client.post(action, data={"reponse": "accepter", "_csrf_token": csrf_from((await client.get("/compte")).text)})
    assert stranger.status_code == 404
    await browsers.login(VIEWER)
    declined = await client.post(action, data={"reponse": "refuser", "_csrf_token": csrf_from((await client.get("/compte")).text)},
                                 follow_redirects=False)
    assert declined.status_code == 303 and declined.headers["location"] == "/compte"
    page = await client.get("/compte")
    assert "Vous avez refusé l&#39;invitation de Centre hospitalier" in page.text and "Invitations reçues" not in page.text
    assert (await client.get(f"/t/{chr_}")).status_code == 404
    assert (await client.get(f"{base}/invitations", headers=auth)).json() == []
