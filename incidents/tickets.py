"""Ticket services: open, record events, reclassify, change policy, reopen, interventions, lists.

Every change is an event (``incident_ticket_events``: who, when, what, from which channel); after
each, the clocks are rebuilt from ALL the events with ``incidents.sla.evaluate_ticket``, the tenant's
calendar and the ticket's policy version, and the due dates are stored on the ticket (indexed) so that
lists sort by deadline. Functions take an open session scoped to the tenant; ``now`` is passed in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import column_length
from app.db import actor_of
from app.outbox import publish_on_commit
from assets import services as assets
from catalog import services as catalog
from catalog.deadlines import TicketBalance
from csms.services import points_affected
from incidents.events import TicketClosed, TicketOpened
from incidents.models import (
    CHANNELS,
    OPEN_STATUSES,
    Attachment,
    IncidentNotice,
    IncidentSettings,
    Intervention,
    SlaPolicyVersion,
    Ticket,
    TicketCounter,
    TicketEventRow,
)
from incidents.notices import next_notice_at, notice_plan
from incidents.sla import (
    SlaPolicy,
    TicketClock,
    TicketEvent,
    evaluate_ticket,
    onsite_continuity_breach,
    policy_template,
    restoration_seconds,
)
from incidents.workflow import WorkflowError, deemed_acceptance_due, transition
from tenants import services as tenants
from tenants.calendars import BusinessCalendar
from tenants.models import Tenant

__all__ = [
    "ATTACHMENT_MAX_BYTES",
    "ATTACHMENT_TYPES",
    "TicketError",
    "accept_resolution",
    "add_attachment",
    "add_event",
    "attachment_path",
    "backfill_restoration_seconds",
    "change_policy",
    "close_deemed_accepted",
    "continuity_breached",
    "current_policy",
    "incident_settings",
    "InfogeranceBalance",
    "infogerance_balance",
    "open_ticket",
    "level_labels",
    "open_tickets_across",
    "policy_versions",
    "record_intervention",
    "reclassify",
    "reopen",
    "report_late",
    "sent_notices",
    "save_policy",
    "set_policy_from_template",
    "tenant_calendar",
    "ticket_clocks",
    "ticket_events",
    "ticket_attachments",
    "ticket_counts",
    "ticket_interventions",
    "tickets_of_tenant",
    "update_settings",
    "warned_tickets",
]


class TicketError(ValueError):
    """Bad input to a ticket service (French message)."""


#: The template a tenant gets on first use, by the code of its central (its agreement).
TEMPLATE_OF_CENTRAL = {"CPAM72": "cpam-irve", "CANUT": "canut-iot", "CAIH": "caih-maintenance-ho",
                       "MJ": "tgd-terminaux"}
DEFAULT_TEMPLATE = "canut-iot"

#: CAIH 2.1.7: « tickets de 30 minutes », indivisible.
UNIT = dt.timedelta(minutes=30)
#: The intervention report is due 48 h after the visit (issue 13 §2).
REPORT_DELAY = dt.timedelta(hours=48)
#: CPAM 5-4-8: « dans un délai de deux jours ouvrés ».
RECORD_WORKING_DAYS = 2

ATTACHMENT_TYPES = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8\xff", "image/webp": b"RIFF",
                    "application/pdf": b"%PDF"}
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024


def _actor(session: AsyncSession, actor: Mapping[str, Any] | None) -> tuple[uuid.UUID | None, str]:
    who = actor if actor is not None else actor_of(session)
    user_id = who.get("user_id")
    return (uuid.UUID(str(user_id)) if user_id else None), str(who.get("label") or who.get("name") or "")


def _text(value: str | None, column: Any, label: str) -> str:
    text = (value or "").strip()
    if len(text) > column_length(column):
        raise TicketError(f"{label} : {column_length(column)} caractères au plus")
    return text


# --------------------------------------------------------------------------- calendar, settings, policies


async def tenant_calendar(session: AsyncSession, tenant_id: uuid.UUID) -> BusinessCalendar:
    """The tenant's business calendar: its territory's holidays and zone, Monday-Friday 8-18."""
    territory = await session.scalar(select(Tenant.territory).where(Tenant.id == tenant_id))
    return BusinessCalendar.preset(territory or "metropole", "ho-8-18")


async def incident_settings(session: AsyncSession, tenant_id: uuid.UUID) -> IncidentSettings:
    found = await session.scalar(select(IncidentSettings).where(IncidentSettings.tenant_id == tenant_id))
    if found is None:
        found = IncidentSettings(tenant_id=tenant_id, acceptance_delay_hours=120, infogerance_units_ordered=0)
        session.add(found)
        await session.flush()
    return found


#: Bounds of the tenant's settings: a deemed acceptance within a month, a few thousand infogérance units.
MAX_ACCEPTANCE_HOURS, MAX_INFOGERANCE_UNITS = 30 * 24, 100_000


async def update_settings(session: AsyncSession, tenant_id: uuid.UUID, *, acceptance_delay_hours: int | None = None,
                          infogerance_units_ordered: int | None = None) -> IncidentSettings:
    """The tenant's delay of deemed acceptance (CAIH 2.1.5: « réputée acceptée après un délai que le
    bénéficiaire fixe ») and the 30-minute units ordered (CAIH 2.1.7, set by the coordinator until orders
    exist), bounded; a bad value changes nothing."""
    if acceptance_delay_hours is not None and not 1 <= acceptance_delay_hours <= MAX_ACCEPTANCE_HOURS:
        raise TicketError(f"délai d'acceptation réputée : de 1 à {MAX_ACCEPTANCE_HOURS} heures")
    if infogerance_units_ordered is not None and not 0 <= infogerance_units_ordered <= MAX_INFOGERANCE_UNITS:
        raise TicketError(f"tickets de 30 minutes commandés : de 0 à {MAX_INFOGERANCE_UNITS}")
    settings = await incident_settings(session, tenant_id)
    if acceptance_delay_hours is not None:
        settings.acceptance_delay_hours = acceptance_delay_hours
    if infogerance_units_ordered is not None:
        settings.infogerance_units_ordered = infogerance_units_ordered
    await session.flush()
    return settings


async def level_labels(session: AsyncSession, tenant_id: uuid.UUID,
                       version_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, str]]:
    """Per policy version: level code → its French label (lists show « Niveau 2 : … », not « 2 »)."""
    ids = set(version_ids)
    if not ids:
        return {}
    rows = await session.execute(select(SlaPolicyVersion.id, SlaPolicyVersion.policy).where(
        SlaPolicyVersion.tenant_id == tenant_id, SlaPolicyVersion.id.in_(ids)))
    return {vid: {code: str(level.get("label", code)) for code, level in (policy.get("levels") or {}).items()}
            for vid, policy in rows}


async def policy_versions(session: AsyncSession, tenant_id: uuid.UUID) -> list[SlaPolicyVersion]:
    """Every version of the tenant's policy, the latest first (a ticket keeps the one it was opened under)."""
    return list(await session.scalars(select(SlaPolicyVersion).where(SlaPolicyVersion.tenant_id == tenant_id)
                                      .order_by(SlaPolicyVersion.version.desc()).limit(200)))


