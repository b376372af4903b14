"""The park's equipment, per tenant (migration 0018, row-level security, composite foreign keys), and the
alert terminals of the Justice's TGD agreement (migration 0019: lines, their device exchanges, their
successive assignments, the beneficiary files and their test calls).

Charging stations are not copied here: they belong to ``csms``, reached through its services.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, Date, ForeignKeyConstraint, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TenantOwned, utcnow
from tenants.models import site_fk

__all__ = ["KINDS", "SUPPORT_CASES", "Asset", "AssetAnnouncement", "TgdAssignment", "TgdExchange", "TgdFile",
           "TgdLine", "TgdTestCall"]

#: What a piece of equipment is (CAIH 2.1.33 « Serveur X86, Serveur Unix, Lame, Châssis, Switch … »).
KINDS = {
    "server": "Serveur",
    "storage": "Baie de stockage",
    "network": "Équipement réseau",
    "iot_sensor": "Capteur IoT",
    "iot_gateway": "Passerelle IoT",
    "alert_terminal": "Terminal d'alerte",
    "other": "Autre",
}
#: CAIH 2.1.22: the support case of the equipment.
SUPPORT_CASES = {
    "warranty": "Sous garantie (guichet unique)",
    "vendor": "Hors garantie, avec support constructeur",
    "none": "Sans support constructeur",
}


class Asset(TenantOwned, Base):
    __tablename__ = "assets"
    __table_args__ = (
        site_fk(),
        UniqueConstraint("tenant_id", "serial_number"),
        Index("ix_assets_maintainability", "tenant_id", "end_of_maintainability"),
    )
    kind: Mapped[str] = mapped_column(String(20))
    maker: Mapped[str] = mapped_column(String(100), default="")
    model: Mapped[str] = mapped_column(String(100), default="")
    serial_number: Mapped[str] = mapped_column(String(100))
    site_id: Mapped[uuid.UUID | None]
    commissioned_on: Mapped[dt.date | None] = mapped_column(Date)
    warranty_end: Mapped[dt.date | None] = mapped_column(Date)
    support_case: Mapped[str] = mapped_column(String(20), default="warranty")
    end_of_maintainability: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def label(self) -> str:
        return " ".join(p for p in (KINDS.get(self.kind, self.kind), self.maker, self.model) if p) \
            + f" ({self.serial_number})"

    def under_warranty(self, today: dt.date) -> bool:
        return self.warranty_end is not None and self.warranty_end >= today


class AssetAnnouncement(TenantOwned, Base):
    """CAIH 2.1.30: the yearly announcement of the equipment whose maintainability ends within 12
    months, sent once a year per tenant."""

    __tablename__ = "asset_announcements"
    __table_args__ = (UniqueConstraint("tenant_id", "year"),)
    __audited__ = False
    year: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    count: Mapped[int] = mapped_column(Integer, default=0)


# --------------------------------------------------------------------------- TGD alert terminals


def _fk(table: str, column: str, *, ondelete: str | None = None) -> ForeignKeyConstraint:
    """Composite foreign key to a row of the same tenant (DESIGN.md tenancy rule 1)."""
    return ForeignKeyConstraint(["tenant_id", column], [f"{table}.tenant_id", f"{table}.id"], ondelete=ondelete)


class TgdLine(TenantOwned, Base):
    """An alert terminal's line (CCP TGD annexe 1): « La référence unique est attachée au numéro de la ligne
    du terminal d'alerte, et non au matériel en lui-même ». The device (``device_serial``) changes at an
    exchange (annexe 2, I.4); the number, the court's INSEE code and the order number XX do not.
    ``assignment_index`` is the Y of the last assignment (0: never assigned)."""

    __tablename__ = "tgd_lines"
    __table_args__ = (
        UniqueConstraint("tenant_id", "phone_number"),
        UniqueConstraint("tenant_id", "insee_code", "order_number"),
    )
    phone_number: Mapped[str] = mapped_column(String(20))
    insee_code: Mapped[str] = mapped_column(String(5))
    order_number: Mapped[int] = mapped_column(Integer)
    assignment_index: Mapped[int] = mapped_column(Integer, default=0)
    device_serial: Mapped[str] = mapped_column(String(100))
    #: A fault reported and not yet exchanged: the exchange is due within 24 hours of it (I.4).
    fault_reported_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TgdExchange(TenantOwned, Base):
    """A faulty terminal exchanged « par un modèle identique, dans un délai maximum de 24 heures, le numéro de
    terminal initial n'étant pour sa part pas modifié » (annexe 2, I.4)."""

    __tablename__ = "tgd_exchanges"
    __table_args__ = (_fk("tgd_lines", "line_id"), Index("ix_tgd_exchanges_line", "tenant_id", "line_id"))
    line_id: Mapped[uuid.UUID]
    old_serial: Mapped[str] = mapped_column(String(100))
    new_serial: Mapped[str] = mapped_column(String(100))
    fault_reported_at: Mapped[dt.datetime]
    exchanged_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime]
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TgdAssignment(TenantOwned, Base):
    """The ``index``-th assignment of a line (the Y of its reference): the line's history. It holds nothing
    about the person; once the file is destroyed (annexe 2, 2.4) only its dates remain here
    (« dossier détruit le … »)."""

    __tablename__ = "tgd_assignments"
    __table_args__ = (
        _fk("tgd_lines", "line_id"),
        UniqueConstraint("tenant_id", "line_id", "index"),
    )
    line_id: Mapped[uuid.UUID]
    index: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(20))
    assigned_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    #: One week after the closure (2.4): before it the line is not assigned again.
    reassignable_at: Mapped[dt.datetime | None]
    file_destroyed_at: Mapped[dt.datetime | None]


