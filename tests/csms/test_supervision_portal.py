"""Supervision pages of the tenant portal (CCTP CPAM 5-5, 5-5-4, 5-5-5), read as a browser would.

Traffic comes from the ``ocpp`` library's ChargePoint over a real socket against a
live ingress; the portal is the real application on the same database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from ocpp.v16 import call
from ocpp.v16.enums import ChargePointStatus
from ocpp.v201 import call as call201
from ocpp.v201.enums import ConnectorStatusEnumType

from app.db import utcnow
from csms.domain import stats
from csms.domain.models import Alert, Transaction
from csms.domain.states import STATE_LABELS, point_state
from tenants import services
from tests.conftest import login

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
PASSWORD = "Mot-de-passe-portail-2026"
ADMIN, VIEWER, AGENT, OTHER = "admin@cpam-sarthe.fr", "visu@cpam-sarthe.fr", "agent@cpam-sarthe.fr", "admin@villeurbanne.fr"


def text_of(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&nbsp;", " ")


def ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
async def people(db, fleet):
    for tenant_id, email, role in ((fleet.cpam, ADMIN, "admin"), (fleet.cpam, VIEWER, "viewer"),
                                   (fleet.cpam, AGENT, "agent"), (fleet.other, OTHER, "admin")):
        async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
            await services.add_member(session, tenant_id, {"email": email, "role": role, "password": PASSWORD})
    return fleet


async def signed_in(client, email: str) -> None:
    client.cookies.clear()
    response = await login(client, email, PASSWORD)
    assert response.status_code in (302, 303), response.text[:300]


def row_of(html: str, row_id: str) -> str:
    match = re.search(rf'<tr[^>]*id="{re.escape(row_id)}".*?</tr>', html, flags=re.S)
    assert match, f"no row {row_id}"
    return text_of(match.group(0))


# --------------------------------------------------------------------------- states


def test_every_ocpp_status_maps_to_one_cctp_state():
    """CCTP article 4 « Disponible, En Charge, Hors Service »; 5-5-4 « disponible, occupé, en défaut »."""
    expected = {
        "Available": "Disponible", "Preparing": "En charge", "Charging": "En charge", "SuspendedEVSE": "En charge",
        "SuspendedEV": "En charge", "Finishing": "En charge", "Reserved": "En charge", "Unavailable": "Hors service",
        "Faulted": "Hors service", "Occupied": "En charge",
    }
    statuses = {s.value for s in ChargePointStatus} | {s.value for s in ConnectorStatusEnumType}
    assert statuses == set(expected)
    for status in statuses:
        assert STATE_LABELS[point_state(status, online=True)] == expected[status], status
        assert STATE_LABELS[point_state(status, online=False)] == "Hors ligne"
        # A whole charger faulted or unavailable (connector 0) takes its points out of service.
        assert STATE_LABELS[point_state(status, "Faulted", online=True)] == "Hors service"
    assert STATE_LABELS[point_state("", online=True)] == "Hors service"  # never reported: not known to work


async def test_station_list_shows_cctp_states_and_its_live_fragment_follows_the_stations(
    client, people, ingress, stations
):
    fleet = people
    base = f"/t/{fleet.cpam}/bornes"
    lm01 = fleet.chargers["CPAM-LM-01"]
    await signed_in(client, ADMIN)
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        await cp.call(call.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted"))
        async with stations.connect("CPAM-LM-201", version="2.0.1") as (cp201, _w):
            await cp201.call(call201.StatusNotification(timestamp=ts(utcnow()), connector_status="Available",
                                                        evse_id=1, connector_id=1))
            page = await client.get(base)
            assert page.status_code == 200
            html = page.text
            assert "En charge" in row_of(html, f"point-{lm01.points[0]}")
            assert "recharge en cours" in row_of(html, f"point-{lm01.points[0]}")
            assert "Hors service" in row_of(html, f"point-{lm01.points[1]}")
            assert "défaut de terre" in row_of(html, f"point-{lm01.points[1]}")
            assert "Disponible" in row_of(html, f"point-{fleet.chargers['CPAM-LM-201'].points[0]}")
            # Never connected: Hors ligne, charger and point.
            assert "Hors ligne" in row_of(html, "borne-CPAM-LM-02")
            assert "jamais connectée" in row_of(html, "borne-CPAM-LM-02")
            assert "Hors ligne" in row_of(html, f"point-{fleet.chargers['CPAM-LM-02'].points[0]}")
            assert "En charge" in row_of(html, "borne-CPAM-LM-01")
            text = text_of(html)
            assert "Siège — parking" in text and "Enregistrer une borne" in text and "Importer un parc" in text
            assert f'href="{base}/nouvelle"' in html and f'href="{base}/import"' in html
            # Live updates: the results block polls itself, and a plain link refreshes without JavaScript.
            assert 'hx-trigger="every 5s"' in html and f'href="{base}"' in html
            assert "VLB-01" not in html  # the other tenant's charger

            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
            fragment = await client.get(base, headers={"HX-Request": "true"})
            assert fragment.status_code == 200
            assert "<html" not in fragment.text and fragment.text.lstrip().startswith('<div id="resultats"')
            assert "Disponible" in row_of(fragment.text, f"point-{lm01.points[0]}")

            only_faulted = await client.get(f"{base}?etat=hors_service", headers={"HX-Request": "true"})
            assert f"point-{lm01.points[1]}" in only_faulted.text
            assert f"point-{lm01.points[0]}" not in only_faulted.text
            assert 'hx-get="/t/' in only_faulted.text and "etat=hors_service" in only_faulted.text
    # Socket closed: the charger and its points are Hors ligne, and the cut is counted.
    for _ in range(200):  # the test client blocks this loop while it runs a request: let the ingress work
        await asyncio.sleep(0.05)
        html = (await client.get(base)).text
        if "Hors ligne" in row_of(html, "borne-CPAM-LM-01"):
            break
    assert "Hors ligne" in row_of(html, f"point-{lm01.points[0]}")
    assert row_of(html, "borne-CPAM-LM-01").split()[-1] == "1"  # one communication cut


async def test_station_detail_shows_identity_boot_data_history_and_connections(client, people, ingress, stations):
    fleet = people
    await signed_in(client, VIEWER)
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        await cp.call(call.BootNotification(charge_point_vendor="Schneider", charge_point_model="EVlink Pro AC",
                                            firmware_version="3.4.0.12", charge_point_serial_number="EVB1A22P4KI3N"))
        await cp.call(call.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted"))
        page = await client.get(f"/t/{fleet.cpam}/bornes/CPAM-LM-01")
    assert page.status_code == 200
    text = text_of(page.text)
    lm01 = fleet.chargers["CPAM-LM-01"]
    for expected in (lm01.canonical_id, lm01.station_canonical_id, *lm01.points, "Schneider", "EVlink Pro AC",
                     "3.4.0.12", "EVB1A22P4KI3N", "Hors service", "défaut de terre", "Alertes ouvertes",
                     "Journal des connexions", "Commandes à distance"):
        assert expected in text, expected
    assert f'href="/t/{fleet.cpam}/bornes/CPAM-LM-01/commandes"' in page.text
    assert "/modifier" not in page.text  # the viewer reads only
    assert (await client.get(f"/t/{fleet.cpam}/bornes/VLB-01")).status_code == 404
    # The registry's own pages under /bornes/ are not taken for a charge_box_id.
    assert (await client.get(f"/t/{fleet.cpam}/bornes/nouvelle")).status_code == 403  # the viewer may not register
    assert (await client.get(f"/t/{fleet.cpam}/bornes/INCONNUE")).status_code == 404


# --------------------------------------------------------------------------- transactions and charge curve


async def test_transactions_list_and_detail_with_the_charge_curve(client, people, ingress, stations):
    fleet = people
    zone = ZoneInfo("Europe/Paris")
    start = utcnow().replace(microsecond=0) - dt.timedelta(minutes=3)
    samples = [(start + dt.timedelta(minutes=1), 1500, 7200), (start + dt.timedelta(minutes=2), 1620, 7400),
               (start + dt.timedelta(minutes=3), 1740, 3600)]
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=1380,
                                                      timestamp=ts(start)))
        for at, wh, watts in samples:
            await cp.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[{
                "timestamp": ts(at), "sampledValue": [
                    {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": str(watts), "measurand": "Power.Active.Import", "unit": "W"},
                ]}]))
        # Issue 12 §5: a running charge shows the energy of its meter values so far, not « — ».
        await signed_in(client, VIEWER)
        running = await client.get(f"/t/{fleet.cpam}/recharges")
        running_url = re.search(rf'href="(/t/{fleet.cpam}/recharges/[0-9a-f-]+)"', running.text).group(1)
        assert "Énergie 0,36 kWh jusqu'ici (d'après les relevés du compteur)" in text_of((await client.get(running_url)).text)
        await cp.call(call.StopTransaction(meter_stop=1740, timestamp=ts(start + dt.timedelta(minutes=3)),
                                           transaction_id=started.transaction_id, reason="EVDisconnected"))
    await signed_in(client, VIEWER)
    listing = await client.get(f"/t/{fleet.cpam}/recharges")
    assert listing.status_code == 200
    text = text_of(listing.text)
    assert "1 recharge." in text
    assert "BADGE-OK" in text and "CPAM-LM-01 · point 1" in text and "0,36 kWh" in text and "3 min" in text
    filtered = await client.get(f"/t/{fleet.cpam}/recharges?badge=inconnu", headers={"HX-Request": "true"})
    assert "Aucune recharge." in text_of(filtered.text)
    bad = await client.get(f"/t/{fleet.cpam}/recharges?du=2026-13-01")
    assert "Date invalide" in text_of(bad.text)
    detail_url = re.search(rf'href="(/t/{fleet.cpam}/recharges/[0-9a-f-]+)"', listing.text).group(1)

    detail = await client.get(detail_url)
    assert detail.status_code == 200
    html = detail.text
    svg = re.search(r"<svg.*?</svg>", html, flags=re.S).group(0)
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    power = re.search(r'<polyline class="power" points="([^"]+)"', svg).group(1).split()
    energy = re.search(r'<polyline class="energy" points="([^"]+)"', svg).group(1).split()
    assert len(power) == 3 and len(energy) == 4  # three power readings; energy from the start (0) to the stop
    # Higher power is drawn higher (smaller y); the first and last energy points are the chart's left and right edges.
    ys = [float(p.split(",")[1]) for p in power]
    assert ys[1] < ys[0] < ys[2]
    # A 3-minute charge: five distinct time ticks (to the second), unit labels above the top tick labels.
    times = re.findall(r'<text x="[\d.]+" y="(?:[\d.]+)" text-anchor="middle">([\d:]+)</text>', svg)
    assert len(times) == 5 and len(set(times)) == 5 and all(len(t) == 8 for t in times), times
    unit_y = float(re.search(r'y="([\d.]+)" text-anchor="end">kW</text>', svg).group(1))
    tick_ys = [float(y) for y in re.findall(r'y="([\d.]+)" text-anchor="end">[\d,]+</text>', svg)]
    assert unit_y < min(tick_ys) - 12  # 12 px text: the unit label ends above the top tick label
    assert [float(p.split(",")[0]) for p in energy][0] < [float(p.split(",")[0]) for p in energy][-1]
    titles = re.findall(r"<title>(Puissance [^<]+)</title>", svg)
    assert titles == [f"Puissance {at.astimezone(zone):%H:%M:%S} : {kw} kW"
                      for (at, _wh, _w), kw in zip(samples, ("7,2", "7,4", "3,6"), strict=True)]
    assert re.findall(r"<title>(Énergie [^<]+)</title>", svg)[-1].endswith(": 0,36 kWh")
    # The same values as a table (accessible alternative).
    table = text_of(re.search(r'<table class="curve-data">.*?</table>', html, flags=re.S).group(0))
    assert "7,2 0,12" in table and "7,4 0,24" in table and "3,6 0,36" in table
    # Issue 12 §5: the OCPP words in French (csms.domain.vocabulary).
    assert "BADGE-OK" in text_of(html) and "(véhicule débranché)" in text_of(html)
    assert "EVDisconnected" not in text_of(html) and "Accepted" not in text_of(html)


async def test_transactions_stay_behind_the_tenant_wall(client, people, ingress, stations):
    fleet = people
    async with stations.connect("VLB-01") as (cp, _wire):
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="BADGE-VLB", meter_start=0,
                                                      timestamp=ts(utcnow())))
        assert started.transaction_id
    await signed_in(client, OTHER)
    own = await client.get(f"/t/{fleet.other}/recharges")
    other_url = re.search(rf'href="(/t/{fleet.other}/recharges/([0-9a-f-]+))"', own.text)
    assert other_url
    await signed_in(client, ADMIN)
    assert (await client.get(f"/t/{fleet.cpam}/recharges/{other_url.group(2)}")).status_code == 404
    assert (await client.get(other_url.group(1))).status_code == 404
    assert "BADGE-VLB" not in (await client.get(f"/t/{fleet.cpam}/recharges")).text
    for path in ("bornes", "recharges", "alertes", "statistiques", "bornes/VLB-01"):
        assert (await client.get(f"/t/{fleet.other}/{path}")).status_code == 404, path


# --------------------------------------------------------------------------- alerts page


async def test_alerts_page_lists_open_and_closed_alerts(client, people, ingress, stations):
    fleet = people
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        await cp.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await cp.call(call.StatusNotification(connector_id=2, error_code="OverCurrentFailure", status="Faulted"))
    async with stations.connect("VLB-01") as (cp, _wire):
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Faulted"))
    await signed_in(client, VIEWER)
    page = await client.get(f"/t/{fleet.cpam}/alertes")
    text = text_of(page.text)
    assert "1 alerte ouverte." in text and "2 alertes affichées" in text
    assert "en défaut (surintensité)" in text and "en défaut (défaut de terre)" in text
    assert "fin : état disponible" in text and "OverCurrentFailure" not in text
    assert "VLB-01" not in text
    open_only = text_of((await client.get(f"/t/{fleet.cpam}/alertes?etat=ouvertes")).text)
    assert "surintensité" in open_only and "défaut de terre" not in open_only


# --------------------------------------------------------------------------- statistics


PARIS = ZoneInfo("Europe/Paris")


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=PARIS)


async def add_transactions(db, fleet) -> None:
    """CPAM-LM-01 point 1: in 2026-03-02..03, 1 h 10 kWh, 30 min 5 kWh, and 1 h 4 kWh starting 30 min
    before the period ends; one before the period. Point 2: one session of 2 h, 6 kWh."""
    lm01 = fleet.chargers["CPAM-LM-01"]
    async with db.transaction([fleet.cpam], actor={"user_id": None, "label": "test"}) as session:
        from csms.domain import registry

        points = {p.connector_id: p.id for p in await registry.list_charge_points(session, fleet.cpam, lm01.charger_id)}
        rows = [
            (1, local(2, 8), local(2, 9), 0, 10_000),
            (1, local(2, 14), local(2, 14, 30), 10_000, 15_000),
            (1, local(3, 23, 30), local(4, 0, 30), 15_000, 19_000),
            (1, local(1, 10), local(1, 11), 0, 50_000),  # before the period
            (2, local(3, 10), local(3, 12), 0, 6_000),
        ]
        for number, (connector, start, stop, meter_start, meter_stop) in enumerate(rows, start=1):
            session.add(Transaction(
                tenant_id=fleet.cpam, charger_id=lm01.charger_id, charge_point_id=points[connector],
                connector_id=connector, ocpp_transaction_id=str(number), status="completed", id_tag="BADGE-OK",
                meter_start=meter_start, meter_stop=meter_stop, started_at=start, stopped_at=stop,
            ))


@pytest.mark.parametrize("backend", BOTH, indirect=True)
async def test_usage_statistics_are_computed_in_sql(db, fleet):
    await add_transactions(db, fleet)
    start, end = local(2, 0), local(4, 0)
    async with db.session([fleet.cpam]) as session:
        usage = {u.canonical_id: u for u in await stats.usage_by_point(session, fleet.cpam, start, end, now=utcnow())}
    lm01 = fleet.chargers["CPAM-LM-01"]
    first, second = usage[lm01.points[0]], usage[lm01.points[1]]
    assert (first.sessions, first.energy_wh) == (3, 19_000)
    assert first.total_seconds == pytest.approx(2.5 * 3600, abs=1)
    assert first.used_seconds == pytest.approx(2.0 * 3600, abs=1)  # the last one is cut at midnight
    assert first.mean_seconds == pytest.approx(50 * 60, abs=1)
    assert first.occupancy == pytest.approx(2 / 48, rel=1e-4)
    assert (second.sessions, second.energy_wh, second.used_seconds) == (1, 6_000, pytest.approx(7200, abs=1))
    assert usage[fleet.chargers["CPAM-LM-02"].points[0]].sessions == 0
    assert len(usage) == 5  # every point of this tenant, none of the other's


async def test_statistics_page(client, db, people):
    fleet = people
    await add_transactions(db, fleet)
    await signed_in(client, VIEWER)
    page = await client.get(f"/t/{fleet.cpam}/statistiques?du=2026-03-02&au=2026-03-03")
    assert page.status_code == 200
    lm01 = fleet.chargers["CPAM-LM-01"]
    row = text_of(re.search(rf'<tr data-point="{lm01.points[0]}">.*?</tr>', page.text, flags=re.S).group(0))
    assert row.strip().endswith("3 19,00 2 h 30 min 50 min 2,0 h 4,2 %"), row
    assert "4 recharges, 25,00 kWh" in text_of(page.text)
    bad = await client.get(f"/t/{fleet.cpam}/statistiques?du=2026-03-05&au=2026-03-01")
    assert "La date de fin précède la date de début." in text_of(bad.text)


# --------------------------------------------------------------------------- agent view and menus


async def test_agent_sees_stations_with_state_and_charge_time_estimate(client, people, ingress, stations):
    fleet = people
    async with stations.connect("CPAM-LM-01") as (cp, _wire):
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await signed_in(client, AGENT)
        page = await client.get(f"/t/{fleet.cpam}/agent?km=100&conso=20")
    assert page.status_code == 200
    html = page.text
    lm01 = fleet.chargers["CPAM-LM-01"]

    def point_row(canonical: str) -> str:
        return text_of(re.search(rf'<tr data-point="{canonical}">.*?</tr>', html, flags=re.S).group(0)).strip()

    # 20 kWh at 22 kW x 90 % = 1.01 h; at 7 kW x 90 %: 3.17 h; at 11 kW x 90 %: 2.02 h.
    # The state comes right after the point's name (it stays in view on a phone), then the estimate.
    assert point_row(lm01.points[0]).endswith("Disponible 1 h 00 min T2, EF 22,0 kW")
    assert point_row(fleet.chargers["CPAM-LM-02"].points[0]).endswith("Hors ligne 3 h 10 min T2 7,0 kW")
    assert point_row(fleet.chargers["CPAM-LM-201"].points[0]).endswith("Hors ligne 2 h 01 min T2 11,0 kW")
    text = text_of(html)
    assert "100 km à 20,0 kWh/100 km" in text and "20,0 kWh" in text and "puissance du point × 90 %" in text
    assert "Le Mans" in text  # the site's address
    battery = text_of((await client.get(f"/t/{fleet.cpam}/agent?batterie=50&de=20&a=80")).text)
    assert "60 % d'une batterie de 50 kWh" in battery and "30,0 kWh" in battery
    wrong_page = (await client.get(f"/t/{fleet.cpam}/agent?km=beaucoup")).text
    wrong = text_of(wrong_page)
    # Issue 12 §5: the error once, next to its field, and no estimate from a default distance instead.
    assert wrong.count("Distance : nombre attendu") == 1
    assert "Pas d'estimation : corrigez la valeur signalée dans le formulaire." in wrong
    assert "Besoin" not in wrong and "min</td>" not in wrong_page
    typical = text_of((await client.get(f"/t/{fleet.cpam}/agent")).text)
    assert "100 km à 17,0 kWh/100 km (distance type : indiquez la vôtre)" in typical
    assert "CCTP" not in typical  # article numbers of the tender are for staff, not agents
    # The agent has no supervision pages and no such menu entries.
    assert (await client.get(f"/t/{fleet.cpam}/bornes")).status_code == 403
    assert f'href="/t/{fleet.cpam}/bornes"' not in html


async def test_menus_follow_roles(client, people):
    fleet = people
    await signed_in(client, VIEWER)
    page = await client.get(f"/t/{fleet.cpam}/bornes")
    nav = re.search(r'<nav class="main-nav" aria-label="Navigation principale">.*?</nav>', page.text, flags=re.S).group(0)
    for label in ("Bornes", "Recharges", "Alertes", "Statistiques"):
        assert f">{label}<" in nav, label
    assert "Enregistrer une borne" not in page.text  # read-only profile
    assert 'aria-current="page"' in re.search(r'<a[^>]*href="/t/[^"]+/bornes"[^>]*>', nav).group(0)


def test_alert_model_has_one_open_alert_per_condition():
    index = next(i for i in Alert.__table__.indexes if i.name == "uq_supervision_alerts_open")
    assert index.unique and [c.name for c in index.columns] == ["tenant_id", "charger_id", "connector_id", "kind"]



