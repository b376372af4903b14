"""« Terminaux d'alerte (TGD) »: the portal pages of the alert terminals, under the park (issue 13 §4).

* ``/t/{tenant}/parc/terminaux``: the lines (reference, number, device, state), a form to add one
  (permission ``tgd_lines``: the tenant's admin, the titulaire's operator and the TGD teleassistance);
* ``/t/{tenant}/parc/terminaux/{line}``: a line's history (assignments, exchanges), its fault and its
  exchange (annexe 2, I.4: within 24 hours, the reference kept);
* ``/t/{tenant}/parc/dossiers-tgd`` and ``…/{file}``: the beneficiary files, with the person's data, for
  the permission ``tgd_files`` alone (the « Téléassistance TGD » profile). Without it these pages do not
  exist (404, as another tenant's), each opening of a file is written to the audit log, and nothing of
  them is exported.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import NotFound, ValidationFailed
from app.shell import flash, form_fields, render, see_other, tenant_page
from assets import terminals
from tenants.context import TenantContext

__all__ = ["nav", "portal_handlers"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
STATES = {"libre": "En attente d'affectation", "affectee": "Affectée", "attente": "Clôturée, réaffectable le"}


def _current(ctx: TenantContext) -> str:
    return "tgd" if ctx.can("tgd_files") else "park"


def _require_files(ctx: TenantContext) -> None:
    """The files exist only for the profile that may open them: to anyone else, a 404 like another tenant's."""
    if not ctx.can("tgd_files"):
        raise NotFound("dossier")


async def _lines_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *,
                      values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                      status: int = 200) -> Any:
    now = utcnow()
    return render(request, "assets/terminals.html", tenant_page(
        ctx, _current(ctx), lines=await terminals.lines_of_tenant(session, ctx.tenant_id, now), states=STATES,
        values=values or {"insee_code": ctx.tenant.insee_code}, errors=errors or {}), status=status)


@get("/t/{tenant_id:uuid}/parc/terminaux")
async def lines_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    tenant_ctx.require("tgd_lines")
    return await _lines_page(request, tenant_ctx, db_session)


Again = Callable[[dict[str, str], dict[str, str]], Awaitable[Any]]


async def _submit(request: Request[Any, Any, Any], data: dict[str, Any], action: Callable[[dict[str, str]], Awaitable[Any]],
                  again: Again, done: Callable[[Any], tuple[str, str]]) -> Any:
    """A form posted: ``action(values)``; bad input gives the page ``again`` with the French errors (422) and
    nothing written (the services raise before writing); else the flash message and the place ``done`` says
    (POST-redirect-GET). Every mutation is in the audit log (``app.db``'s flush hook)."""
    values = form_fields(data)
    try:
        result = await action(values)
    except ValidationFailed as exc:
        return await again(values, exc.errors)
    message, url = done(result)
    flash(request, message)
    return see_other(url)


def _again(page: Callable[..., Awaitable[Any]], request: Request[Any, Any, Any], ctx: TenantContext,
           session: AsyncSession, *ids: uuid.UUID) -> Again:
    """The form's page again, with what was typed and the errors (422)."""
    return lambda values, errors: page(request, ctx, session, *ids, values=values, errors=errors, status=422)


async def _act_on(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, data: dict[str, Any],
                  page: Callable[..., Awaitable[Any]], object_id: uuid.UUID, service: Callable[..., Awaitable[Any]],
                  done: Callable[[Any], tuple[str, str]]) -> Any:
    """A form about one line or one file: ``service(session, tenant, object, values, now, tz)``, then back
    to its page with the errors or on to ``done``."""
    return await _submit(
        request, data, lambda values: service(session, ctx.tenant_id, object_id, values, utcnow(), ctx.tenant.timezone),
        _again(page, request, ctx, session, object_id), done)


@post("/t/{tenant_id:uuid}/parc/terminaux")
async def line_add(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                   data: Form) -> Any:
    tenant_ctx.require("tgd_lines")
    return await _submit(
        request, data, lambda values: terminals.create_line(db_session, tenant_ctx.tenant_id, values),
        _again(_lines_page, request, tenant_ctx, db_session),
        lambda line: (f"Ligne {line.phone_number} ajoutée : référence {terminals.line_reference(line)}.",
                      f"/t/{tenant_ctx.tenant_id}/parc/terminaux"))


async def _line_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                     line_id: uuid.UUID, *, values: dict[str, Any] | None = None,
                     errors: dict[str, str] | None = None, status: int = 200) -> Any:
    line = await terminals.get_line(session, ctx.tenant_id, line_id)
    row, assignments, exchanges = await terminals.line_history(session, line, utcnow())
    return render(request, "assets/terminal_line.html", tenant_page(
        ctx, _current(ctx), row=row, line=line, assignments=assignments, exchanges=exchanges, states=STATES,
        values=values or {}, errors=errors or {}), status=status)


@get("/t/{tenant_id:uuid}/parc/terminaux/{line_id:uuid}")
async def line_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                    line_id: uuid.UUID) -> Any:
    tenant_ctx.require("tgd_lines")
    return await _line_page(request, tenant_ctx, db_session, line_id)


