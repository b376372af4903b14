"""The supervision's alerts open exactly one ticket (CPAM 5-5-6-2), delivered twice or not."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from app.db import utcnow
from app.outbox import Delivery
from csms.domain.events import AlertClosed, AlertOpened
from incidents import subscribers, tickets
from incidents.models import Ticket
from tests.csms.conftest import Fleet


async def deliver(db, handler, event) -> None:
    async with db.transaction([event.tenant_id], actor={"user_id": None, "label": "abonné"}) as session:
        await handler(Delivery(event_id=uuid.uuid4(), subscriber="t", attempt=1, session=session, db=db, bus=None,
                               settings=None), event)


async def test_an_alert_delivered_twice_opens_one_ticket_and_its_closing_adds_a_note(db, fleet: Fleet):
    async with db.transaction([fleet.cpam], actor={"user_id": None, "label": "test"}) as session:
        await tickets.set_policy_from_template(session, fleet.cpam, "cpam-irve")
    charger = fleet.chargers["CPAM-LM-01"]
    since = utcnow().replace(microsecond=0) - dt.timedelta(minutes=5)
    fields = dict(tenant_id=fleet.cpam, alert_id=uuid.uuid4(), charger_id=charger.charger_id, charge_box_id="CPAM-LM-01",
                  canonical_id=charger.points[1], connector_id=2, kind="faulted", state="Hors service",
                  status="Faulted", error_code="GroundFailure", since=since)
    opened = AlertOpened(**fields)
    await deliver(db, subscribers.ticket_from_alert, opened)
    await deliver(db, subscribers.ticket_from_alert, opened)
    closed = AlertClosed(**fields, closed_at=since + dt.timedelta(minutes=3))
    await deliver(db, subscribers.restoration_observed, closed)
    await deliver(db, subscribers.restoration_observed, closed)
    async with db.session([fleet.cpam]) as session:
        [ticket] = (await session.scalars(select(Ticket))).all()
        events = await tickets.ticket_events(session, ticket)
    assert (ticket.channel, ticket.alert_id, ticket.origin) == ("supervision", opened.alert_id, f"alert:{opened.alert_id}")
    assert ticket.reported_at == since and ticket.status == "new"
    # CPAM 5-4-5: one point of the tenant's five.
    assert (ticket.affected_points, ticket.fleet_points, ticket.site_id) == (1, 5, fleet.cpam_site)
    assert ticket.intervention_due_at is not None
    assert [(e.kind, e.reason) for e in events] == [("open", ""), ("note", "rétablissement constaté")]
