"""Imports every component's models so that the metadata is complete (Alembic, tests)."""

from app.audit import AuditEvent, PlatformAuditEvent
from app.db import TENANT_TABLES, Base
from app.mail import OutboxMessage
from app.outbox import OutboxDelivery, OutboxEvent
from csms import models as csms_models  # noqa: F401  (OCPP supervision tables)
from tenants import models as tenants_models

metadata = Base.metadata

__all__ = [
    "TENANT_TABLES", "AuditEvent", "OutboxDelivery", "OutboxEvent", "OutboxMessage", "PlatformAuditEvent", "metadata",
    "tenants_models",
]
