"""The rules of the alert terminals of the Justice's TGD agreement (« téléphones grave danger »), a pure
core: no database, ``now`` passed in.

CCP TGD, annexe 1 « Référencement des téléphones »: « chaque numéro de terminaux d'alerte se voit attaché
à une référence unique de type « M CODE DEPARTEMENTAL CODE INSEE XX Y » : M pour terminaux mobile ;
CODE DEPARTEMENTAL pour identifier le département ; CODE INSEE commune pour identifier la commune de la
juridiction ; XX pour le numéro d'ordre du terminaux (de 01 à 05 pour les 5 premiers terminaux en
dotation) ; Y pour l'indice d'affectation de chaque terminal : 1 pour la 1ère affectation à un
utilisateur, 2 pour le second, etc. La référence unique est attachée au numéro de la ligne du terminal
d'alerte, et non au matériel en lui-même ».

Annexe 2:
- 2.1 « Les équipes du titulaire créent alors une « fiche bénéficiaire » … dans les quinze minutes
  suivant la réception de la télécopie ou du message électronique »;
- 2.2 « contacter le service de téléassistant deux fois par mois, aux fins de tests. Si le téléassistant
  observe qu'au bout de quinze jours l'utilisateur n'a pas procédé auxdits tests, il lui revient : de
  l'appeler … ; s'il ne parvient pas à joindre l'utilisateur … Si tous ces essais sont négatifs, le
  téléassistant contacte sans délai l'association d'aide aux victimes référente »;
- 2.4 « le titulaire clôt le dossier … et s'assure de sa destruction définitive en interne quatre mois
  après la fermeture du dossier » ; « le terminal peut être affecté à un nouvel utilisateur seulement
  une semaine après la résiliation d'un dossier ».
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from app.dates import add_months

__all__ = [
    "FILE_CREATION_DELAY",
    "REASSIGN_AFTER",
    "TEST_CALL_ESCALATION",
    "TerminalReference",
    "destruction_due",
    "file_creation_due",
    "parse_reference",
    "reassignable_at",
    "escalation_state",
]

#: Annexe 2, 2.1: the beneficiary file within fifteen minutes of the referral.
FILE_CREATION_DELAY = dt.timedelta(minutes=15)
#: Annexe 2, 2.2: fifteen days without a test call and the escalation starts.
TEST_CALL_ESCALATION = dt.timedelta(days=15)
#: Annexe 2, 2.4: a week after the closure before the terminal is assigned again.
REASSIGN_AFTER = dt.timedelta(days=7)
#: Annexe 2, 2.4: the file destroyed four months after its closure.
DESTRUCTION_MONTHS = 4

#: Departments: 01–95 with 2A / 2B, overseas 971–976 (three digits, which the INSEE code then repeats).
_REFERENCE = re.compile(r"^M(?P<dept>2[AB]|97[1-6]|\d{2})(?P<insee>(?:2[AB]|\d{2})\d{3})(?P<order>0[1-9]|[1-9]\d)"
                        r"(?P<index>[1-9]\d*)$")


@dataclass(frozen=True)
class TerminalReference:
    """« M + department + INSEE code of the court's commune + XX + Y »."""

    department: str
    insee: str
    order: int
    index: int

    def __post_init__(self) -> None:
        if not (1 <= self.order <= 99):
            raise ValueError("numéro d'ordre du terminal : de 01 à 99")
        if self.index < 1:
            raise ValueError("indice d'affectation : 1 pour la première affectation")
        if not self.insee.startswith(self.department[:2]) or (self.department.startswith("97")
                                                               and not self.insee.startswith(self.department)):
            raise ValueError(f"le code INSEE {self.insee} n'est pas une commune du département {self.department}")

    @property
    def line(self) -> str:
        """The line's part, kept across assignments: « M974 97411 01 »."""
        return f"M{self.department}{self.insee}{self.order:02d}"

    def __str__(self) -> str:
        return f"{self.line}{self.index}"

    def next_assignment(self) -> TerminalReference:
        return TerminalReference(self.department, self.insee, self.order, self.index + 1)


def department_of(insee: str) -> str:
    """The department of a commune's INSEE code: 2 characters, 3 overseas (97x)."""
    return insee[:3] if insee.startswith("97") else insee[:2]


def reference_for(insee: str, order: int, index: int = 1) -> TerminalReference:
    """The reference of the ``order``-th terminal of the court at ``insee``, at its ``index``-th assignment."""
    if not re.fullmatch(r"(?:2[AB]|\d{2})\d{3}", insee or ""):
        raise ValueError(f"code INSEE invalide : {insee!r}")
    return TerminalReference(department_of(insee), insee, order, index)


def parse_reference(text: str) -> TerminalReference:
    """A reference as written (spaces allowed: « M 974 97411 01 2 »); ``ValueError`` in French."""
    compact = re.sub(r"\s+", "", text or "").upper()
    found = _REFERENCE.fullmatch(compact)
    if found is None:
        raise ValueError(f"référence de terminal invalide : {text[:40]!r} (attendu : M, département, code INSEE, "
                         "numéro d'ordre sur 2 chiffres, indice d'affectation)")
    dept, insee = found["dept"], found["insee"]
    if dept.startswith("97") is False and department_of(insee) != dept:
        raise ValueError(f"le code INSEE {insee} n'est pas une commune du département {dept}")
    return TerminalReference(dept, insee, int(found["order"]), int(found["index"]))


def file_creation_due(referred_at: dt.datetime) -> dt.datetime:
    """2.1: the beneficiary file is due fifteen minutes after the referral (24/7)."""
    return referred_at + FILE_CREATION_DELAY


def destruction_due(closed_at: dt.datetime) -> dt.datetime:
    """2.4: four calendar months after the closure (the 30 June for a closure on 28 February … 31 October)."""
    return add_months(closed_at, DESTRUCTION_MONTHS)


def reassignable_at(closed_at: dt.datetime) -> dt.datetime:
    """2.4: the terminal may go to a new user one week after the closure."""
    return closed_at + REASSIGN_AFTER


@dataclass(frozen=True)
class TestCallState:
    """Where an assignment stands on its twice-monthly test calls (2.2)."""

    last_test_at: dt.datetime | None
    #: When the escalation starts if no test comes (fifteen days after the last test, or the assignment).
    escalation_due_at: dt.datetime
    overdue: bool


def escalation_state(assigned_at: dt.datetime, last_test_at: dt.datetime | None, now: dt.datetime) -> TestCallState:
    """2.2: fifteen days without a test from the assignment (or the last test) call for the escalation."""
    since = max(assigned_at, last_test_at) if last_test_at else assigned_at
    due = since + TEST_CALL_ESCALATION
    return TestCallState(last_test_at=last_test_at, escalation_due_at=due, overdue=now >= due)
