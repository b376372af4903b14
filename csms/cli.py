"""``centrale stations register|import|decommission|badge-sessions|simulate`` and ``centrale ingress``.

Added to ``centrale`` through the manifest (``csms/component.py``).
Nothing heavy is imported at module level: this module loads with every command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any

import click

from app.commandline import CLI_ACTOR, load_settings
from app.settings import Settings, SettingsError

__all__ = ["ingress", "stations"]

def _tenant(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise click.BadParameter("identifiant de bénéficiaire invalide", param_hint="--tenant") from None


def _fail(errors: dict[str, str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"errors": errors}, ensure_ascii=False), err=True)
    else:
        for key, message in errors.items():
            click.echo(f"erreur ({key}) : {message}", err=True)
    sys.exit(2)


async def _in_tenant(settings: Settings, tenant_id: uuid.UUID, work: Any) -> Any:
    from app.db import Database, unscoped
    from tenants.services import get_tenant

    database = Database(settings.database_url)
    try:
        async with database.transaction([tenant_id], actor=CLI_ACTOR) as session:
            with unscoped(session):
                await get_tenant(session, tenant_id)  # NotFound: an unknown tenant
            return await work(session)
    finally:
        await database.dispose()


@click.group(help="Bornes de recharge (IRVE) : enregistrement, import du parc, mise hors service.")
def stations() -> None:
    pass


@stations.command("register", help="Enregistre une borne (charge box OCPP) et ses points de charge.")
@click.option("--tenant", "tenant_id", required=True, help="Identifiant du bénéficiaire")
@click.option("--charge-box-id", required=True, help="Identité OCPP de la borne (/ocpp/{charge_box_id})")
@click.option("--password", required=True, help="Mot de passe Basic auth de la borne (16 à 40 caractères)")
@click.option("--site", "site", default="", help="Identifiant ou nom du site (facultatif si un seul site)")
@click.option("--canonical-id", default="", help="Identifiant CPAM de la borne, ex. FR72181B0001010100 (sinon généré)")
@click.option("--station", "station", default=None, type=int, help="Numéro de la station sur le site")
@click.option("--station-name", default="", help="Nom d'usage courant de la station (commune + attribut)")
@click.option("--points", default=1, show_default=True, type=int, help="Nombre de points de charge")
@click.option("--power", "power_kw", default=None, help="Puissance par point, en kW (7, 11, 22)")
@click.option("--sockets", "socket_types", default="T2", show_default=True, help="Prises, ex. T2+EF")
@click.option("--lenient", is_flag=True, help="Mode tolérant (écarts connus du micrologiciel)")
@click.option("--json", "as_json", is_flag=True)
def stations_register(tenant_id: str, as_json: bool, **data: Any) -> None:
    from app.errors import NotFound, ValidationFailed
    from csms.domain.registry import register_charger

    tid = _tenant(tenant_id)

    async def work(session: Any) -> Any:
        return await register_charger(session, tid, data)

    try:
        registered = asyncio.run(_in_tenant(load_settings(), tid, work))
    except ValidationFailed as exc:
        _fail(exc.errors, as_json)
    except NotFound as exc:
        raise click.ClickException(f"introuvable : {exc}") from None
    if as_json:
        click.echo(json.dumps(registered.as_dict(), ensure_ascii=False))
    else:
        click.echo(f"borne enregistrée : {registered.canonical_id} (charge_box_id {registered.charge_box_id}), "
                   f"points : {', '.join(registered.points)}")


@stations.command("import", help="Importe un parc de bornes depuis un fichier CSV (tout ou rien).")
@click.option("--tenant", "tenant_id", required=True, help="Identifiant du bénéficiaire")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def stations_import(tenant_id: str, file: Path, as_json: bool) -> None:
    from app.errors import NotFound
    from csms.domain.registry import ImportFailed, import_fleet

    tid = _tenant(tenant_id)
    content = file.read_bytes()

    async def work(session: Any) -> Any:
        return await import_fleet(session, tid, content)

    try:
        report = asyncio.run(_in_tenant(load_settings(), tid, work))
    except ImportFailed as exc:
        if as_json:
            click.echo(json.dumps({"errors": {str(k): v for k, v in exc.errors.items()}}, ensure_ascii=False), err=True)
        else:
            for line in exc.report():
                click.echo(line, err=True)
        sys.exit(2)
    except NotFound as exc:
        raise click.ClickException(f"introuvable : {exc}") from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        click.echo(f"{len(report.chargers)} borne(s) importée(s) :")
        for charger in report.chargers:
            click.echo(f"  {charger.canonical_id}  {charger.charge_box_id}  ({len(charger.points)} point(s))")


@stations.command("decommission", help="Met une borne hors service définitivement (son historique est conservé).")
@click.option("--tenant", "tenant_id", required=True, help="Identifiant du bénéficiaire")
@click.option("--charge-box-id", required=True, help="Identité OCPP de la borne")
@click.option("--reason", required=True, help="Motif de la mise hors service (obligatoire, 200 caractères au plus)")
@click.option("--json", "as_json", is_flag=True)
def stations_decommission(tenant_id: str, charge_box_id: str, reason: str, as_json: bool) -> None:
    from app.bus import create_bus
    from app.db import Database
    from app.errors import NotFound, ValidationFailed
    from csms.domain.registry import announce_decommission, decommission_charger, find_charger_in_tenant

    tid = _tenant(tenant_id)
    settings = load_settings()

    async def work(session: Any) -> Any:
        charger = await find_charger_in_tenant(session, tid, charge_box_id)
        return await decommission_charger(session, tid, charger, reason)

    async def run() -> tuple[Any, bool]:
        done = await _in_tenant(settings, tid, work)  # committed: the route is gone before the socket closes
        # The live socket, if any, is closed over the bus (Redis in scaled mode). Without Redis this process
        # cannot reach the ingress of a running ``centrale serve``: the station is then refused at its next
        # connection (its socket is left to the portal or the API, which share that process's bus).
        bus, database = await create_bus(settings), Database(settings.database_url)
        try:
            closed = await announce_decommission(database, bus, done)
        finally:
            await bus.close()
            await database.dispose()
        return done, closed

    try:
        done, closed = asyncio.run(run())
    except ValidationFailed as exc:
        _fail(exc.errors, as_json)
    except NotFound as exc:
        raise click.ClickException(f"introuvable : {exc}") from None
    charger = done.charger
    if as_json:
        click.echo(json.dumps({
            "id": str(charger.id), "tenant_id": str(tid), "charge_box_id": charger.charge_box_id,
            "canonical_id": charger.canonical_id, "decommissioned_at": charger.decommissioned_at.isoformat(),
            "decommission_reason": charger.decommission_reason, "alerts_closed": len(done.alert_changes),
            "reservations_cancelled": done.cancelled_reservations, "socket_closed": closed,
        }, ensure_ascii=False))
    else:
        click.echo(f"borne mise hors service définitivement : {charger.canonical_id} (charge_box_id "
                   f"{charger.charge_box_id}) ; alertes closes : {len(done.alert_changes)}, réservations annulées : "
                   f"{done.cancelled_reservations}" + (" ; connexion en cours fermée" if closed else ""))


@stations.command("badge-sessions",
                  help="Recharges simultanées d'un même badge : interdites par défaut (réponse OCPP ConcurrentTx).")
@click.option("--tenant", "tenant_id", required=True, help="Identifiant du bénéficiaire")
@click.option("--allow-concurrent/--forbid-concurrent", "allowed", default=None,
              help="Autoriser ou interdire qu'un badge déjà en recharge en démarre une autre (sans option : l'état actuel)")
@click.option("--json", "as_json", is_flag=True)
def stations_badge_sessions(tenant_id: str, allowed: bool | None, as_json: bool) -> None:
    from app.errors import NotFound
    from csms.domain.badges import concurrent_sessions_allowed, set_concurrent_sessions_allowed

    tid = _tenant(tenant_id)

    async def work(session: Any) -> bool:
        if allowed is not None:
            await set_concurrent_sessions_allowed(session, tid, allowed)
        return await concurrent_sessions_allowed(session, tid)

    try:
        now = asyncio.run(_in_tenant(load_settings(), tid, work))
    except NotFound as exc:
        raise click.ClickException(f"introuvable : {exc}") from None
    if as_json:
        click.echo(json.dumps({"allow_concurrent_badge_sessions": now}))
    else:
        click.echo("un badge peut mener plusieurs recharges en même temps" if now else
                   "un badge déjà en recharge se voit refuser une deuxième recharge (ConcurrentTx)")


@stations.command("simulate", help="Simule une borne OCPP 1.6 : démarrage, états, une recharge avec relevés, puis battements.")
@click.option("--charge-box-id", required=True, help="Identité OCPP d'une borne enregistrée")
@click.option("--password", default=None, help="Mot de passe de la borne (défaut : celui des bornes de démonstration)")
@click.option("--url", default=None, help="Adresse de l'ingress, ex. ws://127.0.0.1:9000/ocpp (défaut : réglages)")
@click.option("--id-tag", default="04A2B3C4D5E6F7", show_default=True, help="Badge présenté")
@click.option("--connector", "connector_id", default=1, show_default=True, type=click.IntRange(1, 99))
@click.option("--samples", default=6, show_default=True, type=click.IntRange(0, 10_000), help="Relevés de compteur")
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(0, 3600), help="Secondes entre relevés")
@click.option("--exit", "exit_after", is_flag=True, help="Se déconnecter après la recharge (sinon : battements jusqu'à Ctrl-C)")
def stations_simulate(charge_box_id: str, password: str | None, url: str | None, id_tag: str, connector_id: int,
                      samples: int, interval: float, exit_after: bool) -> None:
    from websockets.exceptions import InvalidStatus

    from csms.demo import DEMO_STATION_PASSWORD
    from csms.simulator import Scenario, run_simulation

    if url is None:
        settings = load_settings()
        host = "127.0.0.1" if settings.ocpp_host in ("0.0.0.0", "::", "") else settings.ocpp_host  # noqa: S104
        url = f"ws://{host}:{settings.ocpp_port}/ocpp"
    scenario = Scenario(url=url, charge_box_id=charge_box_id, password=password or DEMO_STATION_PASSWORD, id_tag=id_tag,
                        connector_id=connector_id, connectors=max(2, connector_id), samples=samples,
                        sample_interval=interval, stay=not exit_after)
    click.echo(f"Borne {charge_box_id} → {url}/{charge_box_id}")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            result = asyncio.run(run_simulation(scenario, click.echo))
            click.echo(json.dumps(result, ensure_ascii=False))
    except InvalidStatus as exc:
        status = exc.response.status_code
        reason = {404: "borne inconnue", 401: "mot de passe refusé"}.get(status, "connexion refusée")
        raise click.ClickException(f"{reason} (HTTP {status})") from None
    except OSError as exc:
        raise click.ClickException(f"ingress injoignable à {url} : {exc}") from None


@click.command(help="Ingress OCPP seul (mode mis à l'échelle) : ws://HOST:PORT/ocpp/{charge_box_id}.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processus sur le même port (SO_REUSEPORT, Linux) : un par cœur.")
def ingress(processes: int) -> None:
    from csms.domain.certificates import check_authority
    from csms.ingress.processes import run_ingress_processes, serve_ingress

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    try:
        check_authority(settings)  # a wrong CA file is one line here, not a traceback from the ingress
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if processes > 1 and not settings.ocpp_port:
        raise click.UsageError("--processes demande un port fixe (CENTRALE_OCPP_PORT) : les processus le partagent.")
    click.echo(f"Ingress OCPP : ws://{settings.ocpp_host}:{settings.ocpp_port}/ocpp/{{charge_box_id}}"
               + (f" ({processes} processus)" if processes > 1 else ""))
    if processes > 1:
        sys.exit(run_ingress_processes(settings, processes))
    asyncio.run(serve_ingress(settings))  # until SIGTERM / SIGINT, then a graceful stop
