"""The badges due at the commissioning of a quote's works and the statistics of badges (``catalog.badges``, issue 14
§4). CCTP CPAM 5-5-5-3: « 5 badges sont fournis à la mise en service de chaque point de charge » and « la gestion
des badges de recharge (attribution, distribution, suivi statistique) aussi bien en local (carte attachée au
véhicule de service ou au site de rattachement) que ceux délivrés aux agents »."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.errors import NotFound
from app.mail import OutboxMessage
from app.outbox import OutboxEvent, Relay
from catalog import badges, orders, services
from catalog import quotes as q
from catalog.demo import BPU
from catalog.models import CommissioningBadges, PurchaseOrder, Quote
from csms import services as csms
from tenants import services as tenants
from tenants.models import FrameworkAgreement
from tests.conftest import form_post, login, page_text

ACTOR = {"user_id": None, "label": "technicien@titulaire.demo"}
CPAM_AGREEMENT = "2025-CPAM72-IRVE"
HEADER = "code_article;libelle;unite;prix_unitaire_ht;taux_tva;famille;complexite;constructeur;achat_location"
#: Monday 14 December 2026, 09:00 in Le Mans.
NOW = dt.datetime(2026, 12, 14, 8, 0, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 12, 21, 8, 0, tzinfo=dt.UTC)


async def _import_cpam_bpu(db, lines: list[str], valid_from: dt.date) -> None:
    async with db.transaction(actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CPAM_AGREEMENT))
        await services.import_bpu(session, agreement, "\n".join([HEADER, *lines]), "badges.csv",
                                  valid_from=valid_from, imported_by="test")


async def _without_badge_article(db) -> None:
    """A BPU version of the CPAM agreement without the badge article the demo's has (``IRVE-BADGE``)."""
    await _import_cpam_bpu(db, [x for x in BPU[CPAM_AGREEMENT] if not x.startswith("IRVE-BADGE;")], dt.date(2026, 12, 1))


async def _with_badge_article(db) -> None:
    """After ``_without_badge_article``: a later version with it again (the demo's BPU)."""
    await _import_cpam_bpu(db, BPU[CPAM_AGREEMENT], dt.date(2026, 12, 2))


async def _supervised_site(db, cpam: uuid.UUID) -> tuple[uuid.UUID, int]:
    """The demo site whose stations the supervision knows, and its charge points."""
    async with db.session([cpam]) as session:
        for site in await tenants.list_sites(session, cpam):
            points = await csms.site_charge_point_count(session, cpam, site.id)
            if points:
                return site.id, points
    raise AssertionError("the CPAM demo has a supervised site")


async def _works_started(db, cpam: uuid.UUID, *, site_id: uuid.UUID | None = None, now: dt.datetime = NOW) -> Quote:
    """A quote of works accepted (its order issued) whose works started on the day of ``now`` (14 December)."""
    day = now.astimezone(ZoneInfo("Europe/Paris")).date().isoformat()
    async with db.transaction([cpam], actor=ACTOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == CPAM_AGREEMENT))
        data = {"agreement_id": str(agreement.id), "need": "Deux bornes 22 kW", "place": "Parking, 72000 Le Mans"}
        if site_id:
            data["site_id"] = str(site_id)
        quote = await q.request_quote(session, cpam, None, data, now=now)
        await q.record_visit(session, cpam, quote.id, day, now=now)
        await q.answer_quote(session, cpam, quote.id, {"lines": [{"article_code": "IRVE-BORNE-22", "quantity": "2"}]},
                             answered_by=None, now=now)
        await q.accept_quote(session, cpam, quote.id, {}, decided_by=None, representative="Anne Administratrice",
                             now=now)
        return await q.record_works_start(session, cpam, quote.id, day, now=now)


async def _orders(db, cpam: uuid.UUID) -> int:
    async with db.session([cpam]) as session:
        return await session.scalar(select(func.count()).select_from(PurchaseOrder)) or 0


