"""Every topic incidents publishes, with its payload, in one place (docs/events.md has the catalogue).

All durable (``app.outbox``): written with ``publish_on_commit`` in the transaction of the change they
report, delivered at least once to the durable subscribers (``incidents.subscribers``), after a crash too.
Each is something a person must be told of (a written acknowledgement, a closure summary, a deadline
notice): losing one would lose that e-mail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import ClassVar

from app.outbox import Event

__all__ = ["DeadlineThresholdReached", "TicketClosed", "TicketOpened"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class TicketOpened(Event):
    """A ticket was opened (``incidents.tickets.open_ticket``, in its transaction; an idempotent reopening of
    the same origin publishes nothing). The acknowledgement e-mail to the reporter follows from it
    (CCTP CANUT 6.6, CCTP CPAM 5-5-6-2)."""

    topic: ClassVar[str] = "incidents.ticket.opened"
    tenant_id: uuid.UUID
    ticket_id: uuid.UUID
    number: str
    #: ``portal``, ``phone``, ``email``, ``api``, ``supervision``, ``maintenance``
    channel: str
    reported_at: dt.datetime
    opened_at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class TicketClosed(Event):
    """A resolved ticket was closed on the beneficiary's consent (``accept``: its admin, or the deemed
    acceptance), in that transaction. The summary e-mail to the site's local referent follows (CCTP CAIH 2.1.5)."""

    topic: ClassVar[str] = "incidents.ticket.closed"
    tenant_id: uuid.UUID
    ticket_id: uuid.UUID
    number: str
    closed_at: dt.datetime
    #: True: « réputée acceptée » after the tenant's delay; False: accepted by its admin.
    deemed: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeadlineThresholdReached(Event):
    """75 % of a ticket's delay, or its breach, notified once per ticket, clock and threshold (the notice job,
    ``incidents.sweeps.send_due_notices``, in the transaction that records it in ``incident_notices``). The
    e-mails to the titulaire's operators and the tenant's admins follow from it."""

    topic: ClassVar[str] = "incidents.deadline.threshold_reached"
    tenant_id: uuid.UUID
    ticket_id: uuid.UUID
    number: str
    #: ``intervention`` or ``restoration``
    clock: str
    #: 75 (warning) or 100 (breach)
    threshold: int
    deadline: dt.datetime
    #: open time allowed and consumed so far, in minutes of the delay's calendar
    allowed_minutes: int
    consumed_minutes: int
    notified_at: dt.datetime
