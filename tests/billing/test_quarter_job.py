"""Quarterly invoicing by itself (CCP TGD IX.4 « trimestriellement, à terme civil échu »): a credit note of a
quarter's invoice frees the quarter so that it is invoiced again, and the job ``billing.quarter_invoices`` drafts
each ended quarter once, run twice or twice at the same time (issue 15 §3)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing import invoices, periodic, tasks
from billing.models import Invoice
from billing.periodic_models import InvoicePeriod
from tests.billing.test_invoices import ACTOR, set_up_billing
from tests.billing.test_periodic import JULY, continuous_order


async def quarters_of(db, tenant_id, order_id):
    async with db.session([tenant_id]) as session:
        rows = (await session.execute(select(InvoicePeriod.year, InvoicePeriod.quarter, InvoicePeriod.order_position)
                                      .where(InvoicePeriod.tenant_id == tenant_id,
                                             InvoicePeriod.order_id == order_id)
                                      .order_by(InvoicePeriod.quarter, InvoicePeriod.order_position))).all()
        drafts = await session.scalar(select(func.count()).select_from(Invoice).where(
            Invoice.tenant_id == tenant_id, Invoice.order_id == order_id, Invoice.kind == "invoice"))
    return [tuple(r) for r in rows], drafts


async def test_a_credit_note_frees_its_quarter_which_is_invoiced_again(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await continuous_order(db, cpam)
    await set_up_billing(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        first, second = await periodic.draft_quarter_invoices(session, cpam, order.id, now=JULY)
        first = await invoices.issue_invoice(session, cpam, first.id, now=JULY)
        second = await invoices.issue_invoice(session, cpam, second.id, now=JULY)
        # T2 credited for its supervision line only (line 2): that line's quarter stays, invoicing it again would
        # bill the maintenance twice.
        part = await invoices.draft_credit_note(session, cpam, second.id, {
            "reason": "Supervision interrompue", "lines": [{"position": 2, "quantity": "1"}]}, now=JULY)
        await invoices.issue_invoice(session, cpam, part.id, now=JULY)
    assert (await quarters_of(db, cpam, order.id))[0] == [(2026, 1, 1), (2026, 1, 2), (2026, 2, 1)]
    # T1 credited wholly: its quarter is due again (a draft credit note frees nothing until it is issued).
    async with db.transaction([cpam], actor=ACTOR) as session:
        note = await invoices.draft_credit_note(session, cpam, first.id, {"reason": "Erreur de prorata"}, now=JULY)
    assert (await quarters_of(db, cpam, order.id))[0] == [(2026, 1, 1), (2026, 1, 2), (2026, 2, 1)]
    async with db.transaction([cpam], actor=ACTOR) as session:
        await invoices.issue_invoice(session, cpam, note.id, now=JULY)
    assert (await quarters_of(db, cpam, order.id))[0] == [(2026, 2, 1)]
    async with db.transaction([cpam], actor=ACTOR) as session:
        again = await periodic.draft_quarter_invoices(session, cpam, order.id, now=JULY + dt.timedelta(days=1))
        # T1 again (92,50 + 51,00 € HT, 45 days) and T2's supervision (102,00 € HT).
        assert [(i.verified_on, i.total_ht) for i in again] == [(dt.date(2026, 3, 31), Decimal("143.50")),
                                                                (dt.date(2026, 6, 30), Decimal("102.00"))]
    assert (await quarters_of(db, cpam, order.id))[0] == [(2026, 1, 1), (2026, 1, 2), (2026, 2, 1), (2026, 2, 2)]


async def test_the_job_drafts_each_ended_quarter_once(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await continuous_order(db, cpam)
    # Before the first quarter ends: nothing.
    await tasks.run_quarter_invoices(db, dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC))
    assert await quarters_of(db, cpam, order.id) == ([], 0)
    # 1 April 2026 in Paris: T1 has ended.
    await tasks.run_quarter_invoices(db, dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC))
    assert await quarters_of(db, cpam, order.id) == ([(2026, 1, 1), (2026, 1, 2)], 1)
    await tasks.run_quarter_invoices(db, JULY)
    await tasks.run_quarter_invoices(db, JULY)  # run twice = once
    assert await quarters_of(db, cpam, order.id) == ([(2026, 1, 1), (2026, 1, 2), (2026, 2, 1), (2026, 2, 2)], 2)
    async with db.session([cpam]) as session:
        made_by = set(await session.scalars(select(Invoice.created_by).where(Invoice.order_id == order.id)))
    assert made_by == {"système"}


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_two_concurrent_runs_draft_each_quarter_once(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await continuous_order(db, cpam)
    await asyncio.gather(tasks.run_quarter_invoices(db, JULY), tasks.run_quarter_invoices(db, JULY))
    assert await quarters_of(db, cpam, order.id) == ([(2026, 1, 1), (2026, 1, 2), (2026, 2, 1), (2026, 2, 2)], 2)
