"""OIDC login against a real identity provider that the test starts (ProConnect-like).

The provider is a small HTTP server on 127.0.0.1: discovery, JWKS, authorize (answers
at once with code and state), token (checks the client secret and the PKCE
verifier), userinfo (a signed JWT, as ProConnect), end_session. The browser is the
app's test client; the redirects to and from the provider are followed by hand.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select

from app.db import scope_session
from app.security import hash_password
from tenants import services
from tenants.models import Membership, OidcProvider, Tenant, User
from tenants.oidc.providers import add_provider, decrypt_secret
from tests.conftest import csrf_from, login

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

CLIENT_ID = "centrale-test-client"
# Valid SIRETs (Luhn on the SIREN and on the whole number) of no real organisation.
SIRET_CPAM = "77582405500013"
SIRET_COMMUNE = "21690026600018"
ADMIN_PASSWORD = "Admin-de-test-2026"
CLIENT_SECRET = "s3cr3t-" + "x" * 40
SLUG = "proconnect"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeProConnect:
    """An OpenID provider that behaves like ProConnect, with switches for misbehaviour."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "pc-1", "use": "sig", "alg": "RS256"}, private=True)
        # Same kid, another key: what a forger would use.
        self.forger = RSAKey.generate_key(2048, parameters={"kid": "pc-1", "use": "sig", "alg": "RS256"}, private=True)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = self.base + "/api/v2"
        self.discovery_url = self.issuer + "/.well-known/openid-configuration"
        self.reset()

    def reset(self) -> None:
        self.user: dict[str, Any] = {}
        self.tamper_userinfo = False
        self.wrong_nonce = False
        self.userinfo_as_json = False
        self.codes: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.logouts: list[dict[str, str]] = []
        self.issued_id_tokens: list[str] = []

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "end_session_endpoint": self.issuer + "/session/end",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "scopes_supported": ["openid", "email", "given_name", "usual_name", "siret", "uid"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "userinfo_signing_alg_values_supported": ["RS256"],
            # As ProConnect: no client_secret_basic.
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", content_type: str = "application/json", **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, data: Any) -> None:
                self._send(status, json.dumps(data).encode())

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                route = url.path.removeprefix("/api/v2")
                if route == "/.well-known/openid-configuration":
                    self._json(200, fake.metadata())
                elif route == "/jwks":
                    self._json(200, {"keys": [fake.key.as_dict(private=False)]})
                elif route == "/authorize":
                    fake.authorize_requests.append(query)
                    code = secrets.token_urlsafe(24)
                    fake.codes[code] = {**query, "user": dict(fake.user)}
                    target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query["state"]})
                    self._send(302, Location=target)
                elif route == "/userinfo":
                    grant = fake.access_tokens.get(self.headers.get("Authorization", "").removeprefix("Bearer "))
                    if grant is None:
                        self._json(401, {"error": "invalid_token"})
                        return
                    claims = {"sub": grant["sub"], **grant["user"], "iss": fake.issuer, "aud": CLIENT_ID, "iat": int(time.time())}
                    if fake.userinfo_as_json:
                        self._json(200, claims)
                        return
                    key = fake.forger if fake.tamper_userinfo else fake.key
                    signed = jwt.encode({"alg": "RS256", "kid": "pc-1"}, claims, key)
                    self._send(200, signed.encode(), content_type="application/jwt; charset=utf-8")
                elif route == "/session/end":
                    fake.logouts.append(query)
                    back = query["post_logout_redirect_uri"] + "?" + urlencode({"state": query.get("state", "")})
                    self._send(302, Location=back)
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/api/v2/token":
                    self._json(404, {"error": "not_found"})
                    return
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                fake.token_requests.append(form)
                if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                    self._json(401, {"error": "invalid_client"})
                    return
                grant = fake.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                if (
                    grant is None
                    or form.get("grant_type") != "authorization_code"
                    or form.get("redirect_uri") != grant["redirect_uri"]
                    or _b64(hashlib.sha256(verifier.encode()).digest()) != grant["code_challenge"]
                ):
                    self._json(400, {"error": "invalid_grant"})
                    return
                sub = hashlib.sha256(grant["user"].get("email", "").encode()).hexdigest()
                access_token = secrets.token_urlsafe(32)
                fake.access_tokens[access_token] = {"sub": sub, "user": grant["user"]}
                now = int(time.time())
                id_token = jwt.encode(
                    {"alg": "RS256", "kid": "pc-1"},
                    {
                        "iss": fake.issuer, "sub": sub, "aud": CLIENT_ID, "iat": now, "exp": now + 60,
                        "nonce": "not-the-nonce-you-sent-" + "z" * 20 if fake.wrong_nonce else grant["nonce"],
                        "at_hash": _b64(hashlib.sha256(access_token.encode()).digest()[:16]),
                        "acr": "eidas1",
                    },
                    fake.key,
                )
                fake.issued_id_tokens.append(id_token)
                self._json(200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 60, "id_token": id_token})

        return Handler


