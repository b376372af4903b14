"""The services of ``catalog`` (issue 14 §1): importing a BPU version, the price in force on a date, the
catalog a beneficiary browses, the catalog solutions' lifecycle; the agreements and centrals the command
line creates. What other components (orders, reporting) call; plain async functions on an open session.

BPU and solutions belong to a framework agreement, not to a tenant: who may see an agreement is decided
here (``agreement_of_coordinator``: the central's coordinators; ``agreement_of_tenant``: its subscribers),
and an agreement out of reach is ``NotFound``, like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, case, cast, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import money
from app.db import utcnow
from app.errors import LinesRejected, NotFound, ValidationFailed
from app.imports import header_keys, read_table
from catalog import deadlines, rules
from catalog.models import (
    BpuItem,
    BpuVersion,
    CatalogSolution,
    Delivery,
    DeliveryLine,
    PurchaseOrder,
    PurchaseOrderLine,
    SolutionEvent,
)
from tenants.identifiers import InvalidIdentifier, communes_by_postal_code, get_commune
from tenants.models import Central, FrameworkAgreement, Subscription, Tenant

__all__ = [
    "INFOGERANCE_FAMILY",
    "MAX_IMPORT_LINES",
    "REPORT_BATCH",
    "AgreementBpu",
    "BpuImportFailed",
    "Beneficiary",
    "CatalogLine",
    "ReportedLine",
    "agreement_of_coordinator",
    "agreement_of_tenant",
    "agreements_of_central",
    "agreements_of_tenant",
    "approve_solution",
    "bpu_of_agreements",
    "BillableLine",
    "BillableOrder",
    "INVOICEABLE_STATUSES",
    "billable_order",
    "orders_to_invoice",
    "beneficiaries_of_central",
    "catalog_of_tenant",
    "count_reported_lines",
    "create_agreement",
    "get_agreement_by_reference",
    "import_bpu",
    "infogerance_units_ordered",
    "items_of_version",
    "makers_of_catalog",
    "OrderedVolume",
    "ordered_lines_of_central",
    "ordered_volume_of_tenant",
    "price_in_force",
    "propose_solution",
    "SolutionRow",
    "solution_histories",
    "solution_history",
    "solutions_of_catalog",
    "solution_of_agreement",
    "solutions_of_agreement",
    "ticket_balance",
    "version_in_force",
    "versions_of_agreement",
    "withdraw_solution",
    "ordered_total_ht",
]

MAX_IMPORT_LINES = 50_000
#: The BPU family of the 30-minute infogérance ticket (CCTP CAIH 2.1.7).
INFOGERANCE_FAMILY = "infogerance_ticket_30min"
#: The order statuses whose lines are not (or no longer) ordered: a draft is not notified, a cancelled one is void.
_NOT_ORDERED = ("draft", "cancelled")
_INSERT_BATCH = 5_000


class BpuImportFailed(LinesRejected):
    """Bad lines: nothing imported. ``errors``: line number → messages (0: the file as a whole)."""

    nothing = "aucun article importé"


# --------------------------------------------------------------------------- agreements


async def agreements_of_central(session: AsyncSession, central_id: uuid.UUID) -> list[FrameworkAgreement]:
    return list(await session.scalars(select(FrameworkAgreement).where(FrameworkAgreement.central_id == central_id)
                                      .order_by(FrameworkAgreement.reference)))


async def agreements_of_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> list[FrameworkAgreement]:
    """The agreements the beneficiary subscribes to."""
    return list(await session.scalars(
        select(FrameworkAgreement).join(Subscription, Subscription.agreement_id == FrameworkAgreement.id)
        .where(Subscription.tenant_id == tenant_id).order_by(FrameworkAgreement.reference)))


async def agreement_of_coordinator(session: AsyncSession, central_ids: Collection[uuid.UUID],
                                   agreement_id: uuid.UUID) -> FrameworkAgreement:
    """The agreement if it belongs to one of the caller's centrals; ``NotFound`` otherwise (another central's
    agreement looks like a missing one)."""
    agreement = await session.get(FrameworkAgreement, agreement_id)
    if agreement is None or agreement.central_id not in central_ids:
        raise NotFound("accord-cadre")
    return agreement


async def agreement_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, agreement_id: uuid.UUID) -> FrameworkAgreement:
    """The agreement if the beneficiary subscribes to it; ``NotFound`` otherwise."""
    return _found(await session.scalar(
        select(FrameworkAgreement).join(Subscription, Subscription.agreement_id == FrameworkAgreement.id)
        .where(Subscription.tenant_id == tenant_id, FrameworkAgreement.id == agreement_id)), "accord-cadre")


def _found(agreement: FrameworkAgreement | None, what: str) -> FrameworkAgreement:
    if agreement is None:
        raise NotFound(what)
    return agreement


async def get_agreement_by_reference(session: AsyncSession, reference: str) -> FrameworkAgreement:
    """The command line names an agreement by its reference (``2024_AOO_IOT``)."""
    return _found(await session.scalar(select(FrameworkAgreement).where(FrameworkAgreement.reference == reference.strip())),
                  f"accord-cadre {reference}")


async def create_agreement(session: AsyncSession, central: Central, *, reference: str, title: str,
                           starts_on: dt.date | None, ends_on: dt.date | None, lot: str = "",
                           titulaire: str = "") -> FrameworkAgreement:
    """A framework agreement of ``central``; ``ValidationFailed`` (French, per field) writes nothing."""
    errors: dict[str, str] = {}
    reference, title = reference.strip(), title.strip()
    if not reference or len(reference) > 64:
        errors["reference"] = "obligatoire, 64 caractères au plus"
    elif await session.scalar(select(FrameworkAgreement.id).where(FrameworkAgreement.reference == reference)):
        errors["reference"] = f"l'accord-cadre « {reference} » existe déjà"
    if not title or len(title) > 300:
        errors["title"] = "obligatoire, 300 caractères au plus"
    if starts_on and ends_on and ends_on < starts_on:
        errors["ends_on"] = "la fin précède le début"
    if errors:
        raise ValidationFailed(errors)
    agreement = FrameworkAgreement(central_id=central.id, reference=reference, title=title, lot=lot[:100],
                                   titulaire=titulaire[:200], starts_on=starts_on, ends_on=ends_on)
    session.add(agreement)
    await session.flush()
    return agreement


# --------------------------------------------------------------------------- BPU versions


def _check_lines(header: list[str], rows: Sequence[tuple[int, list[Any]]]) -> list[rules.BpuLine]:
    """Every line checked, every bad one reported (``BpuImportFailed``), or all lines good."""
    keys = header_keys(header)
    unknown = [h for h, k in zip(header, keys, strict=True) if k and k not in rules.COLUMNS]
    missing = [c for c in rules.REQUIRED_COLUMNS if c not in keys]
    if unknown or missing:
        raise BpuImportFailed({1: [m for m in (
            f"Colonne(s) inconnue(s) : {', '.join(unknown)}." if unknown else "",
            f"Colonne(s) obligatoire(s) absente(s) : {', '.join(missing)}." if missing else "",
            f"Colonnes admises : {', '.join(rules.COLUMNS)}.") if m]})
    if len(rows) > MAX_IMPORT_LINES:
        raise BpuImportFailed({0: [f"Plus de {MAX_IMPORT_LINES} lignes : découpez le fichier."]})
    if not rows:
        raise BpuImportFailed({0: ["Le fichier ne contient aucun article."]})
    errors: dict[int, list[str]] = {}
    seen: dict[str, int] = {}
    lines: list[rules.BpuLine] = []
    for number, values in rows:
        if len(values) > len(keys):
            errors[number] = [f"{len(values)} valeurs pour {len(keys)} colonnes."]
            continue
        line, problems = rules.parse_bpu_line(dict(zip(keys, values, strict=False)))
        if line is not None and line.article_code in seen:
            problems = [f"code_article : « {line.article_code} » figure déjà ligne {seen[line.article_code]}"]
        if problems:
            errors[number] = problems
            continue
        assert line is not None
        seen[line.article_code] = number
        lines.append(line)
    if errors:
        raise BpuImportFailed(errors)
    return lines


async def import_bpu(session: AsyncSession, agreement: FrameworkAgreement, content: bytes | str, filename: str = "",
                     *, valid_from: dt.date, imported_by: str = "") -> BpuVersion:
    """A new version of the agreement's BPU, in force from ``valid_from``: the file (CSV ``;`` or ``,``, or
    XLSX, columns ``rules.COLUMNS``) is checked line by line and imported whole or not at all; any bad line
    raises ``BpuImportFailed`` with every bad line's messages and nothing is written."""
    header, rows = read_table(content, filename, error=BpuImportFailed, max_rows=MAX_IMPORT_LINES + 1)
    lines = _check_lines(header, rows)
    number = (await session.scalar(select(func.max(BpuVersion.version))
                                   .where(BpuVersion.agreement_id == agreement.id)) or 0) + 1
    version = BpuVersion(agreement_id=agreement.id, version=number, valid_from=valid_from, imported_at=utcnow(),
                         imported_by=imported_by[:320], source_filename=filename[:255], line_count=len(lines))
    session.add(version)
    await session.flush()
    # The items in batches of Core inserts: a version's 20,000 articles in a few round trips (the
    # version's row is audited, its items are append-only, ``catalog.models.BpuItem``).
    values = [{"id": uuid.uuid4(), "version_id": version.id, "article_code": x.article_code, "label": x.label,
               "unit": x.unit, "unit_price_ht": x.unit_price_ht, "vat_rate": x.vat_rate, "family": x.family,
               "complexity": x.complexity, "maker": x.maker, "purchase_or_rental": x.purchase_or_rental} for x in lines]
    for start in range(0, len(values), _INSERT_BATCH):
        await session.execute(insert(BpuItem), values[start:start + _INSERT_BATCH])
    return version


