"""The incidents component's demo data: each demo tenant's SLA policy from its agreement's template
and a few tickets at every step of the workflow, dated relative to now (so that the lists, the
clocks, the work queue and last month's indicators have something to show).

Idempotent: each demo ticket has an ``origin`` (``demo:<tenant>:<n>``); one that exists is left as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from incidents import tickets as svc
from incidents.models import Ticket

__all__ = ["load"]

ACTOR = {"user_id": None, "label": "démo"}
TECHNICIAN = {"user_id": None, "label": "Thomas Technicien (titulaire)"}

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


@dataclass(frozen=True)
class Step:
    """One thing done on the ticket, ``after`` its first information."""

    after: dt.timedelta
    kind: str
    reason: str = ""
    #: An intervention: ``(mode, duration, actions, parts)``.
    intervention: tuple[str, dt.timedelta, str, tuple[dict[str, Any], ...]] | None = None


@dataclass(frozen=True)
class DemoTicket:
    ago: dt.timedelta
    title: str
    description: str
    channel: str
    level: str | None = None
    restoration_level: str | None = None
    incident_type: str | None = None
    charge_box_id: str | None = None
    connector_id: int | None = None
    steps: Sequence[Step] = field(default=())
    #: Reported on this weekday (0 = Monday) at 08:30 UTC of the week ``ago`` falls in, for a ticket whose
    #: business-time verdict must not depend on the day the demo is loaded (a Friday evening start would
    #: put a weekend inside its repair time).
    weekday: int | None = None

    def reported(self, now: dt.datetime) -> dt.datetime:
        at = now - self.ago
        if self.weekday is None:
            return at
        monday = (at - dt.timedelta(days=at.weekday())).replace(hour=8, minute=30, second=0, microsecond=0)
        return monday + dt.timedelta(days=self.weekday)


def _intervention(mode: str, hours: float, actions: str, *parts: dict[str, Any]) -> Step:
    return Step(dt.timedelta(), "intervention", intervention=(mode, dt.timedelta(hours=hours), actions, parts))


def _at(after: dt.timedelta, step: Step) -> Step:
    return Step(after, step.kind, step.reason, step.intervention)


DEMO_TICKETS: dict[str, list[DemoTicket]] = {
    # CCTP CPAM 5-4-4 / 5-4-5: levels 1-3 for the intervention, 1-4 for the restoration.
    "cpam": [
        DemoTicket(3 * H, "Point de charge 2 hors service", "Le point 2 affiche un défaut et refuse les badges.",
                   "phone", level="2", restoration_level="2", charge_box_id="CPAM-LM-01", connector_id=2,
                   steps=[Step(10 * dt.timedelta(minutes=1), "acknowledge"), Step(40 * dt.timedelta(minutes=1), "start"),
                          _at(45 * dt.timedelta(minutes=1),
                              _intervention("remote", 0.5, "Redémarrage à distance, défaut persistant."))]),
        DemoTicket(28 * H, "Badge d'un agent refusé", "Le badge de l'agent n'est accepté par aucune borne.",
                   "portal", level="telemaintenance",
                   steps=[Step(H, "acknowledge"), _at(2 * H, _intervention("remote", 0.5, "Liste locale rechargée.")),
                          Step(3 * H, "resolve")]),
        DemoTicket(34 * D, "Câble de charge endommagé", "Gaine du câble fendue sur la borne du parking visiteurs.",
                   "portal", level="3", restoration_level="3", charge_box_id="CPAM-LM-03",
                   steps=[Step(H, "acknowledge"),
                          _at(2 * D, _intervention("on_site", 1.5, "Remplacement du câble T2.",
                                                   {"label": "Câble T2 32 A 7 m", "quantity": 1})),
                          Step(2 * D + 2 * H, "resolve"), Step(3 * D, "accept")]),
    ],
    # CCTP CAIH 2.1.22: GTR 4 h / 10 h / 50 h in business hours.
    "chr": [
        DemoTicket(2 * H, "Alimentation redondante en alarme", "Une des deux alimentations du serveur ESX-03 est en "
                   "défaut.", "phone", level="50h"),
        DemoTicket(33 * D, "Disque en défaut sur la baie de stockage", "Voyant orange sur le disque 7 de la baie.",
                   "email", level="4h", weekday=1,
                   steps=[Step(20 * dt.timedelta(minutes=1), "acknowledge"),
                          _at(H, _intervention("on_site", 1, "Disque remplacé, reconstruction lancée.",
                                               {"label": "Disque SAS 2,4 To", "quantity": 1})),
                          Step(2 * H + 30 * dt.timedelta(minutes=1), "resolve"), Step(D, "accept")]),
        DemoTicket(31 * D, "Serveur de messagerie arrêté", "Le serveur ne redémarre plus après une coupure.",
                   "phone", level="10h", weekday=1,
                   steps=[Step(30 * dt.timedelta(minutes=1), "acknowledge"),
                          _at(H, _intervention("remote", 1, "Diagnostic : carte mère en défaut.")),
                          _at(2 * D, _intervention("on_site", 3, "Carte mère remplacée.",
                                                   {"label": "Carte mère", "quantity": 1})),
                          Step(2 * D + 4 * H, "resolve"), Step(3 * D, "accept")]),
    ],
    # CCTP CANUT 6.6: Bloquant / Majeur / Mineur, P0 / P1 / P2.
    "commune": [
        DemoTicket(26 * H, "Passerelle LoRaWAN injoignable", "Plus aucune remontée des capteurs du gymnase.", "portal",
                   incident_type="bloquant",
                   steps=[Step(15 * dt.timedelta(minutes=1), "acknowledge"),
                          Step(2 * H, "wait", reason="accès au toit du gymnase à organiser par la commune")]),
        DemoTicket(32 * D, "Capteur de température muet", "Le capteur de la salle 12 ne remonte plus de mesure.",
                   "portal", incident_type="mineur",
                   steps=[Step(2 * H, "acknowledge"), _at(D, _intervention("remote", 0.5, "Capteur réappairé.")),
                          Step(D + H, "resolve"), Step(2 * D, "accept")]),
    ],
    # CCP TGD annexe 1 I.4: a faulty terminal exchanged within 24 h, around the clock.
    "tj": [
        DemoTicket(5 * H, "Terminal d'alerte sans tonalité", "Le terminal ne déclenche plus l'appel de test.", "phone",
                   level="echange", steps=[Step(30 * dt.timedelta(minutes=1), "acknowledge")]),
    ],
}


async def _play(session: AsyncSession, tenant_id: Any, site_id: Any, key: str, n: int, spec: DemoTicket,
                now: dt.datetime) -> bool:
    origin = f"demo:{key}:{n}"
    if await session.scalar(select(Ticket.id).where(Ticket.tenant_id == tenant_id, Ticket.origin == origin)):
        return False
    reported = spec.reported(now)
    ticket = await svc.open_ticket(
        session, tenant_id, now=reported, title=spec.title, description=spec.description, channel=spec.channel,
        actor=ACTOR, reported_at=reported, site_id=site_id, charge_box_id=spec.charge_box_id,
        connector_id=spec.connector_id, level=spec.level, restoration_level=spec.restoration_level,
        incident_type=spec.incident_type, reporter_name="Référent du site (démo)", origin=origin)
    for step in spec.steps:
        at = reported + step.after
        if step.intervention is not None:
            mode, duration, actions, parts = step.intervention
            await svc.record_intervention(session, ticket, now=at + duration, mode=mode, started_at=at,
                                          ended_at=at + duration, technician="Thomas Technicien", actions=actions,
                                          parts=parts, report=actions, report_at=at + duration, actor=TECHNICIAN)
        else:
            await svc.add_event(session, ticket, step.kind, now=at, at=at, reason=step.reason,
                                actor=ACTOR if step.kind == "accept" else TECHNICIAN, consent=step.kind == "accept")
    return True


async def load(session: AsyncSession, demo: dict[str, Any]) -> dict[str, Any]:
    """Policies and tickets of the demo tenants put in ``demo`` by ``tenants``."""
    now = utcnow()
    opened = 0
    for key, tenant in demo.get("tenants", {}).items():
        await svc.current_policy(session, tenant.id, ACTOR)  # from the agreement's template
        site = demo.get("first_sites", {}).get(key)
        for n, spec in enumerate(DEMO_TICKETS.get(key, []), start=1):
            opened += await _play(session, tenant.id, site.id if site else None, key, n, spec, now)
    return {"tickets": opened}
