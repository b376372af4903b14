"""reporting.semester on its boundaries (CCTP CAIH 5 « tous les 6 mois avant le 31 janvier et le 31 juillet en
portant sur le semestre de l'année en cours, et sur la totalité depuis le début du marché »; « La non fourniture
des éléments de reporting dans les délais entrainera l'application systématique des pénalités »)."""

from __future__ import annotations

import datetime as dt

import pytest

from reporting.semester import PARIS, Semester, due_state, is_late, reports_to_show, semester_of, since_start

day = dt.date


def paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS).astimezone(dt.UTC)


@pytest.mark.parametrize(("date", "year", "half"), [
    (day(2026, 1, 1), 2026, 1), (day(2026, 6, 30), 2026, 1), (day(2026, 7, 1), 2026, 2),
    (day(2026, 12, 31), 2026, 2), (day(2024, 2, 29), 2024, 1),
])
def test_a_day_falls_in_its_half_of_the_civil_year(date, year, half):
    assert semester_of(date) == Semester(year, half)
    assert semester_of(date).contains(date)


def test_bounds_labels_and_neighbours():
    h1, h2 = Semester(2026, 1), Semester(2026, 2)
    assert (h1.start, h1.end, h2.start, h2.end) == (day(2026, 1, 1), day(2026, 6, 30), day(2026, 7, 1), day(2026, 12, 31))
    assert not h1.contains(day(2026, 7, 1)) and not h2.contains(day(2026, 6, 30))
    assert h1.label == "1er semestre 2026" and h2.label == "2e semestre 2026" and h2.slug == "2026-S2"
    assert h1.next() == h2 and h2.next() == Semester(2027, 1) and h1.previous() == Semester(2025, 2)
    with pytest.raises(ValueError):
        Semester(2026, 3)


def test_the_report_is_due_on_31_july_and_31_january_of_the_next_year():
    # CAIH 5 « avant le 31 janvier et le 31 juillet »: H1 of the current year by 31 July, H2 by 31 January after.
    assert Semester(2026, 1).due_on == day(2026, 7, 31)
    assert Semester(2026, 2).due_on == day(2027, 1, 31)
    # « avant le 31 juillet » read as « au plus tard le 31 juillet »: late from 1 August 00:00 in Paris.
    assert Semester(2026, 1).deadline() == paris(2026, 8, 1) == dt.datetime(2026, 7, 31, 22, 0, tzinfo=dt.UTC)
    assert Semester(2026, 2).deadline() == paris(2027, 2, 1) == dt.datetime(2027, 1, 31, 23, 0, tzinfo=dt.UTC)


def test_late_one_second_after_the_due_day_unless_provided_in_time():
    h1 = Semester(2026, 1)
    assert due_state(h1, paris(2026, 6, 30, 23, 59, 59)) == "open"
    assert due_state(h1, paris(2026, 7, 1)) == "due"
    assert due_state(h1, paris(2026, 7, 31, 23, 59, 59)) == "due" and not is_late(h1, paris(2026, 7, 31, 23, 59, 59))
    assert due_state(h1, paris(2026, 8, 1)) == "late" and is_late(h1, paris(2026, 8, 1))
    # Provided on the due day: in time, for ever.
    assert due_state(h1, paris(2027, 3, 1), paris(2026, 7, 31, 18, 0)) == "provided"
    # Provided after the deadline: « pénalités » still apply, the flag stays.
    assert due_state(h1, paris(2026, 9, 1), paris(2026, 8, 1, 0, 0, 1)) == "provided_late"
    assert is_late(h1, paris(2026, 9, 1), paris(2026, 8, 1, 0, 0, 1))


def test_a_report_made_before_the_semester_ended_does_not_count():
    h1 = Semester(2026, 1)
    assert due_state(h1, paris(2026, 8, 2), paris(2026, 6, 15)) == "late"
    assert due_state(h1, paris(2026, 7, 2), paris(2026, 7, 1, 0, 0)) == "provided"


def test_the_deadline_is_midnight_of_the_central_zone():
    from zoneinfo import ZoneInfo

    reunion = ZoneInfo("Indian/Reunion")
    assert Semester(2026, 1).deadline(reunion) == dt.datetime(2026, 7, 31, 20, 0, tzinfo=dt.UTC)


def test_since_the_start_of_the_agreement():
    # « et sur la totalité depuis le début du marché »: the earliest start to the semester's last day.
    h2 = Semester(2026, 2)
    assert since_start(h2, [day(2025, 3, 1), None, day(2024, 9, 1)]) == (day(2024, 9, 1), day(2026, 12, 31))
    assert since_start(h2, [None]) == (None, day(2026, 12, 31))
    assert since_start(Semester(2024, 1), [day(2024, 9, 1)]) == (day(2024, 9, 1), day(2024, 6, 30))


def test_the_page_shows_the_current_and_the_previous_semester():
    now = paris(2027, 1, 10, 9, 0)
    shown = reports_to_show(now, {})
    assert [(s.semester, s.state) for s in shown] == [(Semester(2027, 1), "open"), (Semester(2026, 2), "due")]
    shown = reports_to_show(paris(2027, 2, 1, 0, 0), {Semester(2026, 2): paris(2027, 2, 1, 0, 0)})
    assert shown[1].state == "provided_late" and shown[1].late and shown[1].state_label == "Fourni en retard"
