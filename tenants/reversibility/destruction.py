"""Destroying a tenant's data once its reversibility is complete, with a signed certificate (issue 16 §4; CCP TGD
V.4; annexe 2 II.2.4: « les données […] sont détruites »).

Two people, in order: the tenant's admin confirms on the « Réversibilité » page that the archive was received
(its typed name, a finished export), which opens a cooling-off of ``COOLING_OFF`` during which any admin of the
tenant may cancel; then the platform operator runs ``centrale destroy tenant TENANT_ID --confirm TENANT_ID``, which
erases, in one transaction on the tables' owner connection:

- every row of every table of ``app.db.TENANT_TABLES`` (walked, so a table added later is erased too), the
  platform rows carrying the tenant's id (subscriptions, building codes, charge-box routes, OIDC provider, its mails
  and undelivered events), then the tenant's own row;
- the accounts that were the tenant's only (no other tenant's row nor a central's membership points at them),
  with their API and reset tokens and the mails sent to them; an account another tenant or a central still has
  keeps living, only its link to this tenant goes;

then every stored file of the tenant (each component's ``stored_files``: attachments, export archives). What is
kept about an erased account (the platform's audit log, append-only, and the destruction requests) names it by a
stable pseudonym (``pseudonym``) instead of its e-mail address. The
certificate (``certificate.build_certificate``), signed with the instance's key (``app.signing``), is kept in the
platform table ``tenant_destructions``, outside the tenant; the destruction is in the platform's audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import String, Table, and_, cast, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import record_event
from app.db import TENANT_TABLES, Database, scope_session, unscoped, utcnow
from app.errors import NotFound, ValidationFailed
from app.settings import Settings
from tenants.models import Tenant
from tenants.reversibility.archive import NEVER_EXPORTED
from tenants.reversibility.certificate import DestructionFacts, build_certificate
from tenants.reversibility.models import TenantDestruction, TenantExport

__all__ = [
    "COOLING_OFF",
    "access_destruction",
    "announce_destruction",
    "cancel_destruction",
    "destroy_tenant",
    "find_destruction",
    "list_destructions",
    "pending_destruction",
    "pseudonym",
    "request_destruction",
    "stored_files",
]

#: Between the admin's confirmation and the earliest destruction: any admin of the tenant may cancel meanwhile.
COOLING_OFF = dt.timedelta(days=7)
#: Platform tables whose rows of the tenant are erased with it although the export never walks them.
TENANT_PLATFORM_ROWS = ("mail_outbox", "outbox_events")


def pseudonym(email: str) -> str:
    """What the kept records say instead of an erased account's e-mail address: the same for every row, so that
    the log still reads as one person's actions, and checkable by whoever knows the address (``efface-`` and the
    first 16 hex digits of the SHA-256 of the lower-case address). A pseudonym, not an anonymisation: an address
    that can be guessed can be tested."""
    return "efface-" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


def stored_files(settings: Settings, tenant_id: uuid.UUID) -> list[Path]:
    """``tenants``' own stored files of the tenant: its export archives."""
    return [settings.var_dir / "exports" / str(tenant_id)]


async def pending_destruction(session: AsyncSession, tenant_id: uuid.UUID) -> TenantDestruction | None:
    return await session.scalar(select(TenantDestruction).where(
        TenantDestruction.tenant_id == tenant_id, TenantDestruction.status == "pending").limit(1))


