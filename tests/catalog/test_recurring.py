"""CAIH recurring maintenance with a database (``catalog.maintenance``; CCTP CAIH 2.1.32 « Prestations
récurrentes »): the first order executed within 30 days of its notification, the park declared in time for the
next anniversary or carried to the following one, the renewal order issued once on the anniversary by the job,
a change above 10 % giving a complementary order and one at or below 10 % regularised in the renewal, bad input
storing nothing, and the tenant wall."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.errors import NotFound
from app.mail import OutboxMessage
from app.outbox import Relay
from catalog import maintenance as m
from catalog import orders
from catalog.models import MaintenanceChange, MaintenanceContract, MaintenanceDeclaration, PurchaseOrder
from catalog.tasks import run_maintenance_renewals
from tenants.models import FrameworkAgreement

ACTOR = {"user_id": None, "label": "admin@chr-metz.demo"}
CAIH_AGREEMENT = "2024-CAIH-SRV"  # starts on 1 January 2025: its anniversaries are on 1 January
#: Friday 20 November 2026, 10:00 in Metz.
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
#: 25 servers at 420 € HT a year: a 10 500 € HT annual order.
PARK = [{"article_code": "CAIH-MNT-X86", "quantity": "25"}]
PLACE = {"delivery_place": "Hôpital de Mercy — salle serveurs", "representative": "Hugo Administrateur"}


async def _agreement_id(session) -> str:
    return str(await session.scalar(select(FrameworkAgreement.id).where(FrameworkAgreement.reference == CAIH_AGREEMENT)))


async def _contract(db, chr_id, *, now=NOW, issue=True) -> MaintenanceContract:
    async with db.transaction([chr_id], actor=ACTOR) as session:
        contract = await m.create_contract(session, chr_id, {"agreement_id": await _agreement_id(session),
                                                             "lines": PARK, **PLACE}, now=now)
        if issue:
            await orders.issue_order(session, chr_id, contract.first_order_id, now=now)
        return contract


async def _count(db, tenant_id, model) -> int:
    async with db.session([tenant_id]) as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_the_first_order_is_executed_within_30_days_of_its_notification(db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    contract = await _contract(db, chr_id, issue=False)
    assert (contract.annual_amount_ht, contract.starts_on) == (Decimal("10500.00"), dt.date(2025, 1, 1))
    async with db.session([chr_id]) as session:
        view = await m.contract_view(session, contract, NOW)
    assert view.first_order.status == "draft" and view.execution is None  # no notification, no clock yet
    async with db.transaction([chr_id], actor=ACTOR) as session:
        await orders.issue_order(session, chr_id, contract.first_order_id, now=NOW)
    async with db.session([chr_id]) as session:
        view = await m.contract_view(session, contract, NOW)
        late = await m.contract_view(session, contract, NOW + dt.timedelta(days=31))
    # CCTP CAIH 2.1.32: « L'exécution de ce bon de commande doit intervenir dans un délai de 30 jours maximum ».
    assert view.execution.last_day == dt.date(2026, 12, 20) and view.execution.article == "CCTP CAIH 2.1.32"
    assert not view.execution_overdue and late.execution_overdue
    # Started (« en cours ») in time, it stays in time.
    async with db.transaction([chr_id], actor=ACTOR) as session:
        await orders.start_order(session, chr_id, contract.first_order_id, now=NOW + dt.timedelta(days=3))
    async with db.session([chr_id]) as session:
        assert not (await m.contract_view(session, contract, NOW + dt.timedelta(days=31))).execution_overdue


async def test_an_existing_order_of_the_agreement_may_be_the_first_one(db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    async with db.transaction([chr_id], actor=ACTOR) as session:
        agreement_id = await _agreement_id(session)
        order = await orders.create_order(session, chr_id, {"agreement_id": agreement_id, "lines": PARK, **PLACE},
                                          order_date=NOW.date(), now=NOW)
        contract = await m.create_contract(session, chr_id, {"agreement_id": agreement_id,
                                                             "first_order_id": str(order.id)}, now=NOW)
        assert contract.first_order_id == order.id and contract.park == PARK
        with pytest.raises(m.MaintenanceError) as taken:
            await m.create_contract(session, chr_id, {"agreement_id": agreement_id, "first_order_id": str(order.id)},
                                    now=NOW)
    assert "appartient déjà à un contrat" in taken.value.errors["first_order_id"]


async def test_a_declaration_in_time_is_for_the_next_anniversary_a_late_one_for_the_following(db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    contract = await _contract(db, chr_id)
    async with db.session([chr_id]) as session:
        view = await m.contract_view(session, contract, NOW)
    # « au plus tard un mois avant la date anniversaire du marché »: 1 December for 1 January 2027.
    assert (view.next_anniversary, view.declaration_deadline, view.declaration_past) == (
        dt.date(2027, 1, 1), dt.date(2026, 12, 1), False)
    park = [{"article_code": "CAIH-MNT-X86", "quantity": "30"}]
    on_time = dt.datetime(2026, 12, 1, 21, 0, tzinfo=dt.UTC)  # 22:00 in Metz, still 1 December
    late = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)  # 00:30 on 2 December in Metz
    async with db.transaction([chr_id], actor=ACTOR) as session:
        first = await m.declare_park(session, chr_id, contract.id, park, now=on_time)
        second = await m.declare_park(session, chr_id, contract.id, park, now=late)
    assert (first.anniversary, first.late, first.amount_ht) == (dt.date(2027, 1, 1), False, Decimal("12600.00"))
    assert (second.anniversary, second.late) == (dt.date(2028, 1, 1), True)
    async with db.session([chr_id]) as session:
        view = await m.contract_view(session, contract, late)
    assert view.declaration_past and view.declared.id == first.id


async def test_the_job_issues_the_renewal_order_on_the_anniversary_once(db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    contract = await _contract(db, chr_id)
    async with db.transaction([chr_id], actor=ACTOR) as session:
        await m.declare_park(session, chr_id, contract.id, [{"article_code": "CAIH-MNT-X86", "quantity": "28"},
                                                            {"article_code": "CAIH-MNT-BAIE", "quantity": "1"}],
                             now=NOW + dt.timedelta(days=5))
    before = await _count(db, chr_id, PurchaseOrder)
    eve = dt.datetime(2026, 12, 31, 22, 30, tzinfo=dt.UTC)  # 23:30 on 31 December in Metz
    assert await run_maintenance_renewals(db, eve) == []
    day = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)  # 00:30 on 1 January 2027 in Metz
    [number] = await run_maintenance_renewals(db, day)
    assert await run_maintenance_renewals(db, day) == [] == await run_maintenance_renewals(db, day + dt.timedelta(hours=5))
    assert await _count(db, chr_id, PurchaseOrder) == before + 1
    async with db.session([chr_id]) as session:
        contract = await m.get_contract_in_tenant(session, chr_id, contract.id)
        kinds = [(link.kind, link.anniversary, o.status) for link, o in await m.orders_of_contract(session, contract)]
        renewal = next(o for link, o in await m.orders_of_contract(session, contract) if link.kind == "renewal")
        lines = [(x.article_code, x.quantity) for x in await orders.lines_of_order(session, renewal)]
    assert kinds == [("first", None, "issued"), ("renewal", dt.date(2027, 1, 1), "issued")]
    assert (renewal.number, renewal.order_date, renewal.total_ht) == (number, dt.date(2027, 1, 1), Decimal("13610.00"))
    assert lines == [("CAIH-MNT-X86", Decimal("28")), ("CAIH-MNT-BAIE", Decimal("1"))]
    # The renewal order is the new annual order.
    assert contract.annual_amount_ht == Decimal("13610.00")


async def test_a_change_above_10_percent_gives_a_complementary_order(db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    contract = await _contract(db, chr_id)
    async with db.transaction([chr_id], actor=ACTOR) as session:
        change = await m.declare_change(session, chr_id, contract.id, {
            "lines": [{"article_code": "CAIH-MNT-X86", "quantity": "3", "direction": "entree"}],
            "note": "Trois serveurs du nouveau bloc"}, now=NOW)
    # 3 × 420 = 1 260 € HT, 12 % of 10 500 €: « supérieure à 10% […] une commande complémentaire en cours d'année ».
    assert (change.change_amount_ht, change.percent, change.outcome) == (Decimal("1260.00"), Decimal("12.00"),
                                                                         "complementary")
    async with db.session([chr_id]) as session:
        order = await orders.get_order_in_tenant(session, chr_id, change.complementary_order_id)
        contract = await m.get_contract_in_tenant(session, chr_id, contract.id)
    assert (order.status, order.total_ht) == ("draft", Decimal("1260.00"))  # the buyer issues it
    assert contract.park == [{"article_code": "CAIH-MNT-X86", "quantity": "28"}]
    assert contract.annual_amount_ht == Decimal("10500.00")


async def test_a_change_of_8_percent_is_regularised_in_the_renewal(db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    contract = await _contract(db, chr_id)
    async with db.transaction([chr_id], actor=ACTOR) as session:
        change = await m.declare_change(session, chr_id, contract.id, {
            "lines": [{"article_code": "CAIH-MNT-X86", "quantity": "2", "direction": "sortie"}]}, now=NOW)
    # 2 × 420 = 840 € HT out of the park, 8 %: « ne donnera pas lieu à une nouvelle commande ».
    assert (change.change_amount_ht, change.percent, change.outcome, change.complementary_order_id) == (
        Decimal("-840.00"), Decimal("8.00"), "renewal", None)
    await run_maintenance_renewals(db, dt.datetime(2027, 1, 1, 6, 0, tzinfo=dt.UTC))
    async with db.session([chr_id]) as session:
        change = await session.get(MaintenanceChange, (chr_id, change.id))
        renewal = await orders.get_order_in_tenant(session, chr_id, change.renewal_order_id)
        lines = [(x.article_code, x.quantity) for x in await orders.lines_of_order(session, renewal)]
    # « Ces évolutions sont régularisées lors du renouvellement de la commande annuelle »: 23 servers renewed.
    assert lines == [("CAIH-MNT-X86", Decimal("23"))] and renewal.total_ht == Decimal("9660.00")


async def test_a_change_after_the_declaration_is_added_to_the_declared_park(db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    contract = await _contract(db, chr_id)
    async with db.transaction([chr_id], actor=ACTOR) as session:
        await m.declare_park(session, chr_id, contract.id, [{"article_code": "CAIH-MNT-X86", "quantity": "26"}],
                             now=NOW)
        await m.declare_change(session, chr_id, contract.id, {
            "lines": [{"article_code": "CAIH-MNT-BAIE", "quantity": "1"}]}, now=NOW + dt.timedelta(days=20))
    await run_maintenance_renewals(db, dt.datetime(2027, 1, 1, 6, 0, tzinfo=dt.UTC))
    async with db.session([chr_id]) as session:
        [renewal] = [o for link, o in await m.orders_of_contract(session, contract) if link.kind == "renewal"]
        lines = [(x.article_code, x.quantity) for x in await orders.lines_of_order(session, renewal)]
    assert lines == [("CAIH-MNT-X86", Decimal("26")), ("CAIH-MNT-BAIE", Decimal("1"))]


async def test_bad_input_stores_nothing(db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    orders_before = await _count(db, chr_id, PurchaseOrder)
    async with db.transaction([chr_id], actor=ACTOR) as session:
        agreement_id = await _agreement_id(session)
        with pytest.raises(m.MaintenanceError) as bad:
            await m.create_contract(session, chr_id, {"agreement_id": str(uuid.uuid4()),
                                                      "lines": [{"article_code": "", "quantity": "-1"}]}, now=NOW)
        with pytest.raises(m.MaintenanceError) as unknown:
            await m.create_contract(session, chr_id, {"agreement_id": agreement_id, **PLACE,
                                                      "lines": [{"article_code": "INCONNU", "quantity": "1"}]}, now=NOW)
    assert {"agreement_id", "lines.1.article_code", "lines.1.quantity", "delivery_place",
            "representative"} <= set(bad.value.errors)
    assert "inconnu du BPU" in unknown.value.errors["lines.1.article_code"]
    assert await _count(db, chr_id, MaintenanceContract) == 0
    assert await _count(db, chr_id, PurchaseOrder) == orders_before

    contract = await _contract(db, chr_id)
    async with db.transaction([chr_id], actor=ACTOR) as session:
        with pytest.raises(m.MaintenanceError) as too_many:
            await m.declare_change(session, chr_id, contract.id, {
                "lines": [{"article_code": "CAIH-MNT-X86", "quantity": "26", "direction": "sortie"}]}, now=NOW)
        with pytest.raises(m.MaintenanceError) as direction:
            await m.declare_change(session, chr_id, contract.id, {
                "lines": [{"article_code": "CAIH-MNT-X86", "quantity": "1", "direction": "vendu"}]}, now=NOW)
        with pytest.raises(m.MaintenanceError) as empty:
            await m.declare_park(session, chr_id, contract.id, [], now=NOW)
    assert "ne compte que 25" in too_many.value.errors["lines.1.quantity"]
    assert "lines.1.direction" in direction.value.errors and "lines" in empty.value.errors
    assert await _count(db, chr_id, MaintenanceChange) == 0 == await _count(db, chr_id, MaintenanceDeclaration)
    async with db.session([chr_id]) as session:
        contract = await m.get_contract_in_tenant(session, chr_id, contract.id)
    assert contract.park == PARK


async def test_another_tenants_contract_is_not_found(db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    contract = await _contract(db, chr_id)
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(NotFound):
            await m.get_contract_in_tenant(session, cpam, contract.id)
        with pytest.raises(NotFound):
            await m.declare_park(session, cpam, contract.id, PARK, now=NOW)
        assert await m.contracts_of_tenant(session, cpam) == []


async def test_the_buyer_is_told_of_a_declaration_due_within_30_days(db, demo):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    contract = await _contract(db, chr_id)
    async with db.session([chr_id]) as session:
        # 1 December 2026 is 11 days after NOW, 61 days after 1 October.
        assert [(c.id, d) for c, d in await m.contracts_to_declare(session, [chr_id], NOW)] == [
            (contract.id, dt.date(2026, 12, 1))]
        assert await m.contracts_to_declare(session, [chr_id], dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC)) == []
    async with db.transaction([chr_id], actor=ACTOR) as session:
        await m.declare_park(session, chr_id, contract.id, PARK, now=NOW)
    async with db.session([chr_id]) as session:
        assert await m.contracts_to_declare(session, [chr_id], NOW) == []


async def test_the_buyer_is_mailed_once_of_a_renewal_and_of_a_complementary_order(db, demo, settings):
    chr_id = uuid.UUID(demo["tenant_ids"]["chr"])
    contract = await _contract(db, chr_id)
    async with db.transaction([chr_id], actor=ACTOR) as session:
        change = await m.declare_change(session, chr_id, contract.id, {
            "lines": [{"article_code": "CAIH-MNT-X86", "quantity": "3"}]}, now=NOW)
    [renewal] = await run_maintenance_renewals(db, dt.datetime(2027, 1, 1, 6, 0, tzinfo=dt.UTC))
    for _ in range(2):  # a second pass (a restart) sends nothing twice
        assert (await Relay(db, settings=settings, subscribers=m.SUBSCRIBERS).run_once()).failed == 0
    async with db.engine.connect() as conn:
        mails = (await conn.execute(select(OutboxMessage.to, OutboxMessage.subject, OutboxMessage.body)
                                    .where(OutboxMessage.tenant_id == chr_id).order_by(OutboxMessage.id))).all()
    async with db.session([chr_id]) as session:
        complementary = (await orders.get_order_in_tenant(session, chr_id, change.complementary_order_id)).number
    subjects = sorted((x.to, x.subject) for x in mails)
    name = "Centre hospitalier régional de Metz-Thionville"
    assert subjects == sorted([
        ("admin@chr-metz.demo", f"[{name}] Maintenance : commande complémentaire {complementary} à émettre"),
        ("admin@chr-metz.demo", f"[{name}] Maintenance : bon de commande {renewal} de renouvellement émis")])
    body = next(x.body for x in mails if renewal in x.subject)
    assert "date anniversaire du 01/01/2027" in body and "(CCTP CAIH 2.1.32)" in body
