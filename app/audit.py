"""The append-only audit log: who changed what, in which tenant, when, before/after; and how to read it.

Rows are written by ``app.db``'s ``before_flush`` hook for every ORM mutation.
Mutations of tenant-owned rows (and of the tenant itself: its model says
``__tenant_root__ = True``) land in the tenant's ``audit_events``; platform rows (users, centrals, agreements) in
``platform_audit_events``. On PostgreSQL the application role may only INSERT and
SELECT these tables.

Reading it (the « Journal » of a tenant and its exports): each component names its
audited tables and columns in French through its manifest (``Component.labels``, an
:class:`AuditLabels`); the composition root merges them into one :class:`AuditReader`.
The reader takes everything else from the ORM metadata, so a new component's objects
are readable without touching this module nor ``tenants``: a column's type says how its
value is shown (dates in the tenant's zone to the second, numbers with their decimals,
oui/non), a foreign key says which object an id names (its ``titles`` column, e.g. a
site's name, a user's e-mail), and redacted columns (``__audit_redact__``: hashes,
secrets) read « (modifié) ».
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Boolean, Date, DateTime, Index, Integer, MetaData, Numeric, String, Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.db import REDACTED, Base, TenantOwned, install_audit_writer, utcnow

__all__ = ["AuditEvent", "AuditLabels", "AuditReader", "Change", "PlatformAuditEvent", "make_audit_rows"]


class _AuditColumns:
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[uuid.UUID | None]
    actor_label: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(16))  # create / update / delete / login / ...
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(80))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]


class AuditEvent(TenantOwned, _AuditColumns, Base):
    __tablename__ = "audit_events"
    __audited__ = False
    __table_args__ = (Index("ix_audit_events_tenant_at", "tenant_id", "at"),)


class PlatformAuditEvent(_AuditColumns, Base):
    __tablename__ = "platform_audit_events"
    __audited__ = False
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


def _entity_id(obj: Any) -> str:
    return str(getattr(obj, "id", "") or "")


def make_audit_rows(
    changes: list[tuple[str, Any, dict[str, Any] | None, dict[str, Any] | None]], actor: dict[str, Any]
) -> list[Base]:
    rows: list[Base] = []
    for action, obj, before, after in changes:
        common = {
            "actor_user_id": actor.get("user_id"),
            "actor_label": actor.get("label") or "système",
            "action": action,
            "entity": obj.__tablename__,
            "entity_id": _entity_id(obj),
            "before": before,
            "after": after,
        }
        if isinstance(obj, TenantOwned):
            rows.append(AuditEvent(tenant_id=obj.tenant_id, **common))
        elif getattr(obj, "__tenant_root__", False):  # the tenant itself (tenants.models.Tenant)
            rows.append(AuditEvent(tenant_id=obj.id, **common))
        else:
            rows.append(PlatformAuditEvent(**common))
    return rows


def record_event(
    session: Any, *, action: str, entity: str, entity_id: str, tenant_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Log a non-row event (a login, a remote command) with the session's actor."""
    from app.db import actor_of

    actor = actor_of(session)
    common = {
        "actor_user_id": actor.get("user_id"),
        "actor_label": actor.get("label") or "système",
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "before": None,
        "after": details,
    }
    session.add(AuditEvent(tenant_id=tenant_id, **common) if tenant_id else PlatformAuditEvent(**common))


install_audit_writer(make_audit_rows)


# --------------------------------------------------------------------------- reading the log

#: What a redacted column (``__audit_redact__``) holds in the log, and what a reader sees of it.
REDACTED_SHOWN = "(modifié)"
#: Columns that say nothing to a reader, whatever the table.
TECHNICAL = frozenset({"id", "tenant_id", "created_at", "updated_at"})


