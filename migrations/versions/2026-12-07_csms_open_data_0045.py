"""csms: the stations' open data (issue 16 §3, schema-irve 2.3)

``open_data_settings`` (whether the tenant publishes, and the publisher's data the static schema needs),
``open_data_points`` (the public charge points and their given itinerance identifiers), ``open_data_files`` (the
files as published, their ETag and last validation report). Tenant-owned, with row-level security.

Revision ID: 0045
Revises: 0046
Create Date: 2026-12-07 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

revision = "0045"
down_revision = "0046"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)
TABLES = ("open_data_settings", "open_data_points", "open_data_files")


def upgrade() -> None:
    op.create_table(
        "open_data_settings",
        *tenant_keys("open_data_settings"),
        sa.Column("published", sa.Boolean(), nullable=False, comment="Données ouvertes publiées"),
        sa.Column("operator_code", sa.String(length=3), nullable=False, comment="Code opérateur AFIREV (3 caractères)"),
        sa.Column("nom_amenageur", sa.String(length=200), nullable=False, comment="Nom de l'aménageur"),
        sa.Column("siren_amenageur", sa.String(length=9), nullable=False, comment="SIREN de l'aménageur"),
        sa.Column("contact_amenageur", sa.String(length=320), nullable=False, comment="Courriel de l'aménageur"),
        sa.Column("nom_operateur", sa.String(length=200), nullable=False, comment="Nom de l'opérateur"),
        sa.Column("contact_operateur", sa.String(length=320), nullable=False, comment="Courriel de l'opérateur"),
        sa.Column("telephone_operateur", sa.String(length=20), nullable=False, comment="Téléphone de l'opérateur"),
        sa.Column("nom_enseigne", sa.String(length=200), nullable=False, comment="Nom de l'enseigne (réseau)"),
        sa.Column("implantation_station", sa.String(length=60), nullable=False,
                  comment="Implantation des stations (schéma IRVE)"),
        sa.Column("condition_acces", sa.String(length=20), nullable=False, comment="Condition d'accès (schéma IRVE)"),
        sa.Column("horaires", sa.String(length=200), nullable=False, comment="Horaires d'ouverture"),
        sa.Column("accessibilite_pmr", sa.String(length=60), nullable=False, comment="Accessibilité PMR (schéma IRVE)"),
        sa.Column("updated_at", UTC, nullable=False, comment="Modifiés le (UTC)"),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_open_data_settings_tenant_id")),
    )
    op.create_table(
        "open_data_points",
        *tenant_keys("open_data_points"),
        sa.Column("charge_point_id", sa.Uuid(), nullable=False, comment="Point de charge publié"),
        sa.Column("itinerance_id", sa.String(length=35), nullable=False,
                  comment="Identifiant d'itinérance donné (vide : dérivé)"),
        sa.ForeignKeyConstraint(["tenant_id", "charge_point_id"], ["charge_points.tenant_id", "charge_points.id"],
                                name=op.f("fk_open_data_points_tenant_id_charge_point_id_charge_points"), ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "charge_point_id", name=op.f("uq_open_data_points_tenant_id_charge_point_id")),
    )
    op.create_table(
        "open_data_files",
        *tenant_keys("open_data_files"),
        sa.Column("name", sa.String(length=40), nullable=False, comment="Nom du fichier publié"),
        sa.Column("content", sa.Text(), nullable=False, comment="Contenu CSV publié"),
        sa.Column("etag", sa.String(length=64), nullable=False, comment="Empreinte SHA-256 du contenu"),
        sa.Column("rows", sa.Integer(), nullable=False, comment="Nombre de points de charge publiés"),
        sa.Column("modified_at", UTC, nullable=False, comment="Contenu modifié le (UTC)"),
        sa.Column("generated_at", UTC, nullable=False, comment="Écrit le (UTC)"),
        sa.Column("report", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False, comment="Dernier rapport de validation"),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_open_data_files_tenant_id_name")),
    )
    for table in TABLES:
        enable_tenant_rls(table)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_tenant_rls(table)
        op.drop_table(table)
