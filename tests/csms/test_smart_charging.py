"""Load management over real sockets (CCTP CPAM article 4: stations « équipées d'un compteur
MID permettant une gestion dynamique de l'appel de courant afin de s'adapter en temps réel à
la puissance résiduelle disponible sur le site »; 5-5-4 « pilotage, paramétrage et
optimisation énergétique »).

Stations are the ``ocpp`` library's own ChargePoint; the tests assert the
SetChargingProfile frames they receive, what is recorded, and what the portal and
the API show.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from litestar.stores.memory import MemoryStore
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Station16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as Station201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from sqlalchemy import func, select

from app.bus import RedisBus
from app.db import Database
from csms.domain import registry, smart_charging
from csms.domain.load_sharing import phase_current
from csms.domain.models import SentChargingProfile, SitePowerBudget
from tenants.models import Site
from tests.conftest import csrf_from, login
from tests.csms.conftest import PASSWORD, Wire, iso, station

TEST = {"user_id": None, "label": "test"}
BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


class Profiled16(Station16):
    """A 1.6 station that answers SetChargingProfile with ``answer`` (Accepted unless told otherwise)."""

    answer = "Accepted"

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **kwargs: Any) -> Any:
        return result16.SetChargingProfile(status=self.answer)

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        return result16.ClearChargingProfile(status="Accepted")


class Profiled201(Station201):
    answer = "Accepted"

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **kwargs: Any) -> Any:
        return result201.SetChargingProfile(status=self.answer)

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        return result201.ClearChargingProfile(status="Accepted")


def profiled(port: int, charge_box_id: str, version: str = "1.6") -> Any:
    """A station that accepts charging profiles, connected, with its recorded wire."""
    return station(port, charge_box_id, version=version, cls=Profiled16 if version == "1.6" else Profiled201)


def calls(wire: Wire, action: str = "SetChargingProfile") -> list[dict[str, Any]]:
    return [frame[3] for frame in wire.received if frame[0] == 2 and frame[2] == action]


def limits(wire: Wire) -> list[float]:
    return [p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] for p in calls(wire)]


def amps(kw: float, phases: int = 3) -> float:
    return phase_current(kw * 1000, phases)


@dataclasses.dataclass
class Parking:
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    ids: tuple[str, ...] = ("PARK-A", "PARK-B", "PARK-C")


async def make_parking(db: Database, tenant_id: uuid.UUID, password_hash: str,
                       ids: tuple[str, ...] = Parking.ids) -> Parking:
    """A site « Parking agents » with 22 kW single-point chargers, and a badge per charger
    (``BADGE-<charge_box_id>``: a badge runs one session at a time, ConcurrentTx otherwise)."""
    site_id = uuid.uuid4()
    async with db.transaction([tenant_id], actor=TEST) as session:
        session.add(Site(tenant_id=tenant_id, id=site_id, name="Parking agents", insee_code="72181",
                         building_code="0002", city="Le Mans"))
    for charge_box_id in ids:
        async with db.transaction([tenant_id], actor=TEST) as session:
            await registry.register_charger(session, tenant_id, {
                "charge_box_id": charge_box_id, "password": PASSWORD, "site": str(site_id), "points": 1,
                "power_kw": 22, "socket_types": "T2"}, password_hash=password_hash)
            await registry.create_badge(session, tenant_id, {"id_tag": f"BADGE-{charge_box_id}",
                                                             "holder_label": charge_box_id})
    return Parking(tenant_id, site_id, ids)


@pytest.fixture
async def parking(db: Database, fleet: Any, password_hash: str) -> Parking:
    """A second CPAM site with three 22 kW chargers, PARK-A, PARK-B and PARK-C."""
    return await make_parking(db, fleet.cpam, password_hash)


async def set_budget(db: Database, tenant_id: uuid.UUID, site_id: uuid.UUID, kw: float, **extra: Any) -> None:
    async with db.transaction([tenant_id], actor=TEST) as session:
        await smart_charging.set_power_budget(session, tenant_id, site_id, {"budget_kw": kw, **extra})


async def start(cp: Any, minute: int) -> int:
    result = await cp.call(call16.StartTransaction(connector_id=1, id_tag=f"BADGE-{cp.id}", meter_start=1000,
                                                   timestamp=iso(NOW + dt.timedelta(minutes=minute))))
    assert result.id_tag_info["status"] == "Accepted"
    return result.transaction_id


async def stop(cp: Any, transaction_id: int, minute: int) -> None:
    await cp.call(call16.StopTransaction(meter_stop=9000, timestamp=iso(NOW + dt.timedelta(minutes=minute)),
                                         transaction_id=transaction_id, reason="EVDisconnected"))


async def last_profiles(db: Database, tenant_id: uuid.UUID, site_id: uuid.UUID) -> dict[str, SentChargingProfile | None]:
    async with db.session([tenant_id]) as session:
        load = await smart_charging.site_load(session, tenant_id, site_id)
    return {s.charge_box_id: s.last for s in load.sessions}


# --------------------------------------------------------------------------- the scenario


async def test_load_sharing_across_three_transactions(ingress, db, parking):
    """33 kW for three 22 kW points: 22, then 16.5 each, then 11 each; a stop gives the others
    more; a new budget gives everyone a new profile."""
    await set_budget(db, parking.tenant_id, parking.site_id, 33)
    async with profiled(ingress.port, "PARK-A") as (a, wire_a), profiled(ingress.port, "PARK-B") as (b, wire_b), \
            profiled(ingress.port, "PARK-C") as (c, wire_c):
        tx_a = await start(a, 0)
        await ingress.load_manager.idle()
        # Alone on the site: the point's own 22 kW (the budget is larger), 31.8 A on three phases.
        assert calls(wire_a) == [{
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": tx_a, "transactionId": tx_a, "stackLevel": 1,
                "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
                "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 31.8, "numberPhases": 3}]},
            },
        }]

        await start(b, 1)
        await ingress.load_manager.idle()
        assert limits(wire_a) == [31.8, amps(16.5)] and limits(wire_b) == [amps(16.5)]

        tx_c = await start(c, 2)
        await ingress.load_manager.idle()
        assert limits(wire_a)[-1] == limits(wire_b)[-1] == limits(wire_c)[-1] == amps(11) == 15.9
        assert (len(calls(wire_a)), len(calls(wire_b)), len(calls(wire_c))) == (3, 2, 1)

        await stop(c, tx_c, 30)
        await ingress.load_manager.idle()
        assert limits(wire_a)[-1] == limits(wire_b)[-1] == amps(16.5) == 23.9
        assert len(calls(wire_c)) == 1  # a finished transaction gets nothing more

        await set_budget(db, parking.tenant_id, parking.site_id, 18)
        await smart_charging.recompute_site(db, ingress.bus, parking.tenant_id, parking.site_id)
        assert limits(wire_a)[-1] == limits(wire_b)[-1] == amps(9) == 13.0
        assert (len(calls(wire_a)), len(calls(wire_b)), len(calls(wire_c))) == (5, 4, 1)

        # Nothing changed: recomputing again sends nothing (the stations hold their limit).
        result = await smart_charging.recompute_site(db, ingress.bus, parking.tenant_id, parking.site_id)
        assert result.sent == [] and result.unchanged == 2

    last = await last_profiles(db, parking.tenant_id, parking.site_id)
    assert {k: (p.outcome, p.limit_a, p.phases, p.limit_w) for k, p in last.items() if p} == {
        "PARK-A": ("Accepted", 13.0, 3, 9000.0), "PARK-B": ("Accepted", 13.0, 3, 9000.0)}


@pytest.mark.parametrize("backend", BOTH)
async def test_concurrent_starts_on_one_site_end_with_the_fair_share(ingress, db, parking):
    """Three starts at once: recomputations of the site are serialized (and coalesced), the last
    profile of each station is the three-way share and the sum never exceeds the budget."""
    await set_budget(db, parking.tenant_id, parking.site_id, 30)
    async with profiled(ingress.port, "PARK-A") as (a, wire_a), profiled(ingress.port, "PARK-B") as (b, wire_b), \
            profiled(ingress.port, "PARK-C") as (c, wire_c):
        await asyncio.gather(start(a, 0), start(b, 0), start(c, 0))
        await ingress.load_manager.idle()
        assert limits(wire_a)[-1] == limits(wire_b)[-1] == limits(wire_c)[-1] == amps(10) == 14.4
    last = await last_profiles(db, parking.tenant_id, parking.site_id)
    assert [p.outcome for p in last.values() if p] == ["Accepted"] * 3
    assert sum(p.limit_w for p in last.values() if p) <= 30_000


async def test_when_the_minimums_do_not_fit_the_latest_session_is_paused_at_0_amps(ingress, db, parking):
    """5 kW cannot give two three-phase sessions 6 A each (4.14 kW): the first keeps charging, the second
    is paused (limit 0) until the first stops."""
    await set_budget(db, parking.tenant_id, parking.site_id, 5)
    async with profiled(ingress.port, "PARK-A") as (a, wire_a), profiled(ingress.port, "PARK-B") as (b, wire_b):
        tx_a = await start(a, 0)
        await start(b, 1)
        await ingress.load_manager.idle()
        assert limits(wire_a) == [amps(5)] == [7.2] and limits(wire_b) == [0.0]
        await stop(a, tx_a, 20)
        await ingress.load_manager.idle()
        assert limits(wire_b) == [0.0, 7.2]


async def test_a_site_without_budget_gets_no_profiles(ingress, db, parking):
    async with profiled(ingress.port, "PARK-A") as (a, wire_a), profiled(ingress.port, "PARK-B") as (b, wire_b):
        await start(a, 0)
        await start(b, 1)
        await ingress.load_manager.idle()
        assert calls(wire_a) == calls(wire_b) == []
    async with db.session([parking.tenant_id]) as session:
        assert await session.scalar(select(func.count()).select_from(SentChargingProfile)) == 0


async def test_a_refusing_or_offline_station_does_not_stop_the_others_and_is_retried(ingress, db, parking):
    await set_budget(db, parking.tenant_id, parking.site_id, 33)
    async with profiled(ingress.port, "PARK-A") as (a, wire_a), profiled(ingress.port, "PARK-B") as (b, wire_b):
        b.answer = "Rejected"
        await start(a, 0)
        await start(b, 1)
        async with profiled(ingress.port, "PARK-C") as (c, _wire_c):
            await start(c, 2)
            await ingress.load_manager.idle()
        # PARK-C is gone (its transaction still runs): the next profile cannot reach it.
        await ingress.events.wait("station.disconnected", lambda p: p["charge_box_id"] == "PARK-C")
        await set_budget(db, parking.tenant_id, parking.site_id, 30)
        await ingress.load_manager.request(parking.tenant_id, parking.site_id)
        last = await last_profiles(db, parking.tenant_id, parking.site_id)
        assert {k: (p.outcome, p.limit_a) for k, p in last.items() if p} == {
            "PARK-A": ("Accepted", 14.4), "PARK-B": ("Rejected", 14.4), "PARK-C": ("offline", 14.4)}
        assert last["PARK-C"].detail == "Borne hors ligne : nouvel essai au prochain recalcul."
        assert last["PARK-B"].detail == "Profil non appliqué : Rejected."
        sent_to_a, sent_to_b = len(calls(wire_a)), len(calls(wire_b))

        # PARK-C comes back: its site is recomputed at once; the refused profile is sent again
        # too (same limit), and PARK-A, which holds its limit, gets nothing.
        b.answer = "Accepted"
        async with profiled(ingress.port, "PARK-C") as (_c, wire_c):
            await ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == "PARK-C", count=2)
            await ingress.load_manager.idle()
            assert limits(wire_c) == [14.4]
        assert len(calls(wire_b)) == sent_to_b + 1 and limits(wire_b)[-1] == 14.4
        assert len(calls(wire_a)) == sent_to_a
        last = await last_profiles(db, parking.tenant_id, parking.site_id)
        assert {k: p.outcome for k, p in last.items() if p} == dict.fromkeys(("PARK-A", "PARK-B", "PARK-C"), "Accepted")


async def test_a_charger_retired_with_a_transaction_open_gives_its_share_back(ingress, db, parking):
    """A charger decommissioned while its last transaction is still open (never stopped on the wire)
    draws nothing: the site's budget goes to the chargers still in service."""
    await set_budget(db, parking.tenant_id, parking.site_id, 33)
    async with profiled(ingress.port, "PARK-A") as (a, wire_a), profiled(ingress.port, "PARK-B") as (b, _wire_b):
        await start(a, 0)
        await start(b, 1)
        await ingress.load_manager.idle()
        assert limits(wire_a)[-1] == amps(16.5)
    async with db.transaction([parking.tenant_id], actor=TEST) as session:
        charger = await registry.find_charger_in_tenant(session, parking.tenant_id, "PARK-B")
        await registry.decommission_charger(session, parking.tenant_id, charger, "Borne déposée")
    async with profiled(ingress.port, "PARK-A") as (_a, wire_a):
        await ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == "PARK-A", count=2)
        await ingress.load_manager.idle()
        await smart_charging.recompute_site(db, ingress.bus, parking.tenant_id, parking.site_id)
        assert limits(wire_a)[-1] == amps(22)  # alone on the site: its point's own 22 kW
    assert set(await last_profiles(db, parking.tenant_id, parking.site_id)) == {"PARK-A"}


