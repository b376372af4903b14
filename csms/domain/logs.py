"""Diagnostics and logs asked of a charger, uploaded to the product itself.

CCTP CPAM 5-5: the supervision system must allow « de remonter des données et diagnostics ». An
operator asks a charger for its diagnostics (OCPP 1.6 ``GetDiagnostics``) or a log (OCPP 1.6
Security Whitepaper ed. 3 and 2.0.1 ``GetLog``: DiagnosticsLog or SecurityLog). The upload target
is ours: a one-time URL per request, ``{base}/api/v1/station-logs/{tenant}/{token}``, whose token
is the credential (only its SHA-256 is stored; it expires after ``TOKEN_TTL`` and is spent by the
first upload). The station posts the file there (HTTP POST, multipart/form-data, one file of at
most ``MAX_UPLOAD`` bytes); it is stored per tenant (``var/station_logs/<tenant>/<sha256>``) and
downloaded from the station's « Journaux » page. The station's LogStatusNotification /
DiagnosticsStatusNotification move the request's status.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bus import Bus
from app.db import Database
from app.errors import NotFound, ValidationFailed
from csms.domain import commands
from csms.domain.models import Charger, StationLog
from csms.domain.ports import Reporting, StationRef

__all__ = ["LOG_TYPES", "MAX_UPLOAD", "STATUS_LABELS", "TOKEN_TTL", "UPLOAD_PATH", "UploadTooLarge",
           "log_path", "receive_log_status", "record_log_status", "request_log", "receive_upload", "token_hash"]

UPLOAD_PATH = "/api/v1/station-logs"
#: The largest file a station may upload (bytes).
MAX_UPLOAD = 10 * 1024 * 1024
TOKEN_TTL = dt.timedelta(hours=24)
LOG_TYPES = {"DiagnosticsLog": "Journal de diagnostic", "SecurityLog": "Journal de sécurité"}
STATUS_LABELS = {"requested": "Demandé", "uploading": "Envoi en cours", "uploaded": "Reçu", "failed": "Échec"}
#: Station words that end a request in failure (1.6 DiagnosticsStatus, 1.6 security / 2.0.1 UploadLogStatus).
FAILURES = frozenset({"UploadFailed", "UploadFailure", "BadMessage", "NotSupportedOperation", "PermissionDenied"})


class UploadTooLarge(Exception):
    """The station sent more than ``MAX_UPLOAD`` bytes: nothing is kept."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def log_path(var_dir: Path, row: StationLog) -> Path:
    return var_dir / "station_logs" / str(row.tenant_id) / row.sha256


def log_command(version: str, action: str, log_type: str, request_id: int, location: str) -> dict[str, Any]:
    """The payload of GetDiagnostics (1.6) or GetLog (1.6 security, 2.0.1)."""
    if action == "GetDiagnostics":
        return {"location": location}
    return {"logType": log_type, "requestId": request_id, "log": {"remoteLocation": location}}


