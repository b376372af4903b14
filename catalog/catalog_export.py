"""The export of the catalog a beneficiary browses (issue 14 §1, « Beneficiaries browse the catalog … with the
price in force »): the BPU articles in force of the agreements it subscribes to, then the solutions of the
catalog (CCTP CANUT 5.1.2) — approved, or withdrawn with a date of effect still to come (CCTP CPAM 8-1-2-2: the
notice runs, the solution is still ordered) — with the price of their BPU article in force, the page's filters
applied (search, family, maker). The kernel writes the file (``app.exports``: every text cell formula-safe,
numbers as numbers, dates as dates); the page and the API serve it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.exports import MAX_EXPORT_ROWS
from app.money import price_ttc
from catalog import services
from catalog.rules import COMPLEXITIES, FAMILIES, MODES

__all__ = ["HEADER", "catalog_rows"]

HEADER = ("Type", "Code", "Libellé", "Constructeur", "Famille", "Complexité", "Unité", "Achat ou location",
          "Prix unitaire HT (€)", "Taux de TVA (%)", "Prix unitaire TTC (€)", "Article du BPU",
          "Prix HT en vigueur de l'article (€)", "Disponibilité", "Accord-cadre", "Version du BPU",
          "En vigueur depuis")
#: Articles read per query: a 20,000-article catalog in a few round trips, never all in memory at once.
BATCH = 2_000


async def catalog_rows(session: AsyncSession, tenant_id: uuid.UUID, on: dt.date, *, search: str = "",
                       family: str = "", maker: str = "") -> AsyncIterator[Sequence[Any]]:
    """The rows of the export, in ``HEADER``'s order: the articles by code, then the solutions by code."""
    page = 1
    while True:
        lines, total = await services.catalog_of_tenant(session, tenant_id, on, search=search, family=family,
                                                        maker=maker, page=page, per_page=BATCH)
        for line in lines:
            i = line.item
            yield ("Article du BPU", i.article_code, i.label, i.maker, FAMILIES.get(i.family, i.family),
                   COMPLEXITIES.get(i.complexity or "", ""), i.unit, MODES.get(i.purchase_or_rental, ""),
                   i.unit_price_ht, i.vat_rate, line.unit_price_ttc, "", None, "Au catalogue",
                   line.agreement_reference, line.version, line.valid_from)
        if page * BATCH >= min(total, MAX_EXPORT_ROWS + 1):
            break
        page += 1
    for row in await services.solutions_of_catalog(session, tenant_id, on, search=search, family=family, maker=maker):
        s, article = row.solution, row.article
        if s.status == "withdrawn":
            if s.withdrawal_effective_on is None or s.withdrawal_effective_on <= on:
                continue  # out of the catalog
            availability = f"Retrait annoncé : effectif le {s.withdrawal_effective_on:%d/%m/%Y}"
            if row.substitute is not None:
                availability += f", remplacée par {row.substitute.code}"
        else:
            availability = "Au catalogue"
        vat = article.vat_rate if article is not None else None
        yield ("Solution du catalogue", s.code, s.name, s.maker,
               FAMILIES.get(article.family, article.family) if article is not None else "",
               COMPLEXITIES.get((article.complexity or "") if article is not None else "", ""),
               article.unit if article is not None else "",
               MODES.get(article.purchase_or_rental, "") if article is not None else "",
               s.price_ht, vat, price_ttc(s.price_ht, vat) if vat is not None else None, s.article_code,
               article.unit_price_ht if article is not None else None, availability, row.agreement_reference,
               None, None)
