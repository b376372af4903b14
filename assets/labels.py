"""The French words of ``assets``' audited objects in the « Journal » (``app.audit.AuditLabels``).

The TGD beneficiary files never show the person's data there: their columns are redacted in the log
(``assets.models.PERSONAL``, « (modifié) »), and their events are read only with the permission
``tgd_files`` (``confidential``); a reading of a file is the action « Consultation »."""

from __future__ import annotations

from app.audit import AuditLabels
from assets.models import KINDS, SUPPORT_CASES

__all__ = ["labels"]

labels = AuditLabels(
    entities={
        "assets": "Équipement du parc",
        "tgd_lines": "Ligne de terminal d'alerte (TGD)",
        "tgd_exchanges": "Échange de terminal d'alerte",
        "tgd_assignments": "Affectation de terminal d'alerte",
        "tgd_files": "Fiche bénéficiaire TGD",
        "tgd_test_calls": "Appel de test TGD",
    },
    fields={
        "kind": "Type", "maker": "Constructeur", "model": "Modèle", "serial_number": "Numéro de série",
        "commissioned_on": "Mise en service", "warranty_end": "Fin de garantie", "support_case": "Cas de support",
        "end_of_maintainability": "Fin de maintenabilité",
        "phone_number": "Numéro de ligne", "insee_code": "Code INSEE", "order_number": "Numéro d'ordre",
        "assignment_index": "Indice d'affectation", "device_serial": "Terminal (numéro de série)",
        "fault_reported_at": "Panne signalée le", "old_serial": "Ancien terminal", "new_serial": "Nouveau terminal",
        "exchanged_at": "Échangé le", "due_at": "Échange dû le", "late": "En retard", "index": "Indice",
        "reference": "Référence", "assigned_at": "Affecté le", "reassignable_at": "Réaffectable le",
        "file_destroyed_at": "Dossier détruit le", "referred_at": "Saisine reçue le", "created_late": "Créée en retard",
        "full_name": "Nom", "phones": "Autres numéros", "address": "Lieu de résidence", "workplace": "Lieu de travail",
        "prosecutor": "Parquet référent", "victim_support": "Association d'aide aux victimes",
        "terminated_on": "Résiliation", "confirmed_by": "Confirmée par", "destroy_due_at": "Destruction due le",
        "called_at": "Appel le", "note": "Note",
        "tgd_assignments.closed_at": "Clôturée le", "tgd_files.closed_at": "Clos le",
    },
    values={"kind": KINDS, "support_case": SUPPORT_CASES},
    titles={"assets": "serial_number", "tgd_lines": "phone_number", "tgd_assignments": "reference"},
    actions={"view": "Consultation"},
    hidden=frozenset({"assignment_id", "line_id", "file_id"}),
    # The files' events (their creation, readings, test calls, closure, destruction) stay out of the Journal
    # of whoever may not open the files: the tenant's admin, the coordinator.
    confidential={"tgd_files": "tgd_files", "tgd_test_calls": "tgd_files"},
)
