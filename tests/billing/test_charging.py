"""Paid charging with a real OCPP transaction (issue 15 §5; CCTP CPAM 5-5-5-2 « rendre la charge payante (…) le
Titulaire gèrera les paiements et reversera les sommes à la CPAM », 5-5-6-1 « crédit/recharge, état détaillé
imprimable et téléchargeable (…) date de l'opération, adresse de la borne, durée de charge et montant »): Start and
Stop over the ingress socket, the durable ``csms.transaction.stopped`` event priced and debited once by the outbox
relay, the agent's statement as a page, PDF, CSV and API, a top-up through the test payment provider (completed
and failed), the sums collected and repaid on the admin's page, and 404 across tenants."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from ocpp.v16 import call
from sqlalchemy import select, update

from app.outbox import OutboxEvent, Relay
from billing import charging
from billing.services import BillingError
from tests.conftest import csrf_from, login
from tests.csms import conftest as supervision
from tests.csms.conftest import MEMBER_PASSWORD

backend, fleet, ingress, password_hash = supervision.backend, supervision.fleet, supervision.ingress, supervision.password_hash
people, stations = supervision.people, supervision.stations

ACTOR = {"user_id": None, "label": "test"}
#: Tuesday 3 November 2026, 17:00 UTC = 18:00 in Paris.
T1 = dt.datetime(2026, 11, 3, 17, 0, tzinfo=dt.UTC)
AGENT = "agent@cpam-bornes.demo"


def ts(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _paid_tenant_with_an_agent(db, fleet) -> uuid.UUID:
    from csms import services as csms_services
    from tenants import services as tenants
    from tenants.models import Site

    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        await tenants.add_member(session, fleet.cpam, {"email": AGENT, "role": "agent", "password": MEMBER_PASSWORD})
        user = await tenants.find_user_by_email(session, AGENT)
        await csms_services.issue_badge(session, fleet.cpam, id_tag="AGENT-01", user_id=user.id,
                                        holder_label="Agent Dupont")
        await session.execute(update(Site).where(Site.tenant_id == fleet.cpam, Site.id == fleet.cpam_site)
                              .values(address="2 rue Jean Jaurès", postal_code="72000"))
        await charging.set_enabled(session, fleet.cpam, True, now=T1)
        # An agent tariff from 1 November; the « every badge » tariff that would apply otherwise is dearer.
        await charging.add_tariff(session, fleet.cpam, {
            "label": "Agents 2026", "population": "agent", "per_kwh": "0,30", "per_minute": "0,02",
            "per_session": "0,50", "valid_from": "2026-11-01"}, now=T1)
        await charging.add_tariff(session, fleet.cpam, {
            "population": "", "per_kwh": "1", "valid_from": "2026-01-01"}, now=T1)
        return user.id


async def test_a_real_ocpp_transaction_is_debited_once_and_shows_on_the_agents_statement(
        db, settings, fleet, ingress, stations, people, app, client, api_token):
    user_id = await _paid_tenant_with_an_agent(db, fleet)
    async with stations.connect("CPAM-LM-01") as (cp, wire):
        # The agent's session on point 2: 3.2 kWh in 45 minutes.
        started = await cp.call(call.StartTransaction(connector_id=2, id_tag="AGENT-01", meter_start=1000,
                                                      timestamp=ts(T1)))
        assert started.id_tag_info["status"] == "Accepted"
        await cp.call(call.StopTransaction(meter_stop=4200, timestamp=ts(T1 + dt.timedelta(minutes=45)),
                                           transaction_id=started.transaction_id))
        # The same stop again (the station's offline queue): counted once, published once.
        await cp.call(call.StopTransaction(meter_stop=4200, timestamp=ts(T1 + dt.timedelta(minutes=45)),
                                           transaction_id=started.transaction_id))
        # A badge with no holder (not issued to a person): free, whatever the tariffs.
        other = await cp.call(call.StartTransaction(connector_id=1, id_tag="BADGE-OK", meter_start=0,
                                                    timestamp=ts(T1)))
        await cp.call(call.StopTransaction(meter_stop=9000, timestamp=ts(T1 + dt.timedelta(hours=1)),
                                           transaction_id=other.transaction_id))
    async with db.session([fleet.cpam]) as session:
        topics = list(await session.scalars(select(OutboxEvent.topic).where(
            OutboxEvent.tenant_id == fleet.cpam, OutboxEvent.topic == "csms.transaction.stopped")))
    assert len(topics) == 2  # one per session, none for the replayed stop

    # The relay delivers the durable event; a second pass (a redelivery) debits nothing more.
    for _ in range(2):
        assert (await Relay(db, settings=settings, subscribers=charging.SUBSCRIBERS).run_once()).failed == 0
    async with db.session([fleet.cpam]) as session:
        account = await charging.account_of_user(session, fleet.cpam, user_id)
        assert account is not None
        opening, entries, closing = await charging.statement(session, fleet.cpam, account, dt.date(2026, 11, 1),
                                                             dt.date(2026, 11, 30))
    # CCTP CPAM 5-5-5-2: 3,2 kWh × 0,30 € + 45 min × 0,02 € + 0,50 € = 0,96 + 0,90 + 0,50 = 2,36 €.
    assert [(e.kind, e.amount, e.energy_wh, e.duration_seconds) for e in entries] == [
        ("charge", Decimal("-2.36"), 3200, 2700)]
    assert (opening, closing, account.balance) == (Decimal("0.00"), Decimal("-2.36"), Decimal("-2.36"))
    assert entries[0].station_address == "2 rue Jean Jaurès, 72000 Le Mans"
    assert "3,2 kWh × 0,3 € + 45 min × 0,02 € + 0,5 € par recharge = 2,36 €" in entries[0].computation

    # The agent's page: the statement (date in Paris, station address, duration, energy, amount), PDF and CSV.
    assert (await login(client, AGENT, MEMBER_PASSWORD)).status_code in (302, 303)
    home = await client.get(f"/t/{fleet.cpam}/agent")
    assert "Mon compte de recharge" in home.text
    base = f"/t/{fleet.cpam}/recharge-payante/compte"
    page = await client.get(base, params={"mois": "2026-11"})
    assert page.status_code == 200, page.text
    html = page.text
    assert "03/11/2026 18:45" in html and "2 rue Jean Jaurès, 72000 Le Mans" in html and "45 min" in html
    assert "3,20 kWh" in html and "-2,36 €" in html and "aucune carte bancaire n'est débitée" in html
    csv = await client.get(f"{base}/releve.csv", params={"mois": "2026-11"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    rows = csv.content.decode("utf-8-sig").split("\r\n")
    assert rows[0].startswith("Date;Opération;Station;Adresse de la borne;Point de charge;Durée (min)")
    assert rows[1].startswith("03/11/2026 18:45;Recharge;") and ";2 rue Jean Jaurès, 72000 Le Mans;" in rows[1]
    assert ";45;3.20;-2.36;" in rows[1]  # typed numbers, not text a spreadsheet would read as a formula
    pdf = await client.get(f"{base}/releve.pdf", params={"mois": "2026-11"})
    assert pdf.status_code == 200 and pdf.content[:4] == b"%PDF"

    # A top-up through the test provider: a refused payment credits nothing, an accepted one credits.
    token = csrf_from(page.text)
    refused = await client.post(f"{base}/credit", data={"_csrf_token": token, "amount": "10", "simulate": "failure"},
                              follow_redirects=False)
    assert refused.status_code in (302, 303)
    paid = await client.post(f"{base}/credit", data={"_csrf_token": token, "amount": "10,00"},
                             follow_redirects=False)
    assert paid.status_code in (302, 303)
    bad = await client.post(f"{base}/credit", data={"_csrf_token": token, "amount": "1000"})
    assert bad.status_code == 422 and "Montant : entre 5,00 et 500,00." in bad.text
    now = await client.get(base)
    assert "7,64 €" in now.text

    api = await api_token(AGENT)
    own = (await client.get(f"/api/v1/tenants/{fleet.cpam}/charging/account", params={"month": "2026-11"},
                            headers=api)).json()
    assert own["account"]["balance"] == "7.64" and [(e["kind"], e["amount"]) for e in own["entries"]] == [
        ("charge", "-2.36")]
    assert own["entries"][0]["station_address"] == "2 rue Jean Jaurès, 72000 Le Mans"
    top = await client.post(f"/api/v1/tenants/{fleet.cpam}/charging/account/top-ups", json={"amount": "5"},
                            headers=api)
    assert top.status_code == 201 and top.json()["balance"] == "12.64" and top.json()["real_payment"] is False

    # The admin: the sums collected in November and their repayment, recorded by the titulaire.
    client.cookies.clear()
    assert (await login(client, "admin@cpam-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    admin = await client.get(f"/t/{fleet.cpam}/recharge-payante")
    assert admin.status_code == 200
    # The tariffs' populations are the supervision's badge kinds, with their active badges.
    assert "Badges des agents (1 actif)" in admin.text and "en tout : 2." in admin.text
    # The home card: November ended, its 2,36 € are still to repay.
    home = (await client.get(f"/t/{fleet.cpam}")).text
    assert "à reverser (mois échus)" in home and "2,36 €" in home and "comptes d&#39;agents débiteurs" in home
    november = admin.text.split('data-month="2026-11"')[1].split("</tr>")[0]
    assert "2,36 €" in november and "data-due>2,36 €" in november
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        await charging.record_repayment(session, fleet.cpam, {"month": "2026-11", "reference": "VIR-2026-12-01",
                                                              "repaid_on": "2026-12-02"},
                                        now=dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC))
    admin = await client.get(f"/t/{fleet.cpam}/recharge-payante")
    november = admin.text.split('data-month="2026-11"')[1].split("</tr>")[0]
    assert "VIR-2026-12-01" in november and "data-due>0,00 €" in november
    admin_token = await api_token("admin@cpam-bornes.demo")
    collections = (await client.get(f"/api/v1/tenants/{fleet.cpam}/charging/collections",
                                    headers=admin_token)).json()
    assert {"month": "2026-11", "collected": "2.36", "repaid": "2.36", "due": "0.00"}.items() <= next(
        c for c in collections if c["month"] == "2026-11").items()

    # Another tenant's admin: 404 on every page, file and API of this tenant's paid charging.
    client.cookies.clear()
    assert (await login(client, "admin@vlb-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    for url in (f"/t/{fleet.cpam}/recharge-payante", base, f"{base}/releve.csv",
                f"/t/{fleet.cpam}/recharge-payante/comptes/{account.id}",
                f"/t/{fleet.other}/recharge-payante/comptes/{account.id}",
                f"/t/{fleet.other}/recharge-payante/comptes/{account.id}/releve.pdf"):
        assert (await client.get(url)).status_code == 404, url
    vlb = await api_token("admin@vlb-bornes.demo")
    for url in (f"/api/v1/tenants/{fleet.cpam}/charging", f"/api/v1/tenants/{fleet.other}/charging/accounts/{account.id}"):
        assert (await client.get(url, headers=vlb)).status_code == 404, url


async def test_a_free_tenant_prices_nothing_and_refuses_a_top_up(db, settings, fleet, ingress, stations, people):
    user_id = await _paid_tenant_with_an_agent(db, fleet)
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        await charging.set_enabled(session, fleet.cpam, False, now=T1)
    async with stations.connect("CPAM-LM-01") as (cp, wire):
        started = await cp.call(call.StartTransaction(connector_id=2, id_tag="AGENT-01", meter_start=0,
                                                      timestamp=ts(T1)))
        await cp.call(call.StopTransaction(meter_stop=5000, timestamp=ts(T1 + dt.timedelta(minutes=30)),
                                           transaction_id=started.transaction_id))
    assert (await Relay(db, settings=settings, subscribers=charging.SUBSCRIBERS).run_once()).failed == 0
    async with db.session([fleet.cpam]) as session:
        assert await charging.account_of_user(session, fleet.cpam, user_id) is None
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        with pytest.raises(BillingError, match="gratuite"):
            await charging.top_up(session, fleet.cpam, user_id, {"amount": "10"}, now=T1)


def _energy(at: dt.datetime, wh: int, context: str) -> list[dict]:
    return [{"timestamp": ts(at), "sampled_value": [{"value": wh, "context": context,
                                                     "measurand": "Energy.Active.Import.Register",
                                                     "unit_of_measure": {"unit": "Wh"}}]}]


async def test_an_ocpp_201_session_is_debited_and_the_admin_reads_the_statement(
        db, settings, fleet, ingress, stations, people, app, client, api_token):
    from ocpp.v201 import call as call201

    await _paid_tenant_with_an_agent(db, fleet)
    token = {"id_token": "AGENT-01", "type": "ISO14443"}
    async with stations.connect("CPAM-LM-201", version="2.0.1") as (cp, wire):
        await cp.call(call201.TransactionEvent(
            event_type="Started", timestamp=ts(T1), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "TX-PAID-1", "charging_state": "Charging"},
            evse={"id": 1, "connector_id": 1}, id_token=token, meter_value=_energy(T1, 0, "Transaction.Begin")))
        ended = call201.TransactionEvent(
            event_type="Ended", timestamp=ts(T1 + dt.timedelta(minutes=30)), trigger_reason="EVDeparted", seq_no=1,
            transaction_info={"transaction_id": "TX-PAID-1", "stopped_reason": "EVDisconnected"},
            evse={"id": 1, "connector_id": 1},
            meter_value=_energy(T1 + dt.timedelta(minutes=30), 10_000, "Transaction.End"))
        await cp.call(ended)
        await cp.call(ended)  # a replay: nothing more to price
    assert (await Relay(db, settings=settings, subscribers=charging.SUBSCRIBERS).run_once()).failed == 0
    async with db.session([fleet.cpam]) as session:
        (account,) = await charging.accounts_of_tenant(session, fleet.cpam)
    # 10 kWh × 0,30 € + 30 min × 0,02 € + 0,50 € = 3,00 + 0,60 + 0,50 = 4,10 €.
    assert account.balance == Decimal("-4.10")

    # The buyer's admin reads the agent's statement (page, CSV) and manages the tariffs through the API.
    assert (await login(client, "admin@cpam-bornes.demo", MEMBER_PASSWORD)).status_code in (302, 303)
    base = f"/t/{fleet.cpam}/recharge-payante/comptes/{account.id}"
    page = await client.get(base, params={"mois": "2026-11"})
    assert page.status_code == 200 and "-4,10 €" in page.text and "Agent Dupont" in page.text
    csv = await client.get(f"{base}/releve.csv", params={"mois": "2026-11"})
    assert ";30;10.00;-4.10;" in csv.content.decode("utf-8-sig")
    admin = await api_token("admin@cpam-bornes.demo")
    api = f"/api/v1/tenants/{fleet.cpam}/charging"
    overlap = await client.post(f"{api}/tariffs", json={"population": "agent", "per_kwh": "0.5",
                                                        "valid_from": "2026-12-01"}, headers=admin)
    assert overlap.status_code == 422 and "déjà en vigueur" in overlap.text
    made = await client.post(f"{api}/tariffs", json={"population": "vehicle", "per_session": 1,
                                                     "valid_from": "2026-12-01", "valid_to": "2026-12-31"},
                             headers=admin)
    assert made.status_code == 201 and made.json()["per_session"] == "1.0000"
    off = await client.put(api, json={"enabled": False}, headers=admin)
    assert off.status_code == 200 and off.json()["enabled"] is False and len(off.json()["tariffs"]) == 3
    viewer = await api_token("visu@cpam-bornes.demo")
    assert (await client.put(api, json={"enabled": True}, headers=viewer)).status_code == 403
    # A member who holds no badge has nothing to credit.
    assert (await client.put(api, json={"enabled": True}, headers=admin)).status_code == 200
    none = await client.post(f"{api}/account/top-ups", json={"amount": "10"}, headers=viewer)
    assert none.status_code == 422 and "Aucun badge de recharge" in none.text
    assert (await client.post(f"{api}/repayments", json={"month": "2026-11", "reference": "X"},
                              headers=admin)).status_code == 403  # the titulaire repays, not the buyer
