"""RFID badges and local authorization lists (CCTP CPAM 5-5-5-3), over a real socket.

The station is the ``ocpp`` library's own ChargePoint, with handlers for the
local list commands that keep a list the way a charger does; the ingress runs
its authorization tasks (``csms.domain.badges.AuthorizationTasks``) as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import html
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Station16
from ocpp.v16 import call
from ocpp.v16 import call_result as result16
from sqlalchemy import func, select

from app.bus import LocalBus
from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from csms.domain import badges
from csms.domain.models import Badge, LocalListSync

ACTOR = {"user_id": None, "label": "test"}
BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class ListStation(Station16):
    """A 1.6 charger that keeps a local authorization list (OCPP 1.6 §3.5)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.list_version = 0
        self.entries: dict[str, dict[str, Any]] = {}
        self.pushes: list[tuple[str, int, list[dict[str, Any]]]] = []
        self.answer = "Accepted"
        self.version_asked = 0

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **kwargs: Any) -> Any:
        self.version_asked += 1
        return result16.GetLocalListVersion(list_version=self.list_version)

    @on("SendLocalList")
    def on_send_local_list(self, list_version: int, update_type: str, **kwargs: Any) -> Any:
        entries = kwargs.get("local_authorization_list") or []
        self.pushes.append((update_type, list_version, entries))
        if self.answer != "Accepted":
            return result16.SendLocalList(status=self.answer)
        if update_type == "Full":
            self.entries = {}
        for entry in entries:
            if "id_tag_info" in entry:
                self.entries[entry["id_tag"]] = entry["id_tag_info"]
            else:
                self.entries.pop(entry["id_tag"], None)
        self.list_version = list_version
        return result16.SendLocalList(status="Accepted")


@pytest.fixture
async def live(settings, db, fleet) -> AsyncIterator[Any]:
    """An ingress with its authorization tasks on (as ``run_ingress`` starts it)."""
    from csms.ingress.server import Ingress

    server = Ingress(dataclasses.replace(settings, ocpp_port=0), db=db, bus=LocalBus(), authorization_tasks=True)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def list_station(live: Any, charge_box_id: str, station: ListStation | None = None
                       ) -> AsyncIterator[ListStation]:
    """Connect ``station`` (a new ListStation by default) and keep it running; reused across reconnects."""
    from tests.csms.conftest import Wire, open_socket

    ws = await open_socket(live.port, charge_box_id)
    wire = Wire(ws)
    if station is None:
        station = ListStation(charge_box_id, wire, response_timeout=30)
    else:
        station._connection = wire  # noqa: SLF001  (the same charger, reconnected)
    task = asyncio.create_task(station.start())
    try:
        yield station
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await ws.close()


async def settled(live: Any, charge_box_id: str, predicate: Any) -> badges.SyncResult:
    assert live.authorization is not None
    return await live.authorization.wait_for(charge_box_id, predicate)


async def sync_row(db, tenant_id, charge_box_id) -> LocalListSync | None:
    async with db.session([tenant_id]) as session:
        states = {s.charge_box_id: s for s in await badges.list_sync_states(session, tenant_id)}
        return states.get(charge_box_id)  # type: ignore[return-value]


async def change(db, tenant_id, fn) -> None:
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        await fn(session)


async def by_tag(session, tenant_id, id_tag) -> Badge:
    return await session.scalar(select(Badge).where(Badge.tenant_id == tenant_id, Badge.id_tag == id_tag))


# --------------------------------------------------------------------------- authorization


