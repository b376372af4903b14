"""Supervision alerts (CCTP CPAM 5-5-4: « détecter via des alertes les défaillances
matérielles »; « alertes en cas de pannes avec remontée de l'élément en défaut (prise,
alimentation, communication borne/supervision…) »).

Stations are the ``ocpp`` library's ChargePoint over a real socket; the events are
read by a bus subscriber, as the incidents component would.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from ocpp.v16 import call
from ocpp.v201 import call as call201
from sqlalchemy import delete, select

from app.db import utcnow
from csms.domain import alerts
from csms.domain.events import node_topic
from csms.domain.models import Alert, ConnectionLog
from tests.csms.conftest import Events

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
THRESHOLD = dt.timedelta(minutes=15)


def ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def alert_events(ingress) -> Events:
    events = Events()
    for topic in (alerts.TOPIC_OPENED, alerts.TOPIC_CLOSED):
        await ingress.bus.subscribe(topic, events.handler)
    return events


async def alert_rows(db, tenant_id) -> list[Alert]:
    async with db.session([tenant_id]) as session:
        return list(await session.scalars(
            select(Alert).where(Alert.tenant_id == tenant_id).order_by(Alert.opened_at, Alert.connector_id)))


@pytest.mark.parametrize("backend", BOTH, indirect=True)
async def test_a_faulted_point_opens_an_alert_and_available_closes_it(db, fleet, ingress, stations, relay):
    events = await alert_events(ingress)
    fault_at = utcnow().replace(microsecond=0) - dt.timedelta(seconds=30)
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        assert await alert_rows(db, fleet.cpam) == []
        await cp.call(call.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted",
                                              timestamp=ts(fault_at)))
        # The alert is committed when the station gets its answer.
        [row] = await alert_rows(db, fleet.cpam)
        assert (row.kind, row.connector_id, row.status, row.error_code, row.closed_at) == (
            "faulted", 2, "Faulted", "GroundFailure", None)
        assert row.opened_at == fault_at
        [opened] = await events.wait(alerts.TOPIC_OPENED)
        assert opened == {
            "tenant_id": str(fleet.cpam), "alert_id": str(row.id), "charger_id": str(row.charger_id),
            "charge_box_id": "CPAM-LM-01", "canonical_id": fleet.chargers["CPAM-LM-01"].points[1],
            "connector_id": 2, "kind": "faulted", "state": "Hors service", "status": "Faulted",
            "error_code": "GroundFailure", "since": ts(fault_at),
        }
        # The same fault again (a replay, or a new error code): still one alert, no new event.
        await cp.call(call.StatusNotification(connector_id=2, error_code="HighTemperature", status="Faulted"))
        assert len(await alert_rows(db, fleet.cpam)) == 1
        await cp.call(call.StatusNotification(connector_id=2, error_code="NoError", status="Available"))
        [closed] = await events.wait(alerts.TOPIC_CLOSED)
    [row] = await alert_rows(db, fleet.cpam)
    assert row.closed_at is not None and row.close_reason == "status:Available"
    assert closed["alert_id"] == str(row.id) and closed["since"] == ts(fault_at)
    assert closed["closed_at"] == ts(row.closed_at)
    assert len(events.by_topic[alerts.TOPIC_OPENED]) == 1


async def test_unavailable_charger_and_ocpp201_faults_open_alerts(db, fleet, ingress, stations, relay):
    events = await alert_events(ingress)
    async with stations.connect("CPAM-LM-02") as (cp, _wire):
        # Connector 0: the whole charger is out of service.
        await cp.call(call.StatusNotification(connector_id=0, error_code="NoError", status="Unavailable"))
        [opened] = await events.wait(alerts.TOPIC_OPENED)
        assert (opened["connector_id"], opened["canonical_id"], opened["status"]) == (
            0, fleet.chargers["CPAM-LM-02"].canonical_id, "Unavailable")
    async with stations.connect("CPAM-LM-201", version="2.0.1") as (cp, _wire):
        await cp.call(call201.StatusNotification(timestamp=ts(utcnow()), connector_status="Faulted", evse_id=2,
                                                 connector_id=1))
        await events.wait(alerts.TOPIC_OPENED, lambda p: p["charge_box_id"] == "CPAM-LM-201")
        await cp.call(call201.StatusNotification(timestamp=ts(utcnow()), connector_status="Occupied", evse_id=2,
                                                 connector_id=1))
        [closed] = await events.wait(alerts.TOPIC_CLOSED)
    assert (closed["charge_box_id"], closed["connector_id"], closed["canonical_id"]) == (
        "CPAM-LM-201", 2, fleet.chargers["CPAM-LM-201"].points[1])


async def wait_offline(db, tenant_id) -> dt.datetime:
    for _ in range(200):
        async with db.session([tenant_id]) as session:
            found = await session.scalar(select(ConnectionLog.disconnected_at).where(
                ConnectionLog.tenant_id == tenant_id, ConnectionLog.disconnected_at.is_not(None)))
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("the disconnection was never recorded")


@pytest.mark.parametrize("backend", BOTH, indirect=True)
async def test_a_charger_offline_longer_than_the_threshold_opens_an_alert_closed_on_reconnection(
    db, fleet, ingress, stations, relay
):
    events = await alert_events(ingress)
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        await cp.call(call.Heartbeat())
    gone = await wait_offline(db, fleet.cpam)

    # Time is a parameter of the sweep: just under the threshold nothing opens.
    assert ingress.alerts.threshold == THRESHOLD  # CENTRALE_OCPP_OFFLINE_ALERT_MINUTES, 15 by default
    assert await ingress.alerts.sweep(now=gone + THRESHOLD - dt.timedelta(seconds=1)) == []
    # Past it, one alert, since the disconnection; the other chargers never connected: not commissioned.
    later = gone + THRESHOLD + dt.timedelta(minutes=1)
    # Two processes sweeping at once (scaled mode: this ingress's watcher and another process) open it once.
    found = await asyncio.gather(ingress.alerts.sweep(now=later),
                                 alerts.run_sweep(db, now=later, threshold=THRESHOLD))
    assert sorted(len(changes) for changes in found) == [0, 1]
    [opened] = await events.wait(alerts.TOPIC_OPENED)
    assert (opened["kind"], opened["state"], opened["charge_box_id"], opened["connector_id"], opened["since"]) == (
        "offline", "Hors ligne", "CPAM-LM-01", 0, ts(gone))
    assert await ingress.alerts.sweep(now=later + dt.timedelta(hours=1)) == []
    [row] = await alert_rows(db, fleet.cpam)
    assert (row.kind, row.closed_at) == ("offline", None)

    # The station comes back: the ingress's alert watcher closes the alert.
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        await cp.call(call.Heartbeat())
        [closed] = await events.wait(alerts.TOPIC_CLOSED)
    assert closed["alert_id"] == opened["alert_id"] and closed["kind"] == "offline"
    [row] = await alert_rows(db, fleet.cpam)
    assert row.closed_at is not None and row.close_reason == "reconnected"
    assert len(events.by_topic[alerts.TOPIC_OPENED]) == 1


async def test_the_sweep_reconciles_faulted_alerts_and_stays_in_its_tenant(db, fleet, ingress, stations, relay):
    """A fault recorded before alerts existed (or whose alert was lost) is found by the sweep."""
    events = await alert_events(ingress)
    async with stations.connect("VLB-01") as (cp, _wire):
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Faulted"))
        await events.wait(alerts.TOPIC_OPENED)
    async with db.transaction([fleet.other], actor={"user_id": None, "label": "test"}) as session:
        await session.execute(delete(Alert).where(Alert.tenant_id == fleet.other))
    changes = await alerts.run_sweep(db, now=utcnow(), threshold=THRESHOLD, tenant_ids=[fleet.other])
    assert [(c.topic, c.payload["charge_box_id"], c.payload["connector_id"]) for c in changes] == [
        (alerts.TOPIC_OPENED, "VLB-01", 1)]
    assert await alert_rows(db, fleet.cpam) == []
    assert len(await alert_rows(db, fleet.other)) == 1


async def outbox_drained(db) -> None:
    """Every event committed so far handed to its subscribers (the relay's own report)."""
    from app.outbox import outbox_report

    for _ in range(500):
        report = await outbox_report(db)
        if not report.undispatched and not report.counts.get("pending"):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the outbox did not drain: {report}")


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_scaled_mode_two_ingress_processes_on_redis_publish_each_alert_once(settings, db, fleet, redis_url):
    """Scaled mode: two ingress processes (each with its alert watcher) on one Redis and one
    PostgreSQL, a worker's outbox relay; the incidents side subscribes with its own Redis connection."""
    import dataclasses

    from app.bus import RedisBus
    from app.composition import subscribers as component_subscribers
    from app.outbox import Relay
    from csms.ingress.server import Ingress

    namespace = f"alerts-{fleet.cpam.hex[:8]}"
    subscriber = RedisBus(redis_url, namespace=namespace)
    events = Events()
    for topic in (alerts.TOPIC_OPENED, alerts.TOPIC_CLOSED):
        await subscriber.subscribe(topic, events.handler)
    nodes = [Ingress(dataclasses.replace(settings, ocpp_port=0), db=db, bus=RedisBus(redis_url, namespace=namespace))
             for _ in range(2)]
    worker_bus = RedisBus(redis_url, namespace=namespace)
    relay = Relay(db, bus=worker_bus, subscribers=component_subscribers())
    await relay.start()
    for node in nodes:
        await node.start()
    try:
        from tests.csms.conftest import Stations

        async with Stations(nodes[0].port).connect("CPAM-LM-01") as (cp, _wire):
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Faulted"))
            [opened] = await events.wait(alerts.TOPIC_OPENED)
        assert (opened["kind"], opened["connector_id"]) == ("faulted", 1)
        gone = await wait_offline(db, fleet.cpam)
        later = gone + THRESHOLD + dt.timedelta(seconds=5)
        found = await asyncio.gather(*(node.alerts.sweep(now=later) for node in nodes))
        assert sorted(len(changes) for changes in found) == [0, 1]
        await events.wait(alerts.TOPIC_OPENED, lambda p: p["kind"] == "offline")
        # The station comes back on the other process: one closing, whichever watcher got there first.
        async with Stations(nodes[1].port).connect("CPAM-LM-01") as (cp, _wire):
            await cp.call(call.Heartbeat())
            [closed] = await events.wait(alerts.TOPIC_CLOSED, lambda p: p["kind"] == "offline")
            # Both watchers heard « station.connected » before this closing was published. A node's bus
            # runs its handlers one message after the other, so its answer to a later request leaves
            # after its watcher committed whatever it did on that message (a closing goes to the outbox
            # in that commit); then the relay drains the outbox: once nothing waits, a duplicate would be in.
            for node in nodes:
                assert await subscriber.request(node_topic(node.node), {
                    "tenant_id": str(fleet.cpam), "charge_box_id": "NO-SUCH-BOX", "op": "close"}) == {
                    "outcome": "not_connected"}
            await outbox_drained(db)
        assert closed["charge_box_id"] == "CPAM-LM-01"
        assert len([p for p in events.by_topic[alerts.TOPIC_OPENED] if p["kind"] == "offline"]) == 1
        assert len([p for p in events.by_topic[alerts.TOPIC_CLOSED] if p["kind"] == "offline"]) == 1
    finally:
        await relay.stop()
        await worker_bus.close()
        for node in nodes:
            await node.stop()
        await subscriber.close()
