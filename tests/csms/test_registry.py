"""Station registry: registration, canonical ids (CCTP CPAM 5-5-1), CSV fleet import, CLI."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select

from app.errors import ValidationFailed
from app.security import verify_password
from csms.domain import registry
from csms.domain.models import ChargeBoxRoute, ChargePoint, Charger, Station

ACTOR = {"user_id": None, "label": "test"}
PASSWORD = "Borne-secret-2026-xyz"


async def test_registered_fleet_gets_canonical_ids(db, fleet):
    # CCTP CPAM 5-5-1: FR + INSEE + S/B/P + building + station/charger/point numbers.
    first = fleet.chargers["CPAM-LM-01"]
    assert first.station_canonical_id == "FR72181S0001010000"
    assert first.canonical_id == "FR72181B0001010100"
    assert first.points == ["FR72181P0001010101", "FR72181P0001010102"]
    assert fleet.chargers["CPAM-LM-02"].canonical_id == "FR72181B0001010200"
    assert fleet.chargers["VLB-01"].canonical_id == "FR69266B0002010100"
    async with db.session([fleet.cpam]) as session:
        points = await registry.list_charge_points(session, fleet.cpam, first.charger_id)
        assert [(p.connector_id, p.power_kw, p.socket_types) for p in points] == [(1, 22.0, "T2,EF"), (2, 22.0, "T2,EF")]
        station = await session.get(Station, (fleet.cpam, first.station_id))
        # « nom d'usage courant propre, intégrant le nom de la commune d'implantation »
        assert station.name == "Le Mans – station 01"
        charger = await registry.get_charger_in_tenant(session, fleet.cpam, first.charger_id)
        assert verify_password(charger.password_hash, PASSWORD)
        assert (await session.get(ChargeBoxRoute, "CPAM-LM-01")).tenant_id == fleet.cpam


async def test_hardware_with_another_identity_keeps_it_and_maps_to_its_canonical_id(db, fleet):
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        registered = await registry.register_charger(session, fleet.cpam, {
            "charge_box_id": "EVB-P21034567", "password": "Ancien-secret-usine-42", "canonical_id": "fr72181b0001020300",
            "points": 1, "power_kw": "7,4 kW", "socket_types": "EF",
        })
    assert registered.charge_box_id == "EVB-P21034567"
    assert registered.canonical_id == "FR72181B0001020300"
    assert registered.station_canonical_id == "FR72181S0001020000"
    assert registered.points == ["FR72181P0001020301"]


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"charge_box_id": "CPAM LM 9"}, "charge_box_id", "1 à 48 caractères"),
        ({"charge_box_id": "VLB-01"}, "charge_box_id", "déjà enregistré sur la plateforme"),  # another tenant's
        ({"password": "trop-court"}, "password", "16 à 40 caractères"),
        ({"password": "aaaaaaaaaaaaaaaaaaaa"}, "password", "trop répétitif"),
        ({"canonical_id": "FR72181P0001010101"}, "canonical_id", "position 8"),
        ({"canonical_id": "FR69266B0002010100"}, "site", "Aucun site n'a le code INSEE 69266"),
        ({"canonical_id": "FR72181B0001010100"}, "canonical_id", "déjà attribué"),
        ({"power_kw": "beaucoup"}, "power_kw", "Puissance invalide"),
        ({"socket_types": "T2+SCHUKO"}, "socket_types", "SCHUKO"),
        ({"site": "Ailleurs"}, "site", "Site introuvable"),
    ],
)
async def test_registration_refuses_bad_input_with_french_messages(db, fleet, data, field, fragment):
    base = {"charge_box_id": "CPAM-LM-09", "password": "Un-secret-solide-2026"}
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        with pytest.raises(ValidationFailed) as caught:
            await registry.register_charger(session, fleet.cpam, {**base, **data})
    assert fragment in caught.value.errors[field]
    async with db.session([fleet.cpam]) as session:
        assert await session.scalar(select(func.count()).select_from(Charger).where(Charger.tenant_id == fleet.cpam)) == 3


GOOD_CSV = """charge_box_id;mot_de_passe;site;identifiant;points;puissance_kw;prises;nom_usage
LM-PARK-01;Secret-borne-parking-01;Siège — parking;;2;22;T2+EF;
LM-PARK-02;Secret-borne-parking-02;;;2;11;T2;
LM-ANCIENNE;Secret-ancienne-borne-3;;FR72181B0001030100;1;7;EF;Borne atelier
"""

BAD_CSV = """charge_box_id;mot_de_passe;site;identifiant;points;puissance_kw;prises
LM-PARK-01;Secret-borne-parking-01;;;2;22;T2+EF
LM-PARK-02;court;;;2;11;T2
LM PARK 03;Secret-borne-parking-03;;FR72181X0001010100;1;7;EF
LM-PARK-01;Secret-borne-parking-04;;;1;7;T2
LM-PARK-05;Secret-borne-parking-05;;;0;7;T2
LM-PARK-06;Secret-borne-parking-06;;;1;7
VLB-01;Secret-borne-parking-07;;;1;22;T2
"""


async def _count_chargers(db, tenant_id):
    async with db.session([tenant_id]) as session:
        return await session.scalar(select(func.count()).select_from(Charger).where(Charger.tenant_id == tenant_id))


async def test_csv_import_of_a_good_file_imports_every_line(db, fleet):
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        report = await registry.import_fleet(session, fleet.cpam, GOOD_CSV.encode("utf-8"))
    assert [c.canonical_id for c in report.chargers] == ["FR72181B0001010400", "FR72181B0001010500", "FR72181B0001030100"]
    assert report.chargers[2].points == ["FR72181P0001030101"]
    async with db.session([fleet.cpam]) as session:
        charger = await registry.find_charger_in_tenant(session, fleet.cpam, "LM-PARK-02")
        assert registry.verify_station_password(charger.password_hash, "Secret-borne-parking-02")
        points = await registry.list_charge_points(session, fleet.cpam, report.chargers[2].charger_id)
        assert points[0].usage_name == "Borne atelier" and points[0].socket_types == "EF"


async def test_csv_import_with_bad_lines_imports_nothing_and_reports_every_line(db, fleet):
    before = await _count_chargers(db, fleet.cpam)
    async with db.transaction([fleet.cpam], actor=ACTOR) as session:
        with pytest.raises(registry.ImportFailed) as caught:
            await registry.import_fleet(session, fleet.cpam, BAD_CSV)
    errors = caught.value.errors
    assert sorted(errors) == [3, 4, 5, 6, 7, 8]  # line 2 is good, and is not imported either
    assert "16 à 40 caractères" in errors[3][0]
    assert any("1 à 48 caractères" in m for m in errors[4]) and any("position 8" in m for m in errors[4])
    assert "figure déjà ligne 2" in errors[5][0]
    assert "Nombre de points de charge : de 1 à 99" in errors[6][0]
    assert errors[7] == ["6 valeurs pour 7 colonnes."]
    assert "déjà enregistré sur la plateforme" in errors[8][0]
    report = caught.value.report()
    assert report[0] == "Import refusé : 6 ligne(s) en erreur, aucune borne importée."
    assert report[1].startswith("ligne 3 : mot_de_passe : ")
    assert await _count_chargers(db, fleet.cpam) == before
    async with db.session() as session:
        assert await session.get(ChargeBoxRoute, "LM-PARK-01") is None


async def test_csv_header_problems_are_reported(db, fleet):
    for content, message in (
        ("charge_box_id;couleur\nX;Y\n", "Colonne(s) inconnue(s) : couleur"),
        ("site;points\nX;1\n", "Colonne(s) obligatoire(s) absente(s) : charge_box_id, mot_de_passe"),
        (b"\xff\xfe", "UTF-8"),
    ):
        async with db.transaction([fleet.cpam], actor=ACTOR) as session:
            with pytest.raises(registry.ImportFailed) as caught:
                await registry.import_fleet(session, fleet.cpam, content)
        assert message in " ".join(caught.value.report())


async def test_cli_register_prints_json(centrale, db, fleet):
    out = await centrale("stations", "register", "--tenant", str(fleet.cpam),
                         "--charge-box-id", "LM-CLI-01", "--password", "Secret-de-la-cli-2026", "--points", "2",
                         "--power", "7", "--json")
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["canonical_id"] == "FR72181B0001010400"
    assert payload["points"] == ["FR72181P0001010401", "FR72181P0001010402"]
    async with db.session([fleet.cpam]) as session:
        assert (await session.get(Charger, (fleet.cpam, uuid.UUID(payload["id"])))).charge_box_id == "LM-CLI-01"
        points = await session.scalars(select(ChargePoint.power_kw).where(ChargePoint.charger_id == uuid.UUID(payload["id"])))
        assert list(points) == [7.0, 7.0]
    bad = await centrale("stations", "register", "--tenant", str(fleet.cpam),
                         "--charge-box-id", "LM-CLI-02", "--password", "court", "--json")
    assert bad.exit_code == 2
    assert "16 à 40 caractères" in json.loads(bad.stderr)["errors"]["password"]


async def test_cli_import_exits_2_with_the_report(centrale, fleet, tmp_path):
    bad = tmp_path / "parc.csv"
    bad.write_text(BAD_CSV, encoding="utf-8")
    out = await centrale("stations", "import", "--tenant", str(fleet.cpam), str(bad))
    assert out.exit_code == 2
    lines = out.stderr.splitlines()
    assert lines[0] == "Import refusé : 6 ligne(s) en erreur, aucune borne importée."
    assert [line.split(" : ")[0] for line in lines[1:]][:3] == ["ligne 3", "ligne 4", "ligne 4"]
    good = tmp_path / "bon.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    out = await centrale("stations", "import", "--tenant", str(fleet.cpam), str(good), "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["imported"] == 3
