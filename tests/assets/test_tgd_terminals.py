"""The TGD alert terminals as stored data (issue 13 §4, CCP TGD annexes 1 and 2): the reference attached to
the line and its assignment index, the exchange of a device, the beneficiary file and its 15 minutes, the
test calls and their escalation, the closure, the destruction four months after (rows gone) and the
reassignment one week after; the confidentiality of the files (their own profile, every reading audited,
404 for the admin without it, for the coordinator and for another tenant)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select, text

from app.audit import AuditEvent
from app.errors import ValidationFailed
from assets import terminals
from assets.models import TgdAssignment, TgdFile, TgdLine, TgdTestCall
from assets.tasks import run_destruction
from tests.conftest import csrf_from, form_post, login

ACTOR = {"user_id": None, "label": "test"}
NOW = dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC)
TZ = "Indian/Reunion"
PERSON = {"full_name": "Mme Victime Test", "phones": "0262 11 22 33", "address": "3 rue du Test, Saint-Denis",
          "workplace": "Sainte-Marie", "prosecutor": "Parquet de Saint-Denis", "victim_support": "AAV 974"}
TGD_USER = "teleassistance@titulaire.demo"


def tj_of(demo) -> uuid.UUID:
    return uuid.UUID(demo["tenant_ids"]["tj"])


async def _line(session, tid, order: int = 4, phone: str = "0692999904") -> TgdLine:
    return await terminals.create_line(session, tid, {"phone_number": phone, "insee_code": "97411",
                                                      "order_number": str(order), "device_serial": f"DEV-{order}"})


async def _open(session, tid, line, now=NOW, referred_at=None) -> TgdFile:
    return await terminals.open_file(session, tid, {**PERSON, "line_id": str(line.id),
                                                    "referred_at": referred_at or now - dt.timedelta(minutes=5)},
                                     now, TZ)


async def _close(session, tid, file, now) -> TgdFile:
    return await terminals.close_file(session, tid, file.id, {"terminated_on": now.date().isoformat(),
                                                              "confirmed_by": "M. le Procureur",
                                                              "terminal_returned": "1"}, now, TZ)


async def test_the_reference_is_the_lines_and_each_assignment_increments_its_index(db, demo):
    """Annexe 1: « M CODE DEPARTEMENTAL CODE INSEE XX Y … Y pour l'indice d'affectation de chaque terminal : 1
    pour la 1ère affectation à un utilisateur, 2 pour le second, etc. »; annexe 2, 2.4: reassigned « seulement
    une semaine après la résiliation d'un dossier »."""
    tid = tj_of(demo)
    async with db.transaction([tid], actor=ACTOR) as session:
        line = await _line(session, tid)
        assert terminals.line_reference(line) == "M9749741104" + "1"
        first = await _open(session, tid, line)
        assignment = await session.get(TgdAssignment, (tid, first.assignment_id))
        assert (assignment.index, assignment.reference) == (1, "M97497411041")
        # Still assigned: refused, nothing written.
        with pytest.raises(ValidationFailed, match="déjà affectée"):
            await _open(session, tid, line, now=NOW + dt.timedelta(days=1))
        closed_at = NOW + dt.timedelta(days=30)
        await _close(session, tid, first, closed_at)
        # 2.4: six days and 23 hours after the closure, still refused, with the date in French.
        with pytest.raises(ValidationFailed) as refused:
            await _open(session, tid, line, now=closed_at + dt.timedelta(days=7) - dt.timedelta(minutes=1))
        assert refused.value.errors["line_id"] == (
            "la ligne 0692999904 ne peut être réaffectée qu'à partir du 10/01/2027 à 12:00, une semaine après la "
            "clôture du dossier précédent (CCP TGD, annexe 2, 2.4)")
        assert line.assignment_index == 1
        second = await _open(session, tid, line, now=closed_at + dt.timedelta(days=7))
        third_try = await session.scalar(select(func.count()).select_from(TgdAssignment).where(
            TgdAssignment.tenant_id == tid, TgdAssignment.line_id == line.id))
        second_assignment = await session.get(TgdAssignment, (tid, second.assignment_id))
    assert third_try == 2
    assert (second_assignment.index, second_assignment.reference) == (2, "M97497411042")
    assert line.assignment_index == 2 and terminals.line_reference(line) == "M97497411042"


