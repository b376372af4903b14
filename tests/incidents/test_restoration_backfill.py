"""The restoration-time backfill (CCTP CAIH 6.1 « le temps de rétablissement »): tickets restored before migration
0043 have no ``restoration_seconds`` and are left out of the mean time to restore; ``centrale sla
backfill-restoration`` gives each the value its next event would set (the same rule, ``incidents.sla.
restoration_seconds`` of the clocks rebuilt from its events), on SQLite and PostgreSQL, once."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select, update

from app.audit import AuditEvent
from incidents import tickets as svc
from incidents.indicator_data import central_indicators
from incidents.indicators import Month
from incidents.models import Ticket
from tests.incidents.test_indicators import at, closed_ticket
from tests.incidents.test_tickets import ACTOR, make_tenant


async def _restoration(db, tid) -> dict[str, int | None]:
    async with db.session([tid]) as session:
        return {t.number: t.restoration_seconds for t in await session.scalars(select(Ticket))}


async def _as_before_0043(db, tid) -> None:
    """The rows as migration 0043 left them: the column added, null on every ticket."""
    async with db.transaction([tid], actor=ACTOR) as session:
        await session.execute(update(Ticket).where(Ticket.tenant_id == tid).values(restoration_seconds=None))


async def _lot(db, tids: list[uuid.UUID]):
    async with db.transaction(tids, actor=ACTOR) as session:
        return (await central_indicators(session, tids, Month(2026, 11))).lot


async def test_the_backfill_gives_old_tickets_the_live_rules_time_once(centrale, db):
    h24 = await make_tenant(db, template="caih-maintenance-24x7")
    ho = await make_tenant(db, template="caih-maintenance-ho")
    await closed_ticket(db, h24, at(2026, 11, 3, 9))  # 2 h
    await closed_ticket(db, h24, at(2026, 11, 4, 9), late=True)  # 9 h less 30 min waiting for a part
    await closed_ticket(db, h24, at(2026, 11, 5, 9), reopened=True)  # 2 h, then 30 min after its reopening
    # HO (CAIH 2.1.21, 8 h-18 h on working days): reported Friday 17:00, restored Monday 10:00 = 1 h + 2 h.
    async with db.transaction([ho], actor=ACTOR) as session:
        ticket = await svc.open_ticket(session, ho, now=at(2026, 11, 6, 17), title="Baie arrêtée", description="",
                                       channel="phone", reported_at=at(2026, 11, 6, 17), level="4h")
        await svc.add_event(session, ticket, "acknowledge", now=at(2026, 11, 6, 17, 20))
        await svc.add_event(session, ticket, "resolve", now=at(2026, 11, 9, 10))
        await svc.accept_resolution(session, ticket, now=at(2026, 11, 9, 11), by_tenant_admin=True)
        still_open = await svc.open_ticket(session, ho, now=at(2026, 11, 10, 9), title="Disque", description="",
                                           channel="phone", reported_at=at(2026, 11, 10, 9), level="4h")
    live = {h24: await _restoration(db, h24), ho: await _restoration(db, ho)}
    assert sorted(live[h24].values()) == [7200, 9000, 30600]
    assert live[ho] == {ticket.number: 3 * 3600, still_open.number: None}
    lot = await _lot(db, [h24, ho])
    assert (lot.restored_timed, lot.mean_restoration_seconds) == (4, 14400)  # (2 + 8.5 + 2.5 + 3) h / 4 = 4 h

    for tid in (h24, ho):
        await _as_before_0043(db, tid)
    lot = await _lot(db, [h24, ho])
    assert (lot.closed, lot.restored_timed, lot.mean_restoration_seconds) == (4, 0, None)

    # One tenant first, then every tenant: the other's four restored tickets, the open one never read.
    done = await centrale("sla", "backfill-restoration", "--tenant", str(ho), "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"tenants": 1, "examined": 1, "filled": 1}
    assert await _restoration(db, ho) == live[ho]
    assert set((await _restoration(db, h24)).values()) == {None}
    done = await centrale("sla", "backfill-restoration")
    assert done.exit_code == 0, done.output
    assert "3 ticket(s) complété(s) sur 3 ticket(s) rétabli(s) sans durée" in done.stdout
    assert await _restoration(db, h24) == live[h24] and await _restoration(db, ho) == live[ho]
    lot = await _lot(db, [h24, ho])
    assert (lot.restored_timed, lot.mean_restoration_seconds) == (4, 14400)

    # Idempotent: nothing left to read, nothing changed.
    again = await centrale("sla", "backfill-restoration", "--json")
    assert json.loads(again.stdout)["examined"] == 0 and json.loads(again.stdout)["filled"] == 0
    assert await _restoration(db, h24) == live[h24]
    # Audited: each ticket's change is in its tenant's journal, by « cli ».
    async with db.session([ho]) as session:
        audits = (await session.scalars(select(AuditEvent).where(
            AuditEvent.entity == "incident_tickets", AuditEvent.entity_id == str(ticket.id),
            AuditEvent.actor_label == "cli"))).all()
    assert [(a.action, a.before, a.after) for a in audits] == [
        ("update", {"restoration_seconds": None}, {"restoration_seconds": 10800})]


async def test_the_backfill_of_an_unknown_tenant_says_so(centrale, db):
    done = await centrale("sla", "backfill-restoration", "--tenant", str(uuid.uuid4()))
    assert done.exit_code == 1 and "bénéficiaire introuvable" in done.output
    done = await centrale("sla", "backfill-restoration", "--tenant", "pas-un-id")
    assert done.exit_code == 2 and "identifiant de bénéficiaire invalide" in done.output