async def save_policy(session: AsyncSession, tenant_id: uuid.UUID, policy: SlaPolicy, template: str,
                      actor: Mapping[str, Any] | None = None, *, now: dt.datetime | None = None) -> SlaPolicyVersion:
    """A new version of the tenant's policy (the earlier ones stay, for the tickets opened under them), in force
    from ``now`` (the current time when not given)."""
    user_id, name = _actor(session, actor)
    last = await session.scalar(select(func.max(SlaPolicyVersion.version)).where(
        SlaPolicyVersion.tenant_id == tenant_id)) or 0
    row = SlaPolicyVersion(tenant_id=tenant_id, version=last + 1, template=template, policy=policy.to_dict(),
                           created_by_user_id=user_id, created_by=name, **({"created_at": now} if now else {}))
    session.add(row)
    await session.flush()
    return row


async def set_policy_from_template(session: AsyncSession, tenant_id: uuid.UUID, code: str,
                                   actor: Mapping[str, Any] | None = None, *,
                                   now: dt.datetime | None = None) -> SlaPolicyVersion:
    """The tenant's policy made from a template of ``incidents.sla`` (``cpam-irve``, ``canut-iot`` …)."""
    try:
        policy = policy_template(code)
    except ValueError as exc:
        raise TicketError(str(exc)) from None
    return await save_policy(session, tenant_id, policy, code, actor, now=now)


async def current_policy(session: AsyncSession, tenant_id: uuid.UUID,
                         actor: Mapping[str, Any] | None = None) -> SlaPolicyVersion:
    """The tenant's latest policy version; on first use, made from the template of its agreement."""
    found = await session.scalar(select(SlaPolicyVersion).where(SlaPolicyVersion.tenant_id == tenant_id)
                                 .order_by(SlaPolicyVersion.version.desc()).limit(1))
    if found is not None:
        return found
    return await set_policy_from_template(session, tenant_id, (await default_templates(session, [tenant_id]))[tenant_id],
                                          actor)


