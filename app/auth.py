"""Authentication: session cookies for portals, bearer tokens for the API, login throttling.

The middleware loads the caller's ``Identity`` (user + every membership) into
``scope["user"]``. Portals authenticate by the server-side session only; the API
(``/api/``) by ``Authorization: Bearer`` only, so a cookie never authorizes an API
call and the API needs no CSRF token.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractMiddleware
from litestar.stores.base import Store
from litestar.types import Receive, Scope, Send
from sqlalchemy.exc import DBAPIError

from app.db import Database, utcnow
from app.sessions import renew
from tenants.models import User
from tenants.services import Identity, load_identity, mark_token_used, token_login, token_needs_touch

log = logging.getLogger(__name__)

__all__ = [
    "AuthMiddleware",
    "LoginThrottle",
    "client_address",
    "identity_of",
    "login_session",
    "requires_login",
]

SESSION_USER_KEY = "uid"
#: The user's ``session_epoch`` when the session started; a password change bumps it.
SESSION_EPOCH_KEY = "epoch"


class AuthMiddleware(AbstractMiddleware):
    scopes = {"http"}  # noqa: RUF012
    exclude = ["^/static/", "^/healthz", "^/readyz", "^/schema"]  # noqa: RUF012

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["user"] = None
        db: Database = scope["app"].state.db
        path: str = scope["path"]
        identity: Identity | None = None
        if path.startswith("/api/"):
            header = dict(scope["headers"]).get(b"authorization", b"").decode()
            if header.lower().startswith("bearer "):
                async with db.session() as session:
                    found = await token_login(session, header[7:].strip())
                if found is not None:
                    user, token_row = found
                    identity = await _identity(db, user, via_token=True)
                    if token_needs_touch(token_row):  # a write at most once a minute per token
                        try:
                            async with db.transaction() as session:
                                await mark_token_used(session, token_row.id)
                        except DBAPIError as exc:  # bookkeeping: never fails the request it describes
                            log.warning("last use of API token %s not recorded: %s", token_row.id, exc)
        else:
            session_data = scope.get("session") or {}
            uid = session_data.get(SESSION_USER_KEY) if isinstance(session_data, dict) else None
            if uid:
                try:
                    user_id = uuid.UUID(uid)
                except ValueError:
                    user_id = None
                if user_id is not None:
                    async with db.session() as session:
                        user = await session.get(User, user_id)
                        if (user is not None and user.is_active
                                and session_data.get(SESSION_EPOCH_KEY, 0) == user.session_epoch):
                            identity = await _identity(db, user)
                if identity is None:  # ended by a password change, a deactivation or a deletion
                    scope["session"] = {}
        scope["user"] = identity
        await self.app(scope, receive, send)


async def _identity(db: Database, user: User, *, via_token: bool = False) -> Identity:
    # On PostgreSQL the memberships policy shows a user their own rows (app.user_id).
    async with db.session(actor={"user_id": user.id, "label": user.email}) as session:
        return await load_identity(session, user, via_token=via_token)


def identity_of(request: ASGIConnection[Any, Any, Any, Any]) -> Identity | None:
    return request.scope.get("user")


def requires_login(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: portals redirect to the login page (see the app's 401 handler), the API answers 401."""
    if connection.scope.get("user") is None:
        raise NotAuthorizedException("Authentification requise.")


def login_session(request: Request[Any, Any, Any], user: User) -> None:
    """Start a fresh session for ``user``: a new id (no session fixation), a new CSRF token.

    Called at every change of privilege: password and OIDC logins, password change.
    """
    renew(request)
    request.clear_session()
    request.set_session({
        SESSION_USER_KEY: str(user.id), SESSION_EPOCH_KEY: user.session_epoch, "login_at": utcnow().isoformat(),
    })


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

    After ``max_failures`` within ``window`` seconds for either key, logins are
    refused with HTTP 429 until the window expires, even with the right password.
    """

    def __init__(self, store: Store, max_failures: int, window: int) -> None:
        self.store = store
        self.max_failures = max_failures
        self.window = window

    @staticmethod
    def _keys(email: str, address: str) -> list[str]:
        return [f"login-fail:acct:{email.strip().lower()}", f"login-fail:addr:{address}"]

    async def blocked_for(self, email: str, address: str) -> int:
        """Seconds until a login may be tried again; 0 when allowed."""
        wait = 0
        for key in self._keys(email, address):
            raw = await self.store.get(key)
            if raw is not None and int(raw) >= self.max_failures:
                wait = max(wait, await self.store.expires_in(key) or self.window)
        return wait

    async def failed(self, email: str, address: str) -> None:
        for key in self._keys(email, address):
            raw = await self.store.get(key)
            count = int(raw) + 1 if raw is not None else 1
            ttl = await self.store.expires_in(key) if raw is not None else None
            await self.store.set(key, str(count), expires_in=ttl if ttl and ttl > 0 else self.window)

    async def succeeded(self, email: str) -> None:
        await self.store.delete(self._keys(email, "")[0])
