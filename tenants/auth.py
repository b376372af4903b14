"""Accounts as callers: the identity loader of the auth middleware, and starting a session.

``AccountIdentityLoader`` is what ``tenants`` gives the kernel's ``AuthMiddleware``
(``app.auth``) through its manifest: it reads the portal session (the user id and the
``session_epoch`` it started with: a password change bumps the epoch and so ends the
user's other sessions) and API bearer tokens.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from litestar import Request
from sqlalchemy.exc import DBAPIError

from app.component import IdentityLoader, SessionEnded
from app.db import Database, utcnow
from app.sessions import renew
from tenants.models import User
from tenants.services import Identity, load_identity, mark_token_used, token_login, token_needs_touch

__all__ = ["SESSION_EPOCH_KEY", "SESSION_USER_KEY", "AccountIdentityLoader", "identity_for", "login_session"]

log = logging.getLogger(__name__)

SESSION_USER_KEY = "uid"
#: The user's ``session_epoch`` when the session started; a password change bumps it.
SESSION_EPOCH_KEY = "epoch"


class AccountIdentityLoader(IdentityLoader):
    async def from_session(self, db: Database, session_data: dict[str, Any]) -> Identity | None:
        uid = session_data.get(SESSION_USER_KEY)
        if not uid:
            return None
        try:
            user_id = uuid.UUID(uid)
        except ValueError:
            raise SessionEnded from None
        async with db.session() as session:
            user = await session.get(User, user_id)
            if user is None or not user.is_active or session_data.get(SESSION_EPOCH_KEY, 0) != user.session_epoch:
                raise SessionEnded
        return await identity_for(db, user)

    async def from_bearer(self, db: Database, token: str) -> Identity | None:
        async with db.session() as session:
            found = await token_login(session, token)
        if found is None:
            return None
        user, token_row = found
        identity = await identity_for(db, user, via_token=True)
        if token_needs_touch(token_row):  # a write at most once a minute per token
            try:
                async with db.transaction() as session:
                    await mark_token_used(session, token_row.id)
            except DBAPIError as exc:  # bookkeeping: never fails the request it describes
                log.warning("last use of API token %s not recorded: %s", token_row.id, exc)
        return identity


async def identity_for(db: Database, user: User, *, via_token: bool = False) -> Identity:
    """The identity of ``user`` as the auth middleware loads it (where a login lands, too)."""
    # On PostgreSQL the memberships policy shows a user their own rows (app.user_id).
    async with db.session(actor={"user_id": user.id, "label": user.email}) as session:
        return await load_identity(session, user, via_token=via_token)


def login_session(request: Request[Any, Any, Any], user: User) -> None:
    """Start a fresh session for ``user``: a new id (no session fixation), a new CSRF token.

    Called at every change of privilege: password and OIDC logins, password change.
    """
    renew(request)
    request.clear_session()
    request.set_session({
        SESSION_USER_KEY: str(user.id), SESSION_EPOCH_KEY: user.session_epoch, "login_at": utcnow().isoformat(),
    })
