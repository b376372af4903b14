"""Supervision pages of the tenant portal, in French (CCTP CPAM 5-5, 5-5-4, 5-5-5).

* ``/t/{tenant}/bornes``: every station → charger → charge point, grouped by site,
  with its state in the CCTP's words (``csms.domain.states``), last message, uptime and
  communication cuts (5-5: « le nombre d'occurrence d'une telle coupure »); the
  ``resultats`` block is polled by HTMX every few seconds, and the page works
  without JavaScript (a plain « Actualiser » link). Chargers retired for good
  (``csms.domain.registry.decommission_charger``) are left out; ``?decommissionnees=1``
  lists them alone (« Bornes mises hors service »), each linking to its page and
  history;
* ``/t/{tenant}/bornes/{charge_box_id}``: one charger: identifiers (5-5-1), what it
  said at boot, its points, status history, connections and cuts, transactions;
* ``/t/{tenant}/recharges`` and ``/recharges/{id}``: transactions with the badge used
  (5-5-4 « identification du badge ayant servi à déclencher la recharge ») and the
  charge curve (« enregistrement des courbes de charge ») as an inline SVG with its
  data table;
* ``/t/{tenant}/alertes``: alerts (``csms.domain.alerts``); ``/t/{tenant}/statistiques``:
  usage per charge point (``csms.domain.stats``);
* the agent home (``/t/{tenant}/agent``, tenants' page) gets the stations with
  address, sockets, power, state and an estimate of the charge time (5-5-5
  « Estimation du temps de charge »), and the agent's own charging sessions (5-5-5 « Historique des charges de l'usager »), badges and
  reservations, through the ``agent_home`` page hook of its manifest (``csms/component.py``); its
  statement is ``/t/{tenant}/agent/releve.csv`` (``csms/web/home.py``).

Reading needs the ``read`` permission (administrator, viewer, coordinator, operator);
the agent sees the agent view only. Another tenant's ids are a 404 (the tenant
context, then every query filters on the tenant).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.response import Template
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page
from app.db import utcnow
from app.errors import NotFound
from app.shell import Paged, pager, parse_day, render, tenant_page, wants_block
from csms import services as csms_services
from csms.domain import alerts as alerts_mod
from csms.domain import recording as supervision
from csms.domain import registry, stats
from csms.domain.models import (
    Alert,
    Badge,
    ChargePoint,
    Charger,
    ConnectionLog,
    Station,
    StatusEvent,
    Transaction,
)
from csms.domain.reservations import STATUS_LABELS as RESERVATION_LABELS
from csms.domain.states import STATE_LABELS, charger_state, ocpp_label, point_state
from csms.domain.vocabulary import ocpp_word
from tenants import services
from tenants.context import TenantContext
from tenants.models import Site

__all__ = ["agent_context", "filter_alerts", "filter_fleet", "filter_transactions", "handlers", "load_fleet", "nav",
           "stats_period"]

#: Uptime and cuts are shown over this window.
REPORT_PERIOD = dt.timedelta(days=30)
#: Seconds between two refreshes of the live station list (HTMX polling); a large fleet's
#: list (measured: 500 chargers, 1,000 points, ~0.25 s and 560 kB) is refreshed less often.
LIVE_EVERY = 5
LIVE_EVERY_LARGE = 30
LARGE_FLEET = 200
PER_PAGE = 25
TRANSACTION_STATUSES = {"en_cours": "active", "terminee": "completed", "orpheline": "orphan"}
TRANSACTION_LABELS = {"active": "En cours", "completed": "Terminée", "orphan": "Arrêt sans début connu"}
#: ``Transaction.anomaly`` (csms.domain.recording.UNKNOWN_START): what the station reported does not add up.
ANOMALY_LABELS = {"unknown_start": "Transaction inconnue : démarrage non reçu"}
REASON_LABELS = {
    "closed_by_station": "fermée par la borne", "connection_lost": "connexion perdue", "replaced": "remplacée",
    "server_shutdown": "arrêt du serveur", "ingress_restart": "redémarrage du serveur", "message_too_big": "message trop long",
    "closed_by_server": "fermée par le serveur", "unknown": "inconnue", "reconnected": "borne reconnectée",
    "decommissioned": "borne mise hors service",
}


# --------------------------------------------------------------------------- formatting


def duration_fr(seconds: float | None) -> str:
    """``2 h 05 min``, ``12 min``, ``45 s``."""
    if seconds is None:
        return "—"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} j {hours} h"


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}".replace(",", "\u202f").replace(".", ",")


def percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{number(ratio * 100, 1)} %"


def sockets(value: str | None) -> str:
    """``T2, EF`` from the stored ``T2,EF`` / ``T2+EF``."""
    return ", ".join(part for part in re.split(r"[+,\s]+", value or "") if part)


def _helpers(**extra: Any) -> dict[str, Any]:
    return {"duration": duration_fr, "number": number, "percent": percent, "state_labels": STATE_LABELS,
            "sockets": sockets,
            "ocpp_label": ocpp_label, "ocpp_word": ocpp_word, "reason_labels": REASON_LABELS, "anomaly_labels": ANOMALY_LABELS, **extra}


# --------------------------------------------------------------------------- the fleet and its states


@dataclass
class PointView:
    point: ChargePoint
    state: str

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass
class ChargerView:
    charger: Charger
    points: list[PointView]
    state: str
    report: supervision.CommunicationReport | None

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass
class StationView:
    station: Station
    chargers: list[ChargerView] = field(default_factory=list)


@dataclass
class SiteView:
    site: Site
    stations: list[StationView] = field(default_factory=list)


def _point_views(charger: Charger, points: list[ChargePoint]) -> tuple[list[PointView], str]:
    views = [PointView(p, point_state(p.last_status, charger.last_status, online=charger.online)) for p in points]
    return views, charger_state(charger.last_status, [v.state for v in views], online=charger.online)


async def load_fleet(session: AsyncSession, tenant_id: uuid.UUID, *, now: dt.datetime) -> list[SiteView]:
    """Sites → stations → chargers → points of the tenant, with states and communication reports.
    Chargers retired for good are not part of the fleet (their history stays readable elsewhere)."""
    sites = await services.list_sites(session, tenant_id)
    stations = list(await session.scalars(
        select(Station).where(Station.tenant_id == tenant_id).order_by(Station.canonical_id)))
    every = list(await session.scalars(
        select(Charger).where(Charger.tenant_id == tenant_id).order_by(Charger.canonical_id)))
    chargers = [c for c in every if c.decommissioned_at is None]
    # A station whose chargers were all retired is left out too (one never given a charger stays).
    emptied = {c.station_id for c in every if c.decommissioned_at is not None} - {c.station_id for c in chargers}
    points: dict[uuid.UUID, list[ChargePoint]] = {}
    for point in await session.scalars(
        select(ChargePoint).where(ChargePoint.tenant_id == tenant_id).order_by(ChargePoint.connector_id)
    ):
        points.setdefault(point.charger_id, []).append(point)
    reports = await supervision.communication_reports(session, tenant_id, now - REPORT_PERIOD, now, now=now)
    station_views = {s.id: StationView(s) for s in stations}
    for charger in chargers:
        views, state = _point_views(charger, points.get(charger.id, []))
        if charger.station_id in station_views:
            station_views[charger.station_id].chargers.append(
                ChargerView(charger, views, state, reports.get(charger.id)))
    site_views = {s.id: SiteView(s) for s in sites}
    for view in station_views.values():
        if view.station.site_id in site_views and view.station.id not in emptied:
            site_views[view.station.site_id].stations.append(view)
    return [v for v in site_views.values() if v.stations]


def filter_fleet(fleet: list[SiteView], site: str, state: str) -> list[SiteView]:
    out = []
    for site_view in fleet:
        if site and str(site_view.site.id) != site:
            continue
        stations = []
        for station in site_view.stations:
            chargers = []
            for charger in station.chargers:
                if not state:
                    chargers.append(charger)
                    continue
                matching = [p for p in charger.points if p.state == state]
                if matching or (not charger.points and charger.state == state):
                    chargers.append(ChargerView(charger.charger, matching, charger.state, charger.report))
            if chargers:
                stations.append(StationView(station.station, chargers))
        if stations:
            out.append(SiteView(site_view.site, stations))
    return out


def _state_counts(fleet: list[SiteView]) -> dict[str, int]:
    counts = dict.fromkeys(STATE_LABELS, 0)
    for site in fleet:
        for station in site.stations:
            for charger in station.chargers:
                for point in charger.points:
                    counts[point.state] += 1
    return counts


# --------------------------------------------------------------------------- stations


@get("/t/{tenant_id:uuid}/bornes")
async def stations_list(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, site: str = "",
    etat: str = "", decommissionnees: str = "",
) -> Template:
    tenant_ctx.require("read")
    now = utcnow()
    if decommissionnees == "1":
        return await _decommissioned_list(request, tenant_ctx, db_session)
    # The link to the retired chargers is outside the block polled every few seconds: counted for the full page only.
    retired = 0 if wants_block(request) else await db_session.scalar(select(func.count()).select_from(Charger).where(
        Charger.tenant_id == tenant_ctx.tenant_id, Charger.decommissioned_at.is_not(None))) or 0
    fleet = await load_fleet(db_session, tenant_ctx.tenant_id, now=now)
    site = site.strip() if site.strip() in {str(s.site.id) for s in fleet} else ""
    etat = etat if etat in STATE_LABELS else ""
    shown = filter_fleet(fleet, site, etat)
    chargers_total = sum(len(st.chargers) for s in fleet for st in s.stations)
    query = "&".join(f"{k}={v}" for k, v in (("site", site), ("etat", etat)) if v)
    base = f"/t/{tenant_ctx.tenant_id}/bornes"
    return render(
        request, "csms/supervision_stations.html",
        tenant_page(
            tenant_ctx, "stations", **_helpers(
                fleet=shown, counts=_state_counts(fleet), site_options=[(str(s.site.id), s.site.name) for s in fleet],
                filters={"site": site, "etat": etat}, live_url=f"{base}?{query}" if query else base,
                live_every=LIVE_EVERY if chargers_total <= LARGE_FLEET else LIVE_EVERY_LARGE, now=now,
                period_days=REPORT_PERIOD.days, chargers_total=chargers_total, retired_count=retired,
            ),
        ),
        block="results",
    )


async def _decommissioned_list(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession) -> Template:
    """« Bornes mises hors service »: the chargers retired for good, latest first, each with its history."""
    tid = ctx.tenant_id
    rows = (await session.execute(
        select(Charger, Station.name, Station.site_id)
        .join(Station, and_(Station.tenant_id == Charger.tenant_id, Station.id == Charger.station_id))
        .where(Charger.tenant_id == tid, Charger.decommissioned_at.is_not(None))
        .order_by(Charger.decommissioned_at.desc(), Charger.charge_box_id)
    )).all()
    sites = {s.id: s.name for s in await services.list_sites(session, tid)}
    rows = [(charger, station_name, sites.get(site_id, "")) for charger, station_name, site_id in rows]
    return render(request, "csms/supervision_decommissioned.html",
                   tenant_page(ctx, "stations", **_helpers(retired=rows)))


@get("/t/{tenant_id:uuid}/bornes/{charge_box_id:str}")
async def station_detail(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, charge_box_id: str,
) -> Template:
    tenant_ctx.require("read")
    tid = tenant_ctx.tenant_id
    now = utcnow()
    charger = await registry.find_charger_in_tenant(db_session, tid, charge_box_id)
    station = await db_session.get(Station, (tid, charger.station_id))
    site = await services.access_site(db_session, tid, station.site_id) if station is not None else None
    points, state = _point_views(charger, await registry.list_charge_points(db_session, tid, charger.id))
    report = await supervision.communication_report(db_session, tid, charger.id, now - REPORT_PERIOD, now, now=now)
    history = list(await db_session.scalars(
        select(StatusEvent).where(StatusEvent.tenant_id == tid, StatusEvent.charger_id == charger.id)
        .order_by(StatusEvent.reported_at.desc(), StatusEvent.received_at.desc()).limit(50)))
    connections = list(await db_session.scalars(
        select(ConnectionLog).where(ConnectionLog.tenant_id == tid, ConnectionLog.charger_id == charger.id)
        .order_by(ConnectionLog.connected_at.desc()).limit(30)))
    transactions = (await db_session.execute(
        _transaction_query(tid).where(Transaction.charger_id == charger.id).limit(10))).all()
    open_alerts = list(await db_session.scalars(
        select(Alert).where(Alert.tenant_id == tid, Alert.charger_id == charger.id, Alert.closed_at.is_(None))
        .order_by(Alert.opened_at)))
    return render(
        request, "csms/supervision_station.html",
        tenant_page(
            tenant_ctx, "stations", **_helpers(
                charger=charger, station=station, site=site, points=points, state=state, state_label=STATE_LABELS[state],
                report=report, history=history, connections=connections, transactions=transactions,
                open_alerts=open_alerts, kind_labels=alerts_mod.KIND_LABELS, now=now, period_days=REPORT_PERIOD.days,
                transaction_labels=TRANSACTION_LABELS,
            ),
        ),
    )


# --------------------------------------------------------------------------- transactions


def _transaction_query(tenant_id: uuid.UUID) -> Any:
    return (
        select(Transaction, Charger.charge_box_id, ChargePoint.canonical_id, Badge.holder_label)
        .join(Charger, and_(Charger.tenant_id == Transaction.tenant_id, Charger.id == Transaction.charger_id))
        .outerjoin(ChargePoint, and_(ChargePoint.tenant_id == Transaction.tenant_id,
                                     ChargePoint.id == Transaction.charge_point_id))
        .outerjoin(Badge, and_(Badge.tenant_id == Transaction.tenant_id, Badge.id == Transaction.badge_id))
        .where(Transaction.tenant_id == tenant_id)
        .order_by(func.coalesce(Transaction.started_at, Transaction.stopped_at).desc(), Transaction.id)
    )


def transaction_seconds(tx: Transaction, now: dt.datetime) -> float | None:
    if tx.started_at is None:
        return None
    return ((tx.stopped_at or now) - tx.started_at).total_seconds()


def filter_transactions(ctx: TenantContext, *, borne: str = "", badge: str = "", etat: str = "", hors_ligne: str = "",
                        du: str = "", au: str = "") -> tuple[Any, dict[str, str], dict[str, str]]:
    """The transactions the list's filters show (the page and its exports): statement, kept filters, errors."""
    tid = ctx.tenant_id
    zone = ZoneInfo(ctx.tenant.timezone)
    errors: dict[str, str] = {}
    first, last = parse_day(du, "du", errors), parse_day(au, "au", errors)
    if first and last and first > last:
        errors["au"] = "La date de fin précède la date de début."
    borne, badge = borne.strip()[:48], badge.strip()[:36]
    stmt = _transaction_query(tid)
    if borne:
        stmt = stmt.where(Charger.charge_box_id == borne)
    if badge:
        stmt = stmt.where(or_(func.upper(Transaction.id_tag).contains(badge.upper(), autoescape=True),
                              func.upper(Badge.holder_label).contains(badge.upper(), autoescape=True)))
    if etat in TRANSACTION_STATUSES:
        stmt = stmt.where(Transaction.status == TRANSACTION_STATUSES[etat])
    else:
        etat = ""
    if hors_ligne == "1":
        stmt = stmt.where(Transaction.offline.is_(True))
    else:
        hors_ligne = ""
    moment = func.coalesce(Transaction.started_at, Transaction.stopped_at)
    if first and "du" not in errors and "au" not in errors:
        stmt = stmt.where(moment >= dt.datetime.combine(first, dt.time.min, zone))
    if last and "au" not in errors:
        stmt = stmt.where(moment < dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, zone))
    return stmt, {"borne": borne, "badge": badge, "etat": etat, "hors_ligne": hors_ligne, "du": du, "au": au}, errors


