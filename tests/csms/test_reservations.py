"""Reservations (CCTP CPAM 5-5-5-1 « Possibilité de réservation de point de charge ») under the
standard rules of CCTP CPAM 5-5-4 « paramétrage standard de règles de réservation (population,
priorité, horaires) », with the ``ocpp`` library's ChargePoint as the station."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Station16
from ocpp.v16 import call
from ocpp.v16 import call_result as result16
from sqlalchemy import select

from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from csms.domain import badges, reservations
from csms.domain.models import ChargePoint, Charger, Reservation, Transaction

ACTOR = {"user_id": None, "label": "test"}
BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
PARIS = dt.timezone(dt.timedelta(hours=1))  # December: Europe/Paris is UTC+1
#: Monday 7 December 2026, 08:00 in Le Mans: the clock of the rule tests.
MONDAY_8H = dt.datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)


class ReservingStation(Station16):
    """A 1.6 charger with the Reservation profile."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reserved: list[dict[str, Any]] = []
        self.cancelled: list[int] = []
        self.answer = "Accepted"
        self.got_cancel = asyncio.Event()

    @on("ReserveNow")
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **kw: Any) -> Any:
        self.reserved.append({"connectorId": connector_id, "expiryDate": expiry_date, "idTag": id_tag,
                              "reservationId": reservation_id})
        return result16.ReserveNow(status=self.answer)

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int, **kw: Any) -> Any:
        self.cancelled.append(reservation_id)
        self.got_cancel.set()
        return result16.CancelReservation(status="Accepted")


async def _point(session, tenant_id, charge_box_id: str, connector_id: int) -> ChargePoint:
    return await session.scalar(
        select(ChargePoint).join(Charger, (Charger.tenant_id == ChargePoint.tenant_id)
                                 & (Charger.id == ChargePoint.charger_id))
        .where(ChargePoint.tenant_id == tenant_id, Charger.charge_box_id == charge_box_id,
               ChargePoint.connector_id == connector_id))


@pytest.fixture
async def people(fleet, db) -> dict[str, Any]:
    """Badges of each population of CCTP 5-5-5-3, and the rules opened round the clock for wire tests."""
    out: dict[str, Any] = {}
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        out["vehicle"] = await badges.create_badge(session, fleet.cpam, {
            "id_tag": "VEH-01", "kind": "vehicle", "vehicle_label": "Clio AB-123-CD"})
        out["site"] = await badges.create_badge(session, fleet.cpam, {
            "id_tag": "SITE-01", "kind": "site", "site_id": fleet.cpam_site})
        out["site2"] = await badges.create_badge(session, fleet.cpam, {
            "id_tag": "SITE-02", "kind": "site", "site_id": fleet.cpam_site})
        out["loose"] = await badges.create_badge(session, fleet.cpam, {"id_tag": "LOOSE-01"})
        out["point1"] = (await _point(session, fleet.cpam, "CPAM-LM-01", 1)).id
        out["point2"] = (await _point(session, fleet.cpam, "CPAM-LM-01", 2)).id
    return out


async def reserve(db, tenant_id, data, **kwargs) -> reservations.Created:
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        return await reservations.create_reservation(session, tenant_id, data, **kwargs)


def at(day: int, hour: int, minute: int = 0) -> str:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=PARIS).isoformat()


# --------------------------------------------------------------------------- the rules (5-5-4)


