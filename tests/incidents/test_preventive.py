"""Preventive maintenance of the charge points (CCTP CPAM 5-4-2): a month with known data gives known verdicts,
a defect opens exactly one ticket whatever the reruns, the yearly visit's due date and overdue flag, the
checklist recorded, the PDF, and the tenant walls — on PostgreSQL.

CCTP CPAM 5-4-2-1 « Le Titulaire procède au moins une fois par mois, pour chaque point de charge, aux opérations
de maintenance préventive suivante, réalisées à distance via le Système de supervision et d'exploitation » ;
5-4-2-2 « au moins une fois par an, pour chaque point de charge, […] sur site » ; 5-4-8 « renseigner […] toutes
les actions menées en matière de maintenance préventive […] dans un délai de deux jours ouvrés ».
"""

from __future__ import annotations

import datetime as dt
import html
import io
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, update

from app.errors import NotFound, ValidationFailed
from csms.domain import registry
from csms.domain.models import ChargePoint, Charger, MeterValue, StationEvent, StatusEvent, Transaction
from csms.services import PointBrief, PointMonth
from incidents import maintenance as svc
from incidents.indicators import Month
from incidents.models import MaintenanceReport, MaintenanceRun, MaintenanceVisit, Ticket
from incidents.preventive import (
    CHECKLIST,
    ChecklistError,
    assess,
    read_checklist,
    report_status,
    visit_due,
    visit_state,
)
from tenants.models import Site
from tests.incidents.test_tickets import ACTOR, make_tenant

PARIS = ZoneInfo("Europe/Paris")
NOVEMBER = Month(2026, 11)
#: The reports of November are established on 1 December (06:00 Paris).
DECEMBER_1 = dt.datetime(2026, 12, 1, 6, 0, tzinfo=PARIS)
POSTGRES = pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


def paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


def verdicts(checks) -> dict[str, str]:
    return {c.code: c.verdict for c in checks}


# --------------------------------------------------------------------------- the pure core


BRIEF = PointBrief(uuid.uuid4(), "FR72181P0001010101", 1, "", uuid.uuid4(), "CB-1", None, paris(2025, 1, 1))


def test_a_quiet_month_with_every_value_reported_is_ok():
    facts = PointMonth(point=BRIEF, heard=True, sessions=4, completed=4, energy_wh=31_500,
                       first_plug_in=paris(2026, 11, 2, 8), last_unplug=paris(2026, 11, 28, 18), error_codes={},
                       temperature_samples=30, temperature_min=12.0, temperature_max=41.5, signal_samples=3,
                       signal_min=-85.0)
    checks = assess(facts, PARIS)
    assert set(verdicts(checks).values()) == {"ok"} and report_status(checks) == "ok"
    detail = {c.code: c.detail for c in checks}
    assert detail["energy"] == "31,5 kWh"
    assert detail["temperature"] == "de 12,0 à 41,5 °C (30 mesures)"
    assert detail["plug_times"] == "premier branchement le 02/11/2026 08:00 ; dernier débranchement le 28/11/2026 18:00"
    assert detail["signal"] == "au plus faible −85 dBm"


def test_what_the_station_does_not_report_is_not_available_and_no_defect():
    # 5-4-2-1 « contrôle de donnée de température intérieur », « contrôle de la qualité du signal GSM »: a station
    # that reports neither gives « non remonté », not a defect.
    facts = PointMonth(point=BRIEF, heard=True, error_codes={})
    checks = {c.code: c for c in assess(facts, PARIS)}
    assert (checks["temperature"].verdict, checks["temperature"].detail) == ("unavailable", "non remonté")
    assert (checks["signal"].verdict, checks["signal"].detail) == ("unavailable", "non remonté")
    assert checks["sessions"].verdict == checks["energy"].verdict == checks["plug_times"].verdict == "unavailable"
    assert checks["errors"].verdict == checks["power"].verdict == checks["register"].verdict == "ok"
    assert report_status(list(checks.values())) == "ok"


