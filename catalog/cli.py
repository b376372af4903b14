"""``centrale centrals|agreements|bpu``: purchasing centrals, framework agreements and their price schedules
from the command line (issue 14 §5; until now only the demo made centrals and agreements).

    centrale centrals create --code CANUT --name "Centrale d'achat du numérique" [--json]
    centrale agreements create --central CANUT --reference 2024_AOO_IOT --title "Solutions IoT" \
        --starts-on 2025-01-01 --ends-on 2028-12-31 [--json]
    centrale bpu import --agreement 2024_AOO_IOT bpu.csv [--valid-from 2026-01-01] [--json]

A beneficiary created afterwards with ``centrale tenants create --central CODE`` subscribes to the central's
agreements. Bad input prints French messages on stderr and exits with status 2; a refused BPU prints the
report of every bad line (nothing is imported).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from app.commandline import CLI_ACTOR, emit, fail, run

__all__ = ["commands"]


def _day(option: str, value: str | None) -> dt.date | None:
    if not value:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    _refuse([f"{option} : date invalide « {value} » (attendu : AAAA-MM-JJ ou JJ/MM/AAAA)"], False)


def _refuse(messages: list[str], as_json: bool) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"errors": messages}, ensure_ascii=False), err=True)
    else:
        for message in messages:
            click.echo(f"Erreur : {message}", err=True)
    sys.exit(2)


def _transaction(work: Any) -> Any:
    """Run ``await work(session)`` in one audited transaction (the audit log names « cli »)."""

    async def go(settings: Any) -> Any:
        from app.db import Database

        database = Database(settings.database_url)
        try:
            async with database.transaction(actor=CLI_ACTOR) as session:
                return await work(session)
        finally:
            await database.dispose()

    return run(go)


@click.group(help="Centrales d'achat et acheteurs directs.")
def centrals() -> None:
    pass


@centrals.command("create", help="Crée une centrale d'achat (ou un acheteur direct avec --kind acheteur).")
@click.option("--code", required=True, help="Code court (CAIH, CANUT…), en majuscules.")
@click.option("--name", required=True, help="Nom.")
@click.option("--kind", type=click.Choice(["centrale", "acheteur"]), default="centrale", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON : {\"id\", \"code\"}.")
def centrals_create(code: str, name: str, kind: str, as_json: bool) -> None:
    from sqlalchemy import select

    from tenants.models import Central
    from tenants.services import create_central

    code, name = code.strip().upper(), name.strip()
    if not code or len(code) > 32 or not code.replace("_", "").replace("-", "").isalnum():
        _refuse(["--code : lettres, chiffres, - et _, 32 caractères au plus"], as_json)
    if not name or len(name) > 200:
        _refuse(["--name : obligatoire, 200 caractères au plus"], as_json)

    async def work(session: Any) -> Any:
        if await session.scalar(select(Central.id).where(Central.code == code)):
            return None
        return await create_central(session, code=code, name=name, kind=kind)

    central = _transaction(work)
    if central is None:
        _refuse([f"la centrale « {code} » existe déjà"], as_json)
    emit(as_json, {"id": str(central.id), "code": central.code}, f"centrale créée : {central.code} ({central.id})")


@click.group(help="Accords-cadres des centrales.")
def agreements() -> None:
    pass


@agreements.command("create", help="Crée un accord-cadre d'une centrale.")
@click.option("--central", "central_code", required=True, help="Code de la centrale.")
@click.option("--reference", required=True, help="Référence de l'accord-cadre (unique).")
@click.option("--title", required=True, help="Intitulé.")
@click.option("--starts-on", help="Début (AAAA-MM-JJ).")
@click.option("--ends-on", help="Fin (AAAA-MM-JJ).")
@click.option("--lot", default="", help="Lot.")
@click.option("--titulaire", default="", help="Titulaire.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON : {\"id\", \"reference\"}.")
def agreements_create(central_code: str, reference: str, title: str, starts_on: str | None, ends_on: str | None,
                      lot: str, titulaire: str, as_json: bool) -> None:
    from catalog.services import create_agreement
    from tenants.services import get_central_by_code

    start, end = _day("--starts-on", starts_on), _day("--ends-on", ends_on)

    async def work(session: Any) -> Any:
        central = await get_central_by_code(session, central_code)
        return await create_agreement(session, central, reference=reference, title=title, starts_on=start,
                                      ends_on=end, lot=lot, titulaire=titulaire)

    try:
        agreement = _transaction(work)
    except Exception as exc:  # noqa: BLE001 - NotFound and ValidationFailed in French, else raised again
        fail(exc, as_json)
    emit(as_json, {"id": str(agreement.id), "reference": agreement.reference},
         f"accord-cadre créé : {agreement.reference} ({agreement.id})")


@click.group(help="Bordereaux de prix unitaires (BPU) des accords-cadres.")
def bpu() -> None:
    pass


@bpu.command("import", help=(
    "Importe une version du BPU d'un accord-cadre depuis un fichier CSV (; ou ,) ou XLSX, en entier ou pas du tout. "
    "Colonnes : code_article, libelle, unite, prix_unitaire_ht, taux_tva, famille, complexite, constructeur, "
    "achat_location."))
@click.option("--agreement", "reference", required=True, help="Référence de l'accord-cadre.")
@click.option("--valid-from", help="En vigueur à partir du (AAAA-MM-JJ) ; aujourd'hui par défaut.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON : la version importée.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def bpu_import(reference: str, valid_from: str | None, as_json: bool, file: Path) -> None:
    from catalog.services import BpuImportFailed, get_agreement_by_reference, import_bpu

    day = _day("--valid-from", valid_from) or dt.date.today()
    try:
        content = file.read_bytes()
    except OSError as exc:
        _refuse([f"fichier illisible : {file} ({exc.strerror})"], as_json)

    async def work(session: Any) -> Any:
        agreement = await get_agreement_by_reference(session, reference)
        return await import_bpu(session, agreement, content, file.name, valid_from=day, imported_by="cli")

    try:
        version = _transaction(work)
    except BpuImportFailed as exc:
        if as_json:
            click.echo(json.dumps({"lines": [{"line": n, "messages": m} for n, m in exc.errors.items()]},
                                  ensure_ascii=False), err=True)
            sys.exit(2)
        _refuse(exc.report(), False)
    except Exception as exc:  # noqa: BLE001
        fail(exc, as_json)
    emit(as_json, {"id": str(version.id), "agreement": reference, "version": version.version,
                   "valid_from": version.valid_from.isoformat(), "line_count": version.line_count},
         f"BPU de {reference} : version {version.version} importée ({version.line_count} articles), "
         f"en vigueur à partir du {version.valid_from:%d/%m/%Y}")


def commands() -> list[click.Command]:
    return [centrals, agreements, bpu]
