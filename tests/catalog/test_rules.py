"""The pure rules of the BPU and the catalog (``catalog.rules``): French spreadsheet numbers, families and
complexities by label or code, the 6-week withdrawal notice and the substitution rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from catalog import rules

ROW = {"code_article": "CAP-T01", "libelle": "Capteur de température LoRaWAN", "unite": "unité",
       "prix_unitaire_ht": "89,90", "taux_tva": "20", "famille": "Fourniture", "complexite": "",
       "constructeur": "Adeunis", "achat_location": "achat"}


@pytest.mark.parametrize(("text", "value"), [
    ("12,50", "12.50"), ("12.50", "12.50"), ("1 234,5", "1234.5"), ("1\u00a0234,5", "1234.5"),
    ("1.234,50", "1234.50"), ("1,234.50", "1234.50"), ("20 %", "20"), ("5,5", "5.5"), (0.1, "0.1"), (7, "7"),
])
def test_numbers_as_french_spreadsheets_write_them(text, value):
    assert rules.parse_decimal(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "abc", "12,5,3", "NaN", "Infinity", True])
def test_what_is_not_a_number(text):
    assert rules.parse_decimal(text) is None


def test_a_good_line():
    line, problems = rules.parse_bpu_line(ROW)
    assert problems == []
    assert line == rules.BpuLine(article_code="CAP-T01", label="Capteur de température LoRaWAN", unit="unité",
                                 unit_price_ht=Decimal("89.90"), vat_rate=Decimal("20"), family="supply",
                                 complexity=None, maker="Adeunis", purchase_or_rental="achat")


@pytest.mark.parametrize(("famille", "code"), [
    ("Fourniture", "supply"), ("supply", "supply"), ("installation", "installation"),
    ("Journée d'assistance technique", "assistance_day"),  # CAIH 2.1.18: « L'unité d'œuvre sera définie à la journée »
    ("JOURNEE D'ASSISTANCE", "assistance_day"), ("Ticket d'infogérance de 30 min", "infogerance_ticket_30min"),
    ("Réparation sur devis", "repair_on_quote"),  # CAIH 2.1.17
    ("prestation", "service"), ("maintenance", "maintenance"),
])
def test_families_by_french_label_or_code(famille, code):
    line, problems = rules.parse_bpu_line({**ROW, "famille": famille})
    assert problems == [] and line is not None and line.family == code


@pytest.mark.parametrize(("complexite", "code"), [
    # CANUT 5.5: « Prestation Simple … Prestation Standard … Prestation Complexe »
    ("Simple", "simple"), ("Prestation Standard", "standard"), ("complexe", "complexe"), ("", None),
])
def test_complexities_canut_5_5(complexite, code):
    line, problems = rules.parse_bpu_line({**ROW, "famille": "Prestation", "complexite": complexite})
    assert problems == [] and line is not None and line.complexity == code


def test_a_bad_line_gives_every_reason():
    line, problems = rules.parse_bpu_line({"code_article": "", "libelle": "x" * 501, "prix_unitaire_ht": "-3",
                                           "taux_tva": "120", "famille": "grille-pain", "complexite": "difficile",
                                           "achat_location": "troc"})
    assert line is None
    assert [p.split(" ")[0] for p in problems] == ["code_article", "libelle", "prix_unitaire_ht", "taux_tva", "famille",
                                                   "complexite", "achat_location"]


def test_prices_keep_four_decimals_at_most():
    assert rules.parse_bpu_line({**ROW, "prix_unitaire_ht": "0,12345"})[1] == ["prix_unitaire_ht : quatre décimales au plus"]
    assert rules.parse_bpu_line({**ROW, "prix_unitaire_ht": "0,1234"})[0].unit_price_ht == Decimal("0.1234")


def test_a_withdrawal_needs_six_weeks_notice():
    # CCTP CPAM 8-1-2-2: « informer la CPAM au moins 6 semaines avant le retrait d'une référence »
    notice = dt.date(2026, 12, 1)
    assert rules.earliest_withdrawal(notice) == dt.date(2027, 1, 12)
    assert rules.withdrawal_problems(notice, dt.date(2027, 1, 12), today=notice) == []
    [problem] = rules.withdrawal_problems(notice, dt.date(2027, 1, 11), today=notice)
    assert "12/01/2027" in problem and "8-1-2-2" in problem
    assert rules.withdrawal_problems(dt.date(2026, 12, 5), dt.date(2027, 3, 1), today=notice) == [
        "la date d'information ne peut pas être dans le futur"]


OLD = [{"name": "Puissance", "unit": "kW", "value": "22"}, {"name": "Points de charge", "unit": "", "value": "2"}]


def test_a_substitute_at_a_lower_price_with_equal_or_better_characteristics():
    # CCTP CPAM 8-1-3-1: « caractéristiques techniques égales ou supérieures » and « prix égal ou inférieur »
    new = [{"name": "puissance", "unit": "kW", "value": "22.0"}, {"name": "Points de charge", "unit": "", "value": "4"},
           {"name": "Écran", "unit": "pouces", "value": "7"}]
    assert rules.substitution_problems(Decimal("1500"), OLD, Decimal("1500"), new) == []


def test_a_substitute_refused_for_each_reason():
    new = [{"name": "Puissance", "unit": "kW", "value": "11"}, {"name": "Écran", "unit": "pouces", "value": "7"}]
    problems = rules.substitution_problems(Decimal("1500"), OLD, Decimal("1500.01"), new)
    assert len(problems) == 3
    assert problems[0].startswith("prix 1\u202f500,01 € HT supérieur à celui du modèle remplacé (1\u202f500,00 € HT)") and "8-1-3-1" in problems[0]
    assert "Puissance" in problems[1] and "inférieure" in problems[1]
    assert problems[2] == "caractéristique « Points de charge » non déclarée par le modèle de substitution"
    other_unit = [{"name": "Puissance", "unit": "W", "value": "22000"}, OLD[1]]
    assert rules.substitution_problems(Decimal(1), OLD, Decimal(1), other_unit) == [
        "caractéristique « Puissance » : unité « W » au lieu de « kW »"]


def test_characteristics_are_typed_values():
    stored, problems = rules.parse_characteristics([{"name": "Capacité", "unit": "To", "value": "7,5"},
                                                    {"name": "capacité", "unit": "To", "value": "8"},
                                                    {"name": "Couleur", "unit": "", "value": "bleu"}])
    assert stored == [{"name": "Capacité", "unit": "To", "value": "7.5"}]
    assert problems == ["caractéristique « capacité » : déclarée deux fois",
                        "caractéristique « Couleur » : valeur numérique attendue"]
