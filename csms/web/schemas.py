"""API shapes of the stations and transactions endpoints (``/api/v1``, msgspec structs).

Input structs forbid unknown fields; business validation (French, per field) is
``csms.domain.registry``'s. States are given twice (``csms.domain.states``): a machine value (``disponible``,
``en_charge``, ``hors_service``, ``hors_ligne``) and the words of the CCTP
(« Disponible », « En charge », « Hors service », « Hors ligne »), with the OCPP
status as sent and in French.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from msgspec import Meta, Struct

from app.bounds import NonNegative32

__all__ = [
    "ImportLine",
    "ImportProblem",
    "ImportResult",
    "MeterValueOut",
    "PointOut",
    "StationCreate",
    "StationCreated",
    "StationDecommission",
    "StationOut",
    "StationPage",
    "TransactionDetail",
    "TransactionOut",
    "TransactionPage",
    "UptimeOut",
]

CanonicalId = Annotated[str, Meta(description="Identifiant CPAM (CCTP 5-5-1), 18 caractères", examples=["FR72181B0001010100"])]


class StationCreate(Struct, forbid_unknown_fields=True, kw_only=True):
    """A charger (borne) to register, with its points; the station (S) is created when needed."""

    charge_box_id: Annotated[str, Meta(description="Identité OCPP (/ocpp/{charge_box_id}), unique sur la plateforme",
                                       examples=["CPAM-LM-05"])]
    tenant_id: Annotated[uuid.UUID | None, Meta(description="Bénéficiaire ; facultatif si l'appelant n'administre qu'un bénéficiaire")] = None
    password: Annotated[str | None, Meta(description="Mot de passe Basic auth (16 à 40 caractères) ; généré si absent")] = None
    site: Annotated[str, Meta(description="Identifiant ou nom du site ; facultatif si le bénéficiaire a un seul site")] = ""
    canonical_id: Annotated[str, Meta(description="Identifiant CPAM de la borne (FR…B…) ; généré si absent",
                                      examples=["FR72181B0001010100"])] = ""
    station: Annotated[NonNegative32 | None, Meta(description="Numéro d'ordre de la station sur le site (1 à 99)")] = None
    station_name: Annotated[str, Meta(description="Nom d'usage courant de la station (commune + attribut)")] = ""
    points: Annotated[NonNegative32, Meta(description="Nombre de points de charge (1 à 99)")] = 1
    power_kw: Annotated[float | None, Meta(description="Puissance par point en kW (7, 11, 22…)")] = None
    socket_types: Annotated[str, Meta(description="Prises : T2, EF, T3, T1, CCS, CHADEMO, séparées par « + »",
                                      examples=["T2+EF"])] = "T2"
    usage_name: Annotated[str, Meta(description="Nom d'usage des points de charge")] = ""
    lenient: Annotated[bool, Meta(description="Mode tolérant (écarts connus du micrologiciel)")] = False
    security_profile: Annotated[int, Meta(ge=1, le=3, description=(
        "Profil de sécurité OCPP exigé à la connexion : 1 mot de passe, 2 mot de passe sur TLS, "
        "3 certificat client TLS dont le CN est le charge_box_id"))] = 1


class StationDecommission(Struct, forbid_unknown_fields=True, kw_only=True):
    """Retire a charger for good (CCTP CPAM article 1: « le retrait le cas échéant »)."""

    reason: Annotated[str, Meta(description="Motif de la mise hors service définitive (obligatoire, 200 caractères au plus)",
                                examples=["Borne déposée : remplacée par FR72181B0001010300"])]


class StationCreated(Struct, kw_only=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    station_id: uuid.UUID
    charge_box_id: str
    canonical_id: CanonicalId
    station_canonical_id: CanonicalId
    points: list[str]
    #: Returned once, in clear: only its argon2id hash is stored.
    password: Annotated[str, Meta(description="Mot de passe Basic auth de la borne, renvoyé une seule fois")]
    password_generated: bool
    ocpp_path: Annotated[str, Meta(description="Chemin de connexion de la borne sur l'ingress OCPP",
                                   examples=["/ocpp/CPAM-LM-05"])]


class ImportResult(Struct, kw_only=True):
    tenant_id: uuid.UUID
    imported: int
    chargers: list[dict[str, object]]


class ImportLine(Struct, kw_only=True):
    line: Annotated[int, Meta(description="Numéro de ligne du fichier (1 : l'en-tête ; 0 : le fichier entier)")]
    messages: list[str]


class ImportProblem(Struct, kw_only=True):
    """Import refused (422): nothing was imported; every bad line with its messages."""

    type: str
    title: str
    status: int
    instance: str
    errors: dict[str, str]
    lines: list[ImportLine]


class PointOut(Struct, kw_only=True):
    connector_id: int
    canonical_id: CanonicalId
    usage_name: str
    power_kw: float | None
    socket_types: list[str]
    ocpp_status: Annotated[str, Meta(description="Dernier statut OCPP reçu (Available, Charging, Faulted…)")]
    error_code: str
    status: Annotated[str, Meta(description="État (CCTP) : disponible, en_charge, hors_service, hors_ligne")]
    status_label: Annotated[str, Meta(description="Les mots du CCTP : Disponible, En charge, Hors service, Hors ligne")]
    ocpp_status_label: Annotated[str, Meta(description="Le statut OCPP en français (recharge en cours, en défaut…)")]
    status_at: dt.datetime | None


class UptimeOut(Struct, kw_only=True):
    since: dt.datetime
    until: dt.datetime
    online_seconds: float
    ratio: Annotated[float, Meta(description="Part du temps connecté sur la période (0 à 1)")]
    connections: int


class StationOut(Struct, kw_only=True):
    """A charger (borne, the OCPP charge box) with its station, site and points."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    charge_box_id: str
    canonical_id: CanonicalId
    station_id: uuid.UUID
    station_canonical_id: CanonicalId
    station_name: str
    site_id: uuid.UUID
    site_name: str
    power_kw: Annotated[float | None, Meta(description="Puissance totale des points (kW)")]
    socket_types: list[str]
    points: list[PointOut]
    status: Annotated[str, Meta(description="État d'ensemble (CCTP) : disponible, en_charge, hors_service, hors_ligne")]
    status_label: str
    connected: bool
    last_seen_at: dt.datetime | None
    last_boot_at: dt.datetime | None
    disconnections: Annotated[int, Meta(description="Coupures de communication sur la période (CCTP 5-5)")]
    uptime: UptimeOut
    protocol: str
    vendor: str
    model: str
    firmware_version: str
    lenient: bool
    security_profile: Annotated[int, Meta(description="Profil de sécurité OCPP exigé à la connexion (1, 2 ou 3)")]
    created_at: dt.datetime
    decommissioned_at: Annotated[dt.datetime | None, Meta(
        description="Mise hors service définitive (null : en service) ; son historique reste consultable")] = None
    decommission_reason: Annotated[str, Meta(description="Motif de la mise hors service définitive")] = ""


