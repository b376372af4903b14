"""Station registry on the web: portal pages and /api/v1 (stations, transactions), demo stations.

CCTP CPAM 5-5-1 (identifiers, usage name), 5-5 (« le nombre d'occurrence d'une
telle coupure »), 5-5-4 (state of each charger and point, badge, charge curve).
Stations are the ``ocpp`` library's own ChargePoint over a real socket.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import pytest
from ocpp.v16 import call
from sqlalchemy import func, select
from websockets.exceptions import InvalidStatus

from app.db import utcnow
from csms.domain import registry
from csms.domain.models import ChargeBoxRoute, ChargePoint, Charger, MeterValue, Station, Transaction
from csms.domain.recording import communication_report
from tests.conftest import csrf_from, form_post, login
from tests.csms.conftest import MEMBER_PASSWORD

BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ACTOR = {"user_id": None, "label": "test"}


async def sign_in(client, email: str) -> None:
    client.cookies.clear()
    response = await login(client, email, MEMBER_PASSWORD)
    assert response.status_code in (302, 303), response.text[:300]


async def registry_counts(db, tenant_id) -> tuple[int, int, int, int]:
    async with db.session([tenant_id]) as session:
        return tuple([
            await session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id))
            for model in (Station, Charger, ChargePoint)
        ] + [await session.scalar(select(func.count()).select_from(ChargeBoxRoute))])


def ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def meter(at: dt.datetime, wh: int, context: str = "Sample.Periodic") -> dict[str, Any]:
    return {"timestamp": ts(at), "sampled_value": [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": context}]}


# --------------------------------------------------------------------------- portal: register


async def test_portal_registers_a_charger_shows_its_ids_and_password_once_and_the_station_connects(
    client, db, fleet, people, ingress, stations,
):
    await sign_in(client, "admin@cpam-bornes.demo")
    base = f"/t/{fleet.cpam}/bornes"
    page = await client.get(f"{base}/nouvelle")
    assert page.status_code == 200
    assert "Identifiant OCPP de la borne" in page.text and "FR72181S0001010000" in page.text  # existing station listed
    before = await registry_counts(db, fleet.cpam)
    form = {"site": str(fleet.cpam_site), "charge_box_id": "CPAM-LM-NEW", "points": "2", "power_kw": "11",
            "socket_types": ["T2", "EF"], "station_name": "Le Mans – parking Bollée", "station": "2",
            "password_mode": "generated"}

    # CSRF: a form posted without the token is refused and writes nothing.
    refused = await client.post(f"{base}/nouvelle", data=form, follow_redirects=False)
    assert refused.status_code == 403
    assert await registry_counts(db, fleet.cpam) == before

    created = await form_post(client, f"{base}/nouvelle", f"{base}/nouvelle", form)
    assert created.status_code == 200, created.text[:2000]
    # CCTP 5-5-1: station 02 of building 0001 in Le Mans (INSEE 72181), its first charger, two points.
    assert "FR72181S0001020000" in created.text
    assert "FR72181B0001020100" in created.text
    assert "FR72181P0001020101" in created.text and "FR72181P0001020102" in created.text
    password = created.text.split('id="mot-de-passe-borne" class="token" type="text" readonly value="')[1].split('"')[0]
    assert registry.check_station_password(password, "CPAM-LM-NEW") is None
    async with db.session([fleet.cpam]) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-NEW")
        assert registry.verify_station_password(charger.password_hash, password)
        points = await registry.list_charge_points(session, fleet.cpam, charger.id)
        assert [(p.canonical_id, p.power_kw, p.socket_types) for p in points] == [
            ("FR72181P0001020101", 11.0, "T2,EF"), ("FR72181P0001020102", 11.0, "T2,EF")]
        station = await session.get(Station, (fleet.cpam, charger.station_id))
        assert station.name == "Le Mans – parking Bollée"
    # The password is not kept anywhere it could be shown again.
    assert password not in (await client.get(f"{base}/CPAM-LM-NEW/modifier")).text

    # The station configured with the shown password is let in; a wrong one is not.
    async with stations.connect("CPAM-LM-NEW", password=password) as (cp, wire):
        await cp.call(call.Heartbeat(), unique_id="hb")
        assert wire.answer("hb")[0] == 3
    with pytest.raises(InvalidStatus) as caught:
        await stations.socket("CPAM-LM-NEW", password="Borne-secret-2026-xyz")
    assert caught.value.response.status_code == 401


async def test_portal_given_password_redirects_to_the_list(client, db, fleet, people):
    await sign_in(client, "admin@cpam-bornes.demo")
    base = f"/t/{fleet.cpam}/bornes"
    response = await form_post(client, f"{base}/nouvelle", f"{base}/nouvelle", {
        "site": str(fleet.cpam_site), "charge_box_id": "EVB-P21034567", "canonical_id": "FR72181B0001030200",
        "points": "1", "power_kw": "22", "socket_types": "T2", "password_mode": "given",
        "password": "Ancien-secret-usine-42",
    })
    assert response.status_code == 303
    assert response.headers["location"] == f"/t/{fleet.cpam}/bornes"
    async with db.session([fleet.cpam]) as session:
        # Hardware with another OCPP identity keeps it, mapped to its canonical id (CCTP 5-5-1).
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "EVB-P21034567")
        assert charger.canonical_id == "FR72181B0001030200"
        assert registry.verify_station_password(charger.password_hash, "Ancien-secret-usine-42")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"charge_box_id": "CPAM LM 9"}, "charge_box_id", "1 à 48 caractères"),
        # Unique across the platform: Villeurbanne's charger, invisible to the CPAM, still blocks the id.
        ({"charge_box_id": "VLB-01"}, "charge_box_id", "« VLB-01 » est déjà enregistré sur la plateforme"),
        ({"canonical_id": "FR72181X0001010100"}, "canonical_id", "position 8"),
        ({"canonical_id": "FR69266B0002010100"}, "canonical_id", "ne correspond pas au site"),
        ({"points": "0"}, "points", "de 1 à 99"),
        ({"power_kw": "abc"}, "power_kw", "Puissance invalide"),
        ({"socket_types": "XYZ"}, "socket_types", "Type de prise inconnu"),
        ({"site": ""}, "site", "précisez le site"),
        ({"password_mode": "given", "password": ""}, "password", "Saisissez le mot de passe"),
        ({"password_mode": "given", "password": "court"}, "password", "16 à 40 caractères"),
        ({"charge_box_id": "import"}, "charge_box_id", "mot réservé"),
    ],
)
async def test_portal_field_errors_in_french_and_nothing_written(client, db, fleet, people, changes, field, message):
    # A second site makes the site choice mandatory.
    from tenants import services

    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        await services.create_site(session, fleet.cpam, {"name": "Annexe", "insee_code": "72181", "building_code": "0002"})
    await sign_in(client, "admin@cpam-bornes.demo")
    base = f"/t/{fleet.cpam}/bornes"
    before = await registry_counts(db, fleet.cpam)
    form = {"site": str(fleet.cpam_site), "charge_box_id": "CPAM-LM-09", "points": "1", "power_kw": "22",
            "socket_types": "T2", "password_mode": "generated", **changes}
    response = await form_post(client, f"{base}/nouvelle", f"{base}/nouvelle", form)
    assert response.status_code == 422
    assert f'id="e-{field}"' in response.text
    error = response.text.split(f'id="e-{field}">')[1].split("</p>")[0]
    assert message in error.replace("&#39;", "'").replace("&amp;", "&")
    assert 'class="error-summary"' in response.text
    assert await registry_counts(db, fleet.cpam) == before


async def test_a_viewer_cannot_register(client, db, fleet, people):
    await sign_in(client, "visu@cpam-bornes.demo")
    assert (await client.get(f"/t/{fleet.cpam}/bornes/nouvelle")).status_code == 403
    assert (await client.get(f"/t/{fleet.cpam}/bornes/import")).status_code == 403


# --------------------------------------------------------------------------- portal: import


def csv_file(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["charge_box_id", "mot_de_passe", "site", "identifiant", "points", "puissance_kw", "prises", "nom_usage"])
    writer.writerows(rows)
    return out.getvalue().encode()


GOOD_ROWS = [
    ["LM-PARK-01", "Secret-borne-parking-01", "Siège — parking", "", "2", "22", "T2+EF", ""],
    ["LM-ANCIENNE", "Secret-ancienne-borne-3", "", "FR72181B0001030100", "1", "7", "EF", "Borne atelier"],
]
BAD_ROWS = [
    GOOD_ROWS[0],
    ["LM-PARK-02", "court", "Siège — parking", "", "1", "22", "T2", ""],
    ["VLB-01", "Secret-borne-parking-02", "", "FR72181X0001010100", "1", "22", "T2", ""],
    ["LM-PARK-01", "Secret-borne-parking-03", "", "", "1", "22", "T2", ""],
]


async def upload(client, url: str, content: bytes, filename: str = "parc.csv") -> Any:
    page = await client.get(url)
    assert page.status_code == 200
    return await client.post(url, data={"_csrf_token": csrf_from(page.text)},
                             files={"file": (filename, content, "text/csv")}, follow_redirects=False)


async def test_portal_import_is_all_or_nothing_with_a_report_of_every_bad_line(client, db, fleet, people):
    await sign_in(client, "admin@cpam-bornes.demo")
    url = f"/t/{fleet.cpam}/bornes/import"
    before = await registry_counts(db, fleet.cpam)
    refused = await upload(client, url, csv_file(BAD_ROWS))
    assert refused.status_code == 422
    text = refused.text.replace("&#39;", "'")
    assert "Import refusé : 3 ligne(s) en erreur, aucune borne importée." in text
    report = text.split('id="rapport"')[1]
    rows = report.split("<tr>")[2:]
    assert [row.split("<th scope=\"row\">")[1].split("</th>")[0] for row in rows] == ["3", "4", "5"]
    assert "16 à 40 caractères" in rows[0]
    assert "déjà enregistré sur la plateforme" in rows[1] and "position 8" in rows[1]
    assert "figure déjà ligne 2" in rows[2]
    assert await registry_counts(db, fleet.cpam) == before  # the good first line was not imported either

    imported = await upload(client, url, csv_file(GOOD_ROWS))
    assert imported.status_code == 303
    assert imported.headers["location"] == f"/t/{fleet.cpam}/bornes"
    async with db.session([fleet.cpam]) as session:
        old = await registry.find_charger_in_tenant(session, fleet.cpam, "LM-ANCIENNE")
        assert old.canonical_id == "FR72181B0001030100"
        assert registry.verify_station_password(old.password_hash, "Secret-ancienne-borne-3")
    assert (await registry_counts(db, fleet.cpam))[1] == before[1] + 2

    empty = await upload(client, url, b"")
    assert empty.status_code == 422 and "Le fichier choisi est vide." in empty.text


async def test_the_example_csv_imports_as_is(client, db, fleet, people):
    await sign_in(client, "admin@cpam-bornes.demo")
    example = await client.get(f"/t/{fleet.cpam}/bornes/import/modele.csv")
    assert example.status_code == 200
    assert example.headers["content-type"].startswith("text/csv")
    assert "attachment" in example.headers["content-disposition"]
    imported = await upload(client, f"/t/{fleet.cpam}/bornes/import", example.content, "bornes-modele.csv")
    assert imported.status_code == 303, imported.text[:3000]
    async with db.session([fleet.cpam]) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "EXEMPLE-01")
        assert len(await registry.list_charge_points(session, fleet.cpam, charger.id)) == 2


# --------------------------------------------------------------------------- portal: edit, new password


async def test_portal_edits_a_charger_and_gives_it_a_new_password(client, db, fleet, people, ingress, stations):
    await sign_in(client, "admin@cpam-bornes.demo")
    base = f"/t/{fleet.cpam}/bornes/CPAM-LM-01"
    edited = await form_post(client, f"{base}/modifier", f"{base}/modifier",
                             {"station_name": "Le Mans – siège", "power_kw": "7", "socket_types": ["EF"], "lenient": "1"})
    assert edited.status_code == 303
    bad = await form_post(client, f"{base}/modifier", f"{base}/modifier", {"power_kw": "-3", "socket_types": "T2"})
    assert bad.status_code == 422 and "Puissance hors limites" in bad.text
    async with db.session([fleet.cpam]) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-01")
        assert charger.lenient is True
        points = await registry.list_charge_points(session, fleet.cpam, charger.id)
        assert {(p.power_kw, p.socket_types) for p in points} == {(7.0, "EF")}
        assert (await session.get(Station, (fleet.cpam, charger.station_id))).name == "Le Mans – siège"

    changed = await form_post(client, f"{base}/modifier", f"{base}/mot-de-passe", {"password_mode": "generated"})
    assert changed.status_code == 200
    password = changed.text.split('readonly value="')[1].split('"')[0]
    with pytest.raises(InvalidStatus) as caught:
        await stations.socket("CPAM-LM-01")  # the old password
    assert caught.value.response.status_code == 401
    async with stations.connect("CPAM-LM-01", password=password) as (cp, wire):
        await cp.call(call.Heartbeat(), unique_id="hb")
        assert wire.answer("hb")[0] == 3


# --------------------------------------------------------------------------- API: register, import


async def test_api_registers_a_charger_and_returns_its_password_once(client, db, fleet, people, api_token):
    admin = await api_token("admin@cpam-bornes.demo")
    before = await registry_counts(db, fleet.cpam)
    response = await client.post("/api/v1/stations", headers=admin, json={
        "charge_box_id": "API-01", "points": 2, "power_kw": 22, "socket_types": "T2+EF", "station": 3,
    })
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["canonical_id"] == "FR72181B0001030100"
    assert body["station_canonical_id"] == "FR72181S0001030000"
    assert body["points"] == ["FR72181P0001030101", "FR72181P0001030102"]
    assert body["password_generated"] is True and body["ocpp_path"] == "/ocpp/API-01"
    assert body["tenant_id"] == str(fleet.cpam)
    async with db.session([fleet.cpam]) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "API-01")
        assert registry.verify_station_password(charger.password_hash, body["password"])
    # The password is never returned again.
    read = await client.get("/api/v1/stations/API-01", headers=admin)
    assert read.status_code == 200 and body["password"] not in read.text

    middle = await registry_counts(db, fleet.cpam)
    assert middle[1] == before[1] + 1
    for payload, field, fragment in [
        ({"charge_box_id": "VLB-01"}, "charge_box_id", "déjà enregistré sur la plateforme"),
        ({"charge_box_id": "API-02", "password": "trop-court"}, "password", "16 à 40 caractères"),
        ({"charge_box_id": "API-02", "canonical_id": "FR7218"}, "canonical_id", "18 caractères attendus"),
        ({"points": 2}, "charge_box_id", "Champ obligatoire"),
        ({"charge_box_id": "API-02", "couleur": "rouge"}, "couleur", "Champ inconnu"),
    ]:
        refused = await client.post("/api/v1/stations", headers=admin, json=payload)
        assert refused.status_code == 422, (payload, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert fragment in refused.json()["errors"][field]
    assert await registry_counts(db, fleet.cpam) == middle

    viewer = await api_token("visu@cpam-bornes.demo")
    assert (await client.post("/api/v1/stations", headers=viewer, json={"charge_box_id": "API-03"})).status_code == 403
    # Another tenant's id in the body is a 404, like an unknown one.
    other = await client.post("/api/v1/stations", headers=admin, json={"charge_box_id": "API-04", "tenant_id": str(fleet.other)})
    assert other.status_code == 404
    assert await registry_counts(db, fleet.cpam) == middle


async def test_api_import_is_all_or_nothing_with_every_bad_line(client, db, fleet, people, api_token):
    admin = await api_token("admin@cpam-bornes.demo")
    before = await registry_counts(db, fleet.cpam)
    refused = await client.post("/api/v1/stations/import", headers={**admin, "Content-Type": "text/csv"},
                                content=csv_file(BAD_ROWS))
    assert refused.status_code == 422
    body = refused.json()
    assert body["title"] == "Import refusé : 3 ligne(s) en erreur, aucune borne importée."
    assert [line["line"] for line in body["lines"]] == [3, 4, 5]
    assert "16 à 40 caractères" in body["errors"]["3"]
    assert any("position 8" in m for m in body["lines"][1]["messages"])
    assert await registry_counts(db, fleet.cpam) == before

    multipart = await client.post("/api/v1/stations/import", headers=admin,
                                  files={"file": ("parc.csv", csv_file(GOOD_ROWS), "text/csv")})
    assert multipart.status_code == 201, multipart.text
    assert multipart.json()["imported"] == 2
    assert [c["charge_box_id"] for c in multipart.json()["chargers"]] == ["LM-PARK-01", "LM-ANCIENNE"]
    assert (await registry_counts(db, fleet.cpam))[1] == before[1] + 2
    # Villeurbanne's admin cannot import into the CPAM.
    vlb = await api_token("admin@vlb-bornes.demo")
    other = await client.post(f"/api/v1/stations/import?tenant_id={fleet.cpam}", headers={**vlb, "Content-Type": "text/csv"},
                              content=csv_file([["X-1", "Secret-borne-parking-09", "", "", "1", "22", "T2", ""]]))
    assert other.status_code == 404


# --------------------------------------------------------------------------- API: supervision after real traffic


async def drive_a_session(stations, ingress) -> dt.datetime:
    """CPAM-LM-01 boots, reports its points, charges 7.5 kWh on point 1 and stays charging on point 2."""
    start = utcnow() - dt.timedelta(minutes=30)
    async with stations.connect("CPAM-LM-01") as (cp, wire):
        await cp.call(call.BootNotification(charge_point_vendor="Schneider", charge_point_model="EVlink Pro AC",
                                            firmware_version="3.4.0.12"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await cp.call(call.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=1000, timestamp=ts(start)))
        for minute, wh in ((5, 2500), (10, 4000)):
            await cp.call(call.MeterValues(connector_id=1, transaction_id=1,
                                           meter_value=[meter(start + dt.timedelta(minutes=minute), wh)]))
        await cp.call(call.StopTransaction(meter_stop=8500, timestamp=ts(start + dt.timedelta(minutes=20)),
                                           transaction_id=1, reason="EVDisconnected", id_tag="BADGE-OK"))
        await cp.call(call.StartTransaction(connector_id=2, id_tag="BADGE-BLOCKED", meter_start=0, timestamp=ts(utcnow())))
        await cp.call(call.StatusNotification(connector_id=2, error_code="NoError", status="Charging"))
        await cp.call(call.Heartbeat())
    await ingress.events.wait("station.disconnected", lambda p: p.get("charge_box_id") == "CPAM-LM-01")
    return start


@pytest.mark.parametrize("backend", BOTH, indirect=True)
async def test_api_stations_and_transactions_after_real_traffic(client, db, fleet, people, api_token, ingress, stations):
    start = await drive_a_session(stations, ingress)
    admin = await api_token("admin@cpam-bornes.demo")
    async with stations.connect("CPAM-LM-02") as (cp, _wire):
        await cp.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))

        listed = await client.get("/api/v1/stations", headers=admin)
        assert listed.status_code == 200, listed.text
        page = listed.json()
        assert page["total"] == 3 and page["pages"] == 1
        by_id = {s["charge_box_id"]: s for s in page["items"]}
        assert list(by_id) == ["CPAM-LM-01", "CPAM-LM-02", "CPAM-LM-201"]  # by canonical id
        first = by_id["CPAM-LM-01"]
        assert first["canonical_id"] == "FR72181B0001010100"
        assert first["station_canonical_id"] == "FR72181S0001010000"
        assert first["site_id"] == str(fleet.cpam_site) and first["site_name"] == "Siège — parking"
        assert first["power_kw"] == 44.0 and first["socket_types"] == ["T2", "EF"]
        assert first["vendor"] == "Schneider" and first["protocol"] == "ocpp1.6"
        # Disconnected: « Hors ligne » everywhere, whatever the last statuses were.
        assert (first["connected"], first["status"], first["status_label"]) == (False, "hors_ligne", "Hors ligne")
        assert [(p["canonical_id"], p["ocpp_status"], p["status"]) for p in first["points"]] == [
            ("FR72181P0001010101", "Available", "hors_ligne"), ("FR72181P0001010102", "Charging", "hors_ligne")]
        # CCTP 5-5: one communication cut, counted.
        assert first["disconnections"] == 1
        assert first["uptime"]["connections"] == 1 and 0 < first["uptime"]["ratio"] <= 1
        assert first["last_seen_at"] is not None
        faulted = by_id["CPAM-LM-02"]
        assert (faulted["connected"], faulted["status"], faulted["status_label"]) == (True, "hors_service", "Hors service")
        assert (faulted["points"][0]["error_code"], faulted["points"][0]["ocpp_status_label"]) == ("GroundFailure", "en défaut")
        assert faulted["disconnections"] == 0
        assert by_id["CPAM-LM-201"]["status"] == "hors_ligne" and by_id["CPAM-LM-201"]["last_seen_at"] is None

        # Filters: connection, state, site, pagination.
        online = (await client.get("/api/v1/stations?connected=true", headers=admin)).json()
        assert [s["charge_box_id"] for s in online["items"]] == ["CPAM-LM-02"]
        offline = (await client.get("/api/v1/stations?status=hors_ligne", headers=admin)).json()
        assert [s["charge_box_id"] for s in offline["items"]] == ["CPAM-LM-01", "CPAM-LM-201"]
        assert (await client.get("/api/v1/stations?status=hors_service", headers=admin)).json()["total"] == 1
        assert (await client.get(f"/api/v1/stations?site_id={fleet.cpam_site}", headers=admin)).json()["total"] == 3
        assert (await client.get(f"/api/v1/stations?site_id={uuid.uuid4()}", headers=admin)).json()["total"] == 0
        second = (await client.get("/api/v1/stations?per_page=2&page=2", headers=admin)).json()
        assert (second["total"], second["pages"], [s["charge_box_id"] for s in second["items"]]) == (3, 2, ["CPAM-LM-201"])
        wrong = await client.get("/api/v1/stations?status=en_panne", headers=admin)
        assert wrong.status_code == 422 and "État inconnu" in wrong.json()["errors"]["status"]

        single = await client.get("/api/v1/stations/CPAM-LM-02", headers=admin)
        assert single.status_code == 200 and single.json()["status"] == "hors_service"

    # Transactions, most recent first.
    txs = (await client.get("/api/v1/transactions", headers=admin)).json()
    assert txs["total"] == 2
    active, done = txs["items"]
    assert (active["connector_id"], active["id_tag"], active["status"], active["id_tag_status"]) == (2, "BADGE-BLOCKED", "active", "Blocked")
    assert active["meter_stop"] is None and active["energy_wh"] is None
    assert done == {
        "id": done["id"], "tenant_id": str(fleet.cpam), "charge_box_id": "CPAM-LM-01",
        "canonical_id": "FR72181P0001010101", "connector_id": 1, "ocpp_transaction_id": "1", "status": "completed",
        "id_tag": "BADGE-OK", "id_tag_status": "Accepted", "meter_start": 1000, "meter_stop": 8500, "energy_wh": 7500,
        "started_at": done["started_at"], "stopped_at": done["stopped_at"], "duration_seconds": 1200.0,
        "stop_reason": "EVDisconnected", "offline": True,  # sent 30 minutes late: offline data
    }
    assert dt.datetime.fromisoformat(done["started_at"]) == start.replace(microsecond=start.microsecond // 1000 * 1000)

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/api/v1/transactions?{query}", headers=admin)
        assert response.status_code == 200, response.text
        return [t["id_tag"] for t in response.json()["items"]]

    assert await ids("id_tag=badge-ok") == ["BADGE-OK"]
    assert await ids("charge_box_id=CPAM-LM-02") == []
    assert await ids("status=active") == ["BADGE-BLOCKED"]
    since = (start + dt.timedelta(minutes=1)).isoformat()
    assert await ids(f"since={since.replace('+', '%2B')}") == ["BADGE-BLOCKED"]
    assert await ids(f"until={since.replace('+', '%2B')}") == ["BADGE-OK"]
    assert await ids("per_page=1&page=2") == ["BADGE-OK"]

    detail = await client.get(f"/api/v1/transactions/{done['id']}", headers=admin)
    assert detail.status_code == 200
    curve = [(m["measurand"], m["value"]) for m in detail.json()["meter_values"]]
    assert curve == [("Energy.Active.Import.Register", 2500.0), ("Energy.Active.Import.Register", 4000.0)]
    assert detail.json()["transaction"]["energy_wh"] == 7500

    # The stations and transactions of one tenant never show for another (tenant wall).
    vlb = await api_token("admin@vlb-bornes.demo")
    theirs = (await client.get("/api/v1/stations", headers=vlb)).json()
    assert [s["charge_box_id"] for s in theirs["items"]] == ["VLB-01"]
    assert (await client.get("/api/v1/transactions", headers=vlb)).json()["total"] == 0
    assert (await client.get("/api/v1/stations/CPAM-LM-01", headers=vlb)).status_code == 404
    assert (await client.get(f"/api/v1/transactions/{done['id']}", headers=vlb)).status_code == 404
    assert (await client.get(f"/api/v1/stations?tenant_id={fleet.cpam}", headers=vlb)).status_code == 404
    assert (await client.get(f"/api/v1/transactions?tenant_id={fleet.cpam}", headers=vlb)).status_code == 404
    assert (await client.get("/api/v1/transactions?charge_box_id=CPAM-LM-01", headers=vlb)).json()["total"] == 0


async def test_portal_pages_of_another_tenant_are_404(client, db, fleet, people):
    await sign_in(client, "admin@vlb-bornes.demo")
    for url in (f"/t/{fleet.cpam}/bornes/nouvelle", f"/t/{fleet.cpam}/bornes/import",
                f"/t/{fleet.cpam}/bornes/import/modele.csv", f"/t/{fleet.cpam}/bornes/CPAM-LM-01/modifier",
                f"/t/{fleet.other}/bornes/CPAM-LM-01/modifier"):
        assert (await client.get(url)).status_code == 404, url
    # Posting with a valid CSRF token changes nothing either.
    page = await client.get(f"/t/{fleet.other}/bornes/nouvelle")
    token = csrf_from(page.text)
    before = await registry_counts(db, fleet.cpam)
    for url in (f"/t/{fleet.other}/bornes/CPAM-LM-01/modifier", f"/t/{fleet.other}/bornes/CPAM-LM-01/mot-de-passe",
                f"/t/{fleet.cpam}/bornes/nouvelle"):
        response = await client.post(url, data={"_csrf_token": token, "charge_box_id": "INTRUS-01", "lenient": "1",
                                                "password_mode": "generated", "site": str(fleet.cpam_site)})
        assert response.status_code == 404, url
    assert await registry_counts(db, fleet.cpam) == before
    async with db.session([fleet.cpam]) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-01")
        assert charger.lenient is False and registry.verify_station_password(charger.password_hash, "Borne-secret-2026-xyz")


# --------------------------------------------------------------------------- demo


@pytest.mark.parametrize("backend", BOTH, indirect=True)
async def test_demo_load_registers_stations_and_transactions_idempotently(settings, db):
    from app.composition import load_demo
    from csms.demo import DEMO_STATION_PASSWORD

    first = await load_demo(settings, db)
    again = await load_demo(settings, db)
    assert first["stations"] == again["stations"]
    cpam = uuid.UUID(first["tenant_ids"]["cpam"])
    commune = uuid.UUID(first["tenant_ids"]["commune"])
    async with db.session([cpam, commune]) as session:
        chargers = {c.charge_box_id: c for c in await session.scalars(select(Charger))}
        assert {c.canonical_id for c in chargers.values() if c.tenant_id == cpam} >= {"FR72181B0001010100", "FR72181B0001010200"}
        assert any(c.tenant_id == commune for c in chargers.values())
        assert all(registry.verify_station_password(c.password_hash, DEMO_STATION_PASSWORD) for c in list(chargers.values())[:1])
        counts = {model.__tablename__: await session.scalar(select(func.count()).select_from(model))
                  for model in (Charger, ChargePoint, Transaction, MeterValue)}
    assert counts["charging_transactions"] >= 3 and counts["meter_values"] >= 10
    async with db.session([cpam]) as session:
        # CCTP 5-5: the demo history counts its communication cuts from the registration on.
        charger = await registry.find_charger_in_tenant(session, cpam, "CPAM-LM-01")
        report = await communication_report(session, cpam, charger.id, charger.created_at, utcnow())
        assert (report.connections, report.cuts) == (2, 2) and 0.5 < report.uptime_ratio < 1
    await load_demo(settings, db)
    async with db.session([cpam, commune]) as session:
        assert {model.__tablename__: await session.scalar(select(func.count()).select_from(model))
                for model in (Charger, ChargePoint, Transaction, MeterValue)} == counts


# --------------------------------------------------------------------------- simulated station


async def test_simulate_command_charges_once_through_the_ingress(db, fleet, ingress, centrale):
    """``centrale stations simulate``: the ocpp library's ChargePoint driven from the command line."""
    import json

    def simulate(*extra: str) -> Any:
        return centrale("stations", "simulate", "--charge-box-id", "CPAM-LM-01",
                        "--url", f"ws://127.0.0.1:{ingress.port}/ocpp", "--samples", "2", "--interval", "0.05",
                        "--exit", "--id-tag", "BADGE-OK", *extra)

    result = await simulate("--password", "Borne-secret-2026-xyz")
    assert result.exit_code == 0, result.output
    assert "StartTransaction : transaction 1, badge Accepted" in result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary == {"transaction_id": 1, "id_tag_status": "Accepted", "energy_wh": 2 * round(7400 * 0.05 / 3600)}
    async with db.session([fleet.cpam]) as session:
        tx = await session.scalar(select(Transaction).where(Transaction.tenant_id == fleet.cpam))
        assert (tx.status, tx.id_tag, tx.meter_start, tx.connector_id) == ("completed", "BADGE-OK", 1000, 1)
        assert tx.energy_wh == summary["energy_wh"]
        assert await session.scalar(select(func.count()).select_from(MeterValue).where(
            MeterValue.tenant_id == fleet.cpam, MeterValue.transaction_id == tx.id)) == 4

    refused = await simulate("--password", "Mauvais-mot-de-passe-42")
    assert refused.exit_code == 1 and "mot de passe refusé (HTTP 401)" in refused.output