def test_defects_of_each_kind():
    facts = PointMonth(point=BRIEF, heard=True, sessions=3, completed=2, anomalies=1, energy_wh=8000,
                       negative_energy=1, bad_times=1, unfinished=1, power_loss_stops=1,
                       error_codes={"GroundFailure": 2, "HighTemperature": 1, "WeakSignal": 1, "UnderVoltage": 1},
                       temperature_samples=2, temperature_min=20.0, temperature_max=48.0, signal_samples=1,
                       signal_min=-70.0, register_warnings=2)
    checks = {c.code: c for c in assess(facts, PARIS)}
    assert {code for code, c in checks.items() if c.verdict == "defect"} == set(checks)
    # One cause, one check: the temperature and the signal are not counted again as « événements d'erreur ».
    assert checks["errors"].detail == "codes d'erreur signalés : défaut de terre (2)"
    assert "sous-tension (1)" in checks["power"].detail and "coupure de courant" in checks["power"].detail
    assert checks["temperature"].detail == "maximum 48,0 °C (seuil 60 °C) ; température trop élevée signalée (1)"


def test_a_charger_never_heard_from_is_a_register_defect():
    checks = {c.code: c for c in assess(PointMonth(point=BRIEF, heard=False), PARIS)}
    assert checks["register"].verdict == "defect"
    assert checks["register"].detail == "aucune communication de la borne sur le mois avec la supervision"
    assert checks["sessions"].verdict == checks["errors"].verdict == checks["power"].verdict == "unavailable"


def test_the_yearly_visit_is_due_a_year_after_the_last_one_or_the_commissioning():
    # 5-4-2-2 « au moins une fois par an, pour chaque point de charge ».
    assert visit_due(None, dt.date(2025, 6, 15)) == dt.date(2026, 6, 15)
    assert visit_due(dt.date(2026, 11, 20), dt.date(2025, 6, 15)) == dt.date(2027, 11, 20)
    assert visit_due(dt.date(2024, 2, 29), dt.date(2020, 1, 1)) == dt.date(2025, 2, 28)
    today = dt.date(2026, 12, 4)
    assert visit_state(dt.date(2026, 12, 3), today) == "late"
    assert visit_state(dt.date(2026, 12, 4), today) == "soon"  # due today: not late yet
    assert visit_state(dt.date(2027, 1, 3), today) == "soon"
    assert visit_state(dt.date(2027, 1, 4), today) == "planned"


def _all_ok(**more: str) -> dict[str, str]:
    return {"visited_on": "2026-12-01", "technician": "Paul Technicien",
            **{f"item_{code}": "ok" for code in CHECKLIST}, **more}


def test_the_checklist_of_5_4_2_2_is_read_item_by_item():
    assert len(CHECKLIST) == 13 and "Mesure de la résistance du circuit de terre" in CHECKLIST.values()
    read = read_checklist(_all_ok(item_rfid="defect", comment_rfid="lecteur muet", earth_resistance_ohm="12,5",
                                  item_gammes="na"), dt.date(2026, 12, 4))
    assert read.defects == ["rfid"] and read.items["gammes"] == "na"
    assert read.earth_resistance_ohm == Decimal("12.50") and read.comments == {"rfid": "lecteur muet"}
    with pytest.raises(ChecklistError) as bad:
        read_checklist({**_all_ok(item_cables="", item_rfid="defect", earth_resistance_ohm="beaucoup"),
                        "visited_on": "2026-12-05", "technician": ""}, dt.date(2026, 12, 4))
    assert bad.value.errors == {
        "visited_on": "la date de la visite ne peut pas être dans le futur",
        "technician": "le nom du technicien est obligatoire",
        "item_cables": "« Examen visuel de l'état des câbles » : choisir conforme, défaut constaté ou sans objet",
        "comment_rfid": "« Contrôle du capteur RFID et de son bon fonctionnement » : décrire le défaut constaté",
        "earth_resistance_ohm": "résistance de terre invalide (un nombre d'ohms entre 0 et 10 000)",
    }


