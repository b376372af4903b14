"""The alert terminals of the Justice's TGD agreement as stored data: lines, device exchanges, successive
assignments, beneficiary files, test calls, and the destruction of the files (the rules: ``assets.tgd``).

CCP TGD annexe 1: « La référence unique est attachée au numéro de la ligne du terminal d'alerte, et non au
matériel en lui-même ; il est ainsi possible de remplacer un terminal défectueux en transférant sa carte
SIM, sans changement de référence. »
Annexe 2:
- I.4 « le titulaire procède … à un échange du terminal par un modèle identique, dans un délai maximum de
  24 heures, le numéro de terminal initial n'étant pour sa part pas modifié »;
- II.2.1 « Les équipes du titulaire créent alors une « fiche bénéficiaire », auquel est attribué un
  numéro, dans les quinze minutes suivant la réception de la télécopie ou du message électronique »;
- II.2.2 « contacter le service de téléassistant deux fois par mois, aux fins de tests. Si le téléassistant
  observe qu'au bout de quinze jours l'utilisateur n'a pas procédé auxdits tests, il lui revient … »;
- II.2.4 « les équipes du titulaire contactent le magistrat émetteur pour lui demander confirmation
  téléphonique de la fin de la mesure de téléassistance, et que ce dernier a bien récupéré le terminal.
  Suite à cette confirmation, le titulaire clôt le dossier … et s'assure de sa destruction définitive en
  interne quatre mois après la fermeture du dossier » ; « le terminal peut être affecté à un nouvel
  utilisateur seulement une semaine après la résiliation d'un dossier ».

Confidentiality: a file holds data about a person in danger. Only the permission ``tgd_files`` (the
dedicated « Téléassistance TGD » profile) opens one, and every opening is audited (``access_file``). The
lines and their history (references, devices, dates) hold nothing about the person. Nothing here is
exported nor counted in indicators. Functions take an open session scoped to the tenant and ``now``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import record_event
from app.bounds import column_length
from app.errors import NotFound, ValidationFailed
from assets.models import TgdAssignment, TgdExchange, TgdFile, TgdLine, TgdTestCall
from assets.tgd import (
    TestCallState,
    destruction_due,
    escalation_state,
    file_creation_due,
    reassignable_at,
    reference_for,
)

__all__ = [
    "EXCHANGE_DELAY",
    "FileRow",
    "LineRow",
    "access_file",
    "close_file",
    "create_line",
    "destroy_due_files",
    "exchange_device",
    "file_test_state",
    "files_of_tenant",
    "get_line",
    "line_history",
    "line_reference",
    "lines_of_tenant",
    "open_file",
    "record_test_call",
    "report_fault",
    "calls_of_file",
]

#: Annexe 2, I.4: « dans un délai maximum de 24 heures ».
EXCHANGE_DELAY = dt.timedelta(hours=24)
_PHONE = re.compile(r"^(?:0\d{9}|\+\d{8,15})$")
#: The fields of a file a form or the API may give, the required ones first.
FILE_REQUIRED = ("full_name", "address", "prosecutor", "victim_support")
FILE_OPTIONAL = ("phones", "workplace", "notes")


def _local(moment: dt.datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y à %H:%M")


def _moment(value: Any, field: str, tz: str, now: dt.datetime, errors: dict[str, str], *,
            default: dt.datetime | None = None) -> dt.datetime | None:
    """A moment from a form (``AAAA-MM-JJTHH:MM``, the tenant's time) or the API (ISO 8601 with its offset);
    never in the future."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=ZoneInfo(tz))
    elif not str(value or "").strip():
        if default is None:
            errors[field] = "date et heure obligatoires"
        return default
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            errors[field] = "date et heure invalides (attendu : AAAA-MM-JJTHH:MM)"
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(tz))
    moment = moment.astimezone(dt.UTC)
    if moment > now + dt.timedelta(minutes=1):
        errors[field] = "ne peut pas être dans le futur"
        return None
    return moment


def _text(data: Mapping[str, Any], field: str, model: Any, errors: dict[str, str], *, required: bool) -> str:
    value = str(data.get(field) or "").strip()
    column = getattr(model, field)
    limit = column_length(column) if getattr(column.property.columns[0].type, "length", None) else 5000
    if len(value) > limit:
        errors[field] = f"{limit} caractères au plus"
    elif required and not value:
        errors[field] = "obligatoire"
    return value


