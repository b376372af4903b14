"""Delivery slips and the buyer's decisions with a database (``catalog.deliveries``, issue 14 §3, CCP TGD VII.1–VII.3):
partial slips numbered per order, over-delivery and bad input refused with nothing stored, the order started,
delivered then verified through its own moves, the 15-day decision deadline carried over Christmas and a weekend,
per-line decisions and their refusals, rejected and adjourned quantities delivered again, ``delivered_quantities``,
the e-mails of each step once, the overdue decision reminded once to both sides, the reserves declared resolved
then lifted (who, when, late), refused without reserves, the audit and the tenant wall."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.audit import AuditEvent
from app.errors import NotFound
from app.mail import OutboxMessage
from app.outbox import OutboxEvent, Relay
from catalog import deliveries as d
from catalog import orders
from catalog.models import Delivery, DeliveryLine
from catalog.quotes import tenant_calendar
from catalog.tasks import run_delivery_reminders
from tenants import services as tenant_services
from tenants.models import FrameworkAgreement

ACTOR = {"user_id": None, "label": "technicien@titulaire.demo"}
CPAM_AGREEMENT = "2025-CPAM72-IRVE"
#: Monday 7 December 2026, 10:00 in Le Mans: the order is issued.
ISSUED = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
#: Thursday 10 December 2026: the first slip.
NOW = dt.datetime(2026, 12, 10, 9, 0, tzinfo=dt.UTC)
LINES = [{"article_code": "IRVE-BORNE-22", "quantity": "2"}, {"article_code": "IRVE-POSE", "quantity": "2"}]


async def _order(db, tenant_id):
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CPAM_AGREEMENT))
        order = await orders.create_order(session, tenant_id, {
            "agreement_id": str(agreement.id), "lines": LINES, "delivery_place": "Parking visiteurs",
            "representative": "Anne Administratrice"}, order_date=ISSUED.date(), now=ISSUED)
        return await orders.issue_order(session, tenant_id, order.id, now=ISSUED)


async def _slip(db, tenant_id, order_id, lines, *, day="2026-12-10", now=NOW):
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        return await d.record_delivery(session, tenant_id, order_id, {"delivered_on": day, "lines": lines},
                                       recorded_by=None, now=now)


async def _decide(db, tenant_id, delivery_id, lines, *, now=NOW, **extra):
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        return await d.decide_delivery(session, tenant_id, delivery_id, {"lines": lines, **extra}, decided_by=None,
                                       now=now)


async def _status(db, tenant_id, order_id) -> str:
    async with db.session([tenant_id]) as session:
        return (await orders.get_order_in_tenant(session, tenant_id, order_id)).status


async def _delivered(db, tenant_id, order_id) -> dict[int, Decimal]:
    async with db.session([tenant_id]) as session:
        return await d.delivered_quantities(session, tenant_id, order_id)


async def _count(db, tenant_id, model) -> int:
    async with db.session([tenant_id]) as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_partial_slips_move_the_order_and_decisions_verify_it(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _order(db, cpam)
    assert await _delivered(db, cpam, order.id) == {1: 0, 2: 0}

    # CCP TGD VII.1: the first slip (« bordereau de mise à disposition ») of one borne out of two.
    first = await _slip(db, cpam, order.id, [{"position": 1, "quantity": "1"}])
    assert (first.number, first.sequence, first.delivered_on) == ("BC-2026-000001-L1", 1, dt.date(2026, 12, 10))
    assert await _status(db, cpam, order.id) == "in_progress"
    assert await _delivered(db, cpam, order.id) == {1: Decimal("1"), 2: 0}

    # The rest: the order is « livré ».
    second = await _slip(db, cpam, order.id, [{"position": 1, "quantity": 1}, {"position": 2, "quantity": "2"}],
                         day="2026-12-11", now=NOW + dt.timedelta(days=1))
    assert second.number == "BC-2026-000001-L2" and await _status(db, cpam, order.id) == "delivered"
    assert await _delivered(db, cpam, order.id) == {1: Decimal("2"), 2: Decimal("2")}

    # CCP TGD VII.3: a rejection of the first borne — it counts as not delivered again.
    later = NOW + dt.timedelta(days=2)
    await _decide(db, cpam, first.id, [{"position": 1, "kind": "rejet", "accepted": "0", "rejected": "1"}], now=later)
    assert await _delivered(db, cpam, order.id) == {1: Decimal("1"), 2: Decimal("2")}
    assert await _status(db, cpam, order.id) == "in_progress"  # the rejected borne is to deliver again
    # Decisions are final.
    with pytest.raises(d.DeliveryError, match="définitive"):
        await _decide(db, cpam, first.id, [{"position": 1, "kind": "reception", "accepted": "1", "rejected": "0"}],
                      now=later)

    # The titulaire presents the rejected borne again on a third slip: everything is delivered again.
    third = await _slip(db, cpam, order.id, [{"position": 1, "quantity": "1"}], day="2026-12-14",
                        now=dt.datetime(2026, 12, 14, 9, 0, tzinfo=dt.UTC))
    assert third.number == "BC-2026-000001-L3" and await _status(db, cpam, order.id) == "delivered"
    at = dt.datetime(2026, 12, 15, 9, 0, tzinfo=dt.UTC)
    await _decide(db, cpam, second.id, [
        {"position": 1, "kind": "reception_reserves", "accepted": "1", "rejected": "0", "reserves_deadline": "2027-01-15"},
        {"position": 2, "kind": "refaction", "accepted": "2", "rejected": "0", "refaction_amount": "150,50"}], now=at)
    assert await _status(db, cpam, order.id) == "delivered"  # the third slip awaits its decision
    await _decide(db, cpam, third.id, [{"position": 1, "kind": "reception", "accepted": "1", "rejected": "0"}], now=at,
                  verification_ended_on="2026-12-15")
    assert await _status(db, cpam, order.id) == "verified"

    async with db.session([cpam]) as session:
        stored = await d.get_delivery_in_tenant(session, cpam, second.id)
        lines = await d.lines_of_delivery(session, stored)
        history = [e.to_status for e in await orders.events_of_order(
            session, await orders.get_order_in_tenant(session, cpam, order.id))]
        audited = await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.tenant_id == cpam, AuditEvent.entity.in_(("deliveries", "delivery_lines"))))
    assert stored.decided_on == dt.date(2026, 12, 15) and stored.verification_ended_on == dt.date(2026, 12, 11)
    assert [(x.decision, x.accepted, x.refaction_amount, x.reserves_deadline) for x in lines] == [
        ("reception_reserves", Decimal("1.000"), None, dt.date(2027, 1, 15)),
        ("refaction", Decimal("2.000"), Decimal("150.50"), None)]
    # (created and issued at the same instant: their order in the history is not asserted)
    assert sorted(history[:2]) == ["draft", "issued"] and history[2:] == ["in_progress", "delivered", "in_progress", "delivered",
                                                                       "verified"]
    assert audited >= 3 + 4 + 4  # three slips and four lines created, three decisions on four lines


async def test_over_delivery_and_bad_slips_are_refused_and_nothing_is_stored(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _order(db, cpam)
    with pytest.raises(d.DeliveryError) as exc:
        await _slip(db, cpam, order.id, [{"position": 1, "quantity": "3"}, {"position": 2, "quantity": "0"},
                                         {"position": 7, "quantity": "1"}], day="2026-12-11")
    assert set(exc.value.errors) == {"delivered_on", "lines.1.quantity", "lines.2.quantity", "lines.3.position"}
    assert "3 livré(s) pour 2 restant à livrer" in exc.value.errors["lines.1.quantity"]
    assert "futur" in exc.value.errors["delivered_on"]
    with pytest.raises(d.DeliveryError, match="précéder la notification"):
        await _slip(db, cpam, order.id, [{"position": 1, "quantity": "1"}], day="2026-12-04")
    with pytest.raises(d.DeliveryError) as exc:
        await _slip(db, cpam, order.id, [])
    assert set(exc.value.errors) == {"lines"}
    assert await _count(db, cpam, Delivery) == 0 and await _count(db, cpam, DeliveryLine) == 0
    assert await _status(db, cpam, order.id) == "issued"

    # Partial then too much: what remains is what counts.
    await _slip(db, cpam, order.id, [{"position": 1, "quantity": "1.5"}])
    with pytest.raises(d.DeliveryError, match="pour 0,5 restant à livrer"):
        await _slip(db, cpam, order.id, [{"position": 1, "quantity": "1"}])
    await _slip(db, cpam, order.id, [{"position": 1, "quantity": "0,5"}, {"position": 2, "quantity": "2"}])
    with pytest.raises(d.DeliveryError, match="tant qu'il reste à livrer"):
        await _slip(db, cpam, order.id, [{"position": 2, "quantity": "1"}])
    assert await _count(db, cpam, Delivery) == 2

    # A draft order takes no slip.
    async with db.transaction([cpam], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CPAM_AGREEMENT))
        draft = await orders.create_order(session, cpam, {
            "agreement_id": str(agreement.id), "lines": LINES, "delivery_place": "Ici", "representative": "A"},
            order_date=ISSUED.date(), now=ISSUED)
    with pytest.raises(d.DeliveryError, match="« brouillon »"):
        await _slip(db, cpam, draft.id, [{"position": 1, "quantity": "1"}])


async def test_the_decision_is_due_15_days_after_the_verification_across_christmas_and_a_weekend(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _order(db, cpam)
    slip = await _slip(db, cpam, order.id, [{"position": 1, "quantity": "2"}])
    async with db.session([cpam]) as session:
        calendar = await tenant_calendar(session, cpam)
        stored = await d.get_delivery_in_tenant(session, cpam, slip.id)
        deadline = d.decision_deadline(calendar, stored)
        # CCP TGD VII.3 « quinze jours » from Thursday 10 December: Friday 25 (Christmas), then the weekend:
        # carried to Monday 28 December (CCAG-TIC 3.2), until its end in Le Mans.
        assert deadline.last_day == dt.date(2026, 12, 28)
        just_before = dt.datetime(2026, 12, 28, 22, 59, tzinfo=dt.UTC)  # 23:59 in Le Mans
        assert not d.is_decision_overdue(calendar, stored, just_before)
        assert d.is_decision_overdue(calendar, stored, just_before + dt.timedelta(minutes=1))
        assert await d.overdue_deliveries(session, [cpam], just_before) == []
        [(late, _)] = await d.overdue_deliveries(session, [cpam], just_before + dt.timedelta(minutes=1))
        assert late.id == slip.id
        assert await d.delivery_counts(session, [cpam], just_before + dt.timedelta(days=1)) == {
            "to_decide": 1, "overdue": 1}

    # A verification ending later moves the deadline: 15 days from Monday 4 January is Tuesday 19 January.
    decided_at = dt.datetime(2027, 1, 19, 9, 0, tzinfo=dt.UTC)
    await _decide(db, cpam, slip.id, [{"position": 1, "kind": "reception", "accepted": "2", "rejected": "0"}],
                  now=decided_at, verification_ended_on="2027-01-04")
    async with db.session([cpam]) as session:
        stored = await d.get_delivery_in_tenant(session, cpam, slip.id)
        assert d.decision_deadline(calendar, stored).last_day == dt.date(2027, 1, 19)
        assert not d.is_decision_overdue(calendar, stored, decided_at + dt.timedelta(days=30))
        assert await d.delivery_counts(session, [cpam], decided_at) == {"to_decide": 0, "overdue": 0}


async def test_each_line_decision_is_checked_and_nothing_is_written_on_a_refusal(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _order(db, cpam)
    slip = await _slip(db, cpam, order.id, [{"position": 1, "quantity": "2"}, {"position": 2, "quantity": "2"}])
    with pytest.raises(d.DeliveryError) as exc:
        await _decide(db, cpam, slip.id, [
            {"position": 1, "kind": "reception", "accepted": "1", "rejected": "0"},
            {"position": 2, "kind": "refaction", "accepted": "2", "rejected": "0"}],
            decided_on="2026-12-11", verification_ended_on="2026-12-09")
    errors = exc.value.errors
    assert set(errors) == {"decided_on", "verification_ended_on", "lines.1", "lines.2"}
    assert "doivent faire la quantité livrée (2)" in errors["lines.1"]
    assert "indique le montant de la réfaction" in errors["lines.2"]
    with pytest.raises(d.DeliveryError) as exc:
        await _decide(db, cpam, slip.id, [
            {"position": 1, "kind": "reception_reserves", "accepted": "2", "rejected": "0"}])
    assert "ligne 2 sans décision" in exc.value.errors["lines"]
    assert "fixe le délai pour les lever" in exc.value.errors["lines.1"]
    with pytest.raises(d.DeliveryError) as exc:
        await _decide(db, cpam, slip.id, [
            {"position": 1, "kind": "ajournement", "accepted": "1", "rejected": "0"},
            {"position": 2, "kind": "cadeau", "accepted": "2", "rejected": "0"}])
    assert "Un ajournement ne reçoit ni ne rejette" in exc.value.errors["lines.1"]
    assert "Décision inconnue" in exc.value.errors["lines.2"]
    async with db.session([cpam]) as session:
        stored = await d.get_delivery_in_tenant(session, cpam, slip.id)
        assert stored.decided_at is None
        assert [x.decision for x in await d.lines_of_delivery(session, stored)] == [None, None]

    # Adjourned: presented again; partly rejected (the accepted quantity left empty is the rest): the rest is due.
    await _decide(db, cpam, slip.id, [
        {"position": 1, "kind": "ajournement"},
        {"position": 2, "kind": "reception", "accepted": "", "rejected": "0,5"}])
    assert await _delivered(db, cpam, order.id) == {1: 0, 2: Decimal("1.5")}
    assert await _status(db, cpam, order.id) == "in_progress"  # back « en cours »: the rest is to deliver again
    again = await _slip(db, cpam, order.id, [{"position": 1, "quantity": "2"}, {"position": 2, "quantity": "0.5"}])
    assert again.number == "BC-2026-000001-L2"


async def test_the_slip_and_the_decision_mail_the_other_side_once(db, demo, settings):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _order(db, cpam)
    slip = await _slip(db, cpam, order.id, [{"position": 1, "quantity": "2"}])
    await _decide(db, cpam, slip.id, [{"position": 1, "kind": "rejet"}])  # empty quantities: all of it refused
    async with db.engine.connect() as conn:
        steps = sorted(r.payload["step"] for r in await conn.execute(
            select(OutboxEvent.payload).where(OutboxEvent.topic == "catalog.delivery.moved")))
    assert steps == ["decision", "slip"]
    for _ in range(2):  # a second pass (a restart) sends nothing twice
        result = await Relay(db, settings=settings, subscribers=d.SUBSCRIBERS).run_once()
        assert result.failed == 0
    async with db.engine.connect() as conn:
        mails = (await conn.execute(select(OutboxMessage.to, OutboxMessage.subject, OutboxMessage.body)
                                    .where(OutboxMessage.tenant_id == cpam).order_by(OutboxMessage.id))).all()
    subjects = sorted((m.to, m.subject) for m in mails)
    assert subjects == [
        ("admin@cpam72.demo", "[CPAM de la Sarthe] Bordereau BC-2026-000001-L1 : livraison à vérifier"),
        ("technicien@titulaire.demo", "[CPAM de la Sarthe] Bordereau BC-2026-000001-L1 : décision de l'acheteur")]
    body = {m.to: m.body for m in mails}
    assert "au plus tard le 28/12/2026" in body["admin@cpam72.demo"] and "CCP TGD VII.3" in body["admin@cpam72.demo"]
    assert "ligne 1 : Rejet, 0 accepté(s), 2 rejeté(s)" in body["technicien@titulaire.demo"]
    assert "présentez-les sur un nouveau bordereau" in body["technicien@titulaire.demo"]


async def test_other_tenants_slips_are_not_found(db, demo):
    cpam, chr_ = uuid.UUID(demo["tenant_ids"]["cpam"]), uuid.UUID(demo["tenant_ids"]["chr"])
    order = await _order(db, cpam)
    slip = await _slip(db, cpam, order.id, [{"position": 1, "quantity": "1"}])
    async with db.transaction([chr_], actor=ACTOR) as session:
        with pytest.raises(NotFound):
            await d.get_delivery_in_tenant(session, chr_, slip.id)
        with pytest.raises(NotFound):
            await d.record_delivery(session, chr_, order.id, {"delivered_on": "2026-12-10", "lines": [
                {"position": 2, "quantity": "1"}]}, recorded_by=None, now=NOW)
        with pytest.raises(NotFound):
            await d.decide_delivery(session, chr_, slip.id, {"lines": [
                {"position": 1, "kind": "rejet", "accepted": "0", "rejected": "1"}]}, decided_by=None, now=NOW)
        with pytest.raises(NotFound):
            await d.delivered_quantities(session, chr_, order.id)
        assert await d.delivery_counts(session, [chr_], NOW) == {"to_decide": 0, "overdue": 0}
    async with db.session([cpam]) as session:
        with pytest.raises(NotFound):  # a slip read through another order
            await d.get_delivery_in_tenant(session, cpam, slip.id, order_id=uuid.uuid4())
        stored = await d.get_delivery_in_tenant(session, cpam, slip.id)
        assert stored.decided_at is None and await d.delivered_quantities(session, cpam, order.id) == {
            1: Decimal("1"), 2: 0}


async def _mails_about(db, tenant_id, number) -> list[tuple[str, str, str]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(OutboxMessage.to, OutboxMessage.subject, OutboxMessage.body)
                                  .where(OutboxMessage.tenant_id == tenant_id).order_by(OutboxMessage.id))
    return [tuple(r) for r in rows if number in r.subject]


async def _relay(db, settings) -> None:
    for _ in range(2):  # a second pass (a restart) sends nothing twice
        assert (await Relay(db, settings=settings, subscribers=d.SUBSCRIBERS).run_once()).failed == 0


async def test_an_overdue_decision_is_mailed_once_to_both_sides(db, demo, settings):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _order(db, cpam)
    late = await _slip(db, cpam, order.id, [{"position": 1, "quantity": "1"}])
    on_time = await _slip(db, cpam, order.id, [{"position": 2, "quantity": "1"}])
    await _decide(db, cpam, on_time.id, [{"position": 2, "kind": "reception"}], now=NOW + dt.timedelta(days=1))
    # CCP TGD VII.3 « le délai pour prononcer une décision est de quinze jours calculés à compter de la fin des
    # opérations définies à l'article VII.2 »: from Thursday 10 December, the last day is Monday 28 December (over
    # Christmas and the weekend), until 23:59 in Le Mans.
    just_before = dt.datetime(2026, 12, 28, 22, 59, tzinfo=dt.UTC)
    assert late.number not in await run_delivery_reminders(db, just_before)
    after = just_before + dt.timedelta(minutes=1)
    if db.engine.dialect.name == "postgresql":  # two workers at once: the rows are locked, one reminds
        first, second = await asyncio.gather(run_delivery_reminders(db, after), run_delivery_reminders(db, after))
        assert (late.number in first) != (late.number in second)
    else:
        assert late.number in await run_delivery_reminders(db, after)
    again = await run_delivery_reminders(db, after + dt.timedelta(hours=1))  # the next hour: nothing again
    assert late.number not in again and on_time.number not in again
    async with db.session([cpam]) as session:
        assert (await d.get_delivery_in_tenant(session, cpam, late.id)).decision_reminded_at == after
        assert (await d.get_delivery_in_tenant(session, cpam, on_time.id)).decision_reminded_at is None
    async with db.engine.connect() as conn:
        events = (await conn.execute(select(OutboxEvent.payload).where(
            OutboxEvent.topic == "catalog.delivery.decision_overdue"))).scalars().all()
    assert [e["last_day"] for e in events if e["delivery_id"] == str(late.id)] == ["2026-12-28"]

    await _relay(db, settings)
    mails = await _mails_about(db, cpam, late.number)
    reminders = [m for m in mails if "Rappel" in m[1]]
    assert sorted((m[0], m[1]) for m in reminders) == [
        ("admin@cpam72.demo", f"[CPAM de la Sarthe] Rappel : décision en retard sur le bordereau {late.number}"),
        ("technicien@titulaire.demo", f"[CPAM de la Sarthe] Rappel : décision en retard sur le bordereau {late.number}")]
    body = {m[0]: m[2] for m in reminders}
    assert "au plus tard le 28/12/2026 : elle est en retard" in body["admin@cpam72.demo"]
    assert "quinze jours calculés à compter de la fin des opérations" in body["technicien@titulaire.demo"]
    assert not [m for m in await _mails_about(db, cpam, on_time.number) if "Rappel" in m[1]]


async def _user_id(db, email) -> uuid.UUID:
    async with db.session() as session:
        return (await tenant_services.find_user_by_email(session, email)).id


async def test_reserves_are_declared_resolved_then_lifted_with_who_and_when(db, demo, settings):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    operator, admin = await _user_id(db, "technicien@titulaire.demo"), await _user_id(db, "admin@cpam72.demo")
    order = await _order(db, cpam)
    slip = await _slip(db, cpam, order.id, [{"position": 1, "quantity": "2"}, {"position": 2, "quantity": "2"}])
    decided = dt.datetime(2026, 12, 11, 9, 0, tzinfo=dt.UTC)
    # CCP TGD VII.3: « l'administration peut par ailleurs assortir une décision de réception de réserves […] que le
    # titulaire s'engage alors à résoudre dans un délai fixé par la décision ».
    await _decide(db, cpam, slip.id, [
        {"position": 1, "kind": "reception_reserves", "reserves_deadline": "2026-12-31"},
        {"position": 2, "kind": "reception"}], now=decided)
    declared_at = dt.datetime(2026, 12, 18, 9, 0, tzinfo=dt.UTC)
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(d.DeliveryError) as exc:  # what was done is required
            await d.declare_reserves_resolved(session, cpam, slip.id, {"note": "  "}, declared_by=operator,
                                              now=declared_at)
        assert set(exc.value.errors) == {"note"}
        await d.declare_reserves_resolved(session, cpam, slip.id, {"note": "Borne 2 recâblée, essais conformes"},
                                          declared_by=operator, now=declared_at)
    lifted_at = dt.datetime(2026, 12, 21, 9, 0, tzinfo=dt.UTC)
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(d.DeliveryError) as exc:
            await d.lift_reserves(session, cpam, slip.id, {"lifted_on": "2026-12-10"}, lifted_by=admin, now=lifted_at)
        assert "précéder la décision" in exc.value.errors["lifted_on"]
        await d.lift_reserves(session, cpam, slip.id, {"lifted_on": "2026-12-21", "note": "Constaté sur place"},
                              lifted_by=admin, now=lifted_at)
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(d.DeliveryError, match="définitive"):  # once
            await d.lift_reserves(session, cpam, slip.id, {}, lifted_by=admin, now=lifted_at)
        with pytest.raises(d.DeliveryError, match="définitive"):
            await d.declare_reserves_resolved(session, cpam, slip.id, {"note": "encore"}, declared_by=operator,
                                              now=lifted_at)
    async with db.session([cpam]) as session:
        stored = await d.get_delivery_in_tenant(session, cpam, slip.id)
        status = d.reserves_status(stored, await d.lines_of_delivery(session, stored), dt.date(2027, 2, 1))
        audited = await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.tenant_id == cpam, AuditEvent.entity == "deliveries", AuditEvent.entity_id == str(slip.id)))
    assert (stored.reserves_declared_at, stored.reserves_declared_by, stored.reserves_declared_note) == (
        declared_at, operator, "Borne 2 recâblée, essais conformes")
    assert (stored.reserves_lifted_on, stored.reserves_lifted_at, stored.reserves_lifted_by,
            stored.reserves_lifted_note) == (dt.date(2026, 12, 21), lifted_at, admin, "Constaté sur place")
    assert (status.positions, status.deadline, status.lifted, status.overdue) == ((1,), dt.date(2026, 12, 31), True,
                                                                                  False)
    assert audited >= 4  # created, decided, declared, lifted

    await _relay(db, settings)
    mails = {m[1]: m for m in await _mails_about(db, cpam, slip.number)}
    declared = mails[f"[CPAM de la Sarthe] Bordereau {slip.number} : réserves déclarées levées par le titulaire"]
    assert declared[0] == "admin@cpam72.demo" and "Borne 2 recâblée" in declared[2]
    assert "réserves à lever au plus tard le 31/12/2026" in declared[2]
    lifted = mails[f"[CPAM de la Sarthe] Bordereau {slip.number} : levée des réserves"]
    assert lifted[0] == "technicien@titulaire.demo" and "le 21/12/2026 la levée des réserves" in lifted[2]
    assert "après le délai" not in lifted[2]


async def test_reserves_past_their_deadline_are_late_and_lifting_them_late_stays_so(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _order(db, cpam)
    slip = await _slip(db, cpam, order.id, [{"position": 1, "quantity": "2"}])
    await _decide(db, cpam, slip.id, [{"position": 1, "kind": "reception_reserves", "reserves_deadline": "2026-12-15"}],
                  now=dt.datetime(2026, 12, 11, 9, 0, tzinfo=dt.UTC))
    async with db.session([cpam]) as session:
        stored = await d.get_delivery_in_tenant(session, cpam, slip.id)
        lines = await d.lines_of_delivery(session, stored)
    # « si les prestations nécessaires ne sont pas réalisées dans le délai fixé » (VII.3): the deadline's day counts.
    assert not d.reserves_status(stored, lines, dt.date(2026, 12, 15)).overdue
    assert d.reserves_status(stored, lines, dt.date(2026, 12, 16)).late_positions == (1,)
    async with db.transaction([cpam], actor=ACTOR) as session:
        await d.lift_reserves(session, cpam, slip.id, {}, lifted_by=None,
                              now=dt.datetime(2026, 12, 17, 9, 0, tzinfo=dt.UTC))
    async with db.session([cpam]) as session:
        stored = await d.get_delivery_in_tenant(session, cpam, slip.id)
        status = d.reserves_status(stored, lines, dt.date(2027, 3, 1))
    assert stored.reserves_lifted_on == dt.date(2026, 12, 17) and stored.reserves_declared_at is None  # directly
    assert status.lifted and status.overdue  # « hors délai » stays


async def test_lifting_reserves_is_refused_without_reserves_and_across_tenants(db, demo):
    cpam, chr_ = uuid.UUID(demo["tenant_ids"]["cpam"]), uuid.UUID(demo["tenant_ids"]["chr"])
    order = await _order(db, cpam)
    plain = await _slip(db, cpam, order.id, [{"position": 1, "quantity": "1"}])
    undecided = await _slip(db, cpam, order.id, [{"position": 2, "quantity": "1"}])
    await _decide(db, cpam, plain.id, [{"position": 1, "kind": "reception"}])
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(d.DeliveryError) as exc:
            await d.lift_reserves(session, cpam, plain.id, {}, lifted_by=None, now=NOW)
        assert set(exc.value.errors) == {"state"}
        assert "n'est pas une réception avec réserves (CCP TGD VII.3)" in exc.value.errors["state"]
        with pytest.raises(d.DeliveryError, match="pas une réception avec réserves"):
            await d.declare_reserves_resolved(session, cpam, plain.id, {"note": "fait"}, declared_by=None, now=NOW)
        with pytest.raises(d.DeliveryError, match="n'est pas prononcée"):
            await d.lift_reserves(session, cpam, undecided.id, {}, lifted_by=None, now=NOW)
    async with db.transaction([chr_], actor=ACTOR) as session:
        with pytest.raises(NotFound):
            await d.lift_reserves(session, chr_, plain.id, {}, lifted_by=None, now=NOW)
        with pytest.raises(NotFound):
            await d.declare_reserves_resolved(session, chr_, plain.id, {"note": "fait"}, declared_by=None, now=NOW)
    async with db.session([cpam]) as session:
        for slip in (plain, undecided):
            stored = await d.get_delivery_in_tenant(session, cpam, slip.id)
            assert (stored.reserves_declared_at, stored.reserves_lifted_at) == (None, None)
    async with db.engine.connect() as conn:
        steps = [r["step"] for r in (await conn.execute(select(OutboxEvent.payload).where(
            OutboxEvent.topic == "catalog.delivery.moved"))).scalars() if r["delivery_id"] == str(plain.id)]
    assert sorted(steps) == ["decision", "slip"]  # nothing published by the refusals


async def test_an_order_with_a_slip_is_no_longer_cancelled(db, demo):
    """A rejection brings the order back « en cours », where a cancellation is otherwise allowed: once a slip was
    recorded, what it made available is decided on (CCP TGD VII), never cancelled with the order."""
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await _order(db, cpam)
    slip = await _slip(db, cpam, order.id, [{"position": 1, "quantity": "2"}, {"position": 2, "quantity": "2"}])
    await _decide(db, cpam, slip.id, [{"position": 1, "kind": "reception"}, {"position": 2, "kind": "rejet"}],
                  now=NOW + dt.timedelta(days=1))
    assert await _status(db, cpam, order.id) == "in_progress"
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(orders.OrderError, match="a un bordereau de livraison : il ne s'annule plus"):
            await orders.act_on_order(session, cpam, order.id, "cancel", now=NOW + dt.timedelta(days=1))
    assert await _status(db, cpam, order.id) == "in_progress"