class StationPage(Struct, kw_only=True):
    items: list[StationOut]
    total: int
    page: int
    per_page: int
    pages: int


class TransactionOut(Struct, kw_only=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    charge_box_id: str
    canonical_id: Annotated[str, Meta(description="Identifiant CPAM du point de charge (ou de la borne)")]
    connector_id: int | None
    ocpp_transaction_id: str
    status: Annotated[str, Meta(description="active, completed ou orphan (arrêt reçu pour une transaction inconnue)")]
    id_tag: Annotated[str, Meta(description="Badge ayant déclenché la recharge (CCTP 5-5-4)")]
    id_tag_status: str
    meter_start: int | None
    meter_stop: int | None
    energy_wh: int | None
    started_at: dt.datetime | None
    stopped_at: dt.datetime | None
    duration_seconds: float | None
    stop_reason: str
    offline: Annotated[bool, Meta(description="Données stockées par la borne pendant une coupure")]


class TransactionPage(Struct, kw_only=True):
    items: list[TransactionOut]
    total: int
    page: int
    per_page: int
    pages: int


class MeterValueOut(Struct, kw_only=True):
    sampled_at: dt.datetime
    measurand: str
    value: float | None
    unit: str
    phase: str
    context: str
    offline: bool


class TransactionDetail(Struct, kw_only=True):
    transaction: TransactionOut
    meter_values: list[MeterValueOut]