@get("/t/{tenant_id:uuid}/recharges")
async def transactions_list(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, borne: str = "",
    badge: str = "", etat: str = "", hors_ligne: str = "", du: str = "", au: str = "", page: Page = 1,
) -> Template:
    tenant_ctx.require("read")
    tid = tenant_ctx.tenant_id
    stmt, filters, errors = filter_transactions(tenant_ctx, borne=borne, badge=badge, etat=etat, hors_ligne=hors_ligne,
                                                du=du, au=au)
    total = await db_session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    page = max(1, page)
    rows = (await db_session.execute(stmt.offset((page - 1) * PER_PAGE).limit(PER_PAGE))).all()
    found = Paged(rows, total, page, PER_PAGE)
    chargers = list(await db_session.scalars(
        select(Charger.charge_box_id).where(Charger.tenant_id == tid).order_by(Charger.charge_box_id)))
    return render(
        request, "csms/supervision_transactions.html",
        tenant_page(
            tenant_ctx, "transactions", **_helpers(
                found=found, paging=pager(f"/t/{tid}/recharges", filters, found), filters=filters, errors=errors,
                charger_options=chargers, status_options=[(k, TRANSACTION_LABELS[v]) for k, v in TRANSACTION_STATUSES.items()],
                transaction_labels=TRANSACTION_LABELS, seconds=transaction_seconds, now=utcnow(),
            ),
        ),
        block="results",
    )


