"""Calendar arithmetic the components share (business time lives in ``tenants.calendars``)."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import TypeVar

__all__ = ["add_months"]

When = TypeVar("When", dt.date, dt.datetime)


def add_months(day: When, months: int) -> When:
    """``day`` moved by whole calendar months, kept within the target month (31 Jan + 1 → 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))
