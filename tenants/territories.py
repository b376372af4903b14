"""French territories a beneficiary can be in.

A territory gives the tenant's IANA time zone and the ``holidays`` subdivision used
by its business calendar (DESIGN.md: "Business-hour calendars use the holidays
package with the tenant's territory").
"""

from __future__ import annotations

from dataclasses import dataclass

from app.text import elide_de

__all__ = ["DEFAULT_ZONE", "TERRITORIES", "Territory", "get_territory", "zone_time_label"]


@dataclass(frozen=True, slots=True)
class Territory:
    code: str
    label: str  # French, shown in the portals
    timezone: str
    holidays_subdiv: str | None  # None = metropolitan France without a subdivision


_ALL = (
    Territory("metropole", "France métropolitaine", "Europe/Paris", None),
    # Alsace-Moselle: Good Friday and St Stephen's Day (holidays: "6AE"; "57" is Moselle alone).
    Territory("alsace-moselle", "Alsace-Moselle", "Europe/Paris", "6AE"),
    Territory("971", "Guadeloupe", "America/Guadeloupe", "971"),
    Territory("972", "Martinique", "America/Martinique", "972"),
    Territory("973", "Guyane", "America/Cayenne", "973"),
    Territory("974", "La Réunion", "Indian/Reunion", "974"),
    Territory("976", "Mayotte", "Indian/Mayotte", "976"),
    Territory("BL", "Saint-Barthélemy", "America/St_Barthelemy", "BL"),
    Territory("MF", "Saint-Martin", "America/Marigot", "MF"),
    Territory("NC", "Nouvelle-Calédonie", "Pacific/Noumea", "NC"),
    Territory("PF", "Polynésie française", "Pacific/Tahiti", "PF"),
    Territory("PM", "Saint-Pierre-et-Miquelon", "America/Miquelon", "PM"),
    Territory("WF", "Wallis-et-Futuna", "Pacific/Wallis", "WF"),
)

TERRITORIES: dict[str, Territory] = {t.code: t for t in _ALL}
#: The zone of a page outside any tenant (the login page): metropolitan France.
DEFAULT_ZONE = "Europe/Paris"


def get_territory(code: str) -> Territory:
    """Return the territory for ``code`` or raise ``KeyError`` with the known codes."""
    try:
        return TERRITORIES[code]
    except KeyError:
        raise KeyError(f"territoire inconnu : {code!r} (attendu : {', '.join(TERRITORIES)})") from None


#: The place a time zone is named after on screen (« heure de Paris »): metropolitan zones are Paris time.
_ZONE_PLACES = {"Europe/Paris": "Paris"} | {t.timezone: t.label for t in _ALL if t.timezone != "Europe/Paris"}


def zone_time_label(timezone: str) -> str:
    """« heure de Paris », « heure de La Réunion », « heure de la Martinique »; the zone's name otherwise."""
    place = _ZONE_PLACES.get(timezone)
    return f"heure {elide_de(place)}" if place else f"heure {timezone}"
