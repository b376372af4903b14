"""Identifiers of French public buyers: SIRET / SIREN, FINESS, INSEE commune code, VAT number.

Every validator takes what a person typed or pasted (spaces, dots, dashes and
non-breaking spaces are tolerated), returns the compact normalised value and
raises :class:`InvalidIdentifier` with a French message fit to show next to the
form field otherwise.

Commune codes are checked against the INSEE code officiel géographique shipped in
``tenants/data/`` (built by ``scripts/build_communes.py``, see ``docs/data.md``),
read on first use and kept in memory.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from stdnum import luhn
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret
from stdnum.fr import tva as stdnum_tva

__all__ = [
    "Commune",
    "InvalidIdentifier",
    "communes_by_postal_code",
    "get_commune",
    "validate_finess",
    "validate_insee_code",
    "validate_siren",
    "validate_siret",
    "validate_vat_fr",
]


class InvalidIdentifier(ValueError):
    """An identifier failed validation; ``str(exc)`` is a French message for the user."""


# Separators people paste: spaces (including the non-breaking ones of web pages and PDFs), dots, dashes.
_SEPARATORS = re.compile(r"[\s\u00a0\u202f.\-]+")


def _compact(value: str | None) -> str:
    return _SEPARATORS.sub("", value or "").upper()


def _is_digits(text: str, length: int) -> bool:
    # str.isdigit() alone would let through other scripts' digits and superscripts.
    return len(text) == length and text.isascii() and text.isdigit()


# --------------------------------------------------------------------------- SIRET / SIREN


def validate_siret(value: str) -> str:
    """A SIRET: 14 digits with a Luhn key, as ``python-stdnum`` checks it.

    La Poste's establishments (SIREN 356 000 000) are numbered beyond what a Luhn
    key allows: stdnum accepts them when the sum of the digits is a multiple of 5,
    and so do we.
    """
    number = _compact(value)
    if not _is_digits(number, 14):
        raise InvalidIdentifier("SIRET invalide : 14 chiffres attendus")
    try:
        return stdnum_siret.validate(number)
    except ValidationError:
        raise InvalidIdentifier("SIRET invalide : clé de contrôle (Luhn) incorrecte") from None


def validate_siren(value: str) -> str:
    """A SIREN: 9 digits with a Luhn key."""
    number = _compact(value)
    if not _is_digits(number, 9):
        raise InvalidIdentifier("SIREN invalide : 9 chiffres attendus")
    try:
        return stdnum_siren.validate(number)
    except ValidationError:
        raise InvalidIdentifier("SIREN invalide : clé de contrôle (Luhn) incorrecte") from None


# --------------------------------------------------------------------------- FINESS

_FINESS_CORSICA = re.compile(r"2[AB][0-9]{7}")


def validate_finess(value: str) -> str:
    """A FINESS number (établissement or entité juridique): 9 characters, the last a Luhn key.

    The first two characters are the department. The national FINESS schema
    declares the number alphanumeric because Corsican numbers start with ``2A`` or
    ``2B``; how the key is computed over those letters is not published in any
    source we could check, so a Corsican number is accepted on its form alone
    (2A/2B then 7 digits) rather than risk refusing a real hospital. All other
    numbers, overseas ones included (``97…``), are 9 digits checked with Luhn.
    """
    number = _compact(value)
    if _FINESS_CORSICA.fullmatch(number):
        return number
    if not _is_digits(number, 9):
        raise InvalidIdentifier(
            "FINESS invalide : 9 chiffres attendus (pour la Corse : 2A ou 2B puis 7 chiffres)"
        )
    if not luhn.is_valid(number):
        raise InvalidIdentifier("FINESS invalide : clé de contrôle (Luhn) incorrecte")
    return number


# --------------------------------------------------------------------------- VAT


def validate_vat_fr(value: str) -> str:
    """A French intra-community VAT number, returned as ``FR`` + key + SIREN (``FR40303265045``).

    The ``FR`` prefix may be left out on input. Monaco's numbers (``FRxx000…``)
    carry no SIREN and are accepted on their key alone, as stdnum does.
    """
    number = _compact(value)
    number = number.removeprefix("FR")
    if not (_is_digits(number[2:], 9) and number[:2].isascii() and number[:2].isalnum()):
        raise InvalidIdentifier(
            "Numéro de TVA intracommunautaire invalide : FR, une clé de 2 caractères et le SIREN (9 chiffres) attendus"
        )
    if number[2:5] != "000" and not stdnum_siren.is_valid(number[2:]):
        raise InvalidIdentifier("Numéro de TVA intracommunautaire invalide : le SIREN qu'il contient est incorrect")
    try:
        return "FR" + stdnum_tva.validate(number)
    except InvalidChecksum:
        raise InvalidIdentifier("Numéro de TVA intracommunautaire invalide : clé de contrôle incorrecte") from None
    except ValidationError:
        raise InvalidIdentifier(
            "Numéro de TVA intracommunautaire invalide : FR, une clé de 2 caractères et le SIREN (9 chiffres) attendus"
        ) from None


# --------------------------------------------------------------------------- INSEE communes

_INSEE_FORM = re.compile(r"[0-9]{5}|2[AB][0-9]{3}")


@dataclass(frozen=True, slots=True)
class Commune:
    """A current commune (or a municipal arrondissement of Paris, Lyon or Marseille)."""

    code: str  # INSEE code, e.g. "72181", "2A004", "75101"
    name: str  # e.g. "Le Mans"
    department: str  # e.g. "72", "2A", "974"; for an overseas collectivity its code ("987")
    region: str  # INSEE region code, e.g. "52"; for an overseas collectivity its code ("987")

    @property
    def region_name(self) -> str:
        return _region_names().get(self.region, "")


def _read_csv(name: str) -> Iterator[list[str]]:
    """The file's rows after its header, read as a stream: the whole text is never in memory at once (the
    communes' table made a 21 MB peak read whole, in every process that looks a region up: a report job)."""
    resource = files("tenants") / "data" / name
    with resource.open("rb") as raw, (gzip.open(raw) if name.endswith(".gz") else raw) as data, \
            io.TextIOWrapper(data, encoding="utf-8", newline="") as text:
        rows = csv.reader(text)
        next(rows, None)  # header
        yield from rows


