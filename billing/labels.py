"""The French words of ``billing``'s audited objects in the « Journal » (``app.audit.AuditLabels``)."""

from __future__ import annotations

from app.audit import AuditLabels
from billing.invoice_rules import KINDS, STATUSES

__all__ = ["labels"]

labels = AuditLabels(
    entities={"charging_settings": "Recharge payante", "charging_tariffs": "Tarif de recharge",
              "charging_accounts": "Compte de recharge", "charging_entries": "Opération de recharge",
              "charging_payments": "Paiement de recharge",
              "charging_repayments": "Reversement de recharge",
              "advenir_subsidies": "Prime ADVENIR",
              "invoices": "Facture", "invoice_lines": "Ligne de facture", "billing_profiles": "Profil de facturation",
              "billing_issuers": "Titulaire émetteur"},
    fields={
        "invoices.kind": "Type", "invoices.number": "Numéro", "invoices.status": "État",
        "order_number": "Bon de commande", "engagement_number": "Numéro d'engagement", "service_code": "Code service",
        "buyer_siret": "SIRET de l'acheteur", "seller_siret": "SIRET du titulaire", "issue_date": "Date d'émission",
        "due_date": "Échéance", "paid_on": "Payée le", "credited_invoice_id": "Facture créditée",
        "invoices.reason": "Motif", "invoices.total_ht": "Montant HT", "invoices.total_vat": "TVA",
        "invoices.total_ttc": "Montant TTC", "invoice_lines.quantity": "Quantité",
        "requires_service_code": "Code service exigé", "requires_engagement": "Numéro d'engagement exigé",
        "legal_name": "Raison sociale", "vat_number": "Numéro de TVA",
    },
    values={"invoices.kind": KINDS, "invoices.status": STATUSES},
    titles={"invoices": "number"},
    units={"invoices.total_ht": "€", "invoices.total_vat": "€", "invoices.total_ttc": "€"},
)
