"""Station registry: stations, chargers, charge points, RFID badges, fleet import.

Every workflow validates its whole input first and raises ``ValidationFailed``
(French message per field) before writing anything. Identifiers follow the CPAM
rule (CCTP CPAM 5-5-1, see ``csms.domain.identifiers``); hardware already configured with
another OCPP identity keeps its ``charge_box_id`` and is mapped to its canonical id.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import int_value, text_value
from app.errors import LinesRejected, NotFound, ValidationFailed
from app.imports import header_keys, read_table
from app.outbox import publish_on_commit
from csms.domain import alerts, commands, reservations
from csms.domain.events import ChargerDecommissioned, RegistryChanged
from csms.domain.identifiers import (
    ChargingId,
    InvalidChargingId,
    Level,
    charger_id,
    parse_charging_id,
    station_id,
)
from csms.domain.models import Badge, ChargeBoxRoute, ChargePoint, Charger, Station, Transaction
from csms.domain.passwords import (  # re-exported: the registry's own rules
    check_station_password,
    generate_station_password,
    hash_station_password,
    station_hash_is_legacy,
    upgrade_station_password,
    verify_station_password,
)
from csms.domain.profiles import PROFILES
from tenants import services
from tenants.models import Site

__all__ = [
    "AlreadyDecommissioned",
    "announce_decommission",
    "announce_registry_change",
    "Decommissioned",
    "ImportFailed",
    "ImportReport",
    "RegisteredCharger",
    "check_charge_box_id",
    "check_decommission_reason",
    "check_station_password",
    "create_badge",
    "decommission_charger",
    "generate_station_password",
    "get_charger_in_tenant",
    "hash_station_password",
    "find_charger_in_tenant",
    "import_fleet",
    "list_chargers",
    "list_charge_points",
    "list_transactions",
    "register_charger",
    "reset_station_password",
    "station_hash_is_legacy",
    "update_charger",
    "upgrade_station_password",
    "verify_station_password",
]

CHARGE_BOX_ID = re.compile(r"^[A-Za-z0-9._~-]{1,48}$")
#: Socket codes (CCTP CPAM article 4: « une prise de type E/F sur chaque site de charge »).
SOCKET_TYPES = {"T2": "Type 2", "EF": "E/F (domestique)", "T3": "Type 3", "T1": "Type 1", "CCS": "Combo CCS", "CHADEMO": "CHAdeMO"}
MAX_POWER_KW = 400.0
MAX_POINTS = 99
#: Longest reason of a decommissioning (``chargers.decommission_reason``).
DECOMMISSION_REASON_MAX = 200
BADGE_STATUSES = ("Accepted", "Blocked", "Expired")
#: Path segments of the portal under /t/{tenant}/bornes/: never a charge_box_id.
RESERVED_CHARGE_BOX_IDS = frozenset({"nouvelle", "import", "modele.csv"})


# --------------------------------------------------------------------------- field checks


def check_charge_box_id(value: str) -> str | None:
    """French message when ``value`` cannot be an OCPP identity in ``/ocpp/{charge_box_id}``."""
    if not value:
        return "L'identifiant OCPP de la borne (charge_box_id) est obligatoire."
    if not CHARGE_BOX_ID.match(value):
        return (
            "L'identifiant OCPP de la borne (charge_box_id) comporte 1 à 48 caractères parmi lettres, chiffres, "
            "« - », « _ », « . » et « ~ » (il figure dans l'adresse de connexion)."
        )
    if value.lower() in RESERVED_CHARGE_BOX_IDS:
        return f"« {value} » est un mot réservé du portail : choisissez un autre identifiant OCPP."
    return None


def _sockets(value: Any, errors: dict[str, str]) -> str:
    raw = str(value or "T2")
    codes = [part.strip().upper().replace("/", "") for part in re.split(r"[+,; ]+", raw) if part.strip()]
    unknown = [code for code in codes if code not in SOCKET_TYPES]
    if unknown or not codes:
        errors["socket_types"] = (
            f"Type de prise inconnu : {', '.join(unknown) or raw}. Types admis : {', '.join(SOCKET_TYPES)} "
            "(plusieurs séparés par « + »)."
        )
    return ",".join(dict.fromkeys(codes))


def _power(value: Any, errors: dict[str, str]) -> float | None:
    if value in (None, ""):
        return None
    try:
        power = float(str(value).replace(",", ".").lower().removesuffix("kw").strip())
    except ValueError:
        errors["power_kw"] = f"Puissance invalide : « {value} » (nombre de kW attendu, ex. 7, 11 ou 22)."
        return None
    if not 0 < power <= MAX_POWER_KW:
        errors["power_kw"] = f"Puissance hors limites : {value} kW (de 0 à {MAX_POWER_KW:g} kW)."
    return power


def _int(value: Any, key: str, label: str, low: int, high: int, errors: dict[str, str], default: int | None) -> int | None:
    """A bounded integer of a form, a CSV line or a JSON field (app.bounds.int_value)."""
    return int_value({key: value}, key, errors, low=low, high=high, label=label, default=default)


def _bool(value: Any) -> bool:
    return str(value or "").strip().lower() in {"1", "true", "yes", "oui", "o", "vrai", "x"}


# --------------------------------------------------------------------------- registration


def announce_registry_change(session: AsyncSession, tenant_id: uuid.UUID, reason: str) -> None:
    """Publish ``csms.registry.changed`` with this transaction, once per transaction and tenant (a fleet import
    registers its chargers one by one; its subscriber rewrites the open-data files once)."""
    sync = session.sync_session
    # The event lives and dies with the innermost transaction (a dry run's savepoint drops its own).
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    seen = sync.info.get("csms.registry_changed")
    if seen is not None and seen[0] is transaction and tenant_id in seen[1]:
        return
    if seen is None or seen[0] is not transaction:
        seen = (transaction, set())
        sync.info["csms.registry_changed"] = seen
    seen[1].add(tenant_id)
    publish_on_commit(session, RegistryChanged(tenant_id=tenant_id, reason=reason))


@dataclass
class RegisteredCharger:
    charger_id: uuid.UUID
    station_id: uuid.UUID
    charge_box_id: str
    canonical_id: str
    station_canonical_id: str
    points: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.charger_id), "station_id": str(self.station_id), "charge_box_id": self.charge_box_id,
            "canonical_id": self.canonical_id, "station_canonical_id": self.station_canonical_id, "points": self.points,
        }


@dataclass
class _Spec:
    charge_box_id: str
    password: str
    site: str
    canonical: ChargingId | None
    station_number: int | None
    station_name: str
    points: int
    power_kw: float | None
    socket_types: str
    usage_name: str
    lenient: bool
    security_profile: int = 1


def _spec(data: dict[str, Any], errors: dict[str, str]) -> _Spec:
    charge_box_id = str(data.get("charge_box_id") or "").strip()
    if problem := check_charge_box_id(charge_box_id):
        errors["charge_box_id"] = problem
    password = str(data.get("password") or "")
    if problem := check_station_password(password, charge_box_id):
        errors["password"] = problem
    canonical = None
    if raw := str(data.get("canonical_id") or "").strip():
        try:
            canonical = parse_charging_id(raw, level=Level.CHARGER)
        except InvalidChargingId as exc:
            errors["canonical_id"] = str(exc)
    station_number = _int(data.get("station"), "station", "Numéro de station", 1, 99, errors, None)
    points = _int(data.get("points"), "points", "Nombre de points de charge", 1, MAX_POINTS, errors, 1) or 1
    profile = 1
    if data.get("security_profile") not in (None, ""):
        try:
            profile = security_profile(data.get("security_profile"))
        except ValueError as exc:
            errors["security_profile"] = str(exc)
    return _Spec(
        charge_box_id=charge_box_id, password=password, site=str(data.get("site") or "").strip(),
        canonical=canonical, station_number=station_number,
        station_name=text_value(data, "station_name", errors, limit=Station.name, label="Nom de la station"), points=points,
        power_kw=_power(data.get("power_kw"), errors), socket_types=_sockets(data.get("socket_types"), errors),
        usage_name=text_value(data, "usage_name", errors, limit=ChargePoint.usage_name, label="Nom d'usage"),
        lenient=_bool(data.get("lenient")), security_profile=profile,
    )


async def _resolve_site(session: AsyncSession, tenant_id: uuid.UUID, spec: _Spec, errors: dict[str, str]) -> Site | None:
    sites = await services.list_sites(session, tenant_id)
    if spec.site:
        try:
            wanted = uuid.UUID(spec.site)
        except ValueError:
            wanted = None
        for site in sites:
            if site.id == wanted or site.name.lower() == spec.site.lower():
                break
        else:
            errors["site"] = f"Site introuvable : « {spec.site} »."
            return None
        if spec.canonical and (spec.canonical.insee, spec.canonical.building) != (site.insee_code, site.building_code):
            errors["canonical_id"] = (
                f"L'identifiant {spec.canonical} ne correspond pas au site « {site.name} » "
                f"(code INSEE {site.insee_code}, bâtiment {site.building_code}) : positions 3 à 7 et 9 à 12."
            )
            return None
        return site
    if spec.canonical:
        matching = [s for s in sites if (s.insee_code, s.building_code) == (spec.canonical.insee, spec.canonical.building)]
        if len(matching) == 1:
            return matching[0]
        errors["site"] = (
            f"Aucun site n'a le code INSEE {spec.canonical.insee} et le bâtiment {spec.canonical.building} de l'identifiant : précisez le site."
            if not matching else "Plusieurs sites ont ce code INSEE et ce bâtiment : précisez le site."
        )
        return None
    if len(sites) == 1:
        return sites[0]
    errors["site"] = "Aucun site : créez d'abord le site de la borne." if not sites else "Le bénéficiaire a plusieurs sites : précisez le site."
    return None


async def register_charger(
    session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any], *, password_hash: str | None = None
) -> RegisteredCharger:
    """Register a charger (B) with its points (P), creating its station (S) when needed.

    ``data``: charge_box_id, password, site (id or name), canonical_id (FR…B…),
    station (number), station_name, points (count), power_kw, socket_types
    (``T2+EF``), usage_name, lenient. ``password_hash`` skips hashing (fleet import
    hashes all passwords once the whole file is known to be valid).
    """
    errors: dict[str, str] = {}
    spec = _spec(data, errors)
    site = await _resolve_site(session, tenant_id, spec, errors) if "site" not in errors else None
    if "charge_box_id" not in errors and (taken := await session.scalar(
        select(ChargeBoxRoute.charge_box_id).where(func.lower(ChargeBoxRoute.charge_box_id) == spec.charge_box_id.lower())
    )) is not None:
        # Unique regardless of case (index uq_charge_box_routes_lower_charge_box_id, issue 10).
        errors["charge_box_id"] = (f"L'identifiant OCPP « {spec.charge_box_id} » est déjà enregistré sur la plateforme"
                                   + (f" (sous la forme « {taken} »)." if taken != spec.charge_box_id else "."))
    elif "charge_box_id" not in errors and (retired := await session.scalar(
        select(Charger.decommissioned_at).where(Charger.tenant_id == tenant_id, Charger.charge_box_id == spec.charge_box_id)
    )) is not None:
        # Its row stays, with its history, under the same (tenant_id, charge_box_id) key: another
        # tenant may take the id (its route is free), this one cannot.
        errors["charge_box_id"] = (
            f"Cette borne a été mise hors service le {retired:%d/%m/%Y} (UTC) ; identifiant non réutilisable dans "
            f"ce locataire : choisissez un autre identifiant OCPP (charge_box_id)."
        )
    if site is None or errors:
        raise ValidationFailed(errors or {"site": "Site introuvable."})
    try:
        insee, building = site.insee_code, site.building_code
        if spec.canonical:
            number_s, number_b = spec.canonical.station, spec.canonical.charger
            if spec.station_number is not None and spec.station_number != number_s:
                raise ValidationFailed({"station": f"Le numéro de station ({spec.station_number}) contredit l'identifiant {spec.canonical} (positions 13-14)."})
        else:
            number_s = spec.station_number or await session.scalar(
                select(func.min(Station.number)).where(Station.tenant_id == tenant_id, Station.site_id == site.id)
            ) or 1
            number_b = None
        station_cid = station_id(insee, building, number_s)
    except InvalidChargingId as exc:
        raise ValidationFailed({"site": f"Le site « {site.name} » ne permet pas de former un identifiant : {exc}"}) from None

    station = await session.scalar(
        select(Station).where(Station.tenant_id == tenant_id, Station.canonical_id == station_cid.canonical)
    )
    if station is not None and station.site_id != site.id:
        raise ValidationFailed({"canonical_id": f"La station {station_cid} appartient à un autre site."})
    if number_b is None:
        used = await session.scalar(
            select(func.max(Charger.number)).where(Charger.tenant_id == tenant_id, Charger.station_id == station.id)
        ) if station is not None else None
        number_b = (used or 0) + 1
        if number_b > 99:
            raise ValidationFailed({"station": f"La station {station_cid} a déjà 99 bornes."})
    charger_cid = charger_id(insee, building, number_s, number_b)
    if station is not None and await session.scalar(
        select(Charger.charge_box_id).where(Charger.tenant_id == tenant_id, Charger.canonical_id == charger_cid.canonical)
    ):
        raise ValidationFailed({"canonical_id": f"L'identifiant {charger_cid} est déjà attribué à une autre borne."})

    if station is None:
        station = Station(
            tenant_id=tenant_id, site_id=site.id, number=number_s, canonical_id=station_cid.canonical,
            # « nom d'usage courant propre, intégrant le nom de la commune d'implantation » (5-5-1)
            name=spec.station_name or f"{site.city or site.name} – station {number_s:02d}",
        )
        session.add(station)
        await session.flush()
    if password_hash is None:
        password_hash = hash_station_password(spec.password)
    charger = Charger(
        tenant_id=tenant_id, station_id=station.id, number=number_b, canonical_id=charger_cid.canonical,
        charge_box_id=spec.charge_box_id, password_hash=password_hash, lenient=spec.lenient,
        security_profile=spec.security_profile,
    )
    session.add(charger)
    await session.flush()  # rows below reference the charger (composite FKs, no ORM relationship to order them)
    session.add(ChargeBoxRoute(charge_box_id=spec.charge_box_id, tenant_id=tenant_id, charger_id=charger.id))
    points = []
    for number in range(1, spec.points + 1):
        point_cid = charger_cid.child(number)
        session.add(ChargePoint(
            tenant_id=tenant_id, charger_id=charger.id, connector_id=number, canonical_id=point_cid.canonical,
            power_kw=spec.power_kw, socket_types=spec.socket_types,
            usage_name=spec.usage_name or f"{station.name} – point {number_b:02d}.{number:02d}",
        ))
        points.append(point_cid.canonical)
    await session.flush()
    announce_registry_change(session, tenant_id, "registered")
    return RegisteredCharger(charger.id, station.id, spec.charge_box_id, charger_cid.canonical, station_cid.canonical, points)


# --------------------------------------------------------------------------- fleet import (CSV)

#: CSV header → registration field. French headers first; English aliases accepted.
COLUMNS = {
    "charge_box_id": "charge_box_id", "identifiant_ocpp": "charge_box_id",
    "mot_de_passe": "password", "password": "password",
    "site": "site",
    "identifiant": "canonical_id", "identifiant_cpam": "canonical_id", "canonical_id": "canonical_id",
    "station": "station", "nom_station": "station_name", "station_name": "station_name",
    "points": "points", "puissance_kw": "power_kw", "power_kw": "power_kw", "puissance": "power_kw",
    "prises": "socket_types", "socket_types": "socket_types",
    "nom_usage": "usage_name", "usage_name": "usage_name",
    "tolerant": "lenient", "mode_tolerant": "lenient", "lenient": "lenient",
}
REQUIRED_COLUMNS = ("charge_box_id", "password")
FIELD_LABELS = {
    "charge_box_id": "charge_box_id", "password": "mot_de_passe", "site": "site", "canonical_id": "identifiant",
    "station": "station", "station_name": "nom_station", "points": "points", "power_kw": "puissance_kw",
    "socket_types": "prises", "usage_name": "nom_usage", "lenient": "tolerant",
}
MAX_IMPORT_LINES = 5000


class ImportFailed(LinesRejected):
    """Bad lines in an imported file: nothing was imported. ``errors``: line number → messages."""

    nothing = "aucune borne importée"


@dataclass
class ImportReport:
    chargers: list[RegisteredCharger]

    def as_dict(self) -> dict[str, Any]:
        return {"imported": len(self.chargers), "chargers": [c.as_dict() for c in self.chargers]}


def _read_csv(content: bytes | str) -> tuple[list[tuple[int, dict[str, str]]], dict[int, list[str]]]:
    header, table = read_table(content, error=ImportFailed)
    keys = header_keys(header)
    unknown = [h for h, k in zip(header, keys, strict=True) if k and k not in COLUMNS]
    if unknown:
        raise ImportFailed({1: [f"Colonne(s) inconnue(s) : {', '.join(unknown)}. Colonnes admises : "
                                + ", ".join(dict.fromkeys(FIELD_LABELS.values())) + "."]})
    fields = [COLUMNS.get(k, "") for k in keys]
    missing = [FIELD_LABELS[c] for c in REQUIRED_COLUMNS if c not in fields]
    if missing:
        raise ImportFailed({1: [f"Colonne(s) obligatoire(s) absente(s) : {', '.join(missing)}."]})
    rows: list[tuple[int, dict[str, str]]] = []
    errors: dict[int, list[str]] = {}
    for number, values in table:
        if len(values) != len(fields):
            errors[number] = [f"{len(values)} valeurs pour {len(fields)} colonnes."]
            continue
        rows.append((number, {f: str(v).strip() for f, v in zip(fields, values, strict=True) if f}))
        if len(rows) > MAX_IMPORT_LINES:
            raise ImportFailed({number: [f"Plus de {MAX_IMPORT_LINES} lignes : découpez le fichier."]})
    if not rows and not errors:
        raise ImportFailed({0: ["Le fichier ne contient aucune borne."]})
    return rows, errors


def _messages(exc: ValidationFailed) -> list[str]:
    return [f"{FIELD_LABELS.get(key, key)} : {message}" for key, message in exc.errors.items()]


async def import_fleet(session: AsyncSession, tenant_id: uuid.UUID, content: bytes | str) -> ImportReport:
    """Import chargers from a CSV file, whole or not at all.

    Every line is checked, against the database and against the lines above it,
    in a dry run rolled back to a savepoint; any bad line → ``ImportFailed`` with
    every bad line's messages, nothing written. Passwords are hashed only once
    the file is known to be good.
    """
    rows, errors = _read_csv(content)
    seen: dict[str, int] = {}
    for number, row in rows:
        cbid = row.get("charge_box_id", "")
        if cbid and cbid in seen:
            errors.setdefault(number, []).append(f"charge_box_id : « {cbid} » figure déjà ligne {seen[cbid]}.")
        seen.setdefault(cbid, number)
    dry_run = await session.begin_nested()
    try:
        for number, row in rows:
            if number in errors:
                # Still check the other fields so that the report is complete for this line.
                bad: dict[str, str] = {}
                _spec(row, bad)
                errors[number] += [f"{FIELD_LABELS.get(k, k)} : {m}" for k, m in bad.items() if k != "charge_box_id"]
                continue
            try:
                await register_charger(session, tenant_id, row, password_hash="(dry run)")  # noqa: S106 - rolled back
            except ValidationFailed as exc:
                errors.setdefault(number, []).extend(_messages(exc))
    finally:
        await dry_run.rollback()
    if errors:
        raise ImportFailed(errors)
    hashes = [hash_station_password(row["password"]) for _, row in rows]
    chargers = []
    for (number, row), password_hash in zip(rows, hashes, strict=True):
        try:
            chargers.append(await register_charger(session, tenant_id, row, password_hash=password_hash))
        except ValidationFailed as exc:  # changed since the dry run (concurrent edit)
            raise ImportFailed({number: _messages(exc)}) from None
    return ImportReport(chargers)


# --------------------------------------------------------------------------- badges


async def create_badge(session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, Any]) -> Badge:
    """An RFID badge (CCTP CPAM 5-5-5-3); the badge-order workflow builds on it."""
    errors: dict[str, str] = {}
    id_tag = str(data.get("id_tag") or "").strip().upper()
    if not id_tag or len(id_tag) > 20 or not id_tag.isascii() or not id_tag.isprintable():
        errors["id_tag"] = "L'identifiant du badge (idTag) comporte 1 à 20 caractères ASCII (OCPP 1.6)."
    status = str(data.get("status") or "Accepted")
    if status not in BADGE_STATUSES:
        errors["status"] = "Statut de badge : Accepted, Blocked ou Expired."
    expires_at = data.get("expires_at")
    if expires_at is not None and (not isinstance(expires_at, dt.datetime) or expires_at.tzinfo is None):
        errors["expires_at"] = "Date d'expiration invalide."
    holder = text_value(data, "holder_label", errors, limit=Badge.holder_label, label="Porteur")
    if "id_tag" not in errors and await session.scalar(
        select(Badge.id).where(Badge.tenant_id == tenant_id, Badge.id_tag == id_tag)
    ):
        errors["id_tag"] = "Ce badge est déjà enregistré."
    if errors:
        raise ValidationFailed(errors)
    badge = Badge(
        tenant_id=tenant_id, id_tag=id_tag, status=status, expires_at=expires_at,
        holder_label=holder, site_id=data.get("site_id"), user_id=data.get("user_id"),
    )
    session.add(badge)
    await session.flush()
    return badge


# --------------------------------------------------------------------------- reads


async def list_chargers(session: AsyncSession, tenant_id: uuid.UUID, *, decommissioned: bool = False) -> list[Charger]:
    """The tenant's chargers in service; ``decommissioned``: only those retired for good."""
    retired = Charger.decommissioned_at.is_not(None) if decommissioned else Charger.decommissioned_at.is_(None)
    return list(await session.scalars(
        select(Charger).where(Charger.tenant_id == tenant_id, retired).order_by(Charger.canonical_id)
    ))