async def test_commissioning_orders_five_badges_per_charge_point_and_issues_them(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    quote = await _works_started(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        # CPAM 5-5-5-3: 4 charge points commissioned → 20 badges, a line of a new order, issued; two of them given
        # now, attached to the service vehicle.
        await q.record_commissioning(session, cpam, quote.id, "2026-12-18", now=LATER, badge_data={
            "charge_points": "4", "attachment": "vehicle", "vehicle_label": "Kangoo AB-123-CD",
            "id_tags": "veh0001\nVEH0002"})
    async with db.session([cpam]) as session:
        quote = await q.get_quote_in_tenant(session, cpam, quote.id)
        shown = await badges.commissioning_badges_of(session, quote)
        order = await orders.get_order_in_tenant(session, cpam, shown.row.order_id)
        [line] = await orders.lines_of_order(session, order)
        stats = await csms.badge_statistics(session, cpam, LATER)
    assert quote.commissioned_on == dt.date(2026, 12, 18)
    assert (shown.row.charge_points, shown.row.badge_count, shown.row.points_source) == (4, 20, "operator")
    assert (order.status, order.quote_id) == ("issued", quote.id)
    assert "5 par point de charge" in order.delivery_conditions and order.representative == "Anne Administratrice"
    assert (line.article_code, line.quantity, line.unit_price_ht, line.total_ht) == (
        "IRVE-BADGE", Decimal("20.000"), Decimal("6.5000"), Decimal("130.00"))
    # The badges given are in the tenant's list, active, attached to the vehicle (idTags upper-case, as OCPP compares).
    assert shown.row.id_tags == ["VEH0001", "VEH0002"]
    assert stats.count("vehicle", "Accepted") >= 2

    # Once per quote: a second order of its badges is refused, nothing more ordered.
    before = await _orders(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        quote = await q.get_quote_in_tenant(session, cpam, quote.id)
        with pytest.raises(q.QuoteError, match="déjà commandés"):
            await q.order_commissioning_badges(session, cpam, quote.id, {"charge_points": "1"}, now=LATER)
    assert await _orders(db, cpam) == before


async def test_the_tenants_admins_are_mailed_once(db, demo, settings):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    quote = await _works_started(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        await q.record_commissioning(session, cpam, quote.id, "2026-12-18", now=LATER, badge_data={
            "charge_points": "2", "attachment": "vehicle", "vehicle_label": "Zoé", "id_tags": ["MAIL0001"]})
    async with db.engine.connect() as conn:
        [event] = (await conn.execute(select(OutboxEvent.payload).where(
            OutboxEvent.topic == "catalog.commissioning_badges.ordered"))).scalars().all()
    assert (event["badge_count"], event["id_tag_count"]) == (10, 1)
    for _ in range(2):  # a second pass (a restart) sends nothing twice
        result = await Relay(db, settings=settings, subscribers=badges.SUBSCRIBERS).run_once()
        assert result.failed == 0
    async with db.engine.connect() as conn:
        mails = (await conn.execute(select(OutboxMessage.to, OutboxMessage.subject, OutboxMessage.body).where(
            OutboxMessage.tenant_id == cpam, OutboxMessage.subject.like("%Badges de mise en service%")))).all()
    assert [(m.to, m.subject) for m in mails] == [
        ("admin@cpam72.demo", f"[CPAM de la Sarthe] Badges de mise en service — devis {quote.number}")]
    assert "10 badges de recharge sont dus (5 par point de charge, 2 point(s) de charge" in mails[0].body
    assert "MAIL0001" in mails[0].body and "Véhicule de service : Zoé" in mails[0].body


async def test_the_count_is_read_from_the_supervision_of_the_site(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    site_id, points = await _supervised_site(db, cpam)
    quote = await _works_started(db, cpam, site_id=site_id)
    async with db.transaction([cpam], actor=ACTOR) as session:
        await q.record_commissioning(session, cpam, quote.id, "2026-12-18", now=LATER)
        # The operator's explicit action on the commissioned quote, no count typed: csms's stations of the site.
        await q.order_commissioning_badges(session, cpam, quote.id, {"attachment": "site"}, now=LATER)
    async with db.session([cpam]) as session:
        shown = await badges.commissioning_badges_of(session, await q.get_quote_in_tenant(session, cpam, quote.id))
    assert (shown.row.charge_points, shown.row.badge_count, shown.row.points_source, shown.row.attachment) == (
        points, 5 * points, "csms", "site")


async def test_refusals_write_nothing(db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    await _without_badge_article(db)
    quote = await _works_started(db, cpam)
    before = await _orders(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        with pytest.raises(q.QuoteError) as refused:
            await q.record_commissioning(session, cpam, quote.id, "2026-12-18", now=LATER,
                                         badge_data={"charge_points": "2", "attachment": "vehicle"})
    errors = refused.value.errors
    assert "n'a pas d'article de badge" in errors["article"]
    assert "véhicule de service" in errors["vehicle_label"]
    async with db.session([cpam]) as session:
        assert (await q.get_quote_in_tenant(session, cpam, quote.id)).commissioned_on is None  # the whole step refused
    await _with_badge_article(db)
    async with db.transaction([cpam], actor=ACTOR) as session:
        # Not yet commissioned; then a bad count, too many idTags, a bad one.
        with pytest.raises(q.QuoteError, match="Enregistrez d'abord la mise en service"):
            await q.order_commissioning_badges(session, cpam, quote.id, {"charge_points": "1"}, now=LATER)
        await q.record_commissioning(session, cpam, quote.id, "2026-12-18", now=LATER)
        with pytest.raises(q.QuoteError) as refused:
            await q.order_commissioning_badges(session, cpam, quote.id, {"charge_points": "0"}, now=LATER)
        assert "de 1 à 1000" in refused.value.errors["charge_points"]
        with pytest.raises(q.QuoteError) as refused:
            await q.order_commissioning_badges(session, cpam, quote.id, {
                "charge_points": "1", "attachment": "vehicle", "vehicle_label": "Zoé",
                "id_tags": [f"T{n}" for n in range(6)]}, now=LATER)
        assert "6 badges donnés pour 5 dus" in refused.value.errors["id_tags"]
        with pytest.raises(q.QuoteError) as refused:
            await q.order_commissioning_badges(session, cpam, quote.id, {
                "charge_points": "1", "attachment": "vehicle", "vehicle_label": "Zoé", "id_tags": "A B"}, now=LATER)
        assert refused.value.errors["id_tags"].startswith("Badge n° 1 :")
    assert await _orders(db, cpam) == before
    async with db.session([cpam]) as session:
        assert await session.scalar(select(func.count()).select_from(CommissioningBadges)) == 0


async def test_another_tenants_quote_is_not_found(db, demo):
    cpam, chr_ = uuid.UUID(demo["tenant_ids"]["cpam"]), uuid.UUID(demo["tenant_ids"]["chr"])
    quote = await _works_started(db, cpam)
    async with db.transaction([chr_], actor=ACTOR) as session:
        with pytest.raises(NotFound):
            await q.order_commissioning_badges(session, chr_, quote.id, {"charge_points": "1"}, now=LATER)


async def test_the_quote_page_lists_the_badges_and_the_operator_orders_them(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    quote = await _works_started(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        await q.record_commissioning(session, cpam, quote.id, "2026-12-14", now=NOW)
    url = f"/t/{cpam}/devis/{quote.id}"
    await login(client, "technicien@titulaire.demo")
    page = page_text(await client.get(url))
    assert 'action="' + url + '/badges"' in page and 'for="f-charge_points"' in page
    bad = await form_post(client, url, f"{url}/badges", {"charge_points": "deux", "attachment": "site"})
    assert bad.status_code == 422
    text = page_text(bad)
    assert "un nombre entier de 1 à 1000" in text and "Le devis n'a pas de site" in text
    done = await form_post(client, url, f"{url}/badges", {"charge_points": "3", "attachment": "vehicle",
                                                          "vehicle_label": "Berlingo EF-456-GH", "id_tags": "BDG0001"})
    assert done.status_code == 303, page_text(done)[:2000]
    page = page_text(await client.get(url))
    assert "15 badges" in page and "3 points de charge" in page and "BDG0001" in page
    assert "Berlingo EF-456-GH" in page and f"BC-{utcnow().year}-" in page

    # The beneficiary's administrator reads them, without the operator's form.
    client.cookies.clear()
    await login(client, "admin@cpam72.demo")
    page = page_text(await client.get(url))
    assert "15 badges" in page and 'action="' + url + '/badges"' not in page


async def test_the_commissioning_form_orders_them_in_the_same_step(client, db, demo):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    quote = await _works_started(db, cpam, now=utcnow() - dt.timedelta(minutes=5))
    today = utcnow().astimezone(ZoneInfo("Europe/Paris")).date()
    url = f"/t/{cpam}/devis/{quote.id}"
    await login(client, "technicien@titulaire.demo")
    form = {"commissioned_on": today.isoformat(), "order_badges": "1", "charge_points": "2", "attachment": "vehicle",
            "vehicle_label": "Zoé GH-789-IJ", "id_tags": ""}
    # A BPU without the badge article: the whole step is refused with the reason, the commissioning not recorded.
    await _without_badge_article(db)
    refused = await form_post(client, url, f"{url}/commission", form)
    assert refused.status_code == 422 and "n'a pas d'article de badge" in page_text(refused)
    async with db.session([cpam]) as session:
        assert (await q.get_quote_in_tenant(session, cpam, quote.id)).commissioned_on is None
    await _with_badge_article(db)
    done = await form_post(client, url, f"{url}/commission", form)
    assert done.status_code == 303, page_text(done)[:2000]
    page = page_text(await client.get(url))
    assert f"le {today:%d/%m/%Y}" in page and "10 badges" in page and "Zoé GH-789-IJ" in page
    assert 'action="' + url + '/badges"' not in page  # ordered once


async def test_the_api_orders_them_too(client, db, demo, api_token):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    quote = await _works_started(db, cpam)
    async with db.transaction([cpam], actor=ACTOR) as session:
        await q.record_commissioning(session, cpam, quote.id, "2026-12-14", now=NOW)
    base = f"/api/v1/tenants/{cpam}/quotes/{quote.id}"
    admin = await api_token("admin@cpam72.demo")
    refused = await client.post(f"{base}/badges", json={"charge_points": 2, "attachment": "vehicle",
                                                        "vehicle_label": "Zoé"}, headers=admin)
    assert refused.status_code == 403  # the titulaire's operator's
    operator = await api_token("technicien@titulaire.demo")
    bad = await client.post(f"{base}/badges", json={"charge_points": 2, "attachment": "vehicle"}, headers=operator)
    assert bad.status_code == 422 and "vehicle_label" in bad.text
    made = await client.post(f"{base}/badges", json={"charge_points": 2, "attachment": "vehicle",
                                                     "vehicle_label": "Zoé", "id_tags": ["API0001"]}, headers=operator)
    assert made.status_code == 200, made.text
    body = made.json()["commissioning_badges"]
    assert (body["charge_points"], body["badge_count"], body["id_tags"], body["article_code"]) == (
        2, 10, ["API0001"], "IRVE-BADGE")
    assert body["order_number"].startswith(f"BC-{utcnow().year}-")


async def test_badge_statistics_by_state_and_attachment(client, db, demo, api_token):
    cpam = uuid.UUID(demo["tenant_ids"]["cpam"])
    async with db.transaction([cpam], actor=ACTOR) as session:
        site_id = (await tenants.list_sites(session, cpam))[0].id
        before = await badges.badge_statistics(session, cpam, NOW)
        await csms.issue_local_badge(session, cpam, id_tag="STAT-V1", kind="vehicle", vehicle_label="Kangoo")
        await csms.issue_local_badge(session, cpam, id_tag="STAT-S1", kind="site", site_id=site_id)
        await csms.issue_local_badge(session, cpam, id_tag="STAT-S2", kind="site", site_id=site_id)
        with pytest.raises(Exception, match="site"):
            await csms.issue_local_badge(session, cpam, id_tag="STAT-S3", kind="site")  # a site badge names its site
    async with db.session([cpam]) as session:
        after = await badges.badge_statistics(session, cpam, NOW)
    rows = {kind: (cells, total) for kind, _, cells, total in after.rows}
    old = {kind: total for kind, _, _, total in before.rows}
    assert rows["vehicle"][1] == old["vehicle"] + 1 and rows["site"][1] == old["site"] + 2
    assert after.total == before.total + 3
    assert after.by_state["Accepted"] == before.by_state["Accepted"] + 3

    # The badge requests' list shows the table to the tenant's readers, not to an agent.
    await login(client, "admin@cpam72.demo")
    page = page_text(await client.get(f"/t/{cpam}/demandes-badge"))
    assert "Badges par état et par rattachement" in page and 'aria-label="Statistiques des badges"' in page
    assert f'data-figure="badges-site-Accepted">{rows["site"][0]["Accepted"]}<' in page
    client.cookies.clear()
    await login(client, "agent@cpam72.demo")
    page = page_text(await client.get(f"/t/{cpam}/demandes-badge"))
    assert "Badges par état et par rattachement" not in page

    # And in the API.
    api = await client.get(f"/api/v1/tenants/{cpam}/badge-statistics", headers=await api_token("admin@cpam72.demo"))
    assert api.status_code == 200, api.text
    body = api.json()
    assert body["total"] == after.total
    site_row = next(r for r in body["attachments"] if r["attachment"] == "site")
    assert site_row["label"] == "Site de rattachement" and site_row["total"] == rows["site"][1]
    assert site_row["by_state"]["Accepted"] == rows["site"][0]["Accepted"]
    agent = await client.get(f"/api/v1/tenants/{cpam}/badge-statistics", headers=await api_token("agent@cpam72.demo"))
    assert agent.status_code == 403