@post("/t/{tenant_id:uuid}/parc/terminaux/{line_id:uuid}/panne")
async def line_fault(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                     line_id: uuid.UUID, data: Form) -> Any:
    tenant_ctx.require("tgd_lines")
    return await _act_on(request, tenant_ctx, db_session, data, _line_page, line_id, terminals.report_fault, lambda line: (
        f"Panne enregistrée sur la ligne {line.phone_number} : échange dû sous 24 heures.",
        f"/t/{tenant_ctx.tenant_id}/parc/terminaux/{line_id}"))


def _exchanged(exchange: Any) -> str:
    late = " (hors du délai de 24 heures)" if exchange.late else ""
    return (f"Terminal échangé : {exchange.old_serial} remplacé par {exchange.new_serial}{late} ; "
            "la ligne garde son numéro et sa référence.")


@post("/t/{tenant_id:uuid}/parc/terminaux/{line_id:uuid}/echange")
async def line_exchange(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                        line_id: uuid.UUID, data: Form) -> Any:
    tenant_ctx.require("tgd_lines")
    return await _act_on(request, tenant_ctx, db_session, data, _line_page, line_id, terminals.exchange_device,
                         lambda exchange: (_exchanged(exchange), f"/t/{tenant_ctx.tenant_id}/parc/terminaux/{line_id}"))


# --------------------------------------------------------------------------- beneficiary files


async def _files_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, *,
                      values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                      status: int = 200) -> Any:
    now = utcnow()
    lines = await terminals.lines_of_tenant(session, ctx.tenant_id, now)
    return render(request, "assets/tgd_files.html", tenant_page(
        ctx, "tgd", files=await terminals.files_of_tenant(session, ctx.tenant_id, now, ctx.tenant.timezone),
        free_lines=[r for r in lines if r.state == "libre"], now=now, values=values or {}, errors=errors or {}),
        status=status)


@get("/t/{tenant_id:uuid}/parc/dossiers-tgd")
async def files_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession) -> Any:
    _require_files(tenant_ctx)
    return await _files_page(request, tenant_ctx, db_session)


def _opened(file: Any, ctx: TenantContext) -> tuple[str, str]:
    late = " Créée plus de 15 minutes après la saisine (annexe 2, 2.1) : le retard est noté." if file.created_late else ""
    return f"Fiche bénéficiaire créée.{late}", f"/t/{ctx.tenant_id}/parc/dossiers-tgd/{file.id}"


@post("/t/{tenant_id:uuid}/parc/dossiers-tgd")
async def file_open(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                    data: Form) -> Any:
    _require_files(tenant_ctx)
    return await _submit(
        request, data, lambda values: terminals.open_file(db_session, tenant_ctx.tenant_id, values, utcnow(),
                                                          tenant_ctx.tenant.timezone),
        _again(_files_page, request, tenant_ctx, db_session),
        lambda file: _opened(file, tenant_ctx))


async def _file_page(request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession,
                     file_id: uuid.UUID, *, values: dict[str, Any] | None = None,
                     errors: dict[str, str] | None = None, status: int = 200) -> Any:
    now = utcnow()
    file, assignment = await terminals.access_file(session, ctx.tenant_id, file_id)
    calls = await terminals.calls_of_file(session, file)
    return render(request, "assets/tgd_file.html", tenant_page(
        ctx, "tgd", file=file, assignment=assignment, calls=calls, now=now,
        tests=terminals.file_test_state(assignment, calls[0].called_at if calls else None, now),
        values=values or {}, errors=errors or {}), status=status)


@get("/t/{tenant_id:uuid}/parc/dossiers-tgd/{file_id:uuid}")
async def file_page(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                    file_id: uuid.UUID) -> Any:
    _require_files(tenant_ctx)
    return await _file_page(request, tenant_ctx, db_session, file_id)


@post("/t/{tenant_id:uuid}/parc/dossiers-tgd/{file_id:uuid}/tests")
async def file_test_call(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                         file_id: uuid.UUID, data: Form) -> Any:
    _require_files(tenant_ctx)
    return await _act_on(request, tenant_ctx, db_session, data, _file_page, file_id, terminals.record_test_call,
                         lambda _call: ("Appel de test enregistré.",
                                        f"/t/{tenant_ctx.tenant_id}/parc/dossiers-tgd/{file_id}"))


@post("/t/{tenant_id:uuid}/parc/dossiers-tgd/{file_id:uuid}/cloture")
async def file_close(request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession,
                     file_id: uuid.UUID, data: Form) -> Any:
    _require_files(tenant_ctx)
    return await _act_on(request, tenant_ctx, db_session, data, _file_page, file_id, terminals.close_file,
                         lambda _file: ("Dossier clos sur confirmation du magistrat. Il sera détruit quatre mois "
                                        "après la clôture ; le terminal pourra être réaffecté dans une semaine.",
                                        f"/t/{tenant_ctx.tenant_id}/parc/dossiers-tgd"))


def nav(ctx: Any) -> list[tuple[str, ...]]:
    """The TGD teleassistance finds its files in the menu; the others reach the lines from « Parc »."""
    if isinstance(ctx, TenantContext) and ctx.can("tgd_files"):
        return [("tgd", f"/t/{ctx.tenant_id}/parc/dossiers-tgd", "Terminaux d'alerte (TGD)")]
    return []


portal_handlers: list[Any] = [lines_page, line_add, line_page, line_fault, line_exchange, files_page, file_open,
                              file_page, file_test_call, file_close]