# --------------------------------------------------------------------------- lines


def line_reference(line: TgdLine) -> str:
    """The line's reference at its last assignment (Y = 1 before the first one): « M974974110 12 »."""
    return str(reference_for(line.insee_code, line.order_number, max(line.assignment_index, 1)))


async def create_line(session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any]) -> TgdLine:
    """A line of the court at ``insee_code`` (annexe 1: « XX pour le numéro d'ordre du terminal ») with its
    first device, « en attente d'affectation »; ``ValidationFailed`` (French, per field) changes nothing."""
    errors: dict[str, str] = {}
    phone = re.sub(r"[\s.\-]", "", str(data.get("phone_number") or ""))
    if not _PHONE.fullmatch(phone):
        errors["phone_number"] = "numéro de ligne invalide (10 chiffres, ou + et l'indicatif international)"
    insee = str(data.get("insee_code") or "").strip().upper()
    try:
        order = int(str(data.get("order_number") or "").strip())
    except ValueError:
        order = 0
    if not 1 <= order <= 99:
        errors["order_number"] = "numéro d'ordre de 01 à 99 (01 à 05 pour les 5 premiers terminaux en dotation)"
    try:
        reference_for(insee, max(order, 1))
    except ValueError as exc:
        errors["insee_code"] = str(exc)
    serial = _text(data, "device_serial", TgdLine, errors, required=True)
    if not errors:
        if await session.scalar(select(TgdLine.id).where(TgdLine.tenant_id == tenant_id,
                                                         TgdLine.phone_number == phone)):
            errors["phone_number"] = f"la ligne {phone} existe déjà"
        if await session.scalar(select(TgdLine.id).where(TgdLine.tenant_id == tenant_id, TgdLine.insee_code == insee,
                                                         TgdLine.order_number == order)):
            errors["order_number"] = f"le terminal n° {order:02d} de la juridiction {insee} existe déjà"
    if errors:
        raise ValidationFailed(errors)
    line = TgdLine(tenant_id=tenant_id, phone_number=phone, insee_code=insee, order_number=order,
                   device_serial=serial, assignment_index=0)
    session.add(line)
    await session.flush()
    return line


async def _owned(session: AsyncSession, model: type[Any], tenant_id: uuid.UUID, row_id: uuid.UUID, what: str) -> Any:
    row = await session.get(model, (tenant_id, row_id))
    if row is None:
        raise NotFound(what)
    return row


async def get_line(session: AsyncSession, tenant_id: uuid.UUID, line_id: uuid.UUID) -> TgdLine:
    return await _owned(session, TgdLine, tenant_id, line_id, "ligne de terminal d'alerte")


async def _last_assignment(session: AsyncSession, line: TgdLine) -> TgdAssignment | None:
    return await session.scalar(select(TgdAssignment).where(
        TgdAssignment.tenant_id == line.tenant_id, TgdAssignment.line_id == line.id,
    ).order_by(TgdAssignment.index.desc()).limit(1))


@dataclass(frozen=True)
class LineRow:
    """A line as its list shows it: nothing about the person."""

    line: TgdLine
    reference: str
    #: ``libre``, ``affectee`` or ``attente`` (closed less than a week ago: not yet reassignable).
    state: str
    reassignable_at: dt.datetime | None
    exchange_due_at: dt.datetime | None


def _row(line: TgdLine, last: TgdAssignment | None, now: dt.datetime) -> LineRow:
    if last is not None and last.closed_at is None:
        state, when = "affectee", None
    elif last is not None and last.reassignable_at and now < last.reassignable_at:
        state, when = "attente", last.reassignable_at
    else:
        state, when = "libre", None
    due = line.fault_reported_at + EXCHANGE_DELAY if line.fault_reported_at else None
    return LineRow(line=line, reference=line_reference(line), state=state, reassignable_at=when, exchange_due_at=due)


async def lines_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime) -> list[LineRow]:
    """The tenant's lines by court and order number, each with its state."""
    lines = list(await session.scalars(select(TgdLine).where(TgdLine.tenant_id == tenant_id)
                                       .order_by(TgdLine.insee_code, TgdLine.order_number)))
    last = {a.line_id: a for a in await session.scalars(
        select(TgdAssignment).where(TgdAssignment.tenant_id == tenant_id).order_by(TgdAssignment.index))}
    return [_row(line, last.get(line.id), now) for line in lines]


