"""The BPU (issue 14 §1): imported whole or not at all with the report of every bad line, French files
(``;`` or ``,``, decimal comma or point, XLSX), the price of the version in force on a date, the catalog a
beneficiary browses, and the catalog solutions' lifecycle (CPAM 8-1-2-2, 8-1-3-1)."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from app.errors import NotFound, ValidationFailed
from catalog import services
from catalog.models import BpuItem, BpuVersion, SolutionEvent
from tenants.models import FrameworkAgreement

ACTOR = {"user_id": None, "label": "test"}
HEADER = "code_article;libelle;unite;prix_unitaire_ht;taux_tva;famille;complexite;constructeur;achat_location"
CANUT = "2024_AOO_IOT"


async def _agreement(session, reference=CANUT) -> FrameworkAgreement:
    return await services.get_agreement_by_reference(session, reference)


async def test_an_import_with_bad_lines_stores_nothing_and_reports_every_line(db, demo):
    bad = "\n".join([HEADER,
                     "A-1;Capteur;unité;12,50;20;Fourniture;;Adeunis;achat",
                     "A-2;Passerelle;unité;douze;20;Fourniture;;;achat",
                     ";Sans code;unité;1;20;grille-pain;;;achat",
                     "A-1;Doublon;unité;3;20;Fourniture;;;achat",
                     "A-4;Intégration;forfait;100;20;Prestation;difficile;;troc"])
    async with db.transaction(actor=ACTOR) as session:
        agreement = await _agreement(session)
        before = await session.scalar(select(func.count()).select_from(BpuItem))
        with pytest.raises(services.BpuImportFailed) as caught:
            await services.import_bpu(session, agreement, bad.encode(), "bpu.csv", valid_from=dt.date(2030, 1, 1))
        assert sorted(caught.value.errors) == [3, 4, 5, 6]
        assert caught.value.errors[3] == ["prix_unitaire_ht : nombre attendu (« douze »)"]
        assert caught.value.errors[4][0] == "code_article : obligatoire" and "famille inconnue" in caught.value.errors[4][1]
        assert caught.value.errors[5] == ["code_article : « A-1 » figure déjà ligne 2"]
        assert len(caught.value.errors[6]) == 2
        assert caught.value.report()[0] == "Import refusé : 4 ligne(s) en erreur, aucun article importé."
        assert await session.scalar(select(func.count()).select_from(BpuItem)) == before
        assert await session.scalar(select(func.count()).select_from(BpuVersion)
                                    .where(BpuVersion.valid_from == dt.date(2030, 1, 1))) == 0


async def test_unknown_and_missing_columns_are_the_first_line_s_error(db, demo):
    async with db.transaction(actor=ACTOR) as session:
        with pytest.raises(services.BpuImportFailed) as caught:
            await services.import_bpu(session, await _agreement(session), b"code_article;prix;couleur\nA;1;bleu\n",
                                      "x.csv", valid_from=dt.date(2030, 1, 1))
        [messages] = caught.value.errors.values()
        assert messages[0] == "Colonne(s) inconnue(s) : prix, couleur."
        assert messages[1].startswith("Colonne(s) obligatoire(s) absente(s) : libelle, prix_unitaire_ht")


@pytest.mark.parametrize("content", [
    # ; with decimal comma, as a French spreadsheet exports it, with a BOM
    ("\ufeff" + HEADER + "\nB-1;Borne 22 kW;unité;3 450,25;5,5;fourniture;;Hager;achat\n"
     "B-2;Pose;unité;1150;20;Installation;standard;;Location\n").encode(),
    # , with decimal point, quoted label
    ("code_article,libelle,unite,prix_unitaire_ht,taux_tva,famille,complexite,constructeur,achat_location\n"
     'B-1,"Borne 22 kW",unité,3450.25,5.5,supply,,Hager,achat\nB-2,Pose,unité,1150.00,20 %,installation,Standard,,location\n'
     ).encode(),
])
async def test_french_csv_files_decimal_comma_or_point(db, demo, content):
    async with db.transaction(actor=ACTOR) as session:
        agreement = await _agreement(session)
        version = await services.import_bpu(session, agreement, content, "bpu.csv", valid_from=dt.date(2030, 1, 1),
                                            imported_by="coordination@canut.demo")
        assert (version.version, version.line_count, version.source_filename) == (2, 2, "bpu.csv")  # the demo's is 1
        items = await services.items_of_version(session, version.id)
        assert [(i.article_code, i.unit_price_ht, i.vat_rate, i.family, i.complexity, i.purchase_or_rental)
                for i in items] == [("B-1", Decimal("3450.25"), Decimal("5.5"), "supply", None, "achat"),
                                    ("B-2", Decimal("1150"), Decimal("20"), "installation", "standard", "location")]


async def test_an_xlsx_file(db, demo):
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.split(";"))
    sheet.append(["X-1", "Journée d'assistance", "jour", 560.1, 20, "Journée d'assistance technique", None, None, "achat"])
    out = io.BytesIO()
    book.save(out)
    async with db.transaction(actor=ACTOR) as session:
        version = await services.import_bpu(session, await _agreement(session), out.getvalue(), "bpu.xlsx",
                                            valid_from=dt.date(2030, 1, 1))
        [item] = await services.items_of_version(session, version.id)
        assert (item.unit_price_ht, item.family) == (Decimal("560.1"), "assistance_day")  # CAIH 2.1.18


async def test_the_price_is_the_version_in_force_on_the_date(db, demo):
    async with db.transaction(actor=ACTOR) as session:
        agreement = await _agreement(session)
        for day, price in ((dt.date(2030, 1, 1), "100,00"), (dt.date(2030, 7, 1), "95,50")):
            await services.import_bpu(session, agreement, f"{HEADER}\nIOT-CAP-TEMP;Capteur;unité;{price};20;Fourniture;;;".encode(),
                                      "bpu.csv", valid_from=day)

        async def price(on):
            item = await services.price_in_force(session, agreement.id, "IOT-CAP-TEMP", on)
            return item.unit_price_ht if item else None

        assert await price(dt.date(2029, 12, 31)) == Decimal("89.90")  # the demo's version, from 2025-01-01
        assert await price(dt.date(2030, 1, 1)) == Decimal("100")
        assert await price(dt.date(2030, 6, 30)) == Decimal("100")
        assert await price(dt.date(2030, 7, 1)) == Decimal("95.5")
        assert await price(dt.date(2024, 12, 31)) is None  # before any version
        assert await services.price_in_force(session, agreement.id, "IOT-GW-OUT", dt.date(2030, 7, 1)) is None
        assert (await services.version_in_force(session, agreement.id, dt.date(2031, 1, 1))).version == 3


async def test_the_catalog_of_a_beneficiary(db, demo):
    commune = uuid.UUID(demo["tenant_ids"]["commune"])  # CANUT
    today = dt.date(2026, 12, 4)
    async with db.transaction([commune], actor=ACTOR) as session:
        lines, total = await services.catalog_of_tenant(session, commune, today)
        assert total == 7 and {line.agreement_reference for line in lines} == {CANUT}
        lines, total = await services.catalog_of_tenant(session, commune, today, search="lorawan")
        assert [line.item.article_code for line in lines] == ["IOT-CAP-CO2", "IOT-CAP-TEMP", "IOT-GW-LOC", "IOT-GW-OUT"]
        lines, total = await services.catalog_of_tenant(session, commune, today, search="KERLINK")  # the maker
        assert total == 2
        lines, total = await services.catalog_of_tenant(session, commune, today, search="iot-int")  # the code
        assert total == 3
        lines, total = await services.catalog_of_tenant(session, commune, today, family="service")
        assert [line.item.complexity for line in lines] == ["complexe", "standard", "simple"]  # IOT-INT-C, -M, -S
        lines, total = await services.catalog_of_tenant(session, commune, today, maker="Kerlink", search="location")
        assert [line.item.article_code for line in lines] == ["IOT-GW-LOC"]
        assert lines[0].unit_price_ttc == Decimal("46.80")
        assert (await services.catalog_of_tenant(session, commune, today, search="%"))[1] == 0  # no wildcard
        lines, total = await services.catalog_of_tenant(session, commune, today, page=2, per_page=5)
        assert (len(lines), total) == (2, 7)
        assert await services.makers_of_catalog(session, commune, today) == ["Adeunis", "Elsys", "Kerlink"]
        # Nothing of the other centrals' agreements (the CAIH's maintenance, the CPAM's charge points)
        assert (await services.catalog_of_tenant(session, commune, today, search="borne"))[1] == 0
        assert (await services.catalog_of_tenant(session, commune, dt.date(2024, 6, 1)))[1] == 0  # not yet in force


async def test_agreements_are_walled(db, demo):
    commune, chr_ = uuid.UUID(demo["tenant_ids"]["commune"]), uuid.UUID(demo["tenant_ids"]["chr"])
    async with db.transaction(actor=ACTOR) as session:
        canut = await _agreement(session)
        assert (await services.agreement_of_tenant(session, commune, canut.id)).reference == CANUT
        with pytest.raises(NotFound):
            await services.agreement_of_tenant(session, chr_, canut.id)
        assert await services.agreement_of_coordinator(session, {canut.central_id}, canut.id) is canut
        caih = await _agreement(session, "2024-CAIH-SRV")
        with pytest.raises(NotFound):
            await services.agreement_of_coordinator(session, {caih.central_id}, canut.id)


async def test_solutions_lifecycle_withdrawal_notice_and_substitute(db, demo):
    today = dt.date(2026, 12, 4)
    old = [{"name": "Puissance", "unit": "kW", "value": "22"}]
    async with db.transaction(actor=ACTOR) as session:
        agreement = await _agreement(session)
        sensor = await services.propose_solution(session, agreement, {
            "code": "S-1", "name": "Capteur", "price_ht": "100", "characteristics": old}, actor="titulaire")
        with pytest.raises(ValidationFailed):  # only an approved solution is withdrawn
            await services.withdraw_solution(session, agreement, sensor.id, notice_on=today,
                                             effective_on=today + dt.timedelta(weeks=7), today=today)
        await services.approve_solution(session, agreement, sensor.id, actor="coordination@canut.demo")
        dearer = await services.propose_solution(session, agreement, {
            "code": "S-2", "name": "Capteur plus cher", "price_ht": "100,01", "characteristics": old})
        weaker = await services.propose_solution(session, agreement, {
            "code": "S-3", "name": "Capteur moins puissant", "price_ht": "90",
            "characteristics": [{"name": "Puissance", "unit": "kW", "value": "11"}]})
        good = await services.propose_solution(session, agreement, {
            "code": "S-4", "name": "Capteur V2", "price_ht": "99",
            "characteristics": [{"name": "Puissance", "unit": "kW", "value": "30"}]})
        # CPAM 8-1-2-2: « au moins 6 semaines avant le retrait »: 6 weeks less a day is refused
        with pytest.raises(ValidationFailed) as caught:
            await services.withdraw_solution(session, agreement, sensor.id, notice_on=today,
                                             effective_on=today + dt.timedelta(weeks=6, days=-1), today=today)
        assert "15/01/2027" in caught.value.errors["effective_on"] and "8-1-2-2" in caught.value.errors["effective_on"]
        # CPAM 8-1-3-1: price ≤ and every characteristic ≥
        for refused, word in ((dearer, "prix"), (weaker, "Puissance")):
            with pytest.raises(ValidationFailed) as caught:
                await services.withdraw_solution(session, agreement, sensor.id, notice_on=today,
                                                 effective_on=today + dt.timedelta(weeks=6), today=today,
                                                 substitute_id=refused.id)
            assert word in caught.value.errors["substitute_id"]
        withdrawn = await services.withdraw_solution(session, agreement, sensor.id, notice_on=today,
                                                     effective_on=today + dt.timedelta(weeks=6), today=today,
                                                     substitute_id=good.id, actor="coordination@canut.demo")
        assert (withdrawn.status, withdrawn.withdrawal_effective_on, withdrawn.substitute_id) == (
            "withdrawn", dt.date(2027, 1, 15), good.id)
        assert good.status == "approved"
        history = await services.solution_history(session, sensor.id)
        assert [(e.from_status, e.to_status, e.actor) for e in history] == [
            ("", "proposed", "titulaire"), ("proposed", "approved", "coordination@canut.demo"),
            ("approved", "withdrawn", "coordination@canut.demo")]
        assert "remplacée par S-4" in history[-1].note
        assert await session.scalar(select(func.count()).select_from(SolutionEvent)
                                    .where(SolutionEvent.solution_id == good.id)) == 2
