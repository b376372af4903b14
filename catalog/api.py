"""The catalog's API (issue 14 §5), under ``/api/v1``:

* ``GET /centrals/{code}/agreements``: the central's agreements (its coordinators);
* ``POST /agreements/{agreement_id}/bpu``: a BPU version from a CSV or XLSX body, ``?valid_from=`` (default
  today): 201 with the version, or 422 with ``lines: [{"line": n, "messages": [...]}]`` and nothing stored —
  the coordinators of the agreement's central and the titulaire's operator holding it (``catalog.titulaire``);
* ``GET /agreements/{agreement_id}/bpu``: the version in force (``?on=`` a date, default today) with its
  items — the central's coordinators and the members of a subscribing beneficiary;
* ``GET /tenants/{tenant_id}/catalog``: a beneficiary's catalog (``search``, ``family``, ``maker``, ``page``);
  ``GET /tenants/{tenant_id}/catalog/export?format=csv|xlsx``: all of it with the same filters, formula-safe;
* ``GET|POST /agreements/{agreement_id}/solutions``, ``POST …/solutions/{solution_id}/approve|withdraw``: the
  catalog solutions (CANUT 5.1.2) — read like the BPU, recorded by the coordinators or the titulaire's operator
  holding the agreement, approved and withdrawn by the coordinators.

An agreement out of the caller's reach answers 404, like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.exceptions import ClientException, ValidationException
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import require_identity
from app.errors import NotFound, ValidationFailed
from app.exports import EXPORT_FORMATS, TooManyRows, export_response
from app.shell import api_client_error, api_validation_error, error_responses, problem
from catalog import catalog_export, services, titulaire
from catalog.amendments_api import amendment_api_handlers
from catalog.badge_requests_api import badge_request_api_handlers
from catalog.deliveries_api import delivery_api_handlers
from catalog.maintenance_api import maintenance_api_handlers
from catalog.models import BpuItem, BpuVersion, CatalogSolution
from catalog.orders_api import order_api_handlers
from catalog.quotes_api import quote_api_handlers
from catalog.rules import FAMILIES
from tenants.context import CentralContext, TenantContext, operator_tenant_ids
from tenants.models import FrameworkAgreement

__all__ = ["api_handlers"]

TAG = "Accords-cadres et catalogue"
MAX_UPLOAD = 8 * 1024 * 1024
PER_PAGE = 50
Text = Annotated[str, Parameter(max_length=100)]
Day = Annotated[str, Parameter(max_length=10, description="AAAA-MM-JJ")]
PageNumber = Annotated[int, Parameter(ge=1, le=10_000)]


class AgreementOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    reference: str
    title: str
    lot: str
    titulaire: str
    starts_on: dt.date | None
    ends_on: dt.date | None

    @classmethod
    def of(cls, a: FrameworkAgreement) -> AgreementOut:
        return cls(id=a.id, reference=a.reference, title=a.title, lot=a.lot, titulaire=a.titulaire,
                   starts_on=a.starts_on, ends_on=a.ends_on)


class ItemOut(msgspec.Struct, kw_only=True):
    article_code: str
    label: str
    unit: str
    unit_price_ht: str
    vat_rate: str
    family: str
    complexity: str | None
    maker: str
    purchase_or_rental: str

    @classmethod
    def of(cls, i: BpuItem) -> ItemOut:
        return cls(article_code=i.article_code, label=i.label, unit=i.unit, unit_price_ht=str(i.unit_price_ht),
                   vat_rate=str(i.vat_rate), family=i.family, complexity=i.complexity, maker=i.maker,
                   purchase_or_rental=i.purchase_or_rental)


class VersionOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    agreement_id: uuid.UUID
    version: int
    valid_from: dt.date
    imported_at: dt.datetime
    imported_by: str
    source_filename: str
    line_count: int
    items: list[ItemOut] | None = None

    @classmethod
    def of(cls, v: BpuVersion, items: list[BpuItem] | None = None) -> VersionOut:
        return cls(id=v.id, agreement_id=v.agreement_id, version=v.version, valid_from=v.valid_from,
                   imported_at=v.imported_at, imported_by=v.imported_by, source_filename=v.source_filename,
                   line_count=v.line_count, items=None if items is None else [ItemOut.of(i) for i in items])


class CatalogItemOut(msgspec.Struct, kw_only=True):
    agreement_id: uuid.UUID
    agreement_reference: str
    version: int
    valid_from: dt.date
    item: ItemOut
    unit_price_ttc: str


class CatalogOut(msgspec.Struct, kw_only=True):
    total: int
    page: int
    per_page: int
    items: list[CatalogItemOut]


def _day(value: str, field: str) -> dt.date:
    if not value:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed({field: "Date invalide (format attendu : AAAA-MM-JJ)."}) from None


@get("/centrals/{central_code:str}/agreements", tags=[TAG], responses=error_responses(404),
     summary="Les accords-cadres d'une centrale (coordinateur)")
async def api_central_agreements(central_ctx: CentralContext, db_session: AsyncSession) -> list[AgreementOut]:
    return [AgreementOut.of(a) for a in await services.agreements_of_central(db_session, central_ctx.central.id)]


async def _importer_agreement(request: Request[Any, Any, Any], session: AsyncSession,
                              agreement_id: uuid.UUID) -> FrameworkAgreement:
    """Who imports a BPU and records a solution's proposal (issue 14 §1, CANUT 5.1.2): the central's coordinators
    and the titulaire's operator holding the agreement; anyone else gets a 404, like a missing agreement."""
    identity = require_identity(request)
    try:
        return await services.agreement_of_coordinator(session, identity.central_ids, agreement_id)
    except NotFound:
        return await titulaire.agreement_of_operator(session, operator_tenant_ids(identity), agreement_id)


