"""The import of a tenant's reversibility archive into another instance (issue 16 §2; CCTP CPAM 6-1: « l'ensemble
des données […] restituées […] dans un format standard lisible » for the buyer « ou le prochain titulaire »;
CCTP CANUT 5.7; CCP TGD V.4): a bad archive is refused with its French report and nothing written; the tenant is
restored with its ids and timestamps, so that export → import → export gives the same files; SQLite and
PostgreSQL both ways; a station connects to the new instance with its old password; the attachments are back in
the file store; the users have no usable password unless the operator asks for the hashes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import shutil
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import TENANT_TABLES, Database, utcnow
from app.settings import Settings
from tests.conftest import APP_ROLE, make_settings

CPAM_ADMIN = "admin@cpam72.demo"
PDF = b"%PDF-1.4\n% piece jointe de test\n%%EOF\n"


@dataclasses.dataclass
class Target:
    settings: Settings
    db: Database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Another instance: an empty, migrated database of its own and its own file store."""
    folder = tmp_path / "cible"
    folder.mkdir()
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), folder / "centrale.db")
        yield make_settings(folder)
        return
    server = request.getfixturevalue("pg_server")
    name = server.create_db()
    try:
        yield make_settings(folder, database_url=server.url(name, APP_ROLE),
                            database_admin_url=server.url(name, "postgres"))
    finally:
        server.drop_db(name)


@pytest.fixture
async def target(target_settings: Settings) -> AsyncIterator[Target]:
    database = Database(target_settings.database_url, pool_size=2)
    yield Target(target_settings, database)
    await database.dispose()


async def _export(db: Database, settings: Settings, tenant_id: uuid.UUID, out: Path, **options: Any) -> Path:
    from tenants.reversibility.service import build_archive

    with out.open("wb") as handle:
        await build_archive(db, settings, tenant_id, handle, now=utcnow(), **options)
    return out


async def _everything(settings: Settings, db: Database, demo: dict[str, Any]) -> uuid.UUID:
    """The CPAM tenant with every kind of object: the demo's stations, transactions, meter values, badges, tickets
    and their events (and the ordering demo: orders, an amendment, deliveries and their verification, an invoice),
    plus an attachment, an asset and the year's maintenance-report review."""
    from app.composition import load_demo
    from assets.services import create_asset
    from incidents import tickets
    from incidents.models import Ticket
    from reporting.maintenance_web import save_review

    await load_demo(dataclasses.replace(settings, demo_ordering=True), db)
    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.tenant_id == tenant_id).order_by(Ticket.id).limit(1))
        assert ticket is not None
        await tickets.add_attachment(session, ticket, var_dir=settings.var_dir, filename="constat.pdf",
                                     content_type="application/pdf", content=PDF)
        await create_asset(session, tenant_id, {"kind": "server", "serial_number": "SRV-0001", "maker": "HPE",
                                                "model": "DL380", "warranty_end": "2028-06-30"})
        await save_review(session, tenant_id, 2026, {"analyse": "Année sans incident majeur.",
                                                     "recommandations": "Renouveler les badges."},
                          by="test", now=utcnow())
    return tenant_id


def _files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _same_but_generated_at(first: dict[str, bytes], second: dict[str, bytes]) -> None:
    assert set(first) == set(second)
    differ = [p for p in first if p not in ("manifest.json", "LISEZMOI.md") and first[p] != second[p]]
    assert not differ, differ
    one, two = json.loads(first["manifest.json"]), json.loads(second["manifest.json"])
    made = one.pop("generated_at").encode(), two.pop("generated_at").encode()
    for facts in (*one["files"], *two["files"]):  # LISEZMOI.md holds generated_at: its hash differs
        if facts["path"] == "LISEZMOI.md":
            facts.pop("sha256")
    assert one == two
    # LISEZMOI.md says when the archive was made; the rest is the same.
    assert first["LISEZMOI.md"].replace(made[0], b"") == second["LISEZMOI.md"].replace(made[1], b"")