async def test_an_exchanged_terminal_keeps_the_number_and_the_reference(db, demo):
    """Annexe 2, I.4: « un échange du terminal par un modèle identique, dans un délai maximum de 24 heures, le
    numéro de terminal initial n'étant pour sa part pas modifié »; annexe 1: « il est ainsi possible de
    remplacer un terminal défectueux en transférant sa carte SIM, sans changement de référence »."""
    tid = tj_of(demo)
    async with db.transaction([tid], actor=ACTOR) as session:
        line = await _line(session, tid)
        await _open(session, tid, line)
        before = terminals.line_reference(line)
        await terminals.report_fault(session, tid, line.id, {"reported_at": "2026-12-04T14:00"}, NOW + dt.timedelta(hours=3), TZ)
        row = (await terminals.lines_of_tenant(session, tid, NOW + dt.timedelta(hours=3)))
        [mine] = [r for r in row if r.line.id == line.id]
        assert mine.exchange_due_at == dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)  # 14:00 at La Réunion + 24 h
        on_time = await terminals.exchange_device(session, tid, line.id, {"new_serial": "DEV-4B"},
                                                  NOW + dt.timedelta(hours=20), TZ)
        with pytest.raises(ValidationFailed, match="déjà celui de la ligne"):
            await terminals.exchange_device(session, tid, line.id, {"new_serial": "DEV-4B",
                                                                    "fault_reported_at": "2026-12-04T12:00"},
                                            NOW + dt.timedelta(hours=20), TZ)
        late = await terminals.exchange_device(session, tid, line.id, {
            "new_serial": "DEV-4C", "fault_reported_at": NOW, "exchanged_at": NOW + dt.timedelta(hours=25)},
            NOW + dt.timedelta(days=2), TZ)
        _row, assignments, exchanges = await terminals.line_history(session, line, NOW + dt.timedelta(days=2))
    assert (on_time.old_serial, on_time.new_serial, on_time.late) == ("DEV-4", "DEV-4B", False)
    assert (late.old_serial, late.late) == ("DEV-4B", True)
    assert line.device_serial == "DEV-4C" and line.phone_number == "0692999904" and line.fault_reported_at is None
    assert terminals.line_reference(line) == before == "M97497411041"
    assert [a.reference for a in assignments] == ["M97497411041"] and len(exchanges) == 2


async def test_a_file_created_more_than_15_minutes_after_the_referral_is_flagged(db, demo):
    """Annexe 2, 2.1: « une « fiche bénéficiaire » … dans les quinze minutes suivant la réception de la
    télécopie ou du message électronique »."""
    tid = tj_of(demo)
    async with db.transaction([tid], actor=ACTOR) as session:
        on_time = await _open(session, tid, await _line(session, tid, 4, "0692999904"),
                              referred_at=NOW - dt.timedelta(minutes=15))
        late = await _open(session, tid, await _line(session, tid, 5, "0692999905"),
                           referred_at=NOW - dt.timedelta(minutes=16))
        with pytest.raises(ValidationFailed) as bad:
            await terminals.open_file(session, tid, {"line_id": "x", "referred_at": "demain", "full_name": ""}, NOW, TZ)
        with pytest.raises(ValidationFailed) as future:
            await _open(session, tid, await _line(session, tid, 6, "0692999906"),
                        referred_at=NOW + dt.timedelta(hours=1))
        files = await session.scalar(select(func.count()).select_from(TgdFile).where(TgdFile.tenant_id == tid))
    assert (on_time.created_late, late.created_late) == (False, True)
    assert bad.value.errors == {"line_id": "choisissez une ligne de terminal d'alerte du tribunal",
                                "referred_at": "date et heure invalides (attendu : AAAA-MM-JJTHH:MM)",
                                "full_name": "obligatoire", "address": "obligatoire", "prosecutor": "obligatoire",
                                "victim_support": "obligatoire"}
    assert future.value.errors == {"referred_at": "ne peut pas être dans le futur"}
    assert files == 1 + 2  # the demo's file and these two