# --------------------------------------------------------------------------- a known month in the database


async def _charger(session, tid, site_id, charge_box_id, points, station):
    charger = await registry.register_charger(session, tid, {
        "charge_box_id": charge_box_id, "site": str(site_id), "station": station, "password": "Borne-secret-2026-xyz",
        "points": points})
    # Commissioned on 15 June 2025 (the first yearly visit counts from there).
    await session.execute(update(ChargePoint).where(ChargePoint.tenant_id == tid,
                                                    ChargePoint.charger_id == charger.charger_id)
                          .values(created_at=paris(2025, 6, 15, 10)))
    return charger.charger_id


def _tx(tid, charger_id, connector, n, start, stop, wh_start, wh_stop, *, status="completed", reason=""):
    return Transaction(tenant_id=tid, charger_id=charger_id, connector_id=connector, ocpp_transaction_id=str(n),
                       status=status, id_tag="BADGE", meter_start=wh_start, meter_stop=wh_stop, started_at=start,
                       stopped_at=stop, stop_reason=reason)


async def known_month(db) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    """A CPAM tenant with three chargers and a known November 2026:

    * A (2 points): A1 charged 3 times (10 + 12.5 + 7.5 = 30 kWh), its inside temperature from 18 to 41 °C, the
      charger's signal at -85 dBm; A2 never charged and reported a ground failure;
    * B (1 point): a charge stopped by a power loss, one still running since 20 November, 65 °C inside, no signal
      reported; a charge in October and one in December that do not count;
    * C (1 point): never heard from.
    """
    tid = await make_tenant(db, template="cpam-irve")
    async with db.transaction([tid], actor=ACTOR) as session:
        site = Site(tenant_id=tid, name="Le Mans", insee_code="72181", building_code="0001")
        session.add(site)
        await session.flush()
        a = await _charger(session, tid, site.id, f"PREV-A-{tid.hex[:4]}", 2, 1)
        b = await _charger(session, tid, site.id, f"PREV-B-{tid.hex[:4]}", 1, 2)
        c = await _charger(session, tid, site.id, f"PREV-C-{tid.hex[:4]}", 1, 3)
        session.add_all([
            _tx(tid, a, 1, 1, paris(2026, 11, 2, 8), paris(2026, 11, 2, 10), 0, 10_000),
            _tx(tid, a, 1, 2, paris(2026, 11, 10, 8), paris(2026, 11, 10, 11), 10_000, 22_500),
            _tx(tid, a, 1, 3, paris(2026, 11, 30, 22), paris(2026, 12, 1, 1), 22_500, 30_000),
            _tx(tid, b, 1, 1, paris(2026, 11, 5, 9), paris(2026, 11, 5, 9, 40), 0, 5_000, reason="PowerLoss"),
            _tx(tid, b, 1, 2, paris(2026, 11, 20, 9), None, 5_000, None, status="active"),
            _tx(tid, b, 1, 3, paris(2026, 10, 31, 23, 30), paris(2026, 11, 1, 1), 0, 1_000),  # October
            _tx(tid, b, 1, 4, paris(2026, 12, 1, 0, 10), paris(2026, 12, 1, 2), 1_000, 9_000),  # December
        ])
        for day, value in ((3, 18.0), (15, 41.0), (29, 30.0)):
            session.add(MeterValue(tenant_id=tid, charger_id=a, connector_id=1, sampled_at=paris(2026, 11, day, 12),
                                   measurand="Temperature", value=value, unit="Celsius", location="Body",
                                   received_at=paris(2026, 11, day, 12)))
        session.add(MeterValue(tenant_id=tid, charger_id=b, connector_id=0, sampled_at=paris(2026, 11, 6, 12),
                               measurand="Temperature", value=65.0, unit="Celsius", location="Body",
                               received_at=paris(2026, 11, 6, 12)))
        session.add(StatusEvent(tenant_id=tid, charger_id=a, connector_id=2, status="Faulted", error_code="GroundFailure",
                                reported_at=paris(2026, 11, 12, 7), received_at=paris(2026, 11, 12, 7)))
        session.add(StatusEvent(tenant_id=tid, charger_id=a, connector_id=1, status="Available", error_code="NoError",
                                reported_at=paris(2026, 11, 12, 8), received_at=paris(2026, 11, 12, 8)))
        session.add(StationEvent(tenant_id=tid, charger_id=a, kind="notify_event", severity="info", message="signal",
                                 details={"component": {"name": "Modem"}, "variable": {"name": "SignalStrength"},
                                          "actual_value": "-85", "trigger": "Periodic"},
                                 received_at=paris(2026, 11, 8, 3)))
        await session.flush()
        points = {f"{name}{p.connector_id}": p.id for name, charger in (("A", a), ("B", b), ("C", c))
                  for p in await session.scalars(select(ChargePoint).where(ChargePoint.tenant_id == tid,
                                                                           ChargePoint.charger_id == charger))}
    return tid, points


