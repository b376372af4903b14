"""Remote commands on the web: the station's « Commandes » page and the commands API.

CCTP CPAM 5-4-2-1 (remote operation of the stations) through ``csms.domain.commands``:

* ``/t/{tenant}/bornes/{charge_box_id}/commandes``: the chosen command's typed form
  (``csms.domain.command_forms``: points, badges, running charges, minutes, Reset
  buttons) and, under « Avancé », its JSON box pre-filled with the form's example; a
  command that would cut a running charge first shows a confirmation naming it, a
  SetVariables one showing each variable's stored value and the new one (the answer then
  says, per variable, accepted, accepted at the next reboot, or refused and why); the
  station's answer (HTMX: in place; without JavaScript: the page again) and its log;
* ``POST /api/v1/stations/{charge_box_id}/commands`` ``{"action", "payload",
  "timeout"?}`` → 200 with the station's answer; ``GET`` the same path lists the log.

Sending needs the ``operate_stations`` permission (tenant administrator, the
titulaire's operator); reading the log, ``read``. A station of another tenant is
a 404, like an unknown one. Errors of the API are problem+json: 404, 403, 422
(unknown command, payload failing the OCPP schema: nothing sent), 409 (the
station is offline), 504 (no answer in time), 502 (the station answered with an
OCPP CallError, or the platform could not carry the command).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body
from msgspec import Meta, Struct
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import Page, per_page
from app.db import scope_session
from app.deps import require_identity
from app.errors import Forbidden, NotFound, ValidationFailed
from app.permissions import allowed
from app.shell import (
    PROBLEM,
    Problem,
    api_client_error,
    api_validation_error,
    error_responses,
    render,
    tenant_page,
)
from csms.domain import badges, command_forms, commands, registry
from csms.domain.command_forms import BadgeChoice, FormContext, PointChoice, RunningSession
from csms.domain.commands import (
    ACTIONS,
    CommandError,
    CommandFailed,
    CommandRejected,
    CommandTimeout,
    StationOffline,
)
from csms.domain.models import Badge, ChargePoint, Charger, CommandLog, Transaction
from csms.domain.protocol import MAX_DEPTH, too_deep
from csms.domain.vocabulary import ocpp_word
from csms.web.api import reachable_tenants
from csms.web.device_model import set_outcomes, set_variables_preview
from tenants.context import TenantContext, role_in_tenant

__all__ = ["api_handlers", "portal_handlers"]

PERMISSION = "operate_stations"
TAG = "Commandes à distance"
PER_PAGE = 25
PER_PAGE_MAX = 200
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]

#: What each outcome means, for the log and the answer (French).
STATUS_LABELS = {
    "accepted": "Acceptée", "rejected": "Refusée par la borne", "timeout": "Pas de réponse (délai dépassé)",
    "offline": "Borne hors ligne", "error": "Erreur de transmission", "pending": "En cours",
    "skipped": "Non envoyée : la recharge visée était terminée",
}
#: HTTP status and French title of each failure (API).
FAILURES: dict[type[CommandError], tuple[int, str]] = {
    StationOffline: (409, "Borne hors ligne : la commande n'a pas été envoyée"),
    CommandTimeout: (504, "Délai dépassé : la borne n'a pas répondu"),
    CommandRejected: (502, "La borne a répondu par une erreur OCPP"),
    CommandFailed: (502, "La commande n'a pas pu être transmise à la borne"),
}

#: A short French label and an example payload per command, to fill the form.
LABELS = {
    "RemoteStartTransaction": "Démarrer une recharge", "RequestStartTransaction": "Démarrer une recharge",
    "RemoteStopTransaction": "Arrêter une recharge", "RequestStopTransaction": "Arrêter une recharge",
    "UnlockConnector": "Déverrouiller un connecteur", "Reset": "Redémarrer la borne",
    "ChangeAvailability": "Changer la disponibilité", "GetConfiguration": "Lire la configuration",
    "ChangeConfiguration": "Modifier la configuration", "GetVariables": "Lire des variables",
    "SetVariables": "Modifier des variables", "GetBaseReport": "Demander un rapport de configuration",
    "TriggerMessage": "Demander un message", "ReserveNow": "Réserver un point", "CancelReservation": "Annuler une réservation",
    "SendLocalList": "Envoyer la liste locale des badges", "GetLocalListVersion": "Version de la liste locale",
    "ClearCache": "Vider le cache des badges", "SetChargingProfile": "Envoyer un profil de charge",
    "ClearChargingProfile": "Supprimer un profil de charge", "GetChargingProfiles": "Lire les profils de charge",
    "GetCompositeSchedule": "Lire le programme de charge", "GetTransactionStatus": "État d'une recharge",
    "UpdateFirmware": "Mettre à jour le micrologiciel", "GetDiagnostics": "Récupérer les diagnostics",
    "GetLog": "Récupérer les journaux", "DataTransfer": "Échange propre au constructeur",
    "ExtendedTriggerMessage": "Demander un message (sécurité)", "SignedUpdateFirmware": "Micrologiciel signé",
    "InstallCertificate": "Installer un certificat racine", "DeleteCertificate": "Supprimer un certificat",
    "GetInstalledCertificateIds": "Lister les certificats installés", "CertificateSigned": "Envoyer un certificat signé",
    "GetReport": "Demander un rapport de variables", "GetMonitoringReport": "Demander le rapport des surveillances",
    "SetVariableMonitoring": "Surveiller une variable",
}


def _version(charger: Charger) -> str:
    return commands.version_of(charger.protocol) or "1.6"


# --------------------------------------------------------------------------- API


PerPage = per_page(PER_PAGE_MAX)


class CommandIn(Struct, forbid_unknown_fields=True, kw_only=True):
    action: Annotated[str, Meta(max_length=40, description="Commande OCPP de la version de la borne, par exemple Reset")]
    payload: Annotated[dict[str, Any], Meta(description="Contenu de la commande (JSON OCPP, clés camelCase)")] = msgspec.field(
        default_factory=dict)
    timeout: Annotated[float | None, Meta(description="Délai de réponse en secondes (1 à 300 ; 30 par défaut)")] = None


class CommandOut(Struct, kw_only=True):
    """The station's answer (OCPP CallResult payload, as sent by the station)."""

    command_id: uuid.UUID
    charge_box_id: str
    action: str
    protocol: str
    #: accepted, or rejected when the answer's own ``status`` refuses (Rejected, NotSupported, …)
    status: str
    answer: dict[str, Any]
    duration_ms: int


