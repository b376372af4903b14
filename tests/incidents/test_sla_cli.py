"""``centrale sla``: JSON and French output, worked examples, bad input (exit status 2)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from incidents.cli import sla


def run(*args: str):
    return CliRunner().invoke(sla, list(args))


def test_add_hours_json_cpam_level_2_le_mans() -> None:
    # CCTP CPAM 5-4-4, Niveau 2: 4 heures ouvrées de 8 h à 17 h du lundi au vendredi.
    result = run("add", "--territory", "metropole", "--calendar", "ho-8-17",
                 "--start", "2026-11-20T16:30:00+01:00", "--hours", "4", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"deadline": "2026-11-23T11:30:00+01:00"}


@pytest.mark.parametrize(
    ("territory", "due"),
    [("alsace-moselle", "2026-04-07T11:00:00+02:00"), ("metropole", "2026-04-03T11:00:00+02:00")],
)
def test_add_hours_caih_ho_metz_and_paris_from_utc(territory: str, due: str) -> None:
    # CCTP CAIH 2.1.21 / 2.1.22: GTR 4 h in HO; the start may be given in UTC ("Z"), the
    # deadline is printed in the territory's zone.
    result = run("add", "--territory", territory, "--calendar", "ho-8-18",
                 "--start", "2026-04-02T15:00Z", "--hours", "4", "--json")
    assert json.loads(result.stdout) == {"deadline": due}


def test_add_minutes_and_24x7_in_another_zone() -> None:
    result = run("add", "--territory", "NC", "--calendar", "24x7",
                 "--start", "2026-09-23T23:00:00Z", "--minutes", "90", "--json")
    assert json.loads(result.stdout) == {"deadline": "2026-09-24T11:30:00+11:00"}


def test_add_working_days_each_kind() -> None:
    base = ["add", "--territory", "metropole", "--calendar", "ho-8-17", "--start", "2026-04-28T10:00+02:00"]
    # CCTP CPAM 5-1-4: 14 jours ouvrables (1, 8 and 14 May are holidays).
    assert json.loads(run(*base, "--working-days", "14", "--kind", "ouvrables", "--json").stdout) == {
        "deadline": "2026-05-18T10:00:00+02:00"}
    # CCTP CANUT 6.6: jours ouvrés.
    assert json.loads(run(*base, "--working-days", "5", "--kind", "ouvres", "--json").stdout) == {
        "deadline": "2026-05-06T10:00:00+02:00"}
    # CCTP CPAM 5-3-1: jours calendaires.
    assert json.loads(run(*base, "--working-days", "14", "--kind", "calendaires", "--json").stdout) == {
        "deadline": "2026-05-12T10:00:00+02:00"}
    assert json.loads(run(*base, "--working-days", "14", "--kind", "calendaires", "--end-of-day",
                          "--json").stdout) == {"deadline": "2026-05-13T00:00:00+02:00"}


def test_between_json_and_human() -> None:
    args = ["between", "--territory", "971", "--calendar", "ho-8-18",
            "--start", "2026-05-26T12:00-04:00", "--end", "2026-05-28T10:30-04:00"]
    # 27 May: abolition of slavery, a public holiday in Guadeloupe.
    assert json.loads(run(*args, "--json").stdout) == {"business_seconds": 8 * 3600 + 1800}
    human = run(*args)
    assert human.exit_code == 0
    assert human.stdout.strip() == "Temps ouvré : 8 h 30 min (30600 secondes, calendrier ho-8-18)"


def test_add_human_line_in_french() -> None:
    result = run("add", "--territory", "metropole", "--calendar", "ho-8-17",
                 "--start", "2026-11-20T16:30+01:00", "--hours", "4")
    assert result.stdout.strip() == "Échéance : lundi 23 novembre 2026 à 11:30 (Europe/Paris, UTC+01:00)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "--territory", "atlantide", "--calendar", "ho-8-17", "--start", "2026-11-20T16:30Z", "--hours", "4"],
         "territoire inconnu"),
        (["add", "--territory", "metropole", "--calendar", "9-5", "--start", "2026-11-20T16:30Z", "--hours", "4"],
         "calendrier inconnu"),
        (["add", "--territory", "metropole", "--calendar", "ho-8-17", "--start", "20/11/2026", "--hours", "4"],
         "date invalide"),
        (["add", "--territory", "metropole", "--calendar", "ho-8-17", "--start", "2026-11-20T16:30", "--hours", "4"],
         "décalage horaire"),
        (["add", "--territory", "metropole", "--calendar", "ho-8-17", "--start", "2026-11-20T16:30Z", "--hours", "-4"],
         "négatif"),
        (["add", "--territory", "metropole", "--calendar", "ho-8-17", "--start", "2026-11-20T16:30Z", "--hours", "abc"],
         "nombre invalide"),
        (["add", "--territory", "metropole", "--calendar", "ho-8-17", "--start", "2026-11-20T16:30Z"],
         "exactement une durée"),
        (["add", "--territory", "metropole", "--start", "2026-11-20T16:30Z", "--working-days", "3",
          "--kind", "ouvrees"], "type de jours inconnu"),
        (["add", "--territory", "metropole", "--start", "2026-11-20T16:30Z", "--working-days", "2.5"],
         "nombre entier"),
        (["add", "--territory", "metropole", "--calendar", "ho-8-17", "--hours", "4"], "--start est obligatoire"),
        (["between", "--territory", "metropole", "--calendar", "24x7", "--start", "2026-11-20T16:30Z",
          "--end", "2026-11-20T10:30Z"], "précède"),
        (["between", "--territory", "metropole", "--start", "2026-11-20T16:30Z", "--end", "2026-11-21T10:30Z"],
         "--calendar est obligatoire"),
        (["add", "--frobnicate"], "option inconnue"),
        (["add", "--territory"], "attend une valeur"),
        (["explain"], "commande inconnue"),
    ],
)
def test_bad_input_french_message_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Erreur : ")
    assert message in result.stderr


def test_registered_in_the_main_cli() -> None:
    from app.cli import cli

    result = CliRunner().invoke(cli, ["sla", "between", "--territory", "metropole", "--calendar", "24x7",
                                      "--start", "2026-03-29T00:00+01:00", "--end", "2026-03-30T00:00+02:00",
                                      "--json"])
    assert json.loads(result.stdout) == {"business_seconds": 23 * 3600}  # spring forward: a 23-hour day


# --------------------------------------------------------------------------- centrale sla policy set|show


async def _tenant(db, territory: str = "alsace-moselle"):
    import uuid

    from tenants.models import Tenant

    tid = uuid.uuid4()
    async with db.transaction([tid], actor={"user_id": None, "label": "test"}) as session:
        session.add(Tenant(id=tid, name=f"Hôpital {tid.hex[:6]}", siret=str(tid.int)[:14], territory=territory))
    return tid


async def _policy_rows(db, tid):
    from sqlalchemy import select

    from app.audit import AuditEvent
    from incidents.models import SlaPolicyVersion

    async with db.session([tid]) as session:
        versions = (await session.scalars(select(SlaPolicyVersion).order_by(SlaPolicyVersion.version))).all()
        audits = (await session.scalars(select(AuditEvent).where(AuditEvent.entity == "incident_sla_policies")
                                        .order_by(AuditEvent.at))).all()
    return versions, audits


async def test_policy_set_and_show(centrale, db) -> None:
    tid = await _tenant(db)
    # A tenant without a central gets the default template on first use.
    shown = await centrale("sla", "policy", "show", "--tenant", str(tid), "--json")
    assert shown.exit_code == 0, shown.output
    payload = json.loads(shown.stdout)
    assert (payload["version"], payload["template"]) == (1, "canut-iot")
    assert list(payload["levels"]) == ["P0", "P1", "P2"]

    done = await centrale("sla", "policy", "set", "--tenant", str(tid), "--template", "caih-maintenance-24x7", "--json")
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert (payload["version"], payload["template"], payload["code"]) == (2, "caih-maintenance-24x7",
                                                                          "caih-maintenance-24x7")
    # CCTP CAIH 2.1.21: GTR 4 h, 10 h and 50 h, here counted 24/24 7/7.
    assert payload["levels"]["4h"] == {"label": "GTR 4 h (24/7)", "intervention": None,
                                       "restoration": "4 h (24 h/24, 7 j/7)"}
    human = await centrale("sla", "policy", "show", "--tenant", str(tid))
    assert human.exit_code == 0
    lines = human.stdout.splitlines()
    assert lines[0] == ("Politique en vigueur : CAIH : maintenance (24/7) (modèle caih-maintenance-24x7, version 2, "
                        "CCTP CAIH 2.1.21 et 2.1.22)")
    assert lines[1:] == ["Niveaux :", "  4h — GTR 4 h (24/7) : rétablissement 4 h (24 h/24, 7 j/7)",
                         "  10h — GTR 10 h (24/7) : rétablissement 10 h (24 h/24, 7 j/7)",
                         "  50h — GTR 50 h (24/7) : rétablissement 50 h (24 h/24, 7 j/7)"]
    # Each version is in the tenant's journal, signed « cli ».
    versions, audits = await _policy_rows(db, tid)
    assert [(v.version, v.template, v.created_by) for v in versions] == [
        (1, "canut-iot", "cli"), (2, "caih-maintenance-24x7", "cli")]
    assert [(a.action, a.actor_label, a.after["template"]) for a in audits] == [
        ("create", "cli", "canut-iot"), ("create", "cli", "caih-maintenance-24x7")]


async def test_policy_set_bad_input_changes_nothing(centrale, db) -> None:
    import uuid

    tid = await _tenant(db)
    for args, message, status in (
        (["--tenant", str(tid), "--template", "itil"], "modèle inconnu : 'itil' (attendu : cpam-irve, canut-iot", 2),
        (["--tenant", str(tid)], "--template est obligatoire", 2),
        (["--template", "canut-iot"], "--tenant est obligatoire", 2),
        (["--tenant", "CPAM", "--template", "canut-iot"], "identifiant de bénéficiaire invalide", 2),
        (["--tenant", str(uuid.uuid4()), "--template", "canut-iot"], "bénéficiaire introuvable", 1),
    ):
        result = await centrale("sla", "policy", "set", *args)
        assert result.exit_code == status, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
    assert (await centrale("sla", "policy", "frobnicate")).exit_code == 2
    assert await _policy_rows(db, tid) == ([], [])