async def _reports(db, tid) -> dict[uuid.UUID, MaintenanceReport]:
    async with db.session([tid]) as session:
        return {r.charge_point_id: r for r in await session.scalars(select(MaintenanceReport).where(
            MaintenanceReport.tenant_id == tid, MaintenanceReport.month == "2026-11"))}


async def _maintenance_tickets(db, tid) -> list[Ticket]:
    async with db.session([tid]) as session:
        return list(await session.scalars(select(Ticket).where(Ticket.tenant_id == tid, Ticket.channel == "maintenance")
                                          .order_by(Ticket.number)))


@POSTGRES
async def test_a_known_month_gives_known_verdicts_and_each_defect_one_ticket_even_run_twice(db):
    tid, points = await known_month(db)
    async with db.transaction([tid], actor=ACTOR) as session:
        first = await svc.generate_month(session, tid, NOVEMBER, now=DECEMBER_1, actor=ACTOR)
    assert (first.points, first.defects, len(first.tickets_opened)) == (4, 3, 5)
    reports = await _reports(db, tid)
    got = {name: {c["code"]: c["verdict"] for c in reports[pid].checks} for name, pid in points.items()}
    assert got["A1"] == dict.fromkeys(("sessions", "errors", "register", "power", "temperature", "plug_times",
                                       "energy", "signal"), "ok")
    assert got["A2"] == {"sessions": "unavailable", "errors": "defect", "register": "ok", "power": "ok",
                         "temperature": "unavailable", "plug_times": "unavailable", "energy": "unavailable",
                         "signal": "ok"}
    assert got["B1"] == {"sessions": "ok", "errors": "ok", "register": "ok", "power": "defect",
                         "temperature": "defect", "plug_times": "defect", "energy": "ok", "signal": "unavailable"}
    assert got["C1"]["register"] == "defect" and {v for k, v in got["C1"].items() if k != "register"} == {"unavailable"}
    a1 = reports[points["A1"]]
    assert a1.status == "ok" and a1.facts["sessions"] == 3 and a1.facts["energy_kwh"] == 30.0
    detail = {c["code"]: c["detail"] for c in a1.checks}
    assert detail["energy"] == "30,0 kWh" and detail["temperature"] == "de 18,0 à 41,0 °C (3 mesures)"
    # « non remonté » where the station reports no temperature (A2's connector, 5-4-2-1).
    assert {c["code"]: c["detail"] for c in reports[points["A2"]].checks}["temperature"] == "non remonté"
    b1 = reports[points["B1"]]
    assert b1.facts["sessions"] == 2 and b1.facts["energy_kwh"] == 5.0  # October and December left out

    # Each defect: one ticket, channel « maintenance », linked both ways, level « télémaintenance » (5-4-4).
    tickets = await _maintenance_tickets(db, tid)
    assert len(tickets) == 5 and {t.level for t in tickets} == {"telemaintenance"}
    assert sorted(b1.tickets) == ["plug_times", "power", "temperature"]
    by_number = {t.number: t for t in tickets}
    assert by_number[b1.tickets["power"]].origin == f"maintenance:{b1.id}:power"
    assert by_number[b1.tickets["power"]].charge_box_id.startswith("PREV-B")

    # Generated again (the operator's button, the job rerun): the same reports, no ticket more.
    async with db.transaction([tid], actor=ACTOR) as session:
        again = await svc.generate_month(session, tid, NOVEMBER, now=DECEMBER_1 + dt.timedelta(hours=3), actor=ACTOR)
    assert (again.points, again.defects, again.tickets_opened) == (4, 3, [])
    assert len(await _maintenance_tickets(db, tid)) == 5
    assert (await _reports(db, tid))[points["B1"]].tickets == b1.tickets
    async with db.session([tid]) as session:
        assert await session.scalar(select(func.count()).select_from(MaintenanceReport).where(
            MaintenanceReport.tenant_id == tid)) == 4
        run = await session.scalar(select(MaintenanceRun).where(MaintenanceRun.tenant_id == tid))
        assert (run.month, run.points, run.defects, run.runs) == ("2026-11", 4, 3, 2)