async def test_authorize_and_start_answer_from_badges_as_they_change(fleet, db, ingress, stations):
    # CCTP CPAM 5-5-5-3 « Gestion d'accès à la charge par badge RFID »: known, unknown,
    # blocked, expired; blocking and expiring a badge takes effect at the next Authorize.
    async def create(session):
        await badges.create_badge(session, fleet.cpam, {"id_tag": "04a2b3c4", "kind": "vehicle",
                                                        "vehicle_label": "AB-123-CD"})

    await change(db, fleet.cpam, create)
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        async def status(tag: str) -> str:
            return (await cp.call(call.Authorize(id_tag=tag), suppress=False)).id_tag_info["status"]

        assert await status("04A2B3C4") == "Accepted"
        assert await status("04a2b3c4") == "Accepted"  # CiString: case-insensitive
        assert await status("FFFFFFFF") == "Invalid"  # unknown
        assert await status("BADGE-VLB") == "Invalid"  # another tenant's badge is unknown here

        async def block(session):
            badge = await by_tag(session, fleet.cpam, "04A2B3C4")
            await badges.update_badge(session, fleet.cpam, badge, {"status": "Blocked"})

        await change(db, fleet.cpam, block)
        assert await status("04A2B3C4") == "Blocked"
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="04A2B3C4", meter_start=0,
                                                      timestamp=stations.iso(utcnow())), suppress=False)
        assert started.id_tag_info["status"] == "Blocked"

        async def expire(session):
            badge = await by_tag(session, fleet.cpam, "04A2B3C4")
            await badges.update_badge(session, fleet.cpam, badge, {"status": "Accepted", "expires_at": "2025-06-30"})

        await change(db, fleet.cpam, expire)
        assert await status("04A2B3C4") == "Expired"


async def test_ocpp201_authorize_answers_from_badges(fleet, db, ingress, stations):
    async with stations.connect("CPAM-LM-201", version="2.0.1") as (cp, _wire):
        from ocpp.v201 import call as call201

        async def status(tag: str) -> str:
            answer = await cp.call(call201.Authorize(id_token={"id_token": tag, "type": "ISO14443"}), suppress=False)
            return answer.id_token_info["status"]

        assert await status("badge-ok") == "Accepted"
        assert await status("BADGE-BLOCKED") == "Blocked"
        assert await status("BADGE-OLD") == "Expired"
        assert await status("NOBODY") == "Unknown"  # 2.0.1 says Unknown where 1.6 says Invalid


# --------------------------------------------------------------------------- validation, tenant walls


@pytest.mark.parametrize("id_tag, message", [
    ("", "obligatoire"),
    ("AB CD", "sans espace"),
    ("X" * 37, "1 à 36 caractères"),
    ("BADGÉ", "ASCII"),
])
async def test_bad_id_tags_are_refused_in_french_and_nothing_is_written(fleet, db, id_tag, message):
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        before = await session.scalar(select(func.count()).select_from(Badge).where(Badge.tenant_id == fleet.cpam))
        version = await badges.list_version(session, fleet.cpam)
        with pytest.raises(ValidationFailed) as caught:
            await badges.create_badge(session, fleet.cpam, {"id_tag": id_tag})
        assert message in caught.value.errors["id_tag"]
        assert await session.scalar(select(func.count()).select_from(Badge).where(Badge.tenant_id == fleet.cpam)) == before
        assert await badges.list_version(session, fleet.cpam) == version


async def test_id_tags_are_unique_per_tenant_not_across_tenants(fleet, db):
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        with pytest.raises(ValidationFailed) as caught:
            await badges.create_badge(session, fleet.cpam, {"id_tag": "badge-ok"})
        assert caught.value.errors["id_tag"] == "Le badge BADGE-OK est déjà enregistré chez ce bénéficiaire."
    async with db.transaction([fleet.other], actor=ACTOR) as session:
        badge = await badges.create_badge(session, fleet.other, {"id_tag": "badge-ok"})  # the other tenant's own
        assert badge.id_tag == "BADGE-OK"


async def test_attachment_must_name_its_vehicle_site_or_agent_of_the_same_tenant(fleet, db):
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        with pytest.raises(ValidationFailed) as caught:
            await badges.create_badge(session, fleet.cpam, {"id_tag": "C0FFEE01", "kind": "vehicle"})
        assert "véhicule de service" in caught.value.errors["vehicle_label"]
        with pytest.raises(ValidationFailed) as caught:
            await badges.create_badge(session, fleet.cpam, {"id_tag": "C0FFEE01", "kind": "site",
                                                            "site_id": fleet.other_site})
        assert caught.value.errors["site_id"] == "Site inconnu chez ce bénéficiaire."
        badge = await badges.create_badge(session, fleet.cpam, {"id_tag": "C0FFEE01", "kind": "site",
                                                                "site_id": str(fleet.cpam_site)})
        assert badge.site_id == fleet.cpam_site
        with pytest.raises(NotFound):
            await badges.access_badge(session, fleet.cpam, uuid.uuid4())
    async with db.transaction([fleet.other], actor=ACTOR) as session:
        with pytest.raises(NotFound):
            await badges.access_badge(session, fleet.other, badge.id)  # another tenant's badge: 404


