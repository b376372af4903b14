"""Usage statistics per charge point and the charge curve of a transaction.

CCTP CPAM 5-5-4: « Statistiques d'utilisation des points de charge et des prises pour
chaque borne : […] usages (durée, horaires, puissances demandées, type de prise
utilisée) » and « Enregistrement des courbes de charge ».

Statistics are computed by the database (one grouped query), never by loading the
transactions: over a period [start, end), per charge point, the transactions that
*started* in it (orphan stops, which have no start, are left out):

* sessions: their count; energy: the sum of ``meter_stop - meter_start`` (Wh, for
  the transactions that have both);
* total duration: the sum of ``stopped_at - started_at`` (a transaction still
  running counts up to now); mean duration: total / sessions;
* hours of use: the same durations cut at the end of the period; occupancy rate:
  hours of use / hours in the period.

A charger retired for good (``csms.domain.registry.decommission_charger``) keeps its points
in the periods it was in service, with their sessions; a period that starts after
its retirement leaves them out.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import UTCDateTime
from csms.domain.models import ChargePoint, Charger, MeterValue, Station, Transaction

__all__ = ["Curve", "PointUsage", "charge_curve", "curve_chart", "usage_by_point"]

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


@dataclass
class PointUsage:
    charge_point_id: uuid.UUID
    canonical_id: str
    charge_box_id: str
    connector_id: int
    station_name: str
    power_kw: float | None
    socket_types: str
    sessions: int = 0
    energy_wh: int = 0
    total_seconds: float = 0.0
    used_seconds: float = 0.0
    period_seconds: float = 0.0

    @property
    def mean_seconds(self) -> float | None:
        return self.total_seconds / self.sessions if self.sessions else None

    @property
    def occupancy(self) -> float:
        return self.used_seconds / self.period_seconds if self.period_seconds > 0 else 0.0


def _seconds(session: AsyncSession, start: Any, stop: Any) -> Any:
    if session.bind.dialect.name == "postgresql":
        return func.extract("epoch", stop - start)
    return (func.julianday(stop) - func.julianday(start)) * 86400.0


def _least(session: AsyncSession, a: Any, b: Any) -> Any:
    return func.least(a, b) if session.bind.dialect.name == "postgresql" else func.min(a, b)


async def usage_by_point(
    session: AsyncSession, tenant_id: uuid.UUID, start: dt.datetime, end: dt.datetime, *, now: dt.datetime,
) -> list[PointUsage]:
    """Every charge point of the tenant with its usage over [start, end) (zeros when unused)."""
    at_now = literal(now, UTCDateTime())
    at_end = literal(end, UTCDateTime())
    stop = func.coalesce(Transaction.stopped_at, at_now)
    figures = (
        select(
            Transaction.charge_point_id,
            func.count().label("sessions"),
            func.coalesce(func.sum(Transaction.meter_stop - Transaction.meter_start), 0).label("energy_wh"),
            func.coalesce(func.sum(_seconds(session, Transaction.started_at, stop)), 0).label("total_seconds"),
            func.coalesce(func.sum(_seconds(session, Transaction.started_at, _least(session, stop, at_end))), 0)
            .label("used_seconds"),
        )
        .where(Transaction.tenant_id == tenant_id, Transaction.charge_point_id.is_not(None),
               Transaction.status != "orphan", Transaction.started_at >= start, Transaction.started_at < end)
        .group_by(Transaction.charge_point_id)
        .subquery()
    )
    rows = (await session.execute(
        select(ChargePoint.id, ChargePoint.canonical_id, Charger.charge_box_id, ChargePoint.connector_id, Station.name,
               ChargePoint.power_kw, ChargePoint.socket_types, figures.c.sessions, figures.c.energy_wh,
               figures.c.total_seconds, figures.c.used_seconds)
        .join(Charger, and_(Charger.tenant_id == ChargePoint.tenant_id, Charger.id == ChargePoint.charger_id))
        .join(Station, and_(Station.tenant_id == Charger.tenant_id, Station.id == Charger.station_id))
        .outerjoin(figures, figures.c.charge_point_id == ChargePoint.id)
        # A point of a charger retired before the period did not exist in it; retired during or
        # after it, its sessions count (past activity stays in the reports).
        .where(ChargePoint.tenant_id == tenant_id,
               or_(Charger.decommissioned_at.is_(None), Charger.decommissioned_at > start))
        .order_by(ChargePoint.canonical_id)
    )).all()
    period = (end - start).total_seconds()
    return [
        PointUsage(
            charge_point_id=r[0], canonical_id=r[1], charge_box_id=r[2], connector_id=r[3], station_name=r[4],
            power_kw=r[5], socket_types=r[6], sessions=int(r[7] or 0), energy_wh=int(r[8] or 0),
            total_seconds=float(r[9] or 0), used_seconds=max(0.0, float(r[10] or 0)), period_seconds=period,
        )
        for r in rows
    ]


# --------------------------------------------------------------------------- charge curve


@dataclass
class CurvePoint:
    at: dt.datetime
    power_kw: float | None
    energy_kwh: float | None


@dataclass
class Curve:
    points: list[CurvePoint] = field(default_factory=list)
    #: True when the power was derived from successive energy readings (no power measurand sent).
    derived_power: bool = False

    @property
    def max_kw(self) -> float:
        return max((p.power_kw for p in self.points if p.power_kw is not None), default=0.0)

    @property
    def total_kwh(self) -> float:
        return max((p.energy_kwh for p in self.points if p.energy_kwh is not None), default=0.0)


def _to_base(value: float, unit: str) -> float:
    """Wh or W from a sample in Wh/W or kWh/kW."""
    return value * 1000 if unit.lower().startswith("k") else value


async def charge_curve(session: AsyncSession, tx: Transaction) -> Curve:
    """Power (kW) and energy delivered since the start (kWh) over time, from the transaction's meter values."""
    rows = (await session.execute(
        select(MeterValue.sampled_at, MeterValue.measurand, MeterValue.value, MeterValue.unit, MeterValue.phase)
        .where(MeterValue.tenant_id == tx.tenant_id, MeterValue.transaction_id == tx.id,
               MeterValue.measurand.in_([ENERGY, POWER]), MeterValue.value.is_not(None))
        .order_by(MeterValue.sampled_at)
    )).all()
    energy: dict[dt.datetime, float] = {}
    power: dict[dt.datetime, float] = {}
    phased_power: dict[dt.datetime, float] = {}
    for at, measurand, value, unit, phase in rows:
        base = _to_base(float(value), unit or ("Wh" if measurand == ENERGY else "W"))
        if measurand == ENERGY:
            if not phase:  # the register of the whole point; per-phase registers are not added up
                energy.setdefault(at, base)
        elif not phase:
            power.setdefault(at, base)
        elif phase in ("L1", "L2", "L3", "L1-N", "L2-N", "L3-N"):
            phased_power[at] = phased_power.get(at, 0.0) + base
    power = power or phased_power
    origin = tx.meter_start if tx.meter_start is not None else (min(energy.items())[1] if energy else None)
    if tx.started_at is not None and tx.meter_start is not None and (not energy or tx.started_at < min(energy)):
        energy[tx.started_at] = float(tx.meter_start)
    if tx.stopped_at is not None and tx.meter_stop is not None and (not energy or tx.stopped_at > max(energy)):
        energy[tx.stopped_at] = float(tx.meter_stop)
    curve = Curve()
    if not power and len(energy) > 1:
        curve.derived_power = True
        moments = sorted(energy)
        for before, after in zip(moments, moments[1:], strict=False):
            hours = (after - before).total_seconds() / 3600
            if hours > 0:
                power[after] = max(0.0, (energy[after] - energy[before]) / hours)
    for at in sorted(set(energy) | set(power)):
        kwh = (energy[at] - origin) / 1000 if at in energy and origin is not None else None
        kw = power[at] / 1000 if at in power else None
        curve.points.append(CurvePoint(at, kw, kwh))
    return curve


