"""The French words of ``incidents``' audited objects in the « Journal » (``app.audit.AuditLabels``)."""

from __future__ import annotations

from app.audit import AuditLabels
from incidents.models import CHANNELS, STATUSES

__all__ = ["labels"]

labels = AuditLabels(
    entities={
        "incident_sla_policies": "Politique de service",
        "incident_settings": "Réglages des incidents",
        "incident_tickets": "Ticket d'incident",
        "incident_ticket_events": "Événement de ticket",
        "incident_attachments": "Pièce jointe",
        "incident_interventions": "Intervention",
        "incident_maintenance_visits": "Visite de maintenance préventive",
    },
    fields={
        "number": "Numéro", "title": "Titre", "description": "Description", "status": "Statut",
        "channel": "Canal", "level": "Niveau", "restoration_level": "Niveau de rétablissement",
        "incident_type": "Type d'incident", "reported_at": "Signalé le", "intervention_due_at": "Intervention due le",
        "restoration_due_at": "Rétablissement dû le", "resolved_at": "Résolu le", "closed_at": "Clos le",
        "acceptance_delay_hours": "Délai d'acceptation réputée", "infogerance_units_ordered": "Tickets de 30 min commandés",
        "technician": "Technicien", "mode": "Mode", "report": "Rapport", "reason": "Motif", "template": "Modèle",
        "version": "Version",
        "incident_maintenance_visits.visited_on": "Visitée le", "point_label": "Point de charge",
        "charge_box_id": "Borne", "items": "Liste de contrôle", "comments": "Constats",
        "earth_resistance_ohm": "Résistance de terre", "remarks": "Observations", "ticket_number": "Ticket",
        "record_late": "Enregistrée en retard",
    },
    values={"status": STATUSES, "channel": CHANNELS, "mode": {"remote": "à distance", "on_site": "sur site"}},
    titles={"incident_tickets": "number", "incident_maintenance_visits": "point_label"},
    units={"acceptance_delay_hours": "h", "earth_resistance_ohm": "Ω"},
    hidden=frozenset({"event_count", "next_due_at", "charge_point_id", "record_due_at", "recorded_at",
                      "recorded_by"}),
)
