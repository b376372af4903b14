"""Business calendars: worked examples from the tenders, daylight-saving days, and
property tests against a reference that walks minute by minute."""

from __future__ import annotations

import functools
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenants.calendars import DAY_KINDS, BusinessCalendar, territory_holidays
from tenants.territories import TERRITORIES

PARIS = ZoneInfo("Europe/Paris")
MINUTE = timedelta(minutes=1)
H = timedelta(hours=1)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


# --------------------------------------------------------------------------- reference
# Deliberately naive: every minute is converted to local time and checked against the
# windows, the holidays (straight from the holidays package) and the closures.


@functools.cache
def _ref_holidays(subdiv: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.France(subdiv=subdiv, years=year))


def ref_open(cal: BusinessCalendar, minute: datetime) -> bool:
    local = minute.astimezone(cal.zone)
    day = local.date()
    if day in cal.closures:
        return False
    if not cal.open_on_holidays and day in _ref_holidays(TERRITORIES[cal.territory].holidays_subdiv, day.year):
        return False
    m = local.hour * 60 + local.minute
    return any(s <= m < e for s, e in cal.windows[day.weekday()])


def ref_add(cal: BusinessCalendar, start: datetime, minutes: int) -> datetime:
    t = start.astimezone(UTC)
    if minutes == 0:
        while not ref_open(cal, t):
            t += MINUTE
        return t
    counted = 0
    while True:
        if ref_open(cal, t):
            counted += 1
            if counted == minutes:
                return t + MINUTE
        t += MINUTE


def ref_between(cal: BusinessCalendar, a: datetime, b: datetime) -> int:
    t, end, n = a.astimezone(UTC), b.astimezone(UTC), 0
    while t < end:
        n += ref_open(cal, t)
        t += MINUTE
    return n


def ref_is_day(cal: BusinessCalendar, day: date, kind: str) -> bool:
    if kind == "calendaires":
        return True
    if day.weekday() >= (5 if kind == "ouvres" else 6) or day in cal.closures:
        return False
    return day not in _ref_holidays(TERRITORIES[cal.territory].holidays_subdiv, day.year)


# --------------------------------------------------------------------------- strategies

# Window boundaries stay out of 01:00-03:00, where the daylight-saving changes of our
# territories happen (a window edge inside a skipped or repeated hour has its own test).
_EDGES = [0, *range(5 * 60, 24 * 60 + 1, 30)]


