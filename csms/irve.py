"""The tenant's stations in the State's open-data formats, etalab schema-irve 2.3 (static: one line per charge
point; dynamic: its state and occupation), for the reversibility export (issue 16 §1) and for the open data of
§3 (``csms.opendata``: the same lines, of the tenant's public points only, with its publisher's settings). Valid
against ``../shared/reference/schema-irve/`` (checked with ``frictionless`` in the tests).

What the registry does not know, the schema still requires: those fields get a stated default (« Accès réservé »:
the points are opened by the tenant's RFID badges; « 24/7 »; « Accessibilité inconnue »; « Inconnu »), listed in
docs/reversibility.md. A point is left out when its station's site has no coordinates or its identifier is not of
the itinerance form (``^[A-Z]{2}[A-Z0-9]{4,33}$``): the full registry is in the archive's tables anyway.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.component import ExportFile
from csms.domain.models import ChargePoint, Charger, Station
from tenants.models import Membership, Role, Site, Tenant, User

__all__ = ["DYNAMIC_FIELDS", "STATIC_FIELDS", "PointLine", "dynamic_csv", "export_files", "irve_files", "point_lines",
           "static_csv"]

STATIC_FIELDS = (
    "nom_amenageur", "siren_amenageur", "contact_amenageur", "nom_operateur", "contact_operateur",
    "telephone_operateur", "nom_enseigne", "id_station_itinerance", "id_station_local", "nom_station",
    "implantation_station", "adresse_station", "code_insee_commune", "coordonneesXY", "nbre_pdc",
    "id_pdc_itinerance", "id_pdc_local", "puissance_nominale", "prise_type_ef", "prise_type_2",
    "prise_type_combo_ccs", "prise_type_chademo", "prise_type_autre", "gratuit", "paiement_acte", "paiement_cb",
    "paiement_autre", "tarification", "condition_acces", "reservation", "horaires", "accessibilite_pmr",
    "restriction_gabarit", "station_deux_roues", "raccordement", "num_pdl", "date_mise_en_service",
    "observations", "date_maj", "cable_t2_attache",
)
DYNAMIC_FIELDS = ("id_pdc_itinerance", "etat_pdc", "occupation_pdc", "horodatage", "etat_prise_type_2",
                  "etat_prise_type_combo_ccs", "etat_prise_type_chademo", "etat_prise_type_ef")
ITINERANCE = re.compile(r"^[A-Z]{2}[A-Z0-9]{4,33}$")
#: OCPP status (1.6 and 2.0.1) → (etat_pdc, occupation_pdc).
STATES = {
    "Available": ("en_service", "libre"),
    "Preparing": ("en_service", "occupe"),
    "Charging": ("en_service", "occupe"),
    "SuspendedEV": ("en_service", "occupe"),
    "SuspendedEVSE": ("en_service", "occupe"),
    "Finishing": ("en_service", "occupe"),
    "Occupied": ("en_service", "occupe"),
    "Reserved": ("en_service", "reserve"),
    "Unavailable": ("hors_service", "inconnu"),
    "Faulted": ("hors_service", "inconnu"),
}
#: Socket codes of ``ChargePoint.socket_types`` → the dynamic file's socket column.
SOCKETS = {"T2": "etat_prise_type_2", "CCS": "etat_prise_type_combo_ccs", "CHADEMO": "etat_prise_type_chademo",
           "EF": "etat_prise_type_ef"}


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _csv(fields: tuple[str, ...], rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


@dataclass
class IrveFiles:
    static: bytes
    dynamic: bytes
    rows: int
    skipped: int


@dataclass
class PointLine:
    """One charge point in service, its static and dynamic lines, and what the open data checks on it."""

    point_id: uuid.UUID
    station_canonical: str
    point_canonical: str
    label: str
    latitude: float | None
    longitude: float | None
    static: dict[str, Any]
    dynamic: dict[str, Any]


def static_csv(rows: list[dict[str, Any]]) -> bytes:
    return _csv(STATIC_FIELDS, rows)


def dynamic_csv(rows: list[dict[str, Any]]) -> bytes:
    return _csv(DYNAMIC_FIELDS, rows)


async def point_lines(session: AsyncSession, tenant_id: uuid.UUID, *, only: set[uuid.UUID] | None = None,
                      publisher: dict[str, str] | None = None) -> list[PointLine]:
    """The lines of the tenant's charge points in service (of ``only`` when given), by identifier. ``publisher``
    replaces the stated defaults with the tenant's open-data settings (aménageur, opérateur, enseigne,
    implantation, accès, horaires, PMR)."""
    tenant = await session.get(Tenant, tenant_id)
    assert tenant is not None
    sites = {s.id: s for s in await session.scalars(select(Site).where(Site.tenant_id == tenant_id))}
    stations = {s.id: s for s in await session.scalars(select(Station).where(Station.tenant_id == tenant_id))}
    chargers = {c.id: c for c in await session.scalars(select(Charger).where(
        Charger.tenant_id == tenant_id, Charger.decommissioned_at.is_(None)))}
    points = [p for p in await session.scalars(select(ChargePoint).where(ChargePoint.tenant_id == tenant_id)
                                               .order_by(ChargePoint.canonical_id, ChargePoint.id))
              if p.charger_id in chargers and (only is None or p.id in only)]
    # The schema requires an operator contact: the site's referent, else the tenant's first admin.
    admin = await session.scalar(select(User.email).join(Membership, Membership.user_id == User.id).where(
        Membership.tenant_id == tenant_id, Membership.role == Role.ADMIN.value).order_by(User.email).limit(1))
    per_station: dict[uuid.UUID, int] = {}
    for point in points:
        station_id = chargers[point.charger_id].station_id
        per_station[station_id] = per_station.get(station_id, 0) + 1
    lines = []
    for point in points:
        charger = chargers[point.charger_id]
        station = stations[charger.station_id]
        site: Site = sites[station.site_id]
        contact = site.referent_email or admin or ""
        sockets = {s.strip().upper() for s in (point.socket_types or "").split(",") if s.strip()}
        updated = max(station.created_at, charger.created_at, point.created_at)
        coordinates = ("" if site.latitude is None or site.longitude is None
                       else f"[{site.longitude:.6f},{site.latitude:.6f}]")
        static = {
            "nom_amenageur": tenant.name, "siren_amenageur": (tenant.siret or "")[:9],
            "contact_amenageur": contact, "nom_operateur": "", "contact_operateur": contact,
            "telephone_operateur": "", "nom_enseigne": tenant.name,
            "id_station_itinerance": station.canonical_id if ITINERANCE.match(station.canonical_id) else "Non concerné",
            "id_station_local": station.canonical_id, "nom_station": station.name or station.canonical_id,
            "implantation_station": "Parking privé réservé à la clientèle",
            "adresse_station": " ".join(p for p in (site.address, site.postal_code, site.city) if p) or site.name,
            "code_insee_commune": site.insee_code, "coordonneesXY": coordinates,
            "nbre_pdc": per_station[station.id], "id_pdc_itinerance": point.canonical_id,
            "id_pdc_local": point.usage_name or point.canonical_id,
            "puissance_nominale": f"{point.power_kw or 0:g}",
            "prise_type_ef": _bool("EF" in sockets), "prise_type_2": _bool("T2" in sockets),
            "prise_type_combo_ccs": _bool("CCS" in sockets), "prise_type_chademo": _bool("CHADEMO" in sockets),
            "prise_type_autre": _bool(bool(sockets - set(SOCKETS))), "gratuit": "", "paiement_acte": "false",
            "paiement_cb": "", "paiement_autre": "", "tarification": "", "condition_acces": "Accès réservé",
            "reservation": "false", "horaires": "24/7", "accessibilite_pmr": "Accessibilité inconnue",
            "restriction_gabarit": "Inconnu", "station_deux_roues": "false", "raccordement": "", "num_pdl": "",
            "date_mise_en_service": charger.created_at.date().isoformat(), "observations": "",
            "date_maj": updated.date().isoformat(), "cable_t2_attache": "",
        }
        if publisher is not None:
            static.update({k: v for k, v in publisher.items() if k in static and v})
        state, occupation = STATES.get(point.last_status, ("inconnu", "inconnu"))
        socket_state = {"en_service": "fonctionnel", "hors_service": "hors_service"}.get(state, "inconnu")
        when: dt.datetime = point.last_status_at or point.created_at
        dynamic = {
            "id_pdc_itinerance": point.canonical_id, "etat_pdc": state, "occupation_pdc": occupation,
            "horodatage": when.astimezone(dt.UTC).isoformat(timespec="seconds"),
            **{column: (socket_state if code in sockets else "") for code, column in SOCKETS.items()},
        }
        lines.append(PointLine(point.id, station.canonical_id, point.canonical_id,
                               f"{point.canonical_id} ({point.usage_name or station.name})", site.latitude,
                               site.longitude, static, dynamic))
    return lines


async def irve_files(session: AsyncSession, tenant_id: uuid.UUID) -> IrveFiles:
    """The static and dynamic CSV files of the tenant's charge points in service, by identifier."""
    static, dynamic, skipped = [], [], 0
    for line in await point_lines(session, tenant_id):
        if (line.latitude is None or line.longitude is None or not ITINERANCE.match(line.point_canonical)
                or not line.static["contact_operateur"]):
            skipped += 1
            continue
        static.append(line.static)
        dynamic.append(line.dynamic)
    return IrveFiles(static_csv(static), dynamic_csv(dynamic), len(static), skipped)


async def export_files(session: AsyncSession, settings: Any, tenant_id: uuid.UUID) -> AsyncIterator[ExportFile]:
    """The manifest's ``export_files``: the two schema-irve files."""
    files = await irve_files(session, tenant_id)
    left_out = (f" ; {files.skipped} point(s) de charge sans coordonnées, sans identifiant d'itinérance ou sans contact n'y"
                " figurent pas (ils sont dans tables/charge_points)") if files.skipped else ""
    yield ExportFile("formats/irve/irve-statique.csv", files.static,
                     "les points de charge au schéma national IRVE statique d'Etalab (version 2.3), une ligne par"
                     f" point{left_out}", rows=files.rows)
    yield ExportFile("formats/irve/irve-dynamique.csv", files.dynamic,
                     "l'état et l'occupation de chaque point au schéma IRVE dynamique (version 2.3), au dernier"
                     " statut reçu", rows=files.rows)