class CommandLogOut(Struct, kw_only=True):
    id: uuid.UUID
    charge_box_id: str
    action: str
    payload: dict[str, Any]
    protocol: str
    status: str
    answer: dict[str, Any] | None
    error_code: str
    error: str
    requested_at: dt.datetime
    duration_ms: int | None
    actor: str
    node: str

    @classmethod
    def of(cls, row: CommandLog) -> CommandLogOut:
        # Redacted when stored already (csms.domain.commands.redact_payload); again here, for rows logged before.
        return cls(id=row.id, charge_box_id=row.charge_box_id, action=row.action,
                   payload=commands.redact_payload(row.payload), protocol=row.protocol, status=row.status,
                   answer=commands.redact_payload(row.answer), error_code=row.error_code,
                   error=row.error, requested_at=row.requested_at, duration_ms=row.duration_ms, actor=row.actor,
                   node=row.node)


class CommandLogPage(Struct, kw_only=True):
    items: list[CommandLogOut]
    total: int
    page: int
    per_page: int
    pages: int


class CommandProblem(Problem, kw_only=True):
    """A command without an answer: offline, timeout, CallError (``code``), transmission error."""

    detail: str = ""
    command_id: str | None = None
    code: str | None = None
    description: str | None = None
    details: dict[str, Any] | None = None


def _failure(code: int, text: str) -> ResponseSpec:
    return ResponseSpec(data_container=CommandProblem, description=text, media_type=PROBLEM, generate_examples=False)


ERR_SEND = {
    **error_responses(403, 404, 422),
    409: _failure(409, "La borne n'est connectée à aucun ingress : rien n'est envoyé"),
    502: _failure(502, "La borne a répondu par une erreur OCPP (`code`, `description`), ou transmission impossible"),
    504: _failure(504, "La borne n'a pas répondu dans le délai"),
}
ERR_READ = error_responses(403, 404)


