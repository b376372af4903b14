"""Amendments of purchase orders (``catalog.amendments``, CCP TGD VI.3): notified ten days before their date of
effect at the latest (an earlier date refused with the rule quoted), the order's lines becoming the new version at
the order date's prices with every version kept and what changed, the titulaire's observations within five days,
the deemed acceptance recorded once by the job after them, the floor of what was delivered, mails once, the
audit and the wall."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.audit import AuditEvent
from app.errors import NotFound
from app.mail import OutboxMessage
from app.outbox import Relay
from catalog import amendments as am
from catalog import deliveries, orders
from catalog.models import PurchaseOrderAmendment
from catalog.tasks import run_amendment_acceptances
from tenants.models import FrameworkAgreement

ACTOR = {"user_id": None, "label": "admin@cpam72.demo"}
OPERATOR = {"user_id": None, "label": "technicien@titulaire.demo"}
#: Monday 7 December 2026, 10:00 in Le Mans.
NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
LINES = [{"article_code": "IRVE-BORNE-22", "quantity": "2"}, {"article_code": "IRVE-POSE", "quantity": "2"}]


async def _issued_order(db, cpam):
    async with db.transaction([cpam], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(
            FrameworkAgreement.reference == "2025-CPAM72-IRVE"))
        order = await orders.create_order(session, cpam, {
            "agreement_id": str(agreement.id), "lines": LINES, "delivery_place": "Siège",
            "representative": "Anne Administratrice"}, order_date=NOW.date(), now=NOW)
        return await orders.issue_order(session, cpam, order.id, now=NOW)


def _amendment(effective_on="2026-12-17", lines=None, reason="Une borne de plus au parking visiteurs"):
    return {"effective_on": effective_on, "reason": reason,
            "lines": lines or [{"article_code": "IRVE-BORNE-22", "quantity": "3"},
                               {"article_code": "IRVE-POSE", "quantity": "3", "discount_percent": "5"},
                               {"article_code": "IRVE-MAINT", "quantity": "1"}]}


async def test_an_amendment_makes_version_2_and_keeps_version_1(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _issued_order(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        amendment = await am.amend_order(session, cpam, order.id, _amendment(), now=NOW)
    assert (amendment.number, amendment.version, amendment.state) == (f"{order.number}-M1", 2, "notified")
    assert amendment.changes.splitlines() == [
        "IRVE-BORNE-22 — Borne de recharge 2 × 22 kW : quantité 2 → 3.",
        "IRVE-POSE — Pose et raccordement d'une borne : quantité 2 → 3.",
        "IRVE-POSE — Pose et raccordement d'une borne : remise 0 % → 5 %.",
        "Ajout : IRVE-MAINT — Maintenance préventive annuelle d'un point de charge, quantité 1."]
    async with db.session([cpam]) as session:
        order = await orders.get_order_in_tenant(session, cpam, order.id)
        v1 = await am.version_lines(session, order, 1)
        v2 = await am.version_lines(session, order, 2)
        history = await orders.events_of_order(session, order)
        audited = await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.tenant_id == cpam, AuditEvent.entity == "purchase_order_amendments"))
    assert order.version == 2 and order.status == "issued"
    assert [(x.position, x.article_code, x.quantity) for x in v1] == [
        (1, "IRVE-BORNE-22", Decimal("2.000")), (2, "IRVE-POSE", Decimal("2.000"))]
    assert [(x.position, x.article_code, x.quantity) for x in v2] == [
        (1, "IRVE-BORNE-22", Decimal("3.000")), (2, "IRVE-POSE", Decimal("3.000")),
        (3, "IRVE-MAINT", Decimal("1.000"))]
    # The prices of the BPU in force on the order date; totals are the sums of the new lines.
    assert order.total_ht == sum((x.total_ht for x in v2), Decimal("0")) and order.line_count == 3
    assert (amendment.total_ht_before, amendment.total_ht_after) == (Decimal("9200.00"), order.total_ht)
    assert [(e.from_status, e.to_status) for e in history if e.note.startswith("Modificatif")] == [
        ("issued", "issued")]
    assert f"Modificatif {order.number}-M1 notifié, prise d'effet le 17/12/2026" in [e.note for e in history]
    assert audited == 1


async def test_ten_days_notice_and_an_amendment_that_changes_nothing_are_refused(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _issued_order(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        # Notified on 7 December: the 16th is nine days away, refused with the rule quoted.
        with pytest.raises(am.AmendmentError) as exc:
            await am.amend_order(session, cpam, order.id, _amendment("2026-12-16"), now=NOW)
        assert "« Les modificatifs sont notifiés dix jours au plus tard avant la date souhaitée de leur prise " \
               "d'effet »" in exc.value.errors["effective_on"]
        assert "il fallait le notifier au plus tard le 06/12/2026" in exc.value.errors["effective_on"]
        with pytest.raises(am.AmendmentError) as exc:
            await am.amend_order(session, cpam, order.id, _amendment(lines=LINES, reason=""), now=NOW)
        assert exc.value.errors == {"reason": "Indiquez l'objet du modificatif (ce qui change et pourquoi).",
                                    "lines": "Le modificatif ne change aucune ligne de la commande."}
        with pytest.raises(am.AmendmentError) as exc:
            await am.amend_order(session, cpam, order.id, _amendment(lines=[{"article_code": "INCONNU",
                                                                             "quantity": "1"}]), now=NOW)
        assert set(exc.value.errors) == {"lines.1.article_code"}
    async with db.session([cpam]) as session:
        stored = await orders.get_order_in_tenant(session, cpam, order.id)
        assert stored.version == 1 and stored.total_ht == Decimal("9200.00")
        assert await session.scalar(select(func.count()).select_from(PurchaseOrderAmendment)) == 0
    # A draft is not amended (it is edited or cancelled); neither is a delivered order.
    async with db.transaction([cpam], actor=ACTOR) as session:
        for move in (orders.start_order, orders.deliver_order):
            await move(session, cpam, order.id, now=NOW)
        with pytest.raises(am.AmendmentError, match="émise ou en cours"):
            await am.amend_order(session, cpam, order.id, _amendment(), now=NOW)


async def test_an_amendment_cannot_go_below_what_was_delivered(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _issued_order(db, cpam)
    async with db.transaction([cpam], actor=OPERATOR) as session:
        # The titulaire's slip (CCP TGD VII.1): both terminals and one installation made available.
        await deliveries.record_delivery(session, cpam, order.id, {
            "delivered_on": NOW.date(), "lines": [{"position": 1, "quantity": "2"}, {"position": 2, "quantity": "1"}]},
            recorded_by=None, now=NOW)
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(am.AmendmentError) as exc:
            await am.amend_order(session, cpam, order.id, _amendment(lines=[
                {"article_code": "IRVE-BORNE-22", "quantity": "1"}]), now=NOW)
    assert exc.value.errors["lines"] == (
        "IRVE-BORNE-22 : 2 déjà livré(s) ; le modificatif ne peut pas descendre à 1. "
        "IRVE-POSE : 1 déjà livré(s) ; le modificatif ne peut pas descendre à 0.")
    async with db.transaction([cpam], actor=ACTOR) as session:  # at the delivered quantities: allowed
        amended = await am.amend_order(session, cpam, order.id, _amendment(lines=[
            {"article_code": "IRVE-BORNE-22", "quantity": "2"}, {"article_code": "IRVE-POSE", "quantity": "1"}]),
            now=NOW)
    assert amended.changes == "IRVE-POSE — Pose et raccordement d'une borne : quantité 2 → 1."


async def test_observations_within_five_days_then_deemed_accepted_once(db, demo, settings):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _issued_order(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        first = await am.amend_order(session, cpam, order.id, _amendment(), now=NOW)
        second = await am.amend_order(session, cpam, order.id, _amendment(
            "2026-12-18", [{"article_code": "IRVE-BORNE-22", "quantity": "4"}], reason="Quatre bornes"), now=NOW)
    # CCP TGD VI.3 « cinq jours à compter de la notification »: 8 … 12 December, a Saturday, so carried to the
    # end of Monday 14 December (CCAG-TIC 3.2): over at midnight in Le Mans, 23:00 UTC.
    calendar_due = dt.datetime(2026, 12, 14, 23, 0, tzinfo=dt.UTC)
    async with db.transaction([cpam], actor=OPERATOR) as session:
        observed = await am.send_observations(session, cpam, first.id, "La pose demande une tranchée : +2 jours.",
                                              now=NOW + dt.timedelta(days=4))
        assert (observed.state, observed.observations_by) == ("observations", "technicien@titulaire.demo")
        with pytest.raises(am.AmendmentError, match="Passé ce délai"):
            await am.send_observations(session, cpam, second.id, "Trop tard", now=calendar_due)
    # The job: nothing before the end of the fifth day, then the second amendment once.
    assert await run_amendment_acceptances(db, calendar_due - dt.timedelta(seconds=1)) == []
    done = await run_amendment_acceptances(db, calendar_due)
    assert done == [str(second.id)]
    assert await run_amendment_acceptances(db, calendar_due + dt.timedelta(days=1)) == []
    async with db.session([cpam]) as session:
        stored = await am.get_amendment(session, cpam, second.id)
        assert stored.state == "deemed_accepted" and stored.deemed_accepted_at is not None
        assert (await am.get_amendment(session, cpam, first.id)).state == "observations"
    for _ in range(2):
        assert (await Relay(db, settings=settings, subscribers=am.SUBSCRIBERS).run_once()).failed == 0
    async with db.engine.connect() as conn:
        mails = (await conn.execute(select(OutboxMessage.to, OutboxMessage.subject, OutboxMessage.body)
                                    .where(OutboxMessage.tenant_id == cpam))).all()
    subjects = sorted((m.to, m.subject) for m in mails)
    assert subjects == sorted([
        ("technicien@titulaire.demo", f"[{order.number}] Modificatif {order.number}-M1 notifié"),
        ("technicien@titulaire.demo", f"[{order.number}] Modificatif {order.number}-M2 notifié"),
        ("admin@cpam72.demo", f"[{order.number}] Observations du titulaire sur le modificatif {order.number}-M1"),
        ("admin@cpam72.demo", f"[{order.number}] Modificatif {order.number}-M2 réputé accepté")])
    notified = next(m.body for m in mails if m.subject.endswith("M1 notifié"))
    assert "jusqu'au 14/12/2026 inclus" in notified and "prend effet le 17/12/2026" in notified


async def test_another_tenants_amendment_is_not_found(db, demo):
    cpam, chr_ = uuid.UUID(demo["tenant_ids"]["cpam"]), uuid.UUID(demo["tenant_ids"]["chr"])
    order = await _issued_order(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        amendment = await am.amend_order(session, cpam, order.id, _amendment(), now=NOW)
    async with db.transaction([chr_], actor=ACTOR) as session:
        with pytest.raises(NotFound):
            await am.amend_order(session, chr_, order.id, _amendment(), now=NOW)
        with pytest.raises(NotFound):
            await am.send_observations(session, chr_, amendment.id, "x", now=NOW)
        assert await am.record_deemed_acceptances(session, [chr_], NOW + dt.timedelta(days=30)) == []