@post("/agreements/{agreement_id:uuid}/bpu", tags=[TAG], responses=error_responses(404, 422), status_code=201,
      summary="Importer une version du BPU (CSV ou XLSX, tout ou rien ; coordinateur de la centrale ou titulaire)",
      description="Corps : le fichier (`text/csv` ou le type XLSX). Colonnes : code_article, libelle, unite, "
                  "prix_unitaire_ht, taux_tva (en %), famille, complexite, constructeur, achat_location ; `;` ou `,`, "
                  "virgule ou point décimal. Une ligne en erreur : 422 avec `lines` [{line, messages}], rien d'importé.")
async def api_import_bpu(request: Request[Any, Any, Any], db_session: AsyncSession, agreement_id: uuid.UUID,
                         valid_from: Day = "") -> Any:
    identity = require_identity(request)
    agreement = await _importer_agreement(request, db_session, agreement_id)
    day = _day(valid_from, "valid_from")
    content = await request.body()  # read after the access check: a wrong agreement is a 404 whatever the body
    if not content or len(content) > MAX_UPLOAD:
        raise ValidationFailed({"file": "Envoyez un fichier CSV ou XLSX de 8 Mio au plus."})
    xlsx = "spreadsheetml" in (request.headers.get("content-type") or "")
    try:
        version = await services.import_bpu(db_session, agreement, content, "bpu.xlsx" if xlsx else "bpu.csv",
                                            valid_from=day, imported_by=identity.email)
    except services.BpuImportFailed as exc:
        await db_session.rollback()
        return problem(request, 422, "Import refusé", detail=exc.report()[0],
                       lines=[{"line": n, "messages": m} for n, m in exc.errors.items()])
    return Response(VersionOut.of(version), status_code=201)


async def _readable_agreement(request: Request[Any, Any, Any], session: AsyncSession,
                              agreement_id: uuid.UUID) -> FrameworkAgreement:
    """The central's coordinators, and the members of a beneficiary that subscribes to it."""
    identity = require_identity(request)
    try:
        return await services.agreement_of_coordinator(session, identity.central_ids, agreement_id)
    except NotFound:
        pass
    for tenant_id in identity.tenant_roles:
        try:
            return await services.agreement_of_tenant(session, tenant_id, agreement_id)
        except NotFound:
            continue
    raise NotFound("accord-cadre")


@get("/agreements/{agreement_id:uuid}/bpu", tags=[TAG], responses=error_responses(404, 422),
     summary="Le BPU en vigueur d'un accord-cadre, avec ses articles")
async def api_bpu_in_force(request: Request[Any, Any, Any], db_session: AsyncSession, agreement_id: uuid.UUID,
                           on: Day = "") -> VersionOut:
    agreement = await _readable_agreement(request, db_session, agreement_id)
    version = await services.version_in_force(db_session, agreement.id, _day(on, "on"))
    if version is None:
        raise NotFound("BPU en vigueur")
    return VersionOut.of(version, await services.items_of_version(db_session, version.id))


@get("/tenants/{tenant_id:uuid}/catalog", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Le catalogue d'un bénéficiaire : les articles en vigueur des accords-cadres auxquels il adhère",
     description=f"Filtres : `search` (code, libellé, constructeur), `family` ({', '.join(FAMILIES)}), `maker`, "
                 f"`page` ({PER_PAGE} par page).")
