"""The catalog's list pages send as many SQL statements for 2N items as for N (no query per row): the quotes and
their next milestone (CCTP CPAM 5-1-4 / 5-2 / 5-3-1), the recurring maintenance contracts (CCTP CAIH 2.1.32), the
slips of an order with their reserves (CCP TGD VII.3) and the operator's « Accords et BPU » (CCTP CANUT 5.1.2)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from zoneinfo import ZoneInfo

from app.db import utcnow
from catalog import deliveries, maintenance, orders, services
from catalog.models import PurchaseOrder, Quote
from tenants.models import FrameworkAgreement, Subscription
from tests.conftest import login_as
from tests.queries import statements_of_get

PARIS = ZoneInfo("Europe/Paris")  # the tenant's zone: delivery and notification dates are its calendar days

ACTOR = {"user_id": None, "label": "technicien@titulaire.demo"}
N = 3


async def _agreement(db, tenant_id: uuid.UUID) -> FrameworkAgreement:
    """The one agreement the demo beneficiary subscribes to."""
    async with db.session([tenant_id]) as session:
        [agreement] = await services.agreements_of_tenant(session, tenant_id)
    return agreement


async def _issued_order(db, tenant_id: uuid.UUID) -> PurchaseOrder:
    agreement = await _agreement(db, tenant_id)
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        order = await orders.create_order(session, tenant_id, {
            "agreement_id": str(agreement.id), "lines": [{"article_code": "IRVE-POSE", "quantity": "20"}],
            "delivery_place": "Parking visiteurs", "representative": "Anne Administratrice"},
            order_date=utcnow().date(), now=utcnow())
        return await orders.issue_order(session, tenant_id, order.id, now=utcnow())


async def _flat(client, app, email: str, url: str, add) -> str:
    """Logged in as ``email``, the statements of ``url`` with N items added, then N more (a first GET warms the
    caches): asserted equal. Returns the last page's HTML."""
    await login_as(client, email)
    await client.get(url)
    await add(0)
    first = len(await statements_of_get(client, app, url))
    await add(N)
    second = len(await statements_of_get(client, app, url))
    assert second == first, f"{url}: {first} statements for {N} items, {second} for {2 * N}"
    return (await client.get(url)).text


async def test_the_quotes_list_reads_every_quotes_reception_at_once(client, app, db, demo):
    # The « Prochaine échéance » column needs, per commissioned quote, its reception (CCTP CPAM 5-3-1): the first
    # accepting decision on a slip of its order, else the order's verification.
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _issued_order(db, cpam)
    now = utcnow()

    async def add(start: int) -> None:
        async with db.transaction([cpam], actor=ACTOR) as session:
            for i in range(start, start + N):
                session.add(Quote(tenant_id=cpam, number=f"DEV-TEST-{i}", agreement_id=order.agreement_id,
                                  agreement_reference=order.agreement_reference, need=f"Besoin {i}", state="accepted",
                                  requested_at=now, decided_at=now, order_id=order.id,
                                  works_started_on=now.date() - dt.timedelta(days=2),
                                  commissioned_on=now.date() - dt.timedelta(days=1)))

    page = await _flat(client, app, "admin@cpam72.demo", f"/t/{cpam}/devis", add)
    assert f"DEV-TEST-{2 * N - 1}" in page


async def test_the_maintenance_contracts_list_reads_every_contracts_view_at_once(client, app, db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    agreement = await _agreement(db, chr_id)

    async def add(start: int) -> None:
        for _ in range(N):
            async with db.transaction([chr_id], actor=ACTOR) as session:
                contract = await maintenance.create_contract(session, chr_id, {
                    "agreement_id": str(agreement.id), "lines": [{"article_code": "CAIH-MNT-X86", "quantity": "5"}],
                    "delivery_place": "Salle serveurs", "representative": "Hugo"}, now=utcnow())
                # Issued: the page shows the CAIH 2.1.32 execution deadline, read from the order's history.
                await orders.issue_order(session, chr_id, contract.first_order_id, now=utcnow())

    url = f"/t/{chr_id}/maintenance-recurrente"
    page = await _flat(client, app, "admin@chr-metz.demo", url, add)
    assert len(re.findall(rf'href="{url}/[0-9a-f-]{{36}}"', page)) == 2 * N  # every contract listed


async def test_the_slips_of_an_order_are_read_with_their_lines_at_once(client, app, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _issued_order(db, cpam)

    async def add(start: int) -> None:
        for _ in range(N):
            async with db.transaction([cpam], actor=ACTOR) as session:
                slip = await deliveries.record_delivery(session, cpam, order.id, {
                    "delivered_on": utcnow().astimezone(PARIS).date().isoformat(), "lines": [{"position": 1, "quantity": "1"}]},
                    recorded_by=None, now=utcnow())
            async with db.transaction([cpam], actor=ACTOR) as session:
                # Decided with reserves: the « Livraisons » section shows the reserves of each decided slip.
                await deliveries.decide_delivery(session, cpam, slip.id, {"lines": [
                    {"position": 1, "kind": "reception_reserves", "accepted": "1", "rejected": "0",
                     "reserves_deadline": (utcnow().date() + dt.timedelta(days=10)).isoformat()}]},
                    decided_by=None, now=utcnow())

    page = await _flat(client, app, "admin@cpam72.demo", f"/t/{cpam}/commandes/{order.id}", add)
    assert f"{2 * N} bordereaux de mise à disposition" in page


async def test_the_operators_agreements_page_reads_every_agreements_bpu_at_once(client, app, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    existing = await _agreement(db, cpam)

    async def add(start: int) -> None:
        async with db.transaction([cpam], actor=ACTOR) as session:
            for i in range(start, start + N):
                agreement = FrameworkAgreement(id=uuid.uuid4(), central_id=existing.central_id,
                                               reference=f"TEST-ACCORD-{i}", title=f"Accord de test {i}")
                session.add(agreement)
                session.add(Subscription(id=uuid.uuid4(), tenant_id=cpam, agreement_id=agreement.id))
                await session.flush()
                await services.propose_solution(session, agreement, {
                    "code": f"SOL-{i}", "name": f"Solution {i}", "price_ht": "10"}, actor="test")

    page = await _flat(client, app, "technicien@titulaire.demo", "/operateur/accords", add)
    assert f"TEST-ACCORD-{2 * N - 1}" in page and f"SOL-{2 * N - 1}" in page
