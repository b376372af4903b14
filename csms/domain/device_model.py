"""The OCPP 2.0.1 device model stored per station (issue 17 §2): tables, recording, reads.

What a station reports in NotifyReport (GetBaseReport / GetReport) and
NotifyMonitoringReport (GetMonitoringReport) parts, and what its answers to
GetVariables, SetVariables and SetVariableMonitoring say, is kept here: one row per
attribute of a variable (``device_variables``), one per monitor (``device_monitors``),
one per report in parts (``device_reports``). The rows are facts a station states, not
edits: not audited, written with plain statements (the command log, ``charger_commands``, says who asked what).

Reading the payloads is ``csms.domain.device_report`` (pure); this module writes and reads.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from app.db import Base, JSONType, TenantOwned, new_id
from csms.domain.device_report import (
    ACCEPTED_SET,
    AttributeRow,
    MonitorRow,
    attribute_rows,
    monitor_rows,
    monitor_set_rows,
    progress_after,
    variable_results,
)
from csms.domain.ports import StationRef
from csms.domain.protocol import snake_keys

__all__ = [
    "RESULT_ACTIONS",
    "DeviceMonitor",
    "DeviceReport",
    "DeviceVariable",
    "list_monitors",
    "list_reports",
    "list_variables",
    "record_command_answer",
    "record_monitoring_part",
    "record_report_part",
    "stored_values",
]

#: The commands whose answers change the stored device model (``record_command_answer``).
RESULT_ACTIONS = frozenset({"GetVariables", "SetVariables", "SetVariableMonitoring"})


def _charger_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["tenant_id", "charger_id"], ["chargers.tenant_id", "chargers.id"])


class _Placed:
    """Where a variable is: its component (instance, EVSE, connector) and its name (instance); one row
    per station and ``key``."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:  # noqa: N805
        return (_charger_fk(), UniqueConstraint("tenant_id", "charger_id", "key", name=f"uq_{cls.__tablename__}_key"))

    # Placed after the primary key, as when each class declared them (exports keep the column order).
    charger_id: Mapped[uuid.UUID] = mapped_column(sort_order=-98)
    key: Mapped[str] = mapped_column(String(240), sort_order=-97)
    component: Mapped[str] = mapped_column(String(50))
    component_instance: Mapped[str] = mapped_column(String(50), default="")
    evse_id: Mapped[int | None] = mapped_column(Integer)
    connector_id: Mapped[int | None] = mapped_column(Integer)
    variable: Mapped[str] = mapped_column(String(50))
    variable_instance: Mapped[str] = mapped_column(String(50), default="")


class DeviceVariable(_Placed, TenantOwned, Base):
    """One attribute of one variable of a station's device model (OCPP 2.0.1 Part 1 §4)."""

    __tablename__ = "device_variables"
    __audited__ = False
    #: ``key``: ``Component[instance]@evse.connector/Variable[instance]:AttributeType`` (device_report.variable_key).
    #: Actual, Target, MinSet or MaxSet.
    attribute_type: Mapped[str] = mapped_column(String(10), default="Actual")
    #: The value the station last stated (report, GetVariables, or an accepted SetVariables).
    value: Mapped[str | None] = mapped_column(String(2500))
    #: ReadOnly, WriteOnly or ReadWrite.
    mutability: Mapped[str] = mapped_column(String(10), default="")
    persistent: Mapped[bool | None] = mapped_column(Boolean)
    constant: Mapped[bool | None] = mapped_column(Boolean)
    #: The variable's characteristics (dataType, unit, minLimit, maxLimit, valuesList, supportsMonitoring).
    characteristics: Mapped[dict[str, Any] | None]
    #: What said the value last: report, get or set.
    source: Mapped[str] = mapped_column(String(8), default="report")
    #: When the value last changed (UTC), and when the station last stated it.
    changed_at: Mapped[dt.datetime]
    seen_at: Mapped[dt.datetime]
    #: The last SetVariables of this attribute: the value asked for, the station's status
    #: (Accepted, Rejected, RebootRequired, UnknownComponent…), its reason code, when.
    set_value: Mapped[str | None] = mapped_column(String(2500))
    set_status: Mapped[str] = mapped_column(String(30), default="")
    set_reason: Mapped[str] = mapped_column(String(20), default="")
    set_at: Mapped[dt.datetime | None]
    #: The last GetVariables status when not Accepted (UnknownVariable, NotSupportedAttributeType…).
    get_status: Mapped[str] = mapped_column(String(30), default="")