async def default_templates(session: AsyncSession, tenant_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The policy template each tenant starts from: its central's (``TEMPLATE_OF_CENTRAL``), else the default."""
    codes = await tenants.central_codes(session, tenant_ids)
    return {tid: TEMPLATE_OF_CENTRAL.get(codes.get(tid) or "", DEFAULT_TEMPLATE) for tid in tenant_ids}


async def _policy_of(session: AsyncSession, ticket: Ticket) -> SlaPolicy:
    row = await session.scalar(select(SlaPolicyVersion).where(
        SlaPolicyVersion.tenant_id == ticket.tenant_id, SlaPolicyVersion.id == ticket.policy_version_id))
    assert row is not None  # composite foreign key
    return SlaPolicy.from_dict(row.policy)


# --------------------------------------------------------------------------- numbering


async def _next_number(session: AsyncSession, tenant_id: uuid.UUID, year: int) -> str:
    """``INC-2026-000123``: the counter row is created if missing with ``INSERT … ON CONFLICT DO
    NOTHING`` (no error, no savepoint, whoever wins), then taken with ``UPDATE … RETURNING`` (a row
    lock on PostgreSQL, SQLite's single writer), so that concurrent openings never share or skip a
    number."""
    dialect = session.bind.dialect.name
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(make(TicketCounter).values(id=uuid.uuid4(), tenant_id=tenant_id, year=year, last=0)
                          .on_conflict_do_nothing(index_elements=["tenant_id", "year"]))
    taken = await session.scalar(
        update(TicketCounter).where(TicketCounter.tenant_id == tenant_id, TicketCounter.year == year)
        .values(last=TicketCounter.last + 1).returning(TicketCounter.last)
        .execution_options(synchronize_session=False))
    if taken is None:  # pragma: no cover (the row exists: inserted above or by another transaction)
        raise RuntimeError("ticket counter unavailable")
    return f"INC-{year}-{taken:06d}"


# --------------------------------------------------------------------------- opening


async def open_ticket(
    session: AsyncSession, tenant_id: uuid.UUID, *, now: dt.datetime, title: str, description: str,
    channel: str, actor: Mapping[str, Any] | None = None, reported_at: dt.datetime | None = None,
    site_id: uuid.UUID | None = None, charge_box_id: str | None = None, connector_id: int | None = None,
    asset_id: uuid.UUID | None = None, level: str | None = None, restoration_level: str | None = None,
    incident_type: str | None = None, reporter_user_id: uuid.UUID | None = None, reporter_name: str | None = None,
    reporter_email: str | None = None, origin: str | None = None, alert_id: uuid.UUID | None = None,
) -> Ticket:
    """Open a ticket (idempotent on ``origin``: the existing ticket is returned).

    ``reported_at`` is the moment of the first information (CANUT 6.6, CAIH 2.1.22: « à partir de
    l'heure d'enregistrement de l'incident »); the clocks start there. CPAM 5-4-5: the share of the
    tenant's charge points affected is computed at opening from the csms service.
    """
    if origin is not None:
        origin = _text(origin, Ticket.origin, "origine")
        found = await session.scalar(select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.origin == origin))
        if found is not None:
            return found
    if channel not in CHANNELS:
        raise TicketError(f"canal inconnu : {channel!r} (attendu : {', '.join(CHANNELS)})")
    title = _text(title, Ticket.title, "titre")
    if not title:
        raise TicketError("le titre est obligatoire")
    description = (description or "").strip()
    if len(description) > 10_000:
        raise TicketError("description : 10 000 caractères au plus")
    reported_at = reported_at or now
    if reported_at.tzinfo is None:
        raise TicketError("le moment du signalement doit porter son fuseau")
    if reported_at > now:
        raise TicketError("le moment du signalement ne peut pas être dans le futur")
    version = await current_policy(session, tenant_id, actor)
    policy = SlaPolicy.from_dict(version.policy)
    if policy.incident_types and incident_type is None and level is not None:
        # CANUT 6.6: a priority given without a type takes the type it is the priority of (P0 → Bloquant).
        incident_type = next((code for code, t in policy.incident_types.items() if t.default_level == level),
                             next((code for code, t in policy.incident_types.items() if level in t.levels), None))
    try:
        resolved = policy.resolve_level(level, incident_type)
        restoration_code, _ = policy.resolve_restoration_level(resolved, restoration_level)
    except ValueError as exc:
        raise TicketError(str(exc)) from None
    points = await points_affected(session, tenant_id, charge_box_id, connector_id)
    if charge_box_id and points.charger_id is None:
        raise TicketError(f"borne inconnue : {charge_box_id}")
    brief = await assets.asset_brief(session, tenant_id, asset_id) if asset_id is not None else None
    if asset_id is not None and brief is None:
        raise TicketError(f"équipement inconnu au parc : {asset_id}")
    if brief is not None and site_id is None:
        site_id = brief.site_id
    user_id, name = _actor(session, actor)
    ticket = Ticket(
        tenant_id=tenant_id, number=await _next_number(session, tenant_id, reported_at.astimezone(dt.UTC).year),
        title=title, description=description, status="new", channel=channel,
        site_id=site_id or points.site_id, charge_box_id=charge_box_id or None, connector_id=connector_id,
        asset_id=asset_id, level=resolved, restoration_level=restoration_code if policy.restoration_levels else None,
        incident_type=(incident_type or policy.default_incident_type) if policy.incident_types else None,
        reporter_user_id=reporter_user_id if reporter_user_id is not None else user_id,
        reporter_name=_text(reporter_name or name, Ticket.reporter_name, "nom du déclarant"),
        reporter_email=_text(reporter_email, Ticket.reporter_email, "courriel du déclarant"),
        origin=origin, alert_id=alert_id, fleet_points=points.fleet, affected_points=points.affected,
        purchase_order_required=False, policy_version_id=version.id, reported_at=reported_at, opened_at=now,
        breached=False, reopen_count=0, event_count=0, updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(ticket)
            await session.flush()
    except IntegrityError:
        if origin is None:
            raise
        found = await session.scalar(select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.origin == origin))
        assert found is not None
        return found
    data = {"level": resolved, "restoration_level": ticket.restoration_level, "incident_type": ticket.incident_type,
            "affected": points.affected, "fleet": points.fleet, "policy_version": version.version}
    await _append(session, ticket, "open", at=reported_at, now=now, actor=actor, channel=channel,
                  data={k: v for k, v in data.items() if v is not None})
    await _recompute(session, ticket, now)
    # The written acknowledgement to the reporter follows (incidents.subscribers, CANUT 6.6, CPAM 5-5-6-2).
    publish_on_commit(session, TicketOpened(tenant_id=tenant_id, ticket_id=ticket.id, number=ticket.number,
                                            channel=channel, reported_at=reported_at, opened_at=now))
    return ticket


