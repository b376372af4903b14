"""Authentication: session cookies for portals, bearer tokens for the API, login throttling.

The middleware loads the caller's identity into ``scope["user"]`` through the identity
loader the application factory puts in ``app.state.identity_loader`` (the component
that owns accounts provides it: ``tenants.auth``; see ``app.component.IdentityLoader``).
Portals authenticate by the server-side session only; the API (``/api/``) by
``Authorization: Bearer`` only, so a cookie never authorizes an API call and the API
needs no CSRF token.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractMiddleware
from litestar.stores.base import Store
from litestar.types import Receive, Scope, Send

from app.component import IdentityLoader, SessionEnded

__all__ = [
    "AuthMiddleware",
    "LoginThrottle",
    "client_address",
    "identity_of",
    "requires_login",
]


class AuthMiddleware(AbstractMiddleware):
    scopes = {"http"}  # noqa: RUF012
    exclude = ["^/static/", "^/healthz", "^/readyz", "^/schema"]  # noqa: RUF012

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["user"] = None
        state = scope["app"].state
        loader: IdentityLoader = state.identity_loader
        identity: Any | None = None
        if scope["path"].startswith("/api/"):
            header = dict(scope["headers"]).get(b"authorization", b"").decode()
            if header.lower().startswith("bearer "):
                identity = await loader.from_bearer(state.db, header[7:].strip())
        else:
            session_data = scope.get("session") or {}
            if isinstance(session_data, dict) and session_data:
                try:
                    identity = await loader.from_session(state.db, session_data)
                except SessionEnded:  # a password change, a deactivation or a deletion ended it
                    scope["session"] = {}
        scope["user"] = identity
        await self.app(scope, receive, send)


def identity_of(request: ASGIConnection[Any, Any, Any, Any]) -> Any | None:
    """The caller's identity, or ``None`` for an anonymous request."""
    return request.scope.get("user")


def requires_login(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: portals redirect to the login page (see the app's 401 handler), the API answers 401."""
    if connection.scope.get("user") is None:
        raise NotAuthorizedException("Authentification requise.")


def _trusted(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's address for throttling and logs.

    ``X-Forwarded-For`` is read only when the peer is one of the trusted proxies (none by
    default): walking it from the right, the first address that is not a trusted proxy is
    the client. Anyone else sending the header is ignored, so the per-address login throttle
    cannot be dodged by inventing addresses.
    """
    peer = request.client.host if request.client else "inconnu"
    networks = request.app.state.settings.trusted_proxy_networks
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("x-forwarded-for", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


class LoginThrottle:
    """Counts failed logins per account and per address in a Litestar store.

    After ``max_failures`` failures within ``window`` seconds for one account, or
    ``max_failures_per_address`` for one address, logins are refused with HTTP 429 until
    the window expires, even with the right password. The address threshold is much
    higher: a whole hospital or town hall reaches the internet through one public address,
    and one person's typos must not lock out its colleagues (issue 12 §5); it still stops a
    guesser trying many accounts from one address (docs/security.md « Connexion »).
    """

    def __init__(self, store: Store, max_failures: int, window: int, max_failures_per_address: int | None = None) -> None:
        self.store = store
        self.max_failures = max_failures
        self.window = window
        self.max_failures_per_address = max(max_failures_per_address or max_failures, max_failures)

    def _keys(self, email: str, address: str) -> list[tuple[str, int]]:
        return [(f"login-fail:acct:{email.strip().lower()}", self.max_failures),
                (f"login-fail:addr:{address}", self.max_failures_per_address)]

    async def blocked_for(self, email: str, address: str) -> int:
        """Seconds until a login may be tried again; 0 when allowed."""
        wait = 0
        for key, limit in self._keys(email, address):
            raw = await self.store.get(key)
            if raw is not None and int(raw) >= limit:
                wait = max(wait, await self.store.expires_in(key) or self.window)
        return wait

    async def failed(self, email: str, address: str) -> int:
        """Count a failure; returns how many attempts are left before the lock (0: locked now)."""
        left = self.max_failures_per_address
        for key, limit in self._keys(email, address):
            raw = await self.store.get(key)
            count = int(raw) + 1 if raw is not None else 1
            ttl = await self.store.expires_in(key) if raw is not None else None
            await self.store.set(key, str(count), expires_in=ttl if ttl and ttl > 0 else self.window)
            left = min(left, max(0, limit - count))
        return left

    async def succeeded(self, email: str) -> None:
        await self.store.delete(self._keys(email, "")[0][0])