def command_problem(request: Request[Any, Any, Any], exc: CommandError) -> Response[Any]:
    status, title = next((v for k, v in FAILURES.items() if isinstance(exc, k)), (502, FAILURES[CommandFailed][1]))
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "instance": request.url.path,
                            "detail": exc.message, "command_id": exc.details.get("command_id")}
    if isinstance(exc, CommandRejected):
        body.update(code=exc.code, description=exc.description, details=exc.error_details)
    return Response(body, status_code=status, media_type=PROBLEM)


async def _station_for(request: Request[Any, Any, Any], session: AsyncSession, charge_box_id: str,
                       permission: str) -> Charger:
    """The caller's station by its OCPP identity; 404 when absent or another tenant's, 403 when its
    profile in the station's tenant lacks ``permission``."""
    identity = require_identity(request)
    ids = await reachable_tenants(session, identity, {"read", "agent", PERMISSION})
    scope_session(session, ids, actor=identity.actor)
    charger = await session.scalar(
        select(Charger).where(Charger.tenant_id.in_(ids), Charger.charge_box_id == charge_box_id)
        # Retired in one tenant, in service in another the caller also sees: the one in service.
        .order_by(Charger.decommissioned_at.is_not(None)).limit(1))
    if charger is None:
        raise NotFound("borne")
    role = await role_in_tenant(session, identity, charger.tenant_id)
    if not allowed(role or "", permission):
        raise Forbidden("Votre profil ne permet pas d'envoyer des commandes aux bornes."
                        if permission == PERMISSION else "Votre profil ne permet pas de lire ce journal.")
    return charger


@post(
    "/stations/{charge_box_id:str}/commands", tags=[TAG], responses=ERR_SEND, status_code=200,
    summary="Envoyer une commande à distance à une borne",
    description=(
        "Administrateur du bénéficiaire ou opérateur du titulaire. La commande (`action`, nom OCPP de la version de la "
        "borne : RemoteStartTransaction en 1.6, RequestStartTransaction en 2.0.1…) et son contenu (`payload`, JSON "
        "OCPP) sont vérifiés avec les schémas OCPP avant l'envoi (422 sinon, rien n'est envoyé), puis transmis à "
        "l'ingress qui tient la connexion de la borne. Réponse : ce que la borne a répondu. Chaque commande est "
        "journalisée (qui, quand, contenu, réponse), même en échec. Une seule commande à la fois par borne : une "
        "commande attend la fin de la précédente, dans la limite de `timeout`."
    ),
)
async def send_command_api(
    request: Request[Any, Any, Any], db_session: AsyncSession, charge_box_id: str, data: CommandIn,
) -> CommandOut:
    charger = await _station_for(request, db_session, charge_box_id, PERMISSION)
    tenant_id, identity = charger.tenant_id, require_identity(request)
    await db_session.commit()  # no database connection held while the station answers
    state = request.app.state
    outcome = await commands.execute_command(
        state.db, state.bus, tenant_id=tenant_id, charge_box_id=charge_box_id, action=data.action,
        payload=data.payload, actor=identity.actor, timeout=data.timeout,
    )
    return CommandOut(command_id=outcome.command_id, charge_box_id=charge_box_id, action=data.action,
                      protocol=outcome.protocol, status=outcome.status, answer=outcome.answer,
                      duration_ms=outcome.duration_ms)