@pytest.mark.parametrize("starts, ends, field, message", [
    (at(12, 9), at(12, 10), "starts_at", "Réservations possibles le lundi, mardi, mercredi, jeudi, vendredi seulement."),
    (at(8, 6, 30), at(8, 8), "starts_at", "Réservations possibles de 07:00 à 20:00 (heure locale), dans la même journée."),
    (at(8, 19), at(8, 20, 30), "starts_at", "Réservations possibles de 07:00 à 20:00 (heure locale), dans la même journée."),
    (at(8, 9), at(8, 13, 30), "ends_at", "Une réservation dure au plus 240 minutes."),
    (at(8, 10), at(8, 9), "ends_at", "La fin de la réservation doit suivre son début."),
    (at(7, 7), at(7, 9), "starts_at", "Le début de la réservation est déjà passé."),
    (at(28, 9), at(28, 10), "starts_at", "On réserve au plus 14 jours à l'avance."),
])
async def test_hours_rules_refuse_in_french_and_write_nothing(fleet, db, people, starts, ends, field, message):
    # CCTP CPAM 5-5-4 « horaires »: the standard rules, Monday to Friday, 07:00-20:00, 4 h, 14 days ahead.
    with pytest.raises(ValidationFailed) as caught:
        await reserve(db, fleet.cpam, {"charge_point_id": people["point1"], "badge_id": people["vehicle"].id,
                                       "starts_at": starts, "ends_at": ends}, now=MONDAY_8H)
    assert caught.value.errors == {field: message}
    async with db.session([fleet.cpam]) as session:
        assert await reservations.list_reservations(session, fleet.cpam) == []


async def test_population_rule_and_badge_state(fleet, db, people):
    # CCTP CPAM 5-5-4 « population »: only the populations listed may reserve.
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        await reservations.update_policy(session, fleet.cpam, {"populations": "vehicle,agent"})
    window = {"charge_point_id": people["point1"], "starts_at": at(8, 9), "ends_at": at(8, 10)}
    with pytest.raises(ValidationFailed) as caught:
        await reserve(db, fleet.cpam, {**window, "badge_id": people["site"].id}, now=MONDAY_8H)
    assert caught.value.errors["badge_id"] == ("Les badges de cette catégorie ne peuvent pas réserver ; catégories "
                                               "autorisées : véhicule de service, agent.")
    with pytest.raises(ValidationFailed) as caught:
        await reserve(db, fleet.cpam, {**window, "id_tag": "BADGE-OK"}, now=MONDAY_8H)  # not attached
    assert "ni à un véhicule" in caught.value.errors["badge_id"]
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        vehicle = await badges.access_badge(session, fleet.cpam, people["vehicle"].id)
        await badges.update_badge(session, fleet.cpam, vehicle, {"status": "Blocked"})
    with pytest.raises(ValidationFailed) as caught:
        await reserve(db, fleet.cpam, {**window, "badge_id": people["vehicle"].id}, now=MONDAY_8H)
    assert caught.value.errors["badge_id"] == "Le badge VEH-01 est bloqué."