async def request_log(db: Database, bus: Bus, *, tenant_id: uuid.UUID, charge_box_id: str, action: str,
                      log_type: str, actor: dict[str, Any], base_url: str, now: dt.datetime) -> StationLog:
    """Make the upload URL, send the command, return the request (``failed`` when the station refused it
    or could not be reached: the command log says why). ``ValidationFailed`` for a bad choice."""
    async with db.transaction([tenant_id], actor=actor) as session:
        charger = await session.scalar(select(Charger).where(Charger.tenant_id == tenant_id,
                                                              Charger.charge_box_id == charge_box_id))
        if charger is None:
            raise NotFound("borne")
        version = commands.version_of(charger.protocol) or "1.6"
        allowed = ("GetDiagnostics", "GetLog") if version == "1.6" else ("GetLog",)
        if action not in allowed:
            raise ValidationFailed({"action": f"Commande possible pour cette borne (OCPP {version}) : "
                                              f"{', '.join(allowed)}."})
        if action == "GetLog" and log_type not in LOG_TYPES:
            raise ValidationFailed({"log_type": "Type de journal : DiagnosticsLog ou SecurityLog."})
        token = secrets.token_urlsafe(32)
        row = StationLog(tenant_id=tenant_id, charger_id=charger.id, charge_box_id=charge_box_id, action=action,
                         log_type=log_type if action == "GetLog" else "", request_id=secrets.randbelow(2**31 - 2) + 1,
                         token_hash=token_hash(token), token_expires_at=now + TOKEN_TTL, status="requested",
                         requested_at=now, requested_by=str(actor.get("label") or "")[:200])
        session.add(row)
        await session.flush()
        row_id = row.id
    location = f"{base_url.rstrip('/')}{UPLOAD_PATH}/{tenant_id}/{token}"
    payload = log_command(version, action, log_type, row.request_id, location)
    status, filename = "requested", ""
    try:
        outcome = await commands.execute_command(db, bus, tenant_id=tenant_id, charge_box_id=charge_box_id,
                                                 action=action, payload=payload, actor=actor)
        if outcome.status != "accepted":
            status = "failed"
        filename = str(outcome.answer.get("fileName") or outcome.answer.get("filename") or "")
    except commands.CommandError:
        status = "failed"
    async with db.transaction([tenant_id], actor=actor) as session:
        stored = await session.get(StationLog, (tenant_id, row_id))
        assert stored is not None
        if stored.status == "requested":  # the upload may have come first
            stored.status = status
            stored.last_status = "" if status == "requested" else "Commande refusée ou sans réponse"
        if filename and not stored.filename:
            stored.filename = filename[:200]
        return stored


async def receive_upload(db: Database, var_dir: Path, *, tenant_id: uuid.UUID, token: str, filename: str,
                         chunks: AsyncIterator[bytes], now: dt.datetime) -> StationLog | None:
    """Store the file uploaded with ``token``; None when the token is unknown, expired or spent (the caller
    answers 404). ``UploadTooLarge`` beyond ``MAX_UPLOAD``: nothing is kept, the token stays usable."""
    digest = token_hash(token)
    async with db.session([tenant_id]) as session:
        row = await session.scalar(select(StationLog).where(StationLog.tenant_id == tenant_id,
                                                            StationLog.token_hash == digest))
        if row is None or row.uploaded_at is not None or row.token_expires_at <= now:
            return None
        row_id = row.id
    folder = var_dir / "station_logs" / str(tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    sha, size = hashlib.sha256(), 0
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > MAX_UPLOAD:
                    raise UploadTooLarge
                sha.update(chunk)
                out.write(chunk)
        final = folder / sha.hexdigest()
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)  # noqa: PTH108
        raise
    async with db.transaction([tenant_id], actor={"user_id": None, "label": "dépôt de journal"}) as session:
        stored = await session.get(StationLog, (tenant_id, row_id))
        if stored is None or stored.uploaded_at is not None:
            return None  # a concurrent upload with the same token won
        stored.status, stored.uploaded_at, stored.size, stored.sha256 = "uploaded", now, size, sha.hexdigest()
        stored.filename = (os.path.basename(filename or "") or stored.filename or "journal")[:200]
        return stored


async def receive_log_status(link: Reporting, *, status: str, request_id: int | None) -> None:
    """LogStatusNotification of either version (1.6 Security Whitepaper ed. 3, 2.0.1 N01), before its answer."""
    now = link.received_at
    await link.submit(lambda s: record_log_status(s, link.ref, action="GetLog", status=status, request_id=request_id,
                                                  received_at=now))


async def record_log_status(session: AsyncSession, ref: StationRef, *, action: str, status: str,
                            request_id: int | None, received_at: dt.datetime) -> None:
    """A LogStatusNotification (its requestId) or DiagnosticsStatusNotification (the charger's latest
    diagnostics request) moves the request; a file already received stays ``uploaded``."""
    stmt = select(StationLog).where(StationLog.tenant_id == ref.tenant_id, StationLog.charger_id == ref.charger_id,
                                    StationLog.action == action)
    if request_id is not None:
        stmt = stmt.where(StationLog.request_id == request_id)
    row = await session.scalar(stmt.order_by(StationLog.requested_at.desc()).limit(1))
    if row is None:
        return
    row.last_status = status[:40]
    if row.status == "uploaded":
        return
    if status in FAILURES:
        row.status = "failed"
    elif status == "Uploading":
        row.status = "uploading"