async def request_destruction(session: AsyncSession, tenant: Tenant, *, email: str, user_id: uuid.UUID | None,
                              typed_name: str, received: bool, now: dt.datetime) -> TenantDestruction:
    """The admin's confirmation that the reversibility is complete: the archive of a finished export received
    (``received``) and the tenant's name typed as it is written. Opens the cooling-off; audited in the tenant's
    log and, as a platform row, in the platform's."""
    errors: dict[str, str] = {}
    export_id = await session.scalar(select(TenantExport.id).where(
        TenantExport.tenant_id == tenant.id, TenantExport.status.in_(("done", "expired")))
        .order_by(TenantExport.finished_at.desc()).limit(1))
    if export_id is None:
        errors["export"] = "Faites d'abord un export de réversibilité et récupérez son archive."
    if not received:
        errors["recu"] = "Cochez la case : l'archive de réversibilité a été récupérée et vérifiée."
    if " ".join(typed_name.split()).casefold() != " ".join(tenant.name.split()).casefold():
        errors["nom"] = f"Saisissez exactement le nom du bénéficiaire : « {tenant.name} »."
    if await pending_destruction(session, tenant.id) is not None:
        errors["destruction"] = "Une destruction est déjà demandée."
    if errors:
        raise ValidationFailed(errors)
    row = TenantDestruction(tenant_id=tenant.id, tenant_name=tenant.name[:200], requested_by=email[:320],
                            requested_by_user_id=user_id, requested_at=now, not_before=now + COOLING_OFF,
                            export_id=export_id)
    session.add(row)
    record_event(session, action="confirm", entity="tenant_destructions", entity_id=str(row.id), tenant_id=tenant.id,
                 details={"not_before": row.not_before.isoformat(), "export_id": str(export_id)})
    await session.flush()
    return row


async def announce_destruction(session: AsyncSession, settings: Settings, row: TenantDestruction) -> list[str]:
    """Mail every admin of the tenant that a destruction was asked for, with the date it may happen and the page
    where any of them may cancel it: one admin alone never erases the tenant unnoticed. The addresses mailed."""
    from app.mail import deliver_email
    from tenants.models import Role
    from tenants.services import list_tenant_members

    link = f"{settings.base_url}/t/{row.tenant_id}/reversibilite#destruction"
    admins = sorted({m.user.email for m in await list_tenant_members(session, row.tenant_id) if m.role == Role.ADMIN})
    for email in admins:
        await deliver_email(
            session, settings if settings.smtp_host else None, to=email, tenant_id=row.tenant_id,
            subject=f"Destruction des données demandée : {row.tenant_name}",
            body=(f"Bonjour,\n\n{row.requested_by} a confirmé le {row.requested_at:%d/%m/%Y à %H:%M} (UTC) que la "
                  f"réversibilité de {row.tenant_name} est terminée et demandé la destruction de ses données.\n\n"
                  f"L'exploitant pourra les effacer à partir du {row.not_before:%d/%m/%Y à %H:%M} (UTC). Tout "
                  f"administrateur peut annuler la demande d'ici là depuis la page « Réversibilité » :\n{link}\n"))
    return admins


async def access_destruction(session: AsyncSession, tenant_id: uuid.UUID, destruction_id: uuid.UUID) -> \
        TenantDestruction:
    """A destruction of ``tenant_id``; ``NotFound`` for another tenant's (the table is the platform's: the tenant
    filter is here, explicit)."""
    row = await session.scalar(select(TenantDestruction).where(TenantDestruction.tenant_id == tenant_id,
                                                               TenantDestruction.id == destruction_id))
    if row is None:
        raise NotFound("destruction")
    return row


async def cancel_destruction(session: AsyncSession, tenant_id: uuid.UUID, destruction_id: uuid.UUID, *,
                             email: str, now: dt.datetime) -> TenantDestruction:
    row = await access_destruction(session, tenant_id, destruction_id)
    if row.status != "pending":
        raise ValidationFailed({"destruction": "Cette demande n'est plus en cours : elle ne peut pas être annulée."})
    row.status, row.cancelled_at, row.cancelled_by = "cancelled", now, email[:320]
    record_event(session, action="cancel", entity="tenant_destructions", entity_id=str(row.id), tenant_id=tenant_id)
    return row


async def list_destructions(session: AsyncSession, tenant_id: uuid.UUID | None = None) -> list[TenantDestruction]:
    query = select(TenantDestruction).order_by(TenantDestruction.requested_at.desc())
    if tenant_id is not None:
        query = query.where(TenantDestruction.tenant_id == tenant_id)
    return list(await session.scalars(query))


async def find_destruction(session: AsyncSession, key: uuid.UUID) -> TenantDestruction:
    """A destruction by its id, or the latest done one of the tenant ``key`` (the operator's command line)."""
    row = await session.get(TenantDestruction, key)
    if row is None:
        row = await session.scalar(select(TenantDestruction).where(
            TenantDestruction.tenant_id == key, TenantDestruction.status == "done")
            .order_by(TenantDestruction.destroyed_at.desc()).limit(1))
    if row is None:
        raise NotFound("destruction")
    return row


