"""The French words of ``csms``' audited objects in the « Journal » (``app.audit.AuditLabels``).

Only names: how a value reads (dates, numbers, the object an id names) comes from the
models' column types and foreign keys (``app/audit.py``).
"""

from __future__ import annotations

from app.audit import AuditLabels
from csms.domain.badges import BADGE_STATUSES
from csms.domain.models import BADGE_KINDS
from csms.domain.reservations import STATUS_LABELS as RESERVATION_STATUSES

__all__ = ["labels"]

labels = AuditLabels(
    entities={
        "stations": "Station",
        "chargers": "Borne",
        "charge_points": "Point de charge",
        "badges": "Badge",
        "csms_tenant_settings": "Règles des badges",
        "reservation_policies": "Règles de réservation",
        "reservations": "Réservation",
        "charging_transactions": "Recharge",
        "site_power_budgets": "Puissance disponible",
    },
    fields={
        "site_id": "Site",
        "station_id": "Station",
        "charger_id": "Borne",
        "charge_point_id": "Point de charge",
        "badge_id": "Badge",
        "number": "Numéro d'ordre",
        "canonical_id": "Identifiant",
        "charge_box_id": "Identifiant OCPP",
        "password_hash": "Mot de passe de la borne",
        "lenient": "Tolérance des messages",
        "vendor": "Constructeur",
        "model": "Modèle",
        "serial_number": "Numéro de série",
        "charge_box_serial_number": "Numéro de série du boîtier",
        "firmware_version": "Version du micrologiciel",
        "iccid": "ICCID",
        "imsi": "IMSI",
        "meter_type": "Type de compteur",
        "meter_serial_number": "Numéro de série du compteur",
        "protocol": "Protocole",
        "registration_status": "Enregistrement",
        "decommissioned_at": "Mise hors service le",
        "decommission_reason": "Motif de mise hors service",
        "connector_id": "Connecteur",
        "power_kw": "Puissance",
        "socket_types": "Prises",
        "usage_name": "Usage",
        "id_tag": "Identifiant du badge",
        "badges.status": "État",
        "expires_at": "Expire le",
        "holder_label": "Titulaire",
        "kind": "Type",
        "vehicle_label": "Véhicule",
        "list_version": "Version de la liste",
        "allow_concurrent_badge_sessions": "Recharges simultanées d'un badge",
        "populations": "Populations autorisées",
        "weekdays": "Jours ouverts",
        "opens_minute": "Ouverture (minutes après minuit)",
        "closes_minute": "Fermeture (minutes après minuit)",
        "max_duration_minutes": "Durée maximale (minutes)",
        "max_advance_days": "Réservable jusqu'à (jours)",
        "population": "Population",
        "priority": "Priorité",
        "ocpp_reservation_id": "Numéro de réservation OCPP",
        "starts_at": "Début",
        "ends_at": "Fin",
        "reservations.status": "État",
        "station_status": "Réponse de la borne",
        "cancel_reason": "Motif d'annulation",
        "cancelled_at": "Annulée le",
        "transaction_id": "Recharge",
        "consumed_at": "Utilisée le",
        "created_by": "Créée par",
        "budget_kw": "Puissance disponible",
        "min_current_a": "Courant minimal",
        "phases": "Phases",
        "started_at": "Début",
        "stopped_at": "Fin",
        "meter_start": "Index de début",
        "meter_stop": "Index de fin",
        "stop_reason": "Motif d'arrêt",
    },
    values={
        "badges.status": BADGE_STATUSES,
        "kind": BADGE_KINDS,
        "population": BADGE_KINDS,
        "reservations.status": RESERVATION_STATUSES,
    },
    titles={"stations": "name", "chargers": "charge_box_id", "charge_points": "canonical_id", "badges": "id_tag"},
    units={"power_kw": "kW", "budget_kw": "kW", "min_current_a": "A", "meter_start": "Wh", "meter_stop": "Wh"},
    hidden=frozenset({"last_reservation_id", "last_boot_at", "last_seen_at", "online", "last_status", "last_error_code",
                      "last_status_at", "last_transaction_id", "start_key", "seq_no", "start_received_at",
                      "stop_received_at"}),
)
