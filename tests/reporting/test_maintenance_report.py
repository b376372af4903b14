"""The beneficiary's yearly maintenance report (CCTP CPAM 5-4-8 « un compte-rendu des actions du Titulaire, des types
de défaut, et autres incidents pour l'année écoulée […] inclut un rapport d'analyse, des préconisations et des
améliorations pour l'année à venir ») and the committee report (CCP TGD IV.6 « pointer plus particulièrement les
terminaux dont les tests ne sont pas effectués dans les délais demandés et ceux pour lesquels une alerte a été
déclenchée ») on a known data set made through the services: tickets with met and missed delays, interventions, a
yearly visit with a defect; the page, the review written by the operator (audited, 403 for the buyer), the files,
the API, and 404 across tenants."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from types import SimpleNamespace as NS
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from app.db import utcnow
from reporting.committee import build_committee, late_tests
from reporting.maintenance import build_maintenance_year, delay_state
from reporting.usage import month_period
from tests.conftest import csrf_from, login
from tests.csms import conftest as supervision
from tests.csms.conftest import MEMBER_PASSWORD

backend, fleet, password_hash, people = supervision.backend, supervision.fleet, supervision.password_hash, supervision.people

ACTOR = {"user_id": None, "label": "test"}
PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


# --------------------------------------------------------------------------- the pure cores


def test_a_delay_is_met_missed_running_or_absent():
    due = paris(2026, 11, 2, 13)
    assert delay_state(due, paris(2026, 11, 2, 12), now=paris(2026, 12, 1)) == "met"
    assert delay_state(due, paris(2026, 11, 2, 14), now=paris(2026, 12, 1)) == "missed"
    assert delay_state(due, None, now=paris(2026, 11, 2, 14)) == "missed"
    assert delay_state(due, None, now=paris(2026, 11, 2, 12)) == "running"
    assert delay_state(None, None, now=paris(2026, 11, 2, 12)) is None


def _ticket(number, box, level, reported, i_due, i_at, r_due, r_at, *, breached=False, origin="report"):
    return NS(number=number, title="Panne", channel="phone", origin=origin, charge_box_id=box, connector_id=1,
              asset_id=None, level=level, level_label=f"Niveau {level}", status="closed", reported_at=reported,
              intervention_due_at=i_due, intervention_reached_at=i_at, restoration_due_at=r_due, resolved_at=r_at,
              closed_at=r_at, breached=breached, reopen_count=0)


def test_the_year_counts_actions_defect_types_and_delays_per_station():
    facts = NS(
        tickets=[_ticket("INC-1", "CB-1", "2", paris(2026, 3, 2, 9), paris(2026, 3, 2, 13), paris(2026, 3, 2, 10),
                         paris(2026, 3, 3, 13), paris(2026, 3, 2, 11)),
                 _ticket("INC-2", "CB-1", "2", paris(2026, 4, 7, 9), paris(2026, 4, 7, 13), paris(2026, 4, 9, 9),
                         paris(2026, 4, 8, 13), paris(2026, 4, 9, 10), breached=True, origin="visit")],
        interventions=[NS(ticket_number="INC-1", charge_box_id="CB-1", asset_id=None, mode="remote", technician="",
                          started_at=paris(2026, 3, 2, 10), ended_at=None, actions="", parts="", record_late=False),
                       NS(ticket_number="INC-2", charge_box_id="CB-1", asset_id=None, mode="on_site", technician="T",
                          started_at=paris(2026, 4, 9, 9), ended_at=None, actions="", parts="", record_late=True)],
        visits=[NS(visited_on=dt.date(2026, 4, 1), point_label="P2", charge_box_id="CB-2", technician="T",
                   defects=(("Examen visuel de l'état des câbles", "gaine fendue"),), record_late=False,
                   ticket_number="INC-2")],
        remote_checks=[NS(month="2026-01", point_label="P1", charge_box_id="CB-1", status="defect",
                          defects=("Pertes de puissance de charge",)),
                       NS(month="2026-01", point_label="P2", charge_box_id="CB-2", status="ok", defects=())])
    report = build_maintenance_year(2026, "Europe/Paris", facts, ["CB-1", "CB-2", "CB-3"], now=paris(2027, 1, 5))
    by = {s.key: s for s in report.stations}
    assert list(by) == ["CB-1", "CB-2", "CB-3"]  # every station has its line, with or without actions
    assert (by["CB-1"].remote_checks, by["CB-1"].remote_defects, by["CB-1"].remote_interventions,
            by["CB-1"].onsite_interventions, by["CB-1"].incidents, by["CB-1"].on_time, by["CB-1"].missed) == (
        1, 1, 1, 1, 2, 1, 1)
    assert (by["CB-2"].visits, by["CB-2"].visit_defects, by["CB-3"].preventive) == (1, 1, 0)
    t = report.totals
    assert (t.preventive, t.curative, t.late_records, t.incidents, t.on_time_rate) == (3, 2, 1, 2, 0.5)
    assert ("Incident (niveau 5-4-4)", "Niveau 2", 2) in report.defect_types
    assert ("Visite sur site (5-4-2-2)", "Examen visuel de l'état des câbles", 1) in report.defect_types
    assert ("Contrôle à distance (5-4-2-1)", "Pertes de puissance de charge", 1) in report.defect_types
    assert [(i.intervention, i.restoration, i.on_time) for i in report.incidents] == [
        ("met", "met", True), ("missed", "missed", False)]


def test_late_tests_are_the_fifteen_day_lapses_falling_in_the_period():
    # TGD annexe 2, II.2.2: « au bout de quinze jours l'utilisateur n'a pas procédé auxdits tests ».
    assigned = paris(2026, 10, 20, 10)
    start, end = paris(2026, 11, 1), paris(2026, 12, 1)
    tests = [paris(2026, 10, 30, 10), paris(2026, 11, 10, 10)]  # then nothing: due 25 November, in the period
    assert late_tests(assigned, None, tests, start, end, now=paris(2026, 12, 7)) == 1
    # Seen on 20 November, the lapse of the 25th has not come yet.
    assert late_tests(assigned, None, tests, start, end, now=paris(2026, 11, 20)) == 0
    # A test every ten days: never late; a closed assignment stops counting at its closure.
    regular = [assigned + dt.timedelta(days=10 * k) for k in range(1, 5)]
    assert late_tests(assigned, None, regular, start, end, now=paris(2026, 12, 7)) == 0
    assert late_tests(assigned, paris(2026, 11, 12), tests, start, end, now=paris(2026, 12, 7)) == 0


def test_the_committee_flags_a_terminal_with_late_tests_and_a_station_with_an_alert():
    period = month_period(2026, 11, "Europe/Paris")
    terminal = NS(line="M974974110 11", phone_number="0692000001", device_serial="IMEI-2", created_at=paris(2026, 1, 1),
                  fault_reported_at=None,
                  assignments=[NS(reference="M974974110 11", assigned_at=paris(2026, 10, 20, 10), closed_at=None,
                                  tests=(paris(2026, 10, 30, 10), paris(2026, 11, 10, 10)))],
                  exchanges=[NS(old_serial="IMEI-1", new_serial="IMEI-2", fault_reported_at=paris(2026, 11, 3, 8),
                                exchanged_at=paris(2026, 11, 4, 12), due_at=paris(2026, 11, 4, 8), late=True)])
    facts = NS(tickets=[_ticket("INC-9", "CB-1", "2", paris(2026, 11, 2, 9), paris(2026, 11, 2, 13),
                                paris(2026, 11, 2, 10), paris(2026, 11, 3, 13), paris(2026, 11, 2, 12))],
               interventions=[], visits=[], remote_checks=[])
    alert = NS(charge_box_id="CB-1", connector_id=1, kind="faulted", label="Point en défaut", error_code="GroundFailure",
               opened_at=paris(2026, 11, 2, 8, 30), closed_at=paris(2026, 11, 2, 12))
    usage = NS(points=[NS(detail="Siège — CB-1", used_seconds=72 * 3600), NS(detail="Siège — CB-1", used_seconds=0)],
               period_seconds=30 * 86400)
    report = build_committee(period, terminals=[terminal], stations=["CB-1", "CB-2"], facts=facts, alerts=[alert],
                             late_visits={"CB-2": 1}, usage=usage, now=paris(2026, 12, 7))
    lines = {t.reference: t for t in report.terminals}
    tgd = lines["M974974110 11"]
    assert (tgd.tests, tgd.late_tests, tgd.alerts, tgd.flagged) == (1, 1, None, True)
    assert (tgd.interventions, tgd.incidents, tgd.incidents_late, tgd.mean_delay_hours) == (1, 1, 1, 28.0)
    # Assigned all the month (30 days of 30).
    assert tgd.usage_rate == 1.0
    cb1, cb2 = lines["CB-1"], lines["CB-2"]
    assert (cb1.alerts, cb1.incidents, cb1.incidents_late, cb1.mean_delay_hours, cb1.flagged) == (1, 1, 0, 3.0, True)
    assert cb1.usage_rate == 72 * 3600 / (30 * 86400 * 2)
    assert (cb2.late_tests, cb2.flagged, cb2.usage_rate) == (1, True, None)
    # The history of the month, in time order (the assignment of October is before it).
    assert [h.kind for h in report.history] == ["Alerte", "Incident", "Échange du terminal", "Test", "Tests en retard"]
    # Anonymised: nothing of a person, the references and dates only.
    assert all("0692" not in h.detail for h in report.history)


# --------------------------------------------------------------------------- through the services and the portal


async def _known_year(db, fleet):
    """CPAM: INC A on CPAM-LM-01 (level 2 reported Monday 2 November 09:00, started 10:00, resolved 11:00: both
    delays met), INC B (Tuesday 3 November 09:00, started and resolved on 20 November: both missed), a remote and an
    on-site intervention, a yearly visit of a point of CPAM-LM-02 with a defect (its ticket: level 1)."""
    from csms import services as csms_services
    from incidents import maintenance, tickets

    tid = fleet.cpam
    now = utcnow()
    async with db.transaction([tid], actor=ACTOR) as session:
        await tickets.set_policy_from_template(session, tid, "cpam-irve", ACTOR)
        a = await tickets.open_ticket(session, tid, now=now, title="Borne muette", description="", channel="phone",
                                      reported_at=paris(2026, 11, 2, 9), level="2", charge_box_id="CPAM-LM-01",
                                      connector_id=1)
        await tickets.add_event(session, a, "acknowledge", now=now, at=paris(2026, 11, 2, 9, 30))
        await tickets.record_intervention(session, a, now=now, mode="remote", started_at=paris(2026, 11, 2, 10),
                                          ended_at=paris(2026, 11, 2, 10, 30), actions="Redémarrage à distance")
        await tickets.add_event(session, a, "resolve", now=now, at=paris(2026, 11, 2, 11))
        b = await tickets.open_ticket(session, tid, now=now, title="Prise cassée", description="", channel="phone",
                                      reported_at=paris(2026, 11, 3, 9), level="2", charge_box_id="CPAM-LM-01",
                                      connector_id=2)
        await tickets.add_event(session, b, "acknowledge", now=now, at=paris(2026, 11, 3, 9, 30))
        await tickets.record_intervention(session, b, now=now, mode="on_site", started_at=paris(2026, 11, 20, 9),
                                          ended_at=paris(2026, 11, 20, 11), actions="Prise remplacée",
                                          parts=[{"label": "Prise T2", "quantity": 1}])
        await tickets.add_event(session, b, "resolve", now=now, at=paris(2026, 11, 20, 11))
        point = next(p for p in await csms_services.charge_points_in_service(session, tid)
                     if p.charge_box_id == "CPAM-LM-02")
        from incidents.preventive import CHECKLIST

        visit = await maintenance.record_visit(session, tid, point.id, {
            "visited_on": "2026-11-25", "technician": "Paul Technicien", **{f"item_{c}": "ok" for c in CHECKLIST},
            "item_cables": "defect", "comment_cables": "gaine fendue"}, now=now, actor=ACTOR)
        return a.number, b.number, visit.ticket_number


async def test_the_yearly_report_page_review_files_and_api(db, fleet, people, app, client, api_token):
    from tenants import services as tenant_services

    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        await tenant_services.add_member(session, fleet.cpam, {"email": "tech@titulaire.demo", "role": "operator",
                                                               "password": MEMBER_PASSWORD})
    a, b, v = await _known_year(db, fleet)
    base = f"/t/{fleet.cpam}/rapport-maintenance"

    assert (await login(client, "admin@cpam-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    page = await client.get(base, params={"annee": "2026"})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-total="visits">1<' in html and 'data-total="remote_interventions">1<' in html
    assert 'data-total="onsite_interventions">1<' in html and 'data-total="incidents">3<' in html
    # The visit's ticket (level 1 « immédiat », opened when the visit was recorded) is not reached: missed too.
    assert 'data-total="on_time">1<' in html and 'data-total="missed">2<' in html
    # Recorded today, the November actions are past 5-4-8's two working days.
    assert 'data-total="late_records">3<' in html
    assert f'data-ticket="{a}"' in html and f'data-ticket="{b}"' in html and f'data-ticket="{v}"' in html
    assert "Examen visuel de l&#39;état des câbles" in html or "Examen visuel de l'état des câbles" in html
    assert 'data-station="CPAM-LM-201"' in html  # a station without actions has its line
    # The buyer reads the analysis but may not write it.
    assert "Pas encore rédigé par le titulaire" in html and 'name="analyse"' not in html
    posted = await client.post(base, data={"annee": "2026", "analyse": "x", "_csrf_token": csrf_from(html)})
    assert posted.status_code == 403

    await client.get("/deconnexion")
    client.cookies.clear()
    assert (await login(client, "tech@titulaire.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    form = (await client.get(base, params={"annee": "2026"})).text
    too_long = await client.post(base, data={"annee": "2026", "analyse": "a" * 20_001, "recommandations": "",
                                             "_csrf_token": csrf_from(form)})
    assert too_long.status_code == 422 and "20\u202f000 caractères au plus" in too_long.text
    saved = await client.post(base, data={"annee": "2026", "analyse": "Deux pannes de prise sur CPAM-LM-01.",
                                          "recommandations": "=Remplacer les prises T2 en 2027",
                                          "_csrf_token": csrf_from(form)}, follow_redirects=False)
    assert saved.status_code == 303

    await client.get("/deconnexion")
    client.cookies.clear()
    assert (await login(client, "admin@cpam-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    shown = (await client.get(base, params={"annee": "2026"})).text
    assert "Deux pannes de prise sur CPAM-LM-01." in shown and "tech@titulaire.demo" in shown

    xlsx = await client.get(f"{base}.xlsx", params={"annee": "2026"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Synthèse", "Par borne", "Types de défaut", "Incidents", "Interventions", "Visites",
                               "Contrôles en défaut"]
    summary = {r[0]: r[1] for r in book["Synthèse"].iter_rows(values_only=True)}
    assert summary["Incidents"] == 3 and summary["Incidents hors délais"] == 2
    assert summary["Taux de respect des délais"] == 0.3333
    # Formula-safe: the operator's text that looks like a formula stays text.
    assert summary["Préconisations et améliorations pour l'année à venir"] == "'=Remplacer les prises T2 en 2027"
    incidents = {r[0]: r for r in book["Incidents"].iter_rows(min_row=2, values_only=True)}
    assert incidents[a][7] == "respecté" and incidents[b][7] == "dépassé" and incidents[b][9] == "dépassé"
    ods = await client.get(f"{base}.ods", params={"annee": "2026"})
    with zipfile.ZipFile(io.BytesIO(ods.content)) as archive:
        content = archive.read("content.xml").decode()
    assert all(f'table:name="{name}"' in content for name in book.sheetnames) and "table:formula" not in content
    pdf = await client.get(f"{base}.pdf", params={"annee": "2026"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    words = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).split())
    assert "Rapport annuel de maintenance 2026" in words and "Deux pannes de prise" in words and b in words

    token = await api_token("admin@cpam-bornes.demo")
    api = (await client.get(f"/api/v1/tenants/{fleet.cpam}/maintenance-report", params={"year": "2026"},
                            headers=token)).json()
    assert api["totals"]["incidents"] == 3 and api["totals"]["missed"] == 2 and api["reviewed_by"] == "tech@titulaire.demo"
    assert {i["number"]: (i["intervention"], i["on_time"]) for i in api["incidents"]}[b] == ("missed", False)
    put = await client.put(f"/api/v1/tenants/{fleet.cpam}/maintenance-report/review",
                           json={"year": 2026, "analysis": "x"}, headers=token)
    assert put.status_code == 403
    tech = await api_token("tech@titulaire.demo")
    bad = await client.put(f"/api/v1/tenants/{fleet.cpam}/maintenance-report/review",
                           json={"year": 1999, "analysis": "x"}, headers=tech)
    assert bad.status_code in (400, 422) and "year" in bad.text
    put = await client.put(f"/api/v1/tenants/{fleet.cpam}/maintenance-report/review",
                           json={"year": 2026, "analysis": "Analyse par l'API", "recommendations": "Rien"}, headers=tech)
    assert put.status_code == 200 and put.json()["analysis"] == "Analyse par l'API"
    committee = await client.get(f"/api/v1/tenants/{fleet.cpam}/committee-report",
                                 params={"from": "2026-11-01", "to": "2026-11-30"}, headers=token)
    assert committee.status_code == 200, committee.text
    lines = {t["reference"]: t for t in committee.json()["terminals"]}
    assert lines["CPAM-LM-01"]["incidents"] == 2 and lines["CPAM-LM-01"]["incidents_late"] == 1
    assert lines["CPAM-LM-01"]["interventions"] == 2 and lines["CPAM-LM-02"]["tests"] == 1

    # Every change of the review is audited.
    from app.audit import AuditEvent

    async with db.session([fleet.cpam]) as session:
        rows = (await session.scalars(select(AuditEvent.action).where(
            AuditEvent.tenant_id == fleet.cpam, AuditEvent.entity == "maintenance_report_reviews")
            .order_by(AuditEvent.at))).all()
    assert list(rows) == ["create", "update"]
    journal = await client.get(f"/t/{fleet.cpam}/journal")
    assert journal.status_code == 200 and "Analyse du rapport annuel de maintenance" in journal.text

    # The committee page and its files.
    cpage = await client.get(f"/t/{fleet.cpam}/comite-suivi", params={"mois": "2026-11"})
    assert cpage.status_code == 200 and 'data-terminal="CPAM-LM-01"' in cpage.text
    cbook = load_workbook(io.BytesIO((await client.get(f"/t/{fleet.cpam}/comite-suivi.xlsx",
                                                       params={"mois": "2026-11"})).content))
    assert cbook.sheetnames == ["Synthèse", "Terminaux", "Historique", "Incidents"]
    cods = await client.get(f"/t/{fleet.cpam}/comite-suivi.ods", params={"mois": "2026-11"})
    assert cods.status_code == 200 and cods.content[:2] == b"PK"

    # Another tenant's admin: 404 on every page, file and API route.
    await client.get("/deconnexion")
    client.cookies.clear()
    assert (await login(client, "admin@vlb-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    for url in (base, f"{base}.xlsx", f"{base}.ods", f"{base}.pdf", f"/t/{fleet.cpam}/comite-suivi",
                f"/t/{fleet.cpam}/comite-suivi.xlsx", f"/t/{fleet.cpam}/comite-suivi.ods"):
        assert (await client.get(url)).status_code == 404, url
    vlb = await api_token("admin@vlb-bornes.demo")
    for url in ("maintenance-report", "committee-report"):
        assert (await client.get(f"/api/v1/tenants/{fleet.cpam}/{url}", headers=vlb)).status_code == 404
    assert (await client.put(f"/api/v1/tenants/{fleet.cpam}/maintenance-report/review", json={"year": 2026},
                             headers=vlb)).status_code == 404
    own = (await client.get(f"/api/v1/tenants/{fleet.other}/maintenance-report", params={"year": "2026"},
                            headers=vlb)).json()
    assert own["totals"]["incidents"] == 0 and own["analysis"] == ""


async def test_the_committee_report_of_a_tribunal_shows_its_alert_terminals_anonymously(db, demo, client):
    """CCP TGD IV.6 on the demo tribunal, a line made through ``assets.terminals``: assigned on 1 November (Réunion),
    tested on the 5th then never again (the escalation of annexe 2, II.2.2 falls on the 20th: one late test), its
    device exchanged 28 hours after the fault (I.4: 24 hours: late). Nothing of the person shows."""
    import uuid

    from assets import terminals
    from reporting.maintenance_web import load_committee

    reunion = ZoneInfo("Indian/Reunion")
    tid = uuid.UUID(demo["tenant_ids"]["tj"])
    person = {"full_name": "Mme Personne Protégée", "phones": "0262 11 22 33", "address": "3 rue du Test",
              "workplace": "", "prosecutor": "Parquet de Saint-Denis", "victim_support": "AAV 974"}
    assigned = dt.datetime(2026, 11, 1, 9, tzinfo=reunion)
    async with db.transaction([tid], actor=ACTOR) as session:
        line = await terminals.create_line(session, tid, {"phone_number": "0692999917", "insee_code": "97411",
                                                          "order_number": "17", "device_serial": "DEV-17"})
        file = await terminals.open_file(session, tid, {**person, "line_id": str(line.id),
                                                        "referred_at": assigned - dt.timedelta(minutes=5)},
                                         assigned, "Indian/Reunion")
        await terminals.record_test_call(session, tid, file.id, {"called_at": dt.datetime(2026, 11, 5, 10,
                                                                                          tzinfo=reunion)},
                                         dt.datetime(2026, 11, 5, 10, 5, tzinfo=reunion), "Indian/Reunion")
        await terminals.exchange_device(session, tid, line.id, {
            "fault_reported_at": dt.datetime(2026, 11, 10, 8, tzinfo=reunion),
            "exchanged_at": dt.datetime(2026, 11, 11, 12, tzinfo=reunion), "new_serial": "DEV-17B"},
            dt.datetime(2026, 11, 11, 12, 5, tzinfo=reunion), "Indian/Reunion")
        reference = terminals.line_reference(line)
    async with db.session([tid]) as session:
        report = await load_committee(session, tid, month_period(2026, 11, "Indian/Reunion"),
                                      now=dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    ours = next(t for t in report.terminals if t.reference == reference)
    assert (ours.kind, ours.tests, ours.late_tests, ours.alerts, ours.flagged) == ("Terminal d'alerte", 1, 1, None, True)
    assert (ours.interventions, ours.incidents, ours.incidents_late, ours.mean_delay_hours) == (1, 1, 1, 28.0)
    # Assigned from 1 November 09:00 (Réunion) to the month's end: 29 days and 15 hours of 30 days.
    assert ours.usage_rate == (29 * 24 + 15) / (30 * 24)
    kinds = [h.kind for h in report.history if h.terminal == reference]
    assert kinds == ["Affectation", "Test", "Échange du terminal", "Tests en retard"]

    assert (await login(client, "admin@tj-reunion.demo")).status_code in (302, 303)
    page = await client.get(f"/t/{tid}/comite-suivi", params={"mois": "2026-11"})
    assert page.status_code == 200 and f'data-terminal="{reference}"' in page.text
    assert "Personne Protégée" not in page.text and "0262 11 22 33" not in page.text
    book = load_workbook(io.BytesIO((await client.get(f"/t/{tid}/comite-suivi.xlsx",
                                                      params={"mois": "2026-11"})).content))
    rows = {r[1]: r for r in book["Terminaux"].iter_rows(min_row=2, values_only=True)}
    assert rows[reference][4:7] == (1, 1, "—") and rows[reference][7] == "oui"
    assert all("Personne" not in str(c) for s in book.worksheets for r in s.iter_rows(values_only=True) for c in r)
