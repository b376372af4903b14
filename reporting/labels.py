"""The French words of ``reporting``'s audited objects in the « Journal » (``app.audit.AuditLabels``): the yearly
maintenance report's analysis and recommendations (CCTP CPAM 5-4-8)."""

from __future__ import annotations

from app.audit import AuditLabels

__all__ = ["labels"]

labels = AuditLabels(
    entities={"maintenance_report_reviews": "Analyse du rapport annuel de maintenance"},
    fields={"maintenance_report_reviews.year": "Année", "analysis": "Rapport d'analyse",
            "recommendations": "Préconisations et améliorations", "updated_by": "Rédigé par"},
    titles={"maintenance_report_reviews": "year"},
    hidden=frozenset({"updated_at"}),
)
