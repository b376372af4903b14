"""OpenID Connect login (ProConnect-compatible)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

handlers: list[Any] = []


async def list_login_providers(session: AsyncSession) -> list[Any]:
    return []