# --------------------------------------------------------------------------- local list


@pytest.mark.parametrize("backend", BOTH)
async def test_local_list_full_then_differential_with_versions_confirmed_per_station(fleet, db, live):
    async with db.session([fleet.cpam]) as session:
        version = await badges.list_version(session, fleet.cpam)
    assert version == 3  # one per badge of the fleet, whoever created them
    async with list_station(live, "CPAM-LM-01") as station:
        await station.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        result = await settled(live, "CPAM-LM-01", lambda r: r.status == "Accepted")
        assert (result.update_type, result.version) == ("Full", 3)
        update_type, list_version, entries = station.pushes[0]
        assert (update_type, list_version) == ("Full", 3)
        assert entries == [
            {"id_tag": "BADGE-BLOCKED", "id_tag_info": {"status": "Blocked"}},
            {"id_tag": "BADGE-OK", "id_tag_info": {"status": "Accepted"}},
            {"id_tag": "BADGE-OLD", "id_tag_info": {"status": "Accepted", "expiry_date": "2025-01-01T00:00:00Z"}},
        ]  # and nothing of Villeurbanne's (BADGE-VLB)
        assert (await sync_row(db, fleet.cpam, "CPAM-LM-01")).confirmed_version == 3

        # Three changes: a new badge, a blocked one, a deleted one; one notice on the bus.
        async def edit(session):
            await badges.create_badge(session, fleet.cpam, {"id_tag": "NEW-01", "expires_at": "2027-12-31"})
            await badges.update_badge(session, fleet.cpam, await by_tag(session, fleet.cpam, "BADGE-OK"),
                                      {"status": "Blocked"})
            await badges.delete_badge(session, fleet.cpam, await by_tag(session, fleet.cpam, "BADGE-OLD"))
            # Not in the list: a holder's name changes nothing for the stations.
            await badges.update_badge(session, fleet.cpam, await by_tag(session, fleet.cpam, "BADGE-BLOCKED"),
                                      {"holder_label": "Pool"})

        await change(db, fleet.cpam, edit)
        await badges.publish_badges_changed(live.bus, fleet.cpam)
        result = await settled(live, "CPAM-LM-01", lambda r: r.version == 6)
        assert (result.status, result.update_type) == ("Accepted", "Differential")
        assert station.pushes[-1] == ("Differential", 6, [
            {"id_tag": "BADGE-OK", "id_tag_info": {"status": "Blocked"}},
            {"id_tag": "NEW-01", "id_tag_info": {"status": "Accepted", "expiry_date": "2027-12-31T23:59:59Z"}},
            {"id_tag": "BADGE-OLD"},  # removal: no idTagInfo
        ])
        assert station.entries == {"BADGE-BLOCKED": {"status": "Blocked"}, "BADGE-OK": {"status": "Blocked"},
                                   "NEW-01": {"status": "Accepted", "expiry_date": "2027-12-31T23:59:59Z"}}
        row = await sync_row(db, fleet.cpam, "CPAM-LM-01")
        assert (row.confirmed_version, row.last_status) == (6, "Accepted")


