"""``centrale sla``: deadlines and business time from the command line.

    centrale sla add --territory metropole --calendar ho-8-17 --start 2026-11-20T16:30+01:00 --hours 4
    centrale sla add --territory metropole --start 2026-04-28T10:00Z --working-days 14 --kind ouvrables
    centrale sla between --territory 971 --calendar ho-8-18 --start ... --end ...
    centrale sla policy set --tenant ID --template caih-maintenance-24x7
    centrale sla policy show --tenant ID [--json]
    centrale sla backfill-restoration [--tenant ID] [--json]
    centrale maintenance monthly --tenant ID [--month 2026-11] [--json]

With ``--json`` the result is one JSON object (``deadline`` as ISO 8601 with the
territory's offset, or ``business_seconds``). Bad input prints a French message on
stderr and exits with status 2; click's own parsing errors are reworded the same way.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import click

from tenants.calendars import DAY_KINDS, PRESETS, BusinessCalendar
from tenants.territories import TERRITORIES

__all__ = ["maintenance", "sla"]

_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")


class SlaInputError(click.ClickException):
    """Bad input: a French message on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"Erreur : {self.message}", err=True)


class _Command(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise SlaInputError(f"option inconnue : {exc.option_name}") from None
        except click.BadOptionUsage as exc:
            raise SlaInputError(f"l'option {exc.option_name} attend une valeur") from None
        except click.UsageError as exc:
            raise SlaInputError(f"ligne de commande invalide ({exc.format_message()})") from None


class _Group(click.Group):
    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            raise SlaInputError(
                f"commande inconnue : {args[0] if args else ''} (attendu : {', '.join(self.commands)})"
            ) from None


@click.group(name="sla", cls=_Group,
             help="Délais de service : heures ouvrées, jours ouvrés, ouvrables ou calendaires.")
def sla() -> None:
    pass


# --------------------------------------------------------------------------- parsing


def _calendar(territory: str | None, name: str | None) -> BusinessCalendar:
    if not territory:
        raise SlaInputError(f"--territory est obligatoire (territoires : {', '.join(TERRITORIES)})")
    if territory not in TERRITORIES:
        raise SlaInputError(f"territoire inconnu : {territory!r} (attendu : {', '.join(TERRITORIES)})")
    if not name:
        raise SlaInputError(f"--calendar est obligatoire (calendriers : {', '.join(PRESETS)})")
    if name not in PRESETS:
        raise SlaInputError(f"calendrier inconnu : {name!r} (attendu : {', '.join(PRESETS)})")
    return BusinessCalendar.preset(territory, name)


def _instant(option: str, text: str | None) -> datetime:
    if not text:
        raise SlaInputError(f"{option} est obligatoire (date ISO 8601 avec décalage, ex. 2026-11-20T16:30+01:00)")
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SlaInputError(
            f"date invalide pour {option} : {text!r} (attendu : ISO 8601, ex. 2026-11-20T16:30+01:00 ou ...Z)"
        ) from None
    if value.tzinfo is None:
        raise SlaInputError(f"la date {option} doit indiquer son décalage horaire (ex. +01:00 ou Z) : {text!r}")
    return value


def _amount(option: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise SlaInputError(f"nombre invalide pour {option} : {text!r}") from None
    if not value.is_finite():
        raise SlaInputError(f"nombre invalide pour {option} : {text!r}")
    if value < 0:
        raise SlaInputError(f"{option} ne peut pas être négatif : {text}")
    return value


def _human_instant(value: datetime) -> str:
    offset = value.strftime("%z")
    return (
        f"{_DAYS[value.weekday()]} {value.day} {_MONTHS[value.month - 1]} {value.year} à {value:%H:%M}"
        + (f":{value:%S}" if value.second or value.microsecond else "")
        + f" ({value.tzinfo}, UTC{offset[:3]}:{offset[3:]})"
    )


def _human_duration(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes:
        parts.append(f"{minutes} min")
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


# --------------------------------------------------------------------------- commands


@sla.command("add", cls=_Command, help=(
    "Échéance : START plus une durée ouvrée (--hours / --minutes, dans le calendrier --calendar) "
    "ou un nombre de jours (--working-days, de type --kind). L'échéance est donnée dans le "
    "fuseau du territoire."
))
@click.option("--territory", help=f"Territoire : {', '.join(TERRITORIES)}.")
@click.option("--calendar", "calendar_name", help=f"Plage horaire : {', '.join(PRESETS)}.")
@click.option("--start", help="Début, ISO 8601 avec décalage ou Z (ex. 2026-11-20T16:30+01:00).")
@click.option("--hours", help="Heures ouvrées à ajouter (décimales admises).")
@click.option("--minutes", help="Minutes ouvrées à ajouter.")
@click.option("--working-days", help="Nombre de jours à ajouter.")
@click.option("--kind", default="ouvres", show_default=True, help=f"Type de jours : {', '.join(DAY_KINDS)}.")
@click.option("--end-of-day", is_flag=True, help="Avec --working-days : échéance à la fin du dernier jour.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON : {\"deadline\": \"...\"}.")
def add(territory: str | None, calendar_name: str | None, start: str | None, hours: str | None,
        minutes: str | None, working_days: str | None, kind: str, end_of_day: bool, as_json: bool) -> None:
    given = [name for name, value in (("--hours", hours), ("--minutes", minutes),
                                      ("--working-days", working_days)) if value is not None]
    if len(given) != 1:
        raise SlaInputError("indiquer exactement une durée : --hours, --minutes ou --working-days")
    begin = _instant("--start", start)
    try:
        if working_days is not None:
            if kind not in DAY_KINDS:
                raise SlaInputError(f"type de jours inconnu : {kind!r} (attendu : {', '.join(DAY_KINDS)})")
            days = _amount("--working-days", working_days)
            if days != days.to_integral_value():
                raise SlaInputError(f"--working-days doit être un nombre entier : {working_days}")
            calendar = _calendar(territory, calendar_name or "ho-8-18")
            deadline = calendar.add_days(begin, int(days), kind, end_of_day=end_of_day)
        else:
            calendar = _calendar(territory, calendar_name)
            if hours is not None:
                seconds = _amount("--hours", hours) * 3600
            else:
                seconds = _amount("--minutes", minutes or "") * 60
            deadline = calendar.add_business_time(begin, timedelta(seconds=float(seconds)))
    except (ValueError, OverflowError) as exc:
        raise SlaInputError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"deadline": deadline.isoformat()}))
    else:
        click.echo(f"Échéance : {_human_instant(deadline)}")


