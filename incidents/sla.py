"""SLA policies (GTI / GTR tables of the tenders) and ticket clocks.

A policy is data: named levels (or priorities), each with an intervention delay and a
restoration delay, each counted in a named calendar window (``ho-8-18``, ``ho-8-17``,
``24x7`` or the tenant's own ``business`` calendar) or as a number of days of a French
kind. The three templates below transcribe CCTP CPAM 5-4-4 / 5-4-5, CCTP CANUT 6.6 and
CCTP CAIH 2.1.21 / 2.1.22; a tenant gets a fresh copy and may edit it.

A ticket clock is rebuilt from the ticket's event history every time (never a running
counter): the history gives when the clock started, when it ran and when it was
paused, which level applies (the last classification wins, applied from the start, so
a priority change recomputes with the pauses kept) and when each target was reached.
Everything here is pure: no database, no current time (``now`` is a parameter).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from tenants.calendars import DAY_KINDS, PRESETS, BusinessCalendar, from_us, to_us

__all__ = [
    "CALENDAR_NAMES",
    "EVENT_KINDS",
    "STATUS_LABELS",
    "DeadlineClock",
    "Delay",
    "IncidentType",
    "SlaLevel",
    "SlaPolicy",
    "TicketClock",
    "TicketEvent",
    "caih_policy",
    "canut_policy",
    "compute_deadline",
    "cpam_irve_policy",
    "cpam_works_delays",
    "evaluate_ticket",
    "onsite_continuity_breach",
    "policy_template",
    "restoration_seconds",
    "tgd_policy",
    "TEMPLATES",
]

CALENDAR_NAMES = (*PRESETS, "business")
_US_PER_MIN = 60_000_000
_ONE_US = timedelta(microseconds=1)


# --------------------------------------------------------------------------- policies


@dataclass
class Delay:
    """One delay: ``minutes`` of open time in ``calendar``, or ``days`` of a ``kind``.

    Two refinements carry the CPAM rules: ``outside_hours`` replaces the delay when
    the clock starts while ``calendar`` is closed (5-4-4, level 2: "12 heures hors
    jours et heures ouvrés"), and ``wide`` replaces it when ``wide_percent`` % or more
    of the tenant's stations are affected (5-4-5: "30 % des IRVE ou plus").
    """

    minutes: int = 0
    calendar: str = "24x7"
    days: int = 0
    kind: str | None = None
    outside_hours: Delay | None = None
    wide: Delay | None = None
    wide_percent: int = 30

    def __post_init__(self) -> None:
        if self.calendar not in CALENDAR_NAMES:
            raise ValueError(f"calendrier inconnu : {self.calendar!r} (attendu : {', '.join(CALENDAR_NAMES)})")
        if self.kind is not None and self.kind not in DAY_KINDS:
            raise ValueError(f"type de jours inconnu : {self.kind!r} (attendu : {', '.join(DAY_KINDS)})")
        if self.minutes < 0 or self.days < 0:
            raise ValueError("un délai ne peut pas être négatif")
        if not 0 < self.wide_percent <= 100:
            raise ValueError("le seuil doit être un pourcentage entre 1 et 100")

    @classmethod
    def hours(cls, hours: float, calendar: str = "24x7", **more: Any) -> Delay:
        return cls(minutes=round(hours * 60), calendar=calendar, **more)

    @classmethod
    def working_days(cls, days: int, kind: str) -> Delay:
        return cls(days=days, kind=kind)

    def describe(self) -> str:
        """French, for screens and documentation."""
        if self.kind is not None:
            text = f"{self.days} jours {_KIND_LABELS[self.kind]}"
        elif self.minutes == 0:
            text = "immédiat"
        else:
            h, m = divmod(self.minutes, 60)
            amount = f"{h} h" + (f" {m:02d}" if m else "") if h else f"{m} min"
            text = f"{amount} ({_CALENDAR_LABELS[self.calendar]})"
        if self.outside_hours is not None:
            text += f", {self.outside_hours.describe()} hors de ces heures"
        if self.wide is not None:
            text += f" ; {self.wide.describe()} si {self.wide_percent} % ou plus du parc est touché"
        return text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = (
            {"days": self.days, "kind": self.kind} if self.kind is not None
            else {"minutes": self.minutes, "calendar": self.calendar}
        )
        if self.outside_hours is not None:
            out["outside_hours"] = self.outside_hours.to_dict()
        if self.wide is not None:
            out["wide"] = self.wide.to_dict()
            out["wide_percent"] = self.wide_percent
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Delay:
        return cls(
            minutes=int(data.get("minutes", 0)),
            calendar=str(data.get("calendar", "24x7")),
            days=int(data.get("days", 0)),
            kind=data.get("kind"),
            outside_hours=cls.from_dict(data["outside_hours"]) if data.get("outside_hours") else None,
            wide=cls.from_dict(data["wide"]) if data.get("wide") else None,
            wide_percent=int(data.get("wide_percent", 30)),
        )


_KIND_LABELS = {"ouvres": "ouvrés", "ouvrables": "ouvrables", "calendaires": "calendaires"}
_CALENDAR_LABELS = {
    "ho-8-18": "heures ouvrées, lun-ven 8 h-18 h",
    "ho-8-17": "heures ouvrées, lun-ven 8 h-17 h",
    "24x7": "24 h/24, 7 j/7",
    "business": "heures ouvrées du bénéficiaire",
}


@dataclass
class SlaLevel:
    """A level or priority: its French label and its two delays (either may be absent)."""

    label: str
    intervention: Delay | None = None
    restoration: Delay | None = None
    article: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "intervention": self.intervention.to_dict() if self.intervention else None,
            "restoration": self.restoration.to_dict() if self.restoration else None,
            "article": self.article,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlaLevel:
        return cls(
            label=str(data["label"]),
            intervention=Delay.from_dict(data["intervention"]) if data.get("intervention") else None,
            restoration=Delay.from_dict(data["restoration"]) if data.get("restoration") else None,
            article=str(data.get("article", "")),
        )


@dataclass
class IncidentType:
    """A class of incident (CANUT 6.6: Bloquant, Majeur, Mineur) and the priorities it admits."""

    label: str
    default_level: str
    levels: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "default_level": self.default_level, "levels": list(self.levels)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IncidentType:
        return cls(str(data["label"]), str(data["default_level"]), tuple(data["levels"]))


@dataclass
class SlaPolicy:
    """The delays a tenant's contract grants, by level.

    ``restoration_levels``, when not empty, classifies restoration separately from
    intervention (CPAM 5-4-5 grades restoration by the work needed, 5-4-4 grades
    intervention by danger). ``restoration_from`` is ``report`` (CANUT, CAIH: from the
    first information / registration) or ``intervention_deadline`` (CPAM 5-4-5: "à
    compter de l'expiration du délai d'intervention").
    """

    code: str
    label: str
    article: str
    levels: dict[str, SlaLevel]
    default_level: str
    restoration_levels: dict[str, SlaLevel] = field(default_factory=dict)
    default_restoration_level: str | None = None
    restoration_from: str = "report"
    purchase_order_starts_clock: bool = False
    incident_types: dict[str, IncidentType] = field(default_factory=dict)
    default_incident_type: str | None = None
    applies_to: tuple[str, ...] = ()  # territory codes; empty: everywhere
    #: CAIH 2.1.22: « Toute intervention sur site débutée avant 18h00 doit être poursuivie
    #: jusqu'à la résolution de l'incident » — the local time ("18:00") before which an on-site
    #: intervention, once started, must go on until the resolution; None: no such rule.
    onsite_continuity_before: str | None = None

    def __post_init__(self) -> None:
        if self.default_level not in self.levels:
            raise ValueError(f"niveau par défaut inconnu : {self.default_level!r}")
        if self.restoration_levels and self.default_restoration_level not in self.restoration_levels:
            raise ValueError(f"niveau de rétablissement par défaut inconnu : {self.default_restoration_level!r}")
        if self.restoration_from not in ("report", "intervention_deadline"):
            raise ValueError(f"point de départ du rétablissement inconnu : {self.restoration_from!r}")
        for code, itype in self.incident_types.items():
            for level in (itype.default_level, *itype.levels):
                if level not in self.levels:
                    raise ValueError(f"type d'incident {code!r} : niveau inconnu {level!r}")
        if self.default_incident_type is not None and self.default_incident_type not in self.incident_types:
            raise ValueError(f"type d'incident par défaut inconnu : {self.default_incident_type!r}")
        if self.onsite_continuity_before is not None:
            _local_time(self.onsite_continuity_before)

    def applies_in(self, territory: str) -> bool:
        """Whether the contract's delays hold in that territory (CAIH 2.1.22: metropolitan France only)."""
        return not self.applies_to or territory in self.applies_to

    def resolve_level(self, level: str | None = None, incident_type: str | None = None) -> str:
        """The level that applies: the one given, else the incident type's default, else the policy's.

        CANUT 6.6: "Tout incident non-inclus dans la liste des incidents ci-dessus sera
        considéré comme un incident mineur"; P2 "est la priorité par défaut".
        """
        itype = None
        if self.incident_types and (incident_type is not None or self.default_incident_type is not None):
            key = (incident_type or "").strip().lower()
            itype = self.incident_types.get(key) or self.incident_types.get(self.default_incident_type or "")
        if level is not None:
            if level not in self.levels:
                raise ValueError(f"niveau inconnu : {level!r} (attendu : {', '.join(self.levels)})")
            if itype is not None and incident_type is not None and level not in itype.levels:
                raise ValueError(
                    f"la priorité {level} n'est pas admise pour un incident {itype.label}"
                    f" (admises : {', '.join(itype.levels)})"
                )
            return level
        if itype is not None:
            return itype.default_level
        return self.default_level

    def resolve_restoration_level(self, level: str, restoration_level: str | None) -> tuple[str, SlaLevel]:
        if not self.restoration_levels:
            return level, self.levels[level]
        code = restoration_level if restoration_level is not None else self.default_restoration_level
        assert code is not None  # checked in __post_init__
        try:
            return code, self.restoration_levels[code]
        except KeyError:
            raise ValueError(
                f"niveau de rétablissement inconnu : {code!r} (attendu : {', '.join(self.restoration_levels)})"
            ) from None

    def copy(self) -> SlaPolicy:
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "label": self.label,
            "article": self.article,
            "levels": {k: v.to_dict() for k, v in self.levels.items()},
            "default_level": self.default_level,
            "restoration_levels": {k: v.to_dict() for k, v in self.restoration_levels.items()},
            "default_restoration_level": self.default_restoration_level,
            "restoration_from": self.restoration_from,
            "purchase_order_starts_clock": self.purchase_order_starts_clock,
            "incident_types": {k: v.to_dict() for k, v in self.incident_types.items()},
            "default_incident_type": self.default_incident_type,
            "applies_to": list(self.applies_to),
            "onsite_continuity_before": self.onsite_continuity_before,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlaPolicy:
        try:
            return cls(
                code=str(data["code"]),
                label=str(data["label"]),
                article=str(data.get("article", "")),
                levels={str(k): SlaLevel.from_dict(v) for k, v in data["levels"].items()},
                default_level=str(data["default_level"]),
                restoration_levels={
                    str(k): SlaLevel.from_dict(v) for k, v in (data.get("restoration_levels") or {}).items()
                },
                default_restoration_level=data.get("default_restoration_level"),
                restoration_from=str(data.get("restoration_from", "report")),
                purchase_order_starts_clock=bool(data.get("purchase_order_starts_clock", False)),
                incident_types={
                    str(k): IncidentType.from_dict(v) for k, v in (data.get("incident_types") or {}).items()
                },
                default_incident_type=data.get("default_incident_type"),
                applies_to=tuple(data.get("applies_to") or ()),
                onsite_continuity_before=data.get("onsite_continuity_before"),
            )
        except KeyError as exc:
            raise ValueError(f"champ manquant dans la politique de service : {exc.args[0]}") from None


# --------------------------------------------------------------------------- templates


def cpam_irve_policy() -> SlaPolicy:
    """CCTP CPAM de la Sarthe (IRVE), 5-4-4 (intervention) and 5-4-5 (restoration).

    The "heures ouvrées" are those of 5-4-4: 8 h to 17 h, Monday to Friday; delays
    given in plain hours run around the clock.
    """
    a4, a5 = "CCTP CPAM 5-4-4", "CCTP CPAM 5-4-5"
    return SlaPolicy(
        code="cpam-irve",
        label="CPAM de la Sarthe : maintenance des IRVE",
        article="CCTP CPAM 5-4-4 et 5-4-5",
        levels={
            # "Télémaintenance : lancement d'une maintenance à distance suite à la
            # remontée d'un dysfonctionnement : 12h"
            "telemaintenance": SlaLevel("Télémaintenance", Delay.hours(12), article=a4),
            # "Niveau 1 : défaut identifié par un technicien présent sur site : Immédiat"
            "1": SlaLevel("Niveau 1 : défaut identifié par un technicien sur site", Delay(), article=a4),
            # "Niveau 2 : défaut présentant un danger pour la sécurité des personnes :
            # 4 heures ouvrés (de 8 heures à 17 heures du lundi au vendredi) ; 12 heures
            # hors jours et heures ouvrés"
            "2": SlaLevel(
                "Niveau 2 : danger pour la sécurité des personnes",
                Delay.hours(4, "ho-8-17", outside_hours=Delay.hours(12)),
                article=a4,
            ),
            # "Niveau 3 : défaut ne présentant pas un danger pour la sécurité des
            # personnes : 48h ouvrés maximum"
            "3": SlaLevel("Niveau 3 : sans danger pour la sécurité des personnes",
                          Delay.hours(48, "ho-8-17"), article=a4),
        },
        default_level="3",
        restoration_levels={
            # "Niveau 1 : défaut affectant la totalité du service : 12h ouvrés maximum"
            "1": SlaLevel("Niveau 1 : totalité du service", restoration=Delay.hours(12, "ho-8-17"), article=a5),
            # "Niveau 2 : sans changement de pièce : moins de 30 % des IRVE : 24 heures ;
            # 30 % des IRVE ou plus : 36 heures"
            "2": SlaLevel("Niveau 2 : sans changement de pièce",
                          restoration=Delay.hours(24, wide=Delay.hours(36)), article=a5),
            # "Niveau 3 : avec changement de pièce, sans remplacement de l'IRVE : 48 / 72 heures"
            "3": SlaLevel("Niveau 3 : changement de pièce",
                          restoration=Delay.hours(48, wide=Delay.hours(72)), article=a5),
            # "Niveau 4 : avec remplacement de la borne : 72 / 96 heures"
            "4": SlaLevel("Niveau 4 : remplacement de la borne",
                          restoration=Delay.hours(72, wide=Delay.hours(96)), article=a5),
        },
        default_restoration_level="2",
        restoration_from="intervention_deadline",
        # 5-4-4: "lorsque ces interventions sont subordonnées à l'émission d'un bon de
        # commande (...), le délai court à compter de la notification du bon de commande".
        purchase_order_starts_clock=True,
    )


def canut_policy(*, option_24x7: bool = False) -> SlaPolicy:
    """CCTP CANUT (IoT), 6.6: Bloquant / Majeur / Mineur, priorities P0 / P1 / P2.

    "HO = Heures Ouvrées (lun-ven de 8h à 18h)". The table marks the GTI "(HO)" and
    offers a 24h/7j option on the P0 and P1 rows; the GTR in hours is counted in the
    same window as the GTI (a GTR running around the clock under an HO GTI would fall
    due before the intervention). The P2 GTI "< 24h" is read in HO as well.
    """
    a = "CCTP CANUT 6.6"
    window = "24x7" if option_24x7 else "ho-8-18"
    return SlaPolicy(
        code="canut-iot-24x7" if option_24x7 else "canut-iot",
        label="CANUT : solutions IoT" + (" (option 24h/7j)" if option_24x7 else ""),
        article=a,
        levels={
            # "Bloquant | P0 | < 1h (HO) Option 24h/7j | < 4h"
            "P0": SlaLevel("P0 : traitement urgent", Delay.hours(1, window), Delay.hours(4, window), a),
            # "Majeur | P1 voire P0 | < 4h (HO) Option 24h/7j | < 12h"
            "P1": SlaLevel("P1 : traitement court terme", Delay.hours(4, window), Delay.hours(12, window), a),
            # "Mineur | P2 voire P1 | < 24h | < 5 jours ouvrés"
            "P2": SlaLevel("P2 : traitement planifié", Delay.hours(24, "ho-8-18"),
                           Delay.working_days(5, "ouvres"), a),
        },
        default_level="P2",
        incident_types={
            "bloquant": IncidentType("Bloquant", "P0", ("P0",)),
            "majeur": IncidentType("Majeur", "P1", ("P1", "P0")),
            "mineur": IncidentType("Mineur", "P2", ("P2", "P1")),
        },
        default_incident_type="mineur",
    )


def caih_policy(*, window: str = "ho", service: str = "maintenance") -> SlaPolicy:
    """CCTP CAIH (serveurs et stockage), 2.1.21 and 2.1.22.

    "Les niveaux de service 4H, 10H00 et 50H00 sont définis pour des délais de Garantie
    de Temps de Rétablissement (GTR) concernant la maintenance, et de Garantie de Temps
    d'Intervention (GTI) concernant l'infogérance", counted "dans les plages horaires
    (...) commandées par le bénéficiaire" (HO: Mon-Fri 8-18 without public holidays, or
    24/24 7/7 including them), "à partir de l'heure d'enregistrement de l'incident".
    """
    if window not in ("ho", "24x7"):
        raise ValueError("plage horaire CAIH inconnue (attendu : ho ou 24x7)")
    if service not in ("maintenance", "infogerance"):
        raise ValueError("prestation CAIH inconnue (attendu : maintenance ou infogerance)")
    a = "CCTP CAIH 2.1.21 et 2.1.22"
    calendar = "ho-8-18" if window == "ho" else "24x7"
    plage = "HO" if window == "ho" else "24/7"
    levels = {}
    for hours in (4, 10, 50):
        delay = Delay.hours(hours, calendar)
        if service == "maintenance":
            levels[f"{hours}h"] = SlaLevel(f"GTR {hours} h ({plage})", restoration=delay, article=a)
        else:
            levels[f"{hours}h"] = SlaLevel(f"GTI {hours} h ({plage})", intervention=delay, article=a)
    return SlaPolicy(
        code=f"caih-{service}-{window}",
        label=f"CAIH : {'maintenance' if service == 'maintenance' else 'infogérance'} ({plage})",
        article=a,
        levels=levels,
        default_level="4h",
        # "Ces délais sont applicables uniquement en France métropolitaine."
        applies_to=("metropole", "alsace-moselle"),
        # "Toute intervention sur site débutée avant 18h00 doit être poursuivie jusqu'à la
        # résolution de l'incident."
        onsite_continuity_before="18:00",
    )


def tgd_policy() -> SlaPolicy:
    """CCP Justice TGD outre-mer, annexe 1 I.4 and annexe 2 II (téléassistance 24h/24h, 7j/7).

    Annexe 1 I.4: a faulty terminal « encore sous garantie » is exchanged « par un modèle
    identique, dans un délai maximum de 24 heures, le numéro de terminal initial n'étant pour sa
    part pas modifié »; out of warranty, the delay is the one of the financial annex (none here:
    the ticket is followed without a contractual clock). Annexe 2 II.2.1: the « fiche
    bénéficiaire » is created « dans les quinze minutes suivant la réception de la télécopie ou
    du message électronique » — a deadline of the beneficiary file (``assets.terminals``), not of
    an incident ticket. Chantier 2 runs « 24 heures sur 24, et 7 jours sur 7 » (X.4).
    """
    a1 = "CCP TGD annexe 1 I.4"
    return SlaPolicy(
        code="tgd-terminaux",
        label="Justice : terminaux grave danger (outre-mer)",
        article="CCP TGD annexes 1 et 2",
        levels={
            "echange": SlaLevel("Échange d'un terminal défectueux sous garantie (24 h)",
                                restoration=Delay.hours(24), article=a1),
            "hors-garantie": SlaLevel("Terminal hors garantie : délai de l'annexe financière", article=a1),
        },
        default_level="echange",
    )


TEMPLATES: dict[str, Any] = {
    "cpam-irve": cpam_irve_policy,
    "canut-iot": canut_policy,
    "canut-iot-24x7": lambda: canut_policy(option_24x7=True),
    "caih-maintenance-ho": caih_policy,
    "caih-maintenance-24x7": lambda: caih_policy(window="24x7"),
    "caih-infogerance-ho": lambda: caih_policy(service="infogerance"),
    "caih-infogerance-24x7": lambda: caih_policy(window="24x7", service="infogerance"),
    "tgd-terminaux": tgd_policy,
}


def _local_time(text: str) -> time:
    try:
        hour, minute = (int(part) for part in text.split(":"))
        return time(hour, minute)
    except (ValueError, TypeError):
        raise ValueError(f"heure invalide : {text!r} (attendu : HH:MM)") from None


def onsite_continuity_breach(policy: SlaPolicy, calendar: BusinessCalendar, *, mode: str, started_at: datetime,
                             ended_at: datetime | None, resolved_at: datetime | None) -> bool:
    """CAIH 2.1.22: « Toute intervention sur site débutée avant 18h00 doit être poursuivie
    jusqu'à la résolution de l'incident. »

    True when an on-site intervention started before the policy's local time (in the tenant's
    zone) ended while the incident was not resolved: the technician left before the resolution.
    The rule is an obligation of the titulaire, not a change of the clock: the delays stay
    counted in the ordered window (« Les délais sont compris dans les plages horaires … »).
    """
    if policy.onsite_continuity_before is None or mode != "on_site" or ended_at is None:
        return False
    if started_at.astimezone(calendar.zone).time() >= _local_time(policy.onsite_continuity_before):
        return False
    return resolved_at is None or resolved_at > ended_at


def policy_template(code: str) -> SlaPolicy:
    """A fresh, editable copy of a template."""
    try:
        return TEMPLATES[code]()
    except KeyError:
        raise ValueError(f"modèle inconnu : {code!r} (attendu : {', '.join(TEMPLATES)})") from None


def cpam_works_delays() -> dict[str, tuple[Delay, str]]:
    """The day-counted delays of the CPAM installation process, with their article."""
    return {
        # "Le délai maximal entre la réalisation de la visite de site et l'émission du
        # devis est de 14 jours ouvrables"
        "devis": (Delay.working_days(14, "ouvrables"), "CCTP CPAM 5-1-4"),
        # "Le délai maximal entre la validation du devis et le début des travaux est de
        # 21 jours ouvrables"
        "debut_travaux": (Delay.working_days(21, "ouvrables"), "CCTP CPAM 5-2"),
        # "La réception des travaux sera faite dans les 14 jours calendaires qui suivent
        # la mise en service de l'IRVE"
        "reception": (Delay.working_days(14, "calendaires"), "CCTP CPAM 5-3-1"),
    }


# --------------------------------------------------------------------------- delays


def _is_wide(delay: Delay, context: Mapping[str, Any]) -> bool:
    affected, fleet = context.get("affected"), context.get("fleet")
    if affected is not None and fleet:
        return int(affected) * 100 >= delay.wide_percent * int(fleet)
    share = context.get("affected_share")
    return share is not None and float(share) * 100 >= delay.wide_percent


def _resolve_delay(delay: Delay, calendar: BusinessCalendar, start_us: int,
                   context: Mapping[str, Any]) -> tuple[Delay, BusinessCalendar, int]:
    """The delay that applies, the calendar it counts in, and its budget in that calendar."""
    if delay.wide is not None and _is_wide(delay, context):
        delay = delay.wide
    if delay.outside_hours is not None and not calendar.derive(delay.calendar)._engine.is_open(start_us):
        delay = delay.outside_hours
    if delay.kind is not None:
        counting = calendar.day_calendar(delay.kind)
        due = to_us(calendar.add_days(from_us(start_us, calendar.zone), delay.days, delay.kind))
        return delay, counting, counting._engine.between(start_us, due)
    return delay, calendar.derive(delay.calendar), delay.minutes * _US_PER_MIN


def compute_deadline(start: datetime, delay: Delay, calendar: BusinessCalendar,
                     context: Mapping[str, Any] | None = None) -> datetime:
    """The deadline of one delay from ``start``, without pauses (orders, quotes, works)."""
    start_us = to_us(start)
    delay, counting, budget = _resolve_delay(delay, calendar, start_us, context or {})
    if delay.kind is not None:
        return calendar.add_days(start, delay.days, delay.kind)
    return from_us(counting._engine.add(start_us, budget), calendar.zone)


# --------------------------------------------------------------------------- tickets

EVENT_KINDS = (
    "opened",
    "acknowledged",
    "intervention_started",
    "intervention_done",
    "waiting_for_buyer",
    "resumed",
    "solved",
    "reopened",
    "closed",
    "priority_changed",
    "policy_changed",
    "purchase_order_notified",
)

STATUS_LABELS = {
    "awaiting_purchase_order": "en attente du bon de commande",
    "open": "en cours",
    "waiting_for_buyer": "en attente de l'acheteur",
    "solved": "résolu",
    "closed": "clos",
}

# Keys of an event's data that classify the ticket; the last value given wins.
_CLASSIFYING = ("level", "restoration_level", "incident_type", "affected", "fleet", "affected_share",
                "purchase_order_required")


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """One entry of a ticket's history. ``data`` carries the classification keys
    (``level``, ``restoration_level``, ``incident_type``, ``affected`` and ``fleet`` or
    ``affected_share``, ``purchase_order_required``) and, for ``policy_changed``,
    ``policy`` (a policy dict, or a code looked up in the ``policies`` given)."""

    kind: str
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadlineClock:
    """One target (intervention or restoration) of a ticket."""

    target: str  # "intervention" or "restoration"
    level: str
    label: str
    article: str
    delay: Delay  # the delay that applied (after the CPAM refinements)
    calendar: str  # the calendar it counted in
    started_at: datetime
    deadline: datetime  # provisional while not reached: assumes the clock runs from now on
    reached_at: datetime | None
    allowed: timedelta  # open time granted, in ``calendar``
    consumed: timedelta  # open time used, pauses excluded, up to ``reached_at`` or now
    met: bool | None  # None while not reached and not yet late
    breached: bool
    overrun: timedelta  # open time used beyond ``allowed`` (zero when within)
    late_by: timedelta  # elapsed time from the deadline to ``reached_at`` or now (zero when within)

    @property
    def remaining(self) -> timedelta:
        return max(self.allowed - self.consumed, timedelta(0))


@dataclass(frozen=True, slots=True)
class TicketClock:
    policy: str
    level: str
    restoration_level: str | None
    status: str
    opened_at: datetime
    clock_started_at: datetime | None  # None while waiting for a purchase order
    acknowledged_at: datetime | None
    intervention: DeadlineClock | None
    restoration: DeadlineClock | None
    paused: timedelta  # elapsed time spent waiting or solved-then-reopened, up to now

    @property
    def breached(self) -> bool:
        return any(c is not None and c.breached for c in (self.intervention, self.restoration))


def restoration_seconds(clock: TicketClock) -> int | None:
    """CCTP CAIH 6.1 « le temps de rétablissement » of one ticket: the open time its restoration clock (the GTR)
    used up to the restoration, pauses excluded, in whole seconds; None while not restored, or without a
    restoration delay. ``Ticket.restoration_seconds`` holds it: set at each event (``incidents.tickets``) and, for
    the tickets restored before the column existed, by ``centrale sla backfill-restoration``."""
    restoration = clock.restoration
    if restoration is None or restoration.reached_at is None:
        return None
    return int(restoration.consumed.total_seconds())


_RUNNING, _WAITING, _SOLVED, _CLOSED = "open", "waiting_for_buyer", "solved", "closed"
_ZERO = timedelta(0)


def evaluate_ticket(events: Iterable[TicketEvent], policy: SlaPolicy, calendar: BusinessCalendar,
                    now: datetime, *, policies: Mapping[str, SlaPolicy] | None = None) -> TicketClock:
    """Rebuild a ticket's clocks from its history.

    Pauses: ``waiting_for_buyer`` stops the clock until ``resumed`` (or until work
    resumes: ``intervention_started`` / ``intervention_done``); ``solved`` and
    ``closed`` stop it until ``reopened``, which keeps the original start and the
    time already used (CCTP CAIH 2.1.22: "En cas de réouverture d'un ticket, le temps
    précédemment consommé avant la clôture sera pris en compte et ajouté au temps des
    interventions suivantes").
    """
    now_us = to_us(now)
    # Stable sort on the instant only: events at the same instant keep their order.
    ordered = sorted([(to_us(e.at), e.kind, e.data) for e in events], key=_first)
    opened_us: int | None = None
    ack_us: int | None = None
    intervention_us: int | None = None
    po_us: int | None = None
    solved_us: int | None = None
    stopped_us = 0
    paused_us = 0
    state = ""
    runs: list[list[Any]] = []  # [start, end or None], disjoint, in order
    context: dict[str, Any] = {}
    for t, kind, data in ordered:
        if kind == "opened":
            if opened_us is None:
                opened_us, state = t, _RUNNING
                runs.append([t, None])
                _classify(context, data)
            continue
        if opened_us is None:
            if kind not in EVENT_KINDS:
                raise ValueError(f"événement inconnu : {kind!r}")
            raise ValueError(f"événement « {kind} » antérieur à l'ouverture du ticket")
        if kind == "waiting_for_buyer":
            if state == _RUNNING:
                runs[-1][1] = stopped_us = t
                state = _WAITING
        elif kind in ("resumed", "intervention_started", "intervention_done"):
            if kind != "resumed" and intervention_us is None:
                intervention_us = t
            if state == _WAITING:
                paused_us += t - stopped_us
                runs.append([t, None])
                state = _RUNNING
        elif kind in ("solved", "closed"):
            if state == _RUNNING:
                runs[-1][1] = stopped_us = t
            elif state == _WAITING:
                paused_us += t - stopped_us
                stopped_us = t
            if state in (_RUNNING, _WAITING):
                solved_us = t
            if state != _CLOSED:
                state = _CLOSED if kind == "closed" else _SOLVED
        elif kind == "reopened":
            if state in (_SOLVED, _CLOSED):
                paused_us += t - stopped_us
                runs.append([t, None])
                solved_us, state = None, _RUNNING
        elif kind == "acknowledged":
            if ack_us is None:
                ack_us = t
        elif kind == "priority_changed":
            _classify(context, data)
        elif kind == "policy_changed":
            policy = _policy_from(data.get("policy"), policies)
            _classify(context, data)
        elif kind == "purchase_order_notified":
            if po_us is None:
                po_us = t
        else:
            raise ValueError(f"événement inconnu : {kind!r}")
    if opened_us is None:
        raise ValueError("historique sans ouverture du ticket")
    if state == _WAITING and now_us > stopped_us:
        paused_us += now_us - stopped_us

    level = policy.resolve_level(context.get("level"), context.get("incident_type"))
    restoration_code, restoration_level = policy.resolve_restoration_level(level, context.get("restoration_level"))
    zone = calendar.zone
    start_us: int | None = opened_us
    if policy.purchase_order_starts_clock and (po_us is not None or context.get("purchase_order_required")):
        start_us = po_us
    intervention = restoration = None
    status = state
    if start_us is None:
        status = "awaiting_purchase_order"
    else:
        level_def = policy.levels[level]
        restoration_start = start_us
        if level_def.intervention is not None:
            intervention, intervention_deadline = _target(
                "intervention", level, level_def, level_def.intervention, calendar,
                start_us, runs, intervention_us, now_us, context)
            if policy.restoration_from == "intervention_deadline":
                restoration_start = intervention_deadline
        if restoration_level.restoration is not None:
            restoration, _ = _target("restoration", restoration_code, restoration_level, restoration_level.restoration,
                                     calendar, restoration_start, runs, solved_us, now_us, context)
    return TicketClock(
        policy=policy.code,
        level=level,
        restoration_level=restoration_code if policy.restoration_levels else None,
        status=status,
        opened_at=from_us(opened_us, zone),
        clock_started_at=from_us(start_us, zone) if start_us is not None else None,
        acknowledged_at=from_us(ack_us, zone) if ack_us is not None else None,
        intervention=intervention,
        restoration=restoration,
        paused=timedelta(microseconds=paused_us),
    )


def _first(item: tuple[int, str, Any]) -> int:
    return item[0]


def _classify(context: dict[str, Any], data: Mapping[str, Any]) -> None:
    for key in _CLASSIFYING:
        if key in data:
            context[key] = data[key]


def _policy_from(value: Any, policies: Mapping[str, SlaPolicy] | None) -> SlaPolicy:
    if isinstance(value, SlaPolicy):
        return value
    if isinstance(value, Mapping):
        return SlaPolicy.from_dict(value)
    if isinstance(value, str) and policies and value in policies:
        return policies[value]
    raise ValueError(f"politique de service inconnue : {value!r}")


def _target(target: str, code: str, level: SlaLevel, delay: Delay, calendar: BusinessCalendar, start: int,
            runs: list[list[Any]], reached: int | None, now: int,
            context: Mapping[str, Any]) -> tuple[DeadlineClock, int]:
    """Walk the running periods from ``start``, spending the delay's budget.

    Consumption stops at ``reached`` (or now); past that point the clock is assumed to
    run without pause, which gives the deadline of a target that is not reached yet
    (provisional while the ticket is paused) or, for a reached one, where the budget
    ran or would have run out.
    """
    applied, counting, budget = _resolve_delay(delay, calendar, start, context)
    engine = counting._engine
    end = reached if reached is not None else now
    consumed = 0
    remaining = budget
    deadline: int | None = None
    for a, b in runs:
        if a >= end:
            break
        if b is None or b > end:
            b = end
        if a < start:
            a = start
        if b <= a:
            continue
        span = engine.between(a, b)
        consumed += span
        if deadline is None:
            if span >= remaining:
                deadline = engine.add(a, remaining)
            else:
                remaining -= span
    if deadline is None:
        deadline = engine.add(end if end > start else start, remaining)
    over = consumed > budget
    late = max(end - deadline, 0) if over else 0
    zone = calendar.zone
    return DeadlineClock(
        target=target,
        level=code,
        label=level.label,
        article=level.article,
        delay=applied,
        calendar=counting.name,
        started_at=from_us(start, zone),
        deadline=from_us(deadline, zone),
        reached_at=from_us(reached, zone) if reached is not None else None,
        allowed=timedelta(microseconds=budget),
        consumed=timedelta(microseconds=consumed),
        met=(not over) if reached is not None else (False if over else None),
        breached=over,
        overrun=timedelta(microseconds=consumed - budget) if over else _ZERO,
        late_by=timedelta(microseconds=late),
    ), deadline
