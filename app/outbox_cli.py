"""``centrale outbox status|retry|ignore|relay``: the operator's view of the durable events (docs/events.md)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from app.settings import Settings, SettingsError

__all__ = ["outbox"]

T = TypeVar("T")
STATUS_LABELS = {"pending": "en attente", "failed": "en échec", "delivered": "livrées", "ignored": "ignorées"}


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _with_db(work: Callable[[Any], Awaitable[T]]) -> T:
    from app.db import Database

    async def go() -> T:
        database = Database(_settings().database_url, pool_size=1)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(go())


def _event_id(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise click.BadParameter("identifiant d'événement invalide (UUID attendu)") from None


async def _wake_relays(settings: Settings) -> None:
    """Scaled mode: the workers' relays try the deliveries now (embedded: the server's sweep, within seconds)."""
    if settings.embedded:
        return
    from app.bus import create_bus
    from app.outbox import WAKE_TOPIC

    bus = await create_bus(settings)
    try:
        await bus.publish(WAKE_TOPIC, {})
    finally:
        await bus.close()


@click.group(help="Événements durables (outbox) : livraisons en attente ou en échec, nouvel essai, relais.")
def outbox() -> None:
    pass


@outbox.command("status", help="Livraisons en attente (nouveaux essais compris) et en échec, avec leurs tentatives "
                               "et la dernière erreur.")
@click.option("--all", "show_all", is_flag=True, help="Lister aussi les livraisons faites et ignorées")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def outbox_status(show_all: bool, limit: int, as_json: bool) -> None:
    from app.outbox import DELIVERED, FAILED, IGNORED, PENDING, outbox_report

    statuses = (PENDING, FAILED, DELIVERED, IGNORED) if show_all else (PENDING, FAILED)
    report = _with_db(lambda db: outbox_report(db, statuses=statuses, limit=limit))
    if as_json:
        click.echo(json.dumps({
            "counts": report.counts, "undispatched": report.undispatched,
            "deliveries": [{
                "event_id": str(row.event_id), "subscriber": row.subscriber, "topic": row.topic,
                "tenant_id": str(row.tenant_id) if row.tenant_id else None, "status": row.status,
                "attempts": row.attempts, "next_attempt_at": row.next_attempt_at.isoformat(),
                "last_error": row.last_error, "created_at": row.created_at.isoformat(),
            } for row in report.rows],
        }, ensure_ascii=False))
        return
    counts = ", ".join(f"{STATUS_LABELS.get(status, status)} : {report.counts.get(status, 0)}"
                       for status in (PENDING, FAILED, DELIVERED, IGNORED))
    click.echo(f"livraisons — {counts} ; événements pas encore répartis : {report.undispatched}")
    for row in report.rows:
        state = STATUS_LABELS.get(row.status, row.status)
        line = (f"{row.event_id}  {row.topic}  → {row.subscriber}  [{state}, {row.attempts} tentative(s)"
                + (f", prochain essai {row.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC" if row.status == PENDING else "")
                + "]")
        click.echo(line)
        if row.last_error:
            click.echo(f"    dernière erreur : {row.last_error}")


@outbox.command("retry", help="Réessaie maintenant les livraisons en échec d'un événement (ou toutes : --failed), "
                              "avec un nouveau jeu de tentatives.")
@click.argument("event_id", required=False)
@click.option("--failed", "all_failed", is_flag=True, help="Toutes les livraisons en échec")
@click.option("--subscriber", default=None, help="Un seul abonné")
@click.option("--pending", "include_pending", is_flag=True, help="Aussi celles qui attendent leur prochain essai")
@click.option("--json", "as_json", is_flag=True)
def outbox_retry(event_id: str | None, all_failed: bool, subscriber: str | None, include_pending: bool,
                 as_json: bool) -> None:
    from app.outbox import retry_deliveries

    if (event_id is None) == (not all_failed):
        raise click.UsageError("donnez un identifiant d'événement, ou --failed pour toutes les livraisons en échec")
    eid = _event_id(event_id)

    async def work(db: Any) -> int:
        count = await retry_deliveries(db, event_id=eid, subscriber=subscriber, include_pending=include_pending)
        if count:
            await _wake_relays(_settings())
        return count

    count = _with_db(work)
    click.echo(json.dumps({"retried": count}) if as_json else f"livraisons relancées : {count}")


@outbox.command("ignore", help="Abandonne les livraisons en attente ou en échec d'un événement (elles restent "
                               "listées, « ignorées »).")
@click.argument("event_id")
@click.option("--subscriber", default=None, help="Un seul abonné")
@click.option("--json", "as_json", is_flag=True)
def outbox_ignore(event_id: str, subscriber: str | None, as_json: bool) -> None:
    from app.outbox import ignore_deliveries

    eid = _event_id(event_id)
    assert eid is not None
    count = _with_db(lambda db: ignore_deliveries(db, event_id=eid, subscriber=subscriber))
    click.echo(json.dumps({"ignored": count}) if as_json else f"livraisons ignorées : {count}")


@outbox.command("relay", help="Relais seul : livre les événements durables jusqu'à SIGTERM (en plus de ceux des "
                              "workers, ou quand le serveur embarqué a CENTRALE_OUTBOX_RELAY=false).")
def outbox_relay() -> None:
    from app.server import run_relay

    asyncio.run(run_relay(_settings()))
