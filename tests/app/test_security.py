"""Security behaviours: CSRF, cookie-free API, cookie flags, login throttling, tokens,
password storage and reset, and the CLI's refusal of bad input."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from litestar.routes import HTTPRoute
from litestar.stores.memory import MemoryStore
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from app.db import utcnow
from app.mail import OutboxMessage
from tenants import services
from tenants.demo import DEMO_PASSWORD
from tenants.models import ApiToken, User
from tests.conftest import csrf_from, form_post, login
from tests.test_tenant_walls import snapshot

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
#: Unsafe portal routes that may skip CSRF, with the reason (none so far).
CSRF_EXEMPT: dict[str, str] = {}


async def _dump(admin_db) -> str:
    return json.dumps(await snapshot(admin_db), ensure_ascii=False)


# --------------------------------------------------------------------------- CSRF


async def test_every_unsafe_portal_route_refuses_a_post_without_csrf_token(app, client, db, admin_db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor={"user_id": None, "label": "test"}) as session:
        site = (await services.list_sites(session, cpam))[0]
        viewer = await services.find_user_by_email(session, "visu@cpam72.demo")
        admin = await services.find_user_by_email(session, "admin@cpam72.demo")
        token, _ = await services.create_api_token(session, admin, name="à garder")
    # The caller's own objects: without the CSRF check these requests would succeed.
    own = {
        "tenant_id": cpam, "site_id": site.id, "user_id": viewer.id, "token_id": token.id,
        "central_code": "CPAM72", "token": "jeton-de-reinitialisation", "slug": "proconnect",
        # The CSRF check runs before any lookup: ids of the right shape are enough.
        "charge_box_id": "CPAM-LM-01", "badge_id": uuid.uuid4(), "reservation_id": uuid.uuid4(),
        "transaction_id": uuid.uuid4(), "invitation_id": uuid.uuid4(), "event_id": uuid.uuid4(),
        "ticket_id": uuid.uuid4(), "attachment_id": uuid.uuid4(), "line_id": uuid.uuid4(), "file_id": uuid.uuid4(),
        "agreement_id": uuid.uuid4(), "solution_id": uuid.uuid4(), "order_id": uuid.uuid4(), "action": "issue",
        "badge_request_id": uuid.uuid4(),
        "quote_id": uuid.uuid4(), "amendment_id": uuid.uuid4(),
        "delivery_id": uuid.uuid4(), "contract_id": uuid.uuid4(),
        "invoice_id": uuid.uuid4(),
        "penalty_id": uuid.uuid4(),
        "subsidy_id": uuid.uuid4(), "account_id": uuid.uuid4(), "statement_id": uuid.uuid4(),
        "tariff_id": uuid.uuid4(), "export_id": uuid.uuid4(), "acompte_id": uuid.uuid4(),
        "destruction_id": uuid.uuid4(), "campaign_id": uuid.uuid4(),
        "unknown": "nulle-part",
    }
    assert (await login(client, "admin@cpam72.demo")).status_code in (302, 303)
    before = await snapshot(admin_db)
    forged = secrets.token_urlsafe(32)  # the shape of a real token, in no session

    refused, called = [], 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format.startswith("/api/"):
            continue
        for method in sorted(UNSAFE & route.methods):
            if route.path_format in CSRF_EXEMPT:
                continue
            missing = [p for p in route.path_parameters if p not in own]
            assert not missing, (
                f"{method} {route.path_format}: add a value for {missing} to `own` in tests/app/test_security.py"
            )
            url = route.path_format.format(**{p: own[p] for p in route.path_parameters})
            form = {"name": "Sans jeton", "email": "admin@cpam72.demo", "password": DEMO_PASSWORD, "role": "viewer"}
            for headers in ({}, {"x-csrftoken": forged}):
                response = await client.request(method, url, data=form, headers=headers, follow_redirects=False)
                called += 1
                if response.status_code != 403:
                    refused.append(f"{method} {url} {headers or ''} -> {response.status_code}")
    assert called >= 6, "the walk found too few unsafe portal routes"
    assert refused == [], "unsafe portal routes accepted without a valid CSRF token:\n" + "\n".join(refused)
    assert await snapshot(admin_db) == before
    # /deconnexion without a token did not end the session either.
    assert (await client.get(f"/t/{cpam}")).status_code == 200


async def test_api_ignores_the_session_cookie(client, demo):
    assert (await login(client, "admin@cpam72.demo")).status_code in (302, 303)
    assert (await client.get("/compte")).status_code == 200  # the cookie is a valid portal session
    me = await client.get("/api/v1/me")
    assert me.status_code == 401 and me.headers["content-type"].startswith("application/problem+json")
    write = await client.post("/api/v1/tokens", json={"name": "par cookie"})
    assert write.status_code == 401


# --------------------------------------------------------------------------- cookies


def _set_cookie(response: Any, name: str) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(name + "=")]
    assert headers, f"no {name} cookie set: {response.headers.get_list('set-cookie')}"
    return headers[-1].lower()


@pytest.mark.parametrize("secure", [False, True], ids=["embedded", "scaled"])
async def test_session_cookie_flags(settings, demo, secure):
    from app.web import create_app

    app = create_app(dataclasses.replace(settings, secure_cookies=secure),
                     stores={"sessions": MemoryStore(), "throttle": MemoryStore()})
    base = "https://testserver.local" if secure else "http://testserver.local"
    async with AsyncTestClient(app=app, base_url=base) as client:
        page = await client.get("/connexion")
        form_cookie = _set_cookie(page, "centrale_session")  # the login form's session holds its CSRF token
        response = await client.post(
            "/connexion", data={"email": "admin@cpam72.demo", "password": DEMO_PASSWORD, "_csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )
    assert response.status_code in (302, 303)
    session_cookie = _set_cookie(response, "centrale_session")
    assert "httponly" in session_cookie and "samesite=lax" in session_cookie
    assert "httponly" in form_cookie and "samesite=lax" in form_cookie
    assert ("secure" in session_cookie.split("; ")) is secure
    assert ("secure" in form_cookie.split("; ")) is secure


# --------------------------------------------------------------------------- login throttling


async def _login_from(app: Any, address: str, email: str, password: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        return await login(client, email, password)


async def test_login_is_throttled_per_account_even_with_the_right_password(app, demo):
    # The app is served on the test's own event loop, so that each request may come from its own address.
    async with app.lifespan():
        await _throttled_per_account(app)


async def _throttled_per_account(running_app: Any) -> None:
    for _ in range(3):
        failed = await _login_from(running_app, "192.0.2.1", "admin@cpam72.demo", "mauvais-mot-de-passe")
        assert failed.status_code == 400 and "dernière tentative" not in failed.text
    # The attempt before the lock says so.
    warned = await _login_from(running_app, "192.0.2.1", "admin@cpam72.demo", "mauvais-mot-de-passe")
    assert warned.status_code == 400
    assert "Attention : dernière tentative avant blocage des connexions pendant 15 minutes." in warned.text
    locking = await _login_from(running_app, "192.0.2.1", "admin@cpam72.demo", "mauvais-mot-de-passe")
    assert locking.status_code == 400 and "Trop de tentatives : Réessayez dans 15 minutes" in locking.text
    # From another address, with the right password: the account is locked for the window, and the
    # page says until when, in the account's local time (CPAM de la Sarthe: Paris time).
    blocked = await _login_from(running_app, "192.0.2.2", "ADMIN@cpam72.demo", DEMO_PASSWORD)
    assert blocked.status_code == 429
    retry = re.search(r"Trop de tentatives de connexion\. Réessayez dans 15 minutes, à partir de (\d\d) h (\d\d) "
                      r"\(heure de Paris\)\.", blocked.text)
    assert retry, blocked.text
    expected = (utcnow() + dt.timedelta(seconds=int(blocked.headers["retry-after"]))).astimezone(ZoneInfo("Europe/Paris"))
    shown = expected.replace(hour=int(retry.group(1)), minute=int(retry.group(2)))
    assert abs((shown - expected).total_seconds()) <= 120
    assert int(blocked.headers["retry-after"]) > 0
    # Other accounts are not affected from a fresh address.
    assert (await _login_from(running_app, "192.0.2.3", "visu@cpam72.demo", DEMO_PASSWORD)).status_code in (302, 303)


async def test_a_locked_page_says_nothing_of_the_account_behind_the_address(app, demo, settings):
    """The login page belongs to no tenant: a locked account of La Réunion and an address that is
    no account's get the same words, in Paris time (the zone would tell a stranger that the account
    exists, and where)."""
    async with app.lifespan():
        for _ in range(settings.login_max_failures):
            await _login_from(app, "192.0.2.9", "admin@tj-reunion.demo", "mauvais-mot-de-passe")
        blocked = await _login_from(app, "192.0.2.10", "admin@tj-reunion.demo", DEMO_PASSWORD)
        for _ in range(settings.login_max_failures):
            await _login_from(app, "192.0.2.11", "personne@exemple.fr", "mauvais-mot-de-passe")
        unknown = await _login_from(app, "192.0.2.12", "personne@exemple.fr", "mauvais-mot-de-passe")
    message = re.compile(r"Trop de tentatives de connexion\. Réessayez dans \d+ minutes?, à partir de \d\d h \d\d "
                         r"\(heure de Paris\)\.")
    for answer in (blocked, unknown):
        assert answer.status_code == 429 and message.search(answer.text), answer.text
    assert "Réunion" not in blocked.text


async def test_login_is_throttled_per_address_across_accounts(app, demo, settings):
    async with app.lifespan():
        await _throttled_per_address(app, settings.login_max_failures, settings.login_max_failures_per_address)


async def _throttled_per_address(running_app: Any, per_account: int, per_address: int) -> None:
    # One person locks its own account from the hospital's one public address…
    for _ in range(per_account):
        assert (await _login_from(running_app, "198.51.100.7", "visu@cpam72.demo", "n-importe-quoi-1")).status_code == 400
    assert (await _login_from(running_app, "198.51.100.7", "visu@cpam72.demo", DEMO_PASSWORD)).status_code == 429
    # … and its colleagues behind the same address still log in, below the address's much higher threshold.
    assert per_address > per_account
    assert (await _login_from(running_app, "198.51.100.7", "admin@cpam72.demo", DEMO_PASSWORD)).status_code in (302, 303)
    # Many accounts guessed from one address: the address is locked at its own threshold.
    for i in range(per_address - per_account):
        assert (await _login_from(running_app, "198.51.100.7", f"inconnu{i}@exemple.fr", "n-importe-quoi-1")).status_code == 400
    blocked = await _login_from(running_app, "198.51.100.7", "admin@cpam72.demo", DEMO_PASSWORD)
    assert blocked.status_code == 429 and "Trop de tentatives de connexion" in blocked.text
    assert (await _login_from(running_app, "198.51.100.8", "admin@cpam72.demo", DEMO_PASSWORD)).status_code in (302, 303)


# --------------------------------------------------------------------------- tokens and passwords


async def test_revoked_or_expired_token_is_refused(client, db, demo):
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        user = await services.find_user_by_email(session, "admin@cpam72.demo")
        revoked, revoked_secret = await services.create_api_token(session, user, name="révoqué")
        expired, expired_secret = await services.create_api_token(session, user, name="expiré", days=1)
        _valid, valid_secret = await services.create_api_token(session, user, name="valide", days=1)
    for secret in (revoked_secret, expired_secret, valid_secret):
        assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})).status_code == 200
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        await services.revoke_api_token(session, user.id, revoked.id)
        await session.execute(update(ApiToken).where(ApiToken.id == expired.id).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    for secret in (revoked_secret, expired_secret, valid_secret[:-1] + "x", "ctr_" + "0" * 40):
        response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 401, secret
        assert response.json()["title"] == "Authentification requise."
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {valid_secret}"})).status_code == 200


async def test_tokens_and_passwords_are_never_stored_in_clear(client, admin_db, demo, api_token):
    auth = await api_token("admin@cpam72.demo")
    created = await client.post("/api/v1/tokens", headers=auth, json={"name": "intégration"})
    token = created.json()["token"]
    cpam = demo["tenant_ids"]["cpam"]
    password = "Un-mot-de-passe-tout-neuf-7"
    member = await client.post(f"/api/v1/tenants/{cpam}/users", headers=auth,
                               json={"email": "neuf@exemple.fr", "role": "viewer", "password": password})
    assert member.status_code == 202

    dump = await _dump(admin_db)
    assert token not in dump and token.split("_", 2)[2] not in dump
    assert hashlib.sha256(token.encode()).hexdigest() in dump
    assert password not in dump and DEMO_PASSWORD not in dump
    async with admin_db.engine.connect() as conn:
        hashes = (await conn.execute(select(ApiToken.__table__.c.token_hash))).scalars().all()
        rows = (await conn.execute(select(User.__table__.c.email, User.__table__.c.password_hash))).all()
    assert len(hashes) == 2 and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)
    stored = {email: h for email, h in rows}
    assert stored["neuf@exemple.fr"].startswith("$argon2id$")
    assert all(h.startswith("$argon2id$") for h in stored.values() if h)


async def _outbox_message(db, email: str) -> OutboxMessage:
    """The job runs in the background: wait for its row (10 s at most)."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        async with db.session() as session:
            message = await session.scalar(select(OutboxMessage).where(OutboxMessage.to == email))
        if message is not None:
            return message
        assert asyncio.get_running_loop().time() < deadline, "no e-mail in the outbox"
        await asyncio.sleep(0.05)


