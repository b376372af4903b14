"""The public services of ``incidents`` for the components above it (``billing``, ``reporting``): what they may
call, re-exported from the modules that implement them, so that they never reach incidents' models or private
names (pyproject.toml's import contracts).

- The service indicators of CCTP CAIH 2.1.26 (per establishment) and 2.1.27 (the lot), month by month or over a
  period (a semester's report; CAIH 6.1 « le taux de respect du GTR » at the COPIL): ``incidents.indicators`` (the
  pure core) and ``incidents.indicator_data`` (the tickets' facts read in the caller's tenant scope).
- What the titulaire did over a period (CPAM 5-4-8's yearly report, TGD IV.6's committee report): tickets with their
  deadlines, interventions, yearly visits and monthly remote checks (``incidents.report_facts``), and the visit plan
  (``incidents.maintenance.visit_plan``: the yearly visit of each charge point, late or not).
- The service option each beneficiary ordered (CAIH 2.1.21's window, HO or 24/7, and 2.1.22's level, GTR 4 h /
  10 h / 50 h), per version of its policy (``incidents.options``): the semester report's split over the options
  (CAIH 5 « La répartition des commandes annuelles sur chacune des options »).
- A ticket's SLA clocks at a moment, with its number (``ticket_deadlines``): billing's penalties take the overrun of
  the breached deadline (CCP TGD VIII.3 « R = dépassement du délai en pourcentage », VIII.4 the hours late).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from incidents.actions import access_ticket
from incidents.indicator_data import central_indicators, central_period_indicators, tenant_indicators
from incidents.indicators import (
    LOT_TARGETS,
    SITE_TARGETS,
    LotIndicators,
    Month,
    MonthIndicators,
    PeriodIndicators,
    Targets,
    duration_label,
)
from incidents.maintenance import VisitLine, visit_plan
from incidents.options import WINDOWS, PolicyPeriod, ServiceOption, service_option, service_option_periods
from incidents.report_facts import (
    InterventionFact,
    MaintenanceFacts,
    RemoteCheckFact,
    TicketFact,
    VisitFact,
    maintenance_facts,
)
from incidents.sla import DeadlineClock, TicketClock
from incidents.tickets import ticket_clocks

__all__ = [
    "LOT_TARGETS",
    "SITE_TARGETS",
    "WINDOWS",
    "DeadlineClock",
    "InterventionFact",
    "LotIndicators",
    "MaintenanceFacts",
    "Month",
    "MonthIndicators",
    "PeriodIndicators",
    "PolicyPeriod",
    "RemoteCheckFact",
    "ServiceOption",
    "Targets",
    "TicketClock",
    "TicketDeadlines",
    "TicketFact",
    "VisitFact",
    "VisitLine",
    "central_indicators",
    "central_period_indicators",
    "duration_label",
    "maintenance_facts",
    "service_option",
    "service_option_periods",
    "tenant_indicators",
    "ticket_deadlines",
    "visit_plan",
]


@dataclass(frozen=True, slots=True)
class TicketDeadlines:
    """A ticket's number and its clocks (GTI, GTR) at a moment."""

    number: str
    clock: TicketClock


async def ticket_deadlines(session: AsyncSession, tenant_id: uuid.UUID, ticket_id: uuid.UUID,
                           now: dt.datetime) -> TicketDeadlines:
    """The tenant's ticket's clocks at ``now``, rebuilt from its events; ``NotFound`` for another tenant's ticket,
    like one that does not exist."""
    ticket = await access_ticket(session, tenant_id, ticket_id)
    return TicketDeadlines(ticket.number, await ticket_clocks(session, ticket, now))
