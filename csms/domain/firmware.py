"""Firmware campaigns: one firmware sent to some of a tenant's chargers, in waves, with progress.

CCTP CPAM 5-5-2: « Il effectue également à distance la mise à jour de la version logicielle des
IRVE ». A campaign chooses chargers (by model, by site), a firmware URL (and, for a signed
firmware, its signing certificate and signature) and a window. Within the window the chargers
are sent the update in waves: never more than ``concurrency`` of them in progress at once, a
charger that fails (its command refused or unanswered, or a failure status) is tried again up to
``max_attempts`` times, then counted failed.

* OCPP 1.6: ``UpdateFirmware`` (``FirmwareStatusNotification``: Downloading, Downloaded,
  Installing, Installed, DownloadFailed, InstallationFailed), or with a signature
  ``SignedUpdateFirmware`` (Security Whitepaper ed. 3; ``SignedFirmwareStatusNotification``
  with the requestId, and also InvalidSignature, SignatureVerified, InstallVerificationFailed…);
* OCPP 2.0.1: ``UpdateFirmware`` with a requestId (L01; ``FirmwareStatusNotification``).

The pure core (``next_state``, ``plan_wave``, ``counts``) knows the rules; the service functions
read and write the rows and send the commands (``csms.domain.commands.execute_command``, logged in
the station's command log). ``advance_campaign`` sends the next wave; it runs as the job
``csms.firmware.advance`` (at creation, then every minute for the campaigns in their window), and
the ingress runs it again as soon as a notification frees a place (``advance_later``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bus import Bus
from app.db import Database
from app.errors import ValidationFailed
from csms.domain import commands
from csms.domain import recording as supervision
from csms.domain.models import Charger, FirmwareCampaign, FirmwareCampaignStation, Station
from csms.domain.ports import Reporting, StationRef
from csms.domain.protocol import is_uri

if TYPE_CHECKING:
    from csms.domain.ports import IngressPort

__all__ = [
    "ADVANCE_JOB",
    "FAILURES",
    "IN_FLIGHT",
    "STATE_LABELS",
    "SWEEP_JOB",
    "WaveRow",
    "advance_campaign",
    "advance_later",
    "after_refusal",
    "campaign_rows",
    "counts",
    "create_campaign",
    "due_campaigns",
    "next_state",
    "plan_wave",
    "receive_firmware_status",
    "record_firmware_status",
]

log = logging.getLogger(__name__)

ADVANCE_JOB = "csms.firmware.advance"
SWEEP_JOB = "csms.firmware.sweep"
STATE_LABELS = {
    "pending": "En attente", "sent": "Commande acceptée", "downloading": "Téléchargement",
    "downloaded": "Téléchargé", "installing": "Installation", "installed": "Installé", "failed": "Échec",
}
#: States of a charger whose update is under way: they count against the concurrency limit.
IN_FLIGHT = frozenset({"sent", "downloading", "downloaded", "installing"})
TERMINAL = frozenset({"installed", "failed"})
#: Statuses that end an attempt in failure (1.6, 1.6 security, 2.0.1).
FAILURES = frozenset({"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature"})
#: The other statuses, and the state they mean.
PROGRESS = {
    "DownloadScheduled": "sent", "Downloading": "downloading", "DownloadPaused": "downloading",
    "Downloaded": "downloaded", "SignatureVerified": "downloaded", "InstallScheduled": "installing",
    "InstallRebooting": "installing", "Installing": "installing", "Installed": "installed",
}
LIMITS = {"concurrency": (1, 100), "max_attempts": (1, 5)}


# --------------------------------------------------------------------------- pure core


def next_state(state: str, status: str, *, attempts: int, max_attempts: int) -> str | None:
    """Where a charger goes on ``status`` (None: nothing changes). A failure sends it back to
    ``pending`` while it has attempts left, else to ``failed``."""
    if state not in IN_FLIGHT:
        return None  # not waiting for this charger (pending, or already done)
    if status in FAILURES:
        return "pending" if attempts < max_attempts else "failed"
    return PROGRESS.get(status)  # Idle and unknown words change nothing


def after_refusal(attempts: int, max_attempts: int) -> str:
    """The command was refused or got no answer: as a failure status."""
    return "pending" if attempts < max_attempts else "failed"


@dataclass(frozen=True)
class WaveRow:
    id: uuid.UUID
    state: str
    attempts: int


def plan_wave(rows: Sequence[WaveRow], *, concurrency: int, max_attempts: int, now: dt.datetime,
              window_start: dt.datetime, window_end: dt.datetime) -> list[uuid.UUID]:
    """The chargers to send now: pending ones with attempts left, as many as the limit leaves room for,
    and none outside the window."""
    if not window_start <= now < window_end:
        return []
    room = concurrency - sum(1 for row in rows if row.state in IN_FLIGHT)
    waiting = [row.id for row in rows if row.state == "pending" and row.attempts < max_attempts]
    return waiting[:max(0, room)]


def counts(states: Iterable[str]) -> dict[str, int]:
    """How many chargers in each state (every state named, zeros included), and ``total``."""
    found = Counter(states)
    out = {state: found.get(state, 0) for state in STATE_LABELS}
    out["total"] = sum(found.values())
    return out


def finished(states: Iterable[str]) -> bool:
    return all(state in TERMINAL for state in states)


# --------------------------------------------------------------------------- creating


def _int_field(data: dict[str, Any], name: str, default: int, errors: dict[str, str]) -> int:
    low, high = LIMITS[name]
    raw = str(data.get(name) or default).strip()
    try:
        value = int(raw)
    except ValueError:
        errors[name] = "Nombre entier attendu."
        return default
    if not low <= value <= high:
        errors[name] = f"Entre {low} et {high}."
    return value


async def create_campaign(session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any], *, now: dt.datetime,
                          created_by: str = "") -> FirmwareCampaign:
    """A campaign over the tenant's chargers in service matching ``model`` and ``site_id`` (either may be
    empty: all). ``ValidationFailed`` (French, per field) when something is wrong or no charger matches."""
    errors: dict[str, str] = {}
    name = str(data.get("name") or "").strip()
    if not 1 <= len(name) <= 200:
        errors["name"] = "Nom obligatoire (200 caractères au plus)."
    location = str(data.get("location") or "").strip()
    if not location.startswith(("http://", "https://", "ftp://", "ftps://")) or not 10 <= len(location) <= 512:
        errors["location"] = "Adresse http(s):// ou ftp(s):// du micrologiciel attendue (512 caractères au plus)."
    elif not is_uri(location):  # a URI (OCPP 1.6 UpdateFirmware.req location: anyURI): strict stations refuse others
        errors["location"] = f"Adresse du micrologiciel : {commands.URI_MESSAGE}"
    signing_certificate = str(data.get("signing_certificate") or "").strip()
    signature = str(data.get("signature") or "").strip()
    if bool(signing_certificate) != bool(signature):
        errors["signature"] = "Un micrologiciel signé demande le certificat de signature et la signature."
    if len(signing_certificate) > 5500:
        errors["signing_certificate"] = "5 500 caractères au plus (OCPP)."
    if len(signature) > 800:
        errors["signature"] = "800 caractères au plus (OCPP)."
    model = str(data.get("model") or "").strip()[:50]
    site_id: uuid.UUID | None = None
    if data.get("site_id"):
        try:
            site_id = uuid.UUID(str(data["site_id"]))
        except ValueError:
            errors["site_id"] = "Site inconnu."
    window_start = data.get("window_start") or now
    window_end = data.get("window_end")
    if not isinstance(window_start, dt.datetime) or window_start.tzinfo is None:
        errors["window_start"] = "Date et heure de début attendues."
    if not isinstance(window_end, dt.datetime) or window_end.tzinfo is None:
        errors["window_end"] = "Date et heure de fin attendues."
    elif isinstance(window_start, dt.datetime) and window_end <= window_start:
        errors["window_end"] = "La fin de la fenêtre doit suivre son début."
    concurrency = _int_field(data, "concurrency", 5, errors)
    max_attempts = _int_field(data, "max_attempts", 2, errors)
    chargers: list[Charger] = []
    if not errors:
        stmt = select(Charger).where(Charger.tenant_id == tenant_id, Charger.decommissioned_at.is_(None))
        if model:
            stmt = stmt.where(Charger.model == model)
        if site_id is not None:
            stmt = stmt.join(Station, (Station.tenant_id == Charger.tenant_id) & (Station.id == Charger.station_id)
                             ).where(Station.site_id == site_id)
        chargers = list(await session.scalars(stmt.order_by(Charger.charge_box_id)))
        if not chargers:
            errors["model"] = "Aucune borne en service ne correspond à ce modèle et à ce site."
    if errors:
        raise ValidationFailed(errors)
    campaign = FirmwareCampaign(
        tenant_id=tenant_id, name=name, location=location, signing_certificate=signing_certificate,
        signature=signature, model=model, site_id=site_id, window_start=window_start, window_end=window_end,
        concurrency=concurrency, max_attempts=max_attempts, status="scheduled", created_at=now,
        created_by=created_by[:200],
    )
    session.add(campaign)
    await session.flush()
    for charger in chargers:
        session.add(FirmwareCampaignStation(tenant_id=tenant_id, campaign_id=campaign.id, charger_id=charger.id,
                                            charge_box_id=charger.charge_box_id, state="pending", updated_at=now))
    await session.flush()
    return campaign


# --------------------------------------------------------------------------- sending


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def firmware_command(campaign: FirmwareCampaign, version: str, request_id: int, now: dt.datetime
                     ) -> tuple[str, dict[str, Any]]:
    """The action and payload for a charger speaking ``version``."""
    firmware: dict[str, Any] = {"location": campaign.location, "retrieveDateTime": _iso(now)}
    if campaign.signature:
        firmware.update(signingCertificate=campaign.signing_certificate, signature=campaign.signature)
    if version == "2.0.1":
        return "UpdateFirmware", {"requestId": request_id, "firmware": firmware}
    if campaign.signature:
        return "SignedUpdateFirmware", {"requestId": request_id, "firmware": firmware}
    return "UpdateFirmware", {"location": campaign.location, "retrieveDate": _iso(now)}


async def _lock_campaign(session: AsyncSession, tenant_id: uuid.UUID, campaign_id: uuid.UUID) -> FirmwareCampaign | None:
    stmt = select(FirmwareCampaign).where(FirmwareCampaign.tenant_id == tenant_id, FirmwareCampaign.id == campaign_id)
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # one wave planned at a time (the job, the ingress, another worker)
    return await session.scalar(stmt)


async def _rows(session: AsyncSession, campaign: FirmwareCampaign) -> list[FirmwareCampaignStation]:
    return list(await session.scalars(select(FirmwareCampaignStation).where(
        FirmwareCampaignStation.tenant_id == campaign.tenant_id, FirmwareCampaignStation.campaign_id == campaign.id,
    ).order_by(FirmwareCampaignStation.charge_box_id)))


def _close_if_finished(campaign: FirmwareCampaign, rows: Sequence[FirmwareCampaignStation], now: dt.datetime) -> None:
    if campaign.status in ("scheduled", "running") and finished(r.state for r in rows):
        campaign.status, campaign.finished_at = "done", now


ACTOR = {"user_id": None, "label": "campagne de micrologiciel"}
_planning: dict[uuid.UUID, asyncio.Lock] = {}


async def advance_campaign(db: Database, bus: Bus, tenant_id: uuid.UUID, campaign_id: uuid.UUID, *,
                           now: dt.datetime, timeout: float = 30.0) -> list[str]:  # noqa: ASYNC109
    """Send the next wave; the charge_box_ids sent. Chargers left pending when the window closes fail."""
    # One wave planned at a time per campaign: in this process by a lock (SQLite has no row lock), across
    # processes by the campaign's row lock (PostgreSQL).
    async with _planning.setdefault(campaign_id, asyncio.Lock()), db.transaction([tenant_id], actor=ACTOR) as session:
        campaign = await _lock_campaign(session, tenant_id, campaign_id)
        if campaign is None or campaign.status not in ("scheduled", "running"):
            return []
        rows = await _rows(session, campaign)
        if now >= campaign.window_end:
            for row in rows:
                if row.state == "pending":
                    row.state, row.error, row.updated_at = "failed", "Fenêtre de la campagne terminée.", now
        chosen = set(plan_wave([WaveRow(r.id, r.state, r.attempts) for r in rows], concurrency=campaign.concurrency,
                               max_attempts=campaign.max_attempts, now=now, window_start=campaign.window_start,
                               window_end=campaign.window_end))
        protocols = dict((await session.execute(select(Charger.id, Charger.protocol).where(
            Charger.tenant_id == tenant_id, Charger.id.in_([r.charger_id for r in rows if r.id in chosen])))).all())
        wave = []
        for row in rows:
            if row.id in chosen:
                row.attempts += 1
                # 1.6 security and 2.0.1 requestIds are integers: the campaign's row number and attempt.
                row.request_id = (int(row.id.int % 100_000) * 10 + row.attempts) % 2_000_000_000
                row.state, row.sent_at, row.updated_at, row.error = "sent", now, now, ""
                version = commands.version_of(protocols.get(row.charger_id, "")) or "1.6"
                wave.append((row.id, row.charge_box_id, row.attempts, *firmware_command(campaign, version,
                                                                                        row.request_id, now)))
        if wave and campaign.status == "scheduled":
            campaign.status = "running"
        _close_if_finished(campaign, rows, now)
        max_attempts = campaign.max_attempts

    async def send(row_id: uuid.UUID, charge_box_id: str, attempts: int, action: str, payload: dict[str, Any]) -> None:
        error = ""
        try:
            outcome = await commands.execute_command(db, bus, tenant_id=tenant_id, charge_box_id=charge_box_id,
                                                     action=action, payload=payload, actor=ACTOR, timeout=timeout)
            if outcome.status != "accepted":
                error = f"Refusée par la borne ({outcome.answer.get('status', '')})."
        except commands.CommandError as exc:
            error = exc.message
        except ValidationFailed as exc:
            error = "; ".join(exc.errors.values())
        if error:
            await _refused(db, tenant_id, campaign_id, row_id, attempts, max_attempts, error, now)

    await asyncio.gather(*(send(*item) for item in wave))
    return [item[1] for item in wave]


async def _refused(db: Database, tenant_id: uuid.UUID, campaign_id: uuid.UUID, row_id: uuid.UUID, attempts: int,
                   max_attempts: int, error: str, now: dt.datetime) -> None:
    async with db.transaction([tenant_id], actor=ACTOR) as session:
        campaign = await _lock_campaign(session, tenant_id, campaign_id)
        row = await session.get(FirmwareCampaignStation, (tenant_id, row_id))
        if campaign is None or row is None or row.state != "sent" or row.attempts != attempts:
            return  # a notification moved it meanwhile
        row.state, row.error, row.last_status, row.updated_at = after_refusal(attempts, max_attempts), error[:500], \
            "", now
        _close_if_finished(campaign, await _rows(session, campaign), now)


async def due_campaigns(db: Database, tenant_ids: Sequence[uuid.UUID], now: dt.datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, campaign) of every campaign whose window has opened and that is not over."""
    if not tenant_ids:
        return []
    async with db.session(list(tenant_ids)) as session:
        rows = await session.execute(select(FirmwareCampaign.tenant_id, FirmwareCampaign.id).where(
            FirmwareCampaign.tenant_id.in_(tenant_ids), FirmwareCampaign.status.in_(("scheduled", "running")),
            FirmwareCampaign.window_start <= now))
        return [(t, c) for t, c in rows.all()]