async def test_a_budget_change_made_outside_the_ingress_reaches_an_offline_station_when_it_reconnects(
        ingress, db, parking):
    """A budget changed in a web process is recomputed there: a station offline at that moment gets
    its profile as soon as it reconnects to the ingress, not only at the site's next start or stop."""
    await set_budget(db, parking.tenant_id, parking.site_id, 44)
    async with profiled(ingress.port, "PARK-A") as (a, _wire_a):
        await start(a, 0)
        async with profiled(ingress.port, "PARK-B") as (b, _wire_b):
            await start(b, 1)
            await ingress.load_manager.idle()
        await ingress.events.wait("station.disconnected", lambda p: p["charge_box_id"] == "PARK-B")
        await set_budget(db, parking.tenant_id, parking.site_id, 30)
        # What the portal's or the API's background task runs, on the web process's own bus client.
        result = await smart_charging.recompute_site(db, ingress.bus, parking.tenant_id, parking.site_id)
        assert {row.outcome for row in result.sent} == {"Accepted", "offline"}
        async with profiled(ingress.port, "PARK-B") as (_b, wire_b):
            await ingress.events.wait("station.connected", lambda p: p["charge_box_id"] == "PARK-B", count=2)
            await ingress.load_manager.idle()
            assert limits(wire_b) == [amps(15)]
        last = await last_profiles(db, parking.tenant_id, parking.site_id)
        assert {k: (p.outcome, p.limit_a) for k, p in last.items() if p} == {
            "PARK-A": ("Accepted", amps(15)), "PARK-B": ("Accepted", amps(15))}


