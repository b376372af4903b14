"""French dates of the portal's Jinja filters (issue 12 §5: « 1er décembre »)."""

import datetime as dt

from frontend.filters import local_datetime


def test_the_first_of_the_month_is_an_ordinal():
    assert local_datetime(dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC), "Europe/Paris", "long") == "1er décembre 2026 à 09:00"
    assert local_datetime(dt.datetime(2026, 12, 2, 8, tzinfo=dt.UTC), "Indian/Reunion", "long") == "2 décembre 2026 à 12:00"