@get("/t/{tenant_id:uuid}/recharges/{transaction_id:uuid}")
async def transaction_detail(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, transaction_id: uuid.UUID,
) -> Template:
    tenant_ctx.require("read")
    tid = tenant_ctx.tenant_id
    row = (await db_session.execute(_transaction_query(tid).where(Transaction.id == transaction_id))).first()
    if row is None:
        raise NotFound("recharge")
    tx = row[0]
    curve = await stats.charge_curve(db_session, tx)
    return render(
        request, "csms/supervision_transaction.html",
        tenant_page(
            tenant_ctx, "transactions", **_helpers(
                tx=tx, charge_box_id=row[1], point_canonical_id=row[2], holder_label=row[3], curve=curve,
                chart=stats.curve_chart(curve, tenant_ctx.tenant.timezone), transaction_labels=TRANSACTION_LABELS,
                seconds=transaction_seconds(tx, utcnow()),
            ),
        ),
    )


# --------------------------------------------------------------------------- alerts

ALERT_FILTERS = {"ouvertes": "Ouvertes", "closes": "Closes", "toutes": "Toutes"}


def filter_alerts(tenant_id: uuid.UUID, etat: str) -> tuple[Any, str]:
    """The alerts the list's filter shows (the page and its exports), with their charger's ids."""
    etat = etat if etat in ALERT_FILTERS else "toutes"
    stmt = (
        select(Alert, Charger.charge_box_id, Charger.canonical_id)
        .join(Charger, and_(Charger.tenant_id == Alert.tenant_id, Charger.id == Alert.charger_id))
        .where(Alert.tenant_id == tenant_id)
    )
    if etat == "ouvertes":
        stmt = stmt.where(Alert.closed_at.is_(None))
    elif etat == "closes":
        stmt = stmt.where(Alert.closed_at.is_not(None))
    return stmt, etat


