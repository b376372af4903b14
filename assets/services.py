"""The park's services: what other components (incidents) and the portals call.

CCTP CAIH 2.1.29 « Inventaire du parc mis sous maintenance » (the inventory days by the park's size),
2.1.30 « Obsolescence » (the equipment whose maintainability ends within 12 months, announced once a
year), 2.1.22 (the support case: under warranty at the single desk, out of warranty with the maker's
backing, or without). The alert terminals' anonymous history for TGD IV.6's committee report
(``assets.terminal_facts``). Functions take an open session scoped to the tenant.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounds import column_length
from app.dates import add_months
from app.errors import LinesRejected, NotFound, ValidationFailed
from app.imports import header_keys, read_table
from assets.models import KINDS, SUPPORT_CASES, Asset, AssetAnnouncement
from assets.terminal_facts import AssignmentFact, ExchangeFact, TerminalFacts, terminal_facts
from tenants.services import site_exists

__all__ = [
    "COLUMNS",
    "AssetBrief",
    "AssignmentFact",
    "ExchangeFact",
    "ImportFailed",
    "TerminalFacts",
    "announce_ending_maintainability",
    "asset_brief",
    "asset_briefs",
    "assets_of_tenant",
    "create_asset",
    "ending_maintainability",
    "export_rows",
    "get_asset",
    "import_assets",
    "inventory_days",
    "park_inventory_days",
    "terminal_facts",
]

#: The columns of an import and an export, in order (French, as a spreadsheet of the buyer writes them).
COLUMNS = ("type", "constructeur", "modele", "numero_serie", "site", "mise_en_service", "fin_garantie",
           "cas_support", "fin_maintenabilite", "notes")
FIELDS = {"type": "kind", "constructeur": "maker", "modele": "model", "numero_serie": "serial_number",
          "site": "site", "mise_en_service": "commissioned_on", "fin_garantie": "warranty_end",
          "cas_support": "support_case", "fin_maintenabilite": "end_of_maintainability", "notes": "notes"}
LABELS = {v: k for k, v in FIELDS.items()}
MAX_IMPORT_LINES = 5000
KIND_OF_LABEL = {label.casefold(): code for code, label in KINDS.items()} | {c: c for c in KINDS}
SUPPORT_OF_LABEL = {label.casefold(): code for code, label in SUPPORT_CASES.items()} | {c: c for c in SUPPORT_CASES}


@dataclass(frozen=True)
class AssetBrief:
    """What another component may know of an asset."""

    id: uuid.UUID
    label: str
    kind: str
    kind_label: str
    site_id: uuid.UUID | None
    under_warranty: bool | None


def _brief(asset: Asset, today: dt.date) -> AssetBrief:
    return AssetBrief(id=asset.id, label=asset.label, kind=asset.kind, kind_label=KINDS.get(asset.kind, asset.kind),
                      site_id=asset.site_id,
                      under_warranty=asset.under_warranty(today) if asset.warranty_end else None)


async def asset_brief(session: AsyncSession, tenant_id: uuid.UUID, asset_id: uuid.UUID,
                      today: dt.date | None = None) -> AssetBrief | None:
    asset = await session.get(Asset, (tenant_id, asset_id))
    return _brief(asset, today or dt.date.today()) if asset is not None else None


async def asset_briefs(session: AsyncSession, tenant_ids: Sequence[uuid.UUID], asset_ids: Sequence[uuid.UUID],
                       today: dt.date | None = None) -> dict[uuid.UUID, AssetBrief]:
    """Several at once (the indicators' equipment types and warranties)."""
    if not asset_ids:
        return {}
    rows = await session.scalars(select(Asset).where(Asset.tenant_id.in_(list(tenant_ids)),
                                                     Asset.id.in_(list(set(asset_ids)))))
    return {a.id: _brief(a, today or dt.date.today()) for a in rows}


async def get_asset(session: AsyncSession, tenant_id: uuid.UUID, asset_id: uuid.UUID) -> Asset:
    asset = await session.get(Asset, (tenant_id, asset_id))
    if asset is None:
        raise NotFound("équipement")
    return asset


def _date(value: Any, field: str, errors: dict[str, str]) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    errors[field] = f"date invalide : « {text[:20]} » (attendu : AAAA-MM-JJ ou JJ/MM/AAAA)"
    return None


def _text(data: Mapping[str, Any], field: str, errors: dict[str, str], *, required: bool = False) -> str:
    value = str(data.get(field) or "").strip()
    limit = column_length(getattr(Asset, field))
    if len(value) > limit:
        errors[field] = f"{limit} caractères au plus"
    elif required and not value:
        errors[field] = "obligatoire"
    return value


@dataclass
class _Known:
    """What an import reads once instead of once per line: the tenant's sites and serial numbers."""

    site_ids: set[uuid.UUID]
    serials: set[str]


async def _values(session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any],
                  known: _Known | None = None) -> dict[str, Any]:
    errors: dict[str, str] = {}
    kind = KIND_OF_LABEL.get(str(data.get("kind") or "").strip().casefold())
    if kind is None:
        errors["kind"] = f"type inconnu : « {str(data.get('kind') or '')[:40]} » (attendu : {', '.join(KINDS)})"
    support = SUPPORT_OF_LABEL.get(str(data.get("support_case") or "warranty").strip().casefold())
    if support is None:
        errors["support_case"] = f"cas de support inconnu (attendu : {', '.join(SUPPORT_CASES)})"
    values: dict[str, Any] = {
        "kind": kind, "support_case": support,
        "maker": _text(data, "maker", errors), "model": _text(data, "model", errors),
        "serial_number": _text(data, "serial_number", errors, required=True),
        "notes": str(data.get("notes") or "").strip()[:5000],
        "commissioned_on": _date(data.get("commissioned_on"), "commissioned_on", errors),
        "warranty_end": _date(data.get("warranty_end"), "warranty_end", errors),
        "end_of_maintainability": _date(data.get("end_of_maintainability"), "end_of_maintainability", errors),
    }
    site = data.get("site_id") or None
    values["site_id"] = None
    if site:
        try:
            site_id = site if isinstance(site, uuid.UUID) else uuid.UUID(str(site))
        except ValueError:
            errors["site_id"] = "site inconnu"
        else:
            if (site_id in known.site_ids) if known else await site_exists(session, tenant_id, site_id):
                values["site_id"] = site_id
            else:
                errors["site_id"] = "site inconnu"
    serial = values["serial_number"]
    if serial and "serial_number" not in errors and ((serial in known.serials) if known else await session.scalar(
            select(Asset.id).where(Asset.tenant_id == tenant_id, Asset.serial_number == serial))):
        errors["serial_number"] = f"le numéro de série « {values['serial_number']} » est déjà au parc"
    if errors:
        raise ValidationFailed(errors)
    return values


