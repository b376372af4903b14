"""API shapes of the incidents endpoints (``/api/v1/tenants/{tenant_id}/…``, msgspec structs).

Input structs forbid unknown fields and bound every text and number where it enters
(``app.bounds``); the business checks (workflow, classification in the tenant's policy, instants
not in the future) are the services' (``incidents.tickets``), reported per field in French.
Instants are given back in the tenant's time zone, ISO 8601 with their offset.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from msgspec import Meta, Struct

__all__ = [
    "ClockOut",
    "DeadlineOut",
    "DeadlinesOut",
    "InterventionCreate",
    "InterventionOut",
    "PartIn",
    "PolicyLevelOut",
    "SlaPolicyOut",
    "SlaPolicyUpdate",
    "TicketCreate",
    "TicketDetail",
    "TicketEventCreate",
    "TicketEventOut",
    "TicketOut",
    "TicketPage",
]

Instant = Annotated[dt.datetime, Meta(description="ISO 8601 avec décalage horaire (ex. 2026-11-27T16:30:00+01:00)",
                                       examples=["2026-11-27T16:30:00+01:00"])]
LevelCode = Annotated[str, Meta(max_length=30)]
Reason = Annotated[str, Meta(max_length=1000)]


class _In(Struct, forbid_unknown_fields=True, kw_only=True):
    pass


# --------------------------------------------------------------------------- tickets


class TicketCreate(_In):
    """A ticket to open. The clocks start at ``reported_at``, the moment of the first information
    (CCTP CANUT 6.6, CCTP CAIH 2.1.22: « à partir de l'heure d'enregistrement de l'incident »)."""

    title: Annotated[str, Meta(max_length=200, description="Titre (obligatoire, 200 caractères au plus)",
                               examples=["Borne CPAM-LM-01 hors service"])]
    description: Annotated[str, Meta(max_length=10_000)] = ""
    channel: Annotated[str, Meta(max_length=20, description=(
        "Canal de la première information : api (par défaut), portal, phone, email (CCTP CANUT 6.6 : "
        "« canal de remontée »)"), examples=["phone"])] = "api"
    reported_at: Annotated[dt.datetime | None, Meta(description=(
        "Moment de la première information, ISO 8601 avec décalage, jamais dans le futur ; "
        "par défaut : maintenant"), examples=["2026-11-27T16:30:00+01:00"])] = None
    site_id: Annotated[uuid.UUID | None, Meta(description="Site du bénéficiaire (déduit de la borne sinon)")] = None
    charge_box_id: Annotated[Annotated[str, Meta(max_length=48)] | None, Meta(
        description="Borne concernée (identité OCPP)", examples=["CPAM-LM-01"])] = None
    connector_id: Annotated[Annotated[int, Meta(ge=0, le=1000)] | None, Meta(description=(
        "Point de charge de la borne (0 ou absent : toute la borne)"))] = None
    asset_id: Annotated[uuid.UUID | None, Meta(description="Équipement du parc concerné (à la place d'une borne)")] = None
    level: Annotated[LevelCode | None, Meta(description=(
        "Niveau de la politique du bénéficiaire : CPAM telemaintenance, 1, 2, 3 ; CANUT P0, P1, P2 ; "
        "CAIH 4h, 10h, 50h ; par défaut celui du type d'incident ou de la politique"), examples=["2"])] = None
    restoration_level: Annotated[LevelCode | None, Meta(description=(
        "Niveau de rétablissement (CPAM 5-4-5 : 1 à 4 ; 2 par défaut)"))] = None
    incident_type: Annotated[LevelCode | None, Meta(description=(
        "Type d'incident (CANUT 6.6 : bloquant, majeur, mineur ; un incident non classé est mineur)"))] = None
    reporter_name: Annotated[str, Meta(max_length=200, description="Déclarant (par défaut : l'appelant)")] = ""
    reporter_email: Annotated[str, Meta(max_length=254, description="Courriel du déclarant")] = ""


class DeadlinesOut(Struct, kw_only=True):
    intervention_due_at: Annotated[dt.datetime | None, Meta(description=(
        "Échéance du délai d'intervention (GTI), ou null quand le niveau n'en a pas"))]
    restoration_due_at: Annotated[dt.datetime | None, Meta(description=(
        "Échéance du délai de rétablissement (GTR), ou null quand le niveau n'en a pas"))]


class TicketOut(Struct, kw_only=True):
    id: uuid.UUID
    number: Annotated[str, Meta(examples=["INC-2026-000123"])]
    title: str
    description: str
    status: Annotated[str, Meta(description="new, acknowledged, in_progress, waiting, resolved, closed")]
    status_label: Annotated[str, Meta(examples=["pris en compte"])]
    channel: Annotated[str, Meta(description="portal, phone, email, api, supervision (alerte), maintenance")]
    alert_id: Annotated[uuid.UUID | None, Meta(description="Alerte de supervision à l'origine du ticket")]
    site_id: uuid.UUID | None
    charge_box_id: str | None
    connector_id: int | None
    asset_id: uuid.UUID | None
    level: str
    level_label: str
    restoration_level: str | None
    incident_type: str | None
    reporter_name: str
    reporter_email: str
    fleet_points: Annotated[int, Meta(description="Points de charge du bénéficiaire à l'ouverture (CPAM 5-4-5)")]
    affected_points: Annotated[int, Meta(description="Points de charge touchés à l'ouverture")]
    affected_share: Annotated[float | None, Meta(description="Part du parc touchée (< 0,3 ou ≥ 0,3 : CPAM 5-4-5)")]
    policy_version: Annotated[int, Meta(description="Version de la politique de service du ticket")]
    reported_at: dt.datetime
    opened_at: dt.datetime
    deadlines: DeadlinesOut
    next_due_at: dt.datetime | None
    breached: bool
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    reopen_count: int


class TicketPage(Struct, kw_only=True):
    items: list[TicketOut]
    page: int
    per_page: int
    has_more: Annotated[bool, Meta(description="Une page suivante existe")]


class TicketEventOut(Struct, kw_only=True):
    seq: int
    kind: str
    kind_label: str
    at: dt.datetime
    recorded_at: dt.datetime
    actor_name: str
    channel: str
    data: dict[str, Any]
    reason: str


class DeadlineOut(Struct, kw_only=True):
    """One target's clock, rebuilt from every event (pauses excluded)."""

    level: str
    label: str
    article: str
    delay: Annotated[str, Meta(examples=["4 h (heures ouvrées, lun-ven 8 h-18 h)"])]
    calendar: str
    started_at: dt.datetime
    deadline: dt.datetime
    reached_at: dt.datetime | None
    allowed_seconds: float
    consumed_seconds: float
    remaining_seconds: float
    met: bool | None
    breached: bool
    late_by_seconds: float


class ClockOut(Struct, kw_only=True):
    policy: str
    level: str
    restoration_level: str | None
    status: str
    clock_started_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    paused_seconds: float
    intervention: DeadlineOut | None
    restoration: DeadlineOut | None


class InterventionOut(Struct, kw_only=True):
    id: uuid.UUID
    ticket_id: uuid.UUID
    mode: str
    technician: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    actions: str
    parts: list[dict[str, Any]]
    report: str
    report_at: dt.datetime | None
    report_due_at: Annotated[dt.datetime, Meta(description="48 h après la visite")]
    report_late: bool
    recorded_at: dt.datetime
    record_due_at: Annotated[dt.datetime, Meta(description="CPAM 5-4-8 : deux jours ouvrés après l'action")]
    record_late: bool
    units: Annotated[int, Meta(description="CAIH 2.1.7 : tickets de 30 minutes consommés")]


class TicketDetail(Struct, kw_only=True):
    ticket: TicketOut
    clocks: ClockOut
    events: list[TicketEventOut]
    interventions: list[InterventionOut]


class TicketEventCreate(_In):
    """One step of the workflow, or a note."""

    kind: Annotated[str, Meta(max_length=20, description=(
        "acknowledge, start, wait, resume, resolve, accept, reopen, reclassify, note"), examples=["acknowledge"])]
    at: Annotated[dt.datetime | None, Meta(description=(
        "Quand c'est arrivé (ISO 8601 avec décalage, passé, pas avant le signalement) ; par défaut : maintenant"))] = None
    reason: Annotated[Reason, Meta(description="Motif (obligatoire pour reclassify) ou texte de la note")] = ""
    level: Annotated[LevelCode | None, Meta(description="reclassify : nouveau niveau")] = None
    restoration_level: Annotated[LevelCode | None, Meta(description="reclassify : nouveau niveau de rétablissement")] = None
    incident_type: Annotated[LevelCode | None, Meta(description="reclassify : nouveau type d'incident")] = None


class PartIn(_In):
    label: Annotated[str, Meta(max_length=200)]
    quantity: Annotated[int, Meta(ge=1, le=10_000)] = 1
    expected_at: Annotated[dt.date | None, Meta(description="Livraison attendue (CPAM 5-4-5)")] = None


class InterventionCreate(_In):
    mode: Annotated[str, Meta(max_length=10, description="remote (à distance) ou on_site (sur site)")]
    started_at: Annotated[dt.datetime | None, Meta(description="Début ; par défaut : maintenant")] = None
    ended_at: dt.datetime | None = None
    technician: Annotated[str, Meta(max_length=200)] = ""
    actions: Annotated[str, Meta(max_length=10_000)] = ""
    parts: Annotated[list[PartIn], Meta(max_length=100, description="Pièces commandées")] = []
    report: Annotated[str, Meta(max_length=20_000, description="Rapport d'intervention")] = ""
    report_at: Annotated[dt.datetime | None, Meta(description="Remise du rapport ; par défaut : maintenant s'il est joint")] = None


# --------------------------------------------------------------------------- SLA policy


class PolicyLevelOut(Struct, kw_only=True):
    code: str
    label: str
    intervention: Annotated[str | None, Meta(description="Délai d'intervention en clair")]
    restoration: Annotated[str | None, Meta(description="Délai de rétablissement en clair")]
    article: str


class SlaPolicyOut(Struct, kw_only=True):
    version: int
    template: str
    created_at: dt.datetime
    created_by: str
    code: str
    label: str
    article: str
    levels: list[PolicyLevelOut]
    restoration_levels: list[PolicyLevelOut]
    incident_types: dict[str, str]
    policy: Annotated[dict[str, Any], Meta(description="La politique complète, modifiable par PUT {\"policy\": …}")]
    templates: Annotated[list[str], Meta(description="Modèles disponibles pour PUT {\"template\": …}")]


class SlaPolicyUpdate(_In):
    """Exactly one of ``template`` (a new version from a template) or ``policy`` (an edited policy)."""

    template: Annotated[Annotated[str, Meta(max_length=40)] | None, Meta(description=(
        "Code d'un modèle : cpam-irve, canut-iot, canut-iot-24x7, caih-maintenance-ho, caih-maintenance-24x7, …"),
        examples=["caih-maintenance-24x7"])] = None
    policy: Annotated[dict[str, Any] | None, Meta(description=(
        "La politique modifiée, sous la forme que donne GET (champ policy)"))] = None
