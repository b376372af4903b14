"""``centrale tgd``: the TGD alert terminals from the command line — ``centrale tgd destroy`` runs the destruction
of the beneficiary files due (CCP TGD annexe 2, 2.4: four months after their closure), as the hourly job does."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from app.commandline import emit, run

__all__ = ["tgd"]


@click.group(help="Terminaux d'alerte (TGD) du ministère de la Justice.")
def tgd() -> None:
    pass


@tgd.command("destroy", help="Détruit les fiches bénéficiaires closes depuis quatre mois (annexe 2, 2.4).")
@click.option("--now", "now", default="", help="Instant ISO 8601 avec fuseau (par défaut : maintenant).")
@click.option("--json", "as_json", is_flag=True, help="Réponse JSON.")
def tgd_destroy(now: str, as_json: bool) -> None:
    try:
        moment = dt.datetime.fromisoformat(now) if now else dt.datetime.now(dt.UTC)
    except ValueError as exc:
        raise click.BadParameter("instant ISO 8601 attendu, par exemple 2027-04-24T08:00:00+00:00") from exc
    if moment.tzinfo is None:
        raise click.BadParameter("l'instant doit porter son fuseau (+00:00, +04:00…)")

    async def go(settings: Any) -> dict[str, list[str]]:
        from app.db import Database
        from assets.tasks import run_destruction

        db = Database(settings.database_url)
        try:
            return await run_destruction(db, moment)
        finally:
            await db.dispose()

    done = run(go)
    count = sum(len(refs) for refs in done.values())
    emit(as_json, {"destroyed": count, "references": done},
         f"{count} fiche(s) bénéficiaire(s) détruite(s)." if count else "Aucune fiche à détruire.")
