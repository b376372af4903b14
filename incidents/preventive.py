"""Preventive maintenance of the charge points (CCTP CPAM 5-4-2), the pure core: no database, ``now`` and the
facts passed in.

**Monthly remote check** (5-4-2-1): « Le Titulaire procède au moins une fois par mois, pour chaque point de
charge, aux opérations de maintenance préventive suivante, réalisées à distance via le Système de supervision
et d'exploitation : vérification des événements de charge ; vérification des événements d'erreur, collisions
comprises ; contrôle de tous les évènements du registre ; contrôle des évènements de perte de puissance de
charge ; contrôle de donnée de température intérieur de la Borne de recharge ; […] contrôle des historiques des
évènements ; lieu de branchement ; date et heure de branchement et de débranchement ; kW/h utilisés ; contrôle
de la qualité du signal GSM » — and « Chaque contrôle donne lieu à la rédaction de rapport des défauts ou de
dysfonctionnements ». ``assess`` turns one charge point's month (``csms.services.PointMonth``) into one
verdict per check: ``ok`` (OK), ``defect`` (défaut: a ticket is opened) or ``unavailable`` (non disponible:
nothing to check, « non remonté » when the station does not report the value). The operations that need a
person or a command (opening the door remotely, testing the residual-current breakers, starting and stopping
a charge) are not read from data: they are the operator's remote commands and interventions.

**Yearly on-site visit** (5-4-2-2): « au moins une fois par an, pour chaque point de charge » with the
checklist ``CHECKLIST``; ``visit_due`` plans it one year after the last visit (or after the commissioning when
there is none), ``visit_state`` says when it is late, ``read_checklist`` checks what the technician recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from app.dates import add_months
from csms.services import ocpp_word

__all__ = [
    "CHECKLIST",
    "CHECKS",
    "ITEM_RESULTS",
    "SIGNAL_MIN_DBM",
    "TEMPERATURE_MAX_C",
    "VERDICTS",
    "VISIT_STATES",
    "Check",
    "ChecklistError",
    "assess",
    "read_checklist",
    "report_status",
    "visit_due",
    "visit_state",
]

OK, DEFECT, UNAVAILABLE = "ok", "defect", "unavailable"
#: A check's verdict and its French word.
VERDICTS = {OK: "OK", DEFECT: "défaut", UNAVAILABLE: "non disponible"}
NOT_REPORTED = "non remonté"

#: The checks read from the supervision's data, in the order of 5-4-2-1, with the item they carry out.
CHECKS: dict[str, tuple[str, str]] = {
    "sessions": ("Événements de charge", "vérification des événements de charge"),
    "errors": ("Événements d'erreur", "vérification des événements d'erreur, collisions comprises"),
    "register": ("Registre et historique des événements",
                 "contrôle de tous les évènements du registre ; contrôle des historiques des évènements"),
    "power": ("Pertes de puissance de charge", "contrôle des évènements de perte de puissance de charge"),
    "temperature": ("Température intérieure de la borne",
                    "contrôle de donnée de température intérieur de la Borne de recharge"),
    "plug_times": ("Branchements et débranchements", "date et heure de branchement et de débranchement"),
    "energy": ("kWh utilisés", "kW/h utilisés"),
    "signal": ("Qualité du signal GSM", "contrôle de la qualité du signal GSM"),
}

#: Above this internal temperature (°C) the check is a defect (IEC 61851-1 equipment is rated for an ambient of
#: at most 40-50 °C; 60 °C inside the enclosure means cooling or a connection heating).
TEMPERATURE_MAX_C = 60.0
#: Below this signal strength (dBm) the GSM link is too weak to rely on (-100 dBm: the edge of a usable 2G/4G cell).
SIGNAL_MIN_DBM = -100.0
#: Error codes counted by their own check rather than by « événements d'erreur » (one ticket per cause).
_POWER_CODES = frozenset({"UnderVoltage", "OverVoltage", "PowerSwitchFailure", "OverCurrentFailure"})
_OWN_CHECK_CODES = _POWER_CODES | {"HighTemperature", "WeakSignal"}


class Facts(Protocol):
    """What ``assess`` reads of a charge point's month (``csms.services.PointMonth``)."""

    heard: bool
    sessions: int
    completed: int
    anomalies: int
    energy_wh: int
    negative_energy: int
    bad_times: int
    unfinished: int
    first_plug_in: dt.datetime | None
    last_unplug: dt.datetime | None
    power_loss_stops: int
    error_codes: dict[str, int] | None
    temperature_samples: int
    temperature_min: float | None
    temperature_max: float | None
    signal_samples: int
    signal_min: float | None
    register_warnings: int


