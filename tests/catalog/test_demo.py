"""The ordering demo (``catalog/demo.py``, issue 14): what a demo user finds after ``make run`` — the CPAM buyer's
quotes and orders at each step, the titulaire's queue, a commissioning whose badges can be ordered (the demo BPU
has a badge article, CPAM 5-5-5-3), the CHR's CAIH recurring maintenance and infogérance tickets; loaded once.

The shared demo template leaves the ordering out (``demo_ordering=False``, tests/conftest.py): the ``ordering``
fixture loads it over the test's copy as ``centrale demo load`` does."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

from app.composition import load_demo
from app.db import utcnow
from catalog import badges, maintenance, quotes, services
from catalog.demo import BPU, CPAM_AGREEMENT, HEADER
from catalog.models import BpuVersion, Delivery, PurchaseOrder, Quote
from incidents import tickets as incidents
from tenants.models import FrameworkAgreement
from tests.conftest import login_as, page_text

ACTOR = {"user_id": None, "label": "test"}


@pytest.fixture
async def ordering(settings, db, demo) -> dict[str, Any]:
    """The demo with its ordering, as ``make run`` loads it."""
    return await load_demo(replace(settings, demo_ordering=True), db)


def _ids(demo) -> dict[str, uuid.UUID]:
    return {k: uuid.UUID(v) for k, v in demo["tenant_ids"].items()}


async def _counts(db, ids) -> tuple[int, int, int]:
    async with db.session(list(ids.values())) as session:
        return tuple([await session.scalar(select(func.count()).select_from(model))  # type: ignore[return-value]
                      for model in (Quote, PurchaseOrder, Delivery)])


async def test_the_buyer_sees_quotes_and_orders_at_every_step(client, db, ordering):
    cpam = _ids(ordering)["cpam"]
    assert ordering["ordering_tenants"] == 3
    await login_as(client, "admin@cpam72.demo")
    orders_page = page_text(await client.get(f"/t/{cpam}/commandes"))
    for state in ("brouillon", "émis", "en cours", "vérifié"):
        assert state in orders_page, state
    async with db.session([cpam]) as session:
        by_status: dict[str, list[PurchaseOrder]] = {}
        for order in await session.scalars(select(PurchaseOrder).where(PurchaseOrder.tenant_id == cpam)):
            by_status.setdefault(order.status, []).append(order)
        assert {k: len(v) for k, v in by_status.items()} == {"draft": 1, "issued": 3, "in_progress": 1, "verified": 1}
        # CCP TGD VI.3: one issued order carries an amendment, notified ten days at least before it takes effect.
        assert [o.version for o in by_status["issued"] if o.version > 1] == [2]
        started = by_status["in_progress"][0]
        slip = await session.scalar(select(Delivery).where(Delivery.tenant_id == cpam, Delivery.order_id == started.id))
        assert slip.decided_at is None  # a partial slip waiting for the buyer's decision (TGD VII.3)
        states = sorted(q.state for q in await quotes.quotes_of_tenant(session, cpam))
    assert states == ["accepted", "answered", "requested"]
    home = page_text(await client.get(f"/t/{cpam}"))
    assert "Livraisons à vérifier" in home and "chiffrés, à accepter ou refuser" in home
    slip_page = page_text(await client.get(f"/t/{cpam}/commandes/{started.id}/livraisons/{slip.id}"))
    assert "à prononcer au plus tard le" in slip_page

    await login_as(client, "technicien@titulaire.demo")
    queue = page_text(await client.get("/operateur"))
    assert "Visite de site à organiser" in queue and "Mise en service à enregistrer" in queue
    assert "Bon de commande" in queue


async def test_the_operator_can_order_the_commissioning_badges_of_the_demo(db, ordering):
    # CPAM 5-5-5-3 « 5 badges sont fournis à la mise en service de chaque point de charge ».
    cpam = _ids(ordering)["cpam"]
    now = utcnow()
    async with db.transaction([cpam], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CPAM_AGREEMENT))
        article = await badges.badge_article(session, agreement.id, now.date())
        assert article is not None and article.article_code == "IRVE-BADGE"
        works = next(q for q in await quotes.quotes_of_tenant(session, cpam) if q.state == "accepted")
        today = now.astimezone((await quotes.tenant_calendar(session, cpam)).zone).date()
        await quotes.record_commissioning(session, cpam, works.id, today, now=now,
                                          badge_data={"charge_points": "2", "attachment": "site"})
        ordered = await badges.commissioning_badges_of(session, works)
    assert ordered is not None and (ordered.row.badge_count, ordered.article_code, ordered.order_status) == (
        10, "IRVE-BADGE", "issued")


async def test_the_chr_has_its_recurring_maintenance_and_its_infogerance_tickets(db, ordering):
    chr_ = _ids(ordering)["chr"]
    async with db.session([chr_]) as session:
        (contract,) = await maintenance.contracts_of_tenant(session, chr_)
        view = await maintenance.contract_view(session, contract, utcnow())
        first = await session.get(PurchaseOrder, (chr_, contract.first_order_id))
        assert first.status == "in_progress"  # CAIH 2.1.32: executed within the 30 days
        assert view is not None
        # CAIH 2.1.7: the units are read from the orders; the demo interventions consume 10 of the 40.
        assert await services.infogerance_units_ordered(session, chr_) == 40
        balance = await incidents.infogerance_balance(session, chr_)
    assert balance.from_orders and (balance.ordered, balance.consumed) == (40, 10)


async def test_a_second_load_changes_nothing(settings, db, ordering):
    ids = _ids(ordering)
    before = await _counts(db, ids)
    assert before == (4, 9, 2)  # quotes, orders, slips
    again = await load_demo(replace(settings, demo_ordering=True), db)
    assert (again["ordering_tenants"], again["bpu_versions"]) == (0, 0)
    assert await _counts(db, ids) == before


async def test_an_older_demo_gets_the_badge_article_in_a_new_version(settings, db, demo):
    """A demo loaded before the badge article (its CPAM BPU in force has none) gets a version that has it."""
    today = utcnow().date()
    without = [line for line in BPU[CPAM_AGREEMENT] if not line.startswith("IRVE-BADGE;")]
    async with db.transaction(actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CPAM_AGREEMENT))
        await services.import_bpu(session, agreement, "\n".join([HEADER, *without]), "old.csv", valid_from=today,
                                  imported_by="test")
        assert await badges.badge_article(session, agreement.id, today) is None
    assert (await load_demo(settings, db))["bpu_versions"] == 1
    async with db.session() as session:
        assert await badges.badge_article(session, agreement.id, today) is not None
        assert await session.scalar(select(func.count()).select_from(BpuVersion).where(
            BpuVersion.agreement_id == agreement.id)) == 3