# --------------------------------------------------------------------------- events


async def _append(session: AsyncSession, ticket: Ticket, kind: str, *, at: dt.datetime, now: dt.datetime,
                  actor: Mapping[str, Any] | None, channel: str, data: Mapping[str, Any] | None = None,
                  reason: str = "") -> TicketEventRow:
    user_id, name = _actor(session, actor)
    ticket.event_count += 1
    row = TicketEventRow(tenant_id=ticket.tenant_id, ticket_id=ticket.id, seq=ticket.event_count, kind=kind, at=at,
                         recorded_at=now, actor_user_id=user_id, actor_name=name[:200], channel=channel,
                         data=dict(data or {}), reason=_text(reason, TicketEventRow.reason, "motif"))
    session.add(row)
    await session.flush()
    return row


async def ticket_events(session: AsyncSession, ticket: Ticket) -> list[TicketEventRow]:
    """The timeline, in the order recorded."""
    return list(await session.scalars(select(TicketEventRow).where(
        TicketEventRow.tenant_id == ticket.tenant_id, TicketEventRow.ticket_id == ticket.id)
        .order_by(TicketEventRow.seq)))


def _sla_events(rows: Iterable[TicketEventRow], policy: SlaPolicy) -> list[TicketEvent]:
    from incidents.workflow import SLA_KIND

    out = []
    for row in rows:
        kind = SLA_KIND.get(row.kind)
        if kind is None:
            continue
        data: dict[str, Any] = dict(row.data)
        if kind == "policy_changed":
            data["policy"] = policy
        out.append(TicketEvent(kind, row.at, data))
    return out


async def ticket_clocks(session: AsyncSession, ticket: Ticket, now: dt.datetime) -> TicketClock:
    """The ticket's clocks at ``now``, rebuilt from all its events (for display)."""
    clock, _calendar = await _clocks(session, ticket, now)
    return clock


async def _clocks(session: AsyncSession, ticket: Ticket, now: dt.datetime, *, policy: SlaPolicy | None = None,
                  calendar: BusinessCalendar | None = None) -> tuple[TicketClock, BusinessCalendar]:
    policy = policy or await _policy_of(session, ticket)
    rows = await ticket_events(session, ticket)
    calendar = calendar or await tenant_calendar(session, ticket.tenant_id)
    return evaluate_ticket(_sla_events(rows, policy), policy, calendar, now), calendar


async def sent_notices(session: AsyncSession, ticket: Ticket) -> set[tuple[str, int]]:
    """The deadline notices already recorded for the ticket: ``{(clock, threshold)}`` (``incidents.notices``)."""
    rows = await session.execute(select(IncidentNotice.clock, IncidentNotice.threshold).where(
        IncidentNotice.tenant_id == ticket.tenant_id, IncidentNotice.ticket_id == ticket.id))
    return {(clock, threshold) for clock, threshold in rows}


async def _recompute(session: AsyncSession, ticket: Ticket, now: dt.datetime) -> TicketClock:
    clock, calendar = await _clocks(session, ticket, now)
    intervention, restoration = clock.intervention, clock.restoration
    ticket.intervention_due_at = intervention.deadline if intervention else None
    ticket.restoration_due_at = restoration.deadline if restoration else None
    ticket.intervention_reached_at = intervention.reached_at if intervention else None
    ticket.restoration_seconds = restoration_seconds(clock)
    running = [c.deadline for c in (intervention, restoration) if c is not None and c.reached_at is None]
    ticket.next_due_at = min(running) if running and ticket.status in OPEN_STATUSES else None
    ticket.acknowledged_at = clock.acknowledged_at
    ticket.breached = clock.breached
    # When the notice job next has something to send (75 % of a delay, its breach: incidents.notices).
    plan = notice_plan(clock, calendar, now)
    ticket.next_notice_at = next_notice_at(plan, await sent_notices(session, ticket) if plan else ())
    ticket.updated_at = now
    await session.flush()
    return clock


@dataclass(frozen=True)
class RestorationBackfill:
    """One batch of ``backfill_restoration_seconds``: the tickets read, those given their time, the last id read
    (the next batch starts after it; None: nothing was left)."""

    examined: int
    filled: int
    last_id: uuid.UUID | None


