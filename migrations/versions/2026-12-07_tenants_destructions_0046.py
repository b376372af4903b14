"""tenants: the destructions of tenants' data and their signed certificates (issue 16 §4)

``tenant_destructions``: a platform table (no row-level security, no foreign key to ``tenants``: it outlives the
tenant whose destruction it certifies): the admin's confirmation, the cooling-off's end, the cancellation, then the
operator's destruction and the signed certificate.

Revision ID: 0046
Revises: 0040
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import grant_app_role

revision = "0046"
down_revision = "0040"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenant_destructions",
        sa.Column("id", sa.Uuid(), nullable=False, comment="Identifiant de la destruction et de son certificat"),
        sa.Column("tenant_id", sa.Uuid(), nullable=False,
                  comment="Bénéficiaire détruit (sans clé étrangère : la ligne du bénéficiaire est effacée)"),
        sa.Column("tenant_name", sa.String(length=200), nullable=False, comment="Nom du bénéficiaire à la demande"),
        sa.Column("status", sa.String(length=16), nullable=False,
                  comment="État : pending (délai de réflexion), cancelled ou done"),
        sa.Column("requested_by", sa.String(length=320), nullable=False,
                  comment="Adresse de l'administrateur qui a confirmé"),
        sa.Column("requested_by_user_id", sa.Uuid(), nullable=True, comment="Compte qui a confirmé"),
        sa.Column("requested_at", UTC, nullable=False, comment="Confirmée le (UTC)"),
        sa.Column("not_before", UTC, nullable=False,
                  comment="Fin du délai de réflexion : pas de destruction avant (UTC)"),
        sa.Column("export_id", sa.Uuid(), nullable=True,
                  comment="Export de réversibilité dont la réception est confirmée"),
        sa.Column("cancelled_at", UTC, nullable=True, comment="Annulée le (UTC)"),
        sa.Column("cancelled_by", sa.String(length=320), nullable=False, comment="Annulée par"),
        sa.Column("destroyed_at", UTC, nullable=True, comment="Données effacées le (UTC)"),
        sa.Column("destroyed_by", sa.String(length=320), nullable=False,
                  comment="Exploitant qui a effacé les données"),
        sa.Column("certificate", sa.Text(), nullable=False, comment="Certificat de destruction signé (JSON)"),
        sa.Column("certificate_sha256", sa.String(length=64), nullable=False,
                  comment="Empreinte SHA-256 du fichier du certificat"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_destructions")),
    )
    op.create_index(op.f("ix_tenant_destructions_tenant_id"), "tenant_destructions", ["tenant_id"])
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    op.drop_index(op.f("ix_tenant_destructions_tenant_id"), table_name="tenant_destructions")
    op.drop_table("tenant_destructions")
