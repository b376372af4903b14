"""One charging session per badge, unless the tenant allows more (issue 10, security hardening).

OCPP 1.6 §7.2 AuthorizationStatus ``ConcurrentTx``: « Identifier is already involved in
another transaction and multiple transactions are not allowed »; OCPP 2.0.1
AuthorizationStatusEnumType has the same value in IdTokenInfo (Authorize,
TransactionEvent). CCTP CPAM 5-5-5-3 « Gestion d'accès à la charge par badge RFID ».
Real sockets: the stations are the ``ocpp`` library's own ChargePoint; the tests assert
the answers on the wire.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy import select

from app.db import utcnow
from csms.domain import badges
from csms.domain.models import Transaction

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ACTOR = {"user_id": None, "label": "test"}
NOW = utcnow().replace(microsecond=0)


async def allow(db, tenant_id, allowed: bool) -> None:
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        await badges.set_concurrent_sessions_allowed(session, tenant_id, allowed)


def at(minute: int) -> str:
    return (NOW + dt.timedelta(minutes=minute)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize("backend", BOTH)
async def test_ocpp16_a_badge_already_charging_gets_concurrent_tx(db, fleet, ingress, stations):
    async with stations.connect("CPAM-LM-01") as (first, wire1), stations.connect("CPAM-LM-02") as (second, wire2):
        start = call16.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=1000, timestamp=at(0))
        await first.call(start, unique_id="start-1")
        tx1 = wire1.answer("start-1")[2]["transactionId"]
        assert wire1.answer("start-1") == [3, "start-1", {"transactionId": tx1, "idTagInfo": {"status": "Accepted"}}]
        # A replay of that StartTransaction (same point, idTag, timestamp, meterStart: the station's
        # offline queue after a reconnect) is the same transaction, not a second one.
        await first.call(start, unique_id="start-1-replay")
        assert wire1.answer("start-1-replay") == [3, "start-1-replay", {
            "transactionId": tx1, "idTagInfo": {"status": "Accepted"}}]

        # The same badge at another charger: refused, by Authorize and by StartTransaction.
        await second.call(call16.Authorize(id_tag="badge-ok"), unique_id="auth-2")
        await second.call(call16.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=50, timestamp=at(1)),
                          unique_id="start-2")
        assert wire2.answer("auth-2") == [3, "auth-2", {"idTagInfo": {"status": "ConcurrentTx"}}]
        tx2 = wire2.answer("start-2")[2]["transactionId"]
        assert wire2.answer("start-2") == [3, "start-2", {"transactionId": tx2, "idTagInfo": {"status": "ConcurrentTx"}}]
        # At the charger it charges on, the badge shown again is how the driver ends the session: Accepted;
        # a start on that charger's other point is a second session: refused.
        await first.call(call16.Authorize(id_tag="BADGE-OK"), unique_id="auth-1")
        assert wire1.answer("auth-1") == [3, "auth-1", {"idTagInfo": {"status": "Accepted"}}]
        await first.call(call16.StartTransaction(connector_id=2, id_tag="BADGE-OK", meter_start=7, timestamp=at(2)),
                         unique_id="start-1b")
        assert wire1.answer("start-1b")[2]["idTagInfo"] == {"status": "ConcurrentTx"}
        # Other badges are not concerned.
        await second.call(call16.Authorize(id_tag="BADGE-BLOCKED"), unique_id="auth-blocked")
        assert wire2.answer("auth-blocked")[2] == {"idTagInfo": {"status": "Blocked"}}

        # The refused sessions are stopped by their stations (DeAuthorized), the first one ends: the badge is free.
        for cp, tx in ((second, tx2), (first, wire1.answer("start-1b")[2]["transactionId"]), (first, tx1)):
            await cp.call(call16.StopTransaction(meter_stop=2000, timestamp=at(3), transaction_id=tx,
                                                 reason="DeAuthorized" if tx != tx1 else "EVDisconnected"))
        await second.call(call16.Authorize(id_tag="BADGE-OK"), unique_id="auth-3")
        await second.call(call16.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=60, timestamp=at(4)),
                          unique_id="start-3")
        assert wire2.answer("auth-3")[2] == {"idTagInfo": {"status": "Accepted"}}
        assert wire2.answer("start-3")[2]["idTagInfo"] == {"status": "Accepted"}

        # The tenant allows several sessions per badge: a second one is accepted.
        await allow(db, fleet.cpam, True)
        await first.call(call16.Authorize(id_tag="BADGE-OK"), unique_id="auth-4")
        await first.call(call16.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=3000, timestamp=at(5)),
                         unique_id="start-4")
        assert wire1.answer("auth-4")[2] == {"idTagInfo": {"status": "Accepted"}}
        assert wire1.answer("start-4")[2]["idTagInfo"] == {"status": "Accepted"}
        # And forbids it again: the next start of that badge elsewhere is refused.
        await allow(db, fleet.cpam, False)
        await first.call(call16.StartTransaction(connector_id=2, id_tag="BADGE-OK", meter_start=8, timestamp=at(6)),
                         unique_id="start-5")
        assert wire1.answer("start-5")[2]["idTagInfo"] == {"status": "ConcurrentTx"}
    async with db.session([fleet.cpam]) as session:
        rows = list(await session.scalars(select(Transaction).where(Transaction.tenant_id == fleet.cpam)
                                          .order_by(Transaction.start_received_at)))
    assert [r.id_tag_status for r in rows] == ["Accepted", "ConcurrentTx", "ConcurrentTx", "Accepted", "Accepted",
                                               "ConcurrentTx"]


async def test_ocpp201_authorize_and_transaction_event_answer_concurrent_tx(db, fleet, ingress, stations):
    token = {"id_token": "BADGE-OK", "type": "ISO14443"}
    async with stations.connect("CPAM-LM-01") as (cp16, _), \
            stations.connect("CPAM-LM-201", version="2.0.1") as (cp, wire):
        started = await cp16.call(call16.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=0,
                                                          timestamp=at(0)))
        assert started.id_tag_info["status"] == "Accepted"

        await cp.call(call201.Authorize(id_token=token), unique_id="auth")
        await cp.call(call201.TransactionEvent(
            event_type="Started", timestamp=at(1), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "TX-201-A", "charging_state": "Charging"},
            evse={"id": 1, "connector_id": 1}, id_token=token), unique_id="te-a")
        # A session started at plug-in, the badge shown afterwards (2.0.1 allows it): refused then.
        await cp.call(call201.TransactionEvent(
            event_type="Started", timestamp=at(2), trigger_reason="CablePluggedIn", seq_no=0,
            transaction_info={"transaction_id": "TX-201-B", "charging_state": "EVConnected"},
            evse={"id": 2, "connector_id": 1}), unique_id="te-b0")
        await cp.call(call201.TransactionEvent(
            event_type="Updated", timestamp=at(3), trigger_reason="Authorized", seq_no=1,
            transaction_info={"transaction_id": "TX-201-B", "charging_state": "EVConnected"},
            id_token=token), unique_id="te-b1")
        assert [wire.answer(u) for u in ("auth", "te-a", "te-b0", "te-b1")] == [
            [3, "auth", {"idTokenInfo": {"status": "ConcurrentTx"}}],
            [3, "te-a", {"idTokenInfo": {"status": "ConcurrentTx"}}],
            [3, "te-b0", {}],
            [3, "te-b1", {"idTokenInfo": {"status": "ConcurrentTx"}}],
        ]

        # The 1.6 session ends: the badge may start here.
        await cp16.call(call16.StopTransaction(meter_stop=500, timestamp=at(4), transaction_id=started.transaction_id))
        await cp.call(call201.TransactionEvent(
            event_type="Ended", timestamp=at(5), trigger_reason="Deauthorized", seq_no=1,
            transaction_info={"transaction_id": "TX-201-A", "stopped_reason": "DeAuthorized"}))
        await cp.call(call201.TransactionEvent(
            event_type="Ended", timestamp=at(5), trigger_reason="Deauthorized", seq_no=2,
            transaction_info={"transaction_id": "TX-201-B", "stopped_reason": "DeAuthorized"}))
        await cp.call(call201.Authorize(id_token=token), unique_id="auth-free")
        await cp.call(call201.TransactionEvent(
            event_type="Started", timestamp=at(6), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "TX-201-C", "charging_state": "Charging"},
            evse={"id": 1, "connector_id": 1}, id_token=token), unique_id="te-c")
        await cp.call(call201.TransactionEvent(
            event_type="Updated", timestamp=at(7), trigger_reason="MeterValuePeriodic", seq_no=1,
            transaction_info={"transaction_id": "TX-201-C", "charging_state": "Charging"},
            id_token=token), unique_id="te-c1")  # the same session again: not concurrent with itself
        assert [wire.answer(u)[2] for u in ("auth-free", "te-c", "te-c1")] == [
            {"idTokenInfo": {"status": "Accepted"}}] * 3

        # Allowed by the tenant: a second session of the badge is accepted.
        await allow(db, fleet.cpam, True)
        await cp.call(call201.TransactionEvent(
            event_type="Started", timestamp=at(8), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "TX-201-D", "charging_state": "Charging"},
            evse={"id": 2, "connector_id": 1}, id_token=token), unique_id="te-d")
        assert wire.answer("te-d")[2] == {"idTokenInfo": {"status": "Accepted"}}


async def test_the_setting_through_the_cli(centrale, db, fleet):
    def run(*args: str):
        return centrale("stations", "badge-sessions", "--tenant", str(fleet.cpam), *args, "--json")

    assert json.loads((await run()).stdout) == {"allow_concurrent_badge_sessions": False}
    assert json.loads((await run("--allow-concurrent")).stdout) == {"allow_concurrent_badge_sessions": True}
    async with db.session([fleet.cpam]) as session:
        assert await badges.concurrent_sessions_allowed(session, fleet.cpam) is True
        assert await badges.concurrent_sessions_allowed(session, fleet.other) is False  # per tenant
    assert json.loads((await run("--forbid-concurrent")).stdout) == {"allow_concurrent_badge_sessions": False}


async def test_the_setting_on_the_badges_page(db, fleet, people, client):
    """A tenant admin allows and forbids concurrent sessions from « Badges »; a viewer reads the setting."""
    from tests.conftest import form_post, login
    from tests.csms.conftest import MEMBER_PASSWORD

    page_url, action = f"/t/{fleet.cpam}/badges", f"/t/{fleet.cpam}/badges/recharges-simultanees"
    assert (await login(client, "visu@cpam-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    page = await client.get(page_url)
    assert "la borne reçoit le refus « ConcurrentTx » (OCPP)" in page.text
    assert "Autoriser les recharges simultanées" not in page.text
    refused = await form_post(client, page_url, action, {"allow": "1"})
    assert refused.status_code == 403
    async with db.session([fleet.cpam]) as session:
        assert await badges.concurrent_sessions_allowed(session, fleet.cpam) is False

    client.cookies.clear()
    assert (await login(client, "admin@cpam-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    done = await form_post(client, page_url, action, {"allow": "1"})
    assert done.status_code in (302, 303)
    page = await client.get(page_url)
    assert "Un badge peut mener plusieurs recharges en même temps." in page.text
    assert "Interdire les recharges simultanées" in page.text
    async with db.session([fleet.cpam]) as session:
        assert await badges.concurrent_sessions_allowed(session, fleet.cpam) is True
    await form_post(client, page_url, action, {"allow": "0"})
    async with db.session([fleet.cpam]) as session:
        assert await badges.concurrent_sessions_allowed(session, fleet.cpam) is False


async def test_the_setting_through_the_api(db, fleet, people, client):
    """The same rule over the API: GET for a reader, PUT for an admin (403 for a viewer)."""
    from tenants import services

    async def bearer(email: str) -> dict[str, str]:
        async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
            user = await services.find_user_by_email(session, email)
            _token, secret = await services.create_api_token(session, user, name="test")
        return {"Authorization": f"Bearer {secret}"}

    url = f"/api/v1/tenants/{fleet.cpam}/badge-settings"
    viewer, admin = await bearer("visu@cpam-bornes.demo"), await bearer("admin@cpam-bornes.demo")
    assert (await client.get(url, headers=viewer)).json() == {"allow_concurrent_sessions": False}
    refused = await client.put(url, headers=viewer, json={"allow_concurrent_sessions": True})
    assert refused.status_code == 403
    done = await client.put(url, headers=admin, json={"allow_concurrent_sessions": True})
    assert done.status_code == 200 and done.json() == {"allow_concurrent_sessions": True}
    async with db.session([fleet.cpam]) as session:
        assert await badges.concurrent_sessions_allowed(session, fleet.cpam) is True
    assert (await client.put(url, headers=admin, json={"allow_concurrent_sessions": "oui"})).status_code == 422
