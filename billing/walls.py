"""The tenant-wall walk's objects of ``billing`` (``tests/test_tenant_walls.py``): an issued invoice of the victim
tenant (its routes must answer 404 to a caller of another tenant) and a proposed penalty. The invoice is written as a row of billing's own
table, on the victim's order that ``catalog``'s target made: the walk needs its id, not a verified order."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing.acompte_models import ProgressStatement
from billing.models import Invoice, InvoiceLine, Penalty
from catalog.services import agreements_of_tenant

__all__ = ["wall_target"]


async def wall_target(session: AsyncSession, tenant_id: uuid.UUID, objects: dict[str, Any]) -> dict[str, Any]:
    agreement = (await agreements_of_tenant(session, tenant_id))[0]
    today = dt.date.today()
    invoice = Invoice(tenant_id=tenant_id, kind="invoice", status="issued", number=f"FA-MUR-{uuid.uuid4().hex[:6]}",
                      agreement_id=agreement.id, agreement_reference=agreement.reference,
                      order_id=objects["order_id"], order_number="BC-MUR", engagement_number="BC-MUR",
                      buyer_name="Cible", seller_name="Titulaire", seller_siret="73282932000074",
                      seller_vat_number="FR44732829320", issue_date=today, due_date=today + dt.timedelta(days=30),
                      total_ht=Decimal("10.00"), total_vat=Decimal("2.00"), total_ttc=Decimal("12.00"), line_count=1)
    session.add(invoice)
    await session.flush()
    session.add(InvoiceLine(tenant_id=tenant_id, invoice_id=invoice.id, position=1, order_position=1,
                            article_code="MUR", label="Cible", quantity=Decimal("1"), unit_price_ht=Decimal("10"),
                            gross_ht=Decimal("10.00"), total_ht=Decimal("10.00"), vat_rate=Decimal("20"),
                            total_vat=Decimal("2.00"), total_ttc=Decimal("12.00")))
    # A proposed penalty of the victim (CCP TGD VIII): every move on it must answer 404 across the wall.
    penalty = Penalty(tenant_id=tenant_id, agreement_id=agreement.id, agreement_reference=agreement.reference,
                      article="VIII.4", order_id=objects["order_id"], order_number="BC-MUR", value_ht=Decimal("10.00"),
                      lateness=Decimal("1"), lateness_unit="days", source="order", facts="Cible",
                      computed_ht=Decimal("0.02"), amount_ht=Decimal("0.02"), computation="10 × 1 / 500",
                      status="proposed")
    session.add(penalty)
    await session.flush()
    # A « constat d'avancement » awaiting validation (CCP TGD IX.5): validating, refusing or invoicing it must 404.
    statement = ProgressStatement(tenant_id=tenant_id, order_id=objects["order_id"], order_number="BC-MUR",
                                  agreement_id=agreement.id, sequence=1, stated_on=today, value_ht=Decimal("10.00"),
                                  description="Cible", status="submitted")
    session.add(statement)
    await session.flush()
    return {"invoice_id": invoice.id, "invoice_ref": f"{invoice.id}.pdf", "penalty_id": penalty.id,
            "statement_id": statement.id}
