"""The destruction of a tenant's data once its reversibility is complete (issue 16 §4; CCP TGD V.4: « les données
[…] sont restituées puis détruites », annexe 2 II.2.4): the admin's typed confirmation and its cooling-off, the
operator's command, no row of the tenant left in any table of the registry, no stored file left, another tenant
untouched, no erased account's e-mail address left in any column of any table (the kept platform log names them by a
pseudonym), a certificate whose Ed25519 signature verifies and fails on any changed byte; audited; another tenant's
admin gets 404."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, String, inspect, text

from app.db import TENANT_TABLES, Database, utcnow
from tests.conftest import form_post, login_as, page_text

CPAM_ADMIN = "admin@cpam72.demo"
CPAM_NAME = "CPAM de la Sarthe"
#: Platform tables whose rows carry the tenant's id and go with it.
TENANT_PLATFORM = ("subscriptions", "building_codes", "charge_box_routes", "oidc_providers", "mail_outbox",
                   "outbox_events")


def _key(settings: Any, tenant_id: uuid.UUID) -> Any:
    return tenant_id if settings.database_url.startswith("postgres") else tenant_id.hex


async def _counts(admin_db: Database, settings: Any, tenant_id: uuid.UUID) -> dict[str, int]:
    """The tenant's rows in every table of the registry and the platform tables carrying its id, read with the
    tables' owner (no row-level security)."""
    out = {}
    async with admin_db.engine.connect() as conn:
        for name in [*sorted(TENANT_TABLES), *TENANT_PLATFORM]:
            out[name] = int(await conn.scalar(text(f'SELECT count(*) FROM "{name}" WHERE tenant_id = :t'),  # noqa: S608
                                              {"t": _key(settings, tenant_id)}))
        out["tenants"] = int(await conn.scalar(text("SELECT count(*) FROM tenants WHERE id = :t"),
                                               {"t": _key(settings, tenant_id)}))
    return out


async def _prepare(db: Database, settings: Any, tenant_id: uuid.UUID) -> tuple[Path, Path]:
    """A ticket's attachment on disk and a finished export's archive, then the admin's confirmation."""
    from incidents.tickets import add_attachment, open_ticket
    from tenants import services
    from tenants.reversibility.destruction import request_destruction
    from tenants.reversibility.models import TenantExport
    from tenants.reversibility.service import archive_path, request_export, run_export

    now = utcnow()
    async with db.transaction([tenant_id], actor={"user_id": None, "label": "test"}) as session:
        ticket = await open_ticket(session, tenant_id, now=now, title="Borne muette", description="", channel="portal")
        attachment = await add_attachment(session, ticket, var_dir=settings.var_dir, filename="photo.png",
                                          content_type="image/png", content=b"\x89PNG\r\n\x1a\n" + b"x" * 100)
        export = await request_export(session, tenant_id, email=CPAM_ADMIN, user_id=None, now=now)
    await run_export(db, settings, tenant_id, export.id)
    async with db.transaction([tenant_id], actor={"user_id": None, "label": CPAM_ADMIN}) as session:
        done = await session.get(TenantExport, (tenant_id, export.id))
        assert done is not None and done.status == "done"
        tenant = await services.get_tenant(session, tenant_id)
        await request_destruction(session, tenant, email=CPAM_ADMIN, user_id=None, typed_name=CPAM_NAME,
                                  received=True, now=now)
    from incidents.tickets import attachment_path

    return attachment_path(settings.var_dir, attachment), archive_path(settings, done)