# --------------------------------------------------------------------------- from the stations


async def record_firmware_status(session: AsyncSession, ref: StationRef, *, status: str, request_id: int | None,
                                 received_at: dt.datetime) -> uuid.UUID | None:
    """A firmware status notification moves the charger's row of its running campaign. The campaign's id
    when a place was freed (the charger is done, or back to pending): the caller sends the next wave."""
    stmt = select(FirmwareCampaignStation).where(
        FirmwareCampaignStation.tenant_id == ref.tenant_id, FirmwareCampaignStation.charger_id == ref.charger_id,
        FirmwareCampaignStation.state.in_(IN_FLIGHT))
    if request_id is not None:
        stmt = stmt.where(FirmwareCampaignStation.request_id == request_id)
    row = await session.scalar(stmt.order_by(FirmwareCampaignStation.sent_at.desc()).limit(1))
    if row is None:
        return None
    campaign = await _lock_campaign(session, ref.tenant_id, row.campaign_id)
    if campaign is None or campaign.status not in ("scheduled", "running"):
        return None
    state = next_state(row.state, status, attempts=row.attempts, max_attempts=campaign.max_attempts)
    row.last_status, row.updated_at = status[:50], received_at
    if state is None:
        return None
    row.state = state
    if status in FAILURES:
        row.error = f"La borne a signalé {status}."
    if state in IN_FLIGHT:
        return None
    _close_if_finished(campaign, await _rows(session, campaign), received_at)
    return campaign.id