async def api_catalog(tenant_ctx: TenantContext, db_session: AsyncSession, search: Text = "", family: Text = "",
                      maker: Text = "", page: PageNumber = 1) -> CatalogOut:
    tenant_ctx.require("read")
    if family and family not in FAMILIES:
        raise ValidationFailed({"family": f"Famille inconnue (attendu : {', '.join(FAMILIES)})."})
    lines, total = await services.catalog_of_tenant(db_session, tenant_ctx.tenant_id, dt.datetime.now(dt.UTC).date(),
                                                    search=search, family=family, maker=maker, page=page,
                                                    per_page=PER_PAGE)
    return CatalogOut(total=total, page=page, per_page=PER_PAGE, items=[
        CatalogItemOut(agreement_id=x.agreement_id, agreement_reference=x.agreement_reference, version=x.version,
                       valid_from=x.valid_from, item=ItemOut.of(x.item), unit_price_ttc=str(x.unit_price_ttc))
        for x in lines])


@get("/tenants/{tenant_id:uuid}/catalog/export", tags=[TAG], responses=error_responses(403, 404, 422),
     summary="Exporter le catalogue d'un bénéficiaire (CSV ou XLSX)",
     description="Les articles en vigueur et les solutions au catalogue avec le prix en vigueur de leur article, "
                 "filtrés comme `GET …/catalog` (`search`, `family`, `maker`) ; `format` : csv (par défaut) ou xlsx. "
                 "Aucune cellule de texte ne commence par = + - @ (apostrophe ajoutée).")
async def api_catalog_export(tenant_ctx: TenantContext, db_session: AsyncSession, search: Text = "",
                             family: Text = "", maker: Text = "", format: Text = "csv") -> Stream:  # noqa: A002
    tenant_ctx.require("read")
    if family and family not in FAMILIES:
        raise ValidationFailed({"family": f"Famille inconnue (attendu : {', '.join(FAMILIES)})."})
    if format not in EXPORT_FORMATS:
        raise ValidationFailed({"format": "Format inconnu (attendu : csv ou xlsx)."})
    tz = tenant_ctx.tenant.timezone
    today = dt.datetime.now(ZoneInfo(tz)).date()
    rows = catalog_export.catalog_rows(db_session, tenant_ctx.tenant_id, today, search=search, family=family,
                                       maker=maker)
    try:
        return await export_response(format, f"catalogue-{today:%Y-%m-%d}", catalog_export.HEADER, rows, tz=tz,
                                     sheet="Catalogue")
    except TooManyRows as exc:
        raise ValidationFailed({"search": str(exc)}) from None


# --------------------------------------------------------------------------- catalog solutions


class CharacteristicIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=100)]
    value: Annotated[str, msgspec.Meta(max_length=40, description="Un nombre (virgule ou point décimal)")]
    unit: Annotated[str, msgspec.Meta(max_length=20)] = ""


class SolutionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(max_length=64)]
    name: Annotated[str, msgspec.Meta(max_length=200)]
    price_ht: Annotated[str, msgspec.Meta(max_length=20, description="Prix HT en euros, en chaîne")]
    maker: Annotated[str, msgspec.Meta(max_length=100)] = ""
    article_code: Annotated[str, msgspec.Meta(max_length=64)] = ""
    characteristics: Annotated[list[CharacteristicIn], msgspec.Meta(max_length=50)] = []


class WithdrawIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    effective_on: dt.date | None = None
    notice_on: dt.date | None = None
    substitute_id: uuid.UUID | None = None


class SolutionEventOut(msgspec.Struct, kw_only=True):
    at: dt.datetime
    actor: str
    from_status: str
    to_status: str
    note: str


class SolutionOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    name: str
    maker: str
    article_code: str
    price_ht: str
    characteristics: list[dict[str, str]]
    status: str
    withdrawal_notice_on: dt.date | None
    withdrawal_effective_on: dt.date | None
    substitute_id: uuid.UUID | None
    history: list[SolutionEventOut]


async def _solution_out(session: AsyncSession, s: CatalogSolution) -> SolutionOut:
    history = [SolutionEventOut(at=e.at, actor=e.actor, from_status=e.from_status, to_status=e.to_status, note=e.note)
               for e in await services.solution_history(session, s.id)]
    return SolutionOut(id=s.id, code=s.code, name=s.name, maker=s.maker, article_code=s.article_code,
                       price_ht=str(s.price_ht), characteristics=list(s.characteristics), status=s.status,
                       withdrawal_notice_on=s.withdrawal_notice_on, withdrawal_effective_on=s.withdrawal_effective_on,
                       substitute_id=s.substitute_id, history=history)