async def line_history(session: AsyncSession, line: TgdLine, now: dt.datetime,
                       ) -> tuple[LineRow, list[TgdAssignment], list[TgdExchange]]:
    """The line, its assignments (newest first) and its exchanges: its history, with nothing personal."""
    assignments = list(await session.scalars(select(TgdAssignment).where(
        TgdAssignment.tenant_id == line.tenant_id, TgdAssignment.line_id == line.id)
        .order_by(TgdAssignment.index.desc())))
    exchanges = list(await session.scalars(select(TgdExchange).where(
        TgdExchange.tenant_id == line.tenant_id, TgdExchange.line_id == line.id)
        .order_by(TgdExchange.exchanged_at.desc())))
    return _row(line, assignments[0] if assignments else None, now), assignments, exchanges


async def report_fault(session: AsyncSession, tenant_id: uuid.UUID, line_id: uuid.UUID, data: Mapping[str, Any],
                       now: dt.datetime, tz: str = "UTC") -> TgdLine:
    """A fault reported by the prosecutor or the association (I.4): the exchange is due within 24 hours."""
    line = await get_line(session, tenant_id, line_id)
    errors: dict[str, str] = {}
    reported = _moment(data.get("reported_at"), "reported_at", tz, now, errors, default=now)
    if line.fault_reported_at is not None:
        errors["reported_at"] = (f"une panne est déjà signalée depuis le {_local(line.fault_reported_at, tz)} : "
                                 "enregistrez l'échange du terminal")
    if errors:
        raise ValidationFailed(errors)
    line.fault_reported_at = reported
    await session.flush()
    return line


async def exchange_device(session: AsyncSession, tenant_id: uuid.UUID, line_id: uuid.UUID, data: Mapping[str, Any],
                          now: dt.datetime, tz: str = "UTC") -> TgdExchange:
    """The faulty terminal replaced by ``new_serial`` (I.4): the line keeps its number and its reference
    (annexe 1); the exchange is late past 24 hours after the fault (``fault_reported_at``, or the fault
    reported earlier on the line)."""
    line = await get_line(session, tenant_id, line_id)
    errors: dict[str, str] = {}
    serial = _text(data, "new_serial", TgdExchange, errors, required=True)
    if serial and serial == line.device_serial:
        errors["new_serial"] = f"le terminal {serial} est déjà celui de la ligne"
    fault = _moment(data.get("fault_reported_at"), "fault_reported_at", tz, now, errors,
                    default=line.fault_reported_at)
    exchanged = _moment(data.get("exchanged_at"), "exchanged_at", tz, now, errors, default=now)
    if fault and exchanged and exchanged < fault:
        errors["exchanged_at"] = "l'échange ne peut pas précéder la panne"
    if errors:
        raise ValidationFailed(errors)
    assert fault is not None and exchanged is not None
    exchange = TgdExchange(tenant_id=tenant_id, line_id=line.id, old_serial=line.device_serial, new_serial=serial,
                           fault_reported_at=fault, exchanged_at=exchanged, due_at=fault + EXCHANGE_DELAY,
                           late=exchanged > fault + EXCHANGE_DELAY)
    line.device_serial = serial
    line.fault_reported_at = None
    session.add(exchange)
    await session.flush()
    return exchange


# --------------------------------------------------------------------------- beneficiary files