async def backfill_restoration_seconds(session: AsyncSession, tenant_id: uuid.UUID, *, now: dt.datetime,
                                       after: uuid.UUID | None = None, limit: int = 200) -> RestorationBackfill:
    """CCTP CAIH 6.1: the mean time to restore of the indicators is over the tickets that have a
    ``restoration_seconds``; a ticket restored before migration 0043 has none until its next event. This gives it
    the value that event would set — the clocks rebuilt from all its events, ``restoration_seconds`` of them, as
    ``_recompute`` does — and changes nothing else. Idempotent: only the restored or closed tickets without a value
    are read, and a second run finds those the rule gives none (no restoration delay) and leaves them."""
    found = list(await session.scalars(select(Ticket).where(
        Ticket.tenant_id == tenant_id, Ticket.restoration_seconds.is_(None),
        or_(Ticket.resolved_at.is_not(None), Ticket.closed_at.is_not(None)),
        *((Ticket.id > after,) if after is not None else ())).order_by(Ticket.id).limit(limit)))
    calendar = await tenant_calendar(session, tenant_id) if found else None
    policies: dict[uuid.UUID, SlaPolicy] = {}
    filled = 0
    for ticket in found:
        if ticket.policy_version_id not in policies:
            policies[ticket.policy_version_id] = await _policy_of(session, ticket)
        clock, _ = await _clocks(session, ticket, now, policy=policies[ticket.policy_version_id], calendar=calendar)
        seconds = restoration_seconds(clock)
        if seconds is not None:
            ticket.restoration_seconds = seconds
            filled += 1
    await session.flush()
    return RestorationBackfill(len(found), filled, found[-1].id if found else None)


async def add_event(session: AsyncSession, ticket: Ticket, kind: str, *, now: dt.datetime,
                    at: dt.datetime | None = None, actor: Mapping[str, Any] | None = None, channel: str = "portal",
                    data: Mapping[str, Any] | None = None, reason: str = "", consent: bool = False) -> TicketEventRow:
    """Record one event (``acknowledge``, ``start``, ``wait``, ``resume``, ``resolve``, ``accept``, ``reopen``,
    ``reclassify``, ``note``, ``purchase_order``), checked by the workflow, then the clocks recomputed.

    ``at`` (default ``now``) may be earlier than ``now`` (an event reported later), never later, nor before the
    ticket's first information. ``consent`` is required by ``accept`` (use ``accept_resolution``).
    """
    at = at or now
    if at.tzinfo is None:
        raise TicketError("l'instant de l'événement doit porter son fuseau")
    if at > now:
        raise TicketError("l'instant de l'événement ne peut pas être dans le futur")
    if at < ticket.reported_at:
        raise TicketError("l'instant de l'événement précède le signalement")
    if channel not in CHANNELS:
        raise TicketError(f"canal inconnu : {channel!r} (attendu : {', '.join(CHANNELS)})")
    try:
        step = transition(ticket.status, kind, reason=reason, consent=consent, data=dict(data or {}))
    except WorkflowError as exc:
        raise TicketError(str(exc)) from None
    row = await _append(session, ticket, kind, at=at, now=now, actor=actor, channel=channel, data=data, reason=reason)
    ticket.status = step.status
    if kind == "resolve":
        ticket.resolved_at = at
    elif kind == "accept":
        ticket.closed_at = at
        # The summary e-mail to the site's local referent follows (incidents.subscribers, CAIH 2.1.5).
        publish_on_commit(session, TicketClosed(tenant_id=ticket.tenant_id, ticket_id=ticket.id, number=ticket.number,
                                                closed_at=at, deemed=bool((data or {}).get("deemed"))))
    elif kind == "reopen":
        ticket.resolved_at = ticket.closed_at = None
        ticket.reopen_count += 1
    elif kind == "purchase_order":
        ticket.purchase_order_required = True
    await _recompute(session, ticket, now)
    return row


async def reclassify(session: AsyncSession, ticket: Ticket, *, now: dt.datetime, reason: str,
                     level: str | None = None, restoration_level: str | None = None, incident_type: str | None = None,
                     at: dt.datetime | None = None, actor: Mapping[str, Any] | None = None,
                     channel: str = "portal") -> TicketEventRow:
    """A new classification (its reason required, shown in the timeline); the clocks are recomputed from the
    start with every earlier pause kept."""
    policy = await _policy_of(session, ticket)
    new_type = incident_type if incident_type is not None else ticket.incident_type
    try:
        new_level = policy.resolve_level(level if level is not None else (None if incident_type else ticket.level),
                                         new_type)
        new_restoration, _ = policy.resolve_restoration_level(
            new_level, restoration_level if restoration_level is not None else ticket.restoration_level)
    except ValueError as exc:
        raise TicketError(str(exc)) from None
    data: dict[str, Any] = {"level": new_level, "from_level": ticket.level}
    if policy.restoration_levels:
        data["restoration_level"] = new_restoration
    if new_type is not None and policy.incident_types:
        data["incident_type"] = new_type
    row = await add_event(session, ticket, "reclassify", now=now, at=at, actor=actor, channel=channel, data=data,
                          reason=reason)
    ticket.level = new_level
    ticket.restoration_level = data.get("restoration_level")
    ticket.incident_type = data.get("incident_type", ticket.incident_type)
    await session.flush()
    return row