async def get_charger_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID) -> Charger:
    charger = await session.get(Charger, (tenant_id, charger_id))
    if charger is None:
        raise NotFound("borne")
    return charger


async def find_charger_in_tenant(session: AsyncSession, tenant_id: uuid.UUID, charge_box_id: str) -> Charger:
    charger = await session.scalar(
        select(Charger).where(Charger.tenant_id == tenant_id, Charger.charge_box_id == charge_box_id)
    )
    if charger is None:
        raise NotFound("borne")
    return charger


async def list_charge_points(session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID) -> list[ChargePoint]:
    return list(await session.scalars(
        select(ChargePoint).where(ChargePoint.tenant_id == tenant_id, ChargePoint.charger_id == charger_id)
        .order_by(ChargePoint.connector_id)
    ))


async def list_transactions(
    session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID | None = None
) -> list[Transaction]:
    stmt = select(Transaction).where(Transaction.tenant_id == tenant_id)
    if charger_id is not None:
        stmt = stmt.where(Transaction.charger_id == charger_id)
    return list(await session.scalars(stmt.order_by(Transaction.start_received_at, Transaction.stop_received_at)))


def security_profile(value: Any) -> int:
    """1, 2 or 3 (csms.domain.profiles); ``ValueError`` with the French message otherwise."""
    try:
        profile = int(str(value).strip())
    except ValueError:
        profile = 0
    if profile not in PROFILES:
        raise ValueError("Profil de sécurité OCPP : 1, 2 ou 3.")
    return profile