@st.composite
def day_windows(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    edges = sorted(draw(st.sets(st.sampled_from(_EDGES), max_size=4)))
    if len(edges) % 2:
        edges = edges[:-1]
    return tuple(zip(edges[::2], edges[1::2], strict=True))


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    territory = draw(st.sampled_from(sorted(TERRITORIES)))
    closures = draw(st.frozensets(st.dates(date(2025, 12, 20), date(2027, 1, 10)), max_size=4))
    choice = draw(st.sampled_from(["ho-8-18", "ho-8-17", "24x7", "custom", "custom"]))
    if choice != "custom":
        return BusinessCalendar.preset(territory, choice, closures=closures)
    windows = draw(st.lists(day_windows(), min_size=7, max_size=7).filter(any))
    return BusinessCalendar(territory, tuple(windows), draw(st.booleans()), closures)


# Daylight-saving changes of Paris and Miquelon in 2026, and ordinary weeks.
_DST_DAYS = [datetime(2026, 3, 29), datetime(2026, 10, 25), datetime(2026, 3, 8), datetime(2026, 11, 1)]


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    if draw(st.booleans()):
        base = draw(st.sampled_from(_DST_DAYS)) + timedelta(minutes=draw(st.integers(-5 * 1440, 3 * 1440)))
    else:
        base = datetime(2026, 1, 1) + timedelta(minutes=draw(st.integers(0, 365 * 1440)))
    return base.replace(tzinfo=UTC)


REF = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- properties


@REF
@given(cal=calendars(), start=instants(), minutes=st.integers(0, 50 * 60))
def test_add_business_time_matches_minute_walk(cal: BusinessCalendar, start: datetime, minutes: int) -> None:
    got = cal.add_business_time(start, timedelta(minutes=minutes))
    # Instants compared in UTC: Python never finds a local time in a DST fold (1:00 twice in
    # Saint-Pierre-et-Miquelon on 1 November) equal to a datetime of another zone (PEP 495).
    assert got.astimezone(UTC) == ref_add(cal, start, minutes)
    assert got.tzinfo == cal.zone


@REF
@given(cal=calendars(), start=instants(), span=st.integers(0, 10 * 1440))
def test_business_time_between_matches_minute_walk(cal: BusinessCalendar, start: datetime, span: int) -> None:
    end = start + timedelta(minutes=span)
    assert cal.business_time_between(start, end) == ref_between(cal, start, end) * MINUTE
    assert cal.business_time_between(end, start) == -ref_between(cal, start, end) * MINUTE


@settings(max_examples=150, deadline=None)
@given(cal=calendars(), t=instants())
def test_is_open_and_next_opening_match_minute_walk(cal: BusinessCalendar, t: datetime) -> None:
    assert cal.is_open(t) == ref_open(cal, t)
    assert cal.next_opening(t).astimezone(UTC) == ref_add(cal, t, 0)  # in UTC: see above (PEP 495)


@settings(max_examples=200, deadline=None)
@given(cal=calendars(), start=instants(), seconds=st.integers(1, 400 * 3600), micro=st.integers(0, 999_999))
def test_add_then_between_round_trips(cal: BusinessCalendar, start: datetime, seconds: int, micro: int) -> None:
    start += timedelta(microseconds=micro)
    duration = timedelta(seconds=seconds, microseconds=micro)
    deadline = cal.add_business_time(start, duration)
    assert cal.business_time_between(start, deadline) == duration
    # The earliest such instant: the deadline is open time (or the end of it).
    assert cal.business_time_between(start, deadline - timedelta(microseconds=1)) < duration


@settings(max_examples=150, deadline=None)
@given(cal=calendars(), start=instants(), n=st.integers(0, 30), kind=st.sampled_from(DAY_KINDS))
def test_add_days_matches_day_walk(cal: BusinessCalendar, start: datetime, n: int, kind: str) -> None:
    local = start.astimezone(cal.zone)
    day, at_midnight = local.date(), (local.hour, local.minute) == (0, 0)
    got = cal.add_days(start, n, kind)
    if n == 0:
        expected_day = day
        while not ref_is_day(cal, expected_day, kind):
            expected_day += timedelta(days=1)
        expected = local if expected_day == day and not at_midnight else None
        if expected is None:
            assert got == datetime.combine(expected_day, datetime.min.time(), cal.zone)
        else:
            assert got == expected
        return
    if ref_is_day(cal, day, kind) and not at_midnight:
        counted = 0
        while counted < n:
            day += timedelta(days=1)
            counted += ref_is_day(cal, day, kind)
        assert got.astimezone(cal.zone).date() == day
        assert (got.hour, got.minute) == (local.hour, local.minute) or got.hour == local.hour + 1  # in a skipped hour
    else:
        counted = 1 if ref_is_day(cal, day, kind) else 0
        while counted < n:
            day += timedelta(days=1)
            counted += ref_is_day(cal, day, kind)
        assert got == datetime.combine(day + timedelta(days=1), datetime.min.time(), cal.zone)


# --------------------------------------------------------------------------- worked examples


def test_cpam_level2_le_mans_friday_afternoon() -> None:
    # CCTP CPAM 5-4-4, Niveau 2: "4 heures ouvrés (de 8 heures à 17 heures du lundi au
    # vendredi)": Friday 16:30 -> 30 min on Friday, 3 h 30 on Monday.
    cal = BusinessCalendar.preset("metropole", "ho-8-17")
    assert cal.add_business_time(paris(2026, 11, 20, 16, 30), 4 * H) == paris(2026, 11, 23, 11, 30)


def test_caih_ho_metz_good_friday_and_easter_monday() -> None:
    # CCTP CAIH 2.1.21: "Heures Ouvrées (HO) : du lundi au vendredi de 8h00 à 18h00 hors
    # jours fériés"; Good Friday is a public holiday in Moselle, Easter Monday everywhere.
    metz = BusinessCalendar.preset("alsace-moselle", "ho-8-18")
    assert metz.add_business_time(paris(2026, 4, 2, 17), 4 * H) == paris(2026, 4, 7, 11)
    paris_cal = BusinessCalendar.preset("metropole", "ho-8-18")
    assert paris_cal.add_business_time(paris(2026, 4, 2, 17), 4 * H) == paris(2026, 4, 3, 11)


def test_caih_24x7_includes_public_holidays() -> None:
    # CCTP CAIH 2.1.21: "24/24 7/7 : du lundi au dimanche 24/24 y compris jours fériés".
    cal = BusinessCalendar.preset("alsace-moselle", "24x7")
    assert cal.add_business_time(paris(2026, 12, 24, 22), 4 * H) == paris(2026, 12, 25, 2)
    assert cal.business_time_between(paris(2026, 12, 25), paris(2026, 12, 27)) == 48 * H


def test_landing_on_the_close_is_the_close_not_the_next_opening() -> None:
    cal = BusinessCalendar.preset("metropole", "ho-8-18")
    assert cal.add_business_time(paris(2026, 4, 2, 17), H) == paris(2026, 4, 2, 18)
    assert not cal.is_open(paris(2026, 4, 2, 18))


def test_zero_from_a_closed_instant_is_the_next_opening() -> None:
    cal = BusinessCalendar.preset("metropole", "ho-8-18")
    # Saturday 4 April 2026; Monday 6 is Easter Monday.
    assert cal.add_business_time(paris(2026, 4, 4, 17), timedelta(0)) == paris(2026, 4, 7, 8)
    assert cal.next_opening(paris(2026, 4, 7, 9, 15)) == paris(2026, 4, 7, 9, 15)


def test_new_year_crossing() -> None:
    cal = BusinessCalendar.preset("metropole", "ho-8-18")
    assert cal.add_business_time(paris(2026, 12, 31, 17), 2 * H) == paris(2027, 1, 4, 9)  # 1 Jan holiday, weekend
    assert cal.business_time_between(paris(2026, 12, 31, 17), paris(2027, 1, 4, 9)) == 2 * H
    assert cal.business_time_between(paris(2025, 6, 1), paris(2027, 6, 1)) == (
        cal.business_time_between(paris(2025, 6, 1), paris(2026, 6, 1))
        + cal.business_time_between(paris(2026, 6, 1), paris(2027, 6, 1))
    )


def test_overseas_holidays_and_zones() -> None:
    guadeloupe = BusinessCalendar.preset("971", "ho-8-18")
    at = datetime(2026, 5, 26, 17, tzinfo=ZoneInfo("America/Guadeloupe"))
    # 27 May: abolition of slavery in Guadeloupe, not in metropolitan France.
    assert guadeloupe.add_business_time(at, 2 * H) == datetime(2026, 5, 28, 9, tzinfo=ZoneInfo("America/Guadeloupe"))
    noumea = BusinessCalendar.preset("NC", "ho-8-18")
    due = noumea.add_business_time(datetime(2026, 9, 23, 7, tzinfo=UTC), H)  # 18:00 in Nouméa: closed
    assert due.isoformat() == "2026-09-25T09:00:00+11:00"  # 24 September: Citizenship Day


def test_closures_and_holiday_flag() -> None:
    closed = BusinessCalendar.preset("metropole", "ho-8-18", closures=[date(2026, 8, 14)])
    assert closed.add_business_time(paris(2026, 8, 13, 17), 2 * H) == paris(2026, 8, 17, 9)
    windows = BusinessCalendar.preset("metropole", "ho-8-18").windows
    open_holidays = BusinessCalendar("metropole", windows, open_on_holidays=True)
    assert open_holidays.is_open(paris(2026, 5, 1, 10))
    assert not BusinessCalendar("metropole", windows).is_open(paris(2026, 5, 1, 10))


def test_lunch_break_windows() -> None:
    cal = BusinessCalendar.from_dict({
        "territory": "metropole",
        "windows": {d: ["08:30-12:00", "13:30-17:30"] for d in ("mon", "tue", "wed", "thu", "fri")},
    })
    assert cal.add_business_time(paris(2026, 6, 1, 11), 2 * H) == paris(2026, 6, 1, 14, 30)
    assert cal.business_time_between(paris(2026, 6, 1), paris(2026, 6, 2)) == 7.5 * H


# --------------------------------------------------------------------------- daylight saving


def test_24x7_across_spring_forward_counts_elapsed_hours() -> None:
    cal = BusinessCalendar.preset("metropole", "24x7")
    start = paris(2026, 3, 28, 12)
    assert cal.add_business_time(start, 24 * H) == paris(2026, 3, 29, 13)
    # Python's aware arithmetic in one zone is wall-clock arithmetic: 23 h really elapse.
    naive = start + 24 * H
    assert naive == paris(2026, 3, 29, 12)
    assert naive.astimezone(UTC) - start.astimezone(UTC) == 23 * H


def test_24x7_across_fall_back_counts_elapsed_hours() -> None:
    cal = BusinessCalendar.preset("metropole", "24x7")
    start = paris(2026, 10, 24, 12)
    assert cal.add_business_time(start, 24 * H) == paris(2026, 10, 25, 11)
    assert (start + 24 * H).astimezone(UTC) - start.astimezone(UTC) == 25 * H
    assert cal.business_time_between(paris(2026, 10, 25), paris(2026, 10, 26)) == 25 * H


def test_full_days_without_holidays_have_23_and_25_hours() -> None:
    full = (((0, 1440),),) * 7
    cal = BusinessCalendar("metropole", full)
    assert cal.business_time_between(paris(2026, 3, 29), paris(2026, 3, 30)) == 23 * H
    assert cal.business_time_between(paris(2026, 10, 25), paris(2026, 10, 26)) == 25 * H
    # the fall-back day's repeated hour counts twice
    assert cal.add_business_time(paris(2026, 10, 25, 1, 30), 2 * H).isoformat() == "2026-10-25T02:30:00+01:00"


def test_window_edges_in_skipped_and_repeated_hours() -> None:
    # Sunday-only window 02:30-04:00: on 29 March 2026 02:30 does not exist; the window
    # opens at the transition (03:00 CEST) and lasts one hour.
    sunday = ((),) * 6 + (((150, 240),),)
    cal = BusinessCalendar("metropole", sunday, open_on_holidays=True)
    assert cal.next_opening(paris(2026, 3, 29, 0)).isoformat() == "2026-03-29T03:00:00+02:00"
    assert cal.business_time_between(paris(2026, 3, 29), paris(2026, 3, 30)) == H
    # On 25 October 2026 02:30 happens twice; the window opens at the first one.
    assert cal.next_opening(paris(2026, 10, 25, 0)).isoformat() == "2026-10-25T02:30:00+02:00"
    assert cal.business_time_between(paris(2026, 10, 25), paris(2026, 10, 26)) == 2.5 * H


def test_add_days_keeps_wall_time_across_dst() -> None:
    cal = BusinessCalendar.preset("metropole", "24x7")
    assert cal.add_days(paris(2026, 3, 28, 10), 1, "calendaires").isoformat() == "2026-03-29T10:00:00+02:00"
    assert cal.add_days(paris(2026, 10, 24, 10), 1, "calendaires").isoformat() == "2026-10-25T10:00:00+01:00"


# --------------------------------------------------------------------------- day counts


def test_jours_ouvrables_cpam_5_1_4_quote() -> None:
    # CCTP CPAM 5-1-4: "Le délai maximal entre la réalisation de la visite de site et
    # l'émission du devis est de 14 jours ouvrables" (Mon-Sat minus public holidays).
    cal = BusinessCalendar.preset("metropole", "ho-8-17")
    # Visit Tuesday 28 April 2026 10:00; 1 May (Fri) and 8 May (Fri) are holidays.
    due = cal.add_days(paris(2026, 4, 28, 10), 14, "ouvrables")
    # 29, 30 Apr, 2, 4, 5, 6, 7, 9, 11, 12, 13, 15, 16, 18 May (14 May: Ascension)
    assert due == paris(2026, 5, 18, 10)
    assert cal.add_days(paris(2026, 4, 28, 10), 14, "ouvrables", end_of_day=True) == paris(2026, 5, 19)


def test_jours_ouvrables_cpam_5_2_works_start() -> None:
    # CCTP CPAM 5-2: "Le délai maximal entre la validation du devis et le début des
    # travaux est de 21 jours ouvrables".
    cal = BusinessCalendar.preset("metropole", "ho-8-17")
    # Quote validated Friday 4 December 2026 15:00; Christmas Friday 25 December.
    assert cal.add_days(paris(2026, 12, 4, 15), 21, "ouvrables") == paris(2026, 12, 30, 15)


def test_jours_calendaires_cpam_5_3_1_reception() -> None:
    # CCTP CPAM 5-3-1: "La réception des travaux sera faite dans les 14 jours calendaires
    # qui suivent la mise en service de l'IRVE".
    cal = BusinessCalendar.preset("metropole", "ho-8-17")
    assert cal.add_days(paris(2026, 10, 20, 9), 14, "calendaires") == paris(2026, 11, 3, 9)


def test_jours_ouvres_canut_6_6() -> None:
    # CCTP CANUT 6.6, Mineur: GTR "< 5 jours ouvrés" (Mon-Fri minus public holidays).
    cal = BusinessCalendar.preset("metropole", "ho-8-18")
    assert cal.add_days(paris(2026, 11, 9, 10), 5, "ouvres") == paris(2026, 11, 17, 10)  # 11 Nov holiday
    # From a Saturday counting starts on Monday and ends with the fifth day.
    assert cal.add_days(paris(2026, 11, 14, 10), 5, "ouvres") == paris(2026, 11, 21)
    assert cal.add_days(paris(2026, 11, 16, 0), 5, "ouvres") == paris(2026, 11, 21)


# --------------------------------------------------------------------------- API, input


def test_serialisation_round_trip() -> None:
    cal = BusinessCalendar.from_dict({
        "name": "site-nord",
        "territory": "974",
        "windows": {"mon": ["07:30-12:00", "13:00-16:30"], "sat": ["08:00-12:00"]},
        "open_on_holidays": False,
        "closures": ["2026-08-14", "2026-12-24"],
    })
    again = BusinessCalendar.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal and hash(again) == hash(cal)
    assert cal.to_dict()["windows"]["mon"] == ["07:30-12:00", "13:00-16:30"]
    for name in ("ho-8-18", "ho-8-17", "24x7"):
        preset = BusinessCalendar.preset("metropole", name)
        assert BusinessCalendar.from_dict(preset.to_dict()) == preset


def test_derive_keeps_territory_and_closures_except_24x7() -> None:
    cal = BusinessCalendar.preset("972", "ho-8-18", closures=[date(2026, 8, 14)])
    assert cal.derive("business") is cal
    assert cal.derive("ho-8-17").closures == cal.closures and cal.derive("ho-8-17").territory == "972"
    assert cal.derive("24x7").closures == frozenset()


def test_territory_holidays_helper() -> None:
    assert date(2026, 4, 3) in territory_holidays("alsace-moselle", 2026)
    assert date(2026, 4, 3) not in territory_holidays("metropole", 2026)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: BusinessCalendar.preset("atlantide", "ho-8-18"), "territoire inconnu"),
        (lambda: BusinessCalendar.preset("metropole", "9-5"), "calendrier inconnu"),
        (lambda: BusinessCalendar("metropole", ((),) * 7), "aucune plage"),
        (lambda: BusinessCalendar("metropole", (((480, 720), (700, 900)),) + ((),) * 6), "chevauchent"),
        (lambda: BusinessCalendar("metropole", (((480, 1500),),) + ((),) * 6), "plage horaire invalide"),
        (lambda: BusinessCalendar.from_dict({"territory": "metropole", "windows": {"mon": ["8h-18h"]}}),
         "plage horaire invalide"),
        (lambda: BusinessCalendar.from_dict({"territory": "metropole", "windows": {"lundi": ["08:00-18:00"]}}),
         "jour inconnu"),
        (lambda: BusinessCalendar.from_dict({"windows": {}}), "champ manquant"),
    ],
)
def test_bad_calendars_are_refused_in_french(build, message) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_bad_operations_are_refused_in_french() -> None:
    cal = BusinessCalendar.preset("metropole", "ho-8-18")
    with pytest.raises(ValueError, match="fuseau"):
        cal.add_business_time(datetime(2026, 1, 5, 9), H)
    with pytest.raises(ValueError, match="positive"):
        cal.add_business_time(paris(2026, 1, 5, 9), -H)
    with pytest.raises(ValueError, match="type de jours inconnu"):
        cal.add_days(paris(2026, 1, 5, 9), 3, "ouvrees")
    with pytest.raises(ValueError, match="entier"):
        cal.add_days(paris(2026, 1, 5, 9), -1, "ouvres")
