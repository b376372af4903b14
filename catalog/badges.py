"""Badges of the charging stations, seen from ordering (issue 14 §4, CCTP CPAM 5-5-5-3).

CCTP CPAM 5-5-5-3 « Gestion des cartes d'identification RFID »: « 5 badges sont fournis à la mise en service de
chaque point de charge » and « Le système doit prendre en compte la gestion des badges de recharge (attribution,
distribution, suivi statistique) aussi bien en local (carte attachée au véhicule de service ou au site de
rattachement) que ceux délivrés aux agents ».

* ``order_commissioning_badges``: at the commissioning of a quote's works (with ``quotes.record_commissioning``,
  or later by the operator's explicit action), the badges due — 5 per charge point, the count typed by the
  operator or read from the supervision's stations of the quote's site (``csms.services``, never csms's tables) —
  become a line of a new purchase order, issued, priced on the agreement's BPU article for badges (refused with a
  clear message when the BPU has none); the idTags the operator gives (at most the badges due) are put in the
  tenant's badge list, attached to a service vehicle or to the site (``csms.services.issue_local_badge``). Once
  per quote (``CommissioningBadges``); every input is checked before anything is written.
* ``badge_statistics``: the tenant's badges by state and by attachment, read through ``csms.services``.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of
from app.errors import ValidationFailed
from app.mail import deliver_email
from app.outbox import Delivery, Subscriber, publish_on_commit
from catalog import orders, services
from catalog.events import CommissioningBadgesOrdered
from catalog.models import BpuItem, CommissioningBadges, Quote
from csms import services as csms
from tenants import services as tenants
from tenants.calendars import BusinessCalendar

__all__ = [
    "ATTACHMENTS",
    "SUBSCRIBERS",
    "BADGES_PER_CHARGE_POINT",
    "BADGE_STATES",
    "MAX_CHARGE_POINTS",
    "BadgePlan",
    "BadgeStatisticsView",
    "CommissionedBadgesView",
    "CommissioningBadgesError",
    "badge_article",
    "badge_statistics",
    "badges_due",
    "commissioning_badges_of",
    "is_badge_article",
    "notify_ordered",
    "order_commissioning_badges",
    "plan_commissioning_badges",
    "write_commissioning_badges",
]

#: CPAM 5-5-5-3 « 5 badges sont fournis à la mise en service de chaque point de charge ».
BADGES_PER_CHARGE_POINT = 5
MAX_CHARGE_POINTS = 1000
#: « carte attachée au véhicule de service ou au site de rattachement ».
ATTACHMENTS = {"vehicle": "Véhicule de service", "site": "Site de rattachement"}
#: The statistics' rows and columns (``csms`` kinds and statuses), in French.
BADGE_KINDS = {"vehicle": "Véhicule de service", "site": "Site de rattachement", "agent": "Agent", "": "Non rattaché"}
BADGE_STATES = {"Accepted": "Actif", "Blocked": "Bloqué", "Expired": "Expiré"}


class CommissioningBadgesError(ValidationFailed):
    """Bad input or a refused order of badges: French messages by field, nothing written."""


def badges_due(charge_points: int) -> int:
    """CPAM 5-5-5-3: 5 badges per charge point commissioned."""
    return BADGES_PER_CHARGE_POINT * charge_points


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()


def is_badge_article(item: Any) -> bool:
    """A supply of the BPU whose code or label names a badge (« Badge RFID », « Carte RFID »)."""
    words = f"{_plain(item.article_code)} {_plain(item.label)}"
    return item.family == "supply" and ("badge" in words or "carte rfid" in words)


async def badge_article(session: AsyncSession, agreement_id: uuid.UUID, on: dt.date) -> BpuItem | None:
    """The badge article of the BPU version in force on ``on`` (the first by code when there are several)."""
    version = await services.version_in_force(session, agreement_id, on)
    if version is None:
        return None
    items = await session.scalars(select(BpuItem).where(BpuItem.version_id == version.id, BpuItem.family == "supply")
                                  .order_by(BpuItem.article_code))
    return next((item for item in items if is_badge_article(item)), None)


@dataclass(frozen=True)
class BadgePlan:
    """What ``write_commissioning_badges`` will write, every input already checked."""

    quote: Quote
    article: BpuItem
    charge_points: int
    points_source: str
    attachment: str
    vehicle_label: str
    id_tags: tuple[str, ...]
    order_date: dt.date

    @property
    def badge_count(self) -> int:
        return badges_due(self.charge_points)


def _integer(value: Any) -> int | None:
    text = str(value if value is not None else "").strip()
    return int(text) if text.isdigit() and len(text) <= 6 else None


async def plan_commissioning_badges(session: AsyncSession, quote: Quote, data: Mapping[str, Any], *,
                                    calendar: BusinessCalendar, now: dt.datetime) -> BadgePlan:
    """Check everything (``CommissioningBadgesError`` with every problem by field) without writing: the quote is
    accepted and not yet given its badges; ``charge_points`` (empty: the supervision's count of the quote's
    site); ``attachment`` vehicle (with ``vehicle_label``) or site (the quote's site); ``id_tags`` (a list or one
    per line, optional, at most the badges due, each a valid idTag new to the tenant)."""
    errors: dict[str, str] = {}
    if quote.state != "accepted":
        raise CommissioningBadgesError({"state": "Les badges de mise en service se commandent pour un devis accepté."})
    done = await session.scalar(select(CommissioningBadges).where(
        CommissioningBadges.tenant_id == quote.tenant_id, CommissioningBadges.quote_id == quote.id))
    if done is not None:
        order = await orders.get_order_in_tenant(session, quote.tenant_id, done.order_id)
        raise CommissioningBadgesError({"state": f"Les {done.badge_count} badges de mise en service de ce devis sont "
                                                 f"déjà commandés (bon de commande {order.number})."})
    raw_points = data.get("charge_points")
    points_source = "operator"
    charge_points: int | None
    if raw_points in (None, ""):
        known = await csms.site_charge_point_count(session, quote.tenant_id, quote.site_id) if quote.site_id else 0
        charge_points, points_source = (known, "csms") if known else (None, "operator")
        if charge_points is None:
            errors["charge_points"] = ("Indiquez le nombre de points de charge mis en service : la supervision n'en "
                                       "connaît aucun sur le site du devis.")
    else:
        charge_points = _integer(raw_points)
        if charge_points is None or not 1 <= charge_points <= MAX_CHARGE_POINTS:
            errors["charge_points"] = (f"Nombre de points de charge : un nombre entier de 1 à {MAX_CHARGE_POINTS}.")
            charge_points = None
    attachment = str(data.get("attachment") or ("site" if quote.site_id else "vehicle"))
    vehicle_label = " ".join(str(data.get("vehicle_label") or "").split())
    if attachment not in ATTACHMENTS:
        errors["attachment"] = "Rattachement des badges : véhicule de service (vehicle) ou site de rattachement (site)."
    elif attachment == "site" and quote.site_id is None:
        errors["attachment"] = "Le devis n'a pas de site : rattachez les badges à un véhicule de service."
    elif attachment == "vehicle" and not vehicle_label:
        errors["vehicle_label"] = "Indiquez le véhicule de service (immatriculation ou nom) des badges."
    if len(vehicle_label) > 60:
        errors["vehicle_label"] = "Le véhicule (immatriculation ou nom) comporte 60 caractères au plus."
    raw_tags = data.get("id_tags") or []
    if isinstance(raw_tags, str):
        raw_tags = raw_tags.splitlines()
    tags: list[str] = []
    for n, raw in enumerate([str(t).strip() for t in raw_tags if str(t).strip()], start=1):
        value, problem = await csms.id_tag_problem(session, quote.tenant_id, raw)
        if problem is None and value in tags:
            problem = f"Le badge {value} est donné deux fois."
        if problem:
            errors.setdefault("id_tags", f"Badge n° {n} : {problem}")
        tags.append(value)
    if charge_points is not None and len(tags) > badges_due(charge_points):
        errors["id_tags"] = (f"{len(tags)} badges donnés pour {badges_due(charge_points)} dus "
                             f"({BADGES_PER_CHARGE_POINT} par point de charge, CCTP CPAM 5-5-5-3).")
    order_date = now.astimezone(calendar.zone).date()
    article = await badge_article(session, quote.agreement_id, order_date)
    if article is None:
        errors["article"] = (f"Le BPU en vigueur de l'accord-cadre {quote.agreement_reference} n'a pas d'article de "
                             "badge (une fourniture dont le code ou le libellé dit « badge ») : les badges de mise en "
                             "service ne peuvent pas être commandés.")
    if errors:
        raise CommissioningBadgesError(errors)
    assert charge_points is not None and article is not None
    return BadgePlan(quote, article, charge_points, points_source, attachment,
                     vehicle_label if attachment == "vehicle" else "", tuple(tags), order_date)


async def write_commissioning_badges(session: AsyncSession, plan: BadgePlan, *, now: dt.datetime) -> CommissioningBadges:
    """The order of the badges (one line of the BPU's badge article, issued and so notified to the titulaire),
    the badges given put in the tenant's list, and the record of the quote's badges."""
    quote = plan.quote
    accepted = await orders.get_order_in_tenant(session, quote.tenant_id, quote.order_id) if quote.order_id else None
    data = {
        "agreement_id": str(quote.agreement_id), "quote_id": quote.id,
        "delivery_place": quote.place or (accepted.delivery_place if accepted else "") or "Site du devis",
        "representative": accepted.representative if accepted else str(actor_of(session).get("label") or "")[:500],
        "delivery_conditions": (f"Badges fournis à la mise en service des travaux du devis {quote.number} : "
                                f"{BADGES_PER_CHARGE_POINT} par point de charge, {plan.charge_points} point(s) de "
                                f"charge (CCTP CPAM 5-5-5-3)."),
        "lines": [{"article_code": plan.article.article_code, "quantity": plan.badge_count}]}
    try:
        order = await orders.create_order(session, quote.tenant_id, data, order_date=plan.order_date, now=now)
    except orders.OrderError as exc:  # pragma: no cover (the plan checked the article and the quantity)
        raise CommissioningBadgesError(exc.errors) from None
    await orders.issue_order(session, quote.tenant_id, order.id, now=now)
    holder = f"Mise en service — devis {quote.number}"
    for tag in plan.id_tags:
        await csms.issue_local_badge(session, quote.tenant_id, id_tag=tag, kind=plan.attachment,
                                     vehicle_label=plan.vehicle_label,
                                     site_id=quote.site_id if plan.attachment == "site" else None, holder_label=holder)
    row = CommissioningBadges(
        tenant_id=quote.tenant_id, quote_id=quote.id, order_id=order.id, charge_points=plan.charge_points,
        points_source=plan.points_source, badge_count=plan.badge_count, attachment=plan.attachment,
        vehicle_label=plan.vehicle_label, id_tags=list(plan.id_tags), created_at=now,
        created_by=str(actor_of(session).get("label") or "")[:320])
    session.add(row)
    await session.flush()
    publish_on_commit(session, CommissioningBadgesOrdered(
        tenant_id=quote.tenant_id, quote_id=quote.id, order_id=order.id, badge_count=row.badge_count,
        id_tag_count=len(row.id_tags), at=now))
    return row


async def order_commissioning_badges(session: AsyncSession, quote: Quote, data: Mapping[str, Any], *,
                                     calendar: BusinessCalendar, now: dt.datetime) -> CommissioningBadges:
    """The operator's explicit action on a commissioned quote (the works' commissioning recorded)."""
    if quote.commissioned_on is None:
        raise CommissioningBadgesError({"state": "Enregistrez d'abord la mise en service des travaux : les badges "
                                                 "sont fournis à la mise en service (CCTP CPAM 5-5-5-3)."})
    plan = await plan_commissioning_badges(session, quote, data, calendar=calendar, now=now)
    return await write_commissioning_badges(session, plan, now=now)


@dataclass(frozen=True)
class CommissionedBadgesView:
    """The quote's badges as its page and the API show them."""

    row: CommissioningBadges
    order_number: str
    order_status: str
    article_code: str
    label: str


