"""The ``centrale`` command line: servers, migrations, demo data, administration.

Every subcommand that creates something accepts ``--json`` and then prints one JSON
object with the new id or token, so that scripts can drive it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from app.settings import Settings, SettingsError

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _run(factory: Callable[[Settings], Awaitable[T]]) -> T:
    return asyncio.run(factory(_settings()))


def _emit(as_json: bool, payload: dict[str, Any], human: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, default=str) if as_json else human)


def _fail_validation(exc: Exception, as_json: bool) -> None:
    from app.errors import ValidationFailed

    if isinstance(exc, ValidationFailed):
        if as_json:
            click.echo(json.dumps({"errors": exc.errors}, ensure_ascii=False), err=True)
        else:
            for key, msg in exc.errors.items():
                click.echo(f"erreur ({key}) : {msg}", err=True)
        sys.exit(2)
    raise exc


@click.group(help="Centrale : plateforme des bénéficiaires des centrales d'achat publiques.")
def cli() -> None:
    pass


# --------------------------------------------------------------------------- servers


@cli.command(help="Mode embarqué : web, ingress OCPP et worker dans un seul processus.")
@click.option("--no-banner", is_flag=True, help="Ne pas afficher les URL et les comptes de démonstration.")
def serve(no_banner: bool) -> None:
    from app.server import serve_all

    settings = _settings()
    asyncio.run(serve_all(settings, web=True, ingress=True, worker=True, banner=not no_banner, gc_tuned=True))


@cli.command(help="Serveur web seul (mode mis à l'échelle).")
def web() -> None:
    from app.server import serve_all

    asyncio.run(serve_all(_settings(), web=True, ingress=False, worker=False, banner=False))


@cli.command(help="Worker de tâches (dramatiq sur Redis, ou file en mémoire en mode embarqué).")
def worker() -> None:
    from app.server import run_worker

    run_worker(_settings())


# --------------------------------------------------------------------------- database


@cli.group(help="Base de données.")
def db() -> None:
    pass


@db.command("upgrade", help="Applique les migrations jusqu'à la dernière version.")
@click.option("--revision", default="head")
def db_upgrade(revision: str) -> None:
    from app.migrate import upgrade

    upgrade(_settings(), revision)
    click.echo(f"base de données à jour ({revision})")


@db.command("downgrade", help="Revient à une révision antérieure.")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    from app.migrate import downgrade

    downgrade(_settings(), revision)
    click.echo(f"base de données ramenée à {revision}")


# --------------------------------------------------------------------------- demo


@cli.group(help="Données de démonstration.")
def demo() -> None:
    pass


@demo.command("load", help="Charge (ou complète) les données de démonstration ; idempotent.")
@click.option("--json", "as_json", is_flag=True)
def demo_load(as_json: bool) -> None:
    from app.demo import DEMO_PASSWORD, load_demo

    summary = _run(load_demo)
    _emit(as_json, summary, f"démo chargée : {summary['tenants']} bénéficiaires, {summary['users']} comptes (mot de passe : {DEMO_PASSWORD})")


# --------------------------------------------------------------------------- administration


@cli.group(help="Bénéficiaires (tenants).")
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
            async with database.transaction(actor={"user_id": None, "label": "cli"}) as session:
                central = await services.get_central_by_code(session, central_code) if central_code else None
                tenant = await services.create_tenant(
                    session, {"name": name, "siret": siret, "finess": finess, "territory": territory, "insee_code": insee_code}, central=central
                )
                return tenant.id
        finally:
            await database.dispose()

    try:
        tenant_id = _run(go)
    except Exception as exc:  # noqa: BLE001
        _handle_cli_error(exc, as_json)
    _emit(as_json, {"id": str(tenant_id)}, f"bénéficiaire créé : {tenant_id}")


def _handle_cli_error(exc: Exception, as_json: bool) -> None:
    from app.errors import NotFound

    if isinstance(exc, NotFound):
        raise click.ClickException(f"introuvable : {exc}")
    _fail_validation(exc, as_json)


@cli.group(help="Comptes utilisateurs.")
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
            async with database.transaction([tid] if tid else None, actor={"user_id": None, "label": "cli"}) as session:
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
        user_id = _run(go)
    except Exception as exc:  # noqa: BLE001
        _handle_cli_error(exc, as_json)
    _emit(as_json, {"id": str(user_id)}, f"compte créé : {user_id}")


@cli.group(help="Jetons d'API.")
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
            async with database.transaction(actor={"user_id": None, "label": "cli"}) as session:
                user = await services.find_user_by_email(session, email)
                if user is None:
                    raise NotFound(email)
                row, token = await services.create_api_token(session, user, name=name, days=days)
                return row.id, token
        finally:
            await database.dispose()

    try:
        token_id, token = _run(go)
    except Exception as exc:  # noqa: BLE001
        _handle_cli_error(exc, as_json)
    _emit(as_json, {"id": str(token_id), "token": token}, f"jeton (affiché une seule fois) : {token}")


def _register_components() -> None:
    from app.oidc import oidc

    cli.add_command(oidc)
    from csms.cli import register_commands as register_csms
    register_csms(cli)
    try:
        from incidents.cli import sla
    except ImportError:  # arrives with the SLA engine
        return
    cli.add_command(sla)


_register_components()


def main() -> None:
    cli(prog_name="centrale")