async def receive_firmware_status(link: Reporting, *, kind: str, status: str, request_id: int | None) -> None:
    """A firmware status notification of either version (1.6 FirmwareStatusNotification and the
    whitepaper's SignedFirmwareStatusNotification, ``kind`` signed_firmware; 2.0.1 L01): the
    register's event and the charger's campaign row in one unit; once committed, the campaign's
    next wave when a place was freed."""
    now, ref = link.received_at, link.ref

    async def unit(session: AsyncSession) -> uuid.UUID | None:
        await supervision.record_station_event(
            session, ref, kind, f"Micrologiciel : {status}.", {"status": status, "request_id": request_id},
            received_at=now, severity="warning" if status in FAILURES else "info")
        return await record_firmware_status(session, ref, status=status, request_id=request_id, received_at=now)

    campaign_id = await link.submit(unit)
    if campaign_id is not None:
        advance_later(link.ingress, ref.tenant_id, campaign_id, now)


_background: set[asyncio.Task[Any]] = set()


def advance_later(ingress: IngressPort, tenant_id: uuid.UUID, campaign_id: uuid.UUID, now: dt.datetime) -> None:
    """From a handler, after its commit: the next wave, in a task (a handler never awaits a call)."""
    async def run() -> None:
        try:
            await advance_campaign(ingress.db, ingress.bus, tenant_id, campaign_id, now=now)
        except Exception:
            log.exception("firmware campaign %s: next wave failed", campaign_id)

    task = asyncio.create_task(run(), name=f"firmware-campaign-{campaign_id}")
    _background.add(task)
    task.add_done_callback(_background.discard)


async def campaign_rows(session: AsyncSession, tenant_id: uuid.UUID, campaign_id: uuid.UUID
                        ) -> tuple[FirmwareCampaign, list[FirmwareCampaignStation]] | None:
    """The campaign and its chargers (None: absent, or another tenant's)."""
    campaign = await session.scalar(select(FirmwareCampaign).where(
        FirmwareCampaign.tenant_id == tenant_id, FirmwareCampaign.id == campaign_id))
    if campaign is None:
        return None
    return campaign, await _rows(session, campaign)
