"""The TGD alert terminals' rules (CCP TGD annexes 1 and 2), the pure core ``assets.tgd``."""

from __future__ import annotations

import datetime as dt

import pytest

from assets.tgd import (
    destruction_due,
    escalation_state,
    file_creation_due,
    parse_reference,
    reassignable_at,
    reference_for,
)

UTC = dt.UTC


def test_the_reference_is_m_department_insee_order_and_assignment_index():
    # Annexe 1: « M CODE DEPARTEMENTAL CODE INSEE XX Y » — Saint-Denis (La Réunion), first terminal.
    first = reference_for("97411", 1)
    assert str(first) == "M97497411011" and first.line == "M9749741101"
    # The line keeps its reference; each new user takes the next assignment index.
    assert str(first.next_assignment()) == "M97497411012"
    assert str(reference_for("2A004", 5, 3)) == "M2A2A004053"
    assert str(reference_for("72181", 2)) == "M7272181021"
    assert parse_reference("M 974 97411 01 2") == reference_for("97411", 1, 2)
    assert parse_reference("m7272181021").insee == "72181"


@pytest.mark.parametrize("bad", ["", "X7272181011", "M72721810", "M7269266011", "M9749721101", "M7272181001",
                                 "M727218101"])
def test_a_bad_reference_is_refused_in_french(bad):
    with pytest.raises(ValueError, match="référence de terminal invalide|n'est pas une commune|numéro d'ordre"):
        parse_reference(bad)


def test_the_deadlines_of_annex_2():
    referral = dt.datetime(2026, 12, 5, 23, 50, tzinfo=UTC)  # a Saturday night: 24/7
    assert file_creation_due(referral) == dt.datetime(2026, 12, 6, 0, 5, tzinfo=UTC)
    closed = dt.datetime(2026, 10, 31, 10, 0, tzinfo=UTC)
    # 2.4: destroyed four months after the closure (31 October → 28 February), reassignable a week after.
    assert destruction_due(closed) == dt.datetime(2027, 2, 28, 10, 0, tzinfo=UTC)
    assert destruction_due(dt.datetime(2027, 10, 31, tzinfo=UTC)) == dt.datetime(2028, 2, 29, tzinfo=UTC)
    assert reassignable_at(closed) == dt.datetime(2026, 11, 7, 10, 0, tzinfo=UTC)


def test_fifteen_days_without_a_test_call_start_the_escalation():
    assigned = dt.datetime(2026, 12, 1, 9, tzinfo=UTC)
    fresh = escalation_state(assigned, None, assigned + dt.timedelta(days=14))
    assert not fresh.overdue and fresh.escalation_due_at == dt.datetime(2026, 12, 16, 9, tzinfo=UTC)
    assert escalation_state(assigned, None, assigned + dt.timedelta(days=15)).overdue
    tested = escalation_state(assigned, assigned + dt.timedelta(days=10), assigned + dt.timedelta(days=20))
    assert not tested.overdue and tested.escalation_due_at == dt.datetime(2026, 12, 26, 9, tzinfo=UTC)
