"""Every topic ``billing`` publishes, with its payload (docs/events.md has the catalogue).

Durable (``app.outbox``): written with ``publish_on_commit`` in the transaction of the change they report,
delivered at least once to the durable subscribers, after a crash too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import ClassVar

from app.outbox import Event

__all__ = ["InvoiceIssued", "PenaltyNotified", "ProgressSubmitted"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class InvoiceIssued(Event):
    """An invoice or a credit note was issued (numbered, final; ``billing.invoices.issue_invoice``, in its
    transaction). The e-mail to the buyer's administrators follows from it (``billing.invoice-issued-mail``)."""

    topic: ClassVar[str] = "billing.invoice.issued"
    tenant_id: uuid.UUID
    invoice_id: uuid.UUID
    number: str
    kind: str
    issued_at: dt.datetime



@dataclasses.dataclass(frozen=True, kw_only=True)
class PenaltyNotified(Event):
    """A penalty was notified to the titulaire (CCP TGD VIII.1 « notification préalable expresse », thirty days for
    observations; ``billing.penalties.notify_penalty``). The e-mail to the titulaire's operators follows from it
    (``billing.penalty-notified-mail``)."""

    topic: ClassVar[str] = "billing.penalty.notified"
    tenant_id: uuid.UUID
    penalty_id: uuid.UUID
    notified_at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProgressSubmitted(Event):
    """The titulaire's operator handed in a « constat d'avancement » (CCP TGD IX.5; ``billing.acomptes
    .submit_statement``). The e-mail to the buyer's administrators, who validate it, follows from it
    (``billing.progress-submitted-mail``)."""

    topic: ClassVar[str] = "billing.progress.submitted"
    tenant_id: uuid.UUID
    statement_id: uuid.UUID
    order_number: str
    submitted_at: dt.datetime
