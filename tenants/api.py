"""JSON API ``/api/v1``: the same operations as the portals, under the same rules."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get

from app.auth import requires_login
from app.deps import require_identity

__all__ = ["build_api_handlers"]


@get("/me", summary="Current identity")
async def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    identity = require_identity(request)
    return {
        "user_id": str(identity.user_id),
        "email": identity.email,
        "full_name": identity.full_name,
        "tenants": {str(k): v for k, v in identity.tenant_roles.items()},
        "centrals": [str(c) for c in identity.central_ids],
    }


from tenants.api_v1 import handlers as tenant_api  # noqa: E402


def build_api_handlers(component_api: list[Any]) -> list[Router]:
    """``/api/v1``: the tenants' endpoints and every other component's, behind login."""
    return [Router(path="/api/v1", route_handlers=[me, *tenant_api, *component_api], guards=[requires_login])]