# --------------------------------------------------------------------------- the erasure


def _files_of(paths: list[Path]) -> tuple[int, int, list[Path]]:
    files, size, found = 0, 0, []
    for path in paths:
        if path.is_file():
            files, size = files + 1, size + path.stat().st_size
            found.append(path)
        elif path.is_dir():
            found.append(path)
            for item in path.rglob("*"):
                if item.is_file():
                    files, size = files + 1, size + item.stat().st_size
    return files, size, found


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _delete_order(metadata: Any) -> list[Table]:
    """The tenant tables and the platform tables carrying its id, children before parents."""
    wanted = set(TENANT_TABLES) | set(TENANT_PLATFORM_ROWS)
    for name, table in metadata.tables.items():
        column = table.c.get("tenant_id")
        if column is not None and any(fk.column.table.name == "tenants" for fk in column.foreign_keys):
            wanted.add(name)
    return [t for t in reversed(metadata.sorted_tables) if t.name in wanted]


async def _user_references(session: AsyncSession, metadata: Any) -> list[tuple[Table, Any]]:
    """Every (table, column) pointing at ``users.id``."""
    users = metadata.tables["users"]
    found = []
    for table in metadata.tables.values():
        for fk in table.foreign_key_constraints:
            if fk.referred_table is users and len(fk.columns) == 1:
                found.append((table, next(iter(fk.columns))))
    return sorted(found, key=lambda pair: (pair[0].name, pair[1].name))


async def _erase(session: AsyncSession, metadata: Any, tenant_id: uuid.UUID) -> \
        tuple[dict[str, int], dict[str, int], int, list[_Erased]]:
    """Delete the tenant's rows; (rows per tenant table, platform rows erased, accounts kept, accounts erased)."""
    users = metadata.tables["users"]
    references = await _user_references(session, metadata)
    # The accounts linked to this tenant, read before their links go.
    candidates: set[Any] = set(await session.scalars(select(users.c.id).where(users.c.managed_by_tenant_id == tenant_id)))
    for table, column in references:
        if table.name in TENANT_TABLES:
            candidates |= set(await session.scalars(select(column).where(table.c.tenant_id == tenant_id,
                                                                         column.is_not(None)).distinct()))
    tables: dict[str, int] = {name: 0 for name in TENANT_TABLES}
    platform: dict[str, int] = {}
    for table in _delete_order(metadata):
        if table.name == "outbox_events":
            deliveries = metadata.tables["outbox_deliveries"]
            platform["outbox_deliveries"] = int(await session.scalar(
                select(func.count()).select_from(deliveries).join(table, deliveries.c.event_id == table.c.id)
                .where(table.c.tenant_id == tenant_id)) or 0)
        result = await session.execute(delete(table).where(table.c.tenant_id == tenant_id))
        (tables if table.name in TENANT_TABLES else platform)[table.name] = result.rowcount or 0
    tenants = metadata.tables["tenants"]
    tables["tenants"] = (await session.execute(delete(tenants).where(tenants.c.id == tenant_id))).rowcount or 0

    # Which accounts someone else still has: read across every remaining tenant (row-level security shows a
    # session its scope only), then erase the others with their credentials.
    remaining = list(await session.scalars(select(tenants.c.id)))
    scope_session(session, remaining)
    kept: set[Any] = set()
    for table, column in references:
        if table.name in NEVER_EXPORTED or not candidates:
            continue  # credentials: erased with the account (ON DELETE CASCADE)
        kept |= set(await session.scalars(select(column).where(column.in_(candidates)).distinct()))
    erased = sorted(candidates - kept)
    for table, column in references:
        if table.name in NEVER_EXPORTED:
            platform[table.name] = int(await session.scalar(
                select(func.count()).select_from(table).where(column.in_(erased))) or 0) if erased else 0
    if erased:  # the mails sent to the erased accounts outside any tenant (password resets)
        mails = metadata.tables["mail_outbox"]
        gone = list(await session.scalars(select(users.c.email).where(users.c.id.in_(erased))))
        result = await session.execute(delete(mails).where(mails.c.tenant_id.is_(None), mails.c.to.in_(gone)))
        platform["mail_outbox"] = platform.get("mail_outbox", 0) + (result.rowcount or 0)
    count = 0
    accounts = {row.id: row for row in (await session.execute(
        select(users.c.id, users.c.email, users.c.full_name).where(users.c.id.in_(erased)))).all()} if erased else {}
    for user_id in erased:
        try:
            async with session.begin_nested():
                count += (await session.execute(delete(users).where(users.c.id == user_id))).rowcount or 0
        except IntegrityError:  # a row no reference walk saw still needs it: kept, and counted as kept
            kept.add(user_id)
            accounts.pop(user_id, None)
    platform["users"] = count
    scope_session(session, [tenant_id])
    return tables, platform, len(kept), [_Erased(str(a.id), a.email, a.full_name or "") for a in accounts.values()]


