"""``centrale export tenant TENANT_ID --out FILE.zip``: a tenant's reversibility archive from the command line
(issue 16 §1), for the operator: written straight to the file, with the same content as the admin's button."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import click

from app.commandline import emit, fail, run
from app.settings import Settings

__all__ = ["export"]


@click.group(help="Exports de réversibilité.")
def export() -> None:
    pass


@export.command("tenant", help="Écrit l'export de réversibilité d'un bénéficiaire dans une archive ZIP.")
@click.argument("tenant_id")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Fichier ZIP à écrire")
@click.option("--with-password-hashes", is_flag=True,
              help="Inclure les empreintes des mots de passe des comptes (sinon chacun réinitialise le sien)")
@click.option("--json", "as_json", is_flag=True)
def export_tenant(tenant_id: str, out: Path, with_password_hashes: bool, as_json: bool) -> None:
    async def go(settings: Settings) -> Any:
        from app.db import Database, unscoped, utcnow
        from app.errors import NotFound, ValidationFailed
        from tenants import services
        from tenants.reversibility.service import build_archive

        try:
            tid = uuid.UUID(tenant_id)
        except ValueError:
            raise ValidationFailed({"tenant": "Identifiant de bénéficiaire invalide."}) from None
        database = Database(settings.database_url)
        try:
            async with database.session([tid]) as session:
                with unscoped(session):
                    await services.get_tenant(session, tid)
            part = out.with_name(out.name + ".part")
            try:
                with part.open("wb") as handle:
                    result = await build_archive(database, settings, tid, handle, now=utcnow(),
                                                 password_hashes=with_password_hashes)
                part.replace(out)
            except BaseException:
                part.unlink(missing_ok=True)
                raise
            return result.manifest
        except NotFound:
            raise NotFound("bénéficiaire") from None
        finally:
            await database.dispose()

    try:
        manifest = run(go)
    except Exception as exc:  # noqa: BLE001
        fail(exc, as_json)
    rows = sum(t["rows"] for t in manifest["tables"].values())
    emit(as_json, {"out": str(out), "files": len(manifest["files"]), "rows": rows,
                   "tables": len(manifest["tables"])},
         f"export écrit : {out} ({len(manifest['tables'])} tables, {rows} lignes, {len(manifest['files'])} fichiers)")