async def test_a_refused_push_is_recorded_and_retried_when_the_station_reconnects(fleet, db, live):
    async with list_station(live, "CPAM-LM-01") as station:
        await settled(live, "CPAM-LM-01", lambda r: r.status == "Accepted")
        station.answer = "Failed"

        async def edit(session):
            await badges.create_badge(session, fleet.cpam, {"id_tag": "NEW-02"})

        await change(db, fleet.cpam, edit)
        await badges.publish_badges_changed(live.bus, fleet.cpam)
        result = await settled(live, "CPAM-LM-01", lambda r: r.status == "Failed")
        assert result.version == 4
        row = await sync_row(db, fleet.cpam, "CPAM-LM-01")
        assert (row.confirmed_version, row.last_status) == (3, "Failed")
        assert row.last_error == "Réponse de la borne : Failed."
    assert station is not None
    station.answer = "Accepted"
    async with list_station(live, "CPAM-LM-01", station):
        result = await settled(live, "CPAM-LM-01", lambda r: r.status == "Accepted" and r.version == 4)
        assert result.update_type == "Differential"  # it still holds version 3: only the change goes
        assert station.pushes[-1] == ("Differential", 4, [{"id_tag": "NEW-02", "id_tag_info": {"status": "Accepted"}}])
        assert (await sync_row(db, fleet.cpam, "CPAM-LM-01")).confirmed_version == 4


async def test_a_station_that_lost_its_list_gets_the_full_list_again(fleet, db, live):
    async with list_station(live, "CPAM-LM-01") as station:
        await settled(live, "CPAM-LM-01", lambda r: r.status == "Accepted")
    assert station is not None and len(station.pushes) == 1
    station.list_version, station.entries = 0, {}  # a factory reset
    async with list_station(live, "CPAM-LM-01", station):
        await settled(live, "CPAM-LM-01", lambda r: r.status == "Accepted" and len(station.pushes) == 2)
        assert station.pushes[-1][:2] == ("Full", 3)  # GetLocalListVersion said 0, not the 3 it confirmed
        assert set(station.entries) == {"BADGE-OK", "BADGE-BLOCKED", "BADGE-OLD"}
    # Reconnected again, up to date: it is asked its version and sent nothing.
    async with list_station(live, "CPAM-LM-01", station):
        result = await settled(live, "CPAM-LM-01", lambda r: r.status == "UpToDate")
        assert result.version == 3 and len(station.pushes) == 2


async def test_badge_edits_do_not_reach_another_tenants_stations(fleet, db, live):
    async with list_station(live, "VLB-01") as station:
        await settled(live, "VLB-01", lambda r: r.status == "Accepted")
        assert [e["id_tag"] for e in station.pushes[0][2]] == ["BADGE-VLB"]

        async def edit(session):
            await badges.create_badge(session, fleet.cpam, {"id_tag": "CPAM-ONLY"})

        await change(db, fleet.cpam, edit)
        await badges.publish_badges_changed(live.bus, fleet.cpam)
        await badges.publish_badges_changed(live.bus, fleet.other)  # a sync that finds nothing new
        result = await settled(live, "VLB-01", lambda r: r.status == "UpToDate")
        assert result.version == 1 and len(station.pushes) == 1


async def test_one_check_per_connection_a_boot_on_it_asks_nothing_more(fleet, db, live):
    # The check runs when the station connects (every boot follows a connection, and a
    # reconnection without reboot must be checked too); its BootNotification adds none.
    async with list_station(live, "CPAM-LM-01") as station:
        await settled(live, "CPAM-LM-01", lambda r: r.status == "Accepted")
        await station.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await live._events.join()  # noqa: SLF001  (the boot's event has reached the tasks)
        assert "CPAM-LM-01" not in live.authorization._running  # noqa: SLF001
        assert (station.version_asked, len(station.pushes)) == (1, 1)


async def test_a_boot_checks_again_when_the_connections_check_did_not_settle(fleet, db, live):
    async with list_station(live, "CPAM-LM-01") as station:
        station.answer = "Failed"  # e.g. a charger that takes no list before its boot is answered
        await settled(live, "CPAM-LM-01", lambda r: r.status == "Failed")
        station.answer = "Accepted"
        await station.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        result = await settled(live, "CPAM-LM-01", lambda r: r.status == "Accepted")
        assert (result.update_type, result.version) == ("Full", 3)
        assert station.version_asked == 2 and station.entries.keys() == {"BADGE-OK", "BADGE-BLOCKED", "BADGE-OLD"}


