"""Charging identifiers of the CPAM rule (CCTP CPAM 5-5-1).

    « Chaque Station de recharge et chaque point de charge fera l'objet d'une
    identification spécifique. La codification sera unique pour chaque point de
    charge. La longueur et la structure de la chaine de caractère d'identification
    de la Station de recharge, de l'IRVE et de chaque point de charge seront
    identiques. » — pays, code INSEE de la commune sur 5 caractères, S / B / P,
    code interne du bâtiment, numéro d'ordre du point X de la borne Y de la
    station Z.

Canonical form, 18 characters at every level, lower levels written ``00``::

    FR 72181 S 0001 01 00 00   station 01                      FR72181S0001010000
    FR 72181 B 0001 01 01 00   charger (borne) 01 of station 01  FR72181B0001010100
    FR 72181 P 0001 01 01 01   point 01 of that charger          FR72181P0001010101

positions: 1-2 country, 3-7 INSEE, 8 level, 9-12 building, 13-14 station,
15-16 charger, 17-18 point. Errors name the first wrong position (1-based), in French.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

__all__ = [
    "CANONICAL_LENGTH",
    "ChargingId",
    "InvalidChargingId",
    "Level",
    "charger_id",
    "parse_charging_id",
    "point_id",
    "station_id",
    "validate_building_code",
    "validate_insee",
]

CANONICAL_LENGTH = 18
MAX_ORDER = 99


class Level(enum.StrEnum):
    STATION = "S"
    CHARGER = "B"  # « borne »: the OCPP charge box
    POINT = "P"  # « point de charge »: the OCPP connector

    @property
    def label(self) -> str:
        return {"S": "station", "B": "borne", "P": "point de charge"}[self.value]


class InvalidChargingId(ValueError):
    """A malformed identifier; ``position`` is the first wrong character (1-based)."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True, slots=True)
class ChargingId:
    country: str
    insee: str
    level: Level
    building: str
    station: int
    charger: int = 0
    point: int = 0

    def __post_init__(self) -> None:
        # A ChargingId is always a valid identifier, however it was built.
        _check(self._render())

    def _render(self) -> str:
        return (
            f"{self.country}{self.insee}{self.level.value}{self.building}"
            f"{self.station:02d}{self.charger:02d}{self.point:02d}"
        )

    def __str__(self) -> str:
        return self._render()

    @property
    def canonical(self) -> str:
        return self._render()

    def station_id(self) -> ChargingId:
        """The station (S) this identifier belongs to (itself for a station)."""
        return replace(self, level=Level.STATION, charger=0, point=0)

    def charger_id(self) -> ChargingId:
        """The charger (B) of a charger or of a point."""
        if self.level is Level.STATION:
            raise InvalidChargingId("Une station n'appartient à aucune borne.")
        return replace(self, level=Level.CHARGER, point=0)

    def parent(self) -> ChargingId | None:
        """A point's charger, a charger's station; ``None`` for a station."""
        if self.level is Level.POINT:
            return self.charger_id()
        if self.level is Level.CHARGER:
            return self.station_id()
        return None

    def child(self, number: int) -> ChargingId:
        """Charger ``number`` of a station, or point ``number`` of a charger."""
        if not 1 <= number <= MAX_ORDER:
            raise InvalidChargingId(f"Le numéro d'ordre doit être compris entre 1 et {MAX_ORDER} ({number} donné).")
        if self.level is Level.STATION:
            return replace(self, level=Level.CHARGER, charger=number, point=0)
        if self.level is Level.CHARGER:
            return replace(self, level=Level.POINT, point=number)
        raise InvalidChargingId("Un point de charge n'a pas de niveau inférieur.")

    def is_parent_of(self, other: ChargingId) -> bool:
        return other.parent() == self


_SEGMENTS = (
    # (first position, last position, name)
    (1, 2, "code pays"),
    (3, 7, "code INSEE de la commune"),
    (8, 8, "lettre de niveau"),
    (9, 12, "code bâtiment"),
    (13, 14, "numéro d'ordre de la station"),
    (15, 16, "numéro d'ordre de la borne"),
    (17, 18, "numéro d'ordre du point de charge"),
)


def _segment(position: int) -> str:
    for first, last, name in _SEGMENTS:
        if first <= position <= last:
            return f"{name}, positions {first} à {last}" if first != last else f"{name}, position {first}"
    return ""


def _fail(text: str, position: int, expected: str) -> InvalidChargingId:
    found = text[position - 1]
    return InvalidChargingId(
        f"Identifiant « {text} » invalide : position {position}, {expected} ({_segment(position)}), « {found} » trouvé.",
        position,
    )


def parse_charging_id(value: str, *, level: Level | str | None = None) -> ChargingId:
    """Parse and validate a canonical identifier (case-insensitive, surrounding spaces ignored).

    ``level`` optionally requires a given level (S, B or P).
    """
    return ChargingId(*_check((value or "").strip().upper(), level))


