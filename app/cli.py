"""The ``centrale`` command line (composition root): servers, migrations, demo data, and
every component's commands (``Component.cli``: ``tenants``, ``users``, ``tokens``, ``oidc``,
``stations``, ``ingress``, ``sla``…).

Every subcommand that creates something accepts ``--json`` and then prints one JSON
object with the new id or token, so that scripts can drive it (``app.commandline``).
"""

from __future__ import annotations

import asyncio

import click

from app.commandline import emit, load_settings, run
from app.settings import SettingsError


@click.group(help="Centrale : plateforme des bénéficiaires des centrales d'achat publiques.")
def cli() -> None:
    pass


# --------------------------------------------------------------------------- servers


@cli.command(help="Mode embarqué : web, ingress OCPP et worker dans un seul processus.")
@click.option("--no-banner", is_flag=True, help="Ne pas afficher les URL et les comptes de démonstration.")
def serve(no_banner: bool) -> None:
    from app import composition
    from app.server import serve_all

    settings = load_settings()
    try:  # a wrong file of the services' settings (a station CA) is one line here, not a traceback of the ingress
        composition.preflight(settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    asyncio.run(serve_all(settings, web=True, ingress=True, worker=True, banner=not no_banner, gc_tuned=True))


@cli.command(help="Serveur web seul (mode mis à l'échelle).")
def web() -> None:
    from app.server import serve_all

    asyncio.run(serve_all(load_settings(), web=True, ingress=False, worker=False, banner=False, gc_tuned=True))


@cli.command(help="Worker de tâches (dramatiq sur Redis, ou file en mémoire en mode embarqué).")
def worker() -> None:
    from app.server import run_worker

    run_worker(load_settings())


# --------------------------------------------------------------------------- database


@cli.group(help="Base de données.")
def db() -> None:
    pass


@db.command("upgrade", help="Applique les migrations jusqu'à la dernière version.")
@click.option("--revision", default="head")
def db_upgrade(revision: str) -> None:
    from app.migrate import upgrade

    upgrade(load_settings(), revision)
    click.echo(f"base de données à jour ({revision})")


@db.command("downgrade", help="Revient à une révision antérieure.")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    from app.migrate import downgrade

    downgrade(load_settings(), revision)
    click.echo(f"base de données ramenée à {revision}")


# --------------------------------------------------------------------------- demo


@cli.group(help="Données de démonstration.")
def demo() -> None:
    pass


@demo.command("load", help="Charge (ou complète) les données de démonstration ; idempotent.")
@click.option("--json", "as_json", is_flag=True)
def demo_load(as_json: bool) -> None:
    from app.composition import banner_lines, load_demo

    summary = run(load_demo)
    emit(as_json, summary, "\n".join(["démo chargée.", *banner_lines(load_settings(), with_services=True)]))


def _register_kernel() -> None:
    from app.outbox_cli import outbox

    cli.add_command(outbox)


_register_kernel()


def _register_components() -> None:
    from app.composition import cli_commands

    for command in cli_commands():
        cli.add_command(command)


_register_components()


def main() -> None:
    cli(prog_name="centrale")
