"""Amendments of purchase orders (« modificatifs », CCP TGD VI.3; issue 14 §3), with a database.

* ``amend_order``: the buyer's amendment of an issued or started order — the new content of its lines (the
  order's format: article code, quantity, extra discount), its date of effect and its reason. Refused, with the
  rule quoted, when notified less than ten days before its date of effect (``deadlines.amendment_notice_refusal``)
  or when it changes nothing; the lines keep the prices of the BPU in force on the order date (CCP TGD VI.1, an
  added article too). The order's lines become the new version (``PurchaseOrder.version`` + 1, positions kept,
  new articles at the end); the version replaced is kept in ``PurchaseOrderAmendmentLine``, with what changed,
  so that every version can be shown and printed again (``version_lines``).
* ``send_observations``: the titulaire's operator, within the five days of the notification
  (``deadlines.amendment_deemed_accepted_at``); after them, refused with the rule quoted.
* ``record_deemed_acceptances``: the job's pass: an amendment whose five days passed without observations is
  « réputé accepté » at the end of the fifth day, once.

Each step publishes ``AmendmentMoved`` through the outbox; its subscriber e-mails the other side once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of, one_in_tenant
from app.errors import ValidationFailed
from app.mail import deliver_email
from app.outbox import Delivery, Subscriber, publish_on_commit
from catalog import amendment_rules as rules
from catalog import deadlines, deliveries, order_rules, orders, services
from catalog.events import AmendmentMoved
from catalog.models import (
    PurchaseOrder,
    PurchaseOrderAmendment,
    PurchaseOrderAmendmentLine,
    PurchaseOrderLine,
)
from catalog.quotes import tenant_calendar
from tenants import services as tenants

__all__ = [
    "SUBSCRIBERS",
    "AmendmentError",
    "amend_order",
    "amendments_of_order",
    "get_amendment",
    "moved_mails",
    "observation_deadline",
    "record_deemed_acceptances",
    "send_observations",
    "version_lines",
]

SIGNATURE = "\n-- \nCentrale — bons de commande\nMerci de rappeler le numéro du modificatif dans tout échange.\n"
LINE_COLUMNS = ("position", "article_code", "label", "unit", "family", "bpu_version_id", "quantity", "unit_price_ht",
                "discount_percent", "gross_ht", "total_ht", "vat_rate", "total_vat", "total_ttc")


class AmendmentError(ValidationFailed):
    """Bad input or a refused step: French messages by field, nothing changed."""


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite gives naive datetimes back; they are UTC.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _parse_day(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None


def _moved(session: AsyncSession, order: PurchaseOrder, amendment: PurchaseOrderAmendment, step: str,
           now: dt.datetime) -> None:
    publish_on_commit(session, AmendmentMoved(tenant_id=order.tenant_id, order_id=order.id, amendment_id=amendment.id,
                                              version=amendment.version, step=step, at=now))


async def amend_order(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID, data: Mapping[str, Any], *,
                      now: dt.datetime) -> PurchaseOrderAmendment:
    """The buyer's amendment: ``effective_on``, ``reason`` and ``lines`` (the whole new content). Every problem
    reported (``effective_on``, ``reason``, ``lines``, ``lines.N.field``), nothing written. No article may go below
    what its delivery slips made available and the buyer did not reject (``deliveries.delivered_quantities``)."""
    order = await orders.get_order_in_tenant(session, tenant_id, order_id, for_update=True)
    if order.status not in rules.AMENDABLE_STATUSES:
        raise AmendmentError({"status": f"Un modificatif porte sur une commande émise ou en cours ; celle-ci est "
                                        f"« {order_rules.STATUSES[order.status]} »."})
    calendar = await tenant_calendar(session, tenant_id)
    today = now.astimezone(calendar.zone).date()
    errors: dict[str, str] = {}
    effective_on = _parse_day(data.get("effective_on"))
    if effective_on is None:
        errors["effective_on"] = "Date de prise d'effet : une date (AAAA-MM-JJ) est attendue."
    else:
        refusal = deadlines.amendment_notice_refusal(today, effective_on)
        if refusal:
            errors["effective_on"] = refusal
    reason = " ".join(str(data.get("reason") or "").split())
    if not reason:
        errors["reason"] = "Indiquez l'objet du modificatif (ce qui change et pourquoi)."
    elif len(reason) > rules.REASON_MAX:
        errors["reason"] = f"L'objet comporte {rules.REASON_MAX} caractères au plus."
    agreement = await services.agreement_of_tenant(session, tenant_id, order.agreement_id)
    # CCP TGD VI.1: a line keeps the price of the BPU in force on the order date, an added one too.
    priced = await orders.price_lines(session, agreement, data.get("lines"), order.order_date, errors,
                                      what="modificatif")
    current = await orders.lines_of_order(session, order)
    if priced and not any(key.startswith("lines") for key in errors):
        after = [rules.LineState(item.article_code, item.label, a.quantity, a.discount_percent) for item, a in priced]
        described = rules.changes(current, after)
        if not described:
            errors["lines"] = "Le modificatif ne change aucune ligne de la commande."
        below = rules.below_delivered(after, await _delivered_by_article(session, order, current))
        if below:
            errors["lines"] = " ".join(below.values())
    if errors:
        raise AmendmentError(errors)
    assert effective_on is not None
    actor = str(actor_of(session).get("label") or "")[:320]
    version = order.version + 1
    totals = order_rules.order_totals(a for _, a in priced)
    amendment = PurchaseOrderAmendment(
        tenant_id=tenant_id, order_id=order.id, version=version, number=rules.amendment_number(order.number, version),
        effective_on=effective_on, reason=reason, state="notified", notified_at=now, notified_by=actor,
        changes="\n".join(described), total_ht_before=order.total_ht, total_ht_after=totals.total_ht)
    session.add(amendment)
    await session.flush()
    for line in current:  # the version replaced, kept as it was
        session.add(PurchaseOrderAmendmentLine(tenant_id=tenant_id, amendment_id=amendment.id,
                                               **{k: getattr(line, k) for k in LINE_COLUMNS}))
    await _replace_lines(session, order, current, priced)
    order.gross_ht, order.total_ht, order.total_vat, order.total_ttc = (totals.gross_ht, totals.total_ht,
                                                                        totals.total_vat, totals.total_ttc)
    order.version, order.updated_at = version, now
    orders.record_event(session, order, order.status, order.status, now,
                        f"Modificatif {amendment.number} notifié, prise d'effet le {effective_on:%d/%m/%Y}")
    _moved(session, order, amendment, "notify", now)
    await session.flush()
    return amendment


async def _delivered_by_article(session: AsyncSession, order: PurchaseOrder,
                                current: list[PurchaseOrderLine]) -> dict[str, Decimal]:
    """Article code → quantity delivered (the slips name lines by position)."""
    by_position = await deliveries.delivered_quantities(session, order.tenant_id, order.id)
    out: dict[str, Decimal] = {}
    for line in current:
        out[line.article_code] = out.get(line.article_code, Decimal(0)) + by_position.get(line.position, Decimal(0))
    return out


async def _replace_lines(session: AsyncSession, order: PurchaseOrder, current: list[PurchaseOrderLine],
                         priced: list[tuple[Any, order_rules.LineAmounts]]) -> None:
    """The order's lines become the new version: an article kept keeps its position (a delivery slip names lines
    by position), an added one comes after the last, a removed one goes."""
    by_code = {x.article_code: x for x in reversed(current)}  # the first line of an article
    kept: set[int] = set()
    last = max((x.position for x in current), default=0)
    for item, a in priced:
        line = by_code.get(item.article_code)
        if line is None or line.position in kept:
            last += 1
            line = PurchaseOrderLine(tenant_id=order.tenant_id, order_id=order.id, position=last,
                                     article_code=item.article_code)
            session.add(line)
        kept.add(line.position)
        line.label, line.unit, line.family, line.bpu_version_id = item.label, item.unit, item.family, item.version_id
        (line.quantity, line.unit_price_ht, line.discount_percent, line.gross_ht, line.total_ht, line.vat_rate,
         line.total_vat, line.total_ttc) = (a.quantity, a.unit_price_ht, a.discount_percent, a.gross_ht, a.total_ht,
                                            a.vat_rate, a.total_vat, a.total_ttc)
    for line in current:
        if line.position not in kept:
            await session.delete(line)
    order.line_count = len(kept)
    await session.flush()


def observation_deadline(calendar: Any, amendment: PurchaseOrderAmendment) -> deadlines.Deadline:
    """CCP TGD VI.3: « cinq jours à compter de la notification »."""
    return deadlines.amendment_deemed_accepted_at(calendar, _aware(amendment.notified_at))


async def get_amendment(session: AsyncSession, tenant_id: uuid.UUID, amendment_id: uuid.UUID, *,
                        for_update: bool = False) -> PurchaseOrderAmendment:
    found: PurchaseOrderAmendment = await one_in_tenant(session, PurchaseOrderAmendment, tenant_id, amendment_id,
                                                        "modificatif", for_update=for_update)
    return found


async def send_observations(session: AsyncSession, tenant_id: uuid.UUID, amendment_id: uuid.UUID, text: Any, *,
                            now: dt.datetime) -> PurchaseOrderAmendment:
    """The titulaire's observations, within the five days; it complies all the same (« que ceux-ci aient ou non
    fait l'objet d'observations de sa part »)."""
    body = str(text or "").strip()
    if not body:
        raise AmendmentError({"observations": "Rédigez vos observations sur le modificatif."})
    if len(body) > rules.OBSERVATIONS_MAX:
        raise AmendmentError({"observations": f"Les observations comportent {rules.OBSERVATIONS_MAX} caractères au "
                                              "plus."})
    amendment = await get_amendment(session, tenant_id, amendment_id, for_update=True)
    calendar = await tenant_calendar(session, tenant_id)
    due = observation_deadline(calendar, amendment)
    if amendment.state != "notified" or now >= due.expires_at:
        raise AmendmentError({"observations": (
            f"Le délai d'observations est passé depuis le {due.last_day:%d/%m/%Y} (CCP TGD VI.3 : « Le titulaire "
            "dispose de cinq jours à compter de la notification pour adresser à l'administration toutes "
            "observations […]. Passé ce délai, le titulaire est réputé en avoir accepté les conditions "
            "d'exécution. »)." if amendment.state != "observations" else "Les observations sont déjà envoyées.")})
    amendment.state, amendment.observations, amendment.observations_at = "observations", body, now
    amendment.observations_by = str(actor_of(session).get("label") or "")[:320]
    order = await orders.get_order_in_tenant(session, tenant_id, amendment.order_id)
    _moved(session, order, amendment, "observations", now)
    await session.flush()
    return amendment


async def record_deemed_acceptances(session: AsyncSession, tenant_ids: Collection[uuid.UUID],
                                    now: dt.datetime) -> list[PurchaseOrderAmendment]:
    """The amendments of these tenants whose five days passed without observations: « réputé accepté » at the
    end of the fifth day, each once (rows locked ``SKIP LOCKED``: two passes at once record it once)."""
    if not tenant_ids:
        return []
    found = list(await session.scalars(
        select(PurchaseOrderAmendment).where(PurchaseOrderAmendment.tenant_id.in_(list(tenant_ids)),
                                             PurchaseOrderAmendment.state == "notified")
        .order_by(PurchaseOrderAmendment.notified_at).with_for_update(skip_locked=True)))
    calendars: dict[uuid.UUID, Any] = {}
    done = []
    for amendment in found:
        if amendment.tenant_id not in calendars:
            calendars[amendment.tenant_id] = await tenant_calendar(session, amendment.tenant_id)
        due = observation_deadline(calendars[amendment.tenant_id], amendment)
        if now < due.expires_at:
            continue
        amendment.state, amendment.deemed_accepted_at = "deemed_accepted", due.expires_at
        order = await orders.get_order_in_tenant(session, amendment.tenant_id, amendment.order_id)
        _moved(session, order, amendment, "deemed_accepted", now)
        done.append(amendment)
    await session.flush()
    return done


# --------------------------------------------------------------------------- reading


async def amendments_of_order(session: AsyncSession, order: PurchaseOrder) -> list[PurchaseOrderAmendment]:
    """The order's amendments, the first first."""
    return list(await session.scalars(select(PurchaseOrderAmendment).where(
        PurchaseOrderAmendment.tenant_id == order.tenant_id, PurchaseOrderAmendment.order_id == order.id)
        .order_by(PurchaseOrderAmendment.version)))


