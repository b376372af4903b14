"""The agents' badge requests with a database (``catalog.badge_requests``, issue 14 §4, CCTP CPAM 5-5-5-3): the
request with its plate normalised, the manager's written approval or refusal with who and when, the operator's
shipment with the idTag, refused steps that change nothing, the overdue steps, the audit and the tenant wall."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from app.audit import AuditEvent
from app.errors import NotFound
from catalog import badge_requests as br
from catalog.models import BadgeRequest
from tenants.models import User

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
ACTOR = {"user_id": None, "label": "agent@cpam72.demo"}


async def _user(session, email: str) -> uuid.UUID:
    return await session.scalar(select(User.id).where(User.email == email))


async def test_requested_approved_shipped_with_who_and_when(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        agent, admin = await _user(session, "agent@cpam72.demo"), await _user(session, "admin@cpam72.demo")
        operator = await _user(session, "technicien@titulaire.demo")
        request = await br.request_badge(session, cpam, agent, {"plate": "ab 123 cd", "reason": "Trajets domicile"},
                                         now=NOW)
    assert (request.plate, request.state) == ("AB-123-CD", "requested")
    # CPAM 5-5-5-3 « 24h à partir de la réception de la demande »: overdue from 24 h and one second.
    async with db.session([cpam]) as session:
        assert await br.overdue_requests(session, [cpam], NOW + dt.timedelta(hours=24)) == []
        [late] = await br.overdue_requests(session, [cpam], NOW + dt.timedelta(hours=24, seconds=1))
        assert late.id == request.id
    decided = NOW + dt.timedelta(hours=3)
    async with db.transaction([cpam], actor=ACTOR) as session:
        approved = await br.approve_request(session, cpam, request.id, decided_by=admin, now=decided)
        assert (approved.state, approved.decided_by, approved.decided_at) == ("approved", admin, decided)
    async with db.session([cpam]) as session:
        # « 72h à partir de l'autorisation écrite »
        assert await br.overdue_requests(session, [cpam], decided + dt.timedelta(hours=72)) == []
        assert len(await br.overdue_requests(session, [cpam], decided + dt.timedelta(hours=73))) == 1
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(br.BadgeRequestError) as exc:
            await br.ship_request(session, cpam, request.id, {"id_tag": "avec espace"}, shipped_by=operator, now=NOW)
        assert set(exc.value.errors) == {"id_tag"}
        shipped = await br.ship_request(session, cpam, request.id, {"id_tag": "CPAM-RFID-0042",
                                                                     "shipment_reference": "Lettre suivie 1A2B"},
                                        shipped_by=operator, now=decided + dt.timedelta(hours=5))
        assert (shipped.state, shipped.id_tag, shipped.shipment_reference) == ("shipped", "CPAM-RFID-0042",
                                                                              "Lettre suivie 1A2B")
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(br.BadgeRequestError) as exc:
            await br.approve_request(session, cpam, request.id, decided_by=admin, now=NOW)
        assert exc.value.errors == {"state": "Une demande expédiée ne peut pas être approuvée."}
    async with db.session([cpam]) as session:
        audited = await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.tenant_id == cpam, AuditEvent.entity == "badge_requests"))
        [mine] = await br.requests_of_tenant(session, cpam, requested_by=agent)
    assert audited == 3 and mine.state == "shipped"  # the request, the approval, the shipment


async def test_bad_requests_and_refusals_change_nothing(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        agent, admin = await _user(session, "agent@cpam72.demo"), await _user(session, "admin@cpam72.demo")
        with pytest.raises(br.BadgeRequestError) as exc:
            await br.request_badge(session, cpam, agent, {"plate": "IO-123-UU", "reason": "",
                                                          "site_id": str(uuid.uuid4())}, now=NOW)
        assert set(exc.value.errors) == {"plate", "reason", "site_id"}
        request = await br.request_badge(session, cpam, agent, {"plate": "123 ABC 72", "reason": "Visites"}, now=NOW)
        with pytest.raises(br.BadgeRequestError) as exc:
            await br.refuse_request(session, cpam, request.id, "  ", decided_by=admin, now=NOW)
        assert exc.value.errors == {"reason": "Indiquez le motif du refus : l'agent le lira."}
        refused = await br.refuse_request(session, cpam, request.id, "Véhicule de service disponible",
                                          decided_by=admin, now=NOW)
        assert (refused.state, refused.refusal_reason, refused.plate) == ("refused", "Véhicule de service disponible",
                                                                          "123 ABC 72")
    async with db.session([cpam]) as session:
        assert await session.scalar(select(func.count()).select_from(BadgeRequest)) == 1


async def test_an_agent_cancels_its_own_request_only_and_walls_hold(db, demo):
    cpam, chr_ = uuid.UUID(demo["tenant_ids"]["cpam"]), uuid.UUID(demo["tenant_ids"]["chr"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        agent, admin = await _user(session, "agent@cpam72.demo"), await _user(session, "admin@cpam72.demo")
        request = await br.request_badge(session, cpam, agent, {"plate": "AB-123-CD", "reason": "Trajets"}, now=NOW)
        with pytest.raises(NotFound):
            await br.cancel_request(session, cpam, request.id, requested_by=admin, now=NOW)
        cancelled = await br.cancel_request(session, cpam, request.id, requested_by=agent, now=NOW)
        assert (cancelled.state, cancelled.cancelled_at) == ("cancelled", NOW)
    async with db.transaction([chr_], actor=ACTOR) as session:
        with pytest.raises(NotFound):
            await br.get_request_in_tenant(session, chr_, request.id)