async def change_policy(session: AsyncSession, ticket: Ticket, version: SlaPolicyVersion, *, now: dt.datetime,
                        reason: str, level: str | None = None, actor: Mapping[str, Any] | None = None,
                        channel: str = "portal") -> TicketEventRow:
    """Move the ticket to another policy version of its tenant (pauses and minutes already counted kept)."""
    if version.tenant_id != ticket.tenant_id:
        raise TicketError("politique de service d'un autre bénéficiaire")
    if not reason.strip():
        raise TicketError("le motif du changement de politique est obligatoire")
    policy = SlaPolicy.from_dict(version.policy)
    try:
        new_level = policy.resolve_level(level if level is not None else (ticket.level if ticket.level in policy.levels
                                                                           else None), None)
        restoration, _ = policy.resolve_restoration_level(new_level, ticket.restoration_level if
                                                          ticket.restoration_level in policy.restoration_levels
                                                          else None)
    except ValueError as exc:
        raise TicketError(str(exc)) from None
    data: dict[str, Any] = {"policy_version": version.version, "level": new_level}
    if policy.restoration_levels:
        data["restoration_level"] = restoration
    ticket.policy_version_id = version.id
    ticket.level = new_level
    ticket.restoration_level = data.get("restoration_level")
    return await add_event(session, ticket, "policy", now=now, actor=actor, channel=channel, data=data, reason=reason)


async def reopen(session: AsyncSession, ticket: Ticket, *, now: dt.datetime, reason: str = "",
                 at: dt.datetime | None = None, actor: Mapping[str, Any] | None = None,
                 channel: str = "portal") -> TicketEventRow:
    """Reopen a resolved or closed ticket: the original start is kept and the time already used is added
    (CCTP CAIH 2.1.22)."""
    return await add_event(session, ticket, "reopen", now=now, at=at, actor=actor, channel=channel, reason=reason)


async def accept_resolution(session: AsyncSession, ticket: Ticket, *, now: dt.datetime, by_tenant_admin: bool,
                            actor: Mapping[str, Any] | None = None, channel: str = "portal") -> TicketEventRow:
    """Close a resolved ticket on the beneficiary's consent: only its admin accepts (CAIH 2.1.5)."""
    if not by_tenant_admin:
        raise TicketError("seul l'administrateur du bénéficiaire peut accepter la résolution")
    return await add_event(session, ticket, "accept", now=now, actor=actor, channel=channel, consent=True)


async def close_deemed_accepted(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime) -> list[Ticket]:
    """Close the tenant's resolved tickets whose acceptance delay has run out (« réputée acceptée »).

    Idempotent: the tickets are locked (``FOR UPDATE`` on PostgreSQL), so that of two runs at once the second
    finds them closed; a closed ticket is never closed again."""
    settings = await incident_settings(session, tenant_id)
    closed = []
    for ticket in await session.scalars(select(Ticket).where(Ticket.tenant_id == tenant_id,
                                                             Ticket.status == "resolved").with_for_update()):
        due = deemed_acceptance_due(ticket, settings)
        if due is not None and due <= now:
            await add_event(session, ticket, "accept", now=now, at=due, channel="portal", consent=True,
                            actor={"user_id": None, "label": "système"},
                            data={"deemed": True}, reason="résolution réputée acceptée")
            closed.append(ticket)
    return closed


# --------------------------------------------------------------------------- interventions


def _units(started_at: dt.datetime, ended_at: dt.datetime | None) -> int:
    """CAIH 2.1.7: indivisible 30-minute units, a started unit is consumed."""
    if ended_at is None or ended_at <= started_at:
        return 0
    return math.ceil((ended_at - started_at) / UNIT)