def _check(text: str, level: Level | str | None = None) -> tuple[str, str, Level, str, int, int, int]:
    if not text:
        raise InvalidChargingId("L'identifiant est vide.")
    for index, char in enumerate(text, start=1):
        if not (char.isascii() and char.isalnum()):
            raise InvalidChargingId(
                f"Identifiant « {text} » invalide : position {index}, caractère « {char} » interdit "
                "(lettres et chiffres uniquement).",
                index,
            )
    if len(text) != CANONICAL_LENGTH:
        raise InvalidChargingId(
            f"Identifiant « {text} » invalide : {CANONICAL_LENGTH} caractères attendus "
            f"(pays, INSEE, S/B/P, bâtiment, station, borne, point), {len(text)} trouvés.",
            min(len(text), CANONICAL_LENGTH) + 1,  # first missing or first extra character
        )
    for pos in (1, 2):
        if not text[pos - 1].isalpha():
            raise _fail(text, pos, "lettre attendue (ex. FR)")
    insee = text[2:7]
    for pos in range(3, 8):
        char = text[pos - 1]
        # Corsica: 2A / 2B followed by three digits.
        corsican = pos == 4 and char in "AB" and text[2] == "2"
        if not (char.isdigit() or corsican):
            raise _fail(text, pos, "chiffre attendu (2A ou 2B admis pour la Corse)" if pos == 4 else "chiffre attendu")
    if insee.startswith("00"):
        raise _fail(text, 3, "département inexistant")
    letter = text[7]
    if letter not in "SBP":
        raise _fail(text, 8, "S (station), B (borne) ou P (point de charge) attendu")
    lvl = Level(letter)
    if level is not None and lvl is not Level(level):
        wanted = Level(level)
        raise InvalidChargingId(
            f"Identifiant « {text} » invalide : position 8, un identifiant de {wanted.label} ({wanted.value}) "
            f"est attendu, « {letter} » ({lvl.label}) trouvé.",
            8,
        )
    # Building code: 4 letters or digits, checked above.
    numbers = {}
    for first, name, required in ((13, "station", True), (15, "charger", lvl is not Level.STATION),
                                  (17, "point", lvl is Level.POINT)):
        pair = text[first - 1:first + 1]
        for offset, char in enumerate(pair):
            if not char.isdigit():
                raise _fail(text, first + offset, "chiffre attendu")
        number = int(pair)
        if required and number == 0:
            raise _fail(text, first + 1, "numéro d'ordre de 01 à 99 attendu")
        if not required and number != 0:
            wrong = first if pair[0] != "0" else first + 1
            raise _fail(text, wrong, f"« 00 » attendu pour un identifiant de {lvl.label}")
        numbers[name] = number
    return text[:2], insee, lvl, text[8:12], numbers["station"], numbers["charger"], numbers["point"]


def validate_insee(value: str) -> str:
    """A commune's INSEE code: 5 digits, or 2A/2B and 3 digits (Corsica)."""
    text = (value or "").strip().upper()
    ok = len(text) == 5 and text.isascii() and text[0].isdigit() and (text[1].isdigit() or text[:2] in ("2A", "2B"))
    if not ok or not text[2:].isdigit() or text.startswith("00"):
        raise InvalidChargingId(f"Code INSEE « {value} » invalide : 5 caractères attendus (ex. 72181, 2A004).")
    return text


def validate_building_code(value: str) -> str:
    text = (value or "").strip().upper()
    if not (len(text) == 4 and text.isascii() and text.isalnum()):
        raise InvalidChargingId(f"Code bâtiment « {value} » invalide : 4 lettres ou chiffres attendus (CCTP 5-5-1).")
    return text


def station_id(insee: str, building: str, station: int, *, country: str = "FR") -> ChargingId:
    return _make(country, insee, Level.STATION, building, station, 0, 0)


def charger_id(insee: str, building: str, station: int, charger: int, *, country: str = "FR") -> ChargingId:
    return _make(country, insee, Level.CHARGER, building, station, charger, 0)


def point_id(insee: str, building: str, station: int, charger: int, point: int, *, country: str = "FR") -> ChargingId:
    return _make(country, insee, Level.POINT, building, station, charger, point)


def _make(country: str, insee: str, level: Level, building: str, station: int, charger: int, point: int) -> ChargingId:
    for number, name in ((station, "station"), (charger, "borne"), (point, "point de charge")):
        if not 0 <= number <= MAX_ORDER:
            raise InvalidChargingId(f"Numéro d'ordre de {name} hors limites (0 à {MAX_ORDER}) : {number}.")
    text = (
        f"{country.strip().upper()}{validate_insee(insee)}{level.value}{validate_building_code(building)}"
        f"{station:02d}{charger:02d}{point:02d}"
    )
    return parse_charging_id(text)
