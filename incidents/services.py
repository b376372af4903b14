"""The public services of ``incidents`` for the components above it (``billing``, ``reporting``): what they may
call, re-exported from the modules that implement them, so that they never reach incidents' models or private
names (pyproject.toml's import contracts).

- The service indicators of CCTP CAIH 2.1.26 (per establishment) and 2.1.27 (the lot), month by month or over a
  period (a semester's report; CAIH 6.1 « le taux de respect du GTR » at the COPIL): ``incidents.indicators`` (the
  pure core) and ``incidents.indicator_data`` (the tickets' facts read in the caller's tenant scope).
- What the titulaire did over a period (CPAM 5-4-8's yearly report, TGD IV.6's committee report): tickets with their
  deadlines, interventions, yearly visits and monthly remote checks (``incidents.report_facts``), and the visit plan
  (``incidents.maintenance.visit_plan``: the yearly visit of each charge point, late or not).
"""

from __future__ import annotations

from incidents.indicator_data import central_indicators, central_period_indicators, tenant_indicators
from incidents.indicators import (
    LOT_TARGETS,
    SITE_TARGETS,
    LotIndicators,
    Month,
    MonthIndicators,
    PeriodIndicators,
    Targets,
)
from incidents.maintenance import VisitLine, visit_plan
from incidents.report_facts import (
    InterventionFact,
    MaintenanceFacts,
    RemoteCheckFact,
    TicketFact,
    VisitFact,
    maintenance_facts,
)

__all__ = [
    "LOT_TARGETS",
    "SITE_TARGETS",
    "InterventionFact",
    "LotIndicators",
    "MaintenanceFacts",
    "Month",
    "MonthIndicators",
    "PeriodIndicators",
    "RemoteCheckFact",
    "Targets",
    "TicketFact",
    "VisitFact",
    "VisitLine",
    "central_indicators",
    "central_period_indicators",
    "maintenance_facts",
    "tenant_indicators",
    "visit_plan",
]