@POSTGRES
async def test_the_scheduled_job_does_last_month_once(db):
    tid, _points = await known_month(db)
    done = await svc.generate_due_months(db, DECEMBER_1)
    assert done == [(tid, "2026-11", 5)]
    assert await svc.generate_due_months(db, DECEMBER_1 + dt.timedelta(hours=1)) == []
    assert len(await _maintenance_tickets(db, tid)) == 5


@POSTGRES
async def test_a_month_not_over_is_refused_and_nothing_is_written(db):
    tid, _points = await known_month(db)
    async with db.transaction([tid], actor=ACTOR) as session:
        with pytest.raises(ValidationFailed) as refused:
            await svc.generate_month(session, tid, Month(2026, 12), now=DECEMBER_1)
    assert "n'est pas terminé" in refused.value.errors["mois"]
    async with db.session([tid]) as session:
        assert await session.scalar(select(func.count()).select_from(MaintenanceReport)) == 0


@POSTGRES
async def test_the_report_pdf_names_the_charge_point(db):
    tid, points = await known_month(db)
    async with db.transaction([tid], actor=ACTOR) as session:
        await svc.generate_month(session, tid, NOVEMBER, now=DECEMBER_1, actor=ACTOR)
    report = (await _reports(db, tid))[points["B1"]]
    pdf = svc.report_pdf(report, PARIS, "CPAM de la Sarthe")
    assert pdf.startswith(b"%PDF")
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())
    assert report.point_label in text and "Pertes de puissance de charge" in text and "novembre 2026" in text
    assert report.tickets["power"] in text