async def record_intervention(
    session: AsyncSession, ticket: Ticket, *, now: dt.datetime, mode: str, started_at: dt.datetime,
    ended_at: dt.datetime | None = None, technician: str = "", actions: str = "",
    parts: Sequence[Mapping[str, Any]] = (), report: str = "", report_at: dt.datetime | None = None,
    actor: Mapping[str, Any] | None = None, channel: str = "portal",
) -> Intervention:
    """Record a remote or on-site intervention; the ticket's intervention target is reached at its start.

    The report is due 48 h after the visit; CPAM 5-4-8: « renseigner dans le Système de supervision et
    d'exploitation toutes les actions menées (...) dans un délai de deux jours ouvrés » — a record made later
    is flagged late. CAIH 2.1.7: 30-minute units consumed.
    """
    if mode not in ("remote", "on_site"):
        raise TicketError("mode d'intervention inconnu (attendu : remote ou on_site)")
    for moment in (started_at, ended_at, report_at):
        if moment is not None and (moment.tzinfo is None or moment > now):
            raise TicketError("les instants de l'intervention doivent porter leur fuseau et être passés")
    if ended_at is not None and ended_at < started_at:
        raise TicketError("la fin de l'intervention précède son début")
    if len(parts) > 100:
        raise TicketError("100 pièces au plus par intervention")
    clean_parts = [{"label": _text(str(p.get("label", "")), Ticket.title, "pièce"),
                    "quantity": max(1, min(int(p.get("quantity", 1)), 10_000)),
                    "expected_at": str(p["expected_at"])[:32] if p.get("expected_at") else None} for p in parts]
    calendar = await tenant_calendar(session, ticket.tenant_id)
    done = ended_at or started_at
    record_due = calendar.add_days(done, RECORD_WORKING_DAYS, "ouvres", end_of_day=True).astimezone(dt.UTC)
    _, name = _actor(session, actor)
    row = Intervention(
        tenant_id=ticket.tenant_id, ticket_id=ticket.id, mode=mode,
        technician=_text(technician, Intervention.technician, "technicien"), started_at=started_at,
        ended_at=ended_at, actions=(actions or "")[:10_000], parts=clean_parts, report=(report or "")[:20_000],
        report_at=report_at if report else None, report_due_at=done + REPORT_DELAY, recorded_at=now,
        record_due_at=record_due, record_late=now > record_due, units=_units(started_at, ended_at), created_by=name,
    )
    session.add(row)
    await session.flush()
    data = {"intervention_id": str(row.id), "mode": mode, "units": row.units}
    if ended_at is not None:
        data["ended_at"] = ended_at.astimezone(dt.UTC).isoformat()
    await add_event(session, ticket, "intervention", now=now, at=started_at, actor=actor, channel=channel, data=data)
    return row


def report_late(intervention: Intervention, now: dt.datetime) -> bool:
    """The report is late: not there 48 h after the visit, or given after that."""
    if intervention.report_at is not None:
        return intervention.report_at > intervention.report_due_at
    return now > intervention.report_due_at


async def continuity_breached(session: AsyncSession, ticket: Ticket, intervention: Intervention) -> bool:
    """CAIH 2.1.22: an on-site intervention started before 18:00 that ended before the resolution
    (``incidents.sla.onsite_continuity_breach``, under the ticket's policy and the tenant's zone)."""
    policy = await _policy_of(session, ticket)
    if policy.onsite_continuity_before is None:
        return False
    calendar = await tenant_calendar(session, ticket.tenant_id)
    return onsite_continuity_breach(policy, calendar, mode=intervention.mode, started_at=intervention.started_at,
                                    ended_at=intervention.ended_at, resolved_at=ticket.resolved_at)


@dataclass(frozen=True)
class InfogeranceBalance:
    """CAIH 2.1.7: the tenant's 30-minute tickets. ``from_orders``: the units ordered are those of its purchase
    orders (``catalog``); otherwise the number the coordinator typed before orders carried them (the migration
    fallback of ``IncidentSettings.infogerance_units_ordered``)."""

    balance: TicketBalance
    from_orders: bool

    @property
    def ordered(self) -> int:
        return self.balance.ordered

    @property
    def consumed(self) -> int:
        return self.balance.consumed

    @property
    def remaining(self) -> int:
        return self.balance.remaining

    @property
    def overdraft(self) -> int:
        return self.balance.overdraft


async def infogerance_balance(session: AsyncSession, tenant_id: uuid.UUID) -> InfogeranceBalance:
    """CAIH 2.1.7 « Tout ticket entamé est réputé entièrement consommé »: the balance is catalog's
    (``catalog.services.ticket_balance``: the units of the tenant's notified, not cancelled orders of the
    infogérance-ticket family); incidents gives it what it records, the duration of each intervention (one not
    ended consumes nothing yet). While no order carries units, the hand-typed number stands (the fallback of the
    tenants that had one before orders); the first ordered unit replaces it."""
    rows = (await session.execute(select(Intervention.started_at, Intervention.ended_at).where(
        Intervention.tenant_id == tenant_id))).all()
    durations = [max(ended - started, dt.timedelta(0)) if ended is not None else dt.timedelta(0)
                 for started, ended in rows]
    balance = await catalog.ticket_balance(session, tenant_id, durations)
    if balance.ordered:
        return InfogeranceBalance(balance, True)
    settings = await incident_settings(session, tenant_id)
    return InfogeranceBalance(TicketBalance(settings.infogerance_units_ordered, balance.consumed), False)


# --------------------------------------------------------------------------- attachments


def attachment_path(var_dir: Path, attachment: Attachment) -> Path:
    return var_dir / "attachments" / str(attachment.tenant_id) / attachment.sha256


