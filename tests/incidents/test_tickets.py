"""Tickets through the services: each SLA row of the three tenders wired through a ticket opened at a
chosen instant (the engine's own tests, test_sla.py, cover the arithmetic), pauses, reclassification,
reopen, consent, numbering, interventions."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest

from incidents import tickets as svc
from incidents.models import Ticket
from tenants.models import Tenant

PARIS = ZoneInfo("Europe/Paris")
ACTOR = {"user_id": None, "label": "test"}


def paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


async def make_tenant(db, territory: str = "metropole", template: str = "cpam-irve") -> uuid.UUID:
    tid = uuid.uuid4()
    async with db.transaction([tid], actor=ACTOR) as session:
        session.add(Tenant(id=tid, name=f"Bénéficiaire {tid.hex[:6]}", siret=str(tid.int)[:14], territory=territory))
        await session.flush()
        await svc.set_policy_from_template(session, tid, template, ACTOR)
    return tid


async def opened(db, tid, at: dt.datetime, **fields) -> Ticket:
    async with db.transaction([tid], actor=ACTOR) as session:
        return await svc.open_ticket(session, tid, now=at, title="Panne", description="", channel="phone",
                                     reported_at=at, **fields)


async def event(db, tid, ticket_id, kind, at, **more):
    async with db.transaction([tid], actor=ACTOR) as session:
        ticket = await session.get(Ticket, (tid, ticket_id))
        await svc.add_event(session, ticket, kind, now=at, at=at, **more)
        return ticket


# CPAM 5-4-4 (intervention) and 5-4-5 (restoration, « à compter de l'expiration du délai d'intervention »).
CPAM_ROWS = [
    # Télémaintenance : 12h (around the clock); restoration level 2 by default: 2 jours ouvrés after it.
    ("telemaintenance", None, paris(2026, 12, 2, 10, 0), paris(2026, 12, 2, 22, 0)),
    # Niveau 1 : immédiat.
    ("1", None, paris(2026, 12, 2, 10, 0), paris(2026, 12, 2, 10, 0)),
    # Niveau 2 : 4 heures ouvrées (8-17) — a Friday 16:30 report runs 30 min Friday and 3h30 on Monday.
    ("2", None, paris(2026, 12, 4, 16, 30), paris(2026, 12, 7, 11, 30)),
    # Niveau 2, reported outside the working hours: 12 heures.
    ("2", None, paris(2026, 12, 5, 10, 0), paris(2026, 12, 5, 22, 0)),
    # Niveau 3 : 48h ouvrés (8-17: 9 h a day), from a Friday 16:30: 0.5 + 45 + 2.5 h.
    ("3", None, paris(2026, 12, 4, 16, 30), paris(2026, 12, 14, 10, 30)),
]


@pytest.mark.parametrize(("level", "restoration", "at", "due"), CPAM_ROWS)
async def test_cpam_intervention_rows(db, level, restoration, at, due):
    tid = await make_tenant(db)
    ticket = await opened(db, tid, at, level=level)
    assert ticket.number.startswith("INC-2026-")
    assert ticket.intervention_due_at == due
    assert ticket.restoration_due_at is not None and ticket.restoration_due_at >= due


@pytest.mark.parametrize("restoration", ["1", "2", "3", "4"])
async def test_cpam_restoration_levels_follow_the_intervention_deadline(db, restoration):
    tid = await make_tenant(db)
    ticket = await opened(db, tid, paris(2026, 12, 2, 10, 0), level="telemaintenance", restoration_level=restoration)
    assert ticket.restoration_level == restoration
    async with db.session([tid]) as session:
        clock = await svc.ticket_clocks(session, ticket, paris(2026, 12, 2, 10, 0))
    assert clock.restoration.started_at == ticket.intervention_due_at
    assert ticket.restoration_due_at > ticket.intervention_due_at


# CANUT 6.6: Bloquant P0 < 1h (HO) / < 4h, Majeur P1 < 4h / < 12h, Mineur P2 < 24h / < 5 jours ouvrés.
CANUT_ROWS = [
    ("bloquant", None, "P0", paris(2026, 12, 2, 10, 0), paris(2026, 12, 2, 11, 0), paris(2026, 12, 2, 14, 0)),
    ("majeur", None, "P1", paris(2026, 12, 2, 10, 0), paris(2026, 12, 2, 14, 0), paris(2026, 12, 3, 12, 0)),
    ("majeur", "P0", "P0", paris(2026, 12, 2, 10, 0), paris(2026, 12, 2, 11, 0), paris(2026, 12, 2, 14, 0)),
    ("mineur", None, "P2", paris(2026, 12, 2, 10, 0), paris(2026, 12, 4, 14, 0), None),
    (None, None, "P2", paris(2026, 12, 2, 10, 0), paris(2026, 12, 4, 14, 0), None),  # unlisted = Mineur / P2
]


@pytest.mark.parametrize(("itype", "level", "expected", "at", "intervention", "restoration"), CANUT_ROWS)
async def test_canut_rows(db, itype, level, expected, at, intervention, restoration):
    tid = await make_tenant(db, template="canut-iot")
    ticket = await opened(db, tid, at, incident_type=itype, level=level)
    assert ticket.level == expected
    assert ticket.intervention_due_at == intervention
    if restoration is not None:
        assert ticket.restoration_due_at == restoration
    else:  # 5 jours ouvrés
        assert ticket.restoration_due_at.astimezone(PARIS).date() == dt.date(2026, 12, 9)


METZ = [
    # CAIH 2.1.21 HO: Mon-Fri 8-18 without holidays. 26 Dec 2025 (Friday) is a holiday in Moselle.
    ("caih-maintenance-ho", "4h", paris(2025, 12, 24, 16, 0), paris(2025, 12, 29, 10, 0)),
    ("caih-maintenance-ho", "10h", paris(2025, 12, 24, 16, 0), paris(2025, 12, 29, 16, 0)),
    ("caih-maintenance-ho", "50h", paris(2026, 3, 30, 8, 0), paris(2026, 4, 7, 18, 0)),  # Good Friday, Easter Monday off
    ("caih-maintenance-24x7", "4h", paris(2025, 12, 26, 10, 0), paris(2025, 12, 26, 14, 0)),
]


@pytest.mark.parametrize(("template", "level", "at", "due"), METZ)
async def test_caih_rows_in_metz(db, template, level, at, due):
    tid = await make_tenant(db, territory="alsace-moselle", template=template)
    ticket = await opened(db, tid, at, level=level)
    assert ticket.intervention_due_at is None  # maintenance: GTR only
    assert ticket.restoration_due_at == due


async def test_caih_50h_outside_moselle_counts_good_friday(db):
    tid = await make_tenant(db, territory="metropole", template="caih-maintenance-ho")
    ticket = await opened(db, tid, paris(2026, 3, 30, 8, 0), level="50h")
    assert ticket.restoration_due_at == paris(2026, 4, 3, 18, 0)


async def test_a_pause_over_a_weekend_and_a_reclassification_keep_every_pause(db):
    tid = await make_tenant(db, template="canut-iot")
    t = await opened(db, tid, paris(2026, 12, 4, 15, 0), incident_type="majeur")  # P1: 4h HO
    assert t.intervention_due_at == paris(2026, 12, 7, 9, 0)
    await event(db, tid, t.id, "acknowledge", paris(2026, 12, 4, 15, 30))
    await event(db, tid, t.id, "wait", paris(2026, 12, 4, 16, 0))  # 1h used
    t = await event(db, tid, t.id, "resume", paris(2026, 12, 7, 10, 0))
    assert t.status == "in_progress"
    assert t.intervention_due_at == paris(2026, 12, 7, 13, 0)  # 3h left from Monday 10:00
    with pytest.raises(svc.TicketError, match="motif"):
        async with db.transaction([tid], actor=ACTOR) as session:
            await svc.reclassify(session, await session.get(Ticket, (tid, t.id)), now=paris(2026, 12, 7, 10, 30),
                                 reason=" ", level="P0")
    async with db.transaction([tid], actor=ACTOR) as session:
        ticket = await session.get(Ticket, (tid, t.id))
        await svc.reclassify(session, ticket, now=paris(2026, 12, 7, 10, 30), reason="site entier à l'arrêt",
                             level="P0")
        # P0: 1h HO from the start, the pause kept: 1h used on Friday → due at Friday 16:00, breached.
        assert ticket.intervention_due_at == paris(2026, 12, 4, 16, 0)
        events = await svc.ticket_events(session, ticket)
    assert events[-1].kind == "reclassify" and events[-1].reason == "site entier à l'arrêt"


async def test_reopen_keeps_the_start_and_adds_the_time_used(db):
    tid = await make_tenant(db, territory="alsace-moselle", template="caih-maintenance-24x7")
    t = await opened(db, tid, paris(2026, 12, 2, 10, 0), level="10h")
    await event(db, tid, t.id, "resolve", paris(2026, 12, 2, 13, 0))  # 3h used
    async with db.transaction([tid], actor=ACTOR) as session:
        ticket = await session.get(Ticket, (tid, t.id))
        await svc.reopen(session, ticket, now=paris(2026, 12, 3, 10, 0), reason="la panne est revenue")
        assert (ticket.status, ticket.reopen_count) == ("in_progress", 1)
        assert ticket.restoration_due_at == paris(2026, 12, 3, 17, 0)  # 7h left
        clock = await svc.ticket_clocks(session, ticket, paris(2026, 12, 3, 10, 0))
    assert clock.opened_at == paris(2026, 12, 2, 10, 0)
    assert clock.restoration.consumed == dt.timedelta(hours=3)


async def test_closure_needs_consent_or_the_deemed_delay(db):
    tid = await make_tenant(db, template="canut-iot")
    t = await opened(db, tid, paris(2026, 12, 2, 10, 0))
    with pytest.raises(svc.TicketError, match="impossible sur un ticket nouveau"):
        await event(db, tid, t.id, "accept", paris(2026, 12, 2, 10, 30))
    await event(db, tid, t.id, "resolve", paris(2026, 12, 2, 11, 0))
    with pytest.raises(svc.TicketError, match="accord du bénéficiaire"):
        await event(db, tid, t.id, "accept", paris(2026, 12, 2, 11, 30))
    async with db.transaction([tid], actor=ACTOR) as session:
        ticket = await session.get(Ticket, (tid, t.id))
        with pytest.raises(svc.TicketError, match="administrateur"):
            await svc.accept_resolution(session, ticket, now=paris(2026, 12, 2, 12, 0), by_tenant_admin=False)
        # 120 h by default: not yet at 119 h.
        assert await svc.close_deemed_accepted(session, tid, paris(2026, 12, 7, 10, 0)) == []
        [closed] = await svc.close_deemed_accepted(session, tid, paris(2026, 12, 7, 11, 0))
    assert closed.status == "closed" and closed.closed_at == paris(2026, 12, 7, 11, 0)
    t2 = await opened(db, tid, paris(2026, 12, 2, 10, 0))
    await event(db, tid, t2.id, "resolve", paris(2026, 12, 2, 11, 0))
    async with db.transaction([tid], actor=ACTOR) as session:
        ticket = await session.get(Ticket, (tid, t2.id))
        await svc.accept_resolution(session, ticket, now=paris(2026, 12, 2, 12, 0), by_tenant_admin=True)
        assert ticket.status == "closed"


async def test_invalid_transitions_are_refused_in_french(db):
    tid = await make_tenant(db, template="canut-iot")
    t = await opened(db, tid, paris(2026, 12, 2, 10, 0))
    with pytest.raises(svc.TicketError, match="impossible sur un ticket nouveau"):
        await event(db, tid, t.id, "resume", paris(2026, 12, 2, 10, 30))


async def test_numbers_are_gap_free_per_tenant_and_year_and_origin_is_idempotent(db):
    tid = await make_tenant(db, template="canut-iot")
    other = await make_tenant(db, template="canut-iot")
    numbers = [(await opened(db, tid, paris(2026, 12, 2, 10, i))).number for i in range(3)]
    assert numbers == ["INC-2026-000001", "INC-2026-000002", "INC-2026-000003"]
    assert (await opened(db, other, paris(2026, 12, 2, 10, 0))).number == "INC-2026-000001"
    assert (await opened(db, tid, paris(2027, 1, 2, 10, 0))).number == "INC-2027-000001"
    first = await opened(db, tid, paris(2026, 12, 2, 11, 0), origin="alert:x")
    again = await opened(db, tid, paris(2026, 12, 2, 11, 5), origin="alert:x")
    assert again.id == first.id and again.number == "INC-2026-000004"


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_concurrent_openings_never_share_a_number(db):
    tid = await make_tenant(db, template="canut-iot")
    at = paris(2026, 12, 2, 10, 0)
    found = await asyncio.gather(*(opened(db, tid, at) for _ in range(8)))
    assert sorted(t.number for t in found) == [f"INC-2026-{n:06d}" for n in range(1, 9)]


async def test_intervention_late_flags_and_30_minute_units(db):
    tid = await make_tenant(db, template="caih-infogerance-ho")
    t = await opened(db, tid, paris(2026, 12, 4, 9, 0))
    async with db.transaction([tid], actor=ACTOR) as session:
        ticket = await session.get(Ticket, (tid, t.id))
        # Friday 10:00-10:31: two units (a started unit is consumed, CAIH 2.1.7); recorded Tuesday: on time
        # (CPAM 5-4-8: two working days, Monday and Tuesday).
        on_time = await svc.record_intervention(session, ticket, now=paris(2026, 12, 8, 17, 0), mode="on_site",
                                                started_at=paris(2026, 12, 4, 10, 0), ended_at=paris(2026, 12, 4, 10, 31))
        assert (on_time.units, on_time.record_late) == (2, False)
        assert ticket.intervention_reached_at == paris(2026, 12, 4, 10, 0)
        # Report due 48 h after the visit.
        assert not svc.report_late(on_time, paris(2026, 12, 6, 10, 0))
        assert svc.report_late(on_time, paris(2026, 12, 6, 10, 32))
        late = await svc.record_intervention(session, ticket, now=paris(2026, 12, 9, 8, 0), mode="remote",
                                             started_at=paris(2026, 12, 4, 11, 0), ended_at=paris(2026, 12, 4, 12, 0),
                                             report="fait", report_at=paris(2026, 12, 4, 12, 30))
        assert (late.units, late.record_late) == (2, True)
        settings = await svc.incident_settings(session, tid)
        settings.infogerance_units_ordered = 40
        balance = await svc.infogerance_balance(session, tid)
        assert (balance.ordered, balance.consumed, balance.from_orders) == (40, 4, False)


async def test_lists_sort_by_the_nearest_deadline(db):
    tid = await make_tenant(db, template="canut-iot")
    p2 = await opened(db, tid, paris(2026, 12, 2, 10, 0))
    p0 = await opened(db, tid, paris(2026, 12, 2, 10, 0), incident_type="bloquant")
    done = await opened(db, tid, paris(2026, 12, 2, 10, 0), incident_type="majeur")
    await event(db, tid, done.id, "resolve", paris(2026, 12, 2, 10, 10))
    async with db.session([tid]) as session:
        assert [t.id for t in await svc.tickets_of_tenant(session, tid)] == [p0.id, p2.id, done.id]
        assert [t.id for t in await svc.tickets_of_tenant(session, tid, status="resolved")] == [done.id]
        assert [t.id for t in await svc.open_tickets_across(session, [tid])] == [p0.id, p2.id]


async def test_attachments_type_and_size_checked(db, tmp_path):
    tid = await make_tenant(db, template="canut-iot")
    t = await opened(db, tid, paris(2026, 12, 2, 10, 0))
    async with db.transaction([tid], actor=ACTOR) as session:
        ticket = await session.get(Ticket, (tid, t.id))
        with pytest.raises(svc.TicketError, match="type de fichier"):
            await svc.add_attachment(session, ticket, var_dir=tmp_path, filename="x.exe",
                                     content_type="application/x-msdownload", content=b"MZ")
        with pytest.raises(svc.TicketError, match="ne correspond pas"):
            await svc.add_attachment(session, ticket, var_dir=tmp_path, filename="x.pdf",
                                     content_type="application/pdf", content=b"MZ")
        with pytest.raises(svc.TicketError, match="10 Mo"):
            await svc.add_attachment(session, ticket, var_dir=tmp_path, filename="x.pdf",
                                     content_type="application/pdf", content=b"%PDF" + b"0" * (10 * 1024 * 1024))
        row = await svc.add_attachment(session, ticket, var_dir=tmp_path, filename="../rapport.pdf",
                                       content_type="application/pdf", content=b"%PDF-1.4 rapport")
    assert row.filename == "rapport.pdf"
    assert svc.attachment_path(tmp_path, row).read_bytes() == b"%PDF-1.4 rapport"


async def test_tgd_terminal_exchange_within_24_hours_around_the_clock(db):
    # CCP TGD annexe 1 I.4: « échange du terminal par un modèle identique, dans un délai maximum de 24 heures »;
    # chantier 2 « 24 heures sur 24, et 7 jours sur 7 » (X.4): a Saturday report falls due on Sunday.
    reunion = ZoneInfo("Indian/Reunion")
    tid = await make_tenant(db, territory="974", template="tgd-terminaux")
    at = dt.datetime(2026, 12, 5, 21, 15, tzinfo=reunion)
    ticket = await opened(db, tid, at)
    assert ticket.level == "echange"
    assert ticket.restoration_due_at == dt.datetime(2026, 12, 6, 21, 15, tzinfo=reunion)
    # Out of warranty: the delay of the financial annex, no contractual clock here.
    other = await opened(db, tid, at, level="hors-garantie")
    assert (other.intervention_due_at, other.restoration_due_at, other.next_due_at) == (None, None, None)


async def test_an_onsite_intervention_started_before_18_goes_on_until_the_resolution(db):
    # CAIH 2.1.22: « Toute intervention sur site débutée avant 18h00 doit être poursuivie jusqu'à la résolution
    # de l'incident. » A technician who left at 18:30 with the incident unresolved breaks it; one who stayed
    # until the resolution at 19:40 does not; one who came at 18:15 is not bound by it.
    tid = await make_tenant(db, territory="alsace-moselle", template="caih-maintenance-ho")
    t = await opened(db, tid, paris(2026, 12, 3, 16, 0), level="4h")
    async with db.transaction([tid], actor=ACTOR) as session:
        ticket = await session.get(Ticket, (tid, t.id))
        now = paris(2026, 12, 4, 20, 0)
        left = await svc.record_intervention(session, ticket, now=now, mode="on_site",
                                             started_at=paris(2026, 12, 3, 17, 30), ended_at=paris(2026, 12, 3, 18, 30))
        late_start = await svc.record_intervention(session, ticket, now=now, mode="on_site",
                                                   started_at=paris(2026, 12, 4, 18, 15),
                                                   ended_at=paris(2026, 12, 4, 18, 45))
        stayed = await svc.record_intervention(session, ticket, now=now, mode="on_site",
                                               started_at=paris(2026, 12, 4, 17, 0), ended_at=paris(2026, 12, 4, 19, 40))
        remote = await svc.record_intervention(session, ticket, now=now, mode="remote",
                                               started_at=paris(2026, 12, 4, 9, 0), ended_at=paris(2026, 12, 4, 9, 30))
        await svc.add_event(session, ticket, "resolve", now=now, at=paris(2026, 12, 4, 19, 40))
        assert await svc.continuity_breached(session, ticket, left)
        assert not await svc.continuity_breached(session, ticket, stayed)
        assert not await svc.continuity_breached(session, ticket, late_start)
        assert not await svc.continuity_breached(session, ticket, remote)
    # The rule is CAIH's: a CANUT ticket's on-site visit that ends unresolved is not flagged by it.
    other = await make_tenant(db, template="canut-iot")
    t2 = await opened(db, other, paris(2026, 12, 3, 16, 0))
    async with db.transaction([other], actor=ACTOR) as session:
        ticket = await session.get(Ticket, (other, t2.id))
        visit = await svc.record_intervention(session, ticket, now=paris(2026, 12, 4, 20, 0), mode="on_site",
                                              started_at=paris(2026, 12, 3, 17, 30), ended_at=paris(2026, 12, 3, 18, 30))
        assert not await svc.continuity_breached(session, ticket, visit)


async def test_a_canut_priority_given_without_a_type_takes_its_type(db):
    """CANUT 6.6: P0 is the priority of a « Bloquant » incident; given alone it is not turned into « Mineur »."""
    tid = await make_tenant(db, template="canut-iot")
    ticket = await opened(db, tid, paris(2026, 12, 2, 10, 0), level="P0")
    assert (ticket.level, ticket.incident_type) == ("P0", "bloquant")
    plain = await opened(db, tid, paris(2026, 12, 2, 10, 0))
    assert (plain.level, plain.incident_type) == ("P2", "mineur")
