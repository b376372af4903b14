"""The service option a beneficiary ordered, read from its SLA policy versions (the coordinator's semester report:
CCTP CAIH 5 « La répartition des commandes annuelles sur chacune des options »).

The options of the tenders are the service window and the service level:

- CCTP CAIH 2.1.21 « DEFINITION DES PLAGES HORAIRES »: « Heures Ouvrées (HO) : Du lundi au Vendredi de 8h00 à
  18h00 hors jours fériés » or « 24/24 7/7 : Du lundi au Dimanche 24/24 y compris jours fériés »; CCTP CANUT 6.6
  offers the same « Option 24h/7j » on the P0 and P1 rows.
- CCTP CAIH 2.1.22 « NIVEAUX DE SERVICES »: « Les niveaux de service 4H, 10H00 et 50H00 sont définis pour des délais
  de Garantie de Temps de Rétablissement (GTR) concernant la maintenance, et de Garantie de Temps d'Intervention
  (GTI) concernant l'infogérance », « Les délais sont compris dans les plages horaires […] commandées par le
  bénéficiaire ».

A policy (``incidents.sla.SlaPolicy``) gives both:

- the window is « 24/7 » when one of its levels counts a delay in hours around the clock (``24x7``), « HO »
  otherwise (every delay in hours counted in business hours; delays in days do not say);
- the level is the policy's default level, the one a ticket takes when none is given: the level the beneficiary
  ordered (CAIH's templates: « 4h », « 10h » or « 50h »), named by its delay (« GTR 4 h », « GTI 10 h » for
  infogérance). A policy that grades each incident instead (CANUT 6.6's incident types, CPAM 5-4-5's restoration
  levels) has no ordered level: « ».

``service_option_periods`` gives each tenant's versions in order with the option of each; the version in force at
a date is the last one made before it (the caller's rule: ``reporting.workbook``). A tenant without any version
gets the template of its central, as ``incidents.tickets.current_policy`` would make it on first use (nothing is
written here).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incidents.models import SlaPolicyVersion
from incidents.sla import Delay, SlaPolicy, policy_template
from incidents.tickets import default_templates

__all__ = ["WINDOWS", "PolicyPeriod", "ServiceOption", "service_option", "service_option_periods"]

#: CAIH 2.1.21's windows, in the order the report lists them.
WINDOWS = ("HO", "24/7")


@dataclass(frozen=True, slots=True, order=True)
class ServiceOption:
    """A window (``WINDOWS``) and an ordered level (« GTR 4 h », « » when the policy grades each incident);
    ordered HO first, then by the level's delay."""

    rank: tuple[int, int, str]
    window: str
    level: str


@dataclass(frozen=True, slots=True)
class PolicyPeriod:
    """One policy version of a tenant: from when (UTC; ``None``: no version recorded, the central's template),
    and its option."""

    since: dt.datetime | None
    option: ServiceOption


def _hours(delay: Delay | None) -> int | None:
    return delay.minutes if delay is not None and delay.kind is None and delay.minutes > 0 else None


def service_option(policy: SlaPolicy) -> ServiceOption:
    """The window and the ordered level of ``policy`` (the module's docstring)."""
    around_the_clock = any(
        _hours(delay) is not None and delay.calendar == "24x7"
        for level in (*policy.levels.values(), *policy.restoration_levels.values())
        for delay in (level.intervention, level.restoration))
    window = 1 if around_the_clock else 0
    level, minutes = "", 0
    if not policy.incident_types and not policy.restoration_levels:
        ordered = policy.levels[policy.default_level]
        for name, delay in (("GTR", ordered.restoration), ("GTI", ordered.intervention)):
            found = _hours(delay)
            if found is not None:
                h, m = divmod(found, 60)
                level, minutes = f"{name} {h} h" + (f" {m:02d}" if m else ""), found
                break
        else:
            level = ordered.label
    return ServiceOption((window, minutes, level), WINDOWS[window], level)


async def service_option_periods(session: AsyncSession,
                                 tenant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[PolicyPeriod, ...]]:
    """Per tenant, its policy versions, oldest first, each with its option; one period ``since=None`` from its
    central's template for a tenant that has none. Read in the caller's tenant scope."""
    ids = list(tenant_ids)
    if not ids:
        return {}
    found: dict[uuid.UUID, list[PolicyPeriod]] = {tid: [] for tid in ids}
    for tid, created_at, data in await session.execute(
            select(SlaPolicyVersion.tenant_id, SlaPolicyVersion.created_at, SlaPolicyVersion.policy)
            .where(SlaPolicyVersion.tenant_id.in_(ids))
            .order_by(SlaPolicyVersion.tenant_id, SlaPolicyVersion.version)):
        found[tid].append(PolicyPeriod(created_at, service_option(SlaPolicy.from_dict(data))))
    missing = [tid for tid, periods in found.items() if not periods]
    for tid, template in (await default_templates(session, missing)).items():
        found[tid].append(PolicyPeriod(None, service_option(policy_template(template))))
    return {tid: tuple(periods) for tid, periods in found.items() if periods}
