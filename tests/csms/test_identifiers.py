"""Charging identifiers of the CPAM rule.

CCTP CPAM 5-5-1: « La longueur et la structure de la chaine de caractère
d'identification de la Station de recharge, de l'IRVE et de chaque point de charge
seront identiques » — pays, code INSEE (5), S / B / P, code bâtiment, numéros d'ordre.
"""

from __future__ import annotations

import pytest

from csms.domain.identifiers import (
    CANONICAL_LENGTH,
    ChargingId,
    InvalidChargingId,
    Level,
    charger_id,
    parse_charging_id,
    point_id,
    station_id,
)

STATION = "FR72181S0001010000"
CHARGER = "FR72181B0001010100"
POINT = "FR72181P0001010101"


def test_the_three_levels_have_the_same_length_and_structure():
    # CCTP CPAM 5-5-1: same length and structure at every level, lower levels 00.
    for text, level in ((STATION, Level.STATION), (CHARGER, Level.CHARGER), (POINT, Level.POINT)):
        parsed = parse_charging_id(text)
        assert len(text) == CANONICAL_LENGTH == 18
        assert str(parsed) == parsed.canonical == text
        assert (parsed.country, parsed.insee, parsed.level, parsed.building) == ("FR", "72181", level, "0001")
    assert parse_charging_id(POINT).station == 1 and parse_charging_id(POINT).charger == 1
    assert parse_charging_id(POINT).point == 1


def test_generators_build_the_examples():
    assert station_id("72181", "0001", 1).canonical == STATION
    assert charger_id("72181", "0001", 1, 1).canonical == CHARGER
    assert point_id("72181", "0001", 1, 1, 1).canonical == POINT
    assert point_id("2a004", "b12c", 3, 12, 2).canonical == "FR2A004PB12C031202"  # Corsica, letters in the building


def test_parent_and_child_relations():
    station, charger, point = (parse_charging_id(t) for t in (STATION, CHARGER, POINT))
    assert point.parent() == charger and point.charger_id() == charger
    assert charger.parent() == station and point.station_id() == station
    assert station.parent() is None
    assert station.child(1) == charger and charger.child(1) == point
    assert charger.child(2).canonical == "FR72181P0001010102"
    assert station.is_parent_of(charger) and charger.is_parent_of(point) and not station.is_parent_of(point)
    with pytest.raises(InvalidChargingId):
        point.child(1)
    with pytest.raises(InvalidChargingId):
        station.charger_id()
    with pytest.raises(InvalidChargingId, match="entre 1 et 99"):
        station.child(100)


def test_input_is_normalised():
    assert parse_charging_id("  fr72181p0001010101 ").canonical == POINT


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("FR72181S000101000", 18, "18 caractères attendus"),
        ("FR72181S00010100000", 19, "18 caractères attendus"),
        ("F172181S0001010000", 2, "lettre attendue"),
        ("FR7218XS0001010000", 7, "chiffre attendu"),
        ("FR2C004S0001010000", 4, "2A ou 2B"),
        ("FR00181S0001010000", 3, "département inexistant"),
        ("FR72181X0001010000", 8, "S (station), B (borne) ou P (point de charge)"),
        ("FR72181S00-1010000", 11, "interdit"),
        ("FR72181S0001AB0000", 13, "chiffre attendu"),
        ("FR72181S0001000000", 14, "de 01 à 99"),
        ("FR72181S0001010100", 16, "« 00 » attendu pour un identifiant de station"),
        ("FR72181B0001010000", 16, "de 01 à 99"),
        ("FR72181B0001010101", 18, "« 00 » attendu pour un identifiant de borne"),
        ("FR72181P0001010100", 18, "de 01 à 99"),
    ],
)
def test_malformed_ids_name_the_wrong_position_in_french(text: str, position: int, fragment: str):
    with pytest.raises(InvalidChargingId) as caught:
        parse_charging_id(text)
    assert caught.value.position == position
    message = str(caught.value)
    assert fragment in message
    assert f"position {position}" in message or "caractères attendus" in message


def test_the_message_names_the_segment():
    with pytest.raises(InvalidChargingId) as caught:
        parse_charging_id("FR7218XS0001010000")
    assert str(caught.value) == (
        "Identifiant « FR7218XS0001010000 » invalide : position 7, chiffre attendu "
        "(code INSEE de la commune, positions 3 à 7), « X » trouvé."
    )


def test_a_level_can_be_required():
    assert parse_charging_id(CHARGER, level="B").level is Level.CHARGER
    with pytest.raises(InvalidChargingId, match="identifiant de borne \\(B\\) est attendu"):
        parse_charging_id(POINT, level=Level.CHARGER)


def test_a_charging_id_cannot_be_built_invalid():
    with pytest.raises(InvalidChargingId):
        ChargingId("FR", "72181", Level.STATION, "0001", 1, 1, 0)
