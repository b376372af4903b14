"""Price revision of CCP TGD IX.2 (issue 15 §4), with a database; the formula is ``billing.rules.revise_price``.

« Les prix sont fermes et, si un délai supérieur à trois mois s'écoule entre la date d'établissement des prix et la
date de début d'exécution des prestations (...), actualisables (...) par application de la formule suivante :
P = P0 × (0,30 + 0,70 × Ing / Ing0) ». Ing0 « est la dernière publiée à la date d'établissement des prix (...) la
date de signature de l'acte d'engagement », Ing « est lue à une date antérieure de trois mois à la date de début
d'exécution ». « L'index Ingénierie est lu dans le journal officiel et sur le site Internet de l'INSEE »: the
coordinators keep its values in ``price_indexes`` (``add_index_value``).

``revise_bpu`` makes a new version of the agreement's BPU, in force from the start of execution, from the version
in force then, each unit price revised; the version is created by catalog's own import
(``catalog.services.import_bpu``, the same checks as a file), and the computation is kept in ``price_revisions``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import actor_of
from billing import rules
from billing.models import PriceIndex, PriceRevision
from billing.services import BillingError
from catalog import services as catalog
from catalog.rules import COLUMNS

__all__ = ["DEFAULT_INDEX", "add_index_value", "index_names", "index_series", "index_values", "revise_bpu",
           "revisions_of_agreement"]

#: IX.2 « Index ingénierie ».
DEFAULT_INDEX = "Ingénierie"


def _actor(session: AsyncSession) -> str:
    return str(actor_of(session).get("label") or "")[:320]


def _day(raw: Any, key: str, label: str, errors: dict[str, str]) -> dt.date | None:
    if isinstance(raw, dt.date):
        return raw
    text = str(raw or "").strip()
    try:
        return dt.date.fromisoformat(text + "-01" if len(text) == 7 else text)
    except ValueError:
        errors[key] = f"{label} : une date (AAAA-MM-JJ) est attendue."
        return None


async def index_values(session: AsyncSession, name: str) -> list[PriceIndex]:
    """The index's values, by month."""
    return list(await session.scalars(select(PriceIndex).where(PriceIndex.name == name).order_by(PriceIndex.month)))


async def index_names(session: AsyncSession) -> list[str]:
    names = set(await session.scalars(select(PriceIndex.name).distinct()))
    return sorted(names | {DEFAULT_INDEX})


async def index_series(session: AsyncSession, name: str) -> dict[dt.date, Decimal]:
    """Publication day → value, what ``billing.rules.index_on`` reads (« la dernière publiée à la date »)."""
    return {x.published_on: x.value for x in await index_values(session, name)}


async def add_index_value(session: AsyncSession, data: Mapping[str, Any]) -> PriceIndex:
    """A published value (``name``, ``month`` AAAA-MM, ``published_on``, ``value`` > 0), once per index and month.
    Errors by field; nothing written on any."""
    errors: dict[str, str] = {}
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 60:
        errors["name"] = "Index : un nom de 60 caractères au plus (par exemple « Ingénierie »)."
    month = _day(data.get("month"), "month", "Mois de l'index", errors)
    published = _day(data.get("published_on"), "published_on", "Date de publication", errors)
    try:
        value = Decimal(str(data.get("value") or "").strip().replace(",", "."))
        if not value.is_finite() or value <= 0 or value >= Decimal("100000000") or value != value.quantize(
                Decimal("0.0001")):
            raise InvalidOperation
    except InvalidOperation:
        errors["value"] = "Valeur : un nombre positif, quatre décimales au plus (par exemple 131,2)."
        value = Decimal(0)
    if month is not None:
        month = month.replace(day=1)
        if published is not None and published < month:
            errors["published_on"] = "Date de publication : elle suit le mois que la valeur mesure."
    if not errors and await session.scalar(select(PriceIndex.id).where(PriceIndex.name == name,
                                                                       PriceIndex.month == month)):
        errors["month"] = f"L'index « {name} » a déjà une valeur pour {month:%m/%Y}."
    if errors:
        raise BillingError(errors)
    assert month is not None and published is not None
    row = PriceIndex(name=name, month=month, published_on=published, value=value, created_by=_actor(session))
    session.add(row)
    await session.flush()
    return row


