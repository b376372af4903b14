"""The reversibility export (issue 16 §1; CCTP CPAM 6-1: « l'ensemble des données […] dans un format standard
lisible »; CCTP CANUT 5.7; CCP TGD V.4): every tenant table of the registry in CSV and JSON Lines, a manifest whose
counts and hashes are right, no secret, raw CSV, the stations valid against the etalab schema-irve; the admin's
button, its job, its link and its mail; another tenant's admin gets 404."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.db import TENANT_TABLES, Database, utcnow
from tests.conftest import form_post, login_as

SCHEMAS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "schema-irve"
CPAM_ADMIN = "admin@cpam72.demo"


async def _export(db: Database, settings: Any, tenant_id: uuid.UUID, **options: Any) -> zipfile.ZipFile:
    from tenants.reversibility.service import build_archive

    buffer = io.BytesIO()
    await build_archive(db, settings, tenant_id, buffer, now=utcnow(), **options)
    buffer.seek(0)
    return zipfile.ZipFile(buffer)


def _manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    return json.loads(archive.read("manifest.json"))


async def test_every_tenant_table_is_exported_with_its_rows_counted_and_hashed(settings, db, demo):
    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    archive = await _export(db, settings, tenant_id)
    manifest = _manifest(archive)
    names = set(archive.namelist())
    # From the registry: a tenant table added later and not exported fails here.
    missing = [t for t in TENANT_TABLES if f"tables/{t}.csv" not in names or f"tables/{t}.jsonl" not in names]
    assert not missing, f"tenant tables missing from the export: {missing}"
    assert manifest["format_version"] == 1 and manifest["tenant"]["id"] == str(tenant_id)
    assert manifest["application"]["name"] == "centrale" and manifest["generated_at"].endswith("+00:00")
    # Every file of the archive is in the manifest with its right size, hash and row count.
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == names - {"manifest.json"}
    for path, facts in listed.items():
        content = archive.read(path)
        assert hashlib.sha256(content).hexdigest() == facts["sha256"], path
        assert len(content) == facts["bytes"], path
        if path.endswith(".csv") and path.startswith("tables/"):
            assert len(list(csv.reader(io.StringIO(content.decode())))) - 1 == facts["rows"], path
        if path.endswith(".jsonl"):
            assert len(content.splitlines()) == facts["rows"], path
    # The counts are the tenant's rows, no other tenant's.
    async with db.session([tenant_id]) as session:
        for table in ("meter_values", "charging_transactions", "sites", "memberships", "purchase_orders",
                      "incident_tickets", "audit_events"):
            count = await session.scalar(text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"),  # noqa: S608
                                         {"t": tenant_id if settings.database_url.startswith("postgres")
                                          else tenant_id.hex})
            assert manifest["tables"][table]["rows"] == count, table
            assert count > 0 or table not in ("meter_values", "sites", "memberships", "audit_events"), table
    other = demo["tenant_ids"]["chr"]
    assert other not in archive.read("tables/sites.csv").decode()
    # The tenant's own row, and the platform rows an importer needs: its central, agreement, users.
    assert manifest["tables"]["tenants"]["rows"] == 1
    for table in ("centrals", "framework_agreements", "subscriptions", "users"):
        assert manifest["tables"][table]["rows"] >= 1, table
    users = archive.read("tables/users.jsonl").decode()
    assert CPAM_ADMIN in users and "admin@chr-metz.demo" not in users
    # CSV and JSON Lines say the same rows in the same (primary-key) order.
    lines = [json.loads(line) for line in archive.read("tables/sites.jsonl").splitlines()]
    rows = list(csv.DictReader(io.StringIO(archive.read("tables/sites.csv").decode())))
    assert [r["id"] for r in rows] == [line["id"] for line in lines] == sorted(line["id"] for line in lines)
    readme = archive.read("LISEZMOI.md").decode()
    assert "`meter_values`" in readme and "| `password_hash` | | non exportée" in readme


async def test_two_exports_give_the_same_files_apart_from_generated_at(settings, db, demo):
    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    first = _manifest(await _export(db, settings, tenant_id))
    second = _manifest(await _export(db, settings, tenant_id))
    strip = [{k: v for k, v in f.items()} for f in first["files"] if f["path"] != "LISEZMOI.md"]
    assert strip == [f for f in second["files"] if f["path"] != "LISEZMOI.md"]


async def test_no_secret_leaves_in_clear(settings, db, demo):
    from tenants import services

    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([tenant_id]) as session:
        admin = await services.find_user_by_email(session, CPAM_ADMIN)
        _row, token = await services.create_api_token(session, admin, name="secret")
    async with db.session([tenant_id]) as session:
        user_hash = await session.scalar(text("SELECT password_hash FROM users WHERE email = :e"), {"e": CPAM_ADMIN})
        token_hashes = list(await session.scalars(text("SELECT token_hash FROM api_tokens")))
        charger_hashes = list(await session.scalars(text("SELECT password_hash FROM chargers WHERE tenant_id = :t"),
                                                    {"t": tenant_id if settings.database_url.startswith("postgres")
                                                     else tenant_id.hex}))
    assert user_hash and token_hashes and charger_hashes
    archive = await _export(db, settings, tenant_id)
    everything = b"".join(archive.read(n) for n in archive.namelist())  # bytes: the documents are binary
    assert user_hash.encode() not in everything and token.encode() not in everything
    assert not any(h.encode() in everything for h in token_hashes)
    assert "tables/api_tokens.csv" not in archive.namelist()
    assert "tables/password_reset_tokens.csv" not in archive.namelist()
    assert "tables/mail_outbox.csv" not in archive.namelist()
    # The stations keep their password hash: they connect to the next instance with the password they hold.
    assert all(h.encode() in everything for h in charger_hashes)
    omitted = _manifest(archive)["tables"]
    assert "password_hash" in omitted["users"]["omitted_columns"]
    assert "token_hash" in omitted["membership_invitations"]["omitted_columns"]
    assert "client_secret_encrypted" in omitted["oidc_providers"]["omitted_columns"]
    # The operator may ask for the users' hashes (their passwords then work on the next instance).
    with_hashes = await _export(db, settings, tenant_id, password_hashes=True)
    assert user_hash in with_hashes.read("tables/users.jsonl").decode()


async def test_csv_is_raw_data_not_formula_escaped(settings, db, demo):
    from tenants import services

    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([tenant_id]) as session:
        tenant = await services.get_tenant(session, tenant_id)
        await services.create_site(session, tenant_id, {"name": '=HYPERLINK("http://x.example","a,b")',
                                                        "insee_code": tenant.insee_code or "72181"})
    archive = await _export(db, settings, tenant_id)
    rows = list(csv.DictReader(io.StringIO(archive.read("tables/sites.csv").decode())))
    assert '=HYPERLINK("http://x.example","a,b")' in [r["name"] for r in rows]  # RFC 4180 quoting, no apostrophe
    assert b"\r\n" in archive.read("tables/sites.csv")
    assert "n'est pas neutralisée" in archive.read("LISEZMOI.md").decode()


async def test_the_stations_are_valid_schema_irve_files(settings, db, demo, tmp_path):
    from frictionless import Resource, Schema

    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    archive = await _export(db, settings, tenant_id)
    listed = {f["path"]: f for f in _manifest(archive)["files"]}
    for kind in ("statique", "dynamique"):
        path = tmp_path / f"irve-{kind}.csv"
        path.write_bytes(archive.read(f"formats/irve/irve-{kind}.csv"))
        assert listed[f"formats/irve/irve-{kind}.csv"]["rows"] > 0
        schema = Schema.from_descriptor(json.loads((SCHEMAS / f"schema-{kind}.json").read_text()))
        report = Resource(path=path.name, basepath=str(tmp_path), schema=schema).validate()
        assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    static = list(csv.DictReader(io.StringIO(archive.read("formats/irve/irve-statique.csv").decode())))
    # One line per charge point; longitude first (the national file's most frequent defect is the order).
    assert len({r["id_pdc_itinerance"] for r in static}) == len(static)
    lon, lat = json.loads(static[0]["coordonneesXY"])
    assert -6 < lon < 10 and 41 < lat < 52


async def test_the_undescribed_columns_are_listed(settings, db, demo):
    """The gap, kept visible: the columns LISEZMOI can only describe by their type. Printed with ``-rP``; the
    export's own table has every column described."""
    from app import composition
    from tenants.reversibility.readme import undescribed_columns

    reader = composition.audit_reader()
    metadata = composition.metadata()
    gap = undescribed_columns(metadata, TENANT_TABLES, reader=reader)
    print(f"{len(gap)} colonnes sans description :", *gap, sep="\n  ")  # noqa: T201
    assert not [c for c in gap if c.startswith("tenant_exports.")]
    assert len(gap) < sum(len(metadata.tables[t].columns) for t in TENANT_TABLES)


