"""The deadlines of ordering (``catalog.deadlines``, issue 14 §2–§3), pure: the quote and works delays in working
days of the tenant's territory across a French and an Alsace-Moselle holiday (CCTP CPAM 5-1-4, 5-2, 5-3-1), the
10-day amendment notice and the 5-day deemed acceptance (CCP TGD VI.3), the 15-day decision delay and the line
decisions (VII.3), recurring maintenance (CCTP CAIH 2.1.32) and the 30-minute infogérance tickets (2.1.7)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from catalog import deadlines as d
from tenants.calendars import BusinessCalendar

D = Decimal
METROPOLE = BusinessCalendar.preset("metropole", "ho-8-18")
ALSACE = BusinessCalendar.preset("alsace-moselle", "ho-8-18")


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@pytest.mark.parametrize(("calendar", "last_day"), [(METROPOLE, "2027-01-05"), (ALSACE, "2027-01-06")])
def test_quote_within_14_working_days_of_the_site_visit_across_christmas(calendar, last_day):
    # CCTP CPAM 5-1-4 « 14 jours ouvrables »: Monday to Saturday, Christmas and New Year's Day skipped;
    # Alsace-Moselle also skips the 26th (Saint-Étienne), one day later.
    due = d.quote_due(calendar, day("2026-12-17"))
    assert due.last_day == day(last_day)
    assert due.expires_at == dt.datetime.combine(day(last_day) + dt.timedelta(days=1), dt.time(0),
                                                 tzinfo=calendar.zone)
    assert due.describe() == f"Émission du devis : au plus tard le {day(last_day):%d/%m/%Y} (CCTP CPAM 5-1-4)"
    # Overdue from the midnight after the last day, unless the quote was sent in time.
    assert not due.is_overdue(due.expires_at - dt.timedelta(seconds=1))
    assert due.is_overdue(due.expires_at)
    assert not due.is_overdue(due.expires_at, done_at=due.expires_at - dt.timedelta(hours=1))
    assert due.is_overdue(due.expires_at + dt.timedelta(days=1), done_at=due.expires_at)


@pytest.mark.parametrize(("calendar", "last_day"), [(METROPOLE, "2027-04-14"), (ALSACE, "2027-04-15")])
def test_works_started_within_21_working_days_of_the_approval_across_good_friday(calendar, last_day):
    # CCTP CPAM 5-2 « 21 jours ouvrables »: Easter Monday 2027-03-29 everywhere, Good Friday 2027-03-26
    # only in Alsace-Moselle.
    assert d.works_start_due(calendar, day("2027-03-19")).last_day == day(last_day)


def test_acceptance_within_14_calendar_days_of_commissioning():
    # CCTP CPAM 5-3-1 « 14 jours calendaires »: holidays count.
    assert d.acceptance_due(METROPOLE, day("2026-12-20")).last_day == day("2027-01-03")


def test_an_amendment_notified_less_than_ten_days_ahead_is_refused_with_the_rule():
    effective = day("2026-12-20")
    assert d.latest_amendment_notification(effective) == day("2026-12-10")
    assert d.amendment_notice_refusal(day("2026-12-10"), effective) is None
    refusal = d.amendment_notice_refusal(day("2026-12-11"), effective)
    assert refusal is not None and "CCP TGD VI.3" in refusal
    assert "pour une prise d'effet le 20/12/2026, il fallait le notifier au plus tard le 10/12/2026" in refusal


@pytest.mark.parametrize(("calendar", "last_day"), [(METROPOLE, "2027-03-26"), (ALSACE, "2027-03-30")])
def test_amendment_deemed_accepted_five_days_after_notification(calendar, last_day):
    # CCP TGD VI.3 « cinq jours à compter de la notification », counted as CCAG-TIC 3.2: from Sunday
    # 2027-03-21 the fifth day is Friday 26 — Good Friday in Alsace-Moselle, so carried past the weekend
    # and Easter Monday to Tuesday 30.
    notified = dt.datetime(2027, 3, 21, 10, 0, tzinfo=calendar.zone)
    deadline = d.amendment_deemed_accepted_at(calendar, notified)
    assert deadline.last_day == day(last_day)
    assert not d.is_amendment_deemed_accepted(calendar, notified, deadline.expires_at - dt.timedelta(seconds=1))
    assert d.is_amendment_deemed_accepted(calendar, notified, deadline.expires_at)
    # Observations sent in time: not *deemed* accepted; sent late: they change nothing.
    assert not d.is_amendment_deemed_accepted(calendar, notified, deadline.expires_at + dt.timedelta(days=9),
                                              observations_at=notified + dt.timedelta(days=2))
    assert d.is_amendment_deemed_accepted(calendar, notified, deadline.expires_at + dt.timedelta(days=9),
                                          observations_at=deadline.expires_at)


def test_a_naive_notification_instant_is_refused():
    with pytest.raises(ValueError, match="sans fuseau horaire"):
        d.amendment_deemed_accepted_at(METROPOLE, dt.datetime(2027, 3, 21, 10, 0))


def test_decision_within_15_days_carried_past_christmas():
    # CCP TGD VII.3 « quinze jours »: from 2026-12-10 the 15th day is Friday 25 (Christmas), carried to
    # Monday 28.
    due = d.decision_due(METROPOLE, day("2026-12-10"))
    assert (due.last_day, due.article) == (day("2026-12-28"), "CCP TGD VII.3")


@pytest.mark.parametrize(("decision", "problems"), [
    (d.LineDecision("reception", D("5"), D("5"), D("0")), []),
    (d.LineDecision("reception", D("5"), D("4"), D("0")),
     ["Les quantités acceptée (4) et refusée (0) doivent faire la quantité livrée (5)."]),
    (d.LineDecision("reception_reserves", D("5"), D("5"), D("0"), reserves_deadline=day("2027-01-15")), []),
    (d.LineDecision("reception_reserves", D("5"), D("5"), D("0")),
     ["Une réception avec réserves fixe le délai pour les lever (CCP TGD VII.3)."]),
    (d.LineDecision("reception_reserves", D("5"), D("5"), D("0"), reserves_deadline=day("2026-12-15")),
     ["Le délai pour lever les réserves doit être postérieur à la décision."]),
    (d.LineDecision("refaction", D("5"), D("5"), D("0"), refaction_amount=D("120.50")), []),
    (d.LineDecision("refaction", D("5"), D("5"), D("0")),
     ["Une réception avec réfaction indique le montant de la réfaction."]),
    (d.LineDecision("reception", D("5"), D("5"), D("0"), refaction_amount=D("1")),
     ["Un montant de réfaction n'est possible que pour une réception avec réfaction."]),
    (d.LineDecision("ajournement", D("5"), D("0"), D("0")), []),
    (d.LineDecision("ajournement", D("5"), D("2"), D("0")),
     ["Un ajournement ne reçoit ni ne rejette de quantité : le titulaire présente à nouveau la livraison."]),
    (d.LineDecision("rejet", D("5"), D("0"), D("5")), []),
    (d.LineDecision("rejet", D("5"), D("1"), D("4")), ["Un rejet n'accepte aucune quantité."]),
    (d.LineDecision("reception", D("5"), D("-1"), D("6")), ["La quantité acceptée ne peut pas être négative."]),
    (d.LineDecision("reception", D("2.5"), D("0"), D("2.5")),
     ["Une décision « Réception » accepte au moins une partie de la livraison."]),
])
def test_line_decisions_and_their_quantities(decision, problems):
    assert d.line_decision_problems(decision, decided_on=day("2026-12-15")) == problems


def test_an_unknown_decision_names_the_five_of_vii_3():
    [problem] = d.line_decision_problems(d.LineDecision("accord", D("1"), D("1"), D("0")),
                                         decided_on=day("2026-12-15"))
    assert problem.startswith("Décision inconnue : « accord »") and "Réception avec réfaction" in problem


def test_first_recurring_order_executed_within_30_days():
    # CCTP CAIH 2.1.32 « dans un délai de 30 jours maximum ».
    assert d.first_order_execution_due(METROPOLE, day("2026-12-10")).last_day == day("2027-01-09")


def test_anniversaries_of_an_agreement_started_on_29_february():
    assert d.anniversaries(day("2024-02-29"), day("2028-03-01")) == [
        day("2025-02-28"), day("2026-02-28"), day("2027-02-28"), day("2028-02-29")]
    assert d.add_months(day("2027-03-31"), -1) == day("2027-02-28")


def test_park_update_declared_less_than_a_month_ahead_waits_for_the_next_anniversary():
    # CCTP CAIH 2.1.32 « au plus tard un mois avant la date anniversaire »: for 2026-01-15, by 2025-12-15.
    assert d.park_declaration_deadline(day("2026-01-15")) == day("2025-12-15")
    assert d.renewal_anniversary(day("2025-01-15"), day("2025-12-15")) == day("2026-01-15")
    assert d.renewal_anniversary(day("2025-01-15"), day("2025-12-16")) == day("2027-01-15")


@pytest.mark.parametrize(("change", "percent", "complementary"), [
    ("1000.00", "10.00", False),  # exactly 10 %: not « supérieure à 10% »
    ("1000.01", "10.00", True),  # above, though it rounds to 10.00 %
    ("-1500", "15.00", True),  # exits change the park too
    ("250", "2.50", False),
])
def test_park_change_above_ten_percent_gives_a_complementary_order(change, percent, complementary):
    outcome = d.park_change_outcome(D("10000.00"), D(change))
    assert (outcome.percent, outcome.complementary_order) == (D(percent), complementary)
    assert ("commande complémentaire" in outcome.describe()) is complementary


def test_park_change_refuses_a_zero_annual_amount():
    with pytest.raises(ValueError, match="commande annuelle"):
        d.park_change_outcome(D("0"), D("10"))


@pytest.mark.parametrize(("minutes", "units"), [(0, 0), (1, 1), (30, 1), (31, 2), (60, 2), (61, 3)])
def test_a_started_ticket_is_consumed_whole(minutes, units):
    # CCTP CAIH 2.1.7 « Tout ticket entamé est réputé entièrement consommé ».
    assert d.ticket_units(dt.timedelta(minutes=minutes)) == units


def test_ticket_balance_shows_the_overdraft():
    within = d.ticket_balance(10, [dt.timedelta(minutes=10), dt.timedelta(minutes=45)])
    assert (within.consumed, within.remaining, within.overdraft) == (3, 7, 0)
    assert within.describe() == "7 ticket(s) de 30 min restant(s) sur 10 commandé(s)."
    over = d.ticket_balance(2, [dt.timedelta(minutes=31), dt.timedelta(minutes=1)])
    assert (over.consumed, over.remaining, over.overdraft) == (3, 0, 1)
    assert "dépassement de 1 ticket(s)" in over.describe()
    with pytest.raises(ValueError):
        d.ticket_balance(-1, [])