async def versions_of_agreement(session: AsyncSession, agreement_id: uuid.UUID) -> list[BpuVersion]:
    """Newest first."""
    return list(await session.scalars(select(BpuVersion).where(BpuVersion.agreement_id == agreement_id)
                                      .order_by(BpuVersion.version.desc())))


async def _versions_in_force(session: AsyncSession, agreement_ids: Collection[uuid.UUID],
                             on: dt.date) -> dict[uuid.UUID, BpuVersion]:
    """Per agreement, the version in force on ``on``: the latest ``valid_from`` not after it (of two on the
    same day, the later import)."""
    if not agreement_ids:
        return {}
    rows = await session.scalars(select(BpuVersion).where(BpuVersion.agreement_id.in_(list(agreement_ids)),
                                                          BpuVersion.valid_from <= on)
                                 .order_by(BpuVersion.valid_from.desc(), BpuVersion.version.desc()))
    found: dict[uuid.UUID, BpuVersion] = {}
    for version in rows:
        found.setdefault(version.agreement_id, version)
    return found


async def version_in_force(session: AsyncSession, agreement_id: uuid.UUID, on: dt.date) -> BpuVersion | None:
    return (await _versions_in_force(session, [agreement_id], on)).get(agreement_id)


async def items_of_version(session: AsyncSession, version_id: uuid.UUID) -> list[BpuItem]:
    return list(await session.scalars(select(BpuItem).where(BpuItem.version_id == version_id)
                                      .order_by(BpuItem.article_code)))


