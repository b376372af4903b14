"""The e-mails of incidents, in French, with every instant in the tenant's zone: the written acknowledgement to
the reporter, the closure summary to the site's local referent, the deadline notices to the titulaire's
operators and the tenant's admins. Who receives them comes from ``tenants.services``; the texts are built
here from the ticket and its clocks, and sent by ``incidents.subscribers`` (``app.mail.deliver_email``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from incidents.models import CHANNELS, Intervention, Ticket
from incidents.notices import BREACH, CLOCK_LABELS
from incidents.sla import DeadlineClock
from incidents.tickets import tenant_calendar, ticket_clocks
from tenants import services as tenants
from tenants.territories import zone_time_label

__all__ = ["ACK_CHANNELS", "Mail", "acknowledgement", "closure_summary", "deadline_notice"]

#: Channels whose reporter gets a written acknowledgement: a person reported it to the operator by phone or
#: e-mail (CANUT 6.6 « En cas de signalement par téléphone, ce signalement fait l'objet d'une confirmation
#: écrite »), or in the portal; not the supervision's alerts, the preventive checks nor the API's machines.
ACK_CHANNELS = ("portal", "phone", "email")

_CHANNEL_WORDS = {"portal": "sur le portail", "phone": "par téléphone", "email": "par courriel", "api": "par l'API",
                  "supervision": "par la supervision", "maintenance": "par la maintenance préventive"}
SIGNATURE = "\n-- \nCentrale — support du titulaire\nMerci de rappeler le numéro du ticket dans tout échange.\n"


@dataclass(frozen=True)
class Mail:
    """One e-mail to write: the same text to each of ``to``."""

    to: tuple[str, ...]
    subject: str
    body: str


def _at(moment: dt.datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(zone)
    return f"{local:%d/%m/%Y} à {local:%H:%M} ({zone_time_label(zone.key)})"


def _duration(span: dt.timedelta) -> str:
    minutes = max(0, round(span.total_seconds() / 60))
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d}" if hours else f"{rest} min"


async def _context(session: AsyncSession, ticket: Ticket) -> tuple[str, str, ZoneInfo]:
    tenant = await tenants.get_tenant(session, ticket.tenant_id)
    site = ""
    if ticket.site_id is not None:
        try:
            site = (await tenants.access_site(session, ticket.tenant_id, ticket.site_id)).name
        except NotFound:
            site = ""
    zone = (await tenant_calendar(session, ticket.tenant_id)).zone
    return tenant.name, site, zone


def _concerns(ticket: Ticket) -> str:
    if ticket.charge_box_id:
        return f"borne {ticket.charge_box_id}" + (f", point {ticket.connector_id}" if ticket.connector_id else "")
    return "équipement du parc" if ticket.asset_id else ""


def _qualification(ticket: Ticket, *targets: DeadlineClock | None) -> str:
    found = next((t for t in targets if t is not None), None)
    return found.label if found is not None else ticket.level


def _deadline_line(target: DeadlineClock | None, name: str, zone: ZoneInfo) -> str:
    if target is None:
        return f"- {name} : sans objet pour ce niveau"
    return f"- {name} : au plus tard le {_at(target.deadline, zone)} — {target.delay.describe()}"


async def acknowledgement(session: AsyncSession, ticket: Ticket, now: dt.datetime) -> Mail | None:
    """CCTP CANUT 6.6: « Le Titulaire accuse réception de l'incident ou de l'alerte. En cas de signalement par
    téléphone, ce signalement fait l'objet d'une confirmation écrite. Les délais de résolution courent à compter
    de la première information du Titulaire par le Bénéficiaire. » CCTP CPAM 5-5-6-2: « A chaque sollicitation
    de la hotline, un ticket de service est émis ». The number and the deadlines, in the tenant's zone; None
    when the channel needs none or the reporter has no address."""
    if ticket.channel not in ACK_CHANNELS:
        return None
    to = ticket.reporter_email
    if not to and ticket.reporter_user_id is not None:
        users = await tenants.users_by_ids(session, [ticket.reporter_user_id])
        to = users[0].email if users and users[0].is_active else ""
    if not to:
        return None
    tenant, site, zone = await _context(session, ticket)
    clock = await ticket_clocks(session, ticket, now)
    lines = [
        f"Bonjour{' ' + ticket.reporter_name if ticket.reporter_name else ''},",
        "",
        f"Nous accusons réception de votre signalement, enregistré sous le numéro {ticket.number}.",
        "",
        f"Objet : {ticket.title}",
        f"Bénéficiaire : {tenant}",
    ]
    if site:
        lines.append(f"Site : {site}")
    if _concerns(ticket):
        lines.append(f"Concerne : {_concerns(ticket)}")
    lines += [
        f"Signalé le {_at(ticket.reported_at, zone)}, {_CHANNEL_WORDS.get(ticket.channel, CHANNELS[ticket.channel])}",
        f"Qualification : {_qualification(ticket, clock.intervention, clock.restoration)}",
        "",
        "Délais contractuels :",
        _deadline_line(clock.intervention, "Intervention", zone),
        _deadline_line(clock.restoration, "Rétablissement", zone),
        "",
        "Les délais courent à compter de la première information du titulaire ; ils sont suspendus tant que"
        " nous attendons une réponse de votre part.",
    ]
    return Mail((to,), f"[{ticket.number}] Accusé de réception de votre signalement", "\n".join(lines) + SIGNATURE)


def _verdict(target: DeadlineClock | None, name: str, zone: ZoneInfo) -> str:
    if target is None:
        return f"- {name} : sans objet"
    done = f"atteint le {_at(target.reached_at, zone)}" if target.reached_at else "non atteint"
    kept = "respecté" if target.met else "dépassé" if target.met is False else "en cours"
    return f"- {name} : échéance le {_at(target.deadline, zone)}, {done} — {kept}"


async def closure_summary(session: AsyncSession, ticket: Ticket, *, deemed: bool, now: dt.datetime) -> Mail | None:
    """CCTP CAIH 2.1.5: « il est demandé que la clôture d'un incident soit effectuée avec l'aval du bénéficiaire
    et que le workflow prévoit l'envoi d'un mail récapitulatif au référent local du marché ». To the site's
    referent (``tenants.services.site_referent``); a site without one: to the tenant's admins, told so."""
    referent = await tenants.site_referent(session, ticket.tenant_id, ticket.site_id)
    missing = ""
    if referent is not None:
        to: tuple[str, ...] = (referent[1],)
        hello = f"Bonjour{' ' + referent[0] if referent[0] else ''},"
    else:
        to = tuple(await tenants.member_emails(session, ticket.tenant_id, ["admin"]))
        hello = "Bonjour,"
        missing = ("Aucun référent local n'est renseigné pour ce site : ce récapitulatif est adressé aux"
                   " administrateurs du bénéficiaire (fiche du site, « Référent local du marché »).")
    if not to:
        return None
    tenant, site, zone = await _context(session, ticket)
    clock = await ticket_clocks(session, ticket, now)
    interventions = list(await session.scalars(select(Intervention).where(
        Intervention.tenant_id == ticket.tenant_id, Intervention.ticket_id == ticket.id)
        .order_by(Intervention.started_at)))
    consent = ("réputée acceptée à l'expiration du délai fixé par le bénéficiaire" if deemed
               else "acceptée par l'administrateur du bénéficiaire")
    lines = [hello, "", f"L'incident {ticket.number} est clos : sa résolution a été {consent}.", ""]
    if missing:
        lines += [missing, ""]
    lines += [f"Objet : {ticket.title}", f"Bénéficiaire : {tenant}"]
    if site:
        lines.append(f"Site : {site}")
    if _concerns(ticket):
        lines.append(f"Concerne : {_concerns(ticket)}")
    lines += [
        f"Signalé le {_at(ticket.reported_at, zone)}, {_CHANNEL_WORDS.get(ticket.channel, ticket.channel)}",
        f"Résolu le {_at(ticket.resolved_at, zone)}",
        f"Clos le {_at(ticket.closed_at, zone)}",
        f"Qualification : {_qualification(ticket, clock.intervention, clock.restoration)}",
    ]
    if ticket.reopen_count:
        lines.append(f"Réouvertures : {ticket.reopen_count} (le temps déjà consommé est compté, CCTP CAIH 2.1.22)")
    lines += ["", "Délais :", _verdict(clock.intervention, "Intervention", zone),
              _verdict(clock.restoration, "Rétablissement", zone), "", f"Interventions : {len(interventions) or 'aucune'}"]
    for row in interventions:
        mode = "sur site" if row.mode == "on_site" else "à distance"
        who = f", {row.technician}" if row.technician else ""
        end = f" au {_at(row.ended_at, zone)}" if row.ended_at else ""
        lines.append(f"- {mode}{who}, du {_at(row.started_at, zone)}{end}")
        if row.actions:
            lines.append(f"  Actions : {row.actions.strip()[:500]}")
    return Mail(to, f"[{ticket.number}] Incident clos — récapitulatif", "\n".join(lines) + SIGNATURE)