@POSTGRES
async def test_yearly_visits_planned_overdue_and_recorded_item_by_item(db, admin_db):
    tid, points = await known_month(db)
    today = dt.date(2026, 12, 4)
    async with db.session([tid]) as session:
        plan = {line.charge_point_id: line for line in await svc.visit_plan(session, tid, today, PARIS)}
    # Commissioned on 15 June 2025 and never visited: due on 15 June 2026, late.
    assert (plan[points["A1"]].due, plan[points["A1"]].state) == (dt.date(2026, 6, 15), "late")

    async with db.transaction([tid], actor=ACTOR) as session:
        visit = await svc.record_visit(session, tid, points["A1"], _all_ok(
            visited_on="2026-11-20", item_prises="defect", comment_prises="joint de la prise T2 fendu",
            earth_resistance_ohm="8,4", remarks="Joint à remplacer."), now=paris(2026, 12, 4, 10), actor=ACTOR)
        visit_id, number = visit.id, visit.ticket_number
    async with db.session([tid]) as session:
        stored = await session.get(MaintenanceVisit, (tid, visit_id))
        assert stored.items["prises"] == "defect" and stored.items["rfid"] == "ok" and len(stored.items) == 13
        assert stored.comments == {"prises": "joint de la prise T2 fendu"}
        assert stored.earth_resistance_ohm == Decimal("8.40")
        # CPAM 5-4-8: two working days after Friday 20 November: the end of Tuesday 24; recorded on 4 December.
        assert stored.record_late and stored.record_due_at == paris(2026, 11, 25, 0, 0)
        # Its defect opened one ticket of level 1 (5-4-4 « Défaut identifié par un technicien présent sur site »).
        ticket = await session.scalar(select(Ticket).where(Ticket.tenant_id == tid, Ticket.number == number))
        assert ticket.level == "1" and ticket.origin == f"visit:{visit_id}" and "joint" in ticket.description
        plan = {line.charge_point_id: line for line in await svc.visit_plan(session, tid, today, PARIS)}
    assert (plan[points["A1"]].last_visit, plan[points["A1"]].due, plan[points["A1"]].state) == (
        dt.date(2026, 11, 20), dt.date(2027, 11, 20), "planned")
    # Every mutation is audited: the visit is in the tenant's journal.
    async with admin_db.session() as session:
        from sqlalchemy import text
        rows = (await session.execute(text(
            "SELECT action, actor_label FROM audit_events WHERE tenant_id = :t AND entity = 'incident_maintenance_visits' "
            "ORDER BY at"), {"t": tid})).all()
    assert [tuple(r) for r in rows] == [("create", "test"), ("update", "test")]  # then its ticket's number

    # Bad input: French errors, nothing written; another tenant's charge point: not found.
    async with db.transaction([tid], actor=ACTOR) as session:
        with pytest.raises(ValidationFailed) as bad:
            await svc.record_visit(session, tid, points["A2"], {"visited_on": "demain"}, now=paris(2026, 12, 4, 10))
        assert bad.value.errors["visited_on"] == "date de la visite invalide (attendu : AAAA-MM-JJ)"
        with pytest.raises(NotFound):
            await svc.record_visit(session, tid, uuid.uuid4(), _all_ok(), now=paris(2026, 12, 4, 10))
    other = await make_tenant(db)
    async with db.transaction([other], actor=ACTOR) as session:
        with pytest.raises(NotFound):
            await svc.record_visit(session, other, points["A2"], _all_ok(), now=paris(2026, 12, 4, 10))
        with pytest.raises(NotFound):
            await svc.access_visit(session, other, visit_id)
    async with db.session([tid]) as session:
        assert await session.scalar(select(func.count()).select_from(MaintenanceVisit)) == 1


# --------------------------------------------------------------------------- the pages