@pytest.mark.parametrize("backend", BOTH)
async def test_conflicts_are_refused_and_priority_displaces_lower_populations(fleet, db, people):
    # CCTP CPAM 5-5-4 « priorité »: vehicle before site before agent (the standard order).
    site = await reserve(db, fleet.cpam, {"charge_point_id": people["point1"], "badge_id": people["site"].id,
                                          "starts_at": at(8, 9), "ends_at": at(8, 11)}, now=MONDAY_8H)
    assert site.reservation.status == "scheduled" and site.reservation.ocpp_reservation_id == 1
    # Same priority, overlapping: refused, with the window already taken.
    with pytest.raises(ValidationFailed) as caught:
        await reserve(db, fleet.cpam, {"charge_point_id": people["point1"], "badge_id": people["site2"].id,
                                       "starts_at": at(8, 10), "ends_at": at(8, 12)}, now=MONDAY_8H)
    assert caught.value.errors == {"starts_at": (
        "Ce point de charge est déjà réservé du 08/12/2026 09:00 au 08/12/2026 11:00. "
        "Choisissez un autre créneau ou un autre point de charge.")}
    # The same badge cannot hold two points at once.
    with pytest.raises(ValidationFailed) as caught:
        await reserve(db, fleet.cpam, {"charge_point_id": people["point2"], "badge_id": people["site"].id,
                                       "starts_at": at(8, 10), "ends_at": at(8, 12)}, now=MONDAY_8H)
    assert "un badge ne réserve qu'un point de charge à la fois" in caught.value.errors["badge_id"]
    # Back to back is no conflict.
    after = await reserve(db, fleet.cpam, {"charge_point_id": people["point1"], "badge_id": people["site2"].id,
                                           "starts_at": at(8, 11), "ends_at": at(8, 12)}, now=MONDAY_8H)
    # A service vehicle takes precedence: both site reservations it overlaps are cancelled, with the reason.
    vehicle = await reserve(db, fleet.cpam, {"charge_point_id": people["point1"], "badge_id": people["vehicle"].id,
                                             "starts_at": at(8, 10), "ends_at": at(8, 11, 30)}, now=MONDAY_8H)
    assert sorted(r.id for r in vehicle.displaced) == sorted([site.reservation.id, after.reservation.id])
    async with db.session([fleet.cpam]) as session:
        rows = {r.id_tag: r for r in await reservations.list_reservations(session, fleet.cpam)}
    assert rows["SITE-01"].status == rows["SITE-02"].status == "cancelled"
    assert rows["SITE-01"].cancel_reason == ("Remplacée par une réservation prioritaire (véhicule de service), "
                                             "selon les règles de réservation du bénéficiaire.")
    assert rows["VEH-01"].status == "scheduled"
    # The lower population cannot displace the higher one.
    with pytest.raises(ValidationFailed):
        await reserve(db, fleet.cpam, {"charge_point_id": people["point1"], "badge_id": people["site"].id,
                                       "starts_at": at(8, 11), "ends_at": at(8, 12)}, now=MONDAY_8H)


async def test_tenant_walls(fleet, db, people):
    async with db.session([fleet.other]) as session:
        point = await _point(session, fleet.other, "VLB-01", 1)
    with pytest.raises(ValidationFailed) as caught:  # another tenant's point and badge are unknown here
        await reserve(db, fleet.cpam, {"charge_point_id": point.id, "id_tag": "BADGE-VLB",
                                       "starts_at": at(8, 9), "ends_at": at(8, 10)}, now=MONDAY_8H)
    assert caught.value.errors["charge_point_id"] == "Point de charge inconnu chez ce bénéficiaire."
    assert caught.value.errors["badge_id"] == "Badge inconnu chez ce bénéficiaire."
    created = await reserve(db, fleet.cpam, {"charge_point_id": people["point1"], "badge_id": people["vehicle"].id,
                                             "starts_at": at(8, 9), "ends_at": at(8, 10)}, now=MONDAY_8H)
    async with db.session([fleet.other]) as session:
        with pytest.raises(NotFound):
            await reservations.access_reservation(session, fleet.other, created.reservation.id)
        assert await reservations.list_reservations(session, fleet.other) == []


# --------------------------------------------------------------------------- on the wire


async def open_now(db, fleet) -> None:
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        await reservations.update_policy(session, fleet.cpam, {"weekdays": "1234567", "opens": "00:00",
                                                               "closes": "24:00"})


async def reserve_now(ingress, db, fleet, people, badge: str = "vehicle", point: str = "point1") -> Reservation:
    """What the portal does: create, commit, send ReserveNow, record the station's answer."""
    now = utcnow()
    created = await reserve(db, fleet.cpam, {"charge_point_id": people[point], "badge_id": people[badge].id,
                                             "starts_at": now.isoformat(),
                                             "ends_at": (now + dt.timedelta(hours=1)).isoformat()})
    outcome = await reservations.reserve_on_station(db, ingress.bus, created.reservation, charge_box_id="CPAM-LM-01",
                                                    protocol="ocpp1.6")
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        row = await session.get(Reservation, (fleet.cpam, created.reservation.id))
        reservations.apply_outcome(row, outcome, now=now)
    return row


async def current(db, tenant_id, reservation_id) -> Reservation:
    async with db.session([tenant_id]) as session:
        return await session.get(Reservation, (tenant_id, reservation_id))