async def test_a_tenant_that_never_had_a_badge_costs_its_stations_no_call_and_no_write(fleet, db, live,
                                                                                       password_hash):
    from csms.domain import registry
    from csms.domain.models import CommandLog
    from tenants.models import Site, Tenant
    from tests.csms.conftest import PASSWORD

    tenant = uuid.uuid4()
    async with db.transaction([tenant], actor=ACTOR) as session:
        session.add(Tenant(id=tenant, name="Commune sans badge", siret="21720181000016", insee_code="72181",
                           city="Le Mans"))
        await session.flush()
        session.add(Site(tenant_id=tenant, name="Mairie", insee_code="72181", building_code="0003", city="Le Mans"))
        await session.flush()
        await registry.register_charger(session, tenant, {"charge_box_id": "NOBADGE-01", "points": 1,
                                                          "password": PASSWORD}, password_hash=password_hash)
    async with list_station(live, "NOBADGE-01") as station:
        await station.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        result = await settled(live, "NOBADGE-01", lambda r: r.status == "UpToDate")
        await live._events.join()  # noqa: SLF001
        assert result.version == 0 and (station.version_asked, station.pushes) == (0, [])
    async with db.session([tenant]) as session:
        assert await session.scalar(select(func.count()).select_from(LocalListSync)) == 0
        assert await session.scalar(select(func.count()).select_from(CommandLog)) == 0


# --------------------------------------------------------------------------- API and portal


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


async def test_badges_api_create_patch_block_delete_with_french_errors(client, demo, api_token):
    cpam, other = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["commune"]
    admin = await api_token("admin@cpam72.demo")
    base = f"/api/v1/tenants/{cpam}/badges"
    demo_tags = {b["id_tag"] for b in (await client.get(base, headers=admin)).json()}
    created = await client.post(base, headers=admin, json={"id_tag": "04a1b2c3", "kind": "vehicle",
                                                           "vehicle_label": "Kangoo EF-456-GH",
                                                           "expires_at": "2027-06-30"})
    assert created.status_code == 201, created.text
    badge = created.json()
    assert (badge["id_tag"], badge["status"], badge["effective_status"], badge["list_version"]) == \
        ("04A1B2C3", "Accepted", "Accepted", len(demo_tags) + 1)  # one version per badge so far
    assert badge["expires_at"].startswith("2027-06-30T23:59:59")
    # Bad input: 422 with one French message per field, nothing written.
    body = problem(await client.post(base, headers=admin, json={"id_tag": "04A1B2C3"}), 422)
    assert body["errors"] == {"id_tag": "Le badge 04A1B2C3 est déjà enregistré chez ce bénéficiaire."}
    body = problem(await client.post(base, headers=admin, json={"id_tag": "A B", "status": "Perdu",
                                                                "expires_at": "demain"}), 422)
    assert set(body["errors"]) == {"id_tag", "status", "expires_at"}
    assert body["errors"]["expires_at"] == "Date d'expiration invalide (AAAA-MM-JJ attendu)."
    problem(await client.post(base, headers=admin, json={"idTag": "X"}), 422)
    assert {b["id_tag"] for b in (await client.get(base, headers=admin)).json()} - demo_tags == {"04A1B2C3"}
    # Block, search, then delete (never used).
    url = f"{base}/{badge['id']}"
    blocked = await client.patch(url, headers=admin, json={"status": "Blocked"})
    assert blocked.json()["status"] == "Blocked" and blocked.json()["list_version"] == badge["list_version"] + 1
    assert [b["id_tag"] for b in (await client.get(base, headers=admin, params={"q": "kangoo"})).json()] == ["04A1B2C3"]
    assert "04A1B2C3" not in {b["id_tag"] for b in (await client.get(base, headers=admin, params={"status": "Accepted"})).json()}
    assert [b["id_tag"] for b in (await client.get(base, headers=admin, params={"status": "Blocked"})).json()] == ["04A1B2C3"]
    # Viewer reads, may not write; another tenant's id is a 404 both ways.
    viewer = await api_token("visu@cpam72.demo")
    assert (await client.get(url, headers=viewer)).status_code == 200
    problem(await client.patch(url, headers=viewer, json={"status": "Accepted"}), 403)
    # The titulaire's technician sets up the users' badges (CCTP CPAM 5-5-5-3: « Le Titulaire
    # devra effectuer le paramétrage des données nécessaires pour chaque Utilisateur »).
    operator = await api_token("technicien@titulaire.demo")
    unblocked = await client.patch(url, headers=operator, json={"status": "Accepted"})
    assert unblocked.status_code == 200 and unblocked.json()["status"] == "Accepted", unblocked.text
    problem(await client.get(f"/api/v1/tenants/{other}/badges/{badge['id']}", headers=admin), 404)
    assert (await client.delete(url, headers=admin)).status_code == 204
    problem(await client.get(url, headers=admin), 404)