async def version_lines(session: AsyncSession, order: PurchaseOrder, version: int) -> list[Any]:
    """The lines of one version of the order (1 as issued … ``order.version``, its current lines)."""
    if version == order.version:
        return await orders.lines_of_order(session, order)
    replaced_by = await session.scalar(select(PurchaseOrderAmendment).where(
        PurchaseOrderAmendment.tenant_id == order.tenant_id, PurchaseOrderAmendment.order_id == order.id,
        PurchaseOrderAmendment.version == version + 1))
    if replaced_by is None:
        raise AmendmentError({"version": f"Version inconnue : la commande a les versions 1 à {order.version}."})
    return list(await session.scalars(select(PurchaseOrderAmendmentLine).where(
        PurchaseOrderAmendmentLine.tenant_id == order.tenant_id,
        PurchaseOrderAmendmentLine.amendment_id == replaced_by.id).order_by(PurchaseOrderAmendmentLine.position)))


# --------------------------------------------------------------------------- e-mails


def _money(value: Decimal) -> str:
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + " €"


async def moved_mails(session: AsyncSession, amendment: PurchaseOrderAmendment,
                      step: str) -> list[tuple[str, str, str]]:
    """(to, subject, body) of a step: the notification to the titulaire's operators, the observations and the
    deemed acceptance to the tenant's buyers (its admins)."""
    order = await orders.get_order_in_tenant(session, amendment.tenant_id, amendment.order_id)
    tenant = await tenants.get_tenant(session, amendment.tenant_id)
    calendar = await tenant_calendar(session, amendment.tenant_id)
    due = observation_deadline(calendar, amendment)
    link = f"Centrale › Bons de commande : /t/{tenant.id}/commandes/{order.id}"
    if step == "notify":
        to = await tenants.member_emails(session, amendment.tenant_id, ["operator"])
        subject = f"[{order.number}] Modificatif {amendment.number} notifié"
        body = [f"{tenant.name} vous notifie le modificatif {amendment.number} du bon de commande {order.number}, "
                f"qui prend effet le {amendment.effective_on:%d/%m/%Y}.", f"Objet : {amendment.reason}", "",
                "Changements :", *amendment.changes.splitlines(), "",
                f"Montant HT : {_money(amendment.total_ht_before)} → {_money(amendment.total_ht_after)}.",
                f"Vous pouvez adresser vos observations jusqu'au {due.last_day:%d/%m/%Y} inclus ; passé ce délai, "
                "vous êtes réputé en avoir accepté les conditions d'exécution (CCP TGD VI.3)."]
    else:
        to = await tenants.member_emails(session, amendment.tenant_id, ["admin"])
        if step == "observations":
            subject = f"[{order.number}] Observations du titulaire sur le modificatif {amendment.number}"
            body = ["Le titulaire a adressé ses observations sur le modificatif :", "", amendment.observations, "",
                    "Il se conforme au modificatif, que celui-ci ait ou non fait l'objet d'observations "
                    "(CCP TGD VI.3)."]
        else:
            subject = f"[{order.number}] Modificatif {amendment.number} réputé accepté"
            body = [f"Le titulaire n'a pas adressé d'observations dans les cinq jours (jusqu'au "
                    f"{due.last_day:%d/%m/%Y}) : il est réputé avoir accepté les conditions d'exécution du "
                    f"modificatif {amendment.number} (CCP TGD VI.3)."]
    text = "\n".join(["Bonjour,", "", *body, "", link]) + SIGNATURE
    return [(address, subject, text) for address in to]


async def notify_moved(delivery: Delivery, event: AmendmentMoved) -> None:
    """The step's e-mails, recorded once per event with the delivery."""
    amendment = await delivery.session.scalar(select(PurchaseOrderAmendment).where(
        PurchaseOrderAmendment.tenant_id == event.tenant_id, PurchaseOrderAmendment.id == event.amendment_id))
    if amendment is None:
        return
    for to, subject, body in await moved_mails(delivery.session, amendment, event.step):
        await deliver_email(delivery.session, delivery.settings, to=to, subject=subject, body=body,
                            tenant_id=event.tenant_id)


SUBSCRIBERS: list[Subscriber[Any]] = [Subscriber(AmendmentMoved, "catalog.amendment-mail", notify_moved)]
