"""Reservations of charge points (CCTP CPAM 5-5-5-1 and 5-5-4).

5-5-5-1 offers users the « Possibilité de réservation de point de charge »; 5-5-4
asks for « un paramétrage standard de règles de réservation (population,
priorité, horaires) à la mise en service du point de charge qui est déployé par
le superviseur sur l'ensemble des points de charge concernés ». Here that
standard is one ``ReservationPolicy`` per tenant, applied to every one of its
charge points:

* population: which badges may reserve, by what they are attached to (service
  vehicle, site, agent: CCTP 5-5-5-3); a badge of a population not listed, a
  blocked or expired badge, cannot reserve;
* priority: the order of that list. A reservation that overlaps only
  reservations of lower-priority populations which are not yet on the station
  displaces them (they are cancelled, with the reason shown to their holder);
  anything else overlapping is a conflict, refused with a French message;
* hours: the weekdays and the opening hours (tenant's time zone) within which a
  reservation must lie, its longest duration, how far ahead it may be made.

On the wire (OCPP 1.6 « Reservation » profile; 2.0.1 H01/H02): a reservation is
sent with ReserveNow when its window opens (at once if it opens now; otherwise
by the ingress's sweep, ``send_due_reservations``) with ``expiryDate`` = its end;
a user's cancellation sends CancelReservation; a point reported Faulted or
Unavailable cancels its reservations (``cancel_on_fault``, called from
``csms.domain.recording.record_status`` in the same commit, CancelReservation sent by
the ingress after it); a StartTransaction carrying the ``reservationId``
consumes it (``consume``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import INT32_MAX, int_value, uuid_value
from app.db import Database, utcnow
from app.errors import NotFound, ValidationFailed
from csms.domain.models import BADGE_KINDS, Badge, ChargePoint, Charger, Reservation, ReservationPolicy

if TYPE_CHECKING:
    from app.bus import Bus
    from csms.domain.ports import IngressPort, StationRef

__all__ = [
    "OPEN_STATUSES",
    "STATUS_LABELS",
    "ReserveOutcome",
    "access_reservation",
    "cancel_later",
    "cancel_on_decommission",
    "cancel_on_fault",
    "cancel_reservation",
    "consume",
    "create_reservation",
    "get_policy",
    "list_reservations",
    "reserve_on_station",
    "send_due_reservations",
    "update_policy",
]

log = logging.getLogger(__name__)

#: A reservation that still holds its point.
OPEN_STATUSES = ("scheduled", "active")
STATUS_LABELS = {
    "scheduled": "Planifiée", "active": "Active sur la borne", "consumed": "Utilisée", "cancelled": "Annulée",
    "rejected": "Refusée par la borne", "expired": "Expirée",
}
#: ReserveNow answers (1.6 ReservationStatus, 2.0.1 ReserveNowStatusEnumType), in French.
STATION_ANSWERS = {
    "Accepted": "acceptée", "Faulted": "point de charge en défaut", "Occupied": "point de charge occupé",
    "Rejected": "réservation refusée par la borne", "Unavailable": "point de charge indisponible",
}
#: Statuses that make a point unable to honour a reservation (5-5-4 « en défaut »).
FAULT_STATUSES = ("Faulted", "Unavailable")
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
#: A reservation may start this far in the past (the form's « maintenant » takes a moment).
START_SLACK = dt.timedelta(minutes=5)
ACTOR = {"user_id": None, "label": "réservations"}


# --------------------------------------------------------------------------- the standard rules (5-5-4)


async def get_policy(session: AsyncSession, tenant_id: uuid.UUID) -> ReservationPolicy:
    """The tenant's reservation rules; the standard ones are created on first use (5-5-4)."""
    policy = await session.scalar(select(ReservationPolicy).where(ReservationPolicy.tenant_id == tenant_id))
    if policy is None:
        policy = ReservationPolicy(tenant_id=tenant_id, populations="vehicle,site,agent", weekdays="12345",
                                   opens_minute=7 * 60, closes_minute=20 * 60, max_duration_minutes=240,
                                   max_advance_days=14, last_reservation_id=0)
        session.add(policy)
        await session.flush()
    return policy


def _minutes(value: Any, field_name: str, errors: dict[str, str]) -> int:
    text = str(value or "").strip()
    try:
        hours, minutes = text.split(":")
        total = int(hours) * 60 + int(minutes)
        if not (0 <= int(minutes) < 60 and 0 <= total <= 24 * 60):
            raise ValueError
        return total
    except ValueError:
        errors[field_name] = "Heure invalide (HH:MM attendu, ex. 07:30)."
        return 0


