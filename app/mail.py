"""E-mail: the first job. Embedded mode (no SMTP host) writes to the outbox table."""

from __future__ import annotations

import datetime as dt
import uuid
from email.message import EmailMessage

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow
from app.jobs import JobContext, actor

__all__ = ["OutboxMessage", "send_email"]


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


@actor("send_email")
async def send_email(ctx: JobContext, *, to: str, subject: str, body: str, tenant_id: str | None = None) -> None:
    settings = ctx.settings
    status, error = "outbox", ""
    if settings.smtp_host:
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
            status = "sent"
        except (OSError, smtplib.SMTPException) as exc:
            status, error = "failed", str(exc)[:500]
    async with ctx.db.transaction() as session:
        session.add(
            OutboxMessage(
                to=to, subject=subject, body=body, status=status, error=error,
                tenant_id=uuid.UUID(tenant_id) if tenant_id else None,
            )
        )