@get("/t/{tenant_id:uuid}/alertes")
async def alerts_list(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, etat: str = "toutes",
    page: Page = 1,
) -> Template:
    tenant_ctx.require("read")
    tid = tenant_ctx.tenant_id
    stmt, etat = filter_alerts(tid, etat)
    total = await db_session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    open_count = await db_session.scalar(
        select(func.count()).select_from(Alert).where(Alert.tenant_id == tid, Alert.closed_at.is_(None))) or 0
    page = max(1, page)
    rows = (await db_session.execute(
        stmt.order_by(Alert.closed_at.is_not(None), Alert.opened_at.desc(), Alert.id)
        .offset((page - 1) * PER_PAGE).limit(PER_PAGE)
    )).all()
    found = Paged(rows, total, page, PER_PAGE)
    now = utcnow()
    return render(
        request, "csms/supervision_alerts.html",
        tenant_page(
            tenant_ctx, "alerts", **_helpers(
                found=found, paging=pager(f"/t/{tid}/alertes", {"etat": etat}, found), etat=etat,
                filter_options=list(ALERT_FILTERS.items()), open_count=open_count, now=now,
                kind_labels=alerts_mod.KIND_LABELS, point_id=alerts_mod._canonical,  # noqa: SLF001
                threshold=request.app.state.settings.ocpp_offline_alert_minutes,
            ),
        ),
        block="results",
    )


