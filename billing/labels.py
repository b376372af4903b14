"""The French words of ``billing``'s audited objects in the « Journal » (``app.audit.AuditLabels``)."""

from __future__ import annotations

from app.audit import AuditLabels
from billing.charging_rules import ADVENIR_STATUSES, ENTRY_KINDS, PAYMENT_STATUSES, POPULATIONS
from billing.invoice_rules import KINDS, STATUSES

__all__ = ["labels"]

labels = AuditLabels(
    entities={"charging_settings": "Recharge payante", "charging_tariffs": "Tarif de recharge",
              "charging_accounts": "Compte de recharge", "charging_entries": "Opération de recharge",
              "charging_payments": "Paiement de recharge",
              "charging_repayments": "Reversement de recharge",
              "advenir_subsidies": "Prime ADVENIR",
              "invoices": "Facture", "invoice_lines": "Ligne de facture", "billing_profiles": "Profil de facturation",
              "billing_issuers": "Titulaire émetteur", "progress_statements": "Constat d'avancement",
              "acomptes": "Acompte", "acompte_deductions": "Acompte déduit"},
    fields={
        "invoices.kind": "Type", "invoices.number": "Numéro", "invoices.status": "État",
        "order_number": "Bon de commande", "engagement_number": "Numéro d'engagement", "service_code": "Code service",
        "buyer_siret": "SIRET de l'acheteur", "seller_siret": "SIRET du titulaire", "issue_date": "Date d'émission",
        "due_date": "Échéance", "paid_on": "Payée le", "credited_invoice_id": "Facture créditée",
        "invoices.reason": "Motif", "invoices.total_ht": "Montant HT", "invoices.total_vat": "TVA",
        "invoices.total_ttc": "Montant TTC", "invoice_lines.quantity": "Quantité",
        "requires_service_code": "Code service exigé", "requires_engagement": "Numéro d'engagement exigé",
        "legal_name": "Raison sociale", "vat_number": "Numéro de TVA",
        "charging_settings.enabled": "Recharge payante", "charging_tariffs.population": "Population de badges",
        "charging_tariffs.per_kwh": "Prix par kWh", "charging_tariffs.per_minute": "Prix par minute",
        "charging_tariffs.per_session": "Prix par recharge", "charging_tariffs.valid_from": "Valable à partir du",
        "charging_tariffs.valid_to": "Valable jusqu'au", "charging_accounts.balance": "Solde",
        "charging_entries.kind": "Opération", "charging_entries.amount": "Montant",
        "charging_payments.status": "État du paiement", "charging_payments.amount": "Montant",
        "charging_repayments.collected": "Sommes perçues", "charging_repayments.repaid": "Montant reversé",
        "charging_repayments.repaid_on": "Reversé le", "advenir_subsidies.programme_reference": "Programme ADVENIR",
        "advenir_subsidies.attestation_number": "Attestation ADVENIR", "advenir_subsidies.points": "Points de charge",
        "advenir_subsidies.amount_per_point": "Montant par point", "advenir_subsidies.cap": "Plafond",
        "advenir_subsidies.amount_ht": "Prime HT", "advenir_subsidies.status": "État",
        "progress_statements.value_ht": "Prestations exécutées HT", "progress_statements.status": "État",
        "refusal_reason": "Motif du refus", "stated_on": "Date du constat",
    },
    values={"invoices.kind": KINDS, "invoices.status": STATUSES, "charging_tariffs.population": POPULATIONS,
            "charging_entries.kind": ENTRY_KINDS, "charging_payments.status": PAYMENT_STATUSES,
            "advenir_subsidies.status": ADVENIR_STATUSES},
    titles={"invoices": "number"},
    units={"invoices.total_ht": "€", "invoices.total_vat": "€", "invoices.total_ttc": "€"},
)