@dataclass(frozen=True)
class Check:
    """One check's verdict and what it saw, in French."""

    code: str
    verdict: str
    detail: str

    @property
    def label(self) -> str:
        return CHECKS[self.code][0]

    @property
    def verdict_label(self) -> str:
        return VERDICTS[self.verdict]

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "verdict": self.verdict, "detail": self.detail}


def _number(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}".replace(".", ",").replace("-", "−")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n > 1 else ''}"


def _codes(codes: Mapping[str, int]) -> str:
    return ", ".join(f"{ocpp_word(code)} ({n})" for code, n in sorted(codes.items()))


def _local(moment: dt.datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def assess(facts: Facts, zone: ZoneInfo) -> list[Check]:
    """The month's verdict of each check of ``CHECKS`` for one charge point (times shown in ``zone``)."""
    codes = dict(facts.error_codes or {})
    silent = "aucune communication de la borne sur le mois"
    out: list[Check] = []

    def add(code: str, verdict: str, detail: str) -> None:
        out.append(Check(code, verdict, detail))

    # Charging events: a stop without a known start, a start never seen, is a defect of the recording.
    if not facts.heard:
        add("sessions", UNAVAILABLE, silent)
    elif facts.sessions == 0:
        add("sessions", UNAVAILABLE, "aucune recharge sur le mois")
    elif facts.anomalies:
        add("sessions", DEFECT, f"{_plural(facts.anomalies, 'recharge')} incohérente(s) sur {facts.sessions} "
                                "(arrêt sans démarrage connu)")
    else:
        add("sessions", OK, f"{_plural(facts.sessions, 'recharge')}, dont {facts.completed} terminée(s)")
    errors = {code: n for code, n in codes.items() if code not in _OWN_CHECK_CODES}
    if not facts.heard:
        add("errors", UNAVAILABLE, silent)
    elif errors:
        add("errors", DEFECT, f"codes d'erreur signalés : {_codes(errors)}")
    else:
        add("errors", OK, "aucun code d'erreur signalé")
    # The register: a charger never heard from in a month is itself the defect the register shows.
    if not facts.heard:
        add("register", DEFECT, f"{silent} avec la supervision")
    elif facts.register_warnings:
        add("register", DEFECT, f"{_plural(facts.register_warnings, 'avertissement')} au registre de la borne")
    else:
        add("register", OK, "aucun avertissement au registre")
    power = {code: n for code, n in codes.items() if code in _POWER_CODES}
    if not facts.heard:
        add("power", UNAVAILABLE, silent)
    elif facts.power_loss_stops or power:
        parts = [f"{_plural(facts.power_loss_stops, 'recharge')} arrêtée(s) par une coupure de courant"
                 if facts.power_loss_stops else "", _codes(power)]
        add("power", DEFECT, " ; ".join(p for p in parts if p))
    else:
        add("power", OK, "aucune perte de puissance")
    hot = codes.get("HighTemperature", 0)
    if hot or (facts.temperature_max is not None and facts.temperature_max > TEMPERATURE_MAX_C):
        seen = (f"maximum {_number(facts.temperature_max)} °C (seuil {_number(TEMPERATURE_MAX_C, 0)} °C)"
                if facts.temperature_max is not None else "")
        add("temperature", DEFECT, " ; ".join(p for p in (seen, f"température trop élevée signalée ({hot})"
                                                           if hot else "") if p))
    elif not facts.temperature_samples or facts.temperature_min is None or facts.temperature_max is None:
        add("temperature", UNAVAILABLE, NOT_REPORTED)
    else:
        add("temperature", OK, f"de {_number(facts.temperature_min)} à {_number(facts.temperature_max)} °C "
                               f"({_plural(facts.temperature_samples, 'mesure')})")
    if facts.sessions == 0:
        add("plug_times", UNAVAILABLE, "aucune recharge sur le mois")
    elif facts.bad_times or facts.unfinished:
        parts = [f"{_plural(facts.bad_times, 'recharge')} sans heure de branchement ou de débranchement cohérente"
                 if facts.bad_times else "",
                 f"{_plural(facts.unfinished, 'recharge')} non terminée(s) plus de 24 h après le branchement"
                 if facts.unfinished else ""]
        add("plug_times", DEFECT, " ; ".join(p for p in parts if p))
    else:
        span = [f"premier branchement le {_local(facts.first_plug_in, zone)}" if facts.first_plug_in else "",
                f"dernier débranchement le {_local(facts.last_unplug, zone)}" if facts.last_unplug else ""]
        add("plug_times", OK, " ; ".join(p for p in span if p) or "heures cohérentes")
    if facts.completed == 0:
        add("energy", UNAVAILABLE, "aucune recharge terminée sur le mois")
    elif facts.negative_energy:
        add("energy", DEFECT, f"{_plural(facts.negative_energy, 'recharge')} dont le compteur recule")
    else:
        add("energy", OK, f"{_number(facts.energy_wh / 1000)} kWh")
    weak = codes.get("WeakSignal", 0)
    if weak or (facts.signal_min is not None and facts.signal_min < SIGNAL_MIN_DBM):
        seen = (f"au plus faible {_number(facts.signal_min, 0)} dBm (seuil {_number(SIGNAL_MIN_DBM, 0)} dBm)"
                if facts.signal_min is not None else "")
        add("signal", DEFECT, " ; ".join(p for p in (seen, f"signal faible signalé ({weak})" if weak else "") if p))
    elif not facts.signal_samples or facts.signal_min is None:
        add("signal", UNAVAILABLE, NOT_REPORTED)
    else:
        add("signal", OK, f"au plus faible {_number(facts.signal_min, 0)} dBm")
    return out


def report_status(checks: list[Check]) -> str:
    """``defect`` when a check is, else ``ok`` (a value not reported is no defect)."""
    return DEFECT if any(c.verdict == DEFECT for c in checks) else OK


# --------------------------------------------------------------------------- the yearly visit (5-4-2-2)

#: The checklist of 5-4-2-2, item by item (code → the article's words).
CHECKLIST: dict[str, str] = {
    "gammes": "Visite de la borne suivant les gammes conformes aux prescriptions du constructeur",
    "visuel": "Contrôle visuel général (oxydation, fissures)",
    "cables": "Examen visuel de l'état des câbles",
    "connexions": "Resserrage des connexions sur l'appareillage",
    "terre": "Mesure de la résistance du circuit de terre",
    "coupure": "Vérification des organes de coupure et protection",
    "nettoyage_exterieur": "Nettoyage de l'extérieur de la borne",
    "nettoyage_interieur": "Nettoyage et dépoussiérage de l'intérieur de la borne",
    "ancrages": "Vérification et resserrage des ancrages de la borne",
    "electrique": "Vérification électrique de la borne",
    "prises": "Vérification du bon état des prises de recharge (propreté, étanchéité, joints)",
    "fonctionnement": "Vérification du bon fonctionnement de la borne",
    "rfid": "Contrôle du capteur RFID et de son bon fonctionnement",
}
#: What the technician records for an item.
ITEM_RESULTS = {"ok": "conforme", "defect": "défaut constaté", "na": "sans objet"}
#: « visite […] suivant les gammes […] sur une durée de quatre ans après la mise en service de la borne ».
MAKER_SCHEDULE_YEARS = 4
#: A visit due within this many days is « à prévoir ».
SOON_DAYS = 30
VISIT_STATES = {"late": "en retard", "soon": "à prévoir", "planned": "planifiée"}


class ChecklistError(ValueError):
    """What the technician entered does not read (``errors``: field → French message)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def visit_due(last_visit: dt.date | None, commissioned: dt.date) -> dt.date:
    """« au moins une fois par an » (5-4-2-2): one year after the last visit, or after the commissioning."""
    return add_months(last_visit or commissioned, 12)


def visit_state(due: dt.date, today: dt.date) -> str:
    """``late`` past its due day, ``soon`` within ``SOON_DAYS``, else ``planned``."""
    if today > due:
        return "late"
    return "soon" if (due - today).days <= SOON_DAYS else "planned"


@dataclass(frozen=True)
class Checklist:
    """A visit as the technician recorded it, checked."""

    visited_on: dt.date
    technician: str
    items: dict[str, str]
    comments: dict[str, str]
    earth_resistance_ohm: Decimal | None
    remarks: str

    @property
    def defects(self) -> list[str]:
        return [code for code, result in self.items.items() if result == "defect"]


def read_checklist(fields: Mapping[str, Any], today: dt.date) -> Checklist:
    """The form's fields (``visited_on``, ``technician``, ``item_<code>`` for each item of ``CHECKLIST``,
    ``comment_<code>``, ``earth_resistance_ohm``, ``remarks``): every item answered, the day not in the future
    nor more than a year back, the earth resistance a number of ohms; else ``ChecklistError`` in French."""
    errors: dict[str, str] = {}
    text = {k: str(v).strip() for k, v in fields.items()}
    visited_on = None
    try:
        visited_on = dt.date.fromisoformat(text.get("visited_on", ""))
    except ValueError:
        errors["visited_on"] = "date de la visite invalide (attendu : AAAA-MM-JJ)"
    if visited_on is not None and visited_on > today:
        errors["visited_on"] = "la date de la visite ne peut pas être dans le futur"
    elif visited_on is not None and visited_on < add_months(today, -12):
        errors["visited_on"] = "la date de la visite remonte à plus d'un an"
    technician = text.get("technician", "")
    if not technician:
        errors["technician"] = "le nom du technicien est obligatoire"
    elif len(technician) > 200:
        errors["technician"] = "nom du technicien : 200 caractères au plus"
    items: dict[str, str] = {}
    comments: dict[str, str] = {}
    for code, label in CHECKLIST.items():
        result = text.get(f"item_{code}", "")
        if result not in ITEM_RESULTS:
            errors[f"item_{code}"] = f"« {label} » : choisir conforme, défaut constaté ou sans objet"
        else:
            items[code] = result
        comment = text.get(f"comment_{code}", "")
        if len(comment) > 500:
            errors[f"comment_{code}"] = f"« {label} » : commentaire de 500 caractères au plus"
        elif comment:
            comments[code] = comment
        if result == "defect" and not comment:
            errors[f"comment_{code}"] = f"« {label} » : décrire le défaut constaté"
    resistance = None
    raw = text.get("earth_resistance_ohm", "").replace(",", ".")
    if raw:
        try:
            resistance = Decimal(raw)
        except InvalidOperation:
            resistance = None
        if resistance is None or not resistance.is_finite() or not (0 <= resistance <= 10_000):
            errors["earth_resistance_ohm"] = "résistance de terre invalide (un nombre d'ohms entre 0 et 10 000)"
            resistance = None
        else:
            resistance = resistance.quantize(Decimal("0.01"))
    remarks = text.get("remarks", "")
    if len(remarks) > 5000:
        errors["remarks"] = "observations : 5 000 caractères au plus"
    if errors:
        raise ChecklistError(errors)
    assert visited_on is not None
    return Checklist(visited_on, technician, items, comments, resistance, remarks)