async def test_destruction_leaves_no_row_no_file_and_a_signed_certificate(settings, db, admin_db, demo):
    from app.signing import public_key_b64, verify_document
    from tenants.reversibility.destruction import COOLING_OFF, destroy_tenant, pseudonym

    cpam, chr_ = uuid.UUID(demo["tenant_ids"]["cpam"]), uuid.UUID(demo["tenant_ids"]["chr"])
    attachment, archive = await _prepare(db, settings, cpam)
    assert attachment.is_file() and archive.is_file()
    before = await _counts(admin_db, settings, cpam)
    other_before = await _counts(admin_db, settings, chr_)
    assert before["meter_values"] > 0 and before["memberships"] > 0 and before["audit_events"] > 0
    assert before["incident_attachments"] == 1 and before["subscriptions"] >= 0

    row = await destroy_tenant(settings, cpam, operator="exploitant-test", confirm=str(cpam),
                               now=utcnow() + COOLING_OFF + dt.timedelta(minutes=1))

    # No row of the tenant in any table of the registry, nor in the platform tables carrying its id.
    after = await _counts(admin_db, settings, cpam)
    assert {k: v for k, v in after.items() if v} == {}
    # No stored file: its attachments and its archives are gone with their folders.
    assert not attachment.exists() and not archive.exists()
    assert not (settings.var_dir / "attachments" / str(cpam)).exists()
    assert not (settings.var_dir / "exports" / str(cpam)).exists()
    # Its only accounts are gone; another tenant's accounts and rows are untouched.
    async with admin_db.engine.connect() as conn:
        emails = set(await conn.scalars(text("SELECT email FROM users")))
    assert CPAM_ADMIN not in emails and "admin@chr-metz.demo" in emails
    assert await _counts(admin_db, settings, chr_) == other_before

    # The certificate: what was erased, per table, the files, who and when, the backups' retention.
    content = row.certificate.encode()
    signed = json.loads(content)
    document = signed["document"]
    assert document["tenant"]["id"] == str(cpam) and document["tenant"]["name"] == CPAM_NAME
    assert document["tenant"]["siret"]
    for name in TENANT_TABLES:
        assert document["erased"]["tables"][name] == before[name], name
    assert document["erased"]["tables"]["tenants"] == 1
    assert document["erased"]["rows"] == sum(before[n] for n in TENANT_TABLES) + 1
    assert document["erased"]["files"] == 2 and document["erased"]["file_bytes"] > 100
    assert document["erased"]["platform_rows"]["users"] >= 1
    assert document["destruction"]["by"] == "exploitant-test"
    assert document["request"]["confirmed_by"] == pseudonym(CPAM_ADMIN)  # an erased account: its pseudonym
    assert document["backups"]["retention_days"] == settings.backup_retention_days
    assert f"{settings.backup_retention_days} jours" in document["backups"]["statement"]
    # Signed with the instance's key, kept outside the tenant (the platform table survives it).
    found = verify_document(content, expected_public_key=public_key_b64(settings))
    assert found.ok and found.instance_key, found.reason
    key_file = settings.var_dir / "keys" / "instance-ed25519.pem"
    assert key_file.is_file() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    # A changed byte anywhere fails it: a count, a space, the signature itself.
    forged = content.replace(f'"meter_values": {before["meter_values"]}'.encode(),
                             f'"meter_values": {before["meter_values"] - 1}'.encode())
    assert forged != content and not verify_document(forged).ok
    for index in (10, len(content) // 2, len(content) - 30):
        changed = bytearray(content)
        changed[index] = (changed[index] + 1) % 256
        assert not verify_document(bytes(changed)).ok, index
    async with admin_db.engine.connect() as conn:
        kept = await conn.scalar(text("SELECT certificate FROM tenant_destructions WHERE status = 'done'"))
        audited = (await conn.execute(text(
            "SELECT action, entity_id FROM platform_audit_events WHERE entity = 'tenants' AND action = 'destroy'"))).all()
    assert kept == row.certificate
    assert [tuple(a) for a in audited] == [("destroy", str(cpam))]
    # The PDF says the same and carries the signature.
    from pypdf import PdfReader

    from tenants.reversibility.certificate import certificate_pdf

    pdf = certificate_pdf(document, signed["signature"])
    assert pdf.startswith(b"%PDF")

    words = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Certificat de destruction" in words and CPAM_NAME in words and signed["signature"]["key_id"] in words


async def test_the_admin_confirms_with_its_name_may_cancel_and_another_tenant_gets_404(
        app, client, settings, db, admin_db, demo):
    cpam, chr_ = demo["tenant_ids"]["cpam"], demo["tenant_ids"]["chr"]
    base = f"/t/{cpam}/reversibilite"
    await login_as(client, CPAM_ADMIN)
    page = await client.get(base)
    assert "Faites d'abord un export de réversibilité" in page_text(page)
    refused = await form_post(client, base, f"{base}/destruction", {"recu": "oui", "nom": CPAM_NAME})
    assert refused.status_code == 422 and "Faites d'abord un export" in page_text(refused)
    await form_post(client, base, base, {})
    await asyncio.to_thread(client.blocking_portal.call, app.state.jobs.drain)
    # The typed name must be the tenant's, the box ticked.
    wrong = await form_post(client, base, f"{base}/destruction", {"recu": "oui", "nom": "CPAM"})
    assert wrong.status_code == 422 and f"« {CPAM_NAME} »" in page_text(wrong)
    unticked = await form_post(client, base, f"{base}/destruction", {"nom": CPAM_NAME})
    assert unticked.status_code == 422 and "Cochez la case" in page_text(unticked)
    asked = await form_post(client, base, f"{base}/destruction", {"recu": "oui", "nom": "  cpam de la sarthe "})
    assert asked.status_code == 303, asked.text[:300]
    page = page_text(await client.get(base))
    assert "Délai de réflexion en cours" in page and "Annuler la demande de destruction" in page
    # Every admin of the tenant is told, with the page where any of them may cancel it.
    async with admin_db.engine.connect() as conn:
        mailed = (await conn.execute(text(
            "SELECT \"to\", body FROM mail_outbox WHERE subject LIKE 'Destruction des données demandée%'"))).all()
    assert CPAM_ADMIN in {m[0] for m in mailed}
    assert all(f"/t/{cpam}/reversibilite#destruction" in m[1] for m in mailed)
    async with admin_db.engine.connect() as conn:
        destruction_id = str(await conn.scalar(text("SELECT id FROM tenant_destructions")))
    destruction_id = str(uuid.UUID(destruction_id))

    # Another tenant's admin: the confirmation and the cancellation read like unknown ones, and change nothing.
    await login_as(client, "admin@chr-metz.demo")
    assert (await form_post(client, f"/t/{chr_}/reversibilite", f"{base}/destruction",
                            {"recu": "oui", "nom": CPAM_NAME})).status_code == 404
    for url in (f"{base}/destruction/{destruction_id}/annuler",
                f"/t/{chr_}/reversibilite/destruction/{destruction_id}/annuler"):
        assert (await form_post(client, f"/t/{chr_}/reversibilite", url, {})).status_code == 404, url
    # A viewer of the tenant may not ask for it either.
    await login_as(client, "visu@cpam72.demo")
    assert (await client.post(f"{base}/destruction", data={"nom": CPAM_NAME})).status_code in (403, 404)

    # The admin cancels; the operator's command then finds nothing to destroy.
    await login_as(client, CPAM_ADMIN)
    cancelled = await form_post(client, base, f"{base}/destruction/{destruction_id}/annuler", {})
    assert cancelled.status_code == 303
    assert "Confirmer et demander la destruction" in page_text(await client.get(base))
    async with admin_db.engine.connect() as conn:
        status = await conn.scalar(text("SELECT status FROM tenant_destructions"))
        tenant_log = sorted(tuple(r) for r in (await conn.execute(text(
            "SELECT action, entity FROM audit_events WHERE entity = 'tenant_destructions'"))).all())
        platform_log = sorted(tuple(r) for r in (await conn.execute(text(
            "SELECT action, entity FROM platform_audit_events WHERE entity = 'tenant_destructions'"))).all())
    assert status == "cancelled"
    assert tenant_log == [("cancel", "tenant_destructions"), ("confirm", "tenant_destructions")]
    assert platform_log == [("create", "tenant_destructions"), ("update", "tenant_destructions")]


async def _where_found(admin_db: Database, words: list[str]) -> dict[tuple[str, str], set[str]]:
    """Per (table, column), which of ``words`` (any case) a row holds, over every text or JSON column of every
    table the database has (read from the database itself, not from the models)."""
    async with admin_db.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"

        def columns(sync: Any) -> dict[str, list[str]]:
            found = inspect(sync)
            return {table: [c["name"] for c in found.get_columns(table)
                            if sqlite or isinstance(c["type"], String | JSON) or "JSON" in str(c["type"])]
                    for table in found.get_table_names()}

        tables = await conn.run_sync(columns)
        assert len(tables) > 60 and sum(map(len, tables.values())) > 300
        hits: dict[tuple[str, str], set[str]] = {}
        for table, names in tables.items():
            for column in names:
                for word in words:
                    count = await conn.scalar(text(
                        f'SELECT count(*) FROM "{table}" WHERE lower(CAST("{column}" AS TEXT)) LIKE :w'),  # noqa: S608
                        {"w": f"%{word.lower()}%"})
                    if count:
                        hits.setdefault((table, column), set()).add(word)
    return hits


async def test_no_erased_address_is_left_in_any_column_and_the_log_names_them_by_pseudonym(
        settings, db, admin_db, demo):
    from tenants.reversibility.destruction import COOLING_OFF, destroy_tenant, pseudonym

    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    await _prepare(db, settings, cpam)
    async with admin_db.engine.connect() as conn:
        accounts = {r[0]: r[1] for r in (await conn.execute(text("SELECT email, full_name FROM users"))).all()}
    erased = sorted(e for e in accounts if e.endswith("@cpam72.demo"))
    assert CPAM_ADMIN in erased and len(erased) >= 3
    before = await _where_found(admin_db, erased)
    # The scan sees them before: the accounts, the platform's log, the destruction request.
    assert ("users", "email") in before and ("tenant_destructions", "requested_by") in before
    assert set(before.get(("platform_audit_events", "after"), ())) == set(erased)

    row = await destroy_tenant(settings, cpam, operator="exploitant-test", confirm=str(cpam),
                               now=utcnow() + COOLING_OFF + dt.timedelta(minutes=1))

    assert await _where_found(admin_db, erased) == {}
    async with admin_db.engine.connect() as conn:
        kept = [(r[0], json.loads(r[1]) if isinstance(r[1], str) else r[1]) for r in (await conn.execute(text(
            "SELECT actor_label, after FROM platform_audit_events WHERE entity = 'users' AND action = 'create'"))).all()]
        requested_by = await conn.scalar(text("SELECT requested_by FROM tenant_destructions"))
    # The log keeps its rows: each erased account's creation, under its pseudonym, its full name gone with it.
    created = {after["email"]: after for _label, after in kept}
    for email in erased:
        assert pseudonym(email) in created, email
        if accounts[email]:
            assert created[pseudonym(email)]["full_name"] == pseudonym(email)
    assert pseudonym(CPAM_ADMIN) == pseudonym(" Admin@CPAM72.demo") and pseudonym(CPAM_ADMIN).startswith("efface-")
    assert requested_by == pseudonym(CPAM_ADMIN)
    # The certificate names the confirming admin by the pseudonym and counts the rewritten rows.
    document = json.loads(row.certificate)["document"]
    assert document["request"]["confirmed_by"] == pseudonym(CPAM_ADMIN)
    counted = document["erased"]["pseudonymised"]
    assert counted["tenant_destructions"] == 1 and counted["platform_audit_events"] >= len(erased)
    assert CPAM_ADMIN not in row.certificate
    from pypdf import PdfReader

    from tenants.reversibility.certificate import certificate_pdf

    signed = json.loads(row.certificate)
    words = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(certificate_pdf(document, signed["signature"]))).pages)
    assert f"{sum(counted.values())} lignes conservées" in words