class DeviceMonitor(_Placed, TenantOwned, Base):
    """A monitor of a variable (OCPP 2.0.1 N04 / N02): reported by the station or set by us."""

    __tablename__ = "device_monitors"
    __audited__ = False
    #: ``key``: the variable's key and ``#id`` (``#refus:Type`` for a monitor the station refused).
    #: The station's id of the monitor (none when it refused it).
    monitor_id: Mapped[int | None] = mapped_column(Integer)
    #: UpperThreshold, LowerThreshold, Delta, Periodic, PeriodicClockAligned.
    type: Mapped[str] = mapped_column(String(30))
    value: Mapped[str] = mapped_column(String(40), default="")
    severity: Mapped[int | None] = mapped_column(Integer)
    transaction: Mapped[bool] = mapped_column(Boolean, default=False)
    #: report or set.
    source: Mapped[str] = mapped_column(String(8), default="report")
    #: SetVariableMonitoring's status (Accepted, Rejected, UnsupportedMonitorType, Duplicate…).
    status: Mapped[str] = mapped_column(String(30), default="")
    reason: Mapped[str] = mapped_column(String(20), default="")
    updated_at: Mapped[dt.datetime]


class DeviceReport(TenantOwned, Base):
    """A report in parts (NotifyReport or NotifyMonitoringReport of one requestId): its progress."""

    __tablename__ = "device_reports"
    __audited__ = False
    __table_args__ = (
        _charger_fk(),
        UniqueConstraint("tenant_id", "charger_id", "kind", "request_id", name="uq_device_reports_request"),
        Index("ix_device_reports_charger", "tenant_id", "charger_id", "received_at"),
    )
    charger_id: Mapped[uuid.UUID]
    #: variables (NotifyReport) or monitors (NotifyMonitoringReport).
    kind: Mapped[str] = mapped_column(String(10))
    request_id: Mapped[int] = mapped_column(Integer)
    generated_at: Mapped[dt.datetime | None]
    #: The seqNo of every part received, sorted; the last part's seqNo once it came (tbc false).
    seq_nos: Mapped[list[int]] = mapped_column(JSONType, default=list)
    last_seq_no: Mapped[int | None] = mapped_column(Integer)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Attributes (or monitors) carried by the parts received.
    items: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime]


# --------------------------------------------------------------------------- recording
#
# Unaudited tables are append-only through the ORM (app.db): a station's facts are written with
# plain INSERT / UPDATE statements carrying the tenant filter, as the rest of csms.domain.recording.


async def _report_progress(session: AsyncSession, ref: StationRef, kind: str, request_id: int, seq_no: int,
                           tbc: bool, items: int, generated_at: dt.datetime | None,
                           received_at: dt.datetime) -> bool:
    """Count the part in its report; False when it is a replay (already counted)."""
    table = DeviceReport.__table__
    found = (await session.execute(select(table.c.id, table.c.seq_nos, table.c.last_seq_no).where(
        table.c.tenant_id == ref.tenant_id, table.c.charger_id == ref.charger_id, table.c.kind == kind,
        table.c.request_id == request_id))).first()
    if found is not None and seq_no in (found.seq_nos or []):
        return False
    progress = progress_after(list(found.seq_nos or []) if found else [], found.last_seq_no if found else None,
                              seq_no, tbc)
    values = {"seq_nos": progress.seq_nos, "last_seq_no": progress.last_seq_no, "complete": progress.complete,
              "received_at": received_at}
    if generated_at is not None:
        values["generated_at"] = generated_at
    if found is None:
        await session.execute(insert(table).values(
            tenant_id=ref.tenant_id, id=new_id(), charger_id=ref.charger_id, kind=kind, request_id=request_id,
            items=items, started_at=received_at, **values))
    else:
        await session.execute(update(table).where(table.c.tenant_id == ref.tenant_id, table.c.id == found.id)
                              .values(items=table.c["items"] + items, **values))
    return True


async def _existing(session: AsyncSession, table: Any, tenant_id: uuid.UUID, charger_id: uuid.UUID,
                    keys: list[str], *columns: Any) -> dict[str, Any]:
    """The rows of ``keys`` already stored: key -> (id, *columns)."""
    found: dict[str, Any] = {}
    for start in range(0, len(keys), 500):
        for row in await session.execute(select(table.c.key, table.c.id, *columns).where(
                table.c.tenant_id == tenant_id, table.c.charger_id == charger_id,
                table.c.key.in_(keys[start:start + 500]))):
            found[row.key] = row
    return found


