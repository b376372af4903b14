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