@pytest.fixture(scope="module")
def idp_server():
    fake = FakeProConnect()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def idp(idp_server: FakeProConnect) -> FakeProConnect:
    idp_server.reset()
    return idp_server


@pytest.fixture
async def world(db) -> dict[str, Any]:
    """Two buyers, one beneficiary each, a few accounts (no passwords: no slow hashing)."""
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        cpam72 = await services.create_central(session, code="CPAM72", name="CPAM de la Sarthe", kind="acheteur")
        canut = await services.create_central(session, code="CANUT", name="CANUT")
        cpam = Tenant(name="CPAM de la Sarthe", siret=SIRET_CPAM, central_id=cpam72.id)
        commune = Tenant(name="Commune de Villeurbanne", siret=SIRET_COMMUNE, central_id=canut.id)
        scope_session(session, [cpam.id, commune.id])  # PostgreSQL RLS checks the tenants' audit rows
        session.add_all([cpam, commune])
        await session.flush()
        for email, name, role, tenant in (
            ("agent@cpam72.fr", "Alice Agent (CPAM)", "agent", cpam),
            ("admin@cpam72.fr", "Anne Administratrice (CPAM)", "admin", cpam),
            ("admin@villeurbanne.fr", "Inès Administratrice", "admin", commune),
        ):
            await services.create_user(session, email=email, full_name=name, role=role, tenant_id=tenant.id)
    return {"cpam": str(cpam.id), "commune": str(commune.id)}


async def _provider(settings, db, idp: FakeProConnect, **kwargs: Any) -> None:
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        await add_provider(
            session, settings, slug=SLUG, name="ProConnect", discovery_url=idp.discovery_url,
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **kwargs,
        )


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def _to_provider(client) -> str:
    response = await client.get(f"/auth/oidc/{SLUG}/login", follow_redirects=False)
    assert response.status_code in (302, 303), response.text[:500]
    return response.headers["location"]


