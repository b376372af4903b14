"""A charge point that goes Faulted over a real OCPP-J socket opens exactly one ticket with its deadlines
(issue 13 « Tests that must exist »; CPAM 5-5-6-2 « toute demande (...) donne lieu à la création d'un
ticket »), through the real ingress, the outbox and its relay — delivered again after a relay restart, it
stays one ticket; the charge point back Available adds « rétablissement constaté » without closing it."""

from __future__ import annotations

import pytest
from ocpp.v16 import call
from sqlalchemy import select, update

from app.composition import subscribers as component_subscribers
from app.db import utcnow
from app.outbox import DELIVERED, PENDING, OutboxDelivery, Relay
from csms.domain.events import AlertClosed, AlertOpened
from incidents import tickets
from incidents.models import Ticket
from incidents.sla import SlaPolicy, compute_deadline

ACTOR = {"user_id": None, "label": "test"}


async def only_ticket(db, tenant_id) -> Ticket:
    async with db.session([tenant_id]) as session:
        [ticket] = (await session.scalars(select(Ticket))).all()
        return ticket


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_faulted_charge_point_opens_one_ticket_across_a_redelivery(db, settings, fleet, ingress, stations,
                                                                          relay):
    from tests.csms.conftest import Events

    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        await tickets.set_policy_from_template(session, fleet.cpam, "cpam-irve")
    seen = Events()
    await ingress.bus.subscribe(AlertOpened.topic, seen.handler)
    await ingress.bus.subscribe(AlertClosed.topic, seen.handler)
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        await cp.call(call.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted"))
        [opened] = await seen.wait(AlertOpened.topic)
        await relay.wait_idle()
        ticket = await only_ticket(db, fleet.cpam)
        assert (ticket.channel, ticket.charge_box_id, ticket.connector_id, str(ticket.alert_id)) == (
            "supervision", "CPAM-LM-01", 2, opened["alert_id"])
        assert ticket.number.startswith("INC-") and ticket.status == "new"
        # CPAM 5-4-4 by default level 3 (« 48h ouvrés maximum », 8-17 Monday-Friday) from the fault's start;
        # 5-4-5 restoration level 2 « à compter de l'expiration du délai d'intervention ».
        async with db.session([fleet.cpam]) as session:
            policy = SlaPolicy.from_dict((await tickets.current_policy(session, fleet.cpam)).policy)
            calendar = await tickets.tenant_calendar(session, fleet.cpam)
        due = compute_deadline(ticket.reported_at, policy.levels["3"].intervention, calendar)
        assert ticket.intervention_due_at == due
        assert ticket.restoration_due_at == compute_deadline(due, policy.restoration_levels["2"].restoration, calendar)
        assert (ticket.affected_points, ticket.fleet_points) == (1, 5)  # CPAM 5-4-5: under 30 %

        # The process dies after the ticket's commit but before its delivery is recorded: the delivery is
        # run again by the next relay. Still one ticket.
        await relay.stop()
        async with db.engine.begin() as conn:
            await conn.execute(update(OutboxDelivery).where(OutboxDelivery.subscriber == "incidents.ticket-from-alert")
                               .values(status=PENDING, attempts=0, claim=None, next_attempt_at=utcnow()))
        again = Relay(db, bus=ingress.bus, settings=settings, subscribers=component_subscribers())
        await again.start()
        try:
            await again.wait_idle()
            async with db.engine.connect() as conn:
                assert await conn.scalar(select(OutboxDelivery.status).where(
                    OutboxDelivery.subscriber == "incidents.ticket-from-alert")) == DELIVERED
            assert (await only_ticket(db, fleet.cpam)).id == ticket.id

            await cp.call(call.StatusNotification(connector_id=2, error_code="NoError", status="Available"))
            await seen.wait(AlertClosed.topic)
            await again.wait_idle()
        finally:
            await again.stop()
    ticket = await only_ticket(db, fleet.cpam)
    async with db.session([fleet.cpam]) as session:
        events = await tickets.ticket_events(session, ticket)
    assert ticket.status == "new"  # the beneficiary consents to the closure; the supervision does not close
    assert [(e.kind, e.reason) for e in events] == [("open", ""), ("note", "rétablissement constaté")]