@cache
def _communes() -> dict[str, Commune]:
    # A department's and a region's code are shared strings (35,008 communes, about a hundred of each).
    return {row[0]: Commune(row[0], row[1], sys.intern(row[2]), sys.intern(row[3]))
            for row in _read_csv("communes.csv.gz")}


@cache
def _postal_index() -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    codes = {code: code for code in _communes()}
    for postal_code, code in _read_csv("postal_codes.csv.gz"):
        index.setdefault(postal_code, []).append(codes.get(code, code))  # the communes' own code strings
    return {postal_code: tuple(codes) for postal_code, codes in index.items()}


@cache
def _region_names() -> dict[str, str]:
    return {code: name for code, name in _read_csv("regions.csv")}


def get_commune(code: str) -> Commune:
    """The commune with this INSEE code; :class:`InvalidIdentifier` if the code is malformed or unknown."""
    text = (code or "").strip().upper()
    if not _INSEE_FORM.fullmatch(text):
        raise InvalidIdentifier(
            f"Code commune INSEE invalide : « {code} » ; 5 caractères attendus (ex. 72181, 2A004 pour la Corse)"
        )
    commune = _communes().get(text)
    if commune is None:
        message = f"Code commune INSEE inconnu : « {text} » ne figure pas au code officiel géographique"
        # The most common mistake: a postal code typed where the INSEE code is asked.
        homonyms = communes_by_postal_code(text)
        if homonyms:
            listed = ", ".join(f"{c.code} ({c.name})" for c in homonyms[:5])
            label = "code INSEE correspondant" if len(homonyms) == 1 else "codes INSEE correspondants"
            message += f". C'est un code postal ; {label} : {listed}"
        raise InvalidIdentifier(message)
    return commune


def validate_insee_code(value: str) -> str:
    """An INSEE commune code that exists in the current code officiel géographique."""
    return get_commune(value).code


def communes_by_postal_code(postal_code: str) -> list[Commune]:
    """The communes served by a postal code (La Poste), by INSEE code; empty if none."""
    codes = _postal_index().get((postal_code or "").strip(), ())
    communes = _communes()
    return [communes[code] for code in codes]