async def price_in_force(session: AsyncSession, agreement_id: uuid.UUID, article_code: str,
                         on_date: dt.date) -> BpuItem | None:
    """The article as priced by the version in force on ``on_date`` (an order line keeps the price of its
    order date); ``None`` when no version is in force then or it has no such article."""
    version = await version_in_force(session, agreement_id, on_date)
    if version is None:
        return None
    return await session.scalar(select(BpuItem).where(BpuItem.version_id == version.id,
                                                      BpuItem.article_code == article_code))


# --------------------------------------------------------------------------- the beneficiary's catalog


@dataclass(frozen=True)
class CatalogLine:
    """An article of the catalog with its price in force and the agreement and version it comes from."""

    item: BpuItem
    agreement_id: uuid.UUID
    agreement_reference: str
    version: int
    valid_from: dt.date

    @property
    def unit_price_ttc(self) -> Decimal:
        return money.price_ttc(self.item.unit_price_ht, self.item.vat_rate)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def _catalog_query(session: AsyncSession, tenant_id: uuid.UUID, on: dt.date) -> Any:
    agreements = await agreements_of_tenant(session, tenant_id)
    in_force = await _versions_in_force(session, [a.id for a in agreements], on)
    return (select(BpuItem, BpuVersion, FrameworkAgreement)
            .join(BpuVersion, BpuVersion.id == BpuItem.version_id)
            .join(FrameworkAgreement, FrameworkAgreement.id == BpuVersion.agreement_id)
            .where(BpuItem.version_id.in_([v.id for v in in_force.values()])))


async def catalog_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, on: dt.date, *, search: str = "",
                            family: str = "", maker: str = "", page: int = 1,
                            per_page: int = 50) -> tuple[list[CatalogLine], int]:
    """One page of the articles in force on ``on`` of the agreements the beneficiary subscribes to, by code,
    and how many match. ``search``: in the code, the label or the maker, regardless of case."""
    query = await _catalog_query(session, tenant_id, on)
    if search.strip():
        pattern = _like(search.strip().lower())
        query = query.where(func.lower(BpuItem.article_code).like(pattern, escape="\\")
                            | func.lower(BpuItem.label).like(pattern, escape="\\")
                            | func.lower(BpuItem.maker).like(pattern, escape="\\"))
    if family:
        query = query.where(BpuItem.family == family)
    if maker:
        query = query.where(BpuItem.maker == maker)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(query.order_by(BpuItem.article_code, FrameworkAgreement.reference)
                                 .limit(per_page).offset((max(page, 1) - 1) * per_page))
    return [CatalogLine(item=i, agreement_id=a.id, agreement_reference=a.reference, version=v.version,
                        valid_from=v.valid_from) for i, v, a in rows], total


async def makers_of_catalog(session: AsyncSession, tenant_id: uuid.UUID, on: dt.date) -> list[str]:
    """The makers of the beneficiary's catalog (the maker filter's choices)."""
    query = (await _catalog_query(session, tenant_id, on)).where(BpuItem.maker != "")
    return sorted({i.maker for i, _v, _a in await session.execute(query)})


# --------------------------------------------------------------------------- catalog solutions


def _record(session: AsyncSession, solution: CatalogSolution, before: str, actor: str, note: str = "") -> None:
    session.add(SolutionEvent(solution_id=solution.id, from_status=before, to_status=solution.status,
                              actor=actor[:320], note=note))


async def propose_solution(session: AsyncSession, agreement: FrameworkAgreement, data: Mapping[str, Any],
                           *, actor: str = "") -> CatalogSolution:
    """A solution the titulaire proposes for the catalog (CCTP CANUT 5.1.2 « le catalogue pourra évoluer
    sur la proposition du Titulaire »); ``ValidationFailed`` writes nothing."""
    errors: dict[str, str] = {}
    code, name = str(data.get("code") or "").strip(), str(data.get("name") or "").strip()
    if not code or len(code) > 64:
        errors["code"] = "obligatoire, 64 caractères au plus"
    elif await session.scalar(select(CatalogSolution.id).where(CatalogSolution.agreement_id == agreement.id,
                                                               CatalogSolution.code == code)):
        errors["code"] = f"la solution « {code} » existe déjà dans cet accord-cadre"
    if not name or len(name) > 200:
        errors["name"] = "obligatoire, 200 caractères au plus"
    price = rules.parse_decimal(data.get("price_ht"))
    if price is None or price < 0:
        errors["price_ht"] = "prix HT attendu (nombre positif)"
    characteristics, problems = rules.parse_characteristics(data.get("characteristics") or [])
    if problems:
        errors["characteristics"] = " ; ".join(problems)
    if errors:
        raise ValidationFailed(errors)
    solution = CatalogSolution(agreement_id=agreement.id, code=code, name=name,
                               maker=str(data.get("maker") or "").strip()[:100],
                               article_code=str(data.get("article_code") or "").strip()[:64], price_ht=price,
                               characteristics=characteristics, status="proposed")
    session.add(solution)
    await session.flush()
    _record(session, solution, "", actor)
    await session.flush()
    return solution