async def _drain(client: Any, app: Any) -> None:
    await asyncio.to_thread(client.blocking_portal.call, app.state.jobs.drain)


async def test_the_admin_asks_follows_and_downloads_and_another_tenant_gets_404(app, client, settings, db, demo):
    from app.mail import OutboxMessage

    cpam = demo["tenant_ids"]["cpam"]
    base = f"/t/{cpam}/reversibilite"
    await login_as(client, CPAM_ADMIN)
    page = await client.get(base)
    assert page.status_code == 200 and "Préparer l'export de réversibilité" in page.text
    asked = await form_post(client, base, base, {})
    assert asked.status_code in (302, 303), asked.text
    await _drain(client, app)
    page = await client.get(base)
    assert "Prête" in page.text and "Télécharger l'archive" in page.text
    async with db.session([uuid.UUID(cpam)]) as session:
        export_id = await session.scalar(text("SELECT id FROM tenant_exports"))
        mails = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.to == CPAM_ADMIN)))
        audited = await session.scalar(select(func.count()).select_from(text("audit_events")).where(
            text("entity = 'tenant_exports'")))
    export_id = uuid.UUID(str(export_id)) if len(str(export_id)) != 32 else uuid.UUID(hex=str(export_id))
    assert any("réversibilité est prêt" in m.subject for m in mails)
    link = f"{base}/{export_id}/archive.zip"
    got = await client.get(link)
    assert got.status_code == 200 and got.content[:2] == b"PK"
    assert "reversibilite-" in got.headers["content-disposition"]
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(got.content)).read("manifest.json"))
    assert manifest["tenant"]["id"] == cpam
    assert audited >= 2  # asked (created), made ready (updated)
    # A viewer of the same tenant may not export.
    await login_as(client, "visu@cpam72.demo")
    assert (await client.get(base)).status_code == 403
    # Another tenant's admin: the page, the request and the link read like unknown ones.
    await login_as(client, "admin@chr-metz.demo")
    assert (await client.get(base)).status_code == 404
    assert (await client.get(link)).status_code == 404
    chr_ = demo["tenant_ids"]["chr"]
    assert (await client.get(f"/t/{chr_}/reversibilite/{export_id}/archive.zip")).status_code == 404
    refused = await form_post(client, f"/t/{chr_}/reversibilite", base, {})
    assert refused.status_code == 404