@dataclass(frozen=True)
class AuditLabels:
    """How a component's audited objects read in the « Journal », in French.

    ``fields`` keys are a column name (``"name"``) or ``"table.column"`` when one table
    names it otherwise; ``values`` turns stored codes into words (``{"role": {"admin":
    "Administrateur"}}``); ``titles`` is the column that names a row of a table (a
    site's ``name``), used wherever another object refers to it by id; ``units`` follow a
    number (``{"power_kw": "kW"}``); ``hidden`` columns are left out of the detail;
    ``confidential`` tables are read only with a permission (``{"tgd_files": "tgd_files"}``: the events of
    a table about people in danger stay out of the Journal, its exports and its API for anyone without it).
    """

    entities: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    titles: Mapping[str, str] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    actions: Mapping[str, str] = field(default_factory=dict)
    hidden: frozenset[str] = frozenset()
    confidential: Mapping[str, str] = field(default_factory=dict)

    def scoped(self) -> AuditLabels:
        """The same labels with every bare column name also written ``table.column`` for each of the
        component's own tables (its ``entities``), so that two components may name the same column
        differently (``charge_box_id`` is « Identifiant OCPP » on a charger, « Borne » on a ticket) and
        neither's word shows on the other's objects, whatever the order of the component list."""
        def scope(mapping: Mapping[str, Any]) -> dict[str, Any]:
            own = {f"{entity}.{key}": value for key, value in mapping.items() if "." not in key
                   for entity in self.entities}
            return {**mapping, **own, **{key: value for key, value in mapping.items() if "." in key}}
        return AuditLabels(entities=self.entities, fields=scope(self.fields), values=scope(self.values),
                           titles=self.titles, units=scope(self.units), actions=self.actions,
                           hidden=self.hidden, confidential=self.confidential)

    def merged(self, other: AuditLabels) -> AuditLabels:
        return AuditLabels(
            entities={**self.entities, **other.entities}, fields={**self.fields, **other.fields},
            values={**self.values, **other.values}, titles={**self.titles, **other.titles},
            units={**self.units, **other.units}, actions={**self.actions, **other.actions},
            hidden=self.hidden | other.hidden, confidential={**self.confidential, **other.confidential},
        )


KERNEL_LABELS = AuditLabels(
    actions={"create": "Création", "update": "Modification", "delete": "Suppression", "login": "Connexion"},
)


@dataclass(frozen=True)
class Change:
    """One field of an event as the reader sees it."""

    key: str
    label: str
    before: str
    after: str


def _base_type(column_type: Any) -> Any:
    return column_type.impl if isinstance(column_type, TypeDecorator) else column_type


def _number(value: Decimal) -> str:
    sign, digits = ("-", -value) if value < 0 else ("", value)
    whole, _, decimals = f"{digits:f}".partition(".")
    grouped = f"{int(whole):,}".replace(",", "\u202f")
    return sign + grouped + ("," + decimals if decimals else "")