async def connected(stations, charge_box_id="CPAM-LM-01"):
    from tests.csms.conftest import Wire, open_socket

    ws = await open_socket(stations.port, charge_box_id)
    station = ReservingStation(charge_box_id, Wire(ws), response_timeout=30)
    task = asyncio.create_task(station.start())
    return station, ws, task


@pytest.mark.parametrize("backend", BOTH)
async def test_reservation_sent_with_reserve_now_then_cancelled_when_the_point_faults(fleet, db, people, ingress,
                                                                                       stations):
    await open_now(db, fleet)
    station, ws, task = await connected(stations)
    try:
        reservation = await reserve_now(ingress, db, fleet, people)
        assert reservation.status == "active" and reservation.station_status == "Accepted"
        expiry = reservation.ends_at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        assert station.reserved == [{"connectorId": 1, "expiryDate": expiry, "idTag": "VEH-01", "reservationId": 1}]
        # CCTP 5-5-4 « en défaut »: the point reports Faulted; the reservation is cancelled and recorded.
        await station.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted",
                                                   timestamp=stations.iso(utcnow())), suppress=False)
        after = await current(db, fleet.cpam, reservation.id)
        assert after.status == "cancelled"
        assert after.cancel_reason.startswith("Annulée automatiquement : le point de charge est passé en défaut (Faulted)")
        await asyncio.wait_for(station.got_cancel.wait(), 20)
        assert station.cancelled == [1]
        # And a faulted point cannot be reserved.
        with pytest.raises(ValidationFailed) as caught:
            await reserve_now(ingress, db, fleet, people)
        assert caught.value.errors["charge_point_id"] == "Ce point de charge est hors service : il ne peut pas être réservé."
    finally:
        task.cancel()
        await ws.close()


@pytest.mark.parametrize("backend", BOTH)
async def test_reservation_consumed_by_the_start_carrying_its_id(fleet, db, people, ingress, stations):
    await open_now(db, fleet)
    station, ws, task = await connected(stations)
    try:
        reservation = await reserve_now(ingress, db, fleet, people, point="point2")
        assert reservation.status == "active"
        started = await station.call(call.StartTransaction(
            connector_id=2, id_tag="VEH-01", meter_start=0, timestamp=stations.iso(utcnow()),
            reservation_id=reservation.ocpp_reservation_id), suppress=False)
        after = await current(db, fleet.cpam, reservation.id)
        assert after.status == "consumed"
        async with db.session([fleet.cpam]) as session:
            tx = await session.get(Transaction, (fleet.cpam, after.transaction_id))
        assert tx.ocpp_transaction_id == str(started.transaction_id) and tx.reservation_id == 1
    finally:
        task.cancel()
        await ws.close()


async def test_a_user_cancellation_reaches_the_station_and_a_refusal_is_recorded(fleet, db, people, ingress,
                                                                               stations):
    await open_now(db, fleet)
    station, ws, task = await connected(stations)
    try:
        reservation = await reserve_now(ingress, db, fleet, people)
        async with db.session([fleet.cpam], actor=ACTOR) as session:
            row = await session.get(Reservation, (fleet.cpam, reservation.id))
            answer = await reservations.cancel_reservation(db, ingress.bus, session, row, reason="Annulée par test.")
        assert answer == "Accepted" and station.cancelled == [reservation.ocpp_reservation_id]
        after = await current(db, fleet.cpam, reservation.id)
        assert (after.status, after.cancel_reason) == ("cancelled", "Annulée par test.")
        # The station refuses (Occupied): the reservation says so.
        station.answer = "Occupied"
        refused = await reserve_now(ingress, db, fleet, people, badge="site")
        assert (refused.status, refused.station_status) == ("rejected", "Occupied")
        assert refused.cancel_reason == "La borne a refusé la réservation : point de charge occupé."
    finally:
        task.cancel()
        await ws.close()


