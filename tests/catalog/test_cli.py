"""``centrale centrals create``, ``agreements create`` and ``bpu import`` (issue 14 §5): JSON output for scripts,
French errors and a non-zero status, a refused BPU reports every bad line and imports nothing."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from catalog.models import BpuVersion

HEADER = "code_article;libelle;unite;prix_unitaire_ht;taux_tva;famille;complexite;constructeur;achat_location"


async def test_a_central_its_agreement_and_its_bpu(centrale, db, tmp_path):
    made = await centrale("centrals", "create", "--code", "ugap", "--name", "Union des groupements d'achats publics", "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["code"] == "UGAP"
    again = await centrale("centrals", "create", "--code", "UGAP", "--name", "Autre")
    assert again.exit_code == 2 and "Erreur : la centrale « UGAP » existe déjà" in again.stderr

    made = await centrale("agreements", "create", "--central", "UGAP", "--reference", "2026-UGAP-IRVE", "--title",
                          "Bornes de recharge", "--starts-on", "2026-01-01", "--ends-on", "2029-12-31", "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["reference"] == "2026-UGAP-IRVE"
    bad_dates = await centrale("agreements", "create", "--central", "UGAP", "--reference", "X", "--title", "T",
                               "--starts-on", "2026-13-01")
    assert bad_dates.exit_code == 2 and "--starts-on : date invalide" in bad_dates.stderr
    ends_first = await centrale("agreements", "create", "--central", "UGAP", "--reference", "Y", "--title", "T",
                                "--starts-on", "2026-02-01", "--ends-on", "2026-01-01")
    assert ends_first.exit_code == 2 and "la fin précède le début" in ends_first.stderr
    unknown = await centrale("agreements", "create", "--central", "NOPE", "--reference", "Z", "--title", "T")
    assert unknown.exit_code != 0 and "introuvable" in unknown.stderr

    bad = tmp_path / "bpu.csv"
    bad.write_text(f"{HEADER}\nB-1;Borne;unité;3 450,00;20;Fourniture;;;\nB-2;Pose;unité;x;20;Installation;;;\n"
                   "B-3;;unité;1;20;Ménage;;;\n", encoding="utf-8")
    refused = await centrale("bpu", "import", "--agreement", "2026-UGAP-IRVE", str(bad))
    assert refused.exit_code == 2
    assert refused.stderr.splitlines()[0] == "Erreur : Import refusé : 2 ligne(s) en erreur, aucun article importé."
    assert "Erreur : ligne 3 : prix_unitaire_ht : nombre attendu (« x »)" in refused.stderr
    assert "Erreur : ligne 4 : libelle : obligatoire" in refused.stderr
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(BpuVersion)) == 0

    good = tmp_path / "bpu-2026.csv"
    good.write_text(f"{HEADER}\nB-1;Borne;unité;3 450,00;20;Fourniture;;Hager;achat\n", encoding="utf-8")
    imported = await centrale("bpu", "import", "--agreement", "2026-UGAP-IRVE", str(good), "--valid-from", "2026-01-01",
                              "--json")
    assert imported.exit_code == 0, imported.output
    assert {k: v for k, v in json.loads(imported.output).items() if k != "id"} == {
        "agreement": "2026-UGAP-IRVE", "version": 1, "valid_from": "2026-01-01", "line_count": 1}
    human = await centrale("bpu", "import", "--agreement", "2026-UGAP-IRVE", str(good), "--valid-from", "01/07/2026")
    assert human.output.strip() == ("BPU de 2026-UGAP-IRVE : version 2 importée (1 articles), "
                                    "en vigueur à partir du 01/07/2026")
    missing = await centrale("bpu", "import", "--agreement", "2026-UGAP-IRVE", str(tmp_path / "absent.csv"))
    assert missing.exit_code == 2 and "fichier illisible" in missing.stderr
    no_agreement = await centrale("bpu", "import", "--agreement", "NOPE", str(good))
    assert no_agreement.exit_code != 0 and "introuvable : accord-cadre NOPE" in no_agreement.stderr
