"""The pure rules of the agents' badge requests (CCTP CPAM 5-5-5-3): transitions, the 24 h / 72 h clocks,
the refusal's reason, the plate."""

from __future__ import annotations

import datetime as dt

import pytest

from catalog.badge_request_rules import (
    APPROVAL_DELAY,
    SHIPMENT_DELAY,
    TransitionRefused,
    check_plate,
    check_refusal_reason,
    check_transition,
    current_due,
    is_overdue,
    reminder_due,
)

T0 = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def test_the_delays_are_those_of_the_cctp():
    # CCTP CPAM 5-5-5-3: « 24h à partir de la réception de la demande », « 72h à partir de l'autorisation écrite »
    assert APPROVAL_DELAY == 24 * H and SHIPMENT_DELAY == 72 * H


@pytest.mark.parametrize(("state", "action", "target"), [
    ("requested", "approve", "approved"), ("requested", "refuse", "refused"), ("requested", "cancel", "cancelled"),
    ("approved", "ship", "shipped"), ("shipped", "activate", "activated"),
])
def test_allowed_transitions(state, action, target):
    assert check_transition(state, action) == target


@pytest.mark.parametrize(("state", "action", "message"), [
    ("approved", "approve", "Une demande approuvée ne peut pas être approuvée."),
    ("refused", "approve", "Une demande refusée ne peut pas être approuvée."),
    ("requested", "ship", "Une demande demandée ne peut pas être expédiée."),
    ("approved", "cancel", "Une demande approuvée ne peut pas être annulée."),
    ("shipped", "refuse", "Une demande expédiée ne peut pas être refusée."),
    ("cancelled", "ship", "Une demande annulée ne peut pas être expédiée."),
    ("requested", "activate", "Une demande demandée ne peut pas être activée."),
    ("activated", "ship", "Une demande activée ne peut pas être expédiée."),
])
def test_wrong_transitions_are_refused_in_french(state, action, message):
    with pytest.raises(TransitionRefused) as refused:
        check_transition(state, action)
    assert refused.value.message == message


def test_the_decision_is_due_24_hours_after_the_request_then_overdue():
    due = current_due("requested", T0, None, T0 + 23 * H)
    assert (due.step, due.deadline, due.overdue) == ("decision", T0 + 24 * H, False)
    assert not is_overdue("requested", T0, None, T0 + 24 * H)  # at the deadline itself: still in time
    assert is_overdue("requested", T0, None, T0 + 24 * H + dt.timedelta(seconds=1))


def test_the_shipment_is_due_72_hours_after_the_approval_not_the_request():
    approved = T0 + 30 * H  # the manager was late: the 72 h start at the written approval
    due = current_due("approved", T0, approved, T0 + 100 * H)
    assert (due.step, due.deadline, due.overdue) == ("shipment", approved + 72 * H, False)
    assert is_overdue("approved", T0, approved, approved + 72 * H + dt.timedelta(minutes=1))


@pytest.mark.parametrize("state", ["refused", "shipped", "activated", "cancelled"])
def test_no_clock_after_the_last_step_owed(state):
    assert current_due(state, T0, T0 + H, T0 + 1000 * H) is None


def test_a_reminder_is_due_once_per_late_step():
    late = T0 + 25 * H
    assert reminder_due("requested", T0, None, T0 + 23 * H, decision_reminded=False, shipment_reminded=False) is None
    assert reminder_due("requested", T0, None, late, decision_reminded=False, shipment_reminded=False) == "decision"
    assert reminder_due("requested", T0, None, late, decision_reminded=True, shipment_reminded=False) is None
    approved = T0 + 2 * H
    much_later = approved + 73 * H
    assert reminder_due("approved", T0, approved, much_later, decision_reminded=True,
                        shipment_reminded=False) == "shipment"
    assert reminder_due("approved", T0, approved, much_later, decision_reminded=True, shipment_reminded=True) is None


def test_a_refusal_needs_a_reason():
    assert check_refusal_reason("  ") == ("", "Indiquez le motif du refus : l'agent le lira.")
    assert check_refusal_reason(" Véhicule   non déclaré ") == ("Véhicule non déclaré", None)
    assert check_refusal_reason("x" * 501)[1] == "Le motif comporte 500 caractères au plus."


@pytest.mark.parametrize(("raw", "plate"), [
    ("ab-123-cd", "AB-123-CD"), ("AB123CD", "AB-123-CD"), (" gh 456 jk ", "GH-456-JK"),
    ("123 ABC 45", "123 ABC 45"), ("123abc45", "123 ABC 45"), ("4567 AB 2A", "4567 AB 2A"),
    ("12 A 972", "12 A 972"),
])
def test_plates_siv_and_fni_are_normalised(raw, plate):
    assert check_plate(raw) == (plate, None)


@pytest.mark.parametrize(("raw", "message"), [
    ("", "L'immatriculation du véhicule est obligatoire."),
    ("AI-123-CD", "Immatriculation invalide : format SIV AA-123-AA ou ancien format 123 ABC 45"),
    ("AB-12-CD", "Immatriculation invalide : format SIV AA-123-AA"),
    ("SS-123-AB", "Immatriculation invalide : ce groupe de lettres"),
    ("AB-000-CD", "Immatriculation invalide : ce groupe de lettres ou ce numéro n'est pas attribué."),
    ("VOITURE", "Immatriculation invalide : format SIV"),
])
def test_bad_plates_are_refused_in_french(raw, message):
    assert check_plate(raw)[1].startswith(message)
