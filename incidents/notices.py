"""When a deadline notice goes out: at 75 % of a delay and at its breach, once per ticket, clock and threshold.

Pure (no database, ``now`` passed in): the ticket's clocks come from ``incidents.sla.evaluate_ticket``
(``incidents.tickets.ticket_clocks``), the tenant's business calendar from ``incidents.tickets.tenant_calendar``.

The rule (issue 13 §1): « à 75 % d'un délai et à son dépassement, une notification part une fois […] Un
délai compté en heures ouvrées est notifié dans la plage où il est compté (pas à minuit un dimanche) ; un
délai 24 h/24 tout de suite. »

* A threshold is reached when the open time the clock has consumed reaches 75 % (or 100 %) of the time
  the delay allows, in the calendar the delay is counted in. Consumption only grows while the clock
  runs (never during a wait for the beneficiary, nor after the resolution) and, for a delay in business
  hours, only inside those hours.
* The notice goes out at the first instant at or after that moment when its **notice window** is open:
  the delay's own calendar for a delay in hours (``ho-8-17``, ``ho-8-18``, the tenant's ``business``);
  always for a 24/7 delay or one in calendar days (at once); the tenant's business hours (Monday to
  Friday, 8 h-18 h, holidays of its territory excluded) for a delay in working days (``jours ouvrés``,
  ``jours ouvrables``), whose counting calendar runs the whole day. So a threshold reached — or noticed
  late, after a restart — on a Saturday goes out on Monday at the window's opening, 08:00 local time.
  An instant at the exact end of a window (17:00) belongs to the next one.
* No notice for a target already reached (the intervention started, the ticket resolved), for a ticket
  resolved or closed, for a delay of zero (« immédiat »: nothing to warn of), or for a clock not started
  (waiting for a purchase order). While the beneficiary is awaited, a threshold already reached still goes
  out; one not reached yet is not planned (the clock does not run: it is planned again at the resumption).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from incidents.sla import DeadlineClock, TicketClock
from tenants.calendars import PRESETS, BusinessCalendar

__all__ = [
    "BREACH",
    "CLOCK_LABELS",
    "THRESHOLDS",
    "WARNING",
    "PlannedNotice",
    "due_notices",
    "next_notice_at",
    "notice_plan",
    "notice_window",
    "threshold_reached_at",
]

#: The thresholds, in per cent of the delay: the warning and the breach.
WARNING, BREACH = 75, 100
THRESHOLDS = (WARNING, BREACH)
#: The clocks of a ticket (``DeadlineClock.target``) and their French names.
CLOCK_LABELS = {"intervention": "délai d'intervention", "restoration": "délai de rétablissement"}

_ALWAYS = ("24x7", "jours-calendaires")
#: Clock states (``TicketClock.status``) whose thresholds may still be notified.
_RUNNING, _WAITING = "open", "waiting_for_buyer"


@dataclass(frozen=True, slots=True)
class PlannedNotice:
    """One (clock, threshold) of a ticket not notified by its target's reach: when it goes out."""

    clock: str  # "intervention" | "restoration"
    threshold: int  # 75 | 100
    #: when the threshold is (or was, at the latest) reached: exact when still ahead, ``now`` when already passed
    reached_at: dt.datetime
    #: the first instant of the notice window at or after ``reached_at`` (or after ``now`` if already passed)
    notify_at: dt.datetime
    deadline: dt.datetime
    allowed: dt.timedelta
    consumed: dt.timedelta

    @property
    def key(self) -> tuple[str, int]:
        return self.clock, self.threshold

    def due(self, now: dt.datetime) -> bool:
        return self.notify_at <= now


def _counting(calendar: BusinessCalendar, name: str) -> BusinessCalendar:
    """The calendar a ``DeadlineClock`` counted in, from its name (``DeadlineClock.calendar``)."""
    if name.startswith("jours-"):
        return calendar.day_calendar(name.removeprefix("jours-"))
    if name in PRESETS:
        return calendar.derive(name)
    return calendar  # the tenant's own (``business``), named as its preset or ``personnalise``


def notice_window(calendar: BusinessCalendar, clock_calendar: str) -> BusinessCalendar | None:
    """Where a notice of a delay counted in ``clock_calendar`` may go out; None: at any time.

    ``calendar`` is the tenant's business calendar (its territory, zone and hours)."""
    if clock_calendar in _ALWAYS:
        return None
    if clock_calendar.startswith("jours-"):
        return calendar
    return _counting(calendar, clock_calendar)


def _open_from(window: BusinessCalendar | None, instant: dt.datetime) -> dt.datetime:
    return instant if window is None else window.next_opening(instant)


def threshold_reached_at(target: DeadlineClock, threshold: int, calendar: BusinessCalendar, *,
                         running: bool, now: dt.datetime) -> dt.datetime | None:
    """When ``target`` reaches ``threshold`` % of its delay: ``now`` or earlier if passed, the instant ahead if
    the clock runs, None if it is ahead and the clock is paused (not planned)."""
    need = target.allowed * threshold / 100
    if target.consumed >= need:
        return now
    if not running:
        return None
    counting = _counting(calendar, target.calendar)
    return counting.add_business_time(max(now, target.started_at), need - target.consumed)


def notice_plan(clock: TicketClock, calendar: BusinessCalendar, now: dt.datetime) -> list[PlannedNotice]:
    """Every notice of the ticket still to go out by this rule (sent ones are the caller's to drop), by time."""
    if clock.status not in (_RUNNING, _WAITING):
        return []
    plan = []
    for target in (clock.intervention, clock.restoration):
        if target is None or target.reached_at is not None or target.allowed <= dt.timedelta(0):
            continue
        window = notice_window(calendar, target.calendar)
        for threshold in THRESHOLDS:
            reached = threshold_reached_at(target, threshold, calendar, running=clock.status == _RUNNING, now=now)
            if reached is None:
                continue
            plan.append(PlannedNotice(
                clock=target.target, threshold=threshold, reached_at=reached,
                notify_at=_open_from(window, max(reached, now)), deadline=target.deadline,
                allowed=target.allowed, consumed=target.consumed,
            ))
    return sorted(plan, key=lambda p: (p.notify_at, p.threshold))


def due_notices(plan: Iterable[PlannedNotice], now: dt.datetime, sent: Collection[tuple[str, int]] = ()
                ) -> tuple[list[PlannedNotice], list[PlannedNotice]]:
    """The notices to send at ``now`` (due, not sent yet), and the warnings they supersede: when a clock's
    breach is due with its 75 % warning still unsent (a restart, a report recorded late), only the breach
    goes; the warning is recorded as passed so that it never goes later."""
    due = [p for p in plan if p.due(now) and p.key not in sent]
    breached = {p.clock for p in due if p.threshold == BREACH} | {c for c, t in sent if t == BREACH}
    send = [p for p in due if p.threshold == BREACH or p.clock not in breached]
    return send, [p for p in due if p not in send]


def next_notice_at(plan: Iterable[PlannedNotice], sent: Collection[tuple[str, int]] = ()) -> dt.datetime | None:
    """When the ticket next needs the notice job (stored on the ticket, indexed); None: never unless it changes."""
    moments = [p.notify_at for p in plan if p.key not in sent]
    return min(moments) if moments else None
