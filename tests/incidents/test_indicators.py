"""The monthly indicators (CCTP CAIH 2.1.26, 2.1.27, 2.1.33) on a generated month with known answers:
the pure core on facts, then through tickets opened, worked and closed with the services."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from incidents import tickets as svc
from incidents.indicator_data import (
    central_indicators,
    indicators_csv,
    intervention_statement,
    quarter_bounds,
    statement_csv,
    statement_pdf,
    tenant_indicators,
)
from incidents.indicators import (
    LOT_TARGETS,
    Month,
    TicketFacts,
    combine,
    duration_label,
    lot_indicators,
    month_indicators,
    parse_month,
)
from incidents.models import Ticket
from tests.incidents.test_tickets import ACTOR, make_tenant

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")
T = uuid.uuid4()


def at(*args: int, zone: ZoneInfo = PARIS) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone)


def fact(reported, closed=None, *, breached=False, reopened=False, remote=True, channel="portal",
         equipment="Serveur", warranty=None, site="Siège") -> TicketFacts:
    return TicketFacts(tenant_id=T, reported_at=reported, channel=channel, closed_at=closed, breached=breached,
                       reopened=reopened, remote_only=remote, equipment=equipment, under_warranty=warranty, site=site)


def november() -> list[TicketFacts]:
    """20 tickets closed in November 2026: 18 on time (90 %: the 2.1.26 target met), 1 reopened (5 %:
    the ceiling met), 15 solved without going on site; declared in November: those 20 plus 2 still
    open; 3 phone calls in November (one in the week of 30/11), one in March."""
    facts = []
    for i in range(20):
        facts.append(fact(at(2026, 11, 2 + i, 9), at(2026, 11, 3 + i, 9), breached=i < 2, reopened=i == 5,
                          remote=i >= 5, equipment="Serveur" if i % 2 else "Baie de stockage",
                          warranty=i % 4 != 0, channel="phone" if i in (1, 2) else "portal"))
    facts.append(fact(at(2026, 11, 30, 10), channel="phone", warranty=None, equipment="Commutateur"))
    facts.append(fact(at(2026, 11, 30, 23, 30)))  # 30 Nov 23:30 Paris is 22:30 UTC: still November
    facts.append(fact(at(2026, 3, 3, 9), at(2026, 3, 4, 9), channel="phone"))
    facts.append(fact(at(2026, 12, 1, 0, 30)))  # December in Paris (23:30 UTC on 30 November)
    return facts


def test_a_month_of_an_establishment_with_known_answers():
    m = month_indicators(november(), Month(2026, 11), PARIS)
    assert (m.declared, m.closed, m.closed_on_time, m.closed_reopened, m.closed_remotely) == (22, 20, 18, 1, 15)
    # CAIH 2.1.26: 90 % on time is the target (met), 5 % reopened the ceiling (met).
    assert (m.on_time_rate, m.on_time_met) == (Decimal("90.0"), True)
    assert (m.reopen_rate, m.reopen_met) == (Decimal("5.0"), True)
    assert m.remote_rate == Decimal("75.0")
    assert dict(m.by_equipment) == {"Serveur": 11, "Baie de stockage": 10, "Commutateur": 1}
    # i % 4 == 0 for 5 of the 20 are out of warranty; the two open ones unknown.
    assert (m.under_warranty, m.out_of_warranty, m.warranty_unknown) == (15, 5, 2)
    # Support calls (2.1.33 « par semaine, par mois, par an »).
    assert (m.calls_month, m.calls_year) == (3, 4)
    weeks = dict(m.calls_by_week)
    assert list(weeks)[0].startswith("S44") and list(weeks)[-1].startswith("S49")
    assert sum(weeks.values()) == 3 and weeks[list(weeks)[-1]] == 1


def test_the_lot_counts_each_establishment_in_its_own_zone_against_2_1_27():
    # 23:30 on 30 November in Réunion is 19:30 UTC: November there; the lot sums both.
    reunion = [fact(at(2026, 11, 30, 23, 30, zone=REUNION), at(2026, 11, 30, 23, 45, zone=REUNION))]
    lot = lot_indicators([("CHU", november(), PARIS), ("Tribunal", reunion, REUNION)], Month(2026, 11))
    assert lot.lot.targets == LOT_TARGETS
    assert (lot.lot.declared, lot.lot.closed, lot.lot.closed_on_time) == (23, 21, 19)
    # 19/21 = 90.5 % < 98 %: the lot's target is missed while the CHU meets its own.
    assert (lot.lot.on_time_rate, lot.lot.on_time_met) == (Decimal("90.5"), False)
    assert [(name, m.on_time_met) for name, m in lot.establishments] == [("CHU", True), ("Tribunal", True)]


def test_an_empty_month_has_no_rate_and_parse_month_checks_its_input():
    m = month_indicators([], Month(2026, 2), PARIS)
    assert (m.closed, m.on_time_rate, m.on_time_met) == (0, None, None)
    assert parse_month("", dt.date(2026, 1, 15)) == Month(2025, 12)
    assert parse_month("2026-07", dt.date(2026, 1, 15)) == Month(2026, 7)
    for bad in ("2026-13", "26-01", "juillet", "2026-1"):
        with pytest.raises(ValueError, match="mois invalide"):
            parse_month(bad, dt.date(2026, 1, 1))


def test_the_mean_time_to_restore_of_the_tickets_closed_in_the_month():
    # CCTP CAIH 6.1 « le temps de rétablissement »: the tickets closed in November with a known restoration time
    # (2 h, 3 h 30, 4 h 10 of the contract's business time); one closed without (before migration 0043) is left out,
    # one restored but still open is not closed in November.
    base = [fact(at(2026, 11, 2 + i, 9), at(2026, 11, 3 + i, 9)) for i in range(4)]
    timed = [TicketFacts(**{**f.__dict__, "restoration_seconds": s})
             for f, s in zip(base, (7200, 12600, 15000, None), strict=True)]
    still_open = TicketFacts(**{**fact(at(2026, 11, 20, 9)).__dict__, "restoration_seconds": 600})
    m = month_indicators([*timed, still_open], Month(2026, 11), PARIS)
    assert (m.closed, m.restored_timed, m.restoration_seconds) == (4, 3, 34800)
    assert m.mean_restoration_seconds == 11600 and duration_label(11600) == "3 h 13"
    assert m.as_dict()["restoration"] == {"timed": 3, "mean_seconds": 11600, "mean": "3 h 13"}
    # The lot and a period: the sum of the durations over the sum of the tickets, not a mean of means.
    other = month_indicators([TicketFacts(**{**fact(at(2026, 11, 5, 9), at(2026, 11, 5, 10)).__dict__,
                                             "restoration_seconds": 3600})], Month(2026, 11), PARIS)
    lot = combine([m, other], Month(2026, 11))
    assert (lot.restored_timed, lot.mean_restoration_seconds) == (4, 9600)
    quiet = month_indicators([], Month(2026, 11), PARIS)
    assert (quiet.mean_restoration_seconds, duration_label(None)) == (None, "—")
    assert [duration_label(s) for s in (59, 3599, 90_000, 86_400 * 2 + 3600 * 4 + 1800)] == [
        "1 min", "1 h 00", "1 j 1 h 00", "2 j 4 h 30"]


async def _closed(db, tid, reported, *, late=False, reopened=False, on_site=False, channel="portal"):
    """A ticket reported at ``reported``, acknowledged, worked and accepted by the admin; ``late``
    resolves it after its restoration deadline (CAIH 4 h)."""
    async with db.transaction([tid], actor=ACTOR) as session:
        ticket = await svc.open_ticket(session, tid, now=reported, title="Serveur arrêté", description="",
                                       channel=channel, reported_at=reported, level="4h")
        start = reported + dt.timedelta(minutes=30)
        await svc.add_event(session, ticket, "acknowledge", now=start, at=start)
        await svc.record_intervention(session, ticket, now=start + dt.timedelta(hours=1),
                                      mode="on_site" if on_site else "remote", started_at=start,
                                      ended_at=start + dt.timedelta(hours=1), actions="Remplacement du disque",
                                      parts=[{"label": "Disque 2 To", "quantity": 1}] if on_site else ())
        done = reported + dt.timedelta(hours=9 if late else 2)
        if late:
            await svc.add_event(session, ticket, "wait", now=done - dt.timedelta(hours=1),
                                at=done - dt.timedelta(hours=1), reason="pièce en commande")
            await svc.add_event(session, ticket, "resume", now=done - dt.timedelta(minutes=30),
                                at=done - dt.timedelta(minutes=30))
        await svc.add_event(session, ticket, "resolve", now=done, at=done)
        if reopened:
            await svc.reopen(session, ticket, now=done + dt.timedelta(minutes=10), reason="toujours en panne")
            await svc.add_event(session, ticket, "resolve", now=done + dt.timedelta(minutes=40))
        await svc.accept_resolution(session, ticket, now=done + dt.timedelta(hours=1), by_tenant_admin=True)
        return ticket


async def test_the_restoration_time_is_the_gtr_clocks_business_time(db):
    """CCTP CAIH 6.1 « le temps de rétablissement », counted as the SLA engine counts the GTR (CAIH 2.1.21 « en
    heures ouvrées » for the HO option: 8 h-18 h on working days): reported on Friday 6 November 2026 at 17:00,
    restored on Monday 9 at 10:00 = 1 h + 2 h; in 24/7, the same ticket without its wait = 8 h 30 of 9 h."""
    ho = await make_tenant(db, template="caih-maintenance-ho")
    async with db.transaction([ho], actor=ACTOR) as session:
        ticket = await svc.open_ticket(session, ho, now=at(2026, 11, 6, 17), title="Baie arrêtée", description="",
                                       channel="phone", reported_at=at(2026, 11, 6, 17), level="4h")
        await svc.add_event(session, ticket, "acknowledge", now=at(2026, 11, 6, 17, 20))
        assert ticket.restoration_seconds is None  # not restored yet
        await svc.add_event(session, ticket, "resolve", now=at(2026, 11, 9, 10))
        assert ticket.restoration_seconds == 3 * 3600
        clock = await svc.ticket_clocks(session, ticket, at(2026, 11, 9, 11))
        assert clock.restoration is not None and clock.restoration.consumed == dt.timedelta(hours=3)
        await svc.accept_resolution(session, ticket, now=at(2026, 11, 9, 11), by_tenant_admin=True)
        m = await tenant_indicators(session, ho, Month(2026, 11))
    assert (m.restored_timed, m.mean_restoration_seconds) == (1, 10800)
    h24 = await make_tenant(db, template="caih-maintenance-24x7")
    await _closed(db, h24, at(2026, 11, 3, 9))  # 2 h
    await _closed(db, h24, at(2026, 11, 4, 9), late=True)  # 9 h less the 30 min waiting for a part
    async with db.transaction([ho, h24], actor=ACTOR) as session:
        lot = await central_indicators(session, [ho, h24], Month(2026, 11))
    # (3 h + 2 h + 8 h 30) / 3 = 4 h 30.
    assert (lot.lot.restored_timed, lot.lot.mean_restoration_seconds) == (3, 16200)
    csv = indicators_csv([("Lot", lot.lot)]).decode("utf-8-sig").splitlines()
    assert csv[0].endswith(";Durées de rétablissement connues;Temps moyen de rétablissement (min, heures ouvrées)")
    assert csv[1].endswith(";3;270")


#: For the tests of the components that read the indicators (reporting's « Engagements de service » sheet).
closed_ticket = _closed


async def test_indicators_through_tickets_worked_and_closed(db):
    chu = await make_tenant(db, template="caih-maintenance-24x7")
    other = await make_tenant(db, template="caih-maintenance-24x7")
    # CHU: 4 tickets closed in November, one late (GTR 4 h exceeded), one reopened, one on site.
    await _closed(db, chu, at(2026, 11, 3, 9))
    await _closed(db, chu, at(2026, 11, 4, 9), late=True)
    await _closed(db, chu, at(2026, 11, 5, 9), reopened=True, channel="phone")
    await _closed(db, chu, at(2026, 11, 6, 9), on_site=True)
    # Other: one ticket in October (not November's), one in November.
    await _closed(db, other, at(2026, 10, 6, 9))
    await _closed(db, other, at(2026, 11, 9, 9), channel="phone")
    async with db.transaction([chu], actor=ACTOR) as session:
        m = await tenant_indicators(session, chu, Month(2026, 11))
    assert (m.declared, m.closed, m.closed_on_time, m.closed_reopened, m.closed_remotely) == (4, 4, 3, 1, 3)
    assert (m.on_time_rate, m.on_time_met, m.reopen_rate, m.reopen_met) == (Decimal("75.0"), False,
                                                                             Decimal("25.0"), False)
    assert (m.calls_month, m.calls_year) == (1, 1)
    async with db.transaction([chu, other], actor=ACTOR) as session:
        lot = await central_indicators(session, [chu, other], Month(2026, 11))
        quarter = quarter_bounds(2026, 4, PARIS)
        lines = await intervention_statement(session, [chu, other], *quarter)
    assert (lot.lot.closed, lot.lot.closed_on_time, lot.lot.calls_month) == (5, 4, 2)
    assert lot.lot.on_time_rate == Decimal("80.0")
    csv = indicators_csv([("Lot", lot.lot), *lot.establishments]).decode("utf-8-sig")
    assert csv.splitlines()[1].startswith("Lot;2026-11;5;5;4;80,0;98;1;20,0;2;")
    # CAIH 2.1.33: the quarter's 6 interventions, the late one with its reason.
    assert len(lines) == 6
    late = [line for line in lines if not line.delay_met]
    assert len(late) == 1 and late[0].delay_reason == "pièce en commande"
    on_site = [line for line in lines if line.nature.startswith("Sur site")]
    assert on_site[0].parts == "1 × Disque 2 To" and on_site[0].duration_minutes == 60
    text = statement_csv(lines, PARIS).decode("utf-8-sig")
    assert "Raison du retard" in text.splitlines()[0] and "pièce en commande" in text
    pdf = statement_pdf(lines, PARIS, title="État récapitulatif des interventions", subtitle="T4 2026")
    assert pdf.startswith(b"%PDF")


async def test_a_ticket_reopened_after_its_closure_counts_in_the_month_it_is_closed_again(db):
    tid = await make_tenant(db, template="caih-maintenance-24x7")
    ticket = await _closed(db, tid, at(2026, 10, 30, 9))
    async with db.transaction([tid], actor=ACTOR) as session:
        row = await session.get(Ticket, (tid, ticket.id))
        await svc.reopen(session, row, now=at(2026, 11, 2, 9), reason="rappel de l'utilisateur")
        await svc.add_event(session, row, "resolve", now=at(2026, 11, 2, 10))
        await svc.accept_resolution(session, row, now=at(2026, 11, 2, 11), by_tenant_admin=True)
        october = await tenant_indicators(session, tid, Month(2026, 10))
        nov = await tenant_indicators(session, tid, Month(2026, 11))
    assert (october.declared, october.closed) == (1, 0)
    assert (nov.declared, nov.closed, nov.closed_reopened) == (0, 1, 1)


# --------------------------------------------------------------------------- pages, downloads, API


async def test_pages_downloads_and_api_of_the_establishment_and_the_lot(client, db, demo, api_token):
    from tests.conftest import login

    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    await _closed(db, chr_id, at(2025, 11, 3, 9), channel="phone")
    await _closed(db, chr_id, at(2025, 11, 4, 9), late=True, on_site=True)
    assert (await login(client, "admin@chr-metz.demo")).status_code in (302, 303)
    page = await client.get(f"/t/{chr_id}/incidents/indicateurs?mois=2025-11")
    assert page.status_code == 200, page.text[:300]
    html = page.text
    assert "Indicateurs de service — novembre 2025" in html
    assert "Incidents traités dans les temps (1 sur 2 clôturés)" in html and "50,0 %" in html
    assert "non atteint" in html and "≥ 90 %" in html
    assert 'role="img"' in html and "Données du graphique (tableau)" in html
    # The menu names the page; the month is checked.
    assert f'href="/t/{chr_id}/incidents/indicateurs"' in html
    bad = await client.get(f"/t/{chr_id}/incidents/indicateurs?mois=2026-13")
    assert bad.status_code in (400, 422) and "mois invalide" in bad.text
    csv = await client.get(f"/t/{chr_id}/incidents/indicateurs.csv?mois=2025-11")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.content.decode("utf-8-sig").splitlines()[1].startswith("Centre hospitalier régional de Metz-Thionville;2025-11;2;2;1;50,0;90;")
    pdf = await client.get(f"/t/{chr_id}/incidents/etat-interventions.pdf?annee=2025&trimestre=4")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    statement = (await client.get(f"/t/{chr_id}/incidents/etat-interventions.csv?annee=2025&trimestre=4")).content
    assert statement.decode("utf-8-sig").count("\r\n") == 3  # header and two interventions
    # Another tenant's indicators are a 404 for this admin.
    other = demo["tenant_ids"]["cpam"]
    assert (await client.get(f"/t/{other}/incidents/indicateurs")).status_code == 404

    client.cookies.clear()
    assert (await login(client, "coordination@caih.demo")).status_code in (302, 303)
    lot = (await client.get("/c/CAIH/indicateurs?mois=2025-11")).text
    assert "Indicateurs de service du lot — novembre 2025" in lot and "≥ 98 %" in lot
    assert "Centre hospitalier régional de Metz-Thionville" in lot
    assert (await client.get("/c/CANUT/indicateurs")).status_code == 404

    headers = await api_token("coordination@caih.demo")
    body = (await client.get("/api/v1/centrals/CAIH/indicators?month=2025-11", headers=headers)).json()
    assert body["lot"]["closed"] == 2 and body["lot"]["on_time_rate"] == "50.0" and body["lot"]["on_time_target"] == "98"
    mine = await client.get(f"/api/v1/tenants/{chr_id}/indicators?month=2025-11",
                            headers=await api_token("admin@chr-metz.demo"))
    assert mine.status_code == 200 and mine.json()["support_calls"]["month"] == 1
    assert mine.json()["on_time_met"] is False
    wrong = await client.get(f"/api/v1/tenants/{chr_id}/indicators?month=2026-00",
                             headers=await api_token("admin@chr-metz.demo"))
    assert wrong.status_code == 422 and "mois invalide" in wrong.text
    assert (await client.get(f"/api/v1/tenants/{other}/indicators", headers=headers)).status_code == 404