async def test_ocpp201_station_gets_the_201_profile_and_a_removed_budget_lifts_it(ingress, db, fleet):
    site = fleet.cpam_site  # CPAM-LM-201: two 11 kW EVSEs
    await set_budget(db, fleet.cpam, site, 10)
    async with profiled(ingress.port, "CPAM-LM-201", "2.0.1") as (cp, wire):
        await cp.call(call201.TransactionEvent(
            event_type="Started", timestamp=iso(NOW), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "TX-201-PILOT", "charging_state": "Charging"},
            evse={"id": 2, "connector_id": 1}, id_token={"id_token": "BADGE-OK", "type": "ISO14443"}))
        await ingress.load_manager.idle()
        [payload] = calls(wire)
        profile_id = payload["chargingProfile"]["id"]
        assert payload == {"evseId": 2, "chargingProfile": {
            "id": profile_id, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "transactionId": "TX-201-PILOT",
            "chargingSchedule": [{"id": profile_id, "chargingRateUnit": "A", "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": amps(10), "numberPhases": 3}]}]}}

        async with db.transaction([fleet.cpam], actor=TEST) as session:
            assert await smart_charging.remove_power_budget(session, fleet.cpam, site)
        await smart_charging.recompute_site(db, ingress.bus, fleet.cpam, site)
        assert calls(wire, "ClearChargingProfile") == [{"chargingProfileId": profile_id}]
        last = await last_profiles(db, fleet.cpam, site)
        assert last["CPAM-LM-201"].outcome == "cleared"
        # Lifted once: a later recomputation of the unmanaged site sends nothing more.
        await smart_charging.recompute_site(db, ingress.bus, fleet.cpam, site)
        assert len(calls(wire, "ClearChargingProfile")) == 1 and len(calls(wire)) == 1


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"budget_kw": -5}, "budget_kw", "La puissance disponible doit être strictement positive (en kW)."),
    ({"budget_kw": 0}, "budget_kw", "La puissance disponible doit être strictement positive (en kW)."),
    ({}, "budget_kw", "La puissance disponible pour la recharge est obligatoire (en kW)."),
    ({"budget_kw": "beaucoup"}, "budget_kw", "Puissance disponible : nombre attendu (par exemple 36 ou 36,5)."),
    ({"budget_kw": "nan"}, "budget_kw", "Puissance disponible : nombre attendu."),
    ({"budget_kw": 20000}, "budget_kw", "La puissance disponible ne peut dépasser 10\u202f000 kW."),
    ({"budget_kw": 36.55}, "budget_kw", "La puissance disponible s'exprime en kW avec au plus une décimale."),
    ({"budget_kw": 36, "min_current_a": 5}, "min_current_a",
     "Le courant minimal par recharge est compris entre 6 A (norme IEC 61851-1) et 63 A."),
    ({"budget_kw": 36, "phases": 2}, "phases", "Raccordement du site : 1 (monophasé) ou 3 (triphasé)."),
])
def test_bad_budgets_are_refused_in_french(data, field, message):
    with pytest.raises(smart_charging.ValidationFailed) as caught:
        smart_charging.validate_budget(data)
    assert caught.value.errors == {field: message}


