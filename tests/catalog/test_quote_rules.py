"""The rules of quotes (``catalog.quote_rules``, issue 14 §2), pure: who may take which step from which state, the
parts / labour split of a repair (CCTP CAIH 2.1.17), and the three milestones of works on quote (CCTP CPAM 5-1-4,
5-2, 5-3-1) counted in the tenant's territory, done in time, late, or past their deadline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest

from catalog import quote_rules as rules
from tenants.calendars import BusinessCalendar

METROPOLE = BusinessCalendar.preset("metropole", "ho-8-18")
ALSACE = BusinessCalendar.preset("alsace-moselle", "ho-8-18")


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def at(text: str, calendar: BusinessCalendar = METROPOLE) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=calendar.zone)


def _milestones(calendar=METROPOLE, **given):
    fields = {"state": "requested", "site_visit_on": None, "answered_at": None, "accepted_at": None,
              "works_started_on": None, "commissioned_on": None, "received_at": None}
    fields.update(given)
    now = fields.pop("now")
    return {m.key: m for m in rules.milestones(calendar, now=now, **fields)}


def test_each_step_starts_from_its_states_and_says_why_not():
    assert rules.check_transition("requested", "answer") == "answered"
    assert rules.check_transition("answered", "accept") == "accepted"
    assert rules.check_transition("answered", "refuse") == "refused"
    assert rules.check_transition("requested", "cancel") == "cancelled"
    assert rules.check_transition("answered", "cancel") == "cancelled"
    # The titulaire's records keep the state.
    assert rules.check_transition("requested", "visit") == "requested"
    assert rules.check_transition("accepted", "start_works") == "accepted"
    with pytest.raises(rules.QuoteRuleError) as exc:
        rules.check_transition("requested", "accept")
    assert str(exc.value) == "Impossible d'accepter un devis « demandé » : il doit être « chiffré »."
    with pytest.raises(rules.QuoteRuleError, match="« accepté »"):
        rules.check_transition("accepted", "cancel")
    with pytest.raises(rules.QuoteRuleError, match="visite de site"):
        rules.check_transition("answered", "visit")
    with pytest.raises(rules.QuoteRuleError, match="Action inconnue"):
        rules.check_transition("requested", "sign")
    # The buyer decides, the titulaire's operator answers and records.
    assert {a for a, p in rules.ACTION_PERMISSIONS.items() if p == "order"} == {"request", "accept", "refuse",
                                                                              "cancel"}
    assert {a for a, p in rules.ACTION_PERMISSIONS.items() if p == "answer_quotes"} == {
        "visit", "answer", "start_works", "commission"}


def test_a_repair_shows_its_parts_and_its_labour_apart():
    # CCTP CAIH 2.1.17: « le coût des pièces et de la main d'œuvre ».
    assert rules.default_nature("supply") == "parts"
    assert rules.default_nature("installation") == "labour"
    lines = [SimpleNamespace(nature="parts", total_ht=Decimal("120.40")),
             SimpleNamespace(nature="labour", total_ht=Decimal("85.00")),
             SimpleNamespace(nature="parts", total_ht=Decimal("9.60"))]
    assert rules.parts_and_labour(lines) == (Decimal("130.00"), Decimal("85.00"))
    assert rules.parts_and_labour([]) == (Decimal("0.00"), Decimal("0.00"))


def test_no_clock_runs_before_the_site_visit():
    items = _milestones(now=at("2026-11-02 09:00"))
    assert [(k, m.status, m.deadline) for k, m in items.items()] == [
        ("quote", "waiting", None), ("works", "waiting", None), ("reception", "waiting", None)]
    assert rules.pending_milestone(items.values()) is None


@pytest.mark.parametrize(("calendar", "last_day"), [(METROPOLE, "2026-11-20"), (ALSACE, "2026-11-20")])
def test_the_quote_is_due_14_working_days_after_the_visit_armistice_skipped(calendar, last_day):
    # CCTP CPAM 5-1-4: visit on Tuesday 3 November 2026; Monday to Saturday count, Sunday and 11 November do not.
    items = _milestones(calendar, site_visit_on=day("2026-11-03"), now=at("2026-11-20 17:00", calendar))
    quote = items["quote"]
    assert (quote.status, quote.deadline.last_day) == ("pending", day(last_day))
    assert rules.pending_milestone(items.values()) is quote
    # From the midnight after the last day, overdue.
    late = _milestones(calendar, site_visit_on=day("2026-11-03"), now=at("2026-11-21 00:00", calendar))["quote"]
    assert late.status == "overdue"


@pytest.mark.parametrize(("calendar", "last_day"), [(METROPOLE, "2027-01-08"), (ALSACE, "2027-01-09")])
def test_christmas_week_visit_and_alsace_moselle_saint_etienne(calendar, last_day):
    # Visit on Monday 21 December: the 25th and 1 January are holidays everywhere, the 26th in Alsace-Moselle.
    quote = _milestones(calendar, site_visit_on=day("2026-12-21"), now=at("2026-12-22 10:00", calendar))["quote"]
    assert quote.deadline.last_day == day(last_day)


def test_answered_in_time_then_works_and_reception_clocks():
    base = {"state": "accepted", "site_visit_on": day("2026-11-03"), "answered_at": at("2026-11-20 16:00"),
            "accepted_at": at("2026-11-23 09:30")}
    items = _milestones(**base, now=at("2026-11-24 09:00"))
    assert items["quote"].status == "done"
    works = items["works"]
    # CCTP CPAM 5-2: 21 jours ouvrables from Monday 23 November: 24 November … 17 December (three Sundays out).
    assert (works.status, works.deadline.last_day) == ("pending", day("2026-12-17"))
    assert items["reception"].status == "waiting"
    # Works started on the last day: in time; commissioned on 8 January, the reception is due 14 calendar days
    # later (CCTP CPAM 5-3-1), 22 January.
    started = _milestones(**base, works_started_on=day("2026-12-17"), commissioned_on=day("2027-01-08"),
                          now=at("2027-01-10 10:00"))
    assert started["works"].status == "done"
    assert (started["reception"].status, started["reception"].deadline.last_day) == ("pending", day("2027-01-22"))
    received = _milestones(**base, works_started_on=day("2026-12-17"), commissioned_on=day("2027-01-08"),
                           received_at=at("2027-01-25 11:00"), now=at("2027-02-01 10:00"))
    assert received["reception"].status == "late"  # done, but after its deadline: stays « hors délai »


def test_a_quote_answered_late_stays_late_and_a_refused_one_has_nothing_pending():
    late = _milestones(site_visit_on=day("2026-11-03"), answered_at=at("2026-11-23 08:00"), state="answered",
                       now=at("2026-11-23 09:00"))
    assert late["quote"].status == "late"
    refused = _milestones(site_visit_on=day("2026-11-03"), state="refused", now=at("2026-11-30 09:00"))
    assert "quote" not in refused and rules.pending_milestone(refused.values()) is None