#: One row to write: the stored row (None: a new one), the columns to set, and where a new row is
#: (its key, component, EVSE, connector, variable…).
Change = tuple[Any, dict[str, Any], dict[str, Any]]


async def _upsert(session: AsyncSession, table: Any, tenant_id: uuid.UUID, charger_id: uuid.UUID,
                  changes: list[Change], defaults: dict[str, Any]) -> None:
    """New rows (``defaults``, then their place and columns) in one INSERT; stored ones in one
    executemany UPDATE per set of columns."""
    inserts = [{"tenant_id": tenant_id, "id": new_id(), "charger_id": charger_id, **defaults, **place, **values}
               for old, values, place in changes if old is None]
    if inserts:
        await session.execute(insert(table), inserts)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for old, values, _ in changes:
        if old is not None:
            by_columns.setdefault(tuple(sorted(values)), []).append({"b_id": old.id, **values})
    for columns, rows in by_columns.items():
        statement = update(table).where(table.c.tenant_id == tenant_id, table.c.id == bindparam("b_id")).values(
            {name: bindparam(f"v_{name}") for name in columns})
        await session.execute(statement, [{"b_id": row["b_id"], **{f"v_{name}": row[name] for name in columns}}
                                          for row in rows])


def _variable_defaults(at: dt.datetime) -> dict[str, Any]:
    """A new attribute's columns before what the station stated of it."""
    return {"attribute_type": "Actual", "value": None, "mutability": "", "persistent": None, "constant": None,
            "characteristics": None, "source": "report", "changed_at": at, "seen_at": at, "set_value": None,
            "set_status": "", "set_reason": "", "set_at": None, "get_status": ""}


def _variable_place(key: str, place: dict[str, Any], attribute_type: str) -> dict[str, Any]:
    return {"key": key, **place, "attribute_type": attribute_type}


def _stated(old_value: Any, value: str | None, source: str, at: dt.datetime, *, known: bool) -> dict[str, Any]:
    """The columns saying the station stated ``value``; the last change moves only when it differs."""
    values: dict[str, Any] = {"value": value, "source": source, "seen_at": at}
    if not known or value != old_value:
        values["changed_at"] = at
    return values


async def record_report_part(
    session: AsyncSession, ref: StationRef, *, request_id: int, seq_no: int, tbc: bool,
    generated_at: dt.datetime | None, report_data: list[dict[str, Any]], received_at: dt.datetime,
) -> int:
    """One NotifyReport part: its attributes stored (the value's last change kept), the report's
    progress counted. A replayed part changes nothing. Returns the attributes it carried."""
    rows: list[AttributeRow] = attribute_rows(report_data)
    if not await _report_progress(session, ref, "variables", request_id, seq_no, tbc, len(rows), generated_at,
                                  received_at):
        return 0
    table = DeviceVariable.__table__
    existing = await _existing(session, table, ref.tenant_id, ref.charger_id, [r.key for r in rows], table.c.value)
    changes: list[Change] = []
    for item in rows:
        old = existing.get(item.key)
        values = {"mutability": item.mutability, "persistent": item.persistent, "constant": item.constant,
                  **_stated(old.value if old else None, item.value, "report", received_at, known=old is not None)}
        if item.characteristics is not None:
            values["characteristics"] = item.characteristics
        changes.append((old, values, _variable_place(item.key, item.place, item.attribute_type)))
    await _upsert(session, table, ref.tenant_id, ref.charger_id, changes, _variable_defaults(received_at))
    return len(rows)


async def _store_monitors(session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, rows: list[MonitorRow],
                          source: str, at: dt.datetime) -> None:
    table = DeviceMonitor.__table__
    latest = {r.key: r for r in rows}  # one row per key, the last one said
    existing = await _existing(session, table, tenant_id, charger_id, list(latest))
    await _upsert(session, table, tenant_id, charger_id, [
        (existing.get(item.key),
         {"monitor_id": item.monitor_id, "type": item.type, "value": item.value, "severity": item.severity,
          "transaction": item.transaction, "source": source, "status": item.status, "reason": item.reason,
          "updated_at": at},
         {"key": item.key, **item.place})
        for item in latest.values()], {})