async def test_the_link_expires(app, client, settings, db, demo):
    from tenants.reversibility.service import LINK_VALIDITY, expire_exports

    cpam = demo["tenant_ids"]["cpam"]
    base = f"/t/{cpam}/reversibilite"
    await login_as(client, CPAM_ADMIN)
    await form_post(client, base, base, {})
    await _drain(client, app)
    removed = await expire_exports(db, settings, now=utcnow() + LINK_VALIDITY + LINK_VALIDITY)
    assert removed == 1
    page = await client.get(base)
    assert "Expirée" in page.text and "Télécharger l'archive" not in page.text
    assert not list((settings.var_dir / "exports" / cpam).glob("*.zip"))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_command_line_writes_the_archive(centrale, settings, demo, tmp_path):
    out = tmp_path / "cpam.zip"
    result = await centrale("export", "tenant", demo["tenant_ids"]["cpam"], "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["tables"] >= len(TENANT_TABLES) and out.is_file()
    assert "manifest.json" in zipfile.ZipFile(out).namelist()
    unknown = await centrale("export", "tenant", str(uuid.uuid4()), "--out", str(tmp_path / "x.zip"))
    assert unknown.exit_code != 0 and "introuvable" in unknown.output
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_postgres_copy_writes_the_same_bytes_as_the_python_writer(settings, db, demo, monkeypatch):
    """The fast path (PostgreSQL formats the rows itself with COPY) and the generic one give the same files."""
    from tenants import services
    from tenants.reversibility import archive as archive_module

    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([tenant_id]) as session:  # quotes, commas, a line break, an empty string, a float
        tenant = await services.get_tenant(session, tenant_id)
        await services.create_site(session, tenant_id, {"name": 'Le "Nord", bâtiment\nB', "address": "",
                                                        "insee_code": tenant.insee_code or "72181",
                                                        "latitude": "48.5", "longitude": "0.25"})
    fast = _manifest(await _export(db, settings, tenant_id))
    copied = [t for t, facts in fast["tables"].items() if archive_module._copy_queries(  # noqa: SLF001
        next(p for p in await _plans(db, tenant_id) if p.name == t)) is not None]
    assert {"meter_values", "sites", "charging_transactions"} <= set(copied)
    monkeypatch.setattr(archive_module, "_copy_queries", lambda plan: None)
    slow = _manifest(await _export(db, settings, tenant_id))
    by_path = {f["path"]: f for f in slow["files"]}
    differ = [f["path"] for f in fast["files"] if f["path"] != "LISEZMOI.md" and by_path[f["path"]] != f]
    assert not differ


async def _plans(db: Database, tenant_id: uuid.UUID) -> list[Any]:
    from app import composition
    from tenants.reversibility.archive import plan_tables

    async with db.session([tenant_id]) as session:
        return await plan_tables(session, composition.metadata(), tenant_id)
