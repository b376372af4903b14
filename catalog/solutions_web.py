"""The catalog solutions' lifecycle in the coordinator's portal (issue 14 §1), under
``/c/{central}/accords/{agreement_id}/solutions``:

* the solutions of one agreement by status (proposed, approved, withdrawn) with their maker, BPU article,
  price HT, typed characteristics and history (``catalog.services.solution_history``);
* ``…/nouvelle``: record a solution the titulaire proposes — CCTP CANUT 5.1.2 « le catalogue pourra évoluer
  sur la proposition du Titulaire » — with its characteristics as name / unit / value lines;
* ``…/{solution_id}/approbation``: the coordinator's approval (the solution enters the catalog);
* ``…/{solution_id}/retrait``: the withdrawal with the date the titulaire gave notice, effective no earlier
  than 6 weeks later — CCTP CPAM 8-1-2-2 « Le titulaire devra obligatoirement informer la CPAM au moins
  6 semaines avant le retrait d'une référence au présent marché » — and an optional substitute, accepted
  only with « caractéristiques techniques égales ou supérieures aux caractéristiques du modèle à
  remplacer » and a « prix égal ou inférieur au prix du modèle à remplacer » (CPAM 8-1-3-1), compared
  characteristic by characteristic by ``catalog.rules.substitution_problems``.

The titulaire's operator has the list and the proposal form under ``/operateur/accords/{agreement_id}/solutions``
for the agreements it holds (``catalog.titulaire``; CANUT 5.1.2 « sur la proposition du Titulaire »): it records
its own proposals, without the approval or withdrawal buttons — the coordinator still approves.

The rules and the audit are the services'; here forms are read after the access check (another central's
agreement or solution is a 404 whatever the body), and a refusal re-renders the form with the French
message next to its field, status 422, nothing changed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ValidationFailed
from app.shell import flash, form_fields, parse_day, render, see_other
from catalog import rules, services
from catalog.labels import SOLUTION_STATUSES
from catalog.web import Importer, agreements_context, reachable_agreement
from tenants.context import CentralContext, OperatorContext

__all__ = ["solution_handlers"]

PARIS = ZoneInfo("Europe/Paris")
PATH = "/c/{central_code:str}/accords/{agreement_id:uuid}/solutions"
OPERATOR_PATH = "/operateur/accords/{agreement_id:uuid}/solutions"
#: Characteristic lines shown on the form (blank ones are ignored), and the most read from a post.
BLANK_LINES = 6
MAX_LINES = 50
#: Numeric(14, 4) of ``catalog_solutions.price_ht``.
MAX_PRICE = Decimal("9999999999.9999")
#: The order of the page's sections.
STATUSES = ("proposed", "approved", "withdrawn")
Day = Annotated[str, Parameter(max_length=10)]


def _today() -> dt.date:
    return dt.datetime.now(PARIS).date()


def _base(ctx: Importer, agreement_id: uuid.UUID) -> str:
    if isinstance(ctx, OperatorContext):
        return f"/operateur/accords/{agreement_id}/solutions"
    return f"/c/{ctx.central.code}/accords/{agreement_id}/solutions"


def _day(value: str, field: str, errors: dict[str, str], *, required: bool = True) -> dt.date | None:
    """``app.shell.parse_day``, with a required date's message."""
    if not value and required:
        errors[field] = "Date obligatoire (JJ/MM/AAAA)."
        return None
    return parse_day(value[:10], field, errors)


def _characteristic_lines(values: dict[str, str]) -> list[dict[str, str]]:
    """The name / unit / value lines of the form, blank ones dropped (``car_name_1``, ``car_unit_1``…)."""
    lines = []
    for n in range(1, MAX_LINES + 1):
        line = {k: values.get(f"car_{k}_{n}", "")[:100] for k in ("name", "unit", "value")}
        if any(line.values()):
            lines.append(line)
    return lines


# --------------------------------------------------------------------------- the list


async def _list_page(request: Request[Any, Any, Any], ctx: Importer, session: AsyncSession,
                     agreement: Any, *, error: tuple[uuid.UUID, str] | None = None, status: int = 200) -> Any:
    solutions = await services.solutions_of_agreement(session, agreement.id)
    histories = await services.solution_histories(session, [s.id for s in solutions])
    by_status: dict[str, list[tuple[Any, list[Any]]]] = {s: [] for s in STATUSES}
    for s in solutions:
        by_status[s.status].append((s, histories.get(s.id, [])))
    return render(request, "catalog/solutions.html", agreements_context(
        ctx, agreement=agreement, by_status=by_status, statuses=SOLUTION_STATUSES,
        names={s.id: f"{s.code} — {s.name}" for s in solutions}, error=error, today=_today(),
        url=_base(ctx, agreement.id)), status=status)