async def create_asset(session: AsyncSession, tenant_id: uuid.UUID, data: Mapping[str, Any]) -> Asset:
    """One piece of equipment; ``ValidationFailed`` (French, per field) changes nothing."""
    asset = Asset(tenant_id=tenant_id, **await _values(session, tenant_id, data))
    session.add(asset)
    await session.flush()
    return asset


async def assets_of_tenant(session: AsyncSession, tenant_id: uuid.UUID, *, kind: str | None = None,
                           site_id: uuid.UUID | None = None, warranty: str | None = None, today: dt.date | None = None,
                           limit: int = 500, offset: int = 0) -> list[Asset]:
    """The park, by type then serial number; ``warranty``: ``under`` or ``out``."""
    today = today or dt.date.today()
    query = select(Asset).where(Asset.tenant_id == tenant_id)
    if kind:
        query = query.where(Asset.kind == kind)
    if site_id:
        query = query.where(Asset.site_id == site_id)
    if warranty == "under":
        query = query.where(Asset.warranty_end >= today)
    elif warranty == "out":
        query = query.where((Asset.warranty_end < today) | Asset.warranty_end.is_(None))
    query = query.order_by(Asset.kind, Asset.serial_number).limit(max(1, min(limit, 5000))).offset(max(0, offset))
    return list(await session.scalars(query))


def inventory_days(server_count: int) -> int:
    """CAIH 2.1.29: « moins de 30 serveurs : 1 jour ; de 30 à 99 serveurs : 2 jours ; 100 serveurs et
    plus : 3 jours » of inventory."""
    return 1 if server_count < 30 else 2 if server_count < 100 else 3


async def park_inventory_days(session: AsyncSession, tenant_id: uuid.UUID) -> tuple[int, int]:
    """The tenant's servers and the inventory days they give."""
    servers = await session.scalar(select(func.count()).select_from(Asset).where(
        Asset.tenant_id == tenant_id, Asset.kind == "server")) or 0
    return servers, inventory_days(servers)


async def ending_maintainability(session: AsyncSession, tenant_id: uuid.UUID, today: dt.date,
                                 months: int = 12) -> list[Asset]:
    """CAIH 2.1.30: the equipment whose end of maintainability falls within ``months`` (ended ones too)."""
    return list(await session.scalars(select(Asset).where(
        Asset.tenant_id == tenant_id, Asset.end_of_maintainability.is_not(None),
        Asset.end_of_maintainability <= add_months(today, months)).order_by(Asset.end_of_maintainability)))