async def add_attachment(session: AsyncSession, ticket: Ticket, *, var_dir: Path, filename: str, content_type: str,
                         content: bytes, actor: Mapping[str, Any] | None = None) -> Attachment:
    """A photo (PNG, JPEG, WebP) or PDF of at most 10 Mo, checked by its first bytes, stored per tenant."""
    magic = ATTACHMENT_TYPES.get(content_type)
    if magic is None:
        raise TicketError("type de fichier refusé (images PNG, JPEG, WebP ou PDF)")
    if len(content) > ATTACHMENT_MAX_BYTES:
        raise TicketError("fichier trop volumineux (10 Mo au plus)")
    if not content.startswith(magic):
        raise TicketError("le contenu du fichier ne correspond pas à son type")
    name = Path(filename or "fichier").name[:200] or "fichier"
    digest = hashlib.sha256(content).hexdigest()
    _, who = _actor(session, actor)
    row = Attachment(tenant_id=ticket.tenant_id, ticket_id=ticket.id, filename=name, content_type=content_type,
                     size=len(content), sha256=digest, uploaded_by=who)
    path = attachment_path(var_dir, row)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(content)
    session.add(row)
    await session.flush()
    return row


# --------------------------------------------------------------------------- lists


async def tickets_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, *, status: str | Sequence[str] | None = None,
                            breached: bool | None = None, site_id: uuid.UUID | None = None, limit: int = 50,
                            offset: int = 0) -> list[Ticket]:
    """A tenant's tickets, the nearest due date first (then the newest), with filters and paging."""
    query = select(Ticket).where(Ticket.tenant_id == tenant_id)
    if status is not None:
        query = query.where(Ticket.status.in_([status] if isinstance(status, str) else list(status)))
    if breached is not None:
        query = query.where(Ticket.breached.is_(breached))
    if site_id is not None:
        query = query.where(Ticket.site_id == site_id)
    query = query.order_by(Ticket.next_due_at.is_(None), Ticket.next_due_at, Ticket.opened_at.desc())
    return list(await session.scalars(query.limit(max(1, min(limit, 500))).offset(max(0, offset))))


async def open_tickets_across(session: AsyncSession, tenant_ids: Iterable[uuid.UUID], *, limit: int = 200,
                              offset: int = 0, due_before: dt.datetime | None = None) -> list[Ticket]:
    """The operator's queue: open tickets of its tenants, the nearest due date first. ``due_before``: only those
    that need acting on before then — breached, or (not waiting for the beneficiary) due by then or not yet
    acknowledged (« nouveau »)."""
    ids = list(dict.fromkeys(tenant_ids))
    if not ids:
        return []
    query = select(Ticket).where(Ticket.tenant_id.in_(ids), Ticket.status.in_(OPEN_STATUSES))
    if due_before is not None:
        # A ticket waiting for the beneficiary is not the operator's to act on (its stored due date is provisional).
        query = query.where(or_(Ticket.breached.is_(True), and_(Ticket.status != "waiting", or_(
            Ticket.next_due_at <= due_before, Ticket.status == "new"))))
    return list(await session.scalars(
        query.order_by(Ticket.next_due_at.is_(None), Ticket.next_due_at, Ticket.opened_at)
        .limit(max(1, min(limit, 1000))).offset(max(0, offset))))


async def ticket_counts(session: AsyncSession, tenant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """Per tenant: tickets open (clocks running), open past a deadline, resolved awaiting the beneficiary's
    acceptance (the home cards). One grouped query."""
    ids = list(dict.fromkeys(tenant_ids))
    counts = {tid: {"open": 0, "breached": 0, "resolved": 0} for tid in ids}
    if not ids:
        return counts
    rows = await session.execute(
        select(Ticket.tenant_id, Ticket.status, Ticket.breached, func.count())
        .where(Ticket.tenant_id.in_(ids), Ticket.status.in_([*OPEN_STATUSES, "resolved"]))
        .group_by(Ticket.tenant_id, Ticket.status, Ticket.breached))
    for tid, status, breached, n in rows:
        if status == "resolved":
            counts[tid]["resolved"] += n
        else:
            counts[tid]["open"] += n
            counts[tid]["breached"] += n if breached else 0
    return counts


async def warned_tickets(session: AsyncSession, tenant_ids: Iterable[uuid.UUID],
                         ticket_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Of ``ticket_ids`` (of ``tenant_ids``), those whose 75 % notice went out (a deadline badge turns amber)."""
    ids, tenants = list(ticket_ids), list(dict.fromkeys(tenant_ids))
    if not ids or not tenants:
        return set()
    return set(await session.scalars(select(IncidentNotice.ticket_id).where(
        IncidentNotice.tenant_id.in_(tenants), IncidentNotice.ticket_id.in_(ids), IncidentNotice.threshold == 75,
        IncidentNotice.superseded.is_(False))))


async def ticket_attachments(session: AsyncSession, ticket: Ticket) -> list[Attachment]:
    return list(await session.scalars(select(Attachment).where(
        Attachment.tenant_id == ticket.tenant_id, Attachment.ticket_id == ticket.id).order_by(Attachment.uploaded_at)))


async def ticket_interventions(session: AsyncSession, ticket: Ticket) -> list[Intervention]:
    return list(await session.scalars(select(Intervention).where(
        Intervention.tenant_id == ticket.tenant_id, Intervention.ticket_id == ticket.id)
        .order_by(Intervention.started_at, Intervention.recorded_at)))