@dataclass(frozen=True)
class _Erased:
    """An erased account, as the kept records may still name it."""

    id: str
    email: str
    full_name: str


def _addresses(accounts: list[_Erased]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(a.email) for a in sorted(accounts, key=lambda a: -len(a.email))),
                      re.IGNORECASE)


def _masked(value: Any, addresses: re.Pattern[str], names: dict[str, str]) -> Any:
    """``value`` (an audit row's before/after, walked) with every erased address replaced by its pseudonym and,
    where ``names`` maps a full name to its pseudonym (the rows about the account itself), its ``full_name``."""
    if isinstance(value, str):
        return addresses.sub(lambda m: pseudonym(m.group(0)), value)
    if isinstance(value, list):
        return [_masked(v, addresses, names) for v in value]
    if isinstance(value, dict):
        return {k: (names.get(v, v) if k == "full_name" and isinstance(v, str) else _masked(v, addresses, names))
                for k, v in value.items()}
    return value


def _like(email: str) -> str:
    escaped = email.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def _pseudonymise(session: AsyncSession, metadata: Any, tenant_id: uuid.UUID,
                        accounts: list[_Erased]) -> dict[str, int]:
    """Replace the erased accounts' addresses in what the destruction keeps: the platform's audit log (append-only
    for the application role: this runs on the owner's connection) and the tenant's destruction requests. Core
    statements: rewriting the log is not itself logged, or the log would hold the addresses again. Rows rewritten
    per table."""
    done = {"platform_audit_events": 0, "tenant_destructions": 0}
    if not accounts:
        return done
    addresses = _addresses(accounts)
    log = metadata.tables["platform_audit_events"]
    by_id = {a.id: a for a in accounts}
    for start in range(0, len(accounts), 50):  # bounded statements, one pass over the log each
        chunk = accounts[start:start + 50]
        ids = [uuid.UUID(a.id) for a in chunk]
        texts = [func.lower(log.c.actor_label), func.lower(log.c.entity_id),
                 func.lower(cast(log.c.before, String)), func.lower(cast(log.c.after, String))]
        found = (await session.execute(select(log).where(or_(
            log.c.actor_user_id.in_(ids), and_(log.c.entity == "users", log.c.entity_id.in_([a.id for a in chunk])),
            *[column.like(_like(a.email), escape="\\") for a in chunk for column in texts])))).all()
        for row in found:
            about = by_id.get(row.entity_id) if row.entity == "users" else None
            names = {about.full_name: pseudonym(about.email)} if about and about.full_name else {}
            changes = {"actor_label": _masked(row.actor_label, addresses, {})[:320],
                       "entity_id": _masked(row.entity_id, addresses, {})[:80],
                       "before": _masked(row.before, addresses, names), "after": _masked(row.after, addresses, names)}
            if any(changes[k] != getattr(row, k) for k in changes):
                await session.execute(update(log).where(log.c.id == row.id).values(**changes))
                done["platform_audit_events"] += 1
    requests = metadata.tables["tenant_destructions"]
    for row in (await session.execute(select(requests.c.id, requests.c.requested_by, requests.c.cancelled_by)
                                      .where(requests.c.tenant_id == tenant_id))).all():
        changes = {k: _masked(getattr(row, k), addresses, {}) for k in ("requested_by", "cancelled_by")
                   if getattr(row, k) is not None}
        if any(changes[k] != getattr(row, k) for k in changes):
            await session.execute(update(requests).where(requests.c.id == row.id).values(**changes))
            done["tenant_destructions"] += 1
    return done