async def open_file(session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any], now: dt.datetime,
                    tz: str = "UTC") -> TgdFile:
    """The « fiche bénéficiaire » of a referral (2.1), on the line ``line_id``: its next assignment (Y + 1 in
    the reference). Refused while the line is assigned, and for a week after its last file's closure (2.4).
    A file created more than fifteen minutes after the referral is flagged ``created_late``."""
    errors: dict[str, str] = {}
    line = None
    try:
        line = await get_line(session, tenant_id, uuid.UUID(str(data.get("line_id") or "")))
    except (ValueError, NotFound):
        errors["line_id"] = "choisissez une ligne de terminal d'alerte du tribunal"
    referred = _moment(data.get("referred_at"), "referred_at", tz, now, errors)
    values = {f: _text(data, f, TgdFile, errors, required=True) for f in FILE_REQUIRED}
    values |= {f: _text(data, f, TgdFile, errors, required=False) for f in FILE_OPTIONAL}
    if line is not None:
        last = await _last_assignment(session, line)
        if last is not None and last.closed_at is None:
            errors["line_id"] = f"la ligne {line.phone_number} est déjà affectée (référence {last.reference})"
        elif last is not None and last.reassignable_at and now < last.reassignable_at:
            errors["line_id"] = (f"la ligne {line.phone_number} ne peut être réaffectée qu'à partir du "
                                 f"{_local(last.reassignable_at, tz)}, une semaine après la clôture du dossier "
                                 "précédent (CCP TGD, annexe 2, 2.4)")
    if errors:
        raise ValidationFailed(errors)
    assert line is not None and referred is not None
    line.assignment_index += 1
    assignment = TgdAssignment(tenant_id=tenant_id, line_id=line.id, index=line.assignment_index,
                               reference=line_reference(line), assigned_at=now)
    session.add(assignment)
    file = TgdFile(tenant_id=tenant_id, assignment_id=assignment.id, referred_at=referred, created_at=now,
                   created_late=now > file_creation_due(referred), **values)
    session.add(file)
    await session.flush()
    return file


async def _get_file(session: AsyncSession, tenant_id: uuid.UUID, file_id: uuid.UUID) -> tuple[TgdFile, TgdAssignment]:
    file = await _owned(session, TgdFile, tenant_id, file_id, "dossier")
    return file, await _owned(session, TgdAssignment, tenant_id, file.assignment_id, "affectation")


async def access_file(session: AsyncSession, tenant_id: uuid.UUID, file_id: uuid.UUID,
                      ) -> tuple[TgdFile, TgdAssignment]:
    """A file opened by someone: the reading is written to the tenant's audit log (who, when, which file),
    in the request's transaction. The caller has checked the permission ``tgd_files``."""
    file, assignment = await _get_file(session, tenant_id, file_id)
    record_event(session, action="view", entity="tgd_files", entity_id=str(file.id), tenant_id=tenant_id,
                 details={"reference": assignment.reference})
    await session.flush()
    return file, assignment


async def calls_of_file(session: AsyncSession, file: TgdFile) -> list[TgdTestCall]:
    return list(await session.scalars(select(TgdTestCall).where(
        TgdTestCall.tenant_id == file.tenant_id, TgdTestCall.file_id == file.id).order_by(TgdTestCall.called_at.desc())))


def file_test_state(assignment: TgdAssignment, last_test_at: dt.datetime | None, now: dt.datetime) -> TestCallState:
    """2.2: the escalation is due fifteen days after the assignment or the last test call."""
    return escalation_state(assignment.assigned_at, last_test_at, now)


async def record_test_call(session: AsyncSession, tenant_id: uuid.UUID, file_id: uuid.UUID,
                           data: Mapping[str, Any], now: dt.datetime, tz: str = "UTC") -> TgdTestCall:
    """A test call of the user (2.2), on an open file, not before its assignment."""
    file, assignment = await _get_file(session, tenant_id, file_id)
    errors: dict[str, str] = {}
    called = _moment(data.get("called_at"), "called_at", tz, now, errors, default=now)
    note = _text(data, "note", TgdTestCall, errors, required=False)
    if file.closed_at is not None:
        errors["called_at"] = "le dossier est clos"
    elif called is not None and called < assignment.assigned_at:
        errors["called_at"] = f"avant l'affectation du terminal (le {_local(assignment.assigned_at, tz)})"
    if errors:
        raise ValidationFailed(errors)
    assert called is not None
    call = TgdTestCall(tenant_id=tenant_id, file_id=file.id, called_at=called, note=note)
    session.add(call)
    await session.flush()
    return call