async def _rows_everywhere(admin_db: Database) -> dict[str, int]:
    """Rows per table, for every table the database has."""
    async with admin_db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        return {name: int(await conn.scalar(text(f'SELECT count(*) FROM "{name}"'))) for name in names}  # noqa: S608


@pytest.mark.redis
async def test_the_jobs_still_queued_for_a_destroyed_tenant_end_cleanly_and_write_nothing(
        settings, db, admin_db, demo, redis_url):
    """Every actor that takes a tenant id, its message sent on the real Redis broker after the destruction and
    run by a dramatiq worker: each ends without an error (no retry, nothing dead-lettered) and no table gains a
    row (the export and the firmware campaign find no row; the mail is dropped, neither sent nor recorded)."""
    import inspect as signatures
    from dataclasses import replace

    from dramatiq import Worker
    from dramatiq.middleware import Middleware
    from redis import Redis

    from app.jobs import ACTORS, QUEUE, DramatiqJobs, make_broker
    from csms.domain import firmware
    from tenants.reversibility.destruction import COOLING_OFF, destroy_tenant
    from tenants.reversibility.service import JOB as EXPORT_JOB

    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    _attachment, archive = await _prepare(db, settings, cpam)
    async with db.transaction([cpam], actor={"user_id": None, "label": "test"}) as session:
        campaign = await firmware.create_campaign(session, cpam, {
            "name": "Mise à jour", "location": "https://firmware.exemple.fr/v2.bin",
            "window_end": utcnow() + dt.timedelta(days=30)}, now=utcnow())
    await destroy_tenant(settings, cpam, operator="exploitant-test", confirm=str(cpam),
                         now=utcnow() + COOLING_OFF + dt.timedelta(minutes=1))

    # The ids the tenant's messages carried; an actor added later with a tenant id fails here until it is listed.
    ids = {"tenant_id": str(cpam), "export_id": archive.stem, "campaign_id": str(campaign.id), "to": CPAM_ADMIN,
           "subject": "Votre badge", "body": "Bonjour"}
    messages: dict[str, dict[str, str]] = {}
    for name, fn in sorted(ACTORS.items()):
        parameters = signatures.signature(fn).parameters
        if "tenant_id" in parameters:
            required = {p.name for p in list(parameters.values())[1:] if p.default is p.empty}
            assert required <= ids.keys(), (name, required - ids.keys())
            messages[name] = {key: ids[key] for key in parameters if key in ids}
    assert set(messages) == {"send_email", EXPORT_JOB, firmware.ADVANCE_JOB}

    class Ended(Middleware):
        def __init__(self) -> None:
            self.ended: dict[str, BaseException | None] = {}

        def after_process_message(self, broker: Any, message: Any, *, result: Any = None,
                                  exception: BaseException | None = None) -> None:
            self.ended[message.actor_name] = exception

    scaled = replace(settings, redis_url=redis_url, redis_namespace=f"centrale-test-{uuid.uuid4().hex[:10]}")
    before = await _rows_everywhere(admin_db)
    ended = Ended()
    broker = make_broker(scaled, pool_size=2)
    broker.add_middleware(ended)
    worker = Worker(broker, queues={QUEUE}, worker_threads=2, worker_timeout=50)
    jobs = DramatiqJobs(scaled, db)
    try:
        await asyncio.to_thread(worker.start)
        for name, kwargs in messages.items():
            await jobs.enqueue(name, **kwargs)
        async with asyncio.timeout(60):
            while len(ended.ended) < len(messages):
                await asyncio.sleep(0.05)
            await jobs.drain()
    finally:
        await jobs.stop()
        await asyncio.to_thread(worker.stop, 10_000)
        await asyncio.to_thread(broker.close)
        client = Redis.from_url(redis_url)
        dead = client.hvals(f"{scaled.redis_namespace}:jobs:{QUEUE}.XQ.msgs")
        keys = list(client.scan_iter(match=f"{scaled.redis_namespace}:*"))
        if keys:
            client.delete(*keys)
        client.close()
    assert ended.ended == dict.fromkeys(messages), ended.ended
    assert dead == []
    assert await _rows_everywhere(admin_db) == before
    assert not (settings.var_dir / "exports" / str(cpam)).exists()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_operator_destroys_after_the_cooling_off_and_verifies_the_certificate(
        centrale, settings, db, demo, tmp_path):
    from tenants.reversibility.models import TenantDestruction

    cpam = demo["tenant_ids"]["cpam"]
    await _prepare(db, settings, uuid.UUID(cpam))
    # The id must be repeated; the cooling-off must be over.
    bad = await centrale("destroy", "tenant", cpam, "--confirm", demo["tenant_ids"]["chr"])
    assert bad.exit_code == 2 and "--confirm" in bad.output
    early = await centrale("destroy", "tenant", cpam, "--confirm", cpam)
    assert early.exit_code == 2 and "délai de réflexion" in early.output
    async with db.transaction(actor={"user_id": None, "label": "test"}) as session:
        row = (await session.scalars(text("SELECT id FROM tenant_destructions"))).one()
        pending = await session.get(TenantDestruction, uuid.UUID(hex=row) if isinstance(row, str) else row)
        assert pending is not None
        pending.not_before = utcnow() - dt.timedelta(minutes=1)
    done = await centrale("destroy", "tenant", cpam, "--confirm", cpam, "--by", "Jeanne Exploitante", "--json")
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert summary["rows"] > 0 and summary["files"] == 2
    again = await centrale("destroy", "tenant", cpam, "--confirm", cpam)
    assert again.exit_code != 0

    out, pdf = tmp_path / "certificat.json", tmp_path / "certificat.pdf"
    assert (await centrale("destroy", "certificate", cpam, "--out", str(out))).exit_code == 0
    assert (await centrale("destroy", "certificate", summary["certificate_id"], "--out", str(pdf))).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    checked = await centrale("destroy", "verify", str(out), "--json")
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output) == {"valid": True, "reason": "signature valide",
                                          "key_id": json.loads(out.read_text())["signature"]["key_id"],
                                          "instance_key": True}
    content = out.read_bytes()
    out.write_bytes(content.replace(b"Jeanne Exploitante", b"Jeanne Exploitantf"))
    forged = await centrale("destroy", "verify", str(out))
    assert forged.exit_code == 1 and "INVALIDE" in forged.output
    listed = await centrale("destroy", "list", "--json")
    assert [r["status"] for r in json.loads(listed.output)] == ["done"]
