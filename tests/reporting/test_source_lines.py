"""``catalog.services.ordered_lines_of_central``: the « source » lines of the coordinator's semester report (CCTP
CAIH 5 « Un onglet « source » contiendra la totalité des lignes de commandes passées depuis le début du marché »),
only ordered lines, only the central's agreements' beneficiaries, streamed."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from app.errors import NotFound
from catalog import services
from tests.reporting.conftest import EVIL_MAKER, SEMESTER_HT, SINCE_START_HT


async def _lines(db, dataset, **kwargs):
    async with db.transaction(dataset.tenant_ids) as session:
        return [line async for line in services.ordered_lines_of_central(session, dataset.central_id, **kwargs)]


async def test_every_ordered_line_since_the_start_with_caih_5s_columns(db, dataset):
    lines = await _lines(db, dataset, up_to=dt.date(2026, 6, 30), batch=2)
    assert [(x.beneficiary.identifier, x.beneficiary.name, x.beneficiary.postal_code, x.beneficiary.city,
             x.order_date, x.article_code, x.maker, x.unit_price_ht, x.quantity, x.ordered_ht, x.kind,
             x.discount_percent) for x in lines] == [
        (dataset.finess_a, "Centre hospitalier Alpha", "57000", "Metz", dt.date(2025, 5, 10), "SRV-MAINT", "Dell",
         Decimal("1000.0000"), Decimal("2.000"), Decimal("2000.00"), "BPU", None),
        (dataset.finess_b, "Hôpital Bêta", "69100", "Villeurbanne", dt.date(2025, 11, 20), "SRV-LOC", "NetApp",
         Decimal("250.5000"), Decimal("3.000"), Decimal("676.35"), "BPU", Decimal("10.00")),
        (dataset.finess_a, "Centre hospitalier Alpha", "57000", "Metz", dt.date(2026, 1, 1), "CAT-SOL", EVIL_MAKER,
         Decimal("99.9900"), Decimal("1.000"), Decimal("99.99"), "CATALOGUE", None),
        (dataset.finess_b, "Hôpital Bêta", "69100", "Villeurbanne", dt.date(2026, 6, 30), "SRV-MAINT", "Dell",
         Decimal("1000.0000"), Decimal("1.000"), Decimal("1000.00"), "BPU", None),
        (dataset.finess_b, "Hôpital Bêta", "69100", "Villeurbanne", dt.date(2026, 6, 30), "SRV-LOC", "NetApp",
         Decimal("250.5000"), Decimal("2.000"), Decimal("501.00"), "BPU", None),
    ]
    assert sum(x.ordered_ht for x in lines) == SINCE_START_HT
    assert sum(x.ordered_ht for x in lines if x.order_date >= dt.date(2026, 1, 1)) == SEMESTER_HT
    # What the aggregates need: the region (from the INSEE commune), the family, purchase or rental.
    assert {x.beneficiary.region for x in lines} == {"Grand Est", "Auvergne-Rhône-Alpes"}
    assert [x.purchase_or_rental for x in lines] == ["achat", "location", "achat", "achat", "location"]
    assert [x.family for x in lines] == ["maintenance", "supply", "supply", "maintenance", "supply"]
    async with db.transaction(dataset.tenant_ids) as session:
        assert await services.count_reported_lines(session, dataset.central_id, up_to=dt.date(2026, 6, 30)) == 5


async def test_a_period_an_agreement_and_the_walls(db, dataset):
    # The semester alone (1 January – 30 June 2026): the boundary days are in.
    h1 = await _lines(db, dataset, since=dt.date(2026, 1, 1), up_to=dt.date(2026, 6, 30))
    assert [x.order_date for x in h1] == [dt.date(2026, 1, 1), dt.date(2026, 6, 30), dt.date(2026, 6, 30)]
    # 1 July is the next semester's; the draft and the cancelled order are never there.
    everything = await _lines(db, dataset, up_to=dt.date(2030, 1, 1), agreement_id=dataset.agreement_id)
    assert len(everything) == 6 and everything[-1].order_date == dt.date(2026, 7, 1)
    assert {x.quantity for x in everything} == {Decimal("2.000"), Decimal("3.000"), Decimal("1.000"),
                                                Decimal("2.000"), Decimal("5.000")}
    # Another central's orders never show, and its agreement is not found.
    assert all(x.beneficiary.tenant_id in dataset.tenant_ids for x in everything)
    async with db.transaction(dataset.tenant_ids) as session:
        with pytest.raises(NotFound):
            async for _ in services.ordered_lines_of_central(session, dataset.central_id, up_to=dt.date(2030, 1, 1),
                                                             agreement_id=uuid.uuid4()):
                pass
    # Scoped to the other central's beneficiary, the first central's lines are invisible (the session's wall).
    async with db.transaction([dataset.other_tenant]) as session:
        assert [x async for x in services.ordered_lines_of_central(session, dataset.central_id,
                                                                   up_to=dt.date(2030, 1, 1))] == []
    benef = {b.name: b for b in await _beneficiaries(db, dataset)}
    assert set(benef) == {"Centre hospitalier Alpha", "Hôpital Bêta"}


async def _beneficiaries(db, dataset):
    async with db.session() as session:
        return await services.beneficiaries_of_central(session, dataset.central_id)
