"""The coordinator's dashboard (issue 15 §1; CCTP CAIH 5 « TABLEAUX DE BORD ET REPORTING », CANUT 7 « Reporting »)
and the COPIL pack (CAIH 6.1): the semester report's figures over a period of months, filtered by beneficiary,
region and family.

The figures are read from ``order_volumes`` (``reporting.models.OrderVolume``), a rollup of catalog's ordered lines
per tenant × agreement × month × family × BPU / catalogue × purchase / rental × article, summed in SQL per tenant
by ``catalog.services.ordered_volume_of_tenant`` and recomputed whole for that tenant (``refresh_volumes``) when one
of its orders is issued, amended or cancelled (durable subscribers of catalog's events), and every night for every
tenant (a catalog solution approved or withdrawn changes what is « CATALOGUE »). A dashboard then sums a few
thousand rows per grouping in SQL (``load_dashboard``), never the order lines: 1,000,000 lines are 50,000 rows here.

The incidents' indicators (CAIH 2.1.26 / 2.1.27 / 6.1 « le taux de respect du GTR ») come from
``incidents.services.central_period_indicators`` over the same months, for the same beneficiaries.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import String, cast, delete, func, insert, literal, select, text, tuple_, union_all
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.documents import Layout
from app.outbox import Delivery, Subscriber
from catalog import services as catalog
from catalog.events import AmendmentMoved, OrderCancelled, OrderIssued
from catalog.rules import FAMILIES, MODES
from incidents import services as incidents
from reporting.models import CentralVolume, OrderVolume, TenantMonthVolume
from reporting.workbook import NO_REGION
from tenants.services import all_tenant_ids

__all__ = ["MAX_MONTHS", "SUBSCRIBERS", "Dashboard", "Filters", "copil_layout", "load_dashboard", "parse_filters",
           "plan_for_values", "refresh_all_volumes", "refresh_volumes"]

#: The longest period a dashboard covers (ten years of months).
MAX_MONTHS = 120
#: The default period: the last twelve months, the current one included.
DEFAULT_MONTHS = 12
#: Bars drawn in the per-beneficiary and per-article charts (the tables beside them have every row).
CHART_TOP = 15
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
SYSTEM = {"user_id": None, "label": "système"}


# --------------------------------------------------------------------------- the rollup


_CELL = ("agreement_id", "month", "family", "kind", "purchase_or_rental", "article_code")


async def refresh_volumes(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """The tenant's rollup recomputed whole from its orders (idempotent: run twice, the same rows): its cells
    (``order_volumes``), its monthly totals (``tenant_month_volumes``, the same without the family, the kind, the mode
    and the article), and the difference with its former cells added to ``central_volumes``, in the same
    transaction; the number of cells kept."""
    postgres = session.bind.dialect.name == "postgresql"
    if postgres:  # one recomputation of a tenant at a time: its difference is counted once
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"order-volumes:{tenant_id}"))))
    rows = await catalog.ordered_volume_of_tenant(session, tenant_id)
    delta: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [Decimal(0), 0, Decimal(0), ""])
    for *key, amount, lines, quantity in await session.execute(
            select(*(getattr(OrderVolume, c) for c in _CELL), OrderVolume.amount_ht, OrderVolume.lines,
                   OrderVolume.quantity).where(OrderVolume.tenant_id == tenant_id)):
        cell = delta[tuple(key)]
        cell[0] -= amount
        cell[1] -= lines
        cell[2] -= quantity
    for r in rows:
        cell = delta[(r.agreement_id, r.month, r.family, r.kind, r.purchase_or_rental, r.article_code)]
        cell[0] += r.amount_ht
        cell[1] += r.lines
        cell[2] += r.quantity
        cell[3] = r.label[:500]
    months: dict[tuple[uuid.UUID, dt.date], list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for r in rows:
        total = months[(r.agreement_id, r.month)]
        total[0] += r.amount_ht
        total[1] += r.lines
    for model in (OrderVolume, TenantMonthVolume):
        await session.execute(delete(model).where(model.tenant_id == tenant_id))
    if rows:
        await session.execute(insert(OrderVolume), [
            {"tenant_id": tenant_id, "id": uuid.uuid4(), "agreement_id": r.agreement_id, "month": r.month,
             "family": r.family, "kind": r.kind, "purchase_or_rental": r.purchase_or_rental,
             "article_code": r.article_code, "label": r.label[:500], "quantity": r.quantity,
             "amount_ht": r.amount_ht, "lines": r.lines} for r in rows])
        await session.execute(insert(TenantMonthVolume), [
            {"tenant_id": tenant_id, "id": uuid.uuid4(), "agreement_id": agreement, "month": month,
             "amount_ht": amount, "lines": lines} for (agreement, month), (amount, lines) in sorted(months.items())])
    changes = [{**dict(zip(_CELL, key, strict=True)), "id": uuid.uuid4(), "label": label, "amount_ht": amount,
                "lines": lines, "quantity": quantity}
               for key, (amount, lines, quantity, label) in sorted(delta.items(), key=lambda kv: str(kv[0]))
               if amount or lines or quantity]
    if changes:
        upsert = (postgresql_insert if postgres else sqlite_insert)(CentralVolume)
        table = CentralVolume.__table__.c
        await session.execute(upsert.on_conflict_do_update(index_elements=list(_CELL), set_={
            "amount_ht": table.amount_ht + upsert.excluded.amount_ht, "lines": table.lines + upsert.excluded.lines,
            "quantity": table.quantity + upsert.excluded.quantity,
            "label": func.coalesce(func.nullif(upsert.excluded.label, ""), table.label)}), changes)
    return len(rows)


async def refresh_all_volumes(db: Database, tenant_ids: Sequence[uuid.UUID] | None = None) -> int:
    """Every tenant's rollup (the nightly job, and after a bulk load), each tenant in its own transaction."""
    if tenant_ids is None:
        async with db.session() as session:
            tenant_ids = await all_tenant_ids(session)
    kept = 0
    for tenant_id in tenant_ids:
        async with db.transaction([tenant_id], actor=SYSTEM) as session:
            kept += await refresh_volumes(session, tenant_id)
    return kept


