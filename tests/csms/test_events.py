"""csms's events (csms/domain/events.py, docs/events.md): declared in one place, the durable ones written
with the change they report (one INSERT per group commit on the OCPP hot path) and delivered by
the outbox relay; a decommissioning's socket is closed even when its caller died after the commit.
"""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
from pathlib import Path

import pytest
from ocpp.v16 import call
from sqlalchemy import event, select

from app.db import utcnow
from app.outbox import DELIVERED, EVENT_TYPES, OutboxDelivery, OutboxEvent
from csms.domain import events, registry
from csms.domain.events import AlertClosed, AlertOpened, ChargerDecommissioned
from csms.domain.models import ConnectionLog
from csms.domain.writer import GroupCommitWriter
from tests.csms.test_writer import ref_of

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ROOT = Path(__file__).resolve().parents[2]
ACTOR = {"user_id": None, "label": "test"}


def test_no_topic_is_written_by_hand_outside_the_events_modules():
    """Every topic string lives in its component's events.py (docstrings and comments aside)."""
    topics = set(EVENT_TYPES) | {value for name, value in vars(events).items()
                                 if name.isupper() and isinstance(value, str)}
    topics |= {"outbox.wake"}  # the kernel's own, in app/outbox/publish.py
    found = []
    for folder in ("app", "csms", "tenants", "incidents"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "events.py" or path == ROOT / "app" / "outbox" / "publish.py":
                continue
            tree = ast.parse(path.read_text())
            docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                          if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                          and node.body and isinstance(node.body[0], ast.Expr)}
            found += [f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
                      if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                      and (node.value in topics or node.value.startswith("ocpp.node."))]
    assert found == []


@pytest.mark.parametrize("backend", BOTH, indirect=True)
async def test_the_alerts_of_a_group_commit_are_one_insert_in_its_transaction(db, fleet):
    """The OCPP hot path: the statuses of one group commit that open and close alerts add one INSERT
    (all their events) to the transaction that already records them, nothing else."""
    writer = GroupCommitWriter(db)
    await writer.start()
    ref = ref_of(fleet, "CPAM-LM-01", fleet.cpam)
    now = utcnow()
    inserts: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "outbox" in statement.lower():
            inserts.append(statement.split("(")[0].strip())

    def status(connector: int, state: str, seconds: int):  # type: ignore[no-untyped-def]
        from csms.domain import recording as supervision

        return lambda s: supervision.record_status(s, ref, connector_id=connector, status=state,
                                                   timestamp=now - dt.timedelta(seconds=seconds), received_at=now)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        results = await asyncio.gather(
            writer.submit(fleet.cpam, status(1, "Faulted", 3), actor="borne A"),
            writer.submit(fleet.cpam, status(2, "Faulted", 3), actor="borne A"),
            writer.submit(fleet.cpam, status(1, "Available", 1), actor="borne A"),
        )
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
        await writer.stop()
    assert writer.stats.batches == 1
    assert [[type(change) for change in result.alerts] for result in results] == [
        [AlertOpened], [AlertOpened], [AlertClosed]]
    assert inserts == ["INSERT INTO outbox_events"]
    async with db.engine.connect() as conn:
        # The fleet's registration published its own csms.registry.changed before.
        rows = (await conn.execute(select(OutboxEvent.topic, OutboxEvent.payload).where(
            OutboxEvent.topic.like("csms.alert.%")).order_by(OutboxEvent.created_at))).all()
    assert [(topic, payload["connector_id"]) for topic, payload in rows] == [
        ("csms.alert.opened", 1), ("csms.alert.opened", 2), ("csms.alert.closed", 1)]
    assert {payload["alert_id"] for _topic, payload in rows} == {str(c.alert_id) for r in results for c in r.alerts}


async def test_the_alerts_reach_the_bus_through_the_relay_each_delivery_recorded(db, fleet, ingress, stations,
                                                                                 relay):
    from tests.csms.conftest import Events

    seen = Events()
    await ingress.bus.subscribe(AlertOpened.topic, seen.handler)
    async with stations.connect("VLB-01") as (cp, _wire):
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Faulted"))
        [opened] = await seen.wait(AlertOpened.topic)
    assert (opened["tenant_id"], opened["charge_box_id"], opened["kind"]) == (str(fleet.other), "VLB-01", "faulted")
    await relay.wait_idle()
    async with db.engine.connect() as conn:
        deliveries = (await conn.execute(select(OutboxDelivery.subscriber, OutboxDelivery.status,
                                                OutboxDelivery.attempts))).all()
    # One delivery per subscriber of the topic, each recorded once: the supervision's live announce
    # and the incidents component's ticket opener (issue 13 §1); the ticket it opens publishes
    # ``incidents.ticket.opened`` in turn (its acknowledgement subscriber writes no mail for an alert). The fleet's
    # registration, before, published its ``csms.registry.changed`` (the open data's rewrite), left out here.
    assert sorted(tuple(row) for row in deliveries if row[0] != "csms.open-data.static") == [
                                                       ("csms.domain.alerts.announce", DELIVERED, 1),
                                                       ("incidents.acknowledgement-mail", DELIVERED, 1),
                                                       ("incidents.ticket-from-alert", DELIVERED, 1)]
    assert len(seen.by_topic[AlertOpened.topic]) == 1


async def test_a_decommissioning_whose_caller_died_after_the_commit_still_closes_the_socket(db, fleet, ingress,
                                                                                           stations, relay):
    """The web or CLI process commits the decommissioning, then dies before ``announce_decommission``:
    the durable ``csms.charger.decommissioned`` makes the relay close the live socket."""
    async with stations.connect("CPAM-LM-02") as (cp, wire):
        await cp.call(call.Heartbeat())
        async with db.transaction([fleet.cpam], actor=ACTOR) as session:
            charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-02")
            await registry.decommission_charger(session, fleet.cpam, charger, "Borne déposée")
        # No announce_decommission: the caller is gone.
        await asyncio.wait_for(wire.ws.wait_closed(), 20)
        assert (wire.ws.close_code, wire.ws.close_reason) == (1000, "décommissionnée")
    [gone] = await ingress.events.wait("station.disconnected", lambda p: p["charge_box_id"] == "CPAM-LM-02")
    assert gone["reason"] == "decommissioned"
    async with db.session([fleet.cpam]) as session:
        reasons = list(await session.scalars(select(ConnectionLog.reason).where(
            ConnectionLog.charger_id == fleet.chargers["CPAM-LM-02"].charger_id)))
    assert reasons == ["decommissioned"]
    async with db.engine.connect() as conn:
        [payload] = (await conn.execute(
            select(OutboxEvent.payload).where(OutboxEvent.topic == ChargerDecommissioned.topic))).scalars().all()
    assert (payload["charge_box_id"], payload["tenant_id"]) == ("CPAM-LM-02", str(fleet.cpam))
    await relay.wait_idle()
    async with db.engine.connect() as conn:
        assert await conn.scalar(select(OutboxDelivery.status).where(
            OutboxDelivery.subscriber == "csms.decommission.close-socket")) == DELIVERED