async def test_fifteen_days_without_a_test_call_call_for_the_escalation(db, demo):
    """Annexe 2, 2.2: « Si le téléassistant observe qu'au bout de quinze jours l'utilisateur n'a pas procédé
    auxdits tests, il lui revient : de l'appeler … »."""
    tid = tj_of(demo)
    async with db.transaction([tid], actor=ACTOR) as session:
        file = await _open(session, tid, await _line(session, tid))

        async def state(now):
            [row] = [r for r in await terminals.files_of_tenant(session, tid, now, TZ) if r.id == file.id]
            return row.tests

        assert (await state(NOW + dt.timedelta(days=15) - dt.timedelta(minutes=1))).overdue is False
        assert (await state(NOW + dt.timedelta(days=15))).overdue is True
        await terminals.record_test_call(session, tid, file.id, {"called_at": NOW + dt.timedelta(days=10)},
                                         NOW + dt.timedelta(days=16), TZ)
        after = await state(NOW + dt.timedelta(days=16))
        assert after.overdue is False and after.escalation_due_at == NOW + dt.timedelta(days=25)
        assert (await state(NOW + dt.timedelta(days=25))).overdue is True
        with pytest.raises(ValidationFailed, match="avant l'affectation"):
            await terminals.record_test_call(session, tid, file.id, {"called_at": NOW - dt.timedelta(days=1)},
                                             NOW + dt.timedelta(days=16), TZ)


async def _count(admin_db, table: str, where: str, **params) -> int:
    async with admin_db.engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params)).scalar_one()


async def test_the_destruction_job_erases_the_file_four_months_after_its_closure(db, admin_db, demo):
    """Annexe 2, 2.4: « le titulaire clôt le dossier … et s'assure de sa destruction définitive en interne
    quatre mois après la fermeture du dossier »: the rows are erased (counted by SQL, past the ORM and RLS),
    the line's history keeps « dossier détruit le … » only; not a minute before."""
    tid = tj_of(demo)
    async with db.transaction([tid], actor=ACTOR) as session:
        line = await _line(session, tid)
        file = await _open(session, tid, line)
        for days in (1, 10):
            await terminals.record_test_call(session, tid, file.id, {"called_at": NOW + dt.timedelta(days=days),
                                                                     "note": "test"}, NOW + dt.timedelta(days=20), TZ)
        closed_at = NOW + dt.timedelta(days=20)
        closed = await _close(session, tid, file, closed_at)
        assert closed.destroy_due_at == dt.datetime(2027, 4, 24, 8, 0, tzinfo=dt.UTC)
    file_id, assignment_id = str(file.id), str(file.assignment_id)
    # UUIDs are stored as text on SQLite and as uuid on PostgreSQL: compare as text.
    where_file = "CAST(id AS TEXT) = :id"
    where_calls = "CAST(file_id AS TEXT) = :id"
    if admin_db.engine.dialect.name == "sqlite":
        file_id, assignment_id = file.id.hex, file.assignment_id.hex

    assert await run_destruction(db, dt.datetime(2027, 4, 24, 7, 59, tzinfo=dt.UTC)) == {}
    assert await _count(admin_db, "tgd_files", where_file, id=file_id) == 1
    assert await _count(admin_db, "tgd_test_calls", where_calls, id=file_id) == 2

    done = await run_destruction(db, dt.datetime(2027, 4, 24, 8, 0, tzinfo=dt.UTC))
    assert done == {str(tid): ["M97497411041"]}
    assert await _count(admin_db, "tgd_files", where_file, id=file_id) == 0
    assert await _count(admin_db, "tgd_test_calls", where_calls, id=file_id) == 0
    assert await _count(admin_db, "tgd_assignments", where_file, id=assignment_id) == 1
    assert await run_destruction(db, dt.datetime(2027, 4, 25, tzinfo=dt.UTC)) == {}  # nothing more
    async with db.transaction([tid], actor=ACTOR) as session:
        assignment = await session.get(TgdAssignment, (tid, file.assignment_id))
        assert assignment.file_destroyed_at == dt.datetime(2027, 4, 24, 8, 0, tzinfo=dt.UTC)
        # The audit log never held the person's data: the file's creation and deletion show it redacted.
        logged = list(await session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tid,
                                                                     AuditEvent.entity == "tgd_files",
                                                                     AuditEvent.entity_id == str(file.id))))
        assert {e.action for e in logged} >= {"create", "update", "delete"}
        for event in logged:
            for values in (event.before or {}, event.after or {}):
                assert "Victime" not in str(values) and "rue du Test" not in str(values)
        calls = await session.scalar(select(func.count()).select_from(TgdTestCall).where(TgdTestCall.tenant_id == tid,
                                                                                         TgdTestCall.file_id == file.id))
    assert calls == 0