@POSTGRES
async def test_pages_pdf_form_and_walls(client, db, demo):
    from tests.conftest import csrf_from, form_post, login

    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        await session.execute(update(ChargePoint).where(ChargePoint.tenant_id == cpam)
                              .values(created_at=paris(2025, 3, 1)))
        point_id = await session.scalar(select(ChargePoint.id).join(Charger, Charger.id == ChargePoint.charger_id)
                                        .where(ChargePoint.tenant_id == cpam).order_by(ChargePoint.canonical_id))
    base = f"/t/{cpam}/maintenance"
    assert (await login(client, "technicien@titulaire.demo")).status_code in (302, 303)
    page = await client.get(f"{base}?mois=2026-10")
    assert page.status_code == 200, page.text[:500]
    text = html.unescape(page.text)
    assert "Maintenance préventive — octobre 2026" in text and f'href="{base}"' in text
    assert "Établir les rapports d'octobre 2026" in text  # the operator's button
    generated = await client.post(f"{base}/generer", data={"mois": "2026-10", "_csrf_token": csrf_from(page.text)},
                                  follow_redirects=False)
    assert generated.status_code == 303
    text = html.unescape((await client.get(f"{base}?mois=2026-10")).text)
    assert "Rapports d'octobre 2026 établis" in text and "Établis le" in text
    assert "<caption>Contrôles à distance d'octobre 2026" in text and 'scope="col"' in text
    async with db.session([cpam]) as session:
        report = await session.scalar(select(MaintenanceReport).where(MaintenanceReport.tenant_id == cpam)
                                      .order_by(MaintenanceReport.point_label))
    detail = await client.get(f"{base}/rapports/{report.id}")
    assert detail.status_code == 200 and report.point_label in detail.text and "Qualité du signal GSM" in detail.text
    pdf = await client.get(f"{base}/rapports/{report.id}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert report.point_label in "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    bad_month = await client.get(f"{base}?mois=2026-13")
    assert bad_month.status_code in (400, 422) and "mois invalide" in bad_month.text

    visits = await client.get(f"{base}/visites")
    assert visits.status_code == 200 and "en retard" in visits.text and "<caption>Plan des visites annuelles" in visits.text
    form_url = f"{base}/visites/nouvelle?point={point_id}"
    refused = await form_post(client, form_url, f"{base}/visites/nouvelle",
                              {"point": str(point_id), "visited_on": "2026-12-01", "technician": ""})
    assert refused.status_code == 422
    assert "le nom du technicien est obligatoire" in refused.text and 'aria-invalid="true"' in refused.text
    async with db.session([cpam]) as session:
        assert await session.scalar(select(func.count()).select_from(MaintenanceVisit)) == 0
    today = dt.datetime.now(PARIS).date().isoformat()
    saved = await form_post(client, form_url, f"{base}/visites/nouvelle",
                            {"point": str(point_id), **_all_ok(visited_on=today)})
    assert saved.status_code == 303, saved.text[:500]
    shown = await client.get(saved.headers["location"])
    assert shown.status_code == 200 and "Contrôle du capteur RFID" in shown.text and "conforme" in shown.text
    visit_url = saved.headers["location"]

    # Tenant walls: the CPAM's report, PDF, visit and charge point are 404 under another tenant (the CHR, where
    # the operator also works), and the CHR's own pages do not list them.
    chr_base = f"/t/{chr_id}/maintenance"
    for path in (f"{chr_base}/rapports/{report.id}", f"{chr_base}/rapports/{report.id}/pdf",
                 visit_url.replace(str(cpam), str(chr_id)), f"{chr_base}/visites/nouvelle?point={point_id}"):
        assert (await client.get(path)).status_code == 404, path
    chr_page = await client.get(f"{chr_base}/visites")
    assert chr_page.status_code == 200
    wrong = await form_post(client, f"{chr_base}/visites", f"{chr_base}/visites/nouvelle",
                            {"point": str(point_id), **_all_ok(visited_on=today)})
    assert wrong.status_code == 404

    # The beneficiary's admin reads the reports and the visits; only the titulaire's operator records them.
    client.cookies.clear()
    assert (await login(client, "admin@cpam72.demo")).status_code in (302, 303)
    mine = await client.get(f"{base}?mois=2026-10")
    assert mine.status_code == 200 and "Établir les rapports" not in mine.text
    assert (await client.get(visit_url)).status_code == 200
    assert (await client.get(form_url)).status_code in (403, 404)


@POSTGRES
async def test_the_command_line_establishes_a_month_once_per_defect(db, centrale):
    import json

    tid, _points = await known_month(db)
    first = await centrale("maintenance", "monthly", "--tenant", str(tid), "--month", "2026-11", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["points"] == 4 and len(json.loads(first.output)["tickets_opened"]) == 5
    again = await centrale("maintenance", "monthly", "--tenant", str(tid), "--month", "2026-11")
    assert again.exit_code == 0 and "4 point(s) de charge, 3 en défaut, 0 ticket(s) ouvert(s)" in again.output
    bad = await centrale("maintenance", "monthly", "--tenant", str(tid), "--month", "2026-13")
    assert bad.exit_code == 2 and "mois invalide" in bad.output
    assert len(await _maintenance_tickets(db, tid)) == 5