async def record_monitoring_part(
    session: AsyncSession, ref: StationRef, *, request_id: int, seq_no: int, tbc: bool,
    generated_at: dt.datetime | None, monitors: list[dict[str, Any]], received_at: dt.datetime,
) -> int:
    """One NotifyMonitoringReport part: its monitors stored, the report's progress counted."""
    rows = monitor_rows(monitors)
    if not await _report_progress(session, ref, "monitors", request_id, seq_no, tbc, len(rows), generated_at,
                                  received_at):
        return 0
    await _store_monitors(session, ref.tenant_id, ref.charger_id, rows, "report", received_at)
    return len(rows)


async def record_command_answer(
    session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, action: str, payload: dict[str, Any],
    answer: dict[str, Any], *, at: dt.datetime,
) -> None:
    """What a GetVariables / SetVariables / SetVariableMonitoring answer (camelCase, as on the wire)
    says of the device model. A refused SetVariables keeps the value and records the refusal."""
    payload, answer = snake_keys(payload), snake_keys(answer)
    if action == "SetVariableMonitoring":
        await _store_monitors(session, tenant_id, charger_id, monitor_set_rows(payload, answer), "set", at)
        return
    table = DeviceVariable.__table__
    results = {r.key: r for r in variable_results(action, payload, answer)}
    existing = await _existing(session, table, tenant_id, charger_id, list(results), table.c.value)
    changes: list[Change] = []
    for result in results.values():
        old = existing.get(result.key)
        if action == "GetVariables":
            if result.status != "Accepted":
                if old is not None:
                    changes.append((old, {"get_status": result.status}, {}))
                continue  # unknown to the station: nothing more to keep
            values = {"get_status": "", **_stated(old.value if old else None, result.value, "get", at,
                                                  known=old is not None)}
        else:
            values = {"set_value": result.value, "set_status": result.status, "set_reason": result.reason,
                      "set_at": at}
            if result.status in ACCEPTED_SET:
                values.update(_stated(old.value if old else None, result.value, "set", at, known=old is not None))
        changes.append((old, values, _variable_place(result.key, result.place, result.attribute_type)))
    await _upsert(session, table, tenant_id, charger_id, changes, _variable_defaults(at))


# --------------------------------------------------------------------------- reads


async def stored_values(session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID,
                        keys: list[str]) -> dict[str, str | None]:
    """The stored value of each of ``keys`` (``device_report.variable_key`` with its attribute type) the
    model has; a key absent from the answer is unknown to the model (None: known, its value not stated)."""
    table = DeviceVariable.__table__
    found = await _existing(session, table, tenant_id, charger_id, keys, table.c.value)
    return {key: row.value for key, row in found.items()}


def _search(model: Any, query: str) -> Any:
    like = f"%{query.strip()[:100].lower()}%"
    return or_(model.key.ilike(like), model.component.ilike(like), model.variable.ilike(like),
               *([model.value.ilike(like)] if model is DeviceVariable else []))


async def list_variables(session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, *, query: str = "",
                         limit: int = 500) -> tuple[list[DeviceVariable], int]:
    """The station's attributes (component, variable, type order) matching ``query``, and their count."""
    where = [DeviceVariable.tenant_id == tenant_id, DeviceVariable.charger_id == charger_id]
    if query.strip():
        where.append(_search(DeviceVariable, query))
    total = await session.scalar(select(func.count()).select_from(DeviceVariable).where(*where)) or 0
    rows = list(await session.scalars(select(DeviceVariable).where(*where).order_by(
        DeviceVariable.component, DeviceVariable.component_instance, DeviceVariable.evse_id,
        DeviceVariable.connector_id, DeviceVariable.variable, DeviceVariable.variable_instance,
        DeviceVariable.attribute_type).limit(limit)))
    return rows, total


async def list_monitors(session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, *, query: str = "",
                        limit: int = 200) -> list[DeviceMonitor]:
    where = [DeviceMonitor.tenant_id == tenant_id, DeviceMonitor.charger_id == charger_id]
    if query.strip():
        where.append(_search(DeviceMonitor, query))
    return list(await session.scalars(select(DeviceMonitor).where(*where).order_by(
        DeviceMonitor.component, DeviceMonitor.variable, DeviceMonitor.monitor_id).limit(limit)))


async def list_reports(session: AsyncSession, tenant_id: uuid.UUID, charger_id: uuid.UUID, *,
                       limit: int = 20) -> list[DeviceReport]:
    return list(await session.scalars(select(DeviceReport).where(
        DeviceReport.tenant_id == tenant_id, DeviceReport.charger_id == charger_id)
        .order_by(DeviceReport.received_at.desc()).limit(limit)))
