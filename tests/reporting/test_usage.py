"""The beneficiary's charging usage report (issue 15 §2; CCTP CPAM 5-5-4 « Statistiques d'utilisation des points de
charge et des prises pour chaque borne : […] usages (durée, horaires, puissances demandées, type de prise
utilisée) », article 7 « Reporting »): sessions from a real OCPP 1.6 transaction over the ingress socket, the known
totals per point, badge and agent, the heat map cell of a known session in the tenant's zone (Paris and an overseas
zone), the XLSX read back, the API, and 404 across tenants."""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile
from dataclasses import dataclass

import pytest
from ocpp.v16 import call
from openpyxl import load_workbook

from reporting.usage import Period, build_report, month_period, parse_period
from tests.conftest import login
from tests.csms import conftest as supervision
from tests.csms.conftest import MEMBER_PASSWORD

# The supervision's fixtures (two tenants, a registered fleet, a live ingress, portal accounts), SQLite.
backend, fleet, ingress, password_hash = supervision.backend, supervision.fleet, supervision.ingress, supervision.password_hash
people, stations = supervision.people, supervision.stations

ACTOR = {"user_id": None, "label": "test"}
#: Monday 2 November 2026, 08:10 UTC = 09:10 in Paris (UTC+1 in winter).
T0 = dt.datetime(2026, 11, 2, 8, 10, tzinfo=dt.UTC)


def ts(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Row:
    id: uuid.UUID
    started_at: dt.datetime
    stopped_at: dt.datetime | None
    charger_id: str = "C1"
    connector_id: int = 1
    point_id: str = "P1"
    station_name: str = "Siège"
    charge_box_id: str = "CB"
    power_kw: float | None = 22.0
    socket_types: str = "T2"
    id_tag: str = "B1"
    holder_label: str = "Agent A"
    user_id: uuid.UUID | None = None
    energy_wh: int | None = 5000
    status: str = "completed"


@dataclass
class Point:
    canonical_id: str = "P1"
    charge_box_id: str = "CB"
    station_name: str = "Siège"
    power_kw: float | None = 22.0
    socket_types: str = "T2"


@pytest.mark.parametrize(("zone", "day", "hour"), [
    ("Europe/Paris", 0, 9),              # Monday 09:10 in Paris (UTC+1)
    ("America/Martinique", 0, 4),        # Monday 04:10 in Fort-de-France (UTC−4)
    ("Pacific/Noumea", 0, 19),           # Monday 19:10 in Nouméa (UTC+11)
])
def test_the_heat_map_cell_of_a_known_session_is_in_the_tenants_zone(zone, day, hour):
    # CCTP CPAM 5-5-4 « usages (durée, horaires…) »: a session of 30 minutes from 08:10 UTC.
    row = Row(uuid.uuid4(), T0, T0 + dt.timedelta(minutes=30))
    changes = [("C1", 1, "Charging", T0 + dt.timedelta(minutes=5)), ("C1", 1, "SuspendedEV", T0 + dt.timedelta(minutes=20))]
    report = build_report(month_period(2026, 11, zone), [row], changes, [Point()], [], now=T0 + dt.timedelta(days=40))
    cells = report.heat.cells()
    assert cells[day][hour]["hours"] == 0.5 and cells[day][hour]["starts"] == 1
    assert sum(c["hours"] for r in cells for c in r) == 0.5
    # November has five Mondays: the cell's rate is 30 min over 5 hours of one point.
    assert report.heat.hours[day][hour] == 5 and report.heat.rate(day, hour) == pytest.approx(0.1)
    assert report.totals.connected_seconds == 1800 and report.totals.charging_seconds == 900


def test_a_session_over_the_hour_is_spread_and_unknown_charging_is_not_zero():
    row = Row(uuid.uuid4(), T0, T0 + dt.timedelta(minutes=80), energy_wh=None)
    report = build_report(month_period(2026, 11, "Europe/Paris"), [row], [], [Point()], [], now=T0 + dt.timedelta(days=40))
    cells = report.heat.cells()
    assert (cells[0][9]["hours"], cells[0][10]["hours"]) == (round(50 / 60, 2), 0.5)
    assert report.totals.charging_known == 0 and report.points[0].sessions == 1 and report.totals.energy_wh == 0


def test_the_period_filter():
    now = dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC)
    assert parse_period({}, "Europe/Paris", now)[0].first == dt.date(2026, 12, 1)
    period, errors = parse_period({"annee": "2026"}, "Europe/Paris", now)
    assert (period.first, period.last, errors) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31), {})
    assert parse_period({"mois": "2026-13"}, "Europe/Paris", now)[1] == {
        "mois": "Mois attendu au format AAAA-MM (par exemple 2026-11)."}
    assert "précède" in parse_period({"du": "2026-11-10", "au": "2026-11-01"}, "Europe/Paris", now)[1]["au"]
    assert "366" in parse_period({"du": "2025-01-01", "au": "2026-06-01"}, "Europe/Paris", now)[1]["au"]
    period = Period(dt.date(2026, 11, 1), dt.date(2026, 11, 30), "Indian/Reunion", "")
    assert period.start == dt.datetime(2026, 10, 31, 20, tzinfo=dt.UTC)


