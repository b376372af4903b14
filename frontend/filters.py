"""Jinja filters and globals: French dates in the tenant's time zone, numbers, labels."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment

MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"]


def local_datetime(value: dt.datetime | None, tz: str = "Europe/Paris", fmt: str = "short") -> str:
    """``23/11/2026 14:05`` in the tenant's zone (DESIGN.md: stored UTC, shown local)."""
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(tz))
    if fmt == "long":
        return f"{day_fr(local.day)} {MONTHS[local.month - 1]} {local.year} à {local:%H:%M}"
    if fmt == "seconds":
        return local.strftime("%d/%m/%Y %H:%M:%S")
    return local.strftime("%d/%m/%Y %H:%M")


def day_fr(day: int) -> str:
    """French day of the month: « 1er décembre », « 2 décembre »."""
    return "1er" if day == 1 else str(day)


def local_date(value: dt.date | None) -> str:
    return "—" if value is None else value.strftime("%d/%m/%Y")


def number_fr(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\u202f").replace(".", ",")


def register(env: Environment) -> None:
    from app.shell import elide_de
    from tenants.models import ROLE_LABELS, Role
    from tenants.territories import TERRITORIES, zone_time_label

    env.filters["local_datetime"] = local_datetime
    env.filters["local_date"] = local_date
    env.filters["number_fr"] = number_fr
    env.filters["role_label"] = lambda r: ROLE_LABELS.get(Role(r), r) if r in Role._value2member_map_ else r
    env.filters["de"] = elide_de  # « de l'Antenne », « du Centre hospitalier », « de La Réunion »
    env.filters["elide_de"] = elide_de
    env.filters["zone_time"] = zone_time_label  # « heure de La Réunion »
    env.globals["TERRITORIES"] = TERRITORIES
