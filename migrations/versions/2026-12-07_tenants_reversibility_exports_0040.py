"""tenants: the reversibility exports a tenant's admin asks for (issue 16 §1)

``tenant_exports``: per request, who asked, the job's state and progress, and the archive's size, SHA-256 and the
end of its download link's validity. Tenant-owned, with row-level security.

Revision ID: 0040
Revises: 0038
Create Date: 2026-12-07 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.db
from migrations.helpers import disable_tenant_rls, enable_tenant_rls, grant_app_role, tenant_keys

revision = "0040"
down_revision = "0038"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenant_exports",
        *tenant_keys("tenant_exports"),
        sa.Column("requested_by", sa.String(length=320), nullable=False, comment="Adresse du compte qui a demandé l'export"),
        sa.Column("requested_by_user_id", sa.Uuid(), nullable=True, comment="Compte qui a demandé l'export"),
        sa.Column("status", sa.String(length=16), nullable=False, comment="État : queued, running, done, failed ou expired"),
        sa.Column("progress", sa.Integer(), nullable=False, comment="Progression, en pour cent"),
        sa.Column("include_password_hashes", sa.Boolean(), nullable=False,
                  comment="Empreintes des mots de passe des comptes incluses (exploitant seulement)"),
        sa.Column("created_at", UTC, nullable=False, comment="Demandé le (UTC)"),
        sa.Column("started_at", UTC, nullable=True, comment="Commencé le (UTC)"),
        sa.Column("finished_at", UTC, nullable=True, comment="Terminé le (UTC)"),
        sa.Column("expires_at", UTC, nullable=True, comment="Lien de téléchargement valable jusqu'au (UTC)"),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False, comment="Taille de l'archive, en octets"),
        sa.Column("sha256", sa.String(length=64), nullable=False, comment="Empreinte SHA-256 de l'archive"),
        sa.Column("error", sa.String(length=500), nullable=False, comment="Message d'erreur d'un export en échec"),
    )
    enable_tenant_rls("tenant_exports")
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    disable_tenant_rls("tenant_exports")
    op.drop_table("tenant_exports")