# --------------------------------------------------------------------------- statistics

MAX_STATS_DAYS = 366


def stats_period(ctx: TenantContext, du: str, au: str, *, now: dt.datetime) -> tuple[
        dt.date, dt.date, dt.datetime, dt.datetime, dict[str, str]]:
    """The statistics' period (the page and its exports): local days, their instants, errors (then the last 30 days)."""
    zone = ZoneInfo(ctx.tenant.timezone)
    today = now.astimezone(zone).date()
    errors: dict[str, str] = {}
    first = parse_day(du, "du", errors) or today - dt.timedelta(days=29)
    last = parse_day(au, "au", errors) or today
    if first > last:
        errors["au"] = "La date de fin précède la date de début."
    elif (last - first).days + 1 > MAX_STATS_DAYS:
        errors["au"] = f"La période ne peut dépasser {MAX_STATS_DAYS} jours."
    if errors:
        first, last = today - dt.timedelta(days=29), today
    start = dt.datetime.combine(first, dt.time.min, zone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, zone)
    return first, last, start, end, errors


@get("/t/{tenant_id:uuid}/statistiques")
async def statistics(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, du: str = "", au: str = "",
) -> Template:
    tenant_ctx.require("read")
    now = utcnow()
    first, last, start, end, errors = stats_period(tenant_ctx, du, au, now=now)
    usage = await stats.usage_by_point(db_session, tenant_ctx.tenant_id, start, end, now=now)
    sessions = sum(u.sessions for u in usage)
    totals = {
        "sessions": sessions, "energy_wh": sum(u.energy_wh for u in usage),
        "total_seconds": sum(u.total_seconds for u in usage), "used_seconds": sum(u.used_seconds for u in usage),
        "mean_seconds": sum(u.total_seconds for u in usage) / sessions if sessions else None,
        "occupancy": (sum(u.used_seconds for u in usage) / ((end - start).total_seconds() * len(usage))) if usage else None,
    }
    return render(
        request, "csms/supervision_stats.html",
        tenant_page(
            tenant_ctx, "stats", **_helpers(
                usage=usage, totals=totals, errors=errors, values={"du": du, "au": au}, first=first, last=last,
                days=(last - first).days + 1,
            ),
        ),
    )