async def close_file(session: AsyncSession, tenant_id: uuid.UUID, file_id: uuid.UUID, data: Mapping[str, Any],
                     now: dt.datetime, tz: str = "UTC") -> TgdFile:
    """The closure after the magistrate's confirmation « de la fin de la mesure de téléassistance, et que ce
    dernier a bien récupéré le terminal » (2.4): the destruction is due four months later, the line may be
    assigned again one week later."""
    file, assignment = await _get_file(session, tenant_id, file_id)
    errors: dict[str, str] = {}
    magistrate = _text(data, "confirmed_by", TgdFile, errors, required=True)
    terminated = None
    text = str(data.get("terminated_on") or "").strip()
    try:
        terminated = dt.date.fromisoformat(text) if text else None
    except ValueError:
        errors["terminated_on"] = "date invalide (attendu : AAAA-MM-JJ)"
    if terminated is None and "terminated_on" not in errors:
        errors["terminated_on"] = "la date de résiliation décidée par le parquet est obligatoire"
    elif terminated is not None and terminated > now.astimezone(ZoneInfo(tz)).date():
        errors["terminated_on"] = "la résiliation ne peut pas être dans le futur"
    if str(data.get("terminal_returned") or "").lower() not in ("1", "on", "true", "oui"):
        errors["terminal_returned"] = "le magistrat doit confirmer avoir récupéré le terminal"
    if file.closed_at is not None:
        errors["confirmed_by"] = f"le dossier est déjà clos depuis le {_local(file.closed_at, tz)}"
    if errors:
        raise ValidationFailed(errors)
    file.terminated_on, file.confirmed_by, file.closed_at = terminated, magistrate, now
    file.destroy_due_at = destruction_due(now)
    assignment.closed_at, assignment.reassignable_at = now, reassignable_at(now)
    await session.flush()
    return file


@dataclass(frozen=True)
class FileRow:
    """A file as the list of the TGD profile shows it: its reference and dates, never the person's data
    (which only the audited file page shows)."""

    id: uuid.UUID
    reference: str
    referred_at: dt.datetime
    created_at: dt.datetime
    created_late: bool
    closed_at: dt.datetime | None
    destroy_due_at: dt.datetime | None
    tests: TestCallState | None
    tests_this_month: int


async def files_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime,
                          tz: str = "UTC") -> list[FileRow]:
    """Open files first (the most overdue test first), then the closed ones awaiting destruction."""
    rows = (await session.execute(select(TgdFile, TgdAssignment).join(TgdAssignment, (
        TgdAssignment.tenant_id == TgdFile.tenant_id) & (TgdAssignment.id == TgdFile.assignment_id))
        .where(TgdFile.tenant_id == tenant_id))).all()
    last = dict((await session.execute(select(TgdTestCall.file_id, func.max(TgdTestCall.called_at)).where(
        TgdTestCall.tenant_id == tenant_id).group_by(TgdTestCall.file_id))).all())
    local = now.astimezone(ZoneInfo(tz))
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    month = dict((await session.execute(select(TgdTestCall.file_id, func.count()).where(
        TgdTestCall.tenant_id == tenant_id, TgdTestCall.called_at >= month_start).group_by(TgdTestCall.file_id))).all())
    out = [FileRow(id=f.id, reference=a.reference, referred_at=f.referred_at, created_at=f.created_at,
                   created_late=f.created_late, closed_at=f.closed_at, destroy_due_at=f.destroy_due_at,
                   tests=None if f.closed_at else file_test_state(a, last.get(f.id), now),
                   tests_this_month=month.get(f.id, 0)) for f, a in rows]
    return sorted(out, key=lambda r: (r.closed_at is not None, r.tests.escalation_due_at if r.tests else r.closed_at))


async def destroy_due_files(session: AsyncSession, tenant_id: uuid.UUID, now: dt.datetime) -> list[str]:
    """2.4: « sa destruction définitive en interne quatre mois après la fermeture du dossier ». The files
    due are erased with their test calls (rows deleted, not flagged; the audit log never held the
    person's data, ``TgdFile.__audit_redact__``); the line's assignment keeps only
    « dossier détruit le … ». The references of the files destroyed."""
    due = (await session.execute(select(TgdFile, TgdAssignment).join(TgdAssignment, (
        TgdAssignment.tenant_id == TgdFile.tenant_id) & (TgdAssignment.id == TgdFile.assignment_id)).where(
        TgdFile.tenant_id == tenant_id, TgdFile.destroy_due_at.is_not(None), TgdFile.destroy_due_at <= now))).all()
    done = []
    for file, assignment in due:
        for call in await calls_of_file(session, file):
            await session.delete(call)
        await session.flush()  # the calls first: no relationship tells the unit of work their order
        await session.delete(file)
        assignment.file_destroyed_at = now
        done.append(assignment.reference)
    await session.flush()
    return done