async def destroy_tenant(settings: Settings, tenant_id: uuid.UUID, *, operator: str, confirm: str,
                         now: dt.datetime | None = None) -> TenantDestruction:
    """Erase the tenant (the operator's step, after the admin's confirmation and its cooling-off) and keep the
    signed certificate. ``confirm`` must repeat the tenant's id."""
    from app import composition
    from app.signing import sign_document
    from tenants.reversibility.archive import app_version, schema_revision

    if confirm.strip().lower() != str(tenant_id):
        raise ValidationFailed({"confirm": "Répétez l'identifiant du bénéficiaire avec --confirm pour détruire ses données."})
    metadata = composition.metadata()
    started = now or utcnow()
    actor = {"user_id": None, "label": f"exploitant : {operator}"[:320]}
    # The tables' owner: the audit log is append-only for the application role, and it is the tenant's too.
    db = Database(settings.admin_url, pool_size=1)
    try:
        async with db.transaction([tenant_id], actor=actor) as session:
            with unscoped(session):
                tenant = await session.get(Tenant, tenant_id)
                request = await session.scalar(select(TenantDestruction).where(
                    TenantDestruction.tenant_id == tenant_id, TenantDestruction.status == "pending")
                    .with_for_update().limit(1))
                if tenant is None:
                    raise NotFound("bénéficiaire")
                if request is None:
                    raise ValidationFailed({"destruction": "Aucune destruction confirmée par un administrateur du "
                                                           "bénéficiaire (page « Réversibilité »)."})
                if request.not_before > started:
                    raise ValidationFailed({"destruction": "Le délai de réflexion court jusqu'au "
                                                           f"{request.not_before:%d/%m/%Y %H:%M} (UTC)."})
                running = await session.scalar(select(TenantExport.id).where(
                    TenantExport.tenant_id == tenant_id, TenantExport.status.in_(("queued", "running"))).limit(1))
                if running is not None:
                    raise ValidationFailed({"export": "Un export de réversibilité est en cours : attendez sa fin."})
                identity = {"id": str(tenant.id), "name": tenant.name, "siret": tenant.siret, "finess": tenant.finess,
                            "central_id": str(tenant.central_id) if tenant.central_id else None}
                revision = await schema_revision(session)
                folders = [p for hook in composition.stored_files() for p in hook(settings, tenant_id)]
                files, size, found = _files_of(folders)
                tables, platform, kept, accounts = await _erase(session, metadata, tenant_id)
                pseudonymised = await _pseudonymise(session, metadata, tenant_id, accounts)
                await session.refresh(request, ["requested_by", "cancelled_by"])  # as rewritten, unaudited
                facts = DestructionFacts(
                    certificate_id=str(request.id), tenant=identity, requested_by=request.requested_by,
                    requested_at=request.requested_at, not_before=request.not_before,
                    export_id=str(request.export_id) if request.export_id else None, destroyed_by=operator,
                    started_at=started, tables=tables, platform=platform, users_kept=kept,
                    pseudonymised=pseudonymised, files=files,
                    file_bytes=size, folders=[_relative(p, settings.var_dir) for p in found],
                    instance={"url": settings.base_url, "application_version": app_version(),
                              "schema_revision": revision})
                finished = now or utcnow()
                signed = sign_document(settings, build_certificate(
                    facts, backup_retention_days=settings.backup_retention_days, now=finished))
                request.status, request.destroyed_at, request.destroyed_by = "done", finished, operator[:320]
                request.certificate = signed.decode()
                request.certificate_sha256 = hashlib.sha256(signed).hexdigest()
                record_event(session, action="destroy", entity="tenants", entity_id=str(tenant_id),
                             details={"certificate_id": str(request.id), "rows": sum(tables.values()),
                                      "files": files, "certificate_sha256": request.certificate_sha256})
        _remove(found)
        return request
    finally:
        await db.dispose()


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
