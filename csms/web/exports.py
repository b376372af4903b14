"""CSV and XLSX exports of the supervision lists a buyer keeps (issue 12 §4; CCTP CPAM 5-5, 5-5-4).

Each list page has its export next to it, with the same path and a ``.csv`` or ``.xlsx``
suffix, and the same filters as the page (the page's own filter functions): stations by
site and state, charging sessions by station, badge, state and period, alerts by state,
statistics over a period, badges by text and status, reservations over a period. The
kernel writes the file (``app.exports``: formula-safe text, dates as dates in the tenant's
zone, numbers as numbers, at most ``MAX_EXPORT_ROWS`` rows, streamed from a temporary
file). Reading rights are the page's: whoever sees the list (the viewer too) exports it;
an agent's badges and reservations are its own; another tenant's export is a 404.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Sequence
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Redirect, Stream
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.exports import MAX_EXPORT_ROWS, TooManyRows, export_format, export_response
from app.shell import flash, parse_day, see_other
from csms.domain import alerts as alerts_mod
from csms.domain import badges, reservations, stats
from csms.domain.models import Alert, ChargePoint, Charger
from csms.domain.states import STATE_LABELS
from csms.web.badges import badge_reader
from csms.web.supervision import (
    REPORT_PERIOD,
    TRANSACTION_LABELS,
    filter_alerts,
    filter_fleet,
    filter_transactions,
    load_fleet,
    stats_period,
)
from tenants.context import TenantContext

__all__ = ["handlers"]

BATCH = 500


def _paths(path: str) -> list[str]:
    return [f"/t/{{tenant_id:uuid}}/{path}.csv", f"/t/{{tenant_id:uuid}}/{path}.xlsx"]


def _kwh(wh: int | None) -> Decimal | None:
    return None if wh is None else (Decimal(wh) / 1000).quantize(Decimal("0.001"))


def _minutes(seconds: float | None) -> Decimal | None:
    return None if seconds is None else Decimal(str(seconds / 60)).quantize(Decimal("0.1"))


def _ratio(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value * 100)).quantize(Decimal("0.1"))


async def _send(request: Request[Any, Any, Any], ctx: TenantContext, name: str, header: Sequence[str],
                rows: AsyncIterator[Sequence[Any]] | Iterable[Sequence[Any]], *, back: str,
                errors: dict[str, str] | None = None) -> Stream | Redirect:
    """The file, or back to the list with the reason when the filters are wrong or the file too long."""
    list_url = f"/t/{ctx.tenant_id}/{back}"
    if errors:
        flash(request, "Export impossible : " + " ".join(errors.values()))
        return see_other(list_url)
    tz = ctx.tenant.timezone
    day = utcnow().astimezone(ZoneInfo(tz)).date().isoformat()
    try:
        return await export_response(export_format(request.url.path), f"{name}-{day}", header, rows, tz=tz,
                                     sheet=name.capitalize())
    except TooManyRows as exc:
        flash(request, str(exc))
        return see_other(list_url)


async def _batched(session: AsyncSession, stmt: Any) -> AsyncIterator[Any]:
    """Rows of ``stmt`` (ordered, ending on a unique key) in pages: no cursor held open between writes."""
    offset = 0
    while True:
        rows = (await session.execute(stmt.offset(offset).limit(BATCH))).all()
        for row in rows:
            yield row
        if len(rows) < BATCH or offset + BATCH > MAX_EXPORT_ROWS:
            return
        offset += BATCH


# --------------------------------------------------------------------------- stations

STATION_HEADER = ("Site", "Station", "Identifiant de la station", "Borne (OCPP)", "Identifiant de la borne",
                  "Point de charge", "Connecteur", "Puissance (kW)", "État", "Dernier message",
                  f"Disponibilité sur {REPORT_PERIOD.days} jours (%)", "Coupures de communication")


@get(_paths("bornes"))
async def stations_export(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                          site: str = "", etat: str = "") -> Stream | Redirect:
    """One line per charge point, as the list shows them (CCTP CPAM 5-5: state, uptime, cuts)."""
    tenant_ctx.require("read")
    fleet = await load_fleet(db_session, tenant_ctx.tenant_id, now=utcnow())
    site = site.strip() if site.strip() in {str(s.site.id) for s in fleet} else ""
    etat = etat if etat in STATE_LABELS else ""
    rows = []
    for site_view in filter_fleet(fleet, site, etat):
        for station in site_view.stations:
            for view in station.chargers:
                charger, report = view.charger, view.report
                common = [site_view.site.name, station.station.name, station.station.canonical_id, charger.charge_box_id,
                          charger.canonical_id]
                tail = [charger.last_seen_at, _ratio(report.uptime_ratio) if report else None,
                        report.cuts if report else None]
                if not view.points:
                    rows.append([*common, "", None, None, STATE_LABELS[view.state], *tail])
                for point in view.points:
                    power = None if point.point.power_kw is None else Decimal(str(point.point.power_kw))
                    rows.append([*common, point.point.canonical_id, point.point.connector_id, power,
                                 STATE_LABELS[point.state], *tail])
    return await _send(request, tenant_ctx, "bornes", STATION_HEADER, rows, back="bornes")


# --------------------------------------------------------------------------- charging sessions

TRANSACTION_HEADER = ("Début", "Fin", "Borne (OCPP)", "Connecteur", "Point de charge", "Badge", "Porteur du badge",
                      "Énergie (kWh)", "Durée (min)", "État", "Motif d'arrêt", "Hors ligne")


@get(_paths("recharges"))
async def transactions_export(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, borne: str = "",
    badge: str = "", etat: str = "", hors_ligne: str = "", du: str = "", au: str = "",
) -> Stream | Redirect:
    """The sessions the filters show, with the badge used (CCTP CPAM 5-5-4)."""
    tenant_ctx.require("read")
    stmt, _filters, errors = filter_transactions(tenant_ctx, borne=borne, badge=badge, etat=etat, hors_ligne=hors_ligne,
                                                 du=du, au=au)
    now = utcnow()

    async def rows() -> AsyncIterator[list[Any]]:
        async for tx, cbid, point_cid, holder in _batched(db_session, stmt):
            seconds = None if tx.started_at is None else ((tx.stopped_at or now) - tx.started_at).total_seconds()
            yield [tx.started_at, tx.stopped_at, cbid, tx.connector_id, point_cid, tx.id_tag, holder, _kwh(tx.energy_wh),
                   _minutes(seconds), TRANSACTION_LABELS.get(tx.status, tx.status), tx.stop_reason, tx.offline]

    return await _send(request, tenant_ctx, "recharges", TRANSACTION_HEADER, rows(), back="recharges", errors=errors)


# --------------------------------------------------------------------------- alerts

ALERT_HEADER = ("Alerte", "Ouverte", "Borne (OCPP)", "Connecteur", "Point de charge", "Depuis", "Fermée le",
                "Durée (min)", "État signalé", "Code d'erreur", "Motif de fermeture")


@get(_paths("alertes"))
async def alerts_export(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                        etat: str = "toutes") -> Stream | Redirect:
    tenant_ctx.require("read")
    stmt, _etat = filter_alerts(tenant_ctx.tenant_id, etat)
    stmt = stmt.order_by(Alert.closed_at.is_not(None), Alert.opened_at.desc(), Alert.id)
    now = utcnow()

    async def rows() -> AsyncIterator[list[Any]]:
        async for alert, cbid, charger_cid in _batched(db_session, stmt):
            point = alerts_mod._canonical(charger_cid, alert.connector_id)  # noqa: SLF001 (as the alerts page)
            yield [alerts_mod.KIND_LABELS.get(alert.kind, alert.kind), alert.closed_at is None, cbid,
                   alert.connector_id or None, point, alert.opened_at, alert.closed_at,
                   _minutes(((alert.closed_at or now) - alert.opened_at).total_seconds()), alert.status, alert.error_code,
                   alert.close_reason]

    return await _send(request, tenant_ctx, "alertes", ALERT_HEADER, rows(), back="alertes")


# --------------------------------------------------------------------------- statistics

STATS_HEADER = ("Du", "Au", "Point de charge", "Station", "Borne (OCPP)", "Connecteur", "Prises", "Puissance (kW)",
                "Recharges", "Énergie (kWh)", "Durée totale (min)", "Durée moyenne (min)", "Heures d'utilisation",
                "Taux d'occupation (%)")


@get(_paths("statistiques"))
async def statistics_export(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                            du: str = "", au: str = "") -> Stream | Redirect:
    """Usage per charge point over the period (at most ``MAX_STATS_DAYS`` days, as the page)."""
    tenant_ctx.require("read")
    now = utcnow()
    first, last, start, end, errors = stats_period(tenant_ctx, du, au, now=now)
    usage = [] if errors else await stats.usage_by_point(db_session, tenant_ctx.tenant_id, start, end, now=now)
    rows = [[first, last, u.canonical_id, u.station_name, u.charge_box_id, u.connector_id, u.socket_types,
             None if u.power_kw is None else Decimal(str(u.power_kw)), u.sessions, _kwh(u.energy_wh),
             _minutes(u.total_seconds), _minutes(u.mean_seconds),
             Decimal(str(u.used_seconds / 3600)).quantize(Decimal("0.01")), _ratio(u.occupancy)] for u in usage]
    return await _send(request, tenant_ctx, "statistiques", STATS_HEADER, rows, back="statistiques", errors=errors)


# --------------------------------------------------------------------------- badges and reservations

BADGE_HEADER = ("Identifiant", "Statut", "Expiration", "Porteur", "Type", "Véhicule", "Site", "Agent", "Créé le")


@get(_paths("badges"))
async def badges_export(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                        q: Annotated[str, Parameter(max_length=100)] = "",
                        statut: Annotated[str, Parameter(max_length=20)] = "") -> Stream | Redirect:
    own = badge_reader(tenant_ctx)
    tid = tenant_ctx.tenant_id
    items = await badges.list_badges(db_session, tid, q=q, status=statut, user_id=own)
    names = await badges.holder_names(db_session, tid)
    rows = [[b.id_tag, badges.BADGE_STATUSES.get(b.status, b.status), b.expires_at, b.holder_label,
             badges.BADGE_KINDS.get(b.kind, b.kind), b.vehicle_label, names["sites"].get(b.site_id, "") if b.site_id else "",
             names["users"].get(b.user_id, "") if b.user_id else "", b.created_at] for b in items]
    return await _send(request, tenant_ctx, "badges", BADGE_HEADER, rows, back="badges")


RESERVATION_HEADER = ("Début", "Fin", "Borne (OCPP)", "Connecteur", "Point de charge", "Badge", "Population", "État",
                      "Réponse de la borne", "Annulée le", "Motif d'annulation", "Réservée le")


@get(_paths("reservations"))
async def reservations_export(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                              du: str = "", au: str = "") -> Stream | Redirect:
    """Reservations (an agent: its own), optionally over a period of their start (local days)."""
    own = badge_reader(tenant_ctx)
    tid = tenant_ctx.tenant_id
    zone = ZoneInfo(tenant_ctx.tenant.timezone)
    errors: dict[str, str] = {}
    first, last = parse_day(du, "du", errors), parse_day(au, "au", errors)
    # The period in SQL, before the row limit: a small period of a large tenant exports whole.
    items = [] if errors else await reservations.list_reservations(
        db_session, tid, user_id=own, limit=MAX_EXPORT_ROWS + 1,
        starts_from=dt.datetime.combine(first, dt.time.min, zone) if first else None,
        starts_before=dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, zone) if last else None)
    points = dict((await db_session.execute(
        select(ChargePoint.id, ChargePoint.canonical_id).where(ChargePoint.tenant_id == tid))).all()) if items else {}
    chargers = dict((await db_session.execute(
        select(Charger.id, Charger.charge_box_id).where(Charger.tenant_id == tid))).all()) if items else {}
    rows = [[r.starts_at, r.ends_at, chargers.get(r.charger_id, ""), r.connector_id, points.get(r.charge_point_id, ""),
             r.id_tag, badges.BADGE_KINDS.get(r.population, r.population),
             reservations.STATUS_LABELS.get(r.status, r.status), r.station_status, r.cancelled_at, r.cancel_reason,
             r.created_at] for r in items]
    return await _send(request, tenant_ctx, "reservations", RESERVATION_HEADER, rows, back="reservations", errors=errors)


handlers: list[Any] = [stations_export, transactions_export, alerts_export, statistics_export, badges_export,
                       reservations_export]
