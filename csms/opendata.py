"""The stations' open data (issue 16 §3; AFIR, etalab schema-irve 2.3): a tenant opens some of its charge points to
the public, and their static and dynamic files are served, without login, at stable URLs (``csms.web.opendata``).

* ``open_data_settings``: whether the tenant publishes, and the publisher's data the static schema needs
  (aménageur, opérateur, enseigne, AFIREV operator code, implantation, access, hours, PMR);
* ``open_data_points``: the public points, each with the itinerance identifier given to it, if any;
* ``open_data_files``: the files as last written, with their ETag, when their content last changed, and the last
  validation report (the rules of ``csms.domain.opendata``: a point that fails one is left out and named).

The files are written again: at once when the settings are saved; on every change of the registry, by the durable
subscriber of ``csms.registry.changed`` (``SUBSCRIBERS``); and each minute by the job ``csms.open_data``
(``csms.tasks``), which publishes the points' states and also catches the sites' edits (coordinates, address),
which belong to ``tenants``. Writing is idempotent: the same registry gives the same bytes, and a file whose bytes
did not change keeps its ETag and its ``Last-Modified``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantOwned, utcnow
from app.errors import ValidationFailed
from app.outbox import Delivery, Subscriber
from csms.domain.events import RegistryChanged
from csms.domain.opendata import (
    PUBLISHER_FIELDS,
    Candidate,
    ValidationReport,
    check_itinerance_id,
    check_publisher,
    derived_ids,
    validate_points,
)
from csms.irve import dynamic_csv, point_lines, static_csv
from tenants.models import Tenant

__all__ = ["FILES", "SUBSCRIBERS", "OpenDataFile", "OpenDataPoint", "OpenDataSettings", "form_values",
           "get_open_data", "public_file", "publish_all", "regenerate", "save_open_data"]

STATIC, DYNAMIC = "irve-statique.csv", "irve-dynamique.csv"
#: The public files and how long a client or a proxy may keep each (seconds): the states are published each minute.
FILES = {STATIC: 300, DYNAMIC: 60}


class OpenDataSettings(TenantOwned, Base):
    """Les réglages des données ouvertes des bornes : publication et données de l'aménageur et de l'opérateur."""

    __tablename__ = "open_data_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    published: Mapped[bool] = mapped_column(Boolean, default=False, comment="Données ouvertes publiées")
    operator_code: Mapped[str] = mapped_column(String(3), default="", comment="Code opérateur AFIREV (3 caractères)")
    nom_amenageur: Mapped[str] = mapped_column(String(200), default="", comment="Nom de l'aménageur")
    siren_amenageur: Mapped[str] = mapped_column(String(9), default="", comment="SIREN de l'aménageur")
    contact_amenageur: Mapped[str] = mapped_column(String(320), default="", comment="Courriel de l'aménageur")
    nom_operateur: Mapped[str] = mapped_column(String(200), default="", comment="Nom de l'opérateur")
    contact_operateur: Mapped[str] = mapped_column(String(320), default="", comment="Courriel de l'opérateur")
    telephone_operateur: Mapped[str] = mapped_column(String(20), default="", comment="Téléphone de l'opérateur")
    nom_enseigne: Mapped[str] = mapped_column(String(200), default="", comment="Nom de l'enseigne (réseau)")
    implantation_station: Mapped[str] = mapped_column(String(60), default="Parking privé réservé à la clientèle",
                                                      comment="Implantation des stations (schéma IRVE)")
    condition_acces: Mapped[str] = mapped_column(String(20), default="Accès réservé",
                                                 comment="Condition d'accès (schéma IRVE)")
    horaires: Mapped[str] = mapped_column(String(200), default="24/7", comment="Horaires d'ouverture")
    accessibilite_pmr: Mapped[str] = mapped_column(String(60), default="Accessibilité inconnue",
                                                   comment="Accessibilité PMR (schéma IRVE)")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, comment="Modifiés le (UTC)")


class OpenDataPoint(TenantOwned, Base):
    """Un point de charge ouvert au public dans les données ouvertes, avec son identifiant d'itinérance s'il est donné."""

    __tablename__ = "open_data_points"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "charge_point_id"], ["charge_points.tenant_id", "charge_points.id"],
                             ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "charge_point_id"),
    )
    charge_point_id: Mapped[uuid.UUID] = mapped_column(comment="Point de charge publié")
    itinerance_id: Mapped[str] = mapped_column(String(35), default="",
                                               comment="Identifiant d'itinérance donné (vide : dérivé)")


class OpenDataFile(TenantOwned, Base):
    """Un fichier des données ouvertes tel que publié : contenu, empreinte et dernier rapport de validation."""

    __tablename__ = "open_data_files"
    # Written each minute by the job: the log keeps the settings' changes, not every publication.
    __audited__ = False
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    name: Mapped[str] = mapped_column(String(40), comment="Nom du fichier publié")
    content: Mapped[str] = mapped_column(Text, default="", comment="Contenu CSV publié")
    etag: Mapped[str] = mapped_column(String(64), default="", comment="Empreinte SHA-256 du contenu")
    rows: Mapped[int] = mapped_column(Integer, default=0, comment="Nombre de points de charge publiés")
    modified_at: Mapped[dt.datetime] = mapped_column(default=utcnow, comment="Contenu modifié le (UTC)")
    generated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, comment="Écrit le (UTC)")
    report: Mapped[dict[str, Any]] = mapped_column(default=dict, comment="Dernier rapport de validation")


# --------------------------------------------------------------------------- settings


async def get_open_data(session: AsyncSession, tenant_id: uuid.UUID) -> OpenDataSettings | None:
    return await session.scalar(select(OpenDataSettings).where(OpenDataSettings.tenant_id == tenant_id))


async def _selection(session: AsyncSession, tenant_id: uuid.UUID) -> dict[uuid.UUID, OpenDataPoint]:
    return {p.charge_point_id: p for p in await session.scalars(
        select(OpenDataPoint).where(OpenDataPoint.tenant_id == tenant_id))}


def _publisher(settings: OpenDataSettings) -> dict[str, str]:
    return {key: getattr(settings, key) for key in PUBLISHER_FIELDS}


async def form_values(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, Any]:
    """The form's values: the saved settings, else what the tenant's profile suggests; and the public points."""
    settings = await get_open_data(session, tenant_id)
    if settings is not None:
        values: dict[str, Any] = _publisher(settings)
        values["published"] = settings.published
    else:
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        values = {"nom_amenageur": tenant.name, "siren_amenageur": (tenant.siret or "")[:9], "nom_enseigne": tenant.name,
                  "implantation_station": "Parking privé réservé à la clientèle", "condition_acces": "Accès réservé",
                  "horaires": "24/7", "accessibilite_pmr": "Accessibilité inconnue", "published": False}
    selection = await _selection(session, tenant_id)
    values["points"] = {str(pid): p.itinerance_id for pid, p in selection.items()}
    return values


async def save_open_data(session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any], *,
                         now: dt.datetime) -> ValidationReport | None:
    """Save the settings and the public points (form keys ``public-{point id}`` and ``id-{point id}``) and write
    the files; ``ValidationFailed`` (French message per field) before anything is written."""
    values, errors = check_publisher(data)
    lines = {line.point_id: line for line in await point_lines(session, tenant_id)}
    chosen: dict[uuid.UUID, str] = {}
    for point_id, line in lines.items():
        if str(data.get(f"public-{point_id}") or "") not in ("", "0", "false"):
            given = str(data.get(f"id-{point_id}") or "").strip().upper().replace("*", "").replace("-", "")
            if len(given) > 35:
                errors[f"id-{point_id}"] = f"{line.point_canonical} : 35 caractères au plus."
            elif given and "operator_code" not in errors and (
                    problem := check_itinerance_id(given, "E", values["operator_code"])):
                errors[f"id-{point_id}"] = f"{line.point_canonical} : {problem}"
            chosen[point_id] = given
    if "operator_code" not in errors:
        final = {pid: given or derived_ids(values["operator_code"], lines[pid].station_canonical,
                                           lines[pid].point_canonical)[1] for pid, given in chosen.items()}
        counts = Counter(final.values())
        for pid, identifier in final.items():
            if counts[identifier] > 1 and f"id-{pid}" not in errors:
                errors[f"id-{pid}"] = (f"{lines[pid].point_canonical} : l'identifiant d'itinérance {identifier} est "
                                       f"donné à {counts[identifier]} points de charge ; il doit être unique.")
    published = str(data.get("published") or "") not in ("", "0", "false")
    if published and not chosen:
        errors["published"] = "Choisissez au moins un point de charge ouvert au public avant de publier."
    if errors:
        raise ValidationFailed(errors)
    settings = await get_open_data(session, tenant_id)
    if settings is None:
        settings = OpenDataSettings(tenant_id=tenant_id)
        session.add(settings)
    for key, value in values.items():
        setattr(settings, key, value)
    settings.published = published
    settings.updated_at = now
    selection = await _selection(session, tenant_id)
    for pid, row in selection.items():
        if pid not in chosen:
            await session.delete(row)
        elif row.itinerance_id != chosen[pid]:
            row.itinerance_id = chosen[pid]
    for pid, given in chosen.items():
        if pid not in selection:
            session.add(OpenDataPoint(tenant_id=tenant_id, charge_point_id=pid, itinerance_id=given))
    await session.flush()
    return await regenerate(session, tenant_id, now=now)


# --------------------------------------------------------------------------- the files


def _etag(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


async def _store(session: AsyncSession, tenant_id: uuid.UUID, name: str, content: bytes, rows: int,
                 now: dt.datetime, report: dict[str, Any] | None = None) -> None:
    """Core statements: the table is unaudited, hence append-only for the ORM (``app.db``), and the files are
    written each minute; the log keeps the settings' changes."""
    where = (OpenDataFile.tenant_id == tenant_id, OpenDataFile.name == name)
    known = await session.scalar(select(OpenDataFile.etag).where(*where).with_for_update())
    etag = _etag(content)
    changes: dict[str, Any] = {"generated_at": now}
    if report is not None:
        changes["report"] = report
    if known != etag:  # the same bytes keep their ETag and Last-Modified
        changes.update(content=content.decode(), etag=etag, rows=rows, modified_at=now)
    if known is None:
        await session.execute(insert(OpenDataFile).values(
            tenant_id=tenant_id, id=uuid.uuid4(), name=name, **{"report": {}, **changes}))
    else:
        await session.execute(update(OpenDataFile).where(*where).values(**changes)
                              .execution_options(synchronize_session=False))


