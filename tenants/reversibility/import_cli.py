"""``centrale import tenant FILE.zip``: a tenant's reversibility archive restored into this instance (issue 16 §2),
an operator's command only: it writes a whole tenant and the platform rows it needs, so no tenant route offers it.
The archive is checked first; a bad one is refused with its French report and nothing is written."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from app.commandline import emit, fail, run
from app.settings import Settings

__all__ = ["import_"]


@click.group("import", help="Imports de réversibilité.")
def import_() -> None:
    pass


@import_.command("tenant", help="Restaure dans cette instance le bénéficiaire d'une archive de réversibilité"
                                " (vérifiée d'abord : rien n'est écrit si elle est refusée).")
@click.argument("archive", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--with-password-hashes", is_flag=True,
              help="Reprendre les empreintes des mots de passe des comptes si l'archive les contient"
                   " (sinon les comptes n'ont pas de mot de passe utilisable et le réinitialisent)")
@click.option("--json", "as_json", is_flag=True)
def import_tenant(archive: Path, with_password_hashes: bool, as_json: bool) -> None:
    from tenants.reversibility.restore import ArchiveRefused

    async def go(settings: Settings) -> Any:
        from app.db import Database
        from tenants.reversibility.service import restore_archive

        database = Database(settings.database_url)
        try:
            return await restore_archive(database, settings, archive, password_hashes=with_password_hashes)
        finally:
            await database.dispose()

    try:
        result = run(go)
    except ArchiveRefused as refused:
        if as_json:
            click.echo(json.dumps({"refused": True, "problems": refused.problems}, ensure_ascii=False), err=True)
        else:
            click.echo(f"archive refusée, rien n'a été écrit ({len(refused.problems)} problème(s)) :", err=True)
            for problem in refused.problems:
                click.echo(f"  - {problem}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001
        fail(exc, as_json)
    summary = result.summary()
    passwords = ("empreintes des mots de passe reprises" if result.password_hashes else
                 "les comptes importés n'ont pas de mot de passe utilisable : chacun le réinitialise"
                 " (« Mot de passe oublié »)")
    emit(as_json, summary,
         f"bénéficiaire importé : {summary['tenant']} ({summary['tenant_id']}) — {summary['rows']} lignes dans"
         f" {summary['tables']} tables, {summary['merged']} lignes communes déjà présentes, {summary['files']}"
         f" fichiers restaurés ; {passwords}")
