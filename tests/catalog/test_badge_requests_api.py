"""The agents' badge requests over the API (issue 14 §4 and §5, CCTP CPAM 5-5-5-3): the agent asks, its manager
approves in writing, the titulaire's operator ships with the idTag, the agent confirms receipt and the badge joins
the tenant's local list; each step e-mails the next person; every wrong move is refused with its rule and changes
nothing; an agent sees only its own requests, another tenant nothing (404); a late step is reminded once."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select

from app.db import utcnow
from app.mail import OutboxMessage
from app.outbox import Relay
from catalog.badge_requests import SUBSCRIBERS
from catalog.models import BadgeRequest
from catalog.tasks import run_badge_reminders
from csms import services as csms


async def _count(db, tenant_id) -> int:
    async with db.session([uuid.UUID(tenant_id)]) as session:
        return await session.scalar(select(func.count()).select_from(BadgeRequest)) or 0


async def _mails(db, tenant_id) -> list[tuple[str, str, str]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(OutboxMessage.to, OutboxMessage.subject, OutboxMessage.body)
                                  .where(OutboxMessage.tenant_id == uuid.UUID(tenant_id))
                                  .order_by(OutboxMessage.created_at, OutboxMessage.id))
        return [tuple(r) for r in rows]


async def _deliver(db, settings) -> None:
    result = await Relay(db, settings=settings, subscribers=SUBSCRIBERS).run_once()
    assert result.failed == 0


async def test_request_approve_ship_activate_each_step_mailed(client, db, demo, api_token, settings):
    cpam = demo["tenant_ids"]["cpam"]
    url = f"/api/v1/tenants/{cpam}/badge-requests"
    agent, manager = await api_token("agent@cpam72.demo"), await api_token("responsable@cpam72.demo")
    operator = await api_token("technicien@titulaire.demo")

    asked = await client.post(url, headers=agent, json={"plate": "ab-123-cd", "reason": "Trajets domicile-travail"})
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert (request["state"], request["state_label"], request["plate"]) == ("requested", "demandée", "AB-123-CD")
    # « sous 24h à partir de la réception de la demande »
    assert request["due_step"] == "decision" and not request["overdue"]
    due = dt.datetime.fromisoformat(request["due_at"]) - dt.datetime.fromisoformat(request["requested_at"])
    assert due == dt.timedelta(hours=24)
    one = f"{url}/{request['id']}"

    await _deliver(db, settings)
    [(to, subject, body)] = await _mails(db, cpam)
    assert to == "responsable@cpam72.demo" and subject.startswith("[CPAM de la Sarthe] Demande de badge à valider")
    assert "Alice Agent (CPAM) demande un badge de recharge pour son véhicule AB-123-CD." in body
    assert f"/t/{cpam}/demandes-badge/{request['id']}" in body

    # Nobody but the manager (or the admin) decides; nobody but the titulaire ships.
    assert (await client.post(f"{one}/approve", headers=agent)).status_code == 403
    assert (await client.post(f"{one}/ship", headers=manager, json={"id_tag": "CPAM-RFID-0042"})).status_code == 403
    early = await client.post(f"{one}/ship", headers=operator, json={"id_tag": "CPAM-RFID-0042"})
    assert early.status_code == 422 and set(early.json()["errors"]) == {"state"}

    approved = await client.post(f"{one}/approve", headers=manager)
    assert approved.status_code == 200, approved.text
    assert (approved.json()["state"], approved.json()["due_step"]) == ("approved", "shipment")
    await _deliver(db, settings)
    assert [(m[0], m[1].split(" avant")[0]) for m in (await _mails(db, cpam))[1:]] == [
        ("technicien@titulaire.demo", "[CPAM de la Sarthe] Badge à expédier")]

    bad = await client.post(f"{one}/ship", headers=operator, json={"id_tag": "avec espace"})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"id_tag"}
    assert (await client.get(one, headers=agent)).json()["state"] == "approved"  # unchanged
    shipped = await client.post(f"{one}/ship", headers=operator,
                                json={"id_tag": "CPAM-RFID-0042", "shipment_reference": "Lettre suivie 1A2B"})
    assert shipped.status_code == 200, shipped.text
    assert (shipped.json()["state"], shipped.json()["id_tag"], shipped.json()["due_step"]) == (
        "shipped", "CPAM-RFID-0042", None)
    await _deliver(db, settings)

    activated = await client.post(f"{one}/activate", headers=agent)
    assert activated.status_code == 200, activated.text
    assert activated.json()["state"] == "activated" and activated.json()["badge_id"]
    await _deliver(db, settings)
    assert [(m[0], m[1]) for m in (await _mails(db, cpam))[2:]] == [
        ("agent@cpam72.demo", "[CPAM de la Sarthe] Votre badge de recharge est expédié"),
        ("agent@cpam72.demo", "[CPAM de la Sarthe] Votre badge de recharge est actif")]
    # The badge is the agent's, active, in the tenant's local authorization list (through csms's service).
    async with db.session([uuid.UUID(cpam)]) as session:
        [badge] = [b for b in await csms.badges_of_user(session, uuid.UUID(cpam), uuid.UUID(request["requested_by"]))
                   if b.id_tag == "CPAM-RFID-0042"]
    assert (str(badge.id), badge.status, badge.kind, badge.vehicle_label) == (
        activated.json()["badge_id"], "Accepted", "agent", "AB-123-CD")
    # A second confirmation is refused with the rule; a second relay pass mails nothing more.
    again = await client.post(f"{one}/activate", headers=agent)
    assert again.status_code == 422 and set(again.json()["errors"]) == {"state"}
    await _deliver(db, settings)
    assert len(await _mails(db, cpam)) == 4


async def test_bad_input_is_422_per_field_and_stores_nothing(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    url = f"/api/v1/tenants/{cpam}/badge-requests"
    agent = await api_token("agent@cpam72.demo")
    before = await _count(db, cpam)
    response = await client.post(url, headers=agent, json={"plate": "IO-123-UU", "reason": ""})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"plate", "reason"}
    too_long = await client.post(url, headers=agent, json={"plate": "AB-123-CD", "reason": "x" * 501})
    assert too_long.status_code in (400, 422)
    assert (await client.get(f"{url}?state=perdu", headers=agent)).status_code == 422
    assert (await client.post(f"{url}/{uuid.uuid4()}/approve",
                              headers=await api_token("admin@cpam72.demo"))).status_code == 404
    viewer = await api_token("visu@cpam72.demo")  # reads the requests, asks for none
    assert (await client.post(url, headers=viewer, json={"plate": "AB-123-CD", "reason": "x"})).status_code == 403
    assert await _count(db, cpam) == before


async def test_an_agent_sees_its_own_requests_and_another_tenant_none(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    url = f"/api/v1/tenants/{cpam}/badge-requests"
    agent, admin = await api_token("agent@cpam72.demo"), await api_token("admin@cpam72.demo")
    mine = (await client.post(url, headers=agent, json={"plate": "AB-123-CD", "reason": "Domicile"})).json()
    theirs = (await client.post(url, headers=admin, json={"plate": "123 ABC 72", "reason": "Pool"})).json()
    assert [r["id"] for r in (await client.get(url, headers=agent)).json()] == [mine["id"]]
    assert {r["id"] for r in (await client.get(url, headers=admin)).json()} >= {mine["id"], theirs["id"]}
    assert (await client.get(f"{url}/{theirs['id']}", headers=agent)).status_code == 404
    assert (await client.post(f"{url}/{theirs['id']}/cancel", headers=agent)).status_code == 404
    # Another tenant's admin: the CPAM's requests do not exist for it, under either tenant's path.
    other = await api_token("admin@villeurbanne.demo")
    assert (await client.get(url, headers=other)).status_code == 404
    commune = demo["tenant_ids"]["commune"]
    assert (await client.get(f"/api/v1/tenants/{commune}/badge-requests/{mine['id']}",
                             headers=other)).status_code == 404
    assert (await client.post(f"/api/v1/tenants/{commune}/badge-requests/{mine['id']}/approve",
                              headers=other)).status_code == 404
    cancelled = await client.post(f"{url}/{mine['id']}/cancel", headers=agent)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"


async def test_a_late_decision_is_reminded_once(client, db, demo, api_token, settings):
    cpam = demo["tenant_ids"]["cpam"]
    agent = await api_token("agent@cpam72.demo")
    asked = (await client.post(f"/api/v1/tenants/{cpam}/badge-requests", headers=agent,
                               json={"plate": "AB-123-CD", "reason": "Domicile"})).json()
    assert await run_badge_reminders(db, settings, utcnow() + dt.timedelta(hours=23)) == []
    later = utcnow() + dt.timedelta(hours=24, minutes=1)
    assert await run_badge_reminders(db, settings, later) == [asked["id"]]
    assert await run_badge_reminders(db, settings, later + dt.timedelta(hours=1)) == []  # once
    reminders = [m for m in await _mails(db, cpam) if "Rappel" in m[1]]
    assert [(m[0], m[1]) for m in reminders] == [
        ("responsable@cpam72.demo",
         "[CPAM de la Sarthe] Rappel : demande de badge en attente de décision depuis plus de 24 h")]
    assert "le délai de 24 h du CCTP 5-5-5-3 a expiré" in reminders[0][2]
    shown = (await client.get(f"/api/v1/tenants/{cpam}/badge-requests/{asked['id']}", headers=agent)).json()
    assert shown["overdue"] is False  # 24 h have not really passed: the clock is the server's