async def update_policy(session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any]) -> ReservationPolicy:
    """Change the tenant's standard rules (population, priority, hours); only the fields given change."""
    policy = await get_policy(session, tenant_id)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if "populations" in data:
        raw = data["populations"]
        items = [p.strip() for p in (raw.split(",") if isinstance(raw, str) else list(raw or ()))]
        items = [p for p in items if p]
        if not items or any(p not in BADGE_KINDS for p in items) or len(set(items)) != len(items):
            errors["populations"] = ("Autorisez au moins une population (véhicule de service, site de rattachement, "
                                     "agent), chacune avec une priorité différente.")
        values["populations"] = ",".join(items)
    if "weekdays" in data:
        days = "".join(sorted(set(str(data["weekdays"] or ""))))
        if not days or any(d not in "1234567" for d in days):
            errors["weekdays"] = "Cochez au moins un jour autorisé."
        values["weekdays"] = days
    for name in ("opens", "closes"):
        if name in data:
            values[f"{name}_minute"] = _minutes(data[name], name, errors)
    opens = values.get("opens_minute", policy.opens_minute)
    closes = values.get("closes_minute", policy.closes_minute)
    if "opens" not in errors and "closes" not in errors and opens >= closes:
        errors["closes"] = "L'heure de fin doit suivre l'heure de début."
    for name, low, high, message in (
        ("max_duration_minutes", 15, 24 * 60, "Durée maximale : de 15 à 1440 minutes."),
        ("max_advance_days", 0, 365, "Réservation possible de 0 à 365 jours à l'avance."),
    ):
        if name in data:
            try:
                number = int(str(data[name]).strip())
                if not low <= number <= high:
                    raise ValueError
                values[name] = number
            except ValueError:
                errors[name] = message
    if errors:
        raise ValidationFailed(errors)
    for name, value in values.items():
        setattr(policy, name, value)
    await session.flush()
    return policy


