"""The load-sharing allocator on its own (CCTP CPAM article 4: gestion dynamique de
l'appel de courant selon la puissance résiduelle disponible sur le site)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.load_sharing import (
    MIN_CURRENT,
    VOLTAGE,
    Demand,
    allocate,
    charging_profile_16,
    charging_profile_201,
)

KW = 1000.0


def test_three_sessions_share_a_budget_equally():
    demands = [Demand(i, 7 * KW, started_order=i) for i in range(3)]
    result = allocate(15 * KW, demands)
    assert [round(result[i].limit_w) for i in range(3)] == [5000, 5000, 5000]


def test_a_small_point_leaves_its_unused_share_to_the_others():
    demands = [Demand("a", 3 * KW), Demand("b", 22 * KW, phases=3), Demand("c", 22 * KW, phases=3)]
    result = allocate(30 * KW, demands)
    assert result["a"].limit_w == 3000
    assert result["b"].limit_w == result["c"].limit_w == 13500


def test_budget_above_demand_gives_every_session_its_maximum():
    result = allocate(100 * KW, [Demand("a", 7 * KW), Demand("b", 11 * KW, phases=3)])
    assert (result["a"].limit_w, result["b"].limit_w) == (7000, 11000)


def test_when_minimums_do_not_fit_the_latest_session_is_paused_not_starved_below_6a():
    # 6 A single-phase = 1380 W; 3000 W fits two minimums, not three.
    demands = [Demand(i, 7 * KW, started_order=i) for i in range(3)]
    result = allocate(3000, demands)
    assert result[2].paused
    assert result[0].limit_w == result[1].limit_w == 1500


def test_priority_class_keeps_its_minimum_first_and_is_filled_first():
    demands = [Demand("late-vip", 7 * KW, priority=1, started_order=9), Demand("early", 7 * KW, started_order=0)]
    result = allocate(8 * KW, demands)
    assert result["late-vip"].limit_w == 8000 - 1380
    assert result["early"].limit_w == 1380.0


def test_profile_carries_the_current_per_phase():
    alloc = allocate(11 * KW, [Demand("t", 22 * KW, phases=3)])["t"]
    profile = charging_profile_16(alloc, transaction_id=42)
    period = profile["chargingSchedule"]["chargingSchedulePeriod"][0]
    assert profile["transactionId"] == 42 and profile["chargingProfilePurpose"] == "TxProfile"
    assert (period["limit"], period["numberPhases"]) == (15.9, 3)


demand_lists = st.lists(
    st.builds(
        Demand,
        key=st.uuids(),
        max_w=st.sampled_from([3700.0, 7000.0, 11000.0, 22000.0]),
        phases=st.sampled_from([1, 3]),
        priority=st.integers(0, 2),
        started_order=st.floats(0, 1000),
    ),
    max_size=12,
    unique_by=lambda d: d.key,
)


@settings(max_examples=300, deadline=None)
@given(budget=st.floats(0, 200_000), demands=demand_lists)
def test_allocation_invariants(budget, demands):
    result = allocate(budget, demands)
    assert set(result) == {d.key for d in demands}
    assert sum(a.limit_w for a in result.values()) <= budget + 1e-3
    for d in demands:
        limit = result[d.key].limit_w
        assert limit == 0 or d.min_w - 1e-3 <= limit <= d.max_w + 1e-3
    # Max-min fairness inside a priority class: a session below its maximum is not
    # given less than any other active session of the same class (beyond that one's
    # own minimum, which may be higher: 6 A on three phases).
    for d in demands:
        a = result[d.key].limit_w
        if 0 < a < d.max_w - 1e-3:
            for other in demands:
                if other.priority == d.priority and result[other.key].limit_w > 0:
                    assert result[other.key].limit_w <= max(a, other.min_w) + 1e-3
    # Work conservation: power is left over only when every active session is at its max
    # or a paused session could not get its minimum.
    left = budget - sum(a.limit_w for a in result.values())
    active_below_max = [d for d in demands if 0 < result[d.key].limit_w < d.max_w - 1e-3]
    if active_below_max:
        assert left < 1e-2


def test_minimum_is_the_iec_6a_per_phase():
    assert Demand("x", 22 * KW, phases=3).min_w == MIN_CURRENT * VOLTAGE * 3


def test_a_site_may_ask_for_a_higher_minimum_but_never_below_6a():
    assert Demand("x", 22 * KW, phases=3, min_current=10).min_w == 10 * VOLTAGE * 3
    assert Demand("x", 22 * KW, phases=3, min_current=2).min_w == MIN_CURRENT * VOLTAGE * 3
    # 10 A on three phases is 6.9 kW: 12 kW holds one such session, not two.
    result = allocate(12 * KW, [Demand(i, 22 * KW, phases=3, min_current=10, started_order=i) for i in range(2)])
    assert (result[0].limit_w, result[1].paused) == (12 * KW, True)


def test_the_201_profile_is_the_same_limit_in_a_list_of_schedules():
    alloc = allocate(11 * KW, [Demand("t", 22 * KW, phases=3)])["t"]
    profile = charging_profile_201(alloc, profile_id=7, transaction_id="TX-1")
    assert profile == {
        "id": 7, "stackLevel": 1, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "transactionId": "TX-1",
        "chargingSchedule": [{"id": 7, "chargingRateUnit": "A",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 15.9, "numberPhases": 3}]}],
    }
