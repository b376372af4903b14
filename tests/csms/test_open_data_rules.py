"""The open-data rules (issue 16 §3; schema-irve 2.3 ``id_pdc_itinerance``: « Cet ID débute par FR suivi de 3
caractères délivrés par l'AFIREV, suivi de "E" »; ``coordonneesXY``: « La longitude suivie de la latitude … au
format [lon,lat] »): pure functions, no database."""

from __future__ import annotations

import datetime as dt

import pytest

from csms.domain.opendata import (
    Candidate,
    check_coordinates,
    check_itinerance_id,
    check_publisher,
    derived_ids,
    validate_points,
)

NOW = dt.datetime(2026, 12, 7, 17, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("lat", "lon"), [(48.0061, 0.2132), (42.70, 9.45), (14.6, -61.07), (-20.88, 55.45),
                                          (4.93, -52.33), (-22.27, 166.44), (-17.53, -149.57), (-12.78, 45.23),
                                          (16.24, -61.53), (46.78, -56.17), (-13.28, -176.17)])
def test_points_of_the_metropolis_and_overseas_are_accepted(lat, lon):
    assert check_coordinates(lat, lon) is None


@pytest.mark.parametrize(("lat", "lon", "zone"), [(0.2132, 48.0061, "France métropolitaine"),
                                                  (55.45, -20.88, "La Réunion"), (-61.07, 14.6, "Martinique")])
def test_a_swapped_pair_is_refused_as_swapped(lat, lon, zone):
    message = check_coordinates(lat, lon)
    assert message is not None and message.startswith("latitude et longitude inversées") and zone in message


def test_missing_or_foreign_coordinates_are_refused():
    assert "pas de coordonnées" in (check_coordinates(None, 0.2) or "")
    assert "ni en métropole" in (check_coordinates(40.7, -74.0) or "")  # New York


def test_identifiers_follow_the_afirev_form_when_the_tenant_has_an_operator_code():
    assert derived_ids("A68", "FR72181S0001010000", "FR72181P0001010101") == (
        "FRA68P72181S0001010000", "FRA68E72181P0001010101")
    assert derived_ids("", "FR72181S0001010000", "FR72181P0001010101") == ("FR72181S0001010000", "FR72181P0001010101")
    assert check_itinerance_id("FRA68E680210015", "E", "A68") is None
    assert "doit commencer par « FRA68E »" in (check_itinerance_id("FRB12E680210015", "E", "A68") or "")
    assert "doit commencer par « FRA68P »" in (check_itinerance_id("FRA68E680210015", "P", "A68") or "")
    assert "ne suit pas le schéma IRVE" in (check_itinerance_id("FR*A68*E680210015", "E", "") or "")
    # Without an operator code only the schema's general pattern applies.
    assert check_itinerance_id("FR72181P0001010101", "E", "") is None


def _candidate(key: str, pdc: str, lat: float | None = 48.0, lon: float | None = 0.2) -> Candidate:
    return Candidate(key, f"point {key}", "FRA68P72181S0001010000", pdc, lat, lon)


def test_a_duplicated_identifier_refuses_both_points_and_the_others_are_published():
    accepted, report = validate_points([
        _candidate("1", "FRA68E1"), _candidate("2", "FRA68E1"), _candidate("3", "FRA68E3"),
        _candidate("4", "FRA68E4", lat=0.2, lon=48.0)], "A68", NOW)
    assert [c.point_key for c in accepted] == ["3"]
    assert report.published == 1 and not report.valid
    messages = {r.point: r.message for r in report.rejected}
    assert "donné à 2 points de charge" in messages["point 1"] and "donné à 2 points" in messages["point 2"]
    assert messages["point 4"].startswith("latitude et longitude inversées")
    assert report.as_dict()["checked_at"] == NOW.isoformat()


def test_the_publisher_needs_the_schemas_required_fields_with_french_messages():
    values, errors = check_publisher({"contact_operateur": "", "nom_enseigne": "", "operator_code": "a6",
                                      "siren_amenageur": "12345", "implantation_station": "Garage",
                                      "condition_acces": "Accès libre", "horaires": "tous les jours",
                                      "accessibilite_pmr": "Accessibilité inconnue"})
    assert set(errors) == {"contact_operateur", "nom_enseigne", "operator_code", "siren_amenageur",
                           "implantation_station", "horaires"}
    assert "obligatoire" in errors["contact_operateur"] and "3 caractères" in errors["operator_code"]
    values, errors = check_publisher({"contact_operateur": "irve@cpam72.fr", "nom_enseigne": "Recharge CPAM",
                                      "operator_code": "a68", "implantation_station": "Parking public",
                                      "condition_acces": "Accès libre", "horaires": "Mo-Fr 08:00-19:00",
                                      "accessibilite_pmr": "Non accessible"})
    assert errors == {} and values["operator_code"] == "A68"