async def test_the_tgd_profile_reads_files_each_reading_audited(client, db, demo):
    """A file is opened by the « Téléassistance TGD » profile: its pages in French, a bad form refused with
    the message and nothing written, every reading in the tenant's audit log."""
    tid = tj_of(demo)
    assert (await login(client, TGD_USER)).status_code in (302, 303)
    files = await client.get(f"/t/{tid}/parc/dossiers-tgd")
    assert files.status_code == 200 and "Fiches bénéficiaires (TGD)" in files.text
    assert "Mme Exemple Démo" not in files.text  # the list shows references, never the person
    assert f'href="/t/{tid}/parc/dossiers-tgd"' in files.text  # its menu entry
    async with db.transaction([tid], actor=ACTOR) as session:
        [demo_file] = await session.scalars(select(TgdFile).where(TgdFile.tenant_id == tid))
        line = await _line(session, tid)
    bad = await client.post(f"/t/{tid}/parc/dossiers-tgd", data={"_csrf_token": csrf_from(files.text),
                                                                "line_id": str(line.id), "referred_at": "hier"})
    assert bad.status_code == 422 and "date et heure invalides" in bad.text and "obligatoire" in bad.text
    made = await form_post(client, f"/t/{tid}/parc/dossiers-tgd", f"/t/{tid}/parc/dossiers-tgd", {
        **PERSON, "line_id": str(line.id), "referred_at": dt.datetime.now(dt.UTC).astimezone(
            dt.timezone(dt.timedelta(hours=4))).strftime("%Y-%m-%dT%H:%M")})
    assert made.status_code == 303
    for _ in range(2):
        page = await client.get(f"/t/{tid}/parc/dossiers-tgd/{demo_file.id}")
        assert page.status_code == 200 and "Mme Exemple Démo" in page.text and "M97497411011" in page.text
    closing = await client.post(f"/t/{tid}/parc/dossiers-tgd/{demo_file.id}/cloture",
                                data={"_csrf_token": csrf_from(page.text), "terminated_on": "2026-13-01",
                                      "confirmed_by": "M. le Procureur"})
    assert closing.status_code == 422 and "le magistrat doit confirmer avoir récupéré le terminal" in closing.text
    async with db.transaction([tid], actor=ACTOR) as session:
        views = list(await session.scalars(select(AuditEvent).where(
            AuditEvent.tenant_id == tid, AuditEvent.action == "view", AuditEvent.entity == "tgd_files",
            AuditEvent.entity_id == str(demo_file.id))))
        still_open = await session.get(TgdFile, (tid, demo_file.id))
        assert still_open.closed_at is None
    # Two readings, and the refused closure's page (a third one), each by the profile's account.
    assert len(views) == 3 and {v.actor_label for v in views} == {TGD_USER}
    assert views[0].after == {"reference": "M97497411011"}


