"""Dynamic load management: share a site's power budget among active charges.

CCTP CPAM article 4: the stations have a MID meter "permettant une gestion
dynamique de l'appel de courant afin de s'adapter en temps réel à la puissance
résiduelle disponible sur le site". The residual power of the site (its budget
minus the building's own draw) is shared among the active transactions; the result
is pushed to the stations as charging profiles and recomputed at every start, stop
and budget change.

The allocation is max-min fair ("water filling") inside each priority class:
nobody gets more than a session of the same class that is below its own maximum.
A charge cannot run below the IEC 61851 minimum current (6 A per phase), so when
the budget cannot give every session its minimum, the higher-priority and then
the earliest sessions keep theirs and the others are paused at 0 (they resume
when power frees up). Pure functions: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Allocation", "Demand", "allocate", "charging_profile_16", "charging_profile_201", "phase_current"]

VOLTAGE = 230.0  # V, phase-to-neutral
MIN_CURRENT = 6.0  # A per phase (IEC 61851-1)


@dataclass(frozen=True, slots=True)
class Demand:
    key: Any  # e.g. (charge_box_id, connector_id) or a transaction id
    max_w: float  # the point's rated power (7, 11, 22 kW) or the vehicle's limit
    phases: int = 1
    priority: int = 0  # higher first (CCTP 5-5-4 priority rules feed this)
    started_order: float = 0.0  # earlier sessions keep their minimum first
    min_current: float = MIN_CURRENT  # A per phase; a site may ask for more than the IEC minimum

    @property
    def min_w(self) -> float:
        return min(self.max_w, max(MIN_CURRENT, self.min_current) * VOLTAGE * self.phases)


@dataclass(frozen=True, slots=True)
class Allocation:
    key: Any
    limit_w: float
    phases: int

    @property
    def paused(self) -> bool:
        return self.limit_w <= 0

    @property
    def limit_a(self) -> float:
        return phase_current(self.limit_w, self.phases)


def phase_current(power_w: float, phases: int) -> float:
    """Current per phase (A) for a power on 1 or 3 phases, rounded down to 0.1 A."""
    if power_w <= 0:
        return 0.0
    return int(power_w / (VOLTAGE * phases) * 10) / 10


def allocate(budget_w: float, demands: list[Demand]) -> dict[Any, Allocation]:
    """Limits per demand whose sum never exceeds ``budget_w``."""
    budget = max(0.0, float(budget_w))
    ordered = sorted(demands, key=lambda d: (-d.priority, d.started_order))
    # 1. Admission: each session in priority/arrival order keeps its minimum if it fits.
    admitted: list[Demand] = []
    reserved = 0.0
    for demand in ordered:
        if demand.max_w <= 0:
            continue
        if reserved + demand.min_w <= budget + 1e-9:
            admitted.append(demand)
            reserved += demand.min_w
    limits = {d.key: d.min_w for d in admitted}
    remaining = budget - reserved
    # 2. Water filling, class by class (higher priorities first): find the level L
    #    such that sum(clamp(L, min_i, max_i)) uses the class's power exactly.
    for priority in sorted({d.priority for d in admitted}, reverse=True):
        group = [d for d in admitted if d.priority == priority]
        available = remaining + sum(d.min_w for d in group)

        def used(level: float, group: list[Demand] = group) -> float:
            return sum(min(max(level, d.min_w), d.max_w) for d in group)

        top = max(d.max_w for d in group)
        if used(top) <= available:
            level = top
        else:
            low, high = 0.0, top
            for _ in range(60):
                mid = (low + high) / 2
                low, high = (mid, high) if used(mid) <= available else (low, mid)
            level = low
        for d in group:
            limits[d.key] = min(max(level, d.min_w), d.max_w)
        remaining = max(0.0, available - used(level))
    result = {d.key: Allocation(d.key, 0.0, d.phases) for d in demands}
    for d in admitted:
        # Floor to the milliwatt: rounding must never push the sum above the budget.
        result[d.key] = Allocation(d.key, math.floor(limits[d.key] * 1000) / 1000, d.phases)
    return result


def charging_profile_16(allocation: Allocation, *, profile_id: int = 1, stack_level: int = 1,
                        transaction_id: int | None = None, unit: str = "A") -> dict[str, Any]:
    """An OCPP 1.6 ``csChargingProfiles`` (TxProfile) capping the session at the allocation."""
    limit = allocation.limit_a if unit == "A" else round(allocation.limit_w, 1)
    profile: dict[str, Any] = {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": limit, "numberPhases": allocation.phases}
            ],
        },
    }
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    return profile


def charging_profile_201(allocation: Allocation, *, profile_id: int = 1, stack_level: int = 1,
                         transaction_id: str | None = None, unit: str = "A") -> dict[str, Any]:
    """The OCPP 2.0.1 ``chargingProfile`` (TxProfile) equivalent of ``charging_profile_16``."""
    profile_16 = charging_profile_16(allocation, profile_id=profile_id, stack_level=stack_level, unit=unit)
    profile: dict[str, Any] = {
        "id": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        # 2.0.1: a list of schedules, each with its own id.
        "chargingSchedule": [{"id": profile_id, **profile_16["chargingSchedule"]}],
    }
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    return profile