def describe_policy(policy: ReservationPolicy) -> dict[str, Any]:
    """The rules in French, for the pages."""
    def hm(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return {
        "populations": [BADGE_KINDS[p] for p in policy.populations.split(",") if p in BADGE_KINDS],
        "weekdays": [WEEKDAYS[int(d) - 1] for d in policy.weekdays],
        "opens": hm(policy.opens_minute), "closes": hm(policy.closes_minute),
        "max_duration_minutes": policy.max_duration_minutes, "max_advance_days": policy.max_advance_days,
    }


# --------------------------------------------------------------------------- creating


def _parse_moment(value: Any, name: str, tz: ZoneInfo, errors: dict[str, str]) -> dt.datetime | None:
    """ISO 8601 with an offset (API) or a local ``AAAA-MM-JJTHH:MM`` (form, tenant's time zone)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=tz).astimezone(dt.UTC)
    text = str(value or "").strip()
    if not text:
        errors[name] = "Date et heure obligatoires."
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors[name] = "Date et heure invalides (AAAA-MM-JJTHH:MM attendu)."
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(dt.UTC)


def _local(moment: dt.datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%d/%m/%Y %H:%M")


async def _find_point(
    session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any], errors: dict[str, str]
) -> tuple[ChargePoint, Charger] | None:
    point: ChargePoint | None = None
    point_id = uuid_value(data.get("charge_point_id"))
    if point_id is not None:
        point = await session.get(ChargePoint, (tenant_id, point_id))
    elif data.get("charge_box_id"):
        connector = int_value(data, "connector_id", errors, low=0, high=INT32_MAX, label="Connecteur", default=0)
        if "connector_id" in errors:
            return None
        point = await session.scalar(
            select(ChargePoint).join(Charger, (Charger.tenant_id == ChargePoint.tenant_id)
                                     & (Charger.id == ChargePoint.charger_id))
            .where(ChargePoint.tenant_id == tenant_id, Charger.charge_box_id == str(data["charge_box_id"]),
                   ChargePoint.connector_id == connector))
    if point is None:
        errors["charge_point_id"] = "Point de charge inconnu chez ce bénéficiaire."
        return None
    charger = await session.get(Charger, (tenant_id, point.charger_id))
    assert charger is not None
    if charger.decommissioned_at is not None:
        errors["charge_point_id"] = "Ce point de charge appartient à une borne mise hors service définitivement."
        return None
    return point, charger


async def _find_badge(session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any]) -> Badge | None:
    badge_id = uuid_value(data.get("badge_id"))
    if badge_id is not None:
        return await session.get(Badge, (tenant_id, badge_id))
    if data.get("id_tag"):
        return await session.scalar(select(Badge).where(
            Badge.tenant_id == tenant_id, Badge.id_tag == str(data["id_tag"]).strip().upper()))
    return None


async def _next_reservation_id(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """The OCPP reservationId: a per-tenant counter (an int on the wire, unique per tenant)."""
    await get_policy(session, tenant_id)
    value = await session.scalar(
        update(ReservationPolicy).where(ReservationPolicy.tenant_id == tenant_id)
        .values(last_reservation_id=ReservationPolicy.last_reservation_id + 1)
        .returning(ReservationPolicy.last_reservation_id).execution_options(synchronize_session=False))
    return int(value)


@dataclass
class Created:
    reservation: Reservation
    displaced: list[Reservation] = field(default_factory=list)


async def create_reservation(
    session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any], *, tz: str = "Europe/Paris",
    user_id: uuid.UUID | None = None, own_badges_only: bool = False, now: dt.datetime | None = None,
) -> Created:
    """Reserve a charge point for a badge over ``[starts_at, ends_at)`` under the tenant's rules (5-5-4).

    ``own_badges_only``: an agent reserves with a badge issued to them, nobody else's.
    """
    now = now or utcnow()
    zone = ZoneInfo(tz)
    errors: dict[str, str] = {}
    found = await _find_point(session, tenant_id, data, errors)
    badge = await _find_badge(session, tenant_id, data)
    if badge is None or (own_badges_only and badge.user_id != user_id):
        errors["badge_id"] = "Badge inconnu chez ce bénéficiaire." if not own_badges_only else \
            "Choisissez l'un de vos badges."
    starts_at = _parse_moment(data.get("starts_at"), "starts_at", zone, errors)
    ends_at = _parse_moment(data.get("ends_at"), "ends_at", zone, errors)
    if errors:
        raise ValidationFailed(errors)
    assert found is not None and badge is not None and starts_at is not None and ends_at is not None
    point, charger = found
    policy = await get_policy(session, tenant_id)
    rules = describe_policy(policy)
    populations = policy.populations.split(",")

    # Times (5-5-4 « horaires »).
    if ends_at <= starts_at:
        errors["ends_at"] = "La fin de la réservation doit suivre son début."
    elif starts_at < now - START_SLACK:
        errors["starts_at"] = "Le début de la réservation est déjà passé."
    elif ends_at - starts_at > dt.timedelta(minutes=policy.max_duration_minutes):
        errors["ends_at"] = f"Une réservation dure au plus {policy.max_duration_minutes} minutes."
    elif starts_at > now + dt.timedelta(days=policy.max_advance_days):
        errors["starts_at"] = f"On réserve au plus {policy.max_advance_days} jours à l'avance."
    else:
        local_start, local_end = starts_at.astimezone(zone), ends_at.astimezone(zone)
        always_open = policy.opens_minute == 0 and policy.closes_minute >= 24 * 60  # « 24 h/24 »: may span midnight
        start_min = local_start.hour * 60 + local_start.minute
        end_min = (local_end - local_start.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 60
        if str(local_start.isoweekday()) not in policy.weekdays:
            errors["starts_at"] = f"Réservations possibles le {', '.join(rules['weekdays'])} seulement."
        elif not always_open and (start_min < policy.opens_minute or end_min > policy.closes_minute):
            errors["starts_at"] = (f"Réservations possibles de {rules['opens']} à {rules['closes']} "
                                   "(heure locale), dans la même journée.")
    # Population (5-5-4 « population ») and the badge itself.
    if badge.kind not in populations:
        allowed = ", ".join(rules["populations"]).lower()
        errors["badge_id"] = (f"Les badges de cette catégorie ne peuvent pas réserver ; catégories autorisées : "
                              f"{allowed}.") if badge.kind else \
            "Ce badge n'est rattaché ni à un véhicule, ni à un site, ni à un agent : il ne peut pas réserver."
    elif badge.status != "Accepted":
        errors["badge_id"] = f"Le badge {badge.id_tag} est {'bloqué' if badge.status == 'Blocked' else 'expiré'}."
    elif badge.expires_at is not None and badge.expires_at <= ends_at:
        errors["badge_id"] = f"Le badge {badge.id_tag} expire avant la fin de la réservation."
    if point.last_status in FAULT_STATUSES:
        errors["charge_point_id"] = "Ce point de charge est hors service : il ne peut pas être réservé."
    if errors:
        raise ValidationFailed(errors)

    # Conflicts and priority (5-5-4 « priorité »): rank 0 is the first population listed.
    priority = populations.index(badge.kind)
    overlapping = list(await session.scalars(select(Reservation).where(
        Reservation.tenant_id == tenant_id, Reservation.status.in_(OPEN_STATUSES),
        Reservation.starts_at < ends_at, Reservation.ends_at > starts_at,
        or_(Reservation.charge_point_id == point.id, Reservation.badge_id == badge.id),
    ).order_by(Reservation.starts_at)))
    same_badge = [r for r in overlapping if r.badge_id == badge.id]
    if same_badge:
        other = same_badge[0]
        raise ValidationFailed({"badge_id": (
            f"Ce badge a déjà une réservation du {_local(other.starts_at, zone)} au {_local(other.ends_at, zone)} : "
            "un badge ne réserve qu'un point de charge à la fois.")})
    blocking = [r for r in overlapping if r.status == "active" or r.priority <= priority]
    if blocking:
        other = blocking[0]
        raise ValidationFailed({"starts_at": (
            f"Ce point de charge est déjà réservé du {_local(other.starts_at, zone)} au {_local(other.ends_at, zone)}. "
            "Choisissez un autre créneau ou un autre point de charge.")})
    displaced = [r for r in overlapping if r.charge_point_id == point.id]
    for other in displaced:
        other.status = "cancelled"
        other.cancelled_at = now
        other.cancel_reason = (f"Remplacée par une réservation prioritaire ({BADGE_KINDS[badge.kind].lower()}), "
                               "selon les règles de réservation du bénéficiaire.")
    reservation = Reservation(
        tenant_id=tenant_id, charger_id=charger.id, charge_point_id=point.id, connector_id=point.connector_id,
        badge_id=badge.id, id_tag=badge.id_tag, population=badge.kind, priority=priority,
        ocpp_reservation_id=await _next_reservation_id(session, tenant_id), starts_at=starts_at, ends_at=ends_at,
        status="scheduled", created_by=user_id,
    )
    session.add(reservation)
    await session.flush()
    return Created(reservation, displaced)


# --------------------------------------------------------------------------- on the wire


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class ReserveOutcome:
    status: str  # new reservation status: active | rejected | scheduled (station offline: retried later)
    station_status: str = ""
    message: str = ""


async def reserve_on_station(
    db: Database, bus: Bus, reservation: Reservation, *, charge_box_id: str, protocol: str,
) -> ReserveOutcome:
    """Send ReserveNow for ``reservation``; the caller writes the outcome on its row."""
    from csms.domain import commands

    if protocol == "ocpp2.0.1":
        payload: dict[str, Any] = {
            "id": reservation.ocpp_reservation_id, "expiryDateTime": _iso(reservation.ends_at),
            "idToken": {"idToken": reservation.id_tag, "type": "ISO14443"}, "evseId": reservation.connector_id,
        }
    else:
        payload = {"connectorId": reservation.connector_id, "expiryDate": _iso(reservation.ends_at),
                   "idTag": reservation.id_tag, "reservationId": reservation.ocpp_reservation_id}
    try:
        answer = await commands.send_command(
            db, bus, tenant_id=reservation.tenant_id, charge_box_id=charge_box_id, action="ReserveNow",
            payload=payload, actor=ACTOR, timeout=30)
    except (commands.StationOffline, commands.CommandTimeout) as exc:
        return ReserveOutcome("scheduled", "", f"Borne injoignable ({exc.message}) : la réservation lui sera "
                                              "envoyée à sa reconnexion.")
    except commands.CommandError as exc:
        return ReserveOutcome("rejected", "Rejected", f"La borne a refusé la réservation : {exc.message}")
    status = str(answer.get("status", ""))
    if status == "Accepted":
        return ReserveOutcome("active", status, "Réservation enregistrée par la borne.")
    return ReserveOutcome("rejected", status[:20], f"La borne a refusé la réservation : "
                                                   f"{STATION_ANSWERS.get(status, status)}.")


def apply_outcome(reservation: Reservation, outcome: ReserveOutcome, *, now: dt.datetime) -> None:
    reservation.status = outcome.status
    reservation.station_status = outcome.station_status
    if outcome.status == "rejected":
        reservation.cancelled_at = now
        reservation.cancel_reason = outcome.message[:300]


async def cancel_on_station(db: Database, bus: Bus, tenant_id: uuid.UUID, charge_box_id: str,
                            ocpp_reservation_id: int) -> str:
    """CancelReservation; the station's status, or why it could not be asked (best effort)."""
    from csms.domain import commands

    try:
        answer = await commands.send_command(
            db, bus, tenant_id=tenant_id, charge_box_id=charge_box_id, action="CancelReservation",
            payload={"reservationId": ocpp_reservation_id}, actor=ACTOR, timeout=30)
    except commands.CommandError as exc:
        return exc.status
    return str(answer.get("status", ""))


async def send_due_reservations(db: Database, bus: Bus, tenant_id: uuid.UUID, charge_box_id: str) -> int:
    """Ingress sweep: ReserveNow for this station's reservations whose window has opened;
    those whose window closed without use expire. Returns how many were sent."""
    now = utcnow()
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        charger = await session.scalar(select(Charger).where(
            Charger.tenant_id == tenant_id, Charger.charge_box_id == charge_box_id))
        if charger is None:
            return 0
        for stale in await session.scalars(select(Reservation).where(
                Reservation.tenant_id == tenant_id, Reservation.charger_id == charger.id,
                Reservation.status.in_(OPEN_STATUSES), Reservation.ends_at <= now)):
            stale.status = "expired"
        due = list(await session.scalars(select(Reservation).where(
            Reservation.tenant_id == tenant_id, Reservation.charger_id == charger.id,
            Reservation.status == "scheduled", Reservation.starts_at <= now, Reservation.ends_at > now)))
    sent = 0
    for reservation in due:
        outcome = await reserve_on_station(db, bus, reservation, charge_box_id=charge_box_id,
                                           protocol=charger.protocol)
        if outcome.status == "scheduled":
            continue
        sent += 1
        async with db.transaction([tenant_id], actor=ACTOR) as session:
            row = await session.get(Reservation, (tenant_id, reservation.id))
            if row is not None and row.status == "scheduled":  # not cancelled meanwhile
                apply_outcome(row, outcome, now=now)
    return sent


# --------------------------------------------------------------------------- cancelling, consuming


async def cancel_reservation(
    db: Database, bus: Bus | None, session: AsyncSession, reservation: Reservation, *, reason: str,
    now: dt.datetime | None = None,
) -> str:
    """A user cancels: the row says so at once; an active one is cancelled on the station too.

    Commits ``session`` before asking the station (the command log is written in its
    own transaction; SQLite allows one writer). Returns the station's answer ("" when
    nothing had been sent to it)."""
    if reservation.status not in OPEN_STATUSES:
        raise ValidationFailed({"reservation": f"Cette réservation est déjà {STATUS_LABELS[reservation.status].lower()}."})
    was_active = reservation.status == "active"
    reservation.status = "cancelled"
    reservation.cancelled_at = now or utcnow()
    reservation.cancel_reason = reason[:300]
    charger = await session.get(Charger, (reservation.tenant_id, reservation.charger_id))
    assert charger is not None
    await session.commit()
    if not was_active or bus is None:
        return ""
    return await cancel_on_station(db, bus, reservation.tenant_id, charger.charge_box_id,
                                   reservation.ocpp_reservation_id)


_background: set[asyncio.Task[Any]] = set()


def cancel_later(ingress: IngressPort, ref: StationRef, ocpp_reservation_ids: list[int]) -> None:
    """From a handler: CancelReservation for each id, in a task (a handler never awaits a call)."""
    async def run() -> None:
        for reservation_id in ocpp_reservation_ids:
            await cancel_on_station(ingress.db, ingress.bus, ref.tenant_id, ref.charge_box_id, reservation_id)

    task = asyncio.create_task(run(), name=f"cancel-reservations-{ref.charge_box_id}")
    _background.add(task)
    task.add_done_callback(_background.discard)


async def cancel_on_fault(
    session: AsyncSession, ref: StationRef, *, connector_id: int, status: str, at: dt.datetime,
) -> list[int]:
    """A point reported Faulted / Unavailable (connector 0: the whole charger) cannot honour its
    reservations: they are cancelled, with the reason their holders read in the portal.
    Returns the reservationIds that were on the station (the ingress cancels them there)."""
    if status not in FAULT_STATUSES:
        return []
    stmt = select(Reservation).where(
        Reservation.tenant_id == ref.tenant_id, Reservation.charger_id == ref.charger_id,
        Reservation.status.in_(OPEN_STATUSES), Reservation.ends_at > at)
    if connector_id > 0:
        stmt = stmt.where(Reservation.connector_id == connector_id)
    label = "en défaut" if status == "Faulted" else "indisponible"
    on_station = []
    for reservation in await session.scalars(stmt):
        if reservation.status == "active":
            on_station.append(reservation.ocpp_reservation_id)
        reservation.status = "cancelled"
        reservation.cancelled_at = at
        reservation.cancel_reason = (f"Annulée automatiquement : le point de charge est passé {label} ({status}) "
                                     f"le {at.strftime('%d/%m/%Y à %H:%M')} UTC.")
    return on_station


async def cancel_on_decommission(
    session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, *, at: dt.datetime,
) -> list[Reservation]:
    """The charger is retired for good: its open reservations are cancelled (ORM writes, audited),
    with the reason their holders read in the portal. Nothing is sent to the station: its socket is
    closed and it can never connect again."""
    cancelled = list(await session.scalars(select(Reservation).where(
        Reservation.tenant_id == tenant_id, Reservation.charger_id == charger_id,
        Reservation.status.in_(OPEN_STATUSES))))
    for reservation in cancelled:
        reservation.status = "cancelled"
        reservation.cancelled_at = at
        reservation.cancel_reason = (f"Annulée : la borne a été mise hors service définitivement le "
                                     f"{at.strftime('%d/%m/%Y à %H:%M')} UTC.")
    return cancelled


async def consume(
    session: AsyncSession, ref: StationRef, *, reservation_id: int | None, transaction_id: uuid.UUID,
    at: dt.datetime,
) -> bool:
    """A StartTransaction carrying ``reservationId`` uses the reservation up."""
    if reservation_id is None:
        return False
    reservation = await session.scalar(select(Reservation).where(
        Reservation.tenant_id == ref.tenant_id, Reservation.charger_id == ref.charger_id,
        Reservation.ocpp_reservation_id == reservation_id))
    if reservation is None or reservation.status not in OPEN_STATUSES:
        return False
    reservation.status = "consumed"
    reservation.consumed_at = at
    reservation.transaction_id = transaction_id
    return True


async def record_station_update(
    session: AsyncSession, ref: StationRef, *, reservation_id: int, status: str, at: dt.datetime,
) -> Reservation | None:
    """OCPP 2.0.1 ReservationStatusUpdate (use case H01): the station ended a reservation on its own,
    ``Expired`` (its window passed unused) or ``Removed`` (no longer valid at the station, e.g. the EVSE
    became inoperative). An open reservation of ours ends accordingly; else nothing changes."""
    reservation = await session.scalar(select(Reservation).where(
        Reservation.tenant_id == ref.tenant_id, Reservation.charger_id == ref.charger_id,
        Reservation.ocpp_reservation_id == reservation_id))
    if reservation is None or reservation.status not in OPEN_STATUSES:
        return None
    if status == "Expired":
        reservation.status = "expired"
    else:
        reservation.status = "cancelled"
        reservation.cancel_reason = "Retirée par la borne (ReservationStatusUpdate Removed)."
        reservation.cancelled_at = at
    return reservation


# --------------------------------------------------------------------------- reads


async def access_reservation(session: AsyncSession, tenant_id: uuid.UUID, reservation_id: uuid.UUID) -> Reservation:
    reservation = await session.get(Reservation, (tenant_id, reservation_id))
    if reservation is None:
        raise NotFound("réservation")
    return reservation


async def list_reservations(
    session: AsyncSession, tenant_id: uuid.UUID, *, user_id: uuid.UUID | None = None, limit: int = 200,
    starts_from: dt.datetime | None = None, starts_before: dt.datetime | None = None,
) -> list[Reservation]:
    """Newest window first; ``user_id``: only reservations made with that agent's badges;
    ``starts_from`` / ``starts_before``: only windows starting in that period."""
    stmt = select(Reservation).where(Reservation.tenant_id == tenant_id)
    if starts_from is not None:
        stmt = stmt.where(Reservation.starts_at >= starts_from)
    if starts_before is not None:
        stmt = stmt.where(Reservation.starts_at < starts_before)
    if user_id is not None:
        stmt = stmt.join(Badge, (Badge.tenant_id == Reservation.tenant_id) & (Badge.id == Reservation.badge_id)) \
            .where(Badge.user_id == user_id)
    return list(await session.scalars(stmt.order_by(Reservation.starts_at.desc()).limit(limit)))


def display_status(reservation: Reservation, now: dt.datetime) -> str:
    if reservation.status in OPEN_STATUSES and reservation.ends_at <= now:
        return "expired"
    return reservation.status
