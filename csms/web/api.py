"""API v1 of the station registry and supervision: stations and transactions.

The paths carry no tenant: a caller sees the stations and transactions of every
tenant it may read (its memberships, and the beneficiaries of the centrals it
coordinates), optionally narrowed with ``tenant_id``. Another tenant's station or
transaction is a 404, exactly like one that does not exist (DESIGN.md rule 4).
Registration writes into one tenant, where the caller must be an administrator.

CCTP CPAM 5-5: « identifier, pour chaque IRVE, le nombre d'occurrence d'une telle
coupure » (``disconnections``); 5-5-4: state of each charger and point, the badge
that started a charge, the charge curve (meter values of a transaction).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.exceptions import ClientException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page, per_page
from app.db import scope_session, utcnow
from app.deps import require_identity
from app.errors import Forbidden, NotFound, ValidationFailed
from app.permissions import granted
from app.shell import PROBLEM, Problem, api_client_error, api_validation_error, error_responses, problem
from csms.domain import registry, states
from csms.domain.models import ChargePoint, Charger, MeterValue, Station, Transaction
from csms.domain.recording import CommunicationReport, reports_of
from csms.web.schemas import (
    ImportLine,
    ImportProblem,
    ImportResult,
    MeterValueOut,
    PointOut,
    StationCreate,
    StationCreated,
    StationDecommission,
    StationOut,
    StationPage,
    TransactionDetail,
    TransactionOut,
    TransactionPage,
    UptimeOut,
)
from tenants import services
from tenants.models import Site
from tenants.services import Identity, tenant_ids_of_central

__all__ = ["handlers", "reachable_tenants"]

TAG_STATIONS, TAG_TRANSACTIONS = "Bornes", "Recharges"
PER_PAGE_MAX = 200

PerPage = per_page(PER_PAGE_MAX)
TenantFilter = Annotated[uuid.UUID | None, Parameter(description="Un seul bénéficiaire (sinon tous ceux de l'appelant)")]
ERR_READ, ERR_WRITE = error_responses(404), error_responses(403, 404, 422)


# --------------------------------------------------------------------------- tenants of the caller


async def reachable_tenants(session: AsyncSession, identity: Identity, permissions: set[str]) -> list[uuid.UUID]:
    """Tenants where the caller holds one of ``permissions``: its memberships, then, for a
    coordinator, the beneficiaries of its centrals (an explicit list, DESIGN.md rule 3)."""
    found = {tid for tid, role in identity.tenant_roles.items() if granted(role) & permissions}
    if identity.central_ids and granted("coordinator") & permissions:
        for central_id in identity.central_ids:
            found.update(await tenant_ids_of_central(session, central_id))
    return sorted(found)


async def _scope(
    request: Request[Any, Any, Any], session: AsyncSession, permissions: set[str], tenant_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    identity = require_identity(request)
    ids = await reachable_tenants(session, identity, permissions)
    if tenant_id is not None:
        if tenant_id not in ids:
            raise NotFound("bénéficiaire")
        ids = [tenant_id]
    scope_session(session, ids, actor=identity.actor)
    return ids


def _pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


# --------------------------------------------------------------------------- stations


def _sockets(value: str) -> list[str]:
    return [code for code in (value or "").split(",") if code]


def _point_out(point: ChargePoint, charger_status: str, connected: bool) -> PointOut:
    state = states.point_state(point.last_status, charger_status, online=connected)
    return PointOut(
        connector_id=point.connector_id, canonical_id=point.canonical_id, usage_name=point.usage_name,
        power_kw=point.power_kw, socket_types=_sockets(point.socket_types), ocpp_status=point.last_status,
        error_code=point.last_error_code, status=state, status_label=states.STATE_LABELS[state],
        ocpp_status_label=states.ocpp_label(point.last_status), status_at=point.last_status_at,
    )


def _period_start(charger: Charger, since: dt.datetime | None) -> dt.datetime:
    return max(since, charger.created_at) if since else charger.created_at


async def _stations_out(
    session: AsyncSession, rows: list[tuple[Charger, Station]], points: dict[uuid.UUID, list[ChargePoint]],
    since: dt.datetime | None,
) -> list[StationOut]:
    """The API view of chargers, their uptime and cuts read in one query for the whole page."""
    now = utcnow()
    reports = await reports_of(
        session, {c.id: (c.tenant_id, _period_start(c, since)) for c, _ in rows}, now, now=now,
    )
    sites = await services.sites_of(session, list({c.tenant_id for c, _ in rows}))
    return [_station_out(c, s, sites[(s.tenant_id, s.site_id)], points[c.id], _period_start(c, since), now, reports[c.id])
            for c, s in rows]


def _station_out(
    charger: Charger, station: Station, site: Site, points: list[ChargePoint],
    start: dt.datetime, now: dt.datetime, report: CommunicationReport,
) -> StationOut:
    connected = bool(charger.online)
    point_outs = [_point_out(p, charger.last_status, connected) for p in points]
    state = states.charger_state(charger.last_status, [p.status for p in point_outs], online=connected)
    powers = [p.power_kw for p in points if p.power_kw is not None]
    return StationOut(
        id=charger.id, tenant_id=charger.tenant_id, charge_box_id=charger.charge_box_id, canonical_id=charger.canonical_id,
        station_id=station.id, station_canonical_id=station.canonical_id, station_name=station.name,
        site_id=site.id, site_name=site.name, power_kw=sum(powers) if powers else None,
        socket_types=list(dict.fromkeys(code for p in points for code in _sockets(p.socket_types))),
        points=point_outs, status=state, status_label=states.STATE_LABELS[state], connected=connected,
        last_seen_at=charger.last_seen_at, last_boot_at=charger.last_boot_at, disconnections=report.cuts,
        uptime=UptimeOut(since=start, until=now, online_seconds=round(report.online_seconds, 3),
                         ratio=round(report.uptime_ratio, 6), connections=report.connections),
        protocol=charger.protocol, vendor=charger.vendor, model=charger.model, firmware_version=charger.firmware_version,
        lenient=charger.lenient, security_profile=charger.security_profile, created_at=charger.created_at, decommissioned_at=charger.decommissioned_at,
        decommission_reason=charger.decommission_reason,
    )


def _charger_rows(ids: list[uuid.UUID]) -> Any:
    return (
        select(Charger, Station)
        .join(Station, and_(Station.tenant_id == Charger.tenant_id, Station.id == Charger.station_id))
        .where(Charger.tenant_id.in_(ids))
    )


async def _points_of(session: AsyncSession, ids: list[uuid.UUID], charger_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[ChargePoint]]:
    by_charger: dict[uuid.UUID, list[ChargePoint]] = defaultdict(list)
    for chunk in range(0, len(charger_ids), 500):
        rows = await session.scalars(
            select(ChargePoint).where(ChargePoint.tenant_id.in_(ids), ChargePoint.charger_id.in_(charger_ids[chunk:chunk + 500]))
            .order_by(ChargePoint.connector_id)
        )
        for point in rows:
            by_charger[point.charger_id].append(point)
    return by_charger


STATUS_VALUES = tuple(states.STATE_LABELS)


@get(
    "/stations", tags=[TAG_STATIONS], responses=ERR_READ, summary="Bornes et points de charge, avec leur état",
    description=(
        "Toutes les bornes des bénéficiaires de l'appelant : station, site, identifiants CPAM (CCTP 5-5-1), points "
        "de charge, puissance, prises, état (valeur machine et mots du CCTP : Disponible, En charge, Hors service, "
        "Hors ligne), connexion, dernier message, nombre de coupures de communication (CCTP 5-5) et disponibilité "
        "sur la période (depuis l'enregistrement, ou depuis `since`). Triées par identifiant CPAM. Les bornes mises "
        "hors service définitivement n'y figurent pas ; `decommissioned=true` donne celles-là seulement."
    ),
)
async def list_stations(
    request: Request[Any, Any, Any], db_session: AsyncSession,
    tenant_id: TenantFilter = None,
    site_id: Annotated[uuid.UUID | None, Parameter(description="Un seul site")] = None,
    status: Annotated[str | None, Parameter(description="État d'ensemble : " + ", ".join(STATUS_VALUES))] = None,
    connected: Annotated[bool | None, Parameter(description="Bornes connectées (true) ou non (false)")] = None,
    since: Annotated[dt.datetime | None, Parameter(description="Début de la période des coupures et de la disponibilité")] = None,
    decommissioned: Annotated[bool, Parameter(
        description="true : les bornes mises hors service définitivement, seules (false, par défaut : les bornes en service)",
    )] = False,
    page: Page = 1, per_page: PerPage = 50,
) -> StationPage:
    if status is not None and status not in STATUS_VALUES:
        raise ValidationFailed({"status": f"État inconnu : « {status} ». États admis : {', '.join(STATUS_VALUES)}."})
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    ids = await _scope(request, db_session, {"read", "agent"}, tenant_id)
    stmt = _charger_rows(ids).where(
        Charger.decommissioned_at.is_not(None) if decommissioned else Charger.decommissioned_at.is_(None))
    if site_id is not None:
        stmt = stmt.where(Station.site_id == site_id)
    if connected is not None:
        stmt = stmt.where(Charger.online.is_(connected))
    rows = (await db_session.execute(stmt.order_by(Charger.canonical_id, Charger.charge_box_id))).all()
    points = await _points_of(db_session, ids, [charger.id for charger, _ in rows])
    if status is not None:
        def state_of(charger: Charger) -> str:
            online = bool(charger.online)
            of_points = [states.point_state(p.last_status, charger.last_status, online=online) for p in points[charger.id]]
            return states.charger_state(charger.last_status, of_points, online=online)

        rows = [row for row in rows if state_of(row[0]) == status]
    items = await _stations_out(db_session, rows[(page - 1) * per_page: page * per_page], points, since)
    return StationPage(items=items, total=len(rows), page=page, per_page=per_page, pages=_pages(len(rows), per_page))


@get(
    "/stations/{charge_box_id:str}", tags=[TAG_STATIONS], responses=ERR_READ, summary="Une borne et ses points de charge",
    description=(
        "Par son identité OCPP (charge_box_id). Absente ou chez un autre bénéficiaire : 404. Une borne mise hors "
        "service définitivement reste lisible (`decommissioned_at`, `decommission_reason`), avec son historique."
    ),
)
async def read_station(
    request: Request[Any, Any, Any], db_session: AsyncSession, charge_box_id: str,
    since: Annotated[dt.datetime | None, Parameter(description="Début de la période des coupures et de la disponibilité")] = None,
) -> StationOut:
    ids = await _scope(request, db_session, {"read", "agent"})
    row = (await db_session.execute(_in_service_first(_charger_rows(ids).where(Charger.charge_box_id == charge_box_id)))).first()
    if row is None:
        raise NotFound("borne")
    charger, station = row
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    points = await _points_of(db_session, ids, [charger.id])
    return (await _stations_out(db_session, [(charger, station)], points, since))[0]


def _in_service_first(stmt: Any) -> Any:
    """A charge_box_id retired in one tenant may be in service in another the caller also sees:
    the one in service comes first."""
    return stmt.order_by(Charger.decommissioned_at.is_not(None), Charger.decommissioned_at.desc())


async def _tenant_to_manage(request: Request[Any, Any, Any], session: AsyncSession, tenant_id: uuid.UUID | None) -> uuid.UUID:
    """The tenant a registration writes into: named, or the caller's only one where it registers
    stations (its administrator, or the titulaire's technician: ``register_stations``)."""
    identity = require_identity(request)
    manageable = await reachable_tenants(session, identity, {"register_stations"})
    if tenant_id is not None:
        if tenant_id not in manageable:
            if tenant_id in await reachable_tenants(session, identity, {"read", "agent"}):
                raise Forbidden("Votre profil ne permet pas d'enregistrer des bornes pour ce bénéficiaire.")
            raise NotFound("bénéficiaire")
    elif len(manageable) == 1:
        tenant_id = manageable[0]
    elif not manageable:
        raise Forbidden("Votre profil ne permet pas d'enregistrer des bornes.")
    else:
        raise ValidationFailed({"tenant_id": "Vous enregistrez des bornes pour plusieurs bénéficiaires : précisez tenant_id."})
    scope_session(session, [tenant_id], actor=identity.actor)
    return tenant_id


@post(
    "/stations", tags=[TAG_STATIONS], responses=ERR_WRITE, summary="Enregistrer une borne et ses points de charge",
    description=(
        "Administrateur du bénéficiaire ou technicien du titulaire. Crée la borne (B), ses points (P) et, au besoin, la station (S), avec leurs "
        "identifiants CPAM (CCTP 5-5-1), générés ou donnés (`canonical_id`) ; une borne déjà configurée avec une autre "
        "identité OCPP garde son `charge_box_id`, associé à son identifiant CPAM. Le mot de passe Basic auth, donné ou "
        "généré, est renvoyé en clair une seule fois. Le charge_box_id est unique sur toute la plateforme."
    ),
)
async def create_station(request: Request[Any, Any, Any], db_session: AsyncSession, data: StationCreate) -> StationCreated:
    tenant_id = await _tenant_to_manage(request, db_session, data.tenant_id)
    generated = not data.password
    password = data.password or registry.generate_station_password()
    fields = {
        "charge_box_id": data.charge_box_id, "password": password, "site": data.site, "canonical_id": data.canonical_id,
        "station": data.station, "station_name": data.station_name, "points": data.points, "power_kw": data.power_kw,
        "socket_types": data.socket_types, "usage_name": data.usage_name, "lenient": data.lenient,
        "security_profile": data.security_profile,
    }
    registered = await registry.register_charger(db_session, tenant_id, fields)
    return StationCreated(
        id=registered.charger_id, tenant_id=tenant_id, station_id=registered.station_id,
        charge_box_id=registered.charge_box_id, canonical_id=registered.canonical_id,
        station_canonical_id=registered.station_canonical_id, points=registered.points, password=password,
        password_generated=generated, ocpp_path=f"/ocpp/{registered.charge_box_id}",
    )


ALREADY_DECOMMISSIONED = ResponseSpec(
    data_container=Problem, media_type=PROBLEM, generate_examples=False,
    description="La borne est déjà mise hors service : rien n'est changé (`errors.charge_box_id` dit depuis quand).",
)


@post(
    "/stations/{charge_box_id:str}/decommission", tags=[TAG_STATIONS], status_code=200,
    responses={**ERR_WRITE, 409: ALREADY_DECOMMISSIONED}, summary="Mettre une borne hors service définitivement",
    description=(
        "Administrateur du bénéficiaire (comme pour l'enregistrement). La borne est retirée (CCTP CPAM article 1 : "
        "« le retrait le cas échéant ») : sa connexion en cours est fermée, l'ingress refuse ensuite sa connexion "
        "(404, comme une borne inconnue), ses alertes ouvertes sont closes et ses réservations en cours annulées. "
        "Elle disparaît de `GET /stations` (sauf `decommissioned=true`) ; son historique (recharges, courbes de "
        "charge, connexions) reste consultable. Son charge_box_id redevient libre sur la plateforme, mais pas chez "
        "ce bénéficiaire. Motif obligatoire (422 s'il est vide) ; déjà hors service : 409."
    ),
)
async def decommission_station(
    request: Request[Any, Any, Any], db_session: AsyncSession, charge_box_id: str, data: StationDecommission,
) -> StationOut:
    identity = require_identity(request)
    ids = await _scope(request, db_session, {"read", "agent", "manage_sites"})
    row = (await db_session.execute(_in_service_first(_charger_rows(ids).where(Charger.charge_box_id == charge_box_id)))).first()
    if row is None:
        raise NotFound("borne")
    charger, station = row
    if charger.tenant_id not in await reachable_tenants(db_session, identity, {"manage_sites"}):
        raise Forbidden("Votre profil ne permet pas de mettre des bornes hors service.")
    done = await registry.decommission_charger(db_session, charger.tenant_id, charger, data.reason)
    await db_session.commit()
    await registry.announce_decommission(request.app.state.db, request.app.state.bus, done)
    points = await _points_of(db_session, [charger.tenant_id], [charger.id])
    return (await _stations_out(db_session, [(charger, station)], points, None))[0]


def already_decommissioned(request: Request[Any, Any, Any], exc: registry.AlreadyDecommissioned) -> Response[Any]:
    return problem(request, 409, "Borne déjà mise hors service", errors=exc.errors)


IMPORT_REFUSED = ResponseSpec(
    data_container=ImportProblem, media_type=PROBLEM, generate_examples=False,
    description="Import refusé, rien n'est importé : chaque ligne en erreur avec ses messages (`lines`, `errors`).",
)


def import_problem(request: Request[Any, Any, Any], exc: registry.ImportFailed) -> Response[Any]:
    lines = [ImportLine(line=number, messages=messages) for number, messages in exc.errors.items()]
    body = ImportProblem(
        type="about:blank", title=exc.report()[0], status=422, instance=request.url.path,
        errors={str(line.line): " ; ".join(line.messages) for line in lines}, lines=lines,
    )
    return Response(body, status_code=422, media_type=PROBLEM)


async def _csv_of(request: Request[Any, Any, Any]) -> bytes:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file") or next((v for v in form.values() if hasattr(v, "read")), None)
        if upload is None or not hasattr(upload, "read"):
            raise ValidationFailed({"file": "Joignez le fichier CSV dans le champ « file »."})
        return await upload.read()
    return await request.body()


@post(
    "/stations/import", tags=[TAG_STATIONS], responses={**ERR_WRITE, 422: IMPORT_REFUSED}, status_code=201,
    summary="Importer un parc de bornes (CSV, tout ou rien)",
    description=(
        "Corps : le fichier CSV (`text/csv`, UTF-8, séparateur `;` ou `,`), ou un formulaire `multipart/form-data` "
        "avec le fichier dans le champ `file`. Colonnes : charge_box_id, mot_de_passe (obligatoires), site, "
        "identifiant, station, nom_station, points, puissance_kw, prises, nom_usage, tolerant. Chaque ligne est "
        "vérifiée ; une seule ligne en erreur et rien n'est importé : 422 avec le numéro et les messages de chaque "
        "ligne en erreur."
    ),
)
async def import_stations(
    request: Request[Any, Any, Any], db_session: AsyncSession,
    tenant_id: Annotated[uuid.UUID | None, Parameter(description="Bénéficiaire ; facultatif si l'appelant n'en administre qu'un")] = None,
) -> ImportResult:
    tid = await _tenant_to_manage(request, db_session, tenant_id)
    report = await registry.import_fleet(db_session, tid, await _csv_of(request))
    return ImportResult(tenant_id=tid, imported=len(report.chargers), chargers=[c.as_dict() for c in report.chargers])


# --------------------------------------------------------------------------- transactions


def _transaction_rows(ids: list[uuid.UUID]) -> Any:
    return (
        select(Transaction, Charger.charge_box_id, Charger.canonical_id, ChargePoint.canonical_id)
        .join(Charger, and_(Charger.tenant_id == Transaction.tenant_id, Charger.id == Transaction.charger_id))
        .outerjoin(ChargePoint, and_(ChargePoint.tenant_id == Transaction.tenant_id,
                                     ChargePoint.charger_id == Transaction.charger_id,
                                     ChargePoint.connector_id == Transaction.connector_id))
        .where(Transaction.tenant_id.in_(ids))
    )


def _transaction_out(row: Any) -> TransactionOut:
    tx, charge_box_id, charger_canonical, point_canonical = row
    duration = (tx.stopped_at - tx.started_at).total_seconds() if tx.started_at and tx.stopped_at else None
    return TransactionOut(
        id=tx.id, tenant_id=tx.tenant_id, charge_box_id=charge_box_id, canonical_id=point_canonical or charger_canonical,
        connector_id=tx.connector_id, ocpp_transaction_id=tx.ocpp_transaction_id, status=tx.status, id_tag=tx.id_tag,
        id_tag_status=tx.id_tag_status, meter_start=tx.meter_start, meter_stop=tx.meter_stop, energy_wh=tx.energy_wh,
        started_at=tx.started_at, stopped_at=tx.stopped_at, duration_seconds=duration, stop_reason=tx.stop_reason,
        offline=tx.offline,
    )


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


@get(
    "/transactions", tags=[TAG_TRANSACTIONS], responses=ERR_READ, summary="Recharges (transactions)",
    description=(
        "Les recharges des bornes des bénéficiaires de l'appelant, de la plus récente à la plus ancienne : borne, point, "
        "badge (CCTP 5-5-4 « identification du badge ayant servi à déclencher la recharge »), index de début et de "
        "fin (Wh), énergie, début, fin, données hors ligne. Filtres : borne, badge, période (début de la recharge "
        "dans [since, until[ ; dates sans fuseau lues en UTC), état."
    ),
)
async def list_transactions(
    request: Request[Any, Any, Any], db_session: AsyncSession,
    tenant_id: TenantFilter = None,
    charge_box_id: Annotated[str | None, Parameter(max_length=48, description="Une seule borne")] = None,
    id_tag: Annotated[str | None, Parameter(max_length=36, description="Un seul badge (idTag)")] = None,
    since: Annotated[dt.datetime | None, Parameter(description="Début de la recharge à partir de (inclus)")] = None,
    until: Annotated[dt.datetime | None, Parameter(description="Début de la recharge avant (exclu)")] = None,
    status: Annotated[str | None, Parameter(description="active, completed ou orphan")] = None,
    page: Page = 1, per_page: PerPage = 50,
) -> TransactionPage:
    if status is not None and status not in ("active", "completed", "orphan"):
        raise ValidationFailed({"status": "État de recharge : active, completed ou orphan."})
    ids = await _scope(request, db_session, {"read"}, tenant_id)
    stmt = _transaction_rows(ids)
    moment = func.coalesce(Transaction.started_at, Transaction.stopped_at)
    if charge_box_id:
        stmt = stmt.where(Charger.charge_box_id == charge_box_id)
    if id_tag:
        tag = id_tag.strip().upper()
        stmt = stmt.where(or_(func.upper(Transaction.id_tag) == tag, func.upper(Transaction.stop_id_tag) == tag))
    if since is not None:
        stmt = stmt.where(moment >= _utc(since))
    if until is not None:
        stmt = stmt.where(moment < _utc(until))
    if status:
        stmt = stmt.where(Transaction.status == status)
    total = await db_session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = (await db_session.execute(
        stmt.order_by(moment.desc(), Transaction.id).offset((page - 1) * per_page).limit(per_page)
    )).all()
    return TransactionPage(items=[_transaction_out(r) for r in rows], total=total, page=page, per_page=per_page,
                           pages=_pages(total, per_page))


@get(
    "/transactions/{transaction_id:uuid}", tags=[TAG_TRANSACTIONS], responses=ERR_READ,
    summary="Une recharge et sa courbe de charge",
    description="Avec ses valeurs de compteur (CCTP 5-5-4 « enregistrement des courbes de charge »), dans l'ordre du temps.",
)
async def read_transaction(request: Request[Any, Any, Any], db_session: AsyncSession, transaction_id: uuid.UUID) -> TransactionDetail:
    ids = await _scope(request, db_session, {"read"})
    row = (await db_session.execute(_transaction_rows(ids).where(Transaction.id == transaction_id))).first()
    if row is None:
        raise NotFound("recharge")
    tx = row[0]
    samples = await db_session.scalars(
        select(MeterValue).where(MeterValue.tenant_id == tx.tenant_id, MeterValue.transaction_id == tx.id)
        .order_by(MeterValue.sampled_at, MeterValue.measurand, MeterValue.phase)
    )
    return TransactionDetail(
        transaction=_transaction_out(row),
        meter_values=[MeterValueOut(sampled_at=m.sampled_at, measurand=m.measurand, value=m.value, unit=m.unit,
                                    phase=m.phase, context=m.context, offline=m.offline) for m in samples],
    )


handlers: list[Any] = [
    Router(
        path="/",
        route_handlers=[list_stations, create_station, import_stations, read_station, decommission_station,
                        list_transactions, read_transaction],
        exception_handlers={
            ValidationException: api_validation_error, ClientException: api_client_error, registry.ImportFailed: import_problem,
            registry.AlreadyDecommissioned: already_decommissioned,
        },
    )
]
