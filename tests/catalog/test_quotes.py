"""Quotes with a database (``catalog.quotes``, issue 14 §2): the beneficiary's request numbered per tenant and
year, the titulaire's site visit and its lines priced on the BPU in force (parts and labour apart for a repair,
CCTP CAIH 2.1.17), the acceptance that issues the purchase order at the quote's prices even after a new BPU, the
refusal with its reason, refused steps that change nothing, the CPAM 5-1-4 / 5-2 / 5-3-1 milestones up to the
reception, the e-mails of each step once, the audit and the tenant wall."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.audit import AuditEvent
from app.errors import NotFound
from app.mail import OutboxMessage
from app.outbox import OutboxEvent, Relay
from catalog import deliveries, orders, services
from catalog import quotes as q
from catalog.models import Quote, QuoteLine
from tenants.models import FrameworkAgreement, User

ACTOR = {"user_id": None, "label": "admin@cpam72.demo"}
CPAM_AGREEMENT = "2025-CPAM72-IRVE"
HEADER = "code_article;libelle;unite;prix_unitaire_ht;taux_tva;famille;complexite;constructeur;achat_location"
#: Monday 14 December 2026, 09:00 in Le Mans.
NOW = dt.datetime(2026, 12, 14, 8, 0, tzinfo=dt.UTC)
LINES = [{"article_code": "IRVE-BORNE-22", "quantity": "2"},
         {"article_code": "IRVE-POSE", "quantity": 2, "discount_percent": "5"}]


async def _agreement(session) -> FrameworkAgreement:
    return await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CPAM_AGREEMENT))


async def _user(session, email: str) -> uuid.UUID:
    return await session.scalar(select(User.id).where(User.email == email))


async def _request(db, cpam, **extra) -> Quote:
    async with db.transaction([cpam], actor=ACTOR) as session:
        admin = await _user(session, "admin@cpam72.demo")
        data = {"agreement_id": str((await _agreement(session)).id), "need": "Deux bornes 22 kW au parking visiteurs",
                "place": "Parking visiteurs, 72000 Le Mans", **extra}
        return await q.request_quote(session, cpam, admin, data, now=NOW)


async def _count(db, tenant_id, model) -> int:
    async with db.session([tenant_id]) as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_request_visit_answer_accept_issues_the_order_at_the_quote_price(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    quote = await _request(db, cpam)
    assert (quote.number, quote.state, quote.kind) == ("DEV-2026-000001", "requested", "works")
    async with db.transaction([cpam], actor=ACTOR) as session:
        operator = await _user(session, "technicien@titulaire.demo")
        # A visit in the future or before the request is refused.
        with pytest.raises(q.QuoteError, match="futur"):
            await q.record_visit(session, cpam, quote.id, "2026-12-15", now=NOW)
        with pytest.raises(q.QuoteError, match="précéder la demande"):
            await q.record_visit(session, cpam, quote.id, "2026-12-10", now=NOW)
        await q.record_visit(session, cpam, quote.id, "2026-12-14", now=NOW)
    async with db.session([cpam]) as session:
        quote = await q.get_quote_in_tenant(session, cpam, quote.id)
        [due, *_] = await q.milestones_of(session, quote, NOW)
    # CCTP CPAM 5-1-4: 14 jours ouvrables from the visit on 14 December, Sundays and Christmas skipped.
    assert (due.key, due.status, due.deadline.last_day) == ("quote", "pending", dt.date(2026, 12, 31))

    # The titulaire prices it on 31 December; from 1 January a new BPU is in force.
    priced_at = dt.datetime(2026, 12, 31, 10, 0, tzinfo=dt.UTC)
    async with db.transaction(actor=ACTOR) as session:
        agreement = await _agreement(session)
        await services.import_bpu(session, agreement, f"{HEADER}\nIRVE-POSE;Pose v2;unité;999;20;Installation;;;achat"
                                  "\nIRVE-BORNE-22;Borne v2;unité;9999;20;Fourniture;;;achat",
                                  "v2.csv", valid_from=dt.date(2027, 1, 1), imported_by="test")
    async with db.transaction([cpam], actor=ACTOR) as session:
        answered = await q.answer_quote(session, cpam, quote.id, {"lines": LINES, "note": "Délai : 3 semaines"},
                                        answered_by=operator, now=priced_at)
        lines = await q.lines_of_quote(session, answered)
    assert (answered.state, answered.priced_on, answered.total_ht, answered.total_ttc) == (
        "answered", dt.date(2026, 12, 31), Decimal("9085.00"), Decimal("10902.00"))
    assert [(x.article_code, x.unit_price_ht, x.total_ht, x.nature) for x in lines] == [
        ("IRVE-BORNE-22", Decimal("3450.0000"), Decimal("6900.00"), "parts"),
        ("IRVE-POSE", Decimal("1150.0000"), Decimal("2185.00"), "labour")]
    assert (answered.parts_ht, answered.labour_ht) == (Decimal("6900.00"), Decimal("2185.00"))

    accepted_at = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)
    async with db.transaction([cpam], actor=ACTOR) as session:
        admin = await _user(session, "admin@cpam72.demo")
        accepted = await q.accept_quote(session, cpam, quote.id, {}, decided_by=admin,
                                        representative="Anne Administratrice", now=accepted_at)
        order = await orders.get_order_in_tenant(session, cpam, accepted.order_id)
        order_lines = await orders.lines_of_order(session, order)
    # The order is issued, dated the day of the acceptance, at the prices the buyer accepted (BPU of 2026).
    assert (order.status, order.order_date, order.quote_id, order.total_ht) == (
        "issued", dt.date(2027, 1, 4), quote.id, Decimal("9085.00"))
    assert [x.unit_price_ht for x in order_lines] == [Decimal("3450.0000"), Decimal("1150.0000")]
    assert order.delivery_place == "Parking visiteurs, 72000 Le Mans" and order.representative == "Anne Administratrice"
    assert "DEV-2026-000001" in order.delivery_conditions

    # CCTP CPAM 5-2 then 5-3-1: works started, commissioned, the order verified (the reception).
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(q.QuoteError, match="précéder l'acceptation"):
            await q.record_works_start(session, cpam, quote.id, "2027-01-02", now=accepted_at)
        with pytest.raises(q.QuoteError, match="début des travaux"):
            await q.record_commissioning(session, cpam, quote.id, "2027-01-20", now=accepted_at)
    async with db.transaction([cpam], actor=ACTOR) as session:
        await q.record_works_start(session, cpam, quote.id, "2027-01-11", now=accepted_at + dt.timedelta(days=8))
        await q.record_commissioning(session, cpam, quote.id, "2027-01-20", now=accepted_at + dt.timedelta(days=17))
    # The reception is pronounced by the buyer's decision on the slip of the bornes, with a reserve, while the
    # rest of the order is still to deliver (5-3-1: « le titulaire est tenu alors d'exécuter ou terminer les
    # travaux incomplets »): the order stays « en cours », the milestone is met.
    verified_at = dt.datetime(2027, 1, 25, 9, 0, tzinfo=dt.UTC)
    async with db.transaction([cpam], actor=ACTOR) as session:
        slip = await deliveries.record_delivery(session, cpam, order.id, {
            "delivered_on": "2027-01-20", "lines": [{"position": 1, "quantity": "1"}]}, recorded_by=None,
            now=verified_at)
    async with db.session([cpam]) as session:
        quote = await q.get_quote_in_tenant(session, cpam, quote.id)
        pending = {m.key: m.status for m in await q.milestones_of(session, quote, verified_at)}
    assert pending["reception"] != "done"  # a slip awaiting its decision is no reception
    async with db.transaction([cpam], actor=ACTOR) as session:
        await deliveries.decide_delivery(session, cpam, slip.id, {"lines": [
            {"position": 1, "kind": "reception_reserves", "reserves_deadline": "2027-02-15"}]}, decided_by=None,
            now=verified_at)
    async with db.session([cpam]) as session:
        assert (await orders.get_order_in_tenant(session, cpam, order.id)).status == "in_progress"
        quote = await q.get_quote_in_tenant(session, cpam, quote.id)
        items = {m.key: m for m in await q.milestones_of(session, quote, verified_at + dt.timedelta(days=1))}
        audited = await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.tenant_id == cpam, AuditEvent.entity == "quotes"))
    assert {k: m.status for k, m in items.items()} == {"quote": "done", "works": "done", "reception": "done"}
    assert items["works"].deadline.last_day == dt.date(2027, 1, 28)  # 21 jours ouvrables from 4 January
    assert items["reception"].deadline.last_day == dt.date(2027, 2, 3)  # 14 calendar days from 20 January
    assert audited >= 6  # the request and each of its five steps


async def test_bad_input_is_named_and_nothing_is_written(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(q.QuoteError) as exc:
            await q.request_quote(session, cpam, None, {"agreement_id": str(uuid.uuid4()), "kind": "gift",
                                                        "need": " ", "site_id": "pas-un-uuid"}, now=NOW)
    assert set(exc.value.errors) == {"agreement_id", "kind", "need", "site_id", "place"}
    assert await _count(db, cpam, Quote) == 0
    quote = await _request(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(q.QuoteError) as exc:
            await q.answer_quote(session, cpam, quote.id, {"lines": [
                {"article_code": "INCONNU", "quantity": "1"}, {"article_code": "IRVE-POSE", "quantity": "0"},
                {"article_code": "IRVE-POSE", "quantity": "1", "nature": "gift"}]}, answered_by=None, now=NOW)
    assert {"lines.1.article_code", "lines.2.quantity", "lines.3.nature"} <= set(exc.value.errors)
    async with db.transaction([cpam], actor=ACTOR) as session:
        # Not answered: no decision; the refusal needs its reason.
        with pytest.raises(q.QuoteError, match="Impossible d'accepter un devis « demandé »"):
            await q.accept_quote(session, cpam, quote.id, {}, decided_by=None, representative="A", now=NOW)
        await q.answer_quote(session, cpam, quote.id, {"lines": LINES[:1]}, answered_by=None, now=NOW)
        with pytest.raises(q.QuoteError, match="motif"):
            await q.refuse_quote(session, cpam, quote.id, "  ", decided_by=None, now=NOW)
    async with db.session([cpam]) as session:
        stored = await q.get_quote_in_tenant(session, cpam, quote.id)
        assert stored.state == "answered" and len(await q.lines_of_quote(session, stored)) == 1
    async with db.transaction([cpam], actor=ACTOR) as session:
        refused = await q.refuse_quote(session, cpam, quote.id, "Trop cher pour le budget 2026", decided_by=None,
                                       now=NOW)
        assert (refused.state, refused.refusal_reason, refused.order_id) == ("refused", "Trop cher pour le budget "
                                                                            "2026", None)
        with pytest.raises(q.QuoteError, match="Impossible de retirer"):
            await q.cancel_quote(session, cpam, quote.id, now=NOW)


async def test_a_repair_on_quote_splits_parts_and_labour_and_the_place_defaults_to_the_site(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.session([cpam]) as session:
        from tenants import services as tenants

        [site, *_] = await tenants.list_sites(session, cpam)
    quote = await _request(db, cpam, kind="repair", place="", site_id=str(site.id))
    assert quote.kind == "repair" and quote.place.startswith(site.name)
    async with db.transaction([cpam], actor=ACTOR) as session:
        # The installation line declared as parts on purpose: the titulaire's choice wins over the family.
        answered = await q.answer_quote(session, cpam, quote.id, {"lines": [
            {"article_code": "IRVE-BORNE-22", "quantity": "1"},
            {"article_code": "IRVE-POSE", "quantity": "1", "nature": "parts"}]}, answered_by=None, now=NOW)
    assert (answered.parts_ht, answered.labour_ht) == (Decimal("4600.00"), Decimal("0.00"))


async def test_each_step_mails_the_other_side_once(db, demo, settings):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    quote = await _request(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        await q.record_visit(session, cpam, quote.id, "2026-12-14", now=NOW)
    async with db.engine.connect() as conn:
        steps = sorted(r.payload["step"] for r in await conn.execute(
            select(OutboxEvent.payload).where(OutboxEvent.topic == "catalog.quote.moved")))
    assert steps == ["request", "visit"]
    for _ in range(2):  # a second pass (a restart) sends nothing twice
        result = await Relay(db, settings=settings, subscribers=q.SUBSCRIBERS).run_once()
        assert result.failed == 0
    async with db.engine.connect() as conn:
        mails = (await conn.execute(select(OutboxMessage.to, OutboxMessage.subject, OutboxMessage.body)
                                    .where(OutboxMessage.tenant_id == cpam).order_by(OutboxMessage.id))).all()
    subjects = [(m.to, m.subject) for m in mails]
    assert ("technicien@titulaire.demo", "[CPAM de la Sarthe] Devis DEV-2026-000001 : demande à chiffrer") in subjects
    assert ("admin@cpam72.demo", "[CPAM de la Sarthe] Devis DEV-2026-000001 : visite de site du 14/12/2026") in subjects
    assert len(subjects) == len(set(subjects))
    visit = next(m.body for m in mails if "visite de site du" in m.subject)
    assert "Son devis est attendu au plus tard le 31/12/2026 (CCTP CPAM 5-1-4)." in visit


async def test_other_tenants_quotes_are_not_found(db, demo):
    cpam, chr_ = uuid.UUID(demo["tenant_ids"]["cpam"]), uuid.UUID(demo["tenant_ids"]["chr"])
    quote = await _request(db, cpam)
    async with db.transaction([chr_], actor=ACTOR) as session:
        with pytest.raises(NotFound):
            await q.get_quote_in_tenant(session, chr_, quote.id)
        with pytest.raises(NotFound):
            await q.cancel_quote(session, chr_, quote.id, now=NOW)
        assert await q.quotes_of_tenant(session, chr_) == []
        assert await q.quotes_to_answer(session, [chr_]) == []
    async with db.session([cpam]) as session:
        assert [x.number for x in await q.quotes_to_answer(session, [cpam])] == ["DEV-2026-000001"]
        assert (await q.quote_counts(session, [cpam]))["requested"] == 1
    assert await _count(db, cpam, QuoteLine) == 0


async def _answered(db, cpam) -> Quote:
    quote = await _request(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        operator = await _user(session, "technicien@titulaire.demo")
        await q.record_visit(session, cpam, quote.id, "2026-12-14", now=NOW)
        return await q.answer_quote(session, cpam, quote.id, {"lines": LINES}, answered_by=operator, now=NOW)


async def test_a_bpu_backdated_over_the_pricing_is_refused_at_the_acceptance_and_nothing_changes(db, demo):
    """The order of an accepted quote is at the price the buyer accepts: a version published afterwards from a
    date that covers the pricing (here the same day) would re-price it, so the acceptance is refused with the
    reason and the quote stays « chiffré », with no order (and no order number spent)."""
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    quote = await _answered(db, cpam)
    async with db.transaction(actor=ACTOR) as session:
        await services.import_bpu(session, await _agreement(session),
                                  f"{HEADER}\nIRVE-POSE;Pose v2;unité;999;20;Installation;;;achat"
                                  "\nIRVE-BORNE-22;Borne v2;unité;9999;20;Fourniture;;;achat",
                                  "v2.csv", valid_from=dt.date(2026, 12, 14), imported_by="test")
    orders_before = await _count(db, cpam, orders.PurchaseOrder)
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(q.QuoteError) as refused:
            await q.accept_quote(session, cpam, quote.id, {}, decided_by=None, representative="Anne",
                                 now=NOW + dt.timedelta(hours=1))
    assert "Le BPU a changé depuis le chiffrage du devis DEV-2026-000001 (ligne 1 (IRVE-BORNE-22), ligne 2 " \
           "(IRVE-POSE))" in refused.value.errors["state"]
    async with db.session([cpam]) as session:
        kept = await q.get_quote_in_tenant(session, cpam, quote.id)
    assert (kept.state, kept.order_id, kept.decided_at) == ("answered", None, None)
    assert await _count(db, cpam, orders.PurchaseOrder) == orders_before


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_two_acceptances_of_one_quote_issue_one_order(db, demo):
    """The page reads the quote (404 before 403), then the step locks it: the lock reads it again, so the second
    of two clicks sees it accepted by the first and is refused instead of issuing a second order."""
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    quote = await _answered(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as late:
        stale = await q.get_quote_in_tenant(late, cpam, quote.id)  # the second request read it first
        assert stale.state == "answered"
        async with db.transaction([cpam], actor=ACTOR) as first:
            await q.accept_quote(first, cpam, quote.id, {}, decided_by=None, representative="Anne", now=NOW)
        with pytest.raises(q.QuoteError) as refused:
            await q.accept_quote(late, cpam, quote.id, {}, decided_by=None, representative="Anne", now=NOW)
    assert "accepté" in refused.value.errors["state"]
    async with db.session([cpam]) as session:
        issued = await session.scalar(select(func.count()).select_from(orders.PurchaseOrder).where(
            orders.PurchaseOrder.quote_id == quote.id))
    assert issued == 1