# --------------------------------------------------------------------------- edits


async def update_charger(session: AsyncSession, tenant_id: uuid.UUID, charger: Charger, data: dict[str, Any]) -> Charger:
    """Change what people may change after registration: the station's usage name, the
    points' power and sockets, lenient mode. Identifiers never change (CCTP 5-5-1).
    A charger retired for good is no longer edited (``AlreadyDecommissioned``)."""
    _refuse_if_retired(charger)
    errors: dict[str, str] = {}
    power = _power(data.get("power_kw"), errors) if "power_kw" in data else None
    sockets = _sockets(data.get("socket_types"), errors) if "socket_types" in data else None
    name = text_value(data, "station_name", errors, limit=Station.name, label="Nom de la station")
    if "security_profile" in data:
        try:
            security_profile(data.get("security_profile"))
        except ValueError as exc:
            errors["security_profile"] = str(exc)
    if errors:
        raise ValidationFailed(errors)
    if "station_name" in data and name:
        station = await session.get(Station, (tenant_id, charger.station_id))
        if station is not None:
            station.name = name
    if "lenient" in data:
        charger.lenient = _bool(data.get("lenient"))
    if "security_profile" in data:
        charger.security_profile = security_profile(data.get("security_profile"))
    for point in await list_charge_points(session, tenant_id, charger.id):
        if "power_kw" in data:
            point.power_kw = power
        if sockets is not None:
            point.socket_types = sockets
    await session.flush()
    announce_registry_change(session, tenant_id, "updated")
    return charger