async def test_the_admin_without_the_profile_the_coordinator_and_another_tenant_get_404(client, db, demo, api_token):
    """The tenant's admin manages the lines but does not see the files (404 as if they did not exist); another
    tenant's admin gets 404 on everything."""
    tid = tj_of(demo)
    async with db.transaction([tid], actor=ACTOR) as session:
        [demo_file] = await session.scalars(select(TgdFile).where(TgdFile.tenant_id == tid))
        [line] = await session.scalars(select(TgdLine).where(TgdLine.tenant_id == tid, TgdLine.order_number == 1))
    file_urls = [f"/t/{tid}/parc/dossiers-tgd", f"/t/{tid}/parc/dossiers-tgd/{demo_file.id}"]
    assert (await login(client, "admin@tj-reunion.demo")).status_code in (302, 303)
    lines = await client.get(f"/t/{tid}/parc/terminaux")
    assert lines.status_code == 200 and "M97497411011" in lines.text and "0692000101" in lines.text
    assert "dossiers-tgd" not in lines.text and 'min="1" max="99" inputmode="numeric"' in lines.text
    park = await client.get(f"/t/{tid}/parc")
    assert f'href="/t/{tid}/parc/terminaux"' in park.text
    line_page = await client.get(f"/t/{tid}/parc/terminaux/{line.id}")
    assert line_page.status_code == 200 and "Affectations successives" in line_page.text
    assert "Mme Exemple Démo" not in line_page.text
    for url in file_urls:
        assert (await client.get(url)).status_code == 404
    token = csrf_from(lines.text)
    for action in ("tests", "cloture"):
        refused = await client.post(f"/t/{tid}/parc/dossiers-tgd/{demo_file.id}/{action}",
                                    data={"_csrf_token": token, "confirmed_by": "x", "terminated_on": "2026-12-01",
                                          "terminal_returned": "1"})
        assert refused.status_code == 404
    bad = await client.post(f"/t/{tid}/parc/terminaux", data={"_csrf_token": token, "phone_number": "12",
                                                              "insee_code": "974", "order_number": "0"})
    assert bad.status_code == 422 and "numéro de ligne invalide" in bad.text and "code INSEE invalide" in bad.text
    # The Journal of the admin, its export and the API leave the files' events out (AuditLabels.confidential);
    # the lines' events are there.
    journal = await client.get(f"/t/{tid}/journal?entite=tgd_files")
    assert journal.status_code == 200 and "Fiche bénéficiaire TGD" not in journal.text
    assert "Ligne de terminal d&#39;alerte (TGD)" in journal.text  # the object filter still offers the lines
    for entity in ("tgd_files", "tgd_test_calls"):
        export = await client.get(f"/t/{tid}/journal.csv?entite={entity}")
        assert export.status_code == 200 and len(export.text.strip().splitlines()) == 1, export.text[:300]
    headers = await api_token("admin@tj-reunion.demo")
    listed = await client.get(f"/api/v1/tenants/{tid}/audit-events?entity=tgd_files", headers=headers)
    assert listed.status_code == 200 and listed.json()["total"] == 0
    lines_events = await client.get(f"/api/v1/tenants/{tid}/audit-events?entity=tgd_lines", headers=headers)
    assert lines_events.json()["total"] == 5  # 3 created, 1 assigned, 1 exchanged

    client.cookies.clear()
    assert (await login(client, "admin@cpam72.demo")).status_code in (302, 303)
    for url in [*file_urls, f"/t/{tid}/parc/terminaux", f"/t/{tid}/parc/terminaux/{line.id}"]:
        assert (await client.get(url)).status_code == 404
    own = demo["tenant_ids"]["cpam"]
    assert (await client.get(f"/t/{own}/parc/terminaux/{line.id}")).status_code == 404
    assert (await client.get(f"/t/{own}/parc/dossiers-tgd")).status_code == 404  # no profile there either

    client.cookies.clear()
    assert (await login(client, "coordination@caih.demo")).status_code in (302, 303)
    for url in file_urls:
        assert (await client.get(url)).status_code == 404


async def test_the_demo_has_lines_and_one_open_file_for_the_court(db, demo):
    tid = tj_of(demo)
    async with db.transaction([tid], actor=ACTOR) as session:
        rows = await terminals.lines_of_tenant(session, tid, dt.datetime.now(dt.UTC))
        files = await terminals.files_of_tenant(session, tid, dt.datetime.now(dt.UTC), TZ)
    assert [r.reference for r in rows] == ["M97497411011", "M97497411021", "M97497411031"]
    assert [r.state for r in rows] == ["affectee", "libre", "libre"]
    assert rows[1].line.device_serial == "TGD-RUN-0012"
    assert len(files) == 1 and files[0].created_late is False and files[0].tests.overdue is False