@get("/agreements/{agreement_id:uuid}/solutions", tags=[TAG], responses=error_responses(404),
     summary="Les solutions du catalogue d'un accord-cadre et leur historique (CCTP CANUT 5.1.2)")
async def api_solutions(request: Request[Any, Any, Any], db_session: AsyncSession,
                        agreement_id: uuid.UUID) -> list[SolutionOut]:
    agreement = await _readable_agreement(request, db_session, agreement_id)
    return [await _solution_out(db_session, s) for s in await services.solutions_of_agreement(db_session, agreement.id)]


@post("/agreements/{agreement_id:uuid}/solutions", tags=[TAG], responses=error_responses(404, 422), status_code=201,
      summary="Enregistrer une solution proposée par le titulaire (coordinateur de la centrale ou titulaire)",
      description="CCTP CANUT 5.1.2 « le catalogue pourra évoluer sur la proposition du Titulaire » : l'opérateur "
                  "du titulaire de l'accord-cadre propose lui-même ; la solution reste « proposée » jusqu'à "
                  "l'approbation du coordinateur.")
async def api_propose_solution(request: Request[Any, Any, Any], db_session: AsyncSession, agreement_id: uuid.UUID,
                               data: SolutionIn) -> SolutionOut:
    identity = require_identity(request)
    agreement = await _importer_agreement(request, db_session, agreement_id)
    solution = await services.propose_solution(db_session, agreement, msgspec.to_builtins(data), actor=identity.email)
    return await _solution_out(db_session, solution)


@post("/agreements/{agreement_id:uuid}/solutions/{solution_id:uuid}/approve", tags=[TAG], status_code=200,
      responses=error_responses(404, 422), summary="Approuver une solution proposée (coordinateur)")
async def api_approve_solution(request: Request[Any, Any, Any], db_session: AsyncSession, agreement_id: uuid.UUID,
                               solution_id: uuid.UUID) -> SolutionOut:
    identity = require_identity(request)
    agreement = await services.agreement_of_coordinator(db_session, identity.central_ids, agreement_id)
    return await _solution_out(db_session, await services.approve_solution(db_session, agreement, solution_id,
                                                                           actor=identity.email))


@post("/agreements/{agreement_id:uuid}/solutions/{solution_id:uuid}/withdraw", tags=[TAG], status_code=200,
      responses=error_responses(404, 422), summary="Retirer une solution (6 semaines de préavis, CCTP CPAM 8-1-2-2)",
      description="`notice_on` : date de l'information (aujourd'hui par défaut) ; `effective_on` : au plus tôt 6 "
                  "semaines après ; `substitute_id` : prix ≤ et caractéristiques ≥ (CPAM 8-1-3-1).")
async def api_withdraw_solution(request: Request[Any, Any, Any], db_session: AsyncSession, agreement_id: uuid.UUID,
                                solution_id: uuid.UUID, data: WithdrawIn) -> SolutionOut:
    identity = require_identity(request)
    agreement = await services.agreement_of_coordinator(db_session, identity.central_ids, agreement_id)
    if data.effective_on is None:
        raise ValidationFailed({"effective_on": "Date d'effet du retrait obligatoire (AAAA-MM-JJ)."})
    today = dt.datetime.now(dt.UTC).date()
    return await _solution_out(db_session, await services.withdraw_solution(
        db_session, agreement, solution_id, notice_on=data.notice_on or today, effective_on=data.effective_on,
        today=today, substitute_id=data.substitute_id, actor=identity.email))


#: One router, so that a body that does not match its schema is a 422 per field like the services' refusals
#: (``app.shell.api_validation_error``); the purchase orders' handlers are in ``catalog.orders_api``.
api_handlers: list[Any] = [Router(
    path="/",
    route_handlers=[api_central_agreements, api_import_bpu, api_bpu_in_force, api_catalog, api_catalog_export,
                    api_solutions,
                    api_propose_solution, api_approve_solution, api_withdraw_solution, *order_api_handlers,
                    *badge_request_api_handlers, *quote_api_handlers,
                    *amendment_api_handlers, *delivery_api_handlers, *maintenance_api_handlers],
    exception_handlers={ValidationException: api_validation_error, ClientException: api_client_error},
)]