@sla.command("between", cls=_Command, help=(
    "Temps ouvré entre START et END dans le calendrier --calendar du territoire."
))
@click.option("--territory", help=f"Territoire : {', '.join(TERRITORIES)}.")
@click.option("--calendar", "calendar_name", help=f"Plage horaire : {', '.join(PRESETS)}.")
@click.option("--start", help="Début, ISO 8601 avec décalage ou Z.")
@click.option("--end", help="Fin, ISO 8601 avec décalage ou Z.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON : {\"business_seconds\": N}.")
def between(territory: str | None, calendar_name: str | None, start: str | None, end: str | None,
            as_json: bool) -> None:
    calendar = _calendar(territory, calendar_name)
    begin, finish = _instant("--start", start), _instant("--end", end)
    if finish < begin:
        raise SlaInputError("la fin (--end) précède le début (--start)")
    try:
        spent = calendar.business_time_between(begin, finish)
    except (ValueError, OverflowError) as exc:
        raise SlaInputError(str(exc)) from None
    seconds = spent / timedelta(seconds=1)
    value: float | int = int(seconds) if seconds == int(seconds) else seconds
    if as_json:
        click.echo(json.dumps({"business_seconds": value}))
    else:
        click.echo(f"Temps ouvré : {_human_duration(seconds)} ({value} secondes, calendrier {calendar.name})")


# --------------------------------------------------------------------------- the tenant's policy


@sla.group("policy", cls=_Group, help="Politique de service d'un bénéficiaire : voir, changer de modèle.")
def policy() -> None:
    pass


def _tenant_id(value: str | None) -> Any:
    import uuid

    if not value:
        raise SlaInputError("--tenant est obligatoire (identifiant du bénéficiaire)")
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise SlaInputError(f"identifiant de bénéficiaire invalide : {value!r}") from None