def test_a_budget_form_accepts_french_decimals():
    assert smart_charging.validate_budget({"budget_kw": "36,5", "min_current_a": "8", "phases": "1"}) == {
        "budget_kw": 36.5, "min_current_a": 8.0, "phases": 1}


# --------------------------------------------------------------------------- API and portal


@pytest.fixture
async def redis_ingress(settings, db, redis_url) -> AsyncIterator[Any]:
    """The scaled path: the ingress and the web app share nothing but Redis and the database."""
    from csms.ingress.server import Ingress
    from tests.csms.conftest import Events

    namespace = f"centrale-test-{uuid.uuid4().hex[:8]}"
    scaled = dataclasses.replace(settings, ocpp_port=0, redis_url=redis_url, redis_namespace=namespace)
    bus = RedisBus(redis_url, namespace=namespace)
    events = Events()
    await bus.subscribe("station.disconnected", events.handler)
    server = Ingress(scaled, db=db, bus=bus)
    server.events = events  # type: ignore[attr-defined]
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        await bus.close()


@pytest.fixture
async def web(redis_ingress, settings) -> AsyncIterator[httpx.AsyncClient]:
    """A web process of its own (uvicorn on a real socket), reaching the ingress only through Redis,
    and a worker's outbox relay (the budget's event recomputes the site there)."""
    from app.composition import subscribers as component_subscribers
    from app.outbox import Relay
    from app.web import create_app

    worker_bus = RedisBus(redis_ingress.settings.redis_url, namespace=redis_ingress.settings.redis_namespace)
    relay = Relay(redis_ingress.db, bus=worker_bus, subscribers=component_subscribers())
    await relay.start()
    app = create_app(redis_ingress.settings, db=Database(settings.database_url, pool_size=2),
                     stores={"sessions": MemoryStore(), "throttle": MemoryStore()})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the web server did not start"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task
        await relay.stop()
        await worker_bus.close()


