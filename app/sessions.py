"""Portal sessions and their CSRF token (OWASP ASVS 4.0 V3.2, V3.3 and V4.2.2).

Litestar's server-side session middleware stores the session under whatever id the
browser's cookie carries, and its CSRF middleware accepts any token signed with the
application secret. That allows session fixation (an attacker plants
``centrale_session=aaaa…``, the victim logs in, the attacker holds the logged-in session)
and lets a token taken from one client pass for another. This module replaces both:

- **Only ids the server issued are honoured.** An id is issued when a session is first
  stored; a cookie whose id is not in the store is ignored (and expired in the answer).
- **A fresh id at every change of privilege**: :func:`renew` (called by the login, the OIDC
  callback and the password change) deletes the old stored session and issues a new id.
- **No session is stored for an anonymous request that needs none**: an empty session is
  never written. An anonymous page with a form (login, password reset, invitation) opts in
  with ``opt={"form_session": True}``; such sessions live at most an hour.
- **The CSRF token belongs to the session** (synchronizer token): a random token kept in the
  session, sent back by forms (``_csrf_token``) or HTMX (``X-CSRFToken``) and compared in
  constant time. A new session (login) gets a new token.
"""

from __future__ import annotations

import secrets
from hmac import compare_digest
from typing import TYPE_CHECKING, Any

from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty
from litestar.utils.dataclass import extract_dataclass_items
from litestar.utils.scope.state import ScopeState

if TYPE_CHECKING:
    import re

    from litestar.connection import ASGIConnection
    from litestar.types import ASGIApp, Message, Receive, Scope, ScopeSession, Send

__all__ = ["CSRF_KEY", "FORM_SESSION_OPT", "CsrfMiddleware", "IssuedSessionConfig", "ensure_csrf_token", "renew"]

#: Session key of the CSRF token.
CSRF_KEY = "_csrf"
#: Scope keys: the id of the session loaded from the store (an id the server issued), and
#: the request to issue a new one when the answer is sent.
_ISSUED = "centrale.session_id"
_RENEW = "centrale.session_renew"
#: An anonymous session (a login form's CSRF token) lives at most this long.
ANONYMOUS_MAX_AGE = 3600
#: Routes whose anonymous GET renders a form and therefore needs a session for its token.
FORM_SESSION_OPT = "form_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def renew(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Issue a new session id with this answer and forget the old one (login, privilege change)."""
    connection.scope[_RENEW] = True  # type: ignore[literal-required]


class IssuedSessionBackend(ServerSideSessionBackend):
    """Server-side sessions under ids the server issued, written only when not empty."""

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        session_id = connection.cookies.get(self.config.key)
        if session_id and session_id != "null" and len(session_id) <= 2 * self.config.session_id_bytes:
            data = await self.get(session_id, store=self.config.get_store_from_app(connection.scope["app"]))
            if data is not None:
                connection.scope[_ISSUED] = session_id  # type: ignore[literal-required]
                return self.deserialize_data(data)
        return {}

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        # Never the cookie's value as such: only the id found in the store, else a new one.
        scope = connection.scope
        issued = scope.get(_ISSUED)  # type: ignore[call-overload]
        if issued and not scope.get(_RENEW):  # type: ignore[call-overload]
            return str(issued)
        fresh = scope.get("centrale.session_fresh")  # type: ignore[call-overload]
        if not fresh:
            fresh = self.generate_session_id()
            scope["centrale.session_fresh"] = fresh  # type: ignore[typeddict-unknown-key]
        return str(fresh)

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        scope = connection.scope
        store = self.config.get_store_from_app(scope["app"])
        headers = MutableScopeHeaders.from_message(message)
        cookie_params = dict(extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys()))
        issued = scope.get(_ISSUED)  # type: ignore[call-overload]
        empty = scope_session is Empty or not scope_session
        if issued and (empty or scope.get(_RENEW)):  # type: ignore[call-overload]
            await self.delete(str(issued), store=store)
        if empty:
            if connection.cookies.get(self.config.key):  # a stale, planted or ended session: expire it
                headers.add("Set-Cookie", Cookie(value="", key=self.config.key, expires=0, **cookie_params).to_header(header=""))
            return
        session_id = self.get_session_id(connection)
        data = self.serialize_data(scope_session, scope)
        anonymous = isinstance(scope_session, dict) and "uid" not in scope_session
        max_age = min(self.config.max_age, ANONYMOUS_MAX_AGE) if anonymous else self.config.max_age
        await store.set(session_id, data, expires_in=max_age)
        if session_id != connection.cookies.get(self.config.key):
            headers.add("Set-Cookie", Cookie(value=session_id, key=self.config.key, **cookie_params).to_header(header=""))


class IssuedSessionConfig(ServerSideSessionConfig):
    _backend_class = IssuedSessionBackend  # type: ignore[assignment]


def _session(scope: Scope) -> dict[str, Any] | None:
    data = scope.get("session")
    return data if isinstance(data, dict) else None


def ensure_csrf_token(scope: Scope) -> str:
    """The session's CSRF token, created (and so the session stored) when missing."""
    data = _session(scope)
    if data is None:
        data = {}
        scope["session"] = data
    token = data.get(CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        data[CSRF_KEY] = token
    ScopeState.from_scope(scope).csrf_token = token
    return token


class CsrfMiddleware:
    """Synchronizer-token CSRF check on every unsafe request, after the session is loaded.

    Safe requests expose the session's token to templates (``csrf_input``, ``csrf_token()``):
    a logged-in session always has one; an anonymous one only on routes with the
    ``form_session`` option. Paths matching ``exclude`` (the bearer-token API) are skipped.
    """

    def __init__(self, app: ASGIApp, exclude: re.Pattern[str] | None = None) -> None:
        self.app = app
        self.exclude = exclude

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or (self.exclude is not None and self.exclude.match(scope["path"])):
            await self.app(scope, receive, send)
            return
        data = _session(scope) or {}
        expected = data.get(CSRF_KEY)
        if scope["method"] in SAFE_METHODS:
            handler = scope.get("route_handler")
            wants = handler is not None and handler.opt.get(FORM_SESSION_OPT)
            if expected or "uid" in data or wants:
                ensure_csrf_token(scope)
            await self.app(scope, receive, send)
            return
        request = scope["litestar_app"].request_class(scope=scope, receive=receive)
        given = request.headers.get("x-csrftoken")
        if not given and request.content_type[0] in {RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART}:
            given = (await request.form()).get("_csrf_token")
        if not (isinstance(expected, str) and expected and isinstance(given, str) and compare_digest(given, expected)):
            raise PermissionDeniedException(
                "Formulaire expiré ou invalide : rechargez la page et recommencez."
            )
        ScopeState.from_scope(scope).csrf_token = expected
        await self.app(scope, receive, send)