def _in_tenant(tenant_id: Any, work: Any) -> Any:
    """Run ``work(session)`` in one audited transaction of the tenant (the audit log names « cli »)."""
    from app.commandline import CLI_ACTOR, run
    from app.db import Database, unscoped
    from app.errors import NotFound
    from tenants.services import get_tenant

    async def go(settings: Any) -> Any:
        database = Database(settings.database_url)
        try:
            async with database.transaction([tenant_id], actor=CLI_ACTOR) as session:
                with unscoped(session):
                    await get_tenant(session, tenant_id)
                return await work(session)
        finally:
            await database.dispose()

    try:
        return run(go)
    except NotFound:
        raise click.ClickException(f"bénéficiaire introuvable : {tenant_id}") from None


def _policy_payload(row: Any) -> dict[str, Any]:
    from incidents.actions import stored_policy

    policy = stored_policy(row.policy)

    def delays(levels: Any) -> dict[str, Any]:
        return {code: {"label": level.label,
                       "intervention": level.intervention.describe() if level.intervention else None,
                       "restoration": level.restoration.describe() if level.restoration else None}
                for code, level in levels.items()}

    return {"version": row.version, "template": row.template, "code": policy.code, "label": policy.label,
            "article": policy.article, "created_at": row.created_at.isoformat(), "created_by": row.created_by,
            "levels": delays(policy.levels), "restoration_levels": delays(policy.restoration_levels)}


def _print_policy(payload: dict[str, Any], as_json: bool, headline: str) -> None:
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    click.echo(f"{headline} : {payload['label']} (modèle {payload['template']}, version {payload['version']}, "
               f"{payload['article']})")
    for title, levels in (("Niveaux", payload["levels"]), ("Niveaux de rétablissement", payload["restoration_levels"])):
        if not levels:
            continue
        click.echo(f"{title} :")
        for code, level in levels.items():
            parts = [f"intervention {level['intervention']}" if level["intervention"] else "",
                     f"rétablissement {level['restoration']}" if level["restoration"] else ""]
            click.echo(f"  {code} — {level['label']} : {' ; '.join(p for p in parts if p) or 'sans délai'}")


