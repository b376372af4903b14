"""The infogérance ticket balance (issue 14 §3, CCTP CAIH 2.1.7): the units ordered are read from the tenant's
purchase orders (``catalog.services``), the units consumed from the interventions ``incidents`` records, and the
balance is shown where incidents showed the hand-typed number (the policy page and a ticket's page).

CCTP CAIH 2.1.7: « des prestations génériques sur la base de tickets horaire de 30mn. L'unité d'intervention est
indivisible par tranche de 30mn. […] Tout ticket entamé est réputé entièrement consommé »."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from app.db import utcnow
from catalog import orders, services
from incidents import tickets as incidents
from incidents.models import Ticket
from tenants.models import Central, FrameworkAgreement, Subscription, Tenant
from tests.conftest import form_post, login, page_text

ACTOR = {"user_id": None, "label": "admin@chr-metz.demo"}
CAIH_AGREEMENT = "2024-CAIH-SRV"
TICKET_ARTICLE = "CAIH-INFO-30"  # « Ticket d'infogérance de 30 minutes », family infogerance_ticket_30min


async def _caih_tenant(db) -> uuid.UUID:
    """A new CAIH member (subscribing to the CAIH agreements), with no order and no intervention yet."""
    tid = uuid.uuid4()
    async with db.transaction([tid], actor=ACTOR) as session:
        central = await session.scalar(select(Central).where(Central.code == "CAIH"))
        session.add(Tenant(id=tid, name=f"CH {tid.hex[:6]}", siret=str(tid.int)[:14], central_id=central.id))
        await session.flush()
        for agreement in await session.scalars(select(FrameworkAgreement).where(
                FrameworkAgreement.central_id == central.id)):
            session.add(Subscription(tenant_id=tid, agreement_id=agreement.id, since=agreement.starts_on or dt.date(2024, 1, 1)))
        await incidents.set_policy_from_template(session, tid, "caih-infogerance-ho", ACTOR)
    return tid


async def _order(db, tid: uuid.UUID, lines: list[dict], *, then: tuple[str, ...] = ("issue",)) -> str:
    now = utcnow()
    async with db.transaction([tid], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CAIH_AGREEMENT))
        order = await orders.create_order(session, tid, {
            "agreement_id": str(agreement.id), "lines": lines, "delivery_place": "Salle serveurs",
            "representative": "Hugo Administrateur"}, order_date=now.date(), now=now)
        for action in then:
            await orders.transition_order(session, tid, order.id, action, now=now)
        return order.status


async def _interventions(db, tid: uuid.UUID, minutes: list[int]) -> uuid.UUID:
    now = utcnow()
    start = now - dt.timedelta(hours=6)
    async with db.transaction([tid], actor=ACTOR) as session:
        ticket = await incidents.open_ticket(session, tid, now=start, title="Serveur lent", description="",
                                             channel="phone", reported_at=start)
        ticket = await session.get(Ticket, (tid, ticket.id))
        for n, length in enumerate(minutes):
            begin = start + dt.timedelta(hours=n + 1)
            await incidents.record_intervention(session, ticket, now=now, mode="remote", started_at=begin,
                                                ended_at=begin + dt.timedelta(minutes=length))
        return ticket.id


async def test_ten_units_ordered_three_interventions_consume_five(db, demo):
    # CCTP CAIH 2.1.7 « Tout ticket entamé est réputé entièrement consommé »: 20 min → 1, 31 min → 2, 60 min → 2.
    tid = await _caih_tenant(db)
    assert await _order(db, tid, [{"article_code": TICKET_ARTICLE, "quantity": "10"},
                                  {"article_code": "CAIH-AT-N1", "quantity": "3"}]) == "issued"
    await _interventions(db, tid, [20, 31, 60])
    async with db.session([tid]) as session:
        assert await services.infogerance_units_ordered(session, tid) == 10  # the assistance days do not count
        shown = await incidents.infogerance_balance(session, tid)
    assert (shown.ordered, shown.consumed, shown.remaining, shown.overdraft, shown.from_orders) == (10, 5, 5, 0, True)
    assert shown.balance.describe() == "5 ticket(s) de 30 min restant(s) sur 10 commandé(s)."


async def test_a_cancelled_or_draft_order_orders_nothing(db, demo):
    tid = await _caih_tenant(db)
    assert await _order(db, tid, [{"article_code": TICKET_ARTICLE, "quantity": "8"}],
                        then=("issue", "cancel")) == "cancelled"
    assert await _order(db, tid, [{"article_code": TICKET_ARTICLE, "quantity": "6"}], then=()) == "draft"
    await _interventions(db, tid, [45])
    async with db.session([tid]) as session:
        assert await services.infogerance_units_ordered(session, tid) == 0
        balance = await services.ticket_balance(session, tid, [dt.timedelta(minutes=45)])
    # An overdraft is shown, never hidden behind a zero.
    assert (balance.ordered, balance.consumed, balance.remaining, balance.overdraft) == (0, 2, 0, 2)
    # A started order (« en cours ») still counts: only drafts and cancelled orders do not.
    assert await _order(db, tid, [{"article_code": TICKET_ARTICLE, "quantity": "4"}], then=("issue", "start")) \
        == "in_progress"
    async with db.session([tid]) as session:
        assert await services.infogerance_units_ordered(session, tid) == 4


async def test_another_tenants_orders_do_not_count(db, demo):
    tid, other = await _caih_tenant(db), await _caih_tenant(db)
    await _order(db, other, [{"article_code": TICKET_ARTICLE, "quantity": "50"}])
    async with db.session([tid]) as session:
        assert await services.infogerance_units_ordered(session, tid) == 0


async def test_the_policy_and_ticket_pages_show_the_ordered_units(client, db, demo):
    tid = uuid.UUID(demo["tenant_ids"]["chr"])
    async with db.transaction([tid], actor=ACTOR) as session:
        await incidents.set_policy_from_template(session, tid, "caih-infogerance-ho", ACTOR)
        # The hand-typed number of the coordinator (before orders carried the units) is replaced by the orders.
        await incidents.update_settings(session, tid, infogerance_units_ordered=40)
    await _order(db, tid, [{"article_code": TICKET_ARTICLE, "quantity": "10"}])
    ticket_id = await _interventions(db, tid, [20, 31, 60])
    async with db.session([tid]) as session:
        consumed = (await incidents.infogerance_balance(session, tid)).consumed
    assert consumed >= 5  # the demo's own interventions and these three (1 + 2 + 2)
    remaining = max(10 - consumed, 0)

    await login(client, "coordination@caih.demo")
    url = f"/t/{tid}/incidents/politique"
    page = page_text(await client.get(url))
    assert f"{consumed} consommés sur 10 commandés, {remaining} restant" in page
    assert "d'après les bons de commande" in page
    # The coordinator no longer types the number once orders carry it; a post of it is refused, nothing changed.
    assert 'name="infogerance_units_ordered"' not in page
    refused = await form_post(client, url, f"{url}/reglages", {"infogerance_units_ordered": "99"})
    assert refused.status_code == 422 and "viennent désormais des bons de commande" in page_text(refused)
    async with db.session([tid]) as session:
        assert (await incidents.incident_settings(session, tid)).infogerance_units_ordered == 40

    client.cookies.clear()
    await login(client, "admin@chr-metz.demo")
    ticket_page = page_text(await client.get(f"/t/{tid}/incidents/{ticket_id}"))
    assert f"Tickets d'infogérance de 30 minutes (CCTP CAIH 2.1.7) : {consumed} consommés sur 10 commandés" \
        in ticket_page
