"""billing's demo (``billing/demo.py``): with the demo ordering loaded as ``make run`` does, the ECB rate of late
interest (CCP TGD IX.7) and the CPAM's verified order invoiced as an issued Factur-X, made once; the tests' shared
template (``demo_ordering=False``) has neither."""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import select

from app.composition import load_demo
from billing import documents, late
from billing.api import load_sheet
from billing.models import Invoice
from tests.conftest import login_as, page_text


async def test_demo_rate_and_invoice_once(client, settings, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.session([cpam]) as session:
        assert await session.scalar(select(Invoice.id).where(Invoice.tenant_id == cpam)) is None
    summary = await load_demo(replace(settings, demo_ordering=True), db)
    assert (summary["ecb_rates"], summary["demo_invoices"]) == (1, 1)
    async with db.session([cpam]) as session:
        found = list(await session.scalars(select(Invoice).where(Invoice.tenant_id == cpam)))
        assert [(i.kind, i.status, i.seller_name) for i in found] == [("invoice", "issued", "Titulaire Démo SAS")]
        documents.invoice_xml(await load_sheet(session, found[0]))  # valid against the XSD
        assert [(str(d), str(r)) for d, r in (await late.rates_table(session)).items()] == [("2025-06-11", "2.150")]
    again = await load_demo(replace(settings, demo_ordering=True), db)
    assert (again["ecb_rates"], again["demo_invoices"]) == (0, 0)
    await login_as(client, "admin@cpam72.demo")
    page = page_text(await client.get(f"/t/{cpam}/factures"))
    assert found[0].number in page