async def _solution(session: AsyncSession, agreement: FrameworkAgreement, solution_id: uuid.UUID) -> CatalogSolution:
    solution = await session.get(CatalogSolution, solution_id)
    if solution is None or solution.agreement_id != agreement.id:
        raise NotFound("solution du catalogue")
    return solution


async def solution_of_agreement(session: AsyncSession, agreement: FrameworkAgreement,
                                solution_id: uuid.UUID) -> CatalogSolution:
    """The solution if it belongs to the agreement (already reached by the caller); ``NotFound`` otherwise."""
    return await _solution(session, agreement, solution_id)


async def approve_solution(session: AsyncSession, agreement: FrameworkAgreement, solution_id: uuid.UUID,
                           *, actor: str = "") -> CatalogSolution:
    """The coordinator's approval: the solution enters the catalog."""
    solution = await _solution(session, agreement, solution_id)
    if solution.status != "proposed":
        raise ValidationFailed({"status": "seule une solution proposée peut être approuvée"})
    solution.status = "approved"
    _record(session, solution, "proposed", actor)
    await session.flush()
    return solution


async def withdraw_solution(session: AsyncSession, agreement: FrameworkAgreement, solution_id: uuid.UUID, *,
                            notice_on: dt.date, effective_on: dt.date, today: dt.date,
                            substitute_id: uuid.UUID | None = None, actor: str = "") -> CatalogSolution:
    """The withdrawal of an approved solution, effective no earlier than 6 weeks after its notice (CCTP
    CPAM 8-1-2-2), with a substitute that must cost no more and declare characteristics at least as good
    (CPAM 8-1-3-1); a substitute still proposed is approved with it."""
    solution = await _solution(session, agreement, solution_id)
    if solution.status != "approved":
        raise ValidationFailed({"status": "seule une solution approuvée peut être retirée"})
    errors: dict[str, str] = {}
    problems = rules.withdrawal_problems(notice_on, effective_on, today)
    if problems:
        errors["effective_on"] = " ; ".join(problems)
    substitute = None
    if substitute_id is not None:
        substitute = await session.get(CatalogSolution, substitute_id)
        if substitute is None or substitute.agreement_id != agreement.id or substitute.id == solution.id \
                or substitute.status == "withdrawn":
            errors["substitute_id"] = "solution de substitution inconnue dans cet accord-cadre"
        else:
            refused = rules.substitution_problems(solution.price_ht, solution.characteristics,
                                                  substitute.price_ht, substitute.characteristics)
            if refused:
                errors["substitute_id"] = " ; ".join(refused)
    if errors:
        raise ValidationFailed(errors)
    solution.status = "withdrawn"
    solution.withdrawal_notice_on, solution.withdrawal_effective_on = notice_on, effective_on
    note = f"retrait effectif le {effective_on:%d/%m/%Y} (information du {notice_on:%d/%m/%Y})"
    if substitute is not None:
        solution.substitute_id = substitute.id
        note += f", remplacée par {substitute.code}"
        if substitute.status == "proposed":
            substitute.status = "approved"
            _record(session, substitute, "proposed", actor, f"substitution de {solution.code}")
    _record(session, solution, "approved", actor, note)
    await session.flush()
    return solution


async def solutions_of_agreement(session: AsyncSession, agreement_id: uuid.UUID) -> list[CatalogSolution]:
    return list(await session.scalars(select(CatalogSolution).where(CatalogSolution.agreement_id == agreement_id)
                                      .order_by(CatalogSolution.code)))


async def solution_history(session: AsyncSession, solution_id: uuid.UUID) -> list[SolutionEvent]:
    return (await solution_histories(session, [solution_id])).get(solution_id, [])


async def solution_histories(session: AsyncSession,
                             solution_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[SolutionEvent]]:
    """The histories of many solutions in one query (a page that lists them), oldest event first."""
    found: dict[uuid.UUID, list[SolutionEvent]] = {}
    if solution_ids:
        for event in await session.scalars(select(SolutionEvent)
                                           .where(SolutionEvent.solution_id.in_(list(solution_ids)))
                                           .order_by(SolutionEvent.at, SolutionEvent.id)):
            found.setdefault(event.solution_id, []).append(event)
    return found


@dataclass(frozen=True)
class AgreementBpu:
    """What « Accords et BPU » shows of an agreement: its BPU versions (newest first), the one in force, its catalog
    solutions (by code) each with its history (CCTP CANUT 5.1.2, CPAM 8-1-2-2)."""

    versions: list[BpuVersion]
    in_force: BpuVersion | None
    solutions: list[tuple[CatalogSolution, list[SolutionEvent]]]


async def bpu_of_agreements(session: AsyncSession, agreement_ids: Collection[uuid.UUID],
                            on: dt.date) -> dict[uuid.UUID, AgreementBpu]:
    """Per agreement, its ``AgreementBpu`` on ``on``: four queries whatever the number of agreements and
    solutions (the page that lists them)."""
    ids = list(agreement_ids)
    versions: dict[uuid.UUID, list[BpuVersion]] = {x: [] for x in ids}
    solutions: dict[uuid.UUID, list[CatalogSolution]] = {x: [] for x in ids}
    if ids:
        for version in await session.scalars(select(BpuVersion).where(BpuVersion.agreement_id.in_(ids))
                                             .order_by(BpuVersion.version.desc())):
            versions[version.agreement_id].append(version)
        for solution in await session.scalars(select(CatalogSolution).where(CatalogSolution.agreement_id.in_(ids))
                                              .order_by(CatalogSolution.code)):
            solutions[solution.agreement_id].append(solution)
    in_force = await _versions_in_force(session, ids, on)
    histories = await solution_histories(session, [x.id for found in solutions.values() for x in found])
    return {x: AgreementBpu(versions[x], in_force.get(x), [(s, histories.get(s.id, [])) for s in solutions[x]])
            for x in ids}


