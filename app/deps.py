"""Litestar providers of the kernel: the request's database session and its caller.

The tenant a request acts in is resolved by the component that owns tenancy
(``tenants.context``); this module knows no tenant.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import identity_of
from app.db import Database

__all__ = ["dependencies", "provide_db_session", "require_identity"]


async def provide_db_session(state: State, request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """One session per request; committed when the handler succeeds, rolled back otherwise."""
    db: Database = state.db
    identity = identity_of(request)
    session = db.session(None, actor=identity.actor if identity else None)
    try:
        yield session
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()


def require_identity(request: Request[Any, Any, Any]) -> Any:
    """The caller's identity (loaded by the auth middleware); 401 when nobody is signed in."""
    identity = identity_of(request)
    if identity is None:
        raise NotAuthorizedException("Authentification requise.")
    return identity


dependencies = {"db_session": Provide(provide_db_session)}