async def regenerate(session: AsyncSession, tenant_id: uuid.UUID, *, now: dt.datetime) -> ValidationReport | None:
    """Write the tenant's two files from its registry and settings; None (and no file) when it does not publish."""
    settings = await get_open_data(session, tenant_id)
    if settings is None:
        return None
    if not settings.published:  # withdrawn: nothing stays behind the URLs
        await session.execute(delete(OpenDataFile).where(OpenDataFile.tenant_id == tenant_id)
                              .execution_options(synchronize_session=False))
        return None
    selection = await _selection(session, tenant_id)
    code = settings.operator_code
    publisher = _publisher(settings)
    lines = await point_lines(session, tenant_id, only=set(selection), publisher=publisher)
    candidates = {}
    for line in lines:
        station_id, point_id = derived_ids(code, line.station_canonical, line.point_canonical)
        candidates[line.point_id] = Candidate(str(line.point_id), line.label, station_id,
                                              selection[line.point_id].itinerance_id or point_id,
                                              line.latitude, line.longitude)
    accepted, report = validate_points(candidates.values(), code, now)
    published = {uuid.UUID(c.point_key): c for c in accepted}
    per_station = Counter(line.station_canonical for line in lines if line.point_id in published)
    static, dynamic = [], []
    for line in lines:
        if (candidate := published.get(line.point_id)) is None:
            continue
        static.append({**line.static, "id_station_itinerance": candidate.id_station_itinerance,
                       "id_pdc_itinerance": candidate.id_pdc_itinerance, "nbre_pdc": per_station[line.station_canonical],
                       "date_maj": max(line.static["date_maj"], settings.updated_at.date().isoformat())})
        dynamic.append({**line.dynamic, "id_pdc_itinerance": candidate.id_pdc_itinerance})
    await _store(session, tenant_id, STATIC, static_csv(static), len(static), now, report.as_dict())
    await _store(session, tenant_id, DYNAMIC, dynamic_csv(dynamic), len(dynamic), now)
    await session.flush()
    return report


