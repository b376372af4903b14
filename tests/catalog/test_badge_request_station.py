"""An agent's badge request reaches the charging station (issue 14 §4, CCTP CPAM 5-5-5-3 « l'activation des
badges … sur les bornes »): requested, approved by the manager, shipped with its idTag, confirmed by the agent;
the activation's event, delivered by the outbox relay on the ingress's bus, has the station's local
authorization list updated over a real OCPP 1.6 socket (the ``ocpp`` library's ChargePoint), through csms's
service and nothing of its tables."""

from __future__ import annotations

import datetime as dt

from ocpp.v16 import call

from app.outbox import Relay
from catalog import badge_requests as br
from tenants import services as tenants
from tests.csms.conftest import fleet, password_hash  # noqa: F401  (fixtures)
from tests.csms.test_badges import ListStation, list_station, live, settled  # noqa: F401  (fixtures)

NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
ACTOR = {"user_id": None, "label": "test"}


async def test_an_activated_badge_reaches_the_stations_local_list(fleet, db, live, settings):  # noqa: F811
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        agent = (await tenants.add_member(session, fleet.cpam, {"email": "agent@cpam-bornes.demo", "role": "agent",
                                                                "password": "Agent-bornes-2026"})).user_id
        manager = (await tenants.add_member(session, fleet.cpam, {"email": "chef@cpam-bornes.demo",
                                                                  "role": "manager",
                                                                  "password": "Chef-bornes-2026"})).user_id
    async with list_station(live, "CPAM-LM-01") as station:
        await station.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        first = await settled(live, "CPAM-LM-01", lambda r: r.status == "Accepted")
        assert (first.update_type, first.version) == ("Full", 3) and "CPAM-RFID-0042" not in station.entries

        async with db.transaction([fleet.cpam], actor=ACTOR) as session:
            request = await br.request_badge(session, fleet.cpam, agent, {"plate": "AB-123-CD", "reason": "Domicile"},
                                             now=NOW)
        async with db.transaction([fleet.cpam], actor=ACTOR) as session:
            await br.approve_request(session, fleet.cpam, request.id, decided_by=manager, now=NOW)
            await br.ship_request(session, fleet.cpam, request.id, {"id_tag": "CPAM-RFID-0042"}, shipped_by=None,
                                  now=NOW)
        # Shipped, not yet received: the stations do not know the badge.
        assert "CPAM-RFID-0042" not in station.entries
        async with db.transaction([fleet.cpam], actor=ACTOR) as session:
            await br.activate_request(session, fleet.cpam, request.id, requested_by=agent, now=NOW)

        # The relay of the ingress's process (as `centrale serve` runs it) delivers the activation's event; its
        # subscriber announces the tenant's new list, which the ingress pushes as a differential update.
        delivered = await Relay(db, bus=live.bus, settings=settings, subscribers=br.SUBSCRIBERS).run_once()
        assert delivered.failed == 0
        pushed = await settled(live, "CPAM-LM-01", lambda r: r.version == 4)
        assert (pushed.status, pushed.update_type) == ("Accepted", "Differential")
        assert station.pushes[-1] == ("Differential", 4, [
            {"id_tag": "CPAM-RFID-0042", "id_tag_info": {"status": "Accepted"}}])
        assert station.entries["CPAM-RFID-0042"] == {"status": "Accepted"}
