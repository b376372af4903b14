"""The coordinator's price-revision page (issue 15 §4; CCP TGD IX.2), ``/c/{central}/revision-prix``:

* the values of the price indexes (« L'index Ingénierie est lu dans le journal officiel et sur le site Internet de
  l'INSEE ») and the form to add one;
* the form that revises the BPU of one of the central's agreements (the date prices were set, the start of
  execution, the index): a new BPU version, or « Prix ferme » when three months did not pass;
* the revisions made, each with its computation (Ing0, Ing, coefficient).

Forms carry the CSRF token; a refusal shows its French message with status 422 and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.shell import Form, central_page, flash, form_fields, render, see_other
from billing import revision
from billing.services import BillingError
from catalog import services as catalog
from tenants.context import CentralContext

__all__ = ["nav", "portal_handlers"]

PATH = "/c/{central_code:str}/revision-prix"


def _url(ctx: CentralContext) -> str:
    return f"/c/{ctx.central.code}/revision-prix"


def nav(ctx: Any) -> list[tuple[str, ...]]:
    if isinstance(ctx, CentralContext):
        return [("price_revision", _url(ctx), "Révision des prix")]
    return []


async def _page(request: Request[Any, Any, Any], ctx: CentralContext, session: AsyncSession, *,
                values: dict[str, str] | None = None, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    agreements = await catalog.agreements_of_central(session, ctx.central.id)
    indexes = {name: await revision.index_values(session, name) for name in await revision.index_names(session)}
    revisions = [(a, r) for a in agreements for r in await revision.revisions_of_agreement(session, a.id)]
    return render(request, "billing/price_revision.html", central_page(
        ctx, "price_revision", agreement_options=[(str(a.id), f"{a.reference} — {a.title}") for a in agreements],
        index_options=[(name, name) for name in indexes], indexes=indexes, revisions=revisions, values=values or {},
        errors=errors or {}, url=_url(ctx)), status=status)


@get(PATH)
async def revision_page(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession) -> Any:
    return await _page(request, central_ctx, db_session)


@post(f"{PATH}/index")
async def add_index_value(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                          data: Form) -> Any:
    values = {k: v[:100] for k, v in form_fields(data).items() if k in ("name", "month", "published_on", "value")}
    try:
        row = await revision.add_index_value(db_session, values)
    except BillingError as exc:
        return await _page(request, central_ctx, db_session, values=values, errors=exc.errors, status=422)
    flash(request, f"Index « {row.name} » de {row.month:%m/%Y} enregistré.")
    return see_other(_url(central_ctx))


@post(f"{PATH}/reviser")
async def revise(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                 data: Form) -> Any:
    values = {k: v[:100] for k, v in form_fields(data).items()
              if k in ("agreement_id", "priced_on", "starts_on", "index")}
    agreements = {str(a.id): a for a in await catalog.agreements_of_central(db_session, central_ctx.central.id)}
    errors: dict[str, str] = {}
    agreement = agreements.get(values.get("agreement_id", ""))
    if agreement is None:
        errors["agreement_id"] = "Marché : choisissez un marché de la centrale."
    days: dict[str, dt.date] = {}
    for key, label in (("priced_on", "Date d'établissement des prix"), ("starts_on", "Début d'exécution")):
        try:
            days[key] = dt.date.fromisoformat(values.get(key, ""))
        except ValueError:
            errors[key] = f"{label} : une date (AAAA-MM-JJ) est attendue."
    if not errors:
        try:
            made = await revision.revise_bpu(db_session, agreement, priced_on=days["priced_on"],
                                             starts_on=days["starts_on"],
                                             index=values.get("index") or revision.DEFAULT_INDEX, now=utcnow())
        except BillingError as exc:
            errors = exc.errors
    if errors:
        return await _page(request, central_ctx, db_session, values=values, errors=errors, status=422)
    flash(request, f"Nouvelle version du BPU du marché {agreement.reference} au {made.starts_on:%d/%m/%Y} : "
                   f"{made.line_count} prix révisés (CCP TGD IX.2).")
    return see_other(_url(central_ctx))


portal_handlers: list[Any] = [revision_page, add_index_value, revise]
