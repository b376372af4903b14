"""``centrale export tenant TENANT_ID --out FILE.zip``: a tenant's reversibility archive from the command line
(issue 16 §1), for the operator: written straight to the file, with the same content as the admin's button.
``centrale destroy …``: the operator's side of the destruction (issue 16 §4): erase a tenant whose admin confirmed,
write and verify its signed certificate."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import click

from app.commandline import emit, fail, run
from app.settings import Settings

__all__ = ["destroy", "export"]


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


@click.group(help="Destruction des données d'un bénéficiaire et certificats signés.")
def destroy() -> None:
    pass


@destroy.command("tenant", help="Efface les données d'un bénéficiaire dont un administrateur a confirmé la "
                                "réversibilité (après le délai de réflexion) et produit le certificat signé.")
@click.argument("tenant_id")
@click.option("--confirm", "confirm", required=True, help="L'identifiant du bénéficiaire, répété")
@click.option("--by", "by", default="", help="Nom de l'exploitant qui détruit (par défaut : l'utilisateur système)")
@click.option("--json", "as_json", is_flag=True)
def destroy_tenant_command(tenant_id: str, confirm: str, by: str, as_json: bool) -> None:
    import getpass

    async def go(settings: Settings) -> Any:
        from app.errors import ValidationFailed
        from tenants.reversibility.destruction import destroy_tenant

        try:
            tid = uuid.UUID(tenant_id)
        except ValueError:
            raise ValidationFailed({"tenant": "Identifiant de bénéficiaire invalide."}) from None
        return await destroy_tenant(settings, tid, operator=by or getpass.getuser(), confirm=confirm)

    try:
        row = run(go)
    except Exception as exc:  # noqa: BLE001
        fail(exc, as_json)
    erased = json.loads(row.certificate)["document"]["erased"]
    emit(as_json, {"certificate_id": str(row.id), "sha256": row.certificate_sha256, "rows": erased["rows"],
                   "files": erased["files"], "accounts_kept": erased["accounts_kept"]},
         f"données effacées : {erased['rows']} lignes, {erased['files']} fichiers ; certificat {row.id} "
         f"(SHA-256 {row.certificate_sha256}) : « centrale destroy certificate {row.id} --out certificat.json »")


@destroy.command("certificate", help="Écrit le certificat signé d'une destruction (JSON ou PDF selon l'extension).")
@click.argument("key")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Fichier .json (le certificat signé) ou .pdf (sa version lisible)")
def destroy_certificate(key: str, out: Path) -> None:
    async def go(settings: Settings) -> Any:
        from app.db import Database
        from app.errors import ValidationFailed
        from tenants.reversibility.destruction import find_destruction

        try:
            wanted = uuid.UUID(key)
        except ValueError:
            raise ValidationFailed({"key": "Identifiant de certificat ou de bénéficiaire invalide."}) from None
        database = Database(settings.database_url)
        try:
            async with database.session() as session:
                row = await find_destruction(session, wanted)
        finally:
            await database.dispose()
        if not row.certificate:
            raise ValidationFailed({"destruction": "Cette destruction n'a pas eu lieu : pas de certificat."})
        return row

    try:
        row = run(go)
    except Exception as exc:  # noqa: BLE001
        fail(exc, False)
    if out.suffix.lower() == ".pdf":
        from tenants.reversibility.certificate import certificate_pdf

        signed = json.loads(row.certificate)
        out.write_bytes(certificate_pdf(signed["document"], signed["signature"]))
    else:
        out.write_bytes(row.certificate.encode())
    click.echo(f"certificat écrit : {out}")


@destroy.command("verify", help="Vérifie la signature d'un certificat de destruction (fichier JSON).")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def destroy_verify(path: Path, as_json: bool) -> None:
    from app.commandline import load_settings
    from app.signing import public_key_b64, verify_document

    settings = load_settings()
    key_file = settings.signing_key_file or settings.var_dir / "keys" / "instance-ed25519.pem"
    # Compared with this instance's key when it has one (never generated by a check).
    expected = public_key_b64(settings) if key_file.exists() else None
    found = verify_document(path.read_bytes(), expected_public_key=expected)
    emit(as_json, {"valid": found.ok, "reason": found.reason, "key_id": found.key_id,
                   "instance_key": found.instance_key},
         f"{'valide' if found.ok else 'INVALIDE'} : {found.reason} (clé {found.key_id or '?'}"
         f"{', celle de cette instance' if found.instance_key else ''})")
    if not found.ok:
        sys.exit(1)


@destroy.command("list", help="Les destructions demandées et effectuées.")
@click.option("--json", "as_json", is_flag=True)
def destroy_list(as_json: bool) -> None:
    async def go(settings: Settings) -> Any:
        from app.db import Database
        from tenants.reversibility.destruction import list_destructions

        database = Database(settings.database_url)
        try:
            async with database.session() as session:
                return [{"id": str(r.id), "tenant_id": str(r.tenant_id), "tenant": r.tenant_name, "status": r.status,
                         "requested_by": r.requested_by, "requested_at": r.requested_at.isoformat(),
                         "not_before": r.not_before.isoformat(),
                         "destroyed_at": r.destroyed_at.isoformat() if r.destroyed_at else None}
                        for r in await list_destructions(session)]
        finally:
            await database.dispose()

    rows = run(go)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        click.echo(f"{r['id']}  {r['status']:<9}  {r['tenant']} ({r['tenant_id']})  demandée par {r['requested_by']} "
                   f"le {r['requested_at']}, pas avant {r['not_before']}")