# --------------------------------------------------------------------------- agent view

#: The agent's latest sessions shown on its home (the statement, CSV, has them all).
AGENT_SESSIONS = 20
#: Typical need when the agent enters nothing: 100 km at 17 kWh/100 km.
DEFAULT_KM = 100
DEFAULT_CONSUMPTION = 17.0
#: Share of the point's power that ends in the battery (charger losses, tapering).
EFFICIENCY = 0.9


def _number_field(raw: str, key: str, label: str, low: float, high: float, errors: dict[str, str]) -> float | None:
    text = (raw or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        errors[key] = f"{label} : nombre attendu (par exemple {int(low + (high - low) / 4)})."
        return None
    if not low <= value <= high:
        errors[key] = f"{label} : entre {number(low, 0)} et {number(high, 0)}."
        return None
    return value


def estimate_hours(energy_kwh: float, power_kw: float | None) -> float | None:
    """Charge time (h) = energy needed (kWh) / (point power (kW) x efficiency)."""
    if not power_kw or power_kw <= 0:
        return None
    return energy_kwh / (power_kw * EFFICIENCY)


async def agent_context(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession) -> dict[str, Any]:
    """What the agent home shows of the stations (the ``agent_home`` page hook, ``csms/component.py``)."""
    params = request.query_params
    errors: dict[str, str] = {}
    values = {k: str(params.get(k) or "") for k in ("km", "conso", "batterie", "de", "a")}
    km = _number_field(values["km"], "km", "Distance", 1, 2000, errors)
    consumption = _number_field(values["conso"], "conso", "Consommation", 5, 60, errors)
    battery = _number_field(values["batterie"], "batterie", "Capacité de la batterie", 5, 250, errors)
    start_pct = _number_field(values["de"], "de", "Charge actuelle", 0, 100, errors)
    end_pct = _number_field(values["a"], "a", "Charge souhaitée", 0, 100, errors)
    energy: float | None = None
    need = ""
    if battery is not None:
        start_pct = 20.0 if start_pct is None else start_pct
        end_pct = 80.0 if end_pct is None else end_pct
        if end_pct <= start_pct and "a" not in errors:
            errors["a"] = "Charge souhaitée : supérieure à la charge actuelle."
        energy = battery * max(0.0, end_pct - start_pct) / 100
        need = f"{number(end_pct - start_pct, 0)} % d'une batterie de {number(battery, 0)} kWh"
    elif not errors:
        # Nothing typed: the typical need, said as such (never a silent default).
        default = km is None
        km = km or DEFAULT_KM
        consumption = consumption or DEFAULT_CONSUMPTION
        energy = km * consumption / 100
        need = f"{number(km, 0)} km à {number(consumption, 1)} kWh/100 km" + (
            " (distance type : indiquez la vôtre)" if default else "")
    if errors:
        energy, need = None, ""  # a wrong value gives no estimate rather than another one
    now = utcnow()
    fleet = await load_fleet(session, ctx.tenant_id, now=now)
    user_id = ctx.identity.user_id
    # Only the caller's own: the sessions, badges and reservations of the badges issued to it.
    own_sessions = await csms_services.sessions_of_user(session, ctx.tenant_id, user_id, limit=AGENT_SESSIONS)
    return {
        "template": "csms/supervision_agent.html",
        **_helpers(
            my_sessions=own_sessions, my_badges=await csms_services.badges_of_user(session, ctx.tenant_id, user_id),
            my_reservations=await csms_services.reservations_of_user(session, ctx.tenant_id, user_id, now),
            reservation_labels=RESERVATION_LABELS, transaction_labels=TRANSACTION_LABELS, now=now,
            sessions_limit=AGENT_SESSIONS,
            agent_fleet=fleet, estimate_errors=errors, estimate_values=values, energy_kwh=energy, need=need,
            estimate=lambda power: None if energy is None else estimate_hours(energy, power), efficiency=EFFICIENCY,
            hours=lambda h: "—" if h is None else duration_fr(h * 3600),
        ),
    }


# --------------------------------------------------------------------------- menu


def nav(ctx: Any) -> list[tuple[str, str, str]]:
    """Bornes, Recharges, Alertes, Statistiques for every profile that reads the tenant
    (the viewer too: these pages only read); the agent has its own home."""
    if isinstance(ctx, TenantContext) and ctx.can("read"):
        base = f"/t/{ctx.tenant_id}"
        return [("stations", f"{base}/bornes", "Bornes"), ("transactions", f"{base}/recharges", "Recharges"),
                ("alerts", f"{base}/alertes", "Alertes"), ("stats", f"{base}/statistiques", "Statistiques")]
    return []


handlers: list[Any] = [stations_list, station_detail, transactions_list, transaction_detail, alerts_list, statistics]