async def until(condition: Any, within: float = 20) -> None:
    """Wait for what happens after an answer (the push runs once the response is sent)."""
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), within)


async def demo_site(db: Database, demo: dict[str, Any], key: str = "cpam") -> tuple[uuid.UUID, uuid.UUID]:
    tenant_id = uuid.UUID(demo["tenant_ids"][key])
    async with db.session([tenant_id]) as session:
        site_id = await session.scalar(select(Site.id).where(Site.tenant_id == tenant_id).order_by(Site.name).limit(1))
    assert site_id is not None
    # The demo gives the CPAM site a budget: these tests start from a site without one.
    async with db.transaction([tenant_id], actor=TEST) as session:
        await smart_charging.remove_power_budget(session, tenant_id, site_id)
    return tenant_id, site_id


async def test_budget_put_through_the_api_reaches_the_stations(redis_ingress, web, db, demo, api_token,
                                                               password_hash):
    """PUT /power-budget in a web process: the profiles go out over Redis to the ingress holding the sockets."""
    parking = await make_parking(db, uuid.UUID(demo["tenant_ids"]["cpam"]), password_hash, ("API-A", "API-B"))
    async with db.transaction([parking.tenant_id], actor=TEST) as session:
        await registry.create_badge(session, parking.tenant_id, {"id_tag": "BADGE-OK", "holder_label": "Parc auto"})
    headers = await api_token("admin@cpam72.demo")
    url = f"/api/v1/tenants/{parking.tenant_id}/sites/{parking.site_id}/power-budget"

    async def shown() -> list[tuple[Any, ...]]:
        body = (await web.get(url, headers=headers)).json()
        return [(t["charge_box_id"], *(t["last_profile"] or {}).values()) for t in body["transactions"]]

    async with profiled(redis_ingress.port, "API-A") as (a, wire_a), \
            profiled(redis_ingress.port, "API-B") as (b, wire_b):
        await start(a, 0)
        await start(b, 1)
        await redis_ingress.load_manager.idle()
        assert calls(wire_a) == calls(wire_b) == []  # not managed yet

        response = await web.put(url, json={"budget_kw": 14, "phases": 3}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["budget_kw"], body["min_current_a"], body["phases"], body["allocated_kw"]) == (14.0, 6.0, 3, 14.0)
        assert [(t["charge_box_id"], t["allocated_kw"], t["limit_a"]) for t in body["transactions"]] == [
            ("API-A", 7.0, 10.1), ("API-B", 7.0, 10.1)]

        async def recorded() -> bool:
            return all(len(row) > 1 for row in await shown())

        await until(recorded)
        assert limits(wire_a) == limits(wire_b) == [10.1]
        body = (await web.get(url, headers=headers)).json()
        assert [(t["last_profile"]["outcome"], t["last_profile"]["applied"], t["last_profile"]["limit_a"])
                for t in body["transactions"]] == [("Accepted", True, 10.1)] * 2

        response = await web.delete(url, headers=headers)
        assert response.status_code == 204

        async def cleared() -> bool:
            return all(row[5] == "cleared" for row in await shown() if len(row) > 5)

        await until(cleared)
        assert calls(wire_a, "ClearChargingProfile") == calls(wire_b, "ClearChargingProfile") == [{"id": 1}]
        assert (await web.get(url, headers=headers)).json()["budget_kw"] is None