#: The person's data: never copied into the audit log (« (modifié) » there), erased with the file.
PERSONAL = frozenset({"full_name", "phones", "address", "workplace", "prosecutor", "victim_support", "notes",
                      "confirmed_by"})


class TgdFile(TenantOwned, Base):
    """A « fiche bénéficiaire » (annexe 2, 2.1): created « dans les quinze minutes suivant la réception de la
    télécopie ou du message électronique » (``referred_at``; ``created_late`` past that), with « a minima le
    lieu de résidence de l'utilisateur, son lieu de travail, les coordonnées du parquet référent sur le
    dossier et celles de l'association d'aide aux victimes désignée » (2, 1), and the other numbers to try
    when a test is missing (2.2). Closed on the magistrate's confirmation (2.4) and destroyed — the row and
    its test calls erased — four months after (``destroy_due_at``, the job ``assets.tgd_destruction``)."""

    __tablename__ = "tgd_files"
    __table_args__ = (
        _fk("tgd_assignments", "assignment_id"),
        UniqueConstraint("tenant_id", "assignment_id"),
        Index("ix_tgd_files_destroy_due", "tenant_id", "destroy_due_at"),
    )
    __audit_redact__ = PERSONAL
    assignment_id: Mapped[uuid.UUID]
    referred_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_late: Mapped[bool] = mapped_column(Boolean, default=False)
    full_name: Mapped[str] = mapped_column(String(200))
    phones: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300))
    workplace: Mapped[str] = mapped_column(String(300), default="")
    prosecutor: Mapped[str] = mapped_column(String(300))
    victim_support: Mapped[str] = mapped_column(String(300))
    notes: Mapped[str] = mapped_column(Text, default="")
    #: The date of the termination decided by the prosecutor (« précisant la date de résiliation », 2.4).
    terminated_on: Mapped[dt.date | None] = mapped_column(Date)
    #: The magistrate who confirmed the end of the measure and the terminal's return, and when.
    confirmed_by: Mapped[str] = mapped_column(String(200), default="")
    closed_at: Mapped[dt.datetime | None]
    destroy_due_at: Mapped[dt.datetime | None]


class TgdTestCall(TenantOwned, Base):
    """A test call of the user (« deux fois par mois, aux fins de tests », annexe 2, 2.2), erased with its file."""

    __tablename__ = "tgd_test_calls"
    __table_args__ = (_fk("tgd_files", "file_id", ondelete="CASCADE"), Index("ix_tgd_test_calls_file", "tenant_id",
                                                                                "file_id", "called_at"))
    __audit_redact__ = frozenset({"note"})
    file_id: Mapped[uuid.UUID]
    called_at: Mapped[dt.datetime]
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