async def test_password_reset_requests_are_throttled(app, client, db, settings, demo):
    email = "agent@cpam72.demo"
    for _ in range(settings.login_max_failures):
        asked = await form_post(client, "/mot-de-passe-oublie", "/mot-de-passe-oublie", {"email": email})
        assert asked.status_code == 200
    blocked = await form_post(client, "/mot-de-passe-oublie", "/mot-de-passe-oublie", {"email": email})
    assert blocked.status_code == 429 and "Trop de demandes" in blocked.text
    # A request queues its e-mail job before it answers; the app runs its jobs one after the
    # other on its own loop (the test client's portal): once the queue is drained, a sixth
    # message would be in the outbox.
    await asyncio.to_thread(client.blocking_portal.call, app.state.jobs.drain)
    count = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.to == email)
    async with db.session() as session:
        assert await session.scalar(count) == settings.login_max_failures


async def test_password_reset_through_the_outbox(client, db, admin_db, settings, demo):
    email = "admin@cpam72.demo"
    asked = await form_post(client, "/mot-de-passe-oublie", "/mot-de-passe-oublie", {"email": email.upper()})
    assert asked.status_code == 200
    # Same answer for an unknown address, and no e-mail for it.
    unknown = await form_post(client, "/mot-de-passe-oublie", "/mot-de-passe-oublie", {"email": "personne@exemple.fr"})
    assert unknown.status_code == 200 and unknown.text.replace("personne@exemple.fr", email.upper()) == asked.text

    message = await _outbox_message(db, email)
    match = re.search(r"(\S+)/reinitialiser/(\S+)", message.body)
    assert match and match.group(1) == settings.base_url, message.body
    token = match.group(2)
    stored = await snapshot(admin_db)
    assert token not in json.dumps({k: v for k, v in stored.items() if k != "mail_outbox"})  # only its SHA-256

    new = "Nouveau-mot-de-passe-2026"
    mismatch = await form_post(client, f"/reinitialiser/{token}", f"/reinitialiser/{token}",
                               {"password": new, "password_confirm": new + "!"})
    assert mismatch.status_code == 400
    done = await form_post(client, f"/reinitialiser/{token}", f"/reinitialiser/{token}", {"password": new, "password_confirm": new})
    assert done.status_code == 200, done.text[:500]

    assert (await login(client, email, new)).status_code in (302, 303)
    client.cookies.clear()
    assert (await login(client, email, DEMO_PASSWORD)).status_code == 400
    again = await form_post(client, f"/reinitialiser/{token}", f"/reinitialiser/{token}",
                            {"password": "Encore-un-autre-2026", "password_confirm": "Encore-un-autre-2026"})
    assert again.status_code == 400 and "invalide ou expiré" in again.text
    client.cookies.clear()
    assert (await login(client, email, "Encore-un-autre-2026")).status_code == 400
    assert (await login(client, email, new)).status_code in (302, 303)


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        (("tenants", "create", "--name", "Mairie", "--siret", "12345678901234"), "siret", "SIRET"),
        (("users", "create", "--email", "admin@cpam72.demo", "--role", "viewer", "--tenant", "{cpam}",
          "--password", "Motdepasse-solide-1"), "email", "Un compte existe déjà avec cette adresse."),
        (("users", "create", "--email", "nouveau@exemple.fr", "--role", "chef", "--tenant", "{cpam}",
          "--password", "Motdepasse-solide-1"), "role", "Profil inconnu"),
    ],
    ids=["invalid-siret", "duplicate-email", "unknown-role"],
)
async def test_cli_refuses_bad_input_and_writes_nothing(centrale, admin_db, demo, args, field, message):
    args = tuple(a.format(cpam=demo["tenant_ids"]["cpam"]) for a in args)
    before = await snapshot(admin_db)

    human = await centrale(*args)
    assert human.exit_code == 2, human.output
    assert f"erreur ({field}) : " in human.stderr and message in human.stderr
    as_json = await centrale(*args, "--json")
    assert as_json.exit_code == 2
    assert message in json.loads(as_json.stderr)["errors"][field]
    assert as_json.stdout == ""

    assert await snapshot(admin_db) == before


def test_production_hashes_passwords_with_argon2id_rfc_9106_low_memory():
    """The suite hashes with argon2's cheapest profile (tests/conftest.py); production keeps RFC 9106's."""
    from argon2 import extract_parameters, profiles

    from app.security import PRODUCTION_HASHER

    stored = PRODUCTION_HASHER.hash("Un mot de passe 2026")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert extract_parameters(stored) == profiles.RFC_9106_LOW_MEMORY


async def test_an_account_hashed_at_production_cost_signs_in(client, db, demo):
    from app.security import PRODUCTION_HASHER

    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        user = await services.find_user_by_email(session, "admin@cpam72.demo")
        user.password_hash = PRODUCTION_HASHER.hash(DEMO_PASSWORD)
    assert (await login(client, "admin@cpam72.demo", "un autre mot de passe")).status_code == 400
    assert (await login(client, "admin@cpam72.demo")).status_code in (302, 303)
    assert (await client.get("/")).status_code == 200
