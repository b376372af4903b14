"""Purchase orders (``catalog.orders``, issue 14 §3): a draft priced from the BPU version in force on the order
date, every TGD VI.1 element stored, bad lines named and nothing stored, the numbering per tenant and year
(gap-free under concurrency), every transition recorded and audited, the issue's event and its e-mail to the
titulaire, the tenant walls."""

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
from catalog import orders, services
from catalog.models import PurchaseOrder, PurchaseOrderLine
from catalog.orders import SUBSCRIBERS, OrderError
from tenants.models import FrameworkAgreement

ACTOR = {"user_id": None, "label": "admin@cpam72.demo"}
CPAM_AGREEMENT = "2025-CPAM72-IRVE"
NOW = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 12, 5)
HEADER = "code_article;libelle;unite;prix_unitaire_ht;taux_tva;famille;complexite;constructeur;achat_location"


async def _agreement(session, reference=CPAM_AGREEMENT) -> FrameworkAgreement:
    return await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == reference))


def _data(agreement_id, lines=None, **extra):
    return {"agreement_id": str(agreement_id),
            "lines": lines or [{"article_code": "IRVE-BORNE-22", "quantity": "2"},
                               {"article_code": "IRVE-POSE", "quantity": 2, "discount_percent": "5"}],
            "delivery_place": "Siège — parking des véhicules de service, 72000 Le Mans",
            "representative": "Anne Administratrice", **extra}