async def reset_station_password(session: AsyncSession, charger: Charger, password: str | None = None) -> str:
    """A new Basic-auth password (given, or generated); returned in clear once, stored hashed."""
    _refuse_if_retired(charger)
    password = password or generate_station_password()
    if problem := check_station_password(password, charger.charge_box_id):
        raise ValidationFailed({"password": problem})
    charger.password_hash = hash_station_password(password)
    await session.flush()
    return password


# --------------------------------------------------------------------------- decommissioning


class AlreadyDecommissioned(ValidationFailed):
    """The charger was retired already (the API answers 409)."""


def _refuse_if_retired(charger: Charger) -> None:
    if charger.decommissioned_at is not None:
        raise AlreadyDecommissioned({"charge_box_id": (
            f"La borne {charger.charge_box_id} a été mise hors service le {charger.decommissioned_at:%d/%m/%Y} (UTC) :"
            " elle ne peut plus être modifiée.")})


@dataclass
class Decommissioned:
    """What ``decommission_charger`` changed (its events, the alerts' included, go with its transaction)."""

    charger: Charger
    alert_changes: list[alerts.AlertChange] = field(default_factory=list)
    cancelled_reservations: int = 0


def check_decommission_reason(reason: Any) -> str | None:
    """French message when ``reason`` cannot be the reason of a decommissioning."""
    text = " ".join(str(reason or "").split())
    if not text:
        return "Indiquez le motif de la mise hors service définitive."
    if len(text) > DECOMMISSION_REASON_MAX:
        return f"Le motif comporte au plus {DECOMMISSION_REASON_MAX} caractères ({len(text)} saisis)."
    return None


