"""The OpenID Connect login pages: start, callback, logout (see ``tenants.oidc``)."""

from __future__ import annotations

import secrets
import time
import warnings
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import record_event
from app.db import scope_session, utcnow
from app.errors import NotFound

with warnings.catch_warnings():
    # authlib prefers the httpx2 fork and warns when it falls back to httpx, which works.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client
from tenants import services
from tenants.auth import login_session
from tenants.landing import home_url_for, safe_next
from tenants.oidc.accounts import account_for
from tenants.oidc.protocol import Refused, fetch_identity, provider_metadata, redirect_uri
from tenants.oidc.providers import LOGIN_KEY, MAX_PENDING, PENDING_KEY, PENDING_TTL, get_enabled_provider

# --------------------------------------------------------------------------- the flow


def _session_dict(request: Request[Any, Any, Any]) -> dict[str, Any]:
    data = request.session
    return dict(data) if isinstance(data, dict) else {}


def _refused_page(request: Request[Any, Any, Any], exc: Refused, provider_name: str = "") -> Template:
    request.logger.warning("OIDC login refused: %s", exc)
    return Template(
        "error.html",
        context={"status": exc.status, "title": "Connexion impossible", "detail": exc.detail, "provider": provider_name},
        status_code=exc.status,
    )


@get("/auth/oidc/{slug:str}/login", include_in_schema=False)
async def oidc_login(
    slug: str, request: Request[Any, Any, Any], state: State, db_session: AsyncSession, suivant: str = "/"
) -> Redirect | Template:
    """Send the browser to the provider, remembering state, nonce and PKCE verifier in the session."""
    provider = await get_enabled_provider(db_session, slug)
    try:
        metadata = await provider_metadata(state, provider)
    except Refused as exc:
        return _refused_page(request, exc, provider.name)
    oidc_state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    now = time.time()
    data = _session_dict(request)
    pending = {
        key: value for key, value in (data.get(PENDING_KEY) or {}).items() if now - value.get("at", 0) < PENDING_TTL
    }
    pending[oidc_state] = {"slug": slug, "nonce": nonce, "verifier": verifier, "next": safe_next(suivant), "at": now}
    data[PENDING_KEY] = dict(sorted(pending.items(), key=lambda item: item[1]["at"])[-MAX_PENDING:])
    request.set_session(data)
    extra = dict((provider.settings or {}).get("authorize_params") or {})
    async with AsyncOAuth2Client(
        client_id=provider.client_id,
        scope=provider.scope,
        redirect_uri=redirect_uri(state.settings, slug, "callback"),
        code_challenge_method="S256",
    ) as client:
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"], state=oidc_state, code_verifier=verifier, nonce=nonce, **extra
        )
    return Redirect(url)


@get("/auth/oidc/{slug:str}/callback", include_in_schema=False)
async def oidc_callback(
    slug: str, request: Request[Any, Any, Any], state: State, db_session: AsyncSession
) -> Redirect | Template:
    """The provider sends the browser back here with ``code`` and ``state`` (a GET: ``state`` stands in for CSRF)."""
    provider = await get_enabled_provider(db_session, slug)
    params = request.query_params
    data = _session_dict(request)
    pending_all = dict(data.get(PENDING_KEY) or {})
    pending = pending_all.pop(str(params.get("state") or ""), None)  # single use, even when refused below
    data[PENDING_KEY] = pending_all
    request.set_session(data)
    try:
        if pending is None or pending.get("slug") != slug or time.time() - pending.get("at", 0) > PENDING_TTL:
            raise Refused(
                "Cette demande de connexion a expiré ou n'est pas valide. Recommencez depuis la page de connexion.",
                status=400, reason="unknown, expired or foreign state",
            )
        if params.get("error"):
            raise Refused(
                f"La connexion avec {provider.name} a été interrompue. Recommencez depuis la page de connexion.",
                status=400, reason=f"provider error {params.get('error')}: {params.get('error_description')}",
            )
        code = str(params.get("code") or "")
        if not code:
            raise Refused("Réponse incomplète du fournisseur d'identité.", status=400, reason="no code")
        metadata = await provider_metadata(state, provider)
        claims, id_token = await fetch_identity(state, provider, metadata, pending, code)
        user = await account_for(db_session, provider, claims)
    except Refused as exc:
        return _refused_page(request, exc, provider.name)
    user.last_login_at = utcnow()
    scope_session(db_session, None, actor={"user_id": user.id, "label": user.email})  # a new account too
    record_event(
        db_session, action="login", entity="users", entity_id=str(user.id),
        details={"via": provider.slug, "uid": claims.get("uid"), "siret": claims.get("siret")},
    )
    await db_session.flush()
    login_session(request, user)
    request.set_session({**_session_dict(request), LOGIN_KEY: {"slug": slug, "id_token": id_token}})
    next_url = pending.get("next") or "/"
    if next_url == "/":
        next_url = await home_url_for(db_session, await services.load_identity(db_session, user))
    return Redirect(next_url)


async def end_session_url(request: Request[Any, Any, Any]) -> str | None:
    """Where to send the browser at logout: the provider's ``end_session_endpoint`` when the
    session came from OIDC and the provider offers one, else None. Call before clearing the session."""
    login = _session_dict(request).get(LOGIN_KEY)
    if not isinstance(login, dict) or not login.get("slug"):
        return None
    state: State = request.app.state
    try:
        async with state.db.session() as session:
            provider = await get_enabled_provider(session, login["slug"])
        metadata = await provider_metadata(state, provider)
    except (NotFound, Refused) as exc:
        request.logger.warning("OIDC logout without the provider: %s", exc)
        return None
    endpoint = metadata.get("end_session_endpoint")
    if not endpoint:
        return None
    query = {
        "id_token_hint": login.get("id_token") or "",
        "post_logout_redirect_uri": redirect_uri(state.settings, provider.slug, "logout"),
        "state": secrets.token_urlsafe(32),
        "client_id": provider.client_id,
    }
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode({k: v for k, v in query.items() if v})}"


@post("/auth/oidc/{slug:str}/logout", include_in_schema=False)
async def oidc_logout(request: Request[Any, Any, Any]) -> Redirect:
    """Close the local session, then the provider's (RP-initiated logout)."""
    target = await end_session_url(request)
    request.clear_session()
    return Redirect(target or "/connexion")


@get("/auth/oidc/{slug:str}/logout", include_in_schema=False)
async def oidc_logged_out(request: Request[Any, Any, Any]) -> Redirect:
    """The provider's ``post_logout_redirect_uri``: the local session is already closed."""
    return Redirect("/connexion")


handlers: list[Any] = [oidc_login, oidc_callback, oidc_logout, oidc_logged_out]
