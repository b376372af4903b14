"""Where a signed-in user lands: the home of their central, tenant or agent space, and safe
``suivant`` redirects (same-site relative paths only)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tenants.models import Central, Role
from tenants.services import Identity

__all__ = ["LOGGED_OUT", "home_url_for", "safe_next"]

#: Where a closed session lands: the login page with « Vous êtes déconnecté ».
LOGGED_OUT = "/connexion?deconnecte=1"


def safe_next(value: str | None) -> str:
    # Only same-site relative paths: no open redirect.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def home_url_for(session: AsyncSession, identity: Identity) -> str:
    if identity.central_ids:
        central = await session.get(Central, sorted(identity.central_ids)[0])
        if central is not None:
            return f"/c/{central.code}"
    if any(role == Role.OPERATOR for role in identity.tenant_roles.values()):
        # The titulaire's operator serves several tenants: its work queue spans them all.
        return "/operateur"
    if identity.tenant_roles:
        # Stable choice: the first tenant by id; the tenant switcher lists the others.
        tenant_id, role = sorted(identity.tenant_roles.items())[0]
        return f"/t/{tenant_id}/agent" if role == Role.AGENT else f"/t/{tenant_id}"
    return "/compte"
