"""What ``csms`` puts on the home pages (its manifest's home hooks, ``app.shell``), and the
agent's statement of its own charging sessions.

* A tenant's home (administrator, viewer, coordinator or operator in one tenant): the
  charge points by state with a link to the station list filtered by that state (CCTP CPAM
  5-5-4 « connaitre en temps réel l'état des points de charge »), the open alerts
  (« détecter via des alertes les défaillances »), today's charging sessions, the badges
  not yet loaded on every station (5-5-5-3).
* The central's home: its beneficiaries' chargers, availability over 30 days and open
  alerts (``columns``), and a chart of the central's charging sessions per day.
* The operator's work queue across its tenants: open alerts (out of service first, then
  offline), failed or unanswered remote commands of the last week (5-4-2-1), badges to load.
* ``/t/{tenant}/agent/releve.csv``: the agent's own sessions (CCTP CPAM 5-5-5 « Historique des
  charges de l'usager »; an amount column for 5-5-5-2, paid charging), through the kernel's
  formula-safe CSV writer (``app.exports``).

Figures come from ``csms.services``; every hook answers ``[]`` for a context it has
nothing for, so the homes (``tenants``) never name this component.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.exports import csv_bytes
from app.shell import Chart, Column, Figure, HomeCard, WorkItem
from csms import services
from csms.domain.alerts import FAULTED
from csms.domain.states import AVAILABLE, CHARGING, OFFLINE, OUT_OF_SERVICE, STATE_LABELS
from csms.web.supervision import TRANSACTION_LABELS
from tenants.context import CentralContext, TenantContext

__all__ = ["BENEFICIARY_COLUMNS", "beneficiary_values", "handlers", "home_cards", "work_items"]

#: The coordinator's table (CCTP CPAM 5-5: availability over the report period of the station pages).
AVAILABILITY_DAYS = 30
#: Failed commands older than this are no longer in the operator's queue.
COMMANDS_WINDOW = dt.timedelta(days=7)
#: Days of the central's activity chart.
ACTIVITY_DAYS = 30
#: The central's chart is drawn in this zone (a central's beneficiaries may span several).
CENTRAL_ZONE = "Europe/Paris"

BENEFICIARY_COLUMNS = (
    Column("stations", "Bornes"),
    Column("availability", f"Disponibilité ({AVAILABILITY_DAYS} j)", fmt="percent", descending=False),
    Column("alerts", "Alertes ouvertes"),
)


def _plural(n: int, one: str, many: str) -> str:
    return one if n <= 1 else many


async def _tenant_cards(session: AsyncSession, ctx: TenantContext, now: dt.datetime) -> list[HomeCard]:
    tid = ctx.tenant_id
    base = f"/t/{tid}"
    states = (await services.point_state_counts(session, [tid]))[tid]
    alerts = (await services.open_alert_counts(session, [tid]))[tid]
    zone = ZoneInfo(ctx.tenant.timezone)
    today = now.astimezone(zone).date()
    start = dt.datetime.combine(today, dt.time.min, zone)
    started = (await services.sessions_started(session, [tid], start, start + dt.timedelta(days=1)))[tid]
    waiting = (await services.badges_waiting(session, [tid]))[tid]
    total = sum(states.values())
    severity = "danger" if states[OUT_OF_SERVICE] else "warning" if states[OFFLINE] else "ok"
    stations = HomeCard(
        "stations", "Points de charge",
        figures=tuple(Figure(STATE_LABELS[state], states[state], f"{base}/bornes?etat={state}", state=state,
                             severity="danger" if state == OUT_OF_SERVICE and states[state] else
                             "warning" if state == OFFLINE and states[state] else "ok")
                      for state in (AVAILABLE, CHARGING, OUT_OF_SERVICE, OFFLINE)),
        links=((f"{base}/bornes", f"Voir les {total} point{'s' if total > 1 else ''} de charge"),),
        severity=severity if total else "info",
        note="" if total else "Aucune borne n'est encore enregistrée.",
    )
    cards = [
        stations,
        HomeCard("alerts", "Alertes", figures=(Figure(_plural(alerts, "alerte ouverte", "alertes ouvertes"), alerts,
                                                      f"{base}/alertes?etat=ouvertes",
                                                      severity="danger" if alerts else "ok"),),
                 links=((f"{base}/alertes", "Toutes les alertes"),), severity="danger" if alerts else "ok"),
        HomeCard("sessions", "Recharges aujourd'hui",
                 figures=(Figure(_plural(started, "recharge commencée", "recharges commencées"), started,
                                 f"{base}/recharges?du={today.isoformat()}&au={today.isoformat()}"),),
                 links=((f"{base}/statistiques", "Statistiques d'utilisation"),), severity="info"),
        HomeCard("badges", "Badges en attente",
                 figures=(Figure(_plural(waiting, "badge pas encore chargé sur toutes les bornes",
                                         "badges pas encore chargés sur toutes les bornes"), waiting, f"{base}/badges",
                                 severity="warning" if waiting else "ok"),),
                 links=((f"{base}/badges", "Gérer les badges"), (f"{base}/reservations", "Réservations")),
                 severity="warning" if waiting else "ok"),
    ]
    return cards


async def _central_cards(session: AsyncSession, ctx: CentralContext, now: dt.datetime) -> list[HomeCard]:
    today = now.astimezone(ZoneInfo(CENTRAL_ZONE)).date()
    first = today - dt.timedelta(days=ACTIVITY_DAYS - 1)
    days = await services.daily_sessions(session, ctx.tenant_ids, first, today, CENTRAL_ZONE)
    count = sum(n for _, n, _ in days)
    energy = sum(e for _, _, e in days)
    chart = Chart(
        title=f"Recharges par jour sur les {ACTIVITY_DAYS} derniers jours, tous bénéficiaires",
        unit="recharges",
        bars=tuple((day.strftime("%d/%m"), n) for day, n, _ in days),
    )
    energy_text = f"{energy:,.1f}".replace(",", "\u202f").replace(".", ",")
    return [HomeCard(
        "activity", "Activité de la centrale",
        figures=(Figure(f"{_plural(count, 'recharge', 'recharges')} en {ACTIVITY_DAYS} jours", count),
                 Figure("kWh délivrés", energy_text)),
        severity="info", chart=chart, note="Jours en heure de Paris.",
    )]


async def home_cards(session: AsyncSession, ctx: Any, now: dt.datetime) -> list[HomeCard]:
    """The home cards of ``csms`` for a tenant's or a central's home (``app.shell.HomeCardHook``)."""
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        return await _tenant_cards(session, ctx, now)
    if isinstance(ctx, CentralContext):
        return await _central_cards(session, ctx, now)
    return []


async def beneficiary_values(
    session: AsyncSession, tenant_ids: list[uuid.UUID], now: dt.datetime,
) -> dict[uuid.UUID, dict[str, Any]]:
    """Each beneficiary's chargers, availability and open alerts (the coordinator's table)."""
    chargers = await services.charger_counts(session, tenant_ids)
    up = await services.availability(session, tenant_ids, now, days=AVAILABILITY_DAYS)
    alerts = await services.open_alert_counts(session, tenant_ids)
    return {tid: {"stations": chargers[tid], "availability": up[tid], "alerts": alerts[tid]} for tid in tenant_ids}


async def work_items(session: AsyncSession, tenant_ids: list[uuid.UUID], now: dt.datetime) -> list[WorkItem]:
    """The operator's lines of ``csms``: what the titulaire's technician has to act on."""
    items: list[WorkItem] = []
    for alert in await services.open_alerts(session, tenant_ids):
        where = f"borne {alert.charge_box_id}" + (f", point {alert.connector_id}" if alert.connector_id else "")
        faulted = alert.kind == FAULTED
        items.append(WorkItem(
            alert.tenant_id, 0 if faulted else 1, "Alerte", f"{alert.label} : {where}",
            f"/t/{alert.tenant_id}/bornes/{alert.charge_box_id}", since=alert.opened_at,
            detail=alert.error_code if alert.error_code and alert.error_code != "NoError" else "",
            severity="danger" if faulted else "warning",
        ))
    for command in await services.failed_commands(session, tenant_ids, now - COMMANDS_WINDOW):
        items.append(WorkItem(
            command.tenant_id, 2, "Commande", f"{command.action} {command.outcome} : borne {command.charge_box_id}",
            f"/t/{command.tenant_id}/bornes/{command.charge_box_id}/commandes", since=command.requested_at,
            detail=command.error,
        ))
    for tid, waiting in (await services.badges_waiting(session, tenant_ids)).items():
        if waiting:
            items.append(WorkItem(
                tid, 3, "Badges", f"{waiting} {_plural(waiting, 'badge à charger', 'badges à charger')} sur les bornes",
                f"/t/{tid}/badges", severity="info",
            ))
    return items


# --------------------------------------------------------------------------- the agent's statement

STATEMENT_HEADER = ("Début", "Fin", "Durée (min)", "Borne", "Point de charge", "Badge", "Énergie (kWh)", "Montant (€)",
                    "État")


@get("/t/{tenant_id:uuid}/agent/releve.csv")
async def agent_statement(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Response[bytes]:
    """The caller's own charging sessions in this tenant, as CSV: the badges issued to it only."""
    tenant_ctx.require("agent")
    now = utcnow()
    zone = ZoneInfo(tenant_ctx.tenant.timezone)
    rows = []
    for s in await services.sessions_of_user(db_session, tenant_ctx.tenant_id, tenant_ctx.identity.user_id, limit=None):
        seconds = s.seconds(now)
        rows.append((
            s.started_at.astimezone(zone).strftime("%d/%m/%Y %H:%M") if s.started_at else "",
            s.stopped_at.astimezone(zone).strftime("%d/%m/%Y %H:%M") if s.stopped_at else "",
            round(seconds / 60) if seconds is not None else "",
            s.charge_box_id, s.point_id, s.id_tag,
            str(round(s.energy_wh / 1000, 2)).replace(".", ",") if s.energy_wh is not None else "",
            "",  # paid charging does not exist yet (billing): the column is there for it
            TRANSACTION_LABELS.get(s.status, s.status),
        ))
    name = f"releve-recharges-{now.astimezone(zone).date().isoformat()}.csv"
    return Response(csv_bytes(rows, header=STATEMENT_HEADER), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


handlers: list[Any] = [agent_statement]
