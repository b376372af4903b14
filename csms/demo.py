"""Demo stations (``centrale demo load``): a small fleet with some history, idempotent.

The CPAM de la Sarthe gets three chargers on its Le Mans site (INSEE 72181,
building 0001: ``FR72181B0001010100``…), the Commune de Villeurbanne one. Every
demo station uses ``DEMO_STATION_PASSWORD`` (documented in the README) so that
``centrale stations simulate`` can connect as any of them. Past transactions with
their meter values and two closed connections (two communication cuts) give the
supervision pages something to show; they are written once per charger (a
charger that already has transactions is left as it is). Cut since last night, each
demo charger has its « Hors ligne » alert open (``csms.domain.alerts.sweep_tenant``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from csms.domain import alerts, badges, registry, smart_charging
from csms.domain.models import Badge, ChargeBoxRoute, Charger, ConnectionLog, MeterValue, Transaction
from tenants.services import find_user_by_email

__all__ = ["DEMO_BADGES", "DEMO_BUDGETS", "DEMO_STATIONS", "DEMO_STATION_PASSWORD", "banner", "load", "load_demo_stations"]

DEMO_STATION_PASSWORD = "Borne-demo-2026-Centrale"  # noqa: S105 - public demo secret, documented in the README

#: tenant key → chargers (registration data, CCTP CPAM 5-5-1 ids generated from the site).
DEMO_STATIONS: dict[str, list[dict[str, Any]]] = {
    "cpam": [
        {"charge_box_id": "CPAM-LM-01", "station": 1, "station_name": "Le Mans – parking des véhicules de service",
         "points": 2, "power_kw": 22, "socket_types": "T2+EF"},
        {"charge_box_id": "CPAM-LM-02", "station": 1, "points": 2, "power_kw": 7, "socket_types": "T2"},
        {"charge_box_id": "CPAM-LM-03", "station": 2, "station_name": "Le Mans – parking visiteurs",
         "points": 1, "power_kw": 11, "socket_types": "T2+EF"},
    ],
    "commune": [
        {"charge_box_id": "VLB-HDV-01", "station": 1, "station_name": "Villeurbanne – hôtel de ville",
         "points": 2, "power_kw": 22, "socket_types": "T2+EF"},
    ],
}
#: tenant key → (idTag, holder, attachment) — every badge is attached as CCTP CPAM
#: 5-5-5-3 asks (« attachée au véhicule de service ou au site de rattachement »,
#: « délivrés aux agents »), so that the demo badges may also reserve (5-5-4).
DEMO_BADGES: dict[str, list[tuple[str, str, dict[str, str]]]] = {
    "cpam": [
        ("04A2B3C4D5E6F7", "Véhicule de service AB-123-CD", {"kind": "vehicle", "vehicle_label": "AB-123-CD"}),
        ("04B1C2D3E4F5A6", "Alice Agent", {"kind": "agent", "agent": "agent@cpam72.demo"}),
    ],
    "commune": [("04C9D8E7F6A5B4", "Service des espaces verts", {"kind": "site"})],
}
#: tenant key → power budget of its demo site (CCTP CPAM article 4, dynamic load
#: management): 30 kW for the CPAM's 5 points (110 kW nominal), so sharing shows.
DEMO_BUDGETS = {"cpam": {"budget_kw": 30, "min_current_a": 6, "phases": 3}}
#: The default of ``Settings.ocpp_offline_alert_minutes``: the demo chargers, cut since last night, are past it.
DEMO_OFFLINE_THRESHOLD = dt.timedelta(minutes=15)
#: Sessions written per charger: (days ago, start hour UTC, minutes, average kW).
HISTORY = [(6, 7, 95, 7.4), (3, 12, 50, 11.0), (1, 8, 130, 6.8)]


async def _badge(
    session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID, id_tag: str, holder: str, attach: dict[str, str]
) -> Badge:
    values: dict[str, Any] = {"kind": attach["kind"], "vehicle_label": attach.get("vehicle_label", "")}
    if attach["kind"] == "site":
        values["site_id"] = str(site_id)
    if "agent" in attach:
        user = await find_user_by_email(session, attach["agent"])
        values["user_id"] = str(user.id) if user else None
    badge = await session.scalar(select(Badge).where(Badge.tenant_id == tenant_id, Badge.id_tag == id_tag))
    if badge is None:
        return await badges.create_badge(session, tenant_id, {"id_tag": id_tag, "holder_label": holder, **values})
    if not badge.kind:  # a badge loaded by an earlier demo, before attachments: attach it once
        await badges.update_badge(session, tenant_id, badge, values)
    return badge


async def _history(session: AsyncSession, charger: Charger, badges: list[Badge], now: dt.datetime) -> int:
    """Past sessions with a charge curve, and a connection history with two cuts (CCTP 5-5)."""
    tid = charger.tenant_id
    if await session.scalar(select(func.count()).select_from(Transaction).where(
            Transaction.tenant_id == tid, Transaction.charger_id == charger.id)):
        return 0
    points = await registry.list_charge_points(session, tid, charger.id)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    register = 125_000 + charger.number * 40_000  # Wh already on the meter
    for number, (days, hour, minutes, kw) in enumerate(HISTORY, start=1):
        point = points[(number - 1) % len(points)]
        badge = badges[(number - 1) % len(badges)]
        started = midnight - dt.timedelta(days=days) + dt.timedelta(hours=hour, minutes=7 * charger.number)
        stopped = started + dt.timedelta(minutes=minutes)
        energy = round(kw * 1000 * minutes / 60)
        tx = Transaction(
            tenant_id=tid, charger_id=charger.id, charge_point_id=point.id, connector_id=point.connector_id,
            ocpp_transaction_id=str(number), status="completed", id_tag=badge.id_tag, id_tag_status="Accepted",
            badge_id=badge.id, meter_start=register, meter_stop=register + energy, started_at=started,
            stopped_at=stopped, stop_reason="EVDisconnected", start_received_at=started, stop_received_at=stopped,
        )
        session.add(tx)
        await session.flush()
        samples = []
        for step in range(0, minutes + 1, 10):
            at = started + dt.timedelta(minutes=step)
            # A car tapers off in the last quarter of its charge.
            power = kw * (1.0 if step < minutes * 0.75 else 0.6)
            samples += [
                MeterValue(tenant_id=tid, charger_id=charger.id, connector_id=point.connector_id, transaction_id=tx.id,
                           ocpp_transaction_id=tx.ocpp_transaction_id, sampled_at=at, measurand=measurand, value=value,
                           unit=unit, context="Sample.Periodic", received_at=at)
                for measurand, value, unit in (
                    ("Energy.Active.Import.Register", float(register + round(energy * step / minutes)), "Wh"),
                    ("Power.Active.Import", round(power * 1000, 1), "W"),
                )
            ]
        session.add_all(samples)
        register += energy
    charger.last_transaction_id = max(charger.last_transaction_id or 0, len(HISTORY))
    # Connected a week ago, cut for 40 minutes two days ago (a lost mobile link), then up until last night.
    week = midnight - dt.timedelta(days=7)
    cut = midnight - dt.timedelta(days=2, hours=-10)
    session.add_all([
        ConnectionLog(tenant_id=tid, charger_id=charger.id, connected_at=week, disconnected_at=cut,
                      reason="connection_lost", close_code=1006, subprotocol="ocpp1.6", node="demo"),
        ConnectionLog(tenant_id=tid, charger_id=charger.id, connected_at=cut + dt.timedelta(minutes=40),
                      disconnected_at=midnight - dt.timedelta(hours=1), reason="closed_by_station", close_code=1000,
                      subprotocol="ocpp1.6", node="demo"),
    ])
    # The history predates this load: so does the registration, which starts the uptime period.
    charger.created_at = min(charger.created_at or now, week)
    if not charger.vendor:
        charger.vendor, charger.model, charger.firmware_version = "Schneider Electric", "EVlink Pro AC", "3.4.0.12"
        charger.protocol, charger.last_seen_at = "ocpp1.6", midnight - dt.timedelta(hours=1)
    for point in points:
        point.last_status = point.last_status or "Available"
        point.last_status_at = point.last_status_at or midnight - dt.timedelta(hours=1)
    await session.flush()
    return len(HISTORY)


async def load_demo_stations(session: AsyncSession, tenants: dict[str, Any], sites: dict[str, Any]) -> dict[str, int]:
    """Register the demo fleet where missing; ``tenants`` / ``sites``: tenant key → tenant / its demo site."""
    chargers = transactions = 0
    now = utcnow()
    for key, specs in DEMO_STATIONS.items():
        tenant, site = tenants.get(key), sites.get(key)
        if tenant is None or site is None:
            continue
        cards = [await _badge(session, tenant.id, site.id, tag, holder, attach) for tag, holder, attach in DEMO_BADGES[key]]
        if key in DEMO_BUDGETS and await smart_charging.get_power_budget(session, tenant.id, site.id) is None:
            await smart_charging.set_power_budget(session, tenant.id, site.id, DEMO_BUDGETS[key])
        for spec in specs:
            route = await session.get(ChargeBoxRoute, spec["charge_box_id"])
            if route is None and await session.scalar(select(Charger.decommissioned_at).where(
                    Charger.tenant_id == tenant.id, Charger.charge_box_id == spec["charge_box_id"])) is not None:
                continue  # decommissioned by someone trying the demo: it stays retired
            if route is None:
                await registry.register_charger(
                    session, tenant.id, {**spec, "site": str(site.id), "password": DEMO_STATION_PASSWORD},
                )
            elif route.tenant_id != tenant.id:
                continue  # the id was taken on this platform by someone else: leave it alone
            charger = await registry.find_charger_in_tenant(session, tenant.id, spec["charge_box_id"])
            chargers += 1
            transactions += await _history(session, charger, cards, now)
        # Off line since last night: the alerts the ingress's sweep would open a minute after the
        # start are there at once (the homes and the operator's queue show them from the first page).
        await session.flush()
        await alerts.sweep_tenant(session, tenant.id, now=now, threshold=DEMO_OFFLINE_THRESHOLD)
    return {"stations": chargers, "transactions_added": transactions}



async def load(session: AsyncSession, demo: dict[str, Any]) -> dict[str, Any]:
    """csms's demo loader: the fleet on the demo tenants' first sites (put in ``demo`` by ``tenants``)."""
    stations = await load_demo_stations(session, demo["tenants"], demo["first_sites"])
    return {"stations": stations["stations"]}


def banner(settings: Any) -> list[str]:
    """The demo stations and how to simulate one, for the embedded server's banner."""
    ids = ", ".join(spec["charge_box_id"] for specs in DEMO_STATIONS.values() for spec in specs)
    return ["", f"Bornes de démonstration (mot de passe OCPP : {DEMO_STATION_PASSWORD}) : {ids}",
            "  Simuler une borne : .venv/bin/centrale stations simulate --charge-box-id CPAM-LM-01"]
