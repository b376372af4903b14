"""Deadline notices (75 % of a delay, its breach), the acknowledgement and closure e-mails, the deemed acceptance.

The rule of when a notice goes out is pure (``incidents.notices``) and checked first on clocks rebuilt by the
engine; then the scheduled job, its records and its e-mails through the outbox, on the real databases: a
notice is sent once per ticket, clock and threshold, across a restart (a second run on a new ``Database``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.composition import schedules
from app.db import Database, utcnow
from app.errors import ValidationFailed
from app.jobs import JobContext, Jobs
from app.mail import OutboxMessage
from app.outbox import OutboxEvent, Relay
from app.schedule import Scheduler
from app.settings import Settings
from incidents import tickets as svc
from incidents.events import DeadlineThresholdReached, TicketClosed, TicketOpened
from incidents.models import IncidentNotice, IncidentSettings, Ticket
from incidents.notices import BREACH, WARNING, due_notices, next_notice_at, notice_plan
from incidents.sla import TicketEvent, evaluate_ticket, policy_template
from incidents.subscribers import SUBSCRIBERS
from incidents.tasks import DEEMED_ACCEPTANCE, SLA_NOTICES
from tenants import services as tenants
from tenants.calendars import BusinessCalendar
from tenants.models import Tenant

PARIS = ZoneInfo("Europe/Paris")
ACTOR = {"user_id": None, "label": "test"}


def paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


# --------------------------------------------------------------------------- the rule, pure


def plan_of(template: str, level: str, reported: dt.datetime, now: dt.datetime, *, territory: str = "metropole",
            events: tuple[TicketEvent, ...] = ()):
    calendar = BusinessCalendar.preset(territory, "ho-8-18")
    clock = evaluate_ticket([TicketEvent("opened", reported, {"level": level}), *events], policy_template(template),
                            calendar, now)
    return notice_plan(clock, calendar, now)


def moments(plan) -> dict[tuple[str, int], dt.datetime]:
    return {p.key: p.notify_at.astimezone(PARIS) for p in plan}


def test_a_delay_in_business_hours_is_notified_in_its_window():
    # CCTP CANUT 6.6: Majeur P1, « < 4h (HO) », « HO = Heures Ouvrées (lun-ven de 8h à 18h) ».
    reported = paris(2026, 12, 7, 9, 0)  # a Monday
    plan = plan_of("canut-iot", "P1", reported, reported)
    assert moments(plan)[("intervention", WARNING)] == paris(2026, 12, 7, 12, 0)
    assert moments(plan)[("intervention", BREACH)] == paris(2026, 12, 7, 13, 0)
    assert due_notices(plan, paris(2026, 12, 7, 11, 59))[0] == []
    later = plan_of("canut-iot", "P1", reported, paris(2026, 12, 7, 12, 0))
    sent, superseded = due_notices(later, paris(2026, 12, 7, 12, 0))
    assert [p.key for p in sent] == [("intervention", WARNING)] and superseded == []
    # Once sent, the job is next needed at the breach.
    assert next_notice_at(later, {("intervention", WARNING)}) == paris(2026, 12, 7, 13, 0)


def test_a_friday_evening_report_is_notified_on_monday():
    # CCTP CPAM 5-4-4: Niveau 2 « 4 heures ouvrés (de 8 heures à 17 heures du lundi au vendredi) »: 30 min on
    # Friday, then 75 % (3 h) on Monday at 10:30 — nothing during the weekend.
    reported = paris(2026, 12, 4, 16, 30)
    saturday = paris(2026, 12, 5, 11, 0)
    plan = plan_of("cpam-irve", "2", reported, saturday)
    assert due_notices(plan, saturday) == ([], [])
    assert moments(plan)[("intervention", WARNING)] == paris(2026, 12, 7, 10, 30)
    assert moments(plan)[("intervention", BREACH)] == paris(2026, 12, 7, 11, 30)


def test_a_threshold_reached_on_a_saturday_goes_out_on_monday_at_eight():
    # CCTP CANUT 6.6: Mineur P2, GTR « < 5 jours ouvrés » counted in whole working days: from Tuesday 06:00,
    # 75 % (3.75 days) are used up at the end of Friday, midnight; the notice waits for Monday 08:00.
    reported = paris(2026, 12, 1, 6, 0)
    plan = plan_of("canut-iot", "P2", reported, reported)
    warning = next(p for p in plan if p.key == ("restoration", WARNING))
    assert warning.reached_at.astimezone(PARIS) == paris(2026, 12, 5, 0, 0)
    assert warning.notify_at.astimezone(PARIS) == paris(2026, 12, 7, 8, 0)
    sunday_night = plan_of("canut-iot", "P2", reported, paris(2026, 12, 6, 23, 59))
    assert ("restoration", WARNING) not in {p.key for p in due_notices(sunday_night, paris(2026, 12, 6, 23, 59))[0]}
    monday = plan_of("canut-iot", "P2", reported, paris(2026, 12, 7, 8, 0))
    assert ("restoration", WARNING) in {p.key for p in due_notices(monday, paris(2026, 12, 7, 8, 0))[0]}


def test_a_notice_missed_on_friday_and_seen_on_saturday_waits_for_the_window():
    # P1 from Friday 14:00: 75 % at 17:00 on Friday. The job was down; seen on Saturday, it goes on Monday.
    saturday = paris(2026, 12, 5, 10, 0)
    plan = plan_of("canut-iot", "P1", paris(2026, 12, 4, 14, 0), saturday)
    assert due_notices(plan, saturday) == ([], [])
    assert moments(plan)[("intervention", WARNING)] == paris(2026, 12, 7, 8, 0)


def test_a_24x7_delay_is_notified_at_once_even_on_a_saturday():
    # CCTP CANUT 6.6 « Option 24h/7j »: P0, 1 h.
    reported = paris(2026, 12, 5, 10, 0)  # a Saturday
    plan = plan_of("canut-iot-24x7", "P0", reported, reported)
    assert moments(plan)[("intervention", WARNING)] == paris(2026, 12, 5, 10, 45)
    assert moments(plan)[("intervention", BREACH)] == paris(2026, 12, 5, 11, 0)
    at = paris(2026, 12, 5, 10, 45)
    assert [p.key for p in due_notices(plan_of("canut-iot-24x7", "P0", reported, at), at)[0]] == [
        ("intervention", WARNING)]


def test_a_moselle_holiday_is_not_a_business_day():
    # Good Friday (3 April 2026) is a holiday in Alsace-Moselle only, Easter Monday everywhere: a P1 reported
    # on Thursday 16:00 has 2 h on Thursday; its 75 % (3 h) comes on Friday 09:00 in Paris, on Tuesday in Metz.
    reported = paris(2026, 4, 2, 16, 0)
    assert moments(plan_of("canut-iot", "P1", reported, reported))[("intervention", WARNING)] == paris(2026, 4, 3, 9, 0)
    moselle = plan_of("canut-iot", "P1", reported, reported, territory="alsace-moselle")
    assert moments(moselle)[("intervention", WARNING)] == paris(2026, 4, 7, 9, 0)


def test_a_paused_clock_plans_nothing_ahead_and_a_breach_supersedes_its_unsent_warning():
    reported = paris(2026, 12, 7, 9, 0)
    waiting = (TicketEvent("waiting_for_buyer", paris(2026, 12, 7, 10, 0)),)
    assert plan_of("canut-iot", "P1", reported, paris(2026, 12, 8, 9, 0), events=waiting) == []
    # Intervention started: that clock is done; only the restoration's notices remain.
    started = (TicketEvent("intervention_started", paris(2026, 12, 7, 10, 0)),)
    assert {p.clock for p in plan_of("canut-iot", "P1", reported, paris(2026, 12, 7, 10, 0), events=started)} == {
        "restoration"}
    # Seen only after the breach (a restart): the breach goes, the warning is recorded as passed, not sent.
    late = paris(2026, 12, 7, 14, 0)
    sent, superseded = due_notices(plan_of("canut-iot", "P1", reported, late), late)
    assert [p.key for p in sent] == [("intervention", BREACH)]
    assert [p.key for p in superseded] == [("intervention", WARNING)]


# --------------------------------------------------------------------------- through the database


async def make_tenant(db: Database, template: str, *, territory: str = "metropole") -> tuple[uuid.UUID, uuid.UUID]:
    tid = uuid.uuid4()
    async with db.transaction([tid], actor=ACTOR) as session:
        session.add(Tenant(id=tid, name="Commune de Villeurbanne", siret=str(tid.int)[:14], territory=territory))
        await session.flush()
        await svc.set_policy_from_template(session, tid, template, ACTOR)
        site = await tenants.create_site(session, tid, {"name": "Hôtel de ville", "insee_code": "69266"})
        for email, role in ((f"exploitant-{tid.hex[:6]}@titulaire.fr", "operator"),
                            (f"admin-{tid.hex[:6]}@villeurbanne.fr", "admin"),
                            (f"agent-{tid.hex[:6]}@villeurbanne.fr", "agent")):
            await tenants.create_user(session, email=email, full_name=role, role=role, tenant_id=tid)
    return tid, site.id


def staff(tid: uuid.UUID) -> list[str]:
    return sorted([f"admin-{tid.hex[:6]}@villeurbanne.fr", f"exploitant-{tid.hex[:6]}@titulaire.fr"])


async def open_at(db: Database, tid: uuid.UUID, at: dt.datetime, **fields: Any) -> Ticket:
    fields = {"channel": "phone", "reporter_name": "Mme Martin", "reporter_email": "martin@villeurbanne.fr", **fields}
    async with db.transaction([tid], actor=ACTOR) as session:
        return await svc.open_ticket(session, tid, now=at, title="Capteur hors ligne", description="",
                                     reported_at=at, **fields)


async def mails(db: Database, tid: uuid.UUID) -> list[OutboxMessage]:
    async with db.session() as session:
        return list(await session.scalars(select(OutboxMessage).where(OutboxMessage.tenant_id == tid)
                                          .order_by(OutboxMessage.created_at, OutboxMessage.to)))


async def events(db: Database, topic: str) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(OutboxEvent.payload).where(OutboxEvent.topic == topic)
                                  .order_by(OutboxEvent.created_at))
        return [row.payload for row in rows]


async def deliver(db: Database, settings: Settings) -> int:
    """One pass of the outbox relay with incidents' subscribers: returns the deliveries it made (a positive
    signal: everything committed and due is delivered when it returns)."""
    result = await Relay(db, settings=settings, subscribers=SUBSCRIBERS).run_once()
    assert result.failed == 0
    return result.delivered


async def run_notices(settings: Settings, db: Database, now: dt.datetime) -> None:
    from app.jobs import ACTORS

    await ACTORS[SLA_NOTICES](JobContext(settings, db), now=now.isoformat())


async def test_notices_at_75_percent_and_at_breach_go_once_across_a_restart(settings: Settings, db: Database):
    # CCTP CANUT 6.6, Majeur P1: intervention « < 4h (HO) », from Monday 09:00.
    tid, site_id = await make_tenant(db, "canut-iot")
    ticket = await open_at(db, tid, paris(2026, 12, 7, 9, 0), level="P1", site_id=site_id)
    assert ticket.next_notice_at == paris(2026, 12, 7, 12, 0)
    await deliver(db, settings)  # the acknowledgement to the reporter
    before = len(await mails(db, tid))

    await run_notices(settings, db, paris(2026, 12, 7, 11, 59))
    assert await events(db, DeadlineThresholdReached.topic) == []
    await run_notices(settings, db, paris(2026, 12, 7, 12, 0, 30))
    assert await deliver(db, settings) == 1
    warning = (await mails(db, tid))[before:]
    assert sorted(m.to for m in warning) == staff(tid)  # the titulaire's operator and the tenant's admin
    assert {m.subject for m in warning} == {f"[{ticket.number}] 75 % du délai d'intervention atteints"}
    assert "l'échéance est le 07/12/2026 à 13:00 (heure de Paris)" in warning[0].body

    # A restart: a new process's Database, the job run again (twice) and the relay again — nothing more.
    await db.dispose()
    restarted = Database(settings.database_url, pool_size=2)
    try:
        await run_notices(settings, restarted, paris(2026, 12, 7, 12, 1))
        await run_notices(settings, restarted, paris(2026, 12, 7, 12, 2))
        assert await deliver(restarted, settings) == 0
        assert len(await mails(restarted, tid)) == before + 2

        await run_notices(settings, restarted, paris(2026, 12, 7, 13, 0, 30))
        await run_notices(settings, restarted, paris(2026, 12, 7, 13, 1))
        assert await deliver(restarted, settings) == 1
        breach = (await mails(restarted, tid))[before + 2:]
        assert sorted(m.to for m in breach) == staff(tid)
        assert {m.subject for m in breach} == {f"[{ticket.number}] Délai d'intervention dépassé"}

        payloads = await events(restarted, DeadlineThresholdReached.topic)
        assert [(p["number"], p["clock"], p["threshold"]) for p in payloads] == [
            (ticket.number, "intervention", 75), (ticket.number, "intervention", 100)]
        assert payloads[1]["deadline"] == "2026-12-07T12:00:00.000Z"
        async with restarted.session([tid]) as session:
            recorded = (await session.execute(select(IncidentNotice.clock, IncidentNotice.threshold)
                                              .order_by(IncidentNotice.threshold))).all()
            stored = await session.get(Ticket, (tid, ticket.id))
        assert [tuple(r) for r in recorded] == [("intervention", 75), ("intervention", 100)]
        # CANUT P1 restoration « < 12h » (HO): its 75 % (9 h) comes on Monday 18:00… at Tuesday's opening.
        assert stored is not None and stored.next_notice_at == paris(2026, 12, 8, 8, 0)
    finally:
        await restarted.dispose()


async def test_a_resolved_ticket_sends_no_more_notices_and_an_event_replans(settings: Settings, db: Database):
    tid, _site = await make_tenant(db, "canut-iot")
    ticket = await open_at(db, tid, paris(2026, 12, 7, 9, 0), level="P1")
    async with db.transaction([tid], actor=ACTOR) as session:
        row = await session.get(Ticket, (tid, ticket.id))
        await svc.add_event(session, row, "wait", now=paris(2026, 12, 7, 10, 0))
        assert row.next_notice_at is None  # waiting for the beneficiary: the clock does not run
        await svc.add_event(session, row, "resume", now=paris(2026, 12, 8, 9, 0))
        # 1 h used on Monday: the 75 % (3 h) comes on Tuesday at 11:00.
        assert row.next_notice_at == paris(2026, 12, 8, 11, 0)
        await svc.add_event(session, row, "resolve", now=paris(2026, 12, 8, 10, 0))
        assert row.next_notice_at is None
    await run_notices(settings, db, paris(2026, 12, 9, 9, 0))
    assert await events(db, DeadlineThresholdReached.topic) == []


async def test_the_scheduler_fires_the_notice_job_in_embedded_mode(settings: Settings, db: Database):
    # 24/7 (CANUT option 24h/7j, P0, 1 h): reported 50 minutes ago, its 75 % is passed, its breach is not.
    tid, _site = await make_tenant(db, "canut-iot-24x7")
    now = utcnow()
    ticket = await open_at(db, tid, now - dt.timedelta(minutes=50), level="P0", incident_type="bloquant")
    jobs = Jobs(settings, db)
    await jobs.start()
    try:
        fired = await Scheduler(db, jobs, schedules()).run_due()
        assert {"incidents.sla-notices", "incidents.deemed-acceptance"} <= set(fired)
        await jobs.drain()
    finally:
        await jobs.stop()
    assert [(p["number"], p["threshold"]) for p in await events(db, DeadlineThresholdReached.topic)] == [
        (ticket.number, 75)]


async def test_the_acknowledgement_gives_the_number_and_the_deadlines(settings: Settings, db: Database):
    # CCTP CPAM 5-4-4 Niveau 2 from a Friday 16:30 report by phone: intervention Monday 11:30.
    tid, _site = await make_tenant(db, "cpam-irve")
    by_phone = await open_at(db, tid, paris(2026, 12, 4, 16, 30), level="2")
    async with db.transaction([tid], actor=ACTOR) as session:
        user = await tenants.find_user_by_email(session, f"agent-{tid.hex[:6]}@villeurbanne.fr")
        assert user is not None
    in_portal = await open_at(db, tid, paris(2026, 12, 4, 17, 0), channel="portal", reporter_email="",
                              reporter_user_id=user.id, reporter_name="Agent")
    await open_at(db, tid, paris(2026, 12, 4, 17, 5), channel="supervision", reporter_email="")
    assert [p["channel"] for p in await events(db, TicketOpened.topic)] == ["phone", "portal", "supervision"]
    assert await deliver(db, settings) == 3
    sent = await mails(db, tid)
    assert [(m.to, m.subject) for m in sent] == [
        ("martin@villeurbanne.fr", f"[{by_phone.number}] Accusé de réception de votre signalement"),
        (user.email, f"[{in_portal.number}] Accusé de réception de votre signalement"),
    ]
    body = sent[0].body
    assert f"enregistré sous le numéro {by_phone.number}" in body
    assert "Signalé le 04/12/2026 à 16:30 (heure de Paris), par téléphone" in body
    assert "- Intervention : au plus tard le 07/12/2026 à 11:30 (heure de Paris)" in body
    # A second delivery of the same event (the relay restarted) writes nothing more.
    assert await deliver(db, settings) == 0
    assert len(await mails(db, tid)) == 2


async def test_the_closure_summary_goes_to_the_sites_local_referent(settings: Settings, db: Database):
    # CCTP CAIH 2.1.5: « l'envoi d'un mail récapitulatif au référent local du marché ».
    tid, site_id = await make_tenant(db, "caih-maintenance-ho")
    async with db.transaction([tid], actor=ACTOR) as session:
        site = await tenants.access_site(session, tid, site_id)
        await tenants.update_site(session, site, {"referent_name": "M. Durand",
                                                  "referent_email": "Referent@CH-Exemple.fr"})
    ticket = await open_at(db, tid, paris(2026, 12, 7, 9, 0), site_id=site_id)
    async with db.transaction([tid], actor=ACTOR) as session:
        row = await session.get(Ticket, (tid, ticket.id))
        await svc.record_intervention(session, row, now=paris(2026, 12, 7, 11, 0), mode="on_site",
                                      technician="T. Leroy", started_at=paris(2026, 12, 7, 10, 0),
                                      ended_at=paris(2026, 12, 7, 11, 0), actions="Disque remplacé")
        await svc.add_event(session, row, "resolve", now=paris(2026, 12, 7, 11, 0))
        with pytest.raises(svc.TicketError):
            await svc.accept_resolution(session, row, now=paris(2026, 12, 7, 12, 0), by_tenant_admin=False)
        await svc.accept_resolution(session, row, now=paris(2026, 12, 7, 12, 0), by_tenant_admin=True)
    assert [p["deemed"] for p in await events(db, TicketClosed.topic)] == [False]
    await deliver(db, settings)
    [summary] = [m for m in await mails(db, tid) if "clos" in m.subject]
    assert (summary.to, summary.subject) == ("referent@ch-exemple.fr", f"[{ticket.number}] Incident clos — récapitulatif")
    assert summary.body.startswith("Bonjour M. Durand,")
    assert "sa résolution a été acceptée par l'administrateur du bénéficiaire" in summary.body
    assert "Clos le 07/12/2026 à 12:00 (heure de Paris)" in summary.body
    assert "- sur site, T. Leroy, du 07/12/2026 à 10:00 (heure de Paris) au 07/12/2026 à 11:00" in summary.body
    assert "Actions : Disque remplacé" in summary.body


async def test_a_bad_referent_address_is_refused_and_changes_nothing(db: Database):
    tid, site_id = await make_tenant(db, "caih-maintenance-ho")
    async with db.transaction([tid], actor=ACTOR) as session:
        site = await tenants.access_site(session, tid, site_id)
        with pytest.raises(ValidationFailed) as caught:
            await tenants.update_site(session, site, {"referent_email": "pas une adresse"})
        assert caught.value.errors == {"referent_email": "Adresse électronique du référent invalide."}
        assert site.referent_email == ""


async def test_deemed_acceptance_closes_once_after_the_tenants_delay(settings: Settings, db: Database):
    # No referent on the site: the summary goes to the tenant's admins, who are told so.
    tid, site_id = await make_tenant(db, "canut-iot")
    ticket = await open_at(db, tid, paris(2026, 12, 7, 9, 0), site_id=site_id)
    async with db.transaction([tid], actor=ACTOR) as session:
        settings_row = await svc.incident_settings(session, tid)
        settings_row.acceptance_delay_hours = 48
        row = await session.get(Ticket, (tid, ticket.id))
        await svc.add_event(session, row, "resolve", now=paris(2026, 12, 7, 10, 0))
    from app.jobs import ACTORS

    job = ACTORS[DEEMED_ACCEPTANCE]
    await job(JobContext(settings, db), now=paris(2026, 12, 9, 9, 59).isoformat())
    async with db.session([tid]) as session:
        assert (await session.get(Ticket, (tid, ticket.id))).status == "resolved"
    for minute in (1, 2):  # twice: the second run finds nothing to do
        await job(JobContext(settings, db), now=paris(2026, 12, 9, 10, minute).isoformat())
    async with db.session([tid]) as session:
        row = await session.get(Ticket, (tid, ticket.id))
        timeline = await svc.ticket_events(session, row)
        delay = await session.scalar(select(IncidentSettings.acceptance_delay_hours))
    assert delay == 48
    assert (row.status, row.closed_at) == ("closed", paris(2026, 12, 9, 10, 0))
    assert [(e.kind, e.reason) for e in timeline][-1] == ("accept", "résolution réputée acceptée")
    assert sum(e.kind == "accept" for e in timeline) == 1
    assert [p["deemed"] for p in await events(db, TicketClosed.topic)] == [True]
    await deliver(db, settings)
    summaries = [m for m in await mails(db, tid) if "clos" in m.subject]
    assert [m.to for m in summaries] == [f"admin-{tid.hex[:6]}@villeurbanne.fr"]
    assert "réputée acceptée à l'expiration du délai fixé par le bénéficiaire" in summaries[0].body
    assert "Aucun référent local n'est renseigné pour ce site" in summaries[0].body
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 2  # + the acknowledgement
