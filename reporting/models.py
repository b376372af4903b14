"""The tables of ``reporting`` (migration 0031).

``semester_reports``: one generation of a central's semester report (CCTP CAIH 5, CANUT 7), with its parameters,
its progress and the files it left under the var directory. A report belongs to a purchasing central, not to a
tenant (like ``framework_agreements``): no ``tenant_id`` and no row-level security; the wall is the central
(``reporting.services.report_of_central``: another central's report is ``NotFound``). Its creation and its start
are audited (``platform_audit_events``); the progress and the end are recorded with Core updates, not one audit row
per few thousand lines.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, utcnow

__all__ = ["REPORT_STATUSES", "SemesterReport"]

#: queued → running → done, or failed (with its error); French labels for the pages.
REPORT_STATUSES = {"queued": "En attente", "running": "En cours", "done": "Terminé", "failed": "Échec"}


class SemesterReport(Base):
    __tablename__ = "semester_reports"
    __table_args__ = (Index("ix_semester_reports_central", "central_id", "created_at"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    central_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("centrals.id"))
    year: Mapped[int] = mapped_column(Integer)
    #: 1 (January–June) or 2 (July–December).
    half: Mapped[int] = mapped_column(Integer)
    #: One agreement of the central, or None: every agreement of the central.
    agreement_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("framework_agreements.id"))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    #: 0–100.
    progress: Mapped[int] = mapped_column(Integer, default=0)
    #: Lines written to the « source » sheet so far.
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    #: What the report was made with: central code, agreements' references, since / up to, time zone.
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    error: Mapped[str] = mapped_column(Text, default="")
    #: Per format (``xlsx``, ``csv``, ``ods``): ``{"name", "size", "sha256"}`` of the file under
    #: ``var/reports/<central>/``.
    files: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
