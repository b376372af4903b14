"""Validators of French public-buyer identifiers.

The valid numbers below were computed with python-stdnum (Luhn keys, VAT keys) on
real SIRENs (the communes of Le Mans and Metz, from the COG data), not typed at random.
"""

import pytest

from tenants.identifiers import (
    InvalidIdentifier,
    communes_by_postal_code,
    get_commune,
    validate_finess,
    validate_insee_code,
    validate_siren,
    validate_siret,
    validate_vat_fr,
)

# --------------------------------------------------------------------------- SIRET / SIREN


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("21720181300011", "21720181300011"),  # commune du Mans, SIREN 217 201 813
        ("217 201 813 00011", "21720181300011"),
        ("215.704.636.00012", "21570463600012"),  # commune de Metz
        (" 732 829 320 00074 ", "73282932000074"),
        ("217\u00a0201\u00a0813\u00a000011", "21720181300011"),  # pasted with non-breaking spaces
        # La Poste: its establishments have no Luhn key, the digit sum is a multiple of 5 (stdnum's rule).
        ("35600000049837", "35600000049837"),
        ("35600000000048", "35600000000048"),  # La Poste's head office does have a Luhn key
    ],
)
def test_valid_siret(value, expected):
    assert validate_siret(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "SIRET invalide : 14 chiffres attendus"),
        ("2172018130001", "SIRET invalide : 14 chiffres attendus"),
        ("217201813000111", "SIRET invalide : 14 chiffres attendus"),
        ("2172018130001A", "SIRET invalide : 14 chiffres attendus"),
        ("\uff12\uff11\uff17\uff12\uff10\uff11\uff18\uff11\uff13\uff10\uff10\uff10\uff11\uff11",
         "SIRET invalide : 14 chiffres attendus"),  # full-width digits
        ("21720181300012", "SIRET invalide : clé de contrôle (Luhn) incorrecte"),
        ("35600000049838", "SIRET invalide : clé de contrôle (Luhn) incorrecte"),  # La Poste, digit sum not /5
    ],
)
def test_invalid_siret(value, message):
    with pytest.raises(InvalidIdentifier) as exc:
        validate_siret(value)
    assert str(exc.value) == message
    assert isinstance(exc.value, ValueError)


def test_siret_whose_siren_is_wrong_is_refused():
    # 18002002000129 passes a Luhn check over 14 digits but its SIREN 180020020 does not.
    with pytest.raises(InvalidIdentifier, match="clé de contrôle"):
        validate_siret("18002002000129")


def test_siren():
    assert validate_siren("217 201 813") == "217201813"
    assert validate_siren("130005481") == "130005481"
    with pytest.raises(InvalidIdentifier, match="SIREN invalide : 9 chiffres attendus"):
        validate_siren("21720181")
    with pytest.raises(InvalidIdentifier, match=r"SIREN invalide : clé de contrôle \(Luhn\) incorrecte"):
        validate_siren("217201814")


# --------------------------------------------------------------------------- FINESS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("010780195", "010780195"),  # a published FINESS ET (Ain)
        ("720000074", "720000074"),
        ("72 000 007 4", "720000074"),
        ("970400032", "970400032"),  # La Réunion: overseas numbers are plain digits
        ("2A0000000", "2A0000000"),  # Corsica: accepted on its form (see validate_finess)
        ("2b 123 456 7", "2B1234567"),
    ],
)
def test_valid_finess(value, expected):
    assert validate_finess(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("72000007", "FINESS invalide : 9 chiffres attendus (pour la Corse : 2A ou 2B puis 7 chiffres)"),
        ("7200000741", "FINESS invalide : 9 chiffres attendus (pour la Corse : 2A ou 2B puis 7 chiffres)"),
        ("2C0000000", "FINESS invalide : 9 chiffres attendus (pour la Corse : 2A ou 2B puis 7 chiffres)"),
        ("2A000000X", "FINESS invalide : 9 chiffres attendus (pour la Corse : 2A ou 2B puis 7 chiffres)"),
        ("720000075", "FINESS invalide : clé de contrôle (Luhn) incorrecte"),
        ("010780196", "FINESS invalide : clé de contrôle (Luhn) incorrecte"),
    ],
)
def test_invalid_finess(value, message):
    with pytest.raises(InvalidIdentifier) as exc:
        validate_finess(value)
    assert str(exc.value) == message


# --------------------------------------------------------------------------- VAT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("FR40303265045", "FR40303265045"),
        ("fr 40 303 265 045", "FR40303265045"),
        ("40303265045", "FR40303265045"),  # prefix left out
        ("FR94217201813", "FR94217201813"),  # commune du Mans
        ("FR51215704636", "FR51215704636"),  # commune de Metz
    ],
)
def test_valid_vat(value, expected):
    assert validate_vat_fr(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("FR4030326504", "le SIREN (9 chiffres) attendus"),
        ("DE40303265045", "le SIREN (9 chiffres) attendus"),
        ("FR41303265045", "clé de contrôle incorrecte"),
        ("FR40303265046", "le SIREN qu'il contient est incorrect"),
    ],
)
def test_invalid_vat(value, fragment):
    with pytest.raises(InvalidIdentifier, match="^Numéro de TVA intracommunautaire invalide") as exc:
        validate_vat_fr(value)
    assert fragment in str(exc.value)


# --------------------------------------------------------------------------- INSEE communes


@pytest.mark.parametrize(
    ("value", "code", "name", "department", "region", "region_name"),
    [
        ("72181", "72181", "Le Mans", "72", "52", "Pays de la Loire"),  # CPAM de la Sarthe
        ("57463", "57463", "Metz", "57", "44", "Grand Est"),
        ("97411", "97411", "Saint-Denis", "974", "04", "La Réunion"),
        (" 2a004 ", "2A004", "Ajaccio", "2A", "94", "Corse"),
        ("98818", "98818", "Nouméa", "988", "988", "Nouvelle-Calédonie"),
        ("75101", "75101", "Paris 1er Arrondissement", "75", "11", "Île-de-France"),
    ],
)
def test_get_commune(value, code, name, department, region, region_name):
    commune = get_commune(value)
    assert (commune.code, commune.name, commune.department, commune.region) == (code, name, department, region)
    assert commune.region_name == region_name
    assert validate_insee_code(value) == code


@pytest.mark.parametrize("value", ["", "7218", "721811", "2C004", "ABCDE", "72 181x"])
def test_malformed_insee_code(value):
    with pytest.raises(InvalidIdentifier, match="^Code commune INSEE invalide : .*5 caractères attendus"):
        validate_insee_code(value)


def test_unknown_insee_code():
    with pytest.raises(InvalidIdentifier, match="^Code commune INSEE inconnu : « 99999 »") as exc:
        validate_insee_code("99999")
    assert "code postal" not in str(exc.value)


def test_postal_code_typed_instead_of_insee_code_gets_a_hint():
    with pytest.raises(InvalidIdentifier) as exc:
        validate_insee_code("72000")
    assert str(exc.value) == (
        "Code commune INSEE inconnu : « 72000 » ne figure pas au code officiel géographique. "
        "C'est un code postal ; code INSEE correspondant : 72181 (Le Mans)"
    )


def test_communes_by_postal_code():
    assert [c.code for c in communes_by_postal_code("72000")] == ["72181"]
    assert [c.code for c in communes_by_postal_code("57000")] == ["57463"]
    assert [c.code for c in communes_by_postal_code("75001")] == ["75056", "75101"]
    assert communes_by_postal_code("00000") == []
    assert communes_by_postal_code("") == []
