"""The rules of the stations' open data (issue 16 §3, etalab schema-irve 2.3, AFIR): pure functions, no database.

* **Itinerance identifiers.** The schema's pattern for ``id_station_itinerance`` and ``id_pdc_itinerance`` is
  ``^[A-Z]{2}[A-Z0-9]{4,33}$``, and its description says how the AFIREV issues them: « Cet ID débute par FR suivi
  de 3 caractères délivrés par l'AFIREV, suivi de "P" pour "pool" » (station), « suivi de "E" pour l'équivalent du
  point de recharge en anglais EVSE » (point), « Ne pas mettre de séparateur * ou - ». QualiCharge, the State's
  collection of these files, refuses anything else: ``^FR[A-Z0-9]{3}P[A-Z0-9]{1,29}$`` and
  ``^FR[A-Z0-9]{3}E[A-Z0-9]{1,29}$`` (35 characters at most, the schema's own bound). A tenant that has its
  AFIREV operator code gets identifiers of that form (derived from its CPAM identifiers, CCTP CPAM 5-5-1, or given
  point by point) and every one is checked against it; a tenant without one publishes its CPAM identifiers, which
  satisfy the schema's general pattern only.
* **Coordinates.** ``coordonneesXY`` is « La longitude suivie de la latitude … au format [lon,lat] », and a pair
  written the wrong way round is the national file's most frequent defect: a point must lie in France (the
  metropolis, Corsica or an overseas department or collectivity); a pair that lies there only once swapped is
  refused as swapped.
* **Uniqueness** of ``id_pdc_itinerance`` across the tenant's file (the second most frequent defect): two points
  with one identifier are both refused, so that the dynamic file can never say which one is free.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACCESS_CONDITIONS",
    "ACCESSIBILITY",
    "FRANCE_ZONES",
    "IMPLANTATIONS",
    "Candidate",
    "Rejection",
    "ValidationReport",
    "check_coordinates",
    "check_itinerance_id",
    "check_operator_code",
    "check_publisher",
    "derived_ids",
    "validate_points",
]

#: The schema's pattern, and the AFIREV / QualiCharge forms of a tenant with an operator code.
SCHEMA_ID = re.compile(r"^[A-Z]{2}[A-Z0-9]{4,33}$")
OPERATOR_CODE = re.compile(r"^[A-Z0-9]{3}$")
MAX_ID_LENGTH = 35
#: The schema's enumerations (schema-statique.json).
IMPLANTATIONS = ("Voirie", "Parking public", "Parking privé à usage public", "Parking privé réservé à la clientèle",
                 "Station dédiée à la recharge rapide")
ACCESS_CONDITIONS = ("Accès libre", "Accès réservé")
ACCESSIBILITY = ("Réservé PMR", "Accessible mais non réservé PMR", "Non accessible", "Accessibilité inconnue")
HOURS = re.compile(r"(.*?)((\d{1,2}:\d{2})-(\d{1,2}:\d{2})|24/7)")
EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
SIREN = re.compile(r"^\d{9}$")
PHONE = re.compile(r"^\+?[0-9 .]{6,20}$")

#: Where a French charge point may be: (name, latitude min, max, longitude min, max), WGS84 degrees.
FRANCE_ZONES = (
    ("France métropolitaine et Corse", 41.3, 51.2, -5.3, 9.7),
    ("Guadeloupe", 15.8, 16.6, -61.9, -60.9),
    ("Martinique", 14.35, 14.9, -61.3, -60.8),
    ("Guyane", 2.1, 5.8, -54.7, -51.6),
    ("La Réunion", -21.45, -20.85, 55.2, 55.9),
    ("Mayotte", -13.05, -12.6, 44.95, 45.35),
    ("Saint-Barthélemy", 17.85, 17.98, -62.95, -62.78),
    ("Saint-Martin", 18.04, 18.13, -63.16, -62.97),
    ("Saint-Pierre-et-Miquelon", 46.74, 47.15, -56.45, -56.1),
    ("Nouvelle-Calédonie", -22.9, -19.5, 163.5, 168.2),
    ("Polynésie française", -28.0, -7.8, -154.8, -134.4),
    ("Wallis-et-Futuna", -14.4, -13.1, -178.25, -176.1),
)


def _zone(latitude: float, longitude: float) -> str | None:
    for name, lat_min, lat_max, lon_min, lon_max in FRANCE_ZONES:
        if lat_min <= latitude <= lat_max and lon_min <= longitude <= lon_max:
            return name
    return None


def check_coordinates(latitude: float | None, longitude: float | None) -> str | None:
    """French message when the site's pair cannot be published: missing, swapped, or outside France."""
    if latitude is None or longitude is None:
        return "le site n'a pas de coordonnées (latitude et longitude) : renseignez-les dans la fiche du site."
    if _zone(latitude, longitude):
        return None
    if zone := _zone(longitude, latitude):
        return (f"latitude et longitude inversées : ({latitude:g}, {longitude:g}) n'est pas en France, mais "
                f"({longitude:g}, {latitude:g}) serait en {zone}. Corrigez la fiche du site (latitude {longitude:g}, "
                f"longitude {latitude:g}) : le fichier écrit [longitude,latitude].")
    return (f"les coordonnées du site (latitude {latitude:g}, longitude {longitude:g}) ne sont ni en métropole ni "
            "dans un département ou une collectivité d'outre-mer.")