async def _count(db, tenant_id, model) -> int:
    async with db.session([tenant_id]) as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_a_draft_has_every_element_of_tgd_vi_1(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        agreement = await _agreement(session)
        order = await orders.create_order(session, cpam, _data(agreement.id, delivery_conditions="Livraison 8h-12h"),
                                          order_date=TODAY, now=NOW)
        lines = await orders.lines_of_order(session, order)
    assert order.number == "BC-2026-000001" and order.status == "draft"
    assert (order.agreement_reference, order.order_date, order.representative) == (
        CPAM_AGREEMENT, TODAY, "Anne Administratrice")
    assert order.delivery_conditions == "Livraison 8h-12h"
    # 2 × 3 450 = 6 900; 2 × 1 150 less 5 % = 2 185 HT; VAT 20 % on each line.
    assert [(x.article_code, x.label, x.unit, x.quantity, x.unit_price_ht, x.discount_percent, x.gross_ht, x.total_ht,
             x.vat_rate, x.total_ttc) for x in lines] == [
        ("IRVE-BORNE-22", "Borne de recharge 2 × 22 kW", "unité", Decimal("2.000"), Decimal("3450.0000"), None,
         Decimal("6900.00"), Decimal("6900.00"), Decimal("20.00"), Decimal("8280.00")),
        ("IRVE-POSE", "Pose et raccordement d'une borne", "unité", Decimal("2.000"), Decimal("1150.0000"),
         Decimal("5.00"), Decimal("2300.00"), Decimal("2185.00"), Decimal("20.00"), Decimal("2622.00"))]
    assert (order.gross_ht, order.total_ht, order.total_vat, order.total_ttc) == (
        Decimal("9200.00"), Decimal("9085.00"), Decimal("1817.00"), Decimal("10902.00"))


async def test_the_price_is_the_version_in_force_on_the_order_date(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction(actor=ACTOR) as session:
        agreement = await _agreement(session)
        await services.import_bpu(session, agreement, f"{HEADER}\nIRVE-POSE;Pose v2;unité;0,125;20;Installation;;;achat",
                                  "v2.csv", valid_from=dt.date(2027, 1, 1), imported_by="test")
    async with db.transaction([cpam], actor=ACTOR) as session:
        before = await orders.create_order(session, cpam, _data(agreement.id, [{"article_code": "IRVE-POSE",
                                                                                "quantity": 3}]),
                                           order_date=dt.date(2026, 12, 31), now=NOW)
        after = await orders.create_order(session, cpam, _data(agreement.id, [{"article_code": "IRVE-POSE",
                                                                               "quantity": 3}]),
                                          order_date=dt.date(2027, 1, 1), now=NOW)
        [old] = await orders.lines_of_order(session, before)
        [new] = await orders.lines_of_order(session, after)
    assert (old.label, old.unit_price_ht, old.total_ttc) == ("Pose et raccordement d'une borne", Decimal("1150.0000"),
                                                            Decimal("4140.00"))
    # 3 × 0.125 € at 20 %: 0.38 HT, 0.46 TTC (half-up at line level).
    assert (new.label, new.unit_price_ht, new.total_ht, new.total_ttc) == ("Pose v2", Decimal("0.1250"),
                                                                          Decimal("0.38"), Decimal("0.46"))
    # Numbered per year: the first order of 2027 is 000001 again.
    assert (before.number, after.number) == ("BC-2026-000001", "BC-2027-000001")


async def test_bad_lines_are_named_and_nothing_is_stored(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        agreement = await _agreement(session)
        canut = await _agreement(session, "2024_AOO_IOT")
        with pytest.raises(OrderError) as exc:
            await orders.create_order(session, cpam, _data(agreement.id, [
                {"article_code": "IRVE-BORNE-22", "quantity": "1"},
                {"article_code": "INCONNU", "quantity": "1"},
                {"article_code": "IRVE-POSE", "quantity": "0"},
                {"article_code": "IRVE-POSE", "quantity": "2", "discount_percent": "120"},
            ], delivery_place=""), order_date=TODAY, now=NOW)
        assert exc.value.errors == {
            "delivery_place": "Lieu(x) de livraison ou d'exécution : obligatoire (CCP TGD VI.1).",
            "lines.2.article_code": f"Ligne 2 : article « INCONNU » inconnu du BPU de l'accord {CPAM_AGREEMENT} "
                                    "en vigueur le 05/12/2026.",
            "lines.3.quantity": "Ligne 3 : La quantité doit être strictement positive.",
            "lines.4.discount_percent": "Ligne 4 : La remise est un pourcentage entre 0 et 100.",
        }
        # An agreement the tenant does not subscribe to, no line, too many lines, no BPU yet.
        with pytest.raises(OrderError) as exc:
            await orders.create_order(session, cpam, _data(canut.id), order_date=TODAY, now=NOW)
        assert exc.value.errors == {"agreement_id": "Accord-cadre inconnu ou auquel le bénéficiaire n'adhère pas."}
        with pytest.raises(OrderError, match="lines"):
            await orders.create_order(session, cpam, {**_data(agreement.id), "lines": []}, order_date=TODAY, now=NOW)
        with pytest.raises(OrderError) as exc:
            await orders.create_order(session, cpam, _data(agreement.id, [{"article_code": "IRVE-POSE", "quantity": 1}]
                                                           * 201), order_date=TODAY, now=NOW)
        assert exc.value.errors == {"lines": "200 lignes au plus par bon de commande."}
        with pytest.raises(OrderError) as exc:
            await orders.create_order(session, cpam, _data(agreement.id), order_date=dt.date(2000, 1, 1), now=NOW)
        assert "Aucune version du BPU" in exc.value.errors["lines"]
    assert await _count(db, cpam, PurchaseOrder) == 0 and await _count(db, cpam, PurchaseOrderLine) == 0


async def test_every_transition_is_an_event_and_audited_and_refusals_change_nothing(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        order = await orders.create_order(session, cpam, _data((await _agreement(session)).id), order_date=TODAY,
                                          now=NOW)
    moves = [(orders.issue_order, "issued"), (orders.start_order, "in_progress"),
             (orders.deliver_order, "delivered"), (orders.verify_order, "verified"), (orders.close_order, "closed")]
    for i, (move, status) in enumerate(moves, start=1):
        async with db.transaction([cpam], actor=ACTOR) as session:
            assert (await move(session, cpam, order.id, now=NOW + dt.timedelta(hours=i))).status == status
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(OrderError) as exc:
            await orders.cancel_order(session, cpam, order.id, now=NOW)
        assert exc.value.errors == {"status": "Impossible d'annuler une commande à l'état « clos » : seule une "
                                              "commande à l'état « brouillon » ou « émis » ou « en cours » peut l'être."}
    async with db.transaction([cpam], actor=ACTOR) as session:
        order = await orders.get_order_in_tenant(session, cpam, order.id)
        history = await orders.events_of_order(session, order)
        assert order.status == "closed" and order.issued_at == NOW + dt.timedelta(hours=1)
        audited = await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.tenant_id == cpam, AuditEvent.entity == "purchase_orders"))
    assert [(e.from_status, e.to_status, e.actor) for e in history] == [
        ("", "draft", "admin@cpam72.demo"), ("draft", "issued", "admin@cpam72.demo"),
        ("issued", "in_progress", "admin@cpam72.demo"), ("in_progress", "delivered", "admin@cpam72.demo"),
        ("delivered", "verified", "admin@cpam72.demo"), ("verified", "closed", "admin@cpam72.demo")]
    assert audited == 6  # the creation and each of the five moves


async def test_issue_publishes_the_event_and_the_titulaire_is_mailed_once(db, demo, settings):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        order = await orders.create_order(session, cpam, _data((await _agreement(session)).id), order_date=TODAY,
                                          now=NOW)
        await orders.issue_order(session, cpam, order.id, now=NOW)
        # Twice: refused, no second event.
        with pytest.raises(OrderError, match="Impossible d'émettre"):
            await orders.issue_order(session, cpam, order.id, now=NOW)
    async with db.engine.connect() as conn:
        payloads = [r.payload for r in await conn.execute(select(OutboxEvent.payload)
                                                          .where(OutboxEvent.topic == "catalog.order.issued"))]
    assert payloads == [{"tenant_id": str(cpam), "order_id": str(order.id), "number": "BC-2026-000001",
                         "agreement_id": str(order.agreement_id), "issued_at": "2026-12-05T10:00:00.000Z",
                         "ticket_id": None, "quote_id": None}]
    for _ in range(2):  # a second pass (a restart) delivers nothing more
        result = await Relay(db, settings=settings, subscribers=SUBSCRIBERS).run_once()
        assert result.failed == 0
    async with db.engine.connect() as conn:
        mails = (await conn.execute(select(OutboxMessage.to, OutboxMessage.subject, OutboxMessage.body)
                                    .where(OutboxMessage.tenant_id == cpam))).all()
    assert [(m.to, m.subject) for m in mails] == [("technicien@titulaire.demo",
                                                   "[BC-2026-000001] Bon de commande notifié")]
    assert "CPAM de la Sarthe vous notifie le bon de commande BC-2026-000001 du 05/12/2026" in mails[0].body
    assert "Montant HT : 9\u202f085,00 € ; TTC : 10\u202f902,00 €" in mails[0].body


async def test_other_tenants_orders_are_not_found(db, demo):
    cpam, chr_ = uuid.UUID(demo["tenant_ids"]["cpam"]), uuid.UUID(demo["tenant_ids"]["chr"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        order = await orders.create_order(session, cpam, _data((await _agreement(session)).id), order_date=TODAY,
                                          now=NOW)
    async with db.transaction([chr_], actor=ACTOR) as session:
        with pytest.raises(NotFound):
            await orders.get_order_in_tenant(session, chr_, order.id)
        with pytest.raises(NotFound):
            await orders.issue_order(session, chr_, order.id, now=NOW)
        assert await orders.orders_of_tenant(session, chr_) == ([], 0)
    async with db.transaction([cpam], actor=ACTOR) as session:
        found, total = await orders.orders_of_tenant(session, cpam, status="draft")
        assert ([o.number for o in found], total) == (["BC-2026-000001"], 1)
        assert await orders.orders_of_tenant(session, cpam, status="issued") == ([], 0)
        assert await orders.orders_to_execute(session, [cpam]) == []


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_concurrent_creations_never_share_nor_skip_a_number(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        agreement_id = (await _agreement(session)).id

    async def create() -> str:
        async with db.transaction([cpam], actor=ACTOR) as session:
            order = await orders.create_order(session, cpam, _data(agreement_id), order_date=TODAY, now=NOW)
            await asyncio.sleep(0)
            return order.number

    numbers = await asyncio.gather(*(create() for _ in range(2)))
    numbers += await asyncio.gather(*(create() for _ in range(2)))
    assert sorted(numbers) == [f"BC-2026-{n:06d}" for n in range(1, 5)]
