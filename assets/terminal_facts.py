"""The alert terminals' history as anonymous facts, for the committee report of CCP TGD IV.6 (``reporting``).

IV.6: « un « reporting » retraçant pour chaque terminal l'historique des événements traités et visant à pointer
plus particulièrement les terminaux dont les tests ne sont pas effectués dans les délais demandés […], cet état est
anonymisé ». So these facts carry the line, its assignments (reference, dates), the moments of its test calls and
its device exchanges — never a file's person, nor a test call's note. Three statements per call, in the caller's
tenant scope.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from assets.models import TgdAssignment, TgdExchange, TgdFile, TgdLine, TgdTestCall
from assets.terminals import line_reference

__all__ = ["AssignmentFact", "ExchangeFact", "TerminalFacts", "terminal_facts"]


@dataclass(frozen=True)
class AssignmentFact:
    reference: str
    assigned_at: dt.datetime
    closed_at: dt.datetime | None
    #: The moments of the user's test calls (annexe 2, II.2.2), in time order.
    tests: tuple[dt.datetime, ...]


@dataclass(frozen=True)
class ExchangeFact:
    """A faulty device exchanged (annexe 2, I.4: « dans un délai maximum de 24 heures »)."""

    old_serial: str
    new_serial: str
    fault_reported_at: dt.datetime
    exchanged_at: dt.datetime
    due_at: dt.datetime
    late: bool


@dataclass(frozen=True)
class TerminalFacts:
    """One line (« la référence unique est attachée au numéro de la ligne du terminal d'alerte »)."""

    line: str
    phone_number: str
    device_serial: str
    created_at: dt.datetime
    #: A fault reported and not exchanged yet.
    fault_reported_at: dt.datetime | None
    assignments: list[AssignmentFact] = field(default_factory=list)
    exchanges: list[ExchangeFact] = field(default_factory=list)


async def terminal_facts(session: AsyncSession, tenant_id: uuid.UUID) -> list[TerminalFacts]:
    """Every line of the tenant, by court and order number, with its whole anonymous history."""
    lines = list(await session.scalars(select(TgdLine).where(TgdLine.tenant_id == tenant_id)
                                       .order_by(TgdLine.insee_code, TgdLine.order_number)))
    tests: dict[uuid.UUID, list[dt.datetime]] = {}
    for assignment_id, called_at in (await session.execute(
            select(TgdFile.assignment_id, TgdTestCall.called_at)
            .join(TgdFile, and_(TgdFile.tenant_id == TgdTestCall.tenant_id, TgdFile.id == TgdTestCall.file_id))
            .where(TgdTestCall.tenant_id == tenant_id).order_by(TgdTestCall.called_at))).all():
        tests.setdefault(assignment_id, []).append(called_at)
    assignments: dict[uuid.UUID, list[AssignmentFact]] = {}
    for a in await session.scalars(select(TgdAssignment).where(TgdAssignment.tenant_id == tenant_id)
                                   .order_by(TgdAssignment.index)):
        assignments.setdefault(a.line_id, []).append(
            AssignmentFact(a.reference, a.assigned_at, a.closed_at, tuple(tests.get(a.id, ()))))
    exchanges: dict[uuid.UUID, list[ExchangeFact]] = {}
    for e in await session.scalars(select(TgdExchange).where(TgdExchange.tenant_id == tenant_id)
                                   .order_by(TgdExchange.exchanged_at)):
        exchanges.setdefault(e.line_id, []).append(
            ExchangeFact(e.old_serial, e.new_serial, e.fault_reported_at, e.exchanged_at, e.due_at, e.late))
    return [TerminalFacts(
        line=line_reference(line),
        phone_number=line.phone_number, device_serial=line.device_serial, created_at=line.created_at,
        fault_reported_at=line.fault_reported_at, assignments=assignments.get(line.id, []),
        exchanges=exchanges.get(line.id, [])) for line in lines]