@get(PATH)
async def solutions_page(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                         agreement_id: uuid.UUID) -> Any:
    agreement = await services.agreement_of_coordinator(db_session, {central_ctx.central.id}, agreement_id)
    return await _list_page(request, central_ctx, db_session, agreement)


@get(OPERATOR_PATH)
async def operator_solutions_page(request: Request[Any, Any, Any], operator_ctx: OperatorContext,
                                  db_session: AsyncSession, agreement_id: uuid.UUID) -> Any:
    agreement = await reachable_agreement(db_session, operator_ctx, agreement_id)
    return await _list_page(request, operator_ctx, db_session, agreement)


# --------------------------------------------------------------------------- propose


def _propose_form(ctx: Importer, agreement: Any, values: dict[str, str], lines: list[dict[str, str]],
                  errors: dict[str, str]) -> dict[str, Any]:
    shown = lines + [{"name": "", "unit": "", "value": ""}] * max(BLANK_LINES - len(lines), 1)
    return agreements_context(ctx, agreement=agreement, values=values, lines=shown[:MAX_LINES],
                              errors=errors, url=_base(ctx, agreement.id))


@get(f"{PATH}/nouvelle")
async def propose_page(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                       agreement_id: uuid.UUID) -> Any:
    agreement = await services.agreement_of_coordinator(db_session, {central_ctx.central.id}, agreement_id)
    return render(request, "catalog/solution_form.html", _propose_form(central_ctx, agreement, {}, [], {}))


@get(f"{OPERATOR_PATH}/nouvelle")
async def operator_propose_page(request: Request[Any, Any, Any], operator_ctx: OperatorContext,
                                db_session: AsyncSession, agreement_id: uuid.UUID) -> Any:
    agreement = await reachable_agreement(db_session, operator_ctx, agreement_id)
    return render(request, "catalog/solution_form.html", _propose_form(operator_ctx, agreement, {}, [], {}))


@post(f"{PATH}/nouvelle")
async def propose(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                  agreement_id: uuid.UUID) -> Any:
    return await _propose(request, central_ctx, db_session, agreement_id)


@post(f"{OPERATOR_PATH}/nouvelle")
async def operator_propose(request: Request[Any, Any, Any], operator_ctx: OperatorContext, db_session: AsyncSession,
                           agreement_id: uuid.UUID) -> Any:
    """The titulaire's own proposal (CANUT 5.1.2), for an agreement it holds; the coordinator approves it."""
    return await _propose(request, operator_ctx, db_session, agreement_id)


async def _propose(request: Request[Any, Any, Any], ctx: Importer, db_session: AsyncSession,
                   agreement_id: uuid.UUID) -> Any:
    agreement = await reachable_agreement(db_session, ctx, agreement_id)
    values = form_fields(dict(await request.form()))
    lines = _characteristic_lines(values)
    data = {k: values.get(k, "") for k in ("code", "name", "maker", "article_code", "price_ht")}
    # Bounds the services leave to the caller (the API's schema has them): lengths, and a price that fits
    # its column with at most 4 decimals.
    errors: dict[str, str] = {}
    for field, limit in (("maker", 100), ("article_code", 64)):
        if len(data[field]) > limit:
            errors[field] = f"{limit} caractères au plus"
    price = rules.parse_decimal(data["price_ht"])
    if price is not None and (price > MAX_PRICE or price != price.quantize(Decimal("0.0001"))):
        errors["price_ht"] = "prix HT de 10 milliards d'euros au plus, quatre décimales au plus"
    try:
        if errors:
            raise ValidationFailed(errors)
        solution = await services.propose_solution(db_session, agreement, {**data, "characteristics": lines},
                                                   actor=ctx.identity.email)
    except ValidationFailed as exc:  # nothing written
        merged = {**exc.errors, **errors}
        return render(request, "catalog/solution_form.html",
                      _propose_form(ctx, agreement, data, lines, merged), status=422)
    flash(request, f"Solution « {solution.code} » enregistrée : proposée, en attente d'approbation"
                   f"{' par la centrale' if isinstance(ctx, OperatorContext) else ''}.")
    return see_other(f"{_base(ctx, agreement.id)}#solution-{solution.id}")


