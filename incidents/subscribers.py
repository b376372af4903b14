"""incidents' durable subscribers (``app.outbox``), for its manifest: ``SUBSCRIBERS``.

Each runs in the outbox relay, in the event's tenant scope, at least once per event; its writes commit
with the delivery's mark, so a delivery made once is never made again, and what a second delivery (or a
restart) would do twice is checked here too: one ticket per alert (its ``origin`` is unique per tenant).

The e-mails (the acknowledgement to the reporter, the closure summary to the site's referent, the deadline
notices) are recorded in ``mail_outbox`` with ``app.mail.deliver_email`` in the delivery's transaction: once
per event (with an SMTP host, a crash between the exchange and the commit may send one twice, never none).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.mail import deliver_email
from app.outbox import Delivery, Subscriber
from csms.domain.events import AlertClosed, AlertOpened
from incidents import mails
from incidents.events import DeadlineThresholdReached, TicketClosed, TicketOpened
from incidents.models import Ticket, TicketEventRow
from incidents.tickets import add_event, open_ticket

__all__ = ["SUBSCRIBERS", "alert_origin"]

SUPERVISION = {"user_id": None, "label": "supervision"}


def alert_origin(alert_id: Any) -> str:
    return f"alert:{alert_id}"


async def ticket_from_alert(delivery: Delivery, event: AlertOpened) -> None:
    """CPAM 5-5-6-2 « toute demande (...) donne lieu à la création d'un ticket »: a Faulted charge point or an
    offline charger opens one ticket, reported when the condition began. Twice: the existing ticket."""
    what = f"point {event.canonical_id}" if event.connector_id else f"borne {event.charge_box_id}"
    detail = f" ({event.status}{', ' + event.error_code if event.error_code else ''})" if event.status else ""
    await open_ticket(
        delivery.session, event.tenant_id, now=utcnow(),
        title=f"{event.state} : {what}"[:200],
        description=f"Alerte de la supervision : {what} {event.state.lower()}{detail} depuis le {event.since:%d/%m/%Y %H:%M} UTC.",
        channel="supervision", actor=SUPERVISION, reported_at=min(event.since, utcnow()),
        charge_box_id=event.charge_box_id, connector_id=event.connector_id or None,
        origin=alert_origin(event.alert_id), alert_id=event.alert_id,
    )


async def restoration_observed(delivery: Delivery, event: AlertClosed) -> None:
    """« rétablissement constaté »: a note on the alert's ticket, which stays open (the beneficiary consents
    to its closure). Twice: the note is not added again."""
    session = delivery.session
    ticket = await session.scalar(select(Ticket).where(Ticket.tenant_id == event.tenant_id,
                                                       Ticket.origin == alert_origin(event.alert_id)))
    if ticket is None or ticket.status == "closed":
        return
    notes = await session.scalars(select(TicketEventRow.data).where(
        TicketEventRow.tenant_id == ticket.tenant_id, TicketEventRow.ticket_id == ticket.id,
        TicketEventRow.kind == "note"))
    if any(data.get("alert_closed") == str(event.alert_id) for data in notes):
        return
    now = utcnow()
    await add_event(session, ticket, "note", now=now, at=max(min(event.closed_at, now), ticket.reported_at),
                    actor=SUPERVISION, channel="supervision", data={"alert_closed": str(event.alert_id)},
                    reason="rétablissement constaté")


async def _ticket(session: AsyncSession, tenant_id: uuid.UUID, ticket_id: uuid.UUID) -> Ticket | None:
    return await session.scalar(select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.id == ticket_id))


async def _send(delivery: Delivery, tenant_id: uuid.UUID, mail: mails.Mail | None) -> None:
    for to in mail.to if mail is not None else ():
        await deliver_email(delivery.session, delivery.settings, to=to, subject=mail.subject, body=mail.body,
                            tenant_id=tenant_id)


async def acknowledge_reporter(delivery: Delivery, event: TicketOpened) -> None:
    """CANUT 6.6 « ce signalement fait l'objet d'une confirmation écrite », CPAM 5-5-6-2: the written
    acknowledgement with the number and the deadlines, to whoever reported by phone, e-mail or the portal."""
    ticket = await _ticket(delivery.session, event.tenant_id, event.ticket_id)
    if ticket is not None:
        now = max(utcnow(), event.opened_at)
        await _send(delivery, event.tenant_id, await mails.acknowledgement(delivery.session, ticket, now))


async def closure_summary(delivery: Delivery, event: TicketClosed) -> None:
    """CAIH 2.1.5 « l'envoi d'un mail récapitulatif au référent local du marché » at the closure."""
    ticket = await _ticket(delivery.session, event.tenant_id, event.ticket_id)
    if ticket is not None:
        now = max(utcnow(), event.closed_at)
        await _send(delivery, event.tenant_id,
                    await mails.closure_summary(delivery.session, ticket, deemed=event.deemed, now=now))


async def deadline_notice(delivery: Delivery, event: DeadlineThresholdReached) -> None:
    """75 % of a delay, or its breach: the e-mails to the titulaire's operators and the tenant's admins."""
    ticket = await _ticket(delivery.session, event.tenant_id, event.ticket_id)
    if ticket is not None:
        await _send(delivery, event.tenant_id, await mails.deadline_notice(
            delivery.session, ticket, clock=event.clock, threshold=event.threshold, deadline=event.deadline,
            allowed=dt.timedelta(minutes=event.allowed_minutes), consumed=dt.timedelta(minutes=event.consumed_minutes),
            now=event.notified_at))


SUBSCRIBERS: list[Subscriber[Any]] = [
    Subscriber(AlertOpened, "incidents.ticket-from-alert", ticket_from_alert),
    Subscriber(AlertClosed, "incidents.restoration-observed", restoration_observed),
    Subscriber(TicketOpened, "incidents.acknowledgement-mail", acknowledge_reporter),
    Subscriber(TicketClosed, "incidents.closure-summary-mail", closure_summary),
    Subscriber(DeadlineThresholdReached, "incidents.deadline-notice-mail", deadline_notice),
]
