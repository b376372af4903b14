"""An invoice's document-level allowances (EN 16931 BG-20): what a penalty (CCP TGD VIII.1) and an ADVENIR
subsidy (CCTP CPAM 5-7) become when the invoice is issued. Apart from ``billing.invoices``, which calls the
penalties' and subsidies' deductions at the issue, so that those import no module that imports them back."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import Invoice, InvoiceAllowance
from billing.rules import Deduction

__all__ = ["add_allowance"]


def add_allowance(session: AsyncSession, invoice: Invoice, deduction: Deduction, *, position: int, reason: str,
                  penalty_id: uuid.UUID | None = None, advenir_subsidy_id: uuid.UUID | None = None
                  ) -> InvoiceAllowance:
    """A deduction (``billing.rules.deduct_allowances``) as the invoice's document-level allowance (EN 16931 BG-20),
    the invoice's totals reduced by it: what a penalty (CCP TGD VIII.1) and an ADVENIR subsidy (CCTP CPAM 5-7)
    both become at the invoice's issue."""
    allowance = InvoiceAllowance(tenant_id=invoice.tenant_id, invoice_id=invoice.id, position=position,
                                 penalty_id=penalty_id, advenir_subsidy_id=advenir_subsidy_id, reason=reason[:500],
                                 amount_ht=deduction.amount_ht, vat_rate=deduction.vat_rate,
                                 total_vat=deduction.total_vat)
    session.add(allowance)
    invoice.total_ht -= deduction.amount_ht
    invoice.total_vat -= deduction.total_vat
    invoice.total_ttc -= deduction.amount_ht + deduction.total_vat
    return allowance
