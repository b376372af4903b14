"""Quarterly invoices of continuous services (CCP TGD IX.4), the ECB rates and the late interest (IX.7), through the
services and the API with a real order made by catalog's services (issue 15 §3)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.db import utcnow
from billing import invoices, late, periodic
from billing.rules import late_payment
from billing.services import BillingError
from catalog import orders
from tenants.models import FrameworkAgreement
from tests.billing.test_invoices import ACTOR, CPAM_AGREEMENT, set_up_billing, verified_order
from tests.conftest import form_post, login, page_text

#: Monday 16 February 2026, 10:00 in Paris: the order of 4 points' maintenance and supervision is issued.
STARTED = dt.datetime(2026, 2, 16, 9, 0, tzinfo=dt.UTC)
#: 1 July 2026: the first and second quarters have ended (« à terme civil échu »), the third runs.
JULY = dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.UTC)
CONTINUOUS = [{"article_code": "IRVE-MAINT", "quantity": "4"}, {"article_code": "IRVE-SUPERV", "quantity": "4"},
              {"article_code": "IRVE-BADGE", "quantity": "10"}]


async def continuous_order(db, tenant_id, issued=STARTED):
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CPAM_AGREEMENT))
        order = await orders.create_order(session, tenant_id, {
            "agreement_id": str(agreement.id), "lines": CONTINUOUS, "delivery_place": "Parking visiteurs",
            "representative": "Anne Administratrice"}, order_date=issued.date(), now=issued)
        await orders.issue_order(session, tenant_id, order.id, now=issued)
        return order


async def test_quarters_prorata_on_thirty_day_months_never_twice(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    order = await continuous_order(db, cpam)
    # Before the first quarter ends, nothing is due.
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(BillingError, match="à terme civil échu"):
            await periodic.draft_quarter_invoices(session, cpam, order.id, now=STARTED + dt.timedelta(days=40))
    async with db.transaction([cpam], actor=ACTOR) as session:
        made = await periodic.draft_quarter_invoices(session, cpam, order.id, now=JULY)
        got = [(i.verified_on, i.total_ht, i.total_vat, i.total_ttc,
                [(x.order_position, x.total_ht, x.note) for x in await invoices.lines_of_invoice(session, i)])
               for i in made]
    # IX.4: maintenance 4 × 185 = 740 € HT a year, supervision 4 × 8,50 × 12 = 408 € HT a year (the badges are
    # supplies, not continuous). T1 2026 served from 16/02 to 31/03: 45 days of 30-day months, 740 × 45 / 360 = 92,50
    # and 408 × 45 / 360 = 51,00; T2 complete: a quarter of each.
    assert got == [
        (dt.date(2026, 3, 31), Decimal("143.50"), Decimal("28.70"), Decimal("172.20"), [
            (1, Decimal("92.50"), "T1 2026 (CCP TGD IX.4) : 740,00 € HT / 4 × 45 / 90 jours (mois de 30 jours, du "
                                  "16/02/2026 au 31/03/2026) = 92,50 €"),
            (2, Decimal("51.00"), "T1 2026 (CCP TGD IX.4) : 408,00 € HT / 4 × 45 / 90 jours (mois de 30 jours, du "
                                  "16/02/2026 au 31/03/2026) = 51,00 €")]),
        (dt.date(2026, 6, 30), Decimal("287.00"), Decimal("57.40"), Decimal("344.40"), [
            (1, Decimal("185.00"), "T2 2026 (CCP TGD IX.4) : 740,00 € HT / 4 = 185,00 €"),
            (2, Decimal("102.00"), "T2 2026 (CCP TGD IX.4) : 408,00 € HT / 4 = 102,00 €")])]
    # The second run of the same quarters is refused: every ended quarter is invoiced (invoice_periods is unique).
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(BillingError, match="Aucun trimestre échu à facturer"):
            await periodic.draft_quarter_invoices(session, cpam, order.id, now=JULY + dt.timedelta(days=20))
    # The quarter's invoice is issued (its own quantities are not the accepted ones), due 30 days after its issue.
    await set_up_billing(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        issued = await invoices.issue_invoice(session, cpam, made[0].id, now=JULY)
        assert (issued.status, issued.due_date) == ("issued", dt.date(2026, 7, 31))


def test_late_interest_of_an_unpaid_invoice_as_of_today():
    class Unpaid:
        kind, status, paid_on = "invoice", "issued", None
        due_date, total_ttc = dt.date(2026, 7, 31), Decimal("172.20")

    rates = {dt.date(2025, 6, 11): Decimal("2.15")}
    # IX.7: 2,15 % in force on 01/07/2026 (the semester the interest began to run) + 8 points; 31 days.
    found = late.late_of(Unpaid(), dt.date(2026, 8, 31), rates)  # type: ignore[arg-type]
    assert found is not None and found.payment is not None
    assert (found.payment.days_late, found.payment.interest, found.payment.indemnity) == (31, Decimal("1.48"),
                                                                                           Decimal("40.00"))
    assert found.amount_due == Decimal("41.48")
    assert late.late_of(Unpaid(), dt.date(2026, 7, 31), rates) is None
    unknown = late.late_of(Unpaid(), dt.date(2026, 8, 31), {})  # type: ignore[arg-type]
    assert unknown is not None and unknown.payment is None and "Aucun taux de la BCE" in unknown.problem


async def test_api_quarters_ecb_rates_late_interest_and_walls(client, db, demo, api_token):
    cpam = demo["tenant_ids"]["cpam"]
    base = f"/api/v1/tenants/{cpam}"
    operator = await api_token("technicien@titulaire.demo")
    admin = await api_token("admin@cpam72.demo")
    coordinator = await api_token("coordination@caih.demo")

    # Quarters through the API: the order started more than two quarters ago.
    started = utcnow() - dt.timedelta(days=200)
    order = await continuous_order(db, uuid.UUID(cpam), issued=started)
    assert (await client.post(f"{base}/orders/{order.id}/quarterly-invoices", headers=admin)).status_code == 403
    made = await client.post(f"{base}/orders/{order.id}/quarterly-invoices", headers=operator)
    assert made.status_code == 201, made.text
    assert len(made.json()) >= 2 and all(i["status"] == "draft" for i in made.json())
    assert made.json()[0]["lines"][0]["unit"] == "trimestre" and made.json()[0]["lines"][0]["quantity"] == "1.000"
    again = await client.post(f"{base}/orders/{order.id}/quarterly-invoices", headers=operator)
    assert again.status_code == 422 and "Aucun trimestre échu" in again.json()["errors"]["period"]

    # The ECB rates: the coordinators keep them; bad input refused in French.
    rates = "/api/v1/centrals/CAIH/ecb-rates"
    assert (await client.post(rates, headers=operator, json={"applies_from": "2026-06-11", "rate": "2,15"})
            ).status_code == 404
    bad = await client.post(rates, headers=coordinator, json={"applies_from": "11/06/2026", "rate": "beaucoup"})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"applies_from", "rate"}
    added = await client.post(rates, headers=coordinator, json={"applies_from": "2020-01-01", "rate": "2,15"})
    assert added.status_code == 201 and added.json()["rate"] == "2.150"
    twice = await client.post(rates, headers=coordinator, json={"applies_from": "2020-01-01", "rate": "3"})
    assert twice.status_code == 422 and "déjà connu" in twice.json()["errors"]["applies_from"]
    assert any(r["applies_from"] == "2020-01-01" for r in (await client.get(rates, headers=coordinator)).json())

    # An invoice issued sixty days ago is past its due date (thirty days) and unpaid: interest and the indemnity.
    verified = await verified_order(db, uuid.UUID(cpam), issued=utcnow() - dt.timedelta(days=70),
                                    delivered=utcnow() - dt.timedelta(days=65),
                                    decided=utcnow() - dt.timedelta(days=64))
    await set_up_billing(db, uuid.UUID(cpam))
    tid = uuid.UUID(cpam)
    async with db.transaction([tid], actor=ACTOR) as session:
        draft = await invoices.draft_invoice(session, tid, verified.id, {}, now=utcnow() - dt.timedelta(days=60))
        issued = await invoices.issue_invoice(session, tid, draft.id, now=utcnow() - dt.timedelta(days=60))
        due = issued.due_date
    async with db.session([tid]) as session:
        rates_known = await late.rates_table(session)
    today = utcnow().astimezone(ZoneInfo("Europe/Paris")).date()
    expected = late_payment(Decimal("10721.40"), due, today, rates_known)
    assert expected is not None
    detail = (await client.get(f"{base}/invoices/{issued.id}", headers=admin)).json()
    assert (detail["interest"], detail["indemnity"]) == (str(expected.interest), "40.00")
    assert detail["computation"].startswith("10\u202f721,40 € × (") and "+ 8 points" in detail["computation"]
    assert (await login(client, "admin@cpam72.demo")).status_code in (302, 303)
    page = await client.get(f"/t/{cpam}/factures/{issued.id}")
    assert page.status_code == 200 and "Échéance dépassée" in page_text(page)
    assert f"Intérêts moratoires au {today:%d/%m/%Y}" in page_text(page)
    home = await client.get(f"/t/{cpam}")
    assert "dû avec intérêts" in page_text(home)

    # Walls: another tenant's order answers 404 on the new route.
    other = demo["tenant_ids"]["chr"] if "chr" in demo["tenant_ids"] else next(
        t for k, t in demo["tenant_ids"].items() if k != "cpam")
    assert (await client.post(f"/api/v1/tenants/{other}/orders/{order.id}/quarterly-invoices",
                              headers=operator)).status_code == 404


async def test_pages_quarters_from_the_order_page_and_the_coordinators_ecb_rates(client, db, demo):
    cpam = demo["tenant_ids"]["cpam"]
    order = await continuous_order(db, uuid.UUID(cpam), issued=utcnow() - dt.timedelta(days=200))
    assert (await login(client, "technicien@titulaire.demo")).status_code in (302, 303)
    page = await client.get(f"/t/{cpam}/commandes/{order.id}")
    assert "Facturer les trimestres échus" in page_text(page)
    made = await form_post(client, f"/t/{cpam}/commandes/{order.id}", f"/t/{cpam}/factures/trimestres/{order.id}", {})
    assert made.status_code in (302, 303) and "/factures" in made.headers["location"]
    again = await form_post(client, f"/t/{cpam}/commandes/{order.id}", f"/t/{cpam}/factures/trimestres/{order.id}", {})
    assert again.headers["location"] == f"/t/{cpam}/commandes/{order.id}"
    assert "Aucun trimestre échu à facturer" in page_text(await client.get(again.headers["location"]))

    # The coordinator's page: a bad rate refused in French (422, nothing kept), then a rate added.
    assert (await login(client, "coordination@caih.demo")).status_code in (302, 303)
    url = "/c/CAIH/taux-bce"
    bad = await form_post(client, url, url, {"applies_from": "2021-01-01", "rate": "deux"})
    assert bad.status_code == 422 and "Taux : un pourcentage" in page_text(bad)
    ok = await form_post(client, url, url, {"applies_from": "2021-01-01", "rate": "0,5"})
    assert ok.status_code in (302, 303)
    assert "01/01/2021" in page_text(await client.get(url))