async def last_report(session: AsyncSession, tenant_id: uuid.UUID) -> tuple[ValidationReport | None, list[OpenDataFile]]:
    files = list(await session.scalars(select(OpenDataFile).where(OpenDataFile.tenant_id == tenant_id)
                                       .order_by(OpenDataFile.name.desc())))
    static = next((f for f in files if f.name == STATIC), None)
    return (ValidationReport.from_dict(static.report) if static else None), files


async def public_file(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> OpenDataFile | None:
    """The file as published, or None when the tenant does not publish (the URL is then a 404 like any other)."""
    settings = await get_open_data(session, tenant_id)
    if settings is None or not settings.published or name not in FILES:
        return None
    return await session.scalar(select(OpenDataFile).where(OpenDataFile.tenant_id == tenant_id,
                                                           OpenDataFile.name == name))


async def publish_all(db: Any, now: dt.datetime) -> list[uuid.UUID]:
    """The job's pass: every publishing tenant's files written again, each in its own transaction; their ids."""
    from tenants.services import all_tenant_ids

    async with db.session() as session:
        tenant_ids = await all_tenant_ids(session)
    done = []
    for tenant_id in tenant_ids:
        async with db.transaction([tenant_id], actor={"user_id": None, "label": "système"}) as session:
            if await regenerate(session, tenant_id, now=now) is not None:
                done.append(tenant_id)
    return done


async def regenerate_after_registry_change(delivery: Delivery, event: RegistryChanged) -> None:
    """The files written again after a registration, an edit or a retirement. Twice: the same bytes, nothing
    changes (ETag and Last-Modified kept)."""
    await regenerate(delivery.session, event.tenant_id, now=utcnow())


SUBSCRIBERS: list[Subscriber[Any]] = [
    Subscriber(RegistryChanged, "csms.open-data.static", regenerate_after_registry_change),
]