@dataclass(frozen=True)
class SolutionRow:
    """A solution shown in a beneficiary's catalog, with the BPU article that prices it as in force that day."""

    solution: CatalogSolution
    agreement_reference: str
    article: BpuItem | None
    substitute: CatalogSolution | None


async def solutions_of_catalog(session: AsyncSession, tenant_id: uuid.UUID, on: dt.date, *, search: str = "",
                               family: str = "", maker: str = "") -> list[SolutionRow]:
    """The approved and withdrawn solutions of the agreements the beneficiary subscribes to (a proposed one
    is not in the catalog yet), filtered like the BPU lines (code, name or maker; the family of the article
    that prices it; maker). Four queries whatever the number of solutions: agreements, solutions, versions
    in force, and the articles that price them."""
    agreements = {a.id: a for a in await agreements_of_tenant(session, tenant_id)}
    if not agreements:
        return []
    solutions = list(await session.scalars(select(CatalogSolution)
                                           .where(CatalogSolution.agreement_id.in_(list(agreements)))
                                           .order_by(CatalogSolution.code)))
    by_id = {s.id: s for s in solutions}
    versions = await _versions_in_force(session, agreements, on)
    codes = {s.article_code for s in solutions if s.article_code and s.agreement_id in versions}
    articles: dict[tuple[uuid.UUID, str], BpuItem] = {}
    if codes:
        for item in await session.scalars(select(BpuItem).where(
                BpuItem.version_id.in_([v.id for v in versions.values()]), BpuItem.article_code.in_(codes))):
            articles[(item.version_id, item.article_code)] = item
    needle = search.strip().casefold()
    rows = []
    for agreement_id, agreement in agreements.items():
        version = versions.get(agreement_id)
        for s in solutions:
            if s.agreement_id != agreement_id or s.status == "proposed" or (maker and s.maker != maker):
                continue
            if needle and not any(needle in text.casefold() for text in (s.code, s.name, s.maker)):
                continue
            article = articles.get((version.id, s.article_code)) if version and s.article_code else None
            if family and (article is None or article.family != family):
                continue
            rows.append(SolutionRow(solution=s, agreement_reference=agreement.reference, article=article,
                                    substitute=by_id.get(s.substitute_id) if s.substitute_id else None))
    return rows


# --------------------------------------------------------------------------- infogérance tickets (CAIH 2.1.7)


