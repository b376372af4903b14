"""The stations' open data (issue 16 §3; schema-irve 2.3, AFIR; CCTP CPAM 5-5-6-1: « ce portail web intègre
l'ensemble des informations inhérentes aux IRVE (localisation, état de fonctionnement et disponibilité…) »): the
admin's page, the public files at stable URLs with their cache headers, valid against the schema with
frictionless, the identifier, coordinate and uniqueness checks, the rewrite after a registry change (outbox) and
each minute (job), and the 404 of a tenant that does not publish. Real PostgreSQL; HTTP without a browser."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.db import Database, utcnow
from tests.conftest import form_post, login_as, page_text

pytestmark = pytest.mark.postgres
SCHEMAS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "schema-irve"
CPAM_ADMIN = "admin@cpam72.demo"
PUBLISHER = {"published": "1", "contact_operateur": "irve@cpam72.fr", "nom_enseigne": "Recharge CPAM de la Sarthe",
             "nom_operateur": "Titulaire IRVE", "operator_code": "A68", "implantation_station": "Parking public",
             "condition_acces": "Accès réservé", "horaires": "24/7", "accessibilite_pmr": "Accessibilité inconnue",
             "siren_amenageur": "180035024", "nom_amenageur": "CPAM de la Sarthe"}


@pytest.fixture
def backend() -> str:
    return "postgres"


async def _lines(db: Database, tenant_id: uuid.UUID) -> list[Any]:
    from csms.irve import point_lines

    async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
        return await point_lines(session, tenant_id)


def _rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def _assert_valid(kind: str, body: bytes, tmp_path: Path) -> None:
    from frictionless import Resource, Schema

    path = tmp_path / f"irve-{kind}.csv"
    path.write_bytes(body)
    schema = Schema.from_descriptor(json.loads((SCHEMAS / f"schema-{kind}.json").read_text()))
    report = Resource(path=path.name, basepath=str(tmp_path), schema=schema).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


async def _publish(client: Any, tenant_id: uuid.UUID, points: dict[str, str], **overrides: str) -> Any:
    await login_as(client, CPAM_ADMIN)
    page = f"/t/{tenant_id}/donnees-ouvertes"
    data = {**PUBLISHER, **overrides, **{f"public-{pid}": "1" for pid in points},
            **{f"id-{pid}": given for pid, given in points.items()}}
    return await form_post(client, page, page, data)


async def test_the_admin_publishes_public_points_at_stable_urls_valid_against_the_schema(client, db, demo, tmp_path):
    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    lines = await _lines(db, tenant_id)
    assert len(lines) >= 3
    public, private = lines[:-1], lines[-1]
    url = f"/open-data/{tenant_id}/irve-statique.csv"
    assert (await client.get(url)).status_code == 404  # not published yet

    answer = await _publish(client, tenant_id, {str(line.point_id): "" for line in public})
    assert answer.status_code == 303, page_text(answer)[:2000]
    page = page_text(await client.get(f"/t/{tenant_id}/donnees-ouvertes"))
    assert f"http://testserver.local/open-data/{tenant_id}/irve-statique.csv" in page or url in page
    assert f"{len(public)} points de charge publiés" in page and "Aucune anomalie" in page

    client.cookies.clear()  # the public: no session
    static = await client.get(url)
    assert static.status_code == 200 and static.headers["content-type"].startswith("text/csv")
    assert static.headers["cache-control"] == "public, max-age=300"
    assert static.headers["etag"].startswith('"') and static.headers["last-modified"].endswith("GMT")
    assert "set-cookie" not in static.headers
    _assert_valid("statique", static.content, tmp_path)
    rows = _rows(static.content)
    # Only the public points, with the AFIREV form of their identifiers (operator code A68).
    assert {r["id_pdc_itinerance"] for r in rows} == {f"FRA68E{line.point_canonical[2:]}" for line in public}
    assert all(r["id_station_itinerance"].startswith("FRA68P") for r in rows)
    assert f"FRA68E{private.point_canonical[2:]}" not in static.text
    assert {r["contact_operateur"] for r in rows} == {"irve@cpam72.fr"}
    assert {r["nom_enseigne"] for r in rows} == {"Recharge CPAM de la Sarthe"}
    lon, lat = json.loads(rows[0]["coordonneesXY"])
    assert (lon, lat) == (0.2132, 48.0061)  # [longitude, latitude]

    dynamic = await client.get(f"/open-data/{tenant_id}/irve-dynamique.csv")
    assert dynamic.status_code == 200 and dynamic.headers["cache-control"] == "public, max-age=60"
    _assert_valid("dynamique", dynamic.content, tmp_path)
    assert {r["id_pdc_itinerance"] for r in _rows(dynamic.content)} == {r["id_pdc_itinerance"] for r in rows}

    # Conditional requests: nothing changed, nothing sent again.
    again = await client.get(url, headers={"If-None-Match": static.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == static.headers["etag"]
    since = await client.get(url, headers={"If-Modified-Since": static.headers["last-modified"]})
    assert since.status_code == 304
    assert (await client.get(url, headers={"If-None-Match": '"autre"'})).status_code == 200


async def test_a_tenant_that_does_not_publish_is_a_404_and_so_is_a_withdrawn_one(client, db, demo):
    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    other = demo["tenant_ids"]["commune"]
    for name in ("irve-statique.csv", "irve-dynamique.csv"):
        assert (await client.get(f"/open-data/{other}/{name}")).status_code == 404
        assert (await client.get(f"/open-data/{uuid.uuid4()}/{name}")).status_code == 404
    lines = await _lines(db, tenant_id)
    assert (await _publish(client, tenant_id, {str(lines[0].point_id): ""})).status_code == 303
    assert (await client.get(f"/open-data/{tenant_id}/irve-statique.csv")).status_code == 200
    assert (await _publish(client, tenant_id, {str(lines[0].point_id): ""}, published="")).status_code == 303
    assert (await client.get(f"/open-data/{tenant_id}/irve-statique.csv")).status_code == 404
    # Another tenant's admin does not see the page (404, like an unknown tenant).
    await login_as(client, "admin@villeurbanne.demo")
    assert (await client.get(f"/t/{tenant_id}/donnees-ouvertes")).status_code == 404


async def test_wrong_identifiers_are_refused_with_french_messages_and_nothing_is_saved(client, db, demo):
    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    first, second, *_ = await _lines(db, tenant_id)
    # Another operator's code.
    answer = await _publish(client, tenant_id, {str(first.point_id): "FRB12E1234", str(second.point_id): ""})
    assert answer.status_code == 422
    assert "doit commencer par « FRA68E »" in page_text(answer)
    # One identifier for two points: the national file's second most frequent defect.
    answer = await _publish(client, tenant_id, {str(first.point_id): "FRA68E1", str(second.point_id): "FRA68E1"})
    assert answer.status_code == 422 and "il doit être unique" in page_text(answer)
    answer = await _publish(client, tenant_id, {str(first.point_id): ""}, contact_operateur="", operator_code="FR1")
    text = page_text(answer)
    assert answer.status_code == 422 and "obligatoire dans le schéma IRVE" in text and "3 caractères" in text
    assert (await client.get(f"/open-data/{tenant_id}/irve-statique.csv")).status_code == 404
    # A given identifier of the right form is published as given.
    answer = await _publish(client, tenant_id, {str(first.point_id): "FRA68E72181CPAM01"})
    assert answer.status_code == 303
    body = (await client.get(f"/open-data/{tenant_id}/irve-statique.csv")).text
    assert [r["id_pdc_itinerance"] for r in _rows(body.encode())] == ["FRA68E72181CPAM01"]


async def test_a_swapped_pair_of_coordinates_is_refused_and_reported(client, db, demo):
    from tenants.models import Site

    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    lines = await _lines(db, tenant_id)
    async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
        site = (await session.scalars(select(Site).where(Site.tenant_id == tenant_id))).first()
        site.latitude, site.longitude = 0.2132, 48.0061  # typed the wrong way round
    answer = await _publish(client, tenant_id, {str(line.point_id): "" for line in lines})
    assert answer.status_code == 303
    page = page_text(await client.get(f"/t/{tenant_id}/donnees-ouvertes"))
    assert "latitude et longitude inversées" in page and "France métropolitaine" in page
    assert "0 point de charge publié" in page
    assert _rows((await client.get(f"/open-data/{tenant_id}/irve-statique.csv")).content) == []


async def test_a_registry_change_rewrites_the_static_file_through_the_outbox(client, db, demo, settings):
    from app.outbox import Relay
    from csms.domain import registry
    from csms.domain.models import Charger
    from csms.opendata import SUBSCRIBERS

    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    lines = await _lines(db, tenant_id)
    assert (await _publish(client, tenant_id, {str(line.point_id): "" for line in lines})).status_code == 303
    url = f"/open-data/{tenant_id}/irve-statique.csv"
    before = await client.get(url)
    relay = Relay(db, settings=settings, subscribers=SUBSCRIBERS)
    await relay.run_once()  # whatever the demo left in the outbox
    assert (await client.get(url)).headers["etag"] == before.headers["etag"]

    async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
        charger = (await session.scalars(select(Charger).where(Charger.tenant_id == tenant_id,
                                                               Charger.charge_box_id == "CPAM-LM-02"))).one()
        await registry.update_charger(session, tenant_id, charger, {"power_kw": "11"})
    assert (await client.get(url)).headers["etag"] == before.headers["etag"]  # not yet: after the commit
    done = await relay.run_once()
    assert done.delivered == 1
    after = await client.get(url)
    assert after.headers["etag"] != before.headers["etag"]
    powers = {r["id_pdc_local"]: r["puissance_nominale"] for r in _rows(after.content)}
    assert "11" in powers.values()
    # Idempotent: the same registry writes the same bytes, ETag and Last-Modified kept.
    from csms.opendata import regenerate

    async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
        await regenerate(session, tenant_id, now=utcnow() + dt.timedelta(minutes=5))
    same = await client.get(url)
    assert (same.headers["etag"], same.headers["last-modified"]) == (after.headers["etag"], after.headers["last-modified"])


async def test_the_minute_job_publishes_the_states(client, db, demo, settings):
    from app.composition import schedules
    from app.schedule import Scheduler
    from csms.domain.models import ChargePoint
    from csms.opendata import publish_all

    schedule = next(s for s in schedules() if s.name == "csms.open-data")
    assert schedule.every == dt.timedelta(minutes=1)

    class Jobs:
        def __init__(self) -> None:
            self.sent: list[str] = []

        async def enqueue(self, name: str, **kwargs: Any) -> None:
            self.sent.append(name)

    jobs = Jobs()
    await Scheduler(db, jobs, [schedule]).run_due()
    assert jobs.sent == [schedule.actor]

    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    lines = await _lines(db, tenant_id)
    assert (await _publish(client, tenant_id, {str(line.point_id): "" for line in lines})).status_code == 303
    async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
        point = await session.get(ChargePoint, (tenant_id, lines[0].point_id))
        point.last_status, point.last_status_at = "Charging", utcnow()
    assert tenant_id in await publish_all(db, utcnow())
    rows = {r["id_pdc_itinerance"]: r for r in _rows((await client.get(
        f"/open-data/{tenant_id}/irve-dynamique.csv")).content)}
    charging = rows[f"FRA68E{lines[0].point_canonical[2:]}"]
    assert (charging["etat_pdc"], charging["occupation_pdc"]) == ("en_service", "occupe")
