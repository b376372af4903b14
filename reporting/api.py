"""The semester reports' API (issue 15 §6), under ``/api/v1/centrals/{code}/``, for the central's coordinators:

* ``POST reports/semester`` ``{"year": 2026, "half": 1, "agreement_id"?}`` → 202 with the report (its id is the
  job's): generated in the background;
* ``GET reports/{id}``: status, progress, lines, parameters and, once done, the links to its files;
* ``GET reports/{id}/file?format=xlsx|ods|csv``: the file, streamed.

Another central's report is 404, like one that does not exist; a bad body is 422 per field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.exceptions import ClientException, ValidationException
from litestar.params import Parameter
from litestar.response import File
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.shell import api_client_error, api_validation_error, error_responses
from reporting import services
from reporting.models import SemesterReport
from reporting.web import download
from tenants.context import CentralContext

__all__ = ["api_handlers"]

TAG = "Rapports semestriels"
Format = Annotated[str, Parameter(max_length=8, description="xlsx, ods ou csv")]


class SemesterIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    year: Annotated[int, msgspec.Meta(ge=1900, le=9998)]
    half: Annotated[int, msgspec.Meta(ge=1, le=2)]
    agreement_id: uuid.UUID | None = None


class FileOut(msgspec.Struct, kw_only=True):
    format: str
    name: str
    size: int
    sha256: str
    href: str


class ReportOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    year: int
    half: int
    agreement_id: uuid.UUID | None
    status: str
    progress: int
    line_count: int
    parameters: dict[str, Any]
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    due_on: dt.date
    error: str
    files: list[FileOut]

    @classmethod
    def of(cls, r: SemesterReport, code: str) -> ReportOut:
        base = f"/api/v1/centrals/{code}/reports/{r.id}/file?format="
        files = [FileOut(format=fmt, name=i["name"], size=i["size"], sha256=i["sha256"], href=base + fmt)
                 for fmt, i in sorted((r.files or {}).items())] if r.status == "done" else []
        return cls(id=r.id, year=r.year, half=r.half, agreement_id=r.agreement_id, status=r.status,
                   progress=r.progress, line_count=r.line_count, parameters=r.parameters, created_by=r.created_by,
                   created_at=r.created_at, started_at=r.started_at, finished_at=r.finished_at,
                   due_on=services.semester_of_report(r).due_on, error=r.error, files=files)


@post("/centrals/{central_code:str}/reports/semester", tags=[TAG], responses=error_responses(404, 422),
      status_code=202, summary="Demander le rapport semestriel (généré en arrière-plan)")
async def api_request_report(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                             data: SemesterIn) -> Response[ReportOut]:
    report = await services.request_report(db_session, central_ctx.central, msgspec.structs.asdict(data),
                                           created_by=central_ctx.identity.email, now=utcnow())
    await db_session.commit()  # the job runs in its own transaction
    await request.app.state.jobs.enqueue(services.JOB, report_id=str(report.id))
    return Response(ReportOut.of(report, central_ctx.central.code), status_code=202)


@get("/centrals/{central_code:str}/reports/{report_id:uuid}", tags=[TAG], responses=error_responses(404),
     summary="État d'un rapport semestriel et liens vers ses fichiers")
async def api_report(central_ctx: CentralContext, db_session: AsyncSession, report_id: uuid.UUID) -> ReportOut:
    report = await services.report_of_central(db_session, central_ctx.central.id, report_id)
    return ReportOut.of(report, central_ctx.central.code)


@get("/centrals/{central_code:str}/reports/{report_id:uuid}/file", tags=[TAG], responses=error_responses(404),
     summary="Télécharger un fichier du rapport (xlsx, ods ou csv)")
async def api_report_file(request: Request[Any, Any, Any], central_ctx: CentralContext, db_session: AsyncSession,
                          report_id: uuid.UUID, format: Format = "xlsx") -> File:  # noqa: A002 (the query's name)
    return await download(request, db_session, central_ctx.central.id, report_id, format)


api_handlers: list[Any] = [Router(
    path="/", route_handlers=[api_request_report, api_report, api_report_file],
    exception_handlers={ValidationException: api_validation_error, ClientException: api_client_error},
)]