# --------------------------------------------------------------------------- approve


@post(f"{PATH}/{{solution_id:uuid}}/approbation")
async def approve(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                  agreement_id: uuid.UUID, solution_id: uuid.UUID) -> Any:
    agreement = await services.agreement_of_coordinator(db_session, {central_ctx.central.id}, agreement_id)
    try:
        solution = await services.approve_solution(db_session, agreement, solution_id,
                                                   actor=central_ctx.identity.email)
    except ValidationFailed as exc:
        return await _list_page(request, central_ctx, db_session, agreement,
                                error=(solution_id, "Approbation refusée : " + " ; ".join(exc.errors.values())),
                                status=422)
    flash(request, f"Solution « {solution.code} » approuvée : elle figure au catalogue des bénéficiaires.")
    return see_other(f"{_base(central_ctx, agreement.id)}#solution-{solution.id}")


# --------------------------------------------------------------------------- withdraw


async def _withdraw_form(request: Request[Any, Any, Any], ctx: CentralContext, session: AsyncSession, agreement: Any,
                         solution: Any, values: dict[str, str], errors: dict[str, str], *, status: int = 200) -> Any:
    notice = _day(values.get("notice_on", ""), "notice_on", {}, required=False)  # its error is in ``errors``
    earliest = rules.earliest_withdrawal(notice) if notice else None
    if "effective_on" not in values and earliest:
        values = {**values, "effective_on": earliest.isoformat()}
    candidates = [s for s in await services.solutions_of_agreement(session, agreement.id)
                  if s.id != solution.id and s.status != "withdrawn"]
    return render(request, "catalog/solution_withdraw.html", agreements_context(
        ctx, agreement=agreement, solution=solution, candidates=candidates, values=values,
        errors=errors, earliest=earliest, today=_today(), url=_base(ctx, agreement.id)),
        status=status, block="effective")


@get(f"{PATH}/{{solution_id:uuid}}/retrait")
async def withdraw_page(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                        agreement_id: uuid.UUID, solution_id: uuid.UUID, notice_on: Day = "") -> Any:
    """The form; ``?notice_on=`` (sent by HTMX when the notice date changes) recomputes the earliest effect."""
    agreement = await services.agreement_of_coordinator(db_session, {central_ctx.central.id}, agreement_id)
    solution = await services.solution_of_agreement(db_session, agreement, solution_id)
    return await _withdraw_form(request, central_ctx, db_session, agreement, solution,
                                {"notice_on": notice_on or _today().isoformat()}, {})


@post(f"{PATH}/{{solution_id:uuid}}/retrait")
async def withdraw(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                   agreement_id: uuid.UUID, solution_id: uuid.UUID) -> Any:
    agreement = await services.agreement_of_coordinator(db_session, {central_ctx.central.id}, agreement_id)
    solution = await services.solution_of_agreement(db_session, agreement, solution_id)
    values = {k: v[:40] for k, v in form_fields(dict(await request.form())).items()
              if k in ("notice_on", "effective_on", "substitute_id")}
    errors: dict[str, str] = {}
    notice_on = _day(values.get("notice_on", ""), "notice_on", errors)
    effective_on = _day(values.get("effective_on", ""), "effective_on", errors)
    substitute_id = None
    if values.get("substitute_id"):
        try:
            substitute_id = uuid.UUID(values["substitute_id"])
        except ValueError:
            errors["substitute_id"] = "solution de substitution inconnue dans cet accord-cadre"
    try:
        if errors:
            raise ValidationFailed(errors)
        assert notice_on is not None and effective_on is not None
        await services.withdraw_solution(db_session, agreement, solution.id, notice_on=notice_on,
                                         effective_on=effective_on, today=_today(), substitute_id=substitute_id,
                                         actor=central_ctx.identity.email)
    except ValidationFailed as exc:  # nothing written
        return await _withdraw_form(request, central_ctx, db_session, agreement, solution, values,
                                    {**exc.errors, **errors}, status=422)
    flash(request, f"Retrait de « {solution.code} » enregistré : effectif le {effective_on:%d/%m/%Y}.")
    return see_other(f"{_base(central_ctx, agreement.id)}#solution-{solution.id}")


solution_handlers: list[Any] = [solutions_page, propose_page, propose, approve, withdraw_page, withdraw,
                                operator_solutions_page, operator_propose_page, operator_propose]