async def infogerance_units_ordered(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """CCTP CAIH 2.1.7 « prestations génériques sur la base de tickets horaire de 30mn »: the units the tenant
    ordered, i.e. the quantities of the lines of the BPU's infogérance-ticket family on its orders that are
    notified and not cancelled (a draft orders nothing yet). A unit is indivisible: a fractional quantity
    counts its whole units only."""
    total = await session.scalar(
        select(func.coalesce(func.sum(PurchaseOrderLine.quantity), 0))
        .join(PurchaseOrder, (PurchaseOrder.tenant_id == PurchaseOrderLine.tenant_id)
              & (PurchaseOrder.id == PurchaseOrderLine.order_id))
        .where(PurchaseOrderLine.tenant_id == tenant_id, PurchaseOrder.tenant_id == tenant_id,
               PurchaseOrderLine.family == INFOGERANCE_FAMILY, PurchaseOrder.status.not_in(_NOT_ORDERED)))
    return int(Decimal(total or 0))


async def ticket_balance(session: AsyncSession, tenant_id: uuid.UUID,
                         consumptions: Sequence[dt.timedelta]) -> deadlines.TicketBalance:
    """The tenant's balance of 30-minute tickets (CCTP CAIH 2.1.7 « Tout ticket entamé est réputé entièrement
    consommé »): the units ordered come from its orders (here), the consumptions are the durations the caller
    (``incidents``, which records the interventions) passes in, each rounded up to whole units on its own."""
    return deadlines.ticket_balance(await infogerance_units_ordered(session, tenant_id), consumptions)


# --------------------------------------------------------------------------- the coordinator's semester report (CAIH 5)

#: Rows fetched per round trip when the order lines are streamed (a server-side cursor on PostgreSQL).
REPORT_BATCH = 2_000


@dataclass(frozen=True, slots=True)
class Beneficiary:
    """A beneficiary as the semester report names it: FINESS (CAIH) or SIRET (CANUT 7 « identifié par son numéro
    SIRET »), name, place, region (the tenant's, else the INSEE commune's or the postal code's)."""

    tenant_id: uuid.UUID
    finess: str
    siret: str
    name: str
    postal_code: str
    city: str
    region: str

    @property
    def identifier(self) -> str:
        """The FINESS when the beneficiary has one (CAIH 5 « Finess juridique de l'établissement »), else its SIRET."""
        return self.finess or self.siret


@dataclass(frozen=True, slots=True)
class ReportedLine:
    """One ordered line with CCTP CAIH 5's columns of the « source » sheet and what the aggregates need.

    ``ordered_ht`` is the line's total HT after its extra discount: CAIH 5 asks for « CA HT facturés », and until
    invoices exist (``billing``) the amount ordered is what the platform knows; the report says so.
    ``kind`` is « CATALOGUE » when the article prices a catalog solution of the agreement (approved or withdrawn:
    CANUT 5.1.2, ``CatalogSolution.article_code``), « BPU » otherwise."""

    beneficiary: Beneficiary
    order_date: dt.date
    order_number: str
    agreement_reference: str
    article_code: str
    label: str
    maker: str
    unit_price_ht: Decimal
    quantity: Decimal
    ordered_ht: Decimal
    kind: str
    discount_percent: Decimal | None
    family: str
    purchase_or_rental: str


def _region_of(tenant: Any) -> str:
    """The region the tenant records, else the one of its INSEE commune, else of its postal code's first commune."""
    if tenant.region:
        return tenant.region
    try:
        if tenant.insee_code:
            return get_commune(tenant.insee_code).region_name
    except InvalidIdentifier:
        pass
    communes = communes_by_postal_code(tenant.postal_code)
    return communes[0].region_name if communes else ""


async def _report_agreements(session: AsyncSession, central_id: uuid.UUID,
                             agreement_id: uuid.UUID | None) -> list[FrameworkAgreement]:
    agreements = await agreements_of_central(session, central_id)
    if agreement_id is not None:
        agreements = [a for a in agreements if a.id == agreement_id]
        if not agreements:
            raise NotFound("accord-cadre")
    return agreements


async def beneficiaries_of_central(session: AsyncSession, central_id: uuid.UUID, *,
                                   agreement_id: uuid.UUID | None = None) -> list[Beneficiary]:
    """The beneficiaries subscribed to the central's agreements (or to one of them), by name: CAIH 5 « la
    répartition régionale des adhérents » counts them whether or not they ordered. Another central's agreement is
    ``NotFound``."""
    agreements = await _report_agreements(session, central_id, agreement_id)
    # The columns only, not the tenants as ORM objects: 500 of them took 20 ms of a dashboard's request.
    tenants = await session.execute(
        select(Tenant.id, Tenant.finess, Tenant.siret, Tenant.name, Tenant.postal_code, Tenant.city, Tenant.region,
               Tenant.insee_code).join(Subscription, Subscription.tenant_id == Tenant.id)
        .where(Subscription.agreement_id.in_([a.id for a in agreements])).distinct().order_by(Tenant.name, Tenant.id))
    return [Beneficiary(tenant_id=t.id, finess=t.finess or "", siret=t.siret or "", name=t.name,
                        postal_code=t.postal_code, city=t.city, region=_region_of(t)) for t in tenants]


def _reported_query(agreement_ids: list[uuid.UUID], tenant_ids: list[uuid.UUID], since: dt.date | None,
                    up_to: dt.date) -> Any:
    """The ordered lines (not drafts, not cancelled: ``_NOT_ORDERED``) of the agreements' orders dated from
    ``since`` (``None``: the first) to ``up_to``, in the beneficiaries ``tenant_ids`` (the coordinator's scope,
    explicit; the session's tenant filter and row-level security apply as well)."""
    query = (select(PurchaseOrderLine.tenant_id, PurchaseOrder.order_date, PurchaseOrder.number,
                    PurchaseOrder.agreement_id, PurchaseOrder.agreement_reference, PurchaseOrderLine.article_code,
                    PurchaseOrderLine.label, PurchaseOrderLine.unit_price_ht, PurchaseOrderLine.quantity,
                    PurchaseOrderLine.total_ht, PurchaseOrderLine.discount_percent, PurchaseOrderLine.family,
                    BpuItem.maker, BpuItem.purchase_or_rental)
             .join(PurchaseOrder, (PurchaseOrder.tenant_id == PurchaseOrderLine.tenant_id)
                   & (PurchaseOrder.id == PurchaseOrderLine.order_id))
             .outerjoin(BpuItem, (BpuItem.version_id == PurchaseOrderLine.bpu_version_id)
                        & (BpuItem.article_code == PurchaseOrderLine.article_code))
             .where(PurchaseOrder.agreement_id.in_(agreement_ids), PurchaseOrder.tenant_id.in_(tenant_ids),
                    PurchaseOrderLine.tenant_id.in_(tenant_ids), PurchaseOrder.status.not_in(_NOT_ORDERED),
                    PurchaseOrder.order_date <= up_to))
    if since is not None:
        query = query.where(PurchaseOrder.order_date >= since)
    return query


async def count_reported_lines(session: AsyncSession, central_id: uuid.UUID, *, up_to: dt.date,
                               since: dt.date | None = None, agreement_id: uuid.UUID | None = None) -> int:
    """How many lines ``ordered_lines_of_central`` yields (the progress of a report's generation)."""
    agreements = await _report_agreements(session, central_id, agreement_id)
    beneficiaries = await beneficiaries_of_central(session, central_id, agreement_id=agreement_id)
    if not agreements or not beneficiaries:
        return 0
    query = _reported_query([a.id for a in agreements], [b.tenant_id for b in beneficiaries], since, up_to)
    return await session.scalar(select(func.count()).select_from(query.subquery())) or 0


async def ordered_lines_of_central(session: AsyncSession, central_id: uuid.UUID, *, up_to: dt.date,
                                   since: dt.date | None = None, agreement_id: uuid.UUID | None = None,
                                   batch: int = REPORT_BATCH) -> AsyncIterator[ReportedLine]:
    """CCTP CAIH 5 « Un onglet « source » contiendra la totalité des lignes de commandes passées depuis le début du
    marché »: every ordered line of the central's agreements (or of ``agreement_id``, ``NotFound`` if it is
    another central's) dated up to ``up_to``, by order date, beneficiary, order and position.

    Streamed: ``batch`` rows per round trip through a server-side cursor (``yield_per``), so a million lines never
    sit in memory. The session must be scoped to the central's beneficiaries (``CentralContext``, or
    ``db.transaction(tenant_ids)`` in a job): only their orders are read, twice walled (here and by the session)."""
    agreements = await _report_agreements(session, central_id, agreement_id)
    beneficiaries = {b.tenant_id: b for b in await beneficiaries_of_central(session, central_id,
                                                                            agreement_id=agreement_id)}
    if not agreements or not beneficiaries:
        return
    agreement_ids = [a.id for a in agreements]
    catalogue = {(agreement, code) for agreement, code in await session.execute(
        select(CatalogSolution.agreement_id, CatalogSolution.article_code)
        .where(CatalogSolution.agreement_id.in_(agreement_ids), CatalogSolution.article_code != "",
               CatalogSolution.status != "proposed"))}
    query = (_reported_query(agreement_ids, list(beneficiaries), since, up_to)
             .order_by(PurchaseOrder.order_date, PurchaseOrderLine.tenant_id, PurchaseOrder.number,
                       PurchaseOrderLine.position)
             .execution_options(yield_per=batch))
    result = await session.stream(query)
    async for rows in result.partitions():
        for (tenant_id, order_date, number, agreement, reference, code, label, price, quantity, total_ht, discount,
             family, maker, mode) in rows:
            yield ReportedLine(
                beneficiary=beneficiaries[tenant_id], order_date=order_date, order_number=number,
                agreement_reference=reference, article_code=code, label=label, maker=maker or "",
                unit_price_ht=price, quantity=quantity, ordered_ht=total_ht,
                kind="CATALOGUE" if (agreement, code) in catalogue else "BPU", discount_percent=discount,
                family=family, purchase_or_rental=mode or "achat")


@dataclass(frozen=True, slots=True)
class OrderedVolume:
    """The ordered lines of one tenant, one agreement, one month, family, kind (« BPU » / « CATALOGUE »), purchase
    or rental and article, summed: what the coordinator's dashboard keeps (``reporting.dashboard``)."""

    agreement_id: uuid.UUID
    month: dt.date
    family: str
    kind: str
    purchase_or_rental: str
    article_code: str
    label: str
    quantity: Decimal
    amount_ht: Decimal
    lines: int


async def ordered_volume_of_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> list[OrderedVolume]:
    """The tenant's ordered lines (as ``ordered_lines_of_central`` reads them: not drafts, not cancelled; « CATALOGUE »
    when the article prices an approved or withdrawn catalog solution of the agreement) grouped in SQL by agreement,
    month of the order date, family, kind, purchase or rental and article: a few hundred rows for thousands of
    lines, never the lines themselves (CCTP CAIH 5's figures for the dashboard)."""
    month = cast(func.date_trunc("month", PurchaseOrder.order_date), Date) \
        if session.bind.dialect.name == "postgresql" \
        else func.date(PurchaseOrder.order_date, "start of month")
    catalogue = (select(CatalogSolution.id)
                 .where(CatalogSolution.agreement_id == PurchaseOrder.agreement_id,
                        CatalogSolution.article_code == PurchaseOrderLine.article_code,
                        CatalogSolution.article_code != "", CatalogSolution.status != "proposed")
                 .exists())
    kind = case((catalogue, "CATALOGUE"), else_="BPU")
    mode = func.coalesce(BpuItem.purchase_or_rental, "achat")
    query = (select(PurchaseOrder.agreement_id, month.label("month"), PurchaseOrderLine.family, kind.label("kind"),
                    mode.label("mode"), PurchaseOrderLine.article_code, func.max(PurchaseOrderLine.label),
                    func.sum(PurchaseOrderLine.quantity), func.sum(PurchaseOrderLine.total_ht), func.count())
             .join(PurchaseOrder, (PurchaseOrder.tenant_id == PurchaseOrderLine.tenant_id)
                   & (PurchaseOrder.id == PurchaseOrderLine.order_id))
             .outerjoin(BpuItem, (BpuItem.version_id == PurchaseOrderLine.bpu_version_id)
                        & (BpuItem.article_code == PurchaseOrderLine.article_code))
             .where(PurchaseOrder.tenant_id == tenant_id, PurchaseOrderLine.tenant_id == tenant_id,
                    PurchaseOrder.status.not_in(_NOT_ORDERED))
             .group_by(PurchaseOrder.agreement_id, month, PurchaseOrderLine.family, kind, mode,
                       PurchaseOrderLine.article_code))
    rows = await session.execute(query)
    return [OrderedVolume(agreement_id=agreement, month=_day(first), family=family or "", kind=k,
                          purchase_or_rental=m, article_code=code, label=label or "", quantity=Decimal(quantity),
                          amount_ht=Decimal(amount), lines=lines)
            for agreement, first, family, k, m, code, label, quantity, amount, lines in rows]


def _day(value: Any) -> dt.date:
    """A month's first day as the database returns it (a timestamp on PostgreSQL, a text on SQLite)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# --------------------------------------------------------------------------- what billing invoices (issue 15 §3)

#: The order statuses an invoice is drafted from: every quantity received (CCP TGD VII.3), closed or not.
INVOICEABLE_STATUSES = ("verified", "closed")


@dataclass(frozen=True)
class BillableLine:
    """One order line as an invoice sees it: what was ordered and what the buyer's decisions accepted (CCP TGD
    VII.3: « la réception, l'ajournement, la réception avec réfaction ou le rejet »), with the order line's price
    elements and the sum of the réfactions decided on it (HT)."""

    position: int
    article_code: str
    label: str
    unit: str
    ordered: Decimal
    accepted: Decimal
    unit_price_ht: Decimal
    discount_percent: Decimal | None
    vat_rate: Decimal
    refaction_ht: Decimal
    #: The BPU family of the line's article (``catalog.rules.FAMILIES``): billing invoices the continuous
    #: services quarterly (CCP TGD IX.4).
    family: str = ""


@dataclass(frozen=True)
class BillableOrder:
    """A purchase order with its lines for invoicing; ``verified_on`` is the day of the last decision on its slips
    (the end of execution of CCP TGD IX.7), None when none was taken."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    number: str
    status: str
    agreement_id: uuid.UUID
    agreement_reference: str
    order_date: dt.date
    total_ht: Decimal
    verified_on: dt.date | None
    lines: tuple[BillableLine, ...]
    #: The day the order was issued to the titulaire (the start of its continuous services), None as a draft.
    issued_on: dt.date | None = None

    @property
    def invoiceable(self) -> bool:
        return self.status in INVOICEABLE_STATUSES


async def billable_order(session: AsyncSession, tenant_id: uuid.UUID, order_id: uuid.UUID) -> BillableOrder:
    """The tenant's order with, per line, the quantities ordered and accepted on its decided slips and the
    réfactions decided; ``NotFound`` for another tenant's order (billing reads orders only through here)."""
    order = await session.scalar(select(PurchaseOrder).where(PurchaseOrder.tenant_id == tenant_id,
                                                             PurchaseOrder.id == order_id))
    if order is None:
        raise NotFound("bon de commande")
    lines = list(await session.scalars(select(PurchaseOrderLine).where(
        PurchaseOrderLine.tenant_id == tenant_id, PurchaseOrderLine.order_id == order.id)
        .order_by(PurchaseOrderLine.position)))
    rows = (await session.execute(
        select(DeliveryLine.position, func.coalesce(func.sum(DeliveryLine.accepted), 0),
               func.coalesce(func.sum(DeliveryLine.refaction_amount), 0))
        .join(Delivery, (Delivery.tenant_id == DeliveryLine.tenant_id) & (Delivery.id == DeliveryLine.delivery_id))
        .where(Delivery.tenant_id == tenant_id, Delivery.order_id == order.id, Delivery.decided_at.is_not(None))
        .group_by(DeliveryLine.position))).all()
    decided = {int(p): (Decimal(a), Decimal(r)) for p, a, r in rows}
    verified_on = await session.scalar(select(func.max(Delivery.decided_on)).where(
        Delivery.tenant_id == tenant_id, Delivery.order_id == order.id, Delivery.decided_at.is_not(None)))
    zero = (Decimal("0.000"), Decimal("0.00"))
    return BillableOrder(
        id=order.id, tenant_id=tenant_id, number=order.number, status=order.status, agreement_id=order.agreement_id,
        agreement_reference=order.agreement_reference, order_date=order.order_date, total_ht=order.total_ht,
        verified_on=verified_on, issued_on=order.issued_at.date() if order.issued_at else None,
        lines=tuple(BillableLine(
            position=x.position, article_code=x.article_code, label=x.label, unit=x.unit, ordered=x.quantity,
            accepted=decided.get(x.position, zero)[0].quantize(Decimal("0.001")), unit_price_ht=x.unit_price_ht,
            discount_percent=x.discount_percent, vat_rate=x.vat_rate,
            refaction_ht=decided.get(x.position, zero)[1].quantize(Decimal("0.01")), family=x.family or "")
            for x in lines))


async def orders_to_invoice(session: AsyncSession, tenant_ids: Collection[uuid.UUID], limit: int = 200, *,
                            statuses: Collection[str] = INVOICEABLE_STATUSES
                            ) -> list[tuple[uuid.UUID, uuid.UUID, str, str, dt.date]]:
    """The verified and closed orders of these tenants (or those in ``statuses``: billing's quarterly job reads the
    running ones, CCP TGD IX.4), oldest first: ``(tenant_id, order_id, number, agreement reference, order date)``
    (billing says which of them are invoiced already)."""
    if not tenant_ids:
        return []
    rows = await session.execute(
        select(PurchaseOrder.tenant_id, PurchaseOrder.id, PurchaseOrder.number, PurchaseOrder.agreement_reference,
               PurchaseOrder.order_date)
        .where(PurchaseOrder.tenant_id.in_(list(tenant_ids)), PurchaseOrder.status.in_(list(statuses)))
        .order_by(PurchaseOrder.order_date, PurchaseOrder.number).limit(limit))
    return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def ordered_total_ht(session: AsyncSession, tenant_id: uuid.UUID, agreement_id: uuid.UUID) -> Decimal:
    """The amount HT the tenant effectively ordered under the agreement: its issued orders, whatever became of
    them since, except the cancelled ones and the drafts (CCP TGD VIII.1 caps the penalties at « le montant hors
    taxes effectivement commandé par l'administration au titre du présent marché »)."""
    total = await session.scalar(select(func.coalesce(func.sum(PurchaseOrder.total_ht), 0)).where(
        PurchaseOrder.tenant_id == tenant_id, PurchaseOrder.agreement_id == agreement_id,
        PurchaseOrder.status.not_in(("draft", "cancelled"))))
    return Decimal(total or 0).quantize(Decimal("0.01"))