async def refresh_on_order(delivery: Delivery, event: Any) -> None:
    """An order issued, amended (its new version's lines) or cancelled: its tenant's rollup again, in the delivery's
    transaction (idempotent: a second delivery recomputes the same rows)."""
    if isinstance(event, AmendmentMoved) and event.step != "notify":
        return
    await refresh_volumes(delivery.session, event.tenant_id)


SUBSCRIBERS: list[Subscriber[Any]] = [Subscriber(OrderIssued, "reporting.order-volume", refresh_on_order),
                                      Subscriber(OrderCancelled, "reporting.order-volume", refresh_on_order),
                                      Subscriber(AmendmentMoved, "reporting.order-volume", refresh_on_order)]


# --------------------------------------------------------------------------- the filters (GET, bookmarkable)


@dataclass(frozen=True)
class Filters:
    """A dashboard's period (``first`` and ``last``: first days of months, both included) and filters."""

    first: dt.date
    last: dt.date
    beneficiary: uuid.UUID | None = None
    region: str = ""
    family: str = ""

    @property
    def months(self) -> list[dt.date]:
        out, month = [], self.first
        while month <= self.last:
            out.append(month)
            month = _next(month)
        return out

    @property
    def label(self) -> str:
        return f"de {_month_label(self.first)} à {_month_label(self.last)}" if self.first != self.last \
            else _month_label(self.first)

    def query(self) -> dict[str, str]:
        """The URL's parameters of these filters (the downloads carry the page's)."""
        values = {"du": f"{self.first:%Y-%m}", "au": f"{self.last:%Y-%m}",
                  "beneficiaire": str(self.beneficiary or ""), "region": self.region, "famille": self.family}
        return {k: v for k, v in values.items() if v}