async def deadline_notice(session: AsyncSession, ticket: Ticket, *, clock: str, threshold: int,
                          deadline: dt.datetime, allowed: dt.timedelta, consumed: dt.timedelta,
                          now: dt.datetime) -> Mail | None:
    """75 % of a delay, or its breach: to the titulaire's operators serving the tenant and its admins."""
    to = tuple(await tenants.member_emails(session, ticket.tenant_id, ["operator", "admin"]))
    if not to:
        return None
    tenant, site, zone = await _context(session, ticket)
    clocks = await ticket_clocks(session, ticket, now)
    target = clocks.intervention if clock == "intervention" else clocks.restoration
    what = CLOCK_LABELS.get(clock, clock)
    if threshold >= BREACH:
        subject = f"[{ticket.number}] {what[0].upper()}{what[1:]} dépassé"
        head = f"Le {what} du ticket {ticket.number} est dépassé : l'échéance était le {_at(deadline, zone)}."
    else:
        subject = f"[{ticket.number}] {threshold} % du {what} atteints"
        head = (f"{threshold} % du {what} du ticket {ticket.number} sont consommés : l'échéance est le"
                f" {_at(deadline, zone)}, dans {_duration(max(allowed - consumed, dt.timedelta(0)))} de temps décompté.")
    lines = ["Bonjour,", "", head, "", f"Objet : {ticket.title}", f"Bénéficiaire : {tenant}"]
    if site:
        lines.append(f"Site : {site}")
    lines += [f"Signalé le {_at(ticket.reported_at, zone)}",
              f"Qualification : {_qualification(ticket, target)}"]
    if target is not None:
        lines.append(f"Délai : {target.delay.describe()}")
    lines.append(f"Temps décompté : {_duration(consumed)} sur {_duration(allowed)}")
    return Mail(to, subject, "\n".join(lines) + SIGNATURE)
