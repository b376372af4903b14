"""The tenant-wall walk's objects of ``tenants`` (``tests/test_tenant_walls.py``).

The walk calls every route with another tenant's ids; ``wall_target`` creates, in that
victim tenant, one object for each path parameter the routes of ``tenants`` take.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from tenants import services
from tenants.models import Central
from tenants.reversibility.destruction import request_destruction
from tenants.reversibility.service import LINK_VALIDITY, request_export

__all__ = ["wall_target"]


async def wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    """A second site, a member and that member's API token, a pending invitation, a removal in the log, a
    finished reversibility export and the destruction its admin confirmed (in its cooling-off); the central's code."""
    tenant = await services.get_tenant(session, tenant_id)
    site = await services.create_site(session, tenant_id, {"name": "Annexe cible", "insee_code": tenant.insee_code})
    key = tenant.id.hex[:8]
    member = await services.add_member(
        session, tenant_id, {"email": f"cible@{key}.demo", "role": "viewer", "password": "Mot-de-passe-cible-1"}
    )
    user = await services.get_user(session, member.user_id)
    token, _secret = await services.create_api_token(session, user, name="cible")
    central = await session.get(Central, tenant.central_id)
    assert central is not None
    # A pending invitation of an account that belongs to no tenant yet.
    await services.create_user(session, email=f"invitee@{key}.demo")
    await services.enrol_member(session, tenant_id, {"email": f"invitee@{key}.demo", "role": "viewer"}, invited_by="test")
    invitation = (await services.list_pending_invitations(session, tenant_id))[0]
    # A member removed a moment ago: its removal is an event of the victim's log that could be undone.
    gone = await services.add_member(session, tenant_id, {"email": f"parti@{key}.demo", "role": "viewer"})
    await services.remove_member(session, gone)
    removal = (await services.recent_removals(session, tenant_id, now=utcnow()))[0]
    # A finished reversibility export, its link still valid.
    export = await request_export(session, tenant_id, email=f"admin@{key}.demo", user_id=None, now=utcnow())
    export.status, export.expires_at, export.finished_at = "done", utcnow() + LINK_VALIDITY, utcnow()
    await session.flush()
    destruction = await request_destruction(session, tenant, email=f"admin@{key}.demo", user_id=None,
                                            typed_name=tenant.name, received=True, now=utcnow())
    return {"tenant_id": tenant_id, "central_code": central.code, "site_id": site.id, "user_id": member.user_id,
            "token_id": token.id, "invitation_id": invitation.id, "event_id": removal.id, "export_id": export.id,
            "destruction_id": destruction.id}