@get(
    "/stations/{charge_box_id:str}/commands", tags=[TAG], responses=ERR_READ,
    summary="Journal des commandes envoyées à une borne",
    description="De la plus récente à la plus ancienne : qui, quand, commande, contenu, résultat, réponse de la borne.",
)
async def list_commands_api(
    request: Request[Any, Any, Any], db_session: AsyncSession, charge_box_id: str,
    page: Page = 1,
    per_page: PerPage = 50,
) -> CommandLogPage:
    charger = await _station_for(request, db_session, charge_box_id, "read")
    rows, total = await _log_page(db_session, charger, page, per_page)
    return CommandLogPage(items=[CommandLogOut.of(r) for r in rows], total=total, page=page, per_page=per_page,
                          pages=max(1, -(-total // per_page)))


async def _log_page(session: AsyncSession, charger: Charger, page: int, per_page: int) -> tuple[list[CommandLog], int]:
    where = (CommandLog.tenant_id == charger.tenant_id, CommandLog.charger_id == charger.id)
    total = await session.scalar(select(func.count()).select_from(CommandLog).where(*where)) or 0
    rows = list(await session.scalars(
        select(CommandLog).where(*where).order_by(CommandLog.requested_at.desc(), CommandLog.id)
        .offset((page - 1) * per_page).limit(per_page)))
    return rows, total


api_handlers: list[Any] = [
    Router(
        path="/",
        route_handlers=[send_command_api, list_commands_api],
        exception_handlers={ValidationException: api_validation_error, ClientException: api_client_error,
                            CommandError: command_problem},
    )
]


# --------------------------------------------------------------------------- portal


def _in_place(request: Request[Any, Any, Any]) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def _shown(value: Any) -> str:
    """A logged payload or answer as the page shows it: secrets redacted (csms.domain.commands.redact_payload)."""
    return _pretty(commands.redact_payload(value))


def _point_label(point: ChargePoint) -> str:
    label = f"Point {point.connector_id} ({point.canonical_id})"
    return f"{label} — {point.usage_name}" if point.usage_name else label


def _badge_label(badge: Badge, now: dt.datetime) -> str:
    label = f"{badge.id_tag} — {badge.holder_label}" if badge.holder_label else badge.id_tag
    if badge.status != "Accepted":
        label += f" ({ocpp_word(badge.status)})"
    elif badge.expires_at is not None and badge.expires_at < now:
        label += " (expiré)"
    return label


async def _form_context(session: AsyncSession, charger: Charger, version: str) -> FormContext:
    """The station's points, the tenant's badges and the charges running on the station, for the forms."""
    now = dt.datetime.now(dt.UTC)
    tid = charger.tenant_id
    points = await registry.list_charge_points(session, tid, charger.id)
    cards = await badges.list_badges(session, tid)
    holders = {b.id_tag: b.holder_label for b in cards}
    running = await session.scalars(
        select(Transaction).where(Transaction.tenant_id == tid, Transaction.charger_id == charger.id,
                                  Transaction.status == "active", Transaction.stopped_at.is_(None))
        .order_by(Transaction.started_at, Transaction.id))
    return FormContext(
        version=version, now=now,
        points=tuple(PointChoice(p.connector_id, _point_label(p)) for p in points),
        badges=tuple(BadgeChoice(b.id_tag, _badge_label(b, now), b.status, b.expires_at) for b in cards),
        running=tuple(RunningSession(t.id, t.ocpp_transaction_id, t.connector_id, t.id_tag, holders.get(t.id_tag, ""),
                                     t.started_at) for t in running),
    )


def _as_text(values: dict[str, Any]) -> dict[str, Any]:
    """Form values as the inputs show them (lists stay lists: the checkboxes)."""
    return {k: v if isinstance(v, list) else ("" if v is None else str(v)) for k, v in values.items()}


def _resubmitted(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The submitted fields again, as hidden inputs of the confirmation form."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        if key in ("_csrf_token", "confirme", "confirme_variables"):
            continue
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, str(item)))
    return pairs


async def _page(
    request: Request[Any, Any, Any], ctx: TenantContext, session: AsyncSession, charger: Charger, *,
    action: str = "", mode: str = "champs", values: dict[str, Any] | None = None, payload_text: str | None = None,
    timeout_text: str = "", errors: dict[str, str] | None = None, result: dict[str, Any] | None = None,
    confirm: dict[str, Any] | None = None, page: int = 1, status: int = 200, block: str = "command_form",
    advanced: bool = False,
) -> Any:
    version = _version(charger)
    action = action if action in ACTIONS[version] else ACTIONS[version][0]
    fctx = await _form_context(session, charger, version)
    form = command_forms.FORMS[version][action]
    if values is None:
        values = command_forms.default_values(form, fctx)
    if payload_text is None:
        payload_text = _pretty(command_forms.example(version, action, fctx))
    rows, total = await _log_page(session, charger, page, PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    url = f"/t/{ctx.tenant_id}/bornes/{charger.charge_box_id}/commandes"
    fields = [{"f": f, "options": command_forms.field_options(f, fctx)} for f in form.fields]
    return render(
        request, "csms/commands.html",
        tenant_page(
            ctx, "stations", charger=charger, version=version, connected=bool(charger.online), page_url=url,
            action_options=[(a, f"{LABELS.get(a, a)} ({a})") for a in ACTIONS[version]], action=action,
            action_label=LABELS.get(action, action), form=form, fields=fields, values=_as_text(values), mode=mode,
            advanced=advanced or mode == "json", payload_text=payload_text, timeout_text=timeout_text,
            errors=errors or {}, result=result, confirm=confirm, running=fctx.running,
            rows=rows, status_labels=STATUS_LABELS, pretty=_shown, ocpp_word=ocpp_word,
            in_place=_in_place(request), log_pager={"page": page, "pages": pages, "total": total,
                   "prev": f"{url}?page={page - 1}" if page > 1 else None,
                   "next": f"{url}?page={page + 1}" if page < pages else None},
        ),
        status=status, block=block,
    )


@get("/t/{tenant_id:uuid}/bornes/{charge_box_id:str}/commandes")
async def commands_page(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, charge_box_id: str,
    action: str = "", page: Page = 1,
) -> Any:
    """The forms and the log; an HTMX request gets the chosen command's forms (its typed fields and
    its JSON example), or the log's page."""
    tenant_ctx.require("read")
    charger = await registry.find_charger_in_tenant(db_session, tenant_ctx.tenant_id, charge_box_id)
    return await _page(request, tenant_ctx, db_session, charger, action=action, page=page,
                       advanced=request.query_params.get("avance") == "1",
                       block="log" if request.query_params.get("page") else "command_form")


def _read_json_form(data: dict[str, Any], version: str, charge_box_id: str) -> tuple[str, Any, Any, dict[str, str]]:
    """(action, payload, timeout, errors) from the « Avancé » JSON form; French field errors."""
    errors: dict[str, str] = {}
    action = str(data.get("action") or "").strip()
    payload: Any = None
    text = str(data.get("payload") or "").strip() or "{}"
    if too_deep(text):
        errors["payload"] = f"JSON trop imbriqué : {MAX_DEPTH} niveaux de listes et d'objets au plus."
    else:
        try:
            payload = json.loads(text)
        except ValueError as exc:
            errors["payload"] = (f"JSON invalide (ligne {exc.lineno}, colonne {exc.colno}) : vérifiez guillemets, "
                                 "virgules et accolades.")
    timeout: Any = None
    raw_timeout = str(data.get("timeout") or "").strip().replace(",", ".")
    if raw_timeout:
        try:
            timeout = float(raw_timeout)
        except ValueError:
            errors["timeout"] = "Délai en secondes attendu (par exemple 30)."
    if not errors:
        try:
            commands.validate_command(version, action, payload)
            commands.station_password_change(version, action, payload, charge_box_id)
            commands.check_timeout(timeout)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    return action, payload, timeout, errors


def _read_typed_form(data: dict[str, Any], version: str, charge_box_id: str, fctx: FormContext
                     ) -> tuple[str, Any, dict[str, str]]:
    """(action, payload, errors) from a command's typed form: its fields, then the OCPP schema."""
    action = str(data.get("action") or "").strip()
    try:
        commands.validate_command(version, action, {})
    except ValidationFailed as exc:
        if "action" in exc.errors:
            return action, None, {"action": exc.errors["action"]}
    payload, errors = command_forms.build_payload(version, action, data, fctx)
    if not errors:
        try:
            commands.validate_command(version, action, payload)
            commands.station_password_change(version, action, payload or {}, charge_box_id)
        except ValidationFailed as exc:
            errors = {"formulaire": f"Commande refusée avant l'envoi : {'; '.join(exc.errors.values())}"}
    return action, payload, errors


def _confirmation(sessions: list[RunningSession], data: dict[str, Any], action: str, base: str) -> dict[str, Any]:
    return {
        "action": action, "label": LABELS.get(action, action), "hidden": _resubmitted(data),
        "ids": ",".join(s.ocpp_transaction_id for s in sessions),
        "sessions": [{"label": command_forms.session_label(s), "started_at": s.started_at,
                      "href": f"{base}/recharges/{s.id}"} for s in sessions],
    }


@post("/t/{tenant_id:uuid}/bornes/{charge_box_id:str}/commandes")
async def commands_send(
    request: Request[Any, Any, Any], tenant_ctx: TenantContext, db_session: AsyncSession, charge_box_id: str,
    data: Form,
) -> Any:
    """Send the command of the typed form (``mode=champs``) or of the JSON box (``mode=json``).

    A command that would cut a running charge is not sent at the first post: the answer is a
    confirmation naming the charges, whose button posts the same fields again with
    ``confirme`` (their ids; a charge started meanwhile asks again). A SetVariables likewise shows
    each variable's stored value and the new one first (``confirme_variables``: the digest of the
    values shown; a model changed meanwhile asks again). HTMX gets the confirmation,
    the answer and the log in place (200 even for an error, which htmx would not swap
    otherwise), or the form again with its errors; a plain form post the page (422 for bad input).
    """
    tenant_ctx.require(PERMISSION)
    tid = tenant_ctx.tenant_id
    charger = await registry.find_charger_in_tenant(db_session, tid, charge_box_id)
    htmx = _in_place(request)
    version = _version(charger)
    # The JSON box says ``mode=json``; a post with a ``payload`` and no mode (a script written
    # for the page before the typed forms) is the JSON box too.
    mode = "json" if data.get("mode") == "json" or ("mode" not in data and "payload" in data) else "champs"
    fctx = await _form_context(db_session, charger, version)
    timeout: Any = None
    if mode == "json":
        action, payload, timeout, errors = _read_json_form(data, version, charger.charge_box_id)
        payload_text: str | None = str(data.get("payload") or "")
        if payload is not None and commands.redact_payload(payload) != payload:
            payload_text = _shown(payload)  # a secret typed in is never sent back in the page
        form: dict[str, Any] = {"action": action, "mode": mode, "payload_text": payload_text,
                                "timeout_text": str(data.get("timeout") or "")}
    else:
        action, payload, errors = _read_typed_form(data, version, charger.charge_box_id, fctx)
        known = command_forms.FORMS[version].get(action)
        values = {f.name: data.get(f.name, [] if f.kind == "badges" else "") for f in known.fields} if known else None
        form = {"action": action, "mode": mode, "values": values}
    if errors:  # nothing sent, nothing logged
        response = await _page(request, tenant_ctx, db_session, charger, **form, errors=errors,
                               status=200 if htmx else 422, block="command_form")
        if htmx:
            response.headers.update({"HX-Retarget": "#commande", "HX-Reswap": "outerHTML"})
        return response
    cut = command_forms.interrupted_sessions(version, action, payload, fctx.running)
    confirmed = set(str(data.get("confirme") or "").split(","))
    if cut and not {s.ocpp_transaction_id for s in cut} <= confirmed:
        confirm = _confirmation(cut, data, action, f"/t/{tid}")
        return await _page(request, tenant_ctx, db_session, charger, **form, confirm=confirm, block="outcome")
    if action == "SetVariables" and isinstance(payload, dict):
        # Issue 17 §2: each variable's stored value and the new one, confirmed before anything is sent.
        preview = await set_variables_preview(db_session, charger, payload)
        if str(data.get("confirme_variables") or "") != preview.digest:
            confirm = {"kind": "variables", "action": action, "label": LABELS.get(action, action),
                       "hidden": _resubmitted(data), "digest": preview.digest, "rows": preview.rows}
            return await _page(request, tenant_ctx, db_session, charger, **form, confirm=confirm, block="outcome")
    await db_session.commit()  # no database connection held while the station answers
    state = request.app.state
    result: dict[str, Any]
    try:
        outcome = await commands.execute_command(
            state.db, state.bus, tenant_id=tid, charge_box_id=charge_box_id, action=action, payload=payload,
            actor=tenant_ctx.identity.actor, timeout=timeout if timeout is not None else commands.DEFAULT_TIMEOUT,
        )
        answer = outcome.answer.get("status") if isinstance(outcome.answer, dict) else None
        result = {"ok": True, "status": outcome.status, "label": STATUS_LABELS[outcome.status],
                  "answer": _pretty(outcome.answer), "answer_status": ocpp_word(answer) if answer else "",
                  "duration_ms": outcome.duration_ms, "action": action}
        if action == "SetVariables" and isinstance(payload, dict):
            result["variables"] = set_outcomes(payload, outcome.answer)
    except CommandError as exc:
        detail = exc.message
        if isinstance(exc, CommandRejected) and exc.description:
            detail += f" ({exc.description})"
        result = {"ok": False, "status": exc.status, "label": STATUS_LABELS.get(exc.status, exc.status),
                  "detail": detail, "action": action}
    return await _page(request, tenant_ctx, db_session, charger, **form, result=result, block="outcome")


portal_handlers: list[Any] = [commands_page, commands_send]
