"""Remote commands: one OCPP call from the CSMS to a station, wherever its socket is held.

CCTP CPAM 5-4-2-1 (« prise en main à distance » of the stations) and 5-5
(supervision): an operator or an administrator sends a command (remote start,
reset, unlock, configuration, …) from the portal or the API; every command is
logged with who sent it, when, what, and the station's answer.

Routing (DESIGN.md « Scaled mode »: a command from any web process reaches the
ingress process that holds the station's socket):

* every ingress process serves the bus topic ``ocpp.node.<node>`` (its node is
  ``host:port``, the value written in ``charger_connections.node``);
* ``send_command`` reads the station's open connection row to learn which node
  holds it, and sends a bus request to that node. No open connection → the
  station is offline (``StationOffline`` at once, no waiting for a timeout);
  nobody serving that node's topic (the process died) → offline too;
* the station may have moved to another ingress meanwhile: the old node answers
  ``not_connected``, the row is read again and the request follows the station
  to its new node (a bounded number of times).

One call in flight per station (OCPP-J 1.6 §4.1.1 / 2.0.1 §4.2.1: « a CSMS
SHOULD NOT send a CALL … while a previous CALL is waiting for its result »):
each station link in the ingress owns a ``CallChannel`` whose lock serialises
every CSMS-initiated call, these and the library's own ``ChargePoint.call``
(``ConnectionRegistry.call``). ``timeout`` bounds the whole command: waiting for
the previous call to finish, then the station's answer.

Validation: the action must be a command the CSMS sends in the station's OCPP
version, and the payload must pass that version's JSON schema (the library's
own schemas, compiled by ``csms.domain.protocol``); otherwise ``ValidationFailed``
and nothing is sent nor logged. OCPP 1.6 names are NOT translated for 2.0.1
stations (their payloads differ, e.g. ``idTag`` vs ``idToken {idToken, type}``):
a 1.6 name sent to a 2.0.1 station is refused with the 2.0.1 name to use, and
the other way round.

Calls are sent as raw OCPP-J frames with the payload as given (camelCase keys)
and the station's answer comes back as it was on the wire.

Secrets: what is logged and shown of a command (the log rows, the API, the portal)
goes through ``redact_payload``: a station password (OCPP 1.6 ``AuthorizationKey``,
2.0.1 ``BasicAuthPassword``), any field named like a password or a private key, a
PEM private key anywhere, are replaced by « [masqué] ». Only the station gets them.
A station password change (``station_password_change``) accepted by the station
becomes the station's Basic-auth password at once (its hash, as at registration)
and the old one stops working; until the answer the hash is kept in memory only.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fastjsonschema
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.bus import Bus, BusRequestError, NoResponder
from app.db import Database, utcnow
from app.errors import NotFound, ValidationFailed
from csms.domain import device_model, passwords
from csms.domain.events import node_topic
from csms.domain.models import Charger, CommandLog, ConnectionLog, Transaction
from csms.domain.protocol import compile_validator

if TYPE_CHECKING:
    from csms.domain.ports import IngressPort

__all__ = [
    "ACTIONS",
    "CallChannel",
    "CommandOutcome",
    "CommandError",
    "CommandFailed",
    "CommandRejected",
    "CommandSkipped",
    "CommandTimeout",
    "REDACTED",
    "PasswordChange",
    "StationNotFound",
    "StationOffline",
    "close_station",
    "list_commands",
    "node_topic",
    "execute_command",
    "redact_payload",
    "send_command",
    "serve_commands",
    "station_password_change",
    "validate_command",
]

log = logging.getLogger(__name__)

#: CSMS-initiated actions that may be sent, per OCPP version (CCTP CPAM 5-4-2-1).
ACTIONS: dict[str, tuple[str, ...]] = {
    "1.6": (
        "RemoteStartTransaction", "RemoteStopTransaction", "UnlockConnector", "Reset", "ChangeAvailability",
        "GetConfiguration", "ChangeConfiguration", "TriggerMessage", "ReserveNow", "CancelReservation",
        "SendLocalList", "GetLocalListVersion", "ClearCache", "SetChargingProfile", "ClearChargingProfile",
        "GetCompositeSchedule", "UpdateFirmware", "GetDiagnostics", "DataTransfer",
        # OCPP 1.6 Security Whitepaper ed. 3 (issue 17 §3)
        "ExtendedTriggerMessage", "GetLog", "SignedUpdateFirmware", "InstallCertificate", "DeleteCertificate",
        "GetInstalledCertificateIds", "CertificateSigned",
    ),
    "2.0.1": (
        "RequestStartTransaction", "RequestStopTransaction", "UnlockConnector", "Reset", "ChangeAvailability",
        "GetVariables", "SetVariables", "GetBaseReport", "TriggerMessage", "ReserveNow", "CancelReservation",
        "SendLocalList", "GetLocalListVersion", "ClearCache", "SetChargingProfile", "ClearChargingProfile",
        "GetChargingProfiles", "GetCompositeSchedule", "GetTransactionStatus", "UpdateFirmware", "GetLog",
        "DataTransfer",
        # The device model (issue 17 §2): answered by NotifyReport / NotifyMonitoringReport parts.
        "GetReport", "GetMonitoringReport", "SetVariableMonitoring",
        # Station certificates (issue 17 §3)
        "CertificateSigned", "InstallCertificate", "DeleteCertificate", "GetInstalledCertificateIds",
    ),
}
#: OCPP 1.6 name → its OCPP 2.0.1 counterpart, for the error message (no translation is made).
EQUIVALENTS = {
    "RemoteStartTransaction": "RequestStartTransaction",
    "RemoteStopTransaction": "RequestStopTransaction",
    "GetConfiguration": "GetVariables",
    "ChangeConfiguration": "SetVariables",
    "GetDiagnostics": "GetLog",
}
PROTOCOL_VERSIONS = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}
DEFAULT_TIMEOUT = 30.0
MIN_TIMEOUT, MAX_TIMEOUT = 1.0, 300.0
#: Extra time the requester waits for the ingress's reply beyond the command's own timeout.
BUS_MARGIN = 3.0
#: How many times a command follows a station that moved to another ingress.
MAX_HOPS = 3
#: Answer ``status`` values that mean the station did (or will do) what was asked.
POSITIVE_STATUSES = frozenset({"Accepted", "Unlocked", "Scheduled", "RebootRequired"})


# --------------------------------------------------------------------------- errors


class StationNotFound(NotFound):
    """No such station in this tenant (absent, or another tenant's: the two look alike)."""


class CommandError(Exception):
    """The command could not get an answer from the station; ``status`` is what the log says."""

    status = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class StationOffline(CommandError):
    """No ingress process holds a socket of the station."""

    status = "offline"


class CommandTimeout(CommandError):
    """The station did not answer in time (or its previous call was still pending)."""

    status = "timeout"


class CommandRejected(CommandError):
    """The station answered with an OCPP CallError."""

    status = "rejected"

    def __init__(self, message: str, *, code: str, description: str = "", details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.description = description
        self.error_details = details if isinstance(details, dict) else {}


class CommandFailed(CommandError):
    """The platform failed to carry the command (bus or ingress error)."""

    status = "error"


class CommandSkipped(CommandError):
    """Not sent: the transaction it was for had ended when its turn came (``only_if_active``)."""

    status = "skipped"


# --------------------------------------------------------------------------- validation


def _field(exc: fastjsonschema.JsonSchemaValueException) -> str:
    return (exc.name or "data").removeprefix("data").lstrip(".") or ""


#: Why an address is not a URI (RFC 3986 §2.1: the other characters are percent-encoded).
URI_MESSAGE = ("adresse invalide : les espaces, les lettres accentuées et les caractères comme | [ ] s'écrivent "
               "encodés (par exemple %20 pour une espace).")
_TYPES = {"string": "texte", "integer": "nombre entier", "number": "nombre", "boolean": "booléen (true/false)",
          "object": "objet", "array": "liste"}


def _french(exc: fastjsonschema.JsonSchemaValueException) -> str:
    """A French message for a schema failure, naming the field."""
    where = _field(exc)
    prefix = f"« {where} » : " if where else ""
    rule, definition, value = exc.rule, exc.rule_definition, exc.value
    if rule == "required":
        present = value if isinstance(value, dict) else {}
        missing = [name for name in definition or () if name not in present]
        inside = f" dans « {where} »" if where else ""
        return f"Champ obligatoire manquant{inside} : {', '.join(missing)}."
    if rule == "additionalProperties":
        return f"{prefix}champ inconnu pour cette commande ({exc.message.split('contain', 1)[-1].strip()})."
    if rule == "type":
        wanted = definition if isinstance(definition, list) else [definition]
        return f"{prefix}{' ou '.join(_TYPES.get(str(t), str(t)) for t in wanted)} attendu."
    if rule == "enum":
        return f"{prefix}valeur non autorisée ; valeurs possibles : {', '.join(map(str, definition))}."
    if rule == "maxLength":
        return f"{prefix}{definition} caractères au plus."
    if rule == "minLength":
        return f"{prefix}{definition} caractères au moins."
    if rule in ("minimum", "exclusiveMinimum"):
        return f"{prefix}valeur trop petite (minimum {definition})."
    if rule in ("maximum", "exclusiveMaximum"):
        return f"{prefix}valeur trop grande (maximum {definition})."
    if rule == "format" and definition == "uri":
        return f"{prefix}{URI_MESSAGE}"
    if rule == "format":
        return f"{prefix}date et heure ISO 8601 avec fuseau attendue (ex. 2026-12-01T08:00:00Z)."
    if rule in ("minItems", "maxItems"):
        return f"{prefix}nombre d'éléments hors des limites ({rule} {definition})."
    if rule == "multipleOf":
        return f"{prefix}doit être un multiple de {definition}."
    return f"{prefix}valeur invalide."


def version_of(protocol: str) -> str | None:
    """``ocpp1.6`` → ``1.6``; None for a station that never connected."""
    return PROTOCOL_VERSIONS.get(protocol)


def validate_command(version: str | None, action: Any, payload: Any) -> str:
    """Check the action and payload for a station speaking ``version``; return the version used.

    A station that never connected has no version yet: the action's own version decides
    (an action both versions share is checked against 1.6).
    """
    if not isinstance(action, str) or not action:
        raise ValidationFailed({"action": "Commande obligatoire."})
    if version is None:
        version = next((v for v in ("1.6", "2.0.1") if action in ACTIONS[v]), "1.6")
    if action not in ACTIONS[version]:
        other = "2.0.1" if version == "1.6" else "1.6"
        if action in ACTIONS[other]:
            equivalent = EQUIVALENTS.get(action) or next((k for k, v in EQUIVALENTS.items() if v == action), None)
            hint = f" ; utilisez {equivalent}" if equivalent and equivalent in ACTIONS[version] else ""
            message = f"{action} est une commande OCPP {other} ; cette borne parle OCPP {version}{hint}."
        else:
            message = f"Commande inconnue : {action}. Commandes OCPP {version} possibles : {', '.join(ACTIONS[version])}."
        raise ValidationFailed({"action": message})
    if not isinstance(payload, dict):
        raise ValidationFailed({"payload": "Objet JSON attendu (par exemple {})."})
    validate = compile_validator(version, action, 2)
    assert validate is not None, (version, action)
    try:
        validate(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise ValidationFailed({"payload": _french(exc)}) from None
    return version


# --------------------------------------------------------------------------- secrets

#: What is shown instead of a secret (log rows, API, portal).
REDACTED = "[masqué]"
#: A field or configuration key / variable whose name contains one of these holds a secret.
SECRET_NAMES = ("password", "passwd", "authorizationkey", "secret", "privatekey")
PRIVATE_KEY_MARK = "PRIVATE KEY-----"


def is_secret_name(name: Any) -> bool:
    """``AuthorizationKey``, ``BasicAuthPassword``, ``private_key``, ``clientSecret``…"""
    if not isinstance(name, str):
        return False
    folded = "".join(char for char in name.lower() if char.isalnum())
    return any(mark in folded for mark in SECRET_NAMES)


def redact_payload(payload: Any) -> Any:
    """A copy of a command's payload or answer with every secret replaced by ``REDACTED``.

    The one place that decides what is secret, used wherever a payload is stored or shown:

    * a configuration entry ``{"key": <secret name>, "value": ...}`` (OCPP 1.6
      ChangeConfiguration, GetConfiguration's answer): its ``value``;
    * a variable ``{"variable": {"name": <secret name>}, "attributeValue": ...}`` (OCPP 2.0.1
      SetVariables / GetVariables, e.g. SecurityCtrlr.BasicAuthPassword): its ``attributeValue``;
    * any field whose own name is a secret name (``password``, ``privateKey``…);
    * any text holding a PEM private key (``-----BEGIN … PRIVATE KEY-----``), e.g. in DataTransfer.
    """
    if isinstance(payload, str):
        return REDACTED if PRIVATE_KEY_MARK in payload else payload
    if isinstance(payload, list):
        return [redact_payload(value) for value in payload]
    if not isinstance(payload, dict):
        return payload
    variable = payload.get("variable")
    secret_entry = is_secret_name(payload.get("key")) or (
        isinstance(variable, dict) and is_secret_name(variable.get("name")))
    out: dict[Any, Any] = {}
    for key, value in payload.items():
        if value not in (None, "") and (is_secret_name(key) or (secret_entry and key in ("value", "attributeValue"))):
            out[key] = REDACTED
        else:
            out[key] = redact_payload(value)
    return out


@dataclass
class PasswordChange:
    """A command that sets the station's Basic-auth password: the hash of the new one, and where
    the station's answer says whether it took it (``index``: its SetVariables entry, 2.0.1)."""

    password_hash: str
    index: int | None = None

    def accepted(self, answer: dict[str, Any]) -> bool:
        if self.index is None:  # OCPP 1.6 ChangeConfiguration.conf
            return answer.get("status") in ("Accepted", "RebootRequired")
        results = answer.get("setVariableResult")
        if not isinstance(results, list):
            return False
        # 2.0.1 SetVariablesResponse: one result per entry, naming its component and variable.
        return any(isinstance(r, dict) and _is_basic_auth_password(r)
                   and r.get("attributeStatus") in ("Accepted", "RebootRequired") for r in results)


#: OCPP-J 1.6 §6.2 / OCPP 1.6 Security Whitepaper: the AuthorizationKey is the hex encoding of a
#: password of 16 to 20 bytes (40 hex characters at most).
AUTHORIZATION_KEY_BYTES = (16, 20)


def _authorization_key_password(value: Any, charge_box_id: str) -> bytes | str:
    """The Basic-auth password an OCPP 1.6 ``AuthorizationKey`` value sets.

    OCPP-J 1.6 §6.2 (security profiles 1 and 2) and the Compliance Testing Tool (TC_073): the
    value is the hexadecimal representation of the password, 16 to 20 bytes, which the station
    decodes and presents in Basic auth. A value that is not such hex is taken as the password
    itself (firmwares that do not decode it), under the platform's rule for station passwords.
    """
    text = value if isinstance(value, str) else ""
    low, high = AUTHORIZATION_KEY_BYTES
    if len(text) % 2 == 0 and 2 * low <= len(text) <= 2 * high:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    if problem := passwords.check_station_password(text, charge_box_id):
        raise ValidationFailed({"payload": (
            f"AuthorizationKey : représentation hexadécimale d'un mot de passe de {low} à {high} octets "
            f"attendue (OCPP-J 1.6 §6.2), ou un mot de passe de borne valable. {problem}")})
    return text


def _is_basic_auth_password(entry: dict[str, Any]) -> bool:
    component, variable = entry.get("component"), entry.get("variable")
    return (isinstance(component, dict) and component.get("name") == "SecurityCtrlr"
            and isinstance(variable, dict) and variable.get("name") == "BasicAuthPassword")


def station_password_change(version: str, action: str, payload: dict[str, Any],
                            charge_box_id: str) -> PasswordChange | None:
    """The station password a command sets, checked, as a hash; None for any other command.

    * OCPP 1.6: ChangeConfiguration of ``AuthorizationKey`` (OCPP-J 1.6 §6.2, security profiles 1 and 2);
    * OCPP 2.0.1: SetVariables of ``SecurityCtrlr.BasicAuthPassword`` (use case A01, « Update Charging
      Station Password for HTTP Basic Authentication »), a password of 16 to 40 characters.
    """
    if version == "1.6" and action == "ChangeConfiguration" and payload.get("key") == "AuthorizationKey":
        return PasswordChange(passwords.hash_station_password(_authorization_key_password(payload.get("value"), charge_box_id)))
    if version == "2.0.1" and action == "SetVariables":
        entries = [(i, e) for i, e in enumerate(payload.get("setVariableData") or [])
                   if isinstance(e, dict) and _is_basic_auth_password(e)]
        if not entries:
            return None
        if len(entries) > 1:
            raise ValidationFailed({"payload": "Un seul nouveau mot de passe BasicAuthPassword par commande."})
        index, entry = entries[0]
        password = entry.get("attributeValue")
        if problem := passwords.check_station_password(password if isinstance(password, str) else "", charge_box_id):
            raise ValidationFailed({"payload": f"BasicAuthPassword : {problem}"})
        return PasswordChange(passwords.hash_station_password(password), index)
    return None


def check_timeout(value: Any) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, int | float) or not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
        raise ValidationFailed({"timeout": f"Délai en secondes entre {MIN_TIMEOUT:g} et {MAX_TIMEOUT:g} attendu."})
    return float(value)


# --------------------------------------------------------------------------- ingress side


class CallChannel:
    """CSMS-initiated calls of one station link: one in flight, answers matched by unique id.

    The link's ``route_message`` hands every CallResult/CallError to ``resolve``
    first; an answer to one of our calls stops there (the library never sees it).
    """

    #: Unique ids of calls that timed out: their late answers are swallowed.
    EXPIRED_KEPT = 64

    def __init__(self, send: Callable[[str], Awaitable[None]]) -> None:
        self.lock = asyncio.Lock()
        self._send = send
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._expired: collections.deque[str] = collections.deque(maxlen=self.EXPIRED_KEPT)
        self._closed = False

    def resolve(self, unique_id: str, raw: str | bytes) -> bool:
        """Deliver an answer frame; False when it answers no call of ours."""
        future = self._pending.get(unique_id)
        if future is None:
            return unique_id in self._expired
        if not future.done():
            future.set_result(raw)
        return True

    def close(self) -> None:
        """The socket is gone: every waiting call ends now, as offline."""
        self._closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(StationOffline("La borne s'est déconnectée pendant la commande."))

    async def call(self, action: str, payload: dict[str, Any], timeout: float,  # noqa: ASYNC109
                   guard: Callable[[], Awaitable[bool]] | None = None) -> dict[str, Any]:
        """Send one call, wait for its answer; ``timeout`` covers the wait for the previous call too.

        ``guard``, when given, is asked once the call's turn has come (the previous call
        answered), right before sending: False raises ``CommandSkipped`` and nothing is sent.

        Returns the bus reply: ``{"outcome": "result", "answer": {...}}`` or
        ``{"outcome": "call_error", "code": ..., ...}``; raises ``CommandError``.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                await self.lock.acquire()
        except TimeoutError:
            raise CommandTimeout("Une autre commande était en cours sur la borne ; délai dépassé.", busy=True) from None
        unique_id = str(uuid.uuid4())
        try:
            if self._closed:
                raise StationOffline("La borne s'est déconnectée.")
            if guard is not None and not await guard():
                raise CommandSkipped("La recharge visée est terminée : commande non envoyée.")
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending[unique_id] = future
            try:
                await self._send(json.dumps([2, unique_id, action, payload], separators=(",", ":")))
                async with asyncio.timeout_at(deadline):
                    raw = await future
            except TimeoutError:
                self._expired.append(unique_id)
                raise CommandTimeout("La borne n'a pas répondu dans le délai.") from None
            finally:
                self._pending.pop(unique_id, None)
        finally:
            self.lock.release()
        return _reply_of(raw)


def _reply_of(raw: str | bytes) -> dict[str, Any]:
    msg = json.loads(raw)
    if msg[0] == 3:
        answer = msg[2] if len(msg) > 2 else None
        return {"outcome": "result", "answer": answer if isinstance(answer, dict) else {}}
    code = msg[2] if len(msg) > 2 and isinstance(msg[2], str) else "GenericError"
    description = msg[3] if len(msg) > 3 and isinstance(msg[3], str) else ""
    details = msg[4] if len(msg) > 4 and isinstance(msg[4], dict) else {}
    return {"outcome": "call_error", "code": code, "description": description, "details": details}


#: Sockets being closed on request (``close_station``): referenced until done.
_closing: set[asyncio.Task[None]] = set()


def _transaction_active(db: Database, tenant_id: uuid.UUID, transaction_id: uuid.UUID) -> Callable[[], Awaitable[bool]]:
    """Is the transaction still running? Asked with the station's call slot held: its stop, once
    answered, is committed (csms.ingress.server answers only after the commit), so a profile that waited
    behind another call is never sent to a transaction that ended meanwhile."""

    async def active() -> bool:
        async with db.session([tenant_id]) as session:
            row = (await session.execute(
                select(Transaction.status, Transaction.stopped_at)
                .where(Transaction.tenant_id == tenant_id, Transaction.id == transaction_id)
            )).first()
        return row is not None and row.status == "active" and row.stopped_at is None

    return active


async def serve_commands(ingress: IngressPort) -> Callable[[], Awaitable[None]]:
    """Answer the commands addressed to this ingress process (``ocpp.node.<node>``)."""

    async def handle(topic: str, request: dict[str, Any]) -> dict[str, Any]:
        link = ingress.registry.get(str(request.get("charge_box_id", "")))
        if link is None or str(link.ref.tenant_id) != request.get("tenant_id"):
            return {"outcome": "not_connected"}
        if request.get("op") == "close":  # ``close_station``: no OCPP call, the socket itself
            # What the connection log will say (``Ingress._disconnect_reason``), e.g. « decommissioned ».
            link.close_reason = str(request.get("reason") or "closed_by_server")[:40]
            # Not awaited: the closing handshake may take the station up to websockets' close timeout.
            closing = asyncio.create_task(link.websocket.close(int(request.get("code") or 1000),
                                                               str(request.get("message") or "")[:60]))
            _closing.add(closing)
            closing.add_done_callback(_closing.discard)
            return {"outcome": "closed", "node": ingress.node}
        timeout = float(request.get("timeout") or DEFAULT_TIMEOUT)
        guard = None
        if request.get("only_if_active"):
            guard = _transaction_active(ingress.db, link.ref.tenant_id, uuid.UUID(str(request["only_if_active"])))
        try:
            reply = await link.commands.call(str(request["action"]), request.get("payload") or {}, timeout, guard)
        except CommandError as exc:
            return {"outcome": exc.status, "message": exc.message, **exc.details}
        return {**reply, "node": ingress.node}

    return await ingress.bus.serve(node_topic(ingress.node), handle)


# --------------------------------------------------------------------------- web side


@dataclass
class _Target:
    charger_id: uuid.UUID
    protocol: str
    node: str | None


async def _locate(db: Database, tenant_id: uuid.UUID, charge_box_id: str) -> _Target:
    async with db.session([tenant_id]) as session:
        charger = await session.scalar(
            select(Charger).where(Charger.tenant_id == tenant_id, Charger.charge_box_id == charge_box_id)
        )
        if charger is None:
            raise StationNotFound("borne")
        row = (await session.execute(
            select(ConnectionLog.node, ConnectionLog.subprotocol)
            .where(ConnectionLog.tenant_id == tenant_id, ConnectionLog.charger_id == charger.id,
                   ConnectionLog.disconnected_at.is_(None))
            .order_by(ConnectionLog.connected_at.desc()).limit(1)
        )).first()
        if row is None:
            return _Target(charger.id, charger.protocol, None)
        return _Target(charger.id, row.subprotocol or charger.protocol, row.node)


#: A socket just opened has its connection row committed by the ingress's next group commit, not
#: before its first frames are read (csms.ingress.server): a command that finds no open row looks again for
#: this long before answering « hors ligne ».
CONNECTING_GRACE = 1.0


async def _await_connection(db: Database, tenant_id: uuid.UUID, charge_box_id: str) -> str | None:
    deadline = time.monotonic() + CONNECTING_GRACE
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        node = (await _locate(db, tenant_id, charge_box_id)).node
        if node:
            return node
    return None


async def _route(bus: Bus, db: Database, tenant_id: uuid.UUID, charge_box_id: str, target: _Target,
                 request: dict[str, Any], timeout: float) -> tuple[dict[str, Any], str]:  # noqa: ASYNC109
    """Send the request to the node holding the station, following it if it moved; (reply, node)."""
    deadline = time.monotonic() + timeout + BUS_MARGIN
    node = target.node or await _await_connection(db, tenant_id, charge_box_id)
    tried: list[str] = []
    while True:
        if not node or len(tried) >= MAX_HOPS:
            raise StationOffline("La borne n'est connectée à aucun ingress OCPP.")
        tried.append(node)
        if len(tried) > 1:  # the next node gets what is left of the command's time
            request = {**request, "timeout": max(MIN_TIMEOUT, deadline - BUS_MARGIN - time.monotonic())}
        try:
            reply = await bus.request(node_topic(node), request, timeout=max(0.5, deadline - time.monotonic()))
        except NoResponder:
            reply = {"outcome": "not_connected"}  # that ingress process is gone
        except TimeoutError:
            raise CommandTimeout("La borne n'a pas répondu dans le délai.") from None
        except BusRequestError as exc:
            raise CommandFailed(f"Erreur de l'ingress OCPP : {exc}") from None
        if reply.get("outcome") != "not_connected":
            return reply, node
        # Reconnected elsewhere meanwhile? Follow the station once its new connection is recorded.
        moved = (await _locate(db, tenant_id, charge_box_id)).node
        node = moved if moved and moved not in tried else None


async def _log_start(db: Database, tenant_id: uuid.UUID, target: _Target, charge_box_id: str, action: str,
                     payload: dict[str, Any], actor: dict[str, Any], protocol: str) -> uuid.UUID:
    async with db.transaction([tenant_id], actor=actor) as session:
        row = CommandLog(
            tenant_id=tenant_id, charger_id=target.charger_id, charge_box_id=charge_box_id, action=action,
            payload=redact_payload(payload), protocol=protocol, status="pending", requested_at=utcnow(),
            user_id=actor.get("user_id") if isinstance(actor.get("user_id"), uuid.UUID) else None,
            actor=str(actor.get("label") or "")[:200],
        )
        session.add(row)
    return row.id


async def _log_end(db: Database, tenant_id: uuid.UUID, log_id: uuid.UUID, actor: dict[str, Any], *,
                   charger_id: uuid.UUID, new_password_hash: str | None = None,
                   device_answer: tuple[str, dict[str, Any], dict[str, Any]] | None = None, **values: Any) -> None:
    """Complete the log row; with ``new_password_hash``, the station's password changes in the same commit;
    with ``device_answer`` (action, payload, answer), the station's device model is updated in it too."""
    async with db.transaction([tenant_id], actor=actor) as session:
        if device_answer is not None:
            await device_model.record_command_answer(session, tenant_id, charger_id, *device_answer, at=utcnow())
        await session.execute(
            update(CommandLog).where(CommandLog.tenant_id == tenant_id, CommandLog.id == log_id)
            .values(**values).execution_options(synchronize_session=False)
        )
        if new_password_hash is not None:
            charger = await session.get(Charger, (tenant_id, charger_id))
            if charger is not None:
                charger.password_hash = new_password_hash  # audited, the column redacted (csms.domain.models)


def outcome_status(answer: dict[str, Any]) -> str:
    """``accepted`` unless the answer's own ``status`` is a refusal (Rejected, NotSupported, …)."""
    status = answer.get("status")
    return "accepted" if not isinstance(status, str) or status in POSITIVE_STATUSES else "rejected"


@dataclass
class CommandOutcome:
    """A command the station answered: its log row, its answer and what the log says of it."""

    command_id: uuid.UUID
    answer: dict[str, Any]
    status: str
    protocol: str
    duration_ms: int


async def send_command(
    db: Database, bus: Bus, *, tenant_id: uuid.UUID, charge_box_id: str, action: str, payload: dict[str, Any],
    actor: dict[str, Any], timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (the documented API)
    only_if_active: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Send one OCPP call to a station of ``tenant_id`` and return its answer payload (camelCase).

    ``db`` is a ``Database`` (not a request session): the log row is committed
    on its own, so it survives when the caller's transaction is rolled back
    because the command failed. Raises ``StationNotFound``, ``ValidationFailed``
    (nothing sent, nothing logged), ``StationOffline``, ``CommandTimeout``,
    ``CommandRejected`` (CallError from the station), ``CommandFailed``.

    ``only_if_active``: a transaction (row id) the call is about, e.g. a TxProfile. The
    ingress checks it is still running once the station's call slot is free, right before
    sending; ended meanwhile, the call is not sent (``CommandSkipped``).
    """
    outcome = await execute_command(db, bus, tenant_id=tenant_id, charge_box_id=charge_box_id, action=action,
                                    payload=payload, actor=actor, timeout=timeout, only_if_active=only_if_active)
    return outcome.answer


async def execute_command(
    db: Database, bus: Bus, *, tenant_id: uuid.UUID, charge_box_id: str, action: str, payload: dict[str, Any],
    actor: dict[str, Any], timeout: Any = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    only_if_active: uuid.UUID | None = None,
) -> CommandOutcome:
    """``send_command`` with the log row's id and status (the API and the portal show them).

    Every ``CommandError`` it raises carries ``command_id`` (the log row) in ``details``.
    """
    timeout = check_timeout(timeout)
    target = await _locate(db, tenant_id, charge_box_id)
    version = validate_command(version_of(target.protocol), action, payload)
    password_change = station_password_change(version, action, payload, charge_box_id)
    log_id = await _log_start(db, tenant_id, target, charge_box_id, action, payload, actor, version)
    started = time.monotonic()
    end: dict[str, Any] = {"status": "error", "error": "Commande interrompue.", "charger_id": target.charger_id}
    try:
        request = {"tenant_id": str(tenant_id), "charge_box_id": charge_box_id, "action": action,
                   "payload": payload, "timeout": timeout, "command_id": str(log_id)}
        if only_if_active is not None:
            request["only_if_active"] = str(only_if_active)
        reply, node = await _route(bus, db, tenant_id, charge_box_id, target, request, timeout)
        end["node"] = node[:120]
        outcome = reply.get("outcome")
        if outcome == "result":
            raw_answer = reply.get("answer") or {}
            answer = redact_payload(raw_answer)
            end.update(status=outcome_status(raw_answer), answer=answer, error="")
            if password_change is not None and password_change.accepted(raw_answer):
                end["new_password_hash"] = password_change.password_hash
            if version == "2.0.1" and action in device_model.RESULT_ACTIONS:
                # The answer is kept redacted in the log; the device model keeps no secret either.
                end["device_answer"] = (action, redact_payload(payload), answer)
            return CommandOutcome(log_id, answer, end["status"], version, int((time.monotonic() - started) * 1000))
        if outcome == "call_error":
            code = str(reply.get("code") or "GenericError")
            exc: CommandError = CommandRejected(
                f"La borne a refusé la commande : {code}.", code=code, description=str(reply.get("description") or ""),
                details=redact_payload(reply.get("details")),
            )
            end.update(error_code=code[:50], answer={"description": exc.description, "details": exc.error_details})
        elif outcome == "timeout":
            exc = CommandTimeout(str(reply.get("message") or "La borne n'a pas répondu dans le délai."))
        elif outcome == "offline":
            exc = StationOffline(str(reply.get("message") or "La borne s'est déconnectée."))
        elif outcome == CommandSkipped.status:
            exc = CommandSkipped(str(reply.get("message") or "La recharge visée est terminée : commande non envoyée."))
        else:
            exc = CommandFailed(f"Réponse inattendue de l'ingress OCPP : {outcome}.")
        raise exc
    except CommandError as exc:
        end.update(status=exc.status, error=exc.message[:500])
        exc.details["command_id"] = str(log_id)
        raise
    finally:
        end["duration_ms"] = int((time.monotonic() - started) * 1000)
        # Shielded: the log row is completed even when the caller is cancelled.
        try:
            await asyncio.shield(_log_end(db, tenant_id, log_id, actor, **end))
        except Exception:
            log.exception("%s: command %s not completed in the log%s", charge_box_id, log_id,
                          "; the station accepted a new password that is NOT recorded" if "new_password_hash" in end
                          else "")


async def close_station(
    db: Database, bus: Bus, *, tenant_id: uuid.UUID, charge_box_id: str, reason: str, code: int = 1000,
    message: str = "", timeout: float = 10.0,  # noqa: ASYNC109
) -> bool:
    """Close the station's live socket, wherever it is held; True when one was closed.

    Routed like a command (the open connection row names the ingress process, over the
    bus, following a station that moved), but no OCPP call is made: the ingress closes
    the socket with ``code`` and ``message`` and records the disconnection with
    ``reason`` (``charger_connections.reason``). Embedded mode shares one bus between the
    web app and the ingress, so the same path serves it. Not connected, or its ingress
    gone: False, nothing to do.
    """
    target = await _locate(db, tenant_id, charge_box_id)
    request = {"op": "close", "tenant_id": str(tenant_id), "charge_box_id": charge_box_id, "reason": reason,
               "code": code, "message": message}
    node, tried = target.node, []
    while node and len(tried) < MAX_HOPS:
        tried.append(node)
        try:
            reply = await bus.request(node_topic(node), request, timeout=timeout)
        except NoResponder:
            reply = {"outcome": "not_connected"}
        except (TimeoutError, BusRequestError) as exc:
            log.warning("closing %s on %s failed: %s", charge_box_id, node, exc)
            return False
        if reply.get("outcome") == "closed":
            return True
        moved = (await _locate(db, tenant_id, charge_box_id)).node
        node = moved if moved and moved not in tried else None
    return False


# --------------------------------------------------------------------------- reads


async def list_commands(
    session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, *, limit: int = 100,
    before: dt.datetime | None = None,
) -> list[CommandLog]:
    """The station's command log, newest first."""
    stmt = select(CommandLog).where(CommandLog.tenant_id == tenant_id, CommandLog.charger_id == charger_id)
    if before is not None:
        stmt = stmt.where(CommandLog.requested_at < before)
    return list(await session.scalars(stmt.order_by(CommandLog.requested_at.desc()).limit(limit)))
