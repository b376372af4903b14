"""JSON API ``/api/v1`` of ``tenants``: who am I, and the resources of ``tenants.api_v1``."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from app.deps import require_identity

__all__ = ["api_handlers"]


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

#: ``/api/v1`` handlers of ``tenants`` (mounted behind the login guard by the application).
api_handlers: list[Any] = [me, *tenant_api]