async def revisions_of_agreement(session: AsyncSession, agreement_id: Any) -> list[PriceRevision]:
    return list(await session.scalars(select(PriceRevision).where(PriceRevision.agreement_id == agreement_id)
                                      .order_by(PriceRevision.created_at.desc())))


def _three_months_before(day: dt.date) -> dt.date:
    month = day.month - 3
    year, month = (day.year - 1, month + 12) if month < 1 else (day.year, month)
    return day.replace(year=year, month=month, day=min(day.day, 28)) if day.day > 28 else day.replace(
        year=year, month=month)


def _csv(items: list[Any], prices: Mapping[str, Decimal]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(COLUMNS)
    for x in items:
        writer.writerow([x.article_code, x.label, x.unit, f"{prices[x.article_code]:f}", f"{x.vat_rate:f}", x.family,
                         x.complexity or "", x.maker, x.purchase_or_rental])
    return out.getvalue()


async def revise_bpu(session: AsyncSession, agreement: Any, *, priced_on: dt.date, starts_on: dt.date,
                     index: str = DEFAULT_INDEX, now: dt.datetime) -> PriceRevision:
    """IX.2: a new BPU version from ``starts_on``, every unit price of the version in force that day revised with
    the same coefficient (0,30 + 0,70 × Ing / Ing0), rounded half-up to 1/10 000 €; refused with « Prix ferme » when
    three months did not pass between ``priced_on`` (the signature) and ``starts_on``, and when an index value is
    missing. The revision keeps Ing0, Ing (with their publication days), the coefficient and the computation."""
    if starts_on <= priced_on:
        raise BillingError({"starts_on": "Le début d'exécution suit la date d'établissement des prix."})
    version = await catalog.version_in_force(session, agreement.id, starts_on)
    if version is None:
        raise BillingError({"starts_on": f"Aucune version du BPU n'est en vigueur au {starts_on:%d/%m/%Y}."})
    items = await catalog.items_of_version(session, version.id)
    series = await index_series(session, index)
    try:
        probe = rules.revise_price(Decimal(1), priced_on=priced_on, starts_on=starts_on, index=series)
    except rules.BillingRuleError as exc:
        raise BillingError({"index": f"Index « {index} » : {exc}"}) from None
    if not probe.applies:
        raise BillingError({"starts_on": probe.computation})
    assert probe.coefficient is not None and probe.ing0 is not None and probe.ing is not None
    revised = {x.article_code: rules.revise_price(x.unit_price_ht, priced_on=priced_on, starts_on=starts_on,
                                                  index=series) for x in items}
    ing0_on, _ = rules.index_on(series, priced_on)
    ing_on = max(on for on, value in series.items() if on <= _three_months_before(starts_on) and value == probe.ing)
    new = await catalog.import_bpu(session, agreement, _csv(items, {k: r.revised for k, r in revised.items()}),
                                   f"revision-IX.2-{starts_on:%Y-%m-%d}.csv", valid_from=starts_on,
                                   imported_by=_actor(session))
    coefficient = probe.coefficient.quantize(Decimal("0.00000001"))

    def fr(value: Decimal) -> str:
        return f"{value.normalize():f}".replace(".", ",")

    computation = (f"CCP TGD IX.2 : P = P0 × (0,30 + 0,70 × Ing / Ing0) ; Ing0 = {fr(probe.ing0)} (index « {index} » "
                   f"publié le {ing0_on:%d/%m/%Y}, dernier connu à l'établissement des prix le {priced_on:%d/%m/%Y}) ; "
                   f"Ing = {fr(probe.ing)} (publié le {ing_on:%d/%m/%Y}, trois mois avant le début d'exécution le "
                   f"{starts_on:%d/%m/%Y}) ; coefficient 0,30 + 0,70 × {fr(probe.ing)} / {fr(probe.ing0)} = {fr(coefficient)} ; "
                   f"chaque prix unitaire × {fr(coefficient)}, arrondi au 1/10 000 € ; version {version.version} → {new.version}.")
    row = PriceRevision(agreement_id=agreement.id, from_version_id=version.id, to_version_id=new.id,
                        index_name=index, priced_on=priced_on, starts_on=starts_on, ing0=probe.ing0,
                        ing0_published_on=ing0_on, ing=probe.ing, ing_published_on=ing_on, coefficient=coefficient,
                        computation=computation, line_count=len(items), created_at=now,
                        created_by=_actor(session))
    session.add(row)
    await session.flush()
    return row