async def test_offline_station_gets_its_reservation_when_it_connects(fleet, db, people, settings):
    import dataclasses

    from app.bus import LocalBus
    from csms.ingress.server import Ingress

    await open_now(db, fleet)
    server = Ingress(dataclasses.replace(settings, ocpp_port=0), db=db, bus=LocalBus(), authorization_tasks=True)
    await server.start()
    try:
        reservation = await reserve_now(server, db, fleet, people)  # nobody connected
        assert reservation.status == "scheduled"

        class Port:
            port = server.port

        station, ws, task = await connected(Port)
        try:
            await server.authorization.wait_for("CPAM-LM-01", lambda r: True)  # after the connect trigger
            assert (await current(db, fleet.cpam, reservation.id)).status == "active"
            assert [r["reservationId"] for r in station.reserved] == [reservation.ocpp_reservation_id]
        finally:
            task.cancel()
            await ws.close()
    finally:
        await server.stop()


async def test_policy_validation_messages(fleet, db):
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        with pytest.raises(ValidationFailed) as caught:
            await reservations.update_policy(session, fleet.cpam, {
                "populations": "vehicle,vehicle", "weekdays": "89", "opens": "25:00", "closes": "07:00",
                "max_duration_minutes": "5"})
        assert caught.value.errors == {
            "populations": ("Autorisez au moins une population (véhicule de service, site de rattachement, agent), "
                            "chacune avec une priorité différente."),
            "weekdays": "Cochez au moins un jour autorisé.",
            "opens": "Heure invalide (HH:MM attendu, ex. 07:30).",
            "max_duration_minutes": "Durée maximale : de 15 à 1440 minutes.",
        }
        policy = await reservations.get_policy(session, fleet.cpam)
        assert (policy.populations, policy.weekdays) == ("vehicle,site,agent", "12345")


# --------------------------------------------------------------------------- API and portal


async def demo_fleet(db, demo) -> dict[str, Any]:
    """A charger, the agent's badge and a vehicle badge in the demo CPAM tenant; rules open round the clock."""
    from csms.domain import registry
    from tenants import services

    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        site = (await services.list_sites(session, cpam))[0]
        registered = await registry.register_charger(session, cpam, {
            "charge_box_id": "DEMO-RES-01", "password": "Borne-secret-2026-xyz", "site": str(site.id), "points": 2,
            "power_kw": 22})
        agent = await services.find_user_by_email(session, "agent@cpam72.demo")
        agent_badge = await badges.create_badge(session, cpam, {"id_tag": "AGENT-01", "kind": "agent",
                                                                "user_id": agent.id})
        vehicle = await badges.create_badge(session, cpam, {"id_tag": "VEH-99", "kind": "vehicle",
                                                            "vehicle_label": "Zoé"})
        await reservations.update_policy(session, cpam, {"weekdays": "1234567", "opens": "00:00", "closes": "24:00"})
        point = await _point(session, cpam, "DEMO-RES-01", 1)
    assert registered
    return {"tenant": cpam, "point": point.id, "agent_badge": agent_badge.id, "vehicle": vehicle.id}