async def test_a_real_ocpp_transaction_makes_the_report_page_xlsx_and_api(db, fleet, ingress, stations, people,
                                                                           app, client, api_token):
    from csms import services as csms_services
    from tenants.models import Membership, User

    # An agent's badge (5-5-5-3 « délivrés aux agents »), to count per agent.
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        from sqlalchemy import select

        user_id = await session.scalar(select(User.id).join(Membership, Membership.user_id == User.id)
                                       .where(User.email == "visu@cpam-bornes.demo"))
        await csms_services.issue_badge(session, fleet.cpam, id_tag="AGENT-01", user_id=user_id,
                                        holder_label="Agent Dupont")
    async with stations.connect("CPAM-LM-01") as (cp, wire):
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing",
                                              timestamp=ts(T0)))
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=1000,
                                                      timestamp=ts(T0)))
        assert started.id_tag_info["status"] == "Accepted"
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging",
                                              timestamp=ts(T0 + dt.timedelta(minutes=1))))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="SuspendedEV",
                                              timestamp=ts(T0 + dt.timedelta(minutes=91))))
        await cp.call(call.StopTransaction(meter_stop=8500, timestamp=ts(T0 + dt.timedelta(hours=2)),
                                           transaction_id=started.transaction_id, reason="EVDisconnected"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available",
                                              timestamp=ts(T0 + dt.timedelta(hours=2))))
        # The agent's session on point 2: Tuesday 3 November 17:00–17:45 UTC, 3.2 kWh, no status reported.
        t1 = dt.datetime(2026, 11, 3, 17, 0, tzinfo=dt.UTC)
        second = await cp.call(call.StartTransaction(connector_id=2, id_tag="AGENT-01", meter_start=0,
                                                     timestamp=ts(t1)))
        await cp.call(call.StopTransaction(meter_stop=3200, timestamp=ts(t1 + dt.timedelta(minutes=45)),
                                           transaction_id=second.transaction_id))
    # The other tenant's session never shows.
    async with stations.connect("VLB-01") as (cp, wire):
        other = await cp.call(call.StartTransaction(connector_id=1, id_tag="BADGE-VLB", meter_start=0,
                                                    timestamp=ts(T0)))
        await cp.call(call.StopTransaction(meter_stop=99000, timestamp=ts(T0 + dt.timedelta(hours=1)),
                                           transaction_id=other.transaction_id))

    assert (await login(client, "admin@cpam-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    base = f"/t/{fleet.cpam}/rapport-utilisation"
    page = await client.get(base, params={"mois": "2026-11"})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-total="sessions">2<' in html and "10,70 kWh" in html
    assert 'role="img"' in html and "<title>" in html and 'class="heat-map"' in html
    # Monday 09:10–11:10 in Paris: the 9 h and 10 h cells are shaded (one point of five, five Mondays: 4 %).
    assert 'data-cell="0-9"' in html and 'class="num heat-1" data-cell="0-9"' in html
    # The chargers were registered today: the stations' uptime shows from then (this month), not in November.
    assert 'data-station="CPAM-LM-01"' not in html
    current = (await client.get(base)).text
    assert 'data-station="CPAM-LM-01"' in current and 'data-station="VLB-01"' not in current

    token = await api_token("admin@cpam-bornes.demo")
    api = await client.get(f"/api/v1/tenants/{fleet.cpam}/usage", params={"from": "2026-11-01", "to": "2026-11-30"},
                           headers=token)
    assert api.status_code == 200, api.text
    body = api.json()
    assert body["totals"]["sessions"] == 2 and body["totals"]["energy_kwh"] == 10.7
    points = {p["key"]: p for p in body["points"]}
    first = next(p for k, p in points.items() if k.endswith("1") and p["sessions"] == 1 and p["energy_kwh"] == 7.5)
    assert first["connected_hours"] == 2.0 and first["charging_hours"] == 1.5 and first["power_kw"] == 22.0
    assert first["socket_types"] == "T2,EF"  # as the registry stores « T2+EF »
    assert {b["key"]: b["sessions"] for b in body["badges"]} == {"BADGE-OK": 1, "AGENT-01": 1}
    assert [(a["label"], a["energy_kwh"], a["connected_hours"]) for a in body["agents"]] == [("Agent Dupont", 3.2, 0.75)]
    cell = next(c for c in body["heat_map"] if c["weekday"] == "mardi" and c["hour"] == 18)  # 17:00 UTC = 18:00 Paris
    assert cell["occupied_hours"] == 0.75 and cell["sessions_started"] == 1
    now = (await client.get(f"/api/v1/tenants/{fleet.cpam}/usage", headers=token)).json()
    assert {s["charge_box_id"] for s in now["stations"]} == {"CPAM-LM-01", "CPAM-LM-02", "CPAM-LM-201"}
    link = next(s for s in now["stations"] if s["charge_box_id"] == "CPAM-LM-01")
    assert link["connections"] == 1 and link["cuts"] == 1 and link["uptime"] > 0  # one socket, closed
    bad = await client.get(f"/api/v1/tenants/{fleet.cpam}/usage", params={"from": "2026-11-31", "to": "2026-11-30"},
                           headers=token)
    assert bad.status_code == 422 and "AAAA-MM-JJ" in bad.text

    got = await client.get(f"{base}.xlsx", params={"mois": "2026-11"})
    assert got.status_code == 200 and got.content[:2] == b"PK"
    book = load_workbook(io.BytesIO(got.content))
    assert book.sheetnames == ["Synthèse", "Points de charge", "Badges", "Agents", "Occupation", "Stations", "Recharges"]
    summary = {r[0]: r[1] for r in book["Synthèse"].iter_rows(values_only=True)}
    assert summary["Recharges"] == 2 and summary["Énergie (kWh)"] == 10.7 and summary["Durée de charge (h)"] == 1.5
    sessions = list(book["Recharges"].iter_rows(values_only=True))
    assert len(sessions) == 3 and sessions[1][0] == dt.datetime(2026, 11, 2, 9, 10)  # Paris wall-clock time
    heat = list(book["Occupation"].iter_rows(min_row=2, max_row=2, values_only=True))[0]
    assert heat[0] == "lundi" and heat[10:13] == (0.83, 1.0, 0.17)  # 09:10–11:10 in Paris
    ods = await client.get(f"{base}.ods", params={"mois": "2026-11"})
    assert ods.status_code == 200 and ods.headers["content-type"].startswith("application/vnd.oasis.opendocument")
    with zipfile.ZipFile(io.BytesIO(ods.content)) as archive:
        content = archive.read("content.xml").decode()
        manifest = archive.read("META-INF/manifest.xml").decode()
        charts = [n for n in archive.namelist() if n.startswith("Object ") and n.endswith("/content.xml")]
        chart = archive.read(charts[0]).decode() if charts else ""
    assert all(f'table:name="{name}"' in content for name in book.sheetnames)
    # The XLSX's column chart, in the ODS too: energy per charge point over the sheet's own cells.
    (xlsx_chart,) = book["Points de charge"]._charts
    assert len(charts) == 1 and "application/vnd.oasis.opendocument.chart" in manifest
    assert 'chart:class="chart:bar"' in chart and "Énergie par point de charge" in chart
    first, last = xlsx_chart.series[0].val.numRef.f.split("!")[1].replace("$", "").split(":")  # F2:F6 in the XLSX
    assert f"'Points de charge'.{first}:'Points de charge'.{last}" in chart
    assert 'office:value="10.7"' in content and "<text:p>02/11/2026 09:10</text:p>" in content
    csv = await client.get(f"{base}.csv", params={"mois": "2026-11"})
    assert csv.status_code == 200 and csv.content.count(b"\r\n") == 3

    # Another tenant's admin: 404 on the page, its files and the API, like an unknown tenant.
    await client.get("/deconnexion")
    client.cookies.clear()
    assert (await login(client, "admin@vlb-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    for url in (base, f"{base}.xlsx", f"{base}.ods", f"{base}.csv"):
        assert (await client.get(url)).status_code == 404, url
    vlb = await api_token("admin@vlb-bornes.demo")
    assert (await client.get(f"/api/v1/tenants/{fleet.cpam}/usage", headers=vlb)).status_code == 404
    assert (await client.get(f"/api/v1/tenants/{uuid.uuid4()}/usage", headers=vlb)).status_code == 404
    own = (await client.get(f"/api/v1/tenants/{fleet.other}/usage", params={"from": "2026-11-01", "to": "2026-11-30"},
                            headers=vlb)).json()
    assert own["totals"]["sessions"] == 1 and own["totals"]["energy_kwh"] == 99.0