@pytest.fixture
def facturx_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``factur-x`` library stamps an invoice's PDF (its /CreationDate, /ModDate and XMP dates) with the time it
    runs, not the invoice's: two exports a second apart differ in ``documents/billing/factures/*.pdf`` whatever the
    import does. Its clock is held still here so that the round trip is compared byte for byte on every file."""
    import facturx.facturx as library

    class Still(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC).astimezone(tz)

    monkeypatch.setattr(library, "datetime", Still)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_export_import_export_gives_the_same_files_both_ways_between_sqlite_and_postgres(
        settings, db, demo, target, tmp_path, facturx_clock):
    from incidents.models import Attachment
    from incidents.tickets import attachment_path
    from tenants.models import User
    from tenants.reversibility.service import restore_archive

    tenant_id = await _everything(settings, db, demo)
    first = await _export(db, settings, tenant_id, tmp_path / "source.zip")
    manifest = json.loads(zipfile.ZipFile(first).read("manifest.json"))
    kinds = ("chargers", "charging_transactions", "meter_values", "badges", "incident_tickets",
             "incident_ticket_events", "incident_attachments", "assets", "purchase_orders",
             "purchase_order_amendments", "deliveries", "invoices", "invoice_lines", "maintenance_report_reviews")
    assert all(manifest["tables"][t]["rows"] > 0 for t in kinds), {t: manifest["tables"][t]["rows"] for t in kinds}

    result = await restore_archive(target.db, target.settings, first)
    assert result.tenant_id == tenant_id and result.files == 1
    assert result.inserted["meter_values"] == manifest["tables"]["meter_values"]["rows"]

    second = await _export(target.db, target.settings, tenant_id, tmp_path / "cible.zip")
    _same_but_generated_at(_files(first), _files(second))
    # The attachment is in the new instance's file store, byte for byte.
    async with target.db.session([tenant_id]) as session:
        attachment = await session.scalar(select(Attachment).where(Attachment.tenant_id == tenant_id))
        assert attachment_path(target.settings.var_dir, attachment).read_bytes() == PDF
        # CCTP CPAM 6-1 « sans perte »: the accounts are there, without a usable password (no hash crossed).
        admin = await session.scalar(select(User).where(User.email == CPAM_ADMIN))
        assert admin is not None and admin.password_hash is None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_bad_archive_is_refused_with_its_report_and_nothing_is_written(settings, db, demo, target, tmp_path,
                                                                              centrale):
    """Changed byte, missing file, unknown format version, newer schema, dangling foreign key: each refused, in
    French, and the target holds no row more (checked from the registry of tenant tables)."""
    from tenants.reversibility.restore import ArchiveRefused
    from tenants.reversibility.service import restore_archive

    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    good = await _export(db, settings, tenant_id, tmp_path / "bonne.zip")
    files = _files(good)
    manifest = json.loads(files["manifest.json"])

    def variant(name: str, change: Any) -> Path:
        altered = dict(files)
        change(altered)
        path = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for entry, content in altered.items():
                archive.writestr(entry, content)
        return path

    def flip(altered: dict[str, bytes]) -> None:
        content = bytearray(altered["tables/sites.jsonl"])
        content[10] ^= 0x01
        altered["tables/sites.jsonl"] = bytes(content)

    def with_manifest(**changes: Any) -> Any:
        def change(altered: dict[str, bytes]) -> None:
            altered["manifest.json"] = json.dumps({**manifest, **changes}).encode()
        return change

    def dangling(altered: dict[str, bytes]) -> None:
        # A charge point pointing at a charger the archive does not hold; its file re-hashed, so that only the
        # foreign-key check can see it.
        import hashlib

        lines = altered["tables/charge_points.jsonl"].decode().splitlines()
        row = json.loads(lines[0])
        row["charger_id"] = str(uuid.uuid4())
        lines[0] = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
        content = ("\n".join(lines) + "\n").encode()
        altered["tables/charge_points.jsonl"] = content
        facts = [dict(f, sha256=hashlib.sha256(content).hexdigest(), bytes=len(content))
                 if f["path"] == "tables/charge_points.jsonl" else f for f in manifest["files"]]
        altered["manifest.json"] = json.dumps({**manifest, "files": facts}).encode()

    cases = {
        "octet": (flip, "tables/sites.jsonl : empreinte SHA-256 différente"),
        "manquant": (lambda a: a.pop("tables/meter_values.jsonl"), "fichier manquant : tables/meter_values.jsonl"),
        "version": (with_manifest(format_version=99), "version de format 99 non prise en charge"),
        "schema": (with_manifest(application={**manifest["application"], "schema_revision": "9999"}),
                   "schéma plus récent (révision 9999"),
        "cle": (dangling, "charge_points.tenant_id+charger_id : 1 référence(s) vers chargers introuvable(s)"),
    }
    before = await _row_counts(target.db)
    for name, (change, expected) in cases.items():
        with pytest.raises(ArchiveRefused) as refused:
            await restore_archive(target.db, target.settings, variant(name, change))
        assert any(expected in p for p in refused.value.problems), (name, refused.value.problems)
    assert await _row_counts(target.db) == before
    assert not (target.settings.var_dir / "attachments").exists()
    # The command line says the same, with status 2 (here on the source instance: the tenant exists already).
    result = await centrale("import", "tenant", str(variant("octet", flip)))
    assert result.exit_code == 2 and "archive refusée, rien n'a été écrit" in result.output
    assert "empreinte SHA-256 différente" in result.output
    again = await centrale("import", "tenant", str(good), "--json")
    assert again.exit_code == 2 and "existe déjà sur cette instance" in again.output


async def _row_counts(db: Database) -> dict[str, int]:
    from app import composition
    from app.db import unscoped

    tables = composition.metadata().tables
    async with db.session(list(await _tenant_ids(db))) as session:
        with unscoped(session):
            return {name: int(await session.scalar(select(func.count()).select_from(tables[name])) or 0)
                    for name in sorted({*TENANT_TABLES, "tenants", "users", "centrals"})}


async def _tenant_ids(db: Database) -> list[uuid.UUID]:
    from tenants.services import all_tenant_ids

    async with db.session() as session:
        return list(await all_tenant_ids(session))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_platform_rows_merge_when_identical_and_refuse_when_they_differ(settings, db, demo, target, tmp_path):
    """A platform row the archive needs may already be on the target (the titulaire's operator, member of several
    beneficiaries): the same row is merged, a different one is refused by name and column."""
    from sqlalchemy import update

    from tenants.models import User
    from tenants.reversibility.restore import ArchiveRefused
    from tenants.reversibility.service import restore_archive

    ids = {name: uuid.UUID(value) for name, value in demo["tenant_ids"].items()}
    await restore_archive(target.db, target.settings, await _export(db, settings, ids["cpam"], tmp_path / "cpam.zip"))
    commune = await restore_archive(target.db, target.settings,
                                    await _export(db, settings, ids["commune"], tmp_path / "commune.zip"))
    assert commune.merged == {"users": 1}  # the operator both beneficiaries share, already there and the same
    cpam_users = {json.loads(line)["id"] for line in zipfile.ZipFile(tmp_path / "cpam.zip")
                  .read("tables/users.jsonl").splitlines()}
    chr_archive = tmp_path / "chr.zip"
    await _export(db, settings, ids["chr"], chr_archive)
    shared = next(json.loads(line)["id"] for line in zipfile.ZipFile(chr_archive).read("tables/users.jsonl")
                  .splitlines() if json.loads(line)["id"] in cpam_users)
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:  # it changes on the source
        await session.execute(update(User).where(User.id == uuid.UUID(shared)).values(full_name="Nom changé"))
    before = await _row_counts(target.db)
    with pytest.raises(ArchiveRefused) as refused:
        await restore_archive(target.db, target.settings, await _export(db, settings, ids["chr"], chr_archive))
    assert any(p.startswith(f"users {shared} : existe déjà sur cette instance avec un contenu différent (colonnes"
                            " full_name)") for p in refused.value.problems), refused.value.problems
    assert await _row_counts(target.db) == before


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("target_settings", ["sqlite"], indirect=True)
async def test_user_password_hashes_cross_only_when_asked(settings, db, demo, target, tmp_path, centrale):
    from tenants import services
    from tenants.reversibility.restore import ArchiveRefused
    from tenants.reversibility.service import restore_archive

    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    plain = await _export(db, settings, tenant_id, tmp_path / "sans.zip")
    with pytest.raises(ArchiveRefused) as refused:
        await restore_archive(target.db, target.settings, plain, password_hashes=True)
    assert "l'archive n'en contient pas" in refused.value.problems[0]
    hashed = await _export(db, settings, tenant_id, tmp_path / "avec.zip", password_hashes=True)
    result = await restore_archive(target.db, target.settings, hashed, password_hashes=True)
    assert result.password_hashes
    async with db.session() as session, target.db.session() as other:
        ours = await services.find_user_by_email(session, CPAM_ADMIN)
        theirs = await services.find_user_by_email(other, CPAM_ADMIN)
        assert theirs.password_hash == ours.password_hash and theirs.password_hash


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_station_connects_to_the_new_instance_with_its_old_password(settings, db, demo, target, tmp_path):
    """CCTP CPAM 6-1 (continuity with the next holder): the charger's Basic-auth hash crossed, its history is
    there and it goes on charging on the new instance over a real OCPP 1.6 socket."""
    from ocpp.v16 import call

    from app.bus import LocalBus
    from csms.demo import DEMO_STATION_PASSWORD
    from csms.ingress.server import Ingress
    from tenants.reversibility.service import restore_archive
    from tests.csms.conftest import open_socket, station

    tenant_id = uuid.UUID(demo["tenant_ids"]["cpam"])
    archive = await _export(db, settings, tenant_id, tmp_path / "cpam.zip")
    await restore_archive(target.db, target.settings, archive)
    lines = [json.loads(line) for line in zipfile.ZipFile(archive).read("tables/chargers.jsonl").splitlines()]
    charge_box_id = sorted(line["charge_box_id"] for line in lines)[0]
    server = Ingress(dataclasses.replace(target.settings, ocpp_port=0), db=target.db, bus=LocalBus())
    await server.start()
    try:
        async with station(server.port, charge_box_id, password=DEMO_STATION_PASSWORD) as (cp, wire):
            boot = await cp.call(call.BootNotification(charge_point_vendor="Demo", charge_point_model="AC22"),
                                 suppress=False)
            assert boot.status == "Accepted"
            started = await cp.call(call.StartTransaction(connector_id=1, id_tag=_accepted_badge(archive),
                                                          meter_start=1000, timestamp=_iso(utcnow())), suppress=False)
            assert started.id_tag_info["status"] == "Accepted" and started.transaction_id
        with pytest.raises(Exception) as wrong:  # a wrong password is still refused at the handshake
            await open_socket(server.port, charge_box_id, "pas-le-bon-mot-de-passe")
        assert "401" in str(wrong.value) or "403" in str(wrong.value)
    finally:
        await server.stop()
    from csms.domain.models import Transaction as ChargingTransaction

    async with target.db.session([tenant_id]) as session:
        count = await session.scalar(select(func.count()).select_from(ChargingTransaction)
                                     .where(ChargingTransaction.tenant_id == tenant_id))
    old = json.loads(zipfile.ZipFile(archive).read("manifest.json"))["tables"]["charging_transactions"]["rows"]
    assert count == old + 1  # the history is there, and the new charge after it


def _accepted_badge(archive: Path) -> str:
    rows = [json.loads(line) for line in zipfile.ZipFile(archive).read("tables/badges.jsonl").splitlines()]
    return next(r["id_tag"] for r in rows if r.get("status") == "Accepted")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def test_the_check_is_a_pure_core(tmp_path):
    """No database needed to refuse a file that is not an archive, or one of an unknown format."""
    from app import composition
    from tenants.reversibility.restore import ArchiveRefused, SchemaHistory, check_archive

    history = SchemaHistory("0001", frozenset({"0001"}), frozenset({"0001"}))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "autre-chose"}))
    with pytest.raises(ArchiveRefused) as refused, zipfile.ZipFile(buffer) as archive:
        check_archive(archive, composition.metadata(), history)
    assert "format inconnu" in refused.value.problems[0]