@policy.command("set", cls=_Command, help=(
    "Nouvelle version de la politique du bénéficiaire, faite d'un modèle (cpam-irve, canut-iot, canut-iot-24x7, "
    "caih-maintenance-ho, caih-maintenance-24x7, …). Les tickets ouverts gardent leur version."
))
@click.option("--tenant", "tenant", help="Identifiant du bénéficiaire.")
@click.option("--template", help="Code du modèle.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def policy_set(tenant: str | None, template: str | None, as_json: bool) -> None:
    from incidents.sla import TEMPLATES
    from incidents.tickets import set_policy_from_template

    tid = _tenant_id(tenant)
    code = (template or "").strip()
    if code not in TEMPLATES:
        raise SlaInputError(f"modèle inconnu : {code!r} (attendu : {', '.join(TEMPLATES)})" if code
                            else f"--template est obligatoire (modèles : {', '.join(TEMPLATES)})")

    async def work(session: Any) -> dict[str, Any]:
        return _policy_payload(await set_policy_from_template(session, tid, code))

    _print_policy(_in_tenant(tid, work), as_json, "Politique enregistrée")


@policy.command("show", cls=_Command, help="La politique de service en vigueur du bénéficiaire et ses délais.")
@click.option("--tenant", "tenant", help="Identifiant du bénéficiaire.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def policy_show(tenant: str | None, as_json: bool) -> None:
    from incidents.tickets import current_policy

    tid = _tenant_id(tenant)

    async def work(session: Any) -> dict[str, Any]:
        return _policy_payload(await current_policy(session, tid))

    _print_policy(_in_tenant(tid, work), as_json, "Politique en vigueur")


@sla.command("backfill-restoration", cls=_Command, help=(
    "Calcule le temps de rétablissement (CCTP CAIH 6.1) des tickets rétablis avant la migration 0043, à partir de "
    "leurs événements, comme à chaque événement ; relançable sans effet (les tickets déjà calculés sont laissés). "
    "Tous les bénéficiaires, ou celui de --tenant."
))
@click.option("--tenant", "tenant", help="Identifiant du bénéficiaire (par défaut : tous).")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON : {\"tenants\", \"examined\", \"filled\"}.")
def backfill_restoration(tenant: str | None, as_json: bool) -> None:
    """A command, not a data migration: the rule is the SLA engine's (the tenant's calendar and holidays, the
    ticket's policy version, its events), code that follows today's models, which a migration must not import (it
    has to run against its own revision's schema for ever); and it runs tenant by tenant in the application's
    scope (row-level security, the audit log naming « cli »), in short transactions of 200 tickets."""
    from app.commandline import CLI_ACTOR, emit, run
    from app.db import Database, unscoped, utcnow
    from app.errors import NotFound
    from incidents.tickets import backfill_restoration_seconds
    from tenants.services import all_tenant_ids, get_tenant

    chosen = _tenant_id(tenant) if tenant is not None else None

    async def go(settings: Any) -> dict[str, int]:
        database = Database(settings.database_url)
        now = utcnow()
        try:
            async with database.session() as session:
                if chosen is None:
                    tenant_ids = await all_tenant_ids(session)
                else:
                    with unscoped(session):
                        await get_tenant(session, chosen)
                    tenant_ids = [chosen]
            examined = filled = 0
            for tenant_id in tenant_ids:
                after = None
                while True:
                    async with database.transaction([tenant_id], actor=CLI_ACTOR) as session:
                        batch = await backfill_restoration_seconds(session, tenant_id, now=now, after=after)
                    examined, filled, after = examined + batch.examined, filled + batch.filled, batch.last_id
                    if after is None:
                        break
            return {"tenants": len(tenant_ids), "examined": examined, "filled": filled}
        finally:
            await database.dispose()

    try:
        done = run(go)
    except NotFound:
        raise click.ClickException(f"bénéficiaire introuvable : {chosen}") from None
    emit(as_json, done, f"Temps de rétablissement : {done['filled']} ticket(s) complété(s) sur {done['examined']} "
                        f"ticket(s) rétabli(s) sans durée, {done['tenants']} bénéficiaire(s).")


# --------------------------------------------------------------------------- preventive maintenance


@click.group(name="maintenance", cls=_Group, help="Maintenance préventive des points de charge (CCTP CPAM 5-4-2).")
def maintenance() -> None:
    pass


@maintenance.command("monthly", cls=_Command, help=(
    "Établit les rapports du contrôle à distance mensuel de chaque point de charge du bénéficiaire (CCTP CPAM "
    "5-4-2-1) et ouvre un ticket par défaut, une seule fois même si la commande est relancée."
))
@click.option("--tenant", "tenant", help="Identifiant du bénéficiaire.")
@click.option("--month", help="Mois AAAA-MM (par défaut : le mois précédent, dans le fuseau du bénéficiaire).")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def maintenance_monthly(tenant: str | None, month: str | None, as_json: bool) -> None:
    from app.commandline import CLI_ACTOR
    from app.db import utcnow
    from app.errors import ValidationFailed
    from incidents.indicator_data import tenant_zone
    from incidents.indicators import parse_month
    from incidents.maintenance import generate_month

    tid = _tenant_id(tenant)

    async def work(session: Any) -> dict[str, Any]:
        now = utcnow()
        try:
            chosen = parse_month(month, now.astimezone(await tenant_zone(session, tid)).date())
            done = await generate_month(session, tid, chosen, now=now, actor=CLI_ACTOR)
        except ValueError as exc:  # ValidationFailed included: a month not over
            raise SlaInputError("; ".join(exc.errors.values()) if isinstance(exc, ValidationFailed)
                                else str(exc)) from None
        return {"month": str(done.month), "points": done.points, "defects": done.defects,
                "tickets_opened": done.tickets_opened}

    payload = _in_tenant(tid, work)
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    click.echo(f"Rapports de {payload['month']} établis : {payload['points']} point(s) de charge, "
               f"{payload['defects']} en défaut, {len(payload['tickets_opened'])} ticket(s) ouvert(s)"
               + (f" ({', '.join(payload['tickets_opened'])})." if payload["tickets_opened"] else "."))