async def test_badges_portal_pages(client, demo):
    from tests.conftest import form_post, login

    cpam = demo["tenant_ids"]["cpam"]
    await login(client, "admin@cpam72.demo")
    page = f"/t/{cpam}/badges/nouveau"
    bad = await form_post(client, page, page, {"id_tag": "", "kind": "agent"})
    assert bad.status_code == 422
    text = html.unescape(bad.text)
    assert "L'identifiant du badge (idTag) est obligatoire." in text
    assert "Choisissez l'agent qui détient le badge." in text
    done = await form_post(client, page, page, {"id_tag": "DEADBEEF", "status": "Accepted", "holder_label": "Pool Sarthe"})
    assert done.status_code == 303
    listing = await client.get(f"/t/{cpam}/badges")
    assert "Badge DEADBEEF enregistré" in listing.text and "Pool Sarthe" in listing.text
    assert re.search(r"version actuelle : <strong>\d+</strong>", listing.text)
    searched = await client.get(f"/t/{cpam}/badges", params={"q": "nobody"})
    assert "Aucun badge ne correspond à cette recherche." in searched.text
    # The viewer reads, without the management buttons.
    client.cookies.clear()
    await login(client, "visu@cpam72.demo")
    listing = await client.get(f"/t/{cpam}/badges")
    assert "DEADBEEF" in listing.text and "Bloquer" not in listing.text
    assert (await client.get(page)).status_code == 403


async def test_the_sweep_finds_only_stations_left_behind(fleet, db, live):
    # A change whose bus notice was lost: the sweep (every 60 s) finds the station behind, and only it.
    async with list_station(live, "CPAM-LM-01"), list_station(live, "VLB-01"):
        await settled(live, "CPAM-LM-01", lambda r: r.status == "Accepted")
        await settled(live, "VLB-01", lambda r: r.status == "Accepted")
        assert await live.authorization._behind() == []  # noqa: SLF001

        async def edit(session):
            await badges.create_badge(session, fleet.cpam, {"id_tag": "MISSED-01"})

        await change(db, fleet.cpam, edit)  # no publish_badges_changed
        assert await live.authorization._behind() == ["CPAM-LM-01"]  # noqa: SLF001


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_list_state_reads_of_many_stations_are_answered_together_each_from_its_tenant(db, fleet):
    """A boot storm: every connecting station's local-list state is read, batched per tenant
    (badges.ListStateReader); a station is never found under another tenant."""
    reader = badges.ListStateReader(db)
    asks = [(fleet.cpam, "CPAM-LM-01"), (fleet.cpam, "CPAM-LM-201"), (fleet.other, "VLB-01"),
            (fleet.other, "CPAM-LM-02"), (fleet.cpam, "NOPE"), (fleet.cpam, "CPAM-LM-01")]
    states = await asyncio.gather(*(reader.read(tenant, cbid) for tenant, cbid in asks))
    expected = [fleet.chargers["CPAM-LM-01"].charger_id, fleet.chargers["CPAM-LM-201"].charger_id,
                fleet.chargers["VLB-01"].charger_id, None, None, fleet.chargers["CPAM-LM-01"].charger_id]
    assert [state.charger_id if state else None for state in states] == expected
    # Both tenants have badges, so both have a list (version ≥ 1) that no station confirmed yet.
    assert all(state.version >= 1 and state.confirmed is None for state in states if state)
    assert not any(state.nothing_to_push() for state in states if state)