def check_operator_code(code: str) -> str | None:
    if code and not OPERATOR_CODE.match(code):
        return ("Le code opérateur AFIREV comporte 3 caractères, lettres majuscules ou chiffres (ex. « A68 » dans "
                "FRA68E680210015), sans « FR » ni séparateur.")
    return None


def check_itinerance_id(value: str, level: str, operator_code: str) -> str | None:
    """French message when ``value`` cannot be the ``id_station_itinerance`` (``level`` P) or ``id_pdc_itinerance``
    (E) of a tenant with ``operator_code`` ("" when it has none)."""
    what = "de la station" if level == "P" else "du point de charge"
    if not SCHEMA_ID.match(value):
        return (f"L'identifiant d'itinérance {what} « {value} » ne suit pas le schéma IRVE : 2 lettres puis 4 à 33 "
                "lettres majuscules ou chiffres, sans séparateur « * » ni « - ».")
    if operator_code:
        prefix = f"FR{operator_code}{level}"
        if not value.startswith(prefix) or len(value) == len(prefix):
            return (f"L'identifiant d'itinérance {what} « {value} » doit commencer par « {prefix} » (FR, votre code "
                    f"opérateur AFIREV {operator_code}, puis « {level} » pour "
                    f"{'une station' if level == 'P' else 'un point de charge'}) et être suivi d'au moins un caractère.")
    return None


def derived_ids(operator_code: str, station_canonical: str, point_canonical: str) -> tuple[str, str]:
    """The station's and the point's itinerance identifiers: with an operator code, FR + code + P / E + the CPAM
    identifier without its country (``FR72181P0001010101`` → ``FRA68E72181P0001010101``); without, the CPAM
    identifiers themselves (the schema's general pattern)."""
    if not operator_code:
        return station_canonical, point_canonical
    return f"FR{operator_code}P{station_canonical[2:]}", f"FR{operator_code}E{point_canonical[2:]}"


@dataclass(frozen=True)
class Candidate:
    """A public point before the checks: its identifiers, its site's coordinates and how people call it."""

    point_key: str
    label: str
    id_station_itinerance: str
    id_pdc_itinerance: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class Rejection:
    point: str
    message: str