async def decommission_charger(
    session: AsyncSession, tenant_id: uuid.UUID, charger: Charger, reason: Any, *, now: dt.datetime | None = None,
) -> Decommissioned:
    """Retire a charger for good (CCTP CPAM article 1: « le retrait le cas échéant »).

    Its row and history stay (transactions, meter values, connections, reports: CCTP
    6-1 asks that every datum be returned at reversibility); its route is deleted, so
    the ingress refuses its handshake (404, like an unknown id) and the charge_box_id
    is free on the platform, though not in this tenant (the row keeps it). Its open
    alerts are closed and its open reservations cancelled. Edits go through the ORM
    and are audited (chargers, charge_box_routes, reservations); alerts are facts,
    closed with a plain statement like every alert. Its live socket is closed after the
    commit: at once by the caller (``announce_decommission``, which says whether it was),
    and by the durable ``csms.charger.decommissioned`` (``csms.domain.subscribers``), which
    survives a crash of the caller in between.
    """
    if charger.decommissioned_at is not None:
        raise AlreadyDecommissioned({"charge_box_id": (
            f"La borne {charger.charge_box_id} a déjà été mise hors service le {charger.decommissioned_at:%d/%m/%Y} (UTC).")})
    text = " ".join(str(reason or "").split())
    if problem := check_decommission_reason(text):
        raise ValidationFailed({"reason": problem})
    now = now or dt.datetime.now(dt.UTC)
    charger.decommissioned_at = now
    charger.decommission_reason = text
    route = await session.get(ChargeBoxRoute, charger.charge_box_id)
    if route is not None and (route.tenant_id, route.charger_id) == (tenant_id, charger.id):
        await session.delete(route)
    changes = await alerts.close_all(session, tenant_id, charger.id, at=now, reason="decommissioned")
    cancelled = await reservations.cancel_on_decommission(session, tenant_id, charger.id, at=now)
    publish_on_commit(session, ChargerDecommissioned(
        tenant_id=tenant_id, charger_id=charger.id, charge_box_id=charger.charge_box_id,
        canonical_id=charger.canonical_id, decommissioned_at=now))
    announce_registry_change(session, tenant_id, "decommissioned")
    await session.flush()
    return Decommissioned(charger, changes, len(cancelled))


async def announce_decommission(db: Any, bus: Any, done: Decommissioned) -> bool:
    """After ``decommission_charger`` is committed (its route gone, so the station cannot come back):
    close the charger's live socket wherever it is held (over the bus), now, to tell the user.
    True when a socket was closed. The durable event does it again if this never runs."""
    charger = done.charger
    return await commands.close_station(db, bus, tenant_id=charger.tenant_id, charge_box_id=charger.charge_box_id,
                                        reason="decommissioned", message="décommissionnée")
