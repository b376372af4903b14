"""The French words of ``catalog``'s audited objects in the « Journal » (``app.audit.AuditLabels``). Keys are
``table.column`` where another component uses the same column name otherwise (``status``, ``version``)."""

from __future__ import annotations

from app.audit import AuditLabels
from catalog.rules import FAMILIES

__all__ = ["labels"]

SOLUTION_STATUSES = {"proposed": "proposée", "approved": "approuvée", "withdrawn": "retirée"}

labels = AuditLabels(
    entities={"bpu_versions": "Version de BPU", "catalog_solutions": "Solution du catalogue"},
    fields={
        "agreement_id": "Accord-cadre", "bpu_versions.version": "Version", "valid_from": "En vigueur à partir du",
        "imported_at": "Importée le", "imported_by": "Importée par", "source_filename": "Fichier",
        "line_count": "Articles", "catalog_solutions.code": "Code", "catalog_solutions.name": "Nom",
        "catalog_solutions.maker": "Constructeur", "catalog_solutions.article_code": "Article du BPU",
        "price_ht": "Prix HT", "characteristics": "Caractéristiques", "catalog_solutions.status": "État",
        "withdrawal_notice_on": "Retrait notifié le", "withdrawal_effective_on": "Retrait effectif le",
        "substitute_id": "Solution de substitution", "family": "Famille",
    },
    values={"catalog_solutions.status": SOLUTION_STATUSES, "bpu_items.family": FAMILIES},
    titles={"catalog_solutions": "code"},
    units={"price_ht": "€"},
)

# Purchase orders (issue 14 §3, CCP TGD VI.1).
from catalog.order_rules import STATUSES as ORDER_STATUSES  # noqa: E402

_MONEY = ("gross_ht", "total_ht", "total_vat", "total_ttc")
labels = labels.merged(AuditLabels(
    entities={"purchase_orders": "Bon de commande", "purchase_order_lines": "Ligne de bon de commande"},
    fields={
        "purchase_orders.number": "Numéro", "agreement_reference": "Références du marché",
        "agreement_title": "Intitulé du marché", "order_date": "Date de la commande", "purchase_orders.status": "État",
        "delivery_place": "Lieu(x) de livraison ou d'exécution", "representative": "Représentant(s) de l'acheteur",
        "delivery_conditions": "Conditions particulières de livraison",
        "purchase_orders.gross_ht": "Montant HT non remisé", "purchase_orders.total_ht": "Montant HT",
        "purchase_orders.total_vat": "TVA", "purchase_orders.total_ttc": "Montant TTC",
        "purchase_orders.line_count": "Lignes", "purchase_orders.ticket_id": "Ticket", "quote_id": "Devis",
        "purchase_orders.created_by": "Créée par", "issued_at": "Émise le",
        "order_id": "Bon de commande", "purchase_order_lines.position": "Ligne",
        "purchase_order_lines.article_code": "Code article", "purchase_order_lines.label": "Désignation",
        "purchase_order_lines.unit": "Unité", "purchase_order_lines.family": "Famille",
        "bpu_version_id": "Version du BPU", "quantity": "Quantité",
        "purchase_order_lines.unit_price_ht": "Prix unitaire HT non remisé",
        "discount_percent": "Remise complémentaire", "purchase_order_lines.gross_ht": "Montant HT non remisé",
        "purchase_order_lines.total_ht": "Montant HT remisé", "purchase_order_lines.vat_rate": "Taux de TVA",
        "purchase_order_lines.total_vat": "TVA", "purchase_order_lines.total_ttc": "Montant TTC",
    },
    values={"purchase_orders.status": ORDER_STATUSES, "purchase_order_lines.family": FAMILIES},
    titles={"purchase_orders": "number", "purchase_order_lines": "article_code"},
    units={**{f"{t}.{c}": "€" for t in ("purchase_orders", "purchase_order_lines") for c in _MONEY},
           "purchase_order_lines.unit_price_ht": "€", "discount_percent": "%", "purchase_order_lines.vat_rate": "%"},
))

# The agents' badge requests (CCTP CPAM 5-5-5-3).
from catalog.badge_request_rules import STATES as BADGE_REQUEST_STATES  # noqa: E402

labels = labels.merged(AuditLabels(
    entities={"badge_requests": "Demande de badge"},
    fields={
        "requested_by": "Demandée par", "badge_requests.plate": "Immatriculation", "badge_requests.reason": "Motif",
        "badge_requests.site_id": "Site", "badge_requests.state": "État", "requested_at": "Demandée le",
        "decided_at": "Décidée le", "decided_by": "Décidée par", "refusal_reason": "Motif du refus",
        "shipped_at": "Expédiée le", "shipped_by": "Expédiée par", "badge_requests.id_tag": "Badge (idTag)",
        "shipment_reference": "Référence d'envoi", "activated_at": "Activée le",
        "badge_requests.badge_id": "Badge", "cancelled_at": "Annulée le",
        "decision_reminded": "Relance de la décision envoyée", "shipment_reminded": "Relance de l'envoi envoyée",
    },
    values={"badge_requests.state": BADGE_REQUEST_STATES},
    titles={"badge_requests": "plate"},
))