def _nice_max(value: float) -> float:
    """The axis top: 1, 2, 2.5 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def _fr(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def curve_chart(curve: Curve, tz: str, *, width: int = 720, height: int = 300) -> dict[str, Any] | None:
    """Geometry of the inline SVG chart (server-side, no script): polylines, markers and axis ticks."""
    if len(curve.points) < 2:
        return None
    # The top margin holds the unit labels (kW, kWh) above the highest tick labels, not on them.
    left, right, top, bottom = 56, 56, 36, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    t0, t1 = curve.points[0].at, curve.points[-1].at
    span = max((t1 - t0).total_seconds(), 1.0)
    kw_top, kwh_top = _nice_max(curve.max_kw), _nice_max(curve.total_kwh)
    zone = ZoneInfo(tz)

    def x(at: dt.datetime) -> float:
        return round(left + (at - t0).total_seconds() / span * plot_w, 1)

    def y(value: float, top_value: float) -> float:
        return round(top + plot_h - value / top_value * plot_h, 1)

    power = [(x(p.at), y(p.power_kw, kw_top), p) for p in curve.points if p.power_kw is not None]
    energy = [(x(p.at), y(p.energy_kwh, kwh_top), p) for p in curve.points if p.energy_kwh is not None]
    return {
        "width": width, "height": height, "left": left, "right": width - right, "top": top,
        "bottom": top + plot_h,
        "power_points": " ".join(f"{px},{py}" for px, py, _ in power),
        "energy_points": " ".join(f"{ex},{ey}" for ex, ey, _ in energy),
        "power_marks": [{"x": px, "y": py, "label": f"{p.at.astimezone(zone):%H:%M:%S} : {_fr(p.power_kw or 0)} kW"}
                        for px, py, p in power],
        "energy_marks": [{"x": ex, "y": ey, "label": f"{p.at.astimezone(zone):%H:%M:%S} : {_fr(p.energy_kwh or 0, 2)} kWh"}
                         for ex, ey, p in energy],
        "kw_ticks": [{"y": y(kw_top * i / 4, kw_top), "label": _fr(kw_top * i / 4)} for i in range(5)],
        "kwh_ticks": [{"y": y(kwh_top * i / 4, kwh_top), "label": _fr(kwh_top * i / 4, 2)} for i in range(5)],
        "time_ticks": _time_ticks(t0, span, zone, left, plot_w),
        "unit_y": top - 18,
    }


def _time_ticks(t0: dt.datetime, span: float, zone: ZoneInfo, left: int, plot_w: int) -> list[dict[str, Any]]:
    """Five time ticks whose labels differ: minutes, with seconds when the charge is short; a
    tick whose label repeats the previous one's (a charge of a few seconds) is left out."""
    moments = [(left + plot_w * i / 4, (t0 + dt.timedelta(seconds=span * i / 4)).astimezone(zone)) for i in range(5)]
    fmt = "%H:%M" if len({m.strftime("%H:%M") for _, m in moments}) == len(moments) else "%H:%M:%S"
    ticks: list[dict[str, Any]] = []
    for x, moment in moments:
        label = moment.strftime(fmt)
        if not ticks or ticks[-1]["label"] != label:
            ticks.append({"x": round(x, 1), "label": label})
    return ticks
