"""The append-only audit log: who changed what, in which tenant, when, before/after.

Rows are written by ``app.db``'s ``before_flush`` hook for every ORM mutation.
Mutations of tenant-owned rows (and of the tenant itself: its model says
``__tenant_root__ = True``) land in the tenant's ``audit_events``; platform rows (users, centrals, agreements) in
``platform_audit_events``. On PostgreSQL the application role may only INSERT and
SELECT these tables.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantOwned, install_audit_writer, utcnow

__all__ = ["AuditEvent", "PlatformAuditEvent", "make_audit_rows"]


class _AuditColumns:
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[uuid.UUID | None]
    actor_label: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(16))  # create / update / delete / login / ...
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(80))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]


class AuditEvent(TenantOwned, _AuditColumns, Base):
    __tablename__ = "audit_events"
    __audited__ = False
    __table_args__ = (Index("ix_audit_events_tenant_at", "tenant_id", "at"),)


class PlatformAuditEvent(_AuditColumns, Base):
    __tablename__ = "platform_audit_events"
    __audited__ = False
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


def _entity_id(obj: Any) -> str:
    return str(getattr(obj, "id", "") or "")


def make_audit_rows(
    changes: list[tuple[str, Any, dict[str, Any] | None, dict[str, Any] | None]], actor: dict[str, Any]
) -> list[Base]:
    rows: list[Base] = []
    for action, obj, before, after in changes:
        common = {
            "actor_user_id": actor.get("user_id"),
            "actor_label": actor.get("label") or "système",
            "action": action,
            "entity": obj.__tablename__,
            "entity_id": _entity_id(obj),
            "before": before,
            "after": after,
        }
        if isinstance(obj, TenantOwned):
            rows.append(AuditEvent(tenant_id=obj.tenant_id, **common))
        elif getattr(obj, "__tenant_root__", False):  # the tenant itself (tenants.models.Tenant)
            rows.append(AuditEvent(tenant_id=obj.id, **common))
        else:
            rows.append(PlatformAuditEvent(**common))
    return rows


def record_event(
    session: Any, *, action: str, entity: str, entity_id: str, tenant_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Log a non-row event (a login, a remote command) with the session's actor."""
    from app.db import actor_of

    actor = actor_of(session)
    common = {
        "actor_user_id": actor.get("user_id"),
        "actor_label": actor.get("label") or "système",
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "before": None,
        "after": details,
    }
    session.add(AuditEvent(tenant_id=tenant_id, **common) if tenant_id else PlatformAuditEvent(**common))


install_audit_writer(make_audit_rows)
