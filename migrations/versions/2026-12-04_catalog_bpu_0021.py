"""catalog: price schedules (BPU versions and their items) and catalog solutions with their history (issue 14 §1)

Not tenant-owned (they belong to a framework agreement, like ``framework_agreements``): no row-level
security; the application role gets its grants.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 22:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db
from migrations.helpers import grant_app_role

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

UTC = app.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bpu_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("imported_at", UTC, nullable=False),
        sa.Column("imported_by", sa.String(length=320), nullable=False),
        sa.Column("source_filename", sa.String(length=255), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_bpu_versions_agreement_id_framework_agreements")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bpu_versions")),
        sa.UniqueConstraint("agreement_id", "version", name=op.f("uq_bpu_versions_agreement_id_version")),
    )
    with op.batch_alter_table("bpu_versions", schema=None) as batch_op:
        batch_op.create_index("ix_bpu_versions_agreement_valid_from", ["agreement_id", "valid_from"], unique=False)
    op.create_table(
        "bpu_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version_id", sa.Uuid(), nullable=False),
        sa.Column("article_code", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("unit_price_ht", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("vat_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("family", sa.String(length=30), nullable=False),
        sa.Column("complexity", sa.String(length=10), nullable=True),
        sa.Column("maker", sa.String(length=100), nullable=False),
        sa.Column("purchase_or_rental", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["bpu_versions.id"], name=op.f("fk_bpu_items_version_id_bpu_versions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bpu_items")),
        sa.UniqueConstraint("version_id", "article_code", name=op.f("uq_bpu_items_version_id_article_code")),
    )
    with op.batch_alter_table("bpu_items", schema=None) as batch_op:
        batch_op.create_index("ix_bpu_items_version_family", ["version_id", "family"], unique=False)
        batch_op.create_index("ix_bpu_items_version_maker", ["version_id", "maker"], unique=False)
    op.create_table(
        "catalog_solutions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("maker", sa.String(length=100), nullable=False),
        sa.Column("article_code", sa.String(length=64), nullable=False),
        sa.Column("price_ht", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("characteristics", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("withdrawal_notice_on", sa.Date(), nullable=True),
        sa.Column("withdrawal_effective_on", sa.Date(), nullable=True),
        sa.Column("substitute_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["framework_agreements.id"],
                                name=op.f("fk_catalog_solutions_agreement_id_framework_agreements")),
        sa.ForeignKeyConstraint(["substitute_id"], ["catalog_solutions.id"],
                                name=op.f("fk_catalog_solutions_substitute_id_catalog_solutions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_solutions")),
        sa.UniqueConstraint("agreement_id", "code", name=op.f("uq_catalog_solutions_agreement_id_code")),
    )
    with op.batch_alter_table("catalog_solutions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_solutions_agreement_id"), ["agreement_id"], unique=False)
    op.create_table(
        "catalog_solution_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("solution_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("from_status", sa.String(length=12), nullable=False),
        sa.Column("to_status", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["solution_id"], ["catalog_solutions.id"],
                                name=op.f("fk_catalog_solution_events_solution_id_catalog_solutions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_solution_events")),
    )
    with op.batch_alter_table("catalog_solution_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_solution_events_solution_id"), ["solution_id"], unique=False)
    grant_app_role(append_only=("audit_events", "platform_audit_events"))


def downgrade() -> None:
    for table in ("catalog_solution_events", "catalog_solutions", "bpu_items", "bpu_versions"):
        op.drop_table(table)