async def announce_ending_maintainability(session: AsyncSession, tenant_id: uuid.UUID, today: dt.date,
                                          recipients: Sequence[str]) -> tuple[str, str, int] | None:
    """The year's announcement (subject, body, count) the first time it is asked for in ``today``'s year,
    recorded so that it goes once a year; ``None`` when already sent or nothing ends within 12 months."""
    if await session.scalar(select(AssetAnnouncement.id).where(AssetAnnouncement.tenant_id == tenant_id,
                                                               AssetAnnouncement.year == today.year)):
        return None
    ending = await ending_maintainability(session, tenant_id, today)
    if not ending or not recipients:
        return None
    session.add(AssetAnnouncement(tenant_id=tenant_id, year=today.year, count=len(ending)))
    await session.flush()
    lines = [f"- {a.label} : fin de maintenabilité le {a.end_of_maintainability:%d/%m/%Y}" for a in ending]
    body = ("Bonjour,\n\nConformément au CCTP (article 2.1.30), voici les équipements de votre parc dont la fin "
            f"de maintenabilité intervient dans les 12 mois ({len(ending)}) :\n\n" + "\n".join(lines)
            + "\n\nCentrale")
    return f"Parc : {len(ending)} équipement(s) en fin de maintenabilité sous 12 mois", body, len(ending)


# --------------------------------------------------------------------------- import, export


class ImportFailed(LinesRejected):
    """Bad lines: nothing imported. ``errors``: line number → messages (0: the file as a whole)."""

    nothing = "aucun équipement importé"


async def import_assets(session: AsyncSession, tenant_id: uuid.UUID, content: bytes, filename: str = "",
                        sites: Mapping[str, uuid.UUID] | None = None) -> list[Asset]:
    """Import a CSV (``;`` or ``,``, UTF-8) or XLSX file of ``COLUMNS``, checked line by line, whole or
    nothing: any bad line raises ``ImportFailed`` with every bad line's messages and nothing is written.
    ``site`` is a site's name (``sites``: the tenant's sites, name → id, from ``tenants.services.list_sites``)."""
    header, rows = read_table(content, filename, error=ImportFailed, max_rows=MAX_IMPORT_LINES + 1)
    keys = header_keys(header)
    unknown = [h for h, k in zip(header, keys, strict=True) if k and k not in FIELDS]
    if unknown:
        raise ImportFailed({1: [f"Colonne(s) inconnue(s) : {', '.join(unknown)}. Colonnes admises : "
                                f"{', '.join(COLUMNS)}."]})
    missing = [c for c in ("type", "numero_serie") if c not in keys]
    if missing:
        raise ImportFailed({1: [f"Colonne(s) obligatoire(s) absente(s) : {', '.join(missing)}."]})
    if len(rows) > MAX_IMPORT_LINES:
        raise ImportFailed({0: [f"Plus de {MAX_IMPORT_LINES} lignes : découpez le fichier."]})
    sites = {k.casefold(): v for k, v in (sites or {}).items()}
    errors: dict[int, list[str]] = {}
    seen: dict[str, int] = {}
    made: list[Asset] = []
    known = _Known(site_ids=set(sites.values()), serials=set(await session.scalars(
        select(Asset.serial_number).where(Asset.tenant_id == tenant_id))))
    # Every line is checked against the park read once and against the lines above it; nothing is
    # added to the session before the whole file is known to be good.
    for number, values in rows:
        if len(values) > len(keys):
            errors[number] = [f"{len(values)} valeurs pour {len(keys)} colonnes."]
            continue
        row = {FIELDS[k]: v for k, v in zip(keys, values, strict=False) if k}
        site_name = str(row.pop("site", "") or "").strip()
        if site_name:
            row["site_id"] = sites.get(site_name.casefold(), "inconnu")
        serial = str(row.get("serial_number") or "").strip()
        if serial in seen:
            errors.setdefault(number, []).append(f"numero_serie : « {serial} » figure déjà ligne {seen[serial]}.")
        seen.setdefault(serial, number)
        try:
            made.append(Asset(tenant_id=tenant_id, **await _values(session, tenant_id, row, known)))
        except ValidationFailed as exc:
            errors.setdefault(number, []).extend(f"{LABELS.get(k, k)} : {m}" for k, m in exc.errors.items())
    if errors:
        raise ImportFailed(errors)
    if not made:
        raise ImportFailed({0: ["Le fichier ne contient aucun équipement."]})
    session.add_all(made)
    await session.flush()
    return made


def export_rows(assets: Sequence[Asset], site_names: Mapping[uuid.UUID, str]) -> list[list[Any]]:
    """The park as rows of ``COLUMNS`` (the import reads them back)."""
    return [[a.kind, a.maker, a.model, a.serial_number, site_names.get(a.site_id, "") if a.site_id else "",
             a.commissioned_on, a.warranty_end, a.support_case, a.end_of_maintainability, a.notes] for a in assets]
