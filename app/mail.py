"""E-mail: the first job. Embedded mode (no SMTP host) writes to the outbox table.

Two ways to send: the ``send_email`` job (its own transaction, for a web request that has committed), and
``deliver_email`` inside a transaction that must record the mail with its own change, once: a durable
subscriber (``app.outbox``) whose delivery commits the mail's row with its mark, so that a delivery made
once never records it again (the SMTP exchange itself happens before that commit: a crash between the
two may send it a second time, never zero times).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, tenant_root, utcnow
from app.jobs import JobContext, actor

if TYPE_CHECKING:
    from app.settings import Settings

__all__ = ["OutboxMessage", "deliver_email", "send_email"]

log = logging.getLogger(__name__)


class OutboxMessage(Base):
    """Every e-mail sent, with its status; the embedded outbox admins read in the portal."""

    __tablename__ = "mail_outbox"
    __audited__ = False
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    to: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="outbox")  # outbox | sent | failed
    error: Mapped[str] = mapped_column(String(500), default="")


def _smtp(settings: Settings, to: str, subject: str, body: str) -> tuple[str, str]:
    """Send through the configured SMTP host: (status, error); ``outbox`` when there is none (embedded)."""
    if not settings.smtp_host:
        return "outbox", ""
    import smtplib

    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(msg)
        return "sent", ""
    except (OSError, smtplib.SMTPException) as exc:
        return "failed", str(exc)[:500]


async def _tenant_exists(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    """Whether the tenant's row is there, read through the model that is the tenants' root (``app.db.tenant_root``:
    the kernel does not name the component that owns it)."""
    root: Any = tenant_root()
    return await session.scalar(select(root.id).where(root.id == tenant_id)) is not None


@actor("send_email")
async def send_email(ctx: JobContext, *, to: str, subject: str, body: str, tenant_id: str | None = None) -> None:
    """A tenant's mail still in the queue when the tenant was destroyed (issue 16 §4) is dropped: neither sent
    nor recorded (its row would be the tenant's again, after its certificate)."""
    if tenant_id:
        async with ctx.db.session() as session:
            if not await _tenant_exists(session, uuid.UUID(tenant_id)):
                log.info("mail of tenant %s dropped: the tenant no longer exists", tenant_id)
                return
    status, error = _smtp(ctx.settings, to, subject, body)
    async with ctx.db.transaction() as session:
        session.add(
            OutboxMessage(
                to=to, subject=subject, body=body, status=status, error=error,
                tenant_id=uuid.UUID(tenant_id) if tenant_id else None,
            )
        )


async def deliver_email(session: AsyncSession, settings: Settings | None, *, to: str, subject: str, body: str,
                        tenant_id: uuid.UUID | None = None) -> OutboxMessage:
    """Send now (SMTP when configured, in a thread) and record the mail in ``session``'s transaction."""
    status, error = ("outbox", "") if settings is None else await asyncio.to_thread(_smtp, settings, to, subject, body)
    row = OutboxMessage(to=to[:320], subject=subject[:300], body=body, status=status, error=error, tenant_id=tenant_id)
    session.add(row)
    return row