async def test_api_refuses_bad_budgets_in_french_and_writes_nothing(client, db, demo, api_token):
    tenant_id, site_id = await demo_site(db, demo)
    url = f"/api/v1/tenants/{tenant_id}/sites/{site_id}/power-budget"
    headers = await api_token("admin@cpam72.demo")
    for body, errors in [
        ({"budget_kw": -3}, {"budget_kw": "La puissance disponible doit être strictement positive (en kW)."}),
        ({"budget_kw": 30, "phases": 2}, {"phases": "Raccordement du site : 1 (monophasé) ou 3 (triphasé)."}),
        ({"budget_kw": "trente"}, {"budget_kw": "Valeur invalide (nombre attendu)."}),
        ({"budget_kw": 30, "puissance": 2}, {"puissance": "Champ inconnu."}),
    ]:
        response = await client.put(url, json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"] == errors
    async with db.session([tenant_id]) as session:
        assert await session.scalar(select(func.count()).select_from(SitePowerBudget)) == 0
    viewer = await api_token("visu@cpam72.demo")
    assert (await client.put(url, json={"budget_kw": 30}, headers=viewer)).status_code == 403
    assert (await client.get(url, headers=viewer)).json()["budget_kw"] is None


async def test_tenant_walls(client, db, demo, api_token):
    """Another tenant's site is a 404, through the API and the portal, and nothing is written."""
    own, _ = await demo_site(db, demo)
    other_tenant, other_site = await demo_site(db, demo, "commune")
    await set_budget(db, other_tenant, other_site, 50)
    headers = await api_token("admin@cpam72.demo")
    for tenant in (own, other_tenant):
        url = f"/api/v1/tenants/{tenant}/sites/{other_site}/power-budget"
        assert (await client.get(url, headers=headers)).status_code == 404
        assert (await client.put(url, json={"budget_kw": 1}, headers=headers)).status_code == 404
        assert (await client.delete(url, headers=headers)).status_code == 404
    await login(client, "admin@cpam72.demo")
    page = await client.get(f"/t/{own}/pilotage")
    assert page.status_code == 200 and str(other_site) not in page.text
    assert (await client.get(f"/t/{other_tenant}/pilotage")).status_code == 404
    token = csrf_from(page.text)
    response = await client.post(f"/t/{own}/pilotage/{other_site}", data={"_csrf_token": token, "budget_kw": "1"})
    assert response.status_code == 404
    async with db.session([other_tenant]) as session:
        budget = await session.scalar(select(SitePowerBudget))
        assert budget is not None and budget.budget_kw == 50


async def test_portal_page_edits_the_budget_and_shows_errors(client, db, demo):
    tenant_id, site_id = await demo_site(db, demo)
    await login(client, "admin@cpam72.demo")
    page = await client.get(f"/t/{tenant_id}/pilotage")
    assert page.status_code == 200
    assert "Pilotage énergétique" in page.text and "Site non piloté" in page.text
    token = csrf_from(page.text)

    bad = await client.post(f"/t/{tenant_id}/pilotage/{site_id}",
                            data={"_csrf_token": token, "budget_kw": "-2", "min_current_a": "6", "phases": "3"})
    assert bad.status_code == 422
    assert "La puissance disponible doit être strictement positive (en kW)." in bad.text
    assert 'aria-invalid="true"' in bad.text and 'value="-2"' in bad.text

    saved = await client.post(f"/t/{tenant_id}/pilotage/{site_id}",
                              data={"_csrf_token": token, "budget_kw": "36,5", "min_current_a": "6", "phases": "3"},
                              follow_redirects=False)
    assert saved.status_code == 303
    page = await client.get(f"/t/{tenant_id}/pilotage")
    assert "Puissance disponible enregistrée : 36,5 kW." in page.text
    assert "<strong>36,5 kW</strong>" in page.text
    # The live refresh (HTMX polling) gets the table block only, not the page or the forms.
    block = await client.get(f"/t/{tenant_id}/pilotage", headers={"HX-Request": "true"})
    assert block.text.lstrip().startswith('<div id="pilotage"') and "<strong>36,5 kW</strong>" in block.text
    assert "<form" not in block.text and "<h1>" not in block.text
    async with db.session([tenant_id]) as session:
        budget = await session.scalar(select(SitePowerBudget).where(SitePowerBudget.site_id == site_id))
        assert budget is not None and (budget.budget_kw, budget.min_current_a, budget.phases) == (36.5, 6.0, 3)

    # Without CSRF nothing is accepted.
    refused = await client.post(f"/t/{tenant_id}/pilotage/{site_id}", data={"budget_kw": "10"})
    assert refused.status_code == 403


async def test_a_viewer_sees_the_page_without_the_form(client, db, demo):
    tenant_id, site_id = await demo_site(db, demo)
    await set_budget(db, tenant_id, site_id, 22)
    await login(client, "visu@cpam72.demo")
    page = await client.get(f"/t/{tenant_id}/pilotage")
    assert page.status_code == 200 and "<strong>22,0 kW</strong>" in page.text
    assert f'action="/t/{tenant_id}/pilotage/{site_id}"' not in page.text
    token = csrf_from(page.text)  # the logout form's
    refused = await client.post(f"/t/{tenant_id}/pilotage/{site_id}", data={"_csrf_token": token, "budget_kw": "5"})
    assert refused.status_code == 403