async def test_the_new_charger_form_sets_its_security_profile_shown_on_the_station_page(client, db, fleet, people):
    # Issue 17 §4: profiles 1 to 3 per charger, chosen at registration as on the edit page.
    await sign_in(client, "admin@cpam-bornes.demo")
    base = f"/t/{fleet.cpam}/bornes"
    page = await client.get(f"{base}/nouvelle")
    assert "Profil de sécurité OCPP" in page.text and "Profil 2 : mot de passe (HTTP Basic) sur TLS" in page.text
    response = await form_post(client, f"{base}/nouvelle", f"{base}/nouvelle", {
        "site": str(fleet.cpam_site), "charge_box_id": "CPAM-LM-TLS", "points": "1", "power_kw": "22",
        "socket_types": "T2", "password_mode": "given", "password": "Secret-usine-TLS-2026", "security_profile": "2",
    })
    assert response.status_code == 303
    station = await client.get(f"{base}/CPAM-LM-TLS")
    assert "profil de sécurité 2" in station.text
    refused = await form_post(client, f"{base}/nouvelle", f"{base}/nouvelle", {
        "site": str(fleet.cpam_site), "charge_box_id": "CPAM-LM-TLS4", "points": "1", "socket_types": "T2",
        "password_mode": "given", "password": "Secret-usine-TLS-2026", "security_profile": "4",
    })
    assert "has-error" in refused.text  # the form again, its error shown, nothing registered
    async with db.session([fleet.cpam]) as session:
        assert await session.scalar(select(func.count()).select_from(Charger).where(
            Charger.tenant_id == fleet.cpam, Charger.charge_box_id == "CPAM-LM-TLS4")) == 0
        assert (await registry.find_charger_in_tenant(session, fleet.cpam, "CPAM-LM-TLS")).security_profile == 2