@dataclass
class ValidationReport:
    """The last check of the published files, shown on the admin page and kept with the settings."""

    checked_at: dt.datetime
    published: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.rejected

    def as_dict(self) -> dict[str, Any]:
        return {"checked_at": self.checked_at.isoformat(), "published": self.published,
                "rejected": [{"point": r.point, "message": r.message} for r in self.rejected]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ValidationReport | None:
        if not data:
            return None
        return cls(dt.datetime.fromisoformat(data["checked_at"]), int(data.get("published", 0)),
                   [Rejection(r["point"], r["message"]) for r in data.get("rejected", [])])


def validate_points(candidates: Iterable[Candidate], operator_code: str, now: dt.datetime
                    ) -> tuple[list[Candidate], ValidationReport]:
    """The candidates that may be published, and the report naming each refused one with its reason."""
    candidates = list(candidates)
    counts = Counter(c.id_pdc_itinerance for c in candidates)
    accepted: list[Candidate] = []
    report = ValidationReport(now)
    for c in candidates:
        problems = [p for p in (check_itinerance_id(c.id_pdc_itinerance, "E", operator_code),
                                check_itinerance_id(c.id_station_itinerance, "P", operator_code)) if p]
        if counts[c.id_pdc_itinerance] > 1:
            problems.append(f"l'identifiant d'itinérance {c.id_pdc_itinerance} est donné à "
                            f"{counts[c.id_pdc_itinerance]} points de charge : il doit être unique.")
        if problem := check_coordinates(c.latitude, c.longitude):
            problems.append(problem)
        if problems:
            report.rejected.extend(Rejection(c.label, p) for p in problems)
        else:
            accepted.append(c)
    report.published = len(accepted)
    return accepted, report


# --------------------------------------------------------------------------- the publisher's settings

#: Field → (French label, longest value).
PUBLISHER_FIELDS = {
    "nom_amenageur": ("Nom de l'aménageur", 200), "siren_amenageur": ("SIREN de l'aménageur", 9),
    "contact_amenageur": ("Courriel de l'aménageur", 320), "nom_operateur": ("Nom de l'opérateur", 200),
    "contact_operateur": ("Courriel de l'opérateur", 320), "telephone_operateur": ("Téléphone de l'opérateur", 20),
    "nom_enseigne": ("Nom de l'enseigne (réseau)", 200), "operator_code": ("Code opérateur AFIREV", 3),
    "implantation_station": ("Implantation des stations", 60), "condition_acces": ("Condition d'accès", 20),
    "horaires": ("Horaires", 200), "accessibilite_pmr": ("Accessibilité PMR", 60),
}


def check_publisher(data: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The publisher's values (trimmed) and the French message of each wrong field: the schema's required and
    enumerated fields (contact_operateur, nom_enseigne, implantation, condition d'accès, horaires, PMR)."""
    values = {key: " ".join(str(data.get(key) or "").split()) for key in PUBLISHER_FIELDS}
    values["operator_code"] = values["operator_code"].upper()
    errors: dict[str, str] = {}
    for key, (label, limit) in PUBLISHER_FIELDS.items():
        if len(values[key]) > limit:
            errors[key] = f"{label} : {limit} caractères au plus ({len(values[key])} saisis)."
    for key in ("contact_operateur", "nom_enseigne"):
        if not values[key] and key not in errors:
            errors[key] = f"{PUBLISHER_FIELDS[key][0]} : obligatoire dans le schéma IRVE."
    for key in ("contact_operateur", "contact_amenageur"):
        if values[key] and key not in errors and not EMAIL.match(values[key]):
            errors[key] = f"{PUBLISHER_FIELDS[key][0]} : adresse invalide (ex. contact@exemple.fr)."
    if values["siren_amenageur"] and not SIREN.match(values["siren_amenageur"]):
        errors["siren_amenageur"] = "Le SIREN comporte 9 chiffres (les 9 premiers du SIRET)."
    if values["telephone_operateur"] and "telephone_operateur" not in errors and not PHONE.match(
            values["telephone_operateur"]):
        errors["telephone_operateur"] = "Téléphone : chiffres, espaces et points (ex. 02 43 00 00 00)."
    if problem := check_operator_code(values["operator_code"]):
        errors["operator_code"] = problem
    for key, allowed in (("implantation_station", IMPLANTATIONS), ("condition_acces", ACCESS_CONDITIONS),
                         ("accessibilite_pmr", ACCESSIBILITY)):
        if values[key] not in allowed:
            errors[key] = f"{PUBLISHER_FIELDS[key][0]} : choisissez parmi {', '.join(allowed)}."
    if not HOURS.fullmatch(values["horaires"]) and "horaires" not in errors:
        errors["horaires"] = ("Horaires : « 24/7 » ou des plages au format OpenStreetMap "
                              "(ex. « Mo-Fr 08:00-19:00 »).")
    return values, errors