async def test_the_forms_of_a_line_and_of_a_file_change_what_they_say_and_are_audited(client, db, demo):
    """The admin reports a fault and exchanges the terminal (I.4); the TGD profile records a test call and
    closes the file on the magistrate's confirmation (2.2, 2.4): each change in the audit log."""
    tid = tj_of(demo)
    async with db.transaction([tid], actor=ACTOR) as session:
        [line] = await session.scalars(select(TgdLine).where(TgdLine.tenant_id == tid, TgdLine.order_number == 3))
        [demo_file] = await session.scalars(select(TgdFile).where(TgdFile.tenant_id == tid))
    assert (await login(client, "admin@tj-reunion.demo")).status_code in (302, 303)
    url = f"/t/{tid}/parc/terminaux/{line.id}"
    fault = await form_post(client, url, f"{url}/panne", {})
    assert fault.status_code == 303
    page = await client.get(url)
    assert "échange dû le" in page.text
    same = await client.post(f"{url}/echange", data={"_csrf_token": csrf_from(page.text),
                                                     "new_serial": "TGD-RUN-0003"})
    assert same.status_code == 422 and "est déjà celui de la ligne" in same.text
    exchanged = await client.post(f"{url}/echange", data={"_csrf_token": csrf_from(page.text),
                                                          "new_serial": "TGD-RUN-0033"}, follow_redirects=False)
    assert exchanged.status_code == 303
    page = (await client.get(url)).text
    assert "TGD-RUN-0033" in page and "M97497411031" in page and "tenu" in page

    client.cookies.clear()
    assert (await login(client, TGD_USER)).status_code in (302, 303)
    file_url = f"/t/{tid}/parc/dossiers-tgd/{demo_file.id}"
    called = await form_post(client, file_url, f"{file_url}/tests", {"note": "RAS"})
    assert called.status_code == 303
    closed = await form_post(client, file_url, f"{file_url}/cloture", {
        "terminated_on": dt.date.today().isoformat(), "confirmed_by": "Mme la Substitute", "terminal_returned": "1"})
    assert closed.status_code == 303
    listing = (await client.get(f"/t/{tid}/parc/dossiers-tgd")).text
    assert "close le" in listing and "détruite le" in listing
    # The line is not offered again for a week (2.4).
    assert "0692000101" not in listing.split('id="f-line_id"')[1].split("</select>")[0]
    async with db.transaction([tid], actor=ACTOR) as session:
        logged = {(e.entity, e.action, e.actor_label) for e in await session.scalars(select(AuditEvent).where(
            AuditEvent.tenant_id == tid, AuditEvent.entity.in_(["tgd_lines", "tgd_exchanges", "tgd_test_calls",
                                                                "tgd_files", "tgd_assignments"]),
            AuditEvent.actor_label != "démo"))}
    assert {("tgd_lines", "update", "admin@tj-reunion.demo"), ("tgd_exchanges", "create", "admin@tj-reunion.demo"),
            ("tgd_test_calls", "create", TGD_USER), ("tgd_files", "update", TGD_USER),
            ("tgd_assignments", "update", TGD_USER), ("tgd_files", "view", TGD_USER)} <= logged


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_command_line_runs_the_destruction(centrale, db, demo):
    tid = tj_of(demo)
    async with db.transaction([tid], actor=ACTOR) as session:
        [file] = await session.scalars(select(TgdFile).where(TgdFile.tenant_id == tid))
        await _close(session, tid, file, dt.datetime.now(dt.UTC))
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=125)).isoformat()
    assert (await centrale("tgd", "destroy")).output.strip() == "Aucune fiche à détruire."
    result = await centrale("tgd", "destroy", "--now", later, "--json")
    assert result.exit_code == 0 and '"destroyed": 1' in result.output and "M97497411011" in result.output
    assert (await centrale("tgd", "destroy", "--now", "2027-01-01")).exit_code == 2  # no offset


async def test_the_courts_own_coordinator_never_sees_the_files_nor_the_lines(client, db, demo):
    """The Ministry's coordinator reads its beneficiary (the court) but never the files of people in danger
    (404) nor the lines (its role has no TGD permission)."""
    from tenants import services as tenants
    from tenants.demo import DEMO_PASSWORD
    from tenants.models import Central

    tid = tj_of(demo)
    async with db.transaction(actor=ACTOR) as session:
        central = await session.scalar(select(Central).where(Central.code == "MJ"))
        await tenants.create_user(session, email="coordination@justice.demo", password=DEMO_PASSWORD,
                                  role="coordinator", central=central)
    async with db.transaction([tid], actor=ACTOR) as session:
        [demo_file] = await session.scalars(select(TgdFile).where(TgdFile.tenant_id == tid))
    assert (await login(client, "coordination@justice.demo")).status_code in (302, 303)
    assert (await client.get(f"/t/{tid}")).status_code == 200
    for url in (f"/t/{tid}/parc/dossiers-tgd", f"/t/{tid}/parc/dossiers-tgd/{demo_file.id}"):
        assert (await client.get(url)).status_code == 404
    assert (await client.get(f"/t/{tid}/parc/terminaux")).status_code == 403
    assert "dossiers-tgd" not in (await client.get(f"/t/{tid}/parc")).text
    journal = await client.get(f"/t/{tid}/journal?entite=tgd_files")
    assert journal.status_code == 200 and "Fiche bénéficiaire TGD" not in journal.text


async def test_the_tgd_profile_lands_on_its_tenant_and_finds_its_files_in_the_menu(client, demo):
    tid = tj_of(demo)
    signed = await login(client, TGD_USER)
    assert signed.headers["location"] == f"/t/{tid}"
    home = await client.get(f"/t/{tid}")
    assert home.status_code == 200 and f'href="/t/{tid}/parc/dossiers-tgd"' in home.text
    assert "Téléassistance TGD" in home.text  # its profile's name