def _provider_answers(authorize_url: str) -> str:
    """The browser at the provider: the fake signs the user in at once and sends it back."""
    response = httpx.get(authorize_url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return _path(response.headers["location"])


async def _sso(client, idp: FakeProConnect, **user: Any):
    idp.user = {"given_name": "Alice", "usual_name": "Agent", "uid": "42", **user}
    return await client.get(_provider_answers(await _to_provider(client)), follow_redirects=False)


def _text(response) -> str:
    return html.unescape(response.text)


async def _logged_in(client) -> bool:
    response = await client.get("/", follow_redirects=False)
    return response.headers["location"] != "/connexion"


# --------------------------------------------------------------------------- tests


async def test_login_page_offers_the_enabled_provider(settings, db, world, idp, client):
    page = await client.get("/connexion")
    assert "Se connecter avec ProConnect" not in _text(page)
    await _provider(settings, db, idp)
    page = await client.get("/connexion")
    assert "Se connecter avec ProConnect" in _text(page)
    assert f'href="/auth/oidc/{SLUG}/login"' in _text(page)
    async with db.transaction() as session:
        provider = await session.scalar(select(OidcProvider))
        provider.enabled = False
    assert "Se connecter avec ProConnect" not in (await client.get("/connexion")).text
    assert (await client.get(f"/auth/oidc/{SLUG}/login", follow_redirects=False)).status_code == 404


async def test_login_redirect_carries_long_state_nonce_and_pkce(settings, db, world, idp, client):
    await _provider(settings, db, idp, authorize_params={"acr_values": "eidas1"})
    url = await _to_provider(client)
    assert url.startswith(idp.issuer + "/authorize?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{settings.base_url}/auth/oidc/{SLUG}/callback"
    assert set(query["scope"].split()) >= {"openid", "email", "given_name", "usual_name", "siret", "uid"}
    # ProConnect refuses state and nonce shorter than 32 characters.
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["acr_values"] == "eidas1"
    again = {k: v[0] for k, v in parse_qs(urlsplit(await _to_provider(client)).query).items()}
    assert again["state"] != query["state"] and again["nonce"] != query["nonce"]


async def test_existing_user_signs_in_and_out_through_the_provider(settings, db, world, idp, client):
    await _provider(settings, db, idp)
    cpam = world["cpam"]
    planted = "b" * 64  # a session id the server never issued (issue 10: session fixation)
    client.cookies.set("centrale_session", planted, domain="testserver.local")
    response = await _sso(client, idp, email="Agent@CPAM72.fr", siret=SIRET_CPAM)
    assert response.status_code in (302, 303), response.text[:800]
    assert response.headers["location"] == f"/t/{cpam}/agent"
    # The OIDC login is a change of privilege: a fresh id, never the planted one nor the one
    # that carried the pending state to the provider and back.
    logged_id = client.cookies.get("centrale_session")
    assert logged_id and logged_id != planted and await client.app.stores.get("sessions").get(planted) is None
    # The secret went in the body (client_secret_post) with the PKCE verifier the challenge came from.
    assert idp.token_requests[0]["client_secret"] == CLIENT_SECRET
    assert len(idp.token_requests[0]["code_verifier"]) >= 43
    page = await client.get(f"/t/{cpam}/agent")
    assert page.status_code == 200
    assert "Alice Agent (CPAM)" in _text(page)

    # « Se déconnecter » in the header ends the provider's session too.
    assert 'action="/deconnexion"' in page.text
    response = await client.post("/deconnexion", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert response.headers["location"].startswith(idp.issuer + "/session/end?")
    assert not await _logged_in(client)
    back = httpx.get(response.headers["location"], follow_redirects=False)  # noqa: ASYNC210 - the browser at the provider
    assert idp.logouts[0]["id_token_hint"] == idp.issued_id_tokens[0]
    assert idp.logouts[0]["post_logout_redirect_uri"] == f"{settings.base_url}/auth/oidc/{SLUG}/logout"
    assert len(idp.logouts[0]["state"]) >= 32
    landing = await client.get(_path(back.headers["location"]), follow_redirects=False)
    assert landing.headers["location"] == "/connexion?deconnecte=1"

    # The provider's own logout route does the same.
    await _sso(client, idp, email="agent@cpam72.fr")
    page = await client.get(f"/t/{cpam}/agent")
    response = await client.post(
        f"/auth/oidc/{SLUG}/logout", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False
    )
    assert response.headers["location"].startswith(idp.issuer + "/session/end?")
    assert "id_token_hint=" + idp.issued_id_tokens[1] in response.headers["location"]
    assert not await _logged_in(client)


async def test_wrong_state_is_refused_and_state_is_single_use(settings, db, world, idp, client):
    await _provider(settings, db, idp)
    idp.user = {"email": "agent@cpam72.fr"}
    callback = _provider_answers(await _to_provider(client))
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    forged = f"{parts.path}?{urlencode({**query, 'state': query['state'][::-1]})}"
    response = await client.get(forged, follow_redirects=False)
    assert response.status_code == 400
    assert "Cette demande de connexion a expiré ou n'est pas valide" in _text(response)
    assert not await _logged_in(client)
    assert idp.token_requests == []  # the code was never redeemed

    ok = await client.get(callback, follow_redirects=False)
    assert ok.status_code in (302, 303) and await _logged_in(client)
    replay = await client.get(callback, follow_redirects=False)
    assert replay.status_code == 400


async def test_userinfo_signed_by_another_key_is_refused(settings, db, world, idp, client):
    await _provider(settings, db, idp)
    idp.tamper_userinfo = True
    response = await _sso(client, idp, email="agent@cpam72.fr")
    assert response.status_code == 403
    assert "n'a pas pu être vérifiée" in _text(response)
    assert not await _logged_in(client)


async def test_id_token_with_another_nonce_is_refused(settings, db, world, idp, client):
    await _provider(settings, db, idp)
    idp.wrong_nonce = True
    response = await _sso(client, idp, email="agent@cpam72.fr")
    assert response.status_code == 403
    assert "n'a pas pu être vérifiée" in _text(response)
    assert not await _logged_in(client)


async def test_plain_json_userinfo_only_when_configured(settings, db, world, idp, client):
    await _provider(settings, db, idp)
    idp.userinfo_as_json = True
    response = await _sso(client, idp, email="agent@cpam72.fr")
    assert response.status_code == 403 and not await _logged_in(client)
    async with db.transaction() as session:
        provider = await session.scalar(select(OidcProvider))
        provider.userinfo_signed = False
    response = await _sso(client, idp, email="agent@cpam72.fr")
    assert response.status_code in (302, 303) and await _logged_in(client)


async def test_unknown_email_is_refused_with_a_clear_page(settings, db, world, idp, client):
    await _provider(settings, db, idp)
    response = await _sso(client, idp, email="Inconnu@Exemple.gouv.fr", siret=SIRET_CPAM)
    assert response.status_code == 403
    assert "Aucun compte Centrale n'est associé à inconnu@exemple.gouv.fr" in _text(response)
    assert "demandez à l'administrateur de votre structure de vous inviter" in _text(response)
    assert not await _logged_in(client)
    async with db.session() as session:
        assert await services.find_user_by_email(session, "inconnu@exemple.gouv.fr") is None


async def test_just_in_time_account_for_a_siret_the_provider_serves(settings, db, world, idp, client):
    await _provider(settings, db, idp, central_code="CPAM72", jit_role="agent")
    cpam = world["cpam"]
    response = await _sso(client, idp, email="nouvel.agent@assurance-maladie.fr", given_name="Nina",
                          usual_name="Nouvelle", siret=SIRET_CPAM)
    assert response.status_code in (302, 303), response.text[:800]
    assert response.headers["location"] == f"/t/{cpam}/agent"
    assert "Nina Nouvelle" in (await client.get(f"/t/{cpam}/agent")).text
    async with db.session([uuid.UUID(cpam)]) as session:
        user = await services.find_user_by_email(session, "nouvel.agent@assurance-maladie.fr")
        membership = await session.scalar(select(Membership).where(Membership.user_id == user.id))
    assert membership.tenant_id == uuid.UUID(cpam) and membership.role == "agent"
    assert user.password_hash is None

    # The tenant's administrator sees the creation in the audit log.
    async with db.transaction() as session:
        (await services.find_user_by_email(session, "admin@cpam72.fr")).password_hash = hash_password(ADMIN_PASSWORD)
    page = await client.get(f"/t/{cpam}/agent")
    await client.post("/deconnexion", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert (await login(client, "admin@cpam72.fr", ADMIN_PASSWORD)).status_code in (302, 303)
    journal = await client.get(f"/t/{cpam}/journal")
    assert journal.status_code == 200
    assert "nouvel.agent@assurance-maladie.fr (création via ProConnect)" in _text(journal)


async def test_just_in_time_refused_for_the_siret_of_another_tenant(settings, db, world, idp, client):
    await _provider(settings, db, idp, central_code="CPAM72", jit_role="agent")
    response = await _sso(client, idp, email="intrus@villeurbanne.fr", siret=SIRET_COMMUNE)
    assert response.status_code == 403
    assert "Aucun compte Centrale n'est associé à intrus@villeurbanne.fr" in _text(response)
    assert not await _logged_in(client)
    async with db.session() as session:
        assert await services.find_user_by_email(session, "intrus@villeurbanne.fr") is None


async def test_a_scoped_provider_does_not_open_accounts_of_other_tenants(settings, db, world, idp, client):
    await _provider(settings, db, idp, central_code="CPAM72")
    response = await _sso(client, idp, email="admin@villeurbanne.fr")
    assert response.status_code == 403
    assert "n'est pas ouvert à la connexion avec ProConnect" in _text(response)
    assert not await _logged_in(client)


def test_cli_adds_and_lists_providers_with_the_secret_encrypted(settings, centrale, idp):
    args = ["oidc", "add", "--slug", "proconnect", "--name", "ProConnect", "--discovery-url", idp.discovery_url,
            "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--authorize-param", "acr_values=eidas1", "--json"]
    out = centrale.invoke(*args)
    assert out.exit_code == 0, out.output
    provider_id = json.loads(out.output)["id"]
    again = centrale.invoke(*args)
    assert again.exit_code == 2 and "porte déjà cet identifiant" in again.output
    bad = centrale.invoke("oidc", "add", "--slug", "x", "--name", "X", "--discovery-url", "http://idp.example/",
                          "--client-id", "a", "--client-secret", "b", "--jit-role", "agent")
    assert bad.exit_code == 2 and "HTTPS" in bad.output and "centrale ou un bénéficiaire" in bad.output

    listed = centrale.invoke("oidc", "list", "--json")
    rows = json.loads(listed.output)
    assert [(r["id"], r["slug"], r["enabled"]) for r in rows] == [(provider_id, "proconnect", True)]
    assert rows[0]["authorize_params"] == {"acr_values": "eidas1"}
    assert CLIENT_SECRET not in listed.output
    assert centrale.invoke("oidc", "disable", "proconnect").exit_code == 0
    listed = centrale.invoke("oidc", "list", "--json")
    assert json.loads(listed.output)[0]["enabled"] is False

    import sqlite3

    path = settings.database_url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        (stored,) = conn.execute("SELECT client_secret_encrypted FROM oidc_providers").fetchone()
        dump = "\n".join(conn.iterdump())
    assert CLIENT_SECRET not in dump  # neither the row nor the audit log holds it in clear
    assert decrypt_secret(settings.secret_key, stored) == CLIENT_SECRET


async def test_tenant_scoped_jit_needs_that_tenant(settings, db, world, idp, client):
    commune = world["commune"]
    await _provider(settings, db, idp, tenant_id=commune, jit_role="viewer")
    refused = await _sso(client, idp, email="agent2@cpam72.fr", siret=SIRET_CPAM)
    assert refused.status_code == 403
    response = await _sso(client, idp, email="visu2@villeurbanne.fr", siret=SIRET_COMMUNE)
    assert response.status_code in (302, 303), response.text[:800]
    async with db.session([uuid.UUID(commune)]) as session:
        user = await session.scalar(select(User).where(User.email == "visu2@villeurbanne.fr"))
        membership = await session.scalar(select(Membership).where(Membership.user_id == user.id))
    assert membership.tenant_id == uuid.UUID(commune) and membership.role == "viewer"
