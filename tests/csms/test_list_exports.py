"""Exports of the supervision lists (issue 12 §4): what the filters show, typed, formula-safe,
the viewer too, never another tenant's (CCTP CPAM 5-5 « état », 5-5-4 « identification du badge »)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from csms.domain import badges as badges_mod
from tests.app.test_exports import EVIL
from tests.conftest import login

#: Both databases for the exports whose rows come from several tables (row-level security on PostgreSQL).
BOTH = pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
ADMIN, VIEWER, AGENT = "admin@cpam72.demo", "visu@cpam72.demo", "agent@cpam72.demo"


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


def _xlsx(response, tmp_path: Path) -> list[dict[str, object]]:
    assert response.status_code == 200
    path = tmp_path / f"{uuid.uuid4().hex}.xlsx"
    path.write_bytes(response.content)
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize("list_path", ["bornes", "recharges", "alertes", "statistiques", "badges", "reservations"])
async def test_every_list_links_its_exports_and_another_tenants_export_is_not_found(client, demo, list_path):
    cpam, chr_ = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["chr"]
    await login(client, ADMIN)
    page = await client.get(f"/t/{cpam}/{list_path}")
    assert f'href="/t/{cpam}/{list_path}.csv' in page.text and f'href="/t/{cpam}/{list_path}.xlsx' in page.text
    for suffix in ("csv", "xlsx"):
        assert (await client.get(f"/t/{cpam}/{list_path}.{suffix}")).status_code == 200
        assert (await client.get(f"/t/{chr_}/{list_path}.{suffix}")).status_code == 404


@BOTH
async def test_charging_sessions_export_honours_the_filters_with_typed_cells(client, demo, tmp_path):
    cpam = demo["tenant_ids"]["cpam"]
    await login(client, VIEWER)  # the viewer exports what it can see
    every = _csv(await client.get(f"/t/{cpam}/recharges.csv"))
    assert {"CPAM-LM-01", "CPAM-LM-02"} <= {r["Borne (OCPP)"] for r in every}
    assert f"{len(every)} recharges." in (await client.get(f"/t/{cpam}/recharges")).text
    one = _csv(await client.get(f"/t/{cpam}/recharges.csv", params={"borne": "CPAM-LM-02"}))
    assert len(one) == 3 and {r["Borne (OCPP)"] for r in one} == {"CPAM-LM-02"}  # the demo's 3 sessions per charger
    # The page shows the same sessions with the same filter.
    page = await client.get(f"/t/{cpam}/recharges", params={"borne": "CPAM-LM-02"})
    assert "3 recharges." in page.text
    today = dt.date.today()
    recent = _csv(await client.get(f"/t/{cpam}/recharges.csv", params={"du": (today - dt.timedelta(days=2)).isoformat()}))
    assert 0 < len(recent) < len(every)
    assert all(dt.date.fromisoformat(r["Début"][:10]) >= today - dt.timedelta(days=2) for r in recent)
    typed = _xlsx(await client.get(f"/t/{cpam}/recharges.xlsx", params={"borne": "CPAM-LM-02"}), tmp_path)
    assert len(typed) == 3
    first = typed[0]
    assert isinstance(first["Début"], dt.datetime) and isinstance(first["Énergie (kWh)"], float)
    csv_first = one[0]
    assert Decimal(csv_first["Énergie (kWh)"]) == Decimal(str(first["Énergie (kWh)"])).quantize(Decimal("0.001"))
    assert dt.datetime.fromisoformat(csv_first["Début"]) == first["Début"]
    assert first["Hors ligne"] == "non"


@BOTH
async def test_stations_alerts_and_statistics_exports_follow_their_filters(client, demo, tmp_path):
    cpam = demo["tenant_ids"]["cpam"]
    await login(client, VIEWER)
    stations = _csv(await client.get(f"/t/{cpam}/bornes.csv"))
    assert {r["Borne (OCPP)"] for r in stations} >= {"CPAM-LM-01", "CPAM-LM-02"}
    assert all(r["État"] in ("Disponible", "En charge", "Hors service", "Hors ligne") for r in stations)
    offline = _csv(await client.get(f"/t/{cpam}/bornes.csv", params={"etat": "hors_ligne"}))
    available = _csv(await client.get(f"/t/{cpam}/bornes.csv", params={"etat": "disponible"}))
    # The demo's stations never connected: all « Hors ligne », none « Disponible ».
    assert len(offline) == len(stations) and {r["État"] for r in offline} == {"Hors ligne"}
    assert available == []
    opened = _csv(await client.get(f"/t/{cpam}/alertes.csv", params={"etat": "ouvertes"}))
    closed = _csv(await client.get(f"/t/{cpam}/alertes.csv", params={"etat": "closes"}))
    assert len(opened) == 3 and {r["Ouverte"] for r in opened} == {"oui"}  # the home's « 3 alertes ouvertes »
    assert all(r["Ouverte"] == "non" for r in closed)

    today = dt.date.today()
    period = {"du": (today - dt.timedelta(days=2)).isoformat(), "au": today.isoformat()}
    usage = _xlsx(await client.get(f"/t/{cpam}/statistiques.xlsx", params=period), tmp_path)
    sessions = _csv(await client.get(f"/t/{cpam}/recharges.csv", params=period))
    assert usage and sum(r["Recharges"] for r in usage) == len(sessions) > 0
    assert all(r["Du"] == dt.datetime.combine(today - dt.timedelta(days=2), dt.time()) for r in usage)
    month = _csv(await client.get(f"/t/{cpam}/statistiques.csv"))
    assert sum(int(r["Recharges"]) for r in month) == len(_csv(await client.get(f"/t/{cpam}/recharges.csv")))
    too_long = await client.get(f"/t/{cpam}/statistiques.csv", params={"du": "2020-01-01", "au": today.isoformat()},
                                follow_redirects=False)
    assert too_long.status_code == 303


@BOTH
async def test_badges_export_is_formula_safe_and_an_agent_exports_its_own(client, db, demo, tmp_path):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor={"user_id": None, "label": "test"}) as session:
        await badges_mod.create_badge(session, cpam, {"id_tag": "EVIL0001", "holder_label": EVIL, "kind": "vehicle", "vehicle_label": "AB-123-CD"})
    await login(client, ADMIN)
    every = _csv(await client.get(f"/t/{cpam}/badges.csv"))
    evil = next(r for r in every if r["Identifiant"] == "EVIL0001")
    assert evil["Porteur"] == "'" + EVIL and evil["Statut"] == "Actif"
    found = _csv(await client.get(f"/t/{cpam}/badges.csv", params={"q": "EVIL"}))
    assert [r["Identifiant"] for r in found] == ["EVIL0001"]
    cell = _xlsx(await client.get(f"/t/{cpam}/badges.xlsx", params={"q": "EVIL"}), tmp_path)[0]["Porteur"]
    assert cell == "'" + EVIL
    await login(client, AGENT)
    own = _csv(await client.get(f"/t/{cpam}/badges.csv"))
    assert "EVIL0001" not in {r["Identifiant"] for r in own}
    assert len(own) < len(every)


async def test_reservations_export_keeps_the_period_it_is_asked(client, db, demo):
    """The period (local days of the window's start) is applied by the query, before the export's
    row limit: two reservations, a period holding one of them exports exactly that one."""
    from tests.conftest import form_post
    from tests.csms.test_reservations import PARIS, demo_fleet

    setup = await demo_fleet(db, demo)
    page = f"/t/{setup['tenant']}/reservations"
    await login(client, AGENT)
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).astimezone(PARIS).replace(
        hour=10, minute=0, second=0, microsecond=0, tzinfo=None)
    for start in (tomorrow, tomorrow + dt.timedelta(days=2)):
        done = await form_post(client, page, page, {
            "charge_point_id": str(setup["point"]), "badge_id": str(setup["agent_badge"]),
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")})
        assert done.status_code == 303
    everything = _csv(await client.get(f"{page}.csv"))
    day = tomorrow.date().isoformat()
    one_day = _csv(await client.get(f"{page}.csv", params={"du": day, "au": day}))
    assert len(everything) == 2, everything
    assert [r["Début"] for r in one_day] == [f"{day} 10:00:00"]  # in the tenant's time