async def test_reservations_api_agents_reserve_for_themselves(client, db, demo, api_token):
    setup = await demo_fleet(db, demo)
    base = f"/api/v1/tenants/{setup['tenant']}/reservations"
    later = utcnow() + dt.timedelta(days=1)
    window = {"starts_at": later.isoformat(), "ends_at": (later + dt.timedelta(hours=1)).isoformat(),
              "charge_point_id": str(setup["point"])}
    agent = await api_token("agent@cpam72.demo")
    # An agent may not use someone else's badge (the vehicle's).
    refused = await client.post(base, headers=agent, json={**window, "badge_id": str(setup["vehicle"])})
    assert refused.status_code == 422 and refused.json()["errors"] == {"badge_id": "Choisissez l'un de vos badges."}
    mine = await client.post(base, headers=agent, json={**window, "badge_id": str(setup["agent_badge"])})
    assert mine.status_code == 201, mine.text
    body = mine.json()
    assert (body["status"], body["id_tag"], body["population"]) == ("scheduled", "AGENT-01", "agent")
    # The viewer reads everything, may not reserve; the agent sees only their own reservations.
    viewer = await api_token("visu@cpam72.demo")
    assert [r["id_tag"] for r in (await client.get(base, headers=viewer)).json()] == ["AGENT-01"]
    assert (await client.post(base, headers=viewer, json={**window, "badge_id": str(setup["vehicle"])})).status_code == 403
    # Bad input: French field errors, nothing written.
    bad = await client.post(base, headers=agent, json={**window, "ends_at": window["starts_at"],
                                                       "badge_id": str(setup["agent_badge"])})
    assert bad.status_code == 422 and bad.json()["errors"] == {"ends_at": "La fin de la réservation doit suivre son début."}
    assert (await client.post(base, headers=agent, json={"starts_at": "bientôt"})).status_code == 422
    # A higher-priority badge (service vehicle, reserved by the administrator) displaces the agent's.
    admin = await api_token("admin@cpam72.demo")
    vehicle = await client.post(base, headers=admin, json={**window, "badge_id": str(setup["vehicle"])})
    assert vehicle.status_code == 201
    listed = {r["id_tag"]: r for r in (await client.get(base, headers=agent)).json()}
    assert listed["AGENT-01"]["status"] == "cancelled" and "prioritaire" in listed["AGENT-01"]["cancel_reason"]
    assert "VEH-99" not in listed
    # Cancelling: the agent cannot cancel the vehicle's; the administrator can.
    vehicle_url = f"{base}/{vehicle.json()['id']}"
    assert (await client.delete(vehicle_url, headers=agent)).status_code == 403
    assert (await client.delete(vehicle_url, headers=admin)).status_code == 204
    again = await client.delete(vehicle_url, headers=admin)
    assert again.status_code == 422 and again.json()["errors"] == {"reservation": "Cette réservation est déjà annulée."}
    other = demo["tenant_ids"]["commune"]
    assert (await client.delete(f"/api/v1/tenants/{other}/reservations/{vehicle.json()['id']}",
                                headers=admin)).status_code == 404