async def commissioning_badges_of(session: AsyncSession, quote: Quote) -> CommissionedBadgesView | None:
    row = await session.scalar(select(CommissioningBadges).where(
        CommissioningBadges.tenant_id == quote.tenant_id, CommissioningBadges.quote_id == quote.id))
    if row is None:
        return None
    order = await orders.get_order_in_tenant(session, quote.tenant_id, row.order_id)
    line = (await orders.lines_of_order(session, order))[0]
    return CommissionedBadgesView(row, order.number, order.status, line.article_code, line.label)


async def notify_ordered(delivery: Delivery, event: CommissioningBadgesOrdered) -> None:
    """The tenant's admins learn what was ordered (once per event, recorded with the delivery); badges given are
    announced so that the ingress pushes the local list now (the list version is committed; the sweep would
    catch up)."""
    session = delivery.session
    row = await session.scalar(select(CommissioningBadges).where(
        CommissioningBadges.tenant_id == event.tenant_id, CommissioningBadges.quote_id == event.quote_id))
    quote = await session.scalar(select(Quote).where(Quote.tenant_id == event.tenant_id, Quote.id == event.quote_id))
    if row is None or quote is None:  # pragma: no cover (the quote was deleted since)
        return
    order = await orders.get_order_in_tenant(session, event.tenant_id, row.order_id)
    tenant = await tenants.get_tenant(session, event.tenant_id)
    where = ATTACHMENTS[row.attachment] + (f" : {row.vehicle_label}" if row.vehicle_label else "")
    body = "\n".join([
        "Bonjour,", "",
        f"Mise en service des travaux du devis {quote.number} : {row.badge_count} badges de recharge sont dus "
        f"({BADGES_PER_CHARGE_POINT} par point de charge, {row.charge_points} point(s) de charge, CCTP CPAM 5-5-5-3).",
        f"Bon de commande émis : {order.number}.", f"Rattachement : {where}.",
        f"Badges déjà remis : {len(row.id_tags)}" + (f" ({', '.join(row.id_tags)})." if row.id_tags else "."), "",
        f"Centrale › Devis : /t/{tenant.id}/devis/{quote.id}", "", "-- ", "Centrale — badges de recharge"])
    for to in await tenants.member_emails(session, event.tenant_id, ["admin"]):
        await deliver_email(session, delivery.settings, to=to, subject=f"[{tenant.name}] Badges de mise en service — "
                            f"devis {quote.number}", body=body, tenant_id=event.tenant_id)
    if row.id_tags:
        await csms.announce_badges(delivery.bus, event.tenant_id)


SUBSCRIBERS: list[Subscriber[Any]] = [Subscriber(CommissioningBadgesOrdered, "catalog.commissioning-badges",
                                                 notify_ordered)]


# --------------------------------------------------------------------------- statistics (5-5-5-3)


@dataclass(frozen=True)
class BadgeStatisticsView:
    """CPAM 5-5-5-3 « suivi statistique »: rows by attachment, columns by state, with totals (the empty
    attachment row only when some badge is not attached)."""

    rows: list[tuple[str, str, dict[str, int], int]]  # (kind, French label, state → count, total)
    by_state: dict[str, int]
    total: int


async def badge_statistics(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime) -> BadgeStatisticsView:
    stats = await csms.badge_statistics(session, tenant_id, now)
    rows = []
    for kind, label in BADGE_KINDS.items():
        cells = {state: stats.count(kind, state) for state in BADGE_STATES}
        if kind or sum(cells.values()):
            rows.append((kind, label, cells, sum(cells.values())))
    return BadgeStatisticsView(rows, {state: stats.count(status=state) for state in BADGE_STATES}, stats.total)