class AuditReader:
    """The log in words: labels from every component, types and references from the metadata."""

    def __init__(self, labels: Iterable[AuditLabels], metadata: MetaData) -> None:
        merged = KERNEL_LABELS
        for one in labels:
            merged = merged.merged(one.scoped())
        self.labels = merged
        self.metadata = metadata

    # ----------------------------------------------------------------- words

    def hidden_entities(self, can: Callable[[str], bool]) -> frozenset[str]:
        """The confidential tables whose events a caller (``can``: its permission check) may not read."""
        return frozenset(entity for entity, permission in self.labels.confidential.items() if not can(permission))

    def entity_label(self, entity: str) -> str:
        return self.labels.entities.get(entity, entity)

    def action_label(self, action: str) -> str:
        return self.labels.actions.get(action, action)

    def field_label(self, entity: str, key: str) -> str:
        return self.labels.fields.get(f"{entity}.{key}") or self.labels.fields.get(key) or key

    def _table(self, entity: str) -> Table | None:
        return self.metadata.tables.get(entity)

    def _reference(self, entity: str, key: str) -> str | None:
        """The table an id column of ``entity`` points at (composite keys: the non-tenant column)."""
        table = self._table(entity)
        if table is None or key not in table.c:
            return None
        for fk in table.foreign_key_constraints:
            columns = [c for c in fk.columns.keys() if c != "tenant_id"]  # noqa: SIM118 (a ColumnCollection)
            if columns == [key]:
                return fk.referred_table.name
        return None

    def _title_of(self, entity: str, values: Mapping[str, Any] | None,
                  names: Mapping[tuple[str, str], str] | None = None) -> str:
        """What names a row from its recorded values: its title column, or the name of the object
        that column points at (a membership is named by its user's e-mail)."""
        column = self.labels.titles.get(entity)
        if not column or not values or values.get(column) in (None, ""):
            return ""
        target = self._reference(entity, column)
        if target:
            return (names or {}).get((target, str(values[column])), "")
        return str(values[column])

    # ----------------------------------------------------------------- names

    def references(self, events: Iterable[Any]) -> dict[str, set[str]]:
        """Per table, the ids the events name (their own object and every id column)."""
        wanted: dict[str, set[str]] = {}
        for event in events:
            if event.entity in self.labels.titles and event.entity_id:
                wanted.setdefault(event.entity, set()).add(str(event.entity_id))
            for values in (event.before or {}, event.after or {}):
                for key, value in values.items():
                    target = self._reference(event.entity, key)
                    if target and value and target in self.labels.titles:
                        wanted.setdefault(target, set()).add(str(value))
        return wanted

    async def names(self, session: AsyncSession, tenant_id: uuid.UUID, events: Iterable[Any]) -> dict[tuple[str, str], str]:
        """``(table, id) -> title`` of the objects the events name, read in the reader's tenant."""
        found: dict[tuple[str, str], str] = {}
        for entity, raw_ids in self.references(events).items():
            table = self._table(entity)
            column = self.labels.titles[entity]
            if table is None or column not in table.c or "id" not in table.c or self._reference(entity, column):
                continue
            ids = []
            for raw in raw_ids:
                try:
                    ids.append(uuid.UUID(raw))
                except ValueError:
                    continue
            if not ids:
                continue
            stmt = select(table.c.id, table.c[column]).where(table.c.id.in_(ids))
            if "tenant_id" in table.c:
                stmt = stmt.where(table.c.tenant_id == tenant_id)
            for row_id, title in (await session.execute(stmt)).all():
                found[(entity, str(row_id))] = str(title)
        # A deleted object keeps the name its own events recorded.
        for event in events:
            title = self._title_of(event.entity, event.before, found) or self._title_of(event.entity, event.after, found)
            if title:
                found.setdefault((event.entity, str(event.entity_id)), title)
        return found

    def object_title(self, event: Any, names: Mapping[tuple[str, str], str]) -> str:
        """« Site « Parking A » », or the entity's label alone when nothing names it."""
        title = names.get((event.entity, str(event.entity_id))) or self._title_of(event.entity, event.after, names) \
            or self._title_of(event.entity, event.before, names)
        label = self.entity_label(event.entity)
        return f"{label} « {title} »" if title else label

    # ----------------------------------------------------------------- values

    def value(self, entity: str, key: str, value: Any, names: Mapping[tuple[str, str], str], tz: str) -> str:
        """One stored value as the reader sees it (never a secret: redacted columns read « (modifié) »)."""
        if value == REDACTED:
            return REDACTED_SHOWN
        if value is None or value == "":
            return "—"
        words = self.labels.values.get(f"{entity}.{key}") or self.labels.values.get(key)
        if words and str(value) in words:
            return words[str(value)]
        target = self._reference(entity, key)
        if target:
            return names.get((target, str(value)), str(value))
        table = self._table(entity)
        kind = _base_type(table.c[key].type) if table is not None and key in table.c else None
        unit = self.labels.units.get(f"{entity}.{key}") or self.labels.units.get(key)
        text = self._typed(kind, value, tz)
        return f"{text} {unit}" if unit and text != "—" else text

    @staticmethod
    def _typed(kind: Any, value: Any, tz: str) -> str:
        if isinstance(value, bool) or isinstance(kind, Boolean):
            return "oui" if value in (True, 1, "true", "1") else "non"
        if isinstance(kind, DateTime) and isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value)
            except ValueError:
                return value
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return moment.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y %H:%M:%S")
        if isinstance(kind, Date) and isinstance(value, str):
            try:
                return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
            except ValueError:
                return value
        if isinstance(kind, Numeric | Integer) or isinstance(value, int | float):
            try:
                return _number(Decimal(str(value)))
            except InvalidOperation:
                return str(value)
        if isinstance(kind, JSON) or isinstance(value, dict | list):
            if isinstance(value, dict):
                return ", ".join(f"{k} : {v}" for k, v in value.items()) or "—"
            if isinstance(value, list):
                return ", ".join(map(str, value)) or "—"
        return str(value)

    def changes(self, event: Any, names: Mapping[tuple[str, str], str], tz: str) -> list[Change]:
        """One row per field: label, before, after. A creation or a deletion lists only the fields with a value."""
        before, after = event.before or {}, event.after or {}
        one_sided = event.before is None or event.after is None
        rows = []
        for key in dict.fromkeys([*before, *after]):
            if key in TECHNICAL or key in self.labels.hidden or f"{event.entity}.{key}" in self.labels.hidden:
                continue
            if one_sided and before.get(key) in (None, "") and after.get(key) in (None, ""):
                continue
            rows.append(Change(
                key=key, label=self.field_label(event.entity, key),
                before=self.value(event.entity, key, before.get(key), names, tz) if event.before is not None else "",
                after=self.value(event.entity, key, after.get(key), names, tz) if event.after is not None else "",
            ))
        return rows