async def test_reservations_portal_page(client, db, demo):
    import html

    from tests.conftest import form_post, login

    setup = await demo_fleet(db, demo)
    page = f"/t/{setup['tenant']}/reservations"
    await login(client, "agent@cpam72.demo")
    listing = await client.get(page)
    assert listing.status_code == 200
    text = html.unescape(listing.text)
    # Article numbers of the tender are for staff, not for agents (issue 12 §5).
    assert "Règles de réservation" in text and "CCTP" not in text
    assert "AGENT-01" in text and "VEH-99" not in text
    later = (utcnow() + dt.timedelta(days=1)).astimezone(PARIS).replace(tzinfo=None)
    bad = await form_post(client, page, page, {"charge_point_id": str(setup["point"]),
                                               "badge_id": str(setup["agent_badge"]), "starts_at": "",
                                               "ends_at": later.strftime("%Y-%m-%dT%H:%M")})
    assert bad.status_code == 422 and "Date et heure obligatoires." in html.unescape(bad.text)
    done = await form_post(client, page, page, {
        "charge_point_id": str(setup["point"]), "badge_id": str(setup["agent_badge"]),
        "starts_at": later.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (later + dt.timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M")})
    assert done.status_code == 303
    listing = html.unescape((await client.get(page)).text)
    assert "Réservation n° 1 enregistrée." in listing and "Planifiée" in listing


async def test_reservation_rules_are_chosen_with_priorities_and_checkboxes(client, db, demo):
    """CCTP CPAM 5-5-4 « population … priorité … horaires »: a priority choice per population and a
    checkbox per day, not a typed ``vehicle,site,agent`` (issue 12 §5)."""
    import html

    from tests.conftest import form_post, login

    setup = await demo_fleet(db, demo)
    page = f"/t/{setup['tenant']}/reservations"
    await login(client, "admin@cpam72.demo")
    text = html.unescape((await client.get(page)).text)
    assert "Règles de réservation (CCTP CPAM 5-5-4)" in text  # staff see the article
    assert 'name="priority_vehicle"' in text and 'name="weekday_7"' in text and 'name="populations"' not in text
    rules = f"{page}/regles"
    base = {"rules_form": "1", "opens": "07:00", "closes": "20:00", "max_duration_minutes": "120",
            "max_advance_days": "30"}
    same_rank = await form_post(client, page, rules, {**base, "priority_vehicle": "1", "priority_agent": "1",
                                                      "weekday_1": "on"})
    assert same_rank.status_code == 422
    assert "chacune avec une priorité différente" in html.unescape(same_rank.text)
    no_day = await form_post(client, page, rules, {**base, "priority_agent": "1"})
    assert no_day.status_code == 422 and "Cochez au moins un jour autorisé." in html.unescape(no_day.text)
    done = await form_post(client, page, rules, {**base, "priority_agent": "2", "priority_vehicle": "1",
                                                 "weekday_6": "on", "weekday_7": "on"})
    assert done.status_code == 303
    text = html.unescape((await client.get(page)).text)
    assert "Population et priorité (de la plus haute à la plus basse) : Véhicule de service, Agent." in text
    assert "jours : samedi, dimanche" in text.lower()


async def test_ocpp201_reserve_now_and_transaction_event_consumes_it(fleet, db, people, ingress, stations):
    from ocpp.v201 import ChargePoint as Station201
    from ocpp.v201 import call as call201
    from ocpp.v201 import call_result as result201

    from tests.csms.conftest import Wire, open_socket

    class Station(Station201):
        reserved: list[dict[str, Any]] = []

        @on("ReserveNow")
        def on_reserve_now(self, id: int, expiry_date_time: str, id_token: dict, **kw: Any) -> Any:  # noqa: A002
            self.reserved.append({"id": id, "expiryDateTime": expiry_date_time, "idToken": id_token,
                                  "evseId": kw.get("evse_id")})
            return result201.ReserveNow(status="Accepted")

    await open_now(db, fleet)
    async with db.session([fleet.cpam]) as session:
        point = (await _point(session, fleet.cpam, "CPAM-LM-201", 2)).id
    ws = await open_socket(stations.port, "CPAM-LM-201", protocol="ocpp2.0.1")
    station = Station("CPAM-LM-201", Wire(ws), response_timeout=30)
    task = asyncio.create_task(station.start())
    try:
        now = utcnow()
        created = await reserve(db, fleet.cpam, {"charge_point_id": point, "badge_id": people["site"].id,
                                                 "starts_at": now, "ends_at": now + dt.timedelta(minutes=30)})
        outcome = await reservations.reserve_on_station(db, ingress.bus, created.reservation,
                                                        charge_box_id="CPAM-LM-201", protocol="ocpp2.0.1")
        assert outcome.status == "active"
        rid = created.reservation.ocpp_reservation_id
        assert station.reserved == [{"id": rid, "idToken": {"id_token": "SITE-01", "type": "ISO14443"}, "evseId": 2,
                                     "expiryDateTime": created.reservation.ends_at.astimezone(dt.UTC)
                                     .isoformat(timespec="seconds").replace("+00:00", "Z")}]
        async with db.transaction([fleet.cpam], actor=ACTOR) as session:
            reservations.apply_outcome(await session.get(Reservation, (fleet.cpam, created.reservation.id)),
                                       outcome, now=now)
        await station.call(call201.TransactionEvent(
            event_type="Started", timestamp=stations.iso(utcnow()), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "TX-RES-1"}, evse={"id": 2, "connector_id": 1},
            id_token={"id_token": "SITE-01", "type": "ISO14443"}, reservation_id=rid), suppress=False)
        after = await current(db, fleet.cpam, created.reservation.id)
        assert after.status == "consumed" and after.transaction_id is not None
    finally:
        task.cancel()
        await ws.close()