MONTH_NAMES = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
               "novembre", "décembre")


def _month_label(month: dt.date) -> str:
    return f"{MONTH_NAMES[month.month - 1]} {month.year}"


def _next(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _back(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 - count
    return dt.date(index // 12, index % 12 + 1, 1)


def _parse_month(text: str) -> dt.date | None:
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2100:
        return None
    return dt.date(int(match[1]), int(match[2]), 1)


def parse_filters(values: Mapping[str, str], *, today: dt.date, beneficiaries: Sequence[catalog.Beneficiary]
                  ) -> tuple[Filters, dict[str, str]]:
    """The filters of a query string (``du``, ``au``: AAAA-MM; ``beneficiaire``: one of ``beneficiaries``; ``region``:
    one of theirs; ``famille``: a BPU family code) and the French message of each bad one; a bad value is left
    out (the page shows the rest, with a 422)."""
    errors: dict[str, str] = {}
    current = dt.date(today.year, today.month, 1)
    last = current
    first = _back(current, DEFAULT_MONTHS - 1)
    if values.get("au"):
        parsed = _parse_month(values["au"])
        if parsed is None:
            errors["au"] = "Mois invalide : attendu AAAA-MM (par exemple 2026-06)."
        else:
            last = parsed
            if not values.get("du"):
                first = _back(last, DEFAULT_MONTHS - 1)
    if values.get("du"):
        parsed = _parse_month(values["du"])
        if parsed is None:
            errors["du"] = "Mois invalide : attendu AAAA-MM (par exemple 2026-01)."
        else:
            first = parsed
    if first > last:
        errors["au"] = "Le dernier mois précède le premier."
        first, last = _back(current, DEFAULT_MONTHS - 1), current
    elif (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        errors["du"] = f"Au plus {MAX_MONTHS} mois ({MAX_MONTHS // 12} ans) : choisissez une période plus courte."
        first = _back(last, MAX_MONTHS - 1)
    beneficiary = None
    if values.get("beneficiaire"):
        try:
            beneficiary = uuid.UUID(values["beneficiaire"][:40])
        except ValueError:
            beneficiary = None
        if beneficiary not in {b.tenant_id for b in beneficiaries}:
            errors["beneficiaire"] = "Bénéficiaire inconnu : choisissez-en un des accords de la centrale."
            beneficiary = None
    region = values.get("region", "")[:100]
    if region and region not in {b.region or NO_REGION for b in beneficiaries}:
        errors["region"] = "Région inconnue : choisissez-en une des bénéficiaires de la centrale."
        region = ""
    family = values.get("famille", "")[:40]
    if family and family not in FAMILIES:
        errors["famille"] = "Famille inconnue : choisissez-en une de la liste."
        family = ""
    return Filters(first, last, beneficiary, region, family), errors


# --------------------------------------------------------------------------- the figures


@dataclass(frozen=True)
class Share:
    """One row of a split: a label, its CA HT, its lines (and what else the row says)."""

    key: str
    label: str
    amount: Decimal
    lines: int = 0
    quantity: Decimal = Decimal(0)
    detail: str = ""
    count: int = 0


@dataclass
class Dashboard:
    filters: Filters
    beneficiaries: list[catalog.Beneficiary]
    #: The beneficiaries the figures cover (the filters applied), and their ids.
    selected: list[catalog.Beneficiary]
    total: Decimal = Decimal(0)
    lines: int = 0
    months: list[Share] = field(default_factory=list)
    quarters: list[Share] = field(default_factory=list)
    years: list[Share] = field(default_factory=list)
    per_beneficiary: list[Share] = field(default_factory=list)
    kinds: list[Share] = field(default_factory=list)
    modes: list[Share] = field(default_factory=list)
    families: list[Share] = field(default_factory=list)
    articles: list[Share] = field(default_factory=list)
    regions: list[Share] = field(default_factory=list)
    sla: Any = None

    @property
    def regions_known(self) -> list[str]:
        return sorted({b.region or NO_REGION for b in self.beneficiaries})


async def plan_for_values(session: AsyncSession) -> None:
    """The driver prepares each statement once; from its sixth run PostgreSQL may switch to a generic plan, blind to
    the months and the list of tenants: 45 ms became 200 ms (bench/bench_dashboard.py). The rest of this
    transaction's statements are planned for their values."""
    transaction = session.sync_session.get_transaction()
    if session.bind.dialect.name == "postgresql" and session.info.get("planned_for_values") is not transaction:
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        session.info["planned_for_values"] = transaction  # once per transaction: a SET LOCAL lasts as long


async def load_dashboard(session: AsyncSession, central_id: uuid.UUID, scope: Sequence[uuid.UUID], filters: Filters,
                         *, beneficiaries: Sequence[catalog.Beneficiary] | None = None, sla: bool = True) -> Dashboard:
    """The figures of ``filters`` for the central's agreements, in the coordinator's ``scope`` (its beneficiaries:
    the session is scoped to them too, and row-level security applies)."""
    await plan_for_values(session)
    allowed = set(scope)
    everyone = [b for b in (beneficiaries if beneficiaries is not None
                            else await catalog.beneficiaries_of_central(session, central_id)) if b.tenant_id in allowed]
    selected = [b for b in everyone if (filters.beneficiary is None or b.tenant_id == filters.beneficiary)
                and (not filters.region or (b.region or NO_REGION) == filters.region)]
    board = Dashboard(filters=filters, beneficiaries=everyone, selected=selected)
    agreements = [a.id for a in await catalog.agreements_of_central(session, central_id)]
    ids = [b.tenant_id for b in selected]
    if ids and agreements:
        await _fill(session, board, agreements, ids)
    by_region: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    amounts = {s.key: s.amount for s in board.per_beneficiary}
    for b in selected:
        cell = by_region[b.region or NO_REGION]
        cell[0] += 1
        cell[1] += amounts.get(str(b.tenant_id), Decimal(0))
    board.regions = sorted((Share(r, r, v[1], count=v[0]) for r, v in by_region.items()),
                           key=lambda s: (-s.count, s.key))
    if sla and ids:
        first = incidents.Month(filters.first.year, filters.first.month)
        last = incidents.Month(filters.last.year, filters.last.month)
        board.sla = await incidents.central_period_indicators(session, ids, first, last)
    return board


Row = tuple[str, str, str, Decimal, int, Decimal]


async def _grouped(session: AsyncSession, model: Any, where: list[Any], dims: Sequence[str]) -> dict[str, list[Row]]:
    """The sums of ``model``'s rows matching ``where`` grouped by each of ``dims`` (``DIMS``' names), in one round
    trip: on PostgreSQL one scan (GROUPING SETS; the row-level security's test runs once per row, not once per
    grouping), elsewhere a UNION ALL of GROUP BYs."""
    columns = {"month": model.month, "tenant": getattr(model, "tenant_id", None), "kind": model.kind,
               "mode": model.purchase_or_rental, "family": model.family, "article": model.article_code}
    keys = {d: columns[d] for d in dims}
    sums = (func.sum(model.amount_ht), func.sum(model.lines), func.sum(model.quantity))
    out: dict[str, list[Row]] = defaultdict(list)
    if session.bind.dialect.name == "postgresql":
        rows = await session.execute(
            select(*keys.values(), func.max(model.label), func.max(model.kind), *sums).where(*where)
            .group_by(func.grouping_sets(*(tuple_(column) for column in keys.values()))))
        for *values, label, kind, a, n, q in rows:
            dim, key = next((d, v) for d, v in zip(keys, values, strict=True) if v is not None)
            out[dim].append((str(key), label or "", kind or "", Decimal(a or 0), int(n or 0), Decimal(q or 0)))
        return out
    blank = literal("", String)

    def by(dim: str, key: Any) -> Any:
        label, kind = (func.max(model.label), func.max(model.kind)) if dim == "article" else (blank, blank)
        return (select(literal(dim, String).label("dim"), cast(key, String).label("key"), label.label("label"),
                       kind.label("kind"), *sums).where(*where).group_by(key))

    for dim, key, label, kind, a, n, q in await session.execute(union_all(*(by(d, c) for d, c in keys.items()))):
        out[dim].append((key, label, kind, Decimal(a or 0), int(n or 0), Decimal(q or 0)))
    return out


async def _per_tenant(session: AsyncSession, agreements: list[uuid.UUID], f: Filters) -> list[Row]:
    """Each tenant's CA HT and lines over the period, from its monthly totals (walled by the agreements and the
    session's scope with row-level security)."""
    m = TenantMonthVolume
    rows = await session.execute(
        select(m.tenant_id, func.sum(m.amount_ht), func.sum(m.lines))
        .where(m.agreement_id.in_(agreements), m.month >= f.first, m.month <= f.last).group_by(m.tenant_id))
    return [(str(t), "", "", Decimal(a or 0), int(n or 0), Decimal(0)) for t, a, n in rows]


def _filters_of(model: Any, agreements: list[uuid.UUID], f: Filters) -> list[Any]:
    where = [model.agreement_id.in_(agreements), model.month >= f.first, model.month <= f.last]
    if f.family:
        where.append(model.family == f.family)
    return where


async def _fill(session: AsyncSession, board: Dashboard, agreements: list[uuid.UUID], ids: list[uuid.UUID]) -> None:
    f = board.filters
    volumes = _filters_of(OrderVolume, agreements, f)
    if f.beneficiary or f.region:
        groups = await _grouped(session, OrderVolume, [*volumes, OrderVolume.tenant_id.in_(ids)],
                                ("month", "tenant", "kind", "mode", "family", "article"))
    else:
        # Every beneficiary: the charts from the sums over the beneficiaries (a few hundred rows, walled by the
        # central's agreements), the per-beneficiary split from the tenants' rows (walled by the agreements and the
        # session's scope with row-level security; a list of 500 ids tested on each row as well would double it).
        groups = await _grouped(session, CentralVolume, _filters_of(CentralVolume, agreements, f),
                                ("month", "kind", "mode", "family", "article"))
        if f.family:  # the family's cells of each tenant
            groups.update(await _grouped(session, OrderVolume, volumes, ("tenant",)))
        else:  # one row per tenant and month (4,003 rows for 500 beneficiaries, against 24,006 cells)
            groups["tenant"] = await _per_tenant(session, agreements, f)
    groups["article"] = [g for g in groups["article"] if g[4]]  # an article whose lines were all cancelled
    per_month = {key[:7]: (a, n) for key, _l, _k, a, n, _q in groups["month"]}
    board.months = [Share(f"{m:%Y-%m}", f"{m:%Y-%m}", *_amount(per_month.get(f"{m:%Y-%m}"))) for m in f.months]
    quarters: dict[str, list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    years: dict[str, list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for share, month in zip(board.months, f.months, strict=True):
        for table, key in ((quarters, f"{month.year}-T{(month.month - 1) // 3 + 1}"), (years, str(month.year))):
            table[key][0] += share.amount
            table[key][1] += share.lines
    board.quarters = [Share(k, k, v[0], v[1]) for k, v in quarters.items()]
    board.years = [Share(k, k, v[0], v[1]) for k, v in years.items()]
    board.total = sum((s.amount for s in board.months), Decimal(0))
    board.lines = sum(s.lines for s in board.months)
    names = {b.tenant_id: b for b in board.selected}
    per_tenant = {uuid.UUID(key): (a, n) for key, _l, _k, a, n, _q in groups["tenant"]}
    board.per_beneficiary = sorted(
        (Share(str(t), names[t].name, *_amount(per_tenant.get(t)), detail=names[t].identifier) for t in ids),
        key=lambda s: (-s.amount, s.label))
    board.kinds = [Share(k, k, *_amount(v)) for k, v in _ordered(
        {key: (a, n) for key, _l, _k, a, n, _q in groups["kind"]}, ("BPU", "CATALOGUE"))]
    board.modes = [Share(k, MODES.get(k, k), *_amount(v)) for k, v in _ordered(
        {key: (a, n) for key, _l, _k, a, n, _q in groups["mode"]}, tuple(MODES))]
    board.families = sorted((Share(key, FAMILIES.get(key, key or "—"), a, n)
                             for key, _l, _k, a, n, _q in groups["family"]), key=lambda s: (-s.amount, s.key))
    board.articles = sorted((Share(key, label, a, n, q, detail=kind) for key, label, kind, a, n, q in groups["article"]),
                            key=lambda s: (-s.amount, s.key))


def _amount(pair: tuple[Any, Any] | None) -> tuple[Decimal, int]:
    return (Decimal(0), 0) if pair is None else (Decimal(pair[0] or 0), int(pair[1] or 0))


def _ordered(values: dict[str, Any], order: Sequence[str]) -> list[tuple[str, Any]]:
    """Every key of ``order`` (zero when absent, so that a split always shows both sides), then the others."""
    return [(k, values.get(k)) for k in order] + sorted((k, v) for k, v in values.items() if k not in order)


# --------------------------------------------------------------------------- the COPIL pack (CAIH 6.1)


def money(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('0.01')):,.2f}".replace(",", "\u202f").replace(".", ",")
    return f"{text} €"


def rate(value: Decimal | None) -> str:
    return "—" if value is None else f"{value} %".replace(".", ",")


def met(flag: bool | None) -> str:
    return "—" if flag is None else "oui" if flag else "non"


def percent_of(part: Decimal, whole: Decimal) -> str:
    return "—" if not whole else rate((part * 100 / whole).quantize(Decimal("0.1")))


SLA_COLUMNS = ("Périmètre", "Déclarés", "Clôturés", "Dans les temps", "Taux de respect du GTR", "Objectif",
               "Atteint", "Réouverts", "Taux de réouverture", "Maximum", "Atteint", "Temps moyen de rétablissement")


def restoration(m: Any) -> str:
    """CAIH 6.1 « le temps de rétablissement »: the mean of the tickets closed, in business time, and over how many."""
    if m.mean_restoration_seconds is None:
        return "—"
    return f"{incidents.duration_label(m.mean_restoration_seconds)} ({m.restored_timed} incident" \
           f"{'s' if m.restored_timed > 1 else ''})"


def sla_row(label: str, m: Any) -> tuple[str, ...]:
    return (label, str(m.declared), str(m.closed), str(m.closed_on_time), rate(m.on_time_rate),
            rate(m.targets.on_time_min), met(m.on_time_met), str(m.closed_reopened), rate(m.reopen_rate),
            rate(m.targets.reopen_max), met(m.reopen_met), restoration(m))


def copil_layout(board: Dashboard, *, central_name: str, central_code: str, generated_at: str) -> Layout:
    """CCTP CAIH 6.1 « Y seront à minima abordés […] Le Service Après-Vente, […] Les chiffres de vente, Le reporting
    sur les incidents gérés, le temps de rétablissement, et le taux de respect du GTR »: the support of the COPIL,
    one ``app.documents.Layout`` written as PDF and as ODT."""
    f = board.filters
    layout = Layout(f"Comité de pilotage — {central_name}", f"Période : {f.label} — CCTP CAIH 6.1")
    scope = ", ".join(x for x in (
        next((b.name for b in board.selected if b.tenant_id == f.beneficiary), "") if f.beneficiary else "",
        f.region, FAMILIES.get(f.family, "") if f.family else "") if x) or "tous les bénéficiaires des accords"
    layout.add("pairs", [("Centrale", f"{central_name} ({central_code})"), ("Période", f.label),
                         ("Périmètre", scope), ("Bénéficiaires", str(len(board.selected))),
                         ("Produit le", generated_at)])
    layout.add("heading", "1. Chiffres de vente")
    layout.add("paragraph", "CA HT commandé (lignes des bons de commande émis, ni brouillons ni annulés, après "
                            "remise complémentaire) ; le CA HT facturé suit la facturation.")
    layout.add("totals", [("CA HT de la période", money(board.total)), ("Lignes de commande", str(board.lines))])
    layout.table("Mois", ("Mois", "CA HT", "Lignes"), [(s.label, money(s.amount), str(s.lines)) for s in board.months],
                 (30, 40, 20))
    layout.table("Parts", ("Répartition", "Part", "CA HT", "Part du total"),
                 [(what, s.label, money(s.amount), percent_of(s.amount, board.total))
                  for what, shares in (("BPU ou catalogue", board.kinds), ("Achat ou location", board.modes),
                                       ("Famille", board.families)) for s in shares], (30, 40, 30, 20))
    layout.table("Beneficiaires", ("Bénéficiaire", "Identifiant", "CA HT", "Lignes"),
                 [(s.label, s.detail, money(s.amount), str(s.lines)) for s in board.per_beneficiary if s.lines][:50],
                 (60, 25, 25, 15))
    layout.table("Regions", ("Région", "Bénéficiaires", "CA HT"),
                 [(s.label, str(s.count), money(s.amount)) for s in board.regions], (50, 20, 30))
    layout.table("Articles", ("Code article", "Libellé", "BPU ou CATALOGUE", "Quantité", "CA HT"),
                 [(s.key, s.label, s.detail, f"{s.quantity.normalize():f}", money(s.amount))
                  for s in board.articles[:30]], (25, 60, 20, 15, 25))
    layout.add("heading", "2. Service après-vente et incidents gérés")
    sla = board.sla
    if sla is None:
        layout.add("paragraph", "Aucun bénéficiaire dans le périmètre : aucun incident.")
        return layout
    lot = sla.lot
    layout.add("paragraph", "Incidents des bénéficiaires du périmètre : un incident compte le mois de sa clôture "
                            "(résolution acceptée ou réputée acceptée) ; « dans les temps » : aucun délai "
                            "contractuel dépassé (GTI, GTR).")
    layout.add("totals", [("Incidents déclarés", str(lot.declared)), ("Incidents clôturés", str(lot.closed)),
                          ("Résolus à distance", str(lot.closed_remotely)), ("Réouverts", str(lot.closed_reopened)),
                          ("Sous garantie", str(lot.under_warranty)), ("Hors garantie", str(lot.out_of_warranty)),
                          ("Temps moyen de rétablissement", restoration(lot))])
    layout.table("Incidents par mois", ("Mois", "Déclarés", "Clôturés", "Dans les temps", "Taux de respect du GTR",
                                        "Temps moyen de rétablissement"),
                 [(m.month.label(), str(m.declared), str(m.closed), str(m.closed_on_time), rate(m.on_time_rate),
                   restoration(m)) for m in sla.months], (30, 18, 18, 18, 26, 34))
    layout.add("paragraph", "Temps de rétablissement : pour chaque incident clôturé, le temps décompté par l'horloge "
                            "de rétablissement (GTR) jusqu'à la remise en service, en heures ouvrées du calendrier "
                            "du contrat, suspensions exclues ; la moyenne porte sur les incidents clôturés de la "
                            "période dont la durée est connue.")
    layout.add("heading", "3. Taux de respect du GTR (CAIH 2.1.26, 2.1.27)")
    layout.table("GTR", SLA_COLUMNS, [sla_row("Lot — tous les bénéficiaires (CAIH 2.1.27)", lot),
                                      *(sla_row(name, m) for name, m in sla.establishments)],
                 (36, 11, 11, 12, 16, 11, 9, 11, 14, 11, 9, 24))
    return layout
