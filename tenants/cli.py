"""``centrale tenants|users|tokens|oidc``: beneficiaries, accounts and API tokens from the command line.

Every subcommand that creates something accepts ``--json`` and then prints one JSON
object with the new id or token, so that scripts can drive it.
"""

from __future__ import annotations

import uuid
from typing import Any

import click

from app.commandline import CLI_ACTOR, emit, fail, run
from app.settings import Settings

__all__ = ["commands"]



@click.group(help="Bénéficiaires (tenants).")
def tenants() -> None:
    pass


@tenants.command("create", help="Crée un bénéficiaire.")
@click.option("--name", required=True)
@click.option("--siret")
@click.option("--finess")
@click.option("--central", "central_code", help="Code de la centrale (CAIH, CANUT…)")
@click.option("--territory", default="metropole", show_default=True)
@click.option("--insee", "insee_code", default="")
@click.option("--json", "as_json", is_flag=True)
def tenants_create(name: str, siret: str | None, finess: str | None, central_code: str | None, territory: str, insee_code: str, as_json: bool) -> None:
    if not siret and not finess:
        raise click.UsageError("--siret ou --finess est obligatoire")

    async def go(settings: Settings) -> Any:
        from app.db import Database
        from tenants import services

        database = Database(settings.database_url)
        try:
            async with database.transaction(actor=CLI_ACTOR) as session:
                central = await services.get_central_by_code(session, central_code) if central_code else None
                tenant = await services.create_tenant(
                    session, {"name": name, "siret": siret, "finess": finess, "territory": territory, "insee_code": insee_code}, central=central
                )
                return tenant.id
        finally:
            await database.dispose()

    try:
        tenant_id = run(go)
    except Exception as exc:  # noqa: BLE001
        fail(exc, as_json)
    emit(as_json, {"id": str(tenant_id)}, f"bénéficiaire créé : {tenant_id}")


@click.group(help="Comptes utilisateurs.")
def users() -> None:
    pass


@users.command("create", help="Crée un compte avec un profil sur un bénéficiaire ou une centrale.")
@click.option("--email", required=True)
@click.option("--role", required=True, help="coordinator, admin, viewer, agent, operator")
@click.option("--tenant", "tenant_id", help="Identifiant du bénéficiaire")
@click.option("--central", "central_code", help="Code de la centrale (rôle coordinator)")
@click.option("--password", required=True)
@click.option("--name", "full_name", default="")
@click.option("--json", "as_json", is_flag=True)
def users_create(email: str, role: str, tenant_id: str | None, central_code: str | None, password: str, full_name: str, as_json: bool) -> None:
    async def go(settings: Settings) -> Any:
        from app.db import Database, unscoped
        from app.errors import ValidationFailed
        from tenants import services

        database = Database(settings.database_url)
        try:
            tid = None
            if tenant_id:
                try:
                    tid = uuid.UUID(tenant_id)
                except ValueError:
                    raise ValidationFailed({"tenant": "Identifiant de bénéficiaire invalide."}) from None
            async with database.transaction([tid] if tid else None, actor=CLI_ACTOR) as session:
                with unscoped(session):
                    if tid is not None:
                        await services.get_tenant(session, tid)
                    central = await services.get_central_by_code(session, central_code) if central_code else None
                    user = await services.create_user(
                        session, email=email, full_name=full_name, password=password, role=role, tenant_id=tid, central=central
                    )
                return user.id
        finally:
            await database.dispose()

    try:
        user_id = run(go)
    except Exception as exc:  # noqa: BLE001
        fail(exc, as_json)
    emit(as_json, {"id": str(user_id)}, f"compte créé : {user_id}")


@click.group(help="Jetons d'API.")
def tokens() -> None:
    pass


@tokens.command("create", help="Crée un jeton d'API pour un compte (affiché une seule fois).")
@click.option("--email", required=True)
@click.option("--name", default="cli")
@click.option("--days", type=int, default=None, help="Durée de validité en jours (sans limite par défaut)")
@click.option("--json", "as_json", is_flag=True)
def tokens_create(email: str, name: str, days: int | None, as_json: bool) -> None:
    async def go(settings: Settings) -> Any:
        from app.db import Database
        from app.errors import NotFound
        from tenants import services

        database = Database(settings.database_url)
        try:
            async with database.transaction(actor=CLI_ACTOR) as session:
                user = await services.find_user_by_email(session, email)
                if user is None:
                    raise NotFound(email)
                row, token = await services.create_api_token(session, user, name=name, days=days)
                return row.id, token
        finally:
            await database.dispose()

    try:
        token_id, token = run(go)
    except Exception as exc:  # noqa: BLE001
        fail(exc, as_json)
    emit(as_json, {"id": str(token_id), "token": token}, f"jeton (affiché une seule fois) : {token}")


def commands() -> list[click.Command]:
    """The groups ``tenants`` adds to ``centrale`` (its manifest's ``cli``)."""
    from tenants.oidc.cli import oidc
    from tenants.reversibility.cli import destroy, export
    from tenants.reversibility.import_cli import import_

    return [tenants, users, tokens, oidc, export, destroy, import_]
