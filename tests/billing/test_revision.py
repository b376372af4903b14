"""Price revision with a database (``billing.revision``, issue 15 §4; CCP TGD IX.2): the coordinator's index values,
a new BPU version from the version in force with every unit price revised by P = P0 × (0,30 + 0,70 × Ing / Ing0),
the computation kept, and « prix ferme » when three months did not pass."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing import revision
from billing.services import BillingError
from catalog import services as catalog
from tenants.models import FrameworkAgreement

COORDINATOR = {"user_id": None, "label": "coordination@centrale.demo"}
NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


async def _index(db):
    async with db.transaction([], actor=COORDINATOR) as session:
        for month, published, value in (("2024-12", "2025-01-15", "120"), ("2026-07", "2026-08-20", "132"),
                                        ("2026-09", "2026-10-15", "150")):
            await revision.add_index_value(session, {"name": "Ingénierie", "month": month, "published_on": published,
                                                     "value": value})


async def test_a_bpu_version_revised_with_the_computation_kept(db, demo):
    await _index(db)
    async with db.transaction([], actor=COORDINATOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(
            FrameworkAgreement.reference == "2025-CPAM72-IRVE"))
        before = await catalog.version_in_force(session, agreement.id, dt.date(2026, 12, 1))
        old = {x.article_code: x.unit_price_ht for x in await catalog.items_of_version(session, before.id)}
        # Prices set on 1 March 2025: Ing0 = 120 (the last value published then, 15 January 2025); execution starts
        # on 1 December 2026: Ing = 132, the value published on or before 1 September 2026 (the October value is
        # later). Coefficient 0,30 + 0,70 × 132 / 120 = 1,07.
        made = await revision.revise_bpu(session, agreement, priced_on=dt.date(2025, 3, 1),
                                         starts_on=dt.date(2026, 12, 1), now=NOW)
        after = await catalog.version_in_force(session, agreement.id, dt.date(2026, 12, 1))
        new = {x.article_code: x.unit_price_ht for x in await catalog.items_of_version(session, after.id)}
    assert after.id == made.to_version_id != before.id and made.from_version_id == before.id
    assert (made.ing0, made.ing, made.coefficient) == (Decimal("120"), Decimal("132"), Decimal("1.07"))
    assert (made.ing0_published_on, made.ing_published_on) == (dt.date(2025, 1, 15), dt.date(2026, 8, 20))
    assert new.keys() == old.keys() and made.line_count == len(old)
    # 3 450,00 € × 1,07 = 3 691,50 €; 1 150,00 € × 1,07 = 1 230,50 €.
    assert (new["IRVE-BORNE-22"], new["IRVE-POSE"]) == (Decimal("3691.5000"), Decimal("1230.5000"))
    assert all(new[k] == (old[k] * Decimal("1.07")).quantize(Decimal("0.0001")) for k in old)
    assert "Ing0 = 120" in made.computation and "Ing = 132" in made.computation and "= 1,07 ;" in made.computation


async def test_prix_ferme_within_three_months_and_missing_index(db, demo):
    await _index(db)
    async with db.transaction([], actor=COORDINATOR) as session:
        agreement = await session.scalar(select(FrameworkAgreement).where(
            FrameworkAgreement.reference == "2025-CPAM72-IRVE"))
        count = len(await catalog.versions_of_agreement(session, agreement.id))
        with pytest.raises(BillingError, match="Prix ferme"):
            await revision.revise_bpu(session, agreement, priced_on=dt.date(2026, 9, 15),
                                      starts_on=dt.date(2026, 12, 1), now=NOW)
        with pytest.raises(BillingError, match="Aucune valeur"):
            await revision.revise_bpu(session, agreement, priced_on=dt.date(2024, 1, 1),
                                      starts_on=dt.date(2026, 12, 1), now=NOW)
        assert len(await catalog.versions_of_agreement(session, agreement.id)) == count
        with pytest.raises(BillingError) as refused:
            await revision.add_index_value(session, {"name": "Ingénierie", "month": "2024-12",
                                                     "published_on": "2025-01-15", "value": "-3"})
        assert set(refused.value.errors) == {"value"}
        with pytest.raises(BillingError, match="déjà une valeur"):
            await revision.add_index_value(session, {"name": "Ingénierie", "month": "2024-12",
                                                     "published_on": "2025-01-15", "value": "121"})


async def test_the_coordinators_page_adds_index_values_and_revises_a_bpu(client, db, demo):
    from tests.conftest import form_post, login_as, page_text

    await login_as(client, "coordination@caih.demo")
    from tenants.models import Central

    async with db.session() as session:
        central = await session.scalar(select(Central).where(Central.code == "CAIH"))
        agreement = [a for a in await catalog.agreements_of_central(session, central.id)
                     if await catalog.version_in_force(session, a.id, dt.date(2026, 12, 1))][0]
    url = "/c/CAIH/revision-prix"
    page = await client.get(url)
    assert page.status_code == 200 and "Révision des prix" in page_text(page)
    refused = await form_post(client, url, f"{url}/index", {"name": "Ingénierie", "month": "2024-12",
                                                             "published_on": "2025-01-15", "value": "zéro"})
    assert refused.status_code == 422 and "Valeur : un nombre positif" in page_text(refused)
    for month, published, value in (("2024-12", "2025-01-15", "120"), ("2026-07", "2026-08-20", "132")):
        saved = await form_post(client, url, f"{url}/index", {"name": "Ingénierie", "month": month,
                                                               "published_on": published, "value": value})
        assert saved.status_code == 303
    ferme = await form_post(client, url, f"{url}/reviser", {"agreement_id": str(agreement.id),
                                                             "priced_on": "2026-10-01", "starts_on": "2026-12-01"})
    assert ferme.status_code == 422 and "Prix ferme" in page_text(ferme)
    done = await form_post(client, url, f"{url}/reviser", {"agreement_id": str(agreement.id),
                                                            "priced_on": "2025-03-01", "starts_on": "2026-12-01"})
    assert done.status_code == 303
    page = page_text(await client.get(url))
    assert agreement.reference in page and "= 1,07 ;" in page
